//! Capacity planning against exhaustion on tiny fleets: every purchase within the SKUs' `max`
//! is tried, every plan of the grown fleet enumerated; the cheapest purchase that places every
//! required replica, then section 6 among the cheapest, must be what `capacity` proves.

use std::time::Duration;

use proptest::prelude::*;

use fleetfit::domain::{Fleet, Plan, Workload};
use fleetfit::formats::skus_file::{self, Sku};
use fleetfit::solver::capacity::CapacityStatus;
use fleetfit::workflows::capacity::capacity;

use super::brute;
use super::common::*;
use super::props::{brute_cases, fleet_of, tiny_deployments};

/// One or two SKUs of the tiny fleets' types, 1-2 GPUs a node, at most 0-2 nodes each (so a
/// SKU may also be counted as a class of alike candidates), some labelled to meet selectors.
fn tiny_skus() -> impl Strategy<Value = String> {
    skus_with((0u64..=2).prop_map(Some).boxed())
}

/// [`tiny_skus`] where a SKU may have no `max` (bought as often as the search likes).
fn tiny_skus_uncapped() -> impl Strategy<Value = String> {
    skus_with(prop::option::weighted(0.5, 0u64..=2).boxed())
}

fn skus_with(max: BoxedStrategy<Option<u64>>) -> impl Strategy<Value = String> {
    let sku = (
        0u8..2,
        prop_oneof![3 => Just(4096u64), 1 => Just(4608)],
        1u32..=2,
        1u64..=9,
        max,
        prop::bool::ANY,
    );
    prop::collection::vec(sku, 1..=2).prop_map(|skus| {
        let mut text = String::from("skus:\n");
        for (i, (t, memory, count, cost, max, east)) in skus.iter().enumerate() {
            text += &format!(
                "  - {{name: s{i}, gpu_type: {}, gpu_count: {count}, memory_mib: {memory}, cost: {cost}{}, labels: {{zone: {}}}}}\n",
                ["A", "B"][*t as usize],
                max.map(|m| format!(", max: {m}")).unwrap_or_default(),
                if *east { "east" } else { "west" }
            );
        }
        text
    })
}

/// Every purchase within each SKU's `max` (`uncapped` for a SKU without one), as counts per SKU.
fn purchases(skus: &[Sku], uncapped: u64) -> Vec<Vec<u64>> {
    let mut all = vec![Vec::new()];
    for sku in skus {
        all = all
            .into_iter()
            .flat_map(|p: Vec<u64>| {
                (0..=sku.max.unwrap_or(uncapped)).map(move |n| {
                    let mut next = p.clone();
                    next.push(n);
                    next
                })
            })
            .collect();
    }
    all
}

/// The fleet with `counts` nodes of each SKU, named as capacity names them.
fn grown(fleet: &Fleet, skus: &[Sku], counts: &[u64]) -> Fleet {
    let mut grown = fleet.clone();
    for (sku, &n) in skus.iter().zip(counts) {
        grown
            .nodes
            .extend((1..=n).map(|i| fleetfit::solver::capacity::bought_node(sku, format!("{}-{i}", sku.name))));
    }
    grown
}

/// Solves capacity on a tiny case and compares it with exhaustion.
fn assert_capacity_matches_brute_force(
    fleet_yaml: &str,
    deployments_yaml: &str,
    skus_yaml: &str,
    min_priority: Option<u64>,
) {
    let (fleet, workload) = parse(fleet_yaml, deployments_yaml);
    let (_dir, path) = temp_file("skus.yaml", skus_yaml);
    let skus = skus_file::load(&path).unwrap();
    let required = |w: &Workload| -> Vec<String> {
        w.deployments
            .iter()
            .filter(|d| d.replicas > 0 && min_priority.is_none_or(|p| d.priority >= p))
            .map(|d| d.name.clone())
            .collect()
    };
    let must = required(&workload);
    let want: u64 = workload
        .deployments
        .iter()
        .filter(|d| must.contains(&d.name))
        .map(|d| d.replicas)
        .sum();
    let key = |plan: &Plan| {
        let o = &plan.objective;
        let required = plan.replicas.iter().filter(|r| must.contains(&r.deployment)).count() as u64;
        (
            required,
            o.placed_value,
            -(o.quantization_penalty as i64),
            -(o.gpus_used as i64),
        )
    };
    // A cheapest purchase buys no node it could do without (every cost is at least 1): each
    // bought node holds a stage of a required replica or keeps a reserved GPU free, so it buys
    // at most this many nodes in all, and a SKU without `max` is tried up to that.
    let nodes_bound = nodes_bound(&workload, &must);
    // The cheapest purchase that places every required replica, and section 6 among them.
    let mut best: Option<(u64, (u64, i64, i64))> = None;
    for counts in purchases(&skus, nodes_bound) {
        let cost: u64 = skus.iter().zip(&counts).map(|(s, n)| s.cost * n).sum();
        if best.is_some_and(|(c, _)| c < cost) {
            continue;
        }
        let (placed, value, penalty, gpus) = brute::best_by(&grown(&fleet, &skus, &counts), &workload, &key);
        if placed < want {
            continue;
        }
        let found = (value, penalty, gpus);
        best = Some(match best {
            Some((c, o)) if c == cost => (c, o.max(found)),
            _ => (cost, found),
        });
    }
    capacity_probe(&fleet, &workload, &skus, &path, min_priority);
    let c = match capacity(&fleet, &workload, &skus, &path, min_priority, Duration::from_secs(60)) {
        Ok(c) => c,
        // A search narrower than the rules that finds nothing claims nothing either.
        Err(fleetfit::error::Error::Unsettled { restrictions }) => {
            assert!(!restrictions.is_empty());
            return;
        }
        Err(e) => panic!("{e}"),
    };
    if let (Some(plan), Some(grown)) = (&c.plan, &c.grown) {
        assert_valid(grown, &workload, plan);
        for name in &must {
            let asked = workload.deployments.iter().find(|d| &d.name == name).unwrap().replicas;
            assert_eq!(placed(plan, name) as u64, asked, "{name} placed whole");
        }
    }
    let exact = c.restrictions.is_empty();
    match best {
        None => {
            if exact {
                assert_eq!(c.status, CapacityStatus::Infeasible, "no purchase places the demand");
            }
        }
        Some((cost, objective)) => {
            assert_ne!(
                c.status,
                CapacityStatus::Infeasible,
                "a purchase of {cost} places the demand"
            );
            assert!(c.bound <= cost, "bound {} above the cheapest {cost}", c.bound);
            if exact && c.status == CapacityStatus::Optimal {
                assert_eq!(c.cost, cost, "the cheapest purchase");
                let plan = c.plan.as_ref().unwrap();
                if plan.status == fleetfit::domain::SolveStatus::Optimal {
                    let o = &plan.objective;
                    let got = (o.placed_value, -(o.quantization_penalty as i64), -(o.gpus_used as i64));
                    assert_eq!(got, objective, "section 6 among the cheapest purchases");
                }
            } else {
                assert!(c.cost >= cost);
            }
        }
    }
}

/// The most nodes a cheapest purchase buys: a node per stage of the required replicas, and one per
/// GPU the fleet and per-type reserves keep free.
fn nodes_bound(workload: &Workload, required: &[String]) -> u64 {
    let stages: u64 = workload
        .deployments
        .iter()
        .filter(|d| required.contains(&d.name))
        .map(|d| d.replicas * d.pipeline_parallel.iter().copied().max().unwrap_or(1))
        .sum();
    let reserve = &workload.policy.reserve;
    stages + reserve.fleet + reserve.per_type.values().sum::<u64>()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: brute_cases() / 4, ..ProptestConfig::default() })]

    /// SKUs without `max`, where the bound on a cheapest purchase keeps exhaustion small.
    #[test]
    fn random_tiny_capacity_plans_with_uncapped_skus_match_exhaustion(
        // Half the time a fleet whose one GPU is busy, so that something must be bought.
        fleet in prop_oneof![
            fleet_of(2, 2),
            Just("nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096, used_mib: 4096, utilization: 0, healthy: true}\n".to_string()),
        ],
        deployments in tiny_deployments(),
        skus in tiny_skus_uncapped(),
        min_priority in prop::option::of(2u64..=3),
    ) {
        let (_, workload) = parse(&fleet, &deployments);
        let must: Vec<String> = workload
            .deployments
            .iter()
            .filter(|d| d.replicas > 0 && min_priority.is_none_or(|p| d.priority >= p))
            .map(|d| d.name.clone())
            .collect();
        prop_assume!(nodes_bound(&workload, &must) <= 2);
        assert_capacity_matches_brute_force(&fleet, &deployments, &skus, min_priority);
    }

    #[test]
    fn random_tiny_capacity_plans_match_exhaustion(
        fleet in fleet_of(2, 2),
        deployments in tiny_deployments(),
        skus in tiny_skus(),
        min_priority in prop::option::of(2u64..=3),
    ) {
        assert_capacity_matches_brute_force(&fleet, &deployments, &skus, min_priority);
    }
}

#[test]
fn alike_candidates_are_counted_and_bought_first_to_last() {
    // Six one-GPU replicas, nothing in the fleet free: three 2-GPU nodes of one SKU, counted as
    // one class, bought as s0-1..s0-3.
    let fleet = "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096, used_mib: 4096, utilization: 0, healthy: true}\n";
    let deployments = "policy: {overhead_mib: 0}\nmodels:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\ndeployments:\n  - {name: d, model: tiny, replicas: 6, tensor_parallel: [1, 2], kv_cache_tokens: 32768}\n";
    let skus = "skus:\n  - {name: s0, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 5, max: 8}\n";
    assert_capacity_matches_brute_force(fleet, deployments, skus, None);
    let (f, w) = parse(fleet, deployments);
    let (_dir, path) = temp_file("skus.yaml", skus);
    let loaded = skus_file::load(&path).unwrap();
    let c = capacity(&f, &w, &loaded, &path, None, Duration::from_secs(60)).unwrap();
    assert_eq!((c.status, c.cost, c.bound), (CapacityStatus::Optimal, 15, 15));
    let names: Vec<&str> = c
        .grown
        .as_ref()
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["a", "s0-1", "s0-2", "s0-3"]);
}
