//! `kubectl get nodes -o json` (a `List` of nodes, or one node): GPU Feature Discovery's labels
//! tell the product (`nvidia.com/gpu.product`), its memory in MiB (`nvidia.com/gpu.memory`) and
//! the GPU count (`nvidia.com/gpu.count`, else `status.capacity["nvidia.com/gpu"]`).
//!
//! The device plugin takes unhealthy GPUs out of `status.allocatable["nvidia.com/gpu"]`; GPUs
//! counted but not allocatable are imported as unhealthy, and so is every GPU of a node that is
//! cordoned (`spec.unschedulable`) or not `Ready`. Kubernetes does not report GPU memory in use:
//! a node's GPUs are imported idle. Nodes without GPUs are skipped. Every label is kept, so
//! `node_selector` matches what Kubernetes matches.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{NodeRead, gpu_type};
use crate::error::InputError;
use crate::formats::fleet_file::GpuFile;

/// Reads the nodes of the document that have GPUs.
pub fn read(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<Vec<NodeRead>, InputError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| InputError::new(path, "", format!("not JSON: {e}")).at_line(Some(e.line())))?;
    let (items, prefix): (Vec<&Value>, &str) = match (doc.get("kind").and_then(Value::as_str), doc.get("items")) {
        (_, Some(Value::Array(items))) => (items.iter().collect(), "items"),
        (Some("Node"), _) => (vec![&doc], ""),
        _ => {
            return Err(InputError::new(
                path,
                "kind",
                "expected `kubectl get nodes -o json` output (a List of Node objects, or a Node)",
            ));
        }
    };
    let mut out = Vec::new();
    let mut without_gpus = 0;
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| {
            if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}[{i}].{field}")
            }
        };
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| InputError::new(path, at("metadata.name"), "no node name"))?;
        let labels: BTreeMap<String, String> = match item.pointer("/metadata/labels") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect(),
            _ => BTreeMap::new(),
        };
        let count_of = |v: Option<&Value>, field: &str| -> Result<Option<u64>, InputError> {
            match v {
                None => Ok(None),
                Some(v) => v
                    .as_str()
                    .and_then(|s| s.trim().parse().ok())
                    .or_else(|| v.as_u64())
                    .map(Some)
                    .ok_or_else(|| InputError::new(path, at(field), "expected a whole number of GPUs")),
            }
        };
        let labelled = count_of(
            item.pointer("/metadata/labels")
                .and_then(|l| l.get("nvidia.com/gpu.count")),
            "metadata.labels[\"nvidia.com/gpu.count\"]",
        )?;
        let capacity = count_of(
            item.pointer("/status/capacity").and_then(|c| c.get("nvidia.com/gpu")),
            "status.capacity[\"nvidia.com/gpu\"]",
        )?;
        let allocatable = count_of(
            item.pointer("/status/allocatable")
                .and_then(|c| c.get("nvidia.com/gpu")),
            "status.allocatable[\"nvidia.com/gpu\"]",
        )?;
        let count = labelled.or(capacity).unwrap_or(0).max(allocatable.unwrap_or(0));
        if count == 0 {
            without_gpus += 1;
            continue;
        }
        let product = labels.get("nvidia.com/gpu.product").ok_or_else(|| {
            InputError::new(
                path,
                at("metadata.labels"),
                "the node has GPUs but no nvidia.com/gpu.product label (is GPU Feature Discovery running?)",
            )
        })?;
        let memory_mib: u64 = labels
            .get("nvidia.com/gpu.memory")
            .and_then(|m| m.trim().parse().ok())
            .ok_or_else(|| {
                InputError::new(
                    path,
                    at("metadata.labels[\"nvidia.com/gpu.memory\"]"),
                    "expected the GPU memory in MiB (GPU Feature Discovery's label), such as 81559",
                )
            })?;
        let cordoned = item.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true);
        let ready = match item.pointer("/status/conditions").and_then(Value::as_array) {
            Some(conditions) => conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            }),
            None => true,
        };
        let usable = if cordoned || !ready {
            0
        } else {
            allocatable.unwrap_or(count).min(count)
        };
        if usable < count {
            let why = if cordoned {
                "the node is cordoned".to_string()
            } else if !ready {
                "the node is not Ready".to_string()
            } else {
                format!("{usable} of {count} GPUs are allocatable")
            };
            let n = count - usable;
            warnings.push(format!(
                "{}: node {name}: {why}; {n} GPU{} imported as unhealthy",
                path.display(),
                if n == 1 { "" } else { "s" }
            ));
        }
        let gpu_type = gpu_type(product, path, warnings);
        // Node labels carry no driver reserve: use the one measured for the product, or 0.
        let reserved_mib = super::super::gpu_products::measured_reserved_mib(&gpu_type, memory_mib);
        if reserved_mib.is_none() {
            warnings.push(format!(
                "{}: node {name}: no driver-reserved memory is known for {gpu_type} with {memory_mib} MiB; \
                 reserved_mib taken as 0 (import nvidia-smi's CSV or XML for the exact figure)",
                path.display()
            ));
        }
        let reserved_mib = reserved_mib.unwrap_or(0);
        out.push(NodeRead {
            name: Some(name.to_string()),
            gpus: (0..count)
                .map(|index| GpuFile {
                    index: index as u32,
                    gpu_type: gpu_type.clone(),
                    memory_mib,
                    reserved_mib,
                    used_mib: 0,
                    utilization: 0,
                    healthy: index < usable,
                })
                .collect(),
            labels,
        });
    }
    if without_gpus > 0 {
        let nodes = if without_gpus == 1 { "node" } else { "nodes" };
        warnings.push(format!(
            "{}: {without_gpus} {nodes} without GPUs skipped",
            path.display()
        ));
    }
    Ok(out)
}
