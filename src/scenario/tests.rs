//! Unit tests of parsing and validation.

use super::checks::expected_events;
use super::*;
use crate::workload::Trace;

const MM1: &str = "name: mm1-ps\nseed: 1\nduration: 1250000s\nnode:\n  cores: 1\n  speed: 1GFLOP/s\n  scheduler: processor_sharing\nprocesses:\n  - name: jobs\n    kind: poisson\n    rate: 0.8/s\n    work: { exponential: { mean: 1GFLOP } }\n";

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(text, "s.yaml", Path::new("."))
}

#[test]
fn parses_the_mm1_scenario() {
    let s = parse(MM1).unwrap();
    assert_eq!(s.horizon(), SimTime(1_250_000 * SimTime::NANOS_PER_SEC));
    let jobs: Vec<_> = s.background().collect();
    assert_eq!(jobs[0].kind, BackgroundKind::Poisson { rate: 0.8, work: WorkDistribution::Exponential { mean: 1e9 } });
    assert_eq!(s.run_count(), 1);
}

#[test]
fn errors_name_file_line_column_field_and_what_is_allowed() {
    let e = parse(&MM1.replace("    rate: 0.8/s", "    rate: 0.8/s\n    rte: 3")).unwrap_err();
    assert_eq!(e.file, "s.yaml");
    assert_eq!(e.location.map(|l| l.0), Some(12), "{e}");
    assert!(e.to_string().contains("unknown field `rte`") && e.to_string().contains("expected one of"), "{e}");

    let e = parse(&MM1.replace("1250000s", "12 parsecs")).unwrap_err();
    assert_eq!(e.location, Some((3, 11)), "{e}");
    assert!(e.to_string().contains("duration") && e.to_string().contains("ms, s, min"), "{e}");

    let e = parse(&MM1.replace("processor_sharing", "lottery")).unwrap_err();
    assert!(e.to_string().contains("s.yaml:7:") && e.to_string().contains("processor_sharing"), "{e}");

    let e = parse(&MM1.replace("    rate: 0.8/s\n", "")).unwrap_err();
    assert!(e.to_string().contains("missing field `rate`") && e.location.is_some(), "{e}");

    let e = parse(&MM1.replace("    rate: 0.8/s\n", "    rate: 0.8/s\n    period: 1s\n")).unwrap_err();
    assert!(e.to_string().contains("`period` is not allowed for kind `poisson`"), "{e}");

    let e = parse(&MM1.replace("cores: 1", "cores: 0")).unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(5), "{e}");

    let e = parse(&MM1.replace("{ exponential: { mean: 1GFLOP } }", "{ lognormal: { mean: 1GFLOP, cv: -1 } }"))
        .unwrap_err();
    assert!(e.to_string().contains("cv must be positive"), "{e}");

    let e = parse(&format!("{MM1}  - name: jobs\n    kind: on_off\n    on_mean: 1s\n    off_mean: 1s\n")).unwrap_err();
    assert!(e.to_string().contains("used twice") && e.location == Some((13, 5)), "the second `jobs`: {e}");
}

/// MM1 with its work replaced by `work` (flow style, on line 12).
fn with_work(work: &str) -> String {
    MM1.replace("{ exponential: { mean: 1GFLOP } }", work)
}

fn work_of(s: &Scenario) -> WorkDistribution {
    match &s.background().next().unwrap().kind {
        BackgroundKind::Poisson { work, .. } => work.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parses_every_work_distribution() {
    for (written, expected) in [
        ("{ constant: 2MFLOP }", WorkDistribution::Constant(2e6)),
        ("{ lognormal: { mean: 2MFLOP, cv: 0.5 } }", WorkDistribution::LogNormal { mean: 2e6, cv: 0.5 }),
        ("{ gamma: { mean: 2MFLOP, cv: 0.5 } }", WorkDistribution::Gamma { mean: 2e6, cv: 0.5 }),
        ("{ weibull: { scale: 1MFLOP, shape: 0.7 } }", WorkDistribution::Weibull { scale: 1e6, shape: 0.7 }),
        ("{ pareto: { scale: 1MFLOP, shape: 2.5 } }", WorkDistribution::Pareto { scale: 1e6, shape: 2.5 }),
        ("{ uniform: { min: 0FLOP, max: 3MFLOP } }", WorkDistribution::Uniform { min: 0.0, max: 3e6 }),
        ("{ normal: { mean: 2MFLOP, sd: 1MFLOP } }", WorkDistribution::TruncatedNormal { mean: 2e6, sd: 1e6 }),
    ] {
        let s = parse(&with_work(written)).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(work_of(&s), expected, "{written}");
    }
    // Block style too.
    let block = MM1.replace(
        "    work: { exponential: { mean: 1GFLOP } }\n",
        "    work:\n      gamma:\n        mean: 1GFLOP\n        cv: 2\n",
    );
    assert_eq!(work_of(&parse(&block).unwrap()), WorkDistribution::Gamma { mean: 1e9, cv: 2.0 });
    // The offered load uses the true mean: the truncated normal's is shifted up (1.2876 for mean 1, sd 1).
    let s = parse(&with_work("{ normal: { mean: 1GFLOP, sd: 1GFLOP } }")).unwrap();
    assert!((s.offered_background_load() - 0.8 * 1.287_6).abs() < 1e-4, "{}", s.offered_background_load());
}

#[test]
fn work_parameter_errors_name_the_field_and_what_is_allowed() {
    for (written, expected) in [
        ("{ gamma: { mean: 0FLOP, cv: 1 } }", "gamma mean must be positive and finite, got 0"),
        ("{ gamma: { mean: 1GFLOP, cv: 0 } }", "gamma cv must be positive and finite, got 0"),
        ("{ gamma: { mean: 1GFLOP, cv: -2 } }", "gamma cv must be positive and finite, got -2"),
        ("{ weibull: { scale: 0FLOP, shape: 1 } }", "weibull scale must be positive and finite"),
        ("{ weibull: { scale: 1GFLOP, shape: 0 } }", "weibull shape must be positive and finite, got 0"),
        ("{ weibull: { scale: 1GFLOP, shape: 0.001 } }", "weibull shape 0.001 is too small"),
        ("{ pareto: { scale: 0FLOP, shape: 3 } }", "pareto scale (the smallest work, x_m) must be positive"),
        ("{ pareto: { scale: 1GFLOP, shape: 1 } }", "pareto shape (α) must be a finite number greater than 1, got 1: the mean α·scale/(α − 1) exists only for α > 1"),
        ("{ pareto: { scale: 1GFLOP, shape: -2 } }", "greater than 1, got -2"),
        ("{ uniform: { min: 3MFLOP, max: 1MFLOP } }", "uniform max must be finite and greater than min, got min 3000000 and max 1000000"),
        ("{ uniform: { min: 1MFLOP, max: 1MFLOP } }", "greater than min"),
        ("{ normal: { mean: 1GFLOP, sd: 0FLOP } }", "normal sd must be positive and finite, got 0"),
    ] {
        let e = parse(&with_work(written)).unwrap_err();
        assert!(e.message.contains("process `jobs`: `work`: "), "{written}: {e}");
        assert!(e.message.contains(expected), "{written}: {e}\nshould contain {expected:?}");
        assert_eq!(e.location.map(|l| l.0), Some(12), "{written}: {e}");
    }
    // Negative work is refused by the unit itself, at the value (a normal's mean aside: see
    // `a_normal_mean_may_be_negative_down_to_three_sd_in_yaml_as_in_the_builder`).
    for written in ["{ uniform: { min: -1MFLOP, max: 1MFLOP } }", "{ exponential: { mean: -1MFLOP } }"] {
        let e = parse(&with_work(written)).unwrap_err();
        assert!(e.message.contains("invalid work `-1MFLOP`") && e.message.contains("non-negative"), "{e}");
        assert_eq!(e.location.map(|l| l.0), Some(12), "{written}: {e}");
    }
    // Two distributions, an unknown one, or a parameter of another distribution.
    let e = parse(&with_work("{ gamma: { mean: 1GFLOP, cv: 1 }, pareto: { scale: 1GFLOP, shape: 2 } }")).unwrap_err();
    assert!(
        e.message.contains("give exactly one distribution") && e.message.contains("empirical: { file: <path> }"),
        "{e}"
    );
    assert!(e.location.is_some(), "{e}");
    let e = parse(&with_work("{ beta: { a: 1, b: 2 } }")).unwrap_err();
    assert!(e.message.contains("unknown variant `beta`, expected one of") && e.message.contains("`weibull`"), "{e}");
    assert_eq!(e.location, Some((12, 13)), "{e}");
    // Issue 12 (one-key maps read by serde's derived enum): no distribution, a bare name, a number or
    // a number as the name are refused with the forms allowed, at the value.
    for (written, expected) in [
        ("{}", "give exactly one distribution, one of `constant: <work>`"),
        ("constant", "give exactly one distribution, one of `constant: <work>`"),
        ("5", "expected a one-key map, one of `constant: <work>`"),
        ("{ 0: 1MFLOP }", "unknown variant `0`, expected one of `constant`"),
        ("{ gamma: 5 }", "expected a map `{ mean: <work>, cv: <number> }`"),
    ] {
        let e = parse(&with_work(written)).unwrap_err();
        assert!(e.message.contains(expected), "{written}: {e}\nshould contain {expected:?}");
        assert_eq!(e.location.map(|l| l.0), Some(12), "{written}: {e}");
    }
    let e = parse(&with_work("{ weibull: { mean: 1GFLOP, shape: 2 } }")).unwrap_err();
    assert!(e.message.contains("unknown field `mean`") && e.message.contains("scale"), "{e}");
    assert_eq!(e.location.map(|l| l.0), Some(12), "{e}");
    let e = parse(&with_work("{ pareto: { scale: 1GFLOP } }")).unwrap_err();
    assert!(e.message.contains("missing field `shape`"), "{e}");
    assert!(e.location.is_some(), "{e}");
}

#[test]
fn empirical_work_is_read_relative_to_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/work.csv"), "work_flop\n1e9\n2e9\n\n6e9\n").unwrap();
    let text = with_work("{ empirical: { file: data/work.csv } }");
    let s = Scenario::parse(&text, "s.yaml", dir.path()).unwrap();
    let WorkDistribution::Empirical { file, samples } = work_of(&s) else { panic!() };
    assert_eq!((file, &samples[..]), (PathBuf::from("data/work.csv"), &[1e9, 2e9, 6e9][..]));
    assert!((s.offered_background_load() - 0.8 * 3.0).abs() < 1e-12);
    // Block style.
    let block = MM1.replace(
        "    work: { exponential: { mean: 1GFLOP } }\n",
        "    work:\n      empirical:\n        file: data/work.csv\n",
    );
    assert_eq!(work_of(&Scenario::parse(&block, "s.yaml", dir.path()).unwrap()).mean(), 3e9);

    // Errors name the scenario file and the `file:` line, the field, and the CSV file and line.
    let column = text.lines().nth(11).unwrap().find("file:").unwrap() + 1;
    for (csv, expected) in [
        ("1e9\n2e9\n12 MFLOP\n", "data/work.csv line 3: `12 MFLOP` is not a number"),
        ("1e9\n-5\n", "data/work.csv line 2: `-5` is negative"),
        ("1e9\nnan\n", "data/work.csv line 2: `nan` is not a number"),
        ("work_flop\n", "data/work.csv: no samples"),
        ("", "data/work.csv: no samples"),
    ] {
        std::fs::write(dir.path().join("data/work.csv"), csv).unwrap();
        let e = Scenario::parse(&text, "s.yaml", dir.path()).unwrap_err();
        assert_eq!(e.file, "s.yaml");
        assert_eq!(e.location, Some((12, column)), "{e}");
        assert!(e.message.starts_with("process `jobs`: `work.empirical.file`: "), "{e}");
        assert!(e.message.contains(expected), "{csv:?}: {e}");
    }
    std::fs::write(dir.path().join("data/work.csv"), "0\n0\n").unwrap();
    let e = Scenario::parse(&text, "s.yaml", dir.path()).unwrap_err();
    assert!(e.message.contains("`work`: empirical samples of `data/work.csv` are all 0"), "{e}");
    assert_eq!(e.location, Some((12, column)), "{e}");
    let e = Scenario::parse(&with_work("{ empirical: { file: missing.csv } }"), "s.yaml", dir.path()).unwrap_err();
    assert!(
        e.to_string().starts_with("s.yaml:12:")
            && e.message.contains("`work.empirical.file`: cannot read `missing.csv`")
            && e.message.contains("relative to the scenario's folder"),
        "{e}"
    );
}

/// A trace scenario on 2 cores of 1 MFLOP/s over 10 s; `trace` is the process's lines after `kind`.
fn trace_scenario(trace: &str) -> String {
    format!("name: tr\nseed: 1\nduration: 10s\nnode:\n  cores: 2\n  speed: 1MFLOP/s\n  scheduler: processor_sharing\nprocesses:\n  - name: replay\n    kind: trace\n{trace}")
}

fn trace_of(s: &Scenario) -> (f64, Trace) {
    match &s.background().next().unwrap().kind {
        BackgroundKind::Trace { time_scale, trace, .. } => (*time_scale, trace.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn trace_processes_read_their_files_relative_to_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("traces")).unwrap();
    std::fs::write(
        dir.path().join("traces/jobs.csv"),
        "# hand-written\nrelease_s,work_flop\n0,2e6\n4,1e6\n10,1e6\n11,5e6\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("traces/u.csv"), "time_s,utilisation\n0,0.5\n4,0\n6,0.25\n").unwrap();

    let s =
        Scenario::parse(&trace_scenario("    jobs: traces/jobs.csv\n    priority: 2\n"), "s.yaml", dir.path()).unwrap();
    let (scale, trace) = trace_of(&s);
    let Trace::Jobs(jobs) = trace else { panic!() };
    assert_eq!((scale, jobs.len(), jobs[1].release), (1.0, 4, SimTime(4 * SimTime::NANOS_PER_SEC)));
    assert_eq!(s.background().next().unwrap().priority, 2);
    // Rows before the end (10 s; the run is [0, 10 s)): 3 MFLOP of 2 cores × 1 MFLOP/s × 10 s.
    assert!((s.offered_background_load() - 0.15).abs() < 1e-12, "{}", s.offered_background_load());
    assert_eq!(expected_events(s.horizon(), s.devices(), s.processes()), 2.0);

    // Utilisation: 0.5 for 4 s, 0 for 2 s, 0.25 for the median interval (3 s): 4 + 1.5 = 5.5 core-s.
    let s = Scenario::parse(&trace_scenario("    utilisation: traces/u.csv\n    chunk: 500ms\n"), "s.yaml", dir.path())
        .unwrap();
    let (_, trace) = trace_of(&s);
    let Trace::Utilisation { trace: samples, chunk } = trace else { panic!() };
    assert_eq!(
        (samples.samples.len(), samples.end, chunk),
        (3, SimTime(9 * SimTime::NANOS_PER_SEC), SimTime(500_000_000))
    );
    assert!((s.offered_background_load() - (2e6 * 0.5 * 4.0 + 2e6 * 0.25 * 3.0) / 2e7).abs() < 1e-12);
    // 8 chunks of one job, then 6 chunks of one job (⌈0.25 × 2⌉ = 1).
    assert_eq!(expected_events(s.horizon(), s.devices(), s.processes()), 14.0);
    // The default chunk is 100 ms; time_scale 2 stretches the trace past the end (10 s).
    let s =
        Scenario::parse(&trace_scenario("    utilisation: traces/u.csv\n    time_scale: 2\n"), "s.yaml", dir.path())
            .unwrap();
    let Trace::Utilisation { trace: samples, chunk } = trace_of(&s).1 else { panic!() };
    assert_eq!((samples.samples[2].start, chunk), (SimTime(12 * SimTime::NANOS_PER_SEC), DEFAULT_TRACE_CHUNK));
    assert!((s.offered_background_load() - 2e6 * 0.5 * 8.0 / 2e7).abs() < 1e-12);
}

#[test]
fn trace_errors_name_the_field_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.csv"), "release_s,work_flop\n0,1e6\n").unwrap();
    std::fs::write(dir.path().join("u.csv"), "time_s,utilisation\n0,0.5\n1,0.5\n").unwrap();
    let parse_in = |trace: &str| Scenario::parse(&trace_scenario(trace), "s.yaml", dir.path()).unwrap_err();
    // Lines: 9 `- name: replay`, 10 `kind: trace`, 11 the first field after it, 12 the second.
    for (trace, location, expected) in [
        (
            "    jobs: jobs.csv\n    utilisation: u.csv\n",
            (11, 5),
            "process `replay`: `jobs` and `utilisation` are both given; give exactly one: `jobs: <file.csv>`",
        ),
        ("    weight: 2\n", (9, 5), "process `replay`: missing field `jobs` or `utilisation`"),
        ("    jobs: jobs.csv\n    chunk: 1s\n", (12, 5), "`chunk` is allowed only with `utilisation`"),
        ("    utilisation: u.csv\n    chunk: 0s\n", (12, 5), "`chunk` must be longer than zero"),
        ("    utilisation: u.csv\n    time_scale: 0\n", (12, 5), "`time_scale` must be a positive number"),
        ("    jobs: jobs.csv\n    rate: 2/s\n", (12, 5), "field `rate` is not allowed for kind `trace`"),
        ("    jobs: missing.csv\n", (11, 5), "`jobs`: cannot read `missing.csv` (a CSV file with the header `release_s,work_flop`, relative to the scenario's folder"),
    ] {
        let e = parse_in(trace);
        assert_eq!(e.file, "s.yaml");
        assert_eq!(e.location, Some(location), "{trace:?}: {e}");
        assert!(e.message.contains(expected), "{trace:?}: {e}\nshould contain {expected:?}");
    }

    // A bad CSV line: located at the `jobs:` / `utilisation:` key, naming the CSV file and its line.
    std::fs::write(dir.path().join("jobs.csv"), "release_s,work_flop\n0,1e6\n# note\n-2,1e6\n").unwrap();
    let e = parse_in("    weight: 2\n    jobs: jobs.csv\n");
    assert_eq!(e.location, Some((12, 5)), "{e}");
    assert!(e.to_string().starts_with("s.yaml:12:5: process `replay`: `jobs`: jobs.csv line 4: release_s `-2` is negative; expected the header `release_s,work_flop`"), "{e}");
    std::fs::write(dir.path().join("u.csv"), "time_s,utilisation\n0,0.5\n300,150\n").unwrap();
    let e = Scenario::parse(
        &trace_scenario("")
            .replace("  - name: replay\n    kind: trace\n", "  - { name: replay, kind: trace, utilisation: u.csv }\n"),
        "s.yaml",
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(e.location, Some((9, 34)), "flow style: {e}");
    assert!(e.message.contains("`utilisation`: u.csv line 3: utilisation `150` is outside [0, 1]; expected the header `time_s,utilisation`"), "{e}");

    // Too many jobs for one run: 1-µs chunks of the whole node (2 jobs each) for 40 000 s are 8e10.
    std::fs::write(dir.path().join("u.csv"), "time_s,utilisation\n0,1\n20000,1\n").unwrap();
    let e = Scenario::parse(
        &trace_scenario("    utilisation: u.csv\n    chunk: 1us\n").replace("duration: 10s", "duration: 40000s"),
        "s.yaml",
        dir.path(),
    )
    .unwrap_err();
    assert!(e.message.contains("arrivals and frames") && e.location == Some((3, 1)), "{e}");
}

/// Issue 12 (one-key maps read by serde's derived enum): scheduler maps.
#[test]
fn scheduler_maps_take_one_scheduler_with_its_parameters() {
    let with = |scheduler: &str| parse(&MM1.replace("processor_sharing", scheduler));
    let s = with("{ round_robin: { quantum: 10ms, context_switch: 50us } }").unwrap();
    assert_eq!(
        s.node().discipline,
        Discipline::RoundRobin { quantum: SimTime(10_000_000), context_switch: SimTime(50_000) }
    );
    let s = with("{ fixed_priority: { preemptive: false } }").unwrap();
    assert_eq!(s.node().discipline, Discipline::FixedPriority { preemptive: false });
    assert_eq!(with("fixed_priority").unwrap().node().discipline, Discipline::FixedPriority { preemptive: true });
    for (written, expected) in [
        ("{}", "give exactly one scheduler, one of `processor_sharing`"),
        ("{ fixed_priority: {}, round_robin: { quantum: 1ms } }", "give exactly one scheduler, one of"),
        ("{ fifo: {} }", "unknown variant `fifo`, expected `fixed_priority` or `round_robin`"),
        ("{ round_robin: { quantum: 0s } }", "round_robin quantum must be longer than zero"),
        ("{ round_robin: { context_switch: 1ms } }", "missing field `quantum`"),
        ("round_robin", "round_robin needs its quantum"),
    ] {
        let e = with(written).unwrap_err();
        assert!(e.message.contains(expected), "{written}: {e}\nshould contain {expected:?}");
        assert_eq!(e.location.map(|l| l.0), Some(7), "{written}: {e}");
    }
}

#[test]
fn no_input_panics() {
    for text in ["", "[", "name: [1, 2]", "processes: 5", "\u{0}", "name: x\nseed: -1", "a: *b", "duration: 1e999s"] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn a_zero_period_is_named_as_the_period_not_as_the_deadline_it_implies() {
    use crate::node::Discipline;
    use crate::workload::WorkDistribution;
    let node = NodeSpec::new(std::num::NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing);
    let e = Scenario::builder("p")
        .duration(SimTime::from_secs_f64(1.0))
        .node(node)
        .periodic("p", SimTime::ZERO, WorkDistribution::Constant(1.0))
        .build()
        .unwrap_err();
    assert!(e.message.starts_with("process `p`: `period` must be longer than zero"), "{e}");
    let yaml = "name: s\nduration: 1s\nnode: { cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }\nprocesses:\n  - { name: p, kind: periodic, period: 0.4ns, work: { constant: 1MFLOP } }\n";
    let e = Scenario::parse(yaml, "s.yaml", Path::new(".")).unwrap_err();
    assert!(e.message.contains("`period` must be longer than zero (at least 1ns"), "{e}");
}

#[test]
fn a_normal_mean_may_be_negative_down_to_three_sd_in_yaml_as_in_the_builder() {
    use crate::workload::{BackgroundKind, WorkDistribution};
    let yaml = |work: &str| {
        format!("name: s\nseed: 1\nduration: 1s\nnode: {{ cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }}\nprocesses:\n  - {{ name: p, kind: poisson, rate: 1/s, work: {work} }}\n")
    };
    let s = Scenario::parse(&yaml("{ normal: { mean: -1MFLOP, sd: 1MFLOP } }"), "s.yaml", Path::new(".")).unwrap();
    let Some(Process::Background(b)) = s.processes().first() else { panic!("one background process") };
    assert_eq!(
        b.kind,
        BackgroundKind::Poisson { rate: 1.0, work: WorkDistribution::TruncatedNormal { mean: -1e6, sd: 1e6 } }
    );
    let e = Scenario::parse(&yaml("{ normal: { mean: -4MFLOP, sd: 1MFLOP } }"), "s.yaml", Path::new(".")).unwrap_err();
    assert!(e.message.contains("more than 3 sd"), "{e}");
    let e = Scenario::parse(&yaml("{ normal: { mean: -x, sd: 1MFLOP } }"), "s.yaml", Path::new(".")).unwrap_err();
    assert!(e.message.contains("invalid work `-x`"), "{e}");
}

/// `output:` turns the per-record files off one by one (all on by default); an unknown key or a
/// value that is not a boolean is named with its line and what is allowed.
#[test]
fn output_switches_turn_record_files_off_and_errors_name_the_allowed_keys() {
    let all = parse(MM1).unwrap().record_files();
    assert_eq!(all, crate::scenario::RecordFileSwitches { jobs: true, steps: true, sequences: true });
    let off = parse(&format!("{MM1}output: {{ jobs: false, steps: false }}\n")).unwrap().record_files();
    assert_eq!(off, crate::scenario::RecordFileSwitches { jobs: false, steps: false, sequences: true });
    let lines = MM1.lines().count();
    let e = parse(&format!("{MM1}output:\n  jobs: false\n  frames: false\n")).unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(lines + 3), "{e}");
    let text = e.to_string();
    assert!(text.starts_with("s.yaml:") && text.contains("unknown field `frames`"), "{text}");
    for key in ["`bin`", "`jobs`", "`steps`", "`sequences`"] {
        assert!(text.contains(key), "{text}");
    }
    let e = parse(&format!("{MM1}output: {{ steps: 0 }}\n")).unwrap_err();
    assert!(e.to_string().contains("output.steps") && e.to_string().contains("expected a boolean"), "{e}");
}
