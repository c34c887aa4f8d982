//! The one callback fleetfit gives HiGHS: it stops a run that was given up, alone or with its
//! whole solve (both switches are polled at every simplex iteration and MIP node) and, when a
//! terminal shows progress, copies the MIP's incumbent and bound to [`super::progress`].

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use highs_sys::{HighsCallbackDataIn, HighsCallbackDataOut};

/// What the callback reads; it must outlive every model it is attached to.
pub(super) struct Hook {
    /// This run's own switch (its wait was given up).
    stop: Arc<AtomicBool>,
    /// The whole solve's switch.
    cancel: super::budget::Cancel,
    progress: bool,
    /// Stop once an incumbent reaches this objective value (a maximised level).
    stop_at: Option<f64>,
    /// An incumbent reached `stop_at`.
    reached: AtomicBool,
}

impl Hook {
    pub(super) fn new(
        stop: &Arc<AtomicBool>,
        cancel: &super::budget::Cancel,
        stop_at: Option<f64>,
        progress: bool,
    ) -> Box<Hook> {
        Box::new(Hook {
            stop: Arc::clone(stop),
            cancel: cancel.clone(),
            progress,
            stop_at,
            reached: AtomicBool::new(false),
        })
    }

    /// Registers the callback on `model`: interrupts always, progress when asked for.
    pub(super) fn attach(&self, model: &mut highs::Model) {
        let highs = model.as_mut_ptr();
        let user = (self as *const Hook).cast_mut().cast::<c_void>();
        // SAFETY: `highs` is a live HiGHS instance owned by `model`; `user` points to this boxed
        // hook, which the caller keeps alive for as long as the model (both live in one solve);
        // the callback only reads it and never unwinds.
        unsafe {
            highs_sys::Highs_setCallback(highs, Some(callback), user);
            for kind in [
                highs_sys::kHighsCallbackSimplexInterrupt,
                highs_sys::kHighsCallbackIpmInterrupt,
                highs_sys::kHighsCallbackMipInterrupt,
            ] {
                highs_sys::Highs_startCallback(highs, kind);
            }
            if self.progress || self.stop_at.is_some() {
                highs_sys::Highs_startCallback(highs, highs_sys::kHighsCallbackMipImprovingSolution);
            }
            if self.progress {
                highs_sys::Highs_startCallback(highs, highs_sys::kHighsCallbackMipLogging);
            }
        }
    }
}

/// HiGHS's C callback: asks it to stop once the stop switch is on; records progress.
unsafe extern "C" fn callback(
    kind: c_int,
    _message: *const c_char,
    out: *const HighsCallbackDataOut,
    data_in: *mut HighsCallbackDataIn,
    user: *mut c_void,
) {
    // SAFETY: `user` is the `Hook` registered in `attach`, alive while the model solves.
    let Some(hook) = (unsafe { user.cast::<Hook>().as_ref() }) else {
        return;
    };
    let interrupt = [
        highs_sys::kHighsCallbackSimplexInterrupt,
        highs_sys::kHighsCallbackIpmInterrupt,
        highs_sys::kHighsCallbackMipInterrupt,
    ]
    .contains(&kind);
    // SAFETY: HiGHS passes a valid `data_in` (or null) for its interrupt callbacks.
    if interrupt
        && (hook.stop.load(Ordering::Relaxed) || hook.cancel.is_cancelled() || hook.reached.load(Ordering::Relaxed))
        && let Some(data_in) = unsafe { data_in.as_mut() }
    {
        data_in.user_interrupt = 1;
    }
    // SAFETY: HiGHS passes a valid `out` for its MIP callbacks, or null.
    let mip = [
        highs_sys::kHighsCallbackMipImprovingSolution,
        highs_sys::kHighsCallbackMipLogging,
        highs_sys::kHighsCallbackMipInterrupt,
    ]
    .contains(&kind);
    let Some(out) = (if mip { unsafe { out.as_ref() } } else { None }) else {
        return;
    };
    if kind == highs_sys::kHighsCallbackMipImprovingSolution
        && hook.stop_at.is_some_and(|at| out.objective_function_value >= at - 1e-6)
    {
        hook.reached.store(true, Ordering::Relaxed);
    }
    if hook.progress {
        super::progress::record(out.mip_primal_bound, out.mip_dual_bound);
    }
}
