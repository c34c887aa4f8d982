//! The JSON results a report can show beside the plan, read as `whatif`, `drill` and `capacity`
//! write them with `--format json` (unknown fields refused, as every input file).

use serde::Deserialize;

use crate::domain::{Objective, Plan, SolveStatus, Unplaced};
use crate::workflows::drill::Lost;

/// `whatif --format json`: the base first, then each scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfResult {
    pub scenarios: Vec<Scenario>,
}

/// One solved scenario of a what-if sweep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub objective: Objective,
    pub status: SolveStatus,
    #[serde(default)]
    pub unplaced: Vec<Unplaced>,
    #[serde(default)]
    pub seconds: f64,
}

/// `drill --format json`: the base's objective and each case, worst first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillResult {
    pub base: DrillBase,
    pub cases: Vec<DrillCase>,
}

/// The base of a drill.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillBase {
    pub objective: Objective,
}

/// One failure of a drill.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillCase {
    pub failed: String,
    pub objective: Objective,
    pub status: SolveStatus,
    #[serde(default)]
    pub lost: Vec<Lost>,
}

/// `capacity --format json`: what to buy and the plan of the grown fleet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityResult {
    pub status: String,
    pub cost: Option<u64>,
    pub bound: Option<u64>,
    #[serde(default)]
    pub purchase: Vec<Bought>,
    pub plan: Option<Plan>,
    #[serde(default)]
    pub unplaced: Vec<Unplaced>,
    #[serde(default)]
    pub restrictions: Vec<String>,
}

/// Nodes of one SKU bought.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bought {
    pub sku: String,
    pub count: u64,
}

/// What a result's objective says of level 1: its value and the most any plan could have.
pub fn value_range(objective: &Objective, status: SolveStatus) -> (u64, u64) {
    let value = objective.placed_value;
    let bound = match status {
        SolveStatus::Optimal => value,
        _ => objective.bound.map_or(value, |b| b.floor().max(value as f64) as u64),
    };
    (value, bound)
}
