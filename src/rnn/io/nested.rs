//! Nested-width folders ([`load_nested`]); see the [parent module](super) for the files.

use std::path::Path;

use super::card::{Card, NestedCard};
use super::{
    cell_tensors, check_stem, decode_cell, encode_tensors, parse_safetensors, read, read_card, readout_rows,
    tensor_f32, ModelIoError, TensorMap,
};
use crate::rnn::cell::CellKind;
use crate::rnn::nested::{NestedReadout, NestedRnn};

/// The tensors of a nested model as `<name>.safetensors` holds them: `cell.weight_ih` `[3H, I]`,
/// `cell.weight_hh` `[3H, H]`, `cell.bias_ih` `[3H]`, `cell.bias_hh` `[3H]` (the names and layout of
/// the GRU bank files, i.e. a PyTorch `nn.GRUCell` called `cell`; `4H` rows for an `nn.LSTMCell`), and
/// per width `w` `readout.<w>.weight` `[C, w]`, `readout.<w>.bias` `[C]` (an `nn.ModuleDict` of
/// `nn.Linear(w, C)`).
pub fn nested_tensors(model: &NestedRnn) -> TensorMap {
    let classes = model.classes();
    let mut map = TensorMap::new();
    cell_tensors(model.cell(), &mut map);
    for readout in model.readouts() {
        map.insert(format!("readout.{}.weight", readout.width), (vec![classes, readout.width], readout.weight.clone()));
        map.insert(format!("readout.{}.bias", readout.width), (vec![classes], readout.bias.clone()));
    }
    map
}

/// Encodes a nested model as safetensors bytes ([`nested_tensors`]).
pub fn encode_nested(model: &NestedRnn) -> Vec<u8> {
    encode_tensors(&nested_tensors(model))
}

/// Decodes a nested model with a cell of `kind` from safetensors bytes ([`nested_tensors`]).
///
/// # Errors
/// [`ModelIoError::Tensor`] if a tensor is missing, not `F32`, non-finite or of the wrong shape, or
/// the widths are invalid.
#[allow(clippy::too_many_arguments)]
pub fn decode_nested_cell(
    bytes: &[u8],
    path: &Path,
    name: &str,
    kind: CellKind,
    input: usize,
    hidden: usize,
    classes: usize,
    widths: &[usize],
) -> Result<NestedRnn, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let file = parse_safetensors(bytes, path)?;
    let get = |tensor: &str, shape: &[usize]| tensor_f32(&file, path, tensor, shape);
    let cell = decode_cell(&file, path, kind, 1, input, hidden)?;
    let mut readouts = Vec::with_capacity(widths.len());
    for &width in widths {
        if width == 0 || width > hidden {
            return Err(bad(format!("width {width} outside 1..={hidden}")));
        }
        readouts.push(NestedReadout {
            width,
            weight: get(&format!("readout.{width}.weight"), &[classes, width])?,
            bias: get(&format!("readout.{width}.bias"), &[classes])?,
        });
    }
    NestedRnn::new(name, cell, widths.to_vec(), readouts).map_err(|e| bad(e.to_string()))
}

/// Loads a nested model folder: `card.json` (a [`Card`]`<`[`NestedCard`]`>`) and `<name>.safetensors`.
///
/// # Errors
/// [`ModelIoError`] naming the file and what is wrong (a card of another family is rejected).
pub fn load_nested(dir: &Path) -> Result<(NestedRnn, Card<NestedCard>), ModelIoError> {
    let (card, card_path) = read_card::<NestedCard>(dir)?;
    let part = &card.family;
    check_stem(&part.name, &card_path)?;
    let widths: Vec<usize> = part.widths.iter().map(|w| w.width).collect();
    let path = dir.join(format!("{}.safetensors", part.name));
    let model = decode_nested_cell(
        &read(&path)?,
        &path,
        &part.name,
        card.cell,
        card.input,
        part.hidden,
        readout_rows(card.classes),
        &widths,
    )?;
    Ok((model, card))
}
