//! The domain: what a fleet, a model, a deployment and a plan are, free of any file format.

pub mod deployment;
pub mod engine;
pub mod fleet;
pub mod model;
pub mod plan;
pub mod running;
pub mod sku;
pub mod totals;

pub use deployment::{Deployment, KvCacheDtype, Policy, Reserve, Runtime, Workload};
pub use engine::{Engine, EngineProfile, RuntimeMib};
pub use fleet::{Fleet, Gpu, GpuKind, Node};
pub use model::{Mla, ModelArch, Quantization};
pub use plan::{
    FleetUse, MigrationStep, Objective, PlacedReplica, Plan, Provenance, SolveStatus, Stage, Suggestion, Unplaced,
};
pub use running::{EngineCommand, PodRef, Running, Worker, WorkerGpus};
pub use sku::Sku;
pub use totals::make_plan;
