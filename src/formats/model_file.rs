//! A model architecture as written in the catalog or inline in a deployments file.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::domain::{Mla, ModelArch, Quantization};
use crate::error::InputError;

/// More parameters than any model has (10^15); bounds keep the memory arithmetic exact.
pub const MAX_PARAMS: u64 = 1_000_000_000_000_000;
/// Bound on layers, hidden size, heads and head dims (2^24).
pub const MAX_DIM: u64 = 1 << 24;

/// A model architecture: a catalog entry or an inline `models:` entry of a deployments file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub id: String,
    /// The Hugging Face repository id, such as `meta-llama/Llama-3.1-8B`.
    #[serde(default)]
    pub repo: Option<String>,
    /// Other names that resolve to this model (instruct variants, older repository names).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub params: u64,
    pub layers: u64,
    pub hidden_size: u64,
    pub heads: u64,
    #[serde(default)]
    pub kv_heads: Option<u64>,
    #[serde(default)]
    pub head_dim: Option<u64>,
    pub dtype: String,
    #[serde(default)]
    pub max_position_embeddings: Option<u64>,
    #[serde(default)]
    pub kv_lora_rank: Option<u64>,
    #[serde(default)]
    pub qk_rope_head_dim: Option<u64>,
    #[serde(default)]
    pub weights_mib: BTreeMap<String, u64>,
    /// Hugging Face's `model_type` (llama, qwen2, gemma2, ...): the family engine profiles key
    /// activation memory by.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Vocabulary size (embedding rows).
    #[serde(default)]
    pub vocab_size: Option<u64>,
    /// The LM head shares the embedding's weights (HF's `tie_word_embeddings`); default false.
    #[serde(default)]
    pub tied_embeddings: bool,
}

/// A list of models under a `models:` key (one catalog family file).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelList {
    pub models: Vec<ModelFile>,
}

impl ModelFile {
    /// Validates the entry found at `at` in `path` and applies the defaults.
    pub fn resolve(&self, path: &Path, at: &str) -> Result<ModelArch, InputError> {
        let err = |field: &str, message: String| InputError::new(path, format!("{at}.{field}"), message);
        if self.id.trim().is_empty() {
            return Err(err("id", "must not be empty".into()));
        }
        super::names::check(path, format!("{at}.id"), &self.id)?;
        for (field, value) in [
            ("params", self.params),
            ("layers", self.layers),
            ("hidden_size", self.hidden_size),
            ("heads", self.heads),
        ] {
            if value == 0 {
                return Err(err(field, "must be greater than 0".into()));
            }
        }
        if self.params > MAX_PARAMS {
            return Err(err(
                "params",
                format!(
                    "{} is more parameters than any model has (at most {MAX_PARAMS})",
                    self.params
                ),
            ));
        }
        for (field, value) in [
            ("layers", Some(self.layers)),
            ("hidden_size", Some(self.hidden_size)),
            ("heads", Some(self.heads)),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_rope_head_dim", self.qk_rope_head_dim),
            ("vocab_size", self.vocab_size),
        ] {
            if let Some(v) = value.filter(|&v| v > MAX_DIM) {
                return Err(err(
                    field,
                    format!("{v} is not a plausible model size (at most {MAX_DIM})"),
                ));
            }
        }
        let kv_heads = self.kv_heads.unwrap_or(self.heads);
        if kv_heads == 0 {
            return Err(err("kv_heads", "must be greater than 0".into()));
        }
        if kv_heads > self.heads {
            return Err(err(
                "kv_heads",
                format!(
                    "{kv_heads} key/value heads is more than the {} attention heads",
                    self.heads
                ),
            ));
        }
        let head_dim = match self.head_dim {
            Some(0) => return Err(err("head_dim", "must be greater than 0".into())),
            Some(d) => d,
            None if self.hidden_size.is_multiple_of(self.heads) => self.hidden_size / self.heads,
            None => {
                return Err(err(
                    "head_dim",
                    format!(
                        "missing: hidden_size {} is not divisible by {} heads, so give head_dim",
                        self.hidden_size, self.heads
                    ),
                ));
            }
        };
        let dtype: Quantization = self.dtype.parse().map_err(|m| err("dtype", m))?;
        let mla = match (self.kv_lora_rank, self.qk_rope_head_dim) {
            (None, None) => None,
            (Some(kv_lora_rank), Some(qk_rope_head_dim)) if kv_lora_rank > 0 => Some(Mla {
                kv_lora_rank,
                qk_rope_head_dim,
            }),
            (Some(_), Some(_)) => return Err(err("kv_lora_rank", "must be greater than 0".into())),
            (Some(_), None) => {
                return Err(err(
                    "qk_rope_head_dim",
                    "missing: latent attention needs both kv_lora_rank and qk_rope_head_dim".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "kv_lora_rank",
                    "missing: latent attention needs both kv_lora_rank and qk_rope_head_dim".into(),
                ));
            }
        };
        let mut weights_mib = BTreeMap::new();
        for (name, &mib) in &self.weights_mib {
            let q: Quantization = name.parse().map_err(|m| err(&format!("weights_mib.{name}"), m))?;
            if mib == 0 || mib > 1 << 40 {
                return Err(err(
                    &format!("weights_mib.{name}"),
                    "must be between 1 and 2^40 MiB".into(),
                ));
            }
            weights_mib.insert(q, mib);
        }
        Ok(ModelArch {
            id: self.id.clone(),
            params: self.params,
            layers: self.layers,
            hidden_size: self.hidden_size,
            heads: self.heads,
            kv_heads,
            head_dim,
            dtype,
            max_position_embeddings: self.max_position_embeddings,
            mla,
            weights_mib,
            model_type: self.model_type.as_ref().map(|t| t.trim().to_ascii_lowercase()),
            vocab_size: self.vocab_size,
            tied_embeddings: self.tied_embeddings,
        })
    }

    /// Every name this entry answers to, lowercased: id, repository, aliases.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(&self.id)
            .chain(self.repo.iter())
            .chain(self.aliases.iter())
            .map(|n| n.to_ascii_lowercase())
            .collect()
    }
}

/// A catalog entry as written: what `model import` prints.
#[derive(Debug, Clone, serde::Serialize)]
struct EntryOut {
    id: String,
    params: u64,
    layers: u64,
    hidden_size: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    dtype: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_position_embeddings: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kv_lora_rank: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qk_rope_head_dim: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    weights_mib: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vocab_size: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tied_embeddings: bool,
}

/// A model as a catalog file of one entry (`models: [...]`), which a deployments file's
/// `models:` list or the catalog reads back as the same architecture.
pub fn to_yaml(arch: &ModelArch) -> String {
    let entry = EntryOut {
        id: arch.id.clone(),
        params: arch.params,
        layers: arch.layers,
        hidden_size: arch.hidden_size,
        heads: arch.heads,
        kv_heads: arch.kv_heads,
        head_dim: arch.head_dim,
        dtype: arch.dtype.name().to_string(),
        max_position_embeddings: arch.max_position_embeddings,
        kv_lora_rank: arch.mla.map(|m| m.kv_lora_rank),
        qk_rope_head_dim: arch.mla.map(|m| m.qk_rope_head_dim),
        weights_mib: arch
            .weights_mib
            .iter()
            .map(|(q, &mib)| (q.name().to_string(), mib))
            .collect(),
        model_type: arch.model_type.clone(),
        vocab_size: arch.vocab_size,
        tied_embeddings: arch.tied_embeddings,
    };
    #[derive(serde::Serialize)]
    struct List {
        models: Vec<EntryOut>,
    }
    serde_yaml::to_string(&List { models: vec![entry] }).expect("a model entry serializes")
}
