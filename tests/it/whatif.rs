//! What-if sweeps and N-1 drills: every edit and its errors, drills known by hand, the base
//! bound, shards joined by merge, and the same output whatever the number of threads.

use std::path::Path;

use fleetfit::workflows::drill::{self, Failure};
use fleetfit::workflows::shard::{self, Indexed, Merged, Partial, Shard};
use fleetfit::workflows::whatif::{self, WhatIf};
use fleetfit::workflows::{Base, SweepOptions};

use super::common::*;

const FLEET: &str = "nodes:\n  - name: a\n    labels: {rack: r1}\n    gpu_type: A\n    gpu_count: 2\n    memory_mib: 4096\n  - name: b\n    labels: {rack: r1}\n    gpu_type: A\n    gpu_count: 2\n    memory_mib: 4096\n  - name: c\n    labels: {rack: r2}\n    gpu_type: A\n    gpu_count: 2\n    memory_mib: 4096\n";
const DEPLOYMENTS: &str = "policy: {overhead_mib: 0, reserve: {per_type: {A: 0}}}\nmodels:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\ndeployments:\n  - {name: big, model: tiny, replicas: 2, priority: 5, tensor_parallel: [2], kv_cache_tokens: 32768}\n  - {name: small, model: tiny, replicas: 3, priority: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n";

/// The base of a test: the two files in a temporary directory.
fn base() -> (tempfile::TempDir, Base) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.yaml"), FLEET).unwrap();
    std::fs::write(dir.path().join("deployments.yaml"), DEPLOYMENTS).unwrap();
    let base = Base::load(&dir.path().join("fleet.yaml"), &dir.path().join("deployments.yaml")).unwrap();
    (dir, base)
}

fn sweep(jobs: usize) -> SweepOptions {
    SweepOptions {
        jobs,
        ..SweepOptions::default()
    }
}

/// Runs a scenarios text against the base; `Err` holds the message.
fn whatif_text(text: &str) -> Result<WhatIf, String> {
    let (dir, base) = base();
    let path = dir.path().join("scenarios.yaml");
    std::fs::write(&path, text).unwrap();
    let file = fleetfit::formats::scenarios_file::load(&path).map_err(|e| e.to_string())?;
    let results = whatif::run(&base, &file, &path, &sweep(2)).map_err(|e| e.to_string())?;
    Ok(WhatIf {
        scenarios: results.into_iter().map(|(_, r)| r).collect(),
    })
}

fn placed(report: &WhatIf, scenario: &str, deployment: &str) -> u64 {
    let s = report.scenarios.iter().find(|s| s.name == scenario).unwrap();
    s.outcome.placed[deployment]
}

#[test]
fn every_edit_changes_what_it_says() {
    // 6 GPUs: base places 2 x big (TP 2) + 2 x small = value 12.
    let report = whatif_text(
        "scenarios:\n  - name: lose-r1\n    remove_nodes: {labels: {rack: r1}}\n  - name: lose-a\n    remove_nodes: {names: [a]}\n  - name: grow\n    add_nodes: [{prefix: new, count: 1, gpu_type: A, gpu_count: 2, memory_mib: 4096}]\n  - name: busy\n    mark_busy: [{node: c, gpus: [0]}]\n  - name: busy-node\n    mark_busy: [{node: c}]\n  - name: more-small\n    scale_replicas: {small: 2.0}\n  - name: set-big\n    scale_replicas: {big: {set: 1}}\n  - name: swap\n    remove_deployments: [small]\n    add_deployments: [{name: other, model: tiny, replicas: 1, priority: 2, tensor_parallel: [1], kv_cache_tokens: 32768}]\n  - name: reserve\n    policy: {reserve: {fleet: 2}}\n",
    )
    .unwrap();
    let names: Vec<&str> = report.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[0], "base");
    assert_eq!(placed(&report, "base", "big"), 2);
    assert_eq!(placed(&report, "base", "small"), 2);
    assert_eq!(placed(&report, "lose-r1", "big"), 1);
    assert_eq!(placed(&report, "lose-r1", "small"), 0);
    assert_eq!(placed(&report, "lose-a", "big"), 2);
    assert_eq!(placed(&report, "lose-a", "small"), 0);
    assert_eq!(placed(&report, "grow", "small"), 3);
    assert_eq!(placed(&report, "busy", "small"), 1);
    assert_eq!(placed(&report, "busy-node", "small"), 0);
    // small: 3 x 2.0 = 6 asked; still 2 GPUs left for it.
    assert_eq!(placed(&report, "more-small", "small"), 2);
    assert_eq!(placed(&report, "set-big", "big"), 1);
    assert_eq!(placed(&report, "set-big", "small"), 3);
    assert_eq!(placed(&report, "swap", "other"), 1);
    assert!(
        !report
            .scenarios
            .iter()
            .find(|s| s.name == "swap")
            .unwrap()
            .outcome
            .placed
            .contains_key("small")
    );
    // The reserve is merged into the base policy (per_type stays), two GPUs stay free.
    assert_eq!(placed(&report, "reserve", "small"), 0);
    assert_eq!(report.scenarios.len(), 10);
}

#[test]
fn policy_edits_merge_field_by_field() {
    use fleetfit::formats::deployments_file::{PolicyFile, ReserveFile};
    use fleetfit::workflows::scenario::merge_policy;
    let base = PolicyFile {
        busy_threshold: Some(0.8),
        overhead_mib: Some(1024),
        engine: None,
        reserve: Some(ReserveFile {
            per_node: Some(1),
            fleet: None,
            per_type: Some([("A".to_string(), 1), ("B".to_string(), 2)].into()),
        }),
    };
    let patch = PolicyFile {
        busy_threshold: None,
        overhead_mib: None,
        engine: Some("sglang".into()),
        reserve: Some(ReserveFile {
            per_node: None,
            fleet: Some(8),
            per_type: Some([("B".to_string(), 5)].into()),
        }),
    };
    let merged = merge_policy(&base, &patch);
    assert_eq!(merged.busy_threshold, Some(0.8));
    assert_eq!(merged.overhead_mib, Some(1024));
    assert_eq!(merged.engine.as_deref(), Some("sglang"));
    let r = merged.reserve.unwrap();
    assert_eq!((r.per_node, r.fleet), (Some(1), Some(8)));
    assert_eq!(r.per_type.unwrap(), [("A".to_string(), 1), ("B".to_string(), 5)].into());
}

#[test]
fn every_bad_edit_names_the_scenario_the_edit_and_the_field() {
    for (text, expected) in [
        (
            "  - name: s\n    remove_nodes: {names: [zz]}\n",
            "scenarios[0].remove_nodes.names[0]: no node is named 'zz' (scenario 's')",
        ),
        (
            "  - name: s\n    remove_nodes: {labels: {rack: r9}}\n",
            "scenarios[0].remove_nodes.labels: no node has the labels rack=r9 (scenario 's')",
        ),
        (
            "  - name: s\n    add_nodes: [{prefix: x, count: 1, gpu_type: A, gpu_count: 2, memory_mib: 4096}, {prefix: x, count: 2, gpu_type: A, gpu_count: 2, memory_mib: 4096}]\n",
            "scenarios[0].add_nodes[1].prefix: node 'x-1' already exists",
        ),
        (
            "  - name: s\n    add_nodes: [{prefix: x, count: 1, gpu_type: A, gpu_count: 2, memory_mib: 0}]\n",
            "scenarios[0].add_nodes[0].memory_mib",
        ),
        (
            "  - name: s\n    mark_busy: [{node: zz}]\n",
            "scenarios[0].mark_busy[0].node: no node is named 'zz'",
        ),
        (
            "  - name: s\n    mark_busy: [{node: a, gpus: [7]}]\n",
            "scenarios[0].mark_busy[0].gpus[0]: node 'a' has no GPU 7",
        ),
        (
            "  - name: s\n    remove_deployments: [zz]\n",
            "scenarios[0].remove_deployments[0]: no deployment is named 'zz'",
        ),
        (
            "  - name: s\n    scale_replicas: {zz: 2}\n",
            "scenarios[0].scale_replicas.zz: no deployment is named 'zz'",
        ),
        (
            "  - name: s\n    scale_replicas: {big: -1}\n",
            "scenarios[0].scale_replicas.big: -1 is not a usable factor",
        ),
        (
            "  - name: s\n    scale_replicas: {big: {set: 4294967296}}\n",
            "scenarios[0].scale_replicas.big: 4294967296 is more than 100000 replicas (scenario 's')",
        ),
        (
            "  - name: s\n    add_deployments: [{name: n, model: no-such-model}]\n",
            "scenarios[0].add_deployments[0].model",
        ),
        (
            "  - name: s\n    policy: {busy_threshold: 7}\n",
            "scenarios[0].policy.busy_threshold",
        ),
        (
            "  - name: s\n    remove_node: {names: [a]}\n",
            "scenarios[0].remove_node: unknown field `remove_node`",
        ),
        ("  - name: base\n", "scenarios[0].name"),
        (
            "  - name: s\n  - name: s\n",
            "scenarios[1].name: duplicate scenario name 's'",
        ),
    ] {
        let message = whatif_text(&format!("scenarios:\n{text}")).unwrap_err();
        assert!(
            message.contains(expected),
            "{text}\n expected {expected}\n got {message}"
        );
        assert!(message.contains("scenarios.yaml"), "names the file: {message}");
    }
}

#[test]
fn a_node_drill_known_by_hand() {
    // Three 2-GPU nodes: base places big twice (a, b) and small twice (c). Losing a or b loses
    // nothing of big (it moves to c) but both small; losing c loses both small.
    let (_dir, base) = base();
    let failure: Failure = "node".parse().unwrap();
    let (base_outcome, cases) = drill::run(&base, &failure, &sweep(2)).unwrap();
    assert_eq!(base_outcome.objective.placed_value, 12);
    let report = drill::Drill::new(base_outcome, cases.into_iter().map(|(_, c)| c).collect());
    for case in &report.cases {
        assert_eq!(case.outcome.objective.placed_value, 10, "{}", case.failed);
        assert_eq!(case.lost.len(), 1);
        assert_eq!((case.lost[0].deployment.as_str(), case.lost[0].replicas), ("small", 2));
        assert_eq!(case.outcome.status, fleetfit::domain::SolveStatus::Optimal);
    }
    // Worst first, then by name.
    let failed: Vec<&str> = report.cases.iter().map(|c| c.failed.as_str()).collect();
    assert_eq!(failed, ["a", "b", "c"]);
    // Label and GPU drills.
    let (_, racks) = drill::run(&base, &"label=rack".parse().unwrap(), &sweep(1)).unwrap();
    let by_rack: Vec<(String, u64)> = racks
        .iter()
        .map(|(_, c)| (c.failed.clone(), c.outcome.objective.placed_value))
        .collect();
    assert_eq!(by_rack, [("r1".to_string(), 5), ("r2".to_string(), 10)]);
    let (_, gpus) = drill::run(&base, &"gpu".parse().unwrap(), &sweep(1)).unwrap();
    assert_eq!(gpus.len(), 6);
    assert!(gpus.iter().all(|(_, c)| c.outcome.objective.placed_value == 11));
    assert!("label=".parse::<Failure>().is_err() && "rack".parse::<Failure>().is_err());
    let missing = drill::cases(&base, &"label=zone".parse().unwrap()).unwrap_err();
    assert!(missing.to_string().contains("no node has the label 'zone'"));
}

#[test]
fn the_base_bounds_every_case_of_a_drill_on_the_demo() {
    let base = Base::load(&data("demo/fleet.yaml"), &data("demo/deployments.yaml")).unwrap();
    let (base_outcome, cases) = drill::run(&base, &"label=rack".parse().unwrap(), &sweep(2)).unwrap();
    assert!(!cases.is_empty());
    for (_, case) in &cases {
        assert!(case.outcome.objective.placed_value <= base_outcome.objective.placed_value);
        let lost: u64 = case.lost.iter().map(|l| l.replicas).sum();
        assert!(lost > 0 || case.outcome.objective.placed_value == base_outcome.objective.placed_value);
    }
}

#[test]
fn a_drill_with_headroom_proves_cases_from_the_base_without_a_mip() {
    // The generated 512-GPU fleet with headroom: nearly every failed node's replicas fit back
    // elsewhere at the base's optimum, which proves the case at once.
    let spec = fleetfit::synth::GenSpec {
        gpus: 512,
        deployments: 32,
        seed: 1,
        tight: false,
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.yaml"), fleetfit::synth::fleet_yaml(&spec)).unwrap();
    std::fs::write(
        dir.path().join("deployments.yaml"),
        fleetfit::synth::deployments_yaml(&spec),
    )
    .unwrap();
    let base = Base::load(&dir.path().join("fleet.yaml"), &dir.path().join("deployments.yaml")).unwrap();
    let failure: Failure = "node".parse().unwrap();
    let (_, results) = drill::run(&base, &failure, &sweep(2)).unwrap();
    let quick = results.iter().filter(|(_, c)| c.proven_without_mip).count();
    assert!(quick * 2 > results.len(), "{quick} of {} without a MIP", results.len());
    // A shortcut's claim equals what a full solve of the case proves.
    let cases = drill::cases(&base, &failure).unwrap();
    for (i, result) in results.iter().filter(|(_, c)| c.proven_without_mip).take(3) {
        let fleet = drill::without(&base.fleet, &cases[*i]);
        let full = solve(&fleet, &base.workload).plan;
        assert_eq!(full.status, fleetfit::domain::SolveStatus::Optimal);
        let o = &result.outcome.objective;
        assert_eq!(
            (o.placed_value, o.quantization_penalty, o.gpus_used),
            (
                full.objective.placed_value,
                full.objective.quantization_penalty,
                full.objective.gpus_used
            ),
            "case {}",
            result.failed
        );
    }
}

/// Whatif JSON without its timings, the one field that differs between runs.
fn without_seconds(json: &str) -> String {
    json.lines()
        .filter(|l| !l.trim_start().starts_with("\"seconds\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn threads_and_shards_do_not_change_the_answer() {
    let (dir, base) = base();
    let path = dir.path().join("scenarios.yaml");
    std::fs::write(
        &path,
        "scenarios:\n  - name: lose-a\n    remove_nodes: {names: [a]}\n  - name: grow\n    add_nodes: [{prefix: new, count: 1, gpu_type: A, gpu_count: 2, memory_mib: 4096}]\n  - name: busy\n    mark_busy: [{node: c}]\n",
    )
    .unwrap();
    let file = fleetfit::formats::scenarios_file::load(&path).unwrap();
    let json = |jobs: usize| {
        let results = whatif::run(&base, &file, &path, &sweep(jobs)).unwrap();
        WhatIf {
            scenarios: results.into_iter().map(|(_, r)| r).collect(),
        }
        .to_json()
    };
    let one = json(1);
    assert_eq!(without_seconds(&one), without_seconds(&json(2)));
    // Three shards, joined.
    let parts: Vec<(std::path::PathBuf, Partial)> = (0..3)
        .map(|k| {
            let options = SweepOptions {
                shard: Shard { index: k, count: 3 },
                ..sweep(1)
            };
            let results = whatif::run(&base, &file, &path, &options).unwrap();
            let partial = Partial {
                command: "whatif".into(),
                shard: options.shard,
                cases: 4,
                base: None,
                whatif: results
                    .into_iter()
                    .map(|(index, result)| Indexed { index, result })
                    .collect(),
                drill: Vec::new(),
                inputs: None,
            };
            // Through JSON, as the parts travel between machines.
            let text = partial.to_json();
            (
                Path::new(&format!("part-{k}.json")).to_path_buf(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    let Merged::WhatIf(merged) = shard::merge(&parts).unwrap() else {
        panic!("a whatif merge")
    };
    assert_eq!(without_seconds(&merged.to_json()), without_seconds(&one));
    // A missing or repeated shard is refused.
    assert!(
        shard::merge(&parts[..2])
            .unwrap_err()
            .to_string()
            .contains("shard 2 of 3 is missing")
    );
    let twice = vec![parts[0].clone(), parts[0].clone(), parts[1].clone()];
    assert!(shard::merge(&twice).unwrap_err().to_string().contains("given twice"));
}

#[test]
fn a_sharded_drill_through_the_binary_merges_to_the_unsharded_json() {
    let dir = tempfile::tempdir().unwrap();
    let args = |extra: &[&str]| {
        let mut v = vec![
            "drill",
            "--fleet",
            "data/demo/fleet.yaml",
            "--deployments",
            "data/demo/deployments.yaml",
            "--fail",
            "label=zone",
            "--time-limit",
            "30",
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = fleetfit(&refs);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let whole = run(args(&["--format", "json", "--jobs", "2"]));
    let mut parts = Vec::new();
    for k in 0..2 {
        let part = dir.path().join(format!("part-{k}.json"));
        let shard = format!("{k}/2");
        run(args(&[
            "--shard",
            &shard,
            "--out",
            part.to_str().unwrap(),
            "--jobs",
            "1",
        ]));
        parts.push(part.to_str().unwrap().to_string());
    }
    let mut merge = vec!["merge".to_string()];
    merge.extend(parts);
    assert_eq!(
        run(merge),
        whole,
        "merged parts equal the unsharded drill, byte for byte"
    );
}

#[test]
fn shard_arguments() {
    let none = |_: &str| None;
    assert_eq!(Shard::parse("1/4", none), Ok(Shard { index: 1, count: 4 }));
    assert!(Shard::parse("4/4", none).is_err());
    assert!(Shard::parse("4", none).is_err());
    let k8s = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "2".to_string());
    assert_eq!(Shard::parse("4", k8s), Ok(Shard { index: 2, count: 4 }));
    let slurm = |name: &str| (name == "SLURM_ARRAY_TASK_ID").then(|| "3".to_string());
    assert_eq!(Shard::parse("4", slurm), Ok(Shard { index: 3, count: 4 }));
}

/// A table row without its seconds column (`1.00`), the one figure that differs per run.
fn without_timing(line: &str) -> String {
    line.split_whitespace()
        .filter(|w| !(w.contains('.') && w.parse::<f64>().is_ok()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_readme_whatif_and_drill_sessions_run_as_shown() {
    let demo = [
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
    ];
    let mut whatif_args = vec!["whatif"];
    whatif_args.extend(demo);
    whatif_args.extend(["--scenarios", "data/demo/scenarios.yaml"]);
    let out = fleetfit(&whatif_args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: Vec<String> = readme_output("fleetfit whatif")
        .iter()
        .map(|l| without_timing(l))
        .collect();
    let got: Vec<String> = text(&out.stdout).lines().map(without_timing).collect();
    assert_eq!(got, shown[..got.len()]);
    let mut drill_args = vec!["drill"];
    drill_args.extend(demo);
    drill_args.extend(["--fail", "label=zone"]);
    let out = fleetfit(&drill_args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = readme_output("fleetfit drill");
    let got: Vec<String> = text(&out.stdout).lines().map(|l| l.trim_end().to_string()).collect();
    assert_eq!(got, shown[..got.len()]);
}

#[test]
fn marked_busy_gpus_leave_the_eligible_ones_even_at_busy_threshold_1() {
    // Node c's two GPUs are marked busy. At `busy_threshold: 1` a merely full GPU would still be
    // eligible and would hold the fleet reserve of 2 for free; marked busy, it may not, so the
    // reserve takes two of a's and b's four GPUs and one `big` replica fits, not two.
    let report = whatif_text(
        "scenarios:\n  - name: c-busy\n    mark_busy: [{node: c}]\n    policy: {busy_threshold: 1.0, reserve: {fleet: 2}}\n",
    )
    .unwrap();
    assert_eq!(placed(&report, "c-busy", "big"), 1);
    let s = report.scenarios.iter().find(|s| s.name == "c-busy").unwrap();
    assert_eq!(s.outcome.objective.placed_value, 5);
}

#[test]
fn merge_refuses_parts_solved_on_other_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let part = |fleet: &str, shard: &str| {
        let path = dir.path().join(format!("part-{}.json", shard.replace('/', "-")));
        let out = fleetfit(&[
            "whatif",
            "--fleet",
            fleet,
            "--deployments",
            "data/demo/deployments.yaml",
            "--scenarios",
            "data/demo/scenarios.yaml",
            "--shard",
            shard,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        path
    };
    // Shard 0 on today's fleet, shard 1 on tomorrow's: two sweeps, not one.
    let today = part("data/demo/fleet.yaml", "0/2");
    let tomorrow = part("data/demo/fleet-tomorrow.yaml", "1/2");
    let out = fleetfit(&["merge", today.to_str().unwrap(), tomorrow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("part of a sweep over other inputs"), "{stderr}");
    assert!(stderr.contains("another fleet file"), "{stderr}");
    // The right parts merge.
    let same = part("data/demo/fleet.yaml", "1/2");
    let out = fleetfit(&["merge", today.to_str().unwrap(), same.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_case_that_places_less_than_the_base_is_not_proven_by_reaching_it() {
    // One node holds the only replica: failing it leaves value 0 against the base's 1. The case
    // is optimal (nothing else fits), but it did not reach the base's optimum, so it must not be
    // counted as settled "without a MIP" from the base's proof.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fleet.yaml"),
        format!(
            "nodes:\n{}{}",
            idle_node("a", "A", 1, 81920),
            idle_node("b", "B", 1, 81920)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("deployments.yaml"),
        "policy: {overhead_mib: 0}\ndeployments:\n  - {name: d, model: llama-3.1-8b, tensor_parallel: [1], gpu_types: [A]}\n",
    )
    .unwrap();
    let base = Base::load(&dir.path().join("fleet.yaml"), &dir.path().join("deployments.yaml")).unwrap();
    let (base_outcome, cases) = drill::run(&base, &"node".parse().unwrap(), &sweep(1)).unwrap();
    assert_eq!(base_outcome.objective.placed_value, 1);
    let lost_a = cases.iter().map(|(_, c)| c).find(|c| c.failed == "a").unwrap();
    assert_eq!(lost_a.outcome.objective.placed_value, 0);
    assert!(!lost_a.proven_without_mip, "value 0 did not reach the base's 1");
    let lost_b = cases.iter().map(|(_, c)| c).find(|c| c.failed == "b").unwrap();
    assert_eq!(lost_b.outcome.objective.placed_value, 1);
}
