//! One interface over the flexible families: a [`FlexibleModel`] offers a list of discrete knob
//! [`Setting`]s, and a stream runs each step under any of them, changing setting at any step.
//!
//! The families are a closed set, so this is a closed enum rather than a trait object (a trait would
//! need per-family state downcasts). Every family runs on GRU or LSTM cells ([`crate::rnn::cell`]:
//! one flat state per stream, `h` or `[h; c]`; the readout reads `h`); [`FlexibleModel::cell_kind`]
//! says which:
//!
//! | variant | family | a setting is | changing setting |
//! |---|---|---|---|
//! | [`FlexibleModel::Switch`] | model switching, plain GRUs or LSTMs ([`ModelBank`]) | one model | carries the state along the bank's cheapest chain of maps ([`ModelBank::carry_state`]), paying their FLOPs |
//! | [`FlexibleModel::Thr`] | ThrRNN ([`SkipGruClassifier`]: Skip-GRUs or Skip-LSTMs; several of one size switch too) | (model, `thr`) | free: the state ([`SkipState`]) passes as it is |
//! | [`FlexibleModel::SkipW`] | SkipW ([`SkipWClassifier`]) | (`K`, `thr`) | free; a mid-window change follows [`crate::rnn::skipw`]'s rule |
//! | [`FlexibleModel::Nested`] | nested widths ([`NestedGru`], GRU or LSTM) | a width `w` | free: units `0..w` run, units beyond `w` keep their last value |
//!
//! The enums here are `#[non_exhaustive]` so that adding a family breaks no caller.
//!
//! # Running a stream
//! ```text
//! let mut state = model.new_state();            // allocated once per stream
//! for each sequence: state.reset();
//!     for each step: let s = policy's setting index into model.settings();
//!         let plan = model.plan(s, &mut state); // before the input exists: will it be read? FLOPs?
//!         let x = plan.updates.then(|| extract_features());
//!         model.step(s, x, &mut state);         // returns the same StepPlan
//!     model.predict(&mut state)                 // readout of the model that ran the last step
//! ```
//! [`FlexibleModel::plan`] and [`FlexibleModel::step`] allocate nothing, and neither does
//! [`FlexibleModel::predict`].
//!
//! # Costs
//! [`StepPlan::flops`] is everything a step costs before the readout: the switch into its setting
//! from the setting of the previous step ([`FlexibleModel::switch_flops`]: the state maps for
//! `Switch`, 0 otherwise), a SkipW window's gate at the window's first step, and the update
//! (or skipped step) itself. These are exactly the FLOPs the families' own APIs report. The readout
//! ([`FlexibleModel::readout_flops`]) is that of the setting that ran the last step (for `Nested`, the
//! readout of that step's width).
//!
//! # The settings offered
//! - `Switch`: every model of the bank, in bank order (narrowest first), named as the model.
//! - `Thr`: for every Skip-GRU, the thresholds of its card's knob grid, thinned: a grid point is kept
//!   unless its test accuracy equals that of the last kept point and its mean FLOPs per step are within
//!   1 % of it (on `models/digits-thr`: `thr` ∈ {0, 0.5, 0.6, 1, 1.01}); without a grid,
//!   [`DEFAULT_THR_GRID`]. Named `<model>@thr=<thr>`.
//! - `SkipW`: `K = 0..=L` at [`SKIPW_THR`], then `K = L` at `thr = 0` (every step: the plain GRU).
//!   Named `k=<K>,thr=<thr>`.
//! - `Nested`: every width of the model, ascending, named `w=<w>`; all in one parameter block (the
//!   whole model, whatever the width), so changing width loads nothing.
//!
//! [`FlexibleModel::add_setting`] adds a `Thr` or `SkipW` setting at any knob value in the model's
//! range (e.g. `thr-64-1e-3@thr=0.63`, `k=3,thr=0.42`), its expected FLOPs per step, accuracy and MSE
//! interpolated linearly between the card's neighbouring grid points; settings are added before a run,
//! so the hot path stays an index into the list.

use std::path::Path;

use super::cell::{BatchScratch, CellKind, CellScratch};
use super::io::{
    load_bank, load_nested, load_skip_models, load_skipw, BankCard, Card, ModelIoError, NestedCard, SkipWCard,
};
use super::model::{argmax, BankError, ModelBank};
use super::nested::{NestedGru, NestedScratch};
use super::skip::{SkipGruClassifier, SkipState};
use super::skipw::{SkipWClassifier, SkipWKnobs, SkipWState};

/// Thresholds of a Thr model whose card has no knob grid: always update, the training threshold, never.
pub const DEFAULT_THR_GRID: [f32; 3] = [0.0, 0.5, 1.01];

/// The threshold of the SkipW settings with `K = 0..=L` (the middle of `[0, 1]`, inside the shipped
/// model's training range `[0, 0.75]`).
pub const SKIPW_THR: f32 = 0.5;

/// Most knob values [`FlexibleModel::add_knob_range`] adds per Skip-RNN (or per `K`).
pub const MAX_KNOB_VALUES: usize = 10_000;

/// Relative tolerance on mean FLOPs per step under which two card grid points with equal accuracy
/// count as one setting (see the module doc).
const THIN_FLOPS_TOLERANCE: f64 = 0.01;

/// The knob values of one setting.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Knobs {
    /// Model switching: model `model` of the bank.
    Model {
        /// Index into the bank's models.
        model: usize,
    },
    /// ThrRNN: Skip-GRU `model` under threshold `thr`.
    Thr {
        /// Index into the family's Skip-GRUs.
        model: usize,
        /// Binarisation threshold: the step updates iff `ũ ≥ thr`.
        thr: f32,
    },
    /// SkipW: at most `k` processed steps per window, each with importance `≥ thr`.
    SkipW {
        /// Budget per window.
        k: usize,
        /// Importance threshold.
        thr: f32,
    },
    /// Nested widths: units `0..width` of the one GRU run (and width `width`'s readout reads them).
    Width {
        /// The width `w`, one of [`NestedGru::widths`].
        width: usize,
    },
}

/// One discrete knob setting a policy may choose.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Unique name (e.g. `gru-64`, `thr-64-1e-3@thr=0.5`, `k=4,thr=0.5`, `w=32`).
    pub name: String,
    /// The knob values.
    pub knobs: Knobs,
    /// Hidden units in use (for `Nested`, the width `w`).
    pub hidden: usize,
    /// FLOPs of an updated (processed) step, switch and window gate excluded.
    pub flops_per_update: u64,
    /// FLOPs of a skipped step (0 for SkipW, the accumulation for ThrRNN; no step is skipped under
    /// `Switch`, which reports the update's FLOPs here too).
    pub flops_per_skip: u64,
    /// FLOPs charged at the first step of every window (SkipW's gate, `2HL + L`); 0 for the others.
    pub flops_per_window: u64,
    /// Window length `L` (SkipW); 1 for the families without windows.
    pub window: usize,
    /// Mean FLOPs per step at this setting held constant on the card's test split (readout
    /// excluded), if the card knows it.
    pub expected_flops_per_step: Option<f64>,
    /// Test accuracy at this setting held constant, if the card knows it (classification tasks).
    pub expected_accuracy: Option<f64>,
    /// Test mean squared error at this setting held constant, if the card knows it (regression tasks).
    pub expected_mse: Option<f64>,
    /// The parameter block this setting runs on: settings of one block share their parameters
    /// (changing `thr`, `K` or a nested width loads nothing); each bank model is its own block.
    /// `0..blocks`.
    pub block: usize,
    /// Bytes of that block's parameters (`f32`).
    pub block_bytes: u64,
}

/// What a step does (from [`FlexibleModel::plan`], before the input is needed) or did (from
/// [`FlexibleModel::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepPlan {
    /// Whether the step reads its input and updates the state (else the state is copied and the input
    /// need not be produced).
    pub updates: bool,
    /// FLOPs of the step: switch, window gate (if any) and update or skipped step.
    pub flops: u64,
    /// The part of `flops` spent carrying the state from the previous step's setting.
    pub switch_flops: u64,
}

/// One measured point of a card's knob grid: what a setting held constant gave on the test split.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MeasuredPoint {
    thr: f32,
    accuracy: Option<f64>,
    mse: Option<f64>,
    flops: Option<f64>,
}

/// A setting name that names no setting, or a knob value outside the model's range
/// ([`FlexibleModel::add_setting`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KnobError {
    /// Neither a setting of the list nor a continuous form of this family.
    #[error("`{name}` is not a setting of this model")]
    Unknown {
        /// The name as written.
        name: String,
    },
    /// A continuous form whose knob value lies outside the range the model allows.
    #[error("`{name}`: {knob} = {value} is outside the range allowed for this model: {allowed}")]
    OutOfRange {
        /// The name as written.
        name: String,
        /// The knob (`thr` or `K`).
        knob: &'static str,
        /// The value as written.
        value: String,
        /// The allowed range, e.g. `0 ≤ thr ≤ 1.01`.
        allowed: String,
    },
    /// A name in a continuous form whose value cannot be parsed (not a number, `nan`, a `K` that is
    /// not a whole number, a knob missing or given twice).
    #[error("`{name}` cannot be parsed: {problem}; the form allowed is {form}")]
    Unparsable {
        /// The name as written.
        name: String,
        /// What is wrong, e.g. `thr = "0.5.5" is not a decimal number`.
        problem: String,
        /// The allowed form with its ranges, e.g. `` `k=<K>,thr=<thr>` (K a whole number, thr a
        /// decimal number) with K in 0..=8 and 0 ≤ thr ≤ 0.75 ``.
        form: String,
    },
}

/// A model-switching bank of plain GRUs or LSTMs with its settings. See [`FlexibleModel::Switch`].
#[derive(Debug, Clone)]
pub struct SwitchModels {
    bank: ModelBank,
    settings: Vec<Setting>,
    task: String,
    /// Validation accuracy of each model from the card (model selection that does not look at the
    /// test split), by setting.
    validation: Vec<Option<f64>>,
}

/// ThrRNN Skip-GRUs or Skip-LSTMs (one or several of one hidden size and cell) with their settings. See [`FlexibleModel::Thr`].
#[derive(Debug, Clone)]
pub struct ThrModels {
    models: Vec<SkipGruClassifier>,
    settings: Vec<Setting>,
    task: String,
    /// Per Skip-RNN: the card's whole knob grid (not thinned), ascending in `thr`; empty without one.
    grids: Vec<Vec<MeasuredPoint>>,
    /// Per Skip-RNN: the `thr` range a setting may take (the span of its card's grid, else of
    /// [`DEFAULT_THR_GRID`]).
    ranges: Vec<(f32, f32)>,
}

/// A SkipW model with its settings. See [`FlexibleModel::SkipW`].
#[derive(Debug, Clone)]
pub struct SkipWModel {
    model: SkipWClassifier,
    settings: Vec<Setting>,
    task: String,
    /// The card's grid as `(K, point)`, ascending in `(K, thr)`; empty without a card.
    grid: Vec<(usize, MeasuredPoint)>,
    /// The `thr` range a setting may take (the card's `knobs.thr_min..=thr_max`, capped at the grid's
    /// highest threshold, else `[0, 1]`).
    thr_range: (f32, f32),
}

/// A nested-width GRU with its settings (one per width). See [`FlexibleModel::Nested`].
#[derive(Debug, Clone)]
pub struct NestedModel {
    model: NestedGru,
    settings: Vec<Setting>,
    task: String,
}

impl SwitchModels {
    /// The bank.
    pub fn bank(&self) -> &ModelBank {
        &self.bank
    }

    /// The card's validation accuracy of the model of setting `setting`, if the card has it.
    pub fn validation_accuracy(&self, setting: usize) -> Option<f64> {
        self.validation.get(setting).copied().flatten()
    }
}

impl ThrModels {
    /// The Skip-GRUs, in card order.
    pub fn models(&self) -> &[SkipGruClassifier] {
        &self.models
    }
}

impl SkipWModel {
    /// The SkipW classifier.
    pub fn model(&self) -> &SkipWClassifier {
        &self.model
    }
}

impl NestedModel {
    /// The nested-width GRU.
    pub fn model(&self) -> &NestedGru {
        &self.model
    }
}

/// A flexible model of one family, with its settings. Weights are immutable and shared; each stream
/// owns a [`FlexState`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FlexibleModel {
    /// Model switching between plain GRUs or LSTMs (`family: "switch"` cards, e.g. `models/digits-gru`).
    Switch(SwitchModels),
    /// ThrRNN Skip-GRUs or Skip-LSTMs (`family: "thr"`, e.g. `models/digits-thr`).
    Thr(ThrModels),
    /// SkipW (`family: "skipw"`, e.g. `models/digits-skipw`).
    SkipW(SkipWModel),
    /// Nested widths: one GRU or LSTM run at any of its widths (`family: "nested"`, e.g.
    /// `models/digits-nested`).
    Nested(NestedModel),
}

/// Per-family part of a [`FlexState`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FamilyState {
    /// `Switch`: the flat state of the model in use in `h[..S]` (`S` its state length: `H`, or `2H`
    /// for an LSTM's `[h; c]`; buffers of the largest state length).
    Switch {
        /// Flat state; the first `S` values belong to the model in use.
        h: Vec<f32>,
        /// Room for intermediate states along a chain of maps.
        spare: Vec<f32>,
    },
    /// `Thr`: the Skip-RNN state (shared by all models of the family: they have one size and cell).
    Thr(SkipState),
    /// `SkipW`: the window state.
    SkipW(SkipWState),
    /// `Nested`: the full state of all `H` units (a width-`w` step updates units `..w` and leaves the
    /// rest as they are; for an LSTM the flat `[h; c]`, `2H` values) and the step's scratch.
    Nested {
        /// Flat state of all `H` units: `h`, or `[h; c]` for an LSTM.
        h: Vec<f32>,
        /// Scratch of [`NestedGru::step`].
        scratch: NestedScratch,
    },
}

/// The state of one stream of a [`FlexibleModel`], with its scratch: allocated once by
/// [`FlexibleModel::new_state`]; [`FlexState::reset`] starts a new sequence without allocating.
#[derive(Debug, Clone)]
pub struct FlexState {
    family: FamilyState,
    scratch: CellScratch,
    logits: Vec<f32>,
    previous: Option<usize>,
    /// SkipW: FLOPs of a window gate run by `plan` and not yet reported by `step`.
    pending_flops: u64,
}

impl FlexState {
    /// Back to the initial state (zero hidden state, no previous setting). Allocates nothing.
    pub fn reset(&mut self) {
        match &mut self.family {
            FamilyState::Switch { h, spare } => {
                h.iter_mut().for_each(|v| *v = 0.0);
                spare.iter_mut().for_each(|v| *v = 0.0);
            }
            FamilyState::Thr(state) => state.reset(),
            FamilyState::SkipW(state) => state.reset(),
            FamilyState::Nested { h, .. } => h.iter_mut().for_each(|v| *v = 0.0),
        }
        self.logits.iter_mut().for_each(|v| *v = 0.0);
        self.previous = None;
        self.pending_flops = 0;
    }

    /// The setting that ran the previous step (`None` at the start of a sequence).
    pub fn previous_setting(&self) -> Option<usize> {
        self.previous
    }

    /// The family's state.
    pub fn family_state(&self) -> &FamilyState {
        &self.family
    }
}

/// Buffers for stepping a batch of streams in lockstep ([`FlexibleModel::step_batch`]), sized once
/// for up to [`Self::capacity`] streams by [`FlexibleModel::new_batch`]: the packed inputs and states
/// of the streams that share weights at a step, the cells' batched scratch, and each stream's
/// [`StepPlan`]. A batched step allocates nothing.
#[derive(Debug, Clone)]
pub struct FlexBatch {
    capacity: usize,
    /// Inputs of the streams of one group, packed (`capacity × I`).
    inputs: Vec<f32>,
    /// Flat states of the streams of one group, packed (`capacity × ` the largest state length).
    states: Vec<f32>,
    cells: BatchScratch,
    /// Rows (indices into the batch) of the group being stepped.
    members: Vec<usize>,
    /// Whether a row has been stepped with its group at this step.
    grouped: Vec<bool>,
    /// What each row's step did (`None` for a row that does not step).
    plans: Vec<Option<StepPlan>>,
}

impl FlexBatch {
    /// The most streams one batched step may take.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl FlexibleModel {
    /// Loads a model folder: reads `card.json`'s `family` and dispatches to the family's loader
    /// (`switch` or `gru` → [`load_bank`], `thr` → [`load_skip_models`], `skipw` → [`load_skipw`],
    /// `nested` → [`load_nested`]).
    ///
    /// # Errors
    /// [`ModelIoError`] naming the file: unreadable card or weights, an unknown family
    /// ([`ModelIoError::Family`]), Skip-GRUs of different sizes.
    pub fn load(dir: &Path) -> Result<FlexibleModel, ModelIoError> {
        #[derive(serde::Deserialize)]
        struct FamilyOnly {
            family: String,
        }
        let (family, card_path): (FamilyOnly, _) = super::io::read_card_json(dir)?;
        match family.family.as_str() {
            "switch" | "gru" => {
                let (bank, card) = load_bank(dir)?;
                Ok(FlexibleModel::from_bank(bank, Some(&card)))
            }
            "thr" => {
                let (models, card) = load_skip_models(dir)?;
                FlexibleModel::from_skip_models(models, Some(&card))
                    .map_err(|source| ModelIoError::Bank { path: dir.to_path_buf(), source })
            }
            "skipw" => {
                let (model, card) = load_skipw(dir)?;
                Ok(FlexibleModel::from_skipw(model, Some(&card)))
            }
            "nested" => {
                let (model, card) = load_nested(dir)?;
                Ok(FlexibleModel::from_nested(model, Some(&card)))
            }
            other => Err(ModelIoError::Family { path: card_path, family: other.to_string() }),
        }
    }

    /// A `Switch` model from a bank; the card (if any) gives each setting's expected accuracy and
    /// FLOPs per step.
    pub fn from_bank(bank: ModelBank, card: Option<&Card<BankCard>>) -> FlexibleModel {
        let settings = bank
            .models()
            .iter()
            .enumerate()
            .map(|(index, model)| {
                let entry = card.and_then(|c| c.family.models.iter().find(|m| m.name == model.name));
                let flops = model.cell.flops_per_step();
                Setting {
                    name: model.name.clone(),
                    knobs: Knobs::Model { model: index },
                    hidden: model.hidden_size(),
                    flops_per_update: flops,
                    flops_per_skip: flops,
                    flops_per_window: 0,
                    window: 1,
                    expected_flops_per_step: Some(flops as f64),
                    expected_accuracy: entry.and_then(|e| e.test_accuracy),
                    expected_mse: entry.and_then(|e| e.test_mse),
                    block: index,
                    block_bytes: model.param_bytes(),
                }
            })
            .collect();
        let task = card.map_or_else(String::new, |c| c.task.clone());
        let validation = bank
            .models()
            .iter()
            .map(|model| {
                card.and_then(|c| c.family.models.iter().find(|m| m.name == model.name))
                    .and_then(|e| e.validation_accuracy.or(e.validation_mse.map(|m| -m)))
            })
            .collect();
        FlexibleModel::Switch(SwitchModels { bank, settings, task, validation })
    }

    /// A `Thr` model from Skip-GRUs of one hidden size (a switch between them passes the state as it
    /// is); the thresholds come from the card's knob grid (see the module doc).
    ///
    /// # Errors
    /// [`BankError::Invalid`] if there is no model, or the models differ in hidden size, input size,
    /// classes or cell kind.
    pub fn from_skip_models(
        models: Vec<SkipGruClassifier>,
        card: Option<&Card<BankCard>>,
    ) -> Result<FlexibleModel, BankError> {
        let first = models.first().ok_or_else(|| BankError::Invalid("no Skip-GRU".into()))?;
        let shape = |m: &SkipGruClassifier| (m.hidden_size(), m.input_size(), m.classes(), m.base.cell_kind());
        if let Some(odd) = models.iter().find(|m| shape(m) != shape(first)) {
            return Err(BankError::Invalid(format!(
                "Skip-RNN {} differs from {} in hidden size, input size, classes or cell; a Thr family switches between Skip-RNNs of one size and cell only (the state passes as it is)",
                odd.name(),
                first.name()
            )));
        }
        let mut settings = Vec::new();
        let (mut grids, mut ranges) = (Vec::new(), Vec::new());
        for (index, model) in models.iter().enumerate() {
            let entry = card.and_then(|c| c.family.models.iter().find(|m| m.name == model.name()));
            // The whole grid, for settings between its points (`add_setting`).
            let mut full: Vec<MeasuredPoint> = entry
                .map(|e| {
                    let regression = e.test_accuracy.is_none() && e.test_mse.is_some();
                    e.knob_grid
                        .iter()
                        .filter_map(|p| {
                            let score = p.test_accuracy.or(p.test_mse);
                            p.knobs.get("thr").map(|&thr| MeasuredPoint {
                                thr: thr as f32,
                                accuracy: if regression { None } else { score },
                                mse: if regression { score } else { None },
                                flops: Some(p.mean_flops_per_step),
                            })
                        })
                        .filter(|p| p.thr.is_finite())
                        .collect()
                })
                .unwrap_or_default();
            full.sort_by(|a, b| a.thr.total_cmp(&b.thr));
            let span = |thrs: &mut dyn Iterator<Item = f32>| {
                thrs.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)))
            };
            ranges.push(if full.is_empty() {
                span(&mut DEFAULT_THR_GRID.iter().copied())
            } else {
                span(&mut full.iter().map(|p| p.thr))
            });
            grids.push(full);
            // (thr, accuracy, MSE, mean FLOPs per step) of the card's grid, thinned.
            type GridPoint = (f32, Option<f64>, Option<f64>, Option<f64>);
            let grid: Vec<GridPoint> = match entry {
                Some(e) if !e.knob_grid.is_empty() => {
                    let points: Vec<(f32, f64, f64)> = e
                        .knob_grid
                        .iter()
                        .filter_map(|p| {
                            let score = p.test_accuracy.or(p.test_mse).unwrap_or(f64::NAN);
                            p.knobs.get("thr").map(|&thr| (thr as f32, score, p.mean_flops_per_step))
                        })
                        .collect();
                    let regression = e.test_accuracy.is_none() && e.test_mse.is_some();
                    thin(&points)
                        .into_iter()
                        .map(|i| {
                            let (thr, score, flops) = points[i];
                            let score = Some(score).filter(|s| !s.is_nan());
                            if regression {
                                (thr, None, score, Some(flops))
                            } else {
                                (thr, score, None, Some(flops))
                            }
                        })
                        .collect()
                }
                _ => DEFAULT_THR_GRID.iter().map(|&thr| (thr, None, None, None)).collect(),
            };
            for (thr, accuracy, mse, flops) in grid {
                settings.push(Setting {
                    name: format!("{}@thr={thr}", model.name()),
                    knobs: Knobs::Thr { model: index, thr },
                    hidden: model.hidden_size(),
                    flops_per_update: model.flops_per_update(),
                    flops_per_skip: model.flops_per_skip(),
                    flops_per_window: 0,
                    window: 1,
                    expected_flops_per_step: flops,
                    expected_accuracy: accuracy,
                    expected_mse: mse,
                    block: index,
                    block_bytes: model.param_bytes(),
                });
            }
        }
        let task = card.map_or_else(String::new, |c| c.task.clone());
        Ok(FlexibleModel::Thr(ThrModels { models, settings, task, grids, ranges }))
    }

    /// A `SkipW` model; settings `K = 0..=L` at [`SKIPW_THR`] and `K = L` at `thr = 0`, with the
    /// card's grid values where it has them.
    pub fn from_skipw(model: SkipWClassifier, card: Option<&Card<SkipWCard>>) -> FlexibleModel {
        let window = model.window();
        let gates_only = gates_only_flops(&model);
        let knobs: Vec<(usize, f32)> =
            (0..=window).map(|k| (k, SKIPW_THR)).chain(std::iter::once((window, 0.0))).collect();
        let settings = knobs
            .into_iter()
            .map(|(k, thr)| {
                let point = card.and_then(|c| c.family.grid.iter().find(|p| p.k == k && p.thr == thr));
                Setting {
                    name: format!("k={k},thr={thr}"),
                    knobs: Knobs::SkipW { k, thr },
                    hidden: model.hidden_size(),
                    flops_per_update: model.flops_per_processed_step(),
                    flops_per_skip: 0,
                    flops_per_window: model.flops_window_gate(),
                    window,
                    // `K = 0` reads nothing at any `thr`: its cost is the gates' alone, card or not.
                    expected_flops_per_step: point
                        .map(|p| p.mean_flops_per_step)
                        .or_else(|| (k == 0).then_some(gates_only)),
                    expected_accuracy: point.and_then(|p| p.test_accuracy),
                    expected_mse: point.and_then(|p| p.test_mse),
                    block: 0,
                    block_bytes: model.param_bytes(),
                }
            })
            .collect();
        let task = card.map_or_else(String::new, |c| c.task.clone());
        let mut grid: Vec<(usize, MeasuredPoint)> = card
            .map(|c| {
                c.family
                    .grid
                    .iter()
                    .filter(|p| p.thr.is_finite())
                    .map(|p| {
                        let point = MeasuredPoint {
                            thr: p.thr,
                            accuracy: p.test_accuracy,
                            mse: p.test_mse,
                            flops: Some(p.mean_flops_per_step),
                        };
                        (p.k, point)
                    })
                    .collect()
            })
            .unwrap_or_default();
        grid.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.thr.total_cmp(&b.1.thr)));
        // Up to the grid's highest threshold: above it no step's cost was measured (a line to an
        // assumed end point would be a guess), so a setting there would have no expected cost.
        let grid_max = grid.iter().map(|(_, p)| p.thr).fold(f32::NEG_INFINITY, f32::max);
        let thr_range = card.map_or((0.0, 1.0), |c| {
            let hi = if grid_max.is_finite() { c.family.knobs.thr_max.min(grid_max) } else { c.family.knobs.thr_max };
            (c.family.knobs.thr_min, hi)
        });
        FlexibleModel::SkipW(SkipWModel { model, settings, task, grid, thr_range })
    }

    /// A `Nested` model: one setting per width, ascending, named `w=<w>`, all in parameter block 0
    /// (the whole model); the card (if any) gives each width's test accuracy.
    pub fn from_nested(model: NestedGru, card: Option<&Card<NestedCard>>) -> FlexibleModel {
        let settings = model
            .widths()
            .iter()
            .map(|&width| {
                let entry = card.and_then(|c| c.family.widths.iter().find(|w| w.width == width));
                let flops = model.flops_per_step(width);
                Setting {
                    name: format!("w={width}"),
                    knobs: Knobs::Width { width },
                    hidden: width,
                    flops_per_update: flops,
                    flops_per_skip: flops,
                    flops_per_window: 0,
                    window: 1,
                    expected_flops_per_step: Some(flops as f64),
                    expected_accuracy: entry.and_then(|e| e.test_accuracy),
                    expected_mse: entry.and_then(|e| e.test_mse),
                    block: 0,
                    block_bytes: model.param_bytes(),
                }
            })
            .collect();
        let task = card.map_or_else(String::new, |c| c.task.clone());
        FlexibleModel::Nested(NestedModel { model, settings, task })
    }

    /// The cell kind the model runs (every model of a family has the same).
    pub fn cell_kind(&self) -> CellKind {
        match self {
            FlexibleModel::Switch(f) => f.bank.cell_kind(),
            FlexibleModel::Thr(f) => f.models[0].base.cell_kind(),
            FlexibleModel::SkipW(f) => f.model.base.cell_kind(),
            FlexibleModel::Nested(f) => f.model.cell().kind(),
        }
    }

    /// Stacked layers of the cells (1 except in a `Switch` bank of stacked models: see
    /// [`crate::rnn::cell`]).
    pub fn layers(&self) -> usize {
        match self {
            FlexibleModel::Switch(f) => f.bank.models()[0].cell.layers(),
            _ => 1,
        }
    }

    /// Layer `layer`'s `h` and (LSTM) `c` of the model in use (as [`Self::hidden_state`] and
    /// [`Self::cell_state`], which are those of the top layer `L − 1`).
    ///
    /// # Panics
    /// If `layer` ≥ [`Self::layers`].
    pub fn layer_state<'a>(&self, state: &'a FlexState, layer: usize) -> (&'a [f32], Option<&'a [f32]>) {
        assert!(layer < self.layers(), "layer {layer} of a {}-layer model", self.layers());
        match (self, &state.family, &self.settings()[state.previous.unwrap_or(0)].knobs) {
            (FlexibleModel::Switch(f), FamilyState::Switch { h, .. }, Knobs::Model { model }) => {
                let cell = &f.bank.models()[*model].cell;
                let block = &h[cell.layer_range(layer)];
                let hidden = cell.hidden_size();
                (&block[..hidden], (cell.kind() == CellKind::Lstm).then(|| &block[hidden..]))
            }
            _ => (self.hidden_state(state), self.cell_state(state)),
        }
    }

    /// The family's name as cards spell it: `switch`, `thr`, `skipw` or `nested`.
    pub fn family(&self) -> &'static str {
        match self {
            FlexibleModel::Switch(_) => "switch",
            FlexibleModel::Thr(_) => "thr",
            FlexibleModel::SkipW(_) => "skipw",
            FlexibleModel::Nested(_) => "nested",
        }
    }

    /// The card's task (e.g. `digits`; empty when built without a card).
    pub fn task(&self) -> &str {
        match self {
            FlexibleModel::Switch(f) => &f.task,
            FlexibleModel::Thr(f) => &f.task,
            FlexibleModel::SkipW(f) => &f.task,
            FlexibleModel::Nested(f) => &f.task,
        }
    }

    /// The discrete settings a policy may choose (indices into this slice are setting ids).
    pub fn settings(&self) -> &[Setting] {
        match self {
            FlexibleModel::Switch(f) => &f.settings,
            FlexibleModel::Thr(f) => &f.settings,
            FlexibleModel::SkipW(f) => &f.settings,
            FlexibleModel::Nested(f) => &f.settings,
        }
    }

    /// Index of the setting called `name`; failing that, of the setting with the knob values that
    /// `name` spells in a continuous form (see [`Self::add_setting`]; e.g. `thr-64-1e-3@thr=0.50`
    /// finds `thr-64-1e-3@thr=0.5`).
    pub fn setting_index(&self, name: &str) -> Option<usize> {
        self.settings().iter().position(|s| s.name == name).or_else(|| {
            let knobs = self.parse_knobs(name).ok()??;
            self.settings().iter().position(|s| s.knobs == knobs)
        })
    }

    /// The continuous forms this family accepts and their ranges, for messages (e.g.
    /// `` `thr-64-1e-3@thr=<thr>` with 0 ≤ thr ≤ 1.01 ``); empty for families without a continuous
    /// knob (`Switch`, `Nested`).
    pub fn continuous_forms(&self) -> String {
        match self {
            FlexibleModel::Thr(f) => f
                .models
                .iter()
                .zip(&f.ranges)
                .map(|(m, &(lo, hi))| format!("`{}@thr=<thr>` with {lo} ≤ thr ≤ {hi}", m.name()))
                .collect::<Vec<_>>()
                .join(", "),
            FlexibleModel::SkipW(f) => {
                let (lo, hi) = f.thr_range;
                format!("`k=<K>,thr=<thr>` with K in 0..={} and {lo} ≤ thr ≤ {hi}", f.model.window())
            }
            _ => String::new(),
        }
    }

    /// The knob values a continuous form spells: `Ok(None)` if `name` is not a continuous form of
    /// this family, an error if it is one with a value out of range.
    fn parse_knobs(&self, name: &str) -> Result<Option<Knobs>, KnobError> {
        let out_of_range = |knob: &'static str, value: &str, allowed: String| KnobError::OutOfRange {
            name: name.to_string(),
            knob,
            value: value.to_string(),
            allowed,
        };
        let unparsable =
            |problem: String, form: String| KnobError::Unparsable { name: name.to_string(), problem, form };
        // A finite decimal number (`nan`, `inf`, hex or a second point are not one), then the range.
        let thr_in = |value: &str, (lo, hi): (f32, f32), form: &dyn Fn() -> String| -> Result<f32, KnobError> {
            let thr: f32 = value
                .trim()
                .parse()
                .ok()
                .filter(|t: &f32| t.is_finite())
                .ok_or_else(|| unparsable(format!("thr = \"{value}\" is not a decimal number"), form()))?;
            if (lo..=hi).contains(&thr) {
                Ok(thr)
            } else {
                Err(out_of_range("thr", value, format!("{lo} ≤ thr ≤ {hi}")))
            }
        };
        match self {
            FlexibleModel::Thr(f) => {
                let Some((model_name, value)) = name.rsplit_once("@thr=") else { return Ok(None) };
                let Some(model) = f.models.iter().position(|m| m.name() == model_name) else { return Ok(None) };
                let (lo, hi) = f.ranges[model];
                let form = || format!("`{model_name}@thr=<thr>` (thr a decimal number) with {lo} ≤ thr ≤ {hi}");
                Ok(Some(Knobs::Thr { model, thr: thr_in(value, f.ranges[model], &form)? }))
            }
            FlexibleModel::SkipW(f) => {
                // `k=<K>,thr=<thr>` or `thr=<thr>,k=<K>`, spaces around the parts allowed.
                let trimmed = name.trim_start();
                if !(trimmed.starts_with("k=") || trimmed.starts_with("thr=")) {
                    return Ok(None);
                }
                let window = f.model.window();
                let (lo, hi) = f.thr_range;
                let form = || {
                    format!("`k=<K>,thr=<thr>` or `thr=<thr>,k=<K>` (K a whole number, thr a decimal number) with K in 0..={window} and {lo} ≤ thr ≤ {hi}")
                };
                let (mut k, mut thr) = (None, None);
                for part in name.split(',') {
                    let (key, value) = part.split_once('=').unwrap_or((part, ""));
                    let slot = match key.trim() {
                        "k" => &mut k,
                        "thr" => &mut thr,
                        other => return Err(unparsable(format!("unknown part `{}`", other.trim()), form())),
                    };
                    if slot.replace(value).is_some() {
                        return Err(unparsable(format!("{} is given twice", key.trim()), form()));
                    }
                }
                let (Some(k), Some(thr)) = (k, thr) else {
                    let missing = if k.is_none() { "K (`k=<K>`)" } else { "thr (`thr=<thr>`)" };
                    return Err(unparsable(format!("{missing} is missing"), form()));
                };
                let k = k
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| unparsable(format!("K = \"{k}\" is not a whole number"), form()))
                    .and_then(|k_value| {
                        (k_value <= window)
                            .then_some(k_value)
                            .ok_or_else(|| out_of_range("K", k, format!("K in 0..={window} (whole numbers)")))
                    })?;
                Ok(Some(Knobs::SkipW { k, thr: thr_in(thr, f.thr_range, &form)? }))
            }
            _ => Ok(None),
        }
    }

    /// Adds the settings of the model's whole knob range sampled every `step` (`Thr`: every Skip-RNN
    /// at `thr = lo, lo + step, …` up to its range's upper end, which is included; `SkipW`: the same
    /// thresholds at every `K` in `0..=L`) through [`Self::add_setting`], in that order; values that
    /// are already settings (grid values) are not added twice. Lets a policy that steers over the
    /// settings (`pid`, `budget`) set the knob at that resolution.
    ///
    /// # Errors
    /// A message if `step` is not a positive number or the family has no continuous knob (`Switch`,
    /// `Nested`).
    pub fn add_knob_range(&mut self, step: f32) -> Result<(), String> {
        if !(step.is_finite() && step > 0.0) {
            return Err(format!("the knob step must be a positive number, got {step}"));
        }
        let width = match self {
            FlexibleModel::Thr(f) => f.ranges.iter().map(|&(lo, hi)| hi - lo).fold(0.0, f32::max),
            FlexibleModel::SkipW(f) => f.thr_range.1 - f.thr_range.0,
            _ => 0.0,
        };
        if width / step > MAX_KNOB_VALUES as f32 {
            return Err(format!(
                "a knob step of {step} gives more than {MAX_KNOB_VALUES} values over a range of width {width}"
            ));
        }
        // The step as written (0.05, not the f32 nearest to it), so that multiples of it land on the
        // grid's values (18 × 0.05 is the grid's 0.9, not 0.90000004).
        let decimal_step: f64 = step.to_string().parse().unwrap_or(f64::from(step));
        let thresholds = |(lo, hi): (f32, f32)| -> Vec<f32> {
            let lo_decimal: f64 = lo.to_string().parse().unwrap_or(f64::from(lo));
            let mut values: Vec<f32> =
                (0..).map(|i| (lo_decimal + f64::from(i) * decimal_step) as f32).take_while(|&thr| thr < hi).collect();
            values.push(hi);
            values
        };
        let names: Vec<String> = match self {
            FlexibleModel::Thr(f) => f
                .models
                .iter()
                .zip(&f.ranges)
                .flat_map(|(m, &range)| thresholds(range).into_iter().map(move |thr| format!("{}@thr={thr}", m.name())))
                .collect(),
            FlexibleModel::SkipW(f) => (0..=f.model.window())
                .flat_map(|k| thresholds(f.thr_range).into_iter().map(move |thr| format!("k={k},thr={thr}")))
                .collect(),
            _ => {
                return Err(format!(
                    "a {} model has no continuous knob (ThrRNN and SkipW models have `thr`, SkipW also `K`)",
                    self.family()
                ))
            }
        };
        for name in names {
            self.add_setting(&name).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Makes `name` a setting and returns its index: a setting of the list (see
    /// [`Self::setting_index`]), or a new one with any knob value in the model's range, appended to
    /// the list. The continuous forms:
    /// - `Thr`: `<model>@thr=<thr>`, `thr` in the span of that Skip-RNN's card grid (without a grid,
    ///   of [`DEFAULT_THR_GRID`]);
    /// - `SkipW`: `k=<K>,thr=<thr>`, `K` in `0..=L`, `thr` in the card's `knobs.thr_min..=thr_max`
    ///   up to the grid's highest threshold (without a card, `[0, 1]`); `K = 0` costs the window
    ///   gates alone (it reads nothing), with no expected accuracy unless the card measured it.
    ///
    /// A new setting is named `<model>@thr=<thr>` / `k=<K>,thr=<thr>` with the value as `f32` prints
    /// it. Its expected FLOPs per step, accuracy and MSE are interpolated linearly in `thr` between
    /// the two neighbouring points of the card's grid (for SkipW, the points with the same `K`); at a
    /// grid point they are that point's values; `None` where the card has no such points. A Skip-RNN
    /// `thr` above 1 never updates and takes the values of the grid's point above 1 (1.01).
    ///
    /// # Errors
    /// [`KnobError::Unknown`] if `name` is neither a setting nor a continuous form of this family;
    /// [`KnobError::OutOfRange`] (with the allowed range) for a value outside the model's range.
    pub fn add_setting(&mut self, name: &str) -> Result<usize, KnobError> {
        if let Some(index) = self.setting_index(name) {
            return Ok(index);
        }
        let knobs = self.parse_knobs(name)?.ok_or_else(|| KnobError::Unknown { name: name.to_string() })?;
        let (template, name, point) = match (&*self, knobs) {
            (FlexibleModel::Thr(f), Knobs::Thr { model, thr }) => {
                let template =
                    f.settings.iter().position(|s| matches!(s.knobs, Knobs::Thr { model: m, .. } if m == model));
                (template, format!("{}@thr={thr}", f.models[model].name()), interpolate_thr(&f.grids[model], thr))
            }
            (FlexibleModel::SkipW(f), Knobs::SkipW { k, thr }) => {
                let points: Vec<MeasuredPoint> = f.grid.iter().filter(|(pk, _)| *pk == k).map(|(_, p)| *p).collect();
                let gates_only =
                    MeasuredPoint { thr, accuracy: None, mse: None, flops: Some(gates_only_flops(&f.model)) };
                let point = interpolate(&points, thr).or((k == 0).then_some(gates_only));
                (Some(0), format!("k={k},thr={thr}"), point)
            }
            _ => (None, String::new(), None),
        };
        let template = template.ok_or_else(|| KnobError::Unknown { name: name.clone() })?;
        let mut setting = self.settings()[template].clone();
        setting.name = name;
        setting.knobs = knobs;
        setting.expected_flops_per_step = point.and_then(|p| p.flops);
        setting.expected_accuracy = point.and_then(|p| p.accuracy);
        setting.expected_mse = point.and_then(|p| p.mse);
        let settings = match self {
            FlexibleModel::Thr(f) => &mut f.settings,
            FlexibleModel::SkipW(f) => &mut f.settings,
            FlexibleModel::Switch(f) => &mut f.settings,
            FlexibleModel::Nested(f) => &mut f.settings,
        };
        settings.push(setting);
        Ok(settings.len() - 1)
    }

    /// Input features per step.
    pub fn input_size(&self) -> usize {
        match self {
            FlexibleModel::Switch(f) => f.bank.models()[0].cell.input_size(),
            FlexibleModel::Thr(f) => f.models[0].input_size(),
            FlexibleModel::SkipW(f) => f.model.cell().input_size(),
            FlexibleModel::Nested(f) => f.model.input_size(),
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            FlexibleModel::Switch(f) => f.bank.models()[0].classes(),
            FlexibleModel::Thr(f) => f.models[0].classes(),
            FlexibleModel::SkipW(f) => f.model.base.classes(),
            FlexibleModel::Nested(f) => f.model.classes(),
        }
    }

    /// FLOPs of the readout (at the end of a sequence) of the model that setting `setting` runs.
    pub fn readout_flops(&self, setting: usize) -> u64 {
        match (self, self.settings()[setting].knobs) {
            (FlexibleModel::Switch(f), Knobs::Model { model }) => f.bank.models()[model].flops_readout(),
            (FlexibleModel::Thr(f), Knobs::Thr { model, .. }) => f.models[model].flops_readout(),
            (FlexibleModel::SkipW(f), _) => f.model.base.flops_readout(),
            (FlexibleModel::Nested(f), Knobs::Width { width }) => f.model.flops_readout(width),
            _ => unreachable!("settings match their family"),
        }
    }

    /// FLOPs of carrying the state from setting `from` to setting `to` (paid by the first step run
    /// under `to` after a step under `from`): the bank's maps along the cheapest chain for `Switch`
    /// (0 between same-size models), 0 for the other families (the state passes as it is; a nested
    /// width change leaves units beyond the new width as they were).
    pub fn switch_flops(&self, from: usize, to: usize) -> u64 {
        match (self, self.settings()[from].knobs, self.settings()[to].knobs) {
            (FlexibleModel::Switch(f), Knobs::Model { model: a }, Knobs::Model { model: b }) => {
                f.bank.switch_flops(a, b)
            }
            _ => 0,
        }
    }

    /// A fresh state for one stream (zero hidden state, no previous setting), with its scratch.
    pub fn new_state(&self) -> FlexState {
        let (family, hidden) = match self {
            FlexibleModel::Switch(f) => {
                let max = f.bank.max_state_len();
                (FamilyState::Switch { h: vec![0.0; max], spare: vec![0.0; max] }, f.bank.max_hidden())
            }
            FlexibleModel::Thr(f) => (FamilyState::Thr(f.models[0].new_state()), f.models[0].hidden_size()),
            FlexibleModel::SkipW(f) => (FamilyState::SkipW(f.model.new_state()), f.model.hidden_size()),
            FlexibleModel::Nested(f) => {
                let hidden = f.model.hidden_size();
                // The nested step has its own scratch: no cell scratch needed.
                (FamilyState::Nested { h: vec![0.0; f.model.state_len()], scratch: NestedScratch::new(hidden) }, 0)
            }
        };
        FlexState {
            family,
            scratch: CellScratch::new(hidden),
            logits: vec![0.0; self.classes()],
            previous: None,
            pending_flops: 0,
        }
    }

    /// The hidden state `h` of the model in use (that of the setting of the last step; of setting 0
    /// before any step), what its readout reads; an LSTM's `c` is in [`FlexState::family_state`]. For
    /// `Nested`, the units `0..w` of that setting's width (the whole `H`-unit state is in
    /// [`FamilyState::Nested`]).
    pub fn hidden_state<'a>(&self, state: &'a FlexState) -> &'a [f32] {
        let hidden = self.settings()[state.previous.unwrap_or(0)].hidden;
        match &state.family {
            FamilyState::Switch { h, .. } => &h[..hidden],
            FamilyState::Thr(s) => &s.h[..hidden],
            FamilyState::SkipW(s) => &s.h[..hidden],
            FamilyState::Nested { h, .. } => &h[..hidden],
        }
    }

    /// An LSTM's cell state `c` of the model in use, as long as [`Self::hidden_state`] (for `Nested`
    /// the units `0..w`); `None` for GRU cells.
    pub fn cell_state<'a>(&self, state: &'a FlexState) -> Option<&'a [f32]> {
        if self.cell_kind() != CellKind::Lstm {
            return None;
        }
        let hidden = self.settings()[state.previous.unwrap_or(0)].hidden;
        // Where `c` starts in the flat `[h; c]`: after the model's own `H`, or the nested model's full `H`.
        let (flat, start) = match &state.family {
            FamilyState::Switch { h, .. } => (h, hidden),
            FamilyState::Thr(s) => (&s.h, hidden),
            FamilyState::SkipW(s) => (&s.h, hidden),
            FamilyState::Nested { h, .. } => (h, h.len() / 2),
        };
        Some(&flat[start..start + hidden])
    }

    /// What the next step will do under setting `setting`, decided before its input is needed:
    /// `Switch` and `Nested` always update; `Thr` updates iff `ũ ≥ thr`; `SkipW` runs the window's gate first if
    /// the step opens a window (hence `&mut`; the gate's FLOPs are then reported by this plan and by
    /// the following [`Self::step`], and not paid twice) and applies the selection rule. The FLOPs
    /// include the switch from the previous step's setting. Calling it again changes nothing.
    /// Allocates nothing.
    ///
    /// # Panics
    /// If `setting` is out of range or `state` was made by another model.
    pub fn plan(&self, setting: usize, state: &mut FlexState) -> StepPlan {
        let switch_flops = state.previous.map_or(0, |previous| self.switch_flops(previous, setting));
        let knobs = self.settings()[setting].knobs;
        let (updates, own_flops) = match (self, &mut state.family, knobs) {
            (FlexibleModel::Switch(f), FamilyState::Switch { .. }, Knobs::Model { model }) => {
                (true, f.bank.models()[model].cell.flops_per_step())
            }
            (FlexibleModel::Thr(f), FamilyState::Thr(skip), Knobs::Thr { model, thr }) => {
                let model = &f.models[model];
                let updates = skip.updates(thr);
                (updates, if updates { model.flops_per_update() } else { model.flops_per_skip() })
            }
            (FlexibleModel::SkipW(f), FamilyState::SkipW(window), Knobs::SkipW { k, thr }) => {
                state.pending_flops += f.model.open_window(window);
                let updates = f.model.will_process(SkipWKnobs { k, thr }, window).expect("the window was just opened");
                (updates, state.pending_flops + if updates { f.model.flops_per_processed_step() } else { 0 })
            }
            (FlexibleModel::Nested(f), FamilyState::Nested { .. }, Knobs::Width { width }) => {
                (true, f.model.flops_per_step(width))
            }
            _ => panic!("FlexibleModel::plan: the state was made by a model of another family"),
        };
        StepPlan { updates, flops: switch_flops + own_flops, switch_flops }
    }

    /// Runs one step under setting `setting`: carries the state from the previous step's setting if
    /// needed, then updates with `x` (`I` values) or skips, as [`Self::plan`] says. `x` may be `None`
    /// only when the plan says the step does not update. Returns what the step did (equal to the
    /// plan). Allocates nothing.
    ///
    /// # Panics
    /// If the step updates and `x` is `None` or not `I` values long, or `state` was made by another
    /// model.
    pub fn step(&self, setting: usize, x: Option<&[f32]>, state: &mut FlexState) -> StepPlan {
        let plan = self.plan(setting, state);
        let knobs = self.settings()[setting].knobs;
        let previous = state.previous;
        let input = || x.expect("FlexibleModel::step: the step updates, so it needs its input");
        match (self, &mut state.family, knobs) {
            (FlexibleModel::Switch(f), FamilyState::Switch { h, spare }, Knobs::Model { model }) => {
                if let Some(Knobs::Model { model: from }) = previous.map(|p| self.settings()[p].knobs) {
                    if from != model {
                        f.bank.carry_state(from, model, h, spare);
                    }
                }
                let state_len = f.bank.models()[model].state_len();
                f.bank.models()[model].cell.step(input(), &mut h[..state_len], &mut state.scratch);
            }
            (FlexibleModel::Thr(f), FamilyState::Thr(skip), Knobs::Thr { model, .. }) => {
                if plan.updates {
                    f.models[model].update(input(), skip, &mut state.scratch);
                } else {
                    f.models[model].skip(skip);
                }
            }
            (FlexibleModel::SkipW(f), FamilyState::SkipW(window), Knobs::SkipW { k, thr }) => {
                let done = f.model.step_with(SkipWKnobs { k, thr }, window, &mut state.scratch, input);
                debug_assert_eq!(done.processed, plan.updates);
                state.pending_flops = 0;
            }
            (FlexibleModel::Nested(f), FamilyState::Nested { h, scratch }, Knobs::Width { width }) => {
                f.model.step(width, input(), h, scratch);
            }
            _ => panic!("FlexibleModel::step: the state was made by a model of another family"),
        }
        state.previous = Some(setting);
        plan
    }

    /// Writes the logits (`C` values) of the current state into `out`, with the readout of the model
    /// that ran the last step (of setting 0's model before any step; for `Nested`, the readout of the
    /// last step's width). Allocates nothing.
    pub fn logits(&self, state: &mut FlexState, out: &mut [f32]) {
        let current = state.previous.unwrap_or(0);
        let h = self.hidden_state(state);
        let out = &mut out[..self.classes()];
        match (self, self.settings()[current].knobs) {
            (FlexibleModel::Switch(f), Knobs::Model { model }) => f.bank.models()[model].logits_into(h, out),
            (FlexibleModel::Thr(f), Knobs::Thr { model, .. }) => f.models[model].base.logits_into(h, out),
            (FlexibleModel::SkipW(f), _) => f.model.base.logits_into(h, out),
            (FlexibleModel::Nested(f), Knobs::Width { width }) => f.model.logits_into(width, h, out),
            _ => unreachable!("settings match their family"),
        }
    }

    /// The predicted class (arg-max of [`Self::logits`], lowest index on ties). Allocates nothing.
    pub fn predict(&self, state: &mut FlexState) -> u32 {
        let mut logits = std::mem::take(&mut state.logits);
        self.logits(state, &mut logits);
        let class = argmax(&logits) as u32;
        state.logits = logits;
        class
    }

    /// Buffers for batches of up to `capacity` streams of this model ([`Self::step_batch`]).
    pub fn new_batch(&self, capacity: usize) -> FlexBatch {
        let (max_hidden, max_state) = match self {
            FlexibleModel::Switch(f) => (f.bank.max_hidden(), f.bank.max_state_len()),
            FlexibleModel::Thr(f) => (f.models[0].hidden_size(), f.models[0].state_len()),
            FlexibleModel::SkipW(f) => (f.model.hidden_size(), f.model.base.state_len()),
            FlexibleModel::Nested(f) => (f.model.hidden_size(), f.model.state_len()),
        };
        FlexBatch {
            capacity,
            inputs: vec![0.0; capacity * self.input_size()],
            states: vec![0.0; capacity * max_state],
            cells: BatchScratch::new(capacity, max_hidden),
            members: Vec::with_capacity(capacity),
            grouped: vec![false; capacity],
            plans: vec![None; capacity],
        }
    }

    /// One step of a batch of streams in lockstep, each with its own state and setting: row `r`
    /// steps under `settings[r]` (`None`: the row does nothing at this step, e.g. its sequence has
    /// ended) on `states[r]`; `input(r)` gives row `r`'s `I` input values and is called only for rows
    /// whose step updates. Returns what each row's step did (`None` for rows that did not step).
    ///
    /// Every row first plans its step as [`Self::plan`] does (a SkipW window's gate, a Skip-RNN's
    /// decision) and carries its state if its setting changed model (`Switch`). The rows that update
    /// and run the same weights (the same bank model or Skip-RNN, the one SkipW cell, the same nested
    /// width) then step together through the batched cells ([`RnnCell::step_batch`],
    /// [`NestedGru::step_batch`]: one matrix–matrix product per layer and gate set instead of one
    /// matrix–vector product per stream); rows that skip do only what [`Self::step`] does for a skip.
    /// **Per row, the state, the plan and the FLOPs are exactly those of [`Self::step`]** with the
    /// same setting and input: the batched kernels keep the single path's bits.
    ///
    /// Allocates nothing.
    ///
    /// # Panics
    /// If `settings` and `states` differ in length or exceed [`FlexBatch::capacity`], `batch` was made
    /// by another model, a setting is out of range, a state was made by a model of another family, or
    /// an input is not `I` values long.
    ///
    /// [`RnnCell::step_batch`]: crate::rnn::cell::RnnCell::step_batch
    pub fn step_batch<'x, 'b>(
        &self,
        settings: &[Option<usize>],
        states: &mut [FlexState],
        input: impl Fn(usize) -> &'x [f32],
        batch: &'b mut FlexBatch,
    ) -> &'b [Option<StepPlan>] {
        let rows = settings.len();
        assert_eq!(states.len(), rows, "FlexibleModel::step_batch: one state per setting");
        assert!(rows <= batch.capacity, "FlexibleModel::step_batch: {rows} rows for a batch of {}", batch.capacity);
        // 1. Plan every row (opening SkipW windows) and carry switched states, as `step` does first.
        for ((setting, state), plan) in settings.iter().zip(states.iter_mut()).zip(&mut batch.plans) {
            *plan = setting.map(|setting| {
                let plan = self.plan(setting, state);
                if let (FlexibleModel::Switch(f), FamilyState::Switch { h, spare }, Knobs::Model { model }) =
                    (self, &mut state.family, self.settings()[setting].knobs)
                {
                    if let Some(Knobs::Model { model: from }) = state.previous.map(|p| self.settings()[p].knobs) {
                        if from != model {
                            f.bank.carry_state(from, model, h, spare);
                        }
                    }
                }
                plan
            });
        }
        // 2. The updating rows, group by group of shared weights, through the batched cells.
        batch.grouped[..rows].iter_mut().for_each(|g| *g = false);
        for lead in 0..rows {
            let (Some(setting), Some(plan)) = (settings[lead], batch.plans[lead]) else { continue };
            if batch.grouped[lead] || !plan.updates {
                continue;
            }
            let group = self.weight_group(setting);
            batch.members.clear();
            for (row, (setting, plan)) in settings.iter().zip(&batch.plans).enumerate().skip(lead) {
                let updates_with_group = |s: usize, p: &StepPlan| p.updates && self.weight_group(s) == group;
                let same = matches!((setting, plan), (Some(s), Some(p)) if updates_with_group(*s, p));
                if same && !batch.grouped[row] {
                    batch.grouped[row] = true;
                    batch.members.push(row);
                }
            }
            self.step_group(setting, states, &input, batch);
        }
        // 3. What follows the cell step (a Skip-RNN's gate, SkipW's position), or the skip itself.
        for ((setting, state), plan) in settings.iter().zip(states.iter_mut()).zip(&batch.plans) {
            let (Some(setting), Some(plan)) = (*setting, plan) else { continue };
            match (self, &mut state.family, self.settings()[setting].knobs) {
                (FlexibleModel::Thr(f), FamilyState::Thr(skip), Knobs::Thr { model, .. }) => {
                    if plan.updates {
                        f.models[model].update_gate(skip);
                    } else {
                        f.models[model].skip(skip);
                    }
                }
                (FlexibleModel::SkipW(f), FamilyState::SkipW(window), Knobs::SkipW { .. }) => {
                    f.model.advance(window, plan.updates);
                    state.pending_flops = 0;
                }
                _ => {}
            }
            state.previous = Some(setting);
        }
        &batch.plans[..rows]
    }

    /// Which weights setting `setting` updates with: settings of one group can share a batched
    /// product (the bank model or Skip-RNN; SkipW has one cell; a nested width its own slices).
    fn weight_group(&self, setting: usize) -> usize {
        match self.settings()[setting].knobs {
            Knobs::Model { model } | Knobs::Thr { model, .. } => model,
            Knobs::SkipW { .. } => 0,
            Knobs::Width { width } => width,
        }
    }

    /// Steps the rows of `batch.members` (all updating under weights of `setting`'s group) through
    /// the batched cell: packs their inputs and states, steps, unpacks the states.
    fn step_group<'x>(
        &self,
        setting: usize,
        states: &mut [FlexState],
        input: &impl Fn(usize) -> &'x [f32],
        batch: &mut FlexBatch,
    ) {
        let input_size = self.input_size();
        let knobs = self.settings()[setting].knobs;
        let state_len = match (self, knobs) {
            (FlexibleModel::Switch(f), Knobs::Model { model }) => f.bank.models()[model].state_len(),
            (FlexibleModel::Thr(f), _) => f.models[0].state_len(),
            (FlexibleModel::SkipW(f), _) => f.model.base.state_len(),
            (FlexibleModel::Nested(f), _) => f.model.state_len(),
            _ => unreachable!("settings match their family"),
        };
        let count = batch.members.len();
        let (inputs, packed) = (&mut batch.inputs[..count * input_size], &mut batch.states[..count * state_len]);
        for ((&row, x), packed) in
            batch.members.iter().zip(inputs.chunks_exact_mut(input_size)).zip(packed.chunks_exact_mut(state_len))
        {
            x.copy_from_slice(input(row));
            packed.copy_from_slice(&Self::flat_state(&mut states[row].family)[..state_len]);
        }
        match (self, knobs) {
            (FlexibleModel::Switch(f), Knobs::Model { model }) => {
                f.bank.models()[model].cell.step_batch(inputs, packed, &mut batch.cells)
            }
            (FlexibleModel::Thr(f), Knobs::Thr { model, .. }) => {
                f.models[model].base.cell.step_batch(inputs, packed, &mut batch.cells)
            }
            (FlexibleModel::SkipW(f), _) => f.model.base.cell.step_batch(inputs, packed, &mut batch.cells),
            (FlexibleModel::Nested(f), Knobs::Width { width }) => {
                f.model.step_batch(width, inputs, packed, &mut batch.cells)
            }
            _ => unreachable!("settings match their family"),
        }
        for (&row, packed) in batch.members.iter().zip(packed.chunks_exact(state_len)) {
            Self::flat_state(&mut states[row].family)[..state_len].copy_from_slice(packed);
        }
    }

    /// The flat cell state a step updates: the bank model's (first values of) `h`, the Skip-RNN's or
    /// SkipW's `h`, the nested model's full state.
    fn flat_state(family: &mut FamilyState) -> &mut [f32] {
        match family {
            FamilyState::Switch { h, .. } | FamilyState::Nested { h, .. } => h,
            FamilyState::Thr(skip) => &mut skip.h,
            FamilyState::SkipW(window) => &mut window.h,
        }
    }
}

/// The card's values at `thr`, interpolated linearly between the two neighbouring grid points
/// (`points` ascending in `thr`); a grid point's own values at its `thr`; `None` outside the grid or
/// without points. A value is `None` where either neighbour lacks it.
fn interpolate(points: &[MeasuredPoint], thr: f32) -> Option<MeasuredPoint> {
    if let Some(exact) = points.iter().find(|p| p.thr == thr) {
        return Some(*exact);
    }
    let upper = points.iter().position(|p| p.thr > thr)?;
    let (a, b) = (points.get(upper.checked_sub(1)?)?, &points[upper]);
    let t = (f64::from(thr) - f64::from(a.thr)) / (f64::from(b.thr) - f64::from(a.thr));
    let mix = |x: Option<f64>, y: Option<f64>| Some(x? + t * (y? - x?));
    Some(MeasuredPoint {
        thr,
        accuracy: mix(a.accuracy, b.accuracy),
        mse: mix(a.mse, b.mse),
        flops: mix(a.flops, b.flops),
    })
}

/// Mean FLOPs per step of a SkipW model that reads nothing (`K = 0`): one window gate per window of
/// `L` steps, `(2GL + L) / L` ([`SkipWClassifier::flops_window_gate`]).
fn gates_only_flops(model: &SkipWClassifier) -> f64 {
    model.flops_window_gate() as f64 / model.window().max(1) as f64
}

/// A Skip-RNN's card values at `thr`: as [`interpolate`], except that every `thr > 1` takes the values
/// of the grid's first point above 1 (with `thr` kept). The update gate `ũ` lies in `[0, 1]`, so any
/// threshold above 1 never updates: between 1 (which still updates when `ũ` reaches 1) and that point
/// (1.01 on the shipped cards) the behaviour jumps, and a straight line would promise updates that
/// never happen.
fn interpolate_thr(points: &[MeasuredPoint], thr: f32) -> Option<MeasuredPoint> {
    if thr > 1.0 {
        return points.iter().find(|p| p.thr > 1.0).map(|p| MeasuredPoint { thr, ..*p });
    }
    interpolate(points, thr)
}

/// Indices of the grid points `(thr, accuracy, mean FLOPs per step)` kept: the first, then every point
/// whose accuracy differs from the last kept one's or whose FLOPs differ by more than 1 %.
fn thin(points: &[(f32, f64, f64)]) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::new();
    for (index, &(_, accuracy, flops)) in points.iter().enumerate() {
        let same = kept.last().is_some_and(|&last| {
            let (_, a, f) = points[last];
            a == accuracy && (flops - f).abs() <= THIN_FLOPS_TOLERANCE * f.abs().max(1.0)
        });
        if !same {
            kept.push(index);
        }
    }
    kept
}

/// Small random models of every family and cell kind, for tests that compare paths bit for bit.
#[cfg(test)]
pub(crate) mod test_models {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::rnn::cell::{LayerWeights, RnnCell};
    use crate::rnn::model::{truncate_pad_map, RnnClassifier};
    use crate::rnn::nested::NestedReadout;

    /// Classes of every test model.
    pub(crate) const CLASSES: usize = 4;

    fn values(rng: &mut rand_pcg::Pcg64, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-bound..bound)).collect()
    }

    fn cell(rng: &mut rand_pcg::Pcg64, kind: CellKind, input: usize, hidden: usize, layers: usize) -> RnnCell {
        let rows = kind.gates() * hidden;
        let bound = 1.5 / (hidden as f32).sqrt();
        let cell = RnnCell::new(
            kind,
            input,
            hidden,
            values(rng, rows * input, bound),
            values(rng, rows * hidden, bound),
            values(rng, rows, bound),
            values(rng, rows, bound),
        )
        .unwrap();
        let upper = (1..layers)
            .map(|_| LayerWeights {
                weight_ih: values(rng, rows * hidden, bound),
                weight_hh: values(rng, rows * hidden, bound),
                bias_ih: values(rng, rows, bound),
                bias_hh: values(rng, rows, bound),
            })
            .collect();
        cell.with_upper_layers(upper).unwrap()
    }

    fn classifier(
        rng: &mut rand_pcg::Pcg64,
        name: &str,
        kind: CellKind,
        input: usize,
        hidden: usize,
        layers: usize,
    ) -> RnnClassifier {
        let cell = cell(rng, kind, input, hidden, layers);
        RnnClassifier {
            name: name.into(),
            cell,
            readout_weight: values(rng, CLASSES * hidden, 1.0),
            readout_bias: values(rng, CLASSES, 1.0),
        }
    }

    /// The families' names as [`FlexibleModel::family`] gives them, with a stacked bank besides.
    pub(crate) const FAMILIES: [&str; 5] = ["switch", "switch-stacked", "thr", "skipw", "nested"];

    /// A random model of `family` ([`FAMILIES`]) with `kind` cells reading `input` features: a bank of
    /// hidden sizes 6, 13 and 16 with truncate/pad maps (stacked: two 2-layer models of 8 and 11); two
    /// Skip-RNNs of 12 with thresholds 0, 0.3, 0.5, 0.7, 1.01; a SkipW of 10 with `L = 4` and the time
    /// input; a nested model of 16 with widths 4, 9, 16 (hidden sizes off multiples of 8 on purpose).
    pub(crate) fn random_model(family: &str, kind: CellKind, input: usize, seed: u64) -> FlexibleModel {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        match family {
            "switch" | "switch-stacked" => {
                let (hiddens, layers): (&[usize], usize) =
                    if family == "switch" { (&[6, 13, 16], 1) } else { (&[8, 11], 2) };
                let models: Vec<RnnClassifier> = hiddens
                    .iter()
                    .map(|&hidden| classifier(&mut rng, &format!("m{hidden}"), kind, input, hidden, layers))
                    .collect();
                let mut maps = Vec::new();
                for (from, &a) in hiddens.iter().enumerate() {
                    for (to, &b) in hiddens.iter().enumerate() {
                        if from != to {
                            maps.push((from, to, truncate_pad_map(kind, layers, a, b)));
                        }
                    }
                }
                FlexibleModel::from_bank(ModelBank::new(models, maps).unwrap(), None)
            }
            "thr" => {
                let models = (0..2)
                    .map(|index| {
                        let base = classifier(&mut rng, &format!("s{index}"), kind, input, 12, 1);
                        let gate = values(&mut rng, 12, 1.0);
                        SkipGruClassifier::new(base, gate, rng.random_range(-0.5..0.5))
                    })
                    .collect();
                let mut model = FlexibleModel::from_skip_models(models, None).unwrap();
                for name in ["s0@thr=0.3", "s0@thr=0.7", "s1@thr=0.3", "s1@thr=0.7"] {
                    model.add_setting(name).unwrap();
                }
                model
            }
            "skipw" => {
                let (hidden, window) = (10, 4);
                let base = classifier(&mut rng, "w", kind, input, hidden, 1);
                let gate = values(&mut rng, window * (hidden + 1), 1.0);
                let bias = values(&mut rng, window, 0.5);
                FlexibleModel::from_skipw(
                    SkipWClassifier::with_time_input(base, window, gate, bias, 20.0).unwrap(),
                    None,
                )
            }
            "nested" => {
                let hidden = 16;
                let cell = cell(&mut rng, kind, input, hidden, 1);
                let widths = vec![4, 9, 16];
                let readouts = widths
                    .iter()
                    .map(|&width| NestedReadout {
                        width,
                        weight: values(&mut rng, CLASSES * width, 1.0),
                        bias: values(&mut rng, CLASSES, 1.0),
                    })
                    .collect();
                FlexibleModel::from_nested(NestedGru::new("n", cell, widths, readouts).unwrap(), None)
            }
            other => panic!("no test family {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(thr: f32, accuracy: Option<f64>, flops: f64) -> MeasuredPoint {
        MeasuredPoint { thr, accuracy, mse: None, flops: Some(flops) }
    }

    #[test]
    fn interpolation_is_linear_between_neighbours_and_exact_at_grid_points() {
        let grid = [point(0.0, Some(0.9), 100.0), point(0.5, Some(0.8), 60.0), point(1.0, None, 20.0)];
        // A quarter of the way from 0.5 to 1: FLOPs 60 − 0.25·40 = 50; no accuracy (one side lacks it).
        let between = interpolate(&grid, 0.625).unwrap();
        assert_eq!((between.flops, between.accuracy), (Some(50.0), None));
        // Halfway from 0 to 0.5 (0.25 is exact in f32): accuracy 0.85, FLOPs 80.
        let low = interpolate(&grid, 0.25).unwrap();
        assert!((low.accuracy.unwrap() - 0.85).abs() < 1e-12 && low.flops == Some(80.0));
        assert_eq!(interpolate(&grid, 0.5), Some(grid[1]), "a grid point's own values");
        assert_eq!(interpolate(&grid, 1.0), Some(grid[2]));
        assert_eq!(interpolate(&grid, 1.5), None, "outside the grid");
        assert_eq!(interpolate(&[], 0.5), None);
    }

    #[test]
    fn thresholds_above_one_take_the_no_update_point_not_a_line_to_it() {
        // Updates every other step at 1, never above it: 1.005 is the 1.01 point, not halfway.
        let grid = [point(0.5, Some(0.9), 100.0), point(1.0, Some(0.6), 50.0), point(1.01, Some(0.1), 3.0)];
        let above = interpolate_thr(&grid, 1.005).unwrap();
        assert_eq!((above.thr, above.accuracy, above.flops), (1.005, Some(0.1), Some(3.0)));
        assert_eq!(interpolate_thr(&grid, 1.0), Some(grid[1]));
        let below = interpolate_thr(&grid, 0.75).unwrap();
        assert_eq!(below.flops, Some(75.0), "below 1 the line between neighbours stays");
        assert_eq!(interpolate_thr(&grid[..2], 1.005), None, "no point above 1: no values");
    }

    #[test]
    fn thinning_keeps_changes_of_accuracy_or_cost() {
        let points = [
            (0.0, 0.9, 100.0),
            (0.1, 0.9, 100.0),
            (0.5, 0.9, 95.0),
            (0.6, 0.3, 50.0),
            (0.7, 0.3, 49.9),
            (1.0, 0.2, 49.0),
            (1.01, 0.1, 3.0),
        ];
        assert_eq!(thin(&points), [0, 2, 3, 5, 6]);
        assert!(thin(&[]).is_empty());
    }

    /// The bits of everything a state carries forward (not the per-stream scratch, which the batched
    /// path does not use).
    fn state_bits(state: &FlexState) -> Vec<u32> {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let mut out = match state.family_state() {
            FamilyState::Switch { h, .. } | FamilyState::Nested { h, .. } => bits(h),
            FamilyState::Thr(skip) => [bits(&skip.h), bits(&[skip.u_tilde, skip.delta_u])].concat(),
            FamilyState::SkipW(window) => {
                let own = [window.position() as u32, window.processed_in_window() as u32, window.step_index() as u32];
                [bits(&window.h), bits(window.importance().unwrap_or(&[])), own.to_vec()].concat()
            }
        };
        out.push(state.previous_setting().map_or(u32::MAX, |s| s as u32));
        out
    }

    #[test]
    // Rows and steps index several parallel tables (lengths, settings, states, inputs).
    #[allow(clippy::needless_range_loop)]
    fn a_batched_step_gives_every_stream_the_bits_of_its_own_step_in_every_family_and_cell() {
        use rand::{Rng, SeedableRng};
        use test_models::{random_model, CLASSES, FAMILIES};
        let (rows, steps) = (11, 30);
        let mut checked = 0;
        for family in FAMILIES {
            for kind in CellKind::ALL {
                for input in [1, 3, 9] {
                    let model = random_model(family, kind, input, 7 + input as u64);
                    let n = model.settings().len();
                    let mut rng = rand_pcg::Pcg64::seed_from_u64(input as u64);
                    let inputs: Vec<f32> = (0..rows * steps * input).map(|_| rng.random_range(-2.0..2.0)).collect();
                    let x = |row: usize, t: usize| &inputs[(row * steps + t) * input..(row * steps + t + 1) * input];
                    // Each row its own length and its own settings, changing often (every family
                    // switches, skips and groups differently from row to row).
                    let lengths: Vec<usize> = (0..rows).map(|_| rng.random_range(0..=steps)).collect();
                    let settings: Vec<Vec<usize>> = (0..rows)
                        .map(|_| {
                            let mut current = rng.random_range(0..n);
                            (0..steps)
                                .map(|_| {
                                    if rng.random_bool(0.2) {
                                        current = rng.random_range(0..n);
                                    }
                                    current
                                })
                                .collect()
                        })
                        .collect();
                    let mut single: Vec<FlexState> = (0..rows).map(|_| model.new_state()).collect();
                    let mut batched: Vec<FlexState> = (0..rows).map(|_| model.new_state()).collect();
                    let mut batch = model.new_batch(rows + 2);
                    let mut row_settings = vec![None; rows];
                    let (mut updates, mut skips) = (0, 0);
                    for t in 0..steps {
                        let mut expected = vec![None; rows];
                        for row in 0..rows {
                            row_settings[row] = (t < lengths[row]).then_some(settings[row][t]);
                            if let Some(setting) = row_settings[row] {
                                let plan = model.plan(setting, &mut single[row]);
                                expected[row] =
                                    Some(model.step(setting, plan.updates.then(|| x(row, t)), &mut single[row]));
                            }
                        }
                        let plans = model.step_batch(&row_settings, &mut batched, |row| x(row, t), &mut batch);
                        assert_eq!(plans, &expected[..], "{family} {kind} I={input} step {t}: plans");
                        for plan in expected.iter().flatten() {
                            if plan.updates {
                                updates += 1;
                            } else {
                                skips += 1;
                            }
                        }
                        for row in 0..rows {
                            assert_eq!(
                                state_bits(&batched[row]),
                                state_bits(&single[row]),
                                "{family} {kind} I={input} step {t} row {row}"
                            );
                        }
                    }
                    for row in 0..rows {
                        let (mut a, mut b) = (vec![0.0f32; CLASSES], vec![0.0f32; CLASSES]);
                        model.logits(&mut single[row], &mut a);
                        model.logits(&mut batched[row], &mut b);
                        assert_eq!(a.map_bits(), b.map_bits(), "{family} {kind} I={input} row {row}: logits");
                    }
                    assert!(updates > 0, "{family} {kind} I={input}: some steps update");
                    if matches!(family, "thr" | "skipw") {
                        assert!(skips > 0, "{family} {kind} I={input}: some steps skip");
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, FAMILIES.len() * 2 * 3);
    }

    /// Bit patterns of a vector, for exact comparisons that a NaN or `-0.0` cannot fool.
    trait MapBits {
        fn map_bits(&self) -> Vec<u32>;
    }

    impl MapBits for Vec<f32> {
        fn map_bits(&self) -> Vec<u32> {
            self.iter().map(|v| v.to_bits()).collect()
        }
    }
}
