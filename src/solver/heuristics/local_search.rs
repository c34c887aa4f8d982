//! Large-neighbourhood search over the heuristic plan while HiGHS works on level 1: on large
//! fleets HiGHS's root node holds its one thread for tens of seconds, and the second core
//! improves the start meanwhile. Each step empties a few nodes and lets HiGHS re-plan them
//! exactly, around the rest of the plan and with every replica the plan leaves unplaced
//! ([`super::repair`]); a step is kept when it places more. (4,096 GPUs, tight: 22,185 to
//! 22,244 against a bound of 22,265 in the 6 s a 10 s plan gives it, 22,253 in 33 s, where
//! HiGHS alone stays at 22,185 for 31 s and reaches 22,258 in 600 s.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::heuristic::placed_value;
use super::highs_run::HighsSettings;
use super::repair::{self, Neighbourhood};
use super::{Formulation, Instance};
use crate::domain::{Fleet, PlacedReplica, SolveStatus, Workload, make_plan};
use crate::rng::Rng;

/// Nodes emptied per step. Measured on the 4,096-GPU tight fleet (10 s plans): 4, 6, 8, 12
/// and 16 nodes reach 22,242, 22,243, 22,244, 22,243 and 22,238; eight keeps each sub-model
/// near 700 columns, solved in 15-300 ms.
const NODES_PER_STEP: usize = 8;

/// Of a step's other nodes, the share (percent) of the first node's GPU type, so that a step
/// can repack a type; the rest come from anywhere, so that deployments can change type.
const SAME_TYPE_PERCENT: u64 = 75;

/// Steps that start from a node whose eligible GPUs the plan leaves partly idle (percent).
const IDLE_FIRST_PERCENT: u64 = 50;

/// Whether the search runs on `fleet`: below the size where the LP is merged (2,048 nodes). On
/// larger fleets the LP-guided start is already within 0.1-0.5%, and steps that scan the fleet
/// cost seconds there.
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

/// Searches from `start` until `stop` says so (HiGHS answered) or `until.0` (the end of the
/// wait for HiGHS); a step under way ends when `until.1` turns on (HiGHS's answer came). A plan
/// that places more, passes the checker and is written whole in the model's columns.
pub(super) fn beside(
    instance: &Instance<'_>,
    form: &Formulation,
    start: &[PlacedReplica],
    until: (Instant, &Arc<AtomicBool>),
    settings: &HighsSettings,
    stop: impl FnMut() -> bool,
) -> Option<Better> {
    let (fleet, workload) = (instance.fleet, instance.workload);
    let replicas = improve(fleet, workload, start, settings, until, None, stop);
    better(instance, form, placed_value(workload, start), replicas)
}

/// `replicas` as a [`Better`] plan: where it places more than `than`, passes the checker and is
/// written whole in the model's columns.
pub(super) fn better(
    instance: &Instance<'_>,
    form: &Formulation,
    than: u64,
    replicas: Vec<PlacedReplica>,
) -> Option<Better> {
    let (fleet, workload) = (instance.fleet, instance.workload);
    let value = placed_value(workload, &replicas) as f64;
    if value <= than as f64 {
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
/// The best plan found from `start` until it places `target`, `stop` says so or `deadline` passes
/// (a step under way ends when `interrupt` turns on); `start` itself if
/// no step helped. Deterministic for a given number of steps (a fixed seed) wherever each
/// neighbourhood is solved within its limit.
pub(super) fn improve(
    fleet: &Fleet,
    workload: &Workload,
    start: &[PlacedReplica],
    settings: &HighsSettings,
    (deadline, interrupt): (Instant, &Arc<AtomicBool>),
    target: Option<u64>,
    mut stop: impl FnMut() -> bool,
) -> Vec<PlacedReplica> {
    // Nodes per GPU type (a node's first GPU names it; mixed nodes are rare).
    let mut by_type: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (n, node) in fleet.nodes.iter().enumerate() {
        if let Some(gpu) = node.gpus.first() {
            by_type.entry(gpu.gpu_type.as_str()).or_default().push(n);
        }
    }
    let eligible: Vec<usize> = fleet
        .nodes
        .iter()
        .map(|n| {
            n.gpus
                .iter()
                .filter(|g| g.is_eligible(workload.policy.busy_threshold))
                .count()
        })
        .collect();
    let mut best = start.to_vec();
    let mut best_value = placed_value(workload, &best);
    let mut rng = Rng::new(1);
    while !fleet.nodes.is_empty() && target.is_none_or(|t| best_value < t) && !stop() && repair::room_for_step(deadline)
    {
        let first = match idle_nodes(fleet, &eligible, &best) {
            idle if !idle.is_empty() && rng.chance(IDLE_FIRST_PERCENT) => *rng.pick(&idle),
            _ => rng.below(fleet.nodes.len() as u64) as usize,
        };
        let Some(gpu) = fleet.nodes[first].gpus.first() else {
            continue;
        };
        let same = &by_type[gpu.gpu_type.as_str()];
        let wanted = NODES_PER_STEP.min(fleet.nodes.len());
        let mut nodes = BTreeSet::from([first]);
        for _ in 0..10 * NODES_PER_STEP {
            if nodes.len() >= wanted {
                break;
            }
            nodes.insert(if rng.chance(SAME_TYPE_PERCENT) {
                *rng.pick(same)
            } else {
                rng.below(fleet.nodes.len() as u64) as usize
            });
        }
        let limit = repair::STEP_LIMIT.min(deadline.saturating_duration_since(Instant::now()));
        let Some(candidate) = Neighbourhood::new(fleet, workload, &best, &nodes).solve(limit, settings, interrupt)
        else {
            continue;
        };
        let value = placed_value(workload, &candidate);
        let plan = make_plan(fleet, workload, candidate.clone(), SolveStatus::TimeLimit, None);
        if value > best_value && crate::check::check(fleet, workload, &plan).is_empty() {
            best_value = value;
            best = candidate;
        }
    }
    best
}

/// Nodes with eligible GPUs that `plan` leaves idle.
fn idle_nodes(fleet: &Fleet, eligible: &[usize], plan: &[PlacedReplica]) -> Vec<usize> {
    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    for r in plan {
        for s in &r.stages {
            *held.entry(s.node.as_str()).or_default() += s.gpus.len();
        }
    }
    (0..fleet.nodes.len())
        .filter(|&n| eligible[n] > held.get(fleet.nodes[n].name.as_str()).copied().unwrap_or(0))
        .collect()
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
        let settings = HighsSettings::default();
        let far = (
            Instant::now() + std::time::Duration::from_secs(3600),
            &Arc::new(AtomicBool::new(false)),
        );
        let improved = improve(&fleet, &workload, &start, &settings, far, None, || {
            steps += 1;
            steps > 20
        });
        assert!(value(&workload, &improved) > value(&workload, &start));
        let plan = make_plan(&fleet, &workload, improved, SolveStatus::TimeLimit, None);
        assert_eq!(crate::check::check(&fleet, &workload, &plan), Vec::new());
        // Stopped before its first step, it returns the start as it was.
        assert_eq!(improve(&fleet, &workload, &start, &settings, far, None, || true), start);
    }
}
