//! The edge-node world: background processes and RNN streams sharing one [`Node`], driven by the
//! kernel's event loop. This is where the node, the workloads, the networks and the policies meet;
//! each of them stays ignorant of the others.
//!
//! Per event nothing is allocated: job bookkeeping uses slabs with free lists, the hidden states and
//! scratch buffers are allocated once per stream, and the frame queue is preallocated.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand_distr::{Distribution, Exp};

use crate::data::SequenceSet;
use crate::metrics::{JobRecord, Recorder, SequenceRecord, StepRecord};
use crate::node::memory::{Access, ParamMemory};
use crate::node::{Discipline, FinishedJob, JobId, JobSpec, Node};
use crate::policy::{ModelOption, Observation, Policy};
use crate::rnn::flex::{FlexState, FlexibleModel};
use crate::sim::{EventQueue, Model, SimTime, Simulation};
use crate::workload::{
    process_rng, BackgroundKind, BackgroundSpec, OnMiss, ProcessRng, StreamSpec, Trace, WorkSampler,
};

/// Accounting classes on the node: one per process, background processes first (class = index),
/// then streams (class = number of background processes + stream index).
pub fn accounting_class(n_background: usize, stream: Option<usize>, background: Option<usize>) -> usize {
    match (stream, background) {
        (Some(stream), _) => n_background + stream,
        (None, Some(process)) => process,
        (None, None) => 0,
    }
}

/// The events of the edge world, named as facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Background process `process` releases a job (Poisson, periodic or MMPP).
    JobReleased {
        /// Background process index.
        process: usize,
    },
    /// Background process `process` switches on or off (on/off), or changes state (MMPP).
    ProcessToggled {
        /// Background process index.
        process: usize,
    },
    /// Stream `stream` releases its next frame.
    FrameReleased {
        /// Stream index.
        stream: usize,
    },
    /// A pipelined frame of stream `stream` reached its deadline (under `on_miss: skip`): late frames
    /// at the front of the queue are dropped now, cancelling their stages, instead of at the next event.
    FrameDeadlinePassed {
        /// Stream index.
        stream: usize,
    },
    /// The parameters that stream `stream`'s pending step needs are now in fast memory.
    ParamsLoaded {
        /// Stream index.
        stream: usize,
    },
    /// The node's earliest job finishes (stale if `version` is not the node's current version).
    NodeJobsFinished {
        /// Node state version when scheduled.
        version: u64,
    },
}

/// An RNN stream as the world needs it: its description, the shared bank and data, and its policy.
pub struct StreamSetup {
    /// Timing and deadline handling.
    pub spec: StreamSpec,
    /// The flexible model it runs (its settings are what the policy chooses among).
    pub model: Arc<FlexibleModel>,
    /// The sequences it plays.
    pub dataset: Arc<SequenceSet>,
    /// Indices into `dataset` it draws from (e.g. the test split).
    pub pool: Vec<usize>,
    /// The policy choosing each step's model.
    pub policy: Box<dyn Policy>,
    /// Identifies the model folder among the run's (streams sharing one share its parameter blocks).
    pub bank_key: usize,
    /// Stages run before each frame's RNN step, if any.
    pub pipeline: Option<Pipeline>,
}

/// Per-frame progress through a stream's pipeline (recycled, so nothing is allocated per frame).
struct FramePipe {
    frame: u64,
    /// Unfinished predecessors of each stage.
    pending: Vec<u32>,
    /// Node job of each stage while it runs.
    jobs: Vec<Option<JobId>>,
    /// Sinks still to finish; the frame is ready for its RNN step at zero.
    sinks_left: u32,
}

/// The stages a stream runs for every frame before its RNN step: a DAG whose roots start at the
/// frame's release; a stage starts when all its predecessors have finished; the RNN step may start
/// when every sink (a stage nothing depends on) has finished.
pub struct Pipeline {
    /// Stage names, in a topological order.
    pub names: Vec<String>,
    /// Work of each stage.
    pub work: Vec<WorkSampler>,
    /// Predecessors of each stage (indices into `names`, all smaller than the stage's own index).
    pub after: Vec<Vec<usize>>,
}

/// Everything a run needs.
pub struct WorldSetup {
    /// Scenario seed.
    pub seed: u64,
    /// Scheduling discipline of the node.
    pub discipline: Discipline,
    /// Cores of the node.
    pub cores: usize,
    /// Speed of one core, FLOP/s.
    pub core_speed: f64,
    /// Run length: the run is [0, horizon). Releases (jobs, frames, on/off and MMPP switches, trace
    /// rows) happen only before it; completions up to and at it are handled.
    pub horizon: SimTime,
    /// Width of the usage bins.
    pub bin: SimTime,
    /// Parameter memory: capacity in bytes and load bandwidth in bytes/s (`None`: parameters are
    /// always resident).
    pub memory: Option<(u64, f64)>,
    /// Background processes.
    pub background: Vec<BackgroundSpec>,
    /// RNN streams.
    pub streams: Vec<StreamSetup>,
}

struct InFlight {
    job_number: u64,
    release: SimTime,
}

struct BackgroundState {
    spec: BackgroundSpec,
    rng: ProcessRng,
    sampler: Option<WorkSampler>,
    jobs_released: u64,
    in_flight: Vec<Option<InFlight>>,
    free_slots: Vec<usize>,
    on_job: Option<JobId>,
    mmpp_state: usize,
}

struct RunningStep {
    frame: u64,
    /// The setting it runs under.
    model: usize,
    /// Whether it updates the state with the frame's input (false: the model's gate skips it).
    updates: bool,
    start: SimTime,
    flops: f64,
    deadline: SimTime,
}

/// Parameter loads of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemoryStats {
    /// Loads started for this stream's steps.
    pub loads: u64,
    /// Bytes those loads moved.
    pub bytes_loaded: u64,
    /// Time its steps waited for parameters (loads it started or shared), seconds.
    pub wait_s: f64,
}

struct StreamState {
    setup: StreamSetup,
    order: Vec<usize>,
    steps: usize,
    total_frames: u64,
    next_frame: u64,
    queue: VecDeque<u64>,
    running: Option<RunningStep>,
    current_model: Option<usize>,
    /// The model's state (hidden state, gate state, scratch), allocated once.
    flex: FlexState,
    logits: Vec<f32>,
    /// The setting chosen for the front frame while it waits for its pipeline stages (a policy is
    /// asked once per frame).
    chosen: Option<(u64, usize)>,
    options: Vec<ModelOption>,
    switch_flops: Vec<u64>,
    switch_matrix: Vec<u64>,
    steps_per_model: Vec<u32>,
    skipped_in_sequence: u32,
    last_latency_s: Option<f64>,
    jobs_submitted: u64,
    memory_stats: MemoryStats,
    /// Pipeline state of the frames in `queue`, front = oldest.
    pipes: VecDeque<FramePipe>,
    pipe_pool: Vec<FramePipe>,
    /// Stage jobs on the node: (frame, stage) by slot.
    stage_slots: Vec<Option<(u64, usize)>>,
    free_stage_slots: Vec<usize>,
    successors: Vec<Vec<usize>>,
    is_sink: Vec<bool>,
    rng: ProcessRng,
}

/// Schedules a release — a job, a frame, an on/off or MMPP switch, a trace row — at `t` if it falls in
/// the run, the half-open interval [0, `horizon`): the one place that rule is applied.
fn schedule_release(queue: &mut EventQueue<Event>, horizon: SimTime, t: SimTime, event: Event) {
    if t < horizon {
        queue.schedule(t, event);
    }
}

/// The simulated edge node and its workloads; implements the kernel's [`Model`].
pub struct EdgeWorld<R: Recorder> {
    node: Node,
    node_version: u64,
    /// When the node's next completion or timer is due (the time of the current
    /// `NodeJobsFinished` event), if any.
    node_due: Option<SimTime>,
    horizon: SimTime,
    background: Vec<BackgroundState>,
    streams: Vec<StreamState>,
    recorder: R,
    finished: Vec<FinishedJob>,
    memory: Option<ParamMemory>,
    ids: JobIds,
}

/// Whose a job on the node is: the engine's view of a node [`JobId`] (see [`JobIds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobOwner {
    /// A job of background process `process` in its in-flight slot `slot` (an on/off process: its
    /// job number).
    Background { process: usize, slot: u64 },
    /// The `number`-th RNN step job of stream `stream`.
    Step { stream: usize, number: u64 },
    /// A pipeline stage job of stream `stream` in stage slot `slot`.
    Stage { stream: usize, slot: u64 },
}

/// The two-way map between [`JobOwner`]s and the node's [`JobId`]s, sized for the world's owner count.
///
/// The node breaks ties by id (which of the jobs finishing at one instant is handled first, the
/// water-filling order; a round-robin core compares ids to its last job), so ids must sort and compare
/// as (owner index, kind, number): owner index = background process index, then number of background
/// processes + stream index; kind: background jobs and steps 0, stages 1. The owner index takes the top
/// `64 − 1 − number_bits` bits — as many as the count of owners needs, at least one —, the kind the
/// next bit, the number or slot the low `number_bits` bits (at least 31, since at most 2^32 owners
/// are allowed). A number wraps at 2^number_bits: only slots (below the jobs on the node at once) and
/// counters of owners with one job on the node at a time (steps, on/off jobs) are numbers, so two jobs
/// on the node never share an id.
#[derive(Debug, Clone, Copy)]
struct JobIds {
    n_background: usize,
    number_bits: u32,
}

impl JobIds {
    /// Most owners (background processes + streams) a world may have.
    const MAX_OWNERS: u64 = 1 << 32;

    /// The layout for `n_background` background processes and `n_streams` streams; `None` above
    /// [`JobIds::MAX_OWNERS`] owners.
    fn new(n_background: usize, n_streams: usize) -> Option<JobIds> {
        let owners = n_background as u64 + n_streams as u64;
        if owners > Self::MAX_OWNERS {
            return None;
        }
        let owner_bits = (u64::BITS - owners.saturating_sub(1).leading_zeros()).max(1);
        Some(JobIds { n_background, number_bits: u64::BITS - 1 - owner_bits })
    }

    fn id(self, owner: JobOwner) -> JobId {
        let (index, kind, number) = match owner {
            JobOwner::Background { process, slot } => (process, 0, slot),
            JobOwner::Step { stream, number } => (self.n_background + stream, 0, number),
            JobOwner::Stage { stream, slot } => (self.n_background + stream, 1, slot),
        };
        let mask = (1u64 << self.number_bits) - 1;
        JobId(((index as u64) << (self.number_bits + 1)) | (kind << self.number_bits) | (number & mask))
    }

    fn owner(self, id: JobId) -> JobOwner {
        let index = (id.0 >> (self.number_bits + 1)) as usize;
        let stage = (id.0 >> self.number_bits) & 1 == 1;
        let number = id.0 & ((1u64 << self.number_bits) - 1);
        match index.checked_sub(self.n_background) {
            None => JobOwner::Background { process: index, slot: number },
            Some(stream) if stage => JobOwner::Stage { stream, slot: number },
            Some(stream) => JobOwner::Step { stream, number },
        }
    }
}

/// The largest softmax probability of `logits`: `1 / Σ_j exp(l_j − max l)`.
fn top_probability(logits: &[f32]) -> f64 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    1.0 / logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>()
}

/// A span uniform in `[0, max)` (zero when `max` is zero).
fn uniform_span(rng: &mut ProcessRng, max: SimTime) -> SimTime {
    if max.0 == 0 {
        SimTime::ZERO
    } else {
        SimTime(rand::Rng::random_range(rng, 0..max.0))
    }
}

/// The next event of an MMPP process in state `state` at `now`: an arrival after Exp(rates[state]) or
/// a state change after Exp(Σ_j switch_rates[state][j]), whichever comes first (both clocks are
/// memoryless, so they are drawn afresh at every event).
fn next_mmpp_event(
    rng: &mut ProcessRng,
    now: SimTime,
    process: usize,
    rates: &[f64],
    switch_rates: &[Vec<f64>],
    state: usize,
) -> Option<(SimTime, Event)> {
    let draw =
        |rng: &mut ProcessRng, rate: f64| (rate > 0.0).then(|| Exp::new(rate).expect("positive rate").sample(rng));
    let arrival = draw(rng, rates[state]);
    let leave: f64 = switch_rates[state].iter().enumerate().filter(|&(j, _)| j != state).map(|(_, q)| q).sum();
    let switch = draw(rng, leave);
    match (arrival, switch) {
        (Some(a), Some(b)) if a < b => {
            Some((now.saturating_add(SimTime::from_secs_f64(a)), Event::JobReleased { process }))
        }
        (_, Some(b)) => Some((now.saturating_add(SimTime::from_secs_f64(b)), Event::ProcessToggled { process })),
        (Some(a), None) => Some((now.saturating_add(SimTime::from_secs_f64(a)), Event::JobReleased { process })),
        (None, None) => None,
    }
}

fn exp_span(rng: &mut ProcessRng, mean_s: f64) -> SimTime {
    let draw = Exp::new(1.0 / mean_s).expect("mean checked positive at validation").sample(rng);
    SimTime::from_secs_f64(draw)
}

/// Errors when building a world.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The node parameters are invalid.
    #[error(transparent)]
    Node(#[from] crate::node::NodeError),
    /// A workload parameter is invalid.
    #[error("process `{process}`: {message}")]
    Parameter {
        /// Process name.
        process: String,
        /// What is wrong.
        message: String,
    },
}

/// What a finished run returns.
pub struct RunOutcome<R> {
    /// The recorder with everything recorded.
    pub recorder: R,
    /// The node (usage accounting).
    pub node: Node,
    /// Events handled.
    pub events: u64,
    /// Names of each stream's policy.
    pub policy_names: Vec<String>,
    /// Parameter loads per stream.
    pub memory: Vec<MemoryStats>,
}

impl<R: Recorder> EdgeWorld<R> {
    /// Builds the world and its initial events.
    ///
    /// # Errors
    /// [`BuildError`] for invalid node or workload parameters.
    pub fn build(setup: WorldSetup, recorder: R) -> Result<(EdgeWorld<R>, EventQueue<Event>), BuildError> {
        let classes = (setup.background.len() + setup.streams.len()).max(1);
        let ids = JobIds::new(setup.background.len(), setup.streams.len()).ok_or_else(|| BuildError::Parameter {
            process: "processes".into(),
            message: format!("at most {} processes per scenario, got {classes}", JobIds::MAX_OWNERS),
        })?;
        let node =
            Node::with_discipline(setup.discipline, setup.cores, setup.core_speed, classes, setup.bin, setup.horizon)?;
        let mut queue = EventQueue::with_capacity(64);
        let mut background = Vec::with_capacity(setup.background.len());
        for (index, spec) in setup.background.into_iter().enumerate() {
            let mut rng = process_rng(setup.seed, &spec.name);
            let bad = |message: String| BuildError::Parameter { process: spec.name.clone(), message };
            let sampler = match &spec.kind {
                BackgroundKind::Poisson { rate, work } => {
                    if !(rate.is_finite() && *rate > 0.0) {
                        return Err(bad(format!("rate must be positive, got {rate}")));
                    }
                    let first = exp_span(&mut rng, 1.0 / rate);
                    schedule_release(&mut queue, setup.horizon, first, Event::JobReleased { process: index });
                    Some(work.sampler().map_err(|e| bad(e.0))?)
                }
                BackgroundKind::Periodic { phase, jitter, work, .. } => {
                    let first = phase.saturating_add(uniform_span(&mut rng, *jitter));
                    schedule_release(&mut queue, setup.horizon, first, Event::JobReleased { process: index });
                    Some(work.sampler().map_err(|e| bad(e.0))?)
                }
                BackgroundKind::Mmpp { rates, switch_rates, work } => {
                    if let Some((t, event)) = next_mmpp_event(&mut rng, SimTime::ZERO, index, rates, switch_rates, 0) {
                        schedule_release(&mut queue, setup.horizon, t, event);
                    }
                    Some(work.sampler().map_err(|e| bad(e.0))?)
                }
                BackgroundKind::OnOff { on_mean, off_mean, start_on } => {
                    if on_mean.0 == 0 || off_mean.0 == 0 {
                        return Err(bad("on_mean and off_mean must be positive".into()));
                    }
                    let mean = if *start_on { on_mean } else { off_mean };
                    if *start_on {
                        queue.schedule(SimTime::ZERO, Event::ProcessToggled { process: index });
                    } else {
                        let first = exp_span(&mut rng, mean.as_secs_f64());
                        schedule_release(&mut queue, setup.horizon, first, Event::ProcessToggled { process: index });
                    }
                    None
                }
                BackgroundKind::Trace { trace, .. } => {
                    // Deterministic: the process's random stream is never drawn from.
                    if let Some(first) = trace.first_release() {
                        schedule_release(&mut queue, setup.horizon, first, Event::JobReleased { process: index });
                    }
                    None
                }
            };
            background.push(BackgroundState {
                spec,
                rng,
                sampler,
                jobs_released: 0,
                in_flight: Vec::with_capacity(64),
                free_slots: Vec::with_capacity(64),
                on_job: None,
                mmpp_state: 0,
            });
        }
        let mut streams = Vec::with_capacity(setup.streams.len());
        for (index, stream) in setup.streams.into_iter().enumerate() {
            let mut rng = process_rng(setup.seed, &stream.spec.name);
            let bad = |message: String| BuildError::Parameter { process: stream.spec.name.clone(), message };
            if stream.pool.is_empty() {
                return Err(bad("the data set part it plays is empty".into()));
            }
            if stream.spec.period.0 == 0 {
                return Err(bad("period must be positive".into()));
            }
            let model = &stream.model;
            if model.input_size() != stream.dataset.features || model.classes() != stream.dataset.classes {
                return Err(bad(format!(
                    "the models take {} input(s) and {} classes, the data set has {} and {}",
                    model.input_size(),
                    model.classes(),
                    stream.dataset.features,
                    stream.dataset.classes
                )));
            }
            let steps = stream.dataset.steps;
            // Only sequences whose first frame is released before the horizon can be played (frames
            // are released at start + k·period < horizon).
            let frames_in_horizon = setup.horizon.saturating_sub(stream.spec.start).0.div_ceil(stream.spec.period.0);
            let playable = frames_in_horizon.div_ceil(steps.max(1) as u64);
            let sequences = (stream.spec.sequences as u64).min(playable) as usize;
            let mut order = Vec::with_capacity(sequences);
            while order.len() < sequences {
                let mut round = stream.pool.clone();
                round.shuffle(&mut rng);
                let take = (sequences - order.len()).min(round.len());
                order.extend_from_slice(&round[..take]);
            }
            let total_frames = (order.len() * steps) as u64;
            let options = model_options(model);
            let n_models = options.len();
            let classes = model.classes();
            if total_frames > 0 && stream.spec.start < setup.horizon {
                queue.schedule(stream.spec.start, Event::FrameReleased { stream: index });
            }
            // Frames waiting at once can never exceed the frames released in one deadline window
            // plus the backlog; reserve generously so the queue does not grow during a run.
            let reserve = 1024.min(total_frames as usize);
            let switch_matrix: Vec<u64> =
                (0..n_models * n_models).map(|k| stream.model.switch_flops(k / n_models, k % n_models)).collect();
            let n_stages = stream.pipeline.as_ref().map_or(0, |p| p.names.len());
            let mut successors = vec![Vec::new(); n_stages];
            if let Some(pipeline) = &stream.pipeline {
                for (stage, preds) in pipeline.after.iter().enumerate() {
                    for &p in preds {
                        successors[p].push(stage);
                    }
                }
            }
            let is_sink: Vec<bool> = successors.iter().map(|s| s.is_empty()).collect();
            let stream_name = stream.spec.name.clone();
            let flex = stream.model.new_state();
            streams.push(StreamState {
                setup: stream,
                order,
                steps,
                total_frames,
                next_frame: 0,
                queue: VecDeque::with_capacity(reserve),
                running: None,
                current_model: None,
                flex,
                logits: vec![0.0; classes],
                chosen: None,
                options,
                switch_flops: vec![0; n_models],
                switch_matrix,
                steps_per_model: vec![0; n_models],
                skipped_in_sequence: 0,
                last_latency_s: None,
                jobs_submitted: 0,
                memory_stats: MemoryStats::default(),
                pipes: VecDeque::with_capacity(64),
                pipe_pool: Vec::new(),
                stage_slots: Vec::with_capacity(64),
                free_stage_slots: Vec::with_capacity(64),
                successors,
                is_sink,
                rng: process_rng(setup.seed, &format!("{}/pipeline", stream_name)),
            });
        }
        let memory = setup.memory.map(|(capacity, bandwidth)| ParamMemory::new(capacity, bandwidth));
        let world = EdgeWorld {
            memory,
            node,
            node_version: 0,
            node_due: None,
            horizon: setup.horizon,
            background,
            streams,
            recorder,
            finished: Vec::with_capacity(16),
            ids,
        };
        Ok((world, queue))
    }

    /// Builds and runs the world to its horizon.
    ///
    /// # Errors
    /// [`BuildError`] for invalid parameters.
    pub fn run(setup: WorldSetup, recorder: R) -> Result<RunOutcome<R>, BuildError> {
        let horizon = setup.horizon;
        let (world, queue) = EdgeWorld::build(setup, recorder)?;
        let mut simulation = Simulation::new(world, queue);
        simulation.step_until(horizon);
        let events = simulation.events_handled();
        let mut world = simulation.into_model();
        world.node.advance(horizon);
        world.record_unfinished(horizon);
        let policy_names = world.streams.iter().map(|s| s.setup.policy.name()).collect();
        let memory = world.streams.iter().map(|s| s.memory_stats).collect();
        Ok(RunOutcome { recorder: world.recorder, node: world.node, events, policy_names, memory })
    }

    /// Records every frame released before `horizon` that has neither completed nor been skipped, and
    /// reports the background jobs still on the node ([`Recorder::job_unfinished`]).
    fn record_unfinished(&mut self, horizon: SimTime) {
        for (process, state) in self.background.iter().enumerate() {
            for job in state.in_flight.iter().flatten() {
                self.recorder.job_unfinished(process, job.job_number, job.release);
            }
        }
        for (index, state) in self.streams.iter().enumerate() {
            let running = state.running.as_ref().map(|r| (r.frame, Some(r.start), Some(r.model), r.flops));
            let waiting = state.queue.iter().map(|&frame| (frame, None, None, 0.0));
            for (frame, start, model, flops) in running.into_iter().chain(waiting) {
                let release = Self::release_of(state, frame);
                let deadline = release.saturating_add(state.setup.spec.deadline);
                self.recorder.step(&StepRecord {
                    stream: index,
                    sequence: frame / state.steps as u64,
                    step: (frame % state.steps as u64) as u32,
                    release,
                    start,
                    end: None,
                    deadline,
                    missed: deadline <= horizon,
                    skipped: false,
                    unfinished: true,
                    model,
                    updated: false,
                    flops,
                });
            }
        }
    }

    fn owner_of_stream(&self, stream: usize) -> usize {
        self.background.len() + stream
    }

    /// After any change of the node's job set, schedules its next completion under a new version.
    fn node_changed(&mut self, queue: &mut EventQueue<Event>) {
        self.node_version += 1;
        self.node_due = self.node.next_event();
        if let Some(t) = self.node_due {
            queue.schedule(t, Event::NodeJobsFinished { version: self.node_version });
        }
    }

    fn job_released(&mut self, now: SimTime, process: usize, queue: &mut EventQueue<Event>) {
        if matches!(self.background[process].spec.kind, BackgroundKind::Trace { .. }) {
            return self.trace_released(now, process, queue);
        }
        let state = &mut self.background[process];
        let work = state.sampler.as_ref().expect("job-releasing processes have a sampler").sample(&mut state.rng);
        let next = match &state.spec.kind {
            BackgroundKind::Poisson { rate, .. } => {
                Some((now.saturating_add(exp_span(&mut state.rng, 1.0 / rate)), Event::JobReleased { process }))
            }
            BackgroundKind::Periodic { period, phase, jitter, .. } => {
                let k = state.jobs_released + 1;
                let release = phase
                    .saturating_add(SimTime(period.0.saturating_mul(k)))
                    .saturating_add(uniform_span(&mut state.rng, *jitter));
                Some((release, Event::JobReleased { process }))
            }
            BackgroundKind::Mmpp { rates, switch_rates, .. } => {
                next_mmpp_event(&mut state.rng, now, process, rates, switch_rates, state.mmpp_state)
            }
            BackgroundKind::OnOff { .. } | BackgroundKind::Trace { .. } => {
                unreachable!("on/off processes do not release jobs; traces release in trace_released")
            }
        };
        self.submit_background_job(now, process, work);
        self.node_changed(queue);
        if let Some((t, event)) = next {
            schedule_release(queue, self.horizon, t, event);
        }
    }

    /// A trace's release at `now`: the next row of a jobs trace, or a utilisation trace's chunk
    /// (`⌈u × cores⌉` jobs sharing `u × cores × speed × chunk` FLOPs, see
    /// [`crate::workload::UtilisationTrace`]). Draws nothing from the process's random stream.
    fn trace_released(&mut self, now: SimTime, process: usize, queue: &mut EventQueue<Event>) {
        let (cores, core_speed) = (self.node.cores(), self.node.speed());
        let BackgroundKind::Trace { trace, .. } = &self.background[process].spec.kind else {
            unreachable!("called for traces only")
        };
        let (jobs, work, next) = match trace {
            Trace::Jobs(rows) => {
                // One event per row: the jobs released so far are the rows before this one.
                let row = self.background[process].jobs_released as usize;
                let Some(job) = rows.get(row) else { return };
                (1, job.work, rows.get(row + 1).map(|j| j.release))
            }
            Trace::Utilisation { trace, chunk } => {
                let released = trace.chunk_at(now, *chunk, cores, core_speed);
                (released.jobs, released.work_per_job, released.next)
            }
        };
        for _ in 0..jobs {
            self.submit_background_job(now, process, work);
        }
        if jobs > 0 {
            self.node_changed(queue);
        }
        if let Some(t) = next {
            schedule_release(queue, self.horizon, t, Event::JobReleased { process });
        }
    }

    /// Submits one job of background process `process` with `work` FLOPs, released at `now`.
    fn submit_background_job(&mut self, now: SimTime, process: usize, work: f64) {
        let state = &mut self.background[process];
        let job_number = state.jobs_released;
        state.jobs_released += 1;
        let slot = match state.free_slots.pop() {
            Some(slot) => {
                state.in_flight[slot] = Some(InFlight { job_number, release: now });
                slot
            }
            None => {
                state.in_flight.push(Some(InFlight { job_number, release: now }));
                state.in_flight.len() - 1
            }
        };
        let job = JobSpec {
            id: self.ids.id(JobOwner::Background { process, slot: slot as u64 }),
            class: process,
            work,
            weight: state.spec.weight,
            priority: state.spec.priority,
            deadline: state.spec.deadline.map(|d| now.saturating_add(d)),
        };
        self.node.submit(now, job);
    }

    fn process_toggled(&mut self, now: SimTime, process: usize, queue: &mut EventQueue<Event>) {
        let state = &mut self.background[process];
        if let BackgroundKind::Mmpp { rates, switch_rates, .. } = &state.spec.kind {
            // The chain leaves its state: pick the next one in proportion to the switch rates.
            let current = state.mmpp_state;
            let leave: f64 =
                switch_rates[current].iter().enumerate().filter(|&(j, _)| j != current).map(|(_, q)| q).sum();
            let mut u = rand::Rng::random::<f64>(&mut state.rng) * leave;
            let mut next_state = current;
            for (j, q) in switch_rates[current].iter().enumerate().filter(|&(j, _)| j != current) {
                next_state = j;
                if u < *q {
                    break;
                }
                u -= q;
            }
            state.mmpp_state = next_state;
            if let Some((t, event)) = next_mmpp_event(&mut state.rng, now, process, rates, switch_rates, next_state) {
                schedule_release(queue, self.horizon, t, event);
            }
            return;
        }
        let BackgroundKind::OnOff { on_mean, off_mean, .. } = state.spec.kind else {
            unreachable!("only on/off processes toggle")
        };
        let next_span;
        match state.on_job.take() {
            None => {
                let job_number = state.jobs_released;
                state.jobs_released += 1;
                let id = self.ids.id(JobOwner::Background { process, slot: job_number });
                state.on_job = Some(id);
                state.in_flight.clear();
                state.in_flight.push(Some(InFlight { job_number, release: now }));
                next_span = exp_span(&mut state.rng, on_mean.as_secs_f64());
                let job = JobSpec {
                    id,
                    class: process,
                    work: f64::INFINITY,
                    weight: state.spec.weight,
                    priority: state.spec.priority,
                    deadline: state.spec.deadline.map(|d| now.saturating_add(d)),
                };
                self.node.submit(now, job);
            }
            Some(id) => {
                next_span = exp_span(&mut state.rng, off_mean.as_secs_f64());
                let started = state.in_flight[0].take().expect("an on process has its job recorded");
                let served = self.node.cancel(now, id).map_or(0.0, |f| f.served);
                self.record_background_job(process, started, now, served);
            }
        }
        self.node_changed(queue);
        let next = now.saturating_add(next_span);
        schedule_release(queue, self.horizon, next, Event::ProcessToggled { process });
    }

    fn frame_released(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        let frame = state.next_frame;
        state.next_frame += 1;
        state.queue.push_back(frame);
        if let Some(pipeline) = &state.setup.pipeline {
            let n = pipeline.names.len();
            let mut pipe = state.pipe_pool.pop().unwrap_or_else(|| FramePipe {
                frame,
                pending: vec![0; n],
                jobs: vec![None; n],
                sinks_left: 0,
            });
            pipe.frame = frame;
            for (stage, preds) in pipeline.after.iter().enumerate() {
                pipe.pending[stage] = preds.len() as u32;
                pipe.jobs[stage] = None;
            }
            pipe.sinks_left = state.is_sink.iter().filter(|&&sink| sink).count() as u32;
            state.pipes.push_back(pipe);
            if state.setup.spec.on_miss == OnMiss::Skip {
                let deadline = Self::release_of(state, frame).saturating_add(state.setup.spec.deadline);
                if deadline <= self.horizon {
                    queue.schedule(deadline, Event::FrameDeadlinePassed { stream });
                }
            }
            for stage in 0..n {
                if self.streams[stream].pipes.back().expect("just pushed").pending[stage] == 0 {
                    self.start_stage(now, stream, frame, stage, queue);
                }
            }
        }
        let state = &mut self.streams[stream];
        if state.next_frame < state.total_frames {
            let next = state.setup.spec.start.saturating_add(SimTime(state.setup.spec.period.0 * state.next_frame));
            schedule_release(queue, self.horizon, next, Event::FrameReleased { stream });
        }
        self.start_next_step(now, stream, queue);
    }

    /// Submits stage `stage` of `frame` to the node.
    fn start_stage(&mut self, now: SimTime, stream: usize, frame: u64, stage: usize, queue: &mut EventQueue<Event>) {
        let owner = self.owner_of_stream(stream);
        let state = &mut self.streams[stream];
        let pipeline = state.setup.pipeline.as_ref().expect("a stream with stages");
        let work = pipeline.work[stage].sample(&mut state.rng);
        let slot = match state.free_stage_slots.pop() {
            Some(slot) => {
                state.stage_slots[slot] = Some((frame, stage));
                slot
            }
            None => {
                state.stage_slots.push(Some((frame, stage)));
                state.stage_slots.len() - 1
            }
        };
        let id = self.ids.id(JobOwner::Stage { stream, slot: slot as u64 });
        let index = (frame - state.pipes.front().expect("the frame's pipe exists").frame) as usize;
        state.pipes[index].jobs[stage] = Some(id);
        let deadline = Self::release_of(state, frame).saturating_add(state.setup.spec.deadline);
        let job = JobSpec {
            id,
            class: owner,
            work,
            weight: state.setup.spec.weight,
            priority: state.setup.spec.priority,
            deadline: Some(deadline),
        };
        self.node.submit(now, job);
        self.node_changed(queue);
    }

    /// A stage job ended: start the successors it unblocks.
    fn stage_finished(&mut self, now: SimTime, stream: usize, slot: usize, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        let Some((frame, stage)) = state.stage_slots[slot].take() else { return };
        state.free_stage_slots.push(slot);
        let index = (frame - state.pipes.front().expect("a running stage's frame has a pipe").frame) as usize;
        state.pipes[index].jobs[stage] = None;
        if state.is_sink[stage] {
            state.pipes[index].sinks_left -= 1;
        }
        for k in 0..state.successors[stage].len() {
            let state = &mut self.streams[stream];
            let next = state.successors[stage][k];
            let pipe = &mut state.pipes[index];
            pipe.pending[next] -= 1;
            if pipe.pending[next] == 0 {
                self.start_stage(now, stream, frame, next, queue);
            }
        }
    }

    /// Removes the front frame's pipeline state, cancelling stages still on the node (they feed only
    /// that frame).
    fn drop_front_pipe(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        let Some(mut pipe) = state.pipes.pop_front() else { return };
        let mut cancelled = false;
        for job in pipe.jobs.iter_mut() {
            if let Some(id) = job.take() {
                self.node.cancel(now, id);
                let JobOwner::Stage { slot, .. } = self.ids.owner(id) else { unreachable!("pipes hold stage jobs") };
                let slot = slot as usize;
                state.stage_slots[slot] = None;
                state.free_stage_slots.push(slot);
                cancelled = true;
            }
        }
        state.pipe_pool.push(pipe);
        if cancelled {
            self.node_changed(queue);
        }
    }

    fn release_of(state: &StreamState, frame: u64) -> SimTime {
        state.setup.spec.start.saturating_add(SimTime(state.setup.spec.period.0 * frame))
    }

    /// Starts the stream's next frame if it is idle, skipping frames that are already late under
    /// `on_miss: skip`.
    fn start_next_step(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        loop {
            let state = &mut self.streams[stream];
            if state.running.is_some() {
                return;
            }
            let Some(&frame) = state.queue.front() else {
                return;
            };
            let step = (frame % state.steps as u64) as usize;
            if step == 0 && state.chosen.is_none() {
                state.flex.reset();
                state.current_model = None;
                state.steps_per_model.iter_mut().for_each(|c| *c = 0);
                state.skipped_in_sequence = 0;
            }
            let release = Self::release_of(state, frame);
            let deadline = release.saturating_add(state.setup.spec.deadline);
            if state.setup.spec.on_miss == OnMiss::Skip && now >= deadline {
                state.queue.pop_front();
                state.chosen = None;
                if state.setup.pipeline.is_some() {
                    self.drop_front_pipe(now, stream, queue);
                }
                let state = &mut self.streams[stream];
                state.skipped_in_sequence += 1;
                let record = StepRecord {
                    stream,
                    sequence: frame / state.steps as u64,
                    step: step as u32,
                    release,
                    start: None,
                    end: None,
                    deadline,
                    missed: true,
                    skipped: true,
                    unfinished: false,
                    model: None,
                    updated: false,
                    flops: 0.0,
                };
                self.recorder.step(&record);
                if step + 1 == self.streams[stream].steps {
                    self.finish_sequence(now, stream, frame);
                }
                continue;
            }
            // The policy chooses once per frame; a frame waiting for its stages keeps its choice.
            let (choice, confidence) = match state.chosen {
                Some((f, choice)) if f == frame => (choice, None),
                _ => {
                    for (index, cost) in state.switch_flops.iter_mut().enumerate() {
                        *cost = state.current_model.map_or(0, |current| state.setup.model.switch_flops(current, index));
                    }
                    let rate_estimate = self.node.rate_if_added(state.setup.spec.weight);
                    // The network's own confidence: the top softmax probability of the current
                    // model's readout on the current state (its FLOPs are charged to this step below).
                    let confidence = match (state.setup.policy.needs_confidence(), state.current_model) {
                        (true, Some(_)) => {
                            state.setup.model.logits(&mut state.flex, &mut state.logits);
                            Some(top_probability(&state.logits))
                        }
                        _ => None,
                    };
                    let observation = Observation {
                        now_s: now.as_secs_f64(),
                        release_s: release.as_secs_f64(),
                        deadline_s: deadline.as_secs_f64(),
                        slack_s: deadline.as_secs_f64() - now.as_secs_f64(),
                        queued_frames: state.queue.len() - 1,
                        step,
                        steps: state.steps,
                        current: state.current_model,
                        switch_flops: &state.switch_flops,
                        switch_matrix: &state.switch_matrix,
                        rate_estimate,
                        node_jobs: self.node.active_jobs(),
                        cores: self.node.cores(),
                        core_speed: self.node.speed(),
                        last_latency_s: state.last_latency_s,
                        confidence,
                    };
                    let choice = state.setup.policy.choose(&observation, &state.options).min(state.options.len() - 1);
                    state.chosen = Some((frame, choice));
                    (choice, confidence)
                }
            };
            // Decided before the input exists: does the model's gate read this frame?
            let plan = state.setup.model.plan(choice, &mut state.flex);
            if state.setup.pipeline.is_some() {
                if plan.updates {
                    if state.pipes.front().is_some_and(|pipe| pipe.sinks_left > 0) {
                        // Its stages are still running; `stage_finished` calls back when they are done.
                        return;
                    }
                    let pipe = state.pipes.pop_front().expect("a pipelined frame has a pipe");
                    state.pipe_pool.push(pipe);
                } else {
                    // The gate skips the frame: its features are not needed, so its stages stop.
                    self.drop_front_pipe(now, stream, queue);
                }
            }
            let state = &mut self.streams[stream];
            state.chosen = None;
            let setting = &state.setup.model.settings()[choice];
            let mut flops = plan.flops as f64;
            if confidence.is_some() {
                let current = state.current_model.expect("confidence needs a current model");
                flops += state.setup.model.readout_flops(current) as f64;
            }
            if step + 1 == state.steps {
                flops += state.setup.model.readout_flops(choice) as f64;
            }
            state.queue.pop_front();
            state.running =
                Some(RunningStep { frame, model: choice, updates: plan.updates, start: now, flops, deadline });
            if flops <= 0.0 {
                // Nothing to compute (a SkipW step outside the window's selection): done at once.
                self.step_finished(now, stream);
                continue;
            }
            // Parameters: one block per model (changing a threshold, K or width loads nothing).
            let ready_at = match self.memory.as_mut() {
                None => None,
                Some(memory) => {
                    let block = ((state.setup.bank_key as u64) << 32) | setting.block as u64;
                    match memory.access(now, block, setting.block_bytes) {
                        Access::Hit => None,
                        Access::Pending(t) => Some(t),
                        Access::Load { ready_at, bytes } => {
                            state.memory_stats.loads += 1;
                            state.memory_stats.bytes_loaded += bytes;
                            Some(ready_at)
                        }
                    }
                }
            };
            match ready_at {
                Some(t) if t > now => {
                    // Waiting is counted up to the end of the run.
                    state.memory_stats.wait_s += t.min(self.horizon).saturating_sub(now).as_secs_f64();
                    queue.schedule(t, Event::ParamsLoaded { stream });
                }
                _ => self.submit_step(now, stream, queue),
            }
            return;
        }
    }

    /// Hands the stream's pending step to the node.
    fn submit_step(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        let owner = self.owner_of_stream(stream);
        let state = &mut self.streams[stream];
        let running = state.running.as_ref().expect("a step to submit");
        let id = self.ids.id(JobOwner::Step { stream, number: state.jobs_submitted });
        state.jobs_submitted += 1;
        let job = JobSpec {
            id,
            class: owner,
            work: running.flops,
            weight: state.setup.spec.weight,
            priority: state.setup.spec.priority,
            deadline: Some(running.deadline),
        };
        self.node.submit(now, job);
        self.node_changed(queue);
    }

    fn step_finished(&mut self, now: SimTime, stream: usize) {
        let state = &mut self.streams[stream];
        let running = state.running.take().expect("a finished stream job has a running step");
        let model = Arc::clone(&state.setup.model);
        let step = (running.frame % state.steps as u64) as usize;
        let sequence = running.frame / state.steps as u64;
        let dataset_index = state.order[sequence as usize];
        let x = running.updates.then(|| state.setup.dataset.frame(dataset_index, step));
        model.step(running.model, x, &mut state.flex);
        state.current_model = Some(running.model);
        state.steps_per_model[running.model] += 1;
        let release = Self::release_of(state, running.frame);
        let deadline = release.saturating_add(state.setup.spec.deadline);
        state.last_latency_s = Some(now.saturating_sub(release).as_secs_f64());
        let record = StepRecord {
            stream,
            sequence,
            step: step as u32,
            release,
            start: Some(running.start),
            end: Some(now),
            deadline,
            missed: now > deadline,
            skipped: false,
            unfinished: false,
            model: Some(running.model),
            updated: running.updates,
            flops: running.flops,
        };
        self.recorder.step(&record);
        if step + 1 == state.steps {
            self.finish_sequence(now, stream, running.frame);
        }
    }

    fn finish_sequence(&mut self, now: SimTime, stream: usize, last_frame: u64) {
        let state = &mut self.streams[stream];
        let sequence = last_frame / state.steps as u64;
        let first_release = Self::release_of(state, sequence * state.steps as u64);
        let dataset_index = state.order[sequence as usize];
        let prediction = state.setup.model.predict(&mut state.flex);
        // The counts vector is lent to the record and taken back: no allocation per sequence.
        let record = SequenceRecord {
            stream,
            sequence,
            dataset_index,
            label: state.setup.dataset.labels[dataset_index],
            prediction,
            steps_per_model: std::mem::take(&mut state.steps_per_model),
            skipped_steps: state.skipped_in_sequence,
            first_release,
            end: now,
        };
        self.recorder.sequence(&record);
        self.streams[stream].steps_per_model = record.steps_per_model;
    }

    /// Records job `job` of background process `process` as ended at `end` (finished, or cut off by
    /// its process switching off) after `served` FLOPs.
    fn record_background_job(&mut self, process: usize, job: InFlight, end: SimTime, served: f64) {
        let deadline = self.background[process].spec.deadline.map(|d| job.release.saturating_add(d));
        self.recorder.job(&JobRecord {
            process,
            job: job.job_number,
            release: job.release,
            end,
            deadline,
            work: served,
        });
    }

    fn jobs_finished(&mut self, now: SimTime, version: u64, queue: &mut EventQueue<Event>) {
        if version != self.node_version {
            return;
        }
        let mut finished = std::mem::take(&mut self.finished);
        finished.clear();
        self.node.take_completed(now, &mut finished);
        self.node_changed(queue);
        for done in &finished {
            match self.ids.owner(done.id) {
                JobOwner::Background { process, slot } => {
                    let state = &mut self.background[process];
                    let slot = slot as usize;
                    let job = state.in_flight[slot].take().expect("a finished background job is in flight");
                    state.free_slots.push(slot);
                    self.record_background_job(process, job, now, done.served);
                }
                JobOwner::Stage { stream, slot } => self.stage_finished(now, stream, slot as usize, queue),
                JobOwner::Step { stream, .. } => self.step_finished(now, stream),
            }
        }
        for done in &finished {
            if let JobOwner::Step { stream, .. } | JobOwner::Stage { stream, .. } = self.ids.owner(done.id) {
                self.start_next_step(now, stream, queue);
            }
        }
        self.finished = finished;
    }
}

impl<R: Recorder> Model for EdgeWorld<R> {
    type Event = Event;

    /// Same-instant contract (ARCHITECTURE.md): the node's completions and timers due at `now` are
    /// handled before any other event at `now`, whatever the order the events were scheduled in — a
    /// job whose work is done at `t` ends at `t`, before arrivals, preemptions, and deadline checks
    /// at `t` see it.
    fn handle(&mut self, now: SimTime, event: Event, queue: &mut EventQueue<Event>) {
        if !matches!(event, Event::NodeJobsFinished { .. }) && self.node_due.is_some_and(|due| due <= now) {
            self.jobs_finished(now, self.node_version, queue);
        }
        match event {
            Event::JobReleased { process } => self.job_released(now, process, queue),
            Event::ProcessToggled { process } => self.process_toggled(now, process, queue),
            Event::FrameReleased { stream } => self.frame_released(now, stream, queue),
            Event::NodeJobsFinished { version } => self.jobs_finished(now, version, queue),
            Event::ParamsLoaded { stream } => self.submit_step(now, stream, queue),
            Event::FrameDeadlinePassed { stream } => self.start_next_step(now, stream, queue),
        }
    }
}

/// The options a stream's policy chooses among: one per setting of `model`, in its order.
pub(crate) fn model_options(model: &FlexibleModel) -> Vec<ModelOption> {
    model
        .settings()
        .iter()
        .map(|setting| ModelOption {
            name: setting.name.clone(),
            hidden: setting.hidden,
            // What a step costs on average under this setting (for families whose gate may
            // skip, the card's mean; otherwise an update).
            flops_per_step: setting.expected_flops_per_step.map_or(setting.flops_per_update, |f| f.round() as u64),
            // SkipW reads at most K of every window: the worst case `budget` charges.
            window_limit: match setting.knobs {
                crate::rnn::flex::Knobs::SkipW { k, .. } => Some(crate::policy::WindowLimit {
                    window: setting.window,
                    k,
                    flops_per_processed_step: setting.flops_per_update,
                    flops_window_gate: setting.flops_per_window,
                }),
                _ => None,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{top_probability, JobIds, JobOwner};

    /// The node breaks ties by id, so ids must order as the 16-bit layout they replace did:
    /// (owner index, steps before stages, number). Any owner count fits; each id maps back.
    #[test]
    fn job_ids_round_trip_and_sort_by_owner_kind_number() {
        for (n_background, n_streams) in [(0, 1), (1, 0), (2, 3), (65_536, 2), (70_000, 1), (1 << 31, 1 << 31)] {
            let ids = JobIds::new(n_background, n_streams).expect("at most 2^32 owners");
            let last_stream = n_streams.saturating_sub(1);
            let owners = [
                (n_background > 0).then_some(JobOwner::Background { process: 0, slot: 0 }),
                (n_background > 0).then_some(JobOwner::Background { process: 0, slot: 5 }),
                (n_background > 0).then(|| JobOwner::Background { process: n_background - 1, slot: 1 << 30 }),
                (n_streams > 0).then_some(JobOwner::Step { stream: 0, number: 7 }),
                (n_streams > 0).then_some(JobOwner::Stage { stream: 0, slot: 0 }),
                (n_streams > 0).then_some(JobOwner::Step { stream: last_stream, number: (1 << 30) + 3 }),
                (n_streams > 0).then_some(JobOwner::Stage { stream: last_stream, slot: 2 }),
            ];
            let owners: Vec<JobOwner> = owners.into_iter().flatten().collect();
            let id_list: Vec<_> = owners.iter().map(|&o| ids.id(o)).collect();
            for (&owner, &id) in owners.iter().zip(&id_list) {
                assert_eq!(ids.owner(id), owner);
            }
            let key = |owner: JobOwner| match owner {
                JobOwner::Background { process, slot } => (process, 0, slot),
                JobOwner::Step { stream, number } => (n_background + stream, 0, number),
                JobOwner::Stage { stream, slot } => (n_background + stream, 1, slot),
            };
            for (a, b) in owners.iter().flat_map(|a| owners.iter().map(move |b| (a, b))) {
                assert_eq!(ids.id(*a).cmp(&ids.id(*b)), key(*a).cmp(&key(*b)), "{a:?} vs {b:?}");
            }
        }
        assert!(JobIds::new(1 << 32, 1).is_none());
    }

    #[test]
    fn top_probability_is_the_largest_softmax_entry() {
        // softmax(ln 3, 0, 0) = (3/5, 1/5, 1/5).
        assert!((top_probability(&[3f32.ln(), 0.0, 0.0]) - 0.6).abs() < 1e-7);
        assert!((top_probability(&[0.0, 0.0]) - 0.5).abs() < 1e-12);
    }
}
