//! The solver API the workflows build on: a start plan and a known bound.

use std::time::Duration;

use fleetfit::domain::SolveStatus;
use fleetfit::solver::{KnownBound, SolveOptions};

use super::common::*;
use super::synth::generated_512;

#[test]
fn a_better_start_is_the_floor_under_a_time_limit() {
    let (fleet, workload) = generated_512();
    let best = solve(&fleet, &workload).plan;
    let hurried = SolveOptions {
        time_limit: Duration::from_millis(1),
        ..SolveOptions::default()
    };
    let without = fleetfit::solver::solve(&fleet, &workload, &hurried).unwrap().plan;
    assert!(without.objective.placed_value < best.objective.placed_value);
    let with = SolveOptions {
        start: Some(best.replicas.clone()),
        ..hurried
    };
    let plan = fleetfit::solver::solve(&fleet, &workload, &with).unwrap().plan;
    assert_valid(&fleet, &workload, &plan);
    assert_eq!(plan.objective.placed_value, best.objective.placed_value);
}

#[test]
fn an_invalid_start_is_ignored() {
    let (fleet, workload) = generated_512();
    let best = solve(&fleet, &workload).plan;
    let mut broken = best.replicas.clone();
    let twice = broken[0].clone();
    broken.push(twice); // the same GPUs twice
    let options = SolveOptions {
        time_limit: Duration::from_millis(1),
        start: Some(broken),
        ..SolveOptions::default()
    };
    let plan = fleetfit::solver::solve(&fleet, &workload, &options).unwrap().plan;
    assert_valid(&fleet, &workload, &plan);
}

#[test]
fn a_known_bound_caps_the_reported_bound_and_proves_level_one() {
    let (fleet, workload) = generated_512();
    let best = solve(&fleet, &workload).plan;
    let known = best.objective.placed_value;
    let hurried = SolveOptions {
        time_limit: Duration::from_millis(1),
        known_bound: Some(KnownBound::placed_value(known)),
        ..SolveOptions::default()
    };
    let plan = fleetfit::solver::solve(&fleet, &workload, &hurried).unwrap().plan;
    assert_eq!(plan.status, SolveStatus::TimeLimit);
    assert!(plan.objective.bound.unwrap() <= known as f64);
    let reached = SolveOptions {
        start: Some(best.replicas.clone()),
        known_bound: Some(KnownBound::placed_value(known)),
        time_limit: Duration::from_secs(60),
        ..SolveOptions::default()
    };
    let solved = fleetfit::solver::solve(&fleet, &workload, &reached).unwrap();
    assert!(solved.stats.levels[0].proven());
    assert_eq!(solved.plan.objective.placed_value, known);
}
