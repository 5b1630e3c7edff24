//! The in-memory shape of every data set.

use super::DataError;

/// A set of sequences with a class label each (classification) or a real target each (regression).
///
/// Every sequence is stored as `steps × features` values; a sequence of length `lengths[i] < steps`
/// (a variable-length set such as JapaneseVowels) is followed by zero frames up to `steps`. In a
/// classification set `labels` has one entry per sequence in `0..classes` and `targets` is empty; in a
/// regression set (`classes == 0`) `targets` has one entry per sequence and `labels` is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSet {
    /// Name of the set (for messages and manifests).
    pub name: String,
    /// Time steps per stored sequence: the longest length; shorter sequences are zero-padded.
    pub steps: usize,
    /// Input features (channels) per step.
    pub features: usize,
    /// Number of classes; labels are `0..classes`. Zero for a regression set.
    pub classes: usize,
    /// The name of each class (`classes` entries, e.g. `"Running"`, or `"7"` for digit 7).
    pub class_names: Vec<String>,
    /// Values, `len() × steps × features`, sequence-major then step-major, zero after each length.
    pub values: Vec<f32>,
    /// Length of each sequence in steps, `1..=steps`.
    pub lengths: Vec<usize>,
    /// One label per sequence (classification); empty for a regression set.
    pub labels: Vec<u32>,
    /// One real target per sequence (regression); empty for a classification set.
    pub targets: Vec<f32>,
}

/// A training and a test set of the same task, as data sets distributed in two parts come.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTest {
    /// The training part.
    pub train: SequenceSet,
    /// The held-out test part.
    pub test: SequenceSet,
}

impl SequenceSet {
    /// A classification set of fixed-length sequences (every length `steps`).
    pub fn fixed_length_classification(
        name: String,
        steps: usize,
        features: usize,
        class_names: Vec<String>,
        values: Vec<f32>,
        labels: Vec<u32>,
    ) -> SequenceSet {
        SequenceSet {
            name,
            steps,
            features,
            classes: class_names.len(),
            class_names,
            values,
            lengths: vec![steps; labels.len()],
            labels,
            targets: Vec::new(),
        }
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True when the set holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// True for a regression set (real targets, no classes).
    pub fn is_regression(&self) -> bool {
        self.classes == 0
    }

    /// True when every sequence has `steps` steps.
    pub fn is_fixed_length(&self) -> bool {
        self.lengths.iter().all(|&length| length == self.steps)
    }

    /// The length in steps of sequence `index` (at most `steps`).
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn length(&self, index: usize) -> usize {
        self.lengths[index]
    }

    /// The `steps × features` values of sequence `index`, zero-padded after its length.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn sequence(&self, index: usize) -> &[f32] {
        let stride = self.steps * self.features;
        &self.values[index * stride..(index + 1) * stride]
    }

    /// The `length(index) × features` values of sequence `index`, without padding.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn unpadded(&self, index: usize) -> &[f32] {
        &self.sequence(index)[..self.lengths[index] * self.features]
    }

    /// The `features` values of step `step` of sequence `index` (zeros at and after its length).
    ///
    /// # Panics
    /// If `index >= len()` or `step >= steps`.
    pub fn frame(&self, index: usize, step: usize) -> &[f32] {
        assert!(step < self.steps, "step {step} outside 0..{}", self.steps);
        let start = (index * self.steps + step) * self.features;
        &self.values[start..start + self.features]
    }

    /// A new set holding the sequences at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is `>= len()`.
    pub fn subset(&self, indices: &[usize]) -> SequenceSet {
        let mut values = Vec::with_capacity(indices.len() * self.steps * self.features);
        for &index in indices {
            values.extend_from_slice(self.sequence(index));
        }
        let pick_labels = !self.labels.is_empty();
        let pick_targets = !self.targets.is_empty();
        SequenceSet {
            name: self.name.clone(),
            steps: self.steps,
            features: self.features,
            classes: self.classes,
            class_names: self.class_names.clone(),
            values,
            lengths: indices.iter().map(|&i| self.lengths[i]).collect(),
            labels: if pick_labels { indices.iter().map(|&i| self.labels[i]).collect() } else { Vec::new() },
            targets: if pick_targets { indices.iter().map(|&i| self.targets[i]).collect() } else { Vec::new() },
        }
    }

    /// A new set whose step `t` is step `permutation[t]` of this set, for every sequence (the
    /// permuted pixel tasks: see [`pixel_permutation`](super::pixel_permutation)). The name gets the
    /// suffix `-permuted`.
    ///
    /// # Errors
    /// [`DataError::Parameter`] if `permutation` is not a permutation of `0..steps`, or if the set has
    /// sequences shorter than `steps` (padding would move into the sequence).
    pub fn permute_steps(&self, permutation: &[usize]) -> Result<SequenceSet, DataError> {
        let bad = |message: String| DataError::Parameter { what: format!("permute_steps of {}", self.name), message };
        if permutation.len() != self.steps {
            return Err(bad(format!(
                "permutation has {} entries, the set has {} steps",
                permutation.len(),
                self.steps
            )));
        }
        let mut seen = vec![false; self.steps];
        for (position, &source) in permutation.iter().enumerate() {
            if source >= self.steps || seen[source] {
                return Err(bad(format!("entry {position} ({source}) is out of range or repeated")));
            }
            seen[source] = true;
        }
        if !self.is_fixed_length() {
            return Err(bad("the set has variable-length sequences; only fixed-length sets can be permuted".into()));
        }
        let mut values = Vec::with_capacity(self.values.len());
        for index in 0..self.len() {
            for &source in permutation {
                values.extend_from_slice(self.frame(index, source));
            }
        }
        Ok(SequenceSet { name: format!("{}-permuted", self.name), values, ..self.clone() })
    }

    /// Checks the invariants documented on the type (lengths of all vectors, lengths in `1..=steps`,
    /// labels below `classes`, zero padding).
    ///
    /// # Errors
    /// [`DataError::Invalid`] naming the first broken invariant.
    pub fn check(&self) -> Result<(), DataError> {
        let bad = |message: String| Err(DataError::invalid(&self.name, message));
        let n = self.len();
        if self.values.len() != n * self.steps * self.features {
            return bad(format!(
                "{} values for {n} × {} steps × {} features",
                self.values.len(),
                self.steps,
                self.features
            ));
        }
        if self.class_names.len() != self.classes {
            return bad(format!("{} class names for {} classes", self.class_names.len(), self.classes));
        }
        if self.is_regression() {
            if self.targets.len() != n || !self.labels.is_empty() {
                return bad(format!(
                    "regression set: {} targets and {} labels for {n} sequences",
                    self.targets.len(),
                    self.labels.len()
                ));
            }
        } else if self.labels.len() != n || !self.targets.is_empty() {
            return bad(format!(
                "classification set: {} labels and {} targets for {n} sequences",
                self.labels.len(),
                self.targets.len()
            ));
        }
        if let Some(index) = self.labels.iter().position(|&label| label as usize >= self.classes) {
            return bad(format!("sequence {index}: label {} not below {} classes", self.labels[index], self.classes));
        }
        for index in 0..n {
            let length = self.lengths[index];
            if length == 0 || length > self.steps {
                return bad(format!("sequence {index}: length {length} outside 1..={}", self.steps));
            }
            if self.sequence(index)[length * self.features..].iter().any(|&v| v != 0.0) {
                return bad(format!("sequence {index}: padding after its length {length} is not zero"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> SequenceSet {
        SequenceSet {
            name: "tiny".into(),
            steps: 3,
            features: 2,
            classes: 2,
            class_names: vec!["a".into(), "b".into()],
            values: vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            lengths: vec![2, 3],
            labels: vec![1, 0],
            targets: Vec::new(),
        }
    }

    #[test]
    fn variable_length_accessors() {
        let set = tiny();
        set.check().unwrap();
        assert_eq!(set.len(), 2);
        assert!(!set.is_fixed_length());
        assert_eq!(set.length(0), 2);
        assert_eq!(set.unpadded(0), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(set.frame(0, 2), &[0.0, 0.0]);
        assert_eq!(set.frame(1, 1), &[7.0, 8.0]);
        let sub = set.subset(&[1]);
        assert_eq!((sub.lengths.clone(), sub.labels.clone()), (vec![3], vec![0]));
        sub.check().unwrap();
    }

    #[test]
    fn check_catches_broken_invariants() {
        let mut set = tiny();
        set.values[4] = 1.0;
        assert!(set.check().unwrap_err().to_string().contains("padding"));
        let mut set = tiny();
        set.labels[0] = 2;
        assert!(set.check().unwrap_err().to_string().contains("label 2"));
        let mut set = tiny();
        set.lengths[1] = 4;
        assert!(set.check().unwrap_err().to_string().contains("length 4"));
    }

    #[test]
    fn permute_steps_moves_frames_and_rejects_bad_permutations() {
        let mut set = tiny();
        set.lengths = vec![3, 3];
        set.values[4] = 11.0;
        let permuted = set.permute_steps(&[2, 0, 1]).unwrap();
        assert_eq!(permuted.frame(1, 0), set.frame(1, 2));
        assert_eq!(permuted.frame(1, 1), set.frame(1, 0));
        assert_eq!(permuted.labels, set.labels);
        assert!(set.permute_steps(&[0, 0, 1]).unwrap_err().to_string().contains("repeated"));
        assert!(set.permute_steps(&[0, 1]).unwrap_err().to_string().contains("2 entries"));
        assert!(tiny().permute_steps(&[0, 1, 2]).unwrap_err().to_string().contains("variable-length"));
    }
}
