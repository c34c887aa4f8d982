//! `nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu,memory.reserved
//! --format=csv`, with or without `noheader,nounits`. With a header the columns may come in any
//! order (and others may be there, unread); without one they are in the order above, the last
//! three optional. `memory.reserved` (the driver's own memory) becomes `reserved_mib`.

use std::path::Path;

use super::{NodeRead, gpu_type, not_available, number};
use crate::error::InputError;
use crate::formats::fleet_file::GpuFile;

/// The columns read, by their query names.
const COLUMNS: [&str; 6] = [
    "index",
    "name",
    "memory.total",
    "memory.used",
    "utilization.gpu",
    "memory.reserved",
];

/// Reads one node's GPUs.
pub fn read(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<NodeRead, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| InputError::new(path, format!("line {}", i + 1), format!("not CSV: {e}")))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        records.push((i + 1, record));
    }
    let Some((_, first)) = records.first() else {
        return Err(InputError::new(path, "", "no GPU rows"));
    };
    // A header names the columns ("memory.total [MiB]"); data rows start with a number or a name.
    let header = first.iter().any(|f| COLUMNS.contains(&column_name(f)));
    let positions: Vec<Option<usize>> = if header {
        let names: Vec<&str> = first.iter().map(column_name).collect();
        COLUMNS.iter().map(|c| names.iter().position(|n| n == c)).collect()
    } else {
        (0..COLUMNS.len()).map(|i| (i < first.len()).then_some(i)).collect()
    };
    for (c, column) in COLUMNS.iter().enumerate().take(3) {
        if positions[c].is_none() {
            return Err(InputError::new(
                path,
                "line 1",
                format!(
                    "no '{column}' column; query at least --query-gpu=index,name,memory.total (memory.used and utilization.gpu for busy GPUs)"
                ),
            ));
        }
    }
    let mut gpus = Vec::new();
    for (line, record) in records.iter().skip(usize::from(header)) {
        let field = |c: usize| positions[c].and_then(|p| record.get(p));
        let at = |c: usize| format!("line {line}, column {}", COLUMNS[c]);
        let index = field(0)
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| InputError::new(path, at(0), "expected the GPU's index, a whole number"))?;
        let name = field(1)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| InputError::new(path, at(1), "no GPU name"))?;
        let memory_mib = field(2)
            .and_then(|v| number(v, "MiB"))
            .ok_or_else(|| InputError::new(path, at(2), "expected the total memory in MiB, such as 81559"))?;
        let used_mib = match field(3) {
            None => 0,
            Some(v) => number(v, "MiB")
                .ok_or_else(|| InputError::new(path, at(3), "expected the memory used in MiB, such as 0"))?,
        };
        let utilization = match field(4) {
            None => 0,
            Some(v) if not_available(v) => {
                warnings.push(format!(
                    "{}: {}: no utilization reported; taken as 0",
                    path.display(),
                    at(4)
                ));
                0
            }
            Some(v) => number(v, "%")
                .filter(|&u| u <= 100)
                .ok_or_else(|| InputError::new(path, at(4), "expected a utilization in percent, 0 to 100"))?
                as u32,
        };
        let reserved_mib = match field(5) {
            None => 0,
            Some(v) if not_available(v) => 0,
            Some(v) => number(v, "MiB").filter(|&r| r < memory_mib).ok_or_else(|| {
                InputError::new(
                    path,
                    at(5),
                    "expected the driver's reserved memory in MiB, less than memory.total",
                )
            })?,
        };
        gpus.push(GpuFile {
            index,
            gpu_type: gpu_type(name, path, warnings),
            memory_mib,
            reserved_mib,
            used_mib,
            utilization,
            healthy: true,
        });
    }
    Ok(NodeRead {
        gpus,
        ..NodeRead::default()
    })
}

/// A header field's query name: `memory.total [MiB]` is `memory.total`.
fn column_name(field: &str) -> &str {
    field.split(" [").next().unwrap_or(field).trim()
}
