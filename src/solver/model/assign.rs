//! From counts to names: which nodes of a class, which GPU indices, which replica.
//!
//! The formulation guarantees that the counts fit (Hall's condition per node; the floor rule
//! per counted class); this module only hands out concrete GPUs: most demanding blocks first,
//! lowest free indices first, contiguous where possible (Dynamo's `cuda-visible-device-offset`
//! needs a contiguous block).

use std::collections::BTreeMap;

use super::assign_shared::{share_out, shared_blocks};
use super::formulation::Formulation;
use super::instance::{BlockMode, Instance};
use crate::domain::{PlacedReplica, Stage};
use crate::error::Error;

/// A block's GPUs: (node, device indices).
type Placed = (usize, Vec<u32>);

/// One placed block: a placement's block on a concrete node.
#[derive(Debug, Clone)]
struct NodeBlock {
    block: usize,
    node: usize,
}

/// Turns a solution (column values) into replicas on concrete GPUs.
pub fn assign(instance: &Instance<'_>, form: &Formulation, values: &[f64]) -> Result<Vec<PlacedReplica>, Error> {
    let counts = form.block_counts(values);
    let exclusive: Vec<u64> = counts
        .iter()
        .enumerate()
        .map(|(p, &c)| {
            if instance.blocks[instance.placements[p].block].shared {
                0
            } else {
                c
            }
        })
        .collect();
    let mut in_classes: Vec<(usize, usize, u64)> = exclusive
        .iter()
        .enumerate()
        .filter(|&(_, &count)| count > 0)
        .map(|(p, &count)| (instance.placements[p].class, instance.placements[p].block, count))
        .collect();
    in_classes.extend(pooled_blocks(instance, form, values)?);
    let node_blocks = spread_over_nodes(instance, form, values, in_classes)?;
    // Shared GPUs first: their workers are fixed by the solution, and exclusive blocks avoid them.
    let shared = share_out(instance, form, values, shared_blocks(instance, form, values, &counts)?)?;
    let mut taken: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (node, _, indices) in &shared {
        let n = &instance.fleet.nodes[*node];
        for index in indices {
            let position = n
                .gpus
                .iter()
                .position(|g| g.index == *index)
                .expect("a GPU of the node");
            taken.entry(*node).or_default().push(position);
        }
    }
    let mut by_node: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for nb in &node_blocks {
        by_node.entry(nb.node).or_default().push(nb.block);
    }
    let mut placed_blocks = shared;
    for (&node, blocks) in &by_node {
        let pre_taken = taken.get(&node).map(Vec::as_slice).unwrap_or(&[]);
        placed_blocks.extend(
            gpus_on_node(instance, node, blocks, pre_taken)?
                .into_iter()
                .map(|(b, g)| (node, b, g)),
        );
    }
    placed_blocks.sort();
    // Stages into replicas, as (option, stages): pp one-stage blocks in a row; a replica slot's
    // chunks; chunks of split options grouped by the solution's split patterns.
    let mut one_stage: BTreeMap<usize, Vec<Placed>> = BTreeMap::new();
    let mut slotted: BTreeMap<(usize, u64), Vec<Placed>> = BTreeMap::new();
    let mut chunks: BTreeMap<(usize, u64), Vec<Placed>> = BTreeMap::new();
    for (node, block, gpus) in placed_blocks {
        let b = &instance.blocks[block];
        match (b.mode, b.replica) {
            (BlockMode::Stage, _) => one_stage.entry(b.option).or_default().push((node, gpus)),
            (BlockMode::Chunk, Some(r)) => slotted.entry((b.option, r)).or_default().push((node, gpus)),
            (BlockMode::Chunk, None) => chunks.entry((b.option, b.stages)).or_default().push((node, gpus)),
        }
    }
    let mut built: Vec<(usize, Vec<Placed>)> = Vec::new();
    for (option, list) in one_stage {
        let pp = instance.options[option].pp as usize;
        built.extend(list.chunks(pp).map(|c| (option, c.to_vec())));
    }
    built.extend(slotted.into_iter().map(|((option, _), list)| (option, list)));
    for (split, counts) in instance.splits.iter().zip(&form.chunks.split_counts) {
        for (parts, column) in split.parts.iter().zip(counts) {
            for _ in 0..values[column.index].max(0.0).round() as u64 {
                let mut replica = Vec::new();
                for (k, &m) in parts.iter().enumerate() {
                    for _ in 0..m {
                        let list = chunks.get_mut(&(split.option, k as u64 + 1));
                        let Some(chunk) = list.and_then(|l| l.pop()) else {
                            return Err(Error::Solver("internal: a split pattern without its chunks".into()));
                        };
                        replica.push(chunk);
                    }
                }
                replica.sort();
                built.push((split.option, replica));
            }
        }
    }
    if chunks.values().any(|l| !l.is_empty()) {
        return Err(Error::Solver(
            "internal: chunks left over after the split patterns".into(),
        ));
    }
    let mut replicas: Vec<(usize, PlacedReplica)> = Vec::new();
    for (option, parts) in built {
        let o = &instance.options[option];
        let deployment = &instance.workload.deployments[o.deployment];
        let stages: Vec<Stage> = parts
            .iter()
            .flat_map(|(node, gpus)| {
                gpus.chunks(o.tp as usize).map(|g| Stage {
                    node: instance.fleet.nodes[*node].name.clone(),
                    gpus: g.to_vec(),
                })
            })
            .collect();
        if stages.len() as u64 != o.pp || stages.iter().any(|s| s.gpus.len() as u64 != o.tp) {
            return Err(Error::Solver(format!(
                "internal: {} stages of '{}' do not make a replica of {} stages",
                stages.len(),
                deployment.name,
                o.pp
            )));
        }
        let replica = PlacedReplica {
            deployment: deployment.name.clone(),
            replica: 0,
            quantization: o.quantization.name().to_string(),
            tensor_parallel: o.tp,
            pipeline_parallel: o.pp,
            gpu_type: o.kind.gpu_type.clone(),
            memory_per_gpu_mib: o.reservation_on(parts.iter().flat_map(|(node, gpus)| {
                let node = &instance.fleet.nodes[*node];
                gpus.iter().filter_map(move |&g| node.gpu(g))
            })),
            runtime_mib: Some(o.runtime_mib),
            stages,
        };
        replicas.push((o.deployment, replica));
    }
    // Number replicas per deployment: by first stage's node (fleet order), then first GPU.
    let node_order: BTreeMap<&str, usize> = instance
        .fleet
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    replicas.sort_by_key(|(d, r)| {
        (
            *d,
            node_order[r.stages[0].node.as_str()],
            r.stages[0].gpus[0],
            r.tensor_parallel,
        )
    });
    let mut next: BTreeMap<usize, u64> = BTreeMap::new();
    Ok(replicas
        .into_iter()
        .map(|(d, mut r)| {
            let n = next.entry(d).or_default();
            r.replica = *n;
            *n += 1;
            r
        })
        .collect())
}

/// Pooled stages matched to the supply the solution chose, per key: the stages needing the most
/// memory take the highest supply first (the pool's rows are Hall's condition, so this never
/// fails). Returns (class, block, count).
fn pooled_blocks(
    instance: &Instance<'_>,
    form: &Formulation,
    values: &[f64],
) -> Result<Vec<(usize, usize, u64)>, Error> {
    let pool = &instance.pool;
    let value = |column: usize| values[column].max(0.0).round() as u64;
    let mut stage_block = vec![usize::MAX; instance.options.len()];
    for (b, block) in instance.blocks.iter().enumerate().filter(|(_, b)| b.pooled) {
        stage_block[block.option] = b;
    }
    // Per key: demand (need, block, stages) and supply (level, class, stages).
    let mut demand: Vec<Vec<(u64, usize, u64)>> = vec![Vec::new(); pool.keys.len()];
    for (o, entry) in pool.demand.iter().enumerate() {
        if let Some((k, _)) = *entry {
            let stages = instance.options[o].pp * value(form.x.len() + o);
            if stages > 0 {
                demand[k].push((instance.options[o].reserve_mib, stage_block[o], stages));
            }
        }
    }
    let mut supply: Vec<Vec<(u64, usize, u64)>> = vec![Vec::new(); pool.keys.len()];
    for (s, column) in pool.supplies.iter().zip(&form.pool.v) {
        let count = value(column.index);
        if count > 0 {
            supply[s.key].push((s.level_mib, s.class, count));
        }
    }
    let mut out = Vec::new();
    for (mut wants, mut offers) in demand.into_iter().zip(supply) {
        wants.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        offers.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut offers = offers.into_iter().peekable();
        for (need, block, mut stages) in wants {
            while stages > 0 {
                let Some((level, class, left)) = offers.peek_mut() else {
                    return Err(Error::Solver("internal: pooled stages without supply".into()));
                };
                if *level < need {
                    return Err(Error::Solver("internal: pooled supply below a stage's need".into()));
                }
                let take = stages.min(*left);
                out.push((*class, block, take));
                stages -= take;
                *left -= take;
                if *left == 0 {
                    offers.next();
                }
            }
        }
    }
    Ok(out)
}

/// Hands each class's blocks to its member nodes: all of them for a single node; for counted
/// classes largest blocks first, each to the first node with room (exact by the floor rule);
/// of a class of nodes that may be bought, only its bought (first) nodes.
fn spread_over_nodes(
    instance: &Instance<'_>,
    form: &Formulation,
    values: &[f64],
    counts: Vec<(usize, usize, u64)>,
) -> Result<Vec<NodeBlock>, Error> {
    let mut out = Vec::new();
    let mut by_class: BTreeMap<usize, Vec<(usize, u64)>> = BTreeMap::new();
    for (class, block, count) in counts {
        by_class.entry(class).or_default().push((block, count));
    }
    for (c, mut blocks) in by_class {
        let class = &instance.classes[c];
        if let [node] = class.nodes.as_slice() {
            for (block, count) in blocks {
                out.extend((0..count).map(|_| NodeBlock { block, node: *node }));
            }
            continue;
        }
        let per_node = class.profile.pools[0].free_mib_desc.len() as u64;
        let live = form.purchase.live_nodes(c, class.nodes.len(), values);
        let mut room: Vec<u64> = vec![per_node.min(class.profile.capacity); live];
        blocks.sort_by_key(|&(block, _)| (std::cmp::Reverse(instance.blocks[block].gpus), block));
        for (block, count) in blocks {
            let gpus = instance.blocks[block].gpus;
            for _ in 0..count {
                let Some(slot) = room.iter().position(|&r| r >= gpus) else {
                    return Err(Error::Solver("internal: a counted node class was over-filled".into()));
                };
                room[slot] -= gpus;
                out.push(NodeBlock {
                    block,
                    node: class.nodes[slot],
                });
            }
        }
    }
    Ok(out)
}

/// Concrete GPU indices for the exclusive blocks placed on one node, most demanding first,
/// around the GPUs (positions) already taken by sharing.
fn gpus_on_node(
    instance: &Instance<'_>,
    node: usize,
    blocks: &[usize],
    pre_taken: &[usize],
) -> Result<Vec<(usize, Vec<u32>)>, Error> {
    let n = &instance.fleet.nodes[node];
    let mut order: Vec<usize> = blocks.to_vec();
    order.sort_by_key(|&b| {
        let block = &instance.blocks[b];
        let o = &instance.options[block.option];
        (
            std::cmp::Reverse(o.reserve_mib),
            std::cmp::Reverse(block.gpus),
            o.deployment,
            b,
        )
    });
    let mut taken = vec![false; n.gpus.len()];
    for &i in pre_taken {
        taken[i] = true;
    }
    let mut out = Vec::with_capacity(order.len());
    for b in order {
        let block = &instance.blocks[b];
        let o = &instance.options[block.option];
        let candidates: Vec<usize> = (0..n.gpus.len())
            .filter(|&i| {
                let g = &n.gpus[i];
                !taken[i] && instance.eligible[node][i] && g.is_kind(&o.kind) && g.free_mib() >= o.reserve_mib
            })
            .collect();
        let want = block.gpus as usize;
        if candidates.len() < want {
            return Err(Error::Solver(format!(
                "internal: node '{}' has too few GPUs for its blocks",
                n.name
            )));
        }
        let chosen = contiguous_run(n, &candidates, want).unwrap_or_else(|| candidates[..want].to_vec());
        for &i in &chosen {
            taken[i] = true;
        }
        out.push((b, chosen.iter().map(|&i| n.gpus[i].index).collect()));
    }
    Ok(out)
}

/// The lowest run of `want` candidates whose device indices are consecutive.
fn contiguous_run(node: &crate::domain::Node, candidates: &[usize], want: usize) -> Option<Vec<usize>> {
    candidates
        .windows(want)
        .find(|w| w.windows(2).all(|p| node.gpus[p[1]].index == node.gpus[p[0]].index + 1))
        .map(|w| w.to_vec())
}
