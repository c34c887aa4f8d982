//! The server command of a replica on vLLM, SGLang or llama.cpp, as argv: the program and its
//! flags, shared by the launch scripts, the Dynamo configs and the Kubernetes manifests.
//!
//! Memory: vLLM's `--gpu-memory-utilization` bounds everything the instance takes, so it is the
//! reservation's share. SGLang's `--mem-fraction-static` covers weights and KV cache only, its
//! activations and CUDA graphs come on top: its share leaves out the replica's `runtime_mib`.
//! llama.cpp takes no fraction: it allocates `--ctx-size` KV cells (rounded up to 256), so the
//! context is the plan's KV capacity in whole 256-cell steps.
//!
//! Precision: a plan in the checkpoint's own format needs no flag (the engine reads the
//! checkpoint's config), except fp32, which vLLM would load as 16 bits (`--dtype float32`); a
//! 16-bit plan of another 16-bit checkpoint gets `--dtype`, and fp8 of a 16-bit checkpoint
//! `--quantization fp8` (quantized as it loads). Any other format needs a checkpoint stored that
//! way, and the command says so.

use super::Emit;
use crate::domain::{Deployment, Engine, KvCacheDtype, PlacedReplica, Quantization};

/// Which runtime's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Runtime {
    Vllm,
    Sglang,
    LlamaCpp,
}

impl Runtime {
    /// The runtime of an engine.
    pub fn of(engine: Engine) -> Runtime {
        match engine {
            Engine::Vllm => Runtime::Vllm,
            Engine::Sglang => Runtime::Sglang,
            Engine::LlamaCpp => Runtime::LlamaCpp,
        }
    }

    /// The engine that runs.
    pub fn engine(self) -> Engine {
        match self {
            Runtime::Vllm => Engine::Vllm,
            Runtime::Sglang => Engine::Sglang,
            Runtime::LlamaCpp => Engine::LlamaCpp,
        }
    }

    /// The name people write.
    pub fn title(self) -> &'static str {
        match self {
            Runtime::Vllm => "vLLM",
            Runtime::Sglang => "SGLang",
            Runtime::LlamaCpp => "llama.cpp",
        }
    }
}

/// llama.cpp pads its context to a multiple of this many KV cells.
const LLAMA_CTX_PAD: u64 = 256;

/// Warnings about what a command cannot make match the plan.
pub(super) fn notes(d: &Deployment, replica: &PlacedReplica, runtime: Runtime) -> Vec<String> {
    let mut out = Vec::new();
    if runtime.engine() != d.engine {
        out.push(format!(
            "warning: planned with {}'s runtime memory; {} needs its own, so its KV cache will differ from the plan's",
            d.engine,
            runtime.title()
        ));
    }
    let q = quantization(d, replica);
    match runtime {
        Runtime::LlamaCpp => out.push(format!(
            "note: --model is {}'s GGUF file in {}; put its path there",
            d.model.id,
            gguf_tag(q)
        )),
        _ => {
            if precision(d.model.dtype, q) == Precision::Checkpoint {
                out.push(format!(
                    "note: the plan serves {} in {q} and its checkpoint is {}: point the model at a {q} checkpoint",
                    d.model.id, d.model.dtype
                ));
            }
        }
    }
    if runtime == Runtime::LlamaCpp && d.kv_cache_dtype == KvCacheDtype::Fp8 {
        out.push("note: llama.cpp's 8-bit KV cache (q8_0) takes 8.5 bits a value where the plan counts 8".into());
    }
    if runtime == Runtime::LlamaCpp && Emit::nodes_of(replica).len() > 1 {
        out.push(
            "note: one rpc-server serves every GPU it sees from llama.cpp PR 16276 (October 2025) on; older builds need one per GPU"
                .into(),
        );
    }
    out
}

/// The replica's quantization (the plan names one of the table's).
fn quantization(d: &Deployment, replica: &PlacedReplica) -> Quantization {
    replica.quantization.parse().unwrap_or(d.model.dtype)
}

/// What an engine must be told to serve a checkpoint stored in `checkpoint` in `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precision {
    /// Nothing: it reads the format from the checkpoint's config.
    Same,
    /// This flag and value.
    Flag(&'static str, &'static str),
    /// It cannot convert: it needs a checkpoint stored in `q`.
    Checkpoint,
}

/// vLLM and SGLang alike: `--dtype` among 16- and 32-bit floats (fp32 always, which `auto` would
/// load as 16 bits), `--quantization fp8` to quantize a float checkpoint as it loads.
pub(super) fn precision(checkpoint: Quantization, q: Quantization) -> Precision {
    let float = matches!(checkpoint, Quantization::Fp32 | Quantization::Bf16 | Quantization::Fp16);
    match q {
        Quantization::Fp32 if float => Precision::Flag("--dtype", "float32"),
        _ if q == checkpoint => Precision::Same,
        Quantization::Bf16 if float => Precision::Flag("--dtype", "bfloat16"),
        Quantization::Fp16 if float => Precision::Flag("--dtype", "float16"),
        Quantization::Fp8 if float => Precision::Flag("--quantization", "fp8"),
        _ => Precision::Checkpoint,
    }
}

/// The GGUF file-name tag of a quantization (`Q4_K_M`, `BF16`, `F16`).
fn gguf_tag(q: Quantization) -> String {
    match q {
        Quantization::Fp32 => "F32".into(),
        Quantization::Fp16 => "F16".into(),
        other => other.name().to_ascii_uppercase(),
    }
}

/// llama.cpp's `--ctx-size`: the plan's KV capacity (in q8_0's 8.5 bits where the plan counts
/// 8), rounded down to whole 256-cell steps so that the cache llama.cpp allocates stays within
/// the plan's; but never below the deployment's `kv_cache_tokens`, which llama.cpp then pads to
/// 256 cells (the plan's need counts the tokens, not the padding: margin_mib covers it).
fn llama_ctx(e: &Emit<'_>, replica: &PlacedReplica) -> u64 {
    let d = e.deployment(replica);
    let tokens = e.memory(replica).kv.map_or(d.kv_cache_tokens, |k| k.tokens);
    let tokens = match d.kv_cache_dtype {
        KvCacheDtype::Auto => tokens,
        KvCacheDtype::Fp8 => tokens / 34 * 32,
    };
    (tokens / LLAMA_CTX_PAD * LLAMA_CTX_PAD).max(d.kv_cache_tokens).max(1)
}

/// The server's program and flags, shared by every node of a replica.
pub(super) fn server_args(
    e: &Emit<'_>,
    replica: &PlacedReplica,
    runtime: Runtime,
    share: &str,
    port: u64,
) -> Vec<String> {
    let d = e.deployment(replica);
    let model = e.model_name(d);
    let q = quantization(d, replica);
    let mut args: Vec<String> = match runtime {
        Runtime::Vllm => vec!["vllm".into(), "serve".into(), model],
        Runtime::Sglang => vec![
            "python3".into(),
            "-m".into(),
            "sglang.launch_server".into(),
            "--model-path".into(),
            model,
        ],
        Runtime::LlamaCpp => vec![
            "llama-server".into(),
            "--model".into(),
            format!("{}-{}.gguf", d.model.id, gguf_tag(q)),
        ],
    };
    let mut flag = |name: &str, value: String| {
        args.push(name.to_string());
        args.push(value);
    };
    match runtime {
        Runtime::Vllm => flag("--served-model-name", d.name.clone()),
        // SGLang and llama-server listen on 127.0.0.1 unless told otherwise.
        Runtime::Sglang => {
            flag("--served-model-name", d.name.clone());
            flag("--host", "0.0.0.0".into());
        }
        Runtime::LlamaCpp => {
            flag("--alias", d.name.clone());
            flag("--host", "0.0.0.0".into());
        }
    }
    flag("--port", port.to_string());
    match runtime {
        Runtime::Vllm => {
            flag("--tensor-parallel-size", replica.tensor_parallel.to_string());
            flag("--pipeline-parallel-size", replica.pipeline_parallel.to_string());
            flag("--gpu-memory-utilization", share.to_string());
            flag("--max-model-len", d.max_model_len.to_string());
        }
        Runtime::Sglang => {
            flag("--tp-size", replica.tensor_parallel.to_string());
            flag("--pp-size", replica.pipeline_parallel.to_string());
            flag("--mem-fraction-static", share.to_string());
            flag("--context-length", d.max_model_len.to_string());
        }
        Runtime::LlamaCpp => {
            flag("--ctx-size", llama_ctx(e, replica).to_string());
            flag("--n-gpu-layers", "999".into());
            let gpus = replica.tensor_parallel * replica.pipeline_parallel;
            if gpus > 1 {
                // Layers over the GPUs evenly (llama.cpp's default splits by free memory).
                flag("--split-mode", "layer".into());
                flag("--tensor-split", vec!["1"; gpus as usize].join(","));
            }
        }
    }
    if runtime != Runtime::LlamaCpp
        && let Precision::Flag(name, value) = precision(d.model.dtype, q)
    {
        flag(name, value.into());
    }
    match (d.kv_cache_dtype, runtime) {
        (KvCacheDtype::Auto, Runtime::LlamaCpp) => {}
        (KvCacheDtype::Auto, _) => flag("--kv-cache-dtype", "auto".into()),
        (KvCacheDtype::Fp8, Runtime::Vllm) => flag("--kv-cache-dtype", "fp8".into()),
        (KvCacheDtype::Fp8, Runtime::Sglang) => flag("--kv-cache-dtype", "fp8_e5m2".into()),
        (KvCacheDtype::Fp8, Runtime::LlamaCpp) => {
            flag("--cache-type-k", "q8_0".into());
            flag("--cache-type-v", "q8_0".into());
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_flags_only_where_the_engine_needs_them() {
        use Quantization::*;
        assert_eq!(precision(Bf16, Bf16), Precision::Same);
        assert_eq!(precision(Fp8, Fp8), Precision::Same);
        assert_eq!(precision(Mxfp4, Mxfp4), Precision::Same);
        assert_eq!(precision(Fp32, Fp32), Precision::Flag("--dtype", "float32"));
        assert_eq!(precision(Bf16, Fp32), Precision::Flag("--dtype", "float32"));
        assert_eq!(precision(Bf16, Fp16), Precision::Flag("--dtype", "float16"));
        assert_eq!(precision(Fp16, Bf16), Precision::Flag("--dtype", "bfloat16"));
        assert_eq!(precision(Bf16, Fp8), Precision::Flag("--quantization", "fp8"));
        assert_eq!(precision(Bf16, Int4), Precision::Checkpoint);
        assert_eq!(precision(Mxfp4, Bf16), Precision::Checkpoint);
        assert_eq!(precision(Fp8, Fp32), Precision::Checkpoint);
    }

    #[test]
    fn gguf_tags_are_the_file_names() {
        assert_eq!(gguf_tag(Quantization::Q4KM), "Q4_K_M");
        assert_eq!(gguf_tag(Quantization::Fp16), "F16");
        assert_eq!(gguf_tag(Quantization::Bf16), "BF16");
    }
}
