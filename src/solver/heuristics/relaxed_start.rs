//! A start with the whole fleet's structure: the relaxed instance (no `spread`, multi-GPU sharing
//! packed like one-GPU workers; the one level 1's LP bound comes from) solved as an integer
//! program until its first incumbent that places more than the heuristic plan, its replicas
//! assigned, and the replicas that break `spread` taken out. Neighbourhoods of a few nodes cannot
//! move many replicas between GPU types at once; this start already has them where the whole
//! fleet wants them, and the repair steps put back what `spread` took out. (4,096 GPUs, tight:
//! the relaxed model's first such incumbent comes after 0.8 s, where its root node then runs 21 s
//! of cut rounds.)

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::highs_run::{HighsSettings, LevelOutcome, Starts};
use super::{Formulation, Instance, assign};
use crate::domain::{Fleet, PlacedReplica, SolveStatus, Workload, make_plan};

/// Models with at least this many columns take the relaxed start before HiGHS's own search. On
/// smaller ones HiGHS proves level 1 within a second (512 GPUs, 1,788 columns: 0.23 s), and its
/// answer, not a start, decides the plan. (4,096 GPUs, tight: 39,606 columns.)
pub(super) const MIN_COLUMNS: usize = 20_000;

/// The relaxed start: a checked plan, or `None` where the relaxed model finds nothing above
/// `above` within `time_left` or its plan cannot be made to keep every rule by taking spread
/// replicas out.
pub(super) fn plan(
    fleet: &Fleet,
    workload: &Workload,
    above: f64,
    time_left: Duration,
    settings: &HighsSettings,
) -> Option<Vec<PlacedReplica>> {
    let relaxed = Instance::relaxed(fleet, workload);
    let form = Arc::new(Formulation::build(&relaxed));
    let settings = HighsSettings {
        mip_rel_gap: 0.0,
        relaxed: false,
        stop_at: Some(above + 1.0),
        verbose: false,
        max_nodes: None,
        ..settings.clone()
    };
    let starts = Starts {
        hint: None,
        fallback: None,
    };
    let result = super::worker::spawn_level(&form, 0, &[], starts, time_left, &settings)
        .wait()
        .ok()
        .flatten()
        .filter(|r| r.outcome != LevelOutcome::Infeasible)?;
    let replicas = assign::assign(&relaxed, &form, &result.values).ok()?;
    let kept = keep_spread(workload, replicas);
    let plan = make_plan(fleet, workload, kept.clone(), SolveStatus::TimeLimit, None);
    crate::check::check(fleet, workload, &plan).is_empty().then_some(kept)
}

/// `replicas` without those that share a node with an earlier replica of their spread
/// deployment.
fn keep_spread(workload: &Workload, replicas: Vec<PlacedReplica>) -> Vec<PlacedReplica> {
    let mut held: BTreeSet<(String, String)> = BTreeSet::new();
    replicas
        .into_iter()
        .filter(|r| {
            if !workload.deployment(&r.deployment).is_some_and(|d| d.spread) {
                return true;
            }
            let nodes: BTreeSet<(String, String)> = r
                .stages
                .iter()
                .map(|s| (r.deployment.clone(), s.node.clone()))
                .collect();
            if nodes.iter().any(|n| held.contains(n)) {
                return false;
            }
            held.extend(nodes);
            true
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::GenSpec;

    fn settings() -> HighsSettings {
        HighsSettings::default()
    }

    /// The relaxed model stops at its first incumbent above the heuristic plan (on the 4,096-GPU
    /// tight fleet, after under a second, where its root node would run 21 s of cut rounds to
    /// prove 22,265), and the start it gives keeps every rule.
    #[test]
    fn the_relaxed_model_stops_at_its_first_incumbent_above_the_heuristic_plan() {
        let (fleet, workload) = crate::synth::generated(&GenSpec::tight(4096, 128));
        let fleet = crate::solver::planner_fleet(&fleet, &workload);
        let greedy = crate::greedy::place(&fleet, &workload);
        let above = super::super::heuristic::placed_value(&workload, &greedy) as f64;
        let relaxed = Instance::relaxed(&fleet, &workload);
        let form = Arc::new(Formulation::build(&relaxed));
        let stopping = HighsSettings {
            stop_at: Some(above + 1.0),
            verbose: false,
            ..settings()
        };
        let starts = Starts {
            hint: None,
            fallback: None,
        };
        let result = super::super::worker::spawn_level(&form, 0, &[], starts, Duration::from_secs(120), &stopping)
            .wait()
            .unwrap()
            .unwrap();
        assert_eq!(result.outcome, LevelOutcome::Stopped);
        assert!(form.level_value(0, &result.values) > above);
        let start = plan(&fleet, &workload, above, Duration::from_secs(120), &settings()).unwrap();
        // It stops at an incumbent, not at a time: the same start every run.
        let again = plan(&fleet, &workload, above, Duration::from_secs(120), &settings()).unwrap();
        assert_eq!(start, again);
        let checked = make_plan(&fleet, &workload, start, SolveStatus::TimeLimit, None);
        assert_eq!(crate::check::check(&fleet, &workload, &checked), Vec::new());
    }

    /// Of a spread deployment's replicas, only the first on each node stays.
    #[test]
    fn replicas_that_break_spread_are_taken_out() {
        let (fleet, workload) = crate::synth::generated(&GenSpec::tight(512, 32));
        let spread = workload.deployments.iter().find(|d| d.spread).unwrap();
        let node = &fleet.nodes[0].name;
        let replica = |replica, nodes: &[&str]| PlacedReplica {
            deployment: spread.name.clone(),
            replica,
            quantization: "bf16".into(),
            tensor_parallel: 1,
            pipeline_parallel: nodes.len() as u64,
            gpu_type: "H100-SXM5-80GB".into(),
            memory_per_gpu_mib: 1,
            runtime_mib: None,
            stages: nodes
                .iter()
                .map(|n| crate::domain::Stage {
                    node: n.to_string(),
                    gpus: vec![0],
                })
                .collect(),
        };
        let other = &fleet.nodes[1].name;
        let kept = keep_spread(
            &workload,
            vec![replica(0, &[node]), replica(1, &[other, node]), replica(2, &[other])],
        );
        let numbers: Vec<u64> = kept.iter().map(|r| r.replica).collect();
        assert_eq!(numbers, vec![0, 2]);
    }
}
