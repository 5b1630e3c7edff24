//! The edge-node world: background processes and RNN streams sharing one [`Node`], driven by the
//! kernel's event loop. This is where the node, the workloads, the networks and the policies meet;
//! each of them stays ignorant of the others.
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
        let node =
            Node::with_discipline(setup.discipline, setup.cores, setup.core_speed, classes, setup.bin, setup.horizon)?;
        let mut queue = EventQueue::with_capacity(64);
        let mut background = Vec::with_capacity(setup.background.len());
        for (process, spec) in setup.background.into_iter().enumerate() {
            let (state, first) = BackgroundState::new(spec, setup.seed, setup.cores, setup.core_speed)?;
            if let Some(first) = first {
                let (t, event) = source_event(process, first);
                schedule_release(&mut queue, setup.horizon, t, event);
            }
            background.push(state);
        }
        let mut streams = Vec::with_capacity(setup.streams.len());
        for (stream, stream_setup) in setup.streams.into_iter().enumerate() {
            let state = StreamState::new(stream_setup, setup.seed, setup.horizon)?;
            if let Some(first) = state.first_release(setup.horizon) {
                queue.schedule(first, Event::FrameReleased { stream });
            }
            streams.push(state);
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
        world.record_unfinished_jobs();
        world.record_unfinished_steps(horizon);
        let policy_names = world.streams.iter().map(|s| s.setup.policy.name()).collect();
        let memory = world.streams.iter().map(|s| s.memory_stats).collect();
        Ok(RunOutcome { recorder: world.recorder, node: world.node, events, policy_names, memory })
    }

    /// The node's accounting class of stream `stream` (see [`accounting_class`]).
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

    /// `NodeJobsFinished`: takes the node's jobs due at `now` (if `version` is current) and hands each
    /// to its owner in the node's order; then every stream that had a step or stage finish starts its
    /// next step.
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
