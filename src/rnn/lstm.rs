//! The LSTM cell with PyTorch's weight layout, its allocation-free step, and an LSTM classifier.
//!
//! Equations (PyTorch `nn.LSTMCell` / `nn.LSTM`, Hochreiter & Schmidhuber 1997 with the forget gate
//! of Gers et al. 2000), gate order i, f, g, o in every `4H` block:
//! ```text
//! i  = σ(W_ii x + b_ii + W_hi h + b_hi)
//! f  = σ(W_if x + b_if + W_hf h + b_hf)
//! g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
//! o  = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ⊙ c + i ⊙ g
//! h' = o ⊙ tanh(c')
//! ```
//! Shapes: `weight_ih` `[4H, I]`, `weight_hh` `[4H, H]`, `bias_ih` `[4H]`, `bias_hh` `[4H]`, all
//! row-major `f32`, exactly as `nn.LSTMCell.state_dict()` stores them (and `nn.LSTM`'s
//! `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0` for one layer). The state is the pair
//! `(h, c)`, both `H` values, owned by the caller.
//!
//! Files: [`lstm_classifier_tensors`] names the tensors as the GRU bank files do (`cell.weight_ih`,
//! …, `readout.weight`, `readout.bias`: the `state_dict()` of a module with `cell = nn.LSTMCell(I, H)`
//! and `readout = nn.Linear(H, C)`).

use std::path::Path;

use safetensors::SafeTensors;

use super::cell::CellScratch;
use super::gru::ShapeError;
use super::io::{ModelIoError, TensorMap};
use super::kernels::{lstm_update, matvec_bias, KernelIsa};
use super::model::argmax;

/// An LSTM cell: immutable weights, shared by every stream that runs it; the state `(h, c)` is owned
/// by the caller and passed explicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmCell {
    input: usize,
    hidden: usize,
    weight_ih: Vec<f32>,
    weight_hh: Vec<f32>,
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    isa: KernelIsa,
}

/// Per-stream scratch space for [`LstmCell::step`]: a [`CellScratch`] (`2 × 4H` floats, allocated
/// once), the same type a GRU step uses.
pub type LstmScratch = CellScratch;

impl LstmCell {
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
    ) -> Result<LstmCell, ShapeError> {
        let check = |tensor: &str, v: &Vec<f32>, expected: usize| {
            if v.len() == expected {
                Ok(())
            } else {
                Err(ShapeError { tensor: tensor.to_string(), expected, found: v.len() })
            }
        };
        check("weight_ih", &weight_ih, 4 * hidden * input)?;
        check("weight_hh", &weight_hh, 4 * hidden * hidden)?;
        check("bias_ih", &bias_ih, 4 * hidden)?;
        check("bias_hh", &bias_hh, 4 * hidden)?;
        Ok(LstmCell { input, hidden, weight_ih, weight_hh, bias_ih, bias_hh, isa: KernelIsa::detect() })
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.input
    }

    /// Hidden size `H` (of `h` and of `c`).
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
    pub fn with_isa(mut self, isa: KernelIsa) -> LstmCell {
        self.isa = isa;
        self
    }

    /// FLOPs of one step: `8H(I + H)` for the two matrix–vector products (a multiply–add counts 2)
    /// plus `21H` element-wise operations (8H bias adds, 4H gate sums, 5H nonlinearities — σ for i, f,
    /// o, tanh for g and for c' —, 3H for `c' = f c + i g`, H for `h' = o tanh c'`).
    pub fn flops_per_step(&self) -> u64 {
        (8 * self.hidden * (self.input + self.hidden) + 21 * self.hidden) as u64
    }

    /// Number of parameters `4H(I + H) + 8H`.
    pub fn parameter_count(&self) -> usize {
        4 * self.hidden * (self.input + self.hidden) + 8 * self.hidden
    }

    /// One step in place: reads input `x` (`I` values) and the state `(h, c)` (`H` values each),
    /// writes `(h', c')` into them. Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != I`, `h.len() != H`, `c.len() != H` or `scratch` was made for a smaller hidden
    /// size.
    #[inline]
    pub fn step(&self, x: &[f32], h: &mut [f32], c: &mut [f32], scratch: &mut LstmScratch) {
        let hidden = self.hidden;
        assert_eq!(x.len(), self.input, "LSTM step: input size");
        assert_eq!(h.len(), hidden, "LSTM step: hidden size");
        assert_eq!(c.len(), hidden, "LSTM step: cell-state size");
        let gate_input = &mut scratch.gate_input[..4 * hidden];
        let gate_hidden = &mut scratch.gate_hidden[..4 * hidden];
        if self.input == 1 {
            let x0 = x[0];
            for ((g, w), b) in gate_input.iter_mut().zip(&self.weight_ih).zip(&self.bias_ih) {
                *g = b + w * x0;
            }
        } else {
            matvec_bias(self.isa, &self.weight_ih, x, &self.bias_ih, gate_input);
        }
        matvec_bias(self.isa, &self.weight_hh, h, &self.bias_hh, gate_hidden);
        lstm_update(self.isa, gate_input, gate_hidden, h, c);
    }
}

/// An LSTM followed by a linear readout applied to the final `h` (the LSTM analogue of
/// [`GruClassifier`](super::GruClassifier)).
#[derive(Debug, Clone, PartialEq)]
pub struct LstmClassifier {
    /// Name (e.g. `lstm-64`).
    pub name: String,
    /// The recurrent cell.
    pub cell: LstmCell,
    /// Readout weight, row-major `[C, H]` (PyTorch `nn.Linear.weight`).
    pub readout_weight: Vec<f32>,
    /// Readout bias `[C]`.
    pub readout_bias: Vec<f32>,
}

impl LstmClassifier {
    /// Number of classes `C`.
    pub fn classes(&self) -> usize {
        self.readout_bias.len()
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.cell.hidden_size()
    }

    /// FLOPs of the readout: `2CH + C`.
    pub fn flops_readout(&self) -> u64 {
        (2 * self.classes() * self.hidden_size() + self.classes()) as u64
    }

    /// Bytes of all parameters as `f32`: `4 · (4H(I+H) + 8H + CH + C)`.
    pub fn param_bytes(&self) -> u64 {
        4 * (self.cell.parameter_count() + self.readout_weight.len() + self.readout_bias.len()) as u64
    }

    /// Writes the `C` logits for final hidden state `h` into `logits`. Allocates nothing.
    pub fn logits_into(&self, h: &[f32], logits: &mut [f32]) {
        let hidden = self.hidden_size();
        for ((out, row), bias) in
            logits.iter_mut().zip(self.readout_weight.chunks_exact(hidden)).zip(&self.readout_bias)
        {
            *out = bias + row.iter().zip(h).map(|(w, v)| w * v).sum::<f32>();
        }
    }

    /// The predicted class (arg-max of the logits; the lowest index wins ties) for final `h`.
    pub fn predict(&self, h: &[f32], logits_scratch: &mut [f32]) -> u32 {
        let logits = &mut logits_scratch[..self.classes()];
        self.logits_into(h, logits);
        argmax(logits) as u32
    }

    /// Runs a whole sequence (`steps × I` values) from a zero state `(h, c)` and returns the
    /// prediction. Allocates its scratch; meant for evaluation, not the simulator's hot path.
    pub fn classify(&self, sequence: &[f32]) -> u32 {
        let mut h = vec![0.0; self.hidden_size()];
        let mut c = vec![0.0; self.hidden_size()];
        let mut scratch = LstmScratch::new(self.hidden_size());
        for x in sequence.chunks_exact(self.cell.input_size()) {
            self.cell.step(x, &mut h, &mut c, &mut scratch);
        }
        self.predict(&h, &mut vec![0.0; self.classes()])
    }
}

/// The tensors of an LSTM classifier, named as [`decode_lstm_classifier`] reads them:
/// `cell.weight_ih` `[4H, I]`, `cell.weight_hh` `[4H, H]`, `cell.bias_ih` `[4H]`, `cell.bias_hh`
/// `[4H]`, `readout.weight` `[C, H]`, `readout.bias` `[C]`.
pub fn lstm_classifier_tensors(model: &LstmClassifier) -> TensorMap {
    let (input, hidden, classes) = (model.cell.input_size(), model.hidden_size(), model.classes());
    let shapes = [vec![4 * hidden, input], vec![4 * hidden, hidden], vec![4 * hidden], vec![4 * hidden]];
    let mut map = TensorMap::new();
    for ((name, values), shape) in model.cell.tensors().into_iter().zip(shapes) {
        map.insert(format!("cell.{name}"), (shape, values.to_vec()));
    }
    map.insert("readout.weight".into(), (vec![classes, hidden], model.readout_weight.clone()));
    map.insert("readout.bias".into(), (vec![classes], model.readout_bias.clone()));
    map
}

/// Decodes an LSTM classifier from safetensors bytes ([`lstm_classifier_tensors`]).
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, non-finite or of the wrong shape.
pub fn decode_lstm_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<LstmClassifier, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let get = |tensor: &str, shape: &[usize]| super::io::tensor_f32(&file, path, tensor, shape);
    let cell = LstmCell::new(
        input,
        hidden,
        get("cell.weight_ih", &[4 * hidden, input])?,
        get("cell.weight_hh", &[4 * hidden, hidden])?,
        get("cell.bias_ih", &[4 * hidden])?,
        get("cell.bias_hh", &[4 * hidden])?,
    )
    .map_err(|e| bad(e.to_string()))?;
    Ok(LstmClassifier {
        name: name.to_string(),
        cell,
        readout_weight: get("readout.weight", &[classes, hidden])?,
        readout_bias: get("readout.bias", &[classes])?,
    })
}

#[cfg(test)]
pub(crate) mod reference {
    //! A scalar, obviously-correct LSTM in `f64`, the oracle for the fast step.

    /// One step; returns `(h', c')`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        input: usize,
        hidden: usize,
        w_ih: &[f32],
        w_hh: &[f32],
        b_ih: &[f32],
        b_hh: &[f32],
        x: &[f32],
        h: &[f32],
        c: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let gate = |g: usize, j: usize| -> f64 {
            let row = g * hidden + j;
            let mut sum = b_ih[row] as f64 + b_hh[row] as f64;
            for k in 0..input {
                sum += w_ih[row * input + k] as f64 * x[k] as f64;
            }
            for k in 0..hidden {
                sum += w_hh[row * hidden + k] as f64 * h[k] as f64;
            }
            sum
        };
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (mut h_new, mut c_new) = (Vec::with_capacity(hidden), Vec::with_capacity(hidden));
        for (j, &c_old) in c.iter().enumerate().take(hidden) {
            let i = sig(gate(0, j));
            let f = sig(gate(1, j));
            let g = gate(2, j).tanh();
            let o = sig(gate(3, j));
            let c_j = f * c_old as f64 + i * g;
            c_new.push(c_j as f32);
            h_new.push((o * c_j.tanh()) as f32);
        }
        (h_new, c_new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Largest absolute difference allowed between the f32 step and the f64 scalar reference.
    const REFERENCE_ATOL: f32 = 1e-5;

    fn random_cell(input: usize, hidden: usize, seed: u64) -> LstmCell {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        LstmCell::new(input, hidden, v(4 * hidden * input), v(4 * hidden * hidden), v(4 * hidden), v(4 * hidden))
            .unwrap()
    }

    #[test]
    fn hand_computed_one_unit_step() {
        // H = 1, I = 1, zero weights except the g row (weight_ih 1): i = f = o = σ(0) = 0.5,
        // g = tanh(x) with x = 0.5; c' = 0.5·c + 0.5·tanh(0.5) with c = 1; h' = 0.5·tanh(c').
        let cell = LstmCell::new(1, 1, vec![0.0, 0.0, 1.0, 0.0], vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]).unwrap();
        let (mut h, mut c) = ([0.3f32], [1.0f32]);
        let mut scratch = LstmScratch::new(1);
        cell.step(&[0.5], &mut h, &mut c, &mut scratch);
        let c_expected = 0.5 + 0.5 * 0.5f32.tanh();
        assert!((c[0] - c_expected).abs() < 1e-6, "{} vs {c_expected}", c[0]);
        assert!((h[0] - 0.5 * c_expected.tanh()).abs() < 1e-6);
        // 8·1·2 + 21
        assert_eq!(cell.flops_per_step(), 37);
        assert_eq!(cell.parameter_count(), 4 * 2 + 8);
    }

    #[test]
    fn flops_hand_computed_at_128() {
        let cell = random_cell(1, 128, 1);
        // 8·128·129 + 21·128 = 132 096 + 2 688
        assert_eq!(cell.flops_per_step(), 134_784);
    }

    #[test]
    fn step_matches_scalar_reference_at_every_width() {
        for (hidden, input) in [(1, 1), (7, 3), (16, 1), (33, 5), (128, 1)] {
            let cell = random_cell(input, hidden, hidden as u64);
            let mut rng = rand_pcg::Pcg64::seed_from_u64(99);
            let mut h: Vec<f32> = (0..hidden).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut c: Vec<f32> = (0..hidden).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut scratch = LstmScratch::new(hidden);
            for _ in 0..20 {
                let x: Vec<f32> = (0..input).map(|_| rng.random_range(-1.0..1.0)).collect();
                let [(_, wi), (_, wh), (_, bi), (_, bh)] = cell.tensors();
                let (h_ref, c_ref) = reference::step(input, hidden, wi, wh, bi, bh, &x, &h, &c);
                cell.step(&x, &mut h, &mut c, &mut scratch);
                let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
                assert!(worst(&h, &h_ref) <= REFERENCE_ATOL, "H={hidden} I={input}: h off by {}", worst(&h, &h_ref));
                assert!(worst(&c, &c_ref) <= REFERENCE_ATOL, "H={hidden} I={input}: c off by {}", worst(&c, &c_ref));
            }
        }
    }

    #[test]
    fn baseline_and_detected_isa_agree_bit_for_bit() {
        for input in [1, 4] {
            let fast = random_cell(input, 64, 3);
            let slow = fast.clone().with_isa(KernelIsa::Baseline);
            let (mut h1, mut c1) = (vec![0.1f32; 64], vec![0.0f32; 64]);
            let (mut h2, mut c2) = (h1.clone(), c1.clone());
            let mut scratch = LstmScratch::new(64);
            for t in 0..50 {
                let x: Vec<f32> = (0..input).map(|k| ((t * 3 + k) as f32 * 0.37).sin()).collect();
                fast.step(&x, &mut h1, &mut c1, &mut scratch);
                slow.step(&x, &mut h2, &mut c2, &mut scratch);
            }
            assert_eq!((h1, c1), (h2, c2));
        }
    }

    #[test]
    fn classifier_round_trips_through_safetensors() {
        let cell = random_cell(2, 5, 8);
        let model = LstmClassifier {
            name: "m".into(),
            cell,
            readout_weight: vec![0.25; 15],
            readout_bias: vec![0.0, 0.1, 0.2],
        };
        assert_eq!(model.param_bytes(), 4 * (4 * 5 * 7 + 40 + 15 + 3));
        assert_eq!(model.flops_readout(), 2 * 3 * 5 + 3);
        let bytes = super::super::io::encode_tensors(&lstm_classifier_tensors(&model));
        let back = decode_lstm_classifier(&bytes, Path::new("m.safetensors"), "m", 2, 5, 3).unwrap();
        assert_eq!(back, model);
        let err = decode_lstm_classifier(&bytes, Path::new("m.safetensors"), "m", 2, 6, 3).unwrap_err();
        assert!(err.to_string().contains("cell.weight_ih"), "{err}");
        let _ = model.classify(&[0.5; 8]);
    }
}
