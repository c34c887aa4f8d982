//! The `fleetfit` binary as a user runs it: the README's example, exit codes, output files.

use super::common::*;

/// The README's first command, word for word after the setup step.
#[test]
fn the_readme_example_plans_the_demo_fleet() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("fleetfit plan") || l.contains("-- plan"))
        .expect("README shows a plan command");
    let args_text = line
        .split(" -- ")
        .nth(1)
        .expect("cargo run -- plan ...")
        .trim()
        .trim_end_matches('`');
    let args: Vec<&str> = args_text.split_whitespace().collect();
    let out = fleetfit(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("status: optimal"), "{stdout}");
    assert!(
        stdout.contains("DEPLOYMENT") && stdout.contains("flagship-405b"),
        "{stdout}"
    );
}

#[test]
fn plan_writes_json_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("plan.json");
    let out = plan_dynamo(&["--out", out_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = std::fs::read_to_string(&out_path).unwrap();
    let plan: fleetfit::domain::Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(plan.replicas.len(), 8);
    let check = check_dynamo_plan(&out_path);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    // --format json prints the same bytes.
    let printed = plan_dynamo(&["--format", "json"]);
    assert_eq!(text(&printed.stdout), json);
}

#[test]
fn check_reports_one_line_per_violation_and_exits_1() {
    let (fleet, workload) = load("dynamo/fleet.yaml", "dynamo/deployments.yaml");
    let mut plan = solve(&fleet, &workload).plan;
    plan.replicas[1].stages[0].gpus = plan.replicas[0].stages[0].gpus.clone();
    plan.objective.placed_value += 1;
    let (_d, path) = temp_file("plan.json", &plan.to_json());
    let out = check_dynamo_plan(&path);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("occupancy: GPU h100-01/0 holds 2 workers")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("totals: objective.placed_value")),
        "{stdout}"
    );
}

#[test]
fn bad_input_exits_2_with_one_message_and_keeps_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("deployments.yaml");
    std::fs::write(
        &bad,
        "deployments:\n  - {name: d, model: llama-3.1-8b, tensor_parallel: [0]}\n",
    )
    .unwrap();
    let out_path = dir.path().join("plan.json");
    std::fs::write(&out_path, "previous plan").unwrap();
    let out = fleetfit(&[
        "plan",
        "--fleet",
        "data/dynamo/fleet.yaml",
        "--deployments",
        bad.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("deployments.yaml: deployments[0].tensor_parallel[0]: must be at least 1"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "previous plan");
    assert!(text(&out.stdout).is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn an_unplaceable_request_still_writes_a_plan_and_exits_0() {
    let out = fleetfit(&[
        "plan",
        "--fleet",
        "data/seed-405b/fleet.yaml",
        "--deployments",
        "data/seed-405b/deployments-tp-only.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let plan: fleetfit::domain::Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.unplaced.len(), 1);
}

#[test]
fn models_lists_the_catalog() {
    let out = fleetfit(&["models"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("ID"));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("llama-3.1-405b") && l.contains("405853388800") && l.contains("126")),
        "{stdout}"
    );
}

/// The README's first plan block: the deployment table, then `--detail`'s replica table, each
/// as shown (the lines before `...`).
#[test]
fn the_readme_plan_tables_read_as_shown() {
    let args = [
        "plan",
        "--fleet",
        "data/seed-405b/fleet.yaml",
        "--deployments",
        "data/seed-405b/deployments-with-pp.yaml",
    ];
    for detail in [false, true] {
        let mut run = args.to_vec();
        let mut command = args.join(" ");
        if detail {
            run.push("--detail");
            command += " --detail";
        }
        let shown: Vec<String> = readme_output(&format!("fleetfit {command}"))
            .into_iter()
            .take_while(|l| l != "...")
            .collect();
        let out = fleetfit(&run);
        assert_eq!(out.status.code(), Some(0));
        let got: Vec<String> = text(&out.stdout)
            .lines()
            .take(shown.len())
            .map(str::to_string)
            .collect();
        assert_eq!(got, shown, "{command}");
    }
}

#[test]
fn the_deployment_table_puts_reasons_under_the_short_row() {
    let out = fleetfit(&[
        "plan",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
    ]);
    let table: String = text(&out.stdout)
        .lines()
        .take_while(|l| !l.starts_with("solver:"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(table);
}
