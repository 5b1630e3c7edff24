//! The smaller defects of issue 10's list 5: the `threshold` policy's `queue` signal, the half-open run
//! horizon, duplicate keys, names starting with `.`, the finite-trace overload warning.

use std::num::NonZeroUsize;

use flexrnn::node::Discipline;
use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::threshold::{LoadSignal, ThresholdConfig};
use flexrnn::policy::PolicySpec;
use flexrnn::scenario::{NodeSpec, Scenario, StreamBuilder};
use flexrnn::workload::{OnMiss, WorkDistribution};

use crate::{ms, run_built, secs, short_default, yaml_with};

/// `threshold: { signal: queue, models: [gru-128, gru-16], thresholds: [1], hysteresis: 0 }`.
fn queue_threshold() -> PolicySpec {
    PolicySpec::new(ThresholdConfig {
        signal: LoadSignal::Queue,
        models: vec!["gru-128".into(), "gru-16".into()],
        thresholds: vec![1.0],
        hysteresis: 0.0,
    })
    .unwrap()
}

/// `threshold`'s `queue` signal counted the frame being dispatched, so it was never below 1. It now
/// counts the frames waiting behind it: with `on_miss: continue` the queue builds up while the
/// batch job runs, and the policy runs gru-16 exactly when a frame waits behind the one it dispatches.
#[test]
fn threshold_queue_signal_reacts_to_frames_waiting_behind() {
    let scenario = short_default(20, secs(20))
        .edit_stream("digits", |s| s.on_miss(OnMiss::Continue).policies([queue_threshold()]));
    let (_, _, results) = run_built(scenario, false);
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
    // In YAML, to check the error points at the `policies:` line.
    let policies = (
        "      - static: { model: gru-128 }\n      - static: { model: gru-16 }\n      - greedy_slack: {}\n",
        "      - threshold: { signal: queue, models: [gru-128, gru-16], thresholds: [1], hysteresis: 0 }\n",
    );
    let text = yaml_with("default.yaml", &[policies]);
    let e = Scenario::parse(&text, "q.yaml", &crate::root().join("scenarios")).unwrap_err();
    let policies_line = 1 + text.lines().position(|l| l == "    policies:").unwrap();
    assert_eq!(e.location.map(|l| l.0), Some(policies_line), "{e}");
    assert!(
        e.message.contains("at most 0 frame(s) ever wait behind") && e.message.contains("first threshold 1"),
        "{e}"
    );
    // Built in code: the same message.
    let in_code = short_default(20, secs(20)).edit_stream("digits", |s| s.policies([queue_threshold()]));
    assert_eq!(in_code.clone().build().unwrap_err().message, e.message);
    // A deadline of two periods lets one frame wait: threshold 1 is reachable.
    assert!(in_code.edit_stream("digits", |s| s.deadline(ms(10))).build().is_ok());
}

/// A frame released exactly at `duration` was counted (12 001 frames in 60 s at 5 ms instead of
/// 12 000): the run is [0, duration) for every release — frames, periodic jobs, trace rows.
#[test]
fn the_run_is_half_open_at_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("jobs.csv");
    std::fs::write(&trace, "release_s,work_flop\n0.5,1000\n1.0,1000\n").unwrap();
    let gru_16 = PolicySpec::new(StaticConfig { model: "gru-16".into() }).unwrap();
    let stream =
        StreamBuilder::new("digits", "digits", "../models/digits-gru", ms(5), ms(5)).sequences(10).policy(gru_16);
    let scenario = Scenario::builder("horizon")
        .seed(1)
        .duration(secs(1))
        .node(NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing))
        .dir(crate::root().join("scenarios"))
        .stream(stream)
        .periodic("tick", ms(100), WorkDistribution::Constant(1e3))
        .trace_jobs("replay", &trace, 1.0);
    let (_, _, results) = run_built(scenario, false);
    let records = &results[0].outcome.recorder;
    // 1 s / 5 ms = 200 frames, the last released at 995 ms.
    assert_eq!(records.steps.len(), 200);
    assert_eq!(records.steps.iter().map(|s| s.release.0).max(), Some(995_000_000));
    // 1 s / 100 ms = 10 periodic jobs (0, 100 ms, …, 900 ms); the trace row at 1.0 s is not released.
    let released = |process: usize| records.jobs.iter().filter(|j| j.process == process).count();
    assert_eq!((released(0), released(1)), (10, 1));
    assert!(records.jobs.iter().all(|j| j.release.0 < 1_000_000_000));
}

/// Duplicate keys were reported at the start of the enclosing mapping: now at the second occurrence
/// of the key, in block and flow mappings, in scenario and study files.
#[test]
fn duplicate_keys_are_reported_at_the_duplicate() {
    let scenario = |text: &str| {
        let e = Scenario::parse(text, "d.yaml", std::path::Path::new(".")).unwrap_err();
        (e.location, e.message)
    };
    let head = "name: d\nseed: 1\nduration: 1s\n";
    let process =
        "processes:\n  - name: p\n    kind: poisson\n    rate: 1/s\n    rate: 2/s\n    work: { constant: 1FLOP }\n";
    let node = "node: { cores: 1, speed: 1GFLOP/s, scheduler: fifo }\n";
    assert_eq!(
        scenario(&format!("{head}{node}{process}")),
        (Some((9, 5)), "processes[0]: duplicate field `rate`".to_string())
    );
    let flow = "node: { cores: 1, speed: 1GFLOP/s, scheduler: fifo, cores: 2 }\nprocesses: []\n";
    assert_eq!(scenario(&format!("{head}{flow}")), (Some((4, 53)), "node: duplicate field `cores`".to_string()));
    let top = format!("{head}{node}processes: []\nseed: 2\n");
    assert_eq!(scenario(&top), (Some((6, 1)), "duplicate field `seed`".to_string()));
    let study = |text: &str| {
        let e = flexrnn::study::spec::Study::parse(text, "s.yaml", &crate::root().join("scenarios")).unwrap_err();
        (e.location, e.message)
    };
    let head = "name: s\nseed: 1\nscenario: default.yaml\nreplications: 1\n";
    assert_eq!(
        study(&format!("{head}replications: 2\n")),
        (Some((5, 1)), "duplicate field `replications`".to_string())
    );
    assert_eq!(
        study(&format!("{head}set:\n  duration: 1s\n  duration: 2s\n")),
        (Some((7, 3)), "set: duplicate entry with key \"duration\"".to_string())
    );
    assert_eq!(
        study("name: s\nseed: 1\nscenario:\n  name: x\n  name: y\nreplications: 1\n"),
        (Some((5, 3)), "scenario: duplicate entry with key \"name\"".to_string())
    );
}

/// A name starting with `.` was told to "use only letters, digits, `-`, `_` and `.`" — which it did.
/// Each wrong name now gets its own reason, with what is allowed.
#[test]
fn names_starting_with_a_dot_get_a_clear_message() {
    let scenario = |name: &str| {
        let text = format!("name: {name}\nseed: 1\nduration: 1s\nnode: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo }}\nprocesses: []\n");
        let e = Scenario::parse(&text, "n.yaml", std::path::Path::new(".")).unwrap_err();
        assert_eq!(e.location, Some((1, 1)), "{e}");
        e.message
    };
    assert_eq!(
        scenario(".hidden"),
        "name: `.hidden` starts with `.`, which would make the output folder hidden (or `.`, `..`); start it with a letter, digit, `-` or `_` (allowed: letters, digits, `-`, `_` and `.` (not first))"
    );
    assert!(scenario("..").starts_with("name: `..` starts with `.`"));
    assert_eq!(
        scenario("a/b"),
        "name: `a/b` contains `/`; a name names the output folder and may use only letters, digits, `-`, `_` and `.` (not first)"
    );
    assert_eq!(
        scenario("''"),
        "name: give a name; it names the output folder: letters, digits, `-`, `_` and `.` (not first)"
    );
    let study = "name: .s\nseed: 1\nscenario: default.yaml\nreplications: 1\n";
    let e = flexrnn::study::spec::Study::parse(study, "s.yaml", &crate::root().join("scenarios")).unwrap_err();
    assert!(e.message.starts_with("name: `.s` starts with `.`") && e.location == Some((1, 1)), "{e}");
}

/// The warning "queues grow without bound" fired for a trace that ends: 25 MFLOP released in the first
/// 4 s of a 10 s run on a 1 MFLOP/s core is 250 % of the run's capacity, but finite. Only a trace that
/// still releases at the end of the run (or any stationary process) counts.
#[test]
fn finite_traces_do_not_warn_of_unbounded_queues() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "release_s,work_flop\n0,5e6\n1,5e6\n2,5e6\n3,5e6\n4,5e6\n";
    std::fs::write(dir.path().join("ends.csv"), rows).unwrap();
    std::fs::write(dir.path().join("lasts.csv"), format!("{rows}10,1\n")).unwrap();
    let scenario = |file: &str| {
        let text = format!(
            "name: t\nseed: 1\nduration: 10s\nnode: {{ cores: 1, speed: 1MFLOP/s, scheduler: fifo }}\nprocesses:\n  - {{ name: replay, kind: trace, jobs: {file} }}\n"
        );
        std::fs::write(dir.path().join(format!("{file}.yaml")), &text).unwrap();
        Scenario::parse(&text, "t.yaml", dir.path()).unwrap()
    };
    let ends = scenario("ends.csv");
    assert!((ends.offered_background_load() - 2.5).abs() < 1e-12);
    assert_eq!((ends.unbounded_background_load(), ends.overload_warning()), (0.0, None));
    // A row at 10 s (not released: the run is [0, 10 s)) says the trace goes on past the run.
    let lasts = scenario("lasts.csv");
    assert!((lasts.unbounded_background_load() - 2.5).abs() < 1e-12);
    assert_eq!(
        lasts.overload_warning().as_deref(),
        Some("the background processes ask for 250% of the node's capacity; their queues grow without bound and the run may be slow")
    );
    // The command line says nothing for the trace that ends.
    let out = dir.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flexrnn"))
        .arg("run")
        .arg(dir.path().join("ends.csv.yaml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
