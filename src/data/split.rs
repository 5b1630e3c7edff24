//! Seeded, stratified splits of a labelled set.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
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
