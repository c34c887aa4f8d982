//! `fleetfit report` at 100,000 GPUs: writing the page (target: under 5 s) and its first paint in
//! headless Chromium (target: under 2 s; Debian's `chromium`, skipped where it is missing).
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
                    "--virtual-time-budget=10000",
                    "--dump-dom",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(format!("file://{}", file.display()))
                .output()
                .unwrap();
            let dom = String::from_utf8_lossy(&out.stdout);
            if let Some(at) = dom.find("data-first-paint=\"") {
                let rest = &dom[at + 18..];
                paints.push(rest[..rest.find('"').unwrap()].parse::<u64>().unwrap());
            }
        })
    });
    paints.sort_unstable();
    if let Some(median) = paints.get(paints.len() / 2) {
        eprintln!(
            "report: first contentful paint, median of {}: {median} ms",
            paints.len()
        );
    }
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
