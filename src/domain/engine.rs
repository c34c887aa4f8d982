//! Serving engines and their memory profiles: what vLLM, SGLang or llama.cpp hold on each GPU
//! beside the weights and the KV cache (activation peak, CUDA context and NCCL buffers, graphs),
//! as measured from their startup logs and kept as data (`engines/*.yaml`, docs/memory.md).

use std::fmt;
use std::str::FromStr;

use super::model::{ModelArch, Quantization};

/// An inference engine a deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Engine {
    /// vLLM (`vllm serve`): `gpu_memory_utilization` is the whole worker's share of the GPU.
    #[default]
    Vllm,
    /// SGLang (`python -m sglang.launch_server`): `--mem-fraction-static` covers weights and KV
    /// cache only; activations and CUDA graphs come on top.
    Sglang,
    /// llama.cpp (`llama-server`), for GGUF checkpoints.
    LlamaCpp,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Vllm, Engine::Sglang, Engine::LlamaCpp];

    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Vllm => "vllm",
            Engine::Sglang => "sglang",
            Engine::LlamaCpp => "llama.cpp",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vllm" => Ok(Engine::Vllm),
            "sglang" => Ok(Engine::Sglang),
            "llama.cpp" | "llamacpp" | "llama-cpp" | "llama_cpp" => Ok(Engine::LlamaCpp),
            other => Err(format!(
                "unknown engine '{other}'; expected one of vllm, sglang, llama.cpp"
            )),
        }
    }
}

/// A figure that holds where its conditions match; `None` matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Hugging Face `model_type` the rule is for (activation rules only).
    pub model_type: Option<String>,
    pub tp: Option<u64>,
    pub pp: Option<u64>,
    pub mib: u64,
    /// The measurements the figure comes from (log files, runs).
    pub from: Vec<String>,
}

impl Rule {
    fn matches(&self, model_type: Option<&str>, tp: u64, pp: u64) -> bool {
        self.model_type.as_deref().is_none_or(|t| Some(t) == model_type)
            && self.tp.is_none_or(|x| x == tp)
            && self.pp.is_none_or(|x| x == pp)
    }
}

/// One measured run's runtime memory for a model and shape: the engine's own accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// Catalog id (lowercase) of the model.
    pub model: String,
    pub quantization: Quantization,
    pub tp: u64,
    pub pp: u64,
    /// Per-GPU memory beside the formula's weights and KV cache, MiB.
    pub runtime_mib: u64,
    /// The log it was read from.
    pub from: String,
}

/// A versioned engine profile: the per-GPU runtime memory of every model and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineProfile {
    pub engine: Engine,
    /// The engine version the figures were measured on, such as `0.19`.
    pub version: String,
    /// Tokens per KV-cache block: the engine allocates whole blocks.
    pub kv_block_tokens: u64,
    /// Added to every estimate that is not a measured run (log rounding, allocator slack).
    pub margin_mib: u64,
    /// Activation peak at PP 1 by `model_type` (first match wins; one rule matches all).
    pub activation: Vec<Rule>,
    /// Per PP size, the percentage of the PP-1 activation one stage keeps (first match wins).
    pub activation_pp_percent: Vec<Rule>,
    /// Memory outside PyTorch's allocator (CUDA context, NCCL buffers) by TP and PP.
    pub non_torch: Vec<Rule>,
    /// CUDA-graph memory the engine keeps beside its profile (0 where the profile counts it).
    pub cuda_graph: Vec<Rule>,
    /// Per model_type, the percentage of the checkpoint's weights the engine loads (kernels that
    /// pad or repack weights: vLLM loads gpt-oss's MXFP4 experts 6.4% larger); 100 elsewhere.
    pub weights_loaded_percent: Vec<Rule>,
    /// Quantized checkpoints keep embeddings and LM head in 16 bits, and a pipeline's first and
    /// last stages hold them: the profile adds what the even split of the formula misses.
    pub embeddings_in_16_bits: bool,
    /// Runs measured on this engine version, which win over the rules for their exact shape.
    pub measured: Vec<Measured>,
}

/// Where a replica's runtime memory comes from, term by term (MiB per GPU).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeMib {
    pub activation_mib: u64,
    pub non_torch_mib: u64,
    pub cuda_graph_mib: u64,
    /// Weights the formula's even split leaves out (16-bit embeddings, heaviest stage, weights
    /// the engine repacks larger).
    pub weights_extra_mib: u64,
    pub margin_mib: u64,
    /// The measured run the figure is, when one matched (then only `total_mib` is set).
    pub measured: Option<String>,
    pub total_mib: u64,
}

impl EngineProfile {
    /// The runtime memory of one GPU of a `(q, tp, pp)` replica of `model`.
    pub fn runtime(&self, model: &ModelArch, q: Quantization, tp: u64, pp: u64) -> RuntimeMib {
        let id = model.id.to_ascii_lowercase();
        if let Some(m) = self
            .measured
            .iter()
            .find(|m| m.model == id && m.quantization == q && m.tp == tp && m.pp == pp)
        {
            return RuntimeMib {
                measured: Some(m.from.clone()),
                total_mib: m.runtime_mib,
                ..RuntimeMib::default()
            };
        }
        let model_type = model.model_type.as_deref();
        let first = |rules: &[Rule]| {
            rules
                .iter()
                .find(|r| r.matches(model_type, tp, pp))
                .map_or(0, |r| r.mib)
        };
        let percent = self
            .activation_pp_percent
            .iter()
            .find(|r| r.matches(None, tp, pp))
            .map_or(100, |r| r.mib);
        let activation_mib = (first(&self.activation) * percent).div_ceil(100);
        let non_torch_mib = first(&self.non_torch);
        let cuda_graph_mib = first(&self.cuda_graph);
        let split_mib = if self.embeddings_in_16_bits {
            weights_extra_mib(model, q, tp, pp)
        } else {
            0
        };
        let loaded_percent = self
            .weights_loaded_percent
            .iter()
            .find(|r| r.matches(model_type, tp, pp))
            .map_or(100, |r| r.mib);
        let repack_mib = match loaded_percent.checked_sub(100) {
            Some(more) if more > 0 => {
                // The checkpoint's bytes on one GPU, times 128 (exact for every bit width).
                let gpus = u128::from((tp * pp).max(1));
                let x128 = match model.weights_mib.get(&q) {
                    Some(&mib) => u128::from(mib) * 128 * (1 << 20),
                    None => u128::from(model.params) * u128::from(q.sixteenth_bits()),
                };
                u64::try_from((x128 * u128::from(more)).div_ceil(gpus * 128 * 100 * (1 << 20))).unwrap_or(u64::MAX)
            }
            _ => 0,
        };
        let weights_extra_mib = split_mib.saturating_add(repack_mib);
        let total_mib = activation_mib
            .saturating_add(non_torch_mib)
            .saturating_add(cuda_graph_mib)
            .saturating_add(weights_extra_mib)
            .saturating_add(self.margin_mib);
        RuntimeMib {
            activation_mib,
            non_torch_mib,
            cuda_graph_mib,
            weights_extra_mib,
            margin_mib: self.margin_mib,
            measured: None,
            total_mib,
        }
    }
}

/// What one GPU of the heaviest stage holds beyond the formula's even share
/// `params * bits / 8 / (tp * pp)`: embeddings and LM head stay in 16 bits in quantized
/// checkpoints, the first stage holds the embedding and the last the LM head, and a stage holds
/// `ceil(layers / pp)` layers. Zero where the model's vocabulary is unknown or weights are
/// given as measured (`weights_mib`).
pub fn weights_extra_mib(model: &ModelArch, q: Quantization, tp: u64, pp: u64) -> u64 {
    let Some(vocab) = model.vocab_size else { return 0 };
    if model.weights_mib.contains_key(&q) {
        return 0;
    }
    let (tp, pp) = (u128::from(tp.max(1)), u128::from(pp.max(1)));
    let sixteenths = u128::from(q.sixteenth_bits()); // bits * 16
    let table = u128::from(vocab) * u128::from(model.hidden_size);
    let tables = if model.tied_embeddings { 1 } else { 2 };
    let params = u128::from(model.params);
    let body = params.saturating_sub(table * tables);
    let layers = u128::from(model.layers.max(1));
    // Everything in bytes * 128 (bits * 16 / 8 = sixteenths * 2, over 128 * ...), per tp.
    // Heaviest stage: its layers of the body in q, plus its tables in 16 bits.
    let stage_layers = layers.div_ceil(pp);
    let stage_tables = if pp == 1 { tables } else { 1 };
    let heaviest_x128 = body * sixteenths * stage_layers / layers + table * stage_tables * 256;
    let even_x128 = params * sixteenths / pp;
    let extra_x128 = heaviest_x128.saturating_sub(even_x128);
    u64::try_from((extra_x128 / tp).div_ceil(128 << 20)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama_8b() -> ModelArch {
        crate::domain::model::llama_31_8b()
    }

    #[test]
    fn bf16_at_pp1_needs_nothing_beyond_the_formula() {
        assert_eq!(weights_extra_mib(&llama_8b(), Quantization::Bf16, 1, 1), 0);
    }

    #[test]
    fn fp8_keeps_embedding_and_head_in_16_bits() {
        // 2 tables x 128256 x 4096 x 1 byte more than fp8 = 1002 MiB.
        assert_eq!(weights_extra_mib(&llama_8b(), Quantization::Fp8, 1, 1), 1002);
        assert_eq!(weights_extra_mib(&llama_8b(), Quantization::Fp8, 2, 1), 501);
    }

    #[test]
    fn pipeline_stages_hold_a_table_each() {
        // bf16 pp 2: stage = 16 of 32 layers of the body + one table, the formula half of all.
        let extra = weights_extra_mib(&llama_8b(), Quantization::Bf16, 1, 2);
        assert_eq!(extra, 0, "body/2 + table = params/2 for an untied model");
        let mut tied = llama_8b();
        tied.tied_embeddings = true;
        tied.params -= 128_256 * 4096;
        // Tied: stage 0 holds the one table plus half the body, more than half of all.
        assert_eq!(weights_extra_mib(&tied, Quantization::Bf16, 1, 2), 501);
    }

    #[test]
    fn measured_runs_win_over_rules() {
        let profile = EngineProfile {
            engine: Engine::Vllm,
            version: "0.19".into(),
            kv_block_tokens: 16,
            margin_mib: 10,
            activation: vec![Rule {
                model_type: None,
                tp: None,
                pp: None,
                mib: 1000,
                from: vec![],
            }],
            activation_pp_percent: vec![],
            non_torch: vec![
                Rule {
                    model_type: None,
                    tp: Some(1),
                    pp: Some(1),
                    mib: 250,
                    from: vec![],
                },
                Rule {
                    model_type: None,
                    tp: None,
                    pp: None,
                    mib: 2000,
                    from: vec![],
                },
            ],
            cuda_graph: vec![],
            weights_loaded_percent: vec![],
            embeddings_in_16_bits: true,
            measured: vec![Measured {
                model: "llama-3.1-8b".into(),
                quantization: Quantization::Bf16,
                tp: 2,
                pp: 1,
                runtime_mib: 4321,
                from: "run.log".into(),
            }],
        };
        let m = llama_8b();
        assert_eq!(profile.runtime(&m, Quantization::Bf16, 1, 1).total_mib, 1000 + 250 + 10);
        assert_eq!(
            profile.runtime(&m, Quantization::Bf16, 4, 1).total_mib,
            1000 + 2000 + 10
        );
        assert_eq!(profile.runtime(&m, Quantization::Bf16, 2, 1).total_mib, 4321);
        assert_eq!(
            profile.runtime(&m, Quantization::Fp8, 1, 1).total_mib,
            1000 + 250 + 10 + 1002
        );
    }
}
