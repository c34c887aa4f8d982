//! vLLM's startup log: what one pass over its lines collects, how a run fails, and lines that are no vLLM log.

mod finish;
mod scan;

use super::SGLANG_MARKERS;
use super::text::{Seen, level_at, number_after, sentence_from};

/// The vLLM minor versions (0.x) whose startup lines fleetfit reads.
pub const VLLM_MINORS: std::ops::RangeInclusive<u64> = 8..=19;

/// vLLM's default `--gpu-memory-utilization`.
const DEFAULT_UTILIZATION: f64 = 0.9;
/// vLLM's default KV-cache block on CUDA (V0 logs count blocks, not tokens).
const DEFAULT_BLOCK_TOKENS: u64 = 16;

/// What one worker (one GPU) logged.
#[derive(Debug, Default)]
struct Worker {
    /// The process name, such as `Worker_TP1` (the last one it logged under).
    name: String,
    /// The pipeline stage its name gives (`Worker_PP1`), if any.
    stage: Option<u64>,
    /// `weights memory:` of the profile line (or the older `model weights take`).
    weights: Option<Seen<f64>>,
    /// `Model loading took`.
    loaded: Option<Seen<f64>>,
    activation: Option<Seen<f64>>,
    non_torch: Option<Seen<f64>>,
    /// `Total non KV cache memory` as logged, or the sum of the older line's terms.
    non_kv: Option<Seen<f64>>,
    /// Whether `non_kv` was logged as a total (so its terms can be checked against it).
    non_kv_logged: bool,
    kv: Option<Seen<f64>>,
    /// The requested share in GiB (`Requested memory: 0.95 (util), 75.23 GiB`).
    requested: Option<f64>,
    cuda_graph: Option<f64>,
}

/// The engine config line's fields.
#[derive(Debug)]
struct Config {
    line: usize,
    model: String,
    dtype: String,
    max_seq_len: Option<u64>,
    tp: u64,
    pp: u64,
    quantization: Option<String>,
    kv_cache_dtype: String,
    block_size: Option<u64>,
}

/// Everything one pass over the lines collects.
#[derive(Debug, Default)]
pub(super) struct Scan {
    lines: usize,
    version: Option<Seen<String>>,
    config: Option<Config>,
    /// `Requested memory: U (util)` or the older `gpu_memory_utilization (U)`.
    util_logged: Option<Seen<f64>>,
    /// `'gpu_memory_utilization': U` of the non-default args.
    util_args: Option<Seen<f64>>,
    /// CUDA's total memory (GiB) and the line that gave it first.
    total: Option<Seen<f64>>,
    tokens: Option<Seen<u64>>,
    concurrency: Option<f64>,
    /// Failure candidates: (priority, line, reason), the most specific kept per priority.
    failures: Vec<(usize, usize, String)>,
    workers: Vec<Worker>,
    keys: Vec<String>,
    /// Problems found on the way (contradictions): (line, message).
    problems: Vec<(usize, String)>,
}

/// Ways a vLLM run fails, most specific first: the marker and the reason it gives.
pub(super) fn failure_of(line: &str) -> Option<(usize, String)> {
    if line.contains("No available memory for the cache blocks") {
        return Some((0, "no available memory for the cache blocks".into()));
    }
    if line.contains("max seq len")
        && (line.contains("larger than the maximum number of tokens") || line.contains("larger than the available KV"))
    {
        return sentence_from(line, "max seq len").map(|s| (1, s));
    }
    if line.contains("is less than desired GPU memory utilization") {
        return sentence_from(line, "Free memory on device").map(|s| (2, s));
    }
    if line.contains("Failed to load model - not enough GPU memory") {
        return Some((2, "not enough GPU memory to load the model".into()));
    }
    if line.contains("CUDA out of memory occurred when") {
        return sentence_from(line, "CUDA out of memory occurred when").map(|s| (3, s));
    }
    if line.contains("CUDA out of memory") || line.contains("OutOfMemoryError") {
        let reason = match number_after(line, "Tried to allocate ") {
            Some(mib) => format!("CUDA out of memory (tried to allocate {mib:.2} MiB)"),
            None => "CUDA out of memory".into(),
        };
        return Some((4, reason));
    }
    if line.contains("EngineCore failed to start") || line.contains("Engine core initialization failed") {
        return Some((5, "EngineCore failed to start".into()));
    }
    if line.contains("WorkerProc hit an exception") || line.contains("Worker failed with error") {
        return Some((6, "a worker failed".into()));
    }
    if line.contains("Traceback (most recent call last)") {
        return Some((7, "a Python exception (traceback)".into()));
    }
    if let Some((at, level)) = level_at(line)
        && (level == "ERROR" || level == "CRITICAL")
    {
        let message = line[at..].split_once("] ").map_or(&line[at..], |(_, m)| m).trim();
        return Some((8, message.chars().take(200).collect()));
    }
    None
}

pub(super) const RAW: &str = "calibrate reads the startup log vLLM printed (VLLM_LOGGING_LEVEL=DEBUG), whole";

/// A summary, JSON or another engine's log, told by one line; the message refuses it.
fn not_a_vllm_log(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.starts_with('|') && trimmed.ends_with('|') && trimmed.matches('|').count() >= 3 {
        return Some(format!("a summary (a markdown table), not a startup log: {RAW}"));
    }
    if let Some(m) = SGLANG_MARKERS.iter().find(|m| line.contains(*m)) {
        return Some(format!(
            "an SGLang line (`{}`) in a vLLM log: two runs in one file?",
            m.trim_end_matches(['=', '(', '.'])
        ));
    }
    llama_cpp_line(trimmed)
}

/// A llama.cpp line (its functions name each line: `llama_model_load: ...`, `load_tensors:
/// ...`); the message refuses it.
pub(super) fn llama_cpp_line(trimmed: &str) -> Option<String> {
    let llama_cpp = trimmed.starts_with("llama_")
        || trimmed.starts_with("llm_load_")
        || trimmed.starts_with("ggml_")
        || trimmed.starts_with("load_tensors:");
    if llama_cpp {
        return Some("a llama.cpp log: fleetfit calibrate reads vLLM and SGLang logs only".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::formats::engine_log::parse;

    #[test]
    fn the_older_info_profile_is_read() {
        let log = "\
INFO 01-01 00:00:00 [api_server.py:1] vLLM API server version 0.8.4
INFO 01-01 00:00:01 [core.py:1] Initializing a V1 LLM engine (v0.8.4) with config: model='meta-llama/Llama-3.1-8B-Instruct', dtype=torch.bfloat16, max_seq_len=8192, tensor_parallel_size=1, pipeline_parallel_size=1, quantization=None, kv_cache_dtype=auto, device_config=cuda
INFO 01-01 00:00:02 [worker.py:1] Memory profiling takes 5.42 seconds
the current vLLM instance can use total_gpu_memory (79.19GiB) x gpu_memory_utilization (0.90) = 71.27GiB
model weights take 14.99GiB; non_torch_memory takes 0.21GiB; PyTorch activation peak memory takes 1.19GiB; the rest of the memory reserved for KV Cache is 54.88GiB.
INFO 01-01 00:00:03 [kv_cache_utils.py:1] GPU KV cache size: 449,584 tokens
";
        let run = parse(Path::new("old.log"), log).unwrap();
        assert_eq!(run.version, "0.8.4");
        assert_eq!(run.total_gib, 79.19);
        assert_eq!(run.gpu_memory_utilization, 0.9);
        assert!((run.non_kv_gib - 16.39).abs() < 1e-9);
        assert_eq!(run.kv_cache_gib, 54.88);
        assert_eq!(run.kv_cache_tokens, Some(449_584));
        assert!(run.failure.is_none());
    }

    #[test]
    fn versions_out_of_range_are_named() {
        let log = "INFO 01-01 00:00:00 [api_server.py:1] vLLM API server version 0.20.1\n";
        let e = parse(Path::new("new.log"), log).unwrap_err();
        assert_eq!(e.field, "line 1");
        assert_eq!(e.message, "vLLM 0.20.1 is not a version fleetfit reads (0.8 to 0.19)");
    }
}
