//! The error catalogue in docs/errors.md, run row by row, and the errors it points to.

use super::common::*;

/// (file name, input, expected message) rows of the catalogue's first table.
fn catalogue() -> Vec<(String, String, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    let cell = |c: &str| c.trim().trim_start_matches('`').trim_end_matches('`').to_string();
    doc.lines()
        .take_while(|l| !l.starts_with("Other errors"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| file") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 3, "row: {l}");
            (cell(cells[0]), cell(cells[1]).replace("\\n", "\n"), cell(cells[2]))
        })
        .collect()
}

#[test]
fn every_catalogued_error_gives_its_message() {
    let rows = catalogue();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    for (file, input, expected) in rows {
        let (_dir, path) = temp_file(&file, &input);
        let message = if file.starts_with("fleet") {
            fleetfit::formats::fleet_file::load(&path)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        } else {
            fleetfit::formats::deployments_file::load(&path)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(
            message.contains(&expected),
            "{file} {input:?}\n expected {expected:?}\n got      {message:?}"
        );
        assert!(message.contains(&file), "names the file: {message}");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
    }
}

#[test]
fn a_malformed_plan_is_bad_input() {
    let (_d, plan) = temp_file(
        "plan.json",
        "{\"status\": \"optimal\", \"objective\": {\"placed_value\": \"x\"}}",
    );
    let out = check_dynamo_plan(&plan);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plan.json:1: objective.placed_value: invalid type"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_bad_input() {
    for (flag, value) in [
        ("--time-limit", "0"),
        ("--time-limit", "-3"),
        ("--time-limit", "1e20"),
        ("--time-limit", "NaN"),
        ("--gap", "1.5"),
    ] {
        let arg = format!("{flag}={value}");
        let out = plan_dynamo(&[&arg]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag) && !stderr.contains("panicked"), "{stderr}");
    }
    let demo = [
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
    ];
    for (command, flag, value) in [
        ("drill", "--gap", "2"),
        ("whatif", "--gap", "-0.1"),
        ("drill", "--time-limit", "0"),
    ] {
        let mut args = vec![command];
        args.extend(demo);
        let arg = format!("{flag}={value}");
        args.extend(["--fail", "node", "--scenarios", "data/demo/scenarios.yaml", &arg]);
        if command == "drill" {
            args.retain(|a| *a != "--scenarios" && *a != "data/demo/scenarios.yaml");
        } else {
            args.retain(|a| *a != "--fail" && *a != "node");
        }
        let out = fleetfit(&args);
        assert_eq!(out.status.code(), Some(2), "{command} {flag} {value}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "{command} {flag}");
    }
}

#[test]
fn bad_engine_profiles_are_bad_input() {
    let good = "engine: vllm\nversion: '0.19'\nkv_block_tokens: 16\nactivation:\n  - {mib: 2000}\nnon_torch:\n  - {mib: 300}\n";
    let cases = [
        (
            good.replace("activation:", "activaton:"),
            "p.yaml:4: activaton: unknown field `activaton`",
        ),
        (
            good.replace("{mib: 300}", "{mib: -3}"),
            "non_torch[0].mib: invalid type: integer `-3`",
        ),
        (
            good.replace("{mib: 300}", "{mib: 9999999}"),
            "non_torch[0].mib: 9999999 is absurd (at most 1048576)",
        ),
        (
            good.replace("  - {mib: 2000}", "  - {model_type: llama, mib: 2000}"),
            "activation: no rule matches every model and shape",
        ),
        (
            good.replace("engine: vllm", "engine: tgi"),
            "engine: unknown engine 'tgi'",
        ),
        (
            good.replace("kv_block_tokens: 16", "kv_block_tokens: 0"),
            "kv_block_tokens: 0 is not a block size",
        ),
        (
            format!("{good}weights_loaded_percent:\n  - {{percent: 90}}\n"),
            "weights_loaded_percent[0].percent: an engine loads at least the checkpoint",
        ),
    ];
    let (dir, fleet) = temp_file("fleet.yaml", &format!("nodes:\n{}", idle_node("n", "H100", 1, 81559)));
    let deployments = dir.path().join("deployments.yaml");
    std::fs::write(&deployments, "deployments:\n  - {name: d, model: llama-3.1-8b}\n").unwrap();
    for (text, expected) in cases {
        let profile = dir.path().join("p.yaml");
        std::fs::write(&profile, &text).unwrap();
        let out_plan = dir.path().join("plan.json");
        let out = fleetfit(&[
            "plan",
            "--fleet",
            fleet.to_str().unwrap(),
            "--deployments",
            deployments.to_str().unwrap(),
            "--profiles",
            profile.to_str().unwrap(),
            "--out",
            out_plan.to_str().unwrap(),
        ]);
        let stderr = text_of(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in {stderr:?}");
        assert!(stderr.contains("p.yaml"), "names the file: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!out_plan.exists(), "nothing written");
    }
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
