//! What one engine run measures: the runtime memory it implies beside the formula's weights (and,
//! for SGLang, its KV pool), its reservation, and the KV tokens fleetfit's model then gives.

use super::ROUNDING_MIB;
use crate::domain::{Engine, ModelArch, Quantization};
use crate::formats::engine_log::EngineRun;
use crate::ratio::Decimal;

/// The formula's weights per GPU of a shape, MiB, rounded down.
pub fn weights_formula_mib(model: &ModelArch, q: Quantization, tp: u64, pp: u64) -> u64 {
    let (numer, denom) = crate::memory::weight_bytes_per_gpu(model, q, tp, pp);
    u64::try_from(numer / (denom * (1u128 << 20))).unwrap_or(u64::MAX)
}

/// The runtime memory a run measures: vLLM's `ceil(non_kv_gib x 1024 + 6) -
/// weights_formula_mib`, SGLang's [`sglang_runtime_mib`]; at least 0.
pub fn runtime_mib(run: &EngineRun, model: &ModelArch, q: Quantization) -> u64 {
    if run.engine == Engine::Sglang {
        return sglang_runtime_mib(run, model, q);
    }
    // A hair under the next MiB so that a product like 8.5 x 1024 = 8704 is not pushed past it.
    let held = (run.non_kv_gib * 1024.0 + ROUNDING_MIB - 1e-9).ceil().max(0.0) as u64;
    held.saturating_sub(weights_formula_mib(model, q, run.tp, run.pp))
}

/// An SGLang run's runtime memory: its reservation ([`reserve_mib`], CUDA's whole total) less
/// `floor((W + N x kv_per_token) / MiB)`, the formula's weights and the KV cache of the `N`
/// tokens SGLang allocated, in the run's shape and KV dtype; at least 0.
///
/// Why the whole GPU is the run's reservation: SGLang applies `--mem-fraction-static` to the
/// memory free when it starts loading the weights (after its CUDA context and torch.distributed
/// exist), sizes weights and KV pool to that fraction and counts on the rest of the free memory
/// for the req_to_token pool, the CUDA graphs and the activations of a prefill step, which it
/// does not profile. So a run takes CUDA's total: the context before, the static pool, and the
/// `1 - mem_fraction_static` it leaves for the rest. That total is exact (`--total-mib`, the
/// fleet's `memory_mib - reserved_mib`), and so is `N`, so the round trip is exact: a plan that
/// reserves the GPU's total with this runtime leaves `floor((W + N x kv_per_token) / MiB)` MiB
/// for weights and KV cache, which is `N` tokens less at most one MiB's worth, and never more.
/// The alternative, CUDA's total less what SGLang left free at the end (`avail mem` after graph
/// capture, 2 decimals: ±5 MiB), is neither exact nor whole: the memory left free is the
/// activations' room, and a planner that handed it to another replica would see SGLang run out
/// of memory at its first long prefill.
pub fn sglang_runtime_mib(run: &EngineRun, model: &ModelArch, q: Quantization) -> u64 {
    let Some(tokens) = run.kv_cache_tokens else {
        return 0;
    };
    let (w_numer, w_denom) = crate::memory::weight_bytes_per_gpu(model, q, run.tp, run.pp);
    let (kv_numer, kv_denom) = crate::memory::kv_bytes_per_token(model, q, run.tp, run.pp, run.kv_cache_dtype);
    // (W + N x kv) in bytes = (w_numer x kv_denom + N x kv_numer x w_denom) / (w_denom x kv_denom).
    let numer = w_numer
        .saturating_mul(kv_denom)
        .saturating_add(u128::from(tokens).saturating_mul(kv_numer).saturating_mul(w_denom));
    let denom = w_denom.saturating_mul(kv_denom).saturating_mul(1 << 20).max(1);
    let held = u64::try_from(numer / denom).unwrap_or(u64::MAX);
    reserve_mib(run).saturating_sub(held)
}

/// Where fleetfit's KV formula gives the tokens an SGLang run allocated another size than its K
/// and V buffers (more than 1%, or 0.03 GiB of rounding): the catalog's architecture is not what
/// SGLang ran, and the measured runtime absorbs the difference.
pub(super) fn sglang_kv_mismatch(run: &EngineRun, model: &ModelArch, q: Quantization) -> Option<String> {
    let tokens = run
        .kv_cache_tokens
        .filter(|_| run.engine == Engine::Sglang && run.kv_cache_gib > 0.0)?;
    let (numer, denom) = crate::memory::kv_bytes_per_token(model, q, run.tp, run.pp, run.kv_cache_dtype);
    let gib = (u128::from(tokens) * numer / denom.max(1)) as f64 / f64::from(1u32 << 30);
    let off = (gib - run.kv_cache_gib).abs();
    (off > 0.03 && off > 0.01 * run.kv_cache_gib).then(|| {
        format!(
            "fleetfit's KV formula gives {gib:.2} GiB for the {tokens} tokens SGLang allocated, the log {} GiB: \
             the catalog's '{}' is not what SGLang ran (its measured runtime absorbs the difference)",
            run.kv_cache_gib, model.id
        )
    })
}

/// The MiB a run's workers reserved, as fleetfit counts a reservation: `floor(u x total_mib)`,
/// the GPU's total in whole MiB as a fleet file gives it (`floor(total_gib x 1024)`; 79.19 GiB
/// is 81090 MiB, an H100's 81559 less 469 reserved), both exact decimals. SGLang's `u` is 1: the
/// whole GPU (see [`sglang_runtime_mib`]).
pub fn reserve_mib(run: &EngineRun) -> u64 {
    let total_mib = Decimal::from_f64(run.total_gib).map_or(0, |t| t.floor_mul(1024));
    Decimal::from_f64(run.gpu_memory_utilization).map_or(0, |u| u.floor_mul(total_mib))
}

/// KV tokens fleetfit's model gives a run's shape within the run's reservation, in whole blocks.
pub fn kv_tokens(
    model: &ModelArch,
    q: Quantization,
    run: &EngineRun,
    runtime_mib: u64,
    block_tokens: u64,
) -> Option<u64> {
    crate::memory::kv_capacity_tokens(
        model,
        q,
        run.tp,
        run.pp,
        run.kv_cache_dtype,
        reserve_mib(run),
        runtime_mib,
        block_tokens,
    )
}
