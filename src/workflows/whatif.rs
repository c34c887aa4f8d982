//! `fleetfit whatif`: the base and every scenario of a scenarios file, each solved as a plan.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Base, Outcome, SweepOptions, run_cases, scenario, solve_case};
use crate::domain::{Objective, SolveStatus, Unplaced};
use crate::error::Result;
use crate::formats::scenarios_file::ScenariosFile;

/// One solved scenario (the base is named `base`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioResult {
    pub name: String,
    pub outcome: Outcome,
}

/// The sweep: base first, then the scenarios in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub scenarios: Vec<ScenarioResult>,
}

/// The JSON of `whatif --format json`: per scenario its objective, status, unplaced entries and
/// seconds.
#[derive(Serialize)]
struct Json<'a> {
    scenarios: Vec<JsonScenario<'a>>,
}

#[derive(Serialize)]
struct JsonScenario<'a> {
    name: &'a str,
    objective: &'a Objective,
    status: SolveStatus,
    unplaced: &'a [Unplaced],
    seconds: f64,
}

impl WhatIf {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let json = Json {
            scenarios: self
                .scenarios
                .iter()
                .map(|s| JsonScenario {
                    name: &s.name,
                    objective: &s.outcome.objective,
                    status: s.outcome.status,
                    unplaced: &s.outcome.unplaced,
                    seconds: s.outcome.seconds,
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&json).expect("serializes");
        text.push('\n');
        text
    }
}

/// Every scenario's edits, checked against the base before anything is solved.
pub fn prepare(
    base: &Base,
    file: &ScenariosFile,
    path: &Path,
) -> Result<Vec<(String, crate::domain::Fleet, crate::domain::Workload)>> {
    let mut cases = vec![("base".to_string(), base.fleet.clone(), base.workload.clone())];
    for (i, s) in file.scenarios.iter().enumerate() {
        let (fleet, workload) = scenario::apply(base, s, i, path)?;
        cases.push((s.name.clone(), fleet, workload));
    }
    Ok(cases)
}

/// Solves the base and the scenarios of this shard: case 0 is the base, case `i + 1` scenario `i`.
pub fn run(
    base: &Base,
    file: &ScenariosFile,
    path: &Path,
    options: &SweepOptions,
) -> Result<Vec<(usize, ScenarioResult)>> {
    let cases = prepare(base, file, path)?;
    run_cases(cases.len(), options, |i, solve| {
        let (name, fleet, workload) = &cases[i];
        Ok(ScenarioResult {
            name: name.clone(),
            outcome: solve_case(fleet, workload, solve)?.outcome,
        })
    })
}
