//! `current import`: a current plan from what runs now, for `replan --current` and `emit
//! --current`. Each worker a cluster or node reports (a pod, an engine's process tree) is matched
//! to a deployment: first by the `fleetfit.io/deployment` annotation fleetfit's manifests carry,
//! then by the name it serves (`--served-model-name`, `--alias`) or the checkpoint it loads on
//! the deployment's engine. A matched worker becomes a replica with the shape it runs (even one
//! the deployment no longer allows: `replan` then moves it); what cannot be matched becomes
//! foreign load on its GPUs, listed with the reason.
//!
//! GPU indices come from the capture where it has them; a pod's GPUs are otherwise the lowest
//! free indices of its node (the device plugin's choice is not reported, and Kubernetes treats a
//! node's GPUs as alike).

use std::collections::{BTreeMap, BTreeSet};

mod gpus;
mod matching;

use crate::domain::{
    EngineCommand, Fleet, PlacedReplica, Plan, Running, SolveStatus, Stage, Worker, WorkerGpus, Workload, make_plan,
};
use gpus::{checked, pick};
use matching::{match_unit, memory_of};

/// A worker fleetfit does not place, kept as memory used on its GPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    pub origin: String,
    pub node: String,
    pub gpus: Vec<u32>,
    /// MiB it takes on each of its GPUs, as the fleet now counts them: what nvidia-smi reports
    /// (the whole GPU where it reports none), the whole GPU for a pod (Kubernetes gives GPUs
    /// exclusively).
    pub used_mib: BTreeMap<u32, u64>,
    pub reason: String,
}

/// The current plan, the fleet with foreign load on it, and what the reader should know.
#[derive(Debug, Clone)]
pub struct Current {
    pub plan: Plan,
    /// The input fleet, its `used_mib` replaced on captured nodes by what foreign workers use
    /// there (an nvidia-smi fleet counts the engines' own memory as used), and raised to the
    /// whole GPU where a foreign pod holds it.
    pub fleet: Fleet,
    pub foreign: Vec<Foreign>,
    pub warnings: Vec<String>,
}

/// One replica's worth of workers (a pod, a process tree, or the pods of one LeaderWorkerSet
/// group, leader first).
pub(super) struct Unit {
    pub(super) parts: Vec<Worker>,
}

impl Unit {
    pub(super) fn head(&self) -> &Worker {
        &self.parts[0]
    }
    pub(super) fn gpus(&self) -> u64 {
        self.parts.iter().fold(0u64, |n, w| n.saturating_add(w.gpus.count()))
    }
    pub(super) fn command(&self) -> Option<&EngineCommand> {
        self.parts.iter().find_map(|w| w.command.as_ref())
    }
}

/// What a unit was matched to: the deployment (by index, or a name fleetfit's annotation gives
/// that the deployments file no longer has), and the shape it runs.
pub(super) struct Matched {
    pub(super) deployment: Result<usize, String>,
    pub(super) quantization: String,
    pub(super) tp: u64,
    pub(super) pp: u64,
}

/// Workers on each GPU: (exclusive, MiB reserved) each.
pub(super) type Held = BTreeMap<(String, u32), Vec<(bool, u64)>>;

/// Builds the current plan from `workers`. `captured` names the nodes whose GPU memory use was
/// captured process by process (nvidia-smi): their `used_mib` becomes the foreign workers' alone.
pub fn import(fleet: &Fleet, workload: &Workload, workers: Vec<Worker>, captured: &BTreeSet<String>) -> Current {
    let mut warnings = Vec::new();
    let workers = checked(fleet, workers, &mut warnings);
    let mut units: Vec<Unit> = Vec::new();
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for worker in workers {
        if fleet.node(&worker.node).is_none() {
            warnings.push(format!(
                "{}: runs on node '{}', which the fleet file does not have; left out",
                worker.origin, worker.node
            ));
            continue;
        }
        match worker.pod.as_ref().and_then(|p| p.group.clone()) {
            Some((group, _)) => match groups.get(&group) {
                Some(&u) => units[u].parts.push(worker),
                None => {
                    groups.insert(group, units.len());
                    units.push(Unit { parts: vec![worker] });
                }
            },
            None => units.push(Unit { parts: vec![worker] }),
        }
    }
    for unit in &mut units {
        unit.parts
            .sort_by_key(|w| w.pod.as_ref().and_then(|p| p.group.as_ref()).map_or(0, |g| g.1));
    }
    let mut foreign_units: Vec<(usize, String)> = Vec::new();
    let mut matched: Vec<(usize, Matched)> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        match match_unit(unit, workload, &mut warnings) {
            Ok(m) => matched.push((u, m)),
            Err(reason) => foreign_units.push((u, reason)),
        }
    }
    // GPUs: indices the capture gives first, then the lowest free ones for the others.
    let mut held: Held = BTreeMap::new();
    let shares = |m: &Matched| m.deployment.as_ref().is_ok_and(|&d| workload.deployments[d].share_gpu);
    // What a replica reserves on each of its GPUs (as on its node's first GPU).
    let reserve = |m: &Matched, node: &str| -> u64 {
        let Ok(d) = m.deployment else { return 0 };
        let Some(first) = fleet.node(node).and_then(|n| n.gpus.first()) else {
            return 0;
        };
        let stage = Stage {
            node: node.to_string(),
            gpus: vec![first.index],
        };
        memory_of(fleet, workload, d, m, &[stage]).0
    };
    for (u, _) in &foreign_units {
        for w in &units[*u].parts {
            if let WorkerGpus::Indices(gpus) = &w.gpus {
                for &g in gpus {
                    held.entry((w.node.clone(), g)).or_default().push((true, 0));
                }
            }
        }
    }
    for (u, m) in &matched {
        for w in &units[*u].parts {
            if let WorkerGpus::Indices(gpus) = &w.gpus {
                for &g in gpus {
                    held.entry((w.node.clone(), g))
                        .or_default()
                        .push((!shares(m), reserve(m, &w.node)));
                }
            }
        }
    }
    let threshold = workload.policy.busy_threshold;
    // Foreign pods whose GPUs are only counted take the lowest free ones.
    let mut foreign: Vec<Foreign> = Vec::new();
    for (u, reason) in &foreign_units {
        for w in &units[*u].parts {
            let gpus = match &w.gpus {
                WorkerGpus::Indices(gpus) => Some(gpus.clone()),
                WorkerGpus::Count(n) => pick(fleet, &mut held, &w.node, *n, None, Some(threshold)),
            };
            let Some(gpus) = gpus else {
                warnings.push(left_out(w));
                continue;
            };
            foreign.push(Foreign {
                origin: w.origin.clone(),
                node: w.node.clone(),
                used_mib: gpus
                    .iter()
                    .map(|g| (*g, w.used_mib.get(g).copied().unwrap_or(u64::MAX)))
                    .collect(),
                gpus,
                reason: reason.clone(),
            });
        }
    }
    // Whole GPUs first, then sharing workers largest first (first fit decreasing).
    let mut order: Vec<usize> = (0..matched.len()).collect();
    order.sort_by_key(|&i| {
        let (u, m) = &matched[i];
        let node = &units[*u].head().node;
        (
            shares(m),
            std::cmp::Reverse(if shares(m) { reserve(m, node) } else { 0 }),
            i,
        )
    });
    let mut replicas: Vec<(PlacedReplica, Running)> = Vec::new();
    for (u, m) in order.iter().map(|&i| &matched[i]) {
        let unit = &units[*u];
        let mut stages = Vec::new();
        let mut complete = true;
        for w in &unit.parts {
            let gpus = match &w.gpus {
                WorkerGpus::Indices(g) => Some(g.clone()),
                // Where its reservation fits, else wherever it can be: it runs there now.
                WorkerGpus::Count(n) => {
                    let need = Some((shares(m), reserve(m, &w.node)));
                    pick(fleet, &mut held, &w.node, *n, need, Some(threshold))
                        .or_else(|| pick(fleet, &mut held, &w.node, *n, Some((shares(m), 0)), None))
                }
            };
            let Some(gpus) = gpus else {
                warnings.push(left_out(w));
                complete = false;
                break;
            };
            stages.extend(gpus.chunks(m.tp as usize).map(|g| Stage {
                node: w.node.clone(),
                gpus: g.to_vec(),
            }));
        }
        if !complete {
            continue;
        }
        let name = match &m.deployment {
            Ok(d) => workload.deployments[*d].name.clone(),
            Err(name) => name.clone(),
        };
        let (memory_per_gpu_mib, runtime_mib) = match &m.deployment {
            Ok(d) => memory_of(fleet, workload, *d, m, &stages),
            Err(_) => (0, None),
        };
        let gpu_type = fleet
            .node(&stages[0].node)
            .and_then(|n| n.gpu(stages[0].gpus[0]))
            .map_or_else(String::new, |g| g.gpu_type.clone());
        let head = unit.head();
        let pod = head.pod.as_ref();
        replicas.push((
            PlacedReplica {
                deployment: name.clone(),
                replica: 0,
                quantization: m.quantization.clone(),
                tensor_parallel: m.tp,
                pipeline_parallel: m.pp,
                gpu_type,
                memory_per_gpu_mib,
                runtime_mib,
                stages,
            },
            Running {
                deployment: name,
                replica: 0,
                namespace: pod.map(|p| p.namespace.clone()),
                pods: unit
                    .parts
                    .iter()
                    .filter_map(|w| w.pod.as_ref().map(|p| p.pod.clone()))
                    .collect(),
                owner: pod.and_then(|p| p.owner.clone()),
                owner_pods: pod.and_then(|p| p.owner_pods),
                pid: head.pid,
                port: unit.command().and_then(|c| c.port),
                model: unit.command().map(|c| c.model.clone()),
            },
        ));
    }
    // Number replicas per deployment by node (fleet order), then first GPU.
    let node_order: BTreeMap<&str, usize> = fleet
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    replicas.sort_by(|(a, _), (b, _)| {
        let key = |r: &PlacedReplica| {
            (
                r.deployment.clone(),
                node_order[r.stages[0].node.as_str()],
                r.stages[0].gpus[0],
            )
        };
        key(a).cmp(&key(b))
    });
    let mut next: BTreeMap<String, u64> = BTreeMap::new();
    for (r, running) in &mut replicas {
        let n = next.entry(r.deployment.clone()).or_default();
        r.replica = *n;
        running.replica = *n;
        *n += 1;
    }
    // Foreign load on the fleet: on captured nodes what nvidia-smi reports (replacing the
    // fleet's figure, which counts the engines too), elsewhere the whole GPU.
    let mut fleet_now = fleet.clone();
    for node in fleet_now.nodes.iter_mut().filter(|n| captured.contains(&n.name)) {
        for gpu in &mut node.gpus {
            gpu.used_mib = 0;
        }
    }
    for f in &mut foreign {
        let Some(node) = fleet_now.nodes.iter_mut().find(|n| n.name == f.node) else {
            continue;
        };
        for gpu in node.gpus.iter_mut().filter(|g| f.gpus.contains(&g.index)) {
            let used = f.used_mib.get(&gpu.index).copied().unwrap_or(u64::MAX);
            gpu.used_mib = if captured.contains(&f.node) {
                gpu.used_mib.saturating_add(used).min(gpu.cuda_mib())
            } else {
                gpu.used_mib.max(gpu.cuda_mib())
            };
        }
    }
    for f in &mut foreign {
        let node = fleet_now.node(&f.node);
        for (g, used) in f.used_mib.iter_mut() {
            let memory = node.and_then(|n| n.gpu(*g)).map_or(0, |g| g.memory_mib);
            if !captured.contains(&f.node) || *used == u64::MAX {
                *used = node.and_then(|n| n.gpu(*g)).map_or(0, |g| g.cuda_mib());
            }
            *used = (*used).min(memory);
        }
    }
    foreign.sort_by(|a, b| (&a.node, &a.gpus, &a.origin).cmp(&(&b.node, &b.gpus, &b.origin)));
    let (placed, running): (Vec<PlacedReplica>, Vec<Running>) = replicas.into_iter().unzip();
    // Not a solve: never `optimal`; its bound is what is asked for.
    let mut plan = make_plan(&fleet_now, workload, placed, SolveStatus::TimeLimit, None);
    // In the plan's order (make_plan sorts replicas by deployment, then number).
    plan.running = plan
        .replicas
        .iter()
        .filter_map(|r| {
            running
                .iter()
                .find(|x| x.deployment == r.deployment && x.replica == r.replica)
                .cloned()
        })
        .collect();
    Current {
        plan,
        fleet: fleet_now,
        foreign,
        warnings,
    }
}

/// Why a worker is left out: its node has fewer GPUs free than it holds.
fn left_out(w: &Worker) -> String {
    format!(
        "{}: holds {} GPUs of node {}, more than the fleet file leaves free there; left out",
        w.origin,
        w.gpus.count(),
        w.node
    )
}
