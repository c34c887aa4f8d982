//! Capacity planning: the cheapest nodes to buy so that every required replica is placed, then
//! section 6 on the grown fleet. One model: the planner's, with candidate nodes of every SKU and
//! an integer count of those bought per class of alike candidates ([`super::purchase`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use good_lp::constraint;

use super::highs_run::{self, HighsSettings, LevelOutcome, LevelResult, Starts};
use super::lexicographic::Levels;
use super::{Formulation, Instance, assign, planner_fleet};
use crate::domain::Sku;
use crate::domain::{Fleet, Plan, SolveStatus, Unplaced, Workload, make_plan};
use crate::error::{Error, Result};

pub use super::candidates::{MAX_CANDIDATES, bought_node};
pub(super) use super::candidates::{required, with_candidates};
pub use super::capacity_greedy::autoscaler_purchase;
use super::capacity_greedy::{Start, purchase_start};
pub use super::shortfall::{OneFewer, Short};
use super::shortfall::{infeasible, one_fewer};

/// How a capacity plan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityStatus {
    Optimal,
    TimeLimit,
    Infeasible,
}

/// The answer: what to buy, at what cost, the proven lower bound on cost, and the plan on the
/// grown fleet (or, when infeasible, what no purchase can host).
#[derive(Debug, Clone)]
pub struct Capacity {
    pub status: CapacityStatus,
    pub cost: u64,
    pub bound: u64,
    /// (SKU name, nodes bought), every SKU listed, catalog order.
    pub purchase: Vec<(String, u64)>,
    pub plan: Option<Plan>,
    /// The fleet with the bought nodes (`{sku}-1` ..), what `plan` is checked against.
    pub grown: Option<Fleet>,
    /// When infeasible: the required deployments short, `reasons` left to the caller.
    pub unplaced: Vec<Unplaced>,
    /// Why each of `unplaced` is short.
    pub short: Vec<Short>,
    /// When infeasible: the fleet with every candidate node bought, which `short` is about.
    pub all_bought: Option<Fleet>,
    /// Where the search was narrower than the rules (candidate nodes capped, GPU sizes kept
    /// apart): such an answer claims neither `optimal` nor `infeasible`.
    pub restrictions: Vec<String>,
    /// Per SKU bought: what one node fewer of it would leave unplaced of the required demand.
    pub one_fewer: Vec<OneFewer>,
    /// Seconds until the purchase was settled (proven, or the search stopped); section 6 on the
    /// grown fleet takes the rest of the time.
    pub purchase_seconds: f64,
}

impl Capacity {
    /// Whether `unplaced`'s counts are proven maxima (else what a stopped search placed), as
    /// the facts in `short` say.
    pub fn unplaced_proven(&self) -> bool {
        !self.short.is_empty() && self.short.iter().all(|s| matches!(s, Short::NoHost | Short::AtMost))
    }
}

/// Buys nodes at least cost so that every required replica (priority at least `min_priority`,
/// or every one) is placed, then follows section 6 on the grown fleet.
pub fn capacity(
    fleet: &Fleet,
    workload: &Workload,
    skus: &[Sku],
    skus_path: &std::path::Path,
    min_priority: Option<u64>,
    time_limit: Duration,
) -> Result<Capacity> {
    let started = Instant::now();
    // The searches stop a little early, so that assigning GPUs, checking the plan and writing
    // it fit in the time limit too.
    let deadline = started + time_limit
        - time_limit
            .mul_f64(super::budget::CAPACITY_OUTPUT_SHARE)
            .min(super::budget::CAPACITY_OUTPUT_MAX);
    // Nothing gives a capacity search up from outside yet: its purchase runs (the start's LP and
    // planner runs, the cost MIP, the grown fleet's levels) carry this switch for when it does.
    let cancel = super::budget::Cancel::default();
    let search = |cap| {
        purchase_and_plan(
            fleet,
            workload,
            skus,
            skus_path,
            min_priority,
            started,
            deadline,
            cap,
            &cancel,
        )
    };
    let mut answer = search(Some(MAX_CANDIDATES));
    // A search among capped candidates that finds no purchase proves nothing: search again
    // among every node that could help.
    if answer
        .as_ref()
        .is_ok_and(|c| c.status == CapacityStatus::Infeasible && !c.restrictions.is_empty())
    {
        answer = search(None);
    }
    // Narrowed even without the cap (GPU sizes of one type kept apart), a search that finds no
    // purchase proves nothing either.
    if let Ok(c) = &answer
        && c.status == CapacityStatus::Infeasible
        && !c.restrictions.is_empty()
    {
        answer = Err(Error::Unsettled {
            restrictions: c.restrictions.clone(),
        });
    }
    super::join_stopped();
    answer
}

#[allow(clippy::too_many_arguments)]
fn purchase_and_plan(
    fleet: &Fleet,
    workload: &Workload,
    skus: &[Sku],
    skus_path: &std::path::Path,
    min_priority: Option<u64>,
    started: Instant,
    deadline: Instant,
    cap: Option<u64>,
    cancel: &super::budget::Cancel,
) -> Result<Capacity> {
    let time_limit = deadline.saturating_duration_since(started);
    let (grown, purchase, mut restrictions) = with_candidates(fleet, workload, skus, min_priority, skus_path, cap)?;
    let view = planner_fleet(&grown, workload);
    let instance = Instance::with_purchase(&view, workload, purchase.clone());
    restrictions.extend(instance.restrictions.iter().cloned());
    let form = Arc::new(Formulation::build(&instance));
    let must: Vec<usize> = (0..workload.deployments.len())
        .filter(|&d| required(workload, d, min_priority))
        .collect();
    // A required deployment with no shape on any GPU type of the grown fleet (type, selector,
    // split or memory): its row would have no columns, which the solver may drop, so it is
    // decided here, and it alone is the cause.
    let hostless: Vec<usize> = must
        .iter()
        .copied()
        .filter(|&d| !instance.options.iter().any(|o| o.deployment == d))
        .collect();
    if !hostless.is_empty() {
        return Ok(infeasible(
            &grown,
            workload,
            skus,
            &must,
            &hostless,
            Vec::new(),
            deadline,
        ));
    }
    let mut fixed: Vec<good_lp::Constraint> = must
        .iter()
        .map(|&d| constraint!(form.placed[d].clone() >= workload.deployments[d].replicas as f64))
        .collect();
    let settings = HighsSettings {
        mip_rel_gap: 0.0,
        verbose: false,
        relaxed: false,
        cancel: cancel.clone(),
        stop_at: None,
        max_nodes: None,
    };
    let left = || deadline.saturating_duration_since(Instant::now());
    let no_plan = || {
        Error::Solver(format!(
            "no purchase placing every required replica was found within the time limit ({:.0} s), \
             nor a proof that none exists; raise --time-limit, or let low priorities fill what is \
             left with --min-priority",
            time_limit.as_secs_f64()
        ))
    };
    // HiGHS alone may find no purchase at all on a large fleet: the start search's is its start
    // and the answer if it finds nothing better in time.
    super::progress::phase("greedy purchase");
    // With the start, the LP relaxation's cost rounded up: no purchase costs less.
    let (start, lp_floor) = purchase_start(
        &instance,
        &form,
        workload,
        &must,
        &fixed,
        left().mul_f64(super::budget::PURCHASE_START_SHARE),
        cancel,
    );
    let start = match start {
        Start::Found(values) => Some(values),
        Start::Impossible => return Ok(infeasible(&grown, workload, skus, &must, &[], restrictions, deadline)),
        Start::Unknown => None,
    };
    let start_proven = start.as_ref().zip(lp_floor).is_some_and(|(values, floor)| {
        restrictions.is_empty() && highs_run::evaluate(&form, &form.purchase.cost, values).round() <= floor
    });
    let cost_result = if let (true, Some(values)) = (start_proven, &start) {
        // The start costs what the LP does: proven, no search needed.
        LevelResult {
            outcome: LevelOutcome::Optimal,
            values: values.clone(),
            bound: lp_floor.unwrap_or(f64::NAN),
            seconds: 0.0,
            reported: f64::NAN,
        }
    } else {
        let starts = Starts {
            hint: start.as_deref(),
            fallback: start.as_deref(),
        };
        // The purchase gets two thirds of the time; section 6 on the grown fleet the rest.
        let budget = left().mul_f64(super::budget::PURCHASE_SHARE);
        super::progress::phase("cheapest purchase (cost)");
        match super::worker::spawn_objective(
            &form,
            form.purchase.cost.clone(),
            false,
            &fixed,
            starts,
            budget,
            &settings,
        )
        .wait()
        {
            Ok(Some(result)) => result,
            // HiGHS found no purchase and none came before it.
            Err(Error::NoFeasibleYet) => return Err(no_plan()),
            Err(e) => return Err(e),
            // HiGHS ran past the deadline: the start's purchase stands, unproven.
            Ok(None) => match &start {
                Some(values) => LevelResult {
                    outcome: LevelOutcome::Stopped,
                    values: values.clone(),
                    bound: f64::NAN,
                    seconds: budget.as_secs_f64(),
                    reported: f64::NAN,
                },
                None => return Err(no_plan()),
            },
        }
    };
    let purchase_seconds = started.elapsed().as_secs_f64();
    if cost_result.outcome == LevelOutcome::Infeasible {
        return Ok(infeasible(&grown, workload, skus, &must, &[], restrictions, deadline));
    }
    let cost = highs_run::evaluate(&form, &form.purchase.cost, &cost_result.values).round();
    let proven = cost_result.outcome == LevelOutcome::Optimal && restrictions.is_empty();
    // HiGHS's bound, or the LP relaxation's where higher (HiGHS may stop before its root).
    let highs_floor = cost_result
        .bound
        .is_finite()
        .then(|| super::bound::lower(cost_result.bound));
    let lower = [highs_floor, lp_floor].into_iter().flatten().fold(f64::NAN, f64::max);
    let bound = if proven {
        cost
    } else if lower.is_finite() && restrictions.is_empty() {
        lower.clamp(0.0, cost)
    } else {
        0.0
    };
    // A stopped HiGHS may report its incumbent as the bound; only the LP's proves a purchase.
    let proven = proven || (restrictions.is_empty() && lp_floor.is_some_and(|floor| floor >= cost));
    fixed.push(constraint!(form.purchase.cost.clone() <= cost + 0.5));
    // Section 6 on the grown fleet, the purchase's cost fixed: the core's levels, recorded.
    let mut levels = Levels::new(Arc::clone(&form), fixed, cost_result.values, "grown fleet, ");
    for level in 0..3 {
        if !levels.settle(level, left(), &settings, None, !restrictions.is_empty())? {
            break;
        }
    }
    let all_proven = proven && levels.all_proven();
    let best = levels.best;
    let replicas = assign::assign(&instance, &form, &best)?;
    let bought = form.purchase.nodes_bought(&instance, &best);
    let mut final_fleet = fleet.clone();
    final_fleet.nodes.extend(
        grown
            .nodes
            .iter()
            .enumerate()
            .filter(|&(n, _)| bought[n])
            .map(|(_, node)| node.clone()),
    );
    let counts: Vec<(String, u64)> = skus
        .iter()
        .enumerate()
        .map(|(s, sku)| {
            let n = purchase
                .iter()
                .zip(&bought)
                .filter(|(p, b)| **b && p.as_ref().is_some_and(|p| p.sku == s))
                .count() as u64;
            (sku.name.clone(), n)
        })
        .collect();
    let status = if all_proven {
        SolveStatus::Optimal
    } else {
        SolveStatus::TimeLimit
    };
    let plan = make_plan(&final_fleet, workload, replicas, status, None);
    let violations = crate::check::check(&final_fleet, workload, &plan);
    if !violations.is_empty() {
        return Err(Error::invalid_plan(&violations));
    }
    let one_fewer = one_fewer(&final_fleet, workload, &counts, &must, deadline);
    Ok(Capacity {
        one_fewer,
        purchase_seconds,
        status: if proven {
            CapacityStatus::Optimal
        } else {
            CapacityStatus::TimeLimit
        },
        cost: cost as u64,
        bound: bound as u64,
        purchase: counts,
        plan: Some(plan),
        grown: Some(final_fleet),
        unplaced: Vec::new(),
        short: Vec::new(),
        all_bought: None,
        restrictions,
    })
}
