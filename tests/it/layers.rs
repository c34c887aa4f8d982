//! The library's layers, bottom first: a module may use only modules of lower layers (and
//! itself). Test code (`#[cfg(test)]` modules at the end of a file) is exempt.

use std::collections::BTreeMap;
use std::path::Path;

/// Layer of each top-level module of `src/`.
const LAYERS: &[(&str, u32)] = &[
    // Plain values: exact decimals, number formatting, a seeded generator.
    ("ratio", 0),
    ("numbers", 0),
    ("rng", 0),
    // What a fleet, model, deployment and plan are.
    ("domain", 1),
    // The checker sees only the domain.
    ("check", 2),
    ("error", 3),
    // What a replica costs and which shapes are valid; the one-at-a-time baseline.
    ("memory", 4),
    ("shapes", 5),
    ("greedy", 6),
    // The integer program: no file format, no explanation text, no generator.
    ("solver", 7),
    // Reasons and suggestions, worded from the solver's facts; warnings about inputs.
    ("explain", 8),
    ("suggest", 9),
    ("lint", 9),
    // Files: syntaxes, the built-in catalogs, readers and writers.
    ("formats", 10),
    // What people run: what-if, drills, re-planning, capacity, calibration.
    ("workflows", 11),
    // What runtimes run, and synthetic inputs.
    ("emit", 12),
    ("report", 12),
    ("synth", 12),
];

/// The top-level modules a file names as `crate::module`, outside its test module.
fn uses(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    assert!(
        !code.contains("crate::{"),
        "grouped crate imports hide the layer of each module"
    );
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `crate::Result` and the like: re-exports at the root, of `error`.
        let name = if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            "error".to_string()
        } else {
            name
        };
        out.push(name);
    }
    out
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_module_uses_a_module_of_its_own_or_a_higher_layer() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        // The binary and the library's root sit above every layer.
        if ["cli", "main", "lib"].contains(&module.as_str()) {
            continue;
        }
        let Some(&own) = layers.get(module.as_str()) else {
            panic!("src/{} is in no layer: add its module to LAYERS", relative.display());
        };
        for used in uses(&std::fs::read_to_string(file).unwrap()) {
            let Some(&layer) = layers.get(used.as_str()) else {
                panic!("src/{} uses crate::{used}, which is in no layer", relative.display());
            };
            if used != module && layer >= own {
                wrong.push(format!(
                    "src/{} ({module}, layer {own}) uses crate::{used} (layer {layer})",
                    relative.display()
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_test_sees_an_import_against_the_order() {
    // A mutation: the solver naming an explanation function is caught.
    let used = uses(
        "use crate::domain::Fleet;\nfn f() { crate::explain::annotate(); }\n#[cfg(test)]\nmod tests { use crate::synth::Rng; }\n",
    );
    assert_eq!(used, ["domain", "explain"]);
}
