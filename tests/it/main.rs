//! Integration tests, built as one binary. Run with the README's test command
//! (`cargo test --release`); a debug build runs them too, only slower.

mod cli;
mod default_scenario;
mod determinism;
mod models;
mod queueing;

use std::path::{Path, PathBuf};

use flexrnn::runner::{self, Resources, RunResult};
use flexrnn::scenario::Scenario;

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

/// The default scenario shortened to `sequences` sequences and `duration`.
pub fn short_default(sequences: usize, duration: &str) -> String {
    let text = shipped("default.yaml");
    assert!(
        text.contains("duration: 120s") && text.contains("    split: test"),
        "default.yaml changed; update this helper"
    );
    text.replace("duration: 120s", &format!("duration: {duration}")).replacen(
        "    split: test",
        &format!("    sequences: {sequences}\n    split: test"),
        1,
    )
}

/// Path of a file under the crate root.
pub fn at(relative: &str) -> PathBuf {
    root().join(Path::new(relative))
}
