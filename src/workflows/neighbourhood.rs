//! The large-neighbourhood search of `replan`: where keeping every running replica falls short of
//! the value to reach, free the nodes where the solver's plan differs most from what runs (1, 2,
//! 4, ... of them; their exclusive workers first), solve what is left around the replicas that
//! stay, then pin freed nodes back one at a time while the value holds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::domain::{Fleet, PlacedReplica, SolveStatus, Workload, make_plan};
use crate::solver::{self, SolveOptions};

use super::replan::identity;

/// What the search works around: the running replicas that may stay, and those that must.
pub(super) struct Around<'a> {
    pub fleet: &'a Fleet,
    pub workload: &'a Workload,
    pub running: &'a [PlacedReplica],
    pub pinned: &'a [PlacedReplica],
}

impl Around<'_> {
    /// Candidate plans, each checked, ending with the smallest freed set found that reaches
    /// `target` (`best` is the solver's plan, which tells where to look).
    pub(super) fn search(
        &self,
        best: &[PlacedReplica],
        target: u64,
        options: &SolveOptions,
        deadline: Instant,
    ) -> Vec<Vec<PlacedReplica>> {
        let mut candidates = Vec::new();
        let shares = |r: &PlacedReplica| self.workload.deployment(&r.deployment).is_some_and(|d| d.share_gpu);
        // Frees the replicas on `freed` nodes (only those that do not share, when `exclusive`).
        let attempt = |freed: &BTreeSet<&str>, exclusive: bool| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let stay: Vec<PlacedReplica> = self
                .running
                .iter()
                .filter(|r| {
                    self.pinned.contains(r)
                        || (exclusive && shares(r))
                        || r.stages.iter().all(|s| !freed.contains(s.node.as_str()))
                })
                .cloned()
                .collect();
            let quick = SolveOptions {
                time_limit: left,
                start: None,
                known_bound: None,
                pinned: stay,
                ..options.clone()
            };
            let joined = solver::solve(self.fleet, self.workload, &quick).ok()?.plan.replicas;
            let joined = reseat(self.fleet, self.workload, &joined, self.running).unwrap_or(joined);
            let value = make_plan(self.fleet, self.workload, joined.clone(), SolveStatus::TimeLimit, None)
                .objective
                .placed_value;
            Some((joined, value >= target))
        };
        let nodes = differing_nodes(best, self.running);
        let mut k = 1;
        let mut reached: Option<(BTreeSet<&str>, bool)> = None;
        while k <= nodes.len() && reached.is_none() {
            let freed = nodes[..k].iter().map(String::as_str).collect();
            // Sharing workers are many and small: free them only where freeing the others fails.
            for exclusive in [true, false] {
                match attempt(&freed, exclusive) {
                    Some((joined, full)) => {
                        candidates.push(joined);
                        if full {
                            reached = Some((freed.clone(), exclusive));
                            break;
                        }
                    }
                    None if Instant::now() >= deadline => break,
                    None => {}
                }
            }
            k = if k == nodes.len() {
                k + 1
            } else {
                (k * 2).min(nodes.len())
            };
        }
        if let Some((mut freed, exclusive)) = reached {
            for node in nodes.iter().rev() {
                if freed.len() <= 1 || !freed.contains(node.as_str()) {
                    continue;
                }
                freed.remove(node.as_str());
                match attempt(&freed, exclusive) {
                    Some((joined, true)) => candidates.push(joined),
                    _ => {
                        freed.insert(node.as_str());
                    }
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
        }
        candidates
    }
}

/// Moves `plan`'s single-stage replicas onto the GPUs a running replica of the same deployment
/// and shape holds on the same node, where those GPUs are free in the plan; the rest keep their
/// places. `None` when the result breaks a rule.
pub(super) fn reseat(
    fleet: &Fleet,
    workload: &Workload,
    plan: &[PlacedReplica],
    running: &[PlacedReplica],
) -> Option<Vec<PlacedReplica>> {
    let mut out = plan.to_vec();
    let mut taken: BTreeSet<(String, u32)> = plan
        .iter()
        .flat_map(|r| {
            r.stages
                .iter()
                .flat_map(|s| s.gpus.iter().map(|&g| (s.node.clone(), g)))
        })
        .collect();
    let mut used_running = vec![false; running.len()];
    // Already kept ones stay as they are.
    for r in &out {
        if let Some(i) = (0..running.len()).find(|&i| !used_running[i] && identity(&running[i]) == identity(r)) {
            used_running[i] = true;
        }
    }
    for r in &mut out {
        if r.stages.len() != 1 || running.iter().any(|c| identity(c) == identity(r)) {
            continue;
        }
        let same_shape = |c: &PlacedReplica| {
            c.deployment == r.deployment
                && c.quantization == r.quantization
                && c.tensor_parallel == r.tensor_parallel
                && c.pipeline_parallel == r.pipeline_parallel
                && c.gpu_type == r.gpu_type
                && c.stages.len() == 1
                && c.stages[0].node == r.stages[0].node
        };
        let node = r.stages[0].node.clone();
        let Some(i) = (0..running.len()).find(|&i| {
            !used_running[i]
                && same_shape(&running[i])
                && running[i].stages[0]
                    .gpus
                    .iter()
                    .all(|&g| !taken.contains(&(node.clone(), g)) || r.stages[0].gpus.contains(&g))
        }) else {
            continue;
        };
        used_running[i] = true;
        for &g in &r.stages[0].gpus {
            taken.remove(&(node.clone(), g));
        }
        r.stages[0].gpus = running[i].stages[0].gpus.clone();
        r.memory_per_gpu_mib = running[i].memory_per_gpu_mib;
        for &g in &r.stages[0].gpus {
            taken.insert((node.clone(), g));
        }
    }
    let plan = make_plan(fleet, workload, out.clone(), SolveStatus::TimeLimit, None);
    crate::check::check(fleet, workload, &plan).is_empty().then_some(out)
}

/// Nodes where `plan` and `running` differ, most different first: per node, the replicas
/// (deployment and shape) one has and the other lacks.
fn differing_nodes(plan: &[PlacedReplica], running: &[PlacedReplica]) -> Vec<String> {
    // Per node, per (deployment, quantization, TP, PP): plan's count less running's.
    type Shape<'a> = (&'a str, &'a str, u64, u64);
    let mut per_node: BTreeMap<&str, BTreeMap<Shape, i64>> = BTreeMap::new();
    for (replicas, sign) in [(plan, 1i64), (running, -1)] {
        for r in replicas {
            for s in &r.stages {
                *per_node
                    .entry(&s.node)
                    .or_default()
                    .entry((&r.deployment, &r.quantization, r.tensor_parallel, r.pipeline_parallel))
                    .or_default() += sign;
            }
        }
    }
    let mut nodes: Vec<(i64, &str)> = per_node
        .into_iter()
        .map(|(node, diff)| (diff.values().map(|v| v.abs()).sum(), node))
        .filter(|(d, _)| *d > 0)
        .collect();
    nodes.sort_by_key(|&(d, node)| (std::cmp::Reverse(d), node));
    nodes.into_iter().map(|(_, n)| n.to_string()).collect()
}
