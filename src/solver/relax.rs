//! Level 1's bounds: the LP relaxation of a relaxed instance (no `spread`, multi-GPU sharing
//! packed like one-GPU workers), which also guides the greedy start, and the safe rounding of
//! every bound for an integer objective.

use std::time::{Duration, Instant};

use super::highs_run::{HighsSettings, LevelOutcome, Starts};
use super::{Formulation, Instance, planner_fleet};
use crate::domain::{Fleet, Workload};
use crate::error::Result;

/// Level 1's bound, rounded the safe way for an integer objective. A stopped level whose bound
/// does not exceed its incumbent would have been proven optimal: HiGHS reports such bounds when it
/// stops before the search starts, so then all demand that has any shape is the bound.
pub(super) fn level_one_bound(
    instance: &Instance<'_>,
    highs_bound: f64,
    lp_bound: Option<f64>,
    value: f64,
    proven: bool,
) -> f64 {
    let all_demand = demand_bound(instance);
    let trusted = highs_bound.is_finite() && (proven || highs_bound >= value + 1.0 - 1e-6);
    let bound = if trusted {
        super::bound::upper(highs_bound)
    } else {
        all_demand
    };
    // The LP relaxation bounds the integer optimum too (its floor, objective values being integers).
    let bound = lp_bound.map_or(bound, |lp| bound.min(super::bound::upper(lp)));
    bound.min(all_demand).max(value)
}

/// The value of every deployment one of whose stages fits on some node as the fleet stands: a
/// node it may use with `tp` eligible GPUs of one allowed type, each of which could hold the
/// stage's worker by its own memory (`need <= reservation <= free`), within `reserve.per_node`.
/// A bound that needs no model (nor its kinds, so it holds for a restricted one too), and 0
/// where nothing can be placed at all.
pub(super) fn demand_bound(instance: &Instance<'_>) -> f64 {
    let fleet = instance.fleet;
    let workload = instance.workload;
    let per_node = workload.policy.reserve.per_node;
    let stage_fits = |d: &crate::domain::Deployment, q, tp: u64, pp: u64| {
        let need = crate::memory::footprint(&crate::memory::MemoryInputs::of(d), q, tp, pp).need_mib;
        fleet.nodes.iter().zip(&instance.eligible).any(|(node, eligible)| {
            if !node.matches(&d.node_selector) {
                return false;
            }
            let room = (eligible.iter().filter(|&&e| e).count() as u64).saturating_sub(per_node);
            let mut by_type: std::collections::BTreeMap<&str, u64> = Default::default();
            for (gpu, _) in node.gpus.iter().zip(eligible).filter(|(_, e)| **e) {
                let free = gpu.cuda_mib().saturating_sub(gpu.used_mib);
                let reserve = match d.gpu_memory_utilization {
                    Some(u) => u.floor_mul(gpu.cuda_mib()),
                    None => need,
                };
                if d.allows_type(&gpu.gpu_type) && need <= reserve && reserve <= free {
                    *by_type.entry(gpu.gpu_type.as_str()).or_default() += 1;
                }
            }
            room >= tp && by_type.values().any(|&n| n >= tp)
        })
    };
    workload
        .deployments
        .iter()
        .filter(|d| d.replicas > 0)
        .filter(|d| {
            d.quantizations.iter().any(|&q| {
                d.tensor_parallel.iter().any(|&tp| {
                    d.pipeline_parallel.iter().any(|&pp| {
                        crate::shapes::check_parallelism(&d.model, tp, pp).is_ok() && stage_fits(d, q, tp, pp)
                    })
                })
            })
        })
        .map(|d| (d.priority * d.replicas) as f64)
        .sum()
}

/// Level 1's LP bound from the relaxed instance ([`Instance::relaxed`]): no plan of the workload
/// places more value than this. `None` if the LP does not finish within `time_limit`.
pub fn relaxation_bound(fleet: &Fleet, workload: &Workload, time_limit: Duration) -> Result<Option<f64>> {
    let view = super::merge::for_relaxation(&planner_fleet(fleet, workload), workload);
    let relaxed = Instance::relaxed(&view, workload);
    let form = std::sync::Arc::new(Formulation::build(&relaxed));
    let settings = HighsSettings {
        mip_rel_gap: 0.0,
        verbose: false,
        relaxed: true,
        cancel: super::budget::Cancel::default(),
        stop_at: None,
        max_nodes: None,
    };
    Ok(relax(&relaxed, &form, Instant::now() + time_limit, &settings)?.map(|lp| lp.value))
}

/// The LP relaxation of level 1: its value and, per shape, the whole replicas it places.
pub(super) struct Relaxation {
    pub(super) value: f64,
    pub(super) shapes: Vec<(crate::shapes::ShapeOption, u64)>,
}

/// Solves level 1's LP relaxation within 80% of the time left; `None` if it does not finish.
/// It finishes in a fraction of that wherever HiGHS's MIP search can still help afterwards; on
/// fleets where it needs most of the time, the LP-guided greedy is the better use of it.
pub(super) fn relax(
    instance: &Instance<'_>,
    form: &std::sync::Arc<Formulation>,
    deadline: Instant,
    settings: &HighsSettings,
) -> Result<Option<Relaxation>> {
    let budget = deadline
        .saturating_duration_since(Instant::now())
        .mul_f64(super::budget::RELAXATION_SHARE);
    let lp_settings = HighsSettings {
        relaxed: true,
        ..settings.clone()
    };
    let starts = Starts {
        hint: None,
        fallback: None,
    };
    let Some(result) = super::worker::spawn_level(form, 0, &[], starts, budget, &lp_settings)
        .wait()
        .ok()
        .flatten()
    else {
        return Ok(None);
    };
    if result.outcome != LevelOutcome::Optimal || result.values.len() != form.vars.len() {
        return Ok(None);
    }
    let shapes = instance
        .options
        .iter()
        .enumerate()
        .map(|(o, option)| {
            (
                option.clone(),
                (result.values[form.x.len() + o] + 1e-6).floor().max(0.0) as u64,
            )
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    Ok(Some(Relaxation {
        value: form.level_value(0, &result.values),
        shapes,
    }))
}
