//! The human tables of `whatif` and `drill`, in the `kubectl get` style of `plan`'s table.

use std::collections::BTreeSet;

use super::Outcome;
use super::drill::Drill;
use super::whatif::WhatIf;
use crate::domain::SolveStatus;
use crate::formats::table::columns;

/// `optimal`, or `time limit (gap 0.29%)`.
fn status(o: &Outcome) -> String {
    match o.status {
        SolveStatus::Optimal => "optimal".into(),
        SolveStatus::TimeLimit => format!("time limit (gap {:.2}%)", 100.0 * o.objective.gap.unwrap_or(0.0)),
    }
}

/// `+3`, `-2`, or empty for no change.
fn signed(delta: i64) -> String {
    match delta {
        0 => String::new(),
        d if d > 0 => format!("+{d}"),
        d => d.to_string(),
    }
}

/// Replicas gained or lost per deployment against the base: `chat-70b -2, embed +1`.
fn replica_changes(base: &Outcome, other: &Outcome) -> String {
    let names: BTreeSet<&String> = base.placed.keys().chain(other.placed.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let before = base.placed.get(name).copied().unwrap_or(0) as i64;
            let after = other.placed.get(name).copied().unwrap_or(0) as i64;
            (before != after).then(|| format!("{name} {}", signed(after - before)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row per scenario, base first: placed value and its change, replicas gained or lost per
/// deployment, GPUs used, status and seconds.
pub fn whatif(report: &WhatIf) -> String {
    let Some(base) = report.scenarios.first() else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = report
        .scenarios
        .iter()
        .map(|s| {
            let o = &s.outcome;
            vec![
                s.name.clone(),
                o.objective.placed_value.to_string(),
                signed(o.objective.placed_value as i64 - base.outcome.objective.placed_value as i64),
                o.objective.gpus_used.to_string(),
                status(o),
                format!("{:.2}", o.seconds),
                replica_changes(&base.outcome, o),
            ]
        })
        .collect();
    columns(
        &["SCENARIO", "VALUE", "CHANGE", "GPUS", "STATUS", "SECONDS", "REPLICAS"],
        &rows,
    )
}

/// The base, then one row per case, worst first, with what each loses per deployment.
pub fn drill(report: &Drill) -> String {
    let base = &report.base;
    let rows: Vec<Vec<String>> = report
        .cases
        .iter()
        .map(|c| {
            let o = &c.outcome;
            let lost: Vec<String> = c
                .lost
                .iter()
                .map(|l| format!("{} -{}", l.deployment, l.replicas))
                .collect();
            vec![
                c.failed.clone(),
                o.objective.placed_value.to_string(),
                signed(o.objective.placed_value as i64 - base.objective.placed_value as i64),
                o.objective.gpus_used.to_string(),
                status(o),
                lost.join(", "),
            ]
        })
        .collect();
    let proven = report
        .cases
        .iter()
        .filter(|c| c.outcome.status == SolveStatus::Optimal)
        .count();
    let quick = report.cases.iter().filter(|c| c.proven_without_mip).count();
    format!(
        "base: placed_value {}, gpus_used {}, {}\n\n{}\n{} cases, {proven} proven optimal ({quick} without a MIP: the base plan minus the failure, refilled, reached the base's optimum)\n",
        base.objective.placed_value,
        base.objective.gpus_used,
        status(base),
        columns(&["FAILED", "VALUE", "CHANGE", "GPUS", "STATUS", "LOST"], &rows).trim_end(),
        report.cases.len()
    )
}
