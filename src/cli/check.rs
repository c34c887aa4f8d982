//! `fleetfit check`: exit 0 when a plan obeys every rule, 1 with one line per violation.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetfit::domain::Plan;

use super::Inputs;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// The plan JSON to check.
    #[arg(long)]
    plan: PathBuf,
    /// The plan that ran before a `replan`: also check `objective.moves` and simulate the
    /// `migration` step by step.
    #[arg(long)]
    current: Option<PathBuf>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (fleet, workload) = args.inputs.load()?;
    let plan: Plan = fleetfit::formats::parse_file(&args.plan)?;
    let mut violations = fleetfit::check::check(&fleet, &workload, &plan);
    if let Some(current) = &args.current {
        let current: Plan = fleetfit::formats::parse_file(current)?;
        violations.extend(fleetfit::check::check_migration(&fleet, &workload, &current, &plan));
    }
    if violations.is_empty() {
        println!(
            "ok: the plan obeys every rule ({} replicas, {} GPUs used)",
            plan.replicas.len(),
            plan.fleet.gpus_used
        );
        return Ok(ExitCode::SUCCESS);
    }
    for v in &violations {
        println!("{v}");
    }
    Ok(ExitCode::from(1))
}
