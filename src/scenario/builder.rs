//! [`ScenarioBuilder`]: a scenario made in code, or a validated [`Scenario`] changed through typed
//! setters ([`Scenario::to_builder`]); either way checked by the same checks as a scenario file.

use std::path::PathBuf;

use super::checks::{validate, Source};
use super::{
    DatasetName, DeviceSpec, NodeSpec, ParameterMemory, PipelineSpec, Process, RnnStream, Scenario, ScenarioError,
    ScenarioParts, StageSpec,
};
use crate::data::SplitPart;
use crate::policy::PolicySpec;
use crate::sim::SimTime;
use crate::workload::profile::StepCost;
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
    /// The node's devices (`None`: not given yet) and its memory.
    devices: Option<Vec<DeviceSpec>>,
    memory: Option<ParameterMemory>,
    bin: Option<SimTime>,
    files: super::RecordFileSwitches,
    dir: PathBuf,
    processes: Vec<Pending>,
    /// Edits that named no process of theirs (reported by [`ScenarioBuilder::build`]).
    unmatched: Vec<String>,
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
            devices: None,
            memory: None,
            bin: None,
            files: super::RecordFileSwitches::default(),
            dir: PathBuf::from("."),
            processes: Vec::new(),
            unmatched: Vec::new(),
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

    /// The edge node as one pool of cores (one device named [`super::DEFAULT_DEVICE`]) with its
    /// memory; replaces any devices given before.
    pub fn node(mut self, node: NodeSpec) -> ScenarioBuilder {
        self.devices = Some(vec![DeviceSpec::from_node(super::DEFAULT_DEVICE, &node)]);
        self.memory = node.memory;
        self
    }

    /// The node's devices, in order (the first is the default of every process naming none), as
    /// `node.devices` in a file; replaces the devices of [`ScenarioBuilder::node`] but keeps its
    /// memory (see [`ScenarioBuilder::memory`]).
    pub fn devices(mut self, devices: impl IntoIterator<Item = DeviceSpec>) -> ScenarioBuilder {
        self.devices = Some(devices.into_iter().collect());
        self
    }

    /// The node-wide parameter memory (`None`: parameters always resident).
    pub fn memory(mut self, memory: Option<ParameterMemory>) -> ScenarioBuilder {
        self.memory = memory;
        self
    }

    /// Width of the timeline's usage bins (default: the larger of 1 s and duration / 1000).
    pub fn bin(mut self, bin: SimTime) -> ScenarioBuilder {
        self.bin = Some(bin);
        self
    }

    /// Which per-record files the runs write (default: all; `output:` `jobs`, `steps`, `sequences`
    /// in a file).
    pub fn record_files(mut self, files: super::RecordFileSwitches) -> ScenarioBuilder {
        self.files = files;
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
        self.background(BackgroundSpec { name: name.into(), kind, weight: 1.0, priority: 0, deadline, device: None })
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

    /// Changes the stream called `name` in place (its position, hence its random stream and output
    /// rows, stays), e.g. `.edit_stream("digits", |s| s.sequences(20).on_miss(OnMiss::Continue))`.
    /// Naming no stream is an error of [`ScenarioBuilder::build`], listing the streams.
    pub fn edit_stream(mut self, name: &str, edit: impl FnOnce(StreamBuilder) -> StreamBuilder) -> ScenarioBuilder {
        let found = self.processes.iter_mut().find_map(|p| match p {
            Pending::Stream(s) if s.spec.name == name => Some(s),
            _ => None,
        });
        match found {
            Some(stream) => *stream = edit(stream.clone()),
            None => {
                let streams = self.names(|p| matches!(p, Pending::Stream(_)));
                self.unmatched.push(format!("edit_stream: no stream `{name}`; streams: {streams}"));
            }
        }
        self
    }

    /// Changes the background process called `name` in place (kind and its parameters such as a
    /// Poisson `rate`, weight, priority, deadline), e.g.
    /// `.edit_background("requests", |b| b.kind = BackgroundKind::Poisson { rate: 20.0, work })`.
    /// Trace rows and empirical samples already read stay as read (changing a `file` field does not
    /// read the new file; add such a process with [`ScenarioBuilder::trace_jobs`] and the like).
    /// Naming no background process is an error of [`ScenarioBuilder::build`], listing them.
    pub fn edit_background(mut self, name: &str, edit: impl FnOnce(&mut BackgroundSpec)) -> ScenarioBuilder {
        let found = self.processes.iter_mut().find_map(|p| match p {
            Pending::Background(b) if b.name == name => Some(b),
            _ => None,
        });
        match found {
            Some(background) => edit(background),
            None => {
                let processes = self.names(|p| matches!(p, Pending::Background(_)));
                self.unmatched.push(format!(
                    "edit_background: no background process `{name}`; background processes: {processes}"
                ));
            }
        }
        self
    }

    /// The names of the processes that `keep` selects, comma-separated (`none` without any).
    fn names(&self, keep: impl Fn(&Pending) -> bool) -> String {
        let names: Vec<&str> = self
            .processes
            .iter()
            .filter(|p| keep(p))
            .map(|p| match p {
                Pending::Background(b) => b.name.as_str(),
                Pending::Stream(s) => s.spec.name.as_str(),
            })
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    /// Checks everything as for a scenario file and reads the files named.
    ///
    /// # Errors
    /// [`ScenarioError`] for file `<code: NAME>` (no location): a missing duration or node, an edit
    /// that named no process ([`ScenarioBuilder::edit_stream`], [`ScenarioBuilder::edit_background`]),
    /// or any error a scenario file with these values would have, with the same message.
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        let file = format!("<code: {}>", self.name);
        let error = |message: String| ScenarioError { file: file.clone(), location: None, message };
        if let Some(unmatched) = self.unmatched.into_iter().next() {
            return Err(error(unmatched));
        }
        let duration = self.duration.ok_or_else(|| error("duration: give the duration (`.duration(…)`)".into()))?;
        let devices = self.devices.ok_or_else(|| {
            error("node: give the node (`.node(NodeSpec::new(…))` or `.devices([DeviceSpec::new(…), …])`)".into())
        })?;
        let processes = self
            .processes
            .into_iter()
            .map(|p| match p {
                Pending::Background(b) => Ok(Process::Background(b)),
                Pending::Stream(s) => s.into_stream().map(Process::Stream).map_err(error),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let parts = ScenarioParts {
            name: self.name,
            seed: self.seed,
            duration,
            devices,
            memory: self.memory,
            processes,
            bin: self.bin,
            files: self.files,
        };
        validate(parts, &Source { file: &file, dir: &self.dir, text: "" })
    }
}

/// The values of a validated scenario, to change and build again: its name, the seed in use
/// ([`Scenario::seed`]), duration, node, usage bin (if it gave one), folder and processes in their
/// order; the samples and trace rows it read are kept (not read again). Building it unchanged gives
/// an equal scenario (except [`Scenario::file`] and [`Scenario::text`]), so the same results.
impl From<&Scenario> for ScenarioBuilder {
    fn from(scenario: &Scenario) -> ScenarioBuilder {
        let parts = &scenario.parts;
        let processes = parts
            .processes
            .iter()
            .map(|p| match p {
                Process::Background(b) => Pending::Background(b.clone()),
                Process::Stream(s) => Pending::Stream(StreamBuilder::from_stream(s)),
            })
            .collect();
        ScenarioBuilder {
            name: parts.name.clone(),
            seed: scenario.seed,
            duration: Some(parts.duration),
            devices: Some(parts.devices.clone()),
            memory: parts.memory,
            bin: parts.bin,
            files: parts.files,
            dir: scenario.dir.clone(),
            processes,
            unmatched: Vec::new(),
        }
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
    stages: Option<Stages>,
    cost: StepCost,
}

/// A stream's pipeline in a [`StreamBuilder`].
#[derive(Debug, Clone)]
enum Stages {
    /// As added, ordered by [`PipelineSpec::from_stages`] when built.
    Listed(Vec<StageSpec>),
    /// A validated scenario's pipeline, kept in its order.
    Ordered(PipelineSpec),
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
                device: None,
            },
            dataset: dataset.into(),
            split: SplitPart::Test,
            models: models.into(),
            policies: Vec::new(),
            sequences_given: false,
            stages: None,
            cost: StepCost::Flops,
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

    /// The node's device its RNN steps run on, by name (default: the node's first device).
    pub fn device(mut self, device: impl Into<String>) -> StreamBuilder {
        self.spec.device = Some(device.into());
        self
    }

    /// Replaces its policies by `policies` (at least one when built).
    pub fn policies(mut self, policies: impl IntoIterator<Item = PolicySpec>) -> StreamBuilder {
        self.policies = policies.into_iter().collect();
        self
    }

    /// Time between frames (> 0).
    pub fn period(mut self, period: SimTime) -> StreamBuilder {
        self.spec.period = period;
        self
    }

    /// Time from a frame's release to its deadline (> 0).
    pub fn deadline(mut self, deadline: SimTime) -> StreamBuilder {
        self.spec.deadline = deadline;
        self
    }

    /// What its steps cost (default [`StepCost::Flops`]); a [`StepCost::Profile`] whose profile is
    /// empty has its file read, relative to [`ScenarioBuilder::dir`], when the scenario is built.
    pub fn cost(mut self, cost: StepCost) -> StreamBuilder {
        self.cost = cost;
        self
    }

    /// Adds a pipeline stage run before each frame's RNN step (see [`PipelineSpec::from_stages`]); a
    /// stream taken from a [`Scenario`] keeps its stages and gets this one besides.
    pub fn stage(mut self, stage: StageSpec) -> StreamBuilder {
        let mut stages = match self.stages.take() {
            None => Vec::new(),
            Some(Stages::Listed(stages)) => stages,
            Some(Stages::Ordered(pipeline)) => pipeline.to_stages(),
        };
        stages.push(stage);
        self.stages = Some(Stages::Listed(stages));
        self
    }

    /// The builder of a validated stream (its pipeline kept in its order).
    fn from_stream(stream: &RnnStream) -> StreamBuilder {
        StreamBuilder {
            spec: stream.spec.clone(),
            dataset: stream.dataset.0.clone(),
            split: stream.split,
            models: stream.models.clone(),
            policies: stream.policies.clone(),
            sequences_given: stream.sequences_given,
            stages: stream.pipeline.clone().map(Stages::Ordered),
            cost: stream.cost.clone(),
        }
    }

    /// The stream, its stages ordered.
    fn into_stream(self) -> Result<RnnStream, String> {
        let name = self.spec.name.clone();
        let pipeline = match self.stages {
            None => None,
            Some(Stages::Ordered(pipeline)) => Some(pipeline),
            Some(Stages::Listed(stages)) => {
                Some(PipelineSpec::from_stages(stages).map_err(|e| format!("process `{name}`: {e}"))?)
            }
        };
        Ok(RnnStream {
            spec: self.spec,
            dataset: DatasetName(self.dataset),
            split: self.split,
            models: self.models,
            policies: self.policies,
            sequences_given: self.sequences_given,
            pipeline,
            cost: self.cost,
        })
    }
}

impl PipelineSpec {
    /// Its stages as [`StageSpec`]s, in its order, each naming the stages it runs after.
    fn to_stages(&self) -> Vec<StageSpec> {
        (0..self.names.len())
            .map(|i| StageSpec {
                name: self.names[i].clone(),
                work: self.work[i].clone(),
                after: self.after[i].iter().map(|&j| self.names[j].clone()).collect(),
                device: self.devices[i].clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;
    use std::path::Path;

    use super::*;
    use crate::node::Discipline;
    use crate::policy::greedy_slack::GreedySlackConfig;
    use crate::policy::static_::StaticConfig;

    fn shipped(name: &str) -> Scenario {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        Scenario::parse(&text, name, &dir).unwrap_or_else(|e| panic!("{e}"))
    }

    fn secs(value: u64) -> SimTime {
        SimTime(value * SimTime::NANOS_PER_SEC)
    }

    fn fixed(model: &str) -> PolicySpec {
        PolicySpec::new(StaticConfig { model: model.into() }).unwrap()
    }

    /// Every shipped scenario built again from its builder is the same scenario: processes in order
    /// (pipelines in their order, traces and samples as read), node, duration, seed, bin and folder.
    #[test]
    fn every_shipped_scenario_survives_to_builder_and_build() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut pipelines = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".yaml") || name.starts_with("study") {
                continue;
            }
            let original = shipped(&name);
            let rebuilt = original.to_builder().build().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rebuilt.parts, original.parts, "{name}");
            assert_eq!(
                (rebuilt.seed(), rebuilt.dir(), rebuilt.bin()),
                (original.seed(), original.dir(), original.bin())
            );
            assert_eq!((rebuilt.file(), rebuilt.text()), (format!("<code: {}>", original.name()).as_str(), ""));
            pipelines += original.streams().filter(|s| s.pipeline.is_some()).count();
        }
        assert!(pipelines >= 2, "the round trip covers pipelines ({pipelines})");
    }

    /// The builder starts from the seed in use, and its setters change only what they name.
    #[test]
    fn to_builder_setters_change_only_what_they_name() {
        let original = shipped("default.yaml").with_seed(Some(9));
        let greedy = PolicySpec::new(GreedySlackConfig { safety: 0.5 }).unwrap();
        let changed = original
            .to_builder()
            .duration(secs(10))
            .edit_stream("digits", |s| {
                s.sequences(20)
                    .on_miss(OnMiss::Continue)
                    .start(secs(1))
                    .deadline(SimTime(10_000_000))
                    .policies([greedy])
            })
            .edit_background("requests", |b| {
                if let BackgroundKind::Poisson { rate, .. } = &mut b.kind {
                    *rate = 20.0;
                }
            })
            .build()
            .unwrap();
        assert_eq!((changed.horizon(), changed.seed(), changed.node()), (secs(10), 9, original.node()));
        let (before, after) = (original.streams().next().unwrap(), changed.streams().next().unwrap());
        assert_eq!(
            (after.spec.sequences, after.sequences_given, after.spec.on_miss, after.spec.start, after.spec.deadline),
            (20, true, OnMiss::Continue, secs(1), SimTime(10_000_000))
        );
        assert_eq!(
            (after.spec.period, &after.models, after.dataset.id()),
            (before.spec.period, &before.models, "digits")
        );
        assert_eq!(after.policies.iter().map(PolicySpec::label).collect::<Vec<_>>(), ["greedy_slack-0.5"]);
        // requests: 20/s × 500 kFLOP / 25 MFLOP/s = 0.4, plus the batch job's 0.5.
        assert!((changed.offered_background_load() - 0.9).abs() < 1e-12, "{}", changed.offered_background_load());
        assert_eq!(changed.processes().len(), 3);
        assert_eq!(changed.processes()[2], original.processes()[2]);
    }

    /// An edit naming no process is an error of `build`, listing the names there are; a stage added
    /// to a loaded pipeline joins its stages.
    #[test]
    fn edits_of_unknown_processes_are_errors_and_stages_join_a_loaded_pipeline() {
        let default = shipped("default.yaml");
        let e = default.to_builder().edit_stream("digit", |s| s.sequences(1)).build().unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.message.as_str()),
            ("<code: default>", "edit_stream: no stream `digit`; streams: digits")
        );
        let e = default.to_builder().edit_background("digits", |b| b.weight = 2.0).build().unwrap_err();
        assert_eq!(
            e.message,
            "edit_background: no background process `digits`; background processes: requests, batch-job"
        );

        let node = NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::Fifo);
        let stage = |name: &str, after: &[&str]| StageSpec {
            name: name.into(),
            work: WorkDistribution::Constant(1e6),
            after: after.iter().map(|a| a.to_string()).collect(),
            device: None,
        };
        let ms = SimTime(1_000_000);
        let stream = StreamBuilder::new("s", "digits", "models", ms, ms)
            .policy(fixed("gru-16"))
            .stage(stage("pose", &["capture"]))
            .stage(stage("capture", &[]));
        let built = Scenario::builder("pipe").duration(secs(1)).node(node).stream(stream).build().unwrap();
        let names = |s: &Scenario| s.streams().next().unwrap().pipeline.as_ref().unwrap().names().to_vec();
        assert_eq!(names(&built), ["capture", "pose"]);
        let more = built.to_builder().edit_stream("s", |s| s.stage(stage("light", &["capture"]))).build().unwrap();
        // Ordered again with the new stage (petgraph's topological order): capture first.
        assert_eq!(names(&more), ["capture", "light", "pose"]);
        assert_eq!(more.streams().next().unwrap().pipeline.as_ref().unwrap().after(), [vec![], vec![0], vec![0]]);
    }
}
