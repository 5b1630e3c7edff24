//! Scenarios built in code (`Scenario::builder`) go through the same checks as scenario files and
//! run exactly as the same scenario written in YAML.

use std::num::NonZeroUsize;

use flexrnn::node::Discipline;
use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::PolicySpec;
use flexrnn::report;
use flexrnn::scenario::{NodeSpec, Scenario, StreamBuilder};
use flexrnn::sim::SimTime;
use flexrnn::workload::{OnMiss, WorkDistribution};

use crate::{
    default_builder, default_policies, default_stream, ms, root, run_scenario, run_text, secs, shipped, short_default,
    yaml_with,
};

fn static_policy(model: &str) -> PolicySpec {
    PolicySpec::new(StaticConfig { model: model.into() }).unwrap()
}

/// `scenarios/default.yaml`, written in code.
fn default_in_code() -> Scenario {
    default_builder(secs(120), [default_policies(default_stream().on_miss(OnMiss::Skip))])
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every output file of the default scenario built in code is byte-identical to the YAML one's, except
/// the manifests' record of where the scenario came from (file, text, its hash) and the wall time.
#[test]
fn builder_built_default_scenario_gives_byte_identical_outputs() {
    let (from_yaml, yaml_resources, yaml_results) = run_text(&shipped("default.yaml"), true);
    let in_code = default_in_code();
    assert_eq!(in_code.processes(), from_yaml.processes());
    assert_eq!((in_code.node(), in_code.horizon(), in_code.seed()), (from_yaml.node(), from_yaml.horizon(), 7));
    assert_eq!((in_code.file(), in_code.text()), ("<code: default>", ""));

    let (resources, results) = run_scenario(&in_code, true);
    let yaml_files = report::outputs(&from_yaml, &yaml_resources, &yaml_results).unwrap();
    let code_files = report::outputs(&in_code, &resources, &results).unwrap();
    assert_eq!(code_files.len(), yaml_files.len());
    assert!(code_files.len() > 10, "{}", code_files.len());
    let mut manifests = 0;
    for ((code_path, code), (yaml_path, yaml)) in code_files.iter().zip(&yaml_files) {
        assert_eq!(code_path, yaml_path);
        if code_path.file_name().is_some_and(|n| n == "manifest.json") {
            manifests += 1;
            let strip = |bytes: &[u8]| {
                let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                for key in ["scenario_file", "scenario_sha256", "scenario", "wall_time_s"] {
                    value.as_object_mut().unwrap().remove(key).expect(key);
                }
                value
            };
            assert_eq!(strip(code), strip(yaml), "{}", code_path.display());
        } else {
            assert!(code == yaml, "{} differs", code_path.display());
        }
    }
    assert_eq!(manifests, 3);
}

/// The builder's values are checked by the scenario file's checks, with the same messages.
#[test]
fn builder_errors_are_the_scenario_files_errors() {
    let node = NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::Fifo);
    let base = || Scenario::builder("checks").duration(secs(10)).node(node).dir(root().join("scenarios"));
    let message = |built: Result<Scenario, flexrnn::scenario::ScenarioError>| built.unwrap_err().message;
    let work = WorkDistribution::Constant(1e6);
    assert_eq!(message(base().poisson("jobs", 0.0, work.clone()).build()), "process `jobs`: `rate` must be positive");
    assert_eq!(
        message(base().periodic("tick", ms(10), work.clone()).periodic("tick", ms(20), work.clone()).build()),
        "processes[1].name: `tick` is used twice; names must be unique"
    );
    assert_eq!(
        message(base().mmpp("bursts", vec![1.0, 2.0], vec![vec![0.0, 1.0]], work.clone()).build()),
        "process `bursts`: `switch_rates` must be a 2 × 2 matrix (one row and column per state in `rates`)"
    );
    assert_eq!(
        message(Scenario::builder("has space").duration(secs(1)).node(node).build()),
        "name: `has space` contains ` `; a name names the output folder and may use only letters, digits, `-`, `_` and `.` (not first)"
    );
    assert!(message(Scenario::builder("x").node(node).build()).starts_with("duration: give the duration"));
    assert_eq!(
        message(base().on_off("batch", SimTime::ZERO, secs(1), true).build()),
        "process `batch`: `on_mean` must be longer than zero (at least 1ns; times are whole nanoseconds)"
    );
    let stream = StreamBuilder::new("digits", "digits", "../models/digits-gru", ms(5), ms(5));
    assert_eq!(
        message(base().stream(stream.clone()).build()),
        "process `digits`: `policies` must list at least one policy"
    );
    let e = base().stream(stream.policy(static_policy("gru-16")).start(secs(10))).build().unwrap_err();
    assert_eq!(e.message, "process `digits`: `start` (10 s) must be before the end of the run (duration 10 s)");
    assert_eq!((e.file.as_str(), e.location), ("<code: checks>", None));
    // Files are read relative to `dir`, as a scenario file's are relative to its folder.
    let traced = base().trace_jobs("replay", "traces/missing.csv", 1.0).build().unwrap_err();
    assert!(traced.message.starts_with("process `replay`: `jobs`: cannot read `traces/missing.csv`"), "{traced}");
}

/// A loaded scenario changed through the builder (`to_builder`, `edit_stream`) is the scenario the
/// same change written into its YAML gives: same processes, node, duration, seed and bins.
#[test]
fn loaded_scenario_changed_in_code_equals_the_same_change_in_yaml() {
    // The reference is YAML text on purpose: the test is about the two ways giving one scenario.
    let text = yaml_with(
        "default.yaml",
        &[
            ("duration: 120s", "duration: 5s"),
            ("    on_miss: skip", "    on_miss: continue\n    sequences: 12\n    start: 1s"),
        ],
    );
    let from_yaml = Scenario::parse(&text, "default.yaml", &root().join("scenarios")).unwrap();
    let in_code = short_default(12, secs(5))
        .edit_stream("digits", |s| s.on_miss(OnMiss::Continue).start(secs(1)))
        .build()
        .unwrap();
    assert_eq!(in_code.processes(), from_yaml.processes());
    assert_eq!(
        (in_code.node(), in_code.horizon(), in_code.seed(), in_code.bin(), in_code.dir()),
        (from_yaml.node(), from_yaml.horizon(), 7, from_yaml.bin(), from_yaml.dir())
    );
}
