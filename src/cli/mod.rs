//! Command-line parsing (clap) and dispatch; `anyhow` stops here, the library uses `thiserror`.

mod calibrate;
mod capacity;
mod check;
mod current;
mod emit;
mod explain;
mod fleet;
mod generate;
mod live;
mod model;
mod models;
mod plan;
mod replan;
mod report;
mod schema;
mod sweep;
mod sweep_job;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fleetfit::{Error, InputError};

/// Places a whole GPU fleet's LLM deployments with one integer program (HiGHS).
#[derive(Debug, Parser)]
#[command(name = "fleetfit", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format of a command that prints a plan or a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Place every deployment on the fleet and print or write the plan.
    Plan(plan::PlanArgs),
    /// Check a plan file against every placement rule; exit 1 with one line per violation.
    Check(check::CheckArgs),
    /// List the model catalog built into this binary.
    Models(models::ModelsArgs),
    /// Write a synthetic fleet and deployment set (seeded, reproducible).
    Gen(generate::GenArgs),
    /// Solve the base and every scenario of a scenarios file, side by side.
    Whatif(sweep::WhatIfArgs),
    /// N-1 failure drill: re-plan without each node, GPU or label value in turn, worst first.
    Drill(sweep::DrillArgs),
    /// Join the partial results of a sharded `whatif` or `drill`.
    Merge(sweep::MergeArgs),
    /// A sharded `whatif` or `drill` as a Slurm job array or a Kubernetes Indexed Job.
    SweepJob(sweep_job::SweepJobArgs),
    /// The cheapest nodes to buy so that the demand fits, proven.
    Capacity(capacity::CapacityArgs),
    /// Re-plan from the plan that runs now: the best plan that moves the least, and its steps.
    Replan(replan::ReplanArgs),
    /// The plan that runs now, from what the cluster or nodes report (`current import`).
    Current(current::CurrentArgs),
    /// Fleet files from what machines report (`fleet import`).
    Fleet(fleet::FleetArgs),
    /// Catalog entries from Hugging Face configs (`model import`).
    Model(model::ModelArgs),
    /// Write what runtimes run from a plan: vLLM or SGLang commands, Dynamo configs, manifests.
    Emit(emit::EmitArgs),
    /// Why deployments are short of replicas, and changes that would place more (re-solved).
    Explain(explain::ExplainArgs),
    /// One self-contained HTML page of a plan: the fleet map, GPU use, sweeps, purchases, moves.
    Report(report::ReportArgs),
    /// Print the JSON Schema of a file kind, for editors' YAML language servers.
    Schema(schema::SchemaArgs),
    /// Read engine startup logs (vLLM, SGLang) into an engine profile's measured runs (`--out`).
    Calibrate(calibrate::CalibrateArgs),
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Check(args) => check::run(args),
        Command::Models(args) => models::run(args),
        Command::Gen(args) => generate::run(args),
        Command::Whatif(args) => sweep::whatif(args),
        Command::Drill(args) => sweep::drill(args),
        Command::Merge(args) => sweep::merge(args),
        Command::SweepJob(args) => sweep_job::run(args),
        Command::Capacity(args) => capacity::run(args),
        Command::Replan(args) => replan::run(args),
        Command::Current(args) => current::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Model(args) => model::run(args),
        Command::Emit(args) => emit::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Report(args) => report::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Calibrate(args) => calibrate::run(args),
    }
}

/// The exit code for an error: 2 for bad input, 3 when the solver produced no plan.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<InputError>().is_some() {
        return 2;
    }
    match err.downcast_ref::<Error>() {
        Some(Error::Input(_)) | Some(Error::Write { .. }) | Some(Error::Name(_)) => 2,
        Some(Error::Solver(_))
        | Some(Error::NoFeasibleYet)
        | Some(Error::Unsettled { .. })
        | Some(Error::InvalidPlan(_)) => 3,
        None => 2,
    }
}

/// Writes an output file whole or not at all; a failure names the file and the OS error once.
pub fn write_file(path: &std::path::Path, text: &str) -> Result<(), Error> {
    fleetfit::formats::write_atomic(path, text).map_err(|os_error| Error::Write {
        path: path.to_path_buf(),
        os_error,
    })
}

/// Fails before any solve when an output file's folder does not exist, so a long run does not
/// end in a write error (the write itself still reports anything else, such as permissions).
pub fn ensure_folders<'p>(outputs: impl IntoIterator<Item = &'p Option<std::path::PathBuf>>) -> Result<(), Error> {
    for path in outputs.into_iter().flatten() {
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        if !folder.is_dir() {
            return Err(Error::Write {
                path: path.clone(),
                os_error: std::io::Error::new(std::io::ErrorKind::NotFound, "its folder does not exist"),
            });
        }
    }
    Ok(())
}

/// Shared `--fleet` / `--deployments` arguments.
#[derive(Debug, clap::Args)]
pub struct Inputs {
    /// Fleet file (.yaml, .yml or .json).
    #[arg(long)]
    pub fleet: PathBuf,
    /// Deployments file (.yaml, .yml or .json).
    #[arg(long)]
    pub deployments: PathBuf,
    /// Engine profile file (what `fleetfit calibrate` writes) that wins over the built-in
    /// profile of its engine; may be given more than once.
    #[arg(long = "profiles", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,
}

impl Inputs {
    /// Loads and validates both files.
    pub fn load(&self) -> Result<(fleetfit::domain::Fleet, fleetfit::domain::Workload), InputError> {
        let fleet = fleetfit::formats::fleet_file::load(&self.fleet)?;
        let workload = fleetfit::formats::deployments_file::load_with(&self.deployments, &self.profiles)?;
        Ok((fleet, workload))
    }

    /// The provenance stamped on a plan made from these files.
    pub fn provenance(&self) -> Result<fleetfit::domain::Provenance, InputError> {
        fleetfit::formats::provenance::stamp_files(&self.roles())
    }

    /// Each file with its role, as provenance records them.
    pub fn roles(&self) -> Vec<(&'static str, &std::path::Path)> {
        let mut roles = vec![
            ("fleet", self.fleet.as_path()),
            ("deployments", self.deployments.as_path()),
        ];
        roles.extend(self.profiles.iter().map(|p| ("profiles", p.as_path())));
        roles
    }
}
