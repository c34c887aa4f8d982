//! The parameter count of a Hugging Face config, tensor by tensor and part by part (attention,
//! MLP, MoE experts, router, shared experts, embeddings, LM head, norms).

use super::Config;
use crate::error::InputError;

/// Which part of a layer a tensor belongs to: what `ignore` / `modules_to_not_convert` can keep
/// in 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Part {
    Attention,
    /// A dense layer's MLP.
    Mlp,
    /// MoE expert weight matrices.
    Experts,
    ExpertBiases,
    /// The MoE router (gate) and its bias or correction terms.
    Router,
    /// Shared experts and their gate.
    Shared,
}

impl Part {
    pub(super) const LINEAR: [Part; 6] = [
        Part::Attention,
        Part::Mlp,
        Part::Experts,
        Part::ExpertBiases,
        Part::Router,
        Part::Shared,
    ];
}

/// One layer's parameters by part.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Layer {
    pub(super) attention: u128,
    pub(super) norms: u128,
    pub(super) mlp: u128,
    pub(super) experts: u128,
    pub(super) expert_biases: u128,
    pub(super) router: u128,
    pub(super) shared: u128,
}

impl Layer {
    pub(super) fn part(&self, part: Part) -> u128 {
        match part {
            Part::Attention => self.attention,
            Part::Mlp => self.mlp,
            Part::Experts => self.experts,
            Part::ExpertBiases => self.expert_biases,
            Part::Router => self.router,
            Part::Shared => self.shared,
        }
    }

    pub(super) fn total(&self) -> u128 {
        self.norms + Part::LINEAR.iter().map(|&p| self.part(p)).sum::<u128>()
    }
}

/// Every tensor of the checkpoint, counted by part: layers before `first_moe` are `dense`, the
/// rest `moe` (a dense model has only dense layers).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) embedding: u128,
    /// 0 where tied to the embedding.
    pub(super) lm_head: u128,
    pub(super) final_norm: u128,
    pub(super) layers: u128,
    pub(super) first_moe: u128,
    pub(super) dense: Layer,
    pub(super) moe: Layer,
}

impl Counts {
    pub(super) fn layer(&self, i: u128) -> &Layer {
        if i < self.first_moe { &self.dense } else { &self.moe }
    }

    /// The sum of `f` over every layer.
    pub(super) fn over_layers(&self, f: impl Fn(&Layer) -> u128) -> u128 {
        self.first_moe * f(&self.dense) + (self.layers - self.first_moe) * f(&self.moe)
    }

    pub(super) fn total(&self) -> u128 {
        self.embedding + self.lm_head + self.final_norm + self.over_layers(Layer::total)
    }
}

/// Sums every tensor of the checkpoint from the config's numbers.
pub(super) fn count_params(
    cfg: &Config<'_>,
    h: u128,
    layers: u128,
    heads: u128,
    kv: u128,
    hd: u128,
) -> Result<Counts, InputError> {
    let model_type = cfg.str("model_type").unwrap_or("");
    let vocab = cfg.req_any_wide(&["vocab_size", "padded_vocab_size"])?;
    let tied = cfg
        .bool("tie_word_embeddings")
        .unwrap_or(matches!(model_type, "gemma" | "gemma2" | "gemma3_text" | "gemma3"));
    let tables = Counts {
        embedding: vocab * h,
        lm_head: if tied { 0 } else { vocab * h },
        layers,
        ..Counts::default()
    };
    Ok(match model_type {
        "falcon" => Counts {
            final_norm: 2 * h,
            first_moe: layers,
            dense: falcon_layer(cfg, h, heads, kv, hd),
            ..tables
        },
        "gpt_oss" => Counts {
            final_norm: h,
            first_moe: 0,
            moe: gpt_oss_layer(cfg, h, heads, kv, hd)?,
            ..tables
        },
        _ => {
            let attention = attention_params(cfg, model_type, h, heads, kv, hd);
            let norms = if model_type.starts_with("gemma2") || model_type.starts_with("gemma3") {
                4 * h
            } else {
                2 * h
            };
            let (first_moe, dense, moe) = mlp_layers(
                cfg,
                h,
                layers,
                Layer {
                    attention,
                    norms,
                    ..Layer::default()
                },
            );
            Counts {
                final_norm: h,
                first_moe,
                dense,
                moe,
                ..tables
            }
        }
    })
}

/// Attention projections, biases and per-head norms of one layer.
pub(super) fn attention_params(cfg: &Config<'_>, model_type: &str, h: u128, heads: u128, kv: u128, hd: u128) -> u128 {
    if let (Some(kv_rank), Some(rope)) = (cfg.wide("kv_lora_rank"), cfg.wide("qk_rope_head_dim")) {
        // Multi-head latent attention (DeepSeek-V2/V3).
        let nope = cfg.wide("qk_nope_head_dim").unwrap_or(0);
        let v_dim = cfg.wide("v_head_dim").unwrap_or(hd);
        let q = match cfg.wide("q_lora_rank") {
            Some(r) => h * r + r + r * heads * (nope + rope),
            None => h * heads * (nope + rope),
        };
        let kv_a = h * (kv_rank + rope) + kv_rank;
        let kv_b = kv_rank * heads * (nope + v_dim);
        return q + kv_a + kv_b + heads * v_dim * h;
    }
    let q = h * heads * hd;
    let k_v = 2 * h * kv * hd;
    let o = heads * hd * h;
    let qkv_bias = matches!(model_type, "qwen2" | "qwen2_moe") || cfg.bool("attention_bias") == Some(true);
    let mut total = q + k_v + o;
    if qkv_bias {
        total += heads * hd + 2 * kv * hd;
    }
    if cfg.bool("attention_bias") == Some(true) {
        total += h; // o_proj bias
    }
    if model_type.starts_with("qwen3") || model_type.starts_with("gemma3") {
        total += 2 * hd; // q_norm, k_norm
    }
    total
}

/// The MLP or MoE of the layers (dense layers first where the config says so): the first MoE
/// layer, a dense layer and an MoE layer, each `base` (attention, norms) plus its MLP.
pub(super) fn mlp_layers(cfg: &Config<'_>, h: u128, layers: u128, base: Layer) -> (u128, Layer, Layer) {
    let inter = cfg.wide("intermediate_size").unwrap_or(4 * h);
    let dense = Layer {
        mlp: 3 * h * inter,
        ..base
    };
    let experts = cfg
        .wide("num_local_experts")
        .or(cfg.wide("num_experts"))
        .or(cfg.wide("n_routed_experts"))
        .unwrap_or(0);
    if experts == 0 {
        return (layers, dense, Layer::default());
    }
    let moe_inter = cfg.wide("moe_intermediate_size").unwrap_or(inter);
    let mut moe = Layer {
        experts: experts * 3 * h * moe_inter,
        router: h * experts,
        ..base
    };
    if let Some(shared) = cfg.wide("n_shared_experts") {
        moe.shared += shared * 3 * h * moe_inter;
    }
    if let Some(shared_inter) = cfg.wide("shared_expert_intermediate_size").filter(|&s| s > 0) {
        moe.shared += 3 * h * shared_inter + h; // shared expert and its gate
    }
    if cfg.str("topk_method") == Some("noaux_tc") {
        moe.router += experts; // e_score_correction_bias
    }
    let dense_layers = cfg.wide("first_k_dense_replace").unwrap_or(0).min(layers);
    (dense_layers, dense, moe)
}

/// Falcon: fused QKV (multi-query in 7B, grouped in 40B/180B), LayerNorms with bias, a plain
/// 4h MLP.
pub(super) fn falcon_layer(cfg: &Config<'_>, h: u128, heads: u128, kv: u128, hd: u128) -> Layer {
    let new_arch = cfg.bool("new_decoder_architecture") == Some(true);
    let kv = if new_arch {
        kv
    } else if cfg.bool("multi_query") == Some(true) {
        1
    } else {
        heads
    };
    let bias = cfg.bool("bias") == Some(true);
    let qkv = h * (heads + 2 * kv) * hd;
    let dense = h * h;
    Layer {
        attention: qkv + dense + if bias { (heads + 2 * kv) * hd + h } else { 0 },
        mlp: 8 * h * h + if bias { 4 * h + h } else { 0 },
        norms: if new_arch { 4 * h } else { 2 * h },
        ..Layer::default()
    }
}

/// GPT-OSS: biased attention with per-head sinks, biased MoE experts (fused gate/up).
pub(super) fn gpt_oss_layer(cfg: &Config<'_>, h: u128, heads: u128, kv: u128, hd: u128) -> Result<Layer, InputError> {
    let experts = cfg.req_any_wide(&["num_local_experts", "num_experts"])?;
    let inter = cfg.req_wide("intermediate_size")?;
    Ok(Layer {
        attention: h * heads * hd + heads * hd + 2 * (h * kv * hd + kv * hd) + heads * hd * h + h + heads,
        experts: experts * (h * 2 * inter + inter * h),
        expert_biases: experts * (2 * inter + h),
        router: h * experts + experts,
        norms: 2 * h,
        ..Layer::default()
    })
}
