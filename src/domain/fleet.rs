//! The fleet: nodes, their labels and their GPUs, as the fleet file describes them.

use std::collections::BTreeMap;

use crate::ratio::Decimal;

/// One GPU of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Device index on its node (what `CUDA_VISIBLE_DEVICES` names).
    pub index: u32,
    /// Product name, such as `H100-SXM5-80GB`.
    pub gpu_type: String,
    /// Total memory, as nvidia-smi's `memory.total`.
    pub memory_mib: u64,
    /// Memory the driver keeps for itself (nvidia-smi's `memory.reserved`): CUDA never hands
    /// it out, and engines apply `gpu_memory_utilization` to what is left.
    pub reserved_mib: u64,
    /// Memory held by processes fleetfit does not place.
    pub used_mib: u64,
    /// Compute utilisation in percent, 0..=100.
    pub utilization: u32,
    pub healthy: bool,
    /// The CUDA-visible memory that tells this GPU's kind apart: [`Gpu::cuda_mib`], unless the planner
    /// merged the sizes of a type because no reservation on it depends on total memory
    /// ([`Fleet::merge_memory_sizes`]).
    pub kind_memory_mib: u64,
}

impl Gpu {
    /// Memory left for fleetfit's workers: total less the driver's reserve less what others use.
    pub fn free_mib(&self) -> u64 {
        self.cuda_mib().saturating_sub(self.used_mib)
    }

    /// The total CUDA reports (`torch.cuda.mem_get_info`): what `gpu_memory_utilization` is a
    /// fraction of.
    pub fn cuda_mib(&self) -> u64 {
        self.memory_mib.saturating_sub(self.reserved_mib)
    }

    /// Whether fleetfit may place on this GPU at all (docs/rules.md §4): healthy, and neither
    /// its memory nor its compute used beyond `busy_threshold`.
    pub fn is_eligible(&self, busy_threshold: Decimal) -> bool {
        self.healthy
            && busy_threshold.ratio_at_most(self.used_mib, self.memory_mib)
            && busy_threshold.ratio_at_most(self.utilization as u64, 100)
    }

    /// Whether this GPU is of `kind` (without building a `GpuKind`: hot loops ask this).
    pub fn is_kind(&self, kind: &GpuKind) -> bool {
        self.kind_memory_mib == kind.memory_mib && self.gpu_type == kind.gpu_type
    }

    /// The kind this GPU belongs to.
    pub fn kind(&self) -> GpuKind {
        GpuKind {
            gpu_type: self.gpu_type.clone(),
            memory_mib: self.kind_memory_mib,
        }
    }
}

/// GPUs that the planner treats alike: one product and, where a reservation depends on it
/// (`gpu_memory_utilization`), one CUDA-visible memory. The planner's shapes are per kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GpuKind {
    pub gpu_type: String,
    /// CUDA-visible memory (total less the driver's reserve) of the kind's GPUs.
    pub memory_mib: u64,
}

/// One machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique across the fleet.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Sorted by index.
    pub gpus: Vec<Gpu>,
}

impl Node {
    /// Whether every `key: value` of a selector is among this node's labels.
    pub fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector.iter().all(|(key, value)| self.labels.get(key) == Some(value))
    }

    /// The GPU with a given device index.
    pub fn gpu(&self, index: u32) -> Option<&Gpu> {
        self.gpus.iter().find(|g| g.index == index)
    }
}

/// All nodes, in the order of the fleet file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fleet {
    pub nodes: Vec<Node>,
}

impl Fleet {
    /// The node with a given name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Every GPU of the fleet.
    pub fn gpus(&self) -> impl Iterator<Item = (&Node, &Gpu)> {
        self.nodes.iter().flat_map(|n| n.gpus.iter().map(move |g| (n, g)))
    }

    /// The fleet as the planner sees it: where no deployment that may run on a GPU type sets
    /// `gpu_memory_utilization`, a worker's reservation does not depend on a GPU's total memory,
    /// so GPUs of that type that report different `memory_mib` (driver, ECC, MIG settings) are
    /// one kind and one replica may use them together; each GPU is still judged by its own free
    /// memory. Types where some reservation does depend on total memory keep one kind per size.
    pub fn merge_memory_sizes(&self, mergeable: impl Fn(&str) -> bool) -> Fleet {
        let mut largest: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, g) in self.gpus() {
            let m = largest.entry(g.gpu_type.as_str()).or_default();
            *m = (*m).max(g.cuda_mib());
        }
        let mut out = self.clone();
        for node in &mut out.nodes {
            for gpu in &mut node.gpus {
                gpu.kind_memory_mib = if mergeable(&gpu.gpu_type) {
                    largest[gpu.gpu_type.as_str()]
                } else {
                    gpu.cuda_mib()
                };
            }
        }
        out
    }

    /// GPU types present, sorted.
    pub fn gpu_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.gpus().map(|(_, g)| g.gpu_type.clone()).collect();
        types.sort();
        types.dedup();
        types
    }
}
