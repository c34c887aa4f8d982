//! `fleetfit calibrate`: engine startup logs into an engine profile (`measured:` runs), printed
//! as a table of what each run logged and what fleetfit's model now gives for it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fleetfit::InputError;
use fleetfit::catalog::Catalog;
use fleetfit::domain::Engine;
use fleetfit::formats::table::columns;
use fleetfit::formats::{Syntax, engine_log, profile_file};
use fleetfit::workflows::calibrate::{self, Calibration, Row};

use super::Format;

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// vLLM startup logs (0.8 to 0.19, whole, with VLLM_LOGGING_LEVEL=DEBUG) or SGLang startup
    /// logs (0.4 to 0.5, whole, under a `# setup: sglang X.Y` comment line), one run per file,
    /// all of one engine and version.
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// The profile file to write (YAML or JSON by extension, atomically); one that exists is
    /// read first and updated: its measured runs of other shapes stay.
    #[arg(long, value_name = "PROFILE")]
    out: Option<PathBuf>,
    /// CUDA's total memory of the GPUs the logs ran on, MiB: nvidia-smi's memory.total less
    /// memory.reserved (81090 on an H100 80GB). SGLang does not log it; where a log does, the
    /// two must agree.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    total_mib: Option<u64>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let syntax = args.out.as_deref().map(Syntax::of).transpose()?;
    super::ensure_folders([&args.out])?;
    let runs = args
        .logs
        .iter()
        .map(|p| engine_log::load_with(p, args.total_mib))
        .collect::<Result<Vec<_>, InputError>>()?;
    let (base, base_file) = match args.out.as_deref().filter(|p| p.exists()) {
        Some(path) => {
            let file: profile_file::ProfileFile = fleetfit::formats::parse_file(path)?;
            (Some((path, profile_file::resolve(path, &file)?)), Some(file))
        }
        None => (None, None),
    };
    let calibration = calibrate::calibrate(&runs, base, Catalog::builtin())?;
    for warning in &calibration.warnings {
        eprintln!("warning: {warning}");
    }
    match args.format {
        Format::Table => print!("{}", render(&calibration)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&calibration.rows)?),
    }
    if let (Some(out), Some(syntax)) = (&args.out, syntax) {
        let file = calibrate::to_file(&calibration, base_file.as_ref());
        let text = match syntax {
            Syntax::Yaml => header(out, &calibration) + &serde_yaml::to_string(&file)?,
            Syntax::Json => serde_json::to_string_pretty(&file)? + "\n",
        };
        super::write_file(out, &text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A comment on top of the YAML: what wrote it.
fn header(out: &Path, calibration: &Calibration) -> String {
    let name = out
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let formula = match calibration.profile.engine {
        Engine::Sglang => "CUDA's total - the formula's weights and KV cache of the tokens logged",
        _ => "logged non-KV memory + 6 MiB - the formula's weights",
    };
    format!(
        "# {name}: {} {} profile written by `fleetfit calibrate` from {} log(s); measured runs win for their\n\
         # model and shape (runtime_mib = {formula}).\n",
        calibration.profile.engine,
        calibration.profile.version,
        calibration.rows.len()
    )
}

/// One row per run, then the failed runs' reasons and what was skipped.
pub fn render(calibration: &Calibration) -> String {
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = calibration
        .rows
        .iter()
        .map(|r| {
            vec![
                r.file.clone(),
                r.model.clone(),
                shape(r),
                format!("{}", r.gpu_memory_utilization),
                r.logged_tokens.map_or_else(dash, |t| t.to_string()),
                r.fleetfit_tokens.map_or_else(dash, |t| t.to_string()),
                match (&r.failure, r.ratio) {
                    (Some(_), _) => "failed".into(),
                    // Rounded down: a ratio just under 1 never reads as 1.
                    (None, Some(x)) => format!("{:.4}", (x * 10_000.0).floor() / 10_000.0),
                    (None, None) => dash(),
                },
                r.runtime_mib.map_or_else(dash, |m| m.to_string()),
            ]
        })
        .collect();
    let mut out = columns(
        &[
            "FILE",
            "MODEL",
            "SHAPE",
            "UTIL",
            "LOGGED",
            "FLEETFIT",
            "RATIO",
            "RUNTIME_MIB",
        ],
        &rows,
    );
    let failed: Vec<&Row> = calibration.rows.iter().filter(|r| r.failure.is_some()).collect();
    if !failed.is_empty() {
        out.push_str("\nfailed runs (nothing measured):\n");
        for r in failed {
            out.push_str(&format!("  {}: {}\n", r.file, r.failure.as_deref().unwrap_or_default()));
        }
    }
    let skipped: Vec<&Row> = calibration.rows.iter().filter(|r| r.skipped.is_some()).collect();
    if !skipped.is_empty() {
        out.push_str("\nskipped runs:\n");
        for r in skipped {
            out.push_str(&format!("  {}: {}\n", r.file, r.skipped.as_deref().unwrap_or_default()));
        }
    }
    let measured = calibration.profile.measured.len();
    out.push_str(&format!(
        "\n{} {} profile: {measured} measured run{}\n",
        calibration.profile.engine,
        calibration.profile.version,
        if measured == 1 { "" } else { "s" }
    ));
    out
}

/// `bf16 tp2 pp1`, with `kv fp8` where the KV cache is fp8.
fn shape(r: &Row) -> String {
    let q = if r.quantization.is_empty() {
        "?"
    } else {
        &r.quantization
    };
    let kv = if r.kv_cache_dtype == "auto" {
        String::new()
    } else {
        format!(" kv {}", r.kv_cache_dtype)
    };
    format!("{q} tp{} pp{}{kv}", r.tp, r.pp)
}
