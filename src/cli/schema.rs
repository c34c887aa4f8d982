//! `fleetfit schema KIND`: the JSON Schema of a file kind, for editors and CI validation.

use std::process::ExitCode;

use clap::ValueEnum;
use fleetfit::formats::schema::{SchemaKind, schema_text};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which file: fleet, deployments, plan, scenarios, skus, or models (a catalog family file).
    #[arg(value_enum)]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Fleet,
    Deployments,
    Plan,
    Scenarios,
    Skus,
    Models,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let kind = match args.kind {
        Kind::Fleet => SchemaKind::Fleet,
        Kind::Deployments => SchemaKind::Deployments,
        Kind::Plan => SchemaKind::Plan,
        Kind::Scenarios => SchemaKind::Scenarios,
        Kind::Skus => SchemaKind::Skus,
        Kind::Models => SchemaKind::Models,
    };
    print!("{}", schema_text(kind));
    Ok(ExitCode::SUCCESS)
}
