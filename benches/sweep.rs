//! Sweep benchmarks: 64 what-if scenarios on a 512-GPU generated fleet with 1 and 2 threads
//! (the speed-up is printed once), and node drills on generated fleets of 512 and 4,096 GPUs
//! (printed once; the 512-GPU drill is also timed). Figures are recorded in
//! docs/performance.md; each iteration is dozens of solves, so this bench takes minutes.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "memory.rs"]
mod memory;
use fleetfit::formats::scenarios_file;
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};
use fleetfit::workflows::drill::{self, Failure};
use fleetfit::workflows::whatif;
use fleetfit::workflows::{Base, SweepOptions};

/// A generated fleet (`fleetfit gen --seed 1`), loaded as a sweep's base, and its folder.
fn generated(gpus: u64, deployments: u64, tight: bool) -> (Base, std::path::PathBuf) {
    let spec = GenSpec {
        gpus,
        deployments,
        seed: 1,
        tight,
    };
    let dir = std::env::temp_dir().join(format!("fleetfit-bench-sweep-{gpus}-{tight}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fleet.yaml"), fleet_yaml(&spec)).unwrap();
    std::fs::write(dir.join("deployments.yaml"), deployments_yaml(&spec)).unwrap();
    let base = Base::load(&dir.join("fleet.yaml"), &dir.join("deployments.yaml")).unwrap();
    (base, dir)
}

/// Runs a node drill once and prints its time, cases proven, and cases proven without a MIP.
fn drill_report(what: &str, base: &Base, options: &SweepOptions) {
    let failure: Failure = "node".parse().unwrap();
    let started = Instant::now();
    let (_, cases) = drill::run(base, &failure, options).unwrap();
    let proven = cases
        .iter()
        .filter(|(_, c)| c.outcome.status == fleetfit::domain::SolveStatus::Optimal)
        .count();
    let quick = cases.iter().filter(|(_, c)| c.proven_without_mip).count();
    let worst_gap = cases
        .iter()
        .filter_map(|(_, c)| c.outcome.objective.gap)
        .fold(0.0f64, f64::max);
    eprintln!(
        "node drill, {what}: {} cases in {:.1}s, {proven} proven, {quick} without a MIP, worst level-1 gap {:.2}%",
        cases.len(),
        started.elapsed().as_secs_f64(),
        worst_gap * 100.0
    );
}

/// The tight 512-GPU generated fleet, and 64 scenarios: each takes one node away.
fn inputs() -> (Base, scenarios_file::ScenariosFile, std::path::PathBuf) {
    let (base, dir) = generated(512, 32, true);
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

/// Sweeps of 16 and 64 scenarios whose time limit stops HiGHS, printed with their peak memory:
/// every stopped solve's HiGHS run is interrupted and joined, so the peak must not grow with the
/// number of stopped solves.
fn stopped_sweeps_memory(base: &Base, file: &scenarios_file::ScenariosFile, path: &std::path::Path) {
    for n in [16, 64] {
        let some = scenarios_file::ScenariosFile {
            scenarios: file.scenarios.iter().take(n).cloned().collect(),
        };
        let mut hurried = options(2);
        hurried.solve.time_limit = Duration::from_millis(300);
        memory::reset_peak_memory();
        let started = Instant::now();
        let results = whatif::run(base, &some, path, &hurried).unwrap();
        let stopped = results
            .iter()
            .filter(|(_, r)| r.outcome.status != fleetfit::domain::SolveStatus::Optimal)
            .count();
        eprintln!(
            "{n} scenarios, 512 GPUs, --time-limit 0.3: {stopped} stopped solves in {:.1}s, peak RSS {} MiB, solver threads left {}",
            started.elapsed().as_secs_f64(),
            memory::peak_memory_mib().map_or("?".into(), |m| m.to_string()),
            solver_threads()
        );
    }
}

/// Threads of this process named as fleetfit names its HiGHS workers.
fn solver_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim() == fleetfit::solver::SOLVER_THREAD_NAME)
                .count()
        })
        .unwrap_or(0)
}

fn sweeps(c: &mut Criterion) {
    let (base, file, path) = inputs();
    stopped_sweeps_memory(&base, &file, &path);
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
    drill_report("512 GPUs, tight", &base, &options(2));
    let roomy = generated(512, 32, false).0;
    drill_report("512 GPUs", &roomy, &options(2));
    let (large, _) = generated(4096, 128, false);
    let hurried = SweepOptions {
        solve: fleetfit::solver::SolveOptions {
            time_limit: Duration::from_secs(3),
            mip_rel_gap: 0.005,
            ..Default::default()
        },
        ..options(2)
    };
    drill_report("4,096 GPUs, --gap 0.005 --time-limit 3", &large, &hurried);

    let mut group = c.benchmark_group("sweep");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    group.bench_function("whatif_64_scenarios_512_gpus_2_threads", |b| {
        b.iter(|| whatif::run(&base, &file, &path, &options(2)).unwrap())
    });
    group.bench_function("drill_nodes_512_gpus_2_threads", |b| {
        b.iter(|| drill::run(&roomy, &failure, &options(2)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sweeps);
criterion_main!(benches);
