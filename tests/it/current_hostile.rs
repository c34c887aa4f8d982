//! `current import` and `emit --current` on what a review found breaking them: each test is one
//! finding (shell injection through a name, ports in use, spanning replicas, LeaderWorkerSets of
//! several replicas, controller counts, memory that does not fit, duplicates, bad device lists,
//! foreign memory per GPU, init containers, overflow, `--from`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::common::{fleetfit, text};

/// A GPU pod of namespace `ns` on `node` running `argv`.
fn pod(ns: &str, name: &str, node: &str, argv: &[&str], gpus: u64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {}},
        "spec": {"nodeName": node, "containers": [{
            "name": "c", "image": "img", "command": argv,
            "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}},
        }]},
        "status": {"phase": "Running"},
    })
}

fn owned(mut pod: Value, kind: &str, owner: &str, hash: &str) -> Value {
    pod["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner, "controller": true}]);
    if !hash.is_empty() {
        pod["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    }
    pod
}

const VLLM_8B: &[&str] = &[
    "vllm",
    "serve",
    "meta-llama/Llama-3.1-8B",
    "--served-model-name",
    "assistant-8b",
];

/// A scratch folder with the cluster fleet, a deployments file and a pod list.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(deployments: &str, pods: &[Value]) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("deployments.yaml"), deployments).unwrap();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": pods});
        std::fs::write(
            dir.path().join("pods.json"),
            serde_json::to_string_pretty(&list).unwrap(),
        )
        .unwrap();
        Case { dir }
    }

    fn at(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// `current import`, `replan`, `emit --current` for `target`: (import's stdout and stderr,
    /// the change set's folder).
    fn run(&self, target: &str) -> (String, String, PathBuf) {
        let (d, fleet_now, current, plan, changes) = (
            self.at("deployments.yaml"),
            self.at("fleet-now.yaml"),
            self.at("current.json"),
            self.at("plan.json"),
            self.at(target),
        );
        let out = fleetfit(&[
            "current",
            "import",
            "--fleet",
            "data/cluster/fleet.yaml",
            "--deployments",
            &d,
            "--pods",
            &self.at("pods.json"),
            "--out",
            &current,
            "--fleet-out",
            &fleet_now,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let out = fleetfit(&[
            "replan",
            "--fleet",
            &fleet_now,
            "--deployments",
            &d,
            "--current",
            &current,
            "--out",
            &plan,
            "--time-limit",
            "20",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = fleetfit(&[
            "emit",
            "--target",
            target,
            "--fleet",
            &fleet_now,
            "--deployments",
            &d,
            "--plan",
            &plan,
            "--current",
            &current,
            "--out",
            &changes,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (stdout, stderr, PathBuf::from(changes))
    }

    /// `current import` alone, its output.
    fn import_only(&self) -> std::process::Output {
        fleetfit(&[
            "current",
            "import",
            "--fleet",
            "data/cluster/fleet.yaml",
            "--deployments",
            &self.at("deployments.yaml"),
            "--pods",
            &self.at("pods.json"),
            "--out",
            &self.at("c.json"),
        ])
    }

    fn current(&self) -> fleetfit::domain::Plan {
        serde_json::from_str(&std::fs::read_to_string(self.at("current.json")).unwrap()).unwrap()
    }
}

const ASSISTANT: &str = "deployments:\n  - name: assistant-8b\n    model: llama-3.1-8b\n    replicas: 1\n    tensor_parallel: [1]\n    max_model_len: 8192\n";

/// Every script of a change set passes `sh -n` and shellcheck.
/// A bare-metal start step's script, and the shell functions it defines (`free_port`,
/// `until_serving`, ...): the script up to where it first picks a port.
fn start_step(changes: &Path) -> (String, String) {
    let start = std::fs::read_dir(changes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains("-start-"))
        .unwrap();
    let script = std::fs::read_to_string(start).unwrap();
    let helpers = script.split("port=$(free_port").next().unwrap().to_string();
    (script, helpers)
}

fn scripts_are_clean(dir: &Path) {
    let scripts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    for s in &scripts {
        let out = std::process::Command::new("sh").arg("-n").arg(s).output().unwrap();
        assert!(out.status.success(), "{}: {}", s.display(), text(&out.stderr));
    }
    let out = std::process::Command::new("shellcheck")
        .args(&scripts)
        .output()
        .expect("shellcheck is installed");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn a_name_with_a_newline_never_runs_as_a_command() {
    let trap = tempfile::tempdir().unwrap();
    let pwned = trap.path().join("pwned");
    let mut gone = pod("default", "old", "gpu-a", &["vllm", "serve", "Qwen/Qwen3-0.6B"], 1);
    gone["metadata"]["annotations"] = json!({"fleetfit.io/deployment": format!("gone\ntouch {}\n", pwned.display())});
    let case = Case::new(ASSISTANT, &[gone]);
    // A kubectl, ssh target and engine that do nothing, so that every step runs.
    let bin = trap.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["kubectl", "curl", "vllm"] {
        std::fs::write(bin.join(tool), "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for target in ["launch", "k8s"] {
        let (_, _, changes) = case.run(target);
        scripts_are_clean(&changes);
        for entry in std::fs::read_dir(&changes).unwrap() {
            let script = entry.unwrap().path();
            if script.extension().is_some_and(|e| e == "sh") {
                let _ = std::process::Command::new("sh")
                    .arg(&script)
                    .env("PATH", &path)
                    .env("FLEETFIT_SSH", "local")
                    .env("FLEETFIT_STEP_TIMEOUT", "0")
                    .output()
                    .unwrap();
            }
        }
        assert!(!pwned.exists(), "{target}: a name ran as a command");
    }
}

#[test]
fn a_started_server_takes_a_port_nothing_listens_on() {
    let case = Case::new(ASSISTANT, &[]);
    let (_, _, changes) = case.run("vllm");
    let (script, helpers) = start_step(&changes);
    let helpers = helpers.as_str();
    // Something listens on `taken`: free_port from there skips it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().port();
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{helpers}\nfree_port {taken}")])
        .output()
        .unwrap();
    let port: u16 = text(&out.stdout).trim().parse().unwrap();
    assert!(port > taken, "{port} {taken}");
    assert!(
        script.contains("--port \"$port\"") && script.contains("until_serving \"$port\" assistant-8b"),
        "{script}"
    );
}

#[test]
fn a_replica_across_nodes_starts_from_distinct_scripts_with_the_ray_head_first() {
    let deployments = "deployments:\n  - name: big\n    model: llama-3.1-70b\n    replicas: 1\n    tensor_parallel: [8]\n    pipeline_parallel: [3]\n    max_model_len: 8192\n";
    let case = Case::new(deployments, &[]);
    let (_, _, changes) = case.run("vllm");
    let apply = std::fs::read_to_string(changes.join("apply.sh")).unwrap();
    let runs: Vec<&str> = apply.lines().filter(|l| l.trim_start().starts_with("on ")).collect();
    let files: Vec<String> = runs.iter().map(|l| l.rsplit(' ').next().unwrap().to_string()).collect();
    let mut distinct = files.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), files.len(), "{apply}");
    let first = std::fs::read_to_string(changes.join(&files[0])).unwrap();
    assert!(first.contains("ray start --head"), "{first}");
    let last = std::fs::read_to_string(changes.join(files.last().unwrap())).unwrap();
    assert!(last.contains("vllm serve") && last.contains("until_serving"), "{last}");
    scripts_are_clean(&changes);
}

#[test]
fn stopping_one_replica_of_a_leaderworkerset_of_two_is_left_to_a_person() {
    let lead = [
        "sh",
        "-c",
        "ray start --head --port=6379 && exec vllm serve \"$@\"",
        "--",
        "meta-llama/Llama-3.1-70B",
        "--served-model-name",
        "chat",
        "--tensor-parallel-size",
        "4",
        "--pipeline-parallel-size",
        "2",
    ];
    let worker = ["sh", "-c", "ray start --block --address=$(LWS_LEADER_ADDRESS):6379"];
    let labels = |g: u32, w: u32| {
        json!({"leaderworkerset.sigs.k8s.io/name": "big", "leaderworkerset.sigs.k8s.io/group-index": g.to_string(),
        "leaderworkerset.sigs.k8s.io/worker-index": w.to_string()})
    };
    let mut pods = Vec::new();
    for (g, (a, b)) in [("gpu-a", "gpu-b"), ("gpu-b", "gpu-c")].into_iter().enumerate() {
        let mut l = pod("default", &format!("big-{g}"), a, &lead, 4);
        l["metadata"]["labels"] = labels(g as u32, 0);
        let mut w = pod("default", &format!("big-{g}-1"), b, &worker, 4);
        w["metadata"]["labels"] = labels(g as u32, 1);
        pods.extend([l, w]);
    }
    let deployments = "deployments:\n  - name: chat\n    model: llama-3.1-70b\n    replicas: 1\n    tensor_parallel: [4]\n    pipeline_parallel: [2]\n    max_model_len: 8192\n";
    let case = Case::new(deployments, &pods);
    let (_, _, changes) = case.run("k8s");
    assert_eq!(case.current().replicas.len(), 2);
    let apply = std::fs::read_to_string(changes.join("apply.sh")).unwrap();
    assert!(!apply.contains("delete leaderworkerset"), "{apply}");
    assert!(
        apply.contains("LeaderWorkerSet/big runs 2 replicas") && apply.contains("exit 1"),
        "{apply}"
    );
}

#[test]
fn a_deployment_is_scaled_from_all_its_pods_in_its_own_namespace() {
    let mut pods = Vec::new();
    // Four pods of team-a's Deployment, one on a node the fleet lacks; a namesake in team-b.
    for (i, node) in ["gpu-a", "gpu-b", "gpu-c", "gpu-z"].into_iter().enumerate() {
        pods.push(owned(
            pod("team-a", &format!("llama-8b-h-{i}"), node, VLLM_8B, 1),
            "ReplicaSet",
            "llama-8b-h",
            "h",
        ));
    }
    pods.push(owned(
        pod("team-b", "llama-8b-h-9", "gpu-c", VLLM_8B, 1),
        "ReplicaSet",
        "llama-8b-h",
        "h",
    ));
    let case = Case::new(&ASSISTANT.replace("replicas: 1", "replicas: 2"), &pods);
    let (_, err, changes) = case.run("k8s");
    assert!(err.contains("gpu-z"), "{err}");
    let apply = std::fs::read_to_string(changes.join("apply.sh")).unwrap();
    assert!(
        apply.contains("scale deployment/llama-8b -n team-a --current-replicas=4 --replicas=3"),
        "{apply}"
    );
    assert!(
        apply.contains("--current-replicas=1 --replicas=0") && apply.contains("-n team-b"),
        "{apply}"
    );
}

#[test]
fn a_running_replica_whose_memory_does_not_fit_today_is_kept_not_dropped() {
    let argv = [
        "vllm",
        "serve",
        "meta-llama/Llama-3.1-70B",
        "--served-model-name",
        "chat",
        "--tensor-parallel-size",
        "2",
    ];
    let deployments = "deployments:\n  - name: chat\n    model: llama-3.1-70b\n    replicas: 1\n    tensor_parallel: [2, 4]\n    max_model_len: 131072\n";
    let case = Case::new(deployments, &[pod("default", "chat", "gpu-a", &argv, 2)]);
    let (out, err, _) = case.run("k8s");
    assert!(!err.contains("left out"), "{err}");
    assert_eq!(case.current().replicas.len(), 1, "{out}");
}

#[test]
fn an_imported_process_is_stopped_by_the_model_it_was_read_with() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("gpu-a");
    std::fs::create_dir_all(&node).unwrap();
    std::fs::write(node.join("gpus.csv"), "index, uuid\n0, GPU-a0\n1, GPU-a1\n").unwrap();
    std::fs::write(
        node.join("apps.csv"),
        "pid, gpu_uuid, used_gpu_memory [MiB]\n301, GPU-a0, 20000 MiB\n500, GPU-a1, [N/A]\n",
    )
    .unwrap();
    std::fs::write(node.join("ps.txt"), "PID PPID COMMAND\n300 1 vllm serve /models/llama-8b --served-model-name assistant-8b\n301 300 VLLM::Worker_TP0\n500 1 python3 train.py\n").unwrap();
    let at = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(at("d.yaml"), ASSISTANT.replace("replicas: 1", "replicas: 0")).unwrap();
    let (d, current, fleet_now, plan, changes) = (
        at("d.yaml"),
        at("current.json"),
        at("fleet-now.yaml"),
        at("plan.json"),
        at("changes"),
    );
    let out = fleetfit(&[
        "current",
        "import",
        "--fleet",
        "data/cluster/fleet.yaml",
        "--deployments",
        &d,
        "--node-capture",
        node.to_str().unwrap(),
        "--out",
        &current,
        "--fleet-out",
        &fleet_now,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // `[N/A]` memory counts as the whole GPU: nothing may be placed beside the training job.
    let fleet = fleetfit::formats::fleet_file::load(Path::new(&fleet_now)).unwrap();
    let gpu = fleet.node("gpu-a").unwrap().gpu(1).unwrap().clone();
    assert_eq!(gpu.used_mib, gpu.cuda_mib());
    assert!(
        fleetfit(&[
            "replan",
            "--fleet",
            &fleet_now,
            "--deployments",
            &d,
            "--current",
            &current,
            "--out",
            &plan
        ])
        .status
        .success()
    );
    assert!(
        fleetfit(&[
            "emit",
            "--target",
            "vllm",
            "--fleet",
            &fleet_now,
            "--deployments",
            &d,
            "--plan",
            &plan,
            "--current",
            &current,
            "--out",
            &changes
        ])
        .status
        .success()
    );
    let stop = std::fs::read_dir(&changes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains("-stop-"))
        .unwrap();
    let stop = std::fs::read_to_string(stop).unwrap();
    assert!(stop.contains("stop_pid 300 /models/llama-8b"), "{stop}");
}

#[test]
fn pods_read_twice_bad_device_lists_and_init_containers() {
    let mut pinned = pod("default", "pinned", "gpu-a", VLLM_8B, 1);
    pinned["spec"]["containers"][0]["env"] = json!([{"name": "CUDA_VISIBLE_DEVICES", "value": "12"}]);
    let mut init = pod("default", "init-only", "gpu-b", &["sleep", "infinity"], 0);
    init["spec"]["initContainers"] =
        json!([{"name": "warm", "image": "img", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]);
    let twice = pod("default", "twice", "gpu-c", VLLM_8B, 1);
    let case = Case::new(
        &ASSISTANT.replace("replicas: 1", "replicas: 3"),
        &[pinned, init, twice.clone(), twice],
    );
    let (out, err, _) = case.run("k8s");
    assert!(err.contains("read twice"), "{err}");
    assert!(err.contains("not free GPUs of node gpu-a"), "{err}");
    let current = case.current();
    assert_eq!(current.replicas.len(), 2, "{out}");
    assert!(current.replicas.iter().all(|r| r.stages[0].gpus.iter().all(|&g| g < 8)));
    assert!(out.contains("init containers only"), "{out}");
}

#[test]
fn numbers_too_large_are_bad_input_not_a_crash() {
    let mut huge = pod("default", "huge", "gpu-a", VLLM_8B, 1);
    huge["spec"]["containers"] = json!([
        {"name": "a", "image": "i", "resources": {"limits": {"nvidia.com/gpu": u64::MAX.to_string()}}},
        {"name": "b", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1"}}},
    ]);
    let case = Case::new(ASSISTANT, &[huge]);
    let out = case.import_only();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let argv = ["vllm", "serve", "m", "-tp", "4294967296", "-pp", "4294967296"];
    let case = Case::new(ASSISTANT, &[pod("default", "wide", "gpu-a", &argv, 1)]);
    let out = case.import_only();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn apply_sh_refuses_a_step_that_is_not_a_number() {
    let case = Case::new(ASSISTANT, &[]);
    let (_, _, changes) = case.run("k8s");
    let out = std::process::Command::new("sh")
        .arg(changes.join("apply.sh"))
        .args(["--from", "4a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn an_sglang_replica_across_nodes_is_awaited_after_every_rank_started() {
    let deployments = "deployments:\n  - name: big\n    model: llama-3.1-70b\n    engine: sglang\n    replicas: 1\n    tensor_parallel: [8]\n    pipeline_parallel: [3]\n    max_model_len: 8192\n";
    let case = Case::new(deployments, &[]);
    let (_, _, changes) = case.run("sglang");
    let apply = std::fs::read_to_string(changes.join("apply.sh")).unwrap();
    let runs: Vec<&str> = apply.lines().filter(|l| l.trim_start().starts_with("on ")).collect();
    let head = runs[0].split_whitespace().nth(1).unwrap();
    let last = runs.last().unwrap();
    assert!(
        last.contains("-wait-") && last.split_whitespace().nth(1) == Some(head),
        "{apply}"
    );
    let wait = std::fs::read_to_string(changes.join(last.rsplit(' ').next().unwrap())).unwrap();
    assert!(
        wait.contains("until_serving \"$(cat /tmp/fleetfit-big-0.port)\" big"),
        "{wait}"
    );
    let first = std::fs::read_to_string(changes.join(runs[0].rsplit(' ').next().unwrap())).unwrap();
    assert!(first.contains("> /tmp/fleetfit-big-0.port"), "{first}");
    scripts_are_clean(&changes);
}

#[test]
fn the_step_helpers_fail_plainly() {
    let case = Case::new(ASSISTANT, &[]);
    let (_, _, changes) = case.run("vllm");
    let (_, helpers) = start_step(&changes);
    let run = |call: &str| {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("{helpers}\n{call}")])
            .output()
            .unwrap();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    // stop_server must not find its own awk, whose arguments hold the same words.
    let (ok, _, err) = run("stop_server '--served-model-name nobody-serves-this' 8999");
    assert!(
        !ok && err.contains("no server of --served-model-name nobody-serves-this on port 8999"),
        "{err}"
    );
    let (ok, _, err) = run("free_port 65536");
    assert!(!ok && err.contains("no free TCP port"), "{err}");
    let (ok, _, err) = run("timeout=0; until_serving 9 nobody");
    assert!(!ok && err.contains("does not serve nobody"), "{err}");
}

#[test]
fn a_deployment_counts_its_pending_pods_and_not_its_terminating_ones() {
    let mut pods = Vec::new();
    for (i, node) in ["gpu-a", "gpu-b", "gpu-c"].into_iter().enumerate() {
        pods.push(owned(
            pod("team-a", &format!("llama-8b-h-{i}"), node, VLLM_8B, 1),
            "ReplicaSet",
            "llama-8b-h",
            "h",
        ));
    }
    let mut pending = owned(
        pod("team-a", "llama-8b-h-p", "gpu-a", VLLM_8B, 1),
        "ReplicaSet",
        "llama-8b-h",
        "h",
    );
    pending["spec"].as_object_mut().unwrap().remove("nodeName");
    pending["status"]["phase"] = json!("Pending");
    let mut leaving = owned(
        pod("team-a", "llama-8b-h-t", "gpu-c", VLLM_8B, 1),
        "ReplicaSet",
        "llama-8b-h",
        "h",
    );
    leaving["metadata"]["deletionTimestamp"] = json!("2026-12-07T02:30:00Z");
    pods.extend([pending, leaving]);
    let case = Case::new(&ASSISTANT.replace("replicas: 1", "replicas: 2"), &pods);
    let (out, _, changes) = case.run("k8s");
    assert!(out.contains("(terminating)"), "{out}");
    assert_eq!(case.current().replicas.len(), 3);
    let apply = std::fs::read_to_string(changes.join("apply.sh")).unwrap();
    assert!(apply.contains("--current-replicas=4 --replicas=3"), "{apply}");
}
