//! `fleetfit check`: exit 0 when a plan obeys every rule, 1 with one line per violation.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetfit::domain::Plan;
use serde::Serialize;

use super::{Format, Inputs};

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
    /// What to print: lines for people, or `{"ok", "violations": [{"rule", "message"}],
    /// "warnings"}` for scripts.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// The JSON verdict of `check --format json`.
#[derive(Debug, Serialize)]
struct Verdict {
    ok: bool,
    violations: Vec<Broken>,
    warnings: Vec<String>,
}

/// One violation: the rule's name and what breaks it.
#[derive(Debug, Serialize)]
struct Broken {
    rule: &'static str,
    message: String,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (fleet, workload) = args.inputs.load()?;
    let plan: Plan = fleetfit::formats::parse_file(&args.plan)?;
    // Warnings do not change the verdict: a plan checked against edited files may still obey
    // every rule, but the reader should know it was made from something else.
    let warnings =
        fleetfit::formats::provenance::differences("the plan", plan.provenance.as_ref(), &args.inputs.roles())?;
    let mut violations = fleetfit::check::check(&fleet, &workload, &plan);
    if let Some(current) = &args.current {
        let current: Plan = fleetfit::formats::parse_file(current)?;
        violations.extend(fleetfit::check::check_migration(&fleet, &workload, &current, &plan));
    }
    let code = if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    match args.format {
        Format::Json => {
            let verdict = Verdict {
                ok: violations.is_empty(),
                violations: violations
                    .iter()
                    .map(|v| Broken {
                        rule: v.rule.name(),
                        message: v.message.clone(),
                    })
                    .collect(),
                warnings,
            };
            println!("{}", serde_json::to_string_pretty(&verdict).expect("serializes"));
        }
        Format::Table => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            if violations.is_empty() {
                let (replicas, gpus) = (plan.replicas.len(), plan.fleet.gpus_used);
                println!(
                    "ok: the plan obeys every rule ({replicas} replica{}, {gpus} GPU{} used)",
                    if replicas == 1 { "" } else { "s" },
                    if gpus == 1 { "" } else { "s" }
                );
            }
            for v in &violations {
                println!("{v}");
            }
        }
    }
    Ok(code)
}
