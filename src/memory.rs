//! The memory model (docs/rules.md §3): what one GPU of a replica must hold.
//!
//! Everything is exact integer arithmetic on byte fractions; the only rounding is the one
//! docs/rules.md §3 names, `ceil` to whole MiB of weights plus KV cache.

use crate::domain::{Deployment, Fleet, KvCacheDtype, ModelArch, PlacedReplica, Plan, Quantization, Runtime, Workload};
use crate::ratio::Decimal;

const MIB: u128 = 1 << 20;

/// What one GPU of a `(quantization, tp, pp)` replica holds, per docs/rules.md §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Weight bytes on one GPU, rounded up (exact value is a fraction).
    pub weights_bytes: u64,
    /// KV-cache bytes on one GPU.
    pub kv_cache_bytes: u64,
    /// The engine's runtime memory on the GPU (activation, CUDA context, buffers).
    pub runtime_mib: u64,
    /// `ceil((weights + KV cache) / MiB) + runtime_mib`.
    pub need_mib: u64,
}

/// Everything besides the shape that decides a replica's memory.
#[derive(Debug, Clone, Copy)]
pub struct MemoryInputs<'a> {
    pub model: &'a ModelArch,
    pub kv_cache_tokens: u64,
    pub kv_cache_dtype: KvCacheDtype,
    pub runtime: &'a Runtime,
}

impl<'a> MemoryInputs<'a> {
    /// The inputs of a deployment.
    pub fn of(deployment: &'a Deployment) -> Self {
        MemoryInputs {
            model: &deployment.model,
            kv_cache_tokens: deployment.kv_cache_tokens,
            kv_cache_dtype: deployment.kv_cache_dtype,
            runtime: &deployment.runtime,
        }
    }
}

/// KV-cache bytes one token costs on one GPU of a stage of a replica in quantization `q`, as the
/// fraction `(numer, denom)`.
///
/// Standard attention splits KV heads across the TP group (each GPU keeps at least one head);
/// latent attention (MLA) keeps the whole latent on every GPU. Pipeline stages split layers.
pub fn kv_bytes_per_token(model: &ModelArch, q: Quantization, tp: u64, pp: u64, dtype: KvCacheDtype) -> (u128, u128) {
    let layers_per_stage = model.layers.div_ceil(pp.max(1)) as u128;
    let kv_bytes = dtype.bytes(q) as u128;
    match model.mla {
        Some(mla) => (
            layers_per_stage * (mla.kv_lora_rank + mla.qk_rope_head_dim) as u128 * kv_bytes,
            1,
        ),
        None => {
            // max(1, kv_heads / tp), kept exact.
            let (heads_numer, heads_denom) = if model.kv_heads >= tp {
                (model.kv_heads as u128, tp as u128)
            } else {
                (1, 1)
            };
            (
                2 * layers_per_stage * heads_numer * model.head_dim as u128 * kv_bytes,
                heads_denom,
            )
        }
    }
}

/// Weight bytes of one GPU of a `tp * pp` replica, as the fraction `(numer, denom)`.
pub fn weight_bytes_per_gpu(model: &ModelArch, q: Quantization, tp: u64, pp: u64) -> (u128, u128) {
    let gpus = (tp * pp).max(1) as u128;
    match model.weights_mib.get(&q) {
        Some(&mib) => (mib as u128 * MIB, gpus),
        // params * bits / 8, with bits = sixteenth_bits / 16.
        None => (model.params as u128 * q.sixteenth_bits() as u128, 128 * gpus),
    }
}

/// The footprint of one GPU of a replica in shape `(q, tp, pp)`, or `None` when a figure does
/// not fit in 64 bits (inputs at the edges of their bounds; the loader refuses those).
pub fn checked_footprint(inputs: &MemoryInputs<'_>, q: Quantization, tp: u64, pp: u64) -> Option<Footprint> {
    let (w_numer, w_denom) = weight_bytes_per_gpu(inputs.model, q, tp, pp);
    let (kv_numer, kv_denom) = kv_bytes_per_token(inputs.model, q, tp, pp, inputs.kv_cache_dtype);
    let kv_numer = kv_numer.checked_mul(inputs.kv_cache_tokens as u128)?;
    // weights + kv = (w_numer * kv_denom + kv_numer * w_denom) / (w_denom * kv_denom)
    let denom = w_denom.checked_mul(kv_denom)?;
    let numer = w_numer
        .checked_mul(kv_denom)?
        .checked_add(kv_numer.checked_mul(w_denom)?)?;
    let runtime_mib = inputs.runtime.mib(inputs.model, q, tp, pp);
    let need_mib = u64::try_from(numer.div_ceil(denom.checked_mul(MIB)?))
        .ok()?
        .checked_add(runtime_mib)?;
    Some(Footprint {
        weights_bytes: u64::try_from(w_numer.div_ceil(w_denom)).ok()?,
        kv_cache_bytes: u64::try_from(kv_numer.div_ceil(kv_denom)).ok()?,
        runtime_mib,
        need_mib,
    })
}

/// KV-cache tokens a replica's workers can hold when each GPU reserves `reserve_mib`: what the
/// reservation leaves after the runtime and the weights, in whole blocks of `block_tokens`
/// (the engine allocates blocks; 1 counts single tokens). `None` when nothing is left.
#[allow(clippy::too_many_arguments)] // the shape's three numbers and the memory's five, each its own unit
pub fn kv_capacity_tokens(
    model: &ModelArch,
    q: Quantization,
    tp: u64,
    pp: u64,
    dtype: KvCacheDtype,
    reserve_mib: u64,
    runtime_mib: u64,
    block_tokens: u64,
) -> Option<u64> {
    let (w_numer, w_denom) = weight_bytes_per_gpu(model, q, tp, pp);
    let (kv_numer, kv_denom) = kv_bytes_per_token(model, q, tp, pp, dtype);
    let room = u128::from(reserve_mib.checked_sub(runtime_mib)?) * MIB;
    // tokens <= (room - w_numer / w_denom) * kv_denom / kv_numer, all exact.
    let left_scaled = (room * w_denom).checked_sub(w_numer)?; // bytes * w_denom
    let tokens = left_scaled.checked_mul(kv_denom)? / kv_numer.checked_mul(w_denom)?.max(1);
    let block = u128::from(block_tokens.max(1));
    u64::try_from(tokens / block * block).ok()
}

/// The KV cache a placed replica's engine will allocate, and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvCapacity {
    /// Tokens of KV cache, in whole engine blocks (the smallest over the replica's GPUs).
    pub tokens: u64,
    /// Requests of `max_model_len` tokens it holds at once, in hundredths (vLLM's "maximum
    /// concurrency": blocks over the blocks of one request).
    pub concurrency_x100: u64,
}

/// The KV capacity of a placed replica: each GPU's reservation (its own
/// `gpu_memory_utilization` share where the deployment sets one) less the runtime and the
/// weights, the smallest over its GPUs. `None` for a replica the rules would refuse.
pub fn replica_kv(fleet: &Fleet, deployment: &Deployment, replica: &PlacedReplica) -> Option<KvCapacity> {
    replica_kv_on(deployment, replica, |node, index| fleet.node(node)?.gpu(index))
}

/// [`replica_kv`] with the GPUs looked up by `gpu(node, index)` (an index over a large fleet).
pub fn replica_kv_on<'f>(
    deployment: &Deployment,
    replica: &PlacedReplica,
    gpu: impl Fn(&str, u32) -> Option<&'f crate::domain::Gpu>,
) -> Option<KvCapacity> {
    let q: Quantization = replica.quantization.parse().ok()?;
    let (tp, pp) = (replica.tensor_parallel, replica.pipeline_parallel);
    let runtime_mib = replica.runtime_mib.unwrap_or_else(|| deployment.runtime_mib(q, tp, pp));
    let block = block_tokens(deployment);
    let mut tokens: Option<u64> = None;
    for stage in &replica.stages {
        for &index in &stage.gpus {
            let gpu = gpu(&stage.node, index)?;
            let reserve = match deployment.gpu_memory_utilization {
                Some(f) => f.floor_mul(gpu.cuda_mib()),
                None => replica.memory_per_gpu_mib,
            };
            let here = kv_capacity_tokens(
                &deployment.model,
                q,
                tp,
                pp,
                deployment.kv_cache_dtype,
                reserve,
                runtime_mib,
                block,
            )?;
            tokens = Some(tokens.map_or(here, |t| t.min(here)));
        }
    }
    let tokens = tokens?;
    let len = deployment.max_model_len.max(1);
    // vLLM: blocks / ceil(max_model_len / block), to two decimals (rounded down).
    let blocks = tokens / block;
    let per_request = len.div_ceil(block);
    Some(KvCapacity {
        tokens,
        concurrency_x100: u64::try_from(u128::from(blocks) * 100 / u128::from(per_request)).unwrap_or(u64::MAX),
    })
}

/// [`replica_kv`] of every replica of a plan, in plan order.
pub fn plan_kv(fleet: &Fleet, workload: &Workload, plan: &Plan) -> Vec<Option<KvCapacity>> {
    plan.replicas
        .iter()
        .map(|r| replica_kv(fleet, workload.deployment(&r.deployment)?, r))
        .collect()
}

/// The engine's KV-cache block size for a deployment: its profile's, or 1 where the runtime is a
/// flat overhead (no engine granularity is known).
pub fn block_tokens(deployment: &Deployment) -> u64 {
    deployment.runtime.profile().map_or(1, |p| p.kv_block_tokens)
}

/// [`checked_footprint`] for inputs the loader accepted; a figure too large for 64 bits stays
/// `u64::MAX` (more than any GPU has), never a wrapped value.
pub fn footprint(inputs: &MemoryInputs<'_>, q: Quantization, tp: u64, pp: u64) -> Footprint {
    checked_footprint(inputs, q, tp, pp).unwrap_or(Footprint {
        weights_bytes: u64::MAX,
        kv_cache_bytes: u64::MAX,
        runtime_mib: u64::MAX,
        need_mib: u64::MAX,
    })
}

/// The MiB a worker reserves on a GPU whose CUDA-visible memory is `memory_mib` (total less the
/// driver's reserve): `floor(gpu_memory_utilization * memory_mib)` when the deployment sets it
/// (and `None` when the need does not fit in that fraction), else the need itself.
pub fn reserve_mib(need_mib: u64, gpu_memory_utilization: Option<Decimal>, memory_mib: u64) -> Option<u64> {
    match gpu_memory_utilization {
        None => Some(need_mib),
        Some(fraction) => {
            let reserved = fraction.floor_mul(memory_mib);
            (need_mib <= reserved).then_some(reserved)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mla;
    use std::collections::BTreeMap;

    use crate::domain::model::llama_31_8b;

    const FLAT: Runtime = Runtime::Flat(2048);

    fn inputs(model: &ModelArch, tokens: u64) -> MemoryInputs<'_> {
        MemoryInputs {
            model,
            kv_cache_tokens: tokens,
            kv_cache_dtype: KvCacheDtype::Auto,
            runtime: &FLAT,
        }
    }

    #[test]
    fn llama_31_8b_bf16_tp1_8192_tokens() {
        let model = llama_31_8b();
        let f = footprint(&inputs(&model, 8192), Quantization::Bf16, 1, 1);
        // weights: 8_030_261_248 * 2 = 16_060_522_496 bytes
        assert_eq!(f.weights_bytes, 16_060_522_496);
        // KV: 2 * 32 layers * 8 heads * 128 dim * 2 bytes = 131_072 bytes/token; * 8192
        assert_eq!(f.kv_cache_bytes, 1_073_741_824);
        // (16_060_522_496 + 1_073_741_824) / 2^20 = 16340.5... -> 16341, + 2048
        assert_eq!(f.need_mib, 16_341 + 2048);
    }

    #[test]
    fn tensor_parallel_splits_weights_and_kv_heads() {
        let model = llama_31_8b();
        let f = footprint(&inputs(&model, 8192), Quantization::Bf16, 2, 1);
        assert_eq!(f.weights_bytes, 8_030_261_248);
        assert_eq!(f.kv_cache_bytes, 1_073_741_824 / 2);
        // 8_030_261_248 + 536_870_912 = 8_567_132_160 bytes = 8170.25 MiB -> 8171
        assert_eq!(f.need_mib, 8171 + 2048);
    }

    #[test]
    fn kv_heads_are_replicated_when_tp_exceeds_them() {
        let model = llama_31_8b(); // 8 KV heads
        let (n8, d8) = kv_bytes_per_token(&model, Quantization::Bf16, 8, 1, KvCacheDtype::Auto);
        let (n16, d16) = kv_bytes_per_token(&model, Quantization::Bf16, 16, 1, KvCacheDtype::Auto);
        assert_eq!(n8 / d8, 2 * 32 * 128 * 2); // one head per GPU
        assert_eq!(n16 / d16, 2 * 32 * 128 * 2); // still one head: max(1, 8/16)
    }

    #[test]
    fn pipeline_stages_round_layers_up() {
        let model = llama_31_8b();
        let (n, d) = kv_bytes_per_token(&model, Quantization::Bf16, 1, 3, KvCacheDtype::Fp8);
        assert_eq!(n / d, 2 * 11 * 8 * 128); // ceil(32/3) = 11 layers, 1 byte
    }

    #[test]
    fn fractional_bits_stay_exact() {
        let model = llama_31_8b();
        // int4: 4.25 bits -> 8_030_261_248 * 4.25 / 8 = 4_266_076_287.999.. -> exactly 4_266_076_288
        let (n, d) = weight_bytes_per_gpu(&model, Quantization::Int4, 1, 1);
        assert_eq!(n, 8_030_261_248u128 * 68);
        assert_eq!(d, 128);
        assert_eq!(n.div_ceil(d), 4_266_076_288);
    }

    #[test]
    fn latent_attention_keeps_the_whole_latent_per_gpu() {
        let model = ModelArch {
            id: "deepseek-v3".into(),
            params: 671_026_419_200,
            layers: 61,
            hidden_size: 7168,
            heads: 128,
            kv_heads: 128,
            head_dim: 56,
            dtype: Quantization::Fp8,
            max_position_embeddings: Some(163840),
            mla: Some(Mla {
                kv_lora_rank: 512,
                qk_rope_head_dim: 64,
            }),
            weights_mib: BTreeMap::new(),
            model_type: None,
            vocab_size: None,
            tied_embeddings: false,
        };
        let (n, d) = kv_bytes_per_token(&model, Quantization::Fp8, 8, 2, KvCacheDtype::Auto);
        assert_eq!(n / d, 31 * 576 * 2);
    }

    #[test]
    fn weights_override_replaces_the_computed_size() {
        let mut model = llama_31_8b();
        model.weights_mib.insert(Quantization::Int4, 5000);
        let f = footprint(&inputs(&model, 0), Quantization::Int4, 2, 1);
        assert_eq!(f.need_mib, 2500 + 2048);
    }

    #[test]
    fn auto_kv_cache_follows_fp32_weights() {
        let model = llama_31_8b();
        let (n, d) = kv_bytes_per_token(&model, Quantization::Fp32, 1, 1, KvCacheDtype::Auto);
        assert_eq!(n / d, 2 * 32 * 8 * 128 * 4);
        let (n, d) = kv_bytes_per_token(&model, Quantization::Fp32, 1, 1, KvCacheDtype::Fp8);
        assert_eq!(n / d, 2 * 32 * 8 * 128);
    }

    #[test]
    fn kv_capacity_inverts_the_need() {
        let model = llama_31_8b();
        let f = footprint(&inputs(&model, 8192), Quantization::Bf16, 1, 1);
        let tokens = kv_capacity_tokens(
            &model,
            Quantization::Bf16,
            1,
            1,
            KvCacheDtype::Auto,
            f.need_mib,
            2048,
            1,
        );
        // 16340.5 MiB rounded up leaves half a MiB: 3 more whole tokens of 128 KiB.
        assert_eq!(tokens, Some(8195));
        let blocks = kv_capacity_tokens(
            &model,
            Quantization::Bf16,
            1,
            1,
            KvCacheDtype::Auto,
            f.need_mib,
            2048,
            16,
        );
        assert_eq!(blocks, Some(8192));
        assert_eq!(
            kv_capacity_tokens(&model, Quantization::Bf16, 1, 1, KvCacheDtype::Auto, 17000, 2048, 1),
            None
        );
    }

    #[test]
    fn gpu_memory_utilization_reserves_a_fraction_of_total_memory() {
        let gmu = Decimal::from_f64(0.85);
        assert_eq!(reserve_mib(60_000, gmu, 81_920), Some(69_632));
        assert_eq!(reserve_mib(70_000, gmu, 81_920), None);
        assert_eq!(reserve_mib(70_000, None, 81_920), Some(70_000));
    }
}
