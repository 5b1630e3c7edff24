//! Integration tests, built as one binary. Run with the README's test command
//! (`cargo test --release`); a debug build runs them too, only slower.

mod book;
mod builder;
mod check;
mod cli;
mod custom_policy;
mod data_loaders;
mod default_scenario;
mod determinism;
mod devices;
mod eval;
mod figures;
mod flex;
mod flex_sim;
mod hot_paths;
mod import;
mod lstm_families;
mod models;
mod nested_model;
mod node_models;
mod node_props;
mod pipelines;
mod profile;
mod queueing;
mod robustness;
mod same_instant;
mod scenario_props;
mod schema;
mod shipped;
mod sizes;
mod small_defects;
mod studies;
mod traces;

/// Counts heap allocations per thread, so a test can check that a hot path allocates nothing.
pub mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    /// The system allocator, counting `alloc` and `realloc` calls of the current thread.
    pub struct Counting;

    fn bump() {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Allocations made so far by this thread.
    pub fn allocations() -> u64 {
        COUNT.with(|c| c.get())
    }
}

#[global_allocator]
static GLOBAL: alloc_count::Counting = alloc_count::Counting;

use std::path::{Path, PathBuf};

use flexrnn::node::Discipline;
use flexrnn::policy::{greedy_slack::GreedySlackConfig, static_::StaticConfig, PolicySpec};
use flexrnn::runner::{self, Resources, RunResult};
use flexrnn::scenario::{NodeSpec, Scenario, ScenarioBuilder, StreamBuilder};
use flexrnn::sim::SimTime;
use flexrnn::workload::WorkDistribution;

/// The crate root (where `scenarios/` and `models/` are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a shipped scenario file.
pub fn shipped(name: &str) -> String {
    std::fs::read_to_string(root().join("scenarios").join(name)).expect("shipped scenario exists")
}

/// Parses `text` as if it were a file in `scenarios/` and runs it (in parallel or not).
pub fn run_text(text: &str, parallel: bool) -> (Scenario, Resources, Vec<RunResult>) {
    let scenario = Scenario::parse(text, "test.yaml", &root().join("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let resources = runner::load_resources(&scenario).unwrap_or_else(|e| panic!("{e}"));
    let plans = runner::plan_runs(&scenario, &resources).unwrap_or_else(|e| panic!("{e}"));
    let results = runner::execute(&scenario, &resources, &plans, parallel).unwrap_or_else(|e| panic!("{e}"));
    (scenario, resources, results)
}

/// A shipped scenario's text with each `(from, to)` replaced (each `from` must occur). Only for tests
/// about YAML text itself: errors and the lines they point at, and files written for the binary; a
/// test that varies a scenario to run it changes it through the builder ([`load_shipped`],
/// `Scenario::to_builder`).
pub fn yaml_with(name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = shipped(name);
    for (from, to) in edits {
        assert!(text.contains(from), "`{from}` is not in {name} any more; update the test");
        text = text.replace(from, to);
    }
    text
}

/// Parses a shipped scenario file (relative paths against `scenarios/`).
pub fn load_shipped(name: &str) -> Scenario {
    Scenario::parse(&shipped(name), name, &root().join("scenarios")).unwrap_or_else(|e| panic!("{e}"))
}

/// `scenarios/default.yaml` as shipped, shortened to `sequences` sequences of its stream and
/// `duration`; change it further through the builder.
pub fn short_default(sequences: usize, duration: SimTime) -> ScenarioBuilder {
    load_shipped("default.yaml").to_builder().duration(duration).edit_stream("digits", |s| s.sequences(sequences))
}

/// Builds `builder` and runs it (in parallel or not).
pub fn run_built(builder: ScenarioBuilder, parallel: bool) -> (Scenario, Resources, Vec<RunResult>) {
    let scenario = builder.build().unwrap_or_else(|e| panic!("{e}"));
    let (resources, results) = run_scenario(&scenario, parallel);
    (scenario, resources, results)
}

/// `value` seconds.
pub fn secs(value: u64) -> SimTime {
    SimTime(value * SimTime::NANOS_PER_SEC)
}

/// `value` milliseconds.
pub fn ms(value: u64) -> SimTime {
    SimTime(value * 1_000_000)
}

/// Runs a validated scenario (in parallel or not).
pub fn run_scenario(scenario: &Scenario, parallel: bool) -> (Resources, Vec<RunResult>) {
    let resources = runner::load_resources(scenario).unwrap_or_else(|e| panic!("{e}"));
    let plans = runner::plan_runs(scenario, &resources).unwrap_or_else(|e| panic!("{e}"));
    let results = runner::execute(scenario, &resources, &plans, parallel).unwrap_or_else(|e| panic!("{e}"));
    (resources, results)
}

/// The stream of `scenarios/default.yaml` without its policies: digits through `models/digits-gru`,
/// a frame every 5 ms due 5 ms later, late frames skipped.
pub fn default_stream() -> StreamBuilder {
    StreamBuilder::new("digits", "digits", "../models/digits-gru", ms(5), ms(5))
}

/// `scenarios/default.yaml` in code, lasting `duration` with `streams` (e.g. [`default_stream`] and
/// its policies): seed 7, one 25 MFLOP/s processor-sharing core, the streams, then Poisson requests
/// of log-normal work and an on/off batch job; paths relative to `scenarios/`.
pub fn default_builder(duration: SimTime, streams: impl IntoIterator<Item = StreamBuilder>) -> ScenarioBuilder {
    let eight = secs(8);
    let builder = Scenario::builder("default")
        .seed(7)
        .duration(duration)
        .node(NodeSpec::new(std::num::NonZeroUsize::MIN, 25e6, Discipline::ProcessorSharing))
        .dir(root().join("scenarios"));
    streams
        .into_iter()
        .fold(builder, ScenarioBuilder::stream)
        .poisson("requests", 10.0, WorkDistribution::LogNormal { mean: 500e3, cv: 1.0 })
        .on_off("batch-job", eight, eight, false)
}

/// The policies of `scenarios/default.yaml`: static gru-128, static gru-16, greedy_slack.
pub fn default_policies(stream: StreamBuilder) -> StreamBuilder {
    let fixed = |model: &str| PolicySpec::new(StaticConfig { model: model.into() }).unwrap();
    stream
        .policy(fixed("gru-128"))
        .policy(fixed("gru-16"))
        .policy(PolicySpec::new(GreedySlackConfig { safety: 1.0 }).unwrap())
}

/// The built-in policies beyond the default scenario's three, configured for its `digits-gru`
/// stream, in this order: threshold, pid, budget, random, confidence.
pub fn other_builtin_policies() -> [PolicySpec; 5] {
    use flexrnn::policy::budget::BudgetConfig;
    use flexrnn::policy::confidence::ConfidenceConfig;
    use flexrnn::policy::pid::PidConfig;
    use flexrnn::policy::random::RandomConfig;
    use flexrnn::policy::threshold::{LoadSignal, ThresholdConfig};
    use flexrnn::units::{Duration, Work};
    [
        PolicySpec::new(ThresholdConfig {
            signal: LoadSignal::NodeJobs,
            models: vec!["gru-128".into(), "gru-64".into(), "gru-16".into()],
            thresholds: vec![1.0, 2.0],
            hysteresis: 0.0,
        }),
        PolicySpec::new(PidConfig { target: Duration(ms(4)), kp: 0.5, ki: 0.2, kd: 0.0, knob_step: None }),
        PolicySpec::new(BudgetConfig { window: 8, budget: Work(400e3), knob_step: None }),
        PolicySpec::new(RandomConfig {}),
        PolicySpec::new(ConfidenceConfig { threshold: 0.9, cheap: "gru-16".into(), accurate: "gru-128".into() }),
    ]
    .map(Result::unwrap)
}

/// Path of a file under the crate root.
pub fn at(relative: &str) -> PathBuf {
    root().join(Path::new(relative))
}
