//! Blocks: the units the model places. Per shape option, one stage of `tp` GPUs, or chunks of
//! 1..=pp stages of one replica where stages must be told apart per node (spread, sharing with
//! pp > 1); sharing blocks grouped where they are interchangeable; and where the kinds the
//! model uses would cut off a plan.

use std::collections::BTreeMap;

use super::instance::{Block, BlockMode, MAX_REPLICA_SLOTS, ReplicaSlots, ShareGroup, Splits};
use crate::domain::{Fleet, GpuKind, Workload};
use crate::shapes::ShapeOption;

/// Blocks of each option: one stage; or, where a replica's stages must be told apart per node
/// (a binding `spread`, or sharing with pp > 1), chunks of 1..=pp stages of one replica.
///
/// A spread deployment whose smallest stage is more than half of `most_room` (the most GPUs any
/// node can give) cannot put two stages on one node, so it is pooled like any other (`most_room`
/// 0 drops `spread` for the relaxation, which also drops the distinct GPUs of a sharing replica).
pub(super) fn make_blocks(
    workload: &Workload,
    options: &[ShapeOption],
    most_room: u64,
    relaxed: bool,
) -> (Vec<Block>, Vec<Splits>, Vec<ReplicaSlots>) {
    let mut smallest_tp: BTreeMap<usize, u64> = BTreeMap::new();
    for option in options {
        let tp = smallest_tp.entry(option.deployment).or_insert(option.tp);
        *tp = (*tp).min(option.tp);
    }
    let mut blocks = Vec::new();
    let mut splits = Vec::new();
    let mut slots: BTreeMap<usize, ReplicaSlots> = BTreeMap::new();
    for (o, option) in options.iter().enumerate() {
        let d = &workload.deployments[option.deployment];
        let shared = d.share_gpu;
        // Shared workers can stack on one GPU, so for them `spread` always binds.
        let spread = most_room > 0 && d.spread && (shared || 2 * smallest_tp[&option.deployment] <= most_room);
        let block = |mode, stages, replica| Block {
            option: o,
            mode,
            stages,
            gpus: stages * option.tp,
            shared,
            spread,
            pooled: !shared && (!spread || option.pp == 1),
            share_group: None,
            replica,
        };
        let chunk_sizes = 1..=option.pp;
        if option.pp > 1 && spread {
            blocks.extend(chunk_sizes.map(|k| block(BlockMode::Chunk, k, None)));
            splits.push(Splits {
                option: o,
                parts: partitions(option.pp),
            });
        } else if option.pp > 1 && shared && !relaxed {
            let entry = slots.entry(option.deployment).or_insert_with(|| ReplicaSlots {
                deployment: option.deployment,
                slots: d.replicas.min(MAX_REPLICA_SLOTS),
                options: Vec::new(),
            });
            entry.options.push(o);
            for r in 0..entry.slots {
                blocks.extend(chunk_sizes.clone().map(|k| block(BlockMode::Chunk, k, Some(r))));
            }
        } else {
            blocks.push(block(BlockMode::Stage, 1, None));
        }
    }
    (blocks, splits, slots.into_values().collect())
}

/// The partitions of `n` as multiplicities: `out[j][k - 1]` parts of size `k`, largest parts
/// first in the order of the list.
pub fn partitions(n: u64) -> Vec<Vec<u64>> {
    fn walk(left: u64, largest: u64, current: &mut Vec<u64>, out: &mut Vec<Vec<u64>>) {
        if left == 0 {
            out.push(current.clone());
            return;
        }
        for k in (1..=largest.min(left)).rev() {
            current[k as usize - 1] += 1;
            walk(left - k, k, current, out);
            current[k as usize - 1] -= 1;
        }
    }
    let mut out = Vec::new();
    walk(n, n, &mut vec![0; n as usize], &mut out);
    out
}

/// Where one kind per memory size keeps plans out of the model: a GPU type whose eligible GPUs
/// report different `memory_mib`, that a deployment with `gpu_memory_utilization` may use (so
/// reservations differ by size), and on which some replica could combine sizes (pp > 1 across
/// nodes, or tp > 1 on a node with several sizes).
pub(super) fn memory_size_restrictions(fleet: &Fleet, workload: &Workload, eligible: &[Vec<bool>]) -> Vec<String> {
    let mut sizes: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut mixed_node: BTreeMap<&str, bool> = BTreeMap::new();
    for (node, elig) in fleet.nodes.iter().zip(eligible) {
        let mut here: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (gpu, _) in node.gpus.iter().zip(elig).filter(|(_, ok)| **ok) {
            here.entry(gpu.gpu_type.as_str()).or_default().push(gpu.kind_memory_mib);
            sizes
                .entry(gpu.gpu_type.as_str())
                .or_default()
                .push(gpu.kind_memory_mib);
        }
        for (t, mut m) in here {
            m.sort_unstable();
            m.dedup();
            *mixed_node.entry(t).or_default() |= m.len() > 1;
        }
    }
    let mut out = Vec::new();
    for (t, mut m) in sizes {
        m.sort_unstable();
        m.dedup();
        if m.len() < 2 {
            continue;
        }
        let combines = workload.deployments.iter().any(|d| {
            d.replicas > 0
                && d.allows_type(t)
                && (d.pipeline_parallel.iter().any(|&pp| pp > 1)
                    || mixed_node[t] && d.tensor_parallel.iter().any(|&tp| tp > 1))
        });
        if combines {
            out.push(format!(
                "GPU type {t} reports {} memory sizes and a deployment on it sets gpu_memory_utilization: \
                 a replica's GPUs are kept to one size",
                m.len()
            ));
        }
    }
    out
}

/// Groups one-stage sharing blocks of non-spread deployments by (kind, reservation, size,
/// node selector) and marks each block with its group.
pub(super) fn group_shared(workload: &Workload, options: &[ShapeOption], blocks: &mut [Block]) -> Vec<ShareGroup> {
    type Key<'a> = (&'a GpuKind, u64, u64, &'a BTreeMap<String, String>);
    let mut by_key: BTreeMap<Key<'_>, usize> = BTreeMap::new();
    let mut groups: Vec<ShareGroup> = Vec::new();
    let mut counted: Vec<Vec<usize>> = Vec::new(); // deployments already in each group's demand
    for (b, block) in blocks.iter_mut().enumerate() {
        let option = &options[block.option];
        let d = &workload.deployments[option.deployment];
        if !block.shared || d.spread || option.pp != 1 {
            continue;
        }
        let key = (&option.kind, option.reserve_mib, block.gpus, &d.node_selector);
        let g = *by_key.entry(key).or_insert_with(|| {
            groups.push(ShareGroup {
                block: b,
                options: Vec::new(),
                demand: 0,
            });
            counted.push(Vec::new());
            groups.len() - 1
        });
        block.share_group = Some(g);
        groups[g].options.push(block.option);
        if !counted[g].contains(&option.deployment) {
            counted[g].push(option.deployment);
            groups[g].demand += d.replicas;
        }
    }
    groups
}
