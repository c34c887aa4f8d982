//! What a solve reports about itself: the model's size and each level's value, bound and time.

use super::{Formulation, Instance, planner_fleet};
use crate::domain::{Fleet, Workload};

/// What one level of the objective cost and reached, and how it was settled: the record that
/// `optimal` and every bound of the plan come from.
#[derive(Debug, Clone)]
pub struct LevelStats {
    pub name: &'static str,
    pub value: f64,
    pub bound: f64,
    pub settled: Settled,
    pub seconds: f64,
}

impl LevelStats {
    /// Whether the level's value is proven optimal.
    pub fn proven(&self) -> bool {
        self.settled != Settled::Stopped && self.settled != Settled::WithinGap
    }
}

/// How a level was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// HiGHS proved it: its search ended optimal, or its dual bound met the value.
    Mip,
    /// The value reaches the LP relaxation's bound (rounded by `bound::upper`): no MIP needed.
    LpBound,
    /// The value reaches a bound proven on a less constrained instance (a drill's base plan).
    KnownBound,
    /// A minimised level at 0: nothing is lower.
    Zero,
    /// Within `--gap` of the LP bound, kept as asked: not proven.
    WithinGap,
    /// The search stopped first, or the model is narrower than the rules: not proven.
    Stopped,
}

impl Settled {
    /// How the summary line says it.
    fn words(self) -> &'static str {
        match self {
            Settled::Mip => "optimal",
            Settled::LpBound => "optimal: at the LP bound",
            Settled::KnownBound => "optimal: at the base's bound",
            Settled::Zero => "optimal",
            Settled::WithinGap => "within the gap",
            Settled::Stopped => "stopped",
        }
    }
}

/// How the solve went: model size and each level.
#[derive(Debug, Clone, Default)]
pub struct SolveStats {
    /// Where the model is narrower than the rules; then no level is claimed optimal.
    pub restrictions: Vec<String>,
    /// A heuristic plan beat a level the solver had proven: the proof was wrong, the better plan
    /// was returned without a claim of optimality. Tests fail on it.
    pub proof_contradicted: bool,
    pub variables: usize,
    pub rows: usize,
    pub node_classes: usize,
    pub counted_nodes: usize,
    pub build_seconds: f64,
    pub levels: Vec<LevelStats>,
    pub total_seconds: f64,
    /// Time ran out before HiGHS could run (the greedy plan, or the model's build, took it).
    pub greedy_only: bool,
    /// The heuristic start placed more than what HiGHS returned in its time (HiGHS does not always
    /// keep a start), so the heuristic plan was returned: the levels above describe HiGHS's run.
    pub heuristic_kept: bool,
    /// Every level was settled by a start that reached a bound known from elsewhere (a drill's
    /// base): proven without a MIP. Never set by an instance that is merely trivial.
    pub reached_known_bound: bool,
}

impl SolveStats {
    /// Whether the records prove the plan: every one of section 6's levels settled by a proof,
    /// and no heuristic plan contradicting them. `optimal` comes from here (and from no
    /// restriction on the model).
    pub fn proven(&self) -> bool {
        !self.proof_contradicted
            && self.levels.len() == super::LEVEL_NAMES.len()
            && self.levels.iter().all(LevelStats::proven)
    }

    /// One line for the table footer.
    pub fn summary(&self) -> String {
        if self.greedy_only {
            return format!(
                "solver: time ran out before HiGHS could run, so the greedy plan stands; total {:.2}s",
                self.total_seconds
            );
        }
        let levels: Vec<String> = self
            .levels
            .iter()
            .map(|l| {
                format!(
                    "{} {} ({}) in {:.2}s",
                    l.name,
                    l.value.round() as i64,
                    l.settled.words(),
                    l.seconds
                )
            })
            .collect();
        let mut levels = if levels.is_empty() {
            "HiGHS returned nothing within the time limit, so the heuristic plan stands".to_string()
        } else {
            levels.join(", ")
        };
        if self.heuristic_kept {
            levels.push_str("; the heuristic plan was better than HiGHS's and stands");
        }
        format!(
            "solver: HiGHS, {} variables, {} rows, {} node class{}; {}; total {:.2}s",
            self.variables,
            self.rows,
            self.node_classes,
            if self.node_classes == 1 { "" } else { "es" },
            levels,
            self.total_seconds
        )
    }
}

/// Where a model's size comes from, for `examples/model_size.rs` and performance work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSize {
    pub nodes: usize,
    pub node_classes: usize,
    pub counted_classes: usize,
    pub options: usize,
    pub blocks: usize,
    pub pooled_blocks: usize,
    pub placements: usize,
    pub sharing_placements: usize,
    pub sharing_classes: usize,
    pub sharing_columns: usize,
    pub pool_keys: usize,
    pub pool_thresholds: usize,
    pub pool_supplies: usize,
    pub split_options: usize,
    pub replica_slot_deployments: usize,
    pub variables: usize,
    pub rows: usize,
    /// Where the model is narrower than the rules.
    pub restrictions: Vec<String>,
}

/// Builds the model the planner would solve and reports its size (no solve).
pub fn model_size(fleet: &Fleet, workload: &Workload) -> ModelSize {
    let view = planner_fleet(fleet, workload);
    let instance = Instance::new(&view, workload);
    let form = Formulation::build(&instance);
    ModelSize {
        nodes: view.nodes.len(),
        node_classes: instance.classes.len(),
        counted_classes: instance.classes.iter().filter(|c| c.nodes.len() > 1).count(),
        options: instance.options.len(),
        blocks: instance.blocks.len(),
        pooled_blocks: instance.blocks.iter().filter(|b| b.pooled).count(),
        placements: instance.placements.len(),
        sharing_placements: instance
            .placements
            .iter()
            .filter(|p| instance.blocks[p.block].shared)
            .count(),
        sharing_classes: form.sharing.classes.len(),
        sharing_columns: form.sharing.classes.iter().map(|c| c.columns()).sum(),
        pool_keys: instance.pool.keys.len(),
        pool_thresholds: instance.pool.thresholds.iter().map(Vec::len).sum(),
        pool_supplies: instance.pool.supplies.len(),
        split_options: instance.splits.len(),
        replica_slot_deployments: instance.replica_slots.len(),
        variables: form.vars.len(),
        rows: form.rows.len(),
        restrictions: instance.restrictions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(levels: Vec<LevelStats>, heuristic_kept: bool) -> SolveStats {
        SolveStats {
            levels,
            heuristic_kept,
            total_seconds: 1.0,
            ..SolveStats::default()
        }
    }

    #[test]
    fn the_summary_says_which_plan_stands() {
        let level = LevelStats {
            name: "placed_value",
            value: 22065.0,
            bound: 22265.0,
            settled: Settled::Stopped,
            seconds: 7.0,
        };
        let kept = stats(vec![level.clone()], true).summary();
        assert!(kept.contains("placed_value 22065 (stopped) in 7.00s"), "{kept}");
        assert!(
            kept.contains("the heuristic plan was better than HiGHS's and stands"),
            "{kept}"
        );
        let solver = stats(vec![level], false).summary();
        assert!(!solver.contains("heuristic"), "{solver}");
        let none = stats(Vec::new(), false).summary();
        assert!(
            none.contains("HiGHS returned nothing within the time limit, so the heuristic plan stands"),
            "{none}"
        );
    }
}
