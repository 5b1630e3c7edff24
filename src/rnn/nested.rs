//! Nested widths: one GRU (or LSTM) whose width-`w` configuration uses the first `w` of its `H` hidden
//! units (a slimmable RNN, after Yu et al., "Slimmable Neural Networks", ICLR 2019).
//!
//! At width `w` a step reads and writes only units `0..w` of the state:
//! ```text
//! for each gate block g ∈ {r, z, n} (PyTorch order), rows g·H .. g·H + w of every tensor:
//! gi_g = W_ig[0..w, :] x + b_ig[0..w]
//! gh_g = W_hg[0..w, 0..w] h[0..w] + b_hg[0..w]
//! h[0..w] ← GRU update of (gi, gh, h[0..w])          (the GRU equations of [`crate::rnn::cell`])
//! h[w..H] unchanged
//! ```
//! **LSTM cells** the same way: rows `g·H .. g·H + w` of each of the four gate blocks i, f, g, o, the
//! first `w` columns of `weight_hh`, and the LSTM update (the LSTM equations of [`crate::rnn::cell`]) of
//! `h[0..w]` and `c[0..w]`; `h[w..H]` and `c[w..H]` keep their values. The flat state is `[h; c]`
//! (`2H` values, see [`crate::rnn::cell`]); the readouts read `h[0..w]`.
//! **Units beyond `w` keep their last value.** A sequence starts from the zero state, so units never
//! used so far are zero; when the width shrinks, the units it drops are frozen (not reset), and when it
//! grows again mid-sequence they resume from where they were. This costs nothing (no copy, no map) and
//! is what training on random width schedules teaches the network to handle (see
//! [`crate::train::nested`]); resetting them to zero would instead throw away what they hold.
//!
//! **Readouts: one per width.** The classifier's readout at width `w` is its own `nn.Linear(w, C)` on
//! `h[0..w]`. A single shared readout would have to serve every width from the same columns, which
//! slimmable networks found costly in accuracy (their per-width batch norms play the same role); per
//! width readouts cost `Σ_w (C·w + C)` parameters (2 440 floats for widths 16, 32, 64, 128 and 10
//! classes, 1 % of the cell). The readout used at the end of a sequence is the one of the width that
//! ran the last step.
//!
//! **Kernels: strided, not packed.** The recurrent product uses the first `w` columns of rows of
//! length `H` in place ([`matvec_bias_strided`]), so the model is one parameter block of
//! `H`-sized tensors and changing width loads nothing. Packing a contiguous copy per width at load time
//! would cost about a third more memory (`Σ_{w<H} 3w²` floats) for no speed-up worth having: each row
//! segment of `w` floats is already contiguous. The strided kernel keeps the lanes and reduction
//! order of [`matvec_bias`], so a width-`w` step equals, bit for bit, a
//! plain [`RnnCell`] of the same kind and hidden `w` built
//! from the sliced weights ([`NestedRnn::slice`]), and width `H` equals the plain cell of the full
//! weights.

use rand::Rng;

use super::cell::{BatchScratch, CellKind, CellScratch, RnnCell};
use super::kernels::{gru_update, lstm_update, matmat_bias_strided, matvec_bias, matvec_bias_strided, KernelIsa};
use super::model::{argmax, RnnClassifier};

/// Errors when assembling a nested-width model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NestedError {
    /// The width list is empty, not strictly ascending, or holds a width outside `1..=H`.
    #[error("nested widths {widths:?}: need at least one, strictly ascending, each in 1..={hidden}")]
    Widths {
        /// The widths given.
        widths: Vec<usize>,
        /// The cell's hidden size `H`.
        hidden: usize,
    },
    /// A readout has the wrong shape.
    #[error("readout of width {width}: expected {expected} values in `{tensor}`, found {found}")]
    Readout {
        /// The readout's width.
        width: usize,
        /// `weight` or `bias`.
        tensor: &'static str,
        /// Expected number of values.
        expected: usize,
        /// Found number of values.
        found: usize,
    },
}

/// The linear readout of one width: `logits = weight · h[0..width] + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedReadout {
    /// Width `w` whose leading units it reads.
    pub width: usize,
    /// Row-major `[C, w]` (PyTorch `nn.Linear(w, C).weight`).
    pub weight: Vec<f32>,
    /// `[C]`.
    pub bias: Vec<f32>,
}

/// Per-stream scratch of [`NestedRnn::step`]: a [`CellScratch`] (`2 × 4H` floats, allocated once).
/// (`PartialEq` compares the buffers, i.e. what the last step left there, so that states holding one
/// compare.)
pub type NestedScratch = CellScratch;

/// A nested-width classifier: one cell ([`RnnCell`], GRU or LSTM) of hidden `H`, a list of widths it
/// runs at, and a readout per width (see the module doc). Weights are immutable and shared; the
/// `H`-unit flat state is owned by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedRnn {
    /// Name (e.g. `nested-gru-128`, `nested-lstm-128`), also the weight file's stem.
    pub name: String,
    cell: RnnCell,
    widths: Vec<usize>,
    readouts: Vec<NestedReadout>,
    isa: KernelIsa,
}

/// The nested-width model's name from before LSTM cells: a [`NestedRnn`] (of either cell).
pub type NestedGru = NestedRnn;

impl NestedRnn {
    /// Builds a model from a full-width cell ([`RnnCell`], GRU or LSTM) and one readout per width (in
    /// the order of `widths`).
    ///
    /// # Errors
    /// [`NestedError::Widths`] if `widths` is empty, not strictly ascending or outside `1..=H`;
    /// [`NestedError::Readout`] if the readouts are not `widths.len()` of shape `[C, w]` and `[C]` with
    /// the same `C ≥ 1` (a missing readout is reported as one of zero values).
    pub fn new(
        name: impl Into<String>,
        cell: RnnCell,
        widths: Vec<usize>,
        readouts: Vec<NestedReadout>,
    ) -> Result<NestedRnn, NestedError> {
        let hidden = cell.hidden_size();
        if widths.is_empty()
            || widths.windows(2).any(|p| p[0] >= p[1])
            || widths[0] == 0
            || widths[widths.len() - 1] > hidden
        {
            return Err(NestedError::Widths { widths, hidden });
        }
        let classes = readouts.first().map_or(0, |r| r.bias.len()).max(1);
        for (i, &width) in widths.iter().enumerate() {
            let Some(readout) = readouts.get(i) else {
                return Err(NestedError::Readout { width, tensor: "weight", expected: classes * width, found: 0 });
            };
            let bad = |tensor, expected, found| NestedError::Readout { width, tensor, expected, found };
            if readout.width != width || readout.weight.len() != classes * width {
                return Err(bad("weight", classes * width, readout.weight.len()));
            }
            if readout.bias.len() != classes {
                return Err(bad("bias", classes, readout.bias.len()));
            }
        }
        if readouts.len() > widths.len() {
            let extra = &readouts[widths.len()];
            return Err(NestedError::Readout {
                width: extra.width,
                tensor: "weight",
                expected: 0,
                found: extra.weight.len(),
            });
        }
        Ok(NestedRnn { name: name.into(), cell, widths, readouts, isa: KernelIsa::detect() })
    }

    /// Restricts the kernels to the baseline instruction set (for tests and benchmarks).
    pub fn with_isa(mut self, isa: KernelIsa) -> NestedRnn {
        self.isa = isa;
        self
    }

    /// The full-width cell (`H` units).
    pub fn cell(&self) -> &RnnCell {
        &self.cell
    }

    /// Hidden size `H` (the widest configuration's).
    pub fn hidden_size(&self) -> usize {
        self.cell.hidden_size()
    }

    /// Length of the flat state passed to [`Self::step`]: `H` (GRU) or `2H` (LSTM, `[h; c]`).
    pub fn state_len(&self) -> usize {
        self.cell.state_len()
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.cell.input_size()
    }

    /// Number of classes `C`.
    pub fn classes(&self) -> usize {
        self.readouts[0].bias.len()
    }

    /// The widths it has readouts for, ascending.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// The readouts, one per width, in the order of [`Self::widths`].
    pub fn readouts(&self) -> &[NestedReadout] {
        &self.readouts
    }

    /// Position of `width` in [`Self::widths`].
    pub fn width_index(&self, width: usize) -> Option<usize> {
        self.widths.iter().position(|&w| w == width)
    }

    /// FLOPs of one step at width `w`: those of a plain cell of hidden `w` ([`CellKind::flops_per_step`]:
    /// `6w(I + w) + 16w` for a GRU, `8w(I + w) + 21w` for an LSTM); units beyond `w` cost nothing.
    pub fn flops_per_step(&self, width: usize) -> u64 {
        self.cell.kind().flops_per_step(self.input_size(), width)
    }

    /// FLOPs of the readout at width `w`: `2Cw + C`.
    pub fn flops_readout(&self, width: usize) -> u64 {
        (2 * self.classes() * width + self.classes()) as u64
    }

    /// Bytes of every parameter as `f32`, the cell and all readouts — one block, whatever the width:
    /// `4 · (3H(I + H) + 6H + Σ_w (C·w + C))` for a GRU (`4H(I + H) + 8H` for an LSTM cell).
    pub fn param_bytes(&self) -> u64 {
        let readouts: usize = self.readouts.iter().map(|r| r.weight.len() + r.bias.len()).sum();
        4 * (self.cell.parameter_count() + readouts) as u64
    }

    /// One step at width `w` in place: reads input `x` (`I` values) and units `0..w` of the flat state
    /// (`h`, `H` values, for a GRU; `[h; c]`, `2H` values, for an LSTM), writes the new units `0..w`
    /// (of `h`, and of `c`) into it, and leaves units `w..H` as they are. Any `w` in `1..=H` runs (only
    /// listed widths have a readout). Allocates nothing.
    ///
    /// # Panics
    /// If `w` is outside `1..=H`, `x.len() != I`, `state.len()` is not [`Self::state_len`] or
    /// `scratch` was made for a smaller `H`.
    #[inline]
    pub fn step(&self, width: usize, x: &[f32], state: &mut [f32], scratch: &mut NestedScratch) {
        let hidden = self.hidden_size();
        let input = self.input_size();
        let kind = self.cell.kind();
        let gates = kind.gates();
        assert!((1..=hidden).contains(&width), "nested step: width {width} outside 1..={hidden}");
        assert_eq!(x.len(), input, "nested step: input size");
        assert_eq!(state.len(), kind.state_len(hidden), "nested step: state size");
        let [(_, weight_ih), (_, weight_hh), (_, bias_ih), (_, bias_hh)] = self.cell.tensors();
        let gate_input = &mut scratch.gate_input[..gates * width];
        let gate_hidden = &mut scratch.gate_hidden[..gates * width];
        // `c` is empty for a GRU.
        let (h, c) = state.split_at_mut(hidden);
        let state = &h[..width];
        for gate in 0..gates {
            let rows = gate * hidden..gate * hidden + width;
            let out_input = &mut gate_input[gate * width..(gate + 1) * width];
            let b_ih = &bias_ih[rows.clone()];
            if input == 1 {
                // The same expression as `RnnCell::step`'s one-input path, for identical bits.
                let x0 = x[0];
                for ((g, w), b) in out_input.iter_mut().zip(&weight_ih[rows.clone()]).zip(b_ih) {
                    *g = b + w * x0;
                }
            } else {
                matvec_bias(self.isa, &weight_ih[rows.start * input..rows.end * input], x, b_ih, out_input);
            }
            matvec_bias_strided(
                self.isa,
                &weight_hh[rows.start * hidden..],
                hidden,
                state,
                &bias_hh[rows.clone()],
                &mut gate_hidden[gate * width..(gate + 1) * width],
            );
        }
        match kind {
            CellKind::Gru => gru_update(self.isa, gate_input, gate_hidden, &mut h[..width]),
            CellKind::Lstm => lstm_update(self.isa, gate_input, gate_hidden, &mut h[..width], &mut c[..width]),
        }
    }

    /// One width-`width` step of `batch` streams in lockstep: `xs` their inputs packed (`batch × I`),
    /// `states` their full flat states packed (`batch × `[`Self::state_len`], each as [`Self::step`]
    /// takes it). Per gate block, the products of all streams go through the batched kernel
    /// ([`matmat_bias_strided`], on the same rows and leading columns as [`Self::step`]); then each
    /// stream's update. **Every stream's new state has exactly the bits [`Self::step`] gives it
    /// alone.** Allocates nothing.
    ///
    /// # Panics
    /// As [`Self::step`], or if the sizes are not `batch` times a stream's, or `scratch` was made for
    /// fewer streams or a smaller hidden size.
    pub fn step_batch(&self, width: usize, xs: &[f32], states: &mut [f32], scratch: &mut BatchScratch) {
        let hidden = self.hidden_size();
        let input = self.input_size();
        let kind = self.cell.kind();
        let gates = kind.gates();
        let state_len = kind.state_len(hidden);
        let batch = states.len() / state_len;
        assert!((1..=hidden).contains(&width), "nested batch step: width {width} outside 1..={hidden}");
        assert_eq!(states.len(), batch * state_len, "nested batch step: states size (batch × state length)");
        assert_eq!(xs.len(), batch * input, "nested batch step: inputs size (batch × input size)");
        assert!(
            batch <= scratch.capacity() && hidden <= scratch.max_hidden(),
            "nested batch step: scratch for {} streams of hidden size {}, asked for {batch} of {hidden}",
            scratch.capacity(),
            scratch.max_hidden()
        );
        let [(_, weight_ih), (_, weight_hh), (_, bias_ih), (_, bias_hh)] = self.cell.tensors();
        let stride = gates * width;
        let gate_input = &mut scratch.gate_input[..batch * stride];
        let gate_hidden = &mut scratch.gate_hidden[..batch * stride];
        let packed_h = &mut scratch.hidden[..batch * width];
        for (packed, state) in packed_h.chunks_exact_mut(width).zip(states.chunks_exact(state_len)) {
            packed.copy_from_slice(&state[..width]);
        }
        for gate in 0..gates {
            let rows = gate * hidden..gate * hidden + width;
            let b_ih = &bias_ih[rows.clone()];
            if input == 1 {
                // The same expression as `step`'s one-input path, for identical bits.
                for (out, x) in gate_input.chunks_exact_mut(stride).zip(xs) {
                    let x0 = *x;
                    let out = &mut out[gate * width..(gate + 1) * width];
                    for ((g, w), b) in out.iter_mut().zip(&weight_ih[rows.clone()]).zip(b_ih) {
                        *g = b + w * x0;
                    }
                }
            } else {
                matmat_bias_strided(
                    self.isa,
                    &weight_ih[rows.start * input..rows.end * input],
                    input,
                    xs,
                    input,
                    b_ih,
                    &mut gate_input[gate * width..],
                    stride,
                );
            }
            matmat_bias_strided(
                self.isa,
                &weight_hh[rows.start * hidden..],
                hidden,
                packed_h,
                width,
                &bias_hh[rows.clone()],
                &mut gate_hidden[gate * width..],
                stride,
            );
        }
        for ((state, gi), gh) in states
            .chunks_exact_mut(state_len)
            .zip(gate_input.chunks_exact(stride))
            .zip(gate_hidden.chunks_exact(stride))
        {
            // `c` is empty for a GRU.
            let (h, c) = state.split_at_mut(hidden);
            match kind {
                CellKind::Gru => gru_update(self.isa, gi, gh, &mut h[..width]),
                CellKind::Lstm => lstm_update(self.isa, gi, gh, &mut h[..width], &mut c[..width]),
            }
        }
    }

    /// Writes the `C` logits of width `w`'s readout on `h[0..w]` into `logits` (`h` may be the whole
    /// flat state). Allocates nothing.
    ///
    /// # Panics
    /// If `w` is not one of [`Self::widths`], `h.len() < w` or `logits.len() != C`.
    pub fn logits_into(&self, width: usize, h: &[f32], logits: &mut [f32]) {
        let index = self.width_index(width).unwrap_or_else(|| panic!("no readout for width {width}"));
        let readout = &self.readouts[index];
        assert_eq!(logits.len(), self.classes(), "nested readout: logits size");
        let state = &h[..width];
        for ((out, row), bias) in logits.iter_mut().zip(readout.weight.chunks_exact(width)).zip(&readout.bias) {
            *out = bias + row.iter().zip(state).map(|(w, v)| w * v).sum::<f32>();
        }
    }

    /// The predicted class at width `w` (arg-max of [`Self::logits_into`]; lowest index on ties).
    /// `logits_scratch` must hold at least `C` values.
    ///
    /// # Panics
    /// As [`Self::logits_into`].
    pub fn predict(&self, width: usize, h: &[f32], logits_scratch: &mut [f32]) -> u32 {
        let logits = &mut logits_scratch[..self.classes()];
        self.logits_into(width, h, logits);
        argmax(logits) as u32
    }

    /// Runs a whole sequence (`steps × I` values) from a zero state, step `t` at width
    /// `schedule[t]`, and returns the prediction of the last step's width's readout. Allocates its
    /// scratch; meant for evaluation, not the simulator's hot path.
    ///
    /// # Panics
    /// If `schedule` has fewer entries than the sequence has steps, or its last width used has no
    /// readout.
    pub fn classify(&self, sequence: &[f32], schedule: &[usize]) -> u32 {
        let steps = sequence.len() / self.input_size();
        assert!(schedule.len() >= steps && steps > 0, "nested classify: {steps} steps, {} widths", schedule.len());
        let mut logits = vec![0.0; self.classes()];
        self.outputs(sequence, schedule, &mut logits);
        argmax(&logits) as u32
    }

    /// As [`Self::classify`], but writes the readout (`C` logits; one value for a regression model)
    /// into `out`.
    ///
    /// # Panics
    /// As [`Self::classify`].
    pub fn outputs(&self, sequence: &[f32], schedule: &[usize], out: &mut [f32]) {
        let steps = sequence.len() / self.input_size();
        assert!(schedule.len() >= steps && steps > 0, "nested outputs: {steps} steps, {} widths", schedule.len());
        let mut h = vec![0.0; self.state_len()];
        let mut scratch = NestedScratch::new(self.hidden_size());
        for (x, &width) in sequence.chunks_exact(self.input_size()).zip(schedule) {
            self.step(width, x, &mut h, &mut scratch);
        }
        self.logits_into(schedule[steps - 1], &h, &mut out[..self.classes()]);
    }

    /// The plain classifier (same cell kind) of hidden `w` made of the sliced weights (rows
    /// `g·H .. g·H + w` of every gate block, the first `w` columns of `weight_hh`) and width `w`'s
    /// readout: what a width-`w` step computes on units `0..w`, as a separate model (e.g. for a
    /// model-switching bank).
    ///
    /// # Panics
    /// If `w` is not one of [`Self::widths`].
    pub fn slice(&self, width: usize) -> RnnClassifier {
        let index = self.width_index(width).unwrap_or_else(|| panic!("no readout for width {width}"));
        let (hidden, input, kind) = (self.hidden_size(), self.input_size(), self.cell.kind());
        let gates = kind.gates();
        let [(_, weight_ih), (_, weight_hh), (_, bias_ih), (_, bias_hh)] = self.cell.tensors();
        let rows = |gate: usize| gate * hidden..gate * hidden + width;
        let mut w_ih = Vec::with_capacity(gates * width * input);
        let mut w_hh = Vec::with_capacity(gates * width * width);
        let mut b_ih = Vec::with_capacity(gates * width);
        let mut b_hh = Vec::with_capacity(gates * width);
        for gate in 0..gates {
            w_ih.extend_from_slice(&weight_ih[rows(gate).start * input..rows(gate).end * input]);
            for row in rows(gate) {
                w_hh.extend_from_slice(&weight_hh[row * hidden..row * hidden + width]);
            }
            b_ih.extend_from_slice(&bias_ih[rows(gate)]);
            b_hh.extend_from_slice(&bias_hh[rows(gate)]);
        }
        let cell = RnnCell::new(kind, input, width, w_ih, w_hh, b_ih, b_hh)
            .expect("sliced shapes match by construction")
            .with_isa(self.isa);
        let readout = &self.readouts[index];
        RnnClassifier {
            name: format!("{}-w{width}", self.name),
            cell,
            readout_weight: readout.weight.clone(),
            readout_bias: readout.bias.clone(),
        }
    }
}

/// A random piecewise-constant width schedule for a sequence of `steps` steps: `changes` change
/// points drawn without replacement from `1..steps` (fewer if `steps` is short), the first segment's
/// width uniform over `widths` and every later segment's width uniform over the widths other than the
/// previous one (so every change point really changes the width). With one width, that width
/// throughout.
///
/// # Panics
/// If `widths` is empty.
pub fn random_width_schedule(widths: &[usize], steps: usize, changes: usize, rng: &mut impl Rng) -> Vec<usize> {
    assert!(!widths.is_empty(), "random_width_schedule: no widths");
    let points = super::schedule::change_steps(steps, changes, rng);
    let mut current = rng.random_range(0..widths.len());
    let mut schedule = Vec::with_capacity(steps);
    let mut next_point = points.iter().peekable();
    for step in 0..steps {
        if next_point.peek() == Some(&&step) {
            next_point.next();
            if widths.len() > 1 {
                let other = rng.random_range(0..widths.len() - 1);
                current = if other >= current { other + 1 } else { other };
            }
        }
        schedule.push(widths[current]);
    }
    schedule
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::io::{decode_nested_cell, encode_nested};
    use rand::SeedableRng;
    use std::path::Path;

    fn random_model(input: usize, hidden: usize, widths: &[usize], seed: u64) -> NestedRnn {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let cell =
            RnnCell::gru(input, hidden, v(3 * hidden * input), v(3 * hidden * hidden), v(3 * hidden), v(3 * hidden))
                .unwrap();
        let readouts = widths.iter().map(|&w| NestedReadout { width: w, weight: v(3 * w), bias: v(3) }).collect();
        NestedGru::new("n", cell, widths.to_vec(), readouts).unwrap()
    }

    fn inputs(input: usize, steps: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        (0..input * steps).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn full_width_equals_the_plain_gru_bit_for_bit() {
        for (input, hidden) in [(1, 16), (3, 37), (1, 128), (5, 64)] {
            for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                let model = random_model(input, hidden, &[hidden], hidden as u64).with_isa(isa);
                let plain = model.cell().clone().with_isa(isa);
                let (mut h_nested, mut h_plain) = (vec![0.0f32; hidden], vec![0.0f32; hidden]);
                let mut scratch = NestedScratch::new(hidden);
                let mut plain_scratch = CellScratch::new(hidden);
                for x in inputs(input, 40, 7).chunks_exact(input) {
                    model.step(hidden, x, &mut h_nested, &mut scratch);
                    plain.step(x, &mut h_plain, &mut plain_scratch);
                    assert_eq!(h_nested, h_plain, "I={input} H={hidden} {isa:?}");
                }
            }
        }
    }

    #[test]
    fn width_w_equals_the_sliced_plain_gru_bit_for_bit_and_leaves_other_units() {
        let widths = [4, 9, 16, 40];
        for input in [1, 3] {
            let model = random_model(input, 40, &widths, 11 + input as u64);
            for &width in &widths {
                let sliced = model.slice(width);
                assert_eq!(sliced.cell.flops_per_step(), model.flops_per_step(width));
                assert_eq!(sliced.flops_readout(), model.flops_readout(width));
                let mut h = (0..40).map(|i| (i as f32 * 0.1).cos()).collect::<Vec<f32>>();
                let beyond = h[width..].to_vec();
                let mut h_plain = h[..width].to_vec();
                let mut scratch = NestedScratch::new(40);
                let mut plain_scratch = CellScratch::new(width);
                for x in inputs(input, 30, width as u64).chunks_exact(input) {
                    model.step(width, x, &mut h, &mut scratch);
                    sliced.cell.step(x, &mut h_plain, &mut plain_scratch);
                    assert_eq!(&h[..width], &h_plain[..], "I={input} w={width}");
                    assert_eq!(&h[width..], &beyond[..], "units beyond {width} must not change");
                }
                let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
                model.logits_into(width, &h, &mut a);
                sliced.logits_into(&h_plain, &mut b);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn width_change_mid_sequence_resumes_frozen_units() {
        // 16 steps at width 4 then 8 at width 16: the step at width 16 sees units 4..16 as they were
        // after the earlier width-16 steps.
        let model = random_model(1, 16, &[4, 16], 3);
        let xs = inputs(1, 30, 5);
        let mut h = vec![0.0f32; 16];
        let mut scratch = NestedScratch::new(16);
        for x in &xs[..10] {
            model.step(16, &[*x], &mut h, &mut scratch);
        }
        let frozen = h[4..].to_vec();
        for x in &xs[10..20] {
            model.step(4, &[*x], &mut h, &mut scratch);
        }
        assert_eq!(&h[4..], &frozen[..]);
        // The full-width cell resumed from (new units 0..4, frozen units 4..16).
        let mut expected = h.clone();
        let mut plain_scratch = CellScratch::new(16);
        model.cell().step(&[xs[20]], &mut expected, &mut plain_scratch);
        model.step(16, &[xs[20]], &mut h, &mut scratch);
        assert_eq!(h, expected);
    }

    #[test]
    fn flops_and_bytes_hand_computed() {
        let model = random_model(1, 128, &[16, 32, 64, 128], 1);
        // 6w(1 + w) + 16w
        assert_eq!(model.flops_per_step(16), 6 * 16 * 17 + 16 * 16); // 1888
        assert_eq!(model.flops_per_step(16), 1888);
        assert_eq!(model.flops_per_step(32), 6848);
        assert_eq!(model.flops_per_step(64), 25984);
        assert_eq!(model.flops_per_step(128), 101_120);
        assert_eq!(model.flops_per_step(128), model.cell().flops_per_step());
        // readout 2·C·w + C with C = 3
        assert_eq!(model.flops_readout(16), 99);
        // cell 3·128·129 + 6·128 = 50 304 floats; readouts 3·(16+32+64+128) + 4·3 = 732 floats.
        assert_eq!(model.param_bytes(), 4 * (50_304 + 732));
    }

    #[test]
    fn constructor_rejects_bad_widths_and_readouts() {
        let model = random_model(1, 8, &[2, 8], 1);
        let cell = model.cell().clone();
        let readouts = model.readouts().to_vec();
        for widths in [vec![], vec![8, 2], vec![0, 8], vec![2, 9], vec![2, 2]] {
            assert!(matches!(
                NestedGru::new("x", cell.clone(), widths, readouts.clone()),
                Err(NestedError::Widths { .. })
            ));
        }
        assert!(matches!(
            NestedGru::new("x", cell.clone(), vec![2, 4], readouts.clone()),
            Err(NestedError::Readout { width: 4, .. })
        ));
        assert!(matches!(
            NestedGru::new("x", cell, vec![2, 8, 9], readouts),
            Err(NestedError::Widths { .. }) | Err(NestedError::Readout { .. })
        ));
    }

    #[test]
    fn schedules_change_at_the_drawn_points() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
        for changes in [0, 1, 3] {
            for _ in 0..50 {
                let s = random_width_schedule(&[16, 32, 64], 64, changes, &mut rng);
                assert_eq!(s.len(), 64);
                assert_eq!(s.windows(2).filter(|p| p[0] != p[1]).count(), changes);
                assert!(s.iter().all(|w| [16, 32, 64].contains(w)));
            }
        }
        assert_eq!(random_width_schedule(&[8], 5, 2, &mut rng), vec![8; 5]);
        assert_eq!(random_width_schedule(&[8, 16], 1, 3, &mut rng).len(), 1);
    }

    #[test]
    fn model_round_trips_through_safetensors() {
        let model = random_model(2, 12, &[3, 12], 4);
        let bytes = encode_nested(&model);
        let back =
            decode_nested_cell(&bytes, Path::new("n.safetensors"), "n", CellKind::Gru, 2, 12, 3, &[3, 12]).unwrap();
        assert_eq!(back.with_isa(model.isa), model);
        let err = decode_nested_cell(&bytes, Path::new("n.safetensors"), "n", CellKind::Gru, 2, 12, 3, &[3, 6, 12])
            .unwrap_err();
        assert!(err.to_string().contains("readout.6.weight"), "{err}");
        let xs = inputs(2, 10, 1);
        assert_eq!(model.classify(&xs, &[12; 10]), model.slice(12).classify(&xs));
        assert_eq!(model.classify(&xs, &[3; 10]), model.slice(3).classify(&xs));
    }

    fn random_lstm_model(input: usize, hidden: usize, widths: &[usize], seed: u64) -> NestedRnn {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let cell =
            RnnCell::lstm(input, hidden, v(4 * hidden * input), v(4 * hidden * hidden), v(4 * hidden), v(4 * hidden))
                .unwrap();
        let readouts = widths.iter().map(|&w| NestedReadout { width: w, weight: v(3 * w), bias: v(3) }).collect();
        NestedRnn::new("n-lstm", cell, widths.to_vec(), readouts).unwrap()
    }

    #[test]
    fn lstm_full_width_equals_the_plain_lstm_bit_for_bit() {
        for (input, hidden) in [(1, 16), (3, 37), (1, 128), (5, 64)] {
            for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                let model = random_lstm_model(input, hidden, &[hidden], hidden as u64).with_isa(isa);
                let plain = model.cell().clone().with_isa(isa);
                assert_eq!((model.state_len(), plain.kind()), (2 * hidden, CellKind::Lstm));
                let mut state = vec![0.0f32; 2 * hidden];
                let mut plain_state = vec![0.0f32; 2 * hidden];
                let mut scratch = NestedScratch::new(hidden);
                let mut plain_scratch = CellScratch::new(hidden);
                for x in inputs(input, 40, 7).chunks_exact(input) {
                    model.step(hidden, x, &mut state, &mut scratch);
                    plain.step(x, &mut plain_state, &mut plain_scratch);
                    assert_eq!(state, plain_state, "I={input} H={hidden} {isa:?}");
                }
                assert_eq!(model.flops_per_step(hidden), plain.flops_per_step());
            }
        }
    }

    #[test]
    fn lstm_width_w_equals_the_sliced_lstm_and_freezes_h_and_c_beyond_w() {
        let widths = [4, 9, 16, 40];
        for input in [1, 3] {
            let model = random_lstm_model(input, 40, &widths, 11 + input as u64);
            for &width in &widths {
                let sliced = model.slice(width);
                assert_eq!(sliced.cell.kind(), CellKind::Lstm);
                assert_eq!(sliced.cell.flops_per_step(), model.flops_per_step(width));
                let mut state = (0..80).map(|i| (i as f32 * 0.1).cos()).collect::<Vec<f32>>();
                let (h_beyond, c_beyond) = (state[width..40].to_vec(), state[40 + width..].to_vec());
                let mut plain: Vec<f32> = state[..width].iter().chain(&state[40..40 + width]).copied().collect();
                let mut scratch = NestedScratch::new(40);
                let mut plain_scratch = CellScratch::new(width);
                for x in inputs(input, 30, width as u64).chunks_exact(input) {
                    model.step(width, x, &mut state, &mut scratch);
                    sliced.cell.step(x, &mut plain, &mut plain_scratch);
                    assert_eq!(&state[..width], &plain[..width], "I={input} w={width}: h");
                    assert_eq!(&state[40..40 + width], &plain[width..], "I={input} w={width}: c");
                    assert_eq!((&state[width..40], &state[40 + width..]), (&h_beyond[..], &c_beyond[..]));
                }
                let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
                model.logits_into(width, &state, &mut a);
                sliced.logits_into(&plain, &mut b);
                assert_eq!(a, b);
            }
        }
        let bytes = encode_nested(&model_for_round_trip());
        let back = decode_nested_cell(&bytes, Path::new("n.safetensors"), "n-lstm", CellKind::Lstm, 2, 12, 3, &[3, 12])
            .unwrap();
        assert_eq!(back.with_isa(model_for_round_trip().isa), model_for_round_trip());
        let err = decode_nested_cell(&bytes, Path::new("n.safetensors"), "n-lstm", CellKind::Gru, 2, 12, 3, &[3, 12])
            .unwrap_err();
        assert!(err.to_string().contains("cell.weight_ih"), "{err}");
    }

    fn model_for_round_trip() -> NestedRnn {
        random_lstm_model(2, 12, &[3, 12], 4)
    }

    #[test]
    fn a_batched_step_gives_every_stream_the_bits_of_its_own_step_at_every_width_on_both_isas() {
        use rand::Rng;
        for (input, hidden, widths) in [(1, 16, vec![4, 9, 16]), (3, 37, vec![5, 8, 37]), (9, 24, vec![24])] {
            for lstm in [false, true] {
                let base = if lstm {
                    random_lstm_model(input, hidden, &widths, hidden as u64)
                } else {
                    random_model(input, hidden, &widths, hidden as u64)
                };
                for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                    let model = base.clone().with_isa(isa);
                    let state_len = model.state_len();
                    for batch in [1, 4, 7] {
                        let mut rng = rand_pcg::Pcg64::seed_from_u64(batch as u64);
                        let mut states: Vec<f32> =
                            (0..batch * state_len).map(|_| rng.random_range(-1.0..1.0)).collect();
                        let mut single = states.clone();
                        let mut scratch = BatchScratch::new(batch, hidden);
                        let mut one = NestedScratch::new(hidden);
                        for &width in widths.iter().chain(widths.iter().rev()) {
                            let xs = inputs(input, batch, width as u64);
                            model.step_batch(width, &xs, &mut states, &mut scratch);
                            for (x, state) in xs.chunks_exact(input).zip(single.chunks_exact_mut(state_len)) {
                                model.step(width, x, state, &mut one);
                            }
                            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
                            assert_eq!(
                                bits(&states),
                                bits(&single),
                                "I={input} H={hidden} w={width} lstm={lstm} {isa:?} batch {batch}"
                            );
                        }
                    }
                }
            }
        }
    }
}
