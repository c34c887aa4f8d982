//! The scenarios file: named edits of a base fleet and deployments file, for `fleetfit whatif`.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use super::deployments_file::{DeploymentFile, PolicyFile};
use crate::error::InputError;

/// A scenarios file: named edits of the base fleet and deployments, for `whatif`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenariosFile {
    pub scenarios: Vec<ScenarioFile>,
}

/// One scenario. Edits apply in this order: `remove_nodes`, `add_nodes`, `mark_busy`,
/// `remove_deployments`, `add_deployments`, `scale_replicas`, then `policy`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Unique scenario name (not `base`, the unedited inputs).
    pub name: String,
    /// Nodes that fail or leave.
    pub remove_nodes: Option<NodeSelection>,
    /// Nodes that join.
    #[serde(default)]
    pub add_nodes: Vec<AddNodes>,
    /// GPUs that become ineligible, as if fully used.
    #[serde(default)]
    pub mark_busy: Vec<MarkBusy>,
    /// Deployments that go, by name.
    #[serde(default)]
    pub remove_deployments: Vec<String>,
    /// Deployments that come, written as in the deployments file.
    #[serde(default)]
    pub add_deployments: Vec<DeploymentFile>,
    /// New replica counts by deployment name: a factor (rounded up) or {set: N}.
    #[serde(default)]
    pub scale_replicas: BTreeMap<String, Scale>,
    /// Merged field by field over the base policy (`reserve` and `reserve.per_type` too).
    pub policy: Option<PolicyFile>,
}

/// Nodes by name or by labels (every pair must match).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSelection {
    /// Node names.
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default, deserialize_with = "super::scalar::opt_labels")]
    #[schemars(schema_with = "super::scalar::labels_schema")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `count` new alike nodes named `{prefix}-1` .. `{prefix}-{count}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNodes {
    /// Nodes are named {prefix}-1 .. {prefix}-{count}.
    pub prefix: String,
    /// How many nodes.
    pub count: u32,
    /// GPU type of every GPU.
    pub gpu_type: String,
    /// GPUs per node.
    #[schemars(range(min = 1, max = 4096))]
    pub gpu_count: u32,
    /// Total memory of each GPU, MiB.
    #[schemars(range(min = 1))]
    pub memory_mib: u64,
    /// Memory the driver reserves on each GPU, MiB (default 0).
    #[serde(default)]
    pub reserved_mib: Option<u64>,
    #[serde(default, deserialize_with = "super::scalar::labels")]
    #[schemars(schema_with = "super::scalar::labels_schema")]
    pub labels: BTreeMap<String, String>,
}

/// GPUs that become ineligible, as if fully used; every GPU of the node when `gpus` is omitted.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkBusy {
    /// Node name.
    pub node: String,
    /// GPU indices; every GPU of the node when omitted.
    pub gpus: Option<Vec<u32>>,
}

/// A new replica count: a factor (rounded up) or `{set: N}`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scale {
    Factor(f64),
    Set(SetTo),
}

/// `{set: N}`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTo {
    pub set: u64,
}

/// Reads a scenarios file (syntax and field names only; edits are checked against the base when
/// applied).
pub fn load(path: &Path) -> Result<ScenariosFile, InputError> {
    let file: ScenariosFile = super::parse_file(path)?;
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in file.scenarios.iter().enumerate() {
        if s.name.trim().is_empty() || s.name == "base" {
            return Err(InputError::new(
                path,
                format!("scenarios[{i}].name"),
                "must be a non-empty name other than 'base' (the unedited inputs)",
            ));
        }
        super::names::check(path, format!("scenarios[{i}].name"), &s.name)?;
        if let Some(first) = seen.insert(&s.name, i) {
            return Err(InputError::new(
                path,
                format!("scenarios[{i}].name"),
                format!("duplicate scenario name '{}' (also scenarios[{first}])", s.name),
            ));
        }
    }
    Ok(file)
}
