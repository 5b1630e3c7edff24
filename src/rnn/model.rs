//! Classifiers, state maps and the model bank of the model-switching method.
//!
//! Model switching (Lambert et al., "Flexible Recurrent Neural Networks", ECML PKDD 2020, §4): a bank
//! of separately trained models that replace one another inside a sequence; when the hidden sizes
//! differ, the hidden state is carried across by a learned affine map `h_b = A h_a + c`.

use petgraph::graph::{DiGraph, NodeIndex};

use super::cell::{CellKind, CellScratch, RnnCell};

/// A recurrent cell (GRU or LSTM, [`RnnCell`]) followed by a linear readout applied to the final `h`.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnClassifier {
    /// Name, unique in its bank (e.g. `gru-64`, `lstm-64`).
    pub name: String,
    /// The recurrent cell.
    pub cell: RnnCell,
    /// Readout weight, row-major `[C, H]` (PyTorch `nn.Linear.weight`).
    pub readout_weight: Vec<f32>,
    /// Readout bias `[C]`.
    pub readout_bias: Vec<f32>,
}

/// The classifier's name from before LSTM cells: an [`RnnClassifier`] (of either cell).
pub type GruClassifier = RnnClassifier;

impl RnnClassifier {
    /// Number of classes `C`.
    pub fn classes(&self) -> usize {
        self.readout_bias.len()
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.cell.hidden_size()
    }

    /// Length of the cell's flat state: `H` (GRU) or `2H` (LSTM, `[h; c]`).
    pub fn state_len(&self) -> usize {
        self.cell.state_len()
    }

    /// The cell's kind.
    pub fn cell_kind(&self) -> CellKind {
        self.cell.kind()
    }

    /// FLOPs of the readout: `2CH + C`.
    pub fn flops_readout(&self) -> u64 {
        (2 * self.classes() * self.hidden_size() + self.classes()) as u64
    }

    /// Bytes of all parameters as `f32`: `4 · (cell parameters + CH + C)` (a GRU cell has
    /// `3H(I+H) + 6H` parameters, an LSTM cell `4H(I+H) + 8H`).
    pub fn param_bytes(&self) -> u64 {
        4 * (self.cell.parameter_count() + self.readout_weight.len() + self.readout_bias.len()) as u64
    }

    /// Writes the `C` logits for the final state into `logits`: the readout of `h`, the first `H` values
    /// of `state` (the whole state of a GRU; an LSTM's `[h; c]` may be passed whole). Allocates nothing.
    pub fn logits_into(&self, state: &[f32], logits: &mut [f32]) {
        let hidden = self.hidden_size();
        let h = &state[..hidden.min(state.len())];
        for ((out, row), bias) in
            logits.iter_mut().zip(self.readout_weight.chunks_exact(hidden)).zip(&self.readout_bias)
        {
            *out = bias + row.iter().zip(h).map(|(w, v)| w * v).sum::<f32>();
        }
    }

    /// The predicted class (arg-max of the logits; the lowest index wins ties) for the final state
    /// (see [`Self::logits_into`]).
    pub fn predict(&self, state: &[f32], logits_scratch: &mut [f32]) -> u32 {
        let logits = &mut logits_scratch[..self.classes()];
        self.logits_into(state, logits);
        argmax(logits) as u32
    }

    /// Runs a whole sequence (`steps × I` values) from a zero state and returns the prediction.
    /// Allocates its scratch; meant for evaluation, not the simulator's hot path.
    pub fn classify(&self, sequence: &[f32]) -> u32 {
        let mut logits = vec![0.0; self.classes()];
        self.outputs(sequence, &mut logits);
        argmax(&logits) as u32
    }

    /// Runs a whole sequence (`steps × I` values) from a zero state and writes the readout of the final
    /// `h` (`C` logits; one value for a regression model) into `out`. Allocates its state; meant for
    /// evaluation, not the simulator's hot path.
    pub fn outputs(&self, sequence: &[f32], out: &mut [f32]) {
        let mut state = vec![0.0; self.state_len()];
        let mut scratch = CellScratch::new(self.hidden_size());
        for x in sequence.chunks_exact(self.cell.input_size()) {
            self.cell.step(x, &mut state, &mut scratch);
        }
        self.logits_into(&state, &mut out[..self.classes()]);
    }
}

/// Index of the largest value; the first one on ties; NaN never wins.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// An affine map of states `s_to = weight · s_from + bias`, fitted by ridge regression. The states are
/// the cells' flat states: `h` for GRUs, `[h; c]` for LSTMs (so an LSTM map carries `h` and `c`
/// together, each target unit a function of both source vectors).
#[derive(Debug, Clone, PartialEq)]
pub struct StateMap {
    /// Source state length (the hidden size `H` for a GRU, `2H` for an LSTM).
    pub from_hidden: usize,
    /// Target state length (the hidden size `H` for a GRU, `2H` for an LSTM).
    pub to_hidden: usize,
    /// Row-major `[to_hidden, from_hidden]`.
    pub weight: Vec<f32>,
    /// `[to_hidden]`.
    pub bias: Vec<f32>,
}

impl StateMap {
    /// FLOPs of one application: `2 · to · from + to`.
    pub fn flops(&self) -> u64 {
        (2 * self.to_hidden * self.from_hidden + self.to_hidden) as u64
    }

    /// Writes the mapped state into `out` (`to_hidden` values). Allocates nothing.
    pub fn apply(&self, from: &[f32], out: &mut [f32]) {
        for ((o, row), b) in out.iter_mut().zip(self.weight.chunks_exact(self.from_hidden)).zip(&self.bias) {
            *o = b + row.iter().zip(from).map(|(w, v)| w * v).sum::<f32>();
        }
    }
}

/// The naive way to move a state between sizes: keep the first `min(from, to)` units, pad with zeros.
/// The baseline that a learned [`StateMap`] must beat. (For an LSTM or a stacked cell, whose flat
/// state has several parts, [`truncate_pad_map`] keeps the leading units of each part instead.)
pub fn truncate_or_pad(from: &[f32], out: &mut [f32]) {
    let shared = from.len().min(out.len());
    out[..shared].copy_from_slice(&from[..shared]);
    out[shared..].iter_mut().for_each(|v| *v = 0.0);
}

/// Truncation / zero padding as a [`StateMap`] between flat states of `layers`-layer `kind` cells of
/// `from` and `to` hidden units: in every part of the flat state (per layer `h`, and `c` for an
/// LSTM: see [`crate::rnn::cell`]) the first `min(from, to)` units are kept and the others of the
/// target are 0. Its cost is that of a dense map ([`StateMap::flops`]).
pub fn truncate_pad_map(kind: CellKind, layers: usize, from: usize, to: usize) -> StateMap {
    let (from_len, to_len) = (layers * kind.state_len(from), layers * kind.state_len(to));
    let mut weight = vec![0.0; to_len * from_len];
    let parts = from_len / from;
    for part in 0..parts {
        for unit in 0..from.min(to) {
            weight[(part * to + unit) * from_len + part * from + unit] = 1.0;
        }
    }
    StateMap { from_hidden: from_len, to_hidden: to_len, weight, bias: vec![0.0; to_len] }
}

/// A bank of models of one cell kind (GRUs or LSTMs) and the allowed switches between them: a
/// `petgraph` directed graph whose nodes are model indices and whose edges carry the state map
/// (`None` when the sizes are equal and the state passes as it is). Maps act on the cells' flat states
/// ([`RnnClassifier::state_len`] values: `h` for GRUs, `[h; c]` for LSTMs). Switching to a model that is not connected directly follows the cheapest
/// path in FLOPs (Dijkstra), applying each edge's map in turn.
#[derive(Debug, Clone)]
pub struct ModelBank {
    models: Vec<GruClassifier>,
    switches: DiGraph<usize, Option<StateMap>>,
    /// `routes[from · n + to]`: the models visited on the cheapest path, `from` and `to` included.
    routes: Vec<Vec<usize>>,
    /// `route_flops[from · n + to]`: FLOPs of the maps along that path.
    route_flops: Vec<u64>,
}

/// Errors when assembling a bank.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BankError {
    /// A map's sizes do not match the models it connects.
    #[error(
        "state map {from} -> {to}: expected shape [{expected_to}, {expected_from}], found [{found_to}, {found_from}]"
    )]
    MapShape {
        /// Source model name.
        from: String,
        /// Target model name.
        to: String,
        /// Expected target size.
        expected_to: usize,
        /// Expected source size.
        expected_from: usize,
        /// Found target size.
        found_to: usize,
        /// Found source size.
        found_from: usize,
    },
    /// No chain of maps leads from one model to another.
    #[error("no state map, direct or through other models, leads from {from} to {to}: add maps so that every model can reach every other")]
    MissingMap {
        /// Source model name.
        from: String,
        /// Target model name.
        to: String,
    },
    /// The bank is empty or models disagree on input size or classes.
    #[error("invalid bank: {0}")]
    Invalid(String),
}

impl ModelBank {
    /// Builds a bank; `maps` holds `(from_index, to_index, map)` (shapes in state lengths) for ordered pairs of different sizes
    /// (not necessarily all: a switch between models without a direct map follows the cheapest chain
    /// of maps). Models of equal size are connected directly, the state passing as it is. Models are
    /// kept in the given order (the shipped banks list them narrowest first).
    ///
    /// # Errors
    /// [`BankError`] if a map has the wrong shape, some model cannot reach another through the maps,
    /// or the models disagree on cell kind, input size or number of classes.
    pub fn new(models: Vec<GruClassifier>, maps: Vec<(usize, usize, StateMap)>) -> Result<ModelBank, BankError> {
        let first = models.first().ok_or_else(|| BankError::Invalid("no model".into()))?;
        let (input, classes, kind) = (first.cell.input_size(), first.classes(), first.cell_kind());
        if let Some(odd) =
            models.iter().find(|m| m.cell.input_size() != input || m.classes() != classes || m.cell_kind() != kind)
        {
            return Err(BankError::Invalid(format!(
                "model {} differs from {} in cell kind, input size or classes",
                odd.name, first.name
            )));
        }
        if let Some(odd) = models.iter().find(|m| m.cell.layers() != first.cell.layers()) {
            return Err(BankError::Invalid(format!(
                "model {} has {} layers and {} has {}; a bank's models have one number of layers (its maps act layer by layer)",
                odd.name,
                odd.cell.layers(),
                first.name,
                first.cell.layers()
            )));
        }
        let mut switches = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..models.len()).map(|i| switches.add_node(i)).collect();
        for (from, to, map) in maps {
            let (a, b) = (&models[from], &models[to]);
            if map.from_hidden != a.state_len() || map.to_hidden != b.state_len() {
                return Err(BankError::MapShape {
                    from: a.name.clone(),
                    to: b.name.clone(),
                    expected_to: b.state_len(),
                    expected_from: a.state_len(),
                    found_to: map.to_hidden,
                    found_from: map.from_hidden,
                });
            }
            switches.add_edge(nodes[from], nodes[to], Some(map));
        }
        for from in 0..models.len() {
            for to in 0..models.len() {
                if from == to || switches.find_edge(nodes[from], nodes[to]).is_some() {
                    continue;
                }
                if models[from].hidden_size() == models[to].hidden_size() {
                    switches.add_edge(nodes[from], nodes[to], None);
                }
            }
        }
        let n = models.len();
        let mut routes = vec![Vec::new(); n * n];
        let mut route_flops = vec![0; n * n];
        for from in 0..n {
            for to in 0..n {
                // A direct switch is always taken as it is (a chain through a narrower model would lose
                // information, even when cheaper).
                if from == to || switches.find_edge(nodes[from], nodes[to]).is_some() {
                    routes[from * n + to] = if from == to { vec![from] } else { vec![from, to] };
                    route_flops[from * n + to] = if from == to {
                        0
                    } else {
                        let edge = switches.find_edge(nodes[from], nodes[to]).expect("checked");
                        switches[edge].as_ref().map_or(0, StateMap::flops)
                    };
                    continue;
                }
                // Otherwise the cheapest chain in FLOPs; among equal costs, fewest maps (a bank has far fewer than
                // HOPS models, so the hop count in the low digits never outweighs a FLOP).
                const HOPS: u64 = 1 << 16;
                let found = petgraph::algo::astar(
                    &switches,
                    nodes[from],
                    |node| node == nodes[to],
                    |edge| edge.weight().as_ref().map_or(0, StateMap::flops) * HOPS + 1,
                    |_| 0,
                );
                let Some((cost, path)) = found else {
                    return Err(BankError::MissingMap { from: models[from].name.clone(), to: models[to].name.clone() });
                };
                routes[from * n + to] = path.iter().map(|node| switches[*node]).collect();
                route_flops[from * n + to] = cost / HOPS;
            }
        }
        Ok(ModelBank { models, switches, routes, route_flops })
    }

    /// The models, in bank order.
    pub fn models(&self) -> &[GruClassifier] {
        &self.models
    }

    /// Index of the model called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.models.iter().position(|m| m.name == name)
    }

    /// Largest hidden size in the bank.
    pub fn max_hidden(&self) -> usize {
        self.models.iter().map(|m| m.hidden_size()).max().unwrap_or(0)
    }

    /// Largest state length in the bank ([`RnnClassifier::state_len`]: `H` for GRUs, `2H` for LSTMs).
    pub fn max_state_len(&self) -> usize {
        self.models.iter().map(|m| m.state_len()).max().unwrap_or(0)
    }

    /// The cell kind of every model of the bank.
    pub fn cell_kind(&self) -> CellKind {
        self.models[0].cell_kind()
    }

    /// The switch `from → to`: `Some(None)` when the state passes as it is, `Some(Some(map))` when it is
    /// mapped, `None` when the switch is not allowed.
    pub fn switch(&self, from: usize, to: usize) -> Option<Option<&StateMap>> {
        let edge = self.switches.find_edge(NodeIndex::new(from), NodeIndex::new(to))?;
        Some(self.switches[edge].as_ref())
    }

    /// The models visited when switching `from → to` along the cheapest path, both ends included
    /// (`[from]` when equal).
    pub fn route(&self, from: usize, to: usize) -> &[usize] {
        &self.routes[from * self.models.len() + to]
    }

    /// FLOPs of switching `from → to`: the maps along the cheapest path (0 for the identity or
    /// same-size switches).
    pub fn switch_flops(&self, from: usize, to: usize) -> u64 {
        self.route_flops[from * self.models.len() + to]
    }

    /// Carries the state of model `from` (in `state[..state_len(from)]`) to model `to` along the
    /// cheapest path; `spare` (at least [`Self::max_state_len`]) holds intermediate results. The new
    /// state is in `state[..state_len(to)]`. Allocates nothing.
    pub fn carry_state(&self, from: usize, to: usize, state: &mut [f32], spare: &mut [f32]) {
        for pair in self.route(from, to).windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (ha, hb) = (self.models[a].state_len(), self.models[b].state_len());
            if let Some(map) = self.switch(a, b).flatten() {
                map.apply(&state[..ha], &mut spare[..hb]);
                state[..hb].copy_from_slice(&spare[..hb]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(name: &str, hidden: usize) -> GruClassifier {
        let cell = RnnCell::gru(
            1,
            hidden,
            vec![0.1; 3 * hidden],
            vec![0.0; 3 * hidden * hidden],
            vec![0.0; 3 * hidden],
            vec![0.0; 3 * hidden],
        )
        .unwrap();
        GruClassifier { name: name.into(), cell, readout_weight: vec![1.0; 2 * hidden], readout_bias: vec![0.0, 0.5] }
    }

    #[test]
    fn readout_and_argmax() {
        let model = tiny("a", 2);
        let mut logits = [0.0; 2];
        model.logits_into(&[1.0, 2.0], &mut logits);
        assert_eq!(logits, [3.0, 3.5]);
        assert_eq!(model.predict(&[1.0, 2.0], &mut logits), 1);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(model.flops_readout(), 2 * 2 * 2 + 2);
        assert_eq!(model.param_bytes(), 4 * (3 * 2 * 3 + 12 + 4 + 2));
    }

    #[test]
    fn switches_without_a_direct_map_follow_the_cheapest_chain() {
        let map = |from: usize, to: usize, scale: f32| StateMap {
            from_hidden: from,
            to_hidden: to,
            weight: (0..from * to).map(|k| scale * (k as f32 + 1.0)).collect(),
            bias: vec![0.25; to],
        };
        // Maps only between neighbours 2 ⇄ 3 ⇄ 4: 2 → 4 goes through 3.
        let models = vec![tiny("a", 2), tiny("b", 3), tiny("d", 4)];
        let chain =
            vec![(0, 1, map(2, 3, 0.1)), (1, 0, map(3, 2, 0.1)), (1, 2, map(3, 4, 0.2)), (2, 1, map(4, 3, 0.1))];
        let bank = ModelBank::new(models.clone(), chain.clone()).unwrap();
        assert_eq!(bank.route(0, 2), &[0, 1, 2]);
        assert_eq!(bank.switch_flops(0, 2), (2 * 2 * 3 + 3) + (2 * 3 * 4 + 4));
        assert_eq!(bank.route(2, 0), &[2, 1, 0]);
        // Carrying the state along the chain equals applying the two maps by hand.
        let mut state = [1.0, -2.0, 0.0, 0.0];
        let mut spare = [0.0; 4];
        bank.carry_state(0, 2, &mut state, &mut spare);
        let (mut mid, mut end) = ([0.0; 3], [0.0; 4]);
        chain[0].2.apply(&[1.0, -2.0], &mut mid);
        chain[2].2.apply(&mid, &mut end);
        assert_eq!(state, end);
        // A direct map is taken as it is, even when a chain would cost less (here 4 → 2 directly costs
        // 2·4·2 + 2 = 18 FLOPs; through 3 it would cost 27 + 14 = 41, so take a dearer case too).
        let mut with_direct = chain;
        with_direct.push((0, 2, map(2, 4, 0.3)));
        with_direct.push((2, 0, map(4, 2, 0.3)));
        let bank = ModelBank::new(models, with_direct).unwrap();
        assert_eq!(bank.route(0, 2), &[0, 2]);
        assert_eq!(bank.switch_flops(0, 2), 2 * 2 * 4 + 4);
        assert_eq!(bank.route(2, 0), &[2, 0]);
    }

    #[test]
    fn bank_requires_maps_between_sizes() {
        let err = ModelBank::new(vec![tiny("a", 2), tiny("b", 3)], vec![]).unwrap_err();
        assert!(matches!(err, BankError::MissingMap { .. }));
        let map_ab = StateMap { from_hidden: 2, to_hidden: 3, weight: vec![1.0; 6], bias: vec![0.0; 3] };
        let map_ba = StateMap { from_hidden: 3, to_hidden: 2, weight: vec![1.0; 6], bias: vec![0.5; 2] };
        // c has no map of its own but the same size as b: it reaches a through b, for free to b.
        let bank = ModelBank::new(
            vec![tiny("a", 2), tiny("b", 3), tiny("c", 3)],
            vec![(0, 1, map_ab.clone()), (1, 0, map_ba)],
        )
        .unwrap();
        assert_eq!(bank.route(2, 0), &[2, 1, 0]);
        assert_eq!(bank.switch_flops(2, 0), bank.switch_flops(1, 0));
        assert!(bank.switch(2, 0).is_none(), "no direct switch");
        let one_way = ModelBank::new(vec![tiny("a", 2), tiny("b", 3)], vec![(0, 1, map_ab.clone())]).unwrap_err();
        assert!(matches!(one_way, BankError::MissingMap { .. }), "b cannot reach a");
        let bad = StateMap { from_hidden: 3, to_hidden: 3, weight: vec![0.0; 9], bias: vec![0.0; 3] };
        assert!(matches!(
            ModelBank::new(vec![tiny("a", 2), tiny("b", 3)], vec![(0, 1, bad)]),
            Err(BankError::MapShape { .. })
        ));
        let map_ba = StateMap { from_hidden: 3, to_hidden: 2, weight: vec![1.0; 6], bias: vec![0.5; 2] };
        let bank = ModelBank::new(vec![tiny("a", 2), tiny("b", 3)], vec![(0, 1, map_ab), (1, 0, map_ba)]).unwrap();
        let mut out = [0.0; 2];
        bank.switch(1, 0).unwrap().unwrap().apply(&[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out, [6.5, 6.5]);
        assert_eq!(bank.switch_flops(0, 1), 2 * 3 * 2 + 3);
        assert_eq!(bank.switch_flops(1, 1), 0);
    }

    #[test]
    fn truncate_pad_map_keeps_shared_units_of_every_part() {
        let map = truncate_pad_map(CellKind::Lstm, 1, 3, 2);
        let mut out = vec![9.0; 4];
        map.apply(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 10.0, 20.0]);
        let map = truncate_pad_map(CellKind::Lstm, 1, 2, 3);
        let mut out = vec![9.0; 6];
        map.apply(&[1.0, 2.0, 10.0, 20.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 10.0, 20.0, 0.0]);
        let map = truncate_pad_map(CellKind::Gru, 1, 2, 3);
        let mut out = vec![9.0; 3];
        map.apply(&[1.0, 2.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0]);
        // Two GRU layers (top first): each layer's h is truncated on its own.
        let map = truncate_pad_map(CellKind::Gru, 2, 3, 2);
        let mut out = vec![9.0; 4];
        map.apply(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 10.0, 20.0]);
        // Two LSTM layers [h1; c1; h0; c0], padded from 1 to 2 units.
        let map = truncate_pad_map(CellKind::Lstm, 2, 1, 2);
        let mut out = vec![9.0; 8];
        map.apply(&[1.0, 2.0, 3.0, 4.0], &mut out);
        assert_eq!(out, [1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 4.0, 0.0]);
        assert_eq!(map.flops(), 2 * 8 * 4 + 8);
    }

    #[test]
    fn truncate_or_pad_keeps_leading_units() {
        let mut out = [9.0; 4];
        truncate_or_pad(&[1.0, 2.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 0.0]);
        let mut out = [9.0; 1];
        truncate_or_pad(&[1.0, 2.0], &mut out);
        assert_eq!(out, [1.0]);
    }

    fn tiny_lstm(name: &str, hidden: usize) -> RnnClassifier {
        let cell = RnnCell::lstm(
            1,
            hidden,
            vec![0.1; 4 * hidden],
            vec![0.05; 4 * hidden * hidden],
            vec![0.0; 4 * hidden],
            vec![0.0; 4 * hidden],
        )
        .unwrap();
        RnnClassifier { name: name.into(), cell, readout_weight: vec![1.0; 2 * hidden], readout_bias: vec![0.0, 0.5] }
    }

    #[test]
    fn lstm_banks_map_the_flat_state_and_refuse_mixed_cells() {
        let (a, b) = (tiny_lstm("lstm-2", 2), tiny_lstm("lstm-3", 3));
        assert_eq!((a.state_len(), b.state_len()), (4, 6));
        let map = |from: usize, to: usize| StateMap {
            from_hidden: from,
            to_hidden: to,
            weight: (0..from * to).map(|k| 0.01 * k as f32).collect(),
            bias: vec![0.1; to],
        };
        let bank = ModelBank::new(vec![a.clone(), b.clone()], vec![(0, 1, map(4, 6)), (1, 0, map(6, 4))]).unwrap();
        assert_eq!((bank.max_hidden(), bank.max_state_len(), bank.cell_kind()), (3, 6, CellKind::Lstm));
        let mut state = [0.5, -0.5, 1.0, 2.0, 0.0, 0.0];
        let mut expected = [0.0; 6];
        map(4, 6).apply(&state[..4], &mut expected);
        bank.carry_state(0, 1, &mut state, &mut [0.0; 6]);
        assert_eq!(state, expected, "[h; c] of lstm-2 mapped to [h; c] of lstm-3");
        // A map sized in hidden units, not state lengths, is refused.
        let err = ModelBank::new(vec![a.clone(), b.clone()], vec![(0, 1, map(2, 3)), (1, 0, map(6, 4))]).unwrap_err();
        assert!(matches!(err, BankError::MapShape { expected_from: 4, expected_to: 6, .. }), "{err}");
        let err = ModelBank::new(vec![a, tiny("gru-3", 3)], vec![]).unwrap_err();
        assert!(err.to_string().contains("cell kind"), "{err}");
        // The readout reads h, the first H values of the flat state.
        let mut logits = [0.0; 2];
        b.logits_into(&[1.0, 2.0, 3.0, 100.0, 100.0, 100.0], &mut logits);
        assert_eq!(logits, [6.0, 6.5]);
    }
}
