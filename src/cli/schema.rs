//! `fleetfit schema KIND`: the JSON Schema of a file kind, for editors and CI validation.

use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use fleetfit::formats::schema::{SchemaKind, schema_text};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which file: fleet, deployments, plan, scenarios, skus, or models (a catalog family file).
    #[arg(value_parser = PossibleValuesParser::new(SchemaKind::ALL.map(SchemaKind::name)))]
    kind: String,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    // clap has already refused any other name.
    let kind = SchemaKind::ALL
        .into_iter()
        .find(|k| k.name() == args.kind)
        .expect("clap accepts only the kinds' names");
    print!("{}", schema_text(kind));
    Ok(ExitCode::SUCCESS)
}
