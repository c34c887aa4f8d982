//! Hugging Face `config.json`: architecture numbers, and the parameter count derived from them
//! (a config has no parameter count, so it is summed tensor by tensor, MoE experts included).
//!
//! A quantized checkpoint (`quantization_config`) stores only some tensors at the quantized
//! width: the entry's `weights_mib` for its dtype counts those at that width and the rest at 16
//! bits, from the same tensor-by-tensor count. MXFP4 (gpt-oss) quantizes the MoE experts' weight
//! matrices only; compressed-tensors, FP8, AWQ, GPTQ and bitsandbytes quantize the linear layers,
//! and keep embeddings, LM head, norms and whatever `ignore` / `modules_to_not_convert` names in
//! 16 bits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::domain::{Mla, ModelArch, Quantization};
use crate::error::InputError;

/// Reads a `config.json` (or a folder holding one) into a model architecture.
pub fn load(path: &Path) -> Result<ModelArch, InputError> {
    let file = if path.is_dir() {
        path.join("config.json")
    } else {
        path.to_path_buf()
    };
    let text = super::read_text(&file)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| InputError::new(&file, "", format!("not a Hugging Face config.json: {e}")))?;
    let id = file
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "config".into());
    from_value(&file, &id, &value)
}

/// Builds the architecture from a parsed config, naming `file` in errors.
pub fn from_value(file: &Path, id: &str, value: &Value) -> Result<ModelArch, InputError> {
    let Some(top) = value.as_object() else {
        return Err(InputError::new(
            file,
            "",
            "not a Hugging Face config.json: expected a JSON object",
        ));
    };
    // Multimodal configs (Gemma 3, Llama 4, ...) keep the language model under `text_config`.
    let cfg = Config {
        file,
        map: match top.get("text_config").and_then(Value::as_object) {
            Some(text) if !top.contains_key("num_hidden_layers") => text,
            _ => top,
        },
    };
    cfg.check_sizes()?;
    let hidden = cfg.req("hidden_size")?;
    let layers = cfg.req("num_hidden_layers")?;
    let heads = cfg.req_any(&["num_attention_heads", "n_head"])?;
    let kv_heads = cfg.int("num_key_value_heads").or(cfg.int("num_kv_heads")).unwrap_or(
        if cfg.bool("multi_query") == Some(true) && cfg.bool("new_decoder_architecture") != Some(true) {
            1
        } else {
            heads
        },
    );
    let head_dim = cfg.int("head_dim").unwrap_or(hidden / heads.max(1));
    let dtype = match cfg
        .str("torch_dtype")
        .or(cfg.str("dtype"))
        .or(top.get("torch_dtype").and_then(Value::as_str))
    {
        Some(name) => name
            .parse()
            .map_err(|m: String| InputError::new(file, "torch_dtype", m))?,
        None => Quantization::Bf16,
    };
    // A quantized checkpoint's weights are stored in its quantization, whatever torch_dtype says.
    let quantized = quantization(file, top)?;
    let dtype = quantized.as_ref().map_or(dtype, |q| q.quantization);
    let mla = match (cfg.int("kv_lora_rank"), cfg.int("qk_rope_head_dim")) {
        (Some(kv_lora_rank), Some(qk_rope_head_dim)) => Some(Mla {
            kv_lora_rank,
            qk_rope_head_dim,
        }),
        _ => None,
    };
    let wide = |n: u64| u128::from(n);
    let counts = count_params(
        &cfg,
        wide(hidden),
        wide(layers),
        wide(heads),
        wide(kv_heads),
        wide(head_dim),
    )?;
    let params = counts.total();
    let params = u64::try_from(params)
        .ok()
        .filter(|&p| p <= crate::formats::model_file::MAX_PARAMS)
        .ok_or_else(|| {
            InputError::new(
                &file_path(&cfg),
                "",
                format!("the architecture adds up to {params} parameters, more than any real model"),
            )
        })?;
    Ok(ModelArch {
        id: id.to_string(),
        params,
        layers,
        hidden_size: hidden,
        heads,
        kv_heads,
        head_dim,
        dtype,
        max_position_embeddings: cfg.int("max_position_embeddings"),
        mla,
        weights_mib: quantized
            .iter()
            .map(|q| (q.quantization, q.weights_mib(&counts)))
            .collect(),
        model_type: cfg
            .str("model_type")
            .or(top.get("model_type").and_then(Value::as_str))
            .map(str::to_string),
        vocab_size: cfg.int("vocab_size"),
        tied_embeddings: cfg.bool("tie_word_embeddings") == Some(true)
            || top.get("tie_word_embeddings").and_then(Value::as_bool) == Some(true),
    })
}

fn file_path(cfg: &Config<'_>) -> std::path::PathBuf {
    cfg.file.to_path_buf()
}

struct Config<'a> {
    file: &'a Path,
    map: &'a Map<String, Value>,
}

/// Config keys fleetfit reads as sizes; none of them is anywhere near 2^24 in a real model.
const SIZE_KEYS: [&str; 24] = [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "n_head",
    "num_key_value_heads",
    "num_kv_heads",
    "head_dim",
    "vocab_size",
    "padded_vocab_size",
    "intermediate_size",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "n_shared_experts",
    "first_k_dense_replace",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "num_experts_per_tok",
    "sliding_window",
];

impl Config<'_> {
    fn int(&self, key: &str) -> Option<u64> {
        self.map.get(key).and_then(Value::as_u64)
    }

    /// Rejects sizes no real model has, so that parameter and memory arithmetic stay exact.
    fn check_sizes(&self) -> Result<(), InputError> {
        for key in SIZE_KEYS {
            if let Some(v) = self.int(key).filter(|&v| v > 1 << 24) {
                return Err(InputError::new(
                    self.file,
                    key,
                    format!("{v} is not a plausible model size (at most {})", 1u64 << 24),
                ));
            }
        }
        match self.int("max_position_embeddings") {
            Some(v) if v > 1 << 40 => Err(InputError::new(
                self.file,
                "max_position_embeddings",
                format!("{v} is not a plausible context length"),
            )),
            _ => Ok(()),
        }
    }
    fn bool(&self, key: &str) -> Option<bool> {
        self.map.get(key).and_then(Value::as_bool)
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(Value::as_str)
    }
    fn wide(&self, key: &str) -> Option<u128> {
        self.int(key).map(u128::from)
    }
    fn req_wide(&self, key: &str) -> Result<u128, InputError> {
        self.req(key).map(u128::from)
    }
    fn req_any_wide(&self, keys: &[&str]) -> Result<u128, InputError> {
        self.req_any(keys).map(u128::from)
    }
    fn req(&self, key: &str) -> Result<u64, InputError> {
        self.req_any(&[key])
    }
    fn req_any(&self, keys: &[&str]) -> Result<u64, InputError> {
        match keys.iter().find_map(|k| self.int(k)) {
            Some(v) if v > 0 => Ok(v),
            _ => Err(InputError::new(
                self.file,
                keys[0],
                "missing or not a positive integer: not a Hugging Face config.json of a decoder model",
            )),
        }
    }
}

/// Which part of a layer a tensor belongs to: what `ignore` / `modules_to_not_convert` can keep
/// in 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
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
    const LINEAR: [Part; 6] = [
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
struct Layer {
    attention: u128,
    norms: u128,
    mlp: u128,
    experts: u128,
    expert_biases: u128,
    router: u128,
    shared: u128,
}

impl Layer {
    fn part(&self, part: Part) -> u128 {
        match part {
            Part::Attention => self.attention,
            Part::Mlp => self.mlp,
            Part::Experts => self.experts,
            Part::ExpertBiases => self.expert_biases,
            Part::Router => self.router,
            Part::Shared => self.shared,
        }
    }

    fn total(&self) -> u128 {
        self.norms + Part::LINEAR.iter().map(|&p| self.part(p)).sum::<u128>()
    }
}

/// Every tensor of the checkpoint, counted by part: layers before `first_moe` are `dense`, the
/// rest `moe` (a dense model has only dense layers).
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    embedding: u128,
    /// 0 where tied to the embedding.
    lm_head: u128,
    final_norm: u128,
    layers: u128,
    first_moe: u128,
    dense: Layer,
    moe: Layer,
}

impl Counts {
    fn layer(&self, i: u128) -> &Layer {
        if i < self.first_moe { &self.dense } else { &self.moe }
    }

    /// The sum of `f` over every layer.
    fn over_layers(&self, f: impl Fn(&Layer) -> u128) -> u128 {
        self.first_moe * f(&self.dense) + (self.layers - self.first_moe) * f(&self.moe)
    }

    fn total(&self) -> u128 {
        self.embedding + self.lm_head + self.final_norm + self.over_layers(Layer::total)
    }
}

/// Sums every tensor of the checkpoint from the config's numbers.
fn count_params(
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
fn attention_params(cfg: &Config<'_>, model_type: &str, h: u128, heads: u128, kv: u128, hd: u128) -> u128 {
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
fn mlp_layers(cfg: &Config<'_>, h: u128, layers: u128, base: Layer) -> (u128, Layer, Layer) {
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
fn falcon_layer(cfg: &Config<'_>, h: u128, heads: u128, kv: u128, hd: u128) -> Layer {
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
fn gpt_oss_layer(cfg: &Config<'_>, h: u128, heads: u128, kv: u128, hd: u128) -> Result<Layer, InputError> {
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

/// A quantized checkpoint: the width of its quantized tensors, which they are, and what its
/// config keeps in 16 bits.
#[derive(Debug, Clone)]
struct Quantized {
    quantization: Quantization,
    /// Only the MoE experts' weight matrices are quantized (MXFP4); else every linear layer.
    experts_only: bool,
    /// Parts kept in 16 bits in every layer.
    keep_all: BTreeSet<Part>,
    /// Parts kept in 16 bits in one layer.
    keep_layer: BTreeMap<u128, BTreeSet<Part>>,
}

impl Quantized {
    fn plain(quantization: Quantization) -> Self {
        Quantized {
            quantization,
            experts_only: false,
            keep_all: BTreeSet::new(),
            keep_layer: BTreeMap::new(),
        }
    }

    /// Parameters stored at the quantized width in a layer that keeps `kept` in 16 bits.
    fn low(&self, layer: &Layer, kept: &BTreeSet<Part>) -> u128 {
        let parts: &[Part] = if self.experts_only {
            &[Part::Experts]
        } else {
            &Part::LINEAR
        };
        parts.iter().filter(|p| !kept.contains(p)).map(|&p| layer.part(p)).sum()
    }

    /// The checkpoint's weights in MiB, rounded up: the quantized tensors at the quantization's
    /// width, everything else (embeddings, LM head, norms, kept modules) at 16 bits.
    fn weights_mib(&self, counts: &Counts) -> u64 {
        let mut low = counts.over_layers(|l| self.low(l, &self.keep_all));
        for (&i, extra) in self.keep_layer.range(..counts.layers) {
            let layer = counts.layer(i);
            let both: BTreeSet<Part> = self.keep_all.union(extra).copied().collect();
            low -= self.low(layer, &self.keep_all) - self.low(layer, &both);
        }
        let high = counts.total() - low;
        // bits * 16 per parameter, over 16 * 8 bits per byte and 2^20 bytes per MiB.
        let x = low * u128::from(self.quantization.sixteenth_bits()) + high * 256;
        u64::try_from(x.div_ceil(128 << 20)).unwrap_or(u64::MAX)
    }

    /// Reads `ignore` (compressed-tensors) and `modules_to_not_convert` (transformers' quantizers).
    fn keeping(mut self, q: &Value) -> Self {
        let names = ["ignore", "modules_to_not_convert"]
            .iter()
            .filter_map(|k| q.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str);
        for name in names {
            let (layer, parts) = module_parts(name);
            match layer {
                Some(i) => self.keep_layer.entry(i).or_default().extend(parts),
                None => self.keep_all.extend(parts),
            }
        }
        self
    }
}

/// The layer (`None`: every layer) and the parts a module name or pattern of `ignore` /
/// `modules_to_not_convert` covers: `lm_head`, `model.embed_tokens` (in 16 bits anyway),
/// `model.layers.*.self_attn`, `model.layers.7.mlp.gate`, `re:.*mlp.gate$`, ... A whole MLP, or a
/// projection of one, counts as the whole MLP; modules outside the language model's layers
/// (vision towers, projectors) are not counted in the parameters at all.
fn module_parts(name: &str) -> (Option<u128>, Vec<Part>) {
    let lower = name.trim().to_ascii_lowercase();
    let pattern = lower.strip_prefix("re:").unwrap_or(&lower).replace('\\', "");
    let pattern = pattern.trim_start_matches('^').trim_end_matches('$');
    let (layer, tail) = match pattern.find("layers.") {
        Some(at) => {
            let rest = &pattern[at + "layers.".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse::<u128>().ok(), &rest[digits.len()..])
        }
        None => (None, pattern),
    };
    let has = |s: &str| tail.contains(s);
    let parts = if has("lm_head") || has("embed") {
        vec![]
    } else if has("shared_expert") {
        vec![Part::Shared]
    } else if has("router") || tail.ends_with(".gate") || tail == "gate" {
        vec![Part::Router]
    } else if has("experts") {
        vec![Part::Experts, Part::ExpertBiases]
    } else if has("attn") || has("attention") || ["q_proj", "k_proj", "v_proj", "o_proj", "qkv"].iter().any(|p| has(p))
    {
        vec![Part::Attention]
    } else if has("mlp")
        || has("feed_forward")
        || has("ffn")
        || ["gate_proj", "up_proj", "down_proj"].iter().any(|p| has(p))
    {
        vec![Part::Mlp, Part::Experts, Part::ExpertBiases, Part::Router, Part::Shared]
    } else {
        vec![]
    };
    (layer, parts)
}

/// The weights' quantization from `quantization_config`: AWQ and GPTQ by their `bits`, FP8
/// (`quant_method: fp8`, DeepSeek's block-scaled e4m3), compressed-tensors by its weight groups
/// (`num_bits` 8 of `type: float` is FP8; 4 or 8 of `type: int` are int4, int8), MXFP4
/// (gpt-oss: the MoE experts in 4.25 bits). bitsandbytes: `load_in_4bit` is int4, `load_in_8bit`
/// int8. `None` without a config.
fn quantization(file: &Path, top: &Map<String, Value>) -> Result<Option<Quantized>, InputError> {
    let Some(q) = top.get("quantization_config") else {
        return Ok(None);
    };
    let method = q
        .get("quant_method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let bits_of = |v: Option<&Value>| v.and_then(Value::as_u64);
    let by_bits = |bits: Option<u64>, field: &str| match bits {
        Some(4) => Ok(Quantization::Int4),
        Some(8) => Ok(Quantization::Int8),
        other => Err(InputError::new(
            file,
            format!("quantization_config.{field}"),
            format!(
                "{} weights of {} bits are not a quantization fleetfit knows (4 or 8)",
                method,
                other.map_or("unknown".to_string(), |b| b.to_string())
            ),
        )),
    };
    let found = match method.as_str() {
        "awq" | "gptq" | "marlin" | "awq_marlin" | "gptq_marlin" => Some(by_bits(bits_of(q.get("bits")), "bits")?),
        "fp8" | "fbgemm_fp8" => Some(Quantization::Fp8),
        "mxfp4" => {
            return Ok(Some(
                Quantized {
                    experts_only: true,
                    ..Quantized::plain(Quantization::Mxfp4)
                }
                .keeping(q),
            ));
        }
        "bitsandbytes" => {
            if q.get("load_in_4bit").and_then(Value::as_bool) == Some(true) {
                Some(Quantization::Int4)
            } else if q.get("load_in_8bit").and_then(Value::as_bool) == Some(true) {
                Some(Quantization::Int8)
            } else {
                None
            }
        }
        "compressed-tensors" | "compressed_tensors" => {
            let groups = q.get("config_groups").and_then(Value::as_object);
            let Some((name, weights)) = groups.and_then(|g| {
                g.iter()
                    .find_map(|(name, group)| group.get("weights").map(|w| (name.clone(), w)))
            }) else {
                return Err(InputError::new(
                    file,
                    "quantization_config.config_groups",
                    "compressed-tensors without weight groups",
                ));
            };
            let bits = bits_of(weights.get("num_bits"));
            Some(match (weights.get("type").and_then(Value::as_str), bits) {
                (Some("float"), Some(8)) => Quantization::Fp8,
                _ => by_bits(bits, &format!("config_groups.{name}.weights.num_bits"))?,
            })
        }
        other => {
            return Err(InputError::new(
                file,
                "quantization_config.quant_method",
                format!(
                    "unknown quantization method '{other}'; known: awq, gptq, fp8, compressed-tensors, mxfp4, bitsandbytes"
                ),
            ));
        }
    };
    Ok(found.map(|quantization| Quantized::plain(quantization).keeping(q)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_and_patterns_name_their_parts() {
        assert_eq!(module_parts("lm_head"), (None, vec![]));
        assert_eq!(module_parts("model.embed_tokens"), (None, vec![]));
        assert_eq!(module_parts("model.layers.*.self_attn"), (None, vec![Part::Attention]));
        assert_eq!(module_parts("model.layers.*.mlp.router"), (None, vec![Part::Router]));
        assert_eq!(module_parts("model.layers.12.mlp.gate"), (Some(12), vec![Part::Router]));
        assert_eq!(module_parts("re:.*mlp.gate$"), (None, vec![Part::Router]));
        assert_eq!(
            module_parts("re:.*mlp\\.shared_expert_gate$"),
            (None, vec![Part::Shared])
        );
        assert_eq!(module_parts("model.layers.0.mlp.down_proj").1.len(), 5);
        assert_eq!(module_parts("re:vision_tower.*"), (None, vec![]));
    }
}
