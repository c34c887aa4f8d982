//! The LP-guided purchase: capacity planning's LP relaxation buys a fraction of a node here and
//! there; rounded up per SKU, that purchase, packed greedily around the planner's packing of the
//! fleet as it is, lands close to the LP's cost. Then nodes are given back one at a time while
//! the demand still fits. HiGHS, lost among hundreds of alike candidate nodes, rarely improves
//! on a start this good, and the LP's cost is the bound it is measured against.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use good_lp::Constraint;

use super::highs_run::{self, HighsSettings, LevelOutcome, Starts};
use super::{Formulation, Instance};
use crate::domain::{Fleet, PlacedReplica, Workload};

/// What the LP relaxation of the purchase says: its cost (a lower bound on every purchase) and
/// the nodes it buys of each SKU, fractions included.
pub(super) struct Relaxed {
    pub cost: f64,
    pub nodes_per_sku: BTreeMap<usize, f64>,
}

impl Relaxed {
    /// The LP's cost rounded up the safe way (costs are whole numbers; the slack covers HiGHS's
    /// tolerances): no purchase costs less.
    pub fn cost_floor(&self) -> f64 {
        super::bound::lower(self.cost)
    }
}

/// Starts solving the purchase's LP relaxation, within `time_left`, on HiGHS's worker thread:
/// the caller packs the fleet meanwhile, then reads it with [`relaxed`].
pub(super) fn spawn_relax(
    form: &Arc<Formulation>,
    fixed: &[Constraint],
    time_left: Duration,
    cancel: &super::budget::Cancel,
) -> super::worker::Pending {
    let settings = HighsSettings {
        mip_rel_gap: 0.0,
        verbose: false,
        relaxed: true,
        cancel: cancel.clone(),
        stop_at: None,
        max_nodes: None,
    };
    let starts = Starts {
        hint: None,
        fallback: None,
    };
    super::worker::spawn_objective(
        form,
        form.purchase.cost.clone(),
        false,
        fixed,
        starts,
        time_left,
        &settings,
    )
}

/// The LP relaxation's answer; `None` if it did not finish.
pub(super) fn relaxed(pending: super::worker::Pending, form: &Formulation, instance: &Instance<'_>) -> Option<Relaxed> {
    let result = pending.wait().ok().flatten()?;
    if result.outcome != LevelOutcome::Optimal || result.values.len() != form.vars.len() {
        return None;
    }
    let mut nodes_per_sku = BTreeMap::new();
    for (class, k) in instance.classes.iter().zip(&form.purchase.bought) {
        let (Some(k), Some(p)) = (k, instance.purchase[class.nodes[0]].as_ref()) else {
            continue;
        };
        *nodes_per_sku.entry(p.sku).or_insert(0.0) += result.values[k.index].max(0.0);
    }
    Some(Relaxed {
        cost: highs_run::evaluate(form, &form.purchase.cost, &result.values),
        nodes_per_sku,
    })
}

/// Replicas placing every required one: part on the fleet as it is (`existing`), the rest on
/// bought nodes (see [`buy_around`]), the cheapest of three packings of the fleet: for what is
/// dearest to buy for ([`absorbing`]), the same with spread replicas priced as whole nodes, and
/// by priority. `None` if none works before `deadline`; each packing gets `options`.
pub(super) fn guided_purchase(
    instance: &Instance<'_>,
    existing: &Fleet,
    required: &Workload,
    lp: &Relaxed,
    options: &super::SolveOptions,
    deadline: Instant,
) -> Option<Vec<PlacedReplica>> {
    let per_sku = candidates_per_sku(instance);
    let weightings = [
        absorbing(instance, required, false),
        absorbing(instance, required, true),
        Some(required.clone()),
    ];
    let mut best: Option<(u64, Vec<PlacedReplica>)> = None;
    for weighted in weightings.iter().flatten() {
        if Instant::now() >= deadline {
            break;
        }
        let split = Split::new(existing, weighted, required, options);
        let Some(on_bought) = buy_around(instance, &per_sku, &split, lp, deadline) else {
            continue;
        };
        let cost = purchase_cost(instance, &on_bought);
        if best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((cost, split.join(on_bought)));
        }
        if cost as f64 <= lp.cost_floor() {
            break; // no purchase costs less than the LP's
        }
    }
    best.map(|(_, replicas)| replicas)
}

/// What `split` leaves, on bought nodes: at first the LP's nodes of each SKU rounded up, more
/// where those cannot take it; then nodes are given back, dearest SKU first, while everything
/// still fits.
fn buy_around(
    instance: &Instance<'_>,
    per_sku: &BTreeMap<usize, Vec<usize>>,
    split: &Split,
    lp: &Relaxed,
    deadline: Instant,
) -> Option<Vec<PlacedReplica>> {
    let fleet = instance.fleet;
    let cost_of = |sku: usize| instance.purchase[per_sku[&sku][0]].as_ref().map_or(0, |p| p.cost);
    let mut counts: BTreeMap<usize, usize> = per_sku
        .iter()
        .map(|(&s, nodes)| {
            let frac = lp.nodes_per_sku.get(&s).copied().unwrap_or(0.0);
            (s, ((frac - 1e-6).ceil().max(0.0) as usize).min(nodes.len()))
        })
        .collect();
    let mut on_bought = split.pack(fleet, per_sku, &counts, deadline);
    // Short: a tenth more (at least one) of every SKU the LP buys, then of every SKU.
    for widen in [false, false, false, true, true] {
        if on_bought.is_some() || Instant::now() >= deadline {
            break;
        }
        for (s, n) in counts.iter_mut() {
            if widen || lp.nodes_per_sku.get(s).is_some_and(|&f| f > 1e-6) {
                *n = (*n + (*n / 10).max(1)).min(per_sku[s].len());
            }
        }
        on_bought = split.pack(fleet, per_sku, &counts, deadline);
    }
    let mut on_bought = on_bought?;
    let mut order: Vec<usize> = per_sku.keys().copied().collect();
    order.sort_by_key(|&s| std::cmp::Reverse((cost_of(s), s)));
    let mut trimmed = true;
    while trimmed && Instant::now() < deadline {
        trimmed = false;
        for &s in &order {
            let used = used_of_sku(fleet, &per_sku[&s], &on_bought);
            if used == 0 {
                continue;
            }
            let mut fewer = counts.clone();
            fewer.insert(s, used - 1);
            if let Some(tried) = split.pack(fleet, per_sku, &fewer, deadline) {
                counts = fewer;
                on_bought = tried;
                trimmed = true;
            }
        }
    }
    Some(on_bought)
}

/// The fleet as it is, packed, and what it leaves for the bought nodes.
struct Split {
    kept: Vec<PlacedReplica>,
    placed_before: BTreeMap<String, u64>,
    /// The required demand the fleet leaves; its fleet-wide reserves are left free there.
    rest: Workload,
}

impl Split {
    /// Packs `existing` for `weighted` (the required demand, reweighted).
    fn new(existing: &Fleet, weighted: &Workload, required: &Workload, options: &super::SolveOptions) -> Split {
        let kept = match super::solve(existing, weighted, options) {
            Ok(solved) => solved.plan.replicas,
            Err(_) => crate::greedy::place(existing, weighted),
        };
        let mut placed_before: BTreeMap<String, u64> = BTreeMap::new();
        for r in &kept {
            *placed_before.entry(r.deployment.clone()).or_insert(0) += 1;
        }
        let mut rest = required.clone();
        rest.policy.reserve.fleet = 0;
        rest.policy.reserve.per_type.clear();
        for dep in &mut rest.deployments {
            dep.replicas = dep
                .replicas
                .saturating_sub(placed_before.get(&dep.name).copied().unwrap_or(0));
        }
        Split {
            kept,
            placed_before,
            rest,
        }
    }

    /// The rest planned on the first `counts[sku]` candidates of each SKU alone: its replicas,
    /// if they are all of it.
    fn pack(
        &self,
        fleet: &Fleet,
        per_sku: &BTreeMap<usize, Vec<usize>>,
        counts: &BTreeMap<usize, usize>,
        deadline: Instant,
    ) -> Option<Vec<PlacedReplica>> {
        let left = deadline.saturating_duration_since(Instant::now());
        let bought = Fleet {
            nodes: per_sku
                .iter()
                .flat_map(|(s, list)| list[..counts[s]].iter().map(|&n| fleet.nodes[n].clone()))
                .collect(),
        };
        let options = super::SolveOptions {
            time_limit: left.min(super::budget::PURCHASE_GUIDED_PLAN),
            mip_rel_gap: 0.0,
            ..super::SolveOptions::default()
        };
        let whole = |replicas: &[PlacedReplica]| {
            self.rest
                .deployments
                .iter()
                .all(|dep| replicas.iter().filter(|r| r.deployment == dep.name).count() as u64 >= dep.replicas)
        };
        // Greedy packs empty alike nodes well and fast; the planner where it does not.
        let replicas = crate::greedy::place(&bought, &self.rest);
        if whole(&replicas) {
            return Some(replicas);
        }
        if left.is_zero() {
            return None;
        }
        let solved = super::solve(&bought, &self.rest, &options).ok()?;
        whole(&solved.plan.replicas).then_some(solved.plan.replicas)
    }

    /// One plan: the bought nodes' replicas numbered after the fleet's own.
    fn join(self, on_bought: Vec<PlacedReplica>) -> Vec<PlacedReplica> {
        let mut replicas = self.kept;
        for mut r in on_bought {
            r.replica += self.placed_before.get(&r.deployment).copied().unwrap_or(0);
            replicas.push(r);
        }
        replicas
    }
}

/// Per SKU (catalog index), its candidate nodes in fleet order.
pub(super) fn candidates_per_sku(instance: &Instance<'_>) -> BTreeMap<usize, Vec<usize>> {
    let mut per_sku: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (n, p) in instance.purchase.iter().enumerate() {
        if let Some(p) = p {
            per_sku.entry(p.sku).or_default().push(n);
        }
    }
    per_sku
}

/// What the candidate nodes that `replicas` use cost.
pub(super) fn purchase_cost(instance: &Instance<'_>, replicas: &[PlacedReplica]) -> u64 {
    let used: BTreeSet<&str> = replicas
        .iter()
        .flat_map(|r| r.stages.iter().map(|s| s.node.as_str()))
        .collect();
    instance
        .fleet
        .nodes
        .iter()
        .zip(&instance.purchase)
        .filter_map(|(node, p)| p.as_ref().filter(|_| used.contains(node.name.as_str())))
        .map(|p| p.cost)
        .sum()
}

/// How many of a SKU's candidates the replicas use.
fn used_of_sku(fleet: &Fleet, candidates: &[usize], replicas: &[PlacedReplica]) -> usize {
    let used: BTreeSet<&str> = replicas
        .iter()
        .flat_map(|r| r.stages.iter().map(|s| s.node.as_str()))
        .collect();
    candidates
        .iter()
        .filter(|&&n| used.contains(fleet.nodes[n].name.as_str()))
        .count()
}

/// `required` reweighted for packing the fleet as it is: a replica is worth what hosting it on
/// bought nodes would cost at least (its fewest GPUs at the cheapest price per GPU of a SKU that
/// can host it), and one that no SKU can host is worth more than all the others together, so the
/// fleet keeps what is dearest to buy for. `None` where the sums would leave the range a double
/// counts exactly.
pub(super) fn absorbing(instance: &Instance<'_>, required: &Workload, spread_whole: bool) -> Option<Workload> {
    let fleet = instance.fleet;
    let mut worth: Vec<Option<u64>> = vec![None; required.deployments.len()];
    for option in &instance.options {
        let dep = &required.deployments[option.deployment];
        if dep.replicas == 0 {
            continue;
        }
        for (n, p) in instance.purchase.iter().enumerate() {
            let (Some(p), node) = (p, &fleet.nodes[n]) else {
                continue;
            };
            let hosts = node.matches(&dep.node_selector)
                && node
                    .gpus
                    .first()
                    .is_some_and(|g| g.gpu_type == option.kind.gpu_type && g.memory_mib == option.kind.memory_mib);
            if hosts {
                // Whole nodes for a spread replica: its nodes take no other replica of it.
                let gpus = if spread_whole && dep.spread {
                    option.tp
                } else {
                    node.gpus.len().max(1) as u64
                };
                let price = (p.cost.checked_mul(option.tp * option.pp)?).div_ceil(gpus).max(1);
                let w = &mut worth[option.deployment];
                *w = Some(w.map_or(price, |w| w.min(price)));
            }
        }
    }
    let mut weighted = required.clone();
    for (dep, w) in weighted.deployments.iter_mut().zip(&worth) {
        dep.priority = w.unwrap_or(1);
    }
    let unhostable: Vec<usize> = (0..worth.len())
        .filter(|&d| worth[d].is_none() && required.deployments[d].replicas > 0)
        .collect();
    if unhostable.is_empty() {
        let total = weighted.deployments.iter().try_fold(0u64, |sum, dep| {
            sum.checked_add(dep.priority.checked_mul(dep.replicas)?)
        })?;
        return (total < 1 << 50).then_some(weighted);
    }
    super::capacity_greedy::packing_first(&weighted, &unhostable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use good_lp::constraint;

    use crate::domain::{SolveStatus, make_plan};
    use crate::formats::skus_file::Sku;
    use crate::solver::planner_fleet;
    use crate::synth::GenSpec;

    fn sku(name: &str, gpu_type: &str, gpu_count: u32, memory_mib: u64, cost: u64) -> Sku {
        Sku {
            name: name.into(),
            gpu_type: gpu_type.into(),
            gpu_count,
            memory_mib,
            reserved_mib: 0,
            cost,
            max: Some(16),
            labels: Default::default(),
        }
    }

    #[test]
    fn the_lp_cost_floor_rounds_up_to_whole_costs_within_tolerance() {
        let floor = |cost: f64| {
            Relaxed {
                cost,
                nodes_per_sku: BTreeMap::new(),
            }
            .cost_floor()
        };
        // A fraction above a whole cost rounds up: no purchase costs less than the next whole.
        assert_eq!(floor(11.5), 12.0);
        assert_eq!(floor(12.0), 12.0);
        assert_eq!(floor(0.0), 0.0);
        // HiGHS's tolerance above a whole cost is noise, not a reason to round up.
        assert_eq!(floor(17_772_036.000_000_1), 17_772_036.0);
        assert_eq!(floor(12.000_000_1), 12.0);
        // Beyond the tolerance it is a real fraction.
        assert_eq!(floor(12.01), 13.0);
    }

    #[test]
    fn the_guided_purchase_places_all_within_the_rules_at_no_less_than_the_lp() {
        let spec = GenSpec {
            gpus: 256,
            deployments: 16,
            seed: 1,
            tight: false,
        };
        let (fleet, mut workload) = crate::synth::generated(&spec);
        for d in &mut workload.deployments {
            d.replicas = (d.replicas * 5).div_ceil(2);
            d.node_selector.clear();
        }
        let skus = [
            sku("a100", "A100-SXM4-80GB", 8, 81920, 150_000),
            sku("l40s", "L40S", 4, 46068, 60_000),
        ];
        let path = std::path::Path::new("skus.yaml");
        let (grown, purchase, _) = crate::solver::capacity::with_candidates(
            &fleet,
            &workload,
            &skus,
            None,
            path,
            Some(super::super::capacity::MAX_CANDIDATES),
        )
        .unwrap();
        let view = planner_fleet(&grown, &workload);
        let instance = Instance::with_purchase(&view, &workload, purchase);
        let form = Arc::new(Formulation::build(&instance));
        let fixed: Vec<Constraint> = (0..workload.deployments.len())
            .map(|d| constraint!(form.placed[d].clone() >= workload.deployments[d].replicas as f64))
            .collect();
        let lp = relaxed(
            spawn_relax(&form, &fixed, Duration::from_secs(60), &Default::default()),
            &form,
            &instance,
        )
        .expect("the LP finishes");
        assert!(lp.cost > 0.0, "demand x2.5 does not fit the fleet as it is");
        let existing = Fleet {
            nodes: (0..view.nodes.len())
                .filter(|&n| instance.purchase[n].is_none())
                .map(|n| view.nodes[n].clone())
                .collect(),
        };
        let options = crate::solver::SolveOptions {
            time_limit: Duration::from_secs(10),
            mip_rel_gap: 0.005,
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let replicas = guided_purchase(&instance, &existing, &workload, &lp, &options, deadline).expect("a purchase");
        for dep in &workload.deployments {
            let got = replicas.iter().filter(|r| r.deployment == dep.name).count() as u64;
            assert_eq!(got, dep.replicas, "{}", dep.name);
        }
        let plan = make_plan(&view, &workload, replicas.clone(), SolveStatus::TimeLimit, None);
        assert_eq!(crate::check::check(&view, &workload, &plan), Vec::new());
        let cost = purchase_cost(&instance, &replicas);
        assert!(cost as f64 >= lp.cost - 1e-6, "{cost} below the LP's {}", lp.cost);
        let (auto, _) =
            crate::solver::capacity::autoscaler_purchase(&fleet, &workload, &skus, None).expect("the autoscaler buys");
        assert!(cost <= auto, "{cost} dearer than the autoscaler's {auto}");
    }
}
