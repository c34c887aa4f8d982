//! Section 6's levels on one model, each fixing the one before: the one place a level is
//! solved, recorded ([`LevelStats`]) and fixed. `solve` runs level 1 its own way (heuristics
//! beside HiGHS) and the rest here; capacity planning runs all three here on the grown fleet.

use std::sync::Arc;
use std::time::Duration;

use good_lp::{Constraint, Expression, constraint};

use super::highs_run::{HighsSettings, LevelOutcome, LevelResult, Starts};
use super::{Formulation, KnownBound, LevelStats, Settled, progress, worker};
use crate::error::Result;

/// Section 6's levels, in order.
pub(super) const LEVEL_NAMES: [&str; 3] = ["placed_value", "quantization_penalty", "gpus_used"];

/// Level `level`'s objective on `form` and whether it is maximised.
pub(super) fn objective(form: &Formulation, level: usize) -> (&Expression, bool) {
    match level {
        0 => (&form.placed_value, true),
        1 => (&form.quantization_penalty, false),
        _ => (&form.gpus_used, false),
    }
}

/// The levels settled so far on one model: the rows that fix them, the best columns (they
/// satisfy every row), and each level's record.
pub(super) struct Levels {
    pub form: Arc<Formulation>,
    pub fixed: Vec<Constraint>,
    pub best: Vec<f64>,
    pub records: Vec<LevelStats>,
    /// What the status line says before "level N of 3" (capacity: "grown fleet, ").
    context: &'static str,
}

impl Levels {
    /// Levels on `form` from the columns `best`, which satisfy every row and `fixed`.
    pub fn new(form: Arc<Formulation>, fixed: Vec<Constraint>, best: Vec<f64>, context: &'static str) -> Levels {
        Levels {
            form,
            fixed,
            best,
            records: Vec::new(),
            context,
        }
    }

    /// Records level `level` at the columns `values` (its value recomputed from them, never
    /// taken from HiGHS), with HiGHS's `bound` and how it was `settled`, and fixes it for the
    /// levels after (objective values are integers).
    pub fn record(&mut self, level: usize, values: Vec<f64>, bound: f64, settled: Settled, seconds: f64) {
        let value = self.form.level_value(level, &values);
        let (objective, maximise) = objective(&self.form, level);
        let fix = if maximise {
            constraint!(objective.clone() >= value - 0.5)
        } else {
            constraint!(objective.clone() <= value + 0.5)
        };
        self.fixed.push(fix);
        self.records.push(LevelStats {
            name: LEVEL_NAMES[level],
            value,
            bound,
            settled,
            seconds,
        });
        self.best = values;
    }

    /// Records level `level` of a plan the model cannot express whole (it stands as it is):
    /// nothing is fixed and no level after it can be solved.
    pub fn record_standing(&mut self, level: usize, value: f64, bound: f64, settled: Settled) {
        self.records.push(LevelStats {
            name: LEVEL_NAMES[level],
            value,
            bound,
            settled,
            seconds: 0.0,
        });
    }

    /// Settles level `level` (1 or 2 for `solve`, any for capacity) within `time_left`: without
    /// HiGHS where a minimised level's start is at 0 or at a `known` optimum that every level
    /// before reached, else by HiGHS from the best columns. `false` when it could not be settled
    /// (out of time, or HiGHS ran past its wait): the levels after are not tried.
    pub fn settle(
        &mut self,
        level: usize,
        time_left: Duration,
        settings: &HighsSettings,
        known: Option<&KnownBound>,
        restricted: bool,
    ) -> Result<bool> {
        if time_left.is_zero() {
            return Ok(false);
        }
        let (objective, maximise) = objective(&self.form, level);
        let start_value = self.form.level_value(level, &self.best);
        let reached_known = known.is_some_and(|known| {
            known.level(level) == Some(start_value)
                && self
                    .records
                    .iter()
                    .enumerate()
                    .all(|(j, l)| known.level(j) == Some(l.value))
        });
        if !maximise && (start_value == 0.0 || reached_known) {
            let how = if start_value == 0.0 {
                Settled::Zero
            } else {
                Settled::KnownBound
            };
            let settled = if restricted { Settled::Stopped } else { how };
            let best = self.best.clone();
            self.record(level, best, start_value, settled, 0.0);
            return Ok(true);
        }
        progress::phase(&format!(
            "{}level {} of 3 ({})",
            self.context,
            level + 1,
            LEVEL_NAMES[level].replace('_', " ")
        ));
        let starts = Starts {
            hint: None,
            fallback: Some(&self.best),
        };
        let answer = worker::spawn_objective(
            &self.form,
            objective.clone(),
            maximise,
            &self.fixed,
            starts,
            time_left,
            settings,
        )
        .wait()?;
        let Some(result) = answer.filter(|r| r.outcome != LevelOutcome::Infeasible) else {
            // HiGHS ran past the wait (or, against every row's design, found nothing).
            return Ok(false);
        };
        let LevelResult {
            outcome,
            values,
            bound,
            seconds,
            ..
        } = result;
        let value = self.form.level_value(level, &values);
        let closes = (bound - value).abs() < 1.0 - 1e-6;
        let proven = !restricted && outcome == LevelOutcome::Optimal && (settings.mip_rel_gap == 0.0 || closes);
        let settled = if proven { Settled::Mip } else { Settled::Stopped };
        self.record(level, values, bound, settled, seconds);
        Ok(true)
    }

    /// Whether every one of section 6's levels is recorded and proven.
    pub fn all_proven(&self) -> bool {
        self.records.len() == LEVEL_NAMES.len() && self.records.iter().all(LevelStats::proven)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::{Instance, planner_fleet};
    use crate::synth::GenSpec;

    /// A level HiGHS could not finish is recorded as stopped, never as proven: its record is
    /// what `optimal` comes from (4,096 GPUs: HiGHS's root alone runs about 30 s; it is given a
    /// few seconds at most).
    #[test]
    fn a_level_stopped_by_its_time_is_recorded_unproven() {
        let spec = GenSpec {
            gpus: 4096,
            deployments: 128,
            seed: 1,
            tight: true,
        };
        let (fleet, workload) = crate::synth::generated(&spec);
        let view = planner_fleet(&fleet, &workload);
        let instance = Instance::new(&view, &workload);
        let form = Arc::new(Formulation::build(&instance));
        let mut levels = Levels::new(Arc::clone(&form), Vec::new(), vec![0.0; form.vars.len()], "");
        let settings = HighsSettings::default();
        // On a loaded machine HiGHS may not answer within a second and its grace: more time, up
        // to 8 s (still far from a proof), until it answers.
        let settled = [1, 2, 4, 8].into_iter().any(|seconds| {
            levels
                .settle(0, Duration::from_secs(seconds), &settings, None, false)
                .unwrap()
        });
        assert!(settled, "HiGHS never answered");
        let record = &levels.records[0];
        assert_eq!(record.settled, Settled::Stopped, "{record:?}");
        assert!(!record.proven() && !levels.all_proven());
        // The value is the columns', and the row that fixes it holds for them.
        assert_eq!(record.value, form.level_value(0, &levels.best));
        assert_eq!(levels.fixed.len(), 1);
    }
}
