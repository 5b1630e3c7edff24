//! SkipW folders ([`load_skipw`]); see the [parent module](super) for the files.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::card::{Card, SkipWCard};
use super::{
    check_stem, classifier_from, classifier_tensors, parse_safetensors, read, read_card, readout_rows, ModelIoError,
    TensorMap,
};
use crate::rnn::cell::CellKind;
use crate::rnn::skipw::SkipWClassifier;

/// The tensors of a SkipW model's safetensors file (see the [parent module](super)).
pub fn skipw_tensors(model: &SkipWClassifier) -> TensorMap {
    let (gate_weight, gate_bias) = model.gate();
    let mut map = classifier_tensors(&model.base);
    map.insert("skip.weight".into(), (vec![model.window(), model.gate_columns()], gate_weight.to_vec()));
    map.insert("skip.bias".into(), (vec![model.window()], gate_bias.to_vec()));
    if let Some(scale) = model.time_scale() {
        map.insert("skip.time_scale".into(), (vec![1], vec![scale]));
    }
    map
}

fn gate_tensor(file: &SafeTensors<'_>, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let view = file.tensor(name).map_err(|_| bad(format!("missing tensor `{name}`")))?;
    if view.dtype() != Dtype::F32 || view.shape() != shape {
        return Err(bad(format!(
            "tensor `{name}` is {:?} of shape {:?}; expected F32 of shape {shape:?}",
            view.dtype(),
            view.shape()
        )));
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("tensor `{name}` holds a non-finite value at flat index {index}")));
    }
    Ok(values)
}

/// Decodes a SkipW model with a cell of `kind` from safetensors bytes (see the [parent module](super)).
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, of the wrong shape or not finite.
#[allow(clippy::too_many_arguments)]
pub fn decode_skipw_cell(
    bytes: &[u8],
    path: &Path,
    name: &str,
    kind: CellKind,
    input: usize,
    hidden: usize,
    classes: usize,
    window: usize,
) -> Result<SkipWClassifier, ModelIoError> {
    let file = parse_safetensors(bytes, path)?;
    let base = classifier_from(&file, path, name, kind, 1, input, hidden, classes)?;
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    // The shape of `skip.weight` decides: `[L, H + 1]` is the gate with time input, `[L, H]` the older
    // gate without (module doc).
    let with_time = match file.tensor("skip.weight") {
        Ok(view) if view.shape() == [window, hidden + 1] => true,
        Ok(view) if view.shape() == [window, hidden] => false,
        Ok(view) => {
            return Err(bad(format!(
                "tensor `skip.weight` has shape {:?}; expected [{window}, {}] (gate with time input) or [{window}, {hidden}] (older gate without)",
                view.shape(),
                hidden + 1
            )))
        }
        Err(_) => return Err(bad("missing tensor `skip.weight`".into())),
    };
    let weight = gate_tensor(&file, path, "skip.weight", &[window, hidden + usize::from(with_time)])?;
    let bias = gate_tensor(&file, path, "skip.bias", &[window])?;
    let built = if with_time {
        let scale = gate_tensor(&file, path, "skip.time_scale", &[1])?[0];
        SkipWClassifier::with_time_input(base, window, weight, bias, scale)
    } else {
        SkipWClassifier::new(base, window, weight, bias)
    };
    built.map_err(|e| bad(e.to_string()))
}

/// Loads a SkipW model folder: `card.json` (a [`Card`]`<`[`SkipWCard`]`>`) and `<name>.safetensors`.
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong (including a card whose `family` is not
/// `skipw`).
pub fn load_skipw(dir: &Path) -> Result<(SkipWClassifier, Card<SkipWCard>), ModelIoError> {
    let (card, card_path) = read_card::<SkipWCard>(dir)?;
    let part = &card.family;
    if part.hidden == 0 || part.window == 0 {
        return Err(ModelIoError::Tensor {
            path: card_path,
            message: "`input`, `hidden` and `window` must be at least 1".into(),
        });
    }
    check_stem(&part.name, &card_path)?;
    let path = dir.join(format!("{}.safetensors", part.name));
    let model = decode_skipw_cell(
        &read(&path)?,
        &path,
        &part.name,
        card.cell,
        card.input,
        part.hidden,
        readout_rows(card.classes),
        part.window,
    )?;
    Ok((model, card))
}
