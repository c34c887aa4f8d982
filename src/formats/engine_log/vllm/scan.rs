//! Reading a vLLM log's lines into its workers, engine config, version, total memory and failures.

use std::path::Path;

use super::{Config, DEFAULT_BLOCK_TOKENS, RAW, Scan, Worker, failure_of, not_a_vllm_log};
use crate::error::InputError;
use crate::formats::engine_log::text::{
    Seen, after, config_value, is_header, leading_digits, level_at, number, number_after, process_of, seen,
    starts_json, summary_header, token_after, whole,
};

/// The pipeline stage a process name gives (`Worker_PP1`, `Worker_PP0_TP1`).
fn stage_of(name: &str) -> Option<u64> {
    let i = name.find("PP")?;
    let digits = leading_digits(&name[i + 2..]);
    digits.parse().ok()
}

impl Scan {
    pub(in crate::formats::engine_log) fn read(path: &Path, text: &str) -> Result<Scan, InputError> {
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
                if starts_json(line) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
