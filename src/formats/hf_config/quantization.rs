//! `quantization_config`: the width of a checkpoint's quantized tensors, which tensors those are,
//! and what it keeps in 16 bits (`ignore`, `modules_to_not_convert`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use super::params::{Counts, Layer, Part};
use crate::domain::Quantization;
use crate::error::InputError;

/// A quantized checkpoint: the width of its quantized tensors, which they are, and what its
/// config keeps in 16 bits.
#[derive(Debug, Clone)]
pub(super) struct Quantized {
    pub(super) quantization: Quantization,
    /// Only the MoE experts' weight matrices are quantized (MXFP4); else every linear layer.
    pub(super) experts_only: bool,
    /// Parts kept in 16 bits in every layer.
    pub(super) keep_all: BTreeSet<Part>,
    /// Parts kept in 16 bits in one layer.
    pub(super) keep_layer: BTreeMap<u128, BTreeSet<Part>>,
}

impl Quantized {
    pub(super) fn plain(quantization: Quantization) -> Self {
        Quantized {
            quantization,
            experts_only: false,
            keep_all: BTreeSet::new(),
            keep_layer: BTreeMap::new(),
        }
    }

    /// Parameters stored at the quantized width in a layer that keeps `kept` in 16 bits.
    pub(super) fn low(&self, layer: &Layer, kept: &BTreeSet<Part>) -> u128 {
        let parts: &[Part] = if self.experts_only {
            &[Part::Experts]
        } else {
            &Part::LINEAR
        };
        parts.iter().filter(|p| !kept.contains(p)).map(|&p| layer.part(p)).sum()
    }

    /// The checkpoint's weights in MiB, rounded up: the quantized tensors at the quantization's
    /// width, everything else (embeddings, LM head, norms, kept modules) at 16 bits.
    pub(super) fn weights_mib(&self, counts: &Counts) -> u64 {
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
    pub(super) fn keeping(mut self, q: &Value) -> Self {
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
pub(super) fn module_parts(name: &str) -> (Option<u128>, Vec<Part>) {
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
pub(super) fn quantization(file: &Path, top: &Map<String, Value>) -> Result<Option<Quantized>, InputError> {
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
    use super::super::params::Part;
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
