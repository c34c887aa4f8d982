//! What every name in an input file must be, whatever it names: printable text of at most
//! [`MAX_NAME_BYTES`]. Names travel into tables, shell scripts, YAML comments and manifests; a
//! newline, a terminal escape or a right-to-left override in one would forge lines there, so they
//! are refused where the file is read. What a particular target needs on top (a file name, a
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
    let bad = name.chars().find(|&c| c.is_control() || is_bidi_control(c))?;
    Some(format!(
        "holds the control character {}; names are printable text",
        bad.escape_unicode()
    ))
}

/// Refuses a bad name at `field` of `path`.
pub fn check(path: &Path, field: impl Into<String>, name: &str) -> Result<(), InputError> {
    match problem(name) {
        Some(why) => Err(InputError::new(path, field, why)),
        None => Ok(()),
    }
}

/// Unicode's bidirectional embeddings, overrides and isolates, which reorder how text is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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
        assert!(problem(&"x".repeat(254)).unwrap().contains("254 bytes"));
        assert_eq!(problem(&"x".repeat(253)), None);
    }
}
