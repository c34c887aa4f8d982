//! The fleet map's data: every node and GPU with its state and the replicas on it, every replica
//! with its shape and memory breakdown, as the compact JSON the page's script draws from.
//!
//! GPU states: a GPU holding a worker is used; otherwise unhealthy, busy (above the busy
//! threshold), reserved, or free. Reserves keep counts of eligible GPUs free (per node, per type,
//! across the fleet), not particular GPUs: the map marks that many free eligible GPUs reserved,
//! each node's highest indices first, then the fleet's last nodes, so that the counts it shows are
//! the reserves' and the GPUs it picks are one way to hold them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{Fleet, Plan, Workload};
use crate::memory::{MemoryInputs, footprint, replica_kv_on};

/// Past this many GPUs the map draws one cell per node (its GPUs on click), not one per GPU.
pub const GPU_CELLS_UP_TO: usize = 4096;

/// A GPU's state, as the page's script reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Free = 0,
    Used = 1,
    Busy = 2,
    Unhealthy = 3,
    Reserved = 4,
}

/// Colour-blind-safe colours for deployments: Okabe and Ito's eight (black kept for unhealthy
/// GPUs), then Paul Tol's muted scheme; past 16 deployments they repeat, and the legend and the
/// details name each cell's deployment.
pub const PALETTE: [&str; 16] = [
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#332288", "#88CCEE", "#44AA99",
    "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
];

/// What the page's script draws.
#[derive(Debug, Serialize)]
pub struct MapData {
    /// Whether cells are nodes (`true`) or GPUs.
    pub per_node: bool,
    /// Deployment names and colours, in the deployments file's order.
    pub deployments: Vec<(String, &'static str)>,
    pub replicas: Vec<ReplicaView>,
    pub nodes: Vec<NodeView>,
}

/// One placed replica: `[deployment index, replica number, shape, GPU type, reserved MiB per
/// GPU, weights MiB, KV-cache MiB, runtime MiB, KV tokens, requests at once]`.
#[derive(Debug, Serialize)]
pub struct ReplicaView(
    pub usize,
    pub u64,
    pub String,
    pub String,
    pub u64,
    pub u64,
    pub u64,
    pub u64,
    pub Option<u64>,
    pub Option<String>,
);

/// One GPU: `[index, state, CUDA MiB, [[replica, MiB reserved], ...]]`.
pub type GpuView = (u32, u8, u64, Vec<(usize, u64)>);

/// One node: name, GPU type (`A + B` for a node of several), zone and rack labels, and its GPUs.
#[derive(Debug, Serialize)]
pub struct NodeView(pub String, pub String, pub String, pub String, pub Vec<GpuView>);

/// The zone and rack of a node, from the labels Kubernetes and fleet files use.
fn place(labels: &BTreeMap<String, String>) -> (String, String) {
    let find = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| labels.get(*k))
            .cloned()
            .unwrap_or_else(|| "(none)".into())
    };
    (
        find(&["zone", "topology.kubernetes.io/zone"]),
        find(&["rack", "topology.kubernetes.io/rack"]),
    )
}

/// Per node and GPU index, the state of each GPU (reserved ones marked as the module says).
pub fn states(fleet: &Fleet, workload: &Workload, plan: &Plan) -> BTreeMap<(usize, u32), State> {
    let mut used: std::collections::BTreeSet<(&str, u32)> = std::collections::BTreeSet::new();
    for r in &plan.replicas {
        for s in &r.stages {
            used.extend(s.gpus.iter().map(|&g| (s.node.as_str(), g)));
        }
    }
    let threshold = workload.policy.busy_threshold;
    let mut out = BTreeMap::new();
    for (n, node) in fleet.nodes.iter().enumerate() {
        for gpu in &node.gpus {
            let state = if used.contains(&(node.name.as_str(), gpu.index)) {
                State::Used
            } else if !gpu.healthy {
                State::Unhealthy
            } else if !gpu.is_eligible(threshold) {
                State::Busy
            } else {
                State::Free
            };
            out.insert((n, gpu.index), state);
        }
    }
    let reserve = &workload.policy.reserve;
    let free_on = |out: &BTreeMap<(usize, u32), State>, n: usize| -> Vec<u32> {
        let mut free: Vec<u32> = fleet.nodes[n]
            .gpus
            .iter()
            .map(|g| g.index)
            .filter(|&g| out[&(n, g)] == State::Free)
            .collect();
        free.reverse();
        free
    };
    for n in 0..fleet.nodes.len() {
        for g in free_on(&out, n).into_iter().take(reserve.per_node as usize) {
            out.insert((n, g), State::Reserved);
        }
    }
    let mark = |out: &mut BTreeMap<(usize, u32), State>, gpu_type: Option<&str>, count: u64| {
        let already = out
            .iter()
            .filter(|((n, g), s)| {
                **s == State::Reserved
                    && gpu_type.is_none_or(|t| fleet.nodes[*n].gpu(*g).is_some_and(|gpu| gpu.gpu_type == t))
            })
            .count() as u64;
        let mut left = count.saturating_sub(already);
        for n in (0..fleet.nodes.len()).rev() {
            for g in free_on(out, n) {
                let fits = gpu_type.is_none_or(|t| fleet.nodes[n].gpu(g).is_some_and(|gpu| gpu.gpu_type == t));
                if left > 0 && fits {
                    out.insert((n, g), State::Reserved);
                    left -= 1;
                }
            }
        }
    };
    for (gpu_type, count) in &reserve.per_type {
        mark(&mut out, Some(gpu_type), *count);
    }
    mark(&mut out, None, reserve.fleet);
    out
}

/// The map's data for a checked plan.
pub fn map_data(fleet: &Fleet, workload: &Workload, plan: &Plan) -> MapData {
    let index: BTreeMap<&str, usize> = workload
        .deployments
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let by_name: std::collections::HashMap<&str, &crate::domain::Node> =
        fleet.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut on_gpu: BTreeMap<(&str, u32), Vec<(usize, u64)>> = BTreeMap::new();
    let mut replicas = Vec::with_capacity(plan.replicas.len());
    for (r, replica) in plan.replicas.iter().enumerate() {
        let d = &workload.deployments[index[replica.deployment.as_str()]];
        for s in &replica.stages {
            for &g in &s.gpus {
                on_gpu
                    .entry((s.node.as_str(), g))
                    .or_default()
                    .push((r, replica.memory_per_gpu_mib));
            }
        }
        let (tp, pp) = (replica.tensor_parallel, replica.pipeline_parallel);
        let q = replica.quantization.parse().unwrap_or(d.model.dtype);
        let weights_mib = footprint(&MemoryInputs::of(d), q, tp, pp)
            .weights_bytes
            .div_ceil(1 << 20);
        let runtime_mib = replica.runtime_mib.unwrap_or_else(|| d.runtime_mib(q, tp, pp));
        let kv = replica_kv_on(d, replica, |node, index| by_name.get(node)?.gpu(index));
        replicas.push(ReplicaView(
            index[replica.deployment.as_str()],
            replica.replica,
            format!("{} x TP {tp} x PP {pp}", replica.quantization),
            replica.gpu_type.clone(),
            replica.memory_per_gpu_mib,
            weights_mib,
            replica.memory_per_gpu_mib.saturating_sub(weights_mib + runtime_mib),
            runtime_mib,
            kv.map(|k| k.tokens),
            kv.map(|k| format!("{}.{:02}", k.concurrency_x100 / 100, k.concurrency_x100 % 100)),
        ));
    }
    let states = states(fleet, workload, plan);
    let nodes = fleet
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let (zone, rack) = place(&node.labels);
            let gpus = node
                .gpus
                .iter()
                .map(|g| {
                    let on = on_gpu.remove(&(node.name.as_str(), g.index)).unwrap_or_default();
                    (g.index, states[&(n, g.index)] as u8, g.cuda_mib(), on)
                })
                .collect();
            // A node of several GPU types is grouped under all of them together.
            let types: std::collections::BTreeSet<&str> = node.gpus.iter().map(|g| g.gpu_type.as_str()).collect();
            let gpu_type = types.into_iter().collect::<Vec<_>>().join(" + ");
            NodeView(node.name.clone(), gpu_type, zone, rack, gpus)
        })
        .collect();
    let gpus: usize = fleet.nodes.iter().map(|n| n.gpus.len()).sum();
    MapData {
        per_node: gpus > GPU_CELLS_UP_TO,
        deployments: workload
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), PALETTE[i % PALETTE.len()]))
            .collect(),
        replicas,
        nodes,
    }
}
