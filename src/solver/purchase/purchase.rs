//! Nodes that may be bought (capacity planning). Candidate nodes are node classes like any
//! other: one integer column `k` per candidate class says how many of its nodes are bought, and
//! the bought ones are the class's first `k`.
//!
//! - A candidate that stands alone (sharing, spread or mixed block sizes fit on it) has `k` in
//!   0..=1; every column that places something on it is at most its bound times `k`, and the
//!   candidates of one SKU are bought in order (`k[i] >= k[i + 1]`).
//! - Alike candidates of one SKU where counting is exact form one class; its floor rows (see the
//!   formulation) take `k` in place of the class's size, so `k = 0` holds nothing and `k` nodes
//!   hold what `k` nodes hold. The model then grows with SKUs, not with candidate nodes.
//!
//! Bought GPUs count as eligible for the fleet-wide reserves.

use good_lp::{Constraint, Expression, Variable, constraint};

use super::columns::{Column, Columns};
use super::instance::Instance;
use super::pool::PoolVars;
use super::sharing::{Layout, Sharing};

/// The purchase part of the model.
#[derive(Debug, Clone, Default)]
pub struct PurchaseVars {
    /// Per node class: how many of its nodes are bought, where they may be bought.
    pub bought: Vec<Option<Column>>,
    /// Total cost of the nodes bought.
    pub cost: Expression,
}

impl PurchaseVars {
    /// Adds `k` per candidate class, the rows that gate single candidates' columns, and the
    /// buying order.
    pub fn build(
        instance: &Instance<'_>,
        vars: &mut Columns,
        x: &[Column],
        sharing: &Sharing,
        pool: &PoolVars,
        rows: &mut Vec<Constraint>,
    ) -> PurchaseVars {
        let mut cost = Expression::default();
        let bought: Vec<Option<Column>> = instance
            .classes
            .iter()
            .map(|class| {
                let p = instance.purchase[class.nodes[0]].as_ref()?;
                let k = vars.integer(class.nodes.len() as u64);
                cost.add_mul(p.cost as f64, k.var);
                Some(k)
            })
            .collect();
        if bought.iter().all(Option::is_none) {
            return PurchaseVars { bought, cost };
        }
        // Single candidates: whatever sits on one is at most its bound times `k`.
        let mut gate = |column: Column, class: usize, vars: &Columns| {
            if let Some(k) = bought[class]
                && instance.classes[class].nodes.len() == 1
            {
                let upper = vars.defs()[column.index].upper;
                rows.push(constraint!(column.var <= upper * k.var));
            }
        };
        for (p, placement) in instance.placements.iter().enumerate() {
            gate(x[p], placement.class, vars);
        }
        for (supply, column) in instance.pool.supplies.iter().zip(&pool.v) {
            gate(*column, supply.class, vars);
        }
        let class_of_node = |node: usize| {
            instance
                .classes
                .iter()
                .position(|c| c.nodes == [node])
                .expect("a sharing node stands alone")
        };
        for class in &sharing.classes {
            let columns: Vec<Column> = match &class.layout {
                Layout::Patterns { z, workers, .. } => z.iter().copied().chain(workers.iter().map(|w| w.1)).collect(),
                Layout::PerGpu { used, workers } => used.iter().copied().chain(workers.iter().map(|w| w.2)).collect(),
            };
            if instance.purchase[class.node].is_none() {
                continue;
            }
            let c = class_of_node(class.node);
            for column in columns {
                gate(column, c, vars);
            }
        }
        // Buy each SKU's single candidates in order.
        let mut previous: Vec<Option<Column>> = Vec::new();
        for (c, class) in instance.classes.iter().enumerate() {
            let (Some(k), Some(p)) = (bought[c], instance.purchase[class.nodes[0]].as_ref()) else {
                continue;
            };
            if class.nodes.len() > 1 {
                continue;
            }
            if previous.len() <= p.sku {
                previous.resize(p.sku + 1, None);
            }
            if let Some(before) = previous[p.sku] {
                rows.push(constraint!(before.var >= k.var));
            }
            previous[p.sku] = Some(k);
        }
        PurchaseVars { bought, cost }
    }

    /// The column counting a candidate class's bought nodes, if the class is one.
    pub fn count(&self, class: usize) -> Option<Variable> {
        self.bought.get(class).copied().flatten().map(|k| k.var)
    }

    /// Nodes of a class in use in a solution: the bought ones for a candidate class (its first
    /// `k`), every one otherwise.
    pub fn live_nodes(&self, class: usize, nodes: usize, values: &[f64]) -> usize {
        match self.bought.get(class).copied().flatten() {
            Some(k) => (values[k.index].max(0.0).round() as usize).min(nodes),
            None => nodes,
        }
    }

    /// Per fleet node, whether a solution buys it (always false for nodes already there).
    pub fn nodes_bought(&self, instance: &Instance<'_>, values: &[f64]) -> Vec<bool> {
        let mut out = vec![false; instance.fleet.nodes.len()];
        for (c, class) in instance.classes.iter().enumerate() {
            if self.count(c).is_some() {
                let live = self.live_nodes(c, class.nodes.len(), values);
                for &n in &class.nodes[..live] {
                    out[n] = true;
                }
            }
        }
        out
    }

    /// Eligible GPUs (of a type, or all) on candidate nodes, as an expression of `k`, and their
    /// most.
    pub fn eligible(&self, instance: &Instance<'_>, gpu_type: Option<&str>) -> (Expression, u64) {
        let mut sum = Expression::default();
        let mut most = 0;
        for (c, class) in instance.classes.iter().enumerate() {
            let Some(k) = self.count(c) else { continue };
            let n = class.nodes[0];
            let count = instance.fleet.nodes[n]
                .gpus
                .iter()
                .zip(&instance.eligible[n])
                .filter(|(g, ok)| **ok && gpu_type.is_none_or(|t| g.gpu_type == t))
                .count() as u64;
            if count > 0 {
                sum.add_mul(count as f64, k);
                most += count * class.nodes.len() as u64;
            }
        }
        (sum, most)
    }
}
