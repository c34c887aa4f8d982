//! Proofs at scale: the 4,096-GPU tight generated fleet, whose HiGHS root node alone runs about
//! 31 s, has level 1 proven by a plan that reaches the LP relaxation's bound (the relaxed start
//! and the exact repair steps from it). How fast is measured by `cargo bench --bench scale`;
//! here the limit is generous, and what is checked is the proof and the plan.

use std::time::Duration;

use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::solver::{Settled, SolveOptions};

use crate::common::assert_valid;

#[test]
fn level_one_at_4096_gpus_is_proven_by_a_plan_that_reaches_the_lp_bound() {
    let (_dir, fleet_path, deployments_path) = crate::common::tight_files(4096, 128);
    let fleet = fleet_file::load(&fleet_path).unwrap();
    let workload = deployments_file::load(&deployments_path).unwrap();
    // (`--gap 0.001` only keeps levels 2 and 3 short: the heuristic plans start 0.36% from the
    // bound, so level 1 is searched as without it, and reaching the bound is a proof either way.)
    let options = SolveOptions {
        time_limit: Duration::from_secs(30),
        mip_rel_gap: 0.001,
        ..SolveOptions::default()
    };
    let solved = fleetfit::solver::solve(&fleet, &workload, &options).unwrap();
    let level_one = &solved.stats.levels[0];
    assert_eq!(level_one.settled, Settled::LpBound, "{:?}", solved.stats.levels);
    assert_eq!(solved.plan.objective.placed_value, 22265);
    assert_eq!(solved.plan.objective.placed_value as f64, level_one.bound);
    assert_valid(&fleet, &workload, &solved.plan);
}
