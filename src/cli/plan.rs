//! `fleetfit plan`: solve, check, then print the table or JSON and write `--out`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fleetfit::Error;
use fleetfit::solver::{self, SolveOptions};

use super::{Format, Inputs};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Write the plan JSON here (atomically: whole or not at all).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Bound on the whole solve, in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = super::sweep::seconds)]
    time_limit: f64,
    /// Relative gap at which the first level may stop (0 proves optimality).
    #[arg(long, default_value_t = 0.0)]
    gap: f64,
    /// Stream HiGHS's log to stderr.
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if !(args.gap.is_finite() && (0.0..1.0).contains(&args.gap)) {
        anyhow::bail!(Error::Input(fleetfit::InputError::new(
            std::path::Path::new("--gap"),
            "",
            "must be a fraction in [0, 1)"
        )));
    }
    let (fleet, workload) = args.inputs.load()?;
    for warning in fleetfit::lint::lint(&fleet, &workload, &args.inputs.deployments) {
        eprintln!("{warning}");
    }
    let options = SolveOptions {
        time_limit: Duration::from_secs_f64(args.time_limit),
        mip_rel_gap: args.gap,
        verbose: args.verbose,
        ..SolveOptions::default()
    };
    let solved = solver::solve(&fleet, &workload, &options)?;
    let json = solved.plan.to_json();
    if let Some(out) = &args.out {
        super::write_file(out, &json)?;
    }
    match args.format {
        Format::Json => print!("{json}"),
        Format::Table => {
            print!("{}", fleetfit::formats::table::render(&solved.plan));
            println!("{}", solved.stats.summary());
        }
    }
    Ok(ExitCode::SUCCESS)
}
