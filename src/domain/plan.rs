//! The plan: where every replica runs, and what the fleet gets out of it (docs/rules.md §7).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How far the solver got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SolveStatus {
    /// Every level of the objective is proven optimal.
    Optimal,
    /// The time limit stopped the solver; the plan is valid but may not be the best.
    TimeLimit,
}

/// The three levels of the lexicographic objective (placed value, then quantization penalty,
/// then GPUs used), and how proven level 1 is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Sum over deployments of `priority * replicas placed`.
    pub placed_value: u64,
    /// Sum over placed replicas of their quantization's 0-based rank.
    pub quantization_penalty: u64,
    /// GPUs assigned (a shared GPU counts once).
    pub gpus_used: u64,
    /// Best possible `placed_value` the solver could prove, when it stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    /// Relative gap of level 1, `(bound - placed_value) / bound`, when it stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<f64>,
    /// Replicas that start, stop or move against the running plan (`replan` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moves: Option<u64>,
    /// A proven lower bound on `moves` at this plan's `placed_value`, where the moves are not
    /// proven minimal (`replan` only): the running replicas that must stop anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moves_bound: Option<u64>,
}

/// One pipeline stage: `tensor_parallel` GPUs on one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub node: String,
    pub gpus: Vec<u32>,
}

/// One placed replica of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacedReplica {
    pub deployment: String,
    /// 0-based, unique within the deployment.
    pub replica: u64,
    pub quantization: String,
    pub tensor_parallel: u64,
    pub pipeline_parallel: u64,
    pub gpu_type: String,
    /// The memory reserved on each of its GPUs, MiB: the replica's need per GPU, or its
    /// `gpu_memory_utilization` share of the GPU's memory when the deployment sets one.
    pub memory_per_gpu_mib: u64,
    /// The engine's runtime memory per GPU counted in the reservation (activation peak, CUDA
    /// context, NCCL buffers): the deployment's `overhead_mib`, else its engine profile's figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_mib: Option<u64>,
    pub stages: Vec<Stage>,
}

/// A deployment that got fewer replicas than it asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unplaced {
    pub deployment: String,
    pub requested: u64,
    pub placed: u64,
    /// Why, most decisive first (added by explanations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Changes that would place more, each backed by a re-solve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
}

/// A change that places more, proven by a re-solve whose plan passed the checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Suggestion {
    pub change: String,
    /// Level 1's value of the re-solved plan.
    pub placed_value: u64,
    /// What the change costs, in words.
    pub cost: String,
}

/// One step of a migration from the running plan (`replan` only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationStep {
    pub step: u64,
    /// `start` or `stop`.
    pub action: String,
    pub deployment: String,
    pub replica: u64,
    pub stages: Vec<Stage>,
    pub break_before_make: bool,
}

/// How the fleet's GPUs are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetUse {
    pub gpus_total: u64,
    pub gpus_eligible: u64,
    pub gpus_used: u64,
    pub gpus_free: u64,
}

/// A complete placement, as written to `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub status: SolveStatus,
    pub objective: Objective,
    pub replicas: Vec<PlacedReplica>,
    pub unplaced: Vec<Unplaced>,
    pub fleet: FleetUse,
    /// Where the search was narrower than the rules (GPU sizes of one type kept apart): such a
    /// plan is never `optimal`. Absent when the search covered every plan the rules allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<String>,
    /// Ordered steps from the running plan to this one (`replan` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Vec<MigrationStep>>,
    /// Which fleetfit made the plan, and from which input files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The pods or processes that run each replica (a current plan from `current import`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running: Vec<super::Running>,
}

/// Where a plan came from: fleetfit's version and a digest of each input file's bytes, so that
/// `check`, `replan` and a reviewer can tell whether a plan belongs to the files at hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The version of fleetfit that wrote the plan.
    pub fleetfit: String,
    /// Input role (`fleet`, `deployments`, `skus`) to `sha256:` and the hex digest of the file.
    pub inputs: std::collections::BTreeMap<String, String>,
}

impl Plan {
    /// The plan as pretty JSON with a trailing newline, byte-for-byte deterministic.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a plan always serializes");
        text.push('\n');
        text
    }
}
