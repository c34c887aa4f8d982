//! Reasons attached to unplaced demand: short, specific, most decisive first.

use super::common::*;

fn reasons(fleet_yaml: &str, deployments_yaml: &str) -> Vec<String> {
    let plan = plan_yaml(fleet_yaml, deployments_yaml);
    assert_eq!(plan.unplaced.len(), 1, "{}", plan.to_json());
    plan.unplaced[0].reasons.clone()
}

#[test]
fn the_405b_seed_names_the_busy_gpu_the_memory_and_the_heads() {
    let (fleet, workload) = load("seed-405b/fleet.yaml", "seed-405b/deployments-tp-only.yaml");
    let plan = solve(&fleet, &workload).plan;
    let reasons = &plan.unplaced[0].reasons;
    assert!(
        reasons[0].contains("a100-01 has 7") && reasons[0].contains("GPU 0 is 92% full"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("128 attention heads are not divisible by tensor parallel size 7"))
    );
    insta::assert_snapshot!("explain_405b", reasons.join("\n"));
}

#[test]
fn no_matching_node_or_type_is_said_first() {
    let fleet = format!("nodes:\n{}    labels: {{zone: east}}\n", idle_node("a", "A", 2, 81920));
    let r = reasons(
        &fleet,
        "deployments:\n  - {name: d, model: llama-3.1-8b, node_selector: {zone: west}}\n",
    );
    insta::assert_snapshot!("explain_selector", r.join("\n"));
    let r = reasons(
        &fleet,
        "deployments:\n  - {name: d, model: llama-3.1-8b, gpu_types: [H100]}\n",
    );
    insta::assert_snapshot!("explain_types", r.join("\n"));
}

#[test]
fn memory_that_never_fits_says_by_how_much() {
    let r = reasons(
        &format!("nodes:\n{}", idle_node("a", "L4", 2, 23034)),
        "deployments:\n  - {name: d, model: llama-3.1-70b, tensor_parallel: [1, 2]}\n",
    );
    insta::assert_snapshot!("explain_memory", r.join("\n"));
}

#[test]
fn competition_is_named_when_shapes_fit() {
    let r = reasons(
        &format!("nodes:\n{}", idle_node("a", "A", 1, 81920)),
        "deployments:\n  - {name: big, model: llama-3.1-8b, priority: 5}\n  - {name: small, model: qwen2.5-0.5b}\n",
    );
    assert_eq!(
        r,
        vec!["alone it would place 1 of 1; the GPUs those need hold replicas of equal or higher value (big)"]
    );
}

#[test]
fn no_competition_is_blamed_when_the_deployment_alone_places_no_more() {
    // Two replicas, spread, one node: nothing competes, spread is the limit.
    let r = reasons(
        &format!("nodes:\n{}", idle_node("a", "A", 2, 81920)),
        "deployments:\n  - {name: s, model: qwen2.5-0.5b, replicas: 2, tensor_parallel: [1], spread: true}\n",
    );
    assert_eq!(
        r,
        vec![
            "even alone on the fleet it places only 1 of 2",
            "spread: no node may hold GPUs of two of its replicas, and too few nodes have room"
        ]
    );
    // The reserve, not other deployments, keeps the second replica out.
    let r = reasons(
        &format!("nodes:\n{}", idle_node("a", "A", 2, 81920)),
        "policy: {reserve: {fleet: 1}}\ndeployments:\n  - {name: s, model: qwen2.5-0.5b, replicas: 2, tensor_parallel: [1]}\n",
    );
    assert_eq!(r[0], "even alone on the fleet it places only 1 of 2");
    assert!(
        r[1].starts_with("policy.reserve keeps GPUs free (per_node 0, fleet 1"),
        "{r:?}"
    );
}

#[test]
fn kv_heads_layers_and_an_unhealthy_gpu_are_named_with_their_numbers() {
    let fleet = "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 16384}\n      - {index: 1, type: A, memory_mib: 16384, healthy: false}\n";
    let models = "models:\n  - {id: odd, params: 1073741824, layers: 8, hidden_size: 1536, heads: 12, kv_heads: 3, head_dim: 128, dtype: bf16}\n  - {id: even, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\n";
    let one = |model: &str, tp: &str, pp: &str| {
        reasons(
            fleet,
            &format!("policy: {{overhead_mib: 0}}\n{models}deployments:\n  - {{name: d, model: {model}, replicas: 1, tensor_parallel: {tp}, pipeline_parallel: {pp}, kv_cache_tokens: 4096}}\n"),
        )
        .join("\n")
    };
    let kv = one("odd", "[2]", "[1]");
    assert!(
        kv.contains("3 KV heads and tensor parallel size 2 do not divide one another"),
        "{kv}"
    );
    let layers = one("even", "[1]", "[16]");
    assert!(
        layers.contains("16 pipeline stages is more than the model's 8 layers"),
        "{layers}"
    );
    let unhealthy = one("even", "[2]", "[1]");
    assert!(unhealthy.contains("GPU 1 is unhealthy"), "{unhealthy}");
}

#[test]
fn reasons_of_a_proven_plan_do_not_depend_on_the_time_limit() {
    // Issue 28, finding 4: the same proven-optimal plan under a long and a short time limit
    // carries the same reasons (the re-solves behind them are not cut to a share of the limit).
    let (fleet, workload) = parse(
        &format!("nodes:\n{}", idle_node("a", "A", 1, 81920)),
        "deployments:\n  - {name: big, model: llama-3.1-8b, priority: 5}\n  - {name: small, model: qwen2.5-0.5b}\n",
    );
    let at = |seconds: f64| {
        let options = fleetfit::solver::SolveOptions {
            time_limit: std::time::Duration::from_secs_f64(seconds),
            ..Default::default()
        };
        let solved = fleetfit::explain::solve(&fleet, &workload, &options).unwrap();
        assert_valid(&fleet, &workload, &solved.plan);
        (solved.plan.status == fleetfit::domain::SolveStatus::Optimal).then_some(solved.plan.unplaced)
    };
    let long = at(60.0).expect("proven");
    assert_eq!(long.len(), 1);
    assert!(
        long[0].reasons[0].starts_with("alone it would place 1 of 1"),
        "{long:?}"
    );
    // (A limit so short that the plan itself is not proven, on a loaded machine, says nothing.)
    let mut proven = 0;
    for short in [0.5, 0.05, 0.005, 0.002] {
        if let Some(unplaced) = at(short) {
            assert_eq!(unplaced, long, "--time-limit {short}");
            proven += 1;
        }
    }
    assert!(proven >= 2);
}
