//! Emitters: a checked plan as what runtimes run. `launch` writes vLLM, SGLang and llama.cpp
//! command lines, `dynamo` a Dynamo graph config per node, `k8s` Kubernetes manifests. Each
//! emitter reads only the plan, the fleet and the deployments; the plan is checked before
//! anything is written, so a plan that breaks a rule (two workers on one GPU, say) never becomes
//! a launch command.
//!
//! Every worker gets the numbers the plan assumed, so that its engine sizes memory as the plan
//! did: the memory share of its reservation, the context length, the KV-cache dtype, the
//! parallel sizes and the precision; and a comment (annotations in manifests) with the plan's
//! memory per GPU: the reservation, the engine runtime counted in it, and the KV cache that
//! leaves (`memory::replica_kv`).

pub mod changes;
pub mod dynamo;
pub mod k8s;
pub mod launch;
pub mod names;
pub mod server;
pub mod shell;
pub mod sweep_job;

use std::collections::BTreeMap;

use crate::domain::{Deployment, Fleet, PlacedReplica, Plan, Workload};
use crate::error::Error;
use crate::formats::catalog::Catalog;
use crate::memory::{KvCapacity, replica_kv_on};

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// vLLM launch scripts for every replica, whatever its deployment's engine.
    Vllm,
    /// SGLang launch scripts for every replica, whatever its deployment's engine.
    Sglang,
    /// Launch scripts, each replica on its deployment's engine (vLLM, SGLang or llama.cpp).
    Launch,
    /// Dynamo graph configs: vLLM or SGLang workers, as each deployment's engine.
    Dynamo,
    /// Kubernetes manifests: each deployment's engine's server image.
    K8s,
}

/// One output file: its name (no folder) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub text: String,
}

/// A checked plan with what the emitters look up in it (nodes and deployments by name, so that
/// emitting for 100,000 GPUs does not scan the fleet per GPU).
pub struct Emit<'a> {
    pub plan: &'a Plan,
    pub fleet: &'a Fleet,
    pub workload: &'a Workload,
    nodes: std::collections::HashMap<&'a str, &'a crate::domain::Node>,
    deployments: std::collections::HashMap<&'a str, &'a Deployment>,
}

/// The files of `target` for a plan; an error where the plan breaks a rule.
pub fn emit(target: Target, plan: &Plan, fleet: &Fleet, workload: &Workload) -> Result<Vec<File>, Error> {
    let violations = crate::check::check(fleet, workload, plan);
    if !violations.is_empty() {
        return Err(Error::invalid_plan(&violations));
    }
    check_names(target, plan, fleet)?;
    let e = Emit::new(plan, fleet, workload);
    Ok(match target {
        Target::Vllm => launch::files(&e, Some(server::Runtime::Vllm)),
        Target::Sglang => launch::files(&e, Some(server::Runtime::Sglang)),
        Target::Launch => launch::files(&e, None),
        Target::Dynamo => dynamo::files(&e),
        Target::K8s => k8s::files(&e),
    })
}

/// Refuses a node name the target cannot carry: one that names a file (`{node}.sh`,
/// `{node}.yaml`), or one Kubernetes must know the node by.
pub(crate) fn check_names(target: Target, plan: &Plan, fleet: &Fleet) -> Result<(), Error> {
    let used: std::collections::BTreeSet<&str> = plan
        .replicas
        .iter()
        .flat_map(|r| r.stages.iter().map(|s| s.node.as_str()))
        .collect();
    for (index, node) in fleet.nodes.iter().enumerate() {
        if !used.contains(node.name.as_str()) {
            continue;
        }
        let why = match target {
            Target::K8s => names::kubernetes_node_problem(&node.name),
            Target::Dynamo => names::file_name_problem(&format!("{}.yaml", node.name)),
            _ => names::file_name_problem(&format!("{}.sh", node.name)),
        };
        if let Some(why) = why {
            return Err(names::NameRefused {
                owner: names::Owner::Node,
                index,
                name: node.name.clone(),
                why,
            }
            .into());
        }
    }
    Ok(())
}

impl<'a> Emit<'a> {
    /// A plan with its fleet and workload, indexed by name.
    pub fn new(plan: &'a Plan, fleet: &'a Fleet, workload: &'a Workload) -> Emit<'a> {
        Emit {
            plan,
            fleet,
            workload,
            nodes: fleet.nodes.iter().map(|n| (n.name.as_str(), n)).collect(),
            deployments: workload.deployments.iter().map(|d| (d.name.as_str(), d)).collect(),
        }
    }

    /// The deployment a replica belongs to.
    pub fn deployment(&self, replica: &PlacedReplica) -> &'a Deployment {
        self.deployments
            .get(replica.deployment.as_str())
            .expect("a checked plan names its deployments")
    }

    /// What the runtime loads: the catalog's Hugging Face repository, else the model's id.
    pub fn model_name(&self, deployment: &Deployment) -> String {
        Catalog::builtin()
            .find(&deployment.model.id)
            .and_then(|e| e.repo.clone())
            .unwrap_or_else(|| deployment.model.id.clone())
    }

    /// Memory and free memory (MiB) of a node's GPU by index.
    fn gpu(&self, node: &str, index: u32) -> (u64, u64) {
        let g = self
            .nodes
            .get(node)
            .and_then(|n| n.gpu(index))
            .expect("a checked plan names real GPUs");
        (g.cuda_mib(), g.free_mib())
    }

    /// Per replica (plan order), the share of each GPU's total memory it may take, as a decimal:
    /// the deployment's `gpu_memory_utilization` where set (the reservation is that share);
    /// else `reserve_mib` over the GPU's memory to 4 decimals, rounded up, unless the shares
    /// rounded up on some GPU of the replica would add up to more than its free memory, then
    /// rounded down (the reservations fit, so shares rounded down do). GPU memory is what CUDA
    /// reports (total less the driver's reserve), as engines see it. `static_only` (SGLang's
    /// `--mem-fraction-static`) leaves the replica's `runtime_mib` out of the share: SGLang's
    /// fraction covers weights and KV cache, its activations and graphs come on top.
    pub fn shares(&self, static_only: bool) -> Vec<String> {
        self.shares_by(|_| static_only)
    }

    /// [`Emit::shares`] with `static_only` decided per replica (SGLang's replicas beside vLLM's).
    pub fn shares_by(&self, static_only: impl Fn(&PlacedReplica) -> bool) -> Vec<String> {
        let reserve = |r: &PlacedReplica| {
            let less = if static_only(r) { r.runtime_mib.unwrap_or(0) } else { 0 };
            r.memory_per_gpu_mib.saturating_sub(less)
        };
        // SGLang applies its static fraction to the memory free when it starts loading weights:
        // CUDA's total less its own context (the profile's non-torch figure).
        let context = |r: &PlacedReplica| -> u64 {
            if !static_only(r) {
                return 0;
            }
            let d = self.deployment(r);
            r.quantization.parse().map_or(0, |q| {
                d.runtime
                    .of(&d.model, q, r.tensor_parallel, r.pipeline_parallel)
                    .non_torch_mib
            })
        };
        let share = |r: &PlacedReplica, up: bool| -> u64 {
            let less = context(r);
            let per_gpu = r.stages.iter().flat_map(|s| {
                s.gpus
                    .iter()
                    .map(move |&g| self.gpu(&s.node, g).0.saturating_sub(less).max(1))
            });
            let units = per_gpu.map(|memory| {
                let scaled = u128::from(reserve(r)) * 10_000;
                let m = u128::from(memory);
                (if up { scaled.div_ceil(m) } else { scaled / m }) as u64
            });
            if up {
                units.max().unwrap_or(0)
            } else {
                units.min().unwrap_or(0)
            }
        };
        let mut shares: Vec<u64> = self.plan.replicas.iter().map(|r| share(r, true)).collect();
        let mut on_gpu: BTreeMap<(&str, u32), Vec<usize>> = BTreeMap::new();
        for (i, r) in self.plan.replicas.iter().enumerate() {
            for s in &r.stages {
                for &g in &s.gpus {
                    on_gpu.entry((s.node.as_str(), g)).or_default().push(i);
                }
            }
        }
        for ((node, index), replicas) in &on_gpu {
            let (memory, free) = self.gpu(node, *index);
            let taken: u64 = replicas.iter().map(|&i| shares[i]).sum();
            if u128::from(taken) * u128::from(memory) > u128::from(free) * 10_000 {
                for &i in replicas {
                    shares[i] = share(&self.plan.replicas[i], false);
                }
            }
        }
        self.plan
            .replicas
            .iter()
            .zip(shares)
            .map(|(r, units)| match self.deployment(r).gpu_memory_utilization {
                Some(gmu) if !static_only(r) => gmu.to_string(),
                _ => share_text(units),
            })
            .collect()
    }

    /// The plan's memory on each GPU of a replica.
    pub fn memory(&self, replica: &PlacedReplica) -> Memory {
        let d = self.deployment(replica);
        Memory {
            reserved_mib: replica.memory_per_gpu_mib,
            runtime_mib: replica.runtime_mib,
            engine: d.engine.name(),
            kv: replica_kv_on(d, replica, |node, index| self.nodes.get(node)?.gpu(index)),
            max_model_len: d.max_model_len,
        }
    }

    /// The nodes of a replica, head (first stage's) first, and the GPUs it takes on each in
    /// stage order.
    pub fn nodes_of(replica: &PlacedReplica) -> Vec<(&str, Vec<u32>)> {
        let mut out: Vec<(&str, Vec<u32>)> = Vec::new();
        for s in &replica.stages {
            match out.iter_mut().find(|(n, _)| *n == s.node) {
                Some((_, gpus)) => gpus.extend(&s.gpus),
                None => out.push((s.node.as_str(), s.gpus.clone())),
            }
        }
        out
    }
}

/// The plan's memory on each GPU of a replica: what it reserves, the engine runtime counted in
/// that, and the KV cache the rest holds (the smallest over its GPUs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    pub reserved_mib: u64,
    /// `None` in plans written before runtime memory was recorded.
    pub runtime_mib: Option<u64>,
    /// The engine whose runtime it is (the deployment's).
    pub engine: &'static str,
    /// `None` where the rules would refuse the replica (never in a checked plan).
    pub kv: Option<KvCapacity>,
    pub max_model_len: u64,
}

impl Memory {
    /// Concurrency as `12.34`.
    pub fn concurrency(&self) -> Option<String> {
        self.kv
            .map(|k| format!("{}.{:02}", k.concurrency_x100 / 100, k.concurrency_x100 % 100))
    }

    /// One line for a comment: `memory per GPU: 20480 MiB reserved, 2399 MiB of it vllm runtime;
    /// KV cache 65536 tokens (8.00 requests of 8192 tokens at once)`.
    pub fn describe(&self) -> String {
        let mut text = format!("memory per GPU: {} MiB reserved", self.reserved_mib);
        if let Some(runtime) = self.runtime_mib {
            text.push_str(&format!(", {runtime} MiB of it {} runtime", self.engine));
        }
        if let (Some(kv), Some(concurrency)) = (self.kv, self.concurrency()) {
            text.push_str(&format!(
                "; KV cache {} tokens ({concurrency} requests of {} tokens at once)",
                kv.tokens, self.max_model_len
            ));
        }
        text
    }
}

/// A share in units of 1/10,000 as a decimal (`8734` is `0.8734`).
pub fn share_text(units: u64) -> String {
    let text = format!("{}.{:04}", units / 10_000, units % 10_000);
    let trimmed = text.trim_end_matches('0');
    trimmed
        .strip_suffix('.')
        .map_or(trimmed.to_string(), |t| format!("{t}.0"))
}

/// GPU indices as `CUDA_VISIBLE_DEVICES` wants them.
pub fn devices(gpus: &[u32]) -> String {
    gpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}
