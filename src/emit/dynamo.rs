//! Dynamo graph configs, one per node (`{node}.yaml`): a section per deployment's workers on the
//! node, in the `dynamo serve -f` layout (engine arguments, then `ServiceArgs` with `workers` and
//! `resources.gpu`). Worker `i` of a section sees GPUs `offset + i * gpu ..`, so a section holds
//! replicas whose GPUs make one contiguous run in order, and says where it starts with
//! `cuda-visible-device-offset`. A replica whose GPUs are not contiguous gets a section of its
//! own with its devices listed in `ServiceArgs.envs.CUDA_VISIBLE_DEVICES`. Never two workers on
//! one GPU: the plan is checked first, and every section's GPUs are the plan's.
//!
//! A replica on several nodes gets a section on each node with the GPUs it takes there.
//!
//! A deployment on SGLang gets SGLang's engine arguments (`model-path`, `tp-size`,
//! `mem-fraction-static` without the runtime memory, `context-length`); one on vLLM, or on
//! llama.cpp (which Dynamo's graphs do not run; a comment says so), vLLM's. Each section's
//! comment gives the plan's memory per GPU: the reservation, the engine runtime in it and the KV
//! cache that leaves.

use std::collections::BTreeMap;

use serde::Serialize;

use super::server::{Precision, Runtime, notes, precision};
use super::shell::comment;
use super::{Emit, File, devices};
use crate::domain::{Deployment, KvCacheDtype, PlacedReplica, Quantization};

/// One section: a group of alike workers, in its engine's arguments.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Section {
    Vllm(VllmSection),
    Sglang(SglangSection),
}

/// vLLM's engine arguments.
#[derive(Debug, Clone, Serialize)]
pub struct VllmSection {
    pub model: String,
    pub served_model_name: String,
    #[serde(rename = "tensor-parallel-size")]
    pub tensor_parallel_size: u64,
    #[serde(rename = "pipeline-parallel-size")]
    pub pipeline_parallel_size: u64,
    #[serde(rename = "gpu-memory-utilization")]
    pub gpu_memory_utilization: String,
    #[serde(rename = "max-model-len")]
    pub max_model_len: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    #[serde(rename = "kv-cache-dtype")]
    pub kv_cache_dtype: String,
    #[serde(rename = "cuda-visible-device-offset", skip_serializing_if = "Option::is_none")]
    pub cuda_visible_device_offset: Option<u32>,
    #[serde(rename = "ServiceArgs")]
    pub service_args: ServiceArgs,
}

/// SGLang's engine arguments.
#[derive(Debug, Clone, Serialize)]
pub struct SglangSection {
    #[serde(rename = "model-path")]
    pub model_path: String,
    pub served_model_name: String,
    #[serde(rename = "tp-size")]
    pub tp_size: u64,
    #[serde(rename = "pp-size")]
    pub pp_size: u64,
    #[serde(rename = "mem-fraction-static")]
    pub mem_fraction_static: String,
    #[serde(rename = "context-length")]
    pub context_length: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    #[serde(rename = "kv-cache-dtype")]
    pub kv_cache_dtype: String,
    #[serde(rename = "cuda-visible-device-offset", skip_serializing_if = "Option::is_none")]
    pub cuda_visible_device_offset: Option<u32>,
    #[serde(rename = "ServiceArgs")]
    pub service_args: ServiceArgs,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceArgs {
    pub workers: u64,
    pub resources: Resources,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub gpu: u64,
}

/// A replica's GPUs on a node, and its index in the plan.
type Block = (Vec<u32>, usize);

/// The runtime of a deployment's workers: its engine's, vLLM's for llama.cpp.
fn runtime(d: &Deployment) -> Runtime {
    match Runtime::of(d.engine) {
        Runtime::LlamaCpp => Runtime::Vllm,
        other => other,
    }
}

/// A node's config, sections by name.
pub fn files(e: &Emit<'_>) -> Vec<File> {
    let shares = e.shares_by(|r| runtime(e.deployment(r)) == Runtime::Sglang);
    // Per node, per deployment: (first GPU, GPUs, replica index) of each replica's block there.
    let mut blocks: BTreeMap<&str, BTreeMap<&str, Vec<Block>>> = BTreeMap::new();
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        for (node, gpus) in Emit::nodes_of(replica) {
            blocks
                .entry(node)
                .or_default()
                .entry(replica.deployment.as_str())
                .or_default()
                .push((gpus, r));
        }
    }
    let mut out = Vec::new();
    for (node, per_deployment) in blocks {
        let mut sections: BTreeMap<String, (String, Section)> = BTreeMap::new();
        for (deployment, mut list) in per_deployment {
            list.sort_by_key(|(gpus, r)| (gpus.iter().min().copied(), *r));
            let mut runs: Vec<Vec<Block>> = Vec::new();
            for (gpus, r) in list {
                let contiguous = gpus.windows(2).all(|w| w[1] == w[0] + 1);
                let extends = runs.last().is_some_and(|run| {
                    let (last, last_r) = run.last().expect("runs are never empty");
                    let alike = last.len() == gpus.len() && shares[*last_r] == shares[r];
                    alike
                        && contiguous
                        && last.windows(2).all(|w| w[1] == w[0] + 1)
                        && last.last().map(|g| g + 1) == gpus.first().copied()
                });
                if extends {
                    runs.last_mut().expect("checked").push((gpus, r));
                } else {
                    runs.push(vec![(gpus, r)]);
                }
            }
            let many = runs.len() > 1;
            for (k, run) in runs.iter().enumerate() {
                let (first, r) = &run[0];
                let replica = &e.plan.replicas[*r];
                let contiguous = first.windows(2).all(|w| w[1] == w[0] + 1);
                let mut envs = BTreeMap::new();
                if !contiguous {
                    envs.insert("CUDA_VISIBLE_DEVICES".to_string(), devices(first));
                }
                let wanted = if many {
                    format!("{deployment}-{}", k + 1)
                } else {
                    deployment.to_string()
                };
                // Deployments `a` (two sections, `a-1` and `a-2`) and `a-1` would share a
                // section name: a later one gets a counter rather than replace the other.
                let mut name = wanted.clone();
                let mut n = 1;
                while sections.contains_key(&name) {
                    n += 1;
                    name = format!("{wanted}-{n}");
                }
                let service_args = ServiceArgs {
                    workers: run.len() as u64,
                    resources: Resources {
                        gpu: first.len() as u64,
                    },
                    envs,
                };
                let offset = contiguous.then(|| first[0]);
                let replicas: Vec<&PlacedReplica> = run.iter().map(|(_, r)| &e.plan.replicas[*r]).collect();
                sections.insert(
                    name,
                    (
                        comments(e, &replicas),
                        section(e, replica, &shares[*r], offset, service_args),
                    ),
                );
            }
        }
        let yaml: String = sections
            .iter()
            .map(|(name, (comments, section))| {
                let one = BTreeMap::from([(name, section)]);
                let text = serde_yaml::to_string(&one).expect("a graph config serializes");
                format!("{comments}{text}")
            })
            .collect();
        out.push(File {
            name: format!("{node}.yaml"),
            text: format!(
                "{}\n{yaml}",
                comment(&format!(
                    "fleetfit: Dynamo workers on node {node}; dynamo serve ... -f {node}.yaml"
                ))
            ),
        });
    }
    out
}

/// The comment lines of a section: its replicas' shape and the plan's memory per GPU (one line
/// per distinct figure), and what the arguments cannot carry.
fn comments(e: &Emit<'_>, replicas: &[&PlacedReplica]) -> String {
    let first = replicas[0];
    let d = e.deployment(first);
    let numbers = |list: &[&PlacedReplica]| {
        list.iter()
            .map(|r| r.replica.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = comment(&format!(
        "{} replica{} {}: {} x TP {} x PP {}",
        d.name,
        if replicas.len() == 1 { "" } else { "s" },
        numbers(replicas),
        first.quantization,
        first.tensor_parallel,
        first.pipeline_parallel
    ));
    out.push('\n');
    let mut memory: Vec<(String, Vec<&PlacedReplica>)> = Vec::new();
    for &r in replicas {
        let text = e.memory(r).describe();
        match memory.iter_mut().find(|(t, _)| *t == text) {
            Some((_, list)) => list.push(r),
            None => memory.push((text, vec![r])),
        }
    }
    let several = memory.len() > 1;
    for (text, list) in &memory {
        if several {
            out.push_str(&comment(&format!("replicas {}: {text}", numbers(list))));
        } else {
            out.push_str(&comment(text));
        }
        out.push('\n');
    }
    for note in notes(d, first, runtime(d)) {
        out.push_str(&comment(&note));
        out.push('\n');
    }
    out
}

/// A section's engine arguments.
fn section(
    e: &Emit<'_>,
    replica: &PlacedReplica,
    share: &str,
    offset: Option<u32>,
    service_args: ServiceArgs,
) -> Section {
    let d = e.deployment(replica);
    let q: Quantization = replica.quantization.parse().unwrap_or(d.model.dtype);
    let (dtype, quantization) = match precision(d.model.dtype, q) {
        Precision::Flag("--dtype", v) => (Some(v.to_string()), None),
        Precision::Flag(_, v) => (None, Some(v.to_string())),
        _ => (None, None),
    };
    match runtime(d) {
        Runtime::Sglang => Section::Sglang(SglangSection {
            model_path: e.model_name(d),
            served_model_name: d.name.clone(),
            tp_size: replica.tensor_parallel,
            pp_size: replica.pipeline_parallel,
            mem_fraction_static: share.to_string(),
            context_length: d.max_model_len,
            dtype,
            quantization,
            kv_cache_dtype: match d.kv_cache_dtype {
                KvCacheDtype::Auto => "auto",
                KvCacheDtype::Fp8 => "fp8_e5m2",
            }
            .into(),
            cuda_visible_device_offset: offset,
            service_args,
        }),
        _ => Section::Vllm(VllmSection {
            model: e.model_name(d),
            served_model_name: d.name.clone(),
            tensor_parallel_size: replica.tensor_parallel,
            pipeline_parallel_size: replica.pipeline_parallel,
            gpu_memory_utilization: share.to_string(),
            max_model_len: d.max_model_len,
            dtype,
            quantization,
            kv_cache_dtype: d.kv_cache_dtype.name().into(),
            cuda_visible_device_offset: offset,
            service_args,
        }),
    }
}
