//! Engine startup logs, read for `fleetfit calibrate`: what vLLM or SGLang printed about one
//! run's memory on each GPU (weights, activation peak, non-torch memory, the KV cache it sized)
//! and whether the run came up. One run per file. A log that is cut short, contradicts itself,
//! comes from an engine version whose lines fleetfit does not know, or is a summary rather than
//! the log itself is refused, with the line at fault as the error's field (`line N`).
//!
//! vLLM 0.8 to 0.19 (V1 engine): the DEBUG lines of `VLLM_LOGGING_LEVEL=DEBUG` carry the memory
//! profile (`Memory profiling takes ... Total non KV cache memory: ...; torch peak memory
//! increase: ...; non-torch forward increase memory: ...; weights memory: ...`), the CUDA total
//! (`total_memory=79.19GiB`) and the requested share (`Requested memory: 0.950000 (util), ...`);
//! the older INFO form (`model weights take X; non_torch_memory takes Y; PyTorch activation peak
//! memory takes Z; the rest of the memory reserved for KV Cache is K`) is read too.
//!
//! SGLang 0.4 to 0.5 (`python -m sglang.launch_server`; its "GB" are GiB): the arguments
//! (`server_args=ServerArgs(model_path=..., tp_size=..., mem_fraction_static=...)`), the free
//! memory before and after the weights (`Load weight begin. avail mem=X GB`, `Load weight end.
//! ... avail mem=A GB, mem usage=Y GB`), the KV pool (`KV Cache is allocated. #tokens: N, K size:
//! A GB, V size: B GB`), the memory after the pool and after CUDA graph capture (`Memory pool
//! end. avail mem=`, `Capture ... graph end. ... mem usage=... avail mem=Z GB`) and the
//! scheduler's `max_total_num_tokens=N, ..., context_len=L, available_gpu_mem=Z GB`, the line
//! that says it came up. SGLang prints neither its version nor the GPU's total memory: the
//! version comes from a `# setup:` comment on top of the log naming `sglang X.Y`, the total from
//! `calibrate --total-mib`. A published excerpt that dropped the `server_args` dump may give the
//! model, `tp_size`, `mem_fraction_static` and `kv_cache_dtype` in that `# setup:` line instead.
//! llama.cpp logs are recognised and refused by name.

use std::path::{Path, PathBuf};

use crate::domain::{Engine, KvCacheDtype, Quantization};
use crate::error::InputError;

mod sglang;
mod text;
mod vllm;

pub use sglang::SGLANG_MINORS;
pub use vllm::VLLM_MINORS;

use sglang::SgScan;
use text::{Seen, is_header, leading_digits};
use vllm::Scan;

/// Two workers of one pipeline stage load the same weights: more apart than this (GiB, two
/// 2-decimal roundings) and the log contradicts itself.
const WEIGHTS_TOLERANCE_GIB: f64 = 0.02;
/// A sum of logged figures against the logged total (GiB): three or four 2-decimal roundings.
const SUM_TOLERANCE_GIB: f64 = 0.03;

/// One engine run as its startup log tells it. Memory figures are GiB as logged (2 decimals in
/// vLLM 0.19 and SGLang); where a failed run stopped before logging one, it is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineRun {
    pub file: PathBuf,
    pub engine: Engine,
    /// As logged, such as `0.19.0` (SGLang: as its `# setup:` header names it).
    pub version: String,
    /// As logged, such as `Qwen/Qwen2.5-72B-Instruct` (SGLang: `model_path`).
    pub model: String,
    /// The torch dtype the engine computed in: bf16, fp16 or fp32.
    pub dtype: Quantization,
    /// vLLM's `quantization=` (fp8, compressed-tensors, mxfp4, awq, gptq_marlin, ...), SGLang's
    /// `quant=` of `Load weight end` (else its `quantization`), lower case; `None` for an
    /// unquantized checkpoint.
    pub quantization: Option<String>,
    pub tp: u64,
    pub pp: u64,
    /// The share of CUDA's total memory the run's workers took. SGLang: 1, the whole GPU (see
    /// [`SglangMemory`]).
    pub gpu_memory_utilization: f64,
    /// vLLM's `max_seq_len`; SGLang's `context_len`.
    pub max_model_len: u64,
    pub kv_cache_dtype: KvCacheDtype,
    /// CUDA's total memory of a GPU (`total_memory=79.19GiB`; SGLang: `--total-mib` / 1024).
    pub total_gib: f64,
    /// The most any worker holds: `weights memory` / `Model loading took` (SGLang: `mem usage`
    /// of `Load weight end`).
    pub weights_gib: f64,
    /// The most any worker's activation peak: `torch peak memory increase`. SGLang, which does
    /// not profile it: what the memory free after the weights leaves beside the KV pool and the
    /// CUDA graphs (the req_to_token pool, buffers, and the activations' room).
    pub activation_gib: f64,
    /// The most any worker's `non-torch forward increase memory`. SGLang: CUDA's total less the
    /// memory free before the weights (CUDA context, torch.distributed/NCCL), 0 without a total.
    pub non_torch_gib: f64,
    /// The most any worker's `Total non KV cache memory` (weights + activation + non-torch).
    /// SGLang: CUDA's total less the KV pool.
    pub non_kv_gib: f64,
    /// The least KV cache memory of any worker: `Available KV cache memory`, or the requested
    /// share less the non-KV memory for a worker that does not print it (other pipeline stages).
    /// SGLang: `K size` + `V size` (or MLA's `KV size`).
    pub kv_cache_gib: f64,
    /// `GPU KV cache size: 19,920 tokens`; SGLang's `#tokens` / `max_total_num_tokens`.
    pub kv_cache_tokens: Option<u64>,
    /// `Maximum concurrency for 8,192 tokens per request: 2.43x`.
    pub max_concurrency: Option<f64>,
    /// The most any worker's `Graph capturing finished in 10 secs, took 1.61 GiB`; SGLang: the
    /// `mem usage` of its `Capture ... graph end` lines, added up.
    pub cuda_graph_gib: Option<f64>,
    /// Why the engine did not come up, where it did not.
    pub failure: Option<Failure>,
    /// What an SGLang log says beside the figures above; `None` for other engines.
    pub sglang: Option<SglangMemory>,
}

/// SGLang's own memory lines (GiB as logged, the least over the ranks of the file).
///
/// SGLang sizes its static pool (weights and KV cache) as `mem_fraction_static` of the memory
/// free when it starts loading the weights, after its CUDA context exists:
/// `KV pool = free after weights - free before weights x (1 - mem_fraction_static)`, in whole
/// tokens. The rest of that free memory, `(1 - mem_fraction_static)` of it, is what SGLang counts
/// on for the req_to_token pool, the CUDA graphs and the activations of a prefill step, which it
/// does not profile. A run therefore takes its whole GPU: fleetfit counts its share as CUDA's
/// total (`gpu_memory_utilization` 1), and its runtime as everything in it but the weights and
/// the KV pool (workflows::calibrate).
#[derive(Debug, Clone, PartialEq)]
pub struct SglangMemory {
    /// `mem_fraction_static` (server_args, else the `# setup:` header); `None` where neither
    /// gives it.
    pub mem_fraction_static: Option<f64>,
    /// `Load weight begin. avail mem=`: what the fraction applies to.
    pub free_before_weights_gib: f64,
    /// `Load weight end. ... avail mem=`.
    pub free_after_weights_gib: f64,
    /// `Memory pool end. avail mem=`.
    pub free_after_pool_gib: Option<f64>,
    /// The last `Capture ... graph end ... avail mem=`, else the scheduler's `available_gpu_mem`:
    /// what SGLang left free for activations.
    pub free_at_end_gib: Option<f64>,
}

/// Where and why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// 1-based line of the log.
    pub line: usize,
    pub reason: String,
}

impl EngineRun {
    /// The file's name, as measured entries cite it.
    pub fn file_name(&self) -> String {
        self.file
            .file_name()
            .map_or_else(|| self.file.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// The engine version's major.minor, such as `0.19`.
    pub fn major_minor(&self) -> String {
        major_minor(&self.version)
    }
}

/// `0.19.0` -> `0.19`.
pub fn major_minor(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{}", leading_digits(b)),
        _ => version.to_string(),
    }
}

/// Reads and parses one startup log.
pub fn load(path: &Path) -> Result<EngineRun, InputError> {
    load_with(path, None)
}

/// Reads and parses one startup log; `total_mib` is CUDA's total memory of its GPUs (MiB), for
/// logs that do not print it (SGLang's). Where a log prints it too, the two must agree.
pub fn load_with(path: &Path, total_mib: Option<u64>) -> Result<EngineRun, InputError> {
    let text = super::read_text(path)?;
    parse_with(path, &text, total_mib)
}

/// Parses the text of one startup log that came from `path`.
pub fn parse(path: &Path, text: &str) -> Result<EngineRun, InputError> {
    parse_with(path, text, None)
}

/// [`parse`] with CUDA's total memory given (see [`load_with`]).
pub fn parse_with(path: &Path, text: &str, total_mib: Option<u64>) -> Result<EngineRun, InputError> {
    if engine_of(text) == Engine::Sglang {
        return SgScan::read(path, text)?.finish(path, total_mib);
    }
    let scan = Scan::read(path, text)?;
    scan.finish(path, total_mib)
}

/// Lines only an SGLang startup log prints.
const SGLANG_MARKERS: [&str; 8] = [
    "Load weight begin. avail mem=",
    "Load weight end.",
    "KV Cache is allocated.",
    "max_total_num_tokens=",
    "Memory pool end. avail mem=",
    "server_args=ServerArgs(",
    "sglang.launch_server",
    "Init torch distributed begin.",
];

/// Lines only a vLLM startup log prints.
const VLLM_MARKERS: [&str; 8] = [
    "vLLM API server version",
    "LLM engine (v",
    "with config: model=",
    "GPU KV cache size:",
    "Memory profiling takes",
    "Available KV cache memory:",
    "# GPU blocks:",
    "worker init memory snapshot",
];

/// The engine whose line comes first (header comments left out); vLLM where neither shows.
fn engine_of(text: &str) -> Engine {
    for line in text.lines().filter(|l| !is_header(l)) {
        if SGLANG_MARKERS.iter().any(|m| line.contains(m)) {
            return Engine::Sglang;
        }
        if VLLM_MARKERS.iter().any(|m| line.contains(m)) {
            return Engine::Vllm;
        }
    }
    Engine::Vllm
}

/// CUDA's total of `--total-mib` against the one a log printed (2 decimals): the log's where
/// they agree, else an error.
fn agreed_total(path: &Path, logged: Option<Seen<f64>>, total_mib: Option<u64>) -> Result<Option<f64>, InputError> {
    match (logged, total_mib) {
        (Some(l), Some(mib)) if (l.value - mib as f64 / 1024.0).abs() > 0.005 + 1e-9 => Err(InputError::new(
            path,
            format!("line {}", l.line),
            format!(
                "the GPU's total memory is {} GiB here, but --total-mib {mib} is {:.2} GiB: the log ran on other GPUs",
                l.value,
                mib as f64 / 1024.0
            ),
        )),
        (Some(l), _) => Ok(Some(l.value)),
        (None, Some(mib)) => Ok(Some(mib as f64 / 1024.0)),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_the_one_whose_line_comes_first() {
        assert_eq!(
            engine_of("# setup: sglang.launch_server\nINFO vLLM API server version 0.19.0\n"),
            Engine::Vllm
        );
        assert_eq!(
            engine_of("[2025-01-23] Load weight begin. avail mem=78.81 GB\n"),
            Engine::Sglang
        );
        assert_eq!(engine_of("nothing\n"), Engine::Vllm);
    }

    #[test]
    fn major_minor_of_versions() {
        assert_eq!(major_minor("0.19.0"), "0.19");
        assert_eq!(major_minor("0.10.1.1"), "0.10");
        assert_eq!(major_minor("0.19rc1"), "0.19");
    }
}
