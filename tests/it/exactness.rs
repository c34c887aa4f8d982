//! Inputs whose only plans split stages over nodes, mix memory sizes of one GPU type, or stack
//! sharing pipelines: the solver places them, proves it, and the checker and exhaustion agree.

use fleetfit::domain::{Plan, SolveStatus};

use super::brute;
use super::common::*;

/// Plans `data/exactness/NAME` through the binary, checks the plan through the binary, and
/// compares the solver with exhaustion.
fn plan_case(name: &str) -> Plan {
    let fleet = format!("data/exactness/{name}/fleet.yaml");
    let deployments = format!("data/exactness/{name}/deployments.yaml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let out = out.to_str().unwrap();
    let planned = fleetfit(&["plan", "--fleet", &fleet, "--deployments", &deployments, "--out", out]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let checked = fleetfit(&["check", "--fleet", &fleet, "--deployments", &deployments, "--plan", out]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));
    let plan: Plan = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let (f, w) = load(
        &format!("exactness/{name}/fleet.yaml"),
        &format!("exactness/{name}/deployments.yaml"),
    );
    let best = brute::optimum(&f, &w);
    let o = &plan.objective;
    assert_eq!(
        (o.placed_value, -(o.quantization_penalty as i64), -(o.gpus_used as i64)),
        best
    );
    assert_eq!(plan.status, SolveStatus::Optimal);
    plan
}

#[test]
fn a_spread_replica_splits_its_stages_two_and_one() {
    let plan = plan_case("spread-split");
    let nodes: Vec<&str> = plan.replicas[0].stages.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(nodes, ["a", "a", "b"]);
}

#[test]
fn one_replica_uses_two_memory_sizes_of_one_type() {
    let plan = plan_case("two-memory-sizes");
    assert_eq!(plan.replicas.len(), 1);
    let nodes: Vec<&str> = plan.replicas[0].stages.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(nodes, ["a", "b"]);
}

#[test]
fn sharing_pipelines_stack_on_the_same_two_gpus() {
    let plan = plan_case("sharing-pipeline");
    assert_eq!(plan.replicas.len(), 2);
    assert_eq!(plan.objective.gpus_used, 2);
}
