//! The human tables of `whatif` and `drill`, in the `kubectl get` style of `plan`'s table.

use std::collections::BTreeSet;

use super::Outcome;
use super::drill::Drill;
use super::whatif::WhatIf;
use crate::domain::SolveStatus;
use crate::formats::table::columns;

/// `optimal`; `value proven` where level 1 is proven and a later level (GPUs used) is not;
/// else `time limit (gap 0.29%)`.
fn status(o: &Outcome) -> String {
    let (value, bound) = level_one(o);
    match o.status {
        SolveStatus::Optimal => "optimal".into(),
        SolveStatus::TimeLimit if value == bound => "value proven, GPUs used not".into(),
        SolveStatus::TimeLimit => format!("time limit (gap {:.2}%)", 100.0 * o.objective.gap.unwrap_or(0.0)),
    }
}

/// Level 1 of an outcome: its placed value and the most any plan could place, as proven.
fn level_one(o: &Outcome) -> (u64, u64) {
    let value = o.objective.placed_value;
    let bound = match o.status {
        SolveStatus::Optimal => value,
        SolveStatus::TimeLimit => o.objective.bound.map_or(value, |b| (b.floor() as u64).max(value)),
    };
    (value, bound)
}

/// A case's change in placed value against the base: exact (`-12`) where both are proven at
/// level 1; else the plans' difference with how far the optimum's could be from it: up by the
/// case's gap, down by the base's (`-12 +/- 3`, `-12 +3/-1`).
fn change(base: &Outcome, case: &Outcome) -> String {
    let (base_value, base_bound) = level_one(base);
    let (value, bound) = level_one(case);
    let delta = signed(value as i64 - base_value as i64);
    let (up, down) = (bound - value, base_bound - base_value);
    let delta = if delta.is_empty() { "0".to_string() } else { delta };
    match (up, down) {
        (0, 0) => signed(value as i64 - base_value as i64),
        (u, d) if u == d => format!("{delta} +/- {u}"),
        (u, d) => format!("{delta} +{u}/-{d}"),
    }
}

/// The line under a sweep's table that says how to read its changes.
const CHANGE_NOTE: &str = "CHANGE is exact where the base and the case are both proven at level 1; else the plans' difference, +/- how far the optimum's could be (the case's gap up, the base's down)";

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
                change(&base.outcome, o),
                o.objective.gpus_used.to_string(),
                status(o),
                format!("{:.2}", o.seconds),
                replica_changes(&base.outcome, o),
            ]
        })
        .collect();
    let table = columns(
        &["SCENARIO", "VALUE", "CHANGE", "GPUS", "STATUS", "SECONDS", "REPLICAS"],
        &rows,
    );
    let exact = |o: &Outcome| level_one(o).0 == level_one(o).1;
    if report.scenarios.iter().all(|s| exact(&s.outcome)) {
        table
    } else {
        format!("{table}\n{CHANGE_NOTE}\n")
    }
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
                change(base, o),
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
    let exact = |o: &Outcome| level_one(o).0 == level_one(o).1;
    let value_proven = report.cases.iter().filter(|c| exact(&c.outcome)).count();
    let value_only = if value_proven > proven {
        format!(", {} more with the value proven", value_proven - proven)
    } else {
        String::new()
    };
    let note = if exact(base) && value_proven == report.cases.len() {
        String::new()
    } else {
        format!("{CHANGE_NOTE}\n")
    };
    format!(
        "base: placed_value {}, gpus_used {}, {}\n\n{}\n{} cases, {proven} proven optimal ({quick} without a MIP: the base plan minus the failure, refilled, reached the base's optimum){value_only}\n{note}",
        base.objective.placed_value,
        base.objective.gpus_used,
        status(base),
        columns(&["FAILED", "VALUE", "CHANGE", "GPUS", "STATUS", "LOST"], &rows).trim_end(),
        report.cases.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Objective;

    fn outcome(value: u64, bound: Option<f64>) -> Outcome {
        Outcome {
            objective: Objective {
                placed_value: value,
                quantization_penalty: 0,
                gpus_used: 0,
                bound,
                gap: bound.map(|b| (b - value as f64) / b),
                moves: None,
                moves_bound: None,
            },
            status: if bound.is_some() {
                SolveStatus::TimeLimit
            } else {
                SolveStatus::Optimal
            },
            unplaced: Vec::new(),
            placed: Default::default(),
            seconds: 0.0,
        }
    }

    #[test]
    fn changes_are_exact_only_where_both_values_are_proven() {
        let base = outcome(100, None);
        assert_eq!(change(&base, &outcome(88, None)), "-12");
        assert_eq!(change(&base, &outcome(100, None)), "");
        assert_eq!(change(&base, &outcome(88, Some(91.0))), "-12 +3/-0");
        let unsure_base = outcome(100, Some(103.0));
        assert_eq!(change(&unsure_base, &outcome(88, Some(91.0))), "-12 +/- 3");
        assert_eq!(change(&unsure_base, &outcome(100, None)), "0 +0/-3");
        // A time-limited case whose level 1 reached its bound: its value is proven, GPUs are not.
        let value_proven = outcome(88, Some(88.0));
        assert_eq!(change(&base, &value_proven), "-12");
        assert_eq!(status(&value_proven), "value proven, GPUs used not");
    }
}
