//! The integer program, built once with good_lp and re-solved per objective level.
//!
//! Variables: `x[p]` blocks placed by placement `p` (a block kind on a node class), `y[o]`
//! replicas in shape option `o`. Rows, with the rule (docs/rules.md) each enforces:
//! - demand (section 6): `sum_o y[o] <= replicas` per deployment;
//! - stages (section 4): `sum stages * x = pp * y[o]`, so every replica has all its stages;
//! - memory and exclusivity (section 4), per single node and GPU kind, one row per free-memory
//!   threshold `t`: blocks needing `>= t` MiB use at most the GPUs with `>= t` free. Compatibility
//!   is nested, so these rows are exactly Hall's condition and a matching always exists;
//! - counted classes: `floor_rows`, exact for block sizes that divide one another;
//! - reserves (section 5): per node (capacity), per type and fleet-wide (on `y`);
//! - spread (section 5): at most one block of a spread deployment per node.

use std::collections::BTreeMap;

use good_lp::{Constraint, Expression, Variable, constraint};

use super::columns::Columns;

use super::chunks::ChunkVars;
use super::columns::Column;
use super::instance::{Instance, NodeClass};
use super::pool::PoolVars;
use super::purchase::PurchaseVars;
use super::sharing::Sharing;
use crate::domain::GpuKind;

/// The model: variables, rows, and the three objective levels as expressions.
#[derive(Clone)]
pub struct Formulation {
    /// Every column, in fleetfit's order (see [`super::columns`]).
    pub vars: Columns,
    /// `x[p]`: blocks placed by `instance.placements[p]`.
    pub x: Vec<Variable>,
    pub rows: Vec<Constraint>,
    /// Level 1, maximised.
    pub placed_value: Expression,
    /// Level 2, minimised.
    pub quantization_penalty: Expression,
    /// Level 3, minimised.
    pub gpus_used: Expression,
    /// The three levels again as (column, coefficient) lists, to evaluate a solution exactly.
    pub level_columns: [Vec<(usize, f64)>; 3],
    /// Per-GPU variables of shared GPUs.
    pub sharing: Sharing,
    /// Supply variables of the fleet-wide pool.
    pub pool: PoolVars,
    /// Split patterns and replica slots of chunked options.
    pub chunks: ChunkVars,
    /// Nodes that may be bought (capacity planning), and their cost.
    pub purchase: PurchaseVars,
    /// Replicas placed per deployment.
    pub placed: Vec<Expression>,
}

impl Formulation {
    /// Level `level`'s value (0-based) at a solution given as column values.
    pub fn level_value(&self, level: usize, values: &[f64]) -> f64 {
        self.level_columns[level].iter().map(|&(c, k)| k * values[c]).sum()
    }

    /// The block counts `x` of a solution (columns `0..x.len()`).
    pub fn block_counts(&self, values: &[f64]) -> Vec<u64> {
        values[..self.x.len()]
            .iter()
            .map(|v| v.max(0.0).round() as u64)
            .collect()
    }

    /// Builds the whole model for an instance.
    pub fn build(instance: &Instance<'_>) -> Formulation {
        let mut vars = Columns::default();
        let deployments = &instance.workload.deployments;
        let x_columns: Vec<Column> = instance.placements.iter().map(|p| vars.integer(p.upper)).collect();
        let x: Vec<Variable> = x_columns.iter().map(|c| c.var).collect();
        let y: Vec<Variable> = instance
            .options
            .iter()
            .map(|o| vars.integer(deployments[o.deployment].replicas).var)
            .collect();
        let mut rows = Vec::new();
        let sharing = Sharing::build(instance, &mut vars, &x, &mut rows);
        let pool = PoolVars::build(instance, &mut vars, &y, &mut rows);
        let chunks = ChunkVars::build(instance, &mut vars, &x, &y, &mut rows);
        let purchase = PurchaseVars::build(instance, &mut vars, &x_columns, &sharing, &pool, &mut rows);

        // Stages: every replica of option o has exactly pp stages placed (pooled options draw
        // theirs from the pool's rows instead).
        let mut stages: Vec<Expression> = vec![Expression::default(); instance.options.len()];
        for (p, placement) in instance.placements.iter().enumerate() {
            let block = &instance.blocks[placement.block];
            stages[block.option].add_mul(block.stages as f64, x[p]);
        }
        let mut grouped = vec![false; instance.options.len()];
        for group in &instance.share_groups {
            // The group's blocks, wherever placed, are its options' replicas (one stage each).
            let mut replicas = Expression::default();
            for &o in &group.options {
                grouped[o] = true;
                replicas.add_mul(1.0, y[o]);
            }
            rows.push(constraint!(
                stages[instance.blocks[group.block].option].clone() == replicas
            ));
        }
        for (o, option) in instance.options.iter().enumerate() {
            if instance.pool.demand[o].is_none() && !grouped[o] && !chunks.handled[o] {
                rows.push(constraint!(stages[o].clone() == option.pp as f64 * y[o]));
            }
        }

        // Demand, and the objective levels.
        let mut placed: Vec<Expression> = vec![Expression::default(); deployments.len()];
        let mut placed_value = Expression::default();
        let mut quantization_penalty = Expression::default();
        let mut gpus_used = Expression::default();
        let mut level_columns: [Vec<(usize, f64)>; 3] = Default::default();
        for (o, option) in instance.options.iter().enumerate() {
            let d = &deployments[option.deployment];
            let column = x.len() + o; // fleetfit's own column order (see `columns`)
            level_columns[0].push((column, d.priority as f64));
            level_columns[1].push((column, option.quantization_rank as f64));
            placed[option.deployment].add_mul(1.0, y[o]);
            placed_value.add_mul(d.priority as f64, y[o]);
            quantization_penalty.add_mul(option.quantization_rank as f64, y[o]);
            if !d.share_gpu {
                level_columns[2].push((column, option.gpus() as f64));
                gpus_used.add_mul(option.gpus() as f64, y[o]);
            }
        }
        // A shared GPU counts once, however many workers it holds.
        for class in &sharing.classes {
            level_columns[2].extend(class.used_columns().into_iter().map(|c| (c, 1.0)));
        }
        gpus_used += sharing.used_of_type(None);
        for (i, d) in deployments.iter().enumerate() {
            if instance.options.iter().any(|o| o.deployment == i) {
                rows.push(constraint!(placed[i].clone() <= d.replicas as f64));
            }
        }

        // Per node class: memory thresholds, capacity, spread.
        let mut by_class: Vec<Vec<Taker>> = (0..instance.classes.len()).map(|_| Vec::new()).collect();
        for (p, placement) in instance.placements.iter().enumerate() {
            let block = &instance.blocks[placement.block];
            by_class[placement.class].push(Taker {
                kind: &instance.options[block.option].kind,
                need_mib: instance.options[block.option].reserve_mib,
                gpus: block.gpus,
                var: x[p],
                shared: block.shared,
                spread: block.spread.then_some(instance.options[block.option].deployment),
            });
        }
        for (supply, column) in instance.pool.supplies.iter().zip(&pool.v) {
            let key = &instance.pool.keys[supply.key];
            by_class[supply.class].push(Taker {
                kind: &key.kind,
                need_mib: supply.level_mib,
                gpus: key.size,
                var: column.var,
                shared: false,
                spread: instance.pool.spread[key.group].then_some(instance.pool.selectors[key.group]),
            });
        }
        for (c, (class, members)) in instance.classes.iter().zip(&by_class).enumerate() {
            if members.is_empty() {
                continue;
            }
            if class.nodes.len() == 1 {
                single_node_rows(class, members, &sharing, &mut rows);
            } else {
                floor_rows(class, purchase.count(c), members, &mut rows);
            }
        }

        fleet_reserve_rows(instance, &y, &sharing, &purchase, &mut vars, &mut rows);

        Formulation {
            vars,
            x,
            rows,
            placed_value,
            quantization_penalty,
            gpus_used,
            level_columns,
            sharing,
            pool,
            chunks,
            purchase,
            placed,
        }
    }
}

/// Something that takes GPUs of a node class: a placement's blocks or a pool supply.
struct Taker<'k> {
    kind: &'k GpuKind,
    /// Free MiB each of its GPUs needs.
    need_mib: u64,
    gpus: u64,
    var: Variable,
    /// Sharing workers (their GPUs are counted by the sharing variables instead).
    shared: bool,
    /// The spread deployment it belongs to.
    spread: Option<usize>,
}

/// Rows of one node: per GPU kind, one row per free-memory threshold (dropping thresholds that
/// a lower one with the same GPU count already implies), shared GPUs counted as taken; capacity
/// when `reserve.per_node` bites; at most one block per spread deployment.
fn single_node_rows(class: &NodeClass, members: &[Taker<'_>], sharing: &Sharing, rows: &mut Vec<Constraint>) {
    let node = class.nodes[0];
    for pool in &class.profile.pools {
        let in_pool: Vec<&Taker<'_>> = members.iter().filter(|t| *t.kind == pool.kind && !t.shared).collect();
        let mut thresholds: Vec<u64> = in_pool.iter().map(|t| t.need_mib).collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        let mut last_count = u64::MAX;
        for t in thresholds {
            let count = pool.count_at_least(t);
            if count >= last_count {
                continue; // a lower threshold with as few GPUs already covers it
            }
            last_count = count;
            // Shared GPUs are taken before exclusive blocks get theirs.
            let mut used = sharing.used_on(node, &pool.kind, t);
            for taker in in_pool.iter().filter(|taker| taker.need_mib >= t) {
                used.add_mul(taker.gpus as f64, taker.var);
            }
            rows.push(constraint!(used <= count as f64));
        }
    }
    let eligible: u64 = class.profile.pools.iter().map(|p| p.free_mib_desc.len() as u64).sum();
    if class.profile.capacity < eligible {
        let mut used = sharing.used_on_node(node);
        for taker in members.iter().filter(|t| !t.shared) {
            used.add_mul(taker.gpus as f64, taker.var);
        }
        rows.push(constraint!(used <= class.profile.capacity as f64));
    }
    let mut spread: BTreeMap<usize, Expression> = BTreeMap::new();
    for taker in members {
        if let Some(d) = taker.spread {
            spread.entry(d).or_default().add_mul(1.0, taker.var);
        }
    }
    for (_, blocks) in spread {
        rows.push(constraint!(blocks <= 1));
    }
}

/// Rows of `K` alike nodes with `C` usable GPUs each, for block sizes that divide one another:
/// for every size `s`, the GPUs in blocks of size `>= s` are at most `K * s * floor(C / s)`.
/// Necessary because such blocks fill each node in multiples of `s`; sufficient because placing
/// blocks largest first leaves every node's free room a multiple of the next size. For nodes that
/// may be bought, `K` is the column counting those bought.
fn floor_rows(class: &NodeClass, bought: Option<Variable>, members: &[Taker<'_>], rows: &mut Vec<Constraint>) {
    let nodes: Expression = match bought {
        Some(k) => k.into(),
        None => (class.nodes.len() as f64).into(),
    };
    let per_node = class.profile.pools[0].free_mib_desc.len() as u64;
    let c = per_node.min(class.profile.capacity);
    let mut sizes: Vec<u64> = members.iter().map(|t| t.gpus).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for &s in &sizes {
        let mut used = Expression::default();
        for taker in members.iter().filter(|t| t.gpus >= s) {
            used.add_mul(taker.gpus as f64, taker.var);
        }
        rows.push(constraint!(used <= nodes.clone() * ((s * (c / s)) as f64)));
    }
}

/// `reserve.per_type` and `reserve.fleet`: eligible GPUs that stay unassigned fleet-wide (all of
/// them where there are fewer). Exclusive replicas count their GPUs through `y`, shared GPUs
/// through `u`; GPUs of nodes that may be bought count as eligible once bought.
fn fleet_reserve_rows(
    instance: &Instance<'_>,
    y: &[Variable],
    sharing: &Sharing,
    purchase: &PurchaseVars,
    vars: &mut Columns,
    rows: &mut Vec<Constraint>,
) {
    let reserve = &instance.workload.policy.reserve;
    let mut eligible_by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for (n, (node, elig)) in instance.fleet.nodes.iter().zip(&instance.eligible).enumerate() {
        if instance.purchase[n].is_some() {
            continue;
        }
        for (gpu, &ok) in node.gpus.iter().zip(elig) {
            if ok {
                *eligible_by_type.entry(gpu.gpu_type.as_str()).or_default() += 1;
            }
        }
    }
    let used_where = |gpu_type: Option<&str>| {
        let mut used = sharing.used_of_type(gpu_type);
        for (o, option) in instance.options.iter().enumerate() {
            let of_type = gpu_type.is_none_or(|t| option.kind.gpu_type == t);
            if of_type && !instance.workload.deployments[option.deployment].share_gpu {
                used.add_mul(option.gpus() as f64, y[o]);
            }
        }
        used
    };
    let mut keep_free = |gpu_type: Option<&str>, keep: u64, rows: &mut Vec<Constraint>| {
        let base = match gpu_type {
            Some(t) => eligible_by_type.get(t).copied().unwrap_or(0),
            None => eligible_by_type.values().sum(),
        };
        let used = used_where(gpu_type);
        let (bought, most) = purchase.eligible(instance, gpu_type);
        if base >= keep || most == 0 {
            rows.push(constraint!(used <= base as f64 - keep.min(base) as f64 + bought));
        } else {
            // Fewer than `keep` without purchases: either nothing of them is used, or enough are
            // bought that `keep` stay free. `z` tells which.
            let big = (base + most + keep) as f64;
            let z = vars.integer(1);
            rows.push(constraint!(
                used.clone() <= base as f64 - keep as f64 + bought + big - big * z.var
            ));
            rows.push(constraint!(used <= big * z.var));
        }
    };
    for (gpu_type, &keep) in &reserve.per_type {
        if keep > 0 {
            keep_free(Some(gpu_type), keep, rows);
        }
    }
    if reserve.fleet > 0 {
        keep_free(None, reserve.fleet, rows);
    }
}
