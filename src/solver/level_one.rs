//! Level 1 (`placed_value`), settled its own way: without a MIP where the heuristic plan already
//! reaches a proven bound (the LP's or a base's) or `--gap` of the LP's, else by HiGHS while the
//! local search improves the heuristic plan beside it; whichever places more is the answer.
//! Records go to [`Levels`]; the bound of level 1 is returned with how it ended.

use std::sync::Arc;

use super::budget::{self, Budget};
use super::highs_run::{HighsSettings, LevelOutcome, Starts};
use super::lexicographic::Levels;
use super::relax::{Relaxation, level_one_bound};
use super::{Formulation, Instance, Settled, SolveOptions, local_search, progress, relaxed_start};
use crate::domain::{Fleet, PlacedReplica};
use crate::error::Result;

/// What level 1 is solved on.
pub(super) struct LevelOne<'a> {
    pub fleet: &'a Fleet,
    pub instance: &'a Instance<'a>,
    pub form: &'a Arc<Formulation>,
    pub options: &'a SolveOptions,
    pub relaxation: Option<&'a Relaxation>,
    /// The model is narrower than the rules: nothing it finds is a proof.
    pub restricted: bool,
}

/// The best heuristic plan: its replicas, their placed value, and (where the model expresses
/// it whole) its columns. The local search may improve it while HiGHS runs.
pub(super) struct Heuristic {
    pub replicas: Vec<PlacedReplica>,
    pub value: f64,
    pub columns: Option<Vec<f64>>,
}

/// How level 1 ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// Recorded in [`Levels`]; levels 2 and 3 go on from its columns.
    Settled,
    /// Out of time, or HiGHS gave nothing: levels 2 and 3 are not tried.
    Unsettled,
    /// The heuristic plan stands as it is (the model cannot express it): recorded, levels 2
    /// and 3 unsolved.
    HeuristicStands,
}

/// Level 1's answer: how it ended, its bound (for the plan), and whether HiGHS proved less than
/// a checked plan places (a wrong proof).
pub(super) struct Answer {
    pub ended: Ended,
    pub bound: Option<f64>,
    pub proof_contradicted: bool,
}

impl LevelOne<'_> {
    /// Settles level 1 within `time`, from `heuristic` (improved in place by the local search).
    pub fn settle(
        &self,
        heuristic: &mut Heuristic,
        levels: &mut Levels,
        time: &Budget,
        settings: &HighsSettings,
    ) -> Result<Answer> {
        let options = self.options;
        let lp_floor = self.relaxation.map(|lp| super::bound::upper(lp.value));
        // HiGHS's own search is given the heuristic plan as it is now (whatever the relaxed
        // start finds later), so that a level it proves does not depend on the clock.
        let hint = heuristic.columns.clone();
        self.relaxed_start(heuristic, lp_floor, time, settings);
        let value = heuristic.value;
        let within_gap = lp_floor.filter(|&bound| {
            options.mip_rel_gap > 0.0 && value < bound && (bound - value) / bound <= options.mip_rel_gap
        });
        // The shortcut needs the heuristic plan written in the model's columns, so that levels 2
        // and 3 can start from it; where the model cannot express it whole, a proven bound is
        // reached by the MIP instead (quickly: it has the bound), and only `--gap` keeps the plan
        // as it is.
        let expressible = self.expressible(heuristic);
        let reaches_bound = self.reaches_proven_bound(value) && expressible;
        if reaches_bound || within_gap.is_some() {
            let bound = if reaches_bound {
                value
            } else {
                within_gap.unwrap_or(value)
            };
            let settled = if reaches_bound {
                self.settled_by_bound(value)
            } else {
                Settled::WithinGap
            };
            let level_bound = level_one_bound(self.instance, f64::NAN, Some(bound), value, reaches_bound);
            let ended = match heuristic.columns.as_deref() {
                Some(h) if expressible => {
                    levels.record(0, h.to_vec(), bound, settled, 0.0);
                    Ended::Settled
                }
                _ => {
                    // The model cannot express the plan whole: it stands, levels 2 and 3 unsolved.
                    levels.record_standing(0, value, bound, settled);
                    Ended::HeuristicStands
                }
            };
            return Ok(Answer {
                ended,
                bound: Some(level_bound),
                proof_contradicted: false,
            });
        }
        let unsettled = Answer {
            ended: Ended::Unsettled,
            bound: None,
            proof_contradicted: false,
        };
        // Out of time: HiGHS would only build its copy of the model.
        if time.is_over() {
            return Ok(unsettled);
        }
        // HiGHS's root node does not look at the clock between its LP solves and cut rounds
        // (4,096 GPUs: 31 s of them whatever the limit): level 1 is waited for at most this
        // share, so that levels 2 and 3 can still start from the heuristic plan.
        let time_left = if expressible {
            time.share(budget::LEVEL_ONE_WAIT_SHARE)
        } else {
            time.left()
        };
        let starts = Starts {
            hint: hint.as_deref(),
            fallback: Some(&levels.best),
        };
        progress::phase("level 1 of 3 (placed value)");
        let wait_until = std::time::Instant::now() + time_left;
        let mut pending = super::worker::spawn_level(self.form, 0, &[], starts, time_left, settings);
        let answered = pending.answered_switch();
        if expressible && local_search::pays_on(self.fleet) {
            // While HiGHS works on level 1, the local search improves the heuristic plan.
            if let Some(better) = local_search::beside(
                self.instance,
                self.form,
                &heuristic.replicas,
                (wait_until, &answered),
                settings,
                || pending.is_over(),
            ) {
                if options.verbose {
                    eprintln!("fleetfit: local search {} -> {}", heuristic.value, better.value);
                }
                *heuristic = Heuristic {
                    replicas: better.replicas,
                    value: better.value,
                    columns: Some(better.columns),
                };
            }
        }
        let answer = pending.wait()?;
        let gap = options.mip_rel_gap;
        let lp_bound = self.relaxation.map(|lp| lp.value);
        // HiGHS ran past the wait on level 1, or the local search placed more than HiGHS's
        // answer: the heuristic plan is level 1's answer, and levels 2 and 3 start from it.
        let heuristic_answers = expressible
            && answer
                .as_ref()
                .is_none_or(|r| self.form.level_value(0, &r.values) < heuristic.value - 0.5);
        if heuristic_answers {
            let value = heuristic.value;
            // HiGHS proved less than a checked plan places: the proof was wrong.
            let proof_contradicted =
                answer.as_ref().is_some_and(|r| r.outcome == LevelOutcome::Optimal) && gap == 0.0 && !self.restricted;
            let proven = self.reaches_proven_bound(value);
            let highs_bound = match &answer {
                Some(r) if !self.restricted => r.bound,
                _ => f64::NAN,
            };
            let bound = level_one_bound(self.instance, highs_bound, lp_bound, value, proven);
            let settled = if proven {
                self.settled_by_bound(value)
            } else {
                Settled::Stopped
            };
            let seconds = answer.as_ref().map_or(time_left.as_secs_f64(), |r| r.seconds);
            // (Expressible: the heuristic plan has its columns; the best so far otherwise.)
            let columns = heuristic.columns.clone().unwrap_or_else(|| levels.best.clone());
            levels.record(0, columns, bound, settled, seconds);
            return Ok(Answer {
                ended: Ended::Settled,
                bound: Some(self.capped_by_known(bound, value)),
                proof_contradicted,
            });
        }
        // HiGHS ran past our deadline (or, against every row's design, found nothing): keep
        // what we have, stop here.
        let Some(result) = answer.filter(|r| r.outcome != LevelOutcome::Infeasible) else {
            return Ok(unsettled);
        };
        // The level's value is recomputed from the returned columns.
        let value = self.form.level_value(0, &result.values);
        let reaches_lp = self.reaches_proven_bound(value);
        let closes = (result.bound - value).abs() < 1.0 - 1e-6;
        let proven =
            !self.restricted && (reaches_lp || result.outcome == LevelOutcome::Optimal && (gap == 0.0 || closes));
        let highs_bound = if self.restricted { f64::NAN } else { result.bound };
        let bound = level_one_bound(self.instance, highs_bound, lp_bound, value, proven);
        let settled = match () {
            _ if !proven => Settled::Stopped,
            _ if reaches_lp => self.settled_by_bound(value),
            _ => Settled::Mip,
        };
        levels.record(0, result.values, result.bound, settled, result.seconds);
        Ok(Answer {
            ended: Ended::Settled,
            bound: Some(self.capped_by_known(bound, value)),
            proof_contradicted: false,
        })
    }

    /// On large models (the level-1 search of HiGHS held up in its root node for tens of
    /// seconds), the relaxed start (or the given start plan) and repair steps from it until they
    /// reach the LP's bound or
    /// their share of the time ends, before HiGHS's own search; the heuristic plan becomes what
    /// they found where it places more. Nothing here depends on the clock unless the clock stops
    /// it (the relaxed model stops at its first incumbent above the heuristic plan).
    fn relaxed_start(&self, heuristic: &mut Heuristic, lp_floor: Option<f64>, time: &Budget, settings: &HighsSettings) {
        let expressible = self.expressible(heuristic);
        let large = self.form.vars.len() >= relaxed_start::MIN_COLUMNS && local_search::pays_on(self.fleet);
        let Some(floor) = lp_floor.filter(|&f| heuristic.value < f) else {
            return;
        };
        let gap = self.options.mip_rel_gap;
        if self.restricted || !expressible || !large || (gap > 0.0 && (floor - heuristic.value) / floor <= gap) {
            return;
        }
        let phase = time.share(budget::LEVEL_ONE_WAIT_SHARE * budget::RELAXED_START_SHARE);
        let until = std::time::Instant::now() + phase;
        progress::phase("level 1 of 3 (placed value): relaxed start");
        let workload = self.instance.workload;
        let relaxed_time = phase.mul_f64(budget::RELAXED_MIP_SHARE);
        // A given start (what runs now, a drill's survivors of the base plan) already has the
        // fleet-wide structure the relaxed model is there to give: the steps start from it. (The
        // first four node cases of the 4,096-GPU tight drill, 10 s each: all four reach their LP
        // bound from the survivors; three of four stop one unit short from the relaxed model.)
        let from = if self.options.start.is_some() {
            heuristic.replicas.clone()
        } else {
            relaxed_start::plan(self.fleet, workload, heuristic.value, relaxed_time, settings)
                .unwrap_or_else(|| heuristic.replicas.clone())
        };
        let never = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let found = local_search::improve(
            self.fleet,
            workload,
            &from,
            settings,
            (until, &never),
            Some(floor as u64),
            || self.options.cancel.is_cancelled(),
        );
        let than = heuristic.value as u64;
        if let Some(better) = local_search::better(self.instance, self.form, than, found) {
            if self.options.verbose {
                eprintln!(
                    "fleetfit: relaxed start and repair {} -> {} in {:.1}s",
                    heuristic.value,
                    better.value,
                    phase
                        .saturating_sub(until.saturating_duration_since(std::time::Instant::now()))
                        .as_secs_f64()
                );
            }
            *heuristic = Heuristic {
                replicas: better.replicas,
                value: better.value,
                columns: Some(better.columns),
            };
        }
    }

    /// Whether the heuristic plan is written whole in the model's columns.
    fn expressible(&self, heuristic: &Heuristic) -> bool {
        heuristic
            .columns
            .as_deref()
            .is_some_and(|h| (self.form.level_value(0, h) - heuristic.value).abs() < 0.5)
    }

    /// Whether a level-1 value reaches a proven bound: the relaxed LP's (rounded by
    /// `bound::upper`) or one known from elsewhere. (Values recomputed from HiGHS's columns may
    /// sit a rounding error below an integer.)
    fn reaches_proven_bound(&self, value: f64) -> bool {
        let lp_floor = self.relaxation.map(|lp| super::bound::upper(lp.value));
        !self.restricted
            && (lp_floor.is_some_and(|b| value >= b - 1e-6)
                || self
                    .options
                    .known_bound
                    .is_some_and(|b| value >= b.placed_value as f64 - 1e-6))
    }

    /// Which proven bound a level-1 value reaches: the LP's, else the base's.
    fn settled_by_bound(&self, value: f64) -> Settled {
        let lp_floor = self.relaxation.map(|lp| super::bound::upper(lp.value));
        if lp_floor.is_some_and(|b| value >= b - 1e-6) {
            Settled::LpBound
        } else {
            Settled::KnownBound
        }
    }

    /// Level 1's bound, no higher than a bound known from elsewhere, no lower than the value.
    fn capped_by_known(&self, bound: f64, value: f64) -> f64 {
        self.options
            .known_bound
            .map_or(bound, |b| bound.min(b.placed_value as f64).max(value))
    }
}
