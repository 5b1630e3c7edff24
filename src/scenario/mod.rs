//! Scenario files: the YAML schema (stage 1, [`ScenarioFile`], unknown fields rejected) and the
//! validated, typed [`Scenario`] (stage 2).
//!
//! Every error names the file, the line and column (where the YAML parser has them), the field, and
//! what is allowed. Checks that need only one YAML node run inside deserialisation, so the parser
//! locates them; checks across fields run after parsing and locate the offending value in the text.

pub mod nesting;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::data::SplitPart;
use crate::input::{read_text, DATA_LIMIT};
use crate::node::Discipline;
use crate::policy::{PolicyRegistry, PolicySpec};
use crate::sim::SimTime;
use crate::units::{Bandwidth, Duration, Power, Rate, Size, Speed, Work};
use crate::workload::{
    parse_empirical_csv, parse_jobs_trace_csv, parse_utilisation_trace_csv, BackgroundKind, BackgroundSpec, OnMiss,
    StreamSpec, Trace, UtilisationTrace, WorkDistribution,
};

/// A scenario that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ScenarioError {
    /// The file (as given by the user).
    pub file: String,
    /// 1-based line and column, where known.
    pub location: Option<(usize, usize)>,
    /// The field and what is wrong / allowed.
    pub message: String,
}

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

/// The most cores a node may have (per-core state is allocated up front).
pub const MAX_CORES: u64 = 1_000_000;

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

/// The node section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the node: a map with cores, speed and scheduler")]
pub struct NodeFile {
    /// Number of cores (at least 1).
    #[serde(deserialize_with = "deserialize_cores")]
    pub cores: std::num::NonZeroUsize,
    /// Speed of one core, e.g. `1GFLOP/s`.
    pub speed: Speed,
    /// Scheduling discipline.
    pub scheduler: SchedulerFile,
    /// Power model (optional): per-core draw when idle and when busy.
    #[serde(default)]
    pub power: Option<PowerFile>,
    /// Parameter memory (optional; without it parameters are always resident).
    #[serde(default)]
    pub memory: Option<MemoryFile>,
}

/// Fast parameter memory: `capacity` bytes, filled from slow memory at `bandwidth` (LRU over the
/// models' parameter blocks; loads do not occupy a core).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ capacity: <size>, bandwidth: <bandwidth> }`")]
pub struct MemoryFile {
    /// Capacity, bytes (e.g. `256KiB`).
    pub capacity: Size,
    /// Load bandwidth, bytes/s (e.g. `50MB/s`), > 0.
    pub bandwidth: Bandwidth,
}

/// Power draw of one core: `idle` when it runs nothing, `busy` when it runs a job. The node's energy
/// is `idle · cores · duration + (busy − idle) · busy core-seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ idle: <power>, busy: <power> }`")]
pub struct PowerFile {
    /// Draw of an idle core, W.
    pub idle: Power,
    /// Draw of a busy core, W (at least `idle`).
    pub busy: Power,
}

/// The scheduler as written: `processor_sharing`, `fifo`, `edf`, `fixed_priority` (preemptive) or
/// `{ fixed_priority: { preemptive: false } }`, and `{ round_robin: { quantum: 10ms, context_switch: 50us } }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerFile(pub Discipline);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ preemptive: <true|false> }`")]
struct FixedPriorityParams {
    #[serde(default = "default_true")]
    preemptive: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ quantum: <duration>, context_switch: <duration> }`")]
struct RoundRobinParams {
    quantum: Duration,
    #[serde(default = "zero_duration")]
    context_switch: Duration,
}

fn zero_duration() -> Duration {
    Duration(SimTime::ZERO)
}

const SCHEDULERS: &str = "`processor_sharing`, `fifo`, `edf`, `fixed_priority`, `{ fixed_priority: { preemptive: <bool> } }`, `{ round_robin: { quantum: <duration>, context_switch: <duration> } }`";

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
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SchedulerFile, A::Error> {
                use serde::de::Error;
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| A::Error::custom(format!("empty scheduler; allowed: {SCHEDULERS}")))?;
                let discipline = match key.as_str() {
                    "fixed_priority" => {
                        Discipline::FixedPriority { preemptive: map.next_value::<FixedPriorityParams>()?.preemptive }
                    }
                    "round_robin" => {
                        let params: RoundRobinParams = map.next_value()?;
                        if params.quantum.0 .0 == 0 {
                            return Err(A::Error::custom("round_robin quantum must be longer than zero"));
                        }
                        Discipline::RoundRobin { quantum: params.quantum.0, context_switch: params.context_switch.0 }
                    }
                    other => {
                        return Err(A::Error::custom(format!(
                            "scheduler `{other}` takes no parameters here; allowed: {SCHEDULERS}"
                        )))
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(A::Error::custom("give exactly one scheduler"));
                }
                Ok(SchedulerFile(discipline))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Optional output settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "output settings: a map with bin")]
pub struct OutputFile {
    /// Width of the usage bins of the timeline (default: the larger of `1s` and duration / 1000).
    pub bin: Option<Duration>,
}

/// A work distribution as written: a one-key map naming the distribution, e.g. `{ constant: 2MFLOP }`,
/// `{ exponential: { mean: 1GFLOP } }`, `{ lognormal: { mean: 2MFLOP, cv: 0.5 } }`,
/// `{ gamma: { mean: 2MFLOP, cv: 0.5 } }`, `{ weibull: { scale: 1MFLOP, shape: 0.7 } }`,
/// `{ pareto: { scale: 1MFLOP, shape: 2.5 } }`, `{ uniform: { min: 1MFLOP, max: 3MFLOP } }`,
/// `{ normal: { mean: 2MFLOP, sd: 1MFLOP } }` (truncated at zero) or `{ empirical: { file: work.csv } }`.
/// See [`WorkDistribution`] for what each means.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawWork")]
pub enum WorkFile {
    /// Always this work.
    Constant(Work),
    /// Exponential with this mean.
    Exponential {
        /// Mean work.
        mean: Work,
    },
    /// Log-normal with this mean and coefficient of variation.
    Lognormal {
        /// Mean work.
        mean: Work,
        /// Coefficient of variation (sd / mean), > 0.
        cv: f64,
    },
    /// Gamma with this mean and coefficient of variation.
    Gamma {
        /// Mean work.
        mean: Work,
        /// Coefficient of variation (sd / mean), > 0.
        cv: f64,
    },
    /// Weibull with this scale and shape.
    Weibull {
        /// Scale λ.
        scale: Work,
        /// Shape k, > 0.
        shape: f64,
    },
    /// Pareto type I with this scale (the smallest work) and shape.
    Pareto {
        /// Scale x_m.
        scale: Work,
        /// Shape α, > 1.
        shape: f64,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Smallest work.
        min: Work,
        /// Largest work, > min.
        max: Work,
    },
    /// Normal with this mean and sd, truncated at zero.
    Normal {
        /// Mean before truncation.
        mean: Work,
        /// Standard deviation before truncation, > 0.
        sd: Work,
    },
    /// Samples read from a file, resampled uniformly.
    Empirical {
        /// One number of FLOPs per line; relative to the scenario file's folder.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ mean: <work> }`")]
struct MeanParams {
    mean: Work,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ mean: <work>, cv: <number> }`")]
struct MeanCvParams {
    mean: Work,
    cv: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ scale: <work>, shape: <number> }`")]
struct ScaleShapeParams {
    scale: Work,
    shape: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ min: <work>, max: <work> }`")]
struct MinMaxParams {
    min: Work,
    max: Work,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ mean: <work>, sd: <work> }`")]
struct MeanSdParams {
    mean: Work,
    sd: Work,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map `{ file: <path of a CSV file> }`")]
struct FileParams {
    file: PathBuf,
}

/// serde_yaml 0.9 reads enums only from YAML tags (`!exponential`); scenario files use one-key maps,
/// so each variant is an optional field and exactly one must be given.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a work distribution, a one-key map: `{ constant: <work> }`, `{ exponential: { mean: <work> } }`, `{ lognormal: { mean: <work>, cv: <number> } }`, `{ gamma: { mean: <work>, cv: <number> } }`, `{ weibull: { scale: <work>, shape: <number> } }`, `{ pareto: { scale: <work>, shape: <number> } }`, `{ uniform: { min: <work>, max: <work> } }`, `{ normal: { mean: <work>, sd: <work> } }` or `{ empirical: { file: <path> } }`"
)]
struct RawWork {
    constant: Option<Work>,
    exponential: Option<MeanParams>,
    lognormal: Option<MeanCvParams>,
    gamma: Option<MeanCvParams>,
    weibull: Option<ScaleShapeParams>,
    pareto: Option<ScaleShapeParams>,
    uniform: Option<MinMaxParams>,
    normal: Option<MeanSdParams>,
    empirical: Option<FileParams>,
}

const WORK_KINDS: &str = "`constant: <work>`, `exponential: { mean: <work> }`, `lognormal: { mean: <work>, cv: <number> }`, `gamma: { mean: <work>, cv: <number> }`, `weibull: { scale: <work>, shape: <number> }`, `pareto: { scale: <work>, shape: <number> }`, `uniform: { min: <work>, max: <work> }`, `normal: { mean: <work>, sd: <work> }`, `empirical: { file: <path> }`";

impl TryFrom<RawWork> for WorkFile {
    type Error = String;
    fn try_from(raw: RawWork) -> Result<WorkFile, String> {
        let given: Vec<WorkFile> = [
            raw.constant.map(WorkFile::Constant),
            raw.exponential.map(|p| WorkFile::Exponential { mean: p.mean }),
            raw.lognormal.map(|p| WorkFile::Lognormal { mean: p.mean, cv: p.cv }),
            raw.gamma.map(|p| WorkFile::Gamma { mean: p.mean, cv: p.cv }),
            raw.weibull.map(|p| WorkFile::Weibull { scale: p.scale, shape: p.shape }),
            raw.pareto.map(|p| WorkFile::Pareto { scale: p.scale, shape: p.shape }),
            raw.uniform.map(|p| WorkFile::Uniform { min: p.min, max: p.max }),
            raw.normal.map(|p| WorkFile::Normal { mean: p.mean, sd: p.sd }),
            raw.empirical.map(|p| WorkFile::Empirical { file: p.file }),
        ]
        .into_iter()
        .flatten()
        .collect();
        match <[WorkFile; 1]>::try_from(given) {
            Ok([work]) => Ok(work),
            Err(_) => Err(format!("work: give exactly one distribution, one of {WORK_KINDS}")),
        }
    }
}

impl WorkFile {
    /// The library's distribution. Empirical work gets no samples yet: [`Scenario::parse`] reads them.
    fn distribution(self) -> WorkDistribution {
        match self {
            WorkFile::Constant(w) => WorkDistribution::Constant(w.0),
            WorkFile::Exponential { mean } => WorkDistribution::Exponential { mean: mean.0 },
            WorkFile::Lognormal { mean, cv } => WorkDistribution::LogNormal { mean: mean.0, cv },
            WorkFile::Gamma { mean, cv } => WorkDistribution::Gamma { mean: mean.0, cv },
            WorkFile::Weibull { scale, shape } => WorkDistribution::Weibull { scale: scale.0, shape },
            WorkFile::Pareto { scale, shape } => WorkDistribution::Pareto { scale: scale.0, shape },
            WorkFile::Uniform { min, max } => WorkDistribution::Uniform { min: min.0, max: max.0 },
            WorkFile::Normal { mean, sd } => WorkDistribution::TruncatedNormal { mean: mean.0, sd: sd.0 },
            WorkFile::Empirical { file } => WorkDistribution::Empirical { file, samples: Arc::from([]) },
        }
    }
}

/// Process kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKindName {
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

impl<'de> Deserialize<'de> for DatasetName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked against the task ids when the scenario's data are loaded (`runner::load_resources`),
        // where the error can point at the `dataset:` line itself.
        Ok(DatasetName(String::deserialize(deserializer)?))
    }
}

/// A process entry exactly as written (every field optional at this stage).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a process: a map with name, kind and the fields of its kind")]
struct RawProcess {
    name: String,
    kind: ProcessKindName,
    weight: Option<f64>,
    #[serde(default, deserialize_with = "deserialize_priority")]
    priority: Option<u32>,
    rate: Option<Rate>,
    work: Option<WorkFile>,
    on_mean: Option<Duration>,
    off_mean: Option<Duration>,
    start_on: Option<bool>,
    dataset: Option<DatasetName>,
    split: Option<SplitPart>,
    models: Option<PathBuf>,
    period: Option<Duration>,
    deadline: Option<Duration>,
    start: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_sequences")]
    sequences: Option<usize>,
    on_miss: Option<OnMiss>,
    policies: Option<Vec<PolicySpec>>,
    phase: Option<Duration>,
    jitter: Option<Duration>,
    pipeline: Option<Vec<RawStage>>,
    rates: Option<Vec<Rate>>,
    switch_rates: Option<Vec<Vec<Rate>>>,
    jobs: Option<PathBuf>,
    utilisation: Option<PathBuf>,
    chunk: Option<Duration>,
    time_scale: Option<f64>,
}

/// A process entry, checked for the fields its kind needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawProcess")]
pub enum ProcessFile {
    /// A background process.
    Background(BackgroundSpec),
    /// An RNN stream.
    Stream(StreamFile),
}

/// An RNN stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFile {
    /// Timing and deadline handling.
    pub spec: StreamSpec,
    /// Data set.
    pub dataset: DatasetName,
    /// Which split part it plays.
    pub split: SplitPart,
    /// Model bank folder, relative to the scenario file's folder.
    pub models: PathBuf,
    /// Policies; several make one run per policy.
    pub policies: Vec<PolicySpec>,
    /// Whether `sequences` was given (otherwise every sequence of the part, once).
    pub sequences_given: bool,
    /// Stages run before each frame's RNN step (validated acyclic, in topological order).
    pub pipeline: Option<PipelineFile>,
}

/// A stage of a stream's pipeline as written: `{ name: pose, work: { constant: 3MFLOP }, after: [capture] }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a stage: a map `{ name: <name>, work: <distribution>, after: [<stage>, …] }`"
)]
struct RawStage {
    name: String,
    work: WorkFile,
    #[serde(default)]
    after: Vec<String>,
}

/// A validated pipeline: stages in a topological order, each with its predecessors (indices of
/// earlier stages). The graph is checked with `petgraph`; a cycle is an error naming its stages.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineFile {
    /// Stage names.
    pub names: Vec<String>,
    /// Stage work.
    pub work: Vec<WorkDistribution>,
    /// Predecessors of each stage.
    pub after: Vec<Vec<usize>>,
}

impl PipelineFile {
    fn from_raw(stages: Vec<RawStage>) -> Result<PipelineFile, String> {
        use petgraph::graph::{DiGraph, NodeIndex};
        if stages.is_empty() {
            return Err("`pipeline` must list at least one stage (or be left out)".into());
        }
        let mut graph = DiGraph::<usize, ()>::new();
        let nodes: Vec<NodeIndex> = (0..stages.len()).map(|i| graph.add_node(i)).collect();
        for (i, stage) in stages.iter().enumerate() {
            if stage.name.trim().is_empty() {
                return Err("`pipeline`: a stage has an empty name".into());
            }
            if stages[..i].iter().any(|s| s.name == stage.name) {
                return Err(format!("`pipeline`: stage `{}` is listed twice", stage.name));
            }
            for before in &stage.after {
                let Some(j) = stages.iter().position(|s| &s.name == before) else {
                    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
                    return Err(format!(
                        "`pipeline`: stage `{}` runs after `{before}`, which is not a stage; stages: {}",
                        stage.name,
                        names.join(", ")
                    ));
                };
                graph.add_edge(nodes[j], nodes[i], ());
            }
        }
        let order = petgraph::algo::toposort(&graph, None).map_err(|_| {
            let cycles: Vec<String> = petgraph::algo::tarjan_scc(&graph)
                .into_iter()
                .filter(|c| c.len() > 1 || graph.contains_edge(c[0], c[0]))
                .map(|mut c| {
                    c.sort_by_key(|n| graph[*n]);
                    c.iter().map(|n| stages[graph[*n]].name.clone()).collect::<Vec<_>>().join(" → ")
                })
                .collect();
            format!("`pipeline` has a cycle through stages {}; stages must form a DAG", cycles.join("; "))
        })?;
        let position: Vec<usize> = {
            let mut p = vec![0; stages.len()];
            for (k, n) in order.iter().enumerate() {
                p[graph[*n]] = k;
            }
            p
        };
        let original_after: Vec<Vec<usize>> = stages
            .iter()
            .map(|stage| stage.after.iter().filter_map(|b| stages.iter().position(|s| &s.name == b)).collect())
            .collect();
        let mut names = vec![String::new(); stages.len()];
        let mut work = vec![WorkDistribution::Constant(1.0); stages.len()];
        let mut after = vec![Vec::new(); stages.len()];
        for (i, stage) in stages.into_iter().enumerate() {
            let k = position[i];
            let distribution = stage.work.distribution();
            if matches!(distribution, WorkDistribution::Empirical { .. }) {
                return Err(format!("`pipeline`: stage `{}`: empirical work is not supported for stages", stage.name));
            }
            distribution.sampler().map_err(|e| format!("`pipeline`: stage `{}`: `work`: {e}", stage.name))?;
            after[k] = original_after[i].iter().map(|&j| position[j]).collect();
            names[k] = stage.name;
            work[k] = distribution;
        }
        Ok(PipelineFile { names, work, after })
    }

    /// The engine's form (samplers built).
    ///
    /// # Errors
    /// A message if a work distribution cannot be sampled (checked at parse time already).
    pub fn build(&self) -> Result<crate::engine::Pipeline, String> {
        let work = self.work.iter().map(|w| w.sampler().map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        Ok(crate::engine::Pipeline { names: self.names.clone(), work, after: self.after.clone() })
    }
}

/// Default time between the chunks of a utilisation trace: 100 ms.
pub const DEFAULT_TRACE_CHUNK: SimTime = SimTime(100_000_000);

const POISSON_FIELDS: &[&str] = &["name", "kind", "weight", "priority", "deadline", "rate", "work"];
const PERIODIC_FIELDS: &[&str] =
    &["name", "kind", "weight", "priority", "deadline", "period", "phase", "jitter", "work"];
const MMPP_FIELDS: &[&str] = &["name", "kind", "weight", "priority", "deadline", "rates", "switch_rates", "work"];
const ON_OFF_FIELDS: &[&str] = &["name", "kind", "weight", "priority", "deadline", "on_mean", "off_mean", "start_on"];
const TRACE_FIELDS: &[&str] =
    &["name", "kind", "weight", "priority", "deadline", "jobs", "utilisation", "chunk", "time_scale"];
const STREAM_FIELDS: &[&str] = &[
    "name",
    "kind",
    "weight",
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
];

impl TryFrom<RawProcess> for ProcessFile {
    type Error = String;

    fn try_from(raw: RawProcess) -> Result<ProcessFile, String> {
        let (kind_name, allowed) = match raw.kind {
            ProcessKindName::Poisson => ("poisson", POISSON_FIELDS),
            ProcessKindName::OnOff => ("on_off", ON_OFF_FIELDS),
            ProcessKindName::Periodic => ("periodic", PERIODIC_FIELDS),
            ProcessKindName::Mmpp => ("mmpp", MMPP_FIELDS),
            ProcessKindName::Trace => ("trace", TRACE_FIELDS),
            ProcessKindName::RnnStream => ("rnn_stream", STREAM_FIELDS),
        };
        let present: [(&str, bool); 27] = [
            ("pipeline", raw.pipeline.is_some()),
            ("phase", raw.phase.is_some()),
            ("jitter", raw.jitter.is_some()),
            ("rates", raw.rates.is_some()),
            ("switch_rates", raw.switch_rates.is_some()),
            ("name", true),
            ("kind", true),
            ("weight", raw.weight.is_some()),
            ("priority", raw.priority.is_some()),
            ("rate", raw.rate.is_some()),
            ("work", raw.work.is_some()),
            ("on_mean", raw.on_mean.is_some()),
            ("off_mean", raw.off_mean.is_some()),
            ("start_on", raw.start_on.is_some()),
            ("dataset", raw.dataset.is_some()),
            ("split", raw.split.is_some()),
            ("models", raw.models.is_some()),
            ("period", raw.period.is_some()),
            ("deadline", raw.deadline.is_some()),
            ("start", raw.start.is_some()),
            ("sequences", raw.sequences.is_some()),
            ("on_miss", raw.on_miss.is_some()),
            ("policies", raw.policies.is_some()),
            ("jobs", raw.jobs.is_some()),
            ("utilisation", raw.utilisation.is_some()),
            ("chunk", raw.chunk.is_some()),
            ("time_scale", raw.time_scale.is_some()),
        ];
        let process = format!("process `{}`", raw.name);
        if let Some((field, _)) = present.iter().find(|(field, given)| *given && !allowed.contains(field)) {
            return Err(format!(
                "{process}: field `{field}` is not allowed for kind `{kind_name}` (allowed: {})",
                allowed.join(", ")
            ));
        }
        let missing = |field: &str, what: &str| {
            format!("{process}: missing field `{field}` ({what}), required for kind `{kind_name}`")
        };
        if raw.name.trim().is_empty() {
            return Err("process name must not be empty".into());
        }
        let weight = raw.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            return Err(format!("{process}: `weight` must be a positive number, got {weight}"));
        }
        let positive_span = |field: &str, d: Duration| {
            if d.0 .0 == 0 {
                Err(format!("{process}: `{field}` must be longer than zero"))
            } else {
                Ok(d.0)
            }
        };
        let priority = raw.priority.unwrap_or(0);
        let background_deadline = match (raw.kind, raw.deadline) {
            (ProcessKindName::RnnStream, _) | (_, None) => None,
            (_, Some(d)) => Some(positive_span("deadline", d)?),
        };
        let work_of = |work: Option<WorkFile>| -> Result<WorkDistribution, String> {
            let work = work.ok_or_else(|| missing("work", "e.g. `{ exponential: { mean: 1GFLOP } }`"))?.distribution();
            // Empirical samples are read, and then checked, by `Scenario::parse`.
            if !matches!(work, WorkDistribution::Empirical { .. }) {
                work.sampler().map_err(|e| format!("{process}: `work`: {e}"))?;
            }
            Ok(work)
        };
        match raw.kind {
            ProcessKindName::Periodic => {
                let period = positive_span(
                    "period",
                    raw.period.ok_or_else(|| missing("period", "time between releases, e.g. `10ms`"))?,
                )?;
                let phase = raw.phase.map_or(SimTime::ZERO, |d| d.0);
                let jitter = raw.jitter.map_or(SimTime::ZERO, |d| d.0);
                if jitter >= period {
                    return Err(format!("{process}: `jitter` must be shorter than `period`"));
                }
                let work = work_of(raw.work)?;
                Ok(ProcessFile::Background(BackgroundSpec {
                    priority,
                    // Implicit deadlines (the classic periodic task model) unless one is given.
                    deadline: background_deadline.or(Some(period)),
                    name: raw.name,
                    kind: BackgroundKind::Periodic { period, phase, jitter, work },
                    weight,
                }))
            }
            ProcessKindName::Mmpp => {
                let rates: Vec<f64> = raw
                    .rates
                    .ok_or_else(|| missing("rates", "arrival rate per state, e.g. `[2/s, 20/s]`"))?
                    .iter()
                    .map(|r| r.0)
                    .collect();
                let switch_rates: Vec<Vec<f64>> = raw
                    .switch_rates
                    .ok_or_else(|| {
                        missing(
                            "switch_rates",
                            "a square matrix of state-change rates, e.g. `[[0/s, 0.1/s], [0.5/s, 0/s]]`",
                        )
                    })?
                    .iter()
                    .map(|row| row.iter().map(|r| r.0).collect())
                    .collect();
                let n = rates.len();
                if n < 2 {
                    return Err(format!("{process}: `rates` must list at least two states"));
                }
                if switch_rates.len() != n || switch_rates.iter().any(|row| row.len() != n) {
                    return Err(format!("{process}: `switch_rates` must be a {n} × {n} matrix (one row and column per state in `rates`)"));
                }
                if (0..n).any(|i| switch_rates[i].iter().enumerate().all(|(j, &q)| j == i || q == 0.0)) {
                    return Err(format!(
                        "{process}: `switch_rates`: every state needs a positive rate to another state"
                    ));
                }
                if rates.iter().all(|&r| r == 0.0) {
                    return Err(format!("{process}: `rates`: at least one state must have a positive arrival rate"));
                }
                let work = work_of(raw.work)?;
                Ok(ProcessFile::Background(BackgroundSpec {
                    priority,
                    deadline: background_deadline,
                    name: raw.name,
                    kind: BackgroundKind::Mmpp { rates, switch_rates, work },
                    weight,
                }))
            }
            ProcessKindName::Poisson => {
                let rate = raw.rate.ok_or_else(|| missing("rate", "arrivals per time, e.g. `20/s`"))?.0;
                if rate <= 0.0 {
                    return Err(format!("{process}: `rate` must be positive"));
                }
                let work = work_of(raw.work)?;
                Ok(ProcessFile::Background(BackgroundSpec {
                    priority,
                    deadline: background_deadline,
                    name: raw.name,
                    kind: BackgroundKind::Poisson { rate, work },
                    weight,
                }))
            }
            ProcessKindName::Trace => {
                let trace_files = "`jobs: <file.csv>` (header `release_s,work_flop`: one job per row) or `utilisation: <file.csv>` (header `time_s,utilisation`: CPU-utilisation samples of the whole node)";
                let (file, trace) = match (raw.jobs, raw.utilisation) {
                    (Some(file), None) => {
                        if raw.chunk.is_some() {
                            return Err(format!(
                                "{process}: `chunk` is allowed only with `utilisation` (a jobs trace releases each row as it is)"
                            ));
                        }
                        (file, Trace::Jobs(Arc::from([])))
                    }
                    (None, Some(file)) => {
                        let chunk = positive_span("chunk", raw.chunk.unwrap_or(Duration(DEFAULT_TRACE_CHUNK)))?;
                        let trace = UtilisationTrace { samples: Arc::from([]), end: SimTime::ZERO };
                        (file, Trace::Utilisation { trace, chunk })
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
                let time_scale = raw.time_scale.unwrap_or(1.0);
                if !(time_scale.is_finite() && time_scale > 0.0) {
                    return Err(format!(
                        "{process}: `time_scale` must be a positive number (the factor applied to the trace's times, e.g. 0.001 to play a day in 86.4 s), got {time_scale}"
                    ));
                }
                Ok(ProcessFile::Background(BackgroundSpec {
                    priority,
                    deadline: background_deadline,
                    name: raw.name,
                    kind: BackgroundKind::Trace { file, time_scale, trace },
                    weight,
                }))
            }
            ProcessKindName::OnOff => {
                let on_mean = positive_span(
                    "on_mean",
                    raw.on_mean.ok_or_else(|| missing("on_mean", "mean on-period, e.g. `5s`"))?,
                )?;
                let off_mean = positive_span(
                    "off_mean",
                    raw.off_mean.ok_or_else(|| missing("off_mean", "mean off-period, e.g. `5s`"))?,
                )?;
                let kind = BackgroundKind::OnOff { on_mean, off_mean, start_on: raw.start_on.unwrap_or(false) };
                Ok(ProcessFile::Background(BackgroundSpec {
                    priority,
                    deadline: background_deadline,
                    name: raw.name,
                    kind,
                    weight,
                }))
            }
            ProcessKindName::RnnStream => {
                let period = positive_span(
                    "period",
                    raw.period.ok_or_else(|| missing("period", "time between frames, e.g. `10ms`"))?,
                )?;
                let deadline = positive_span(
                    "deadline",
                    raw.deadline.ok_or_else(|| missing("deadline", "relative deadline of a frame, e.g. `10ms`"))?,
                )?;
                let policies =
                    raw.policies.ok_or_else(|| missing("policies", "a list such as `[ { greedy_slack: {} } ]`"))?;
                if policies.is_empty() {
                    return Err(format!("{process}: `policies` must list at least one policy"));
                }
                if raw.sequences == Some(0) {
                    return Err(format!("{process}: `sequences` must be at least 1"));
                }
                let spec = StreamSpec {
                    priority,
                    name: raw.name,
                    period,
                    deadline,
                    start: raw.start.map_or(SimTime::ZERO, |d| d.0),
                    sequences: raw.sequences.unwrap_or(0),
                    on_miss: raw.on_miss.unwrap_or(OnMiss::Skip),
                    weight,
                };
                Ok(ProcessFile::Stream(StreamFile {
                    spec,
                    dataset: raw
                        .dataset
                        .ok_or_else(|| missing("dataset", "a task id, e.g. `digits` or `basic-motions`"))?,
                    split: raw.split.unwrap_or(SplitPart::Test),
                    models: raw
                        .models
                        .ok_or_else(|| missing("models", "a model bank folder, e.g. `../models/digits-gru`"))?,
                    policies,
                    sequences_given: raw.sequences.is_some(),
                    pipeline: raw
                        .pipeline
                        .map(PipelineFile::from_raw)
                        .transpose()
                        .map_err(|e| format!("{process}: {e}"))?,
                }))
            }
        }
    }
}

/// Stage 1: the scenario file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario: a map with name, seed, duration, node and processes")]
pub struct ScenarioFile {
    /// Scenario name: the output folder `results/<name>/`.
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

/// Stage 2: a validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file it came from, as given.
    pub file: String,
    /// Its folder (model paths are relative to it).
    pub dir: PathBuf,
    /// The YAML text, verbatim (without a leading byte-order mark).
    pub text: String,
    /// The parsed file.
    pub parsed: ScenarioFile,
    /// Seed in use (the file's or an override).
    pub seed: u64,
}

/// The longest duration a scenario may ask for: 2^62 ns (about 146 years), far from `u64` overflow.
pub const MAX_DURATION: SimTime = SimTime(1 << 62);

/// The most arrivals and frames a run may ask for (about ten minutes of simulation).
pub const MAX_EVENTS: f64 = 1e10;

/// Expected number of job arrivals, on/off switches and frames over the run (for traces, the jobs they
/// release: rows, or chunks × jobs per chunk; their files must have been read).
fn expected_events(parsed: &ScenarioFile) -> f64 {
    let duration = parsed.duration.0.as_secs_f64();
    // Round robin may fire a quantum timer per core every quantum.
    let timers = match parsed.node.scheduler.0 {
        Discipline::RoundRobin { quantum, .. } => duration / quantum.as_secs_f64() * parsed.node.cores.get() as f64,
        _ => 0.0,
    };
    parsed
        .processes
        .iter()
        .map(|p| match p {
            ProcessFile::Background(BackgroundSpec { kind: BackgroundKind::Poisson { rate, .. }, .. }) => {
                rate * duration
            }
            ProcessFile::Background(BackgroundSpec {
                kind: BackgroundKind::OnOff { on_mean, off_mean, .. }, ..
            }) => 2.0 * duration / (on_mean.as_secs_f64() + off_mean.as_secs_f64()),
            ProcessFile::Background(BackgroundSpec { kind: BackgroundKind::Periodic { period, .. }, .. }) => {
                duration / period.as_secs_f64()
            }
            ProcessFile::Background(BackgroundSpec {
                kind: BackgroundKind::Mmpp { rates, switch_rates, .. }, ..
            }) => {
                let fastest = rates.iter().cloned().fold(0.0, f64::max);
                let switching: f64 = switch_rates.iter().flatten().sum();
                (fastest + switching) * duration
            }
            ProcessFile::Background(BackgroundSpec { kind: BackgroundKind::Trace { trace, .. }, .. }) => {
                trace.demand_until(parsed.duration.0, parsed.node.cores.get(), parsed.node.speed.0).0
            }
            ProcessFile::Stream(s) => duration / s.spec.period.as_secs_f64(),
        })
        .sum::<f64>()
        + timers
}

/// The most usage bins a run may keep.
pub const MAX_BINS: u64 = 1_000_000;

fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let code = line.split('#').next().unwrap_or("");
        code.find(needle).map(|c| (i + 1, c + 1))
    })
}

/// The code of a line (comment removed) and its indentation.
fn code_of(line: &str) -> (&str, usize) {
    let code = line.split(" #").next().unwrap_or("");
    let code = if code.trim_start().starts_with('#') { "" } else { code };
    (code, code.len() - code.trim_start().len())
}

/// Line and column of the top-level key `key` (no indentation).
fn locate_top(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| code_of(line).0.starts_with(&format!("{key}:")).then_some((i + 1, 1)))
}

/// Line index (0-based) and column of the `occurrence`-th (0-based) `name: <process>` entry.
fn process_name_line(text: &str, process: &str, occurrence: usize) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (code, _) = code_of(line);
            let at = code.find("name:")?;
            let value = code[at + 5..].split([',', '}']).next().unwrap_or("").trim().trim_matches(['"', '\'']);
            (value == process).then_some((i, at))
        })
        .nth(occurrence)
}

/// Where `field` of process `process` is written (or the process's `name:` when the field is not
/// found); for errors found after parsing, whose position the YAML parser no longer knows.
fn locate_in_process(text: &str, process: &str, field: Option<&str>, occurrence: usize) -> Option<(usize, usize)> {
    let (name_line, name_col) = process_name_line(text, process, occurrence)?;
    let lines: Vec<&str> = text.lines().collect();
    // The item's own indentation: the `- ` that starts it, at or before the name line.
    let item_indent = (0..=name_line).rev().find_map(|i| {
        let (code, indent) = code_of(lines[i]);
        code.trim_start().starts_with("- ").then_some(indent)
    });
    if let Some(field) = field {
        let key = format!("{field}:");
        // Flow style on the name's own line, or block style on the following lines of the item.
        if let Some(col) = code_of(lines[name_line]).0.find(&key) {
            return Some((name_line + 1, col + 1));
        }
        let mut start =
            (0..=name_line).rev().find(|&i| code_of(lines[i]).0.trim_start().starts_with("- ")).unwrap_or(name_line);
        while start < lines.len() {
            let (code, indent) = code_of(lines[start]);
            let ends_item =
                start > name_line && !code.trim().is_empty() && item_indent.is_some_and(|item| indent <= item);
            if ends_item {
                break;
            }
            if let Some(col) = code.find(&key) {
                return Some((start + 1, col + 1));
            }
            start += 1;
        }
    }
    Some((name_line + 1, name_col + 1))
}

/// Removes serde_yaml's trailing " at line N column M" (the location is already in the prefix).
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at + 9..].chars().next().is_some_and(|c| c.is_ascii_digit()) => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// Checks a scenario's or study's `name`, which names its output folder: letters, digits, `-`, `_` and
/// `.`, not starting with `.` (a hidden folder, or `.` and `..`).
///
/// # Errors
/// The message for the `name` field, saying what is wrong and what is allowed.
pub(crate) fn check_folder_name(name: &str) -> Result<(), String> {
    const ALLOWED: &str = "letters, digits, `-`, `_` and `.` (not first)";
    if name.is_empty() {
        return Err(format!("name: give a name; it names the output folder: {ALLOWED}"));
    }
    if let Some(bad) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
        return Err(format!(
            "name: `{name}` contains `{bad}`; a name names the output folder and may use only {ALLOWED}"
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "name: `{name}` starts with `.`, which would make the output folder hidden (or `.`, `..`); start it with a letter, digit, `-` or `_` (allowed: {ALLOWED})"
        ));
    }
    Ok(())
}

/// The key a duplicate-key error of the YAML parser names: `duplicate field `KEY`` (a struct) or
/// `duplicate entry with key "KEY"` (a mapping value).
fn duplicated_key(message: &str) -> Option<&str> {
    if let Some(at) = message.find("duplicate field `") {
        let rest = &message[at + 17..];
        return Some(&rest[..rest.find('`')?]);
    }
    let rest = &message[message.find("duplicate entry with key \"")? + 26..];
    Some(&rest[..rest.find('"')?])
}

/// Whether `text` starts with the mapping key `key` (plain or quoted) followed by `:`.
fn starts_with_key(text: &str, key: &str) -> bool {
    let after = if let Some(rest) = text.strip_prefix(key) {
        rest
    } else if let Some(rest) =
        text.strip_prefix('"').and_then(|r| r.strip_prefix(key)).and_then(|r| r.strip_prefix('"'))
    {
        rest
    } else if let Some(rest) =
        text.strip_prefix('\'').and_then(|r| r.strip_prefix(key)).and_then(|r| r.strip_prefix('\''))
    {
        rest
    } else {
        return false;
    };
    after.trim_start_matches([' ', '\t']).starts_with(':')
}

/// For a duplicate-key error, which the YAML parser locates at the start of the mapping (`map_at`,
/// 1-based line and column), the line and column of the key's second occurrence in that mapping —
/// a block mapping (keys at the column of its first key) or a flow mapping (`{ … }`).
pub(crate) fn duplicate_key_location(text: &str, message: &str, map_at: (usize, usize)) -> Option<(usize, usize)> {
    let key = duplicated_key(message)?;
    let lines: Vec<&str> = text.lines().collect();
    let (line, column) = map_at;
    let first = *lines.get(line.checked_sub(1)?)?;
    let start = first.char_indices().nth(column.checked_sub(1)?).map(|(i, _)| i)?;
    let mut seen = 0;
    if first[start..].starts_with('{') {
        // Flow mapping: keys at depth 1, after `{` or `,`.
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut expect_key = false;
        for (index, text_line) in lines.iter().enumerate().skip(line - 1) {
            let from = if index == line - 1 { start } else { 0 };
            for (at, c) in text_line[from..].char_indices().map(|(i, c)| (i + from, c)) {
                if let Some(q) = quote {
                    if c == q {
                        quote = None;
                    }
                    continue;
                }
                if expect_key && depth == 1 && !c.is_whitespace() {
                    expect_key = false;
                    if starts_with_key(&text_line[at..], key) {
                        seen += 1;
                        if seen == 2 {
                            return Some((index + 1, text_line[..at].chars().count() + 1));
                        }
                    }
                }
                match c {
                    '"' | '\'' => quote = Some(c),
                    '{' | '[' => {
                        depth += 1;
                        expect_key = depth == 1;
                    }
                    '}' | ']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return None;
                        }
                    }
                    ',' => expect_key = depth == 1,
                    '#' => break,
                    _ => {}
                }
            }
        }
        return None;
    }
    // Block mapping: its keys start at `column` on the first line and on every later line indented
    // exactly that much, until a line indented less.
    let indent = column - 1;
    for (index, text_line) in lines.iter().enumerate().skip(line - 1) {
        let content = text_line.trim_start_matches(' ');
        let this_indent = text_line.len() - content.len();
        let candidate = if index == line - 1 {
            &first[start..]
        } else if content.is_empty() || content.starts_with('#') {
            continue;
        } else if this_indent < indent {
            return None;
        } else if this_indent == indent {
            content
        } else {
            continue;
        };
        if starts_with_key(candidate, key) {
            seen += 1;
            if seen == 2 {
                let at = if index == line - 1 { start } else { this_indent };
                return Some((index + 1, text_line[..at].chars().count() + 1));
            }
        }
    }
    None
}

/// For an error raised while reading process `NAME` (its message starts `process `NAME`: ` and names the
/// field in backticks next), the position of that field.
fn relocate_process_error(text: &str, message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.find("process `")? + 9..];
    let name = &rest[..rest.find('`')?];
    let after = &rest[name.len() + 1..];
    let field = after.find('`').and_then(|a| after[a + 1..].find('`').map(|b| &after[a + 1..a + 1 + b]));
    locate_in_process(text, name, field, 0)
}

/// Reads the samples of every `empirical` work distribution from its file (relative to `dir`, the
/// scenario's folder) and checks them. This is the only file a scenario's parsing reads: the mean
/// work must be known as soon as the scenario is (for the offered load).
///
/// # Errors
/// [`ScenarioError`] located at the `file:` key, naming the process, the field and, for a bad value,
/// the CSV file and line.
fn load_work_samples(parsed: &mut ScenarioFile, text: &str, file: &str, dir: &Path) -> Result<(), ScenarioError> {
    for process in &mut parsed.processes {
        let ProcessFile::Background(BackgroundSpec { name, kind, .. }) = process else { continue };
        let (BackgroundKind::Poisson { work: WorkDistribution::Empirical { file: csv, samples }, .. }
        | BackgroundKind::Periodic { work: WorkDistribution::Empirical { file: csv, samples }, .. }
        | BackgroundKind::Mmpp { work: WorkDistribution::Empirical { file: csv, samples }, .. }) = kind
        else {
            continue;
        };
        let at = |message: String| ScenarioError {
            file: file.to_string(),
            location: locate_in_process(text, name, Some("file"), 0),
            message,
        };
        let field = format!("process `{name}`: `work.empirical.file`");
        let path = dir.join(&*csv);
        let content = read_text(&path, DATA_LIMIT, "data files").map_err(|e| {
            at(format!(
                "{field}: cannot read `{}` (a text file of samples, one number of FLOPs per line, relative to the scenario's folder; looked for `{}`): {e}",
                csv.display(),
                path.display()
            ))
        })?;
        let values =
            parse_empirical_csv(&content, &csv.display().to_string()).map_err(|e| at(format!("{field}: {e}")))?;
        *samples = values.into();
        WorkDistribution::Empirical { file: csv.clone(), samples: Arc::clone(samples) }
            .sampler()
            .map_err(|e| at(format!("process `{name}`: `work`: {e}")))?;
    }
    Ok(())
}

/// Reads the rows or samples of every `trace` process from its file (relative to `dir`, the scenario's
/// folder), scaling its times by the process's `time_scale`.
///
/// # Errors
/// [`ScenarioError`] located at the `jobs:` or `utilisation:` key, naming the process, the field and,
/// for a bad line, the CSV file and line and what is allowed.
fn load_traces(parsed: &mut ScenarioFile, text: &str, file: &str, dir: &Path) -> Result<(), ScenarioError> {
    for process in &mut parsed.processes {
        let ProcessFile::Background(BackgroundSpec {
            name,
            kind: BackgroundKind::Trace { file: csv, time_scale, trace },
            ..
        }) = process
        else {
            continue;
        };
        let (field, header) = match trace {
            Trace::Jobs(_) => ("jobs", "`release_s,work_flop`"),
            Trace::Utilisation { .. } => ("utilisation", "`time_s,utilisation`"),
        };
        let at = |message: String| ScenarioError {
            file: file.to_string(),
            location: locate_in_process(text, name, Some(field), 0),
            message: format!("process `{name}`: `{field}`: {message}"),
        };
        let path = dir.join(&*csv);
        let content = read_text(&path, DATA_LIMIT, "data files").map_err(|e| {
            at(format!(
                "cannot read `{}` (a CSV file with the header {header}, relative to the scenario's folder; looked for `{}`): {e}",
                csv.display(),
                path.display()
            ))
        })?;
        let label = csv.display().to_string();
        match trace {
            Trace::Jobs(jobs) => {
                *jobs = parse_jobs_trace_csv(&content, &label, *time_scale).map_err(|e| at(e.to_string()))?.into();
            }
            Trace::Utilisation { trace, .. } => {
                *trace = parse_utilisation_trace_csv(&content, &label, *time_scale).map_err(|e| at(e.to_string()))?;
            }
        }
    }
    Ok(())
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
        let parsed: ScenarioFile = registry.scope(|| serde_yaml::from_str(text)).map_err(|e| {
            let message = strip_location_suffix(&e.to_string());
            let at = e.location().map(|l| (l.line(), l.column()));
            let location = at
                .and_then(|at| duplicate_key_location(text, &message, at))
                .or_else(|| relocate_process_error(text, &message))
                .or(at);
            ScenarioError { file: file.to_string(), location, message }
        })?;
        let error = |needle: &str, message: String| ScenarioError {
            file: file.to_string(),
            location: locate(text, needle),
            message,
        };
        let at = |location: Option<(usize, usize)>, message: String| ScenarioError {
            file: file.to_string(),
            location,
            message,
        };
        if let Err(message) = check_folder_name(&parsed.name) {
            return Err(at(locate_top(text, "name"), message));
        }
        if parsed.duration.0 .0 == 0 {
            return Err(at(locate_top(text, "duration"), "duration: must be longer than zero".into()));
        }
        if parsed.duration.0 .0 > MAX_DURATION.0 {
            return Err(at(
                locate_top(text, "duration"),
                format!("duration: at most {} s (about 146 years) can be simulated", MAX_DURATION.as_secs_f64()),
            ));
        }
        if let Some(bin) = parsed.output.bin {
            if bin.0 .0 > 0 && parsed.duration.0 .0 / bin.0 .0 > MAX_BINS {
                return Err(error(
                    "bin:",
                    format!("output.bin: at most {MAX_BINS} bins per run; use a bin of at least duration / {MAX_BINS}"),
                ));
            }
        }
        if let Some(power) = parsed.node.power {
            if power.busy.0 < power.idle.0 {
                return Err(error(
                    "busy:",
                    format!(
                        "node.power.busy ({} W) must be at least node.power.idle ({} W)",
                        power.busy.0, power.idle.0
                    ),
                ));
            }
        }
        if parsed.node.memory.is_some_and(|m| m.bandwidth.0 <= 0.0) {
            return Err(error("bandwidth:", "node.memory.bandwidth: must be positive".into()));
        }
        if parsed.node.speed.0 <= 0.0 {
            return Err(error("speed:", "node.speed: must be positive".into()));
        }
        if parsed.output.bin.is_some_and(|b| b.0 .0 == 0) {
            return Err(error("bin:", "output.bin: must be longer than zero".into()));
        }
        let mut names = BTreeSet::new();
        let mut multi_policy_streams = 0;
        for (index, process) in parsed.processes.iter().enumerate() {
            let name = match process {
                ProcessFile::Background(b) => &b.name,
                ProcessFile::Stream(s) => &s.spec.name,
            };
            if !names.insert(name.clone()) {
                return Err(at(
                    locate_in_process(text, name, None, 1),
                    format!("processes[{index}].name: `{name}` is used twice; names must be unique"),
                ));
            }
            if let ProcessFile::Stream(stream) = process {
                if stream.policies.len() > 1 {
                    multi_policy_streams += 1;
                }
                let mut labels = BTreeSet::new();
                for policy in &stream.policies {
                    if !labels.insert(policy.label()) {
                        return Err(at(
                            locate_in_process(text, &stream.spec.name, Some("policies"), 0),
                            format!("processes[{index}].policies: `{}` is listed twice; each policy names an output folder, so list it once", policy.label()),
                        ));
                    }
                }
            }
        }
        for stream in parsed.processes.iter().filter_map(|p| match p {
            ProcessFile::Stream(s) => Some(s),
            ProcessFile::Background(_) => None,
        }) {
            if stream.spec.start >= parsed.duration.0 {
                return Err(at(
                    locate_in_process(text, &stream.spec.name, Some("start"), 0),
                    format!(
                        "process `{}`: `start` ({} s) must be before the end of the run (duration {} s)",
                        stream.spec.name,
                        stream.spec.start.as_secs_f64(),
                        parsed.duration.0.as_secs_f64()
                    ),
                ));
            }
            for policy in &stream.policies {
                policy.check_stream(&stream.spec).map_err(|message| {
                    at(
                        locate_in_process(text, &stream.spec.name, Some("policies"), 0),
                        format!("process `{}`: policy `{}`: {message}", stream.spec.name, policy.name()),
                    )
                })?;
            }
        }
        let mut parsed = parsed;
        load_traces(&mut parsed, text, file, dir)?;
        let scenario_events = expected_events(&parsed);
        if scenario_events > MAX_EVENTS {
            return Err(at(
                locate_top(text, "duration"),
                format!(
                    "this scenario asks for about {scenario_events:.2e} arrivals and frames; at most {MAX_EVENTS:.0e} per run can be simulated (check rates, periods and the duration)"
                ),
            ));
        }
        if multi_policy_streams > 1 {
            return Err(error(
                "policies:",
                "policies: at most one stream may list several policies (the run repeats once per policy)".into(),
            ));
        }
        load_work_samples(&mut parsed, text, file, dir)?;
        Ok(Scenario { file: file.to_string(), dir: dir.to_path_buf(), text: text.to_string(), parsed, seed: 0 }
            .with_seed(None))
    }

    /// Uses `seed` instead of the file's when given.
    pub fn with_seed(mut self, seed: Option<u64>) -> Scenario {
        self.seed = seed.unwrap_or(self.parsed.seed);
        self
    }

    /// Simulated time to run: the run is the half-open interval [0, horizon) — jobs, frames, switches
    /// and trace rows are released only before it; work on the node is served up to it.
    pub fn horizon(&self) -> SimTime {
        self.parsed.duration.0
    }

    /// The node's scheduling discipline.
    pub fn discipline(&self) -> Discipline {
        self.parsed.node.scheduler.0
    }

    /// Width of the usage bins: `output.bin`, or the larger of 1 s and duration / 1000.
    pub fn bin(&self) -> SimTime {
        self.parsed.output.bin.map_or_else(|| SimTime((self.horizon().0 / 1000).max(SimTime::NANOS_PER_SEC)), |b| b.0)
    }

    /// Number of runs: the longest policy list of any stream (1 without streams).
    pub fn run_count(&self) -> usize {
        self.streams().map(|s| s.policies.len()).max().unwrap_or(1)
    }

    /// The background processes, in file order.
    pub fn background(&self) -> impl Iterator<Item = &BackgroundSpec> {
        self.parsed.processes.iter().filter_map(|p| match p {
            ProcessFile::Background(b) => Some(b),
            ProcessFile::Stream(_) => None,
        })
    }

    /// The RNN streams, in file order.
    pub fn streams(&self) -> impl Iterator<Item = &StreamFile> {
        self.parsed.processes.iter().filter_map(|p| match p {
            ProcessFile::Stream(s) => Some(s),
            ProcessFile::Background(_) => None,
        })
    }

    /// Long-run share of the node's capacity that the background processes ask for: Poisson
    /// `rate × mean work / (cores × speed)` plus, for on/off processes, one core while on
    /// (`on_mean / (on_mean + off_mean) / cores`), plus, for traces, the work they release during the
    /// run (a utilisation trace: the work it asks for before the end) / (cores × speed × duration). At
    /// 1 or more their queues grow without bound.
    pub fn offered_background_load(&self) -> f64 {
        self.load_of(self.background())
    }

    /// The offered load of `processes` (see [`Scenario::offered_background_load`]).
    fn load_of<'a>(&self, processes: impl Iterator<Item = &'a BackgroundSpec>) -> f64 {
        let cores = self.parsed.node.cores.get() as f64;
        let capacity = cores * self.parsed.node.speed.0;
        processes
            .map(|b| match &b.kind {
                BackgroundKind::Poisson { rate, work } => rate * work.mean() / capacity,
                BackgroundKind::Periodic { period, work, .. } => work.mean() / period.as_secs_f64() / capacity,
                BackgroundKind::Mmpp { work, .. } => b.kind.mean_rate() * work.mean() / capacity,
                BackgroundKind::OnOff { on_mean, off_mean, .. } => {
                    on_mean.as_secs_f64() / (on_mean.as_secs_f64() + off_mean.as_secs_f64()) / cores
                }
                BackgroundKind::Trace { trace, .. } => {
                    let (_, work) =
                        trace.demand_until(self.horizon(), self.parsed.node.cores.get(), self.parsed.node.speed.0);
                    work / (capacity * self.horizon().as_secs_f64())
                }
            })
            .sum()
    }

    /// The part of [`Scenario::offered_background_load`] that lasts to the end of the run: every
    /// process but the traces that end before it ([`Trace::runs_until`]; what they release is finite).
    /// At 1 or more the background queues grow without bound.
    pub fn unbounded_background_load(&self) -> f64 {
        let horizon = self.horizon();
        let lasting = self.background().filter(|b| match &b.kind {
            BackgroundKind::Trace { trace, .. } => trace.runs_until(horizon),
            _ => true,
        });
        self.load_of(lasting)
    }

    /// The warning for background processes that ask for the node's whole capacity or more until the
    /// end of the run ([`Scenario::unbounded_background_load`] ≥ 1), if they do.
    pub fn overload_warning(&self) -> Option<String> {
        let load = self.unbounded_background_load();
        (load >= 1.0).then(|| {
            format!(
                "the background processes ask for {:.0}% of the node's capacity; their queues grow without bound and the run may be slow",
                load * 100.0
            )
        })
    }

    /// An error about a value that appears in the text (located by searching for `needle`).
    pub fn error_at(&self, needle: &str, message: String) -> ScenarioError {
        ScenarioError { file: self.file.clone(), location: locate(&self.text, needle), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MM1: &str = "name: mm1-ps\nseed: 1\nduration: 1250000s\nnode:\n  cores: 1\n  speed: 1GFLOP/s\n  scheduler: processor_sharing\nprocesses:\n  - name: jobs\n    kind: poisson\n    rate: 0.8/s\n    work: { exponential: { mean: 1GFLOP } }\n";

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, "s.yaml", Path::new("."))
    }

    #[test]
    fn parses_the_mm1_scenario() {
        let s = parse(MM1).unwrap();
        assert_eq!(s.horizon(), SimTime(1_250_000 * SimTime::NANOS_PER_SEC));
        let jobs: Vec<_> = s.background().collect();
        assert_eq!(
            jobs[0].kind,
            BackgroundKind::Poisson { rate: 0.8, work: WorkDistribution::Exponential { mean: 1e9 } }
        );
        assert_eq!(s.run_count(), 1);
    }

    #[test]
    fn errors_name_file_line_column_field_and_what_is_allowed() {
        let e = parse(&MM1.replace("    rate: 0.8/s", "    rate: 0.8/s\n    rte: 3")).unwrap_err();
        assert_eq!(e.file, "s.yaml");
        assert_eq!(e.location.map(|l| l.0), Some(12), "{e}");
        assert!(e.to_string().contains("unknown field `rte`") && e.to_string().contains("expected one of"), "{e}");

        let e = parse(&MM1.replace("1250000s", "12 parsecs")).unwrap_err();
        assert_eq!(e.location, Some((3, 11)), "{e}");
        assert!(e.to_string().contains("duration") && e.to_string().contains("ms, s, min"), "{e}");

        let e = parse(&MM1.replace("processor_sharing", "lottery")).unwrap_err();
        assert!(e.to_string().contains("s.yaml:7:") && e.to_string().contains("processor_sharing"), "{e}");

        let e = parse(&MM1.replace("    rate: 0.8/s\n", "")).unwrap_err();
        assert!(e.to_string().contains("missing field `rate`") && e.location.is_some(), "{e}");

        let e = parse(&MM1.replace("    rate: 0.8/s\n", "    rate: 0.8/s\n    period: 1s\n")).unwrap_err();
        assert!(e.to_string().contains("`period` is not allowed for kind `poisson`"), "{e}");

        let e = parse(&MM1.replace("cores: 1", "cores: 0")).unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(5), "{e}");

        let e = parse(&MM1.replace("{ exponential: { mean: 1GFLOP } }", "{ lognormal: { mean: 1GFLOP, cv: -1 } }"))
            .unwrap_err();
        assert!(e.to_string().contains("cv must be positive"), "{e}");

        let e =
            parse(&format!("{MM1}  - name: jobs\n    kind: on_off\n    on_mean: 1s\n    off_mean: 1s\n")).unwrap_err();
        assert!(e.to_string().contains("used twice") && e.location == Some((13, 5)), "the second `jobs`: {e}");
    }

    /// MM1 with its work replaced by `work` (flow style, on line 12).
    fn with_work(work: &str) -> String {
        MM1.replace("{ exponential: { mean: 1GFLOP } }", work)
    }

    fn work_of(s: &Scenario) -> WorkDistribution {
        match &s.background().next().unwrap().kind {
            BackgroundKind::Poisson { work, .. } => work.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_every_work_distribution() {
        for (written, expected) in [
            ("{ constant: 2MFLOP }", WorkDistribution::Constant(2e6)),
            ("{ lognormal: { mean: 2MFLOP, cv: 0.5 } }", WorkDistribution::LogNormal { mean: 2e6, cv: 0.5 }),
            ("{ gamma: { mean: 2MFLOP, cv: 0.5 } }", WorkDistribution::Gamma { mean: 2e6, cv: 0.5 }),
            ("{ weibull: { scale: 1MFLOP, shape: 0.7 } }", WorkDistribution::Weibull { scale: 1e6, shape: 0.7 }),
            ("{ pareto: { scale: 1MFLOP, shape: 2.5 } }", WorkDistribution::Pareto { scale: 1e6, shape: 2.5 }),
            ("{ uniform: { min: 0FLOP, max: 3MFLOP } }", WorkDistribution::Uniform { min: 0.0, max: 3e6 }),
            ("{ normal: { mean: 2MFLOP, sd: 1MFLOP } }", WorkDistribution::TruncatedNormal { mean: 2e6, sd: 1e6 }),
        ] {
            let s = parse(&with_work(written)).unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(work_of(&s), expected, "{written}");
        }
        // Block style too.
        let block = MM1.replace(
            "    work: { exponential: { mean: 1GFLOP } }\n",
            "    work:\n      gamma:\n        mean: 1GFLOP\n        cv: 2\n",
        );
        assert_eq!(work_of(&parse(&block).unwrap()), WorkDistribution::Gamma { mean: 1e9, cv: 2.0 });
        // The offered load uses the true mean: the truncated normal's is shifted up (1.2876 for mean 1, sd 1).
        let s = parse(&with_work("{ normal: { mean: 1GFLOP, sd: 1GFLOP } }")).unwrap();
        assert!((s.offered_background_load() - 0.8 * 1.287_6).abs() < 1e-4, "{}", s.offered_background_load());
    }

    #[test]
    fn work_parameter_errors_name_the_field_and_what_is_allowed() {
        for (written, expected) in [
            ("{ gamma: { mean: 0FLOP, cv: 1 } }", "gamma mean must be positive and finite, got 0"),
            ("{ gamma: { mean: 1GFLOP, cv: 0 } }", "gamma cv must be positive and finite, got 0"),
            ("{ gamma: { mean: 1GFLOP, cv: -2 } }", "gamma cv must be positive and finite, got -2"),
            ("{ weibull: { scale: 0FLOP, shape: 1 } }", "weibull scale must be positive and finite"),
            ("{ weibull: { scale: 1GFLOP, shape: 0 } }", "weibull shape must be positive and finite, got 0"),
            ("{ weibull: { scale: 1GFLOP, shape: 0.001 } }", "weibull shape 0.001 is too small"),
            ("{ pareto: { scale: 0FLOP, shape: 3 } }", "pareto scale (the smallest work, x_m) must be positive"),
            ("{ pareto: { scale: 1GFLOP, shape: 1 } }", "pareto shape (α) must be a finite number greater than 1, got 1: the mean α·scale/(α − 1) exists only for α > 1"),
            ("{ pareto: { scale: 1GFLOP, shape: -2 } }", "greater than 1, got -2"),
            ("{ uniform: { min: 3MFLOP, max: 1MFLOP } }", "uniform max must be finite and greater than min, got min 3000000 and max 1000000"),
            ("{ uniform: { min: 1MFLOP, max: 1MFLOP } }", "greater than min"),
            ("{ normal: { mean: 1GFLOP, sd: 0FLOP } }", "normal sd must be positive and finite, got 0"),
        ] {
            let e = parse(&with_work(written)).unwrap_err();
            assert!(e.message.contains("process `jobs`: `work`: "), "{written}: {e}");
            assert!(e.message.contains(expected), "{written}: {e}\nshould contain {expected:?}");
            assert_eq!(e.location.map(|l| l.0), Some(12), "{written}: {e}");
        }
        // Negative work is refused by the unit itself, at the value.
        for written in ["{ uniform: { min: -1MFLOP, max: 1MFLOP } }", "{ normal: { mean: -1MFLOP, sd: 1MFLOP } }"] {
            let e = parse(&with_work(written)).unwrap_err();
            assert!(e.message.contains("invalid work `-1MFLOP`") && e.message.contains("non-negative"), "{e}");
            assert_eq!(e.location.map(|l| l.0), Some(12), "{written}: {e}");
        }
        // Two distributions, an unknown one, or a parameter of another distribution.
        let e =
            parse(&with_work("{ gamma: { mean: 1GFLOP, cv: 1 }, pareto: { scale: 1GFLOP, shape: 2 } }")).unwrap_err();
        assert!(
            e.message.contains("give exactly one distribution") && e.message.contains("empirical: { file: <path> }"),
            "{e}"
        );
        assert!(e.location.is_some(), "{e}");
        let e = parse(&with_work("{ beta: { a: 1, b: 2 } }")).unwrap_err();
        assert!(e.message.contains("unknown field `beta`") && e.message.contains("weibull"), "{e}");
        assert_eq!(e.location.map(|l| l.0), Some(12), "{e}");
        let e = parse(&with_work("{ weibull: { mean: 1GFLOP, shape: 2 } }")).unwrap_err();
        assert!(e.message.contains("unknown field `mean`") && e.message.contains("scale"), "{e}");
        assert_eq!(e.location.map(|l| l.0), Some(12), "{e}");
        let e = parse(&with_work("{ pareto: { scale: 1GFLOP } }")).unwrap_err();
        assert!(e.message.contains("missing field `shape`"), "{e}");
        assert!(e.location.is_some(), "{e}");
    }

    #[test]
    fn empirical_work_is_read_relative_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/work.csv"), "work_flop\n1e9\n2e9\n\n6e9\n").unwrap();
        let text = with_work("{ empirical: { file: data/work.csv } }");
        let s = Scenario::parse(&text, "s.yaml", dir.path()).unwrap();
        let WorkDistribution::Empirical { file, samples } = work_of(&s) else { panic!() };
        assert_eq!((file, &samples[..]), (PathBuf::from("data/work.csv"), &[1e9, 2e9, 6e9][..]));
        assert!((s.offered_background_load() - 0.8 * 3.0).abs() < 1e-12);
        // Block style.
        let block = MM1.replace(
            "    work: { exponential: { mean: 1GFLOP } }\n",
            "    work:\n      empirical:\n        file: data/work.csv\n",
        );
        assert_eq!(work_of(&Scenario::parse(&block, "s.yaml", dir.path()).unwrap()).mean(), 3e9);

        // Errors name the scenario file and the `file:` line, the field, and the CSV file and line.
        let column = text.lines().nth(11).unwrap().find("file:").unwrap() + 1;
        for (csv, expected) in [
            ("1e9\n2e9\n12 MFLOP\n", "data/work.csv line 3: `12 MFLOP` is not a number"),
            ("1e9\n-5\n", "data/work.csv line 2: `-5` is negative"),
            ("1e9\nnan\n", "data/work.csv line 2: `nan` is not a number"),
            ("work_flop\n", "data/work.csv: no samples"),
            ("", "data/work.csv: no samples"),
        ] {
            std::fs::write(dir.path().join("data/work.csv"), csv).unwrap();
            let e = Scenario::parse(&text, "s.yaml", dir.path()).unwrap_err();
            assert_eq!(e.file, "s.yaml");
            assert_eq!(e.location, Some((12, column)), "{e}");
            assert!(e.message.starts_with("process `jobs`: `work.empirical.file`: "), "{e}");
            assert!(e.message.contains(expected), "{csv:?}: {e}");
        }
        std::fs::write(dir.path().join("data/work.csv"), "0\n0\n").unwrap();
        let e = Scenario::parse(&text, "s.yaml", dir.path()).unwrap_err();
        assert!(e.message.contains("`work`: empirical samples of `data/work.csv` are all 0"), "{e}");
        assert_eq!(e.location, Some((12, column)), "{e}");
        let e = Scenario::parse(&with_work("{ empirical: { file: missing.csv } }"), "s.yaml", dir.path()).unwrap_err();
        assert!(
            e.to_string().starts_with("s.yaml:12:")
                && e.message.contains("`work.empirical.file`: cannot read `missing.csv`")
                && e.message.contains("relative to the scenario's folder"),
            "{e}"
        );
    }

    /// A trace scenario on 2 cores of 1 MFLOP/s over 10 s; `trace` is the process's lines after `kind`.
    fn trace_scenario(trace: &str) -> String {
        format!("name: tr\nseed: 1\nduration: 10s\nnode:\n  cores: 2\n  speed: 1MFLOP/s\n  scheduler: processor_sharing\nprocesses:\n  - name: replay\n    kind: trace\n{trace}")
    }

    fn trace_of(s: &Scenario) -> (f64, Trace) {
        match &s.background().next().unwrap().kind {
            BackgroundKind::Trace { time_scale, trace, .. } => (*time_scale, trace.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trace_processes_read_their_files_relative_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("traces")).unwrap();
        std::fs::write(
            dir.path().join("traces/jobs.csv"),
            "# hand-written\nrelease_s,work_flop\n0,2e6\n4,1e6\n10,1e6\n11,5e6\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("traces/u.csv"), "time_s,utilisation\n0,0.5\n4,0\n6,0.25\n").unwrap();

        let s = Scenario::parse(&trace_scenario("    jobs: traces/jobs.csv\n    priority: 2\n"), "s.yaml", dir.path())
            .unwrap();
        let (scale, trace) = trace_of(&s);
        let Trace::Jobs(jobs) = trace else { panic!() };
        assert_eq!((scale, jobs.len(), jobs[1].release), (1.0, 4, SimTime(4 * SimTime::NANOS_PER_SEC)));
        assert_eq!(s.background().next().unwrap().priority, 2);
        // Rows before the end (10 s; the run is [0, 10 s)): 3 MFLOP of 2 cores × 1 MFLOP/s × 10 s.
        assert!((s.offered_background_load() - 0.15).abs() < 1e-12, "{}", s.offered_background_load());
        assert_eq!(expected_events(&s.parsed), 2.0);

        // Utilisation: 0.5 for 4 s, 0 for 2 s, 0.25 for the median interval (3 s): 4 + 1.5 = 5.5 core-s.
        let s =
            Scenario::parse(&trace_scenario("    utilisation: traces/u.csv\n    chunk: 500ms\n"), "s.yaml", dir.path())
                .unwrap();
        let (_, trace) = trace_of(&s);
        let Trace::Utilisation { trace: samples, chunk } = trace else { panic!() };
        assert_eq!(
            (samples.samples.len(), samples.end, chunk),
            (3, SimTime(9 * SimTime::NANOS_PER_SEC), SimTime(500_000_000))
        );
        assert!((s.offered_background_load() - (2e6 * 0.5 * 4.0 + 2e6 * 0.25 * 3.0) / 2e7).abs() < 1e-12);
        // 8 chunks of one job, then 6 chunks of one job (⌈0.25 × 2⌉ = 1).
        assert_eq!(expected_events(&s.parsed), 14.0);
        // The default chunk is 100 ms; time_scale 2 stretches the trace past the end (10 s).
        let s = Scenario::parse(
            &trace_scenario("    utilisation: traces/u.csv\n    time_scale: 2\n"),
            "s.yaml",
            dir.path(),
        )
        .unwrap();
        let Trace::Utilisation { trace: samples, chunk } = trace_of(&s).1 else { panic!() };
        assert_eq!((samples.samples[2].start, chunk), (SimTime(12 * SimTime::NANOS_PER_SEC), DEFAULT_TRACE_CHUNK));
        assert!((s.offered_background_load() - 2e6 * 0.5 * 8.0 / 2e7).abs() < 1e-12);
    }

    #[test]
    fn trace_errors_name_the_field_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jobs.csv"), "release_s,work_flop\n0,1e6\n").unwrap();
        std::fs::write(dir.path().join("u.csv"), "time_s,utilisation\n0,0.5\n1,0.5\n").unwrap();
        let parse_in = |trace: &str| Scenario::parse(&trace_scenario(trace), "s.yaml", dir.path()).unwrap_err();
        // Lines: 9 `- name: replay`, 10 `kind: trace`, 11 the first field after it, 12 the second.
        for (trace, location, expected) in [
            (
                "    jobs: jobs.csv\n    utilisation: u.csv\n",
                (11, 5),
                "process `replay`: `jobs` and `utilisation` are both given; give exactly one: `jobs: <file.csv>`",
            ),
            ("    weight: 2\n", (9, 5), "process `replay`: missing field `jobs` or `utilisation`"),
            ("    jobs: jobs.csv\n    chunk: 1s\n", (12, 5), "`chunk` is allowed only with `utilisation`"),
            ("    utilisation: u.csv\n    chunk: 0s\n", (12, 5), "`chunk` must be longer than zero"),
            ("    utilisation: u.csv\n    time_scale: 0\n", (12, 5), "`time_scale` must be a positive number"),
            ("    jobs: jobs.csv\n    rate: 2/s\n", (12, 5), "field `rate` is not allowed for kind `trace`"),
            ("    jobs: missing.csv\n", (11, 5), "`jobs`: cannot read `missing.csv` (a CSV file with the header `release_s,work_flop`, relative to the scenario's folder"),
        ] {
            let e = parse_in(trace);
            assert_eq!(e.file, "s.yaml");
            assert_eq!(e.location, Some(location), "{trace:?}: {e}");
            assert!(e.message.contains(expected), "{trace:?}: {e}\nshould contain {expected:?}");
        }

        // A bad CSV line: located at the `jobs:` / `utilisation:` key, naming the CSV file and its line.
        std::fs::write(dir.path().join("jobs.csv"), "release_s,work_flop\n0,1e6\n# note\n-2,1e6\n").unwrap();
        let e = parse_in("    weight: 2\n    jobs: jobs.csv\n");
        assert_eq!(e.location, Some((12, 5)), "{e}");
        assert!(e.to_string().starts_with("s.yaml:12:5: process `replay`: `jobs`: jobs.csv line 4: release_s `-2` is negative; expected the header `release_s,work_flop`"), "{e}");
        std::fs::write(dir.path().join("u.csv"), "time_s,utilisation\n0,0.5\n300,150\n").unwrap();
        let e = Scenario::parse(
            &trace_scenario("").replace(
                "  - name: replay\n    kind: trace\n",
                "  - { name: replay, kind: trace, utilisation: u.csv }\n",
            ),
            "s.yaml",
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(e.location, Some((9, 34)), "flow style: {e}");
        assert!(e.message.contains("`utilisation`: u.csv line 3: utilisation `150` is outside [0, 1]; expected the header `time_s,utilisation`"), "{e}");

        // Too many jobs for one run: 1-µs chunks of the whole node (2 jobs each) for 40 000 s are 8e10.
        std::fs::write(dir.path().join("u.csv"), "time_s,utilisation\n0,1\n20000,1\n").unwrap();
        let e = Scenario::parse(
            &trace_scenario("    utilisation: u.csv\n    chunk: 1us\n").replace("duration: 10s", "duration: 40000s"),
            "s.yaml",
            dir.path(),
        )
        .unwrap_err();
        assert!(e.message.contains("arrivals and frames") && e.location == Some((3, 1)), "{e}");
    }

    #[test]
    fn no_input_panics() {
        for text in ["", "[", "name: [1, 2]", "processes: 5", "\u{0}", "name: x\nseed: -1", "a: *b", "duration: 1e999s"]
        {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
