//! Why a deployment got fewer replicas than it asked for: a short chain of facts a person can act
//! on, most decisive first ("128 attention heads are not divisible by tensor parallel size 7;
//! node a100-01 has 7 eligible GPUs, GPU 0 is 92% used").

use std::time::Instant;

use crate::domain::{Deployment, Fleet, GpuKind, Node, Plan, Policy, Quantization, SolveStatus, Workload};
use crate::memory::{self, MemoryInputs};
use crate::shapes::{self, check_parallelism};
use crate::solver::{self, SolveOptions, Solved, budget};

/// [`solver::solve`], then the reasons of every unplaced entry: what `plan` and `explain` print.
/// Explanations re-solve a deployment alone: within a share of the time limit, or for a proven
/// plan within a budget of their own, so that its reasons do not depend on the limit.
pub fn solve(fleet: &Fleet, workload: &Workload, options: &SolveOptions) -> crate::Result<Solved> {
    let started = Instant::now();
    let mut solved = solver::solve(fleet, workload, options)?;
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
            cancel: options.cancel.clone(),
            ..SolveOptions::default()
        };
        solver::solve(fleet, w, &quick)
            .ok()
            .filter(|s| s.plan.status == SolveStatus::Optimal)
            .map(|s| s.plan.objective.placed_value)
    };
    annotate(fleet, workload, &mut solved.plan, &resolve);
    solved.stats.total_seconds = started.elapsed().as_secs_f64();
    Ok(solved)
}

/// Re-solves a workload and returns the proven best `placed_value`, or `None` when it could not
/// be proven in time. Explanations use it to say what is true, not what is likely.
pub type Resolve<'r> = dyn Fn(&Workload) -> Option<u64> + 'r;

/// Adds `reasons` to every unplaced entry of a plan.
pub fn annotate(fleet: &Fleet, workload: &Workload, plan: &mut Plan, resolve: &Resolve<'_>) {
    for entry in &mut plan.unplaced {
        if let Some(d) = workload.deployment(&entry.deployment) {
            entry.reasons = match rule_facts(fleet, &workload.policy, d, entry.placed) {
                RuleFacts::Stop(facts) => facts,
                RuleFacts::AllowMore { .. } => competition(workload, d, entry.placed, resolve),
            };
        }
    }
}

/// What the rules alone say of a deployment short of replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleFacts {
    /// A rule stops more replicas: the facts, most decisive first.
    Stop(Vec<String>),
    /// No rule stops `wanted` more (some shape fits some node): other deployments, reserves or
    /// the search decide, which only a re-solve can tell.
    AllowMore { wanted: u64 },
}

/// The reasons one deployment is short of replicas, from the rules alone (no re-solve), as
/// sentences.
pub fn reasons(fleet: &Fleet, policy: &Policy, d: &Deployment, placed: u64) -> Vec<String> {
    match rule_facts(fleet, policy, d, placed) {
        RuleFacts::Stop(facts) => facts,
        RuleFacts::AllowMore { wanted } => {
            vec![format!(
                "more would fit: {wanted} more have a shape that fits some node next to no other deployment"
            )]
        }
    }
}

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

/// What the rules alone say of a deployment short of replicas (no re-solve): the facts that stop
/// more, most decisive first, or that none does.
pub fn rule_facts(fleet: &Fleet, policy: &Policy, d: &Deployment, placed: u64) -> RuleFacts {
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
        return RuleFacts::Stop(out);
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
        return RuleFacts::Stop(out);
    }
    let nodes: Vec<&Node> = fleet.nodes.iter().filter(|n| n.matches(&d.node_selector)).collect();
    if nodes.is_empty() {
        let selector: Vec<String> = d.node_selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.insert(0, format!("no node matches node_selector {}", selector.join(",")));
        return RuleFacts::Stop(out);
    }
    // 3. Memory: the smallest need over shapes, against each kind.
    let inputs = MemoryInputs::of(d);
    let mut fits_somewhere = Vec::new();
    let mut memory_facts = Vec::new();
    for kind in &kinds {
        let mut best: Option<(u64, (Quantization, u64, u64))> = None;
        for &q in &d.quantizations {
            for &(tp, pp) in &valid {
                let need = memory::footprint(&inputs, q, tp, pp).need_mib;
                let shape = (q, tp, pp);
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
            memory_facts.push(memory_fact(d, kind, need, shape));
        }
    }
    if fits_somewhere.is_empty() {
        out.splice(0..0, memory_facts);
        return RuleFacts::Stop(out);
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
        return RuleFacts::Stop(out);
    }
    // 5. It could fit, but the fleet was given to other deployments or kept by reserves; the
    // shapes that could never fit are beside the point then.
    RuleFacts::AllowMore {
        wanted: d.replicas - placed,
    }
}

/// Why the smallest shape does not fit a kind's memory, term by term, as the engine would
/// account it: "weights 67.8 GiB + activation 2.3 GiB + non-torch 2.1 GiB leave 3.0 GiB of the
/// 75.2 GiB gpu_memory_utilization 0.95 gives: 19,600 tokens < 32,768 kv_cache_tokens".
fn memory_fact(d: &Deployment, kind: &GpuKind, need_mib: u64, (q, tp, pp): (Quantization, u64, u64)) -> String {
    let gib = |mib: f64| format!("{:.1} GiB", mib / 1024.0);
    let (budget, limit) = match d.gpu_memory_utilization {
        Some(f) => {
            let r = f.floor_mul(kind.memory_mib);
            (
                r,
                format!(
                    "gpu_memory_utilization {f} gives of its {}",
                    gib(kind.memory_mib as f64)
                ),
            )
        }
        None => (kind.memory_mib, "CUDA reports".to_string()),
    };
    let (w_numer, w_denom) = memory::weight_bytes_per_gpu(&d.model, q, tp, pp);
    let weights_mib = w_numer as f64 / w_denom as f64 / (1u64 << 20) as f64;
    let runtime = d.runtime.of(&d.model, q, tp, pp);
    let mut terms = vec![format!("weights {}", gib(weights_mib))];
    if runtime.measured.is_some() || runtime.activation_mib == 0 && runtime.non_torch_mib == 0 {
        terms.push(format!("runtime {}", gib(runtime.total_mib as f64)));
    } else {
        for (name, mib) in [
            ("activation", runtime.activation_mib),
            ("non-torch", runtime.non_torch_mib),
            ("CUDA graphs", runtime.cuda_graph_mib),
            ("unsplit weights", runtime.weights_extra_mib),
            ("margin", runtime.margin_mib),
        ] {
            if mib > 0 {
                terms.push(format!("{name} {}", gib(mib as f64)));
            }
        }
    }
    let shape = format!("{q} tp {tp} x pp {pp} on {}", kind.gpu_type);
    let left = budget as f64 - weights_mib - runtime.total_mib as f64;
    if left <= 0.0 {
        return format!(
            "{shape}: {} need {} more than the {} {limit}",
            terms.join(" + "),
            gib(-left),
            gib(budget as f64)
        );
    }
    let block = memory::block_tokens(d);
    match memory::kv_capacity_tokens(&d.model, q, tp, pp, d.kv_cache_dtype, budget, runtime.total_mib, block) {
        Some(tokens) if tokens < d.kv_cache_tokens => format!(
            "{shape}: {} leave {} of the {} {limit}: {} KV tokens < {} kv_cache_tokens",
            terms.join(" + "),
            gib(left),
            gib(budget as f64),
            crate::numbers::thousands(tokens),
            crate::numbers::thousands(d.kv_cache_tokens)
        ),
        _ => format!("{shape} needs {need_mib} MiB per GPU; {limit} {} MiB", budget),
    }
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
