//! The recurrent cell: one structure for GRU and LSTM cells, parameterised by its gate set.
//!
//! A GRU and an LSTM cell hold the same tensors in PyTorch's layout — `weight_ih` `[G·H, I]`,
//! `weight_hh` `[G·H, H]`, `bias_ih` `[G·H]`, `bias_hh` `[G·H]`, all row-major `f32`, exactly as
//! `nn.GRUCell.state_dict()` / `nn.LSTMCell.state_dict()` store them — and differ only in the gate set
//! `G` ([`CellKind::gates`]: 3 or 4), the length of the state and the element-wise update that follows
//! the two matrix–vector products. So [`RnnCell`] is one struct with a [`CellKind`] field, and its step
//! is one code path whose last line dispatches to [`gru_update`] or [`lstm_update`].
//! (A type parameter over a gate-set trait was the alternative; a field keeps one concrete type that
//! banks, Skip models and nested models store without generics, and the one `match` per step costs
//! nothing next to the `G·H(I + H)` products.)
//!
//! GRU equations (PyTorch `nn.GRUCell`, Cho et al. 2014), gate order r, z, n in every `3H` block:
//! ```text
//! r  = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z  = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 − z) ⊙ n + z ⊙ h
//! ```
//! LSTM equations (PyTorch `nn.LSTMCell` / one layer of `nn.LSTM`, Hochreiter & Schmidhuber 1997 with
//! the forget gate of Gers et al. 2000), gate order i, f, g, o in every `4H` block:
//! ```text
//! i  = σ(W_ii x + b_ii + W_hi h + b_hi)
//! f  = σ(W_if x + b_if + W_hf h + b_hf)
//! g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
//! o  = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ⊙ c + i ⊙ g
//! h' = o ⊙ tanh(c')
//! ```
//! The state is one flat vector owned by the caller:
//!
//! | cell | state layout | [`RnnCell::state_len`] | what the readout reads | what a Skip/SkipW gate reads ([`RnnCell::gate_state`]) |
//! |---|---|---|---|---|
//! | GRU | `h` | `H` | `h` | `h` |
//! | LSTM | `[h; c]` | `2H` | `h` (the first `H` values) | `c` (Campos et al. 2018, §3: the Skip-LSTM's update probability is computed from the cell state) |
//!
//! Both kinds share one scratch type, [`CellScratch`] (`2 × 4H` floats, enough for either), so a
//! GRU stream and an LSTM stream allocate alike; the GRU uses only its first `3H` values of each buffer.
//!
//! **Stacked layers** (PyTorch `nn.GRU` / `nn.LSTM` with `num_layers = L ≥ 2`, one direction): layer
//! `l > 0` is a cell of the same kind and hidden size whose input is layer `l − 1`'s new `h` of the
//! same step (input size `H`); no dropout (inference). The flat state holds every layer's state,
//! **top layer first** — `[s_{L−1}; …; s_1; s_0]`, each `s_l` the layer's own `h` or `[h; c]` — so the
//! first `H` values are still the top layer's `h`, what the readout reads, and a one-layer cell's
//! state is exactly as before. A step's FLOPs and parameters are the sum of its layers'.

use super::kernels::{gru_update, lstm_update, matmat_bias, matvec_bias, KernelIsa};

/// Per-stream scratch space of a cell step: `2 × 4 · max_hidden` floats, allocated once. Serves
/// [`RnnCell::step`] of either kind (a GRU uses `3H` of each buffer) and the nested-width step.
#[derive(Debug, Clone, PartialEq)]
pub struct CellScratch {
    pub(crate) gate_input: Vec<f32>,
    pub(crate) gate_hidden: Vec<f32>,
}

impl CellScratch {
    /// Scratch for cells (GRU or LSTM) of hidden size up to `max_hidden`.
    pub fn new(max_hidden: usize) -> CellScratch {
        CellScratch { gate_input: vec![0.0; 4 * max_hidden], gate_hidden: vec![0.0; 4 * max_hidden] }
    }
}

/// Scratch space of a batched cell step ([`RnnCell::step_batch`], and the nested-width
/// [`crate::rnn::nested::NestedRnn::step_batch`]) for up to `capacity` streams: the gate
/// pre-activations of every stream side by side (`capacity × 4 · max_hidden` floats each) and room to
/// pack the streams' `h` and a stacked layer's inputs (`capacity × max_hidden` each). Allocated once
/// per batch; a step allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchScratch {
    capacity: usize,
    max_hidden: usize,
    pub(crate) gate_input: Vec<f32>,
    pub(crate) gate_hidden: Vec<f32>,
    /// The streams' `h` (of the layer being stepped), packed `batch × H`.
    pub(crate) hidden: Vec<f32>,
    /// A stacked layer's inputs (the new `h` of the layer below), packed `batch × H`.
    pub(crate) layer_input: Vec<f32>,
}

impl BatchScratch {
    /// Scratch for batches of up to `capacity` streams through cells (GRU or LSTM) of hidden size up
    /// to `max_hidden`.
    pub fn new(capacity: usize, max_hidden: usize) -> BatchScratch {
        BatchScratch {
            capacity,
            max_hidden,
            gate_input: vec![0.0; capacity * 4 * max_hidden],
            gate_hidden: vec![0.0; capacity * 4 * max_hidden],
            hidden: vec![0.0; capacity * max_hidden],
            layer_input: vec![0.0; capacity * max_hidden],
        }
    }

    /// The most streams a batched step may take with this scratch.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest hidden size this scratch serves.
    pub fn max_hidden(&self) -> usize {
        self.max_hidden
    }
}

/// A tensor of the wrong length given to [`RnnCell::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} cell `{tensor}`: expected {expected} values, found {found}")]
pub struct ShapeError {
    /// The cell's kind.
    pub kind: CellKind,
    /// Tensor name (`weight_ih`, `weight_hh`, `bias_ih` or `bias_hh`).
    pub tensor: String,
    /// Expected number of values.
    pub expected: usize,
    /// Found number of values.
    pub found: usize,
}

/// The kind of a recurrent cell, as model cards spell it (`"cell": "gru"` or `"lstm"`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// PyTorch `nn.GRUCell` (gates r, z, n).
    #[default]
    Gru,
    /// PyTorch `nn.LSTMCell` (gates i, f, g, o).
    Lstm,
}

impl CellKind {
    /// Both kinds, GRU first.
    pub const ALL: [CellKind; 2] = [CellKind::Gru, CellKind::Lstm];

    /// The card spelling: `gru` or `lstm`.
    pub fn as_str(self) -> &'static str {
        match self {
            CellKind::Gru => "gru",
            CellKind::Lstm => "lstm",
        }
    }

    /// Parses the card spelling (`gru` or `lstm`); `None` for anything else.
    pub fn parse(text: &str) -> Option<CellKind> {
        match text {
            "gru" => Some(CellKind::Gru),
            "lstm" => Some(CellKind::Lstm),
            _ => None,
        }
    }

    /// Gate blocks per weight matrix, the size of the gate set: 3 (GRU: r, z, n) or 4 (LSTM: i, f, g,
    /// o); `weight_ih` is `[gates · H, I]`.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Gru => 3,
            CellKind::Lstm => 4,
        }
    }

    /// Length of the flat state for hidden size `hidden`: `H` (GRU) or `2H` (LSTM, `[h; c]`).
    pub fn state_len(self, hidden: usize) -> usize {
        match self {
            CellKind::Gru => hidden,
            CellKind::Lstm => 2 * hidden,
        }
    }

    /// FLOPs of one step of a cell of this kind with input `I` and hidden `H`, a multiply–add
    /// counting 2 and a nonlinearity 1:
    /// - GRU: `6H(I + H)` for the two matrix–vector products plus `16H` element-wise operations (6H
    ///   bias adds, 2H for r/z pre-activations, 2H for n's pre-activation, 3H nonlinearities, 3H for
    ///   the update `n + z(h − n)`);
    /// - LSTM: `8H(I + H)` plus `21H` (8H bias adds, 4H gate sums, 5H nonlinearities — σ for i, f, o,
    ///   tanh for g and for c' —, 3H for `c' = f c + i g`, H for `h' = o tanh c'`).
    pub fn flops_per_step(self, input: usize, hidden: usize) -> u64 {
        match self {
            CellKind::Gru => (6 * hidden * (input + hidden) + 16 * hidden) as u64,
            CellKind::Lstm => (8 * hidden * (input + hidden) + 21 * hidden) as u64,
        }
    }

    /// Number of parameters of a cell of this kind: `G·H(I + H) + 2G·H` with `G` = [`Self::gates`]
    /// (`3H(I + H) + 6H` for a GRU, `4H(I + H) + 8H` for an LSTM).
    pub fn parameter_count(self, input: usize, hidden: usize) -> usize {
        self.gates() * hidden * (input + hidden) + 2 * self.gates() * hidden
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four tensors of one layer above the first of a stacked cell, in PyTorch's layout for an input
/// of `H` values: `weight_ih` `[G·H, H]`, `weight_hh` `[G·H, H]`, `bias_ih` `[G·H]`, `bias_hh`
/// `[G·H]` (PyTorch's `weight_ih_l{l}` … of `nn.GRU` / `nn.LSTM`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// `[G·H, H]`, row-major.
    pub weight_ih: Vec<f32>,
    /// `[G·H, H]`, row-major.
    pub weight_hh: Vec<f32>,
    /// `[G·H]`.
    pub bias_ih: Vec<f32>,
    /// `[G·H]`.
    pub bias_hh: Vec<f32>,
}

/// A recurrent cell (GRU or LSTM, see the module doc): immutable weights in PyTorch's layout, shared
/// by every stream that runs it; each stream owns its flat state (`h`, or `[h; c]`, per layer, top
/// layer first) and a [`CellScratch`]. One layer unless built with [`RnnCell::with_upper_layers`].
#[derive(Debug, Clone, PartialEq)]
pub struct RnnCell {
    kind: CellKind,
    input: usize,
    hidden: usize,
    weight_ih: Vec<f32>,
    weight_hh: Vec<f32>,
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    /// Layers 1, 2, … of a stacked cell (empty for one layer).
    upper: Vec<LayerWeights>,
    isa: KernelIsa,
}

impl RnnCell {
    /// Builds a cell of `kind` from PyTorch-layout tensors (`weight_ih` `[G·H, I]`, `weight_hh`
    /// `[G·H, H]`, `bias_ih` and `bias_hh` `[G·H]`, with `G` = [`CellKind::gates`]); the kernels run
    /// the best instruction set of this CPU ([`KernelIsa::detect`]).
    ///
    /// # Errors
    /// [`ShapeError`] if a tensor's length does not match `input` and `hidden`.
    pub fn new(
        kind: CellKind,
        input: usize,
        hidden: usize,
        weight_ih: Vec<f32>,
        weight_hh: Vec<f32>,
        bias_ih: Vec<f32>,
        bias_hh: Vec<f32>,
    ) -> Result<RnnCell, ShapeError> {
        let rows = kind.gates() * hidden;
        let check = |tensor: &str, v: &Vec<f32>, expected: usize| {
            if v.len() == expected {
                Ok(())
            } else {
                Err(ShapeError { kind, tensor: tensor.to_string(), expected, found: v.len() })
            }
        };
        check("weight_ih", &weight_ih, rows * input)?;
        check("weight_hh", &weight_hh, rows * hidden)?;
        check("bias_ih", &bias_ih, rows)?;
        check("bias_hh", &bias_hh, rows)?;
        Ok(RnnCell {
            kind,
            input,
            hidden,
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            upper: Vec::new(),
            isa: KernelIsa::detect(),
        })
    }

    /// This cell (layer 0) with `upper` stacked on it: layer `l` (1-based index into `upper` plus one)
    /// reads layer `l − 1`'s new `h` (see the module doc). Replaces any upper layers it had.
    ///
    /// # Errors
    /// [`ShapeError`] naming the tensor as PyTorch does (`weight_ih_l1`, …) if a length does not match
    /// `[G·H, H]` / `[G·H]`.
    pub fn with_upper_layers(mut self, upper: Vec<LayerWeights>) -> Result<RnnCell, ShapeError> {
        let (kind, hidden) = (self.kind, self.hidden);
        let rows = kind.gates() * hidden;
        for (index, layer) in upper.iter().enumerate() {
            let l = index + 1;
            for (name, values, expected) in [
                ("weight_ih", &layer.weight_ih, rows * hidden),
                ("weight_hh", &layer.weight_hh, rows * hidden),
                ("bias_ih", &layer.bias_ih, rows),
                ("bias_hh", &layer.bias_hh, rows),
            ] {
                if values.len() != expected {
                    return Err(ShapeError { kind, tensor: format!("{name}_l{l}"), expected, found: values.len() });
                }
            }
        }
        self.upper = upper;
        Ok(self)
    }

    /// Number of stacked layers `L` (1 for a single cell).
    pub fn layers(&self) -> usize {
        1 + self.upper.len()
    }

    /// Length of one layer's state: `H` (GRU) or `2H` (LSTM).
    pub fn layer_state_len(&self) -> usize {
        self.kind.state_len(self.hidden)
    }

    /// Where layer `layer`'s state (`h`, or `[h; c]`) sits in the flat state: layers are stored top
    /// first, so layer `l` of `L` starts at `(L − 1 − l) · S` with `S` = [`Self::layer_state_len`].
    ///
    /// # Panics
    /// If `layer ≥ L`.
    pub fn layer_range(&self, layer: usize) -> std::ops::Range<usize> {
        assert!(layer < self.layers(), "layer {layer} of a {}-layer cell", self.layers());
        let per = self.layer_state_len();
        let start = (self.layers() - 1 - layer) * per;
        start..start + per
    }

    /// The tensors of layer `layer` in PyTorch order (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`,
    /// named without the `_l{l}` suffix) and their shapes (`[G·H, I or H]`, `[G·H, H]`, `[G·H]`,
    /// `[G·H]`).
    ///
    /// # Panics
    /// If `layer ≥ L`.
    pub fn layer_tensors(&self, layer: usize) -> [(&'static str, &[f32], Vec<usize>); 4] {
        let rows = self.kind.gates() * self.hidden;
        let (ih, hh, bi, bh, cols) = match layer {
            0 => (&self.weight_ih, &self.weight_hh, &self.bias_ih, &self.bias_hh, self.input),
            l => {
                let w = &self.upper[l - 1];
                (&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, self.hidden)
            }
        };
        [
            ("weight_ih", ih, vec![rows, cols]),
            ("weight_hh", hh, vec![rows, self.hidden]),
            ("bias_ih", bi, vec![rows]),
            ("bias_hh", bh, vec![rows]),
        ]
    }

    /// A GRU cell ([`Self::new`] with [`CellKind::Gru`]: tensors of `3H` rows).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn gru(
        input: usize,
        hidden: usize,
        weight_ih: Vec<f32>,
        weight_hh: Vec<f32>,
        bias_ih: Vec<f32>,
        bias_hh: Vec<f32>,
    ) -> Result<RnnCell, ShapeError> {
        RnnCell::new(CellKind::Gru, input, hidden, weight_ih, weight_hh, bias_ih, bias_hh)
    }

    /// An LSTM cell ([`Self::new`] with [`CellKind::Lstm`]: tensors of `4H` rows).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn lstm(
        input: usize,
        hidden: usize,
        weight_ih: Vec<f32>,
        weight_hh: Vec<f32>,
        bias_ih: Vec<f32>,
        bias_hh: Vec<f32>,
    ) -> Result<RnnCell, ShapeError> {
        RnnCell::new(CellKind::Lstm, input, hidden, weight_ih, weight_hh, bias_ih, bias_hh)
    }

    /// Which kind of cell this is.
    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.input
    }

    /// Hidden size `H` (of `h`; an LSTM's `c` has `H` values too).
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Length of the flat state: `H` (GRU) or `2H` (LSTM) per layer, times the number of layers.
    pub fn state_len(&self) -> usize {
        self.layers() * self.kind.state_len(self.hidden)
    }

    /// The four tensors of layer 0 (of the whole cell when it has one layer) in PyTorch order: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub fn tensors(&self) -> [(&'static str, &[f32]); 4] {
        [
            ("weight_ih", &self.weight_ih),
            ("weight_hh", &self.weight_hh),
            ("bias_ih", &self.bias_ih),
            ("bias_hh", &self.bias_hh),
        ]
    }

    /// Their shapes (layer 0): `[G·H, I]`, `[G·H, H]`, `[G·H]`, `[G·H]` with `G` = [`CellKind::gates`].
    pub fn tensor_shapes(&self) -> [Vec<usize>; 4] {
        let rows = self.kind.gates() * self.hidden;
        [vec![rows, self.input], vec![rows, self.hidden], vec![rows], vec![rows]]
    }

    /// The instruction set its kernels run.
    pub fn isa(&self) -> KernelIsa {
        self.isa
    }

    /// Runs the kernels on `isa` instead (e.g. [`KernelIsa::baseline`], for tests and benchmarks);
    /// results are bit-identical.
    pub fn with_isa(mut self, isa: KernelIsa) -> RnnCell {
        self.isa = isa;
        self
    }

    /// FLOPs of one step ([`CellKind::flops_per_step`]), summed over the layers: layer 0 with input
    /// `I`, each layer above with input `H`.
    pub fn flops_per_step(&self) -> u64 {
        self.kind.flops_per_step(self.input, self.hidden)
            + self.upper.len() as u64 * self.kind.flops_per_step(self.hidden, self.hidden)
    }

    /// Number of parameters ([`CellKind::parameter_count`]): `3H(I + H) + 6H` (GRU) or
    /// `4H(I + H) + 8H` (LSTM) for layer 0, plus those of each layer above (input `H`).
    pub fn parameter_count(&self) -> usize {
        self.kind.parameter_count(self.input, self.hidden)
            + self.upper.len() * self.kind.parameter_count(self.hidden, self.hidden)
    }

    /// One step in place on the flat state (`h` for a GRU, `[h; c]` for an LSTM; per layer, top layer
    /// first, for a stacked cell): reads input `x` (`I` values) and the state, writes the new state
    /// into it. Per layer, bottom up: the two matrix–vector products, then the kind's element-wise
    /// update ([`gru_update`] or [`lstm_update`]); layer `l > 0` reads layer `l − 1`'s new `h`.
    /// Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != I`, `state.len()` is not [`Self::state_len`] or `scratch` was made for a smaller
    /// hidden size.
    #[inline]
    pub fn step(&self, x: &[f32], state: &mut [f32], scratch: &mut CellScratch) {
        let hidden = self.hidden;
        let per = self.kind.state_len(hidden);
        let layers = self.layers();
        assert_eq!(x.len(), self.input, "{} step: input size", self.kind);
        assert_eq!(state.len(), layers * per, "{} step: state size (h, or [h; c], per layer)", self.kind);
        let bottom = (layers - 1) * per;
        self.layer_step(
            &self.weight_ih,
            &self.weight_hh,
            &self.bias_ih,
            &self.bias_hh,
            x,
            &mut state[bottom..],
            scratch,
        );
        for (index, layer) in self.upper.iter().enumerate() {
            // Layer `index + 1` sits just above (before) layer `index`, whose new `h` opens `below`.
            let split = bottom - index * per;
            let (above, below) = state.split_at_mut(split);
            let own = &mut above[split - per..];
            self.layer_step(
                &layer.weight_ih,
                &layer.weight_hh,
                &layer.bias_ih,
                &layer.bias_hh,
                &below[..hidden],
                own,
                scratch,
            );
        }
    }

    /// One layer's step on its own state block `own` (`h`, or `[h; c]`) with input `x`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn layer_step(
        &self,
        weight_ih: &[f32],
        weight_hh: &[f32],
        bias_ih: &[f32],
        bias_hh: &[f32],
        x: &[f32],
        own: &mut [f32],
        scratch: &mut CellScratch,
    ) {
        let hidden = self.hidden;
        let rows = self.kind.gates() * hidden;
        let gate_input = &mut scratch.gate_input[..rows];
        let gate_hidden = &mut scratch.gate_hidden[..rows];
        if x.len() == 1 {
            let x0 = x[0];
            for ((g, w), b) in gate_input.iter_mut().zip(weight_ih).zip(bias_ih) {
                *g = b + w * x0;
            }
        } else {
            matvec_bias(self.isa, weight_ih, x, bias_ih, gate_input);
        }
        // `c` is empty for a GRU.
        let (h, c) = own.split_at_mut(hidden);
        matvec_bias(self.isa, weight_hh, h, bias_hh, gate_hidden);
        match self.kind {
            CellKind::Gru => gru_update(self.isa, gate_input, gate_hidden, h),
            CellKind::Lstm => lstm_update(self.isa, gate_input, gate_hidden, h, c),
        }
    }

    /// One step of `batch` streams in lockstep through the same weights: `xs` holds their inputs
    /// packed (`batch × I`), `states` their flat states packed (`batch × `[`Self::state_len`], each as
    /// [`Self::step`] takes it). Per layer, bottom up, the two products of all streams go through the
    /// matrix–matrix kernel ([`matmat_bias`]: each weight load serves several streams), then each
    /// stream's element-wise update runs as in [`Self::step`].
    ///
    /// **Every stream's new state has exactly the bits [`Self::step`] gives it alone**: the batched
    /// kernel keeps the single-stream kernel's accumulation order, the one-input path is the same
    /// expression, and the updates are the same functions. Allocates nothing.
    ///
    /// # Panics
    /// If `xs.len() != batch · I` or `states.len() != batch · `[`Self::state_len`] for one `batch`, or
    /// `scratch` was made for fewer streams or a smaller hidden size.
    pub fn step_batch(&self, xs: &[f32], states: &mut [f32], scratch: &mut BatchScratch) {
        let hidden = self.hidden;
        let per = self.kind.state_len(hidden);
        let state_len = self.state_len();
        let batch = states.len() / state_len;
        assert_eq!(states.len(), batch * state_len, "{} batch step: states size (batch × state length)", self.kind);
        assert_eq!(xs.len(), batch * self.input, "{} batch step: inputs size (batch × input size)", self.kind);
        assert!(
            batch <= scratch.capacity && hidden <= scratch.max_hidden,
            "{} batch step: scratch for {} streams of hidden size {}, asked for {batch} of {hidden}",
            self.kind,
            scratch.capacity,
            scratch.max_hidden
        );
        let layers = self.layers();
        let bottom = (layers - 1) * per;
        let BatchScratch { gate_input, gate_hidden, hidden: packed_h, layer_input, .. } = scratch;
        let mut buffers = BatchBuffers { gate_input, gate_hidden, packed_h };
        let bottom_weights = (&self.weight_ih[..], &self.weight_hh[..], &self.bias_ih[..], &self.bias_hh[..]);
        self.layer_step_batch(bottom_weights, xs, self.input, states, bottom, &mut buffers);
        for (index, layer) in self.upper.iter().enumerate() {
            // Layer `index + 1` sits just above (before) layer `index`, whose new `h` is its input.
            let below = bottom - index * per;
            let own = below - per;
            let inputs = &mut layer_input[..batch * hidden];
            for (packed, state) in inputs.chunks_exact_mut(hidden).zip(states.chunks_exact(state_len)) {
                packed.copy_from_slice(&state[below..below + hidden]);
            }
            let weights = (&layer.weight_ih[..], &layer.weight_hh[..], &layer.bias_ih[..], &layer.bias_hh[..]);
            self.layer_step_batch(weights, &layer_input[..batch * hidden], hidden, states, own, &mut buffers);
        }
    }

    /// One layer of [`Self::step_batch`]: the layer's state is `state[offset .. offset + per]` of
    /// every stream's flat state, its inputs `xs` (`batch × cols`, packed).
    #[inline]
    fn layer_step_batch(
        &self,
        (weight_ih, weight_hh, bias_ih, bias_hh): (&[f32], &[f32], &[f32], &[f32]),
        xs: &[f32],
        cols: usize,
        states: &mut [f32],
        offset: usize,
        buffers: &mut BatchBuffers<'_>,
    ) {
        let hidden = self.hidden;
        let rows = self.kind.gates() * hidden;
        let per = self.kind.state_len(hidden);
        let state_len = self.state_len();
        let batch = states.len() / state_len;
        let gate_input = &mut buffers.gate_input[..batch * rows];
        let gate_hidden = &mut buffers.gate_hidden[..batch * rows];
        let packed_h = &mut buffers.packed_h[..batch * hidden];
        if cols == 1 {
            // The same expression as `layer_step`'s one-input path, for identical bits.
            for (out, x) in gate_input.chunks_exact_mut(rows).zip(xs) {
                let x0 = *x;
                for ((g, w), b) in out.iter_mut().zip(weight_ih).zip(bias_ih) {
                    *g = b + w * x0;
                }
            }
        } else {
            matmat_bias(self.isa, weight_ih, xs, bias_ih, gate_input);
        }
        for (packed, state) in packed_h.chunks_exact_mut(hidden).zip(states.chunks_exact(state_len)) {
            packed.copy_from_slice(&state[offset..offset + hidden]);
        }
        matmat_bias(self.isa, weight_hh, packed_h, bias_hh, gate_hidden);
        for ((state, gi), gh) in
            states.chunks_exact_mut(state_len).zip(gate_input.chunks_exact(rows)).zip(gate_hidden.chunks_exact(rows))
        {
            // `c` is empty for a GRU.
            let (h, c) = state[offset..offset + per].split_at_mut(hidden);
            match self.kind {
                CellKind::Gru => gru_update(self.isa, gi, gh, h),
                CellKind::Lstm => lstm_update(self.isa, gi, gh, h, c),
            }
        }
    }

    /// The part of the flat state that Skip and SkipW gates read: all of `h` for a GRU, `c` for an
    /// LSTM (see the module doc; of the top layer, the first block). `state` must be
    /// [`Self::state_len`] long.
    #[inline]
    pub fn gate_state<'a>(&self, state: &'a [f32]) -> &'a [f32] {
        match self.kind {
            CellKind::Gru => &state[..self.hidden],
            CellKind::Lstm => &state[self.hidden..2 * self.hidden],
        }
    }
}

/// The scratch buffers of one batched layer step, borrowed apart from the packed layer inputs.
struct BatchBuffers<'a> {
    gate_input: &'a mut [f32],
    gate_hidden: &'a mut [f32],
    packed_h: &'a mut [f32],
}

#[cfg(test)]
mod gru_reference {
    //! A scalar, obviously-correct GRU used as the oracle for the fast step.

    /// One step; returns `h'`.
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
mod lstm_reference {
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

    fn random_cell(kind: CellKind, input: usize, hidden: usize, seed: u64) -> RnnCell {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let scale = 1.0 / (hidden as f32).sqrt();
        let mut v = |n: usize| (0..n).map(|_| rng.random_range(-scale..scale)).collect::<Vec<f32>>();
        let rows = kind.gates() * hidden;
        RnnCell::new(kind, input, hidden, v(rows * input), v(rows * hidden), v(rows), v(rows)).unwrap()
    }

    #[test]
    fn kinds_spell_and_size_as_cards_do() {
        for kind in CellKind::ALL {
            assert_eq!(CellKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!(CellKind::parse("rnn"), None);
        assert_eq!((CellKind::Gru.state_len(8), CellKind::Lstm.state_len(8)), (8, 16));
        assert_eq!(CellKind::Gru.flops_per_step(1, 16), 1888);
        assert_eq!(CellKind::Lstm.flops_per_step(1, 128), 134_784);
        assert_eq!((CellKind::Gru.parameter_count(2, 3), CellKind::Lstm.parameter_count(1, 1)), (3 * 3 * 5 + 18, 16));
    }

    #[test]
    fn shapes_are_checked_per_gate_set() {
        let err = RnnCell::gru(1, 2, vec![0.0; 8], vec![0.0; 12], vec![0.0; 6], vec![0.0; 6]).unwrap_err();
        assert_eq!(err.to_string(), "gru cell `weight_ih`: expected 6 values, found 8");
        // The same tensors are an LSTM's of hidden 2 (4 gates × 2 rows).
        let lstm = RnnCell::lstm(1, 2, vec![0.0; 8], vec![0.0; 16], vec![0.0; 8], vec![0.0; 8]).unwrap();
        assert_eq!((lstm.state_len(), lstm.tensor_shapes()[1].clone()), (4, vec![8, 2]));
    }

    #[test]
    fn gru_hand_computed_one_unit_step() {
        // H = 1, I = 1; weights chosen so every gate is easy to evaluate by hand.
        // r = σ(0) = 0.5, z = σ(0) = 0.5, n = tanh(1·x + r·(1·h)) with x = 0.5, h = 1: tanh(1.0).
        let cell = RnnCell::gru(1, 1, vec![0.0, 0.0, 1.0], vec![0.0, 0.0, 1.0], vec![0.0; 3], vec![0.0; 3]).unwrap();
        let mut h = [1.0f32];
        let mut scratch = CellScratch::new(1);
        cell.step(&[0.5], &mut h, &mut scratch);
        let n = 1.0f32.tanh();
        let expected = 0.5 * n + 0.5 * 1.0;
        assert!((h[0] - expected).abs() < 1e-7, "{} vs {expected}", h[0]);
        assert_eq!(cell.flops_per_step(), 6 * 2 + 16);
    }

    #[test]
    fn lstm_hand_computed_one_unit_step() {
        // H = 1, I = 1, zero weights except the g row (weight_ih 1): i = f = o = σ(0) = 0.5,
        // g = tanh(x) with x = 0.5; c' = 0.5·c + 0.5·tanh(0.5) with c = 1; h' = 0.5·tanh(c').
        let cell = RnnCell::lstm(1, 1, vec![0.0, 0.0, 1.0, 0.0], vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]).unwrap();
        let mut state = [0.3f32, 1.0];
        let mut scratch = CellScratch::new(1);
        cell.step(&[0.5], &mut state, &mut scratch);
        let c_expected = 0.5 + 0.5 * 0.5f32.tanh();
        assert!((state[1] - c_expected).abs() < 1e-6, "{} vs {c_expected}", state[1]);
        assert!((state[0] - 0.5 * c_expected.tanh()).abs() < 1e-6);
        assert_eq!(cell.gate_state(&state), &state[1..]);
        // 8·1·2 + 21
        assert_eq!(cell.flops_per_step(), 37);
        assert_eq!(cell.parameter_count(), 4 * 2 + 8);
        // 8·128·129 + 21·128 = 132 096 + 2 688
        assert_eq!(random_cell(CellKind::Lstm, 1, 128, 1).flops_per_step(), 134_784);
    }

    #[test]
    fn step_matches_scalar_reference_at_every_width() {
        for kind in CellKind::ALL {
            for (hidden, input) in [(1, 1), (7, 3), (16, 1), (33, 5), (128, 1)] {
                let cell = random_cell(kind, input, hidden, hidden as u64);
                let mut rng = rand_pcg::Pcg64::seed_from_u64(99);
                let mut state: Vec<f32> = (0..cell.state_len()).map(|_| rng.random_range(-1.0..1.0)).collect();
                let mut scratch = CellScratch::new(hidden);
                for _ in 0..20 {
                    let x: Vec<f32> = (0..input).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let [(_, wi), (_, wh), (_, bi), (_, bh)] = cell.tensors();
                    let expected = match kind {
                        CellKind::Gru => gru_reference::step(input, hidden, wi, wh, bi, bh, &x, &state),
                        CellKind::Lstm => {
                            let (h, c) = state.split_at(hidden);
                            let (h, c) = lstm_reference::step(input, hidden, wi, wh, bi, bh, &x, h, c);
                            [h, c].concat()
                        }
                    };
                    cell.step(&x, &mut state, &mut scratch);
                    let worst = state.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                    assert!(worst <= REFERENCE_ATOL, "{kind} H={hidden} I={input}: max abs diff {worst}");
                }
            }
        }
    }

    /// The weights of `cell`'s one layer, as an upper layer of another cell.
    fn layer_weights(cell: &RnnCell) -> LayerWeights {
        let [(_, wi), (_, wh), (_, bi), (_, bh)] = cell.tensors();
        LayerWeights { weight_ih: wi.to_vec(), weight_hh: wh.to_vec(), bias_ih: bi.to_vec(), bias_hh: bh.to_vec() }
    }

    #[test]
    fn a_stacked_step_is_each_layer_in_turn_on_the_layer_belows_new_h() {
        for kind in CellKind::ALL {
            let (input, hidden) = (3, 5);
            let bottom = random_cell(kind, input, hidden, 7);
            let middle = random_cell(kind, hidden, hidden, 8);
            let top = random_cell(kind, hidden, hidden, 9);
            let upper = [&middle, &top].map(layer_weights).to_vec();
            let stacked = bottom.clone().with_upper_layers(upper).unwrap();
            let per = kind.state_len(hidden);
            assert_eq!((stacked.layers(), stacked.state_len(), stacked.layer_range(0)), (3, 3 * per, 2 * per..3 * per));
            assert_eq!(stacked.flops_per_step(), kind.flops_per_step(3, 5) + 2 * kind.flops_per_step(5, 5));
            assert_eq!(stacked.parameter_count(), kind.parameter_count(3, 5) + 2 * kind.parameter_count(5, 5));
            let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
            let mut flat = vec![0.0f32; stacked.state_len()];
            let mut layers = [vec![0.0f32; per], vec![0.0f32; per], vec![0.0f32; per]];
            let mut scratch = CellScratch::new(hidden);
            for _ in 0..12 {
                let x: Vec<f32> = (0..input).map(|_| rng.random_range(-1.0..1.0)).collect();
                stacked.step(&x, &mut flat, &mut scratch);
                bottom.step(&x, &mut layers[0], &mut scratch);
                let below = layers[0][..hidden].to_vec();
                middle.step(&below, &mut layers[1], &mut scratch);
                let below = layers[1][..hidden].to_vec();
                top.step(&below, &mut layers[2], &mut scratch);
                // Top layer first.
                assert_eq!(flat, [layers[2].clone(), layers[1].clone(), layers[0].clone()].concat(), "{kind}");
            }
            assert_eq!(stacked.gate_state(&flat), if kind == CellKind::Gru { &flat[..5] } else { &flat[5..10] });
            let err = bottom
                .with_upper_layers(vec![LayerWeights {
                    weight_ih: vec![0.0; 3],
                    weight_hh: vec![],
                    bias_ih: vec![],
                    bias_hh: vec![],
                }])
                .unwrap_err();
            assert_eq!(err.tensor, "weight_ih_l1");
        }
    }

    #[test]
    fn baseline_and_detected_isa_agree_bit_for_bit() {
        for kind in CellKind::ALL {
            for input in [1, 4] {
                let fast = random_cell(kind, input, 64, 3);
                let slow = fast.clone().with_isa(KernelIsa::baseline());
                assert_eq!(slow.isa(), KernelIsa::baseline());
                let mut s1 = vec![0.1f32; fast.state_len()];
                let mut s2 = s1.clone();
                let mut scratch = CellScratch::new(64);
                for t in 0..50 {
                    let x: Vec<f32> = (0..input).map(|k| ((t * 3 + k) as f32 * 0.37).sin()).collect();
                    fast.step(&x, &mut s1, &mut scratch);
                    slow.step(&x, &mut s2, &mut scratch);
                }
                assert_eq!(s1, s2, "{kind}, I = {input}");
            }
        }
    }

    #[test]
    fn a_batched_step_gives_every_stream_the_bits_of_its_own_step_on_both_isas() {
        // Batches below, at and off the kernel's 4-stream blocks; hidden sizes off multiples of 8; one
        // input (its own expression) and several; one layer and three.
        let mut checked = 0;
        for kind in CellKind::ALL {
            for (input, hidden, layers) in [(1, 16, 1), (3, 13, 1), (9, 64, 1), (2, 7, 3), (1, 12, 2)] {
                let upper: Vec<LayerWeights> =
                    (1..layers).map(|l| layer_weights(&random_cell(kind, hidden, hidden, 100 + l as u64))).collect();
                let base = random_cell(kind, input, hidden, hidden as u64).with_upper_layers(upper).unwrap();
                for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                    let cell = base.clone().with_isa(isa);
                    let state_len = cell.state_len();
                    for batch in [1, 3, 4, 6, 9] {
                        let mut rng = rand_pcg::Pcg64::seed_from_u64(batch as u64);
                        let mut states: Vec<f32> =
                            (0..batch * state_len).map(|_| rng.random_range(-1.0..1.0)).collect();
                        let mut single = states.clone();
                        let mut scratch = BatchScratch::new(9, hidden + 3);
                        let mut one = CellScratch::new(hidden);
                        for _ in 0..5 {
                            let xs: Vec<f32> = (0..batch * input).map(|_| rng.random_range(-2.0..2.0)).collect();
                            cell.step_batch(&xs, &mut states, &mut scratch);
                            for (x, state) in xs.chunks_exact(input).zip(single.chunks_exact_mut(state_len)) {
                                cell.step(x, state, &mut one);
                            }
                            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
                            assert_eq!(
                                bits(&states),
                                bits(&single),
                                "{kind} I={input} H={hidden} L={layers} {isa:?} batch {batch}"
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 5 * 2 * 5);
    }
}
