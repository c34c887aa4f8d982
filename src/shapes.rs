//! Replica shapes: which `(quantization, tp, pp)` a model allows, and what each costs on each
//! GPU kind. The solver, the greedy placer and explanations all start from these options.

use std::fmt;

use crate::domain::{Deployment, Fleet, GpuKind, ModelArch, Policy, Quantization};
use crate::memory::{self, MemoryInputs};

/// Why a `(tp, pp)` cannot serve a model (docs/rules.md §4's divisibility rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeProblem {
    /// Attention heads must split evenly across the TP group.
    HeadsNotDivisible { heads: u64, tp: u64 },
    /// KV heads must split evenly, or be replicated evenly.
    KvHeadsIncompatible { kv_heads: u64, tp: u64 },
    /// Each pipeline stage needs at least one layer.
    MoreStagesThanLayers { pp: u64, layers: u64 },
}

impl fmt::Display for ShapeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ShapeProblem::HeadsNotDivisible { heads, tp } => {
                write!(
                    f,
                    "{heads} attention heads are not divisible by tensor parallel size {tp}"
                )
            }
            ShapeProblem::KvHeadsIncompatible { kv_heads, tp } => write!(
                f,
                "{kv_heads} KV heads and tensor parallel size {tp} do not divide one another"
            ),
            ShapeProblem::MoreStagesThanLayers { pp, layers } => {
                write!(f, "{pp} pipeline stages is more than the model's {layers} layers")
            }
        }
    }
}

/// Whether a model can be split into `tp * pp` GPUs at all.
pub fn check_parallelism(model: &ModelArch, tp: u64, pp: u64) -> Result<(), ShapeProblem> {
    if !model.heads.is_multiple_of(tp) {
        return Err(ShapeProblem::HeadsNotDivisible { heads: model.heads, tp });
    }
    if !model.kv_heads.is_multiple_of(tp) && !tp.is_multiple_of(model.kv_heads) {
        return Err(ShapeProblem::KvHeadsIncompatible {
            kv_heads: model.kv_heads,
            tp,
        });
    }
    if pp > model.layers {
        return Err(ShapeProblem::MoreStagesThanLayers {
            pp,
            layers: model.layers,
        });
    }
    Ok(())
}

/// One way to run a replica of a deployment: a shape on one GPU kind, with its memory cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeOption {
    /// Index of the deployment in the workload.
    pub deployment: usize,
    pub quantization: Quantization,
    /// 0-based position in the deployment's quantization list (the level-2 penalty).
    pub quantization_rank: u64,
    pub tp: u64,
    pub pp: u64,
    pub kind: GpuKind,
    /// Section 4's `runtime_mib`: the engine's memory beside weights and KV cache.
    pub runtime_mib: u64,
    /// Section 4's `need_mib` on each GPU.
    pub need_mib: u64,
    /// Section 4's `reserve_mib` on each GPU of this kind: what must be free, what the plan shows
    /// (on a laddered kind, the lowest rank that holds it: see [`ShapeOption::reservation_on`]).
    pub reserve_mib: u64,
    /// The deployment's `gpu_memory_utilization`.
    pub gpu_memory_utilization: Option<crate::ratio::Decimal>,
}

impl ShapeOption {
    /// GPUs one replica takes.
    pub fn gpus(&self) -> u64 {
        self.tp * self.pp
    }

    /// What a replica of this option on these GPUs shows as `memory_per_gpu_mib`: its
    /// reservation; on a laddered kind (whose thresholds are ranks), the need, or where the
    /// deployment sets `gpu_memory_utilization` the largest share of its GPUs' CUDA memory.
    pub fn reservation_on<'g>(&self, gpus: impl IntoIterator<Item = &'g crate::domain::Gpu>) -> u64 {
        if self.kind.ladder.is_none() {
            return self.reserve_mib;
        }
        match self.gpu_memory_utilization {
            None => self.need_mib,
            Some(u) => gpus
                .into_iter()
                .map(|g| u.floor_mul(g.cuda_mib()))
                .max()
                .unwrap_or(self.need_mib),
        }
    }

    /// Whether `self` is never worse than `other` and can stand in for it: same deployment, kind
    /// and stage count, a stage that fits inside the other's GPUs, and no worse quantization.
    /// Swapping `other` for `self` keeps every rule and no level of the objective gets worse.
    fn dominates(&self, other: &ShapeOption) -> bool {
        self.deployment == other.deployment
            && self.kind == other.kind
            && self.pp == other.pp
            && self.tp <= other.tp
            && self.quantization_rank <= other.quantization_rank
            && self.reserve_mib <= other.reserve_mib
    }
}

/// The GPU kinds of the fleet, sorted.
pub fn gpu_kinds(fleet: &Fleet) -> Vec<GpuKind> {
    let mut kinds: Vec<GpuKind> = fleet.gpus().map(|(_, g)| g.kind()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Every shape of deployment `index` that is valid for its model and fits on some kind's GPU
/// memory, before looking at which GPUs are free.
pub fn all_options(index: usize, deployment: &Deployment, policy: &Policy, kinds: &[GpuKind]) -> Vec<ShapeOption> {
    let _ = policy;
    let inputs = MemoryInputs::of(deployment);
    let mut out = Vec::new();
    for kind in kinds.iter().filter(|k| deployment.allows_type(&k.gpu_type)) {
        for (rank, &q) in deployment.quantizations.iter().enumerate() {
            for &tp in &deployment.tensor_parallel {
                for &pp in &deployment.pipeline_parallel {
                    if check_parallelism(&deployment.model, tp, pp).is_err() {
                        continue;
                    }
                    let footprint = memory::footprint(&inputs, q, tp, pp);
                    let need_mib = footprint.need_mib;
                    // A laddered kind offers each GPU's rank as free memory: the threshold is the
                    // lowest rank that holds the worker (the plan shows each GPU's reservation).
                    let reserve_mib = match &kind.ladder {
                        Some(ladder) => {
                            let Some(rank) = ladder.threshold(deployment.gpu_memory_utilization, need_mib) else {
                                continue;
                            };
                            rank
                        }
                        None => {
                            let Some(reserve_mib) =
                                memory::reserve_mib(need_mib, deployment.gpu_memory_utilization, kind.memory_mib)
                            else {
                                continue;
                            };
                            reserve_mib
                        }
                    };
                    if reserve_mib > kind.memory_mib {
                        continue;
                    }
                    out.push(ShapeOption {
                        deployment: index,
                        quantization: q,
                        quantization_rank: rank as u64,
                        tp,
                        pp,
                        kind: kind.clone(),
                        runtime_mib: footprint.runtime_mib,
                        need_mib,
                        gpu_memory_utilization: deployment.gpu_memory_utilization,
                        reserve_mib,
                    });
                }
            }
        }
    }
    out
}

/// Every deployment's options worth modelling (deployments asking for no replica have none).
pub fn workload_options(workload: &crate::domain::Workload, kinds: &[GpuKind]) -> Vec<ShapeOption> {
    workload
        .deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| d.replicas > 0)
        .flat_map(|(i, d)| useful_options(i, d, &workload.policy, kinds))
        .collect()
}

/// The options worth modelling: [`all_options`] without those another option dominates.
/// Ties keep the first in (kind, quantization, tp, pp) order, so the result is deterministic.
pub fn useful_options(index: usize, deployment: &Deployment, policy: &Policy, kinds: &[GpuKind]) -> Vec<ShapeOption> {
    let all = all_options(index, deployment, policy, kinds);
    let mut kept: Vec<ShapeOption> = Vec::with_capacity(all.len());
    for (i, option) in all.iter().enumerate() {
        let dominated = all
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.dominates(option) && (!option.dominates(other) || j < i));
        if !dominated {
            kept.push(option.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn model(heads: u64, kv_heads: u64, layers: u64) -> ModelArch {
        ModelArch {
            id: "m".into(),
            params: 1_000_000_000,
            layers,
            hidden_size: heads * 128,
            heads,
            kv_heads,
            head_dim: 128,
            dtype: Quantization::Bf16,
            max_position_embeddings: None,
            mla: None,
            weights_mib: BTreeMap::new(),
            model_type: None,
            vocab_size: None,
            tied_embeddings: false,
        }
    }

    #[test]
    fn heads_must_divide_by_tp() {
        assert_eq!(
            check_parallelism(&model(128, 8, 126), 7, 1),
            Err(ShapeProblem::HeadsNotDivisible { heads: 128, tp: 7 })
        );
        assert_eq!(check_parallelism(&model(128, 8, 126), 8, 1), Ok(()));
    }

    #[test]
    fn kv_heads_divide_or_are_divided() {
        assert_eq!(check_parallelism(&model(32, 8, 32), 16, 1), Ok(()));
        assert_eq!(check_parallelism(&model(32, 8, 32), 2, 1), Ok(()));
        assert_eq!(
            check_parallelism(&model(24, 6, 32), 4, 1),
            Err(ShapeProblem::KvHeadsIncompatible { kv_heads: 6, tp: 4 })
        );
    }

    #[test]
    fn stages_need_layers() {
        assert_eq!(
            check_parallelism(&model(32, 8, 2), 1, 3),
            Err(ShapeProblem::MoreStagesThanLayers { pp: 3, layers: 2 })
        );
        assert_eq!(check_parallelism(&model(32, 8, 2), 1, 2), Ok(()));
    }
}
