//! Embeds every `models/*.yaml` catalog file and every `engines/*.yaml` engine profile in the
//! binary, so `fleetfit` works from any directory.

use std::fmt::Write;
use std::path::Path;

/// Writes `OUT_DIR/{out}`: a `FILES` table of (file name, YAML text) for `folder/*.yaml`.
fn embed(folder: &str, out: &str, what: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the {folder}/ folder exists: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut code = format!("/// {what}: (file name, YAML text).\npub static FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        writeln!(code, "    ({name:?}, include_str!({:?})),", path.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join(out);
    std::fs::write(out, code).unwrap();
}

fn main() {
    embed("models", "catalog_files.rs", "Catalog family files");
    embed("engines", "engine_files.rs", "Engine profiles");
}
