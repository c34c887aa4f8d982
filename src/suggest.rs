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
use crate::solver::{SolveOptions, solve};

/// One change to try.
struct Candidate {
    /// Smaller is a smaller change.
    rank: u32,
    /// Within a rank, larger is milder (the KV tokens or utilization kept).
    mild: u64,
    change: String,
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

/// Suggestions for deployment `name`, which `plan` (of `fleet` and `workload`) places short.
pub fn suggest(fleet: &Fleet, workload: &Workload, plan: &Plan, name: &str, time_limit: Duration) -> Vec<Suggestion> {
    let deadline = Instant::now() + time_limit;
    let Some(index) = workload.deployments.iter().position(|d| d.name == name) else {
        return Vec::new();
    };
    let placed = |p: &Plan, d: &str| p.replicas.iter().filter(|r| r.deployment == d).count() as u64;
    let before = placed(plan, name);
    let candidates = candidates(fleet, workload, index);
    let mut found: Vec<((u32, u64), Suggestion)> = candidates
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
                let mut lost: Vec<String> = workload
                    .deployments
                    .iter()
                    .filter(|d| d.name != name)
                    .filter_map(|d| {
                        let (was, now) = (placed(plan, &d.name), placed(&solved.plan, &d.name));
                        (now < was).then(|| {
                            let n = was - now;
                            if n == 1 {
                                format!("1 replica of {} loses its place", d.name)
                            } else {
                                format!("{n} replicas of {} lose their place", d.name)
                            }
                        })
                    })
                    .collect();
                let shape = used_shapes(&solved.plan, name);
                let change = if c.rank == 1 {
                    format!("use {shape} (add its sizes to tensor_parallel / pipeline_parallel)")
                } else {
                    c.change
                };
                let mut cost = format!("places {} more ({shape})", after - before);
                if lost.is_empty() {
                    lost.push("nothing else loses its place".into());
                }
                cost = format!("{cost}; {}", lost.join(", "));
                (
                    (c.rank, c.mild),
                    Suggestion {
                        change,
                        placed_value: solved.plan.objective.placed_value,
                        cost,
                    },
                )
            })
        })
        .collect();
    crate::solver::join_stopped();
    // Smallest change first; of one kind (kv_cache_tokens, utilization) keep the mildest that works.
    found.sort_by(|a, b| {
        (a.0.0, std::cmp::Reverse(a.0.1))
            .cmp(&(b.0.0, std::cmp::Reverse(b.0.1)))
            .then(a.1.change.cmp(&b.1.change))
    });
    let mut out: Vec<(u32, Suggestion)> = Vec::new();
    for ((rank, _), s) in found {
        if (rank == 3 || rank == 4) && out.iter().any(|(r, _)| *r == rank) {
            continue;
        }
        out.push((rank, s));
    }
    out.into_iter().map(|(_, s)| s).collect()
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
    let with = |rank: u32, change: String, edit: &dyn Fn(&mut Deployment)| {
        let mut w = workload.clone();
        edit(&mut w.deployments[d]);
        Candidate {
            rank,
            mild: 0,
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
        let mut c = with(
            1,
            format!("allow tensor_parallel {tps:?} and pipeline_parallel {pps:?}"),
            &move |x| {
                x.tensor_parallel = tps.clone();
                x.pipeline_parallel = pps.clone();
            },
        );
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
            let mut c = with(2, format!("quantization {}", q.name()), &move |x| {
                x.quantizations.push(q)
            });
            c.uses = Uses::Quantization(q);
            out.push(c);
        }
    }
    // 3. Fewer KV-cache tokens: a few values below today's.
    if dep.kv_cache_tokens >= 2048 {
        for eighths in (1..8u64).rev() {
            let tokens = (dep.kv_cache_tokens * eighths / 8).max(1);
            let mut c = with(
                3,
                format!("kv_cache_tokens {tokens} (from {})", dep.kv_cache_tokens),
                &move |x| x.kv_cache_tokens = tokens,
            );
            c.mild = tokens;
            out.push(c);
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
            let mut c = with(4, format!("gpu_memory_utilization {lower} (from {now})"), &move |x| {
                x.gpu_memory_utilization = Some(value)
            });
            c.mild = (lower * 100.0).round() as u64;
            out.push(c);
        }
    }
    // 5. A reserve relaxed by one.
    let reserve = &workload.policy.reserve;
    let mut relax = |change: String, edit: &dyn Fn(&mut crate::domain::Reserve)| {
        let mut w = workload.clone();
        edit(&mut w.policy.reserve);
        out.push(Candidate {
            mild: 0,
            rank: 5,
            change,
            fleet: fleet.clone(),
            workload: w,
            uses: Uses::MoreValue,
        });
    };
    if reserve.per_node > 0 {
        relax(format!("policy.reserve.per_node {}", reserve.per_node - 1), &|r| {
            r.per_node -= 1
        });
    }
    if reserve.fleet > 0 {
        relax(format!("policy.reserve.fleet {}", reserve.fleet - 1), &|r| r.fleet -= 1);
    }
    for (t, &n) in &reserve.per_type {
        if n > 0 {
            let t2 = t.clone();
            relax(format!("policy.reserve.per_type.{t} {}", n - 1), &move |r| {
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
        let mut c = with(6, format!("priority {} (from {})", top + 1, dep.priority), &move |x| {
            x.priority = top + 1
        });
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
                mild: 0,
                rank: 6,
                change: format!(
                    "free GPU {} of {} ({} of {} MiB used, {}% busy): move what holds it",
                    g.index, node.name, g.used_mib, g.memory_mib, g.utilization
                ),
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
        let change = format!(
            "add a node like {} ({} x {})",
            like.name,
            node.gpus.len(),
            node.gpus.first().map_or("", |g| g.gpu_type.as_str())
        );
        grown.nodes.push(node);
        out.push(Candidate {
            mild: 0,
            rank: 7,
            change,
            fleet: grown,
            workload: workload.clone(),
            uses: Uses::MoreValue,
        });
    }
    out
}
