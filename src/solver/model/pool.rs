//! The fleet-wide pool: exclusive stages of deployments that neither spread nor share are not
//! given a variable per (shape, node). Nodes offer *supply* instead, and shapes draw on it.
//!
//! A pool key is (GPU kind, stage size in GPUs, selector group). Per node class, `v[s]` counts
//! the stages of that size the class gives a key at one free-memory band: the stage's GPUs all
//! have at least the band's level free. Demand of a key is `pp * y[o]` for its options. A stage
//! needing `r` MiB may use any supply whose level is `>= r`, so compatibility is nested and
//! Hall's condition needs one inequality per demand threshold `t`: supply at levels `>= t`
//! covers demand needing `>= t`. The rows stay sparse with a running surplus per key:
//! `c[i] = c[i-1] + supply entering at threshold i - demand at threshold i`, `c >= 0`.
//!
//! This is exact: given supply counts, [`super::assign`] matches stages to supply largest need
//! first, and the node rows (Hall again, per node) hand out concrete GPUs. The model's size no
//! longer grows with shapes times nodes, only with shapes plus nodes.

use std::collections::BTreeMap;

use good_lp::{Constraint, Expression, Variable, constraint};

use super::columns::{Column, Columns};
use super::instance::Instance;
use crate::domain::GpuKind;

/// Which supply a stage can use: same GPU kind, same size, same node selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PoolKey {
    pub kind: GpuKind,
    /// GPUs in one stage (the option's tp).
    pub size: u64,
    /// Index into [`Pool::selectors`] and [`Pool::spread`].
    pub group: usize,
}

/// Stages of one size a node class may give one key, at one free-memory band.
#[derive(Debug, Clone)]
pub struct Supply {
    pub key: usize,
    pub class: usize,
    /// Every GPU of such a stage has at least this much free.
    pub level_mib: u64,
    /// Index into the key's thresholds where this supply starts to count.
    pub enters: usize,
    /// Upper bound on the variable.
    pub upper: u64,
}

/// The pooled part of an instance.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    pub keys: Vec<PoolKey>,
    /// Per group, a deployment that stands for it (same node selector; for spread groups, the
    /// spread deployment itself).
    pub selectors: Vec<usize>,
    /// Per group: whether it is one spread deployment's (at most one stage per node).
    pub spread: Vec<bool>,
    /// Per key: the distinct reservations of its demand, high to low.
    pub thresholds: Vec<Vec<u64>>,
    /// Per pooled option: (key, threshold index), in option order; `None` for other options.
    pub demand: Vec<Option<(usize, usize)>>,
    pub supplies: Vec<Supply>,
}

impl Pool {
    /// Keys, thresholds and the supply every node class can give.
    pub fn new(instance: &Instance<'_>) -> Pool {
        let deployments = &instance.workload.deployments;
        let mut pooled = vec![false; instance.options.len()];
        for block in instance.blocks.iter().filter(|b| b.pooled) {
            pooled[block.option] = true;
        }
        let mut spread = vec![false; instance.options.len()];
        for block in instance.blocks.iter().filter(|b| b.pooled && b.spread) {
            spread[block.option] = true;
        }
        // Groups: one per node selector, and one per spread deployment (its supply is at most one
        // stage per node). The first deployment of a group represents it.
        let group_key = |o: usize| {
            let d = instance.options[o].deployment;
            (&deployments[d].node_selector, spread[o].then_some(d))
        };
        let mut group_of = BTreeMap::new();
        let mut selectors = Vec::new();
        let mut spread_groups = Vec::new();
        let mut keys_index: BTreeMap<PoolKey, Vec<u64>> = BTreeMap::new();
        for (o, option) in instance.options.iter().enumerate().filter(|(o, _)| pooled[*o]) {
            let group = *group_of.entry(group_key(o)).or_insert_with(|| {
                selectors.push(option.deployment);
                spread_groups.push(spread[o]);
                selectors.len() - 1
            });
            let key = PoolKey {
                kind: option.kind.clone(),
                size: option.tp,
                group,
            };
            keys_index.entry(key).or_default().push(instance.options[o].reserve_mib);
        }
        let mut keys = Vec::new();
        let mut thresholds = Vec::new();
        for (key, mut reserves) in keys_index {
            reserves.sort_unstable_by(|a, b| b.cmp(a));
            reserves.dedup();
            keys.push(key);
            thresholds.push(reserves);
        }
        let demand = instance
            .options
            .iter()
            .enumerate()
            .map(|(o, option)| {
                if !pooled[o] {
                    return None;
                }
                let group = group_of[&group_key(o)];
                let k = keys
                    .binary_search_by(|key: &PoolKey| {
                        (&key.kind, key.size, key.group).cmp(&(&option.kind, option.tp, group))
                    })
                    .expect("every pooled option has a key");
                let t = thresholds[k]
                    .iter()
                    .position(|&r| r == option.reserve_mib)
                    .expect("every pooled reservation is a threshold");
                Some((k, t))
            })
            .collect();
        let mut pool = Pool {
            keys,
            selectors,
            spread: spread_groups,
            thresholds,
            demand,
            supplies: Vec::new(),
        };
        pool.supplies = pool.make_supplies(instance);
        pool
    }

    /// Supply per (class, key, band): a band is a distinct free level `f` of the class's pool,
    /// kept when some demand needs more than the next lower level (otherwise the lower band
    /// serves it as well and leaves the better GPUs free).
    fn make_supplies(&self, instance: &Instance<'_>) -> Vec<Supply> {
        let mut out = Vec::new();
        for (c, class) in instance.classes.iter().enumerate() {
            let profile = &class.profile;
            let nodes = class.nodes.len() as u64;
            for pool in &profile.pools {
                let mut levels: Vec<u64> = pool.free_mib_desc.clone();
                levels.dedup();
                for (k, key) in self.keys.iter().enumerate() {
                    if key.kind != pool.kind || !profile.selected_by[self.selectors[key.group]] {
                        continue;
                    }
                    let needs = &self.thresholds[k];
                    for (j, &level) in levels.iter().enumerate() {
                        let room = pool.count_at_least(level).min(profile.capacity);
                        if room < key.size {
                            continue;
                        }
                        // The highest threshold this band can serve, and whether a lower band could.
                        let enters = needs.partition_point(|&r| r > level);
                        let lower = levels.get(j + 1).copied().unwrap_or(0);
                        if needs.get(enters).is_none_or(|&r| r <= lower) {
                            continue;
                        }
                        let per_node = if self.spread[key.group] { 1 } else { room / key.size };
                        out.push(Supply {
                            key: k,
                            class: c,
                            level_mib: level,
                            enters,
                            upper: per_node * nodes,
                        });
                    }
                }
            }
        }
        out
    }
}

/// The pool's variables: `v` per supply, in supply order.
#[derive(Debug, Clone, Default)]
pub struct PoolVars {
    pub v: Vec<Column>,
    /// Per key, per threshold: the running surplus (continuous).
    pub surplus: Vec<Vec<Column>>,
}

impl PoolVars {
    /// Adds `v` per supply and, per key, the running-surplus rows (Hall's condition fleet-wide).
    pub fn build(instance: &Instance<'_>, vars: &mut Columns, y: &[Variable], rows: &mut Vec<Constraint>) -> Self {
        let pool = &instance.pool;
        let v: Vec<Column> = pool.supplies.iter().map(|s| vars.integer(s.upper)).collect();
        // Net supply entering at each (key, threshold).
        let mut net: Vec<Vec<Expression>> = pool
            .thresholds
            .iter()
            .map(|t| vec![Expression::default(); t.len()])
            .collect();
        for (s, supply) in pool.supplies.iter().enumerate() {
            net[supply.key][supply.enters].add_mul(1.0, v[s].var);
        }
        for (o, demand) in pool.demand.iter().enumerate() {
            if let Some((k, t)) = *demand {
                net[k][t].add_mul(-(instance.options[o].pp as f64), y[o]);
            }
        }
        let mut surplus = Vec::with_capacity(net.len());
        for per_key in net {
            let mut columns: Vec<Column> = Vec::with_capacity(per_key.len());
            for entering in per_key {
                let next = vars.non_negative();
                let carried = columns.last().map(|c| Expression::from(c.var)).unwrap_or_default();
                rows.push(constraint!(next.var == carried + entering));
                columns.push(next);
            }
            surplus.push(columns);
        }
        PoolVars { v, surplus }
    }
}
