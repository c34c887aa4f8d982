//! Ruin and recreate over the heuristic plan while HiGHS works on level 1: on large fleets
//! HiGHS's root node holds its one thread for tens of seconds, and the second core improves the
//! start meanwhile. Each step frees two nodes of one GPU type (every replica with a stage there)
//! and lets the greedy placer refill the fleet around the rest, highest priority first; a step
//! that places no less value is kept, so the walk crosses plateaus. (4,096 GPUs: 22,200 to
//! 22,224 against a bound of 22,265 in 18 s, where HiGHS stays at 22,200 for 140 s.)

use std::collections::{BTreeMap, BTreeSet};

use super::heuristic::placed_value;
use super::{Formulation, Instance};
use crate::domain::{Fleet, PlacedReplica, SolveStatus, Workload, make_plan};
use crate::rng::Rng;

/// Nodes freed per step: two measured best on generated fleets (one and three gain less, six
/// nothing: refilling many nodes first-fit undoes the start's best fit).
const NODES_PER_STEP: usize = 2;

/// Whether the search runs on `fleet`: below the size where the LP is merged (2,048 nodes). On
/// larger fleets the LP-guided start is already within 0.1-0.5%, each step is a full greedy pass
/// (2.5 s at 100,000 GPUs), and the steps' allocations beside HiGHS's took the peak from 3.2 to
/// 4.9 GiB there without placing more.
pub(super) fn pays_on(fleet: &Fleet) -> bool {
    fleet.nodes.len() < super::merge::MERGE_FROM_NODES
}

/// A plan the local search found that places more than its start, checked.
pub(super) struct Better {
    pub(super) replicas: Vec<PlacedReplica>,
    pub(super) value: f64,
    /// The plan in the model's columns, for levels 2 and 3 to start from.
    pub(super) columns: Vec<f64>,
}

/// Searches from `start` until `stop` says so (HiGHS answered, or the wait for it ran out); a
/// plan that places more, passes the checker and is written whole in the model's columns.
pub(super) fn beside(
    instance: &Instance<'_>,
    form: &Formulation,
    start: &[PlacedReplica],
    stop: impl FnMut() -> bool,
) -> Option<Better> {
    let (fleet, workload) = (instance.fleet, instance.workload);
    let replicas = improve(fleet, workload, start, stop);
    let value = placed_value(workload, &replicas) as f64;
    if value <= placed_value(workload, start) as f64 {
        return None;
    }
    let columns = super::start::from_replicas(instance, form, &replicas)
        .filter(|c| (form.level_value(0, c) - value).abs() < 0.5)?;
    let plan = make_plan(fleet, workload, replicas.clone(), SolveStatus::TimeLimit, None);
    crate::check::check(fleet, workload, &plan)
        .is_empty()
        .then_some(Better {
            replicas,
            value,
            columns,
        })
}

/// The best plan found from `start` until `stop` says so; `start` itself if no step helped.
/// Deterministic for a given number of steps (a fixed seed).
pub(super) fn improve(
    fleet: &Fleet,
    workload: &Workload,
    start: &[PlacedReplica],
    mut stop: impl FnMut() -> bool,
) -> Vec<PlacedReplica> {
    let priority: BTreeMap<&str, u64> = workload
        .deployments
        .iter()
        .map(|d| (d.name.as_str(), d.priority))
        .collect();
    let value = |plan: &[PlacedReplica]| -> u64 {
        plan.iter()
            .map(|r| priority.get(r.deployment.as_str()).copied().unwrap_or(0))
            .sum()
    };
    // Nodes per GPU type (a node's first GPU names it; mixed nodes are rare and still refilled).
    let mut by_type: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (n, node) in fleet.nodes.iter().enumerate() {
        if let Some(gpu) = node.gpus.first() {
            by_type.entry(gpu.gpu_type.as_str()).or_default().push(n);
        }
    }
    let mut best = start.to_vec();
    let mut best_value = value(&best);
    let mut improved = false;
    let mut rng = Rng::new(1);
    while !fleet.nodes.is_empty() && !stop() {
        let first = rng.below(fleet.nodes.len() as u64) as usize;
        let Some(gpu) = fleet.nodes[first].gpus.first() else {
            continue;
        };
        let same = &by_type[gpu.gpu_type.as_str()];
        let mut freed: BTreeSet<&str> = BTreeSet::from([fleet.nodes[first].name.as_str()]);
        for _ in 1..NODES_PER_STEP {
            freed.insert(fleet.nodes[*rng.pick(same)].name.as_str());
        }
        let kept: Vec<PlacedReplica> = best
            .iter()
            .filter(|r| !r.stages.iter().any(|s| freed.contains(s.node.as_str())))
            .cloned()
            .collect();
        let candidate = crate::greedy::place_around(fleet, workload, &kept);
        let candidate_value = value(&candidate);
        if candidate_value >= best_value {
            improved |= candidate_value > best_value;
            best_value = candidate_value;
            best = candidate;
        }
    }
    if improved { best } else { start.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::GenSpec;

    fn value(workload: &Workload, plan: &[PlacedReplica]) -> u64 {
        placed_value(workload, plan)
    }

    #[test]
    fn steps_place_more_and_keep_every_rule() {
        let (fleet, workload) = crate::synth::generated(&GenSpec::tight(512, 32));
        // The greedy plan with every third replica left out: room that the steps must fill.
        let start: Vec<PlacedReplica> = crate::greedy::place(&fleet, &workload)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, r)| r)
            .collect();
        let mut steps = 0;
        let improved = improve(&fleet, &workload, &start, || {
            steps += 1;
            steps > 200
        });
        assert!(value(&workload, &improved) > value(&workload, &start));
        let plan = make_plan(&fleet, &workload, improved, SolveStatus::TimeLimit, None);
        assert_eq!(crate::check::check(&fleet, &workload, &plan), Vec::new());
        // Stopped before its first step, it returns the start as it was.
        assert_eq!(improve(&fleet, &workload, &start, || true), start);
    }
}
