//! The report's tables, written as HTML on the server side so that they read without the script
//! and in print: GPUs per type, unplaced demand with its reasons, sweeps worst first with their
//! uncertainty, a purchase and what it places, and a migration in order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::fleet_map::State;
use super::html::{bar, esc};
use super::results::{CapacityResult, DrillResult, WhatIfResult, value_range};
use crate::domain::{Fleet, Objective, Plan, SolveStatus};

/// GPUs per type: all, used, free, reserved, busy, unhealthy.
pub fn gpu_types(fleet: &Fleet, states: &BTreeMap<(usize, u32), State>) -> String {
    let mut per_type: BTreeMap<&str, [u64; 6]> = BTreeMap::new();
    for (n, node) in fleet.nodes.iter().enumerate() {
        for gpu in &node.gpus {
            let row = per_type.entry(gpu.gpu_type.as_str()).or_default();
            row[0] += 1;
            let column = match states[&(n, gpu.index)] {
                State::Used => 1,
                State::Free => 2,
                State::Reserved => 3,
                State::Busy => 4,
                State::Unhealthy => 5,
            };
            row[column] += 1;
        }
    }
    let mut out = String::from(
        "<table><thead><tr><th scope=col>GPU type</th><th scope=col>GPUs</th><th scope=col>used</th><th scope=col>free</th><th scope=col>reserved</th><th scope=col>busy</th><th scope=col>unhealthy</th><th scope=col>use</th></tr></thead><tbody>",
    );
    for (gpu_type, row) in &per_type {
        write!(out, "<tr><th scope=row>{}</th>", esc(gpu_type)).unwrap();
        for n in row {
            write!(out, "<td>{n}</td>").unwrap();
        }
        write!(out, "<td>{}</td></tr>", bar(row[1], row[0])).unwrap();
    }
    out.push_str("</tbody></table>");
    out
}

/// Demand the plan leaves unplaced, with its reasons.
pub fn unplaced(plan: &Plan) -> String {
    if plan.unplaced.is_empty() {
        return "<p>Every replica asked for is placed.</p>".into();
    }
    let mut out = String::from(
        "<table><thead><tr><th scope=col>deployment</th><th scope=col>placed</th><th scope=col>asked</th><th scope=col>why</th></tr></thead><tbody>",
    );
    for u in &plan.unplaced {
        let reasons: String = u.reasons.iter().map(|r| format!("<li>{}</li>", esc(r))).collect();
        write!(
            out,
            "<tr><th scope=row>{}</th><td>{}</td><td>{}</td><td><ul>{reasons}</ul></td></tr>",
            esc(&u.deployment),
            u.placed,
            u.requested
        )
        .unwrap();
    }
    out.push_str("</tbody></table>");
    out
}

/// What a case loses against the base in level 1, as text: exact where both are proven, else
/// the range the bounds allow (`12, between 9 and 15`).
fn lost_text(base: (u64, u64), case: (u64, u64)) -> (i64, String) {
    let lost = base.0 as i64 - case.0 as i64;
    let least = base.0 as i64 - case.1 as i64;
    let most = base.1 as i64 - case.0 as i64;
    let text = if least == most {
        format!("{lost}")
    } else {
        format!("{lost} <span class=range>(between {least} and {most}: not proven)</span>")
    };
    (lost, text)
}

/// Rows of a sweep: (name, status, objective, extra cell), worst first by value lost.
fn sweep_table(titles: [&str; 2], base: (u64, u64), rows: Vec<(String, SolveStatus, &Objective, String)>) -> String {
    let mut rows: Vec<(i64, String, String, String)> = rows
        .into_iter()
        .map(|(name, status, objective, extra)| {
            let (lost, text) = lost_text(base, value_range(objective, status));
            (lost, name, text, extra)
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let worst = rows.iter().map(|r| r.0.max(0) as u64).max().unwrap_or(0).max(1);
    let mut out = format!(
        "<table data-rows={}><thead><tr><th scope=col>{}</th><th scope=col>value lost</th><th scope=col></th><th scope=col>{}</th></tr></thead><tbody>",
        rows.len(),
        titles[0],
        titles[1]
    );
    for (lost, name, text, extra) in &rows {
        write!(
            out,
            "<tr><th scope=row>{}</th><td>{text}</td><td>{}</td><td>{extra}</td></tr>",
            esc(name),
            bar((*lost).max(0) as u64, worst)
        )
        .unwrap();
    }
    out.push_str("</tbody></table>");
    out
}

/// A what-if sweep: each scenario's value lost against the base, worst first.
pub fn whatif(result: &WhatIfResult) -> String {
    let Some(base) = result.scenarios.first() else {
        return "<p>The sweep holds no scenario.</p>".into();
    };
    let base_range = value_range(&base.objective, base.status);
    let rows = result.scenarios[1..]
        .iter()
        .map(|s| {
            let short: Vec<String> = s
                .unplaced
                .iter()
                .map(|u| format!("{} {}/{}", esc(&u.deployment), u.placed, u.requested))
                .collect();
            (s.name.clone(), s.status, &s.objective, short.join(", "))
        })
        .collect();
    sweep_table(["scenario", "short (placed/asked)"], base_range, rows)
}

/// A failure drill: each failure's value lost against the base, worst first.
pub fn drill(result: &DrillResult) -> String {
    let base = value_range(&result.base.objective, SolveStatus::TimeLimit);
    let rows = result
        .cases
        .iter()
        .map(|c| {
            let lost: Vec<String> = c
                .lost
                .iter()
                .map(|l| format!("{} -{}", esc(&l.deployment), l.replicas))
                .collect();
            (c.failed.clone(), c.status, &c.objective, lost.join(", "))
        })
        .collect();
    sweep_table(["failed", "replicas lost"], base, rows)
}

/// A purchase: what is bought, at what cost, and what the bought nodes place.
pub fn capacity(result: &CapacityResult, fleet: &Fleet) -> String {
    let mut out = format!(
        "<p>Status <strong>{}</strong>; cost {} (proven at least {}).</p>",
        esc(&result.status),
        result.cost.map_or("-".into(), |c| c.to_string()),
        result.bound.map_or("-".into(), |b| b.to_string())
    );
    out.push_str("<table><thead><tr><th scope=col>SKU</th><th scope=col>nodes bought</th></tr></thead><tbody>");
    for b in &result.purchase {
        write!(out, "<tr><th scope=row>{}</th><td>{}</td></tr>", esc(&b.sku), b.count).unwrap();
    }
    out.push_str("</tbody></table>");
    if let Some(plan) = &result.plan {
        let owned: BTreeSet<&str> = fleet.nodes.iter().map(|n| n.name.as_str()).collect();
        let mut on_bought: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &plan.replicas {
            if r.stages.iter().any(|s| !owned.contains(s.node.as_str())) {
                *on_bought.entry(r.deployment.as_str()).or_default() += 1;
            }
        }
        out.push_str("<table><thead><tr><th scope=col>deployment</th><th scope=col>replicas on bought nodes</th></tr></thead><tbody>");
        for (d, n) in &on_bought {
            write!(out, "<tr><th scope=row>{}</th><td>{n}</td></tr>", esc(d)).unwrap();
        }
        out.push_str("</tbody></table>");
    }
    for r in &result.restrictions {
        write!(out, "<p class=note>Search narrowed: {}</p>", esc(r)).unwrap();
    }
    out
}

/// What moves from the running plan to this one, in migration order: the plan's own steps
/// (`replan` writes them), else starts before stops (make before break).
pub fn moves(current: &Plan, plan: &Plan) -> String {
    let place = |stages: &[crate::domain::Stage]| {
        stages
            .iter()
            .map(|s| {
                let gpus: Vec<String> = s.gpus.iter().map(u32::to_string).collect();
                format!("{} GPUs {}", s.node, gpus.join(","))
            })
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let mut steps: Vec<(String, String, u64, String)> = plan
        .migration
        .iter()
        .flatten()
        .map(|m| (m.action.clone(), m.deployment.clone(), m.replica, place(&m.stages)))
        .collect();
    if steps.is_empty() {
        // A replica stays where one of the same deployment and shape runs on the same GPUs;
        // counted, so that two alike workers sharing GPUs are two.
        let key = |r: &crate::domain::PlacedReplica| {
            let shape = (
                r.quantization.clone(),
                r.tensor_parallel,
                r.pipeline_parallel,
                r.gpu_type.clone(),
            );
            (r.deployment.clone(), shape, r.stages.clone())
        };
        let mut stops: BTreeMap<_, u64> = BTreeMap::new();
        for r in &current.replicas {
            *stops.entry(key(r)).or_default() += 1;
        }
        for r in &plan.replicas {
            match stops.get_mut(&key(r)) {
                Some(n) if *n > 0 => *n -= 1,
                _ => steps.push(("start".into(), r.deployment.clone(), r.replica, place(&r.stages))),
            }
        }
        for r in &current.replicas {
            if let Some(n) = stops.get_mut(&key(r))
                && *n > 0
            {
                *n -= 1;
                steps.push(("stop".into(), r.deployment.clone(), r.replica, place(&r.stages)));
            }
        }
    }
    if steps.is_empty() {
        return "<p>Nothing moves: the plan is the one that runs.</p>".into();
    }
    let mut out = format!(
        "<table data-rows={}><thead><tr><th scope=col>step</th><th scope=col>action</th><th scope=col>deployment</th><th scope=col>replica</th><th scope=col>where</th></tr></thead><tbody>",
        steps.len()
    );
    for (i, (action, deployment, replica, place)) in steps.iter().enumerate() {
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><th scope=row>{}</th><td>{replica}</td><td>{}</td></tr>",
            i + 1,
            esc(action),
            esc(deployment),
            esc(place)
        )
        .unwrap();
    }
    out.push_str("</tbody></table>");
    out
}
