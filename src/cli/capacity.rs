//! `fleetfit capacity`: the cheapest nodes to buy so that the demand fits, proven.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fleetfit::domain::{Plan, Unplaced};
use fleetfit::solver::capacity::{Capacity, CapacityStatus};
use fleetfit::workflows::capacity::capacity;

use super::{Format, Inputs};

#[derive(Debug, clap::Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// SKU file: the node types that can be bought (.yaml, .yml or .json).
    #[arg(long)]
    skus: PathBuf,
    /// Only deployments of at least this priority drive the purchase; the rest fill what is left.
    #[arg(long)]
    min_priority: Option<u64>,
    /// Bound on the whole run, in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = super::sweep::seconds)]
    time_limit: f64,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the JSON here too (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the grown fleet (the fleet plus the bought nodes) here, as YAML.
    #[arg(long)]
    out_fleet: Option<PathBuf>,
    /// Write the plan on the grown fleet here, alone (as `plan --out` writes a plan), so that
    /// `fleetfit check --fleet GROWN --deployments D --plan FILE` verifies it.
    #[arg(long)]
    out_plan: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Bought<'a> {
    sku: &'a str,
    count: u64,
}

#[derive(serde::Serialize)]
struct Json<'a> {
    status: CapacityStatus,
    cost: u64,
    bound: u64,
    purchase: Vec<Bought<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a Plan>,
    #[serde(skip_serializing_if = "<[Unplaced]>::is_empty")]
    unplaced: &'a [Unplaced],
    /// Where the search was narrower than the rules (then neither `optimal` nor `infeasible`).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    restrictions: &'a [String],
}

fn to_json(c: &Capacity) -> String {
    let json = Json {
        status: c.status,
        cost: c.cost,
        bound: c.bound,
        purchase: c
            .purchase
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(sku, count)| Bought { sku, count: *count })
            .collect(),
        plan: c.plan.as_ref(),
        unplaced: &c.unplaced,
        restrictions: &c.restrictions,
    };
    let mut text = serde_json::to_string_pretty(&json).expect("serializes");
    text.push('\n');
    text
}

fn table(c: &Capacity, skus: &[fleetfit::formats::skus_file::Sku]) -> String {
    let mut out = String::new();
    if c.status == CapacityStatus::Infeasible {
        writeln!(
            out,
            "infeasible: no purchase within every SKU's max places the required demand"
        )
        .unwrap();
        for u in &c.unplaced {
            if c.unplaced_proven() {
                writeln!(out, "  {}: {} of {} fit at most", u.deployment, u.placed, u.requested).unwrap();
            } else {
                writeln!(out, "  {}: {} of {} placed", u.deployment, u.placed, u.requested).unwrap();
            }
            for r in &u.reasons {
                writeln!(out, "    - {r}").unwrap();
            }
        }
        notes(&mut out, c);
        return out;
    }
    let rows: Vec<Vec<String>> = c
        .purchase
        .iter()
        .zip(skus)
        .filter(|((_, n), _)| *n > 0)
        .map(|((name, n), sku)| {
            vec![
                name.clone(),
                n.to_string(),
                sku.cost.to_string(),
                (n * sku.cost).to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        writeln!(out, "nothing to buy: the fleet already places the required demand").unwrap();
    } else {
        out += &fleetfit::formats::table::columns(&["SKU", "COUNT", "COST EACH", "COST"], &rows);
    }
    let status = match c.status {
        CapacityStatus::Optimal => "optimal (proven)".to_string(),
        _ => format!("time limit, cost at least {}", c.bound),
    };
    writeln!(out, "\ntotal cost {} (bound {}): {status}", c.cost, c.bound).unwrap();
    if let (Some(plan), Some(grown)) = (&c.plan, &c.grown) {
        let mut per_type: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (_, g) in grown.gpus() {
            per_type.entry(g.gpu_type.as_str()).or_default().0 += 1;
        }
        let mut used: std::collections::BTreeSet<(&str, u32)> = Default::default();
        for r in &plan.replicas {
            for s in &r.stages {
                for &g in &s.gpus {
                    if used.insert((s.node.as_str(), g)) {
                        per_type.entry(r.gpu_type.as_str()).or_default().1 += 1;
                    }
                }
            }
        }
        writeln!(out, "grown fleet, GPUs used per type:").unwrap();
        for (t, (total, used)) in per_type {
            writeln!(
                out,
                "  {t}: {used} of {total} ({:.0}%)",
                100.0 * used as f64 / total.max(1) as f64
            )
            .unwrap();
        }
        writeln!(
            out,
            "plan: placed_value {}, quantization_penalty {}, gpus_used {}",
            plan.objective.placed_value, plan.objective.quantization_penalty, plan.objective.gpus_used
        )
        .unwrap();
    }
    for fewer in &c.one_fewer {
        let sku = &fewer.sku;
        let Some(short) = &fewer.left_out else {
            writeln!(
                out,
                "one {sku} fewer: not settled (the plan without it was not proven within the time limit)"
            )
            .unwrap();
            continue;
        };
        let what: Vec<String> = short
            .iter()
            .map(|(d, n)| format!("{n} replica{} of {d}", if *n == 1 { "" } else { "s" }))
            .collect();
        let what = if what.is_empty() {
            "nothing required (the node only adds room for optional replicas and fewer GPUs used)".to_string()
        } else {
            what.join(", ")
        };
        writeln!(out, "one {sku} fewer would leave out: {what}").unwrap();
    }
    notes(&mut out, c);
    out
}

/// Where the search was narrower than the rules.
fn notes(out: &mut String, c: &Capacity) {
    for r in &c.restrictions {
        writeln!(out, "note: {r}").unwrap();
    }
}

pub fn run(args: CapacityArgs) -> anyhow::Result<ExitCode> {
    let (fleet, workload) = args.inputs.load()?;
    super::ensure_folders([&args.out, &args.out_fleet, &args.out_plan])?;
    let skus = fleetfit::formats::skus_file::load(&args.skus)?;
    let live = super::live::Live::start(false);
    let result = capacity(
        &fleet,
        &workload,
        &skus,
        &args.skus,
        args.min_priority,
        Duration::from_secs_f64(args.time_limit),
    )?;
    drop(live);
    let mut result = result;
    if let (Some(plan), Some(grown)) = (&mut result.plan, &result.grown) {
        // The plan belongs to the grown fleet, as `--out-fleet` writes it, and to the demand.
        let grown_yaml = fleetfit::formats::fleet_file::to_yaml(grown);
        plan.provenance = Some(fleetfit::formats::provenance::stamp([
            (
                "fleet",
                fleetfit::formats::provenance::digest_bytes(grown_yaml.as_bytes()),
            ),
            (
                "deployments",
                fleetfit::formats::provenance::digest_file(&args.inputs.deployments)?,
            ),
            ("skus", fleetfit::formats::provenance::digest_file(&args.skus)?),
        ]));
    }
    let json = to_json(&result);
    if let Some(out) = &args.out {
        super::write_file(out, &json)?;
    }
    if let (Some(out), Some(plan)) = (&args.out_plan, &result.plan) {
        super::write_file(out, &plan.to_json())?;
    }
    if let (Some(out), Some(grown)) = (&args.out_fleet, &result.grown) {
        let yaml = fleetfit::formats::fleet_file::to_yaml(grown);
        super::write_file(out, &yaml)?;
    }
    match args.format {
        Format::Json => print!("{json}"),
        Format::Table => print!("{}", table(&result, &skus)),
    }
    Ok(ExitCode::SUCCESS)
}
