//! A policy of your own, in Rust: implement `flexrnn::policy::Policy` and hand it to a stream.
//!
//! This one, "deadline-aware hysteresis", runs the widest model while the slack is comfortable and
//! the narrowest one after a step ran late, until `calm_steps` steps in a row were early.
//!
//! Run: `cargo run --release --example custom_policy` (from the crate root).

use std::path::Path;

use flexrnn::engine::EdgeWorld;
use flexrnn::metrics::MemoryRecorder;
use flexrnn::policy::{ModelOption, Observation, Policy};
use flexrnn::runner;
use flexrnn::scenario::Scenario;

/// Widest model until a step is late, then the cheapest until `calm_steps` early steps in a row.
pub struct Cautious {
    /// Early steps needed before returning to the widest model.
    pub calm_steps: u32,
    /// Early steps seen since the last late one (`None` while calm).
    pub recovering: Option<u32>,
}

impl Policy for Cautious {
    fn name(&self) -> String {
        "cautious".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        let deadline = observation.deadline_s - observation.release_s;
        let late = observation.last_latency_s.is_some_and(|latency| latency > deadline);
        self.recovering = match (late, self.recovering) {
            (true, _) => Some(0),
            (false, Some(n)) if n + 1 >= self.calm_steps => None,
            (false, Some(n)) => Some(n + 1),
            (false, None) => None,
        };
        let by_flops = |pick_max: bool| {
            (0..options.len())
                .max_by_key(|&i| {
                    if pick_max {
                        options[i].flops_per_step as i64
                    } else {
                        -(options[i].flops_per_step as i64)
                    }
                })
                .expect("a bank has a model")
        };
        by_flops(self.recovering.is_none())
    }
}

/// Runs the default scenario (shortened) with the custom policy; returns (accuracy, miss rate).
pub fn run(root: &Path) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(root.join("scenarios/default.yaml"))?.replace("duration: 120s", "duration: 30s");
    let scenario = Scenario::parse(&text, "default.yaml", &root.join("scenarios"))?;
    let resources = runner::load_resources(&scenario)?;
    let plans = runner::plan_runs(&scenario, &resources)?;
    // Build the first run's world as the scenario describes it, then swap in our policy.
    let mut setup = runner::world_setup(&scenario, &resources, &plans[0])?;
    setup.streams[0].policy = Box::new(Cautious { calm_steps: 20, recovering: None });
    let outcome = EdgeWorld::run(setup, MemoryRecorder::default())?;
    let sequences = &outcome.recorder.sequences;
    let accuracy = sequences.iter().filter(|s| s.label == s.prediction).count() as f64 / sequences.len().max(1) as f64;
    let steps = &outcome.recorder.steps;
    let miss_rate = steps.iter().filter(|s| s.missed).count() as f64 / steps.len().max(1) as f64;
    Ok((accuracy, miss_rate))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (accuracy, miss_rate) = run(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    println!("cautious policy on the default scenario (30 s): accuracy {accuracy:.3}, miss rate {miss_rate:.3}");
    Ok(())
}
