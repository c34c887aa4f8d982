//! GPU sharing (docs/rules.md §4, "Sharing"): workers of `share_gpu` deployments may sit
//! together on a GPU when their reservations add up to at most its free memory.
//!
//! Only nodes where a sharing shape fits get sharing variables, and alike GPUs stay counted:
//! - **pattern classes**: alike GPUs (same kind and free MiB) of a node where only one-GPU
//!   workers fit. A pattern is a maximal multiset of reservation sizes that fits the free
//!   memory; `z[j]` counts the class's GPUs filled by pattern `j`, and workers of placement `p`
//!   take slots at least their size: for every size `t`, the workers needing `>= t` use at most
//!   the slots of size `>= t` (nested, so a matching of workers to slots always exists);
//! - **per-GPU classes**: where a sharing block spans several GPUs (TP > 1, or a whole pipeline
//!   on one node), `u[g]` marks a shared GPU, `w[p][g]` counts workers of `p` on it, with
//!   `sum_p reserve_p * w[p][g] <= free_g * u[g]` and `w[p][g] <= x[p]`, so the workers deal
//!   round-robin into `x[p]` blocks of distinct GPUs.
//!
//! Either way `sum workers of p = gpus_p * x[p]`, exclusive blocks see only the GPUs not taken
//! for sharing (the node rows subtract them), and `gpus_used` counts each shared GPU once.

use std::collections::BTreeMap;

use good_lp::{Constraint, Expression, Variable, constraint};

pub use super::columns::Column;
use super::columns::Columns;

use super::instance::Instance;
use crate::domain::GpuKind;

/// Patterns enumerated per class at most; a class with more uses per-GPU variables instead.
const MAX_PATTERNS: usize = 256;

/// Alike eligible GPUs of one node that may hold sharing workers.
#[derive(Debug, Clone)]
pub struct SharedClass {
    pub node: usize,
    pub kind: GpuKind,
    pub free_mib: u64,
    /// Positions in `Node::gpus`, in index order.
    pub gpus: Vec<usize>,
    pub layout: Layout,
}

/// How a class's GPUs are modelled.
#[derive(Debug, Clone)]
pub enum Layout {
    /// Counted by pattern: `slot_mib` are the reservation sizes (descending), `patterns[j][s]`
    /// the slots of size `slot_mib[s]` in pattern `j`, `z[j]` the GPUs filled by it, and
    /// `workers` the workers of each placement in the class.
    Patterns {
        slot_mib: Vec<u64>,
        patterns: Vec<Vec<u64>>,
        z: Vec<Column>,
        workers: Vec<(usize, Column)>,
    },
    /// One `u` per GPU (same order as `gpus`) and `w[p][g]` as (placement, GPU position in
    /// `gpus`, column).
    PerGpu {
        used: Vec<Column>,
        workers: Vec<(usize, usize, Column)>,
    },
}

impl SharedClass {
    /// The number of the class's GPUs taken for sharing, as an expression.
    fn used(&self) -> Expression {
        let mut sum = Expression::default();
        match &self.layout {
            Layout::Patterns { z, .. } => z.iter().for_each(|c| sum.add_mul(1.0, c.var)),
            Layout::PerGpu { used, .. } => used.iter().for_each(|c| sum.add_mul(1.0, c.var)),
        }
        sum
    }

    /// How many columns the class adds to the model.
    pub fn columns(&self) -> usize {
        match &self.layout {
            Layout::Patterns { z, workers, .. } => z.len() + workers.len(),
            Layout::PerGpu { used, workers } => used.len() + workers.len(),
        }
    }

    /// Columns whose sum is the class's shared GPUs (for evaluating `gpus_used`).
    pub fn used_columns(&self) -> Vec<usize> {
        match &self.layout {
            Layout::Patterns { z, .. } => z.iter().map(|c| c.index).collect(),
            Layout::PerGpu { used, .. } => used.iter().map(|c| c.index).collect(),
        }
    }
}

/// The sharing part of the model.
#[derive(Debug, Clone, Default)]
pub struct Sharing {
    pub classes: Vec<SharedClass>,
}

impl Sharing {
    /// Adds the sharing variables and rows for every node where a sharing placement fits.
    pub fn build(instance: &Instance<'_>, vars: &mut Columns, x: &[Variable], rows: &mut Vec<Constraint>) -> Sharing {
        let mut by_node: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (p, placement) in instance.placements.iter().enumerate() {
            if instance.blocks[placement.block].shared {
                let class = &instance.classes[placement.class];
                debug_assert_eq!(class.nodes.len(), 1, "nodes where sharing fits are never counted");
                by_node.entry(class.nodes[0]).or_default().push(p);
            }
        }
        let mut workers_of: BTreeMap<usize, Expression> = BTreeMap::new();
        let mut classes = Vec::new();
        for (node, placements) in by_node {
            let n = &instance.fleet.nodes[node];
            let mut alike: BTreeMap<(GpuKind, u64), Vec<usize>> = BTreeMap::new();
            for (i, gpu) in n.gpus.iter().enumerate() {
                if instance.eligible[node][i] {
                    alike.entry((gpu.kind(), gpu.free_mib())).or_default().push(i);
                }
            }
            for ((kind, free_mib), gpus) in alike {
                let fitting: Vec<usize> = placements
                    .iter()
                    .copied()
                    .filter(|&p| {
                        let option = &instance.options[instance.blocks[instance.placements[p].block].option];
                        option.kind == kind && option.reserve_mib <= free_mib
                    })
                    .collect();
                if fitting.is_empty() {
                    continue;
                }
                let class = SharedClass {
                    node,
                    kind,
                    free_mib,
                    gpus,
                    layout: Layout::PerGpu {
                        used: vec![],
                        workers: vec![],
                    },
                };
                let one_gpu_blocks = fitting
                    .iter()
                    .all(|&p| instance.blocks[instance.placements[p].block].gpus == 1);
                let layout = if one_gpu_blocks || instance.relaxed {
                    pattern_layout(instance, &class, &fitting, vars, rows, &mut workers_of)
                } else {
                    None
                };
                let layout = layout
                    .unwrap_or_else(|| per_gpu_layout(instance, &class, &fitting, vars, x, rows, &mut workers_of));
                classes.push(SharedClass { layout, ..class });
            }
        }
        for (p, placement) in instance.placements.iter().enumerate() {
            let block = &instance.blocks[placement.block];
            if block.shared {
                let workers = workers_of.remove(&p).unwrap_or_default();
                rows.push(constraint!(workers == block.gpus as f64 * x[p]));
            }
        }
        Sharing { classes }
    }

    /// Shared GPUs of a node's pool with at least `min_free` MiB free.
    pub fn used_on(&self, node: usize, kind: &GpuKind, min_free: u64) -> Expression {
        let mut sum = Expression::default();
        for c in self
            .classes
            .iter()
            .filter(|c| c.node == node && c.kind == *kind && c.free_mib >= min_free)
        {
            sum += c.used();
        }
        sum
    }

    /// All shared GPUs of a node.
    pub fn used_on_node(&self, node: usize) -> Expression {
        let mut sum = Expression::default();
        for c in self.classes.iter().filter(|c| c.node == node) {
            sum += c.used();
        }
        sum
    }

    /// All shared GPUs of a type (or of every type).
    pub fn used_of_type(&self, gpu_type: Option<&str>) -> Expression {
        let mut sum = Expression::default();
        for c in self
            .classes
            .iter()
            .filter(|c| gpu_type.is_none_or(|t| c.kind.gpu_type == t))
        {
            sum += c.used();
        }
        sum
    }
}

/// Maximal multisets of `sizes` (descending) whose sum fits `capacity`, as counts per size;
/// `None` when there are more than `MAX_PATTERNS`.
fn maximal_patterns(sizes: &[u64], capacity: u64) -> Option<Vec<Vec<u64>>> {
    fn walk(sizes: &[u64], at: usize, left: u64, current: &mut Vec<u64>, out: &mut Vec<Vec<u64>>) -> bool {
        if at == sizes.len() {
            // Maximal: not even the smallest size fits in what is left.
            if sizes.last().is_none_or(|&s| left < s) {
                out.push(current.clone());
            }
            return out.len() <= MAX_PATTERNS;
        }
        for count in (0..=left / sizes[at]).rev() {
            current[at] = count;
            if !walk(sizes, at + 1, left - count * sizes[at], current, out) {
                return false;
            }
        }
        current[at] = 0;
        true
    }
    let mut out = Vec::new();
    let mut current = vec![0; sizes.len()];
    walk(sizes, 0, capacity, &mut current, &mut out).then_some(out)
}

fn pattern_layout(
    instance: &Instance<'_>,
    class: &SharedClass,
    fitting: &[usize],
    vars: &mut Columns,
    rows: &mut Vec<Constraint>,
    workers_of: &mut BTreeMap<usize, Expression>,
) -> Option<Layout> {
    let reserve = |p: usize| instance.options[instance.blocks[instance.placements[p].block].option].reserve_mib;
    let mut slot_mib: Vec<u64> = fitting.iter().map(|&p| reserve(p)).collect();
    slot_mib.sort_unstable_by(|a, b| b.cmp(a));
    slot_mib.dedup();
    let patterns = maximal_patterns(&slot_mib, class.free_mib)?;
    let count = class.gpus.len() as u64;
    let z: Vec<Column> = patterns.iter().map(|_| vars.integer(count)).collect();
    let mut all = Expression::default();
    z.iter().for_each(|c| all.add_mul(1.0, c.var));
    rows.push(constraint!(all <= count as f64));
    let workers: Vec<(usize, Column)> = fitting
        .iter()
        .map(|&p| {
            let gpus = instance.blocks[instance.placements[p].block].gpus;
            let most = (count * (class.free_mib / reserve(p))).min(instance.placements[p].upper * gpus);
            (p, vars.integer(most))
        })
        .collect();
    for &(p, column) in &workers {
        workers_of.entry(p).or_default().add_mul(1.0, column.var);
    }
    // Workers needing >= t MiB fit in the slots of size >= t.
    for (s, &t) in slot_mib.iter().enumerate() {
        let mut demand = Expression::default();
        for &(p, column) in &workers {
            if reserve(p) >= t {
                demand.add_mul(1.0, column.var);
            }
        }
        let mut slots = Expression::default();
        for (pattern, zj) in patterns.iter().zip(&z) {
            let at_least_t: u64 = pattern[..=s].iter().sum();
            if at_least_t > 0 {
                slots.add_mul(at_least_t as f64, zj.var);
            }
        }
        rows.push(constraint!(demand <= slots));
    }
    Some(Layout::Patterns {
        slot_mib,
        patterns,
        z,
        workers,
    })
}

fn per_gpu_layout(
    instance: &Instance<'_>,
    class: &SharedClass,
    fitting: &[usize],
    vars: &mut Columns,
    x: &[Variable],
    rows: &mut Vec<Constraint>,
    workers_of: &mut BTreeMap<usize, Expression>,
) -> Layout {
    let mut used = Vec::new();
    let mut workers = Vec::new();
    let mut previous: Option<Variable> = None;
    for g in 0..class.gpus.len() {
        let u = vars.integer(1);
        // Alike GPUs are interchangeable: use them in index order.
        if let Some(prev) = previous {
            rows.push(constraint!(prev >= u.var));
        }
        previous = Some(u.var);
        let mut reserved = Expression::default();
        for &p in fitting {
            let placement = &instance.placements[p];
            let block = &instance.blocks[placement.block];
            let reserve = instance.options[block.option].reserve_mib;
            let w = vars.integer((class.free_mib / reserve).min(placement.upper));
            reserved.add_mul(reserve as f64, w.var);
            workers_of.entry(p).or_default().add_mul(1.0, w.var);
            if block.gpus > 1 {
                rows.push(constraint!(w.var <= x[p]));
            }
            workers.push((p, g, w));
        }
        rows.push(constraint!(reserved <= class.free_mib as f64 * u.var));
        used.push(u);
    }
    Layout::PerGpu { used, workers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maximal_patterns_fill_the_gpu() {
        let patterns = maximal_patterns(&[36864, 8192], 81920).unwrap();
        assert_eq!(patterns, vec![vec![2, 1], vec![1, 5], vec![0, 10]]);
        assert_eq!(maximal_patterns(&[50000], 40000).unwrap(), vec![vec![0]]);
    }

    #[test]
    fn too_many_patterns_fall_back() {
        let sizes: Vec<u64> = (0..12).map(|i| 1000 + i * 7).collect();
        assert!(maximal_patterns(&sizes, 60_000).is_none());
    }
}
