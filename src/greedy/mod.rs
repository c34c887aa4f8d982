//! The greedy placer, the way one-request-at-a-time schedulers (GPUStack and the like) work:
//! deployments by priority, each replica in the first shape that fits (preferred quantization,
//! then fewest GPUs), on the first nodes with room (sharing workers first where GPUs are already
//! shared, as GPUStack's bin-packing does). The baseline for benchmarks and a floor for the
//! solver: `fleetfit` never returns a plan worse than this one.

use std::collections::BTreeSet;

use crate::domain::make_plan;
use crate::domain::{Fleet, PlacedReplica, Plan, SolveStatus, Stage, Workload};
use crate::shapes::{self, ShapeOption};

mod fill;
use fill::Fill;

/// Which of the LP's shapes [`place_guided`] places first. No one order wins on every fleet, so
/// the solver tries them all and keeps the best plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuideOrder {
    /// Fewest GPUs that could hold the shape.
    Scarcest,
    /// Most GPUs asked for per GPU that could hold them.
    Tightest,
    /// As `Tightest`, weighing each GPU by the memory it must give.
    TightestByMemory,
    /// As `Tightest`, per GPU of the shape's TP group plus one (narrow shapes first).
    TightestNarrowFirst,
}

impl GuideOrder {
    pub const ALL: [GuideOrder; 4] = [
        GuideOrder::Scarcest,
        GuideOrder::Tightest,
        GuideOrder::TightestByMemory,
        GuideOrder::TightestNarrowFirst,
    ];

    /// Sort key, smallest first: `count` replicas of `option`, `candidates` GPUs that could hold one.
    fn key(self, option: &ShapeOption, count: u64, candidates: u64) -> u128 {
        let asked = u128::from(count) * u128::from(option.gpus());
        let candidates = u128::from(candidates.max(1));
        let tightness = match self {
            GuideOrder::Scarcest => return candidates,
            GuideOrder::Tightest => asked * 1_000 / candidates,
            GuideOrder::TightestByMemory => asked * u128::from(option.reserve_mib) / candidates,
            GuideOrder::TightestNarrowFirst => asked * 1_000_000 / candidates / (1 + u128::from(option.tp)),
        };
        u128::MAX - tightness
    }
}

/// Greedy around replicas that stay where they are (a running plan, a base plan minus a failed
/// part): `fixed` keep their places and numbers, then the usual greedy places what demand is
/// left. `fixed` must obey the rules on `fleet` (the caller checks).
pub fn place_around(fleet: &Fleet, workload: &Workload, fixed: &[PlacedReplica]) -> Vec<PlacedReplica> {
    fill_from(fleet, workload, fixed, &[], GuideOrder::Scarcest)
}

/// The greedy plan, as a plan.
pub fn plan(fleet: &Fleet, workload: &Workload) -> Plan {
    make_plan(fleet, workload, place(fleet, workload), SolveStatus::TimeLimit, None)
}

/// The replicas the greedy placer places.
pub fn place(fleet: &Fleet, workload: &Workload) -> Vec<PlacedReplica> {
    place_guided(fleet, workload, &[], GuideOrder::Scarcest)
}

/// Greedy with a head start: first `count` replicas of each given shape, most constrained shapes
/// first (as `order` measures it; ties: the largest first), each on the GPUs with the least free
/// memory that fit (best fit); then the usual greedy, still best fit, for what demand is left.
/// With the shapes an LP relaxation chose this lands close to the LP's value, and the solver uses
/// the best of the orders as HiGHS's warm start.
pub fn place_guided(
    fleet: &Fleet,
    workload: &Workload,
    first: &[(ShapeOption, u64)],
    order: GuideOrder,
) -> Vec<PlacedReplica> {
    fill_from(fleet, workload, &[], first, order)
}

fn fill_from(
    fleet: &Fleet,
    workload: &Workload,
    fixed: &[PlacedReplica],
    first: &[(ShapeOption, u64)],
    order: GuideOrder,
) -> Vec<PlacedReplica> {
    let kinds = shapes::gpu_kinds(fleet);
    let mut fill = Fill::new(fleet, workload);
    fill.best_fit = !first.is_empty();
    let mut out = Placed {
        fleet,
        workload,
        replicas: Vec::new(),
        count: vec![0; workload.deployments.len()],
        nodes: vec![BTreeSet::new(); workload.deployments.len()],
        numbers: vec![BTreeSet::new(); workload.deployments.len()],
    };
    for replica in fixed {
        let Some(d) = workload.deployments.iter().position(|d| d.name == replica.deployment) else {
            continue;
        };
        fill.occupy(replica, workload.deployments[d].share_gpu);
        for stage in &replica.stages {
            if let Some(n) = fleet.nodes.iter().position(|node| node.name == stage.node) {
                out.nodes[d].insert(n);
            }
        }
        out.count[d] += 1;
        out.numbers[d].insert(replica.replica);
        out.replicas.push(replica.clone());
    }
    // Most constrained first (by `order`), then the largest.
    let mut head: Vec<(u64, &(ShapeOption, u64))> = first.iter().map(|f| (fill.candidates(&f.0), f)).collect();
    head.sort_by_key(|&(candidates, (o, n))| {
        (
            order.key(o, *n, candidates),
            std::cmp::Reverse(o.reserve_mib),
            std::cmp::Reverse(o.gpus()),
            std::cmp::Reverse(workload.deployments[o.deployment].priority),
            o.deployment,
        )
    });
    for (_, (option, count)) in head {
        let d = option.deployment;
        let mut cursor = 0;
        for _ in 0..*count {
            if out.count[d] >= workload.deployments[d].replicas {
                break;
            }
            let Some(stages) = fill.place(option, &out.nodes[d], &mut cursor) else {
                break;
            };
            out.record(option, stages);
        }
    }
    let mut order: Vec<usize> = (0..workload.deployments.len()).collect();
    order.sort_by_key(|&d| std::cmp::Reverse(workload.deployments[d].priority));
    for d in order {
        let deployment = &workload.deployments[d];
        let mut options = shapes::all_options(d, deployment, &workload.policy, &kinds);
        options.sort_by_key(|o| (o.quantization_rank, o.gpus(), o.kind.clone(), o.tp));
        let mut cursors = vec![0usize; options.len()];
        let mut failed = vec![false; options.len()];
        'replicas: while out.count[d] < deployment.replicas {
            for (k, option) in options.iter().enumerate() {
                // A shape that did not fit will not fit later: the fleet only fills up.
                if failed[k] {
                    continue;
                }
                let Some(stages) = fill.place(option, &out.nodes[d], &mut cursors[k]) else {
                    failed[k] = true;
                    continue;
                };
                out.record(option, stages);
                continue 'replicas;
            }
            break;
        }
    }
    out.replicas
}

/// Replicas placed so far, with per deployment their count and nodes (for `spread`).
struct Placed<'a> {
    fleet: &'a Fleet,
    workload: &'a Workload,
    replicas: Vec<PlacedReplica>,
    count: Vec<u64>,
    nodes: Vec<BTreeSet<usize>>,
    /// Replica numbers in use per deployment (fixed replicas keep theirs).
    numbers: Vec<BTreeSet<u64>>,
}

impl Placed<'_> {
    fn record(&mut self, option: &ShapeOption, stages: Vec<(usize, Vec<usize>)>) {
        let d = option.deployment;
        self.nodes[d].extend(stages.iter().map(|(n, _)| *n));
        let mut replica = self.count[d];
        while self.numbers[d].contains(&replica) {
            replica += 1;
        }
        self.numbers[d].insert(replica);
        let fleet = self.fleet;
        let memory_per_gpu_mib = option.reservation_on(
            stages
                .iter()
                .flat_map(|(n, pick)| pick.iter().map(move |&i| &fleet.nodes[*n].gpus[i])),
        );
        self.replicas.push(PlacedReplica {
            deployment: self.workload.deployments[d].name.clone(),
            replica,
            quantization: option.quantization.name().into(),
            tensor_parallel: option.tp,
            pipeline_parallel: option.pp,
            gpu_type: option.kind.gpu_type.clone(),
            memory_per_gpu_mib,
            runtime_mib: Some(option.runtime_mib),
            stages: stages
                .into_iter()
                .map(|(n, pick)| Stage {
                    node: self.fleet.nodes[n].name.clone(),
                    gpus: pick.iter().map(|&i| self.fleet.nodes[n].gpus[i].index).collect(),
                })
                .collect(),
        });
        self.count[d] += 1;
    }
}
