//! Replicas built from chunks (docs/rules.md §4: a replica's stages may split over nodes in
//! any way). Where stages of one replica must be told apart per node, a block is a *chunk*: `k`
//! stages of one replica on one node. Two cases:
//!
//! - **split patterns** (a binding `spread`): a node holds at most one chunk of the deployment,
//!   so any chunks form replicas as long as their sizes add up right. `s[o][j]` counts replicas
//!   of option `o` split by partition `j` of pp; chunks of `k` stages placed equal
//!   `sum_j parts[j][k] * s[o][j]`, and `sum_j s[o][j] = y[o]`. Exact: every plan's replicas
//!   have one partition each, and any chunks on distinct nodes can be grouped by partition.
//! - **replica slots** (sharing with pp > 1, no spread): replica `r` of the deployment takes at
//!   most one option (`b[r][o]`), at most one chunk per node, and chunks adding up to pp stages.
//!   A chunk's GPUs are distinct (the sharing rows deal them so), and chunks of one replica sit on
//!   distinct nodes, so a replica's GPUs are distinct while other replicas may stack on them.

use std::collections::BTreeMap;

use good_lp::{Constraint, Expression, Variable, constraint};

use super::columns::{Column, Columns};
use super::instance::Instance;

/// The chunk part of the model.
#[derive(Debug, Clone, Default)]
pub struct ChunkVars {
    /// Per entry of `instance.splits`: one column per partition.
    pub split_counts: Vec<Vec<Column>>,
    /// Options whose stage rows live here (the formulation skips them).
    pub handled: Vec<bool>,
}

impl ChunkVars {
    /// Adds the split-pattern and replica-slot columns and rows.
    pub fn build(
        instance: &Instance<'_>,
        vars: &mut Columns,
        x: &[Variable],
        y: &[Variable],
        rows: &mut Vec<Constraint>,
    ) -> ChunkVars {
        let deployments = &instance.workload.deployments;
        let mut handled = vec![false; instance.options.len()];
        // Chunks of `k` stages placed, per (option, replica slot, k), and per (slot, node).
        let mut chunks: BTreeMap<(usize, Option<u64>, u64), Expression> = BTreeMap::new();
        let mut per_node: BTreeMap<(usize, u64, usize), Expression> = BTreeMap::new();
        for (p, placement) in instance.placements.iter().enumerate() {
            let block = &instance.blocks[placement.block];
            if block.mode != super::instance::BlockMode::Chunk {
                continue;
            }
            chunks
                .entry((block.option, block.replica, block.stages))
                .or_default()
                .add_mul(1.0, x[p]);
            if let Some(r) = block.replica {
                let d = instance.options[block.option].deployment;
                let node = instance.classes[placement.class].nodes[0];
                per_node.entry((d, r, node)).or_default().add_mul(1.0, x[p]);
            }
        }
        let mut placed = |o: usize, slot: Option<u64>, k: u64| chunks.remove(&(o, slot, k)).unwrap_or_default();

        let mut split_counts = Vec::with_capacity(instance.splits.len());
        for split in &instance.splits {
            let o = split.option;
            handled[o] = true;
            let replicas = deployments[instance.options[o].deployment].replicas;
            let counts: Vec<Column> = split.parts.iter().map(|_| vars.integer(replicas)).collect();
            let mut all = Expression::default();
            counts.iter().for_each(|c| all.add_mul(1.0, c.var));
            rows.push(constraint!(all == y[o]));
            for k in 1..=instance.options[o].pp {
                let mut wanted = Expression::default();
                for (parts, column) in split.parts.iter().zip(&counts) {
                    let m = parts[k as usize - 1];
                    if m > 0 {
                        wanted.add_mul(m as f64, column.var);
                    }
                }
                rows.push(constraint!(placed(o, None, k) == wanted));
            }
            split_counts.push(counts);
        }

        for slots in &instance.replica_slots {
            let mut per_option: Vec<Expression> = vec![Expression::default(); slots.options.len()];
            let mut previous: Option<Expression> = None;
            for r in 0..slots.slots {
                let row: Vec<Column> = slots.options.iter().map(|_| vars.integer(1)).collect();
                let mut taken = Expression::default();
                for ((&o, b), total) in slots.options.iter().zip(&row).zip(per_option.iter_mut()) {
                    taken.add_mul(1.0, b.var);
                    total.add_mul(1.0, b.var);
                    let mut stages = Expression::default();
                    for k in 1..=instance.options[o].pp {
                        stages.add_mul(k as f64, placed(o, Some(r), k));
                    }
                    rows.push(constraint!(stages == instance.options[o].pp as f64 * b.var));
                }
                rows.push(constraint!(taken.clone() <= 1));
                // Slots are interchangeable: fill them in order.
                if let Some(before) = previous {
                    rows.push(constraint!(before >= taken.clone()));
                }
                previous = Some(taken);
            }
            for (&o, total) in slots.options.iter().zip(per_option) {
                handled[o] = true;
                rows.push(constraint!(total == y[o]));
            }
        }
        // At most one chunk of a replica per node.
        for (_, chunks_here) in per_node {
            rows.push(constraint!(chunks_here <= 1));
        }
        ChunkVars { split_counts, handled }
    }
}
