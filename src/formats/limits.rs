//! Limits on input files, checked before the real parse, so that a hostile or broken file (a
//! 100,000-level nesting, a "billion laughs" alias bomb, a gigabyte of text) is refused in
//! milliseconds with one message instead of taking minutes of CPU or all memory.
//!
//! YAML is walked once as a stream of events (yaml-rust2's parser, which reads ahead no further
//! than the event it gives), counting nesting depth, scalar length and the nodes that aliases
//! repeat; the walk stops at the first limit passed. JSON needs no walk: serde_json parses in
//! linear time and refuses nesting deeper than 128 itself. Every file, YAML or JSON, is refused
//! above [`MAX_FILE_BYTES`] before it is read.

use yaml_rust2::parser::{Event, Parser};

/// The largest input file read (256 MiB): a fleet of 100,000 GPUs is a few MiB, its plan 20 to 40.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// The deepest nesting of YAML collections; fleetfit's own files need fewer than 10.
pub const MAX_DEPTH: usize = 64;
/// The longest YAML scalar (1 MiB); names and descriptions are far shorter.
pub const MAX_SCALAR_BYTES: usize = 1 << 20;
/// How many nodes aliases may repeat beyond those written out in the file.
pub const MAX_ALIAS_NODES: u64 = 1_000_000;

/// A file refused by a limit: the line (1-based) where it was passed and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: Option<usize>,
    pub message: String,
}

/// Refuses a file larger than [`MAX_FILE_BYTES`].
pub fn check_size(bytes: u64) -> Result<(), Refusal> {
    if bytes > MAX_FILE_BYTES {
        return Err(Refusal {
            line: None,
            message: format!(
                "the file is {} MiB; fleetfit reads input files of at most {} MiB",
                bytes.div_ceil(1 << 20),
                MAX_FILE_BYTES >> 20
            ),
        });
    }
    Ok(())
}

/// Walks YAML text once and refuses it at the first limit passed; syntax errors are left to the
/// real parse, which words them better.
pub fn check_yaml(text: &str) -> Result<(), Refusal> {
    check_size(text.len() as u64)?;
    // YAML 1.1 readers (libyaml, which parses for real) break lines at these; YAML 1.2 readers
    // (the walk below) do not. A file the two would read differently is refused.
    if let Some(at) = text.find(['\u{85}', '\u{2028}', '\u{2029}']) {
        return Err(Refusal {
            line: Some(text[..at].matches('\n').count() + 1),
            message: "holds a Unicode line separator (U+0085, U+2028 or U+2029), which YAML readers disagree on; use a plain line break".into(),
        });
    }
    let mut parser = Parser::new_from_str(text);
    // Per open collection: its anchor (0 for none) and the nodes it holds, aliases expanded.
    let mut open: Vec<(usize, u64)> = Vec::new();
    let mut anchored: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    let mut repeated: u64 = 0;
    loop {
        let too_deep =
            || format!("collections nest deeper than {MAX_DEPTH} levels (fleetfit's own files need fewer than 10)");
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // The scanner's own limit (255 open brackets) can come before the parser's events do.
            Err(e) if e.info().contains("recursion limit") => {
                return Err(Refusal {
                    line: Some(e.marker().line()),
                    message: too_deep(),
                });
            }
            // The walk's parser refuses what the real one may take: check the nesting that
            // makes the real one slow the plain way, counting brackets.
            Err(_) => return flow_depth(text),
        };
        let line = Some(mark.line());
        let refuse = |message: String| Err(Refusal { line, message });
        // A node that ends here (a scalar, an alias or a closed collection): its anchor and size.
        let ended: Option<(usize, u64)> = match event {
            Event::StreamEnd => return Ok(()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return refuse(too_deep());
                }
                open.push((anchor, 1));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => open.pop(),
            Event::Scalar(value, _, anchor, _) => {
                if value.len() > MAX_SCALAR_BYTES {
                    return refuse(format!(
                        "a value of {} KiB; fleetfit reads values of at most {} KiB",
                        value.len().div_ceil(1024),
                        MAX_SCALAR_BYTES >> 10
                    ));
                }
                Some((anchor, 1))
            }
            Event::Alias(anchor) => {
                let size = anchored.get(&anchor).copied().unwrap_or(1);
                repeated = repeated.saturating_add(size);
                if repeated > MAX_ALIAS_NODES {
                    return refuse(format!(
                        "aliases repeat more than {MAX_ALIAS_NODES} nodes (an alias bomb?); write the values out"
                    ));
                }
                Some((0, size))
            }
            _ => None,
        };
        if let Some((anchor, size)) = ended {
            if anchor != 0 {
                anchored.insert(anchor, size);
            }
            if let Some(parent) = open.last_mut() {
                parent.1 = parent.1.saturating_add(size);
            }
        }
    }
}

/// The deepest nesting of flow brackets, counted plainly (a bracket inside a quoted string counts
/// too, which only ever errs towards refusing): refused past [`MAX_DEPTH`].
fn flow_depth(text: &str) -> Result<(), Refusal> {
    let (mut depth, mut line) = (0usize, 1usize);
    for c in text.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            '\n' => line += 1,
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(Refusal {
                line: Some(line),
                message: format!(
                    "collections nest deeper than {MAX_DEPTH} levels (fleetfit's own files need fewer than 10)"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_yaml_passes_with_its_anchors() {
        let text = "base: &b {gpus: 8, memory_mib: 81559}\nnodes:\n  - *b\n  - *b\n";
        assert_eq!(check_yaml(text), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused_at_its_line() {
        let text = format!("a: 1\nb: {}{}\n", "[".repeat(100), "]".repeat(100));
        let refusal = check_yaml(&text).unwrap_err();
        assert_eq!(refusal.line, Some(2));
        assert!(refusal.message.contains("deeper than 64"), "{}", refusal.message);
    }

    #[test]
    fn nesting_past_the_scanners_own_limit_is_refused_too() {
        let text = format!("{}1{}\n", "{a: ".repeat(100_000), "}".repeat(100_000));
        assert!(check_yaml(&text).unwrap_err().message.contains("deeper than 64"));
    }

    #[test]
    fn line_separators_the_two_readers_disagree_on_are_refused() {
        let text = format!("# c\u{2028}nodes: {}{}\n", "[".repeat(1000), "]".repeat(1000));
        assert!(check_yaml(&text).unwrap_err().message.contains("U+2028"));
    }

    #[test]
    fn deep_nesting_the_walk_cannot_parse_is_still_refused() {
        // A tab where YAML 1.2 refuses one, then brackets past the limit.
        let text = format!("a:\t- b\nc: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(check_yaml(&text).unwrap_err().message.contains("deeper than 64"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let items = vec![format!("*a{}", level - 1); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let refusal = check_yaml(&text).unwrap_err();
        assert!(refusal.message.contains("alias bomb"), "{}", refusal.message);
    }

    #[test]
    fn long_values_and_big_files_are_refused() {
        let text = format!("name: {}\n", "x".repeat(MAX_SCALAR_BYTES + 1));
        assert!(check_yaml(&text).unwrap_err().message.contains("at most 1024 KiB"));
        assert!(
            check_size(MAX_FILE_BYTES + 1)
                .unwrap_err()
                .message
                .contains("at most 256 MiB")
        );
    }
}
