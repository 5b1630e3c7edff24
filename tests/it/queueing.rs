//! The node against queueing theory.

use std::num::NonZeroUsize;

use flexrnn::node::Discipline;
use flexrnn::report;
use flexrnn::scenario::{NodeSpec, Scenario};
use flexrnn::sim::SimTime;
use flexrnn::workload::WorkDistribution;

use crate::{run_scenario, run_text, shipped};

/// M/M/1 processor sharing: E[T] = E[S] / (1 − ρ) = 1 s / (1 − 0.8) = 5 s, run from the shipped file
/// as it is (about one million jobs).
#[test]
fn mm1_ps_scenario_mean_response_matches_theory() {
    let (scenario, resources, results) = run_text(&shipped("mm1-ps.yaml"), false);
    let labels = report::labels(&scenario, &resources);
    let rows = report::summary_rows(&results[0], &scenario, &labels);
    let jobs = rows.iter().find(|r| r.process == "jobs").unwrap();
    let mean = jobs.mean_s.unwrap();
    assert!((mean - 5.0).abs() / 5.0 < 0.03, "mean response {mean} s, theory 5 s");
    assert!(jobs.count > 990_000 && jobs.count < 1_010_000, "{} jobs for λT = 1e6", jobs.count);
    let node = rows.iter().find(|r| r.process == "node").unwrap();
    assert!((node.utilisation - 0.8).abs() < 0.01, "utilisation {}", node.utilisation);
}

/// M/M/1-PS response time conditioned on size is linear: E[T | S = s] = s / (1 − ρ). Jobs of
/// constant size 1 GFLOP at ρ = 0.5 (M/D/1-PS, insensitive): mean response 2 s.
#[test]
fn md1_ps_is_insensitive_to_the_work_distribution() {
    let scenario = Scenario::builder("md1-ps")
        .seed(1)
        .duration(SimTime(200_000 * SimTime::NANOS_PER_SEC))
        .node(NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing))
        .poisson("jobs", 0.5, WorkDistribution::Constant(1e9))
        .build()
        .unwrap();
    let (resources, results) = run_scenario(&scenario, false);
    let rows = report::summary_rows(&results[0], &scenario, &report::labels(&scenario, &resources));
    let mean = rows[0].mean_s.unwrap();
    assert!((mean - 2.0).abs() / 2.0 < 0.03, "mean response {mean} s, theory 2 s");
}

/// Every validation case passes at its quick length (the full length, within 1 %, is
/// `cargo run --release -- validate`).
#[test]
fn validation_suite_passes_quick() {
    let results = flexrnn::validate::suite::run_suite(flexrnn::validate::suite::Length::Quick, true).unwrap();
    assert!(results.len() >= 17);
    let failed: Vec<_> = results.iter().filter(|r| !r.pass).collect();
    assert!(failed.is_empty(), "{}", flexrnn::validate::suite::table(&results));
}
