//! `fleetfit report` at 100,000 GPUs: checking the plan, writing the page (target: under 5 s) and
//! its first paint in headless Chromium (target: under 2 s; Debian's `chromium`, skipped where it
//! is missing), with the time the map is drawn.
//!
//! `cargo bench --bench report`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use fleetfit::formats::{deployments_file, fleet_file};
use fleetfit::report::{Extras, render};
use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};

fn report(c: &mut Criterion) {
    let spec = GenSpec {
        gpus: 100_000,
        deployments: 300,
        seed: 1,
        tight: true,
    };
    let dir = tempfile::tempdir().unwrap();
    let (fleet_path, deployments_path) = (dir.path().join("fleet.yaml"), dir.path().join("deployments.yaml"));
    std::fs::write(&fleet_path, fleet_yaml(&spec)).unwrap();
    std::fs::write(&deployments_path, deployments_yaml(&spec)).unwrap();
    let fleet = fleet_file::load(&fleet_path).unwrap();
    let workload = deployments_file::load(&deployments_path).unwrap();
    let plan = fleetfit::greedy::plan(&fleet, &workload);
    let mut group = c.benchmark_group("report");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    // The checker runs before every report (and every plan is checked before it is written).
    group.bench_function("check_100000_gpus", |b| {
        b.iter(|| black_box(fleetfit::check::check(&fleet, &workload, &plan)))
    });
    group.bench_function("write_100000_gpus", |b| {
        b.iter(|| black_box(render(&fleet, &workload, &plan, &Extras::default()).unwrap()))
    });
    let page = render(&fleet, &workload, &plan, &Extras::default()).unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();
    eprintln!(
        "report: {} replicas, page {} MiB",
        plan.replicas.len(),
        page.len() >> 20
    );
    if std::process::Command::new("chromium")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("report: chromium is missing; first paint not measured");
        return;
    }
    let mut paints = Vec::new();
    let mut drawn = Vec::new();
    group.bench_function("first_paint_100000_gpus_chromium", |b| {
        b.iter(|| {
            let profile = tempfile::tempdir().unwrap();
            let out = std::process::Command::new("chromium")
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--dump-dom",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(format!("file://{}", file.display()))
                .output()
                .unwrap();
            let dom = String::from_utf8_lossy(&out.stdout);
            let ms = |name: &str| {
                let at = dom.find(name)? + name.len();
                dom[at..at + dom[at..].find('"')?].parse::<u64>().ok()
            };
            paints.extend(ms("data-first-paint=\""));
            drawn.extend(ms("data-map-drawn-ms=\""));
        })
    });
    for (what, mut list) in [("first contentful paint", paints), ("map drawn", drawn)] {
        list.sort_unstable();
        if let Some(median) = list.get(list.len() / 2) {
            eprintln!("report: {what}, median of {}: {median} ms", list.len());
        }
    }
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
