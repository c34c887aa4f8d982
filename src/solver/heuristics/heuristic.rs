//! The heuristic plans around the integer program: the LP-guided greedy plan that is level 1's
//! hint, the greedy plan that stands when time runs out before HiGHS can run, and the objective's
//! order for comparing plans.

use std::time::Instant;

use super::relax::Relaxation;
use super::{Result, SolveOptions, SolveStats, Solved, checked};
use crate::domain::{Fleet, PlacedReplica, Plan, SolveStatus, Workload, make_plan};

/// Greedy guided by the LP's shapes, every order while time allows (each costs about a plain
/// greedy run); the best one wins, the first on ties. `greedy` is the plain plan, for `-v`.
pub(super) fn guided_greedy(
    fleet: &Fleet,
    workload: &Workload,
    lp: &Relaxation,
    started: Instant,
    time: &super::budget::Budget,
    verbose: bool,
    greedy: &[PlacedReplica],
) -> Vec<PlacedReplica> {
    let deadline = time.deadline();
    let mut guided: Vec<PlacedReplica> = Vec::new();
    for order in crate::greedy::GuideOrder::ALL {
        let late = Instant::now() + (deadline - started).mul_f64(super::budget::GUIDED_ORDER_SHARE) > deadline;
        if !guided.is_empty() && (late || time.is_over()) {
            break;
        }
        let candidate = crate::greedy::place_guided(fleet, workload, &lp.shapes, order);
        if guided.is_empty() || placed_value(workload, &candidate) > placed_value(workload, &guided) {
            guided = candidate;
        }
    }
    if verbose {
        let asked: u64 = lp
            .shapes
            .iter()
            .map(|(o, n)| workload.deployments[o.deployment].priority * n)
            .sum();
        eprintln!(
            "fleetfit: LP relaxation {:.1} (whole replicas {asked}); greedy {}, LP-guided greedy {}",
            lp.value,
            placed_value(workload, greedy),
            placed_value(workload, &guided)
        );
    }
    guided
}

/// The answer when time ran out before HiGHS could run: the greedy plan, time-limited, bounded
/// by everything requested, or by the LP relaxation or a known bound where lower.
pub(super) fn greedy_floor(
    fleet: &Fleet,
    workload: &Workload,
    options: &SolveOptions,
    replicas: &[PlacedReplica],
    lp_bound: Option<f64>,
    started: Instant,
) -> Result<Solved> {
    let demand: u64 = workload.deployments.iter().map(|d| d.priority * d.replicas).sum();
    // The LP's floor bounds the integer optimum (objective values are integers).
    let lp = lp_bound.map_or(demand, |lp| (super::bound::upper(lp).max(0.0) as u64).min(demand));
    let bound = options
        .known_bound
        .map_or(lp, |known| known.placed_value.min(lp))
        .max(placed_value(workload, replicas));
    let plan = make_plan(
        fleet,
        workload,
        replicas.to_vec(),
        SolveStatus::TimeLimit,
        Some(bound as f64),
    );
    checked(fleet, workload, &plan)?;
    let stats = SolveStats {
        total_seconds: started.elapsed().as_secs_f64(),
        greedy_only: true,
        ..SolveStats::default()
    };
    Ok(Solved { plan, stats })
}

/// Section 6's order as a key: larger is better.
pub(super) fn plan_key(plan: &Plan) -> (u64, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>) {
    let o = &plan.objective;
    (
        o.placed_value,
        std::cmp::Reverse(o.quantization_penalty),
        std::cmp::Reverse(o.gpus_used),
    )
}

/// Level 1's value of a set of replicas.
pub(super) fn placed_value(workload: &Workload, replicas: &[PlacedReplica]) -> u64 {
    replicas
        .iter()
        .filter_map(|r| workload.deployment(&r.deployment))
        .map(|d| d.priority)
        .sum()
}
