//! Hugging Face `config.json`: architecture numbers, and the parameter count derived from them
//! (a config has no parameter count, so it is summed tensor by tensor, MoE experts included).

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
    let dtype = quantization(file, top)?.unwrap_or(dtype);
    let mla = match (cfg.int("kv_lora_rank"), cfg.int("qk_rope_head_dim")) {
        (Some(kv_lora_rank), Some(qk_rope_head_dim)) => Some(Mla {
            kv_lora_rank,
            qk_rope_head_dim,
        }),
        _ => None,
    };
    let wide = |n: u64| u128::from(n);
    let params = count_params(
        &cfg,
        wide(hidden),
        wide(layers),
        wide(heads),
        wide(kv_heads),
        wide(head_dim),
    )?;
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
        weights_mib: Default::default(),
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

/// Sums every tensor of the checkpoint from the config's numbers.
fn count_params(cfg: &Config<'_>, h: u128, layers: u128, heads: u128, kv: u128, hd: u128) -> Result<u128, InputError> {
    let model_type = cfg.str("model_type").unwrap_or("");
    let vocab = cfg.req_any_wide(&["vocab_size", "padded_vocab_size"])?;
    let tied = cfg
        .bool("tie_word_embeddings")
        .unwrap_or(matches!(model_type, "gemma" | "gemma2" | "gemma3_text" | "gemma3"));
    let embeddings = vocab * h * if tied { 1 } else { 2 };
    let per_layer = match model_type {
        "falcon" => falcon_layer(cfg, h, heads, kv, hd),
        "gpt_oss" => gpt_oss_layer(cfg, h, heads, kv, hd)?,
        _ => {
            let attention = attention_params(cfg, model_type, h, heads, kv, hd);
            let norms = if model_type.starts_with("gemma2") || model_type.starts_with("gemma3") {
                4 * h
            } else {
                2 * h
            };
            return Ok(embeddings + h + layers * (attention + norms) + mlp_params_all_layers(cfg, h, layers)?);
        }
    };
    let final_norm = if model_type == "falcon" { 2 * h } else { h };
    Ok(embeddings + final_norm + layers * per_layer)
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

/// MLP or MoE parameters over all layers (dense layers first where the config says so).
fn mlp_params_all_layers(cfg: &Config<'_>, h: u128, layers: u128) -> Result<u128, InputError> {
    let inter = cfg.wide("intermediate_size").unwrap_or(4 * h);
    let dense = 3 * h * inter;
    let experts = cfg
        .wide("num_local_experts")
        .or(cfg.wide("num_experts"))
        .or(cfg.wide("n_routed_experts"))
        .unwrap_or(0);
    if experts == 0 {
        return Ok(layers * dense);
    }
    let moe_inter = cfg.wide("moe_intermediate_size").unwrap_or(inter);
    let mut moe = experts * 3 * h * moe_inter + h * experts; // experts + router
    if let Some(shared) = cfg.wide("n_shared_experts") {
        moe += shared * 3 * h * moe_inter;
    }
    if let Some(shared_inter) = cfg.wide("shared_expert_intermediate_size").filter(|&s| s > 0) {
        moe += 3 * h * shared_inter + h; // shared expert and its gate
    }
    if cfg.str("topk_method") == Some("noaux_tc") {
        moe += experts; // e_score_correction_bias
    }
    let dense_layers = cfg.wide("first_k_dense_replace").unwrap_or(0).min(layers);
    Ok(dense_layers * dense + (layers - dense_layers) * moe)
}

/// Falcon: fused QKV (multi-query in 7B, grouped in 40B/180B), LayerNorms with bias, a plain
/// 4h MLP.
fn falcon_layer(cfg: &Config<'_>, h: u128, heads: u128, kv: u128, hd: u128) -> u128 {
    let new_arch = cfg.bool("new_decoder_architecture") == Some(true);
    let kv = if new_arch {
        kv
    } else if cfg.bool("multi_query") == Some(true) {
        1
    } else {
        heads
    };
    let qkv = h * (heads + 2 * kv) * hd;
    let dense = h * h;
    let mlp = 8 * h * h;
    let norms = if new_arch { 4 * h } else { 2 * h };
    let bias = if cfg.bool("bias") == Some(true) {
        (heads + 2 * kv) * hd + h + 4 * h + h
    } else {
        0
    };
    qkv + dense + mlp + norms + bias
}

/// GPT-OSS: biased attention with per-head sinks, biased MoE experts (fused gate/up).
fn gpt_oss_layer(cfg: &Config<'_>, h: u128, heads: u128, kv: u128, hd: u128) -> Result<u128, InputError> {
    let experts = cfg.req_any_wide(&["num_local_experts", "num_experts"])?;
    let inter = cfg.req_wide("intermediate_size")?;
    let attention = h * heads * hd + heads * hd + 2 * (h * kv * hd + kv * hd) + heads * hd * h + h + heads;
    let moe = experts * (h * 2 * inter + 2 * inter + inter * h + h) + h * experts + experts;
    Ok(attention + moe + 2 * h)
}

/// The weights' quantization from `quantization_config`: AWQ and GPTQ by their `bits`, FP8
/// (`quant_method: fp8`, DeepSeek's block-scaled e4m3), and compressed-tensors by its weight
/// groups (`num_bits` 8 of `type: float` is FP8; 4 or 8 of `type: int` are int4, int8).
/// bitsandbytes: `load_in_4bit` is int4, `load_in_8bit` int8. `None` without a config, and for
/// MXFP4 (gpt-oss), which no quantization of fleetfit's table describes.
fn quantization(file: &Path, top: &Map<String, Value>) -> Result<Option<Quantization>, InputError> {
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
        Some(4) => Ok(Some(Quantization::Int4)),
        Some(8) => Ok(Some(Quantization::Int8)),
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
    match method.as_str() {
        "awq" | "gptq" | "marlin" | "awq_marlin" | "gptq_marlin" => by_bits(bits_of(q.get("bits")), "bits"),
        "fp8" | "fbgemm_fp8" => Ok(Some(Quantization::Fp8)),
        // gpt-oss's MXFP4 experts (4.25 bits with their scales) are in no quantization of the
        // table: the entry keeps torch_dtype, which over-counts memory rather than under.
        "mxfp4" => Ok(None),
        "bitsandbytes" => Ok(if q.get("load_in_4bit").and_then(Value::as_bool) == Some(true) {
            Some(Quantization::Int4)
        } else if q.get("load_in_8bit").and_then(Value::as_bool) == Some(true) {
            Some(Quantization::Int8)
        } else {
            None
        }),
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
            match (weights.get("type").and_then(Value::as_str), bits) {
                (Some("float"), Some(8)) => Ok(Some(Quantization::Fp8)),
                _ => by_bits(bits, &format!("config_groups.{name}.weights.num_bits")),
            }
        }
        other => Err(InputError::new(
            file,
            "quantization_config.quant_method",
            format!("unknown quantization method '{other}'; known: awq, gptq, fp8, compressed-tensors, bitsandbytes"),
        )),
    }
}
