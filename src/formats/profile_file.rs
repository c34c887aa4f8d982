//! Engine profile files (`engines/*.yaml`, `--profiles FILE`, what `fleetfit calibrate` writes):
//! the per-GPU runtime memory of an engine version, each figure with the runs it comes from.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::engine::{Measured, Rule};
use crate::domain::{Engine, EngineProfile, Quantization};
use crate::error::InputError;

/// An engine profile as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// vllm, sglang or llama.cpp.
    pub engine: String,
    /// The engine version the figures were measured on, such as "0.19".
    pub version: String,
    /// Tokens per KV-cache block (vLLM 16); the engine allocates whole blocks.
    pub kv_block_tokens: u64,
    /// MiB added to every figure that is not a measured run (log rounding, allocator slack).
    #[serde(default)]
    pub margin_mib: u64,
    /// Quantized checkpoints keep embeddings and LM head in 16 bits (add what the formula misses).
    #[serde(default)]
    pub embeddings_in_16_bits: bool,
    /// Activation peak per GPU at PP 1, by model_type; the first rule that matches wins, and one
    /// rule must match every model (no model_type, tp or pp).
    pub activation: Vec<RuleFile>,
    /// Per PP size, the percentage of the PP-1 activation one stage keeps (`percent`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activation_pp_percent: Vec<RuleFile>,
    /// Memory outside PyTorch's allocator (CUDA context, NCCL) by tp and pp; one rule must match all.
    pub non_torch: Vec<RuleFile>,
    /// CUDA-graph memory kept beside the profiled figures, by tp and pp.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuda_graph: Vec<RuleFile>,
    /// Per model_type, the percentage of the checkpoint's weights the engine loads (`percent`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights_loaded_percent: Vec<RuleFile>,
    /// Runs measured on this version: their exact runtime memory, which wins for that shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured: Vec<MeasuredFile>,
}

/// One rule: the conditions it holds under and its figure.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Hugging Face model_type (activation rules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pp: Option<u64>,
    /// MiB per GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mib: Option<u64>,
    /// A percentage (activation_pp_percent only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u64>,
    /// The measurements behind the figure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<String>,
}

/// One measured run.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeasuredFile {
    /// Catalog id (or inline id) of the model.
    pub model: String,
    pub quantization: String,
    pub tp: u64,
    pub pp: u64,
    /// Per-GPU memory beside the formula's weights and KV cache, MiB.
    pub runtime_mib: u64,
    /// The log it was read from.
    pub from: String,
    /// The engine's own figures, for the record (GiB as logged; KV tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged: Option<Logged>,
}

/// What the log said, kept beside a measured run so a reader can check the arithmetic.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Logged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_torch_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_graph_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_utilization: Option<f64>,
}

/// More MiB than any GPU's runtime could take (1 TiB): a figure past it is a typo.
const MAX_RUNTIME_MIB: u64 = 1 << 20;

/// Reads and validates a profile file.
pub fn load(path: &Path) -> Result<EngineProfile, InputError> {
    let file: ProfileFile = super::parse_file(path)?;
    resolve(path, &file)
}

/// Validates a parsed profile.
pub fn resolve(path: &Path, file: &ProfileFile) -> Result<EngineProfile, InputError> {
    let err = |field: String, message: String| InputError::new(path, field, message);
    let engine: Engine = file.engine.parse().map_err(|m| err("engine".into(), m))?;
    if file.version.trim().is_empty() {
        return Err(err(
            "version".into(),
            "must name the engine version measured, such as \"0.19\"".into(),
        ));
    }
    if !(1..=4096).contains(&file.kv_block_tokens) {
        return Err(err(
            "kv_block_tokens".into(),
            format!("{} is not a block size (1 to 4096 tokens)", file.kv_block_tokens),
        ));
    }
    if file.margin_mib > MAX_RUNTIME_MIB {
        return Err(err(
            "margin_mib".into(),
            format!("{} MiB is absurd (at most {MAX_RUNTIME_MIB})", file.margin_mib),
        ));
    }
    let activation = rules(path, "activation", &file.activation, Figure::Mib, true)?;
    let activation_pp_percent = rules(
        path,
        "activation_pp_percent",
        &file.activation_pp_percent,
        Figure::Percent,
        false,
    )?;
    let non_torch = rules(path, "non_torch", &file.non_torch, Figure::Mib, true)?;
    let cuda_graph = rules(path, "cuda_graph", &file.cuda_graph, Figure::Mib, false)?;
    let weights_loaded_percent = rules(
        path,
        "weights_loaded_percent",
        &file.weights_loaded_percent,
        Figure::Percent,
        false,
    )?;
    if let Some(i) = weights_loaded_percent.iter().position(|r| r.mib < 100) {
        return Err(err(
            format!("weights_loaded_percent[{i}].percent"),
            "an engine loads at least the checkpoint (100 or more)".into(),
        ));
    }
    let mut measured = Vec::with_capacity(file.measured.len());
    for (i, m) in file.measured.iter().enumerate() {
        let at = |f: &str| format!("measured[{i}].{f}");
        if m.model.trim().is_empty() {
            return Err(err(at("model"), "must name a model".into()));
        }
        let quantization: Quantization = m.quantization.parse().map_err(|e| err(at("quantization"), e))?;
        for (field, v) in [("tp", m.tp), ("pp", m.pp)] {
            if !(1..=4096).contains(&v) {
                return Err(err(at(field), format!("{v} is not a parallel size (1 to 4096)")));
            }
        }
        if m.runtime_mib > MAX_RUNTIME_MIB {
            return Err(err(
                at("runtime_mib"),
                format!("{} MiB is absurd (at most {MAX_RUNTIME_MIB})", m.runtime_mib),
            ));
        }
        let duplicate = measured.iter().position(|x: &Measured| {
            x.model == m.model.to_ascii_lowercase() && x.quantization == quantization && x.tp == m.tp && x.pp == m.pp
        });
        if let Some(j) = duplicate {
            return Err(err(at("model"), format!("the same model and shape as measured[{j}]")));
        }
        measured.push(Measured {
            model: m.model.trim().to_ascii_lowercase(),
            quantization,
            tp: m.tp,
            pp: m.pp,
            runtime_mib: m.runtime_mib,
            from: m.from.clone(),
        });
    }
    Ok(EngineProfile {
        engine,
        version: file.version.trim().to_string(),
        kv_block_tokens: file.kv_block_tokens,
        margin_mib: file.margin_mib,
        activation,
        activation_pp_percent,
        non_torch,
        cuda_graph,
        weights_loaded_percent,
        embeddings_in_16_bits: file.embeddings_in_16_bits,
        measured,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Figure {
    Mib,
    Percent,
}

fn rules(
    path: &Path,
    name: &str,
    list: &[RuleFile],
    figure: Figure,
    need_fallback: bool,
) -> Result<Vec<Rule>, InputError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let at = |f: &str| format!("{name}[{i}].{f}");
        let (value, field, other) = match figure {
            Figure::Mib => (r.mib, "mib", r.percent.map(|_| "percent")),
            Figure::Percent => (r.percent, "percent", r.mib.map(|_| "mib")),
        };
        if let Some(other) = other {
            return Err(InputError::new(
                path,
                at(other),
                format!("{name} rules give `{field}`, not `{other}`"),
            ));
        }
        let Some(value) = value else {
            return Err(InputError::new(path, at(field), "missing"));
        };
        let limit = if figure == Figure::Percent {
            1000
        } else {
            MAX_RUNTIME_MIB
        };
        if value > limit {
            return Err(InputError::new(
                path,
                at(field),
                format!("{value} is absurd (at most {limit})"),
            ));
        }
        if r.model_type.is_some() && name != "activation" && name != "weights_loaded_percent" {
            return Err(InputError::new(
                path,
                at("model_type"),
                format!("{name} rules depend on tp and pp only"),
            ));
        }
        for (f, v) in [("tp", r.tp), ("pp", r.pp)] {
            if let Some(v) = v.filter(|v| !(1..=4096).contains(v)) {
                return Err(InputError::new(
                    path,
                    at(f),
                    format!("{v} is not a parallel size (1 to 4096)"),
                ));
            }
        }
        out.push(Rule {
            model_type: r.model_type.as_ref().map(|t| t.trim().to_ascii_lowercase()),
            tp: r.tp,
            pp: r.pp,
            mib: value,
            from: r.from.clone(),
        });
    }
    if need_fallback
        && !out
            .iter()
            .any(|r| r.model_type.is_none() && r.tp.is_none() && r.pp.is_none())
    {
        return Err(InputError::new(
            path,
            name,
            "no rule matches every model and shape: add one without model_type, tp and pp",
        ));
    }
    Ok(out)
}

/// A profile as a file again (what `calibrate` writes), rules kept in order.
pub fn to_file(profile: &EngineProfile) -> ProfileFile {
    let rules = |list: &[Rule], figure: Figure| -> Vec<RuleFile> {
        list.iter()
            .map(|r| RuleFile {
                model_type: r.model_type.clone(),
                tp: r.tp,
                pp: r.pp,
                mib: (figure == Figure::Mib).then_some(r.mib),
                percent: (figure == Figure::Percent).then_some(r.mib),
                from: r.from.clone(),
            })
            .collect()
    };
    ProfileFile {
        engine: profile.engine.name().to_string(),
        version: profile.version.clone(),
        kv_block_tokens: profile.kv_block_tokens,
        margin_mib: profile.margin_mib,
        embeddings_in_16_bits: profile.embeddings_in_16_bits,
        activation: rules(&profile.activation, Figure::Mib),
        activation_pp_percent: rules(&profile.activation_pp_percent, Figure::Percent),
        non_torch: rules(&profile.non_torch, Figure::Mib),
        cuda_graph: rules(&profile.cuda_graph, Figure::Mib),
        weights_loaded_percent: rules(&profile.weights_loaded_percent, Figure::Percent),
        measured: profile
            .measured
            .iter()
            .map(|m| MeasuredFile {
                model: m.model.clone(),
                quantization: m.quantization.name().to_string(),
                tp: m.tp,
                pp: m.pp,
                runtime_mib: m.runtime_mib,
                from: m.from.clone(),
                logged: None,
            })
            .collect(),
    }
}
