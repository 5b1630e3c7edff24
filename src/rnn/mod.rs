//! Recurrent networks: the recurrent cell (`cell::RnnCell`, GRU or LSTM by its gate set, one flat
//! state) and its step kernels, classifiers, state maps and model banks (`model`), the Skip-GRU of
//! the ThrRNN family (`skip`), SkipW (`skipw`), nested widths (`nested`), all file I/O (`io`: weights
//! and model cards of every family), and `flex`: one interface over the flexible families. This
//! module knows nothing of the simulator.
//!
//! The files depend on each other in one direction only (checked by `layering`'s tests, which read the sources):
//! `kernels` → `cell` → `model` → `skip`, `skipw`, `nested` (`schedule` beside them) → `io` → `flex`.
//! No model type reads or writes a file; `io` knows every family; only `flex` knows `io`.

pub mod cell;
pub mod flex;
pub mod io;
pub mod kernels;
pub mod model;
pub mod nested;
pub mod schedule;
pub mod skip;
pub mod skipw;

pub use cell::{BatchScratch, CellKind, CellScratch, LayerWeights, RnnCell, ShapeError};
pub use flex::{FamilyState, FlexBatch, FlexState, FlexibleModel, KnobError, Knobs, Setting, StepPlan};
pub use model::{argmax, truncate_or_pad, truncate_pad_map, GruClassifier, ModelBank, RnnClassifier, StateMap};
pub use nested::{NestedGru, NestedRnn, NestedScratch};
pub use schedule::change_steps;
pub use skip::{SkipClassification, SkipGruClassifier, SkipRnnClassifier, SkipState};
pub use skipw::{SkipWClassifier, SkipWKnobs, SkipWState};
