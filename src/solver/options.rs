//! What a solve is asked: time, gap, a start plan, and what is known about the optimum already.

use std::time::Duration;

use crate::domain::PlacedReplica;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Bound on the whole solve, all levels together.
    pub time_limit: Duration,
    /// Relative gap at which level 1 may stop (0 proves optimality).
    pub mip_rel_gap: f64,
    /// Stream HiGHS's log to stderr.
    pub verbose: bool,
    /// A plan to start from (what runs now, or a base plan minus a failed part): checked, and
    /// where it beats the greedy plans, HiGHS's warm start and the floor under a time limit.
    pub start: Option<Vec<PlacedReplica>>,
    /// What a less constrained instance proved (removing capacity never improves the optimum,
    /// so a base plan's bound bounds every failure case): it tightens the reported bound and
    /// proves each level the incumbent reaches, without a MIP.
    pub known_bound: Option<KnownBound>,
    /// Gives the solve up from outside (another thread, a sweep whose case failed): HiGHS is
    /// interrupted and the solve returns the best checked plan it has, claiming only what its
    /// records proved before the switch.
    pub cancel: super::budget::Cancel,
    /// Replicas that stay where they are (replan's neighbourhoods): the rest is planned around
    /// them, and the plan claims no optimality.
    pub pinned: Vec<PlacedReplica>,
}

/// A bound on this instance's lexicographic optimum, proven on a less constrained instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownBound {
    /// No plan places more value.
    pub placed_value: u64,
    /// The less constrained instance's proven minimum `quantization_penalty` at `placed_value`,
    /// where it proved that level: no plan placing `placed_value` does better.
    pub quantization_penalty: Option<u64>,
    /// Likewise its proven minimum `gpus_used`, where it proved levels 1 to 3.
    pub gpus_used: Option<u64>,
}

impl KnownBound {
    /// A bound on level 1 only.
    pub fn placed_value(placed_value: u64) -> KnownBound {
        KnownBound {
            placed_value,
            quantization_penalty: None,
            gpus_used: None,
        }
    }

    /// What a less constrained instance's solve proved: its objective, of which the first
    /// `proven_levels` levels are proven optimal.
    pub fn proven(objective: &crate::domain::Objective, proven_levels: usize) -> KnownBound {
        KnownBound {
            placed_value: objective.placed_value,
            quantization_penalty: (proven_levels >= 2).then_some(objective.quantization_penalty),
            gpus_used: (proven_levels >= 3).then_some(objective.gpus_used),
        }
    }

    /// The bound on level `level` (0, 1, 2) for a plan that reached it on every level before.
    pub(super) fn level(&self, level: usize) -> Option<f64> {
        match level {
            0 => Some(self.placed_value),
            1 => self.quantization_penalty,
            _ => self.gpus_used,
        }
        .map(|v| v as f64)
    }
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            time_limit: Duration::from_secs(60),
            mip_rel_gap: 0.0,
            verbose: false,
            start: None,
            known_bound: None,
            cancel: super::budget::Cancel::default(),
            pinned: Vec::new(),
        }
    }
}
