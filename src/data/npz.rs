//! Users' data as `numpy.savez` writes it: a zip of `.npy` files, here `x` of shape `[N, T, I]`
//! (`float32` or `float64`) and `y` of shape `[N]` (integer: class labels `0..C`; float: regression
//! targets). Values are used as they are (no standardisation). An optional array `split` of shape
//! `[N]` (integers) puts each sequence in a part: 0 train, 1 validation, 2 test.
//!
//! The `.npy` format (NumPy's `numpy.lib.format`): the magic `\x93NUMPY`, a major and minor version,
//! the header length (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), a Python
//! dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (N, T, I), }`, then the data in C
//! order. Members may be stored (`numpy.savez`) or deflated (`numpy.savez_compressed`).

use std::io::Read;
use std::path::Path;

use super::{DataError, SequenceSet, SplitPart};

/// One `.npy` array: its element type (`descr`), shape and raw little-endian data.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// NumPy's type string, e.g. `<f4`, `<i8`, `|u1`.
    pub descr: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The data bytes, C order.
    pub data: Vec<u8>,
}

/// The value of `key` in the header dict: the text after `'key':` up to the next top-level `,` or `}`.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

/// Parses one `.npy` file's bytes; `name` is used in errors (`FILE.npz: x.npy`).
///
/// # Errors
/// [`DataError::Binary`] or [`DataError::Invalid`] naming the array: bad magic or version, a header
/// that is not the dict NumPy writes, Fortran order, a data length that does not match the shape.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<NpyArray, DataError> {
    let at = |offset: u64, message: String| DataError::Binary { name: name.to_string(), offset, message };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(at(0, "not a .npy array (no \\x93NUMPY magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        major => return Err(at(6, format!(".npy format version {major}; versions 1, 2 and 3 are read"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| at(start as u64, format!("header of {header_len} bytes runs past the end")))?;
    let header = std::str::from_utf8(header).map_err(|_| at(start as u64, "header is not text".into()))?;
    let bad = |what: &str| at(start as u64, format!("header {}: {what}", header.trim()));
    let descr = header_value(header, "descr").ok_or_else(|| bad("no 'descr'"))?.trim_matches(['\'', '"']).to_string();
    match header_value(header, "fortran_order") {
        Some("False") => {}
        Some("True") => {
            return Err(DataError::invalid(
                name,
                "the array is in Fortran order; save it in C order (np.ascontiguousarray)",
            ))
        }
        _ => return Err(bad("no 'fortran_order'")),
    }
    let shape_text = header_value(header, "shape").ok_or_else(|| bad("no 'shape'"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(&format!("shape `{shape_text}` is not a tuple of whole numbers"))))
        .collect::<Result<_, _>>()?;
    let data = bytes[start + header_len..].to_vec();
    let item = element_size(&descr).ok_or_else(|| {
        DataError::invalid(
            name,
            format!(
                "element type `{descr}`: read are little-endian float32/float64 and integers (<f4, <f8, <i8, |u1, …)"
            ),
        )
    })?;
    let expected = shape.iter().product::<usize>() * item;
    if data.len() != expected {
        return Err(at(
            (start + header_len) as u64,
            format!("{} data bytes; shape {shape:?} of `{descr}` needs {expected}", data.len()),
        ));
    }
    Ok(NpyArray { descr, shape, data })
}

/// Bytes per element of a little-endian (or one-byte) numeric `descr`; `None` for anything else.
fn element_size(descr: &str) -> Option<usize> {
    match descr {
        "<f4" | "<i4" | "<u4" => Some(4),
        "<f8" | "<i8" | "<u8" => Some(8),
        "<i2" | "<u2" => Some(2),
        "|i1" | "|u1" | "<i1" | "<u1" => Some(1),
        _ => None,
    }
}

impl NpyArray {
    /// The values as `f64` (exact for floats and for integers up to 2⁵³).
    fn values(&self) -> Vec<f64> {
        let d = &self.data;
        match self.descr.as_str() {
            "<f4" => d.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
            "<f8" => d.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect(),
            "<i4" => d.chunks_exact(4).map(|b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
            "<u4" => d.chunks_exact(4).map(|b| f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
            "<i8" => d.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64).collect(),
            "<u8" => d.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as f64).collect(),
            "<i2" => d.chunks_exact(2).map(|b| f64::from(i16::from_le_bytes([b[0], b[1]]))).collect(),
            "<u2" => d.chunks_exact(2).map(|b| f64::from(u16::from_le_bytes([b[0], b[1]]))).collect(),
            "|i1" | "<i1" => d.iter().map(|&b| f64::from(b as i8)).collect(),
            _ => d.iter().map(|&b| f64::from(b)).collect(),
        }
    }

    fn is_float(&self) -> bool {
        self.descr.ends_with("f4") || self.descr.ends_with("f8")
    }
}

/// What an `.npz` file holds: the sequences and, if the file has a `split` array, each sequence's
/// part.
#[derive(Debug, Clone, PartialEq)]
pub struct NpzData {
    /// The sequences (`x`, `y`).
    pub set: SequenceSet,
    /// Per sequence, its part as the file's `split` array gives it (0 train, 1 validation, 2 test);
    /// `None` when the file has no `split`.
    pub split: Option<Vec<SplitPart>>,
}

/// Reads the arrays `x` and `y` (and `split`, if present) of a `.npz` file, stored or deflated (see
/// the module doc), into one set named `name`: classification if `y` is integer (labels `0..=max`,
/// class names `"0"`, `"1"`, …), regression if it is float.
///
/// # Errors
/// [`DataError`] naming the file and array: not a zip, a missing array or one compressed other than
/// by deflate, shapes that do not fit, a float `x` of another type, negative or non-finite labels,
/// non-finite values, a `split` that is not `[N]` integers 0, 1 or 2.
pub fn read_npz(path: &Path, name: &str) -> Result<NpzData, DataError> {
    let file = path.display().to_string();
    let bytes = crate::input::read_bytes(path, crate::input::DATA_LIMIT, "data files")
        .map_err(|source| DataError::Io { name: file.clone(), source })?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| DataError::invalid(&file, format!("not a .npz (zip) file: {e}")))?;
    let has_split = archive.index_for_name("split.npy").is_some();
    let mut array = |key: &str| -> Result<NpyArray, DataError> {
        let entry_name = format!("{key}.npy");
        let label = format!("{file}: {entry_name}");
        let mut entry = archive.by_name(&entry_name).map_err(|_| {
            DataError::invalid(&file, format!("no array `{key}`; write the file with numpy.savez(FILE, x=…, y=…)"))
        })?;
        if !matches!(entry.compression(), zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated) {
            return Err(DataError::invalid(
                &label,
                format!(
                    "compressed by {}; read are stored (numpy.savez) and deflated (numpy.savez_compressed) members",
                    entry.compression()
                ),
            ));
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data).map_err(|source| DataError::Io { name: label.clone(), source })?;
        parse_npy(&data, &label)
    };
    let (x, y) = (array("x")?, array("y")?);
    let split = if has_split { Some(array("split")?) } else { None };
    let [n, steps, features] = x.shape[..] else {
        return Err(DataError::invalid(&file, format!("`x` has shape {:?}; expected [N, T, I]", x.shape)));
    };
    if !x.is_float() {
        return Err(DataError::invalid(&file, format!("`x` is `{}`; expected float32 or float64", x.descr)));
    }
    if y.shape != [n] {
        return Err(DataError::invalid(&file, format!("`y` has shape {:?}; expected [N] = [{n}]", y.shape)));
    }
    if n == 0 || steps == 0 || features == 0 {
        return Err(DataError::invalid(&file, format!("`x` has shape {:?}; every size must be at least 1", x.shape)));
    }
    let x_values = x.values();
    if let Some(i) = x_values.iter().position(|v| !v.is_finite()) {
        return Err(DataError::invalid(&file, format!("`x` holds a non-finite value at flat index {i}")));
    }
    let values: Vec<f32> = x_values.iter().map(|&v| v as f32).collect();
    let y_values = y.values();
    if let Some(i) = y_values.iter().position(|v| !v.is_finite()) {
        return Err(DataError::invalid(&file, format!("`y` holds a non-finite value at index {i}")));
    }
    let set = if y.is_float() {
        SequenceSet {
            name: name.to_string(),
            steps,
            features,
            classes: 0,
            class_names: Vec::new(),
            values,
            lengths: vec![steps; n],
            labels: Vec::new(),
            targets: y_values.iter().map(|&v| v as f32).collect(),
        }
    } else {
        if let Some(i) = y_values.iter().position(|&v| v < 0.0 || v > f64::from(u32::MAX - 1)) {
            return Err(DataError::invalid(&file, format!("`y[{i}]` = {}; class labels are 0, 1, 2, …", y_values[i])));
        }
        let labels: Vec<u32> = y_values.iter().map(|&v| v as u32).collect();
        let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
        let class_names = (0..classes).map(|c| c.to_string()).collect();
        SequenceSet::fixed_length_classification(name.to_string(), steps, features, class_names, values, labels)
    };
    set.check()?;
    let split = match split {
        None => None,
        Some(array) => {
            if array.is_float() || array.shape != [n] {
                return Err(DataError::invalid(
                    &file,
                    format!(
                        "`split` is `{}` of shape {:?}; expected integers of shape [N] = [{n}]",
                        array.descr, array.shape
                    ),
                ));
            }
            let parts = array
                .values()
                .iter()
                .enumerate()
                .map(|(i, &v)| match v {
                    0.0 => Ok(SplitPart::Train),
                    1.0 => Ok(SplitPart::Validation),
                    2.0 => Ok(SplitPart::Test),
                    _ => Err(DataError::invalid(
                        &file,
                        format!("`split[{i}]` = {v}; write 0 (train), 1 (validation) or 2 (test)"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(parts)
        }
    };
    Ok(NpzData { set, split })
}

/// The bytes of a `.npy` array (version 1) of `descr`, `shape` and little-endian `data` — what
/// `numpy.save` writes, for tests and for users' tools.
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad with spaces so that the data starts at a multiple of 64, ending in a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_and_values_parse_as_numpy_writes_them() {
        let data: Vec<u8> = [1.5f32, -2.0, 0.25, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let array = parse_npy(&npy_bytes("<f4", &[1, 3, 2], &data), "x.npy").unwrap();
        assert_eq!((array.descr.as_str(), array.shape.clone()), ("<f4", vec![1, 3, 2]));
        assert_eq!(array.values(), [1.5, -2.0, 0.25, 4.0, 5.0, 6.0]);
        let labels: Vec<u8> = [3i64, 0, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let array = parse_npy(&npy_bytes("<i8", &[3], &labels), "y.npy").unwrap();
        assert_eq!((array.shape.clone(), array.values()), (vec![3], vec![3.0, 0.0, 7.0]));
        // A NumPy header as written by numpy 1.x for a 1-D array.
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        assert_eq!(header_value(header, "shape"), Some("(2,)"));
        assert_eq!(header_value(header, "descr"), Some("'<f8'"));
    }

    #[test]
    fn npy_errors_name_the_array_and_what_is_wrong() {
        let err = parse_npy(b"PK\x03\x04 not npy", "x.npy").unwrap_err().to_string();
        assert!(err.contains("x.npy") && err.contains("magic"), "{err}");
        let err = parse_npy(&npy_bytes(">f4", &[1], &[0; 4]), "y.npy").unwrap_err().to_string();
        assert!(err.contains("y.npy") && err.contains("`>f4`") && err.contains("little-endian"), "{err}");
        let err = parse_npy(&npy_bytes("<f4", &[3], &[0; 8]), "y.npy").unwrap_err().to_string();
        assert!(err.contains("8 data bytes") && err.contains("needs 12"), "{err}");
        let mut fortran = npy_bytes("<f4", &[1], &[0; 4]);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        let err = parse_npy(&fortran, "x.npy").unwrap_err().to_string();
        assert!(err.contains("Fortran order"), "{err}");
    }
}
