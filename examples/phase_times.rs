//! Times the phases around the solver on one input: `cargo run --example phase_times -- FLEET DEPLOYMENTS`.

use std::time::Instant;

use fleetfit::domain::SolveStatus;
use fleetfit::formats::{deployments_file, fleet_file};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let t = Instant::now();
    let fleet = fleet_file::load(args[1].as_ref()).expect("fleet");
    let workload = deployments_file::load(args[2].as_ref()).expect("deployments");
    println!("load {:.2}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let replicas = fleetfit::greedy::place(&fleet, &workload);
    println!("greedy {:.2}s ({} replicas)", t.elapsed().as_secs_f64(), replicas.len());
    let t = Instant::now();
    let mut plan = fleetfit::domain::make_plan(&fleet, &workload, replicas, SolveStatus::TimeLimit, None);
    println!("make_plan {:.2}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let violations = fleetfit::check::check(&fleet, &workload, &plan);
    println!(
        "check {:.2}s ({} violations)",
        t.elapsed().as_secs_f64(),
        violations.len()
    );
    let t = Instant::now();
    fleetfit::explain::annotate(&fleet, &workload, &mut plan, &|_| None);
    println!(
        "explain {:.2}s ({} unplaced)",
        t.elapsed().as_secs_f64(),
        plan.unplaced.len()
    );
}
