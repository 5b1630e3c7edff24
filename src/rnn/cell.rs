//! One recurrent cell of either kind, so that every flexible family runs on a GRU or an LSTM.
//!
//! [`RnnCell`] is a closed enum over [`GruCell`] and [`LstmCell`] (one `match` per step, no trait
//! object). Its state is one flat vector:
//!
//! | cell | state layout | [`RnnCell::state_len`] | what the readout reads | what a Skip/SkipW gate reads ([`RnnCell::gate_state`]) |
//! |---|---|---|---|---|
//! | GRU | `h` | `H` | `h` | `h` |
//! | LSTM | `[h; c]` | `2H` | `h` (the first `H` values) | `c` (Campos et al. 2018, §3: the Skip-LSTM's update probability is computed from the cell state) |
//!
//! Both cells share one scratch type, [`CellScratch`] (`2 × 4H` floats, enough for either), so a
//! GRU stream and an LSTM stream allocate alike; the GRU uses only its first `3H` values of each buffer.

use super::gru::{GruCell, ShapeError};
use super::kernels::KernelIsa;
use super::lstm::LstmCell;

/// Per-stream scratch space of a cell step: `2 × 4 · max_hidden` floats, allocated once. Serves
/// [`GruCell::step`] (which uses `3H` of each buffer), [`LstmCell::step`] and [`RnnCell::step`].
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

/// The kind of a recurrent cell, as model cards spell it (`"cell": "gru"` or `"lstm"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
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

    /// Gate blocks per weight matrix: 3 (GRU) or 4 (LSTM); `weight_ih` is `[gates · H, I]`.
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

    /// FLOPs of one step of a cell of this kind with input `I` and hidden `H` (see
    /// [`GruCell::flops_per_step`] and [`LstmCell::flops_per_step`]).
    pub fn flops_per_step(self, input: usize, hidden: usize) -> u64 {
        match self {
            CellKind::Gru => (6 * hidden * (input + hidden) + 16 * hidden) as u64,
            CellKind::Lstm => (8 * hidden * (input + hidden) + 21 * hidden) as u64,
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recurrent cell of either kind, with immutable weights shared by every stream; each stream owns
/// its flat state (see the module doc) and a [`CellScratch`].
#[derive(Debug, Clone, PartialEq)]
pub enum RnnCell {
    /// A GRU cell; state `h`.
    Gru(GruCell),
    /// An LSTM cell; state `[h; c]`.
    Lstm(LstmCell),
}

impl From<GruCell> for RnnCell {
    fn from(cell: GruCell) -> RnnCell {
        RnnCell::Gru(cell)
    }
}

impl From<LstmCell> for RnnCell {
    fn from(cell: LstmCell) -> RnnCell {
        RnnCell::Lstm(cell)
    }
}

impl RnnCell {
    /// Builds a cell of `kind` from PyTorch-layout tensors (`weight_ih` `[G·H, I]`, `weight_hh`
    /// `[G·H, H]`, `bias_ih` and `bias_hh` `[G·H]`, with `G` = [`CellKind::gates`]).
    ///
    /// # Errors
    /// [`ShapeError`] if a tensor's length does not match.
    pub fn new(
        kind: CellKind,
        input: usize,
        hidden: usize,
        weight_ih: Vec<f32>,
        weight_hh: Vec<f32>,
        bias_ih: Vec<f32>,
        bias_hh: Vec<f32>,
    ) -> Result<RnnCell, ShapeError> {
        Ok(match kind {
            CellKind::Gru => RnnCell::Gru(GruCell::new(input, hidden, weight_ih, weight_hh, bias_ih, bias_hh)?),
            CellKind::Lstm => RnnCell::Lstm(LstmCell::new(input, hidden, weight_ih, weight_hh, bias_ih, bias_hh)?),
        })
    }

    /// Which kind of cell this is.
    pub fn kind(&self) -> CellKind {
        match self {
            RnnCell::Gru(_) => CellKind::Gru,
            RnnCell::Lstm(_) => CellKind::Lstm,
        }
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        match self {
            RnnCell::Gru(cell) => cell.input_size(),
            RnnCell::Lstm(cell) => cell.input_size(),
        }
    }

    /// Hidden size `H` (of `h`; an LSTM's `c` has `H` values too).
    pub fn hidden_size(&self) -> usize {
        match self {
            RnnCell::Gru(cell) => cell.hidden_size(),
            RnnCell::Lstm(cell) => cell.hidden_size(),
        }
    }

    /// Length of the flat state: `H` (GRU) or `2H` (LSTM).
    pub fn state_len(&self) -> usize {
        self.kind().state_len(self.hidden_size())
    }

    /// The four tensors in PyTorch order: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub fn tensors(&self) -> [(&'static str, &[f32]); 4] {
        match self {
            RnnCell::Gru(cell) => cell.tensors(),
            RnnCell::Lstm(cell) => cell.tensors(),
        }
    }

    /// Their shapes: `[G·H, I]`, `[G·H, H]`, `[G·H]`, `[G·H]` with `G` = [`CellKind::gates`].
    pub fn tensor_shapes(&self) -> [Vec<usize>; 4] {
        let rows = self.kind().gates() * self.hidden_size();
        [vec![rows, self.input_size()], vec![rows, self.hidden_size()], vec![rows], vec![rows]]
    }

    /// Restricts the kernels to the baseline instruction set (for tests and benchmarks).
    pub fn with_isa(self, isa: KernelIsa) -> RnnCell {
        match self {
            RnnCell::Gru(cell) => RnnCell::Gru(cell.with_isa(isa)),
            RnnCell::Lstm(cell) => RnnCell::Lstm(cell.with_isa(isa)),
        }
    }

    /// FLOPs of one step ([`GruCell::flops_per_step`] or [`LstmCell::flops_per_step`]).
    pub fn flops_per_step(&self) -> u64 {
        match self {
            RnnCell::Gru(cell) => cell.flops_per_step(),
            RnnCell::Lstm(cell) => cell.flops_per_step(),
        }
    }

    /// Number of parameters: `3H(I + H) + 6H` (GRU) or `4H(I + H) + 8H` (LSTM).
    pub fn parameter_count(&self) -> usize {
        match self {
            RnnCell::Gru(cell) => cell.parameter_count(),
            RnnCell::Lstm(cell) => cell.parameter_count(),
        }
    }

    /// One step in place on the flat state (`h` for a GRU, `[h; c]` for an LSTM): exactly
    /// [`GruCell::step`] or [`LstmCell::step`]. Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != I`, `state.len()` is not [`Self::state_len`] or `scratch` was made for a smaller
    /// hidden size.
    #[inline]
    pub fn step(&self, x: &[f32], state: &mut [f32], scratch: &mut CellScratch) {
        match self {
            RnnCell::Gru(cell) => cell.step(x, state, scratch),
            RnnCell::Lstm(cell) => {
                let hidden = cell.hidden_size();
                assert_eq!(state.len(), 2 * hidden, "LSTM step: the state is [h; c], 2H values");
                let (h, c) = state.split_at_mut(hidden);
                cell.step(x, h, c, scratch);
            }
        }
    }

    /// The part of the flat state that Skip and SkipW gates read: all of `h` for a GRU, `c` for an
    /// LSTM (see the module doc). `state` must be [`Self::state_len`] long.
    #[inline]
    pub fn gate_state<'a>(&self, state: &'a [f32]) -> &'a [f32] {
        match self {
            RnnCell::Gru(_) => state,
            RnnCell::Lstm(cell) => &state[cell.hidden_size()..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_spell_and_size_as_cards_do() {
        for kind in CellKind::ALL {
            assert_eq!(CellKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CellKind::parse("rnn"), None);
        assert_eq!((CellKind::Gru.state_len(8), CellKind::Lstm.state_len(8)), (8, 16));
        assert_eq!(CellKind::Gru.flops_per_step(1, 16), 1888);
        assert_eq!(CellKind::Lstm.flops_per_step(1, 128), 134_784);
    }

    #[test]
    fn the_enum_step_is_the_cell_step_bit_for_bit() {
        let v = |n: usize, k: f32| (0..n).map(|i| ((i as f32) * k).sin() * 0.3).collect::<Vec<f32>>();
        let gru = GruCell::new(2, 5, v(30, 0.7), v(75, 0.3), v(15, 0.9), v(15, 1.1)).unwrap();
        let lstm = LstmCell::new(2, 5, v(40, 0.7), v(100, 0.3), v(20, 0.9), v(20, 1.1)).unwrap();
        let mut scratch = CellScratch::new(5);
        let (mut h, mut state) = (vec![0.1f32; 5], vec![0.1f32; 5]);
        let wrapped = RnnCell::from(gru.clone());
        for t in 0..20 {
            let x = [(t as f32).cos(), 0.5];
            gru.step(&x, &mut h, &mut scratch);
            wrapped.step(&x, &mut state, &mut scratch);
            assert_eq!(h, state);
        }
        assert_eq!(wrapped.gate_state(&state), &state[..]);
        let (mut h, mut c, mut state) = (vec![0.1f32; 5], vec![-0.2f32; 5], vec![0.1f32; 10]);
        state[5..].iter_mut().for_each(|v| *v = -0.2);
        let wrapped = RnnCell::from(lstm.clone());
        assert_eq!((wrapped.state_len(), wrapped.flops_per_step()), (10, lstm.flops_per_step()));
        for t in 0..20 {
            let x = [(t as f32).cos(), 0.5];
            lstm.step(&x, &mut h, &mut c, &mut scratch);
            wrapped.step(&x, &mut state, &mut scratch);
            assert_eq!((&h[..], &c[..]), (&state[..5], &state[5..]));
        }
        assert_eq!(wrapped.gate_state(&state), &c[..]);
        assert_eq!(wrapped.tensor_shapes()[1], vec![20, 5]);
    }
}
