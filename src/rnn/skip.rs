//! The ThrRNN family: a Skip-GRU (or Skip-LSTM) whose binarisation threshold `thr` is a run-time knob.
//!
//! Source: Campos, Jou, Giró-i-Nieto, Torres, Chang, "Skip RNN: Learning to Skip State Updates in
//! Recurrent Neural Networks", ICLR 2018, §3 (eqs. 2–5 with the GRU as `S`); the threshold as a
//! run-time knob is the first method of Lambert, Le Bolzer, Schnitzler, "Flexible Recurrent Neural
//! Networks", ECML PKDD 2020. At step `t` (1-based), with `s_0 = 0`:
//! ```text
//! u_t       = f_thr(ũ_t)          = 1 if ũ_t ≥ thr else 0                        (eq. 2, binarised)
//! s_t       = u_t · GRU(s_{t−1}, x_t) + (1 − u_t) · s_{t−1}                      (eq. 3)
//! Δũ_t      = σ(w_p · s_t + b_p)           if u_t = 1;   Δũ_t = Δũ_{t−1}   if u_t = 0   (eq. 4)
//! ũ_{t+1}   = u_t · Δũ_t + (1 − u_t) · (ũ_t + min(Δũ_t, 1 − ũ_t))                (eq. 5)
//! ũ_1       = 1,   Δũ_0 = 1
//! ```
//! Implementation choices, each matching Campos' reference code (`SkipGRUCell`, whose state is
//! `(h, update_prob, cum_update_prob)`):
//! - `Δũ` is recomputed only after an update; a skipped step reuses the last one (the reference keeps it
//!   in the state as `update_prob`). Hence **a skipped step reads no input** — the decision `u_t` is known
//!   before `x_t` is needed ([`SkipState::updates`]), so an upstream feature extractor need not run — and
//!   costs only the accumulation.
//! - `ũ_t + min(Δũ_t, 1 − ũ_t)` is computed as the equal `min(ũ_t + Δũ_t, 1)`, which is exactly `1.0`
//!   once saturated (no rounding of `1 − ũ`), so that `thr = 1` is reached.
//! - The gate reads the state **after** the update (`s_t`); the reference reads the GRU's candidate
//!   output, which is the same value whenever `u_t = 1`, the only case in which `Δũ` is recomputed.
//!
//! Consequences of the threshold: `ũ ∈ [0, 1]` always, so `thr ≤ 0` updates at every step and
//! `thr > 1` at none (the state stays `s_0 = 0`); a NaN `thr` updates at none. Training binarises with
//! `round(ũ)`, i.e. `thr = 0.5` (see `crate::train::skip`).
//!
//! **LSTM cells** (Campos' Skip-LSTM): `S` is an LSTM [`RnnCell`](crate::rnn::cell::RnnCell), the state `s_t`
//! is the pair `(h_t, c_t)` (stored flat as `[h; c]`, see [`crate::rnn::cell`]), a skipped step copies
//! both, and the gate reads the cell state: `Δũ_t = σ(w_p · c_t + b_p)` (Campos' `SkipLSTMCell`
//! computes the update probability from `new_c`). The readout reads `h_T`.
//!
//! Shapes: the cell as in [`RnnCell`](crate::rnn::cell::RnnCell); gate
//! `w_p` `[1, H]`, `b_p` `[1]` (a PyTorch `nn.Linear(H, 1)`); readout `[C, H]`, `[C]` on the final
//! `h`, as in [`RnnClassifier`].

use super::cell::CellScratch;
use super::kernels::{matvec_bias, sigmoid, KernelIsa};
use super::model::RnnClassifier;

/// The state of a Skip-GRU or Skip-LSTM stream: the cell's state `s` and the gate's accumulators.
/// Owned by the caller, allocated once per stream; [`SkipState::reset`] starts a new sequence without
/// allocating.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipState {
    /// The cell's flat state `s_t`: `h` (`H` values) for a GRU, `[h; c]` (`2H` values) for an LSTM.
    pub h: Vec<f32>,
    /// `ũ_{t+1}`: the accumulated update probability that the next step compares with `thr`, in `[0, 1]`.
    pub u_tilde: f32,
    /// `Δũ`: the last update-probability increment, computed after the last update, in `[0, 1]`.
    pub delta_u: f32,
}

impl SkipState {
    /// The initial state for a cell state of `state_len` values (`H` for a GRU, `2H` for an LSTM; see
    /// [`SkipGruClassifier::new_state`]): `s_0 = 0`, `ũ_1 = 1`, `Δũ_0 = 1` (Campos' defaults).
    pub fn new(state_len: usize) -> SkipState {
        SkipState { h: vec![0.0; state_len], u_tilde: 1.0, delta_u: 1.0 }
    }

    /// Back to the initial state, keeping the allocation.
    pub fn reset(&mut self) {
        self.h.iter_mut().for_each(|v| *v = 0.0);
        self.u_tilde = 1.0;
        self.delta_u = 1.0;
    }

    /// `u_t = f_thr(ũ_t)`: whether the next step updates the state under threshold `thr`. Needs no input,
    /// so a caller may decide whether to produce the input at all.
    #[inline]
    pub fn updates(&self, thr: f32) -> bool {
        self.u_tilde >= thr
    }
}

/// A Skip-RNN classifier (Skip-GRU or Skip-LSTM): a cell and readout ([`RnnClassifier`]) plus the
/// update gate `Δũ = σ(w_p · s + b_p)` (`s` = `h` for a GRU, `c` for an LSTM). Weights are immutable
/// and shared; the state is a [`SkipState`].
#[derive(Debug, Clone, PartialEq)]
pub struct SkipRnnClassifier {
    /// Name, cell and readout. With every step updated, this model computes exactly what `base` does.
    pub base: RnnClassifier,
    /// Gate weight `w_p`, `[1, H]` row-major (PyTorch `nn.Linear(H, 1).weight`).
    pub gate_weight: Vec<f32>,
    /// Gate bias `b_p`, `[1]`.
    pub gate_bias: [f32; 1],
    isa: KernelIsa,
}

/// The ThrRNN classifier's name from before LSTM cells: a [`SkipRnnClassifier`] (of either cell).
pub type SkipGruClassifier = SkipRnnClassifier;

/// Outcome of [`SkipRnnClassifier::classify`] on one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipClassification {
    /// Predicted class (arg-max of the readout of the final state).
    pub class: u32,
    /// The readout of the final state (`C` logits; one value for a regression model).
    pub outputs: Vec<f32>,
    /// Steps that updated the state (`Σ_t u_t`).
    pub updated_steps: usize,
    /// Steps in the sequence.
    pub steps: usize,
}

/// FLOPs of the binarisation `ũ ≥ thr`, paid at every step (a comparison counts 1).
pub const FLOPS_BINARISE: u64 = 1;

/// FLOPs of a skipped step: the binarisation and the accumulation `ũ ← min(ũ + Δũ, 1)` (an addition and
/// a minimum). Copying the state costs nothing: it stays in place.
pub const FLOPS_SKIPPED_STEP: u64 = FLOPS_BINARISE + 2;

impl SkipRnnClassifier {
    /// Builds a Skip-RNN from a classifier (GRU or LSTM cell) and the gate's parameters.
    ///
    /// # Panics
    /// If `gate_weight.len()` is not the hidden size (a programming error; loaders check shapes).
    pub fn new(base: RnnClassifier, gate_weight: Vec<f32>, gate_bias: f32) -> SkipRnnClassifier {
        assert_eq!(gate_weight.len(), base.hidden_size(), "Skip-RNN gate weight must have H values");
        SkipRnnClassifier { base, gate_weight, gate_bias: [gate_bias], isa: KernelIsa::detect() }
    }

    /// Restricts the kernels (cell and gate) to the baseline instruction set (for tests and benchmarks).
    pub fn with_isa(mut self, isa: KernelIsa) -> SkipRnnClassifier {
        self.base.cell = self.base.cell.with_isa(isa);
        self.isa = isa;
        self
    }

    /// Name, unique in its bank (e.g. `thr-64-1e-3`, `thr-lstm-64-1e-3`).
    pub fn name(&self) -> &str {
        &self.base.name
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.base.hidden_size()
    }

    /// Length of the cell's flat state (`H` for a GRU, `2H` for an LSTM).
    pub fn state_len(&self) -> usize {
        self.base.state_len()
    }

    /// A fresh initial state for this model ([`SkipState::new`] of [`Self::state_len`]).
    pub fn new_state(&self) -> SkipState {
        SkipState::new(self.state_len())
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.base.cell.input_size()
    }

    /// Number of classes `C`.
    pub fn classes(&self) -> usize {
        self.base.classes()
    }

    /// FLOPs of the update gate `σ(w_p · s + b_p)`: `2H` for the dot product, 1 for the bias, 1 for the
    /// sigmoid (nonlinearities count 1, as in [`CellKind::flops_per_step`](crate::rnn::cell::CellKind::flops_per_step)).
    pub fn flops_gate(&self) -> u64 {
        2 * self.hidden_size() as u64 + 2
    }

    /// FLOPs of an updated step: the binarisation, the cell step ([`RnnCell::flops_per_step`](crate::rnn::cell::RnnCell::flops_per_step)) and the
    /// gate ([`Self::flops_gate`]); `ũ ← Δũ` is a copy.
    pub fn flops_per_update(&self) -> u64 {
        FLOPS_BINARISE + self.base.cell.flops_per_step() + self.flops_gate()
    }

    /// FLOPs of a skipped step: [`FLOPS_SKIPPED_STEP`] (no input read, no matrix product).
    pub fn flops_per_skip(&self) -> u64 {
        FLOPS_SKIPPED_STEP
    }

    /// FLOPs of the readout at the end of a sequence: `2CH + C`.
    pub fn flops_readout(&self) -> u64 {
        self.base.flops_readout()
    }

    /// Bytes of all parameters as `f32`: the classifier's plus `4 · (H + 1)` for the gate.
    pub fn param_bytes(&self) -> u64 {
        self.base.param_bytes() + 4 * (self.gate_weight.len() + 1) as u64
    }

    /// An updated step (`u_t = 1`) whatever `ũ_t`: `s ← cell(s, x)`, then `Δũ ← σ(w_p · s + b_p)`
    /// (`s` = `h` for a GRU, `c` for an LSTM) and `ũ ← Δũ`. Reads `x` (`I` values). Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != I`, `state.h.len()` is not [`Self::state_len`] or `scratch` was made for a
    /// smaller hidden size.
    #[inline]
    pub fn update(&self, x: &[f32], state: &mut SkipState, scratch: &mut CellScratch) {
        self.base.cell.step(x, &mut state.h, scratch);
        self.update_gate(state);
    }

    /// The part of [`Self::update`] after the cell step, for a caller that ran the cell step itself
    /// (a batched step, [`crate::rnn::cell::RnnCell::step_batch`], on `state.h`): `Δũ ← σ(w_p · s + b_p)`
    /// and `ũ ← Δũ`. [`Self::update`] is the cell step followed by this. Allocates nothing.
    ///
    /// # Panics
    /// If `state.h.len()` is not [`Self::state_len`].
    #[inline]
    pub fn update_gate(&self, state: &mut SkipState) {
        let mut pre_activation = [0.0f32];
        let gate_input = self.base.cell.gate_state(&state.h);
        matvec_bias(self.isa, &self.gate_weight, gate_input, &self.gate_bias, &mut pre_activation);
        state.delta_u = sigmoid(pre_activation[0]);
        state.u_tilde = state.delta_u;
    }

    /// A skipped step (`u_t = 0`) whatever `ũ_t`: the state is kept and `ũ ← min(ũ + Δũ, 1)`. Reads no
    /// input. Allocates nothing.
    #[inline]
    pub fn skip(&self, state: &mut SkipState) {
        state.u_tilde = (state.u_tilde + state.delta_u).min(1.0);
    }

    /// One step under threshold `thr` (which may differ at every step): updates with input `x` if
    /// `ũ_t ≥ thr`, otherwise skips (and `x` is not read). Returns `u_t` (true: updated). Allocates
    /// nothing. When producing `x` is itself costly, call [`SkipState::updates`] first and then
    /// [`Self::update`] or [`Self::skip`].
    ///
    /// # Panics
    /// As [`Self::update`].
    #[inline]
    pub fn step(&self, x: &[f32], thr: f32, state: &mut SkipState, scratch: &mut CellScratch) -> bool {
        let updated = state.updates(thr);
        if updated {
            self.update(x, state, scratch);
        } else {
            self.skip(state);
        }
        updated
    }

    /// The predicted class for the final state (see [`RnnClassifier::predict`]: the readout of `h`, the
    /// first `H` values). Allocates nothing.
    pub fn predict(&self, h: &[f32], logits_scratch: &mut [f32]) -> u32 {
        self.base.predict(h, logits_scratch)
    }

    /// Runs a whole sequence (`steps × I` values) from the initial state with threshold `thr_at(t)` at
    /// step `t` (0-based), and returns the prediction and the number of updated steps. Allocates its
    /// state and scratch; meant for evaluation, not the simulator's hot path.
    pub fn classify_with(&self, sequence: &[f32], mut thr_at: impl FnMut(usize) -> f32) -> SkipClassification {
        let mut state = self.new_state();
        let mut scratch = CellScratch::new(self.hidden_size());
        let mut updated_steps = 0;
        let mut steps = 0;
        for (t, x) in sequence.chunks_exact(self.input_size()).enumerate() {
            updated_steps += usize::from(self.step(x, thr_at(t), &mut state, &mut scratch));
            steps += 1;
        }
        let mut outputs = vec![0.0; self.classes()];
        let class = self.predict(&state.h, &mut outputs);
        SkipClassification { class, outputs, updated_steps, steps }
    }

    /// [`Self::classify_with`] under one threshold `thr` for the whole sequence.
    pub fn classify(&self, sequence: &[f32], thr: f32) -> SkipClassification {
        self.classify_with(sequence, |_| thr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::cell::RnnCell;
    use rand::{Rng, SeedableRng};

    fn random_skip(input: usize, hidden: usize, classes: usize, gate_bias: f32, seed: u64) -> SkipGruClassifier {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let cell =
            RnnCell::gru(input, hidden, v(3 * hidden * input), v(3 * hidden * hidden), v(3 * hidden), v(3 * hidden))
                .unwrap();
        let gru =
            RnnClassifier { name: "skip".into(), cell, readout_weight: v(classes * hidden), readout_bias: v(classes) };
        let gate_weight = v(hidden);
        SkipGruClassifier::new(gru, gate_weight, gate_bias)
    }

    fn random_sequence(steps: usize, input: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        (0..steps * input).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn thr_zero_updates_every_step_and_equals_the_plain_gru_bit_for_bit() {
        for (input, hidden) in [(1, 16), (3, 33), (1, 128)] {
            // A very negative gate bias makes Δũ tiny: thr = 0 must update anyway.
            let model = random_skip(input, hidden, 4, -30.0, hidden as u64);
            let sequence = random_sequence(50, input, 7);
            let mut state = SkipState::new(hidden);
            let mut scratch = CellScratch::new(hidden);
            let mut plain = vec![0.0f32; hidden];
            let mut plain_scratch = CellScratch::new(hidden);
            for x in sequence.chunks_exact(input) {
                assert!(model.step(x, 0.0, &mut state, &mut scratch));
                model.base.cell.step(x, &mut plain, &mut plain_scratch);
                assert_eq!(state.h, plain, "H={hidden}: bit-for-bit equal to the GRU");
            }
            let outcome = model.classify(&sequence, 0.0);
            assert_eq!(outcome.updated_steps, 50);
            assert_eq!(outcome.class, model.base.classify(&sequence));
        }
    }

    #[test]
    fn thr_above_one_never_updates_and_keeps_the_initial_state() {
        let model = random_skip(2, 8, 3, 5.0, 1);
        let sequence = random_sequence(40, 2, 3);
        for thr in [1.0 + f32::EPSILON, 1.01, 2.0, f32::INFINITY, f32::NAN] {
            let mut state = SkipState::new(8);
            let mut scratch = CellScratch::new(8);
            for x in sequence.chunks_exact(2) {
                assert!(!model.step(x, thr, &mut state, &mut scratch), "thr {thr}");
            }
            assert_eq!(state, SkipState::new(8), "thr {thr}: the state is the initial state");
            assert_eq!(model.classify(&sequence, thr).updated_steps, 0);
        }
    }

    #[test]
    fn gate_binarises_and_accumulates_as_campos_equations() {
        // H = 1, GRU weights 0: s stays 0 after an update (n = 0, z = 0.5 → h = 0), so the gate reads
        // σ(w_p · 0 + b_p) = σ(b_p). With b_p = ln(0.3/0.7), Δũ = 0.3: after an update ũ = 0.3, then
        // 0.6, 0.9, 1.0 (capped), … At thr = 0.5: update, skip, update (ũ = 0.6), skip, update, …
        let cell = RnnCell::gru(1, 1, vec![0.0; 3], vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]).unwrap();
        let gru = RnnClassifier { name: "g".into(), cell, readout_weight: vec![1.0], readout_bias: vec![0.0] };
        let model = SkipGruClassifier::new(gru, vec![0.7], (0.3f32 / 0.7).ln());
        let mut state = SkipState::new(1);
        let mut scratch = CellScratch::new(1);
        let pattern: Vec<bool> = (0..6).map(|_| model.step(&[1.0], 0.5, &mut state, &mut scratch)).collect();
        assert_eq!(pattern, [true, false, true, false, true, false]);
        assert!((state.delta_u - 0.3).abs() < 1e-6 && (state.u_tilde - 0.6).abs() < 1e-6, "{state:?}");
        // thr = 0.95: one update then three skips (0.3, 0.6, 0.9 → 1.0 capped exactly), then an update.
        state.reset();
        let pattern: Vec<bool> = (0..6).map(|_| model.step(&[1.0], 0.95, &mut state, &mut scratch)).collect();
        assert_eq!(pattern, [true, false, false, false, true, false]);
        // thr = 1 is reached: ũ saturates at exactly 1.0.
        state.reset();
        let pattern: Vec<bool> = (0..6).map(|_| model.step(&[1.0], 1.0, &mut state, &mut scratch)).collect();
        assert_eq!(pattern, [true, false, false, false, true, false]);
        // Every step's u is 0 or 1 and the state only changes on updates.
        let sequence = random_sequence(30, 1, 5);
        let model = random_skip(1, 6, 2, 0.0, 9);
        let mut state = SkipState::new(6);
        let mut scratch = CellScratch::new(6);
        for x in sequence.chunks_exact(1) {
            let before = state.h.clone();
            let updated = model.step(x, 0.7, &mut state, &mut scratch);
            if !updated {
                assert_eq!(state.h, before);
            }
            assert!((0.0..=1.0).contains(&state.u_tilde) && (0.0..=1.0).contains(&state.delta_u));
        }
    }

    #[test]
    fn the_knob_may_change_at_any_step() {
        let model = random_skip(1, 16, 3, 0.0, 4);
        let sequence = random_sequence(60, 1, 8);
        // First half at thr 0 (all updated), second half above 1 (none): exactly 30 updates, and the
        // final state is the plain GRU's after 30 steps.
        let outcome = model.classify_with(&sequence, |t| if t < 30 { 0.0 } else { 1.5 });
        assert_eq!(outcome.updated_steps, 30);
        assert_eq!(outcome.class, model.base.classify(&sequence[..30]));
    }

    #[test]
    fn flops_and_bytes_hand_computed() {
        // H = 4, I = 2, C = 3. GRU step: 6·4·(2+4) + 16·4 = 208. Gate: 2·4 + 2 = 10. Update: 1 + 208 + 10.
        let model = random_skip(2, 4, 3, 0.0, 1);
        assert_eq!(model.base.cell.flops_per_step(), 208);
        assert_eq!(model.flops_gate(), 10);
        assert_eq!(model.flops_per_update(), 219);
        assert_eq!(model.flops_per_skip(), 3);
        assert_eq!(model.flops_readout(), 2 * 3 * 4 + 3);
        // Parameters: 3·4·(2+4) + 6·4 = 96 cell, 3·4 + 3 = 15 readout, 4 + 1 gate = 116 floats.
        assert_eq!(model.param_bytes(), 4 * 116);
    }

    #[test]
    fn baseline_and_detected_isa_agree_bit_for_bit() {
        let fast = random_skip(1, 64, 10, 0.0, 3);
        let slow = fast.clone().with_isa(KernelIsa::baseline());
        let (mut a, mut b) = (SkipState::new(64), SkipState::new(64));
        let mut scratch = CellScratch::new(64);
        for t in 0..64 {
            let x = [(t as f32 * 0.37).sin()];
            let ua = fast.step(&x, 0.6, &mut a, &mut scratch);
            let ub = slow.step(&x, 0.6, &mut b, &mut scratch);
            assert_eq!(ua, ub);
        }
        assert_eq!(a, b);
    }

    fn random_skip_lstm(input: usize, hidden: usize, classes: usize, gate_bias: f32, seed: u64) -> SkipRnnClassifier {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let cell =
            RnnCell::lstm(input, hidden, v(4 * hidden * input), v(4 * hidden * hidden), v(4 * hidden), v(4 * hidden))
                .unwrap();
        let base = RnnClassifier {
            name: "skip-lstm".into(),
            cell,
            readout_weight: v(classes * hidden),
            readout_bias: v(classes),
        };
        let gate_weight = v(hidden);
        SkipRnnClassifier::new(base, gate_weight, gate_bias)
    }

    #[test]
    fn skip_lstm_thr_zero_equals_the_plain_lstm_bit_for_bit() {
        for (input, hidden) in [(1, 16), (3, 33), (1, 128)] {
            let model = random_skip_lstm(input, hidden, 4, -30.0, hidden as u64);
            let lstm = &model.base.cell;
            assert_eq!(lstm.kind(), crate::rnn::CellKind::Lstm);
            let sequence = random_sequence(50, input, 7);
            let mut state = model.new_state();
            assert_eq!(state.h.len(), 2 * hidden, "[h; c]");
            let mut scratch = CellScratch::new(hidden);
            let mut plain = vec![0.0f32; 2 * hidden];
            let mut plain_scratch = CellScratch::new(hidden);
            for x in sequence.chunks_exact(input) {
                assert!(model.step(x, 0.0, &mut state, &mut scratch));
                lstm.step(x, &mut plain, &mut plain_scratch);
                assert_eq!(state.h, plain, "H={hidden}");
            }
            let outcome = model.classify(&sequence, 0.0);
            assert_eq!(outcome.updated_steps, 50);
            assert_eq!(outcome.class, model.base.classify(&sequence));
        }
    }

    #[test]
    fn skip_lstm_thr_above_one_never_updates_and_keeps_the_initial_state() {
        let model = random_skip_lstm(2, 8, 3, 5.0, 1);
        let sequence = random_sequence(40, 2, 3);
        for thr in [1.0 + f32::EPSILON, 1.01, 2.0, f32::INFINITY, f32::NAN] {
            let mut state = model.new_state();
            let mut scratch = CellScratch::new(8);
            for x in sequence.chunks_exact(2) {
                assert!(!model.step(x, thr, &mut state, &mut scratch), "thr {thr}");
            }
            assert_eq!(state, SkipState::new(16), "thr {thr}: the state is the initial state");
            assert_eq!(model.classify(&sequence, thr).updated_steps, 0);
        }
    }

    #[test]
    fn skip_lstm_gate_reads_the_cell_state() {
        // After one update, Δũ = σ(w_p · c + b_p), computed by hand from the LSTM's c (not from h).
        let model = random_skip_lstm(1, 6, 2, 0.3, 5);
        let mut state = model.new_state();
        let mut scratch = CellScratch::new(6);
        model.update(&[0.7], &mut state, &mut scratch);
        let c = &state.h[6..];
        let pre: f32 = model.gate_bias[0] + model.gate_weight.iter().zip(c).map(|(w, v)| w * v).sum::<f32>();
        assert!((state.delta_u - 1.0 / (1.0 + (-pre).exp())).abs() < 1e-6, "{} vs σ({pre})", state.delta_u);
        assert_eq!(state.u_tilde, state.delta_u);
        // FLOPs: 1 + LSTM step 8·6·7 + 21·6 + gate 2·6 + 2.
        assert_eq!(model.flops_per_update(), 1 + 8 * 6 * 7 + 21 * 6 + 14);
        assert_eq!(model.param_bytes(), 4 * (4 * 6 * 7 + 8 * 6 + 2 * 6 + 2 + 6 + 1));
    }
}
