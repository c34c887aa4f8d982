//! The planner: one integer program over the whole fleet, solved level by level with HiGHS.
//!
//! The API is one call: inputs (fleet, workload) and [`SolveOptions`] (time limit, gap, a start
//! plan, a known bound) go in, a checked plan comes out ([`solve`]). Every workflow (plan,
//! what-if, drills, re-planning, capacity) is a thin layer over it.
//!
//! Inside, private to the crate: `Instance` (eligibility, shapes, node classes, blocks) →
//! `Formulation` (good_lp model, columns in fleetfit's order) → three HiGHS solves, each fixing
//! the level before → `assign` (concrete GPUs) → `make_plan` (totals) → the independent checker.
//! A plan the checker rejects is an error, never output.

// The model (rooms are folders; module paths stay flat under `solver`).
// model/: the instance (eligibility, node classes, blocks, the fleet-wide pool, shared GPUs,
// pipeline chunks) and its integer program; assigning concrete GPUs from a solution.
#[path = "model/assign.rs"]
pub(crate) mod assign;
#[path = "model/assign_shared.rs"]
mod assign_shared;
#[path = "model/blocks.rs"]
mod blocks;
#[path = "model/chunks.rs"]
pub(crate) mod chunks;
#[path = "model/columns.rs"]
pub(crate) mod columns;
#[path = "model/formulation.rs"]
pub(crate) mod formulation;
#[path = "model/instance.rs"]
pub(crate) mod instance;
#[path = "model/merge.rs"]
mod merge;
#[path = "model/pool.rs"]
pub(crate) mod pool;
#[path = "model/sharing.rs"]
pub(crate) mod sharing;

// The core: the one rounding rule for bounds, what a solve is asked, the level loop, the LP bound, what it reports.
pub mod bound;
mod level_one;
mod levels;
mod lexicographic;
mod options;
mod pinned;
mod relax;
mod report;

// highs/: one HiGHS run per level, on a worker thread with a stop switch, within the budget.
#[path = "highs/budget.rs"]
pub mod budget;
#[path = "highs/callback.rs"]
mod callback;
#[path = "highs/highs_run.rs"]
pub(crate) mod highs_run;
#[path = "highs/worker.rs"]
pub(crate) mod worker;

// heuristics/: greedy and LP-guided starts, the local search beside HiGHS (exact repair of neighbourhoods), warm starts.
#[path = "heuristics/heuristic.rs"]
mod heuristic;
#[path = "heuristics/local_search.rs"]
mod local_search;
#[path = "heuristics/relaxed_start.rs"]
mod relaxed_start;
#[path = "heuristics/repair.rs"]
mod repair;
#[path = "heuristics/start.rs"]
pub(crate) mod start;

// purchase/: capacity planning, a layer over the core (candidate nodes, cost, its starts).
#[path = "purchase/candidates.rs"]
mod candidates;
#[path = "purchase/capacity.rs"]
pub mod capacity;
#[path = "purchase/capacity_greedy.rs"]
mod capacity_greedy;
#[path = "purchase/capacity_guided.rs"]
mod capacity_guided;
#[path = "purchase/purchase.rs"]
pub(crate) mod purchase;
#[path = "purchase/shortfall.rs"]
mod shortfall;

// At the edge: the live status line's phase, incumbent and bound.
pub mod progress;

use formulation::Formulation;
use instance::Instance;
pub use levels::solve;
use lexicographic::LEVEL_NAMES;
pub use options::{KnownBound, SolveOptions};
pub use relax::relaxation_bound;
pub use report::{LevelStats, ModelSize, Settled, SolveStats, model_size};
pub use worker::{THREAD_NAME as SOLVER_THREAD_NAME, join_stopped};

use crate::domain::fleet::TypeView;
use crate::domain::{Fleet, Plan, Workload};
use crate::error::{Error, Result};

/// A checked plan and how it was found.
#[derive(Debug, Clone)]
pub struct Solved {
    pub plan: Plan,
    pub stats: SolveStats,
}

/// The checker's verdict on a plan about to be returned: a violation is a bug, never output.
fn checked(fleet: &Fleet, workload: &Workload, plan: &Plan) -> Result<()> {
    let violations = crate::check::check(fleet, workload, plan);
    if violations.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_plan(&violations))
}

/// The fleet as the planner sees it (see [`Fleet::planner_view`]): GPU sizes of a type are
/// merged where no deployment that may use it sets `gpu_memory_utilization`, put on a ladder
/// where sizes differ, none shares GPUs and one exists, and kept apart otherwise.
pub fn planner_fleet(fleet: &Fleet, workload: &Workload) -> Fleet {
    let mut sizes: std::collections::BTreeMap<&str, std::collections::BTreeSet<u64>> = Default::default();
    for (_, g) in fleet.gpus() {
        sizes.entry(g.gpu_type.as_str()).or_default().insert(g.cuda_mib());
    }
    fleet.planner_view(|gpu_type| {
        let on_type: Vec<_> = workload
            .deployments
            .iter()
            .filter(|d| d.replicas > 0 && d.allows_type(gpu_type))
            .collect();
        let classes: std::collections::BTreeSet<_> = on_type.iter().map(|d| d.gpu_memory_utilization).collect();
        let classes: Vec<_> = classes.into_iter().collect();
        match classes.as_slice() {
            [] | [None] => TypeView::Merged,
            _ if sizes[gpu_type].len() > 1 && on_type.iter().all(|d| !d.share_gpu) => TypeView::Ladder(classes),
            _ => TypeView::PerSize,
        }
    })
}
