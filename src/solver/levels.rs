//! The level loop behind [`super::solve`]: the heuristic plans (greedy, LP-guided, the local
//! search beside HiGHS), then section 6's three levels with HiGHS, each fixing the one before,
//! the bound of level 1, and the plan checked before it is returned.

use std::time::Instant;

use super::heuristic::{self, greedy_floor, placed_value, plan_key};
use super::highs_run::{HighsSettings, LevelOutcome, Starts};
use super::lexicographic::{LEVEL_NAMES, Levels};
use super::relax::{self, level_one_bound, relax};
use super::{
    Formulation, Instance, LevelStats, Settled, SolveOptions, SolveStats, Solved, assign, budget, checked,
    local_search, merge, planner_fleet, progress, start,
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
        let guided = heuristic::guided_greedy(fleet, workload, lp, started, deadline, options.verbose, &greedy);
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
    let mut hint = start::from_replicas(&instance, &form, &greedy);
    let mut greedy_value = placed_value(workload, &greedy) as f64;
    // Placing nothing obeys every rule: a start that guarantees a plan under any time limit.
    let mut levels = Levels {
        form: std::sync::Arc::clone(&form),
        fixed: Vec::new(),
        best: vec![0.0; form.vars.len()],
        records: Vec::new(),
    };
    let mut level1_bound = None;
    let mut all_proven = !restricted;
    // Level 1 without a MIP: the heuristic plan already reaches a proven bound (the relaxed LP's,
    // or one known from elsewhere), or with `--gap` it is within the gap of the LP bound. Levels
    // 2 and 3 then start from it when the model expresses it whole.
    let lp_floor = relaxation.as_ref().map(|lp| super::bound::upper(lp.value));
    // (Values recomputed from HiGHS's columns may sit a rounding error below an integer.)
    let reaches_proven_bound = |value: f64| {
        !restricted
            && (lp_floor.is_some_and(|b| value >= b - 1e-6)
                || options
                    .known_bound
                    .is_some_and(|b| value >= b.placed_value as f64 - 1e-6))
    };
    // Which proven bound a level-1 value reaches: the LP's, else the base's.
    let settled_by_bound = |value: f64| {
        if lp_floor.is_some_and(|b| value >= b - 1e-6) {
            Settled::LpBound
        } else {
            Settled::KnownBound
        }
    };
    let reaches_bound = reaches_proven_bound(greedy_value);
    let within_gap = lp_floor.filter(|&bound| {
        options.mip_rel_gap > 0.0 && greedy_value < bound && (bound - greedy_value) / bound <= options.mip_rel_gap
    });
    // The shortcut needs the heuristic plan written in the model's columns, so that levels 2 and
    // 3 can start from it; where the model cannot express it whole, a proven bound is reached
    // by the MIP instead (quickly: it has the bound), and only `--gap` keeps the plan as it is.
    let expressible = hint
        .as_deref()
        .is_some_and(|h| (form.level_value(0, h) - greedy_value).abs() < 0.5);
    let reaches_bound = reaches_bound && expressible;
    // Level 1 settled, or HiGHS gave nothing for it (levels 2 and 3 are then not tried).
    let mut level_one_settled = true;
    // The heuristic plan stands as it is, levels 2 and 3 unsolved.
    let mut heuristic_stands = false;
    if reaches_bound || within_gap.is_some() {
        let bound = if reaches_bound {
            greedy_value
        } else {
            within_gap.unwrap_or(greedy_value)
        };
        all_proven &= reaches_bound;
        level1_bound = Some(level_one_bound(
            &instance,
            f64::NAN,
            Some(bound),
            greedy_value,
            reaches_bound,
        ));
        let settled = if reaches_bound {
            settled_by_bound(greedy_value)
        } else {
            Settled::WithinGap
        };
        match hint.as_deref() {
            Some(h) if expressible => {
                levels.record(0, h.to_vec(), bound, settled, 0.0);
            }
            _ => {
                // The model cannot express the plan whole: it stands, levels 2 and 3 unsolved.
                levels.records.push(LevelStats {
                    name: LEVEL_NAMES[0],
                    value: greedy_value,
                    bound,
                    settled,
                    seconds: 0.0,
                });
                all_proven = false;
                heuristic_stands = true;
            }
        }
    } else if time.is_over() {
        // Out of time: HiGHS would only build its copy of the model.
        all_proven = false;
        level_one_settled = false;
    } else {
        // HiGHS's root node does not look at the clock between its LP solves and cut rounds
        // (4,096 GPUs: 31 s of them whatever the limit): level 1 is waited for at most this
        // share, so that levels 2 and 3 can still start from the heuristic plan.
        let time_left = if expressible {
            time.share(budget::LEVEL_ONE_WAIT_SHARE)
        } else {
            time.left()
        };
        let gap = options.mip_rel_gap;
        let starts = Starts {
            hint: hint.as_deref(),
            fallback: Some(&levels.best),
        };
        progress::phase("level 1 of 3 (placed value)");
        let answer = if expressible && local_search::pays_on(fleet) {
            // While HiGHS works on level 1, the local search improves the heuristic plan.
            let mut pending = super::worker::spawn_level(&form, 0, &[], starts, time_left, &settings);
            if let Some(better) = local_search::beside(&instance, &form, &greedy, || pending.is_over()) {
                if options.verbose {
                    eprintln!("fleetfit: local search {greedy_value} -> {}", better.value);
                }
                (greedy, greedy_value, hint) = (better.replicas, better.value, Some(better.columns));
            }
            pending.wait()?
        } else {
            super::worker::spawn_level(&form, 0, &[], starts, time_left, &settings).wait()?
        };
        // HiGHS ran past the wait on level 1, or the local search placed more than HiGHS's
        // answer: the heuristic plan is level 1's answer, and levels 2 and 3 start from it.
        let heuristic_answers = expressible
            && answer
                .as_ref()
                .is_none_or(|r| form.level_value(0, &r.values) < greedy_value - 0.5);
        let lp_bound = relaxation.as_ref().map(|lp| lp.value);
        if heuristic_answers {
            let highs_bound = answer.as_ref().map_or(f64::NAN, |r| r.bound);
            // HiGHS proved less than a checked plan places: the proof was wrong.
            if answer.as_ref().is_some_and(|r| r.outcome == LevelOutcome::Optimal) && gap == 0.0 && !restricted {
                stats.proof_contradicted = true;
            }
            let proven = reaches_proven_bound(greedy_value);
            all_proven &= proven;
            let highs_bound = if restricted { f64::NAN } else { highs_bound };
            let bound = level_one_bound(&instance, highs_bound, lp_bound, greedy_value, proven);
            level1_bound = Some(capped_by_known(options, bound, greedy_value));
            let settled = if proven {
                settled_by_bound(greedy_value)
            } else {
                Settled::Stopped
            };
            let seconds = answer.as_ref().map_or(time_left.as_secs_f64(), |r| r.seconds);
            let columns = hint.as_deref().map_or_else(|| levels.best.clone(), <[f64]>::to_vec);
            levels.record(0, columns, bound, settled, seconds);
        } else {
            match answer {
                Some(result) if result.outcome != LevelOutcome::Infeasible => {
                    // The level's value is recomputed from the returned columns.
                    let value = form.level_value(0, &result.values);
                    let reaches_lp = reaches_proven_bound(value);
                    let closes = (result.bound - value).abs() < 1.0 - 1e-6;
                    let proven = !restricted
                        && (reaches_lp || result.outcome == LevelOutcome::Optimal && (gap == 0.0 || closes));
                    let highs_bound = if restricted { f64::NAN } else { result.bound };
                    let bound = level_one_bound(&instance, highs_bound, lp_bound, value, proven);
                    level1_bound = Some(capped_by_known(options, bound, value));
                    let settled = match () {
                        _ if !proven => Settled::Stopped,
                        _ if reaches_lp => settled_by_bound(value),
                        _ => Settled::Mip,
                    };
                    all_proven &= proven;
                    levels.record(0, result.values, result.bound, settled, result.seconds);
                }
                // HiGHS ran past our deadline (or, against every row's design, found nothing):
                // keep what we have, stop here.
                _ => {
                    all_proven = false;
                    level_one_settled = false;
                }
            }
        }
    }
    if level_one_settled && !heuristic_stands {
        for level in 1..LEVEL_NAMES.len() {
            // With `--gap`, speed was asked for: levels 2 and 3 stop at the same gap and get at
            // most a tenth of the time limit each.
            let time_left = if options.mip_rel_gap > 0.0 {
                time.left().min(options.time_limit.mul_f64(budget::GAP_LEVEL_SHARE))
            } else {
                time.left()
            };
            let settings = HighsSettings {
                mip_rel_gap: options.mip_rel_gap,
                ..settings.clone()
            };
            if !levels.settle(level, time_left, &settings, options.known_bound.as_ref(), restricted)? {
                all_proven = false;
                break;
            }
            all_proven &= levels.records[level].proven();
        }
    }
    let first_level = if heuristic_stands { 3 } else { 0 };
    let best = levels.best;
    stats.levels = levels.records;
    progress::phase("assigning GPUs");
    // No level gave columns (out of time before HiGHS found any): the heuristic plan stands.
    let mut replicas = if first_level == 3 || stats.levels.is_empty() {
        greedy.clone()
    } else {
        assign::assign(&instance, &form, &best)?
    };
    // Every run compares the heuristic plan with the solver's: a checked heuristic plan that is
    // better wins, and if the solver had proven its levels, that proof was wrong.
    let ours = make_plan(fleet, workload, replicas.clone(), SolveStatus::TimeLimit, None);
    let theirs = make_plan(fleet, workload, greedy.clone(), SolveStatus::TimeLimit, None);
    if plan_key(&theirs) > plan_key(&ours) && crate::check::check(fleet, workload, &theirs).is_empty() {
        if all_proven {
            stats.proof_contradicted = true;
            all_proven = false;
            if options.verbose {
                eprintln!("fleetfit: a heuristic plan beat the proven solution; returning it without a claim");
            }
        }
        stats.heuristic_kept = !stats.levels.is_empty();
        replicas = greedy;
    }
    // `optimal` comes from the records: every level settled by a proof, on a model as wide as
    // the rules, and no heuristic plan that contradicts them.
    let recorded = !restricted
        && !stats.proof_contradicted
        && stats.levels.len() == LEVEL_NAMES.len()
        && stats.levels.iter().all(LevelStats::proven);
    debug_assert_eq!(
        recorded, all_proven,
        "the level records and the loop disagree: {stats:?}"
    );
    let status = if recorded {
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

/// Level 1's bound, no higher than a bound known from elsewhere, no lower than the plan's value.
fn capped_by_known(options: &SolveOptions, bound: f64, value: f64) -> f64 {
    options
        .known_bound
        .map_or(bound, |b| bound.min(b.placed_value as f64).max(value))
}
