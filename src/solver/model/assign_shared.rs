//! Sharing workers onto concrete GPUs: per-GPU layouts dealt round-robin into blocks, pattern
//! classes slot by slot, and a share group's blocks handed to the group's options.

use std::collections::BTreeMap;

use super::formulation::Formulation;
use super::instance::Instance;
use super::sharing::{Column, Layout, SharedClass};
use crate::error::Error;

/// Hands the blocks placed for a share group's representative to the group's options, each
/// getting as many as its `y`.
pub(super) fn share_out(
    instance: &Instance<'_>,
    form: &Formulation,
    values: &[f64],
    mut placed: Vec<(usize, usize, Vec<u32>)>,
) -> Result<Vec<(usize, usize, Vec<u32>)>, Error> {
    let mut block_of = vec![usize::MAX; instance.options.len()];
    for (b, block) in instance.blocks.iter().enumerate() {
        if block.share_group.is_some() {
            block_of[block.option] = b;
        }
    }
    let mut queues: BTreeMap<usize, Vec<(usize, u64)>> = BTreeMap::new();
    for group in &instance.share_groups {
        let queue = group
            .options
            .iter()
            .rev()
            .map(|&o| (block_of[o], values[form.x.len() + o].max(0.0).round() as u64))
            .filter(|&(_, n)| n > 0)
            .collect();
        queues.insert(group.block, queue);
    }
    placed.sort();
    for (_, block, _) in placed.iter_mut() {
        let Some(queue) = queues.get_mut(block) else { continue };
        let Some((member, left)) = queue.last_mut() else {
            return Err(Error::Solver("internal: more shared blocks than replicas".into()));
        };
        *block = *member;
        *left -= 1;
        if *left == 0 {
            queue.pop();
        }
    }
    Ok(placed)
}

/// Blocks of sharing placements as (node, block, GPU indices), from the sharing variables.
pub(super) fn shared_blocks(
    instance: &Instance<'_>,
    form: &Formulation,
    values: &[f64],
    counts: &[u64],
) -> Result<Vec<(usize, usize, Vec<u32>)>, Error> {
    let value = |column: usize| values[column].max(0.0).round() as u64;
    let mut out = Vec::new();
    // Per-GPU classes: workers per (placement, GPU), dealt round-robin into blocks.
    let mut slots: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new(); // placement -> (node, position)
    for class in &form.sharing.classes {
        match &class.layout {
            Layout::PerGpu { workers, .. } => {
                for &(p, g, w) in workers {
                    let at = (class.node, class.gpus[g]);
                    slots
                        .entry(p)
                        .or_default()
                        .extend(std::iter::repeat_n(at, value(w.index) as usize));
                }
            }
            Layout::Patterns {
                slot_mib,
                patterns,
                z,
                workers,
            } => {
                out.extend(pattern_workers(
                    instance, class, slot_mib, patterns, z, workers, &value,
                )?);
            }
        }
    }
    for (p, gpus) in slots {
        let block = instance.placements[p].block;
        // A placement's workers may sit in pattern classes too (one-GPU workers, handed out
        // above): these slots make blocks of their own, as many as they fill.
        let size = instance.blocks[block].gpus.max(1) as usize;
        let blocks = gpus.len() / size;
        if blocks == 0 || gpus.len() % size != 0 || blocks as u64 > counts[p] {
            if gpus.is_empty() {
                continue;
            }
            return Err(Error::Solver(
                "internal: shared workers do not split into whole blocks".into(),
            ));
        }
        let mut dealt: Vec<Vec<(usize, usize)>> = vec![Vec::new(); blocks];
        for (i, at) in gpus.into_iter().enumerate() {
            dealt[i % blocks].push(at);
        }
        for list in dealt {
            let Some(&(node, _)) = list.first() else {
                return Err(Error::Solver("internal: a shared block without workers".into()));
            };
            let n = &instance.fleet.nodes[node];
            let mut indices: Vec<u32> = list.iter().map(|&(_, g)| n.gpus[g].index).collect();
            indices.sort_unstable();
            let distinct = indices.windows(2).all(|w| w[0] != w[1]);
            if indices.len() as u64 != instance.blocks[block].gpus || !distinct || list.iter().any(|&(m, _)| m != node)
            {
                return Err(Error::Solver(
                    "internal: shared workers do not split into blocks of distinct GPUs".into(),
                ));
            }
            out.push((node, block, indices));
        }
    }
    Ok(out)
}

/// One-GPU workers of a pattern class: GPUs take patterns in index order, then workers take
/// slots, largest reservations first (the nested rows guarantee a slot at least as large).
fn pattern_workers(
    instance: &Instance<'_>,
    class: &SharedClass,
    slot_mib: &[u64],
    patterns: &[Vec<u64>],
    z: &[Column],
    workers: &[(usize, Column)],
    value: &dyn Fn(usize) -> u64,
) -> Result<Vec<(usize, usize, Vec<u32>)>, Error> {
    let n = &instance.fleet.nodes[class.node];
    let mut slots: Vec<(u64, u32)> = Vec::new(); // (slot MiB, GPU index)
    let mut gpus = class.gpus.iter();
    for (pattern, zj) in patterns.iter().zip(z) {
        for _ in 0..value(zj.index) {
            let Some(&g) = gpus.next() else {
                return Err(Error::Solver(
                    "internal: more patterns than GPUs in a shared class".into(),
                ));
            };
            for (s, &k) in pattern.iter().enumerate() {
                slots.extend(std::iter::repeat_n((slot_mib[s], n.gpus[g].index), k as usize));
            }
        }
    }
    slots.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut queue: Vec<(u64, usize)> = workers
        .iter()
        .flat_map(|&(p, w)| {
            let reserve = instance.options[instance.blocks[instance.placements[p].block].option].reserve_mib;
            std::iter::repeat_n((reserve, p), value(w.index) as usize)
        })
        .collect();
    queue.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::with_capacity(queue.len());
    for (i, (reserve, p)) in queue.into_iter().enumerate() {
        match slots.get(i) {
            Some(&(size, index)) if size >= reserve => {
                out.push((class.node, instance.placements[p].block, vec![index]))
            }
            _ => return Err(Error::Solver("internal: a shared worker found no slot".into())),
        }
    }
    Ok(out)
}
