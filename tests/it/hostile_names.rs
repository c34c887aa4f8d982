//! Hostile names (quotes, `$()`, backticks, newlines, `../`, Unicode look-alikes, 4 KB) for
//! nodes, deployments, models and labels: for every emit target, either the inputs are refused
//! at load (at the name's field) or the target refuses the node name (at its field), or the
//! files stay in the folder asked for, read back onto the plan, pass shellcheck, and the scripts
//! run exactly the commands fleetfit meant, with no other effect.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};

use fleetfit::Error;
use fleetfit::domain::{Fleet, Plan, Workload};
use fleetfit::emit::{Emit, Target, emit, launch};

use super::common::*;

/// Names from pieces a shell, a YAML file or a file system treats specially; some with a
/// control character (refused at load), some 4 KB long, some plain.
fn hostile() -> impl Strategy<Value = String> {
    let printable = prop::sample::select(vec![
        "'",
        "\"",
        "$(touch PWNED)",
        "`touch PWNED`",
        "../",
        "/",
        "..",
        "nоde",
        "∕",
        "＄（touch PWNED）",
        " ",
        ";",
        "&",
        "|",
        "*",
        "~",
        "#",
        "$$",
        "${IFS}",
        "-rf",
        "\\",
        "ä",
        "=x",
        "-",
        ".",
        "A",
        "z",
        "7",
        "$(LWS_LEADER_ADDRESS)",
        "%s",
        "!",
        "{a,b}",
    ]);
    let control = prop::sample::select(vec![
        "\n",
        "\t",
        "\u{202E}",
        "\u{0}",
        "\u{1b}[31m",
        "\u{2028}",
        "\u{200B}",
    ]);
    prop_oneof![
        12 => prop::collection::vec(printable.clone(), 1..5).prop_map(|v| v.concat()),
        1 => (printable, control).prop_map(|(a, b)| format!("{a}{b}")),
        1 => Just("a".repeat(4096)),
        10 => "[a-z][a-z0-9-]{0,8}",
    ]
}

/// Whether fleetfit's loaders must take a label key or value: printable (no control character,
/// line separator or invisible format character), at most 253 bytes, not starting with `-`.
/// This is the test's own statement of the rule, not the crate's.
fn printable(text: &str) -> bool {
    let hidden = |c: char| {
        matches!(c, '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}')
            || matches!(c, '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
    };
    text.len() <= 253 && !text.starts_with('-') && !text.chars().any(|c| c.is_control() || hidden(c))
}

/// Whether they must take a node, deployment or model name: printable and not blank.
fn loadable(name: &str) -> bool {
    printable(name) && !name.trim().is_empty()
}

/// Whether a node name can name the file `{node}.{suffix}`: one component of at most 255 bytes
/// (a `\` is refused too, for the file systems that read it as a separator).
fn file_name_ok(node: &str, suffix: &str) -> bool {
    !node.contains(['/', '\\', '\0']) && node.len() + 1 + suffix.len() <= 255
}

/// Whether a node name is a Kubernetes node name and hostname label value.
fn kubernetes_node_ok(node: &str) -> bool {
    node.len() <= 63
        && node.split('.').all(|p| {
            !p.is_empty()
                && !p.starts_with('-')
                && !p.ends_with('-')
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The inputs as files: two nodes of two GPUs, one deployment per engine, a hostile model id.
fn inputs(nodes: &[String; 2], deployments: &[String; 3], model: &str, label: &(String, String)) -> (String, String) {
    let node = |name: &str| json!({"name": name, "gpu_type": "L40S", "gpu_count": 2, "memory_mib": 46068, "labels": {label.0.clone(): label.1.clone()}});
    let fleet = json!({"nodes": [node(&nodes[0]), node(&nodes[1])]});
    let small = |id: &str| json!({"id": id, "params": 1073741824u64, "layers": 8, "hidden_size": 1024, "heads": 8, "kv_heads": 8, "head_dim": 128, "dtype": "bf16"});
    let deployment = |name: &str, engine: &str, quantization: &str, model: &str| {
        json!({"name": name, "model": model, "replicas": 1, "tensor_parallel": [1], "quantizations": [quantization],
               "max_model_len": 4096, "engine": engine})
    };
    let workload = json!({
        "models": [small(model), small("plain-model")],
        "deployments": [
            deployment(&deployments[0], "vllm", "bf16", model),
            deployment(&deployments[1], "sglang", "bf16", "plain-model"),
            deployment(&deployments[2], "llama.cpp", "q4_k_m", model),
        ],
    });
    (
        serde_yaml::to_string(&fleet).unwrap(),
        serde_yaml::to_string(&workload).unwrap(),
    )
}

/// Loads the inputs, or checks the refusal names a field holding a name the rule refuses.
fn load_or_refused(fleet: &str, deployments: &str, names: &[&str]) -> Option<(Fleet, Workload)> {
    let dir = tempfile::tempdir().unwrap();
    let (f, d) = (dir.path().join("fleet.yaml"), dir.path().join("deployments.yaml"));
    std::fs::write(&f, fleet).unwrap();
    std::fs::write(&d, deployments).unwrap();
    let loaded = fleetfit::formats::fleet_file::load(&f)
        .and_then(|fleet| Ok((fleet, fleetfit::formats::deployments_file::load(&d)?)));
    let refusable = names[..6].iter().any(|n| !loadable(n))
        || names[6..].iter().any(|n| !printable(n))
        || names[..2].iter().collect::<std::collections::BTreeSet<_>>().len() < 2
        || names[2..5].iter().collect::<std::collections::BTreeSet<_>>().len() < 3;
    match loaded {
        Ok(inputs) => {
            assert!(!refusable, "a name the rule refuses was taken: {names:?}");
            Some(inputs)
        }
        Err(e) => {
            assert!(refusable, "refused names the rule takes: {e}");
            // A line separator is refused for the whole file before any field is read (YAML
            // readers disagree on it); anything else at the name's field.
            let separator = names.iter().any(|n| n.contains(['\u{2028}', '\u{2029}', '\u{85}']));
            assert!(
                e.field.ends_with("name")
                    || e.field.ends_with(".id")
                    || e.field.contains("labels")
                    || (separator && e.message.contains("line separator")),
                "the refusal names the field: {e}"
            );
            None
        }
    }
}

/// What became of the generated cases.
#[derive(Debug, Default)]
struct Outcomes {
    refused_at_load: usize,
    refused_by_a_target: usize,
    emitted: usize,
}

#[test]
fn hostile_names_are_refused_or_emitted_safely() {
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let config = Config {
        cases: 96,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let outcomes = std::cell::RefCell::new(Outcomes::default());
    let names = (
        [hostile(), hostile()],
        [hostile(), hostile(), hostile()],
        hostile(),
        (hostile(), hostile()),
    );
    let result = runner.run(&names, |(nodes, deployments, model, label)| {
        one_case(&nodes, &deployments, &model, &label, &mut outcomes.borrow_mut());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let outcomes = outcomes.into_inner();
    // The property must not pass by refusing everything: each way out is taken.
    assert!(
        outcomes.refused_at_load >= 8 && outcomes.refused_by_a_target >= 8 && outcomes.emitted >= 64,
        "{outcomes:?}"
    );
}

/// One case: refused at load, or for each target refused (rightly) or emitted safely.
fn one_case(
    nodes: &[String; 2],
    deployments: &[String; 3],
    model: &str,
    label: &(String, String),
    outcomes: &mut Outcomes,
) {
    let (fleet_yaml, deployments_yaml) = inputs(nodes, deployments, model, label);
    let names: [&str; 8] = [
        &nodes[0],
        &nodes[1],
        &deployments[0],
        &deployments[1],
        &deployments[2],
        model,
        &label.0,
        &label.1,
    ];
    let Some((fleet, workload)) = load_or_refused(&fleet_yaml, &deployments_yaml, &names) else {
        outcomes.refused_at_load += 1;
        return;
    };
    let plan = solve(&fleet, &workload).plan;
    assert_eq!(plan.replicas.len(), 3, "every deployment placed");
    for target in [
        Target::Launch,
        Target::Vllm,
        Target::Sglang,
        Target::Dynamo,
        Target::K8s,
    ] {
        let used_ok = |ok: &dyn Fn(&str) -> bool| plan.replicas.iter().flat_map(|r| &r.stages).all(|s| ok(&s.node));
        let expected_ok = match target {
            Target::K8s => used_ok(&kubernetes_node_ok),
            Target::Dynamo => used_ok(&|n| file_name_ok(n, "yaml")),
            _ => used_ok(&|n| file_name_ok(n, "sh")),
        };
        match emit(target, &plan, &fleet, &workload) {
            Err(Error::Name(refused)) => {
                assert!(!expected_ok, "{target:?} refused a node name it can carry: {refused}");
                assert_eq!(fleet.nodes[refused.index].name, refused.name);
                outcomes.refused_by_a_target += 1;
            }
            Err(other) => panic!("{target:?}: {other}"),
            Ok(files) => {
                assert!(
                    expected_ok,
                    "{target:?} emitted for a node name it cannot carry: {nodes:?}"
                );
                outcomes.emitted += 1;
                match target {
                    Target::K8s => super::hostile_reads::manifests_read_back(&files[0].text, &plan, &workload),
                    Target::Dynamo => super::hostile_reads::configs_read_back(&files, &plan),
                    _ => {
                        let runtime = match target {
                            Target::Vllm => Some(fleetfit::emit::server::Runtime::Vllm),
                            Target::Sglang => Some(fleetfit::emit::server::Runtime::Sglang),
                            _ => None,
                        };
                        scripts_run_as_meant(&files, &plan, &fleet, &workload, runtime);
                    }
                }
            }
        }
    }
    if plan
        .replicas
        .iter()
        .flat_map(|r| &r.stages)
        .all(|s| file_name_ok(&s.node, "yaml"))
    {
        super::hostile_reads::cli_writes_only_inside(&fleet_yaml, &deployments_yaml, &plan);
    }
}

/// Each script passes `sh -n` and shellcheck, and run with stub programs that record their argv
/// and GPUs, runs exactly fleetfit's commands (as data) and nothing else: the argv each stub
/// sees is the one meant, every deployment's name arrives whole, and the run leaves no file.
fn scripts_run_as_meant(
    files: &[fleetfit::emit::File],
    plan: &Plan,
    fleet: &Fleet,
    workload: &Workload,
    runtime: Option<fleetfit::emit::server::Runtime>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (stubs, log, sandbox) = (dir.path().join("bin"), dir.path().join("log"), dir.path().join("run"));
    for d in [&stubs, &log, &sandbox] {
        std::fs::create_dir(d).unwrap();
    }
    for program in ["vllm", "python3", "ray", "llama-server", "rpc-server"] {
        let stub = stubs.join(program);
        let body =
            "#!/bin/sh\nprintf '%s\\0' \"${0##*/}\" \"GPUS=${CUDA_VISIBLE_DEVICES-}\" \"$@\" > \"$ARGV_LOG/$$\"\n";
        std::fs::write(&stub, body).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&stub)
            .status()
            .unwrap();
    }
    let e = Emit::new(plan, fleet, workload);
    let (meant, _) = launch::scripts(&e, runtime);
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for file in files {
        let script = dir.path().join(&file.name);
        std::fs::write(&script, &file.text).unwrap();
        let syntax = std::process::Command::new("sh")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(syntax.status.success(), "sh -n {}: {}", file.name, text(&syntax.stderr));
        shellcheck(&script);
        let run = std::process::Command::new("bash")
            .arg(&script)
            .current_dir(&sandbox)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
            .env("ARGV_LOG", &log)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}: {}", file.name, text(&run.stderr));
        let node = file.name.strip_suffix(".sh").unwrap();
        let mut expected: Vec<Vec<String>> = meant[node]
            .iter()
            .filter_map(|line| match line {
                launch::Line::Command(c) => {
                    let gpus = c
                        .env
                        .iter()
                        .find(|(k, _)| *k == "CUDA_VISIBLE_DEVICES")
                        .map_or("", |(_, v)| v);
                    Some([vec![c.argv[0].clone(), format!("GPUS={gpus}")], c.argv[1..].to_vec()].concat())
                }
                launch::Line::Comment(_) => None,
            })
            .collect();
        let mut got: Vec<Vec<String>> = std::fs::read_dir(&log)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                std::fs::remove_file(&path).unwrap();
                let text = String::from_utf8(bytes).unwrap();
                text.strip_suffix('\0')
                    .unwrap()
                    .split('\0')
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{}:\n{}", file.name, file.text);
        seen.extend(got.into_iter().map(|argv| (node.to_string(), argv)));
    }
    let left: Vec<_> = std::fs::read_dir(&sandbox).unwrap().collect();
    assert!(left.is_empty(), "the scripts left files behind: {left:?}");
    // Read back onto the plan: each server, by the name it serves, its node and its GPUs.
    let mut served: Vec<(String, String, String)> = seen
        .iter()
        .filter_map(|(node, argv)| {
            let name = argv
                .windows(2)
                .find(|w| matches!(w[0].as_str(), "--served-model-name" | "--alias"))?;
            Some((name[1].clone(), node.clone(), argv[1].clone()))
        })
        .collect();
    let mut placed: Vec<(String, String, String)> = plan
        .replicas
        .iter()
        .map(|r| {
            let gpus: Vec<String> = r.stages[0].gpus.iter().map(u32::to_string).collect();
            (
                r.deployment.clone(),
                r.stages[0].node.clone(),
                format!("GPUS={}", gpus.join(",")),
            )
        })
        .collect();
    served.sort();
    placed.sort();
    assert_eq!(served, placed, "the servers the scripts start are the plan's replicas");
}

/// shellcheck finds nothing in a script (the suite needs Debian's `shellcheck`; `scripts/setup.sh --test`
/// installs it).
pub fn shellcheck(script: &Path) {
    let out = std::process::Command::new("shellcheck")
        .arg(script)
        .output()
        .expect("shellcheck is installed (scripts/setup.sh --test installs it)");
    assert!(
        out.status.success(),
        "shellcheck {}:\n{}{}",
        script.display(),
        text(&out.stdout),
        std::fs::read_to_string(script).unwrap()
    );
}

/// Per deployment, how many replicas the plan places (what manifests and configs must give).
pub fn replicas_per_deployment(plan: &Plan) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in &plan.replicas {
        *out.entry(r.deployment.clone()).or_default() += 1;
    }
    out
}

/// A string field of a YAML/JSON value.
pub fn str_at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {value}"))
}

#[test]
fn scripts_of_every_runtime_and_of_spanning_replicas_pass_shellcheck() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [super::emit::engines(), super::emit::spanning()];
    for (case, (fleet, workload, plan)) in cases.iter().enumerate() {
        for target in [Target::Launch, Target::Vllm, Target::Sglang] {
            for file in emit(target, plan, fleet, workload).unwrap() {
                let script = dir.path().join(format!("{case}-{target:?}-{}", file.name));
                std::fs::write(&script, &file.text).unwrap();
                shellcheck(&script);
            }
        }
    }
}
