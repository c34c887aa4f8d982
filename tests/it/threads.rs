//! No solver thread outlives the call that started it: a sweep whose time limit stops HiGHS, or
//! a solve given up from another thread, interrupts and joins every run it gives up.
//!
//! Threads are counted in `/proc/self/task`, which holds every test's threads: the test runs
//! itself again, alone, in a child process, and the child counts.

use std::process::Command;
use std::time::Duration;

use fleetfit::formats::scenarios_file;
use fleetfit::workflows::{Base, SweepOptions, whatif};

const CHILD: &str = "FLEETFIT_THREADS_CHILD";

/// In the parent: runs test `name` alone in a child process and returns true (the caller
/// returns). In the child: false (the caller runs the test).
fn in_child(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    true
}

/// The names of this process's threads (Linux).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

/// Runs `work` while another thread counts solver threads every 10 ms: its result and the most
/// seen at once (a count after `work` means something only where this is above 0).
fn sampling<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::clone(&done);
    let sampler = std::thread::spawn(move || {
        let mut most = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            most = most.max(solver_threads());
            std::thread::sleep(Duration::from_millis(10));
        }
        most
    });
    let out = work();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, sampler.join().unwrap())
}

/// `fleetfit gen --gpus GPUS --deployments DEPLOYMENTS --seed 1 --tight`, written to and read
/// back from a temporary folder (kept alive by the returned guard).
fn tight_base(gpus: u64, deployments: u64) -> (tempfile::TempDir, Base) {
    let (dir, fleet, deployments) = crate::common::tight_files(gpus, deployments);
    (dir, Base::load(&fleet, &deployments).unwrap())
}

fn solver_threads() -> usize {
    thread_names()
        .iter()
        .filter(|name| *name == fleetfit::solver::SOLVER_THREAD_NAME)
        .count()
}

#[test]
fn a_sweep_stopped_by_its_time_limit_leaves_no_solver_thread() {
    if in_child("threads::a_sweep_stopped_by_its_time_limit_leaves_no_solver_thread") {
        return;
    }
    let (dir, base) = tight_base(512, 32);
    let mut text = String::from("scenarios:\n");
    for node in base.fleet.nodes.iter().take(64) {
        text += &format!("  - name: without-{0}\n    remove_nodes: {{names: [{0}]}}\n", node.name);
    }
    let path = dir.path().join("scenarios.yaml");
    std::fs::write(&path, text).unwrap();
    let file = scenarios_file::load(&path).unwrap();
    let mut options = SweepOptions {
        jobs: 2,
        ..SweepOptions::default()
    };
    options.solve.time_limit = Duration::from_millis(300);
    let (results, seen) = sampling(|| whatif::run(&base, &file, &path, &options).unwrap());
    assert_eq!(results.len(), 65);
    assert!(
        seen > 0,
        "no solver thread was ever seen running: the count below proves nothing"
    );
    let stopped = results
        .iter()
        .filter(|(_, r)| r.outcome.status != fleetfit::domain::SolveStatus::Optimal)
        .count();
    assert!(stopped > 0, "the time limit stopped no solve: the test proves nothing");
    let solvers = solver_threads();
    eprintln!("{stopped} stopped solves; up to {seen} solver threads seen running, {solvers} left");
    assert_eq!(
        solvers, 0,
        "{stopped} stopped solves left {solvers} solver threads running"
    );
}

/// A solve given up from another thread (its `SolveOptions::cancel`) ends long before its time
/// limit, returns a checked plan that claims nothing, and leaves no solver thread: the switch
/// reaches HiGHS's interrupt callback and every wait. (4,096 GPUs: HiGHS's root alone runs
/// about 30 s there, so nothing but the switch ends it early.)
#[test]
fn a_cancelled_solve_stops_at_once_and_leaves_no_solver_thread() {
    if in_child("threads::a_cancelled_solve_stops_at_once_and_leaves_no_solver_thread") {
        return;
    }
    let (_dir, base) = tight_base(4096, 128);
    let options = fleetfit::solver::SolveOptions {
        time_limit: Duration::from_secs(600),
        ..Default::default()
    };
    let cancel = options.cancel.clone();
    let started = std::time::Instant::now();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        cancel.cancel();
    });
    let solved = fleetfit::solver::solve(&base.fleet, &base.workload, &options).unwrap();
    canceller.join().unwrap();
    fleetfit::solver::join_stopped();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("cancelled after 3 s, returned after {seconds:.1} s");
    // Uncancelled it runs its 600 s (no proof of level 1 comes in that time).
    assert!(seconds < 60.0, "the cancelled solve ran {seconds:.1} s");
    assert_eq!(solved.plan.status, fleetfit::domain::SolveStatus::TimeLimit);
    let violations = fleetfit::check::check(&base.fleet, &base.workload, &solved.plan);
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(solver_threads(), 0, "a cancelled solve left solver threads running");
}
