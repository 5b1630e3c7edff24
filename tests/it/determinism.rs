//! Same seed ⇒ byte-identical result files, whatever the thread count; a different seed changes them.

use flexrnn::policy::oracle::{OracleConfig, DEFAULT_ORACLE_PASSES};
use flexrnn::policy::PolicySpec;
use flexrnn::report;
use flexrnn::scenario::Scenario;
use flexrnn::sim::SimTime;
use flexrnn::units::Duration;

use crate::{default_builder, default_policies, default_stream, run_built, run_scenario, secs, short_default};

fn files_of(scenario: &Scenario, parallel: bool) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let (resources, results) = run_scenario(scenario, parallel);
    let mut files = report::outputs(scenario, &resources, &results).unwrap();
    // The manifest's wall-clock field is the only one allowed to differ.
    for (path, bytes) in &mut files {
        if path.ends_with("manifest.json") {
            let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            value["wall_time_s"] = serde_json::Value::Null;
            *bytes = serde_json::to_vec(&value).unwrap();
        }
    }
    files
}

#[test]
fn reruns_and_thread_counts_give_identical_files() {
    let scenario = short_default(12, secs(5)).build().unwrap();
    let sequential = files_of(&scenario, false);
    let parallel = files_of(&scenario, true);
    let again = files_of(&scenario, false);
    assert_eq!(
        sequential.len(),
        3 * 6 + 2 + 2 * 2 * 3,
        "three runs of six files, a comparison in two forms and two figures at two widths as SVG, PDF and PNG"
    );
    for ((a, x), (b, y)) in sequential.iter().zip(&parallel) {
        assert_eq!(a, b);
        assert!(x == y, "{} differs between sequential and parallel runs", a.display());
    }
    assert_eq!(sequential, again);
    assert_eq!(scenario.seed(), 7);
    let other_seed = files_of(&short_default(12, secs(5)).seed(8).build().unwrap(), false);
    let steps = |f: &[(std::path::PathBuf, Vec<u8>)]| {
        f.iter().find(|(p, _)| p.ends_with("greedy_slack/jobs.csv")).unwrap().1.clone()
    };
    assert_ne!(steps(&sequential), steps(&other_seed));
}

/// The oracle's forecast passes run inside its run: same files for any thread count and on reruns.
#[test]
fn oracle_runs_are_identical_for_any_thread_count() {
    let oracle = OracleConfig { margin: Duration(SimTime::ZERO), passes: DEFAULT_ORACLE_PASSES };
    let stream = default_policies(default_stream().sequences(12)).policy(PolicySpec::new(oracle).unwrap());
    let scenario = default_builder(secs(5), [stream]).build().unwrap();
    let sequential = files_of(&scenario, false);
    let parallel = files_of(&scenario, true);
    assert!(sequential.iter().any(|(p, _)| p.ends_with("oracle/steps.csv")));
    assert_eq!(sequential, parallel);
    assert_eq!(sequential, files_of(&scenario, false));
}

/// Common random numbers: every policy sees the same background jobs (same releases and work).
#[test]
fn policies_share_background_random_streams() {
    let (_, _, results) = run_built(short_default(12, secs(5)), false);
    let releases = |i: usize| {
        results[i]
            .outcome
            .recorder
            .jobs
            .iter()
            .map(|j| (j.process, j.job, j.release))
            .collect::<std::collections::BTreeSet<_>>()
    };
    // Jobs still running at the horizon are not recorded, so compare the common part.
    let (a, b, c) = (releases(0), releases(1), releases(2));
    let common: Vec<_> = a.intersection(&b).cloned().collect();
    assert!(common.len() >= a.len().min(b.len()) - 2, "{} common of {} / {}", common.len(), a.len(), b.len());
    assert!(c.intersection(&a).count() >= a.len().min(c.len()) - 2);
}
