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

use crate::domain::{
    Deployment, Engine, EngineCommand, Fleet, PlacedReplica, Plan, Quantization, Running, SolveStatus, Stage, Worker,
    WorkerGpus, Workload, make_plan,
};
use crate::formats::catalog::Catalog;
use crate::memory::{self, MemoryInputs};
use crate::shapes;

/// A worker fleetfit does not place, kept as memory used on its GPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    pub origin: String,
    pub node: String,
    pub gpus: Vec<u32>,
    /// MiB taken on each of its GPUs (the whole GPU for a pod: Kubernetes gives it exclusively).
    pub used_mib: u64,
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
struct Unit {
    parts: Vec<Worker>,
}

impl Unit {
    fn head(&self) -> &Worker {
        &self.parts[0]
    }
    fn gpus(&self) -> u64 {
        self.parts.iter().map(|w| w.gpus.count()).sum()
    }
    fn command(&self) -> Option<&EngineCommand> {
        self.parts.iter().find_map(|w| w.command.as_ref())
    }
}

/// What a unit was matched to: the deployment (by index, or a name fleetfit's annotation gives
/// that the deployments file no longer has), and the shape it runs.
struct Matched {
    deployment: Result<usize, String>,
    quantization: String,
    tp: u64,
    pp: u64,
}

/// Builds the current plan from `workers`. `captured` names the nodes whose GPU memory use was
/// captured process by process (nvidia-smi): their `used_mib` becomes the foreign workers' alone.
pub fn import(fleet: &Fleet, workload: &Workload, workers: Vec<Worker>, captured: &BTreeSet<String>) -> Current {
    let mut warnings = Vec::new();
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
    let mut foreign: Vec<Foreign> = Vec::new();
    let mut matched: Vec<(usize, Matched)> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        match match_unit(unit, workload, &mut warnings) {
            Ok(m) => matched.push((u, m)),
            Err(reason) => foreign.extend(unit.parts.iter().map(|w| Foreign {
                origin: w.origin.clone(),
                node: w.node.clone(),
                gpus: match &w.gpus {
                    WorkerGpus::Indices(g) => g.clone(),
                    WorkerGpus::Count(_) => Vec::new(),
                },
                used_mib: w.used_mib.values().copied().max().unwrap_or(0),
                reason: reason.clone(),
            })),
        }
    }
    // GPUs: indices the capture gives first, then the lowest free ones for the others.
    let mut held: BTreeMap<(String, u32), Vec<(bool, u64)>> = BTreeMap::new();
    for f in &foreign {
        for &g in &f.gpus {
            held.entry((f.node.clone(), g)).or_default().push((true, f.used_mib));
        }
    }
    // What a sharing replica reserves on each of its GPUs (as on its node's first GPU).
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
    let shares = |m: &Matched| m.deployment.as_ref().is_ok_and(|&d| workload.deployments[d].share_gpu);
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
    // The lowest GPUs of a node that can take a worker (`need`: whether it shares, and its
    // reservation; `None` for a foreign pod, which any healthy GPU nothing holds can have):
    // eligible free ones, or for a sharing worker ones that hold only sharing workers with room.
    let threshold = workload.policy.busy_threshold;
    let pick = |held: &mut BTreeMap<(String, u32), Vec<(bool, u64)>>,
                node: &str,
                count: u64,
                need: Option<(bool, u64)>|
     -> Option<Vec<u32>> {
        let n = fleet.node(node)?;
        let share = need.and_then(|(share, mib)| share.then_some(mib));
        // A sharing worker goes best fit: onto the fullest shared GPU it fits, then free ones.
        let mut candidates: Vec<(u64, u32)> = Vec::new();
        for gpu in n.gpus.iter().filter(|g| g.healthy) {
            let workers = held.get(&(node.to_string(), gpu.index)).map_or(&[][..], Vec::as_slice);
            let taken: u64 = workers.iter().map(|x| x.1).sum();
            let room = |mib: u64| gpu.is_eligible(threshold) && taken + mib <= gpu.free_mib();
            match need {
                None if workers.is_empty() => candidates.push((u64::MAX, gpu.index)),
                None => {}
                Some((_, mib)) if workers.is_empty() && room(mib) => candidates.push((u64::MAX, gpu.index)),
                Some((true, mib)) if workers.iter().all(|x| !x.0) && room(mib) => {
                    candidates.push((gpu.free_mib() - taken - mib, gpu.index))
                }
                Some(_) => {}
            }
        }
        if share.is_some() {
            candidates.sort_unstable();
        }
        let chosen: Vec<u32> = candidates.iter().take(count as usize).map(|c| c.1).collect();
        ((chosen.len() as u64) == count).then(|| {
            for &g in &chosen {
                held.entry((node.to_string(), g))
                    .or_default()
                    .push((need.is_none_or(|(share, _)| !share), need.map_or(0, |(_, mib)| mib)));
            }
            chosen
        })
    };
    // Foreign pods whose GPUs are only counted take the lowest free ones.
    for f in foreign.iter_mut().filter(|f| f.gpus.is_empty()) {
        let count = units
            .iter()
            .flat_map(|u| &u.parts)
            .find(|w| w.origin == f.origin)
            .map_or(0, |w| w.gpus.count());
        match pick(&mut held, &f.node, count, None) {
            Some(gpus) => f.gpus = gpus,
            None => warnings.push(format!(
                "{}: holds {count} GPUs of node {}, more than the fleet file leaves free there",
                f.origin, f.node
            )),
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
                WorkerGpus::Count(n) => pick(&mut held, &w.node, *n, Some((shares(m), reserve(m, &w.node)))),
            };
            let Some(gpus) = gpus else {
                warnings.push(format!(
                    "{}: holds {} GPUs of node {}, more than the fleet file leaves free there; left out",
                    w.origin,
                    w.gpus.count(),
                    w.node
                ));
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
                namespace: head.pod.as_ref().map(|p| p.namespace.clone()),
                pods: unit
                    .parts
                    .iter()
                    .filter_map(|w| w.pod.as_ref().map(|p| p.pod.clone()))
                    .collect(),
                owner: head.pod.as_ref().and_then(|p| p.owner.clone()),
                pid: head.pid,
                port: unit.command().and_then(|c| c.port),
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
    // Foreign load on the fleet.
    let mut fleet_now = fleet.clone();
    for node in fleet_now.nodes.iter_mut().filter(|n| captured.contains(&n.name)) {
        for gpu in &mut node.gpus {
            gpu.used_mib = 0;
        }
    }
    for f in &foreign {
        let Some(node) = fleet_now.nodes.iter_mut().find(|n| n.name == f.node) else {
            continue;
        };
        for gpu in node.gpus.iter_mut().filter(|g| f.gpus.contains(&g.index)) {
            gpu.used_mib = if captured.contains(&f.node) {
                (gpu.used_mib + f.used_mib).min(gpu.memory_mib)
            } else {
                gpu.used_mib.max(gpu.cuda_mib())
            };
        }
    }
    for f in &mut foreign {
        if !captured.contains(&f.node) {
            f.used_mib = f
                .gpus
                .first()
                .and_then(|&g| fleet_now.node(&f.node)?.gpu(g))
                .map_or(0, |g| g.used_mib);
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

/// The deployment a unit serves and the shape it runs, or why it is foreign.
fn match_unit(unit: &Unit, workload: &Workload, warnings: &mut Vec<String>) -> Result<Matched, String> {
    let head = unit.head();
    let command = unit.command();
    let marked = unit.parts.iter().find_map(|w| w.marked_deployment.clone());
    let Some(command) = command else {
        if let Some(name) = marked {
            return Err(format!(
                "fleetfit's annotation names deployment '{name}' but no engine command was recognised"
            ));
        }
        return Err(format!("`{}` is not an engine fleetfit recognises", head.program));
    };
    let (tp, pp) = (command.tensor_parallel, command.pipeline_parallel);
    if tp * pp != unit.gpus() {
        return Err(format!(
            "it holds {} GPU{} but runs tensor parallel {tp} x pipeline parallel {pp}",
            unit.gpus(),
            if unit.gpus() == 1 { "" } else { "s" }
        ));
    }
    let deployment: Result<usize, String> = match marked {
        Some(name) => workload.deployments.iter().position(|d| d.name == name).ok_or(name),
        None => {
            let serves = |d: &Deployment| {
                let repo = Catalog::builtin().find(&d.model.id).and_then(|e| e.repo.clone());
                let same = |m: &str| {
                    m.eq_ignore_ascii_case(&d.model.id) || repo.as_deref().is_some_and(|r| m.eq_ignore_ascii_case(r))
                };
                same(&command.model) || same(command.model.rsplit('/').next().unwrap_or(""))
            };
            let engine = |d: &Deployment| d.engine == command.engine;
            let by_name: Vec<usize> = (0..workload.deployments.len())
                .filter(|&i| {
                    let d = &workload.deployments[i];
                    engine(d) && command.served_name.as_deref() == Some(d.name.as_str())
                })
                .collect();
            let by_model: Vec<usize> = (0..workload.deployments.len())
                .filter(|&i| engine(&workload.deployments[i]) && serves(&workload.deployments[i]))
                .collect();
            let candidates = if by_name.is_empty() { by_model } else { by_name };
            let Some(&first) = candidates.first() else {
                return Err(format!(
                    "no deployment serves {} on {}",
                    command.model,
                    command.engine.name()
                ));
            };
            if candidates.len() > 1 {
                let names: Vec<&str> = candidates
                    .iter()
                    .map(|&i| workload.deployments[i].name.as_str())
                    .collect();
                warnings.push(format!(
                    "{}: serves {}, which deployments {} all serve; taken as {} (set --served-model-name to the deployment's name to tell them apart)",
                    head.origin,
                    command.model,
                    names.join(", "),
                    names[0]
                ));
            }
            Ok(first)
        }
    };
    let quantization = match &deployment {
        Ok(d) => quantization(command, &workload.deployments[*d]).name().to_string(),
        Err(_) => precision(command).map_or("bf16".to_string(), |q| q.name().to_string()),
    };
    Ok(Matched {
        deployment,
        quantization,
        tp,
        pp,
    })
}

/// What precision the flags ask for, where they say.
fn precision(command: &EngineCommand) -> Option<Quantization> {
    if let Some(q) = &command.quantization {
        let q = q.to_ascii_lowercase();
        return match q.as_str() {
            "fp8" | "fbgemm_fp8" | "modelopt" => Some(Quantization::Fp8),
            "awq" | "awq_marlin" | "gptq" | "gptq_marlin" | "bitsandbytes" => Some(Quantization::Int4),
            other => other.parse().ok(),
        };
    }
    if command.engine == Engine::LlamaCpp {
        let file = command.model.to_ascii_uppercase();
        return Quantization::ALL
            .into_iter()
            .filter(|q| q.name() != "fp8" && q.name() != "int8" && q.name() != "int4")
            .find(|q| file.contains(&q.name().to_ascii_uppercase()));
    }
    command.dtype.as_deref().and_then(|d| d.parse().ok())
}

/// The quantization a matched worker runs: its flags', else its checkpoint's.
fn quantization(command: &EngineCommand, d: &Deployment) -> Quantization {
    precision(command).unwrap_or(d.model.dtype)
}

/// The reservation and runtime memory a replica of this shape shows in a plan on these GPUs:
/// the planner's figure where the deployment allows the shape on that GPU kind, else its need.
fn memory_of(fleet: &Fleet, workload: &Workload, d: usize, m: &Matched, stages: &[Stage]) -> (u64, Option<u64>) {
    let deployment = &workload.deployments[d];
    let gpus: Vec<&crate::domain::Gpu> = stages
        .iter()
        .flat_map(|s| s.gpus.iter().filter_map(|&g| fleet.node(&s.node)?.gpu(g)))
        .collect();
    let Some(first) = gpus.first() else { return (0, None) };
    let kinds = shapes::gpu_kinds(fleet);
    let option = shapes::all_options(d, deployment, &workload.policy, &kinds)
        .into_iter()
        .find(|o| o.quantization.name() == m.quantization && o.tp == m.tp && o.pp == m.pp && first.is_kind(&o.kind));
    match option {
        Some(o) => (o.reservation_on(gpus.iter().copied()), Some(o.runtime_mib)),
        None => {
            let q: Quantization = m.quantization.parse().unwrap_or(deployment.model.dtype);
            let f = memory::footprint(&MemoryInputs::of(deployment), q, m.tp, m.pp);
            let reserve = memory::reserve_mib(f.need_mib, deployment.gpu_memory_utilization, first.cuda_mib())
                .unwrap_or(f.need_mib);
            (reserve, Some(f.runtime_mib))
        }
    }
}
