//! The deployments file (docs/inputs.md; docs/rules.md §1-2): policy, inline models, deployments.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::model_file::ModelFile;
use crate::domain::{Deployment, Engine, KvCacheDtype, ModelArch, Policy, Quantization, Reserve, Runtime, Workload};
use crate::error::InputError;
use crate::formats::catalog::Catalog;
use crate::formats::engines::Profiles;
use crate::ratio::Decimal;

mod model_name;

use model_name::resolve_model;

/// A deployments file: the placement policy, inline models and the deployments to place.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentsFile {
    /// Rules for the whole fleet (busy threshold, overhead, reserves).
    #[serde(default)]
    pub policy: PolicyFile,
    #[serde(default)]
    /// Model architectures not in the catalog, or overriding it.
    pub models: Vec<ModelFile>,
    /// What to place; at least one.
    pub deployments: Vec<DeploymentFile>,
    /// Engine profile files (relative to this file) that win over the built-in ones, such as
    /// what `fleetfit calibrate` wrote from the team's own engine logs.
    #[serde(default)]
    pub profiles: Vec<PathBuf>,
}

/// `policy:` as written; every field optional.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// A GPU whose utilization / 100 is at least this (0..1, default 0.9) is busy: never used.
    #[schemars(range(min = 0, max = 1))]
    pub busy_threshold: Option<f64>,
    /// A flat runtime memory per GPU (activations, CUDA context, NCCL) for every deployment that
    /// sets none, MiB; unset, each deployment's engine profile gives it per model and shape.
    #[schemars(range(max = 1_099_511_627_776u64))]
    pub overhead_mib: Option<u64>,
    /// The engine of deployments that name none: vllm (default), sglang or llama.cpp.
    pub engine: Option<String>,
    /// GPUs that stay unassigned.
    pub reserve: Option<ReserveFile>,
}

/// `policy.reserve:` as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveFile {
    /// On every node, at least this many eligible GPUs stay unassigned.
    pub per_node: Option<u64>,
    /// Across the fleet, at least this many eligible GPUs stay unassigned.
    pub fleet: Option<u64>,
    /// Per GPU type, at least this many eligible GPUs stay unassigned.
    pub per_type: Option<BTreeMap<String, u64>>,
}

/// One deployment as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    /// Unique deployment name.
    pub name: String,
    /// A catalog id, Hugging Face repository id or alias, an inline model's id, or a path to a
    /// config.json.
    pub model: String,
    /// Replicas wanted (default 1).
    #[schemars(range(max = 100_000))]
    pub replicas: Option<u64>,
    /// Value of each placed replica (default 1); higher wins when GPUs are short.
    #[schemars(range(max = 1_000_000))]
    pub priority: Option<u64>,
    /// Allowed weight formats, most preferred first (default: the model's dtype), such as
    /// bf16, fp8, int8, int4.
    #[schemars(length(min = 1))]
    pub quantizations: Option<Vec<String>>,
    /// Allowed tensor-parallel sizes (default [1, 2, 4, 8]).
    #[schemars(length(min = 1), inner(range(min = 1, max = 4096)))]
    pub tensor_parallel: Option<Vec<u64>>,
    /// Allowed pipeline-parallel sizes (default [1]); stages may sit on different nodes.
    #[schemars(length(min = 1), inner(range(min = 1, max = 4096)))]
    pub pipeline_parallel: Option<Vec<u64>>,
    /// Context length (default 4096).
    #[schemars(range(min = 1))]
    pub max_model_len: Option<u64>,
    /// Tokens of KV cache per replica (default max_model_len).
    #[schemars(range(min = 1))]
    pub kv_cache_tokens: Option<u64>,
    /// auto (2 bytes per value) or fp8 (1 byte).
    // The loader reads it in any case; JSON Schema's regexes have no case-insensitive flag.
    #[schemars(regex(pattern = r"^([Aa][Uu][Tt][Oo]|[Ff][Pp]8(_[Ee]4[Mm]3|_[Ee]5[Mm]2)?)$"))]
    pub kv_cache_dtype: Option<String>,
    /// As vLLM's --gpu-memory-utilization: the replica reserves this share (0..1] of each GPU's
    /// total memory, which must cover its need.
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub gpu_memory_utilization: Option<f64>,
    /// Allowed GPU types (default: all).
    #[schemars(length(min = 1))]
    pub gpu_types: Option<Vec<String>>,
    /// Labels a node must carry, every pair, to host this deployment.
    #[serde(default, deserialize_with = "super::scalar::opt_labels")]
    #[schemars(schema_with = "super::scalar::labels_schema")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// No node holds GPUs of two replicas of this deployment.
    pub spread: Option<bool>,
    /// Workers of sharing deployments may stack on one GPU while their memory fits.
    pub share_gpu: Option<bool>,
    /// The engine its workers run: vllm, sglang or llama.cpp (default: the policy's).
    pub engine: Option<String>,
    /// Pins the engine profile's version, such as "0.19" (default: the newest known).
    pub engine_version: Option<String>,
    /// A flat runtime memory per GPU for this deployment, MiB, instead of the engine profile's.
    #[schemars(range(max = 1_099_511_627_776u64))]
    pub overhead_mib: Option<u64>,
}

/// Bounds that keep objective sums exact in a double (2^53) and memory arithmetic in u128.
const MAX_REPLICAS: u64 = 100_000;
const MAX_PRIORITY: u64 = 1_000_000;
const MAX_TOKENS: u64 = 1 << 34;
const MAX_MIB: u64 = 1 << 40;

/// Default TP sizes: the powers of two a single 8-GPU node offers.
pub const DEFAULT_TENSOR_PARALLEL: [u64; 4] = [1, 2, 4, 8];
/// Default maximum context length.
pub const DEFAULT_MAX_MODEL_LEN: u64 = 4096;

/// Reads and validates a deployments file, resolving every model.
pub fn load(path: &Path) -> Result<Workload, InputError> {
    load_with(path, &[] as &[PathBuf])
}

/// [`load`], with engine profile files (`--profiles`) that win over the file's and the built-in ones.
pub fn load_with(path: &Path, profile_files: &[impl AsRef<Path>]) -> Result<Workload, InputError> {
    let file: DeploymentsFile = super::parse_file(path)?;
    let profiles = profiles_for(path, &file, profile_files)?;
    resolve(path, file, Catalog::builtin(), &profiles)
}

/// The engine profiles a deployments file plans with: the built-in ones, then those its
/// `profiles:` lists (relative to the file), then `extra` (`--profiles`), each winning over the
/// ones before it for its engine.
pub fn profiles_for(path: &Path, file: &DeploymentsFile, extra: &[impl AsRef<Path>]) -> Result<Profiles, InputError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut listed: Vec<PathBuf> = Vec::new();
    for (i, p) in file.profiles.iter().enumerate() {
        let resolved = if p.is_absolute() { p.clone() } else { base.join(p) };
        if !resolved.is_file() {
            return Err(InputError::new(
                path,
                format!("profiles[{i}]"),
                format!("no profile file at '{}'", p.display()),
            ));
        }
        listed.push(resolved);
    }
    listed.extend(extra.iter().map(|p| p.as_ref().to_path_buf()));
    Profiles::with_files(&listed)
}

/// Validates a parsed deployments file against a catalog and engine profiles, applying defaults.
pub fn resolve(
    path: &Path,
    file: DeploymentsFile,
    catalog: &Catalog,
    profiles: &Profiles,
) -> Result<Workload, InputError> {
    let policy = resolve_policy(path, &file.policy)?;
    let mut inline: BTreeMap<String, Arc<ModelArch>> = BTreeMap::new();
    for (i, m) in file.models.iter().enumerate() {
        let model = m.resolve(path, &format!("models[{i}]"))?;
        let key = model.id.to_ascii_lowercase();
        if inline.insert(key, Arc::new(model)).is_some() {
            return Err(InputError::new(
                path,
                format!("models[{i}].id"),
                format!("duplicate model id '{}'", m.id),
            ));
        }
    }
    if file.deployments.is_empty() {
        return Err(InputError::new(path, "deployments", "no deployments are listed"));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut deployments = Vec::with_capacity(file.deployments.len());
    for (i, d) in file.deployments.iter().enumerate() {
        let at = format!("deployments[{i}]");
        if d.name.trim().is_empty() {
            return Err(InputError::new(path, format!("{at}.name"), "must not be empty"));
        }
        crate::formats::names::check(path, format!("{at}.name"), &d.name)?;
        if let Some(first) = names.insert(&d.name, i) {
            return Err(InputError::new(
                path,
                format!("{at}.name"),
                format!("duplicate deployment name '{}' (also deployments[{first}])", d.name),
            ));
        }
        let model = resolve_model(path, &format!("{at}.model"), &d.model, &inline, catalog)?;
        let deployment = resolve_deployment(path, &at, d, model, &policy, profiles)?;
        check_need_fits(path, &at, &deployment)?;
        deployments.push(deployment);
    }
    Ok(Workload { policy, deployments })
}

/// Every shape's need must be a number the memory model can hold: a need past 64 bits of MiB
/// is refused here, so no later step ever sees a wrapped value.
fn check_need_fits(path: &Path, at: &str, d: &Deployment) -> Result<(), InputError> {
    let inputs = crate::memory::MemoryInputs::of(d);
    for &q in &d.quantizations {
        for &tp in &d.tensor_parallel {
            for &pp in &d.pipeline_parallel {
                if crate::memory::checked_footprint(&inputs, q, tp, pp).is_none() {
                    return Err(InputError::new(
                        path,
                        format!("{at}.kv_cache_tokens"),
                        format!(
                            "{} tokens of '{}' at {} tp {tp} pp {pp} need more memory than 2^64 bytes can count",
                            d.kv_cache_tokens,
                            d.model.id,
                            q.name()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn resolve_policy(path: &Path, p: &PolicyFile) -> Result<Policy, InputError> {
    let mut policy = Policy::default();
    if let Some(t) = p.busy_threshold {
        policy.busy_threshold = Decimal::from_f64(t)
            .filter(|_| (0.0..=1.0).contains(&t))
            .ok_or_else(|| {
                InputError::new(
                    path,
                    "policy.busy_threshold",
                    format!("{t} is not a fraction between 0 and 1"),
                )
            })?;
    }
    if let Some(o) = p.overhead_mib {
        if o > MAX_MIB {
            return Err(InputError::new(
                path,
                "policy.overhead_mib",
                format!("{o} MiB is more memory than any GPU has"),
            ));
        }
        policy.overhead_mib = Some(o);
    }
    if let Some(e) = &p.engine {
        policy.engine = e.parse().map_err(|m| InputError::new(path, "policy.engine", m))?;
    }
    if let Some(r) = &p.reserve {
        policy.reserve = Reserve {
            per_node: r.per_node.unwrap_or(0),
            fleet: r.fleet.unwrap_or(0),
            per_type: r.per_type.clone().unwrap_or_default(),
        };
    }
    Ok(policy)
}

fn resolve_deployment(
    path: &Path,
    at: &str,
    d: &DeploymentFile,
    model: Arc<ModelArch>,
    policy: &Policy,
    profiles: &Profiles,
) -> Result<Deployment, InputError> {
    let err = |field: &str, message: String| InputError::new(path, format!("{at}.{field}"), message);
    let quantizations = match &d.quantizations {
        None => vec![model.dtype],
        Some(list) => {
            if list.is_empty() {
                return Err(err("quantizations", "must list at least one quantization".into()));
            }
            let mut out = Vec::with_capacity(list.len());
            for (j, name) in list.iter().enumerate() {
                let q: Quantization = name.parse().map_err(|m| err(&format!("quantizations[{j}]"), m))?;
                if out.contains(&q) {
                    return Err(err(&format!("quantizations[{j}]"), format!("'{name}' is listed twice")));
                }
                out.push(q);
            }
            out
        }
    };
    let tensor_parallel = sizes(
        path,
        &format!("{at}.tensor_parallel"),
        d.tensor_parallel.as_deref(),
        &DEFAULT_TENSOR_PARALLEL,
    )?;
    let pipeline_parallel = sizes(
        path,
        &format!("{at}.pipeline_parallel"),
        d.pipeline_parallel.as_deref(),
        &[1],
    )?;
    let replicas = d.replicas.unwrap_or(1);
    if replicas > MAX_REPLICAS {
        return Err(err(
            "replicas",
            format!("{replicas} is more than {MAX_REPLICAS} replicas"),
        ));
    }
    let priority = d.priority.unwrap_or(1);
    if priority > MAX_PRIORITY {
        return Err(err(
            "priority",
            format!("{priority} is above the largest priority, {MAX_PRIORITY}"),
        ));
    }
    for (field, value) in [
        ("max_model_len", d.max_model_len),
        ("kv_cache_tokens", d.kv_cache_tokens),
    ] {
        if let Some(v) = value.filter(|&v| v > MAX_TOKENS) {
            return Err(err(field, format!("{v} tokens is more than {MAX_TOKENS}")));
        }
    }
    let max_model_len = d.max_model_len.unwrap_or(DEFAULT_MAX_MODEL_LEN);
    if max_model_len == 0 {
        return Err(err("max_model_len", "must be at least 1".into()));
    }
    let kv_cache_tokens = d.kv_cache_tokens.unwrap_or(max_model_len);
    if kv_cache_tokens == 0 {
        return Err(err("kv_cache_tokens", "must be at least 1".into()));
    }
    let kv_cache_dtype = match d.kv_cache_dtype.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") => KvCacheDtype::Auto,
        Some("fp8") | Some("fp8_e4m3") | Some("fp8_e5m2") => KvCacheDtype::Fp8,
        Some(other) => {
            return Err(err(
                "kv_cache_dtype",
                format!("unknown '{other}'; expected auto or fp8"),
            ));
        }
    };
    let gpu_memory_utilization = match d.gpu_memory_utilization {
        None => None,
        Some(f) if f > 0.0 && f <= 1.0 => Decimal::from_f64(f),
        Some(f) => return Err(err("gpu_memory_utilization", format!("{f} is outside (0, 1]"))),
    };
    if let Some(types) = &d.gpu_types {
        if types.is_empty() {
            return Err(err(
                "gpu_types",
                "must list at least one GPU type (or leave it out to allow all)".into(),
            ));
        }
        if let Some(j) = types.iter().position(|t| t.trim().is_empty()) {
            return Err(err(&format!("gpu_types[{j}]"), "must not be empty".into()));
        }
    }
    let engine: Engine = match &d.engine {
        None => policy.engine,
        Some(e) => e.parse().map_err(|m| err("engine", m))?,
    };
    if let Some(o) = d.overhead_mib.filter(|&o| o > MAX_MIB) {
        return Err(err("overhead_mib", format!("{o} MiB is more memory than any GPU has")));
    }
    let runtime = match d.overhead_mib.or(policy.overhead_mib) {
        Some(mib) => Runtime::Flat(mib),
        None => Runtime::Profile(profiles.select(engine, d.engine_version.as_deref()).map_err(|m| {
            err(
                if d.engine_version.is_some() {
                    "engine_version"
                } else {
                    "engine"
                },
                m,
            )
        })?),
    };
    Ok(Deployment {
        name: d.name.clone(),
        model,
        replicas,
        priority,
        quantizations,
        tensor_parallel,
        pipeline_parallel,
        max_model_len,
        kv_cache_tokens,
        kv_cache_dtype,
        gpu_memory_utilization,
        gpu_types: d.gpu_types.clone(),
        node_selector: d.node_selector.clone().unwrap_or_default(),
        spread: d.spread.unwrap_or(false),
        share_gpu: d.share_gpu.unwrap_or(false),
        engine,
        runtime,
    })
}

/// A list of parallel sizes: non-empty, each at least 1, no repeats.
fn sizes(path: &Path, at: &str, given: Option<&[u64]>, default: &[u64]) -> Result<Vec<u64>, InputError> {
    let Some(list) = given else { return Ok(default.to_vec()) };
    if list.is_empty() {
        return Err(InputError::new(path, at, "must list at least one size"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (j, &s) in list.iter().enumerate() {
        if s == 0 {
            return Err(InputError::new(path, format!("{at}[{j}]"), "must be at least 1"));
        }
        if s > 4096 {
            return Err(InputError::new(
                path,
                format!("{at}[{j}]"),
                format!("{s} GPUs is more than one replica stage can span (at most 4096)"),
            ));
        }
        if out.contains(&s) {
            return Err(InputError::new(
                path,
                format!("{at}[{j}]"),
                format!("{s} is listed twice"),
            ));
        }
        out.push(s);
    }
    Ok(out)
}
