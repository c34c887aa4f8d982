//! SGLang's startup log: its ranks and launch arguments, how a run fails, and lines that are no SGLang log.

mod finish;
mod scan;

use super::VLLM_MARKERS;
use super::text::{Seen, sentence_from, token_after};
use super::vllm::{failure_of, llama_cpp_line};

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
pub(super) struct SgScan {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
