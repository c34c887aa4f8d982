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

/// The vLLM minor versions (0.x) whose startup lines fleetfit reads.
pub const VLLM_MINORS: std::ops::RangeInclusive<u64> = 8..=19;

/// Two workers of one pipeline stage load the same weights: more apart than this (GiB, two
/// 2-decimal roundings) and the log contradicts itself.
const WEIGHTS_TOLERANCE_GIB: f64 = 0.02;
/// A sum of logged figures against the logged total (GiB): three or four 2-decimal roundings.
const SUM_TOLERANCE_GIB: f64 = 0.03;
/// vLLM's default `--gpu-memory-utilization`.
const DEFAULT_UTILIZATION: f64 = 0.9;
/// vLLM's default KV-cache block on CUDA (V0 logs count blocks, not tokens).
const DEFAULT_BLOCK_TOKENS: u64 = 16;

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

/// A figure and the line it was read on.
#[derive(Debug, Clone, Copy)]
struct Seen<T> {
    value: T,
    line: usize,
}

fn seen<T>(value: T, line: usize) -> Option<Seen<T>> {
    Some(Seen { value, line })
}

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
struct Scan {
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

const LEVELS: [&str; 6] = ["DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"];

/// Where the level word of a log line starts, if the line has one (`... INFO 04-22 ...`).
fn level_at(line: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, &'static str)> = None;
    for level in LEVELS {
        let found = if line.starts_with(level) && line[level.len()..].starts_with(' ') {
            Some(0)
        } else {
            line.find(&format!(" {level} ")).map(|i| i + 1)
        };
        if let Some(i) = found
            && best.is_none_or(|(b, _)| i < b)
        {
            best = Some((i, level));
        }
    }
    best
}

/// The process a line was logged by: the last `(NAME pid=N[, ip=...])` before the level word;
/// `("", "main")` for lines without one.
fn process_of(head: &str) -> (String, String) {
    let mut found = None;
    let mut rest = head;
    let mut offset = 0;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')') else { break };
        let inner = &rest[open + 1..open + close];
        if let Some(p) = inner.find("pid=") {
            found = Some((inner[p..].trim().to_string(), inner[..p].trim().to_string()));
        }
        offset += open + close + 1;
        rest = &head[offset..];
    }
    found.unwrap_or_else(|| (String::new(), "main".to_string()))
}

/// The pipeline stage a process name gives (`Worker_PP1`, `Worker_PP0_TP1`).
fn stage_of(name: &str) -> Option<u64> {
    let i = name.find("PP")?;
    let digits = leading_digits(&name[i + 2..]);
    digits.parse().ok()
}

fn leading_digits(s: &str) -> &str {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    &s[..end]
}

/// The number at the start of `s` (after spaces): digits, a dot, thousands commas, a sign.
fn number(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || c == ',' || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    let text: String = s[..end]
        .trim_end_matches(['.', ','])
        .chars()
        .filter(|&c| c != ',')
        .collect();
    text.parse().ok()
}

/// The whole number at the start of `s` (thousands commas allowed).
fn whole(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == ',')).unwrap_or(s.len());
    let text: String = s[..end].chars().filter(|&c| c != ',').collect();
    text.parse().ok()
}

fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.find(key).map(|i| &line[i + key.len()..])
}

fn number_after(line: &str, key: &str) -> Option<f64> {
    after(line, key).and_then(number)
}

/// A `key=value` of vLLM's engine config line: preceded by `, ` or `: ` (so `dtype=` is not
/// `kv_cache_dtype=`), a quoted value up to its quote, else up to the next `, `.
fn config_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    for prefix in [", ", ": "] {
        let pattern = format!("{prefix}{key}=");
        if let Some(i) = line.find(&pattern) {
            let rest = &line[i + pattern.len()..];
            if let Some(quoted) = rest.strip_prefix('\'') {
                return quoted.find('\'').map(|end| &quoted[..end]);
            }
            let end = rest.find(", ").unwrap_or(rest.len());
            return Some(rest[..end].trim_end_matches(')').trim());
        }
    }
    None
}

/// A token after `key`: up to a space, comma or parenthesis.
fn token_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = after(line, key)?.trim_start();
    let end = rest.find([' ', ',', ')', '(', '\t']).unwrap_or(rest.len());
    let token = rest[..end].trim_end_matches('.');
    (!token.is_empty()).then_some(token)
}

/// `from key` to the end of its sentence (`. ` or the line's end), at most 200 characters.
fn sentence_from(line: &str, key: &str) -> Option<String> {
    let i = line.find(key)?;
    let rest = &line[i..];
    let end = rest.find(". ").unwrap_or(rest.len());
    let text = rest[..end].trim_end_matches(['.', ' ']);
    Some(text.chars().take(200).collect())
}

/// Ways a vLLM run fails, most specific first: the marker and the reason it gives.
fn failure_of(line: &str) -> Option<(usize, String)> {
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

const RAW: &str = "calibrate reads the startup log vLLM printed (VLLM_LOGGING_LEVEL=DEBUG), whole";

/// A header that says the file was published as a summary (or JSON), not the log itself.
fn summary_header(line: &str) -> Option<String> {
    let note = line.strip_prefix("# note:")?.trim();
    if !note.starts_with("published as") {
        return None;
    }
    let what = if note.contains("JSON") {
        "figures parsed out of a startup log (JSON)"
    } else {
        "a summary of a startup log"
    };
    Some(format!(
        "{what}, not the log itself (its header: \"{}\"): {RAW}",
        excerpt(note, 60)
    ))
}

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
fn llama_cpp_line(trimmed: &str) -> Option<String> {
    let llama_cpp = trimmed.starts_with("llama_")
        || trimmed.starts_with("llm_load_")
        || trimmed.starts_with("ggml_")
        || trimmed.starts_with("load_tensors:");
    if llama_cpp {
        return Some("a llama.cpp log: fleetfit calibrate reads vLLM and SGLang logs only".into());
    }
    None
}

fn excerpt(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

/// The header lines the published logs under data/engine-logs begin with.
fn is_header(line: &str) -> bool {
    ["# source:", "# setup:", "# excerpt:", "# note:"]
        .iter()
        .any(|h| line.starts_with(h))
}

impl Scan {
    fn read(path: &Path, text: &str) -> Result<Scan, InputError> {
        let at = |n: usize, message: String| InputError::new(path, format!("line {n}"), message);
        let mut scan = Scan::default();
        let mut current = 0usize; // the worker of the previous line (continuation lines)
        let mut first_content = true;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            scan.lines = n;
            let line = raw.trim_end_matches('\r');
            if is_header(line) {
                if let Some(message) = summary_header(line) {
                    return Err(at(n, message));
                }
                continue;
            }
            if let Some(message) = not_a_vllm_log(line) {
                return Err(at(n, message));
            }
            if line.trim().is_empty() {
                continue;
            }
            if first_content {
                first_content = false;
                let trimmed = line.trim();
                if trimmed.starts_with('{') || trimmed == "[" || trimmed.starts_with("[{") {
                    return Err(at(n, format!("figures in JSON, not a startup log: {RAW}")));
                }
            }
            match level_at(line) {
                Some((level, _)) => {
                    let (key, name) = process_of(&line[..level]);
                    current = scan.worker(&key, &name);
                }
                None => {
                    if scan.workers.is_empty() {
                        current = scan.worker("", "main");
                    }
                }
            }
            scan.line(n, line, current);
        }
        Ok(scan)
    }

    /// The index of the worker with `key`, added when new.
    fn worker(&mut self, key: &str, name: &str) -> usize {
        let i = match self.keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                self.keys.push(key.to_string());
                self.workers.push(Worker::default());
                self.keys.len() - 1
            }
        };
        let w = &mut self.workers[i];
        // The init snapshot logs under `Worker`, later lines under `Worker_TP1`: keep the latter.
        if w.name.is_empty() || name.len() > w.name.len() {
            w.name = name.to_string();
        }
        if let Some(stage) = stage_of(name) {
            w.stage = Some(stage);
        }
        i
    }

    fn line(&mut self, n: usize, line: &str, w: usize) {
        self.version_of(n, line);
        if line.contains("with config: ") && line.contains("model=") {
            self.config_of(n, line);
        }
        if let Some(args) = after(line, "non-default args: ")
            && let Some(u) = number_after(args, "'gpu_memory_utilization': ")
        {
            self.util_args.get_or_insert(Seen { value: u, line: n });
        }
        // Requested share (per worker) and utilization.
        if let Some(rest) = after(line, "Requested memory: ") {
            if let Some(u) = number(rest) {
                self.util(n, u);
            }
            if let Some(gib) = rest.split_once("(util),").and_then(|(_, r)| number(r)) {
                self.workers[w].requested = Some(gib);
            }
        } else if let Some(gib) = number_after(line, "worker requested memory: ") {
            self.workers[w].requested = Some(gib);
        }
        // CUDA's total memory.
        let total = number_after(line, "total_memory=")
            .or_else(|| {
                after(line, "Free memory on device (")
                    .and_then(|r| r.split_once('/'))
                    .and_then(|(_, r)| number(r))
            })
            .or_else(|| number_after(line, "total_gpu_memory ("))
            .or_else(|| number_after(line, "total_gpu_memory="))
            .or_else(|| number_after(line, "has a total capacity of "));
        if let Some(total) = total {
            self.total.get_or_insert(Seen { value: total, line: n });
        }
        // Older V1/V0 INFO form: "total_gpu_memory (79.19GiB) x gpu_memory_utilization (0.90) = 71.27GiB".
        if let Some(rest) = after(line, "gpu_memory_utilization (") {
            if let Some(u) = number(rest) {
                self.util(n, u);
            }
            if let Some(gib) = rest.split_once(") = ").and_then(|(_, r)| number(r)) {
                self.workers[w].requested = Some(gib);
            }
        }
        // The memory profile (DEBUG, 0.10 to 0.19).
        if let Some(rest) = after(line, "Total non KV cache memory: ") {
            let worker = &mut self.workers[w];
            worker.non_kv = number(rest).and_then(|v| seen(v, n));
            worker.non_kv_logged = true;
            worker.activation = number_after(rest, "torch peak memory increase: ").and_then(|v| seen(v, n));
            worker.non_torch = number_after(rest, "non-torch forward increase memory: ").and_then(|v| seen(v, n));
            worker.weights = number_after(rest, "weights memory: ").and_then(|v| seen(v, n));
        }
        // The older INFO form of the same.
        if let Some(rest) = after(line, "model weights take ") {
            let worker = &mut self.workers[w];
            let weights = number(rest);
            let non_torch = number_after(rest, "non_torch_memory takes ");
            let activation = number_after(rest, "activation peak memory takes ");
            worker.weights = weights.and_then(|v| seen(v, n));
            worker.non_torch = non_torch.and_then(|v| seen(v, n));
            worker.activation = activation.and_then(|v| seen(v, n));
            if let (Some(a), Some(b), Some(c)) = (weights, non_torch, activation) {
                worker.non_kv = seen(a + b + c, n);
                worker.non_kv_logged = false;
            }
            if let Some(kv) = number_after(rest, "reserved for KV Cache is ") {
                worker.kv = seen(kv, n);
            }
        }
        if let Some(gib) =
            number_after(line, "Model loading took ").or_else(|| number_after(line, "Loading model weights took "))
        {
            self.workers[w].loaded = seen(gib, n);
        }
        if let Some(gib) = number_after(line, "Available KV cache memory: ") {
            self.workers[w].kv = seen(gib, n);
        }
        if let Some(gib) = after(line, "Graph capturing finished in ").and_then(|r| number_after(r, "took ")) {
            let worker = &mut self.workers[w];
            worker.cuda_graph = Some(worker.cuda_graph.map_or(gib, |g: f64| g.max(gib)));
        }
        // KV cache size: tokens (V1), or blocks (V0).
        let tokens = after(line, "GPU KV cache size: ").and_then(whole).or_else(|| {
            let blocks = after(line, "# GPU blocks: ").or_else(|| after(line, "# cuda blocks: "))?;
            let block = self
                .config
                .as_ref()
                .and_then(|c| c.block_size)
                .unwrap_or(DEFAULT_BLOCK_TOKENS);
            whole(blocks).map(|b| b * block)
        });
        if let Some(tokens) = tokens {
            match self.tokens {
                Some(first) if first.value != tokens => self.problems.push((
                    n,
                    format!(
                        "a KV cache of {tokens} tokens, but line {} reported {} tokens: two runs in one file?",
                        first.line, first.value
                    ),
                )),
                Some(_) => {}
                None => self.tokens = seen(tokens, n),
            }
        }
        if let Some(x) = number_after(line, "tokens per request: ") {
            self.concurrency.get_or_insert(x);
        }
        if let Some((priority, reason)) = failure_of(line)
            && !self.failures.iter().any(|&(p, _, _)| p == priority)
        {
            self.failures.push((priority, n, reason));
        }
    }

    fn util(&mut self, n: usize, u: f64) {
        match self.util_logged {
            Some(first) if (first.value - u).abs() > 1e-6 => self.problems.push((
                n,
                format!(
                    "gpu_memory_utilization {u}, but line {} logged {}; the log contradicts itself",
                    first.line, first.value
                ),
            )),
            Some(_) => {}
            None => self.util_logged = seen(u, n),
        }
    }

    fn version_of(&mut self, n: usize, line: &str) {
        let found = after(line, "LLM engine (v")
            .map(|r| r.split(')').next().unwrap_or(r).trim())
            .or_else(|| token_after(line, "vLLM API server version "))
            .or_else(|| {
                (line.contains('█') || line.contains('▄'))
                    .then(|| token_after(line, "version "))
                    .flatten()
            });
        let Some(version) = found.filter(|v| v.starts_with(|c: char| c.is_ascii_digit())) else {
            return;
        };
        match &self.version {
            Some(first) if first.value != version => self.problems.push((
                n,
                format!(
                    "vLLM {version}, but line {} logged vLLM {}: two runs in one file?",
                    first.line, first.value
                ),
            )),
            Some(_) => {}
            None => self.version = seen(version.to_string(), n),
        }
    }

    fn config_of(&mut self, n: usize, line: &str) {
        let Some(model) = config_value(line, "model") else {
            return;
        };
        let parallel = |key: &str| config_value(line, key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
        let quantization = config_value(line, "quantization")
            .filter(|q| !q.eq_ignore_ascii_case("none"))
            .map(str::to_ascii_lowercase);
        let config = Config {
            line: n,
            model: model.to_string(),
            dtype: config_value(line, "dtype").unwrap_or("auto").to_string(),
            max_seq_len: config_value(line, "max_seq_len").and_then(|v| v.parse().ok()),
            tp: parallel("tensor_parallel_size"),
            pp: parallel("pipeline_parallel_size"),
            quantization,
            kv_cache_dtype: config_value(line, "kv_cache_dtype").unwrap_or("auto").to_string(),
            block_size: config_value(line, "block_size").and_then(|v| v.parse().ok()),
        };
        match &self.config {
            Some(first) if first.model != config.model => self.problems.push((
                n,
                format!(
                    "an engine for model '{}', but line {} started one for '{}': two runs in one file?",
                    config.model, first.line, first.model
                ),
            )),
            Some(first) if (first.tp, first.pp) != (config.tp, config.pp) => self.problems.push((
                n,
                format!(
                    "an engine with TP {} PP {}, but line {} started one with TP {} PP {}: two runs in one file?",
                    config.tp, config.pp, first.line, first.tp, first.pp
                ),
            )),
            Some(_) => {}
            None => self.config = Some(config),
        }
    }

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

    fn finish(self, path: &Path, total_mib: Option<u64>) -> Result<EngineRun, InputError> {
        let at = |n: usize, message: String| InputError::new(path, format!("line {n}"), message);
        let whole = |message: String| InputError::new(path, "", message);
        let Some(version) = &self.version else {
            return Err(whole(
                "no vLLM version found (the `version X` banner, `vLLM API server version X` or `Initializing a V1 \
                 LLM engine (vX)`): calibrate reads a vLLM startup log from its first line"
                    .into(),
            ));
        };
        let mut parts = version.value.split('.');
        let known = parts.next() == Some("0")
            && parts
                .next()
                .and_then(|m| leading_digits(m).parse::<u64>().ok())
                .is_some_and(|m| VLLM_MINORS.contains(&m));
        if !known {
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
        let failure = self
            .failures
            .iter()
            .min_by_key(|&&(priority, line, _)| (priority, line))
            .map(|(_, line, reason)| Failure {
                line: *line,
                reason: reason.clone(),
            });
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

// SGLang.

/// The SGLang minor versions (0.x) whose startup lines fleetfit reads: 0.4 and 0.5 size the KV
/// pool by the same formula (`free after weights - free before weights x (1 -
/// mem_fraction_static)`) and print the lines the module names.
pub const SGLANG_MINORS: std::ops::RangeInclusive<u64> = 4..=5;

const SG_RAW: &str = "calibrate reads the startup log SGLang printed, whole";

/// One rank's lines (the `TP0` of `[2025-01-23 19:35:14 TP0]`; "" without one).
#[derive(Debug, Default)]
struct SgRank {
    name: String,
    before: Option<Seen<f64>>,
    after: Option<Seen<f64>>,
    usage: Option<Seen<f64>>,
    /// K + V (or MLA's KV) size.
    kv: Option<Seen<f64>>,
    tokens: Option<Seen<u64>>,
    pool_end: Option<Seen<f64>>,
    /// The `mem usage` of the graph-capture lines, added up.
    graphs: Option<f64>,
    /// The last graph capture's `avail mem`.
    end: Option<Seen<f64>>,
}

/// SGLang's launch arguments as a `server_args=ServerArgs(...)` line or a `# setup:` header
/// gives them.
#[derive(Debug, Default, Clone)]
struct SgArgs {
    line: usize,
    model: Option<String>,
    tp: Option<u64>,
    pp: Option<u64>,
    mfs: Option<f64>,
    dtype: Option<String>,
    quantization: Option<String>,
    kv_cache_dtype: Option<String>,
    context_length: Option<u64>,
}

/// Everything one pass over an SGLang log collects.
#[derive(Debug, Default)]
struct SgScan {
    lines: usize,
    version: Option<Seen<String>>,
    header: Option<SgArgs>,
    server: Option<SgArgs>,
    ranks: Vec<SgRank>,
    /// `dtype=` of `Load weight end` (older versions).
    weights_dtype: Option<String>,
    /// `quant=` of `Load weight end`.
    quant: Option<String>,
    /// `dtype:` of the KV line: the cache's element type.
    kv_dtype: Option<Seen<String>>,
    /// The scheduler's `max_total_num_tokens=`.
    scheduler_tokens: Option<Seen<u64>>,
    context_len: Option<u64>,
    /// The scheduler's `available_gpu_mem=`.
    available_end: Option<f64>,
    total: Option<Seen<f64>>,
    failures: Vec<(usize, usize, String)>,
    problems: Vec<(usize, String)>,
}

/// The rank tags of a line's `[...]` prefix (`TP0`, `TP1 PP0`, `DP0 TP3`) and the message after it.
fn sglang_rank(line: &str) -> (String, &str) {
    if let Some(rest) = line.strip_prefix('[')
        && let Some(close) = rest.find(']')
    {
        let tags: Vec<&str> = rest[..close]
            .split_whitespace()
            .filter(|t| {
                let letters = t.trim_end_matches(|c: char| c.is_ascii_digit());
                letters.len() < t.len()
                    && !letters.is_empty()
                    && letters.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect();
        return (tags.join(" "), rest[close + 1..].trim_start());
    }
    (String::new(), line)
}

/// The value of `key=` where `key` stands on its own (not the tail of a longer name): a quoted
/// value up to its quote, else up to a comma, space or parenthesis; `None` for `None`.
fn arg_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("{key}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&pattern).map(|i| i + from) {
        from = i + pattern.len();
        let alone = line[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !alone {
            continue;
        }
        let rest = &line[from..];
        let value = match rest.strip_prefix(['\'', '"']) {
            Some(quoted) => &quoted[..quoted.find(['\'', '"']).unwrap_or(quoted.len())],
            None => {
                let end = rest.find([',', ' ', ')', ';']).unwrap_or(rest.len());
                rest[..end].trim_end_matches('.')
            }
        };
        return (!value.is_empty() && value != "None").then_some(value);
    }
    None
}

/// The word after a command-line flag (`--tp 4`, `--tp=4`).
fn flag_value<'a>(line: &'a str, flag: &str) -> Option<&'a str> {
    [format!("{flag} "), format!("{flag}=")]
        .iter()
        .find_map(|f| token_after(line, f))
        .filter(|v| !v.starts_with('-'))
}

impl SgArgs {
    /// The arguments of a `server_args=ServerArgs(...)` line.
    fn of_server_args(n: usize, line: &str) -> SgArgs {
        let num = |key: &str| arg_value(line, key).and_then(|v| v.parse().ok());
        SgArgs {
            line: n,
            model: arg_value(line, "model_path").map(str::to_string),
            tp: num("tp_size"),
            pp: num("pp_size"),
            mfs: arg_value(line, "mem_fraction_static").and_then(|v| v.parse().ok()),
            dtype: arg_value(line, "dtype").map(str::to_string),
            quantization: arg_value(line, "quantization").map(str::to_ascii_lowercase),
            kv_cache_dtype: arg_value(line, "kv_cache_dtype").map(str::to_string),
            context_length: num("context_length"),
        }
    }

    /// The arguments a `# setup:` header names: `server_args` names (`tp_size=1`), the launch
    /// command's flags (`--model-path X --tp 4 --mem-fraction-static 0.93`), or words
    /// (`model ORG/NAME`, `kv_cache_dtype auto`).
    fn of_header(n: usize, line: &str) -> SgArgs {
        let any = |keys: &[&str], flags: &[&str]| {
            keys.iter()
                .find_map(|k| arg_value(line, k))
                .or_else(|| flags.iter().find_map(|f| flag_value(line, f)))
        };
        let model = any(&["model_path"], &["--model-path", "--model"]).or_else(|| {
            [", model ", ": model ", "; model "]
                .iter()
                .find_map(|k| token_after(line, k))
                .filter(|m| m.contains('/'))
        });
        let kv = any(&["kv_cache_dtype"], &["--kv-cache-dtype"]).or_else(|| token_after(line, "kv_cache_dtype "));
        SgArgs {
            line: n,
            model: model.map(str::to_string),
            tp: any(&["tp_size"], &["--tp-size", "--tp", "--tensor-parallel-size"]).and_then(|v| v.parse().ok()),
            pp: any(&["pp_size"], &["--pp-size", "--pp", "--pipeline-parallel-size"]).and_then(|v| v.parse().ok()),
            mfs: any(&["mem_fraction_static"], &["--mem-fraction-static"]).and_then(|v| v.parse().ok()),
            dtype: flag_value(line, "--dtype").map(str::to_string),
            quantization: any(&["quantization"], &["--quantization"]).map(str::to_ascii_lowercase),
            kv_cache_dtype: kv.map(str::to_string),
            context_length: any(&["context_length"], &["--context-length"]).and_then(|v| v.parse().ok()),
        }
    }
}

/// `sglang X.Y` in a `# setup:` header, or `sglang==X` / `sglang version X` in a log line: the
/// version, where it starts with a digit.
fn sglang_version(line: &str, header: bool) -> Option<&str> {
    let lower = line.to_ascii_lowercase();
    let keys: &[&str] = if header {
        &["sglang "]
    } else {
        &["sglang==", "sglang version: ", "sglang version "]
    };
    keys.iter().find_map(|key| {
        lower.match_indices(key).find_map(|(i, _)| {
            let rest = &line[i + key.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(rest.len());
            let token = rest[..end].trim_end_matches('.');
            (token.starts_with(|c: char| c.is_ascii_digit()) && token.contains('.')).then_some(token)
        })
    })
}

/// Ways an SGLang run fails, most specific first, then vLLM's (CUDA out of memory, tracebacks).
fn sglang_failure(line: &str) -> Option<(usize, String)> {
    if line.contains("Not enough memory. Please try to increase --mem-fraction-static") {
        return Some((
            0,
            "not enough memory for the KV cache (SGLang asks for a larger --mem-fraction-static)".into(),
        ));
    }
    if line.contains("leave no GPU memory for the KV cache") {
        return sentence_from(line, "Loaded weights").map(|s| (0, s));
    }
    failure_of(line)
}

/// A vLLM line in an SGLang log, or another refusal told by one line.
fn not_an_sglang_log(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.starts_with('|') && trimmed.ends_with('|') && trimmed.matches('|').count() >= 3 {
        return Some(format!("a summary (a markdown table), not a startup log: {SG_RAW}"));
    }
    if let Some(m) = VLLM_MARKERS.iter().find(|m| line.contains(*m)) {
        return Some(format!("a vLLM line (`{m}`) in an SGLang log: two runs in one file?"));
    }
    llama_cpp_line(trimmed)
}

/// Rounds a difference of 2-decimal figures back to 2 decimals.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl SgScan {
    fn read(path: &Path, text: &str) -> Result<SgScan, InputError> {
        let at = |n: usize, message: String| InputError::new(path, format!("line {n}"), message);
        let mut scan = SgScan::default();
        let mut first_content = true;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            scan.lines = n;
            let line = raw.trim_end_matches('\r');
            if is_header(line) {
                if let Some(message) = summary_header(line) {
                    return Err(at(n, message));
                }
                if let Some(setup) = line.strip_prefix("# setup:") {
                    scan.header_line(n, setup);
                }
                continue;
            }
            if let Some(message) = not_an_sglang_log(line) {
                return Err(at(n, message));
            }
            if line.trim().is_empty() {
                continue;
            }
            if first_content {
                first_content = false;
                let trimmed = line.trim();
                if trimmed.starts_with('{') || trimmed == "[" || trimmed.starts_with("[{") {
                    return Err(at(n, format!("figures in JSON, not a startup log: {SG_RAW}")));
                }
            }
            let (rank, message) = sglang_rank(line);
            let r = scan.rank(&rank);
            scan.line(n, message, r);
        }
        Ok(scan)
    }

    fn header_line(&mut self, n: usize, setup: &str) {
        if self.version.is_none()
            && let Some(v) = sglang_version(setup, true)
        {
            self.version = seen(v.to_string(), n);
        }
        let args = SgArgs::of_header(n, setup);
        match &mut self.header {
            // A second `# setup:` line adds what the first did not name.
            Some(h) => {
                h.model = h.model.take().or(args.model);
                h.tp = h.tp.or(args.tp);
                h.pp = h.pp.or(args.pp);
                h.mfs = h.mfs.or(args.mfs);
                h.dtype = h.dtype.take().or(args.dtype);
                h.quantization = h.quantization.take().or(args.quantization);
                h.kv_cache_dtype = h.kv_cache_dtype.take().or(args.kv_cache_dtype);
                h.context_length = h.context_length.or(args.context_length);
            }
            None => self.header = Some(args),
        }
    }

    fn rank(&mut self, name: &str) -> usize {
        match self.ranks.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                self.ranks.push(SgRank {
                    name: name.to_string(),
                    ..SgRank::default()
                });
                self.ranks.len() - 1
            }
        }
    }

    fn line(&mut self, n: usize, line: &str, r: usize) {
        let who = if self.ranks[r].name.is_empty() {
            "the engine".to_string()
        } else {
            self.ranks[r].name.clone()
        };
        if let Some(rest) = after(line, "Load weight begin.") {
            let rank = &self.ranks[r];
            if let Some(first) = rank.before.filter(|_| rank.kv.is_some()) {
                self.problems.push((
                    n,
                    format!(
                        "{who} loads weights again after its KV cache (first at line {}): a second model (a \
                         speculative-decoding draft) or two runs in one file; calibrate reads one model per run",
                        first.line
                    ),
                ));
            }
            if let Some(v) = number_after(rest, "avail mem=") {
                self.ranks[r].before = seen(v, n);
            }
        }
        if let Some(rest) = after(line, "Load weight end.") {
            let rank = &mut self.ranks[r];
            rank.after = number_after(rest, "avail mem=").and_then(|v| seen(v, n));
            rank.usage = number_after(rest, "mem usage=").and_then(|v| seen(v, n));
            if let Some(d) = token_after(rest, "dtype=") {
                self.weights_dtype.get_or_insert(d.to_string());
            }
            if let Some(q) = token_after(rest, "quant=") {
                self.quant.get_or_insert(q.to_ascii_lowercase());
            }
        }
        if let Some(rest) = after(line, "KV Cache is allocated.") {
            let kv = match number_after(rest, "KV size: ") {
                Some(kv) => Some(kv),
                None => number_after(rest, "K size: ")
                    .zip(number_after(rest, "V size: "))
                    .map(|(k, v)| k + v),
            };
            if let Some(kv) = kv {
                self.ranks[r].kv = seen(cents(kv), n);
            }
            if let Some(tokens) = after(rest, "#tokens: ").and_then(whole) {
                let rank = &mut self.ranks[r];
                if let Some(first) = rank.tokens.filter(|t| t.value != tokens) {
                    self.problems.push((
                        n,
                        format!(
                            "{who} allocates a KV cache of {tokens} tokens, but {} at line {}: two runs in one file?",
                            first.value, first.line
                        ),
                    ));
                }
                rank.tokens = seen(tokens, n);
            }
            if let Some(d) = token_after(rest, "dtype: ") {
                self.kv_dtype.get_or_insert(Seen {
                    value: d.to_string(),
                    line: n,
                });
            }
        }
        if let Some(v) = number_after(line, "Memory pool end. avail mem=") {
            self.ranks[r].pool_end = seen(v, n);
        }
        if line.to_ascii_lowercase().contains("graph end") {
            let rank = &mut self.ranks[r];
            if let Some(usage) = number_after(line, "mem usage=") {
                rank.graphs = Some(cents(rank.graphs.unwrap_or(0.0) + usage));
            }
            if let Some(v) = number_after(line, "avail mem=") {
                rank.end = seen(v, n);
            }
        }
        if let Some(tokens) = after(line, "max_total_num_tokens=").and_then(whole) {
            match self.scheduler_tokens {
                Some(first) if first.value != tokens => self.problems.push((
                    n,
                    format!(
                        "max_total_num_tokens={tokens}, but line {} logged {}: two runs in one file?",
                        first.line, first.value
                    ),
                )),
                Some(_) => {}
                None => self.scheduler_tokens = seen(tokens, n),
            }
            if let Some(len) = after(line, "context_len=").and_then(whole) {
                self.context_len.get_or_insert(len);
            }
            if let Some(v) = number_after(line, "available_gpu_mem=") {
                self.available_end.get_or_insert(v);
            }
        }
        if line.contains("ServerArgs(") {
            let args = SgArgs::of_server_args(n, line);
            match &self.server {
                Some(first) if args.model.is_some() && first.model != args.model => self.problems.push((
                    n,
                    format!(
                        "a server for model '{}', but line {} started one for '{}': two runs in one file?",
                        args.model.as_deref().unwrap_or_default(),
                        first.line,
                        first.model.as_deref().unwrap_or_default()
                    ),
                )),
                Some(_) => {}
                None => self.server = Some(args),
            }
        }
        if self.version.is_none()
            && let Some(v) = sglang_version(line, false)
        {
            self.version = seen(v.to_string(), n);
        }
        let total = number_after(line, "has a total capacity of ")
            .or_else(|| number_after(line, "total_gpu_memory="))
            .or_else(|| number_after(line, "total_memory="));
        if let Some(total) = total {
            self.total.get_or_insert(Seen { value: total, line: n });
        }
        if let Some((priority, reason)) = sglang_failure(line)
            && !self.failures.iter().any(|&(p, _, _)| p == priority)
        {
            self.failures.push((priority, n, reason));
        }
    }

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

    fn finish(mut self, path: &Path, total_mib: Option<u64>) -> Result<EngineRun, InputError> {
        let at = |n: usize, message: String| InputError::new(path, format!("line {n}"), message);
        let whole = |message: String| InputError::new(path, "", message);
        let Some(version) = self.version.clone() else {
            return Err(whole(
                "no SGLang version found: SGLang's startup log does not print it, so name it in a comment line \
                 on top of the log, such as `# setup: sglang 0.5.2`"
                    .into(),
            ));
        };
        let mut parts = version.value.split('.');
        let known = parts.next() == Some("0")
            && parts
                .next()
                .and_then(|m| leading_digits(m).parse::<u64>().ok())
                .is_some_and(|m| SGLANG_MINORS.contains(&m));
        if !known {
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
        let failure = self
            .failures
            .iter()
            .min_by_key(|&&(priority, line, _)| (priority, line))
            .map(|(_, line, reason)| Failure {
                line: *line,
                reason: reason.clone(),
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_logged() {
        assert_eq!(number("67.8GiB."), Some(67.8));
        assert_eq!(number(" 19,920 tokens"), Some(19920.0));
        assert_eq!(number("-2.14 GiB"), Some(-2.14));
        assert_eq!(whole("1,075,312 tokens"), Some(1_075_312));
    }

    #[test]
    fn processes_and_stages() {
        let (key, name) = process_of("(EngineCore_0 pid=1159) (RayWorkerWrapper pid=345, ip=10.42.9.225) ");
        assert_eq!(
            (key.as_str(), name.as_str()),
            ("pid=345, ip=10.42.9.225", "RayWorkerWrapper")
        );
        assert_eq!(stage_of("Worker_PP3"), Some(3));
        assert_eq!(stage_of("Worker_PP1_TP0"), Some(1));
        assert_eq!(stage_of("Worker_TP1"), None);
    }

    #[test]
    fn config_values_skip_lookalike_keys() {
        let line = "with config: model='Qwen/Qwen2.5-72B-Instruct', dtype=torch.bfloat16, quantization=None, \
                    kv_cache_dtype=fp8, tensor_parallel_size=2";
        assert_eq!(config_value(line, "model"), Some("Qwen/Qwen2.5-72B-Instruct"));
        assert_eq!(config_value(line, "dtype"), Some("torch.bfloat16"));
        assert_eq!(config_value(line, "kv_cache_dtype"), Some("fp8"));
        assert_eq!(config_value(line, "tensor_parallel_size"), Some("2"));
    }

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

    #[test]
    fn sglang_ranks_arguments_and_versions() {
        assert_eq!(
            sglang_rank("[2025-01-23 19:35:14 TP0] Load weight begin. avail mem=78.81 GB"),
            ("TP0".to_string(), "Load weight begin. avail mem=78.81 GB")
        );
        assert_eq!(
            sglang_rank("[2026-08-27 03:45:39 DP0 TP3] x"),
            ("DP0 TP3".to_string(), "x")
        );
        assert_eq!(
            sglang_rank("KV Cache is allocated."),
            (String::new(), "KV Cache is allocated.")
        );
        let server = "server_args=ServerArgs(model_path='Qwen/Qwen3-8B', tp_size=2, mem_fraction_static=0.83, \
                      dtype='auto', kv_cache_dtype='fp8_e5m2', quantization=None, context_length=None)";
        let args = SgArgs::of_server_args(1, server);
        assert_eq!(args.model.as_deref(), Some("Qwen/Qwen3-8B"));
        assert_eq!((args.tp, args.mfs), (Some(2), Some(0.83)));
        assert_eq!(args.dtype.as_deref(), Some("auto"), "not kv_cache_dtype's");
        assert_eq!(args.kv_cache_dtype.as_deref(), Some("fp8_e5m2"));
        assert_eq!((args.quantization, args.context_length), (None, None));
        let header = " H100-80GB x4, sglang 0.4.9, python3 -m sglang.launch_server --model /path/to/Qwen3-235B-A22B-FP8 \
                      --tp 4 --trust-remote-code --mem-fraction-static 0.93";
        let args = SgArgs::of_header(1, header);
        assert_eq!(args.model.as_deref(), Some("/path/to/Qwen3-235B-A22B-FP8"));
        assert_eq!((args.tp, args.mfs), (Some(4), Some(0.93)));
        assert_eq!(sglang_version(header, true), Some("0.4.9"));
        let words = " sglang main, model Qwen/Qwen3-30B-A3B-FP8 (served_model_name='q'), tp_size=1, \
                     mem_fraction_static=0.83 (auto), kv_cache_dtype auto (bf16)";
        let args = SgArgs::of_header(1, words);
        assert_eq!(args.model.as_deref(), Some("Qwen/Qwen3-30B-A3B-FP8"));
        assert_eq!((args.tp, args.mfs), (Some(1), Some(0.83)));
        assert_eq!(args.kv_cache_dtype.as_deref(), Some("auto"));
        assert_eq!(sglang_version(words, true), None, "main is no version");
        assert_eq!(
            sglang_version(" sglang ~0.4.1/0.4.2 (inferred)", true),
            None,
            "a guess is none"
        );
        assert_eq!(sglang_version("sglang==0.5.2 torch==2.8", false), Some("0.5.2"));
    }

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
