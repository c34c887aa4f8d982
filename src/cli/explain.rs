//! `fleetfit explain`: why deployments are short of replicas, and the changes that would place
//! more, each proven by a re-solve.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use fleetfit::domain::Unplaced;
use fleetfit::explain::solve;
use fleetfit::solver::SolveOptions;

use super::{Format, Inputs};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Only this deployment (default: every one placed short).
    #[arg(long)]
    deployment: Option<String>,
    /// What to print.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Bound on the whole run, in seconds: the plan gets half, the suggestions' re-solves the rest.
    #[arg(long, default_value_t = 60.0, value_parser = super::sweep::seconds)]
    time_limit: f64,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (fleet, workload) = args.inputs.load()?;
    if let Some(name) = &args.deployment
        && workload.deployment(name).is_none()
    {
        return Err(fleetfit::InputError::new(
            &args.inputs.deployments,
            "deployments",
            format!("no deployment named '{name}'"),
        )
        .into());
    }
    let limit = Duration::from_secs_f64(args.time_limit);
    let options = SolveOptions {
        time_limit: limit / 2,
        ..SolveOptions::default()
    };
    let solved = solve(&fleet, &workload, &options)?;
    let mut entries: Vec<Unplaced> = solved
        .plan
        .unplaced
        .iter()
        .filter(|u| args.deployment.as_ref().is_none_or(|n| *n == u.deployment))
        .cloned()
        .collect();
    for entry in &mut entries {
        let left = limit.saturating_sub(started.elapsed());
        entry.suggestions = fleetfit::suggest::suggest(&fleet, &workload, &solved.plan, &entry.deployment, left);
    }
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&serde_json::json!({ "unplaced": entries }))?;
            println!("{json}");
        }
        Format::Table => print!("{}", table(&entries, args.deployment.as_deref())),
    }
    Ok(ExitCode::SUCCESS)
}

/// Per deployment: placed of requested, the reasons, the suggestions numbered.
fn table(entries: &[Unplaced], only: Option<&str>) -> String {
    if entries.is_empty() {
        return match only {
            Some(name) => format!("{name}: every requested replica is placed\n"),
            None => "every requested replica is placed\n".into(),
        };
    }
    let mut out = String::new();
    for e in entries {
        out += &format!("{}: {} of {} placed\n", e.deployment, e.placed, e.requested);
        out += "  why:\n";
        for r in &e.reasons {
            out += &format!("    - {r}\n");
        }
        if e.suggestions.is_empty() {
            out += "  no single change tried places more\n";
        } else {
            out += "  changes that place more (each re-solved and checked):\n";
            for (i, s) in e.suggestions.iter().enumerate() {
                out += &format!(
                    "    {}. {}: {} (placed_value {})\n",
                    i + 1,
                    s.change,
                    s.cost,
                    s.placed_value
                );
            }
        }
    }
    out
}
