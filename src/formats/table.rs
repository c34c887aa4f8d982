//! The human table `fleetfit plan` prints: one row per replica, then unplaced demand and totals.

use std::fmt::Write;

use crate::domain::{Plan, SolveStatus};

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

/// The whole plan as text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let rows: Vec<Vec<String>> = plan
        .replicas
        .iter()
        .map(|r| {
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
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no replica could be placed\n");
    } else {
        out.push_str(&columns(
            &["DEPLOYMENT", "REPLICA", "SHAPE", "GPU TYPE", "NODE:GPUS", "MIB/GPU"],
            &rows,
        ));
    }
    if !plan.unplaced.is_empty() {
        out.push_str("\nunplaced:\n");
        for u in &plan.unplaced {
            writeln!(out, "  {}: {} of {} placed", u.deployment, u.placed, u.requested).unwrap();
            for reason in &u.reasons {
                writeln!(out, "    - {reason}").unwrap();
            }
            for s in &u.suggestions {
                writeln!(out, "    + {}: {}", s.change, s.cost).unwrap();
            }
        }
    }
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
