//! How a deployment's `model` resolves: an inline model, the catalog, or a `config.json` path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::ModelArch;
use crate::error::InputError;
use crate::formats::catalog::Catalog;

/// A model name is an inline id, a catalog name, or a path to a `config.json` (relative to the
/// deployments file first, then to the working directory).
pub(super) fn resolve_model(
    path: &Path,
    at: &str,
    name: &str,
    inline: &BTreeMap<String, Arc<ModelArch>>,
    catalog: &Catalog,
) -> Result<Arc<ModelArch>, InputError> {
    if let Some(m) = inline.get(&name.to_ascii_lowercase()) {
        return Ok(m.clone());
    }
    if let Some(entry) = catalog.find(name) {
        return Ok(entry.model.clone());
    }
    let looks_like_path = name.ends_with(".json") || name.starts_with('.') || name.starts_with('/');
    let relative = path
        .parent()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name));
    for candidate in [relative, PathBuf::from(name)] {
        if candidate.is_file() || candidate.join("config.json").is_file() {
            return crate::formats::hf_config::load(&candidate)
                .map(Arc::new)
                .map_err(|e| InputError::new(path, at, format!("model file {e}")));
        }
    }
    let hint = if looks_like_path {
        format!("no model file at '{name}'")
    } else {
        let similar = catalog.similar(name);
        if similar.is_empty() {
            format!(
                "unknown model '{name}': not an inline model, a catalog id (see `fleetfit models`) or a config.json path"
            )
        } else {
            format!("unknown model '{name}'; similar catalog ids: {}", similar.join(", "))
        }
    };
    Err(InputError::new(path, at, hint))
}
