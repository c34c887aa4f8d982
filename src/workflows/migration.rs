//! The order of a migration: from the running replicas to a new plan's, one start or stop at a
//! time, such that no GPU ever holds an exclusive worker next to another worker and the sharing
//! workers on a GPU never reserve more than it has free.
//!
//! Make before break: a replacement starts before the replica it replaces stops wherever its
//! GPUs are free. Stops that leave a deployment at or above `min(current, new)` replicas run as
//! soon as nothing better is possible; a stop that takes it below that (its replacement needs the
//! very GPUs it holds) is marked `break_before_make`.

use std::collections::BTreeMap;

use super::replan::identity;
use crate::domain::{Fleet, MigrationStep, PlacedReplica};

/// Workers on one GPU: (exclusive, MiB reserved) each.
type Workers = Vec<(bool, u64)>;

/// What runs where during the migration.
struct State<'f> {
    fleet: &'f Fleet,
    gpus: BTreeMap<(String, u32), Workers>,
    running: BTreeMap<String, u64>,
}

impl<'f> State<'f> {
    fn new(fleet: &'f Fleet, running: &[PlacedReplica], shares: &dyn Fn(&str) -> bool) -> Self {
        let mut state = State {
            fleet,
            gpus: BTreeMap::new(),
            running: BTreeMap::new(),
        };
        for r in running {
            state.start(r, shares(&r.deployment));
        }
        state
    }

    /// Whether `r` can start now: every GPU exists, and it either is free or holds only sharing
    /// workers with room for `r`'s reservation when `r` shares too.
    fn fits(&self, r: &PlacedReplica, share: bool) -> bool {
        r.stages.iter().all(|s| {
            s.gpus.iter().all(|&g| {
                let Some(gpu) = self
                    .fleet
                    .node(&s.node)
                    .and_then(|n| n.gpus.iter().find(|x| x.index == g))
                else {
                    return false;
                };
                let workers = self.gpus.get(&(s.node.clone(), g));
                let workers = workers.map_or(&[][..], Vec::as_slice);
                let held: u64 = workers.iter().map(|w| w.1).sum();
                if workers.is_empty() {
                    return r.memory_per_gpu_mib <= gpu.free_mib();
                }
                share && workers.iter().all(|w| !w.0) && held + r.memory_per_gpu_mib <= gpu.free_mib()
            })
        })
    }

    fn start(&mut self, r: &PlacedReplica, share: bool) {
        for s in &r.stages {
            for &g in &s.gpus {
                self.gpus
                    .entry((s.node.clone(), g))
                    .or_default()
                    .push((!share, r.memory_per_gpu_mib));
            }
        }
        *self.running.entry(r.deployment.clone()).or_default() += 1;
    }

    fn stop(&mut self, r: &PlacedReplica, share: bool) {
        for s in &r.stages {
            for &g in &s.gpus {
                if let Some(workers) = self.gpus.get_mut(&(s.node.clone(), g))
                    && let Some(i) = workers.iter().position(|w| *w == (!share, r.memory_per_gpu_mib))
                {
                    workers.remove(i);
                }
            }
        }
        if let Some(n) = self.running.get_mut(&r.deployment) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Whether two replicas hold a GPU in common.
fn overlap(a: &PlacedReplica, b: &PlacedReplica) -> bool {
    a.stages.iter().any(|s| {
        b.stages
            .iter()
            .any(|t| s.node == t.node && s.gpus.iter().any(|g| t.gpus.contains(g)))
    })
}

/// The steps from `current` to `new`: replicas in both (same identity) stay and get no step.
pub fn order(
    fleet: &Fleet,
    workload: &crate::domain::Workload,
    current: &[PlacedReplica],
    new: &[PlacedReplica],
) -> Vec<MigrationStep> {
    let shares = |name: &str| workload.deployment(name).is_some_and(|d| d.share_gpu);
    // Multiset match of identities: what stays.
    let mut unmatched_current: Vec<&PlacedReplica> = current.iter().collect();
    let mut starts: Vec<&PlacedReplica> = Vec::new();
    for r in new {
        match unmatched_current.iter().position(|c| identity(c) == identity(r)) {
            Some(i) => {
                unmatched_current.remove(i);
            }
            None => starts.push(r),
        }
    }
    let mut stops = unmatched_current;
    // The floor per deployment: min(current, new).
    let mut floor: BTreeMap<&str, u64> = BTreeMap::new();
    for d in current.iter().chain(new).map(|r| r.deployment.as_str()) {
        let c = current.iter().filter(|r| r.deployment == d).count() as u64;
        let n = new.iter().filter(|r| r.deployment == d).count() as u64;
        floor.insert(d, c.min(n));
    }
    let mut state = State::new(fleet, current, &shares);
    let mut steps = Vec::new();
    let emit = |steps: &mut Vec<MigrationStep>, action: &str, r: &PlacedReplica, break_before_make: bool| {
        steps.push(MigrationStep {
            step: steps.len() as u64 + 1,
            action: action.into(),
            deployment: r.deployment.clone(),
            replica: r.replica,
            stages: r.stages.clone(),
            break_before_make,
        });
    };
    while !starts.is_empty() || !stops.is_empty() {
        // Make: every start that fits now.
        if let Some(i) = starts.iter().position(|r| state.fits(r, shares(&r.deployment))) {
            let r = starts.remove(i);
            state.start(r, shares(&r.deployment));
            emit(&mut steps, "start", r, false);
            continue;
        }
        // Then break what does not dip: a stop whose deployment stays at its floor, those in the
        // way of a pending start first.
        let running = |state: &State, r: &PlacedReplica| state.running.get(&r.deployment).copied().unwrap_or(0);
        let no_dip = |state: &State, r: &PlacedReplica| running(state, r) > floor[r.deployment.as_str()];
        let in_way = |r: &PlacedReplica| starts.iter().any(|s| overlap(r, s));
        let pick = stops
            .iter()
            .position(|r| no_dip(&state, r) && in_way(r))
            .or_else(|| stops.iter().position(|r| no_dip(&state, r)));
        if let Some(i) = pick {
            let r = stops.remove(i);
            state.stop(r, shares(&r.deployment));
            emit(&mut steps, "stop", r, false);
            continue;
        }
        // Stuck: the first pending start needs GPUs that replicas at their floor hold. They stop
        // first, marked, and the start follows on the next turn.
        let blockers: Vec<usize> = match starts.first() {
            Some(first) => (0..stops.len()).filter(|&i| overlap(stops[i], first)).collect(),
            None => (0..stops.len()).collect(),
        };
        let blockers = if blockers.is_empty() {
            (0..stops.len()).collect()
        } else {
            blockers
        };
        if blockers.is_empty() {
            // A start that fits nowhere even with every stop done: the plan is not reachable.
            // The checker reports it; emit the rest as they are.
            for r in starts.drain(..) {
                emit(&mut steps, "start", r, false);
            }
            break;
        }
        for i in blockers.into_iter().rev() {
            let r = stops.remove(i);
            let dips = running(&state, r) <= floor[r.deployment.as_str()];
            state.stop(r, shares(&r.deployment));
            emit(&mut steps, "stop", r, dips);
        }
    }
    // Blockers were taken last first; steps are numbered in the order they were emitted.
    steps
}
