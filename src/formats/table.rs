//! The human tables `fleetfit plan` prints: by default one row per deployment (placed of
//! requested, shapes with counts, GPU types, GPUs, nodes) with the reasons for what is short
//! under its row; with `--detail` one row per replica. Then the status and totals.

use std::fmt::Write;

use crate::domain::{Plan, SolveStatus};
use crate::memory::KvCapacity;

/// `0,1,2,3,6` as `0-3,6`.
pub fn gpu_ranges(gpus: &[u32]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < gpus.len() {
        let mut j = i;
        while j + 1 < gpus.len() && gpus[j + 1] == gpus[j] + 1 {
            j += 1;
        }
        out.push(if j > i + 1 {
            format!("{}-{}", gpus[i], gpus[j])
        } else if j == i + 1 {
            format!("{},{}", gpus[i], gpus[j])
        } else {
            gpus[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

/// Left-aligned columns separated by two spaces, the way `kubectl get` prints.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", text.join("  ").trim_end()).unwrap();
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// The whole plan as text, one row per replica (`plan --detail`), with the KV cache each
/// replica's engine will allocate (`kv[i]` for `plan.replicas[i]`; see [`crate::memory::replica_kv`]).
pub fn render_detail(plan: &Plan, kv: &[Option<KvCapacity>]) -> String {
    let mut out = String::new();
    let rows: Vec<Vec<String>> = plan
        .replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let placement: Vec<String> = r
                .stages
                .iter()
                .map(|s| format!("{}:{}", s.node, gpu_ranges(&s.gpus)))
                .collect();
            vec![
                r.deployment.clone(),
                r.replica.to_string(),
                format!("{} tp{} pp{}", r.quantization, r.tensor_parallel, r.pipeline_parallel),
                r.gpu_type.clone(),
                placement.join(" "),
                r.memory_per_gpu_mib.to_string(),
                r.runtime_mib.map_or("-".into(), |m| m.to_string()),
                kv_cells(kv.get(i).copied().flatten()).0,
                kv_cells(kv.get(i).copied().flatten()).1,
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no replica could be placed\n");
    } else {
        out.push_str(&columns(
            &[
                "DEPLOYMENT",
                "REPLICA",
                "SHAPE",
                "GPU TYPE",
                "NODE:GPUS",
                "MIB/GPU",
                "RUNTIME",
                "KV TOKENS",
                "CONCURRENCY",
            ],
            &rows,
        ));
    }
    if !plan.unplaced.is_empty() {
        out.push_str("\nunplaced:\n");
        for u in &plan.unplaced {
            writeln!(out, "  {}: {} of {} placed", u.deployment, u.placed, u.requested).unwrap();
            why(&mut out, u);
        }
    }
    out.push_str(&footer(plan));
    out
}

/// KV tokens with thousands separators and concurrency as `2.43x`, or `-` where unknown.
fn kv_cells(kv: Option<KvCapacity>) -> (String, String) {
    match kv {
        None => ("-".into(), "-".into()),
        Some(k) => (
            thousands(k.tokens),
            format!("{}.{:02}x", k.concurrency_x100 / 100, k.concurrency_x100 % 100),
        ),
    }
}

pub use crate::numbers::thousands;

/// A short deployment's reasons (`-`) and suggestions (`+`), indented under it.
fn why(out: &mut String, u: &crate::domain::Unplaced) {
    for reason in &u.reasons {
        writeln!(out, "    - {reason}").unwrap();
    }
    for s in &u.suggestions {
        writeln!(out, "    + {}: {}", s.change, s.cost).unwrap();
    }
}

/// Status, objective and fleet totals, the plan's own values.
fn footer(plan: &Plan) -> String {
    let mut out = String::new();
    let o = &plan.objective;
    let f = &plan.fleet;
    let status = match plan.status {
        SolveStatus::Optimal => "optimal".to_string(),
        SolveStatus::TimeLimit => format!(
            "time limit (placed_value bound {}, gap {:.2}%)",
            o.bound.unwrap_or(o.placed_value as f64),
            100.0 * o.gap.unwrap_or(0.0)
        ),
    };
    writeln!(out, "\nstatus: {status}").unwrap();
    for r in &plan.restrictions {
        writeln!(out, "note: not claiming optimality: {r}").unwrap();
    }
    writeln!(
        out,
        "objective: placed_value {}, quantization_penalty {}, gpus_used {}",
        o.placed_value, o.quantization_penalty, o.gpus_used
    )
    .unwrap();
    writeln!(
        out,
        "fleet: {} GPUs, {} eligible, {} used, {} free",
        f.gpus_total, f.gpus_eligible, f.gpus_used, f.gpus_free
    )
    .unwrap();
    out
}

/// The plan by deployment: placed of requested, the shapes used with their counts, the GPU
/// types, the GPUs and nodes taken, and under a short row the reasons (and suggestions, where
/// the plan carries them). Deployments in the order of their first replica, then those with none.
pub fn render(plan: &Plan) -> String {
    use std::collections::{BTreeMap, BTreeSet};
    #[derive(Default)]
    struct Row {
        placed: u64,
        shapes: BTreeMap<String, u64>,
        types: BTreeSet<String>,
        gpus: BTreeSet<(String, u32)>,
        nodes: BTreeSet<String>,
    }
    let mut order: Vec<String> = Vec::new();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for r in &plan.replicas {
        if !rows.contains_key(&r.deployment) {
            order.push(r.deployment.clone());
        }
        let row = rows.entry(r.deployment.clone()).or_default();
        row.placed += 1;
        *row.shapes
            .entry(format!(
                "{} tp{} pp{}",
                r.quantization, r.tensor_parallel, r.pipeline_parallel
            ))
            .or_default() += 1;
        row.types.insert(r.gpu_type.clone());
        for s in &r.stages {
            row.nodes.insert(s.node.clone());
            row.gpus.extend(s.gpus.iter().map(|&g| (s.node.clone(), g)));
        }
    }
    for u in &plan.unplaced {
        if !rows.contains_key(&u.deployment) {
            order.push(u.deployment.clone());
            rows.insert(u.deployment.clone(), Row::default());
        }
    }
    let short: BTreeMap<&str, &crate::domain::Unplaced> =
        plan.unplaced.iter().map(|u| (u.deployment.as_str(), u)).collect();
    let mut out = String::new();
    if order.is_empty() {
        out.push_str("nothing to place\n");
    }
    let header = ["DEPLOYMENT", "PLACED", "SHAPES", "GPU TYPE", "GPUS", "NODES"];
    let cells: Vec<Vec<String>> = order
        .iter()
        .map(|name| {
            let row = &rows[name];
            let requested = short.get(name.as_str()).map_or(row.placed, |u| u.requested);
            let shapes: Vec<String> = row.shapes.iter().map(|(s, n)| format!("{s} x{n}")).collect();
            vec![
                name.clone(),
                format!("{}/{requested}", row.placed),
                if shapes.is_empty() {
                    "-".into()
                } else {
                    shapes.join(", ")
                },
                if row.types.is_empty() {
                    "-".into()
                } else {
                    row.types.iter().cloned().collect::<Vec<_>>().join(", ")
                },
                row.gpus.len().to_string(),
                row.nodes.len().to_string(),
            ]
        })
        .collect();
    // The aligned table, with each short deployment's reasons under its row.
    let table = columns(&header, &cells);
    let mut lines = table.lines();
    if let Some(head) = lines.next() {
        writeln!(out, "{head}").unwrap();
    }
    for (name, line) in order.iter().zip(lines) {
        writeln!(out, "{line}").unwrap();
        if let Some(u) = short.get(name.as_str()) {
            why(&mut out, u);
        }
    }
    out.push_str(&footer(plan));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(gpu_ranges(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(gpu_ranges(&[1, 2]), "1,2");
        assert_eq!(gpu_ranges(&[5]), "5");
        assert_eq!(gpu_ranges(&[]), "");
    }
}
