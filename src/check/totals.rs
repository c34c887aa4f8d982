//! Fleet-wide rules: reserves (section 5), and the totals a plan claims (sections 6 and 7).

use std::collections::{BTreeMap, BTreeSet};

use super::lookup::Lookup;
use super::placement::{Occupancy, eligible};
use super::{Report, Rule};
use crate::domain::{Fleet, Plan, SolveStatus, Workload};

/// Section 5: eligible GPUs that stay unassigned per node, per type and fleet-wide.
pub fn check_reserves(fleet: &Fleet, workload: &Workload, occupancy: &Occupancy, report: &mut Report) {
    let reserve = &workload.policy.reserve;
    let mut free_by_type: BTreeMap<&str, (u64, u64)> = BTreeMap::new(); // (eligible, unassigned)
    for node in &fleet.nodes {
        let (mut elig, mut unassigned) = (0u64, 0u64);
        for gpu in node.gpus.iter().filter(|g| eligible(g, workload)) {
            let idle = !occupancy.contains_key(&(node.name.clone(), gpu.index));
            elig += 1;
            unassigned += u64::from(idle);
            let entry = free_by_type.entry(gpu.gpu_type.as_str()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(idle);
        }
        let keep = reserve.per_node.min(elig);
        if unassigned < keep {
            report.add(
                Rule::Reserve,
                format!(
                    "node '{}' keeps {unassigned} eligible GPUs free, reserve.per_node asks {keep}",
                    node.name
                ),
            );
        }
    }
    for (gpu_type, &k) in &reserve.per_type {
        let (elig, unassigned) = free_by_type.get(gpu_type.as_str()).copied().unwrap_or((0, 0));
        let keep = k.min(elig);
        if unassigned < keep {
            report.add(
                Rule::Reserve,
                format!("{unassigned} eligible {gpu_type} GPUs stay free, reserve.per_type asks {keep}"),
            );
        }
    }
    let (elig, unassigned) = free_by_type.values().fold((0, 0), |(a, b), &(e, u)| (a + e, b + u));
    let keep = reserve.fleet.min(elig);
    if unassigned < keep {
        report.add(
            Rule::Reserve,
            format!("{unassigned} eligible GPUs stay free fleet-wide, reserve.fleet asks {keep}"),
        );
    }
}

/// The objective, `unplaced` and `fleet` fields match what the replicas add up to.
pub fn check_totals(
    fleet: &Fleet,
    workload: &Workload,
    at: &Lookup<'_>,
    plan: &Plan,
    occupancy: &Occupancy,
    report: &mut Report,
) {
    let mut placed: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut value, mut penalty) = (0u64, 0u64);
    for r in &plan.replicas {
        let Some(d) = at.deployment(&r.deployment) else {
            continue;
        };
        *placed.entry(d.name.as_str()).or_default() += 1;
        value += d.priority;
        // The same reading of the name as the shape rule's (any case, dtype spellings).
        let quantization = r.quantization.parse::<crate::domain::Quantization>().ok();
        if let Some(rank) = d.quantizations.iter().position(|q| Some(*q) == quantization) {
            penalty += rank as u64;
        }
    }
    let used = occupancy.len() as u64;
    let o = &plan.objective;
    for (name, claimed, actual) in [
        ("placed_value", o.placed_value, value),
        ("quantization_penalty", o.quantization_penalty, penalty),
        ("gpus_used", o.gpus_used, used),
    ] {
        if claimed != actual {
            report.add(
                Rule::Totals,
                format!("objective.{name} is {claimed}, the replicas give {actual}"),
            );
        }
    }
    if plan.status == SolveStatus::TimeLimit && (o.bound.is_none() || o.gap.is_none()) {
        report.add(
            Rule::Totals,
            "status time_limit needs objective.bound and objective.gap".into(),
        );
    }
    if let Some(bound) = o.bound
        && bound + 1e-6 < o.placed_value as f64
    {
        report.add(
            Rule::Totals,
            format!(
                "objective.bound {bound} is below placed_value {}: no bound can be",
                o.placed_value
            ),
        );
    }
    if let Some(gap) = o.gap {
        if plan.status == SolveStatus::Optimal && gap > 1e-9 {
            report.add(
                Rule::Totals,
                format!("status optimal with a gap of {gap}: a proven plan has none"),
            );
        }
        if !(0.0..=1.0).contains(&gap) {
            report.add(Rule::Totals, format!("objective.gap {gap} is not within 0..1"));
        }
    }
    if plan.status == SolveStatus::Optimal && !plan.restrictions.is_empty() {
        report.add(
            Rule::Totals,
            format!(
                "status optimal from a search narrower than the rules ({})",
                plan.restrictions.join("; ")
            ),
        );
    }
    let mut listed = BTreeSet::new();
    for u in &plan.unplaced {
        if !listed.insert(u.deployment.as_str()) {
            report.add(
                Rule::Totals,
                format!("unplaced lists '{}' more than once", u.deployment),
            );
        }
        match at.deployment(&u.deployment) {
            None => report.add(
                Rule::Totals,
                format!("unplaced names unknown deployment '{}'", u.deployment),
            ),
            Some(d) => {
                let got = placed.get(d.name.as_str()).copied().unwrap_or(0);
                if u.requested != d.replicas || u.placed != got {
                    report.add(
                        Rule::Totals,
                        format!(
                            "unplaced {}: says {} of {}, the plan has {got} of {}",
                            d.name, u.placed, u.requested, d.replicas
                        ),
                    );
                }
            }
        }
    }
    for d in &workload.deployments {
        let got = placed.get(d.name.as_str()).copied().unwrap_or(0);
        if got < d.replicas && !listed.contains(d.name.as_str()) {
            report.add(
                Rule::Totals,
                format!(
                    "{} has {got} of {} replicas but is missing from unplaced",
                    d.name, d.replicas
                ),
            );
        }
    }
    let total = fleet.gpus().count() as u64;
    let elig = fleet.gpus().filter(|(_, g)| eligible(g, workload)).count() as u64;
    let f = &plan.fleet;
    for (name, claimed, actual) in [
        ("gpus_total", f.gpus_total, total),
        ("gpus_eligible", f.gpus_eligible, elig),
        ("gpus_used", f.gpus_used, used),
        ("gpus_free", f.gpus_free, elig.saturating_sub(used)),
    ] {
        if claimed != actual {
            report.add(
                Rule::Totals,
                format!("fleet.{name} is {claimed}, the fleet gives {actual}"),
            );
        }
    }
}
