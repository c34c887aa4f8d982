//! A re-plan against the plan that runs now: `objective.moves` recounted, and the `migration`
//! simulated step by step. Independent of how `replan` orders its steps.
//!
//! A replica is kept when deployment, quantization, TP, PP, GPU type and stages are unchanged;
//! per deployment `moves = max(running, new) - kept`. During the migration no GPU may hold an
//! exclusive worker next to another worker, sharing workers may not reserve more than the GPU has
//! free (`memory_mib - used_mib`), and a stop that leaves its deployment below
//! `min(running, new)` replicas must be marked `break_before_make`.

use std::collections::BTreeMap;

use super::{Report, Rule, Violation};
use crate::domain::{Fleet, PlacedReplica, Plan, SolveStatus, Workload};

/// A running worker as the simulation sees it: who, where, and what it reserves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Worker {
    deployment: String,
    quantization: String,
    tensor_parallel: u64,
    pipeline_parallel: u64,
    gpu_type: String,
    stages: Vec<(String, Vec<u32>)>,
}

impl Worker {
    fn of(r: &PlacedReplica) -> Worker {
        Worker {
            deployment: r.deployment.clone(),
            quantization: r.quantization.clone(),
            tensor_parallel: r.tensor_parallel,
            pipeline_parallel: r.pipeline_parallel,
            gpu_type: r.gpu_type.clone(),
            stages: r.stages.iter().map(|s| (s.node.clone(), s.gpus.clone())).collect(),
        }
    }
}

/// Every rule the re-plan `new` breaks against the running plan `current`.
pub fn check_migration(fleet: &Fleet, workload: &Workload, current: &Plan, new: &Plan) -> Vec<Violation> {
    let mut report = Report::default();
    let multiset = |plan: &Plan| {
        let mut m: BTreeMap<Worker, u64> = BTreeMap::new();
        for r in &plan.replicas {
            *m.entry(Worker::of(r)).or_default() += 1;
        }
        m
    };
    let (before, after) = (multiset(current), multiset(new));
    // Moves, per deployment.
    let mut per: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for (w, n) in &before {
        per.entry(&w.deployment).or_default().0 += n;
    }
    for (w, n) in &after {
        let e = per.entry(&w.deployment).or_default();
        e.1 += n;
        e.2 += (*n).min(before.get(w).copied().unwrap_or(0));
    }
    let moves: u64 = per.values().map(|&(c, n, k)| c.max(n) - k).sum();
    if new.objective.moves != Some(moves) {
        report.add(
            Rule::Migration,
            match new.objective.moves {
                Some(claimed) => format!(
                    "objective.moves is {claimed}, the plans differ by {moves} move{}",
                    if moves == 1 { "" } else { "s" }
                ),
                None => format!(
                    "objective.moves is missing (a re-plan records its moves; the plans differ by {moves} move{})",
                    if moves == 1 { "" } else { "s" }
                ),
            },
        );
    }
    if let Some(bound) = new.objective.moves_bound {
        if bound > moves {
            report.add(
                Rule::Migration,
                format!("objective.moves_bound is {bound}, above the {moves} moves the plan makes"),
            );
        } else if bound < moves && new.status == SolveStatus::Optimal {
            report.add(
                Rule::Migration,
                format!("status optimal, but moves ({moves}) are above their bound ({bound})"),
            );
        }
    }
    let floor: BTreeMap<&str, u64> = per.iter().map(|(d, &(c, n, _))| (*d, c.min(n))).collect();
    let Some(steps) = &new.migration else {
        if moves > 0 {
            report.add(Rule::Migration, "the plan has moves but no migration".into());
        }
        return report.0;
    };
    // Simulate.
    let shares = |d: &str| workload.deployment(d).is_some_and(|d| d.share_gpu);
    let mut running = before.clone();
    let mut count: BTreeMap<String, u64> = per.iter().map(|(d, &(c, _, _))| (d.to_string(), c)).collect();
    let mut on_gpu: BTreeMap<(String, u32), Vec<(bool, u64)>> = BTreeMap::new();
    let reservations: BTreeMap<Worker, u64> = current
        .replicas
        .iter()
        .chain(&new.replicas)
        .map(|r| (Worker::of(r), r.memory_per_gpu_mib))
        .collect();
    for (w, &n) in &before {
        for _ in 0..n {
            for (node, gpus) in &w.stages {
                for &g in gpus {
                    on_gpu
                        .entry((node.clone(), g))
                        .or_default()
                        .push((!shares(&w.deployment), reservations[w]));
                }
            }
        }
    }
    for (i, step) in steps.iter().enumerate() {
        let at = format!("migration step {}", step.step);
        if step.step != i as u64 + 1 {
            report.add(
                Rule::Migration,
                format!("{at}: steps must be numbered 1, 2, ... in order"),
            );
        }
        // The step names deployment, replica and stages; the shape comes from the plan it refers to.
        let source = if step.action == "stop" { current } else { new };
        let Some(replica) = source
            .replicas
            .iter()
            .find(|r| r.deployment == step.deployment && r.replica == step.replica && r.stages == step.stages)
        else {
            report.add(
                Rule::Migration,
                format!(
                    "{at}: {} replica {} on these stages is not in the {} plan",
                    step.deployment,
                    step.replica,
                    if step.action == "stop" { "running" } else { "new" }
                ),
            );
            continue;
        };
        let worker = Worker::of(replica);
        let exclusive = !shares(&step.deployment);
        let mib = replica.memory_per_gpu_mib;
        match step.action.as_str() {
            "start" => {
                for (node, gpus) in &worker.stages {
                    for &g in gpus {
                        let Some(gpu) = fleet.node(node).and_then(|n| n.gpus.iter().find(|x| x.index == g)) else {
                            report.add(Rule::Migration, format!("{at}: {node} GPU {g} does not exist"));
                            continue;
                        };
                        let workers = on_gpu.entry((node.clone(), g)).or_default();
                        let free = gpu
                            .memory_mib
                            .saturating_sub(gpu.reserved_mib)
                            .saturating_sub(gpu.used_mib);
                        let held: u64 = workers.iter().map(|w| w.1).sum();
                        if !workers.is_empty() && (exclusive || workers.iter().any(|w| w.0)) {
                            report.add(
                                Rule::Migration,
                                format!("{at}: {node} GPU {g} already holds a worker that does not share"),
                            );
                        } else if held + mib > free {
                            report.add(
                                Rule::Migration,
                                format!(
                                    "{at}: {node} GPU {g} would reserve {} MiB of {free} MiB free",
                                    held + mib
                                ),
                            );
                        }
                        workers.push((exclusive, mib));
                    }
                }
                *running.entry(worker.clone()).or_default() += 1;
                *count.entry(step.deployment.clone()).or_default() += 1;
            }
            "stop" => {
                match running.get_mut(&worker) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => {
                        report.add(
                            Rule::Migration,
                            format!(
                                "{at}: stops {} replica {}, which is not running",
                                step.deployment, step.replica
                            ),
                        );
                        continue;
                    }
                }
                for (node, gpus) in &worker.stages {
                    for &g in gpus {
                        if let Some(workers) = on_gpu.get_mut(&(node.clone(), g))
                            && let Some(k) = workers.iter().position(|w| *w == (exclusive, mib))
                        {
                            workers.remove(k);
                        }
                    }
                }
                let left = count.entry(step.deployment.clone()).or_default();
                *left = left.saturating_sub(1);
                let floor = floor.get(step.deployment.as_str()).copied().unwrap_or(0);
                if *left < floor && !step.break_before_make {
                    report.add(
                        Rule::Migration,
                        format!(
                            "{at}: {} drops to {} replicas, below {floor}, without break_before_make",
                            step.deployment, *left
                        ),
                    );
                }
            }
            other => report.add(
                Rule::Migration,
                format!("{at}: action '{other}' is neither start nor stop"),
            ),
        }
    }
    running.retain(|_, n| *n > 0);
    if running != after {
        report.add(
            Rule::Migration,
            "after the last step, what runs is not the new plan".into(),
        );
    }
    report.0
}
