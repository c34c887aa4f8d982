//! A Kubernetes change set: `apply.sh` (kubectl) and a manifest per object it creates.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Step, preamble, title};
use crate::domain::Plan;
use crate::emit::k8s::{Object, objects};
use crate::emit::shell::{comment, quote};
use crate::emit::{Emit, File};

/// The lowest pod deletion cost: the ReplicaSet removes this pod first when scaled down.
const FIRST_TO_GO: &str = "controller.kubernetes.io/pod-deletion-cost=-2147483648";

pub fn files(before: &Emit<'_>, after: &Emit<'_>, current: &Plan, steps: &[Step<'_>]) -> Vec<File> {
    let old = objects(before);
    let new = objects(after);
    // Pods per Deployment now: imported owners, else the current plan's own objects.
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    let mut namespace: BTreeMap<String, String> = BTreeMap::new();
    if current.running.is_empty() {
        for o in old.iter().filter(|o| o.kind == "Deployment") {
            count.insert(o.name.clone(), o.replicas.len() as u64);
        }
    }
    for running in &current.running {
        if let Some(name) = running.owner.as_deref().and_then(|o| o.strip_prefix("Deployment/")) {
            *count.entry(name.to_string()).or_default() += 1;
            if let Some(ns) = &running.namespace {
                namespace.insert(name.to_string(), ns.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut body = String::new();
    let ns = |name: &str, namespace: &BTreeMap<String, String>| {
        namespace
            .get(name)
            .map_or_else(String::new, |ns| format!(" -n {}", quote(ns)))
    };
    for s in steps {
        let n = s.step.step;
        body += &format!("if step {n} {}; then\n", quote(&title(s.step)));
        if s.step.action == "start" {
            let object = new
                .iter()
                .find(|o| o.replicas.contains(&s.replica))
                .expect("every replica of a plan has its object");
            let name = quote(&object.name);
            let running = count.get(&object.name).copied().unwrap_or(0);
            if object.kind == "Deployment" && running > 0 {
                let n_ns = ns(&object.name, &namespace);
                body += &format!(
                    "    kubectl scale deployment/{name}{n_ns} --replicas={}\n    kubectl rollout status deployment/{name}{n_ns} --timeout=\"${{timeout}}s\"\n",
                    running + 1
                );
                count.insert(object.name.clone(), running + 1);
            } else {
                let file = format!("{n:03}-start-{}.yaml", object.name);
                out.push(File {
                    name: file.clone(),
                    text: manifest(object, 1, &title(s.step)),
                });
                body += &format!("    kubectl apply -f {}\n", quote(&file));
                if object.kind == "Deployment" {
                    body += &format!("    kubectl rollout status deployment/{name} --timeout=\"${{timeout}}s\"\n");
                    count.insert(object.name.clone(), 1);
                } else {
                    body += &format!(
                        "    kubectl wait --for=condition=Available leaderworkerset/{name} --timeout=\"${{timeout}}s\"\n"
                    );
                }
            }
        } else {
            body += &stop(s, &old, &mut count);
        }
        body += "fi\n";
    }
    let text = preamble("Kubernetes change set", steps.len(), "") + &body;
    out.insert(
        0,
        File {
            name: "apply.sh".into(),
            text,
        },
    );
    out
}

/// The commands that stop a step's replica and wait until its pods are gone.
fn stop(s: &Step<'_>, old: &[Object], count: &mut BTreeMap<String, u64>) -> String {
    let Some(running) = s.running else {
        if let Some(node) = &s.gone_node {
            return format!(
                "    echo {} >&2\n",
                quote(&format!(
                    "node {node} is not in the fleet any more: nothing to stop there"
                ))
            );
        }
        // A current plan fleetfit wrote: its replica runs in the group object fleetfit made.
        let Some(object) = s.known.and_then(|k| old.iter().find(|o| o.replicas.contains(&k))) else {
            return format!(
                "    echo {} >&2\n    exit 1\n",
                quote(
                    "this replica's deployment is gone from the deployments file; stop it by hand, then resume with --from the next step"
                )
            );
        };
        let name = quote(&object.name);
        if object.kind == "LeaderWorkerSet" {
            return format!("    kubectl delete leaderworkerset/{name} --wait=true --timeout=\"${{timeout}}s\"\n");
        }
        let left = count.get(&object.name).copied().unwrap_or(1).saturating_sub(1);
        count.insert(object.name.clone(), left);
        let label = quote(&format!("fleetfit.io/group={}", object.name));
        return format!(
            "    kubectl scale deployment/{name} --replicas={left}\n    until_ok sh -c {}\n",
            quote(&format!(
                "[ \"$(kubectl get pods -l {label} -o name | wc -l)\" -le {left} ]"
            ))
        );
    };
    let ns = quote(running.namespace.as_deref().unwrap_or("default"));
    let wait_pods: String = running
        .pods
        .iter()
        .map(|p| {
            format!(
                "    kubectl wait --for=delete pod/{} -n {ns} --timeout=\"${{timeout}}s\"\n",
                quote(p)
            )
        })
        .collect();
    match running.owner.as_deref().and_then(|o| o.split_once('/')) {
        None => {
            let pods: Vec<String> = running.pods.iter().map(|p| quote(p)).collect();
            format!(
                "    kubectl delete pod {} -n {ns} --wait=false\n{wait_pods}",
                pods.join(" ")
            )
        }
        Some(("Deployment", name)) => {
            let left = count.get(name).copied().unwrap_or(1).saturating_sub(1);
            count.insert(name.to_string(), left);
            let pod = quote(running.pods.first().map_or("", String::as_str));
            format!(
                "    kubectl annotate pod/{pod} -n {ns} {FIRST_TO_GO} --overwrite\n    kubectl scale deployment/{} -n {ns} --replicas={left}\n{wait_pods}",
                quote(name)
            )
        }
        Some(("LeaderWorkerSet", name)) => format!(
            "    kubectl delete leaderworkerset/{} -n {ns} --wait=false\n{wait_pods}",
            quote(name)
        ),
        Some((kind, name)) => format!(
            "    echo {} >&2\n    exit 1\n",
            quote(&format!(
                "{kind}/{name} runs pod {}; apply.sh does not scale a {kind}: stop that pod by hand, then resume with --from {}",
                running.pods.join(","),
                s.step.step + 1
            ))
        ),
    }
}

/// An object's manifest with `replicas` set, under a comment naming the step.
fn manifest(object: &Object, replicas: u64, title: &str) -> String {
    let mut manifest = object.manifest.clone();
    if object.kind == "Deployment" {
        manifest["spec"]["replicas"] = json!(replicas);
    }
    format!(
        "{}\n{}",
        comment(&format!("fleetfit change set: {title}")),
        serde_yaml::to_string(&manifest).expect("a manifest serializes")
    )
}
