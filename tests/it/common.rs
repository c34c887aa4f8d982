//! Helpers shared by the integration tests: loading `data/`, solving with the real HiGHS, and
//! checking every plan with fleetfit's own checker.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetfit::domain::{Fleet, Plan, Workload};
use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::{SolveOptions, Solved};

/// A path under the repository's `data/` folder.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(rel)
}

/// Loads a fleet and a deployments file from `data/`.
pub fn load(fleet: &str, deployments: &str) -> (Fleet, Workload) {
    let fleet = fleet_file::load(&data(fleet)).expect("valid fleet");
    let workload = deployments_file::load(&data(deployments)).expect("valid deployments");
    (fleet, workload)
}

/// Writes `text` to `name` in a fresh temporary directory and returns the path (the directory
/// lives as long as the returned guard).
pub fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Parses fleet and deployments given as YAML text.
pub fn parse(fleet_yaml: &str, deployments_yaml: &str) -> (Fleet, Workload) {
    let (_d1, f) = temp_file("fleet.yaml", fleet_yaml);
    let (_d2, d) = temp_file("deployments.yaml", deployments_yaml);
    let fleet = fleet_file::load(&f).unwrap_or_else(|e| panic!("fleet: {e}"));
    let workload = deployments_file::load(&d).unwrap_or_else(|e| panic!("deployments: {e}"));
    (fleet, workload)
}

/// Solves with the real solver and asserts the checker accepts the plan (the solver already
/// refuses to return a plan that fails; this checks again from the outside).
pub fn solve(fleet: &Fleet, workload: &Workload) -> Solved {
    let options = SolveOptions {
        time_limit: Duration::from_secs(60),
        ..SolveOptions::default()
    };
    let solved = fleetfit::explain::solve(fleet, workload, &options).unwrap_or_else(|e| panic!("solve failed: {e}"));
    assert_valid(fleet, workload, &solved.plan);
    assert!(
        !solved.stats.proof_contradicted,
        "a heuristic plan beat a level the solver proved:\n{}",
        solved.plan.to_json()
    );
    solved
}

/// Solves YAML texts and returns the checked plan.
pub fn plan_yaml(fleet_yaml: &str, deployments_yaml: &str) -> Plan {
    let (fleet, workload) = parse(fleet_yaml, deployments_yaml);
    solve(&fleet, &workload).plan
}

/// Panics with every violation when the checker rejects a plan.
pub fn assert_valid(fleet: &Fleet, workload: &Workload, plan: &Plan) {
    let violations = fleetfit::check::check(fleet, workload, plan);
    assert!(
        violations.is_empty(),
        "plan fails the check:\n{}\n{}",
        violations.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n"),
        plan.to_json()
    );
}

/// The rule names the checker reports for a plan.
pub fn violated_rules(fleet: &Fleet, workload: &Workload, plan: &Plan) -> Vec<&'static str> {
    let mut rules: Vec<&'static str> = fleetfit::check::check(fleet, workload, plan)
        .iter()
        .map(|v| v.rule.name())
        .collect();
    rules.dedup();
    rules
}

/// Placed replicas per deployment name.
pub fn placed(plan: &Plan, deployment: &str) -> usize {
    plan.replicas.iter().filter(|r| r.deployment == deployment).count()
}

/// A node of `count` idle GPUs of one type, as fleet YAML.
pub fn idle_node(name: &str, gpu_type: &str, count: u32, memory_mib: u64) -> String {
    format!("  - name: {name}\n    gpu_type: {gpu_type}\n    gpu_count: {count}\n    memory_mib: {memory_mib}\n")
}

/// Runs the `fleetfit` binary from the repository root.
pub fn fleetfit(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fleetfit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// The demo's inputs as command-line arguments.
pub const DEMO: [&str; 4] = [
    "--fleet",
    "data/demo/fleet.yaml",
    "--deployments",
    "data/demo/deployments.yaml",
];

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `fleetfit check` on a plan file against the Dynamo example's inputs.
pub fn check_dynamo_plan(plan: &Path) -> std::process::Output {
    let plan = plan.to_str().expect("a UTF-8 path");
    fleetfit(&[
        "check",
        "--fleet",
        "data/dynamo/fleet.yaml",
        "--deployments",
        "data/dynamo/deployments.yaml",
        "--plan",
        plan,
    ])
}

/// Runs `fleetfit plan` on the Dynamo example with extra arguments.
pub fn plan_dynamo(extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "plan",
        "--fleet",
        "data/dynamo/fleet.yaml",
        "--deployments",
        "data/dynamo/deployments.yaml",
    ];
    args.extend_from_slice(extra);
    fleetfit(&args)
}

/// The lines of the README block that follows `$ {command}`, up to the next blank line or `$`.
pub fn readme_output(command: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut lines = readme.lines().skip_while(|l| !l.starts_with(&format!("$ {command}")));
    let cmd = lines.next().expect("the README shows the command");
    assert!(cmd.starts_with('$'));
    lines
        .take_while(|l| !l.starts_with('$') && !l.starts_with("```"))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// With `FLEETFIT_CAPACITY_PROBE_S=S` set, runs capacity once more under `--time-limit S` and
/// prints how long it took (`capacity probe: ...`): how "capacity returns within its time limit
/// on every case of the suite" is measured (docs/performance.md). Never asserts a time.
pub fn capacity_probe(
    fleet: &fleetfit::domain::Fleet,
    workload: &fleetfit::domain::Workload,
    skus: &[fleetfit::formats::skus_file::Sku],
    path: &std::path::Path,
    min_priority: Option<u64>,
) {
    let Some(limit) = std::env::var("FLEETFIT_CAPACITY_PROBE_S")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    else {
        return;
    };
    let started = std::time::Instant::now();
    let status = fleetfit::workflows::capacity::capacity(
        fleet,
        workload,
        skus,
        path,
        min_priority,
        std::time::Duration::from_secs_f64(limit),
    )
    .map(|c| format!("{:?}", c.status));
    eprintln!(
        "capacity probe: {:.3} s at --time-limit {limit} ({} GPUs, {} deployments): {status:?}",
        started.elapsed().as_secs_f64(),
        fleet.gpus().count(),
        workload.deployments.len()
    );
}

/// `fleetfit gen --gpus GPUS --deployments DEPLOYMENTS --seed 1 --tight`, written to a temporary
/// folder (kept alive by the returned guard): its fleet and deployments files.
pub fn tight_files(gpus: u64, deployments: u64) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let spec = fleetfit::synth::GenSpec::tight(gpus, deployments);
    let dir = tempfile::tempdir().unwrap();
    let (fleet, deployments) = (dir.path().join("fleet.yaml"), dir.path().join("deployments.yaml"));
    std::fs::write(&fleet, fleetfit::synth::fleet_yaml(&spec)).unwrap();
    std::fs::write(&deployments, fleetfit::synth::deployments_yaml(&spec)).unwrap();
    (dir, fleet, deployments)
}
