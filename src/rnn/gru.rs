//! The GRU cell with PyTorch's weight layout, and its allocation-free step.
//!
//! Equations (PyTorch `nn.GRUCell`, Cho et al. 2014), gate order r, z, n in every `3H` block:
//! ```text
//! r  = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z  = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 − z) ⊙ n + z ⊙ h
//! ```
//! Shapes: `weight_ih` `[3H, I]`, `weight_hh` `[3H, H]`, `bias_ih` `[3H]`, `bias_hh` `[3H]`, all
//! row-major `f32`, exactly as `nn.GRUCell.state_dict()` stores them.

use super::cell::CellScratch;
use super::kernels::{gru_update, matvec_bias, KernelIsa};

/// Errors in cell shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GRU `{tensor}`: expected {expected} values, found {found}")]
pub struct ShapeError {
    /// Tensor name.
    pub tensor: String,
    /// Expected number of values.
    pub expected: usize,
    /// Found number of values.
    pub found: usize,
}

/// A GRU cell: immutable weights, shared by every stream that runs it; the hidden state is owned by
/// the caller and passed explicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct GruCell {
    input: usize,
    hidden: usize,
    weight_ih: Vec<f32>,
    weight_hh: Vec<f32>,
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    isa: KernelIsa,
}

/// Per-stream scratch space for [`GruCell::step`]: a [`CellScratch`] (`2 × 4H` floats, allocated
/// once; a GRU step uses `3H` of each buffer), the same type an LSTM step uses.
pub type GruScratch = CellScratch;

impl GruCell {
    /// Builds a cell from PyTorch-layout tensors (see the module doc for shapes).
    ///
    /// # Errors
    /// [`ShapeError`] if a tensor's length does not match `input` and `hidden`.
    pub fn new(
        input: usize,
        hidden: usize,
        weight_ih: Vec<f32>,
        weight_hh: Vec<f32>,
        bias_ih: Vec<f32>,
        bias_hh: Vec<f32>,
    ) -> Result<GruCell, ShapeError> {
        let check = |tensor: &str, v: &Vec<f32>, expected: usize| {
            if v.len() == expected {
                Ok(())
            } else {
                Err(ShapeError { tensor: tensor.to_string(), expected, found: v.len() })
            }
        };
        check("weight_ih", &weight_ih, 3 * hidden * input)?;
        check("weight_hh", &weight_hh, 3 * hidden * hidden)?;
        check("bias_ih", &bias_ih, 3 * hidden)?;
        check("bias_hh", &bias_hh, 3 * hidden)?;
        Ok(GruCell { input, hidden, weight_ih, weight_hh, bias_ih, bias_hh, isa: KernelIsa::detect() })
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.input
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The four tensors in PyTorch order: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub fn tensors(&self) -> [(&'static str, &[f32]); 4] {
        [
            ("weight_ih", &self.weight_ih),
            ("weight_hh", &self.weight_hh),
            ("bias_ih", &self.bias_ih),
            ("bias_hh", &self.bias_hh),
        ]
    }

    /// Restricts the kernels to the baseline instruction set (for tests and benchmarks).
    pub fn with_isa(mut self, isa: KernelIsa) -> GruCell {
        self.isa = isa;
        self
    }

    /// FLOPs of one step: `6H(I + H)` for the two matrix–vector products (a multiply–add counts 2)
    /// plus `16H` element-wise operations (6H bias adds, 2H for r/z pre-activations, 2H for n's
    /// pre-activation, 3H nonlinearities, 3H for the update `n + z(h − n)`).
    pub fn flops_per_step(&self) -> u64 {
        (6 * self.hidden * (self.input + self.hidden) + 16 * self.hidden) as u64
    }

    /// Number of parameters `3H(I + H) + 6H`.
    pub fn parameter_count(&self) -> usize {
        3 * self.hidden * (self.input + self.hidden) + 6 * self.hidden
    }

    /// One step in place: reads input `x` (`I` values) and state `h` (`H` values), writes `h'` into `h`.
    /// Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != I`, `h.len() != H` or `scratch` was made for a smaller hidden size.
    #[inline]
    pub fn step(&self, x: &[f32], h: &mut [f32], scratch: &mut GruScratch) {
        let hidden = self.hidden;
        assert_eq!(x.len(), self.input, "GRU step: input size");
        assert_eq!(h.len(), hidden, "GRU step: hidden size");
        let gate_input = &mut scratch.gate_input[..3 * hidden];
        let gate_hidden = &mut scratch.gate_hidden[..3 * hidden];
        if self.input == 1 {
            let x0 = x[0];
            for ((g, w), b) in gate_input.iter_mut().zip(&self.weight_ih).zip(&self.bias_ih) {
                *g = b + w * x0;
            }
        } else {
            matvec_bias(self.isa, &self.weight_ih, x, &self.bias_ih, gate_input);
        }
        matvec_bias(self.isa, &self.weight_hh, h, &self.bias_hh, gate_hidden);
        gru_update(self.isa, gate_input, gate_hidden, h);
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! A scalar, obviously-correct GRU used as the oracle for the fast step.
    pub fn step(
        input: usize,
        hidden: usize,
        w_ih: &[f32],
        w_hh: &[f32],
        b_ih: &[f32],
        b_hh: &[f32],
        x: &[f32],
        h: &[f32],
    ) -> Vec<f32> {
        let gate = |g: usize, j: usize| -> (f64, f64) {
            let row = g * hidden + j;
            let mut gi = b_ih[row] as f64;
            for c in 0..input {
                gi += w_ih[row * input + c] as f64 * x[c] as f64;
            }
            let mut gh = b_hh[row] as f64;
            for c in 0..hidden {
                gh += w_hh[row * hidden + c] as f64 * h[c] as f64;
            }
            (gi, gh)
        };
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        (0..hidden)
            .map(|j| {
                let (ir, hr) = gate(0, j);
                let (iz, hz) = gate(1, j);
                let (inn, hn) = gate(2, j);
                let r = sig(ir + hr);
                let z = sig(iz + hz);
                let n = (inn + r * hn).tanh();
                ((1.0 - z) * n + z * h[j] as f64) as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Largest absolute difference allowed between the f32 step and the f64 scalar reference.
    const REFERENCE_ATOL: f32 = 1e-5;

    fn random_cell(input: usize, hidden: usize, seed: u64) -> GruCell {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        GruCell::new(input, hidden, v(3 * hidden * input), v(3 * hidden * hidden), v(3 * hidden), v(3 * hidden))
            .unwrap()
    }

    #[test]
    fn hand_computed_one_unit_step() {
        // H = 1, I = 1; weights chosen so every gate is easy to evaluate by hand.
        // r = σ(0) = 0.5, z = σ(0) = 0.5, n = tanh(1·x + r·(1·h)) with x = 0.5, h = 1: tanh(1.0).
        let cell = GruCell::new(1, 1, vec![0.0, 0.0, 1.0], vec![0.0, 0.0, 1.0], vec![0.0; 3], vec![0.0; 3]).unwrap();
        let mut h = [1.0f32];
        let mut scratch = GruScratch::new(1);
        cell.step(&[0.5], &mut h, &mut scratch);
        let n = 1.0f32.tanh();
        let expected = 0.5 * n + 0.5 * 1.0;
        assert!((h[0] - expected).abs() < 1e-7, "{} vs {expected}", h[0]);
        assert_eq!(cell.flops_per_step(), 6 * 2 + 16);
    }

    #[test]
    fn step_matches_scalar_reference_at_every_width() {
        for (hidden, input) in [(1, 1), (7, 3), (16, 1), (33, 5), (128, 1)] {
            let cell = random_cell(input, hidden, hidden as u64);
            let mut rng = rand_pcg::Pcg64::seed_from_u64(99);
            let mut h: Vec<f32> = (0..hidden).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut scratch = GruScratch::new(hidden);
            for _ in 0..20 {
                let x: Vec<f32> = (0..input).map(|_| rng.random_range(-1.0..1.0)).collect();
                let [(_, wi), (_, wh), (_, bi), (_, bh)] = cell.tensors();
                let expected = reference::step(input, hidden, wi, wh, bi, bh, &x, &h);
                cell.step(&x, &mut h, &mut scratch);
                let worst = h.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst <= REFERENCE_ATOL, "H={hidden} I={input}: max abs diff {worst}");
            }
        }
    }

    #[test]
    fn baseline_and_detected_isa_agree_bit_for_bit() {
        let fast = random_cell(1, 64, 3);
        let slow = fast.clone().with_isa(KernelIsa::Baseline);
        let (mut h1, mut h2) = (vec![0.1f32; 64], vec![0.1f32; 64]);
        let mut scratch = GruScratch::new(64);
        for t in 0..50 {
            let x = [(t as f32 * 0.37).sin()];
            fast.step(&x, &mut h1, &mut scratch);
            slow.step(&x, &mut h2, &mut scratch);
        }
        assert_eq!(h1, h2);
    }
}
