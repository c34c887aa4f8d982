//! The time of a solve and how it is shared out: every share fleetfit gives a phase lives here,
//! with the [`Budget`] that carries a solve's deadline and its [`Cancel`] switch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A switch that gives up a whole solve: every HiGHS run started under it is interrupted (its
/// callback reads the switch), every wait on one ends, and no new phase starts. Clones share it;
/// a [`Cancel::child`] is also on once its parent is.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    own: Arc<AtomicBool>,
    parent: Option<Arc<Cancel>>,
}

impl Cancel {
    /// Gives up every solve that carries this switch, a clone of it or a child of it.
    pub fn cancel(&self) {
        self.own.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.own.load(Ordering::Relaxed) || self.parent.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// A switch of its own that this one also turns on (a sweep gives up its cases when one
    /// fails, without turning its caller's switch on).
    pub fn child(&self) -> Cancel {
        Cancel {
            own: Arc::default(),
            parent: Some(Arc::new(self.clone())),
        }
    }
}

/// A solve's time: its deadline and the switch that gives it up early. Phases take shares of
/// what is left ([`Budget::share`]); a budget that is cancelled has nothing left.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    cancel: Cancel,
}

impl Budget {
    /// `limit` from now, given up early through `cancel`.
    pub fn new(limit: Duration, cancel: &Cancel) -> Budget {
        Budget {
            deadline: Instant::now() + limit,
            cancel: cancel.clone(),
        }
    }

    /// The same switch with an earlier (or equal) deadline.
    pub fn until(&self, deadline: Instant) -> Budget {
        Budget {
            deadline: deadline.min(self.deadline),
            cancel: self.cancel.clone(),
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// The time left: zero once the deadline passed or the solve was given up.
    pub fn left(&self) -> Duration {
        if self.cancel.is_cancelled() {
            return Duration::ZERO;
        }
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// `share` (0 to 1) of the time left.
    pub fn share(&self, share: f64) -> Duration {
        self.left().mul_f64(share)
    }

    /// Whether nothing is left (deadline passed, or given up).
    pub fn is_over(&self) -> bool {
        self.left().is_zero()
    }
}

/// How often a wait for HiGHS looks at the solve's [`Cancel`] switch.
pub const CANCEL_POLL: Duration = Duration::from_millis(20);

/// How long past its own time limit HiGHS may run before the caller stops waiting (and stops it).
pub const GRACE: Duration = Duration::from_millis(500);

/// The share of the time limit that explanations of a plan that is not proven may use (their
/// re-solves place one deployment alone).
pub const EXPLAIN_SHARE: f64 = 0.1;

/// What explanations of a proven plan may use, whatever the time limit: their reasons must not
/// depend on it. (Each re-solve places one deployment alone; it rarely takes a millisecond.)
pub const EXPLAIN_PROVEN: Duration = Duration::from_secs(5);

/// One explanation re-solve, at most.
pub const EXPLAIN_EACH: Duration = Duration::from_secs(5);

/// The share of the time left that HiGHS itself is given for a MIP level: it checks its clock
/// only between LP solves, which take seconds on large fleets, and fleetfit must still collect
/// its incumbent before the deadline. (An LP alone checks often: it gets all of its time.)
pub const HIGHS_SHARE: f64 = 0.75;

/// The share of the time left that fleetfit waits for level 1 when levels 2 and 3 could start
/// from the heuristic plan: HiGHS's root node does not look at the clock between its cut rounds.
pub const LEVEL_ONE_WAIT_SHARE: f64 = 0.85;

/// On models large enough for the relaxed start ([`super::relaxed_start`]), the share of level
/// 1's wait that the relaxed start and the repair steps from it get before HiGHS's own search
/// starts (the steps then go on beside it).
pub const RELAXED_START_SHARE: f64 = 0.5;

/// Of that share, what the relaxed model's integer program may take to find its first incumbent
/// above the heuristic plan; the rest goes to the repair steps (4,096 GPUs: 0.8 s of a 4.2 s
/// share; 10,240 GPUs: none within 24 s, where the steps then start from the heuristic plan).
pub const RELAXED_MIP_SHARE: f64 = 0.4;

/// With `--gap`, speed was asked for: levels 2 and 3 each get at most this share of the limit.
pub const GAP_LEVEL_SHARE: f64 = 0.1;

/// Assigning GPUs, checking and writing a plan cost up to this many times what the greedy plan
/// did: the search stops that much before the limit.
pub const OUTPUT_PER_GREEDY: u32 = 3;

/// Handing a model to HiGHS and its presolve cost about this many times building it: with less
/// time left, HiGHS is not started and the heuristic plan stands.
pub const HIGHS_START_PER_BUILD: f64 = 3.0;

/// The share of the time left that level 1's LP relaxation may take.
pub const RELAXATION_SHARE: f64 = 0.8;

/// The LP-guided greedy tries another order only while at least this share of the search's time
/// is left.
pub const GUIDED_ORDER_SHARE: f64 = 0.1;

/// Capacity planning: the searches stop this share of the limit early (at most
/// [`CAPACITY_OUTPUT_MAX`]), for assignment, check and output.
pub const CAPACITY_OUTPUT_SHARE: f64 = 0.02;

/// At most this much of the limit is kept for capacity planning's output.
pub const CAPACITY_OUTPUT_MAX: Duration = Duration::from_secs(2);

/// The share of the time left that the purchase's start search may take.
pub const PURCHASE_START_SHARE: f64 = 0.2;

/// The share of the time left that the cheapest purchase's MIP may take; section 6 on the grown
/// fleet gets the rest.
pub const PURCHASE_SHARE: f64 = 2.0 / 3.0;

/// The start search's LP relaxation may run this many times a planner run's time (it solves
/// while the planner packs), and its guided purchase this many times more.
pub const PURCHASE_LP_RUNS: u32 = 2;
pub const PURCHASE_GUIDED_RUNS: u32 = 3;

/// One planner run inside the guided purchase search, at most.
pub const PURCHASE_GUIDED_PLAN: Duration = Duration::from_secs(5);

/// The least time a search that must answer (what fits with every candidate bought) is given.
pub const LEAST: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_switch_follows_its_parent_and_leaves_it_alone() {
        let parent = Cancel::default();
        let (child, sibling) = (parent.child(), parent.child());
        child.cancel();
        assert!(child.is_cancelled());
        assert!(!parent.is_cancelled() && !sibling.is_cancelled());
        let clone = sibling.clone();
        parent.cancel();
        assert!(sibling.is_cancelled() && clone.is_cancelled());
        let budget = Budget::new(Duration::from_secs(60), &clone);
        assert!(budget.is_over() && budget.left().is_zero());
        assert!(!Budget::new(Duration::from_secs(60), &Cancel::default()).is_over());
    }
}
