//! One integration-test binary (fast linking); each module covers one area.

mod api;
mod brute;
mod capacity;
mod capacity_props;
mod catalog;
mod cli;
mod common;
mod emit;
mod errors;
mod exactness;
mod explain;
mod formats;
mod fuzz;
mod import;
mod interface;
mod lint;
mod props;
mod replan;
mod rules;
mod schema;
mod seeds;
mod sharing;
mod suggest;
mod synth;
mod tables;
mod whatif;
