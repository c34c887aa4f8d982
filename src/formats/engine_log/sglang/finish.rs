//! Checking an SGLang log's arguments and memory lines against each other, and the EngineRun it gives.

use std::path::Path;

use super::{SG_RAW, SGLANG_MINORS, SgArgs, SgRank, SgScan, cents};
use crate::domain::{Engine, KvCacheDtype, Quantization};
use crate::error::InputError;
use crate::formats::engine_log::text::{Seen, first_failure, known_version};
use crate::formats::engine_log::{EngineRun, SUM_TOLERANCE_GIB, SglangMemory, WEIGHTS_TOLERANCE_GIB, agreed_total};

impl SgScan {
    /// The arguments, server_args winning over the header; a field they both give differently is
    /// a contradiction at the server_args line.
    fn args(&mut self) -> SgArgs {
        let header = self.header.clone().unwrap_or_default();
        let Some(server) = self.server.clone() else {
            return header;
        };
        let mut differ = |what: &str, h: Option<String>, s: Option<String>| -> Option<String> {
            if let (Some(h), Some(s)) = (&h, &s)
                && !h.eq_ignore_ascii_case(s)
            {
                self.problems.push((
                    server.line,
                    format!(
                        "{what} {s}, but the `# setup:` header (line {}) gives {h}; the log contradicts itself",
                        header.line
                    ),
                ));
            }
            s.or(h)
        };
        let text = |x: Option<u64>| x.map(|v| v.to_string());
        SgArgs {
            line: server.line,
            model: differ("model_path", header.model.clone(), server.model.clone()),
            tp: differ("tp_size", text(header.tp), text(server.tp)).and_then(|v| v.parse().ok()),
            pp: differ("pp_size", text(header.pp), text(server.pp)).and_then(|v| v.parse().ok()),
            mfs: differ(
                "mem_fraction_static",
                header.mfs.map(|v| v.to_string()),
                server.mfs.map(|v| v.to_string()),
            )
            .and_then(|v| v.parse().ok()),
            dtype: differ("dtype", header.dtype.clone(), server.dtype.clone()),
            quantization: differ("quantization", header.quantization.clone(), server.quantization.clone()),
            kv_cache_dtype: differ(
                "kv_cache_dtype",
                header.kv_cache_dtype.clone(),
                server.kv_cache_dtype.clone(),
            ),
            context_length: server.context_length.or(header.context_length),
        }
    }

    /// The memory lines checked against each other and `mem_fraction_static`.
    fn contradictions(&self, mfs: Option<f64>) -> Vec<(usize, String)> {
        let mut out = self.problems.clone();
        const CONTRADICTS: &str = "the log contradicts itself";
        for rank in &self.ranks {
            let who = if rank.name.is_empty() {
                "SGLang"
            } else {
                rank.name.as_str()
            };
            if let (Some(b), Some(a), Some(u)) = (rank.before, rank.after, rank.usage)
                && (b.value - a.value - u.value).abs() > WEIGHTS_TOLERANCE_GIB
            {
                out.push((
                    a.line,
                    format!(
                        "{who} had {} GiB free before the weights (line {}) and {} after, {:.2} GiB, but logs \
                         {} GiB of weights; {CONTRADICTS}",
                        b.value,
                        b.line,
                        a.value,
                        b.value - a.value,
                        u.value
                    ),
                ));
            }
            if let (Some(a), Some(kv), Some(p)) = (rank.after, rank.kv, rank.pool_end)
                && p.value > a.value - kv.value + SUM_TOLERANCE_GIB
            {
                out.push((
                    p.line,
                    format!(
                        "{who} has {} GiB free after the KV pool, but {} GiB free after the weights (line {}) \
                         less the {} GiB pool (line {}) leaves {:.2}; {CONTRADICTS}",
                        p.value,
                        a.value,
                        a.line,
                        kv.value,
                        kv.line,
                        a.value - kv.value
                    ),
                ));
            }
            if let (Some(p), Some(e)) = (rank.pool_end, rank.end)
                && e.value > p.value + SUM_TOLERANCE_GIB
            {
                out.push((
                    e.line,
                    format!(
                        "{who} has {} GiB free after capturing CUDA graphs, more than the {} GiB after the KV \
                         pool (line {}); {CONTRADICTS}",
                        e.value, p.value, p.line
                    ),
                ));
            }
            if let (Some(t), Some(s)) = (rank.tokens, self.scheduler_tokens)
                && t.value != s.value
            {
                out.push((
                    s.line,
                    format!(
                        "max_total_num_tokens={}, but {who} allocated {} tokens (line {}); {CONTRADICTS}",
                        s.value, t.value, t.line
                    ),
                ));
            }
        }
        // SGLang sizes the pool from the least free memory of any rank, before and after the
        // weights: the pool can be no larger than what the fraction leaves.
        let least = |f: fn(&SgRank) -> Option<Seen<f64>>| {
            self.ranks
                .iter()
                .filter_map(f)
                .min_by(|a, b| a.value.total_cmp(&b.value))
        };
        if let (Some(mfs), Some(b), Some(a), Some(kv)) = (mfs, least(|r| r.before), least(|r| r.after), least(|r| r.kv))
        {
            let rest = a.value - b.value * (1.0 - mfs);
            if kv.value > rest + SUM_TOLERANCE_GIB {
                out.push((
                    kv.line,
                    format!(
                        "a KV pool of {} GiB, but mem_fraction_static {mfs} leaves {:.2} GiB ({} free after the \
                         weights less {:.2} x {} free before them); {CONTRADICTS}",
                        kv.value,
                        rest,
                        a.value,
                        1.0 - mfs,
                        b.value
                    ),
                ));
            }
        }
        out.sort_by_key(|&(line, _)| line);
        out
    }

    pub(in crate::formats::engine_log) fn finish(
        mut self,
        path: &Path,
        total_mib: Option<u64>,
    ) -> Result<EngineRun, InputError> {
        let at = |n: usize, message: String| InputError::new(path, format!("line {n}"), message);
        let whole = |message: String| InputError::new(path, "", message);
        let Some(version) = self.version.clone() else {
            return Err(whole(
                "no SGLang version found: SGLang's startup log does not print it, so name it in a comment line \
                 on top of the log, such as `# setup: sglang 0.5.2`"
                    .into(),
            ));
        };
        if !known_version(&version.value, &SGLANG_MINORS) {
            return Err(at(
                version.line,
                format!(
                    "SGLang {} is not a version fleetfit reads (0.{} to 0.{})",
                    version.value,
                    SGLANG_MINORS.start(),
                    SGLANG_MINORS.end()
                ),
            ));
        }
        let args = self.args();
        const WHERE: &str = "its `server_args=ServerArgs(...)` line, or a `# setup:` comment on top of the log";
        let Some(model) = args.model.clone() else {
            return Err(whole(format!(
                "no model found (`model_path`): calibrate reads it from {WHERE}"
            )));
        };
        let Some(tp) = args.tp else {
            return Err(whole(format!(
                "no tensor-parallel size found (`tp_size`): calibrate reads it from {WHERE}"
            )));
        };
        if let Some(mfs) = args.mfs
            && !(mfs > 0.0 && mfs <= 1.0)
        {
            return Err(at(
                args.line,
                format!("mem_fraction_static {mfs} is not a share of the GPU (0 to 1)"),
            ));
        }
        let fp8 = |d: &str| d.to_ascii_lowercase().contains("fp8") || d.to_ascii_lowercase().contains("float8");
        let torch_dtype = |d: &str| match d.trim_start_matches("torch.").to_ascii_lowercase().as_str() {
            "bfloat16" | "bf16" => Some(Quantization::Bf16),
            "float16" | "half" | "fp16" => Some(Quantization::Fp16),
            "float32" | "float" | "fp32" => Some(Quantization::Fp32),
            _ => None,
        };
        let quantization = self.quant.clone().or(args.quantization.clone()).filter(|q| q != "none");
        let kv_logged = self
            .kv_dtype
            .clone()
            .filter(|_| args.kv_cache_dtype.as_deref().is_none_or(|k| k == "auto"));
        let dtype = self
            .weights_dtype
            .as_deref()
            .or(args.dtype.as_deref().filter(|d| *d != "auto"))
            .map(|d| {
                torch_dtype(d).ok_or_else(|| {
                    whole(format!(
                        "dtype '{d}' is not one fleetfit models (bfloat16, float16, float32)"
                    ))
                })
            })
            .transpose()?
            .or_else(|| kv_logged.as_ref().and_then(|k| torch_dtype(&k.value)))
            .or(quantization.as_ref().map(|_| Quantization::Bf16));
        let Some(dtype) = dtype else {
            return Err(whole(format!(
                "no compute dtype found (`dtype=` of `Load weight end`, `dtype` of server_args, or the KV cache's \
                 `dtype:`): calibrate reads it from the log or {WHERE}"
            )));
        };
        let kv_cache_dtype = match args.kv_cache_dtype.as_deref() {
            Some(k) if fp8(k) => KvCacheDtype::Fp8,
            Some("auto") | None => match &self.kv_dtype {
                Some(k) if fp8(&k.value) => KvCacheDtype::Fp8,
                Some(k)
                    if torch_dtype(&k.value)
                        .is_some_and(|d| d != dtype && (d == Quantization::Fp32 || dtype == Quantization::Fp32)) =>
                {
                    return Err(at(
                        k.line,
                        format!(
                            "a {} KV cache for {} weights is not one fleetfit models",
                            k.value,
                            dtype.name()
                        ),
                    ));
                }
                _ => KvCacheDtype::Auto,
            },
            Some(k) if torch_dtype(k).is_some_and(|d| (d == Quantization::Fp32) == (dtype == Quantization::Fp32)) => {
                KvCacheDtype::Auto
            }
            Some(other) => {
                return Err(at(
                    args.line,
                    format!("kv_cache_dtype '{other}' is not one fleetfit models (auto, fp8_e5m2, fp8_e4m3)"),
                ));
            }
        };
        if let (Some(k), KvCacheDtype::Auto) = (&self.kv_dtype, kv_cache_dtype)
            && fp8(&k.value)
        {
            return Err(at(
                k.line,
                format!(
                    "an {} KV cache, but kv_cache_dtype is {} (line {}); the log contradicts itself",
                    k.value,
                    args.kv_cache_dtype.as_deref().unwrap_or("auto"),
                    args.line
                ),
            ));
        }
        if let Some((line, message)) = self.contradictions(args.mfs).into_iter().next() {
            return Err(at(line, message));
        }
        let failure = first_failure(&self.failures);
        if failure.is_none() && self.scheduler_tokens.is_none() {
            return Err(at(
                self.lines,
                format!(
                    "the log ends at line {} before SGLang's scheduler reports its KV cache \
                     (`max_total_num_tokens=N, ...`, once CUDA graphs are captured) and without an error: it \
                     looks cut short",
                    self.lines
                ),
            ));
        }
        let least = |f: fn(&SgRank) -> Option<Seen<f64>>| {
            self.ranks
                .iter()
                .filter_map(f)
                .map(|s| s.value)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
        };
        let before = least(|r| r.before);
        let after = least(|r| r.after);
        let kv = least(|r| r.kv);
        let pool_end = least(|r| r.pool_end);
        let end = least(|r| r.end).or(self.available_end);
        let weights = self
            .ranks
            .iter()
            .filter_map(|r| {
                r.usage
                    .map(|u| u.value)
                    .or_else(|| Some(cents(r.before?.value - r.after?.value)))
            })
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let graphs = self
            .ranks
            .iter()
            .filter_map(|r| r.graphs)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let tokens = self
            .scheduler_tokens
            .map(|t| t.value)
            .or_else(|| self.ranks.iter().filter_map(|r| r.tokens).map(|t| t.value).min());
        let total_gib = agreed_total(path, self.total, total_mib)?;
        if failure.is_none() {
            let missing = if before.is_none() {
                Some("the memory free before the weights (`Load weight begin. avail mem=X GB`)")
            } else if after.is_none() {
                Some("the memory free after the weights (`Load weight end. ... avail mem=X GB`)")
            } else if kv.is_none() {
                Some("the KV pool's size (`KV Cache is allocated. ... K size: X GB, V size: Y GB`)")
            } else {
                None
            };
            if let Some(what) = missing {
                return Err(whole(format!("the log does not report {what}: {SG_RAW}")));
            }
            if total_gib.is_none() {
                return Err(whole(
                    "SGLang does not log the GPU's total memory: pass --total-mib N, CUDA's total of the GPUs it \
                     ran on (nvidia-smi's memory.total less memory.reserved; 81090 on an H100 80GB)"
                        .into(),
                ));
            }
        }
        let total = total_gib.unwrap_or(0.0);
        let kv_gib = kv.unwrap_or(0.0);
        Ok(EngineRun {
            file: path.to_path_buf(),
            engine: Engine::Sglang,
            version: version.value.clone(),
            model,
            dtype,
            quantization,
            tp: tp.max(1),
            pp: args.pp.unwrap_or(1).max(1),
            gpu_memory_utilization: 1.0,
            max_model_len: self.context_len.or(args.context_length).unwrap_or(0),
            kv_cache_dtype,
            total_gib: total,
            weights_gib: weights.unwrap_or(0.0),
            activation_gib: after.map_or(0.0, |a| cents(a - kv_gib - graphs.unwrap_or(0.0)).max(0.0)),
            non_torch_gib: match (total_gib, before) {
                (Some(t), Some(b)) => cents(t - b).max(0.0),
                _ => 0.0,
            },
            non_kv_gib: total_gib.map_or(0.0, |t| (t - kv_gib).max(0.0)),
            kv_cache_gib: kv_gib,
            kv_cache_tokens: tokens,
            max_concurrency: None,
            cuda_graph_gib: graphs,
            failure,
            sglang: Some(SglangMemory {
                mem_fraction_static: args.mfs,
                free_before_weights_gib: before.unwrap_or(0.0),
                free_after_weights_gib: after.unwrap_or(0.0),
                free_after_pool_gib: pool_end,
                free_at_end_gib: end,
            }),
        })
    }
}
