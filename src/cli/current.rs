//! `fleetfit current import`: the plan that runs now, read from Kubernetes' pods or from each
//! bare-metal node's nvidia-smi and ps output, for `replan --current` and `emit --current`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use fleetfit::formats::running::{pods, smi};
use fleetfit::formats::table::{columns, gpu_ranges};
use fleetfit::workflows::current::{self, Current};

use super::{Format, Inputs};

#[derive(Debug, clap::Args)]
pub struct CurrentArgs {
    #[command(subcommand)]
    command: CurrentCommand,
}

#[derive(Debug, Subcommand)]
enum CurrentCommand {
    /// Build the current plan from what runs: `kubectl get pods -A -o json`, or per node a folder
    /// of nvidia-smi and ps output.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// `kubectl get pods --all-namespaces -o json` output; may be given more than once.
    #[arg(long = "pods", value_name = "FILE")]
    pods: Vec<PathBuf>,
    /// A bare-metal node's capture: a folder named after the node holding `gpus.csv`
    /// (`nvidia-smi --query-gpu=index,uuid --format=csv`), `apps.csv` (`nvidia-smi
    /// --query-compute-apps=pid,gpu_uuid,used_memory --format=csv`) and `ps.txt` (`ps -eo
    /// pid,ppid,args`); may be given more than once.
    #[arg(long = "node-capture", value_name = "DIR")]
    captures: Vec<PathBuf>,
    /// Write the current plan here (atomically): the replicas that run, and their pods or
    /// processes.
    #[arg(long)]
    out: PathBuf,
    /// Write the fleet with foreign load here (atomically, YAML): what `replan` and `emit` should
    /// plan on, since GPUs held by workers fleetfit does not place are not free.
    #[arg(long)]
    fleet_out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(args: CurrentArgs) -> anyhow::Result<ExitCode> {
    let CurrentCommand::Import(args) = args.command;
    if args.pods.is_empty() && args.captures.is_empty() {
        anyhow::bail!(fleetfit::InputError::new(
            &args.inputs.fleet,
            "",
            "nothing to import: give --pods FILE (kubectl get pods -A -o json) or --node-capture DIR"
        ));
    }
    let (fleet, workload) = args.inputs.load()?;
    super::ensure_folders([&Some(args.out.clone()), &args.fleet_out])?;
    let mut warnings = Vec::new();
    let mut workers = Vec::new();
    for path in &args.pods {
        let text = fleetfit::formats::read_text(path)?;
        workers.extend(pods::read(path, &text, &mut warnings)?);
    }
    let mut captured = BTreeSet::new();
    for dir in &args.captures {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if fleet.node(&name).is_none() {
            anyhow::bail!(fleetfit::InputError::new(
                dir,
                "",
                format!("the folder names node '{name}', which the fleet file does not have")
            ));
        }
        workers.extend(smi::read(dir, &mut warnings)?);
        captured.insert(name);
    }
    let mut now = current::import(&fleet, &workload, workers, &captured);
    warnings.extend(std::mem::take(&mut now.warnings));
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    // The current plan belongs to the fleet with its foreign load, where that is written.
    if let Some(path) = &args.fleet_out {
        super::write_file(path, &fleetfit::formats::fleet_file::to_yaml(&now.fleet))?;
    } else if !now.foreign.is_empty() {
        eprintln!("note: foreign load is not written anywhere; give --fleet-out to plan around it");
    }
    let mut roles = args.inputs.roles();
    if let Some(path) = &args.fleet_out {
        roles[0] = ("fleet", path.as_path());
    }
    now.plan.provenance = Some(fleetfit::formats::provenance::stamp_files(&roles)?);
    let json = now.plan.to_json();
    super::write_file(&args.out, &json)?;
    match args.format {
        Format::Json => print!("{json}"),
        Format::Table => print!("{}", table(&now)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The replicas found, and the foreign workers with why each is foreign.
fn table(now: &Current) -> String {
    let deployments: BTreeSet<&str> = now.plan.replicas.iter().map(|r| r.deployment.as_str()).collect();
    let mut out = format!(
        "{} replicas of {} deployments running; {} foreign workers\n\n",
        now.plan.replicas.len(),
        deployments.len(),
        now.foreign.len()
    );
    let rows: Vec<Vec<String>> = now
        .plan
        .replicas
        .iter()
        .zip(&now.plan.running)
        .map(|(r, running)| {
            vec![
                format!("{}#{}", r.deployment, r.replica),
                format!(
                    "{} x TP {} x PP {}",
                    r.quantization, r.tensor_parallel, r.pipeline_parallel
                ),
                r.stages
                    .iter()
                    .map(|s| format!("{}:{}", s.node, gpu_ranges(&s.gpus)))
                    .collect::<Vec<_>>()
                    .join(" "),
                match (&running.owner, running.pods.first(), running.pid) {
                    (Some(owner), _, _) => owner.clone(),
                    (None, Some(pod), _) => format!("Pod/{pod}"),
                    (None, None, Some(pid)) => format!("pid {pid}"),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    out += &columns(&["REPLICA", "SHAPE", "GPUS", "RUNS AS"], &rows);
    if !now.foreign.is_empty() {
        out += "\nforeign load (kept as used memory):\n";
        let rows: Vec<Vec<String>> = now
            .foreign
            .iter()
            .map(|f| {
                vec![
                    format!("{}:{}", f.node, gpu_ranges(&f.gpus)),
                    {
                        let mut values: Vec<u64> = f.used_mib.values().copied().collect();
                        values.dedup();
                        values.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
                    },
                    f.origin.clone(),
                    f.reason.clone(),
                ]
            })
            .collect();
        out += &columns(&["GPUS", "MIB PER GPU", "WHAT", "WHY"], &rows);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}
