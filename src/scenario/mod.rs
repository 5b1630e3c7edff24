//! Scenarios: what runs on the node. Two stages and one validation path:
//!
//! 1. a scenario file (YAML) is read into its serde form (private `file` module; unknown fields
//!    rejected, values of one YAML node checked where the parser can locate them), or a
//!    [`ScenarioBuilder`] collects the same values in code;
//! 2. both go through the same checks (`checks::validate`), which also read every file the scenario
//!    names (empirical work samples, traces), and give a [`Scenario`]: typed, private fields, read
//!    through its accessors. The runner builds worlds from it; nothing reads the file form after.
//!
//! Every error names the file, the line and column (where the YAML parser has them, or by locating
//! the field in the text), the field, and what is allowed.

mod builder;
mod checks;
mod file;
mod locate;
pub mod nesting;
#[cfg(test)]
mod tests;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use crate::data::SplitPart;
use crate::node::Discipline;
use crate::policy::{PolicyRegistry, PolicySpec};
use crate::sim::SimTime;
use crate::workload::profile::StepCost;
use crate::workload::{BackgroundKind, BackgroundSpec, StreamSpec, WorkDistribution};

pub use builder::{ScenarioBuilder, StreamBuilder};
pub(crate) use checks::check_folder_name;
pub(crate) use locate::duplicate_key_location;

/// A scenario that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ScenarioError {
    /// The file (as given by the user; for a scenario built in code, `<code: NAME>`).
    pub file: String,
    /// 1-based line and column, where known.
    pub location: Option<(usize, usize)>,
    /// The field and what is wrong / allowed.
    pub message: String,
}

/// The most cores a node may have (per-core state is allocated up front).
pub const MAX_CORES: u64 = 1_000_000;

/// The longest duration a scenario may ask for: 2^62 ns (about 146 years), far from `u64` overflow.
pub const MAX_DURATION: SimTime = SimTime(1 << 62);

/// The most arrivals and frames a run may ask for (about ten minutes of simulation).
pub const MAX_EVENTS: f64 = 1e10;

/// The most usage bins a run may keep.
pub const MAX_BINS: u64 = 1_000_000;

/// Default time between the chunks of a utilisation trace: 100 ms.
pub const DEFAULT_TRACE_CHUNK: SimTime = SimTime(100_000_000);

/// The edge node written as one pool: `cores` identical cores of `speed` FLOP/s under one scheduling
/// discipline, with an optional power model and parameter memory — the old single-pool `node:` form,
/// one device named [`DEFAULT_DEVICE`]. [`Scenario::node`] also gives a node of several devices in
/// this shape: its first (default) device with the node-wide memory. Checked when the scenario is
/// built (speed > 0 and finite, at most [`MAX_CORES`] cores, `power.busy ≥ power.idle ≥ 0`, memory
/// bandwidth > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpec {
    /// Number of cores.
    pub cores: NonZeroUsize,
    /// Speed of one core, FLOP/s.
    pub speed: f64,
    /// Scheduling discipline.
    pub discipline: Discipline,
    /// Power draw per core (without it no energy is reported).
    pub power: Option<PowerDraw>,
    /// Parameter memory (without it parameters are always resident).
    pub memory: Option<ParameterMemory>,
}

impl NodeSpec {
    /// A node of `cores` cores of `speed` FLOP/s under `discipline`, without power model or memory.
    pub fn new(cores: NonZeroUsize, speed: f64, discipline: Discipline) -> NodeSpec {
        NodeSpec { cores, speed, discipline, power: None, memory: None }
    }
}

/// The name of the one device of a node written in the single-pool form (`node: { cores, speed, … }`).
pub const DEFAULT_DEVICE: &str = "cpu";

/// One device of the node (`node.devices`): a pool of `cores` identical cores of `speed` FLOP/s under
/// its own scheduling discipline, with its own power model — a CPU, a GPU, an accelerator. Each
/// device is its own [`crate::node::Node`]: its jobs share only its cores. Processes, pipeline
/// stages and streams name the device they run on (`device: <name>`; default: the first device).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Its name (letters, digits, `-`, `_`; unique in the node), as processes name it.
    pub name: String,
    /// Number of cores (or compute units: a job uses at most one).
    pub cores: NonZeroUsize,
    /// Speed of one core, FLOP/s.
    pub speed: f64,
    /// Scheduling discipline.
    pub discipline: Discipline,
    /// Power draw per core (either every device of a node has one or none has).
    pub power: Option<PowerDraw>,
}

impl DeviceSpec {
    /// A device `name` of `cores` cores of `speed` FLOP/s under `discipline`, without power model.
    pub fn new(name: impl Into<String>, cores: NonZeroUsize, speed: f64, discipline: Discipline) -> DeviceSpec {
        DeviceSpec { name: name.into(), cores, speed, discipline, power: None }
    }

    /// The single-pool node `node` as a device named `name` (its memory is the node's, not the device's).
    pub fn from_node(name: impl Into<String>, node: &NodeSpec) -> DeviceSpec {
        DeviceSpec {
            name: name.into(),
            cores: node.cores,
            speed: node.speed,
            discipline: node.discipline,
            power: node.power,
        }
    }

    /// Its capacity, FLOP/s: `cores × speed`.
    pub fn capacity(&self) -> f64 {
        self.cores.get() as f64 * self.speed
    }
}

/// Power draw of one core: `idle` W when it runs nothing, `busy` W when it runs a job. The node's
/// energy is `idle · cores · duration + (busy − idle) · busy core-seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerDraw {
    /// Draw of an idle core, W.
    pub idle: f64,
    /// Draw of a busy core, W (at least `idle`).
    pub busy: f64,
}

/// Fast parameter memory: `capacity` bytes, filled from slow memory at `bandwidth` bytes/s (LRU over
/// the models' parameter blocks; loads do not occupy a core).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParameterMemory {
    /// Capacity, bytes.
    pub capacity: u64,
    /// Load bandwidth, bytes/s (> 0).
    pub bandwidth: f64,
}

/// One process of a scenario, in the order written (the order fixes random streams and output rows).
#[derive(Debug, Clone, PartialEq)]
pub enum Process {
    /// A background process (Poisson, periodic, MMPP, on/off or trace).
    Background(BackgroundSpec),
    /// An RNN stream.
    Stream(RnnStream),
}

/// The data set a stream plays: a task id of [`crate::data::TaskSpec`] (`digits`, `digits-permuted`,
/// `pmnist5k`, `basic-motions`, `ts:TRAIN,TEST`, `pose:DIR`, …; the stream plays its `split` part),
/// as written. Checked when the data are loaded: an unknown id is an error at its line listing the
/// known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetName(pub String);

impl DatasetName {
    /// The task id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// The JSON Schema (draft 2020-12) of a scenario file, generated from the types the file is read
/// with, for the policy kinds of `registry` (shipped as `schema/scenario.schema.json` for the
/// built-ins; `cargo run --release --example schema -- scenario` prints it). It says the fields, their
/// forms (quantities with units, one-key maps) and which fields each process kind allows and requires;
/// checks across fields (names unique, devices known, files present, models' settings) are the
/// reader's ([`Scenario::parse`], `flexrnn check`).
pub fn scenario_json_schema(registry: &PolicyRegistry) -> serde_json::Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = registry.scope(|| scenario_schema(&mut generator)).to_value();
    let mut schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "flexrnn scenario",
        "description": SCENARIO_SCHEMA_DESCRIPTION,
    });
    if let (Some(schema), serde_json::Value::Object(root)) = (schema.as_object_mut(), root) {
        schema.extend(root.into_iter().filter(|(k, _)| k != "description"));
        schema.insert("$defs".into(), serde_json::Value::Object(generator.take_definitions(true)));
    }
    schema
}

/// The names of scenarios and studies (they name output folders), as a JSON Schema pattern: what
/// `checks::check_folder_name` allows.
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z0-9_-][A-Za-z0-9_.-]*$";

/// The scenario's description in its JSON Schema.
pub(crate) const SCENARIO_SCHEMA_DESCRIPTION: &str = "A flexrnn scenario: an edge node (one pool of cores or named devices), background processes and RNN streams under policies, run for `duration` from `seed`. Generated from the Rust types the file is read with (src/scenario/file.rs); `flexrnn check FILE` checks the rest (names, devices, files, the models' settings).";

/// The schema of the scenario file's top level, its parts added to `generator`'s definitions (for
/// [`scenario_json_schema`] and a study's inline scenario). Call inside [`PolicyRegistry::scope`].
pub(crate) fn scenario_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    <file::ScenarioFile as schemars::JsonSchema>::json_schema(generator)
}

impl schemars::JsonSchema for DatasetName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DatasetName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A task id, as `flexrnn train --task` takes it (`digits`, `digits-permuted`, `pmnist5k`, `basic-motions`, `ts:TRAIN,TEST`, `pose:DIR`, …); the model folder's card must name the same task.",
            "type": "string",
            "minLength": 1,
        })
    }
}

impl<'de> serde::Deserialize<'de> for DatasetName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked against the task ids when the scenario's data are loaded (`runner::load_resources`),
        // where the error can point at the `dataset:` line itself.
        Ok(DatasetName(<String as serde::Deserialize>::deserialize(deserializer)?))
    }
}

/// An RNN stream: a data set's sequences played frame by frame through a model bank under one or
/// more policies.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnStream {
    /// Timing and deadline handling.
    pub spec: StreamSpec,
    /// Data set.
    pub dataset: DatasetName,
    /// Which split part it plays.
    pub split: SplitPart,
    /// Model bank folder, relative to the scenario's folder ([`Scenario::dir`]).
    pub models: PathBuf,
    /// Policies; several make one run per policy.
    pub policies: Vec<PolicySpec>,
    /// Whether `sequences` was given (otherwise every sequence of the part, once).
    pub sequences_given: bool,
    /// Stages run before each frame's RNN step.
    pub pipeline: Option<PipelineSpec>,
    /// What its steps cost (`cost:`): FLOPs, or a measured profile (read by the validation).
    pub cost: StepCost,
}

/// A stage of a stream's pipeline as given: its name, its work and the stages it runs after.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    /// Stage name (unique in the pipeline).
    pub name: String,
    /// Work per frame (not empirical).
    pub work: WorkDistribution,
    /// Names of the stages it runs after.
    pub after: Vec<String>,
    /// The node's device it runs on, by name (`None`: the node's first device).
    pub device: Option<String>,
}

/// A validated pipeline: stages in a topological order, each with its predecessors (indices of
/// earlier stages). Made by [`PipelineSpec::from_stages`].
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSpec {
    names: Vec<String>,
    work: Vec<WorkDistribution>,
    after: Vec<Vec<usize>>,
    devices: Vec<Option<String>>,
}

impl PipelineSpec {
    /// Stage names, in the topological order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Work of each stage.
    pub fn work(&self) -> &[WorkDistribution] {
        &self.work
    }

    /// Predecessors of each stage (indices of earlier stages).
    pub fn after(&self) -> &[Vec<usize>] {
        &self.after
    }

    /// The device each stage runs on, by name (`None`: the node's first device).
    pub fn devices(&self) -> &[Option<String>] {
        &self.devices
    }

    /// The engine's form (samplers built).
    ///
    /// # Errors
    /// A message if a work distribution cannot be sampled (checked when the scenario was built already).
    pub fn build(&self) -> Result<crate::engine::Pipeline, String> {
        let work = self.work.iter().map(|w| w.sampler().map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        Ok(crate::engine::Pipeline {
            names: self.names.clone(),
            work,
            after: self.after.clone(),
            devices: self.devices.clone(),
        })
    }
}

/// The typed values of a scenario before validation (from a file or a builder).
#[derive(Debug, Clone, PartialEq)]
struct ScenarioParts {
    name: String,
    seed: u64,
    duration: SimTime,
    /// The node's devices, the default (first) one first; at least one.
    devices: Vec<DeviceSpec>,
    /// Node-wide parameter memory.
    memory: Option<ParameterMemory>,
    processes: Vec<Process>,
    bin: Option<SimTime>,
    files: RecordFileSwitches,
}

/// Which per-record files a run writes (`output: { jobs: false, steps: false, sequences: false }`;
/// each true by default). The summaries are computed from every record either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFileSwitches {
    /// `jobs.csv`: one row per finished background job.
    pub jobs: bool,
    /// `steps.csv`: one row per frame of every stream.
    pub steps: bool,
    /// `sequences.csv`: one row per classified sequence.
    pub sequences: bool,
}

impl Default for RecordFileSwitches {
    fn default() -> Self {
        RecordFileSwitches { jobs: true, steps: true, sequences: true }
    }
}

/// Index in `devices` of the device named `name` (`None`: the first, 0).
pub(crate) fn device_index(devices: &[DeviceSpec], name: Option<&str>) -> Option<usize> {
    match name {
        None => Some(0),
        Some(name) => devices.iter().position(|d| d.name == name),
    }
}

/// Stage 2: a validated scenario, every file it names read. Made by [`Scenario::parse`] (YAML) or
/// [`Scenario::builder`] (code).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    file: String,
    dir: PathBuf,
    text: String,
    seed: u64,
    parts: ScenarioParts,
}

impl Scenario {
    /// Parses and validates scenario text. `file` names it in errors; `dir` resolves relative paths.
    /// The samples of `empirical` work distributions and the files of `trace` processes are read here,
    /// relative to `dir`.
    ///
    /// A leading UTF-8 byte-order mark is ignored.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, line and column, the field and what is allowed (for a bad
    /// samples file, also its line); text nested deeper than [`nesting::MAX_NESTING`] levels is refused
    /// before it is parsed.
    pub fn parse(text: &str, file: &str, dir: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::parse_with(text, file, dir, &PolicyRegistry::builtin())
    }

    /// [`Scenario::parse`] with the policy kinds of `registry` (e.g. the built-ins and a user's own):
    /// a policy names one of them, and an unknown name is an error listing them all.
    ///
    /// # Errors
    /// As [`Scenario::parse`].
    pub fn parse_with(
        text: &str,
        file: &str,
        dir: &Path,
        registry: &PolicyRegistry,
    ) -> Result<Scenario, ScenarioError> {
        let text = nesting::prepare(text).map_err(|(location, message)| ScenarioError {
            file: file.to_string(),
            location: Some(location),
            message,
        })?;
        let parsed: file::ScenarioFile = registry.scope(|| serde_yaml::from_str(text)).map_err(|e| {
            let message = locate::strip_location_suffix(&e.to_string());
            let at = e.location().map(|l| (l.line(), l.column()));
            let location = at
                .and_then(|at| duplicate_key_location(text, &message, at))
                .or_else(|| locate::relocate_process_error(text, &message))
                .or(at);
            ScenarioError { file: file.to_string(), location, message }
        })?;
        let parts = parsed.into_parts().map_err(|e| {
            let location = if e.field == "node" {
                locate::locate_top(text, "node")
            } else {
                // The single-pool key inside `node:` (the first one written at or after it).
                let node_line = locate::locate_top(text, "node").map_or(0, |(line, _)| line - 1);
                let key = format!("{}:", e.field);
                text.lines().enumerate().skip(node_line).find_map(|(i, line)| {
                    let code = line.split('#').next().unwrap_or("");
                    let indent = code.len() - code.trim_start().len();
                    code.trim_start().starts_with(&key).then_some((i + 1, indent + 1))
                })
            };
            ScenarioError { file: file.to_string(), location, message: e.message }
        })?;
        checks::validate(parts, &checks::Source { file, dir, text })
    }

    /// A builder for a scenario made in code, validated like a file by [`ScenarioBuilder::build`].
    /// `name` names the output folder (letters, digits, `-`, `_`, `.`).
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder::new(name)
    }

    /// A builder holding this scenario's values (seed in use, samples and traces already read), to
    /// change through its setters and build again — the typed way to vary a loaded scenario. Built
    /// unchanged it gives the same scenario (see [`ScenarioBuilder`]'s `From<&Scenario>`).
    ///
    /// ```
    /// use flexrnn::scenario::Scenario;
    /// use flexrnn::sim::SimTime;
    /// use flexrnn::workload::OnMiss;
    ///
    /// let text = std::fs::read_to_string("scenarios/default.yaml").unwrap();
    /// let shipped = Scenario::parse(&text, "default.yaml", std::path::Path::new("scenarios"))?;
    /// let short = shipped
    ///     .to_builder()
    ///     .duration(SimTime::from_secs_f64(10.0))
    ///     .edit_stream("digits", |s| s.sequences(20).on_miss(OnMiss::Continue))
    ///     .build()?;
    /// assert_eq!((short.horizon(), short.seed()), (SimTime::from_secs_f64(10.0), 7));
    /// assert_eq!(short.processes()[1..], shipped.processes()[1..]); // the background, unchanged
    /// # Ok::<(), flexrnn::scenario::ScenarioError>(())
    /// ```
    pub fn to_builder(&self) -> ScenarioBuilder {
        ScenarioBuilder::from(self)
    }

    /// The scenario's name (its output folder `results/<name>/`).
    pub fn name(&self) -> &str {
        &self.parts.name
    }

    /// The file it came from, as given (`<code: NAME>` for a scenario built in code).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Its folder: model banks, data and trace files are relative to it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The YAML text, verbatim (without a leading byte-order mark); empty for a scenario built in code.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Seed in use: the scenario's own or the override of [`Scenario::with_seed`].
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The edge node in the single-pool shape: its first (default) device — the whole node when it
    /// has one device, as every node written `node: { cores, speed, … }` has — with the node-wide
    /// parameter memory. [`Scenario::devices`] lists every device.
    pub fn node(&self) -> NodeSpec {
        let first = &self.parts.devices[0];
        NodeSpec {
            cores: first.cores,
            speed: first.speed,
            discipline: first.discipline,
            power: first.power,
            memory: self.parts.memory,
        }
    }

    /// The node's devices, in the order written: the first is the default of every process that names
    /// none. One device (named [`DEFAULT_DEVICE`]) for a node written in the single-pool form.
    pub fn devices(&self) -> &[DeviceSpec] {
        &self.parts.devices
    }

    /// Index in [`Scenario::devices`] of the device named `name` (`None`: the first device, 0); `None`
    /// for a name that is not a device (the validation refused those already).
    pub fn device_index(&self, name: Option<&str>) -> Option<usize> {
        device_index(&self.parts.devices, name)
    }

    /// The node-wide parameter memory (one fast memory and one load channel, shared by every stream
    /// whatever device runs its steps), if any.
    pub fn memory(&self) -> Option<ParameterMemory> {
        self.parts.memory
    }

    /// Every process, in the order written.
    pub fn processes(&self) -> &[Process] {
        &self.parts.processes
    }

    /// Uses `seed` instead of the scenario's own when given (`None`: the scenario's own).
    pub fn with_seed(mut self, seed: Option<u64>) -> Scenario {
        self.seed = seed.unwrap_or(self.parts.seed);
        self
    }

    /// Simulated time to run: the run is the half-open interval [0, horizon) — jobs, frames, switches
    /// and trace rows are released only before it; work on the node is served up to it.
    pub fn horizon(&self) -> SimTime {
        self.parts.duration
    }

    /// The scheduling discipline of the node's first (default) device.
    pub fn discipline(&self) -> Discipline {
        self.parts.devices[0].discipline
    }

    /// Width of the usage bins: `output.bin`, or the larger of 1 s and duration / 1000.
    pub fn bin(&self) -> SimTime {
        self.parts.bin.unwrap_or_else(|| SimTime((self.horizon().0 / 1000).max(SimTime::NANOS_PER_SEC)))
    }

    /// Which per-record files a run writes (`output:` `jobs`, `steps`, `sequences`; all by default).
    pub fn record_files(&self) -> RecordFileSwitches {
        self.parts.files
    }

    /// Number of runs: the longest policy list of any stream (1 without streams).
    pub fn run_count(&self) -> usize {
        self.streams().map(|s| s.policies.len()).max().unwrap_or(1)
    }

    /// The background processes, in file order.
    pub fn background(&self) -> impl Iterator<Item = &BackgroundSpec> + Clone {
        self.parts.processes.iter().filter_map(|p| match p {
            Process::Background(b) => Some(b),
            Process::Stream(_) => None,
        })
    }

    /// The RNN streams, in file order.
    pub fn streams(&self) -> impl Iterator<Item = &RnnStream> + Clone {
        self.parts.processes.iter().filter_map(|p| match p {
            Process::Stream(s) => Some(s),
            Process::Background(_) => None,
        })
    }

    /// Long-run share of a device's capacity that the background processes on it ask for, the largest
    /// over the node's devices (with one device: the node's): Poisson `rate × mean work / (cores ×
    /// speed)` plus, for on/off processes, one core while on (`on_mean / (on_mean + off_mean) /
    /// cores`), plus, for traces, the work they release during the run (a utilisation trace: the work
    /// it asks for before the end) / (cores × speed × duration). At 1 or more their queues grow
    /// without bound.
    pub fn offered_background_load(&self) -> f64 {
        self.busiest_device(self.background()).1
    }

    /// The share of its device's capacity that background process `process` alone asks for (the
    /// term it adds to [`Scenario::offered_background_load`]): Poisson and MMPP `mean rate × mean
    /// work / (cores × speed)`, periodic `mean work / period / (cores × speed)`, on/off one core
    /// while on, a trace the work it releases during the run.
    pub fn offered_load_of(&self, process: &BackgroundSpec) -> f64 {
        let device = self.device_index(process.device.as_deref()).unwrap_or(0);
        self.load_of(device, std::iter::once(process))
    }

    /// The device whose background processes among `processes` ask for the largest share of its
    /// capacity, and that share (see [`Scenario::offered_background_load`]).
    fn busiest_device<'a>(&self, processes: impl Iterator<Item = &'a BackgroundSpec> + Clone) -> (usize, f64) {
        (0..self.parts.devices.len())
            .map(|device| {
                let on_device = processes.clone().filter(|b| self.device_index(b.device.as_deref()) == Some(device));
                (device, self.load_of(device, on_device))
            })
            .fold((0, f64::NEG_INFINITY), |best, candidate| if candidate.1 > best.1 { candidate } else { best })
    }

    /// The offered load of `processes` on device `device` (see [`Scenario::offered_background_load`]).
    fn load_of<'a>(&self, device: usize, processes: impl Iterator<Item = &'a BackgroundSpec>) -> f64 {
        let device = &self.parts.devices[device];
        let cores = device.cores.get() as f64;
        let capacity = cores * device.speed;
        processes
            .map(|b| match &b.kind {
                BackgroundKind::Poisson { rate, work } => rate * work.mean() / capacity,
                BackgroundKind::Periodic { period, work, .. } => work.mean() / period.as_secs_f64() / capacity,
                BackgroundKind::Mmpp { work, .. } => b.kind.mean_rate() * work.mean() / capacity,
                BackgroundKind::OnOff { on_mean, off_mean, .. } => {
                    on_mean.as_secs_f64() / (on_mean.as_secs_f64() + off_mean.as_secs_f64()) / cores
                }
                BackgroundKind::Trace { trace, .. } => {
                    let (_, work) = trace.demand_until(self.horizon(), device.cores.get(), device.speed);
                    work / (capacity * self.horizon().as_secs_f64())
                }
            })
            .sum()
    }

    /// The part of [`Scenario::offered_background_load`] that lasts to the end of the run: every
    /// process but the traces that end before it ([`crate::workload::Trace::runs_until`]; what they release is finite).
    /// At 1 or more the background queues grow without bound.
    pub fn unbounded_background_load(&self) -> f64 {
        self.busiest_device(self.lasting_background()).1
    }

    /// The background processes that run to the end of the run (all but traces ending before it).
    fn lasting_background(&self) -> impl Iterator<Item = &BackgroundSpec> + Clone {
        let horizon = self.horizon();
        self.background().filter(move |b| match &b.kind {
            BackgroundKind::Trace { trace, .. } => trace.runs_until(horizon),
            _ => true,
        })
    }

    /// The warning for background processes that ask for a device's whole capacity or more until the
    /// end of the run ([`Scenario::unbounded_background_load`] ≥ 1), if they do.
    pub fn overload_warning(&self) -> Option<String> {
        let (device, load) = self.busiest_device(self.lasting_background());
        let whose = if self.parts.devices.len() > 1 {
            format!("device `{}`'s capacity", self.parts.devices[device].name)
        } else {
            "the node's capacity".to_string()
        };
        (load >= 1.0).then(|| {
            format!(
                "the background processes ask for {:.0}% of {whose}; their queues grow without bound and the run may be slow",
                load * 100.0
            )
        })
    }

    /// An error about a value that appears in the text (located by searching for `needle`).
    pub fn error_at(&self, needle: &str, message: String) -> ScenarioError {
        ScenarioError { file: self.file.clone(), location: locate::locate(&self.text, needle), message }
    }
}
