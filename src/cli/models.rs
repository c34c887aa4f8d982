//! `fleetfit models`: the catalog built into the binary.

use std::process::ExitCode;

use fleetfit::catalog::Catalog;
use fleetfit::formats::table::columns;

use super::Format;

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// What to print.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let entries = Catalog::builtin().entries();
    match args.format {
        Format::Table => {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let m = &e.model;
                    vec![
                        m.id.clone(),
                        m.params.to_string(),
                        m.layers.to_string(),
                        m.heads.to_string(),
                        m.kv_heads.to_string(),
                        m.dtype.to_string(),
                        if m.mla.is_some() { "mla".into() } else { String::new() },
                    ]
                })
                .collect();
            print!(
                "{}",
                columns(
                    &["ID", "PARAMS", "LAYERS", "HEADS", "KV-HEADS", "DTYPE", "ATTENTION"],
                    &rows
                )
            );
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| {
                    let m = &e.model;
                    serde_json::json!({
                        "id": m.id, "repo": e.repo, "params": m.params, "layers": m.layers,
                        "hidden_size": m.hidden_size, "heads": m.heads, "kv_heads": m.kv_heads,
                        "head_dim": m.head_dim, "dtype": m.dtype.name(),
                        "max_position_embeddings": m.max_position_embeddings,
                        "kv_lora_rank": m.mla.map(|x| x.kv_lora_rank),
                        "qk_rope_head_dim": m.mla.map(|x| x.qk_rope_head_dim),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
