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
