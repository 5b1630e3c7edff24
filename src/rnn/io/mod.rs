//! Reading and writing model folders: safetensors weights and the JSON model card, for every family.
//! All file I/O of `rnn` is here; the model types know nothing of files.
//!
//! | module | what it reads and writes |
//! |---|---|
//! | [`card`] | [`Card`]: the shared card fields and a per-family part ([`BankCard`], [`SkipWCard`], [`NestedCard`]) |
//! | this module | errors, safetensors helpers, one cell's and one classifier's tensors ([`decode_rnn_classifier`], [`classifier_tensors`]) |
//! | `bank` | model-switching banks ([`load_bank`], [`map_tensors`]) and ThrRNN Skip models ([`load_skip_models`], [`skip_classifier_tensors`]) |
//! | `skipw` | SkipW models ([`load_skipw`], [`skipw_tensors`]) |
//! | `nested` | nested-width models ([`load_nested`], [`nested_tensors`]) |
//! | [`import`] | PyTorch state dicts (`nn.GRU`, `nn.LSTM`, their `Cell`s, an `nn.Linear` readout; F32/F16/BF16) read for `flexrnn import` |
//!
//! A bank folder (e.g. `models/digits-gru/`) holds:
//! - `card.json` — a [`Card`]`<`[`BankCard`]`>`;
//! - one `<name>.safetensors` per model with `cell.weight_ih` `[3H, I]`, `cell.weight_hh` `[3H, H]`,
//!   `cell.bias_ih` `[3H]`, `cell.bias_hh` `[3H]`, `readout.weight` `[C, H]`, `readout.bias` `[C]`, all
//!   `F32` — the `state_dict()` of a PyTorch module with a `cell = nn.GRUCell(I, H)` and a
//!   `readout = nn.Linear(H, C)`, so models trained in PyTorch load as they are;
//! - `maps.safetensors` with `map.<from>.<to>.weight` `[H_to, H_from]` and `map.<from>.<to>.bias` `[H_to]`
//!   for some ordered pairs of models of different sizes (a switch without a direct map follows the
//!   cheapest chain of maps; every model must be able to reach every other).
//!
//! A Skip-GRU (ThrRNN family, card entries with `"family": "thr"`, see [`crate::rnn::skip`]) adds
//! `gate.weight` `[1, H]` and `gate.bias` `[1]` (a PyTorch `gate = nn.Linear(H, 1)`) to the tensors above;
//! such models are read by [`load_skip_models`], and [`load_bank`] refuses them rather than run them as
//! plain GRUs. Cards written before the `family` field existed read as plain GRUs (`gru`).
//!
//! LSTM cells: the card's `cell` is `lstm` (else `gru`), the `cell.*` tensors have `4H` rows (PyTorch
//! `nn.LSTMCell`, gates i, f, g, o), a plain model's card entry has family [`FAMILY_LSTM`], and the maps
//! act on the flat state `[h; c]`: `map.<from>.<to>.weight` `[2H_to, 2H_from]`, `.bias` `[2H_to]`
//! (see [`crate::rnn::cell`]). A Skip-LSTM's gate reads `c`, with the same `gate.*` shapes.
//!
//! A SkipW folder holds `card.json` (a [`Card`]`<`[`SkipWCard`]`>`) and `<name>.safetensors` with the
//! classifier's tensors plus `skip.weight` `[L, H + 1]` (last column: the time input's weights),
//! `skip.bias` `[L]` and `skip.time_scale` `[1]` (`T_s`): the `state_dict()` of a PyTorch module with
//! `cell = nn.GRUCell(I, H)` (or `nn.LSTMCell(I, H)`, `4H` rows), `readout = nn.Linear(H, C)` and
//! `skip = nn.Linear(H + 1, L)` fed `[s; τ]`, plus the scale. A file whose `skip.weight` is `[L, H]`
//! (and has no `skip.time_scale`) is the older gate without time input; it loads and runs as before
//! (the shape decides).
//!
//! A nested folder holds `card.json` (a [`Card`]`<`[`NestedCard`]`>`) and `<name>.safetensors`
//! ([`nested_tensors`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::rnn::cell::{CellKind, LayerWeights, RnnCell};
use crate::rnn::model::{BankError, RnnClassifier};

mod bank;
pub mod card;
pub mod import;
mod nested;
mod skipw;

pub use bank::{decode_skip_rnn_classifier, load_bank, load_skip_models, map_tensors, skip_classifier_tensors};
pub use card::{
    BankCard, BankFamily, Card, CardImport, CardImportFile, CardMap, CardModel, CardSeedRun, CardSeedSummary,
    CardSeeds, CardSwitchFineTune, CardThrTraining, CardTraining, FamilyPart, KnobPoint, NestedCard,
    NestedCardSchedules, NestedCardWidth, SkipWCard, SkipWCardKnobs, SkipWCardTrainingKnobs, SkipWGridPoint,
    FAMILY_GRU, FAMILY_LSTM, FAMILY_THR,
};
pub use nested::{decode_nested_cell, encode_nested, load_nested, nested_tensors};
pub use skipw::{decode_skipw_cell, load_skipw, skipw_tensors};

/// Errors when loading or saving a model folder (weights or card).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelIoError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The card is not valid JSON of the expected shape.
    #[error("{path}: invalid model card: {source}")]
    Card {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: serde_json::Error,
    },
    /// A safetensors file is malformed, or a tensor is missing or of the wrong type or shape.
    #[error("{path}: {message}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The card names a flexible family that no loader reads.
    #[error("{path}: unknown model family `{family}`; known: switch (or gru), thr, skipw, nested")]
    Family {
        /// The card.
        path: PathBuf,
        /// The family found.
        family: String,
    },
    /// The models and maps do not form a valid bank.
    #[error("{path}: {source}")]
    Bank {
        /// The folder.
        path: PathBuf,
        /// Underlying error.
        source: BankError,
    },
}

/// Named `f32` tensors to write: name → (shape, values).
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Rows of a readout for a card's `classes`: one per class, or one output for a regression task
/// (`classes` = 0).
pub fn readout_rows(classes: usize) -> usize {
    classes.max(1)
}

/// Encodes tensors as a safetensors buffer (`F32`, little-endian).
pub fn encode_tensors(tensors: &TensorMap) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            (name.clone(), shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, data)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                    .expect("shape matches data by construction"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serialising in-memory tensors cannot fail")
}

/// The bytes of `path` (a regular file of at most [`crate::input::DATA_LIMIT`] bytes); the error names
/// it.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ModelIoError> {
    crate::input::read_bytes(path, crate::input::DATA_LIMIT, "model files")
        .map_err(|source| ModelIoError::Io { path: path.to_path_buf(), source })
}

pub(crate) fn tensor_f32(
    file: &SafeTensors<'_>,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let view = file.tensor(name).map_err(|_| bad(format!("missing tensor `{name}`")))?;
    if view.dtype() != Dtype::F32 {
        return Err(bad(format!("tensor `{name}` is {:?}; only F32 is supported", view.dtype())));
    }
    if view.shape() != shape {
        return Err(bad(format!("tensor `{name}` has shape {:?}, expected {shape:?}", view.shape())));
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("tensor `{name}` holds a non-finite value ({}) at flat index {index}", values[index])));
    }
    Ok(values)
}

/// Decodes one classifier with a `layers`-layer cell of `kind` from safetensors bytes: `cell.weight_ih`
/// `[G·H, I]`, `cell.weight_hh` `[G·H, H]`, `cell.bias_ih` `[G·H]`, `cell.bias_hh` `[G·H]` (`G` = 3
/// for a GRU, 4 for an LSTM), for each stacked layer `l ≥ 1` `cell.weight_ih_l{l}` `[G·H, H]`,
/// `cell.weight_hh_l{l}` `[G·H, H]`, `cell.bias_ih_l{l}`, `cell.bias_hh_l{l}` `[G·H]`, then
/// `readout.weight` `[C, H]`, `readout.bias` `[C]`.
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, non-finite or of the wrong shape.
#[allow(clippy::too_many_arguments)]
pub fn decode_rnn_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    kind: CellKind,
    layers: usize,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<RnnClassifier, ModelIoError> {
    classifier_from(&parse_safetensors(bytes, path)?, path, name, kind, layers, input, hidden, classes)
}

/// Parses safetensors bytes read from `path` (the header; tensors are borrowed, not copied).
///
/// # Errors
/// [`ModelIoError::Tensor`] naming `path` when the bytes are not a safetensors file.
pub(crate) fn parse_safetensors<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>, ModelIoError> {
    SafeTensors::deserialize(bytes).map_err(|e| ModelIoError::Tensor {
        path: path.to_path_buf(),
        message: format!(
            "not a readable safetensors file ({e}); expected what safetensors' `save_file` writes: an 8-byte header length, a JSON header, the tensor data"
        ),
    })
}

/// [`decode_rnn_classifier`] on an already parsed file, so that a family whose files hold more
/// tensors (Skip, SkipW) parses them once.
#[allow(clippy::too_many_arguments)]
pub(crate) fn classifier_from(
    file: &SafeTensors<'_>,
    path: &Path,
    name: &str,
    kind: CellKind,
    layers: usize,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<RnnClassifier, ModelIoError> {
    Ok(RnnClassifier {
        name: name.to_string(),
        cell: decode_cell(file, path, kind, layers, input, hidden)?,
        readout_weight: tensor_f32(file, path, "readout.weight", &[classes, hidden])?,
        readout_bias: tensor_f32(file, path, "readout.bias", &[classes])?,
    })
}

/// Reads the `cell.*` tensors of a `layers`-layer cell of `kind` (see [`decode_rnn_classifier`]); a
/// file that holds a layer more than `layers` is refused (the card and the weights disagree).
pub(crate) fn decode_cell(
    file: &SafeTensors<'_>,
    path: &Path,
    kind: CellKind,
    layers: usize,
    input: usize,
    hidden: usize,
) -> Result<RnnCell, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let rows = kind.gates() * hidden;
    let extra = format!("cell.weight_ih_l{}", layers.max(1));
    if file.names().contains(&extra.as_str()) {
        return Err(bad(format!(
            "tensor `{extra}` is a layer beyond the card's `layers` ({layers}); set `layers` to the number of stacked layers"
        )));
    }
    let mut upper = Vec::new();
    for l in 1..layers {
        let name = |base: &str| format!("cell.{base}_l{l}");
        upper.push(LayerWeights {
            weight_ih: tensor_f32(file, path, &name("weight_ih"), &[rows, hidden])?,
            weight_hh: tensor_f32(file, path, &name("weight_hh"), &[rows, hidden])?,
            bias_ih: tensor_f32(file, path, &name("bias_ih"), &[rows])?,
            bias_hh: tensor_f32(file, path, &name("bias_hh"), &[rows])?,
        });
    }
    RnnCell::new(
        kind,
        input,
        hidden,
        tensor_f32(file, path, "cell.weight_ih", &[rows, input])?,
        tensor_f32(file, path, "cell.weight_hh", &[rows, hidden])?,
        tensor_f32(file, path, "cell.bias_ih", &[rows])?,
        tensor_f32(file, path, "cell.bias_hh", &[rows])?,
    )
    .and_then(|cell| cell.with_upper_layers(upper))
    .map_err(|e| bad(e.to_string()))
}

/// The `cell.*` tensors of a cell, named and shaped as [`decode_cell`] reads them (layer 0 without a
/// suffix, layer `l ≥ 1` with `_l{l}`).
pub(crate) fn cell_tensors(cell: &RnnCell, map: &mut TensorMap) {
    for layer in 0..cell.layers() {
        let suffix = if layer == 0 { String::new() } else { format!("_l{layer}") };
        for (name, values, shape) in cell.layer_tensors(layer) {
            map.insert(format!("cell.{name}{suffix}"), (shape, values.to_vec()));
        }
    }
}

/// The tensors of one model (GRU or LSTM), named as [`decode_rnn_classifier`] reads them.
pub fn classifier_tensors(model: &RnnClassifier) -> TensorMap {
    let (hidden, classes) = (model.hidden_size(), model.classes());
    let mut map = TensorMap::new();
    cell_tensors(&model.cell, &mut map);
    map.insert("readout.weight".into(), (vec![classes, hidden], model.readout_weight.clone()));
    map.insert("readout.bias".into(), (vec![classes], model.readout_bias.clone()));
    map
}

/// Reads and parses `dir/card.json` as any card type; returns it with the card's path (for errors).
///
/// # Errors
/// [`ModelIoError::Io`] if the file cannot be read, [`ModelIoError::Card`] if it does not parse.
pub fn read_card_json<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<(T, PathBuf), ModelIoError> {
    let card_path = dir.join("card.json");
    let bytes = crate::input::read_bytes(&card_path, crate::input::TEXT_LIMIT, "model cards")
        .map_err(|source| ModelIoError::Io { path: card_path.clone(), source })?;
    let card =
        serde_json::from_slice(&bytes).map_err(|source| ModelIoError::Card { path: card_path.clone(), source })?;
    Ok((card, card_path))
}

/// Reads `dir/card.json` as a card of family part `F`, and checks what every family needs: `input` at
/// least 1. Returns it with the card's path (for errors).
///
/// # Errors
/// [`ModelIoError::Io`] if the file cannot be read, [`ModelIoError::Card`] if it does not parse as
/// a card of that family (unknown fields, another family), [`ModelIoError::Tensor`] naming the card
/// if `input` is 0 or a family other than `switch` has `layers` other than 1.
pub fn read_card<F: card::FamilyPart>(dir: &Path) -> Result<(Card<F>, PathBuf), ModelIoError> {
    let (card, card_path): (Card<F>, PathBuf) = read_card_json(dir)?;
    if card.input == 0 {
        return Err(ModelIoError::Tensor { path: card_path, message: "`input` must be at least 1".into() });
    }
    if card.layers != 1 && card.family_name() != "switch" {
        return Err(ModelIoError::Tensor {
            path: card_path,
            message: format!(
                "`layers` is {}: stacked cells are read by model-switching banks (`\"family\": \"switch\"`) only; family `{}` holds one-layer cells",
                card.layers,
                card.family_name()
            ),
        });
    }
    Ok((card, card_path))
}

/// Checks that a card's model name is a plain file stem (not empty, no path separator).
pub(crate) fn check_stem(name: &str, card_path: &Path) -> Result<(), ModelIoError> {
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(ModelIoError::Tensor {
            path: card_path.to_path_buf(),
            message: format!("model name `{name}` must be a plain file stem"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::skip::SkipRnnClassifier;

    fn classifier(name: &str) -> RnnClassifier {
        let hidden = 3;
        let v = |n: usize, k: f32| (0..n).map(|i| i as f32 * k).collect::<Vec<f32>>();
        let cell = RnnCell::gru(2, hidden, v(18, 0.1), v(27, 0.2), v(9, 0.3), v(9, 0.4)).unwrap();
        RnnClassifier { name: name.into(), cell, readout_weight: v(12, 0.5), readout_bias: v(4, 0.6) }
    }

    #[test]
    fn classifier_round_trips_through_safetensors() {
        let model = classifier("m");
        let bytes = encode_tensors(&classifier_tensors(&model));
        let back = decode_rnn_classifier(&bytes, Path::new("m.safetensors"), "m", CellKind::Gru, 1, 2, 3, 4).unwrap();
        assert_eq!(back, model);
        let err =
            decode_rnn_classifier(&bytes, Path::new("m.safetensors"), "m", CellKind::Gru, 1, 2, 4, 4).unwrap_err();
        assert!(err.to_string().contains("cell.weight_ih"), "{err}");
        // The same tensors do not make an LSTM (4H rows).
        let err =
            decode_rnn_classifier(&bytes, Path::new("m.safetensors"), "m", CellKind::Lstm, 1, 2, 3, 4).unwrap_err();
        assert!(err.to_string().contains("cell.weight_ih") && err.to_string().contains("[12, 2]"), "{err}");
    }

    #[test]
    fn skip_classifier_round_trips_and_needs_its_gate() {
        let gru = classifier("s");
        let model = SkipRnnClassifier::new(gru.clone(), vec![0.1, -0.2, 0.3], 1.0);
        let bytes = encode_tensors(&skip_classifier_tensors(&model));
        let back = decode_skip_rnn_classifier(&bytes, Path::new("s.safetensors"), "s", CellKind::Gru, 2, 3, 4).unwrap();
        assert_eq!(back, model);
        let plain = encode_tensors(&classifier_tensors(&gru));
        let err =
            decode_skip_rnn_classifier(&plain, Path::new("g.safetensors"), "g", CellKind::Gru, 2, 3, 4).unwrap_err();
        assert!(err.to_string().contains("gate.weight"), "{err}");
    }
}
