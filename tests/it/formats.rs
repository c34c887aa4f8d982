//! Input files: both syntaxes, every default, and errors that name file, field and problem.

use std::collections::BTreeMap;

use fleetfit::domain::{KvCacheDtype, Quantization};
use fleetfit::formats::{deployments_file, fleet_file};

use super::common::*;

/// The same document as JSON, via a YAML value.
fn to_json(yaml_text: &str) -> String {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml_text).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

#[test]
fn yaml_and_json_give_the_same_inputs_and_plan() {
    let (fleet_y, work_y) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let (_d1, fleet_path) = temp_file(
        "fleet.json",
        &to_json(&std::fs::read_to_string(data("demo/fleet.yaml")).unwrap()),
    );
    let (_d2, dep_path) = temp_file(
        "deployments.JSON",
        &to_json(&std::fs::read_to_string(data("demo/deployments.yaml")).unwrap()),
    );
    let fleet_j = fleet_file::load(&fleet_path).unwrap();
    let work_j = deployments_file::load(&dep_path).unwrap();
    assert_eq!(fleet_y, fleet_j);
    assert_eq!(work_y, work_j);
    assert_eq!(
        solve(&fleet_y, &work_y).plan.to_json(),
        solve(&fleet_j, &work_j).plan.to_json()
    );
}

#[test]
fn yml_extension_is_yaml() {
    let (_d, path) = temp_file("f.yml", &format!("nodes:\n{}", idle_node("n", "A", 1, 100)));
    assert_eq!(fleet_file::load(&path).unwrap().nodes.len(), 1);
}

#[test]
fn gpu_defaults_and_the_shorthand() {
    let (fleet, _) = parse(
        &format!(
            "nodes:\n{}  - name: m\n    gpus:\n      - {{index: 3, type: A, memory_mib: 10}}\n",
            idle_node("n", "H", 3, 81559)
        ),
        "deployments:\n  - {name: d, model: llama-3.1-8b}\n",
    );
    let n = &fleet.nodes[0];
    assert_eq!(n.gpus.iter().map(|g| g.index).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(n.gpus.iter().all(|g| g.gpu_type == "H"
        && g.memory_mib == 81559
        && g.used_mib == 0
        && g.utilization == 0
        && g.healthy));
    assert!(n.labels.is_empty());
    let g = &fleet.nodes[1].gpus[0];
    assert_eq!((g.index, g.used_mib, g.utilization, g.healthy), (3, 0, 0, true));
}

#[test]
fn deployment_and_policy_defaults() {
    let (_, w) = parse(
        &format!("nodes:\n{}", idle_node("n", "A", 1, 100)),
        "deployments:\n  - {name: d, model: llama-3.1-8b}\n  - {name: e, model: llama-3.1-8b, max_model_len: 8192}\n",
    );
    let p = &w.policy;
    assert_eq!(p.busy_threshold.to_f64(), 0.9);
    assert_eq!(p.overhead_mib, None, "no flat overhead: engine profiles decide");
    assert_eq!(p.engine, fleetfit::domain::Engine::Vllm);
    assert_eq!(
        (p.reserve.per_node, p.reserve.fleet, p.reserve.per_type.len()),
        (0, 0, 0)
    );
    let d = &w.deployments[0];
    assert_eq!(d.replicas, 1);
    assert_eq!(d.priority, 1);
    assert_eq!(d.quantizations, vec![Quantization::Bf16], "the model's dtype");
    assert_eq!(d.tensor_parallel, vec![1, 2, 4, 8]);
    assert_eq!(d.pipeline_parallel, vec![1]);
    assert_eq!(d.max_model_len, 4096);
    assert_eq!(d.kv_cache_tokens, 4096, "defaults to max_model_len");
    assert_eq!(d.kv_cache_dtype, KvCacheDtype::Auto);
    assert_eq!(d.gpu_memory_utilization, None);
    assert_eq!(d.gpu_types, None);
    assert_eq!(d.node_selector, BTreeMap::new());
    assert!(!d.spread && !d.share_gpu);
    assert_eq!(w.deployments[1].kv_cache_tokens, 8192);
}

#[test]
fn inline_model_defaults() {
    let (_, w) = parse(
        &format!("nodes:\n{}", idle_node("n", "A", 1, 100)),
        "models:\n  - {id: m, params: 10, layers: 2, hidden_size: 512, heads: 4, dtype: fp16}\ndeployments:\n  - {name: d, model: m}\n",
    );
    let m = &w.deployments[0].model;
    assert_eq!((m.kv_heads, m.head_dim), (4, 128));
    assert_eq!(w.deployments[0].quantizations, vec![Quantization::Fp16]);
}

#[test]
fn inline_models_override_the_catalog_and_weights_mib_overrides_size() {
    let (f, w) = parse(
        &format!("nodes:\n{}", idle_node("n", "A", 1, 81920)),
        "policy: {overhead_mib: 0}\nmodels:\n  - {id: llama-3.1-8b, params: 8030261248, layers: 32, hidden_size: 4096, heads: 32, kv_heads: 8, dtype: bf16, weights_mib: {int4: 1000}}\ndeployments:\n  - {name: d, model: llama-3.1-8b, quantizations: [int4], tensor_parallel: [1], kv_cache_tokens: 8}\n",
    );
    let plan = solve(&f, &w).plan;
    // 1000 MiB of weights + 8 tokens * 128 KiB = 1 MiB of KV cache.
    assert_eq!(plan.replicas[0].memory_per_gpu_mib, 1001);
}

#[test]
fn model_may_be_a_config_json_path_relative_to_the_deployments_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::copy(data("hf/qwen2.5-7b/config.json"), dir.path().join("m/config.json")).unwrap();
    std::fs::write(
        dir.path().join("d.yaml"),
        "deployments:\n  - {name: a, model: m/config.json}\n  - {name: b, model: ./m}\n",
    )
    .unwrap();
    let w = deployments_file::load(&dir.path().join("d.yaml")).unwrap();
    assert_eq!(w.deployments[0].model.params, 7_615_616_512);
    assert_eq!(w.deployments[1].model.kv_heads, 4);
}

/// Loads a deployments text (against a one-node fleet) and returns the error message.
fn deployments_error(text: &str) -> String {
    let (_d, path) = temp_file("deployments.yaml", text);
    deployments_file::load(&path).unwrap_err().to_string()
}

fn fleet_error(text: &str) -> String {
    let (_d, path) = temp_file("fleet.yaml", text);
    fleet_file::load(&path).unwrap_err().to_string()
}

#[test]
fn errors_name_the_file_the_field_and_the_problem() {
    let cases: Vec<(String, &str)> = vec![
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, tensor_parallel: [1, 0]}\n"),
            "deployments[0].tensor_parallel[1]: must be at least 1",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, pipeline_parallel: [0]}\n"),
            "deployments[0].pipeline_parallel[0]: must be at least 1",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, colour: red}\n"),
            "deployments[0].colour: unknown field `colour`",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, replicas: two}\n"),
            "deployments[0].replicas: invalid type",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, replicas: -1}\n"),
            "deployments[0].replicas: invalid type: integer `-1`, expected a whole number (0 or more)",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, gpu_memory_utilization: 1.5}\n"),
            "deployments[0].gpu_memory_utilization: 1.5 is outside (0, 1]",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, gpu_memory_utilization: 0}\n"),
            "deployments[0].gpu_memory_utilization: 0 is outside (0, 1]",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, quantizations: [bf16, nf4]}\n"),
            "deployments[0].quantizations[1]: unknown quantization 'nf4'; expected one of fp32, bf16",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-9}\n"),
            "deployments[0].model: unknown model 'llama-9'; similar catalog ids: llama-3.1-8b, llama-3.2-1b, llama-3.2-3b",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b}\n  - {name: d, model: llama-3.1-8b}\n"),
            "deployments[1].name: duplicate deployment name 'd' (also deployments[0])",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, kv_cache_dtype: fp4}\n"),
            "deployments[0].kv_cache_dtype: unknown 'fp4'; expected auto or fp8",
        ),
        (
            deployments_error("deployments:\n  - {name: d, model: llama-3.1-8b, replicas: 99999999999999999999999}\n"),
            "deployments[0].replicas",
        ),
        (
            deployments_error("policy: {busy_threshold: 1.2}\ndeployments:\n  - {name: d, model: llama-3.1-8b}\n"),
            "policy.busy_threshold: 1.2 is not a fraction between 0 and 1",
        ),
        (
            deployments_error(
                "models:\n  - {id: m, params: 0, layers: 2, hidden_size: 8, heads: 2, dtype: bf16}\ndeployments:\n  - {name: d, model: m}\n",
            ),
            "models[0].params: must be greater than 0",
        ),
        (
            deployments_error("deployments: []\n"),
            "deployments: no deployments are listed",
        ),
        (fleet_error("nodes: []\n"), "nodes: the fleet has no nodes"),
        (
            fleet_error(&format!(
                "nodes:\n{}{}",
                idle_node("a", "A", 1, 10),
                idle_node("a", "A", 1, 10)
            )),
            "nodes[1].name: duplicate node name 'a' (also nodes[0])",
        ),
        (
            fleet_error(
                "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 10}\n      - {index: 0, type: A, memory_mib: 10}\n",
            ),
            "nodes[0].gpus[1].index: duplicate GPU index 0",
        ),
        (
            fleet_error("nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 0}\n"),
            "nodes[0].gpus[0].memory_mib: must be between 1 and",
        ),
        (
            fleet_error("nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 10, used_mib: 11}\n"),
            "nodes[0].gpus[0].used_mib: 11 MiB used is more than the GPU's 10 MiB",
        ),
        (
            fleet_error(
                "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 10, utilization: 101}\n",
            ),
            "nodes[0].gpus[0].utilization: 101 is not a percentage",
        ),
        (
            fleet_error("nodes:\n  - {name: a, gpu_type: A, gpu_count: 0, memory_mib: 10}\n"),
            "nodes[0].gpu_count: must be at least 1",
        ),
        (
            fleet_error("nodes:\n  - {name: a, gpu_type: A, gpu_count: 2}\n"),
            "nodes[0].memory_mib: missing",
        ),
        (
            fleet_error("nodes:\n  - {name: a, gpu_type: A, gpu_count: 2, memory_mib: 5, gpus: []}\n"),
            "nodes[0]: give either `gpus` or the shorthand",
        ),
        (
            fleet_error("nodes:\n  - {name: a, gpu_type: A, gpu_count: 2, memory_mib: 5, zone: x}\n"),
            "nodes[0].zone: unknown field `zone`",
        ),
        (fleet_error(""), "the file is empty"),
    ];
    for (message, expected) in cases {
        assert!(message.contains(expected), "expected {expected:?} in {message:?}");
        assert!(message.contains(".yaml"), "names the file: {message}");
    }
}

#[test]
fn parse_errors_give_the_line() {
    let message =
        deployments_error("deployments:\n  - name: d\n    model: llama-3.1-8b\n    tensor_parallel: [1, x]\n");
    assert!(message.contains("deployments.yaml:4:"), "{message}");
    assert!(message.contains("deployments[0].tensor_parallel[1]"), "{message}");
    let (_d, path) = temp_file(
        "fleet.json",
        "{\"nodes\": [{\"name\": \"a\", \"gpu_type\": \"A\", \"gpu_count\": \"x\"}]}",
    );
    let message = fleet_file::load(&path).unwrap_err().to_string();
    assert!(
        message.contains("fleet.json:1:") && message.contains("nodes[0].gpu_count: invalid type"),
        "{message}"
    );
}

#[test]
fn files_that_are_not_utf8_or_have_other_extensions_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, b"nodes:\n  - name: \xff\xfe\n").unwrap();
    let message = fleet_file::load(&path).unwrap_err().to_string();
    assert!(message.contains("not UTF-8"), "{message}");
    let (_d, path) = temp_file("fleet.toml", "nodes = []");
    assert!(
        fleet_file::load(&path)
            .unwrap_err()
            .to_string()
            .contains("expected .yaml, .yml or .json")
    );
    let missing = dir.path().join("nope.yaml");
    assert!(
        fleet_file::load(&missing)
            .unwrap_err()
            .to_string()
            .contains("cannot read the file")
    );
}

#[test]
fn numeric_labels_are_strings() {
    let (fleet, w) = parse(
        "nodes:\n  - {name: a, labels: {rack: 7, spot: true}, gpu_type: A, gpu_count: 1, memory_mib: 4096}\n",
        "deployments:\n  - {name: d, model: llama-3.1-8b, node_selector: {rack: 7}}\n",
    );
    assert_eq!(fleet.nodes[0].labels["rack"], "7");
    assert_eq!(fleet.nodes[0].labels["spot"], "true");
    assert!(fleet.nodes[0].matches(&w.deployments[0].node_selector));
}

#[test]
fn yaml_labels_keep_their_text() {
    let (fleet, workload) = parse(
        "nodes:\n  - name: n\n    labels: {ver: 1.10, rack: 007, spot: true, zone: east}\n    gpu_type: H100-SXM5-80GB\n    gpu_count: 8\n    memory_mib: 81559\n",
        "deployments:\n  - name: a\n    model: llama-3.1-8b\n    node_selector: {ver: 1.10}\n",
    );
    let labels = &fleet.nodes[0].labels;
    assert_eq!(labels["ver"], "1.10");
    assert_eq!(labels["rack"], "007");
    assert_eq!(labels["spot"], "true");
    assert_eq!(labels["zone"], "east");
    assert_eq!(workload.deployments[0].node_selector["ver"], "1.10");
    // The selector written as 1.10 matches the label written as 1.10, and places.
    let plan = solve(&fleet, &workload).plan;
    assert_eq!(plan.replicas.len(), 1);
}

#[test]
fn json_label_numbers_are_taken_by_value() {
    let (_d, path) = temp_file(
        "fleet.json",
        r#"{"nodes": [{"name": "n", "labels": {"ver": "1.10", "rack": 7, "spot": false}, "gpu_type": "H100-SXM5-80GB", "gpu_count": 1, "memory_mib": 81559}]}"#,
    );
    let fleet = fleet_file::load(&path).unwrap();
    let labels = &fleet.nodes[0].labels;
    assert_eq!(labels["ver"], "1.10");
    assert_eq!(labels["rack"], "7");
    assert_eq!(labels["spot"], "false");
}
