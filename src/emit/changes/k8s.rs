//! A Kubernetes change set: `apply.sh` (kubectl) and a manifest per object it creates.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Step, preamble, title};
use crate::domain::Plan;
use crate::emit::k8s::{Object, group_name, objects};
use crate::emit::shell::{comment, quote};
use crate::emit::{Emit, File};

/// The lowest pod deletion cost: the ReplicaSet removes this pod first when scaled down.
const FIRST_TO_GO: &str = "controller.kubernetes.io/pod-deletion-cost=-2147483648";

/// Pods per Deployment, by (namespace where known, name).
type Counts = BTreeMap<(Option<String>, String), u64>;

pub fn files(before: &Emit<'_>, after: &Emit<'_>, current: &Plan, steps: &[Step<'_>]) -> Vec<File> {
    let old = objects(before);
    let new = objects(after);
    // Pods per Deployment now: every pod of each imported controller, else the current plan's
    // own objects.
    let mut count: Counts = BTreeMap::new();
    if current.running.is_empty() {
        for o in old.iter().filter(|o| o.kind == "Deployment") {
            count.insert((None, o.name.clone()), o.replicas.len() as u64);
        }
    }
    for running in &current.running {
        if let Some(name) = running.owner.as_deref().and_then(|o| o.strip_prefix("Deployment/")) {
            let key = (running.namespace.clone(), name.to_string());
            let matched = current
                .running
                .iter()
                .filter(|r| r.namespace == key.0 && r.owner == running.owner)
                .count() as u64;
            count.insert(key, running.owner_pods.unwrap_or(matched).max(matched));
        }
    }
    let mut out = Vec::new();
    let mut body = String::new();
    for s in steps {
        let n = s.step.step;
        body += &format!("if step {n} {}; then\n", quote(&title(s.step)));
        if s.step.action == "start" {
            let object = new
                .iter()
                .find(|o| o.replicas.contains(&s.replica))
                .expect("every replica of a plan has its object");
            let name = quote(&object.name);
            let existing = count
                .iter()
                .find(|((_, n), c)| *n == object.name && **c > 0)
                .map(|(k, c)| (k.clone(), *c));
            match existing {
                Some((key, running)) if object.kind == "Deployment" => {
                    let n_ns = key
                        .0
                        .as_ref()
                        .map_or_else(String::new, |ns| format!(" -n {}", quote(ns)));
                    body += &format!(
                        "    kubectl scale deployment/{name}{n_ns} --current-replicas={running} --replicas={}\n    kubectl rollout status deployment/{name}{n_ns} --timeout=\"${{timeout}}s\"\n",
                        running + 1
                    );
                    count.insert(key, running + 1);
                }
                _ => {
                    let file = format!("{n:03}-start-{}.yaml", object.name);
                    out.push(File {
                        name: file.clone(),
                        text: manifest(object, 1, &title(s.step)),
                    });
                    body += &format!("    kubectl apply -f {}\n", quote(&file));
                    if object.kind == "Deployment" {
                        body += &format!("    kubectl rollout status deployment/{name} --timeout=\"${{timeout}}s\"\n");
                        count.insert((None, object.name.clone()), 1);
                    } else {
                        body += &format!(
                            "    kubectl wait --for=condition=Available leaderworkerset/{name} --timeout=\"${{timeout}}s\"\n"
                        );
                    }
                }
            }
        } else {
            body += &stop(s, current, &old, &mut count);
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

/// A step that cannot be done here: say what to do by hand, and stop.
fn by_hand(why: &str, step: u64) -> String {
    format!(
        "    echo {} >&2\n    exit 1\n",
        quote(&format!("{why}; do it by hand, then resume with --from {}", step + 1))
    )
}

/// The commands that stop a step's replica and wait until its pods are gone.
fn stop(s: &Step<'_>, current: &Plan, old: &[Object], count: &mut Counts) -> String {
    let Some(running) = s.running else {
        if let Some(gone) = &s.gone {
            return format!("    echo {} >&2\n", quote(&format!("{gone}: nothing to stop there")));
        }
        // A current plan fleetfit wrote: its replica runs in the group object fleetfit made
        // (named as it was made, or as fleetfit names it where the plan's files changed).
        let replica = &current.replicas[s.replica];
        let object = s.known.and_then(|k| old.iter().find(|o| o.replicas.contains(&k)));
        let spanning = replica.stages.iter().any(|st| st.node != replica.stages[0].node);
        let (kind, name) = match object {
            Some(o) => (o.kind, o.name.clone()),
            None if spanning => {
                return by_hand(
                    &format!(
                        "{}#{} runs in a LeaderWorkerSet fleetfit cannot name now",
                        replica.deployment, replica.replica
                    ),
                    s.step.step,
                );
            }
            None => ("Deployment", group_name(replica)),
        };
        let quoted = quote(&name);
        if kind == "LeaderWorkerSet" {
            return format!("    kubectl delete leaderworkerset/{quoted} --wait=true --timeout=\"${{timeout}}s\"\n");
        }
        let key = (None, name.clone());
        let now = count.get(&key).copied().unwrap_or(1);
        let left = now.saturating_sub(1);
        count.insert(key, left);
        let label = quote(&format!("fleetfit.io/group={name}"));
        return format!(
            "    kubectl scale deployment/{quoted} --current-replicas={now} --replicas={left}\n    until_ok sh -c {}\n",
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
            let key = (running.namespace.clone(), name.to_string());
            let now = count.get(&key).copied().unwrap_or(1);
            let left = now.saturating_sub(1);
            count.insert(key, left);
            let pod = quote(running.pods.first().map_or("", String::as_str));
            format!(
                "    kubectl annotate pod/{pod} -n {ns} {FIRST_TO_GO} --overwrite\n    kubectl scale deployment/{} -n {ns} --current-replicas={now} --replicas={left}\n{wait_pods}",
                quote(name)
            )
        }
        Some(("LeaderWorkerSet", name)) => {
            // Deleting the set stops every group of it: only where this replica is its only one.
            let groups = current
                .running
                .iter()
                .filter(|r| r.namespace == running.namespace && r.owner == running.owner)
                .count();
            if groups > 1 {
                return by_hand(
                    &format!(
                        "LeaderWorkerSet/{name} runs {groups} replicas and apply.sh stops only one of them (pods {})",
                        running.pods.join(",")
                    ),
                    s.step.step,
                );
            }
            format!(
                "    kubectl delete leaderworkerset/{} -n {ns} --wait=false\n{wait_pods}",
                quote(name)
            )
        }
        Some((kind, name)) => by_hand(
            &format!(
                "{kind}/{name} runs pod {}, and apply.sh does not scale a {kind}: stop that pod",
                running.pods.join(",")
            ),
            s.step.step,
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
