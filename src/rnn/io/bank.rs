//! Bank folders: plain GRU/LSTM models and their state maps ([`load_bank`]), and the Skip models of
//! the ThrRNN family ([`load_skip_models`]); see the [parent module](super) for the files.

use std::path::Path;

use safetensors::SafeTensors;

use super::card::{BankCard, Card, FAMILY_THR};
use super::{
    check_stem, classifier_from, classifier_tensors, decode_rnn_classifier, parse_safetensors, read, read_card,
    readout_rows, tensor_f32, ModelIoError, TensorMap,
};
use crate::rnn::cell::CellKind;
use crate::rnn::model::{ModelBank, StateMap};
use crate::rnn::skip::SkipRnnClassifier;

/// Decodes one Skip-RNN classifier with a cell of `kind` from safetensors bytes: the classifier's
/// tensors ([`super::decode_rnn_classifier`]) and the skip gate's `gate.weight` `[1, H]`, `gate.bias` `[1]`.
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
) -> Result<SkipRnnClassifier, ModelIoError> {
    let file = parse_safetensors(bytes, path)?;
    let base = classifier_from(&file, path, name, kind, 1, input, hidden, classes)?;
    let gate_weight = tensor_f32(&file, path, "gate.weight", &[1, hidden])?;
    let gate_bias = tensor_f32(&file, path, "gate.bias", &[1])?;
    Ok(SkipRnnClassifier::new(base, gate_weight, gate_bias[0]))
}

/// The tensors of one Skip-GRU or Skip-LSTM, named as [`decode_skip_rnn_classifier`] reads them.
pub fn skip_classifier_tensors(model: &SkipRnnClassifier) -> TensorMap {
    let mut map = classifier_tensors(&model.base);
    map.insert("gate.weight".into(), (vec![1, model.hidden_size()], model.gate_weight.clone()));
    map.insert("gate.bias".into(), (vec![1], model.gate_bias.to_vec()));
    map
}

/// Reads a bank's card and checks its models' names and sizes.
fn read_bank_card(dir: &Path) -> Result<(Card<BankCard>, std::path::PathBuf), ModelIoError> {
    let (card, card_path) = read_card::<BankCard>(dir)?;
    if card.family.models.is_empty() {
        return Err(ModelIoError::Tensor { path: card_path, message: "`models` must list at least one model".into() });
    }
    for entry in &card.family.models {
        check_stem(&entry.name, &card_path)?;
        if entry.hidden == 0 {
            return Err(ModelIoError::Tensor {
                path: card_path,
                message: format!("model `{}`: `hidden` must be at least 1", entry.name),
            });
        }
    }
    Ok((card, card_path))
}

/// Loads the Skip-GRUs (or, with `"cell": "lstm"`, Skip-LSTMs) of a folder whose card lists only
/// models of family [`FAMILY_THR`] (e.g. `models/digits-thr/`), in card order. No state maps are read: models of the same size pass the state
/// as it is.
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong, also when a model is not a Skip-GRU.
pub fn load_skip_models(dir: &Path) -> Result<(Vec<SkipRnnClassifier>, Card<BankCard>), ModelIoError> {
    let (card, card_path) = read_bank_card(dir)?;
    let kind = card.cell;
    let mut models = Vec::with_capacity(card.family.models.len());
    for entry in &card.family.models {
        if entry.model_family() != FAMILY_THR {
            return Err(ModelIoError::Tensor {
                path: card_path.clone(),
                message: format!(
                    "model `{}` is of family `{}`, not `{FAMILY_THR}` (a Skip-GRU); load the folder as a model bank",
                    entry.name,
                    entry.model_family()
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

/// Loads a bank folder of GRUs or LSTMs (see the [parent module](super)).
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong.
pub fn load_bank(dir: &Path) -> Result<(ModelBank, Card<BankCard>), ModelIoError> {
    let (card, card_path) = read_bank_card(dir)?;
    let kind = card.cell;
    // A plain model's family is its cell's name (`gru` or `lstm`).
    let plain = kind.as_str();
    if let Some(entry) = card.family.models.iter().find(|m| m.model_family() != plain) {
        return Err(ModelIoError::Tensor {
            path: card_path,
            message: format!(
                "model `{}` is of family `{}`; a model bank of `{plain}` cells holds plain models (`{plain}`) only{}",
                entry.name,
                entry.model_family(),
                if entry.model_family() == FAMILY_THR { " (Skip-GRUs are read by `load_skip_models`)" } else { "" }
            ),
        });
    }
    let mut models = Vec::with_capacity(card.family.models.len());
    for entry in &card.family.models {
        let path = dir.join(format!("{}.safetensors", entry.name));
        models.push(decode_rnn_classifier(
            &read(&path)?,
            &path,
            &entry.name,
            kind,
            card.layers,
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
