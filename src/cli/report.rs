//! `fleetfit report`: one self-contained HTML page of a plan and of the results beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetfit::domain::Plan;
use fleetfit::formats::parse_file;
use fleetfit::report::{self, Extras};

use super::Inputs;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// The plan JSON to picture (from `plan --out` or `replan --out`); checked first.
    #[arg(long)]
    plan: PathBuf,
    /// A what-if sweep's result (`whatif --format json`): value lost per scenario.
    #[arg(long)]
    whatif: Option<PathBuf>,
    /// A drill's result (`drill --format json`): value lost per failure.
    #[arg(long)]
    drill: Option<PathBuf>,
    /// A capacity result (`capacity --format json`): what is bought and what it places.
    #[arg(long)]
    capacity: Option<PathBuf>,
    /// The plan that runs now: the report lists what moves from it to `--plan`, in order.
    #[arg(long)]
    current: Option<PathBuf>,
    /// Where to write the page (one HTML file, written whole or not at all).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    super::ensure_folders([&Some(args.out.clone())])?;
    let (fleet, workload) = args.inputs.load()?;
    let plan: Plan = parse_file(&args.plan)?;
    let violations = fleetfit::check::check(&fleet, &workload, &plan);
    if let Some(first) = violations.first() {
        let message = format!(
            "the plan breaks {} rule(s) against these files ({first}); `fleetfit check` lists every one",
            violations.len()
        );
        return Err(fleetfit::InputError::new(&args.plan, "", message).into());
    }
    let extras = Extras {
        whatif: args.whatif.as_deref().map(parse_file).transpose()?,
        drill: args.drill.as_deref().map(parse_file).transpose()?,
        capacity: args.capacity.as_deref().map(parse_file).transpose()?,
        current: args.current.as_deref().map(parse_file).transpose()?,
    };
    let page = report::render(&fleet, &workload, &plan, &extras)?;
    super::write_file(&args.out, &page)?;
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
