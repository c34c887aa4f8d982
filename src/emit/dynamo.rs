//! Dynamo graph configs, one per node (`{node}.yaml`): a section per deployment's workers on the
//! node, in the `dynamo serve -f` layout (engine arguments, then `ServiceArgs` with `workers` and
//! `resources.gpu`). Worker `i` of a section sees GPUs `offset + i * gpu ..`, so a section holds
//! replicas whose GPUs make one contiguous run in order, and says where it starts with
//! `cuda-visible-device-offset`. A replica whose GPUs are not contiguous gets a section of its
//! own with its devices listed in `ServiceArgs.envs.CUDA_VISIBLE_DEVICES`. Never two workers on
//! one GPU: the plan is checked first, and every section's GPUs are the plan's.
//!
//! A replica on several nodes gets a section on each node with the GPUs it takes there.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Emit, File, devices};

/// One section: a group of alike workers.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
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

/// A node's config, sections by name.
pub fn files(e: &Emit<'_>) -> Vec<File> {
    let shares = e.shares(false);
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
        let mut sections: BTreeMap<String, Section> = BTreeMap::new();
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
                let d = e.deployment(replica);
                let contiguous = first.windows(2).all(|w| w[1] == w[0] + 1);
                let mut envs = BTreeMap::new();
                if !contiguous {
                    envs.insert("CUDA_VISIBLE_DEVICES".to_string(), devices(first));
                }
                let name = if many {
                    format!("{deployment}-{}", k + 1)
                } else {
                    deployment.to_string()
                };
                sections.insert(
                    name,
                    Section {
                        model: e.model_name(d),
                        served_model_name: d.name.clone(),
                        tensor_parallel_size: replica.tensor_parallel,
                        pipeline_parallel_size: replica.pipeline_parallel,
                        gpu_memory_utilization: shares[*r].clone(),
                        max_model_len: d.max_model_len,
                        cuda_visible_device_offset: contiguous.then(|| first[0]),
                        service_args: ServiceArgs {
                            workers: run.len() as u64,
                            resources: Resources {
                                gpu: first.len() as u64,
                            },
                            envs,
                        },
                    },
                );
            }
        }
        let yaml = serde_yaml::to_string(&sections).expect("a graph config serializes");
        out.push(File {
            name: format!("{node}.yaml"),
            text: format!("# fleetfit: Dynamo workers on node {node}; dynamo serve ... -f {node}.yaml\n{yaml}"),
        });
    }
    out
}
