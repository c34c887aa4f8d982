//! Running HiGHS on one level of the objective: options, warm start, and what came back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use good_lp::{Constraint, Expression, IntoAffineExpression};
use highs::{HighsModelStatus, RowProblem, Sense};

use super::formulation::Formulation;
use crate::error::Error;

/// Solver settings shared by every level. The default proves optimality, quietly, with no stop
/// but the solve's switch.
#[derive(Debug, Clone, Default)]
pub struct HighsSettings {
    /// Relative MIP gap at which a level counts as done (0 = prove optimality).
    pub mip_rel_gap: f64,
    /// Stream HiGHS's log to stderr.
    pub verbose: bool,
    /// Solve the LP relaxation only (values come back unrounded).
    pub relaxed: bool,
    /// The solve's switch: once on, HiGHS is interrupted and every wait for it ends.
    pub cancel: super::budget::Cancel,
    /// A maximised level stops at its first incumbent worth at least this (a start for other
    /// work, not a proof). The stop depends on the incumbents HiGHS finds, never on the clock.
    pub stop_at: Option<f64>,
    /// At most this many branch-and-bound nodes: a search whose end depends on its work, not on
    /// the clock (the repair steps' small models).
    pub max_nodes: Option<i32>,
}

/// Whether HiGHS proved a level optimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelOutcome {
    Optimal,
    /// Stopped early (time limit) with a feasible incumbent.
    Stopped,
    /// No solution satisfies the rows (capacity planning: no purchase places the demand).
    Infeasible,
}

/// One level's answer.
#[derive(Debug, Clone)]
pub struct LevelResult {
    pub outcome: LevelOutcome,
    /// Column values, rounded to integers.
    pub values: Vec<f64>,
    /// HiGHS's dual bound on the level's objective.
    pub bound: f64,
    pub seconds: f64,
    /// The objective HiGHS reported for its solution (checked against `values`).
    pub reported: f64,
}

/// A level's starting points: `hint` is offered to HiGHS (which checks it); `fallback` is a
/// solution known to satisfy every row, returned if HiGHS stops before finding one.
#[derive(Debug, Clone, Copy)]
pub struct Starts<'s> {
    pub hint: Option<&'s [f64]>,
    pub fallback: Option<&'s [f64]>,
}

/// Solves `objective` (maximised or minimised) subject to the model's rows plus `extra`,
/// starting from `starts`, within `time_left`.
///
/// Given a starting solution, HiGHS 1.16 can report an objective that the solution it returns
/// does not reach (it hands back the start). The returned columns are evaluated here; if they
/// fall short of what HiGHS reported, the level is solved again without a start.
pub fn solve_level(
    form: &Formulation,
    objective: &Expression,
    maximise: bool,
    extra: &[Constraint],
    starts: Starts<'_>,
    run: &Run<'_>,
) -> Result<LevelResult, Error> {
    let (time_left, settings) = (run.time_left, run.settings);
    let started = Instant::now();
    let start = starts.hint.filter(|s| !s.is_empty());
    let first = solve_once(form, objective, maximise, extra, start, starts.fallback, run)?;
    if first.outcome == LevelOutcome::Infeasible {
        return Ok(first);
    }
    let reached = evaluate(form, objective, &first.values);
    let short = if maximise {
        first.reported > reached + 0.5
    } else {
        first.reported < reached - 0.5
    };
    if start.is_none() || settings.relaxed || !short || !first.reported.is_finite() {
        return Ok(first);
    }
    if settings.verbose {
        eprintln!(
            "fleetfit: HiGHS reported {} but returned a solution worth {reached}; solving again without a start",
            first.reported
        );
    }
    let run = Run {
        time_left: time_left.saturating_sub(started.elapsed()),
        ..*run
    };
    let second = solve_once(form, objective, maximise, extra, None, starts.fallback, &run)?;
    let better = |a: f64, b: f64| if maximise { a > b } else { a < b };
    let again = evaluate(form, objective, &second.values);
    let mut result = if better(again, reached) || second.outcome == LevelOutcome::Optimal && !better(reached, again) {
        second
    } else {
        // The first solution stands, but its level is not proven.
        LevelResult {
            outcome: LevelOutcome::Stopped,
            ..first
        }
    };
    result.seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

/// Whether column values obey every row of the model and of `extra`, and every column bound:
/// a start offered as the fallback must, since the fallback is returned as it is.
pub(crate) fn satisfies(form: &Formulation, extra: &[Constraint], values: &[f64]) -> bool {
    let columns = form.vars.defs();
    if values.len() != columns.len()
        || columns
            .iter()
            .zip(values)
            .any(|(def, &v)| v < def.lower - 1e-9 || v > def.upper + 1e-9)
    {
        return false;
    }
    form.rows.iter().chain(extra).all(|row| {
        let expression = row.expression();
        let lhs = expression.constant()
            + expression
                .clone()
                .linear_coefficients()
                .map(|(var, k)| k * values[form.vars.index_of(var)])
                .sum::<f64>();
        if row.is_equality() {
            lhs.abs() < 1e-6
        } else {
            lhs < 1e-6
        }
    })
}

/// An objective's value at a solution given as column values.
pub(crate) fn evaluate(form: &Formulation, objective: &Expression, values: &[f64]) -> f64 {
    objective.constant()
        + objective
            .clone()
            .linear_coefficients()
            .map(|(var, k)| k * values[form.vars.index_of(var)])
            .sum::<f64>()
}

/// One HiGHS run's time, settings and stop switch (read by HiGHS's interrupt callback).
#[derive(Clone, Copy)]
pub struct Run<'r> {
    pub time_left: Duration,
    pub settings: &'r HighsSettings,
    pub stop: &'r Arc<AtomicBool>,
}

fn solve_once(
    form: &Formulation,
    objective: &Expression,
    maximise: bool,
    extra: &[Constraint],
    start: Option<&[f64]>,
    fallback: Option<&[f64]>,
    run: &Run<'_>,
) -> Result<LevelResult, Error> {
    let (time_left, settings) = (run.time_left, run.settings);
    let started = Instant::now();
    // Lives as long as the models below: HiGHS's callback reads it.
    let hook = super::callback::Hook::new(
        run.stop,
        &settings.cancel,
        settings.stop_at,
        super::progress::enabled() && !settings.relaxed,
    );
    let configured = |no_presolve: bool| -> Result<highs::Model, Error> {
        let mut model = build_model(form, objective, maximise, extra, settings.relaxed);
        option(&mut model, "output_flag", settings.verbose)?;
        option(&mut model, "log_to_console", settings.verbose)?;
        // One thread: the HiGHS scheduler is per process, and plans must not depend on timing.
        option(&mut model, "threads", 1)?;
        option(&mut model, "random_seed", 0)?;
        // HiGHS checks its clock between LP solves, which take seconds on large fleets: stopping it
        // early leaves room to collect its incumbent before fleetfit's own deadline.
        option(
            &mut model,
            "time_limit",
            // (The LP relaxation checks its clock often: it gets all of its budget.)
            (time_left.as_secs_f64()
                * if settings.relaxed {
                    1.0
                } else {
                    super::budget::HIGHS_SHARE
                })
            .max(0.01),
        )?;
        option(&mut model, "mip_rel_gap", settings.mip_rel_gap)?;
        // Every objective coefficient is an integer, so a gap below 1 already proves optimality.
        option(&mut model, "mip_abs_gap", 0.5)?;
        option(&mut model, "solve_relaxation", settings.relaxed)?;
        if let Some(nodes) = settings.max_nodes {
            option(&mut model, "mip_max_nodes", nodes)?;
        }
        hook.attach(&mut model);
        if settings.relaxed || no_presolve {
            // On large fleets presolve costs more than it saves for the LP alone.
            option(&mut model, "presolve", "off")?;
        }
        if let Some(start) = start {
            // A start only speeds the search up; HiGHS refusing it is not a reason to fail.
            let _ = model.try_set_solution(Some(start), None, None, None);
        }
        Ok(model)
    };
    // HiGHS 1.16's presolve can return a solution that breaks a row and end in an error (seen
    // on a tiny sharing instance): solve once more without presolve before giving up.
    let solved = match configured(false)?.try_solve() {
        Ok(solved) => solved,
        Err(_) => configured(true)?
            .try_solve()
            .map_err(|e| Error::Solver(format!("HiGHS failed: {e:?}")))?,
    };
    let outcome = match solved.status() {
        HighsModelStatus::Optimal => LevelOutcome::Optimal,
        // No rows: every column sits at its lower bound, zero.
        HighsModelStatus::ModelEmpty => {
            let values = vec![0.0; form.vars.len()];
            return Ok(LevelResult {
                outcome: LevelOutcome::Optimal,
                values,
                bound: 0.0,
                seconds: started.elapsed().as_secs_f64(),
                reported: 0.0,
            });
        }
        HighsModelStatus::ReachedTimeLimit
        | HighsModelStatus::ReachedIterationLimit
        | HighsModelStatus::ReachedSolutionLimit
        | HighsModelStatus::ReachedInterrupt
        | HighsModelStatus::ReachedMemoryLimit
        | HighsModelStatus::ObjectiveBound
        | HighsModelStatus::ObjectiveTarget => LevelOutcome::Stopped,
        HighsModelStatus::Infeasible => {
            return Ok(LevelResult {
                outcome: LevelOutcome::Infeasible,
                values: Vec::new(),
                bound: f64::NAN,
                seconds: started.elapsed().as_secs_f64(),
                reported: f64::NAN,
            });
        }
        other => return Err(Error::Solver(format!("HiGHS ended with status {other:?}"))),
    };
    let bound = solved.double_info_value(c"mip_dual_bound").unwrap_or(f64::NAN);
    let reported = solved.objective_value();
    let values: Vec<f64> = if solved.primal_solution_status() == highs::HighsSolutionStatus::Feasible {
        let columns = solved.get_solution().columns().to_vec();
        if settings.relaxed {
            columns
        } else {
            columns.iter().map(|v| v.round()).collect()
        }
    } else if let Some(start) = fallback {
        // Stopped before it had a plan of its own: the start is feasible by construction.
        return Ok(LevelResult {
            outcome: LevelOutcome::Stopped,
            values: start.to_vec(),
            bound,
            seconds: started.elapsed().as_secs_f64(),
            reported: f64::NAN,
        });
    } else {
        return Err(Error::NoFeasibleYet);
    };
    Ok(LevelResult {
        outcome,
        values,
        bound,
        seconds: started.elapsed().as_secs_f64(),
        reported,
    })
}

/// The HiGHS model of one level: columns in fleetfit's order (column `j` of a solution is
/// `form.vars.defs()[j]`), rows as `expression <= 0` or `== 0` (good_lp's normal form).
fn build_model(
    form: &Formulation,
    objective: &Expression,
    maximise: bool,
    extra: &[Constraint],
    relaxed: bool,
) -> highs::Model {
    let columns = &form.vars;
    let mut costs = vec![0.0; columns.len()];
    for (var, coefficient) in objective.clone().linear_coefficients() {
        costs[columns.index_of(var)] += coefficient;
    }
    let mut problem = RowProblem::default();
    let cols: Vec<highs::Col> = columns
        .defs()
        .iter()
        .zip(&costs)
        .map(|(def, &cost)| problem.add_column_with_integrality(cost, def.lower..=def.upper, def.integer && !relaxed))
        .collect();
    for row in form.rows.iter().chain(extra) {
        let expression = row.expression();
        let rhs = -expression.constant();
        let mut factors: Vec<(usize, f64)> = expression
            .clone()
            .linear_coefficients()
            .map(|(var, coefficient)| (columns.index_of(var), coefficient))
            .collect();
        factors.sort_unstable_by_key(|&(j, _)| j);
        let factors = factors.into_iter().map(|(j, coefficient)| (cols[j], coefficient));
        if row.is_equality() {
            problem.add_row(rhs..=rhs, factors);
        } else {
            problem.add_row(..=rhs, factors);
        }
    }
    problem.optimise(if maximise { Sense::Maximise } else { Sense::Minimise })
}

fn option<V: highs::HighsOptionValue>(model: &mut highs::Model, name: &str, value: V) -> Result<(), Error> {
    model
        .try_set_option(name, value)
        .map_err(|e| Error::Solver(format!("HiGHS rejected option {name}: {e:?}")))
}
