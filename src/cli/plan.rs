//! `fleetfit plan`: solve, check, then print the table or JSON and write `--out`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fleetfit::solver::SolveOptions;

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
    #[arg(long, default_value_t = 0.0, value_parser = super::sweep::gap)]
    gap: f64,
    /// Also suggest, per deployment placed short, changes that would place more (each re-solved
    /// and checked, as `fleetfit explain` does; up to the time limit again).
    #[arg(long)]
    explain: bool,
    /// One table row per replica (its stages' nodes and GPUs) instead of one per deployment.
    #[arg(long)]
    detail: bool,
    /// Stream HiGHS's log to stderr.
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    // The time limit bounds the whole run: reading the inputs counts against it.
    let begun = std::time::Instant::now();
    let (fleet, workload) = args.inputs.load()?;
    super::ensure_folders([&args.out])?;
    for warning in fleetfit::lint::lint(&fleet, &workload, &args.inputs.deployments) {
        eprintln!("{warning}");
    }
    let options = SolveOptions {
        time_limit: Duration::from_secs_f64(args.time_limit).saturating_sub(begun.elapsed()),
        mip_rel_gap: args.gap,
        verbose: args.verbose,
        ..SolveOptions::default()
    };
    let live = super::live::Live::start(args.verbose);
    let mut solved = fleetfit::explain::solve(&fleet, &workload, &options)?;
    drop(live);
    if args.explain {
        let started = std::time::Instant::now();
        let names: Vec<String> = solved.plan.unplaced.iter().map(|u| u.deployment.clone()).collect();
        for (i, name) in names.iter().enumerate() {
            let left = options.time_limit.saturating_sub(started.elapsed());
            let found = fleetfit::suggest::suggest(&fleet, &workload, &solved.plan, name, left);
            solved.plan.unplaced[i].suggestions = found;
        }
    }
    solved.plan.provenance = Some(args.inputs.provenance()?);
    let json = solved.plan.to_json();
    if let Some(out) = &args.out {
        super::write_file(out, &json)?;
    }
    match args.format {
        Format::Json => print!("{json}"),
        Format::Table => {
            let table = if args.detail {
                let kv = fleetfit::memory::plan_kv(&fleet, &workload, &solved.plan);
                fleetfit::formats::table::render_detail(&solved.plan, &kv)
            } else {
                fleetfit::formats::table::render(&solved.plan)
            };
            print!("{table}");
            println!("{}", solved.stats.summary());
        }
    }
    Ok(ExitCode::SUCCESS)
}
