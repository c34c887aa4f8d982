//! Capacity planning's candidate nodes: which SKU nodes the search may buy, and how they are named.

use crate::domain::{Fleet, Gpu, Node, Sku, Workload};
use crate::error::{InputError, Result};

use super::instance::Purchase;

/// Candidate nodes per SKU without a `max` in the first search; where that search finds no
/// purchase, a second one takes every node that could help ([`upper_bound`]).
pub const MAX_CANDIDATES: u64 = 32;

/// Whether deployment `d` must be placed whole.
pub(super) fn required(workload: &Workload, d: usize, min_priority: Option<u64>) -> bool {
    let dep = &workload.deployments[d];
    dep.replicas > 0 && min_priority.is_none_or(|p| dep.priority >= p)
}

/// The fleet plus candidate nodes, and which of its nodes are candidates.
pub(super) fn with_candidates(
    fleet: &Fleet,
    workload: &Workload,
    skus: &[Sku],
    min_priority: Option<u64>,
    path: &std::path::Path,
    cap: Option<u64>,
) -> Result<(Fleet, Vec<Option<Purchase>>, Vec<String>)> {
    let mut grown = fleet.clone();
    let mut purchase = vec![None; fleet.nodes.len()];
    let mut restrictions = Vec::new();
    for (s, sku) in skus.iter().enumerate() {
        let count = match sku.max {
            Some(max) => max,
            None => {
                let needed = upper_bound(workload, sku, min_priority);
                match cap {
                    Some(cap) if needed > cap => {
                        restrictions.push(format!(
                            "SKU {} has no max; at most {cap} of its nodes were considered",
                            sku.name
                        ));
                        cap
                    }
                    _ => needed,
                }
            }
        };
        for i in 1..=count {
            let name = format!("{}-{i}", sku.name);
            if fleet.node(&name).is_some() {
                return Err(InputError::new(
                    path,
                    format!("skus[{s}].name"),
                    format!("a bought node would be named '{name}', which the fleet already has"),
                )
                .into());
            }
            grown.nodes.push(bought_node(sku, name));
            purchase.push(Some(Purchase { sku: s, cost: sku.cost }));
        }
    }
    Ok((grown, purchase, restrictions))
}

/// A new node of a SKU: idle, healthy GPUs indexed from 0, the SKU's labels.
pub fn bought_node(sku: &Sku, name: String) -> Node {
    Node {
        name,
        labels: sku.labels.clone(),
        gpus: (0..sku.gpu_count)
            .map(|index| Gpu {
                index,
                gpu_type: sku.gpu_type.clone(),
                memory_mib: sku.memory_mib,
                reserved_mib: sku.reserved_mib,
                used_mib: 0,
                utilization: 0,
                healthy: true,
                kind_memory_mib: sku.memory_mib - sku.reserved_mib,
                view_free_mib: None,
                view_ladder: None,
            })
            .collect(),
    }
}

/// Nodes of one SKU that could ever help: one per required replica GPU (a node hosts at least
/// one), plus the reserves, plus one.
fn upper_bound(workload: &Workload, sku: &Sku, min_priority: Option<u64>) -> u64 {
    let usable = (sku.gpu_count as u64)
        .saturating_sub(workload.policy.reserve.per_node)
        .max(1);
    let mut gpus = 0u64;
    for (d, dep) in workload.deployments.iter().enumerate() {
        if required(workload, d, min_priority) && dep.allows_type(&sku.gpu_type) {
            let smallest = dep
                .tensor_parallel
                .iter()
                .flat_map(|tp| dep.pipeline_parallel.iter().map(move |pp| tp * pp))
                .min()
                .unwrap_or(1);
            gpus += dep.replicas * smallest.div_ceil(usable) * usable;
        }
    }
    let r = &workload.policy.reserve;
    gpus += r.fleet + r.per_type.get(&sku.gpu_type).copied().unwrap_or(0);
    gpus.div_ceil(usable) + 1
}
