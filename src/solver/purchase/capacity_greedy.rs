//! Greedy purchases for capacity planning: the start HiGHS gets (and keeps when time runs out),
//! and the autoscaler's purchase that benchmarks compare against.

use super::capacity::{MAX_CANDIDATES, bought_node, required};
use super::capacity_guided::{candidates_per_sku, purchase_cost};
use super::highs_run;
use super::{Formulation, Instance, planner_fleet};
use crate::domain::Sku;
use crate::domain::{Fleet, SolveStatus, Workload};

/// What the start search found: a purchase's column values, a proof that no purchase places
/// the demand, or neither.
pub(super) enum Start {
    Found(Vec<f64>),
    Impossible,
    Unknown,
}

/// A purchase to start HiGHS from, as column values, and the purchase LP's cost rounded up (a
/// bound on every purchase) where the LP finished. The purchase is the cheaper of the LP-guided
/// one ([`super::capacity_guided`]) and the greedy one: the planner packs the required replicas
/// on the fleet as it is, greedy places the rest over the candidates, cheapest per GPU first.
/// Where both leave some out, the planner places them on the fleet with every candidate (a
/// proven shortfall there means no purchase can work). Each SKU's candidates in use are renamed
/// to its first ones (alike nodes), and those are bought. Each planner run gets `time_limit`.
pub(super) fn purchase_start(
    instance: &Instance<'_>,
    form: &std::sync::Arc<Formulation>,
    workload: &Workload,
    must: &[usize],
    fixed: &[good_lp::Constraint],
    time_limit: std::time::Duration,
    cancel: &super::budget::Cancel,
) -> (Start, Option<f64>) {
    let fleet = instance.fleet;
    let mut required = workload.clone();
    for (d, dep) in required.deployments.iter_mut().enumerate() {
        if !must.contains(&d) {
            dep.replicas = 0;
        }
    }
    let per_gpu = |n: usize| {
        instance.purchase[n]
            .as_ref()
            .map(|p| (p.cost * 1_000_000 / fleet.nodes[n].gpus.len().max(1) as u64, p.sku))
    };
    let mut order: Vec<usize> = (0..fleet.nodes.len()).collect();
    order.sort_by_key(|&n| (per_gpu(n), n));
    let ordered = Fleet {
        nodes: order.iter().map(|&n| fleet.nodes[n].clone()).collect(),
    };
    let existing = Fleet {
        nodes: (0..fleet.nodes.len())
            .filter(|&n| instance.purchase[n].is_none())
            .map(|n| fleet.nodes[n].clone())
            .collect(),
    };
    let options = super::SolveOptions {
        time_limit,
        mip_rel_gap: 0.005,
        cancel: cancel.clone(),
        ..super::SolveOptions::default()
    };
    let all_placed = |replicas: &[crate::domain::PlacedReplica]| {
        must.iter().all(|&d| {
            let dep = &workload.deployments[d];
            replicas.iter().filter(|r| r.deployment == dep.name).count() as u64 >= dep.replicas
        })
    };
    // The LP relaxation of the purchase solves on HiGHS's thread while the planner packs.
    let lp = super::capacity_guided::spawn_relax(
        form,
        fixed,
        time_limit * super::budget::PURCHASE_LP_RUNS,
        &options.cancel,
    );
    // The fleet as it is first (greedy alone packs it loosely and buys too much), then greedy
    // over the candidates, cheapest per GPU first.
    let kept = match super::solve(&existing, &required, &options) {
        Ok(solved) => solved.plan.replicas,
        Err(_) => crate::greedy::place(&existing, &required),
    };
    let mut replicas = crate::greedy::place_around(&ordered, &required, &kept);
    // The LP-guided purchase, where the LP finishes: the cheaper of the two starts wins.
    let lp = super::capacity_guided::relaxed(lp, form, instance);
    if let Some(lp) = &lp {
        let deadline = std::time::Instant::now() + time_limit * super::budget::PURCHASE_GUIDED_RUNS;
        if let Some(guided) =
            super::capacity_guided::guided_purchase(instance, &existing, &required, lp, &options, deadline)
            && (!all_placed(&replicas) || purchase_cost(instance, &guided) < purchase_cost(instance, &replicas))
        {
            replicas = guided;
        }
    }
    let lp_floor = lp.map(|lp| lp.cost_floor());
    if !all_placed(&replicas) {
        // What greedy could not buy for, and what no candidate can host (a node selector or a
        // GPU type no SKU offers), must be packed on the fleet as it is: the planner packs those
        // first (each of their replicas outweighs all the others together), greedy buys for the
        // rest.
        let first: Vec<usize> = must
            .iter()
            .copied()
            .filter(|&d| short_of(workload, d, &replicas) > 0 || !any_candidate_hosts(instance, workload, d))
            .collect();
        if let Some(boosted) = packing_first(&required, &first) {
            // From the first packing, so that little moves.
            let options = super::SolveOptions {
                start: Some(kept.clone()),
                ..options.clone()
            };
            let kept = match super::solve(&existing, &boosted, &options) {
                Ok(solved) => solved.plan.replicas,
                Err(_) => crate::greedy::place(&existing, &boosted),
            };
            let again = crate::greedy::place_around(&ordered, &required, &kept);
            if all_placed(&again) {
                replicas = again;
            }
        }
    }
    if !all_placed(&replicas) {
        let Ok(solved) = super::solve(fleet, &required, &options) else {
            return (Start::Unknown, lp_floor);
        };
        let proven = solved.plan.status == SolveStatus::Optimal && solved.stats.restrictions.is_empty();
        // Its replicas on the fleet as it is leave room where the first packing did not (for
        // node selectors that no candidate meets); greedy buys the cheapest for the rest.
        let on_fleet: Vec<_> = solved
            .plan
            .replicas
            .iter()
            .filter(|r| r.stages.iter().all(|s| existing.node(&s.node).is_some()))
            .cloned()
            .collect();
        replicas = crate::greedy::place_around(&ordered, &required, &on_fleet);
        if !all_placed(&replicas) {
            replicas = crate::greedy::place_around(&ordered, &required, &solved.plan.replicas);
        }
        if !all_placed(&replicas) {
            return (if proven { Start::Impossible } else { Start::Unknown }, lp_floor);
        }
    }
    // Per SKU, the candidates greedy used, in fleet order, take the names of its first candidates.
    let used: std::collections::BTreeSet<&str> = replicas
        .iter()
        .flat_map(|r| r.stages.iter().map(|s| s.node.as_str()))
        .collect();
    let mut rename = std::collections::BTreeMap::new();
    let next_of_sku = candidates_per_sku(instance);
    let mut bought = vec![false; fleet.nodes.len()];
    for candidates in next_of_sku.values() {
        let mut first = candidates.iter();
        for &n in candidates {
            if used.contains(fleet.nodes[n].name.as_str()) {
                let target = *first.next().expect("as many names as candidates");
                bought[target] = true;
                rename.insert(fleet.nodes[n].name.clone(), fleet.nodes[target].name.clone());
            }
        }
    }
    for replica in &mut replicas {
        for stage in &mut replica.stages {
            if let Some(name) = rename.get(&stage.node) {
                stage.node = name.clone();
            }
        }
    }
    let Some(mut values) = super::start::from_replicas(instance, form, &replicas) else {
        return (Start::Unknown, lp_floor);
    };
    for (class, k) in instance.classes.iter().zip(&form.purchase.bought) {
        if let Some(k) = k {
            values[k.index] = class.nodes.iter().filter(|&&n| bought[n]).count() as f64;
        }
    }
    if highs_run::satisfies(form, fixed, &values) {
        (Start::Found(values), lp_floor)
    } else {
        (Start::Unknown, lp_floor)
    }
}

/// Replicas of deployment `d` that `replicas` leave out.
fn short_of(workload: &Workload, d: usize, replicas: &[crate::domain::PlacedReplica]) -> u64 {
    let dep = &workload.deployments[d];
    let got = replicas.iter().filter(|r| r.deployment == dep.name).count() as u64;
    dep.replicas.saturating_sub(got)
}

/// Whether some candidate node matches deployment `d`'s node selector and offers a GPU type it
/// allows.
fn any_candidate_hosts(instance: &Instance<'_>, workload: &Workload, d: usize) -> bool {
    let dep = &workload.deployments[d];
    instance.fleet.nodes.iter().enumerate().any(|(n, node)| {
        instance.purchase[n].is_some()
            && node.matches(&dep.node_selector)
            && node.gpus.iter().any(|g| dep.allows_type(&g.gpu_type))
    })
}

/// `required` with the deployments in `first` worth more per replica than every other
/// deployment together, so that a plan places them before anything else; `None` where the sums
/// would leave the range a double counts exactly (2^50 here, with room to spare).
pub(super) fn packing_first(required: &Workload, first: &[usize]) -> Option<Workload> {
    if first.is_empty() {
        return None;
    }
    let others: u64 = required
        .deployments
        .iter()
        .enumerate()
        .filter(|(d, _)| !first.contains(d))
        .try_fold(0u64, |sum, (_, dep)| {
            sum.checked_add(dep.priority.checked_mul(dep.replicas)?)
        })?;
    let weight = others.checked_add(1)?;
    let mut boosted = required.clone();
    let mut total = others;
    for &d in first {
        let dep = &mut boosted.deployments[d];
        dep.priority = dep.priority.max(1).checked_mul(weight)?;
        total = total.checked_add(dep.priority.checked_mul(dep.replicas)?)?;
    }
    (total < 1 << 50).then_some(boosted)
}

/// The purchase an autoscaler would make, for comparison: while required demand is unplaced
/// (by the greedy placer), buy one node of the SKU that places the most of it, the cheaper on
/// ties, within every `max`. `None` when it gets stuck.
pub fn autoscaler_purchase(
    fleet: &Fleet,
    workload: &Workload,
    skus: &[Sku],
    min_priority: Option<u64>,
) -> Option<(u64, Vec<(String, u64)>)> {
    let must: Vec<usize> = (0..workload.deployments.len())
        .filter(|&d| required(workload, d, min_priority))
        .collect();
    let shortfall = |f: &Fleet| -> u64 {
        let replicas = crate::greedy::place(&planner_fleet(f, workload), workload);
        must.iter()
            .map(|&d| {
                let dep = &workload.deployments[d];
                let got = replicas.iter().filter(|r| r.deployment == dep.name).count() as u64;
                dep.priority * dep.replicas.saturating_sub(got)
            })
            .sum()
    };
    let mut grown = fleet.clone();
    let mut counts = vec![0u64; skus.len()];
    let mut cost = 0;
    let mut short = shortfall(&grown);
    while short > 0 {
        let mut best: Option<(u64, u64, usize, Fleet)> = None; // (left short, cost, sku, fleet)
        for (s, sku) in skus.iter().enumerate() {
            if sku.max.is_some_and(|m| counts[s] >= m) || counts[s] >= 4 * MAX_CANDIDATES {
                continue;
            }
            let mut next = grown.clone();
            next.nodes
                .push(bought_node(sku, format!("{}-{}", sku.name, counts[s] + 1)));
            let left = shortfall(&next);
            if best.as_ref().is_none_or(|b| (left, sku.cost) < (b.0, b.1)) {
                best = Some((left, sku.cost, s, next));
            }
        }
        let (left, price, s, next) = best?;
        if left >= short {
            return None; // no SKU helps
        }
        counts[s] += 1;
        cost += price;
        grown = next;
        short = left;
    }
    Some((cost, skus.iter().map(|s| s.name.clone()).zip(counts).collect()))
}
