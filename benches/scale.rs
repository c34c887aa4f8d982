//! Scaling benchmarks on `fleetfit gen` fleets: solve time against greedy, with status, level-1
//! gap and placed value printed once per size. Figures are recorded in docs/performance.md.
//! The 4,096 and 10,240 GPU targets of issue 5 are not met yet; see that doc.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fleetfit::domain::{Fleet, Workload};
use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::{self, SolveOptions};
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};

fn generated(gpus: u64, deployments: u64) -> (Fleet, Workload) {
    let spec = GenSpec {
        gpus,
        deployments,
        seed: 1,
        tight: true,
    };
    let dir = std::env::temp_dir().join(format!("fleetfit-bench-{gpus}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fleet.yaml"), fleet_yaml(&spec)).unwrap();
    std::fs::write(dir.join("deployments.yaml"), deployments_yaml(&spec)).unwrap();
    (
        fleet_file::load(&dir.join("fleet.yaml")).unwrap(),
        deployments_file::load(&dir.join("deployments.yaml")).unwrap(),
    )
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (gpus, deployments) in [(64u64, 8u64), (512, 32)] {
        let (fleet, workload) = generated(gpus, deployments);
        let options = SolveOptions {
            time_limit: Duration::from_secs(60),
            ..SolveOptions::default()
        };
        let started = Instant::now();
        let solved = solver::solve(&fleet, &workload, &options).unwrap();
        let greedy = fleetfit::greedy::plan(&fleet, &workload);
        let o = &solved.plan.objective;
        eprintln!(
            "{gpus} GPUs, {deployments} deployments: {:?} in {:.2}s, placed_value {} (greedy {}, +{:.1}%), gap {:?}; {}",
            solved.plan.status,
            started.elapsed().as_secs_f64(),
            o.placed_value,
            greedy.objective.placed_value,
            100.0 * (o.placed_value as f64 / greedy.objective.placed_value.max(1) as f64 - 1.0),
            o.gap,
            solved.stats.summary()
        );
        group.bench_function(format!("plan_{gpus}_gpus"), |b| {
            b.iter(|| solver::solve(black_box(&fleet), black_box(&workload), &options).unwrap())
        });
        group.bench_function(format!("greedy_{gpus}_gpus"), |b| {
            b.iter(|| fleetfit::greedy::place(black_box(&fleet), black_box(&workload)))
        });
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
