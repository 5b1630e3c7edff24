//! Reading and writing model banks: safetensors weights plus a JSON model card.
//!
//! A bank folder (e.g. `models/digits-gru/`) holds:
//! - `card.json` — a [`ModelCard`];
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::cell::{CellKind, RnnCell};
use super::model::{BankError, GruClassifier, ModelBank, RnnClassifier, StateMap};
use super::skip::SkipGruClassifier;

/// Model family of a plain GRU classifier (the default of [`CardModel::family`]).
pub const FAMILY_GRU: &str = "gru";
/// Model family of a plain LSTM classifier (in an LSTM bank, whose card says `"cell": "lstm"`).
pub const FAMILY_LSTM: &str = "lstm";
/// Model family of a Skip-GRU or Skip-LSTM whose threshold `thr` is a run-time knob (ThrRNN).
pub const FAMILY_THR: &str = "thr";

fn default_model_family() -> String {
    FAMILY_GRU.to_string()
}

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

/// One model's entry in a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardModel {
    /// Unique name, also the weight file's stem.
    pub name: String,
    /// Hidden size `H`.
    pub hidden: usize,
    /// FLOPs of one cell step (see [`RnnCell::flops_per_step`]).
    pub flops_per_step: u64,
    /// FLOPs of the readout at the end of a sequence.
    pub flops_readout: u64,
    /// Bytes of all parameters (`f32`).
    pub param_bytes: u64,
    /// Accuracy on the test split, the model alone (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Accuracy on the validation split, used to pick the epoch (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    /// Mean squared error on the test split, the model alone (regression tasks: the card's `classes`
    /// is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// Mean squared error on the validation split, used to pick the epoch (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mse: Option<f64>,
    /// Epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    /// Wall time of this model's training, seconds.
    pub train_wall_s: f64,
    /// Model family: [`FAMILY_GRU`] (plain GRU classifier; the default, so older cards read unchanged),
    /// [`FAMILY_LSTM`] (plain LSTM classifier) or [`FAMILY_THR`] (Skip-GRU or Skip-LSTM; then `flops_per_step` is the FLOPs of an **updated** step and
    /// `test_accuracy` / `validation_accuracy` are at the training threshold `thr = 0.5`).
    #[serde(default = "default_model_family")]
    pub family: String,
    /// `thr` only: FLOPs of a skipped step ([`SkipGruClassifier::flops_per_skip`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops_per_skip: Option<u64>,
    /// `thr` only: weight λ of the budget term `λ · mean over sequences of Σ_t u_t` in the training loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_lambda: Option<f64>,
    /// Test-split results of the model alone at a grid of knob settings (`thr`: thresholds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knob_grid: Vec<KnobPoint>,
}

/// The test-split result of one model at one knob setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobPoint {
    /// The setting, knob name → value (e.g. `{"thr": 0.5}`).
    pub knobs: BTreeMap<String, f64>,
    /// Accuracy on the test split (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Mean squared error on the test split (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// Share of steps that updated the state (skipping families), over all test steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_share: Option<f64>,
    /// Mean FLOPs per step over all test steps (updated and skipped; the readout excluded).
    pub mean_flops_per_step: f64,
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
    /// ThrRNN training only (`family: "thr"`): how `thr` was drawn, the λ curriculum and the
    /// switch fine-tune; absent in cards from before them (trained at `thr = 0.5` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thr_training: Option<CardThrTraining>,
}

/// How a ThrRNN bank (`family: "thr"`) was trained, recorded in [`CardTraining::thr_training`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardThrTraining {
    /// `[lo, hi]`: per training sequence `thr` is drawn uniformly from this range (unless 0, see
    /// [`Self::zero_share`]).
    pub thr_range: [f64; 2],
    /// Probability that a drawn `thr` is 0 (read every step) instead of a value of the range.
    pub zero_share: f64,
    /// Most changes of `thr` inside one training sequence (each at a random step, uniform number
    /// `0..=thr_changes`).
    pub thr_changes: usize,
    /// Whether the second and later models of one width started from the weights of the one with the
    /// next smaller λ.
    pub lambda_curriculum: bool,
    /// Epochs of the joint fine-tune with switches between the models of one width (0: none).
    pub switch_epochs: usize,
    /// Most switches between models inside one fine-tune sequence (uniform number `1..=switch_changes`).
    pub switch_changes: usize,
    /// Epoch of the fine-tune whose weights were kept per width (0: the weights before it), in card
    /// width order.
    pub switch_best_epochs: Vec<usize>,
    /// The thresholds whose mean validation score chose the kept epoch.
    pub selection_thr: Vec<f64>,
    /// The whole recipe in words (loss terms and weights, selection criterion).
    pub description: String,
}

/// The model card `card.json` of a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Task / data set name (e.g. `digits`).
    pub task: String,
    /// Flexible family of the bank (`switch` for a model-switching bank of plain GRUs, `thr` for a bank of
    /// Skip-GRUs whose threshold is the knob); each model's own kind is [`CardModel::family`].
    pub family: String,
    /// Cell type of every model (`gru` or `lstm`, see [`CellKind`]).
    pub cell: String,
    /// Input features per step.
    pub input: usize,
    /// Number of classes; 0 for a regression task (one real output, scored by mean squared error).
    pub classes: usize,
    /// The models, narrowest first.
    pub models: Vec<CardModel>,
    /// The state maps.
    pub maps: Vec<CardMap>,
    /// Training record.
    pub training: CardTraining,
    /// The switch-aware fine-tuning of a switching bank's members and maps, when one ran (absent in
    /// cards written before it existed, and with `--switch-epochs 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_fine_tune: Option<CardSwitchFineTune>,
    /// Scores of the same model trained with other seeds (`flexrnn seeds`); absent in a folder of one
    /// training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<CardSeeds>,
}

/// How a switching bank was fine-tuned with switches inside sequences (`flexrnn train --switch-epochs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSwitchFineTune {
    /// The loss, in words (terms and weights).
    pub loss: String,
    /// Fine-tuning epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept (0: the starting point, ridge maps and unchanged members).
    pub chosen_epoch: usize,
    /// AdamW learning rate of the maps (cosine decay to 5 %).
    pub learning_rate: f64,
    /// AdamW learning rate of the members (0: members frozen).
    pub member_learning_rate: f64,
    /// Most changes of model per training sequence (each run has 1 to this many).
    pub max_changes: usize,
    /// Weight of the members' own task loss, each run alone.
    pub weight_alone: f64,
    /// Weight of the state-matching term (MSE between a mapped state and the receiving model's own state).
    pub weight_match: f64,
    /// Random switch schedules per mini-batch.
    pub schedules_per_batch: usize,
    /// Fixed seeded schedules per validation sequence of the selection objective.
    pub validation_schedules: usize,
    /// Validation objective per epoch, index 0 = the starting point: mean quality (accuracy, or
    /// −MSE) of the mixed runs plus the members' mean quality alone.
    pub validation_objective: Vec<f64>,
    /// Validation accuracy or MSE of the mixed runs at the starting point.
    pub validation_mixed_start: f64,
    /// Validation accuracy or MSE of the mixed runs with the kept weights.
    pub validation_mixed_chosen: f64,
    /// The folder whose bank was the starting point (`--init-from`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// The fine-tuning command line (also in `training.command` unless `--init-from` was used).
    pub command: String,
    /// Wall time of the fine-tuning, seconds.
    pub wall_time_s: f64,
}

/// The `seeds` section of a card (every card type has it, optional): the same family, task and
/// settings trained with several `--seed`, each seed's test-split score per setting (every step in
/// that setting, through `FlexibleModel`, as `flexrnn eval` measures the settings alone) and the mean
/// and sample standard deviation over seeds. Written by `flexrnn seeds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSeeds {
    /// The seed whose weights are the folder's files.
    pub shipped: u64,
    /// The score's metric: `accuracy` (share of test sequences right) or `mse`.
    pub metric: String,
    /// Setting names, in the model's order (the order of every score list below).
    pub settings: Vec<String>,
    /// One entry per seed, in the order given to `flexrnn seeds`.
    pub runs: Vec<CardSeedRun>,
    /// Per setting: mean and standard deviation over the seeds.
    pub summary: Vec<CardSeedSummary>,
}

/// One seed's scores in a [`CardSeeds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSeedRun {
    /// The training seed (`training.seed` of its card).
    pub seed: u64,
    /// Name of the folder it was read from.
    pub folder: String,
    /// Wall time of its training command, seconds (`training.wall_time_s` of its card).
    pub train_wall_time_s: f64,
    /// Test score per setting (accuracy or MSE, see [`CardSeeds::metric`]).
    pub scores: Vec<f64>,
    /// Share of steps updated per setting (families that skip steps: `thr`, `skipw`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_shares: Vec<f64>,
}

/// One setting's spread over seeds in a [`CardSeeds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSeedSummary {
    /// Setting name.
    pub setting: String,
    /// Mean score over the seeds.
    pub mean: f64,
    /// Sample standard deviation of the score over the seeds (divisor n − 1).
    pub sd: f64,
    /// Mean update share over the seeds (families that skip steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_share_mean: Option<f64>,
    /// Sample standard deviation of the update share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_share_sd: Option<f64>,
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

/// Decodes one GRU classifier from safetensors bytes ([`decode_rnn_classifier`] with
/// [`CellKind::Gru`]).
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
    decode_rnn_classifier(bytes, path, name, CellKind::Gru, input, hidden, classes)
}

/// Decodes one classifier with a cell of `kind` from safetensors bytes: `cell.weight_ih` `[G·H, I]`,
/// `cell.weight_hh` `[G·H, H]`, `cell.bias_ih` `[G·H]`, `cell.bias_hh` `[G·H]` (`G` = 3 for a GRU,
/// 4 for an LSTM), `readout.weight` `[C, H]`, `readout.bias` `[C]`.
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, non-finite or of the wrong shape.
pub fn decode_rnn_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    kind: CellKind,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<RnnClassifier, ModelIoError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| ModelIoError::Tensor { path: path.to_path_buf(), message: e.to_string() })?;
    let cell = decode_cell(&file, path, kind, input, hidden)?;
    Ok(RnnClassifier {
        name: name.to_string(),
        cell,
        readout_weight: tensor_f32(&file, path, "readout.weight", &[classes, hidden])?,
        readout_bias: tensor_f32(&file, path, "readout.bias", &[classes])?,
    })
}

/// Reads the `cell.*` tensors of a cell of `kind` (see [`decode_rnn_classifier`]).
pub(crate) fn decode_cell(
    file: &SafeTensors<'_>,
    path: &Path,
    kind: CellKind,
    input: usize,
    hidden: usize,
) -> Result<RnnCell, ModelIoError> {
    let rows = kind.gates() * hidden;
    RnnCell::new(
        kind,
        input,
        hidden,
        tensor_f32(file, path, "cell.weight_ih", &[rows, input])?,
        tensor_f32(file, path, "cell.weight_hh", &[rows, hidden])?,
        tensor_f32(file, path, "cell.bias_ih", &[rows])?,
        tensor_f32(file, path, "cell.bias_hh", &[rows])?,
    )
    .map_err(|e| ModelIoError::Tensor { path: path.to_path_buf(), message: e.to_string() })
}

/// The `cell.*` tensors of a cell, named and shaped as [`decode_cell`] reads them.
pub(crate) fn cell_tensors(cell: &RnnCell, map: &mut TensorMap) {
    for ((name, values), shape) in cell.tensors().into_iter().zip(cell.tensor_shapes()) {
        map.insert(format!("cell.{name}"), (shape, values.to_vec()));
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

/// Decodes one Skip-GRU or Skip-LSTM from safetensors bytes: the tensors of [`decode_rnn_classifier`]
/// plus `gate.weight` `[1, H]` and `gate.bias` `[1]`.
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, or of the wrong shape.
pub fn decode_skip_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<SkipGruClassifier, ModelIoError> {
    decode_skip_rnn_classifier(bytes, path, name, CellKind::Gru, input, hidden, classes)
}

/// [`decode_skip_classifier`] for a cell of `kind`.
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, or of the wrong shape.
pub fn decode_skip_rnn_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    kind: CellKind,
    input: usize,
    hidden: usize,
    classes: usize,
) -> Result<SkipGruClassifier, ModelIoError> {
    let base = decode_rnn_classifier(bytes, path, name, kind, input, hidden, classes)?;
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| ModelIoError::Tensor { path: path.to_path_buf(), message: e.to_string() })?;
    let gate_weight = tensor_f32(&file, path, "gate.weight", &[1, hidden])?;
    let gate_bias = tensor_f32(&file, path, "gate.bias", &[1])?;
    Ok(SkipGruClassifier::new(base, gate_weight, gate_bias[0]))
}

/// The tensors of one Skip-GRU or Skip-LSTM, named as [`decode_skip_rnn_classifier`] reads them.
pub fn skip_classifier_tensors(model: &SkipGruClassifier) -> TensorMap {
    let mut map = classifier_tensors(&model.base);
    map.insert("gate.weight".into(), (vec![1, model.hidden_size()], model.gate_weight.clone()));
    map.insert("gate.bias".into(), (vec![1], model.gate_bias.to_vec()));
    map
}

/// The card's `cell` as a [`CellKind`].
///
/// # Errors
/// [`ModelIoError::Tensor`] naming the card when the cell is neither `gru` nor `lstm`.
pub(crate) fn card_cell(cell: &str, card_path: &Path) -> Result<CellKind, ModelIoError> {
    CellKind::parse(cell).ok_or_else(|| ModelIoError::Tensor {
        path: card_path.to_path_buf(),
        message: format!("unknown cell `{cell}`; known: gru, lstm"),
    })
}

/// Reads and parses `dir/card.json` as any card type; returns it with the card's path (for errors).
///
/// # Errors
/// [`ModelIoError::Io`] if the file cannot be read, [`ModelIoError::Card`] if it does not parse.
pub(crate) fn read_card_json<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<(T, PathBuf), ModelIoError> {
    let card_path = dir.join("card.json");
    let bytes = crate::input::read_bytes(&card_path, crate::input::TEXT_LIMIT, "model cards")
        .map_err(|source| ModelIoError::Io { path: card_path.clone(), source })?;
    let card =
        serde_json::from_slice(&bytes).map_err(|source| ModelIoError::Card { path: card_path.clone(), source })?;
    Ok((card, card_path))
}

fn read_card(dir: &Path) -> Result<(ModelCard, PathBuf), ModelIoError> {
    let (card, card_path): (ModelCard, PathBuf) = read_card_json(dir)?;
    let invalid = |message: String| ModelIoError::Tensor { path: card_path.clone(), message };
    if card.input == 0 || card.models.is_empty() {
        return Err(invalid("`input` must be at least 1 and `models` must list at least one model".into()));
    }
    if let Some(entry) = card.models.iter().find(|m| m.hidden == 0 || m.name.is_empty() || m.name.contains(['/', '\\']))
    {
        return Err(invalid(format!(
            "model `{}`: `hidden` must be at least 1 and the name a plain file stem",
            entry.name
        )));
    }
    Ok((card, card_path))
}

/// Loads the Skip-GRUs (or, with `"cell": "lstm"`, Skip-LSTMs) of a folder whose card lists only
/// models of family [`FAMILY_THR`] (e.g. `models/digits-thr/`), in card order. No state maps are read: models of the same size pass the state
/// as it is.
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong, also when a model is not a Skip-GRU.
pub fn load_skip_models(dir: &Path) -> Result<(Vec<SkipGruClassifier>, ModelCard), ModelIoError> {
    let (card, card_path) = read_card(dir)?;
    let kind = card_cell(&card.cell, &card_path)?;
    let mut models = Vec::with_capacity(card.models.len());
    for entry in &card.models {
        if entry.family != FAMILY_THR {
            return Err(ModelIoError::Tensor {
                path: card_path.clone(),
                message: format!(
                    "model `{}` is of family `{}`, not `{FAMILY_THR}` (a Skip-GRU); load the folder as a model bank",
                    entry.name, entry.family
                ),
            });
        }
        let path = dir.join(format!("{}.safetensors", entry.name));
        models.push(decode_skip_rnn_classifier(
            &read(&path)?,
            &path,
            &entry.name,
            kind,
            card.input,
            entry.hidden,
            readout_rows(card.classes),
        )?);
    }
    Ok((models, card))
}

/// Loads a bank folder of GRUs or LSTMs (see the module doc).
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong.
pub fn load_bank(dir: &Path) -> Result<(ModelBank, ModelCard), ModelIoError> {
    let (card, card_path) = read_card(dir)?;
    let kind = card_cell(&card.cell, &card_path)?;
    // A plain model's family is its cell's name (`gru` or `lstm`).
    let plain = kind.as_str();
    if let Some(entry) = card.models.iter().find(|m| m.family != plain) {
        return Err(ModelIoError::Tensor {
            path: card_path,
            message: format!(
                "model `{}` is of family `{}`; a model bank of `{plain}` cells holds plain models (`{plain}`) only{}",
                entry.name,
                entry.family,
                if entry.family == FAMILY_THR { " (Skip-GRUs are read by `load_skip_models`)" } else { "" }
            ),
        });
    }
    let mut models = Vec::with_capacity(card.models.len());
    for entry in &card.models {
        let path = dir.join(format!("{}.safetensors", entry.name));
        models.push(decode_rnn_classifier(
            &read(&path)?,
            &path,
            &entry.name,
            kind,
            card.input,
            entry.hidden,
            readout_rows(card.classes),
        )?);
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
                let (sa, sb) = (a.state_len(), b.state_len());
                let weight = tensor_f32(&file, &maps_path, &format!("{key}.weight"), &[sb, sa])?;
                let bias = tensor_f32(&file, &maps_path, &format!("{key}.bias"), &[sb])?;
                maps.push((from, to, StateMap { from_hidden: sa, to_hidden: sb, weight, bias }));
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
        let cell = RnnCell::gru(2, hidden, v(18, 0.1), v(27, 0.2), v(9, 0.3), v(9, 0.4)).unwrap();
        let model = GruClassifier { name: "m".into(), cell, readout_weight: v(12, 0.5), readout_bias: v(4, 0.6) };
        let bytes = encode_tensors(&classifier_tensors(&model));
        let back = decode_classifier(&bytes, Path::new("m.safetensors"), "m", 2, hidden, 4).unwrap();
        assert_eq!(back, model);
        let err = decode_classifier(&bytes, Path::new("m.safetensors"), "m", 2, 4, 4).unwrap_err();
        assert!(err.to_string().contains("cell.weight_ih"), "{err}");
    }

    #[test]
    fn skip_classifier_round_trips_and_needs_its_gate() {
        let hidden = 3;
        let v = |n: usize, k: f32| (0..n).map(|i| i as f32 * k).collect::<Vec<f32>>();
        let cell = RnnCell::gru(2, hidden, v(18, 0.1), v(27, 0.2), v(9, 0.3), v(9, 0.4)).unwrap();
        let gru = GruClassifier { name: "s".into(), cell, readout_weight: v(12, 0.5), readout_bias: v(4, 0.6) };
        let model = SkipGruClassifier::new(gru.clone(), vec![0.1, -0.2, 0.3], 1.0);
        let bytes = encode_tensors(&skip_classifier_tensors(&model));
        let back = decode_skip_classifier(&bytes, Path::new("s.safetensors"), "s", 2, hidden, 4).unwrap();
        assert_eq!(back, model);
        let plain = encode_tensors(&classifier_tensors(&gru));
        let err = decode_skip_classifier(&plain, Path::new("g.safetensors"), "g", 2, hidden, 4).unwrap_err();
        assert!(err.to_string().contains("gate.weight"), "{err}");
    }

    #[test]
    fn card_entries_without_family_read_as_plain_gru() {
        let old = r#"{"name": "gru-16", "hidden": 16, "flops_per_step": 1888, "flops_readout": 330,
            "param_bytes": 4328, "test_accuracy": 0.85, "validation_accuracy": 0.91, "best_epoch": 37,
            "train_wall_s": 59.3}"#;
        let entry: CardModel = serde_json::from_str(old).unwrap();
        assert_eq!(entry.family, FAMILY_GRU);
        assert!(entry.flops_per_skip.is_none() && entry.budget_lambda.is_none() && entry.knob_grid.is_empty());
        let written = serde_json::to_string(&entry).unwrap();
        assert!(!written.contains("knob_grid") && !written.contains("flops_per_skip"), "{written}");
        assert_eq!(serde_json::from_str::<CardModel>(&written).unwrap(), entry);
    }
}
