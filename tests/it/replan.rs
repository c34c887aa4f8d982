//! `fleetfit replan`: zero moves on an unchanged fleet, only the lost node's replicas moved, the
//! move budget, invalid running replicas with reasons, idempotence, make-before-break and marked
//! dips, every migration simulated by the checker, and minimal moves against exhaustion.

use std::time::Duration;

use fleetfit::check::check_migration;
use fleetfit::domain::{Fleet, Plan, SolveStatus, Workload};
use fleetfit::solver::SolveOptions;
use fleetfit::workflows::replan::{Replan, ReplanOptions, replan};
use proptest::prelude::*;

use super::brute;
use super::common::*;

const TINY: &str = "models:\n  - {id: tiny, params: 1073741824, layers: 8, hidden_size: 1024, heads: 8, kv_heads: 8, head_dim: 128, dtype: bf16}\n";

fn deployments(list: &str) -> String {
    format!("policy: {{overhead_mib: 0}}\n{TINY}deployments:\n{list}")
}

fn nodes(names: &[&str], gpus: u32) -> String {
    let mut text = String::from("nodes:\n");
    for n in names {
        text += &format!("  - {{name: {n}, gpu_type: A, gpu_count: {gpus}, memory_mib: 4096}}\n");
    }
    text
}

/// Re-plans and checks the result twice: the plan's rules and the migration, simulated.
fn checked_replan(fleet: &Fleet, workload: &Workload, current: &Plan, options: &ReplanOptions) -> Replan {
    let r = replan(fleet, workload, current, options).unwrap_or_else(|e| panic!("replan failed: {e}"));
    assert_valid(fleet, workload, &r.plan);
    let violations = check_migration(fleet, workload, current, &r.plan);
    assert!(violations.is_empty(), "{violations:?}\n{}", r.plan.to_json());
    r
}

fn default_options() -> ReplanOptions {
    ReplanOptions {
        solve: SolveOptions {
            time_limit: Duration::from_secs(30),
            ..SolveOptions::default()
        },
        ..ReplanOptions::default()
    }
}

#[test]
fn an_unchanged_fleet_gives_zero_moves_and_replan_is_idempotent() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let today = solve(&fleet, &workload).plan;
    let again = checked_replan(&fleet, &workload, &today, &default_options());
    assert_eq!(again.plan.objective.moves, Some(0));
    assert_eq!(again.plan.migration.as_deref(), Some(&[][..]));
    assert_eq!(again.plan.status, SolveStatus::Optimal);
    assert_eq!(again.plan.replicas, today.replicas);
    // Replan on its own output: still nothing to do.
    let twice = checked_replan(&fleet, &workload, &again.plan, &default_options());
    assert_eq!(twice.plan.to_json(), again.plan.to_json());
}

#[test]
fn a_removed_node_moves_only_its_replicas() {
    let fleet_text = nodes(&["a", "b", "c"], 2);
    let list = "  - {name: web, model: tiny, replicas: 3, priority: 2, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let (fleet, workload) = parse(&fleet_text, &deployments(list));
    let today = solve(&fleet, &workload).plan;
    let lost = today.replicas[0].stages[0].node.clone();
    let on_lost = today.replicas.iter().filter(|r| r.stages[0].node == lost).count() as u64;
    let mut tomorrow = fleet.clone();
    tomorrow.nodes.retain(|n| n.name != lost);
    let r = checked_replan(&tomorrow, &workload, &today, &default_options());
    assert_eq!(r.plan.objective.moves, Some(on_lost));
    assert_eq!(r.forced_moves, on_lost);
    assert_eq!(r.plan.objective.placed_value, 6);
    assert_eq!(r.plan.status, SolveStatus::Optimal);
    // Every replica that did not run on the lost node is still there, unchanged.
    for kept in today.replicas.iter().filter(|x| x.stages[0].node != lost) {
        assert!(
            r.plan.replicas.iter().any(|x| x.stages == kept.stages),
            "{kept:?} moved"
        );
    }
    assert_eq!(r.invalid.len() as u64, on_lost);
    assert!(
        r.invalid[0].reason.contains(&format!("on unknown node '{lost}'")),
        "{:?}",
        r.invalid
    );
    // The checker refuses a moves bound above the moves, and one below them on an optimal plan.
    for (bound, why) in [(on_lost + 1, "above the"), (on_lost - 1, "above their bound")] {
        let mut claimed = r.plan.clone();
        claimed.objective.moves_bound = Some(bound);
        let violations = check_migration(&tomorrow, &workload, &today, &claimed);
        assert!(violations.iter().any(|v| v.message.contains(why)), "{violations:?}");
    }
}

#[test]
fn make_before_break_where_a_spare_gpu_exists() {
    // web runs on a:0; tomorrow a:0 is busy with another job. a:1 is free: start there, then stop.
    let list = "  - {name: web, model: tiny, replicas: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let (fleet, workload) = parse(&nodes(&["a"], 2), &deployments(list));
    let today = solve(&fleet, &workload).plan;
    assert_eq!(today.replicas[0].stages[0].gpus, [0]);
    let mut tomorrow = fleet.clone();
    tomorrow.nodes[0].gpus[0].used_mib = 4000;
    tomorrow.nodes[0].gpus[0].utilization = 97;
    let r = checked_replan(&tomorrow, &workload, &today, &default_options());
    let steps = r.plan.migration.as_deref().unwrap();
    let actions: Vec<(&str, bool)> = steps.iter().map(|s| (s.action.as_str(), s.break_before_make)).collect();
    assert_eq!(actions, [("start", false), ("stop", false)]);
    assert_eq!(steps[0].stages[0].gpus, [1]);
    assert!(r.invalid[0].reason.contains("not eligible"), "{:?}", r.invalid);
}

#[test]
fn a_marked_dip_where_the_replacement_needs_the_same_gpu() {
    // One GPU; tomorrow web must run fp8 instead of bf16: the old worker stops first.
    let (fleet, workload) = parse(
        &nodes(&["a"], 1),
        &deployments(
            "  - {name: web, model: tiny, replicas: 1, quantizations: [bf16], tensor_parallel: [1], kv_cache_tokens: 32768}\n",
        ),
    );
    let today = solve(&fleet, &workload).plan;
    let (_, changed) = parse(
        &nodes(&["a"], 1),
        &deployments(
            "  - {name: web, model: tiny, replicas: 1, quantizations: [fp8], tensor_parallel: [1], kv_cache_tokens: 32768}\n",
        ),
    );
    let r = checked_replan(&fleet, &changed, &today, &default_options());
    let steps = r.plan.migration.as_deref().unwrap();
    let actions: Vec<(&str, bool)> = steps.iter().map(|s| (s.action.as_str(), s.break_before_make)).collect();
    assert_eq!(actions, [("stop", true), ("start", false)]);
    assert!(
        r.invalid[0].reason.contains("quantization 'bf16' is not in"),
        "{:?}",
        r.invalid
    );
    // The checker refuses the same steps without the mark, or in the other order.
    let mut unmarked = r.plan.clone();
    unmarked.migration.as_mut().unwrap()[0].break_before_make = false;
    assert!(!check_migration(&fleet, &changed, &today, &unmarked).is_empty());
    let mut swapped = r.plan.clone();
    let m = swapped.migration.as_mut().unwrap();
    m.swap(0, 1);
    m[0].step = 1;
    m[1].step = 2;
    m[1].break_before_make = true;
    let violations = check_migration(&fleet, &changed, &today, &swapped);
    assert!(
        violations.iter().any(|v| v.message.contains("does not share")),
        "{violations:?}"
    );
    // A wrong move count is caught too.
    let mut miscounted = r.plan.clone();
    miscounted.objective.moves = Some(0);
    assert!(!check_migration(&fleet, &changed, &today, &miscounted).is_empty());
}

#[test]
fn invalid_running_replicas_are_reported_with_reasons() {
    let list = "  - {name: gone, model: tiny, replicas: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: many, model: tiny, replicas: 2, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: wide, model: tiny, replicas: 1, tensor_parallel: [2], kv_cache_tokens: 32768}\n";
    let (fleet, workload) = parse(&nodes(&["a", "b", "c"], 2), &deployments(list));
    let today = solve(&fleet, &workload).plan;
    assert_eq!(today.replicas.len(), 4);
    // Tomorrow: `gone` is removed, `many` asks for 1, `wide` may only use TP 1.
    let changed = "  - {name: many, model: tiny, replicas: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: wide, model: tiny, replicas: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let (_, tomorrow) = parse(&nodes(&["a"], 1), &deployments(changed));
    let r = checked_replan(&fleet, &tomorrow, &today, &default_options());
    let reasons: Vec<String> = r
        .invalid
        .iter()
        .map(|i| format!("{}: {}", i.deployment, i.reason))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].starts_with("gone: no deployment 'gone'"), "{reasons:?}");
    assert!(reasons[1].starts_with("many: only 1 replicas of many"), "{reasons:?}");
    assert!(
        reasons[2].starts_with("wide: tensor_parallel 2 is not allowed"),
        "{reasons:?}"
    );
    assert_eq!(r.forced_moves, 3);
}

#[test]
fn the_move_budget_is_never_exceeded() {
    // small runs on a:0 and b:0; tomorrow big (TP 2, priority 5) is asked for. Placing it means
    // moving a small replica: 2 moves for value 7; within 1 move nothing better than today's 2.
    let (fleet, yesterday) = parse(
        &nodes(&["a", "b"], 2),
        &deployments(
            "  - {name: small, model: tiny, replicas: 2, spread: true, tensor_parallel: [1], kv_cache_tokens: 32768}\n",
        ),
    );
    let today = solve(&fleet, &yesterday).plan;
    assert_ne!(today.replicas[0].stages[0].node, today.replicas[1].stages[0].node);
    let (_, workload) = parse(
        &nodes(&["a", "b"], 2),
        &deployments(
            "  - {name: small, model: tiny, replicas: 2, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: big, model: tiny, replicas: 1, priority: 5, tensor_parallel: [2], kv_cache_tokens: 32768}\n",
        ),
    );
    for (budget, value) in [(0, 2), (1, 2), (2, 7), (3, 7)] {
        let options = ReplanOptions {
            max_moves: Some(budget),
            ..default_options()
        };
        let r = checked_replan(&fleet, &workload, &today, &options);
        let moves = r.plan.objective.moves.unwrap();
        assert!(moves <= budget, "budget {budget}: {moves} moves");
        assert_eq!(r.plan.objective.placed_value, value, "budget {budget}");
    }
    // A budget below the replicas that must stop anyway is bad input.
    let mut tomorrow = fleet.clone();
    tomorrow.nodes.retain(|n| n.name != today.replicas[0].stages[0].node);
    let options = ReplanOptions {
        max_moves: Some(0),
        ..default_options()
    };
    let err = replan(&tomorrow, &workload, &today, &options).unwrap_err();
    assert!(err.to_string().contains("--max-moves"), "{err}");
}

#[test]
fn keep_priority_pins_running_replicas() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let today = solve(&fleet, &workload).plan;
    let mut tomorrow = fleet.clone();
    tomorrow.nodes.retain(|n| n.name != "h100-02");
    let options = ReplanOptions {
        keep_priority: Some(8),
        ..default_options()
    };
    let r = checked_replan(&tomorrow, &workload, &today, &options);
    for running in &today.replicas {
        let priority = workload.deployment(&running.deployment).unwrap().priority;
        if priority >= 8 && running.stages.iter().all(|s| s.node != "h100-02") {
            assert!(
                r.plan.replicas.iter().any(|x| fleetfit::workflows::replan::identity(x)
                    == fleetfit::workflows::replan::identity(running)),
                "{} replica {} moved",
                running.deployment,
                running.replica
            );
        }
    }
}

/// Moves between two plans, counted here (not with the crate's `moves`): per deployment, the
/// larger replica count less the workers that run unchanged (same shape, nodes and GPUs).
fn count_moves(current: &Plan, new: &Plan) -> u64 {
    let worker = |r: &fleetfit::domain::PlacedReplica| {
        format!(
            "{} {} {} {} {} {:?}",
            r.deployment, r.quantization, r.tensor_parallel, r.pipeline_parallel, r.gpu_type, r.stages
        )
    };
    let mut names: Vec<&str> = current
        .replicas
        .iter()
        .chain(&new.replicas)
        .map(|r| r.deployment.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|d| {
            let mut before: Vec<String> = current
                .replicas
                .iter()
                .filter(|r| r.deployment == d)
                .map(worker)
                .collect();
            let after: Vec<String> = new.replicas.iter().filter(|r| r.deployment == d).map(worker).collect();
            let (c, n) = (before.len() as u64, after.len() as u64);
            let mut kept = 0;
            for w in &after {
                if let Some(i) = before.iter().position(|b| b == w) {
                    before.swap_remove(i);
                    kept += 1;
                }
            }
            c.max(n) - kept
        })
        .sum()
}

/// The fewest moves among the plans of the highest value, by exhaustion.
fn brute_replan(fleet: &Fleet, workload: &Workload, current: &Plan) -> (u64, u64) {
    let (value, negative) = brute::best_by(fleet, workload, &|p: &Plan| {
        (p.objective.placed_value, -(count_moves(current, p) as i64))
    });
    (value, (-negative) as u64)
}

/// A tiny fleet whose GPU `broken` (counted over the fleet) fails tomorrow.
fn tiny_case() -> impl Strategy<Value = (String, String, usize)> {
    let fleet = (1usize..=3, 1u32..=2).prop_map(|(n, g)| nodes(&["a", "b", "c"][..n], g));
    let dep = (
        1u64..=3,
        1u64..=3,
        prop::sample::subsequence(vec![1u64, 2], 1..=2),
        prop::bool::ANY,
    );
    let deps = prop::collection::vec(dep, 1..=2).prop_map(|deps| {
        let mut list = String::new();
        for (i, (replicas, priority, tp, share)) in deps.iter().enumerate() {
            list += &format!(
                "  - {{name: d{i}, model: tiny, replicas: {replicas}, priority: {priority}, tensor_parallel: {tp:?}, share_gpu: {share}, kv_cache_tokens: 8192}}\n"
            );
        }
        deployments(&list)
    });
    (fleet, deps, 0usize..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replans_of_tiny_fleets_match_exhaustion((fleet_text, deps, broken) in tiny_case()) {
        let (fleet, workload) = parse(&fleet_text, &deps);
        let today = solve(&fleet, &workload).plan;
        let mut tomorrow = fleet.clone();
        let gpus: Vec<(usize, usize)> = (0..fleet.nodes.len())
            .flat_map(|n| (0..fleet.nodes[n].gpus.len()).map(move |g| (n, g)))
            .collect();
        let (n, g) = gpus[broken % gpus.len()];
        tomorrow.nodes[n].gpus[g].healthy = false;
        let r = checked_replan(&tomorrow, &workload, &today, &default_options());
        let (value, fewest) = brute_replan(&tomorrow, &workload, &today);
        let o = &r.plan.objective;
        prop_assert!(o.placed_value <= value);
        prop_assert_eq!(o.moves, Some(count_moves(&today, &r.plan)));
        if o.placed_value == value {
            // At the best value the moves are at least the fewest, and their bound at most.
            prop_assert!(o.moves.unwrap() >= fewest);
            prop_assert!(o.moves_bound.is_none_or(|b| b <= fewest), "{}", r.plan.to_json());
            if o.moves_bound.is_none() {
                prop_assert_eq!(o.moves.unwrap(), fewest, "moves claimed minimal: {}", r.plan.to_json());
            }
        }
        if r.plan.status == SolveStatus::Optimal {
            prop_assert_eq!((o.placed_value, o.moves.unwrap()), (value, fewest), "{}", r.plan.to_json());
        }
    }
}

#[test]
fn the_readme_nightly_session_runs_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let today = dir.path().join("today.json");
    let tomorrow = dir.path().join("tomorrow.json");
    let (today, tomorrow) = (today.to_str().unwrap(), tomorrow.to_str().unwrap());
    let demo = ["--deployments", "data/demo/deployments.yaml"];
    let out = fleetfit(&[
        "plan",
        "--fleet",
        "data/demo/fleet.yaml",
        demo[0],
        demo[1],
        "--out",
        today,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let replan_args = [
        "replan",
        "--fleet",
        "data/demo/fleet-tomorrow.yaml",
        demo[0],
        demo[1],
        "--current",
        today,
        "--out",
        tomorrow,
    ];
    let out = fleetfit(&replan_args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    assert_eq!(shown, readme_output("fleetfit replan"));
    let check = [
        "check",
        "--fleet",
        "data/demo/fleet-tomorrow.yaml",
        demo[0],
        demo[1],
        "--current",
        today,
        "--plan",
        tomorrow,
    ];
    let out = fleetfit(&check);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        readme_output("fleetfit check --fleet data/demo/fleet-tomorrow.yaml")[0]
    );
    // Tampered steps fail the check: the migration reversed.
    let mut plan: fleetfit::domain::Plan = serde_json::from_str(&std::fs::read_to_string(tomorrow).unwrap()).unwrap();
    let steps = plan.migration.as_mut().unwrap();
    steps.reverse();
    for (i, s) in steps.iter_mut().enumerate() {
        s.step = i as u64 + 1;
    }
    std::fs::write(tomorrow, plan.to_json()).unwrap();
    assert_eq!(fleetfit(&check).status.code(), Some(1));
}

#[test]
fn bad_replan_input_exits_2_naming_the_file_or_flag() {
    let (_dir, bad) = temp_file("current.json", "{\"status\": \"optimal\", \"replicas\": 3}");
    let demo = [
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
    ];
    let mut args = vec!["replan"];
    args.extend(demo);
    args.extend(["--current", bad.to_str().unwrap()]);
    let out = fleetfit(&args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("current.json"), "{stderr}");
    // Tomorrow's fleet forces 2 stops: a budget of 1 cannot be met.
    let dir = tempfile::tempdir().unwrap();
    let today = dir.path().join("today.json");
    let mut plan = vec!["plan"];
    plan.extend(demo);
    plan.extend(["--out", today.to_str().unwrap()]);
    assert_eq!(fleetfit(&plan).status.code(), Some(0));
    let args = [
        "replan",
        "--fleet",
        "data/demo/fleet-tomorrow.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--current",
        today.to_str().unwrap(),
        "--max-moves",
        "1",
    ];
    let out = fleetfit(&args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-moves") && stderr.contains("must stop anyway"),
        "{stderr}"
    );
}

#[test]
fn a_double_booked_running_plan_loses_only_the_replica_in_conflict() {
    // Running: web twice on a:0 (one GPU, two exclusive workers) and low on b:0. Only the second
    // web gives way; low, lower in priority, stays.
    let list = "  - {name: web, model: tiny, replicas: 2, priority: 5, tensor_parallel: [1], kv_cache_tokens: 32768}\n  - {name: low, model: tiny, replicas: 1, priority: 1, tensor_parallel: [1], kv_cache_tokens: 32768}\n";
    let (fleet, workload) = parse(&nodes(&["a", "b"], 2), &deployments(list));
    let mut today = solve(&fleet, &workload).plan;
    let web: Vec<usize> = (0..today.replicas.len())
        .filter(|&i| today.replicas[i].deployment == "web")
        .collect();
    today.replicas[web[1]].stages = today.replicas[web[0]].stages.clone();
    let r = checked_replan(&fleet, &workload, &today, &default_options());
    assert_eq!(r.invalid.len(), 1, "{:?}", r.invalid);
    assert_eq!(r.invalid[0].deployment, "web");
    assert!(r.invalid[0].reason.contains("not all of them share"), "{:?}", r.invalid);
    assert_eq!(r.plan.objective.placed_value, 11);
    assert_eq!(r.plan.objective.moves, Some(1));
}

#[test]
fn moves_after_losing_the_busiest_node_of_512_gpus_are_minimal_or_bounded() {
    // Issue 28, finding 8: the moves are proven minimal, or the plan says it is not so, with a
    // lower bound, and never claims optimal.
    let spec = fleetfit::synth::GenSpec {
        gpus: 512,
        deployments: 32,
        seed: 1,
        tight: true,
    };
    let (fleet, workload) = parse(
        &fleetfit::synth::fleet_yaml(&spec),
        &fleetfit::synth::deployments_yaml(&spec),
    );
    let today = solve(&fleet, &workload).plan;
    let mut per_node: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &today.replicas {
        for s in &r.stages {
            *per_node.entry(s.node.as_str()).or_default() += s.gpus.len();
        }
    }
    let busiest = per_node
        .iter()
        .max_by_key(|&(n, g)| (*g, std::cmp::Reverse(*n)))
        .unwrap()
        .0
        .to_string();
    let mut tomorrow = fleet.clone();
    tomorrow.nodes.retain(|n| n.name != busiest);
    let r = checked_replan(&tomorrow, &workload, &today, &default_options());
    let o = &r.plan.objective;
    let moves = o.moves.unwrap();
    assert_eq!(moves, count_moves(&today, &r.plan));
    assert!(r.forced_moves > 0);
    match o.moves_bound {
        None => assert_eq!(moves, r.forced_moves, "moves claimed minimal"),
        Some(bound) => {
            assert!(bound <= moves && bound >= r.forced_moves, "{bound} vs {moves}");
            assert_eq!(r.plan.status, SolveStatus::TimeLimit);
        }
    }
}

/// The core plans around pinned replicas (replan's neighbourhoods pin through it, never by
/// editing the fleet): the pins stay exactly, spread holds across pins and new replicas, the
/// joined plan passes the checker, and it never claims `optimal` (optimal only among plans that
/// keep the pins).
#[test]
fn a_pinned_solve_keeps_its_pins_and_claims_nothing() {
    let fleet_yaml = nodes(&["n1", "n2", "n3"], 2);
    let deployments_yaml = deployments(
        "  - {name: a, model: tiny, replicas: 3, spread: true, tensor_parallel: [1]}\n  - {name: b, model: tiny, replicas: 2, tensor_parallel: [1]}\n",
    );
    let (fleet, workload) = parse(&fleet_yaml, &deployments_yaml);
    let free = solve(&fleet, &workload).plan;
    assert_eq!(free.status, SolveStatus::Optimal);
    // One `a` on n3's GPU 1 and one `b` on n1's GPU 0, whatever the free plan chose.
    let mut pins = Vec::new();
    for (deployment, node, gpu) in [("a", "n3", 1u32), ("b", "n1", 0)] {
        let mut r = free
            .replicas
            .iter()
            .find(|r| r.deployment == deployment)
            .unwrap()
            .clone();
        r.replica = 7;
        r.stages[0].node = node.into();
        r.stages[0].gpus = vec![gpu];
        pins.push(r);
    }
    let options = SolveOptions {
        pinned: pins.clone(),
        time_limit: Duration::from_secs(30),
        ..SolveOptions::default()
    };
    let solved = fleetfit::solver::solve(&fleet, &workload, &options).unwrap();
    assert_valid(&fleet, &workload, &solved.plan);
    for pin in &pins {
        assert!(
            solved.plan.replicas.contains(pin),
            "pin {pin:?} moved:\n{}",
            solved.plan.to_json()
        );
    }
    let on = |d: &str, node: &str| {
        solved
            .plan
            .replicas
            .iter()
            .filter(|r| r.deployment == d && r.stages[0].node == node)
            .count()
    };
    assert_eq!(on("a", "n3"), 1, "spread broken around the pin");
    // The pins cost nothing here: every replica is placed, as in the free plan.
    assert_eq!(solved.plan.objective.placed_value, free.objective.placed_value);
    assert_eq!(solved.plan.status, SolveStatus::TimeLimit);
    assert!(solved.stats.restrictions.iter().any(|r| r.contains("pinned")));
    // Its records describe what was left around the pins: none claims a proof of the whole.
    assert!(!solved.stats.proven());
    assert!(
        solved.stats.levels.iter().all(|l| !l.proven()),
        "{:?}",
        solved.stats.levels
    );
}
