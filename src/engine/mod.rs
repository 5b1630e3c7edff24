//! The edge-node world: background processes and RNN streams sharing the node's devices — one
//! [`Node`] per device (a CPU, a GPU, …), each with its own cores and scheduler —, driven by the
//! kernel's event loop. This is where the node, the workloads, the networks and the policies meet;
//! each of them stays ignorant of the others.
//!
//! Every job goes to the device its owner names: a background process's jobs to its device, a
//! stream's RNN steps to the stream's device, each pipeline stage to the stage's. Each device
//! schedules its own completions (`NodeJobsFinished { device, .. }`); whichever device a job ends
//! on, the same handlers run. At an instant, the completions of every device due then are taken
//! first (devices in order, each in ascending job id), then handled in that order.
//!
//! The world is split by lifecycle: `background` (each process's [`crate::workload::Source`] says
//! what it does next; the engine schedules it and puts the work on the node), `stream` (frames,
//! the policy's choice, RNN steps, sequences), `pipeline` (a frame's stages before its step, and
//! their drops), `ids` (whose a node job is). This file holds the world, its construction, and the
//! dispatch of each [`Event`] to its handler.
//!
//! Per event nothing is allocated: job bookkeeping uses slabs with free lists, the hidden states and
//! scratch buffers are allocated once per stream, and the frame queue is preallocated.

mod background;
mod cost;
mod ids;
mod pipeline;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::data::SequenceSet;
use crate::metrics::Recorder;
use crate::node::memory::ParamMemory;
use crate::node::{Discipline, FinishedJob, Node};
use crate::policy::{ModelOption, Policy};
use crate::rnn::flex::FlexibleModel;
use crate::sim::{EventQueue, Model, SimTime, Simulation};
use crate::workload::profile::StepCost;
use crate::workload::{BackgroundSpec, StreamSpec};

use background::{source_event, BackgroundState};
use ids::{JobIds, JobOwner};
pub use pipeline::Pipeline;
pub use stream::MemoryStats;
use stream::StreamState;

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
    /// Background process `process` releases work: a job (Poisson, periodic, MMPP, a jobs trace's row)
    /// or a utilisation trace's chunk of jobs ([`crate::workload::SourceEvent::Release`]).
    JobReleased {
        /// Background process index.
        process: usize,
    },
    /// Background process `process` switches on or off (on/off), or changes state (MMPP)
    /// ([`crate::workload::SourceEvent::StateChange`]).
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
    /// The earliest job of device `device` finishes (stale if `version` is not the device's current
    /// version).
    NodeJobsFinished {
        /// Device index (in [`WorldSetup::devices`]).
        device: usize,
        /// The device's state version when scheduled.
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
    /// What its steps cost: FLOPs, or durations drawn from a measured profile.
    pub cost: StepCost,
}

/// One device of the node: a pool of identical cores under one discipline (a [`Node`] of its own).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSetup {
    /// Its name, as processes, stages and streams name it.
    pub name: String,
    /// Scheduling discipline.
    pub discipline: Discipline,
    /// Cores.
    pub cores: usize,
    /// Speed of one core, FLOP/s.
    pub core_speed: f64,
}

impl DeviceSetup {
    /// A device named `name` of `cores` cores of `core_speed` FLOP/s under `discipline`.
    pub fn new(name: impl Into<String>, discipline: Discipline, cores: usize, core_speed: f64) -> DeviceSetup {
        DeviceSetup { name: name.into(), discipline, cores, core_speed }
    }
}

/// Everything a run needs.
pub struct WorldSetup {
    /// Scenario seed.
    pub seed: u64,
    /// The node's devices (at least one); the first is the default of every process naming none.
    pub devices: Vec<DeviceSetup>,
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

/// Schedules a release — a job, a frame, an on/off or MMPP switch, a trace row — at `t` if it falls in
/// the run, the half-open interval [0, `horizon`): the one place that rule is applied.
fn schedule_release(queue: &mut EventQueue<Event>, horizon: SimTime, t: SimTime, event: Event) {
    if t < horizon {
        queue.schedule(t, event);
    }
}

/// The simulated edge node and its workloads; implements the kernel's [`Model`].
pub struct EdgeWorld<R: Recorder> {
    /// One node per device.
    nodes: Vec<Node>,
    /// Each device's current version (of its pending `NodeJobsFinished`).
    node_versions: Vec<u64>,
    /// The last version given to any device.
    last_version: u64,
    /// When each device's next completion or timer is due (the time of its current
    /// `NodeJobsFinished` event), if any.
    node_due: Vec<Option<SimTime>>,
    /// Scratch: which devices a batch of cancellations touched (one flag per device).
    touched: Vec<bool>,
    horizon: SimTime,
    background: Vec<BackgroundState>,
    streams: Vec<StreamState>,
    recorder: R,
    finished: Vec<FinishedJob>,
    memory: Option<ParamMemory>,
    ids: JobIds,
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
    /// One node per device, in the setup's order (usage accounting).
    pub nodes: Vec<Node>,
    /// Events handled.
    pub events: u64,
    /// Names of each stream's policy.
    pub policy_names: Vec<String>,
    /// Parameter loads per stream.
    pub memory: Vec<MemoryStats>,
}

impl<R> RunOutcome<R> {
    /// The first device's node (the whole node when it has one device).
    pub fn node(&self) -> &Node {
        &self.nodes[0]
    }
}

impl<R: Recorder> EdgeWorld<R> {
    /// Builds the world and its initial events: each background process's first event (in process
    /// order, each drawn from its own stream), then each stream's first frame.
    ///
    /// # Errors
    /// [`BuildError`] for invalid node or workload parameters.
    pub fn build(setup: WorldSetup, recorder: R) -> Result<(EdgeWorld<R>, EventQueue<Event>), BuildError> {
        let classes = (setup.background.len() + setup.streams.len()).max(1);
        let ids = JobIds::new(setup.background.len(), setup.streams.len()).ok_or_else(|| BuildError::Parameter {
            process: "processes".into(),
            message: format!("at most {} processes per scenario, got {classes}", JobIds::MAX_OWNERS),
        })?;
        if setup.devices.is_empty() {
            return Err(BuildError::Parameter { process: "node".into(), message: "the node has no device".into() });
        }
        let nodes = setup
            .devices
            .iter()
            .map(|d| Node::with_discipline(d.discipline, d.cores, d.core_speed, classes, setup.bin, setup.horizon))
            .collect::<Result<Vec<_>, _>>()?;
        let device_of = |process: &str, name: Option<&str>| -> Result<usize, BuildError> {
            match name {
                None => Ok(0),
                Some(name) => setup.devices.iter().position(|d| d.name == name).ok_or_else(|| {
                    let known: Vec<String> = setup.devices.iter().map(|d| format!("`{}`", d.name)).collect();
                    BuildError::Parameter {
                        process: process.to_string(),
                        message: format!("device `{name}` is not a device of the node; devices: {}", known.join(", ")),
                    }
                }),
            }
        };
        let mut queue = EventQueue::with_capacity(64);
        let mut background = Vec::with_capacity(setup.background.len());
        for (process, spec) in setup.background.into_iter().enumerate() {
            let device = device_of(&spec.name, spec.device.as_deref())?;
            let (cores, speed) = (setup.devices[device].cores, setup.devices[device].core_speed);
            let (state, first) = BackgroundState::new(spec, device, setup.seed, cores, speed)?;
            if let Some(first) = first {
                let (t, event) = source_event(process, first);
                schedule_release(&mut queue, setup.horizon, t, event);
            }
            background.push(state);
        }
        let mut streams = Vec::with_capacity(setup.streams.len());
        for (stream, stream_setup) in setup.streams.into_iter().enumerate() {
            let name = stream_setup.spec.name.clone();
            let device = device_of(&name, stream_setup.spec.device.as_deref())?;
            let stage_devices = match &stream_setup.pipeline {
                None => Vec::new(),
                Some(pipeline) => {
                    pipeline.devices.iter().map(|d| device_of(&name, d.as_deref())).collect::<Result<Vec<_>, _>>()?
                }
            };
            let speed = setup.devices[device].core_speed;
            let state = StreamState::new(stream_setup, device, stage_devices, setup.seed, setup.horizon, speed)?;
            if let Some(first) = state.first_release(setup.horizon) {
                queue.schedule(first, Event::FrameReleased { stream });
            }
            streams.push(state);
        }
        let memory = setup.memory.map(|(capacity, bandwidth)| ParamMemory::new(capacity, bandwidth));
        let n_devices = nodes.len();
        let world = EdgeWorld {
            memory,
            nodes,
            node_versions: vec![0; n_devices],
            last_version: 0,
            node_due: vec![None; n_devices],
            touched: vec![false; n_devices],
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
        for node in &mut world.nodes {
            node.advance(horizon);
        }
        world.record_unfinished_jobs();
        world.record_unfinished_steps(horizon);
        let policy_names = world.streams.iter().map(|s| s.setup.policy.name()).collect();
        let memory = world.streams.iter().map(|s| s.memory_stats).collect();
        Ok(RunOutcome { recorder: world.recorder, nodes: world.nodes, events, policy_names, memory })
    }

    /// The accounting class of stream `stream` on every device (see [`accounting_class`]).
    fn owner_of_stream(&self, stream: usize) -> usize {
        self.background.len() + stream
    }

    /// After any change of device `device`'s job set, schedules its next completion under a new
    /// version — unless it is due when the pending one is: that event is still in the queue (after
    /// `take_completed` at `t` a device is never due at `t` again, so a pending due time is one not
    /// yet reached), and a second one at the same time would only be a stale event to pop (a FIFO
    /// or priority arrival behind busy cores changes nothing that is due).
    fn node_changed(&mut self, device: usize, queue: &mut EventQueue<Event>) {
        let due = self.nodes[device].next_event();
        if due.is_some() && due == self.node_due[device] {
            return;
        }
        self.last_version += 1;
        self.node_versions[device] = self.last_version;
        self.node_due[device] = due;
        if let Some(t) = due {
            queue.schedule(t, Event::NodeJobsFinished { device, version: self.last_version });
        }
    }

    /// Whether some device's completion or timer is due at or before `now`.
    fn any_device_due(&self, now: SimTime) -> bool {
        self.node_due.iter().any(|due| due.is_some_and(|due| due <= now))
    }

    /// Takes the jobs of every device due at `now` (devices in order, each device's in ascending id)
    /// and hands each to its owner in that order; then every stream that had a step or stage finish
    /// starts its next step. Every device's completions are taken before any handler runs, so a
    /// handler that submits to another device at `now` finds that device's finished jobs gone (the
    /// node's same-instant contract).
    fn jobs_finished(&mut self, now: SimTime, queue: &mut EventQueue<Event>) {
        let mut finished = std::mem::take(&mut self.finished);
        finished.clear();
        for device in 0..self.nodes.len() {
            if self.node_due[device].is_some_and(|due| due <= now) {
                self.nodes[device].take_completed(now, &mut finished);
                self.node_changed(device, queue);
            }
        }
        for done in &finished {
            match self.ids.owner(done.id) {
                JobOwner::Background { process, slot } => {
                    self.background_job_finished(now, process, slot as usize, done.served)
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
    ///
    /// A `NodeJobsFinished` event does nothing itself: its device's completions (if it is current)
    /// are due at `now`, so they are taken here with those of every other device due at `now`; a
    /// stale one finds nothing due, or completions another event at `now` would take first anyway.
    fn handle(&mut self, now: SimTime, event: Event, queue: &mut EventQueue<Event>) {
        if self.any_device_due(now) {
            self.jobs_finished(now, queue);
        }
        match event {
            Event::JobReleased { process } => self.job_released(now, process, queue),
            Event::ProcessToggled { process } => self.process_toggled(now, process, queue),
            Event::FrameReleased { stream } => self.frame_released(now, stream, queue),
            Event::NodeJobsFinished { .. } => {}
            Event::ParamsLoaded { stream } => self.submit_step(now, stream, queue),
            Event::FrameDeadlinePassed { stream } => self.start_next_step(now, stream, queue),
        }
    }
}

/// The options a stream's policy chooses among under cost model `cost` at core speed `speed`
/// (FLOP/s): one per setting of `model`, in its order, with their expected costs (see
/// `engine::cost`).
///
/// # Errors
/// A profile that lacks a setting or operation the stream may run: the message names the file and
/// the setting.
pub(crate) fn model_options(model: &FlexibleModel, cost: &StepCost, speed: f64) -> Result<Vec<ModelOption>, String> {
    let unused = crate::workload::process_rng(0, "options");
    Ok(cost::CostTable::new(model, cost, speed, unused)?.options(model))
}
