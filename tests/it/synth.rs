//! `fleetfit gen`: reproducible synthetic inputs that load, solve and check.

use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};

use super::common::*;

/// The scale bench's 512-GPU case: `gen --gpus 512 --deployments 32 --seed 1 --tight`.
pub fn generated_512() -> (fleetfit::domain::Fleet, fleetfit::domain::Workload) {
    let spec = GenSpec {
        gpus: 512,
        deployments: 32,
        seed: 1,
        tight: true,
    };
    parse(&fleet_yaml(&spec), &deployments_yaml(&spec))
}

#[test]
fn the_same_seed_gives_the_same_files() {
    let spec = GenSpec {
        gpus: 96,
        deployments: 10,
        seed: 7,
        tight: true,
    };
    assert_eq!(fleet_yaml(&spec), fleet_yaml(&spec));
    assert_eq!(deployments_yaml(&spec), deployments_yaml(&spec));
    let other = GenSpec {
        seed: 8,
        ..spec.clone()
    };
    assert_ne!(fleet_yaml(&spec), fleet_yaml(&other));
}

#[test]
fn generated_inputs_solve_beat_greedy_and_check() {
    for (gpus, tight) in [(48, false), (64, true)] {
        let spec = GenSpec {
            gpus,
            deployments: 8,
            seed: 3,
            tight,
        };
        let (fleet, workload) = parse(&fleet_yaml(&spec), &deployments_yaml(&spec));
        assert_eq!(fleet.gpus().count() as u64, gpus);
        let plan = solve(&fleet, &workload).plan;
        let greedy = fleetfit::greedy::plan(&fleet, &workload);
        assert_valid(&fleet, &workload, &greedy);
        assert!(plan.objective.placed_value >= greedy.objective.placed_value);
        if tight {
            assert!(!plan.unplaced.is_empty(), "--tight asks for more than the fleet holds");
        }
    }
}

#[test]
fn gen_writes_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetfit"))
        .args([
            "gen",
            "--gpus",
            "32",
            "--deployments",
            "4",
            "--seed",
            "2",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(fleetfit::formats::fleet_file::load(&dir.path().join("fleet.yaml")).is_ok());
    assert!(fleetfit::formats::deployments_file::load(&dir.path().join("deployments.yaml")).is_ok());
}

/// A one-second limit on a fleet far too large to prove still gives a valid plan, at least as
/// good as greedy, with a bound and gap.
#[test]
fn a_one_second_limit_on_a_large_fleet_returns_a_valid_plan() {
    let spec = GenSpec {
        gpus: 4096,
        deployments: 256,
        seed: 1,
        tight: true,
    };
    let (fleet, workload) = parse(&fleet_yaml(&spec), &deployments_yaml(&spec));
    let options = fleetfit::solver::SolveOptions {
        time_limit: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let plan = fleetfit::explain::solve(&fleet, &workload, &options)
        .expect("a plan")
        .plan;
    assert_valid(&fleet, &workload, &plan);
    assert!(plan.objective.placed_value >= fleetfit::greedy::plan(&fleet, &workload).objective.placed_value);
    if plan.status == fleetfit::domain::SolveStatus::TimeLimit {
        assert!(plan.objective.bound.is_some() && plan.objective.gap.is_some());
    }
}

#[test]
fn guided_greedy_places_the_given_shapes_first_and_stays_valid() {
    let (fleet, workload) = generated_512();
    assert_eq!(
        fleetfit::greedy::place_guided(&fleet, &workload, &[], fleetfit::greedy::GuideOrder::Scarcest),
        fleetfit::greedy::place(&fleet, &workload)
    );
    // Ask for the widest shape of every deployment first.
    let kinds = fleetfit::shapes::gpu_kinds(&fleet);
    let first: Vec<_> = workload
        .deployments
        .iter()
        .enumerate()
        .filter_map(|(d, deployment)| {
            let options = fleetfit::shapes::all_options(d, deployment, &workload.policy, &kinds);
            let widest = options.iter().max_by_key(|o| o.tp)?;
            // Only shapes plain greedy would not pick first (it starts from the fewest GPUs).
            (options.iter().any(|o| o.tp < widest.tp)).then(|| (widest.clone(), deployment.replicas))
        })
        .collect();
    for order in fleetfit::greedy::GuideOrder::ALL {
        let replicas = fleetfit::greedy::place_guided(&fleet, &workload, &first, order);
        let plan = fleetfit::domain::make_plan(
            &fleet,
            &workload,
            replicas,
            fleetfit::domain::SolveStatus::TimeLimit,
            None,
        );
        assert_valid(&fleet, &workload, &plan);
        // The shapes asked for are placed (plain greedy prefers the smallest ones).
        let placed_as_asked = first.iter().any(|(option, _)| {
            let name = &workload.deployments[option.deployment].name;
            plan.replicas
                .iter()
                .any(|r| &r.deployment == name && r.tensor_parallel == option.tp && r.gpu_type == option.kind.gpu_type)
        });
        assert!(placed_as_asked, "{order:?}: no requested shape is placed");
    }
}

#[test]
fn a_greedy_plan_within_the_gap_of_the_lp_bound_is_returned_without_a_mip() {
    let (fleet, workload) = generated_512();
    let options = fleetfit::solver::SolveOptions {
        mip_rel_gap: 0.05,
        ..Default::default()
    };
    let solved = fleetfit::explain::solve(&fleet, &workload, &options).unwrap();
    let o = &solved.plan.objective;
    assert_valid(&fleet, &workload, &solved.plan);
    assert_eq!(solved.plan.status, fleetfit::domain::SolveStatus::TimeLimit);
    assert!(o.gap.unwrap() <= 0.05, "gap {:?}", o.gap);
    assert!(o.bound.unwrap() >= 2617.0, "the bound covers the optimum (2617)");
    let level1 = &solved.stats.levels[0];
    assert_eq!(level1.name, "placed_value");
    assert_eq!(level1.seconds, 0.0, "no MIP ran for level 1");
    assert_eq!(
        o.placed_value as f64, level1.value,
        "levels 2 and 3 kept level 1's value"
    );
}
