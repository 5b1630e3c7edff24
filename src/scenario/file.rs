//! Stage 1: the scenario file as written (serde; unknown fields rejected). Checks that need only one
//! YAML node run here, inside deserialisation, so the parser locates them; [`ScenarioFile::into_parts`]
//! hands the typed values to the one validation path ([`super::checks::validate`]).

use std::path::PathBuf;

use std::sync::Arc;

use serde::Deserialize;

use super::checks::check_process;
use super::MAX_CORES;
use super::{
    DatasetName, DeviceSpec, ParameterMemory, PipelineSpec, PowerDraw, Process, RnnStream, ScenarioParts, StageSpec,
    DEFAULT_TRACE_CHUNK,
};
use crate::data::SplitPart;
use crate::node::Discipline;
use crate::policy::PolicySpec;
use crate::sim::SimTime;
use crate::units::{Bandwidth, Duration, Power, Rate, Size, Speed, Work};
use crate::workload::profile::StepCost;
use crate::workload::{BackgroundKind, BackgroundSpec, OnMiss, StreamSpec, Trace, UtilisationTrace, WorkDistribution};

/// Implements `Deserialize` for a unit enum written as a plain string, with an error that lists the
/// allowed values (serde_yaml's own enum path would ask for a YAML tag when given a list or map).
macro_rules! string_enum {
    ($ty:ty, $what:literal, [$($text:literal => $variant:expr),+ $(,)?]) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "{}: one of {}", $what, [$(concat!("`", $text, "`")),+].join(", "))
                    }
                    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<$ty, E> {
                        match value {
                            $($text => Ok($variant),)+
                            _ => Err(E::custom(format!(
                                "unknown {} `{}`; allowed: {}",
                                $what,
                                value,
                                [$($text),+].join(", ")
                            ))),
                        }
                    }
                }
                deserializer.deserialize_str(V)
            }
        }

        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "description": $what, "type": "string", "enum": [$($text),+] })
            }
        }
    };
}

string_enum!(ProcessKindName, "process kind", [
    "poisson" => ProcessKindName::Poisson,
    "periodic" => ProcessKindName::Periodic,
    "mmpp" => ProcessKindName::Mmpp,
    "on_off" => ProcessKindName::OnOff,
    "trace" => ProcessKindName::Trace,
    "rnn_stream" => ProcessKindName::RnnStream,
]);
string_enum!(SplitPart, "split part", ["test" => SplitPart::Test, "train" => SplitPart::Train, "validation" => SplitPart::Validation]);
string_enum!(OnMiss, "on_miss", ["skip" => OnMiss::Skip, "continue" => OnMiss::Continue]);

/// A whole number read from YAML, with an error that says what it is for.
fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    what: &'static str,
    minimum: u64,
) -> Result<u64, D::Error> {
    struct V(&'static str, u64);
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: a whole number ≥ {}", self.0, self.1)
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<u64, E> {
            if value < self.1 {
                Err(E::custom(format!("{} must be a whole number ≥ {}, got {value}", self.0, self.1)))
            } else {
                Ok(value)
            }
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<u64, E> {
            if value < 0 {
                Err(E::custom(format!("{} must be a whole number ≥ {}, got {value}", self.0, self.1)))
            } else {
                self.visit_u64(value as u64)
            }
        }
    }
    deserializer.deserialize_u64(V(what, minimum))
}

fn deserialize_cores<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<std::num::NonZeroUsize, D::Error> {
    let value = whole_number(deserializer, "cores", 1)?;
    if value > MAX_CORES {
        return Err(serde::de::Error::custom(format!("cores must be at most {MAX_CORES}, got {value}")));
    }
    usize::try_from(value)
        .ok()
        .and_then(std::num::NonZeroUsize::new)
        .ok_or_else(|| serde::de::Error::custom("cores: too large"))
}

fn deserialize_seed<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    whole_number(deserializer, "seed", 0)
}

fn deserialize_priority<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = whole_number(deserializer, "priority", 0)?;
    u32::try_from(value).map(Some).map_err(|_| serde::de::Error::custom("priority: at most 4294967295"))
}

fn deserialize_sequences<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let value = whole_number(deserializer, "sequences", 1)?;
    Ok(Some(usize::try_from(value).unwrap_or(usize::MAX)))
}

/// The node section as written: either one pool (`cores`, `speed`, `scheduler`, optional `power`) or
/// `devices` (a map of named devices, each with those four fields), and in both forms an optional
/// node-wide `memory`. Checked by [`NodeFile::into_devices`].
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "the node: a map with cores, speed and scheduler (one pool), or with devices (named pools)"
)]
#[schemars(transform = node_forms)]
#[schemars(
    description = "The edge node: one pool (`cores`, `speed`, `scheduler`, optional `power`) or `devices` (named pools, the first the default), and in both forms an optional node-wide `memory`."
)]
pub(crate) struct NodeFile {
    /// Number of cores (at least 1).
    #[serde(default, deserialize_with = "deserialize_some_cores")]
    #[schemars(range(min = 1, max = MAX_CORES))]
    pub cores: Option<std::num::NonZeroUsize>,
    /// Speed of one core, e.g. `1GFLOP/s`.
    #[serde(default)]
    pub speed: Option<Speed>,
    /// Scheduling discipline.
    #[serde(default)]
    pub scheduler: Option<SchedulerFile>,
    /// Power model (optional): per-core draw when idle and when busy.
    #[serde(default)]
    pub power: Option<PowerFile>,
    /// Parameter memory (optional; without it parameters are always resident). Node-wide.
    #[serde(default)]
    pub memory: Option<MemoryFile>,
    /// Named devices, in order (the first is the default); instead of cores, speed, scheduler, power.
    #[serde(default)]
    pub devices: Option<DevicesFile>,
}

/// The two forms of [`NodeFile`] in its schema: `devices` alone, or `cores`, `speed` and `scheduler`
/// (as [`NodeFile::into_devices`] checks).
fn node_forms(schema: &mut schemars::Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            { "title": "one pool", "required": ["cores", "speed", "scheduler"], "not": { "required": ["devices"] } },
            {
                "title": "named devices",
                "required": ["devices"],
                "not": { "anyOf": [{ "required": ["cores"] }, { "required": ["speed"] }, { "required": ["scheduler"] }, { "required": ["power"] }] }
            }
        ]),
    );
}

fn deserialize_some_cores<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<std::num::NonZeroUsize>, D::Error> {
    deserialize_cores(deserializer).map(Some)
}

/// One device as written under `node.devices`: `{ cores, speed, scheduler, power }`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a device: a map with cores, speed, scheduler and optional power")]
pub(crate) struct DeviceFile {
    /// Number of cores or compute units (at least 1; a job uses at most one).
    #[serde(deserialize_with = "deserialize_cores")]
    #[schemars(range(min = 1, max = MAX_CORES))]
    pub cores: std::num::NonZeroUsize,
    /// Speed of one core, e.g. `50GFLOP/s`.
    pub speed: Speed,
    /// Scheduling discipline.
    pub scheduler: SchedulerFile,
    /// Power model (optional): per-core draw when idle and when busy.
    #[serde(default)]
    pub power: Option<PowerFile>,
}

/// `node.devices`: a map from device name to device, in the order written (the order matters: the
/// first device is the default). Names must be unique.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DevicesFile(pub Vec<(String, DeviceFile)>);

impl schemars::JsonSchema for DevicesFile {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DevicesFile".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Named devices, in order (the first is the default): a map from device name (letters, digits, `-`, `_`) to `{ cores, speed, scheduler, power }`.",
            "type": "object",
            "minProperties": 1,
            "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$" },
            "additionalProperties": generator.subschema_for::<DeviceFile>(),
        })
    }
}

impl<'de> Deserialize<'de> for DevicesFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DevicesFile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "devices: a map from device name to `{{ cores, speed, scheduler, power }}`, e.g. `{{ cpu: {{ cores: 4, speed: 1GFLOP/s, scheduler: processor_sharing }}, gpu: {{ cores: 1, speed: 50GFLOP/s, scheduler: fifo }} }}`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<DevicesFile, A::Error> {
                let mut devices: Vec<(String, DeviceFile)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if devices.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "node.devices: device `{name}` is listed twice; names must be unique"
                        )));
                    }
                    super::checks::check_device_name(&name).map_err(serde::de::Error::custom)?;
                    let device: DeviceFile = map.next_value()?;
                    devices.push((name, device));
                }
                if devices.is_empty() {
                    return Err(serde::de::Error::custom("node.devices: list at least one device"));
                }
                Ok(DevicesFile(devices))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A node section whose fields do not fit together: the field to locate it at (`node` for the section
/// itself) and the message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeFormError {
    /// The key to locate (`cores`, `speed`, …, or `node`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl NodeFile {
    /// The node's devices and memory: one device named [`super::DEFAULT_DEVICE`] for the single-pool
    /// form, the listed ones otherwise.
    ///
    /// # Errors
    /// A message when `devices` is given with `cores`, `speed`, `scheduler` or `power`, or when the
    /// single-pool form lacks one of its fields.
    pub(crate) fn into_devices(self) -> Result<(Vec<DeviceSpec>, Option<ParameterMemory>), NodeFormError> {
        let memory = self.memory.map(|m| ParameterMemory { capacity: m.capacity.0, bandwidth: m.bandwidth.0 });
        let power = |p: PowerFile| PowerDraw { idle: p.idle.0, busy: p.busy.0 };
        let pool_fields = [
            ("cores", self.cores.is_some()),
            ("speed", self.speed.is_some()),
            ("scheduler", self.scheduler.is_some()),
            ("power", self.power.is_some()),
        ];
        match self.devices {
            Some(devices) => {
                if let Some((field, _)) = pool_fields.iter().find(|(_, given)| *given) {
                    return Err(NodeFormError {
                        field: field.to_string(),
                        message: format!(
                            "node: `devices` and `{field}` are both given; with `devices`, give `cores`, `speed`, `scheduler` and `power` inside each device (`memory` stays at the node: it is node-wide)"
                        ),
                    });
                }
                let devices = devices
                    .0
                    .into_iter()
                    .map(|(name, d)| DeviceSpec {
                        name,
                        cores: d.cores,
                        speed: d.speed.0,
                        discipline: d.scheduler.0,
                        power: d.power.map(power),
                    })
                    .collect();
                Ok((devices, memory))
            }
            None => {
                let missing = |field: &str, example: &str| {
                    NodeFormError {
                    field: "node".into(),
                    message: format!(
                        "node: missing field `{field}` (e.g. `{example}`); give `cores`, `speed` and `scheduler`, or `devices`"
                    ),
                }
                };
                let device = DeviceSpec {
                    name: super::DEFAULT_DEVICE.into(),
                    cores: self.cores.ok_or_else(|| missing("cores", "cores: 2"))?,
                    speed: self.speed.ok_or_else(|| missing("speed", "speed: 1GFLOP/s"))?.0,
                    discipline: self.scheduler.ok_or_else(|| missing("scheduler", "scheduler: processor_sharing"))?.0,
                    power: self.power.map(power),
                };
                Ok((vec![device], memory))
            }
        }
    }
}

/// Fast parameter memory: `capacity` bytes, filled from slow memory at `bandwidth` (LRU over the
/// models' parameter blocks; loads do not occupy a core).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ capacity: <size>, bandwidth: <bandwidth> }`")]
pub(crate) struct MemoryFile {
    /// Capacity, bytes (e.g. `256KiB`).
    pub capacity: Size,
    /// Load bandwidth, bytes/s (e.g. `50MB/s`), > 0.
    pub bandwidth: Bandwidth,
}

/// Power draw of one core: `idle` when it runs nothing, `busy` when it runs a job. The node's energy
/// is `idle · cores · duration + (busy − idle) · busy core-seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ idle: <power>, busy: <power> }`")]
pub(crate) struct PowerFile {
    /// Draw of an idle core, W.
    pub idle: Power,
    /// Draw of a busy core, W (at least `idle`).
    pub busy: Power,
}

/// The scheduler as written: `processor_sharing`, `fifo`, `edf`, `fixed_priority` (preemptive) or
/// `{ fixed_priority: { preemptive: false } }`, and `{ round_robin: { quantum: 10ms, context_switch: 50us } }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchedulerFile(pub(crate) Discipline);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ preemptive: <true|false> }`")]
struct FixedPriorityParams {
    /// Whether a higher-priority job takes the core from a running one (default true).
    #[serde(default = "default_true")]
    preemptive: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ quantum: <duration>, context_switch: <duration> }`")]
struct RoundRobinParams {
    /// Time slice (> 0).
    quantum: Duration,
    /// Time lost at each switch between jobs (default 0).
    #[serde(default = "zero_duration")]
    context_switch: Duration,
}

fn zero_duration() -> Duration {
    Duration(SimTime::ZERO)
}

/// The schedulers written as one-key maps, with their parameters.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum SchedulerParams {
    FixedPriority(FixedPriorityParams),
    RoundRobin(RoundRobinParams),
}

const SCHEDULERS: &str = "`processor_sharing`, `fifo`, `edf`, `fixed_priority`, `{ fixed_priority: { preemptive: <bool> } }`, `{ round_robin: { quantum: <duration>, context_switch: <duration> } }`";

impl schemars::JsonSchema for SchedulerFile {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SchedulerFile".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": format!("Scheduling discipline: one of {SCHEDULERS}"),
            "anyOf": [
                { "type": "string", "enum": ["processor_sharing", "fifo", "edf", "fixed_priority"] },
                generator.subschema_for::<SchedulerParams>(),
            ],
        })
    }
}

impl<'de> Deserialize<'de> for SchedulerFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SchedulerFile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a scheduler: one of {SCHEDULERS}")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<SchedulerFile, E> {
                match value {
                    "processor_sharing" => Ok(SchedulerFile(Discipline::ProcessorSharing)),
                    "fifo" => Ok(SchedulerFile(Discipline::Fifo)),
                    "edf" => Ok(SchedulerFile(Discipline::Edf)),
                    "fixed_priority" => Ok(SchedulerFile(Discipline::FixedPriority { preemptive: true })),
                    "round_robin" => Err(E::custom(
                        "round_robin needs its quantum: `{ round_robin: { quantum: 10ms, context_switch: 50us } }`",
                    )),
                    other => Err(E::custom(format!("unknown scheduler `{other}`; allowed: {SCHEDULERS}"))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<SchedulerFile, A::Error> {
                let one_key = OneKeyMap::new("give exactly one scheduler", SCHEDULERS);
                Ok(SchedulerFile(match one_key.visit_map(map)? {
                    SchedulerParams::FixedPriority(params) => {
                        Discipline::FixedPriority { preemptive: params.preemptive }
                    }
                    SchedulerParams::RoundRobin(params) => {
                        if params.quantum.0 .0 == 0 {
                            return Err(serde::de::Error::custom("round_robin quantum must be longer than zero"));
                        }
                        Discipline::RoundRobin { quantum: params.quantum.0, context_switch: params.context_switch.0 }
                    }
                }))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Optional output settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "output settings: a map with bin, jobs, steps and sequences")]
pub(crate) struct OutputFile {
    /// Width of the usage bins of the timeline (default: the larger of `1s` and duration / 1000).
    pub bin: Option<Duration>,
    /// Write `jobs.csv` (default true).
    pub jobs: Option<bool>,
    /// Write `steps.csv` (default true).
    pub steps: Option<bool>,
    /// Write `sequences.csv` (default true).
    pub sequences: Option<bool>,
}

/// A work distribution as written: a one-key map naming the distribution, e.g. `{ constant: 2MFLOP }`,
/// `{ exponential: { mean: 1GFLOP } }`, `{ lognormal: { mean: 2MFLOP, cv: 0.5 } }`,
/// `{ gamma: { mean: 2MFLOP, cv: 0.5 } }`, `{ weibull: { scale: 1MFLOP, shape: 0.7 } }`,
/// `{ pareto: { scale: 1MFLOP, shape: 2.5 } }`, `{ uniform: { min: 1MFLOP, max: 3MFLOP } }`,
/// `{ normal: { mean: 2MFLOP, sd: 1MFLOP } }` (truncated at zero) or `{ empirical: { file: work.csv } }`.
/// See [`WorkDistribution`] for what each means. Read as an externally tagged enum (serde derives the
/// variant names and their parameters) from a one-key map by [`OneKeyMap`].
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(
    description = "The work of a job: a one-key map naming the distribution, e.g. `{ constant: 2MFLOP }`, `{ exponential: { mean: 1GFLOP } }`, `{ lognormal: { mean: 2MFLOP, cv: 0.5 } }`, `{ uniform: { min: 1MFLOP, max: 3MFLOP } }`, `{ empirical: { file: work.csv } }`."
)]
pub(crate) enum WorkFile {
    /// Always this work.
    Constant(Work),
    /// Exponential with this mean.
    Exponential(MeanParams),
    /// Log-normal with this mean and coefficient of variation.
    Lognormal(MeanCvParams),
    /// Gamma with this mean and coefficient of variation.
    Gamma(MeanCvParams),
    /// Weibull with this scale and shape.
    Weibull(ScaleShapeParams),
    /// Pareto type I with this scale (the smallest work) and shape.
    Pareto(ScaleShapeParams),
    /// Uniform between `min` and `max`.
    Uniform(MinMaxParams),
    /// Normal with this mean and sd, truncated at zero.
    Normal(MeanSdParams),
    /// Samples read from a file, resampled uniformly.
    Empirical(FileParams),
}

/// The mean of an exponential distribution.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ mean: <work> }`")]
pub(crate) struct MeanParams {
    mean: Work,
}

/// Mean and coefficient of variation (sd / mean, > 0) of a log-normal or gamma distribution.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ mean: <work>, cv: <number> }`")]
pub(crate) struct MeanCvParams {
    mean: Work,
    cv: f64,
}

/// Scale and shape (> 0; a Pareto's > 1) of a Weibull or Pareto distribution.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ scale: <work>, shape: <number> }`")]
pub(crate) struct ScaleShapeParams {
    scale: Work,
    shape: f64,
}

/// Bounds of a uniform distribution (`max > min`).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ min: <work>, max: <work> }`")]
pub(crate) struct MinMaxParams {
    min: Work,
    max: Work,
}

/// Mean and sd (> 0) of a normal distribution before truncation at zero. The mean may be negative,
/// down to −3 sd (checked with the distribution, as for the builder's `TruncatedNormal`).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ mean: <work>, sd: <work> }`")]
pub(crate) struct MeanSdParams {
    mean: SignedWork,
    sd: Work,
}

/// Work that may be negative (a normal's mean before truncation): `-1MFLOP` or `2MFLOP`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SignedWork(f64);

impl schemars::JsonSchema for SignedWork {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignedWork".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "work that may be negative (a normal's mean before truncation, down to −3 sd), e.g. `-1MFLOP` or `2MFLOP`",
            "type": "string",
            "pattern": crate::units::signed_work_pattern(),
        })
    }
}

impl<'de> Deserialize<'de> for SignedWork {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SignedWork, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (sign, magnitude) = match text.trim_start().strip_prefix('-') {
            Some(rest) => (-1.0, rest),
            None => (1.0, text.as_str()),
        };
        Work::parse(magnitude.trim_start()).map(|work| SignedWork(sign * work.0)).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid work `{text}`: expected a number, negative allowed down to −3 sd, followed by FLOP, kFLOP, MFLOP, GFLOP or TFLOP (e.g. `-1MFLOP`)"
            ))
        })
    }
}

/// The file of an empirical distribution: one number of FLOPs per line, relative to the scenario
/// file's folder.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ file: <path of a CSV file> }`")]
pub(crate) struct FileParams {
    file: PathBuf,
}

const WORK_KINDS: &str = "`constant: <work>`, `exponential: { mean: <work> }`, `lognormal: { mean: <work>, cv: <number> }`, `gamma: { mean: <work>, cv: <number> }`, `weibull: { scale: <work>, shape: <number> }`, `pareto: { scale: <work>, shape: <number> }`, `uniform: { min: <work>, max: <work> }`, `normal: { mean: <work>, sd: <work> }`, `empirical: { file: <path> }`";

/// A `work` field: a [`WorkFile`] read from a one-key map.
fn deserialize_work<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<WorkFile, D::Error> {
    deserializer.deserialize_any(OneKeyMap::new("work: give exactly one distribution", WORK_KINDS))
}

/// An optional `work` field (absent: `None`, by `#[serde(default)]`).
fn deserialize_some_work<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<WorkFile>, D::Error> {
    deserialize_work(deserializer).map(Some)
}

/// Reads an externally tagged enum `T` (derived `Deserialize`, newtype variants only) from a one-key
/// map `{ <variant>: <value> }`, the form serde_yaml's `singleton_map` reads (serde_yaml reads enums
/// themselves only from YAML tags). The variant's name and its value are read by `T`'s derived code, so
/// an unknown name gets serde's "unknown variant …, expected one of …" and the value its own errors,
/// located by the parser. Written here rather than using `singleton_map` for its errors: that answers
/// an empty map or a second key with "invalid value: map, expected map with a single key", and a bare
/// name with "invalid type: unit variant, expected newtype variant", neither saying what is allowed;
/// here all three say `exactly_one` and list `allowed`.
struct OneKeyMap<T> {
    exactly_one: &'static str,
    allowed: &'static str,
    read: std::marker::PhantomData<T>,
}

impl<T> OneKeyMap<T> {
    fn new(exactly_one: &'static str, allowed: &'static str) -> Self {
        OneKeyMap { exactly_one, allowed, read: std::marker::PhantomData }
    }

    fn error<E: serde::de::Error>(&self) -> E {
        E::custom(format!("{}, one of {}", self.exactly_one, self.allowed))
    }
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OneKeyMap<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a one-key map, one of {}", self.allowed)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<T, E> {
        Err(self.error())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let value = T::deserialize(OneKeyEnum { map: &mut map, one_key: &self })?;
        match map.next_key::<serde::de::IgnoredAny>()? {
            None => Ok(value),
            Some(_) => Err(self.error()),
        }
    }
}

/// The first entry of a map seen as an enum (its key the variant, its value the variant's value).
struct OneKeyEnum<'a, A, T> {
    map: &'a mut A,
    one_key: &'a OneKeyMap<T>,
}

impl<'de, A: serde::de::MapAccess<'de>, T> serde::Deserializer<'de> for OneKeyEnum<'_, A, T> {
    type Error = A::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: serde::de::MapAccess<'de>, T> serde::de::EnumAccess<'de> for OneKeyEnum<'_, A, T> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: serde::de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), A::Error> {
        match self.map.next_key_seed(seed)? {
            Some(variant) => Ok((variant, self)),
            None => Err(self.one_key.error()),
        }
    }
}

impl<'de, A: serde::de::MapAccess<'de>, T> serde::de::VariantAccess<'de> for OneKeyEnum<'_, A, T> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        Err(self.one_key.error())
    }

    fn newtype_variant_seed<S: serde::de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn tuple_variant<V: serde::de::Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, A::Error> {
        Err(self.one_key.error())
    }

    fn struct_variant<V: serde::de::Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, A::Error> {
        Err(self.one_key.error())
    }
}

impl WorkFile {
    /// The library's distribution. Empirical work gets no samples yet: the validation reads them.
    fn distribution(self) -> WorkDistribution {
        match self {
            WorkFile::Constant(w) => WorkDistribution::Constant(w.0),
            WorkFile::Exponential(MeanParams { mean }) => WorkDistribution::Exponential { mean: mean.0 },
            WorkFile::Lognormal(MeanCvParams { mean, cv }) => WorkDistribution::LogNormal { mean: mean.0, cv },
            WorkFile::Gamma(MeanCvParams { mean, cv }) => WorkDistribution::Gamma { mean: mean.0, cv },
            WorkFile::Weibull(ScaleShapeParams { scale, shape }) => WorkDistribution::Weibull { scale: scale.0, shape },
            WorkFile::Pareto(ScaleShapeParams { scale, shape }) => WorkDistribution::Pareto { scale: scale.0, shape },
            WorkFile::Uniform(MinMaxParams { min, max }) => WorkDistribution::Uniform { min: min.0, max: max.0 },
            WorkFile::Normal(MeanSdParams { mean, sd }) => WorkDistribution::TruncatedNormal { mean: mean.0, sd: sd.0 },
            WorkFile::Empirical(FileParams { file }) => WorkDistribution::Empirical { file, samples: Arc::from([]) },
        }
    }
}

/// Process kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessKindName {
    /// Background process with Poisson arrivals.
    Poisson,
    /// Background process releasing a job every period.
    Periodic,
    /// Background process with Markov-modulated Poisson arrivals.
    Mmpp,
    /// Background process that starts and stops.
    OnOff,
    /// Background process replaying a CSV trace (jobs or CPU utilisation).
    Trace,
    /// A recurrent network playing sequences of a data set.
    RnnStream,
}

/// Declares [`RawProcess`] (a process entry exactly as written: `name`, `kind` and every other field
/// optional) and, from the same list, [`RawProcess::given`], so the fields checked against a kind's
/// list cannot drift from the fields read.
///
/// Why not serde's internally tagged enum (`#[serde(tag = "kind")]`, one struct per kind): serde reads
/// such a map into a buffer before it knows the kind, and serde_yaml then locates every error inside
/// the process at the process's first line, without the field's path (`rate: x` on line 12 is reported
/// at `- name:` on line 9); and an unknown field is "unknown field `period`, expected one of `name`,
/// `rate`, `work`" without the kind. A flat struct of optional fields keeps the parser's positions, and
/// the per-kind lists below say what is allowed for which kind.
macro_rules! raw_process {
    ($($(#[$attr:meta])* $field:ident: $ty:ty,)+) => {
        /// A process entry exactly as written (every field but `name` and `kind` optional here).
        #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, expecting = "a process: a map with name, kind and the fields of its kind")]
        struct RawProcess {
            /// The process's name (unique; names output columns and the stream's folder).
            name: String,
            /// What kind of process: the fields allowed and required depend on it.
            kind: ProcessKindName,
            $($(#[$attr])* $field: Option<$ty>,)+
        }

        impl RawProcess {
            /// The optional fields given, in declaration order.
            fn given(&self) -> impl Iterator<Item = &'static str> {
                [$((stringify!($field), self.$field.is_some())),+]
                    .into_iter()
                    .filter_map(|(field, given)| given.then_some(field))
            }
        }
    };
}

raw_process! {
    /// Share of the node under processor sharing (default 1).
    weight: f64,
    /// The device it runs on (default: the node's first).
    device: String,
    /// Priority under `fixed_priority` (smaller runs first; default 0).
    #[serde(default, deserialize_with = "deserialize_priority")]
    priority: u32,
    /// Arrivals per unit of time (`poisson`), e.g. `20/s`.
    rate: Rate,
    /// The work of a job: a one-key map naming its distribution (`poisson`, `periodic`, `mmpp`).
    #[serde(default, deserialize_with = "deserialize_some_work")]
    work: WorkFile,
    /// Mean on-period (`on_off`), e.g. `5s`.
    on_mean: Duration,
    /// Mean off-period (`on_off`), e.g. `5s`.
    off_mean: Duration,
    /// Whether it starts on (`on_off`; default false).
    start_on: bool,
    /// The task whose sequences the stream plays (`rnn_stream`), e.g. `digits`.
    dataset: DatasetName,
    /// Which part of the task's split it plays (`rnn_stream`; default `test`).
    split: SplitPart,
    /// The model folder, relative to the scenario's folder (`rnn_stream`).
    models: PathBuf,
    /// Time between releases (`periodic`) or frames (`rnn_stream`).
    period: Duration,
    /// Relative deadline of a job or a frame.
    deadline: Duration,
    /// When the stream's first frame arrives (`rnn_stream`; default 0).
    start: Duration,
    /// How many sequences the stream plays (`rnn_stream`; default: every sequence of the part, once).
    #[serde(default, deserialize_with = "deserialize_sequences")]
    #[schemars(range(min = 1))]
    sequences: usize,
    /// What happens to a frame still waiting at its deadline (`rnn_stream`; default `skip`).
    on_miss: OnMiss,
    /// The policies that steer the stream, one run each (`rnn_stream`).
    policies: Vec<PolicySpec>,
    /// Time of the first release (`periodic`; default 0).
    phase: Duration,
    /// Largest uniform delay of each release (`periodic`; default 0).
    jitter: Duration,
    /// Stages run before each frame's step (`rnn_stream`).
    pipeline: Vec<RawStage>,
    /// Arrival rate in each state (`mmpp`).
    rates: Vec<Rate>,
    /// Square matrix of state-change rates (`mmpp`).
    switch_rates: Vec<Vec<Rate>>,
    /// A jobs trace CSV, header `release_s,work_flop` (`trace`).
    jobs: PathBuf,
    /// A CPU-utilisation trace CSV, header `time_s,utilisation` (`trace`).
    utilisation: PathBuf,
    /// Time between the chunks of a utilisation trace (`trace`; default 100ms).
    chunk: Duration,
    /// A factor (> 0) on the trace's times (`trace`; default 1): `0.001` plays a day in 86.4 s.
    time_scale: f64,
    /// What a step costs (`rnn_stream`; default `flops`).
    cost: CostFile,
}

/// A stream's `cost:` as written: `flops` or `{ profile: <file.csv>, scale: <number > 0> }` (the
/// profile is read by the validation).
#[derive(Debug, Clone, PartialEq)]
struct CostFile(StepCost);

/// The forms `cost:` allows, for messages.
const COST_FORMS: &str = "`flops` (the default) or `{ profile: <file.csv>, scale: <number > 0, default 1> }`";

/// The map form of `cost:`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProfileCostFile {
    /// A step-cost profile CSV (`flexrnn profile`), relative to the scenario's folder.
    profile: PathBuf,
    /// A factor on the profile's durations (> 0, default 1).
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 0))]
    scale: Option<f64>,
}

impl schemars::JsonSchema for CostFile {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CostFile".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": format!("What a step costs: {COST_FORMS}"),
            "anyOf": [{ "const": "flops" }, generator.subschema_for::<ProfileCostFile>()],
        })
    }
}

impl<'de> Deserialize<'de> for CostFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CostFile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a cost model: {COST_FORMS}")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<CostFile, E> {
                match value {
                    "flops" => Ok(CostFile(StepCost::Flops)),
                    other => Err(E::custom(format!("unknown cost model `{other}`; allowed: {COST_FORMS}"))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<CostFile, A::Error> {
                let raw = ProfileCostFile::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let scale = raw.scale.unwrap_or(1.0);
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(<A::Error as serde::de::Error>::custom(format!(
                        "`cost.scale` must be a finite number > 0 (a factor on the profile's durations), got {scale}"
                    )));
                }
                Ok(CostFile(StepCost::Profile { file: raw.profile, scale, profile: Default::default() }))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A process entry, checked for the fields its kind needs and their values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawProcess")]
pub(crate) struct ProcessFile(pub(crate) Process);

impl schemars::JsonSchema for ProcessFile {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProcessFile".into()
    }

    /// [`RawProcess`]'s fields, and for each kind the fields it allows (the lists the reader checks)
    /// and those it requires.
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = RawProcess::json_schema(generator);
        schema.insert(
            "description".into(),
            "A background process or an RNN stream: `name`, `kind` and the fields its kind allows.".into(),
        );
        let kinds: Vec<serde_json::Value> = PROCESS_KINDS
            .iter()
            .map(|&(kind, allowed, required)| {
                let then = match kind {
                    "trace" => serde_json::json!({
                        "propertyNames": { "enum": allowed },
                        "oneOf": [
                            { "required": ["jobs"], "not": { "anyOf": [{ "required": ["utilisation"] }, { "required": ["chunk"] }] } },
                            { "required": ["utilisation"], "not": { "required": ["jobs"] } }
                        ],
                    }),
                    _ => serde_json::json!({ "propertyNames": { "enum": allowed }, "required": required }),
                };
                serde_json::json!({ "if": { "properties": { "kind": { "const": kind } } }, "then": then })
            })
            .collect();
        schema.insert("allOf".into(), kinds.into());
        schema
    }
}

/// Each kind's name, the fields it allows and those it requires (`trace` needs one of `jobs` and
/// `utilisation`, said apart in [`ProcessFile`]'s schema).
const PROCESS_KINDS: [(&str, &[&str], &[&str]); 6] = [
    ("poisson", POISSON_FIELDS, &["rate", "work"]),
    ("periodic", PERIODIC_FIELDS, &["period", "work"]),
    ("mmpp", MMPP_FIELDS, &["rates", "switch_rates", "work"]),
    ("on_off", ON_OFF_FIELDS, &["on_mean", "off_mean"]),
    ("trace", TRACE_FIELDS, &[]),
    ("rnn_stream", STREAM_FIELDS, &["period", "deadline", "policies", "dataset", "models"]),
];

/// A stage of a stream's pipeline as written: `{ name: pose, work: { constant: 3MFLOP }, after: [capture] }`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a stage: a map `{ name: <name>, work: <distribution>, after: [<stage>, …], device: <device> }`"
)]
struct RawStage {
    /// The stage's name (unique in the pipeline).
    name: String,
    /// The work of one run of the stage.
    #[serde(deserialize_with = "deserialize_work")]
    work: WorkFile,
    /// The stages it waits for (default: none; the frame's step waits for every stage).
    #[serde(default)]
    after: Vec<String>,
    /// The device it runs on (default: the node's first device, not the stream's).
    #[serde(default)]
    device: Option<String>,
}

const POISSON_FIELDS: &[&str] = &["name", "kind", "weight", "device", "priority", "deadline", "rate", "work"];
const PERIODIC_FIELDS: &[&str] =
    &["name", "kind", "weight", "device", "priority", "deadline", "period", "phase", "jitter", "work"];
const MMPP_FIELDS: &[&str] =
    &["name", "kind", "weight", "device", "priority", "deadline", "rates", "switch_rates", "work"];
const ON_OFF_FIELDS: &[&str] =
    &["name", "kind", "weight", "device", "priority", "deadline", "on_mean", "off_mean", "start_on"];
const TRACE_FIELDS: &[&str] =
    &["name", "kind", "weight", "device", "priority", "deadline", "jobs", "utilisation", "chunk", "time_scale"];
const STREAM_FIELDS: &[&str] = &[
    "name",
    "kind",
    "weight",
    "device",
    "priority",
    "pipeline",
    "dataset",
    "split",
    "models",
    "period",
    "deadline",
    "start",
    "sequences",
    "on_miss",
    "policies",
    "cost",
];

impl TryFrom<RawProcess> for ProcessFile {
    type Error = String;

    /// Checks that the fields given are those of the kind and that the ones it needs are there, then
    /// checks the values with [`check_process`] (as the builder does).
    fn try_from(raw: RawProcess) -> Result<ProcessFile, String> {
        let (kind_name, allowed, _) = PROCESS_KINDS[match raw.kind {
            ProcessKindName::Poisson => 0,
            ProcessKindName::Periodic => 1,
            ProcessKindName::Mmpp => 2,
            ProcessKindName::OnOff => 3,
            ProcessKindName::Trace => 4,
            ProcessKindName::RnnStream => 5,
        }];
        let process = format!("process `{}`", raw.name);
        if let Some(field) = raw.given().find(|field| !allowed.contains(field)) {
            return Err(format!(
                "{process}: field `{field}` is not allowed for kind `{kind_name}` (allowed: {})",
                allowed.join(", ")
            ));
        }
        let missing = |field: &str, what: &str| {
            format!("{process}: missing field `{field}` ({what}), required for kind `{kind_name}`")
        };
        let work = |work: Option<WorkFile>| {
            work.map(WorkFile::distribution).ok_or_else(|| missing("work", "e.g. `{ exponential: { mean: 1GFLOP } }`"))
        };
        let deadline = raw.deadline.map(|d| d.0);
        let background = |kind: BackgroundKind, deadline: Option<SimTime>| {
            Process::Background(BackgroundSpec {
                name: raw.name.clone(),
                kind,
                weight: raw.weight.unwrap_or(1.0),
                priority: raw.priority.unwrap_or(0),
                deadline,
                device: raw.device.clone(),
            })
        };
        let checked = match raw.kind {
            ProcessKindName::Periodic => {
                let period = raw.period.ok_or_else(|| missing("period", "time between releases, e.g. `10ms`"))?.0;
                let phase = raw.phase.map_or(SimTime::ZERO, |d| d.0);
                let jitter = raw.jitter.map_or(SimTime::ZERO, |d| d.0);
                let kind = BackgroundKind::Periodic { period, phase, jitter, work: work(raw.work.clone())? };
                // Implicit deadlines (the classic periodic task model) unless one is given.
                background(kind, deadline.or(Some(period)))
            }
            ProcessKindName::Mmpp => {
                let rates =
                    raw.rates.as_ref().ok_or_else(|| missing("rates", "arrival rate per state, e.g. `[2/s, 20/s]`"))?;
                let switch_rates = raw.switch_rates.as_ref().ok_or_else(|| {
                    missing(
                        "switch_rates",
                        "a square matrix of state-change rates, e.g. `[[0/s, 0.1/s], [0.5/s, 0/s]]`",
                    )
                })?;
                let kind = BackgroundKind::Mmpp {
                    rates: rates.iter().map(|r| r.0).collect(),
                    switch_rates: switch_rates.iter().map(|row| row.iter().map(|r| r.0).collect()).collect(),
                    work: work(raw.work.clone())?,
                };
                background(kind, deadline)
            }
            ProcessKindName::Poisson => {
                let rate = raw.rate.ok_or_else(|| missing("rate", "arrivals per time, e.g. `20/s`"))?.0;
                background(BackgroundKind::Poisson { rate, work: work(raw.work.clone())? }, deadline)
            }
            ProcessKindName::Trace => {
                let trace_files = "`jobs: <file.csv>` (header `release_s,work_flop`: one job per row) or `utilisation: <file.csv>` (header `time_s,utilisation`: CPU-utilisation samples of the whole node)";
                let (file, trace) = match (raw.jobs.clone(), raw.utilisation.clone()) {
                    (Some(file), None) => {
                        if raw.chunk.is_some() {
                            return Err(format!(
                                "{process}: `chunk` is allowed only with `utilisation` (a jobs trace releases each row as it is)"
                            ));
                        }
                        (file, Trace::Jobs([].into()))
                    }
                    (None, Some(file)) => {
                        let chunk = raw.chunk.map_or(DEFAULT_TRACE_CHUNK, |d| d.0);
                        (file, Trace::Utilisation { trace: UtilisationTrace { samples: [].into(), end: SimTime::ZERO }, chunk })
                    }
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "{process}: `jobs` and `utilisation` are both given; give exactly one: {trace_files}"
                        ))
                    }
                    (None, None) => {
                        return Err(format!(
                            "{process}: missing field `jobs` or `utilisation`, one of which kind `trace` requires: {trace_files}"
                        ))
                    }
                };
                let kind = BackgroundKind::Trace { file, time_scale: raw.time_scale.unwrap_or(1.0), trace };
                background(kind, deadline)
            }
            ProcessKindName::OnOff => {
                let on_mean = raw.on_mean.ok_or_else(|| missing("on_mean", "mean on-period, e.g. `5s`"))?.0;
                let off_mean = raw.off_mean.ok_or_else(|| missing("off_mean", "mean off-period, e.g. `5s`"))?.0;
                background(
                    BackgroundKind::OnOff { on_mean, off_mean, start_on: raw.start_on.unwrap_or(false) },
                    deadline,
                )
            }
            ProcessKindName::RnnStream => {
                let period = raw.period.ok_or_else(|| missing("period", "time between frames, e.g. `10ms`"))?.0;
                let deadline =
                    raw.deadline.ok_or_else(|| missing("deadline", "relative deadline of a frame, e.g. `10ms`"))?.0;
                let policies = raw
                    .policies
                    .clone()
                    .ok_or_else(|| missing("policies", "a list such as `[ { greedy_slack: {} } ]`"))?;
                let dataset = raw
                    .dataset
                    .clone()
                    .ok_or_else(|| missing("dataset", "a task id, e.g. `digits` or `basic-motions`"))?;
                let models = raw
                    .models
                    .clone()
                    .ok_or_else(|| missing("models", "a model bank folder, e.g. `../models/digits-gru`"))?;
                let pipeline = match &raw.pipeline {
                    None => None,
                    Some(stages) => {
                        let stages = stages
                            .iter()
                            .map(|s| StageSpec {
                                name: s.name.clone(),
                                work: s.work.clone().distribution(),
                                after: s.after.clone(),
                                device: s.device.clone(),
                            })
                            .collect();
                        Some(PipelineSpec::from_stages(stages).map_err(|e| format!("{process}: {e}"))?)
                    }
                };
                Process::Stream(RnnStream {
                    spec: StreamSpec {
                        priority: raw.priority.unwrap_or(0),
                        name: raw.name.clone(),
                        period,
                        deadline,
                        start: raw.start.map_or(SimTime::ZERO, |d| d.0),
                        sequences: raw.sequences.unwrap_or(0),
                        on_miss: raw.on_miss.unwrap_or(OnMiss::Skip),
                        weight: raw.weight.unwrap_or(1.0),
                        device: raw.device.clone(),
                    },
                    dataset,
                    split: raw.split.unwrap_or(SplitPart::Test),
                    models,
                    policies,
                    sequences_given: raw.sequences.is_some(),
                    pipeline,
                    cost: raw.cost.clone().map_or(StepCost::Flops, |c| c.0),
                })
            }
        };
        check_process(&checked)?;
        Ok(ProcessFile(checked))
    }
}

/// Stage 1: the scenario file as written.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a scenario: a map with name, seed, duration, node and processes")]
pub(crate) struct ScenarioFile {
    /// Scenario name: the output folder `results/<name>/` (letters, digits, `-`, `_`, `.` (not first)).
    #[schemars(extend("pattern" = super::NAME_PATTERN))]
    pub name: String,
    /// Seed of every random stream.
    #[serde(deserialize_with = "deserialize_seed")]
    pub seed: u64,
    /// Simulated time to run: the run is [0, duration) (releases happen only before it).
    pub duration: Duration,
    /// The edge node.
    pub node: NodeFile,
    /// Background processes and RNN streams.
    pub processes: Vec<ProcessFile>,
    /// Output settings.
    #[serde(default)]
    pub output: OutputFile,
}

impl ScenarioFile {
    /// The typed values, for [`super::checks::validate`].
    ///
    /// # Errors
    /// The message of [`NodeFile::into_devices`] (a node mixing `devices` with `cores` & co., or a
    /// single-pool node missing a field).
    pub(crate) fn into_parts(self) -> Result<ScenarioParts, NodeFormError> {
        let (devices, memory) = self.node.into_devices()?;
        Ok(ScenarioParts {
            name: self.name,
            seed: self.seed,
            duration: self.duration.0,
            devices,
            memory,
            processes: self.processes.into_iter().map(|p| p.0).collect(),
            bin: self.output.bin.map(|b| b.0),
            files: super::RecordFileSwitches {
                jobs: self.output.jobs.unwrap_or(true),
                steps: self.output.steps.unwrap_or(true),
                sequences: self.output.sequences.unwrap_or(true),
            },
        })
    }
}
