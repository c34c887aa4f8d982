//! `fleet import`: nvidia-smi CSV (both forms, any column order) and XML, kubectl's node list;
//! product names normalised; bad input exits 2 naming the file and the field.

use super::common::*;

/// Runs `fleet import` and returns the fleet printed, parsed, after checking it plans.
fn import(args: &[&str]) -> fleetfit::domain::Fleet {
    let mut all = vec!["fleet", "import"];
    all.extend_from_slice(args);
    let out = fleetfit(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_dir, path) = temp_file("fleet.yaml", &text(&out.stdout));
    fleetfit::formats::fleet_file::load(&path).unwrap()
}

fn gpus(fleet: &fleetfit::domain::Fleet) -> Vec<(String, u32, String, u64, u64, u32, bool)> {
    fleet
        .nodes
        .iter()
        .flat_map(|n| {
            n.gpus.iter().map(move |g| {
                (
                    n.name.clone(),
                    g.index,
                    g.gpu_type.clone(),
                    g.memory_mib,
                    g.used_mib,
                    g.utilization,
                    g.healthy,
                )
            })
        })
        .collect()
}

#[test]
fn csv_with_and_without_header_and_in_any_order_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("node-a.csv");
    std::fs::write(
        &with,
        "index, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%]\n0, NVIDIA H100 80GB HBM3, 81559 MiB, 75000 MiB, 92 %\n1, NVIDIA H100 80GB HBM3, 81559 MiB, 0 MiB, 0 %\n",
    )
    .unwrap();
    let bare = dir.path().join("bare.csv");
    std::fs::write(
        &bare,
        "0, NVIDIA H100 80GB HBM3, 81559, 75000, 92\n1, NVIDIA H100 80GB HBM3, 81559, 0, 0\n",
    )
    .unwrap();
    let reordered = dir.path().join("reordered.csv");
    std::fs::write(
        &reordered,
        "name, memory.used [MiB], index, utilization.gpu [%], memory.total [MiB]\nNVIDIA-H100-80GB-HBM3, 75000, 0, 92, 81559\nH100-SXM5-80GB, 0, 1, 0, 81559\n",
    )
    .unwrap();
    let want = vec![
        (
            "node-a".to_string(),
            0,
            "H100-SXM5-80GB".to_string(),
            81559,
            75000,
            92,
            true,
        ),
        ("node-a".to_string(), 1, "H100-SXM5-80GB".to_string(), 81559, 0, 0, true),
    ];
    assert_eq!(gpus(&import(&[with.to_str().unwrap()])), want);
    for other in [&bare, &reordered] {
        assert_eq!(gpus(&import(&["--node", "node-a", other.to_str().unwrap()])), want);
    }
}

#[test]
fn kubectl_nodes_keep_labels_and_lose_unallocatable_and_cordoned_gpus() {
    let fleet = import(&["data/import/kubectl-nodes.json"]);
    let names: Vec<&str> = fleet.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["gpu-h100-01", "gpu-l40s-01"], "the CPU node is skipped");
    let h100 = &fleet.nodes[0];
    assert_eq!(h100.labels["topology.kubernetes.io/zone"], "us-east-1a");
    assert!(
        h100.gpus
            .iter()
            .all(|g| g.gpu_type == "H100-SXM5-80GB" && g.memory_mib == 81559)
    );
    assert_eq!(h100.gpus.iter().filter(|g| g.healthy).count(), 7, "7 of 8 allocatable");
    assert!(fleet.nodes[1].gpus.iter().all(|g| !g.healthy), "cordoned");
    let out = fleetfit(&[
        "fleet",
        "import",
        "--node",
        "gpu-l40s-01",
        "data/import/kubectl-nodes.json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stdout).contains("gpu-h100-01"));
}

#[test]
fn an_imported_kubectl_fleet_plans_and_checks() {
    let out = fleetfit(&["fleet", "import", "--format", "json", "data/import/kubectl-nodes.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    std::fs::write(&fleet, &out.stdout).unwrap();
    let deployments = dir.path().join("deployments.yaml");
    std::fs::write(
        &deployments,
        "deployments:\n  - {name: chat, model: llama-3.1-8b, replicas: 8, tensor_parallel: [1], gpu_types: [H100-SXM5-80GB]}\n",
    )
    .unwrap();
    let plan = dir.path().join("plan.json");
    let planned = fleetfit(&[
        "plan",
        "--fleet",
        fleet.to_str().unwrap(),
        "--deployments",
        deployments.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let check = fleetfit(&[
        "check",
        "--fleet",
        fleet.to_str().unwrap(),
        "--deployments",
        deployments.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    // 7 allocatable H100s; the cordoned L40S node takes nothing.
    assert_eq!(plan["replicas"].as_array().unwrap().len(), 7);
}

#[test]
fn bad_import_input_exits_2_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad-memory.csv",
            "index, name, memory.total [MiB]\n0, NVIDIA L40S, lots\n",
            "line 2, column memory.total",
        ),
        ("no-name.csv", "index, memory.total [MiB]\n0, 46068\n", "'name'"),
        ("broken.xml", "<nvidia_smi_log><gpu>", "broken.xml"),
        (
            "noproduct.json",
            "{\"kind\": \"List\", \"items\": [{\"metadata\": {\"name\": \"n\", \"labels\": {}}, \"status\": {\"allocatable\": {\"nvidia.com/gpu\": \"2\"}}}]}",
            "items[0].metadata.labels",
        ),
    ];
    for (name, body, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let out = fleetfit(&["fleet", "import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
        assert!(out.stdout.is_empty());
    }
    let two = fleetfit(&[
        "fleet",
        "import",
        "--node",
        "x",
        "data/import/kubectl-nodes.json",
        "data/import/kubectl-nodes.json",
    ]);
    assert_eq!(two.status.code(), Some(2));
}

#[test]
fn an_unknown_product_keeps_its_name_and_warns() {
    let (_dir, path) = temp_file("n1.csv", "0, Mystery Accelerator, 16384, 0, 0\n");
    let out = fleetfit(&["fleet", "import", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("type: Mystery Accelerator"));
    assert!(text(&out.stderr).contains("unknown GPU product 'Mystery Accelerator'"));
}

/// `model import` of a config, read back as a catalog file.
fn model_import(args: &[&str]) -> fleetfit::domain::ModelArch {
    let mut all = vec!["model", "import"];
    all.extend_from_slice(args);
    let out = fleetfit(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list: fleetfit::formats::model_file::ModelList = serde_yaml::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(list.models.len(), 1);
    list.models[0]
        .resolve(std::path::Path::new("imported.yaml"), "models[0]")
        .unwrap()
}

#[test]
fn model_import_reads_back_as_the_catalog_entry() {
    let catalog = fleetfit::catalog::Catalog::builtin();
    // Every config under data/hf (their sources: data/hf/SOURCES.md).
    let mut ids: Vec<String> = std::fs::read_dir(data("hf"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("config.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    assert!(ids.len() >= 30, "{ids:?}");
    for id in &ids {
        let id = id.as_str();
        let imported = model_import(&[&format!("data/hf/{id}/config.json")]);
        let entry = &catalog.find(id).unwrap().model;
        let off = (imported.params as f64 - entry.params as f64).abs() / entry.params as f64;
        if id == "qwen3-0.6b" {
            // The config ties lm_head to the embeddings; the catalog counts the checkpoint, which
            // stores lm_head too (151936 x 1024 values), as its entry says.
            assert_eq!(entry.params - imported.params, 151_936 * 1024, "{id}");
        } else {
            assert!(off < 0.01, "{id}: {} against {}", imported.params, entry.params);
        }
        assert_eq!(
            (
                imported.id.as_str(),
                imported.layers,
                imported.heads,
                imported.kv_heads,
                imported.mla,
                imported.dtype
            ),
            (id, entry.layers, entry.heads, entry.kv_heads, entry.mla, entry.dtype),
            "{id}"
        );
        assert_eq!(
            (&imported.model_type, imported.vocab_size, imported.tied_embeddings),
            (&entry.model_type, entry.vocab_size, entry.tied_embeddings),
            "{id}: what engine profiles and the 16-bit tables key on"
        );
        if let Some(mib) = entry.weights_mib.get(&entry.dtype) {
            assert_eq!(imported.weights_mib.get(&entry.dtype), Some(mib), "{id}");
        }
    }
    assert_eq!(model_import(&["data/hf/llama-3.1-8b", "--id", "mine"]).id, "mine");
}

#[test]
fn quantization_config_sets_the_dtype() {
    use fleetfit::domain::Quantization;
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("hf/llama-3.1-8b/config.json")).unwrap()).unwrap();
    let cases = [
        (
            r#"{"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": true}"#,
            Quantization::Int4,
        ),
        (
            r#"{"quant_method": "gptq", "bits": 8, "group_size": 128, "desc_act": true}"#,
            Quantization::Int8,
        ),
        (
            r#"{"quant_method": "fp8", "activation_scheme": "dynamic"}"#,
            Quantization::Fp8,
        ),
        (
            r#"{"quant_method": "compressed-tensors", "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}"#,
            Quantization::Fp8,
        ),
        (
            r#"{"quant_method": "compressed-tensors", "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "group_size": 128}}}}"#,
            Quantization::Int4,
        ),
    ];
    for (config, want) in cases {
        let mut value = base.clone();
        value["quantization_config"] = serde_json::from_str(config).unwrap();
        let (_dir, path) = temp_file("config.json", &value.to_string());
        let imported = model_import(&[path.to_str().unwrap()]);
        assert_eq!(imported.dtype, want, "{config}");
        assert_eq!(
            imported.params, 8_030_261_248,
            "the architecture, not the packed tensors"
        );
    }
    let mut value = base;
    value["quantization_config"] = serde_json::from_str(r#"{"quant_method": "mystery"}"#).unwrap();
    let (_dir, path) = temp_file("config.json", &value.to_string());
    let out = fleetfit(&["model", "import", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("quantization_config.quant_method"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn gpt_oss_configs_import_to_the_catalogs_mxfp4_checkpoint() {
    use fleetfit::domain::Quantization;
    // models/gpt_oss.yaml: expert weights (layers x experts x 3 x 2880 x 2880) in MXFP4's 4.25
    // bits, attention, router, biases, norms, embeddings and lm_head in bf16.
    for (id, params, expert_params, weights_mib) in [
        ("gpt-oss-20b", 20_914_757_184u64, 19_110_297_600u64, 13_124u64),
        ("gpt-oss-120b", 116_829_156_672, 114_661_785_600, 62_227),
    ] {
        let imported = model_import(&[&format!("data/hf/{id}/config.json")]);
        assert_eq!(imported.params, params, "{id}");
        assert_eq!(imported.dtype, Quantization::Mxfp4, "{id}");
        let bits_x4 = u128::from(expert_params) * 17 + u128::from(params - expert_params) * 64;
        assert_eq!(
            u128::from(weights_mib),
            bits_x4.div_ceil((4 * 8) << 20),
            "{id}: the catalog's sum"
        );
        assert_eq!(
            imported.weights_mib.into_iter().collect::<Vec<_>>(),
            [(Quantization::Mxfp4, weights_mib)],
            "{id}"
        );
        assert_eq!(imported.model_type.as_deref(), Some("gpt_oss"));
        assert_eq!(imported.vocab_size, Some(201_088));
        assert!(!imported.tied_embeddings);
    }
}

#[test]
fn a_compressed_tensors_fp8_checkpoint_keeps_embeddings_lm_head_and_norms_in_16_bits() {
    use fleetfit::domain::Quantization;
    // Llama-3.1-8B's config with the quantization_config of RedHatAI's FP8-dynamic checkpoint.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("hf/llama-3.1-8b/config.json")).unwrap()).unwrap();
    value["quantization_config"] = serde_json::from_str(
        r#"{"quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
            "config_groups": {"group_0": {"targets": ["Linear"],
                "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": true, "dynamic": false},
                "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "symmetric": true, "dynamic": true}}},
            "ignore": ["lm_head"]}"#,
    )
    .unwrap();
    let (_dir, path) = temp_file("config.json", &value.to_string());
    let imported = model_import(&[path.to_str().unwrap()]);
    assert_eq!(imported.dtype, Quantization::Fp8);
    assert_eq!(imported.params, 8_030_261_248);
    let params: u128 = 8_030_261_248;
    let tables: u128 = 2 * 128_256 * 4096; // embed_tokens and the untied lm_head
    let norms: u128 = 32 * 2 * 4096 + 4096; // two RMSNorms per layer and the final one
    let linear = params - tables - norms;
    let want = (linear * 8 + (tables + norms) * 16).div_ceil(8 << 20);
    assert_eq!(want, 8661, "6.5 GiB of fp8 layers + 1.96 GiB of bf16 tables");
    assert_eq!(
        imported.weights_mib.into_iter().collect::<Vec<_>>(),
        [(Quantization::Fp8, want as u64)]
    );
    assert_eq!(
        (
            imported.model_type.as_deref(),
            imported.vocab_size,
            imported.tied_embeddings
        ),
        (Some("llama"), Some(128_256), false)
    );
}

#[test]
fn modules_kept_in_16_bits_count_at_16_bits() {
    use fleetfit::domain::Quantization;
    // Qwen3-30B-A3B's config with an FP8 quantization_config that keeps every layer's router
    // (one module per layer, as Qwen's FP8 checkpoints list them) and the attention in bf16.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("hf/qwen3-30b-a3b/config.json")).unwrap()).unwrap();
    let layers = value["num_hidden_layers"].as_u64().unwrap();
    let experts = u128::from(value["num_experts"].as_u64().unwrap());
    let hidden = u128::from(value["hidden_size"].as_u64().unwrap());
    let mut keep: Vec<String> = (0..layers).map(|i| format!("model.layers.{i}.mlp.gate")).collect();
    keep.push("lm_head".into());
    let plain = |value: &serde_json::Value| {
        let (_dir, path) = temp_file("config.json", &value.to_string());
        model_import(&[path.to_str().unwrap()])
    };
    value["quantization_config"] =
        serde_json::json!({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]});
    let all_fp8 = plain(&value).weights_mib[&Quantization::Fp8];
    value["quantization_config"]["modules_to_not_convert"] = serde_json::json!(keep);
    let routers_bf16 = plain(&value).weights_mib[&Quantization::Fp8];
    let routers = u128::from(layers) * experts * hidden;
    assert!(routers > 3 << 20, "48 x 128 x 2048 = 12.6M values");
    let grown = u128::from(routers_bf16 - all_fp8);
    assert!(
        grown.abs_diff(routers >> 20) <= 1,
        "{all_fp8} -> {routers_bf16}: one more byte per router value"
    );
    value["quantization_config"]["ignore"] = serde_json::json!(["re:.*self_attn.*"]);
    assert!(
        plain(&value).weights_mib[&Quantization::Fp8] > routers_bf16,
        "attention kept in bf16 too"
    );
}

/// The layout `nvidia-smi -q -x` prints (XML declaration, DOCTYPE, one `<gpu>` per device with
/// many more elements than fleetfit reads), two H100s: one idle, one held by a process.
const SMI_XML: &str = r#"<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
	<timestamp>Sat Dec  5 23:00:00 2026</timestamp>
	<driver_version>550.127.05</driver_version>
	<cuda_version>12.4</cuda_version>
	<attached_gpus>2</attached_gpus>
	<gpu id="00000000:18:00.0">
		<product_name>NVIDIA H100 80GB HBM3</product_name>
		<product_brand>NVIDIA</product_brand>
		<mig_mode>
			<current_mig>Disabled</current_mig>
			<pending_mig>Disabled</pending_mig>
		</mig_mode>
		<minor_number>0</minor_number>
		<fb_memory_usage>
			<total>81559 MiB</total>
			<reserved>328 MiB</reserved>
			<used>1 MiB</used>
			<free>81229 MiB</free>
		</fb_memory_usage>
		<bar1_memory_usage>
			<total>131072 MiB</total>
			<used>1 MiB</used>
			<free>131071 MiB</free>
		</bar1_memory_usage>
		<utilization>
			<gpu_util>0 %</gpu_util>
			<memory_util>0 %</memory_util>
		</utilization>
		<processes>
		</processes>
	</gpu>
	<gpu id="00000000:2A:00.0">
		<product_name>NVIDIA H100 80GB HBM3</product_name>
		<mig_mode>
			<current_mig>Disabled</current_mig>
		</mig_mode>
		<minor_number>1</minor_number>
		<fb_memory_usage>
			<total>81559 MiB</total>
			<reserved>328 MiB</reserved>
			<used>62000 MiB</used>
			<free>19231 MiB</free>
		</fb_memory_usage>
		<utilization>
			<gpu_util>97 %</gpu_util>
			<memory_util>40 %</memory_util>
		</utilization>
		<processes>
			<process_info>
				<pid>4242</pid>
				<type>C</type>
				<process_name>python3</process_name>
				<used_memory>61990 MiB</used_memory>
			</process_info>
		</processes>
	</gpu>
</nvidia_smi_log>
"#;

#[test]
fn nvidia_smi_xml_with_its_doctype_reads_memory_and_utilization() {
    let (_dir, path) = temp_file("gpu-node-7.xml", SMI_XML);
    let fleet = import(&[path.to_str().unwrap()]);
    assert_eq!(
        gpus(&fleet),
        [
            (
                "gpu-node-7".to_string(),
                0,
                "H100-SXM5-80GB".to_string(),
                81559,
                1,
                0,
                true
            ),
            (
                "gpu-node-7".to_string(),
                1,
                "H100-SXM5-80GB".to_string(),
                81559,
                62000,
                97,
                true
            ),
        ]
    );
    let mig = SMI_XML.replacen(
        "<current_mig>Disabled</current_mig>",
        "<current_mig>Enabled</current_mig>",
        1,
    );
    let (_dir, path) = temp_file("mig.xml", &mig);
    let out = fleetfit(&["fleet", "import", path.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("MIG mode"));
    assert!(text(&out.stdout).contains("healthy: false"));
}

#[test]
fn the_readme_import_plan_emit_session_runs_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, busy, plan) = (
        dir.path().join("fleet.yaml"),
        dir.path().join("busy.yaml"),
        dir.path().join("plan.json"),
    );
    for (capture, to) in [("nvidia-smi-q.xml", &fleet), ("busy-nvidia-smi-q.xml", &busy)] {
        let imported = fleetfit(&[
            "fleet",
            "import",
            "--node",
            "h200-01",
            &format!("data/captures/h200/{capture}"),
        ]);
        assert_eq!(imported.status.code(), Some(0), "{}", text(&imported.stderr));
        assert!(imported.stderr.is_empty(), "{}", text(&imported.stderr));
        std::fs::write(to, &imported.stdout).unwrap();
    }
    let (fleet, busy, plan) = (fleet.to_str().unwrap(), busy.to_str().unwrap(), plan.to_str().unwrap());
    let imported: Vec<String> = std::fs::read_to_string(fleet)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        imported,
        readme_output("cat fleet.yaml"),
        "the import keeps the driver's reserve"
    );
    let deployments = "data/captures/deployments.yaml";
    let planned = fleetfit(&[
        "plan",
        "--fleet",
        fleet,
        "--deployments",
        deployments,
        "--detail",
        "--out",
        plan,
    ]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let shown = readme_output("fleetfit plan --fleet fleet.yaml");
    let got: Vec<String> = text(&planned.stdout)
        .lines()
        .take(shown.len())
        .map(str::to_string)
        .collect();
    assert_eq!(got, shown, "the plan shows the KV cache vLLM will allocate");
    let emitted = fleetfit(&[
        "emit",
        "--fleet",
        fleet,
        "--deployments",
        deployments,
        "--plan",
        plan,
        "--target",
        "vllm",
    ]);
    assert_eq!(emitted.status.code(), Some(0), "{}", text(&emitted.stderr));
    let got: Vec<String> = text(&emitted.stdout).lines().map(str::to_string).collect();
    assert_eq!(got, readme_output("fleetfit emit --fleet fleet.yaml"));
    let on_busy = fleetfit(&["plan", "--fleet", busy, "--deployments", deployments]);
    let shown = readme_output("fleetfit plan --fleet busy.yaml");
    let got: Vec<String> = text(&on_busy.stdout)
        .lines()
        .take(shown.len())
        .map(str::to_string)
        .collect();
    assert_eq!(got, shown);
}

/// Every capture of the real H200 (data/captures/h200/, see its README) imports; the CSV forms
/// and the XML agree, idle and busy.
#[test]
fn real_h200_captures_import_alike_in_every_form() {
    let gpu = |file: &str| {
        let fleet = import(&["--node", "h200-01", &format!("data/captures/h200/{file}")]);
        gpus(&fleet)
    };
    let idle = vec![(
        "h200-01".to_string(),
        0,
        "H200-SXM-141GB".to_string(),
        143771,
        0,
        0,
        true,
    )];
    let busy = vec![(
        "h200-01".to_string(),
        0,
        "H200-SXM-141GB".to_string(),
        143771,
        62669,
        99,
        true,
    )];
    for form in [
        "nvidia-smi-query.csv",
        "nvidia-smi-query-noheader.csv",
        "nvidia-smi-query-reordered.csv",
        "nvidia-smi-q.xml",
    ] {
        assert_eq!(gpu(form), idle, "{form}");
        assert_eq!(gpu(&format!("busy-{form}")), busy, "busy-{form}");
    }
    // Two captures as two nodes, named by their files; the busy GPU takes nothing.
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("nvidia-smi-q.xml", "h200-a.xml"),
        ("busy-nvidia-smi-query.csv", "h200-b.csv"),
    ] {
        std::fs::copy(data(&format!("captures/h200/{from}")), dir.path().join(to)).unwrap();
    }
    let fleet = import(&[
        dir.path().join("h200-a.xml").to_str().unwrap(),
        dir.path().join("h200-b.csv").to_str().unwrap(),
    ]);
    let (_d, path) = temp_file(
        "deployments.yaml",
        "deployments:\n  - {name: chat, model: llama-3.1-8b, replicas: 2, tensor_parallel: [1]}\n",
    );
    let workload = fleetfit::formats::deployments_file::load(&path).unwrap();
    let plan = solve(&fleet, &workload).plan;
    assert_valid(&fleet, &workload, &plan);
    assert!(
        plan.replicas
            .iter()
            .all(|r| r.stages.iter().all(|s| s.node == "h200-a"))
    );
    assert_eq!(plan.replicas.len(), 1, "one eligible GPU, exclusive workers");
}

#[test]
fn the_drivers_reserve_comes_from_csv_xml_or_the_measured_product() {
    // CSV with a header: memory.reserved in any column; without one, the sixth column.
    let with_header = "index, name, memory.reserved [MiB], memory.total [MiB], memory.used [MiB], utilization.gpu [%]\n0, NVIDIA H100 80GB HBM3, 469 MiB, 81559 MiB, 0 MiB, 0 %\n";
    let no_header = "0, NVIDIA H100 80GB HBM3, 81559, 1024, 3, 469\n";
    for csv in [with_header, no_header] {
        let (_d, path) = temp_file("gpus.csv", csv);
        let fleet = import(&["--node", "n", path.to_str().unwrap()]);
        let g = &fleet.nodes[0].gpus[0];
        assert_eq!(
            (g.memory_mib, g.reserved_mib, g.cuda_mib()),
            (81559, 469, 81090),
            "{csv}"
        );
    }
    // XML: <reserved> of the real H200 capture.
    let fleet = import(&["--node", "h200-01", "data/captures/h200/nvidia-smi-q.xml"]);
    assert_eq!(fleet.nodes[0].gpus[0].reserved_mib, 616);
    // A reserve that leaves nothing is bad input.
    let (_d, path) = temp_file("gpus.csv", "0, NVIDIA H100 80GB HBM3, 81559, 0, 0, 81559\n");
    let out = fleetfit(&["fleet", "import", "--node", "n", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("gpus.csv: line 1, column memory.reserved"),
        "{}",
        text(&out.stderr)
    );
    // kubectl: GPU Feature Discovery has no reserve; a measured product gets its figure.
    let nodes = r#"{"items": [{"metadata": {"name": "k1", "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81559", "nvidia.com/gpu.count": "8"}}, "status": {"capacity": {"nvidia.com/gpu": "8"}}}, {"metadata": {"name": "k2", "labels": {"nvidia.com/gpu.product": "NVIDIA-L40S", "nvidia.com/gpu.memory": "46068", "nvidia.com/gpu.count": "4"}}, "status": {"capacity": {"nvidia.com/gpu": "4"}}}]}"#;
    let (_d, path) = temp_file("nodes.json", nodes);
    let out = fleetfit(&["fleet", "import", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("reserved_mib: 469"), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no driver-reserved memory is known for L40S with 46068 MiB"),
        "{}",
        text(&out.stderr)
    );
}
