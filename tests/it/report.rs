//! `fleetfit report` opened in a real browser (Debian's headless `chromium`; `scripts/setup.sh --test`
//! installs it): the page's own DOM after its script ran holds a cell for every GPU (or node),
//! a legend entry for every deployment, keyboard-reachable cells, and the browser logs no console
//! message (script errors and blocked requests both log one); the file names no address to fetch.

use std::path::{Path, PathBuf};

use super::common::*;

/// A page as headless Chromium left it: the DOM after the script, and what it logged.
struct Page {
    dom: String,
    console: Vec<String>,
}

/// Chromium's flags for a quiet, offline, headless run with a fresh profile.
fn chromium(profile: &Path) -> std::process::Command {
    let mut command = std::process::Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Opens a page; panics where Chromium is missing (the suite needs it).
fn open(file: &Path) -> Page {
    open_at(file, "")
}

/// Opens a page at a fragment (`#node=NAME`).
fn open_at(file: &Path, fragment: &str) -> Page {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", file.display()))
        .output()
        .expect("chromium is installed (scripts/setup.sh --test installs it)");
    let console = text(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Page {
        dom: text(&out.stdout),
        console,
    }
}

/// Takes a screenshot of a page; its size in bytes.
fn screenshot(file: &Path, png: &Path) -> u64 {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path())
        .arg("--window-size=1400,1000")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::metadata(png).unwrap().len()
}

/// How many times `needle` occurs.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// An attribute's value on the element that carries it first.
fn attribute(dom: &str, name: &str) -> String {
    let at = dom.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("no {name}"));
    let rest = &dom[at + name.len() + 2..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Addresses a page would fetch: any `http:`/`https:` or protocol-relative address beside
/// SVG's namespace name.
fn addresses(html: &str) -> Vec<String> {
    let cleaned = html.replace("http://www.w3.org/2000/svg", "");
    ["http:", "https:", "src=\"//", "href=\"//", "url(//", "@import"]
        .iter()
        .filter(|a| cleaned.contains(*a))
        .map(|a| a.to_string())
        .collect()
}

/// Runs the binary with these arguments and writes its standard output to `out`.
fn run_to(args: &[&str], out: &Path) {
    let run = fleetfit(args);
    assert!(run.status.success(), "{args:?}: {}", text(&run.stderr));
    std::fs::write(out, &run.stdout).unwrap();
}

/// The demo planned, with a what-if sweep, a rack drill and a purchase beside it.
fn demo_report(dir: &Path) -> PathBuf {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let plan = fleetfit(&[
        "plan",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--out",
        &p("plan.json"),
    ]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let inputs = [
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
    ];
    fn with<'a>(inputs: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [inputs, extra, &["--format", "json", "--time-limit", "2"]].concat()
    }
    run_to(
        &[
            &["whatif"],
            &with(&inputs, &["--scenarios", "data/demo/scenarios.yaml"])[..],
        ]
        .concat(),
        &dir.join("whatif.json"),
    );
    run_to(
        &[&["drill"], &with(&inputs, &["--fail", "label=rack"])[..]].concat(),
        &dir.join("drill.json"),
    );
    run_to(
        &[&["capacity"], &with(&inputs, &["--skus", "data/demo/skus.yaml"])[..]].concat(),
        &dir.join("capacity.json"),
    );
    let report = dir.join("report.html");
    let run = fleetfit(
        &[
            &["report"],
            &inputs[..],
            &[
                "--plan",
                &p("plan.json"),
                "--whatif",
                &p("whatif.json"),
                "--drill",
                &p("drill.json"),
                "--capacity",
                &p("capacity.json"),
                "--out",
                &p("report.html"),
            ],
        ]
        .concat(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    report
}

#[test]
fn the_demo_report_opens_in_chromium_with_every_gpu_deployment_and_result() {
    let dir = tempfile::tempdir().unwrap();
    let report = demo_report(dir.path());
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(addresses(&html), Vec::<String>::new(), "the page fetches nothing");
    let page = open(&report);
    assert_eq!(page.console, Vec::<String>::new(), "no console message");
    assert_eq!(attribute(&page.dom, "data-level"), "gpu");
    assert_eq!(
        attribute(&page.dom, "data-cells"),
        "264",
        "a cell per GPU of the demo fleet"
    );
    assert_eq!(count(&page.dom, "<g data-cell=\"\""), 264);
    assert_eq!(
        count(&page.dom, "tabindex=\"0\""),
        264,
        "every cell is reachable by keyboard"
    );
    let (_, workload) = load("demo/fleet.yaml", "demo/deployments.yaml");
    for d in &workload.deployments {
        assert_eq!(
            count(&page.dom, &format!("data-legend=\"{}\"", d.name)),
            1,
            "{} in the legend",
            d.name
        );
    }
    assert_eq!(count(&page.dom, "data-legend="), workload.deployments.len());
    let scenarios = fleetfit::formats::scenarios_file::load(&data("demo/scenarios.yaml")).unwrap();
    let (fleet, _) = load("demo/fleet.yaml", "demo/deployments.yaml");
    let racks: std::collections::BTreeSet<_> = fleet.nodes.iter().filter_map(|n| n.labels.get("rack")).collect();
    for (section, rows) in [("whatif", scenarios.scenarios.len()), ("drill", racks.len())] {
        let at = page
            .dom
            .find(&format!("<section id=\"{section}\""))
            .unwrap_or_else(|| panic!("{section}"));
        assert_eq!(
            attribute(&page.dom[at..], "data-rows"),
            rows.to_string(),
            "{section}: a row per case"
        );
    }
    assert!(page.dom.contains("<section id=\"capacity\"") && page.dom.contains("l40s-4x"));
    assert!(
        screenshot(&report, &dir.path().join("report.png")) > 20_000,
        "a picture, not a blank page"
    );
    // A link to a node opens on all its GPUs; a malformed link opens on nothing, quietly.
    let page = open_at(&report, "#node=h100-03");
    assert_eq!(page.console, Vec::<String>::new());
    let details = &page.dom[page.dom.find("<aside id=\"details\"").unwrap()..];
    assert_eq!(count(details, "<g data-cell=\"\""), 8);
    assert!(count(details, "<td>GPU ") >= 8, "a row for each of its GPUs");
    assert_eq!(open_at(&report, "#node=%E0%A4%A").console, Vec::<String>::new());
}

#[test]
fn a_replan_report_lists_the_moves_in_migration_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let demo = ["--deployments", "data/demo/deployments.yaml"];
    let plan = fleetfit(
        &[
            &["plan", "--fleet", "data/demo/fleet.yaml"],
            &demo[..],
            &["--out", &p("now.json")],
        ]
        .concat(),
    );
    assert!(plan.status.success());
    let tomorrow = ["--fleet", "data/demo/fleet-tomorrow.yaml"];
    let replan = fleetfit(
        &[
            &["replan"],
            &tomorrow[..],
            &demo[..],
            &["--current", &p("now.json"), "--out", &p("next.json")],
        ]
        .concat(),
    );
    assert!(replan.status.success(), "{}", text(&replan.stderr));
    let run = fleetfit(
        &[
            &["report"],
            &tomorrow[..],
            &demo[..],
            &[
                "--plan",
                &p("next.json"),
                "--current",
                &p("now.json"),
                "--out",
                &p("r.html"),
            ],
        ]
        .concat(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let next: fleetfit::domain::Plan = fleetfit::formats::parse_file(Path::new(&p("next.json"))).unwrap();
    let steps = next.migration.as_ref().map_or(0, Vec::len);
    assert!(steps > 0, "losing l40s-05 moves something");
    let page = open(Path::new(&p("r.html")));
    assert_eq!(page.console, Vec::<String>::new());
    let at = page.dom.find("<section id=\"moves\"").expect("a moves section");
    assert_eq!(attribute(&page.dom[at..], "data-rows"), steps.to_string());
}

#[test]
fn past_4096_gpus_each_node_is_one_cell() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fleetfit::synth::GenSpec {
        gpus: 8192,
        deployments: 32,
        seed: 3,
        tight: false,
    };
    let (fleet, workload) = parse(
        &fleetfit::synth::fleet_yaml(&spec),
        &fleetfit::synth::deployments_yaml(&spec),
    );
    let plan = fleetfit::greedy::plan(&fleet, &workload);
    assert_valid(&fleet, &workload, &plan);
    let html = fleetfit::report::render(&fleet, &workload, &plan, &Default::default()).unwrap();
    let file = dir.path().join("big.html");
    std::fs::write(&file, html).unwrap();
    let page = open(&file);
    assert_eq!(page.console, Vec::<String>::new());
    assert_eq!(attribute(&page.dom, "data-level"), "node");
    assert_eq!(attribute(&page.dom, "data-cells"), fleet.nodes.len().to_string());
    assert_eq!(count(&page.dom, "<g data-cell=\"\""), fleet.nodes.len());
    // Zoomed in on one node: its GPUs as cells in the details, with what runs on each.
    let node = &fleet.nodes[7];
    let page = open_at(&file, &format!("#node={}", node.name));
    assert_eq!(page.console, Vec::<String>::new());
    let details = &page.dom[page.dom.find("<aside id=\"details\"").unwrap()..];
    assert_eq!(
        count(details, "<g data-cell=\"\""),
        node.gpus.len(),
        "{}",
        &details[..500]
    );
    assert!(details.contains(&node.name) && details.contains("KV tokens"));
}

#[test]
fn the_page_checks_catch_a_script_error_and_a_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, workload) = load("seed-405b/fleet.yaml", "seed-405b/deployments-with-pp.yaml");
    let plan = solve(&fleet, &workload).plan;
    let html = fleetfit::report::render(&fleet, &workload, &plan, &Default::default()).unwrap();
    let good = dir.path().join("good.html");
    std::fs::write(&good, &html).unwrap();
    assert_eq!(open(&good).console, Vec::<String>::new());
    let fetching = html.replace("<main>", "<main><img src=\"http://198.51.100.7/x.png\" alt=x>");
    assert!(!addresses(&fetching).is_empty());
    let bad = dir.path().join("fetching.html");
    std::fs::write(&bad, fetching).unwrap();
    assert!(open(&bad).console.iter().any(|l| l.contains("Content Security Policy")));
    let broken = html.replace("draw('type');", "draw(notDefined);");
    let bad = dir.path().join("broken.html");
    std::fs::write(&bad, broken).unwrap();
    assert!(open(&bad).console.iter().any(|l| l.contains("Uncaught")));
}

#[test]
fn results_from_another_tool_are_refused_at_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let run = fleetfit(&[&["plan"], &DEMO[..], &["--out", plan.to_str().unwrap()]].concat());
    assert!(run.status.success());
    let report = fleetfit(&[
        "report",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--whatif",
        plan.to_str().unwrap(),
        "--out",
        "/nonexistent-folder/r.html",
    ]);
    assert_eq!(report.status.code(), Some(2));
    let report = fleetfit(&[
        "report",
        "--fleet",
        "data/demo/fleet.yaml",
        "--deployments",
        "data/demo/deployments.yaml",
        "--plan",
        plan.to_str().unwrap(),
        "--whatif",
        plan.to_str().unwrap(),
        "--out",
        dir.path().join("r.html").to_str().unwrap(),
    ]);
    assert_eq!(report.status.code(), Some(2));
    let message = text(&report.stderr);
    assert!(
        message.contains("plan.json") && message.contains("unknown field `status`"),
        "{message}"
    );
    assert!(!dir.path().join("r.html").exists(), "nothing written");
}

#[test]
fn moves_count_shape_changes_and_sweeps_of_another_base_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::write(
        p("fleet.yaml"),
        "nodes:\n  - {name: n1, gpu_type: L40S, gpu_count: 2, memory_mib: 46068}\n  - name: mixed\n    gpus:\n      - {index: 0, type: L40S, memory_mib: 46068}\n      - {index: 1, type: A100-SXM4-80GB, memory_mib: 81920}\n",
    )
    .unwrap();
    for q in ["bf16", "fp8"] {
        let deployments = format!(
            "deployments:\n  - {{name: d, model: llama-3.1-8b, replicas: 2, quantizations: [{q}], gpu_types: [L40S], max_model_len: 4096}}\n"
        );
        std::fs::write(p(&format!("{q}.yaml")), deployments).unwrap();
        let out = p(&format!("{q}.json"));
        let plan = fleetfit(&[
            "plan",
            "--fleet",
            &p("fleet.yaml"),
            "--deployments",
            &p(&format!("{q}.yaml")),
            "--out",
            &out,
        ]);
        assert!(plan.status.success(), "{}", text(&plan.stderr));
    }
    let whatif = r#"{"scenarios": [{"name": "base", "objective": {"placed_value": 99, "quantization_penalty": 0, "gpus_used": 2}, "status": "optimal", "unplaced": [], "seconds": 0.1}]}"#;
    std::fs::write(p("whatif.json"), whatif).unwrap();
    let run = fleetfit(&[
        "report",
        "--fleet",
        &p("fleet.yaml"),
        "--deployments",
        &p("fp8.yaml"),
        "--plan",
        &p("fp8.json"),
        "--current",
        &p("bf16.json"),
        "--whatif",
        &p("whatif.json"),
        "--out",
        &p("r.html"),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let page = open(Path::new(&p("r.html")));
    assert_eq!(page.console, Vec::<String>::new());
    let at = page.dom.find("<section id=\"moves\"").unwrap();
    assert_eq!(
        attribute(&page.dom[at..], "data-rows"),
        "4",
        "two bf16 replicas stop, two fp8 ones start"
    );
    assert!(
        page.dom.contains("base places value 99; the plan above places 2"),
        "the sweep's other base is flagged"
    );
    assert!(
        page.dom.contains("A100-SXM4-80GB + L40S: 1 nodes"),
        "a node of two types is grouped under both"
    );
}
