//! The planner: one integer program over the whole fleet, solved level by level with HiGHS.
//!
//! The API is one call: inputs (fleet, workload) and [`SolveOptions`] (time limit, gap, a start
//! plan, a known bound) go in, a checked plan comes out ([`solve`]). Every workflow (plan,
//! what-if, drills, re-planning, capacity) is a thin layer over it.
//!
//! Inside, private to the crate: `Instance` (eligibility, shapes, node classes, blocks) →
//! `Formulation` (good_lp model, columns in fleetfit's order) → three HiGHS solves, each fixing
//! the level before → `assign` (concrete GPUs) → `make_plan` (totals) → the independent checker.
//! A plan the checker rejects is an error, never output.

pub(crate) mod assign;
mod assign_shared;
mod blocks;
pub(crate) mod budget;
mod callback;
pub mod capacity;
mod capacity_greedy;
mod capacity_guided;
pub(crate) mod chunks;
pub(crate) mod columns;
pub(crate) mod formulation;
mod heuristic;
pub(crate) mod highs_run;
pub(crate) mod instance;
mod levels;
mod local_search;
mod merge;
mod options;
pub(crate) mod pool;
pub mod progress;
pub(crate) mod purchase;
mod relax;
mod report;
pub(crate) mod sharing;
pub(crate) mod start;
pub(crate) mod worker;

use std::time::Instant;

use formulation::Formulation;
use instance::Instance;
pub use levels::solve_unexplained;
pub use options::{KnownBound, SolveOptions};
pub use relax::relaxation_bound;
pub use report::{LevelStats, ModelSize, SolveStats, model_size};
pub use worker::{THREAD_NAME as SOLVER_THREAD_NAME, join_stopped};

use crate::domain::fleet::TypeView;
use crate::domain::{Fleet, Plan, SolveStatus, Workload};
use crate::error::{Error, Result};

/// A checked plan and how it was found.
#[derive(Debug, Clone)]
pub struct Solved {
    pub plan: Plan,
    pub stats: SolveStats,
}

/// Places every deployment of `workload` on `fleet`: the lexicographic optimum of section 6,
/// or the best plan found within `options.time_limit`. The plan has passed the checker.
pub fn solve(fleet: &Fleet, workload: &Workload, options: &SolveOptions) -> Result<Solved> {
    let started = Instant::now();
    let mut solved = solve_unexplained(fleet, workload, options)?;
    // Explanations re-solve a deployment alone: a share of the time limit, or for a proven plan
    // a budget of their own, so that its reasons do not depend on the limit.
    let explained = Instant::now();
    let budget = if solved.plan.status == SolveStatus::Optimal {
        budget::EXPLAIN_PROVEN
    } else {
        options
            .time_limit
            .mul_f64(budget::EXPLAIN_SHARE)
            .saturating_sub(started.elapsed())
    };
    let resolve = |w: &Workload| {
        let left = budget.saturating_sub(explained.elapsed()).min(budget::EXPLAIN_EACH);
        if left.is_zero() {
            return None;
        }
        let quick = SolveOptions {
            time_limit: left,
            ..SolveOptions::default()
        };
        solve_unexplained(fleet, w, &quick)
            .ok()
            .filter(|s| s.plan.status == SolveStatus::Optimal)
            .map(|s| s.plan.objective.placed_value)
    };
    crate::explain::annotate(fleet, workload, &mut solved.plan, &resolve);
    solved.stats.total_seconds = started.elapsed().as_secs_f64();
    Ok(solved)
}

/// The checker's verdict on a plan about to be returned: a violation is a bug, never output.
fn checked(fleet: &Fleet, workload: &Workload, plan: &Plan) -> Result<()> {
    let violations = crate::check::check(fleet, workload, plan);
    if violations.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_plan(&violations))
}

/// The fleet as the planner sees it (see [`Fleet::planner_view`]): GPU sizes of a type are
/// merged where no deployment that may use it sets `gpu_memory_utilization`, put on a ladder
/// where sizes differ, none shares GPUs and one exists, and kept apart otherwise.
pub fn planner_fleet(fleet: &Fleet, workload: &Workload) -> Fleet {
    let mut sizes: std::collections::BTreeMap<&str, std::collections::BTreeSet<u64>> = Default::default();
    for (_, g) in fleet.gpus() {
        sizes.entry(g.gpu_type.as_str()).or_default().insert(g.cuda_mib());
    }
    fleet.planner_view(|gpu_type| {
        let on_type: Vec<_> = workload
            .deployments
            .iter()
            .filter(|d| d.replicas > 0 && d.allows_type(gpu_type))
            .collect();
        let classes: std::collections::BTreeSet<_> = on_type.iter().map(|d| d.gpu_memory_utilization).collect();
        let classes: Vec<_> = classes.into_iter().collect();
        match classes.as_slice() {
            [] | [None] => TypeView::Merged,
            _ if sizes[gpu_type].len() > 1 && on_type.iter().all(|d| !d.share_gpu) => TypeView::Ladder(classes),
            _ => TypeView::PerSize,
        }
    })
}
