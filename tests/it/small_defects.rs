//! The smaller defects of issue 10's list 5: the `threshold` policy's `queue` signal, the half-open run
//! horizon, duplicate keys, names starting with `.`, the finite-trace overload warning.

use flexrnn::scenario::Scenario;

use crate::{run_text, short_default};

const POLICIES: &str =
    "      - static: { model: gru-128 }\n      - static: { model: gru-16 }\n      - greedy_slack: {}\n";

/// The default scenario (shortened) with `policies` instead of its three.
fn with_policies(text: &str, policies: &str) -> String {
    assert!(text.contains(POLICIES), "default.yaml changed; update this helper");
    text.replace(POLICIES, policies)
}

/// `threshold`'s `queue` signal counted the frame being dispatched, so it was never below 1. It now
/// counts the frames waiting behind it: with `on_miss: continue` the queue builds up while the
/// batch job runs, and the policy runs gru-16 exactly when a frame waits behind the one it dispatches.
#[test]
fn threshold_queue_signal_reacts_to_frames_waiting_behind() {
    let text = with_policies(
        &short_default(20, "20s").replace("on_miss: skip", "on_miss: continue"),
        "      - threshold: { signal: queue, models: [gru-128, gru-16], thresholds: [1], hysteresis: 0 }\n",
    );
    let (_, _, results) = run_text(&text, false);
    let steps = &results[0].outcome.recorder.steps;
    let releases: Vec<u64> = steps.iter().map(|s| s.release.0).collect();
    let (mut narrow, mut wide, mut checked) = (0, 0, 0);
    for step in steps {
        let (Some(start), Some(model)) = (step.start, step.model) else { continue };
        // Frames run in release order: those released after this one and before its start wait
        // behind it. (A release at the very instant it starts is skipped: the order of events at
        // one instant is not what this test is about.)
        if releases.iter().any(|&r| r > step.release.0 && r == start.0) {
            continue;
        }
        let behind = releases.iter().filter(|&&r| r > step.release.0 && r < start.0).count();
        let expected = if behind >= 1 { 0 } else { 3 }; // gru-16 is setting 0, gru-128 setting 3
        assert_eq!(model, expected, "frame released at {:?}, started at {start:?}, {behind} behind", step.release);
        if model == 0 {
            narrow += 1;
        } else {
            wide += 1;
        }
        checked += 1;
    }
    assert!(checked > 1000 && narrow > 100 && wide > 100, "{checked} frames checked: {narrow} gru-16, {wide} gru-128");
}

/// With `on_miss: skip` at most ⌈deadline / period⌉ − 1 frames wait behind the one about to run, so
/// a `queue` threshold above that makes the policy static: refused at the policies, naming the bound.
#[test]
fn unreachable_queue_thresholds_are_refused() {
    let policy = "      - threshold: { signal: queue, models: [gru-128, gru-16], thresholds: [1], hysteresis: 0 }\n";
    let text = with_policies(&short_default(20, "20s"), policy);
    let e = Scenario::parse(&text, "q.yaml", &crate::root().join("scenarios")).unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(23), "{e}");
    assert!(
        e.message.contains("at most 0 frame(s) ever wait behind") && e.message.contains("first threshold 1"),
        "{e}"
    );
    // A deadline of two periods lets one frame wait: threshold 1 is reachable.
    let text = text.replace("deadline: 5ms ", "deadline: 10ms");
    assert!(Scenario::parse(&text, "q.yaml", &crate::root().join("scenarios")).is_ok());
}

/// A frame released exactly at `duration` was counted (12 001 frames in 60 s at 5 ms instead of
/// 12 000): the run is [0, duration) for every release — frames, periodic jobs, trace rows.
#[test]
fn the_run_is_half_open_at_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("jobs.csv");
    std::fs::write(&trace, "release_s,work_flop\n0.5,1000\n1.0,1000\n").unwrap();
    let text = format!(
        "name: horizon\nseed: 1\nduration: 1s\nnode: {{ cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }}\nprocesses:\n  - name: digits\n    kind: rnn_stream\n    dataset: digits\n    models: ../models/digits-gru\n    period: 5ms\n    deadline: 5ms\n    sequences: 10\n    policies:\n      - static: {{ model: gru-16 }}\n  - {{ name: tick, kind: periodic, period: 100ms, work: {{ constant: 1kFLOP }} }}\n  - {{ name: replay, kind: trace, jobs: {} }}\n",
        trace.display()
    );
    let (_, _, results) = run_text(&text, false);
    let records = &results[0].outcome.recorder;
    // 1 s / 5 ms = 200 frames, the last released at 995 ms.
    assert_eq!(records.steps.len(), 200);
    assert_eq!(records.steps.iter().map(|s| s.release.0).max(), Some(995_000_000));
    // 1 s / 100 ms = 10 periodic jobs (0, 100 ms, …, 900 ms); the trace row at 1.0 s is not released.
    let released = |process: usize| records.jobs.iter().filter(|j| j.process == process).count();
    assert_eq!((released(0), released(1)), (10, 1));
    assert!(records.jobs.iter().all(|j| j.release.0 < 1_000_000_000));
}
