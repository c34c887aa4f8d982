//! What capacity planning says besides the purchase: what no purchase can host, and why (as
//! facts that `workflows::capacity` words), and what one node fewer of each SKU bought would
//! leave out.

use std::time::Instant;

use super::capacity::{Capacity, CapacityStatus};
use crate::domain::{Fleet, Sku, SolveStatus, Unplaced, Workload};

/// Why a required deployment is short when no purchase places the demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Short {
    /// No GPU of any SKU or of the fleet can host it (type, selector, split or memory).
    NoHost,
    /// With every candidate bought, a proven plan places no more next to the others.
    AtMost,
    /// With every candidate bought, a search stopped by the time limit placed this many.
    Found,
    /// Each fits with every candidate bought, but not all together.
    NotTogether,
}

/// What one node fewer of a SKU bought would leave out, from a plan of the grown fleet
/// without its last node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneFewer {
    pub sku: String,
    /// Required replicas left out per deployment, where that plan was proven optimal; `None`
    /// where the search for it stopped first (a stopped search may leave out more than needed).
    pub left_out: Option<Vec<(String, u64)>>,
}

/// No purchase within every `max` places the demand: what it cannot host, and why, as facts
/// ([`Short`]; `workflows::capacity` words them). A search narrowed by `restrictions` proves
/// nothing: its answer carries them and no facts (the caller searches again, or refuses).
pub(super) fn infeasible(
    grown: &Fleet,
    workload: &Workload,
    skus: &[Sku],
    must: &[usize],
    hostless: &[usize],
    restrictions: Vec<String>,
    deadline: Instant,
) -> Capacity {
    let mut answer = Capacity {
        status: CapacityStatus::Infeasible,
        cost: 0,
        bound: 0,
        purchase: skus.iter().map(|s| (s.name.clone(), 0)).collect(),
        plan: None,
        grown: None,
        unplaced: Vec::new(),
        short: Vec::new(),
        all_bought: Some(grown.clone()),
        restrictions,
        one_fewer: Vec::new(),
        purchase_seconds: 0.0,
    };
    if !answer.restrictions.is_empty() {
        return answer;
    }
    let mut short = |d: usize, placed: u64, why: Short| {
        answer.unplaced.push(Unplaced {
            deployment: workload.deployments[d].name.clone(),
            requested: workload.deployments[d].replicas,
            placed,
            reasons: Vec::new(),
            suggestions: Vec::new(),
        });
        answer.short.push(why);
    };
    // A deployment no GPU of the grown fleet can host is the cause, whatever the others need.
    if !hostless.is_empty() {
        for &d in hostless {
            short(d, 0, Short::NoHost);
        }
        return answer;
    }
    // What the rest of the run's time finds fits, no more (a search of its own would outlast
    // `--time-limit`); "at most" only where that search was proven.
    let options = super::SolveOptions {
        time_limit: deadline
            .saturating_duration_since(Instant::now())
            .max(super::budget::LEAST),
        ..super::SolveOptions::default()
    };
    let most = super::solve(grown, workload, &options).ok();
    let proven = most.as_ref().is_some_and(|s| s.plan.status == SolveStatus::Optimal);
    for &d in must {
        let dep = &workload.deployments[d];
        let placed = most.as_ref().map_or(0, |s| {
            s.plan.replicas.iter().filter(|r| r.deployment == dep.name).count() as u64
        });
        if placed < dep.replicas {
            short(d, placed, if proven { Short::AtMost } else { Short::Found });
        }
    }
    if answer.unplaced.is_empty() {
        // Each fits with all bought, but not all together.
        for &d in must {
            answer.unplaced.push(Unplaced {
                deployment: workload.deployments[d].name.clone(),
                requested: workload.deployments[d].replicas,
                placed: 0,
                reasons: Vec::new(),
                suggestions: Vec::new(),
            });
            answer.short.push(Short::NotTogether);
        }
    }
    answer
}

/// For each SKU bought, the grown fleet without its last node, planned: the required replicas
/// that no longer fit show why the purchase needs that node. Only a proven plan says what is
/// left out; a stopped one says nothing.
pub(super) fn one_fewer(
    grown: &Fleet,
    workload: &Workload,
    counts: &[(String, u64)],
    must: &[usize],
    deadline: Instant,
) -> Vec<OneFewer> {
    let mut out = Vec::new();
    for (sku, n) in counts.iter().filter(|(_, n)| *n > 0) {
        let left = deadline.saturating_duration_since(Instant::now());
        let last = format!("{sku}-{n}");
        let mut fewer = grown.clone();
        fewer.nodes.retain(|node| node.name != last);
        let options = super::SolveOptions {
            time_limit: left,
            ..super::SolveOptions::default()
        };
        let solved = (!left.is_zero())
            .then(|| super::solve(&fewer, workload, &options).ok())
            .flatten()
            .filter(|solved| solved.plan.status == SolveStatus::Optimal);
        let left_out = solved.map(|solved| {
            must.iter()
                .filter_map(|&d| {
                    let dep = &workload.deployments[d];
                    let got = solved.plan.replicas.iter().filter(|r| r.deployment == dep.name).count() as u64;
                    (got < dep.replicas).then(|| (dep.name.clone(), dep.replicas - got))
                })
                .collect()
        });
        out.push(OneFewer {
            sku: sku.clone(),
            left_out,
        });
    }
    out
}
