//! `kubectl get pods --all-namespaces -o json`: the pods that hold GPUs (`nvidia.com/gpu` limits
//! or requests), their node, their engine command line and the Kubernetes objects behind them.
//!
//! The device plugin, not the pod spec, picks a pod's GPUs: a pod's GPU indices are read only
//! where a container sets `CUDA_VISIBLE_DEVICES` or `NVIDIA_VISIBLE_DEVICES` to indices,
//! otherwise only their count is known. Pods that have finished (`Succeeded`, `Failed`) hold no
//! GPU and are skipped; so are pods not yet bound to a node (with a warning).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::command;
use crate::domain::{PodRef, Worker, WorkerGpus};
use crate::error::InputError;

/// The Kubernetes resource name of NVIDIA GPUs.
const GPU: &str = "nvidia.com/gpu";

/// Reads the GPU pods of a pod list.
pub fn read(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<Vec<Worker>, InputError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| InputError::new(path, "", format!("not JSON: {e}")).at_line(Some(e.line())))?;
    let (items, prefix): (Vec<&Value>, &str) = match (doc.get("kind").and_then(Value::as_str), doc.get("items")) {
        (_, Some(Value::Array(items))) => (items.iter().collect(), "items"),
        (Some("Pod"), _) => (vec![&doc], ""),
        _ => {
            return Err(InputError::new(
                path,
                "kind",
                "expected `kubectl get pods --all-namespaces -o json` output (a List of Pod objects, or a Pod)",
            ));
        }
    };
    // Pods per controller, as the controller counts them: not finished, not being deleted.
    let mut owned: BTreeMap<(String, String), u64> = BTreeMap::new();
    for item in &items {
        let phase = item
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Running");
        if matches!(phase, "Succeeded" | "Failed") || item.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let hash = item
            .pointer("/metadata/labels")
            .and_then(|l| l.get("pod-template-hash"))
            .and_then(Value::as_str);
        if let Some(owner) = owner(item, hash) {
            *owned.entry((ns.to_string(), owner)).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| {
            if prefix.is_empty() {
                field.to_string()
            } else if field.is_empty() {
                format!("{prefix}[{i}]")
            } else {
                format!("{prefix}[{i}].{field}")
            }
        };
        match item.get("kind").and_then(Value::as_str) {
            Some("Pod") | None => {}
            Some(other) => {
                return Err(InputError::new(
                    path,
                    at("kind"),
                    format!("expected Pod objects (kubectl get pods --all-namespaces -o json), found a {other}"),
                ));
            }
        }
        let text_at = |pointer: &str, field: &str| -> Result<&str, InputError> {
            item.pointer(pointer)
                .and_then(Value::as_str)
                .ok_or_else(|| InputError::new(path, at(field), "missing: expected a string"))
        };
        let name = text_at("/metadata/name", "metadata.name")?;
        let namespace = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let origin = format!("{}: {} ({namespace}/{name})", path.display(), at(""));
        let phase = item
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Running");
        if matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        let containers = match item.pointer("/spec/containers") {
            Some(Value::Array(containers)) => containers,
            _ => {
                return Err(InputError::new(
                    path,
                    at("spec.containers"),
                    "missing: expected the pod's containers",
                ));
            }
        };
        let mut gpus = 0;
        let mut indices: Option<Vec<u32>> = None;
        let mut argv: Option<Vec<String>> = None;
        for (c, container) in containers.iter().enumerate() {
            let field = |f: &str| at(&format!("spec.containers[{c}].{f}"));
            let count = container_gpus(container).map_err(|why| InputError::new(path, field("resources"), why))?;
            if count == 0 {
                continue;
            }
            gpus = u64::checked_add(gpus, count)
                .ok_or_else(|| InputError::new(path, field("resources"), "too many GPUs to count"))?;
            let words = container_argv(container).map_err(|why| InputError::new(path, field("command"), why))?;
            if argv.is_none() || command::parse(&words).is_some() && argv.as_deref().and_then(command::parse).is_none()
            {
                argv = Some(words);
            }
            if let Some(found) = visible_devices(container) {
                indices = Some(found);
            }
        }
        // Kubernetes holds max(largest init container, sum of containers) for the pod's life.
        let mut init_gpus = 0;
        if let Some(Value::Array(inits)) = item.pointer("/spec/initContainers") {
            for (c, container) in inits.iter().enumerate() {
                let count = container_gpus(container)
                    .map_err(|why| InputError::new(path, at(&format!("spec.initContainers[{c}].resources")), why))?;
                init_gpus = init_gpus.max(count);
            }
        }
        let engine_gpus = gpus;
        gpus = gpus.max(init_gpus);
        if gpus == 0 {
            continue;
        }
        if engine_gpus == 0 {
            argv = Some(vec!["(GPUs held by init containers only)".to_string()]);
        }
        let Some(node) = item.pointer("/spec/nodeName").and_then(Value::as_str) else {
            warnings.push(format!("{origin}: not bound to a node yet ({phase}); left out"));
            continue;
        };
        let gpus = match indices {
            Some(indices) if indices.len() as u64 == gpus => WorkerGpus::Indices(indices),
            Some(indices) => {
                warnings.push(format!(
                    "{origin}: its visible devices name {} GPUs but it asks for {gpus}; the device plugin's choice is not known",
                    indices.len()
                ));
                WorkerGpus::Count(gpus)
            }
            None => WorkerGpus::Count(gpus),
        };
        let mut argv = argv.unwrap_or_default();
        // A pod being deleted still holds its GPUs until it is gone, but serves no replica.
        if item.pointer("/metadata/deletionTimestamp").is_some() {
            argv = vec!["(terminating)".to_string()];
        }
        let annotation = |key: &str| {
            item.pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
        };
        let label = |key: &str| {
            item.pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
        };
        let owner = owner(item, label("pod-template-hash"));
        let group = label("leaderworkerset.sigs.k8s.io/name").map(|set| {
            let group = label("leaderworkerset.sigs.k8s.io/group-index").unwrap_or("0");
            let worker = label("leaderworkerset.sigs.k8s.io/worker-index")
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            (format!("{namespace}/{set}/{group}"), worker)
        });
        let owner_pods = owner
            .as_ref()
            .and_then(|o| owned.get(&(namespace.to_string(), o.clone())).copied());
        let owner = match (&group, label("leaderworkerset.sigs.k8s.io/name")) {
            (Some(_), Some(set)) => Some(format!("LeaderWorkerSet/{set}")),
            _ => owner,
        };
        out.push(Worker {
            origin,
            node: node.to_string(),
            gpus,
            command: command::parse(&argv),
            program: argv.iter().take(4).cloned().collect::<Vec<_>>().join(" "),
            marked_deployment: annotation("fleetfit.io/deployment").map(str::to_string),
            used_mib: BTreeMap::new(),
            pod: Some(PodRef {
                namespace: namespace.to_string(),
                pod: name.to_string(),
                owner,
                group,
                owner_pods,
            }),
            pid: None,
        });
    }
    Ok(out)
}

/// The `nvidia.com/gpu` a container asks for: its limit (which Kubernetes requires for extended
/// resources), else its request.
fn container_gpus(container: &Value) -> Result<u64, String> {
    let value = container
        .pointer("/resources/limits")
        .and_then(|l| l.get(GPU))
        .or_else(|| container.pointer("/resources/requests").and_then(|r| r.get(GPU)));
    match value {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| format!("expected a whole number of {GPU}, found {v}")),
    }
}

/// A container's `command` and `args`. An image's own entrypoint is not in the pod: vLLM's
/// OpenAI image runs `vllm serve` (older ones `python3 -m vllm.entrypoints.openai.api_server`),
/// so its arguments alone are read as such.
fn container_argv(container: &Value) -> Result<Vec<String>, String> {
    let words = |key: &str| -> Result<Vec<String>, String> {
        match container.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(words)) => words
                .iter()
                .map(|w| {
                    w.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("expected strings in `{key}`"))
                })
                .collect(),
            Some(_) => Err(format!("expected `{key}` to be a list of strings")),
        }
    };
    // Kubernetes reads `$$` as `$` (fleetfit's manifests double every `$` of a name).
    let command: Vec<String> = words("command")?.iter().map(|w| w.replace("$$", "$")).collect();
    let args: Vec<String> = words("args")?.iter().map(|w| w.replace("$$", "$")).collect();
    if command.is_empty() {
        let image = container.get("image").and_then(Value::as_str).unwrap_or("");
        if image.contains("vllm-openai") {
            let mut argv = if args.first().is_some_and(|a| !a.starts_with('-')) {
                vec!["vllm".to_string(), "serve".to_string()]
            } else {
                ["python3", "-m", "vllm.entrypoints.openai.api_server"]
                    .map(String::from)
                    .to_vec()
            };
            argv.extend(args);
            return Ok(argv);
        }
    }
    Ok([command, args].concat())
}

/// GPU indices a container names in `CUDA_VISIBLE_DEVICES` or `NVIDIA_VISIBLE_DEVICES` (literal
/// values only; `all`, UUIDs and references to other sources are not indices).
fn visible_devices(container: &Value) -> Option<Vec<u32>> {
    let env = container.get("env")?.as_array()?;
    ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"]
        .iter()
        .find_map(|wanted| {
            let value = env
                .iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(wanted))?
                .get("value")?
                .as_str()?;
            let mut indices: Vec<u32> = value
                .split(',')
                .map(|v| v.trim().parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            indices.sort_unstable();
            indices.dedup();
            (!indices.is_empty()).then_some(indices)
        })
}

/// The pod's controller as `Kind/name`; a ReplicaSet made by a Deployment (named
/// `deployment-hash`, the hash in the pod's `pod-template-hash` label) is named by its Deployment.
fn owner(item: &Value, template_hash: Option<&str>) -> Option<String> {
    let owners = item.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = owners
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .or(owners.first())?;
    let kind = owner.get("kind")?.as_str()?;
    let name = owner.get("name")?.as_str()?;
    if kind == "ReplicaSet"
        && let Some(deployment) = template_hash.and_then(|h| name.strip_suffix(&format!("-{h}")))
    {
        return Some(format!("Deployment/{deployment}"));
    }
    Some(format!("{kind}/{name}"))
}
