//! vLLM, SGLang and llama.cpp launch commands: one shell script per node, a command per replica.
//!
//! The runtime is the one the target names (`--target vllm`, `--target sglang`), else each
//! replica's deployment's engine. Each command pins its GPUs with `CUDA_DEVICE_ORDER=PCI_BUS_ID
//! CUDA_VISIBLE_DEVICES=...` (the indices nvidia-smi prints), gives the tensor and pipeline
//! sizes, the memory share that matches the plan's reservation, the context length, the KV-cache
//! dtype and, where the engine must be told, the precision; and a port of its own on the node
//! (8000 up). A comment above it gives the plan's memory per GPU: the reservation, the engine
//! runtime in it and the KV cache that leaves. A replica on several nodes:
//! - vLLM: a Ray cluster per replica (`ray start --head` on the first stage's node, `ray start
//!   --address` on the others, each with its GPUs visible), then `vllm serve ...
//!   --distributed-executor-backend ray` on the head;
//! - SGLang: the same `sglang.launch_server` on every node with `--nnodes`, `--node-rank` and
//!   `--dist-init-addr` (the head node's name). SGLang spreads a replica's GPUs evenly over its
//!   nodes; a split that is not even gets a warning line;
//! - llama.cpp: an `rpc-server` on every other node with its GPUs visible, and `llama-server
//!   --rpc` on the head.
//!
//! Every command is data (`shell::Command`) until it is written, each word quoted, so a name
//! from an input file reaches the node's shell as one argument and nothing more.

use std::collections::{BTreeMap, BTreeSet};

use super::server::{Runtime, notes, server_args};
use super::shell::{Command, comment};
use super::{Emit, File, devices};
use crate::domain::PlacedReplica;

/// First port of the servers on a node; Ray clusters of multi-node replicas use 6379 up.
const FIRST_PORT: u64 = 8000;
const FIRST_RAY_PORT: u64 = 6379;
/// SGLang's rendezvous ports of multi-node replicas.
const FIRST_DIST_PORT: u64 = 20000;
/// llama.cpp's `rpc-server` ports of multi-node replicas.
const FIRST_RPC_PORT: u64 = 50052;

/// One script per node (`{node}.sh`), nodes in name order; `runtime` forces one runtime, `None`
/// runs each replica on its deployment's engine.
pub fn files(e: &Emit<'_>, runtime: Option<Runtime>) -> Vec<File> {
    let (scripts, runtimes) = scripts(e, runtime);
    scripts
        .into_iter()
        .map(|(node, lines)| {
            let titles: Vec<&str> = runtimes.get(node).into_iter().flatten().map(|r| r.title()).collect();
            let title = comment(&format!("fleetfit: {} servers on node {node}", titles.join(" and ")));
            let body: Vec<String> = lines.iter().map(Line::render).collect();
            File {
                name: format!("{node}.sh"),
                text: format!("#!/usr/bin/env bash\n{title}\n{}\nwait\n", body.join("\n")),
            }
        })
        .collect()
}

/// A line of a script: a comment or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Comment(String),
    Command(Command),
}

impl Line {
    pub fn render(&self) -> String {
        match self {
            Line::Comment(text) => comment(text),
            Line::Command(command) => command.render(),
        }
    }
}

/// Per node, the lines of its script; and the runtimes each node runs.
type Scripts<'a> = (BTreeMap<&'a str, Vec<Line>>, BTreeMap<&'a str, BTreeSet<Runtime>>);

/// The commands of every node, as data: what [`files`] writes and what tests run.
pub fn scripts<'a>(e: &Emit<'a>, runtime: Option<Runtime>) -> Scripts<'a> {
    let runtime_of = |r: &PlacedReplica| runtime.unwrap_or_else(|| Runtime::of(e.deployment(r).engine));
    let shares = e.shares_by(|r| runtime_of(r) == Runtime::Sglang);
    let mut scripts: BTreeMap<&str, Vec<Line>> = BTreeMap::new();
    let mut runtimes: BTreeMap<&str, BTreeSet<Runtime>> = BTreeMap::new();
    let mut next_port: BTreeMap<&str, u64> = BTreeMap::new();
    let mut next_cluster = 0;
    for (r, replica) in e.plan.replicas.iter().enumerate() {
        let runtime = runtime_of(replica);
        let nodes = Emit::nodes_of(replica);
        for (node, _) in &nodes {
            runtimes.entry(node).or_default().insert(runtime);
        }
        let port = {
            let p = next_port.entry(nodes[0].0).or_insert(FIRST_PORT);
            *p += 1;
            *p - 1
        };
        if nodes.len() > 1 {
            next_cluster += 1;
        }
        for (node, lines) in replica_lines(e, r, runtime, &shares[r], port, next_cluster) {
            scripts.entry(node).or_default().extend(lines);
        }
    }
    (scripts, runtimes)
}

/// Port of a replica's server on its head node, in a script made by [`scripts`]: the servers of a
/// node take ports from 8000 up in plan order.
pub fn ports(e: &Emit<'_>) -> Vec<u64> {
    let mut next_port: BTreeMap<&str, u64> = BTreeMap::new();
    e.plan
        .replicas
        .iter()
        .map(|r| {
            let p = next_port.entry(r.stages[0].node.as_str()).or_insert(FIRST_PORT);
            *p += 1;
            *p - 1
        })
        .collect()
}

/// The lines that start replica `r` (plan order), node by node in the order they must run: `port` is its server's, `cluster` (1 up) numbers the Ray, SGLang or rpc ports of a
/// replica on several nodes.
pub fn replica_lines<'a>(
    e: &Emit<'a>,
    r: usize,
    runtime: Runtime,
    share: &str,
    port: u64,
    cluster: u64,
) -> Vec<(&'a str, Vec<Line>)> {
    let replica = &e.plan.replicas[r];
    let env = |gpus: &[u32]| {
        vec![
            ("CUDA_DEVICE_ORDER", "PCI_BUS_ID".to_string()),
            ("CUDA_VISIBLE_DEVICES", devices(gpus)),
        ]
    };
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    let nodes = Emit::nodes_of(replica);
    let head = nodes[0].0;
    let header: Vec<Line> = comments(e, replica, runtime, &nodes)
        .into_iter()
        .map(Line::Comment)
        .collect();
    let serve = server_args(e, replica, runtime, share, port);
    let mut out: Vec<(&'a str, Vec<Line>)> = Vec::new();
    // Entries in the order they must run (a Ray head before its workers, the server last).
    let mut push = |node: &'a str, lines: Vec<Line>| match out.last_mut() {
        Some((last, existing)) if *last == node => existing.extend(lines),
        _ => out.push((node, lines)),
    };
    if nodes.len() == 1 {
        let command = Command::background(env(&nodes[0].1), serve);
        push(head, [header, vec![Line::Command(command)]].concat());
        return out;
    }
    match runtime {
        Runtime::Vllm => {
            let address = format!("{head}:{}", FIRST_RAY_PORT + cluster - 1);
            for (rank, (node, gpus)) in nodes.iter().enumerate() {
                let count = gpus.len().to_string();
                let words = if rank == 0 {
                    let port = (FIRST_RAY_PORT + cluster - 1).to_string();
                    argv(&["ray", "start", "--head", "--port", &port, "--num-gpus", &count])
                } else {
                    argv(&["ray", "start", "--address", &address, "--num-gpus", &count])
                };
                let start = Command {
                    env: env(gpus),
                    argv: words,
                    background: false,
                };
                push(node, [header.clone(), vec![Line::Command(start)]].concat());
            }
            let mut words = serve;
            words.extend(argv(&["--distributed-executor-backend", "ray"]));
            let command = Command::background(vec![("RAY_ADDRESS", address)], words);
            push(head, vec![Line::Command(command)]);
        }
        Runtime::Sglang => {
            let dist = format!("{head}:{}", FIRST_DIST_PORT + cluster - 1);
            let even = nodes.iter().all(|(_, g)| g.len() == nodes[0].1.len());
            for (rank, (node, gpus)) in nodes.iter().enumerate() {
                let mut lines = header.clone();
                if !even {
                    lines.push(Line::Comment(
                        "warning: SGLang puts the same number of GPUs on every node; this split is uneven".into(),
                    ));
                }
                let mut words = serve.clone();
                let (count, rank) = (nodes.len().to_string(), rank.to_string());
                words.extend(argv(&[
                    "--nnodes",
                    &count,
                    "--node-rank",
                    &rank,
                    "--dist-init-addr",
                    &dist,
                ]));
                lines.push(Line::Command(Command::background(env(gpus), words)));
                push(node, lines);
            }
        }
        Runtime::LlamaCpp => {
            let rpc_port = (FIRST_RPC_PORT + cluster - 1).to_string();
            for (node, gpus) in &nodes[1..] {
                let words = argv(&["rpc-server", "--host", "0.0.0.0", "--port", &rpc_port]);
                let command = Command::background(env(gpus), words);
                push(node, [header.clone(), vec![Line::Command(command)]].concat());
            }
            let remotes: Vec<String> = nodes[1..].iter().map(|(n, _)| format!("{n}:{rpc_port}")).collect();
            let mut words = serve;
            words.extend(["--rpc".to_string(), remotes.join(",")]);
            let mut lines = header;
            lines.push(Line::Comment(
                "the other nodes' rpc-server must be up before llama-server starts".into(),
            ));
            lines.push(Line::Command(Command::background(env(&nodes[0].1), words)));
            push(head, lines);
        }
    }
    out
}

/// The comment lines above a replica's commands: its shape and GPUs, the plan's memory per GPU,
/// and what the command cannot carry.
fn comments(e: &Emit<'_>, replica: &PlacedReplica, runtime: Runtime, nodes: &[(&str, Vec<u32>)]) -> Vec<String> {
    let d = e.deployment(replica);
    let mut lines = vec![
        format!(
            "{} replica {}: {} x TP {} x PP {} on {}",
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
        ),
        e.memory(replica).describe(),
    ];
    lines.extend(notes(d, replica, runtime));
    lines
}
