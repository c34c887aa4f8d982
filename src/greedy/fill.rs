//! The fleet as the greedy placer fills it: what each GPU holds, what each node and type still
//! has room for under the reserves, and placing one replica of a shape.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Fleet, GpuKind, PlacedReplica, Workload};
use crate::shapes::ShapeOption;

/// Nodes that fit among which best fit chooses.
const BEST_FIT_WINDOW: usize = 64;

/// What each GPU holds while the greedy placer works.
#[derive(Debug, Clone, Default)]
struct GpuState {
    /// MiB still free for fleetfit's workers.
    free_mib: u64,
    workers: u32,
    exclusive: bool,
}

/// The fleet as the greedy placer fills it.
pub(super) struct Fill<'a> {
    fleet: &'a Fleet,
    workload: &'a Workload,
    gpus: Vec<Vec<Option<GpuState>>>, // None: not eligible
    /// Nodes with a GPU that holds sharing workers.
    shared_nodes: BTreeSet<usize>,
    /// Best fit: every stage goes to the GPUs with the least free memory that fit (keeping large
    /// GPUs for large stages) instead of the first node with room.
    pub(super) best_fit: bool,
    assigned_per_node: Vec<u64>,
    assigned_per_type: BTreeMap<String, u64>,
    assigned: u64,
    capacity_per_node: Vec<u64>,
    room_per_type: BTreeMap<String, u64>,
    room: u64,
    /// Per GPU kind, the nodes that have a GPU of it, in fleet order: a shape only ever scans
    /// these (a placement costs the same whatever other kinds the fleet holds).
    nodes_of_kind: BTreeMap<GpuKind, Vec<usize>>,
}

impl<'a> Fill<'a> {
    pub(super) fn new(fleet: &'a Fleet, workload: &'a Workload) -> Self {
        let policy = &workload.policy;
        let gpus: Vec<Vec<Option<GpuState>>> = fleet
            .nodes
            .iter()
            .map(|n| {
                n.gpus
                    .iter()
                    .map(|g| {
                        g.is_eligible(policy.busy_threshold).then(|| GpuState {
                            free_mib: g.free_mib(),
                            ..GpuState::default()
                        })
                    })
                    .collect()
            })
            .collect();
        let capacity_per_node = gpus
            .iter()
            .map(|node| (node.iter().flatten().count() as u64).saturating_sub(policy.reserve.per_node))
            .collect();
        let mut eligible_per_type: BTreeMap<String, u64> = BTreeMap::new();
        for (n, node) in fleet.nodes.iter().enumerate() {
            for (i, g) in node.gpus.iter().enumerate() {
                if gpus[n][i].is_some() {
                    *eligible_per_type.entry(g.gpu_type.clone()).or_default() += 1;
                }
            }
        }
        let eligible: u64 = eligible_per_type.values().sum();
        let room_per_type = eligible_per_type
            .iter()
            .map(|(t, &e)| {
                (
                    t.clone(),
                    e.saturating_sub(policy.reserve.per_type.get(t).copied().unwrap_or(0)),
                )
            })
            .collect();
        let mut nodes_of_kind: BTreeMap<GpuKind, Vec<usize>> = BTreeMap::new();
        for (n, node) in fleet.nodes.iter().enumerate() {
            let kinds: BTreeSet<GpuKind> = node.gpus.iter().map(|g| g.kind()).collect();
            for kind in kinds {
                nodes_of_kind.entry(kind).or_default().push(n);
            }
        }
        Fill {
            fleet,
            workload,
            nodes_of_kind,
            gpus,
            shared_nodes: BTreeSet::new(),
            best_fit: false,
            assigned_per_node: vec![0; fleet.nodes.len()],
            assigned_per_type: BTreeMap::new(),
            assigned: 0,
            capacity_per_node,
            room_per_type,
            room: eligible.saturating_sub(policy.reserve.fleet),
        }
    }

    /// GPU positions on `node` that can take one worker of `option`, lowest index first; for
    /// sharing workers, GPUs already shared come first, fullest first (bin packing, as GPUStack's
    /// default placement strategy does), so idle GPUs stay whole.
    /// With `only_shared`, only GPUs that already hold sharing workers.
    fn usable(
        &self,
        node: usize,
        option: &ShapeOption,
        share: bool,
        avoid: &BTreeSet<(usize, usize)>,
        only_shared: bool,
    ) -> Vec<usize> {
        let n = &self.fleet.nodes[node];
        let mut usable: Vec<usize> = (0..n.gpus.len())
            .filter(|&i| !avoid.contains(&(node, i)))
            .filter(|&i| n.gpus[i].is_kind(&option.kind))
            .filter(|&i| match &self.gpus[node][i] {
                None => false,
                Some(s) if s.workers == 0 => !only_shared && s.free_mib >= option.reserve_mib,
                Some(s) => share && !s.exclusive && s.free_mib >= option.reserve_mib,
            })
            .collect();
        if self.best_fit {
            usable.sort_by_key(|&i| (self.gpus[node][i].as_ref().map_or(0, |s| s.free_mib), i));
        } else if share {
            usable.sort_by_key(|&i| {
                let s = self.gpus[node][i].as_ref().expect("usable GPUs are eligible");
                (s.workers == 0, s.free_mib, i)
            });
        }
        usable
    }

    /// Eligible GPUs that could hold a worker of `option` on an empty fleet: right kind, enough
    /// free memory, on a node its deployment may use.
    pub(super) fn candidates(&self, option: &ShapeOption) -> u64 {
        let d = &self.workload.deployments[option.deployment];
        self.fleet
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.matches(&d.node_selector))
            .map(|(n, node)| {
                node.gpus
                    .iter()
                    .zip(&self.gpus[n])
                    .filter(|(g, state)| {
                        g.is_kind(&option.kind) && state.as_ref().is_some_and(|s| s.free_mib >= option.reserve_mib)
                    })
                    .count() as u64
            })
            .sum()
    }

    /// New GPUs (not yet assigned) among `chosen`, per node.
    fn fresh(&self, chosen: &[(usize, usize)]) -> usize {
        chosen
            .iter()
            .filter(|&&(n, i)| self.gpus[n][i].as_ref().is_some_and(|s| s.workers == 0))
            .count()
    }

    /// Tries to place one replica of `option`, scanning the nodes of its GPU kind from position
    /// `cursor`; returns its stages. The fleet only fills up, so a node without room for this
    /// option never gets room again: `cursor` moves past such nodes for good.
    pub(super) fn place(
        &mut self,
        option: &ShapeOption,
        spread_nodes: &BTreeSet<usize>,
        cursor: &mut usize,
    ) -> Option<Vec<(usize, Vec<usize>)>> {
        let d = &self.workload.deployments[option.deployment];
        let share = d.share_gpu;
        let mut taken: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut stages = Vec::new();
        let mut used_nodes = BTreeSet::new();
        let no_nodes = Vec::new();
        let of_kind = self.nodes_of_kind.get(&option.kind).unwrap_or(&no_nodes);
        for stage in 0..option.pp {
            let mut best: Option<((bool, u64), usize, Vec<usize>)> = None;
            let mut fitting = 0;
            // Sharing workers go where GPUs are already shared first, then anywhere.
            let shared_first: Vec<usize> = if share {
                self.shared_nodes.iter().copied().collect()
            } else {
                Vec::new()
            };
            let scan = shared_first
                .into_iter()
                .map(|n| (true, None, n))
                .chain((*cursor..of_kind.len()).map(|k| (false, Some(k), of_kind[k])));
            for (only_shared, position, node) in scan {
                let at_cursor = position == Some(*cursor);
                // A node the selector refuses, or one a spread deployment already holds, never
                // takes this option: the cursor moves past it for good.
                let never =
                    !self.fleet.nodes[node].matches(&d.node_selector) || (d.spread && spread_nodes.contains(&node));
                let node_ok = !never
                    // Spread or shared pipelines keep one stage per node (distinct GPUs, disjoint nodes).
                    && !((d.spread || share) && option.pp > 1 && used_nodes.contains(&node));
                if !node_ok {
                    if never && stage == 0 && at_cursor {
                        *cursor += 1;
                    }
                    continue;
                }
                let usable = self.usable(node, option, share, &taken, only_shared);
                if (usable.len() as u64) < option.tp {
                    if stage == 0
                        && at_cursor
                        && self.usable(node, option, share, &BTreeSet::new(), false).len() < option.tp as usize
                    {
                        *cursor += 1;
                    }
                    continue;
                }
                let pick: Vec<usize> = usable[..option.tp as usize].to_vec();
                let chosen: Vec<(usize, usize)> = pick.iter().map(|&i| (node, i)).collect();
                let new_here = self.fresh(&chosen) as u64
                    + taken
                        .iter()
                        .filter(|&&(n, i)| n == node && self.gpus[n][i].as_ref().is_some_and(|s| s.workers == 0))
                        .count() as u64;
                if self.assigned_per_node[node] + new_here > self.capacity_per_node[node] {
                    continue;
                }
                let free: u64 = pick
                    .iter()
                    .map(|&i| self.gpus[node][i].as_ref().map_or(0, |s| s.free_mib))
                    .sum();
                let score = (!only_shared, free);
                if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
                    best = Some((score, node, pick));
                }
                // Best fit looks at a window of nodes that fit, so a placement costs the same on
                // any fleet size.
                fitting += 1;
                if !self.best_fit || fitting >= BEST_FIT_WINDOW {
                    break;
                }
            }
            let (_, node, pick) = best?;
            taken.extend(pick.iter().map(|&i| (node, i)));
            used_nodes.insert(node);
            stages.push((node, pick));
        }
        // Fleet-wide reserves count GPUs that were idle before this replica.
        let all: Vec<(usize, usize)> = taken.iter().copied().collect();
        let new = self.fresh(&all) as u64;
        let gpu_type = &option.kind.gpu_type;
        let type_room = self.room_per_type.get(gpu_type).copied().unwrap_or(0);
        if self.assigned + new > self.room
            || self.assigned_per_type.get(gpu_type).copied().unwrap_or(0) + new > type_room
        {
            return None;
        }
        for &(n, i) in &all {
            let s = self.gpus[n][i].as_mut().expect("eligible");
            if s.workers == 0 {
                self.assigned_per_node[n] += 1;
            }
            s.workers += 1;
            s.exclusive |= !share;
            if share {
                self.shared_nodes.insert(n);
            }
            s.free_mib -= option.reserve_mib;
        }
        self.assigned += new;
        *self.assigned_per_type.entry(gpu_type.clone()).or_default() += new;
        Some(stages)
    }
}

impl Fill<'_> {
    /// Takes the GPUs of a replica that is already placed (and valid): its workers, memory,
    /// and every reserve it counts against.
    pub(super) fn occupy(&mut self, replica: &PlacedReplica, share: bool) {
        let mut fresh: BTreeSet<(usize, usize)> = BTreeSet::new();
        for stage in &replica.stages {
            let Some(n) = self.fleet.nodes.iter().position(|node| node.name == stage.node) else {
                continue;
            };
            for &index in &stage.gpus {
                let Some(i) = self.fleet.nodes[n].gpus.iter().position(|g| g.index == index) else {
                    continue;
                };
                let Some(s) = self.gpus[n][i].as_mut() else { continue };
                if s.workers == 0 && fresh.insert((n, i)) {
                    self.assigned_per_node[n] += 1;
                }
                s.workers += 1;
                s.exclusive |= !share;
                s.free_mib = s.free_mib.saturating_sub(replica.memory_per_gpu_mib);
                if share {
                    self.shared_nodes.insert(n);
                }
            }
        }
        let new = fresh.len() as u64;
        self.assigned += new;
        *self.assigned_per_type.entry(replica.gpu_type.clone()).or_default() += new;
    }
}
