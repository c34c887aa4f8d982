//! `emit --current` change sets, replayed step by step, and the nightly loop around them (the
//! README's four commands, `deploy/nightly.sh`, the CronJob's RBAC).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetfit::domain::Plan;
use serde_json::Value;

use super::common::{assert_valid, data, fleetfit, load, solve, text};
use super::current::{captures_of, run};

/// The mixed cluster: fleetfit's pods, a team's own vLLM Deployment and bare pod, a fine-tuning
/// Job and an SGLang server of a model nobody asks for; then `replan` and `emit --current`.
/// `fleetfit current import` of the mixed cluster fixture's pods into `out`, with `extra`
/// arguments: exit code, stdout, stderr.
fn import_cluster(out: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "current",
        "import",
        "--fleet",
        "data/cluster/fleet.yaml",
        "--deployments",
        "data/cluster/deployments.yaml",
        "--pods",
        "data/cluster/pods.json",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

struct Mixed {
    dir: tempfile::TempDir,
}

impl Mixed {
    fn new() -> Mixed {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let (code, _, err) = import_cluster(&path("current.json"), &["--fleet-out", &path("fleet-now.yaml")]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = run(&[
            "replan",
            "--fleet",
            &path("fleet-now.yaml"),
            "--deployments",
            "data/cluster/deployments.yaml",
            "--current",
            &path("current.json"),
            "--out",
            &path("plan.json"),
        ]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = run(&[
            "emit",
            "--target",
            "k8s",
            "--fleet",
            &path("fleet-now.yaml"),
            "--deployments",
            "data/cluster/deployments.yaml",
            "--plan",
            &path("plan.json"),
            "--current",
            &path("current.json"),
            "--out",
            &path("changes"),
        ]);
        assert_eq!(code, 0, "{err}");
        Mixed { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn plan(&self, name: &str) -> Plan {
        serde_json::from_str(&std::fs::read_to_string(self.path(name)).unwrap()).unwrap()
    }

    /// Runs `changes/apply.sh` with a `kubectl` that logs each call (one line, words joined by
    /// tabs) and fails on call `fail_at`; returns the script's exit code and the calls.
    fn apply(&self, fail_at: Option<usize>) -> (i32, Vec<Vec<String>>) {
        let bin = self.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = self.path("kubectl.log");
        let _ = std::fs::remove_file(&log);
        let fake = format!(
            "#!/bin/sh\n(IFS=\"$(printf '\\t')\"; echo \"$*\") >> '{}'\nn=$(wc -l < '{}')\n[ \"$n\" != '{}' ]\n",
            log.display(),
            log.display(),
            fail_at.map_or(0, |n| n)
        );
        let kubectl = bin.join("kubectl");
        std::fs::write(&kubectl, fake).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new("sh")
            .arg(self.path("changes/apply.sh"))
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
            .env("FLEETFIT_STEP_TIMEOUT", "5")
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        (status.status.code().unwrap_or(-1), calls)
    }
}

/// A pod in the replay: its node, GPUs, controller and the deployment it serves (`None`:
/// foreign).
#[derive(Debug, Clone)]
struct Pod {
    namespace: String,
    name: String,
    node: String,
    gpus: u64,
    owner: Option<String>,
    deployment: Option<String>,
    first_to_go: bool,
}

/// The value of `-n NS` among a call's words, else `default`.
fn namespace_of(words: &[String]) -> String {
    words
        .iter()
        .position(|w| w == "-n")
        .map_or("default".to_string(), |i| words[i + 1].clone())
}

fn gpus_of(spec: &Value) -> u64 {
    spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["resources"]["limits"]["nvidia.com/gpu"].as_str().map_or_else(
                || c["resources"]["limits"]["nvidia.com/gpu"].as_u64().unwrap_or(0),
                |s| s.parse().unwrap(),
            )
        })
        .sum()
}

#[test]
fn a_mixed_cluster_imports_with_foreign_load_and_its_change_set_never_overfills_a_node() {
    let mixed = Mixed::new();
    let current = mixed.plan("current.json");
    let plan = mixed.plan("plan.json");
    // What was recognised: fleetfit's pods by annotation, the team's pods by model and flags.
    let owners: BTreeMap<String, String> = current
        .running
        .iter()
        .map(|r| {
            (
                format!("{}#{}", r.deployment, r.replica),
                r.owner.clone().unwrap_or_else(|| format!("Pod/{}", r.pods[0])),
            )
        })
        .collect();
    assert_eq!(owners["chat-70b#0"], "Deployment/chat-70b-gpu-a-bf16-tp4pp1");
    assert_eq!(owners["chat-70b#1"], "Pod/chat-70b-manual");
    assert_eq!(owners["embed-old#0"], "Deployment/embed-old-gpu-c-bf16-tp1pp1");
    assert_eq!(
        current
            .replicas
            .iter()
            .filter(|r| r.deployment == "assistant-8b")
            .count(),
        3
    );
    // The pinned bare pod keeps its GPUs.
    let manual = current
        .replicas
        .iter()
        .find(|r| r.deployment == "chat-70b" && r.stages[0].node == "gpu-b")
        .unwrap();
    assert_eq!(manual.stages[0].gpus, vec![6, 7]);
    // The Job and the SGLang server are foreign load: whole GPUs used in the fleet written.
    let fleet_now = fleetfit::formats::fleet_file::load(&mixed.path("fleet-now.yaml")).unwrap();
    let busy: Vec<u32> = fleet_now
        .node("gpu-c")
        .unwrap()
        .gpus
        .iter()
        .filter(|g| g.used_mib > 0)
        .map(|g| g.index)
        .collect();
    assert_eq!(busy, vec![0, 1, 2]);
    let (_, table, _) = import_cluster(mixed.path("again.json").to_str().unwrap(), &[]);
    assert!(
        table.contains("`python train.py --epochs 3` is not an engine fleetfit recognises"),
        "{table}"
    );
    assert!(
        table.contains("no deployment serves Qwen/Qwen2.5-7B-Instruct on sglang"),
        "{table}"
    );
    // The new plan passes the checker on the fleet with foreign load.
    let (fleet, workload) = (
        fleet_now.clone(),
        fleetfit::formats::deployments_file::load(&data("cluster/deployments.yaml")).unwrap(),
    );
    assert_valid(&fleet, &workload, &plan);

    // Replay apply.sh against the pods the cluster reported.
    let (code, calls) = mixed.apply(None);
    assert_eq!(code, 0, "{calls:?}");
    let reported: Value = serde_json::from_str(&std::fs::read_to_string(data("cluster/pods.json")).unwrap()).unwrap();
    let serves: BTreeMap<String, String> = current
        .running
        .iter()
        .flat_map(|r| r.pods.iter().map(move |p| (p.clone(), r.deployment.clone())))
        .collect();
    let mut pods: Vec<Pod> = reported["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"]["phase"] == "Running" && p["spec"]["nodeName"].is_string())
        .filter(|p| gpus_of(&p["spec"]) > 0)
        .map(|p| {
            let name = p["metadata"]["name"].as_str().unwrap().to_string();
            let owner = p["metadata"]["ownerReferences"][0]["name"].as_str().map(|rs| {
                let hash = p["metadata"]["labels"]["pod-template-hash"].as_str().unwrap_or("");
                rs.strip_suffix(&format!("-{hash}")).unwrap_or(rs).to_string()
            });
            Pod {
                namespace: p["metadata"]["namespace"].as_str().unwrap().to_string(),
                node: p["spec"]["nodeName"].as_str().unwrap().to_string(),
                gpus: gpus_of(&p["spec"]),
                owner,
                deployment: serves.get(&name).cloned(),
                name,
                first_to_go: false,
            }
        })
        .collect();
    let capacity = |node: &str| fleet.node(node).unwrap().gpus.len() as u64;
    let mut created = 0;
    for call in &calls {
        let verb = call[0].as_str();
        match verb {
            "apply" => {
                let file = mixed.path("changes").join(&call[2]);
                let text = std::fs::read_to_string(file).unwrap();
                let doc: Value = serde_yaml::from_str(&text).unwrap();
                assert_eq!(doc["kind"], "Deployment");
                let template = &doc["spec"]["template"];
                for _ in 0..doc["spec"]["replicas"].as_u64().unwrap() {
                    created += 1;
                    pods.push(Pod {
                        namespace: "default".into(),
                        name: format!("new-{created}"),
                        node: template["spec"]["nodeName"].as_str().unwrap().into(),
                        gpus: gpus_of(&template["spec"]),
                        owner: Some(doc["metadata"]["name"].as_str().unwrap().into()),
                        deployment: template["metadata"]["annotations"]["fleetfit.io/deployment"]
                            .as_str()
                            .map(String::from),
                        first_to_go: false,
                    });
                }
            }
            "scale" => {
                let name = call[1].strip_prefix("deployment/").unwrap().to_string();
                let ns = namespace_of(call);
                let want: usize = call
                    .iter()
                    .find_map(|w| w.strip_prefix("--replicas="))
                    .unwrap()
                    .parse()
                    .unwrap();
                let mine = |p: &Pod| p.owner.as_deref() == Some(name.as_str()) && p.namespace == ns;
                let have = pods.iter().filter(|p| mine(p)).count();
                if want > have {
                    let model = pods.iter().find(|p| mine(p)).unwrap().clone();
                    for _ in have..want {
                        created += 1;
                        pods.push(Pod {
                            name: format!("new-{created}"),
                            first_to_go: false,
                            ..model.clone()
                        });
                    }
                } else {
                    // The ReplicaSet removes the lowest deletion cost first.
                    for _ in want..have {
                        let at = pods
                            .iter()
                            .position(|p| mine(p) && p.first_to_go)
                            .or_else(|| pods.iter().position(mine))
                            .unwrap();
                        pods.remove(at);
                    }
                }
            }
            "annotate" => {
                let name = call[1].strip_prefix("pod/").unwrap();
                let ns = namespace_of(call);
                pods.iter_mut()
                    .find(|p| p.name == name && p.namespace == ns)
                    .unwrap()
                    .first_to_go = true;
            }
            "delete" => {
                let ns = namespace_of(call);
                let names: Vec<&String> = call[2..].iter().take_while(|w| !w.starts_with('-')).collect();
                pods.retain(|p| !(p.namespace == ns && names.contains(&&p.name)));
            }
            "rollout" | "wait" => {}
            other => panic!("unexpected kubectl {other}: {call:?}"),
        }
        // No node ever holds more GPUs than it has: no two workers on one GPU.
        let mut per_node: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &pods {
            *per_node.entry(p.node.as_str()).or_default() += p.gpus;
        }
        for (node, used) in per_node {
            assert!(used <= capacity(node), "after {call:?}: {node} holds {used} GPUs");
        }
    }
    // At the end the cluster runs the new plan, beside the foreign pods.
    let mut running: Vec<(String, String, u64)> = pods
        .iter()
        .filter_map(|p| Some((p.deployment.clone()?, p.node.clone(), p.gpus)))
        .collect();
    running.sort();
    let mut planned: Vec<(String, String, u64)> = plan
        .replicas
        .iter()
        .map(|r| {
            (
                r.deployment.clone(),
                r.stages[0].node.clone(),
                r.tensor_parallel * r.pipeline_parallel,
            )
        })
        .collect();
    planned.sort();
    assert_eq!(running, planned);
    assert_eq!(pods.iter().filter(|p| p.deployment.is_none()).count(), 2);
}

#[test]
fn apply_sh_stops_at_the_first_failure_and_resumes_from_a_step() {
    let mixed = Mixed::new();
    let (all_code, all) = mixed.apply(None);
    assert_eq!(all_code, 0);
    let (code, calls) = mixed.apply(Some(3));
    assert_ne!(code, 0);
    assert_eq!(calls.len(), 3, "nothing runs after the failed call: {calls:?}");
    assert_eq!(calls[..], all[..3]);
    // `--from K` skips the steps before K.
    let status = std::process::Command::new("sh")
        .arg(mixed.path("changes/apply.sh"))
        .args(["--from", "99"])
        .output()
        .unwrap();
    assert!(status.status.success());
}

#[test]
fn change_sets_pass_shellcheck() {
    let mixed = Mixed::new();
    let apply = mixed.path("changes/apply.sh");
    let out = std::process::Command::new("sh")
        .args(["-n"])
        .arg(&apply)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = std::process::Command::new("shellcheck")
        .arg(&apply)
        .output()
        .expect("shellcheck is installed (scripts/setup.sh --test)");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

/// The folder holding the `fleetfit` binary under test, for `PATH`.
fn bin_path() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_fleetfit")).parent().unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

#[test]
fn the_readme_nightly_loop_runs_on_the_fixtures() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Nightly on a live cluster")
        .nth(1)
        .expect("the README has the section");
    let block = section.split("```").nth(1).unwrap();
    let commands: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    assert_eq!(commands.len(), 4, "the nightly loop is four commands");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(data(""), dir.path().join("data")).unwrap();
    for command in &commands {
        let out = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(dir.path())
            .env("PATH", bin_path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}\n{}", text(&out.stderr));
    }
    let apply = std::fs::read_to_string(dir.path().join("changes/apply.sh")).unwrap();
    assert!(apply.contains("if step 1 "), "{apply}");
    let out = fleetfit(&[
        "check",
        "--fleet",
        dir.path().join("fleet-now.yaml").to_str().unwrap(),
        "--deployments",
        "data/cluster/deployments.yaml",
        "--plan",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn the_nightly_script_runs_and_the_cronjob_asks_for_the_least() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["nodes.json", "pods.json"] {
        std::fs::copy(data(&format!("cluster/{f}")), dir.path().join(f)).unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nightly.sh");
    let out = std::process::Command::new("sh")
        .arg(script)
        .env("PATH", bin_path())
        .env("FLEETFIT_SKIP_KUBECTL", "1")
        .env("FLEETFIT_WORK", dir.path())
        .env("FLEETFIT_DEPLOYMENTS", data("cluster/deployments.yaml"))
        .env("FLEETFIT_TIME_LIMIT", "20")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("changes/apply.sh").is_file());
    let out = std::process::Command::new("shellcheck")
        .arg(script)
        .output()
        .expect("shellcheck is installed");
    assert!(out.status.success(), "{}", text(&out.stdout));

    // RBAC: read nodes and pods, write one ConfigMap; nothing else, no wildcard.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/k8s/nightly.yaml")).unwrap();
    assert!(!text.contains('*') || text.contains("\"30 2 * * *\""));
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "CronJob"
        ]
    );
    for rule in docs
        .iter()
        .filter(|d| d["kind"].as_str().unwrap().ends_with("Role"))
        .flat_map(|d| d["rules"].as_array().unwrap())
    {
        let list = |key: &str| -> Vec<String> {
            rule[key].as_array().map_or(Vec::new(), |a| {
                a.iter().map(|v| v.as_str().unwrap().to_string()).collect()
            })
        };
        let (resources, verbs, names) = (list("resources"), list("verbs"), list("resourceNames"));
        assert!(
            verbs.iter().all(|v| v != "*") && resources.iter().all(|r| r != "*"),
            "{rule}"
        );
        match resources.as_slice() {
            [a, b] if a == "nodes" && b == "pods" => assert_eq!(verbs, ["get", "list"]),
            [c] if c == "configmaps" && verbs == ["create"] => {}
            [c] if c == "configmaps" => {
                assert_eq!(names, ["fleetfit-nightly"]);
                assert!(verbs.iter().all(|v| ["get", "update", "patch"].contains(&v.as_str())));
            }
            other => panic!("unexpected rule on {other:?}"),
        }
    }
    let cron = docs.last().unwrap();
    assert_eq!(
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"],
        "fleetfit-nightly"
    );
}

#[test]
fn bare_metal_change_sets_stop_imported_processes_and_pass_shellcheck() {
    let (fleet, workload) = load("cluster/fleet.yaml", "cluster/deployments.yaml");
    let dir = tempfile::tempdir().unwrap();
    let before = solve(&fleet, &workload).plan;
    captures_of(&before, &fleet, &workload, &dir.path().join("captures"));
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // Tomorrow: fewer assistants, more Mistral.
    let deployments = std::fs::read_to_string(data("cluster/deployments.yaml"))
        .unwrap()
        .replace(
            "model: llama-3.1-8b\n    replicas: 2",
            "model: llama-3.1-8b\n    replicas: 1",
        )
        .replace(
            "model: mistral-7b-v0.3\n    replicas: 2",
            "model: mistral-7b-v0.3\n    replicas: 4",
        );
    std::fs::write(at("deployments.yaml"), deployments).unwrap();
    let mut args = vec![
        "current",
        "import",
        "--fleet",
        "data/cluster/fleet.yaml",
        "--deployments",
    ];
    let (d, out, fleet_now) = (at("deployments.yaml"), at("current.json"), at("fleet-now.yaml"));
    args.extend([d.as_str(), "--out", &out, "--fleet-out", &fleet_now]);
    let captures: Vec<String> = fleet
        .nodes
        .iter()
        .map(|n| at(&format!("captures/{}", n.name)))
        .collect();
    for c in &captures {
        args.extend(["--node-capture", c.as_str()]);
    }
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let plan = at("plan.json");
    let (code, _, err) = run(&[
        "replan",
        "--fleet",
        &fleet_now,
        "--deployments",
        &d,
        "--current",
        &out,
        "--out",
        &plan,
    ]);
    assert_eq!(code, 0, "{err}");
    let changes = at("changes");
    let (code, _, err) = run(&[
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
        &out,
        "--out",
        &changes,
    ]);
    assert_eq!(code, 0, "{err}");
    let apply = std::fs::read_to_string(dir.path().join("changes/apply.sh")).unwrap();
    assert!(apply.contains("-stop-assistant-8b-"), "{apply}");
    assert!(apply.contains("-start-mistral-7b-"), "{apply}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("changes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let stop = files.iter().find(|f| f.to_str().unwrap().contains("-stop-")).unwrap();
    let stop = std::fs::read_to_string(stop).unwrap();
    assert!(
        stop.contains("stop_pid ") && stop.contains("meta-llama/Llama-3.1-8B"),
        "{stop}"
    );
    let start = files.iter().find(|f| f.to_str().unwrap().contains("-start-")).unwrap();
    let start = std::fs::read_to_string(start).unwrap();
    assert!(
        start.contains("port=$(free_port 8000)") && start.contains("--port \"$port\""),
        "{start}"
    );
    assert!(
        start.contains("nohup vllm serve") && start.contains("until_serving \"$port\" mistral-7b"),
        "{start}"
    );
    let out = std::process::Command::new("shellcheck")
        .args(&files)
        .output()
        .expect("shellcheck is installed");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn change_sets_from_a_plan_fleetfit_wrote_skip_a_node_that_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (today, tomorrow) = (at("today.json"), at("tomorrow.json"));
    let demo = ["--deployments", "data/demo/deployments.yaml"];
    let (code, _, err) = run(&[&["plan", "--fleet", "data/demo/fleet.yaml", "--out", &today][..], &demo].concat());
    assert_eq!(code, 0, "{err}");
    let tomorrow_fleet = ["--fleet", "data/demo/fleet-tomorrow.yaml"];
    let (code, _, err) = run(&[
        &["replan", "--current", &today, "--out", &tomorrow][..],
        &tomorrow_fleet,
        &demo,
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    for target in ["k8s", "vllm"] {
        let out = at(target);
        let args = [
            &[
                "emit",
                "--target",
                target,
                "--plan",
                &tomorrow,
                "--current",
                &today,
                "--out",
                &out,
            ][..],
            &tomorrow_fleet,
            &demo,
        ]
        .concat();
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{target}: {err}");
        let apply = std::fs::read_to_string(dir.path().join(target).join("apply.sh")).unwrap();
        // l40s-05 failed overnight: its replicas' stops do nothing, the rest proceeds.
        assert!(apply.contains("node l40s-05 is not in the fleet any more"), "{apply}");
        let scripts: Vec<PathBuf> = std::fs::read_dir(dir.path().join(target))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sh"))
            .collect();
        let out = std::process::Command::new("shellcheck")
            .args(&scripts)
            .output()
            .expect("shellcheck is installed");
        assert!(out.status.success(), "{target}: {}", text(&out.stdout));
    }
}
