//! Reading a PyTorch `state_dict()` saved as safetensors (`flexrnn import`): one recurrent layer and
//! an `nn.Linear` readout, by PyTorch's own names, converted to this crate's [`RnnClassifier`].
//!
//! Names read, after an optional prefix (e.g. `rnn.`):
//! - `nn.GRU` / `nn.LSTM` (one direction; `num_layers` ≥ 1): `weight_ih_l0` `[G·H, I]`, `weight_hh_l0`
//!   `[G·H, H]`, `bias_ih_l0` `[G·H]`, `bias_hh_l0` `[G·H]`, and for each stacked layer `l ≥ 1`
//!   `weight_ih_l{l}` `[G·H, H]` (its input is the layer below's `h`), `weight_hh_l{l}`, `bias_ih_l{l}`,
//!   `bias_hh_l{l}` (see [`crate::rnn::cell`] for the stacked cell);
//! - `nn.GRUCell` / `nn.LSTMCell`: the same without `_l0`.
//!
//! `G` = 3 for a GRU (gate blocks r, z, n) and 4 for an LSTM (i, f, g, o): PyTorch's layout is this
//! crate's ([`crate::rnn::cell`]), so the values are copied as they are. The readout is
//! `<head>weight` `[C, H]` and `<head>bias` `[C]`. The cell kind is given or read from the shapes
//! (`weight_hh` has `H` columns and `3H` or `4H` rows). Tensors may be `F32`, `F16` or `BF16`, each
//! converted exactly to `f32`; any other element type is refused naming the tensor.
//!
//! What the shapes can tell: a missing tensor, a wrong size, a kernel stored transposed (`[H, G·H]`,
//! Keras' layout) unless it is square, a gap in the layer numbers, and bidirectional (`_reverse`)
//! layers, which are refused. What they cannot: a square kernel stored transposed, or gate blocks in another order
//! (Keras: GRU z, r, h; LSTM i, f, c, o) — such a file imports and computes something else.

use std::collections::BTreeSet;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::{parse_safetensors, ModelIoError};
use crate::rnn::cell::{CellKind, LayerWeights, RnnCell};
use crate::rnn::model::RnnClassifier;

/// Which tensors to read from a state dict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportNames {
    /// Prefix of the recurrent layer's names (e.g. `rnn.`; empty for none).
    pub prefix: String,
    /// Prefix of the readout's names (e.g. `head.` for `head.weight`, `head.bias`).
    pub head: String,
    /// The cell kind, if given; else read from the shapes.
    pub cell: Option<CellKind>,
}

/// One imported classifier and what was read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedClassifier {
    /// The classifier (tensors converted to `f32`).
    pub classifier: RnnClassifier,
    /// `nn.GRU`, `nn.LSTM`, `nn.GRUCell` or `nn.LSTMCell`.
    pub layout: &'static str,
    /// The element types found (`F32`, `F16`, `BF16`), sorted, each once.
    pub dtypes: Vec<&'static str>,
}

/// `f32` of a `bfloat16`: its 16 bits are the high half of the `f32` (exact).
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// `f32` of an IEEE binary16 (`half`; exact, subnormals, infinities and NaN included).
pub fn f16_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

/// The name of a safetensors element type as the file writes it.
fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "F32",
        Dtype::F16 => "F16",
        Dtype::BF16 => "BF16",
        Dtype::F64 => "F64",
        Dtype::I64 => "I64",
        Dtype::I32 => "I32",
        Dtype::I16 => "I16",
        Dtype::I8 => "I8",
        Dtype::U8 => "U8",
        Dtype::BOOL => "BOOL",
        _ => "another type",
    }
}

/// A tensor read as `f32` values with its shape and stored type.
struct Read {
    shape: Vec<usize>,
    values: Vec<f32>,
    dtype: &'static str,
}

/// Reads tensor `name` as `f32` (from `F32`, `F16` or `BF16`), checking the values are finite.
fn read_tensor(file: &SafeTensors<'_>, path: &Path, name: &str) -> Result<Read, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let view = file.tensor(name).map_err(|_| bad(missing(file, name)))?;
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        other => {
            return Err(bad(format!(
                "tensor `{name}` is {}; import reads F32, F16 and BF16",
                match dtype_name(other) {
                    "another type" => format!("of element type {other:?}"),
                    known => known.to_string(),
                }
            )))
        }
    };
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("tensor `{name}` holds a non-finite value ({}) at flat index {index}", values[index])));
    }
    Ok(Read { shape: view.shape().to_vec(), values, dtype: dtype_name(view.dtype()) })
}

/// "missing tensor `name`", with the file's tensor names (at most 12) to help find the prefix.
fn missing(file: &SafeTensors<'_>, name: &str) -> String {
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    let more = names.len().saturating_sub(12);
    names.truncate(12);
    let listed = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    let bias_hint = if name.contains("bias_") {
        "; a layer built with bias=False has no biases: import needs them (save zeros of shape [G·H] under these names)"
    } else {
        ""
    };
    format!(
        "missing tensor `{name}`; the file holds {listed}{} (see --prefix and --head){bias_hint}",
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )
}

/// Decodes one PyTorch recurrent classifier from safetensors bytes read from `path` (see the module
/// doc), naming it `name`. `input` and `outputs` are what the task needs (`I` features, `C` classes
/// or 1 output for regression).
///
/// # Errors
/// [`ModelIoError::Tensor`] naming the file and the tensor: missing, of an element type other than
/// `F32`/`F16`/`BF16`, non-finite, of a shape that fits no GRU/LSTM or not the given cell, transposed,
/// of a bidirectional (`_reverse`) layer or of a layer above a missing one; a readout or input size
/// that does not fit the task.
pub fn import_classifier(
    bytes: &[u8],
    path: &Path,
    name: &str,
    names: &ImportNames,
    input: usize,
    outputs: usize,
) -> Result<ImportedClassifier, ModelIoError> {
    let bad = |message: String| ModelIoError::Tensor { path: path.to_path_buf(), message };
    let file = parse_safetensors(bytes, path)?;
    let prefix = names.prefix.as_str();
    let all: BTreeSet<String> = file.names().into_iter().map(str::to_string).collect();
    if let Some(reverse) = all.iter().find(|n| n.starts_with(prefix) && n.contains("_reverse")) {
        return Err(bad(format!(
            "tensor `{reverse}` belongs to a bidirectional layer; import reads one direction only"
        )));
    }
    // Stacked layers: `…_l0`, `…_l1`, … without gaps.
    let mut layers = 0;
    while all.contains(&format!("{prefix}weight_ih_l{layers}")) {
        layers += 1;
    }
    let layer_of = |n: &str| -> Option<usize> {
        let (base, l) = n.strip_prefix(prefix)?.rsplit_once("_l")?;
        (base.starts_with("weight_") || base.starts_with("bias_")).then(|| l.parse().ok())?
    };
    if let Some((stray, l)) = all.iter().find_map(|n| layer_of(n).filter(|&l| l >= layers).map(|l| (n, l))) {
        if layers == 0 && !all.contains(&format!("{prefix}weight_ih")) {
            // No layer at all: the first layer's input kernel is missing (renamed, or another prefix).
            return Err(bad(missing(&file, &format!("{prefix}weight_ih_l0"))));
        }
        return Err(bad(format!(
            "tensor `{stray}` belongs to layer {l}, but `{prefix}weight_ih_l{layers}` is missing: the layers must be numbered 0, 1, … without gaps"
        )));
    }
    let (suffix, module) = if all.contains(&format!("{prefix}weight_ih_l0")) {
        ("_l0", "")
    } else if all.contains(&format!("{prefix}weight_ih")) {
        ("", "Cell")
    } else {
        return Err(bad(missing(&file, &format!("{prefix}weight_ih_l0` (nn.GRU/nn.LSTM) or `{prefix}weight_ih"))));
    };
    let full = |base: &str| format!("{prefix}{base}{suffix}");
    let (ih_name, hh_name, bih_name, bhh_name) =
        (full("weight_ih"), full("weight_hh"), full("bias_ih"), full("bias_hh"));
    let weight_hh = read_tensor(&file, path, &hh_name)?;
    let [rows, hidden] = match weight_hh.shape[..] {
        [rows, hidden] if hidden > 0 => [rows, hidden],
        _ => return Err(bad(format!("tensor `{hh_name}` has shape {:?}; expected [G·H, H]", weight_hh.shape))),
    };
    // A transposed recurrent kernel is [H, G·H]: more columns than rows, a multiple of 3 or 4.
    if rows < hidden && (hidden == 3 * rows || hidden == 4 * rows) {
        return Err(bad(format!(
            "tensor `{hh_name}` has shape {:?}: it looks transposed ([H, G·H], Keras' layout); PyTorch stores [G·H, H] = [{hidden}, {rows}]",
            weight_hh.shape
        )));
    }
    let kind = match names.cell {
        Some(kind) => {
            if rows != kind.gates() * hidden {
                return Err(bad(format!(
                    "tensor `{hh_name}` has shape {:?}; a{} {} cell of {hidden} units has [{}, {hidden}] ({} gate blocks)",
                    weight_hh.shape,
                    if kind == CellKind::Lstm { "n" } else { "" },
                    kind.as_str().to_uppercase(),
                    kind.gates() * hidden,
                    kind.gates()
                )));
            }
            kind
        }
        None if rows == 3 * hidden => CellKind::Gru,
        None if rows == 4 * hidden => CellKind::Lstm,
        None => {
            return Err(bad(format!(
                "tensor `{hh_name}` has shape {:?}: neither a GRU ([3H, H]) nor an LSTM ([4H, H])",
                weight_hh.shape
            )))
        }
    };
    let layout = match (kind, module) {
        (CellKind::Gru, "") => "nn.GRU",
        (CellKind::Gru, _) => "nn.GRUCell",
        (CellKind::Lstm, "") => "nn.LSTM",
        (CellKind::Lstm, _) => "nn.LSTMCell",
    };
    let weight_ih = read_tensor(&file, path, &ih_name)?;
    if weight_ih.shape.len() == 2 && weight_ih.shape[0] == input && weight_ih.shape[1] == rows && input != rows {
        return Err(bad(format!(
            "tensor `{ih_name}` has shape {:?}: it looks transposed ([I, G·H]); PyTorch stores [G·H, I] = [{rows}, {input}]",
            weight_ih.shape
        )));
    }
    let expect = |read: &Read, tensor: &str, shape: &[usize], what: &str| {
        if read.shape == shape {
            Ok(())
        } else {
            Err(bad(format!("tensor `{tensor}` has shape {:?}, expected {shape:?} ({what})", read.shape)))
        }
    };
    let gates = if kind == CellKind::Gru { "r, z, n" } else { "i, f, g, o" };
    expect(&weight_ih, &ih_name, &[rows, input], &format!("gate blocks {gates} × the task's {input} features"))?;
    let bias_ih = read_tensor(&file, path, &bih_name)?;
    expect(&bias_ih, &bih_name, &[rows], &format!("gate blocks {gates}"))?;
    let bias_hh = read_tensor(&file, path, &bhh_name)?;
    expect(&bias_hh, &bhh_name, &[rows], &format!("gate blocks {gates}"))?;
    let (head_w_name, head_b_name) = (format!("{}weight", names.head), format!("{}bias", names.head));
    let head_w = read_tensor(&file, path, &head_w_name)?;
    if head_w.shape.len() == 2 && head_w.shape[1] == hidden && head_w.shape[0] != outputs {
        return Err(bad(format!(
            "readout `{head_w_name}` has {} outputs; the task needs {outputs} ({})",
            head_w.shape[0],
            if outputs == 1 { "one real output: a regression task".to_string() } else { format!("{outputs} classes") }
        )));
    }
    expect(&head_w, &head_w_name, &[outputs, hidden], "outputs × hidden units")?;
    let head_b = read_tensor(&file, path, &head_b_name)?;
    expect(&head_b, &head_b_name, &[outputs], "outputs")?;
    let mut dtypes: BTreeSet<&'static str> =
        [&weight_ih, &weight_hh, &bias_ih, &bias_hh, &head_w, &head_b].iter().map(|r| r.dtype).collect();
    let mut upper = Vec::new();
    for l in 1..layers {
        let name = |base: &str| format!("{prefix}{base}_l{l}");
        let ih = read_tensor(&file, path, &name("weight_ih"))?;
        if ih.shape == [hidden, rows] && hidden != rows {
            return Err(bad(format!(
                "tensor `{}` has shape {:?}: it looks transposed ([H, G·H]); PyTorch stores [G·H, H] = [{rows}, {hidden}]",
                name("weight_ih"),
                ih.shape
            )));
        }
        let what = format!("layer {l}: gate blocks {gates} × the {hidden} units of layer {} below", l - 1);
        expect(&ih, &name("weight_ih"), &[rows, hidden], &what)?;
        let hh = read_tensor(&file, path, &name("weight_hh"))?;
        expect(&hh, &name("weight_hh"), &[rows, hidden], &format!("layer {l}: gate blocks {gates} × {hidden} units"))?;
        let bi = read_tensor(&file, path, &name("bias_ih"))?;
        expect(&bi, &name("bias_ih"), &[rows], &format!("layer {l}: gate blocks {gates}"))?;
        let bh = read_tensor(&file, path, &name("bias_hh"))?;
        expect(&bh, &name("bias_hh"), &[rows], &format!("layer {l}: gate blocks {gates}"))?;
        for read in [&ih, &hh, &bi, &bh] {
            dtypes.insert(read.dtype);
        }
        upper.push(LayerWeights { weight_ih: ih.values, weight_hh: hh.values, bias_ih: bi.values, bias_hh: bh.values });
    }
    // Every recurrent-looking tensor under the prefix must have been read: another one is a part of
    // the layer this import would silently drop (an LSTM's `proj_size` projection `weight_hr_l0`, a
    // misspelt name, or `nn.GRUCell` names beside `nn.GRU` ones).
    let read: BTreeSet<String> = (0..layers.max(1))
        .flat_map(|l| {
            let suffix = if module.is_empty() { format!("_l{l}") } else { String::new() };
            ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map(|base| format!("{prefix}{base}{suffix}"))
        })
        .chain([head_w_name.clone(), head_b_name.clone()])
        .collect();
    let recurrent = |n: &str| {
        n.strip_prefix(prefix)
            .is_some_and(|base| (base.starts_with("weight_") || base.starts_with("bias_")) && !base.contains('.'))
    };
    if let Some(unused) = all.iter().find(|n| recurrent(n) && !read.contains(*n)) {
        let hint = if unused.contains("weight_hr") {
            " (an LSTM with proj_size > 0: projected LSTMs are not supported)"
        } else {
            ""
        };
        return Err(bad(format!(
            "tensor `{unused}` is not part of the {}-layer {layout} this file was read as, and would be ignored{hint}; import reads {}",
            layers.max(1),
            read.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
        )));
    }
    let cell = RnnCell::new(kind, input, hidden, weight_ih.values, weight_hh.values, bias_ih.values, bias_hh.values)
        .and_then(|cell| cell.with_upper_layers(upper))
        .map_err(|e| bad(e.to_string()))?;
    Ok(ImportedClassifier {
        classifier: RnnClassifier {
            name: name.to_string(),
            cell,
            readout_weight: head_w.values,
            readout_bias: head_b.values,
        },
        layout,
        dtypes: dtypes.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_and_f16_edge_values_convert_exactly() {
        // bfloat16: the high half of the f32.
        assert_eq!(bf16_to_f32(0x3F80), 1.0);
        assert_eq!(bf16_to_f32(0xC000), -2.0);
        assert_eq!(bf16_to_f32(0x0001), f32::from_bits(0x0001_0000)); // a subnormal
        assert_eq!(bf16_to_f32(0x7F80), f32::INFINITY);
        assert_eq!(bf16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        // binary16: 1, −2, the largest (65504), the smallest normal 2^-14, the smallest subnormal
        // 2^-24, the largest subnormal (1023 · 2^-24), −0, infinity, NaN.
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0);
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03FF), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
        assert!(f16_to_f32(0x7E00).is_nan());
        // 1/3 rounded to binary16 is 0x3555 = 1365/4096.
        assert_eq!(f16_to_f32(0x3555), 1365.0 / 4096.0);
    }
}
