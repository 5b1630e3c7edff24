//! The adding problem (Hochreiter & Schmidhuber 1997; the version of Campos et al. 2018 and
//! Mayet et al. 2021), a synthetic regression task with long-range dependencies.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::{DataError, SequenceSet};

/// The adding task: sequences of `steps` frames of two channels. Channel 0 holds values drawn
/// uniformly from `[0, 1)`; channel 1 holds markers, 1 at exactly two steps and 0 elsewhere — one step
/// drawn uniformly from the first 10% of the sequence ([`first_window`](Self::first_window)) and one
/// from the last half ([`second_window`](Self::second_window)). The target is the sum of the two marked
/// values, in `[0, 2)`.
///
/// Always answering 1 gives a mean squared error equal to the target's variance, 2 × 1/12 = 1/6; the
/// task counts as **solved** when the MSE is below [`SOLVED_MSE`](Self::SOLVED_MSE) = 1/600, a
/// hundredth of that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddingTask {
    /// Sequence length `T` in steps (at least 2).
    pub steps: usize,
}

impl Default for AddingTask {
    /// `T` = 50.
    fn default() -> Self {
        AddingTask { steps: 50 }
    }
}

impl AddingTask {
    /// The MSE below which the task is solved: the target variance 1/6 divided by 100.
    pub const SOLVED_MSE: f32 = 1.0 / 600.0;

    /// Steps where the first marker may be: `0..max(1, T / 10)` (the first 10%, integer division).
    pub fn first_window(&self) -> Range<usize> {
        0..(self.steps / 10).max(1)
    }

    /// Steps where the second marker may be: `T / 2..T` (the last half; integer division).
    pub fn second_window(&self) -> Range<usize> {
        self.steps / 2..self.steps
    }

    /// `sequences` sequences drawn from `Pcg64::seed_from_u64(seed)`: a regression set named
    /// `adding-T<steps>` of `steps` steps × 2 features (value, marker) with one target each. For each
    /// sequence the generator draws the `steps` values, then the first marker's step, then the
    /// second's, so the same seed and length always give the same data. Use different seeds for the
    /// training and test sets.
    ///
    /// # Errors
    /// [`DataError::Parameter`] if `steps < 2` or `sequences == 0`.
    pub fn generate(&self, sequences: usize, seed: u64) -> Result<SequenceSet, DataError> {
        let what = || "AddingTask::generate".to_string();
        if self.steps < 2 {
            return Err(DataError::Parameter {
                what: what(),
                message: format!("steps is {}, must be ≥ 2", self.steps),
            });
        }
        if sequences == 0 {
            return Err(DataError::Parameter { what: what(), message: "sequences must be ≥ 1".into() });
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut values = Vec::with_capacity(sequences * self.steps * 2);
        let mut targets = Vec::with_capacity(sequences);
        for _ in 0..sequences {
            let start = values.len();
            for _ in 0..self.steps {
                values.push(rng.random::<f32>());
                values.push(0.0);
            }
            let first = rng.random_range(self.first_window());
            let second = rng.random_range(self.second_window());
            values[start + 2 * first + 1] = 1.0;
            values[start + 2 * second + 1] = 1.0;
            targets.push(values[start + 2 * first] + values[start + 2 * second]);
        }
        Ok(SequenceSet {
            name: format!("adding-T{}", self.steps),
            steps: self.steps,
            features: 2,
            classes: 0,
            class_names: Vec::new(),
            values,
            lengths: vec![self.steps; sequences],
            labels: Vec::new(),
            targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_their_windows_and_target_is_their_sum() {
        for steps in [2, 3, 10, 50, 101] {
            let task = AddingTask { steps };
            let set = task.generate(200, 5).unwrap();
            set.check().unwrap();
            assert!(set.is_regression());
            assert_eq!((set.len(), set.steps, set.features), (200, steps, 2));
            for index in 0..set.len() {
                let marked: Vec<usize> = (0..steps).filter(|&t| set.frame(index, t)[1] == 1.0).collect();
                assert_eq!(marked.len(), 2, "T={steps} sequence {index}");
                assert!((0..steps).all(|t| matches!(set.frame(index, t)[1], 0.0 | 1.0)));
                assert!(task.first_window().contains(&marked[0]), "T={steps}: {marked:?}");
                assert!(task.second_window().contains(&marked[1]), "T={steps}: {marked:?}");
                let sum = set.frame(index, marked[0])[0] + set.frame(index, marked[1])[0];
                assert_eq!(set.targets[index], sum);
                assert!((0..steps).all(|t| (0.0..1.0).contains(&set.frame(index, t)[0])));
            }
        }
        assert_eq!(AddingTask::default().first_window(), 0..5);
        assert_eq!(AddingTask::default().second_window(), 25..50);
    }

    #[test]
    fn seeded_and_variance_near_one_sixth() {
        let task = AddingTask::default();
        let a = task.generate(4000, 11).unwrap();
        assert_eq!(a, task.generate(4000, 11).unwrap());
        assert_ne!(a.values, task.generate(4000, 12).unwrap().values);
        // Predicting 1 scores the target variance 1/6; the solved bound is a hundredth of it.
        let mse = a.targets.iter().map(|&y| (y - 1.0).powi(2)).sum::<f32>() / a.len() as f32;
        assert!((mse - 1.0 / 6.0).abs() < 0.01, "{mse}");
        assert!((AddingTask::SOLVED_MSE * 100.0 - 1.0 / 6.0).abs() < 1e-6);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let e = AddingTask { steps: 1 }.generate(3, 0).unwrap_err().to_string();
        assert_eq!(e, "AddingTask::generate: steps is 1, must be ≥ 2");
        assert!(AddingTask::default().generate(0, 0).is_err());
    }
}
