//! Nightly re-planning on the 4,096-GPU generated fleet (`fleetfit gen --gpus 4096 --deployments
//! 128 --seed 1 --tight`), each solve with `--time-limit 10 --gap 0.005`: against an unchanged
//! fleet (zero moves expected) and after one node is removed (only its replicas may move). Prints
//! moves, forced moves, status and gap once, then times both. Figures are in docs/performance.md.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fleetfit::domain::{Fleet, Plan, Workload};
use fleetfit::solver::SolveOptions;
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};
use fleetfit::workflows::replan::{ReplanOptions, replan};

fn inputs() -> (Fleet, Fleet, Workload, Plan) {
    let spec = GenSpec::tight(4096, 128);
    let dir = std::env::temp_dir().join("fleetfit-bench-replan");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fleet.yaml"), fleet_yaml(&spec)).unwrap();
    std::fs::write(dir.join("deployments.yaml"), deployments_yaml(&spec)).unwrap();
    let fleet = fleetfit::formats::fleet_file::load(&dir.join("fleet.yaml")).unwrap();
    let workload = fleetfit::formats::deployments_file::load(&dir.join("deployments.yaml")).unwrap();
    let today = fleetfit::explain::solve(&fleet, &workload, &solve_options())
        .unwrap()
        .plan;
    // Tomorrow the node holding the first replica is gone.
    let lost = today.replicas[0].stages[0].node.clone();
    let mut tomorrow = fleet.clone();
    tomorrow.nodes.retain(|n| n.name != lost);
    (fleet, tomorrow, workload, today)
}

fn solve_options() -> SolveOptions {
    SolveOptions {
        time_limit: Duration::from_secs(10),
        mip_rel_gap: 0.005,
        ..SolveOptions::default()
    }
}

fn bench(c: &mut Criterion) {
    let (fleet, tomorrow, workload, today) = inputs();
    let options = ReplanOptions {
        solve: solve_options(),
        ..ReplanOptions::default()
    };
    for (what, f) in [("unchanged", &fleet), ("one node removed", &tomorrow)] {
        let started = Instant::now();
        let r = replan(f, &workload, &today, &options).unwrap();
        let o = &r.plan.objective;
        eprintln!(
            "replan 4,096 GPUs, {what}: {} moves ({} forced), {:?}, gap {:.2}%, {:.1}s",
            o.moves.unwrap_or(0),
            r.forced_moves,
            r.plan.status,
            o.gap.unwrap_or(0.0) * 100.0,
            started.elapsed().as_secs_f64()
        );
    }
    let mut group = c.benchmark_group("replan");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    group.bench_function("replan_4096_gpus_unchanged", |b| {
        b.iter(|| replan(&fleet, &workload, &today, &options).unwrap())
    });
    group.bench_function("replan_4096_gpus_one_node_removed", |b| {
        b.iter(|| replan(&tomorrow, &workload, &today, &options).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
