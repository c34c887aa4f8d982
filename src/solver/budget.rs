//! The time of a solve and how it is shared out: every share fleetfit gives a phase lives here.

use std::time::Duration;

/// How long past its own time limit HiGHS may run before the caller stops waiting (and stops it).
pub const GRACE: Duration = Duration::from_millis(500);
