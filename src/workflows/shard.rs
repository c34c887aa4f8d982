//! Sweeps over several machines: `--shard K/N` solves the cases whose index is K mod N and
//! writes a partial result; `fleetfit merge` joins the parts into the unsharded output.
//! Kubernetes Indexed Jobs and Slurm job arrays give each worker its K (`JOB_COMPLETION_INDEX`,
//! `SLURM_ARRAY_TASK_ID`), so `--shard N` alone takes K from there.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Outcome;
use super::drill::{CaseResult, Drill};
use super::whatif::{ScenarioResult, WhatIf};
use crate::error::InputError;

/// Which cases this run solves: index `i` when `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Every case.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether case `i` is this shard's.
    pub fn takes(&self, i: usize) -> bool {
        i as u64 % self.count == self.index
    }

    /// `K/N`, or `N` with K from `JOB_COMPLETION_INDEX` or `SLURM_ARRAY_TASK_ID`.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let (k, n) = match text.split_once('/') {
            Some((k, n)) => (k.to_string(), n),
            None => {
                let k = env("JOB_COMPLETION_INDEX")
                    .or_else(|| env("SLURM_ARRAY_TASK_ID"))
                    .ok_or("give K/N, or N with JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID set")?;
                (k, text)
            }
        };
        let index: u64 = k.trim().parse().map_err(|_| format!("'{k}' is not a shard index"))?;
        let count: u64 = n.trim().parse().map_err(|_| format!("'{n}' is not a shard count"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: K must be below N, and N at least 1"));
        }
        Ok(Shard { index, count })
    }
}

/// One case's result with its index in the unsharded sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indexed<T> {
    pub index: usize,
    pub result: T,
}

/// A shard's output: what it solved and where it belongs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// `whatif` or `drill`.
    pub command: String,
    pub shard: Shard,
    /// Cases of the whole sweep.
    pub cases: usize,
    /// A drill's base outcome (every shard solves the base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub whatif: Vec<Indexed<ScenarioResult>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drill: Vec<Indexed<CaseResult>>,
    /// The inputs the shard solved (fleetfit's version, digests of the fleet, deployments and
    /// scenarios files): parts of one sweep must agree on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<crate::domain::Provenance>,
}

impl Partial {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("serializes");
        text.push('\n');
        text
    }
}

/// The joined result of every shard.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged {
    WhatIf(WhatIf),
    Drill(Drill),
}

/// Joins the parts of one sweep; every shard must be there once, and every case once.
pub fn merge(parts: &[(std::path::PathBuf, Partial)]) -> Result<Merged, InputError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(InputError::new(Path::new("merge"), "", "no parts given"));
    };
    let mut shards = BTreeSet::new();
    for (path, p) in parts {
        if p.command != first.command || p.shard.count != first.shard.count || p.cases != first.cases {
            return Err(InputError::new(
                path,
                "",
                format!(
                    "part of another sweep ({} {} cases in {} shards; {} has {} {} cases in {} shards)",
                    p.command,
                    p.cases,
                    p.shard.count,
                    first_path.display(),
                    first.command,
                    first.cases,
                    first.shard.count
                ),
            ));
        }
        if let (Some(theirs), Some(ours)) = (&p.inputs, &first.inputs)
            && theirs != ours
        {
            let differ: Vec<&str> = theirs
                .inputs
                .iter()
                .filter(|(role, digest)| ours.inputs.get(*role) != Some(*digest))
                .map(|(role, _)| role.as_str())
                .collect();
            let what = if differ.is_empty() {
                format!("fleetfit {} against {}", theirs.fleetfit, ours.fleetfit)
            } else {
                format!("another {} file", differ.join(" and "))
            };
            return Err(InputError::new(
                path,
                "inputs",
                format!(
                    "part of a sweep over other inputs than {}'s: {what}",
                    first_path.display()
                ),
            ));
        }
        if !shards.insert(p.shard.index) {
            return Err(InputError::new(
                path,
                "shard",
                format!("shard {} is given twice", p.shard.index),
            ));
        }
        let same = |a: &Option<Outcome>, b: &Option<Outcome>| match (a, b) {
            (Some(a), Some(b)) => a.objective == b.objective && a.placed == b.placed && a.status == b.status,
            (a, b) => a.is_none() && b.is_none(),
        };
        if !same(&p.base, &first.base) {
            return Err(InputError::new(path, "base", "the base differs from the other parts'"));
        }
    }
    if let Some(missing) = (0..first.shard.count).find(|k| !shards.contains(k)) {
        return Err(InputError::new(
            first_path,
            "shard",
            format!("shard {missing} of {} is missing", first.shard.count),
        ));
    }
    let check = |indices: Vec<usize>| {
        let seen: BTreeSet<usize> = indices.iter().copied().collect();
        if seen.len() != indices.len() || seen.len() != first.cases || seen.iter().any(|&i| i >= first.cases) {
            return Err(InputError::new(
                first_path,
                "",
                format!("the parts hold {} results for {} cases", indices.len(), first.cases),
            ));
        }
        Ok(())
    };
    match first.command.as_str() {
        "whatif" => {
            let mut all: Vec<&Indexed<ScenarioResult>> = parts.iter().flat_map(|(_, p)| &p.whatif).collect();
            check(all.iter().map(|e| e.index).collect())?;
            all.sort_by_key(|e| e.index);
            Ok(Merged::WhatIf(WhatIf {
                scenarios: all.into_iter().map(|e| e.result.clone()).collect(),
            }))
        }
        "drill" => {
            let all: Vec<&Indexed<CaseResult>> = parts.iter().flat_map(|(_, p)| &p.drill).collect();
            check(all.iter().map(|e| e.index).collect())?;
            let base = first
                .base
                .clone()
                .ok_or_else(|| InputError::new(first_path, "base", "a drill part needs its base"))?;
            Ok(Merged::Drill(Drill::new(
                base,
                all.into_iter().map(|e| e.result.clone()).collect(),
            )))
        }
        other => Err(InputError::new(
            first_path,
            "command",
            format!("'{other}' is not whatif or drill"),
        )),
    }
}
