//! The time of a solve and how it is shared out: every share fleetfit gives a phase lives here.

use std::time::Duration;

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

/// With `--gap`, speed was asked for: levels 2 and 3 each get at most this share of the limit.
pub const GAP_LEVEL_SHARE: f64 = 0.1;

/// Assigning GPUs, checking and writing a plan cost up to this many times what the greedy plan
/// did: the search stops that much before the limit.
pub const OUTPUT_PER_GREEDY: u32 = 3;

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
