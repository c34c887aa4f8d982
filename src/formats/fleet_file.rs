//! The fleet file (docs/inputs.md; docs/rules.md §1): nodes with explicit GPUs or the `gpu_count` shorthand.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Fleet, Gpu, Node};
use crate::error::InputError;

/// A fleet file: the nodes and their GPUs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    pub nodes: Vec<NodeFile>,
}

/// One node: either `gpus` or the shorthand `gpu_type` + `gpu_count` + `memory_mib`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Unique node name.
    pub name: String,
    #[serde(
        default,
        deserialize_with = "super::scalar::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[schemars(schema_with = "super::scalar::labels_schema")]
    /// Node labels, matched by `node_selector` and by scenarios.
    pub labels: BTreeMap<String, String>,
    /// Every GPU of the node, listed (or use the shorthand below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Vec<GpuFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Shorthand: the type of `gpu_count` identical idle GPUs, indices 0..gpu_count-1.
    pub gpu_type: Option<String>,
    /// Shorthand: how many identical idle GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub gpu_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Shorthand: total memory of each GPU, MiB.
    #[schemars(range(min = 1))]
    pub memory_mib: Option<u64>,
    /// Shorthand: memory the driver reserves on each GPU, MiB (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_mib: Option<u64>,
}

/// One GPU as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuFile {
    /// Device index on its node (as CUDA_VISIBLE_DEVICES numbers it), unique there.
    pub index: u32,
    #[serde(rename = "type")]
    /// GPU type, such as H100-SXM5-80GB.
    pub gpu_type: String,
    /// Total memory, MiB (nvidia-smi's memory.total).
    #[schemars(range(min = 1))]
    pub memory_mib: u64,
    /// Memory the driver keeps for itself, MiB (nvidia-smi's memory.reserved); default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserved_mib: u64,
    /// Memory held by processes fleetfit does not place, MiB.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub used_mib: u64,
    /// Compute utilization, percent (0..100); at or above the busy threshold the GPU is busy.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    #[schemars(range(max = 100))]
    pub utilization: u32,
    /// An unhealthy GPU is never used.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub healthy: bool,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// More MiB than any GPU has (an exbibyte); keeps memory arithmetic exact.
const MAX_MIB: u64 = 1 << 40;

/// A fleet as a fleet file (YAML), every GPU listed: what `capacity --out-fleet` writes.
pub fn to_yaml(fleet: &Fleet) -> String {
    let file = FleetFile {
        nodes: fleet
            .nodes
            .iter()
            .map(|n| NodeFile {
                name: n.name.clone(),
                labels: n.labels.clone(),
                gpus: Some(
                    n.gpus
                        .iter()
                        .map(|g| GpuFile {
                            index: g.index,
                            gpu_type: g.gpu_type.clone(),
                            memory_mib: g.memory_mib,
                            reserved_mib: g.reserved_mib,
                            used_mib: g.used_mib,
                            utilization: g.utilization,
                            healthy: g.healthy,
                        })
                        .collect(),
                ),
                gpu_type: None,
                gpu_count: None,
                memory_mib: None,
                reserved_mib: None,
            })
            .collect(),
    };
    serde_yaml::to_string(&file).expect("a fleet serializes")
}

/// Reads and validates a fleet file.
pub fn load(path: &Path) -> Result<Fleet, InputError> {
    let file: FleetFile = super::parse_file(path)?;
    resolve(path, file)
}

/// Validates a parsed fleet file and applies its defaults.
pub fn resolve(path: &Path, file: FleetFile) -> Result<Fleet, InputError> {
    if file.nodes.is_empty() {
        return Err(InputError::new(path, "nodes", "the fleet has no nodes"));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut nodes = Vec::with_capacity(file.nodes.len());
    for (i, node) in file.nodes.iter().enumerate() {
        let at = format!("nodes[{i}]");
        if node.name.trim().is_empty() {
            return Err(InputError::new(path, format!("{at}.name"), "must not be empty"));
        }
        super::names::check(path, format!("{at}.name"), &node.name)?;
        if let Some(first) = seen.insert(&node.name, i) {
            return Err(InputError::new(
                path,
                format!("{at}.name"),
                format!("duplicate node name '{}' (also nodes[{first}])", node.name),
            ));
        }
        nodes.push(resolve_node(path, &at, node)?);
    }
    Ok(Fleet { nodes })
}

pub(crate) fn resolve_node(path: &Path, at: &str, node: &NodeFile) -> Result<Node, InputError> {
    let shorthand =
        node.gpu_type.is_some() || node.gpu_count.is_some() || node.memory_mib.is_some() || node.reserved_mib.is_some();
    let gpus = match (&node.gpus, shorthand) {
        (Some(_), true) => {
            return Err(InputError::new(
                path,
                at,
                "give either `gpus` or the shorthand `gpu_type`/`gpu_count`/`memory_mib`, not both",
            ));
        }
        (None, false) => {
            return Err(InputError::new(
                path,
                at,
                "the node has no GPUs: give `gpus` or `gpu_type`, `gpu_count` and `memory_mib`",
            ));
        }
        (Some(gpus), false) => gpus.clone(),
        (None, true) => expand_shorthand(path, at, node)?,
    };
    if gpus.is_empty() {
        return Err(InputError::new(path, format!("{at}.gpus"), "the node has no GPUs"));
    }
    check_labels(path, at, &node.labels)?;
    let mut indices: HashMap<u32, usize> = HashMap::new();
    let mut out = Vec::with_capacity(gpus.len());
    for (j, gpu) in gpus.iter().enumerate() {
        let gat = format!("{at}.gpus[{j}]");
        if let Some(first) = indices.insert(gpu.index, j) {
            return Err(InputError::new(
                path,
                format!("{gat}.index"),
                format!(
                    "duplicate GPU index {} on node '{}' (also gpus[{first}])",
                    gpu.index, node.name
                ),
            ));
        }
        if gpu.gpu_type.trim().is_empty() {
            return Err(InputError::new(path, format!("{gat}.type"), "must not be empty"));
        }
        super::names::check(path, format!("{gat}.type"), &gpu.gpu_type)?;
        if gpu.memory_mib == 0 || gpu.memory_mib > MAX_MIB {
            return Err(InputError::new(
                path,
                format!("{gat}.memory_mib"),
                format!("must be between 1 and {MAX_MIB}"),
            ));
        }
        if gpu.reserved_mib >= gpu.memory_mib {
            return Err(InputError::new(
                path,
                format!("{gat}.reserved_mib"),
                format!(
                    "{} MiB reserved by the driver leaves nothing of the GPU's {} MiB",
                    gpu.reserved_mib, gpu.memory_mib
                ),
            ));
        }
        if gpu.used_mib > gpu.memory_mib {
            return Err(InputError::new(
                path,
                format!("{gat}.used_mib"),
                format!(
                    "{} MiB used is more than the GPU's {} MiB",
                    gpu.used_mib, gpu.memory_mib
                ),
            ));
        }
        if gpu.utilization > 100 {
            return Err(InputError::new(
                path,
                format!("{gat}.utilization"),
                format!("{} is not a percentage (0..100)", gpu.utilization),
            ));
        }
        out.push(Gpu {
            index: gpu.index,
            gpu_type: gpu.gpu_type.clone(),
            memory_mib: gpu.memory_mib,
            reserved_mib: gpu.reserved_mib,
            used_mib: gpu.used_mib,
            utilization: gpu.utilization,
            healthy: gpu.healthy,
            kind_memory_mib: gpu.memory_mib - gpu.reserved_mib,
            view_free_mib: None,
            view_ladder: None,
        });
    }
    out.sort_by_key(|g| g.index);
    Ok(Node {
        name: node.name.clone(),
        labels: node.labels.clone(),
        gpus: out,
    })
}

fn expand_shorthand(path: &Path, at: &str, node: &NodeFile) -> Result<Vec<GpuFile>, InputError> {
    let missing = |field: &str| {
        InputError::new(
            path,
            format!("{at}.{field}"),
            "missing: the shorthand needs `gpu_type`, `gpu_count` and `memory_mib`",
        )
    };
    let gpu_type = node.gpu_type.clone().ok_or_else(|| missing("gpu_type"))?;
    let count = node.gpu_count.ok_or_else(|| missing("gpu_count"))?;
    let memory_mib = node.memory_mib.ok_or_else(|| missing("memory_mib"))?;
    if count == 0 {
        return Err(InputError::new(path, format!("{at}.gpu_count"), "must be at least 1"));
    }
    if count > 4096 {
        return Err(InputError::new(
            path,
            format!("{at}.gpu_count"),
            format!("{count} GPUs on one node is more than any machine holds (at most 4096)"),
        ));
    }
    if memory_mib == 0 || memory_mib > MAX_MIB {
        return Err(InputError::new(
            path,
            format!("{at}.memory_mib"),
            format!("must be between 1 and {MAX_MIB}"),
        ));
    }
    Ok((0..count)
        .map(|index| GpuFile {
            index,
            gpu_type: gpu_type.clone(),
            memory_mib,
            reserved_mib: node.reserved_mib.unwrap_or(0),
            used_mib: 0,
            utilization: 0,
            healthy: true,
        })
        .collect())
}

/// The fleet as a file again (for generators and importers), GPUs spelled out.
pub fn to_file(fleet: &Fleet) -> FleetFile {
    FleetFile {
        nodes: fleet
            .nodes
            .iter()
            .map(|n| NodeFile {
                name: n.name.clone(),
                labels: n.labels.clone(),
                gpus: Some(
                    n.gpus
                        .iter()
                        .map(|g| GpuFile {
                            index: g.index,
                            gpu_type: g.gpu_type.clone(),
                            memory_mib: g.memory_mib,
                            reserved_mib: g.reserved_mib,
                            used_mib: g.used_mib,
                            utilization: g.utilization,
                            healthy: g.healthy,
                        })
                        .collect(),
                ),
                ..NodeFile::default()
            })
            .collect(),
    }
}

/// Label keys and values are names too: printable and short (`formats::names`).
pub(crate) fn check_labels(path: &Path, at: &str, labels: &BTreeMap<String, String>) -> Result<(), InputError> {
    for (key, value) in labels {
        super::names::check(path, format!("{at}.labels"), key)?;
        super::names::check(path, format!("{at}.labels.{key}"), value)?;
    }
    Ok(())
}
