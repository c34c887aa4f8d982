//! Engine startup logs, read for `fleetfit calibrate`: what vLLM printed about one run's memory
//! on each GPU (weights, activation peak, non-torch memory, the KV cache it sized) and whether the
//! run came up. One run per file. A log that is cut short, contradicts itself, comes from a vLLM
//! version whose lines fleetfit does not know, or is a summary rather than the log itself is
//! refused, with the line at fault as the error's field (`line N`).
//!
//! vLLM 0.8 to 0.19 (V1 engine): the DEBUG lines of `VLLM_LOGGING_LEVEL=DEBUG` carry the memory
//! profile (`Memory profiling takes ... Total non KV cache memory: ...; torch peak memory
//! increase: ...; non-torch forward increase memory: ...; weights memory: ...`), the CUDA total
//! (`total_memory=79.19GiB`) and the requested share (`Requested memory: 0.950000 (util), ...`);
//! the older INFO form (`model weights take X; non_torch_memory takes Y; PyTorch activation peak
//! memory takes Z; the rest of the memory reserved for KV Cache is K`) is read too. SGLang and
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
/// vLLM 0.19); where a failed run stopped before logging one, it is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineRun {
    pub file: PathBuf,
    pub engine: Engine,
    /// As logged, such as `0.19.0`.
    pub version: String,
    /// As logged, such as `Qwen/Qwen2.5-72B-Instruct`.
    pub model: String,
    /// The torch dtype the engine computed in: bf16, fp16 or fp32.
    pub dtype: Quantization,
    /// vLLM's `quantization=` (fp8, compressed-tensors, mxfp4, awq, gptq_marlin, ...), lower
    /// case; `None` for an unquantized checkpoint.
    pub quantization: Option<String>,
    pub tp: u64,
    pub pp: u64,
    pub gpu_memory_utilization: f64,
    pub max_model_len: u64,
    pub kv_cache_dtype: KvCacheDtype,
    /// CUDA's total memory of a GPU (`total_memory=79.19GiB`).
    pub total_gib: f64,
    /// The most any worker holds: `weights memory` / `Model loading took`.
    pub weights_gib: f64,
    /// The most any worker's activation peak: `torch peak memory increase`.
    pub activation_gib: f64,
    /// The most any worker's `non-torch forward increase memory`.
    pub non_torch_gib: f64,
    /// The most any worker's `Total non KV cache memory` (weights + activation + non-torch).
    pub non_kv_gib: f64,
    /// The least KV cache memory of any worker: `Available KV cache memory`, or the requested
    /// share less the non-KV memory for a worker that does not print it (other pipeline stages).
    pub kv_cache_gib: f64,
    /// `GPU KV cache size: 19,920 tokens`.
    pub kv_cache_tokens: Option<u64>,
    /// `Maximum concurrency for 8,192 tokens per request: 2.43x`.
    pub max_concurrency: Option<f64>,
    /// The most any worker's `Graph capturing finished in 10 secs, took 1.61 GiB`.
    pub cuda_graph_gib: Option<f64>,
    /// Why the engine did not come up, where it did not.
    pub failure: Option<Failure>,
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
    let text = super::read_text(path)?;
    parse(path, &text)
}

/// Parses the text of one startup log that came from `path`.
pub fn parse(path: &Path, text: &str) -> Result<EngineRun, InputError> {
    let scan = Scan::read(path, text)?;
    scan.finish(path)
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
    total_gib: Option<f64>,
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
    const SGLANG: [&str; 5] = [
        "Load weight begin. avail mem=",
        "KV Cache is allocated.",
        "max_total_num_tokens=",
        "Memory pool end. avail mem=",
        "sglang.launch_server",
    ];
    if SGLANG.iter().any(|m| line.contains(m)) {
        return Some(
            "an SGLang startup log: fleetfit calibrate reads vLLM logs only (SGLang's --mem-fraction-static \
             leaves activations and CUDA graphs unprofiled, so its log does not measure them)"
                .into(),
        );
    }
    // llama.cpp's functions name each line (`llama_model_load: ...`, `load_tensors: ...`).
    let llama_cpp = trimmed.starts_with("llama_")
        || trimmed.starts_with("llm_load_")
        || trimmed.starts_with("ggml_")
        || trimmed.starts_with("load_tensors:");
    if llama_cpp {
        return Some("a llama.cpp log: fleetfit calibrate reads vLLM logs only".into());
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
            self.total_gib.get_or_insert(total);
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

    fn finish(self, path: &Path) -> Result<EngineRun, InputError> {
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
        let requested_default = self.total_gib.map(|t| t * u);
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
            let missing = if self.total_gib.is_none() {
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
            total_gib: self.total_gib.unwrap_or(0.0),
            weights_gib: weights.unwrap_or(0.0),
            activation_gib: activation.unwrap_or(0.0),
            non_torch_gib: non_torch.unwrap_or(0.0),
            non_kv_gib: non_kv.unwrap_or(0.0),
            kv_cache_gib: kv.unwrap_or(0.0),
            kv_cache_tokens: self.tokens.map(|t| t.value),
            max_concurrency: self.concurrency,
            cuda_graph_gib: cuda_graph,
            failure,
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
    fn major_minor_of_versions() {
        assert_eq!(major_minor("0.19.0"), "0.19");
        assert_eq!(major_minor("0.10.1.1"), "0.10");
        assert_eq!(major_minor("0.19rc1"), "0.19");
    }
}
