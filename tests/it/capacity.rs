//! Capacity planning: the cheapest purchase, proven, on cases known by hand.

use std::time::Duration;

use fleetfit::solver::capacity::{Capacity, CapacityStatus};
use fleetfit::workflows::capacity::capacity;

use super::common::*;

const TINY: &str = "models:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\n";

/// Plans capacity for YAML texts; every plan is checked against the grown fleet.
fn plan(fleet: &str, deployments: &str, skus: &str, min_priority: Option<u64>) -> Capacity {
    let (f, w) = parse(fleet, deployments);
    let (_dir, path) = temp_file("skus.yaml", skus);
    let skus = fleetfit::formats::skus_file::load(&path).unwrap();
    capacity_probe(&f, &w, &skus, &path, min_priority);
    let c = capacity(&f, &w, &skus, &path, min_priority, Duration::from_secs(60)).unwrap();
    if let (Some(plan), Some(grown)) = (&c.plan, &c.grown) {
        assert_valid(grown, &w, plan);
        // Every required replica is placed.
        for d in &w.deployments {
            if min_priority.is_none_or(|p| d.priority >= p) {
                assert_eq!(placed(plan, &d.name) as u64, d.replicas, "{}", d.name);
            }
        }
    }
    c
}

fn bought(c: &Capacity) -> Vec<(&str, u64)> {
    c.purchase
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| (s.as_str(), *n))
        .collect()
}

fn deps(policy: &str, list: &str) -> String {
    format!("policy: {{overhead_mib: 0{policy}}}\n{TINY}deployments:\n{list}")
}

#[test]
fn the_cheapest_purchase_known_by_hand() {
    // 2 GPUs idle, 4 one-GPU replicas asked: two more GPUs. A 2-GPU node (10) beats a 4-GPU
    // node (30) and two 1-GPU nodes (2 x 6).
    let c = plan(
        &format!("nodes:\n{}", idle_node("a", "A", 2, 4096)),
        &deps(
            "",
            "  - {name: d, model: tiny, replicas: 4, tensor_parallel: [1], kv_cache_tokens: 32768}\n",
        ),
        "skus:\n  - {name: one, gpu_type: A, gpu_count: 1, memory_mib: 4096, cost: 6}\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n  - {name: four, gpu_type: A, gpu_count: 4, memory_mib: 4096, cost: 30}\n",
        None,
    );
    assert_eq!(c.status, CapacityStatus::Optimal);
    assert_eq!((c.cost, c.bound), (10, 10));
    assert_eq!(bought(&c), [("two", 1)]);
    let grown = c.grown.unwrap();
    assert!(grown.node("two-1").is_some() && grown.node("two-2").is_none());
}

#[test]
fn a_cheaper_sku_whose_nodes_break_head_divisibility_is_useless() {
    // TP 4 only (8 heads): a 3-GPU node can hold no stage, so the dearer 4-GPU node is bought.
    let c = plan(
        &format!("nodes:\n{}", idle_node("a", "A", 1, 4096)),
        &deps(
            "",
            "  - {name: d, model: tiny, replicas: 1, tensor_parallel: [4], kv_cache_tokens: 32768}\n",
        ),
        "skus:\n  - {name: three, gpu_type: A, gpu_count: 3, memory_mib: 4096, cost: 5}\n  - {name: four, gpu_type: A, gpu_count: 4, memory_mib: 4096, cost: 40}\n",
        None,
    );
    assert_eq!(bought(&c), [("four", 1)]);
    assert_eq!(c.cost, 40);
}

#[test]
fn two_skus_mixed() {
    let c = plan(
        &format!("nodes:\n{}", idle_node("a", "A", 1, 4096)),
        &deps(
            "",
            "  - {name: on-a, model: tiny, replicas: 2, tensor_parallel: [1], kv_cache_tokens: 32768, gpu_types: [A]}\n  - {name: on-b, model: tiny, replicas: 2, tensor_parallel: [1], kv_cache_tokens: 32768, gpu_types: [B]}\n",
        ),
        "skus:\n  - {name: a2, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n  - {name: b2, gpu_type: B, gpu_count: 2, memory_mib: 4096, cost: 12}\n",
        None,
    );
    assert_eq!(bought(&c), [("a2", 1), ("b2", 1)]);
    assert_eq!(c.cost, 22);
    assert_eq!(c.status, CapacityStatus::Optimal);
}

#[test]
fn no_purchase_within_max_is_infeasible_with_reasons() {
    let c = plan(
        &format!("nodes:\n{}", idle_node("a", "A", 1, 4096)),
        &deps(
            "",
            "  - {name: d, model: tiny, replicas: 5, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: wide, model: tiny, replicas: 1, tensor_parallel: [8], kv_cache_tokens: 32768}\n",
        ),
        "skus:\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10, max: 1}\n",
        None,
    );
    assert_eq!(c.status, CapacityStatus::Infeasible);
    assert!(c.plan.is_none());
    let wide = c
        .unplaced
        .iter()
        .find(|u| u.deployment == "wide")
        .expect("wide is unplaced");
    assert!(wide.reasons[0].contains("needs 8 eligible GPUs"), "{:?}", wide.reasons);
    let d = c.unplaced.iter().find(|u| u.deployment == "d").expect("d is unplaced");
    assert_eq!(d.placed, 3);
}

#[test]
fn a_fleet_reserve_forces_one_more_node() {
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 2, 4096));
    let list = "  - {name: d, model: tiny, replicas: 3, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let skus = "skus:\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n";
    assert_eq!(bought(&plan(&fleet, &deps("", list), skus, None)), [("two", 1)]);
    // Two GPUs must stay free: 3 used + 2 free = 5 > 4, so a second node.
    let c = plan(&fleet, &deps(", reserve: {fleet: 2}", list), skus, None);
    assert_eq!(bought(&c), [("two", 2)]);
    assert_eq!(c.plan.unwrap().fleet.gpus_free, 3);
}

#[test]
fn min_priority_lets_low_priority_demand_fill_what_is_left() {
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 2, 4096));
    let list = "  - {name: important, model: tiny, replicas: 3, priority: 10, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: batch, model: tiny, replicas: 6, priority: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let skus = "skus:\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n";
    let c = plan(&fleet, &deps("", list), skus, Some(5));
    assert_eq!(bought(&c), [("two", 1)]);
    let plan_ = c.plan.unwrap();
    assert_eq!(placed(&plan_, "important"), 3);
    assert_eq!(placed(&plan_, "batch"), 1, "batch fills the one GPU left");
    // Without the filter, batch drives the purchase too.
    let all = plan(&fleet, &deps("", list), skus, None);
    assert_eq!(bought(&all), [("two", 4)]);
}

#[test]
fn the_demo_capacity_plan_checks_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("capacity.json");
    let grown = dir.path().join("grown.yaml");
    let run = fleetfit(&[
        "capacity",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--skus",
        "data/demo/skus.yaml",
        "--out",
        out.to_str().unwrap(),
        "--out-fleet",
        grown.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("optimal (proven)"));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["status"], "optimal");
    assert_eq!(json["cost"], json["bound"]);
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, serde_json::to_string(&json["plan"]).unwrap()).unwrap();
    let check = fleetfit(&[
        "check",
        "--fleet",
        grown.to_str().unwrap(),
        "--deployments",
        "data/demo/deployments.yaml",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn the_proven_purchase_never_costs_more_than_an_autoscalers() {
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 2, 4096));
    let list = "  - {name: d, model: tiny, replicas: 4, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let skus_text = "skus:\n  - {name: one, gpu_type: A, gpu_count: 1, memory_mib: 4096, cost: 6}\n  - {name: four, gpu_type: A, gpu_count: 4, memory_mib: 4096, cost: 14}\n";
    let c = plan(&fleet, &deps("", list), skus_text, None);
    let (f, w) = parse(&fleet, &deps("", list));
    let (_dir, path) = temp_file("skus.yaml", skus_text);
    let skus = fleetfit::formats::skus_file::load(&path).unwrap();
    let (auto, _) = fleetfit::solver::capacity::autoscaler_purchase(&f, &w, &skus, None).unwrap();
    // Two more GPUs: the autoscaler buys the node that places the most (the 4-GPU one, 14);
    // two 1-GPU nodes cost 12.
    assert_eq!((c.cost, auto), (12, 14));
}

#[test]
fn out_of_time_the_greedy_purchase_stands_with_a_valid_plan() {
    // Demand that needs nodes bought, and no time for HiGHS: the answer is the greedy purchase
    // (existing nodes first, then the cheapest per GPU), unproven, its plan valid.
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 2, 4096));
    let list = "  - {name: d, model: tiny, replicas: 5, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let skus_text = "skus:\n  - {name: dear, gpu_type: A, gpu_count: 1, memory_mib: 4096, cost: 10}\n  - {name: cheap, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 12}\n";
    let (f, w) = parse(&fleet, &deps("", list));
    let (_dir, path) = temp_file("skus.yaml", skus_text);
    let skus = fleetfit::formats::skus_file::load(&path).unwrap();
    let c = capacity(&f, &w, &skus, &path, None, Duration::from_nanos(1)).unwrap();
    let (plan, grown) = (c.plan.as_ref().unwrap(), c.grown.as_ref().unwrap());
    assert_valid(grown, &w, plan);
    assert_eq!(placed(plan, "d"), 5);
    assert!(c.cost >= 22, "three more GPUs cost at least 22: {}", c.cost);
    assert!(c.bound <= 22);
}

#[test]
fn the_readme_capacity_session_runs_as_shown() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let shown: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("$ fleetfit capacity"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    let out = fleetfit(&[
        "capacity",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--skus",
        "data/demo/skus.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert_eq!(got.lines().collect::<Vec<_>>(), shown);
}

#[test]
fn a_sku_without_max_that_needs_more_than_the_first_search_considers_is_bought() {
    // Issue 28, finding 1: 50 one-GPU replicas, one GPU in the fleet, and a one-GPU SKU without
    // `max`: 49 nodes;
    // the first search considers 32 of them, finds no purchase, and must not answer
    // `infeasible`: the second considers every node that could help.
    let c = plan(
        &format!("nodes:\n{}", idle_node("x", "X", 1, 4096)),
        &deps(
            "",
            "  - {name: d, model: tiny, replicas: 50, tensor_parallel: [1], kv_cache_tokens: 32768}\n",
        ),
        "skus:\n  - {name: one, gpu_type: A, gpu_count: 1, memory_mib: 4096, cost: 6}\n",
        None,
    );
    assert_eq!(c.status, CapacityStatus::Optimal, "{:?}", c.restrictions);
    assert_eq!(bought(&c), [("one", 49)]);
    assert_eq!((c.cost, c.bound), (294, 294));
    assert!(c.restrictions.is_empty(), "{:?}", c.restrictions);
}

#[test]
fn a_gpu_type_no_sku_offers_is_the_one_cause_listed() {
    // Issue 28, finding 3: one required deployment wants a GPU type no SKU offers; the others
    // fit once nodes are bought. The answer names that deployment and its cause, and no
    // "at most 0 of N" line for the others.
    let mut list = String::new();
    for i in 0..24 {
        list +=
            &format!("  - {{name: d{i:02}, model: tiny, replicas: 2, tensor_parallel: [1], kv_cache_tokens: 32768}}\n");
    }
    list += "  - {name: z, model: tiny, replicas: 1, tensor_parallel: [1], kv_cache_tokens: 32768, gpu_types: [Z]}\n";
    let c = plan(
        &format!("nodes:\n{}", idle_node("a", "A", 2, 4096)),
        &deps("", &list),
        "skus:\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n",
        None,
    );
    assert_eq!(c.status, CapacityStatus::Infeasible);
    let names: Vec<&str> = c.unplaced.iter().map(|u| u.deployment.as_str()).collect();
    assert_eq!(names, ["z"]);
    assert!(c.unplaced_proven());
    let reasons = c.unplaced[0].reasons.join("; ");
    assert!(
        reasons.contains("no GPU in the fleet is of an allowed type (Z)"),
        "{reasons}"
    );
    assert!(reasons.contains("the SKUs offer A"), "{reasons}");
}

#[test]
fn one_fewer_says_what_is_left_out_only_from_a_proven_plan() {
    // Issue 28, finding 6. Proven: 4 one-GPU replicas on a 2-GPU fleet buy one 2-GPU node;
    // without it, 2 replicas are left out.
    let c = plan(
        &format!("nodes:\n{}", idle_node("a", "A", 2, 4096)),
        &deps(
            "",
            "  - {name: d, model: tiny, replicas: 4, tensor_parallel: [1], kv_cache_tokens: 32768}\n",
        ),
        "skus:\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n",
        None,
    );
    assert_eq!(c.one_fewer.len(), 1);
    assert_eq!(c.one_fewer[0].left_out, Some(vec![("d".to_string(), 2)]));
    // Two sizes of one type that the planner keeps apart: no plan of this fleet is proven, so no
    // "one fewer would leave out" claim is made.
    let fleet = "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 4608, used_mib: 2400}\n  - name: b\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096, used_mib: 2000}\n";
    let c = plan(
        fleet,
        &deps(
            "",
            "  - {name: d, model: tiny, replicas: 2, priority: 2, tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 1024, gpu_memory_utilization: 0.5}\n  - {name: e, model: tiny, replicas: 1, priority: 0, tensor_parallel: [1], kv_cache_tokens: 1024}\n",
        ),
        "skus:\n  - {name: two, gpu_type: A, gpu_count: 2, memory_mib: 4096, cost: 10}\n",
        Some(1),
    );
    assert_ne!(c.status, CapacityStatus::Optimal);
    assert!(!c.restrictions.is_empty());
    assert!(!c.one_fewer.is_empty());
    assert!(c.one_fewer.iter().all(|f| f.left_out.is_none()), "{:?}", c.one_fewer);
}
