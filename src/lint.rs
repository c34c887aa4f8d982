//! Semantic warnings: inputs that are valid but probably not what the operator meant. They go to
//! stderr and never stop a plan (a what-if may add the missing GPUs later).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::domain::{Fleet, Workload};
use crate::shapes;

/// One warning about a field of the deployments file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}: {}: {}", self.file.display(), self.field, self.message)
    }
}

/// Every warning for a workload (read from `file`) on a fleet.
pub fn lint(fleet: &Fleet, workload: &Workload, file: &Path) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |field: String, message: String| {
        out.push(Warning {
            file: file.to_path_buf(),
            field,
            message,
        })
    };
    let types = fleet.gpu_types();
    let kinds = shapes::gpu_kinds(fleet);
    let policy = &workload.policy;
    let mut eligible_by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, g) in fleet.gpus().filter(|(_, g)| g.is_eligible(policy.busy_threshold)) {
        *eligible_by_type.entry(g.gpu_type.as_str()).or_default() += 1;
    }
    let eligible: u64 = eligible_by_type.values().sum();

    for (i, d) in workload.deployments.iter().enumerate() {
        let at = format!("deployments[{i}]");
        if let Some(list) = &d.gpu_types {
            for (j, t) in list.iter().enumerate() {
                if !types.contains(t) {
                    warn(
                        format!("{at}.gpu_types[{j}]"),
                        format!("no node has GPUs of type '{t}' (fleet types: {})", types.join(", ")),
                    );
                }
            }
        }
        // vLLM keeps its startup CUDA context, the CUDA graphs it captures after sizing the KV
        // cache and the sampler's warm-up outside gpu_memory_utilization (docs/memory.md).
        if d.engine == crate::domain::Engine::Vllm
            && let Some(u) = d.gpu_memory_utilization
            && u.to_f64() > 0.92 + 1e-9
        {
            warn(
                format!("{at}.gpu_memory_utilization"),
                format!(
                    "{u} leaves less than 8% of each GPU to what vLLM holds outside it (its CUDA context, 0.5 GiB at \
                     TP 1 and 1.5 GiB above; CUDA graphs, 0.6-1.9 GiB; the sampler's warm-up): published gpt-oss-20b \
                     runs at 0.95 ran out of memory after allocating their KV cache"
                ),
            );
        }
        let natural = d.model.dtype.sixteenth_bits();
        for (j, q) in d.quantizations.iter().enumerate() {
            if q.sixteenth_bits() > natural {
                warn(
                    format!("{at}.quantizations[{j}]"),
                    format!(
                        "{q} stores {} bits per weight, more than the model's native {} ({}): it only costs memory",
                        q.bits(),
                        d.model.dtype,
                        d.model.dtype.bits()
                    ),
                );
            }
        }
        let allowed: Vec<_> = kinds.iter().filter(|k| d.allows_type(&k.gpu_type)).cloned().collect();
        // Divisibility first: a TP x PP the model cannot take is the cause, not memory.
        let problems: Vec<String> = d
            .tensor_parallel
            .iter()
            .flat_map(|&tp| d.pipeline_parallel.iter().map(move |&pp| (tp, pp)))
            .filter_map(|(tp, pp)| shapes::check_parallelism(&d.model, tp, pp).err())
            .map(|p| p.to_string())
            .collect();
        let shapes_allowed = d.tensor_parallel.len() * d.pipeline_parallel.len();
        if problems.len() == shapes_allowed && shapes_allowed > 0 {
            warn(
                format!("{at}.tensor_parallel"),
                format!("no allowed TP x PP can serve {}: {}", d.model.id, problems.join("; ")),
            );
        } else if !allowed.is_empty() && shapes::all_options(i, d, policy, &allowed).is_empty() {
            warn(
                at.clone(),
                format!(
                    "no allowed shape of {} fits the memory of any allowed GPU type in the fleet",
                    d.model.id
                ),
            );
        }
        if d.share_gpu && d.gpu_memory_utilization.is_none() {
            warn(
                format!("{at}.share_gpu"),
                "sharing without gpu_memory_utilization: fleetfit reserves the computed need, but vLLM and SGLang preallocate 0.9 of the GPU by default; set the fraction the engine will use".into(),
            );
        }
        if let Some(limit) = d.model.max_position_embeddings
            && d.max_model_len > limit
        {
            warn(
                format!("{at}.max_model_len"),
                format!("{} is longer than the model's {limit} positions", d.max_model_len),
            );
        }
    }

    let reserve = &policy.reserve;
    let largest_node = fleet.nodes.iter().map(|n| n.gpus.len() as u64).max().unwrap_or(0);
    if reserve.per_node > 0 && reserve.per_node >= largest_node {
        warn(
            "policy.reserve.per_node".into(),
            format!(
                "{} is at least the GPUs of the largest node ({largest_node}): nothing can be placed",
                reserve.per_node
            ),
        );
    }
    if reserve.fleet > 0 && reserve.fleet >= eligible {
        warn(
            "policy.reserve.fleet".into(),
            format!(
                "{} is at least the fleet's {eligible} eligible GPUs: nothing can be placed",
                reserve.fleet
            ),
        );
    }
    for (t, &k) in &reserve.per_type {
        let have = eligible_by_type.get(t.as_str()).copied().unwrap_or(0);
        if !types.contains(t) {
            warn(
                format!("policy.reserve.per_type.{t}"),
                format!("no node has GPUs of type '{t}'"),
            );
        } else if k >= have && k > 0 {
            warn(
                format!("policy.reserve.per_type.{t}"),
                format!("{k} is at least the {have} eligible {t} GPUs: none of them can be used"),
            );
        }
    }
    out
}
