//! What the operator asks for: deployments of models, and the fleet-wide policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::engine::{Engine, EngineProfile, RuntimeMib};
use super::model::{ModelArch, Quantization};
use crate::ratio::Decimal;

/// Element size of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCacheDtype {
    /// The model's compute precision: 2 bytes, 4 for fp32 weights.
    Auto,
    /// 1 byte, as vLLM's `--kv-cache-dtype fp8`.
    Fp8,
}

impl KvCacheDtype {
    /// Bytes per cached element for weights in `q`: `auto` follows the compute dtype (4 bytes
    /// for fp32 checkpoints, else 2), `fp8` is 1.
    pub fn bytes(self, q: Quantization) -> u64 {
        match (self, q) {
            (KvCacheDtype::Auto, Quantization::Fp32) => 4,
            (KvCacheDtype::Auto, _) => 2,
            (KvCacheDtype::Fp8, _) => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KvCacheDtype::Auto => "auto",
            KvCacheDtype::Fp8 => "fp8",
        }
    }
}

/// GPUs kept unassigned as headroom (docs/rules.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reserve {
    /// Eligible GPUs left free on every node.
    pub per_node: u64,
    /// Eligible GPUs left free across the fleet.
    pub fleet: u64,
    /// Eligible GPUs of a type left free across the fleet.
    pub per_type: BTreeMap<String, u64>,
}

/// Fleet-wide rules of a deployments file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A GPU whose memory or compute use is above this fraction is busy, never placed on.
    pub busy_threshold: Decimal,
    /// A flat per-GPU runtime memory for every deployment that sets none; `None`: each
    /// deployment's engine profile decides.
    pub overhead_mib: Option<u64>,
    /// The engine of deployments that name none.
    pub engine: Engine,
    pub reserve: Reserve,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            busy_threshold: Decimal::from_f64(0.9).expect("0.9 is a decimal"),
            overhead_mib: None,
            engine: Engine::Vllm,
            reserve: Reserve::default(),
        }
    }
}

/// Where a deployment's per-GPU runtime memory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// `overhead_mib` (the deployment's, else the policy's): exactly this on every GPU of every shape.
    Flat(u64),
    /// The engine profile's figure for the model and shape.
    Profile(Arc<EngineProfile>),
}

impl Runtime {
    /// Runtime memory of one GPU of a `(q, tp, pp)` replica of `model`.
    pub fn of(&self, model: &ModelArch, q: Quantization, tp: u64, pp: u64) -> RuntimeMib {
        match self {
            Runtime::Flat(mib) => RuntimeMib {
                total_mib: *mib,
                ..RuntimeMib::default()
            },
            Runtime::Profile(profile) => profile.runtime(model, q, tp, pp),
        }
    }

    /// Just the total, MiB.
    pub fn mib(&self, model: &ModelArch, q: Quantization, tp: u64, pp: u64) -> u64 {
        match self {
            Runtime::Flat(mib) => *mib,
            Runtime::Profile(_) => self.of(model, q, tp, pp).total_mib,
        }
    }

    /// The profile, where the engine's figures apply.
    pub fn profile(&self) -> Option<&EngineProfile> {
        match self {
            Runtime::Flat(_) => None,
            Runtime::Profile(p) => Some(p),
        }
    }
}

/// One requested deployment, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Unique name.
    pub name: String,
    pub model: Arc<ModelArch>,
    /// Desired replicas.
    pub replicas: u64,
    /// Value of each placed replica.
    pub priority: u64,
    /// Allowed quantizations, most preferred first.
    pub quantizations: Vec<Quantization>,
    pub tensor_parallel: Vec<u64>,
    pub pipeline_parallel: Vec<u64>,
    pub max_model_len: u64,
    /// KV-cache tokens each replica must hold.
    pub kv_cache_tokens: u64,
    pub kv_cache_dtype: KvCacheDtype,
    /// vLLM's `--gpu-memory-utilization`: the fraction of each GPU's total memory a worker takes.
    pub gpu_memory_utilization: Option<Decimal>,
    /// Allowed GPU types; `None` allows all.
    pub gpu_types: Option<Vec<String>>,
    pub node_selector: BTreeMap<String, String>,
    /// No node holds GPUs of two different replicas.
    pub spread: bool,
    /// Workers may share GPUs with other sharing workers.
    pub share_gpu: bool,
    /// The engine its workers run.
    pub engine: Engine,
    /// Where its per-GPU runtime memory comes from.
    pub runtime: Runtime,
}

impl Deployment {
    /// Whether the deployment may run on GPUs of this type.
    pub fn allows_type(&self, gpu_type: &str) -> bool {
        self.gpu_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == gpu_type))
    }

    /// Per-GPU runtime memory of a `(q, tp, pp)` replica, MiB.
    pub fn runtime_mib(&self, q: Quantization, tp: u64, pp: u64) -> u64 {
        self.runtime.mib(&self.model, q, tp, pp)
    }

    /// 0-based position of a quantization in the preference list (the level-2 penalty).
    pub fn quantization_rank(&self, q: Quantization) -> Option<u64> {
        self.quantizations.iter().position(|&x| x == q).map(|p| p as u64)
    }
}

/// Everything a deployments file asks for: the policy and the deployments, models resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub policy: Policy,
    pub deployments: Vec<Deployment>,
}

impl Workload {
    /// The deployment with a given name.
    pub fn deployment(&self, name: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.name == name)
    }
}
