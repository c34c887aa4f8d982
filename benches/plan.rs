//! Planning benchmarks: the demo fleet (264 GPUs) proven optimal on every level, and the seed
//! situations. Run with `cargo bench`; figures are recorded in docs/performance.md.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetfit::domain::SolveStatus;
use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::SolveOptions;

fn load(fleet: &str, deployments: &str) -> (fleetfit::domain::Fleet, fleetfit::domain::Workload) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    (
        fleet_file::load(&data.join(fleet)).expect("fleet"),
        deployments_file::load(&data.join(deployments)).expect("deployments"),
    )
}

fn plan_demo(c: &mut Criterion) {
    let (fleet, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let options = SolveOptions {
        time_limit: Duration::from_secs(60),
        ..SolveOptions::default()
    };
    let solved = fleetfit::explain::solve(&fleet, &workload, &options).expect("the demo solves");
    assert_eq!(
        solved.plan.status,
        SolveStatus::Optimal,
        "the demo must be proven optimal"
    );
    eprintln!("demo: {}", solved.stats.summary());
    let mut group = c.benchmark_group("plan");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("demo_264_gpus", |b| {
        b.iter(|| {
            let solved = fleetfit::explain::solve(black_box(&fleet), black_box(&workload), &options).unwrap();
            assert_eq!(solved.plan.status, SolveStatus::Optimal);
            solved
        })
    });
    let (fleet, workload) = load("seed-405b/fleet.yaml", "seed-405b/deployments-with-pp.yaml");
    group.bench_function("seed_405b_with_pp", |b| {
        b.iter(|| fleetfit::explain::solve(&fleet, &workload, &options).unwrap())
    });
    group.finish();
}

fn load_inputs(c: &mut Criterion) {
    c.bench_function("load_demo_files", |b| {
        b.iter(|| load("demo/fleet.yaml", "demo/deployments.yaml"))
    });
}

criterion_group!(benches, plan_demo, load_inputs);
criterion_main!(benches);
