//! Recurrent networks: the GRU and LSTM cells (`cell::RnnCell`: either, one flat state) and their step kernels, classifiers, the Skip-GRU of the ThrRNN
//! family (`skip`), SkipW (`skipw`), nested widths (`nested`), state maps, model banks and their files, and `flex`: one interface
//! over the flexible families. This module knows nothing of the simulator.

pub mod cell;
pub mod flex;
pub mod io;
pub mod kernels;
pub mod model;
pub mod nested;
pub mod skip;
pub mod skipw;

/// The steps at which a random schedule over `steps` steps changes its setting: `changes` distinct
/// steps drawn uniformly from `1..steps` (at most `steps − 1` of them), sorted ascending. Shared by the
/// width schedules of nested training, SkipW's knob schedules and the bank's switch schedules, so
/// every trainer draws change points the same way.
pub fn change_steps(steps: usize, changes: usize, rng: &mut impl rand::Rng) -> Vec<usize> {
    let slots = steps.saturating_sub(1);
    let mut points: Vec<usize> =
        rand::seq::index::sample(rng, slots, changes.min(slots)).into_iter().map(|p| p + 1).collect();
    points.sort_unstable();
    points
}

pub use cell::{CellKind, CellScratch, RnnCell, ShapeError};
pub use flex::{FamilyState, FlexState, FlexibleModel, KnobError, Knobs, Setting, StepPlan};
pub use model::{argmax, truncate_or_pad, GruClassifier, ModelBank, RnnClassifier, StateMap};
pub use nested::{NestedGru, NestedRnn, NestedScratch};
pub use skip::{SkipClassification, SkipGruClassifier, SkipRnnClassifier, SkipState};
pub use skipw::{SkipWClassifier, SkipWKnobs, SkipWState};
