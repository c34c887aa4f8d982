//! Nodes and deployments by name, built once per check so that checking a 100,000-GPU plan
//! looks each name up in constant time rather than scanning the fleet per replica.

use std::collections::HashMap;

use crate::domain::{Deployment, Fleet, Node, Workload};

/// The fleet's nodes and the workload's deployments by name.
pub struct Lookup<'a> {
    nodes: HashMap<&'a str, &'a Node>,
    deployments: HashMap<&'a str, &'a Deployment>,
}

impl<'a> Lookup<'a> {
    pub fn new(fleet: &'a Fleet, workload: &'a Workload) -> Lookup<'a> {
        Lookup {
            nodes: fleet.nodes.iter().map(|n| (n.name.as_str(), n)).collect(),
            deployments: workload.deployments.iter().map(|d| (d.name.as_str(), d)).collect(),
        }
    }

    pub fn node(&self, name: &str) -> Option<&'a Node> {
        self.nodes.get(name).copied()
    }

    pub fn deployment(&self, name: &str) -> Option<&'a Deployment> {
        self.deployments.get(name).copied()
    }
}
