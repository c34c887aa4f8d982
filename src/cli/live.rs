//! The live status line on stderr while a long solve runs: on a terminal only, never with `-v`
//! (which streams HiGHS's own log instead), cleared when the command ends.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fleetfit::solver::progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Shows the solver's progress until dropped.
pub struct Live {
    running: Option<(ProgressBar, Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Live {
    /// Starts the line when stderr is a terminal and `verbose` is off; otherwise does nothing.
    pub fn start(verbose: bool) -> Live {
        if verbose || !std::io::stderr().is_terminal() {
            return Live { running: None };
        }
        progress::enable(true);
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
        bar.enable_steady_tick(Duration::from_millis(120));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (bar, stop) = (bar.clone(), stop.clone());
            let started = Instant::now();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(snapshot) = progress::snapshot() {
                        bar.set_message(progress::status_line(&snapshot, started.elapsed().as_secs_f64()));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Live {
            running: Some((bar, stop, thread)),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some((bar, stop, thread)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
            bar.finish_and_clear();
            progress::enable(false);
        }
    }
}
