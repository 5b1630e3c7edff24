//! Sizes: more processes than a 16-bit id field holds, oversized and non-regular input files, deeply
//! nested YAML.

use std::num::NonZeroUsize;

use flexrnn::node::Discipline;
use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::PolicySpec;
use flexrnn::report;
use flexrnn::scenario::{NodeSpec, Scenario, StageSpec, StreamBuilder};
use flexrnn::sim::SimTime;
use flexrnn::workload::{BackgroundKind, BackgroundSpec, WorkDistribution};

use crate::run_built;

/// 69 999 periodic processes (one 1-FLOP job each, released 2 ns apart so the node holds one job at a
/// time) and a pipelined RNN stream (from 150 µs, after them) whose owner index is 69 999: above the old 16-bit owner field
/// (65 536), which made the run panic. Every job is attributed to its own process.
#[test]
fn seventy_thousand_processes_run_without_panic() {
    let background = 69_999usize;
    let us = |value: u64| SimTime(value * 1_000);
    let gru_16 = PolicySpec::new(StaticConfig { model: "gru-16".into() }).unwrap();
    let pose = StageSpec { name: "pose".into(), work: WorkDistribution::Constant(1e3), after: vec![], device: None };
    let stream = StreamBuilder::new("digits", "digits", "../models/digits-gru", us(100), us(100))
        .start(us(150))
        .sequences(1)
        .stage(pose)
        .policy(gru_16);
    let node = NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing);
    let scenario =
        Scenario::builder("many").seed(1).duration(us(1_000)).node(node).dir(crate::root().join("scenarios"));
    let scenario = (0..background).fold(scenario.stream(stream), |scenario, i| {
        // Periodic every second from 2i ns, each job due a period later (as a file's `periodic`).
        let period = SimTime(SimTime::NANOS_PER_SEC);
        let work = WorkDistribution::Constant(1.0);
        let kind = BackgroundKind::Periodic { period, phase: SimTime(2 * i as u64), jitter: SimTime::ZERO, work };
        let deadline = Some(period);
        scenario.background(BackgroundSpec {
            name: format!("p{i}"),
            kind,
            weight: 1.0,
            priority: 0,
            deadline,
            device: None,
        })
    });
    let (scenario, resources, results) = run_built(scenario, false);
    let jobs = &results[0].outcome.recorder.jobs;
    assert_eq!(jobs.len(), background);
    for job in jobs {
        // Process i's only job is released at 2i ns and served in full (1 FLOP at 1 GFLOP/s: 1 ns).
        assert_eq!(
            (job.job, job.release.0, job.end.0, job.work),
            (0, 2 * job.process as u64, 2 * job.process as u64 + 1, 1.0)
        );
    }
    let mut processes: Vec<usize> = jobs.iter().map(|j| j.process).collect();
    processes.sort_unstable();
    assert!(processes.iter().enumerate().all(|(i, &p)| i == p), "each process has exactly one job");
    // The stream's 9 frames (150 µs, 250 µs, …, 950 µs) all ran after their stage.
    let steps = &results[0].outcome.recorder.steps;
    assert_eq!(steps.len(), 9);
    assert!(steps.iter().all(|s| s.end.is_some() && !s.skipped), "{steps:?}");
    let labels = report::labels(&scenario, &resources);
    let rows = report::summary_rows(&results[0], &scenario, &labels);
    // The stream, each background process, the node.
    assert_eq!(rows.len(), background + 2);
    assert_eq!((rows[0].process.as_str(), rows[0].count), ("digits", 9));
    assert!(rows[1..=background].iter().enumerate().all(|(i, r)| r.process == format!("p{i}") && r.count == 1));
}

fn flexrnn() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_flexrnn"));
    command.current_dir(crate::root());
    command
}

/// `--jobs 100000` started 100 000 threads for one run (it did not finish in 3 minutes): the pool is
/// bounded by the runs, with a note.
#[test]
fn jobs_beyond_the_runs_are_lowered_with_a_note() {
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let scenario = input.path().join("mm1.yaml");
    // The binary reads a file: the shipped text, shortened.
    std::fs::write(&scenario, crate::yaml_with("mm1-ps.yaml", &[("duration: 1250000s", "duration: 100s")])).unwrap();
    let output = flexrnn()
        .args(["run"])
        .arg(&scenario)
        .arg("--out")
        .arg(out.path().join("r"))
        .args(["--jobs", "100000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("note: --jobs 100000 lowered to 1 (there is only 1 run to simulate)"), "{stderr}");
}

const MIB: u64 = 1 << 20;

/// A sparse file of `len` bytes (nothing is written to disk).
fn sparse(path: &std::path::Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// `/dev/zero` or a huge file as an input file was read until memory ran out: every reader of user
/// files refuses non-regular files and files over its limit (16 MiB for YAML and JSON, 256 MiB for
/// data and weights), naming the file and the limit, without reading them.
#[test]
fn device_and_oversized_input_files_are_refused_naming_the_limit() {
    use flexrnn::scenario::Scenario;
    let dir = tempfile::tempdir().unwrap();
    let head = "name: t\nseed: 1\nduration: 1s\nnode: { cores: 1, speed: 1GFLOP/s, scheduler: fifo }\nprocesses:\n";
    // A trace that is a device: refused at its `jobs:` line.
    let text = format!("{head}  - {{ name: replay, kind: trace, jobs: /dev/zero }}\n");
    let e = Scenario::parse(&text, "t.yaml", dir.path()).unwrap_err();
    assert_eq!(e.location.map(|l| l.0), Some(6), "{e}");
    assert!(
        e.to_string().contains("cannot read `/dev/zero`")
            && e.to_string().ends_with("a device: only regular files are read"),
        "{e}"
    );
    // Work samples over the data limit (a sparse file: nothing is read).
    sparse(&dir.path().join("samples.csv"), 256 * MIB + 1);
    let text =
        format!("{head}  - {{ name: p, kind: poisson, rate: 1/s, work: {{ empirical: {{ file: samples.csv }} }} }}\n");
    let e = Scenario::parse(&text, "t.yaml", dir.path()).unwrap_err().to_string();
    assert!(e.contains("`work.empirical.file`: cannot read `samples.csv`"), "{e}");
    assert!(
        e.ends_with("the file is 256.0 MiB (268435457 bytes), more than the 256 MiB allowed for data files"),
        "{e}"
    );
    // A study file that is a device, a base scenario over the YAML limit.
    let e = flexrnn::study::spec::Study::load(std::path::Path::new("/dev/zero")).unwrap_err().to_string();
    assert_eq!(e, "/dev/zero: cannot read the study file: a device: only regular files are read");
    sparse(&dir.path().join("base.yaml"), 16 * MIB + 1);
    std::fs::write(dir.path().join("study.yaml"), "name: s\nseed: 1\nscenario: base.yaml\nreplications: 1\n").unwrap();
    let e = flexrnn::study::spec::Study::load(&dir.path().join("study.yaml")).unwrap_err().to_string();
    assert!(e.contains("more than the 16 MiB allowed for scenario files") && e.contains("base.yaml"), "{e}");
    // A data set file and a model card.
    let e = flexrnn::data::read_ts(std::path::Path::new("/dev/zero"), Default::default()).unwrap_err().to_string();
    assert_eq!(e, "/dev/zero: cannot read: a device: only regular files are read");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    sparse(&model.join("card.json"), 16 * MIB + 1);
    let Err(e) = flexrnn::rnn::FlexibleModel::load(&model) else { panic!("an oversized card is refused") };
    let e = e.to_string();
    assert!(e.contains("card.json") && e.ends_with("more than the 16 MiB allowed for model cards"), "{e}");
    // The command line: the scenario itself.
    let output = flexrnn().args(["run", "/dev/zero"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read scenario /dev/zero: a device: only regular files are read"), "{stderr}");
}

/// 100 000 nested `[` (or `{a: `) took 75 s and more for the YAML parser to reject: a linear pre-scan
/// refuses text nested deeper than 64 levels, at the line and column where it gets too deep, in
/// scenario and study files alike.
#[test]
fn deeply_nested_yaml_is_refused_at_its_line_before_parsing() {
    use flexrnn::scenario::nesting::{too_deep, MAX_NESTING};
    use flexrnn::scenario::Scenario;
    let head = "name: x\nseed: 1\nduration: 1s\n";
    let n = 100_000;
    assert_eq!(MAX_NESTING, 64);
    let message = "lists and maps are nested more than 64 levels deep here; at most 64 are allowed";
    // `processes:` is level 1, so the 64th bracket (column 12 + 63) is level 65.
    let text = format!("{head}processes: {}{}\n", "[".repeat(n), "]".repeat(n));
    let e = Scenario::parse(&text, "deep.yaml", std::path::Path::new(".")).unwrap_err();
    assert_eq!((e.location, e.message.as_str()), (Some((4, 75)), message));
    let text = format!("{head}processes: {}1{}\n", "{a: ".repeat(n), "}".repeat(n));
    let e = Scenario::parse(&text, "deep.yaml", std::path::Path::new(".")).unwrap_err();
    assert_eq!((e.location, e.message.as_str()), (Some((4, 12 + 63 * 4)), message));
    let study = format!(
        "name: s\nseed: 1\nscenario: base.yaml\nreplications: 1\nset:\n  duration: {}{}\n",
        "[".repeat(n),
        "]".repeat(n)
    );
    let e = flexrnn::study::spec::Study::parse(&study, "s.yaml", std::path::Path::new(".")).unwrap_err();
    assert_eq!((e.location, e.message.as_str()), (Some((6, 13 + 62)), message));
    // Every shipped scenario and study is far below the limit (at most 7 levels).
    for entry in std::fs::read_dir(crate::root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(too_deep(&text, 7), None, "{}", path.display());
        }
    }
}

/// A UTF-8 byte-order mark at the start of a scenario or study file gave "missing field `seed`".
#[test]
fn a_byte_order_mark_is_ignored() {
    use flexrnn::scenario::Scenario;
    let text = crate::shipped("mm1-ps.yaml");
    let with_bom = format!("\u{feff}{text}");
    let scenario = Scenario::parse(&with_bom, "bom.yaml", &crate::root().join("scenarios")).unwrap();
    assert_eq!((scenario.name(), scenario.seed()), ("mm1-ps", 1));
    assert_eq!(scenario.text(), text);
    let study = format!("\u{feff}{}", crate::shipped("study-policies.yaml"));
    let study = flexrnn::study::spec::Study::parse(&study, "s.yaml", &crate::root().join("scenarios")).unwrap();
    assert_eq!(study.name, "study-policies");
    // The base scenario read from a file with a mark (in a temporary folder: its model path made absolute).
    let dir = tempfile::tempdir().unwrap();
    let models = crate::at("models/digits-gru").display().to_string();
    let base = crate::yaml_with("default.yaml", &[("../models/digits-gru", &models)]);
    std::fs::write(dir.path().join("base.yaml"), format!("\u{feff}{base}")).unwrap();
    std::fs::write(dir.path().join("s.yaml"), "name: s\nseed: 1\nscenario: base.yaml\nreplications: 1\n").unwrap();
    let study = flexrnn::study::spec::Study::load(&dir.path().join("s.yaml")).unwrap();
    assert_eq!(study.replications, 1);
}
