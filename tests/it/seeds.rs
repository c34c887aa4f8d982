//! The two situations fleetfit started from (data/seed-405b, data/dynamo) and the demo fleet.

use super::common::*;

#[test]
fn llama_405b_with_tp_only_places_nothing_on_seven_free_gpus() {
    let (fleet, workload) = load("seed-405b/fleet.yaml", "seed-405b/deployments-tp-only.yaml");
    let plan = solve(&fleet, &workload).plan;
    assert_eq!(plan.replicas.len(), 0);
    assert_eq!(plan.fleet.gpus_eligible, 7, "GPU 0 is 92% used");
    assert_eq!(plan.unplaced[0].deployment, "llama-405b");
    insta::assert_snapshot!(
        "seed_405b_tp_only",
        fleetfit::formats::table::render_detail(&plan, &fleetfit::memory::plan_kv(&fleet, &workload, &plan))
    );
}

#[test]
fn llama_405b_with_pipeline_parallelism_fits_in_six_gpus() {
    let (fleet, workload) = load("seed-405b/fleet.yaml", "seed-405b/deployments-with-pp.yaml");
    let plan = solve(&fleet, &workload).plan;
    assert_eq!(plan.replicas.len(), 1);
    let r = &plan.replicas[0];
    assert_eq!(
        r.tensor_parallel * r.pipeline_parallel,
        6,
        "fewest GPUs that hold 405B at fp8 within 0.85 of 80 GiB"
    );
    assert_eq!(r.memory_per_gpu_mib, 69632, "floor(0.85 * 81920)");
    assert!(r.stages.iter().all(|s| !s.gpus.contains(&0)), "GPU 0 is busy");
    insta::assert_snapshot!(
        "seed_405b_with_pp",
        fleetfit::formats::table::render_detail(&plan, &fleetfit::memory::plan_kv(&fleet, &workload, &plan))
    );
}

#[test]
fn dynamo_workers_each_get_their_own_gpu() {
    let (fleet, workload) = load("dynamo/fleet.yaml", "dynamo/deployments.yaml");
    let plan = solve(&fleet, &workload).plan;
    assert_eq!(plan.replicas.len(), 8);
    let mut gpus: Vec<u32> = plan.replicas.iter().flat_map(|r| r.stages[0].gpus.clone()).collect();
    gpus.sort();
    assert_eq!(gpus, (0..8).collect::<Vec<_>>(), "no two workers on one GPU");
    assert!(
        plan.replicas.iter().all(|r| r.memory_per_gpu_mib == 69325),
        "floor(0.85 * 81559)"
    );
    insta::assert_snapshot!(
        "dynamo",
        fleetfit::formats::table::render_detail(&plan, &fleetfit::memory::plan_kv(&fleet, &workload, &plan))
    );
}

#[test]
fn the_demo_fleet_is_planned_optimally() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let solved = solve(&fleet, &workload);
    assert_eq!(solved.plan.status, fleetfit::domain::SolveStatus::Optimal);
    assert!(solved.plan.fleet.gpus_total > 200);
    assert!(
        !solved.plan.unplaced.is_empty(),
        "the demo asks for more than the fleet holds"
    );
}

#[test]
fn plans_are_byte_for_byte_deterministic() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let a = solve(&fleet, &workload).plan.to_json();
    let b = solve(&fleet, &workload).plan.to_json();
    assert_eq!(a, b);
}

#[test]
fn a_tiny_time_limit_still_gives_a_valid_plan_with_bound_and_gap() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let options = fleetfit::solver::SolveOptions {
        time_limit: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let plan = fleetfit::explain::solve(&fleet, &workload, &options)
        .expect("a plan under any time limit")
        .plan;
    assert_valid(&fleet, &workload, &plan);
    if plan.status == fleetfit::domain::SolveStatus::TimeLimit {
        let (bound, gap) = (plan.objective.bound.unwrap(), plan.objective.gap.unwrap());
        assert!(bound >= plan.objective.placed_value as f64 && (0.0..=1.0).contains(&gap));
        assert!(bound <= 8_000.0, "no more than all demand: {bound}");
    }
}

#[test]
fn the_solver_beats_greedy_on_the_demo() {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let optimal = solve(&fleet, &workload).plan;
    let greedy = fleetfit::greedy::plan(&fleet, &workload);
    assert_valid(&fleet, &workload, &greedy);
    eprintln!(
        "demo: solver {} vs greedy {}",
        optimal.objective.placed_value, greedy.objective.placed_value
    );
    assert!(optimal.objective.placed_value > greedy.objective.placed_value);
}
