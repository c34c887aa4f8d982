//! Times a few node-drill cases level by level: `cargo run --release --example drill_cases -- FLEET DEPLOYMENTS [N]`
//! (env: `GAP`, `LIMIT` seconds per case, `V` for the HiGHS log).

use std::time::Instant;

use fleetfit::solver::{self, SolveOptions};
use fleetfit::workflows::Base;
use fleetfit::workflows::drill::{self, Failure};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = Base::load(args[1].as_ref(), args[2].as_ref()).expect("inputs");
    let n: usize = args.get(3).map_or(5, |s| s.parse().unwrap());
    let t = Instant::now();
    let solved = solver::solve(&base.fleet, &base.workload, &SolveOptions::default()).unwrap();
    println!("base {:.2}s: {}", t.elapsed().as_secs_f64(), solved.stats.summary());
    let failure: Failure = "node".parse().unwrap();
    let cases = drill::cases(&base, &failure).unwrap();
    for case in cases.iter().take(n) {
        let fleet = drill::without(&base.fleet, case);
        let start: Vec<_> = solved
            .plan
            .replicas
            .iter()
            .filter(|r| r.stages.iter().all(|s| !case.nodes.contains(&s.node)))
            .cloned()
            .collect();
        let t = Instant::now();
        let opts = SolveOptions {
            start: Some(start),
            known_bound: Some(solver::KnownBound::proven(
                &solved.plan.objective,
                solved.stats.levels.iter().take_while(|l| l.proven()).count(),
            )),
            mip_rel_gap: std::env::var("GAP").map_or(0.0, |g| g.parse().unwrap()),
            time_limit: std::time::Duration::from_secs_f64(std::env::var("LIMIT").map_or(60.0, |g| g.parse().unwrap())),
            verbose: std::env::var("V").is_ok(),
            ..SolveOptions::default()
        };
        let s = solver::solve(&fleet, &base.workload, &opts).unwrap();
        println!(
            "{} {:.2}s: {}",
            case.failed,
            t.elapsed().as_secs_f64(),
            s.stats.summary()
        );
    }
}
