//! Names where their target has rules. Input names are printable text of at most 253 bytes
//! (`formats::names`); a target may need more:
//! - a file `emit` writes (`{node}.sh`, `{node}.yaml`) is one path component: no `/`, no `\`,
//!   not `.` or `..`, at most 255 bytes. A node name that cannot be one is refused.
//! - Kubernetes node names (`nodeName`, the `kubernetes.io/hostname` label) must already be
//!   what Kubernetes calls the node: a node name that is not a DNS-1123 subdomain usable as a
//!   label value is refused, since no other name would reach that machine.
//! - Kubernetes object names and label values that fleetfit makes from deployment and node names
//!   are mapped: a name that already obeys the rule is kept; any other is lowercased (object
//!   names), every other character becomes `-`, it is cut to fit, and `-` and the first 8 hex
//!   digits of the SHA-256 of the original are appended. Names stay apart: a changed name carries
//!   its original's digest, and a final pass refuses any two objects that would still share one.
//!   The original is kept in an annotation (`fleetfit.io/deployment`).

use sha2::{Digest, Sha256};

pub use crate::error::{NameRefused, Owner};

/// The longest file name Linux file systems take (bytes).
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// The longest label value and DNS-1123 label (object names fleetfit makes).
pub const MAX_LABEL: usize = 63;

/// Why `name` cannot be a file's name, or `None`.
pub fn file_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("cannot name a file".into());
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\' | '\0')) {
        return Some(format!("cannot name a file: it holds '{}'", c.escape_default()));
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Some(format!(
            "cannot name a file: {} bytes where file names take {MAX_FILE_NAME_BYTES}",
            name.len()
        ));
    }
    None
}

/// Why `name` cannot be a Kubernetes node's name and `kubernetes.io/hostname` label, or `None`.
pub fn kubernetes_node_problem(name: &str) -> Option<String> {
    let label_ok = name.len() <= MAX_LABEL;
    let subdomain = name.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    });
    (!(label_ok && subdomain)).then(|| {
        format!(
            "is not a Kubernetes node name (lowercase letters, digits, '-' and '.', at most {MAX_LABEL} characters); use --target vllm or rename the node as Kubernetes knows it"
        )
    })
}

/// The longest LeaderWorkerSet name: its StatefulSet's pods carry a `controller-revision-hash`
/// label of the name, `-` and a 10-character hash, which must fit a label value (63).
pub const MAX_STATEFUL_NAME: usize = 52;

/// A Kubernetes object name (DNS-1035 label: a lowercase letter first, then letters, digits
/// and `-`, at most `max` characters, 63 or less) made from `raw`, mapped as the module says.
pub fn object_name(raw: &str, max: usize) -> String {
    let fits = |s: &str| {
        s.len() <= max
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if fits(raw) {
        return raw.to_string();
    }
    with_digest(&lowercase_dashed(raw), raw, max)
}

/// `raw` lowercased, every character but ASCII letters and digits a `-`, `x-` in front where it
/// would not start with a letter.
fn lowercase_dashed(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let start = if mapped.starts_with(|c: char| c.is_ascii_lowercase()) {
        ""
    } else {
        "x-"
    };
    format!("{start}{mapped}")
}

/// [`object_name`] of `raw`, made apart from every name in `taken` (which it joins): a name
/// already taken, as two deployments `a-b` on node `c` and `a` on node `b-c` would share, gets
/// a digest of `raw` and a counter instead.
pub fn unique_object_name(raw: &str, max: usize, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut name = object_name(raw, max);
    let mut n = 0u32;
    while taken.contains(&name) {
        n += 1;
        name = with_digest(&lowercase_dashed(raw), &format!("{raw}\0{n}"), max);
    }
    taken.insert(name.clone());
    name
}

/// A label value (at most 63 of letters, digits, `-`, `_`, `.`, alphanumeric at both ends)
/// made from `raw`, mapped as the module says.
pub fn label_value(raw: &str) -> String {
    let inner = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let ends = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if raw.len() <= MAX_LABEL && ends(raw) && raw.bytes().all(inner) {
        return raw.to_string();
    }
    let mapped: String = raw
        .chars()
        .map(|c| if c.is_ascii() && inner(c as u8) { c } else { '-' })
        .collect();
    let mapped = mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let start = if mapped.is_empty() { "x" } else { "" };
    with_digest(&format!("{start}{mapped}"), raw, MAX_LABEL)
}

/// `mapped`, runs of `-` squeezed, cut to leave room, then `-` and 8 hex digits of `raw`'s
/// SHA-256: always a valid name of at most `max` characters.
fn with_digest(mapped: &str, raw: &str, max: usize) -> String {
    let mut squeezed = String::with_capacity(mapped.len());
    for c in mapped.chars() {
        if !(c == '-' && squeezed.ends_with('-')) {
            squeezed.push(c);
        }
    }
    let digest = Sha256::digest(raw.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let room = max - hex.len() - 1;
    let cut: &str = &squeezed[..squeezed.len().min(room)];
    let cut = cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{cut}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_obey_the_rules_are_kept() {
        assert_eq!(object_name("chat-70b-gpu-01-2", MAX_LABEL), "chat-70b-gpu-01-2");
        assert_eq!(label_value("Chat_70B.v1"), "Chat_70B.v1");
    }

    #[test]
    fn other_names_are_mapped_with_the_digest_of_the_original() {
        let a = object_name("Chat 70B", MAX_LABEL);
        let b = object_name("chat-70b!", MAX_LABEL);
        assert!(a.starts_with("chat-70b-") && b.starts_with("chat-70b-"), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(
            object_name("x $(touch /tmp/PWNED)", MAX_LABEL).len(),
            "x-touch-tmp-pwned-".len() + 8
        );
        let long = object_name(&"a".repeat(4096), MAX_LABEL);
        assert_eq!(long.len(), 63);
        assert_eq!(object_name(&"a".repeat(60), MAX_STATEFUL_NAME).len(), 52);
        assert!(object_name("7b", MAX_LABEL).starts_with("x-7b-"));
        assert!(object_name("нода", MAX_LABEL).starts_with("x-"));
        for raw in ["", "-", "$$$", "a\u{2215}b", "x'; rm -rf /"] {
            let name = object_name(raw, MAX_LABEL);
            assert!(
                name.len() <= 63 && name.starts_with(|c: char| c.is_ascii_lowercase()),
                "{name}"
            );
            let value = label_value(raw);
            assert!(
                value.len() <= 63 && value.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{value}"
            );
        }
    }

    #[test]
    fn names_that_would_be_shared_are_made_apart() {
        let mut taken = std::collections::BTreeSet::new();
        let a = unique_object_name("a-b-c-1", MAX_LABEL, &mut taken);
        let b = unique_object_name("a-b-c-1", MAX_LABEL, &mut taken);
        assert_eq!(a, "a-b-c-1");
        assert!(b.starts_with("a-b-c-1-") && b.len() == a.len() + 9, "{b}");
    }

    #[test]
    fn node_and_file_names_that_cannot_be_are_refused() {
        assert_eq!(file_name_problem("gpu-01"), None);
        assert!(file_name_problem("../escaped").is_some());
        assert!(file_name_problem("..").is_some());
        assert!(file_name_problem(&"n".repeat(300)).is_some());
        assert_eq!(kubernetes_node_problem("gpu-01.rack-7"), None);
        assert!(kubernetes_node_problem("GPU_01").is_some());
        assert!(kubernetes_node_problem("../escaped").is_some());
    }
}
