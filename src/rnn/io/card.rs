//! The model card `card.json`: one [`Card`] type whose shared fields (task, cell, input and output
//! sizes, training record, seeds section) are declared once, and a per-family part `F` —
//! [`BankCard`] (model switching and ThrRNN banks), [`SkipWCard`] or [`NestedCard`].
//!
//! The JSON is that of the cards written before this type existed, field for field and in the same
//! order: `task`, `family`, `cell`, then the family's fields with `input` and `classes` where that
//! family has always written them, then `training` (and a bank's `switch_fine_tune`), then `seeds`.
//! Because the shared fields sit between family fields and unknown fields are refused, the card is
//! not a `#[serde(flatten)]` of two structs (serde refuses `deny_unknown_fields` with `flatten`):
//! [`Card`]'s `Serialize` writes the fields in that order ([`FamilyPart::serialize_fields`]), and its
//! `Deserialize` takes the shared fields out of the JSON object and reads the rest as the part, whose
//! type refuses unknown fields.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rnn::cell::CellKind;

/// Model family of a plain GRU classifier (the default of [`CardModel::family`]).
pub const FAMILY_GRU: &str = "gru";
/// Model family of a plain LSTM classifier (in an LSTM bank, whose card says `"cell": "lstm"`).
pub const FAMILY_LSTM: &str = "lstm";
/// Model family of a Skip-GRU or Skip-LSTM whose threshold `thr` is a run-time knob (ThrRNN).
pub const FAMILY_THR: &str = "thr";

/// A model card: the fields every family shares and the family's own part `F` ([`BankCard`],
/// [`SkipWCard`] or [`NestedCard`]). Serialises to (and reads from) the `card.json` of its family,
/// unknown fields refused (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Card<F> {
    /// Task / data set name, the task id (e.g. `digits`, `adding-T100`).
    pub task: String,
    /// Cell type of every model (`"cell": "gru"` or `"lstm"`).
    pub cell: CellKind,
    /// Stacked layers of every model's cell (PyTorch `num_layers`; see [`crate::rnn::cell`]): 1
    /// unless the card says `"layers": L` (written only when not 1, so one-layer cards read and write
    /// as before). Only model-switching banks (`switch`) hold more than one.
    pub layers: usize,
    /// Input features per step `I`.
    pub input: usize,
    /// Number of classes `C`; 0 for a regression task (one real output, scored by mean squared error).
    pub classes: usize,
    /// The family's part (its `family` name is [`FamilyPart::family_name`]).
    pub family: F,
    /// Training record (command, seed, optimiser, epochs, wall time, split); absent in a card written
    /// by `flexrnn import`, which has [`Self::import`] instead (a card has at least one of them).
    pub training: Option<CardTraining>,
    /// Where imported weights came from (`flexrnn import`: source files and their SHA-256, the tensor
    /// names read, how states pass between models); absent in cards of models trained here.
    pub import: Option<CardImport>,
    /// Scores of the same model trained with other seeds (`flexrnn seeds`); absent in a folder of one
    /// training run.
    pub seeds: Option<CardSeeds>,
}

/// The family-specific part of a [`Card`]: its `family` name and the fields it writes around the
/// shared ones.
pub trait FamilyPart: Sized + DeserializeOwned {
    /// The `family` values this part reads (e.g. `["skipw"]`).
    const FAMILIES: &'static [&'static str];

    /// The `family` value this part writes.
    fn family_name(&self) -> &'static str;

    /// Called after deserialising the part's fields, with the card's `family` value (one of
    /// [`Self::FAMILIES`]), for parts that keep it.
    fn set_family(&mut self, _family: &str) {}

    /// Writes the whole card as a JSON object: every shared field of `card` and every field of its
    /// part, in the family's order (see the module doc).
    ///
    /// # Errors
    /// The serializer's.
    fn serialize_fields<M: SerializeMap>(card: &Card<Self>, map: &mut M) -> Result<(), M::Error>;
}

impl<F: FamilyPart> Card<F> {
    /// The card's `family` (`switch`, `thr`, `skipw` or `nested`).
    pub fn family_name(&self) -> &'static str {
        self.family.family_name()
    }

    /// Writes the fields that open every card: `task`, `family`, `cell`.
    fn serialize_head<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("task", &self.task)?;
        map.serialize_entry("family", self.family.family_name())?;
        map.serialize_entry("cell", &self.cell)?;
        if self.layers != 1 {
            map.serialize_entry("layers", &self.layers)?;
        }
        Ok(())
    }

    /// The training record's wall time in seconds (0 for an imported card, which has none).
    pub fn training_wall_time_s(&self) -> f64 {
        self.training.as_ref().map_or(0.0, |t| t.wall_time_s)
    }

    /// Writes `training` and `import` (each when present).
    fn serialize_provenance<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        serialize_some(map, "training", &self.training)?;
        serialize_some(map, "import", &self.import)
    }

    /// Writes `input` and `classes`.
    fn serialize_sizes<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("input", &self.input)?;
        map.serialize_entry("classes", &self.classes)
    }
}

/// Writes `key: value` unless `value` is `None` (the shared `skip_serializing_if` of optional fields).
fn serialize_some<M: SerializeMap, T: Serialize>(map: &mut M, key: &str, value: &Option<T>) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

impl<F: FamilyPart> Serialize for Card<F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        F::serialize_fields(self, &mut map)?;
        map.end()
    }
}

impl<'de, F: FamilyPart> Deserialize<'de> for Card<F> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Card<F>, D::Error> {
        let mut object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        fn take<T: DeserializeOwned, E: serde::de::Error>(
            object: &mut serde_json::Map<String, serde_json::Value>,
            key: &'static str,
        ) -> Result<T, E> {
            let value = object.remove(key).ok_or_else(|| E::missing_field(key))?;
            T::deserialize(value).map_err(|e| E::custom(format_args!("`{key}`: {e}")))
        }
        let family: String = take(&mut object, "family")?;
        if !F::FAMILIES.contains(&family.as_str()) {
            return Err(D::Error::custom(format_args!(
                "`family` is `{family}`; this card type reads {}",
                F::FAMILIES.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" or ")
            )));
        }
        let task = take(&mut object, "task")?;
        let cell = take(&mut object, "cell")?;
        let input = take(&mut object, "input")?;
        let classes = take(&mut object, "classes")?;
        fn take_optional<T: DeserializeOwned, E: serde::de::Error>(
            object: &mut serde_json::Map<String, serde_json::Value>,
            key: &'static str,
        ) -> Result<Option<T>, E> {
            match object.remove(key) {
                Some(value) => Option::<T>::deserialize(value).map_err(|e| E::custom(format_args!("`{key}`: {e}"))),
                None => Ok(None),
            }
        }
        let layers = take_optional::<usize, D::Error>(&mut object, "layers")?.unwrap_or(1);
        if layers == 0 {
            return Err(D::Error::custom("`layers` must be at least 1 (the number of stacked layers)"));
        }
        let training: Option<CardTraining> = take_optional(&mut object, "training")?;
        let import: Option<CardImport> = take_optional(&mut object, "import")?;
        if training.is_none() && import.is_none() {
            return Err(D::Error::missing_field("training"));
        }
        let seeds = take_optional(&mut object, "seeds")?;
        let mut part = F::deserialize(serde_json::Value::Object(object)).map_err(D::Error::custom)?;
        part.set_family(&family);
        Ok(Card { task, cell, layers, input, classes, family: part, training, import, seeds })
    }
}

impl<F: FamilyPart + schemars::JsonSchema> schemars::JsonSchema for Card<F> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Card_{}", F::schema_name()).into()
    }

    /// The part's object schema with the shared fields added (see the module doc: the JSON object is
    /// one flat object, the shared fields among the part's).
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = F::json_schema(generator);
        let field = |schema: schemars::Schema, description: &str| {
            let mut value = schema.to_value();
            if let Some(object) = value.as_object_mut() {
                object.insert("description".into(), description.into());
            }
            value
        };
        let shared = [
            ("task", field(generator.subschema_for::<String>(), "Task id of the data the models solve (e.g. `digits`, `adding-T100`, `npz:FILE`): `eval`, `infer` and streams rebuild the data and split from it.")),
            ("family", {
                let families: Vec<&str> = F::FAMILIES.to_vec();
                serde_json::json!({ "description": "The flexible family (`gru` is the older spelling of `switch`).", "enum": families })
            }),
            ("cell", field(generator.subschema_for::<CellKind>(), "Cell kind of every model: `gru` (PyTorch nn.GRUCell, gates r, z, n) or `lstm` (nn.LSTMCell, gates i, f, g, o).")),
            ("layers", serde_json::json!({ "description": "Stacked layers of every model's cell (PyTorch num_layers), default 1; more than 1 only for `switch` banks. Weight files then hold `cell.weight_ih_l1` … for each layer above the first, and the flat state holds every layer's state, top layer first.", "type": "integer", "minimum": 1, "default": 1 })),
            ("input", serde_json::json!({ "description": "Input features per step I.", "type": "integer", "minimum": 1 })),
            ("classes", serde_json::json!({ "description": "Number of classes C; 0 for a regression task (one real output).", "type": "integer", "minimum": 0 })),
            ("training", field(generator.subschema_for::<CardTraining>(), "How the models were trained (absent in an imported card, which has `import`; a card has at least one of the two).")),
            ("import", field(generator.subschema_for::<CardImport>(), "Where imported weights came from (`flexrnn import`); absent in cards of models trained here.")),
            ("seeds", field(generator.subschema_for::<CardSeeds>(), "Scores of the same model trained with other seeds (`flexrnn seeds`).")),
        ];
        let object = schema.ensure_object();
        let properties = object.entry("properties").or_insert_with(|| serde_json::json!({}));
        if let Some(properties) = properties.as_object_mut() {
            for (name, value) in shared {
                properties.insert(name.into(), value);
            }
        }
        let required = object.entry("required").or_insert_with(|| serde_json::json!([]));
        if let Some(required) = required.as_array_mut() {
            for name in ["task", "family", "cell", "input", "classes"] {
                required.push(name.into());
            }
        }
        object.insert("anyOf".into(), serde_json::json!([{ "required": ["training"] }, { "required": ["import"] }]));
        object.insert("additionalProperties".into(), false.into());
        schema
    }
}

/// The JSON Schema (draft 2020-12) of `card.json`, every family, generated from the card types
/// (shipped as `schema/card.schema.json`; `cargo run --release --example schema -- card` prints it).
pub fn card_json_schema() -> serde_json::Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let bank = generator.subschema_for::<Card<BankCard>>().to_value();
    let skipw = generator.subschema_for::<Card<SkipWCard>>().to_value();
    let nested = generator.subschema_for::<Card<NestedCard>>().to_value();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "flexrnn model card (card.json)",
        "description": "The card of a model folder: the task, the cell, sizes, the family's models and costs, and how the weights were made (a training record or an import record). Families: `switch` (or `gru`) and `thr` banks (weights `<name>.safetensors` per model, maps in `maps.safetensors`), `skipw` and `nested` (one `<name>.safetensors`). Generated from the Rust card types (src/rnn/io/card.rs).",
        "oneOf": [bank, skipw, nested],
        "$defs": generator.take_definitions(true),
    })
}

/// Which bank family a [`BankCard`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BankFamily {
    /// Model switching between plain GRUs or LSTMs (`"family": "switch"`; cards from before the
    /// families were named say `"gru"`, read as `switch`).
    #[default]
    Switch,
    /// ThrRNN: Skip-GRUs or Skip-LSTMs whose threshold is the knob (`"family": "thr"`).
    Thr,
}

/// The part of a bank's card (`family` `switch` or `thr`): its models and state maps. The JSON order
/// is `task`, `family`, `cell`, `input`, `classes`, `models`, `maps`, `training`, `switch_fine_tune`,
/// `seeds`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BankCard {
    /// `switch` or `thr` (the card's `family`); each model's own kind is [`CardModel::family`].
    #[serde(skip)]
    pub kind: BankFamily,
    /// The models, narrowest first.
    pub models: Vec<CardModel>,
    /// The state maps.
    pub maps: Vec<CardMap>,
    /// The switch-aware fine-tuning of a switching bank's members and maps, when one ran (absent in
    /// cards written before it existed, and with `--switch-epochs 0`).
    #[serde(default)]
    pub switch_fine_tune: Option<CardSwitchFineTune>,
}

impl FamilyPart for BankCard {
    const FAMILIES: &'static [&'static str] = &["switch", "gru", "thr"];

    fn family_name(&self) -> &'static str {
        match self.kind {
            BankFamily::Switch => "switch",
            BankFamily::Thr => FAMILY_THR,
        }
    }

    fn set_family(&mut self, family: &str) {
        self.kind = if family == FAMILY_THR { BankFamily::Thr } else { BankFamily::Switch };
    }

    fn serialize_fields<M: SerializeMap>(card: &Card<BankCard>, map: &mut M) -> Result<(), M::Error> {
        card.serialize_head(map)?;
        card.serialize_sizes(map)?;
        map.serialize_entry("models", &card.family.models)?;
        map.serialize_entry("maps", &card.family.maps)?;
        card.serialize_provenance(map)?;
        serialize_some(map, "switch_fine_tune", &card.family.switch_fine_tune)?;
        serialize_some(map, "seeds", &card.seeds)
    }
}

/// One model's entry in a bank's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardModel {
    /// Unique name, also the weight file's stem.
    pub name: String,
    /// Hidden size `H`.
    pub hidden: usize,
    /// FLOPs of one cell step (see [`crate::rnn::cell::RnnCell::flops_per_step`]).
    pub flops_per_step: u64,
    /// FLOPs of the readout at the end of a sequence.
    pub flops_readout: u64,
    /// Bytes of all parameters (`f32`).
    pub param_bytes: u64,
    /// Accuracy on the test split, the model alone (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Accuracy on the validation split, used to pick the epoch (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    /// Mean squared error on the test split, the model alone (regression tasks: the card's `classes`
    /// is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// Mean squared error on the validation split, used to pick the epoch (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mse: Option<f64>,
    /// Epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    /// Wall time of this model's training, seconds.
    pub train_wall_s: f64,
    /// Model family: [`FAMILY_GRU`] (plain GRU classifier), [`FAMILY_LSTM`] (plain LSTM classifier)
    /// or [`FAMILY_THR`] (Skip-GRU or Skip-LSTM; then `flops_per_step` is the FLOPs of an **updated**
    /// step and `test_accuracy` / `validation_accuracy` are at the training threshold `thr = 0.5`).
    /// Absent in cards written before the field existed (e.g. `models/digits-gru`), which hold plain
    /// GRUs and are written back without it; [`Self::model_family`] reads it with that default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `thr` only: FLOPs of a skipped step
    /// ([`SkipRnnClassifier::flops_per_skip`](crate::rnn::skip::SkipRnnClassifier::flops_per_skip)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops_per_skip: Option<u64>,
    /// `thr` only: weight λ of the budget term `λ · mean over sequences of Σ_t u_t` in the training loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_lambda: Option<f64>,
    /// Test-split results of the model alone at a grid of knob settings (`thr`: thresholds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knob_grid: Vec<KnobPoint>,
}

impl CardModel {
    /// The model's family ([`Self::family`]; [`FAMILY_GRU`] when the card does not say).
    pub fn model_family(&self) -> &str {
        self.family.as_deref().unwrap_or(FAMILY_GRU)
    }
}

/// The test-split result of one model at one knob setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KnobPoint {
    /// The setting, knob name → value (e.g. `{"thr": 0.5}`).
    pub knobs: BTreeMap<String, f64>,
    /// Accuracy on the test split (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Mean squared error on the test split (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// Share of steps that updated the state (skipping families), over all test steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_share: Option<f64>,
    /// Mean FLOPs per step over all test steps (updated and skipped; the readout excluded).
    pub mean_flops_per_step: f64,
}

/// One state map's entry in a bank's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardMap {
    /// Source model name.
    pub from: String,
    /// Target model name.
    pub to: String,
    /// FLOPs of one application.
    pub flops: u64,
    /// Ridge penalty chosen on validation states.
    pub ridge_lambda: f64,
    /// Mean squared error per unit on test-split states, learned map.
    pub test_mse: f64,
    /// Mean squared error per unit on test-split states, truncation / zero padding.
    pub test_mse_truncate_pad: f64,
}

/// How the model was trained (every card has it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardTraining {
    /// The exact command line.
    pub command: String,
    /// Seed of initialisation and batch order.
    pub seed: u64,
    /// Autodiff library and version.
    pub autodiff: String,
    /// Optimiser and hyper-parameters, in words.
    pub optimiser: String,
    /// Maximum epochs per model.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Wall time of the whole command (models and maps), seconds.
    pub wall_time_s: f64,
    /// The data split (seed, fractions, indices into the data set).
    pub split: crate::data::Split,
    /// ThrRNN training only (`family: "thr"`): how `thr` was drawn, the λ curriculum and the
    /// switch fine-tune; absent in cards from before them (trained at `thr = 0.5` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thr_training: Option<CardThrTraining>,
}

/// Where the weights of an imported model folder came from (`flexrnn import`), recorded in
/// [`Card::import`] instead of a training record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardImport {
    /// The exact command line.
    pub command: String,
    /// What the source files hold, in words (a PyTorch `state_dict()` saved as safetensors).
    pub format: String,
    /// Prefix of the recurrent layer's tensor names (e.g. `rnn.`; empty for none).
    pub prefix: String,
    /// Prefix of the readout's (`nn.Linear`) tensor names, e.g. `head.` for `head.weight`, `head.bias`.
    pub head: String,
    /// How the cell kind was decided: `flag` (`--cell`) or `shapes` (`weight_hh` rows: 3H → GRU, 4H →
    /// LSTM).
    pub cell_from: String,
    /// The source files, one per model, in the card's model order.
    pub files: Vec<CardImportFile>,
    /// How a switch carries the state between models of different sizes, in words.
    pub state_maps: String,
    /// The task whose training split the state maps were fitted on (`flexrnn import --fit-maps-on`);
    /// absent when the maps are truncation / zero padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps_fitted_on: Option<String>,
}

/// One source file of an imported model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardImportFile {
    /// The model (card entry) made from it.
    pub model: String,
    /// The file as given on the command line.
    pub path: String,
    /// SHA-256 of the file's bytes, lowercase hexadecimal.
    pub sha256: String,
    /// The PyTorch module whose names were read: `nn.GRU`, `nn.LSTM` (`…_l0` names), `nn.GRUCell` or
    /// `nn.LSTMCell`.
    pub layout: String,
    /// The tensors' element types as stored (`F32`, `F16`, `BF16`; several joined by `, `), converted
    /// exactly to `F32`.
    pub dtypes: String,
}

/// How a ThrRNN bank (`family: "thr"`) was trained, recorded in [`CardTraining::thr_training`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardThrTraining {
    /// `[lo, hi]`: per training sequence `thr` is drawn uniformly from this range (unless 0, see
    /// [`Self::zero_share`]).
    pub thr_range: [f64; 2],
    /// Probability that a drawn `thr` is 0 (read every step) instead of a value of the range.
    pub zero_share: f64,
    /// Most changes of `thr` inside one training sequence (each at a random step, uniform number
    /// `0..=thr_changes`).
    pub thr_changes: usize,
    /// Whether the second and later models of one width started from the weights of the one with the
    /// next smaller λ.
    pub lambda_curriculum: bool,
    /// Epochs of the joint fine-tune with switches between the models of one width (0: none).
    pub switch_epochs: usize,
    /// Most switches between models inside one fine-tune sequence (uniform number `1..=switch_changes`).
    pub switch_changes: usize,
    /// Epoch of the fine-tune whose weights were kept per width (0: the weights before it), in card
    /// width order.
    pub switch_best_epochs: Vec<usize>,
    /// The thresholds whose mean validation score chose the kept epoch.
    pub selection_thr: Vec<f64>,
    /// The whole recipe in words (loss terms and weights, selection criterion).
    pub description: String,
}

/// How a switching bank was fine-tuned with switches inside sequences (`flexrnn train --switch-epochs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSwitchFineTune {
    /// The loss, in words (terms and weights).
    pub loss: String,
    /// Fine-tuning epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept (0: the starting point, ridge maps and unchanged members).
    pub chosen_epoch: usize,
    /// AdamW learning rate of the maps (cosine decay to 5 %).
    pub learning_rate: f64,
    /// AdamW learning rate of the members (0: members frozen).
    pub member_learning_rate: f64,
    /// Most changes of model per training sequence (each run has 1 to this many).
    pub max_changes: usize,
    /// Weight of the members' own task loss, each run alone.
    pub weight_alone: f64,
    /// Weight of the state-matching term (MSE between a mapped state and the receiving model's own state).
    pub weight_match: f64,
    /// Random switch schedules per mini-batch.
    pub schedules_per_batch: usize,
    /// Fixed seeded schedules per validation sequence of the selection objective.
    pub validation_schedules: usize,
    /// Validation objective per epoch, index 0 = the starting point: mean quality (accuracy, or
    /// −MSE) of the mixed runs plus the members' mean quality alone.
    pub validation_objective: Vec<f64>,
    /// Validation accuracy or MSE of the mixed runs at the starting point.
    pub validation_mixed_start: f64,
    /// Validation accuracy or MSE of the mixed runs with the kept weights.
    pub validation_mixed_chosen: f64,
    /// The folder whose bank was the starting point (`--init-from`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// The fine-tuning command line (also in `training.command` unless `--init-from` was used).
    pub command: String,
    /// Wall time of the fine-tuning, seconds.
    pub wall_time_s: f64,
}

/// The `seeds` section of a card (every card has it, optional): the same family, task and settings
/// trained with several `--seed`, each seed's test-split score per setting (every step in that
/// setting, through `FlexibleModel`, as `flexrnn eval` measures the settings alone) and the mean and
/// sample standard deviation over seeds. Written by `flexrnn seeds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSeeds {
    /// The seed whose weights are the folder's files.
    pub shipped: u64,
    /// The score's metric: `accuracy` (share of test sequences right) or `mse`.
    pub metric: String,
    /// Setting names, in the model's order (the order of every score list below).
    pub settings: Vec<String>,
    /// One entry per seed, in the order given to `flexrnn seeds`.
    pub runs: Vec<CardSeedRun>,
    /// Per setting: mean and standard deviation over the seeds.
    pub summary: Vec<CardSeedSummary>,
}

/// One seed's scores in a [`CardSeeds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSeedRun {
    /// The training seed (`training.seed` of its card).
    pub seed: u64,
    /// Name of the folder it was read from.
    pub folder: String,
    /// Wall time of its training command, seconds (`training.wall_time_s` of its card).
    pub train_wall_time_s: f64,
    /// Test score per setting (accuracy or MSE, see [`CardSeeds::metric`]).
    pub scores: Vec<f64>,
    /// Share of steps updated per setting (families that skip steps: `thr`, `skipw`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_shares: Vec<f64>,
}

/// One setting's spread over seeds in a [`CardSeeds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSeedSummary {
    /// Setting name.
    pub setting: String,
    /// Mean score over the seeds.
    pub mean: f64,
    /// Sample standard deviation of the score over the seeds (divisor n − 1).
    pub sd: f64,
    /// Mean update share over the seeds (families that skip steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_share_mean: Option<f64>,
    /// Sample standard deviation of the update share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_share_sd: Option<f64>,
}

/// The part of a SkipW model's card (`family` `skipw`, see [`crate::rnn::skipw`]). The JSON order is
/// `task`, `family`, `cell`, `name`, `input`, `classes`, `hidden`, `window`, `knobs`, the FLOPs,
/// `param_bytes`, `validation_score`, `best_epoch`, `grid`, `test_accuracy_all_steps` /
/// `test_mse_all_steps`, `training_knobs`, `training`, `seeds`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipWCard {
    /// Model name, also the weight file's stem.
    pub name: String,
    /// Hidden size `H`.
    pub hidden: usize,
    /// Window length `L`.
    pub window: usize,
    /// The run-time knobs.
    pub knobs: SkipWCardKnobs,
    /// FLOPs of one processed step (the cell step).
    pub flops_per_processed_step: u64,
    /// FLOPs of a skipped step (0).
    pub flops_per_skipped_step: u64,
    /// FLOPs of one window gate, `2(H + 1)L + L` (`2HL + L` without the time input).
    pub flops_window_gate: u64,
    /// FLOPs of the readout at the end of a sequence.
    pub flops_readout: u64,
    /// Bytes of all parameters (`f32`).
    pub param_bytes: u64,
    /// Validation score used to pick the epoch (see [`SkipWCardTrainingKnobs`]): mean accuracy over the
    /// validation knob grid, or minus the mean MSE for a regression task (`classes` = 0).
    pub validation_score: f64,
    /// Epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    /// Test accuracy on the grid of `K × thr`.
    pub grid: Vec<SkipWGridPoint>,
    /// Test accuracy of the plain cell run on every step (`K = L`, `thr = 0`; classification tasks).
    #[serde(default)]
    pub test_accuracy_all_steps: Option<f64>,
    /// Test mean squared error with every step processed (regression tasks).
    #[serde(default)]
    pub test_mse_all_steps: Option<f64>,
    /// The `K` sampling and budget term of training.
    pub training_knobs: SkipWCardTrainingKnobs,
}

impl FamilyPart for SkipWCard {
    const FAMILIES: &'static [&'static str] = &["skipw"];

    fn family_name(&self) -> &'static str {
        "skipw"
    }

    fn serialize_fields<M: SerializeMap>(card: &Card<SkipWCard>, map: &mut M) -> Result<(), M::Error> {
        let part = &card.family;
        card.serialize_head(map)?;
        map.serialize_entry("name", &part.name)?;
        card.serialize_sizes(map)?;
        map.serialize_entry("hidden", &part.hidden)?;
        map.serialize_entry("window", &part.window)?;
        map.serialize_entry("knobs", &part.knobs)?;
        map.serialize_entry("flops_per_processed_step", &part.flops_per_processed_step)?;
        map.serialize_entry("flops_per_skipped_step", &part.flops_per_skipped_step)?;
        map.serialize_entry("flops_window_gate", &part.flops_window_gate)?;
        map.serialize_entry("flops_readout", &part.flops_readout)?;
        map.serialize_entry("param_bytes", &part.param_bytes)?;
        map.serialize_entry("validation_score", &part.validation_score)?;
        map.serialize_entry("best_epoch", &part.best_epoch)?;
        map.serialize_entry("grid", &part.grid)?;
        serialize_some(map, "test_accuracy_all_steps", &part.test_accuracy_all_steps)?;
        serialize_some(map, "test_mse_all_steps", &part.test_mse_all_steps)?;
        map.serialize_entry("training_knobs", &part.training_knobs)?;
        card.serialize_provenance(map)?;
        serialize_some(map, "seeds", &card.seeds)
    }
}

/// One point of the card's accuracy grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipWGridPoint {
    /// Budget `K` per window.
    pub k: usize,
    /// Threshold.
    pub thr: f32,
    /// Test accuracy at these knobs (constant over the sequence), measured with this module's inference
    /// (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Test mean squared error at these knobs (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// Mean processed steps per test sequence.
    pub mean_processed_steps: f64,
    /// Mean FLOPs per step (gates and processed steps, readout excluded).
    pub mean_flops_per_step: f64,
}

/// The knobs a SkipW model offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipWCardKnobs {
    /// Allowed `K`: `0..=k_max` (`k_max = L`).
    pub k_max: usize,
    /// Threshold range `[thr_min, thr_max]` over which the importance varies (0 and 1).
    pub thr_min: f32,
    /// Upper end of the threshold range.
    pub thr_max: f32,
}

/// How a SkipW model was trained, beyond [`CardTraining`] (its `training_knobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipWCardTrainingKnobs {
    /// `K` drawn uniformly from `k_min..=k_max` (per mini-batch in older cards, per knob of the
    /// training schedule with `knob_changes`).
    pub k_min: usize,
    /// Upper end of the `K` range.
    pub k_max: usize,
    /// The binarisation threshold drawn per mini-batch uniformly from `[thr_min, thr_max]`.
    pub thr_min: f32,
    /// Upper end of the training threshold range.
    pub thr_max: f32,
    /// Weight λ of the budget term `λ · (processed steps / steps)` in the loss.
    pub budget_lambda: f64,
    /// Most knob changes inside one training sequence (absent: one setting per mini-batch, the older
    /// trainer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knob_changes: Option<usize>,
    /// Probability that a training threshold was 0 (absent: never, beyond the uniform draw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thr_zero_share: Option<f64>,
    /// `T_s` of the window gate's time input `τ = t / T_s` (absent: a gate without time input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_time_scale: Option<f32>,
    /// Validation score used to keep an epoch, in words.
    pub selection: String,
}

/// The part of a nested-width model's card (`family` `nested`, see [`crate::rnn::nested`]); the folder
/// also holds `<name>.safetensors`. The JSON order is `task`, `family`, `cell`, `name`, `input`,
/// `classes`, `hidden`, `param_bytes`, `widths`, `schedules`, `best_epoch`, `training`, `seeds`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NestedCard {
    /// Model name, the weight file's stem.
    pub name: String,
    /// Hidden size `H` of the cell.
    pub hidden: usize,
    /// Bytes of all parameters (`f32`), one block for every width.
    pub param_bytes: u64,
    /// The widths, ascending, with their costs and accuracies.
    pub widths: Vec<NestedCardWidth>,
    /// Accuracy under random mid-sequence width changes.
    pub schedules: NestedCardSchedules,
    /// Epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
}

impl FamilyPart for NestedCard {
    const FAMILIES: &'static [&'static str] = &["nested"];

    fn family_name(&self) -> &'static str {
        "nested"
    }

    fn serialize_fields<M: SerializeMap>(card: &Card<NestedCard>, map: &mut M) -> Result<(), M::Error> {
        let part = &card.family;
        card.serialize_head(map)?;
        map.serialize_entry("name", &part.name)?;
        card.serialize_sizes(map)?;
        map.serialize_entry("hidden", &part.hidden)?;
        map.serialize_entry("param_bytes", &part.param_bytes)?;
        map.serialize_entry("widths", &part.widths)?;
        map.serialize_entry("schedules", &part.schedules)?;
        map.serialize_entry("best_epoch", &part.best_epoch)?;
        card.serialize_provenance(map)?;
        serialize_some(map, "seeds", &card.seeds)
    }
}

/// One width's entry in a [`NestedCard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NestedCardWidth {
    /// Width `w` (units `0..w` used).
    pub width: usize,
    /// FLOPs of one step at this width ([`NestedRnn::flops_per_step`](crate::rnn::nested::NestedRnn::flops_per_step)).
    pub flops_per_step: u64,
    /// FLOPs of this width's readout.
    pub flops_readout: u64,
    /// Accuracy on the test split, every step at this width (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Accuracy on the validation split, every step at this width (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    /// Mean squared error on the test split, every step at this width (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// Mean squared error on the validation split, every step at this width (regression tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mse: Option<f64>,
}

/// Accuracy under random width schedules ([`random_width_schedule`](crate::rnn::nested::random_width_schedule)) in a [`NestedCard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "SchedulesFile", into = "SchedulesFile")]
pub struct NestedCardSchedules {
    /// How the schedules were drawn, in words.
    pub description: String,
    /// Width changes per sequence.
    pub changes: usize,
    /// Schedules drawn per test sequence.
    pub schedules_per_sequence: usize,
    /// Seed of the schedules' generator.
    pub seed: u64,
    /// Accuracy (classification) or mean squared error (regression) over every (test sequence,
    /// schedule) pair.
    pub test_score: f64,
    /// Mean FLOPs per step over those runs.
    pub mean_flops_per_step: f64,
    /// The paper's step-weighted prediction: mean over runs of `Σ_w (steps at w / T) × score_w` with
    /// the static test scores (accuracy or MSE).
    pub step_weighted_score: f64,
    /// The card spells the scores `test_accuracy` and `step_weighted_accuracy`, as cards did before
    /// regression tasks (e.g. `models/digits-nested`); written back the same way, so a card reloads
    /// unchanged. New cards spell them `test_score` and `step_weighted_score` (`false`).
    pub accuracy_names: bool,
}

/// [`NestedCardSchedules`] as the file holds it: the scores under either spelling (exactly one).
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SchedulesFile {
    description: String,
    changes: usize,
    schedules_per_sequence: usize,
    seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test_accuracy: Option<f64>,
    mean_flops_per_step: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step_weighted_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step_weighted_accuracy: Option<f64>,
}

impl TryFrom<SchedulesFile> for NestedCardSchedules {
    type Error = String;

    fn try_from(file: SchedulesFile) -> Result<NestedCardSchedules, String> {
        let (test_score, step_weighted_score, accuracy_names) = match file {
            SchedulesFile {
                test_score: Some(test),
                test_accuracy: None,
                step_weighted_score: Some(weighted),
                step_weighted_accuracy: None,
                ..
            } => (test, weighted, false),
            SchedulesFile {
                test_score: None,
                test_accuracy: Some(test),
                step_weighted_score: None,
                step_weighted_accuracy: Some(weighted),
                ..
            } => (test, weighted, true),
            _ => {
                return Err("`schedules` needs `test_score` and `step_weighted_score` (or, in older cards, \
                    `test_accuracy` and `step_weighted_accuracy`), one spelling"
                    .into())
            }
        };
        Ok(NestedCardSchedules {
            description: file.description,
            changes: file.changes,
            schedules_per_sequence: file.schedules_per_sequence,
            seed: file.seed,
            test_score,
            mean_flops_per_step: file.mean_flops_per_step,
            step_weighted_score,
            accuracy_names,
        })
    }
}

impl From<NestedCardSchedules> for SchedulesFile {
    fn from(s: NestedCardSchedules) -> SchedulesFile {
        let (new, old) = if s.accuracy_names { (None, Some(())) } else { (Some(()), None) };
        SchedulesFile {
            description: s.description,
            changes: s.changes,
            schedules_per_sequence: s.schedules_per_sequence,
            seed: s.seed,
            test_score: new.map(|()| s.test_score),
            test_accuracy: old.map(|()| s.test_score),
            mean_flops_per_step: s.mean_flops_per_step,
            step_weighted_score: new.map(|()| s.step_weighted_score),
            step_weighted_accuracy: old.map(|()| s.step_weighted_score),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped card reads as its family's card type and writes back exactly: the same
    /// `serde_json::Value`, and with training's writer (`to_vec_pretty`) the same bytes.
    #[test]
    fn every_shipped_card_round_trips_byte_for_byte() {
        // The JSON text is compared, not `serde_json::to_value(&card)`: that widens `f32` fields
        // (SkipW's `thr`) to `f64` values (0.9 → 0.8999999761581421), which the text never holds.
        fn round_trip<F: FamilyPart>(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
            let card: Card<F> = serde_json::from_slice(bytes).unwrap();
            let written = serde_json::to_vec_pretty(&card).unwrap();
            (serde_json::from_slice(&written).unwrap(), written)
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut families = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path().join("card.json");
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let family = file["family"].as_str().unwrap().to_string();
            let (value, written) = match family.as_str() {
                "switch" | "thr" => round_trip::<BankCard>(&bytes),
                "skipw" => round_trip::<SkipWCard>(&bytes),
                "nested" => round_trip::<NestedCard>(&bytes),
                other => panic!("{}: unexpected family {other}", path.display()),
            };
            assert!(value == file, "{}: another JSON value", path.display());
            let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            assert!(written == trimmed, "{}: not byte-identical", path.display());
            families.push(family);
        }
        families.sort();
        families.dedup();
        assert_eq!(families, ["nested", "skipw", "switch", "thr"], "every family is shipped and checked");
    }

    fn nested_card_json() -> serde_json::Value {
        let bytes =
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/digits-nested/card.json"));
        serde_json::from_slice(&bytes.unwrap()).unwrap()
    }

    #[test]
    fn unknown_fields_are_refused_among_shared_and_family_fields() {
        let mut top = nested_card_json();
        top["colour"] = "red".into();
        let err = serde_json::from_value::<Card<NestedCard>>(top).unwrap_err().to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let mut inner = nested_card_json();
        inner["training"]["colour"] = "red".into();
        let err = serde_json::from_value::<Card<NestedCard>>(inner).unwrap_err().to_string();
        assert!(err.contains("`training`") && err.contains("unknown field `colour`"), "{err}");
        let mut missing = nested_card_json();
        missing.as_object_mut().unwrap().remove("classes");
        let err = serde_json::from_value::<Card<NestedCard>>(missing).unwrap_err().to_string();
        assert!(err.contains("missing field `classes`"), "{err}");
        let mut bad_cell = nested_card_json();
        bad_cell["cell"] = "rnn".into();
        let err = serde_json::from_value::<Card<NestedCard>>(bad_cell).unwrap_err().to_string();
        assert!(err.contains("`cell`") && err.contains("`gru`") && err.contains("`lstm`"), "{err}");
    }

    #[test]
    fn a_card_of_another_family_is_refused_and_old_bank_cards_read_as_switch() {
        let err = serde_json::from_value::<Card<SkipWCard>>(nested_card_json()).unwrap_err().to_string();
        assert_eq!(err, "`family` is `nested`; this card type reads `skipw`");
        let old = serde_json::json!({
            "task": "digits", "family": "gru", "cell": "gru", "input": 1, "classes": 10,
            "models": [], "maps": [],
            "training": {"command": "c", "seed": 1, "autodiff": "a", "optimiser": "o", "epochs": 1,
                "batch_size": 1, "wall_time_s": 0.5, "split": nested_card_json()["training"]["split"].clone()}
        });
        let card: Card<BankCard> = serde_json::from_value(old).unwrap();
        assert_eq!(
            (card.family.kind, card.family.family_name(), card.cell),
            (BankFamily::Switch, "switch", CellKind::Gru)
        );
        assert!(card.seeds.is_none() && card.family.switch_fine_tune.is_none());
    }

    #[test]
    fn an_imported_card_has_an_import_record_instead_of_training_and_round_trips() {
        let import = serde_json::json!({
            "command": "flexrnn import --model m.safetensors --task digits --out x", "format": "f",
            "prefix": "rnn.", "head": "head.", "cell_from": "shapes",
            "files": [{"model": "gru-4", "path": "m.safetensors", "sha256": "ab", "layout": "nn.GRU", "dtypes": "BF16"}],
            "state_maps": "none"
        });
        let card = serde_json::json!({
            "task": "digits", "family": "switch", "cell": "gru", "input": 1, "classes": 10,
            "models": [], "maps": [], "import": import.clone()
        });
        let read: Card<BankCard> = serde_json::from_value(card.clone()).unwrap();
        assert!(read.training.is_none());
        assert_eq!(read.import.as_ref().unwrap().files[0].layout, "nn.GRU");
        assert_eq!(read.training_wall_time_s(), 0.0);
        assert_eq!(serde_json::to_value(&read).unwrap(), card, "written back as read");
        // Neither a training record nor an import record: refused as before.
        let mut neither = card;
        neither.as_object_mut().unwrap().remove("import");
        let err = serde_json::from_value::<Card<BankCard>>(neither).unwrap_err().to_string();
        assert!(err.contains("missing field `training`"), "{err}");
    }

    #[test]
    fn card_entries_without_family_read_as_plain_gru() {
        let old = r#"{"name": "gru-16", "hidden": 16, "flops_per_step": 1888, "flops_readout": 330,
            "param_bytes": 4328, "test_accuracy": 0.85, "validation_accuracy": 0.91, "best_epoch": 37,
            "train_wall_s": 59.3}"#;
        let entry: CardModel = serde_json::from_str(old).unwrap();
        assert_eq!((entry.family.as_deref(), entry.model_family()), (None, FAMILY_GRU));
        assert!(entry.flops_per_skip.is_none() && entry.budget_lambda.is_none() && entry.knob_grid.is_empty());
        let written = serde_json::to_string(&entry).unwrap();
        assert!(!written.contains("knob_grid") && !written.contains("flops_per_skip"), "{written}");
        assert!(!written.contains("family"), "an old entry is written back as it was: {written}");
        assert_eq!(serde_json::from_str::<CardModel>(&written).unwrap(), entry);
    }
}
