//! A warm start for HiGHS: the greedy plan's replicas written as values of the model's columns.
//!
//! Only a hint: HiGHS checks it and ignores it if it breaks a row, and the solver never falls
//! back to it (the zero plan and the greedy floor in `solve` do that). Replicas the model cannot
//! express one for one (sharing blocks with several stages, spread stages neither all on one node
//! nor all on distinct nodes) are left out of the start, which only makes it smaller.

use std::collections::BTreeMap;

use super::formulation::Formulation;
use super::instance::{BlockMode, Instance};
use super::sharing::Layout;
use crate::domain::{Fleet, PlacedReplica, Plan, SolveStatus, Workload, make_plan};

/// Column values for `replicas`, or `None` where they do not map onto the model.
pub fn from_replicas(instance: &Instance<'_>, form: &Formulation, replicas: &[PlacedReplica]) -> Option<Vec<f64>> {
    let mut start = Start::new(instance, form);
    for replica in replicas {
        start.add(replica)?;
    }
    start.finish()
}

struct Start<'i, 'a> {
    instance: &'i Instance<'a>,
    form: &'i Formulation,
    values: Vec<f64>,
    node_of: BTreeMap<&'i str, usize>,
    class_of: Vec<Option<usize>>,
    supply_of: BTreeMap<(usize, usize, u64), usize>,
    placement_of: BTreeMap<(usize, usize), usize>,
    /// Sharing workers per (node, GPU position): (placement, reservation MiB).
    shared: BTreeMap<(usize, usize), Vec<(usize, u64)>>,
}

impl<'i, 'a> Start<'i, 'a> {
    fn new(instance: &'i Instance<'a>, form: &'i Formulation) -> Self {
        let mut class_of = vec![None; instance.fleet.nodes.len()];
        for (c, class) in instance.classes.iter().enumerate() {
            for &n in &class.nodes {
                class_of[n] = Some(c);
            }
        }
        let supply_of = instance
            .pool
            .supplies
            .iter()
            .enumerate()
            .map(|(s, supply)| ((supply.class, supply.key, supply.level_mib), s))
            .collect();
        let placement_of = instance
            .placements
            .iter()
            .enumerate()
            .map(|(p, placement)| ((placement.block, placement.class), p))
            .collect();
        Start {
            instance,
            form,
            values: vec![0.0; form.vars.len()],
            node_of: instance
                .fleet
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.as_str(), i))
                .collect(),
            class_of,
            supply_of,
            placement_of,
            shared: BTreeMap::new(),
        }
    }

    /// The model's option for a replica: its own shape, or one that dominates it.
    fn option_of(&self, replica: &PlacedReplica) -> Option<usize> {
        let workload = self.instance.workload;
        let d = workload.deployments.iter().position(|d| d.name == replica.deployment)?;
        let q = replica.quantization.parse().ok()?;
        let rank = workload.deployments[d].quantization_rank(q)?;
        let first = replica.stages.first()?;
        let node = &self.instance.fleet.nodes[*self.node_of.get(first.node.as_str())?];
        let kind = node.gpu(*first.gpus.first()?)?.kind();
        let candidates = self
            .instance
            .options
            .iter()
            .enumerate()
            .filter(|(_, o)| o.deployment == d && o.kind == kind && o.pp == replica.pipeline_parallel);
        let mut best = None;
        for (i, o) in candidates {
            if o.tp == replica.tensor_parallel && o.quantization_rank == rank {
                return Some(i);
            }
            if o.tp <= replica.tensor_parallel
                && o.quantization_rank <= rank
                && o.reserve_mib <= replica.memory_per_gpu_mib
                && best.is_none()
            {
                best = Some(i);
            }
        }
        best
    }

    fn add(&mut self, replica: &PlacedReplica) -> Option<()> {
        let Some(o) = self.option_of(replica) else {
            return Some(()); // not expressible: leave it out
        };
        let instance = self.instance;
        let option = &instance.options[o];
        let mut stages: Vec<(usize, Vec<usize>)> = Vec::new();
        for stage in &replica.stages {
            let n = *self.node_of.get(stage.node.as_str())?;
            let node = &instance.fleet.nodes[n];
            let positions: Vec<usize> = stage
                .gpus
                .iter()
                .take(option.tp as usize)
                .map(|&g| node.gpus.iter().position(|gpu| gpu.index == g))
                .collect::<Option<_>>()?;
            stages.push((n, positions));
        }
        let blocks: Vec<usize> = (0..instance.blocks.len())
            .filter(|&b| instance.blocks[b].option == o)
            .collect();
        let block = &instance.blocks[*blocks.first()?];
        if let Some((k, _)) = instance.pool.demand[o] {
            for (n, _) in &stages {
                let class = self.class_of[*n]?;
                let pool = instance.classes[class]
                    .profile
                    .pools
                    .iter()
                    .find(|p| p.kind == option.kind)?;
                let level = *pool.free_mib_desc.iter().rev().find(|&&f| f >= option.reserve_mib)?;
                let s = *self.supply_of.get(&(class, k, level))?;
                self.values[self.form.pool.v[s].index] += 1.0;
            }
        } else if let Some(g) = block.share_group {
            let rep = instance.share_groups[g].block;
            for (n, positions) in &stages {
                let p = *self.placement_of.get(&(rep, self.class_of[*n]?))?;
                self.values[p] += 1.0;
                for &position in positions {
                    self.shared
                        .entry((*n, position))
                        .or_default()
                        .push((p, option.reserve_mib));
                }
            }
        } else if block.shared {
            return Some(()); // several stages sharing GPUs: not in the start
        } else {
            // Chunks of a split option: stages per node, the sizes a partition of pp.
            let Some(split) = instance.splits.iter().position(|sp| sp.option == o) else {
                return Some(()); // a shape the model has no split for: leave it out
            };
            let mut per_node: BTreeMap<usize, u64> = BTreeMap::new();
            for (n, _) in &stages {
                *per_node.entry(*n).or_default() += 1;
            }
            let mut parts = vec![0u64; option.pp as usize];
            for (&n, &k) in &per_node {
                parts[k as usize - 1] += 1;
                let b = *blocks
                    .iter()
                    .find(|&&b| instance.blocks[b].mode == BlockMode::Chunk && instance.blocks[b].stages == k)?;
                let p = *self.placement_of.get(&(b, self.class_of[n]?))?;
                self.values[p] += 1.0;
            }
            let j = instance.splits[split].parts.iter().position(|m| *m == parts)?;
            self.values[self.form.chunks.split_counts[split][j].index] += 1.0;
        }
        self.values[self.form.x.len() + o] += 1.0;
        Some(())
    }

    fn finish(mut self) -> Option<Vec<f64>> {
        // Sharing columns: per GPU, the workers it holds.
        for class in &self.form.sharing.classes {
            let holders: Vec<&Vec<(usize, u64)>> = class
                .gpus
                .iter()
                .filter_map(|&g| self.shared.get(&(class.node, g)))
                .collect();
            match &class.layout {
                Layout::PerGpu { used, workers } => {
                    // Alike GPUs: the used ones go first, as the model's order rows want.
                    for (i, held) in holders.iter().enumerate() {
                        self.values[used.get(i)?.index] = 1.0;
                        for &(p, _) in held.iter() {
                            let w = workers.iter().find(|&&(q, g, _)| q == p && g == i)?;
                            self.values[w.2.index] += 1.0;
                        }
                    }
                }
                Layout::Patterns {
                    slot_mib,
                    patterns,
                    z,
                    workers,
                } => {
                    for held in holders {
                        let mut sizes: Vec<u64> = held.iter().map(|&(_, r)| r).collect();
                        sizes.sort_unstable_by(|a, b| b.cmp(a));
                        let j = patterns.iter().position(|pattern| covers(slot_mib, pattern, &sizes))?;
                        self.values[z[j].index] += 1.0;
                        for &(p, _) in held.iter() {
                            let w = workers.iter().find(|&&(q, _)| q == p)?;
                            self.values[w.1.index] += 1.0;
                        }
                    }
                }
            }
        }
        // The pool's running surplus, which must never go negative.
        let pool = &self.instance.pool;
        let mut net: Vec<Vec<f64>> = pool.thresholds.iter().map(|t| vec![0.0; t.len()]).collect();
        for (s, supply) in pool.supplies.iter().enumerate() {
            net[supply.key][supply.enters] += self.values[self.form.pool.v[s].index];
        }
        for (o, demand) in pool.demand.iter().enumerate() {
            if let Some((k, t)) = *demand {
                net[k][t] -= self.instance.options[o].pp as f64 * self.values[self.form.x.len() + o];
            }
        }
        for (k, per_key) in net.into_iter().enumerate() {
            let mut carried = 0.0;
            for (i, entering) in per_key.into_iter().enumerate() {
                carried += entering;
                if carried < 0.0 {
                    return None;
                }
                self.values[self.form.pool.surplus[k][i].index] = carried;
            }
        }
        Some(self.values)
    }
}

/// Whether a pattern's slots (sizes `slot_mib`, high to low) hold workers of `sizes` (high to
/// low): for every size, at least as many slots that large as workers that need it.
fn covers(slot_mib: &[u64], pattern: &[u64], sizes: &[u64]) -> bool {
    slot_mib.iter().enumerate().all(|(s, &t)| {
        let slots: u64 = pattern[..=s].iter().sum();
        sizes.iter().filter(|&&r| r >= t).count() as u64 <= slots
    }) && sizes.iter().all(|&r| r <= slot_mib[0])
}

/// The start plan of `options` filled in by greedy, with its plan, where the start obeys the
/// rules (it keeps its replicas; greedy places what it leaves).
pub(crate) fn filled(
    fleet: &Fleet,
    workload: &Workload,
    options: &super::SolveOptions,
) -> Option<(Vec<PlacedReplica>, Plan)> {
    let start = options.start.as_ref()?;
    let kept = make_plan(fleet, workload, start.clone(), SolveStatus::TimeLimit, None);
    if !crate::check::check(fleet, workload, &kept).is_empty() {
        return None;
    }
    let filled = crate::greedy::place_around(fleet, workload, start);
    let plan = make_plan(fleet, workload, filled.clone(), SolveStatus::TimeLimit, None);
    crate::check::check(fleet, workload, &plan)
        .is_empty()
        .then_some((filled, plan))
}

/// A filled start that reaches a known optimum on every level is this instance's optimum: the
/// answer, every level recorded as settled by the known bound.
pub(crate) fn at_known_optimum(
    fleet: &Fleet,
    workload: &Workload,
    options: &super::SolveOptions,
    filled: Option<&(Vec<PlacedReplica>, Plan)>,
    started: std::time::Instant,
) -> Option<crate::error::Result<super::Solved>> {
    let ((replicas, plan), known) = (filled?, options.known_bound?);
    let (q, g) = (known.quantization_penalty?, known.gpus_used?);
    if super::heuristic::plan_key(plan) != (known.placed_value, std::cmp::Reverse(q), std::cmp::Reverse(g)) {
        return None;
    }
    let mut stats = super::SolveStats::default();
    for (i, name) in super::LEVEL_NAMES.into_iter().enumerate() {
        let value = known.level(i).unwrap_or_default();
        stats.levels.push(super::LevelStats {
            name,
            value,
            bound: value,
            settled: super::Settled::KnownBound,
            seconds: 0.0,
        });
    }
    let bound = Some(known.placed_value as f64);
    let plan = make_plan(fleet, workload, replicas.clone(), SolveStatus::Optimal, bound);
    stats.total_seconds = started.elapsed().as_secs_f64();
    stats.reached_known_bound = true;
    Some(super::checked(fleet, workload, &plan).map(|()| super::Solved { plan, stats }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::{Formulation, Instance};
    use crate::synth::GenSpec;

    #[test]
    fn the_greedy_plan_is_a_complete_warm_start() {
        // Every greedy replica of a generated fleet maps onto the model's columns, so HiGHS
        // starts from greedy's value.
        let (fleet, workload) = crate::synth::generated(&GenSpec::tight(512, 32));
        let instance = Instance::new(&fleet, &workload);
        let form = Formulation::build(&instance);
        let greedy = crate::greedy::plan(&fleet, &workload);
        let start = from_replicas(&instance, &form, &greedy.replicas).expect("a start");
        assert_eq!(form.level_value(0, &start), greedy.objective.placed_value as f64);
    }
}
