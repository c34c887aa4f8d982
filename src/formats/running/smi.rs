//! One bare-metal node's capture, a folder named after the node holding three files:
//! - `gpus.csv`: `nvidia-smi --query-gpu=index,uuid --format=csv` (other columns may follow);
//! - `apps.csv`: `nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv`;
//! - `ps.txt`: `ps -eo pid,ppid,args` (`ps -eo pid,args` works too, without process trees).
//!
//! vLLM and SGLang hold GPU memory in worker processes (`VLLM::Worker_TP0`) whose command lines
//! do not name the model: each GPU process is followed up its parents to the nearest engine
//! command, and one engine process with every GPU its tree holds is one worker. A GPU process
//! with no engine above it is a worker of its own, which the importer treats as foreign load.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::command;
use crate::domain::{Worker, WorkerGpus};
use crate::error::InputError;
use crate::formats::import::{not_available, number};

/// Reads a node's capture folder; the folder's name is the node's.
pub fn read(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<Worker>, InputError> {
    let node = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InputError::new(dir, "", "a capture folder is named after its node"))?;
    if !dir.is_dir() {
        return Err(InputError::new(
            dir,
            "",
            "expected a folder named after the node, with gpus.csv, apps.csv and ps.txt",
        ));
    }
    let file = |name: &str| -> Result<(PathBuf, String), InputError> {
        let path = dir.join(name);
        Ok((path.clone(), crate::formats::read_text(&path)?))
    };
    let (gpus_path, gpus_text) = file("gpus.csv")?;
    let (apps_path, apps_text) = file("apps.csv")?;
    let (ps_path, ps_text) = file("ps.txt")?;
    let uuids = uuids(&gpus_path, &gpus_text)?;
    let apps = apps(&apps_path, &apps_text, &uuids)?;
    let processes = processes(&ps_path, &ps_text)?;
    // Each GPU process's engine root: itself or its nearest ancestor that runs an engine.
    let mut roots: BTreeMap<u64, (BTreeSet<u32>, BTreeMap<u32, u64>)> = BTreeMap::new();
    for &(pid, gpu, used_mib) in &apps {
        let mut root = pid;
        let mut at = Some(pid);
        let mut seen = BTreeSet::new();
        while let Some(p) = at {
            if !seen.insert(p) {
                break;
            }
            let Some((parent, args)) = processes.get(&p) else { break };
            if command::parse(&shlex::split(args).unwrap_or_default()).is_some() {
                root = p;
                break;
            }
            at = *parent;
        }
        let entry = roots.entry(root).or_default();
        entry.0.insert(gpu);
        let used = entry.1.entry(gpu).or_default();
        *used = used.saturating_add(used_mib);
    }
    let mut out = Vec::new();
    for (pid, (gpus, used_mib)) in roots {
        let args = processes.get(&pid).map(|(_, a)| a.as_str());
        if args.is_none() {
            warnings.push(format!(
                "{}: process {pid} holds GPU memory but is not in ps.txt (another PID namespace?)",
                ps_path.display()
            ));
        }
        let argv = args.map(|a| shlex::split(a).unwrap_or_else(|| a.split_whitespace().map(str::to_string).collect()));
        out.push(Worker {
            origin: format!("{}: pid {pid}", dir.display()),
            node: node.clone(),
            gpus: WorkerGpus::Indices(gpus.into_iter().collect()),
            command: argv.as_deref().and_then(command::parse),
            program: argv.map_or_else(
                || format!("pid {pid}"),
                |w| w.iter().take(4).cloned().collect::<Vec<_>>().join(" "),
            ),
            marked_deployment: None,
            used_mib,
            pod: None,
            pid: Some(pid),
        });
    }
    Ok(out)
}

/// CSV records, trimmed, blank lines skipped, with their 1-based line numbers.
fn records(path: &Path, text: &str) -> Result<Vec<(usize, Vec<String>)>, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| InputError::new(path, format!("line {}", i + 1), format!("not CSV: {e}")))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        out.push((i + 1, record.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

/// The columns of a header line (`memory.total [MiB]` is `memory.total`), if the first record
/// is one.
fn header(record: &[String], wanted: &[&str]) -> Option<Vec<Option<usize>>> {
    let names: Vec<&str> = record
        .iter()
        .map(|f| f.split(" [").next().unwrap_or(f).trim())
        .collect();
    wanted
        .iter()
        .any(|w| names.contains(w))
        .then(|| wanted.iter().map(|w| names.iter().position(|n| n == w)).collect())
}

/// GPU UUID to index, from `--query-gpu=index,uuid`.
fn uuids(path: &Path, text: &str) -> Result<BTreeMap<String, u32>, InputError> {
    let rows = records(path, text)?;
    let Some((_, first)) = rows.first() else {
        return Err(InputError::new(
            path,
            "",
            "no GPU rows; capture nvidia-smi --query-gpu=index,uuid --format=csv",
        ));
    };
    let columns = header(first, &["index", "uuid"]).unwrap_or(vec![Some(0), Some(1)]);
    let skip = usize::from(header(first, &["index", "uuid"]).is_some());
    let [Some(index_at), Some(uuid_at)] = columns[..] else {
        return Err(InputError::new(
            path,
            "line 1",
            "expected the columns index and uuid (--query-gpu=index,uuid)",
        ));
    };
    let mut out = BTreeMap::new();
    for (line, row) in rows.iter().skip(skip) {
        let index = row.get(index_at).and_then(|v| v.parse().ok()).ok_or_else(|| {
            InputError::new(
                path,
                format!("line {line}, column index"),
                "expected the GPU's index, a whole number",
            )
        })?;
        let uuid = row
            .get(uuid_at)
            .filter(|u| u.starts_with("GPU-") || u.starts_with("MIG-"))
            .ok_or_else(|| {
                InputError::new(
                    path,
                    format!("line {line}, column uuid"),
                    "expected a GPU UUID such as GPU-5f3c...",
                )
            })?;
        out.insert(uuid.clone(), index);
    }
    Ok(out)
}

/// `(pid, GPU index, MiB used)` per row of `--query-compute-apps=pid,gpu_uuid,used_memory`.
fn apps(path: &Path, text: &str, uuids: &BTreeMap<String, u32>) -> Result<Vec<(u64, u32, u64)>, InputError> {
    let rows = records(path, text)?;
    let wanted = ["pid", "gpu_uuid", "used_gpu_memory"];
    let found = rows.first().and_then(|(_, first)| header(first, &wanted));
    let skip = usize::from(found.is_some());
    let columns = found.unwrap_or(vec![Some(0), Some(1), Some(2)]);
    let [Some(pid_at), Some(uuid_at), used_at] = columns[..] else {
        return Err(InputError::new(
            path,
            "line 1",
            "expected the columns pid and gpu_uuid (--query-compute-apps=pid,gpu_uuid,used_memory)",
        ));
    };
    let mut out = Vec::new();
    for (line, row) in rows.iter().skip(skip) {
        // nvidia-smi prints this line instead of rows where nothing runs.
        if row.first().is_some_and(|f| f.starts_with("No running")) {
            continue;
        }
        let at = |column: &str| format!("line {line}, column {column}");
        let pid = row
            .get(pid_at)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| InputError::new(path, at("pid"), "expected a process id"))?;
        let uuid = row.get(uuid_at).map(String::as_str).unwrap_or("");
        let index = *uuids.get(uuid).ok_or_else(|| {
            InputError::new(
                path,
                at("gpu_uuid"),
                format!("GPU '{uuid}' is not in gpus.csv (captured from another node?)"),
            )
        })?;
        let used_mib = match used_at.and_then(|c| row.get(c)) {
            None => 0,
            // Not reported (some drivers, some containers): the whole GPU, to be safe.
            Some(v) if not_available(v) => u64::MAX,
            Some(v) => number(v, "MiB")
                .ok_or_else(|| InputError::new(path, at("used_gpu_memory"), "expected MiB, such as 20480 MiB"))?,
        };
        out.push((pid, index, used_mib));
    }
    Ok(out)
}

/// pid to (parent, command line) from `ps -eo pid,ppid,args` or `ps -eo pid,args`.
fn processes(path: &Path, text: &str) -> Result<BTreeMap<u64, (Option<u64>, String)>, InputError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, head)) = lines.next() else {
        return Err(InputError::new(path, "", "empty; capture ps -eo pid,ppid,args"));
    };
    let head: Vec<&str> = head.split_whitespace().collect();
    let with_parent = match head.as_slice() {
        ["PID", "PPID", ..] => true,
        ["PID", ..] => false,
        _ => {
            return Err(InputError::new(
                path,
                "line 1",
                "expected ps's header (PID PPID COMMAND); capture ps -eo pid,ppid,args",
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (i, line) in lines {
        let mut rest = line.trim_start();
        let mut field = || -> Option<u64> {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let value = rest[..end].parse().ok();
            rest = rest[end..].trim_start();
            value
        };
        let pid = field();
        let parent = if with_parent { field() } else { Some(0) };
        let (Some(pid), Some(parent)) = (pid, parent) else {
            return Err(InputError::new(
                path,
                format!("line {}", i + 1),
                "expected a process id, its parent's and its command line",
            ));
        };
        out.insert(pid, (with_parent.then_some(parent), rest.to_string()));
    }
    Ok(out)
}
