//! GPU sharing (docs/rules.md §4, "Sharing"): workers of sharing deployments stack on a GPU
//! while their reservations fit its free memory; exclusive workers stay alone.

use super::brute::assert_matches_brute_force;
use super::common::*;

const GPU: &str = "nodes:\n  - name: n\n    gpus:\n      - {index: 0, type: A100-SXM4-80GB, memory_mib: 81920}\n";

fn small(name: &str, replicas: u64, gmu: f64, extra: &str) -> String {
    format!(
        "  - {{name: {name}, model: qwen2.5-0.5b, replicas: {replicas}, tensor_parallel: [1], share_gpu: true, gpu_memory_utilization: {gmu}{extra}}}\n"
    )
}

#[test]
fn two_045_workers_share_a_gpu_two_055_do_not() {
    let plan = plan_yaml(GPU, &format!("deployments:\n{}", small("a", 2, 0.45, "")));
    assert_eq!(placed(&plan, "a"), 2);
    assert_eq!(plan.objective.gpus_used, 1, "a shared GPU counts once");
    assert_eq!(plan.replicas[0].stages[0].gpus, plan.replicas[1].stages[0].gpus);
    let plan = plan_yaml(GPU, &format!("deployments:\n{}", small("b", 2, 0.55, "")));
    assert_eq!(placed(&plan, "b"), 1, "0.55 + 0.55 > 1");
    // Two deployments: 0.45 + 0.55 of 81920 MiB = 36864 + 45056 = 81920, exactly full.
    let plan = plan_yaml(
        GPU,
        &format!("deployments:\n{}{}", small("a", 1, 0.45, ""), small("b", 1, 0.55, "")),
    );
    assert_eq!(plan.replicas.len(), 2);
}

#[test]
fn used_mib_counts_against_the_sum() {
    // 8 GiB used by another job: 73728 MiB free holds two 0.45 workers (73728), not 0.45 + 0.55.
    let gpu =
        "nodes:\n  - name: n\n    gpus:\n      - {index: 0, type: A100-SXM4-80GB, memory_mib: 81920, used_mib: 8192}\n";
    let plan = plan_yaml(gpu, &format!("deployments:\n{}", small("a", 2, 0.45, "")));
    assert_eq!(placed(&plan, "a"), 2);
    let plan = plan_yaml(
        gpu,
        &format!(
            "deployments:\n{}{}",
            small("a", 1, 0.45, ", priority: 2"),
            small("b", 1, 0.55, "")
        ),
    );
    assert_eq!(plan.replicas.len(), 1);
    // The checker sums reservations per GPU against memory minus used.
    let (fleet, workload) = parse(
        gpu,
        &format!(
            "deployments:\n{}{}",
            small("a", 1, 0.45, ", priority: 2"),
            small("b", 1, 0.55, "")
        ),
    );
    let mut bad = plan.clone();
    let mut b = bad.replicas[0].clone();
    b.deployment = "b".into();
    b.memory_per_gpu_mib = 45056;
    bad.replicas.push(b);
    assert!(violated_rules(&fleet, &workload, &bad).contains(&"memory"));
}

#[test]
fn sharing_workers_never_land_on_an_exclusive_gpu() {
    // Two GPUs: an exclusive worker takes one; three sharing 0.3 workers stack on the other even
    // though the exclusive GPU has memory to spare.
    let fleet = "nodes:\n  - name: n\n    gpus:\n      - {index: 0, type: A100-SXM4-80GB, memory_mib: 81920}\n      - {index: 1, type: A100-SXM4-80GB, memory_mib: 81920}\n";
    let deployments = format!(
        "deployments:\n  - {{name: excl, model: qwen2.5-0.5b, tensor_parallel: [1], gpu_memory_utilization: 0.3, priority: 5}}\n{}",
        small("s", 4, 0.3, "")
    );
    let (f, w) = parse(fleet, &deployments);
    let plan = solve(&f, &w).plan;
    assert_eq!(placed(&plan, "excl"), 1);
    assert_eq!(placed(&plan, "s"), 3);
    let excl_gpu = plan.replicas.iter().find(|r| r.deployment == "excl").unwrap().stages[0].gpus[0];
    assert!(
        plan.replicas
            .iter()
            .filter(|r| r.deployment == "s")
            .all(|r| r.stages[0].gpus[0] != excl_gpu)
    );
    // A plan that puts a sharing worker beside the exclusive one is rejected.
    let mut bad = plan.clone();
    let s = bad.replicas.iter_mut().find(|r| r.deployment == "s").unwrap();
    s.stages[0].gpus = vec![excl_gpu];
    assert!(violated_rules(&f, &w, &bad).contains(&"occupancy"));
}

#[test]
fn without_gpu_memory_utilization_sharing_uses_the_need() {
    // qwen2.5-0.5b bf16 with 4096 tokens needs a few GiB: many fit one GPU.
    let plan = plan_yaml(
        GPU,
        "deployments:\n  - {name: a, model: qwen2.5-0.5b, replicas: 20, tensor_parallel: [1], share_gpu: true}\n",
    );
    let need = plan.replicas[0].memory_per_gpu_mib;
    assert_eq!(placed(&plan, "a") as u64, (81920 / need).min(20));
}

#[test]
fn sharing_with_tensor_parallel_keeps_a_replicas_gpus_distinct() {
    let fleet = format!("nodes:\n{}", idle_node("n", "A100-SXM4-80GB", 2, 81920));
    let plan = plan_yaml(
        &fleet,
        "deployments:\n  - {name: a, model: qwen2.5-7b, replicas: 3, tensor_parallel: [2], share_gpu: true, gpu_memory_utilization: 0.3}\n",
    );
    assert_eq!(placed(&plan, "a"), 3);
    assert!(plan.replicas.iter().all(|r| r.stages[0].gpus == vec![0, 1]));
}

#[test]
fn sharing_matches_exhaustion_on_tiny_fleets() {
    let tiny = "models:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\n";
    let fleet = format!(
        "nodes:\n{}  - name: m\n    gpus:\n      - {{index: 0, type: A, memory_mib: 8192, used_mib: 2048}}\n",
        idle_node("n", "A", 2, 8192)
    );
    let deployments = format!(
        "policy: {{overhead_mib: 0}}\n{tiny}deployments:\n  - {{name: s, model: tiny, replicas: 4, priority: 2, tensor_parallel: [1, 2], kv_cache_tokens: 32768, share_gpu: true}}\n  - {{name: t, model: tiny, replicas: 3, priority: 1, tensor_parallel: [1], kv_cache_tokens: 8192, share_gpu: true, gpu_memory_utilization: 0.25}}\n  - {{name: e, model: tiny, replicas: 1, priority: 3, tensor_parallel: [1], kv_cache_tokens: 8192}}\n"
    );
    assert_matches_brute_force(&fleet, &deployments);
}

/// On the demo, sharing the two small deployments: the same replicas as without sharing, on
/// fewer GPUs.
#[test]
fn sharing_small_models_frees_whole_gpus_on_the_demo() {
    let (fleet, shared) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let mut exclusive = shared.clone();
    exclusive.deployments.iter_mut().for_each(|d| d.share_gpu = false);
    let without = solve(&fleet, &exclusive).plan;
    // Ask for exactly what the exclusive plan placed, now with sharing.
    let mut same_demand = shared.clone();
    for d in &mut same_demand.deployments {
        d.replicas = placed(&without, &d.name) as u64;
    }
    let with = solve(&fleet, &same_demand).plan;
    assert_eq!(with.objective.placed_value, without.objective.placed_value);
    let freed = without.objective.gpus_used - with.objective.gpus_used;
    eprintln!(
        "sharing frees {freed} GPUs ({} -> {})",
        without.objective.gpus_used, with.objective.gpus_used
    );
    assert!(freed >= 20, "sharing frees only {freed} GPUs");
}

/// A node whose GPUs are free at two levels models them as two sharing classes: per GPU where a
/// two-GPU sharing replica fits, by pattern where only one-GPU workers do. A one-GPU deployment
/// that fits both has workers in both; its blocks are as many as its workers in each (before,
/// the per-GPU part was dealt into every block of the deployment, and assigning GPUs panicked on
/// the empty ones: seen in the repair steps' sub-models at 10,240 GPUs).
#[test]
fn one_gpu_workers_in_a_pattern_class_and_a_per_gpu_class_of_one_node() {
    let fleet = "nodes:
  - name: n
    gpus:
      - {index: 0, type: H100-SXM5-80GB, memory_mib: 81559}
      - {index: 1, type: H100-SXM5-80GB, memory_mib: 81559}
      - {index: 2, type: H100-SXM5-80GB, memory_mib: 81559}
      - {index: 3, type: H100-SXM5-80GB, memory_mib: 81559}
      - {index: 4, type: H100-SXM5-80GB, memory_mib: 81559, used_mib: 30000}
      - {index: 5, type: H100-SXM5-80GB, memory_mib: 81559, used_mib: 30000}
";
    // `a` (0.7 of 81559 = 57091 MiB) fits only the four idle GPUs, two per replica; `b` (0.2,
    // 16311 MiB) fits beside it there (one each) and three to a GPU on the two used ones.
    let deployments = format!(
        "deployments:
  - {{name: a, model: qwen2.5-7b, replicas: 2, priority: 10, tensor_parallel: [2], share_gpu: true, gpu_memory_utilization: 0.7}}
{}",
        small("b", 12, 0.2, "")
    );
    let (fleet, workload) = parse(fleet, &deployments);
    let plan = solve(&fleet, &workload).plan;
    assert_valid(&fleet, &workload, &plan);
    assert_eq!(placed(&plan, "a"), 2);
    assert_eq!(placed(&plan, "b"), 4 + 2 * 3);
}
