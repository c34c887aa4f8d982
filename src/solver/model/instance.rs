//! The solver's view of a problem: eligible capacity grouped into node classes, and the blocks
//! of GPUs each deployment shape can take on them.
//!
//! GPUs of one node that are alike (same kind, same free memory) are counted, never named.
//! Nodes that are alike too (one kind of GPU, all equally free, same capacity, matched by the
//! same selectors) are counted as one class when that is exact: when the block sizes that can
//! land there divide one another and no `spread` deployment can use them (see `floor_rows` in
//! the formulation for the rule, and the brute-force test that proves it).

use std::collections::BTreeMap;

use super::blocks::{group_shared, make_blocks, memory_size_restrictions};
use super::pool::Pool;
use crate::domain::{Fleet, GpuKind, Workload};
use crate::shapes::{self, ShapeOption};

/// Alike GPUs of one node: one kind, free memory of each eligible GPU sorted high to low.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KindPool {
    pub kind: GpuKind,
    pub free_mib_desc: Vec<u64>,
}

impl KindPool {
    /// How many GPUs of the pool have at least `mib` free.
    pub fn count_at_least(&self, mib: u64) -> u64 {
        self.free_mib_desc.partition_point(|&f| f >= mib) as u64
    }
}

/// One node's eligible capacity, as the solver sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeProfile {
    /// Pools by kind, sorted.
    pub pools: Vec<KindPool>,
    /// GPUs that may be assigned on the node: eligible minus `reserve.per_node`.
    pub capacity: u64,
    /// Which deployments' `node_selector` the node matches.
    pub selected_by: Vec<bool>,
}

/// Nodes with one profile, counted together (`nodes.len() > 1` only where that is exact).
#[derive(Debug, Clone)]
pub struct NodeClass {
    /// Indices into `Fleet::nodes`, in fleet order.
    pub nodes: Vec<usize>,
    pub profile: NodeProfile,
}

/// How a block sits on nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// One stage (tp GPUs); stages of one replica may share nodes, in any split.
    Stage,
    /// `stages` stages of one replica on one node (`stages * tp` distinct GPUs). Replicas whose
    /// stages must be told apart per node (spread, or sharing with pp > 1) are built from chunks:
    /// a replica's chunks on distinct nodes, their sizes a partition of pp.
    Chunk,
}

/// A unit of placement: `stages` stages of one shape option, all on one node.
#[derive(Debug, Clone)]
pub struct Block {
    /// Index into `Instance::options`.
    pub option: usize,
    pub mode: BlockMode,
    /// Pipeline stages in the block.
    pub stages: u64,
    /// Distinct GPUs the block takes.
    pub gpus: u64,
    /// Its workers may share GPUs with other sharing workers (`share_gpu: true`).
    pub shared: bool,
    /// `spread` binds: some node could hold two of the deployment's stages.
    pub spread: bool,
    /// Placed through the fleet-wide pool (see [`super::pool`]) rather than a variable per node:
    /// an exclusive one-stage block (spread ones at most one per node).
    pub pooled: bool,
    /// For one-stage sharing blocks: the [`ShareGroup`] it belongs to.
    pub share_group: Option<usize>,
    /// For chunks of a sharing deployment that does not spread: the replica (0-based) the chunk
    /// belongs to. Replicas are modelled one by one there, so that a replica's GPUs are distinct
    /// while other replicas may stack on them.
    pub replica: Option<u64>,
}

/// A chunked option whose replicas are counted per split pattern: the partitions of pp into
/// chunk sizes, `parts[j][k - 1]` the chunks of `k` stages in partition `j`.
#[derive(Debug, Clone)]
pub struct Splits {
    pub option: usize,
    pub parts: Vec<Vec<u64>>,
}

/// Sharing deployments with pp > 1 that do not spread: modelled replica by replica.
#[derive(Debug, Clone)]
pub struct ReplicaSlots {
    pub deployment: usize,
    /// Replicas modelled one by one (at most [`MAX_REPLICA_SLOTS`]).
    pub slots: u64,
    /// Its options with pp > 1.
    pub options: Vec<usize>,
}

/// Replicas of one sharing, pipelined deployment modelled one by one at most; past that the
/// model is a restriction and says so.
pub const MAX_REPLICA_SLOTS: u64 = 32;

/// One-stage sharing blocks that are interchangeable on every GPU: same kind, reservation,
/// size and node selector, none spread. Only the first block gets placements; the group's
/// options split what is placed (`sum x = sum y`), so sharing variables grow with the distinct
/// reservations, not with the deployments.
#[derive(Debug, Clone)]
pub struct ShareGroup {
    /// The block that stands for the group in placements.
    pub block: usize,
    /// The group's options, in option order.
    pub options: Vec<usize>,
    /// Replicas all its deployments ask for together.
    pub demand: u64,
}

/// A block that fits a node class: one integer variable, the number of such blocks there.
#[derive(Debug, Clone)]
pub struct Placement {
    pub block: usize,
    pub class: usize,
    /// Upper bound on the variable.
    pub upper: u64,
}

/// Everything the formulation needs, precomputed once.
#[derive(Debug)]
pub struct Instance<'a> {
    pub fleet: &'a Fleet,
    pub workload: &'a Workload,
    /// `eligible[node][gpu position]`.
    pub eligible: Vec<Vec<bool>>,
    pub options: Vec<ShapeOption>,
    pub blocks: Vec<Block>,
    pub classes: Vec<NodeClass>,
    /// Variables per node class, for blocks that are not pooled (spread and sharing ones).
    pub placements: Vec<Placement>,
    /// Supply of pooled blocks per node class, matched to demand fleet-wide.
    pub pool: Pool,
    pub share_groups: Vec<ShareGroup>,
    /// Chunked options of spread deployments, counted per split pattern.
    pub splits: Vec<Splits>,
    /// Sharing deployments with pp > 1, replica by replica.
    pub replica_slots: Vec<ReplicaSlots>,
    /// Where the model is narrower than the rules (plans it cannot express), one sentence each;
    /// then no level may be claimed optimal.
    pub restrictions: Vec<String>,
    /// Built by [`Instance::relaxed`]: not for plans, only for bounds.
    pub relaxed: bool,
    /// Per fleet node: `Some` for a node that capacity planning may buy (it exists in the plan
    /// only when bought).
    pub purchase: Vec<Option<Purchase>>,
}

/// A node that may be bought: its SKU and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// Index of the SKU in the purchase catalog.
    pub sku: usize,
    pub cost: u64,
}

impl<'a> Instance<'a> {
    /// Builds the instance: eligibility, shape options, blocks, node classes and placements.
    pub fn new(fleet: &'a Fleet, workload: &'a Workload) -> Self {
        Self::build(fleet, workload, false, Vec::new())
    }

    /// The instance of a fleet some of whose nodes may be bought (`purchase[n]` is `Some` for
    /// those): alike candidates of one SKU form one class where counting is exact, and the model
    /// counts how many of a class it buys.
    pub fn with_purchase(fleet: &'a Fleet, workload: &'a Workload, purchase: Vec<Option<Purchase>>) -> Self {
        Self::build(fleet, workload, false, purchase)
    }

    /// A relaxation of the instance, for level 1's LP bound and guidance only: `spread` is
    /// dropped and sharing blocks of several GPUs are packed like one-GPU workers (their GPUs
    /// need not be distinct). Dropping rules only raises the optimum, so its LP value bounds the
    /// real one; the model is much smaller on large fleets.
    pub fn relaxed(fleet: &'a Fleet, workload: &'a Workload) -> Self {
        Self::build(fleet, workload, true, Vec::new())
    }

    fn build(fleet: &'a Fleet, workload: &'a Workload, relaxed: bool, mut purchase: Vec<Option<Purchase>>) -> Self {
        purchase.resize(fleet.nodes.len(), None);
        let policy = &workload.policy;
        let eligible: Vec<Vec<bool>> = fleet
            .nodes
            .iter()
            .map(|n| n.gpus.iter().map(|g| g.is_eligible(policy.busy_threshold)).collect())
            .collect();
        let kinds = shapes::gpu_kinds(fleet);
        let options: Vec<ShapeOption> = shapes::workload_options(workload, &kinds);
        let profiles: Vec<NodeProfile> = fleet
            .nodes
            .iter()
            .zip(&eligible)
            .map(|(node, elig)| {
                let mut pools: BTreeMap<GpuKind, Vec<u64>> = BTreeMap::new();
                for (gpu, &ok) in node.gpus.iter().zip(elig) {
                    if ok {
                        pools.entry(gpu.kind()).or_default().push(gpu.free_mib());
                    }
                }
                let eligible_count: u64 = pools.values().map(|v| v.len() as u64).sum();
                NodeProfile {
                    pools: pools
                        .into_iter()
                        .map(|(kind, mut free)| {
                            free.sort_unstable_by(|a, b| b.cmp(a));
                            KindPool {
                                kind,
                                free_mib_desc: free,
                            }
                        })
                        .collect(),
                    capacity: eligible_count.saturating_sub(policy.reserve.per_node),
                    selected_by: workload
                        .deployments
                        .iter()
                        .map(|d| node.matches(&d.node_selector))
                        .collect(),
                }
            })
            .collect();
        // Room for two stages on any node is what makes `spread` a real restriction.
        let most_room = profiles
            .iter()
            .map(|p| {
                p.capacity
                    .min(p.pools.iter().map(|pool| pool.free_mib_desc.len() as u64).sum())
            })
            .max()
            .unwrap_or(0);
        let (mut blocks, splits, replica_slots) =
            make_blocks(workload, &options, if relaxed { 0 } else { most_room }, relaxed);
        let share_groups = group_shared(workload, &options, &mut blocks);
        let mut restrictions = memory_size_restrictions(fleet, workload, &eligible);
        for slots in &replica_slots {
            let d = &workload.deployments[slots.deployment];
            if d.replicas > slots.slots {
                restrictions.push(format!(
                    "'{}' shares GPUs with pp > 1 and asks for {} replicas; the model places at most {} of them \
                     with pp > 1",
                    d.name, d.replicas, slots.slots
                ));
            }
        }
        let mut instance = Instance {
            fleet,
            workload,
            eligible,
            options,
            blocks,
            classes: Vec::new(),
            placements: Vec::new(),
            pool: Pool::default(),
            share_groups,
            splits,
            replica_slots,
            restrictions,
            relaxed,
            purchase,
        };
        instance.classes = instance.group_nodes(&profiles);
        instance.placements = instance.make_placements();
        instance.pool = Pool::new(&instance);
        instance
    }

    /// How many blocks of `block` fit on one node of `profile` on their own.
    pub fn fits(&self, block: &Block, profile: &NodeProfile) -> u64 {
        let option = &self.options[block.option];
        if !profile.selected_by[option.deployment] {
            return 0;
        }
        let Some(pool) = profile.pools.iter().find(|p| p.kind == option.kind) else {
            return 0;
        };
        let room = pool.count_at_least(option.reserve_mib).min(profile.capacity);
        room / block.gpus
    }

    /// How many blocks of a sharing `block` fit on one node of `profile`: workers stack on a GPU
    /// as long as their reservations fit its free memory.
    fn shared_fits(&self, block: &Block, profile: &NodeProfile) -> u64 {
        let option = &self.options[block.option];
        let Some(pool) = profile.pools.iter().find(|p| p.kind == option.kind) else {
            return 0;
        };
        let workers: u64 = pool.free_mib_desc.iter().map(|&free| free / option.reserve_mib).sum();
        workers / block.gpus
    }

    /// Groups alike nodes into classes where counting them is exact; the rest stand alone.
    /// Candidate nodes (capacity planning) group by SKU, so a class's bought nodes are its first.
    fn group_nodes(&self, profiles: &[NodeProfile]) -> Vec<NodeClass> {
        let mut groups: BTreeMap<(&NodeProfile, Option<usize>), Vec<usize>> = BTreeMap::new();
        let mut classes = Vec::new();
        for (i, profile) in profiles.iter().enumerate() {
            let sku = self.purchase[i].as_ref().map(|p| p.sku);
            // A candidate with nothing assignable still counts for the fleet-wide reserves.
            if profile.pools.is_empty() || (profile.capacity == 0 && sku.is_none()) {
                continue;
            }
            groups.entry((profile, sku)).or_default().push(i);
        }
        for ((profile, _), nodes) in groups {
            if nodes.len() > 1 && self.countable(profile) {
                classes.push(NodeClass {
                    nodes,
                    profile: profile.clone(),
                });
            } else {
                classes.extend(nodes.into_iter().map(|n| NodeClass {
                    nodes: vec![n],
                    profile: profile.clone(),
                }));
            }
        }
        classes.sort_by_key(|c| c.nodes[0]);
        classes
    }

    /// Whether alike nodes of this profile can be counted exactly: one pool of equally free
    /// GPUs, only pooled blocks fit (no spread or sharing), and their sizes divide one another.
    fn countable(&self, profile: &NodeProfile) -> bool {
        let [pool] = profile.pools.as_slice() else { return false };
        if pool.free_mib_desc.first() != pool.free_mib_desc.last() {
            return false;
        }
        let mut sizes = Vec::new();
        for block in &self.blocks {
            if self.fits(block, profile) == 0 {
                continue;
            }
            if !block.pooled || block.spread {
                return false;
            }
            sizes.push(block.gpus);
        }
        sizes.sort_unstable();
        sizes.dedup();
        sizes.windows(2).all(|w| w[1] % w[0] == 0)
    }

    fn make_placements(&self) -> Vec<Placement> {
        let mut out = Vec::new();
        for (b, block) in self.blocks.iter().enumerate().filter(|(_, b)| !b.pooled) {
            let option = &self.options[block.option];
            let deployment = &self.workload.deployments[option.deployment];
            let demand_blocks = match block.share_group {
                Some(g) if self.share_groups[g].block != b => continue,
                Some(g) => self.share_groups[g].demand,
                None => deployment.replicas * option.pp / block.stages,
            };
            for (c, class) in self.classes.iter().enumerate() {
                let per_node = self.fits(block, &class.profile);
                if per_node == 0 {
                    continue;
                }
                let one_per_node = block.spread || block.replica.is_some();
                let per_node = if one_per_node {
                    1
                } else if block.shared {
                    self.shared_fits(block, &class.profile)
                } else {
                    per_node
                };
                let upper = (per_node * class.nodes.len() as u64).min(demand_blocks);
                out.push(Placement {
                    block: b,
                    class: c,
                    upper,
                });
            }
        }
        out
    }
}
