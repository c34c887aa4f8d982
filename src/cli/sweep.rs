//! `fleetfit whatif`, `fleetfit drill` and `fleetfit merge`: many solves, in parallel, and
//! across machines through shards.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fleetfit::solver::SolveOptions;
use fleetfit::workflows::drill::{self, Drill, Failure};
use fleetfit::workflows::shard::{self, Indexed, Merged, Partial, Shard};
use fleetfit::workflows::whatif::{self, WhatIf};
use fleetfit::workflows::{Base, SweepOptions, table};

use super::{Format, Inputs};

/// What every sweep takes.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Threads solving cases side by side (default: every core); each solve uses one.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Bound on each solve, in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    time_limit: f64,
    /// Relative gap at which each solve's first level may stop (0 proves optimality).
    #[arg(long, default_value_t = 0.0, value_parser = gap)]
    gap: f64,
    /// Solve only the cases with index K mod N and write a partial result for `fleetfit merge`:
    /// `K/N`, or `N` with K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.
    #[arg(long, value_parser = shard_arg)]
    shard: Option<Shard>,
    /// What to print on stdout (a shard always writes its partial JSON).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the JSON here too (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A positive, finite number of seconds, at most a week.
pub(super) fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if value.is_finite() && value > 0.0 && value <= 604_800.0 {
        Ok(value)
    } else {
        Err(format!(
            "must be more than 0 and at most 604800 seconds (a week), not {text}"
        ))
    }
}

/// A relative gap: a fraction in [0, 1).
pub(super) fn gap(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if value.is_finite() && (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is not a fraction in [0, 1)"))
    }
}

fn shard_arg(text: &str) -> Result<Shard, String> {
    Shard::parse(text, |name| std::env::var(name).ok())
}

impl SweepArgs {
    /// Sweep options, with a progress bar on stderr when it is a terminal (cleared by `done`).
    fn options(&self, cases: u64) -> (SweepOptions, Option<indicatif::ProgressBar>) {
        let mut options = SweepOptions {
            solve: SolveOptions {
                time_limit: Duration::from_secs_f64(self.time_limit),
                mip_rel_gap: self.gap,
                ..SolveOptions::default()
            },
            shard: self.shard.unwrap_or(Shard::ALL),
            ..SweepOptions::default()
        };
        if let Some(jobs) = self.jobs {
            options.jobs = jobs as usize;
        }
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(cases);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} solves, {elapsed} ({eta} left)")
                    .expect("a valid template"),
            );
            let ticker = bar.clone();
            options.progress = Some(Arc::new(move || ticker.inc(1)));
            bar
        });
        (options, bar)
    }

    /// Prints (and writes) the JSON, or the table.
    fn emit(&self, json: &str, table: impl FnOnce() -> String) -> anyhow::Result<ExitCode> {
        if let Some(out) = &self.out {
            super::write_file(out, json)?;
        }
        match self.format {
            Format::Json => print!("{json}"),
            Format::Table => print!("{}", table()),
        }
        Ok(ExitCode::SUCCESS)
    }

    /// A shard's partial JSON, on stdout and in `--out`.
    fn emit_partial(&self, partial: &Partial) -> anyhow::Result<ExitCode> {
        let json = partial.to_json();
        if let Some(out) = &self.out {
            super::write_file(out, &json)?;
        } else {
            print!("{json}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub struct WhatIfArgs {
    #[command(flatten)]
    sweep: SweepArgs,
    /// Scenarios file (.yaml, .yml or .json).
    #[arg(long)]
    scenarios: PathBuf,
}

pub fn whatif(args: WhatIfArgs) -> anyhow::Result<ExitCode> {
    let base = Base::load_with(
        &args.sweep.inputs.fleet,
        &args.sweep.inputs.deployments,
        &args.sweep.inputs.profiles,
    )?;
    let file = fleetfit::formats::scenarios_file::load(&args.scenarios)?;
    let cases = file.scenarios.len() + 1;
    let (options, bar) = args.sweep.options(cases as u64);
    let results = whatif::run(&base, &file, &args.scenarios, &options);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let results = results?;
    if args.sweep.shard.is_some() {
        return args.sweep.emit_partial(&Partial {
            command: "whatif".into(),
            shard: options.shard,
            cases,
            base: None,
            whatif: results
                .into_iter()
                .map(|(index, result)| Indexed { index, result })
                .collect(),
            drill: Vec::new(),
            inputs: Some(fleetfit::formats::provenance::stamp_files(&[
                ("fleet", &args.sweep.inputs.fleet),
                ("deployments", &args.sweep.inputs.deployments),
                ("scenarios", &args.scenarios),
            ])?),
        });
    }
    let report = WhatIf {
        scenarios: results.into_iter().map(|(_, r)| r).collect(),
    };
    args.sweep.emit(&report.to_json(), || table::whatif(&report))
}

#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    #[command(flatten)]
    sweep: SweepArgs,
    /// What fails, one case at a time: `node`, `gpu` (each eligible GPU) or `label=KEY` (all
    /// nodes with one value of the label together).
    #[arg(long)]
    fail: Failure,
}

pub fn drill(args: DrillArgs) -> anyhow::Result<ExitCode> {
    let base = Base::load_with(
        &args.sweep.inputs.fleet,
        &args.sweep.inputs.deployments,
        &args.sweep.inputs.profiles,
    )?;
    let cases = drill::cases(&base, &args.fail)?.len();
    let (options, bar) = args.sweep.options(cases as u64 + 1);
    let results = drill::run(&base, &args.fail, &options);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (base_outcome, results) = results?;
    if args.sweep.shard.is_some() {
        return args.sweep.emit_partial(&Partial {
            command: "drill".into(),
            shard: options.shard,
            cases,
            base: Some(base_outcome),
            whatif: Vec::new(),
            drill: results
                .into_iter()
                .map(|(index, result)| Indexed { index, result })
                .collect(),
            inputs: Some(args.sweep.inputs.provenance()?),
        });
    }
    let report = Drill::new(base_outcome, results.into_iter().map(|(_, r)| r).collect());
    args.sweep.emit(&report.to_json(), || table::drill(&report))
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Partial results of `whatif --shard` or `drill --shard`, one per shard.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Write the joined JSON here too (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut parts = Vec::with_capacity(args.parts.len());
    for path in &args.parts {
        let part: Partial = fleetfit::formats::parse_file(path)?;
        parts.push((path.clone(), part));
    }
    let (json, text) = match shard::merge(&parts)? {
        Merged::WhatIf(report) => (report.to_json(), table::whatif(&report)),
        Merged::Drill(report) => (report.to_json(), table::drill(&report)),
    };
    if let Some(out) = &args.out {
        super::write_file(out, &json)?;
    }
    match args.format {
        Format::Json => print!("{json}"),
        Format::Table => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
