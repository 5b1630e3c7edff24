//! `flexrnn eval`: the paper's weighted-average check on a flexible model.
//!
//! Lambert et al. (ECML PKDD 2020) find that a sequence processed under several settings has about
//! the accuracy and cost of the settings' own, weighted by the steps each ran. For a
//! [`FlexibleModel`] and the test set of any task ([`crate::data::Task`]) this module measures
//! 1. every setting alone (the same setting at every step): the task's [`Metric`] — accuracy, or the
//!    mean squared error of the one output for a regression task such as the adding task — and mean
//!    FLOPs per step;
//! 2. mid-sequence changes: setting `A` for steps `0..s`, `B` from step `s` on, for `s` on a grid
//!    (every [`EvalConfig::change_every`] steps, `0 < s < T`), in both directions, for the pairs of
//!    settings adjacent in cost and for the cheapest ↔ the dearest; and random schedules of 1–4
//!    changes (seeded);
//! 3. for each run the step-weighted prediction `Σ_j w_j × metric_j` from (1), next to the measured
//!    metric, for the task metric and for FLOPs per step.
//!
//! # Variable-length sets
//!
//! A schedule is over absolute steps `0..T`, `T` the longest length ([`SequenceSet::steps`]). Sequence
//! `i` runs its own `L_i` steps (its padding is never fed) and is read out after step `L_i − 1`, so
//! it runs the schedule's settings of steps `0..L_i` only: **a sequence shorter than `s` never
//! changes** (it runs `A` throughout), and change positions go up to the longest length.
//!
//! The weights are the share of all steps run: with `n_ij` the steps sequence `i` ran in setting `j`,
//! `w_j = Σ_i n_ij / Σ_i L_i`. Why pooled steps: mean FLOPs per step alone is
//! `c_j = Σ_i flops_ij / Σ_i L_i` over all steps, so a setting whose steps cost the same everywhere
//! gives, under a schedule, `Σ_j Σ_i n_ij c_j / Σ_i L_i = Σ_j w_j c_j` exactly — the weights must be
//! pooled over sequences, not per-sequence shares averaged. The metric's prediction uses the same
//! weights (each step counts alike); it knows only each setting's metric over the whole set, so no
//! per-sequence weighting is available to it. For a fixed-length set `w_j = n_j / T` as in the paper
//! (`N n_j / (N T)` is the same `f64`, so the numbers do not change).
//!
//! Measured FLOPs include everything [`FlexibleModel::step`] reports (state maps on a switch, SkipW
//! window gates), the readout excluded. Everything here is pure: the CLI writes the bytes of
//! [`outputs`]. Same inputs ⇒ same bytes (runs may go in parallel; results keep the run order).

pub mod checks;
pub mod figures;
pub mod seeds;

use std::fmt::Write as _;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::data::SequenceSet;
use crate::report::plots::PlotError;
use crate::rnn::{FlexState, FlexibleModel};
use crate::train::Scorer;

/// The task metric an evaluation measures and predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Share of sequences whose arg-max output is their label (classification); higher is better.
    Accuracy,
    /// Mean over sequences of (output − target)², the model's one output against the sequence's real
    /// target (regression); lower is better.
    Mse,
}

impl Metric {
    /// The metric of a set: [`Metric::Mse`] for a regression set, else [`Metric::Accuracy`].
    pub fn of(set: &SequenceSet) -> Metric {
        if set.is_regression() {
            Metric::Mse
        } else {
            Metric::Accuracy
        }
    }

    /// `accuracy` or `MSE`, for tables and axes.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Mse => "MSE",
        }
    }

    /// A run's deviation measured − predicted in the unit the outputs report: percentage points of
    /// accuracy, or MSE units.
    pub fn deviation(self, run: &RunResult) -> f64 {
        match self {
            Metric::Accuracy => run.accuracy_deviation_pp(),
            Metric::Mse => run.score_deviation(),
        }
    }
}

/// Parameters of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalConfig {
    /// Change positions `s` are the multiples of this (steps) strictly between 0 and `T`.
    pub change_every: usize,
    /// Number of random multi-change schedules.
    pub schedules: usize,
    /// Seed of the random schedules.
    pub seed: u64,
    /// Largest number of changes in a random schedule (at least 1).
    pub max_changes: usize,
}

impl Default for EvalConfig {
    fn default() -> EvalConfig {
        EvalConfig { change_every: 4, schedules: 50, seed: 1, max_changes: 4 }
    }
}

/// A schedule of settings over absolute steps `0..T` (`T` the longest length; a shorter sequence runs
/// its first `L_i` steps of it): `(first step, setting)` segments, the first starting at 0, starts
/// increasing.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Segments `(first step, setting index)`.
    pub segments: Vec<(usize, usize)>,
    /// `Some(share)` for a late change ([`Schedule::late_change`]): the change step is per sequence,
    /// [`checks::late_change_step`]`(L_i, share)` of each sequence's own length `L_i` (see
    /// [`Schedule::for_length`]); `segments` hold the one of the longest sequence. `None`: the
    /// segments are absolute steps for every sequence.
    pub late_share: Option<f64>,
}

impl Schedule {
    /// The same setting at every step.
    pub fn constant(setting: usize) -> Schedule {
        Schedule { segments: vec![(0, setting)], late_share: None }
    }

    /// `a` for steps `0..s`, `b` from step `s` on.
    pub fn change(a: usize, b: usize, s: usize) -> Schedule {
        Schedule { segments: vec![(0, a), (s, b)], late_share: None }
    }

    /// `a`, then `b` in the last `share` of each sequence's own steps: a sequence of `L` steps changes
    /// at [`checks::late_change_step`]`(L, share)` and runs `a` alone when that is `None` (too short
    /// for a step in its last `share`). `None` when the longest sequence (`longest` steps) has no such
    /// step either. For a fixed-length set this is [`Schedule::change`] at that step.
    pub fn late_change(a: usize, b: usize, share: f64, longest: usize) -> Option<Schedule> {
        let s = checks::late_change_step(longest, share)?;
        Some(Schedule { segments: vec![(0, a), (s, b)], late_share: Some(share) })
    }

    /// The schedule a sequence of `length` steps runs, in absolute steps: the schedule itself, or for
    /// a late change ([`Self::late_change`]) the change at that sequence's own late step.
    pub fn for_length(&self, length: usize) -> std::borrow::Cow<'_, Schedule> {
        match (self.late_share, self.segments.as_slice()) {
            (Some(share), &[(_, a), (_, b)]) => {
                std::borrow::Cow::Owned(match checks::late_change_step(length, share) {
                    Some(s) => Schedule::change(a, b, s),
                    None => Schedule::constant(a),
                })
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// The setting at step `t`.
    pub fn setting_at(&self, t: usize) -> usize {
        self.segments.iter().rev().find(|(start, _)| *start <= t).map_or(self.segments[0].1, |s| s.1)
    }

    /// Steps run in each of `settings` settings by a sequence of `steps` steps (its own late step for a
    /// late change, [`Self::for_length`]).
    pub fn steps_per_setting(&self, settings: usize, steps: usize) -> Vec<usize> {
        let mut counts = vec![0; settings];
        let schedule = self.for_length(steps);
        for (i, &(start, setting)) in schedule.segments.iter().enumerate() {
            let end = schedule.segments.get(i + 1).map_or(steps, |next| next.0).min(steps);
            counts[setting] += end.saturating_sub(start);
        }
        counts
    }

    /// Steps run in each of `settings` settings by sequences of `lengths` steps, summed over the
    /// sequences: each runs the schedule's steps `0..L_i` (a sequence shorter than a change never
    /// reaches it; a late change falls at each sequence's own late step).
    pub fn sequence_steps_per_setting(&self, settings: usize, lengths: &[usize]) -> Vec<usize> {
        let mut counts = vec![0; settings];
        for &length in lengths {
            for (total, n) in counts.iter_mut().zip(self.steps_per_setting(settings, length)) {
                *total += n;
            }
        }
        counts
    }

    /// Text form `name@start;name@start…` with the settings' names.
    pub fn describe(&self, model: &FlexibleModel) -> String {
        let names = model.settings();
        self.segments.iter().map(|&(start, s)| format!("{}@{start}", names[s].name)).collect::<Vec<_>>().join(";")
    }
}

/// What kind of run a [`RunResult`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// One setting at every step.
    Alone {
        /// The setting.
        setting: usize,
    },
    /// `a` then `b` from step `s`; `pair` indexes [`Evaluation::pairs`].
    Change {
        /// Pair index.
        pair: usize,
        /// Setting of steps `0..s`.
        a: usize,
        /// Setting of steps `s..T`.
        b: usize,
        /// Change position.
        s: usize,
    },
    /// A random schedule (its index among them).
    Random {
        /// Index of the schedule.
        index: usize,
    },
}

/// Task metric and cost of one schedule over a test set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// The task's [`Metric`]: share of sequences classified correctly, or mean squared error.
    pub score: f64,
    /// Mean FLOPs per step over every step run (switches, gates and steps; readout excluded).
    pub flops_per_step: f64,
    /// Share of steps that read their input and updated the state.
    pub update_share: f64,
}

/// One run: schedule, measurement and the weighted prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// What kind of run.
    pub kind: RunKind,
    /// The schedule.
    pub schedule: Schedule,
    /// Steps of the schedule in each setting over `0..T`, `T` the longest length (one entry per
    /// setting of the model): what a sequence of `T` steps runs.
    pub steps_per_setting: Vec<usize>,
    /// Steps run in each setting summed over the test sequences, each running its own length: the
    /// weights of the prediction (`N ×` [`Self::steps_per_setting`] for a fixed-length set).
    pub sequence_steps_per_setting: Vec<usize>,
    /// What was measured.
    pub measured: Measured,
    /// `Σ_j w_j × score_j` of the settings alone (see the module doc for `w_j`).
    pub predicted_score: f64,
    /// `Σ_j w_j × FLOPs per step_j` of the settings alone.
    pub predicted_flops_per_step: f64,
}

impl RunResult {
    /// Measured minus predicted score, in the metric's own unit (share, or MSE).
    pub fn score_deviation(&self) -> f64 {
        self.measured.score - self.predicted_score
    }

    /// Measured minus predicted accuracy, percentage points (classification).
    pub fn accuracy_deviation_pp(&self) -> f64 {
        (self.measured.score - self.predicted_score) * 100.0
    }

    /// Measured minus predicted score, percent of the prediction (0 when both are equal).
    pub fn score_deviation_pct(&self) -> f64 {
        relative_pct(self.measured.score, self.predicted_score)
    }

    /// Measured minus predicted FLOPs per step, percent of the prediction (0 when both are equal).
    pub fn flops_deviation_pct(&self) -> f64 {
        relative_pct(self.measured.flops_per_step, self.predicted_flops_per_step)
    }
}

/// `(measured − predicted) / predicted` in percent; 0 when they are equal (also both 0).
fn relative_pct(measured: f64, predicted: f64) -> f64 {
    let diff = measured - predicted;
    if diff == 0.0 {
        0.0
    } else {
        diff / predicted * 100.0
    }
}

/// Everything `flexrnn eval` measures on one model.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Model folder name (e.g. `digits-gru`).
    pub model_name: String,
    /// Family (`switch`, `thr`, `skipw`, `nested`).
    pub family: String,
    /// The task metric (accuracy, or MSE for a regression set).
    pub metric: Metric,
    /// Setting names, in the model's order.
    pub setting_names: Vec<String>,
    /// Each setting alone, in the model's order.
    pub alone: Vec<Measured>,
    /// Pairs `(cheaper, dearer)` of settings whose changes were run, in cost order, then cheapest ↔
    /// dearest.
    pub pairs: Vec<(usize, usize)>,
    /// Every run: the settings alone, then per pair the changes cheaper → dearer and dearer →
    /// cheaper over the grid of `s`, then the random schedules.
    pub runs: Vec<RunResult>,
    /// Steps `T` of the longest test sequence (every sequence's for a fixed-length set).
    pub steps: usize,
    /// Steps of the shortest test sequence (`steps` for a fixed-length set).
    pub shortest: usize,
    /// Steps of all test sequences together, `Σ_i L_i`.
    pub total_steps: usize,
    /// Test sequences.
    pub sequences: usize,
    /// The configuration used.
    pub config: EvalConfig,
    /// The late-change runs: per pair and direction, a change at [`checks::late_change_step`] of each
    /// sequence's own length (in the last [`checks::CheckConfig::late_share`] of its steps,
    /// [`Schedule::late_change`]); their `s` is the longest sequence's; empty when the sequences are too
    /// short.
    pub late: Vec<RunResult>,
    /// Length of each test sequence, steps.
    pub lengths: Vec<usize>,
    /// Per run of [`Self::runs`], then of [`Self::late`], each test sequence's score (1/0 correct, or
    /// squared error), in test-set order.
    pub sequence_scores: Vec<Vec<f64>>,
    /// Bounds, monotonicity, bootstrap intervals and the late-change check.
    pub checks: checks::Checks,
}

/// Errors of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The data do not fit the model or the check.
    #[error("{0}")]
    Data(String),
}

/// `Σ_j (steps_j / total) × metric_j` with `total = Σ_j steps_j` (0 for an empty schedule). `steps_j`
/// may be per sequence or summed over sequences (see the module doc).
pub fn weighted_prediction(steps_per_setting: &[usize], metric: &[f64]) -> f64 {
    let total: usize = steps_per_setting.iter().sum();
    if total == 0 {
        return 0.0;
    }
    steps_per_setting.iter().zip(metric).filter(|(n, _)| **n > 0).map(|(&n, &m)| n as f64 / total as f64 * m).sum()
}

/// Runs every sequence of `test` under `schedule`, each for its own length (steps `0..L_i` of the
/// schedule), and measures the task metric ([`Metric::of`] the set, computed as
/// [`crate::train::Scorer`] does from the readout after the last step) and FLOPs per step over all
/// steps run.
pub fn measure(model: &FlexibleModel, test: &SequenceSet, schedule: &Schedule) -> Measured {
    measure_sequences(model, test, schedule).0
}

/// Sequences stepped together by [`measure_sequences`] ([`measure_sequences_batched`]).
pub const EVAL_BATCH: usize = 32;

/// [`measure`], and each sequence's own score in test-set order: 1 or 0 (classified right or not),
/// or the squared error of its one output (regression). Their mean is the measured score: what the
/// paired bootstrap of [`checks`] resamples. Runs the sequences [`EVAL_BATCH`] at a time
/// ([`measure_sequences_batched`]); the result is bit for bit that of running them one by one
/// ([`measure_sequences_one_by_one`]).
pub fn measure_sequences(model: &FlexibleModel, test: &SequenceSet, schedule: &Schedule) -> (Measured, Vec<f64>) {
    measure_sequences_batched(model, test, schedule, EVAL_BATCH)
}

/// [`measure_sequences`] with each sequence run alone through [`FlexibleModel::step`] (batch-1
/// matrix–vector kernels): the reference the batched path is checked against.
pub fn measure_sequences_one_by_one(
    model: &FlexibleModel,
    test: &SequenceSet,
    schedule: &Schedule,
) -> (Measured, Vec<f64>) {
    let mut tally = Tally::new(test);
    let mut state = model.new_state();
    let mut outputs = vec![0.0; model.classes()];
    for i in 0..test.len() {
        state.reset();
        let own = schedule.for_length(test.length(i));
        for t in 0..test.length(i) {
            let setting = own.setting_at(t);
            let plan = model.plan(setting, &mut state);
            let done = model.step(setting, plan.updates.then(|| test.frame(i, t)), &mut state);
            tally.add_step(done.flops, done.updates);
        }
        model.logits(&mut state, &mut outputs);
        tally.add_sequence(i, &outputs);
    }
    tally.finish()
}

/// What [`measure_sequences_one_by_one`] and [`measure_sequences_batched`] count: FLOPs and updates
/// per step, each sequence's score (added in test-set order) and the overall score.
struct Tally<'a> {
    test: &'a SequenceSet,
    per_sequence: Vec<f64>,
    scorer: Scorer<'a>,
    steps: usize,
    flops: u64,
    updates: usize,
}

impl<'a> Tally<'a> {
    fn new(test: &'a SequenceSet) -> Tally<'a> {
        Tally {
            test,
            per_sequence: Vec::with_capacity(test.len()),
            scorer: Scorer::new(test),
            steps: 0,
            flops: 0,
            updates: 0,
        }
    }

    /// One step run, of `flops` FLOPs, that updated the state or not.
    fn add_step(&mut self, flops: u64, updated: bool) {
        self.flops += flops;
        self.updates += usize::from(updated);
    }

    /// Sequence `i` done, its readout `outputs`.
    fn add_sequence(&mut self, i: usize, outputs: &[f32]) {
        self.steps += self.test.length(i);
        let mut one = Scorer::new(self.test);
        one.add(i, outputs);
        self.per_sequence.push(one.score().value());
        self.scorer.add(i, outputs);
    }

    fn finish(self) -> (Measured, Vec<f64>) {
        let steps = self.steps.max(1) as f64;
        let measured = Measured {
            score: self.scorer.score().value(),
            flops_per_step: self.flops as f64 / steps,
            update_share: self.updates as f64 / steps,
        };
        (measured, self.per_sequence)
    }
}

/// [`measure_sequences`] with `batch_size` consecutive sequences stepped in lockstep through
/// [`FlexibleModel::step_batch`] (the rows that update under the same weights at a step share one
/// matrix–matrix product): each sequence runs its own length under its own schedule
/// ([`Schedule::for_length`]) and stops there while the longer ones go on. The readouts are scored in
/// test-set order, so the score, FLOPs, update share and per-sequence scores are exactly those of
/// [`measure_sequences_one_by_one`] (a `batch_size` of 0 counts as 1). Buffers are allocated once
/// per call, schedules once per batch.
pub fn measure_sequences_batched(
    model: &FlexibleModel,
    test: &SequenceSet,
    schedule: &Schedule,
    batch_size: usize,
) -> (Measured, Vec<f64>) {
    let batch_size = batch_size.max(1);
    let classes = model.classes();
    let mut tally = Tally::new(test);
    let mut states: Vec<FlexState> = (0..batch_size).map(|_| model.new_state()).collect();
    let mut batch = model.new_batch(batch_size);
    let mut settings: Vec<Option<usize>> = vec![None; batch_size];
    let mut outputs = vec![0.0; classes];
    for first in (0..test.len()).step_by(batch_size) {
        let count = batch_size.min(test.len() - first);
        let lengths = &test.lengths[first..first + count];
        let own: Vec<_> = lengths.iter().map(|&length| schedule.for_length(length)).collect();
        let states = &mut states[..count];
        states.iter_mut().for_each(FlexState::reset);
        for t in 0..lengths.iter().copied().max().unwrap_or(0) {
            for ((setting, &length), own) in settings.iter_mut().zip(lengths).zip(&own) {
                *setting = (t < length).then(|| own.setting_at(t));
            }
            let plans = model.step_batch(&settings[..count], states, |row| test.frame(first + row, t), &mut batch);
            for plan in plans.iter().flatten() {
                tally.add_step(plan.flops, plan.updates);
            }
        }
        for (row, state) in states.iter_mut().enumerate() {
            model.logits(state, &mut outputs);
            tally.add_sequence(first + row, &outputs);
        }
    }
    tally.finish()
}

/// Runs the whole check (see the module doc). `parallel` runs the schedules on rayon's pool; the
/// result does not depend on it.
///
/// # Errors
/// [`EvalError`] if the test set is empty or does not fit the model's input and outputs (classes, or
/// one output for a regression set), or the model has no setting. A model of one setting is measured
/// alone (no change or random schedule).
pub fn evaluate(
    model: &FlexibleModel,
    model_name: &str,
    test: &SequenceSet,
    config: &EvalConfig,
    parallel: bool,
) -> Result<Evaluation, EvalError> {
    evaluate_with_checks(model, model_name, test, config, &checks::CheckConfig::default(), parallel)
}

/// [`evaluate`] with the bounds, monotonicity, bootstrap and late-change checks of [`checks`] under
/// `check_config` (stored in [`Evaluation::checks`]). The late-change runs (one per pair and
/// direction, [`checks::late_change_step`]) are measured besides the grid.
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_with_checks(
    model: &FlexibleModel,
    model_name: &str,
    test: &SequenceSet,
    config: &EvalConfig,
    check_config: &checks::CheckConfig,
    parallel: bool,
) -> Result<Evaluation, EvalError> {
    let bad = |m: String| Err(EvalError::Data(m));
    if test.is_empty() {
        return bad(format!("test set `{}` is empty", test.name));
    }
    let metric = Metric::of(test);
    let fits = match metric {
        Metric::Accuracy => test.classes <= model.classes(),
        Metric::Mse => model.classes() == 1,
    };
    if test.features != model.input_size() || !fits {
        let wants = match metric {
            Metric::Accuracy => format!("{} classes", test.classes),
            Metric::Mse => "one real target (regression)".to_string(),
        };
        return bad(format!(
            "test set `{}` has {} features and {wants}; the model reads {} features and has {} outputs",
            test.name,
            test.features,
            model.input_size(),
            model.classes()
        ));
    }
    // One setting (e.g. a one-model folder) is evaluated alone: no change or random schedule.
    let n = model.settings().len();
    if n == 0 {
        return bad("the model offers no setting".into());
    }
    let steps = test.steps;
    let run_all = |schedules: &[Schedule]| -> Vec<(Measured, Vec<f64>)> {
        if parallel {
            schedules.par_iter().map(|s| measure_sequences(model, test, s)).collect()
        } else {
            schedules.iter().map(|s| measure_sequences(model, test, s)).collect()
        }
    };
    let (alone, alone_sequences): (Vec<Measured>, Vec<Vec<f64>>) =
        run_all(&(0..n).map(Schedule::constant).collect::<Vec<_>>()).into_iter().unzip();
    let pairs = pairs_by_cost(&alone);
    let mut kinds = Vec::new();
    let mut schedules = Vec::new();
    let every = config.change_every.max(1);
    for (pair, &(cheap, dear)) in pairs.iter().enumerate() {
        for (a, b) in [(cheap, dear), (dear, cheap)] {
            for s in (every..steps).step_by(every) {
                kinds.push(RunKind::Change { pair, a, b, s });
                schedules.push(Schedule::change(a, b, s));
            }
        }
    }
    let random = if n >= 2 { random_schedules(n, steps, config) } else { Vec::new() };
    for (index, schedule) in random.into_iter().enumerate() {
        kinds.push(RunKind::Random { index });
        schedules.push(schedule);
    }
    let mut late_kinds = Vec::new();
    for (pair, &(cheap, dear)) in pairs.iter().enumerate() {
        for (a, b) in [(cheap, dear), (dear, cheap)] {
            if let Some(schedule) = Schedule::late_change(a, b, check_config.late_share, steps) {
                late_kinds.push(RunKind::Change { pair, a, b, s: schedule.segments[1].0 });
                schedules.push(schedule);
            }
        }
    }
    let (measured, mut sequences): (Vec<Measured>, Vec<Vec<f64>>) = run_all(&schedules).into_iter().unzip();
    let late_schedules = schedules.split_off(kinds.len());
    let late_measured = measured[kinds.len()..].to_vec();
    let late_sequences = sequences.split_off(kinds.len());
    let scores: Vec<f64> = alone.iter().map(|m| m.score).collect();
    let costs: Vec<f64> = alone.iter().map(|m| m.flops_per_step).collect();
    let result = |kind: RunKind, schedule: Schedule, measured: Measured| {
        let steps_per_setting = schedule.steps_per_setting(n, steps);
        let sequence_steps_per_setting = schedule.sequence_steps_per_setting(n, &test.lengths);
        RunResult {
            predicted_score: weighted_prediction(&sequence_steps_per_setting, &scores),
            predicted_flops_per_step: weighted_prediction(&sequence_steps_per_setting, &costs),
            kind,
            schedule,
            steps_per_setting,
            sequence_steps_per_setting,
            measured,
        }
    };
    let mut runs: Vec<RunResult> =
        (0..n).map(|setting| result(RunKind::Alone { setting }, Schedule::constant(setting), alone[setting])).collect();
    runs.extend(kinds.into_iter().zip(schedules).zip(measured).map(|((k, s), m)| result(k, s, m)));
    let late: Vec<RunResult> =
        late_kinds.into_iter().zip(late_schedules).zip(late_measured).map(|((k, s), m)| result(k, s, m)).collect();
    let mut run_sequences = alone_sequences;
    run_sequences.extend(sequences);
    run_sequences.extend(late_sequences);
    let mut evaluation = Evaluation {
        model_name: model_name.to_string(),
        family: model.family().to_string(),
        metric,
        setting_names: model.settings().iter().map(|s| s.name.clone()).collect(),
        alone,
        pairs,
        runs,
        steps,
        shortest: test.lengths.iter().copied().min().unwrap_or(0),
        total_steps: test.lengths.iter().sum(),
        sequences: test.len(),
        config: config.clone(),
        late,
        lengths: test.lengths.clone(),
        sequence_scores: run_sequences,
        checks: checks::Checks::default(),
    };
    evaluation.checks = checks::Checks::of(&evaluation, check_config);
    Ok(evaluation)
}

/// Settings sorted by FLOPs per step alone (ties by index); pairs of neighbours in that order, then
/// (cheapest, dearest) when there are more than two settings.
fn pairs_by_cost(alone: &[Measured]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..alone.len()).collect();
    order.sort_by(|&a, &b| alone[a].flops_per_step.total_cmp(&alone[b].flops_per_step).then(a.cmp(&b)));
    let mut pairs: Vec<(usize, usize)> = order.windows(2).map(|w| (w[0], w[1])).collect();
    if order.len() > 2 {
        pairs.push((order[0], order[order.len() - 1]));
    }
    pairs
}

/// `config.schedules` random schedules over `settings` settings and `steps` steps (PCG-64 seeded with
/// `config.seed`): 1..=`max_changes` changes at distinct steps in `1..T`, the first setting uniform,
/// each next one uniform among the others.
pub fn random_schedules(settings: usize, steps: usize, config: &EvalConfig) -> Vec<Schedule> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(config.seed);
    (0..config.schedules)
        .map(|_| {
            let changes = rng.random_range(1..=config.max_changes.max(1)).min(steps.saturating_sub(1));
            let mut starts: Vec<usize> =
                rand::seq::index::sample(&mut rng, steps - 1, changes).into_iter().map(|p| p + 1).collect();
            starts.sort_unstable();
            let mut setting = rng.random_range(0..settings);
            let mut segments = vec![(0, setting)];
            for start in starts {
                let other = rng.random_range(0..settings - 1);
                setting = if other >= setting { other + 1 } else { other };
                segments.push((start, setting));
            }
            Schedule { segments, late_share: None }
        })
        .collect()
}

/// `low, high, excludes_zero` of an interval for the CSV files; three empty fields for
/// [`checks::Interval::none`] (0 resamples).
fn interval_fields(interval: &checks::Interval, digits: usize) -> [String; 3] {
    if interval.is_none() {
        Default::default()
    } else {
        [
            format!("{:.digits$}", interval.low),
            format!("{:.digits$}", interval.high),
            interval.excludes_zero().to_string(),
        ]
    }
}

/// A CSV table through the `csv` crate: the `header` (comma-separated column names, none holding a
/// comma) and one record per row of already formatted fields, quoted where needed.
pub(crate) fn csv_table(header: &str, rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(header.split(',')).expect("writing to memory cannot fail");
    for row in rows {
        writer.write_record(&row).expect("writing to memory cannot fail");
    }
    writer.into_inner().expect("flushing to memory cannot fail")
}

impl Evaluation {
    fn kind_fields(&self, run: &RunResult) -> (&'static str, String, String, String) {
        let name = |s: usize| self.setting_names[s].clone();
        match run.kind {
            RunKind::Alone { setting } => ("alone", name(setting), String::new(), String::new()),
            RunKind::Change { a, b, s, .. } => ("change", name(a), name(b), s.to_string()),
            RunKind::Random { .. } => ("random", String::new(), String::new(), String::new()),
        }
    }

    fn describe(&self, schedule: &Schedule) -> String {
        if let (Some(share), &[(_, a), (_, b)], false) =
            (schedule.late_share, schedule.segments.as_slice(), self.is_fixed_length())
        {
            // Per sequence: at ⌈(1 − share) · L⌉ of its own length L.
            return format!("{}@0;{}@⌈{}·L⌉", self.setting_names[a], self.setting_names[b], 1.0 - share);
        }
        schedule
            .segments
            .iter()
            .map(|&(start, s)| format!("{}@{start}", self.setting_names[s]))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// True when every test sequence has [`Self::steps`] steps.
    pub fn is_fixed_length(&self) -> bool {
        self.shortest == self.steps
    }

    /// `name:steps;…` of the settings with steps.
    fn steps_field(&self, steps: &[usize]) -> String {
        let named: Vec<String> = steps
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| format!("{}:{n}", self.setting_names[i]))
            .collect();
        named.join(";")
    }

    /// `eval.csv`: one row per run. The metric's columns are `measured_accuracy, predicted_accuracy,
    /// accuracy_deviation_pp` for classification and `measured_mse, predicted_mse, mse_deviation,
    /// mse_deviation_pct` for regression; a variable-length set adds `sequence_steps_per_setting` (the
    /// prediction's weights) after `steps_per_setting` (the schedule's steps over `0..T`).
    pub fn eval_csv(&self) -> Vec<u8> {
        let sequence_steps = if self.is_fixed_length() { "" } else { "sequence_steps_per_setting," };
        let metric_columns = match self.metric {
            Metric::Accuracy => "measured_accuracy,predicted_accuracy,accuracy_deviation_pp",
            Metric::Mse => "measured_mse,predicted_mse,mse_deviation,mse_deviation_pct",
        };
        let header = format!(
            "family,kind,schedule,a,b,s,steps_per_setting,{sequence_steps}{metric_columns},measured_flops_per_step,predicted_flops_per_step,flops_deviation_pct,update_share"
        );
        let rows = self.runs.iter().map(|run| {
            let (kind, a, b, s) = self.kind_fields(run);
            let mut row = vec![
                self.family.clone(),
                kind.to_string(),
                self.describe(&run.schedule),
                a,
                b,
                s,
                self.steps_field(&run.steps_per_setting),
            ];
            if !self.is_fixed_length() {
                row.push(self.steps_field(&run.sequence_steps_per_setting));
            }
            match self.metric {
                Metric::Accuracy => row.extend([
                    format!("{:.6}", run.measured.score),
                    format!("{:.6}", run.predicted_score),
                    format!("{:.4}", run.accuracy_deviation_pp()),
                ]),
                Metric::Mse => row.extend([
                    format!("{:.8}", run.measured.score),
                    format!("{:.8}", run.predicted_score),
                    format!("{:.8}", run.score_deviation()),
                    format!("{:.4}", run.score_deviation_pct()),
                ]),
            }
            row.extend([
                format!("{:.3}", run.measured.flops_per_step),
                format!("{:.3}", run.predicted_flops_per_step),
                format!("{:.4}", run.flops_deviation_pct()),
                format!("{:.6}", run.measured.update_share),
            ]);
            row
        });
        csv_table(&header, rows)
    }

    /// `settings.csv`: each setting alone, with the model's costs and the card's expectations
    /// (`accuracy`, `card_accuracy`, or for regression `mse`, `card_mse`).
    pub fn settings_csv(&self, model: &FlexibleModel) -> Vec<u8> {
        let (metric, digits) = match self.metric {
            Metric::Accuracy => ("accuracy", 6),
            Metric::Mse => ("mse", 8),
        };
        let header = format!(
            "index,setting,hidden,block,block_bytes,flops_per_update,flops_per_skip,flops_per_window,window,{metric},flops_per_step,update_share,card_{metric},card_flops_per_step",
        );
        let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
        let rows = model.settings().iter().zip(&self.alone).enumerate().map(|(i, (setting, m))| {
            let card_score = match self.metric {
                Metric::Accuracy => setting.expected_accuracy,
                Metric::Mse => setting.expected_mse,
            };
            vec![
                i.to_string(),
                setting.name.clone(),
                setting.hidden.to_string(),
                setting.block.to_string(),
                setting.block_bytes.to_string(),
                setting.flops_per_update.to_string(),
                setting.flops_per_skip.to_string(),
                setting.flops_per_window.to_string(),
                setting.window.to_string(),
                format!("{:.digits$}", m.score),
                format!("{:.3}", m.flops_per_step),
                format!("{:.6}", m.update_share),
                opt(card_score, digits),
                opt(setting.expected_flops_per_step, 3),
            ]
        });
        csv_table(&header, rows)
    }

    /// Groups of runs summarised: each pair and direction, the random schedules, and all changes.
    pub fn groups(&self) -> Vec<(String, Vec<&RunResult>)> {
        let mut groups = Vec::new();
        for (pair, &(cheap, dear)) in self.pairs.iter().enumerate() {
            for (a, b) in [(cheap, dear), (dear, cheap)] {
                let runs: Vec<&RunResult> = self
                    .runs
                    .iter()
                    .filter(|r| matches!(r.kind, RunKind::Change { pair: p, a: ra, .. } if p == pair && ra == a))
                    .collect();
                groups.push((format!("{} → {}", self.setting_names[a], self.setting_names[b]), runs));
            }
        }
        let random: Vec<&RunResult> = self.runs.iter().filter(|r| matches!(r.kind, RunKind::Random { .. })).collect();
        if !random.is_empty() {
            groups.push((format!("random schedules (1–{} changes)", self.config.max_changes), random));
        }
        let all: Vec<&RunResult> = self.runs.iter().filter(|r| !matches!(r.kind, RunKind::Alone { .. })).collect();
        groups.push(("all runs with changes".to_string(), all));
        groups
    }

    /// `summary.md`: the settings alone and, per group of runs, the mean and maximum absolute
    /// deviation of the measurement from the weighted prediction (accuracy in percentage points, or
    /// MSE in its own units and in percent of the prediction; FLOPs per step in percent), plus the mean
    /// signed deviation of the metric. A regression evaluation names its metric first; a
    /// variable-length one says how its sequences ran.
    pub fn summary_md(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Weighted-average check: `{}` ({})\n", self.model_name, self.family);
        if self.metric == Metric::Mse {
            let _ = writeln!(
                out,
                "Metric: mean squared error (MSE) of the model's one output against each sequence's target; lower is better. Deviations in MSE units and in % of the prediction.\n"
            );
        }
        let (sequences, weights) = if self.is_fixed_length() {
            (format!("{} test sequences of {} steps.", self.sequences, self.steps), "steps in setting i / T")
        } else {
            (
                format!(
                    "{} test sequences of {}–{} steps ({} steps in all), each run for its own length: a sequence shorter than s never changes.",
                    self.sequences, self.shortest, self.steps, self.total_steps
                ),
                "steps run in setting i, summed over the sequences / all steps run",
            )
        };
        let _ = writeln!(
            out,
            "{sequences} Changes at s = {}, {}, … < {} in both directions; {} random schedules (seed {}). Prediction: Σ_i ({weights}) × the setting's own value alone. Deviation = measured − predicted.\n",
            self.config.change_every,
            2 * self.config.change_every,
            self.steps,
            self.config.schedules,
            self.config.seed
        );
        let _ = writeln!(
            out,
            "## Settings alone\n\n| setting | {} | FLOPs per step | updated steps |\n|---|---:|---:|---:|",
            self.metric.name()
        );
        for (name, m) in self.setting_names.iter().zip(&self.alone) {
            let score = match self.metric {
                Metric::Accuracy => format!("{:.3}", m.score),
                Metric::Mse => format!("{:.6}", m.score),
            };
            let _ = writeln!(out, "| {name} | {score} | {:.0} | {:.1} % |", m.flops_per_step, m.update_share * 100.0);
        }
        let header = match self.metric {
            Metric::Accuracy => "| runs | n | accuracy: mean Δ (pp) | mean abs Δ (pp) | max abs Δ (pp) | FLOPs: mean abs Δ (%) | max abs Δ (%) |\n|---|---:|---:|---:|---:|---:|---:|",
            Metric::Mse => "| runs | n | MSE: mean Δ | mean abs Δ | max abs Δ | mean abs Δ (%) | max abs Δ (%) | FLOPs: mean abs Δ (%) | max abs Δ (%) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        };
        let _ = writeln!(out, "\n## Measured vs predicted\n\n{header}");
        for (label, runs) in self.groups() {
            let s = DeviationStats::of(self.metric, &runs);
            let score = match self.metric {
                Metric::Accuracy => {
                    format!("{:+.2} | {:.2} | {:.2}", s.mean_score, s.mean_abs_score, s.max_abs_score)
                }
                Metric::Mse => format!(
                    "{:+.6} | {:.6} | {:.6} | {:.2} | {:.2}",
                    s.mean_score, s.mean_abs_score, s.max_abs_score, s.mean_abs_score_pct, s.max_abs_score_pct
                ),
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {score} | {:.2} | {:.2} |",
                runs.len(),
                s.mean_abs_flops_pct,
                s.max_abs_flops_pct
            );
        }
        out.push_str(&self.checks_md());
        out
    }

    /// A deviation in its unit, for tables: `+1.23` pp, or `+0.000123` MSE.
    fn deviation_text(&self, value: f64) -> String {
        match self.metric {
            Metric::Accuracy => format!("{value:+.2}"),
            Metric::Mse => format!("{value:+.6}"),
        }
    }

    fn interval_text(&self, interval: &checks::Interval) -> String {
        if interval.is_none() {
            return "–".into();
        }
        let mark = if interval.excludes_zero() { " *" } else { "" };
        match self.metric {
            Metric::Accuracy => format!("[{:+.2}, {:+.2}]{mark}", interval.low, interval.high),
            Metric::Mse => format!("[{:+.6}, {:+.6}]{mark}", interval.low, interval.high),
        }
    }

    /// The checks' part of `summary.md` (see [`checks`]): shares within bounds per kind of run, then
    /// per pair and direction the mean deviation with its interval (`*` when it excludes 0), the
    /// share within bounds, monotonicity and the late change.
    pub fn checks_md(&self) -> String {
        let mut out = String::new();
        let c = &self.checks;
        let Some(config) = &c.config else { return out };
        let (unit, tolerance, bounds) = match self.metric {
            Metric::Accuracy => (
                "pp",
                format!("{} pp", config.tolerance_pp),
                format!("[min − {0} pp, max + {0} pp]", config.tolerance_pp),
            ),
            Metric::Mse => (
                "MSE",
                format!("{} % of the larger MSE", config.tolerance_rel * 100.0),
                format!("[min × (1 − {0}), max × (1 + {0})]", config.tolerance_rel),
            ),
        };
        let late = match checks::late_change_step(self.steps, config.late_share) {
            None => "none (the sequences are too short)".to_string(),
            Some(s) if self.is_fixed_length() => format!("s = {s}"),
            Some(s) => format!(
                "⌈{} · L⌉ of each sequence's own length L (s = {s} for the longest; a sequence too short for a step in its last {} % runs a alone)",
                1.0 - config.late_share,
                config.late_share * 100.0
            ),
        };
        let _ = writeln!(
            out,
            "
## The paper's wording: bounds, monotonicity, intervals

Within bounds: the measured {metric} lies in {bounds}, min and max over the settings the run used, each alone. Monotone: from b alone (s = 0) over the change positions to a alone (s = T) the {metric} never moves against the direction from b alone to a alone by more than {tolerance} (largest reversal: the largest step against it). {intervals} Late change: a → b at {late} (the last {} % of the steps).\n",
            config.late_share * 100.0,
            metric = self.metric.name(),
            intervals = if config.resamples == 0 {
                "Intervals: off (--resamples 0); no deviation is marked.".to_string()
            } else {
                format!("Intervals: 95 % percentile intervals of a paired bootstrap over the {} test sequences ({} resamples, seed {}; each resample redraws the sequences once for every run and recomputes the measurement, the settings alone and the weights); * marks an interval that excludes 0.", self.sequences, config.resamples, config.seed)
            },
        );
        let _ = writeln!(
            out,
            "| runs | n | within bounds | share | mean Δ ({unit}) | 95 % interval |\n|---|---:|---:|---:|---:|---|"
        );
        for k in &c.kinds {
            let share = if k.runs == 0 {
                "–".to_string()
            } else {
                format!("{:.1} %", k.within as f64 / k.runs as f64 * 100.0)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {share} | {} | {} |",
                k.kind,
                k.runs,
                k.within,
                self.deviation_text(k.mean_deviation),
                if k.runs == 0 { "–".to_string() } else { self.interval_text(&k.interval) }
            );
        }
        let versus = match self.metric {
            Metric::Accuracy => "late − worse alone (pp)",
            Metric::Mse => "late − worse alone (MSE)",
        };
        let _ = writeln!(
            out,
            "\n| change | n | mean Δ ({unit}) | 95 % interval | within bounds | monotone | largest reversal ({unit}) | late Δ ({unit}) | 95 % interval | {versus} |\n|---|---:|---:|---|---:|---|---:|---:|---|---:|"
        );
        for d in &c.directions {
            let reversal = match self.metric {
                Metric::Accuracy => format!("{:.2}", d.largest_reversal),
                Metric::Mse => format!("{:.6}", d.largest_reversal),
            };
            let late = d.late.as_ref().map_or_else(
                || "– | – | –".to_string(),
                |l| {
                    format!(
                        "{} | {} | {}",
                        self.deviation_text(l.deviation),
                        self.interval_text(&l.interval),
                        self.deviation_text(l.versus_worse)
                    )
                },
            );
            let (mean, interval) = if d.runs == 0 {
                ("–".to_string(), "–".to_string())
            } else {
                (self.deviation_text(d.mean_deviation), self.interval_text(&d.interval))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {mean} | {interval} | {}/{} | {} | {reversal} | {late} |",
                d.label,
                d.runs,
                d.within,
                d.runs,
                if d.monotone { "yes" } else { "no" }
            );
        }
        let excluding = c.directions.iter().filter(|d| d.runs > 0 && d.interval.excludes_zero()).count();
        let late_runs: Vec<&checks::LateCheck> = c.directions.iter().filter_map(|d| d.late.as_ref()).collect();
        let intervals = if config.resamples == 0 {
            "Intervals are off (--resamples 0)".to_string()
        } else {
            format!("{excluding} of {} directions have a mean Δ whose interval excludes 0", c.directions.len())
        };
        let _ = write!(
            out,
            "\n{intervals}; {} of {} are monotone.",
            c.directions.iter().filter(|d| d.monotone).count(),
            c.directions.len()
        );
        if !late_runs.is_empty() {
            let mean_late = late_runs.iter().map(|l| l.deviation).sum::<f64>() / late_runs.len() as f64;
            let worst = late_runs.iter().map(|l| l.versus_worse).fold(f64::NAN, |m, v| match self.metric {
                Metric::Accuracy => m.min(v),
                Metric::Mse => m.max(v),
            });
            let _ = write!(
                out,
                " Late changes: mean Δ {} {unit}, {} of {} within bounds, furthest beyond the worse setting alone {} {unit}.",
                self.deviation_text(mean_late),
                late_runs.iter().filter(|l| l.within).count(),
                late_runs.len(),
                self.deviation_text(worst)
            );
        }
        out.push('\n');
        out
    }

    /// `checks.csv`: one row per run of `eval.csv` (same order) and then per late-change run: kind,
    /// schedule, the deviation (pp of accuracy, or MSE) with its 95 % interval and whether the interval
    /// excludes 0, the bounds and whether the measurement lies within them.
    pub fn checks_csv(&self) -> Vec<u8> {
        let (unit, digits) = match self.metric {
            Metric::Accuracy => ("pp", 4),
            Metric::Mse => ("mse", 8),
        };
        let interval = |i: &checks::Interval| interval_fields(i, digits);
        let bound_digits = if self.metric == Metric::Accuracy { 6 } else { 8 };
        let header = format!(
            "kind,schedule,a,b,s,deviation_{unit},ci_low_{unit},ci_high_{unit},ci_excludes_zero,bound_low,bound_high,within_bounds"
        );
        let runs = self.runs.iter().zip(&self.checks.runs).map(|(r, c)| (r, c, false));
        let late = self.late.iter().zip(&self.checks.late).map(|(r, c)| (r, c, true));
        let rows = runs.chain(late).map(|(run, check, is_late)| {
            let (kind, a, b, s) = self.kind_fields(run);
            let kind = if is_late { "late" } else { kind };
            let mut row = vec![
                kind.to_string(),
                self.describe(&run.schedule),
                a,
                b,
                s,
                format!("{:.digits$}", self.metric.deviation(run)),
            ];
            row.extend(interval(&check.interval));
            row.extend([
                format!("{:.bound_digits$}", check.bound_low),
                format!("{:.bound_digits$}", check.bound_high),
                check.within.to_string(),
            ]);
            row
        });
        csv_table(&header, rows)
    }

    /// `pairs.csv`: one row per pair and direction a → b: grid runs, mean deviation with its interval,
    /// runs within bounds, monotonicity and the largest reversal, and the late-change run (step,
    /// measured, deviation with interval, measured minus the worse setting alone, within bounds).
    pub fn pairs_csv(&self) -> Vec<u8> {
        let (unit, digits) = match self.metric {
            Metric::Accuracy => ("pp", 4),
            Metric::Mse => ("mse", 8),
        };
        let interval = |i: &checks::Interval| interval_fields(i, digits);
        let header = format!(
            "a,b,runs,mean_deviation_{unit},ci_low_{unit},ci_high_{unit},ci_excludes_zero,within_bounds,monotone,largest_reversal_{unit},late_s,late_measured,late_deviation_{unit},late_ci_low_{unit},late_ci_high_{unit},late_versus_worse_{unit},late_within_bounds"
        );
        let rows = self.checks.directions.iter().map(|d| {
            let mut row = vec![
                self.setting_names[d.a].clone(),
                self.setting_names[d.b].clone(),
                d.runs.to_string(),
                format!("{:.digits$}", d.mean_deviation),
            ];
            row.extend(interval(&d.interval));
            row.extend([d.within.to_string(), d.monotone.to_string(), format!("{:.digits$}", d.largest_reversal)]);
            match &d.late {
                None => row.extend(std::iter::repeat_n(String::new(), 7)),
                Some(l) => {
                    // Low and high only: the late columns have no `excludes zero` field.
                    let [low, high, _] = interval(&l.interval);
                    row.extend([
                        l.s.to_string(),
                        format!("{:.8}", l.measured),
                        format!("{:.digits$}", l.deviation),
                        low,
                        high,
                        format!("{:.digits$}", l.versus_worse),
                        l.within.to_string(),
                    ]);
                }
            }
            row
        });
        csv_table(&header, rows)
    }

    /// `checks.json`: [`Evaluation::checks`] as JSON (per-run checks in `eval.csv` order, then the
    /// late-change runs; directions; shares per kind of run), with the model and metric named.
    pub fn checks_json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct File<'a> {
            model: &'a str,
            family: &'a str,
            metric: &'a str,
            settings: &'a [String],
            checks: &'a checks::Checks,
        }
        let file = File {
            model: &self.model_name,
            family: &self.family,
            metric: self.metric.name(),
            settings: &self.setting_names,
            checks: &self.checks,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// Deviation statistics of a group of runs. The metric's are in the unit of [`Metric::deviation`]:
/// percentage points of accuracy, or MSE units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviationStats {
    /// Mean of measured − predicted score.
    pub mean_score: f64,
    /// Mean absolute score deviation.
    pub mean_abs_score: f64,
    /// Maximum absolute score deviation.
    pub max_abs_score: f64,
    /// Mean absolute score deviation, percent of the prediction.
    pub mean_abs_score_pct: f64,
    /// Maximum absolute score deviation, percent of the prediction.
    pub max_abs_score_pct: f64,
    /// Mean absolute FLOPs deviation, percent of the prediction.
    pub mean_abs_flops_pct: f64,
    /// Maximum absolute FLOPs deviation, percent.
    pub max_abs_flops_pct: f64,
}

impl DeviationStats {
    /// Statistics of `runs` under `metric` (all zero for none).
    pub fn of(metric: Metric, runs: &[&RunResult]) -> DeviationStats {
        let n = runs.len().max(1) as f64;
        let score: Vec<f64> = runs.iter().map(|r| metric.deviation(r)).collect();
        let score_pct: Vec<f64> = runs.iter().map(|r| r.score_deviation_pct().abs()).collect();
        let flops: Vec<f64> = runs.iter().map(|r| r.flops_deviation_pct().abs()).collect();
        DeviationStats {
            mean_score: score.iter().sum::<f64>() / n,
            mean_abs_score: score.iter().map(|v| v.abs()).sum::<f64>() / n,
            max_abs_score: score.iter().fold(0.0, |m, v| m.max(v.abs())),
            mean_abs_score_pct: score_pct.iter().sum::<f64>() / n,
            max_abs_score_pct: score_pct.iter().fold(0.0, |m: f64, v| m.max(*v)),
            mean_abs_flops_pct: flops.iter().sum::<f64>() / n,
            max_abs_flops_pct: flops.iter().fold(0.0, |m: f64, v| m.max(*v)),
        }
    }
}

/// The files of `flexrnn eval` (paths relative to the output folder): `eval.csv`, `settings.csv`,
/// `summary.md`, the checks of [`checks`] (`checks.csv` per run, `pairs.csv` per pair and direction,
/// `checks.json` all of them) and the figures of [`figures::figures`] as SVG, PDF and 300-dpi PNG at one
/// paper column (`<name>.*`) and two (`<name>-wide.*`).
///
/// # Errors
/// [`PlotError`] if a figure cannot be drawn.
pub fn outputs(evaluation: &Evaluation, model: &FlexibleModel) -> Result<Vec<(PathBuf, Vec<u8>)>, PlotError> {
    let mut files = vec![
        (PathBuf::from("eval.csv"), evaluation.eval_csv()),
        (PathBuf::from("settings.csv"), evaluation.settings_csv(model)),
        (PathBuf::from("summary.md"), evaluation.summary_md().into_bytes()),
        (PathBuf::from("checks.csv"), evaluation.checks_csv()),
        (PathBuf::from("pairs.csv"), evaluation.pairs_csv()),
        (PathBuf::from("checks.json"), evaluation.checks_json()),
    ];
    for (name, bytes) in figures::figures(evaluation)? {
        files.push((PathBuf::from(name), bytes));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::{GruClassifier, ModelBank, RnnCell, StateMap};

    /// A GRU of input 1 and hidden `hidden` whose weights are all zero (its state stays 0) and whose
    /// readout therefore outputs exactly `bias`, whatever the input.
    fn constant_model(name: &str, hidden: usize, bias: Vec<f32>) -> GruClassifier {
        let zeros = |n: usize| vec![0.0; n];
        let cell = RnnCell::gru(
            1,
            hidden,
            zeros(3 * hidden),
            zeros(3 * hidden * hidden),
            zeros(3 * hidden),
            zeros(3 * hidden),
        )
        .unwrap();
        GruClassifier { name: name.into(), cell, readout_weight: zeros(bias.len() * hidden), readout_bias: bias }
    }

    /// A switching bank of `a` (hidden 1: 6·1·2 + 16 = 28 FLOPs per step) and `b` (hidden 2: 6·2·3 + 32 = 68)
    /// with zero maps (a → b: 2·2·1 + 2 = 6 FLOPs; b → a: 2·1·2 + 1 = 5); the last step's model's readout
    /// bias is the output.
    fn two_constant_models(bias_a: Vec<f32>, bias_b: Vec<f32>) -> FlexibleModel {
        let map = |from: usize, to: usize| StateMap {
            from_hidden: from,
            to_hidden: to,
            weight: vec![0.0; from * to],
            bias: vec![0.0; to],
        };
        let models = vec![constant_model("a", 1, bias_a), constant_model("b", 2, bias_b)];
        let bank = ModelBank::new(models, vec![(0, 1, map(1, 2)), (1, 0, map(2, 1))]).unwrap();
        let model = FlexibleModel::from_bank(bank, None);
        assert_eq!(model.settings().iter().map(|s| s.flops_per_update).collect::<Vec<_>>(), [28, 68]);
        assert_eq!((model.switch_flops(0, 1), model.switch_flops(1, 0)), (6, 5));
        model
    }

    fn change_run(e: &Evaluation, a: usize, s: usize) -> &RunResult {
        e.runs.iter().find(|r| matches!(r.kind, RunKind::Change { a: ra, s: rs, .. } if ra == a && rs == s)).unwrap()
    }

    fn config_every_step() -> EvalConfig {
        EvalConfig { change_every: 1, schedules: 0, seed: 1, max_changes: 1 }
    }

    /// Regression, fixed length: outputs 1 (a) and 3 (b), targets 0 and 2, so MSE alone is
    /// ((1−0)² + (1−2)²)/2 = 1 for a and ((3−0)² + (3−2)²)/2 = 5 for b; after a change the last setting's
    /// readout decides.
    #[test]
    fn regression_prediction_by_hand() {
        let model = two_constant_models(vec![1.0], vec![3.0]);
        let test = SequenceSet {
            name: "two-targets".into(),
            steps: 4,
            features: 1,
            classes: 0,
            class_names: Vec::new(),
            values: vec![0.5, -1.0, 2.0, 0.25, 1.0, 1.0, 0.0, -3.0],
            lengths: vec![4, 4],
            labels: Vec::new(),
            targets: vec![0.0, 2.0],
        };
        test.check().unwrap();
        let e = evaluate(&model, "tiny", &test, &config_every_step(), false).unwrap();
        assert_eq!(e.metric, Metric::Mse);
        assert_eq!((e.alone[0].score, e.alone[1].score), (1.0, 5.0));
        assert_eq!((e.alone[0].flops_per_step, e.alone[1].flops_per_step), (28.0, 68.0));
        // a for step 0, b for steps 1..4: measured 5 (b's readout), predicted ¼·1 + ¾·5 = 4.
        let up = change_run(&e, 0, 1);
        assert_eq!((up.steps_per_setting.clone(), up.sequence_steps_per_setting.clone()), (vec![1, 3], vec![2, 6]));
        assert_eq!((up.measured.score, up.predicted_score), (5.0, 4.0));
        assert_eq!((up.score_deviation(), up.score_deviation_pct()), (1.0, 25.0));
        // FLOPs: (28 + 3·68 + 6) / 4 = 59.5 measured, ¼·28 + ¾·68 = 58 predicted.
        assert_eq!((up.measured.flops_per_step, up.predicted_flops_per_step), (59.5, 58.0));
        assert!((up.flops_deviation_pct() - 1.5 / 58.0 * 100.0).abs() < 1e-12);
        // b for steps 0..3, a at step 3: measured 1, predicted ¾·5 + ¼·1 = 4, −75 %.
        let down = change_run(&e, 1, 3);
        assert_eq!((down.measured.score, down.predicted_score), (1.0, 4.0));
        assert_eq!((down.score_deviation(), down.score_deviation_pct()), (-3.0, -75.0));
        // Runs alone are predicted exactly.
        for run in e.runs.iter().filter(|r| matches!(r.kind, RunKind::Alone { .. })) {
            assert_eq!((run.score_deviation(), run.flops_deviation_pct()), (0.0, 0.0));
        }
        // MSE columns and labels.
        let csv = String::from_utf8(e.eval_csv()).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "family,kind,schedule,a,b,s,steps_per_setting,measured_mse,predicted_mse,mse_deviation,mse_deviation_pct,measured_flops_per_step,predicted_flops_per_step,flops_deviation_pct,update_share"
        );
        assert!(
            csv.contains("\nswitch,change,a@0;b@1,a,b,1,a:1;b:3,5.00000000,4.00000000,1.00000000,25.0000,59.500,58.000,2.5862,1.000000\n"),
            "{csv}"
        );
        let settings = String::from_utf8(e.settings_csv(&model)).unwrap();
        assert!(settings.starts_with("index,setting,hidden,block,block_bytes,flops_per_update,flops_per_skip,flops_per_window,window,mse,flops_per_step,update_share,card_mse,card_flops_per_step\n"), "{settings}");
        assert!(settings.contains("\n1,b,2,1,"), "{settings}");
        let summary = e.summary_md();
        assert!(summary.contains("Metric: mean squared error (MSE)"), "{summary}");
        assert!(summary.contains("| setting | MSE | FLOPs per step | updated steps |"), "{summary}");
        assert!(summary.contains("| a | 1.000000 | 28 | 100.0 % |"), "{summary}");
        assert!(summary.contains("| runs | n | MSE: mean Δ | mean abs Δ | max abs Δ | mean abs Δ (%) |"), "{summary}");
        assert!(!summary.contains("accuracy") && !summary.contains("(pp)"), "{summary}");
        let files = figures::figures(&e).unwrap();
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        let mut expected = Vec::new();
        for stem in ["change_mse", "change_flops", "measured_vs_predicted", "deviation_intervals"] {
            for suffix in ["", "-wide"] {
                for extension in ["svg", "pdf", "png"] {
                    expected.push(format!("{stem}{suffix}.{extension}"));
                }
            }
        }
        assert_eq!(names, expected);
        // Paper figures: one column is 1050 px at 300 dpi, two columns 2100 px; no text leaves the
        // canvas.
        let file = |name: &str| &files.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(crate::report::plots::tests::png_size(file("change_mse.png")).0, 1050);
        assert_eq!(crate::report::plots::tests::png_size(file("change_mse-wide.png")).0, 2100);
        assert!(file("deviation_intervals.pdf").starts_with(b"%PDF-"));
        for (name, bytes) in &files {
            if name.ends_with(".svg") {
                let svg = std::str::from_utf8(bytes).unwrap();
                assert_eq!(crate::report::plots::tests::texts_outside_canvas(svg), Vec::<String>::new(), "{name}");
            }
        }
        // Issue 15: long setting names (panel captions, legend, interval labels) stay inside too.
        let mut long = e.clone();
        long.setting_names = crate::report::plots::tests::LONG_NAMES[..2].iter().map(|n| n.to_string()).collect();
        for direction in &mut long.checks.directions {
            direction.label = format!("{} → {}", long.setting_names[direction.a], long.setting_names[direction.b]);
        }
        for (name, bytes) in figures::figures(&long).unwrap() {
            if name.ends_with(".svg") {
                let svg = String::from_utf8(bytes).unwrap();
                assert_eq!(crate::report::plots::tests::texts_outside_canvas(&svg), Vec::<String>::new(), "{name}");
            }
        }
    }

    /// Variable length: lengths 2, 4, 4 (T = 4, 10 steps in all), labels 0, 1, 0; `a` always says 0,
    /// `b` always 1, so accuracy alone is 2/3 (a) and 1/3 (b). A change at s = 3 reaches the two long
    /// sequences only: the short one runs a for its 2 steps and is right, the long ones end in b
    /// (one right, one wrong): measured 2/3. Pooled steps: a 2 + 3 + 3 = 8, b 0 + 1 + 1 = 2, so the
    /// prediction is 0.8 · 2/3 + 0.2 · 1/3 = 0.6 (averaging per-sequence shares would give 11/18).
    /// Variable lengths 10, 20 and 5 (longest T = 20): the late change falls in the last 10 % of each
    /// sequence's own steps — at 9, at 18, and never for the 5-step one (⌈4.5⌉ = 5) — not at
    /// ⌈0.9 · 20⌉ = 18 for all, which the 10-step sequence never reached. a says class 0 (right), b
    /// class 1 (wrong). a → b: steps in a 9 + 18 + 5 = 32, in b 1 + 2 = 3; measured 1/3 (only the
    /// 5-step sequence ends in a), predicted 32/35. b → a: 3 and 32 steps, measured 2/3, predicted
    /// 3/35.
    #[test]
    fn late_change_falls_in_each_sequences_own_last_tenth() {
        let model = two_constant_models(vec![1.0, 0.0], vec![0.0, 1.0]);
        let test = SequenceSet {
            name: "ragged".into(),
            steps: 20,
            features: 1,
            classes: 2,
            class_names: vec!["zero".into(), "one".into()],
            // Padding after each length is zero.
            values: (0..60).map(|v| if v % 20 < [10, 20, 5][v / 20] { v as f32 / 9.0 } else { 0.0 }).collect(),
            lengths: vec![10, 20, 5],
            labels: vec![0, 0, 0],
            targets: Vec::new(),
        };
        test.check().unwrap();
        let config = EvalConfig { change_every: 10, schedules: 0, seed: 1, max_changes: 1 };
        let checks = checks::CheckConfig { resamples: 200, ..checks::CheckConfig::default() };
        let e = evaluate_with_checks(&model, "tiny", &test, &config, &checks, false).unwrap();
        assert_eq!(e.late.len(), 2);
        let (ab, ba) = (&e.late[0], &e.late[1]);
        assert!(matches!(ab.kind, RunKind::Change { a: 0, b: 1, s: 18, .. }), "{:?}", ab.kind);
        assert_eq!(ab.sequence_steps_per_setting, [32, 3]);
        assert_eq!(ba.sequence_steps_per_setting, [3, 32]);
        assert_eq!((ab.measured.score, ba.measured.score), (1.0 / 3.0, 2.0 / 3.0));
        assert!((ab.predicted_score - 32.0 / 35.0).abs() < 1e-15, "{}", ab.predicted_score);
        assert!((ba.predicted_score - 3.0 / 35.0).abs() < 1e-15, "{}", ba.predicted_score);
        // FLOPs exact as before: 32 steps of a (28), 3 of b (68), 2 maps a → b (6) over 35 steps.
        assert!((ab.measured.flops_per_step - (32.0 * 28.0 + 3.0 * 68.0 + 12.0) / 35.0).abs() < 1e-12);
        assert!((ab.predicted_flops_per_step - (32.0 * 28.0 + 3.0 * 68.0) / 35.0).abs() < 1e-12);
        let names = &e.setting_names;
        assert_eq!(e.describe(&ab.schedule), format!("{}@0;{}@⌈0.9·L⌉", names[0], names[1]));
        // The bootstrap's weights are the same per-sequence steps: its point value lies in the interval.
        let late = e.checks.directions[0].late.unwrap();
        assert_eq!(late.s, 18);
        assert!((late.deviation - (1.0 / 3.0 - 32.0 / 35.0) * 100.0).abs() < 1e-9);
        assert!(late.interval.covers(late.deviation), "{late:?}");
        assert!(e.checks_md().contains("⌈0.9 · L⌉ of each sequence's own length L (s = 18 for the longest"));
    }

    #[test]
    fn variable_length_prediction_by_hand() {
        let model = two_constant_models(vec![1.0, 0.0], vec![0.0, 1.0]);
        let mut values = vec![0.0; 3 * 4];
        values[..2].copy_from_slice(&[0.3, -0.7]);
        values[4..].copy_from_slice(&[1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0]);
        let test = SequenceSet {
            name: "ragged".into(),
            steps: 4,
            features: 1,
            classes: 2,
            class_names: vec!["zero".into(), "one".into()],
            values,
            lengths: vec![2, 4, 4],
            labels: vec![0, 1, 0],
            targets: Vec::new(),
        };
        test.check().unwrap();
        let e = evaluate(&model, "tiny", &test, &config_every_step(), false).unwrap();
        assert_eq!((e.metric, e.steps, e.shortest, e.total_steps), (Metric::Accuracy, 4, 2, 10));
        assert!(!e.is_fixed_length());
        assert_eq!((e.alone[0].score, e.alone[1].score), (2.0 / 3.0, 1.0 / 3.0));
        let late = change_run(&e, 0, 3);
        assert_eq!(late.steps_per_setting, [3, 1]);
        assert_eq!(late.sequence_steps_per_setting, [8, 2]);
        assert_eq!(late.measured.score, 2.0 / 3.0);
        assert!((late.predicted_score - 0.6).abs() < 1e-15, "{}", late.predicted_score);
        // FLOPs: 8 steps of a (28), 2 of b (68) and 2 maps a → b (6; the short sequence never switches):
        // (224 + 136 + 12) / 10 = 37.2 measured, 0.8 · 28 + 0.2 · 68 = 36 predicted.
        assert!((late.measured.flops_per_step - 37.2).abs() < 1e-12);
        assert!((late.predicted_flops_per_step - 36.0).abs() < 1e-12);
        // At s = 2 the short sequence has ended as well: a 2 + 2 + 2 = 6, b 0 + 2 + 2 = 4 steps;
        // 0.6 · 2/3 + 0.4 · 1/3 = 8/15.
        let mid = change_run(&e, 0, 2);
        assert_eq!(mid.sequence_steps_per_setting, [6, 4]);
        assert_eq!(mid.measured.score, 2.0 / 3.0);
        assert!((mid.predicted_score - 8.0 / 15.0).abs() < 1e-15);
        // b first, a from s = 1: every sequence ends in a (right for 2 of 3); b 1 + 1 + 1 = 3 steps,
        // a 1 + 3 + 3 = 7: 0.7 · 2/3 + 0.3 · 1/3 = 17/30. FLOPs (3 · 68 + 7 · 28 + 3 · 5) / 10 = 41.5.
        let early = change_run(&e, 1, 1);
        assert_eq!(early.sequence_steps_per_setting, [7, 3]);
        assert!((early.predicted_score - 17.0 / 30.0).abs() < 1e-15);
        assert!((early.measured.flops_per_step - 41.5).abs() < 1e-12);
        let csv = String::from_utf8(e.eval_csv()).unwrap();
        assert!(csv.starts_with("family,kind,schedule,a,b,s,steps_per_setting,sequence_steps_per_setting,measured_accuracy,predicted_accuracy,accuracy_deviation_pp,"), "{csv}");
        assert!(
            csv.contains("\nswitch,change,a@0;b@3,a,b,3,a:3;b:1,a:8;b:2,0.666667,0.600000,6.6667,37.200,36.000,"),
            "{csv}"
        );
        let summary = e.summary_md();
        assert!(
            summary.contains("3 test sequences of 2–4 steps (10 steps in all), each run for its own length: a sequence shorter than s never changes."),
            "{summary}"
        );
        assert!(
            summary.contains("Σ_i (steps run in setting i, summed over the sequences / all steps run)"),
            "{summary}"
        );
    }

    /// Labels all 0; `a` always says 0 (right), `b` always 1 (wrong). a → b at s: every sequence ends
    /// wrong and is predicted s/T, so each sequence's own deviation is −s/T: the paired bootstrap gives
    /// a zero-width interval at −100 s/T pp. b → a at s: +100 s/T pp. Every run lies within [0 − 1 pp,
    /// 1 + 1 pp], both directions are monotone, and the late change (last quarter: s = 3) ends 0 pp
    /// from the worse model (a → b) or 100 pp above it (b → a).
    #[test]
    fn a_constant_per_sequence_deviation_has_a_zero_width_interval_at_its_value() {
        let model = two_constant_models(vec![1.0, 0.0], vec![0.0, 1.0]);
        let test = SequenceSet {
            name: "all-zero".into(),
            steps: 4,
            features: 1,
            classes: 2,
            class_names: vec!["zero".into(), "one".into()],
            values: (0..20).map(|v| v as f32 / 7.0).collect(),
            lengths: vec![4; 5],
            labels: vec![0; 5],
            targets: Vec::new(),
        };
        test.check().unwrap();
        let checks = checks::CheckConfig { resamples: 300, late_share: 0.25, ..checks::CheckConfig::default() };
        let e = evaluate_with_checks(&model, "tiny", &test, &config_every_step(), &checks, false).unwrap();
        assert_eq!(e.checks.runs.len(), e.runs.len());
        for (run, check) in e.runs.iter().zip(&e.checks.runs) {
            let deviation = run.accuracy_deviation_pp();
            assert!((check.interval.low - deviation).abs() < 1e-9 && (check.interval.high - deviation).abs() < 1e-9);
            assert!(check.within, "{run:?}");
            if let RunKind::Change { a, s, .. } = run.kind {
                let expected = if a == 0 { -25.0 * s as f64 } else { 25.0 * s as f64 };
                assert!((deviation - expected).abs() < 1e-9, "{deviation} {expected}");
                assert!(check.interval.excludes_zero());
            }
        }
        let d = &e.checks.directions;
        assert_eq!(
            d.iter().map(|d| (d.a, d.b, d.runs, d.monotone)).collect::<Vec<_>>(),
            [(0, 1, 3, true), (1, 0, 3, true)]
        );
        // Mean over s = 1, 2, 3 of −25 s pp: −50 pp, and the interval is that point.
        assert!((d[0].mean_deviation + 50.0).abs() < 1e-9 && (d[0].interval.low + 50.0).abs() < 1e-9);
        let (late_ab, late_ba) = (d[0].late.unwrap(), d[1].late.unwrap());
        assert_eq!((late_ab.s, late_ab.measured, late_ab.versus_worse), (3, 0.0, 0.0));
        assert_eq!((late_ba.measured, late_ba.versus_worse), (1.0, 100.0));
        assert!((late_ab.deviation + 75.0).abs() < 1e-9);
        assert_eq!(e.late.len(), 2);
        let kinds: Vec<(&str, usize, usize)> =
            e.checks.kinds.iter().map(|k| (k.kind.as_str(), k.runs, k.within)).collect();
        assert_eq!(kinds[0], ("one change (grid)", 6, 6));
        let summary = e.summary_md();
        assert!(
            summary.contains(
                "| a → b | 3 | -50.00 | [-50.00, -50.00] * | 3/3 | yes | 0.00 | -75.00 | [-75.00, -75.00] * | +0.00 |"
            ),
            "{summary}"
        );
        let pairs = String::from_utf8(e.pairs_csv()).unwrap();
        assert!(
            pairs.contains("\na,b,3,-50.0000,-50.0000,-50.0000,true,3,true,0.0000,3,0.00000000,-75.0000,"),
            "{pairs}"
        );
        let checks_csv = String::from_utf8(e.checks_csv()).unwrap();
        assert_eq!(checks_csv.lines().count(), 1 + e.runs.len() + 2);
        assert!(checks_csv.contains("\nlate,a@0;b@3,a,b,3,-75.0000,"), "{checks_csv}");
        let json: serde_json::Value = serde_json::from_slice(&e.checks_json()).unwrap();
        assert_eq!(json["checks"]["directions"][0]["monotone"], true);
    }

    /// Bounds and monotonicity on hand-made numbers: 10 sequences, a alone 0.8, b alone 0.9; a → b at
    /// s = 2, 5, 8 measures 0.9, 0.7, 0.85: the 0.7 lies below [0.79, 0.91], and the series
    /// 90 (b alone), 90, 70, 85, 80 (a alone) falls by 20 and rises by 15: not monotone, largest
    /// reversal 15 pp. b → a at s = 5 measures 0.85: inside, and 80, 85, 90 is monotone.
    #[test]
    fn bounds_and_monotonicity_on_hand_made_numbers() {
        let seq = |right: usize| -> Vec<f64> { (0..10).map(|i| f64::from(u8::from(i < right))).collect() };
        let run = |kind: RunKind, schedule: Schedule, score: f64, predicted: f64| {
            let steps = schedule.steps_per_setting(2, 10);
            RunResult {
                kind,
                sequence_steps_per_setting: steps.iter().map(|n| n * 10).collect(),
                steps_per_setting: steps,
                schedule,
                measured: Measured { score, flops_per_step: 1.0, update_share: 1.0 },
                predicted_score: predicted,
                predicted_flops_per_step: 1.0,
            }
        };
        let change = |a: usize, b: usize, s: usize, score: f64| {
            let pa = if a == 0 { 0.8 } else { 0.9 };
            let pb = if b == 0 { 0.8 } else { 0.9 };
            let w = s as f64 / 10.0;
            run(RunKind::Change { pair: 0, a, b, s }, Schedule::change(a, b, s), score, w * pa + (1.0 - w) * pb)
        };
        let runs = vec![
            run(RunKind::Alone { setting: 0 }, Schedule::constant(0), 0.8, 0.8),
            run(RunKind::Alone { setting: 1 }, Schedule::constant(1), 0.9, 0.9),
            change(0, 1, 2, 0.9),
            change(0, 1, 5, 0.7),
            change(0, 1, 8, 0.85),
            change(1, 0, 5, 0.85),
        ];
        let e = Evaluation {
            model_name: "hand".into(),
            family: "switch".into(),
            metric: Metric::Accuracy,
            setting_names: vec!["a".into(), "b".into()],
            alone: vec![runs[0].measured, runs[1].measured],
            pairs: vec![(0, 1)],
            sequence_scores: vec![seq(8), seq(9), seq(9), seq(7), seq(8), seq(8)]
                .into_iter()
                .enumerate()
                .map(|(i, mut v)| {
                    // 0.85: 8.5 of 10 right, as a half on the ninth sequence.
                    if i == 4 || i == 5 {
                        v[8] = 0.5;
                    }
                    v
                })
                .collect(),
            runs,
            steps: 10,
            shortest: 10,
            total_steps: 100,
            sequences: 10,
            config: EvalConfig::default(),
            late: Vec::new(),
            lengths: vec![10; 10],
            checks: checks::Checks::default(),
        };
        let c = checks::Checks::of(&e, &checks::CheckConfig { resamples: 0, ..checks::CheckConfig::default() });
        assert_eq!(c.runs.iter().map(|r| r.within).collect::<Vec<_>>(), [true, true, true, false, true, true]);
        assert!((c.runs[3].bound_low - 0.79).abs() < 1e-12 && (c.runs[3].bound_high - 0.91).abs() < 1e-12);
        let (up, down) = (&c.directions[0], &c.directions[1]);
        assert_eq!((up.runs, up.within, up.monotone), (3, 2, false));
        assert!((up.largest_reversal - 15.0).abs() < 1e-9, "{}", up.largest_reversal);
        assert_eq!((down.runs, down.within, down.monotone, down.largest_reversal), (1, 1, true, 0.0));
        // Deviations: s = 2: 0.9 − 0.88 = +2 pp, s = 5: 0.7 − 0.85 = −15 pp, s = 8: 0.85 − 0.82 = +3 pp.
        assert!((up.mean_deviation - (2.0 - 15.0 + 3.0) / 3.0).abs() < 1e-9, "{}", up.mean_deviation);
        assert_eq!(c.kinds[0].kind, "one change (grid)");
        assert_eq!((c.kinds[0].runs, c.kinds[0].within), (4, 3));
        // With resamples, the point value of each deviation lies in its interval.
        let c = checks::Checks::of(&e, &checks::CheckConfig { resamples: 500, ..checks::CheckConfig::default() });
        for (run, check) in e.runs.iter().zip(&c.runs) {
            let d = run.accuracy_deviation_pp();
            assert!(check.interval.low <= d + 1e-9 && d - 1e-9 <= check.interval.high, "{d} {:?}", check.interval);
        }
    }

    #[test]
    fn sequence_steps_stop_at_each_length() {
        let s = Schedule { segments: vec![(0, 2), (10, 0), (30, 1)], late_share: None };
        // Lengths 5 (all in 2), 20 (10 in 2, 10 in 0), 64 (10, 20, 34).
        assert_eq!(s.sequence_steps_per_setting(3, &[5, 20, 64]), [30, 34, 25]);
        assert_eq!(s.sequence_steps_per_setting(3, &[64, 64]), [40, 68, 20]);
    }

    #[test]
    fn weighted_prediction_by_hand() {
        // 16 steps at 0.9 and 48 at 0.5: 0.25 · 0.9 + 0.75 · 0.5 = 0.6.
        assert!((weighted_prediction(&[16, 0, 48], &[0.9, 0.1, 0.5]) - 0.6).abs() < 1e-12);
        // Costs 100 and 1000 FLOPs per step, 3 and 1 steps: 0.75 · 100 + 0.25 · 1000 = 325.
        assert_eq!(weighted_prediction(&[3, 1], &[100.0, 1000.0]), 325.0);
        assert_eq!(weighted_prediction(&[], &[]), 0.0);
        // One setting only: exactly its metric.
        assert_eq!(weighted_prediction(&[0, 64], &[0.3, 0.123_456_789]), 0.123_456_789);
    }

    #[test]
    fn schedules_count_their_steps() {
        let s = Schedule { segments: vec![(0, 2), (10, 0), (30, 2)], late_share: None };
        assert_eq!(s.steps_per_setting(3, 64), [20, 0, 44]);
        assert_eq!((s.setting_at(0), s.setting_at(9), s.setting_at(10), s.setting_at(63)), (2, 2, 0, 2));
        assert_eq!(Schedule::change(1, 0, 4).steps_per_setting(2, 64), [60, 4]);
    }

    #[test]
    fn random_schedules_are_seeded_and_change_setting_at_each_change() {
        let config = EvalConfig { schedules: 200, ..EvalConfig::default() };
        let a = random_schedules(3, 64, &config);
        assert_eq!(a, random_schedules(3, 64, &config));
        assert_ne!(a, random_schedules(3, 64, &EvalConfig { seed: 2, ..config.clone() }));
        for s in &a {
            assert!((2..=5).contains(&s.segments.len()));
            assert_eq!(s.segments[0].0, 0);
            for w in s.segments.windows(2) {
                assert!(w[0].0 < w[1].0 && w[1].0 < 64 && w[0].1 != w[1].1, "{s:?}");
            }
        }
        assert!(a.iter().any(|s| s.segments.len() == 5) && a.iter().any(|s| s.segments.len() == 2));
    }

    #[test]
    fn pairs_are_neighbours_in_cost_then_the_extremes() {
        let m = |flops: f64| Measured { score: 0.5, flops_per_step: flops, update_share: 1.0 };
        assert_eq!(pairs_by_cost(&[m(30.0), m(10.0), m(20.0)]), [(1, 2), (2, 0), (1, 0)]);
        assert_eq!(pairs_by_cost(&[m(30.0), m(10.0)]), [(1, 0)]);
    }

    #[test]
    fn batched_measurement_equals_one_by_one_bit_for_bit_in_every_family_and_cell() {
        use crate::rnn::flex::test_models::{random_model, CLASSES, FAMILIES};
        use crate::rnn::CellKind;
        let (sequences, steps, features) = (37, 25, 2);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let lengths: Vec<usize> = (0..sequences).map(|_| rng.random_range(1..=steps)).collect();
        // Random frames up to each sequence's length, zero padding after it.
        let values = (0..sequences * steps * features)
            .map(|v| {
                rng.random_range(-1.5..1.5)
                    * f32::from(u8::from(v / features % steps < lengths[v / (steps * features)]))
            })
            .collect();
        let test = SequenceSet {
            name: "ragged".into(),
            steps,
            features,
            classes: CLASSES,
            class_names: (0..CLASSES).map(|c| c.to_string()).collect(),
            values,
            lengths,
            labels: (0..sequences).map(|_| rng.random_range(0..CLASSES as u32)).collect(),
            targets: Vec::new(),
        };
        test.check().unwrap();
        let config = EvalConfig { schedules: 3, ..EvalConfig::default() };
        let bits = |(m, per): &(Measured, Vec<f64>)| {
            let mut out = vec![m.score.to_bits(), m.flops_per_step.to_bits(), m.update_share.to_bits()];
            out.extend(per.iter().map(|v| v.to_bits()));
            out
        };
        let mut compared = 0;
        for family in FAMILIES {
            for kind in CellKind::ALL {
                let model = random_model(family, kind, features, 3);
                let n = model.settings().len();
                let mut schedules: Vec<Schedule> = (0..n).map(Schedule::constant).collect();
                schedules.push(Schedule::change(0, n - 1, 7));
                schedules.push(Schedule::change(n - 1, 1, 13));
                schedules.extend(Schedule::late_change(1, 0, 0.1, steps));
                schedules.extend(random_schedules(n, steps, &config));
                for schedule in &schedules {
                    let expected = measure_sequences_one_by_one(&model, &test, schedule);
                    assert_eq!(expected.1.len(), sequences);
                    for batch_size in [0, 1, 4, 5, EVAL_BATCH, 64] {
                        let got = measure_sequences_batched(&model, &test, schedule, batch_size);
                        assert_eq!(bits(&got), bits(&expected), "{family} {kind} {schedule:?} batch {batch_size}");
                    }
                    compared += 1;
                }
            }
        }
        assert!(compared >= FAMILIES.len() * 2 * 6, "{compared} schedules compared");
    }
}
