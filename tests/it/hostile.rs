//! Hostile and huge input files are refused before parsing work explodes: one message naming
//! the file, exit 2, in well under a second (a 100,000-level nesting once took 49 s to refuse).

use std::path::Path;
use std::time::{Duration, Instant};

use super::common::*;

/// Runs `plan` with `fleet` as the fleet file and the demo's deployments; the exit code, the
/// message and how long it took.
fn plan_with_fleet(fleet: &Path) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let out = fleetfit(&[
        "plan",
        "--fleet",
        fleet.to_str().unwrap(),
        "--deployments",
        "data/demo/deployments.yaml",
    ]);
    (out.status.code(), text(&out.stderr), start.elapsed())
}

/// Asserts the file is refused with one line naming it and holding `says`, within a second.
fn assert_refused(fleet: &Path, says: &str) {
    let (code, message, took) = plan_with_fleet(fleet);
    assert_eq!(code, Some(2), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "one message: {message}");
    assert!(message.contains(&*fleet.to_string_lossy()), "names the file: {message}");
    assert!(message.contains(says), "says {says:?}: {message}");
    assert!(took < Duration::from_secs(1), "refused in {took:?}: {message}");
}

#[test]
fn nesting_100000_levels_deep_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let levels = 100_000;
    for (name, text) in [
        ("flow.yaml", format!("{}{}\n", "[".repeat(levels), "]".repeat(levels))),
        (
            "maps.yaml",
            format!("nodes: {}1{}\n", "{a: ".repeat(levels), "}".repeat(levels)),
        ),
        ("dashes.yaml", format!("nodes:\n{}x\n", "- ".repeat(levels))),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        assert_refused(&path, "collections nest deeper than 64 levels");
    }
}

#[test]
fn an_alias_bomb_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("nodes:\n  - name: n1\n    labels: &l0 {a: b}\n");
    text.push_str("    gpu_type: L40S\n    gpu_count: 1\n    memory_mib: 46068\n");
    text.push_str("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..12 {
        let items = vec![format!("*x{}", level - 1); 10].join(", ");
        text.push_str(&format!("x{level}: &x{level} [{items}]\n"));
    }
    let path = dir.path().join("laughs.yaml");
    std::fs::write(&path, text).unwrap();
    assert_refused(&path, "alias bomb");
}

#[test]
fn huge_files_and_values_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.yaml");
    std::fs::File::create(&huge).unwrap().set_len(257 << 20).unwrap();
    assert_refused(&huge, "at most 256 MiB");
    let long = dir.path().join("long.yaml");
    std::fs::write(&long, format!("nodes:\n  - name: {}\n", "n".repeat(2 << 20))).unwrap();
    assert_refused(&long, "values of at most 1024 KiB");
}

#[test]
fn names_that_would_forge_lines_are_refused_at_their_field() {
    let dir = tempfile::tempdir().unwrap();
    for (name, field, says) in [
        ("\"n1\\nrm -rf /\"", "nodes[0].name", "control character"),
        ("\"n1\\u202Ehs.\"", "nodes[0].name", "control character"),
        (&"n".repeat(300), "nodes[0].name", "300 bytes"),
    ] {
        let path = dir.path().join("fleet.yaml");
        std::fs::write(
            &path,
            format!("nodes:\n  - {{name: {name}, gpu_type: L40S, gpu_count: 1, memory_mib: 46068}}\n"),
        )
        .unwrap();
        let (code, message, _) = plan_with_fleet(&path);
        assert_eq!(code, Some(2), "{message}");
        assert!(
            message.contains(&format!("fleet.yaml: {field}: ")) && message.contains(says),
            "{message}"
        );
    }
}

/// The two cases the issue reported, through the binary: a node named `../escaped` and a
/// deployment named `x $(touch PWNED)`.
#[test]
fn the_reported_escapes_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let node =
        |name: &str| format!("nodes:\n  - {{name: '{name}', gpu_type: L40S, gpu_count: 1, memory_mib: 46068}}\n");
    let deployments = write(
        "deployments.yaml",
        "deployments:\n  - {name: 'x $(touch PWNED)', model: qwen2.5-0.5b, replicas: 1, max_model_len: 4096}\n",
    );
    let emit_into = |fleet: &str, out: &Path| {
        let plan = dir.path().join("plan.json");
        let planned = fleetfit(&[
            "plan",
            "--fleet",
            fleet,
            "--deployments",
            &deployments,
            "--out",
            plan.to_str().unwrap(),
        ]);
        assert!(planned.status.success(), "{}", text(&planned.stderr));
        fleetfit(&[
            "emit",
            "--fleet",
            fleet,
            "--deployments",
            &deployments,
            "--plan",
            plan.to_str().unwrap(),
            "--target",
            "vllm",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let escaped = write("fleet-escaped.yaml", &node("../escaped"));
    let refused = emit_into(&escaped, &dir.path().join("out").join("a"));
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        text(&refused.stderr).trim(),
        format!("fleetfit: {escaped}: nodes[0].name: '../escaped' cannot name a file: it holds '/'")
    );
    assert!(!dir.path().join("out").exists() && !dir.path().join("escaped.sh").exists());

    let plain = write("fleet.yaml", &node("gpu-01"));
    let out = dir.path().join("out");
    assert!(emit_into(&plain, &out).status.success());
    let script = out.join("gpu-01.sh");
    let sandbox = dir.path().join("run");
    std::fs::create_dir(&sandbox).unwrap();
    let stubs = dir.path().join("bin");
    std::fs::create_dir(&stubs).unwrap();
    std::fs::write(stubs.join("vllm"), "#!/bin/sh\nprintf '%s\\n' \"$@\" > argv\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(stubs.join("vllm"))
        .status()
        .unwrap();
    let run = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(&sandbox)
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(!sandbox.join("PWNED").exists(), "the name ran as a command");
    let argv = std::fs::read_to_string(sandbox.join("argv")).unwrap();
    assert!(argv.contains("--served-model-name\nx $(touch PWNED)\n"), "{argv}");
}

#[test]
fn devices_pipes_and_line_separators_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert_refused(&zero, "not a regular file");
    let fifo = dir.path().join("fifo.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert_refused(&fifo, "not a regular file");
    // YAML 1.1 (the real parse) breaks lines at U+2028 where YAML 1.2 (the limits' walk) does not.
    let separated = dir.path().join("separated.yaml");
    std::fs::write(
        &separated,
        format!("# c\u{2028}nodes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    )
    .unwrap();
    assert_refused(&separated, "U+2028");
}

#[test]
fn a_symlink_where_emit_writes_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    planned_in(
        dir.path(),
        "nodes:\n  - {name: n1, gpu_type: L40S, gpu_count: 1, memory_mib: 46068}\n",
        "deployments:\n  - {name: d, model: qwen2.5-0.5b, max_model_len: 4096}\n",
    );
    std::fs::create_dir(p("out")).unwrap();
    std::fs::write(p("victim.txt"), "keep me\n").unwrap();
    std::os::unix::fs::symlink(p("victim.txt"), p("out/n1.sh")).unwrap();
    let emit = fleetfit(&[
        "emit",
        "--fleet",
        &p("fleet.yaml"),
        "--deployments",
        &p("d.yaml"),
        "--plan",
        &p("plan.json"),
        "--target",
        "vllm",
        "--out",
        &p("out"),
    ]);
    assert!(emit.status.success(), "{}", text(&emit.stderr));
    assert_eq!(std::fs::read_to_string(p("victim.txt")).unwrap(), "keep me\n");
    let written = std::fs::symlink_metadata(p("out/n1.sh")).unwrap();
    assert!(written.file_type().is_file(), "the link was replaced by the script");
}

#[test]
fn emit_never_overwrites_its_own_inputs_nor_writes_half_a_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A node named `fleet`: its Dynamo config would be `fleet.yaml`, the fleet file itself.
    let fleet = "nodes:\n  - {name: fleet, gpu_type: L40S, gpu_count: 1, memory_mib: 46068}\n  - {name: n2, gpu_type: L40S, gpu_count: 1, memory_mib: 46068}\n";
    planned_in(
        dir.path(),
        fleet,
        "deployments:\n  - {name: d, model: qwen2.5-0.5b, replicas: 2, max_model_len: 4096}\n",
    );
    let emit = |target: &str, out: &str| {
        fleetfit(&[
            "emit",
            "--fleet",
            &p("fleet.yaml"),
            "--deployments",
            &p("d.yaml"),
            "--plan",
            &p("plan.json"),
            "--target",
            target,
            "--out",
            out,
        ])
    };
    let refused = emit("dynamo", &p(""));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("one of this command's input files"));
    assert_eq!(std::fs::read_to_string(p("fleet.yaml")).unwrap(), fleet);
    assert!(!dir.path().join("n2.yaml").exists(), "nothing of the set was written");
    // A folder where a script goes: refused before any script is written.
    std::fs::create_dir_all(p("out/n2.sh")).unwrap();
    let refused = emit("vllm", &p("out"));
    assert_eq!(refused.status.code(), Some(2));
    assert!(!dir.path().join("out/fleet.sh").exists());
}

/// Writes `fleet.yaml` and `d.yaml` into `dir` and plans them into `plan.json` there.
fn planned_in(dir: &Path, fleet: &str, deployments: &str) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(p("fleet.yaml"), fleet).unwrap();
    std::fs::write(p("d.yaml"), deployments).unwrap();
    let plan = fleetfit(&[
        "plan",
        "--fleet",
        &p("fleet.yaml"),
        "--deployments",
        &p("d.yaml"),
        "--out",
        &p("plan.json"),
    ]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
}
