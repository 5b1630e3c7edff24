//! Data sets of labelled sequences, shipped with the crate.
//!
//! A [`SequenceSet`] holds fixed-length sequences of `steps × features` values (`f32`, row-major per
//! sequence) with one class label each. The RNN code and the simulator consume this shape; nothing
//! here knows about either.
//!
//! Shipped set: the UCI optical recognition of handwritten digits (E. Alpaydin, C. Kaynak, 1998,
//! CC BY 4.0), copied from scikit-learn 1.9.1 (`sklearn/datasets/data/digits.csv.gz`) into
//! `data/digits/digits.csv.gz` and embedded in the binary.

use std::io::Read;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// The embedded copy of `data/digits/digits.csv.gz`: 1797 rows of 64 pixels (0..16) then a label 0..9.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");

/// Errors when reading a data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The compressed file could not be read.
    #[error("{name}: cannot decompress: {source}")]
    Decompress {
        /// Data set name.
        name: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A row does not have the expected shape or values.
    #[error("{name}: row {row}: {message}")]
    BadRow {
        /// Data set name.
        name: String,
        /// 1-based row number.
        row: usize,
        /// What is wrong.
        message: String,
    },
}

/// A set of labelled, fixed-length sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSet {
    /// Name of the set (for messages and manifests).
    pub name: String,
    /// Time steps per sequence.
    pub steps: usize,
    /// Input features per step.
    pub features: usize,
    /// Number of classes; labels are `0..classes`.
    pub classes: usize,
    /// Values, `len() × steps × features`, sequence-major then step-major.
    pub values: Vec<f32>,
    /// One label per sequence.
    pub labels: Vec<u32>,
}

impl SequenceSet {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `steps × features` values of sequence `index`.
    pub fn sequence(&self, index: usize) -> &[f32] {
        let stride = self.steps * self.features;
        &self.values[index * stride..(index + 1) * stride]
    }

    /// The `features` values of step `step` of sequence `index`.
    pub fn frame(&self, index: usize, step: usize) -> &[f32] {
        let start = (index * self.steps + step) * self.features;
        &self.values[start..start + self.features]
    }

    /// A new set holding the sequences at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> SequenceSet {
        let mut values = Vec::with_capacity(indices.len() * self.steps * self.features);
        let mut labels = Vec::with_capacity(indices.len());
        for &index in indices {
            values.extend_from_slice(self.sequence(index));
            labels.push(self.labels[index]);
        }
        SequenceSet {
            name: self.name.clone(),
            steps: self.steps,
            features: self.features,
            classes: self.classes,
            values,
            labels,
        }
    }
}

/// Which part of a split data set to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitPart {
    /// Training sequences (without the validation share).
    Train,
    /// Validation sequences, drawn from the training share (for model selection).
    Validation,
    /// Held-out test sequences.
    Test,
}

/// A seeded, stratified split into train / validation / test index lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Seed of the `Pcg64` generator that shuffled each class.
    pub seed: u64,
    /// Share of each class put in the test part (rounded to nearest).
    pub test_fraction: f64,
    /// Share of each class's remaining sequences put in the validation part.
    pub validation_fraction: f64,
    /// Indices into the full set, sorted ascending.
    pub train: Vec<usize>,
    /// Indices into the full set, sorted ascending.
    pub validation: Vec<usize>,
    /// Indices into the full set, sorted ascending.
    pub test: Vec<usize>,
}

impl Split {
    /// Splits `labels` class by class: each class's indices are shuffled with `Pcg64::seed_from_u64(seed)`
    /// (one generator, classes in ascending order), the first `round(test_fraction × n)` go to test, the next
    /// `round(validation_fraction × rest)` to validation, the rest to train.
    pub fn stratified(
        labels: &[u32],
        classes: usize,
        seed: u64,
        test_fraction: f64,
        validation_fraction: f64,
    ) -> Split {
        let mut rng = Pcg64::seed_from_u64(seed);
        let (mut train, mut validation, mut test) = (Vec::new(), Vec::new(), Vec::new());
        for class in 0..classes as u32 {
            let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
            members.shuffle(&mut rng);
            let n_test = (test_fraction * members.len() as f64).round() as usize;
            let rest = members.len() - n_test;
            let n_validation = (validation_fraction * rest as f64).round() as usize;
            test.extend_from_slice(&members[..n_test]);
            validation.extend_from_slice(&members[n_test..n_test + n_validation]);
            train.extend_from_slice(&members[n_test + n_validation..]);
        }
        train.sort_unstable();
        validation.sort_unstable();
        test.sort_unstable();
        Split { seed, test_fraction, validation_fraction, train, validation, test }
    }

    /// The indices of one part.
    pub fn indices(&self, part: SplitPart) -> &[usize] {
        match part {
            SplitPart::Train => &self.train,
            SplitPart::Validation => &self.validation,
            SplitPart::Test => &self.test,
        }
    }
}

/// The split used for every shipped digits model: seed 2020, 20% test, 10% of the rest validation.
pub fn digits_split(labels: &[u32]) -> Split {
    Split::stratified(labels, 10, 2020, 0.2, 0.1)
}

/// Loads the embedded UCI digits: 1797 sequences of 64 steps (pixels in row-major order) with one
/// feature each, the pixel value 0..16 divided by 16 (so in `[0, 1]`); 10 classes.
///
/// # Errors
/// [`DataError`] if the embedded file is corrupt (it is checked by the tests).
pub fn load_digits() -> Result<SequenceSet, DataError> {
    let name = "digits".to_string();
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .map_err(|source| DataError::Decompress { name: name.clone(), source })?;
    let mut values = Vec::with_capacity(1797 * 64);
    let mut labels = Vec::with_capacity(1797);
    for (row_idx, line) in text.lines().enumerate() {
        let row = row_idx + 1;
        let bad = |message: String| DataError::BadRow { name: name.clone(), row, message };
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != 65 {
            return Err(bad(format!("expected 65 comma-separated fields (64 pixels, label), found {}", fields.len())));
        }
        for field in &fields[..64] {
            let v: f32 = field.trim().parse().map_err(|_| bad(format!("pixel `{field}` is not a number")))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(bad(format!("pixel {v} outside 0..16")));
            }
            values.push(v / 16.0);
        }
        let label: u32 = fields[64].trim().parse().map_err(|_| bad(format!("label `{}` is not 0..9", fields[64])))?;
        if label > 9 {
            return Err(bad(format!("label {label} is not 0..9")));
        }
        labels.push(label);
    }
    Ok(SequenceSet { name, steps: 64, features: 1, classes: 10, values, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_shape_and_first_row() {
        let set = load_digits().unwrap();
        assert_eq!(set.len(), 1797);
        assert_eq!(set.values.len(), 1797 * 64);
        // First row of the file: 0,0,5,13,9,1,0,0,... label 0.
        assert_eq!(set.frame(0, 2), &[5.0 / 16.0]);
        assert_eq!(set.frame(0, 3), &[13.0 / 16.0]);
        assert_eq!(set.labels[0], 0);
        let mut counts = [0usize; 10];
        set.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts.iter().sum::<usize>(), 1797);
        assert!(counts.iter().all(|&c| (174..=183).contains(&c)), "{counts:?}");
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let set = load_digits().unwrap();
        let split = digits_split(&set.labels);
        let again = digits_split(&set.labels);
        assert_eq!(split, again);
        assert_eq!(split.train.len() + split.validation.len() + split.test.len(), 1797);
        let mut all: Vec<usize> = split.train.iter().chain(&split.validation).chain(&split.test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1797);
        // Each class contributes round(0.2 n) test items: 36 for n in 178..=182.
        for class in 0..10u32 {
            let n_test = split.test.iter().filter(|&&i| set.labels[i] == class).count();
            assert!((35..=37).contains(&n_test), "class {class}: {n_test}");
        }
    }
}
