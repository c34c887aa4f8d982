//! `fleetfit gen`: a synthetic fleet and deployment set, written whole into a folder.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetfit::Error;
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};

#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// GPUs in the fleet.
    #[arg(long)]
    gpus: u64,
    /// Deployments to ask for.
    #[arg(long)]
    deployments: u64,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ask for more than the fleet holds (about 1.5x instead of 0.7x).
    #[arg(long)]
    tight: bool,
    /// Folder for fleet.yaml and deployments.yaml (created if missing).
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    if args.gpus == 0 || args.gpus > 1_000_000 || args.deployments == 0 || args.deployments > 100_000 {
        anyhow::bail!(Error::Input(fleetfit::InputError::new(
            std::path::Path::new("--gpus/--deployments"),
            "",
            "need 1..=1000000 GPUs and 1..=100000 deployments"
        )));
    }
    let spec = GenSpec {
        gpus: args.gpus,
        deployments: args.deployments,
        seed: args.seed,
        tight: args.tight,
    };
    std::fs::create_dir_all(&args.out).map_err(|os_error| Error::Write {
        path: args.out.clone(),
        os_error,
    })?;
    for (name, text) in [
        ("fleet.yaml", fleet_yaml(&spec)),
        ("deployments.yaml", deployments_yaml(&spec)),
    ] {
        let path = args.out.join(name);
        super::write_file(&path, &text)?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
