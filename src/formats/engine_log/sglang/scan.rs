//! Reading an SGLang log's lines into its ranks, arguments, version, total memory and failures.

use std::path::Path;

use super::{SG_RAW, SgArgs, SgRank, SgScan, cents, not_an_sglang_log, sglang_failure, sglang_rank, sglang_version};
use crate::error::InputError;
use crate::formats::engine_log::text::{
    Seen, after, is_header, number_after, seen, starts_json, summary_header, token_after, whole,
};

impl SgScan {
    pub(in crate::formats::engine_log) fn read(path: &Path, text: &str) -> Result<SgScan, InputError> {
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
                if starts_json(line) {
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
}
