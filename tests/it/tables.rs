//! Golden output of every table kind and every command's help, as a user reads them (insta).
//! Seconds are the one thing that changes from run to run; they are masked.

use super::common::*;

/// Runs the binary with `args` after the demo inputs and returns stdout, which must succeed.
fn demo(command: &[&str], extra: &[&str]) -> String {
    let mut args: Vec<&str> = command.to_vec();
    args.extend(DEMO);
    args.extend(extra);
    let out = fleetfit(&args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Masks durations (`0.47` in whatif's column, `0.35s,` and `total 0.61s` in footers) so that
/// snapshots hold across runs; column widths stay as printed.
fn mask_seconds(text: &str) -> String {
    let mask_word = |line: &str, word: &str| -> String {
        let core = word.trim_end_matches([',', ';']);
        let tail = &word[core.len()..];
        let (number, unit) = match core.strip_suffix('s') {
            Some(n) => (n, "s"),
            None => (core, ""),
        };
        let decimal = number.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
        });
        if decimal && (unit == "s" || line_has_seconds_column(line)) {
            format!("{}{unit}{tail}", "#".repeat(number.len()))
        } else {
            word.to_string()
        }
    };
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|w| mask_word(line, w))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// whatif's rows carry bare seconds (`0.47`) in a column of their own.
fn line_has_seconds_column(line: &str) -> bool {
    line.contains("optimal") || line.contains("time_limit")
}

#[test]
fn plan_detail_table() {
    let out = demo(&["plan"], &["--detail"]);
    // The per-replica listing is long: its head and its footer are the golden parts.
    let lines: Vec<&str> = out.lines().collect();
    let head = lines[..12].join("\n");
    let tail = lines[lines.len() - 4..].join("\n");
    insta::assert_snapshot!("plan_detail", mask_seconds(&format!("{head}\n...\n{tail}")));
}

#[test]
fn whatif_table() {
    let out = demo(&["whatif"], &["--scenarios", "data/demo/scenarios.yaml"]);
    insta::assert_snapshot!("whatif", mask_seconds(&out));
}

#[test]
fn drill_table() {
    let out = demo(&["drill"], &["--fail", "label=rack"]);
    insta::assert_snapshot!("drill", mask_seconds(&out));
}

#[test]
fn capacity_table() {
    let out = demo(&["capacity"], &["--skus", "data/demo/skus.yaml"]);
    insta::assert_snapshot!("capacity", mask_seconds(&out));
}

#[test]
fn replan_table() {
    let dir = tempfile::tempdir().unwrap();
    let today = dir.path().join("today.json");
    demo(&["plan"], &["--out", today.to_str().unwrap()]);
    let out = fleetfit(&[
        "replan",
        "--fleet",
        "data/demo/fleet-tomorrow.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--current",
        today.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    insta::assert_snapshot!("replan", mask_seconds(&text(&out.stdout)));
}

#[test]
fn check_lines() {
    let dir = tempfile::tempdir().unwrap();
    let today = dir.path().join("today.json");
    demo(&["plan"], &["--out", today.to_str().unwrap()]);
    // Yesterday's plan against tomorrow's fleet: the lines a reviewer reads.
    let out = fleetfit(&[
        "check",
        "--fleet",
        "data/demo/fleet-tomorrow.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--plan",
        today.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr).replace(today.to_str().unwrap(), "today.json");
    insta::assert_snapshot!(
        "check",
        format!("{}--- stderr\n{}", text(&out.stdout), mask_digests(&stderr))
    );
}

/// Digests change with every edit of `data/`: only their shape is golden.
fn mask_digests(text: &str) -> String {
    text.split("sha256:")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_string()
            } else {
                let hex = part.bytes().take_while(u8::is_ascii_hexdigit).count();
                format!("sha256:{}{}", "#".repeat(hex), &part[hex..])
            }
        })
        .collect()
}

#[test]
fn models_table() {
    let out = fleetfit(&["models"]);
    assert!(out.status.success());
    insta::assert_snapshot!("models", text(&out.stdout));
}

#[test]
fn every_command_has_golden_help() {
    let commands: [&[&str]; 24] = [
        &[],
        &["plan"],
        &["check"],
        &["models"],
        &["gen"],
        &["whatif"],
        &["drill"],
        &["merge"],
        &["sweep-job"],
        &["capacity"],
        &["replan"],
        &["current"],
        &["current", "import"],
        &["fleet"],
        &["fleet", "import"],
        &["model"],
        &["model", "import"],
        &["emit"],
        &["explain"],
        &["report"],
        &["schema"],
        &["calibrate"],
        &["help"],
        &["--version"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        if !matches!(command.last(), Some(&"help") | Some(&"--version")) {
            args.push("--help");
        }
        let out = fleetfit(&args);
        assert!(out.status.success(), "{args:?}");
        let name = if command.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", command.join("_").trim_start_matches("--"))
        };
        insta::assert_snapshot!(name, text(&out.stdout));
    }
}
