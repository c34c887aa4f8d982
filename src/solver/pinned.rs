//! Pinned replicas: a solve that keeps some replicas where they run (replan's neighbourhoods)
//! plans the rest around them. The one place that turns pins into a smaller instance: their
//! GPUs taken, their replicas off the demand, spread kept; the joined plan is checked on the
//! real fleet. Such a plan is optimal only among plans that keep the pins, so it never claims
//! `optimal` (its stats list the pins as a restriction).

use std::collections::{BTreeMap, BTreeSet};

use super::{SolveOptions, Solved, checked};
use crate::domain::{Fleet, PlacedReplica, SolveStatus, Workload, make_plan};
use crate::error::{Error, Result};

/// `options.pinned` where they are, plus the best plan of what is left around them.
pub(super) fn solve(fleet: &Fleet, workload: &Workload, options: &SolveOptions) -> Result<Solved> {
    let pinned = &options.pinned;
    let (left, demand) = residual(fleet, workload, pinned);
    // A start or a known bound describes the whole instance, not what is left of it.
    let free = SolveOptions {
        pinned: Vec::new(),
        start: None,
        known_bound: None,
        ..options.clone()
    };
    let mut rest = super::levels::solve(&left, &demand, &free)?;
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for r in pinned {
        let n = next.entry(&r.deployment).or_default();
        *n = (*n).max(r.replica + 1);
    }
    let mut joined = pinned.clone();
    for r in std::mem::take(&mut rest.plan.replicas) {
        let Some(d) = workload.deployment(&r.deployment) else {
            return Err(Error::Solver(format!(
                "a pinned solve placed unknown deployment '{}'",
                r.deployment
            )));
        };
        let n = next.entry(d.name.as_str()).or_default();
        joined.push(PlacedReplica { replica: *n, ..r });
        *n += 1;
    }
    let mut plan = make_plan(fleet, workload, joined, SolveStatus::TimeLimit, None);
    plan.restrictions = rest.plan.restrictions;
    checked(fleet, workload, &plan)?;
    // The records describe what was left around the pins: none of them proves the joined plan.
    let mut stats = rest.stats;
    for level in &mut stats.levels {
        level.settled = super::Settled::Stopped;
    }
    stats
        .restrictions
        .push(format!("{} replicas pinned where they run", pinned.len()));
    Ok(Solved { plan, stats })
}

/// The fleet and demand left when `pinned` stay where they are: a GPU with a pinned worker is as
/// if fully used (so reserves count exactly the GPUs left free), the pinned replicas come off
/// their deployments' demand, and a spread deployment may not use a node that holds one of its
/// pinned replicas (a label on every other node, added to its selector). Every plan of what is
/// left, joined with `pinned`, is checked on the real fleet before it is returned.
fn residual(fleet: &Fleet, workload: &Workload, pinned: &[PlacedReplica]) -> (Fleet, Workload) {
    const ROOM: &str = "fleetfit.io/replan-room";
    let mut left = fleet.clone();
    let mut demand = workload.clone();
    let mut spread_nodes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in pinned {
        for stage in &r.stages {
            let Some(node) = left.nodes.iter_mut().find(|n| n.name == stage.node) else {
                continue;
            };
            for gpu in node.gpus.iter_mut().filter(|g| stage.gpus.contains(&g.index)) {
                gpu.used_mib = gpu.memory_mib;
                gpu.utilization = 100;
            }
            if workload.deployment(&r.deployment).is_some_and(|d| d.spread) {
                spread_nodes.entry(&r.deployment).or_default().insert(&stage.node);
            }
        }
        if let Some(d) = demand.deployments.iter_mut().find(|d| d.name == r.deployment) {
            d.replicas = d.replicas.saturating_sub(1);
        }
    }
    for (deployment, taken) in spread_nodes {
        let key = format!("{ROOM}-{deployment}");
        for node in left.nodes.iter_mut().filter(|n| !taken.contains(n.name.as_str())) {
            node.labels.insert(key.clone(), "yes".into());
        }
        if let Some(d) = demand.deployments.iter_mut().find(|d| d.name == deployment) {
            d.node_selector.insert(key, "yes".into());
        }
    }
    (left, demand)
}
