//! Reading and writing model banks: safetensors weights plus a JSON model card.
//!
//! A bank folder (e.g. `models/digits-gru/`) holds:
//! - `card.json` — a [`ModelCard`];
//! - one `<name>.safetensors` per model with `cell.weight_ih` `[3H, I]`, `cell.weight_hh` `[3H, H]`,
//!   `cell.bias_ih` `[3H]`, `cell.bias_hh` `[3H]`, `readout.weight` `[C, H]`, `readout.bias` `[C]`, all
//!   `F32` — the `state_dict()` of a PyTorch module with a `cell = nn.GRUCell(I, H)` and a
//!   `readout = nn.Linear(H, C)`, so models trained in PyTorch load as they are;
//! - `maps.safetensors` with `map.<from>.<to>.weight` `[H_to, H_from]` and `map.<from>.<to>.bias` `[H_to]`
//!   for every ordered pair of models of different sizes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::gru::GruCell;
use super::model::{BankError, GruClassifier, ModelBank, StateMap};

/// Errors when loading or saving a bank.
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
    /// The models and maps do not form a valid bank.
    #[error("{path}: {source}")]
    Bank {
        /// The folder.
        path: PathBuf,
        /// Underlying error.
        source: BankError,
    },
}

/// One model's entry in a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardModel {
    /// Unique name, also the weight file's stem.
    pub name: String,
    /// Hidden size `H`.
    pub hidden: usize,
    /// FLOPs of one GRU step (see [`GruCell::flops_per_step`]).
    pub flops_per_step: u64,
    /// FLOPs of the readout at the end of a sequence.
    pub flops_readout: u64,
    /// Bytes of all parameters (`f32`).
    pub param_bytes: u64,
    /// Accuracy on the test split, the model alone.
    pub test_accuracy: f64,
    /// Accuracy on the validation split (used to pick the epoch).
    pub validation_accuracy: f64,
    /// Epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    /// Wall time of this model's training, seconds.
    pub train_wall_s: f64,
}

/// One state map's entry in a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardMap {
    /// Source model name.
    pub from: String,
    /// Target model name.
    pub to: String,
    /// FLOPs of one application.
    pub flops: u64,
    /// Ridge penalty chosen on validation states.
    pub ridge_lambda: f64,
    /// Mean squared error per unit on test-split states, learned map.
    pub test_mse: f64,
    /// Mean squared error per unit on test-split states, truncation / zero padding.
    pub test_mse_truncate_pad: f64,
}

/// How the bank was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardTraining {
    /// The exact command line.
    pub command: String,
    /// Seed of initialisation and batch order.
    pub seed: u64,
    /// Autodiff library and version.
    pub autodiff: String,
    /// Optimiser and hyper-parameters, in words.
    pub optimiser: String,
    /// Maximum epochs per model.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Wall time of the whole command (models and maps), seconds.
    pub wall_time_s: f64,
    /// The data split (seed, fractions, indices into the data set).
    pub split: crate::data::Split,
}

/// The model card `card.json` of a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Task / data set name (e.g. `digits`).
    pub task: String,
    /// Flexible family (`switch` for a model-switching bank).
    pub family: String,
    /// Cell type (`gru`).
    pub cell: String,
    /// Input features per step.
    pub input: usize,
    /// Number of classes.
    pub classes: usize,
    /// The models, narrowest first.
    pub models: Vec<CardModel>,
    /// The state maps.
    pub maps: Vec<CardMap>,
    /// Training record.
    pub training: CardTraining,
}

/// Named `f32` tensors to write: name → (shape, values).
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

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

fn read(path: &Path) -> Result<Vec<u8>, ModelIoError> {
    std::fs::read(path).map_err(|source| ModelIoError::Io { path: path.to_path_buf(), source })
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

/// Decodes one model from safetensors bytes.
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, or of the wrong shape.
pub fn decode_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<GruClassifier, ModelIoError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| ModelIoError::Tensor { path: path.to_path_buf(), message: e.to_string() })?;
    let cell = GruCell::new(
        input,
        hidden,
        tensor_f32(&file, path, "cell.weight_ih", &[3 * hidden, input])?,
        tensor_f32(&file, path, "cell.weight_hh", &[3 * hidden, hidden])?,
        tensor_f32(&file, path, "cell.bias_ih", &[3 * hidden])?,
        tensor_f32(&file, path, "cell.bias_hh", &[3 * hidden])?,
    )
    .map_err(|e| ModelIoError::Tensor { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(GruClassifier {
        name: name.to_string(),
        cell,
        readout_weight: tensor_f32(&file, path, "readout.weight", &[classes, hidden])?,
        readout_bias: tensor_f32(&file, path, "readout.bias", &[classes])?,
    })
}

/// The tensors of one model, named as [`decode_classifier`] reads them.
pub fn classifier_tensors(model: &GruClassifier) -> TensorMap {
    let (input, hidden, classes) = (model.cell.input_size(), model.hidden_size(), model.classes());
    let shapes = [vec![3 * hidden, input], vec![3 * hidden, hidden], vec![3 * hidden], vec![3 * hidden]];
    let mut map = TensorMap::new();
    for ((name, values), shape) in model.cell.tensors().into_iter().zip(shapes) {
        map.insert(format!("cell.{name}"), (shape, values.to_vec()));
    }
    map.insert("readout.weight".into(), (vec![classes, hidden], model.readout_weight.clone()));
    map.insert("readout.bias".into(), (vec![classes], model.readout_bias.clone()));
    map
}

/// Loads a bank folder (see the module doc).
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong.
pub fn load_bank(dir: &Path) -> Result<(ModelBank, ModelCard), ModelIoError> {
    let card_path = dir.join("card.json");
    let card: ModelCard = serde_json::from_slice(&read(&card_path)?)
        .map_err(|source| ModelIoError::Card { path: card_path.clone(), source })?;
    let invalid = |message: String| ModelIoError::Tensor { path: card_path.clone(), message };
    if card.input == 0 || card.classes == 0 || card.models.is_empty() {
        return Err(invalid(
            "`input` and `classes` must be at least 1 and `models` must list at least one model".into(),
        ));
    }
    if let Some(entry) = card.models.iter().find(|m| m.hidden == 0 || m.name.is_empty() || m.name.contains(['/', '\\']))
    {
        return Err(invalid(format!(
            "model `{}`: `hidden` must be at least 1 and the name a plain file stem",
            entry.name
        )));
    }
    let mut models = Vec::with_capacity(card.models.len());
    for entry in &card.models {
        let path = dir.join(format!("{}.safetensors", entry.name));
        models.push(decode_classifier(&read(&path)?, &path, &entry.name, card.input, entry.hidden, card.classes)?);
    }
    let maps_path = dir.join("maps.safetensors");
    let mut maps = Vec::new();
    if models.windows(2).any(|w| w[0].hidden_size() != w[1].hidden_size()) || models.len() > 1 {
        let bytes = read(&maps_path)?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| ModelIoError::Tensor { path: maps_path.clone(), message: e.to_string() })?;
        for (from, a) in models.iter().enumerate() {
            for (to, b) in models.iter().enumerate() {
                if from == to || a.hidden_size() == b.hidden_size() {
                    continue;
                }
                let key = format!("map.{}.{}", a.name, b.name);
                let weight =
                    tensor_f32(&file, &maps_path, &format!("{key}.weight"), &[b.hidden_size(), a.hidden_size()])?;
                let bias = tensor_f32(&file, &maps_path, &format!("{key}.bias"), &[b.hidden_size()])?;
                maps.push((
                    from,
                    to,
                    StateMap { from_hidden: a.hidden_size(), to_hidden: b.hidden_size(), weight, bias },
                ));
            }
        }
    }
    let bank = ModelBank::new(models, maps).map_err(|source| ModelIoError::Bank { path: dir.to_path_buf(), source })?;
    Ok((bank, card))
}

/// The tensors of `maps.safetensors` for a bank's maps given as `(from_name, to_name, map)`.
pub fn map_tensors<'a>(maps: impl IntoIterator<Item = (&'a str, &'a str, &'a StateMap)>) -> TensorMap {
    let mut out = TensorMap::new();
    for (from, to, map) in maps {
        out.insert(format!("map.{from}.{to}.weight"), (vec![map.to_hidden, map.from_hidden], map.weight.clone()));
        out.insert(format!("map.{from}.{to}.bias"), (vec![map.to_hidden], map.bias.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_round_trips_through_safetensors() {
        let hidden = 3;
        let v = |n: usize, k: f32| (0..n).map(|i| i as f32 * k).collect::<Vec<f32>>();
        let cell = GruCell::new(2, hidden, v(18, 0.1), v(27, 0.2), v(9, 0.3), v(9, 0.4)).unwrap();
        let model = GruClassifier { name: "m".into(), cell, readout_weight: v(12, 0.5), readout_bias: v(4, 0.6) };
        let bytes = encode_tensors(&classifier_tensors(&model));
        let back = decode_classifier(&bytes, Path::new("m.safetensors"), "m", 2, hidden, 4).unwrap();
        assert_eq!(back, model);
        let err = decode_classifier(&bytes, Path::new("m.safetensors"), "m", 2, 4, 4).unwrap_err();
        assert!(err.to_string().contains("cell.weight_ih"), "{err}");
    }
}
