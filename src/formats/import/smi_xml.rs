//! `nvidia-smi -q -x`: one `<gpu>` per device, in index order, with `product_name`,
//! `fb_memory_usage/{total,used}`, `utilization/gpu_util` and `mig_mode/current_mig`.
//!
//! A GPU in MIG mode is split into instances that fleetfit does not place on: it is imported as
//! unhealthy (never assigned), with a warning.

use std::path::Path;

use super::{NodeRead, gpu_type, not_available, number};
use crate::error::InputError;
use crate::formats::fleet_file::GpuFile;

/// Reads one node's GPUs.
pub fn read(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<NodeRead, InputError> {
    // nvidia-smi starts its document with a DOCTYPE (nvsmi_device_v12.dtd), which roxmltree
    // refuses unless told to allow it.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| InputError::new(path, "", format!("not XML: {e}")).at_line(Some(e.pos().row as usize)))?;
    let root = doc.root_element();
    if root.tag_name().name() != "nvidia_smi_log" {
        return Err(InputError::new(
            path,
            root.tag_name().name(),
            "expected nvidia-smi -q -x output (a <nvidia_smi_log> document)",
        ));
    }
    let mut gpus = Vec::new();
    for (index, gpu) in root.children().filter(|n| n.has_tag_name("gpu")).enumerate() {
        let at = |field: &str| format!("nvidia_smi_log.gpu[{index}].{field}");
        let text_of = |path_in: &[&str]| -> Option<&str> {
            let mut node = gpu;
            for tag in path_in {
                node = node.children().find(|c| c.has_tag_name(*tag))?;
            }
            node.text()
        };
        let product = text_of(&["product_name"])
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| InputError::new(path, at("product_name"), "no product name"))?;
        let memory_mib = text_of(&["fb_memory_usage", "total"])
            .and_then(|t| number(t, "MiB"))
            .ok_or_else(|| InputError::new(path, at("fb_memory_usage.total"), "expected MiB, such as 81559 MiB"))?;
        let used_mib = text_of(&["fb_memory_usage", "used"])
            .and_then(|t| number(t, "MiB"))
            .ok_or_else(|| InputError::new(path, at("fb_memory_usage.used"), "expected MiB, such as 0 MiB"))?;
        let reserved_mib = match text_of(&["fb_memory_usage", "reserved"]) {
            None => 0,
            Some(t) if not_available(t) => 0,
            Some(t) => number(t, "MiB").filter(|&r| r < memory_mib).ok_or_else(|| {
                InputError::new(
                    path,
                    at("fb_memory_usage.reserved"),
                    "expected MiB less than the total, such as 469 MiB",
                )
            })?,
        };
        let utilization = match text_of(&["utilization", "gpu_util"]) {
            Some(t) if !not_available(t) => number(t, "%")
                .filter(|&u| u <= 100)
                .ok_or_else(|| InputError::new(path, at("utilization.gpu_util"), "expected a percentage, 0 to 100"))?
                as u32,
            _ => 0,
        };
        let mig = text_of(&["mig_mode", "current_mig"]).is_some_and(|t| t.trim().eq_ignore_ascii_case("Enabled"));
        if mig {
            warnings.push(format!(
                "{}: GPU {index} is in MIG mode; imported as unhealthy (fleetfit places whole GPUs)",
                path.display()
            ));
        }
        gpus.push(GpuFile {
            index: index as u32,
            gpu_type: gpu_type(product, path, warnings),
            memory_mib,
            reserved_mib,
            used_mib,
            utilization,
            healthy: !mig,
        });
    }
    if gpus.is_empty() {
        return Err(InputError::new(path, "nvidia_smi_log", "no <gpu> element"));
    }
    Ok(NodeRead {
        gpus,
        ..NodeRead::default()
    })
}
