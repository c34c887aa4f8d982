//! Which deployment a worker serves, and the shape and memory it runs with.

use crate::domain::{Deployment, Engine, EngineCommand, Fleet, Quantization, Stage, Workload};
use crate::formats::catalog::Catalog;
use crate::memory::{self, MemoryInputs};
use crate::shapes;

use super::{Matched, Unit};

/// The deployment a unit serves and the shape it runs, or why it is foreign.
pub(super) fn match_unit(unit: &Unit, workload: &Workload, warnings: &mut Vec<String>) -> Result<Matched, String> {
    let head = unit.head();
    let command = unit.command();
    let marked = unit.parts.iter().find_map(|w| w.marked_deployment.clone());
    let Some(command) = command else {
        if let Some(name) = marked {
            return Err(format!(
                "fleetfit's annotation names deployment '{name}' but no engine command was recognised"
            ));
        }
        return Err(format!("`{}` is not an engine fleetfit recognises", head.program));
    };
    let (tp, pp) = (command.tensor_parallel, command.pipeline_parallel);
    if tp.checked_mul(pp) != Some(unit.gpus()) {
        let across = if pp > 1 && unit.parts.iter().all(|w| w.pod.is_none()) {
            " (a replica across nodes is not joined across node captures)"
        } else {
            ""
        };
        return Err(format!(
            "it holds {} GPU{} but runs tensor parallel {tp} x pipeline parallel {pp}{across}",
            unit.gpus(),
            if unit.gpus() == 1 { "" } else { "s" }
        ));
    }
    let deployment: Result<usize, String> = match marked {
        Some(name) => workload.deployments.iter().position(|d| d.name == name).ok_or(name),
        None => {
            let serves = |d: &Deployment| {
                let repo = Catalog::builtin().find(&d.model.id).and_then(|e| e.repo.clone());
                let same = |m: &str| {
                    m.eq_ignore_ascii_case(&d.model.id) || repo.as_deref().is_some_and(|r| m.eq_ignore_ascii_case(r))
                };
                same(&command.model) || same(command.model.rsplit('/').next().unwrap_or(""))
            };
            let engine = |d: &Deployment| d.engine == command.engine;
            let by_name: Vec<usize> = (0..workload.deployments.len())
                .filter(|&i| {
                    let d = &workload.deployments[i];
                    engine(d) && command.served_name.as_deref() == Some(d.name.as_str())
                })
                .collect();
            let by_model: Vec<usize> = (0..workload.deployments.len())
                .filter(|&i| engine(&workload.deployments[i]) && serves(&workload.deployments[i]))
                .collect();
            let candidates = if by_name.is_empty() { by_model } else { by_name };
            let Some(&first) = candidates.first() else {
                return Err(format!(
                    "no deployment serves {} on {}",
                    command.model,
                    command.engine.name()
                ));
            };
            if candidates.len() > 1 {
                let names: Vec<&str> = candidates
                    .iter()
                    .map(|&i| workload.deployments[i].name.as_str())
                    .collect();
                warnings.push(format!(
                    "{}: serves {}, which deployments {} all serve; taken as {} (set --served-model-name to the deployment's name to tell them apart)",
                    head.origin,
                    command.model,
                    names.join(", "),
                    names[0]
                ));
            }
            Ok(first)
        }
    };
    let quantization = match &deployment {
        Ok(d) => quantization(command, &workload.deployments[*d]).name().to_string(),
        Err(_) => precision(command).map_or("bf16".to_string(), |q| q.name().to_string()),
    };
    Ok(Matched {
        deployment,
        quantization,
        tp,
        pp,
    })
}

/// What precision the flags ask for, where they say.
fn precision(command: &EngineCommand) -> Option<Quantization> {
    if let Some(q) = &command.quantization {
        let q = q.to_ascii_lowercase();
        return match q.as_str() {
            "fp8" | "fbgemm_fp8" | "modelopt" => Some(Quantization::Fp8),
            "awq" | "awq_marlin" | "gptq" | "gptq_marlin" | "bitsandbytes" => Some(Quantization::Int4),
            other => other.parse().ok(),
        };
    }
    if command.engine == Engine::LlamaCpp {
        let file = command.model.to_ascii_uppercase();
        return Quantization::ALL
            .into_iter()
            .filter(|q| q.name() != "fp8" && q.name() != "int8" && q.name() != "int4")
            .find(|q| file.contains(&q.name().to_ascii_uppercase()));
    }
    command.dtype.as_deref().and_then(|d| d.parse().ok())
}

/// The quantization a matched worker runs: its flags', else its checkpoint's.
fn quantization(command: &EngineCommand, d: &Deployment) -> Quantization {
    precision(command).unwrap_or(d.model.dtype)
}

/// The reservation and runtime memory a replica of this shape shows in a plan on these GPUs:
/// the planner's figure where the deployment allows the shape on that GPU kind, else its need.
pub(super) fn memory_of(
    fleet: &Fleet,
    workload: &Workload,
    d: usize,
    m: &Matched,
    stages: &[Stage],
) -> (u64, Option<u64>) {
    let deployment = &workload.deployments[d];
    let gpus: Vec<&crate::domain::Gpu> = stages
        .iter()
        .flat_map(|s| s.gpus.iter().filter_map(|&g| fleet.node(&s.node)?.gpu(g)))
        .collect();
    let Some(first) = gpus.first() else { return (0, None) };
    let kinds = shapes::gpu_kinds(fleet);
    let option = shapes::all_options(d, deployment, &workload.policy, &kinds)
        .into_iter()
        .find(|o| o.quantization.name() == m.quantization && o.tp == m.tp && o.pp == m.pp && first.is_kind(&o.kind));
    match option {
        Some(o) => (o.reservation_on(gpus.iter().copied()), Some(o.runtime_mib)),
        None => {
            let q: Quantization = m.quantization.parse().unwrap_or(deployment.model.dtype);
            let f = memory::footprint(&MemoryInputs::of(deployment), q, m.tp, m.pp);
            let reserve = memory::reserve_mib(f.need_mib, deployment.gpu_memory_utilization, first.cuda_mib())
                .unwrap_or(f.need_mib);
            (reserve, Some(f.runtime_mib))
        }
    }
}
