//! Applying a scenario's edits to the base inputs. Every edit is checked against the base: an
//! unknown node, label, deployment or GPU is an input error naming the scenario file, the
//! scenario, the edit and its field path.

use std::collections::BTreeMap;
use std::path::Path;

use super::Base;
use crate::domain::{Fleet, Workload};
use crate::error::InputError;
use crate::formats::deployments_file::{self, DeploymentsFile, PolicyFile, ReserveFile};
use crate::formats::fleet_file::{self, NodeFile};
use crate::formats::scenarios_file::{Scale, ScenarioFile};

/// The fleet and workload of scenario `index` of the file at `path`.
pub fn apply(base: &Base, scenario: &ScenarioFile, index: usize, path: &Path) -> Result<(Fleet, Workload), InputError> {
    let at = format!("scenarios[{index}]");
    let err = |field: String, message: String| {
        InputError::new(path, field, format!("{message} (scenario '{}')", scenario.name))
    };
    let mut fleet = base.fleet.clone();

    // 1. remove_nodes
    if let Some(sel) = &scenario.remove_nodes {
        for (j, name) in sel.names.iter().enumerate() {
            if fleet.node(name).is_none() {
                return Err(err(
                    format!("{at}.remove_nodes.names[{j}]"),
                    format!("no node is named '{name}'"),
                ));
            }
        }
        if let Some(labels) = &sel.labels
            && !fleet.nodes.iter().any(|n| n.matches(labels))
        {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            return Err(err(
                format!("{at}.remove_nodes.labels"),
                format!("no node has the labels {}", pairs.join(",")),
            ));
        }
        if sel.names.is_empty() && sel.labels.is_none() {
            return Err(err(format!("{at}.remove_nodes"), "give names or labels".into()));
        }
        fleet
            .nodes
            .retain(|n| !sel.names.contains(&n.name) && !sel.labels.as_ref().is_some_and(|labels| n.matches(labels)));
    }

    // 2. add_nodes
    for (j, add) in scenario.add_nodes.iter().enumerate() {
        let field = format!("{at}.add_nodes[{j}]");
        if add.count == 0 {
            return Err(err(format!("{field}.count"), "must be at least 1".into()));
        }
        for i in 1..=add.count {
            let name = format!("{}-{i}", add.prefix);
            if fleet.node(&name).is_some() {
                return Err(err(format!("{field}.prefix"), format!("node '{name}' already exists")));
            }
            let raw = NodeFile {
                name,
                labels: add.labels.clone(),
                gpus: None,
                gpu_type: Some(add.gpu_type.clone()),
                gpu_count: Some(add.gpu_count),
                memory_mib: Some(add.memory_mib),
                reserved_mib: add.reserved_mib,
            };
            let node = fleet_file::resolve_node(path, &field, &raw)
                .map_err(|e| InputError::new(path, e.field, format!("{} (scenario '{}')", e.message, scenario.name)))?;
            fleet.nodes.push(node);
        }
    }

    // 3. mark_busy
    for (j, busy) in scenario.mark_busy.iter().enumerate() {
        let field = format!("{at}.mark_busy[{j}]");
        let Some(node) = fleet.nodes.iter_mut().find(|n| n.name == busy.node) else {
            return Err(err(
                format!("{field}.node"),
                format!("no node is named '{}' (after remove_nodes)", busy.node),
            ));
        };
        if let Some(list) = &busy.gpus {
            for (k, index) in list.iter().enumerate() {
                if node.gpu(*index).is_none() {
                    return Err(err(
                        format!("{field}.gpus[{k}]"),
                        format!("node '{}' has no GPU {index}", node.name),
                    ));
                }
            }
        }
        for gpu in &mut node.gpus {
            if busy.gpus.as_ref().is_none_or(|list| list.contains(&gpu.index)) {
                // Fully used, and out of the eligible GPUs whatever the busy threshold: at
                // `busy_threshold: 1` a full GPU would still count as eligible (for reserves).
                gpu.used_mib = gpu.memory_mib;
                gpu.utilization = 100;
                gpu.healthy = false;
            }
        }
    }

    // 4. deployments: remove, add, scale; then 5. policy. Edited as written, then resolved
    // like any deployments file.
    let mut file: DeploymentsFile = base.deployments.clone();
    for (j, name) in scenario.remove_deployments.iter().enumerate() {
        let Some(pos) = file.deployments.iter().position(|d| &d.name == name) else {
            return Err(err(
                format!("{at}.remove_deployments[{j}]"),
                format!("no deployment is named '{name}'"),
            ));
        };
        file.deployments.remove(pos);
    }
    let first_added = file.deployments.len();
    file.deployments.extend(scenario.add_deployments.iter().cloned());
    for (name, scale) in &scenario.scale_replicas {
        let field = format!("{at}.scale_replicas.{name}");
        let Some(d) = file.deployments.iter_mut().find(|d| &d.name == name) else {
            return Err(err(field, format!("no deployment is named '{name}'")));
        };
        let now = d.replicas.unwrap_or(1);
        let next = match *scale {
            Scale::Factor(f) if f.is_finite() && f >= 0.0 && f * (now as f64) < 1e6 => (f * now as f64).ceil() as u64,
            Scale::Factor(f) => return Err(err(field, format!("{f} is not a usable factor"))),
            Scale::Set(to) => to.set,
        };
        d.replicas = Some(next);
    }
    if let Some(patch) = &scenario.policy {
        file.policy = merge_policy(&file.policy, patch);
    }
    // Where each scaled deployment sits in the edited file, for errors its new count causes.
    let scaled: Vec<(usize, String)> = scenario
        .scale_replicas
        .keys()
        .filter_map(|name| {
            file.deployments
                .iter()
                .position(|d| &d.name == name)
                .map(|i| (i, name.clone()))
        })
        .collect();
    let workload = deployments_file::resolve(
        &base.deployments_path,
        file,
        crate::formats::catalog::Catalog::builtin(),
        &base.profiles,
    )
    .map_err(|e| {
        if let Some((_, name)) = scaled
            .iter()
            .find(|(i, _)| e.field == format!("deployments[{i}].replicas"))
        {
            let message = format!("{} (scenario '{}')", e.message, scenario.name);
            return InputError::new(path, format!("{at}.scale_replicas.{name}"), message);
        }
        remap(e, path, &at, first_added, &base.deployments_path, &scenario.name)
    })?;
    Ok((fleet, workload))
}

/// `patch` over `base`, field by field; `reserve.per_type` key by key.
pub fn merge_policy(base: &PolicyFile, patch: &PolicyFile) -> PolicyFile {
    let reserve = match (&base.reserve, &patch.reserve) {
        (b, None) => b.clone(),
        (None, p) => p.clone(),
        (Some(b), Some(p)) => {
            let per_type = match (&b.per_type, &p.per_type) {
                (b, None) => b.clone(),
                (None, p) => p.clone(),
                (Some(b), Some(p)) => {
                    let mut merged: BTreeMap<String, u64> = b.clone();
                    merged.extend(p.iter().map(|(k, v)| (k.clone(), *v)));
                    Some(merged)
                }
            };
            Some(ReserveFile {
                per_node: p.per_node.or(b.per_node),
                fleet: p.fleet.or(b.fleet),
                per_type,
            })
        }
    };
    PolicyFile {
        busy_threshold: patch.busy_threshold.or(base.busy_threshold),
        overhead_mib: patch.overhead_mib.or(base.overhead_mib),
        engine: patch.engine.clone().or(base.engine.clone()),
        reserve,
    }
}

/// An error from resolving the edited deployments, told against the scenario where the
/// scenario caused it: added deployments and the merged policy.
fn remap(e: InputError, path: &Path, at: &str, first_added: usize, base_path: &Path, name: &str) -> InputError {
    let suffix = format!(" (scenario '{name}')");
    if let Some(rest) = e.field.strip_prefix("deployments[")
        && let Some((n, tail)) = rest.split_once(']')
        && let Ok(n) = n.parse::<usize>()
        && n >= first_added
    {
        return InputError::new(
            path,
            format!("{at}.add_deployments[{}]{tail}", n - first_added),
            e.message + &suffix,
        );
    }
    if e.field.starts_with("policy") {
        return InputError::new(path, format!("{at}.{}", e.field), e.message + &suffix);
    }
    InputError::new(base_path, e.field, e.message + &suffix)
}
