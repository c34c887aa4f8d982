//! `fleetfit report`: one self-contained HTML page of a plan, and of what-if, drill, capacity and
//! re-plan results beside it. No network: the style and the script are inline, the page forbids
//! every fetch itself (`Content-Security-Policy: default-src 'none'`), and the fleet map is SVG
//! drawn by the script from a JSON island.
//!
//! The tables are written here and read without the script; the map needs it. Up to
//! [`fleet_map::GPU_CELLS_UP_TO`] GPUs every GPU is a cell (split by memory share where workers
//! share it); past that every node is a cell, split by its GPUs' use, and a click or Enter on it
//! shows its GPUs. Cells are grouped by GPU type, zone or rack (a switch), reachable by keyboard,
//! and show the replica, its shape and memory breakdown (weights, KV cache, runtime) and KV
//! capacity on hover or focus.

pub mod fleet_map;
pub mod html;
pub mod results;
pub mod tables;

use std::fmt::Write;

use crate::domain::{Fleet, Plan, Workload};
use crate::error::Error;
use html::{esc, json_island};
use results::{CapacityResult, DrillResult, WhatIfResult};

/// What a report shows beside the plan.
#[derive(Debug, Default)]
pub struct Extras {
    pub whatif: Option<WhatIfResult>,
    pub drill: Option<DrillResult>,
    pub capacity: Option<CapacityResult>,
    /// The plan that runs now: the report lists what moves from it to the plan.
    pub current: Option<Plan>,
}

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page for a plan, checked against the fleet and deployments first.
pub fn render(fleet: &Fleet, workload: &Workload, plan: &Plan, extras: &Extras) -> Result<String, Error> {
    let violations = crate::check::check(fleet, workload, plan);
    if !violations.is_empty() {
        return Err(Error::invalid_plan(&violations));
    }
    let data = fleet_map::map_data(fleet, workload, plan);
    let states = fleet_map::states(fleet, workload, plan);
    let gpus: usize = fleet.nodes.iter().map(|n| n.gpus.len()).sum();
    let mut body = String::new();
    let o = &plan.objective;
    let proof = match (plan.status, o.bound) {
        (crate::domain::SolveStatus::Optimal, _) => "proven optimal".to_string(),
        (_, Some(bound)) if bound.floor() as u64 <= o.placed_value => {
            "the value proven optimal; quantization and GPUs used not proven".to_string()
        }
        (_, Some(bound)) => format!("not proven: at most {} possible", bound.floor()),
        _ => "not proven".to_string(),
    };
    write!(
        body,
        "<header><h1>Fleet report</h1><p>{} nodes, {gpus} GPUs; {} replicas placed, value {} ({proof}); {} GPUs used.</p>",
        fleet.nodes.len(),
        plan.replicas.len(),
        o.placed_value,
        o.gpus_used
    )
    .unwrap();
    let sections = [
        ("map", "Fleet map", true),
        ("types", "GPU types", true),
        ("unplaced", "Unplaced demand", true),
        ("whatif", "What-if", extras.whatif.is_some()),
        ("drill", "Failure drill", extras.drill.is_some()),
        ("capacity", "Purchase", extras.capacity.is_some()),
        ("moves", "Moves", extras.current.is_some()),
    ];
    body.push_str("<nav aria-label=Sections><ul>");
    for (id, title, shown) in sections {
        if shown {
            write!(body, "<li><a href=\"#{id}\">{title}</a></li>").unwrap();
        }
    }
    body.push_str("</ul></nav></header><main>");
    body.push_str(&map_section(&data));
    write!(
        body,
        "<section id=types><h2>GPU types</h2>{}</section>",
        tables::gpu_types(fleet, &states)
    )
    .unwrap();
    write!(
        body,
        "<section id=unplaced><h2>Unplaced demand</h2>{}</section>",
        tables::unplaced(plan)
    )
    .unwrap();
    if let Some(w) = &extras.whatif {
        let base = w.scenarios.first().map(|s| s.objective.placed_value);
        write!(
            body,
            "<section id=whatif><h2>What-if: value lost per scenario</h2>{}{}</section>",
            other_base("what-if sweep", base, o.placed_value),
            tables::whatif(w)
        )
        .unwrap();
    }
    if let Some(d) = &extras.drill {
        write!(
            body,
            "<section id=drill><h2>Failure drill: value lost per failure</h2>{}{}</section>",
            other_base("drill", Some(d.base.objective.placed_value), o.placed_value),
            tables::drill(d)
        )
        .unwrap();
    }
    if let Some(c) = &extras.capacity {
        write!(
            body,
            "<section id=capacity><h2>Purchase</h2>{}</section>",
            tables::capacity(c, fleet)
        )
        .unwrap();
    }
    if let Some(current) = &extras.current {
        write!(
            body,
            "<section id=moves><h2>Moves from the running plan, in order</h2>{}</section>",
            tables::moves(current, plan)
        )
        .unwrap();
    }
    body.push_str("</main>");
    let json = serde_json::to_string(&data).expect("the map data serializes");
    Ok(format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>fleetfit report</title><style>{STYLE}</style></head>\
         <body>{body}{}<script>{SCRIPT}</script></body></html>\n",
        json_island("fleetfit-data", &json)
    ))
}

/// A note where a sweep's base is not the plan pictured: its losses are against its own base.
fn other_base(what: &str, base: Option<u64>, plan: u64) -> String {
    match base {
        Some(base) if base != plan => format!(
            "<p class=note role=note>This {what}'s base places value {base}; the plan above places {plan}. \
             It was run on other inputs or stopped by its time limit: its losses are against its own base.</p>"
        ),
        _ => String::new(),
    }
}

/// The map's frame: the grouping switch, the legend (one entry per deployment and state) and the
/// place the script draws in.
fn map_section(data: &fleet_map::MapData) -> String {
    let mut out = String::from("<section id=map><h2>Fleet map</h2>");
    out.push_str(
        "<fieldset class=switch><legend>Group nodes by</legend>\
         <label><input type=radio name=group value=type checked> GPU type</label>\
         <label><input type=radio name=group value=zone> zone</label>\
         <label><input type=radio name=group value=rack> rack</label></fieldset>",
    );
    out.push_str("<ul class=legend aria-label=Legend>");
    for (name, colour) in &data.deployments {
        write!(
            out,
            "<li data-legend=\"{}\"><span class=swatch style=\"background:{colour}\"></span>{}</li>",
            esc(name),
            esc(name)
        )
        .unwrap();
    }
    for (class, label) in [
        ("free", "free"),
        ("busy", "busy (used outside the plan)"),
        ("unhealthy", "unhealthy"),
        ("reserved", "kept free by a reserve"),
    ] {
        write!(
            out,
            "<li class=state><span class=\"swatch {class}\"></span>{label}</li>"
        )
        .unwrap();
    }
    out.push_str("</ul>");
    let level = if data.per_node { "node" } else { "gpu" };
    write!(
        out,
        "<p class=hint>{}</p><div id=groups data-level={level}></div>\
         <aside id=details aria-live=polite><p>Hover over a cell, or Tab to it, to see what runs there.</p></aside></section>",
        if data.per_node {
            "Each cell is a node, split by how its GPUs are used; click it (or press Enter) to see its GPUs."
        } else {
            "Each cell is a GPU; a GPU that workers share is split by their memory."
        }
    )
    .unwrap();
    out
}
