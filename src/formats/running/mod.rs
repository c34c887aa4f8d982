//! `current import`'s readers: what runs on a fleet now, from Kubernetes' pod list or from each
//! bare-metal node's nvidia-smi and ps output, as [`crate::domain::Worker`]s for the importer to
//! match to deployments.

pub mod command;
pub mod pods;
pub mod smi;
