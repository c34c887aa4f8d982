//! `emit`: what is written parses back onto the plan: same GPUs, same shapes, no GPU twice, and
//! memory shares that hold each reservation and fit each GPU.

use std::collections::BTreeMap;

use serde::Deserialize;

use fleetfit::domain::{Fleet, Plan, Workload};
use fleetfit::emit::{Target, emit};

use super::common::*;

/// Plans a case and returns it with its inputs.
fn planned(fleet: &str, deployments: &str) -> (Fleet, Workload, Plan) {
    let (f, w) = load(fleet, deployments);
    let plan = solve(&f, &w).plan;
    assert_valid(&f, &w, &plan);
    (f, w, plan)
}

/// A tiny fleet where a replica must span two nodes, and two sharing workers stack on GPUs.
pub(super) fn spanning() -> (Fleet, Workload, Plan) {
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("n1", "L40S", 6, 46068),
        idle_node("n2", "L40S", 6, 46068)
    );
    let deployments = "models:\n  - {id: big, params: 100000000000, layers: 80, hidden_size: 8192, heads: 64, kv_heads: 8, head_dim: 128, dtype: bf16}\n  - {id: small, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\ndeployments:\n  - {name: big, model: big, replicas: 1, quantizations: [fp8], tensor_parallel: [4], pipeline_parallel: [2], max_model_len: 4096}\n  - {name: side, model: small, replicas: 2, share_gpu: true, max_model_len: 4096}\n";
    let (f, w) = parse(&fleet, deployments);
    let plan = solve(&f, &w).plan;
    assert_valid(&f, &w, &plan);
    (f, w, plan)
}

/// One H100 node (480 MiB driver-reserved per GPU) with a deployment on each engine: vLLM with
/// an fp8 KV cache, SGLang quantizing a bf16 checkpoint to fp8 as it loads, llama.cpp on a GGUF
/// file, and a 2-GPU vLLM replica at a fixed utilization.
pub(super) fn engines() -> (Fleet, Workload, Plan) {
    let fleet =
        "nodes:\n  - {name: h1, gpu_type: H100-SXM5-80GB, gpu_count: 8, memory_mib: 81559, reserved_mib: 480}\n";
    let deployments = "deployments:\n  - {name: chat, model: llama-3.1-8b, replicas: 1, tensor_parallel: [1], max_model_len: 16384, kv_cache_tokens: 131072, kv_cache_dtype: fp8, engine: vllm}\n  - {name: sg, model: qwen3-8b, replicas: 1, tensor_parallel: [1], quantizations: [fp8], max_model_len: 8192, kv_cache_tokens: 65536, engine: sglang}\n  - {name: gg, model: llama-3.1-8b, replicas: 1, tensor_parallel: [1], quantizations: [q4_k_m], max_model_len: 4096, kv_cache_tokens: 20000, engine: llama.cpp}\n  - {name: wide, model: qwen3-32b, replicas: 1, tensor_parallel: [2], max_model_len: 32768, kv_cache_tokens: 65536, gpu_memory_utilization: 0.9}\n";
    let (f, w) = parse(fleet, deployments);
    let plan = solve(&f, &w).plan;
    assert_eq!(plan.replicas.len(), 4, "every deployment placed");
    assert_valid(&f, &w, &plan);
    (f, w, plan)
}

/// Per (node, deployment), the GPU blocks the plan gives it there, sorted.
fn plan_blocks(plan: &Plan) -> Vec<(String, String, Vec<u32>)> {
    let mut out = Vec::new();
    for r in &plan.replicas {
        let mut per_node: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for s in &r.stages {
            per_node.entry(&s.node).or_default().extend(&s.gpus);
        }
        for (node, gpus) in per_node {
            out.push((node.to_string(), r.deployment.clone(), gpus));
        }
    }
    out.sort();
    out
}

/// The flags of one command line, `--name value` pairs, and its leading `KEY=value` words.
fn words(line: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut env = BTreeMap::new();
    let mut flags = BTreeMap::new();
    let parts: Vec<&str> = line.trim_end_matches('&').split_whitespace().collect();
    let mut i = 0;
    while i < parts.len() {
        let p = parts[i];
        if let Some((k, v)) = p
            .split_once('=')
            .filter(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        {
            env.insert(k.to_string(), v.to_string());
        } else if let Some(name) = p.strip_prefix("--") {
            let value = parts
                .get(i + 1)
                .filter(|v| !v.starts_with("--"))
                .map_or(String::new(), |v| v.to_string());
            if !value.is_empty() {
                i += 1;
            }
            flags.insert(name.to_string(), value);
        }
        i += 1;
    }
    (env, flags)
}

fn gpu_list(text: &str) -> Vec<u32> {
    text.split(',').map(|g| g.parse().unwrap()).collect()
}

/// The flags of the engine a command line runs: tensor size, pipeline size, memory share
/// (`None` for llama.cpp, which takes none).
fn engine_flags(line: &str) -> Option<(&'static str, &'static str, &'static str)> {
    if line.contains("vllm serve") {
        Some((
            "tensor-parallel-size",
            "pipeline-parallel-size",
            "gpu-memory-utilization",
        ))
    } else if line.contains("sglang.launch_server") {
        Some(("tp-size", "pp-size", "mem-fraction-static"))
    } else {
        None
    }
}

/// Maps a launch target's scripts back onto the plan.
fn assert_launch_matches(f: &Fleet, w: &Workload, plan: &Plan, target: Target) {
    let files = emit(target, plan, f, w).unwrap();
    let mut seen: Vec<(String, String, Vec<u32>)> = Vec::new();
    let mut taken: BTreeMap<(String, u32), f64> = BTreeMap::new();
    for file in &files {
        let node = file.name.strip_suffix(".sh").unwrap().to_string();
        let mut lines = file
            .text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty() && *l != "wait");
        for line in lines.by_ref() {
            let (env, flags) = words(line);
            let Some(devices) = env.get("CUDA_VISIBLE_DEVICES") else {
                continue;
            };
            let gpus = gpu_list(devices);
            if let Some(served) = flags.get("served-model-name").or(flags.get("alias")) {
                let replica = plan.replicas.iter().find(|r| {
                    &r.deployment == served && r.stages.iter().any(|s| s.node == node && gpus.contains(&s.gpus[0]))
                });
                let r = replica.expect("a command of a planned replica");
                let Some((tp_flag, pp_flag, share_flag)) = engine_flags(line) else {
                    assert!(line.contains("llama-server"), "{line}");
                    for &g in &gpus {
                        *taken.entry((node.clone(), g)).or_default() += r.memory_per_gpu_mib as f64;
                    }
                    seen.push((node.clone(), served.clone(), gpus));
                    continue;
                };
                assert_eq!(flags[tp_flag], r.tensor_parallel.to_string(), "{line}");
                assert_eq!(flags[pp_flag], r.pipeline_parallel.to_string(), "{line}");
                let share: f64 = flags[share_flag].parse().unwrap();
                for &g in &gpus {
                    let gpu = f.node(&node).unwrap().gpus.iter().find(|x| x.index == g).unwrap();
                    *taken.entry((node.clone(), g)).or_default() += share * gpu.memory_mib as f64;
                    if share_flag == "gpu-memory-utilization"
                        && w.deployments
                            .iter()
                            .any(|d| &d.name == served && d.gpu_memory_utilization.is_none())
                    {
                        assert!(
                            share * gpu.cuda_mib() as f64 >= r.memory_per_gpu_mib as f64 - 1.0,
                            "{line}: share holds the reservation"
                        );
                    }
                }
                seen.push((node.clone(), served.clone(), gpus));
            } else {
                // A Ray worker or head, or an rpc-server: the replica's GPUs on this node.
                let served = plan
                    .replicas
                    .iter()
                    .find(|r| r.stages.iter().any(|s| s.node == node && gpus.contains(&s.gpus[0])))
                    .unwrap();
                seen.push((node.clone(), served.deployment.clone(), gpus));
            }
        }
    }
    seen.sort();
    assert_eq!(seen, plan_blocks(plan), "{target:?}: every replica's GPUs, once");
    for ((node, g), mib) in taken {
        let gpu = f.node(&node).unwrap().gpus.iter().find(|x| x.index == g).unwrap();
        assert!(
            mib <= (gpu.memory_mib - gpu.used_mib) as f64 + 1.0,
            "{target:?}: GPU {node}:{g} over-committed"
        );
    }
}

#[test]
fn vllm_and_sglang_commands_map_back_onto_the_plan() {
    for (fleet, deployments) in [
        ("demo/fleet.yaml", "demo/deployments.yaml"),
        ("dynamo/fleet.yaml", "dynamo/deployments.yaml"),
        ("seed-405b/fleet.yaml", "seed-405b/deployments-with-pp.yaml"),
    ] {
        let (f, w, plan) = planned(fleet, deployments);
        for target in [Target::Vllm, Target::Sglang, Target::Launch] {
            assert_launch_matches(&f, &w, &plan, target);
        }
    }
    let (f, w, plan) = spanning();
    assert!(
        plan.replicas[0].stages.iter().any(|s| s.node == "n1")
            && plan.replicas[0].stages.iter().any(|s| s.node == "n2")
    );
    for target in [Target::Vllm, Target::Sglang, Target::Launch] {
        assert_launch_matches(&f, &w, &plan, target);
    }
    let (f, w, plan) = engines();
    for target in [Target::Vllm, Target::Sglang, Target::Launch] {
        assert_launch_matches(&f, &w, &plan, target);
    }
    let (f, w, plan) = spanning();
    let vllm = emit(Target::Vllm, &plan, &f, &w).unwrap();
    let head = vllm.iter().find(|file| file.text.contains("ray start --head")).unwrap();
    assert!(head.text.contains("--distributed-executor-backend ray"));
    let sglang = emit(Target::Sglang, &plan, &f, &w).unwrap();
    assert_eq!(sglang.iter().filter(|file| file.text.contains("--nnodes 2")).count(), 2);
}

#[test]
fn dynamo_configs_give_every_worker_the_plans_gpus_and_never_one_twice() {
    for (fleet, deployments) in [
        ("dynamo/fleet.yaml", "dynamo/deployments.yaml"),
        ("demo/fleet.yaml", "demo/deployments.yaml"),
        ("", ""),
    ] {
        let (f, w, plan) = if fleet.is_empty() {
            engines()
        } else {
            planned(fleet, deployments)
        };
        let files = emit(Target::Dynamo, &plan, &f, &w).unwrap();
        let mut seen = Vec::new();
        for file in &files {
            let node = file.name.strip_suffix(".yaml").unwrap();
            let config: BTreeMap<String, serde_yaml::Value> = serde_yaml::from_str(&file.text).unwrap();
            for (section, body) in config {
                let served = body["served_model_name"].as_str().unwrap().to_string();
                let d = w.deployment(&served).unwrap();
                let context = body.get("max-model-len").or(body.get("context-length"));
                assert_eq!(context.and_then(|v| v.as_u64()), Some(d.max_model_len), "{section}");
                let workers = body["ServiceArgs"]["workers"].as_u64().unwrap();
                let gpu = body["ServiceArgs"]["resources"]["gpu"].as_u64().unwrap() as u32;
                match body.get("cuda-visible-device-offset") {
                    Some(offset) => {
                        let offset = offset.as_u64().unwrap() as u32;
                        for i in 0..workers as u32 {
                            seen.push((
                                node.to_string(),
                                served.clone(),
                                (offset + i * gpu..offset + (i + 1) * gpu).collect::<Vec<u32>>(),
                            ));
                        }
                    }
                    None => {
                        assert_eq!(workers, 1, "{section}");
                        let devices = body["ServiceArgs"]["envs"]["CUDA_VISIBLE_DEVICES"].as_str().unwrap();
                        seen.push((node.to_string(), served.clone(), gpu_list(devices)));
                    }
                }
            }
        }
        seen.sort();
        let mut want = plan_blocks(&plan);
        for block in &mut want {
            block.2.sort();
        }
        for block in &mut seen {
            block.2.sort();
        }
        want.sort();
        assert_eq!(seen, want, "{fleet}");
        let mut gpus: Vec<(String, u32)> = seen
            .iter()
            .filter(|(_, d, _)| !w.deployments.iter().any(|x| &x.name == d && x.share_gpu))
            .flat_map(|(n, _, g)| g.iter().map(move |g| (n.clone(), *g)))
            .collect();
        let before = gpus.len();
        gpus.sort();
        gpus.dedup();
        assert_eq!(gpus.len(), before, "no GPU given twice");
    }
}

/// Every file of a target, one after another.
fn joined(target: Target, f: &Fleet, w: &Workload, plan: &Plan) -> String {
    let files = emit(target, plan, f, w).unwrap();
    files
        .iter()
        .map(|file| format!("==> {} <==\n{}", file.name, file.text))
        .collect()
}

#[test]
fn dynamo_config_of_the_seed_case_is_golden() {
    let (f, w, plan) = planned("dynamo/fleet.yaml", "dynamo/deployments.yaml");
    insta::assert_snapshot!(joined(Target::Dynamo, &f, &w, &plan));
}

#[test]
fn launch_scripts_and_manifests_are_golden() {
    let (f, w, plan) = spanning();
    insta::assert_snapshot!("vllm_spanning", joined(Target::Vllm, &f, &w, &plan));
    insta::assert_snapshot!("sglang_spanning", joined(Target::Sglang, &f, &w, &plan));
    insta::assert_snapshot!("k8s_spanning", joined(Target::K8s, &f, &w, &plan));
    let (f, w, plan) = planned("seed-405b/fleet.yaml", "seed-405b/deployments-with-pp.yaml");
    insta::assert_snapshot!("vllm_seed_405b", joined(Target::Vllm, &f, &w, &plan));
    let (f, w, plan) = engines();
    insta::assert_snapshot!("launch_engines", joined(Target::Launch, &f, &w, &plan));
    insta::assert_snapshot!("dynamo_engines", joined(Target::Dynamo, &f, &w, &plan));
    insta::assert_snapshot!("k8s_engines", joined(Target::K8s, &f, &w, &plan));
}

/// The command line of a deployment's replica in a launch script, and the comment lines above it.
fn command_of<'a>(script: &'a str, deployment: &str) -> (&'a str, Vec<&'a str>) {
    let lines: Vec<&str> = script.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            !l.starts_with('#')
                && (l.contains(&format!("--served-model-name {deployment} "))
                    || l.contains(&format!("--alias {deployment} ")))
        })
        .unwrap_or_else(|| panic!("no command of {deployment} in\n{script}"));
    let comments = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.starts_with("# "))
        .copied()
        .collect();
    (lines[at], comments)
}

#[test]
fn workers_get_the_plans_context_kv_dtype_precision_and_memory() {
    use fleetfit::emit::share_text;
    use fleetfit::memory::replica_kv;
    let (f, w, plan) = engines();
    let replica = |name: &str| plan.replicas.iter().find(|r| r.deployment == name).unwrap();
    let gpu = |name: &str| {
        let s = &replica(name).stages[0];
        f.node(&s.node).unwrap().gpu(s.gpus[0]).unwrap()
    };
    let kv = |name: &str| replica_kv(&f, w.deployment(name).unwrap(), replica(name)).unwrap();
    let launch = emit(Target::Launch, &plan, &f, &w).unwrap();
    assert_eq!(launch.len(), 1);
    let script = &launch[0].text;
    assert!(
        script.contains("# fleetfit: vLLM and SGLang and llama.cpp servers on node h1"),
        "{script}"
    );
    // Each comment gives the plan's memory per GPU: reservation, runtime, KV tokens.
    for name in ["chat", "sg", "gg", "wide"] {
        let r = replica(name);
        let (_, comments) = command_of(script, name);
        let memory = comments.iter().find(|c| c.starts_with("# memory per GPU:")).unwrap();
        let engine = w.deployment(name).unwrap().engine;
        for part in [
            format!("{} MiB reserved", r.memory_per_gpu_mib),
            format!("{} MiB of it {engine} runtime", r.runtime_mib.unwrap()),
            format!("KV cache {} tokens", kv(name).tokens),
        ] {
            assert!(memory.contains(&part), "{name}: {memory} lacks {part}");
        }
    }
    // vLLM: the plan's context and KV dtype; the share holds the reservation.
    let (chat, _) = command_of(script, "chat");
    let (_, flags) = words(chat);
    assert!(
        chat.starts_with("CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES="),
        "{chat}"
    );
    assert_eq!(flags["max-model-len"], "16384");
    assert_eq!(flags["kv-cache-dtype"], "fp8");
    assert!(
        !flags.contains_key("dtype") && !flags.contains_key("quantization"),
        "bf16 as stored: {chat}"
    );
    let share: f64 = flags["gpu-memory-utilization"].parse().unwrap();
    assert!(share * gpu("chat").cuda_mib() as f64 >= replica("chat").memory_per_gpu_mib as f64);
    let (wide, _) = command_of(script, "wide");
    let (_, flags) = words(wide);
    assert_eq!(
        (
            flags["tensor-parallel-size"].as_str(),
            flags["gpu-memory-utilization"].as_str()
        ),
        ("2", "0.9")
    );
    assert_eq!(flags["max-model-len"], "32768");
    assert_eq!(flags["kv-cache-dtype"], "auto");
    // SGLang: its static fraction is the reservation less the runtime, over what is free when
    // it loads weights (CUDA's total less its context, the profile's non-torch figure).
    let (sg, _) = command_of(script, "sg");
    let (_, flags) = words(sg);
    assert_eq!(flags["context-length"], "8192");
    assert_eq!(flags["kv-cache-dtype"], "auto");
    assert_eq!(
        flags["quantization"], "fp8",
        "fp8 of a bf16 checkpoint, quantized as it loads"
    );
    let r = replica("sg");
    let runtime = r.runtime_mib.unwrap();
    assert!(
        runtime > 10_000,
        "SGLang's activations and graphs sit outside its fraction: {runtime}"
    );
    let model = fleetfit::catalog::Catalog::builtin()
        .find("qwen3-8b")
        .unwrap()
        .model
        .clone();
    let context = fleetfit::engines::Profiles::default()
        .select(fleetfit::domain::Engine::Sglang, None)
        .unwrap()
        .runtime(&model, fleetfit::domain::Quantization::Fp8, 1, 1)
        .non_torch_mib;
    assert!(context > 0, "SGLang's context is in its profile");
    let cuda = u128::from(gpu("sg").cuda_mib() - context);
    let static_units = (u128::from(r.memory_per_gpu_mib - runtime) * 10_000).div_ceil(cuda);
    assert_eq!(flags["mem-fraction-static"], share_text(static_units as u64));
    let whole_units = (u128::from(r.memory_per_gpu_mib) * 10_000).div_ceil(cuda);
    assert!(static_units < whole_units, "the fraction leaves the runtime out");
    // llama.cpp: no fraction; the context is the KV capacity in whole 256-cell steps.
    let (gg, comments) = command_of(script, "gg");
    let (_, flags) = words(gg);
    assert!(gg.contains("llama-server --model llama-3.1-8b-Q4_K_M.gguf"), "{gg}");
    let ctx: u64 = flags["ctx-size"].parse().unwrap();
    let capacity = kv("gg").tokens;
    assert!(ctx >= 20_000, "holds the tokens asked for: {ctx}");
    assert!(
        ctx == 20_000 || (ctx.is_multiple_of(256) && ctx <= capacity && ctx + 256 > capacity),
        "the capacity in whole 256-cell steps: {ctx} of {capacity}"
    );
    assert!(comments.iter().any(|c| c.contains("GGUF file")), "{comments:?}");
    // A forced runtime says where its memory differs from the plan's.
    let forced = &emit(Target::Vllm, &plan, &f, &w).unwrap()[0].text;
    let (sg, comments) = command_of(forced, "sg");
    assert!(sg.contains("vllm serve Qwen/Qwen3-8B"), "{sg}");
    assert!(
        comments
            .iter()
            .any(|c| c.contains("warning: planned with sglang's runtime memory")),
        "{comments:?}"
    );
    let forced = &emit(Target::Sglang, &plan, &f, &w).unwrap()[0].text;
    let (chat, _) = command_of(forced, "chat");
    assert_eq!(words(chat).1["kv-cache-dtype"], "fp8_e5m2");
    // Dynamo: each engine's arguments with the same numbers.
    let dynamo = &emit(Target::Dynamo, &plan, &f, &w).unwrap()[0].text;
    let config: BTreeMap<String, serde_yaml::Value> = serde_yaml::from_str(dynamo).unwrap();
    assert_eq!(config["chat"]["max-model-len"].as_u64(), Some(16384));
    assert_eq!(config["chat"]["kv-cache-dtype"].as_str(), Some("fp8"));
    assert_eq!(config["sg"]["context-length"].as_u64(), Some(8192));
    assert_eq!(
        config["sg"]["mem-fraction-static"].as_str(),
        Some(share_text(static_units as u64).as_str())
    );
    assert!(
        dynamo.contains(&format!("KV cache {} tokens", kv("chat").tokens)),
        "{dynamo}"
    );
    // Kubernetes: each engine's image, the memory in annotations.
    let k8s = &emit(Target::K8s, &plan, &f, &w).unwrap()[0].text;
    for doc in serde_yaml::Deserializer::from_str(k8s) {
        let doc = serde_yaml::Value::deserialize(doc).unwrap();
        let name = doc["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap();
        let r = replica(name);
        let notes = &doc["metadata"]["annotations"];
        assert_eq!(
            notes["fleetfit.io/runtime-mib"].as_str(),
            Some(r.runtime_mib.unwrap().to_string().as_str())
        );
        assert_eq!(
            notes["fleetfit.io/kv-cache-tokens"].as_str(),
            Some(kv(name).tokens.to_string().as_str())
        );
        let image = doc["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        let want = match name {
            "sg" => "lmsysorg/sglang",
            "gg" => "ghcr.io/ggml-org/llama.cpp",
            _ => "vllm/vllm-openai",
        };
        assert!(image.starts_with(want), "{name}: {image}");
    }
}

#[test]
fn kubernetes_manifests_hold_each_node_to_the_plans_gpu_count() {
    for (fleet, deployments) in [("demo/fleet.yaml", "demo/deployments.yaml")] {
        let (f, w, plan) = planned(fleet, deployments);
        let files = emit(Target::K8s, &plan, &f, &w).unwrap();
        let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
        let mut replicas: BTreeMap<String, u64> = BTreeMap::new();
        for doc in serde_yaml::Deserializer::from_str(&files[0].text) {
            let doc = serde_yaml::Value::deserialize(doc).unwrap();
            if doc["kind"].as_str() == Some("LeaderWorkerSet") {
                let lws = &doc["spec"]["leaderWorkerTemplate"];
                for (template, container) in [("leaderTemplate", "vllm"), ("workerTemplate", "ray-worker")] {
                    let spec = &lws[template]["spec"];
                    assert_eq!(spec["containers"][0]["name"].as_str(), Some(container));
                    let gpus = spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
                        .as_u64()
                        .unwrap();
                    let terms = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
                    for node in terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
                        .as_sequence()
                        .unwrap()
                    {
                        *per_node.entry(node.as_str().unwrap().to_string()).or_default() += gpus;
                    }
                }
                let name = doc["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap();
                *replicas.entry(name.to_string()).or_default() += 1;
                continue;
            }
            assert_eq!(doc["kind"].as_str(), Some("Deployment"));
            let spec = &doc["spec"]["template"]["spec"];
            let node = spec["nodeName"].as_str().unwrap().to_string();
            let container = &spec["containers"][0];
            let gpus = container["resources"]["limits"]["nvidia.com/gpu"].as_u64().unwrap();
            let n = doc["spec"]["replicas"].as_u64().unwrap();
            *per_node.entry(node).or_default() += gpus * n;
            let args: Vec<&str> = container["args"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let served = args[args.iter().position(|a| *a == "--served-model-name").unwrap() + 1];
            *replicas.entry(served.to_string()).or_default() += n;
        }
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        let mut want_replicas: BTreeMap<String, u64> = BTreeMap::new();
        for r in &plan.replicas {
            for s in &r.stages {
                *want.entry(s.node.clone()).or_default() += s.gpus.len() as u64;
            }
            *want_replicas.entry(r.deployment.clone()).or_default() += 1;
        }
        assert_eq!(per_node, want);
        assert_eq!(replicas, want_replicas);
    }
    let (f, w, plan) = spanning();
    let text = &emit(Target::K8s, &plan, &f, &w).unwrap()[0].text;
    assert!(
        text.contains("kind: LeaderWorkerSet") && text.contains("size: 2"),
        "{text}"
    );
}

#[test]
fn a_plan_that_breaks_a_rule_is_not_emitted() {
    let (f, w, mut plan) = planned("dynamo/fleet.yaml", "dynamo/deployments.yaml");
    let first = plan.replicas[0].stages[0].clone();
    plan.replicas[1].stages[0] = first; // two workers on one GPU, the seed's Dynamo failure
    let err = emit(Target::Dynamo, &plan, &f, &w).unwrap_err();
    assert!(err.to_string().contains("GPU"), "{err}");
}

#[test]
fn emit_writes_files_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let out = fleetfit(&[
        "plan",
        "--fleet",
        "data/dynamo/fleet.yaml",
        "--deployments",
        "data/dynamo/deployments.yaml",
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let folder = dir.path().join("out");
    let out = fleetfit(&[
        "emit",
        "--fleet",
        "data/dynamo/fleet.yaml",
        "--deployments",
        "data/dynamo/deployments.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--target",
        "vllm",
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_dir(&folder).unwrap().count() >= 1);
}
