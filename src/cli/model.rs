//! `fleetfit model import`: a catalog entry from a Hugging Face `config.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use fleetfit::formats::{hf_config, model_file};

#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Print a catalog entry (YAML) read from a Hugging Face config.json: dense, GQA, MoE, MLA;
    /// `quantization_config` (AWQ, GPTQ, FP8, compressed-tensors) sets the dtype.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The config.json, or the folder that holds it.
    path: PathBuf,
    /// The entry's id (default: the folder's name, lower case).
    #[arg(long)]
    id: Option<String>,
}

pub fn run(args: ModelArgs) -> anyhow::Result<ExitCode> {
    let ModelCommand::Import(args) = args.command;
    let mut arch = hf_config::load(&args.path)?;
    if let Some(id) = args.id {
        arch.id = id;
    }
    print!("{}", model_file::to_yaml(&arch));
    Ok(ExitCode::SUCCESS)
}
