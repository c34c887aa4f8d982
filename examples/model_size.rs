//! Prints where a problem's variables come from: `cargo run --example model_size -- FLEET DEPLOYMENTS`.

use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::{Formulation, Instance};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fleet = fleet_file::load(args[1].as_ref()).expect("fleet");
    let workload = deployments_file::load(args[2].as_ref()).expect("deployments");
    let instance = Instance::new(&fleet, &workload);
    let form = Formulation::build(&instance);
    let counted: usize = instance.classes.iter().filter(|c| c.nodes.len() > 1).count();
    let shared_blocks = instance
        .placements
        .iter()
        .filter(|p| instance.blocks[p.block].shared)
        .count();
    println!(
        "nodes {}, classes {} ({} counted), options {}, blocks {}, placements {} ({} sharing), sharing classes {}, variables {}, rows {}",
        fleet.nodes.len(),
        instance.classes.len(),
        counted,
        instance.options.len(),
        instance.blocks.len(),
        instance.placements.len(),
        shared_blocks,
        form.sharing.classes.len(),
        form.vars.len(),
        form.rows.len()
    );
}
