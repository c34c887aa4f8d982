//! The SKU file of capacity planning: node types that can be bought.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::InputError;

/// A SKU file: the node types capacity planning may buy.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkusFile {
    pub skus: Vec<SkuFile>,
}

pub use crate::domain::Sku;

/// A node type that can be bought, as written; bought nodes are named `{name}-1`, `{name}-2`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuFile {
    /// Unique SKU name; bought nodes are named {name}-1, {name}-2, ...
    pub name: String,
    /// GPU type of every GPU of the node.
    pub gpu_type: String,
    /// GPUs per node.
    #[schemars(range(min = 1, max = 4096))]
    pub gpu_count: u32,
    /// Total memory of each GPU, MiB.
    #[schemars(range(min = 1))]
    pub memory_mib: u64,
    /// Memory the driver reserves on each GPU, MiB (nvidia-smi's memory.reserved; default 0).
    #[serde(default)]
    pub reserved_mib: u64,
    /// Per node, in any unit, a whole number.
    pub cost: u64,
    /// At most this many can be bought.
    pub max: Option<u64>,
    /// Labels of every bought node.
    #[serde(default, deserialize_with = "super::scalar::labels")]
    #[schemars(schema_with = "super::scalar::labels_schema")]
    pub labels: BTreeMap<String, String>,
}

/// Reads and validates a SKU file.
pub fn load(path: &Path) -> Result<Vec<Sku>, InputError> {
    let file: SkusFile = super::parse_file(path)?;
    if file.skus.is_empty() {
        return Err(InputError::new(path, "skus", "no SKUs are listed"));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, sku) in file.skus.iter().enumerate() {
        let at = format!("skus[{i}]");
        if sku.name.trim().is_empty() {
            return Err(InputError::new(path, format!("{at}.name"), "must not be empty"));
        }
        super::names::check(path, format!("{at}.name"), &sku.name)?;
        super::fleet_file::check_labels(path, &at, &sku.labels)?;
        if let Some(first) = seen.insert(&sku.name, i) {
            return Err(InputError::new(
                path,
                format!("{at}.name"),
                format!("duplicate SKU name '{}' (also skus[{first}])", sku.name),
            ));
        }
        if sku.gpu_count == 0 || sku.gpu_count > 4096 {
            return Err(InputError::new(
                path,
                format!("{at}.gpu_count"),
                "must be between 1 and 4096",
            ));
        }
        if sku.memory_mib == 0 || sku.memory_mib > 1 << 40 {
            return Err(InputError::new(
                path,
                format!("{at}.memory_mib"),
                "must be between 1 and 1099511627776",
            ));
        }
        if sku.reserved_mib >= sku.memory_mib {
            return Err(InputError::new(
                path,
                format!("{at}.reserved_mib"),
                format!(
                    "{} MiB reserved leaves nothing of {} MiB",
                    sku.reserved_mib, sku.memory_mib
                ),
            ));
        }
        if sku.cost > 1 << 40 {
            return Err(InputError::new(path, format!("{at}.cost"), "must be at most 2^40"));
        }
        if sku.gpu_type.trim().is_empty() {
            return Err(InputError::new(path, format!("{at}.gpu_type"), "must not be empty"));
        }
    }
    Ok(file
        .skus
        .into_iter()
        .map(|s| Sku {
            name: s.name,
            gpu_type: s.gpu_type,
            gpu_count: s.gpu_count,
            memory_mib: s.memory_mib,
            reserved_mib: s.reserved_mib,
            cost: s.cost,
            max: s.max,
            labels: s.labels,
        })
        .collect())
}
