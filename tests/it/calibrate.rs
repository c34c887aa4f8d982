//! `fleetfit calibrate`: published vLLM 0.19 and SGLang startup logs into an engine profile whose
//! measured runs give back, at each run's own settings, at most the KV cache the engine logged
//! (and within 1% of it); plans made with the profile reserve exactly that; every malformed log
//! is refused with its file and line, and nothing is written.

use std::path::{Path, PathBuf};

use fleetfit::catalog::Catalog;
use fleetfit::formats::engine_log;
use fleetfit::workflows::calibrate;

use super::common::*;

const VLLM: &str = "engine-logs/vllm";

/// Every raw vLLM 0.19.0 startup log under data/engine-logs/vllm (summaries left out).
fn logs_0_19() -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data(VLLM))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            p.extension().is_some_and(|e| e == "log")
                && text.contains("(v0.19.0) with config")
                && !text.contains("# note: published as")
        })
        .collect();
    logs.sort();
    logs
}

fn log(name: &str) -> PathBuf {
    data(&format!("{VLLM}/{name}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn every_0_19_log_round_trips_within_one_percent_and_never_above_the_engine() {
    let paths = logs_0_19();
    let runs: Vec<_> = paths
        .iter()
        .map(|p| engine_log::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(runs.len(), 41, "the 0.19.0 H100 logs of data/engine-logs/SOURCES.md");
    let calibration = calibrate::calibrate(&runs, None, Catalog::builtin()).unwrap();
    assert!(calibration.warnings.is_empty(), "{:?}", calibration.warnings);
    let (failed, ok): (Vec<_>, Vec<_>) = calibration.rows.iter().partition(|r| r.failure.is_some());
    assert_eq!(ok.len(), 39);
    assert_eq!(failed.len(), 2);
    for r in &failed {
        assert!(r.file.contains("gpt-oss-20b") && r.file.contains("failed"), "{r:?}");
        let reason = r.failure.as_deref().unwrap();
        assert!(reason.contains("CUDA out of memory"), "{reason}");
        assert!(r.fleetfit_tokens.is_none() && r.runtime_mib.is_none());
    }
    for r in &ok {
        let logged = r.logged_tokens.unwrap();
        let fleetfit = r.fleetfit_tokens.unwrap_or_else(|| panic!("no KV room for {}", r.file));
        assert!(
            fleetfit <= logged,
            "{}: fleetfit promises {fleetfit} tokens, vLLM had {logged}",
            r.file
        );
        assert!(
            fleetfit as f64 >= 0.99 * logged as f64,
            "{}: fleetfit gives {fleetfit} tokens, vLLM had {logged}",
            r.file
        );
        assert_eq!(fleetfit % 16, 0, "whole blocks");
    }
    // One measured entry per model and shape, sorted, each citing a log given.
    let measured = &calibration.profile.measured;
    let keys: Vec<_> = measured
        .iter()
        .map(|m| (m.model.clone(), m.quantization.name(), m.tp, m.pp))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted);
    for m in measured {
        assert!(ok.iter().any(|r| r.file == m.from), "{m:?}");
    }
    assert!(measured.iter().any(|m| m.model == "llama-3.1-8b" && m.pp == 4));
    assert!(
        measured
            .iter()
            .any(|m| m.model == "llama-3.3-70b-instruct" && m.quantization.name() == "int8")
    );
}

#[test]
fn pipeline_stages_take_the_heaviest_worker() {
    let run = engine_log::load(&log("h100-llama-3.1-8b-tp1-pp4-bf16.log")).unwrap();
    assert_eq!((run.tp, run.pp), (1, 4));
    // Stage 3 computes the logits: 2.01 GiB of activation against 1.05-1.1 elsewhere.
    assert_eq!(run.activation_gib, 2.01);
    assert_eq!(run.non_kv_gib, 6.34);
    assert_eq!(run.weights_gib, 4.26);
    // Only stage 0 prints its KV memory (69.8 GiB); stage 3's is what its non-KV memory leaves.
    assert!((run.kv_cache_gib - (75.23 - 6.34)).abs() < 1e-9, "{}", run.kv_cache_gib);
    assert_eq!(run.kv_cache_tokens, Some(2_257_264));
}

#[test]
fn a_tp_log_reads_every_figure() {
    let run = engine_log::load(&log("h100-qwen2.5-72b-tp2-bf16.log")).unwrap();
    assert_eq!(run.version, "0.19.0");
    assert_eq!(run.model, "Qwen/Qwen2.5-72B-Instruct");
    assert_eq!((run.tp, run.pp, run.max_model_len), (2, 1, 8192));
    assert_eq!(run.gpu_memory_utilization, 0.95);
    assert_eq!(run.quantization, None);
    assert_eq!(run.total_gib, 79.19);
    assert_eq!(
        (
            run.weights_gib,
            run.activation_gib,
            run.non_torch_gib,
            run.non_kv_gib,
            run.kv_cache_gib
        ),
        (67.8, 2.29, 2.09, 72.19, 3.04)
    );
    assert_eq!(run.kv_cache_tokens, Some(19_920));
    assert_eq!(run.max_concurrency, Some(2.43));
    assert_eq!(run.cuda_graph_gib, Some(1.61));
    assert!(run.failure.is_none());
    let quantized = engine_log::load(&log("h100-llama-3.1-8b-w4a16-tp1-fp16.log")).unwrap();
    assert_eq!(quantized.quantization.as_deref(), Some("gptq_marlin"));
    assert_eq!(quantized.dtype, fleetfit::domain::Quantization::Fp16);
    let failed = engine_log::load(&log("h100-gpt-oss-20b-tp1-mxfp4-failed.log")).unwrap();
    let failure = failed.failure.unwrap();
    assert_eq!(failure.line, 28);
    assert_eq!(
        failure.reason,
        "CUDA out of memory occurred when warming up sampler with 1024 dummy requests"
    );
}

/// What `fleetfit calibrate --format json` says of each run.
fn calibrate_json(logs: &[&Path], out: &Path) -> Vec<serde_json::Value> {
    let mut args = vec!["calibrate", "--format", "json", "--out", path_str(out)];
    args.extend(logs.iter().map(|p| path_str(p)));
    let run = fleetfit(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap()
}

const FLEET: &str = "nodes:
  - name: h100-01
    gpu_type: H100-SXM5-80GB
    gpu_count: 8
    memory_mib: 81559
    reserved_mib: 469
";

/// Plans one replica of `model` at the run's settings with `tokens` of KV cache and the
/// calibrated profile; the plan's replicas.
fn plan_with(dir: &Path, row: &serde_json::Value, model: &str, tokens: u64) -> Vec<serde_json::Value> {
    let fleet = dir.join("fleet.yaml");
    std::fs::write(&fleet, FLEET).unwrap();
    let deployments = dir.join("deployments.yaml");
    std::fs::write(
        &deployments,
        format!(
            "profiles: [profile.yaml]
deployments:
  - name: calibrated
    model: {model}
    quantizations: [{q}]
    tensor_parallel: [{tp}]
    pipeline_parallel: [{pp}]
    max_model_len: 8192
    kv_cache_tokens: {tokens}
    kv_cache_dtype: {kv}
    gpu_memory_utilization: {u}
",
            q = row["quantization"].as_str().unwrap(),
            tp = row["tp"],
            pp = row["pp"],
            kv = row["kv_cache_dtype"].as_str().unwrap(),
            u = row["gpu_memory_utilization"],
        ),
    )
    .unwrap();
    let out = fleetfit(&[
        "plan",
        "--fleet",
        path_str(&fleet),
        "--deployments",
        path_str(&deployments),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["replicas"].as_array().unwrap().clone()
}

#[test]
fn a_calibrated_profile_plans_exactly_the_room_it_measured() {
    for (file, model) in [
        ("h100-qwen2.5-72b-tp2-bf16.log", "Qwen/Qwen2.5-72B-Instruct"),
        ("h100-llama-3.1-8b-tp1-bf16.log", "meta-llama/Llama-3.1-8B-Instruct"),
        ("h100-llama-3.1-8b-tp1-pp2-bf16.log", "meta-llama/Llama-3.1-8B-Instruct"),
        ("h100-qwen2.5-7b-tp1-bf16-kvfp8.log", "Qwen/Qwen2.5-7B-Instruct"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("profile.yaml");
        let rows = calibrate_json(&[&log(file)], &profile);
        let row = &rows[0];
        let measured = fleetfit::formats::profile_file::load(&profile).unwrap().measured;
        assert_eq!(measured.len(), 1, "{file}");
        assert_eq!(measured[0].from, file);
        assert_eq!(row["runtime_mib"].as_u64(), Some(measured[0].runtime_mib));
        // The H100 fleet's CUDA total, 81559 - 469 MiB, is the log's 79.19 GiB in whole MiB.
        assert_eq!(row["reserve_mib"].as_u64(), Some(77_035), "{file}");
        let tokens = row["fleetfit_tokens"].as_u64().unwrap();
        let logged = row["logged_tokens"].as_u64().unwrap();
        assert!(tokens <= logged);

        let replicas = plan_with(dir.path(), row, model, tokens);
        assert_eq!(replicas.len(), 1, "{file}: {tokens} tokens fit the room measured");
        assert_eq!(
            replicas[0]["runtime_mib"].as_u64(),
            Some(measured[0].runtime_mib),
            "{file}"
        );
        assert_eq!(replicas[0]["memory_per_gpu_mib"].as_u64(), Some(77_035), "{file}");
        // One block more than fleetfit's tokens is past the room, and so is what vLLM logged
        // plus one block.
        for too_many in [tokens + 16, logged + 16] {
            let replicas = plan_with(dir.path(), row, model, too_many);
            assert!(replicas.is_empty(), "{file}: {too_many} tokens placed");
        }
    }
}

#[test]
fn an_existing_profile_is_updated_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    calibrate_json(&[&log("h100-qwen2.5-72b-tp2-bf16.log")], &profile);
    calibrate_json(
        &[
            &log("h100-llama-3.1-8b-tp1-bf16.log"),
            &log("h100-llama-3.1-8b-tp1-bf16-len2048.log"),
        ],
        &profile,
    );
    let loaded = fleetfit::formats::profile_file::load(&profile).unwrap();
    let models: Vec<_> = loaded.measured.iter().map(|m| (m.model.as_str(), m.tp)).collect();
    assert_eq!(models, [("llama-3.1-8b", 1), ("qwen2.5-72b", 2)]);
    let written = std::fs::read_to_string(&profile).unwrap();
    // What each log said stays beside its entry, the older run's too.
    assert!(written.contains("kv_cache_tokens: 19920"), "{written}");
    assert!(written.contains("kv_cache_tokens: 476016"), "{written}");
    assert_eq!(loaded.version, "0.19");
}

/// A copy of a published log, edited, in a temporary folder.
fn edited(name: &str, edit: impl FnOnce(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(log(name)).unwrap();
    temp_file(name, &edit(&text))
}

/// The 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// Runs calibrate on a good log and `bad` with `--out`; asserts exit 2, one message naming the
/// file and `line N` with `words`, and no output file.
fn refused(bad: &Path, line: usize, words: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.yaml");
    let good = log("h100-llama-3.1-8b-tp1-bf16.log");
    let run = fleetfit(&["calibrate", path_str(&good), path_str(bad), "--out", path_str(&out)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(path_str(bad)), "{stderr}");
    assert!(stderr.contains(&format!(": line {line}: ")), "line {line}: {stderr}");
    assert!(stderr.contains(words), "{words}: {stderr}");
    assert!(run.stdout.is_empty());
    assert!(!out.exists(), "nothing is written");
    stderr
}

#[test]
fn a_log_cut_short_is_refused_at_its_last_line() {
    let name = "h100-qwen2.5-72b-tp2-bf16.log";
    let full = std::fs::read_to_string(log(name)).unwrap();
    let keep = line_of(&full, "GPU KV cache size") - 1;
    let (_d, path) = edited(name, |t| t.lines().take(keep).collect::<Vec<_>>().join("\n") + "\n");
    let message = refused(
        &path,
        keep,
        &format!("the log ends at line {keep} before vLLM reports its KV cache"),
    );
    assert!(message.contains("cut short"), "{message}");
}

#[test]
fn an_unknown_version_is_refused_at_its_banner() {
    let name = "h100-llama-3.1-8b-tp2-bf16.log";
    let (_d, path) = edited(name, |t| t.replace("0.19.0", "0.20.0"));
    let line = line_of(&std::fs::read_to_string(&path).unwrap(), "version 0.20.0");
    refused(&path, line, "vLLM 0.20.0 is not a version fleetfit reads (0.8 to 0.19)");
}

#[test]
fn a_worker_that_contradicts_its_tp_group_is_refused() {
    let name = "h100-qwen2.5-72b-tp2-bf16.log";
    let full = std::fs::read_to_string(log(name)).unwrap();
    // Worker_TP1 profiles first; give it a gigabyte more weights than Worker_TP0 loaded.
    let line = line_of(&full, "weights memory: 67.8GiB");
    assert!(full.lines().nth(line - 1).unwrap().contains("Worker_TP1"));
    let (_d, path) = edited(name, |t| {
        t.replacen("weights memory: 67.8GiB", "weights memory: 68.8GiB", 1)
    });
    let message = refused(&path, line, "the log contradicts itself");
    assert!(
        message.contains("Worker_TP1") && message.contains("Worker_TP0"),
        "{message}"
    );
}

#[test]
fn kv_memory_that_the_profile_does_not_leave_is_refused() {
    let name = "h100-llama-3.1-8b-tp1-bf16.log";
    let full = std::fs::read_to_string(log(name)).unwrap();
    let line = line_of(&full, "Available KV cache memory: 58.11 GiB");
    let (_d, path) = edited(name, |t| {
        t.replace(
            "Available KV cache memory: 58.11 GiB",
            "Available KV cache memory: 60.11 GiB",
        )
    });
    refused(&path, line, "the log contradicts itself");
}

#[test]
fn two_models_in_one_file_are_refused() {
    let a = std::fs::read_to_string(log("h100-llama-3.1-8b-tp1-bf16.log")).unwrap();
    let b = std::fs::read_to_string(log("h100-qwen3-8b-tp1-bf16.log")).unwrap();
    let (_d, path) = temp_file("two.log", &format!("{a}{b}"));
    let joined = std::fs::read_to_string(&path).unwrap();
    let second = joined
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("with config: model="))
        .nth(1)
        .unwrap()
        .0
        + 1;
    refused(&path, second, "two runs in one file");
}

#[test]
fn summaries_and_other_engines_are_refused() {
    refused(
        &log("h100-llama-3.1-8b-tp1-bf16-len16000-llmd.log"),
        3,
        "a summary of a startup log, not the log itself",
    );
    refused(
        &log("h100-qwen3-14b-tp1-bf16-v0.18.0.log"),
        3,
        "(JSON), not the log itself",
    );
    // An SGLang line after vLLM's: two runs in one file.
    let (_d, mixed) = edited("h100-llama-3.1-8b-tp1-bf16.log", |t| {
        format!("{t}[2026-08-27 03:45:41] Load weight begin. avail mem=78.48 GB\n")
    });
    let last = std::fs::read_to_string(&mixed).unwrap().lines().count();
    refused(
        &mixed,
        last,
        "an SGLang line (`Load weight begin. avail mem`) in a vLLM log",
    );
    let llama_cpp = data("engine-logs/llamacpp/h100-qwen3-0.6b-q8_0-ctx40960-ollama-0.32.15.log");
    let line = line_of(
        &std::fs::read_to_string(&llama_cpp).unwrap(),
        "llama_prepare_model_devices",
    );
    refused(&llama_cpp, line, "a llama.cpp log");
}

#[test]
fn a_typo_in_the_existing_profile_is_named_and_the_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.yaml");
    let bad = "engine: vllm\nversion: '0.19'\nkv_block_tokens: 16\nactivaton: []\n";
    std::fs::write(&out, bad).unwrap();
    let run = fleetfit(&[
        "calibrate",
        path_str(&log("h100-llama-3.1-8b-tp1-bf16.log")),
        "--out",
        path_str(&out),
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(path_str(&out)) && stderr.contains("activaton"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), bad);
}

#[test]
fn another_version_of_the_same_engine_is_refused_by_file() {
    let (_d, older) = edited("h100-qwen2.5-7b-tp1-bf16.log", |t| t.replace("0.19.0", "0.18.0"));
    let good = log("h100-llama-3.1-8b-tp1-bf16.log");
    let run = fleetfit(&["calibrate", path_str(&good), path_str(&older)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(path_str(&older)) && stderr.contains("one engine version (0.19) at a time"),
        "{stderr}"
    );
}

#[test]
fn the_table_shows_each_run_and_why_failed_ones_count_for_nothing() {
    let run = fleetfit(&[
        "calibrate",
        path_str(&log("h100-qwen2.5-72b-tp2-bf16.log")),
        path_str(&log("h100-llama-3.1-8b-tp1-pp2-bf16.log")),
        path_str(&log("h100-gpt-oss-20b-tp1-mxfp4-failed.log")),
    ]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("FILE") && lines[0].contains("LOGGED") && lines[0].contains("FLEETFIT"));
    let row = |file: &str| -> Vec<&str> {
        lines
            .iter()
            .find(|l| l.starts_with(file))
            .unwrap_or_else(|| panic!("{file}: {stdout}"))
            .split_whitespace()
            .collect()
    };
    let qwen = row("h100-qwen2.5-72b-tp2-bf16.log");
    assert_eq!(
        &qwen[1..],
        [
            "qwen2.5-72b",
            "bf16",
            "tp2",
            "pp1",
            "0.95",
            "19920",
            "19872",
            "0.9975",
            "4591"
        ]
    );
    let pp2 = row("h100-llama-3.1-8b-tp1-pp2-bf16.log");
    assert_eq!(&pp2[1..6], ["llama-3.1-8b", "bf16", "tp1", "pp2", "0.95"]);
    assert_eq!(pp2[6], "1075312");
    let failed = row("h100-gpt-oss-20b-tp1-mxfp4-failed.log");
    assert_eq!(&failed[5..], ["0.95", "1277184", "-", "failed", "-"]);
    assert!(
        stdout.contains("h100-gpt-oss-20b-tp1-mxfp4-failed.log: line 28: CUDA out of memory"),
        "{stdout}"
    );
    assert!(stdout.contains("vllm 0.19 profile: 2 measured runs"), "{stdout}");
}

#[test]
fn every_prefix_of_an_sglang_log_is_read_or_refused_never_a_panic() {
    let (_d, path) = sglang_h100();
    let full = std::fs::read_to_string(&path).unwrap();
    let cuts = full.char_indices().map(|(i, _)| i).filter(|i| i % 41 == 0);
    for cut in cuts.chain([full.len()]) {
        match engine_log::parse_with(&path, &full[..cut], Some(H100_CUDA_MIB)) {
            Ok(run) => assert!(run.kv_cache_tokens.is_some() || run.failure.is_some(), "{cut}"),
            Err(e) => assert!(e.file == path && !e.message.is_empty(), "{cut}: {e}"),
        }
    }
}

#[test]
fn every_prefix_of_a_log_is_read_or_refused_never_a_panic() {
    for name in ["h100-qwen2.5-72b-tp2-bf16.log", "h100-gpt-oss-20b-tp2-mxfp4-failed.log"] {
        let full = std::fs::read_to_string(log(name)).unwrap();
        let cuts = full.char_indices().map(|(i, _)| i).filter(|i| i % 89 == 0);
        for cut in cuts.chain([full.len()]) {
            match engine_log::parse(Path::new(name), &full[..cut]) {
                Ok(run) => assert!(run.kv_cache_tokens.is_some() || run.failure.is_some(), "{cut}"),
                Err(e) => assert!(e.file.ends_with(name) && !e.message.is_empty(), "{cut}: {e}"),
            }
        }
    }
}

// SGLang.

const SGLANG_H100: &str = "h100-qwen3-30b-a3b-fp8-tp1.log";
/// CUDA's total of the H100 80GB of `FLEET`: 81559 - 469 MiB.
const H100_CUDA_MIB: u64 = 81_090;

/// The complete H100 SGLang log with its version in its `# setup:` line: SGLang prints none, and
/// the published copy says "sglang main as of 2026-08-27" (the 0.5 series, engines/sglang.yaml).
fn sglang_h100() -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(data(&format!("engine-logs/sglang/{SGLANG_H100}"))).unwrap();
    let named = if text.contains("sglang 0.5") {
        text
    } else {
        text.replacen("sglang main as of", "sglang 0.5 (main as of", 1)
    };
    assert!(named.contains("# setup:") && named.contains("sglang 0.5"), "{named}");
    temp_file(SGLANG_H100, &named)
}

/// That log, edited, in a temporary folder.
fn sglang_edited(edit: impl FnOnce(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let (_d, path) = sglang_h100();
    let text = std::fs::read_to_string(&path).unwrap();
    temp_file(SGLANG_H100, &edit(&text))
}

/// Runs calibrate on the good SGLang log and `bad` with `--total-mib` and `--out`; asserts exit 2,
/// one message naming the file and `line N` (none where `line` is 0) with `words`, and no
/// output file.
fn sglang_refused(bad: &Path, line: usize, words: &str) -> String {
    let (_g, good) = sglang_h100();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.yaml");
    let total = H100_CUDA_MIB.to_string();
    let run = fleetfit(&[
        "calibrate",
        path_str(&good),
        path_str(bad),
        "--total-mib",
        &total,
        "--out",
        path_str(&out),
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(path_str(bad)), "{stderr}");
    if line > 0 {
        assert!(stderr.contains(&format!(": line {line}: ")), "line {line}: {stderr}");
    } else {
        assert!(!stderr.contains(": line "), "{stderr}");
    }
    assert!(stderr.contains(words), "{words}: {stderr}");
    assert!(run.stdout.is_empty());
    assert!(!out.exists(), "nothing is written");
    stderr
}

#[test]
fn the_h100_sglang_log_reads_every_figure() {
    let (_d, path) = sglang_h100();
    let run = engine_log::load_with(&path, Some(H100_CUDA_MIB)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.engine, fleetfit::domain::Engine::Sglang);
    assert_eq!(run.version, "0.5");
    assert_eq!(run.model, "Qwen/Qwen3-30B-A3B-FP8");
    assert_eq!((run.tp, run.pp, run.max_model_len), (1, 1, 40960));
    assert_eq!(run.dtype, fleetfit::domain::Quantization::Bf16);
    assert_eq!(run.quantization.as_deref(), Some("fp8"));
    assert_eq!(run.kv_cache_dtype, fleetfit::domain::KvCacheDtype::Auto);
    assert_eq!(run.total_gib, 81_090.0 / 1024.0);
    assert_eq!(run.gpu_memory_utilization, 1.0, "the whole GPU");
    assert_eq!((run.weights_gib, run.kv_cache_gib), (29.15, 35.98));
    assert_eq!(run.kv_cache_tokens, Some(392_920));
    assert_eq!(run.cuda_graph_gib, Some(2.05));
    // engines/sglang.yaml's decomposition: 0.71 GiB before the weights, 11.30 GiB beside the
    // pool and the graphs.
    assert_eq!((run.non_torch_gib, run.activation_gib), (0.71, 11.3));
    let sglang = run.sglang.as_ref().unwrap();
    assert_eq!(sglang.mem_fraction_static, Some(0.83));
    assert_eq!(
        (
            sglang.free_before_weights_gib,
            sglang.free_after_weights_gib,
            sglang.free_after_pool_gib,
            sglang.free_at_end_gib
        ),
        (78.48, 49.33, Some(12.7), Some(10.54))
    );
    assert!(run.failure.is_none());
}

#[test]
fn the_h100_sglang_log_calibrates_within_one_percent_and_never_above() {
    let (_d, path) = sglang_h100();
    let run = engine_log::load_with(&path, Some(H100_CUDA_MIB)).unwrap();
    let calibration = calibrate::calibrate(&[run], None, Catalog::builtin()).unwrap();
    assert!(calibration.warnings.is_empty(), "{:?}", calibration.warnings);
    assert_eq!(calibration.profile.version, "0.5", "engines/sglang.yaml is the base");
    let row = &calibration.rows[0];
    assert_eq!(
        (row.model.as_str(), row.quantization.as_str(), row.tp, row.pp),
        ("qwen3-30b-a3b", "fp8", 1, 1)
    );
    assert_eq!(row.reserve_mib, H100_CUDA_MIB, "the whole GPU");
    assert_eq!(row.mem_fraction_static, Some(0.83));
    // 81090 MiB less floor((30532122624 B of fp8 weights + 392920 x 96 KiB) / MiB) = 65953.
    assert_eq!(row.runtime_mib, Some(15_137));
    let (logged, fleetfit) = (row.logged_tokens.unwrap(), row.fleetfit_tokens.unwrap());
    assert_eq!(logged, 392_920);
    assert!(
        fleetfit <= logged,
        "fleetfit promises {fleetfit} tokens, SGLang had {logged}"
    );
    assert!(fleetfit as f64 >= 0.99 * logged as f64, "{fleetfit} of {logged}");
    // At most one MiB of 96 KiB tokens under.
    assert!(logged - fleetfit <= 11, "{fleetfit} of {logged}");
    let measured = &calibration.profile.measured;
    assert_eq!(measured.len(), 1);
    assert_eq!(
        (
            measured[0].model.as_str(),
            measured[0].runtime_mib,
            measured[0].from.as_str()
        ),
        ("qwen3-30b-a3b", 15_137, SGLANG_H100)
    );
}

/// Plans one SGLang replica of `model` with the calibrated profile, `tokens` of KV cache, and
/// the row's share of the GPU where `share` (else the replica's need); the plan's replicas.
fn plan_sglang(dir: &Path, row: &serde_json::Value, model: &str, tokens: u64, share: bool) -> Vec<serde_json::Value> {
    let fleet = dir.join("fleet.yaml");
    std::fs::write(&fleet, FLEET).unwrap();
    let deployments = dir.join("deployments.yaml");
    let utilization = if share {
        format!("    gpu_memory_utilization: {}\n", row["gpu_memory_utilization"])
    } else {
        String::new()
    };
    std::fs::write(
        &deployments,
        format!(
            "profiles: [profile.yaml]
deployments:
  - name: calibrated
    model: {model}
    engine: sglang
    quantizations: [{q}]
    tensor_parallel: [{tp}]
    pipeline_parallel: [{pp}]
    max_model_len: 8192
    kv_cache_tokens: {tokens}
    kv_cache_dtype: {kv}
{utilization}",
            q = row["quantization"].as_str().unwrap(),
            tp = row["tp"],
            pp = row["pp"],
            kv = row["kv_cache_dtype"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let out = fleetfit(&[
        "plan",
        "--fleet",
        path_str(&fleet),
        "--deployments",
        path_str(&deployments),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["replicas"].as_array().unwrap().clone()
}

#[test]
fn an_sglang_profile_plans_the_replica_with_its_runtime() {
    let (_d, log) = sglang_h100();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    let total = H100_CUDA_MIB.to_string();
    let run = fleetfit(&[
        "calibrate",
        "--format",
        "json",
        "--total-mib",
        &total,
        "--out",
        path_str(&profile),
        path_str(&log),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).unwrap();
    let row = &rows[0];
    let loaded = fleetfit::formats::profile_file::load(&profile).unwrap();
    assert_eq!(loaded.engine, fleetfit::domain::Engine::Sglang);
    assert_eq!(loaded.version, "0.5");
    let measured = &loaded.measured;
    assert_eq!(measured.len(), 1);
    assert_eq!(row["runtime_mib"].as_u64(), Some(measured[0].runtime_mib));
    let written = std::fs::read_to_string(&profile).unwrap();
    assert!(written.contains("kv_cache_tokens: 392920"), "{written}");

    let tokens = row["fleetfit_tokens"].as_u64().unwrap();
    let logged = row["logged_tokens"].as_u64().unwrap();
    for share in [true, false] {
        let replicas = plan_sglang(dir.path(), row, "qwen3-30b-a3b", tokens, share);
        assert_eq!(
            replicas.len(),
            1,
            "{tokens} tokens fit the room measured (share: {share})"
        );
        assert_eq!(replicas[0]["runtime_mib"].as_u64(), Some(measured[0].runtime_mib));
        let reserved = replicas[0]["memory_per_gpu_mib"].as_u64().unwrap();
        if share {
            assert_eq!(reserved, H100_CUDA_MIB, "the whole GPU, as SGLang took it");
        } else {
            assert!(reserved <= H100_CUDA_MIB && reserved + 1 >= H100_CUDA_MIB, "{reserved}");
        }
        // One token more than fleetfit's is past the room, and so is what SGLang logged plus one.
        for too_many in [tokens + 1, logged + 1] {
            let replicas = plan_sglang(dir.path(), row, "qwen3-30b-a3b", too_many, share);
            assert!(replicas.is_empty(), "{too_many} tokens placed (share: {share})");
        }
    }
}

#[test]
fn a_cut_short_sglang_log_is_refused_at_its_last_line() {
    let (_d, path) = sglang_h100();
    let full = std::fs::read_to_string(&path).unwrap();
    // Cut before the scheduler's line, after the KV pool and the graphs.
    let keep = line_of(&full, "max_total_num_tokens=") - 1;
    let (_e, cut) = sglang_edited(|t| t.lines().take(keep).collect::<Vec<_>>().join("\n") + "\n");
    let message = sglang_refused(
        &cut,
        keep,
        &format!("the log ends at line {keep} before SGLang's scheduler reports its KV cache"),
    );
    assert!(message.contains("cut short"), "{message}");
    // Cut right after the weights: the same.
    let keep = line_of(&full, "Load weight end.");
    let (_f, early) = sglang_edited(|t| t.lines().take(keep).collect::<Vec<_>>().join("\n"));
    sglang_refused(&early, keep, "cut short");
}

#[test]
fn an_sglang_log_that_contradicts_itself_is_refused() {
    let (_d, path) = sglang_h100();
    let full = std::fs::read_to_string(&path).unwrap();
    // Weights that are not the free memory they took.
    let (_e, weights) = sglang_edited(|t| t.replace("mem usage=29.15 GB", "mem usage=30.15 GB"));
    sglang_refused(
        &weights,
        line_of(&full, "Load weight end."),
        "the log contradicts itself",
    );
    // A pool larger than the fraction leaves: 49.33 - 78.48 x 0.20 = 33.63 GiB < 35.98.
    let (_f, fraction) = sglang_edited(|t| t.replace("mem_fraction_static=0.83", "mem_fraction_static=0.80"));
    let message = sglang_refused(
        &fraction,
        line_of(&full, "KV Cache is allocated."),
        "mem_fraction_static 0.8 leaves 33.63 GiB",
    );
    assert!(message.contains("the log contradicts itself"), "{message}");
    // A scheduler that counts other tokens than the pool.
    let (_g, tokens) = sglang_edited(|t| t.replace("max_total_num_tokens=392920", "max_total_num_tokens=400000"));
    sglang_refused(
        &tokens,
        line_of(&full, "max_total_num_tokens="),
        "the log contradicts itself",
    );
}

#[test]
fn an_sglang_log_without_its_version_or_total_is_refused_saying_what_to_give() {
    let (_d, path) = sglang_h100();
    let (_e, unnamed) = sglang_edited(|t| t.replace("sglang 0.5", "sglang"));
    sglang_refused(&unnamed, 0, "no SGLang version found");
    let (_f, older) = sglang_edited(|t| t.replace("sglang 0.5", "sglang 0.3.6"));
    sglang_refused(&older, 2, "SGLang 0.3.6 is not a version fleetfit reads (0.4 to 0.5)");
    // No --total-mib: SGLang does not log CUDA's total.
    let run = fleetfit(&["calibrate", path_str(&path)]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(path_str(&path)) && stderr.contains("pass --total-mib N"),
        "{stderr}"
    );
}

#[test]
fn vllm_and_sglang_logs_are_calibrated_apart() {
    let (_d, sglang) = sglang_h100();
    let vllm = log("h100-llama-3.1-8b-tp1-bf16.log");
    let run = fleetfit(&["calibrate", path_str(&vllm), path_str(&sglang), "--total-mib", "81090"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(path_str(&sglang)) && stderr.contains("calibrate one engine at a time"),
        "{stderr}"
    );
    // --total-mib where vLLM logs its own total: the two agree (79.19 GiB is 81090 MiB).
    let run = fleetfit(&["calibrate", path_str(&vllm), "--total-mib", "81090"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let run = fleetfit(&["calibrate", path_str(&vllm), "--total-mib", "80000"]);
    assert!(text(&run.stderr).contains("--total-mib 80000"), "{}", text(&run.stderr));
}

#[test]
fn the_sglang_docs_log_of_0_4_reads_its_pool_from_the_scheduler_line() {
    // The January 2025 docs run: no `mem usage`, no `#tokens`, its arguments in its header.
    let text = std::fs::read_to_string(data("engine-logs/sglang/80gb-llama-3.1-8b-tp1-bf16-docs-2025-01.log")).unwrap();
    let (_d, path) = temp_file("docs.log", &text.replace("sglang ~0.4.1/0.4.2", "sglang 0.4.1"));
    let run = engine_log::load_with(&path, Some(H100_CUDA_MIB)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.model, "meta-llama/Meta-Llama-3.1-8B-Instruct");
    assert_eq!(run.dtype, fleetfit::domain::Quantization::Bf16);
    assert_eq!((run.tp, run.max_model_len), (1, 131_072));
    assert_eq!(run.kv_cache_tokens, Some(444_500));
    assert_eq!((run.weights_gib, run.kv_cache_gib), (15.09, 54.26));
    assert_eq!(run.sglang.as_ref().unwrap().mem_fraction_static, Some(0.88));
    let calibration = calibrate::calibrate(&[run], None, Catalog::builtin()).unwrap();
    let row = &calibration.rows[0];
    let (logged, fleetfit) = (row.logged_tokens.unwrap(), row.fleetfit_tokens.unwrap());
    assert!(
        fleetfit <= logged && fleetfit as f64 >= 0.99 * logged as f64,
        "{fleetfit} of {logged}"
    );
}
