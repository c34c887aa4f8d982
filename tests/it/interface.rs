//! The command line as people and scripts meet it: provenance, `check --format json`, closed
//! pipes, value ranges, help texts.

use super::common::*;

fn plan_demo_to(path: &std::path::Path) {
    let out = fleetfit(&[&["plan"], &DEMO[..], &["--out", path.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn check_demo(fleet: &str, plan: &std::path::Path, format: &str) -> std::process::Output {
    fleetfit(&[
        "check",
        "--fleet",
        fleet,
        "--deployments",
        "data/demo/deployments.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--format",
        format,
    ])
}

#[test]
fn plans_carry_the_version_and_the_digests_of_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    plan_demo_to(&path);
    let plan: fleetfit::domain::Plan = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let provenance = plan.provenance.expect("plan writes provenance");
    assert_eq!(provenance.fleetfit, env!("CARGO_PKG_VERSION"));
    let fleet_bytes = std::fs::read(data("demo/fleet.yaml")).unwrap();
    assert_eq!(
        provenance.inputs["fleet"],
        fleetfit::formats::provenance::digest_bytes(&fleet_bytes)
    );
    assert!(provenance.inputs["deployments"].starts_with("sha256:"));
    assert_eq!(provenance.inputs["deployments"].len(), "sha256:".len() + 64);

    // The same files: no warning.
    let same = check_demo("data/demo/fleet.yaml", &path, "table");
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(text(&same.stderr), "");
}

#[test]
fn check_warns_when_the_files_differ_from_the_plans_and_says_it_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    plan_demo_to(&path);
    // The same nodes, written with one more comment: still a valid plan, another file.
    let edited = dir.path().join("fleet.yaml");
    let mut yaml = std::fs::read_to_string(data("demo/fleet.yaml")).unwrap();
    yaml.push_str("# edited\n");
    std::fs::write(&edited, yaml).unwrap();

    let table = check_demo(edited.to_str().unwrap(), &path, "table");
    assert_eq!(table.status.code(), Some(0), "a warning does not fail the check");
    let stderr = text(&table.stderr);
    assert!(
        stderr.starts_with("warning: the plan was made from another fleet file than"),
        "{stderr}"
    );

    let json = check_demo(edited.to_str().unwrap(), &path, "json");
    assert_eq!(json.status.code(), Some(0));
    let verdict: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(verdict["ok"], true);
    assert_eq!(verdict["violations"].as_array().unwrap().len(), 0);
    assert_eq!(verdict["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(text(&json.stderr), "", "JSON mode keeps stderr for errors");
}

#[test]
fn check_json_lists_violations_and_exits_1() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let mut plan = solve(&fleet, &workload).plan;
    plan.objective.gpus_used += 1;
    let (_d, path) = temp_file("plan.json", &plan.to_json());
    let out = check_demo("data/demo/fleet.yaml", &path, "json");
    assert_eq!(out.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["ok"], false);
    let violations = verdict["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0]["rule"], "totals");
    let message = violations[0]["message"].as_str().unwrap();
    assert!(message.starts_with("objective.gpus_used is"), "{message}");
    // No provenance in a plan made through the library: nothing to compare, no warning.
    assert_eq!(verdict["warnings"].as_array().unwrap().len(), 0);
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetfit"))
        .args([&["plan"], &DEMO[..], &["--detail"]].concat())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `| head -0` does: the reader goes away before the plan is printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(stderr, "", "no panic, no error message on a closed pipe");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{:?}",
            out.status
        );
    }
}

#[test]
fn a_missing_output_folder_is_named_once_before_the_solve() {
    let out = plan_dynamo(&["--out", "/nonexistent-dir/plan.json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent-dir/plan.json"), "{stderr}");
    // Told before the solve, once.
    assert_eq!(stderr.matches("its folder does not exist").count(), 1, "{stderr}");
}

#[test]
fn emit_refuses_a_plan_that_breaks_a_rule_as_bad_input() {
    let (fleet, workload) = load("dynamo/fleet.yaml", "dynamo/deployments.yaml");
    let mut plan = solve(&fleet, &workload).plan;
    plan.replicas[1].stages[0].gpus = plan.replicas[0].stages[0].gpus.clone();
    let (_d, path) = temp_file("plan.json", &plan.to_json());
    let out = fleetfit(&[
        "emit",
        "--fleet",
        "data/dynamo/fleet.yaml",
        "--deployments",
        "data/dynamo/deployments.yaml",
        "--plan",
        path.to_str().unwrap(),
        "--target",
        "vllm",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "", "nothing is emitted");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("plan.json") && stderr.contains("the plan breaks"),
        "{stderr}"
    );
    assert!(stderr.contains("occupancy: GPU h100-01/0 holds 2 workers"), "{stderr}");
}

#[test]
fn the_status_line_reads_phase_incumbent_bound_gap_and_time() {
    use fleetfit::solver::progress::{Snapshot, status_line};
    let mut snapshot = Snapshot {
        phase: "level 1 of 3 (placed value)".into(),
        incumbent: None,
        bound: None,
        since: std::time::Instant::now(),
    };
    assert_eq!(status_line(&snapshot, 0.25), "level 1 of 3 (placed value) · 0.2 s");
    snapshot.incumbent = Some(22200.0);
    snapshot.bound = Some(22431.7);
    insta::assert_snapshot!(status_line(&snapshot, 12.34), @"level 1 of 3 (placed value) · incumbent 22,200 · bound 22,432 · gap 1.03% · 12.3 s");
}

#[test]
fn no_status_line_when_stderr_is_not_a_terminal() {
    // The tests' stderr is a pipe: the plan prints its table and nothing on stderr.
    let out = fleetfit(&[&["plan"], &DEMO[..]].concat());
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn capacity_writes_a_plan_and_a_fleet_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, grown) = (dir.path().join("plan.json"), dir.path().join("grown.yaml"));
    let out = fleetfit(
        &[
            &["capacity"],
            &DEMO[..],
            &[
                "--skus",
                "data/demo/skus.yaml",
                "--out-plan",
                plan.to_str().unwrap(),
                "--out-fleet",
                grown.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check = fleetfit(&[
        "check",
        "--fleet",
        grown.to_str().unwrap(),
        "--deployments",
        "data/demo/deployments.yaml",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    // The plan records the grown fleet as written, so the check has nothing to warn about.
    assert_eq!(text(&check.stderr), "");
}

#[test]
fn a_write_error_names_the_file_and_the_os_error_once() {
    // The output path is a folder: the solve runs, the write fails with the OS's reason.
    let dir = tempfile::tempdir().unwrap();
    let out = plan_dynamo(&["--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(dir.path().to_str().unwrap()), "{stderr}");
    assert_eq!(stderr.matches("(os error").count(), 1, "{stderr}");
}

#[test]
fn when_the_greedy_plan_takes_the_whole_time_limit_it_is_the_answer() {
    // A microsecond: greedy alone outlasts it, so no model is built; the plan is still checked,
    // time-limited, and bounded by everything requested.
    let (fleet, workload) = super::synth::generated_512();
    let options = fleetfit::solver::SolveOptions {
        time_limit: std::time::Duration::from_micros(1),
        ..fleetfit::solver::SolveOptions::default()
    };
    let solved = fleetfit::explain::solve(&fleet, &workload, &options).unwrap();
    assert_valid(&fleet, &workload, &solved.plan);
    assert_eq!(solved.plan.status, fleetfit::domain::SolveStatus::TimeLimit);
    let requested: u64 = workload.deployments.iter().map(|d| d.priority * d.replicas).sum();
    assert_eq!(solved.plan.objective.bound, Some(requested as f64));
    assert!(solved.stats.greedy_only);
    assert!(solved.stats.summary().contains("the greedy plan stands"));
    let greedy = fleetfit::greedy::place(&fleet, &workload);
    assert_eq!(solved.plan.replicas.len(), greedy.len());
}

#[test]
fn inputs_can_come_from_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // `fleet import ... | plan --fleet -`: the fleet is read once, parsed by its content, and
    // digested as read.
    let imported = fleetfit(&[
        "fleet",
        "import",
        "--node",
        "h200-01",
        "data/captures/h200/nvidia-smi-q.xml",
    ]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetfit"))
        .args([
            "plan",
            "--fleet",
            "-",
            "--deployments",
            "data/captures/deployments.yaml",
            "--format",
            "json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&imported.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: fleetfit::domain::Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!plan.replicas.is_empty());
    assert_eq!(
        plan.provenance.unwrap().inputs["fleet"],
        fleetfit::formats::provenance::digest_bytes(&imported.stdout)
    );
}
