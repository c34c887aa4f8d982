//! `current import`: a current plan read back from what Kubernetes or the nodes report (round
//! trips through emitted manifests and scripts), and bad input.

use std::path::Path;

use fleetfit::domain::{Fleet, PlacedReplica, Plan, Workload};
use fleetfit::formats::running::pods;
use fleetfit::workflows::current;
use serde_json::{Value, json};

use super::common::{assert_valid, data, fleetfit, load, solve, text};

/// A replica as Kubernetes can tell it: deployment, shape, type, and per stage its node and GPU
/// count (the device plugin, not the plan, picks GPU indices).
type Seen = (String, String, u64, u64, String, Vec<(String, usize)>);

fn seen_by_kubernetes(plan: &Plan) -> Vec<Seen> {
    let mut out: Vec<_> = plan
        .replicas
        .iter()
        .map(|r: &PlacedReplica| {
            (
                r.deployment.clone(),
                r.quantization.clone(),
                r.tensor_parallel,
                r.pipeline_parallel,
                r.gpu_type.clone(),
                r.stages.iter().map(|s| (s.node.clone(), s.gpus.len())).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The pods a cluster would report for `emit --target k8s` manifests: a Deployment's pods carry
/// its template, a ReplicaSet owner and `pod-template-hash`; a LeaderWorkerSet's leader and
/// workers carry LWS's labels and land on the nodes its affinities name.
fn pods_of(manifests: &str) -> Value {
    let mut items = Vec::new();
    for doc in manifests.split("\n---\n") {
        let doc: Value = serde_yaml::from_str(doc.trim_start_matches("---\n")).unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        match doc["kind"].as_str().unwrap() {
            "Deployment" => {
                let template = &doc["spec"]["template"];
                for i in 0..doc["spec"]["replicas"].as_u64().unwrap() {
                    let mut labels = template["metadata"]["labels"].clone();
                    labels["pod-template-hash"] = json!("5d4c3b2a1");
                    items.push(json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {
                            "name": format!("{name}-5d4c3b2a1-{i}"), "namespace": "default", "labels": labels,
                            "annotations": template["metadata"]["annotations"],
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-5d4c3b2a1"), "controller": true}],
                        },
                        "spec": template["spec"], "status": {"phase": "Running"},
                    }));
                }
            }
            "LeaderWorkerSet" => {
                let t = &doc["spec"]["leaderWorkerTemplate"];
                let hosts = |template: &Value| -> Vec<String> {
                    template["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect()
                };
                let mut members = vec![(hosts(&t["leaderTemplate"])[0].clone(), &t["leaderTemplate"])];
                members.extend(
                    hosts(&t["workerTemplate"])
                        .into_iter()
                        .map(|h| (h, &t["workerTemplate"])),
                );
                for (index, (node, template)) in members.into_iter().enumerate() {
                    let mut spec = template["spec"].clone();
                    spec["nodeName"] = json!(node);
                    items.push(json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {
                            "name": if index == 0 { format!("{name}-0") } else { format!("{name}-0-{index}") },
                            "namespace": "default",
                            "labels": {"leaderworkerset.sigs.k8s.io/name": name, "leaderworkerset.sigs.k8s.io/group-index": "0",
                                       "leaderworkerset.sigs.k8s.io/worker-index": index.to_string()},
                            "annotations": template["metadata"]["annotations"],
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "controller": true}],
                        },
                        "spec": spec, "status": {"phase": "Running"},
                    }));
                }
            }
            other => panic!("unexpected {other}"),
        }
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// Plans, emits manifests, turns them into pods, imports them: the same replicas come back, and
/// the imported plan passes the checker with the same objective.
fn round_trip(fleet: &Fleet, workload: &Workload) {
    let plan = solve(fleet, workload).plan;
    let files = fleetfit::emit::emit(fleetfit::emit::Target::K8s, &plan, fleet, workload).unwrap();
    let pods = serde_json::to_string(&pods_of(&files[0].text)).unwrap();
    let mut warnings = Vec::new();
    let workers = pods::read(Path::new("pods.json"), &pods, &mut warnings).unwrap();
    let now = current::import(fleet, workload, workers, &Default::default());
    assert!(
        warnings.is_empty() && now.warnings.is_empty(),
        "{warnings:?} {:?}",
        now.warnings
    );
    assert!(now.foreign.is_empty(), "{:?}", now.foreign);
    assert_eq!(seen_by_kubernetes(&now.plan), seen_by_kubernetes(&plan));
    assert_valid(fleet, workload, &now.plan);
    let (a, b) = (&now.plan.objective, &plan.objective);
    assert_eq!(
        (a.placed_value, a.quantization_penalty, a.gpus_used),
        (b.placed_value, b.quantization_penalty, b.gpus_used)
    );
    assert_eq!(now.plan.running.len(), plan.replicas.len());
}

#[test]
fn kubernetes_pods_of_emitted_manifests_import_back_as_the_plan() {
    // The demo has replicas on several nodes (LeaderWorkerSets), sharing GPUs, fp8 and spread.
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    round_trip(&fleet, &workload);
    let (fleet, workload) = load("cluster/fleet.yaml", "cluster/deployments.yaml");
    round_trip(&fleet, &workload);
}

/// Runs `args` of fleetfit from the repository root and returns (status, stdout, stderr).
pub(super) fn run(args: &[&str]) -> (i32, String, String) {
    let out = fleetfit(args);
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// What each node of a plan would report while `emit --target vllm`'s scripts run: per replica
/// a `vllm serve` process (as ps shows the script: `python3 /usr/local/bin/vllm serve ...`)
/// whose `VLLM::Worker_TPn` children hold its GPUs, plus a foreign training process.
pub(super) fn captures_of(plan: &Plan, fleet: &Fleet, workload: &Workload, dir: &Path) {
    use fleetfit::emit::launch::{Line, scripts};
    let e = fleetfit::emit::Emit::new(plan, fleet, workload);
    let (per_node, _) = scripts(&e, Some(fleetfit::emit::server::Runtime::Vllm));
    let mut pid = 1000;
    for node in &fleet.nodes {
        let uuid = |g: u32| format!("GPU-{:08x}-0000-4000-8000-{:012x}", node.name.len(), g);
        let folder = dir.join(&node.name);
        std::fs::create_dir_all(&folder).unwrap();
        let mut gpus = String::from("index, uuid, name, memory.total [MiB]\n");
        for g in &node.gpus {
            gpus += &format!(
                "{}, {}, NVIDIA H100 80GB HBM3, {} MiB\n",
                g.index,
                uuid(g.index),
                g.memory_mib
            );
        }
        let mut apps = String::from("pid, gpu_uuid, used_gpu_memory [MiB]\n");
        let mut ps = String::from("    PID    PPID COMMAND\n      1       0 /sbin/init\n");
        for line in per_node.get(node.name.as_str()).into_iter().flatten() {
            let Line::Command(command) = line else { continue };
            let devices: Vec<u32> = command
                .env
                .iter()
                .find(|(n, _)| *n == "CUDA_VISIBLE_DEVICES")
                .unwrap()
                .1
                .split(',')
                .map(|d| d.parse().unwrap())
                .collect();
            pid += 1;
            let root = pid;
            let args: Vec<String> = command.argv.iter().map(|w| fleetfit::emit::shell::quote(w)).collect();
            ps += &format!(
                "{root:>7} {:>7} /usr/bin/python3 /usr/local/bin/{}\n",
                1,
                args.join(" ")
            );
            for (rank, g) in devices.iter().enumerate() {
                pid += 1;
                ps += &format!("{pid:>7} {root:>7} VLLM::Worker_TP{rank}\n");
                apps += &format!("{pid}, {}, 20480 MiB\n", uuid(*g));
            }
        }
        // A foreign process on the last GPU of the first node.
        if node.name == fleet.nodes[0].name {
            pid += 1;
            ps += &format!("{pid:>7} 1 python3 train.py --epochs 3\n");
            apps += &format!("{pid}, {}, 4096 MiB\n", uuid(node.gpus.last().unwrap().index));
        }
        std::fs::write(folder.join("gpus.csv"), gpus).unwrap();
        std::fs::write(folder.join("apps.csv"), apps).unwrap();
        std::fs::write(folder.join("ps.txt"), ps).unwrap();
    }
}

#[test]
fn nvidia_smi_and_ps_captures_of_emitted_scripts_import_back_as_the_plan() {
    let (fleet, workload) = load("cluster/fleet.yaml", "cluster/deployments.yaml");
    let plan = solve(&fleet, &workload).plan;
    let dir = tempfile::tempdir().unwrap();
    captures_of(&plan, &fleet, &workload, dir.path());
    let mut warnings = Vec::new();
    let mut workers = Vec::new();
    let mut captured = std::collections::BTreeSet::new();
    for node in &fleet.nodes {
        workers.extend(fleetfit::formats::running::smi::read(&dir.path().join(&node.name), &mut warnings).unwrap());
        captured.insert(node.name.clone());
    }
    let now = current::import(&fleet, &workload, workers, &captured);
    assert!(
        warnings.is_empty() && now.warnings.is_empty(),
        "{warnings:?} {:?}",
        now.warnings
    );
    // Exactly the plan, GPU indices included (the capture names them).
    let strip = |p: &Plan| -> Vec<PlacedReplica> { p.replicas.clone() };
    assert_eq!(strip(&now.plan), strip(&plan));
    assert!(now.plan.running.iter().all(|r| r.pid.is_some() && r.port.is_some()));
    // The training process is foreign load on its GPU, and only its memory counts there.
    assert_eq!(now.foreign.len(), 1);
    assert!(now.foreign[0].reason.contains("not an engine"), "{:?}", now.foreign);
    let last = fleet.nodes[0].gpus.last().unwrap().index;
    let used: Vec<(u32, u64)> = now.fleet.nodes[0]
        .gpus
        .iter()
        .map(|g| (g.index, g.used_mib))
        .filter(|g| g.1 > 0)
        .collect();
    assert_eq!(used, vec![(last, 4096)]);
}

/// A real capture (`data/captures/smi-ps/`): one H100 where stand-ins of a vLLM engine (API
/// process and its `VLLM::Worker_TP0`), an SGLang server and a training process held GPU memory.
/// The user's four steps: fleet from nvidia-smi, current plan from the capture, replan, change set.
#[test]
fn a_real_nvidia_smi_and_ps_capture_imports_engines_and_foreign_load() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let capture = data("captures/smi-ps/gpu-node-1");
    let deployments = data("captures/smi-ps/deployments.yaml");
    let (capture, deployments) = (capture.to_str().unwrap(), deployments.to_str().unwrap());
    let out = fleetfit(&[
        "fleet",
        "import",
        "--node",
        "gpu-node-1",
        &format!("{capture}/gpus.csv"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(at("fleet.yaml"), &out.stdout).unwrap();
    let out = fleetfit(&[
        "current",
        "import",
        "--fleet",
        &at("fleet.yaml"),
        "--deployments",
        deployments,
        "--node-capture",
        capture,
        "--out",
        &at("current.json"),
        "--fleet-out",
        &at("fleet-now.yaml"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("2 replicas of 2 deployments running; 1 foreign workers"),
        "{table}"
    );
    let now: Plan = serde_json::from_str(&std::fs::read_to_string(at("current.json")).unwrap()).unwrap();
    // Both engines on GPU 0, the vLLM one under its API process (the worker, PID 504, holds the
    // memory), with the port and checkpoint read from their command lines.
    let running: Vec<_> = now
        .running
        .iter()
        .map(|r| (r.deployment.as_str(), r.pid, r.port, r.model.as_deref()))
        .collect();
    assert_eq!(
        running,
        vec![
            ("assistant-8b", Some(488), Some(8000), Some("meta-llama/Llama-3.1-8B")),
            ("embed-small", Some(489), Some(30000), Some("Qwen/Qwen3-0.6B")),
        ]
    );
    for r in &now.replicas {
        assert_eq!(
            (r.tensor_parallel, r.pipeline_parallel, r.quantization.as_str()),
            (1, 1, "bf16")
        );
        assert_eq!(r.stages.len(), 1);
        assert_eq!(
            (r.stages[0].node.as_str(), r.stages[0].gpus.as_slice()),
            ("gpu-node-1", &[0u32][..])
        );
    }
    // train.py is foreign load: nvidia-smi's 4614 MiB for it, nothing of the engines' memory.
    let now_fleet = fleetfit::formats::fleet_file::load(Path::new(&at("fleet-now.yaml"))).unwrap();
    assert_eq!(now_fleet.nodes[0].gpus[0].used_mib, 4614);
    assert!(table.contains("python3 train.py --epochs 3"), "{table}");
    // The nightly loop goes on from it: replan keeps what runs, the change set is empty of moves.
    let out = fleetfit(&[
        "replan",
        "--fleet",
        &at("fleet-now.yaml"),
        "--deployments",
        deployments,
        "--current",
        &at("current.json"),
        "--out",
        &at("next.json"),
        "--time-limit",
        "20",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let next: Plan = serde_json::from_str(&std::fs::read_to_string(at("next.json")).unwrap()).unwrap();
    let (fleet, workload) = (
        now_fleet,
        fleetfit::formats::deployments_file::load(Path::new(deployments)).unwrap(),
    );
    assert_valid(&fleet, &workload, &next);
    assert_eq!(next.objective.moves, Some(0), "{}", text(&out.stdout));
    let out = fleetfit(&[
        "emit",
        "--fleet",
        &at("fleet-now.yaml"),
        "--deployments",
        deployments,
        "--plan",
        &at("next.json"),
        "--target",
        "launch",
        "--current",
        &at("current.json"),
        "--out",
        &at("changes"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("changes/apply.sh").exists());
}

#[test]
fn bad_running_input_names_the_file_and_field_or_warns_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let import = |extra: &[&str]| {
        let out = at("out.json");
        let mut args = vec![
            "current",
            "import",
            "--fleet",
            "data/cluster/fleet.yaml",
            "--deployments",
            "data/cluster/deployments.yaml",
            "--out",
        ];
        args.push(&out);
        args.extend_from_slice(extra);
        run(&args)
    };
    // Another tool's JSON (a node list) where pods belong.
    let (code, _, err) = import(&["--pods", "data/cluster/nodes.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nodes.json") && err.contains("items[0].kind") && err.contains("found a Node"),
        "{err}"
    );
    // A truncated pod list.
    let pods = std::fs::read_to_string(data("cluster/pods.json")).unwrap();
    std::fs::write(at("cut.json"), &pods[..pods.len() / 2]).unwrap();
    let (code, _, err) = import(&["--pods", &at("cut.json")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cut.json") && err.contains("not JSON"), "{err}");
    assert!(!dir.path().join("out.json").exists(), "no output from bad input");
    // A pod on a node the fleet does not have: a warning, and the rest goes on.
    std::fs::write(
        at("moved.json"),
        pods.replacen("\"nodeName\": \"gpu-c\"", "\"nodeName\": \"gpu-z\"", 1),
    )
    .unwrap();
    let (code, _, err) = import(&["--pods", &at("moved.json")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning:") && err.contains("'gpu-z'") && err.contains("left out"),
        "{err}"
    );
    // A GPU count that is not a number.
    std::fs::write(
        at("bad-count.json"),
        pods.replacen("\"nvidia.com/gpu\": \"4\"", "\"nvidia.com/gpu\": \"four\"", 1),
    )
    .unwrap();
    let (code, _, err) = import(&["--pods", &at("bad-count.json")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("items[0].spec.containers[0].resources"), "{err}");
    // Nothing to read.
    let (code, _, err) = import(&[]);
    assert_eq!(code, 2, "{err}");
    // A truncated nvidia-smi capture: the cut row is named by file and line.
    let node = dir.path().join("gpu-a");
    std::fs::create_dir_all(&node).unwrap();
    std::fs::write(node.join("gpus.csv"), "index, uuid\n0, GPU-aaaa\n").unwrap();
    std::fs::write(
        node.join("apps.csv"),
        "pid, gpu_uuid, used_gpu_memory [MiB]\n4242, GPU-aaaa, 20480 MiB\n4243, GPU-a",
    )
    .unwrap();
    std::fs::write(node.join("ps.txt"), "PID PPID COMMAND\n4242 1 vllm serve m\n").unwrap();
    let (code, _, err) = import(&["--node-capture", node.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("apps.csv") && err.contains("line 3") && err.contains("gpu_uuid"),
        "{err}"
    );
    // A capture missing its ps output.
    std::fs::remove_file(node.join("ps.txt")).unwrap();
    let (code, _, err) = import(&["--node-capture", node.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ps.txt"), "{err}");
    // A capture of a node the fleet does not have.
    let stray = dir.path().join("gpu-z");
    std::fs::create_dir_all(&stray).unwrap();
    for f in ["gpus.csv", "apps.csv"] {
        std::fs::copy(node.join(f), stray.join(f)).unwrap();
    }
    std::fs::write(stray.join("ps.txt"), "PID PPID COMMAND\n").unwrap();
    let (code, _, err) = import(&["--node-capture", stray.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("gpu-z") && err.contains("fleet file does not have"),
        "{err}"
    );
}
