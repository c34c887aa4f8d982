//! Kubernetes manifests (`manifests.yaml`, one document each), vLLM's OpenAI server image:
//! - replicas on one node: a `Deployment` per (deployment, node, shape), `nodeName` the node,
//!   `replicas` how many the plan puts there, `nvidia.com/gpu` limits of `tp * pp`;
//! - a replica on several nodes: a `LeaderWorkerSet` (size = its nodes) whose leader is held to
//!   the head node and workers to the others by `kubernetes.io/hostname`, vLLM over Ray.
//!
//! Kubernetes' device plugin, not fleetfit, picks which GPUs of the node a pod gets; the plan's
//! node and GPU count hold, its GPU indices do not. Where GPUs on a node are used outside
//! Kubernetes, emit `--target vllm` instead, which pins devices. Workers of a `share_gpu`
//! deployment request one `nvidia.com/gpu` each, which is a shared GPU only where the device
//! plugin's time-slicing is on; their Deployment says so in the `fleetfit.io/shares-gpu` label.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::launch::{Runtime, server_args};
use super::{Emit, File};

/// The container image every manifest runs.
pub const IMAGE: &str = "vllm/vllm-openai:latest";

/// All manifests in one file.
pub fn files(e: &Emit<'_>) -> Vec<File> {
    let shares = e.shares(false);
    // (deployment, node, shape) -> (replica indices) for single-node replicas.
    let mut groups: BTreeMap<(&str, &str, String), Vec<usize>> = BTreeMap::new();
    let mut docs: Vec<Value> = Vec::new();
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        let nodes = Emit::nodes_of(replica);
        if nodes.len() == 1 {
            let shape = format!(
                "{}-tp{}-pp{}-{}",
                replica.quantization, replica.tensor_parallel, replica.pipeline_parallel, shares[r]
            );
            groups
                .entry((replica.deployment.as_str(), nodes[0].0, shape))
                .or_default()
                .push(r);
        }
    }
    for ((deployment, node, _), members) in &groups {
        let r = members[0];
        let replica = &e.plan.replicas[r];
        let gpus = replica.tensor_parallel * replica.pipeline_parallel;
        let name = format!("{deployment}-{node}-{}", members.len());
        let mut labels = json!({"app.kubernetes.io/name": deployment, "fleetfit.io/group": name});
        if e.deployment(replica).share_gpu {
            labels["fleetfit.io/shares-gpu"] = json!("true");
        }
        docs.push(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": members.len(),
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeName": node,
                        "containers": [container(e, replica, &shares[r], gpus, false)],
                    },
                },
            },
        }));
    }
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        let nodes = Emit::nodes_of(replica);
        if nodes.len() == 1 {
            continue;
        }
        let name = format!("{}-{}", replica.deployment, replica.replica);
        let per_node = nodes[0].1.len() as u64;
        let hostname = |names: Vec<&str>| {
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": names}]}
            ]}}})
        };
        docs.push(json!({
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": replica.deployment}},
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": nodes.len(),
                    "leaderTemplate": {"spec": {
                        "affinity": hostname(vec![nodes[0].0]),
                        "containers": [container(e, replica, &shares[r], per_node, true)],
                    }},
                    "workerTemplate": {"spec": {
                        "affinity": hostname(nodes[1..].iter().map(|(n, _)| *n).collect()),
                        "containers": [{
                            "name": "ray-worker",
                            "image": IMAGE,
                            "command": ["sh", "-c", "ray start --block --address=$(LWS_LEADER_ADDRESS):6379"],
                            "resources": {"limits": {"nvidia.com/gpu": nodes[1].1.len()}},
                        }],
                    }},
                },
            },
        }));
    }
    let text = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).expect("a manifest serializes"))
        .collect::<Vec<_>>()
        .join("---\n");
    vec![File {
        name: "manifests.yaml".into(),
        text: format!("# fleetfit: Kubernetes manifests of the plan\n{text}"),
    }]
}

/// The vLLM container of a replica: `vllm serve` with the plan's shape and share.
fn container(e: &Emit<'_>, replica: &crate::domain::PlacedReplica, share: &str, gpus: u64, ray: bool) -> Value {
    let mut args = server_args(e, replica, Runtime::Vllm, share, 8000);
    args.drain(..2); // "vllm serve", the command
    if ray {
        args.push("--distributed-executor-backend".into());
        args.push("ray".into());
    }
    let command: Vec<&str> = if ray {
        vec![
            "sh",
            "-c",
            "ray start --head --port=6379 && exec vllm serve \"$@\"",
            "--",
        ]
    } else {
        vec!["vllm", "serve"]
    };
    json!({
        "name": "vllm",
        "image": IMAGE,
        "command": command,
        "args": args,
        "ports": [{"containerPort": 8000}],
        "resources": {"limits": {"nvidia.com/gpu": gpus}},
    })
}
