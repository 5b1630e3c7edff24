//! Background processes in the world: each one's [`Source`] says when it releases work or changes
//! state; the engine schedules that, puts the released jobs on the node, and records them when they
//! end (`JobReleased`, `ProcessToggled`, and background completions of `NodeJobsFinished`).

use crate::metrics::{JobRecord, Recorder};
use crate::node::{JobId, JobSpec};
use crate::sim::{EventQueue, SimTime};
use crate::workload::{process_rng, BackgroundSpec, Change, Source, SourceEvent};

use super::ids::JobOwner;
use super::{schedule_release, BuildError, EdgeWorld, Event};

/// A background job on the node: its number within its process and its release time.
pub(super) struct InFlight {
    pub(super) job_number: u64,
    pub(super) release: SimTime,
}

/// One background process during a run: its description, its source, and its jobs on the node.
pub(super) struct BackgroundState {
    pub(super) spec: BackgroundSpec,
    pub(super) source: Source,
    /// Jobs released so far (the next job's number).
    pub(super) jobs_released: u64,
    /// Jobs on the node by slot (an on/off process: its one job in slot 0).
    pub(super) in_flight: Vec<Option<InFlight>>,
    pub(super) free_slots: Vec<usize>,
    /// The job of an on/off process while it is on.
    pub(super) on_job: Option<JobId>,
    /// The device its jobs run on.
    pub(super) device: usize,
}

impl BackgroundState {
    /// The process of `spec` running on device `device` (of `cores` cores of `core_speed` FLOP/s) in
    /// a run with scenario seed `seed`, and its first event (drawn from its random stream).
    ///
    /// # Errors
    /// [`BuildError::Parameter`] naming the process for parameters its source cannot run with.
    pub(super) fn new(
        spec: BackgroundSpec,
        device: usize,
        seed: u64,
        cores: usize,
        core_speed: f64,
    ) -> Result<(BackgroundState, Option<SourceEvent>), BuildError> {
        let rng = process_rng(seed, &spec.name);
        let mut source = Source::new(&spec.kind, rng, cores, core_speed)
            .map_err(|e| BuildError::Parameter { process: spec.name.clone(), message: e.0 })?;
        let first = source.first_event();
        let state = BackgroundState {
            spec,
            source,
            jobs_released: 0,
            in_flight: Vec::with_capacity(64),
            free_slots: Vec::with_capacity(64),
            on_job: None,
            device,
        };
        Ok((state, first))
    }
}

/// The event that makes background process `process` do what its source named.
pub(super) fn source_event(process: usize, next: SourceEvent) -> (SimTime, Event) {
    match next {
        SourceEvent::Release(t) => (t, Event::JobReleased { process }),
        SourceEvent::StateChange(t) => (t, Event::ProcessToggled { process }),
    }
}

impl<R: Recorder> EdgeWorld<R> {
    /// Schedules what background process `process`'s source does next, if it falls in the run.
    fn schedule_source_event(&self, process: usize, next: Option<SourceEvent>, queue: &mut EventQueue<Event>) {
        if let Some(next) = next {
            let (t, event) = source_event(process, next);
            schedule_release(queue, self.horizon, t, event);
        }
    }

    /// `JobReleased`: the source releases its jobs at `now` (one for Poisson, periodic, MMPP and a
    /// jobs trace's row, `⌈u × cores⌉` for a utilisation trace's chunk); they go on the node and the
    /// source's next event is scheduled.
    pub(super) fn job_released(&mut self, now: SimTime, process: usize, queue: &mut EventQueue<Event>) {
        let released = self.background[process].source.release(now);
        for _ in 0..released.jobs {
            self.submit_background_job(now, process, released.work_per_job);
        }
        if released.jobs > 0 {
            self.node_changed(self.background[process].device, queue);
        }
        self.schedule_source_event(process, released.next, queue);
    }

    /// `ProcessToggled`: the source changes state at `now`. An on/off process turning on puts its job
    /// of unbounded work on the node; turning off ends and records it; an MMPP state change touches
    /// nothing on the node. The source's next event is scheduled.
    pub(super) fn process_toggled(&mut self, now: SimTime, process: usize, queue: &mut EventQueue<Event>) {
        let changed = self.background[process].source.change_state(now);
        match changed.change {
            Change::TurnedOn => {
                self.start_on_job(now, process);
                self.node_changed(self.background[process].device, queue);
            }
            Change::TurnedOff => {
                self.end_on_job(now, process);
                self.node_changed(self.background[process].device, queue);
            }
            Change::Moved { .. } | Change::Unchanged => {}
        }
        self.schedule_source_event(process, changed.next, queue);
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
        self.nodes[state.device].submit(now, job);
    }

    /// An on/off process turned on at `now`: its job of unbounded work goes on the node (its id's
    /// slot is its job number; it is recorded in slot 0).
    fn start_on_job(&mut self, now: SimTime, process: usize) {
        let state = &mut self.background[process];
        let job_number = state.jobs_released;
        state.jobs_released += 1;
        let id = self.ids.id(JobOwner::Background { process, slot: job_number });
        state.on_job = Some(id);
        state.in_flight.clear();
        state.in_flight.push(Some(InFlight { job_number, release: now }));
        let job = JobSpec {
            id,
            class: process,
            work: f64::INFINITY,
            weight: state.spec.weight,
            priority: state.spec.priority,
            deadline: state.spec.deadline.map(|d| now.saturating_add(d)),
        };
        self.nodes[state.device].submit(now, job);
    }

    /// An on/off process turned off at `now`: its job leaves the node and is recorded with the work
    /// it was served.
    fn end_on_job(&mut self, now: SimTime, process: usize) {
        let state = &mut self.background[process];
        let Some(id) = state.on_job.take() else { return };
        let started = state.in_flight[0].take().expect("an on process has its job recorded");
        let served = self.nodes[state.device].cancel(now, id).map_or(0.0, |f| f.served);
        self.record_background_job(process, started, now, served);
    }

    /// A background job in slot `slot` of process `process` finished at `now` after `served` FLOPs.
    pub(super) fn background_job_finished(&mut self, now: SimTime, process: usize, slot: usize, served: f64) {
        let state = &mut self.background[process];
        let job = state.in_flight[slot].take().expect("a finished background job is in flight");
        state.free_slots.push(slot);
        self.record_background_job(process, job, now, served);
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

    /// Reports the background jobs still on the node at the end of the run
    /// ([`Recorder::job_unfinished`]).
    pub(super) fn record_unfinished_jobs(&mut self) {
        for (process, state) in self.background.iter().enumerate() {
            for job in state.in_flight.iter().flatten() {
                self.recorder.job_unfinished(process, job.job_number, job.release);
            }
        }
    }
}
