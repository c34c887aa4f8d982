//! Model architectures and the quantizations they can be served in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A weight format, with its storage cost in bits per weight (docs/rules.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quantization {
    Fp32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
    Int4,
    Q8_0,
    Q6K,
    Q5KM,
    Q4KM,
    Mxfp4,
}

impl Quantization {
    /// Every quantization, in the order of docs/rules.md's table.
    pub const ALL: [Quantization; 11] = [
        Quantization::Fp32,
        Quantization::Bf16,
        Quantization::Fp16,
        Quantization::Fp8,
        Quantization::Int8,
        Quantization::Int4,
        Quantization::Q8_0,
        Quantization::Q6K,
        Quantization::Q5KM,
        Quantization::Q4KM,
        Quantization::Mxfp4,
    ];

    /// The name used in files, such as `q4_k_m`.
    pub fn name(self) -> &'static str {
        match self {
            Quantization::Fp32 => "fp32",
            Quantization::Bf16 => "bf16",
            Quantization::Fp16 => "fp16",
            Quantization::Fp8 => "fp8",
            Quantization::Int8 => "int8",
            Quantization::Int4 => "int4",
            Quantization::Q8_0 => "q8_0",
            Quantization::Q6K => "q6_k",
            Quantization::Q5KM => "q5_k_m",
            Quantization::Q4KM => "q4_k_m",
            Quantization::Mxfp4 => "mxfp4",
        }
    }

    /// Bits per weight times 16, an integer for every format (int4's 4.25 bits is 68/16), so
    /// weight bytes stay exact fractions. MXFP4 is 4 bits plus one 8-bit scale per 32 weights.
    pub fn sixteenth_bits(self) -> u64 {
        match self {
            Quantization::Fp32 => 512,
            Quantization::Bf16 | Quantization::Fp16 => 256,
            Quantization::Fp8 | Quantization::Int8 => 128,
            Quantization::Int4 | Quantization::Mxfp4 => 68,
            Quantization::Q8_0 => 136,
            Quantization::Q6K => 105,
            Quantization::Q5KM => 88,
            Quantization::Q4KM => 72,
        }
    }

    /// Bits per weight, for display.
    pub fn bits(self) -> f64 {
        self.sixteenth_bits() as f64 / 16.0
    }

    /// The allowed names, for error messages.
    pub fn names() -> String {
        Quantization::ALL.map(Quantization::name).join(", ")
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quantization {
    type Err = String;

    /// Accepts the names of docs/rules.md, case-insensitively, and the torch dtype spellings that
    /// Hugging Face configs use (`bfloat16`, `float16`, `float32`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let found = match lower.as_str() {
            "bfloat16" => Some(Quantization::Bf16),
            "float16" | "half" => Some(Quantization::Fp16),
            "float32" | "float" => Some(Quantization::Fp32),
            other => Quantization::ALL.into_iter().find(|q| q.name() == other),
        };
        found.ok_or_else(|| format!("unknown quantization '{s}'; expected one of {}", Quantization::names()))
    }
}

/// Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds one compressed latent per
/// token and layer instead of per-head keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mla {
    pub kv_lora_rank: u64,
    pub qk_rope_head_dim: u64,
}

/// The architecture numbers that decide a model's memory and its valid parallel shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelArch {
    /// Catalog or inline id, such as `llama-3.1-8b`.
    pub id: String,
    /// Exact parameter count.
    pub params: u64,
    pub layers: u64,
    pub hidden_size: u64,
    /// Attention (query) heads.
    pub heads: u64,
    /// Key/value heads (GQA); equal to `heads` for plain multi-head attention.
    pub kv_heads: u64,
    pub head_dim: u64,
    /// The checkpoint's native precision, the default quantization.
    pub dtype: Quantization,
    pub max_position_embeddings: Option<u64>,
    pub mla: Option<Mla>,
    /// Measured weight sizes that override the computed ones, per quantization.
    pub weights_mib: BTreeMap<Quantization, u64>,
    /// Hugging Face's `model_type` (`llama`, `qwen2`, `gemma2`, ...): the architecture family
    /// an engine profile keys its activation memory by.
    pub model_type: Option<String>,
    /// Vocabulary size: the embedding and LM-head rows that quantized checkpoints keep in 16 bits.
    pub vocab_size: Option<u64>,
    /// The LM head shares the embedding's weights (stored once).
    pub tied_embeddings: bool,
}

/// Llama-3.1-8B's architecture, for unit tests of the memory arithmetic.
#[cfg(test)]
pub(crate) fn llama_31_8b() -> ModelArch {
    ModelArch {
        id: "llama-3.1-8b".into(),
        params: 8_030_261_248,
        layers: 32,
        hidden_size: 4096,
        heads: 32,
        kv_heads: 8,
        head_dim: 128,
        dtype: Quantization::Bf16,
        max_position_embeddings: Some(131072),
        mla: None,
        weights_mib: BTreeMap::new(),
        model_type: Some("llama".into()),
        vocab_size: Some(128_256),
        tied_embeddings: false,
    }
}
