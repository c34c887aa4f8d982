//! Change sets (`emit --current`): only what must change between the plan that runs and a new
//! one, in the migration's make-before-break order ([`crate::workflows::migration::order`]),
//! as files to create and commands to run, and an `apply.sh` that performs the steps one at a
//! time, waits for each to settle, and stops at the first failure (`apply.sh --from K` resumes).
//!
//! - Kubernetes ([`k8s`]): a start scales up the replica's group `Deployment` where it runs
//!   already, else creates it (or the replica's `LeaderWorkerSet`) from a manifest file of the
//!   change set, and waits until it is ready; a stop removes exactly the pod the current plan
//!   names (its deletion cost lowered, its Deployment scaled down by one; a bare pod deleted;
//!   a LeaderWorkerSet of that one replica deleted) and waits until the pod is gone. Running
//!   templates are never rewritten, which would restart every pod of a group.
//! - Bare metal ([`bare`]): a start runs the replica's launch commands on its nodes over
//!   `$FLEETFIT_SSH` (default `ssh`) and waits for its server's `/health`; a stop ends the engine
//!   process the current plan names (by PID where imported, else by its served name and port)
//!   and waits until it has exited.

pub mod bare;
pub mod k8s;

use super::{Emit, File, Target};
use crate::domain::{Fleet, MigrationStep, PlacedReplica, Plan, Running, Workload};
use crate::error::Error;
use crate::workflows::migration;

/// One step, resolved to the replicas it starts or stops.
pub struct Step<'a> {
    pub step: &'a MigrationStep,
    /// Index into the new plan's replicas (a start) or the current plan's (a stop).
    pub replica: usize,
    /// What runs the stopped replica, where the current plan was imported.
    pub running: Option<&'a Running>,
    /// A stopped replica's index among the current replicas whose deployment is still known
    /// and whose GPUs are all in the fleet (the plan the `before` emitter sees).
    pub known: Option<usize>,
    /// Why nothing runs any more where a stopped replica ran (its node or GPU left the fleet).
    pub gone: Option<String>,
}

/// The change set's files for `target`.
pub fn files(
    target: Target,
    current: &Plan,
    plan: &Plan,
    fleet: &Fleet,
    workload: &Workload,
) -> Result<Vec<File>, Error> {
    let violations = crate::check::check(fleet, workload, plan);
    if !violations.is_empty() {
        return Err(Error::invalid_plan(&violations));
    }
    super::check_names(target, plan, fleet)?;
    super::check_names(target, current, fleet)?;
    let steps = migration::order(fleet, workload, &current.replicas, &plan.replicas);
    let mut resolved = resolve(&steps, current, plan)?;
    let on_fleet = |r: &PlacedReplica| {
        r.stages.iter().all(|s| {
            s.gpus
                .iter()
                .all(|&g| fleet.node(&s.node).and_then(|n| n.gpu(g)).is_some())
        })
    };
    let known_of = known(current, workload, fleet);
    for s in resolved.iter_mut().filter(|s| s.step.action == "stop") {
        s.known = known_of[s.replica];
        let r = &current.replicas[s.replica];
        s.gone = r.stages.iter().find_map(|st| match fleet.node(&st.node) {
            None => Some(format!("node {} is not in the fleet any more", st.node)),
            Some(_) => None,
        });
    }
    // The current plan's replicas may break today's rules (that is why they move): emitting
    // them needs only their deployments and nodes.
    let known = Plan {
        replicas: current
            .replicas
            .iter()
            .filter(|r| workload.deployment(&r.deployment).is_some() && on_fleet(r))
            .cloned()
            .collect(),
        ..current.clone()
    };
    let before = Emit::new(&known, fleet, workload);
    let after = Emit::new(plan, fleet, workload);
    Ok(match target {
        Target::K8s => k8s::files(&before, &after, current, &resolved),
        Target::Vllm => bare::files(&before, &after, current, &resolved, Some(super::server::Runtime::Vllm)),
        Target::Sglang => bare::files(
            &before,
            &after,
            current,
            &resolved,
            Some(super::server::Runtime::Sglang),
        ),
        Target::Launch => bare::files(&before, &after, current, &resolved, None),
        Target::Dynamo => {
            return Err(Error::Solver(
                "change sets are written for k8s, vllm, sglang and launch; Dynamo graphs are redeployed whole".into(),
            ));
        }
    })
}

/// Per current replica, its index among those the `before` emitter sees: replicas of known
/// deployments whose GPUs are all in the fleet.
pub fn known(current: &Plan, workload: &Workload, fleet: &Fleet) -> Vec<Option<usize>> {
    let mut next = 0;
    current
        .replicas
        .iter()
        .map(|r| {
            let seen = workload.deployment(&r.deployment).is_some()
                && r.stages.iter().all(|s| {
                    s.gpus
                        .iter()
                        .all(|&g| fleet.node(&s.node).and_then(|n| n.gpu(g)).is_some())
                });
            next += usize::from(seen);
            seen.then(|| next - 1)
        })
        .collect()
}

/// Each step's replica: a start's in the new plan (by number), a stop's in the current plan (by
/// number and GPUs).
fn resolve<'a>(steps: &'a [MigrationStep], current: &'a Plan, plan: &'a Plan) -> Result<Vec<Step<'a>>, Error> {
    let mut used = vec![false; current.replicas.len()];
    steps
        .iter()
        .map(|step| {
            let same = |r: &PlacedReplica| r.deployment == step.deployment && r.stages == step.stages;
            let replica = if step.action == "start" {
                plan.replicas.iter().position(|r| same(r) && r.replica == step.replica)
            } else {
                let found = (0..current.replicas.len())
                    .find(|&i| !used[i] && same(&current.replicas[i]) && current.replicas[i].replica == step.replica)
                    .or_else(|| (0..current.replicas.len()).find(|&i| !used[i] && same(&current.replicas[i])));
                if let Some(i) = found {
                    used[i] = true;
                }
                found
            };
            let replica = replica.ok_or_else(|| {
                Error::Solver(format!(
                    "internal: step {} ({} {} replica {}) names no replica",
                    step.step, step.action, step.deployment, step.replica
                ))
            })?;
            let running = (step.action == "stop")
                .then(|| {
                    let r = &current.replicas[replica];
                    current
                        .running
                        .iter()
                        .find(|x| x.deployment == r.deployment && x.replica == r.replica)
                })
                .flatten();
            Ok(Step {
                step,
                replica,
                running,
                known: None,
                gone: None,
            })
        })
        .collect()
}

/// A step's one-line title: `start chat-70b#3 on a100-01 GPUs 4,5` (control characters of
/// names escaped, so that a title stays one line wherever it is written).
pub fn title(step: &MigrationStep) -> String {
    let gpus: Vec<String> = step
        .stages
        .iter()
        .map(|s| format!("{} GPUs {}", s.node, super::devices(&s.gpus)))
        .collect();
    let text = format!(
        "{} {}#{} on {}{}",
        step.action,
        step.deployment,
        step.replica,
        gpus.join(" + "),
        if step.break_before_make {
            " (break before make)"
        } else {
            ""
        }
    );
    text.chars()
        .flat_map(|c| {
            let escape = c.is_control() || crate::formats::names::is_hidden(c);
            let out: Vec<char> = if escape { c.escape_default().collect() } else { vec![c] };
            out
        })
        .collect()
}

/// The head of every `apply.sh`: strict mode, `--from K`, a per-step timeout, and `step N TITLE`
/// which tells whether step N runs.
pub fn preamble(what: &str, steps: usize, extra: &str) -> String {
    format!(
        r#"#!/bin/sh
# fleetfit: {what}, {steps} step(s) from the running plan to the new one, make before break.
# Each step waits until it has settled; the script stops at the first failure.
# Resume with `sh apply.sh --from K`. FLEETFIT_STEP_TIMEOUT bounds each wait (default 1800 s).
set -eu
cd "$(dirname "$0")"
timeout="${{FLEETFIT_STEP_TIMEOUT:-1800}}"
from=1
if [ "${{1:-}}" = --from ]; then from="${{2:-}}"; fi
case "$from" in
    ''|*[!0-9]*) echo "--from takes a step number, not '$from'" >&2; exit 2 ;;
esac
step() {{
    if [ "$1" -lt "$from" ]; then return 1; fi
    echo "step $1/{steps}: $2" >&2
}}
# Runs "$@" until it succeeds, or fails after $timeout seconds.
until_ok() {{
    waited=0
    until "$@"; do
        if [ "$waited" -ge "$timeout" ]; then echo "gave up after $timeout s: $*" >&2; return 1; fi
        sleep 5
        waited=$((waited + 5))
    done
}}
{extra}"#
    )
}
