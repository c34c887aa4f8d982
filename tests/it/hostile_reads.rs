//! Reading emitted files back onto the plan, as `hostile_names` needs: Kubernetes manifests
//! (with Kubernetes' own `$(VAR)` expansion), Dynamo configs, and what `emit --out` leaves on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use fleetfit::domain::{Plan, Workload};

use super::common::*;
use super::hostile_names::{replicas_per_deployment, str_at};
use super::k8s_schema::{documents, schema_errors};

/// A container argument as the container gets it: Kubernetes reads `$$` as `$` and replaces
/// `$(NAME)` (a defined variable; here any) with its value, marked `<NAME>`.
fn as_kubernetes_passes_it(arg: &str) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('$') {
            out.push('$');
            rest = more;
        } else if let Some(name) = after.strip_prefix('(').and_then(|a| a.split_once(')')).map(|(n, _)| n)
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            out.push_str(&format!("<{name}>"));
            rest = &after[name.len() + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Whether `name` is a DNS-1035 label (object names fleetfit makes).
fn dns_label(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `value` is a Kubernetes label value.
fn label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// Manifests validate, their names and labels obey Kubernetes' rules and stay apart, and they
/// read back onto the plan: each deployment's replicas, on the plan's nodes, under its own name
/// (annotation and the server's name argument, as the container receives it).
pub fn manifests_read_back(text: &str, plan: &Plan, workload: &Workload) {
    let errors = schema_errors(text);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let deployments: BTreeSet<&str> = workload.deployments.iter().map(|d| d.name.as_str()).collect();
    let nodes: BTreeSet<&str> = plan
        .replicas
        .iter()
        .flat_map(|r| &r.stages)
        .map(|s| s.node.as_str())
        .collect();
    let mut names = BTreeSet::new();
    let mut replicas: BTreeMap<String, u64> = BTreeMap::new();
    for doc in documents(text) {
        let name = str_at(&doc, "/metadata/name");
        assert!(dns_label(name), "object name {name:?}");
        assert!(names.insert(name.to_string()), "two objects named {name:?}");
        for value in doc["metadata"]["labels"].as_object().unwrap().values() {
            assert!(label_value(value.as_str().unwrap()), "label value {value}");
        }
        let deployment = str_at(&doc, "/metadata/annotations/fleetfit.io~1deployment");
        assert!(deployments.contains(deployment), "annotation {deployment:?}");
        let spec = match str_at(&doc, "/kind") {
            "Deployment" => {
                assert!(nodes.contains(str_at(&doc, "/spec/template/spec/nodeName")));
                &doc["spec"]["template"]["spec"]
            }
            _ => {
                // Its StatefulSet's `controller-revision-hash` label is the name, `-` and 10 more.
                assert!(name.len() <= 52, "LeaderWorkerSet name {name:?}");
                &doc["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
            }
        };
        *replicas.entry(deployment.to_string()).or_default() += doc["spec"]["replicas"].as_u64().unwrap();
        let args: Vec<String> = spec["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| as_kubernetes_passes_it(a.as_str().unwrap()))
            .collect();
        let served = args
            .windows(2)
            .find(|w| matches!(w[0].as_str(), "--served-model-name" | "--alias"))
            .map(|w| w[1].as_str());
        assert_eq!(served, Some(deployment), "the container gets the name whole: {args:?}");
    }
    assert_eq!(replicas, replicas_per_deployment(plan));
}

/// Dynamo configs parse, each section names one of the deployments, and the workers add up to
/// the plan's replicas of each (every replica of these cases is on one node).
pub fn configs_read_back(files: &[fleetfit::emit::File], plan: &Plan) {
    let nodes: BTreeSet<String> = plan
        .replicas
        .iter()
        .flat_map(|r| &r.stages)
        .map(|s| format!("{}.yaml", s.node))
        .collect();
    let mut workers: BTreeMap<String, u64> = BTreeMap::new();
    for file in files {
        assert!(nodes.contains(&file.name), "{}", file.name);
        let config: Value = serde_yaml::from_str(&file.text).unwrap_or_else(|e| panic!("{e}\n{}", file.text));
        for section in config.as_object().unwrap().values() {
            let served = str_at(section, "/served_model_name").to_string();
            *workers.entry(served).or_default() += section["ServiceArgs"]["workers"].as_u64().unwrap();
        }
    }
    assert_eq!(workers, replicas_per_deployment(plan));
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.insert(path);
        }
    }
    out
}

/// `emit --out` through the binary writes the plan's files into the folder asked for and
/// nowhere else.
pub fn cli_writes_only_inside(fleet_yaml: &str, deployments_yaml: &str, plan: &Plan) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    std::fs::create_dir(&root).unwrap();
    let input = |name: &str, text: &str| {
        let path = root.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let fleet = input("fleet.yaml", fleet_yaml);
    let deployments = input("deployments.yaml", deployments_yaml);
    let plan_file = input("plan.json", &plan.to_json());
    let mut expected: BTreeSet<PathBuf> = [fleet.clone(), deployments.clone(), plan_file.clone()].into();
    let nodes: BTreeSet<&str> = plan
        .replicas
        .iter()
        .flat_map(|r| &r.stages)
        .map(|s| s.node.as_str())
        .collect();
    for (target, folder, suffix) in [("launch", "out/a", "sh"), ("dynamo", "out/b", "yaml")] {
        let out = root.join(folder);
        let run = fleetfit(&[
            "emit",
            "--fleet",
            fleet.to_str().unwrap(),
            "--deployments",
            deployments.to_str().unwrap(),
            "--plan",
            plan_file.to_str().unwrap(),
            "--target",
            target,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        expected.extend(nodes.iter().map(|n| out.join(format!("{n}.{suffix}"))));
    }
    assert_eq!(files_under(dir.path()), expected);
}

#[test]
fn kubernetes_expansion_is_modelled_as_kubernetes_does_it() {
    assert_eq!(as_kubernetes_passes_it("a$$(B)c"), "a$(B)c");
    assert_eq!(as_kubernetes_passes_it("a$(B)c"), "a<B>c");
    assert_eq!(as_kubernetes_passes_it("$x $("), "$x $(");
}
