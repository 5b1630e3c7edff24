//! Running a study's runs: the run list, each run's record and fingerprint, shards, and parallel
//! execution. Pure: writing the records (atomically, so an interrupted study resumes where it
//! stopped) and the study folder are the I/O edge's, [`crate::output::study`].

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::spec::Study;
use super::view::{LatencyHistogram, SettingShare};
use crate::engine::EdgeWorld;
use crate::metrics::{JobRecord, Recorder, RunStats, SequenceRecord, StepRecord, Tee};
use crate::report::{self, SummaryRow};
use crate::runner::{self, Resources, RunError, RunPlan, RunResult};
use crate::scenario::ScenarioError;

/// Time bins of the setting-share record of a run.
pub const SHARE_BINS: usize = 60;

/// Latency histogram bins per decade, and the decades covered (1 µs to 1000 s).
const BINS_PER_DECADE: usize = 10;
const FIRST_DECADE: i32 = -6;
const DECADES: usize = 9;

/// Upper bin edges of latency histograms, seconds: `10^(−6 + (i+1)/10)` for `i` in `0..90`.
pub fn latency_edges() -> Vec<f64> {
    (0..BINS_PER_DECADE * DECADES)
        .map(|i| 10f64.powf(FIRST_DECADE as f64 + (i + 1) as f64 / BINS_PER_DECADE as f64))
        .collect()
}

/// One run of a study: a grid point, a replication, and one of the point's policies.
#[derive(Debug, Clone)]
pub struct StudyRun {
    /// Position in the study's run list (point-major, then replication, then policy).
    pub index: usize,
    /// Grid point.
    pub point: usize,
    /// Replication (0-based).
    pub replication: usize,
    /// Seed of the run (shared by the policies of this point and replication).
    pub seed: u64,
    /// The scenario's run plan (policy per stream).
    pub plan: RunPlan,
    /// File name of its record in `runs/`, e.g. `p003-r007-k01.json`.
    pub file: String,
}

/// What one run leaves behind, written to `runs/<file>` as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// SHA-256 of what determines the run (tool version, the point's scenario text, seed, policy
    /// label, model-bank digests): a record is reused on resume only when it matches.
    pub fingerprint: String,
    /// Grid point.
    pub point: usize,
    /// Replication.
    pub replication: usize,
    /// Policy index at the point.
    pub run: usize,
    /// Policy label.
    pub policy: String,
    /// Seed of the run.
    pub seed: u64,
    /// Events handled.
    pub events: u64,
    /// The run's summary rows (streams, background processes, node).
    pub summary: Vec<SummaryRow>,
    /// Name of the stream the study compares (the one listing several policies, else the first), if any.
    pub focus_stream: Option<String>,
    /// Step latencies of the focus stream.
    pub latency: Option<LatencyHistogram>,
    /// Steps per model over time of the focus stream.
    pub shares: Option<SettingShare>,
}

/// Errors of running a study.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyRunError {
    /// The study or a point's scenario is unusable.
    #[error(transparent)]
    Study(#[from] ScenarioError),
    /// A run failed.
    #[error("grid point {point}: {source}")]
    Run {
        /// Grid point.
        point: usize,
        /// Underlying error.
        source: Box<RunError>,
    },
}

/// The resources of every grid point, loaded once.
pub struct Loaded {
    /// Resources per grid point.
    pub resources: Vec<Arc<Resources>>,
    /// Every run of the study, in order.
    pub runs: Vec<StudyRun>,
}

/// Loads each grid point's model banks and data sets and lists the study's runs.
///
/// # Errors
/// [`StudyRunError::Run`] or [`StudyRunError::Study`] naming the point and what could not be loaded.
pub fn load(study: &Study) -> Result<Loaded, StudyRunError> {
    let mut resources: Vec<Arc<Resources>> = Vec::new();
    let mut runs = Vec::new();
    for point in &study.points {
        let loaded = runner::load_resources(&point.scenario).map_err(|e| match e {
            RunError::Scenario(e) => StudyRunError::Study(study.point_error(point.index, &e.message)),
            other => StudyRunError::Study(study.point_error(point.index, &other.to_string())),
        })?;
        let plans = runner::plan_runs(&point.scenario, &loaded)
            .map_err(|e| StudyRunError::Study(study.point_error(point.index, &e.message)))?;
        resources.push(Arc::new(loaded));
        for replication in 0..study.replications {
            let seed = study.run_seed(point.index, replication);
            for plan in &plans {
                runs.push(StudyRun {
                    index: runs.len(),
                    point: point.index,
                    replication,
                    seed,
                    plan: plan.clone(),
                    file: format!("p{:03}-r{:03}-k{:02}.json", point.index, replication, plan.index),
                });
            }
        }
    }
    Ok(Loaded { resources, runs })
}

/// The fingerprint of a run (see [`RunRecord::fingerprint`]).
pub fn fingerprint(study: &Study, loaded: &Loaded, run: &StudyRun) -> String {
    fingerprint_of(study, loaded, run.point, run.seed, &run.plan.label)
}

/// The fingerprint of a run of grid point `point` (which must exist) with `seed` and policy `label`.
fn fingerprint_of(study: &Study, loaded: &Loaded, point: usize, seed: u64, label: &str) -> String {
    use sha2::Digest;
    let scenario = &study.points[point].scenario;
    let mut hasher = sha2::Sha256::new();
    for part in [env!("CARGO_PKG_VERSION"), scenario.text(), &seed.to_string(), label] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    for bank in loaded.resources[point].banks.values() {
        hasher.update(bank.sha256.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Index of the stream a study compares: the first listing several policies, else the first.
pub(crate) fn focus_stream(scenario: &crate::scenario::Scenario) -> Option<usize> {
    let streams: Vec<_> = scenario.streams().collect();
    if streams.is_empty() {
        return None;
    }
    Some(streams.iter().position(|s| s.policies.len() > 1).unwrap_or(0))
}

/// What a study keeps of its focus stream's frames, online (a [`Recorder`]): the latency histogram
/// of completed frames and the setting shares per time bin. Nothing per frame.
struct FocusRecorder {
    /// The focus stream (`None`: the scenario has no stream; nothing is recorded).
    stream: Option<usize>,
    edges: Vec<f64>,
    counts: Vec<u64>,
    not_completed: u64,
    bin_s: f64,
    share_counts: Vec<Vec<u64>>,
}

impl FocusRecorder {
    fn new(scenario: &crate::scenario::Scenario, settings: usize) -> FocusRecorder {
        let edges = latency_edges();
        FocusRecorder {
            stream: focus_stream(scenario),
            counts: vec![0; edges.len()],
            edges,
            not_completed: 0,
            bin_s: scenario.horizon().as_secs_f64() / SHARE_BINS as f64,
            share_counts: vec![vec![0; settings]; SHARE_BINS],
        }
    }
}

impl Recorder for FocusRecorder {
    fn step(&mut self, step: &StepRecord) {
        if self.stream != Some(step.stream) {
            return;
        }
        match step.end {
            Some(end) => {
                let latency = end.saturating_sub(step.release).as_secs_f64();
                let bin = self.edges.partition_point(|&e| e < latency).min(self.edges.len() - 1);
                self.counts[bin] += 1;
            }
            None => self.not_completed += 1,
        }
        if let Some(model) = step.model {
            let bin = ((step.release.as_secs_f64() / self.bin_s) as usize).min(SHARE_BINS - 1);
            self.share_counts[bin][model] += 1;
        }
    }
    fn sequence(&mut self, _record: &SequenceRecord) {}
    fn job(&mut self, _record: &JobRecord) {}
}

/// Builds the record of a finished run from what its recorders kept.
fn record(
    study: &Study,
    loaded: &Loaded,
    run: &StudyRun,
    mut result: RunResult<Tee<RunStats, FocusRecorder>>,
) -> RunRecord {
    let scenario = study.points[run.point].scenario.clone().with_seed(Some(run.seed));
    let resources = &loaded.resources[run.point];
    let labels = report::labels(&scenario, resources);
    result.outcome.recorder.0.sort();
    let summary = report::summary_rows_of(&result, &result.outcome.recorder.0, &scenario, &labels);
    let events = result.outcome.events;
    let focus = result.outcome.recorder.1;
    let (latency, shares) = match focus.stream {
        Some(stream) => (
            Some(LatencyHistogram {
                upper_edges_s: focus.edges,
                counts: focus.counts,
                not_completed: focus.not_completed,
            }),
            Some(SettingShare {
                bin_s: focus.bin_s,
                settings: labels.models[stream].clone(),
                counts: focus.share_counts,
            }),
        ),
        None => (None, None),
    };
    RunRecord {
        fingerprint: fingerprint(study, loaded, run),
        point: run.point,
        replication: run.replication,
        run: run.plan.index,
        policy: run.plan.label.clone(),
        seed: run.seed,
        events,
        summary,
        focus_stream: focus.stream.map(|i| labels.streams[i].clone()),
        latency,
        shares,
    }
}

/// Runs one study run (single-threaded) and returns its record. Nothing per record is kept or
/// written: the summary comes from online statistics ([`RunStats`]), the focus stream's histogram
/// and shares from counters.
///
/// # Errors
/// [`StudyRunError::Run`] if the world cannot be built.
pub fn execute_run(study: &Study, loaded: &Loaded, run: &StudyRun) -> Result<RunRecord, StudyRunError> {
    let wrap = |source: RunError| StudyRunError::Run { point: run.point, source: Box::new(source) };
    let scenario = study.points[run.point].scenario.clone().with_seed(Some(run.seed));
    let resources = &loaded.resources[run.point];
    let setup = runner::world_setup(&scenario, resources, &run.plan).map_err(wrap)?;
    let settings =
        focus_stream(&scenario).map_or(0, |stream| report::labels(&scenario, resources).models[stream].len());
    let recorder = Tee(RunStats::new(scenario.bin()), FocusRecorder::new(&scenario, settings));
    let started = std::time::Instant::now();
    let outcome = EdgeWorld::run(setup, recorder)
        .map_err(|source| wrap(RunError::Build { file: scenario.file().to_string(), source }))?;
    let result = RunResult { plan: run.plan.clone(), outcome, wall_time_s: started.elapsed().as_secs_f64() };
    Ok(record(study, loaded, run, result))
}

/// A deterministic share of the runs: run `index` belongs to shard `index mod n` (shards 1-based in
/// the command line, `i` here 0-based).
pub fn in_shard(run: &StudyRun, shard: Option<(usize, usize)>) -> bool {
    shard.is_none_or(|(i, n)| run.index % n == i)
}

/// Runs each of `runs` (each single-threaded) and hands its record to `on_record` as soon as it ends —
/// the caller decides what to do with it (the CLI's [`crate::output::study::run_share`] writes it
/// atomically, so an interrupted study resumes where it stopped). In parallel on rayon's pool when
/// `parallel`; records never depend on it.
///
/// # Errors
/// The first failing run's error, or the first error `on_record` returns (records already handed
/// over stay handed over).
pub fn execute_runs<E>(
    study: &Study,
    loaded: &Loaded,
    runs: &[&StudyRun],
    parallel: bool,
    on_record: impl Fn(&StudyRun, RunRecord) -> Result<(), E> + Sync,
) -> Result<(), E>
where
    E: From<StudyRunError> + Send,
{
    let one = |run: &&StudyRun| -> Result<(), E> { on_record(run, execute_run(study, loaded, run)?) };
    if parallel {
        runs.par_iter().try_for_each(one)
    } else {
        runs.iter().try_for_each(one)
    }
}

/// Whether `record` is a run of this study: a run of an existing grid point whose seed is the study's
/// seed for its point and replication, and whose fingerprint is what this study gives that run.
pub fn is_run_of(study: &Study, loaded: &Loaded, record: &RunRecord) -> bool {
    record.point < study.points.len()
        && record.seed == study.run_seed(record.point, record.replication)
        && record.fingerprint == fingerprint_of(study, loaded, record.point, record.seed, &record.policy)
}
