//! A brute-force enumerator that checks the solver on tiny fleets.
//!
//! It lists every way to place every replica (every allowed quantization, TP, PP and GPU type,
//! every choice of GPUs for every stage), keeps the plans fleetfit's checker accepts, and finds
//! the lexicographic optimum by exhaustion. Every rule but the totals is monotone (adding a
//! replica never repairs a violation), so partial plans that break one are pruned.

use fleetfit::check::{self, Rule};
use fleetfit::domain::make_plan;
use fleetfit::domain::{Fleet, PlacedReplica, Plan, SolveStatus, Stage, Workload};
use fleetfit::memory::{self, MemoryInputs};

use super::common::*;

/// Every replica placement of deployment `d`, valid or not by the rules (the checker decides).
fn candidates(fleet: &Fleet, workload: &Workload, d: usize) -> Vec<PlacedReplica> {
    let dep = &workload.deployments[d];
    let inputs = MemoryInputs::of(dep);
    let mut out = Vec::new();
    for &q in &dep.quantizations {
        for &tp in &dep.tensor_parallel {
            for &pp in &dep.pipeline_parallel {
                let need = memory::footprint(&inputs, q, tp, pp).need_mib;
                // Every stage: tp GPUs of one node, as (node, type, largest CUDA-visible memory, sorted indices).
                let mut stage_options: Vec<(String, String, u64, Vec<u32>)> = Vec::new();
                for node in &fleet.nodes {
                    for subset in subsets(node.gpus.len(), tp as usize) {
                        let gpus: Vec<_> = subset.iter().map(|&i| &node.gpus[i]).collect();
                        stage_options.push((
                            node.name.clone(),
                            gpus[0].gpu_type.clone(),
                            gpus.iter().map(|g| g.memory_mib - g.reserved_mib).max().unwrap_or(0),
                            gpus.iter().map(|g| g.index).collect(),
                        ));
                    }
                }
                // pp stages in non-decreasing option order (stage order does not matter), in any
                // split over nodes; GPUs of one type may differ in memory (the checker judges each).
                for combo in multisets(stage_options.len(), pp as usize) {
                    let first = &stage_options[combo[0]];
                    let largest = combo.iter().map(|&c| stage_options[c].2).max().unwrap_or(0);
                    let Some(reserve) = memory::reserve_mib(need, dep.gpu_memory_utilization, largest) else {
                        continue;
                    };
                    out.push(PlacedReplica {
                        deployment: dep.name.clone(),
                        replica: 0,
                        quantization: q.name().into(),
                        tensor_parallel: tp,
                        pipeline_parallel: pp,
                        gpu_type: first.1.clone(),
                        memory_per_gpu_mib: reserve,
                        runtime_mib: Some(dep.runtime_mib(q, tp, pp)),
                        stages: combo
                            .iter()
                            .map(|&c| Stage {
                                node: stage_options[c].0.clone(),
                                gpus: stage_options[c].3.clone(),
                            })
                            .collect(),
                    });
                }
            }
        }
    }
    out
}

fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    if k > n {
        return vec![];
    }
    let mut out = Vec::new();
    for first in 0..n {
        for rest in subsets(n - first - 1, k - 1) {
            let mut s = vec![first];
            s.extend(rest.iter().map(|r| r + first + 1));
            out.push(s);
        }
    }
    out
}

fn multisets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for first in 0..n {
        for rest in multisets(n - first, k - 1) {
            let mut s = vec![first];
            s.extend(rest.iter().map(|r| r + first));
            out.push(s);
        }
    }
    out
}

/// The best (placed_value, -penalty, -gpus) over every valid plan.
pub fn optimum(fleet: &Fleet, workload: &Workload) -> (u64, i64, i64) {
    let all: Vec<(usize, PlacedReplica)> = (0..workload.deployments.len())
        .flat_map(|d| candidates(fleet, workload, d).into_iter().map(move |c| (d, c)))
        .collect();
    let mut best = (0, 0, 0);
    let mut chosen = Vec::new();
    search(fleet, workload, &all, 0, &mut chosen, &mut best);
    best
}

/// The largest `key` over every valid plan (the empty plan included).
pub fn best_by<K: Ord + Copy>(fleet: &Fleet, workload: &Workload, key: &dyn Fn(&Plan) -> K) -> K {
    let all: Vec<(usize, PlacedReplica)> = (0..workload.deployments.len())
        .flat_map(|d| candidates(fleet, workload, d).into_iter().map(move |c| (d, c)))
        .collect();
    let mut best = key(&as_plan(fleet, workload, &[]));
    let mut chosen = Vec::new();
    search_by(fleet, workload, &all, 0, &mut chosen, key, &mut best);
    best
}

fn search_by<K: Ord + Copy>(
    fleet: &Fleet,
    workload: &Workload,
    all: &[(usize, PlacedReplica)],
    from: usize,
    chosen: &mut Vec<PlacedReplica>,
    key: &dyn Fn(&Plan) -> K,
    best: &mut K,
) {
    let plan = as_plan(fleet, workload, chosen);
    if check::check(fleet, workload, &plan)
        .iter()
        .any(|v| v.rule != Rule::Totals)
    {
        return;
    }
    *best = (*best).max(key(&plan));
    for i in from..all.len() {
        chosen.push(all[i].1.clone());
        search_by(fleet, workload, all, i, chosen, key, best);
        chosen.pop();
    }
}

fn as_plan(fleet: &Fleet, workload: &Workload, chosen: &[PlacedReplica]) -> Plan {
    let mut replicas = chosen.to_vec();
    let mut counts = std::collections::BTreeMap::new();
    for r in &mut replicas {
        let n = counts.entry(r.deployment.clone()).or_insert(0);
        r.replica = *n;
        *n += 1;
    }
    make_plan(fleet, workload, replicas, SolveStatus::Optimal, None)
}

fn search(
    fleet: &Fleet,
    workload: &Workload,
    all: &[(usize, PlacedReplica)],
    from: usize,
    chosen: &mut Vec<PlacedReplica>,
    best: &mut (u64, i64, i64),
) {
    let plan = as_plan(fleet, workload, chosen);
    if check::check(fleet, workload, &plan)
        .iter()
        .any(|v| v.rule != Rule::Totals)
    {
        return;
    }
    let o = &plan.objective;
    *best = (*best).max((o.placed_value, -(o.quantization_penalty as i64), -(o.gpus_used as i64)));
    // The same candidate may repeat: sharing replicas can sit on the same GPUs. Depth is bounded
    // because more replicas than requested break the (monotone) replicas rule.
    for i in from..all.len() {
        chosen.push(all[i].1.clone());
        search(fleet, workload, all, i, chosen, best);
        chosen.pop();
    }
}

/// Solves with HiGHS and compares with exhaustion: equal on every level where the model is
/// exact; where it reports a restriction, never above the optimum and a bound never below it.
pub fn assert_matches_brute_force(fleet_yaml: &str, deployments_yaml: &str) {
    let (fleet, workload) = parse(fleet_yaml, deployments_yaml);
    let solved = solve(&fleet, &workload);
    let plan = solved.plan;
    let o = &plan.objective;
    let solver = (o.placed_value, -(o.quantization_penalty as i64), -(o.gpus_used as i64));
    let best = optimum(&fleet, &workload);
    // Bound and gap: absent on a proven plan; on a stopped one, the bound is at least the value
    // and the gap is what they make.
    match (plan.status, o.bound, o.gap) {
        (SolveStatus::Optimal, None, None) => {}
        (SolveStatus::TimeLimit, Some(bound), Some(gap)) => {
            assert!(
                bound + 1e-9 >= o.placed_value as f64,
                "bound {bound} below the value\n{}",
                plan.to_json()
            );
            let expected = if bound > 0.0 {
                (bound - o.placed_value as f64) / bound
            } else {
                0.0
            };
            assert!((gap - expected).abs() < 1e-9, "gap {gap}, expected {expected}");
        }
        other => panic!("status, bound and gap disagree: {other:?}\n{}", plan.to_json()),
    }
    if solved.stats.restrictions.is_empty() {
        assert_eq!(solver, best, "solver vs brute force\n{}", plan.to_json());
        assert_eq!(plan.status, SolveStatus::Optimal, "{}", plan.to_json());
        // Every level's record says how it was proven.
        assert_eq!(solved.stats.levels.len(), 3, "{:?}", solved.stats.levels);
        assert!(
            solved.stats.levels.iter().all(|l| l.proven()),
            "{:?}",
            solved.stats.levels
        );
        // The relaxed LP (no spread, multi-GPU sharing packed like one-GPU) bounds every plan.
        let bound = fleetfit::solver::relaxation_bound(&fleet, &workload, std::time::Duration::from_secs(10))
            .unwrap()
            .expect("a tiny LP solves");
        assert!(
            bound + 1e-6 >= best.0 as f64,
            "LP bound {bound} below the optimum {}",
            best.0
        );
    } else if plan.status == SolveStatus::Optimal {
        // A restricted model proves only that nothing fits anywhere.
        assert_eq!(solver, best, "solver vs brute force\n{}", plan.to_json());
        assert_eq!(best.0, 0, "a restricted model claims a proof of a non-empty plan");
    } else {
        assert!(solver <= best, "solver above the optimum\n{}", plan.to_json());
        let bound = o.bound.expect("a time-limited plan has a bound");
        assert!(
            bound + 1e-6 >= best.0 as f64,
            "bound {bound} below the optimum {}",
            best.0
        );
    }
}

const TINY: &str = "models:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\n";

#[test]
fn counted_nodes_hold_mixed_tp_sizes_exactly() {
    // Two alike nodes of 3 GPUs: TP 2 groups use at most 2 per node (floor(3/2) * 2).
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 3, 4096),
        idle_node("b", "A", 3, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: two, model: tiny, replicas: 3, priority: 3, tensor_parallel: [2], kv_cache_tokens: 32768}}\n  - {{name: one, model: tiny, replicas: 3, priority: 1, tensor_parallel: [1], kv_cache_tokens: 32768}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn counted_nodes_with_four_and_two() {
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 4, 4096),
        idle_node("b", "A", 4, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: four, model: tiny, replicas: 1, priority: 5, tensor_parallel: [4], kv_cache_tokens: 32768}}\n  - {{name: two, model: tiny, replicas: 3, priority: 2, tensor_parallel: [2], kv_cache_tokens: 32768}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn nested_free_memory_thresholds_on_one_node() {
    // GPUs with 4096, 3072 and 2048 MiB free; TP 1 needs 3072, TP 2 needs 1536, fp8 TP 1 1536+.
    let fleet = "nodes:\n  - name: n\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096}\n      - {index: 1, type: A, memory_mib: 4096, used_mib: 1024}\n      - {index: 2, type: A, memory_mib: 4096, used_mib: 2048}\n      - {index: 3, type: A, memory_mib: 4096, used_mib: 2048}\n";
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: big, model: tiny, replicas: 2, priority: 2, quantizations: [bf16, fp8], tensor_parallel: [1, 2], kv_cache_tokens: 32768}}\n  - {{name: small, model: tiny, replicas: 2, priority: 1, quantizations: [fp8], tensor_parallel: [1], kv_cache_tokens: 8192}}\n"
    );
    assert_matches_brute_force(fleet, &deps);
}

#[test]
fn pipeline_stages_across_nodes_with_spread_and_reserves() {
    let fleet = format!(
        "nodes:\n{}{}{}",
        idle_node("a", "A", 2, 4096),
        idle_node("b", "A", 2, 4096),
        idle_node("c", "B", 2, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0, reserve: {{per_type: {{B: 1}}}}}}\n{TINY}deployments:\n  - {{name: p, model: tiny, replicas: 2, priority: 2, tensor_parallel: [1, 2], pipeline_parallel: [1, 2], kv_cache_tokens: 32768, spread: true}}\n  - {{name: q, model: tiny, replicas: 2, priority: 1, tensor_parallel: [1], kv_cache_tokens: 32768}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn pooled_spread_stages_need_distinct_nodes_next_to_whole_node_blocks() {
    // Two alike 4-GPU nodes: a TP 4 replica fills a node, so spread TP 2 replicas compete for
    // the other one (at most one per node, whichever TP), while plain TP 2 replicas may double up.
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 4, 4096),
        idle_node("b", "A", 4, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: whole, model: tiny, replicas: 1, priority: 3, tensor_parallel: [4], kv_cache_tokens: 32768}}\n  - {{name: spread, model: tiny, replicas: 3, priority: 2, tensor_parallel: [1, 2], kv_cache_tokens: 32768, spread: true}}\n  - {{name: plain, model: tiny, replicas: 2, priority: 1, tensor_parallel: [2], kv_cache_tokens: 32768}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn a_spread_deployment_too_big_for_two_per_node_is_pooled_exactly() {
    // TP 4 on 4-GPU nodes can never put two replicas on one node: spread changes nothing.
    let fleet = format!(
        "nodes:\n{}{}{}",
        idle_node("a", "A", 4, 4096),
        idle_node("b", "A", 4, 4096),
        idle_node("c", "A", 2, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: big, model: tiny, replicas: 3, priority: 3, tensor_parallel: [4], kv_cache_tokens: 32768, spread: true}}\n  - {{name: small, model: tiny, replicas: 3, priority: 1, tensor_parallel: [2], kv_cache_tokens: 32768}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn spread_pipeline_splits_two_stages_and_one() {
    // The first case: 3 stages over a 2-GPU and a 1-GPU node, spread.
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 2, 4096),
        idle_node("b", "A", 1, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: m, model: tiny, replicas: 2, tensor_parallel: [1], pipeline_parallel: [3], kv_cache_tokens: 8192, spread: true}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn one_type_two_memory_sizes_in_one_replica() {
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 2, 4096),
        idle_node("b", "A", 2, 4608)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: m, model: tiny, replicas: 1, tensor_parallel: [2], pipeline_parallel: [2], kv_cache_tokens: 32768}}\n  - {{name: s, model: tiny, replicas: 1, priority: 2, tensor_parallel: [1], kv_cache_tokens: 32768}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn sharing_pipelines_across_nodes_stack_replicas() {
    // The third case: two 1-GPU nodes, two sharing TP 1 x PP 2 replicas on both.
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 1, 4096),
        idle_node("b", "A", 1, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: s, model: tiny, replicas: 2, quantizations: [fp8], tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 8192, share_gpu: true, gpu_memory_utilization: 0.3}}\n"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn sharing_spread_pipelines_with_selectors_and_every_reserve() {
    let fleet = "nodes:\n  - name: a\n    labels: {zone: east}\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096}\n      - {index: 1, type: A, memory_mib: 4608, used_mib: 1024}\n  - name: b\n    labels: {zone: east}\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096}\n  - name: c\n    labels: {zone: west}\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096}\n      - {index: 1, type: B, memory_mib: 4096}\n";
    let deps = format!(
        "policy: {{overhead_mib: 0, reserve: {{per_node: 0, fleet: 1, per_type: {{B: 1}}}}}}\n{TINY}deployments:\n  - {{name: s, model: tiny, replicas: 2, priority: 2, quantizations: [fp8], tensor_parallel: [1], pipeline_parallel: [1, 2], kv_cache_tokens: 8192, share_gpu: true, spread: true, node_selector: {{zone: east}}}}\n  - {{name: t, model: tiny, replicas: 2, quantizations: [fp8], tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 8192, share_gpu: true}}\n"
    );
    assert_matches_brute_force(fleet, &deps);
}

#[test]
fn a_sharing_pipeline_with_two_pp_sizes_next_to_a_busy_node() {
    // Found by the property test: HiGHS 1.16, given the all-zero start, reported level 1 as 1
    // and returned the start. The level is now solved again without a start.
    let fleet = "nodes:\n  - name: n0\n    gpus:\n      - {index: 0, type: B, memory_mib: 4096}\n  - name: n1\n    gpus:\n      - {index: 0, type: B, memory_mib: 4096}\n  - name: n2\n    gpus:\n      - {index: 0, type: B, memory_mib: 4096, used_mib: 1024}\n      - {index: 1, type: B, memory_mib: 4096, used_mib: 1024}\n      - {index: 2, type: B, memory_mib: 4096}\n";
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d0, model: tiny, replicas: 1, tensor_parallel: [1], pipeline_parallel: [2, 3], quantizations: [fp8], share_gpu: true, kv_cache_tokens: 8192, gpu_memory_utilization: 0.8}}\n"
    );
    assert_matches_brute_force(fleet, &deps);
}

#[test]
fn spread_sharing_and_exclusive_pipelines_under_a_fleet_reserve() {
    // Found by the property test: given the level-2 solution as a start, HiGHS 1.16 claimed
    // level 3 optimal at 1 GPU while its solution used 2; levels 2 and 3 now get no start.
    let fleet = "nodes:\n  - name: n0\n    labels: {zone: west}\n    gpus:\n      - {index: 0, type: B, memory_mib: 4096}\n  - name: n1\n    labels: {zone: east}\n    gpus:\n      - {index: 0, type: A, memory_mib: 4608}\n      - {index: 1, type: A, memory_mib: 4608}\n      - {index: 2, type: B, memory_mib: 4096}\n";
    let deps = format!(
        "policy: {{overhead_mib: 0, reserve: {{fleet: 2}}}}\n{TINY}deployments:\n  - {{name: d0, model: tiny, replicas: 1, priority: 3, tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 8192, gpu_types: [A]}}\n  - {{name: d1, model: tiny, replicas: 1, priority: 4, tensor_parallel: [1], pipeline_parallel: [1, 2], spread: true, share_gpu: true, kv_cache_tokens: 32768, node_selector: {{zone: east}}}}\n  - {{name: d2, model: tiny, replicas: 1, priority: 3, tensor_parallel: [1, 2], pipeline_parallel: [1, 3], quantizations: [bf16, fp8], spread: true, share_gpu: true, kv_cache_tokens: 8192, node_selector: {{zone: east}}}}\n"
    );
    assert_matches_brute_force(fleet, &deps);
}

#[test]
fn a_full_fleet_is_proven_on_every_level() {
    // Every eligible GPU used: all three levels are proven, nothing says "stopped".
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 8, 4096),
        idle_node("b", "A", 8, 4096)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 20, tensor_parallel: [1, 2], kv_cache_tokens: 32768}}\n"
    );
    let (f, w) = parse(&fleet, &deps);
    let solved = solve(&f, &w);
    assert_eq!(solved.plan.objective.gpus_used, 16);
    assert_eq!(solved.plan.status, SolveStatus::Optimal);
    assert!(
        solved.stats.levels.iter().all(|l| l.proven()),
        "{}",
        solved.stats.summary()
    );
}

#[test]
fn one_utilization_over_two_sizes_is_exact() {
    // Two memory sizes of one type and one gpu_memory_utilization: a pipelined replica combines
    // them (each GPU reserves its own share), and the plan is proven.
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 1, 4096),
        idle_node("b", "A", 1, 4608)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 1, tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 8192, gpu_memory_utilization: 0.9}}\n"
    );
    let (f, w) = parse(&fleet, &deps);
    let solved = solve(&f, &w);
    assert!(solved.stats.restrictions.is_empty(), "{:?}", solved.stats.restrictions);
    assert_eq!(solved.plan.status, SolveStatus::Optimal);
    assert_eq!(solved.plan.replicas.len(), 1, "one stage on each size");
    assert_eq!(
        solved.plan.replicas[0].memory_per_gpu_mib, 4147,
        "floor(0.9 * 4608), the larger share"
    );
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn two_fractions_over_two_sizes_stand_on_a_ladder() {
    // Two memory sizes of one type and two gpu_memory_utilization fractions: on idle GPUs every
    // fraction ranks the GPUs alike, so they stand on one ladder and the plan is proven.
    let fleet = format!(
        "nodes:\n{}{}",
        idle_node("a", "A", 1, 4096),
        idle_node("b", "A", 1, 4608)
    );
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 1, tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 8192, gpu_memory_utilization: 0.9}}\n  - {{name: e, model: tiny, replicas: 1, priority: 0, tensor_parallel: [1], kv_cache_tokens: 8192, gpu_memory_utilization: 0.8}}\n"
    );
    let (f, w) = parse(&fleet, &deps);
    let solved = solve(&f, &w);
    assert!(solved.stats.restrictions.is_empty(), "{:?}", solved.stats.restrictions);
    assert_eq!(solved.plan.status, SolveStatus::Optimal);
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn a_restricted_model_claims_no_proof() {
    // Two sizes of one type whose used memory ranks them differently for a plain need (GPU a has
    // more free) and for half of CUDA's memory (only b holds its share): no ladder, one kind per
    // size, and a pipelined replica that could combine them; the plan is honest about it.
    let fleet = "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 4608, used_mib: 2400}\n  - name: b\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096, used_mib: 2000}\n".to_string();
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 1, tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 1024, gpu_memory_utilization: 0.5}}\n  - {{name: e, model: tiny, replicas: 1, priority: 0, tensor_parallel: [1], kv_cache_tokens: 1024}}\n"
    );
    let (f, w) = parse(&fleet, &deps);
    let solved = solve(&f, &w);
    assert_eq!(solved.stats.restrictions.len(), 1, "{:?}", solved.stats.restrictions);
    assert_eq!(solved.plan.status, SolveStatus::TimeLimit);
    assert_matches_brute_force(&fleet, &deps);
}

#[test]
fn a_restriction_shows_in_the_plan_and_the_checker_refuses_optimal_with_one() {
    // The case of `a_restricted_model_claims_no_proof`: the plan says why it claims no proof,
    // in its JSON and its table; the checker refuses `optimal` beside a restriction.
    let fleet = "nodes:\n  - name: a\n    gpus:\n      - {index: 0, type: A, memory_mib: 4608, used_mib: 2400}\n  - name: b\n    gpus:\n      - {index: 0, type: A, memory_mib: 4096, used_mib: 2000}\n";
    let deps = format!(
        "policy: {{overhead_mib: 0}}\n{TINY}deployments:\n  - {{name: d, model: tiny, replicas: 1, tensor_parallel: [1], pipeline_parallel: [2], kv_cache_tokens: 1024, gpu_memory_utilization: 0.5}}\n  - {{name: e, model: tiny, replicas: 1, priority: 0, tensor_parallel: [1], kv_cache_tokens: 1024}}\n"
    );
    let (f, w) = parse(fleet, &deps);
    let mut plan = solve(&f, &w).plan;
    assert_eq!(plan.status, SolveStatus::TimeLimit);
    assert_eq!(plan.restrictions.len(), 1, "{}", plan.to_json());
    assert!(plan.to_json().contains("\"restrictions\""));
    assert!(
        fleetfit::formats::table::render(&plan)
            .contains("note: not claiming optimality: GPU type A reports 2 memory sizes")
    );
    plan.status = SolveStatus::Optimal;
    (plan.objective.bound, plan.objective.gap) = (None, None);
    let violations = fleetfit::check::check(&f, &w, &plan);
    assert!(
        violations.iter().any(|v| v.message.contains("narrower than the rules")),
        "{violations:?}"
    );
}
