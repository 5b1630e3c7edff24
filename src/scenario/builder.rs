//! [`ScenarioBuilder`]: a scenario made in code, validated by the same checks as a scenario file.

use std::path::PathBuf;

use super::checks::{validate, Source};
use super::{
    DatasetName, NodeSpec, PipelineSpec, Process, RnnStream, Scenario, ScenarioError, ScenarioParts, StageSpec,
};
use crate::data::SplitPart;
use crate::policy::PolicySpec;
use crate::sim::SimTime;
use crate::workload::{
    BackgroundKind, BackgroundSpec, OnMiss, StreamSpec, Trace, TraceJob, UtilisationTrace, WorkDistribution,
};

/// Collects a scenario's values in code; [`ScenarioBuilder::build`] checks them exactly as a scenario
/// file's are checked (same messages, without line numbers) and reads the files they name (empirical
/// work samples given only by file, trace files) relative to [`ScenarioBuilder::dir`].
///
/// ```
/// use std::num::NonZeroUsize;
/// use flexrnn::node::Discipline;
/// use flexrnn::scenario::Scenario;
/// use flexrnn::sim::SimTime;
/// use flexrnn::workload::WorkDistribution;
///
/// let node = flexrnn::scenario::NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing);
/// let scenario = Scenario::builder("mm1")
///     .seed(1)
///     .duration(SimTime::from_secs_f64(100.0))
///     .node(node)
///     .poisson("jobs", 0.8, WorkDistribution::Exponential { mean: 1e9 })
///     .build()?;
/// assert!((scenario.offered_background_load() - 0.8).abs() < 1e-12);
/// // The same checks as a file: a negative rate is refused, naming the process and the field.
/// let e = Scenario::builder("bad").duration(SimTime::from_secs_f64(1.0)).node(node)
///     .poisson("jobs", -1.0, WorkDistribution::Constant(1.0)).build().unwrap_err();
/// assert_eq!(e.message, "process `jobs`: `rate` must be positive");
/// # Ok::<(), flexrnn::scenario::ScenarioError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    name: String,
    seed: u64,
    duration: Option<SimTime>,
    node: Option<NodeSpec>,
    bin: Option<SimTime>,
    dir: PathBuf,
    processes: Vec<Pending>,
}

/// A process as added: streams keep their stages until [`ScenarioBuilder::build`] orders them.
#[derive(Debug, Clone)]
enum Pending {
    Background(BackgroundSpec),
    Stream(StreamBuilder),
}

impl ScenarioBuilder {
    /// A scenario named `name` (its output folder), seed 0, relative paths resolved against `.`; the
    /// duration and the node must be given before [`ScenarioBuilder::build`].
    pub fn new(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder {
            name: name.into(),
            seed: 0,
            duration: None,
            node: None,
            bin: None,
            dir: PathBuf::from("."),
            processes: Vec::new(),
        }
    }

    /// Seed of every random stream (default 0).
    pub fn seed(mut self, seed: u64) -> ScenarioBuilder {
        self.seed = seed;
        self
    }

    /// Simulated time to run: the run is [0, duration) (> 0, at most [`super::MAX_DURATION`]).
    pub fn duration(mut self, duration: SimTime) -> ScenarioBuilder {
        self.duration = Some(duration);
        self
    }

    /// The edge node.
    pub fn node(mut self, node: NodeSpec) -> ScenarioBuilder {
        self.node = Some(node);
        self
    }

    /// Width of the timeline's usage bins (default: the larger of 1 s and duration / 1000).
    pub fn bin(mut self, bin: SimTime) -> ScenarioBuilder {
        self.bin = Some(bin);
        self
    }

    /// The folder model banks, data sets and trace files are relative to (default `.`), as a scenario
    /// file's folder is for the file.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> ScenarioBuilder {
        self.dir = dir.into();
        self
    }

    /// Adds a background process as described (any kind, weight, priority and deadline).
    pub fn background(mut self, spec: BackgroundSpec) -> ScenarioBuilder {
        self.processes.push(Pending::Background(spec));
        self
    }

    /// Adds a background process of `kind` with weight 1, priority 0 and no deadline.
    fn plain(self, name: impl Into<String>, kind: BackgroundKind, deadline: Option<SimTime>) -> ScenarioBuilder {
        self.background(BackgroundSpec { name: name.into(), kind, weight: 1.0, priority: 0, deadline })
    }

    /// Adds Poisson arrivals: `rate` jobs per second of `work` FLOPs each.
    pub fn poisson(self, name: impl Into<String>, rate: f64, work: WorkDistribution) -> ScenarioBuilder {
        self.plain(name, BackgroundKind::Poisson { rate, work }, None)
    }

    /// Adds a job every `period` from time zero (no jitter), each with deadline `period`, as a
    /// scenario file's `periodic` process without `phase`, `jitter` and `deadline`.
    pub fn periodic(self, name: impl Into<String>, period: SimTime, work: WorkDistribution) -> ScenarioBuilder {
        let kind = BackgroundKind::Periodic { period, phase: SimTime::ZERO, jitter: SimTime::ZERO, work };
        self.plain(name, kind, Some(period))
    }

    /// Adds a Markov-modulated Poisson process: arrival `rates` per state (per second) and the
    /// `switch_rates` between states (per second, a square matrix; the diagonal is ignored).
    pub fn mmpp(
        self,
        name: impl Into<String>,
        rates: Vec<f64>,
        switch_rates: Vec<Vec<f64>>,
        work: WorkDistribution,
    ) -> ScenarioBuilder {
        self.plain(name, BackgroundKind::Mmpp { rates, switch_rates, work }, None)
    }

    /// Adds a CPU-bound process that is on (one core's worth of work) and off for exponential periods
    /// of the given means, off at time zero unless `start_on`.
    pub fn on_off(
        self,
        name: impl Into<String>,
        on_mean: SimTime,
        off_mean: SimTime,
        start_on: bool,
    ) -> ScenarioBuilder {
        self.plain(name, BackgroundKind::OnOff { on_mean, off_mean, start_on }, None)
    }

    /// Adds a jobs trace read from `file` (header `release_s,work_flop`, relative to
    /// [`ScenarioBuilder::dir`]) with its times multiplied by `time_scale`.
    pub fn trace_jobs(self, name: impl Into<String>, file: impl Into<PathBuf>, time_scale: f64) -> ScenarioBuilder {
        let trace = Trace::Jobs(Vec::<TraceJob>::new().into());
        self.plain(name, BackgroundKind::Trace { file: file.into(), time_scale, trace }, None)
    }

    /// Adds a utilisation trace read from `file` (header `time_s,utilisation`, relative to
    /// [`ScenarioBuilder::dir`]) released in chunks every `chunk`, times multiplied by `time_scale`.
    pub fn trace_utilisation(
        self,
        name: impl Into<String>,
        file: impl Into<PathBuf>,
        chunk: SimTime,
        time_scale: f64,
    ) -> ScenarioBuilder {
        let trace = Trace::Utilisation { trace: UtilisationTrace { samples: [].into(), end: SimTime::ZERO }, chunk };
        self.plain(name, BackgroundKind::Trace { file: file.into(), time_scale, trace }, None)
    }

    /// Adds an RNN stream.
    pub fn stream(mut self, stream: StreamBuilder) -> ScenarioBuilder {
        self.processes.push(Pending::Stream(stream));
        self
    }

    /// Checks everything as for a scenario file and reads the files named.
    ///
    /// # Errors
    /// [`ScenarioError`] for file `<code: NAME>` (no location): a missing duration or node, or any
    /// error a scenario file with these values would have, with the same message.
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        let file = format!("<code: {}>", self.name);
        let error = |message: String| ScenarioError { file: file.clone(), location: None, message };
        let duration = self.duration.ok_or_else(|| error("duration: give the duration (`.duration(…)`)".into()))?;
        let node = self.node.ok_or_else(|| error("node: give the node (`.node(NodeSpec::new(…))`)".into()))?;
        let processes = self
            .processes
            .into_iter()
            .map(|p| match p {
                Pending::Background(b) => Ok(Process::Background(b)),
                Pending::Stream(s) => s.into_stream().map(Process::Stream).map_err(error),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let parts = ScenarioParts { name: self.name, seed: self.seed, duration, node, processes, bin: self.bin };
        validate(parts, &Source { file: &file, dir: &self.dir, text: "" })
    }
}

/// An RNN stream for [`ScenarioBuilder::stream`]: the data set and model bank, the frame period and
/// deadline, and its policies (at least one; several make one run each).
///
/// Defaults as in a scenario file: the `test` split, start at 0, every sequence of the split once,
/// late frames skipped, weight 1, priority 0, no pipeline.
#[derive(Debug, Clone)]
pub struct StreamBuilder {
    spec: StreamSpec,
    dataset: String,
    split: SplitPart,
    models: PathBuf,
    policies: Vec<PolicySpec>,
    sequences_given: bool,
    stages: Option<Vec<StageSpec>>,
}

impl StreamBuilder {
    /// A stream `name` playing `dataset` (a task id such as `digits`) through the model bank in
    /// `models` (relative to [`ScenarioBuilder::dir`]), a frame every `period`, each due `deadline`
    /// after its release.
    pub fn new(
        name: impl Into<String>,
        dataset: impl Into<String>,
        models: impl Into<PathBuf>,
        period: SimTime,
        deadline: SimTime,
    ) -> StreamBuilder {
        StreamBuilder {
            spec: StreamSpec {
                name: name.into(),
                period,
                deadline,
                start: SimTime::ZERO,
                sequences: 0,
                on_miss: OnMiss::Skip,
                weight: 1.0,
                priority: 0,
            },
            dataset: dataset.into(),
            split: SplitPart::Test,
            models: models.into(),
            policies: Vec::new(),
            sequences_given: false,
            stages: None,
        }
    }

    /// Adds a policy (see [`PolicySpec::new`]); the scenario runs once per policy.
    pub fn policy(mut self, policy: PolicySpec) -> StreamBuilder {
        self.policies.push(policy);
        self
    }

    /// Which split part it plays (default `test`).
    pub fn split(mut self, split: SplitPart) -> StreamBuilder {
        self.split = split;
        self
    }

    /// Release time of the first frame (default 0; before the end of the run).
    pub fn start(mut self, start: SimTime) -> StreamBuilder {
        self.spec.start = start;
        self
    }

    /// Number of sequences to play (≥ 1; default: every sequence of the split once).
    pub fn sequences(mut self, sequences: usize) -> StreamBuilder {
        self.spec.sequences = sequences;
        self.sequences_given = true;
        self
    }

    /// What to do with a frame whose deadline passed before it started (default: skip it).
    pub fn on_miss(mut self, on_miss: OnMiss) -> StreamBuilder {
        self.spec.on_miss = on_miss;
        self
    }

    /// Processor-sharing weight of its steps (> 0; default 1).
    pub fn weight(mut self, weight: f64) -> StreamBuilder {
        self.spec.weight = weight;
        self
    }

    /// Fixed priority of its steps (smaller runs first; default 0).
    pub fn priority(mut self, priority: u32) -> StreamBuilder {
        self.spec.priority = priority;
        self
    }

    /// Adds a pipeline stage run before each frame's RNN step (see [`PipelineSpec::from_stages`]).
    pub fn stage(mut self, stage: StageSpec) -> StreamBuilder {
        self.stages.get_or_insert_with(Vec::new).push(stage);
        self
    }

    /// The stream, its stages ordered.
    fn into_stream(self) -> Result<RnnStream, String> {
        let name = self.spec.name.clone();
        let pipeline =
            self.stages.map(PipelineSpec::from_stages).transpose().map_err(|e| format!("process `{name}`: {e}"))?;
        Ok(RnnStream {
            spec: self.spec,
            dataset: DatasetName(self.dataset),
            split: self.split,
            models: self.models,
            policies: self.policies,
            sequences_given: self.sequences_given,
            pipeline,
        })
    }
}
