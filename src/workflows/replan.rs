//! `fleetfit replan`: from the plan that runs now, the plan that keeps the most running.
//!
//! Objective: the most `placed_value` (section 6's level 1), then the fewest moves, then levels 2
//! and 3. A replica is kept when its deployment, shape, nodes and GPUs are unchanged; per
//! deployment, `moves = max(current, new) - kept` (a stop paired with a start is one move).
//!
//! Candidates, all checked: the running replicas that are still valid with greedy filling in
//! around them; the solver's plan started from them, its replicas re-seated on the GPUs they run
//! on now where the node and shape agree; and plans that free a few nodes and solve around the
//! rest ([`super::neighbourhood`]). The best by (value, moves, penalty,
//! GPUs) wins. Its moves are proven minimal when they equal the replicas that must stop anyway
//! (no longer valid, or more than asked for), and the plan is `optimal` when it also reaches the
//! solver's proven optimum on every level.

use std::collections::BTreeMap;

use super::migration;
use super::neighbourhood::{self, Around};
use crate::check::Rule;
use crate::domain::{Fleet, PlacedReplica, Plan, SolveStatus, Workload, make_plan};
use crate::error::{Error, Result};
use crate::solver::{self, SolveOptions};

/// How to re-plan.
#[derive(Debug, Clone, Default)]
pub struct ReplanOptions {
    pub solve: SolveOptions,
    /// At most this many moves (a hard budget, ahead of level 1).
    pub max_moves: Option<u64>,
    /// Running replicas still valid with at least this priority stay where they are.
    pub keep_priority: Option<u64>,
}

/// A running replica that cannot stay, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub deployment: String,
    pub replica: u64,
    pub reason: String,
}

/// Per deployment: replicas kept, started (new), stopped (gone) and moved (a stop paired with a
/// start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub deployment: String,
    pub kept: u64,
    pub started: u64,
    pub stopped: u64,
    pub moved: u64,
}

/// The new plan (with `objective.moves` and `migration`), what could not stay, and the changes
/// per deployment.
#[derive(Debug, Clone)]
pub struct Replan {
    pub plan: Plan,
    pub invalid: Vec<Invalid>,
    pub changes: Vec<Changes>,
    /// The fewest moves any plan can make: running replicas that must stop.
    pub forced_moves: u64,
}

/// What makes two replicas the same running worker: deployment, shape, nodes and GPUs.
pub fn identity(r: &PlacedReplica) -> (&str, &str, u64, u64, &str, &[crate::domain::Stage]) {
    (
        &r.deployment,
        &r.quantization,
        r.tensor_parallel,
        r.pipeline_parallel,
        &r.gpu_type,
        &r.stages,
    )
}

/// Per deployment `(current, new, kept)`, kept counted as a multiset match of identities.
fn counts(current: &[PlacedReplica], new: &[PlacedReplica]) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut running: BTreeMap<_, u64> = BTreeMap::new();
    for r in current {
        out.entry(r.deployment.clone()).or_default().0 += 1;
        *running.entry(identity(r)).or_default() += 1;
    }
    for r in new {
        let entry = out.entry(r.deployment.clone()).or_default();
        entry.1 += 1;
        if let Some(n) = running.get_mut(&identity(r))
            && *n > 0
        {
            *n -= 1;
            entry.2 += 1;
        }
    }
    out
}

/// Replicas that start, stop or move between two plans: per deployment `max(current, new) - kept`.
pub fn moves(current: &[PlacedReplica], new: &[PlacedReplica]) -> u64 {
    counts(current, new).values().map(|&(c, n, k)| c.max(n) - k).sum()
}

/// Splits the running replicas into those that may stay (renumbered 0.. per deployment, in their
/// order) and those that may not, with the reason; and the moves no plan avoids (each replica
/// that breaks a rule on its own, or is one more than asked for, must stop).
fn sort_current(fleet: &Fleet, workload: &Workload, current: &Plan) -> (Vec<PlacedReplica>, Vec<Invalid>, u64) {
    let mut invalid = Vec::new();
    let mut valid: Vec<PlacedReplica> = Vec::new();
    // Each valid replica's number in `current`.
    let mut originals: Vec<u64> = Vec::new();
    let mut per_deployment: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &current.replicas {
        let mut reject = |reason: String| {
            invalid.push(Invalid {
                deployment: r.deployment.clone(),
                replica: r.replica,
                reason,
            })
        };
        let Some(d) = workload.deployment(&r.deployment) else {
            reject(format!("no deployment '{}' is asked for now", r.deployment));
            continue;
        };
        // A plan written before runtime_mib was recorded ran with today's figure, if any.
        let runtime_mib = r.runtime_mib.or_else(|| {
            let q = r.quantization.parse().ok()?;
            Some(d.runtime_mib(q, r.tensor_parallel, r.pipeline_parallel))
        });
        let r = &PlacedReplica {
            runtime_mib,
            ..r.clone()
        };
        let alone = PlacedReplica {
            replica: 0,
            ..r.clone()
        };
        // Judged alone, on its own nodes (reserves are judged together below).
        let local = Fleet {
            nodes: fleet
                .nodes
                .iter()
                .filter(|n| r.stages.iter().any(|s| s.node == n.name))
                .cloned()
                .collect(),
        };
        let plan = make_plan(&local, workload, vec![alone], SolveStatus::TimeLimit, None);
        let who = format!("{} replica 0: ", r.deployment);
        let broken: Vec<String> = crate::check::check(&local, workload, &plan)
            .into_iter()
            .filter(|v| !matches!(v.rule, Rule::Totals | Rule::Reserve))
            .map(|v| v.message.strip_prefix(&who).unwrap_or(&v.message).to_string())
            .collect();
        if let Some(first) = broken.first() {
            reject(first.clone());
            continue;
        }
        let n = per_deployment.entry(&d.name).or_default();
        if *n >= d.replicas {
            reject(format!("only {} replicas of {} are asked for now", d.replicas, d.name));
            continue;
        }
        valid.push(PlacedReplica {
            replica: *n,
            ..r.clone()
        });
        originals.push(r.replica);
        *n += 1;
    }
    let forced = moves(&current.replicas, &valid);
    // Together they may still break a rule (reserves, two exclusive workers on one GPU): then
    // they stay one by one, highest priority first (then in their order), each only where it
    // breaks nothing next to those already staying.
    let broken = |replicas: Vec<PlacedReplica>| {
        let plan = make_plan(fleet, workload, replicas, SolveStatus::TimeLimit, None);
        crate::check::check(fleet, workload, &plan)
            .into_iter()
            .find(|v| v.rule != Rule::Totals)
    };
    if broken(valid.clone()).is_some() {
        let priority = |r: &PlacedReplica| workload.deployment(&r.deployment).map_or(0, |d| d.priority);
        let mut order: Vec<usize> = (0..valid.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(priority(&valid[i])), i));
        let mut staying: Vec<usize> = Vec::new();
        for i in order {
            let mut trial: Vec<PlacedReplica> = staying.iter().map(|&j| valid[j].clone()).collect();
            trial.push(valid[i].clone());
            match broken(trial) {
                None => staying.push(i),
                Some(v) => invalid.push(Invalid {
                    deployment: valid[i].deployment.clone(),
                    replica: originals[i],
                    reason: format!("does not fit next to the replicas that stay: {}", v.message),
                }),
            }
        }
        staying.sort_unstable();
        valid = staying.into_iter().map(|j| valid[j].clone()).collect();
    }
    invalid.sort_by(|a, b| (&a.deployment, a.replica).cmp(&(&b.deployment, b.replica)));
    (valid, invalid, forced)
}

/// Drops started replicas, lowest priority first, while the moves exceed `budget`; `None` when
/// the budget still cannot be met.
fn within_budget(
    workload: &Workload,
    current: &[PlacedReplica],
    mut candidate: Vec<PlacedReplica>,
    budget: Option<u64>,
) -> Option<Vec<PlacedReplica>> {
    let Some(budget) = budget else {
        return Some(candidate);
    };
    let priority = |r: &PlacedReplica| workload.deployment(&r.deployment).map_or(0, |d| d.priority);
    while moves(current, &candidate) > budget {
        let before = moves(current, &candidate);
        // The started replica whose removal saves a move, lowest priority, last first.
        let choice = (0..candidate.len()).rev().filter(|&i| {
            let mut without = candidate.clone();
            without.remove(i);
            moves(current, &without) < before
        });
        let i = choice.min_by_key(|&i| priority(&candidate[i]))?;
        candidate.remove(i);
    }
    Some(candidate)
}

/// Re-plans from `current`: see the module's description.
pub fn replan(fleet: &Fleet, workload: &Workload, current: &Plan, options: &ReplanOptions) -> Result<Replan> {
    let answer = replan_unsettled(fleet, workload, current, options);
    crate::solver::join_stopped();
    answer
}

fn replan_unsettled(fleet: &Fleet, workload: &Workload, current: &Plan, options: &ReplanOptions) -> Result<Replan> {
    let deadline = std::time::Instant::now() + options.solve.time_limit;
    let (valid, invalid, forced_moves) = sort_current(fleet, workload, current);
    if let Some(budget) = options.max_moves
        && moves(&current.replicas, &valid) > budget
    {
        return Err(Error::Input(crate::error::InputError::new(
            std::path::Path::new("--max-moves"),
            "",
            format!(
                "{budget} is below the {} running replicas that must stop anyway",
                moves(&current.replicas, &valid)
            ),
        )));
    }
    let pinned: Vec<&PlacedReplica> = valid
        .iter()
        .filter(|r| {
            options
                .keep_priority
                .is_some_and(|p| workload.deployment(&r.deployment).is_some_and(|d| d.priority >= p))
        })
        .collect();
    let solved = solver::solve(
        fleet,
        workload,
        &SolveOptions {
            start: Some(valid.clone()),
            ..options.solve.clone()
        },
    )?;
    let best = &solved.plan;
    // Level 1 counts as reached at the solver's value, or with `--gap` within the gap of its
    // bound: past that, fewer moves come first.
    let bound = match best.status {
        SolveStatus::Optimal => best.objective.placed_value as f64,
        SolveStatus::TimeLimit => best.objective.bound.unwrap_or(best.objective.placed_value as f64),
    };
    let gap = options.solve.mip_rel_gap;
    let enough = if gap > 0.0 {
        (((1.0 - gap) * bound) - 1e-6).ceil().max(0.0) as u64
    } else {
        best.objective.placed_value
    }
    .min(best.objective.placed_value);
    let filled = crate::greedy::place_around(fleet, workload, &valid);
    let filled_value = make_plan(fleet, workload, filled.clone(), SolveStatus::TimeLimit, None)
        .objective
        .placed_value;
    let mut candidates = vec![filled];
    // Where keeping everything falls short of the solver's value: free nodes and solve around
    // the rest.
    if filled_value < enough {
        let pins: Vec<PlacedReplica> = pinned.iter().map(|r| (*r).clone()).collect();
        let around = Around {
            fleet,
            workload,
            running: &valid,
            pinned: &pins,
        };
        candidates.extend(around.search(&best.replicas, enough, &options.solve, deadline));
    }
    if let Some(seated) = neighbourhood::reseat(fleet, workload, &best.replicas, &valid) {
        candidates.push(seated);
    }
    candidates.push(best.replicas.clone());
    let mut chosen: Option<(Plan, u64)> = None;
    for candidate in candidates {
        let Some(candidate) = within_budget(workload, &current.replicas, candidate, options.max_moves) else {
            continue;
        };
        let keeps_pins = pinned
            .iter()
            .all(|p| candidate.iter().any(|r| identity(r) == identity(p)));
        let plan = make_plan(fleet, workload, candidate, SolveStatus::TimeLimit, None);
        if !keeps_pins || !crate::check::check(fleet, workload, &plan).is_empty() {
            continue;
        }
        let m = moves(&current.replicas, &plan.replicas);
        let key = |p: &Plan, m: u64| {
            let o = &p.objective;
            (
                std::cmp::Reverse(o.placed_value.min(enough)),
                m,
                std::cmp::Reverse(o.placed_value),
                o.quantization_penalty,
                o.gpus_used,
            )
        };
        if chosen.as_ref().is_none_or(|(c, cm)| key(&plan, m) < key(c, *cm)) {
            chosen = Some((plan, m));
        }
    }
    // Keeping every valid replica and placing nothing more always qualifies.
    let (plan, m) = chosen.unwrap_or_else(|| {
        let plan = make_plan(fleet, workload, valid.clone(), SolveStatus::TimeLimit, None);
        let m = moves(&current.replicas, &plan.replicas);
        (plan, m)
    });
    let o = &plan.objective;
    let b = &best.objective;
    let proven = best.status == SolveStatus::Optimal
        && m == forced_moves
        && (o.placed_value, o.quantization_penalty, o.gpus_used)
            == (b.placed_value, b.quantization_penalty, b.gpus_used);
    let (status, bound) = if proven {
        (SolveStatus::Optimal, None)
    } else {
        (SolveStatus::TimeLimit, Some(bound.max(o.placed_value as f64)))
    };
    let mut plan = make_plan(fleet, workload, plan.replicas, status, bound);
    plan.objective.moves = Some(m);
    // Moves above the replicas that must stop anyway are not proven minimal: the plan says so,
    // with that bound (moves are searched by neighbourhoods, not by the integer program).
    plan.objective.moves_bound = (m > forced_moves).then_some(forced_moves);
    plan.migration = Some(migration::order(fleet, workload, &current.replicas, &plan.replicas));
    let violations = crate::check::check(fleet, workload, &plan);
    let violations: Vec<_> = violations
        .into_iter()
        .chain(crate::check::check_migration(fleet, workload, current, &plan))
        .collect();
    if !violations.is_empty() {
        return Err(Error::invalid_plan(&violations));
    }
    let changes = counts(&current.replicas, &plan.replicas)
        .into_iter()
        .map(|(deployment, (c, n, k))| {
            let moved = (c - k).min(n - k);
            Changes {
                deployment,
                kept: k,
                started: n - k - moved,
                stopped: c - k - moved,
                moved,
            }
        })
        .collect();
    Ok(Replan {
        plan,
        invalid,
        changes,
        forced_moves,
    })
}
