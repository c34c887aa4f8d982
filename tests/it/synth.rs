//! `fleetfit gen`: reproducible synthetic inputs that load, solve and check.

use fleetfit::synth::{GenSpec, deployments_yaml, fleet_yaml};

use super::common::*;

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
