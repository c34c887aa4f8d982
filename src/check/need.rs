//! The checker's own reading of section 4's memory formula.
//!
//! Everything is scaled by `D = 128 * tp * pp * tp`, which clears every denominator (bits/8 with
//! quarter and sixteenth bits, the tp*pp split, and `max(1, kv_heads / tp)`), so the sum is a
//! whole number and one `ceil` remains, as docs/rules.md states.

use crate::domain::{Deployment, KvCacheDtype, Quantization};

/// `need_mib` of one GPU of a `(q, tp, pp)` replica of `d`; `u64::MAX` (more than any GPU has)
/// when the figure does not fit in 64 bits, never a wrapped value.
pub fn need_mib(d: &Deployment, q: Quantization, tp: u64, pp: u64, runtime_mib: u64) -> u64 {
    exact(d, q, tp, pp, runtime_mib).unwrap_or(u64::MAX)
}

fn exact(d: &Deployment, q: Quantization, tp: u64, pp: u64, runtime_mib: u64) -> Option<u64> {
    let m = &d.model;
    let (tp, pp) = (tp as u128, pp as u128);
    let scale = 128u128.checked_mul(tp)?.checked_mul(pp)?.checked_mul(tp)?;
    let weights_scaled = match m.weights_mib.get(&q) {
        Some(&mib) => ((mib as u128) << 20).checked_mul(128)?.checked_mul(tp)?,
        None => (m.params as u128)
            .checked_mul(q.sixteenth_bits() as u128)?
            .checked_mul(tp)?,
    };
    let layers = (m.layers as u128).div_ceil(pp.max(1));
    // `auto` follows the compute dtype: 4 bytes for fp32 weights.
    let kv_bytes: u128 = match (d.kv_cache_dtype, q) {
        (KvCacheDtype::Auto, Quantization::Fp32) => 4,
        (KvCacheDtype::Auto, _) => 2,
        (KvCacheDtype::Fp8, _) => 1,
    };
    // Bytes per token on one GPU, times tp.
    let per_token_times_tp = match m.mla {
        Some(mla) => layers
            .checked_mul((mla.kv_lora_rank + mla.qk_rope_head_dim) as u128)?
            .checked_mul(kv_bytes * tp)?,
        None => (2 * layers)
            .checked_mul((m.kv_heads as u128).max(tp))?
            .checked_mul(m.head_dim as u128 * kv_bytes)?,
    };
    let kv_scaled = (d.kv_cache_tokens as u128)
        .checked_mul(per_token_times_tp)?
        .checked_mul(128)?
        .checked_mul(tp)?
        .checked_mul(pp)?;
    let total = weights_scaled.checked_add(kv_scaled)?;
    u64::try_from(total.div_ceil(scale.checked_mul(1 << 20)?))
        .ok()?
        .checked_add(runtime_mib)
}
