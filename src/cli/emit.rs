//! `fleetfit emit`: a checked plan as launch commands, Dynamo configs or Kubernetes manifests.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use fleetfit::domain::Plan;
use fleetfit::emit::names::{NameRefused, Owner};
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
    /// The plan that runs now (from `current import`, `plan` or `replan`): write only the
    /// changes from it to `--plan`, step by step, with an `apply.sh` that performs them.
    #[arg(long)]
    current: Option<PathBuf>,
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
    let files = match &args.current {
        None => emit::emit(target, &plan, &fleet, &workload),
        Some(path) => {
            if target == Target::Dynamo {
                return Err(fleetfit::InputError::new(
                    path,
                    "",
                    "change sets are written for --target k8s, vllm, sglang and launch; a Dynamo graph is deployed whole",
                )
                .into());
            }
            let current: Plan = fleetfit::formats::parse_file(path)?;
            emit::changes::files(target, &current, &plan, &fleet, &workload)
        }
    }
    .map_err(|e| match e {
        fleetfit::Error::Name(refused) => fleetfit::Error::Input(at_its_field(&args.inputs, &refused)),
        other => other,
    })?;
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|os_error| fleetfit::Error::Write {
                path: dir.clone(),
                os_error,
            })?;
            // Every target is checked before the first is written, so that a refusal leaves no
            // half set (a Ray head without its workers): one plain name inside DIR, not a folder,
            // and none of the files this command read.
            let read: Vec<PathBuf> = [&args.inputs.fleet, &args.inputs.deployments, &args.plan]
                .into_iter()
                .chain(&args.current)
                .chain(&args.inputs.profiles)
                .filter_map(|p| p.canonicalize().ok())
                .collect();
            let mut targets = Vec::with_capacity(files.len());
            for file in &files {
                let path = inside(dir, &file.name)?;
                let refuse = |why: &str| fleetfit::Error::Write {
                    path: path.clone(),
                    os_error: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
                };
                if path.is_dir() {
                    return Err(refuse("a folder is in the way; nothing was written").into());
                }
                if path.canonicalize().is_ok_and(|p| read.contains(&p)) {
                    return Err(refuse("it is one of this command's input files; nothing was written").into());
                }
                targets.push((path, &file.text));
            }
            for (path, text) in targets {
                super::write_file(&path, text)?;
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

/// A refused name as an input error at its field: `nodes[i].name` of the fleet file or
/// `deployments[i].name` of the deployments file.
fn at_its_field(inputs: &Inputs, refused: &NameRefused) -> fleetfit::InputError {
    let (file, field) = match refused.owner {
        Owner::Node => (&inputs.fleet, format!("nodes[{}].name", refused.index)),
        Owner::Deployment => (&inputs.deployments, format!("deployments[{}].name", refused.index)),
    };
    fleetfit::InputError::new(file, field, format!("'{}' {}", refused.name, refused.why))
}

/// `dir/name`, refused unless `name` is one plain path component, so that no file lands
/// outside the folder asked for (the emitters refuse such names first; this holds whatever
/// they do).
fn inside(dir: &Path, name: &str) -> Result<PathBuf, fleetfit::Error> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(part)), None) if part == name => Ok(dir.join(name)),
        _ => Err(fleetfit::Error::Write {
            path: dir.join(name),
            os_error: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the file name is not one plain name inside the output folder",
            ),
        }),
    }
}
