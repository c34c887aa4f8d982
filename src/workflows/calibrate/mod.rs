//! `fleetfit calibrate`: engine startup logs into an engine profile's measured runs, so that a
//! team's own runs drive its plans.
//!
//! Each successful vLLM run gives `runtime_mib = ceil(non_kv_gib x 1024 + 6) - W`, where `W` is
//! the memory formula's weights per GPU of the run's shape (MiB, rounded down): what the engine
//! held beside the KV cache, less what fleetfit counts as weights. The 6 MiB cover the log's
//! 2-decimal GiB (non-KV memory is logged within 5.12 MiB), so fleetfit never promises more KV
//! cache than the engine had. An SGLang run gives `runtime_mib = total_mib - floor((W + N x
//! kv_per_token) / MiB)`: its whole GPU less the formula's weights and KV cache of the `N` tokens
//! it allocated (see [`sglang_runtime_mib`]). Runs of one model and shape keep the largest
//! figure; a measured entry of the same model and shape in the base profile is replaced.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::domain::engine::Measured;
use crate::domain::{EngineProfile, Quantization};
use crate::error::InputError;
use crate::formats::catalog::{Catalog, CatalogEntry};

mod identify;
mod measure;

use crate::formats::engine_log::{EngineRun, major_minor};
use crate::formats::profile_file::{self, Logged, ProfileFile};
pub use identify::{quantization_of, resolve_model};
use measure::sglang_kv_mismatch;
pub use measure::{kv_tokens, reserve_mib, runtime_mib, sglang_runtime_mib, weights_formula_mib};

/// MiB added to the logged non-KV memory: its 2-decimal GiB rounding (5.12 MiB) and one more.
pub const ROUNDING_MIB: f64 = 6.0;

/// A measured entry's key: catalog id, quantization, TP, PP.
type Key = (String, Quantization, u64, u64);

/// The calibrated profile and what each run says about it.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub profile: EngineProfile,
    /// One row per run, in the order given.
    pub rows: Vec<Row>,
    /// Runs that could not be measured (models outside the catalog), base profiles replaced.
    pub warnings: Vec<String>,
    /// What the log said for each measured entry this calibration made.
    logged: BTreeMap<Key, Logged>,
}

/// One run: its shape, the tokens the engine logged and those fleetfit's model now gives for the
/// run's own settings (its `gpu_memory_utilization` of its GPU's total memory, its KV dtype).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The log's file name.
    pub file: String,
    /// The catalog id, else the logged model id in lower case.
    pub model: String,
    /// fleetfit's quantization of the run; empty where it has none (failed runs of models
    /// fleetfit cannot map).
    pub quantization: String,
    pub tp: u64,
    pub pp: u64,
    pub kv_cache_dtype: String,
    /// The share of the GPU's total memory the run took as fleetfit counts it (SGLang: 1).
    pub gpu_memory_utilization: f64,
    /// SGLang's `--mem-fraction-static`, where the log gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_fraction_static: Option<f64>,
    pub total_gib: f64,
    /// What the run reserved per GPU as fleetfit counts it (see [`reserve_mib`]).
    pub reserve_mib: u64,
    /// `GPU KV cache size` as logged.
    pub logged_tokens: Option<u64>,
    /// What fleetfit's memory model gives at the run's settings with the calibrated profile.
    pub fleetfit_tokens: Option<u64>,
    /// fleetfit's tokens / the logged tokens.
    pub ratio: Option<f64>,
    /// The profile's runtime memory for the run's model and shape, MiB.
    pub runtime_mib: Option<u64>,
    /// `line N: reason` for a run that failed (it measures nothing).
    pub failure: Option<String>,
    /// Why a successful run measured nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Calibrates a profile from parsed runs: `base` (the profile file being updated, with its
/// path) if given, else the built-in profile of the runs' engine and version.
pub fn calibrate(
    runs: &[EngineRun],
    base: Option<(&Path, EngineProfile)>,
    catalog: &Catalog,
) -> Result<Calibration, InputError> {
    let Some(first) = runs.first() else {
        return Err(InputError::new(Path::new("-"), "", "no engine logs to calibrate from"));
    };
    let engine = first.engine;
    let version = first.major_minor();
    for run in &runs[1..] {
        if run.engine != engine {
            return Err(InputError::new(
                &run.file,
                "",
                format!(
                    "a {} log, but {} is a {engine} log: calibrate one engine at a time",
                    run.engine,
                    first.file.display()
                ),
            ));
        }
        if run.major_minor() != version {
            return Err(InputError::new(
                &run.file,
                "",
                format!(
                    "{} {}, but {} is {engine} {}: calibrate one engine version ({version}) at a time",
                    run.engine,
                    run.version,
                    first.file.display(),
                    first.version
                ),
            ));
        }
    }
    let mut warnings = Vec::new();
    let mut profile = match base {
        Some((path, profile)) => {
            if profile.engine != engine {
                return Err(InputError::new(
                    path,
                    "engine",
                    format!(
                        "the profile is for {}, the logs are {engine}'s: write another file",
                        profile.engine
                    ),
                ));
            }
            if major_minor(&profile.version) != version {
                return Err(InputError::new(
                    path,
                    "version",
                    format!(
                        "the profile is for {engine} {}, the logs are {engine} {version}: write a profile per version",
                        profile.version
                    ),
                ));
            }
            profile
        }
        None => builtin_profile(engine, &version, &mut warnings)?,
    };

    // Measure each successful run; per model and shape keep the largest runtime.
    let mut measured: BTreeMap<Key, (u64, String, Logged)> = BTreeMap::new();
    struct Resolved<'c> {
        entry: &'c CatalogEntry,
        q: Quantization,
    }
    let mut resolved: Vec<Option<Resolved>> = Vec::with_capacity(runs.len());
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        let entry = resolve_model(catalog, &run.model);
        let quantization = quantization_of(run);
        let mut row = Row {
            file: run.file_name(),
            model: entry.map_or_else(|| run.model.to_ascii_lowercase(), |e| e.model.id.clone()),
            quantization: quantization.as_ref().map_or(String::new(), |q| q.name().to_string()),
            tp: run.tp,
            pp: run.pp,
            kv_cache_dtype: run.kv_cache_dtype.name().to_string(),
            gpu_memory_utilization: run.gpu_memory_utilization,
            mem_fraction_static: run.sglang.as_ref().and_then(|s| s.mem_fraction_static),
            total_gib: run.total_gib,
            reserve_mib: reserve_mib(run),
            logged_tokens: run.kv_cache_tokens,
            fleetfit_tokens: None,
            ratio: None,
            runtime_mib: None,
            failure: run.failure.as_ref().map(|f| format!("line {}: {}", f.line, f.reason)),
            skipped: None,
        };
        if run.failure.is_some() {
            rows.push(row);
            resolved.push(None);
            continue;
        }
        let q = quantization.map_err(|message| InputError::new(&run.file, "quantization", message))?;
        let Some(entry) = entry else {
            let note = format!(
                "'{}' is not in fleetfit's catalog: no measured entry (the formula's weights need its architecture)",
                run.model
            );
            warnings.push(format!("{}: {note}", run.file.display()));
            row.skipped = Some(note);
            rows.push(row);
            resolved.push(None);
            continue;
        };
        if let Some(note) = sglang_kv_mismatch(run, &entry.model, q) {
            warnings.push(format!("{}: {note}", run.file.display()));
        }
        let runtime_mib = runtime_mib(run, &entry.model, q);
        let key = (entry.model.id.to_ascii_lowercase(), q, run.tp, run.pp);
        let logged = logged_of(run);
        let keep = measured.get(&key).is_none_or(|(mib, _, _)| runtime_mib > *mib);
        if keep {
            measured.insert(key, (runtime_mib, run.file_name(), logged));
        }
        rows.push(row);
        resolved.push(Some(Resolved { entry, q }));
    }
    let mut logged = BTreeMap::new();
    for (key, (runtime_mib, from, log)) in measured {
        let (model, quantization, tp, pp) = key.clone();
        profile
            .measured
            .retain(|m| (m.model.as_str(), m.quantization, m.tp, m.pp) != (model.as_str(), quantization, tp, pp));
        profile.measured.push(Measured {
            model,
            quantization,
            tp,
            pp,
            runtime_mib,
            from,
        });
        logged.insert(key, log);
    }
    profile.measured.sort_by(|a, b| {
        (a.model.as_str(), a.quantization.name(), a.tp, a.pp).cmp(&(
            b.model.as_str(),
            b.quantization.name(),
            b.tp,
            b.pp,
        ))
    });

    // What the calibrated profile now gives each run at its own settings.
    for ((row, run), r) in rows.iter_mut().zip(runs).zip(&resolved) {
        let Some(Resolved { entry, q }) = r else { continue };
        let runtime = profile.runtime(&entry.model, *q, run.tp, run.pp).total_mib;
        let tokens = kv_tokens(&entry.model, *q, run, runtime, profile.kv_block_tokens);
        row.runtime_mib = Some(runtime);
        row.fleetfit_tokens = tokens;
        row.ratio = match (tokens, run.kv_cache_tokens) {
            (Some(t), Some(l)) if l > 0 => Some(t as f64 / l as f64),
            _ => None,
        };
    }
    Ok(Calibration {
        profile,
        rows,
        warnings,
        logged,
    })
}

/// The built-in profile of `engine` at `version`, else the newest built in, its version
/// rewritten and its measured runs (another version's) dropped.
fn builtin_profile(
    engine: crate::domain::Engine,
    version: &str,
    warnings: &mut Vec<String>,
) -> Result<EngineProfile, InputError> {
    let profiles = crate::formats::engines::Profiles::default();
    if let Ok(p) = profiles.select(engine, Some(version)) {
        return Ok((*p).clone());
    }
    let newest = profiles
        .select(engine, None)
        .map_err(|m| InputError::new(Path::new(engine.name()), "", m))?;
    warnings.push(format!(
        "no built-in {engine} {version} profile: its rules (for shapes no run measured) are {engine} {}'s",
        newest.version
    ));
    let mut profile = (*newest).clone();
    profile.version = version.to_string();
    profile.measured.clear();
    Ok(profile)
}

/// The profile as a file: `profile_file::to_file`, each measured entry with what its log said
/// (this calibration's runs, else what `base` kept for it).
pub fn to_file(calibration: &Calibration, base: Option<&ProfileFile>) -> ProfileFile {
    let mut file = profile_file::to_file(&calibration.profile);
    for m in &mut file.measured {
        let Ok(q) = m.quantization.parse::<Quantization>() else {
            continue;
        };
        let key = (m.model.to_ascii_lowercase(), q, m.tp, m.pp);
        m.logged = calibration.logged.get(&key).cloned().or_else(|| {
            base?
                .measured
                .iter()
                .find(|b| {
                    b.model.to_ascii_lowercase() == key.0
                        && b.quantization.parse::<Quantization>().ok() == Some(q)
                        && (b.tp, b.pp) == (m.tp, m.pp)
                        && b.from == m.from
                })
                .and_then(|b| b.logged.clone())
        });
    }
    file
}

fn logged_of(run: &EngineRun) -> Logged {
    Logged {
        weights_gib: Some(run.weights_gib),
        activation_gib: Some(run.activation_gib),
        non_torch_gib: Some(run.non_torch_gib),
        cuda_graph_gib: run.cuda_graph_gib,
        kv_cache_gib: Some(run.kv_cache_gib),
        kv_cache_tokens: run.kv_cache_tokens,
        total_gib: Some(run.total_gib),
        gpu_memory_utilization: Some(run.gpu_memory_utilization),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Engine, KvCacheDtype};
    use crate::formats::engine_log::EngineRun;
    use std::path::PathBuf;

    fn run(model: &str, quantization: Option<&str>) -> EngineRun {
        EngineRun {
            file: PathBuf::from("run.log"),
            engine: Engine::Vllm,
            version: "0.19.0".into(),
            model: model.into(),
            dtype: Quantization::Bf16,
            quantization: quantization.map(str::to_string),
            tp: 1,
            pp: 1,
            gpu_memory_utilization: 0.95,
            max_model_len: 8192,
            kv_cache_dtype: KvCacheDtype::Auto,
            total_gib: 79.19,
            weights_gib: 14.99,
            activation_gib: 1.89,
            non_torch_gib: 0.25,
            non_kv_gib: 17.13,
            kv_cache_gib: 58.11,
            kv_cache_tokens: Some(476_016),
            max_concurrency: None,
            cuda_graph_gib: None,
            failure: None,
            sglang: None,
        }
    }

    #[test]
    fn republished_checkpoints_resolve_to_their_base_model() {
        let c = Catalog::builtin();
        for (logged, id) in [
            ("RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16", "llama-3.1-8b"),
            ("RedHatAI/Llama-3.3-70B-Instruct-fp8-dynamic", "llama-3.3-70b-instruct"),
            ("RedHatAI/Qwen2.5-7B-Instruct-quantized.w8a8", "qwen2.5-7b"),
            ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b-v0.1"),
            ("google/gemma-2-9b-it", "gemma-2-9b"),
        ] {
            assert_eq!(
                resolve_model(c, logged).map(|e| e.model.id.as_str()),
                Some(id),
                "{logged}"
            );
        }
        assert!(resolve_model(c, "acme/secret-model").is_none());
    }

    #[test]
    fn quantizations_map_to_fleetfits() {
        assert_eq!(quantization_of(&run("m", None)), Ok(Quantization::Bf16));
        assert_eq!(
            quantization_of(&run("x/m-FP8-dynamic", Some("compressed-tensors"))),
            Ok(Quantization::Fp8)
        );
        assert_eq!(
            quantization_of(&run("x/m-quantized.w8a8", Some("compressed-tensors"))),
            Ok(Quantization::Int8)
        );
        assert_eq!(
            quantization_of(&run("x/m-quantized.w4a16", Some("gptq_marlin"))),
            Ok(Quantization::Int4)
        );
        assert_eq!(
            quantization_of(&run("openai/gpt-oss-20b", Some("mxfp4"))),
            Ok(Quantization::Mxfp4)
        );
        assert!(quantization_of(&run("x/m", Some("compressed-tensors"))).is_err());
        assert!(quantization_of(&run("x/m", Some("bitsandbytes"))).is_err());
    }

    #[test]
    fn runtime_is_the_logged_non_kv_memory_beyond_the_formula() {
        let c = Catalog::builtin();
        let model = &resolve_model(c, "meta-llama/Llama-3.1-8B-Instruct").unwrap().model;
        // 17.13 GiB = 17541.12 MiB, + 6 -> 17548; weights 8030261248 x 2 B = 15316.32 MiB -> 15316.
        assert_eq!(weights_formula_mib(model, Quantization::Bf16, 1, 1), 15316);
        assert_eq!(runtime_mib(&run("m", None), model, Quantization::Bf16), 17548 - 15316);
    }
}
