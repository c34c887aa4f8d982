//! `explain`'s suggestions: each kind found where it is the fix, each re-solved; the seed case
//! as a golden table through the binary.

use std::time::Duration;

use fleetfit::domain::Suggestion;

use super::common::*;

const TINY: &str = "models:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\n";

/// Suggestions for `name` on YAML inputs, the plan solved first.
fn suggestions(fleet: &str, deployments: &str, name: &str) -> Vec<Suggestion> {
    let (f, w) = parse(fleet, deployments);
    let plan = solve(&f, &w).plan;
    fleetfit::suggest::suggest(&f, &w, &plan, name, Duration::from_secs(30))
}

fn changes(s: &[Suggestion]) -> Vec<&str> {
    s.iter().map(|s| s.change.as_str()).collect()
}

#[test]
fn the_seed_case_suggests_pipeline_quantization_freeing_gpu_0_and_a_node() {
    let (f, w) = load("seed-405b/fleet.yaml", "seed-405b/deployments-tp-only.yaml");
    let plan = solve(&f, &w).plan;
    let s = fleetfit::suggest::suggest(&f, &w, &plan, "llama-405b", Duration::from_secs(30));
    let c = changes(&s);
    assert!(c[0].starts_with("use fp8 TP") && c[0].contains("PP"), "{c:?}");
    assert!(c.iter().any(|c| c.starts_with("quantization int4")), "{c:?}");
    assert!(c.iter().any(|c| c.starts_with("free GPU 0 of a100-01")), "{c:?}");
    assert!(c.iter().any(|c| c.starts_with("add a node like a100-01")), "{c:?}");
    assert!(
        s.iter()
            .all(|s| s.placed_value == 1 && s.cost.contains("nothing else loses its place"))
    );
}

#[test]
fn fewer_kv_tokens_is_suggested_at_the_largest_value_tried_that_fits() {
    // A 4096 MiB GPU; the tiny model's bf16 weights take 2048 MiB and each KV token 32 KiB, so
    // 65536 tokens (2048 MiB) fit beside them and 131072 do not.
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 1, 4096));
    let deployments = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 1, tensor_parallel: [1], quantizations: [bf16], kv_cache_tokens: 131072}}\n"
    );
    let s = suggestions(&fleet, &deployments, "d");
    let kv: Vec<&str> = changes(&s)
        .into_iter()
        .filter(|c| c.starts_with("kv_cache_tokens"))
        .collect();
    // Tried 7/8, 6/8, ... of 131072: 4/8 is the largest that fits.
    assert_eq!(kv, ["kv_cache_tokens 65536 (from 131072)"], "{:?}", changes(&s));
}

#[test]
fn a_relaxed_reserve_is_suggested_where_the_reserve_holds_the_gpu() {
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 2, 8192));
    let deployments = format!(
        "policy: {{overhead_mib: 0, reserve: {{fleet: 1}}}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 2, tensor_parallel: [1], kv_cache_tokens: 8192}}\n"
    );
    let c = suggestions(&fleet, &deployments, "d");
    assert!(changes(&c).contains(&"policy.reserve.fleet 0"), "{:?}", changes(&c));
}

#[test]
fn a_lower_memory_utilization_is_suggested_at_the_largest_value_tried_that_fits() {
    // GPU 0 has 6144 MiB free: utilization 0.8 reserves 6553 MiB of its 8192, 0.75 reserves 6144.
    let fleet = "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 8192, used_mib: 2048}\n      - {index: 1, type: A, memory_mib: 8192}\n";
    let deployments = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 2, tensor_parallel: [1], quantizations: [bf16], kv_cache_tokens: 8192, gpu_memory_utilization: 0.8}}\n"
    );
    let c = suggestions(fleet, &deployments, "d");
    let gmu: Vec<&str> = changes(&c)
        .into_iter()
        .filter(|c| c.starts_with("gpu_memory_utilization"))
        .collect();
    assert_eq!(gmu, ["gpu_memory_utilization 0.75 (from 0.8)"], "{:?}", changes(&c));
}

#[test]
fn a_higher_priority_names_the_replicas_that_lose_their_place() {
    let fleet = format!("nodes:\n{}", idle_node("a", "A", 2, 4096));
    let deployments = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: big, model: tiny, replicas: 2, priority: 5, tensor_parallel: [1], kv_cache_tokens: 8192}}\n  - {{name: small, model: tiny, replicas: 1, priority: 1, tensor_parallel: [1], kv_cache_tokens: 8192}}\n"
    );
    let s = suggestions(&fleet, &deployments, "small");
    let raise = s
        .iter()
        .find(|s| s.change.starts_with("priority 6"))
        .expect("a priority suggestion");
    assert!(
        raise.cost.contains("1 replica of big loses its place"),
        "{}",
        raise.cost
    );
}

#[test]
fn explain_through_the_binary_is_golden_on_the_seed() {
    let out = fleetfit(&[
        "explain",
        "--fleet",
        "data/seed-405b/fleet.yaml",
        "--deployments",
        "data/seed-405b/deployments-tp-only.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
    let json = fleetfit(&[
        "explain",
        "--fleet",
        "data/seed-405b/fleet.yaml",
        "--deployments",
        "data/seed-405b/deployments-tp-only.yaml",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["unplaced"][0]["suggestions"].as_array().unwrap().len() >= 3);
    assert!(!v["unplaced"][0]["reasons"].as_array().unwrap().is_empty());
}

#[test]
fn plan_with_explain_carries_suggestions_in_its_json_and_still_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let (fleet, deployments) = ("data/seed-405b/fleet.yaml", "data/seed-405b/deployments-tp-only.yaml");
    let planned = fleetfit(&[
        "plan",
        "--fleet",
        fleet,
        "--deployments",
        deployments,
        "--explain",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    assert!(
        text(&planned.stdout).contains("    + use fp8 TP"),
        "{}",
        text(&planned.stdout)
    );
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let suggestions = plan["unplaced"][0]["suggestions"].as_array().unwrap();
    assert!(suggestions.len() >= 3 && suggestions.iter().all(|s| s["placed_value"] == 1));
    let check = fleetfit(&[
        "check",
        "--fleet",
        fleet,
        "--deployments",
        deployments,
        "--plan",
        out.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn a_change_that_only_swaps_equal_priority_replicas_is_not_suggested() {
    // On the demo, batch-qwen3-moe (priority 2) already runs bf16 at TP 1 beside mistral-nemo
    // (priority 2): a re-solve may place one more of it by dropping one mistral-nemo, whatever
    // the change. Only changes that serve the fleet more (or a priority change) are shown, and
    // a quantization is suggested only where the re-solve uses it.
    let (f, w) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let plan = solve(&f, &w).plan;
    let s = fleetfit::suggest::suggest(&f, &w, &plan, "batch-qwen3-moe", Duration::from_secs(30));
    assert!(!s.is_empty());
    for suggestion in &s {
        if !suggestion.change.starts_with("priority") {
            assert!(
                suggestion.placed_value > plan.objective.placed_value,
                "{suggestion:?} serves no more than {}",
                plan.objective.placed_value
            );
        }
        if let Some(q) = suggestion.change.strip_prefix("quantization ") {
            assert!(suggestion.cost.contains(q), "{suggestion:?} does not use {q}");
        }
        assert!(!suggestion.change.starts_with("use bf16 TP 1 x PP 1"), "{suggestion:?}");
    }
}
