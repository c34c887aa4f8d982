//! The plan checker: re-derives every rule of docs/rules.md from the inputs and the plan alone.
//!
//! It shares no code with the solver's formulation, shapes or memory model (it has its own
//! arithmetic in `check/need.rs`), so a bug in one is caught by the other. `fleetfit plan` runs it on
//! every plan before writing it; `fleetfit check` runs it on any plan file.

mod lookup;
mod migration;
mod need;
mod placement;
mod totals;

use std::fmt;

use crate::domain::{Fleet, Plan, Workload};

/// The rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// The replica names an unknown deployment, or too many replicas, or a repeated index.
    Replicas,
    /// Quantization, TP or PP not allowed, or not valid for the model (section 4).
    Shape,
    /// Stages, nodes and GPUs: shape of the stage list, existence, distinct GPUs, one type.
    Stages,
    /// `gpu_types` and `node_selector`.
    Affinity,
    /// `memory_per_gpu_mib` and the fit of every GPU (section 4).
    Memory,
    /// A GPU that is not eligible, or holds more than the rules allow.
    Occupancy,
    /// `spread: true`.
    Spread,
    /// Section 5's reserves.
    Reserve,
    /// Objective, `unplaced` and `fleet` totals.
    Totals,
    /// `objective.moves` and the `migration` steps from a running plan (`replan`).
    Migration,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Replicas => "replicas",
            Rule::Shape => "shape",
            Rule::Stages => "stages",
            Rule::Affinity => "affinity",
            Rule::Memory => "memory",
            Rule::Occupancy => "occupancy",
            Rule::Spread => "spread",
            Rule::Reserve => "reserve",
            Rule::Totals => "totals",
            Rule::Migration => "migration",
        }
    }
}

/// One broken rule, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub rule: Rule,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule.name(), self.message)
    }
}

/// Collects violations as the rules are checked.
#[derive(Debug, Default)]
pub(crate) struct Report(Vec<Violation>);

impl Report {
    pub(crate) fn add(&mut self, rule: Rule, message: String) {
        self.0.push(Violation { rule, message });
    }
}

/// Every rule the plan breaks; empty when it obeys every rule.
pub fn check(fleet: &Fleet, workload: &Workload, plan: &Plan) -> Vec<Violation> {
    let mut report = Report::default();
    let at = lookup::Lookup::new(fleet, workload);
    let occupancy = placement::check_replicas(&at, plan, &mut report);
    placement::check_gpus(workload, &at, &occupancy, &mut report);
    placement::check_spread(&at, plan, &mut report);
    totals::check_reserves(fleet, workload, &occupancy, &mut report);
    totals::check_totals(fleet, workload, &at, plan, &occupancy, &mut report);
    report.0
}

pub use migration::check_migration;
