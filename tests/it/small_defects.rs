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
