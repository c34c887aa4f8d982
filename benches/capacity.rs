//! Capacity planning on generated fleets whose demand grows (512 GPUs: 2.5x, to about 1.75x what
//! the fleet holds; 4,096 GPUs: by 25%, which the fleet holds, and 2.5x, which needs about 1,300
//! GPUs bought), from a catalog of 8 SKUs,
//! against the purchase an autoscaler would make (the SKU that places the most unplaced value
//! next, the cheaper on ties). Prints cost, bound, time and the autoscaler's cost once per size,
//! then times the 512-GPU case. Figures are in docs/performance.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fleetfit::domain::{Fleet, Workload};
use fleetfit::formats::skus_file::Sku;
use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::capacity::autoscaler_purchase;
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};
use fleetfit::workflows::capacity::capacity;

/// A generated fleet (demand about 0.7x of what it holds) whose demand grows by `percent`
/// (replicas rounded up).
pub fn grown_demand(gpus: u64, deployments: u64, percent: u64) -> (Fleet, Workload) {
    let spec = GenSpec {
        gpus,
        deployments,
        seed: 1,
        tight: false,
    };
    let dir = std::env::temp_dir().join(format!("fleetfit-bench-capacity-{gpus}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fleet.yaml"), fleet_yaml(&spec)).unwrap();
    std::fs::write(dir.join("deployments.yaml"), deployments_yaml(&spec)).unwrap();
    let fleet = fleet_file::load(&dir.join("fleet.yaml")).unwrap();
    let mut workload = deployments_file::load(&dir.join("deployments.yaml")).unwrap();
    for d in &mut workload.deployments {
        d.replicas = (d.replicas * (100 + percent)).div_ceil(100);
    }
    (fleet, workload)
}

/// Eight SKUs: for each generated GPU type a full node and a half node (dearer per GPU).
pub fn catalog() -> Vec<Sku> {
    let types = [
        ("h100", "H100-SXM5-80GB", 81559, 8, 250_000),
        ("a100", "A100-SXM4-80GB", 81920, 8, 150_000),
        ("l40s", "L40S", 46068, 4, 60_000),
        ("a100-40", "A100-SXM4-40GB", 40960, 8, 90_000),
    ];
    types
        .iter()
        .flat_map(|&(name, gpu_type, memory_mib, count, cost)| {
            [
                Sku {
                    name: format!("{name}-full"),
                    gpu_type: gpu_type.into(),
                    gpu_count: count,
                    memory_mib,
                    reserved_mib: 0,
                    cost,
                    max: Some(64),
                    labels: Default::default(),
                },
                Sku {
                    name: format!("{name}-half"),
                    gpu_type: gpu_type.into(),
                    gpu_count: count / 2,
                    memory_mib,
                    reserved_mib: 0,
                    cost: cost * 55 / 100,
                    max: Some(64),
                    labels: Default::default(),
                },
            ]
        })
        .collect()
}

fn report(gpus: u64, deployments: u64, percent: u64, limit: Duration) {
    let (fleet, workload) = grown_demand(gpus, deployments, percent);
    let skus = catalog();
    let started = Instant::now();
    let c = capacity(&fleet, &workload, &skus, std::path::Path::new("skus"), None, limit).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let auto = autoscaler_purchase(&fleet, &workload, &skus, None);
    let bought: Vec<String> = c
        .purchase
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    eprintln!(
        "{gpus} GPUs, demand +{percent}%: {:?}, cost {} (bound {}), {}, purchase settled in {:.1}s, done in {seconds:.1}s; autoscaler: {}",
        c.status,
        c.cost,
        c.bound,
        bought.join(", "),
        c.purchase_seconds,
        auto.map_or("stuck".to_string(), |(cost, _)| format!("{cost}"))
    );
}

fn bench(c: &mut Criterion) {
    report(512, 32, 150, Duration::from_secs(60));
    report(4096, 128, 25, Duration::from_secs(60));
    report(4096, 128, 150, Duration::from_secs(60));
    let (fleet, workload) = grown_demand(512, 32, 150);
    let skus = catalog();
    let mut group = c.benchmark_group("capacity");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("capacity_512_gpus_x2.5", |b| {
        b.iter(|| {
            capacity(
                black_box(&fleet),
                black_box(&workload),
                &skus,
                std::path::Path::new("skus"),
                None,
                Duration::from_secs(60),
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
