//! vLLM and SGLang launch commands: one shell script per node, a command per replica.
//!
//! Each command pins its GPUs with `CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=...` (the
//! indices nvidia-smi prints), gives the tensor and pipeline sizes, the memory share that matches
//! the plan's reservation, the precision, the context length and the KV-cache dtype, and a port
//! of its own on the node (8000 up). A replica on several nodes:
//! - vLLM: a Ray cluster per replica (`ray start --head` on the first stage's node, `ray start
//!   --address` on the others, each with its GPUs visible), then `vllm serve ...
//!   --distributed-executor-backend ray` on the head;
//! - SGLang: the same `sglang.launch_server` on every node with `--nnodes`, `--node-rank` and
//!   `--dist-init-addr` (the head node's name). SGLang spreads a replica's GPUs evenly over its
//!   nodes; a split that is not even gets a warning line.
//!
//! Memory: vLLM's `--gpu-memory-utilization` bounds everything the instance takes, so it is the
//! reservation's share. SGLang's `--mem-fraction-static` covers weights and KV cache only, its
//! activations come on top: its share leaves out `policy.overhead_mib`.

use std::collections::BTreeMap;

use super::{Emit, File, devices};
use crate::domain::{KvCacheDtype, PlacedReplica, Quantization};

/// Which runtime's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Vllm,
    Sglang,
}

/// First port of the servers on a node; Ray clusters of multi-node replicas use 6379 up.
const FIRST_PORT: u64 = 8000;
const FIRST_RAY_PORT: u64 = 6379;
/// SGLang's rendezvous ports of multi-node replicas.
const FIRST_DIST_PORT: u64 = 20000;

/// One script per node (`{node}.sh`), nodes in name order.
pub fn files(e: &Emit<'_>, runtime: Runtime) -> Vec<File> {
    let shares = e.shares(runtime == Runtime::Sglang);
    let mut scripts: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut next_port: BTreeMap<&str, u64> = BTreeMap::new();
    let mut next_cluster = 0;
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        let nodes = Emit::nodes_of(replica);
        let head = nodes[0].0;
        let port = {
            let p = next_port.entry(head).or_insert(FIRST_PORT);
            *p += 1;
            *p - 1
        };
        let header = format!(
            "# {} replica {}: {} x TP {} x PP {} on {}, {} MiB reserved per GPU",
            replica.deployment,
            replica.replica,
            replica.quantization,
            replica.tensor_parallel,
            replica.pipeline_parallel,
            nodes
                .iter()
                .map(|(n, g)| format!("{n} GPUs {}", devices(g)))
                .collect::<Vec<_>>()
                .join(" + "),
            replica.memory_per_gpu_mib
        );
        let serve = server_args(e, replica, runtime, &shares[r], port);
        let env = |gpus: &[u32]| format!("CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES={}", devices(gpus));
        if nodes.len() == 1 {
            let lines = scripts.entry(head).or_default();
            lines.push(header);
            lines.push(format!("{} {} &", env(&nodes[0].1), serve.join(" ")));
            continue;
        }
        next_cluster += 1;
        match runtime {
            Runtime::Vllm => {
                let ray_port = FIRST_RAY_PORT + next_cluster - 1;
                for (rank, (node, gpus)) in nodes.iter().enumerate() {
                    let lines = scripts.entry(node).or_default();
                    lines.push(header.clone());
                    lines.push(if rank == 0 {
                        format!(
                            "{} ray start --head --port {ray_port} --num-gpus {}",
                            env(gpus),
                            gpus.len()
                        )
                    } else {
                        format!(
                            "{} ray start --address {head}:{ray_port} --num-gpus {}",
                            env(gpus),
                            gpus.len()
                        )
                    });
                }
                scripts.entry(head).or_default().push(format!(
                    "RAY_ADDRESS={head}:{ray_port} {} --distributed-executor-backend ray &",
                    serve.join(" ")
                ));
            }
            Runtime::Sglang => {
                let dist_port = FIRST_DIST_PORT + next_cluster - 1;
                let even = nodes.iter().all(|(_, g)| g.len() == nodes[0].1.len());
                for (rank, (node, gpus)) in nodes.iter().enumerate() {
                    let lines = scripts.entry(node).or_default();
                    lines.push(header.clone());
                    if !even {
                        lines.push(
                            "# warning: SGLang puts the same number of GPUs on every node; this split is uneven".into(),
                        );
                    }
                    lines.push(format!(
                        "{} {} --nnodes {} --node-rank {rank} --dist-init-addr {head}:{dist_port} &",
                        env(gpus),
                        serve.join(" "),
                        nodes.len()
                    ));
                }
            }
        }
    }
    scripts
        .into_iter()
        .map(|(node, lines)| File {
            name: format!("{node}.sh"),
            text: format!(
                "#!/usr/bin/env bash\n# fleetfit: {} servers on node {node}\n{}\nwait\n",
                match runtime {
                    Runtime::Vllm => "vLLM",
                    Runtime::Sglang => "SGLang",
                },
                lines.join("\n")
            ),
        })
        .collect()
}

/// The server's program and flags, shared by every node of a replica.
pub(super) fn server_args(
    e: &Emit<'_>,
    replica: &PlacedReplica,
    runtime: Runtime,
    share: &str,
    port: u64,
) -> Vec<String> {
    let d = e.deployment(replica);
    let model = e.model_name(d);
    let q: Quantization = replica.quantization.parse().unwrap_or(d.model.dtype);
    let mut args: Vec<String> = match runtime {
        Runtime::Vllm => vec!["vllm".into(), "serve".into(), model],
        Runtime::Sglang => vec![
            "python3".into(),
            "-m".into(),
            "sglang.launch_server".into(),
            "--model-path".into(),
            model,
        ],
    };
    let mut flag = |name: &str, value: String| {
        args.push(name.to_string());
        args.push(value);
    };
    flag("--served-model-name", d.name.clone());
    flag("--port", port.to_string());
    match runtime {
        Runtime::Vllm => {
            flag("--tensor-parallel-size", replica.tensor_parallel.to_string());
            flag("--pipeline-parallel-size", replica.pipeline_parallel.to_string());
            flag("--gpu-memory-utilization", share.to_string());
            flag("--max-model-len", d.max_model_len.to_string());
        }
        Runtime::Sglang => {
            flag("--tp-size", replica.tensor_parallel.to_string());
            flag("--pp-size", replica.pipeline_parallel.to_string());
            flag("--mem-fraction-static", share.to_string());
            flag("--context-length", d.max_model_len.to_string());
        }
    }
    match q {
        Quantization::Bf16 => flag("--dtype", "bfloat16".into()),
        Quantization::Fp16 => flag("--dtype", "float16".into()),
        Quantization::Fp32 => flag("--dtype", "float32".into()),
        Quantization::Fp8 => flag("--quantization", "fp8".into()),
        // int8/int4 and GGUF weights come from a checkpoint stored that way, whose own config
        // tells the runtime how to read it.
        _ => {}
    }
    match (d.kv_cache_dtype, runtime) {
        (KvCacheDtype::Auto, _) => flag("--kv-cache-dtype", "auto".into()),
        (KvCacheDtype::Fp8, Runtime::Vllm) => flag("--kv-cache-dtype", "fp8".into()),
        (KvCacheDtype::Fp8, Runtime::Sglang) => flag("--kv-cache-dtype", "fp8_e4m3".into()),
    }
    args
}
