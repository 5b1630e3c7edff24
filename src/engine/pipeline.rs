//! Pipeline stages of a stream's frames: the stage jobs a frame runs before its RNN step, their
//! order, and the drops of late frames' stages (`FrameDeadlinePassed`, stage completions of
//! `NodeJobsFinished`).

use std::collections::VecDeque;

use crate::metrics::Recorder;
use crate::node::{JobId, JobSpec};
use crate::sim::{EventQueue, SimTime};
use crate::workload::{OnMiss, ProcessRng, WorkSampler};

use super::ids::JobOwner;
use super::{EdgeWorld, Event};

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
    /// The node's device each stage runs on, by name (`None`: the first device).
    pub devices: Vec<Option<String>>,
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

/// A stream's pipeline state during a run: the frames' progress and their stage jobs on the node.
pub(super) struct Stages {
    /// Pipeline state of the frames in the stream's queue, front = oldest.
    pipes: VecDeque<FramePipe>,
    pipe_pool: Vec<FramePipe>,
    /// Stage jobs on the node: (frame, stage) by slot.
    stage_slots: Vec<Option<(u64, usize)>>,
    free_stage_slots: Vec<usize>,
    successors: Vec<Vec<usize>>,
    is_sink: Vec<bool>,
    /// The device each stage runs on.
    devices: Vec<usize>,
    /// The stages' work is drawn from this stream (`<stream name>/pipeline`).
    rng: ProcessRng,
}

impl Stages {
    /// The state for `pipeline` (none: a stream without stages) whose stage `k` runs on device
    /// `devices[k]`, drawing stage work from `rng`.
    pub(super) fn new(pipeline: Option<&Pipeline>, devices: Vec<usize>, rng: ProcessRng) -> Stages {
        let n_stages = pipeline.map_or(0, |p| p.names.len());
        let mut successors = vec![Vec::new(); n_stages];
        if let Some(pipeline) = pipeline {
            for (stage, preds) in pipeline.after.iter().enumerate() {
                for &p in preds {
                    successors[p].push(stage);
                }
            }
        }
        let is_sink: Vec<bool> = successors.iter().map(|s| s.is_empty()).collect();
        Stages {
            pipes: VecDeque::with_capacity(64),
            pipe_pool: Vec::new(),
            stage_slots: Vec::with_capacity(64),
            free_stage_slots: Vec::with_capacity(64),
            successors,
            is_sink,
            devices,
            rng,
        }
    }

    /// Index into `pipes` of `frame`'s pipe.
    fn index_of(&self, frame: u64) -> usize {
        (frame - self.pipes.front().expect("the frame's pipe exists").frame) as usize
    }
}

impl<R: Recorder> EdgeWorld<R> {
    /// A pipelined frame was released at `now`: its progress is tracked, its deadline check is
    /// scheduled under `on_miss: skip` (if the deadline falls in the run), and its root stages start.
    pub(super) fn open_frame_pipe(&mut self, now: SimTime, stream: usize, frame: u64, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        let Some(pipeline) = &state.setup.pipeline else { return };
        let n = pipeline.names.len();
        let stages = &mut state.stages;
        let mut pipe = stages.pipe_pool.pop().unwrap_or_else(|| FramePipe {
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
        pipe.sinks_left = stages.is_sink.iter().filter(|&&sink| sink).count() as u32;
        stages.pipes.push_back(pipe);
        if state.setup.spec.on_miss == OnMiss::Skip {
            let deadline = state.deadline_of(frame);
            if deadline <= self.horizon {
                queue.schedule(deadline, Event::FrameDeadlinePassed { stream });
            }
        }
        for stage in 0..n {
            if self.streams[stream].stages.pipes.back().expect("just pushed").pending[stage] == 0 {
                self.start_stage(now, stream, frame, stage, queue);
            }
        }
    }

    /// Submits stage `stage` of `frame` to the node (draws its work).
    fn start_stage(&mut self, now: SimTime, stream: usize, frame: u64, stage: usize, queue: &mut EventQueue<Event>) {
        let owner = self.owner_of_stream(stream);
        let state = &mut self.streams[stream];
        let pipeline = state.setup.pipeline.as_ref().expect("a stream with stages");
        let stages = &mut state.stages;
        let work = pipeline.work[stage].sample(&mut stages.rng);
        let slot = match stages.free_stage_slots.pop() {
            Some(slot) => {
                stages.stage_slots[slot] = Some((frame, stage));
                slot
            }
            None => {
                stages.stage_slots.push(Some((frame, stage)));
                stages.stage_slots.len() - 1
            }
        };
        let id = self.ids.id(JobOwner::Stage { stream, slot: slot as u64 });
        let index = stages.index_of(frame);
        stages.pipes[index].jobs[stage] = Some(id);
        let device = stages.devices[stage];
        let job = JobSpec {
            id,
            class: owner,
            work,
            weight: state.setup.spec.weight,
            priority: state.setup.spec.priority,
            deadline: Some(state.deadline_of(frame)),
        };
        self.nodes[device].submit(now, job);
        self.node_changed(device, queue);
    }

    /// A stage job in slot `slot` ended at `now`: start the successors it unblocks.
    pub(super) fn stage_finished(&mut self, now: SimTime, stream: usize, slot: usize, queue: &mut EventQueue<Event>) {
        let stages = &mut self.streams[stream].stages;
        let Some((frame, stage)) = stages.stage_slots[slot].take() else { return };
        stages.free_stage_slots.push(slot);
        let index = stages.index_of(frame);
        stages.pipes[index].jobs[stage] = None;
        if stages.is_sink[stage] {
            stages.pipes[index].sinks_left -= 1;
        }
        for k in 0..stages.successors[stage].len() {
            let stages = &mut self.streams[stream].stages;
            let next = stages.successors[stage][k];
            let pipe = &mut stages.pipes[index];
            pipe.pending[next] -= 1;
            if pipe.pending[next] == 0 {
                self.start_stage(now, stream, frame, next, queue);
            }
        }
    }

    /// Removes the front frame's pipeline state, cancelling stages still on the node (they feed only
    /// that frame).
    pub(super) fn drop_front_pipe(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        let stages = &mut self.streams[stream].stages;
        let Some(mut pipe) = stages.pipes.pop_front() else { return };
        let mut cancelled = false;
        for (stage, job) in pipe.jobs.iter_mut().enumerate() {
            if let Some(id) = job.take() {
                let device = stages.devices[stage];
                self.nodes[device].cancel(now, id);
                self.touched[device] = true;
                let JobOwner::Stage { slot, .. } = self.ids.owner(id) else { unreachable!("pipes hold stage jobs") };
                let slot = slot as usize;
                stages.stage_slots[slot] = None;
                stages.free_stage_slots.push(slot);
                cancelled = true;
            }
        }
        stages.pipe_pool.push(pipe);
        if cancelled {
            for device in 0..self.touched.len() {
                if std::mem::take(&mut self.touched[device]) {
                    self.node_changed(device, queue);
                }
            }
        }
    }

    /// Settles the front frame's stages once its step is planned: a step that reads the frame
    /// (`updates`) needs every sink finished — `false` while some still run (`stage_finished` calls
    /// back when they are done) —; a step whose gate skips the frame does not need its features, so
    /// its stages stop. `true`: the step may start. Streams without stages: always `true`.
    pub(super) fn settle_front_pipe(
        &mut self,
        now: SimTime,
        stream: usize,
        updates: bool,
        queue: &mut EventQueue<Event>,
    ) -> bool {
        let state = &mut self.streams[stream];
        if state.setup.pipeline.is_none() {
            return true;
        }
        if !updates {
            self.drop_front_pipe(now, stream, queue);
            return true;
        }
        let stages = &mut state.stages;
        if stages.pipes.front().is_some_and(|pipe| pipe.sinks_left > 0) {
            return false;
        }
        let pipe = stages.pipes.pop_front().expect("a pipelined frame has a pipe");
        stages.pipe_pool.push(pipe);
        true
    }
}
