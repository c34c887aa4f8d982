//! `fleet import`: a fleet file from what operators already have. The format of each file is
//! told from its content: `nvidia-smi -q -x` XML starts with `<`, `kubectl get nodes -o json`
//! with `{`, anything else is read as `nvidia-smi --query-gpu` CSV. GPU names are normalised to
//! one type per product ([`super::gpu_products`]).

pub mod kubectl;
pub mod smi_csv;
pub mod smi_xml;

use std::path::{Path, PathBuf};

use super::fleet_file::{FleetFile, GpuFile, NodeFile};
use crate::domain::Fleet;
use crate::error::InputError;

/// The imported fleet and what the reader wants a person to know (unknown products, MIG).
#[derive(Debug, Clone)]
pub struct Imported {
    pub fleet: Fleet,
    pub warnings: Vec<String>,
}

/// One node as read, before it is named (nvidia-smi output does not name its machine).
#[derive(Debug, Clone, Default)]
pub struct NodeRead {
    pub name: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub gpus: Vec<GpuFile>,
}

/// The formats `fleet import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    SmiCsv,
    SmiXml,
    Kubectl,
}

impl Source {
    /// The format of a file's text.
    pub fn of(text: &str) -> Source {
        match text.trim_start().chars().next() {
            Some('<') => Source::SmiXml,
            Some('{') | Some('[') => Source::Kubectl,
            _ => Source::SmiCsv,
        }
    }
}

/// Reads every file (`-` is standard input) into one fleet. Nodes from nvidia-smi output are
/// named by `node` (one file only) or the file's name without its extension; kubectl's nodes
/// keep their names (`node` then keeps only that node).
pub fn import(paths: &[PathBuf], node: Option<&str>) -> Result<Imported, InputError> {
    let mut nodes: Vec<(PathBuf, NodeFile)> = Vec::new();
    let mut warnings = Vec::new();
    for path in paths {
        // Standard input too goes through the one capped reader (256 MiB).
        let text = super::read_text(path)?;
        if text.trim().is_empty() {
            return Err(InputError::new(path, "", "the file is empty"));
        }
        let source = Source::of(&text);
        let read = match source {
            Source::SmiCsv => vec![smi_csv::read(path, &text, &mut warnings)?],
            Source::SmiXml => vec![smi_xml::read(path, &text, &mut warnings)?],
            Source::Kubectl => kubectl::read(path, &text, &mut warnings)?,
        };
        let mut read = read;
        if let (Source::Kubectl, Some(wanted)) = (source, node) {
            read.retain(|n| n.name.as_deref() == Some(wanted));
            if read.is_empty() {
                return Err(InputError::new(
                    path,
                    "items",
                    format!("no node named '{wanted}' with GPUs"),
                ));
            }
        }
        for n in read {
            let name = match n.name {
                Some(name) => name,
                None => node_name(path, node, paths.len())?,
            };
            if let Some((first, _)) = nodes.iter().find(|(_, other)| other.name == name) {
                return Err(InputError::new(
                    path,
                    "",
                    format!(
                        "node '{name}' is already read from {}; name the nodes apart (rename the files)",
                        first.display()
                    ),
                ));
            }
            nodes.push((
                path.clone(),
                NodeFile {
                    name,
                    labels: n.labels,
                    gpus: Some(n.gpus),
                    ..NodeFile::default()
                },
            ));
        }
    }
    let Some((first, _)) = nodes.first() else {
        let path = paths.first().map(PathBuf::as_path).unwrap_or(Path::new("-"));
        return Err(InputError::new(path, "", "no GPU node found in the input"));
    };
    let first = first.clone();
    let fleet = super::fleet_file::resolve(
        &first,
        FleetFile {
            nodes: nodes.into_iter().map(|(_, n)| n).collect(),
        },
    )?;
    Ok(Imported { fleet, warnings })
}

/// The name of a node read from nvidia-smi output.
fn node_name(path: &Path, node: Option<&str>, files: usize) -> Result<String, InputError> {
    if let Some(name) = node {
        if files > 1 {
            return Err(InputError::new(
                path,
                "",
                format!("--node names one node but {files} files are given; each file's name names its node"),
            ));
        }
        return Ok(name.to_string());
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && path.as_os_str() != "-");
    stem.ok_or_else(|| InputError::new(path, "", "nvidia-smi output does not name its node; give --node NAME"))
}

/// A number that nvidia-smi may print with a unit (`81559 MiB`, `35 %`).
pub(crate) fn number(text: &str, unit: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix(unit).unwrap_or(t).trim();
    t.parse().ok()
}

/// Whether nvidia-smi printed no value (`[N/A]`, `N/A`, `[Not Supported]`).
pub(crate) fn not_available(text: &str) -> bool {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    t.eq_ignore_ascii_case("N/A") || t.eq_ignore_ascii_case("Not Supported") || t.is_empty()
}

/// The GPU type for a product name, warning once per unknown product.
pub(crate) fn gpu_type(product: &str, path: &Path, warnings: &mut Vec<String>) -> String {
    let (name, known) = super::gpu_products::normalise(product);
    if !known {
        let warning = format!(
            "{}: unknown GPU product '{name}', kept as its type (add it to gpu_types by this name)",
            path.display()
        );
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
    name
}
