//! Live progress of a solve, for the one-line status a terminal shows: the phase, and HiGHS's
//! incumbent and dual bound as its MIP callbacks report them.
//!
//! Off unless a front end turns it on with [`enable`]: library users, tests and parallel sweeps
//! pay nothing. The state is process-wide (a terminal shows one line); the callback only ever
//! `try_lock`s, so HiGHS never waits on a reader.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
static STATE: Mutex<Option<Snapshot>> = Mutex::new(None);

/// What the solve is doing now.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Such as "LP relaxation" or "level 1 of 3 (placed value)".
    pub phase: String,
    /// The best objective value HiGHS has found in this phase, when it has one.
    pub incumbent: Option<f64>,
    /// HiGHS's dual bound in this phase, when it has one.
    pub bound: Option<f64>,
    /// When the phase began.
    pub since: Instant,
}

impl Snapshot {
    /// The relative gap between incumbent and bound, when both are known.
    pub fn gap(&self) -> Option<f64> {
        let (incumbent, bound) = (self.incumbent?, self.bound?);
        let scale = incumbent.abs().max(bound.abs()).max(1.0);
        Some((bound - incumbent).abs() / scale)
    }
}

/// Turns progress reporting on or off for this process.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
    if !on && let Ok(mut state) = STATE.lock() {
        *state = None;
    }
}

/// Whether a front end is showing progress.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Starts a phase (forgetting the last phase's incumbent and bound).
pub fn phase(name: &str) {
    if !enabled() {
        return;
    }
    if let Ok(mut state) = STATE.lock() {
        *state = Some(Snapshot {
            phase: name.to_string(),
            incumbent: None,
            bound: None,
            since: Instant::now(),
        });
    }
}

/// The latest snapshot, if a phase has started.
pub fn snapshot() -> Option<Snapshot> {
    STATE.lock().ok().and_then(|state| state.clone())
}

/// Notes HiGHS's latest incumbent and dual bound (called from its MIP callbacks).
pub(super) fn record(incumbent: f64, bound: f64) {
    if let Ok(mut state) = STATE.try_lock()
        && let Some(snapshot) = state.as_mut()
    {
        if incumbent.is_finite() {
            snapshot.incumbent = Some(incumbent);
        }
        if bound.is_finite() {
            snapshot.bound = Some(bound);
        }
    }
}

/// The status line a terminal shows: phase, incumbent, bound, gap, and seconds since the
/// command started (`elapsed_s`).
pub fn status_line(snapshot: &Snapshot, elapsed_s: f64) -> String {
    let mut line = snapshot.phase.clone();
    if let Some(incumbent) = snapshot.incumbent {
        line.push_str(&format!(" · incumbent {}", whole(incumbent)));
    }
    if let Some(bound) = snapshot.bound {
        line.push_str(&format!(" · bound {}", whole(bound)));
    }
    if let Some(gap) = snapshot.gap() {
        line.push_str(&format!(" · gap {:.2}%", gap * 100.0));
    }
    line.push_str(&format!(" · {elapsed_s:.1} s"));
    line
}

/// A value rounded to a whole number with thousands separators (objective values are integers;
/// a dual bound is shown rounded).
fn whole(value: f64) -> String {
    let digits = crate::numbers::thousands(value.abs().round() as u64);
    if value < -0.5 { format!("-{digits}") } else { digits }
}
