//! Semantic warnings: valid input that is probably a mistake. Each warning has a test.

use std::path::Path;

use super::common::*;

fn warnings(deployments_yaml: &str) -> Vec<String> {
    let (fleet, workload) = parse(
        &format!("nodes:\n{}", idle_node("n", "A100-SXM4-80GB", 8, 81920)),
        deployments_yaml,
    );
    fleetfit::lint::lint(&fleet, &workload, Path::new("d.yaml"))
        .iter()
        .map(|w| w.to_string())
        .collect()
}

fn has(warnings: &[String], text: &str) -> bool {
    warnings.iter().any(|w| w.contains(text))
}

#[test]
fn a_gpu_type_no_node_has() {
    let w = warnings("deployments:\n  - {name: a, model: llama-3.1-8b, gpu_types: [H200, A100-SXM4-80GB]}\n");
    assert!(
        has(
            &w,
            "warning: d.yaml: deployments[0].gpu_types[0]: no node has GPUs of type 'H200'"
        ),
        "{w:?}"
    );
    assert!(!has(&w, "gpu_types[1]"));
}

#[test]
fn a_deployment_no_gpu_type_can_hold() {
    let w = warnings("deployments:\n  - {name: a, model: llama-3.1-405b, tensor_parallel: [1, 2]}\n");
    assert!(
        has(&w, "deployments[0]: no allowed shape of llama-3.1-405b fits"),
        "{w:?}"
    );
    assert!(warnings("deployments:\n  - {name: a, model: llama-3.1-8b}\n").is_empty());
}

#[test]
fn a_quantization_above_the_native_precision() {
    let w = warnings(
        "deployments:\n  - {name: a, model: deepseek-v3, quantizations: [fp8, bf16], tensor_parallel: [8], pipeline_parallel: [2]}\n",
    );
    assert!(
        has(
            &w,
            "deployments[0].quantizations[1]: bf16 stores 16 bits per weight, more than the model's native fp8"
        ),
        "{w:?}"
    );
    assert!(!has(&w, "quantizations[0]"));
}

#[test]
fn reserves_larger_than_the_fleet() {
    let w = warnings(
        "policy: {reserve: {per_node: 8, fleet: 9, per_type: {A100-SXM4-80GB: 8, H200: 1}}}\ndeployments:\n  - {name: a, model: llama-3.1-8b}\n",
    );
    for field in [
        "policy.reserve.per_node",
        "policy.reserve.fleet",
        "policy.reserve.per_type.A100-SXM4-80GB",
        "policy.reserve.per_type.H200",
    ] {
        assert!(has(&w, field), "{field}: {w:?}");
    }
}

#[test]
fn sharing_without_a_memory_fraction_and_contexts_past_the_model() {
    let w = warnings("deployments:\n  - {name: a, model: qwen2.5-0.5b, share_gpu: true, max_model_len: 65536}\n");
    assert!(
        has(&w, "deployments[0].share_gpu: sharing without gpu_memory_utilization"),
        "{w:?}"
    );
    assert!(
        has(
            &w,
            "deployments[0].max_model_len: 65536 is longer than the model's 32768 positions"
        ),
        "{w:?}"
    );
}

#[test]
fn warnings_go_to_stderr_and_the_plan_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d.yaml");
    std::fs::write(
        &d,
        "deployments:\n  - {name: a, model: llama-3.1-8b, gpu_types: [H200, H100-SXM5-80GB]}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetfit"))
        .args([
            "plan",
            "--fleet",
            data("dynamo/fleet.yaml").to_str().unwrap(),
            "--deployments",
            d.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gpu_types[0]: no node has GPUs of type 'H200'"));
}

#[test]
fn no_allowed_tp_divides_the_heads() {
    let w = warnings("deployments:\n  - {name: a, model: llama-3.1-8b, tensor_parallel: [3]}\n");
    assert!(
        has(
            &w,
            "warning: d.yaml: deployments[0].tensor_parallel: no allowed TP x PP can serve llama-3.1-8b: 32 attention heads are not divisible by tensor parallel size 3"
        ),
        "{w:?}"
    );
    assert!(!has(&w, "fits the memory"), "memory is not the cause: {w:?}");
}

#[test]
fn vllm_utilization_above_what_its_outside_memory_allows() {
    let w = warnings("deployments:\n  - {name: d, model: llama-3.1-8b, gpu_memory_utilization: 0.95}\n");
    assert!(
        has(&w, "deployments[0].gpu_memory_utilization: 0.95 leaves less than 8%"),
        "{w:?}"
    );
    let w = warnings("deployments:\n  - {name: d, model: llama-3.1-8b, gpu_memory_utilization: 0.9}\n");
    assert!(!has(&w, "leaves less than 8%"), "{w:?}");
    let w =
        warnings("deployments:\n  - {name: d, model: llama-3.1-8b, engine: sglang, gpu_memory_utilization: 0.95}\n");
    assert!(!has(&w, "leaves less than 8%"), "SGLang's budget differs: {w:?}");
}
