//! The study folder, the I/O edge of [`crate::study`]: claiming an output folder (its marker
//! `study.json`, the [`StudyStamp`]), writing each run's record atomically as its run ends and reading
//! them back (resume, shards, `merge`), and writing the aggregate files (tables, figures, report) with
//! their digests. `study` itself computes records and tables and touches no file.

use std::path::{Path, PathBuf};

use crate::study::run::{self, Loaded, RunRecord, StudyRun, StudyRunError};
use crate::study::spec::Study;
use serde::{Deserialize, Serialize};

/// Errors of running a study into a folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyFolderError {
    /// The study or one of its runs failed.
    #[error(transparent)]
    Run(#[from] StudyRunError),
    /// A file could not be written or read.
    #[error(transparent)]
    Write(#[from] super::WriteError),
    /// The output folder cannot be used as it is (e.g. a symbolic link where the study writes).
    #[error(transparent)]
    Folder(#[from] super::FolderError),
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

/// Reads the record of `run` from `runs_dir`, if it exists as a regular file (a symbolic link is never
/// read through), parses and matches the run's fingerprint (anything else — absent, half-written by a
/// crash outside [`super::write_atomic`], from another version — means the run must be done
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

/// Runs whose records are missing from every folder given.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{missing} of {total} runs have no valid record in {folders} (first: {first}); run the remaining shards, or `flexrnn study` again to finish them"
)]
pub struct MissingRuns {
    /// Runs without a record.
    pub missing: usize,
    /// Runs in the study.
    pub total: usize,
    /// The first missing record's file name.
    pub first: String,
    /// The folders searched.
    pub folders: String,
}

/// Reads the record of every run of the study, from the first of `dirs` (each a study output folder
/// holding `runs/`) that has a valid one.
///
/// # Errors
/// [`MissingRuns`] when some run has no valid record anywhere.
pub fn collect_records(study: &Study, loaded: &Loaded, dirs: &[PathBuf]) -> Result<Vec<RunRecord>, MissingRuns> {
    let mut records = Vec::with_capacity(loaded.runs.len());
    let mut missing = Vec::new();
    for run in &loaded.runs {
        let print = run::fingerprint(study, loaded, run);
        match dirs.iter().find_map(|d| existing_record(&d.join("runs"), run, &print)) {
            Some(record) => records.push(record),
            None => missing.push(run.file.clone()),
        }
    }
    if missing.is_empty() {
        Ok(records)
    } else {
        Err(MissingRuns {
            missing: missing.len(),
            total: loaded.runs.len(),
            first: missing[0].clone(),
            folders: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        })
    }
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

fn write_stamp(out: &Path, stamp: &StudyStamp) -> Result<(), super::WriteError> {
    super::write_atomic(&out.join("study.json"), &serde_json::to_vec_pretty(stamp).expect("stamp serialises"))
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
fn refuse_obstacles<'a>(out: &Path, files: impl IntoIterator<Item = &'a str>) -> Result<(), super::FolderError> {
    let blocked = |entry: String, what: &'static str, file: &str| super::FolderError::Blocked {
        folder: out.to_path_buf(),
        entry,
        what,
        file: file.to_string(),
    };
    for (path, dir) in [("study.json", false), ("runs", true), ("figures", true)] {
        if let Some((entry, what)) = super::obstacle(out, path, dir) {
            return Err(blocked(entry, what, path));
        }
    }
    for file in files {
        if let Some((entry, what)) = super::obstacle(out, file, false) {
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
/// [`StudyFolderError::Folder`] when something is in the way, [`StudyFolderError::Write`] naming the file.
pub fn write_aggregate(
    out: &Path,
    study: &Study,
    loaded: &Loaded,
    files: &[(PathBuf, Vec<u8>)],
) -> Result<StaleRecords, StudyFolderError> {
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
        super::write_atomic(&out.join(relative), bytes)?;
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

/// Whether `path` is a run record of this study ([`crate::study::run::is_run_of`]).
fn is_own_record(study: &Study, loaded: &Loaded, path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok())
        .is_some_and(|record| run::is_run_of(study, loaded, &record))
}

/// Checks that `out` is empty, absent, or this study's folder (recognised by its `study.json`: the
/// study's marker, as `.flexrnn-output.json` is for the other commands), and marks it as such. With
/// `force`, a folder holding other files or another study's results is used too: the study writes
/// its own files (`study.json`, `runs/`, tables, figures, report) among them and never touches
/// others. Nothing is written, read or deleted through a symbolic link below `out`: one where the
/// study writes (`study.json`, `runs/` or a record in it, `figures/`, a file the stamp lists) is
/// refused, even with `force`. Temporary files killed writes left in `out`, `runs/` and `figures/`
/// are removed first (returned in [`super::Recovery::temporaries`]).
///
/// # Errors
/// [`StudyFolderError::Foreign`] / [`StudyFolderError::OtherStudy`] when it holds something else, without
/// `force`; [`StudyFolderError::Folder`] when something is in the way or `out` ends in `..`.
pub fn claim_folder(out: &Path, study: &Study, runs: usize, force: bool) -> Result<super::Recovery, StudyFolderError> {
    let out = &super::normalised(out)?;
    let stamp_path = out.join("study.json");
    let mut recovery = super::Recovery::default();
    let mut records = Vec::new();
    if out.is_dir() {
        let listed: Vec<String> =
            read_stamp(out).map(|s| s.files.into_iter().map(|f| f.path).collect()).unwrap_or_default();
        refuse_obstacles(out, listed.iter().map(String::as_str))?;
        recovery.temporaries = super::remove_temporaries(out, &["runs", "figures"]);
        records = read_stamp(out).map(|s| s.records).unwrap_or_default();
        match std::fs::read(&stamp_path) {
            Ok(bytes) => {
                let stamp: Option<StudyStamp> = serde_json::from_slice(&bytes).ok();
                match stamp {
                    Some(s) if s.study == study.name || force => {}
                    Some(s) => {
                        return Err(StudyFolderError::OtherStudy {
                            folder: out.to_path_buf(),
                            other: s.study,
                            this: study.name.clone(),
                        })
                    }
                    None if force => {}
                    None => return Err(StudyFolderError::Foreign(out.to_path_buf())),
                }
            }
            Err(_) => {
                let empty = std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
                if !empty && !force {
                    return Err(StudyFolderError::Foreign(out.to_path_buf()));
                }
            }
        }
    } else if out.exists() {
        return Err(StudyFolderError::Foreign(out.to_path_buf()));
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
) -> Result<ShareOutcome, StudyFolderError> {
    claim_folder(out, study, loaded.runs.len(), false)?;
    let runs_dir = out.join("runs");
    let share: Vec<&StudyRun> = loaded.runs.iter().filter(|r| run::in_shard(r, shard)).collect();
    let pending: Vec<&StudyRun> = share
        .iter()
        .copied()
        .filter(|r| existing_record(&runs_dir, r, &run::fingerprint(study, loaded, r)).is_none())
        .collect();
    on_start(share.len(), share.len() - pending.len());
    run::execute_runs(study, loaded, &pending, parallel, |run, record| -> Result<(), StudyFolderError> {
        let bytes = serde_json::to_vec_pretty(&record).expect("records serialise");
        super::write_atomic(&runs_dir.join(&run.file), &bytes)?;
        done();
        Ok(())
    })?;
    Ok(ShareOutcome { in_share: share.len(), reused: share.len() - pending.len(), ran: pending.len() })
}
