//! Running a study's runs: the run list, per-run records written atomically (so an interrupted study
//! resumes where it stopped), shards, and parallel execution.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::spec::Study;
use super::view::{LatencyHistogram, SettingShare};
use crate::engine::EdgeWorld;
use crate::metrics::MemoryRecorder;
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
        source: RunError,
    },
    /// A file could not be written or read.
    #[error(transparent)]
    Write(#[from] crate::output::WriteError),
    /// The output folder cannot be used as it is (e.g. a symbolic link where the study writes).
    #[error(transparent)]
    Folder(#[from] crate::output::FolderError),
    /// The output folder exists and holds something else than this study's results.
    #[error(
        "{0}: exists and is not a flexrnn study folder (no study.json); choose another --out, or pass \
         --force to write the study's files among the files in it (files of the same names are \
         replaced, nothing else is touched)"
    )]
    Foreign(PathBuf),
    /// The output folder holds results of another study.
    #[error(
        "{folder}: holds results of study `{other}`, not `{this}`; choose another --out, or pass --force \
         to replace them (that study's run records are removed or redone)"
    )]
    OtherStudy {
        /// The folder.
        folder: PathBuf,
        /// Study whose results it holds.
        other: String,
        /// This study.
        this: String,
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
    for part in [env!("CARGO_PKG_VERSION"), &scenario.text, &seed.to_string(), label] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    for bank in loaded.resources[point].banks.values() {
        hasher.update(bank.sha256.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Index of the stream a study compares: the first listing several policies, else the first.
fn focus_stream(scenario: &crate::scenario::Scenario) -> Option<usize> {
    let streams: Vec<_> = scenario.streams().collect();
    if streams.is_empty() {
        return None;
    }
    Some(streams.iter().position(|s| s.policies.len() > 1).unwrap_or(0))
}

/// Builds the record of a finished run.
fn record(study: &Study, loaded: &Loaded, run: &StudyRun, result: &RunResult) -> RunRecord {
    let scenario = study.points[run.point].scenario.clone().with_seed(Some(run.seed));
    let resources = &loaded.resources[run.point];
    let labels = report::labels(&scenario, resources);
    let summary = report::summary_rows(result, &scenario, &labels);
    let focus = focus_stream(&scenario);
    let (latency, shares) = match focus {
        Some(stream) => {
            let edges = latency_edges();
            let mut counts = vec![0u64; edges.len()];
            let mut not_completed = 0;
            let horizon = scenario.horizon().as_secs_f64();
            let bin_s = horizon / SHARE_BINS as f64;
            let settings = labels.models[stream].clone();
            let mut share_counts = vec![vec![0u64; settings.len()]; SHARE_BINS];
            for step in result.outcome.recorder.steps.iter().filter(|s| s.stream == stream) {
                match step.end {
                    Some(end) => {
                        let latency = end.saturating_sub(step.release).as_secs_f64();
                        let bin = edges.partition_point(|&e| e < latency).min(edges.len() - 1);
                        counts[bin] += 1;
                    }
                    None => not_completed += 1,
                }
                if let Some(model) = step.model {
                    let bin = ((step.release.as_secs_f64() / bin_s) as usize).min(SHARE_BINS - 1);
                    share_counts[bin][model] += 1;
                }
            }
            (
                Some(LatencyHistogram { upper_edges_s: edges, counts, not_completed }),
                Some(SettingShare { bin_s, settings, counts: share_counts }),
            )
        }
        None => (None, None),
    };
    RunRecord {
        fingerprint: fingerprint(study, loaded, run),
        point: run.point,
        replication: run.replication,
        run: run.plan.index,
        policy: run.plan.label.clone(),
        seed: run.seed,
        events: result.outcome.events,
        summary,
        focus_stream: focus.map(|i| labels.streams[i].clone()),
        latency,
        shares,
    }
}

/// Runs one study run (single-threaded) and returns its record.
///
/// # Errors
/// [`StudyRunError::Run`] if the world cannot be built.
pub fn execute_run(study: &Study, loaded: &Loaded, run: &StudyRun) -> Result<RunRecord, StudyRunError> {
    let wrap = |source: RunError| StudyRunError::Run { point: run.point, source };
    let scenario = study.points[run.point].scenario.clone().with_seed(Some(run.seed));
    let resources = &loaded.resources[run.point];
    let setup = runner::world_setup(&scenario, resources, &run.plan).map_err(wrap)?;
    let started = std::time::Instant::now();
    let outcome = EdgeWorld::run(setup, MemoryRecorder::default())
        .map_err(|source| wrap(RunError::Build { file: scenario.file.clone(), source }))?;
    let result = RunResult { plan: run.plan.clone(), outcome, wall_time_s: started.elapsed().as_secs_f64() };
    Ok(record(study, loaded, run, &result))
}

/// Reads the record of `run` from `runs_dir`, if it exists as a regular file (a symbolic link is never
/// read through), parses and matches the run's fingerprint (anything else — absent, half-written by a
/// crash outside [`crate::output::write_atomic`], from another version — means the run must be done
/// again).
pub fn existing_record(runs_dir: &Path, run: &StudyRun, fingerprint: &str) -> Option<RunRecord> {
    let path = runs_dir.join(&run.file);
    if !std::fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let record: RunRecord = serde_json::from_slice(&bytes).ok()?;
    (record.fingerprint == fingerprint).then_some(record)
}

/// A deterministic share of the runs: run `index` belongs to shard `index mod n` (shards 1-based in
/// the command line, `i` here 0-based).
pub fn in_shard(run: &StudyRun, shard: Option<(usize, usize)>) -> bool {
    shard.is_none_or(|(i, n)| run.index % n == i)
}

/// The study identity file at the top of an output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyStamp {
    /// Always `flexrnn-study`.
    pub tool: String,
    /// Study name.
    pub study: String,
    /// Runs in the whole study.
    pub runs: usize,
    /// True once every aggregate file (tables, figures, report) has been written for the current
    /// records; false while runs or the aggregate files are being written (a folder killed then is
    /// recognisably incomplete: run the study again to finish it).
    #[serde(default)]
    pub complete: bool,
    /// The aggregate files with their SHA-256, when complete.
    #[serde(default)]
    pub files: Vec<StampFile>,
    /// The run records (file names in `runs/`) the study has written and may remove when they are no
    /// longer part of it; a record not listed is removed only if its fingerprint shows it is a run of
    /// this study.
    #[serde(default)]
    pub records: Vec<String>,
}

/// One aggregate file listed in [`StudyStamp::files`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampFile {
    /// Path relative to the study folder.
    pub path: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

fn write_stamp(out: &Path, stamp: &StudyStamp) -> Result<(), crate::output::WriteError> {
    crate::output::write_atomic(&out.join("study.json"), &serde_json::to_vec_pretty(stamp).expect("stamp serialises"))
}

/// Reads the stamp of a study folder, if it has a valid one (a regular file, not a symbolic link).
pub fn read_stamp(dir: &Path) -> Option<StudyStamp> {
    let path = dir.join("study.json");
    if !std::fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Run records of an earlier study left in `runs/` that are not part of the study any more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaleRecords {
    /// Removed: listed by `study.json` as written by the study, or shown by their fingerprint to be
    /// runs of this study (e.g. after lowering `replications`).
    pub removed: Vec<String>,
    /// Kept: record files that the study cannot tell as its own (e.g. copied from another study).
    pub kept: Vec<String>,
}

/// Refuses when a symbolic link (or a file where a folder goes, or a folder where a file goes) is in
/// the way of what a study writes or reads in `out`: `study.json`, `runs/` and its records,
/// `figures/`, and `files` (the aggregate files, relative).
fn refuse_obstacles<'a>(
    out: &Path,
    files: impl IntoIterator<Item = &'a str>,
) -> Result<(), crate::output::FolderError> {
    let blocked = |entry: String, what: &'static str, file: &str| crate::output::FolderError::Blocked {
        folder: out.to_path_buf(),
        entry,
        what,
        file: file.to_string(),
    };
    for (path, dir) in [("study.json", false), ("runs", true), ("figures", true)] {
        if let Some((entry, what)) = crate::output::obstacle(out, path, dir) {
            return Err(blocked(entry, what, path));
        }
    }
    for file in files {
        if let Some((entry, what)) = crate::output::obstacle(out, file, false) {
            return Err(blocked(entry, what, file));
        }
    }
    if let Ok(entries) = std::fs::read_dir(out.join("runs")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_record_name(&name) && entry.file_type().is_ok_and(|t| !t.is_file()) {
                let what = if entry.file_type().is_ok_and(|t| t.is_symlink()) { "a symbolic link" } else { "a folder" };
                return Err(blocked(format!("runs/{name}"), what, &format!("runs/{name}")));
            }
        }
    }
    Ok(())
}

/// Whether `name` is the file name of a run record (`p<3+ digits>-r<3+ digits>-k<2+ digits>.json`).
fn is_record_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else { return false };
    let parts: Vec<&str> = stem.split('-').collect();
    parts.len() == 3
        && [("p", 3), ("r", 3), ("k", 2)].iter().zip(&parts).all(|((prefix, digits), part)| {
            part.strip_prefix(prefix).is_some_and(|d| d.len() >= *digits && d.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Writes the aggregate `files` of a finished study into `out`: marks the folder incomplete, removes
/// run records that are not part of this study any more (e.g. after lowering `replications`) — only
/// regular files named like run records that `study.json` lists as written by the study or whose
/// fingerprint shows them to be runs of it; other record-shaped files are kept and returned — writes
/// every file atomically, then marks the folder complete with the files' digests and the study's
/// records. Refuses, before writing anything, when a symbolic link is in the way.
///
/// # Errors
/// [`StudyRunError::Folder`] when something is in the way, [`StudyRunError::Write`] naming the file.
pub fn write_aggregate(
    out: &Path,
    study: &Study,
    loaded: &Loaded,
    files: &[(PathBuf, Vec<u8>)],
) -> Result<StaleRecords, StudyRunError> {
    use sha2::Digest;
    let names: Vec<String> = files.iter().map(|(p, _)| p.to_string_lossy().into_owned()).collect();
    refuse_obstacles(out, names.iter().map(String::as_str))?;
    let listed: std::collections::BTreeSet<String> =
        read_stamp(out).map(|s| s.records.into_iter().collect()).unwrap_or_default();
    let mut stamp = StudyStamp {
        tool: "flexrnn-study".into(),
        study: study.name.clone(),
        runs: loaded.runs.len(),
        complete: false,
        files: Vec::new(),
        records: listed.iter().cloned().collect(),
    };
    write_stamp(out, &stamp)?;
    let current: std::collections::BTreeSet<&str> = loaded.runs.iter().map(|r| r.file.as_str()).collect();
    let mut stale = StaleRecords::default();
    let mut left = Vec::new();
    if let Ok(entries) = std::fs::read_dir(out.join("runs")) {
        let mut candidates: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| is_record_name(name) && !current.contains(name.as_str()))
            .collect();
        candidates.sort();
        for (name, path) in candidates {
            let ours = listed.contains(&name) || is_own_record(study, loaded, &path);
            if !ours {
                stale.kept.push(name);
            } else if std::fs::remove_file(&path).is_ok() {
                stale.removed.push(name);
            } else {
                left.push(name);
            }
        }
    }
    for (relative, bytes) in files {
        crate::output::write_atomic(&out.join(relative), bytes)?;
    }
    stamp.complete = true;
    stamp.files = files
        .iter()
        .map(|(p, b)| StampFile {
            path: p.to_string_lossy().into_owned(),
            sha256: format!("{:x}", sha2::Sha256::digest(b)),
        })
        .collect();
    let mut records: Vec<String> = current.iter().map(|s| s.to_string()).chain(left).collect();
    records.sort();
    stamp.records = records;
    write_stamp(out, &stamp)?;
    Ok(stale)
}

/// Whether `path` is a run record of this study: a [`RunRecord`] of an existing grid point whose seed
/// is the study's seed for its point and replication, and whose fingerprint is what this study gives
/// that run.
fn is_own_record(study: &Study, loaded: &Loaded, path: &Path) -> bool {
    let Some(record) = std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok()) else {
        return false;
    };
    record.point < study.points.len()
        && record.seed == study.run_seed(record.point, record.replication)
        && record.fingerprint == fingerprint_of(study, loaded, record.point, record.seed, &record.policy)
}

/// Checks that `out` is empty, absent, or this study's folder (recognised by its `study.json`: the
/// study's marker, as `.flexrnn-output.json` is for the other commands), and marks it as such. With
/// `force`, a folder holding other files or another study's results is used too: the study writes
/// its own files (`study.json`, `runs/`, tables, figures, report) among them and never touches
/// others. Nothing is written, read or deleted through a symbolic link below `out`: one where the
/// study writes (`study.json`, `runs/` or a record in it, `figures/`, a file the stamp lists) is
/// refused, even with `force`. Temporary files killed writes left in `out`, `runs/` and `figures/`
/// are removed first (returned in [`crate::output::Recovery::temporaries`]).
///
/// # Errors
/// [`StudyRunError::Foreign`] / [`StudyRunError::OtherStudy`] when it holds something else, without
/// `force`; [`StudyRunError::Folder`] when something is in the way or `out` ends in `..`.
pub fn claim_folder(
    out: &Path,
    study: &Study,
    runs: usize,
    force: bool,
) -> Result<crate::output::Recovery, StudyRunError> {
    let out = &crate::output::normalised(out)?;
    let stamp_path = out.join("study.json");
    let mut recovery = crate::output::Recovery::default();
    let mut records = Vec::new();
    if out.is_dir() {
        let listed: Vec<String> =
            read_stamp(out).map(|s| s.files.into_iter().map(|f| f.path).collect()).unwrap_or_default();
        refuse_obstacles(out, listed.iter().map(String::as_str))?;
        recovery.temporaries = crate::output::remove_temporaries(out, &["runs", "figures"]);
        records = read_stamp(out).map(|s| s.records).unwrap_or_default();
        match std::fs::read(&stamp_path) {
            Ok(bytes) => {
                let stamp: Option<StudyStamp> = serde_json::from_slice(&bytes).ok();
                match stamp {
                    Some(s) if s.study == study.name || force => {}
                    Some(s) => {
                        return Err(StudyRunError::OtherStudy {
                            folder: out.to_path_buf(),
                            other: s.study,
                            this: study.name.clone(),
                        })
                    }
                    None if force => {}
                    None => return Err(StudyRunError::Foreign(out.to_path_buf())),
                }
            }
            Err(_) => {
                let empty = std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
                if !empty && !force {
                    return Err(StudyRunError::Foreign(out.to_path_buf()));
                }
            }
        }
    } else if out.exists() {
        return Err(StudyRunError::Foreign(out.to_path_buf()));
    }
    let stamp = StudyStamp {
        tool: "flexrnn-study".into(),
        study: study.name.clone(),
        runs,
        complete: false,
        files: Vec::new(),
        records,
    };
    write_stamp(out, &stamp)?;
    Ok(recovery)
}

/// How a call to [`run_share`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareOutcome {
    /// Runs in this share.
    pub in_share: usize,
    /// Of those, records already present and reused.
    pub reused: usize,
    /// Runs simulated now.
    pub ran: usize,
}

/// Runs every run of `shard` (all runs when `None`) that has no valid record in `out/runs/`,
/// writing each record atomically as soon as its run ends; in parallel on rayon's pool when
/// `parallel` (each run single-threaded; records never depend on it). `done` is called after each
/// run (for a progress bar), with the number of runs already present first. To use a folder holding
/// other files, call [`claim_folder`] with `force` first.
///
/// # Errors
/// The first failing run's error (records of finished runs stay on disk).
pub fn run_share(
    study: &Study,
    loaded: &Loaded,
    out: &Path,
    shard: Option<(usize, usize)>,
    parallel: bool,
    on_start: impl Fn(usize, usize) + Sync,
    done: impl Fn() + Sync,
) -> Result<ShareOutcome, StudyRunError> {
    claim_folder(out, study, loaded.runs.len(), false)?;
    let runs_dir = out.join("runs");
    let share: Vec<&StudyRun> = loaded.runs.iter().filter(|r| in_shard(r, shard)).collect();
    let pending: Vec<&StudyRun> = share
        .iter()
        .copied()
        .filter(|r| existing_record(&runs_dir, r, &fingerprint(study, loaded, r)).is_none())
        .collect();
    on_start(share.len(), share.len() - pending.len());
    let one = |run: &&StudyRun| -> Result<(), StudyRunError> {
        let record = execute_run(study, loaded, run)?;
        let bytes = serde_json::to_vec_pretty(&record).expect("records serialise");
        crate::output::write_atomic(&runs_dir.join(&run.file), &bytes)?;
        done();
        Ok(())
    };
    if parallel {
        pending.par_iter().try_for_each(one)?;
    } else {
        pending.iter().try_for_each(one)?;
    }
    Ok(ShareOutcome { in_share: share.len(), reused: share.len() - pending.len(), ran: pending.len() })
}
