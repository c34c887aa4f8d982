//! `fleetfit replan`: from the plan that runs now, the best plan that moves the least, and the
//! order of its steps.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fleetfit::domain::Plan;
use fleetfit::formats::table::columns;
use fleetfit::solver::SolveOptions;
use fleetfit::workflows::replan::{self, Replan, ReplanOptions};

use super::sweep::{gap, seconds};
use super::{Format, Inputs};

#[derive(Debug, clap::Args)]
pub struct ReplanArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// The plan that runs now (a plan JSON, as `plan` or `replan` wrote it).
    #[arg(long)]
    current: PathBuf,
    /// At most this many replicas started, stopped or moved (ahead of the placed value).
    #[arg(long)]
    max_moves: Option<u64>,
    /// Running replicas still valid with at least this priority stay where they are.
    #[arg(long)]
    keep_priority: Option<u64>,
    /// Write the new plan (with `moves` and `migration`) here, atomically.
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Bound on the solve, in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    time_limit: f64,
    /// Relative gap at which the first level may stop (0 proves optimality).
    #[arg(long, default_value_t = 0.0, value_parser = gap)]
    gap: f64,
}

pub fn run(args: ReplanArgs) -> anyhow::Result<ExitCode> {
    let (fleet, workload) = args.inputs.load()?;
    super::ensure_folders([&args.out])?;
    let current: Plan = fleetfit::formats::parse_file(&args.current)?;
    let options = ReplanOptions {
        solve: SolveOptions {
            time_limit: Duration::from_secs_f64(args.time_limit),
            mip_rel_gap: args.gap,
            ..SolveOptions::default()
        },
        max_moves: args.max_moves,
        keep_priority: args.keep_priority,
    };
    let live = super::live::Live::start(false);
    let mut replanned = replan::replan(&fleet, &workload, &current, &options)?;
    drop(live);
    // A running plan made from other files is expected (that is why one re-plans); say which.
    for note in fleetfit::formats::provenance::differences(
        "the running plan",
        current.provenance.as_ref(),
        &args.inputs.roles(),
    )? {
        eprintln!("note: {note}");
    }
    replanned.plan.provenance = Some(args.inputs.provenance()?);
    // The table lists them; with JSON on stdout they go to stderr.
    if args.format == Format::Json {
        for invalid in &replanned.invalid {
            eprintln!(
                "note: {} replica {} cannot stay: {}",
                invalid.deployment, invalid.replica, invalid.reason
            );
        }
    }
    let json = replanned.plan.to_json();
    if let Some(out) = &args.out {
        super::write_file(out, &json)?;
    }
    match args.format {
        Format::Json => print!("{json}"),
        Format::Table => print!("{}", table(&replanned)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The new plan's objective, the changes per deployment, the replicas that cannot stay and the
/// steps (the plan itself is in `--out` or `--format json`).
fn table(r: &Replan) -> String {
    let o = &r.plan.objective;
    let status = match r.plan.status {
        fleetfit::domain::SolveStatus::Optimal => "optimal".to_string(),
        fleetfit::domain::SolveStatus::TimeLimit => format!(
            "time_limit, bound {}",
            o.bound.map_or("-".into(), |b| format!("{b:.0}"))
        ),
    };
    let moves = o.moves.unwrap_or(0);
    let proof = match o.moves_bound {
        Some(bound) => format!(
            "not proven minimal: at least {bound}, gap {:.1}%",
            100.0 * (moves - bound) as f64 / moves.max(1) as f64
        ),
        None => "minimal".to_string(),
    };
    let mut out = format!(
        "placed_value {}, moves {moves} ({proof}; {} forced: running replicas that cannot stay), quantization_penalty {}, gpus_used {}: {status}\n\n",
        o.placed_value, r.forced_moves, o.quantization_penalty, o.gpus_used
    );
    let rows: Vec<Vec<String>> = r
        .changes
        .iter()
        .map(|c| {
            vec![
                c.deployment.clone(),
                c.kept.to_string(),
                c.started.to_string(),
                c.stopped.to_string(),
                c.moved.to_string(),
            ]
        })
        .collect();
    out += &columns(&["DEPLOYMENT", "KEPT", "STARTED", "STOPPED", "MOVED"], &rows);
    if !r.invalid.is_empty() {
        out += "\ncannot stay:\n";
        for i in &r.invalid {
            out += &format!("  {} replica {}: {}\n", i.deployment, i.replica, i.reason);
        }
    }
    let steps = r.plan.migration.as_deref().unwrap_or(&[]);
    if !steps.is_empty() {
        out += "\n";
        let rows: Vec<Vec<String>> = steps
            .iter()
            .map(|s| {
                vec![
                    s.step.to_string(),
                    s.action.clone(),
                    format!("{}#{}", s.deployment, s.replica),
                    s.stages
                        .iter()
                        .map(|st| format!("{}:{}", st.node, fleetfit::formats::table::gpu_ranges(&st.gpus)))
                        .collect::<Vec<_>>()
                        .join(" "),
                    if s.break_before_make { "break before make" } else { "" }.to_string(),
                ]
            })
            .collect();
        out += &columns(&["STEP", "ACTION", "REPLICA", "GPUS", "NOTE"], &rows);
    }
    out
}
