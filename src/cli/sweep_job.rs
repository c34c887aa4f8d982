//! `fleetfit sweep-job`: a sharded `whatif` or `drill` as a Slurm job array or a Kubernetes
//! Indexed Job, each task one shard; `fleetfit merge` joins the parts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use fleetfit::emit::sweep_job::SweepJob;

/// Which scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scheduler {
    Slurm,
    K8s,
}

#[derive(Debug, clap::Args)]
pub struct SweepJobArgs {
    /// slurm: an sbatch script of a job array; k8s: an Indexed Job manifest.
    #[arg(long, value_enum)]
    target: Scheduler,
    /// Tasks (shards) to split the sweep into.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    shards: u32,
    /// Cores per task, also each task's `--jobs`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    cpus: u32,
    /// The fleetfit each task runs (a path on the compute nodes, or a name on their PATH).
    #[arg(long, default_value = "fleetfit")]
    program: String,
    /// Folder of the parts, reachable by every task and by the merge (k8s: an absolute path,
    /// where the claim is mounted).
    #[arg(long, default_value = "parts")]
    parts: String,
    /// k8s: the container image holding fleetfit.
    #[arg(long, default_value = "fleetfit:latest")]
    image: String,
    /// k8s: the ConfigMap of the input files, mounted at /in (give the sweep /in/... paths).
    #[arg(long, default_value = "fleetfit-inputs")]
    inputs_configmap: String,
    /// k8s: the PersistentVolumeClaim the parts are written to.
    #[arg(long, default_value = "fleetfit-parts")]
    parts_claim: String,
    /// Write the script or manifest here (atomically) instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The sweep, as it would run unsharded: `whatif ...` or `drill ...` (after `--`).
    #[arg(last = true, required = true, allow_hyphen_values = true)]
    sweep: Vec<String>,
}

pub fn run(args: SweepJobArgs) -> anyhow::Result<ExitCode> {
    let (sweep, rest) = args.sweep.split_first().expect("clap requires the sweep");
    if !matches!(sweep.as_str(), "whatif" | "drill") {
        return Err(usage(format!(
            "the sweep must be `whatif ...` or `drill ...`, not `{sweep}`"
        )));
    }
    for taken in ["--shard", "--out", "--jobs", "--format"] {
        if rest.iter().any(|a| a == taken || a.starts_with(&format!("{taken}="))) {
            return Err(usage(format!(
                "leave `{taken}` out of the sweep: sweep-job sets it for each task"
            )));
        }
    }
    // The sweep must parse as fleetfit would run it, so that no task fails on its arguments.
    let trial = ["fleetfit", sweep.as_str()]
        .into_iter()
        .chain(rest.iter().map(String::as_str));
    if let Err(e) = super::Cli::try_parse_from(trial.chain(["--shard", "1/2"])) {
        return Err(usage(format!(
            "the sweep's arguments do not parse: {}",
            e.to_string().lines().next().unwrap_or("")
        )));
    }
    if args.target == Scheduler::K8s && !args.parts.starts_with('/') {
        return Err(usage(
            "--parts must be an absolute path for k8s (where the claim is mounted)".into(),
        ));
    }
    let job = SweepJob {
        sweep: sweep.clone(),
        args: rest.to_vec(),
        shards: args.shards,
        cpus: args.cpus,
        program: args.program,
        parts: args.parts,
    };
    let text = match args.target {
        Scheduler::Slurm => job.slurm(),
        Scheduler::K8s => job.kubernetes(&args.image, &args.inputs_configmap, &args.parts_claim),
    };
    match &args.out {
        Some(path) => {
            super::ensure_folders([&args.out])?;
            super::write_file(path, &text)?;
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A command-line mistake, exit 2 as bad input.
fn usage(message: String) -> anyhow::Error {
    fleetfit::InputError::new(std::path::Path::new("sweep-job"), "", message).into()
}
