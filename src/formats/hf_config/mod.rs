//! Hugging Face `config.json`: architecture numbers, and the parameter count derived from them
//! (a config has no parameter count, so it is summed tensor by tensor, MoE experts included).
//!
//! A quantized checkpoint (`quantization_config`) stores only some tensors at the quantized
//! width: the entry's `weights_mib` for its dtype counts those at that width and the rest at 16
//! bits, from the same tensor-by-tensor count. MXFP4 (gpt-oss) quantizes the MoE experts' weight
//! matrices only; compressed-tensors, FP8, AWQ, GPTQ and bitsandbytes quantize the linear layers,
//! and keep embeddings, LM head, norms and whatever `ignore` / `modules_to_not_convert` names in
//! 16 bits.

use std::path::Path;

use serde_json::{Map, Value};

use crate::domain::{Mla, ModelArch, Quantization};
use crate::error::InputError;

mod params;
mod quantization;

use params::count_params;
use quantization::quantization;

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
    // The folder's name becomes the model id, which reaches command lines: a name like any other.
    super::names::check(&file, "(the folder's name, the model id)", &id)?;
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
