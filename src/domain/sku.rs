//! A node type that capacity planning may buy.

use std::collections::BTreeMap;

/// A node type that can be bought; bought nodes are named `{name}-1`, `{name}-2`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sku {
    pub name: String,
    /// GPU type of every GPU of the node.
    pub gpu_type: String,
    pub gpu_count: u32,
    /// Total memory of each GPU.
    pub memory_mib: u64,
    /// Memory the driver reserves on each GPU (nvidia-smi's `memory.reserved`).
    pub reserved_mib: u64,
    /// Per node, in any unit.
    pub cost: u64,
    /// At most this many can be bought; `None`: as many as help.
    pub max: Option<u64>,
    /// Labels of every bought node.
    pub labels: BTreeMap<String, String>,
}
