//! Structure-aware fuzzing of the input parsers on the stable toolchain: random structural
//! mutations of the files in `data/` (drop a field, swap in a hostile value, duplicate a list
//! entry, add an unknown key), written as YAML or JSON, must load or fail with a message, never
//! panic. `FLEETFIT_FUZZ_CASES` sets the number of cases (`scripts/fuzz.sh` runs many more).

use proptest::prelude::*;
use serde_yaml::Value;

use super::common::data;

const SOURCES: [&str; 6] = [
    "demo/fleet.yaml",
    "demo/deployments.yaml",
    "seed-405b/fleet.yaml",
    "seed-405b/deployments-with-pp.yaml",
    "dynamo/deployments.yaml",
    "hf/deepseek-v3/config.json",
];

fn cases() -> u32 {
    std::env::var("FLEETFIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Values that break assumptions: zero, negative, huge, fractional, wrong type, empty.
fn hostile(choice: u32) -> Value {
    let text = [
        "0",
        "-1",
        "18446744073709551615",
        "1e30",
        "1e308",
        "0.5",
        "''",
        "x",
        "true",
        "~",
        "[]",
        "{}",
        "[0]",
        "4294967296",
        "-0.0",
        ".nan",
    ];
    serde_yaml::from_str(text[choice as usize % text.len()]).unwrap()
}

/// Applies one mutation at a random place, steered by `steps`.
fn mutate(here: &mut Value, steps: &[u32], op: u32, arg: u32) {
    if let Some((&step, rest)) = steps.split_first() {
        match here {
            Value::Mapping(map) if !map.is_empty() => {
                let key = map.keys().nth(step as usize % map.len()).cloned().unwrap();
                return mutate(map.get_mut(&key).unwrap(), rest, op, arg);
            }
            Value::Sequence(seq) if !seq.is_empty() => {
                let i = step as usize % seq.len();
                return mutate(&mut seq[i], rest, op, arg);
            }
            _ => {}
        }
    }
    match (op % 4, here) {
        (0, Value::Mapping(map)) if !map.is_empty() => {
            let key = map.keys().nth(arg as usize % map.len()).cloned().unwrap();
            map.remove(&key);
        }
        (1, Value::Sequence(seq)) if !seq.is_empty() => {
            let item = seq[arg as usize % seq.len()].clone();
            seq.push(item);
        }
        (2, Value::Mapping(map)) => {
            map.insert(Value::String(format!("unknown_{arg}")), hostile(arg));
        }
        (_, slot) => *slot = hostile(arg),
    }
}

fn load_all(path: &std::path::Path) {
    let _ = fleetfit::formats::fleet_file::load(path);
    let _ = fleetfit::formats::deployments_file::load(path);
    let _ = fleetfit::formats::hf_config::load(path);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn structural_mutations_never_panic(
        which in 0usize..SOURCES.len(),
        mutations in prop::collection::vec((prop::collection::vec(any::<u32>(), 0..6), any::<u32>(), any::<u32>()), 1..4),
        as_json in any::<bool>(),
    ) {
        let text = std::fs::read_to_string(data(SOURCES[which])).unwrap();
        let mut value: Value = serde_yaml::from_str(&text).unwrap();
        for (steps, op, arg) in &mutations {
            mutate(&mut value, steps, *op, *arg);
        }
        let dir = tempfile::tempdir().unwrap();
        let (name, body) = if as_json {
            ("input.json", serde_json::to_string(&value).unwrap_or_default())
        } else {
            ("input.yaml", serde_yaml::to_string(&value).unwrap())
        };
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        load_all(&path);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 2))]

    /// `fleetfit check` reads plans written by anyone: mutated plans give violations, not panics.
    #[test]
    fn mutated_plans_never_panic_the_checker(
        mutations in prop::collection::vec((prop::collection::vec(any::<u32>(), 0..6), any::<u32>(), any::<u32>()), 1..4),
    ) {
        let (fleet, workload) = super::common::load("dynamo/fleet.yaml", "dynamo/deployments.yaml");
        let plan = super::common::solve(&fleet, &workload).plan;
        let mut value: Value = serde_yaml::from_str(&plan.to_json()).unwrap();
        for (steps, op, arg) in &mutations {
            mutate(&mut value, steps, *op, *arg);
        }
        let (_dir, path) = super::common::temp_file("plan.json", &serde_json::to_string(&value).unwrap_or_default());
        if let Ok(plan) = fleetfit::formats::parse_file::<fleetfit::domain::Plan>(&path) {
            let _ = fleetfit::check::check(&fleet, &workload, &plan);
        }
    }
}
