//! Checking what a vLLM log's workers reported against each other, and the EngineRun it gives.

use std::path::Path;

use super::{DEFAULT_UTILIZATION, Scan, VLLM_MINORS, Worker};
use crate::domain::{Engine, KvCacheDtype, Quantization};
use crate::error::InputError;
use crate::formats::engine_log::text::{Seen, first_failure, known_version};
use crate::formats::engine_log::{EngineRun, SUM_TOLERANCE_GIB, WEIGHTS_TOLERANCE_GIB, agreed_total};

impl Scan {
    /// Checks what the workers logged against each other; every contradiction with its line.
    fn contradictions(&self, pp: u64, requested_default: Option<f64>) -> Vec<(usize, String)> {
        let mut out = self.problems.clone();
        const CONTRADICTS: &str = "the log contradicts itself";
        for w in &self.workers {
            if let (Some(loaded), Some(weights)) = (w.loaded, w.weights)
                && (loaded.value - weights.value).abs() > WEIGHTS_TOLERANCE_GIB
            {
                let (early, late) = if loaded.line <= weights.line {
                    (loaded, weights)
                } else {
                    (weights, loaded)
                };
                out.push((
                    late.line,
                    format!(
                        "{} holds {} GiB of weights, but logged {} GiB at line {}; {CONTRADICTS}",
                        w.name, late.value, early.value, early.line
                    ),
                ));
            }
        }
        // Workers of one pipeline stage (one TP group) load the same weights: each figure
        // against those other workers of its stage logged before it.
        let stage = |w: &Worker| if pp <= 1 { Some(0) } else { w.stage };
        let mut figures: Vec<(u64, usize, Seen<f64>)> = self
            .workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| stage(w).map(|s| (s, i)))
            .flat_map(|(s, i)| {
                let w = &self.workers[i];
                [w.loaded, w.weights].into_iter().flatten().map(move |x| (s, i, x))
            })
            .collect();
        figures.sort_by_key(|&(_, i, x)| (x.line, i));
        let conflict = figures.iter().enumerate().find_map(|(k, &(s, i, late))| {
            figures[..k]
                .iter()
                .find(|&&(s2, i2, early)| {
                    s2 == s
                        && i2 != i
                        && early.line < late.line
                        && (early.value - late.value).abs() > WEIGHTS_TOLERANCE_GIB
                })
                .map(|&(_, i2, early)| (i, late, i2, early))
        });
        if let Some((i, late, i2, early)) = conflict {
            out.push((
                late.line,
                format!(
                    "{} holds {} GiB of weights, but {} of the same pipeline stage holds {} GiB (line {}); \
                     {CONTRADICTS}",
                    self.workers[i].name, late.value, self.workers[i2].name, early.value, early.line
                ),
            ));
        }
        for w in &self.workers {
            if w.non_kv_logged
                && let (Some(total), Some(a), Some(b), Some(c)) = (w.non_kv, w.weights, w.activation, w.non_torch)
                && (a.value + b.value + c.value - total.value).abs() > SUM_TOLERANCE_GIB
            {
                out.push((
                    total.line,
                    format!(
                        "weights {} + activation {} + non-torch {} = {:.2} GiB, but the same line gives {} GiB of \
                         non-KV cache memory; {CONTRADICTS}",
                        a.value,
                        b.value,
                        c.value,
                        a.value + b.value + c.value,
                        total.value
                    ),
                ));
            }
            if let (Some(kv), Some(non_kv), Some(requested)) = (w.kv, w.non_kv, w.requested.or(requested_default))
                && (requested - non_kv.value - kv.value).abs() > SUM_TOLERANCE_GIB
            {
                out.push((
                    kv.line,
                    format!(
                        "{} GiB of KV cache memory, but the requested {requested} GiB less {} GiB of non-KV memory \
                         (line {}) is {:.2} GiB; {CONTRADICTS}",
                        kv.value,
                        non_kv.value,
                        non_kv.line,
                        requested - non_kv.value
                    ),
                ));
            }
        }
        out.sort_by_key(|&(line, _)| line);
        out
    }

    pub(in crate::formats::engine_log) fn finish(
        self,
        path: &Path,
        total_mib: Option<u64>,
    ) -> Result<EngineRun, InputError> {
        let at = |n: usize, message: String| InputError::new(path, format!("line {n}"), message);
        let whole = |message: String| InputError::new(path, "", message);
        let Some(version) = &self.version else {
            return Err(whole(
                "no vLLM version found (the `version X` banner, `vLLM API server version X` or `Initializing a V1 \
                 LLM engine (vX)`): calibrate reads a vLLM startup log from its first line"
                    .into(),
            ));
        };
        if !known_version(&version.value, &VLLM_MINORS) {
            return Err(at(
                version.line,
                format!(
                    "vLLM {} is not a version fleetfit reads (0.{} to 0.{})",
                    version.value,
                    VLLM_MINORS.start(),
                    VLLM_MINORS.end()
                ),
            ));
        }
        let Some(config) = &self.config else {
            return Err(whole(
                "no engine config line (`Initializing a V1 LLM engine (v...) with config: model=...`): calibrate \
                 needs the whole startup log, not an excerpt"
                    .into(),
            ));
        };
        let dtype = match config.dtype.trim_start_matches("torch.") {
            "bfloat16" => Quantization::Bf16,
            "float16" | "half" => Quantization::Fp16,
            "float32" | "float" => Quantization::Fp32,
            other => {
                return Err(at(
                    config.line,
                    format!("dtype '{other}' is not one fleetfit models (bfloat16, float16, float32)"),
                ));
            }
        };
        let kv_cache_dtype = match config.kv_cache_dtype.to_ascii_lowercase().as_str() {
            "auto" => KvCacheDtype::Auto,
            k if k.starts_with("fp8") => KvCacheDtype::Fp8,
            "bfloat16" | "float16" | "half" if dtype != Quantization::Fp32 => KvCacheDtype::Auto,
            other => {
                return Err(at(
                    config.line,
                    format!("kv_cache_dtype '{other}' is not one fleetfit models (auto, fp8, fp8_e4m3, fp8_e5m2)"),
                ));
            }
        };
        let util = self.util_logged.or(self.util_args);
        if let (Some(logged), Some(args)) = (self.util_logged, self.util_args)
            && (logged.value - args.value).abs() > 1e-6
        {
            return Err(at(
                logged.line,
                format!(
                    "gpu_memory_utilization {}, but the arguments (line {}) ask for {}; the log contradicts itself",
                    logged.value, args.line, args.value
                ),
            ));
        }
        let u = util.map_or(DEFAULT_UTILIZATION, |s| s.value);
        if !(u > 0.0 && u <= 1.0) {
            return Err(at(
                util.map_or(config.line, |s| s.line),
                format!("gpu_memory_utilization {u} is not a share of the GPU (0 to 1)"),
            ));
        }
        let total_gib = agreed_total(path, self.total, total_mib)?;
        let requested_default = total_gib.map(|t| t * u);
        if let Some((line, message)) = self.contradictions(config.pp, requested_default).into_iter().next() {
            return Err(at(line, message));
        }
        let failure = first_failure(&self.failures);
        if failure.is_none() && self.tokens.is_none() {
            return Err(at(
                self.lines,
                format!(
                    "the log ends at line {} before vLLM reports its KV cache size (`GPU KV cache size: N tokens`) \
                     and without an error: it looks cut short",
                    self.lines
                ),
            ));
        }
        let max = |f: fn(&Worker) -> Option<Seen<f64>>| {
            self.workers
                .iter()
                .filter_map(f)
                .map(|s| s.value)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        };
        let weights = max(|w| w.weights.or(w.loaded));
        let activation = max(|w| w.activation);
        let non_torch = max(|w| w.non_torch);
        let non_kv = max(|w| w.non_kv);
        // The least KV of any worker: logged, or what the requested share leaves a worker that
        // profiled but did not print it (other pipeline stages).
        let kv = self
            .workers
            .iter()
            .filter_map(|w| {
                w.kv.map(|k| k.value).or_else(|| {
                    let non_kv = w.non_kv?.value;
                    Some(((w.requested.or(requested_default)? - non_kv) * 100.0).round() / 100.0)
                })
            })
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
        let cuda_graph = self
            .workers
            .iter()
            .filter_map(|w| w.cuda_graph)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if failure.is_none() {
            const DEBUG: &str = "start vLLM with VLLM_LOGGING_LEVEL=DEBUG and calibrate from its whole log";
            let missing = if total_gib.is_none() {
                Some("the GPU's total memory (`total_memory=` of the worker's memory snapshot)")
            } else if non_kv.is_none() || weights.is_none() {
                Some("vLLM's memory profile (`Memory profiling takes ... Total non KV cache memory: ...`)")
            } else if kv.is_none() {
                Some("the KV cache memory (`Available KV cache memory: ...`)")
            } else {
                None
            };
            if let Some(what) = missing {
                return Err(whole(format!("the log does not report {what}: {DEBUG}")));
            }
        }
        Ok(EngineRun {
            file: path.to_path_buf(),
            engine: Engine::Vllm,
            version: version.value.clone(),
            model: config.model.clone(),
            dtype,
            quantization: config.quantization.clone(),
            tp: config.tp.max(1),
            pp: config.pp.max(1),
            gpu_memory_utilization: u,
            max_model_len: config.max_seq_len.unwrap_or(0),
            kv_cache_dtype,
            total_gib: total_gib.unwrap_or(0.0),
            weights_gib: weights.unwrap_or(0.0),
            activation_gib: activation.unwrap_or(0.0),
            non_torch_gib: non_torch.unwrap_or(0.0),
            non_kv_gib: non_kv.unwrap_or(0.0),
            kv_cache_gib: kv.unwrap_or(0.0),
            kv_cache_tokens: self.tokens.map(|t| t.value),
            max_concurrency: self.concurrency,
            cuda_graph_gib: cuda_graph,
            failure,
            sglang: None,
        })
    }
}
