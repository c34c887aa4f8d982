//! Kubernetes manifests validate against Kubernetes' own schemas: apps/v1 `Deployment` from
//! Kubernetes 1.34's OpenAPI and the `LeaderWorkerSet` CRD of LWS v0.8.0, made strict (an unknown
//! field fails), shipped in `data/schemas/k8s/` with their sources.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use fleetfit::emit::{Target, emit};

use super::common::*;

/// The compiled schema of a kind fleetfit writes.
fn validator(kind: &str) -> &'static jsonschema::Validator {
    static DEPLOYMENT: OnceLock<jsonschema::Validator> = OnceLock::new();
    static LWS: OnceLock<jsonschema::Validator> = OnceLock::new();
    let (cell, file) = match kind {
        "Deployment" => (&DEPLOYMENT, "deployment-apps-v1.json"),
        "LeaderWorkerSet" => (&LWS, "leaderworkerset-v1.json"),
        other => panic!("fleetfit wrote a kind it has no schema for: {other}"),
    };
    cell.get_or_init(|| {
        let text = std::fs::read_to_string(data("schemas/k8s").join(file)).expect("the schema is shipped");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{file}: {e}"))
    })
}

/// Every document of a `manifests.yaml`, as JSON values.
pub fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("every manifest is YAML"))
        .collect()
}

/// Each document's schema errors, `kind name: error at path`; empty where all validate.
pub fn schema_errors(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for doc in documents(text) {
        let kind = doc["kind"].as_str().expect("every manifest has a kind").to_string();
        let name = doc["metadata"]["name"].as_str().unwrap_or("?").to_string();
        for e in validator(&kind).iter_errors(&doc) {
            out.push(format!("{kind} {name}: {e} at {}", e.instance_path()));
        }
    }
    out
}

#[test]
fn manifests_of_every_engine_and_of_spanning_replicas_validate() {
    let (f, w, plan) = super::emit::engines();
    let (fs, ws, spanning) = super::emit::spanning();
    let (fd, wd) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let demo = solve(&fd, &wd).plan;
    let cases = [
        ("engines", f, w, plan),
        ("spanning", fs, ws, spanning),
        ("demo", fd, wd, demo),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for (case, fleet, workload, plan) in cases {
        let files = emit(Target::K8s, &plan, &fleet, &workload).unwrap();
        for doc in documents(&files[0].text) {
            kinds.insert(doc["kind"].as_str().unwrap().to_string());
        }
        let errors = schema_errors(&files[0].text);
        assert!(errors.is_empty(), "{case}:\n{}", errors.join("\n"));
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["Deployment", "LeaderWorkerSet"],
        "both kinds were checked (vLLM, SGLang and llama.cpp replicas, one spanning two nodes)"
    );
}

#[test]
fn the_schemas_refuse_what_kubernetes_would() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      nodeName: n1\n      containers: [{name: a, image: x, resources: {limits: {nvidia.com/gpu: 1}}}]\n";
    assert_eq!(schema_errors(deployment), Vec::<String>::new());
    for (broken, from, to) in [
        ("a misspelt field", "nodeName", "nodeNmae"),
        ("a count as text", "replicas: 1", "replicas: one"),
        ("a container without a name", "{name: a, image", "{image"),
    ] {
        let text = deployment.replace(from, to);
        assert!(!schema_errors(&text).is_empty(), "{broken} passed:\n{text}");
    }
}
