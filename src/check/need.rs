//! The checker's own reading of section 4's memory formula.
//!
//! Everything is scaled by `D = 128 * tp * pp * tp`, which clears every denominator (bits/8 with
//! quarter and sixteenth bits, the tp*pp split, and `max(1, kv_heads / tp)`), so the sum is a
//! whole number and one `ceil` remains, as the contract states.

use crate::domain::{Deployment, KvCacheDtype, Quantization};

/// `need_mib` of one GPU of a `(q, tp, pp)` replica of `d`.
pub fn need_mib(d: &Deployment, q: Quantization, tp: u64, pp: u64, overhead_mib: u64) -> u64 {
    let m = &d.model;
    let (tp, pp) = (tp as u128, pp as u128);
    let scale = 128 * tp * pp * tp;
    let weights_scaled = match m.weights_mib.get(&q) {
        Some(&mib) => ((mib as u128) << 20) * 128 * tp,
        None => m.params as u128 * q.sixteenth_bits() as u128 * tp,
    };
    let layers = (m.layers as u128).div_ceil(pp);
    let kv_bytes: u128 = match d.kv_cache_dtype {
        KvCacheDtype::Auto => 2,
        KvCacheDtype::Fp8 => 1,
    };
    // Bytes per token on one GPU, times tp.
    let per_token_times_tp = match m.mla {
        Some(mla) => layers * (mla.kv_lora_rank + mla.qk_rope_head_dim) as u128 * kv_bytes * tp,
        None => 2 * layers * (m.kv_heads as u128).max(tp) * m.head_dim as u128 * kv_bytes,
    };
    let kv_scaled = d.kv_cache_tokens as u128 * per_token_times_tp * 128 * tp * pp;
    ((weights_scaled + kv_scaled).div_ceil(scale << 20)) as u64 + overhead_mib
}
