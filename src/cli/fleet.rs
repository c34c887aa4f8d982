//! `fleetfit fleet import`: a fleet file from nvidia-smi or kubectl output.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use fleetfit::formats::{fleet_file, import};

#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Print a fleet file read from nvidia-smi CSV or XML, or `kubectl get nodes -o json`.
    Import(ImportArgs),
}

/// The syntax of the fleet file printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Syntax {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Node name for nvidia-smi output (one file); for kubectl output, the one node to keep.
    /// Without it, a file's name (without extension) names its node.
    #[arg(long)]
    node: Option<String>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "yaml")]
    format: Syntax,
    /// nvidia-smi `--query-gpu` CSV, `nvidia-smi -q -x` XML or `kubectl get nodes -o json`
    /// output, told apart by content; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: FleetArgs) -> anyhow::Result<ExitCode> {
    let FleetCommand::Import(args) = args.command;
    let imported = import::import(&args.files, args.node.as_deref())?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    let text = match args.format {
        Syntax::Yaml => fleet_file::to_yaml(&imported.fleet),
        Syntax::Json => {
            let mut json = serde_json::to_string_pretty(&fleet_file::to_file(&imported.fleet))?;
            json.push('\n');
            json
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
