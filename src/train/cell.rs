//! The trainable cell of every trainer: a GRU or an LSTM in `candle`, with the flat state layout of
//! [`crate::rnn::cell`] (`h` `[B, H]` for a GRU, `[h; c]` `[B, 2H]` for an LSTM), so that each
//! family's forward pass is written once for both cells and computes what the crate's inference does.
//!
//! The GRU's operations are exactly those the trainers ran before LSTM cells existed (same tensors,
//! same order), and its initial weights are drawn in the same order, so GRU training is unchanged.

use candle_core::{DType, Device, Tensor, Var};
use rand_pcg::Pcg64;

use crate::rnn::{CellKind, RnnCell};

use super::fused::{add_bias, input_gate_views, GruUpdate, LstmUpdate};
use super::{flat, uniform_var};

#[cfg(test)]
thread_local! {
    /// Tests only: run this thread's training through the plain `candle` op chains the fused ops
    /// replace (see [`with_reference_ops`]).
    static REFERENCE_OPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread trains through the plain `candle` op chains (tests only) instead of the fused
/// ops of [`super::fused`].
fn reference_ops() -> bool {
    #[cfg(test)]
    {
        REFERENCE_OPS.with(|r| r.get())
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// Runs `work` with this thread's training on the plain `candle` op chains that [`super::fused`]
/// replaces, the reference that the fused ops must match bit for bit.
#[cfg(test)]
pub(crate) fn with_reference_ops<T>(work: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REFERENCE_OPS.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(REFERENCE_OPS.with(|r| r.replace(true)));
    work()
}

/// Sequences longer than this take [`step_input_gates`]' per-step form.
pub(crate) const ONE_MATMUL_MAX_STEPS: usize = 128;

/// The input-side gate pre-activations `W x_t + b` of every step, each `[B, G]`, for inputs
/// `[B, T, I]`, `weight` `[G, I]` and `bias` `[G]`.
///
/// Up to [`ONE_MATMUL_MAX_STEPS`] steps: one matmul over all steps, then a view per step — the form
/// the shipped digits models were trained with, kept so that their training commands reproduce them
/// bit for bit. Longer sequences: one matmul per step (same values; gradients summed in another
/// order), because candle's backward of a view (`narrow`) pads each step's gradient to the whole
/// `[B, T, G]` tensor, which makes a training step quadratic in `T` (permuted MNIST, 784 steps: over
/// five minutes per epoch instead of about one).
pub(crate) fn step_input_gates(xs: &Tensor, weight: &Var, bias: &Var) -> candle_core::Result<Vec<Tensor>> {
    let (batch, steps, input) = xs.dims3()?;
    let gates = weight.dims()[0];
    let weight_t = weight.as_tensor().t()?;
    if steps <= ONE_MATMUL_MAX_STEPS {
        let products = xs.reshape((batch * steps, input))?.matmul(&weight_t)?;
        if !reference_ops() {
            return input_gate_views(&add_bias(&products, bias.as_tensor())?.reshape((batch, steps, gates))?);
        }
        let all = products.broadcast_add(bias.as_tensor())?.reshape((batch, steps, gates))?;
        return (0..steps).map(|step| all.narrow(1, step, 1)?.squeeze(1)).collect();
    }
    // `xs` is not a variable: its views cost nothing in the backward pass.
    let reference = reference_ops();
    (0..steps)
        .map(|step| {
            let products = xs.narrow(1, step, 1)?.squeeze(1)?.matmul(&weight_t)?;
            if reference {
                products.broadcast_add(bias.as_tensor())
            } else {
                add_bias(&products, bias.as_tensor())
            }
        })
        .collect()
}

/// A PyTorch-layout GRU or LSTM cell as `candle` variables: `weight_ih` `[G·H, I]`, `weight_hh`
/// `[G·H, H]`, `bias_ih` and `bias_hh` `[G·H]` (`G` = 3 gates r, z, n or 4 gates i, f, g, o).
pub(crate) struct CandleCell {
    pub(crate) kind: CellKind,
    pub(crate) hidden: usize,
    pub(crate) weight_ih: Var,
    pub(crate) weight_hh: Var,
    pub(crate) bias_ih: Var,
    pub(crate) bias_hh: Var,
}

impl CandleCell {
    /// PyTorch's initialisation: every tensor uniform in ±1/√H, drawn from `rng` in the order
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub(crate) fn init(
        kind: CellKind,
        input: usize,
        hidden: usize,
        rng: &mut Pcg64,
    ) -> candle_core::Result<CandleCell> {
        let bound = 1.0 / (hidden as f32).sqrt();
        let rows = kind.gates() * hidden;
        Ok(CandleCell {
            kind,
            hidden,
            weight_ih: uniform_var(rng, &[rows, input], bound)?,
            weight_hh: uniform_var(rng, &[rows, hidden], bound)?,
            bias_ih: uniform_var(rng, &[rows], bound)?,
            bias_hh: uniform_var(rng, &[rows], bound)?,
        })
    }

    /// The variables of a trained cell `cell` (its weights copied), for fine-tuning it; an error for a
    /// stacked cell (training runs one layer).
    pub(crate) fn from_cell(cell: &RnnCell) -> candle_core::Result<CandleCell> {
        if cell.layers() != 1 {
            return Err(candle_core::Error::Msg(format!(
                "a {}-layer cell: training and fine-tuning run one-layer cells only",
                cell.layers()
            )));
        }
        let [weight_ih, weight_hh, bias_ih, bias_hh] = cell.tensors();
        let shapes = cell.tensor_shapes();
        let var = |values: &[f32], shape: &[usize]| Var::from_vec(values.to_vec(), shape, &Device::Cpu);
        Ok(CandleCell {
            kind: cell.kind(),
            hidden: cell.hidden_size(),
            weight_ih: var(weight_ih.1, &shapes[0])?,
            weight_hh: var(weight_hh.1, &shapes[1])?,
            bias_ih: var(bias_ih.1, &shapes[2])?,
            bias_hh: var(bias_hh.1, &shapes[3])?,
        })
    }

    /// The four variables, in PyTorch order.
    pub(crate) fn vars(&self) -> Vec<Var> {
        vec![self.weight_ih.clone(), self.weight_hh.clone(), self.bias_ih.clone(), self.bias_hh.clone()]
    }

    /// A zero flat state `[B, S]` (`S` = `H` or `2H`).
    pub(crate) fn zero_state(&self, batch: usize) -> candle_core::Result<Tensor> {
        Tensor::zeros((batch, self.kind.state_len(self.hidden)), DType::F32, &Device::Cpu)
    }

    /// Input-side gate pre-activations `W_i x_t + b_i` of every step, each `[B, G·H]`, for inputs
    /// `[B, T, I]` (see [`step_input_gates`] for the two forms).
    pub(crate) fn input_gates(&self, xs: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        step_input_gates(xs, &self.weight_ih, &self.bias_ih)
    }

    /// `W_h^T`, `[H, G·H]`, computed once per forward pass.
    pub(crate) fn weight_hh_t(&self) -> candle_core::Result<Tensor> {
        self.weight_hh.as_tensor().t()
    }

    /// Hidden-side gate pre-activations `W_h h + b_h`, `[B, G·H]`, for `h` `[B, H]`.
    pub(crate) fn hidden_gates(&self, h: &Tensor, weight_hh_t: &Tensor) -> candle_core::Result<Tensor> {
        let products = h.matmul(weight_hh_t)?;
        if reference_ops() {
            products.broadcast_add(self.bias_hh.as_tensor())
        } else {
            add_bias(&products, self.bias_hh.as_tensor())
        }
    }

    /// `h` `[B, H]` of a flat state: the state itself for a GRU, its first `H` columns for an LSTM.
    pub(crate) fn h(&self, state: &Tensor) -> candle_core::Result<Tensor> {
        match self.kind {
            CellKind::Gru => Ok(state.clone()),
            CellKind::Lstm => state.narrow(1, 0, self.hidden),
        }
    }

    /// What a Skip/SkipW gate reads: `h` for a GRU, `c` (the last `H` columns) for an LSTM (see
    /// [`RnnCell::gate_state`]).
    pub(crate) fn gate_state(&self, state: &Tensor) -> candle_core::Result<Tensor> {
        match self.kind {
            CellKind::Gru => Ok(state.clone()),
            CellKind::Lstm => state.narrow(1, self.hidden, self.hidden),
        }
    }

    /// The cell's update from the gate pre-activations `gi` (input side) and `gh` (hidden side), both
    /// `[B, G·H]`, and the flat state `[B, S]`: the new flat state. GRU (gates r, z, n):
    /// `n = tanh(gi_n + r ⊙ gh_n)`, `h' = n + z ⊙ (h − n)`. LSTM (gates i, f, g, o):
    /// `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`, returned as `[h'; c']`.
    ///
    /// One fused op ([`GruUpdate`], [`LstmUpdate`]) computing exactly what the chain of `candle` ops
    /// in `update_reference` computes, forward and backward, bit for bit.
    pub(crate) fn update(&self, gi: &Tensor, gh: &Tensor, state: &Tensor) -> candle_core::Result<Tensor> {
        if reference_ops() {
            return self.update_reference(gi, gh, state);
        }
        match self.kind {
            CellKind::Gru => GruUpdate::apply(gi, gh, state),
            CellKind::Lstm => LstmUpdate::apply(gi, gh, state),
        }
    }

    /// [`Self::update`] as a chain of `candle` ops (the form every shipped model was trained with,
    /// kept as the reference of the fused ops).
    fn update_reference(&self, gi: &Tensor, gh: &Tensor, state: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = self.hidden;
        match self.kind {
            CellKind::Gru => {
                let h = state;
                let r = candle_nn::ops::sigmoid(&(gi.narrow(1, 0, hidden)? + gh.narrow(1, 0, hidden)?)?)?;
                let z = candle_nn::ops::sigmoid(&(gi.narrow(1, hidden, hidden)? + gh.narrow(1, hidden, hidden)?)?)?;
                let n = (gi.narrow(1, 2 * hidden, hidden)? + (r * gh.narrow(1, 2 * hidden, hidden)?)?)?.tanh()?;
                &n + (z * (h - &n)?)?
            }
            CellKind::Lstm => {
                let gates = (gi + gh)?;
                let i = candle_nn::ops::sigmoid(&gates.narrow(1, 0, hidden)?)?;
                let f = candle_nn::ops::sigmoid(&gates.narrow(1, hidden, hidden)?)?;
                let g = gates.narrow(1, 2 * hidden, hidden)?.tanh()?;
                let o = candle_nn::ops::sigmoid(&gates.narrow(1, 3 * hidden, hidden)?)?;
                let c = state.narrow(1, hidden, hidden)?;
                let c = ((f * c)? + (i * g)?)?;
                let h = (o * c.tanh()?)?;
                Tensor::cat(&[&h, &c], 1)
            }
        }
    }

    /// One step on a batch: `gi` `[B, G·H]` (input gates of this step), the flat state `[B, S]` and
    /// `weight_hh_t` from [`Self::weight_hh_t`]; returns the new flat state.
    pub(crate) fn step(&self, gi: &Tensor, state: &Tensor, weight_hh_t: &Tensor) -> candle_core::Result<Tensor> {
        let gh = self.hidden_gates(&self.h(state)?, weight_hh_t)?;
        self.update(gi, &gh, state)
    }

    /// Final flat states `[B, S]` for inputs `[B, T, I]`, every step updated, from a zero state.
    pub(crate) fn final_state(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, _, _) = xs.dims3()?;
        let weight_hh_t = self.weight_hh_t()?;
        let mut state = self.zero_state(batch)?;
        for gi in self.input_gates(xs)? {
            state = self.step(&gi, &state, &weight_hh_t)?;
        }
        Ok(state)
    }

    /// As [`Self::final_state`] for sequences of `lengths[b]` steps zero-padded to `T`: from step
    /// `lengths[b]` on, row `b`'s state is kept (`s ← s + m_t (s' − s)` with `m_t` = 1 while `t <
    /// lengths[b]`, else 0), so each row ends at the state after its own last step.
    pub(crate) fn final_state_of_lengths(&self, xs: &Tensor, lengths: &[usize]) -> candle_core::Result<Tensor> {
        let (batch, _, _) = xs.dims3()?;
        let weight_hh_t = self.weight_hh_t()?;
        let mut state = self.zero_state(batch)?;
        for (t, gi) in self.input_gates(xs)?.into_iter().enumerate() {
            let mask: Vec<f32> = lengths.iter().map(|&length| if t < length { 1.0 } else { 0.0 }).collect();
            let mask = Tensor::from_vec(mask, (batch, 1), &Device::Cpu)?;
            let next = self.step(&gi, &state, &weight_hh_t)?;
            state = (&state + (next - &state)?.broadcast_mul(&mask)?)?;
        }
        Ok(state)
    }

    /// The trained cell as the crate runs it.
    pub(crate) fn to_cell(&self) -> candle_core::Result<RnnCell> {
        let input = self.weight_ih.dims()[1];
        Ok(RnnCell::new(
            self.kind,
            input,
            self.hidden,
            flat(&self.weight_ih)?,
            flat(&self.weight_hh)?,
            flat(&self.bias_ih)?,
            flat(&self.bias_hh)?,
        )
        .expect("shapes of trained tensors match by construction"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::CellScratch;
    use rand::{Rng, SeedableRng};

    #[test]
    fn both_forms_of_the_step_input_gates_give_the_same_values() {
        let mut rng = Pcg64::seed_from_u64(3);
        let (batch, input, gates) = (3, 2, 6);
        let weight = uniform_var(&mut rng, &[gates, input], 0.5).unwrap();
        let bias = uniform_var(&mut rng, &[gates], 0.5).unwrap();
        for steps in [ONE_MATMUL_MAX_STEPS, ONE_MATMUL_MAX_STEPS + 1] {
            let values: Vec<f32> = (0..batch * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (batch, steps, input), &Device::Cpu).unwrap();
            let per_step = step_input_gates(&xs, &weight, &bias).unwrap();
            assert_eq!(per_step.len(), steps);
            let (w, b) = (flat(&weight).unwrap(), flat(&bias).unwrap());
            for (t, gi) in per_step.iter().enumerate() {
                for (row, got) in gi.to_vec2::<f32>().unwrap().iter().enumerate() {
                    let x = &values[(row * steps + t) * input..][..input];
                    for (g, value) in got.iter().enumerate() {
                        let expected = b[g] + w[g * input] * x[0] + w[g * input + 1] * x[1];
                        assert!((value - expected).abs() < 1e-6, "T={steps} t={t} row {row} gate {g}");
                    }
                }
            }
        }
    }

    /// Largest absolute difference allowed between the crate's cells and the autodiff forward.
    const AUTODIFF_ATOL: f32 = 1e-5;

    #[test]
    fn masked_forward_ends_each_row_at_its_own_length() {
        let mut rng = Pcg64::seed_from_u64(22);
        for kind in CellKind::ALL {
            let (input, hidden, steps) = (2, 6, 9);
            let cell = CandleCell::init(kind, input, hidden, &mut rng).unwrap();
            let lengths = [9, 4, 1];
            let mut values: Vec<f32> = (0..3 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            // Zero padding after each length, as the data sets store it.
            for (b, &length) in lengths.iter().enumerate() {
                values[(b * steps + length) * input..(b + 1) * steps * input].iter_mut().for_each(|v| *v = 0.0);
            }
            let xs = Tensor::from_vec(values.clone(), (3, steps, input), &Device::Cpu).unwrap();
            let got = cell.final_state_of_lengths(&xs, &lengths).unwrap().to_vec2::<f32>().unwrap();
            let ours = cell.to_cell().unwrap();
            for (b, row) in got.iter().enumerate() {
                let mut state = vec![0.0f32; ours.state_len()];
                let mut scratch = CellScratch::new(hidden);
                for x in values[b * steps * input..][..lengths[b] * input].chunks_exact(input) {
                    ours.step(x, &mut state, &mut scratch);
                }
                let worst = state.iter().zip(row).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "{kind} row {b} (length {}): {worst}", lengths[b]);
            }
            // All rows full length: the masked forward is the plain one (up to the rounding of
            // s + (s' − s)).
            let full = cell.final_state_of_lengths(&xs, &[steps; 3]).unwrap().to_vec2::<f32>().unwrap();
            let plain = cell.final_state(&xs).unwrap().to_vec2::<f32>().unwrap();
            for (a, b) in full.iter().flatten().zip(plain.iter().flatten()) {
                assert!((a - b).abs() <= 1e-6, "{kind}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn both_cells_match_the_crate_step_on_the_whole_flat_state() {
        let mut rng = Pcg64::seed_from_u64(21);
        for kind in CellKind::ALL {
            for (input, hidden) in [(1, 8), (3, 20)] {
                let cell = CandleCell::init(kind, input, hidden, &mut rng).unwrap();
                let steps = 10;
                let values: Vec<f32> = (0..2 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
                let xs = Tensor::from_vec(values.clone(), (2, steps, input), &Device::Cpu).unwrap();
                let expected = cell.final_state(&xs).unwrap().to_vec2::<f32>().unwrap();
                let ours = cell.to_cell().unwrap();
                assert_eq!(ours.kind(), kind);
                for (b, row) in expected.iter().enumerate() {
                    let mut state = vec![0.0f32; ours.state_len()];
                    let mut scratch = CellScratch::new(hidden);
                    for x in values[b * steps * input..(b + 1) * steps * input].chunks_exact(input) {
                        ours.step(x, &mut state, &mut scratch);
                    }
                    assert_eq!(row.len(), state.len());
                    let worst = state.iter().zip(row).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
                    assert!(worst <= AUTODIFF_ATOL, "{kind} I={input} H={hidden}: {worst}");
                }
            }
        }
    }
}
