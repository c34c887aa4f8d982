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
