//! What the operator asks for: deployments of models, and the fleet-wide policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::{ModelArch, Quantization};
use crate::ratio::Decimal;

/// Element size of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCacheDtype {
    /// The model's activation precision: 2 bytes.
    Auto,
    /// 1 byte, as vLLM's `--kv-cache-dtype fp8`.
    Fp8,
}

impl KvCacheDtype {
    /// Bytes per cached element.
    pub fn bytes(self) -> u64 {
        match self {
            KvCacheDtype::Auto => 2,
            KvCacheDtype::Fp8 => 1,
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
    /// Per-GPU runtime overhead (CUDA context, activations, graphs) added to every worker.
    pub overhead_mib: u64,
    pub reserve: Reserve,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            busy_threshold: Decimal::from_f64(0.9).expect("0.9 is a decimal"),
            overhead_mib: 2048,
            reserve: Reserve::default(),
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
}

impl Deployment {
    /// Whether the deployment may run on GPUs of this type.
    pub fn allows_type(&self, gpu_type: &str) -> bool {
        self.gpu_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == gpu_type))
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
