//! Synthetic fleets and workloads (`fleetfit gen`): mixed GPU types, partly used and busy GPUs,
//! real catalog models, demand below or (with `tight`) above capacity. Seeded and deterministic,
//! so every benchmark figure can be reproduced.

use std::fmt::Write;

pub use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub gpus: u64,
    pub deployments: u64,
    pub seed: u64,
    /// Ask for about 1.5x what the fleet holds instead of about 0.7x.
    pub tight: bool,
}

/// (type, memory MiB, GPUs per node, share of the fleet in %).
const GPU_MIX: [(&str, u64, u64, u64); 4] = [
    ("H100-SXM5-80GB", 81559, 8, 40),
    ("A100-SXM4-80GB", 81920, 8, 35),
    ("L40S", 46068, 4, 15),
    ("A100-SXM4-40GB", 40960, 8, 10),
];

/// (catalog id, rough GPUs per replica at bf16 on 80 GB, quantizations, TP sizes, shares small GPUs).
const MODELS: [(&str, u64, &str, &str, bool); 14] = [
    ("qwen2.5-0.5b", 1, "[bf16]", "[1]", true),
    ("qwen3-0.6b", 1, "[bf16]", "[1]", true),
    ("llama-3.2-3b", 1, "[bf16, fp8]", "[1]", true),
    ("llama-3.1-8b", 1, "[bf16, fp8]", "[1, 2]", true),
    ("qwen2.5-7b", 1, "[bf16, fp8]", "[1, 2]", true),
    ("gemma-2-9b", 1, "[bf16, fp8]", "[1, 2]", false),
    ("phi-4", 1, "[bf16, fp8, int4]", "[1, 2]", false),
    ("mistral-nemo-base-2407", 1, "[bf16, fp8]", "[1, 2]", false),
    ("qwen2.5-32b", 2, "[bf16, fp8, int4]", "[1, 2, 4]", false),
    ("mixtral-8x7b-v0.1", 2, "[bf16, fp8]", "[2, 4]", false),
    ("llama-3.1-70b", 4, "[bf16, fp8]", "[2, 4, 8]", false),
    ("qwen2.5-72b", 4, "[bf16, fp8, int4]", "[2, 4, 8]", false),
    ("llama-3.1-405b", 8, "[fp8]", "[8]", false),
    ("deepseek-v3", 16, "[fp8]", "[8]", false),
];

/// The fleet file's YAML.
pub fn fleet_yaml(spec: &GenSpec) -> String {
    let mut rng = Rng::new(spec.seed);
    let mut out = format!("# fleetfit gen --gpus {} --seed {}\nnodes:\n", spec.gpus, spec.seed);
    let mut made = 0;
    let mut node = 0;
    while made < spec.gpus {
        let roll = rng.below(100);
        let mut acc = 0;
        let &(gpu_type, memory_mib, per_node, _) = GPU_MIX
            .iter()
            .find(|m| {
                acc += m.3;
                roll < acc
            })
            .unwrap_or(&GPU_MIX[0]);
        let count = per_node.min(spec.gpus - made);
        let zone = ["east", "west", "north", "south"][(node / 16) % 4];
        let rack = node / 4;
        let name = format!(
            "{}-{node:05}",
            gpu_type.split('-').next().unwrap_or("gpu").to_ascii_lowercase()
        );
        writeln!(out, "  - name: {name}\n    labels: {{zone: {zone}, rack: r{rack}}}").unwrap();
        // Most nodes are idle and alike; some carry other jobs.
        if rng.chance(75) {
            writeln!(
                out,
                "    gpu_type: {gpu_type}\n    gpu_count: {count}\n    memory_mib: {memory_mib}"
            )
            .unwrap();
        } else {
            out.push_str("    gpus:\n");
            for i in 0..count {
                let mut extra = String::new();
                match rng.below(100) {
                    0..=19 => {
                        let used = memory_mib * (5 + rng.below(55)) / 100;
                        write!(extra, ", used_mib: {used}, utilization: {}", 10 + rng.below(60)).unwrap();
                    }
                    20..=27 => write!(extra, ", used_mib: {}, utilization: 97", memory_mib * 95 / 100).unwrap(),
                    28 => extra.push_str(", healthy: false"),
                    _ => {}
                }
                writeln!(
                    out,
                    "      - {{index: {i}, type: {gpu_type}, memory_mib: {memory_mib}{extra}}}"
                )
                .unwrap();
            }
        }
        made += count;
        node += 1;
    }
    out
}

/// The deployments file's YAML.
pub fn deployments_yaml(spec: &GenSpec) -> String {
    let mut rng = Rng::new(spec.seed.wrapping_mul(31).wrapping_add(7));
    let target_gpus = spec.gpus * if spec.tight { 150 } else { 70 } / 100;
    let per_deployment = (target_gpus / spec.deployments.max(1)).max(1);
    let mut out = format!(
        "# fleetfit gen --gpus {} --deployments {} --seed {}{}\npolicy:\n  reserve: {{per_node: 0, fleet: {}}}\ndeployments:\n",
        spec.gpus,
        spec.deployments,
        spec.seed,
        if spec.tight { " --tight" } else { "" },
        spec.gpus / 100
    );
    for d in 0..spec.deployments {
        let &(model, gpus_each, quants, tps, small) = rng.pick(&MODELS);
        let replicas = (per_deployment / gpus_each).clamp(1, 400);
        let priority = 1 + rng.below(10);
        let len = *rng.pick(&[4096u64, 8192, 16384, 32768]);
        write!(
            out,
            "  - name: {}-{d:04}\n    model: {model}\n    replicas: {replicas}\n    priority: {priority}\n",
            model.replace('.', "-")
        )
        .unwrap();
        writeln!(
            out,
            "    quantizations: {quants}\n    tensor_parallel: {tps}\n    max_model_len: {len}"
        )
        .unwrap();
        if gpus_each >= 16 {
            out.push_str("    pipeline_parallel: [2]\n");
        }
        if small && rng.chance(40) {
            writeln!(
                out,
                "    share_gpu: true\n    gpu_memory_utilization: {}",
                rng.pick(&["0.2", "0.3", "0.45"])
            )
            .unwrap();
        } else if rng.chance(30) {
            out.push_str("    gpu_memory_utilization: 0.9\n");
        }
        if gpus_each >= 4 && rng.chance(30) {
            out.push_str("    spread: true\n");
        }
        if rng.chance(15) {
            writeln!(
                out,
                "    node_selector: {{zone: {}}}",
                rng.pick(&["east", "west", "north", "south"])
            )
            .unwrap();
        }
        if gpus_each >= 4 && rng.chance(30) {
            out.push_str("    gpu_types: [H100-SXM5-80GB, A100-SXM4-80GB]\n");
        }
    }
    out
}

impl GenSpec {
    /// A `--tight --seed 1` fleet of `gpus` GPUs and `deployments` deployments, as the
    /// benchmarks and tests use.
    pub fn tight(gpus: u64, deployments: u64) -> Self {
        GenSpec {
            gpus,
            deployments,
            seed: 1,
            tight: true,
        }
    }
}

/// A generated fleet and workload read back through the file formats, as `fleetfit gen` writes
/// them (for the library's own tests).
#[cfg(test)]
pub fn generated(spec: &GenSpec) -> (crate::domain::Fleet, crate::domain::Workload) {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, deployments) = (dir.path().join("fleet.yaml"), dir.path().join("deployments.yaml"));
    std::fs::write(&fleet, fleet_yaml(spec)).unwrap();
    std::fs::write(&deployments, deployments_yaml(spec)).unwrap();
    (
        crate::formats::fleet_file::load(&fleet).unwrap(),
        crate::formats::deployments_file::load(&deployments).unwrap(),
    )
}
