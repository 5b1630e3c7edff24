//! `flexrnn profile`'s measurements: how long each operation of a flexible model's settings takes
//! on this machine, with the crate's own step kernels (those the simulator's streams run), on one
//! thread, on real inputs. The result is a list of [`ProfileRow`]s in the format of
//! [`crate::workload::profile`]; the caller adds the machine description and writes the file.
//!
//! What is timed, per setting of the model (in the model's order):
//! - `update`: a step that reads its input — [`FlexibleModel::step`] for banks and nested widths
//!   (the whole call the engine makes); for Skip-RNNs the family's update
//!   ([`crate::rnn::SkipRnnClassifier::update`]), for SkipW a processed
//!   [`SkipWClassifier::step_with`] in an open window (both what `FlexibleModel::step` calls, without
//!   the gate's decision, which would otherwise choose the path);
//! - `skip` (Skip-RNN, SkipW): the skipped path ([`crate::rnn::SkipRnnClassifier::skip`]; a
//!   [`SkipWClassifier::step_with`] that does not process). A skip takes a few nanoseconds, near the
//!   timer's resolution, so each sample is the mean of a batch timed together: [`SKIP_BATCH`]
//!   consecutive skips, or the `L` steps of a SkipW window after its gate;
//! - `window` (SkipW): the window's gate ([`SkipWClassifier::open_window`]);
//! - `map:<to>` (banks): carrying a state of the setting's model to model `<to>`
//!   ([`crate::rnn::ModelBank::carry_state`], along the bank's route);
//! - `readout`: [`FlexibleModel::predict`] after a step of the setting (logits and arg-max).
//!
//! Inputs are the frames of the given sequences, in order, the state starting from zero at each
//! sequence's start (as a stream's does), so values are those the kernels meet in a run. Each
//! operation is first run `warmup` times, then timed `repetitions` times, one call per timing with
//! [`std::time::Instant`]; the timer's own cost (the median of empty timings, measured first) is
//! subtracted from each, and a result below zero counts as zero. Work between timings (advancing a
//! state to the next window, running the step a readout reads) is not timed.

use std::hint::black_box;
use std::time::Instant;

use crate::data::SequenceSet;
use crate::rnn::flex::{FlexibleModel, Knobs};
use crate::rnn::skipw::{SkipWClassifier, SkipWKnobs};
use crate::rnn::CellScratch;
use crate::workload::profile::{Operation, ProfileRow};

/// Consecutive Skip-RNN skips timed together (a skip takes a few nanoseconds, near the timer's
/// resolution); each sample is their mean.
pub const SKIP_BATCH: usize = 64;

/// Samples of batches of `batch` calls as per-call durations.
fn per_call(samples: Vec<f64>, batch: usize) -> Vec<f64> {
    samples.into_iter().map(|s| s / batch as f64).collect()
}

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileOptions {
    /// Timed calls per operation (≥ 1).
    pub repetitions: usize,
    /// Untimed calls per operation first.
    pub warmup: usize,
}

/// The measured rows, and what the timer itself cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// One row per setting and operation, settings in the model's order.
    pub rows: Vec<ProfileRow>,
    /// The median duration of an empty timing, subtracted from every sample, nanoseconds.
    pub timer_overhead_ns: u64,
}

/// The frames of the sequences `pool` of `set`, one after another, round and round.
struct Frames<'a> {
    set: &'a SequenceSet,
    pool: &'a [usize],
    sequence: usize,
    step: usize,
}

impl<'a> Frames<'a> {
    /// The next frame, and whether it starts a sequence.
    fn next(&mut self) -> (&'a [f32], bool) {
        let index = self.pool[self.sequence];
        let starts = self.step == 0;
        let frame = self.set.frame(index, self.step);
        self.step += 1;
        if self.step == self.set.length(index) {
            self.step = 0;
            self.sequence = (self.sequence + 1) % self.pool.len();
        }
        (frame, starts)
    }
}

impl Frames<'_> {
    /// Whether the frame `ahead` frames after the next one starts a sequence.
    fn starts_in(&self, ahead: usize) -> bool {
        let (mut sequence, mut step) = (self.sequence, self.step);
        for _ in 0..ahead {
            step += 1;
            if step == self.set.length(self.pool[sequence]) {
                step = 0;
                sequence = (sequence + 1) % self.pool.len();
            }
        }
        step == 0
    }
}

/// Times one call: `start` … `stop` around the part that counts.
struct Stopwatch {
    started: Instant,
    nanos: u64,
}

impl Stopwatch {
    fn start(&mut self) {
        self.started = Instant::now();
    }
    fn stop(&mut self) {
        self.nanos = self.started.elapsed().as_nanos() as u64;
    }
}

/// The median of 10 001 empty timings, nanoseconds.
fn timer_overhead() -> u64 {
    let mut watch = Stopwatch { started: Instant::now(), nanos: 0 };
    let mut empty: Vec<u64> = (0..10_001)
        .map(|_| {
            watch.start();
            watch.stop();
            watch.nanos
        })
        .collect();
    empty.sort_unstable();
    empty[empty.len() / 2]
}

/// Runs `call` `warmup` times, then `repetitions` times, and returns the durations it timed with
/// its stopwatch, less `overhead` ns (at least 0), in seconds.
fn time(options: ProfileOptions, overhead: u64, mut call: impl FnMut(&mut Stopwatch)) -> Vec<f64> {
    let mut watch = Stopwatch { started: Instant::now(), nanos: 0 };
    for _ in 0..options.warmup {
        call(&mut watch);
    }
    (0..options.repetitions)
        .map(|_| {
            call(&mut watch);
            watch.nanos.saturating_sub(overhead) as f64 / 1e9
        })
        .collect()
}

/// Measures every setting of `model` (see the module doc) on the frames of sequences `pool` of
/// `set` (`set.features` must be the model's input size and `pool` not empty), one thread.
///
/// # Panics
/// If `pool` is empty, `options.repetitions` is 0, or the frames are not the model's input size.
pub fn measure(model: &FlexibleModel, set: &SequenceSet, pool: &[usize], options: ProfileOptions) -> Measured {
    assert!(!pool.is_empty() && options.repetitions > 0, "profile: no sequences or no repetitions");
    assert_eq!(set.features, model.input_size(), "profile: the frames are not the model's input size");
    let overhead = timer_overhead();
    let mut frames = Frames { set, pool, sequence: 0, step: 0 };
    let mut rows = Vec::new();
    let settings = model.settings();
    let hidden = settings.iter().map(|s| s.hidden).max().unwrap_or(0);
    let mut row = |setting: usize, operation: Operation, samples: Vec<f64>| {
        rows.push(ProfileRow::from_samples(&settings[setting].name, operation, samples));
    };
    for (index, setting) in settings.iter().enumerate() {
        match (model, setting.knobs) {
            (FlexibleModel::Thr(family), Knobs::Thr { model: skip_model, .. }) => {
                let skip_model = &family.models()[skip_model];
                let mut state = skip_model.new_state();
                let mut scratch = CellScratch::new(hidden);
                let samples = time(options, overhead, |watch| {
                    let (x, starts) = frames.next();
                    if starts {
                        state.reset();
                    }
                    watch.start();
                    skip_model.update(black_box(x), &mut state, &mut scratch);
                    watch.stop();
                });
                row(index, Operation::Update, samples);
                let samples = time(options, overhead, |watch| {
                    let (x, starts) = frames.next();
                    if starts {
                        state.reset();
                    }
                    // A real state to skip from: the previous step updated.
                    skip_model.update(x, &mut state, &mut scratch);
                    watch.start();
                    for _ in 0..SKIP_BATCH {
                        skip_model.skip(black_box(&mut state));
                    }
                    watch.stop();
                });
                row(index, Operation::Skip, per_call(samples, SKIP_BATCH));
            }
            (FlexibleModel::SkipW(family), Knobs::SkipW { .. }) => {
                let skipw = family.model();
                for (operation, samples) in time_skipw(skipw, &mut frames, hidden, options, overhead) {
                    row(index, operation, samples);
                }
            }
            _ => {
                // Banks and nested widths: the step the engine runs.
                let mut state = model.new_state();
                let samples = time(options, overhead, |watch| {
                    let (x, starts) = frames.next();
                    if starts {
                        state.reset();
                    }
                    watch.start();
                    model.step(index, Some(black_box(x)), &mut state);
                    watch.stop();
                });
                row(index, Operation::Update, samples);
            }
        }
        if let FlexibleModel::Switch(family) = model {
            let bank = family.bank();
            let Knobs::Model { model: from } = setting.knobs else { unreachable!("bank settings are models") };
            for to_setting in settings.iter().enumerate().filter(|(to, _)| *to != index).map(|(_, s)| s) {
                let Knobs::Model { model: to } = to_setting.knobs else { unreachable!("bank settings are models") };
                let mut state = model.new_state();
                let mut carried = vec![0.0f32; bank.max_state_len()];
                let mut spare = vec![0.0f32; bank.max_state_len()];
                let samples = time(options, overhead, |watch| {
                    let (x, starts) = frames.next();
                    if starts {
                        state.reset();
                    }
                    // A real state of model `from`, carried to `to`.
                    model.step(index, Some(x), &mut state);
                    let h = model.hidden_state(&state);
                    let c = model.cell_state(&state).unwrap_or(&[]);
                    carried[..h.len()].copy_from_slice(h);
                    carried[h.len()..h.len() + c.len()].copy_from_slice(c);
                    watch.start();
                    bank.carry_state(from, to, black_box(&mut carried), &mut spare);
                    watch.stop();
                });
                row(index, Operation::Map { to: to_setting.name.clone() }, samples);
            }
        }
        let mut state = model.new_state();
        let samples = time(options, overhead, |watch| {
            let (x, starts) = frames.next();
            if starts {
                state.reset();
            }
            // The state a readout reads: after a step of this setting.
            let plan = model.plan(index, &mut state);
            model.step(index, plan.updates.then_some(x), &mut state);
            watch.start();
            black_box(model.predict(&mut state));
            watch.stop();
        });
        row(index, Operation::Readout, samples);
    }
    Measured { rows, timer_overhead_ns: overhead }
}

/// A SkipW state stepped through the frames.
struct SkipWRun<'m, 'f, 'a> {
    skipw: &'m SkipWClassifier,
    frames: &'f mut Frames<'a>,
    state: crate::rnn::SkipWState,
    scratch: CellScratch,
}

impl SkipWRun<'_, '_, '_> {
    /// One step under `knobs` on the next frame (the state reset at a sequence's start, the window's
    /// gate run untimed if due); the step alone is timed if `watch` is given.
    fn step(&mut self, knobs: SkipWKnobs, watch: Option<&mut Stopwatch>) {
        let (x, starts) = self.frames.next();
        if starts {
            self.state.reset();
        }
        if self.skipw.will_process(knobs, &self.state).is_none() {
            self.skipw.open_window(&mut self.state);
        }
        match watch {
            Some(watch) => {
                watch.start();
                black_box(self.skipw.step_with(knobs, &mut self.state, &mut self.scratch, || black_box(x)));
                watch.stop();
            }
            None => {
                self.skipw.step_with(knobs, &mut self.state, &mut self.scratch, || x);
            }
        }
    }

    /// The `L` steps of the next window under `none` (never processed), timed together, after its
    /// gate (untimed; a window cut by a sequence's end is stepped through untimed).
    fn skip_window(&mut self, every: SkipWKnobs, none: SkipWKnobs, watch: &mut Stopwatch) {
        // Sequences shorter than a window cannot hold one: then the first window start will do.
        for attempt in 0.. {
            while self.skipw.will_process(every, &self.state).is_some() {
                self.step(every, None);
            }
            // At a window's start: the window fits in the sequence if no frame of it starts one.
            let fits = (1..self.skipw.window()).all(|ahead| !self.frames.starts_in(ahead));
            if fits || attempt > 2 * self.skipw.window() {
                break;
            }
            self.step(every, None);
        }
        self.skipw.open_window(&mut self.state);
        watch.start();
        for _ in 0..self.skipw.window() {
            black_box(self.skipw.step_with(none, &mut self.state, &mut self.scratch, || unreachable!("not processed")));
        }
        watch.stop();
        for _ in 0..self.skipw.window() {
            self.frames.next();
        }
    }

    /// Steps (untimed, processing every step under `every`) to the next window whose gate has not
    /// run, then runs the gate, timed.
    fn open_next_window(&mut self, every: SkipWKnobs, watch: &mut Stopwatch) {
        while self.skipw.will_process(every, &self.state).is_some() {
            self.step(every, None);
        }
        watch.start();
        black_box(self.skipw.open_window(&mut self.state));
        watch.stop();
    }
}

/// SkipW's `update` (a processed step in an open window), `skip` (a step not processed) and `window`
/// (the gate at a window's start), in that order.
fn time_skipw(
    skipw: &SkipWClassifier,
    frames: &mut Frames<'_>,
    hidden: usize,
    options: ProfileOptions,
    overhead: u64,
) -> Vec<(Operation, Vec<f64>)> {
    let mut run = SkipWRun { skipw, frames, state: skipw.new_state(), scratch: CellScratch::new(hidden) };
    // Every step processed (all importances are ≥ 0), or none.
    let every = SkipWKnobs { k: skipw.window(), thr: 0.0 };
    let none = SkipWKnobs { k: 0, thr: 2.0 };
    let update = time(options, overhead, |watch| run.step(every, Some(watch)));
    let skip = per_call(time(options, overhead, |watch| run.skip_window(every, none, watch)), skipw.window());
    let window = time(options, overhead, |watch| run.open_next_window(every, watch));
    vec![(Operation::Update, update), (Operation::Skip, skip), (Operation::Window, window)]
}
