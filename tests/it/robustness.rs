//! Bad input never panics; `on_miss: continue` runs late frames instead of dropping them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use flexrnn::report;
use flexrnn::scenario::Scenario;
use flexrnn::workload::OnMiss;
use rand::{Rng, SeedableRng};

use crate::{run_built, secs, shipped, short_default, yaml_with};

/// 3000 seeded random mutations of the shipped scenarios (deleted, duplicated or replaced bytes and
/// lines, truncations): parsing returns a value or an error, never panics.
#[test]
fn mutated_scenarios_never_panic_the_parser() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(2026);
    let originals = [shipped("default.yaml"), shipped("mm1-ps.yaml"), shipped("trace-driven.yaml")];
    let alphabet: &[u8] = b" :-{}[],#&*!|>'\"\n\t0123456789.eE+sgmkMGFLOP/abcxyz_";
    for round in 0..3000 {
        let mut bytes = originals[round % originals.len()].clone().into_bytes();
        for _ in 0..rng.random_range(1..4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..5) {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                2 => bytes[at] = alphabet[rng.random_range(0..alphabet.len())],
                3 => bytes.truncate(at),
                _ => {
                    let line: Vec<u8> = bytes[at..].iter().take_while(|&&b| b != b'\n').copied().collect();
                    bytes.splice(at..at, line);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let outcome = catch_unwind(AssertUnwindSafe(|| Scenario::parse(&text, "fuzz.yaml", Path::new("scenarios"))));
        assert!(outcome.is_ok(), "parser panicked on:\n{text}");
    }
}

#[test]
fn on_miss_continue_runs_late_frames() {
    let continuing = short_default(40, secs(10)).edit_stream("digits", |s| s.on_miss(OnMiss::Continue));
    let (scenario, resources, results) = run_built(continuing, false);
    let labels = report::labels(&scenario, &resources);
    let wide = results.iter().find(|r| r.plan.label == "static-gru-128").unwrap();
    let row = &report::summary_rows(wide, &scenario, &labels)[0];
    assert_eq!(row.skip_rate, Some(0.0));
    assert!(row.miss_rate.unwrap() > 0.5, "{row:?}");
    // Every frame of a finished sequence ran: each sequence has 64 steps of gru-128.
    assert!(wide.outcome.recorder.sequences.iter().all(|s| s.steps_per_model[3] == 64 && s.skipped_steps == 0));
    // The backlog at the end is reported, not hidden: every frame released before the end appears once.
    let steps = &wide.outcome.recorder.steps;
    let unfinished = steps.iter().filter(|s| s.unfinished).count();
    assert!(unfinished > 0, "static-gru-128 cannot keep up, so frames are still waiting at the end");
    let horizon = scenario.horizon();
    let released = steps.iter().filter(|s| s.release <= horizon).count();
    assert_eq!(released, steps.len());
    assert!(steps.iter().filter(|s| s.unfinished).all(|s| s.end.is_none() && s.missed == (s.deadline <= horizon)));
}

#[test]
fn absurd_sizes_are_errors_not_crashes() {
    // Written in YAML: 10¹² s does not fit a `SimTime`, so only the text can ask for it.
    let text = yaml_with("default.yaml", &[("duration: 120s", "duration: 1000000000000s")]);
    let e = Scenario::parse(&text, "s.yaml", Path::new("scenarios")).unwrap_err();
    assert!(e.to_string().contains("146 years"), "{e}");
    let text = format!("{}output:\n  bin: 1ns\n", shipped("default.yaml"));
    let e = Scenario::parse(&text, "s.yaml", Path::new("scenarios")).unwrap_err();
    assert!(e.to_string().contains("output.bin") && e.location.is_some(), "{e}");
    // More sequences than fit in the duration: only those that can start are played.
    let (_, _, results) = run_built(short_default(1_000_000_000, secs(2)), false);
    assert!(results[0].outcome.recorder.sequences.len() <= 7);
}

#[test]
fn streams_must_start_before_the_end_and_overload_is_measured() {
    // In YAML, to check the error points at the `start:` line (the builder's is the same message).
    let text = yaml_with("default.yaml", &[("    on_miss: skip", "    on_miss: skip\n    start: 500s")]);
    let e = Scenario::parse(&text, "s.yaml", Path::new("scenarios")).unwrap_err();
    let start_line = 1 + text.lines().position(|l| l.starts_with("    start: 500s")).unwrap();
    assert!(e.to_string().contains("`start`") && e.location.map(|l| l.0) == Some(start_line), "{e}");
    let late = crate::load_shipped("default.yaml").to_builder().edit_stream("digits", |s| s.start(secs(500)));
    assert_eq!(late.build().unwrap_err().message, e.message);
    let scenario = Scenario::parse(&shipped("default.yaml"), "s.yaml", Path::new("scenarios")).unwrap();
    // requests: 10/s × 500 kFLOP / 25 MFLOP/s = 0.2; batch-job: on half the time on one of one core = 0.5.
    assert!((scenario.offered_background_load() - 0.7).abs() < 1e-12);
}
