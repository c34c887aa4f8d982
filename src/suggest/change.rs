//! A suggestion as data: the change to the inputs and what it costs, worded only when rendered
//! into the plan file.

use std::fmt;

use crate::domain::{Quantization, Suggestion};

/// A change to the inputs, as data; worded only when rendered ([`Suggested::render`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// TP and PP sizes the model allows; `used` is what the re-solve gave the deployment (as
    /// `fp8 TP 1 x PP 7`), once known.
    Shapes {
        tensor_parallel: Vec<u64>,
        pipeline_parallel: Vec<u64>,
        used: Option<String>,
    },
    /// A quantization of fewer bits, added to the list.
    Quantization(Quantization),
    /// A lower `kv_cache_tokens`.
    KvCacheTokens { tokens: u64, from: u64 },
    /// A lower `gpu_memory_utilization`, in hundredths (`from` as written).
    GpuMemoryUtilization { hundredths: u64, from: String },
    /// `policy.reserve.per_node` one lower.
    ReservePerNode(u64),
    /// `policy.reserve.fleet` one lower.
    ReserveFleet(u64),
    /// `policy.reserve.per_type.T` one lower.
    ReservePerType { gpu_type: String, to: u64 },
    /// A priority above every other deployment's.
    Priority { to: u64, from: u64 },
    /// A busy GPU freed (what holds it moved elsewhere).
    FreeGpu {
        node: String,
        index: u32,
        used_mib: u64,
        memory_mib: u64,
        utilization: u32,
    },
    /// One more node like an existing one.
    AddNode {
        like: String,
        gpus: usize,
        gpu_type: String,
    },
}

impl Change {
    /// Smaller is a smaller change.
    pub(super) fn rank(&self) -> u32 {
        match self {
            Change::Shapes { .. } => 1,
            Change::Quantization(_) => 2,
            Change::KvCacheTokens { .. } => 3,
            Change::GpuMemoryUtilization { .. } => 4,
            Change::ReservePerNode(_) | Change::ReserveFleet(_) | Change::ReservePerType { .. } => 5,
            Change::Priority { .. } | Change::FreeGpu { .. } => 6,
            Change::AddNode { .. } => 7,
        }
    }

    /// Within a kind, larger is milder (the KV tokens or utilization kept).
    pub(super) fn mild(&self) -> u64 {
        match self {
            Change::KvCacheTokens { tokens, .. } => *tokens,
            Change::GpuMemoryUtilization { hundredths, .. } => *hundredths,
            _ => 0,
        }
    }

    /// Whether only the mildest change of this kind that works is worth showing.
    pub(super) fn one_of_a_kind(&self) -> bool {
        matches!(self, Change::KvCacheTokens { .. } | Change::GpuMemoryUtilization { .. })
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Shapes { used: Some(shape), .. } => {
                write!(f, "use {shape} (add its sizes to tensor_parallel / pipeline_parallel)")
            }
            Change::Shapes {
                tensor_parallel,
                pipeline_parallel,
                used: None,
            } => write!(
                f,
                "allow tensor_parallel {tensor_parallel:?} and pipeline_parallel {pipeline_parallel:?}"
            ),
            Change::Quantization(q) => write!(f, "quantization {}", q.name()),
            Change::KvCacheTokens { tokens, from } => write!(f, "kv_cache_tokens {tokens} (from {from})"),
            Change::GpuMemoryUtilization { hundredths, from } => {
                write!(f, "gpu_memory_utilization {} (from {from})", *hundredths as f64 / 100.0)
            }
            Change::ReservePerNode(n) => write!(f, "policy.reserve.per_node {n}"),
            Change::ReserveFleet(n) => write!(f, "policy.reserve.fleet {n}"),
            Change::ReservePerType { gpu_type, to } => write!(f, "policy.reserve.per_type.{gpu_type} {to}"),
            Change::Priority { to, from } => write!(f, "priority {to} (from {from})"),
            Change::FreeGpu {
                node,
                index,
                used_mib,
                memory_mib,
                utilization,
            } => write!(
                f,
                "free GPU {index} of {node} ({used_mib} of {memory_mib} MiB used, {utilization}% busy): move what holds it"
            ),
            Change::AddNode { like, gpus, gpu_type } => write!(f, "add a node like {like} ({gpus} x {gpu_type})"),
        }
    }
}

/// What a change costs, as the re-solve showed: replicas placed more of the deployment (with
/// the shapes it got), and per other deployment the replicas that lose their place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub placed_more: u64,
    pub shapes: String,
    pub losses: Vec<(String, u64)>,
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "places {} more ({})", self.placed_more, self.shapes)?;
        if self.losses.is_empty() {
            return write!(f, "; nothing else loses its place");
        }
        for (i, (name, n)) in self.losses.iter().enumerate() {
            let sep = if i == 0 { "; " } else { ", " };
            if *n == 1 {
                write!(f, "{sep}1 replica of {name} loses its place")?;
            } else {
                write!(f, "{sep}{n} replicas of {name} lose their place")?;
            }
        }
        Ok(())
    }
}

/// A change backed by a re-solve whose plan passed the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggested {
    pub change: Change,
    pub cost: Cost,
    /// Level 1's value of the re-solved plan.
    pub placed_value: u64,
}

impl Suggested {
    /// The plan file's form: the change and its cost in words.
    pub fn render(&self) -> Suggestion {
        Suggestion {
            change: self.change.to_string(),
            placed_value: self.placed_value,
            cost: self.cost.to_string(),
        }
    }
}
