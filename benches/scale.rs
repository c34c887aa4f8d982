//! Scaling benchmarks on `fleetfit gen` fleets: solve time against greedy, with status, level-1
//! gap, placed value and peak memory printed once per size. Figures are recorded in
//! docs/performance.md. The two large sizes run under the time limits (10 s and 60 s), so
//! they take about 2 and 10 minutes; filter with `cargo bench --bench scale -- plan_512`.

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
    for (gpus, deployments, limit_s) in [(64u64, 8u64, 60u64), (512, 32, 60), (4096, 128, 10), (10240, 256, 60)] {
        let (fleet, workload) = generated(gpus, deployments);
        let options = SolveOptions {
            time_limit: Duration::from_secs(limit_s),
            ..SolveOptions::default()
        };
        reset_peak_memory();
        let started = Instant::now();
        let solved = solver::solve(&fleet, &workload, &options).unwrap();
        let peak_mib = peak_memory_mib();
        let greedy = fleetfit::greedy::plan(&fleet, &workload);
        let o = &solved.plan.objective;
        eprintln!(
            "{gpus} GPUs, {deployments} deployments, limit {limit_s}s: {:?} in {:.2}s, peak RSS {} MiB, placed_value {} (greedy {}, +{:.1}%), gap {:?}; {}",
            solved.plan.status,
            started.elapsed().as_secs_f64(),
            peak_mib.map_or("?".to_string(), |m| m.to_string()),
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

/// Resets the process's peak resident set size (Linux: writing 5 to `/proc/self/clear_refs`).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size since the last reset (`VmHWM`), which counts HiGHS's C++ heap too.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

criterion_group!(benches, scale);
criterion_main!(benches);
