//! fleetfit places a whole GPU fleet's LLM deployments with one integer program.
//!
//! Files ([`formats`]) become the domain ([`domain`]); the [`memory`] model and [`shapes`] say
//! what each replica costs; the [`solver`] builds and solves the integer program with HiGHS; the
//! [`check`]er re-derives every rule (docs/rules.md) on the result. See ARCHITECTURE.md.

pub mod check;
pub mod domain;
pub mod emit;
pub mod error;
pub mod explain;
pub mod formats;
pub mod greedy;
pub mod lint;
pub mod memory;
pub mod numbers;
pub mod ratio;
pub mod report;
pub mod rng;
pub mod shapes;
pub mod solver;
pub mod suggest;
pub mod synth;
pub mod workflows;

pub use error::{Error, InputError, Result};
pub use formats::{catalog, engines};
