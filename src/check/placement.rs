//! Rules about each replica and each GPU: shape, stages, affinity, memory, occupancy, spread.

use std::collections::{BTreeMap, BTreeSet};

use super::lookup::Lookup;
use super::{Report, Rule, need};
use crate::domain::{Gpu, Plan, Quantization, Runtime, Workload};

/// A worker as the checker sees it on one GPU.
#[derive(Debug, Clone)]
pub struct Worker {
    pub deployment: String,
    pub replica: u64,
    pub reserve_mib: u64,
    pub shares: bool,
}

/// Workers per GPU, keyed by (node name, GPU index).
pub type Occupancy = BTreeMap<(String, u32), Vec<Worker>>;

/// Whether the rules let fleetfit use this GPU at all.
pub fn eligible(gpu: &Gpu, workload: &Workload) -> bool {
    let t = workload.policy.busy_threshold;
    gpu.healthy && t.ratio_at_most(gpu.used_mib, gpu.memory_mib) && t.ratio_at_most(u64::from(gpu.utilization), 100)
}

/// Checks every replica on its own and returns which workers sit on which GPU.
pub fn check_replicas(at: &Lookup<'_>, plan: &Plan, report: &mut Report) -> Occupancy {
    let mut occupancy = Occupancy::new();
    let mut seen: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for r in &plan.replicas {
        let who = format!("{} replica {}", r.deployment, r.replica);
        let Some(d) = at.deployment(&r.deployment) else {
            report.add(
                Rule::Replicas,
                format!("{who}: no deployment is named '{}'", r.deployment),
            );
            continue;
        };
        let indices = seen.entry(r.deployment.as_str()).or_default();
        if !indices.insert(r.replica) {
            report.add(
                Rule::Replicas,
                format!("{who}: replica index {} appears twice", r.replica),
            );
        }
        let (tp, pp) = (r.tensor_parallel, r.pipeline_parallel);
        let q: Option<Quantization> = r.quantization.parse().ok().filter(|q| d.quantizations.contains(q));
        if q.is_none() {
            report.add(
                Rule::Shape,
                format!(
                    "{who}: quantization '{}' is not in the deployment's list",
                    r.quantization
                ),
            );
        }
        if !d.tensor_parallel.contains(&tp) {
            report.add(Rule::Shape, format!("{who}: tensor_parallel {tp} is not allowed"));
        }
        if !d.pipeline_parallel.contains(&pp) {
            report.add(Rule::Shape, format!("{who}: pipeline_parallel {pp} is not allowed"));
        }
        let m = &d.model;
        if tp == 0 || m.heads % tp != 0 {
            report.add(
                Rule::Shape,
                format!(
                    "{who}: {} attention heads are not divisible by tensor_parallel {tp}",
                    m.heads
                ),
            );
        } else if m.kv_heads % tp != 0 && tp % m.kv_heads != 0 {
            report.add(
                Rule::Shape,
                format!(
                    "{who}: {} KV heads and tensor_parallel {tp} do not divide one another",
                    m.kv_heads
                ),
            );
        }
        if pp == 0 || pp > m.layers {
            report.add(
                Rule::Shape,
                format!("{who}: pipeline_parallel {pp} does not fit {} layers", m.layers),
            );
        }
        if r.stages.len() as u64 != pp {
            report.add(
                Rule::Stages,
                format!("{who}: {} stages listed for pipeline_parallel {pp}", r.stages.len()),
            );
        }
        let need = match q {
            Some(q) if d.tensor_parallel.contains(&tp) && d.pipeline_parallel.contains(&pp) => {
                // Runtime memory: the flat overhead_mib, else the engine profile's figure, which
                // the plan must record as it was used.
                let runtime_mib = d.runtime_mib(q, tp, pp);
                match (r.runtime_mib, &d.runtime) {
                    (Some(given), _) if given != runtime_mib => report.add(
                        Rule::Memory,
                        format!(
                            "{who}: runtime_mib is {given}, {} gives {runtime_mib}",
                            match &d.runtime {
                                Runtime::Flat(_) => "overhead_mib".to_string(),
                                Runtime::Profile(p) => format!("the {} {} profile", p.engine, p.version),
                            }
                        ),
                    ),
                    (None, Runtime::Profile(p)) => report.add(
                        Rule::Memory,
                        format!(
                            "{who}: runtime_mib is missing; no overhead_mib applies, so the {} {} profile's {runtime_mib} MiB must be recorded",
                            p.engine, p.version
                        ),
                    ),
                    _ => {}
                }
                Some(need::need_mib(d, q, tp, pp, runtime_mib))
            }
            _ => None,
        };
        let mut gpus_of_replica = BTreeSet::new();
        // Each GPU's own reservation; GPUs of one type may differ in total memory.
        let mut reserves: Vec<u64> = Vec::new();
        for (s, stage) in r.stages.iter().enumerate() {
            if stage.gpus.len() as u64 != tp {
                report.add(
                    Rule::Stages,
                    format!(
                        "{who}: stage {s} has {} GPUs for tensor_parallel {tp}",
                        stage.gpus.len()
                    ),
                );
            }
            let Some(node) = at.node(&stage.node) else {
                report.add(
                    Rule::Stages,
                    format!("{who}: stage {s} is on unknown node '{}'", stage.node),
                );
                continue;
            };
            if !d.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v)) {
                report.add(
                    Rule::Affinity,
                    format!("{who}: node '{}' does not match the node_selector", node.name),
                );
            }
            for &index in &stage.gpus {
                let at = format!("{who}: GPU {}/{index}", node.name);
                let Some(gpu) = node.gpu(index) else {
                    report.add(Rule::Stages, format!("{at} does not exist"));
                    continue;
                };
                if !gpus_of_replica.insert((node.name.clone(), index)) {
                    report.add(Rule::Stages, format!("{at} is used twice by the replica"));
                }
                if gpu.gpu_type != r.gpu_type {
                    report.add(
                        Rule::Stages,
                        format!("{at} is a {}, the replica says {}", gpu.gpu_type, r.gpu_type),
                    );
                }
                if let Some(types) = &d.gpu_types
                    && !types.contains(&gpu.gpu_type)
                {
                    report.add(
                        Rule::Affinity,
                        format!("{at} is a {}, not among gpu_types", gpu.gpu_type),
                    );
                }
                let expected = match (need, d.gpu_memory_utilization) {
                    (Some(need), Some(f)) => {
                        // A fraction of what CUDA reports: total less the driver's reserve.
                        let reserved = f.floor_mul(gpu.memory_mib.saturating_sub(gpu.reserved_mib));
                        if need > reserved {
                            report.add(Rule::Memory, format!("{at}: needs {need} MiB, more than gpu_memory_utilization {f} reserves ({reserved} MiB)"));
                        }
                        Some(reserved)
                    }
                    (need, _) => need,
                };
                if let Some(expected) = expected {
                    reserves.push(expected);
                }
                occupancy.entry((node.name.clone(), index)).or_default().push(Worker {
                    deployment: d.name.clone(),
                    replica: r.replica,
                    reserve_mib: expected.unwrap_or(r.memory_per_gpu_mib),
                    shares: d.share_gpu,
                });
            }
        }
        // memory_per_gpu_mib is section 4's reservation: the largest of its GPUs' where sizes differ.
        if let Some(&largest) = reserves.iter().max()
            && largest != r.memory_per_gpu_mib
        {
            report.add(
                Rule::Memory,
                format!(
                    "{who}: memory_per_gpu_mib is {}, the rules give {largest}",
                    r.memory_per_gpu_mib
                ),
            );
        }
    }
    for (name, indices) in seen {
        if let Some(d) = at.deployment(name)
            && indices.len() as u64 > d.replicas
        {
            report.add(
                Rule::Replicas,
                format!("{name}: {} replicas placed, {} requested", indices.len(), d.replicas),
            );
        }
    }
    occupancy
}

/// Every used GPU is eligible, holds one worker or only sharing workers, and has the memory.
pub fn check_gpus(workload: &Workload, at: &Lookup<'_>, occupancy: &Occupancy, report: &mut Report) {
    for ((node, index), workers) in occupancy {
        let Some(gpu) = at.node(node).and_then(|n| n.gpu(*index)) else {
            continue;
        };
        let at = format!("GPU {node}/{index}");
        if !eligible(gpu, workload) {
            report.add(
                Rule::Occupancy,
                format!(
                    "{at} is not eligible (healthy: {}, {} of {} MiB used, {}% busy, busy_threshold {})",
                    gpu.healthy, gpu.used_mib, gpu.memory_mib, gpu.utilization, workload.policy.busy_threshold
                ),
            );
        }
        let names: Vec<String> = workers
            .iter()
            .map(|w| format!("{} replica {}", w.deployment, w.replica))
            .collect();
        if workers.len() > 1 && workers.iter().any(|w| !w.shares) {
            report.add(
                Rule::Occupancy,
                format!(
                    "{at} holds {} workers ({}) but not all of them share",
                    workers.len(),
                    names.join(", ")
                ),
            );
        }
        let reserved: u64 = workers.iter().map(|w| w.reserve_mib).sum();
        let free = gpu
            .memory_mib
            .saturating_sub(gpu.reserved_mib)
            .saturating_sub(gpu.used_mib);
        if reserved > free {
            report.add(
                Rule::Memory,
                format!(
                    "{at} reserves {reserved} MiB for {} but has {free} MiB free",
                    names.join(", ")
                ),
            );
        }
    }
}

/// `spread: true`: no node holds GPUs of two different replicas of the deployment.
pub fn check_spread(at: &Lookup<'_>, plan: &Plan, report: &mut Report) {
    let mut holders: BTreeMap<(&str, &str), BTreeSet<u64>> = BTreeMap::new();
    for r in &plan.replicas {
        if at.deployment(&r.deployment).is_some_and(|d| d.spread) {
            for s in &r.stages {
                holders
                    .entry((r.deployment.as_str(), s.node.as_str()))
                    .or_default()
                    .insert(r.replica);
            }
        }
    }
    for ((d, node), replicas) in holders {
        if replicas.len() > 1 {
            report.add(
                Rule::Spread,
                format!("{d} is spread, but node '{node}' holds its replicas {replicas:?}"),
            );
        }
    }
}
