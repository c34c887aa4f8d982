//! Sweep benchmarks: 64 what-if scenarios on a 512-GPU generated fleet with 1 and 2 threads
//! (the speed-up is printed once), and the node drill of the same fleet. Figures are recorded in
//! docs/performance.md; each iteration is dozens of solves, so this bench takes minutes.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fleetfit::formats::scenarios_file;
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};
use fleetfit::workflows::drill::{self, Failure};
use fleetfit::workflows::whatif;
use fleetfit::workflows::{Base, SweepOptions};

/// The 512-GPU generated fleet, and 64 scenarios: each takes one node away.
fn inputs() -> (Base, scenarios_file::ScenariosFile, std::path::PathBuf) {
    let spec = GenSpec {
        gpus: 512,
        deployments: 32,
        seed: 1,
        tight: true,
    };
    let dir = std::env::temp_dir().join("fleetfit-bench-sweep");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fleet.yaml"), fleet_yaml(&spec)).unwrap();
    std::fs::write(dir.join("deployments.yaml"), deployments_yaml(&spec)).unwrap();
    let base = Base::load(&dir.join("fleet.yaml"), &dir.join("deployments.yaml")).unwrap();
    let mut text = String::from("scenarios:\n");
    for node in base.fleet.nodes.iter().take(64) {
        text += &format!("  - name: without-{0}\n    remove_nodes: {{names: [{0}]}}\n", node.name);
    }
    let path = dir.join("scenarios.yaml");
    std::fs::write(&path, text).unwrap();
    let file = scenarios_file::load(&path).unwrap();
    (base, file, path)
}

fn options(jobs: usize) -> SweepOptions {
    SweepOptions {
        jobs,
        ..SweepOptions::default()
    }
}

fn sweeps(c: &mut Criterion) {
    let (base, file, path) = inputs();
    let mut seconds = Vec::new();
    for jobs in [1, 2] {
        let started = Instant::now();
        whatif::run(&base, &file, &path, &options(jobs)).unwrap();
        seconds.push(started.elapsed().as_secs_f64());
    }
    eprintln!(
        "64 scenarios, 512 GPUs: 1 thread {:.1}s, 2 threads {:.1}s, speed-up {:.2}x",
        seconds[0],
        seconds[1],
        seconds[0] / seconds[1]
    );
    let failure: Failure = "node".parse().unwrap();
    let started = Instant::now();
    let (_, cases) = drill::run(&base, &failure, &options(2)).unwrap();
    let proven = cases
        .iter()
        .filter(|(_, c)| c.outcome.status == fleetfit::domain::SolveStatus::Optimal)
        .count();
    let quick = cases.iter().filter(|(_, c)| c.proven_without_mip).count();
    eprintln!(
        "node drill, 512 GPUs: {} cases in {:.1}s, {proven} proven, {quick} without a MIP",
        cases.len(),
        started.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group("sweep");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    group.bench_function("whatif_64_scenarios_512_gpus_2_threads", |b| {
        b.iter(|| whatif::run(&base, &file, &path, &options(2)).unwrap())
    });
    group.bench_function("drill_nodes_512_gpus_2_threads", |b| {
        b.iter(|| drill::run(&base, &failure, &options(2)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sweeps);
criterion_main!(benches);
