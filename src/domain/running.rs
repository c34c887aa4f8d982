//! What runs on the fleet now, as a cluster or a node reports it, before fleetfit knows which
//! deployment (if any) each worker serves; and, in a current plan, which Kubernetes objects or
//! processes run each replica (so that a change set can stop exactly those).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Engine;

/// The GPUs a worker holds on its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerGpus {
    /// Device indices, where the capture tells them (nvidia-smi, `CUDA_VISIBLE_DEVICES`).
    Indices(Vec<u32>),
    /// Only how many (a Kubernetes pod's `nvidia.com/gpu` limit: the device plugin picks them).
    Count(u64),
}

impl WorkerGpus {
    /// How many GPUs.
    pub fn count(&self) -> u64 {
        match self {
            WorkerGpus::Indices(gpus) => gpus.len() as u64,
            WorkerGpus::Count(n) => *n,
        }
    }
}

/// An engine's command line, read back: what fleetfit needs to tell which deployment it serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineCommand {
    pub engine: Engine,
    /// The checkpoint it serves (`--model`, `--model-path`, `vllm serve MODEL`).
    pub model: String,
    /// `--served-model-name` (vLLM, SGLang) or `--alias` (llama.cpp).
    pub served_name: Option<String>,
    pub tensor_parallel: u64,
    pub pipeline_parallel: u64,
    /// `--quantization` (`fp8`, `awq`, ...), as written.
    pub quantization: Option<String>,
    /// `--dtype`, as written.
    pub dtype: Option<String>,
    /// `--port`, where given.
    pub port: Option<u64>,
}

/// The Kubernetes objects behind a worker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodRef {
    pub namespace: String,
    pub pod: String,
    /// The pod's controller as `Kind/name`: a ReplicaSet's Deployment, a LeaderWorkerSet, a
    /// StatefulSet; `None` for a bare pod.
    pub owner: Option<String>,
    /// A LeaderWorkerSet group (`namespace/set/group-index`) whose pods make one replica, and
    /// this pod's worker index in it (0 is the leader).
    pub group: Option<(String, u64)>,
    /// How many pods the controller has (scheduled or not, not finished, not terminating): what
    /// its `spec.replicas` counts.
    pub owner_pods: Option<u64>,
}

/// One thing that holds GPUs now: a pod, or a process tree rooted at an engine process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// Where it was read, for messages: `pods.json: items[3] (default/chat-0)`.
    pub origin: String,
    pub node: String,
    pub gpus: WorkerGpus,
    /// The engine command line it runs, where one was recognised.
    pub command: Option<EngineCommand>,
    /// The command as read (first words), for messages about what is not an engine.
    pub program: String,
    /// The deployment fleetfit's own manifests name (`fleetfit.io/deployment`).
    pub marked_deployment: Option<String>,
    /// Memory used per GPU index (MiB), where the capture reports it (nvidia-smi).
    pub used_mib: BTreeMap<u32, u64>,
    pub pod: Option<PodRef>,
    /// The root process (bare metal).
    pub pid: Option<u64>,
}

/// Which objects or processes run a replica of a current plan (`current import` only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Running {
    pub deployment: String,
    pub replica: u64,
    /// The Kubernetes namespace of its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its pods, leader first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// Their controller, `Kind/name` (`Deployment/chat-70b-node-a`, `LeaderWorkerSet/x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// How many pods that controller had when imported (a Deployment is scaled from this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_pods: Option<u64>,
    /// Its engine's root process on its (head) node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// Its server's port, where its command line gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// The checkpoint its command line names, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}
