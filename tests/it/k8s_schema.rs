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

/// The schema file shipped for a kind of the nightly job's manifest.
fn nightly_schema(kind: &str) -> &'static str {
    match kind {
        "ServiceAccount" => "serviceaccount-v1.json",
        "ClusterRole" => "clusterrole-rbac-v1.json",
        "ClusterRoleBinding" => "clusterrolebinding-rbac-v1.json",
        "Role" => "role-rbac-v1.json",
        "RoleBinding" => "rolebinding-rbac-v1.json",
        "CronJob" => "cronjob-batch-v1.json",
        other => panic!("no schema for {other}"),
    }
}

/// Each document's errors against its kind's schema.
fn nightly_errors(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for doc in documents(text) {
        let kind = doc["kind"].as_str().unwrap().to_string();
        let file = nightly_schema(&kind);
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(data("schemas/k8s").join(file)).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        out.extend(
            validator
                .iter_errors(&doc)
                .map(|e| format!("{kind}: {e} at {}", e.instance_path())),
        );
    }
    out
}

#[test]
fn the_nightly_cronjob_and_its_rbac_validate_and_a_misspelt_field_does_not() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/k8s/nightly.yaml")).unwrap();
    assert_eq!(nightly_errors(&text), Vec::<String>::new());
    let broken = text.replacen(
        "concurrencyPolicy: Forbid",
        "concurrencyPolicy: Forbid\n  concurency: 1",
        1,
    );
    assert!(
        nightly_errors(&broken).iter().any(|e| e.starts_with("CronJob")),
        "a misspelt field fails"
    );
    let broken = text.replacen("verbs: [get, list]", "verbs: get", 1);
    assert!(!nightly_errors(&broken).is_empty(), "verbs must be a list");
}

#[test]
fn change_set_manifests_validate() {
    let (fleet, workload) = load("cluster/fleet.yaml", "cluster/deployments.yaml");
    let current = solve(&fleet, &workload).plan;
    let mut w2 = workload.clone();
    for d in &mut w2.deployments {
        d.replicas += 1;
    }
    let plan = solve(&fleet, &w2).plan;
    let files = fleetfit::emit::changes::files(Target::K8s, &current, &plan, &fleet, &w2).unwrap();
    let manifests: Vec<_> = files.iter().filter(|f| f.name.ends_with(".yaml")).collect();
    assert!(!manifests.is_empty());
    for f in manifests {
        assert_eq!(schema_errors(&f.text), Vec::<String>::new(), "{}", f.name);
    }
}
