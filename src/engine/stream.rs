//! RNN streams in the world: frames released every period, one RNN step per frame planned and
//! chosen by the stream's policy, run on the node, and the sequence's prediction at its last frame
//! (`FrameReleased`, `FrameDeadlinePassed`, `ParamsLoaded`, and step completions of
//! `NodeJobsFinished`).

use std::collections::VecDeque;
use std::sync::Arc;

use rand::seq::SliceRandom;

use crate::metrics::{Recorder, SequenceRecord, StepRecord};
use crate::node::memory::Access;
use crate::node::JobSpec;
use crate::policy::{ModelOption, Observation};
use crate::rnn::flex::{FlexState, StepPlan};
use crate::sim::{EventQueue, SimTime};
use crate::workload::{process_rng, OnMiss};

use super::cost::CostTable;
use super::ids::JobOwner;
use super::pipeline::Stages;
use super::{schedule_release, BuildError, EdgeWorld, Event, StreamSetup};

/// The step a stream is running (on the node, or waiting for its parameters).
pub(super) struct RunningStep {
    pub(super) frame: u64,
    /// The setting it runs under.
    pub(super) model: usize,
    /// Whether it updates the state with the frame's input (false: the model's gate skips it).
    updates: bool,
    pub(super) start: SimTime,
    pub(super) flops: f64,
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

/// One stream during a run: what it plays, its frame queue, its model's state and its policy's view.
pub(super) struct StreamState {
    pub(super) setup: StreamSetup,
    /// Data-set index of each sequence it plays, in play order.
    order: Vec<usize>,
    /// Frames per sequence.
    pub(super) steps: usize,
    total_frames: u64,
    next_frame: u64,
    /// Released frames not yet started, oldest first.
    pub(super) queue: VecDeque<u64>,
    pub(super) running: Option<RunningStep>,
    pub(super) current_model: Option<usize>,
    /// The model's state (hidden state, gate state, scratch), allocated once.
    flex: FlexState,
    logits: Vec<f32>,
    /// The setting chosen for the front frame while it waits for its pipeline stages (a policy is
    /// asked once per frame), and whether choosing it read the network's confidence (a readout the
    /// step is charged for when it starts).
    chosen: Option<(u64, usize, bool)>,
    options: Vec<ModelOption>,
    /// What its steps cost (FLOPs, or durations drawn from a profile).
    cost: CostTable,
    switch_flops: Vec<u64>,
    switch_matrix: Vec<u64>,
    steps_per_model: Vec<u32>,
    skipped_in_sequence: u32,
    last_latency_s: Option<f64>,
    jobs_submitted: u64,
    pub(super) memory_stats: MemoryStats,
    /// Its pipeline's state (empty without stages).
    pub(super) stages: Stages,
    /// The device its RNN steps run on (its policy observes that device's load).
    pub(super) device: usize,
}

impl StreamState {
    /// The stream of `stream` whose steps run on device `device` (cores of speed `core_speed`,
    /// FLOP/s) and whose pipeline stage `k` runs on `stage_devices[k]`, in a run with scenario seed
    /// `seed` and horizon `horizon`: draws the order of the sequences it plays from its random stream.
    ///
    /// # Errors
    /// [`BuildError::Parameter`] naming the stream for an empty pool, a zero period, a model whose
    /// inputs or classes differ from the data set's, or a cost profile that lacks a setting.
    pub(super) fn new(
        stream: StreamSetup,
        device: usize,
        stage_devices: Vec<usize>,
        seed: u64,
        horizon: SimTime,
        core_speed: f64,
    ) -> Result<StreamState, BuildError> {
        let mut rng = process_rng(seed, &stream.spec.name);
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
        let frames_in_horizon = horizon.saturating_sub(stream.spec.start).0.div_ceil(stream.spec.period.0);
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
        let cost =
            CostTable::new(model, &stream.cost, core_speed, process_rng(seed, &format!("{}/cost", stream.spec.name)))
                .map_err(bad)?;
        let options = cost.options(model);
        let n_models = options.len();
        let classes = model.classes();
        // Frames waiting at once can never exceed the frames released in one deadline window
        // plus the backlog; reserve generously so the queue does not grow during a run.
        let reserve = 1024.min(total_frames as usize);
        let switch_matrix = cost.switch_matrix(model);
        let stages = Stages::new(
            stream.pipeline.as_ref(),
            stage_devices,
            process_rng(seed, &format!("{}/pipeline", stream.spec.name)),
        );
        let flex = model.new_state();
        Ok(StreamState {
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
            cost,
            switch_flops: vec![0; n_models],
            switch_matrix,
            steps_per_model: vec![0; n_models],
            skipped_in_sequence: 0,
            last_latency_s: None,
            jobs_submitted: 0,
            memory_stats: MemoryStats::default(),
            stages,
            device,
        })
    }

    /// The first frame's release, if the stream plays anything and starts before `horizon`.
    pub(super) fn first_release(&self, horizon: SimTime) -> Option<SimTime> {
        (self.total_frames > 0 && self.setup.spec.start < horizon).then_some(self.setup.spec.start)
    }

    /// Release time of `frame`: `start + frame·period`.
    pub(super) fn release_of(&self, frame: u64) -> SimTime {
        self.setup.spec.start.saturating_add(SimTime(self.setup.spec.period.0 * frame))
    }

    /// Deadline of `frame`: its release plus the stream's relative deadline.
    pub(super) fn deadline_of(&self, frame: u64) -> SimTime {
        self.release_of(frame).saturating_add(self.setup.spec.deadline)
    }

    /// The step of its sequence that `frame` is (0-based).
    pub(super) fn step_of(&self, frame: u64) -> usize {
        (frame % self.steps as u64) as usize
    }

    /// The front frame, if the stream is idle (no step running or waiting for parameters).
    fn idle_front_frame(&self) -> Option<u64> {
        match self.running {
            Some(_) => None,
            None => self.queue.front().copied(),
        }
    }

    /// Before the first frame of a sequence is first looked at: a fresh model state and counters.
    fn start_sequence_at(&mut self, frame: u64) {
        if self.step_of(frame) == 0 && self.chosen.is_none() {
            self.flex.reset();
            self.current_model = None;
            self.steps_per_model.iter_mut().for_each(|c| *c = 0);
            self.skipped_in_sequence = 0;
        }
    }

    /// Whether `frame` is dropped at `now`: under `on_miss: skip`, once its deadline has come.
    fn is_too_late(&self, now: SimTime, frame: u64) -> bool {
        self.setup.spec.on_miss == OnMiss::Skip && now >= self.deadline_of(frame)
    }

    /// The network's own confidence, if the policy asks for it and a model has run in this sequence:
    /// the top softmax probability of the current model's readout on the current state.
    fn confidence(&mut self) -> Option<f64> {
        match (self.setup.policy.needs_confidence(), self.current_model) {
            (true, Some(_)) => {
                self.setup.model.logits(&mut self.flex, &mut self.logits);
                Some(top_probability(&self.logits))
            }
            _ => None,
        }
    }

    /// The planned step of the front frame `frame` under setting `choice` becomes the running step,
    /// started at `now`, costing (under the stream's cost model, [`CostTable::step_work`]) the plan,
    /// plus the current model's readout if a confidence was computed for it, plus the chosen model's
    /// readout at a sequence's last step.
    fn begin_step(&mut self, now: SimTime, frame: u64, choice: usize, plan: StepPlan, confidence_read: bool) -> f64 {
        self.chosen = None;
        let confidence_of = confidence_read.then(|| self.current_model.expect("confidence needs a current model"));
        let last = self.step_of(frame) + 1 == self.steps;
        let flops = self.cost.step_work(&self.setup.model, choice, self.current_model, plan, confidence_of, last);
        self.queue.pop_front();
        let deadline = self.deadline_of(frame);
        self.running = Some(RunningStep { frame, model: choice, updates: plan.updates, start: now, flops, deadline });
        flops
    }
}

/// The largest softmax probability of `logits`: `1 / Σ_j exp(l_j − max l)`.
fn top_probability(logits: &[f32]) -> f64 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    1.0 / logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>()
}

impl<R: Recorder> EdgeWorld<R> {
    /// `FrameReleased`: the stream's next frame joins its queue (its stages start), the frame after
    /// it is scheduled, and the stream starts a step if it is idle.
    pub(super) fn frame_released(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        let frame = state.next_frame;
        state.next_frame += 1;
        state.queue.push_back(frame);
        self.open_frame_pipe(now, stream, frame, queue);
        let state = &mut self.streams[stream];
        if state.next_frame < state.total_frames {
            let next = state.release_of(state.next_frame);
            schedule_release(queue, self.horizon, next, Event::FrameReleased { stream });
        }
        self.start_next_step(now, stream, queue);
    }

    /// Starts the stream's next step if it is idle: drops the frames already too late under
    /// `on_miss: skip`, has the policy choose the front frame's setting, plans the step, waits for the
    /// frame's stages if the step reads it, then finishes the step at once (nothing to compute),
    /// waits for its parameters, or hands it to the node.
    pub(super) fn start_next_step(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
        loop {
            let Some(frame) = self.streams[stream].idle_front_frame() else { return };
            self.streams[stream].start_sequence_at(frame);
            if self.streams[stream].is_too_late(now, frame) {
                self.skip_front_frame(now, stream, frame, queue);
                continue;
            }
            let (choice, confidence_read) = self.choose_setting(now, stream, frame);
            // Decided before the input exists: does the model's gate read this frame?
            let state = &mut self.streams[stream];
            let plan = state.setup.model.plan(choice, &mut state.flex);
            if !self.settle_front_pipe(now, stream, plan.updates, queue) {
                return;
            }
            let flops = self.streams[stream].begin_step(now, frame, choice, plan, confidence_read);
            if flops <= 0.0 {
                // Nothing to compute (a SkipW step outside the window's selection): done at once.
                self.step_finished(now, stream);
                continue;
            }
            self.load_params_or_submit(now, stream, choice, queue);
            return;
        }
    }

    /// Drops the front frame `frame`, too late at `now`: its stages stop, it is recorded as missed
    /// and skipped, and its sequence ends if it was the last frame.
    fn skip_front_frame(&mut self, now: SimTime, stream: usize, frame: u64, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        state.queue.pop_front();
        state.chosen = None;
        if state.setup.pipeline.is_some() {
            self.drop_front_pipe(now, stream, queue);
        }
        let state = &mut self.streams[stream];
        state.skipped_in_sequence += 1;
        let step = state.step_of(frame);
        let record = StepRecord {
            stream,
            sequence: frame / state.steps as u64,
            step: step as u32,
            release: state.release_of(frame),
            start: None,
            end: None,
            deadline: state.deadline_of(frame),
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
    }

    /// The setting of front frame `frame`, and whether a confidence was read for it (its readout is
    /// charged to the step): the policy chooses once per frame; a frame waiting for its stages keeps
    /// its choice (and no confidence is read again).
    fn choose_setting(&mut self, now: SimTime, stream: usize, frame: u64) -> (usize, bool) {
        let state = &mut self.streams[stream];
        if let Some((chosen_frame, choice, confidence_read)) = state.chosen {
            if chosen_frame == frame {
                return (choice, confidence_read);
            }
        }
        let n_models = state.switch_flops.len();
        for (index, cost) in state.switch_flops.iter_mut().enumerate() {
            *cost = state.current_model.map_or(0, |current| state.switch_matrix[current * n_models + index]);
        }
        // The load the stream's step would meet: that of the device it runs on.
        let node = &self.nodes[state.device];
        let rate_estimate = node.rate_if_added(state.setup.spec.weight);
        let confidence = state.confidence();
        let (release, deadline) = (state.release_of(frame), state.deadline_of(frame));
        let observation = Observation {
            now_s: now.as_secs_f64(),
            release_s: release.as_secs_f64(),
            deadline_s: deadline.as_secs_f64(),
            slack_s: deadline.as_secs_f64() - now.as_secs_f64(),
            queued_frames: state.queue.len() - 1,
            step: state.step_of(frame),
            steps: state.steps,
            current: state.current_model,
            switch_flops: &state.switch_flops,
            switch_matrix: &state.switch_matrix,
            rate_estimate,
            node_jobs: node.active_jobs(),
            cores: node.cores(),
            core_speed: node.speed(),
            last_latency_s: state.last_latency_s,
            confidence,
        };
        let choice = state.setup.policy.choose(&observation, &state.options);
        // A policy's contract (`Policy::choose`): an index into the options. A policy that breaks it
        // is a bug in its code, not bad input; running some other setting instead would hide it.
        assert!(
            choice < state.options.len(),
            "policy `{}` chose option {choice} of {} (valid: 0 to {})",
            state.setup.policy.name(),
            state.options.len(),
            state.options.len() - 1
        );
        state.chosen = Some((frame, choice, confidence.is_some()));
        (choice, confidence.is_some())
    }

    /// The running step of setting `choice` needs its parameter block (one per model: changing a
    /// threshold, K or width loads nothing): if a load is under way or starts now, `ParamsLoaded` is
    /// scheduled for when it is done (the wait is counted up to the end of the run); else the step
    /// goes on the node now.
    fn load_params_or_submit(&mut self, now: SimTime, stream: usize, choice: usize, queue: &mut EventQueue<Event>) {
        let state = &mut self.streams[stream];
        let ready_at = match self.memory.as_mut() {
            None => None,
            Some(memory) => {
                let setting = &state.setup.model.settings()[choice];
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
                state.memory_stats.wait_s += t.min(self.horizon).saturating_sub(now).as_secs_f64();
                queue.schedule(t, Event::ParamsLoaded { stream });
            }
            _ => self.submit_step(now, stream, queue),
        }
    }

    /// Hands the stream's running step to the node (`ParamsLoaded`, or at once when its parameters
    /// are resident).
    pub(super) fn submit_step(&mut self, now: SimTime, stream: usize, queue: &mut EventQueue<Event>) {
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
        let device = state.device;
        self.nodes[device].submit(now, job);
        self.node_changed(device, queue);
    }

    /// The running step ended at `now`: the model steps on the frame's input (or without it, if its
    /// gate skips the frame), the step is recorded, and the sequence ends at its last frame.
    pub(super) fn step_finished(&mut self, now: SimTime, stream: usize) {
        let state = &mut self.streams[stream];
        let running = state.running.take().expect("a finished stream job has a running step");
        let model = Arc::clone(&state.setup.model);
        let step = state.step_of(running.frame);
        let sequence = running.frame / state.steps as u64;
        let dataset_index = state.order[sequence as usize];
        let x = running.updates.then(|| state.setup.dataset.frame(dataset_index, step));
        model.step(running.model, x, &mut state.flex);
        state.current_model = Some(running.model);
        state.steps_per_model[running.model] += 1;
        let release = state.release_of(running.frame);
        let deadline = state.deadline_of(running.frame);
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

    /// The sequence whose last frame is `last_frame` ends at `now`: the model predicts and the
    /// sequence is recorded.
    fn finish_sequence(&mut self, now: SimTime, stream: usize, last_frame: u64) {
        let state = &mut self.streams[stream];
        let sequence = last_frame / state.steps as u64;
        let first_release = state.release_of(sequence * state.steps as u64);
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

    /// Records every frame released before `horizon` that has neither completed nor been skipped: the
    /// running step, then the waiting frames.
    pub(super) fn record_unfinished_steps(&mut self, horizon: SimTime) {
        for (index, state) in self.streams.iter().enumerate() {
            let running = state.running.as_ref().map(|r| (r.frame, Some(r.start), Some(r.model), r.flops));
            let waiting = state.queue.iter().map(|&frame| (frame, None, None, 0.0));
            for (frame, start, model, flops) in running.into_iter().chain(waiting) {
                let deadline = state.deadline_of(frame);
                self.recorder.step(&StepRecord {
                    stream: index,
                    sequence: frame / state.steps as u64,
                    step: state.step_of(frame) as u32,
                    release: state.release_of(frame),
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
}

#[cfg(test)]
mod tests {
    use super::top_probability;

    #[test]
    fn top_probability_is_the_largest_softmax_entry() {
        // softmax(ln 3, 0, 0) = (3/5, 1/5, 1/5).
        assert!((top_probability(&[3f32.ln(), 0.0, 0.0]) - 0.6).abs() < 1e-7);
        assert!((top_probability(&[0.0, 0.0]) - 0.5).abs() < 1e-12);
    }
}
