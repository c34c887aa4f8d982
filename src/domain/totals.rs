//! A plan's totals, computed from its replicas: objective, unplaced demand, fleet use.

use std::collections::{BTreeMap, BTreeSet};

use super::{Fleet, FleetUse, Objective, PlacedReplica, Plan, SolveStatus, Unplaced, Workload};

/// Builds the plan around a set of replicas: sorts them, counts GPUs once each, lists unplaced
/// demand. `bound` is level 1's proven bound when the solve stopped early.
pub fn make_plan(
    fleet: &Fleet,
    workload: &Workload,
    mut replicas: Vec<PlacedReplica>,
    status: SolveStatus,
    bound: Option<f64>,
) -> Plan {
    let order: BTreeMap<&str, usize> = workload
        .deployments
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    replicas.sort_by_key(|r| (order.get(r.deployment.as_str()).copied(), r.replica));
    let mut placed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut placed_value = 0;
    let mut quantization_penalty = 0;
    let mut gpus: BTreeSet<(&str, u32)> = BTreeSet::new();
    for r in &replicas {
        *placed.entry(r.deployment.as_str()).or_default() += 1;
        if let Some(d) = workload.deployment(&r.deployment) {
            placed_value += d.priority;
            let rank = r.quantization.parse().ok().and_then(|q| d.quantization_rank(q));
            quantization_penalty += rank.unwrap_or(0);
        }
        for s in &r.stages {
            gpus.extend(s.gpus.iter().map(|&g| (s.node.as_str(), g)));
        }
    }
    let unplaced = workload
        .deployments
        .iter()
        .filter_map(|d| {
            let got = placed.get(d.name.as_str()).copied().unwrap_or(0);
            (got < d.replicas).then(|| Unplaced {
                deployment: d.name.clone(),
                requested: d.replicas,
                placed: got,
                reasons: Vec::new(),
                suggestions: Vec::new(),
            })
        })
        .collect();
    let gpus_total = fleet.gpus().count() as u64;
    let gpus_eligible = fleet
        .gpus()
        .filter(|(_, g)| g.is_eligible(workload.policy.busy_threshold))
        .count() as u64;
    let gpus_used = gpus.len() as u64;
    let (bound, gap) = match (status, bound) {
        (SolveStatus::TimeLimit, Some(b)) => {
            let b = b.max(placed_value as f64);
            let gap = if b > 0.0 { (b - placed_value as f64) / b } else { 0.0 };
            (Some(b), Some(gap))
        }
        // No bound known: the only one that holds without a proof is everything asked for (a
        // stopped search must never read as a proof, gap 0).
        (SolveStatus::TimeLimit, None) => {
            let asked: u64 = workload.deployments.iter().map(|d| d.priority * d.replicas).sum();
            let b = asked.max(placed_value) as f64;
            let gap = if b > 0.0 { (b - placed_value as f64) / b } else { 0.0 };
            (Some(b), Some(gap))
        }
        _ => (None, None),
    };
    Plan {
        status,
        objective: Objective {
            placed_value,
            quantization_penalty,
            gpus_used,
            bound,
            gap,
            moves: None,
            moves_bound: None,
        },
        replicas,
        unplaced,
        fleet: FleetUse {
            gpus_total,
            gpus_eligible,
            gpus_used,
            gpus_free: gpus_eligible.saturating_sub(gpus_used),
        },
        restrictions: Vec::new(),
        migration: None,
        provenance: None,
        running: Vec::new(),
    }
}
