//! The fleet: nodes, their labels and their GPUs, as the fleet file describes them.

use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// merged the sizes of a type because reservations on it allow
    /// ([`Fleet::planner_view`]).
    pub kind_memory_mib: u64,
    /// The planner's view of a GPU of a type seen through a [`Ladder`] (see
    /// [`Fleet::planner_view`]): its rank on the ladder, instead of free memory. `None` outside
    /// the planner and elsewhere.
    pub view_free_mib: Option<u64>,
    /// That ladder, shared by the GPU's kind.
    pub view_ladder: Option<Arc<Ladder>>,
}

impl Gpu {
    /// Memory left for fleetfit's workers: total less the driver's reserve less what others use
    /// (in the planner's view of a type seen through one utilization, the largest need a worker
    /// may have here).
    pub fn free_mib(&self) -> u64 {
        self.view_free_mib
            .unwrap_or_else(|| self.cuda_mib().saturating_sub(self.used_mib))
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
        self.kind_memory_mib == kind.memory_mib && self.view_ladder == kind.ladder && self.gpu_type == kind.gpu_type
    }

    /// The kind this GPU belongs to.
    pub fn kind(&self) -> GpuKind {
        GpuKind {
            gpu_type: self.gpu_type.clone(),
            memory_mib: self.kind_memory_mib,
            ladder: self.view_ladder.clone(),
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
    /// Where the type's GPUs differ in size and its deployments' reservations depend on size:
    /// the ladder its GPUs stand on. A GPU then offers its rank as free memory and a worker's
    /// threshold is the lowest rank that holds it ([`Fleet::planner_view`]).
    pub ladder: Option<Arc<Ladder>>,
}

/// How the planner sees the GPUs of one type ([`Fleet::planner_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeView {
    /// One kind: reservations do not depend on a GPU's size.
    Merged,
    /// One kind whose GPUs stand on a ladder of the given classes of reservation (`None`: the
    /// need; `Some(u)`: `gpu_memory_utilization` u), where one exists.
    Ladder(Vec<Option<Decimal>>),
    /// One kind per CUDA-visible size.
    PerSize,
}

/// GPUs of one type ranked so that, for every class of reservation the type's deployments use,
/// the GPUs that can hold a worker of a given need are those from some rank up: Hall's rows over
/// nested thresholds stay exact although sizes differ.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ladder {
    /// The classes: `None` reserves the need, `Some(u)` that share of CUDA's memory.
    classes: Vec<Option<Decimal>>,
    /// Distinct capacity tuples (one per class), ascending; a GPU's rank is its position + 1.
    steps: Vec<Vec<u64>>,
}

impl Ladder {
    /// The largest need a worker of each class may have on a GPU.
    fn capacities(classes: &[Option<Decimal>], gpu: &Gpu) -> Vec<u64> {
        let free = gpu.cuda_mib().saturating_sub(gpu.used_mib);
        classes
            .iter()
            .map(|class| match class {
                None => free,
                Some(u) => {
                    let reserve = u.floor_mul(gpu.cuda_mib());
                    if reserve <= free { reserve } else { 0 }
                }
            })
            .collect()
    }

    /// The ladder of these GPUs, or `None` where no one order ranks every class alike.
    fn of<'g>(classes: Vec<Option<Decimal>>, gpus: impl Iterator<Item = &'g Gpu>) -> Option<Ladder> {
        let mut steps: Vec<Vec<u64>> = gpus.map(|g| Ladder::capacities(&classes, g)).collect();
        steps.sort_unstable();
        steps.dedup();
        let alike = steps.windows(2).all(|w| w[0].iter().zip(&w[1]).all(|(a, b)| a <= b));
        alike.then_some(Ladder { classes, steps })
    }

    /// A GPU's rank (1 up).
    fn rank(&self, gpu: &Gpu) -> u64 {
        let capacities = Ladder::capacities(&self.classes, gpu);
        self.steps.partition_point(|s| *s < capacities) as u64 + 1
    }

    /// The lowest rank that holds a worker of `class` needing `need_mib`, if any does.
    pub fn threshold(&self, class: Option<Decimal>, need_mib: u64) -> Option<u64> {
        let c = self.classes.iter().position(|&x| x == class)?;
        let i = self.steps.partition_point(|s| s[c] < need_mib);
        (i < self.steps.len()).then_some(i as u64 + 1)
    }
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

    /// The fleet as the planner sees it. Per GPU type, from what the deployments that may use it
    /// reserve:
    /// - no `gpu_memory_utilization`: a reservation is the need, whatever the GPU's size, so
    ///   sizes merge into one kind (each GPU still judged by its own free memory);
    /// - fractions, none sharing GPUs: a worker of class `u` fits GPU `g` exactly when
    ///   `need <= floor(u * cuda_g) <= free_g` (a plain need: `need <= free_g`), a threshold on
    ///   one number per GPU and class, its capacity. Where one order of the GPUs ranks every
    ///   class's capacities alike (always with one class), they stand on a [`Ladder`]: one kind
    ///   whose GPUs offer their rank as free memory and whose workers' thresholds are the lowest
    ///   rank that holds them; stages and replicas may then combine sizes, exactly;
    /// - otherwise (sharing, or capacities that no one order ranks alike): one kind per size, a
    ///   restriction the planner reports.
    pub fn planner_view(&self, types: impl Fn(&str) -> TypeView) -> Fleet {
        let mut largest: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, g) in self.gpus() {
            let m = largest.entry(g.gpu_type.as_str()).or_default();
            *m = (*m).max(g.cuda_mib());
        }
        // Per laddered type, its ladder, or `None` where its GPUs stand on none.
        let mut ladders: BTreeMap<&str, Option<Arc<Ladder>>> = BTreeMap::new();
        for (_, g) in self.gpus() {
            if ladders.contains_key(g.gpu_type.as_str()) {
                continue;
            }
            if let TypeView::Ladder(classes) = types(&g.gpu_type) {
                let gpus = self.gpus().map(|(_, g)| g).filter(|h| h.gpu_type == g.gpu_type);
                ladders.insert(g.gpu_type.as_str(), Ladder::of(classes, gpus).map(Arc::new));
            }
        }
        let mut out = self.clone();
        for node in &mut out.nodes {
            for gpu in &mut node.gpus {
                match types(&gpu.gpu_type) {
                    TypeView::Merged => gpu.kind_memory_mib = largest[gpu.gpu_type.as_str()],
                    TypeView::Ladder(_) => {
                        let ladder = ladders[gpu.gpu_type.as_str()].as_ref();
                        match ladder {
                            Some(ladder) => {
                                gpu.kind_memory_mib = largest[gpu.gpu_type.as_str()];
                                gpu.view_free_mib = Some(ladder.rank(gpu));
                                gpu.view_ladder = Some(ladder.clone());
                            }
                            None => gpu.kind_memory_mib = gpu.cuda_mib(),
                        }
                    }
                    TypeView::PerSize => gpu.kind_memory_mib = gpu.cuda_mib(),
                }
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
