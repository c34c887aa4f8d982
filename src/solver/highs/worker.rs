//! HiGHS on a worker thread: fleetfit's deadline holds even where HiGHS overruns its own limit,
//! and a run that is given up is stopped through HiGHS's interrupt callback, then joined.
//!
//! HiGHS polls the stop switch at every simplex iteration and MIP node, but not inside presolve
//! (9.5 s of it on a 10,240-GPU model, whatever the limit): a run still in presolve when it is
//! given up is left to stop on its own and joined by [`join_stopped`], which every workflow calls
//! before it returns, so that no solver thread (nor its copy of the model) outlives the call
//! that started it, and the deadline of the solve that gave it up still holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use good_lp::{Constraint, Expression};

use super::formulation::Formulation;
use super::highs_run::{HighsSettings, LevelResult, Run, Starts, solve_level};
use crate::error::Error;

/// The name every solver thread carries (`top -H`, `/proc/<pid>/task/*/comm`).
pub const THREAD_NAME: &str = "fleetfit-highs";

/// Starts solving objective level `level` (0: placed value, maximised; 1, 2: minimised) on a
/// worker thread and returns at once: the caller may work meanwhile, then waits at most
/// `time_left` plus [`super::budget::GRACE`] ([`Pending::wait`]).
pub fn spawn_level(
    form: &Arc<Formulation>,
    level: usize,
    extra: &[Constraint],
    starts: Starts<'_>,
    time_left: Duration,
    settings: &HighsSettings,
) -> Pending {
    let (objective, maximise) = super::lexicographic::objective(form, level);
    spawn_objective(form, objective.clone(), maximise, extra, starts, time_left, settings)
}

/// [`spawn_level`] for any objective of the model (capacity planning's cost, say).
pub fn spawn_objective(
    form: &Arc<Formulation>,
    objective: Expression,
    maximise: bool,
    extra: &[Constraint],
    starts: Starts<'_>,
    time_left: Duration,
    settings: &HighsSettings,
) -> Pending {
    let (send, receive) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let worker_done = Arc::clone(&done);
    let cancel = settings.cancel.clone();
    let (form, extra, hint, fallback, settings, worker_stop) = (
        Arc::clone(form),
        extra.to_vec(),
        starts.hint.map(<[f64]>::to_vec),
        starts.fallback.map(<[f64]>::to_vec),
        settings.clone(),
        Arc::clone(&stop),
    );
    let work = move || {
        let starts = Starts {
            hint: hint.as_deref(),
            fallback: fallback.as_deref(),
        };
        let result = solve_level(
            &form,
            &objective,
            maximise,
            &extra,
            starts,
            &Run {
                time_left,
                settings: &settings,
                stop: &worker_stop,
            },
        );
        let _ = send.send(result);
        worker_done.store(true, Ordering::Release);
    };
    let thread = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(work)
        .map_err(|e| Error::Solver(format!("cannot start a solver thread: {e}")));
    let (thread, ready) = match thread {
        Ok(thread) => (Some(thread), None),
        Err(e) => (None, Some(Err(e))),
    };
    Pending {
        receive,
        until: Instant::now() + time_left + super::budget::GRACE,
        ready,
        stop,
        done,
        cancel,
        thread,
        answered: false,
    }
}

/// A level HiGHS is solving on its worker thread. Dropping it stops HiGHS and joins the thread.
pub struct Pending {
    receive: mpsc::Receiver<Result<LevelResult, Error>>,
    /// When fleetfit stops waiting for it.
    until: Instant,
    ready: Option<Result<LevelResult, Error>>,
    /// Read by HiGHS's interrupt callback.
    stop: Arc<AtomicBool>,
    /// Set by the worker once its answer is sent.
    done: Arc<AtomicBool>,
    /// The whole solve's switch: once on, waiting ends at once.
    cancel: super::budget::Cancel,
    thread: Option<JoinHandle<()>>,
    /// HiGHS's answer came: the worker is ending, its join is immediate.
    answered: bool,
}

impl Pending {
    /// Whether waiting is over: HiGHS answered, or the wait ran out.
    pub fn is_over(&mut self) -> bool {
        if self.ready.is_none() {
            self.ready = self.receive.try_recv().ok();
        }
        self.ready.is_some() || Instant::now() >= self.until || self.cancel.is_cancelled()
    }

    /// A switch that turns on once HiGHS has answered: work done beside it (the local search's
    /// own small HiGHS runs) hands it to HiGHS as their stop switch, so that it ends at once.
    pub fn answered_switch(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.done)
    }

    /// HiGHS's answer, or `None` if it did not come before the wait ran out (HiGHS is then
    /// interrupted and its thread joined: its answer is dropped).
    pub fn wait(mut self) -> Result<Option<LevelResult>, Error> {
        if let Some(result) = self.ready.take() {
            self.answered = true;
            return result.map(Some);
        }
        // Waits in short slices, so that a cancelled solve stops waiting at once.
        loop {
            let left = self.until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.cancel.is_cancelled() {
                // An answer already there still counts; else dropping `self` stops HiGHS.
                return match self.receive.try_recv() {
                    Ok(result) => {
                        self.answered = true;
                        result.map(Some)
                    }
                    Err(_) => Ok(None),
                };
            }
            match self.receive.recv_timeout(left.min(super::budget::CANCEL_POLL)) {
                Ok(result) => {
                    self.answered = true;
                    return result.map(Some);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Solver("the HiGHS worker stopped without an answer".into()));
                }
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else {
            return;
        };
        if self.answered || self.ready.is_some() || thread.is_finished() {
            // A panic on the worker was already reported as a disconnected channel.
            let _ = thread.join();
        } else if let Ok(mut stopping) = STOPPING.lock() {
            // Those that stopped since are joined now: the list holds only runs still stopping.
            let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *stopping)
                .into_iter()
                .partition(JoinHandle::is_finished);
            *stopping = running;
            stopping.push(thread);
            drop(stopping);
            for thread in done {
                let _ = thread.join();
            }
        }
    }
}

/// Given-up runs that had not yet stopped when they were dropped.
static STOPPING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Waits for every given-up HiGHS run to stop: afterwards no solver thread runs that a finished
/// call started. Each has been told to stop; the wait is at most the rest of a HiGHS presolve.
pub fn join_stopped() {
    let stopping = STOPPING.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
    for thread in stopping {
        let _ = thread.join();
    }
}
