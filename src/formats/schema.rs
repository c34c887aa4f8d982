//! JSON Schemas of the files fleetfit reads and writes, generated from the same types that parse
//! them, so editors (through a YAML language server) validate and complete what users write.
//!
//! The schemas are draft-07, the draft every YAML language server understands. They check shape
//! and field names; rules that relate fields (a node has `gpus` or the `gpu_count` shorthand,
//! divisibility, memory) stay with the loaders, which name the file and the field path.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

use super::deployments_file::DeploymentsFile;
use super::fleet_file::FleetFile;
use super::model_file::ModelList;
use super::scenarios_file::ScenariosFile;
use super::skus_file::SkusFile;
use crate::domain::Plan;

/// The kinds of file that have a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaKind {
    Fleet,
    Deployments,
    Plan,
    Scenarios,
    Skus,
    /// A catalog family file (`models:`), as under `models/`.
    Models,
}

impl SchemaKind {
    /// Every kind, in the order `fleetfit schema --help` lists them.
    pub const ALL: [SchemaKind; 6] = [
        SchemaKind::Fleet,
        SchemaKind::Deployments,
        SchemaKind::Plan,
        SchemaKind::Scenarios,
        SchemaKind::Skus,
        SchemaKind::Models,
    ];

    /// The kind's name on the command line and in the schema's title.
    pub fn name(self) -> &'static str {
        match self {
            SchemaKind::Fleet => "fleet",
            SchemaKind::Deployments => "deployments",
            SchemaKind::Plan => "plan",
            SchemaKind::Scenarios => "scenarios",
            SchemaKind::Skus => "skus",
            SchemaKind::Models => "models",
        }
    }
}

/// The schema of one kind of file, as a JSON value with a title naming it.
pub fn schema(kind: SchemaKind) -> serde_json::Value {
    let mut schema = match kind {
        SchemaKind::Fleet => of::<FleetFile>(),
        SchemaKind::Deployments => of::<DeploymentsFile>(),
        SchemaKind::Plan => of::<Plan>(),
        SchemaKind::Scenarios => of::<ScenariosFile>(),
        SchemaKind::Skus => of::<SkusFile>(),
        SchemaKind::Models => of::<ModelList>(),
    }
    .to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), format!("fleetfit {} file", kind.name()).into());
    }
    schema
}

/// The schema as pretty JSON with a trailing newline.
pub fn schema_text(kind: SchemaKind) -> String {
    let mut text = serde_json::to_string_pretty(&schema(kind)).expect("a schema always serializes");
    text.push('\n');
    text
}

fn of<T: JsonSchema>() -> Schema {
    SchemaSettings::draft07().into_generator().into_root_schema_for::<T>()
}
