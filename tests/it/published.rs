//! Published vLLM runs against fleetfit's memory model (docs/memory.md).
//!
//! For every successful vLLM 0.19 run on an H100 80GB kept in `data/engine-logs/vllm/` (DEBUG
//! startup logs, their sources in `data/engine-logs/SOURCES.md`), the largest `kv_cache_tokens`
//! fleetfit still places for that exact shape on one node of H100s (`memory_mib: 81559`,
//! `reserved_mib: 469`: CUDA's 79.19 GiB) with the built-in vLLM profile is at most what vLLM
//! allocated and at least 90% of it; the planner confirms the largest figure and refuses one
//! block more. The table in docs/memory.md is this test's output (`FLEETFIT_WRITE_DOCS=1`
//! rewrites it).

use std::fmt::Write;
use std::path::PathBuf;

use fleetfit::catalog::Catalog;
use fleetfit::domain::{KvCacheDtype, ModelArch, Quantization};
use fleetfit::formats::engine_log::{self, EngineRun};
use fleetfit::memory;
use fleetfit::workflows::calibrate::{quantization_of, resolve_model};

use super::common::*;

const H100_FLEET: &str =
    "nodes:\n  - {name: h100-01, gpu_type: H100-SXM5-80GB, gpu_count: 8, memory_mib: 81559, reserved_mib: 469}\n";
/// CUDA's view of that H100: 81,559 - 469 MiB.
const H100_CUDA_MIB: u64 = 81_090;

/// The vLLM logs of `data/engine-logs/vllm`, parsed (summaries and other versions left out).
fn runs() -> Vec<EngineRun> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data("engine-logs/vllm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files.into_iter().filter_map(|f| engine_log::load(&f).ok()).collect()
}

/// A run fleetfit can rebuild: model, quantization, and the deployment at its settings.
struct Case {
    run: EngineRun,
    model: ModelArch,
    q: Quantization,
}

impl Case {
    fn of(run: EngineRun) -> Option<Case> {
        let entry = resolve_model(Catalog::builtin(), &run.model)?;
        let q = quantization_of(&run).ok()?;
        Some(Case {
            model: (*entry.model).clone(),
            q,
            run,
        })
    }

    fn deployments(&self, kv_cache_tokens: u64) -> String {
        let r = &self.run;
        let kv = match r.kv_cache_dtype {
            KvCacheDtype::Auto => "auto",
            KvCacheDtype::Fp8 => "fp8",
        };
        format!(
            "deployments:\n  - {{name: run, model: {}, quantizations: [{}], tensor_parallel: [{}], pipeline_parallel: [{}], \
             gpu_memory_utilization: {}, max_model_len: {}, kv_cache_tokens: {kv_cache_tokens}, kv_cache_dtype: {kv}}}\n",
            self.model.id, self.q, r.tp, r.pp, r.gpu_memory_utilization, r.max_model_len
        )
    }

    /// The largest KV tokens fleetfit's model leaves this shape on the H100 node.
    fn fleetfit_tokens(&self) -> Option<u64> {
        let (_, workload) = parse(H100_FLEET, &self.deployments(1));
        let d = &workload.deployments[0];
        let reserve = d.gpu_memory_utilization?.floor_mul(H100_CUDA_MIB);
        let runtime = d.runtime_mib(self.q, self.run.tp, self.run.pp);
        memory::kv_capacity_tokens(
            &self.model,
            self.q,
            self.run.tp,
            self.run.pp,
            d.kv_cache_dtype,
            reserve,
            runtime,
            1,
        )
    }

    /// What fleetfit promised before engine profiles: a flat 2048 MiB, the utilization of
    /// nvidia-smi's total, and a 2-byte cache whatever the weights.
    fn flat_tokens(&self) -> Option<u64> {
        let r = &self.run;
        let reserve = (r.gpu_memory_utilization * 81_559.0).floor() as u64;
        let kv = r.kv_cache_dtype;
        // A 2-byte cache for fp32 weights too: computed as bf16 KV on the same weights.
        let (w_numer, w_denom) = memory::weight_bytes_per_gpu(&self.model, self.q, r.tp, r.pp);
        let (kv_numer, kv_denom) = memory::kv_bytes_per_token(&self.model, Quantization::Bf16, r.tp, r.pp, kv);
        let room = (u128::from(reserve.checked_sub(2048)?) << 20) * w_denom;
        let left = room.checked_sub(w_numer)?;
        u64::try_from(left * kv_denom / (kv_numer * w_denom)).ok()
    }
}

fn successful_h100_runs() -> Vec<Case> {
    runs()
        .into_iter()
        .filter(|r| r.version.starts_with("0.19") && r.failure.is_none() && r.kv_cache_tokens.is_some())
        .filter(|r| (r.total_gib - 79.19).abs() < 0.005)
        .map(|r| {
            let name = r.file_name();
            Case::of(r).unwrap_or_else(|| panic!("{name}: the catalog has no model for it"))
        })
        .collect()
}

#[test]
fn every_published_h100_run_gets_at_most_what_vllm_allocated_and_at_least_90_percent() {
    let cases = successful_h100_runs();
    assert!(cases.len() >= 30, "only {} runs parsed", cases.len());
    let mut table = String::from(
        "| run | shape | vLLM tokens | fleetfit before | ratio | fleetfit now | ratio |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    let mut worst = (f64::MAX, String::new());
    for case in &cases {
        let r = &case.run;
        let logged = r.kv_cache_tokens.unwrap();
        let ours = case.fleetfit_tokens().unwrap_or(0);
        let before = case.flat_tokens().unwrap_or(0);
        let ratio = ours as f64 / logged as f64;
        if ratio < worst.0 {
            worst = (ratio, r.file_name());
        }
        writeln!(
            table,
            "| {} | {} {} tp{} pp{} u{}{} | {logged} | {before} | {:.3} | {ours} | {:.3} |",
            r.file_name().trim_end_matches(".log"),
            case.model.id,
            case.q,
            r.tp,
            r.pp,
            r.gpu_memory_utilization,
            if r.kv_cache_dtype == KvCacheDtype::Fp8 {
                " kv fp8"
            } else {
                ""
            },
            before as f64 / logged as f64,
            ratio
        )
        .unwrap();
        assert!(
            ours <= logged,
            "{}: fleetfit promises {ours} tokens, vLLM allocated {logged}",
            r.file_name()
        );
        assert!(
            ours * 10 >= logged * 9,
            "{}: fleetfit gives {ours} tokens, under 90% of vLLM's {logged}",
            r.file_name()
        );
    }
    eprintln!("worst ratio {:.4} ({})", worst.0, worst.1);
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/memory.md");
    let text = std::fs::read_to_string(&docs).unwrap_or_default();
    let (begin, end) = ("<!-- published-runs:begin -->\n", "<!-- published-runs:end -->");
    if std::env::var_os("FLEETFIT_WRITE_DOCS").is_some() {
        let (head, rest) = text.split_once(begin).expect("docs/memory.md has the table markers");
        let (_, tail) = rest.split_once(end).expect("docs/memory.md has the end marker");
        std::fs::write(&docs, format!("{head}{begin}{table}{end}{tail}")).unwrap();
    } else {
        assert!(
            text.contains(&table),
            "docs/memory.md's table is out of date: run FLEETFIT_WRITE_DOCS=1 cargo test published"
        );
    }
}

#[test]
fn the_planner_places_exactly_the_tokens_the_model_gives() {
    // The planner, not just the arithmetic: the largest figure places one replica, one block
    // more places none. Three runs of different shapes keep the test quick.
    let cases = successful_h100_runs();
    for name in [
        "h100-qwen2.5-72b-tp2-bf16.log",
        "h100-llama-3.1-8b-tp1-pp2-bf16.log",
        "h100-llama-3.3-70b-fp8dyn-tp4-bf16.log",
    ] {
        let case = cases.iter().find(|c| c.run.file_name() == name).unwrap();
        let tokens = case.fleetfit_tokens().unwrap();
        let plan = plan_yaml(H100_FLEET, &case.deployments(tokens));
        assert_eq!(plan.replicas.len(), 1, "{name}: {tokens} tokens should place");
        let plan = plan_yaml(H100_FLEET, &case.deployments(tokens + 1));
        assert_eq!(plan.replicas.len(), 0, "{name}: {} tokens should not", tokens + 1);
    }
}

/// Failed published runs, as set up: refused, with a reason that names the term.
#[test]
fn published_failures_are_refused_naming_the_term() {
    // (source log, model, quantization, tp, utilization, max_model_len, the term named)
    let failures = [
        // vLLM 0.10-0.14: gpt-oss-120b on one H100 at the default context leaves no KV room.
        (
            "h100-gpt-oss-120b-tp1-mxfp4-failed-0.10.1.log",
            "gpt-oss-120b",
            "mxfp4",
            1,
            "0.9",
            131072,
            "KV tokens <",
        ),
        (
            "h100-gpt-oss-120b-tp1-mxfp4-util0.97-len5120-failed-0.14.1.log",
            "gpt-oss-120b",
            "mxfp4",
            1,
            "0.95",
            131072,
            "KV tokens <",
        ),
        // llm-d summary: Llama-3.3-70B FP8 on one H100 at 0.9 ends at -1.44 GiB of KV cache (with
        // vLLM 0.19's smaller activation peak, about 1 GiB: 3,264 tokens, not 16,000).
        (
            "h100-llama-3.3-70b-fp8dyn-tp1-failed-llmd.log",
            "llama-3.3-70b-instruct",
            "fp8",
            1,
            "0.9",
            16000,
            "KV tokens <",
        ),
        // llm-d summary: Qwen3-32B on one H100 at 0.9 fits 16,000 tokens but not 32,000.
        (
            "h100-qwen3-32b-tp1-bf16-len32000-failed-llmd.log",
            "qwen3-32b",
            "bf16",
            1,
            "0.9",
            32000,
            "KV tokens <",
        ),
        // llm-d summary: DeepSeek-R1 runs out of memory loading its weights on one H100.
        (
            "h100-deepseek-r1-tp1-fp8-failed-llmd.log",
            "deepseek-v3",
            "fp8",
            1,
            "0.9",
            16000,
            "more than",
        ),
    ];
    for (log, model, q, tp, u, len, term) in failures {
        assert!(data("engine-logs/vllm").join(log).is_file(), "{log} is kept");
        let deployments = format!(
            "deployments:\n  - {{name: run, model: {model}, quantizations: [{q}], tensor_parallel: [{tp}], gpu_memory_utilization: {u}, max_model_len: {len}}}\n"
        );
        let (fleet, workload) = parse(
            H100_FLEET.replace("gpu_count: 8", "gpu_count: 1").as_str(),
            &deployments,
        );
        let plan = solve(&fleet, &workload).plan;
        assert!(
            plan.replicas.is_empty(),
            "{log}: fleetfit places what vLLM could not start"
        );
        let reasons = fleetfit::explain::reasons(&fleet, &workload.policy, &workload.deployments[0], 0);
        assert!(
            reasons.iter().any(|r| r.contains(term)),
            "{log}: no reason names '{term}': {reasons:?}"
        );
    }
}
