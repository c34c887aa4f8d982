//! File formats: reading fleet and deployments files (YAML or JSON), Hugging Face configs, the
//! embedded model catalog, and rendering plans as tables. Nothing here decides placement.

pub mod catalog;
pub mod deployments_file;
pub mod engine_log;
pub mod engines;
pub mod fleet_file;
pub mod gpu_products;
pub mod hf_config;
pub mod import;
pub mod limits;
pub mod model_file;
pub mod names;
pub mod profile_file;
pub mod provenance;
pub mod running;
pub mod scalar;
pub mod scenarios_file;
pub mod schema;
pub mod skus_file;
pub mod table;

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::InputError;

/// The two input syntaxes, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Json,
}

impl Syntax {
    /// The syntax of a path by its extension (`.yaml`, `.yml`, `.json`).
    pub fn of(path: &Path) -> Result<Syntax, InputError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("yaml") | Some("yml") => Ok(Syntax::Yaml),
            Some("json") => Ok(Syntax::Json),
            _ => Err(InputError::new(
                path,
                "",
                "unknown file extension; expected .yaml, .yml or .json",
            )),
        }
    }
}

/// Whether `path` stands for standard input (`-`), as in `fleet import ... | plan --fleet -`.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A file's bytes; `-` is standard input, read once and kept, so that a later read (the
/// plan's provenance digest) sees the same bytes.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, InputError> {
    static STDIN: std::sync::OnceLock<Result<Vec<u8>, String>> = std::sync::OnceLock::new();
    if is_stdin(path) {
        let read = STDIN.get_or_init(|| {
            let mut bytes = Vec::new();
            let stdin = std::io::Read::take(std::io::stdin(), limits::MAX_FILE_BYTES + 1);
            std::io::Read::read_to_end(&mut { stdin }, &mut bytes)
                .map(|_| bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))
        });
        let bytes = read.clone().map_err(|e| InputError::new(path, "", e))?;
        limits::check_size(bytes.len() as u64).map_err(|r| InputError::new(path, "", r.message))?;
        return Ok(bytes);
    }
    let cannot = |e: std::io::Error| InputError::new(path, "", format!("cannot read the file: {e}"));
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        // A device, a FIFO or a folder: no size to check first, and /dev/zero never ends.
        return Err(InputError::new(
            path,
            "",
            "not a regular file (a device, a pipe or a folder); give a file, or `-` for standard input",
        ));
    }
    limits::check_size(metadata.len()).map_err(|r| InputError::new(path, "", r.message))?;
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(cannot)?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limits::MAX_FILE_BYTES + 1), &mut bytes)
        .map_err(cannot)?;
    limits::check_size(bytes.len() as u64).map_err(|r| InputError::new(path, "", r.message))?;
    Ok(bytes)
}

/// Reads a file as UTF-8 text, naming the file in every error.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| {
        InputError::new(
            path,
            "",
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses a whole file into `T`, reporting the field path and line of the first problem.
pub fn parse_file<T: DeserializeOwned>(path: &Path) -> Result<T, InputError> {
    if is_stdin(path) {
        // No extension to go by: JSON starts with `{` or `[`; anything else is YAML.
        let text = read_text(path)?;
        let json = text.trim_start().starts_with(['{', '[']);
        return parse_text(path, if json { Syntax::Json } else { Syntax::Yaml }, &text);
    }
    let syntax = Syntax::of(path)?;
    let text = read_text(path)?;
    parse_text(path, syntax, &text)
}

/// Parses text that came from `path` in the given syntax.
pub fn parse_text<T: DeserializeOwned>(path: &Path, syntax: Syntax, text: &str) -> Result<T, InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(path, "", "the file is empty"));
    }
    match syntax {
        Syntax::Yaml => {
            limits::check_yaml(text).map_err(|r| InputError::new(path, "", r.message).at_line(r.line))?;
            let de = serde_yaml::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let field = field_path(e.path());
                let inner = e.into_inner();
                let line = inner.location().map(|l| l.line());
                let message = polish(&strip_location(&inner.to_string()), &field);
                InputError::new(path, field, message).at_line(line)
            })
        }
        Syntax::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = field_path(e.path());
                let inner = e.into_inner();
                let line = (inner.line() > 0).then_some(inner.line());
                let message = polish(&strip_location(&inner.to_string()), &field);
                InputError::new(path, field, message).at_line(line)
            })?;
            de.end()
                .map_err(|e| InputError::new(path, "", strip_location(&e.to_string())).at_line(Some(e.line())))?;
            Ok(value)
        }
    }
}

/// `serde_path_to_error` prints the root as `.`; fleetfit's field paths start at the first field.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." { String::new() } else { text }
}

/// serde's wording made for people: no repeated field path, no Rust type names.
fn polish(message: &str, field: &str) -> String {
    // serde_yaml puts its own path in front ("deployments[0]: unknown field ..."); the field is
    // reported on its own, so drop a leading path-like token.
    let message = match message.split_once(": ") {
        Some((head, rest)) if !head.contains(' ') && (head == field || head.contains('[') || head.contains('.')) => {
            rest
        }
        _ => message,
    };
    message
        .replace("expected u64", "expected a whole number (0 or more)")
        .replace("expected u32", "expected a whole number (0 or more)")
        .replace("expected f64", "expected a number")
        .replace("expected a boolean", "expected true or false")
}

/// Drops the " at line L column C" that serde appends, since the line is reported on its own.
fn strip_location(message: &str) -> String {
    let cut = message.find(" at line ").unwrap_or(message.len());
    message[..cut].trim_end_matches(',').to_string()
}

/// Writes a file whole or not at all: into a temporary file beside it, then renamed over it, so
/// an existing file is never left truncated.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    // A new file of a name nobody could have planted: `create_new` refuses any existing path,
    // a symlink included, so the write never follows a link out of the folder.
    let (tmp, mut file) = {
        let mut attempt = 0u32;
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let tmp = dir.join(format!(".{name}.fleetfit-{}-{nanos}-{attempt}.tmp", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => break (tmp, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    };
    let result = (|| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
