//! `current import` and `emit --current`: a current plan read back from what Kubernetes or the
//! nodes report, and change sets replayed step by step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetfit::domain::{Fleet, PlacedReplica, Plan, Workload};
use fleetfit::formats::running::pods;
use fleetfit::workflows::current;
use serde_json::{Value, json};

use super::common::{assert_valid, data, fleetfit, load, solve, text};

/// A replica as Kubernetes can tell it: deployment, shape, type, and per stage its node and GPU
/// count (the device plugin, not the plan, picks GPU indices).
fn seen_by_kubernetes(plan: &Plan) -> Vec<(String, String, u64, u64, String, Vec<(String, usize)>)> {
    let mut out: Vec<_> = plan
        .replicas
        .iter()
        .map(|r: &PlacedReplica| {
            (
                r.deployment.clone(),
                r.quantization.clone(),
                r.tensor_parallel,
                r.pipeline_parallel,
                r.gpu_type.clone(),
                r.stages.iter().map(|s| (s.node.clone(), s.gpus.len())).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The pods a cluster would report for `emit --target k8s` manifests: a Deployment's pods carry
/// its template, a ReplicaSet owner and `pod-template-hash`; a LeaderWorkerSet's leader and
/// workers carry LWS's labels and land on the nodes its affinities name.
fn pods_of(manifests: &str) -> Value {
    let mut items = Vec::new();
    for doc in manifests.split("\n---\n") {
        let doc: Value = serde_yaml::from_str(doc.trim_start_matches("---\n")).unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        match doc["kind"].as_str().unwrap() {
            "Deployment" => {
                let template = &doc["spec"]["template"];
                for i in 0..doc["spec"]["replicas"].as_u64().unwrap() {
                    let mut labels = template["metadata"]["labels"].clone();
                    labels["pod-template-hash"] = json!("5d4c3b2a1");
                    items.push(json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {
                            "name": format!("{name}-5d4c3b2a1-{i}"), "namespace": "default", "labels": labels,
                            "annotations": template["metadata"]["annotations"],
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-5d4c3b2a1"), "controller": true}],
                        },
                        "spec": template["spec"], "status": {"phase": "Running"},
                    }));
                }
            }
            "LeaderWorkerSet" => {
                let t = &doc["spec"]["leaderWorkerTemplate"];
                let hosts = |template: &Value| -> Vec<String> {
                    template["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect()
                };
                let mut members = vec![(hosts(&t["leaderTemplate"])[0].clone(), &t["leaderTemplate"])];
                members.extend(hosts(&t["workerTemplate"]).into_iter().map(|h| (h, &t["workerTemplate"])));
                for (index, (node, template)) in members.into_iter().enumerate() {
                    let mut spec = template["spec"].clone();
                    spec["nodeName"] = json!(node);
                    items.push(json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {
                            "name": if index == 0 { format!("{name}-0") } else { format!("{name}-0-{index}") },
                            "namespace": "default",
                            "labels": {"leaderworkerset.sigs.k8s.io/name": name, "leaderworkerset.sigs.k8s.io/group-index": "0",
                                       "leaderworkerset.sigs.k8s.io/worker-index": index.to_string()},
                            "annotations": template["metadata"]["annotations"],
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "controller": true}],
                        },
                        "spec": spec, "status": {"phase": "Running"},
                    }));
                }
            }
            other => panic!("unexpected {other}"),
        }
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// Plans, emits manifests, turns them into pods, imports them: the same replicas come back, and
/// the imported plan passes the checker with the same objective.
fn round_trip(fleet: &Fleet, workload: &Workload) {
    let plan = solve(fleet, workload).plan;
    let files = fleetfit::emit::emit(fleetfit::emit::Target::K8s, &plan, fleet, workload).unwrap();
    let pods = serde_json::to_string(&pods_of(&files[0].text)).unwrap();
    let mut warnings = Vec::new();
    let workers = pods::read(Path::new("pods.json"), &pods, &mut warnings).unwrap();
    let now = current::import(fleet, workload, workers, &Default::default());
    assert!(warnings.is_empty() && now.warnings.is_empty(), "{warnings:?} {:?}", now.warnings);
    assert!(now.foreign.is_empty(), "{:?}", now.foreign);
    assert_eq!(seen_by_kubernetes(&now.plan), seen_by_kubernetes(&plan));
    assert_valid(fleet, workload, &now.plan);
    let (a, b) = (&now.plan.objective, &plan.objective);
    assert_eq!((a.placed_value, a.quantization_penalty, a.gpus_used), (b.placed_value, b.quantization_penalty, b.gpus_used));
    assert_eq!(now.plan.running.len(), plan.replicas.len());
}

#[test]
fn kubernetes_pods_of_emitted_manifests_import_back_as_the_plan() {
    // The demo has replicas on several nodes (LeaderWorkerSets), sharing GPUs, fp8 and spread.
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    round_trip(&fleet, &workload);
    let (fleet, workload) = load("cluster/fleet.yaml", "cluster/deployments.yaml");
    round_trip(&fleet, &workload);
}
