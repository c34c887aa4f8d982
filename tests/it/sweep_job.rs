//! `fleetfit sweep-job`: the sbatch script passes shellcheck and hands every argument over as
//! given; the Indexed Job validates against Kubernetes' batch/v1 Job schema; a sweep that would
//! not run, or that sets what each task sets, is refused. (The script runs on a real Slurm in
//! `scripts/slurm-test.sh`, which CI runs after the tests.)

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::common::*;

/// `fleetfit sweep-job ARGS` and its output.
fn sweep_job(args: &[&str]) -> std::process::Output {
    fleetfit(&[&["sweep-job"], args].concat())
}

#[test]
fn the_slurm_script_passes_shellcheck_and_keeps_each_argument_whole() {
    let out = sweep_job(&[
        "--target",
        "slurm",
        "--shards",
        "8",
        "--parts",
        "my parts",
        "--",
        "drill",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--fail",
        "label=rack $(touch PWNED)",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(
        script.contains("#SBATCH --array=0-7") && script.contains("--shard 8"),
        "{script}"
    );
    assert!(script.contains(r"'label=rack '\$'(touch PWNED)'"), "{script}");
    assert!(
        script.contains(r#"'my parts'/part-"${SLURM_ARRAY_TASK_ID}".json"#),
        "{script}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drill.sbatch");
    std::fs::write(&path, &script).unwrap();
    super::hostile_names::shellcheck(&path);
}

/// The compiled batch/v1 Job schema.
fn job_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(data("schemas/k8s/job-batch-v1.json")).unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
    })
}

#[test]
fn the_indexed_job_validates_and_escapes_kubernetes_expansion() {
    let out = sweep_job(&[
        "--target",
        "k8s",
        "--shards",
        "4",
        "--parts",
        "/parts",
        "--",
        "whatif",
        "--fleet",
        "/in/fleet.yaml",
        "--deployments",
        "/in/$(HOME)/deployments.yaml",
        "--scenarios",
        "/in/scenarios.yaml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = Value::deserialize(serde_yaml::Deserializer::from_str(&text(&out.stdout))).unwrap();
    let errors: Vec<String> = job_schema().iter_errors(&job).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 4);
    let command: Vec<&str> = job["spec"]["template"]["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(command.contains(&"/in/$$(HOME)/deployments.yaml"), "{command:?}");
    assert_eq!(command.last(), Some(&"/parts/part-$(JOB_COMPLETION_INDEX).json"));
    let broken = serde_json::to_string(&job)
        .unwrap()
        .replace("completionMode", "completionMod");
    assert!(!job_schema().is_valid(&serde_json::from_str(&broken).unwrap()));
}

#[test]
fn sweeps_that_would_not_run_are_refused() {
    for (args, says) in [
        (
            &["plan", "--fleet", "f.yaml"][..],
            "must be `whatif ...` or `drill ...`",
        ),
        (
            &[
                "drill",
                "--fleet",
                "f.yaml",
                "--deployments",
                "d.yaml",
                "--fail",
                "node",
                "--shard",
                "2",
            ][..],
            "leave `--shard` out",
        ),
        (
            &[
                "drill",
                "--fleet",
                "f.yaml",
                "--deployments",
                "d.yaml",
                "--fail",
                "node",
                "--out=x.json",
            ][..],
            "leave `--out` out",
        ),
        (
            &[
                "drill",
                "--fleet",
                "f.yaml",
                "--deployments",
                "d.yaml",
                "--fail",
                "node",
                "--colour",
                "red",
            ][..],
            "do not parse",
        ),
    ] {
        let out = sweep_job(&[&["--target", "slurm", "--shards", "2", "--"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    }
    let out = sweep_job(&[
        "--target",
        "k8s",
        "--shards",
        "2",
        "--",
        "drill",
        "--fleet",
        "f",
        "--deployments",
        "d",
        "--fail",
        "node",
    ]);
    assert!(text(&out.stderr).contains("absolute path"), "{}", text(&out.stderr));
}
