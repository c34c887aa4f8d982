//! Prints where a problem's variables come from: `cargo run --example model_size -- FLEET DEPLOYMENTS`.

use fleetfit::formats::{deployments_file, fleet_file};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fleet = fleet_file::load(args[1].as_ref()).expect("fleet");
    let workload = deployments_file::load(args[2].as_ref()).expect("deployments");
    let started = std::time::Instant::now();
    let size = fleetfit::solver::model_size(&fleet, &workload);
    println!("{size:#?}");
    println!("built in {:.2}s", started.elapsed().as_secs_f64());
}
