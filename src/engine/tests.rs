//! One event at a time on small worlds built here: each test handles one kind of [`Event`] and checks
//! hand-computed times, the events it schedules (in the order the queue will give them), the node's
//! jobs and the records.
//!
//! The stream's model is a one-model bank of a GRU with input 1, hidden 2 and 2 classes: a step costs
//! `6·H(I + H) + 16·H` = 68 FLOPs, the readout `2·C·H + C` = 10, its parameters
//! `4·(3H(I + H) + 6H + C·H + C)` = 144 bytes. On a node of 10 kFLOP/s a step alone takes 6.8 ms.

use std::sync::Arc;

use super::{DeviceSetup, EdgeWorld, Event, Pipeline, StreamSetup, WorldSetup};
use crate::data::SequenceSet;
use crate::metrics::{JobRecord, MemoryRecorder, SequenceRecord, StepRecord};
use crate::node::Discipline;
use crate::policy::static_::StaticPolicy;
use crate::rnn::cell::RnnCell;
use crate::rnn::flex::FlexibleModel;
use crate::rnn::model::{ModelBank, RnnClassifier};
use crate::sim::{EventQueue, Model, SimTime};
use crate::workload::{BackgroundKind, BackgroundSpec, OnMiss, Source, StreamSpec, Trace, TraceJob, WorkDistribution};

const MS: u64 = 1_000_000;

fn ms(milliseconds: u64) -> SimTime {
    SimTime(milliseconds * MS)
}

/// A node of one core of 10 kFLOP/s, processor sharing, a run of 1 s.
fn setup(background: Vec<BackgroundSpec>, streams: Vec<StreamSetup>) -> WorldSetup {
    WorldSetup {
        seed: 7,
        devices: vec![DeviceSetup::new("cpu", Discipline::ProcessorSharing, 1, 1e4)],
        horizon: ms(1000),
        bin: ms(100),
        memory: None,
        background,
        streams,
    }
}

fn process(name: &str, kind: BackgroundKind) -> BackgroundSpec {
    BackgroundSpec { name: name.into(), kind, weight: 1.0, priority: 0, deadline: None, device: None }
}

/// The tiny GRU bank's flexible model (one setting, `tiny`).
fn tiny_model() -> Arc<FlexibleModel> {
    let hidden = 2;
    let cell = RnnCell::gru(
        1,
        hidden,
        vec![0.1; 3 * hidden],
        vec![0.0; 3 * hidden * hidden],
        vec![0.0; 3 * hidden],
        vec![0.0; 3 * hidden],
    )
    .expect("GRU shapes");
    let classifier = RnnClassifier {
        name: "tiny".into(),
        cell,
        readout_weight: vec![1.0, 0.0, 0.0, 1.0],
        readout_bias: vec![0.0, 0.5],
    };
    let bank = ModelBank::new(vec![classifier], Vec::new()).expect("a one-model bank");
    Arc::new(FlexibleModel::from_bank(bank, None))
}

/// A stream of one two-frame sequence (label 1), a frame every 10 ms, deadline 10 ms.
fn stream(on_miss: OnMiss, pipeline: Option<Pipeline>) -> StreamSetup {
    let dataset = SequenceSet::fixed_length_classification(
        "two".into(),
        2,
        1,
        vec!["a".into(), "b".into()],
        vec![0.5, 1.0],
        vec![1],
    );
    StreamSetup {
        spec: StreamSpec {
            name: "s".into(),
            period: ms(10),
            deadline: ms(10),
            start: SimTime::ZERO,
            sequences: 1,
            on_miss,
            weight: 1.0,
            priority: 0,
            device: None,
        },
        model: tiny_model(),
        dataset: Arc::new(dataset),
        pool: vec![0],
        policy: Box::new(StaticPolicy { model: 0, model_name: "tiny".into() }),
        bank_key: 0,
        pipeline,
        cost: crate::workload::profile::StepCost::Flops,
    }
}

fn build(setup: WorldSetup) -> (EdgeWorld<MemoryRecorder>, EventQueue<Event>) {
    EdgeWorld::build(setup, MemoryRecorder::default()).expect("a valid world")
}

/// The queue's events in the order it will give them (the queue is left as it was).
fn pending(queue: &mut EventQueue<Event>) -> Vec<(SimTime, Event)> {
    let mut events = Vec::new();
    while let Some(event) = queue.pop() {
        events.push(event);
    }
    for &(t, event) in &events {
        queue.schedule(t, event);
    }
    events
}

/// Pops the next event, checks it is `expected`, and handles it.
fn handle_next(world: &mut EdgeWorld<MemoryRecorder>, queue: &mut EventQueue<Event>, expected: (SimTime, Event)) {
    let (t, event) = queue.pop().expect("an event");
    assert_eq!((t, event), expected);
    world.handle(t, event, queue);
}

fn periodic(period: SimTime, phase: SimTime, work: f64) -> BackgroundKind {
    BackgroundKind::Periodic { period, phase, jitter: SimTime::ZERO, work: WorkDistribution::Constant(work) }
}

#[test]
fn job_released_submits_the_job_and_schedules_the_next_release() {
    // A job of 2 kFLOP every 300 ms from 50 ms: alone on 10 kFLOP/s it takes 200 ms.
    let (mut world, mut queue) = build(setup(vec![process("tick", periodic(ms(300), ms(50), 2e3))], Vec::new()));
    assert_eq!(pending(&mut queue), [(ms(50), Event::JobReleased { process: 0 })]);
    handle_next(&mut world, &mut queue, (ms(50), Event::JobReleased { process: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 1);
    // Inserted first, the completion; both in time order.
    assert_eq!(
        pending(&mut queue),
        [(ms(250), Event::NodeJobsFinished { device: 0, version: 1 }), (ms(350), Event::JobReleased { process: 0 })]
    );
    handle_next(&mut world, &mut queue, (ms(250), Event::NodeJobsFinished { device: 0, version: 1 }));
    assert_eq!(
        world.recorder.jobs,
        [JobRecord { process: 0, job: 0, release: ms(50), end: ms(250), deadline: None, work: 2e3 }]
    );
    assert_eq!(world.nodes[0].active_jobs(), 0);
}

#[test]
fn job_released_stops_at_the_horizon() {
    // Releases at 400 ms and 900 ms; the one at 1400 ms is outside the run [0, 1 s).
    let (mut world, mut queue) = build(setup(vec![process("tick", periodic(ms(500), ms(400), 1e3))], Vec::new()));
    handle_next(&mut world, &mut queue, (ms(400), Event::JobReleased { process: 0 }));
    handle_next(&mut world, &mut queue, (ms(500), Event::NodeJobsFinished { device: 0, version: 1 }));
    handle_next(&mut world, &mut queue, (ms(900), Event::JobReleased { process: 0 }));
    assert_eq!(pending(&mut queue), [(ms(1000), Event::NodeJobsFinished { device: 0, version: 3 })]);
}

#[test]
fn job_released_replays_a_jobs_trace_row_by_row() {
    // Two rows at 100 ms (1 kFLOP and 3 kFLOP), one at 700 ms.
    let rows = [(100, 1e3), (100, 3e3), (700, 2e3)].map(|(t, work)| TraceJob { release: ms(t), work });
    let kind = BackgroundKind::Trace { file: "t.csv".into(), time_scale: 1.0, trace: Trace::Jobs(rows.into()) };
    let (mut world, mut queue) = build(setup(vec![process("replay", kind)], Vec::new()));
    handle_next(&mut world, &mut queue, (ms(100), Event::JobReleased { process: 0 }));
    // The second row at the same instant: its release comes after the first job's completion event
    // (scheduled at the first job's end, 200 ms alone) in time order.
    assert_eq!(
        pending(&mut queue),
        [(ms(100), Event::JobReleased { process: 0 }), (ms(200), Event::NodeJobsFinished { device: 0, version: 1 })]
    );
    handle_next(&mut world, &mut queue, (ms(100), Event::JobReleased { process: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 2);
    // Sharing the core: the 1 kFLOP job ends at 100 + 2 × 100 = 300 ms; the other has 2 kFLOP left,
    // alone from then: 300 + 200 = 500 ms. The third row is next at 700 ms.
    assert_eq!(
        pending(&mut queue),
        [
            (ms(200), Event::NodeJobsFinished { device: 0, version: 1 }),
            (ms(300), Event::NodeJobsFinished { device: 0, version: 2 }),
            (ms(700), Event::JobReleased { process: 0 }),
        ]
    );
    handle_next(&mut world, &mut queue, (ms(200), Event::NodeJobsFinished { device: 0, version: 1 }));
    assert!(world.recorder.jobs.is_empty(), "a stale completion event does nothing");
    handle_next(&mut world, &mut queue, (ms(300), Event::NodeJobsFinished { device: 0, version: 2 }));
    handle_next(&mut world, &mut queue, (ms(500), Event::NodeJobsFinished { device: 0, version: 3 }));
    let ends: Vec<_> = world.recorder.jobs.iter().map(|j| (j.job, j.release, j.end, j.work)).collect();
    assert_eq!(ends, [(0, ms(100), ms(300), 1e3), (1, ms(100), ms(500), 3e3)]);
    handle_next(&mut world, &mut queue, (ms(700), Event::JobReleased { process: 0 }));
    // The last row: nothing after it but its completion.
    // (Version 4 went to the empty node after the 500-ms completion.)
    assert_eq!(pending(&mut queue), [(ms(900), Event::NodeJobsFinished { device: 0, version: 5 })]);
}

#[test]
fn process_toggled_runs_an_on_off_job_for_exactly_its_on_period() {
    let kind = BackgroundKind::OnOff { on_mean: ms(200), off_mean: ms(200), start_on: true };
    let (mut world, mut queue) = build(setup(vec![process("batch", kind)], Vec::new()));
    // Starting on: the switch on is at time zero (no draw).
    handle_next(&mut world, &mut queue, (SimTime::ZERO, Event::ProcessToggled { process: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 1);
    // Its job never finishes on its own: the only event is the switch off.
    let events = pending(&mut queue);
    let [(off_at, Event::ProcessToggled { process: 0 })] = events[..] else { panic!("{events:?}") };
    assert!(off_at > SimTime::ZERO && off_at < ms(1000), "an on-period of mean 200 ms: {off_at:?}");
    handle_next(&mut world, &mut queue, (off_at, Event::ProcessToggled { process: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 0);
    // Alone on the core for the whole on-period: served speed × period.
    let [job] = &world.recorder.jobs[..] else { panic!("{:?}", world.recorder.jobs) };
    assert_eq!((job.job, job.release, job.end), (0, SimTime::ZERO, off_at));
    assert!((job.work - 1e4 * off_at.as_secs_f64()).abs() < 1e-6, "{job:?}");
    // Off now; the next switch on is after the off-period, if it falls in the run.
    for (t, event) in pending(&mut queue) {
        assert_eq!(event, Event::ProcessToggled { process: 0 });
        assert!(t > off_at && t < ms(1000));
    }
}

#[test]
fn process_toggled_moves_an_mmpp_chain_without_touching_the_node() {
    // State 0: no arrivals, left at rate 5/s for state 1; state 1: arrivals at 20/s, never left.
    let kind = BackgroundKind::Mmpp {
        rates: vec![0.0, 20.0],
        switch_rates: vec![vec![0.0, 5.0], vec![0.0, 0.0]],
        work: WorkDistribution::Constant(10.0),
    };
    // A run of 1000 s: the change (mean 0.2 s) and the next arrival (mean 50 ms) fall in it.
    let mut long_run = setup(vec![process("bursty", kind)], Vec::new());
    long_run.horizon = ms(1_000_000);
    long_run.bin = ms(1000);
    let (mut world, mut queue) = build(long_run);
    let events = pending(&mut queue);
    let [(change_at, Event::ProcessToggled { process: 0 })] = events[..] else { panic!("{events:?}") };
    handle_next(&mut world, &mut queue, (change_at, Event::ProcessToggled { process: 0 }));
    let Source::Mmpp(chain) = &world.background[0].source else { panic!("an MMPP source") };
    assert_eq!(chain.state(), 1);
    assert_eq!(world.nodes[0].active_jobs(), 0);
    // In state 1 only arrivals remain.
    let events = pending(&mut queue);
    let [(arrival, Event::JobReleased { process: 0 })] = events[..] else { panic!("{events:?}") };
    assert!(arrival > change_at);
}

#[test]
fn frame_released_queues_the_frame_starts_its_step_and_schedules_the_next_frame() {
    let (mut world, mut queue) = build(setup(Vec::new(), vec![stream(OnMiss::Skip, None)]));
    handle_next(&mut world, &mut queue, (SimTime::ZERO, Event::FrameReleased { stream: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 1);
    assert_eq!(world.streams[0].running.as_ref().map(|r| (r.frame, r.flops)), Some((0, 68.0)));
    // The step alone: 68 FLOPs / 10 kFLOP/s = 6.8 ms; the next frame at 10 ms.
    assert_eq!(
        pending(&mut queue),
        [
            (SimTime(6_800_000), Event::NodeJobsFinished { device: 0, version: 1 }),
            (ms(10), Event::FrameReleased { stream: 0 })
        ]
    );
}

#[test]
fn node_jobs_finished_records_steps_and_the_sequence() {
    let (mut world, mut queue) = build(setup(Vec::new(), vec![stream(OnMiss::Skip, None)]));
    handle_next(&mut world, &mut queue, (SimTime::ZERO, Event::FrameReleased { stream: 0 }));
    handle_next(&mut world, &mut queue, (SimTime(6_800_000), Event::NodeJobsFinished { device: 0, version: 1 }));
    let first = StepRecord {
        stream: 0,
        sequence: 0,
        step: 0,
        release: SimTime::ZERO,
        start: Some(SimTime::ZERO),
        end: Some(SimTime(6_800_000)),
        deadline: ms(10),
        missed: false,
        skipped: false,
        unfinished: false,
        model: Some(0),
        updated: true,
        flops: 68.0,
    };
    assert_eq!(world.recorder.steps, std::slice::from_ref(&first));
    assert!(world.streams[0].running.is_none());
    // The last frame's step also runs the readout: 68 + 10 FLOPs, 7.8 ms.
    handle_next(&mut world, &mut queue, (ms(10), Event::FrameReleased { stream: 0 }));
    assert_eq!(pending(&mut queue), [(SimTime(17_800_000), Event::NodeJobsFinished { device: 0, version: 3 })]);
    handle_next(&mut world, &mut queue, (SimTime(17_800_000), Event::NodeJobsFinished { device: 0, version: 3 }));
    let second = StepRecord {
        step: 1,
        release: ms(10),
        start: Some(ms(10)),
        end: Some(SimTime(17_800_000)),
        deadline: ms(20),
        flops: 78.0,
        ..first
    };
    assert_eq!(world.recorder.steps[1], second);
    let [sequence] = &world.recorder.sequences[..] else { panic!("{:?}", world.recorder.sequences) };
    let expected = SequenceRecord {
        stream: 0,
        sequence: 0,
        dataset_index: 0,
        label: 1,
        prediction: sequence.prediction,
        steps_per_model: vec![2],
        skipped_steps: 0,
        first_release: SimTime::ZERO,
        end: SimTime(17_800_000),
    };
    assert_eq!(*sequence, expected);
    // Readout (h₁, h₂ + 0.5) with equal input weights: h₁ = h₂, so class 1 wins.
    assert_eq!(sequence.prediction, 1);
    assert!(queue.is_empty());
}

/// One stage of 1 kFLOP (100 ms alone) before each frame's step.
fn slow_stage() -> Pipeline {
    Pipeline {
        names: vec!["pose".into()],
        work: vec![WorkDistribution::Constant(1e3).sampler().expect("constant work")],
        after: vec![Vec::new()],
        devices: vec![None],
    }
}

#[test]
fn frame_deadline_passed_drops_a_late_frame_and_cancels_its_stages() {
    let (mut world, mut queue) = build(setup(Vec::new(), vec![stream(OnMiss::Skip, Some(slow_stage()))]));
    handle_next(&mut world, &mut queue, (SimTime::ZERO, Event::FrameReleased { stream: 0 }));
    // The stage runs, the step waits for it; the deadline check comes before the next frame at 10 ms.
    assert_eq!(world.nodes[0].active_jobs(), 1);
    assert!(world.streams[0].running.is_none());
    assert_eq!(
        pending(&mut queue),
        [
            (ms(10), Event::FrameDeadlinePassed { stream: 0 }),
            (ms(10), Event::FrameReleased { stream: 0 }),
            (ms(100), Event::NodeJobsFinished { device: 0, version: 1 }),
        ]
    );
    handle_next(&mut world, &mut queue, (ms(10), Event::FrameDeadlinePassed { stream: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 0, "the late frame's stage is cancelled");
    let [skipped] = &world.recorder.steps[..] else { panic!("{:?}", world.recorder.steps) };
    assert_eq!(
        *skipped,
        StepRecord {
            stream: 0,
            sequence: 0,
            step: 0,
            release: SimTime::ZERO,
            start: None,
            end: None,
            deadline: ms(10),
            missed: true,
            skipped: true,
            unfinished: false,
            model: None,
            updated: false,
            flops: 0.0,
        }
    );
    assert!(world.streams[0].queue.is_empty());
    // Only the next frame remains (the cancelled stage's completion event is stale).
    assert_eq!(
        pending(&mut queue),
        [(ms(10), Event::FrameReleased { stream: 0 }), (ms(100), Event::NodeJobsFinished { device: 0, version: 1 })]
    );
}

#[test]
fn params_loaded_hands_the_waiting_step_to_the_node() {
    // 144 bytes at 144 kB/s: the load takes 1 ms.
    let mut with_memory = setup(Vec::new(), vec![stream(OnMiss::Skip, None)]);
    with_memory.memory = Some((1_000, 144_000.0));
    let (mut world, mut queue) = build(with_memory);
    handle_next(&mut world, &mut queue, (SimTime::ZERO, Event::FrameReleased { stream: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 0, "the step waits for its parameters");
    assert_eq!(
        pending(&mut queue),
        [(ms(1), Event::ParamsLoaded { stream: 0 }), (ms(10), Event::FrameReleased { stream: 0 })]
    );
    let stats = world.streams[0].memory_stats;
    assert_eq!((stats.loads, stats.bytes_loaded), (1, 144));
    assert!((stats.wait_s - 0.001).abs() < 1e-12, "{stats:?}");
    handle_next(&mut world, &mut queue, (ms(1), Event::ParamsLoaded { stream: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 1);
    // 1 ms + 6.8 ms.
    assert_eq!(
        pending(&mut queue),
        [
            (SimTime(7_800_000), Event::NodeJobsFinished { device: 0, version: 1 }),
            (ms(10), Event::FrameReleased { stream: 0 })
        ]
    );
    // The next frame's parameters are resident: its step goes to the node at once.
    handle_next(&mut world, &mut queue, (SimTime(7_800_000), Event::NodeJobsFinished { device: 0, version: 1 }));
    handle_next(&mut world, &mut queue, (ms(10), Event::FrameReleased { stream: 0 }));
    assert_eq!(world.nodes[0].active_jobs(), 1);
    assert_eq!(world.streams[0].memory_stats.loads, 1);
}

/// A `confidence` policy reads the network's readout before the second step; that step then waits for
/// its frame's stage, and starts later: the readout is still charged to it. Frame 0: stage 10 FLOPs
/// (1 ms), step 68 FLOPs (no model has run yet, so no confidence is read). Frame 1 (released at 10 ms):
/// the policy reads the confidence at once, the stage ends at 11 ms, then the step costs
/// 68 + 10 (the confidence readout) + 10 (the last step's readout) = 88 FLOPs, 8.8 ms.
#[test]
fn a_step_waiting_for_its_stages_is_charged_the_confidence_readout_its_policy_read() {
    let pipeline = Pipeline {
        names: vec!["pose".into()],
        work: vec![WorkDistribution::Constant(10.0).sampler().expect("constant work")],
        after: vec![Vec::new()],
        devices: vec![None],
    };
    let mut setup_stream = stream(OnMiss::Continue, Some(pipeline));
    setup_stream.policy =
        Box::new(crate::policy::confidence::ConfidencePolicy { threshold: 0.9, cheap: 0, accurate: 0 });
    let (mut world, mut queue) = build(setup(Vec::new(), vec![setup_stream]));
    while let Some((t, event)) = queue.pop() {
        world.handle(t, event, &mut queue);
    }
    let steps: Vec<_> = world.recorder.steps.iter().map(|s| (s.start, s.end, s.flops)).collect();
    assert_eq!(steps, [(Some(ms(1)), Some(SimTime(7_800_000)), 68.0), (Some(ms(11)), Some(SimTime(19_800_000)), 88.0)]);
}

/// A profile of the tiny model: `update` drawn from `samples` (seconds; mean `update_mean`), `readout`
/// always `readout_s`.
fn tiny_profile(update_mean: f64, samples: &[f64], readout_s: f64) -> crate::workload::profile::StepProfile {
    use crate::workload::profile::{Operation, ProfileRow, StepProfile};
    let row = |operation, mean_s: f64, samples: &[f64]| ProfileRow {
        setting: "tiny".into(),
        operation,
        repetitions: samples.len().max(1) as u64,
        mean_s,
        p50_s: mean_s,
        p90_s: mean_s,
        p99_s: mean_s,
        samples: samples.into(),
    };
    StepProfile {
        notes: Vec::new(),
        rows: vec![row(Operation::Update, update_mean, samples), row(Operation::Readout, readout_s, &[])],
    }
}

fn profiled(profile: crate::workload::profile::StepProfile, scale: f64) -> crate::workload::profile::StepCost {
    crate::workload::profile::StepCost::Profile { file: "tiny.csv".into(), scale, profile: Arc::new(profile) }
}

#[test]
fn a_profiled_step_takes_its_drawn_duration_times_the_scale_and_its_work_is_that_times_the_speed() {
    // One-value profile: an update takes 2 ms, the readout 1 ms, at scale 1.5. Alone on the core, frame
    // 0 (released at 0) runs 2 × 1.5 = 3 ms; frame 1 (released at 10 ms, the sequence's last) runs the
    // update and the readout, (2 + 1) × 1.5 = 4.5 ms, ending at 14.5 ms. The work handed to the node
    // is the duration × 10 kFLOP/s: 30 and 45 FLOP-equivalents (the FLOPs would be 68 and 78).
    let mut stream = stream(OnMiss::Continue, None);
    stream.cost = profiled(tiny_profile(2e-3, &[], 1e-3), 1.5);
    let outcome = EdgeWorld::run(setup(Vec::new(), vec![stream]), MemoryRecorder::default()).unwrap();
    let steps: Vec<(Option<SimTime>, Option<SimTime>, f64)> =
        outcome.recorder.steps.iter().map(|s| (s.start, s.end, s.flops)).collect();
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].0, steps[0].1), (Some(SimTime::ZERO), Some(ms(3))));
    assert_eq!((steps[1].0, steps[1].1), (Some(ms(10)), Some(SimTime(14_500_000))));
    assert!((steps[0].2 - 30.0).abs() < 1e-9 && (steps[1].2 - 45.0).abs() < 1e-9, "{steps:?}");
    assert_eq!(outcome.recorder.sequences[0].end, SimTime(14_500_000));
}

#[test]
fn profiled_step_durations_follow_the_profiles_samples() {
    // Updates drawn from {1, 2, 6} ms (mean 3 ms, sd √(14/3) ≈ 2.16 ms), readout free, scale 1; a
    // frame every 10 ms on a free core, so each step's duration is its draw. Over 4000 steps the mean
    // is within 4 standard errors (4 · 2.16 / √4000 ≈ 0.14 ms) of 3 ms, and each sample is drawn about
    // a third of the time.
    let mut stream = stream(OnMiss::Continue, None);
    stream.spec.sequences = 2000;
    stream.cost = profiled(tiny_profile(3e-3, &[1e-3, 2e-3, 6e-3], 0.0), 1.0);
    let mut world = setup(Vec::new(), vec![stream]);
    world.horizon = SimTime(41 * crate::sim::SimTime::NANOS_PER_SEC);
    let outcome = EdgeWorld::run(world, MemoryRecorder::default()).unwrap();
    let durations: Vec<u64> =
        outcome.recorder.steps.iter().map(|s| s.end.unwrap().saturating_sub(s.start.unwrap()).0).collect();
    assert_eq!(durations.len(), 4000);
    let mut counts = [0usize; 3];
    for &d in &durations {
        counts[[ms(1).0, ms(2).0, ms(6).0].iter().position(|&m| m == d).unwrap_or_else(|| panic!("duration {d}"))] += 1;
    }
    let mean = durations.iter().sum::<u64>() as f64 / 4000.0 * 1e-9;
    let standard_error = (14.0f64 / 3.0).sqrt() * 1e-3 / 4000f64.sqrt();
    assert!((mean - 3e-3).abs() < 4.0 * standard_error, "mean {mean}");
    assert!(counts.iter().all(|&c| (1200..1470).contains(&c)), "{counts:?}");
}

#[test]
fn a_profile_that_lacks_a_setting_is_an_error_naming_the_file_and_the_setting() {
    let mut profile = tiny_profile(2e-3, &[], 1e-3);
    profile.rows.retain(|row| row.operation != crate::workload::profile::Operation::Readout);
    let mut stream = stream(OnMiss::Continue, None);
    stream.cost = profiled(profile, 1.0);
    let error = EdgeWorld::build(setup(Vec::new(), vec![stream]), MemoryRecorder::default()).err().unwrap();
    assert_eq!(
        error.to_string(),
        "process `s`: profile tiny.csv: no row for setting `tiny`, operation `readout` (the stream may run it); the profile has settings: tiny"
    );
}

#[test]
fn the_policies_options_carry_the_profiles_mean_times_speed_and_scale() {
    // Mean update 2 ms at scale 1.5 on 10 kFLOP/s: 30 FLOP-equivalents per step; under FLOPs, 68.
    let model = tiny_model();
    let cost = profiled(tiny_profile(2e-3, &[1e-3, 3e-3], 1e-3), 1.5);
    let options = super::model_options(&model, &cost, 1e4).unwrap();
    assert_eq!(options[0].flops_per_step, 30);
    let flops = super::model_options(&model, &crate::workload::profile::StepCost::Flops, 1e4).unwrap();
    assert_eq!(flops[0].flops_per_step, 68);
}
