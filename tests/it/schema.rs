//! `fleetfit schema`: every bundled file validates against the schema of its kind, plans the
//! solver writes do too, and the schemas refuse what the loaders refuse (unknown fields, types).

use std::path::{Path, PathBuf};

use fleetfit::formats::schema::{SchemaKind, schema};
use serde_json::{Value, json};

use crate::common;

fn validator(kind: SchemaKind) -> jsonschema::Validator {
    jsonschema::validator_for(&schema(kind)).unwrap_or_else(|e| panic!("{} schema: {e}", kind.name()))
}

/// Reads a YAML or JSON file as a JSON value (YAML's plain scalars resolved as YAML 1.2 does).
fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).unwrap()
    } else {
        serde_yaml::from_str(&text).unwrap()
    }
}

/// The kind of a fleetfit file by its top-level key; `None` for other files under `data/`
/// (kubectl output, Hugging Face configs).
fn kind_of(path: &Path, value: &Value) -> Option<SchemaKind> {
    let object = value.as_object()?;
    if path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("models")) {
        return Some(SchemaKind::Models);
    }
    [
        ("nodes", SchemaKind::Fleet),
        ("deployments", SchemaKind::Deployments),
        ("scenarios", SchemaKind::Scenarios),
        ("skus", SchemaKind::Skus),
        ("replicas", SchemaKind::Plan),
    ]
    .into_iter()
    .find(|(key, _)| object.contains_key(*key))
    .map(|(_, kind)| kind)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

fn errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_bundled_file_validates_against_its_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files(&root.join("data"), &mut paths);
    files(&root.join("models"), &mut paths);
    let mut counts = std::collections::BTreeMap::new();
    for path in &paths {
        let value = read(path);
        let Some(kind) = kind_of(path, &value) else { continue };
        let found = errors(&validator(kind), &value);
        assert!(
            found.is_empty(),
            "{} against the {} schema: {found:#?}",
            path.display(),
            kind.name()
        );
        *counts.entry(kind.name()).or_insert(0) += 1;
    }
    // The walk found files of every input kind (a plan is checked below).
    for kind in ["fleet", "deployments", "scenarios", "skus", "models"] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} file found: {counts:?}"
        );
    }
}

#[test]
fn plans_the_solver_writes_validate_against_the_plan_schema() {
    let (fleet, workload) = common::load("demo/fleet.yaml", "demo/deployments.yaml");
    let plan = common::solve(&fleet, &workload).plan;
    let value: Value = serde_json::from_str(&plan.to_json()).unwrap();
    let found = errors(&validator(SchemaKind::Plan), &value);
    assert!(found.is_empty(), "{found:#?}");
    assert!(
        !plan.unplaced.is_empty(),
        "the demo leaves replicas out, so `unplaced` is exercised"
    );
}

#[test]
fn the_schemas_refuse_unknown_fields_and_wrong_types() {
    let fleet = validator(SchemaKind::Fleet);
    let good = json!({"nodes": [{"name": "n", "gpu_type": "H100-SXM5-80GB", "gpu_count": 8, "memory_mib": 81559}]});
    assert!(errors(&fleet, &good).is_empty());
    let typo = json!({"nodes": [{"name": "n", "gpu_typ": "H100-SXM5-80GB", "gpu_count": 8, "memory_mib": 81559}]});
    assert!(!errors(&fleet, &typo).is_empty(), "a misspelt field is refused");
    let negative =
        json!({"nodes": [{"name": "n", "gpu_type": "H100-SXM5-80GB", "gpu_count": -1, "memory_mib": 81559}]});
    assert!(!errors(&fleet, &negative).is_empty(), "a negative count is refused");

    let deployments = validator(SchemaKind::Deployments);
    let good = json!({"deployments": [{"name": "a", "model": "llama-3.1-8b", "node_selector": {"ver": 1.1}}]});
    assert!(
        errors(&deployments, &good).is_empty(),
        "{:?}",
        errors(&deployments, &good)
    );
    for (field, wrong) in [
        ("tensor_parallel", json!(4)),
        ("tensor_parallel", json!([0])),
        ("tensor_parallel", json!([])),
        ("gpu_memory_utilization", json!(1.5)),
        ("gpu_memory_utilization", json!(0)),
        ("kv_cache_dtype", json!("fp4")),
        ("replicas", json!(100_001)),
    ] {
        let doc = json!({"deployments": [{"name": "a", "model": "llama-3.1-8b", field: wrong}]});
        assert!(!errors(&deployments, &doc).is_empty(), "{field}: {wrong} is refused");
    }
    let case = json!({"deployments": [{"name": "a", "model": "llama-3.1-8b", "kv_cache_dtype": "FP8_E4M3"}]});
    assert!(
        errors(&deployments, &case).is_empty(),
        "any case, as the loader reads it"
    );
    let fleet_wrong = json!({"nodes": [{"name": "n", "gpus": [{"index": 0, "type": "L40S", "memory_mib": 46068, "utilization": 150}]}]});
    assert!(!errors(&fleet, &fleet_wrong).is_empty(), "utilization is a percentage");

    let scenarios = validator(SchemaKind::Scenarios);
    let good = json!({"scenarios": [{"name": "x", "scale_replicas": {"a": 2.0, "b": {"set": 3}}}]});
    assert!(errors(&scenarios, &good).is_empty(), "{:?}", errors(&scenarios, &good));
    let wrong = json!({"scenarios": [{"name": "x", "scale_replicas": {"a": {"to": 3}}}]});
    assert!(!errors(&scenarios, &wrong).is_empty());
}

#[test]
fn the_schema_command_prints_each_kind() {
    for kind in SchemaKind::ALL {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetfit"))
            .args(["schema", kind.name()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed, schema(kind));
        assert_eq!(printed["title"], format!("fleetfit {} file", kind.name()));
        assert_eq!(printed["$schema"], "http://json-schema.org/draft-07/schema#");
    }
}
