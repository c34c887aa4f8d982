//! Scaling benchmarks on `fleetfit gen --tight` fleets: solve time against greedy, with status,
//! level-1 gap, placed value and peak memory printed once per case. Figures are recorded in
//! docs/performance.md. The large cases run under their targets' time limits (10 s and 60 s), so
//! the whole bench takes about 25 minutes; filter with `cargo bench --bench scale -- plan_512`.
//! `FLEETFIT_BENCH_100K=1` adds the 100,000-GPU case (300 deployments, 300 s, gap 0.5%) as one
//! printed run: criterion's ten samples of it would take an hour.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "memory.rs"]
mod memory;
use fleetfit::domain::{Fleet, Workload};
use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::SolveOptions;
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};
use memory::{peak_memory_mib, reset_peak_memory};

fn generated(gpus: u64, deployments: u64) -> (Fleet, Workload) {
    let spec = GenSpec::tight(gpus, deployments);
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
    // (GPUs, deployments, time limit in seconds, relative gap): 0 asks for proofs, 0.001 for the
    // 10,240-GPU "within 0.1% in 10 s" target.
    let cases = [
        (64u64, 8u64, 60u64, 0.0),
        (512, 32, 60, 0.0),
        (4096, 128, 10, 0.0),
        (10240, 256, 60, 0.0),
        (10240, 256, 10, 0.001),
    ];
    if std::env::var_os("FLEETFIT_BENCH_100K").is_some() {
        let (fleet, workload) = generated(100_000, 300);
        let options = SolveOptions {
            time_limit: Duration::from_secs(300),
            mip_rel_gap: 0.005,
            ..SolveOptions::default()
        };
        report(
            &fleet,
            &workload,
            &options,
            "100000 GPUs, 300 deployments, limit 300s, gap 0.005",
        );
    }
    for (gpus, deployments, limit_s, gap) in cases {
        let (fleet, workload) = generated(gpus, deployments);
        let options = SolveOptions {
            time_limit: Duration::from_secs(limit_s),
            mip_rel_gap: gap,
            ..SolveOptions::default()
        };
        let case = format!("{gpus} GPUs, {deployments} deployments, limit {limit_s}s, gap {gap}");
        report(&fleet, &workload, &options, &case);
        let name = if gap > 0.0 {
            format!("plan_{gpus}_gpus_gap_{gap}")
        } else {
            format!("plan_{gpus}_gpus")
        };
        group.bench_function(name, |b| {
            b.iter(|| fleetfit::explain::solve(black_box(&fleet), black_box(&workload), &options).unwrap())
        });
        if gap == 0.0 {
            group.bench_function(format!("greedy_{gpus}_gpus"), |b| {
                b.iter(|| fleetfit::greedy::place(black_box(&fleet), black_box(&workload)))
            });
        }
    }
    group.finish();
}

/// Solves once and prints status, wall time, peak memory, the placed value against greedy's and
/// the level-1 gap.
fn report(fleet: &Fleet, workload: &Workload, options: &SolveOptions, case: &str) {
    reset_peak_memory();
    let started = Instant::now();
    let solved = fleetfit::explain::solve(fleet, workload, options).unwrap();
    let peak_mib = peak_memory_mib();
    let greedy = fleetfit::greedy::plan(fleet, workload);
    let o = &solved.plan.objective;
    eprintln!(
        "{case}: {:?} in {:.2}s, peak RSS {} MiB, placed_value {} (greedy {}, +{:.1}%), gap {:?}; {}",
        solved.plan.status,
        started.elapsed().as_secs_f64(),
        peak_mib.map_or("?".to_string(), |m| m.to_string()),
        o.placed_value,
        greedy.objective.placed_value,
        100.0 * (o.placed_value as f64 / greedy.objective.placed_value.max(1) as f64 - 1.0),
        o.gap,
        solved.stats.summary()
    );
}

criterion_group!(benches, scale);
criterion_main!(benches);
