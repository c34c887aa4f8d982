//! Nodes that may be bought (capacity planning): each candidate node stands alone in the model,
//! and one 0/1 column `b[n]` switches it on. Every column that places something on the node is
//! at most its bound times `b[n]`, so an unbought node holds nothing; bought GPUs count as
//! eligible for the fleet-wide reserves; the nodes of one SKU are bought in order (`b[i] >=
//! b[i + 1]`), so the bought ones are `{sku}-1 .. {sku}-{count}`.

use good_lp::{Constraint, Expression, constraint};

use super::columns::{Column, Columns};
use super::instance::Instance;
use super::pool::PoolVars;
use super::sharing::{Layout, Sharing};

/// The purchase part of the model.
#[derive(Debug, Clone, Default)]
pub struct PurchaseVars {
    /// Per fleet node: its `b` column where it may be bought.
    pub bought: Vec<Option<Column>>,
    /// Total cost of the nodes bought.
    pub cost: Expression,
}

impl PurchaseVars {
    /// Adds `b` per candidate node, the rows that gate its columns, and the buying order.
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
            .purchase
            .iter()
            .map(|p| {
                p.as_ref().map(|p| {
                    let b = vars.integer(1);
                    cost.add_mul(p.cost as f64, b.var);
                    b
                })
            })
            .collect();
        if bought.iter().all(Option::is_none) {
            return PurchaseVars { bought, cost };
        }
        let mut gate = |column: Column, node: usize, vars: &Columns| {
            if let Some(b) = bought[node] {
                let upper = vars.defs()[column.index].upper;
                rows.push(constraint!(column.var <= upper * b.var));
            }
        };
        for (p, placement) in instance.placements.iter().enumerate() {
            gate(x[p], instance.classes[placement.class].nodes[0], vars);
        }
        for (supply, column) in instance.pool.supplies.iter().zip(&pool.v) {
            gate(*column, instance.classes[supply.class].nodes[0], vars);
        }
        for class in &sharing.classes {
            let columns: Vec<Column> = match &class.layout {
                Layout::Patterns { z, workers, .. } => z.iter().copied().chain(workers.iter().map(|w| w.1)).collect(),
                Layout::PerGpu { used, workers } => used.iter().copied().chain(workers.iter().map(|w| w.2)).collect(),
            };
            for column in columns {
                gate(column, class.node, vars);
            }
        }
        // Buy each SKU's nodes in order.
        let mut previous: Vec<Option<Column>> = Vec::new();
        for (n, p) in instance.purchase.iter().enumerate() {
            let Some(p) = p else { continue };
            if previous.len() <= p.sku {
                previous.resize(p.sku + 1, None);
            }
            let b = bought[n].expect("a candidate has its column");
            if let Some(before) = previous[p.sku] {
                rows.push(constraint!(before.var >= b.var));
            }
            previous[p.sku] = Some(b);
        }
        PurchaseVars { bought, cost }
    }

    /// Eligible GPUs (of a type, or all) on candidate nodes, as an expression of `b`, and their
    /// most.
    pub fn eligible(&self, instance: &Instance<'_>, gpu_type: Option<&str>) -> (Expression, u64) {
        let mut sum = Expression::default();
        let mut most = 0;
        for (n, b) in self.bought.iter().enumerate() {
            let Some(b) = b else { continue };
            let count = instance.fleet.nodes[n]
                .gpus
                .iter()
                .zip(&instance.eligible[n])
                .filter(|(g, ok)| **ok && gpu_type.is_none_or(|t| g.gpu_type == t))
                .count() as u64;
            if count > 0 {
                sum.add_mul(count as f64, b.var);
                most += count;
            }
        }
        (sum, most)
    }
}
