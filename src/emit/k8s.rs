//! Kubernetes manifests (`manifests.yaml`, one document each), each deployment's engine's server
//! image (vLLM's OpenAI server, SGLang's, llama.cpp's `llama-server`):
//! - replicas on one node: a `Deployment` per (deployment, node, shape), `nodeName` the node,
//!   `replicas` how many the plan puts there, `nvidia.com/gpu` limits of `tp * pp`;
//! - a replica on several nodes: a `LeaderWorkerSet` (size = its nodes) whose leader is held to
//!   the head node and workers to the others by `kubernetes.io/hostname`: vLLM over Ray, SGLang
//!   with `--nnodes` and `--node-rank` (`LWS_WORKER_INDEX`), llama.cpp over `rpc-server`s.
//!
//! Object names and label values are made from deployment and node names as `emit::names`
//! maps them (kept where they obey Kubernetes' rules, else made to with a digest of the
//! original); the deployment's own name is in the `fleetfit.io/deployment` annotation. Node
//! names must be the nodes' Kubernetes names. Every `$` of an input name in the container
//! arguments is written `$$`, so Kubernetes passes it on instead of expanding `$(VAR)`.
//!
//! Every manifest's annotations give the plan's memory per GPU (`fleetfit.io/memory-per-gpu-mib`,
//! `fleetfit.io/runtime-mib`, `fleetfit.io/kv-cache-tokens`, `fleetfit.io/kv-concurrency`) and
//! what the arguments cannot carry (`fleetfit.io/notes`).
//!
//! Kubernetes' device plugin, not fleetfit, picks which GPUs of the node a pod gets; the plan's
//! node and GPU count hold, its GPU indices do not. Where GPUs on a node are used outside
//! Kubernetes, emit `--target vllm` instead, which pins devices. Workers of a `share_gpu`
//! deployment request one `nvidia.com/gpu` each, which is a shared GPU only where the device
//! plugin's time-slicing is on; their Deployment says so in the `fleetfit.io/shares-gpu` label.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::server::{Runtime, notes, server_args};
use super::{Emit, File, names};
use crate::domain::PlacedReplica;

/// The container image vLLM replicas run.
pub const IMAGE: &str = "vllm/vllm-openai:latest";
/// The container image SGLang replicas run.
pub const SGLANG_IMAGE: &str = "lmsysorg/sglang:latest";
/// The container image llama.cpp replicas run (`llama-server` at `/app/llama-server`).
pub const LLAMA_CPP_IMAGE: &str = "ghcr.io/ggml-org/llama.cpp:server-cuda";
/// llama.cpp's image with every tool, `rpc-server` among them, for the workers of a replica on
/// several nodes.
pub const LLAMA_CPP_FULL_IMAGE: &str = "ghcr.io/ggml-org/llama.cpp:full-cuda";

/// SGLang's rendezvous port and llama.cpp's `rpc-server` port inside a LeaderWorkerSet.
const DIST_PORT: u64 = 20000;
const RPC_PORT: u64 = 50052;

/// All manifests in one file.
pub fn files(e: &Emit<'_>) -> Vec<File> {
    let text = objects(e)
        .iter()
        .map(|o| serde_yaml::to_string(&o.manifest).expect("a manifest serializes"))
        .collect::<Vec<_>>()
        .join("---\n");
    vec![File {
        name: "manifests.yaml".into(),
        text: format!("# fleetfit: Kubernetes manifests of the plan\n{text}"),
    }]
}

/// The name of the group `Deployment` a single-node replica runs in, where its node holds no
/// other group of that deployment and shape ([`objects`] adds `-K` to tell such groups apart).
pub fn group_name(replica: &PlacedReplica) -> String {
    let raw = format!(
        "{}-{}-{}-tp{}pp{}",
        replica.deployment,
        replica.stages[0].node,
        replica.quantization,
        replica.tensor_parallel,
        replica.pipeline_parallel
    );
    names::object_name(&raw, names::MAX_LABEL)
}

/// One Kubernetes object of a plan and the replicas (plan order) it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: &'static str,
    pub name: String,
    pub manifest: Value,
    pub replicas: Vec<usize>,
}

/// The plan's objects: a `Deployment` per (deployment, node, shape) of single-node replicas,
/// named `{deployment}-{node}-{quantization}-tp{tp}pp{pp}` so that the name stays when the count
/// changes (change sets scale it), then a `LeaderWorkerSet` per replica on several nodes.
pub fn objects(e: &Emit<'_>) -> Vec<Object> {
    let runtime = |r: &PlacedReplica| Runtime::of(e.deployment(r).engine);
    let shares = e.shares_by(|r| runtime(r) == Runtime::Sglang);
    // (deployment, node, shape and memory) -> (replica indices) for single-node replicas.
    let mut groups: BTreeMap<(&str, &str, String), Vec<usize>> = BTreeMap::new();
    let mut docs: Vec<Object> = Vec::new();
    let shape_of = |replica: &PlacedReplica| {
        format!(
            "{}-tp{}pp{}",
            replica.quantization, replica.tensor_parallel, replica.pipeline_parallel
        )
    };
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        let nodes = Emit::nodes_of(replica);
        if nodes.len() == 1 {
            let memory = format!("{}-{:?}", shares[r], e.memory(replica));
            groups
                .entry((
                    replica.deployment.as_str(),
                    nodes[0].0,
                    format!("{}\0{memory}", shape_of(replica)),
                ))
                .or_default()
                .push(r);
        }
    }
    let mut per_shape: BTreeMap<(&str, &str, String), usize> = BTreeMap::new();
    for (deployment, node, key) in groups.keys() {
        let shape = key.split('\0').next().unwrap_or_default().to_string();
        *per_shape.entry((*deployment, *node, shape)).or_default() += 1;
    }
    let mut seen: BTreeMap<(&str, &str, String), usize> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for ((deployment, node, key), members) in &groups {
        let r = members[0];
        let replica = &e.plan.replicas[r];
        let gpus = replica.tensor_parallel * replica.pipeline_parallel;
        let shape = key.split('\0').next().unwrap_or_default().to_string();
        let k = seen.entry((*deployment, *node, shape.clone())).or_default();
        *k += 1;
        // Replicas of one shape whose memory differs (sharing GPUs with different neighbours)
        // need one object each.
        let raw = if per_shape[&(*deployment, *node, shape.clone())] > 1 {
            format!("{deployment}-{node}-{shape}-{k}")
        } else {
            format!("{deployment}-{node}-{shape}")
        };
        let name = names::unique_object_name(&raw, names::MAX_LABEL, &mut taken);
        let mut labels = json!({"app.kubernetes.io/name": names::label_value(deployment), "fleetfit.io/group": name});
        if e.deployment(replica).share_gpu {
            labels["fleetfit.io/shares-gpu"] = json!("true");
        }
        let manifest = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels, "annotations": annotations(e, replica)},
            "spec": {
                "replicas": members.len(),
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations(e, replica)},
                    "spec": {
                        "nodeName": node,
                        "containers": [container(e, replica, &shares[r], gpus, None)],
                    },
                },
            },
        });
        docs.push(Object {
            kind: "Deployment",
            name: name.clone(),
            manifest,
            replicas: members.clone(),
        });
    }
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        let nodes = Emit::nodes_of(replica);
        if nodes.len() == 1 {
            continue;
        }
        let raw = format!("{}-{}", replica.deployment, replica.replica);
        let name = names::unique_object_name(&raw, names::MAX_STATEFUL_NAME, &mut taken);
        let hostname = |names: Vec<&str>| {
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": names}]}
            ]}}})
        };
        let spanning = Spanning {
            name: &name,
            nodes: nodes.len(),
        };
        let per_node = nodes[0].1.len() as u64;
        let workers = nodes[1].1.len() as u64;
        let leader = container(e, replica, &shares[r], per_node, Some(&spanning));
        let worker = match runtime(replica) {
            Runtime::Vllm => json!({
                "name": "ray-worker",
                "image": IMAGE,
                "command": ["sh", "-c", "ray start --block --address=$(LWS_LEADER_ADDRESS):6379"],
                "resources": {"limits": {"nvidia.com/gpu": workers}},
            }),
            // The leader's container on the other nodes: the rank comes from the pod's index.
            Runtime::Sglang => container(e, replica, &shares[r], workers, Some(&spanning)),
            Runtime::LlamaCpp => json!({
                "name": "rpc-server",
                "image": LLAMA_CPP_FULL_IMAGE,
                "command": ["/app/rpc-server", "--host", "0.0.0.0", "--port", RPC_PORT.to_string()],
                "ports": [{"containerPort": RPC_PORT}],
                "resources": {"limits": {"nvidia.com/gpu": workers}},
            }),
        };
        let manifest = json!({
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/name": names::label_value(&replica.deployment)},
                "annotations": annotations(e, replica),
            },
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": nodes.len(),
                    "leaderTemplate": {
                        "metadata": {"annotations": annotations(e, replica)},
                        "spec": {
                            "affinity": hostname(vec![nodes[0].0]),
                            "containers": [leader],
                        },
                    },
                    "workerTemplate": {
                        "metadata": {"annotations": annotations(e, replica)},
                        "spec": {
                            "affinity": hostname(nodes[1..].iter().map(|(n, _)| *n).collect()),
                            "containers": [worker],
                        },
                    },
                },
            },
        });
        docs.push(Object {
            kind: "LeaderWorkerSet",
            name: name.clone(),
            manifest,
            replicas: vec![r],
        });
    }
    docs
}

/// A replica's LeaderWorkerSet: its name and how many nodes (pods) it spans.
struct Spanning<'a> {
    name: &'a str,
    nodes: usize,
}

/// The plan's memory per GPU and the notes of a replica, as annotations (strings).
fn annotations(e: &Emit<'_>, replica: &PlacedReplica) -> Value {
    let d = e.deployment(replica);
    let memory = e.memory(replica);
    let mut out = Map::new();
    let mut put = |key: &str, value: String| {
        out.insert(format!("fleetfit.io/{key}"), Value::String(value));
    };
    put("deployment", d.name.clone());
    put("engine", d.engine.name().into());
    put("memory-per-gpu-mib", memory.reserved_mib.to_string());
    if let Some(runtime) = memory.runtime_mib {
        put("runtime-mib", runtime.to_string());
    }
    if let (Some(kv), Some(concurrency)) = (memory.kv, memory.concurrency()) {
        put("kv-cache-tokens", kv.tokens.to_string());
        put("kv-concurrency", concurrency);
    }
    let notes = notes(d, replica, Runtime::of(d.engine));
    if !notes.is_empty() {
        put("notes", notes.join("; "));
    }
    Value::Object(out)
}

/// The server container of a replica on its deployment's engine, with the plan's shape and
/// share; `spanning` for a replica on several nodes (this container on one of them).
fn container(e: &Emit<'_>, replica: &PlacedReplica, share: &str, gpus: u64, spanning: Option<&Spanning<'_>>) -> Value {
    let runtime = Runtime::of(e.deployment(replica).engine);
    // Kubernetes expands `$(VAR)` in arguments and reads `$$` as `$`: every `$` of a name from
    // the inputs is doubled, so the container gets the name as written.
    let mut args: Vec<String> = server_args(e, replica, runtime, share, 8000)
        .into_iter()
        .map(|a| a.replace('$', "$$"))
        .collect();
    let (name, image, command): (&str, &str, Vec<String>) = match runtime {
        Runtime::Vllm => {
            args.drain(..2); // "vllm serve", the command
            let command = match spanning {
                Some(_) => {
                    args.push("--distributed-executor-backend".into());
                    args.push("ray".into());
                    [
                        "sh",
                        "-c",
                        "ray start --head --port=6379 && exec vllm serve \"$@\"",
                        "--",
                    ]
                    .map(String::from)
                    .to_vec()
                }
                None => vec!["vllm".into(), "serve".into()],
            };
            ("vllm", IMAGE, command)
        }
        Runtime::Sglang => {
            args.drain(..3); // "python3 -m sglang.launch_server", the command
            if let Some(s) = spanning {
                args.extend([
                    "--nnodes".to_string(),
                    s.nodes.to_string(),
                    "--node-rank".into(),
                    "$(LWS_WORKER_INDEX)".into(),
                    "--dist-init-addr".into(),
                    format!("$(LWS_LEADER_ADDRESS):{DIST_PORT}"),
                ]);
            }
            let command = ["python3", "-m", "sglang.launch_server"].map(String::from).to_vec();
            ("sglang", SGLANG_IMAGE, command)
        }
        Runtime::LlamaCpp => {
            args.drain(..1); // "llama-server", the command
            if let Some(s) = spanning {
                // LeaderWorkerSet's pods are `{name}-0-{index}` under a service named `{name}`.
                let remotes: Vec<String> = (1..s.nodes)
                    .map(|i| format!("{0}-0-{i}.{0}:{RPC_PORT}", s.name))
                    .collect();
                args.push("--rpc".into());
                args.push(remotes.join(","));
            }
            ("llama-server", LLAMA_CPP_IMAGE, vec!["/app/llama-server".into()])
        }
    };
    json!({
        "name": name,
        "image": image,
        "command": command,
        "args": args,
        "ports": [{"containerPort": 8000}],
        "resources": {"limits": {"nvidia.com/gpu": gpus}},
    })
}
