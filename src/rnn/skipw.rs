//! SkipW: a GRU (or LSTM) with a strict per-window budget of processed inputs.
//!
//! Source: Mayet, Lambert, Le Bolzer, Schnitzler, "SkipW: Resource adaptable RNN with strict upper
//! computational limit", ICLR 2021. The sequence is cut into windows of `L` consecutive steps. At the
//! first step of every window an importance vector is computed from the hidden state `s` at the
//! window's start (before that step's input is read) and from the time input `τ`:
//! ```text
//! ũ = σ(W_skip [s; τ] + b_skip)     W_skip [L, H + 1], b_skip [L], ũ ∈ [0, 1]^L
//! τ = t / T_s
//! ```
//! **Time input.** The paper's window gate reads the state and the time step (its `W_W` is
//! `(N + 1) × L`: the `N` state values plus one time value). Here `t` is the 0-based index in the
//! sequence of the window's first step (`0, L, 2L, …`) and `T_s` is the model's `time_scale` (stored in
//! the weights file; the trainer writes the padded length of its training sequences, e.g. 64 for
//! digits, so `τ ∈ [0, 1)` on training data and `τ ≥ 1` only past that length). The paper's text as
//! we could retrieve it names the time step but not a normalisation; `t / T_s` keeps the input on the
//! scale of the state's values. Models written before the time input (files whose `skip.weight` is
//! `[L, H]`) have no time column and compute `ũ = σ(W_skip s + b_skip)` exactly as before.
//! Of the window's `L` steps at most `K` are processed: those among the top-`K` entries of `ũ` (ties
//! broken by the lower index) whose importance is at least `thr`. A processed step is an ordinary GRU
//! step ([`RnnCell::step`]); a skipped step copies the state (`h_t = h_{t−1}`), reads no input and costs
//! nothing beyond the window's gate. `K` (`0..=L`) and `thr` are run-time knobs.
//!
//! **LSTM cells.** With an LSTM [`RnnCell`] the state is `(h, c)` (stored flat as
//! `[h; c]`, see [`crate::rnn::cell`]), a processed step is an ordinary LSTM step, a skipped step copies
//! both, and the window gate reads the cell state at the window's start, `ũ = σ(W_skip [c; τ] + b_skip)` —
//! as Campos' Skip-LSTM update gate reads `c` (our choice for SkipW; `W_skip` keeps its `[L, H + 1]`
//! shape). The readout reads `h`. A processed step then costs the LSTM step `8H(I + H) + 21H`.
//!
//! # Knobs changed in the middle of a window
//! A policy may change `K` and `thr` before any step. The gate is **not** recomputed (it was computed
//! from the state at the window's start); the step at position `p` of the window is processed if and
//! only if, with the knobs `(K_p, thr_p)` in force for that step,
//! 1. `p` is among the top-`K_p` entries of the stored `ũ` (rank by value, ties to the lower index),
//! 2. `ũ_p ≥ thr_p`, and
//! 3. fewer than `K_p` steps of this window have been processed already (steps processed earlier in
//!    the window, under any knobs, count towards the budget).
//!
//! With knobs constant over a window, (3) never binds and this is exactly the paper's selection. The
//! invariant guaranteed in every case — and checked by the property tests — is:
//!
//! > **for every processed step `p`, the number of steps of its window processed up to and including
//! > `p` is at most `K_p`.**
//!
//! Consequences: a window processes at most `max_p K_p` steps (the largest `K` in force at any of its
//! steps), at most the `K` in force at its last processed step, and exactly at most `K` when `K` is
//! constant over the window. Lowering `K` mid-window cannot undo steps already processed, so no rule
//! can bound a window by a `K` that arrives after its budget was spent; lowering it stops any further
//! processing in that window once the count has reached the new `K`.
//!
//! `K > L` acts as `K = L`. A `thr` of 0 or below admits every selected step (ũ ≥ 0); a `thr` above 1
//! admits none; a NaN `thr` admits none (every comparison with NaN is false).
//!
//! # Cost
//! FLOPs (a multiply–add counts 2, as in [`CellKind::flops_per_step`](crate::rnn::cell::CellKind::flops_per_step)): the window gate costs
//! `2(H + 1)L + L` (the matrix–vector product with bias over the `H + 1` inputs `[s; τ]`, `2(H + 1)` per
//! row, and `L` sigmoids; the one division forming `τ` per window is not counted, like the counter of
//! steps), or `2HL + L` for a model without the time input, once per window, at
//! its first step, whatever the knobs (also for `K = 0`, which keeps the accounting independent of the
//! knobs; the top-`K` ranking is comparisons, not counted). A processed step costs the GRU step
//! `6H(I + H) + 16H`; a skipped step costs 0. Parameter bytes: `4 · (3H(I + H) + 6H + CH + C + L(H + 1) + L)`
//! (`LH` instead of `L(H + 1)` without the time input; `T_s` is a constant, not counted).
//!
//! # Files
//! A SkipW folder (`<name>.safetensors` with `cell.*`, `readout.*`, `skip.weight`, `skip.bias`,
//! `skip.time_scale`, and `card.json`) is read and written by [`crate::rnn::io`]
//! ([`load_skipw`](crate::rnn::io::load_skipw), [`skipw_tensors`](crate::rnn::io::skipw_tensors)).

use super::cell::{CellScratch, RnnCell};
use super::kernels::{matvec_bias, matvec_bias_strided, sigmoid, KernelIsa};
use super::model::RnnClassifier;

/// Errors in the shapes of a [`SkipWClassifier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkipWError {
    /// The window length is 0.
    #[error("SkipW window length L must be at least 1")]
    EmptyWindow,
    /// The time input's scale is not a finite number > 0 (the value found, as text).
    #[error("SkipW time scale must be a finite number > 0, found {0}")]
    TimeScale(String),
    /// The skip gate's tensors do not match `L` and `H`.
    #[error("SkipW `{tensor}`: expected {expected} values, found {found}")]
    GateShape {
        /// Tensor name.
        tensor: &'static str,
        /// Expected number of values.
        expected: usize,
        /// Found number of values.
        found: usize,
    },
}

/// The run-time knobs of SkipW, chosen before each step (see the module doc for mid-window changes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipWKnobs {
    /// Budget: at most `k` processed steps per window (`0..=L`; larger acts as `L`).
    pub k: usize,
    /// Threshold on the importance `ũ ∈ [0, 1]`: a selected step is processed only if `ũ ≥ thr`.
    pub thr: f32,
}

/// The state of one sequence run by a [`SkipWClassifier`]: owned by the caller, allocated once.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipWState {
    /// The cell's flat state: `h` (`H` values) for a GRU, `[h; c]` (`2H` values) for an LSTM.
    pub h: Vec<f32>,
    /// Importance `ũ` of the current window (`L` values; valid once the window's gate has run).
    importance: Vec<f32>,
    /// Position in the current window of the next step, `0..L`.
    position: usize,
    /// Steps processed so far in the current window.
    processed: usize,
    /// Whether `importance` belongs to the current window.
    gate_ready: bool,
    /// Index in the sequence of the next step (`t`, from 0).
    step: usize,
}

impl SkipWState {
    /// A zero state at the start of a window, for a model of state length `state_len` (`H` for a GRU,
    /// `2H` for an LSTM) and window `window`.
    pub fn new(state_len: usize, window: usize) -> SkipWState {
        SkipWState {
            h: vec![0.0; state_len],
            importance: vec![0.0; window],
            position: 0,
            processed: 0,
            gate_ready: false,
            step: 0,
        }
    }

    /// Back to the zero state at the start of a window (a new sequence). Allocates nothing.
    pub fn reset(&mut self) {
        self.h.iter_mut().for_each(|v| *v = 0.0);
        self.importance.iter_mut().for_each(|v| *v = 0.0);
        self.position = 0;
        self.processed = 0;
        self.gate_ready = false;
        self.step = 0;
    }

    /// Index in the sequence of the next step (`t`, from 0; the time input of a window opened now).
    pub fn step_index(&self) -> usize {
        self.step
    }

    /// The importance vector `ũ` of the current window (`L` values), once its gate has run.
    pub fn importance(&self) -> Option<&[f32]> {
        self.gate_ready.then_some(&self.importance[..])
    }

    /// Position in the current window of the next step, `0..L`.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Steps processed so far in the current window.
    pub fn processed_in_window(&self) -> usize {
        self.processed
    }
}

/// What one [`SkipWClassifier::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipWStep {
    /// Whether the input was read and the cell step run (else the state was copied).
    pub processed: bool,
    /// Whether this step opened a window (and so ran the gate).
    pub window_start: bool,
    /// Position of this step in its window, `0..L`.
    pub position: usize,
    /// Steps of this window processed up to and including this one.
    pub processed_in_window: usize,
    /// FLOPs of this step: the gate's when it opened a window, plus the cell step's when processed.
    pub flops: u64,
}

/// What [`SkipWClassifier::classify`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipWOutcome {
    /// Predicted class.
    pub prediction: u32,
    /// The readout of the final state (`C` logits; one value for a regression model).
    pub outputs: Vec<f32>,
    /// Steps processed (cell steps run) over the sequence.
    pub processed_steps: usize,
    /// FLOPs of the steps and gates (the readout, [`RnnClassifier::flops_readout`], not included).
    pub flops: u64,
}

/// A SkipW classifier: a GRU or LSTM, a window gate `ũ = σ(W_skip s + b_skip)` (`s` = `h` for a GRU,
/// `c` for an LSTM) and a linear readout of the final `h`. Weights are immutable and shared; the
/// state is a [`SkipWState`].
#[derive(Debug, Clone, PartialEq)]
pub struct SkipWClassifier {
    /// The cell and its readout (the readout is applied to the final `h`).
    pub base: RnnClassifier,
    window: usize,
    /// `W_skip`, row-major `[L, G]` with `G = H + 1` (last column: the time input's weight) or `G = H`
    /// for a model without time input.
    gate_weight: Vec<f32>,
    /// `T_s` of the time input `τ = t / T_s`; `None` for a model without time input.
    time_scale: Option<f32>,
    /// `b_skip`, `[L]`.
    gate_bias: Vec<f32>,
    isa: KernelIsa,
}

impl SkipWClassifier {
    /// Builds a classifier from a classifier (GRU or LSTM) and a window gate **without** time input
    /// (`gate_weight` `[L, H]` row-major, `gate_bias` `[L]`, `L = window`; the older gate, see
    /// [`Self::with_time_input`] for the paper's).
    ///
    /// # Errors
    /// [`SkipWError`] if `window` is 0 or a gate tensor has the wrong length.
    pub fn new(
        base: RnnClassifier,
        window: usize,
        gate_weight: Vec<f32>,
        gate_bias: Vec<f32>,
    ) -> Result<SkipWClassifier, SkipWError> {
        if window == 0 {
            return Err(SkipWError::EmptyWindow);
        }
        let hidden = base.hidden_size();
        if gate_weight.len() != window * hidden {
            return Err(SkipWError::GateShape {
                tensor: "skip.weight",
                expected: window * hidden,
                found: gate_weight.len(),
            });
        }
        if gate_bias.len() != window {
            return Err(SkipWError::GateShape { tensor: "skip.bias", expected: window, found: gate_bias.len() });
        }
        Ok(SkipWClassifier { base, window, gate_weight, gate_bias, time_scale: None, isa: KernelIsa::detect() })
    }

    /// Builds a classifier whose window gate reads the state and the time input `τ = t / time_scale`
    /// (module doc): `gate_weight` `[L, H + 1]` row-major (last column: the time weight), `gate_bias`
    /// `[L]`.
    ///
    /// # Errors
    /// [`SkipWError`] if `window` is 0, a gate tensor has the wrong length or `time_scale` is not a
    /// finite number > 0.
    pub fn with_time_input(
        base: RnnClassifier,
        window: usize,
        gate_weight: Vec<f32>,
        gate_bias: Vec<f32>,
        time_scale: f32,
    ) -> Result<SkipWClassifier, SkipWError> {
        if window == 0 {
            return Err(SkipWError::EmptyWindow);
        }
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(SkipWError::TimeScale(time_scale.to_string()));
        }
        let columns = base.hidden_size() + 1;
        if gate_weight.len() != window * columns {
            return Err(SkipWError::GateShape {
                tensor: "skip.weight",
                expected: window * columns,
                found: gate_weight.len(),
            });
        }
        if gate_bias.len() != window {
            return Err(SkipWError::GateShape { tensor: "skip.bias", expected: window, found: gate_bias.len() });
        }
        Ok(SkipWClassifier {
            base,
            window,
            gate_weight,
            gate_bias,
            time_scale: Some(time_scale),
            isa: KernelIsa::detect(),
        })
    }

    /// Restricts the kernels to the baseline instruction set (for tests); results are bit-identical.
    pub fn with_isa(mut self, isa: KernelIsa) -> SkipWClassifier {
        self.base.cell = self.base.cell.with_isa(isa);
        self.isa = isa;
        self
    }

    /// Window length `L`.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.base.hidden_size()
    }

    /// The recurrent cell (GRU or LSTM).
    pub fn cell(&self) -> &RnnCell {
        &self.base.cell
    }

    /// The gate tensors: `W_skip` row-major `[L, G]` (`G` = [`Self::gate_columns`]: `H + 1` with the
    /// time input, whose weight is the last column; `H` without) and `b_skip` `[L]`.
    pub fn gate(&self) -> (&[f32], &[f32]) {
        (&self.gate_weight, &self.gate_bias)
    }

    /// Inputs of the window gate: `H + 1` (state and time) or `H` (a model without time input).
    pub fn gate_columns(&self) -> usize {
        self.hidden_size() + usize::from(self.time_scale.is_some())
    }

    /// `T_s` of the time input `τ = t / T_s`, or `None` for a model without time input.
    pub fn time_scale(&self) -> Option<f32> {
        self.time_scale
    }

    /// FLOPs of one window gate: `2GL + L` with `G` = [`Self::gate_columns`] (`2(H + 1)L + L`).
    pub fn flops_window_gate(&self) -> u64 {
        (2 * self.gate_columns() * self.window + self.window) as u64
    }

    /// FLOPs of one processed step (the cell step, [`RnnCell::flops_per_step`]).
    pub fn flops_per_processed_step(&self) -> u64 {
        self.base.cell.flops_per_step()
    }

    /// Bytes of all parameters as `f32`: the classifier's plus `4 (LG + L)` (`G` = [`Self::gate_columns`]).
    pub fn param_bytes(&self) -> u64 {
        self.base.param_bytes() + 4 * (self.gate_weight.len() + self.gate_bias.len()) as u64
    }

    /// A fresh zero state for this model.
    pub fn new_state(&self) -> SkipWState {
        SkipWState::new(self.base.state_len(), self.window)
    }

    /// Writes `ũ = σ(W_skip [s; τ] + b_skip)` for the flat state `state` (`h` for a GRU; `[h; c]` for
    /// an LSTM, of which the gate reads `c`) of a window whose first step has index `t` in the
    /// sequence (`τ = t / T_s`; ignored by a model without time input) into `out` (`L` values).
    /// Allocates nothing.
    pub fn importance_into(&self, state: &[f32], t: usize, out: &mut [f32]) {
        let gate_input = self.base.cell.gate_state(state);
        match self.time_scale {
            None => matvec_bias(self.isa, &self.gate_weight, gate_input, &self.gate_bias, out),
            Some(scale) => {
                let columns = gate_input.len() + 1;
                matvec_bias_strided(self.isa, &self.gate_weight, columns, gate_input, &self.gate_bias, out);
                let tau = t as f32 / scale;
                for (o, row) in out.iter_mut().zip(self.gate_weight.chunks_exact(columns)) {
                    *o += row[columns - 1] * tau;
                }
            }
        }
        out.iter_mut().for_each(|v| *v = sigmoid(*v));
    }

    /// Runs the window gate if `state` is at a window's start (and its gate has not run yet) and returns
    /// its FLOPs ([`Self::flops_window_gate`]), else does nothing and returns 0. Lets a caller decide
    /// before the input is needed whether the next step will be processed ([`Self::will_process`]); a
    /// following [`Self::step_with`] then finds the window open, does not run the gate again and reports
    /// `window_start: false` and no gate FLOPs (the caller already counted them). Allocates nothing.
    pub fn open_window(&self, state: &mut SkipWState) -> u64 {
        if state.gate_ready {
            return 0;
        }
        let SkipWState { h, importance, step, .. } = state;
        self.importance_into(h, *step, importance);
        state.gate_ready = true;
        state.processed = 0;
        self.flops_window_gate()
    }

    /// Whether the next step will be processed under `knobs` (the rule of the module doc), or `None`
    /// when the window's gate has not run yet (call [`Self::open_window`] first). Changes nothing.
    pub fn will_process(&self, knobs: SkipWKnobs, state: &SkipWState) -> Option<bool> {
        state.gate_ready.then(|| selected(&state.importance, state.position, knobs, state.processed))
    }

    /// One step with input `x` (`I` values); see [`SkipWClassifier::step_with`].
    ///
    /// # Panics
    /// As [`SkipWClassifier::step_with`].
    #[inline]
    pub fn step(&self, x: &[f32], knobs: SkipWKnobs, state: &mut SkipWState, scratch: &mut CellScratch) -> SkipWStep {
        self.step_with(knobs, state, scratch, || x)
    }

    /// One step under `knobs`: opens a window (runs the gate) if the state is at a window's start,
    /// decides by the rule of the module doc whether the step is processed, and if so calls `input` for
    /// the step's `I` values and runs the cell step; otherwise the state is kept and `input` is never
    /// called (an upstream feature extractor need not run). Advances the position in the window.
    /// Allocates nothing.
    ///
    /// # Panics
    /// If `state` or `scratch` was made for another model size, or `input` returns `≠ I` values.
    #[inline]
    pub fn step_with<'x>(
        &self,
        knobs: SkipWKnobs,
        state: &mut SkipWState,
        scratch: &mut CellScratch,
        input: impl FnOnce() -> &'x [f32],
    ) -> SkipWStep {
        assert_eq!(state.importance.len(), self.window, "SkipW step: state made for another window length");
        let window_start = !state.gate_ready;
        let mut flops = 0;
        if window_start {
            debug_assert_eq!(state.position, 0);
            let SkipWState { h, importance, step, .. } = state;
            self.importance_into(h, *step, importance);
            state.gate_ready = true;
            state.processed = 0;
            flops += self.flops_window_gate();
        }
        let position = state.position;
        let processed = selected(&state.importance, position, knobs, state.processed);
        if processed {
            self.base.cell.step(input(), &mut state.h, scratch);
            flops += self.flops_per_processed_step();
        }
        let processed_in_window = self.advance(state, processed);
        SkipWStep { processed, window_start, position, processed_in_window, flops }
    }

    /// The bookkeeping that ends a step whose window is open ([`Self::open_window`]) and whose cell
    /// step, if `processed`, the caller has already run on `state.h` (a batched step,
    /// [`crate::rnn::cell::RnnCell::step_batch`]): counts the processed step and moves to the next
    /// position, closing the window after its `L`-th step. [`Self::step_with`] ends with this. Returns
    /// the steps of the window processed so far, this one included. Allocates nothing.
    ///
    /// # Panics
    /// If the window is not open (no [`Self::open_window`] since the last window ended).
    pub fn advance(&self, state: &mut SkipWState, processed: bool) -> usize {
        assert!(state.gate_ready, "SkipW advance: the window was not opened");
        if processed {
            state.processed += 1;
        }
        let processed_in_window = state.processed;
        state.step += 1;
        state.position += 1;
        if state.position == self.window {
            state.position = 0;
            state.processed = 0;
            state.gate_ready = false;
        }
        processed_in_window
    }

    /// Runs a whole sequence (`steps × I` values) from a zero state with constant knobs and returns the
    /// prediction, the processed steps and the FLOPs. Allocates its state; meant for evaluation.
    pub fn classify(&self, sequence: &[f32], k: usize, thr: f32) -> SkipWOutcome {
        let mut state = self.new_state();
        let mut scratch = CellScratch::new(self.hidden_size());
        let knobs = SkipWKnobs { k, thr };
        let (mut processed_steps, mut flops) = (0, 0);
        for x in sequence.chunks_exact(self.base.cell.input_size()) {
            let step = self.step(x, knobs, &mut state, &mut scratch);
            processed_steps += usize::from(step.processed);
            flops += step.flops;
        }
        let mut outputs = vec![0.0; self.base.classes()];
        let prediction = self.base.predict(&state.h, &mut outputs);
        SkipWOutcome { prediction, outputs, processed_steps, flops }
    }
}

/// Whether window position `position` is processed under `knobs`, given the window's importance and
/// the steps already processed in it (rules 1–3 of the module doc). Top-`K` rank: the number of
/// entries strictly greater, plus equal entries at a lower index. Allocates nothing; `O(L)`.
pub fn selected(importance: &[f32], position: usize, knobs: SkipWKnobs, already_processed: usize) -> bool {
    let k = knobs.k.min(importance.len());
    if already_processed >= k {
        return false;
    }
    let value = importance[position];
    // False for a NaN threshold: such a knob admits nothing.
    let admitted = value >= knobs.thr;
    if !admitted {
        return false;
    }
    let rank = importance.iter().enumerate().filter(|&(i, &v)| v > value || (v == value && i < position)).count();
    rank < k
}

/// The top-`K` mask of one window (`true` for the `min(K, L)` largest entries, ties to the lower
/// index), written into `out`. Used by training; the same ranking as [`selected`].
pub fn top_k_mask(importance: &[f32], k: usize, out: &mut [bool]) {
    let k = k.min(importance.len());
    for (position, o) in out.iter_mut().enumerate() {
        let value = importance[position];
        let rank = importance.iter().enumerate().filter(|&(i, &v)| v > value || (v == value && i < position)).count();
        *o = rank < k;
    }
}

/// Accuracy, mean processed steps per sequence and mean FLOPs per step of `model` on sequences
/// `(values, label)` at constant knobs.
pub fn evaluate<'a>(
    model: &SkipWClassifier,
    sequences: impl IntoIterator<Item = (&'a [f32], u32)>,
    k: usize,
    thr: f32,
) -> SkipWEvaluation {
    let (mut count, mut correct, mut processed, mut flops, mut steps) = (0usize, 0usize, 0usize, 0u64, 0usize);
    let input = model.base.cell.input_size();
    for (sequence, label) in sequences {
        let outcome = model.classify(sequence, k, thr);
        count += 1;
        correct += usize::from(outcome.prediction == label);
        processed += outcome.processed_steps;
        flops += outcome.flops;
        steps += sequence.len() / input;
    }
    SkipWEvaluation {
        accuracy: correct as f64 / count.max(1) as f64,
        mean_processed_steps: processed as f64 / count.max(1) as f64,
        mean_flops_per_step: flops as f64 / steps.max(1) as f64,
    }
}

/// What [`evaluate`] measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipWEvaluation {
    /// Share of sequences classified correctly.
    pub accuracy: f64,
    /// Mean number of processed steps per sequence.
    pub mean_processed_steps: f64,
    /// Mean FLOPs per step (gates and processed steps; readout excluded).
    pub mean_flops_per_step: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::cell::CellKind;
    use crate::rnn::io::{decode_skipw_cell, encode_tensors, skipw_tensors};
    use std::path::Path;

    fn tiny(window: usize, gate_bias: Vec<f32>) -> SkipWClassifier {
        let hidden = 2;
        let cell =
            RnnCell::gru(1, hidden, vec![0.5; 3 * hidden], vec![0.1; 3 * hidden * hidden], vec![0.0; 6], vec![0.0; 6])
                .unwrap();
        let base = RnnClassifier {
            name: "t".into(),
            cell,
            readout_weight: vec![1.0, -1.0, -1.0, 1.0],
            readout_bias: vec![0.0; 2],
        };
        SkipWClassifier::new(base, window, vec![0.0; window * hidden], gate_bias).unwrap()
    }

    #[test]
    fn flops_and_bytes_by_hand() {
        // H = 2, I = 1, C = 2, L = 4: gate 2·2·4 + 4 = 20; GRU step 6·2·(1+2) + 16·2 = 68;
        // parameters 3·2·3 + 12 (GRU) + 4 + 2 (readout) + 8 + 4 (gate) = 48 → 192 bytes.
        let model = tiny(4, vec![0.0; 4]);
        assert_eq!(model.flops_window_gate(), 20);
        assert_eq!(model.flops_per_processed_step(), 68);
        assert_eq!(model.param_bytes(), 192);
        // K = 2, thr = 0 over 8 steps: 2 windows × (20 + 2 × 68) = 312 FLOPs, 4 processed steps.
        let outcome = model.classify(&[0.5; 8], 2, 0.0);
        assert_eq!((outcome.processed_steps, outcome.flops), (4, 312));
        // K = 0: the gates only.
        assert_eq!(model.classify(&[0.5; 8], 0, 0.0).flops, 40);
        // A partial last window still pays its gate: 9 steps = 3 windows.
        assert_eq!(model.classify(&[0.5; 9], 1, 0.0).flops, 3 * 20 + 3 * 68);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        // Gate weights 0: ũ = σ(b). Positions 1, 2, 3 tie at σ(1); position 0 lowest.
        let model = tiny(4, vec![-1.0, 1.0, 1.0, 1.0]);
        let mut state = model.new_state();
        let mut scratch = CellScratch::new(2);
        let knobs = SkipWKnobs { k: 2, thr: 0.0 };
        let pattern: Vec<bool> =
            (0..4).map(|_| model.step(&[1.0], knobs, &mut state, &mut scratch).processed).collect();
        assert_eq!(pattern, [false, true, true, false]);
        let mut mask = [false; 4];
        top_k_mask(&[0.5, 0.7, 0.7, 0.7], 2, &mut mask);
        assert_eq!(mask, [false, true, true, false]);
        top_k_mask(&[0.5, 0.7, 0.7, 0.7], 9, &mut mask);
        assert_eq!(mask, [true; 4]);
    }

    #[test]
    fn threshold_filters_the_top_k() {
        let model = tiny(4, vec![-2.0, 2.0, 0.0, 1.0]); // ũ ≈ 0.12, 0.88, 0.5, 0.73
        let run = |k, thr| {
            let mut state = model.new_state();
            let mut scratch = CellScratch::new(2);
            (0..4)
                .map(|_| model.step(&[1.0], SkipWKnobs { k, thr }, &mut state, &mut scratch).processed)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3, 0.0), [false, true, true, true]);
        assert_eq!(run(3, 0.6), [false, true, false, true]);
        assert_eq!(run(4, 0.5), [false, true, true, true]);
        assert_eq!(run(4, 1.5), [false; 4]);
        assert_eq!(run(4, f32::NAN), [false; 4]);
    }

    #[test]
    fn lowering_k_mid_window_stops_processing_and_raising_it_reselects() {
        let model = tiny(4, vec![3.0, 2.0, 1.0, 0.0]); // ranks 0, 1, 2, 3
        let mut state = model.new_state();
        let mut scratch = CellScratch::new(2);
        let step = |k, state: &mut SkipWState, scratch: &mut CellScratch| {
            model.step(&[1.0], SkipWKnobs { k, thr: 0.0 }, state, scratch)
        };
        // K = 4: steps 0 and 1 processed; then K = 2: the budget is spent, nothing more.
        assert!(step(4, &mut state, &mut scratch).processed);
        assert!(step(4, &mut state, &mut scratch).processed);
        assert!(!step(2, &mut state, &mut scratch).processed);
        assert!(!step(2, &mut state, &mut scratch).processed);
        // Next window, K = 1: step 0 processed; K = 3 for step 2 (rank 2 < 3, 1 < 3 processed): yes.
        assert_eq!(step(1, &mut state, &mut scratch).processed_in_window, 1);
        assert!(!step(1, &mut state, &mut scratch).processed);
        let third = step(3, &mut state, &mut scratch);
        assert!(third.processed && third.processed_in_window == 2);
        assert!(!step(3, &mut state, &mut scratch).processed, "rank 3 is not in the top 3");
    }

    /// A random model: input `I`, hidden `H`, window `L`, 3 classes; gate weights large enough that
    /// `ũ` spreads over `[0, 1]`; with `tie_rows`, the gate's rows come in equal pairs so that `ũ` has
    /// exact ties.
    fn random_model(
        rng: &mut rand_pcg::Pcg64,
        input: usize,
        hidden: usize,
        window: usize,
        tie_rows: bool,
    ) -> SkipWClassifier {
        use rand::Rng;
        let mut v = |n: usize, scale: f32| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let cell = RnnCell::gru(
            input,
            hidden,
            v(3 * hidden * input, 1.0),
            v(3 * hidden * hidden, 0.7),
            v(3 * hidden, 0.5),
            v(3 * hidden, 0.5),
        )
        .unwrap();
        let base =
            RnnClassifier { name: "r".into(), cell, readout_weight: v(3 * hidden, 1.0), readout_bias: v(3, 0.1) };
        let mut gate_weight = v(window * hidden, 3.0);
        let mut gate_bias = v(window, 1.0);
        if tie_rows {
            for row in (1..window).step_by(2) {
                let (before, after) = gate_weight.split_at_mut(row * hidden);
                after[..hidden].copy_from_slice(&before[(row - 1) * hidden..]);
                gate_bias[row] = gate_bias[row - 1];
            }
        }
        SkipWClassifier::new(base, window, gate_weight, gate_bias).unwrap()
    }

    /// The paper's selection for one window at constant knobs, by sorting (an algorithm independent of
    /// [`selected`]'s ranks): indices sorted by importance descending, ties by index; the first `K`;
    /// those with `ũ ≥ thr`.
    fn reference_mask(importance: &[f32], k: usize, thr: f32) -> Vec<bool> {
        let mut order: Vec<usize> = (0..importance.len()).collect();
        order.sort_by(|&a, &b| importance[b].partial_cmp(&importance[a]).unwrap().then(a.cmp(&b)));
        let mut mask = vec![false; importance.len()];
        for &i in order.iter().take(k) {
            mask[i] = importance[i] >= thr;
        }
        mask
    }

    #[test]
    fn property_no_window_exceeds_its_budget_under_random_knob_schedules() {
        use rand::{Rng, SeedableRng};
        let thresholds = [0.0f32, 0.2, 0.5, 0.5, 0.8, 1.0, 1.5, -0.1];
        let mut windows_checked = 0usize;
        let mut lowered_after_spending = 0usize;
        for seed in 0..1000u64 {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let (input, hidden, window) = (rng.random_range(1..4), rng.random_range(1..12), rng.random_range(1..10));
            let model = random_model(&mut rng, input, hidden, window, seed % 3 == 0);
            let steps = rng.random_range(1..6 * window + 3);
            let xs: Vec<f32> = (0..steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut state = model.new_state();
            let mut scratch = CellScratch::new(hidden);
            let mut knobs = SkipWKnobs { k: rng.random_range(0..=window + 1), thr: thresholds[rng.random_range(0..8)] };
            // Per window: K values in force, processed count, whether knobs changed.
            let (mut max_k, mut count, mut changed, mut mask) = (0usize, 0usize, false, Vec::new());
            let mut h_plain = vec![0.0f32; hidden];
            for (t, x) in xs.chunks_exact(input).enumerate() {
                if rng.random_bool(0.3) {
                    knobs.k = rng.random_range(0..=window + 1);
                    changed = true;
                }
                if rng.random_bool(0.2) {
                    knobs.thr = thresholds[rng.random_range(0..8)];
                    changed = true;
                }
                let position = t % window;
                if position == 0 {
                    (max_k, count, changed) = (0, 0, false);
                    let mut importance = vec![0.0; window];
                    model.importance_into(&state.h, t, &mut importance);
                    mask = reference_mask(&importance, knobs.k, knobs.thr);
                }
                max_k = max_k.max(knobs.k.min(window));
                let before = state.h.clone();
                let spent = count;
                let step = model.step(x, knobs, &mut state, &mut scratch);
                assert_eq!(step.position, position);
                assert_eq!(step.window_start, position == 0);
                // The guaranteed invariant, and its consequence for the window so far.
                if step.processed {
                    count += 1;
                    assert!(count <= knobs.k, "seed {seed} t {t}: processed #{count} of window under K = {}", knobs.k);
                    h_plain.copy_from_slice(&before);
                    model.cell().step(x, &mut h_plain, &mut scratch);
                    assert_eq!(state.h, h_plain, "seed {seed} t {t}: a processed step is the GRU step");
                } else {
                    assert_eq!(state.h, before, "seed {seed} t {t}: a skipped step copies the state");
                }
                assert_eq!(step.processed_in_window, count);
                assert!(count <= max_k && count <= window, "seed {seed} t {t}");
                let expected_flops = if position == 0 { model.flops_window_gate() } else { 0 }
                    + if step.processed { model.flops_per_processed_step() } else { 0 };
                assert_eq!(step.flops, expected_flops);
                if !changed {
                    assert_eq!(
                        step.processed, mask[position],
                        "seed {seed} t {t}: constant knobs give the paper's selection"
                    );
                } else if knobs.k < spent {
                    // K lowered below the steps already processed in this window: nothing more runs.
                    assert!(!step.processed);
                    lowered_after_spending += 1;
                }
                if position + 1 == window || t + 1 == steps {
                    windows_checked += 1;
                }
            }
        }
        assert!(windows_checked > 3000, "{windows_checked}");
        assert!(
            lowered_after_spending > 50,
            "schedules should often lower K below the spent budget: {lowered_after_spending}"
        );
    }

    #[test]
    fn full_budget_and_zero_threshold_is_the_plain_gru_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        for seed in 0..20u64 {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let (input, hidden, window) = (rng.random_range(1..4), rng.random_range(1..40), rng.random_range(1..10));
            let model = random_model(&mut rng, input, hidden, window, false);
            let xs: Vec<f32> = (0..50 * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut state = model.new_state();
            let mut h = vec![0.0f32; hidden];
            let mut scratch = CellScratch::new(hidden);
            for x in xs.chunks_exact(input) {
                assert!(model.step(x, SkipWKnobs { k: window, thr: 0.0 }, &mut state, &mut scratch).processed);
                model.cell().step(x, &mut h, &mut scratch);
                assert_eq!(state.h, h);
            }
            let plain = model.base.classify(&xs);
            let outcome = model.classify(&xs, window, 0.0);
            assert_eq!((outcome.prediction, outcome.processed_steps), (plain, 50));
        }
    }

    #[test]
    fn zero_budget_processes_nothing_and_never_reads_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let model = random_model(&mut rng, 2, 9, 5, false);
        let mut state = model.new_state();
        let mut scratch = CellScratch::new(9);
        for t in 0..23 {
            let thr = [0.0, 0.5, -1.0][t % 3];
            let step = model.step_with(SkipWKnobs { k: 0, thr }, &mut state, &mut scratch, || panic!("input read"));
            assert!(!step.processed);
        }
        assert_eq!(state.h, vec![0.0; 9], "the initial state");
        let xs: Vec<f32> = (0..40).map(|_| rng.random_range(-1.0..1.0)).collect();
        assert_eq!(model.classify(&xs, 0, 0.0).processed_steps, 0);
    }

    #[test]
    fn selection_is_deterministic_with_ties_and_across_instruction_sets() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let model = random_model(&mut rng, 1, 16, 8, true);
        let baseline = model.clone().with_isa(KernelIsa::baseline());
        let xs: Vec<f32> = (0..64).map(|_| rng.random_range(0.0..1.0)).collect();
        let run = |m: &SkipWClassifier| {
            let mut state = m.new_state();
            let mut scratch = CellScratch::new(16);
            let pattern: Vec<bool> = xs
                .chunks_exact(1)
                .map(|x| m.step(x, SkipWKnobs { k: 3, thr: 0.1 }, &mut state, &mut scratch).processed)
                .collect();
            (pattern, state.h)
        };
        let first = run(&model);
        assert_eq!(first, run(&model));
        assert_eq!(first, run(&baseline));
        // Every window's importance has ties (rows in equal pairs); the lower index of a pair wins.
        let mut importance = vec![0.0; 8];
        model.importance_into(&[0.3; 16], 0, &mut importance);
        assert!(importance.chunks_exact(2).all(|pair| pair[0] == pair[1]));
        let mut mask = [false; 8];
        top_k_mask(&importance, 3, &mut mask);
        let expected = reference_mask(&importance, 3, f32::NEG_INFINITY);
        assert_eq!(mask.to_vec(), expected);
        assert_eq!(mask.iter().filter(|m| **m).count(), 3);
    }

    #[test]
    fn files_round_trip() {
        let model = tiny(4, vec![-2.0, 2.0, 0.0, 1.0]);
        let bytes = encode_tensors(&skipw_tensors(&model));
        let back = decode_skipw_cell(&bytes, Path::new("t.safetensors"), "t", CellKind::Gru, 1, 2, 2, 4).unwrap();
        assert_eq!(back, model);
        let err = decode_skipw_cell(&bytes, Path::new("t.safetensors"), "t", CellKind::Gru, 1, 2, 2, 5).unwrap_err();
        assert!(err.to_string().contains("skip.weight"), "{err}");
    }

    /// `tiny` with the time input: gate weights `[L, 3]` whose state columns are 0 and whose time
    /// column is `time_weight`, bias 0, `T_s = 8`.
    fn tiny_timed(time_weight: &[f32]) -> SkipWClassifier {
        let base = tiny(time_weight.len(), vec![0.0; time_weight.len()]).base;
        let weight = time_weight.iter().flat_map(|&w| [0.0, 0.0, w]).collect();
        SkipWClassifier::with_time_input(base, time_weight.len(), weight, vec![0.0; time_weight.len()], 8.0).unwrap()
    }

    #[test]
    fn time_input_reaches_the_gate() {
        // L = 2, W_time = [2, −1], T_s = 8. With K = 0 nothing is processed, so the state stays 0 and
        // every window starts from the same state; only τ differs: window 0 has τ = 0/8, window 1
        // τ = 2/8, window 2 τ = 4/8.
        let model = tiny_timed(&[2.0, -1.0]);
        assert_eq!((model.gate_columns(), model.time_scale()), (3, Some(8.0)));
        let mut state = model.new_state();
        let mut scratch = CellScratch::new(2);
        let mut seen = Vec::new();
        for t in 0..6 {
            if t % 2 == 0 {
                assert_eq!(state.step_index(), t);
                model.open_window(&mut state);
                seen.push(state.importance().unwrap().to_vec());
            }
            model.step(&[1.0], SkipWKnobs { k: 0, thr: 0.0 }, &mut state, &mut scratch);
        }
        assert_eq!(state.h, vec![0.0; 2], "same state at every window");
        let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
        let expected = [[0.5, 0.5], [sig(0.5), sig(-0.25)], [sig(1.0), sig(-0.5)]];
        for (window, (got, want)) in seen.iter().zip(expected).enumerate() {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "window {window}: {got:?} vs {want:?}");
            }
        }
        // Hand values: σ(0.5) = 0.622459, σ(−0.25) = 0.437823.
        assert!((seen[1][0] - 0.622_459).abs() < 1e-5 && (seen[1][1] - 0.437_823).abs() < 1e-5);
        // A reset starts the time again at 0.
        state.reset();
        model.open_window(&mut state);
        assert_eq!(state.importance().unwrap(), &[0.5, 0.5]);
        // Same positions, time weight 0: identical importances (the time column is what differs).
        let flat = tiny_timed(&[0.0, 0.0]);
        let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
        flat.importance_into(&[0.3, -0.2], 0, &mut a);
        flat.importance_into(&[0.3, -0.2], 6, &mut b);
        assert_eq!(a, b);
        model.importance_into(&[0.3, -0.2], 0, &mut a);
        model.importance_into(&[0.3, -0.2], 6, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn time_input_flops_bytes_and_selection_by_hand() {
        // H = 2, L = 2: gate 2·(2+1)·2 + 2 = 14 FLOPs; parameters 36 (GRU, readout) + 6 + 2 = 44 → 176 bytes.
        let model = tiny_timed(&[2.0, -1.0]);
        assert_eq!(model.flops_window_gate(), 14);
        assert_eq!(model.param_bytes(), 4 * (3 * 2 * 3 + 12 + 4 + 2 + 6 + 2));
        // K = 1, thr 0: window 0 ties at 0.5 → position 0; window 1 (τ = 0.25 > 0 and the state
        // moved, but the state columns are 0) → position 0 again (2·0.25 > −0.25).
        let mut state = model.new_state();
        let mut scratch = CellScratch::new(2);
        let pattern: Vec<bool> = (0..4)
            .map(|_| model.step(&[1.0], SkipWKnobs { k: 1, thr: 0.0 }, &mut state, &mut scratch).processed)
            .collect();
        assert_eq!(pattern, [true, false, true, false]);
        assert_eq!(model.classify(&[1.0; 4], 1, 0.0).flops, 2 * 14 + 2 * 68);
    }

    #[test]
    fn old_gate_without_time_input_still_loads_and_new_files_round_trip() {
        // A file written before the time input: skip.weight [L, H], no skip.time_scale.
        let old = tiny(4, vec![-2.0, 2.0, 0.0, 1.0]);
        let bytes = encode_tensors(&skipw_tensors(&old));
        let back = decode_skipw_cell(&bytes, Path::new("old.safetensors"), "t", CellKind::Gru, 1, 2, 2, 4).unwrap();
        assert_eq!((back.gate_columns(), back.time_scale()), (2, None));
        assert_eq!(back.flops_window_gate(), 20);
        assert_eq!(back, old);
        // A new file: skip.weight [L, H + 1] and skip.time_scale.
        let new = tiny_timed(&[2.0, -1.0, 0.5, 0.0]);
        let tensors = skipw_tensors(&new);
        assert_eq!(tensors["skip.weight"].0, vec![4, 3]);
        assert_eq!(tensors["skip.time_scale"], (vec![1], vec![8.0]));
        let bytes = encode_tensors(&tensors);
        let back = decode_skipw_cell(&bytes, Path::new("new.safetensors"), "t", CellKind::Gru, 1, 2, 2, 4).unwrap();
        assert_eq!(back, new);
        // [L, H + 1] without its scale, or another shape, is refused with the allowed shapes.
        let mut no_scale = skipw_tensors(&new);
        no_scale.remove("skip.time_scale");
        let err =
            decode_skipw_cell(&encode_tensors(&no_scale), Path::new("n.safetensors"), "t", CellKind::Gru, 1, 2, 2, 4)
                .unwrap_err();
        assert!(err.to_string().contains("skip.time_scale"), "{err}");
        let mut wrong = skipw_tensors(&new);
        wrong.insert("skip.weight".into(), (vec![4, 5], vec![0.0; 20]));
        let err =
            decode_skipw_cell(&encode_tensors(&wrong), Path::new("w.safetensors"), "t", CellKind::Gru, 1, 2, 2, 4)
                .unwrap_err()
                .to_string();
        assert!(err.contains("[4, 3]") && err.contains("[4, 2]") && err.contains("w.safetensors"), "{err}");
        assert_eq!(
            SkipWClassifier::with_time_input(tiny(2, vec![0.0; 2]).base, 2, vec![0.0; 6], vec![0.0; 2], 0.0),
            Err(SkipWError::TimeScale("0".into()))
        );
    }

    /// A random LSTM SkipW model: input `I`, hidden `H`, window `L`, 3 classes.
    fn random_lstm_model(rng: &mut rand_pcg::Pcg64, input: usize, hidden: usize, window: usize) -> SkipWClassifier {
        use rand::Rng;
        let mut v = |n: usize, scale: f32| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let cell = RnnCell::lstm(
            input,
            hidden,
            v(4 * hidden * input, 1.0),
            v(4 * hidden * hidden, 0.7),
            v(4 * hidden, 0.5),
            v(4 * hidden, 0.5),
        )
        .unwrap();
        let base =
            RnnClassifier { name: "r".into(), cell, readout_weight: v(3 * hidden, 1.0), readout_bias: v(3, 0.1) };
        let (gate_weight, gate_bias) = (v(window * hidden, 3.0), v(window, 1.0));
        SkipWClassifier::new(base, window, gate_weight, gate_bias).unwrap()
    }

    #[test]
    fn lstm_windows_never_exceed_k_and_steps_are_lstm_steps_or_copies() {
        use rand::{Rng, SeedableRng};
        let thresholds = [0.0f32, 0.3, 0.5, 0.8, 1.5];
        let mut processed_total = 0usize;
        for seed in 0..200u64 {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let (input, hidden, window) = (rng.random_range(1..4), rng.random_range(1..12), rng.random_range(1..10));
            let model = random_lstm_model(&mut rng, input, hidden, window);
            let lstm = model.cell();
            assert_eq!(lstm.kind(), CellKind::Lstm);
            let steps = rng.random_range(1..5 * window + 3);
            let xs: Vec<f32> = (0..steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut state = model.new_state();
            assert_eq!(state.h.len(), 2 * hidden);
            let mut scratch = CellScratch::new(hidden);
            let k = rng.random_range(0..=window + 1);
            let thr = thresholds[rng.random_range(0..thresholds.len())];
            let mut count = 0;
            for (t, x) in xs.chunks_exact(input).enumerate() {
                if t % window == 0 {
                    count = 0;
                    // The gate reads c at the window's start.
                    let mut from_c = vec![0.0; window];
                    model.importance_into(&state.h, t, &mut from_c);
                    let (weight, bias) = model.gate();
                    for (row, (u, b)) in from_c.iter().zip(bias).enumerate() {
                        let pre: f32 = b + weight[row * hidden..(row + 1) * hidden]
                            .iter()
                            .zip(&state.h[hidden..])
                            .map(|(w, c)| w * c)
                            .sum::<f32>();
                        assert!((u - sigmoid(pre)).abs() < 1e-6, "seed {seed}");
                    }
                }
                let before = state.h.clone();
                let step = model.step(x, SkipWKnobs { k, thr }, &mut state, &mut scratch);
                if step.processed {
                    count += 1;
                    let mut plain = before.clone();
                    lstm.step(x, &mut plain, &mut scratch);
                    assert_eq!(state.h, plain, "seed {seed} t {t}");
                } else {
                    assert_eq!(state.h, before, "seed {seed} t {t}: a skipped step copies h and c");
                }
                let gate = if t % window == 0 { model.flops_window_gate() } else { 0 };
                assert_eq!(step.flops, gate + if step.processed { model.flops_per_processed_step() } else { 0 });
                assert!(count <= k.min(window), "seed {seed} t {t}: {count} processed under K = {k}");
                assert_eq!(step.processed_in_window, count);
            }
            processed_total += model.classify(&xs, k, thr).processed_steps;
        }
        assert!(processed_total > 100, "{processed_total}");
    }

    #[test]
    fn lstm_full_budget_and_zero_threshold_is_the_plain_lstm_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let model = random_lstm_model(&mut rng, 2, 24, 5);
        let xs: Vec<f32> = (0..2 * 50).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut state = model.new_state();
        let mut plain = vec![0.0f32; 48];
        let mut scratch = CellScratch::new(24);
        for x in xs.chunks_exact(2) {
            assert!(model.step(x, SkipWKnobs { k: 5, thr: 0.0 }, &mut state, &mut scratch).processed);
            model.cell().step(x, &mut plain, &mut scratch);
            assert_eq!(state.h, plain);
        }
        let outcome = model.classify(&xs, 5, 0.0);
        assert_eq!((outcome.prediction, outcome.processed_steps), (model.base.classify(&xs), 50));
        // Per window: a gate 2·24·5 + 5, five LSTM steps 8·24·26 + 21·24.
        assert_eq!(outcome.flops, 10 * (245 + 5 * (8 * 24 * 26 + 21 * 24)));
        let bytes = encode_tensors(&skipw_tensors(&model));
        let back = decode_skipw_cell(&bytes, Path::new("l.safetensors"), "r", CellKind::Lstm, 2, 24, 3, 5).unwrap();
        assert_eq!(back, model);
        assert!(
            decode_skipw_cell(&bytes, Path::new("l.safetensors"), "r", CellKind::Gru, 2, 24, 3, 5).is_err(),
            "a GRU reads 3H rows"
        );
    }
}
