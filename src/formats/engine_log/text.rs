//! The line helpers both scans share: log levels and processes, numbers, `key=value`s, excerpts and header comments.

use super::vllm::RAW;

/// A figure and the line it was read on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen<T> {
    pub(super) value: T,
    pub(super) line: usize,
}

pub(super) fn seen<T>(value: T, line: usize) -> Option<Seen<T>> {
    Some(Seen { value, line })
}

const LEVELS: [&str; 6] = ["DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"];

/// Where the level word of a log line starts, if the line has one (`... INFO 04-22 ...`).
pub(super) fn level_at(line: &str) -> Option<(usize, &'static str)> {
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
pub(super) fn process_of(head: &str) -> (String, String) {
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

pub(super) fn leading_digits(s: &str) -> &str {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    &s[..end]
}

/// The number at the start of `s` (after spaces): digits, a dot, thousands commas, a sign.
pub(super) fn number(s: &str) -> Option<f64> {
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
pub(super) fn whole(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == ',')).unwrap_or(s.len());
    let text: String = s[..end].chars().filter(|&c| c != ',').collect();
    text.parse().ok()
}

pub(super) fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.find(key).map(|i| &line[i + key.len()..])
}

pub(super) fn number_after(line: &str, key: &str) -> Option<f64> {
    after(line, key).and_then(number)
}

/// A `key=value` of vLLM's engine config line: preceded by `, ` or `: ` (so `dtype=` is not
/// `kv_cache_dtype=`), a quoted value up to its quote, else up to the next `, `.
pub(super) fn config_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
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
pub(super) fn token_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = after(line, key)?.trim_start();
    let end = rest.find([' ', ',', ')', '(', '\t']).unwrap_or(rest.len());
    let token = rest[..end].trim_end_matches('.');
    (!token.is_empty()).then_some(token)
}

/// `from key` to the end of its sentence (`. ` or the line's end), at most 200 characters.
pub(super) fn sentence_from(line: &str, key: &str) -> Option<String> {
    let i = line.find(key)?;
    let rest = &line[i..];
    let end = rest.find(". ").unwrap_or(rest.len());
    let text = rest[..end].trim_end_matches(['.', ' ']);
    Some(text.chars().take(200).collect())
}

/// A header that says the file was published as a summary (or JSON), not the log itself.
pub(super) fn summary_header(line: &str) -> Option<String> {
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

pub(super) fn excerpt(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

/// The header lines the published logs under data/engine-logs begin with.
pub(super) fn is_header(line: &str) -> bool {
    ["# source:", "# setup:", "# excerpt:", "# note:"]
        .iter()
        .any(|h| line.starts_with(h))
}

/// The failure that explains a run: the most decisive kind (lowest priority), then the earliest.
pub(super) fn first_failure(failures: &[(usize, usize, String)]) -> Option<super::Failure> {
    failures
        .iter()
        .min_by_key(|&&(priority, line, _)| (priority, line))
        .map(|(_, line, reason)| super::Failure {
            line: *line,
            reason: reason.clone(),
        })
}

/// Whether a `0.MINOR...` version is one of `minors` (the formats fleetfit reads).
pub(super) fn known_version(version: &str, minors: &std::ops::RangeInclusive<u64>) -> bool {
    let mut parts = version.split('.');
    parts.next() == Some("0")
        && parts
            .next()
            .and_then(|m| leading_digits(m).parse::<u64>().ok())
            .is_some_and(|m| minors.contains(&m))
}

/// Whether a file's first content line starts JSON: figures parsed out of a log, not the log.
pub(super) fn starts_json(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.starts_with('{') || trimmed == "[" || trimmed.starts_with("[{")
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
    fn config_values_skip_lookalike_keys() {
        let line = "with config: model='Qwen/Qwen2.5-72B-Instruct', dtype=torch.bfloat16, quantization=None, \
                    kv_cache_dtype=fp8, tensor_parallel_size=2";
        assert_eq!(config_value(line, "model"), Some("Qwen/Qwen2.5-72B-Instruct"));
        assert_eq!(config_value(line, "dtype"), Some("torch.bfloat16"));
        assert_eq!(config_value(line, "kv_cache_dtype"), Some("fp8"));
        assert_eq!(config_value(line, "tensor_parallel_size"), Some("2"));
    }
}
