//! `trace` background processes end to end: a jobs trace gives hand-computed response times, a
//! utilisation trace keeps the node as busy as it says, and the shipped trace scenario runs.

use std::num::NonZeroUsize;
use std::path::Path;

use flexrnn::node::Discipline;
use flexrnn::report;
use flexrnn::runner::{Resources, RunResult};
use flexrnn::scenario::{NodeSpec, Scenario, ScenarioBuilder};
use flexrnn::sim::SimTime;
use flexrnn::workload::WorkDistribution;

use crate::{run_built, run_text, secs, shipped};

/// The rows of `jobs.csv` (header removed) and the node's utilisation from `summary.csv`.
fn jobs_and_utilisation(scenario: &Scenario, resources: &Resources, results: &[RunResult]) -> (Vec<String>, f64) {
    let files = report::outputs(scenario, resources, results).unwrap();
    let text = |name: &str| {
        let (_, bytes) = files.iter().find(|(p, _)| p == Path::new(name)).unwrap_or_else(|| panic!("{name}"));
        String::from_utf8(bytes.clone()).unwrap()
    };
    let jobs = text("jobs.csv");
    let mut lines = jobs.lines();
    assert_eq!(lines.next(), Some("process,job,release_s,end_s,response_s,deadline_s,missed,work_flop"));
    let summary = text("summary.csv");
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "utilisation").unwrap();
    let node = summary.lines().find(|l| l.starts_with("node,")).unwrap();
    (lines.map(String::from).collect(), node.split(',').nth(column).unwrap().parse().unwrap())
}

/// A scenario `trace` (seed 3) of `duration` on `cores` cores of `speed` FLOP/s under `discipline`,
/// its files relative to `dir`; the processes follow.
fn node(dir: &Path, cores: usize, speed: f64, discipline: Discipline, duration: SimTime) -> ScenarioBuilder {
    let node = NodeSpec::new(NonZeroUsize::new(cores).unwrap(), speed, discipline);
    Scenario::builder("trace").seed(3).duration(duration).node(node).dir(dir)
}

#[test]
fn jobs_trace_on_one_fifo_core_gives_hand_computed_response_times() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MFLOP/s: 2 MFLOP take 2 s. FIFO serves in release order (rows at the same time in file order):
    // job 0 runs 0–2 s; job 1 (released 1 s) waits and runs 2–3 s; job 2 (released 1 s) runs 3–3.5 s;
    // job 3 runs 5–5.5 s alone. The row at 12 s is after the end (10 s) and never released.
    std::fs::write(
        dir.path().join("jobs.csv"),
        "# three hand-written jobs and one too late\nrelease_s,work_flop\n0,2e6\n1,1e6\n1,5e5\n5,5e5\n12,1e6\n",
    )
    .unwrap();
    let scenario = node(dir.path(), 1, 1e6, Discipline::Fifo, secs(10)).trace_jobs("replay", "jobs.csv", 1.0);
    let (scenario, resources, results) = run_built(scenario, false);
    assert!((scenario.offered_background_load() - 4e6 / 1e7).abs() < 1e-12);
    let (jobs, utilisation) = jobs_and_utilisation(&scenario, &resources, &results);
    assert_eq!(
        jobs,
        [
            "replay,0,0.0,2.0,2.0,,,2000000.0",
            "replay,1,1.0,3.0,2.0,,,1000000.0",
            "replay,2,1.0,3.5,2.5,,,500000.0",
            "replay,3,5.0,5.5,0.5,,,500000.0",
        ]
    );
    // 4 s busy out of 10.
    assert!((utilisation - 0.4).abs() < 1e-12, "{utilisation}");
}

#[test]
fn utilisation_trace_keeps_the_node_as_busy_as_it_says() {
    let dir = tempfile::tempdir().unwrap();
    for (utilisation, scheduler, jobs_per_chunk) in [
        (0.5, Discipline::ProcessorSharing, 1),
        (0.5, Discipline::Fifo, 1),
        (0.75, Discipline::ProcessorSharing, 2),
        (0.2, Discipline::Edf, 1),
    ] {
        // A sample every 10 s for 100 s, all at `utilisation`.
        let rows: String = (0..=10).map(|k| format!("{},{utilisation}\n", 10 * k)).collect();
        std::fs::write(dir.path().join("u.csv"), format!("time_s,utilisation\n{rows}")).unwrap();
        // Chunks every 100 ms (the default), each due 1 s after its release.
        let scenario = node(dir.path(), 2, 2e6, scheduler, secs(100))
            .trace_utilisation("datacentre", "u.csv", flexrnn::scenario::DEFAULT_TRACE_CHUNK, 1.0)
            .edit_background("datacentre", |b| b.deadline = Some(secs(1)));
        let (scenario, resources, results) = run_built(scenario, false);
        assert!((scenario.offered_background_load() - utilisation).abs() < 1e-9, "{utilisation}");
        let (jobs, measured) = jobs_and_utilisation(&scenario, &resources, &results);
        assert!((measured - utilisation).abs() < 0.02 * utilisation, "{scheduler:?}, u = {utilisation}: {measured}");
        // A chunk every 100 ms from 0 to 99.9 s: ⌈u × 2⌉ jobs of u × 2 × 2 MFLOP/s × 0.1 s / jobs each, all
        // finished by the end (the chunk at 100 s is still running).
        assert_eq!(jobs.len(), 1000 * jobs_per_chunk, "{scheduler:?}, u = {utilisation}");
        let work: f64 = jobs.iter().map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap()).sum();
        assert!((work - utilisation * 4e6 * 100.0).abs() < 1e-3, "{work}");
        assert!(jobs.iter().all(|l| l.split(',').nth(6) == Some("0")), "no job misses its 1-s deadline");
    }
}

#[test]
fn shipped_trace_scenario_replays_the_synthetic_day() {
    let text = shipped("trace-driven.yaml");
    let (scenario, resources, results) = run_text(&text, true);
    // The day's mean utilisation (0.4000) is what the trace offers the one-core node.
    assert!((scenario.offered_background_load() - 0.4).abs() < 1e-3, "{}", scenario.offered_background_load());
    assert_eq!(results.len(), 3);
    let labels = report::labels(&scenario, &resources);
    let narrow = results.iter().find(|r| r.plan.label == "static-gru-16").unwrap();
    let rows = report::summary_rows(narrow, &scenario, &labels);
    let background = rows.iter().find(|r| r.process == "datacentre").unwrap();
    // Beside the narrow model the node has room: the trace is served as offered, 288 × 3 chunks.
    assert!((background.utilisation - 0.4).abs() < 0.004, "{background:?}");
    assert_eq!(background.count, 864);
    // greedy_slack narrows its model when the trace's demand peaks and misses nothing, but changes
    // model under almost every 100-ms chunk: with the shipped bank (switch fine-tuned on 1-3 changes
    // per sequence) it ends 5 of 270 sequences below static-gru-16 (docs/src/findings-scenarios.md).
    let greedy = results.iter().find(|r| r.plan.label == "greedy_slack").unwrap();
    let row = |r: &RunResult| report::summary_rows(r, &scenario, &labels)[0].clone();
    let (greedy, narrow) = (row(greedy), row(narrow));
    assert_eq!((greedy.sequences, narrow.sequences), (Some(270), Some(270)));
    assert_eq!(greedy.miss_rate, Some(0.0));
    assert_eq!(greedy.accuracy, Some(230.0 / 270.0), "{greedy:?}");
    assert_eq!(narrow.accuracy, Some(235.0 / 270.0), "{narrow:?}");
}

#[test]
fn a_trace_leaves_the_other_processes_draws_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.csv"), "release_s,work_flop\n1,5e6\n2,5e6\n30,2e7\n").unwrap();
    let alone = node(dir.path(), 1, 25e6, Discipline::ProcessorSharing, secs(60)).poisson(
        "requests",
        10.0,
        WorkDistribution::Exponential { mean: 500e3 },
    );
    let with_trace = alone.clone().trace_jobs("replay", "jobs.csv", 1.0);
    let releases = |scenario: ScenarioBuilder| -> Vec<(u64, u64)> {
        let (_, _, results) = run_built(scenario, false);
        let mut jobs: Vec<(u64, u64)> =
            results[0].outcome.recorder.jobs.iter().filter(|j| j.process == 0).map(|j| (j.job, j.release.0)).collect();
        jobs.sort_unstable();
        jobs
    };
    let (a, b) = (releases(alone), releases(with_trace));
    // The requests are the same jobs at the same times (common random numbers); only the jobs still
    // running at the end may differ.
    assert!(a.len() > 500 && a.len().abs_diff(b.len()) < 5, "{} vs {}", a.len(), b.len());
    let n = a.len().min(b.len()) - 5;
    assert_eq!(a[..n], b[..n]);
}

/// Seeded random mutations of trace files: the parsers return rows or an error, never panic.
#[test]
fn mutated_traces_never_panic_the_parsers() {
    use rand::{Rng, SeedableRng};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let utilisation = std::fs::read_to_string(crate::root().join("scenarios/traces/cpu-util-synthetic.csv")).unwrap();
    let jobs = "# jobs\nrelease_s,work_flop\n0,2e6\n1,1e6\n1,5e5\n5,5e5\n".to_string();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(44);
    let alphabet: &[u8] = b" ,#-+.eE0123456789\n\r\"_abcinfNa%";
    for round in 0..2000 {
        let mut bytes = if round % 2 == 0 { utilisation.clone() } else { jobs.clone() }.into_bytes();
        for _ in 0..rng.random_range(1..4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..4) {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                2 => bytes[at] = alphabet[rng.random_range(0..alphabet.len())],
                _ => bytes.truncate(at),
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let scale = [1.0, 1e-3, 1e-12, 1e12][round % 4];
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _ = flexrnn::workload::parse_jobs_trace_csv(&text, "t.csv", scale);
            let _ = flexrnn::workload::parse_utilisation_trace_csv(&text, "t.csv", scale);
        }));
        assert!(outcome.is_ok(), "a trace parser panicked on:\n{text}");
    }
}
