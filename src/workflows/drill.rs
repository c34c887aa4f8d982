//! `fleetfit drill`: the N-1 failure drill. One case per node, per eligible GPU or per value of
//! a node label; each re-plans without the failed part.
//!
//! A drill is many near-identical solves, so each case starts from what the base solve knows:
//! the base plan minus the failed part obeys every rule that capacity loss cannot break, and
//! greedy fills in around it; removing capacity never raises the optimum, so the base's value (or
//! its bound) bounds every case, and a case whose start reaches it is proven without a MIP.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Base, Outcome, SweepOptions, run_cases, solve_case};
use crate::domain::{Fleet, Objective, Plan, SolveStatus};
use crate::error::{InputError, Result};
use crate::solver::{KnownBound, SolveOptions};

/// What fails together in one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Each node.
    Node,
    /// Each eligible GPU.
    Gpu,
    /// All nodes with one value of this label, per value.
    Label,
}

/// The `--fail` argument: `node`, `gpu` or `label=KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub label: String,
}

impl std::str::FromStr for Failure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "node" => Ok(Failure {
                kind: FailureKind::Node,
                label: String::new(),
            }),
            "gpu" => Ok(Failure {
                kind: FailureKind::Gpu,
                label: String::new(),
            }),
            _ => match s.strip_prefix("label=") {
                Some(key) if !key.is_empty() => Ok(Failure {
                    kind: FailureKind::Label,
                    label: key.to_string(),
                }),
                _ => Err(format!("'{s}' is not node, gpu or label=KEY")),
            },
        }
    }
}

/// One failure case: what failed (a node's name, `NODE:INDEX`, a label's value) and the parts.
#[derive(Debug, Clone)]
pub struct Case {
    pub failed: String,
    pub nodes: BTreeSet<String>,
    pub gpus: BTreeSet<(String, u32)>,
}

/// Per deployment, how many fewer replicas than the base plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lost {
    pub deployment: String,
    pub replicas: u64,
}

/// One solved case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseResult {
    pub failed: String,
    pub outcome: Outcome,
    pub lost: Vec<Lost>,
    /// Proven optimal without a MIP: the base plan minus the failure, refilled, reached the
    /// base's optimum.
    pub proven_without_mip: bool,
}

/// The drill: the base and its cases, worst first.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    pub base: Outcome,
    pub cases: Vec<CaseResult>,
}

#[derive(Serialize)]
struct Json<'a> {
    base: JsonBase<'a>,
    cases: Vec<JsonCase<'a>>,
}

#[derive(Serialize)]
struct JsonBase<'a> {
    objective: &'a Objective,
}

#[derive(Serialize)]
struct JsonCase<'a> {
    failed: &'a str,
    objective: &'a Objective,
    status: SolveStatus,
    lost: &'a [Lost],
}

impl Drill {
    /// Cases worst first: lowest placed value, then name.
    pub fn new(base: Outcome, mut cases: Vec<CaseResult>) -> Drill {
        cases.sort_by(|a, b| {
            a.outcome
                .objective
                .placed_value
                .cmp(&b.outcome.objective.placed_value)
                .then_with(|| a.failed.cmp(&b.failed))
        });
        Drill { base, cases }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let json = Json {
            base: JsonBase {
                objective: &self.base.objective,
            },
            cases: self
                .cases
                .iter()
                .map(|c| JsonCase {
                    failed: &c.failed,
                    objective: &c.outcome.objective,
                    status: c.outcome.status,
                    lost: &c.lost,
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&json).expect("serializes");
        text.push('\n');
        text
    }
}

/// The cases of a drill on `base`, in fleet order.
pub fn cases(base: &Base, failure: &Failure) -> Result<Vec<Case>, InputError> {
    let fleet = &base.fleet;
    let threshold = base.workload.policy.busy_threshold;
    Ok(match failure.kind {
        FailureKind::Node => fleet
            .nodes
            .iter()
            .map(|n| Case {
                failed: n.name.clone(),
                nodes: BTreeSet::from([n.name.clone()]),
                gpus: BTreeSet::new(),
            })
            .collect(),
        FailureKind::Gpu => fleet
            .gpus()
            .filter(|(_, g)| g.is_eligible(threshold))
            .map(|(n, g)| Case {
                failed: format!("{}:{}", n.name, g.index),
                nodes: BTreeSet::new(),
                gpus: BTreeSet::from([(n.name.clone(), g.index)]),
            })
            .collect(),
        FailureKind::Label => {
            let mut by_value: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
            for n in &fleet.nodes {
                if let Some(v) = n.labels.get(&failure.label) {
                    by_value.entry(v).or_default().insert(n.name.clone());
                }
            }
            if by_value.is_empty() {
                return Err(InputError::new(
                    std::path::Path::new("--fail"),
                    "",
                    format!("no node has the label '{}'", failure.label),
                ));
            }
            by_value
                .into_iter()
                .map(|(v, nodes)| Case {
                    failed: v.to_string(),
                    nodes,
                    gpus: BTreeSet::new(),
                })
                .collect()
        }
    })
}

/// The fleet without a case's failed part: failed nodes are gone, failed GPUs unhealthy.
pub fn without(fleet: &Fleet, case: &Case) -> Fleet {
    let mut out = fleet.clone();
    out.nodes.retain(|n| !case.nodes.contains(&n.name));
    for node in &mut out.nodes {
        for gpu in &mut node.gpus {
            if case.gpus.contains(&(node.name.clone(), gpu.index)) {
                gpu.healthy = false;
            }
        }
    }
    out
}

/// Solves the base, then the cases of this shard. Returns the base's outcome and the cases as
/// (index, result).
pub fn run(base: &Base, failure: &Failure, options: &SweepOptions) -> Result<(Outcome, Vec<(usize, CaseResult)>)> {
    let all = cases(base, failure)?;
    let solved = solve_case(&base.fleet, &base.workload, &options.solve)?;
    let (base_plan, base_outcome) = (solved.plan, solved.outcome);
    // Removing capacity never improves the optimum: what the base proved bounds every case.
    let known_bound = match base_plan.status {
        SolveStatus::Optimal => KnownBound::proven(&base_plan.objective, 3),
        SolveStatus::TimeLimit if solved.proven_levels > 0 => {
            KnownBound::proven(&base_plan.objective, solved.proven_levels)
        }
        SolveStatus::TimeLimit => KnownBound::placed_value(
            base_plan
                .objective
                .bound
                .map_or(u64::MAX, |b| crate::solver::bound::upper(b) as u64),
        ),
    };
    let results = run_cases(all.len(), options, |i, solve| {
        let case = &all[i];
        let fleet = without(&base.fleet, case);
        let start = survivors(&base_plan, case);
        let solve = SolveOptions {
            start: Some(start),
            known_bound: Some(known_bound),
            ..solve.clone()
        };
        let solved = solve_case(&fleet, &base.workload, &solve)?;
        let outcome = solved.outcome;
        let lost = base_outcome
            .placed
            .iter()
            .filter_map(|(d, &before)| {
                let now = outcome.placed.get(d).copied().unwrap_or(0);
                (now < before).then(|| Lost {
                    deployment: d.clone(),
                    replicas: before - now,
                })
            })
            .collect();
        Ok(CaseResult {
            failed: case.failed.clone(),
            outcome,
            lost,
            proven_without_mip: solved.without_mip,
        })
    })?;
    Ok((base_outcome, results))
}

/// The base plan's replicas that touch nothing of the failed part.
fn survivors(plan: &Plan, case: &Case) -> Vec<crate::domain::PlacedReplica> {
    plan.replicas
        .iter()
        .filter(|r| {
            r.stages.iter().all(|s| {
                !case.nodes.contains(&s.node) && s.gpus.iter().all(|&g| !case.gpus.contains(&(s.node.clone(), g)))
            })
        })
        .cloned()
        .collect()
}
