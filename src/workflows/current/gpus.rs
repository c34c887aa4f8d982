//! Which GPUs a worker holds: a pod's own device list where it can be trusted, else the lowest
//! GPUs of its node that can take it.

use std::collections::BTreeSet;

use super::Held;
use crate::domain::{Fleet, Worker, WorkerGpus};

/// Drops a worker read twice (the same pod, the same process), and takes a pod's GPU indices
/// only where they are the node's, distinct, and no other pod's; otherwise only their count.
pub(super) fn checked(fleet: &Fleet, workers: Vec<Worker>, warnings: &mut Vec<String>) -> Vec<Worker> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut claimed: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut out = Vec::with_capacity(workers.len());
    for mut w in workers {
        let key = match (&w.pod, w.pid) {
            (Some(p), _) => format!("pod {}/{}", p.namespace, p.pod),
            (None, Some(pid)) => format!("pid {pid}"),
            (None, None) => w.origin.clone(),
        };
        if !seen.insert((w.node.clone(), key.clone())) {
            warnings.push(format!("{}: {key} on {} is read twice; counted once", w.origin, w.node));
            continue;
        }
        if let (Some(_), WorkerGpus::Indices(gpus)) = (&w.pod, &w.gpus) {
            let node = fleet.node(&w.node);
            let own = gpus
                .iter()
                .all(|&g| node.is_some_and(|n| n.gpu(g).is_some()) && !claimed.contains(&(w.node.clone(), g)));
            if own {
                claimed.extend(gpus.iter().map(|&g| (w.node.clone(), g)));
            } else if node.is_some() {
                warnings.push(format!(
                    "{}: its visible devices {:?} are not free GPUs of node {}; its GPUs are taken as unknown",
                    w.origin, gpus, w.node
                ));
                w.gpus = WorkerGpus::Count(gpus.len() as u64);
            }
        }
        out.push(w);
    }
    out
}

/// The lowest GPUs of a node that can take a worker. `need`: whether it shares and its
/// reservation (`None`: a foreign pod, which any healthy GPU nothing holds can take).
/// With `threshold`, only eligible GPUs with room for the reservation; a sharing worker goes
/// best fit, onto the fullest shared GPU it fits, then free ones. Takes the GPUs chosen.
pub(super) fn pick(
    fleet: &Fleet,
    held: &mut Held,
    node: &str,
    count: u64,
    need: Option<(bool, u64)>,
    threshold: Option<crate::ratio::Decimal>,
) -> Option<Vec<u32>> {
    let n = fleet.node(node)?;
    let mut candidates: Vec<(u64, u32)> = Vec::new();
    for gpu in n.gpus.iter().filter(|g| g.healthy) {
        let workers = held.get(&(node.to_string(), gpu.index)).map_or(&[][..], Vec::as_slice);
        let taken: u64 = workers.iter().map(|x| x.1).sum();
        let room =
            |mib: u64| threshold.is_none_or(|t| gpu.is_eligible(t) && taken.saturating_add(mib) <= gpu.free_mib());
        match need {
            None if workers.is_empty() => candidates.push((u64::MAX, gpu.index)),
            None => {}
            Some((_, mib)) if workers.is_empty() && room(mib) => candidates.push((u64::MAX, gpu.index)),
            Some((true, mib)) if workers.iter().all(|x| !x.0) && room(mib) => {
                candidates.push((gpu.free_mib().saturating_sub(taken + mib), gpu.index))
            }
            Some(_) => {}
        }
    }
    if need.is_some_and(|(share, _)| share) {
        candidates.sort_unstable();
    }
    let chosen: Vec<u32> = candidates
        .iter()
        .take(usize::try_from(count).ok()?)
        .map(|c| c.1)
        .collect();
    ((chosen.len() as u64) == count).then(|| {
        for &g in &chosen {
            held.entry((node.to_string(), g))
                .or_default()
                .push((need.is_none_or(|(share, _)| !share), need.map_or(0, |(_, mib)| mib)));
        }
        chosen
    })
}
