//! The workflows people run fleetfit for, each a thin layer over [`crate::solver::solve`]:
//! what-if sweeps over scenario files and N-1 failure drills, solved in parallel and splittable
//! over machines (shards joined by `merge`).

pub mod calibrate;
pub mod capacity;
pub mod current;
pub mod drill;
pub mod migration;
mod neighbourhood;
pub mod replan;
pub mod scenario;
pub mod shard;
pub mod table;
pub mod whatif;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::{Fleet, Objective, Plan, SolveStatus, Unplaced, Workload};
use crate::error::{InputError, Result};
use crate::formats::deployments_file::{self, DeploymentsFile};
use crate::solver::{self, SolveOptions};

/// The unedited inputs: the fleet, and the deployments file as written (scenarios edit it
/// before it is resolved) and as resolved.
#[derive(Debug, Clone)]
pub struct Base {
    pub fleet: Fleet,
    pub deployments: DeploymentsFile,
    pub deployments_path: PathBuf,
    pub workload: Workload,
    /// The engine profiles the deployments plan with (scenarios keep them).
    pub profiles: crate::formats::engines::Profiles,
}

impl Base {
    /// Loads and validates both files.
    pub fn load(fleet: &Path, deployments: &Path) -> Result<Base, InputError> {
        Base::load_with(fleet, deployments, &[] as &[PathBuf])
    }

    /// [`Base::load`] with engine profile files (`--profiles`).
    pub fn load_with(fleet: &Path, deployments: &Path, profile_files: &[impl AsRef<Path>]) -> Result<Base, InputError> {
        let fleet = crate::formats::fleet_file::load(fleet)?;
        let file: DeploymentsFile = crate::formats::parse_file(deployments)?;
        let profiles = deployments_file::profiles_for(deployments, &file, profile_files)?;
        let workload = deployments_file::resolve(
            deployments,
            file.clone(),
            crate::formats::catalog::Catalog::builtin(),
            &profiles,
        )?;
        Ok(Base {
            fleet,
            deployments: file,
            deployments_path: deployments.to_path_buf(),
            workload,
            profiles,
        })
    }
}

/// What one solve of a sweep gives: section 7's objective, status and unplaced entries, the
/// replicas placed per deployment (for tables and drills) and the time taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub objective: Objective,
    pub status: SolveStatus,
    pub unplaced: Vec<Unplaced>,
    /// Replicas placed per deployment, every deployment listed.
    pub placed: BTreeMap<String, u64>,
    pub seconds: f64,
}

impl Outcome {
    fn of(plan: &Plan, workload: &Workload, seconds: f64) -> Outcome {
        let mut placed: BTreeMap<String, u64> = workload.deployments.iter().map(|d| (d.name.clone(), 0)).collect();
        for r in &plan.replicas {
            *placed.entry(r.deployment.clone()).or_default() += 1;
        }
        Outcome {
            objective: plan.objective.clone(),
            status: plan.status,
            unplaced: plan
                .unplaced
                .iter()
                .map(|u| Unplaced {
                    reasons: Vec::new(),
                    suggestions: Vec::new(),
                    ..u.clone()
                })
                .collect(),
            placed,
            seconds: (seconds * 1000.0).round() / 1000.0,
        }
    }
}

/// How a sweep runs: per-solve options, threads, and which shard of the cases.
#[derive(Clone)]
pub struct SweepOptions {
    /// Time limit and gap of each solve.
    pub solve: SolveOptions,
    /// Threads of the rayon pool (each solve runs HiGHS on one thread).
    pub jobs: usize,
    pub shard: shard::Shard,
    /// Called after each finished case (progress bars).
    pub progress: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            solve: SolveOptions {
                time_limit: Duration::from_secs(60),
                ..SolveOptions::default()
            },
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shard: shard::Shard::ALL,
            progress: None,
        }
    }
}

/// Solves `case(i, solve)` for every index of the shard, in parallel on `jobs` threads; results
/// come back in index order whatever the threads did. The first case that fails gives up the
/// others (their solves' shared switch, `solve.cancel`, turns on): the sweep ends at once.
pub(crate) fn run_cases<T: Send>(
    count: usize,
    options: &SweepOptions,
    case: impl Fn(usize, &SolveOptions) -> Result<T> + Sync,
) -> Result<Vec<(usize, T)>> {
    let solve = SolveOptions {
        cancel: options.solve.cancel.child(),
        ..options.solve.clone()
    };
    let indices: Vec<usize> = (0..count).filter(|&i| options.shard.takes(i)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .map_err(|e| crate::error::Error::Solver(format!("cannot start {} threads: {e}", options.jobs)))?;
    let results = pool.install(|| {
        indices
            .par_iter()
            .map(|&i| {
                let out = case(i, &solve).map(|t| (i, t));
                if out.is_err() {
                    solve.cancel.cancel();
                }
                if let Some(tick) = &options.progress {
                    tick();
                }
                out
            })
            .collect()
    });
    crate::solver::join_stopped();
    results
}

/// One solved case: its plan, its outcome, and whether it was proven optimal without a MIP (a
/// heuristic plan reached proven bounds on every level).
pub(crate) struct Solved {
    pub plan: Plan,
    pub outcome: Outcome,
    pub without_mip: bool,
    /// Levels proven optimal, from the first.
    pub proven_levels: usize,
}

/// Solves one case and sums it up.
pub(crate) fn solve_case(fleet: &Fleet, workload: &Workload, options: &SolveOptions) -> Result<Solved> {
    let started = Instant::now();
    let solved = solver::solve(fleet, workload, options)?;
    let outcome = Outcome::of(&solved.plan, workload, started.elapsed().as_secs_f64());
    // Claimed only where the solver says a start reached the known bound, not where levels
    // merely took no time (an instance where nothing fits is optimal at 0, not at the base's).
    let without_mip = solved.plan.status == SolveStatus::Optimal && solved.stats.reached_known_bound;
    let proven_levels = solved.stats.levels.iter().take_while(|l| l.proven()).count();
    Ok(Solved {
        plan: solved.plan,
        outcome,
        without_mip,
        proven_levels,
    })
}
