//! Repair by an exact sub-MIP: a few nodes of the fleet are emptied, and HiGHS re-plans them
//! (with every replica that stood there, and every replica the plan leaves unplaced) as a
//! problem of their own, around the rest of the plan. Where HiGHS's whole-fleet search is held
//! up in its root node (4,096 GPUs: 31 s of cut rounds), these small models solve in
//! milliseconds, and each one finds the best packing of its nodes that the greedy placer's
//! first fit misses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::heuristic::placed_value;
use super::highs_run::{HighsSettings, LevelOutcome, Run, Starts, solve_level};
use super::{Formulation, Instance, assign};
use crate::domain::{Fleet, PlacedReplica, Workload};

/// The label that keeps a spread deployment off a neighbourhood node where one of its replicas
/// stays (the same device as `pinned`'s residual fleet).
const KEEP_OFF: &str = "fleetfit.io/repair-room";

/// A neighbourhood's sub-problem: its nodes, what is asked of them, and the replicas that stood
/// there (its start).
pub(super) struct Neighbourhood {
    fleet: Fleet,
    workload: Workload,
    inside: Vec<PlacedReplica>,
    outside: Vec<PlacedReplica>,
}

impl Neighbourhood {
    /// The sub-problem of `nodes` (indices into `fleet.nodes`) around `plan`: replicas wholly on
    /// those nodes are re-planned; replicas with a stage elsewhere stay, their GPUs taken; each
    /// deployment asks for what it asks of the fleet less what stays elsewhere; the fleet-wide
    /// reserves ask the nodes for what the GPUs left free elsewhere do not already keep.
    pub(super) fn new(fleet: &Fleet, workload: &Workload, plan: &[PlacedReplica], nodes: &BTreeSet<usize>) -> Self {
        let names: BTreeSet<&str> = nodes.iter().map(|&n| fleet.nodes[n].name.as_str()).collect();
        let (inside, outside): (Vec<PlacedReplica>, Vec<PlacedReplica>) = plan
            .iter()
            .cloned()
            .partition(|r| r.stages.iter().all(|s| names.contains(s.node.as_str())));
        // GPUs that stay taken: every GPU of a replica that stays.
        let mut taken: BTreeSet<(&str, u32)> = BTreeSet::new();
        let mut spread_stays: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut stays: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &outside {
            *stays.entry(r.deployment.as_str()).or_default() += 1;
            for s in &r.stages {
                for &g in &s.gpus {
                    taken.insert((s.node.as_str(), g));
                }
                if names.contains(s.node.as_str()) && workload.deployment(&r.deployment).is_some_and(|d| d.spread) {
                    spread_stays
                        .entry(r.deployment.as_str())
                        .or_default()
                        .insert(s.node.as_str());
                }
            }
        }
        let busy = workload.policy.busy_threshold;
        let mut sub_fleet = Fleet { nodes: Vec::new() };
        for &n in nodes {
            let mut node = fleet.nodes[n].clone();
            for gpu in &mut node.gpus {
                if taken.contains(&(fleet.nodes[n].name.as_str(), gpu.index)) {
                    gpu.healthy = false;
                }
            }
            sub_fleet.nodes.push(node);
        }
        // Eligible GPUs that stay unassigned outside the neighbourhood, by type.
        let mut free_outside: BTreeMap<&str, u64> = BTreeMap::new();
        let mut eligible_all: BTreeMap<&str, u64> = BTreeMap::new();
        for node in &fleet.nodes {
            for gpu in node.gpus.iter().filter(|g| g.is_eligible(busy)) {
                *eligible_all.entry(gpu.gpu_type.as_str()).or_default() += 1;
                if !names.contains(node.name.as_str()) && !taken.contains(&(node.name.as_str(), gpu.index)) {
                    *free_outside.entry(gpu.gpu_type.as_str()).or_default() += 1;
                }
            }
        }
        let mut sub = workload.clone();
        let reserve = &mut sub.policy.reserve;
        let keep = |want: u64, eligible: u64, free: u64| want.min(eligible).saturating_sub(free);
        reserve.fleet = keep(reserve.fleet, eligible_all.values().sum(), free_outside.values().sum());
        for (gpu_type, want) in &mut reserve.per_type {
            let t = gpu_type.as_str();
            *want = keep(
                *want,
                eligible_all.get(t).copied().unwrap_or(0),
                free_outside.get(t).copied().unwrap_or(0),
            );
        }
        for d in &mut sub.deployments {
            d.replicas = d
                .replicas
                .saturating_sub(stays.get(d.name.as_str()).copied().unwrap_or(0));
            if let Some(held) = spread_stays.get(d.name.as_str()) {
                let key = format!("{KEEP_OFF}-{}", d.name);
                for node in sub_fleet.nodes.iter_mut().filter(|n| !held.contains(n.name.as_str())) {
                    node.labels.insert(key.clone(), "yes".into());
                }
                d.node_selector.insert(key, "yes".into());
            }
        }
        sub.deployments.retain(|d| d.replicas > 0);
        Neighbourhood {
            fleet: sub_fleet,
            workload: sub,
            inside,
            outside,
        }
    }

    /// The best plan of the neighbourhood within `time_left`, joined with the replicas that
    /// stay; `None` unless it places more value than the replicas that stood there, or if `stop`
    /// turns on first.
    pub(super) fn solve(
        &self,
        time_left: Duration,
        settings: &HighsSettings,
        stop: &Arc<AtomicBool>,
    ) -> Option<Vec<PlacedReplica>> {
        let instance = Instance::new(&self.fleet, &self.workload);
        let form = Formulation::build(&instance);
        let start = super::start::from_replicas(&instance, &form, &self.inside)?;
        let before = placed_value(&self.workload, &self.inside) as f64;
        let settings = HighsSettings {
            mip_rel_gap: 0.0,
            verbose: false,
            relaxed: false,
            stop_at: None,
            max_nodes: Some(STEP_NODES),
            ..settings.clone()
        };
        let run = Run {
            time_left,
            settings: &settings,
            stop,
        };
        let (objective, maximise) = super::lexicographic::objective(&form, 0);
        let starts = Starts {
            hint: Some(&start),
            fallback: None,
        };
        let result = solve_level(&form, objective, maximise, &[], starts, &run).ok()?;
        if result.outcome == LevelOutcome::Infeasible || form.level_value(0, &result.values) < before + 0.5 {
            return None;
        }
        // (A step's columns are assigned only where they obey every row: a stopped sub-MIP
        // hands back what it has.)
        if !super::highs_run::satisfies(&form, &[], &result.values) {
            return None;
        }
        let placed = assign::assign(&instance, &form, &result.values).ok()?;
        Some(join(&self.outside, placed))
    }
}

/// The replicas that stay, joined with the neighbourhood's: new replicas take the lowest
/// numbers their deployment does not use yet.
fn join(outside: &[PlacedReplica], placed: Vec<PlacedReplica>) -> Vec<PlacedReplica> {
    let mut used: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for r in outside {
        used.entry(r.deployment.clone()).or_default().insert(r.replica);
    }
    let mut joined = outside.to_vec();
    for mut r in placed {
        let numbers = used.entry(r.deployment.clone()).or_default();
        let free = (0..).find(|n| !numbers.contains(n)).unwrap_or(0);
        numbers.insert(free);
        r.replica = free;
        joined.push(r);
    }
    joined
}

/// One repair step's time, a safety net: a neighbourhood of eight nodes is proven in 15-300 ms,
/// and the node limit below ends a step first, so that its result does not depend on the clock
/// (on a loaded machine a 500 ms limit changed which steps won, and where the search ended).
pub(super) const STEP_LIMIT: Duration = Duration::from_secs(3);

/// Branch-and-bound nodes per repair step.
const STEP_NODES: i32 = 500;

/// Whether `deadline` leaves room for another step.
pub(super) fn room_for_step(deadline: Instant) -> bool {
    deadline.saturating_duration_since(Instant::now()) > Duration::from_millis(50)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SolveStatus, make_plan};
    use crate::rng::Rng;
    use crate::synth::GenSpec;

    /// Every neighbourhood's plan, joined with what stays, keeps every rule where the
    /// fleet-wide and per-type reserves bind, spread deployments run and pipelined replicas span
    /// nodes: the checker judges each one. Reserves computed without the GPUs left free
    /// elsewhere, a spread deployment let onto a node where one of its replicas stays, or GPUs of
    /// a spanning replica handed out again, each fail it.
    #[test]
    fn neighbourhood_plans_keep_every_rule_and_place_more() {
        let (fleet, mut workload) = crate::synth::generated(&GenSpec::tight(512, 32));
        let fleet = crate::solver::planner_fleet(&fleet, &workload);
        assert!(workload.deployments.iter().any(|d| d.spread));
        assert!(
            workload
                .deployments
                .iter()
                .any(|d| d.pipeline_parallel.iter().any(|&pp| pp > 1))
        );
        // The greedy plan with every third replica left out: room a neighbourhood can fill...
        let plan: Vec<PlacedReplica> = crate::greedy::place(&fleet, &workload)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, r)| r)
            .collect();
        // ...but reserves that leave only 16 GPUs of it fleet-wide, 4 of them H100s.
        let totals = make_plan(&fleet, &workload, plan.clone(), SolveStatus::TimeLimit, None).fleet;
        let free_h100 = fleet
            .gpus()
            .filter(|(_, g)| g.gpu_type == "H100-SXM5-80GB" && g.is_eligible(workload.policy.busy_threshold))
            .count() as u64
            - plan
                .iter()
                .filter(|r| r.gpu_type == "H100-SXM5-80GB")
                .map(|r| r.stages.iter().map(|s| s.gpus.len() as u64).sum::<u64>())
                .sum::<u64>();
        workload.policy.reserve.fleet = totals.gpus_free - 16;
        workload
            .policy
            .reserve
            .per_type
            .insert("H100-SXM5-80GB".into(), free_h100 - 4);
        let before = placed_value(&workload, &plan);
        let settings = HighsSettings::default();
        let mut rng = Rng::new(7);
        let mut wins = 0;
        for _ in 0..30 {
            let nodes: BTreeSet<usize> = (0..8).map(|_| rng.below(fleet.nodes.len() as u64) as usize).collect();
            let Some(joined) = Neighbourhood::new(&fleet, &workload, &plan, &nodes).solve(
                STEP_LIMIT,
                &settings,
                &Arc::new(AtomicBool::new(false)),
            ) else {
                continue;
            };
            let checked = make_plan(&fleet, &workload, joined.clone(), SolveStatus::TimeLimit, None);
            assert_eq!(crate::check::check(&fleet, &workload, &checked), Vec::new());
            assert!(placed_value(&workload, &joined) > before);
            wins += 1;
        }
        assert!(wins > 0, "no neighbourhood placed more");
    }

    fn load(fleet_yaml: &str, deployments_yaml: &str) -> (Fleet, Workload) {
        let dir = tempfile::tempdir().unwrap();
        let (f, d) = (dir.path().join("fleet.yaml"), dir.path().join("deployments.yaml"));
        std::fs::write(&f, fleet_yaml).unwrap();
        std::fs::write(&d, deployments_yaml).unwrap();
        let workload = crate::formats::deployments_file::load(&d).unwrap();
        let fleet = crate::formats::fleet_file::load(&f).unwrap();
        (crate::solver::planner_fleet(&fleet, &workload), workload)
    }

    const BUSY: &str = "{index: 0, type: H100-SXM5-80GB, memory_mib: 81559, used_mib: 80000, utilization: 99}, \
                        {index: 1, type: H100-SXM5-80GB, memory_mib: 81559, used_mib: 80000, utilization: 99}";

    /// A replica with a stage outside the neighbourhood stays, its GPUs inside taken, and its
    /// spread deployment may not use the node it holds there: the neighbourhood of n2 and n3
    /// around a spread 70B replica on n1 and n2 places the small model on the four GPUs left,
    /// not a second 70B replica across n2 and n3.
    #[test]
    fn a_replica_that_spans_the_neighbourhood_stays_and_keeps_spread() {
        let deployments = "deployments:
  - {name: big, model: llama-3.1-70b, replicas: 2, priority: 10, tensor_parallel: [2], pipeline_parallel: [2], spread: true}
  - {name: small, model: qwen2.5-7b, replicas: 12, priority: 1, tensor_parallel: [1]}
";
        let node = |name: &str, busy: bool| {
            let free = (if busy { 2..4 } else { 0..4 })
                .map(|i| format!("{{index: {i}, type: H100-SXM5-80GB, memory_mib: 81559}}"))
                .collect::<Vec<_>>()
                .join(", ");
            let gpus = if busy { format!("{BUSY}, {free}") } else { free };
            format!("  - {{name: {name}, gpus: [{gpus}]}}\n")
        };
        // The 70B replica across n1 and n2, as the greedy placer puts it where each has two GPUs.
        let (narrow, workload) = load(
            &format!("nodes:\n{}{}", node("n1", true), node("n2", true)),
            deployments,
        );
        let mut only_big = workload.clone();
        only_big.deployments.retain(|d| d.name == "big");
        only_big.deployments[0].replicas = 1;
        let spanning = crate::greedy::place(&narrow, &only_big);
        assert_eq!(spanning.len(), 1);
        assert_eq!(spanning[0].stages.len(), 2);
        let (fleet, workload) = load(
            &format!("nodes:\n{}{}{}", node("n1", false), node("n2", false), node("n3", true)),
            deployments,
        );
        let mut plan = spanning.clone();
        for stage in &mut plan[0].stages {
            stage.gpus = vec![0, 1];
        }
        let settings = HighsSettings::default();
        let n2_n3 = BTreeSet::from([1, 2]);
        let joined = Neighbourhood::new(&fleet, &workload, &plan, &n2_n3)
            .solve(STEP_LIMIT, &settings, &Arc::new(AtomicBool::new(false)))
            .expect("the small model fits the four GPUs left");
        let checked = make_plan(&fleet, &workload, joined.clone(), SolveStatus::TimeLimit, None);
        assert_eq!(crate::check::check(&fleet, &workload, &checked), Vec::new());
        assert_eq!(checked.objective.placed_value, 10 + 4);
        assert_eq!(joined[0], plan[0]);
    }

    /// Replicas keep their numbers, and new ones take the lowest free numbers.
    #[test]
    fn joined_replicas_take_the_lowest_free_numbers() {
        let replica = |deployment: &str, replica| PlacedReplica {
            deployment: deployment.into(),
            replica,
            quantization: "bf16".into(),
            tensor_parallel: 1,
            pipeline_parallel: 1,
            gpu_type: "L40S".into(),
            memory_per_gpu_mib: 1,
            runtime_mib: None,
            stages: Vec::new(),
        };
        let joined = join(
            &[replica("a", 0), replica("a", 2)],
            vec![replica("a", 0), replica("a", 1), replica("b", 5)],
        );
        let numbers: Vec<(&str, u64)> = joined.iter().map(|r| (r.deployment.as_str(), r.replica)).collect();
        assert_eq!(numbers, vec![("a", 0), ("a", 2), ("a", 1), ("a", 3), ("b", 0)]);
    }
}
