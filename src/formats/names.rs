//! What every name in an input file must be, whatever it names: printable text of at most
//! [`MAX_NAME_BYTES`], not starting with `-`. Names travel into tables, shell scripts, YAML
//! comments, command lines and manifests; a newline, a line separator, a terminal escape or a
//! right-to-left override in one would forge lines there, and a leading `-` would make it an
//! option of the engine's command line, so they are refused where the file is read. What a particular target needs on top (a file name, a
//! Kubernetes object name) is checked where that target is written (`emit::names`).

use std::path::Path;

use crate::error::InputError;

/// The longest name (bytes): a DNS name's limit, which Kubernetes node names share.
pub const MAX_NAME_BYTES: usize = 253;

/// Why a name is refused, or `None` where it is fine.
pub fn problem(name: &str) -> Option<String> {
    if name.len() > MAX_NAME_BYTES {
        return Some(format!(
            "is {} bytes long; names are at most {MAX_NAME_BYTES}",
            name.len()
        ));
    }
    if name.starts_with('-') {
        return Some("starts with '-', which a command line would read as an option".into());
    }
    let bad = name.chars().find(|&c| is_hidden(c))?;
    Some(format!(
        "holds the control character {}; names are printable text",
        bad.escape_unicode()
    ))
}

/// Characters that do not show as themselves: control characters, line and paragraph
/// separators (which YAML 1.1 readers take for line breaks), and invisible format characters
/// (bidirectional controls, zero-width spaces and joiners, the byte-order mark, soft hyphens).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
        )
}

/// Refuses a bad name at `field` of `path`.
pub fn check(path: &Path, field: impl Into<String>, name: &str) -> Result<(), InputError> {
    match problem(name) {
        Some(why) => Err(InputError::new(path, field, why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_names_pass_and_forging_ones_do_not() {
        assert_eq!(problem("chat-70b"), None);
        assert_eq!(problem("x $(touch /tmp/PWNED)"), None);
        assert_eq!(problem("nоde-1"), None); // a Cyrillic o: printable, shown as it is
        assert!(problem("a\nb").unwrap().contains("\\u{a}"));
        assert!(problem("a\u{1b}[31m").is_some());
        assert!(problem("evil\u{202E}hs.").is_some());
        assert!(problem("ls\u{2028}VllmWorker: {}").is_some());
        assert!(problem("n1\u{200B}").is_some());
        assert!(problem("--trust-remote-code").unwrap().contains("option"));
        assert_eq!(problem("a-b"), None);
        assert!(problem(&"x".repeat(254)).unwrap().contains("254 bytes"));
        assert_eq!(problem(&"x".repeat(253)), None);
    }
}
