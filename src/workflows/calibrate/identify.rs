//! Which model and quantization a logged run is: catalog ids from re-published checkpoint names,
//! fleetfit's quantization from the engine's method.

use std::collections::BTreeSet;

use crate::domain::Quantization;
use crate::formats::catalog::{Catalog, CatalogEntry};
use crate::formats::engine_log::EngineRun;

/// fleetfit's quantization of a run: the torch dtype when unquantized, else the engine's method
/// (vLLM's or SGLang's; compressed-tensors by the checkpoint's name).
pub fn quantization_of(run: &EngineRun) -> Result<Quantization, String> {
    let Some(method) = run.quantization.as_deref() else {
        return Ok(run.dtype);
    };
    let name = run.model.to_ascii_lowercase();
    let by_name = || {
        if name.contains("fp8") {
            Some(Quantization::Fp8)
        } else if ["w8a8", "w8a16", "int8"].iter().any(|s| name.contains(s)) {
            Some(Quantization::Int8)
        } else if ["w4a16", "int4", "awq", "gptq"].iter().any(|s| name.contains(s)) {
            Some(Quantization::Int4)
        } else {
            None
        }
    };
    match method {
        "fp8" | "fbgemm_fp8" | "ptpc_fp8" | "w8a8_fp8" | "modelopt_fp8" => Ok(Quantization::Fp8),
        "w8a8_int8" => Ok(Quantization::Int8),
        "mxfp4" => Ok(Quantization::Mxfp4),
        "awq" | "gptq" | "awq_marlin" | "gptq_marlin" | "marlin" | "gptq_marlin_24" | "gptq_bitblas" => {
            Ok(if ["int8", "w8a16", "8bit"].iter().any(|s| name.contains(s)) {
                Quantization::Int8
            } else {
                Quantization::Int4
            })
        }
        m if m.ends_with("marlin") => Ok(Quantization::Int4),
        "compressed-tensors" => by_name().ok_or_else(|| {
            format!(
                "compressed-tensors checkpoint '{}': its name says neither fp8, w8a8/int8 nor w4a16/int4, so \
                 fleetfit cannot tell its weight format",
                run.model
            )
        }),
        other => Err(format!(
            "{} quantization '{other}' has no fleetfit equivalent (fp8, mxfp4, awq/gptq as int4, \
             compressed-tensors by the checkpoint's name)",
            run.engine
        )),
    }
}

/// Suffixes of quantized re-publications (`-FP8-dynamic`, `-quantized.w8a8`, `-AWQ`, ...).
const QUANTIZED_SUFFIXES: [&str; 16] = [
    "-fp8-dynamic",
    "-fp8-static",
    "-fp8",
    "-w8a8",
    "-w8a16",
    "-w4a16",
    "-int8",
    "-int4",
    "-gptq-int4",
    "-gptq-int8",
    "-gptq",
    "-awq",
    "-mxfp4",
    "-nvfp4",
    "-fp4",
    "-bnb-4bit",
];

/// The catalog model a logged id names: as `Catalog::find` reads it, else without the
/// quantization suffix of a re-published checkpoint, under its own organisation or any of the
/// catalog's (RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16 is meta-llama's).
pub fn resolve_model<'c>(catalog: &'c Catalog, logged: &str) -> Option<&'c CatalogEntry> {
    let lower = logged.trim().to_ascii_lowercase();
    if let Some(entry) = catalog.find(&lower) {
        return Some(entry);
    }
    let (org, bare) = match lower.rsplit_once('/') {
        Some((org, bare)) => (Some(org), bare),
        None => (None, lower.as_str()),
    };
    let mut stem = bare.to_string();
    if let Some(i) = stem.find("-quantized.") {
        stem.truncate(i);
    }
    while let Some(s) = QUANTIZED_SUFFIXES.iter().find(|s| stem.ends_with(*s)) {
        stem.truncate(stem.len() - s.len());
    }
    let orgs: BTreeSet<String> = catalog
        .entries()
        .iter()
        .filter_map(|e| e.repo.as_deref()?.split_once('/').map(|(o, _)| o.to_ascii_lowercase()))
        .collect();
    std::iter::once(stem.clone())
        .chain(org.map(|o| format!("{o}/{stem}")))
        .chain(orgs.iter().map(|o| format!("{o}/{stem}")))
        .find_map(|name| catalog.find(&name))
}
