//! Prints where a problem's variables come from: `cargo run --example model_size -- FLEET DEPLOYMENTS`.

use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::{Formulation, Instance};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fleet = fleet_file::load(args[1].as_ref()).expect("fleet");
    let workload = deployments_file::load(args[2].as_ref()).expect("deployments");
    let started = std::time::Instant::now();
    let instance = Instance::new(&fleet, &workload);
    let instance_seconds = started.elapsed().as_secs_f64();
    let form = Formulation::build(&instance);
    let counted: usize = instance.classes.iter().filter(|c| c.nodes.len() > 1).count();
    let shared_blocks = instance
        .placements
        .iter()
        .filter(|p| instance.blocks[p.block].shared)
        .count();
    let thresholds: usize = instance.pool.thresholds.iter().map(Vec::len).sum();
    let sharing_columns: usize = form.sharing.classes.iter().map(|c| c.columns()).sum();
    let per_gpu: usize = form
        .sharing
        .classes
        .iter()
        .filter(|c| matches!(c.layout, fleetfit::solver::sharing::Layout::PerGpu { .. }))
        .map(|c| c.columns())
        .sum();
    println!("per-GPU sharing columns {per_gpu}");
    println!(
        "nodes {}, classes {} ({} counted), options {}, blocks {} ({} pooled)\n\
         placements {} ({} sharing), sharing classes {} ({} columns)\n\
         pool: {} keys, {} thresholds, {} supplies\n\
         variables {}, rows {}; instance {:.2}s, total build {:.2}s",
        fleet.nodes.len(),
        instance.classes.len(),
        counted,
        instance.options.len(),
        instance.blocks.len(),
        instance.blocks.iter().filter(|b| b.pooled).count(),
        instance.placements.len(),
        shared_blocks,
        form.sharing.classes.len(),
        sharing_columns,
        instance.pool.keys.len(),
        thresholds,
        instance.pool.supplies.len(),
        form.vars.len(),
        form.rows.len(),
        instance_seconds,
        started.elapsed().as_secs_f64(),
    );
}
