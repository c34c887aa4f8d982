//! The level loop behind [`super::solve`]: the heuristic plans (greedy, LP-guided, the local
//! search beside HiGHS), then section 6's three levels with HiGHS, each fixing the one before,
//! the bound of level 1, and the plan checked before it is returned.

use std::time::Instant;

use super::heuristic::{self, greedy_floor, placed_value, plan_key};
use super::highs_run::HighsSettings;
use super::level_one::{Ended, Heuristic, LevelOne};
use super::lexicographic::{LEVEL_NAMES, Levels};
use super::relax::{self, level_one_bound, relax};
use super::{
    Formulation, Instance, SolveOptions, SolveStats, Solved, assign, budget, checked, merge, planner_fleet, progress,
    start,
};
use crate::domain::{Fleet, SolveStatus, Workload, make_plan};
use crate::error::Result;

/// Places every deployment of `workload` on `fleet`: the lexicographic optimum of section 6,
/// or the best plan found within `options.time_limit`. The plan has passed the checker; its
/// unplaced entries carry no reasons (`explain::solve` adds them).
pub fn solve(fleet: &Fleet, workload: &Workload, options: &SolveOptions) -> Result<Solved> {
    if !options.pinned.is_empty() {
        return super::pinned::solve(fleet, workload, options);
    }
    let started = Instant::now();
    let time = budget::Budget::new(options.time_limit, &options.cancel);
    let view = planner_fleet(fleet, workload);
    let fleet = &view;
    let filled = start::filled(fleet, workload, options);
    if let Some(solved) = start::at_known_optimum(fleet, workload, options, filled.as_ref(), started) {
        return solved;
    }
    // The greedy plan first: where it alone takes the whole time limit (the largest fleets), it
    // is the answer, and no model is built.
    let mut plain_greedy = filled.is_none().then(|| {
        progress::phase("greedy start");
        crate::greedy::place(fleet, workload)
    });
    if let Some(replicas) = &plain_greedy
        && time.is_over()
    {
        return greedy_floor(fleet, workload, options, replicas, None, started);
    }
    // Assigning GPUs, checking and writing the plan cost up to three times what the greedy plan
    // did (100,000 GPUs: 2.4 s, then 6 s): the search stops that much before the limit, so that
    // the limit bounds the whole run.
    let time = time.until(
        time.deadline()
            .checked_sub(started.elapsed() * budget::OUTPUT_PER_GREEDY)
            .unwrap_or(started)
            .max(started),
    );
    let deadline = time.deadline();
    let instance = Instance::new(fleet, workload);
    // A restriction cuts off plans only where something can be placed: where no stage of any
    // deployment fits anywhere, the model's empty plan is optimal on every level.
    let restricted = !instance.restrictions.is_empty() && relax::demand_bound(&instance) > 0.0;
    if options.verbose {
        for why in &instance.restrictions {
            eprintln!("fleetfit: not claiming optimality: {why}");
        }
    }
    let form = std::sync::Arc::new(Formulation::build(&instance));
    // Out of time once the model is built: the greedy plan is the answer.
    if let Some(replicas) = &plain_greedy
        && time.is_over()
    {
        return greedy_floor(fleet, workload, options, replicas, None, started);
    }
    let mut stats = SolveStats {
        restrictions: instance.restrictions.clone(),
        variables: form.vars.len(),
        rows: form.rows.len(),
        node_classes: instance.classes.len(),
        counted_nodes: instance
            .classes
            .iter()
            .filter(|c| c.nodes.len() > 1)
            .map(|c| c.nodes.len())
            .sum(),
        build_seconds: started.elapsed().as_secs_f64(),
        ..SolveStats::default()
    };
    let settings = HighsSettings {
        mip_rel_gap: options.mip_rel_gap,
        verbose: options.verbose,
        relaxed: false,
        cancel: options.cancel.clone(),
        stop_at: None,
        max_nodes: None,
    };

    // A filled start that reaches a known bound on level 1 is level 1's answer: no LP needed.
    let start_reaches_bound = filled
        .as_ref()
        .zip(options.known_bound)
        .is_some_and(|((_, plan), known)| !restricted && plan.objective.placed_value >= known.placed_value);
    // The greedy plan: a hint for level 1, and the floor if the solve stops early. Where the LP of
    // the relaxed instance solves in time, greedy first places the shapes the LP chose; the better
    // of the two is the hint and the floor, and the LP's value bounds level 1.
    let mut greedy = match &filled {
        Some((replicas, _)) if start_reaches_bound => replicas.clone(),
        _ => plain_greedy.take().unwrap_or_else(|| {
            progress::phase("greedy start");
            crate::greedy::place(fleet, workload)
        }),
    };
    // A restricted model's LP bounds only its own plans, so it neither bounds nor proves.
    let relaxation = if restricted || start_reaches_bound {
        None
    } else {
        progress::phase("LP relaxation");
        let merged = merge::for_relaxation(fleet, workload);
        let relaxed = Instance::relaxed(&merged, workload);
        let relaxed_form = std::sync::Arc::new(Formulation::build(&relaxed));
        relax(&relaxed, &relaxed_form, deadline, &settings)?
    };
    // A filled start already within the gap of the LP bound (or at it) needs no guided greedy.
    let start_suffices = filled.as_ref().zip(relaxation.as_ref()).is_some_and(|((_, plan), lp)| {
        let bound = super::bound::upper(lp.value);
        let value = plan.objective.placed_value as f64;
        value >= bound || (bound - value) / bound.max(1.0) <= options.mip_rel_gap
    });
    if let Some(lp) = relaxation.as_ref().filter(|_| !start_suffices) {
        let guided = heuristic::guided_greedy(fleet, workload, lp, started, &time, options.verbose, &greedy);
        if placed_value(workload, &guided) > placed_value(workload, &greedy) {
            greedy = guided;
        }
    }
    if let Some((replicas, theirs)) = &filled {
        let ours = make_plan(fleet, workload, greedy.clone(), SolveStatus::TimeLimit, None);
        if plan_key(theirs) > plan_key(&ours) {
            greedy = replicas.clone();
        }
    }
    // Handing the model to HiGHS and its presolve cost a few times what building it did: with
    // less time left than that, HiGHS cannot run, and the greedy plan stands with the LP's bound.
    if time.left().as_secs_f64() < budget::HIGHS_START_PER_BUILD * stats.build_seconds {
        let lp = relaxation.as_ref().map(|lp| lp.value);
        return greedy_floor(fleet, workload, options, &greedy, lp, started);
    }
    let mut heuristic = Heuristic {
        columns: start::from_replicas(&instance, &form, &greedy),
        value: placed_value(workload, &greedy) as f64,
        replicas: greedy,
    };
    // Placing nothing obeys every rule: a start that guarantees a plan under any time limit.
    let mut levels = Levels::new(std::sync::Arc::clone(&form), Vec::new(), vec![0.0; form.vars.len()], "");
    let level_one = LevelOne {
        fleet,
        instance: &instance,
        form: &form,
        options,
        relaxation: relaxation.as_ref(),
        restricted,
    };
    let answer = level_one.settle(&mut heuristic, &mut levels, &time, &settings)?;
    stats.proof_contradicted |= answer.proof_contradicted;
    let level1_bound = answer.bound;
    if answer.ended == Ended::Settled {
        for level in 1..LEVEL_NAMES.len() {
            // With `--gap`, speed was asked for: levels 2 and 3 stop at the same gap and get at
            // most a tenth of the time limit each.
            let time_left = if options.mip_rel_gap > 0.0 {
                time.left().min(options.time_limit.mul_f64(budget::GAP_LEVEL_SHARE))
            } else {
                time.left()
            };
            if !levels.settle(level, time_left, &settings, options.known_bound.as_ref(), restricted)? {
                break;
            }
        }
    }
    let best = levels.best;
    stats.levels = levels.records;
    let greedy = heuristic.replicas;
    progress::phase("assigning GPUs");
    // No level gave columns (out of time before HiGHS found any): the heuristic plan stands.
    let mut replicas = if answer.ended != Ended::Settled {
        greedy.clone()
    } else {
        assign::assign(&instance, &form, &best)?
    };
    // Every run compares the heuristic plan with the solver's: a checked heuristic plan that is
    // better wins, and if the solver had proven its levels, that proof was wrong.
    let ours = make_plan(fleet, workload, replicas.clone(), SolveStatus::TimeLimit, None);
    let theirs = make_plan(fleet, workload, greedy.clone(), SolveStatus::TimeLimit, None);
    if plan_key(&theirs) > plan_key(&ours) && crate::check::check(fleet, workload, &theirs).is_empty() {
        if stats.proven() {
            stats.proof_contradicted = true;
            if options.verbose {
                eprintln!("fleetfit: a heuristic plan beat the proven solution; returning it without a claim");
            }
        }
        stats.heuristic_kept = !stats.levels.is_empty();
        replicas = greedy;
    }
    // `optimal` comes from the records: every level settled by a proof, on a model as wide as
    // the rules, and no heuristic plan that contradicts them.
    let status = if !restricted && stats.proven() {
        SolveStatus::Optimal
    } else {
        SolveStatus::TimeLimit
    };
    // A level 1 that never ran is still bounded: by the LP relaxation or by all the demand.
    let level1_bound = level1_bound.or_else(|| {
        (status == SolveStatus::TimeLimit).then(|| {
            let value = placed_value(workload, &replicas) as f64;
            level_one_bound(
                &instance,
                f64::NAN,
                relaxation.as_ref().map(|lp| lp.value),
                value,
                false,
            )
        })
    });
    let mut plan = make_plan(fleet, workload, replicas, status, level1_bound);
    if restricted {
        plan.restrictions = instance.restrictions.clone();
    }
    stats.total_seconds = started.elapsed().as_secs_f64();
    checked(fleet, workload, &plan)?;
    Ok(Solved { plan, stats })
}
