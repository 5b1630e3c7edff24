//! Pipelines: stages per frame before the RNN step, a DAG checked with petgraph.

use std::num::NonZeroUsize;
use std::path::Path;

use flexrnn::node::Discipline;
use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::PolicySpec;
use flexrnn::scenario::{NodeSpec, Scenario, ScenarioBuilder, StageSpec, StreamBuilder};
use flexrnn::sim::SimTime;
use flexrnn::workload::WorkDistribution;

use crate::{ms, root, run_built, secs};

/// A stage of `mflop` MFLOP (constant) run after the stages named in `after`.
fn stage(name: &str, mflop: f64, after: &[&str]) -> StageSpec {
    StageSpec {
        name: name.into(),
        work: WorkDistribution::Constant(mflop * 1e6),
        after: after.iter().map(|a| a.to_string()).collect(),
        device: None,
    }
}

/// One sequence of digits through gru-16 behind `stages` (listed in this order), a frame every
/// `period` due `deadline` later, on one 1 GFLOP/s core under `discipline`, for 2 s (seed 1).
fn scenario(stages: Vec<StageSpec>, period: SimTime, deadline: SimTime, discipline: Discipline) -> ScenarioBuilder {
    let gru_16 = PolicySpec::new(StaticConfig { model: "gru-16".into() }).unwrap();
    let stream =
        StreamBuilder::new("s", "digits", "../models/digits-gru", period, deadline).sequences(1).policy(gru_16);
    Scenario::builder("pipe")
        .seed(1)
        .duration(secs(2))
        .node(NodeSpec::new(NonZeroUsize::MIN, 1e9, discipline))
        .dir(root().join("scenarios"))
        .stream(stages.into_iter().fold(stream, StreamBuilder::stage))
}

/// [`scenario`] as YAML text (FIFO, frames every 100 ms due 100 ms later), `pipeline` the stage
/// lines: for the errors located in the text.
fn scenario_yaml(pipeline: &str) -> String {
    format!(
        "name: pipe\nseed: 1\nduration: 2s\nnode:\n  cores: 1\n  speed: 1GFLOP/s\n  scheduler: fifo\nprocesses:\n  - name: s\n    kind: rnn_stream\n    dataset: digits\n    models: ../models/digits-gru\n    period: 100ms\n    deadline: 100ms\n    sequences: 1\n    pipeline:\n{pipeline}    policies:\n      - static: {{ model: gru-16 }}\n"
    )
}

#[test]
fn a_frame_waits_for_all_its_stages_then_runs_its_step() {
    // capture (2 MFLOP = 2 ms) → pose (10 ms) and capture → light (1 ms); the step of gru-16
    // (1 888 FLOP = 1.888 µs) starts when both sinks are done. On one PS core, pose and light share
    // the core after capture: light ends at 2 + 2 = 4 ms, pose at 4 + 9 = 13 ms, the step at 13.001888 ms.
    let pipeline =
        vec![stage("capture", 2.0, &[]), stage("pose", 10.0, &["capture"]), stage("light", 1.0, &["capture"])];
    let (_, _, results) = run_built(scenario(pipeline, ms(100), ms(100), Discipline::ProcessorSharing), false);
    let first = &results[0].outcome.recorder.steps[0];
    assert_eq!(first.end.unwrap().0, 13_001_888, "{first:?}");
    assert_eq!(first.release.0, 0);
}

#[test]
fn stage_order_does_not_depend_on_the_listing_order() {
    let listed_backwards = vec![stage("pose", 10.0, &["capture"]), stage("capture", 2.0, &[])];
    let (_, _, results) = run_built(scenario(listed_backwards, ms(100), ms(100), Discipline::Fifo), false);
    // FIFO: capture 0–2 ms, pose 2–12 ms, step 12–12.001888 ms.
    assert_eq!(results[0].outcome.recorder.steps[0].end.unwrap().0, 12_001_888);
}

#[test]
fn cycles_and_unknown_stages_are_located_errors() {
    let cycle = "      - { name: a, work: { constant: 1MFLOP }, after: [c] }\n      - { name: b, work: { constant: 1MFLOP }, after: [a] }\n      - { name: c, work: { constant: 1MFLOP }, after: [b] }\n      - { name: d, work: { constant: 1MFLOP } }\n";
    let e = Scenario::parse(&scenario_yaml(cycle), "p.yaml", Path::new("scenarios")).unwrap_err();
    assert!(e.to_string().contains("cycle through stages a → b → c"), "{e}");
    assert_eq!(e.location.map(|l| l.0), Some(16), "the `pipeline:` line: {e}");
    let unknown = "      - { name: a, work: { constant: 1MFLOP }, after: [nope] }\n";
    let e = Scenario::parse(&scenario_yaml(unknown), "p.yaml", Path::new("scenarios")).unwrap_err();
    assert!(e.to_string().contains("`nope`, which is not a stage"), "{e}");
}

#[test]
fn skipped_frames_cancel_their_stages() {
    // Pose takes 30 ms per frame but frames come every 10 ms with a 10 ms deadline: most frames are
    // dropped, and their stages must leave the node, or the node would fill with orphan work.
    let pipeline = vec![stage("pose", 30.0, &[])];
    let (_, _, results) = run_built(scenario(pipeline, ms(10), ms(10), Discipline::ProcessorSharing), false);
    let outcome = &results[0].outcome;
    let skipped = outcome.recorder.steps.iter().filter(|s| s.skipped).count();
    assert!(skipped > 50, "{skipped}");
    assert!(outcome.node().active_jobs() <= 4, "{} jobs left on the node", outcome.node().active_jobs());
}

#[test]
fn sequences_record_their_end_to_end_latency() {
    // 64 frames, 100 ms apart; the last frame's stages (12 ms on FIFO) and step (1 888 FLOP plus the
    // readout's 2·10·16 + 10 = 330 FLOP) end 6.3 s + 12.002218 ms after the first release.
    let pipeline = vec![stage("capture", 2.0, &[]), stage("pose", 10.0, &["capture"])];
    let (_, _, results) = run_built(scenario(pipeline, ms(100), ms(100), Discipline::Fifo).duration(secs(7)), false);
    let sequence = &results[0].outcome.recorder.sequences[0];
    assert_eq!(sequence.first_release.0, 0);
    assert_eq!(sequence.end.0, 6_300_000_000 + 12_002_218);
}

#[test]
fn doomed_stages_stop_at_the_frame_deadline() {
    // Stage of 15 ms, deadline 10 ms, a frame every 20 ms: every frame is dropped at its deadline and
    // its stage cancelled then, so the core works 10 ms of every 20 ms (64 frames in 2 s: 0.32).
    let pipeline = vec![stage("pose", 15.0, &[])];
    let (scenario, resources, results) =
        run_built(scenario(pipeline, ms(20), ms(10), Discipline::ProcessorSharing), false);
    let labels = flexrnn::report::labels(&scenario, &resources);
    let row = &flexrnn::report::summary_rows(&results[0], &scenario, &labels)[0];
    assert_eq!(row.skip_rate, Some(1.0));
    assert!((row.utilisation - 0.32).abs() < 1e-9, "{row:?}");
}
