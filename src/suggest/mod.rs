//! Suggestions for a deployment short of replicas: small changes, each backed by a re-solve
//! whose plan passed the checker, ranked by how small the change is, each saying what it costs.
//!
//! Kinds, smallest first: other TP/PP sizes; another quantization; a lower `kv_cache_tokens`
//! (the largest of a few tried that places more); a lower `gpu_memory_utilization` (likewise);
//! a reserve relaxed by one; a higher priority than the deployments holding its GPUs (naming the
//! replicas that lose their place); one more node like the fleet's largest of an allowed type.
//! Candidates are re-solved in parallel, each within the time left. A change counts only where
//! its re-solve serves the fleet more (a higher `placed_value`; for a priority change, more of
//! the deployment) and uses what the change allows (the new shape or quantization): a re-solve
//! that merely swaps equal-priority replicas is not a suggestion.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::domain::{Deployment, Fleet, Node, Plan, Quantization, Suggestion, Workload};
use crate::shapes::check_parallelism;

mod change;

use crate::solver::{SolveOptions, solve};
pub use change::{Change, Cost, Suggested};

/// One change to try.
struct Candidate {
    change: Change,
    fleet: Fleet,
    workload: Workload,
    /// What the re-solved plan must do with the change for it to count.
    uses: Uses,
}

/// What a change allows that the plan must use.
enum Uses {
    /// Nothing in particular: more value is enough.
    MoreValue,
    /// A TP x PP outside the deployment's lists (theirs given).
    NewShape { tps: Vec<u64>, pps: Vec<u64> },
    /// This quantization.
    Quantization(Quantization),
    /// A higher priority: more replicas of the deployment, whatever it costs the others.
    Priority,
}

/// Suggestions for deployment `name`, which `plan` (of `fleet` and `workload`) places short, in
/// words ([`suggest_typed`] rendered).
pub fn suggest(fleet: &Fleet, workload: &Workload, plan: &Plan, name: &str, time_limit: Duration) -> Vec<Suggestion> {
    suggest_typed(fleet, workload, plan, name, time_limit)
        .iter()
        .map(Suggested::render)
        .collect()
}

/// Suggestions for deployment `name`, smallest change first, as data.
pub fn suggest_typed(
    fleet: &Fleet,
    workload: &Workload,
    plan: &Plan,
    name: &str,
    time_limit: Duration,
) -> Vec<Suggested> {
    let deadline = Instant::now() + time_limit;
    let Some(index) = workload.deployments.iter().position(|d| d.name == name) else {
        return Vec::new();
    };
    let placed = |p: &Plan, d: &str| p.replicas.iter().filter(|r| r.deployment == d).count() as u64;
    let before = placed(plan, name);
    let candidates = candidates(fleet, workload, index);
    let mut found: Vec<Suggested> = candidates
        .into_par_iter()
        .filter_map(|c| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let options = SolveOptions {
                time_limit: left,
                ..SolveOptions::default()
            };
            let solved = solve(&c.fleet, &c.workload, &options).ok()?;
            let after = placed(&solved.plan, name);
            let mine = || solved.plan.replicas.iter().filter(|r| r.deployment == name);
            let counts = match &c.uses {
                Uses::Priority => true,
                Uses::MoreValue => true,
                Uses::NewShape { tps, pps } => {
                    mine().any(|r| !tps.contains(&r.tensor_parallel) || !pps.contains(&r.pipeline_parallel))
                }
                Uses::Quantization(q) => mine().any(|r| r.quantization.parse::<Quantization>().ok() == Some(*q)),
            } && (matches!(c.uses, Uses::Priority)
                || solved.plan.objective.placed_value > plan.objective.placed_value);
            (after > before && counts).then(|| {
                let losses: Vec<(String, u64)> = workload
                    .deployments
                    .iter()
                    .filter(|d| d.name != name)
                    .filter_map(|d| {
                        let (was, now) = (placed(plan, &d.name), placed(&solved.plan, &d.name));
                        (now < was).then(|| (d.name.clone(), was - now))
                    })
                    .collect();
                let shapes = used_shapes(&solved.plan, name);
                let change = match c.change {
                    Change::Shapes {
                        tensor_parallel,
                        pipeline_parallel,
                        ..
                    } => Change::Shapes {
                        tensor_parallel,
                        pipeline_parallel,
                        used: Some(shapes.clone()),
                    },
                    other => other,
                };
                Suggested {
                    change,
                    cost: Cost {
                        placed_more: after - before,
                        shapes,
                        losses,
                    },
                    placed_value: solved.plan.objective.placed_value,
                }
            })
        })
        .collect();
    crate::solver::join_stopped();
    // Smallest change first; of one kind (kv_cache_tokens, utilization) keep the mildest that works.
    found.sort_by(|a, b| {
        (a.change.rank(), std::cmp::Reverse(a.change.mild()))
            .cmp(&(b.change.rank(), std::cmp::Reverse(b.change.mild())))
            .then(a.change.to_string().cmp(&b.change.to_string()))
    });
    let mut out: Vec<Suggested> = Vec::new();
    for s in found {
        if s.change.one_of_a_kind() && out.iter().any(|o| o.change.rank() == s.change.rank()) {
            continue;
        }
        out.push(s);
    }
    out
}

/// The shapes a plan gives a deployment, as `fp8 TP 1 x PP 7`.
fn used_shapes(plan: &Plan, name: &str) -> String {
    let mut shapes: Vec<String> = plan
        .replicas
        .iter()
        .filter(|r| r.deployment == name)
        .map(|r| {
            format!(
                "{} TP {} x PP {}",
                r.quantization, r.tensor_parallel, r.pipeline_parallel
            )
        })
        .collect();
    shapes.sort();
    shapes.dedup();
    shapes.join(", ")
}

/// The changes worth a re-solve for deployment `d`.
fn candidates(fleet: &Fleet, workload: &Workload, d: usize) -> Vec<Candidate> {
    let dep = &workload.deployments[d];
    let mut out = Vec::new();
    let with = |change: Change, edit: &dyn Fn(&mut Deployment)| {
        let mut w = workload.clone();
        edit(&mut w.deployments[d]);
        Candidate {
            change,
            fleet: fleet.clone(),
            workload: w,
            uses: Uses::MoreValue,
        }
    };
    // 1. Other TP/PP sizes the model allows.
    let model = &dep.model;
    let tps: Vec<u64> = [1u64, 2, 4, 8, 16]
        .into_iter()
        .filter(|&tp| check_parallelism(model, tp, 1).is_ok())
        .collect();
    let pps: Vec<u64> = (1..=8).filter(|&pp| pp <= model.layers).collect();
    let new_tp: Vec<u64> = tps
        .iter()
        .copied()
        .filter(|t| !dep.tensor_parallel.contains(t))
        .collect();
    let new_pp: Vec<u64> = pps
        .iter()
        .copied()
        .filter(|p| !dep.pipeline_parallel.contains(p))
        .collect();
    if !new_tp.is_empty() || !new_pp.is_empty() {
        let (tps, pps) = (tps.clone(), pps.clone());
        let change = Change::Shapes {
            tensor_parallel: tps.clone(),
            pipeline_parallel: pps.clone(),
            used: None,
        };
        let mut c = with(change, &move |x| {
            x.tensor_parallel = tps.clone();
            x.pipeline_parallel = pps.clone();
        });
        c.uses = Uses::NewShape {
            tps: dep.tensor_parallel.clone(),
            pps: dep.pipeline_parallel.clone(),
        };
        out.push(c);
    }
    // 2. A quantization of fewer bits.
    let least_bits = dep.quantizations.iter().map(|q| q.bits()).fold(f64::INFINITY, f64::min);
    for q in [Quantization::Fp8, Quantization::Int4] {
        if q.bits() < least_bits && !dep.quantizations.contains(&q) {
            let mut c = with(Change::Quantization(q), &move |x| x.quantizations.push(q));
            c.uses = Uses::Quantization(q);
            out.push(c);
        }
    }
    // 3. Fewer KV-cache tokens: a few values below today's.
    if dep.kv_cache_tokens >= 2048 {
        for eighths in (1..8u64).rev() {
            let tokens = (dep.kv_cache_tokens * eighths / 8).max(1);
            let change = Change::KvCacheTokens {
                tokens,
                from: dep.kv_cache_tokens,
            };
            out.push(with(change, &move |x| x.kv_cache_tokens = tokens));
        }
    }
    // 4. A lower gpu_memory_utilization, where set.
    if let Some(gmu) = dep.gpu_memory_utilization {
        let now = gmu.to_f64();
        for step in 1..=6u32 {
            let lower = ((now - 0.05 * f64::from(step)) * 100.0).round() / 100.0;
            if lower < 0.05 {
                break;
            }
            let Some(value) = crate::ratio::Decimal::from_f64(lower) else {
                continue;
            };
            let change = Change::GpuMemoryUtilization {
                hundredths: (lower * 100.0).round() as u64,
                from: now.to_string(),
            };
            out.push(with(change, &move |x| x.gpu_memory_utilization = Some(value)));
        }
    }
    // 5. A reserve relaxed by one.
    let reserve = &workload.policy.reserve;
    let mut relax = |change: Change, edit: &dyn Fn(&mut crate::domain::Reserve)| {
        let mut w = workload.clone();
        edit(&mut w.policy.reserve);
        out.push(Candidate {
            change,
            fleet: fleet.clone(),
            workload: w,
            uses: Uses::MoreValue,
        });
    };
    if reserve.per_node > 0 {
        relax(Change::ReservePerNode(reserve.per_node - 1), &|r| r.per_node -= 1);
    }
    if reserve.fleet > 0 {
        relax(Change::ReserveFleet(reserve.fleet - 1), &|r| r.fleet -= 1);
    }
    for (t, &n) in &reserve.per_type {
        if n > 0 {
            let t2 = t.clone();
            let change = Change::ReservePerType {
                gpu_type: t.clone(),
                to: n - 1,
            };
            relax(change, &move |r| {
                *r.per_type.get_mut(&t2).expect("the type is there") -= 1;
            });
        }
    }
    // 6. A priority above the deployments that outrank or tie it.
    let top = workload.deployments.iter().map(|x| x.priority).max().unwrap_or(1);
    if workload
        .deployments
        .iter()
        .any(|x| x.name != dep.name && x.priority >= dep.priority)
    {
        let change = Change::Priority {
            to: top + 1,
            from: dep.priority,
        };
        let mut c = with(change, &move |x| x.priority = top + 1);
        c.uses = Uses::Priority;
        out.push(c);
    }
    // 6b. A busy GPU freed (what holds it moved elsewhere), on nodes and types it may use.
    let busy = workload.policy.busy_threshold;
    for node in fleet.nodes.iter().filter(|n| n.matches(&dep.node_selector)) {
        for (i, g) in node.gpus.iter().enumerate() {
            if g.is_eligible(busy) || !g.healthy || !dep.allows_type(&g.gpu_type) {
                continue;
            }
            let mut freed = fleet.clone();
            let gpu = &mut freed
                .nodes
                .iter_mut()
                .find(|n| n.name == node.name)
                .expect("the node")
                .gpus[i];
            gpu.used_mib = 0;
            gpu.utilization = 0;
            out.push(Candidate {
                change: Change::FreeGpu {
                    node: node.name.clone(),
                    index: g.index,
                    used_mib: g.used_mib,
                    memory_mib: g.memory_mib,
                    utilization: g.utilization,
                },
                fleet: freed,
                workload: workload.clone(),
                uses: Uses::MoreValue,
            });
        }
    }
    // 7. One more node like the fleet's largest of a type it may use.
    let allowed = |node: &Node| {
        node.gpus.first().is_some_and(|g| dep.allows_type(&g.gpu_type)) && node.matches(&dep.node_selector)
    };
    if let Some(like) = fleet
        .nodes
        .iter()
        .filter(|n| allowed(n))
        .max_by_key(|n| (n.gpus.len(), n.gpus.first().map(|g| g.memory_mib)))
    {
        let mut grown = fleet.clone();
        let mut node = like.clone();
        node.name = format!("{}-new", like.name);
        for g in &mut node.gpus {
            g.used_mib = 0;
            g.utilization = 0;
            g.healthy = true;
        }
        let change = Change::AddNode {
            like: like.name.clone(),
            gpus: node.gpus.len(),
            gpu_type: node.gpus.first().map_or_else(String::new, |g| g.gpu_type.clone()),
        };
        grown.nodes.push(node);
        out.push(Candidate {
            change,
            fleet: grown,
            workload: workload.clone(),
            uses: Uses::MoreValue,
        });
    }
    out
}
