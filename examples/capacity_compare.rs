//! Capacity planning against an autoscaler's purchase on a generated fleet whose demand grows by
//! PERCENT: `cargo run --release --example capacity_compare -- GPUS DEPLOYMENTS PERCENT [SECONDS]`.

#[path = "../benches/capacity.rs"]
#[allow(dead_code)]
mod bench;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let (gpus, deployments, percent) = (args[0], args[1], args[2]);
    let seconds = args.get(3).copied().unwrap_or(60);
    let (fleet, workload) = bench::grown_demand(gpus, deployments, percent);
    let skus = bench::catalog();
    let started = std::time::Instant::now();
    let c = fleetfit::solver::capacity::capacity(
        &fleet,
        &workload,
        &skus,
        std::path::Path::new("skus"),
        None,
        std::time::Duration::from_secs(seconds),
    )
    .expect("capacity");
    println!(
        "fleetfit: {:?}, cost {} (bound {}), {:?}, purchase settled in {:.1}s, plan done in {:.1}s",
        c.status,
        c.cost,
        c.bound,
        c.purchase.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(),
        c.purchase_seconds,
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let auto = fleetfit::solver::capacity::autoscaler_purchase(&fleet, &workload, &skus, None);
    println!(
        "autoscaler: {:?} in {:.1}s",
        auto.map(|(cost, counts)| (cost, counts.into_iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>())),
        started.elapsed().as_secs_f64()
    );
}
