//! Properties over random inputs: every plan passes the checker and matches exhaustion on tiny
//! fleets; random byte mutations of valid files never panic the parsers.

use proptest::prelude::*;

use fleetfit::domain::SolveStatus;

use super::brute;
use super::common::*;

/// A random tiny fleet: 1-3 nodes, 1-3 GPUs each, two GPU types, two memory sizes of one type,
/// some with driver-reserved memory, some used, busy or unhealthy, nodes labelled east or west.
fn tiny_fleet() -> impl Strategy<Value = String> {
    fleet_of(3, 3)
}

/// A random fleet of 1 to `nodes` nodes of 1 to `gpus` GPUs, as [`tiny_fleet`].
pub(super) fn fleet_of(nodes: usize, gpus: usize) -> impl Strategy<Value = String> {
    let gpu = (
        0u8..2,
        prop_oneof![3 => Just(4096u64), 1 => Just(4608)],
        // Mostly idle or lightly used, so that plans place something (a property that sees
        // only empty plans proves little): see `the_generated_instances_include_...`.
        prop_oneof![5 => Just(0u64), 2 => Just(1024), 1 => Just(2048), 1 => Just(3800)],
        prop_oneof![6 => Just(0u32), 1 => Just(95)],
        prop_oneof![9 => Just(true), 1 => Just(false)],
        prop_oneof![3 => Just(0u64), 1 => Just(300)],
    );
    let node = (prop::collection::vec(gpu, 1..=gpus), prop::bool::ANY);
    prop::collection::vec(node, 1..=nodes).prop_map(|nodes| {
        let mut text = String::from("nodes:\n");
        for (n, (gpus, east)) in nodes.iter().enumerate() {
            text += &format!(
                "  - name: n{n}\n    labels: {{zone: {}}}\n    gpus:\n",
                if *east { "east" } else { "west" }
            );
            for (i, (t, memory, used, util, healthy, reserved)) in gpus.iter().enumerate() {
                text += &format!(
                    "      - {{index: {i}, type: {}, memory_mib: {memory}, reserved_mib: {reserved}, used_mib: {used}, utilization: {util}, healthy: {healthy}}}\n",
                    ["A", "B"][*t as usize]
                );
            }
        }
        text
    })
}

/// An engine profile for the tiny model (runtime by TP and PP, the last stage's activation
/// share, blocks of 16 tokens), written once; deployments without `overhead_mib` use it.
pub(super) fn tiny_profile() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("fleetfit-tiny-profile-{}.yaml", std::process::id()));
        std::fs::write(
            &path,
            "engine: vllm\nversion: '0.19'\nkv_block_tokens: 16\nmargin_mib: 10\nactivation:\n  - {model_type: tiny, mib: 200}\n  - {mib: 4000}\nactivation_pp_percent:\n  - {pp: 1, percent: 100}\n  - {percent: 107}\nnon_torch:\n  - {tp: 1, pp: 1, mib: 50}\n  - {tp: 1, mib: 20}\n  - {mib: 150}\n",
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    })
}

/// 1-3 random deployments of the tiny model, every rule in play: TP and PP (splits over nodes),
/// quantizations, spread, sharing, GPU types, node selectors, gpu_memory_utilization, the three
/// reserves, and runtime memory flat (`overhead_mib: 0`) or from an engine profile.
pub(super) fn tiny_deployments() -> impl Strategy<Value = String> {
    let dep = (
        (1u64..=2, 1u64..=4),
        prop::sample::subsequence(vec![1u64, 2], 1..=2),
        prop::sample::subsequence(vec![1u64, 2, 3], 1..=2),
        prop::sample::subsequence(vec!["bf16", "fp8"], 1..=2),
        (prop::bool::ANY, prop_oneof![2 => Just(false), 1 => Just(true)]),
        prop::option::of(prop::sample::select(vec!["A", "B"])),
        prop_oneof![3 => Just(false), 1 => Just(true)],
        prop::option::weighted(0.4, prop::sample::select(vec![0.3f64, 0.5, 0.8, 0.95])),
        (prop::sample::select(vec![8192u64, 32768]), prop::bool::ANY),
    );
    let policy = (
        prop_oneof![3 => Just(0u64), 1 => Just(1)],
        prop_oneof![3 => Just(0u64), 1 => Just(1), 1 => Just(2)],
        prop_oneof![3 => Just(0u64), 1 => Just(1)],
    );
    (prop::collection::vec(dep, 1..=3), policy).prop_map(|(deps, (per_node, fleet, per_type))| {
        let mut text = format!("profiles: ['{}']\npolicy: {{reserve: {{per_node: {per_node}, fleet: {fleet}, per_type: {{A: {per_type}}}}}}}\nmodels:\n  - {{id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16, model_type: tiny}}\ndeployments:\n", tiny_profile());
        for (i, ((replicas, priority), tp, pp, quants, (spread, share), gpu_type, east, gmu, (tokens, flat))) in
            deps.iter().enumerate()
        {
            text += &format!(
                "  - {{name: d{i}, model: tiny, replicas: {replicas}, priority: {priority}, tensor_parallel: {tp:?}, pipeline_parallel: {pp:?}, quantizations: [{}], spread: {spread}, share_gpu: {share}, kv_cache_tokens: {tokens}{}{}{}{}}}\n",
                quants.join(", "),
                if *flat { ", overhead_mib: 0" } else { "" },
                gpu_type.map(|t| format!(", gpu_types: [{t}]")).unwrap_or_default(),
                if *east { ", node_selector: {zone: east}" } else { "" },
                gmu.map(|g| format!(", gpu_memory_utilization: {g}")).unwrap_or_default(),
            );
        }
        text
    })
}

/// Tiny cases per run: a bounded number in `cargo test`, more through `scripts/brute.sh`.
pub(super) fn brute_cases() -> u32 {
    std::env::var("FLEETFIT_BRUTE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: brute_cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_tiny_instances_match_exhaustion(fleet in tiny_fleet(), deployments in tiny_deployments()) {
        brute::assert_matches_brute_force(&fleet, &deployments);
    }
}

#[test]
fn the_generated_instances_include_proven_and_nontrivial_ones() {
    // A property that never sees `optimal` (or only empty plans) proves little: the generator
    // must give proven plans that place something, and plans with demand left over.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut proven, mut short) = (0, 0);
    for _ in 0..32 {
        let fleet = tiny_fleet().new_tree(&mut runner).unwrap().current();
        let deployments = tiny_deployments().new_tree(&mut runner).unwrap().current();
        let (f, w) = parse(&fleet, &deployments);
        let solved = solve(&f, &w);
        let plan = solved.plan;
        if plan.status == SolveStatus::Optimal && plan.objective.placed_value > 0 {
            proven += 1;
        }
        if !plan.unplaced.is_empty() {
            short += 1;
        }
    }
    assert!(
        proven >= 6,
        "{proven} of 32 generated instances are proven and place something"
    );
    assert!(short >= 4, "{short} of 32 generated instances leave demand unplaced");
}

/// Runs a node and a GPU drill on a tiny instance and compares every case with exhaustion on
/// the fleet without its failed part: the shortcuts a drill takes from the base's proof (a
/// refilled start that reaches the base's optimum is optimal) must never claim a wrong optimum.
fn assert_drill_matches_brute_force(fleet_yaml: &str, deployments_yaml: &str) {
    use fleetfit::workflows::{Base, SweepOptions, drill};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.yaml"), fleet_yaml).unwrap();
    std::fs::write(dir.path().join("deployments.yaml"), deployments_yaml).unwrap();
    let base = Base::load(&dir.path().join("fleet.yaml"), &dir.path().join("deployments.yaml")).unwrap();
    let options = SweepOptions {
        jobs: 1,
        ..SweepOptions::default()
    };
    for failure in ["node", "gpu"] {
        let failure: drill::Failure = failure.parse().unwrap();
        let cases = drill::cases(&base, &failure).unwrap();
        let (_, results) = drill::run(&base, &failure, &options).unwrap();
        for (i, result) in results {
            let fleet = drill::without(&base.fleet, &cases[i]);
            let best = brute::optimum(&fleet, &base.workload);
            let o = &result.outcome.objective;
            let found = (o.placed_value, -(o.quantization_penalty as i64), -(o.gpus_used as i64));
            if result.outcome.status == SolveStatus::Optimal {
                assert_eq!(found, best, "case {}", result.failed);
                assert_eq!(
                    (o.bound, o.gap),
                    (None, None),
                    "case {}: a proven case has no gap",
                    result.failed
                );
            } else {
                assert!(found <= best, "case {} above the optimum", result.failed);
                // The bound a stopped case reports (its own, or the base's) holds its optimum.
                let bound = o.bound.expect("a stopped case reports a bound");
                assert!(
                    bound + 1e-6 >= best.0 as f64,
                    "case {}: bound {bound} below the optimum {}",
                    result.failed,
                    best.0
                );
                assert!(
                    o.gap.is_some_and(|g| (0.0..=1.0).contains(&g)),
                    "case {}",
                    result.failed
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: brute_cases() / 4, ..ProptestConfig::default() })]

    #[test]
    fn random_tiny_drills_match_exhaustion(fleet in tiny_fleet(), deployments in tiny_deployments()) {
        assert_drill_matches_brute_force(&fleet, &deployments);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic(seed in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), which in 0usize..4) {
        let sources = ["demo/fleet.yaml", "demo/deployments.yaml", "seed-405b/deployments-with-pp.yaml", "hf/deepseek-v3/config.json"];
        let mut bytes = std::fs::read(data(sources[which])).unwrap();
        for (index, byte) in &seed {
            let i = index.index(bytes.len());
            bytes[i] = *byte;
        }
        let dir = tempfile::tempdir().unwrap();
        let name = if which == 3 { "config.json" } else { "file.yaml" };
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let _ = fleetfit::formats::fleet_file::load(&path);
        let _ = fleetfit::formats::deployments_file::load(&path);
        let _ = fleetfit::formats::hf_config::load(&path);
    }
}
