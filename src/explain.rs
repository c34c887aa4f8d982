//! Why a deployment got fewer replicas than it asked for: a short chain of facts a person can act
//! on, most decisive first ("128 attention heads are not divisible by tensor parallel size 7;
//! node a100-01 has 7 eligible GPUs, GPU 0 is 92% used").

use crate::domain::{Deployment, Fleet, GpuKind, Node, Plan, Policy, Workload};
use crate::memory::{self, MemoryInputs};
use crate::shapes::{self, check_parallelism};

/// Re-solves a workload and returns the proven best `placed_value`, or `None` when it could not
/// be proven in time. Explanations use it to say what is true, not what is likely.
pub type Resolve<'r> = dyn Fn(&Workload) -> Option<u64> + 'r;

/// Adds `reasons` to every unplaced entry of a plan.
pub fn annotate(fleet: &Fleet, workload: &Workload, plan: &mut Plan, resolve: &Resolve<'_>) {
    for entry in &mut plan.unplaced {
        if let Some(d) = workload.deployment(&entry.deployment) {
            entry.reasons = reasons(fleet, &workload.policy, d, entry.placed);
            if entry.reasons.first().is_some_and(|r| r.starts_with(COULD_FIT)) {
                entry.reasons = competition(workload, d, entry.placed, resolve);
            }
        }
    }
}

/// How the neutral sentence of [`reasons`] begins, before re-solves make it precise.
const COULD_FIT: &str = "more would fit";

/// Whether other deployments took what `d` needs, or its own rules (spread, reserves, stage
/// splits, memory) limit it: decided by re-solving `d` alone, then without its spread and
/// without the reserves.
fn competition(workload: &Workload, d: &Deployment, placed: u64, resolve: &Resolve<'_>) -> Vec<String> {
    let alone = |policy: crate::domain::Policy, spread: bool| {
        let mut only = d.clone();
        only.priority = 1;
        only.spread = spread;
        resolve(&Workload {
            policy,
            deployments: vec![only],
        })
    };
    let wanted = d.replicas - placed;
    let Some(by_itself) = alone(workload.policy.clone(), d.spread) else {
        return vec![format!(
            "{wanted} more have a shape that fits some node, but no plan found in time places them \
             next to the other deployments"
        )];
    };
    if by_itself > placed {
        let others: Vec<&str> = workload
            .deployments
            .iter()
            .filter(|o| o.name != d.name && o.priority >= d.priority)
            .map(|o| o.name.as_str())
            .collect();
        let who = if others.is_empty() {
            "other deployments".to_string()
        } else {
            others.join(", ")
        };
        return vec![format!(
            "alone it would place {by_itself} of {}; the GPUs those need hold replicas of equal or \
             higher value ({who})",
            d.replicas
        )];
    }
    let mut out = vec![format!(
        "even alone on the fleet it places only {by_itself} of {}",
        d.replicas
    )];
    if d.spread && alone(workload.policy.clone(), false).is_some_and(|n| n > by_itself) {
        out.push("spread: no node may hold GPUs of two of its replicas, and too few nodes have room".into());
    }
    let mut no_reserve = workload.policy.clone();
    no_reserve.reserve = Default::default();
    if no_reserve.reserve != workload.policy.reserve && alone(no_reserve, d.spread).is_some_and(|n| n > by_itself) {
        let r = &workload.policy.reserve;
        out.push(format!(
            "policy.reserve keeps GPUs free (per_node {}, fleet {}, per_type {:?})",
            r.per_node, r.fleet, r.per_type
        ));
    }
    if out.len() == 1 {
        out.push("the eligible GPUs with enough free memory for its stages are used up by its own replicas".into());
    }
    out
}

/// The reasons one deployment is short of replicas, from the rules alone (no re-solve).
pub fn reasons(fleet: &Fleet, policy: &Policy, d: &Deployment, placed: u64) -> Vec<String> {
    let mut out = Vec::new();
    let m = &d.model;
    // 1. Parallel sizes the model cannot be split into.
    let mut valid = Vec::new();
    for &tp in &d.tensor_parallel {
        for &pp in &d.pipeline_parallel {
            match check_parallelism(m, tp, pp) {
                Ok(()) => valid.push((tp, pp)),
                Err(problem) => out.push(format!("tp {tp} x pp {pp}: {problem}")),
            }
        }
    }
    out.dedup();
    if valid.is_empty() {
        out.insert(
            0,
            format!(
                "no allowed tensor/pipeline size suits {} ({} heads, {} KV heads, {} layers)",
                m.id, m.heads, m.kv_heads, m.layers
            ),
        );
        return out;
    }
    // 2. GPU types and nodes it may use at all.
    let kinds: Vec<GpuKind> = shapes::gpu_kinds(fleet)
        .into_iter()
        .filter(|k| d.allows_type(&k.gpu_type))
        .collect();
    if kinds.is_empty() {
        out.insert(
            0,
            format!(
                "no GPU in the fleet is of an allowed type ({})",
                d.gpu_types.clone().unwrap_or_default().join(", ")
            ),
        );
        return out;
    }
    let nodes: Vec<&Node> = fleet.nodes.iter().filter(|n| n.matches(&d.node_selector)).collect();
    if nodes.is_empty() {
        let selector: Vec<String> = d.node_selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.insert(0, format!("no node matches node_selector {}", selector.join(",")));
        return out;
    }
    // 3. Memory: the smallest need over shapes, against each kind.
    let inputs = MemoryInputs::of(d);
    let mut fits_somewhere = Vec::new();
    let mut memory_facts = Vec::new();
    for kind in &kinds {
        let mut best: Option<(u64, String)> = None;
        for &q in &d.quantizations {
            for &(tp, pp) in &valid {
                let need = memory::footprint(&inputs, q, tp, pp).need_mib;
                let shape = format!("{q} tp {tp} x pp {pp}");
                match memory::reserve_mib(need, d.gpu_memory_utilization, kind.memory_mib) {
                    Some(reserve) if reserve <= kind.memory_mib => fits_somewhere.push((kind.clone(), tp, pp, reserve)),
                    _ => {
                        if best.as_ref().is_none_or(|(n, _)| need < *n) {
                            best = Some((need, shape));
                        }
                    }
                }
            }
        }
        if let Some((need, shape)) = best {
            let limit = match d.gpu_memory_utilization {
                Some(f) => format!(
                    "gpu_memory_utilization {f} of its {} MiB reserves {} MiB",
                    kind.memory_mib,
                    f.floor_mul(kind.memory_mib)
                ),
                None => format!("it has {} MiB", kind.memory_mib),
            };
            memory_facts.push(format!("{shape} needs {need} MiB per {}; {limit}", kind.gpu_type));
        }
    }
    if fits_somewhere.is_empty() {
        out.splice(0..0, memory_facts);
        return out;
    }
    // 4. Nodes: the most eligible GPUs with enough free memory any node offers each fitting shape.
    let mut node_facts = Vec::new();
    let mut any_stage_fits = false;
    for (kind, tp, pp, reserve) in &fits_somewhere {
        let (best_node, room) = nodes
            .iter()
            .map(|n| (n, room_on(n, kind, *reserve, policy)))
            .max_by_key(|(n, room)| (*room, std::cmp::Reverse(n.name.clone())))
            .expect("nodes is not empty");
        if room >= *tp {
            any_stage_fits = true;
            continue;
        }
        let mut fact = format!(
            "tp {tp} x pp {pp} on {} needs {tp} eligible GPUs with {reserve} MiB free on one node; {} has {room}",
            kind.gpu_type, best_node.name
        );
        let blockers = blockers(best_node, kind, *reserve, policy);
        if !blockers.is_empty() {
            fact.push_str(&format!(" ({})", blockers.join(", ")));
        }
        node_facts.push(fact);
    }
    node_facts.dedup();
    if !any_stage_fits {
        node_facts.extend(memory_facts);
        out.splice(0..0, node_facts);
        return out;
    }
    // 5. It could fit, but the fleet was given to other deployments or kept by reserves; the
    // shapes that could never fit are beside the point then.
    let wanted = d.replicas - placed;
    vec![format!(
        "{COULD_FIT}: {wanted} more have a shape that fits some node next to no other deployment"
    )]
}

/// Eligible GPUs of `kind` with `reserve` MiB free on a node, less `reserve.per_node`.
fn room_on(node: &Node, kind: &GpuKind, reserve: u64, policy: &Policy) -> u64 {
    let eligible = node
        .gpus
        .iter()
        .filter(|g| g.is_eligible(policy.busy_threshold))
        .count() as u64;
    let fitting = node
        .gpus
        .iter()
        .filter(|g| g.is_kind(kind) && g.is_eligible(policy.busy_threshold) && g.free_mib() >= reserve)
        .count() as u64;
    fitting.min(eligible.saturating_sub(policy.reserve.per_node))
}

/// What keeps a node's GPUs of `kind` out: busy, unhealthy, or short of memory.
fn blockers(node: &Node, kind: &GpuKind, reserve: u64, policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for g in node.gpus.iter().filter(|g| g.is_kind(kind)) {
        if !g.healthy {
            out.push(format!("GPU {} is unhealthy", g.index));
        } else if !policy.busy_threshold.ratio_at_most(g.used_mib, g.memory_mib) {
            let used_pct = (200 * g.used_mib + g.memory_mib) / (2 * g.memory_mib);
            out.push(format!("GPU {} is {used_pct}% full", g.index));
        } else if !g.is_eligible(policy.busy_threshold) {
            out.push(format!("GPU {} is {}% busy", g.index, g.utilization));
        } else if g.free_mib() < reserve {
            out.push(format!("GPU {} has {} MiB free", g.index, g.free_mib()));
        }
    }
    if policy.reserve.per_node > 0 {
        out.push(format!("reserve.per_node keeps {}", policy.reserve.per_node));
    }
    out
}
