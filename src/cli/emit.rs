//! `fleetfit emit`: a checked plan as launch commands, Dynamo configs or Kubernetes manifests.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use fleetfit::domain::Plan;
use fleetfit::emit::{self, Target};

use super::Inputs;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetArg {
    Launch,
    Vllm,
    Sglang,
    Dynamo,
    K8s,
}

#[derive(Debug, clap::Args)]
pub struct EmitArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// The plan JSON (from `plan --out`); it is checked against the fleet and deployments first.
    #[arg(long)]
    plan: PathBuf,
    /// launch: a script per node, each replica on its deployment's engine (vLLM, SGLang,
    /// llama.cpp); vllm or sglang: the same with every replica on that engine; dynamo: a graph
    /// config per node; k8s: manifests.
    #[arg(long, value_enum)]
    target: TargetArg,
    /// Write the files into this folder (created if missing) instead of printing them.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: EmitArgs) -> anyhow::Result<ExitCode> {
    let (fleet, workload) = args.inputs.load()?;
    let plan: Plan = fleetfit::formats::parse_file(&args.plan)?;
    // A plan that breaks a rule is bad input here (edited by hand, or for other files): say so
    // as an input error naming the plan, not as fleetfit's own failure.
    let violations = fleetfit::check::check(&fleet, &workload, &plan);
    if let Some(first) = violations.first() {
        let count = violations.len();
        let message = format!(
            "the plan breaks {count} rule{} against these files ({first}); `fleetfit check` lists every one",
            if count == 1 { "" } else { "s" }
        );
        return Err(fleetfit::InputError::new(&args.plan, "", message).into());
    }
    let target = match args.target {
        TargetArg::Launch => Target::Launch,
        TargetArg::Vllm => Target::Vllm,
        TargetArg::Sglang => Target::Sglang,
        TargetArg::Dynamo => Target::Dynamo,
        TargetArg::K8s => Target::K8s,
    };
    let files = emit::emit(target, &plan, &fleet, &workload)?;
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|os_error| fleetfit::Error::Write {
                path: dir.clone(),
                os_error,
            })?;
            for file in &files {
                super::write_file(&dir.join(&file.name), &file.text)?;
            }
            let s = if files.len() == 1 { "" } else { "s" };
            eprintln!("wrote {} file{s} to {}", files.len(), dir.display());
        }
        None => {
            for file in &files {
                print!("# ==> {} <==\n{}", file.name, file.text);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
