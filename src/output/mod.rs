//! Writing results: files atomically ([`write_atomic`]), whole result folders under one rule
//! ([`write_result`]), and single result files ([`write_file`]: written when absent, replaced only with
//! `--force`, since a lone file carries no marker saying who wrote it).
//!
//! **The output-folder rule.** A command writes its result folder (`--out`) only when that folder is
//! absent, empty, or a previous result of the same command, recognised by the marker file
//! [`MARKER`] (`.flexrnn-output.json`) that the command wrote there: format version, command name and
//! the relative paths of the files it wrote. Anything else — a folder of someone's files, a parent
//! such as `results/` holding earlier results, the result of another command, an unreadable marker —
//! is refused with an error naming the folder, why, and how to proceed. With `--force` the command
//! writes its files among the others: files of the same names are replaced, files listed in an old
//! marker of the same command and no longer written are removed, and nothing else is touched.
//! (`study` and `merge` follow the same rule with their own marker, `study.json`; see
//! [`study::claim_folder`].)
//!
//! **Symbolic links.** Nothing is written, read or deleted through a symbolic link below the output
//! folder (the folder itself may be one). A link where the command writes — the folder of an output
//! file (`plots -> ../elsewhere`), or an output file's own name — is refused before the work, even
//! with `--force` ([`FolderError::Blocked`]; also a file where a folder goes and a folder where a
//! file goes); a link anywhere else is a foreign entry like any other (refused without `--force`,
//! left alone with it). Listing and removal never follow links.
//!
//! **How a folder is replaced.** When the folder is absent, or holds only the files of the previous
//! result, the new result is written in full into a hidden staging folder beside it
//! (`.<name>.flexrnn-new-XXXXXX`) and then swapped in: on Linux with one `renameat2(RENAME_EXCHANGE)`,
//! elsewhere (or on a file system without it) with two renames, the old folder first moved to a
//! backup (`.<name>.flexrnn-old-XXXXXX`) that is deleted once the new one is in place. At every instant
//! either the old or the new complete result exists under the folder's name, except between the two
//! renames of the fallback — and a backup without its folder is restored at the next start. The old
//! folder is then removed only if it holds nothing but the files its marker lists: an entry added
//! during the work (e.g. a user's file) is moved into the new folder when its name is free there;
//! otherwise the old folder is kept whole as `<name>.flexrnn-kept-<n>`, with a note. When the
//! folder cannot be swapped as a whole — it is empty (it may be a mount point or have permissions of
//! its own), holds files flexrnn did not write, or is a symbolic link — the files are written one by
//! one with [`write_atomic`] (each file is old or new, never half-written, but the folder mixes old
//! and new files until the write ends; the marker says `"complete": false` meanwhile).
//!
//! **Leftovers.** Writers of folders in the same parent take an exclusive `flock` on the parent
//! folder while they write (Linux). Under that lock, a staging folder or backup named for the target
//! can only be left by a writer that died: each start of a command writing to that target removes
//! such staging folders and stale backups (keeping, under a visible name, one that holds files its
//! marker does not list; a staging folder is given its incomplete marker before any other file, so
//! one without a marker is removed only if it is empty), restores a backup whose folder is missing, and removes the temporary files
//! of killed [`write_atomic`] calls (exactly `.flexrnn-tmp-` and six letters or digits, regular files)
//! from the folder and the subfolders of its marker's files; they never count as foreign files.
//! `--out x/.` names `x`; an `--out` ending in `..` is refused.

pub mod study;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the marker a command writes at the top of its result folder.
pub const MARKER: &str = ".flexrnn-output.json";

/// Version of the marker's format.
pub const MARKER_FORMAT: u32 = 1;

/// Prefix of the temporary files of [`write_atomic`].
const TMP_PREFIX: &str = ".flexrnn-tmp-";

/// Random characters at the end of staging and backup folder names.
const RANDOM_CHARS: usize = 6;

/// An output file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Underlying error.
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename), creating the
/// folder if needed.
///
/// # Errors
/// [`WriteError`] naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_from(path, &mut &bytes[..])
}

/// [`write_atomic`] of what `source` reads.
fn write_atomic_from(path: &Path, source: &mut dyn std::io::Read) -> Result<(), WriteError> {
    let wrap = |source: std::io::Error| WriteError { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Result files are ordinary documents: readable by everyone, like files the shell creates.
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut file = builder.tempfile_in(dir).map_err(wrap)?;
    std::io::copy(source, &mut file).map_err(wrap)?;
    file.as_file().sync_all().map_err(wrap)?;
    file.persist(path).map_err(|e| wrap(e.error))?;
    Ok(())
}

/// A single output file (e.g. `flexrnn infer --out FILE.csv`) cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file exists and `--force` was not given: flexrnn cannot tell whether it wrote it.
    #[error("{0} already exists; choose another --out, or pass --force to replace it")]
    Exists(PathBuf),
    /// The path is a folder or a symbolic link, which a file never replaces.
    #[error("{0} is a folder or a symbolic link; give the path of a file with --out")]
    NotAFile(PathBuf),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Checks before the work that the single output file `path` may be written: it is absent, or a
/// regular file and `force` is set (a file carries no marker, so an existing one is replaced only on
/// request — the output-folder rule's "never overwrite what we did not write" for one file).
///
/// # Errors
/// [`FileError::Exists`] or [`FileError::NotAFile`] naming the path.
pub fn check_file(path: &Path, force: bool) -> Result<(), FileError> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.file_type().is_file() => Err(FileError::NotAFile(path.to_path_buf())),
        Ok(_) if force => Ok(()),
        Ok(_) => Err(FileError::Exists(path.to_path_buf())),
    }
}

/// Writes the single output file `path` atomically ([`write_atomic`]) after [`check_file`].
///
/// # Errors
/// As [`check_file`], and [`FileError::Write`] naming the file.
pub fn write_file(path: &Path, force: bool, bytes: &[u8]) -> Result<(), FileError> {
    check_file(path, force)?;
    write_atomic(path, bytes)?;
    Ok(())
}

/// The marker file [`MARKER`]: which command wrote the folder, and which files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// Always `flexrnn`.
    pub tool: String,
    /// [`MARKER_FORMAT`] when written.
    pub format: u32,
    /// The command that wrote the folder, as typed after `flexrnn` (`run`, `train`, `eval`).
    pub command: String,
    /// False while the files are being written one by one into the folder; true once they all are.
    pub complete: bool,
    /// The files the command wrote, relative to the folder, `/`-separated, sorted.
    pub files: Vec<String>,
}

impl Marker {
    /// The marker of `command` listing `files` (sorted here), complete.
    pub fn new(command: &str, files: impl IntoIterator<Item = String>) -> Self {
        let files: BTreeSet<String> = files.into_iter().collect();
        Marker {
            tool: "flexrnn".into(),
            format: MARKER_FORMAT,
            command: command.into(),
            complete: true,
            files: files.into_iter().collect(),
        }
    }

    /// The marker as written (pretty JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("markers serialise")
    }

    /// Parses a marker, checking that every listed path stays inside the folder.
    fn parse(bytes: &[u8]) -> Result<Marker, String> {
        let marker: Marker = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if marker.tool != "flexrnn" {
            return Err(format!("`tool` is `{}`, not `flexrnn`", marker.tool));
        }
        if marker.format != MARKER_FORMAT {
            return Err(format!("format {} (this flexrnn reads format {MARKER_FORMAT})", marker.format));
        }
        if let Some(bad) = marker.files.iter().find(|f| relative_path(f).is_none()) {
            return Err(format!("lists `{bad}`, which is not a path inside the folder"));
        }
        Ok(marker)
    }
}

/// `text` as a relative path of plain components (no `..`, root or prefix; not the marker itself).
fn relative_path(text: &str) -> Option<PathBuf> {
    let path = Path::new(text);
    let plain = !text.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && text != MARKER).then(|| path.to_path_buf())
}

/// `path` (relative) as the marker lists it: its components joined by `/`.
fn marker_name(path: &Path) -> Option<String> {
    let parts: Vec<&str> = path
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| if let Component::Normal(p) = c { p.to_str() } else { None })
        .collect::<Option<_>>()?;
    let name = parts.join("/");
    relative_path(&name).map(|_| name)
}

/// Whether `name` is exactly a temporary file name of [`write_atomic`]: [`TMP_PREFIX`] followed by
/// the six random letters and digits `tempfile` adds.
fn is_tmp_name(name: &str) -> bool {
    name.strip_prefix(TMP_PREFIX)
        .is_some_and(|rest| rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The first entry on the way to `relative` (`/`-separated, inside `out`) that flexrnn must not go
/// through or replace, with what it is: a symbolic link (never written, read or deleted through),
/// something that is not a folder where a folder is needed, or — for a file (`leaf_is_dir` false) — a
/// folder where the file goes (for a folder, a file where it goes). `None` when every existing
/// component is what it should be (missing ones are created as real folders). `out` itself may be a
/// symbolic link: the rule is about what lies below it.
pub fn obstacle(out: &Path, relative: &str, leaf_is_dir: bool) -> Option<(String, &'static str)> {
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut path = out.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { return None };
        let kind = meta.file_type();
        let dir_wanted = leaf_is_dir || i + 1 < parts.len();
        let what = if kind.is_symlink() {
            "a symbolic link"
        } else if dir_wanted && !kind.is_dir() {
            "not a folder"
        } else if !dir_wanted && kind.is_dir() {
            "a folder"
        } else {
            continue;
        };
        return Some((parts[..=i].join("/"), what));
    }
    None
}

/// `out` with trailing `.` components dropped (`x/.` is `x`), so that it names the folder itself.
///
/// # Errors
/// [`FolderError::ParentOut`] when it ends in `..`.
pub fn normalised(out: &Path) -> Result<PathBuf, FolderError> {
    if matches!(out.components().next_back(), Some(Component::ParentDir)) {
        return Err(FolderError::ParentOut(out.to_path_buf()));
    }
    let path: PathBuf = out.components().collect();
    Ok(if path.as_os_str().is_empty() { PathBuf::from(".") } else { path })
}

/// How a command treats its output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The command, as typed after `flexrnn` (`run`, `train`, `eval`); recorded in the marker.
    pub command: &'static str,
    /// `--force`: write among files the command did not write (replacing files of the same names).
    pub force: bool,
    /// Whether a previous result of the same command is replaced without `--force` (`run` and
    /// `eval`: yes; `train`: no — a trained model is replaced only with `--force`).
    pub replace_own: bool,
}

/// Why an output folder cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// The output path exists and is not a folder.
    #[error("output folder {0} exists and is not a folder; give a folder path with --out")]
    IsAFile(PathBuf),
    /// The folder holds files that the command did not write and no result of it.
    #[error(
        "output folder {folder} holds files that `flexrnn {command}` did not write (e.g. {example}); \
         choose a new or empty --out, or pass --force to write the results among them \
         (files of the same names are replaced, nothing else is touched)"
    )]
    Foreign {
        /// The folder.
        folder: PathBuf,
        /// The command.
        command: &'static str,
        /// One of the files or folders in it, relative.
        example: String,
    },
    /// The folder holds the result of another command.
    #[error(
        "output folder {folder} holds the results of `flexrnn {other}`; choose another --out, or pass \
         --force to write the results of `flexrnn {command}` among them (files of the same names are \
         replaced, nothing else is touched)"
    )]
    OtherCommand {
        /// The folder.
        folder: PathBuf,
        /// The command writing now.
        command: &'static str,
        /// The command whose marker is there.
        other: String,
    },
    /// The folder holds a previous result of the same command, which this command replaces only with
    /// `--force`.
    #[error("{folder} already holds the results of an earlier `flexrnn {command}`; pass --force to replace them, or choose another --out")]
    NeedsForce {
        /// The folder.
        folder: PathBuf,
        /// The command.
        command: &'static str,
    },
    /// The marker file cannot be read.
    #[error(
        "output folder {folder}: its marker {MARKER} cannot be read ({reason}); choose another --out, or \
         pass --force to write the results among its files (nothing else is touched)"
    )]
    BadMarker {
        /// The folder.
        folder: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Something below the folder is in the way of a file to write: a symbolic link (flexrnn never
    /// writes, reads or deletes through one inside an output folder, even with `--force`), a file where
    /// a folder goes or a folder where a file goes.
    #[error(
        "output folder {folder}: `{entry}` is {what}, where flexrnn writes `{file}`; flexrnn never writes, \
         reads or deletes through symbolic links inside an output folder nor replaces a folder or link by \
         a file, even with --force: move `{entry}` away, or choose another --out"
    )]
    Blocked {
        /// The folder.
        folder: PathBuf,
        /// The entry in the way, relative.
        entry: String,
        /// What it is (`a symbolic link`, `not a folder`, `a folder`).
        what: &'static str,
        /// The file (or folder) to write, relative.
        file: String,
    },
    /// `--out` ends in `..`.
    #[error("--out {0}: ends in `..`; name the output folder itself")]
    ParentOut(PathBuf),
    /// A file to write has a path that is not a plain relative path (a bug of the caller).
    #[error("cannot write {0}: not a plain path inside the output folder")]
    BadPath(PathBuf),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What was cleaned up in and beside a target folder before writing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// A backup left by a write killed between its two renames, restored as the target folder.
    pub restored: Option<PathBuf>,
    /// Staging folders and stale backups of killed writes, removed.
    pub removed: Vec<PathBuf>,
    /// Staging folders or backups of killed writes that held files flexrnn did not write: kept, under
    /// a visible name `<name>.flexrnn-kept-<n>` where it could be renamed, instead of being removed.
    pub kept: Vec<PathBuf>,
    /// Temporary files of killed [`write_atomic`] calls (`.flexrnn-tmp-` and six letters or digits,
    /// regular files) removed from the folder and the subfolders the command owns.
    pub temporaries: Vec<PathBuf>,
}

impl Recovery {
    /// One line per kind of thing cleaned up for `out`, to show the user (stderr).
    pub fn notes(&self, out: &Path) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(backup) = &self.restored {
            notes.push(format!(
                "restored {} from {}, the previous results a killed write had moved aside",
                out.display(),
                backup.display()
            ));
        }
        if !self.removed.is_empty() {
            notes.push(format!(
                "removed {} staging folder(s) that killed writes of {} left beside it",
                self.removed.len(),
                out.display()
            ));
        }
        for kept in &self.kept {
            notes.push(format!(
                "kept {}: a killed write of {} left it, and it holds files flexrnn did not write; look through it and delete it yourself",
                kept.display(),
                out.display()
            ));
        }
        if let Some(first) = self.temporaries.first() {
            notes.push(format!(
                "removed {} temporary file(s) that killed writes left in {} (e.g. {})",
                self.temporaries.len(),
                out.display(),
                first.display()
            ));
        }
        notes
    }
}

/// How [`write_result`] wrote a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// True when the folder was swapped in as a whole (it was absent or held only the previous
    /// result); false when the files were written one by one into it.
    pub whole: bool,
    /// A file or folder the command did not write that was left as it is (the first, relative), if any.
    pub kept: Option<String>,
    /// Files of the same names as the command's that it had not written (no marker of the command
    /// listed them), replaced (relative).
    pub replaced: Vec<String>,
    /// Files of the previous result that the new one no longer has, removed (when written one by one).
    pub removed_stale: usize,
    /// Entries added to the folder while the new result was being made, moved from the previous
    /// folder into the new one when it was swapped in (relative).
    pub moved: Vec<String>,
    /// The previous folder, kept whole under a visible name because it held entries added during the
    /// write that could not be moved into the new folder.
    pub backup: Option<PathBuf>,
    /// Leftovers of killed writes cleaned up first.
    pub recovery: Recovery,
}

impl Written {
    /// One line per thing the user should know about the write of `out` by `command` (stderr).
    pub fn notes(&self, out: &Path, command: &str) -> Vec<String> {
        let mut notes = self.recovery.notes(out);
        let out = out.display();
        if let Some(first) = self.replaced.first() {
            notes.push(format!(
                "{out}: replaced {} file(s) of the same names that `flexrnn {command}` had not written (e.g. {first})",
                self.replaced.len()
            ));
        }
        if let Some(kept) = &self.kept {
            notes.push(format!(
                "{out} holds files `flexrnn {command}` did not write (e.g. {kept}); they were left as they are"
            ));
        }
        if let Some(first) = self.moved.first() {
            notes.push(format!(
                "{out}: moved {} item(s) added to the folder during the write into the new result (e.g. {first})",
                self.moved.len()
            ));
        }
        if let Some(backup) = &self.backup {
            notes.push(format!(
                "{out}: the previous result is kept as {}: it holds files added during the write that could not be moved into the new result; look through it and delete it yourself",
                backup.display()
            ));
        }
        notes
    }
}

/// What is at the output path.
#[derive(Debug)]
enum Found {
    Absent,
    Empty,
    /// A result of the same command; `foreign` is the first entry it did not write.
    Own {
        marker: Marker,
        foreign: Option<String>,
    },
    Other {
        command: String,
    },
    Foreign {
        example: String,
    },
    BadMarker {
        reason: String,
    },
}

/// How the folder will be written.
#[derive(Debug)]
enum Plan {
    /// Staged beside it and swapped in as a whole.
    Whole,
    /// Written file by file; `stale` are the previous result's files (removed if not rewritten).
    InPlace { stale: Vec<String> },
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> FolderError + '_ {
    move |source| FolderError::Write(WriteError { path: path.to_path_buf(), source })
}

/// Sorted names of the entries of `dir`, with their types (a symbolic link is a link, not what it
/// points to).
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(String, std::fs::FileType)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name().to_string_lossy().into_owned(), entry.file_type()?));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// `name`, with a `/` when it is a folder.
fn shown(name: &str, kind: std::fs::FileType) -> String {
    if kind.is_dir() {
        format!("{name}/")
    } else {
        name.to_string()
    }
}

/// The folders on the way to `files` (`a/b/c.csv` gives `a` and `a/b`).
fn folders_of<'a>(files: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for file in files {
        let mut end = 0;
        while let Some(slash) = file[end..].find('/') {
            end += slash;
            dirs.insert(file[..end].to_string());
            end += 1;
        }
    }
    dirs
}

/// The first entry under `out` (sorted, depth first) that `files` do not account for: not the
/// marker, not a listed regular file, not a real folder on the way to one, not a temporary file of
/// [`write_atomic`]. Symbolic links are never followed (and never accounted for).
fn first_unaccounted(out: &Path, files: &BTreeSet<&str>) -> std::io::Result<Option<String>> {
    let dirs = folders_of(files.iter().copied());
    fn walk(
        dir: &Path,
        prefix: &str,
        files: &BTreeSet<&str>,
        dirs: &BTreeSet<String>,
    ) -> std::io::Result<Option<String>> {
        for (name, kind) in sorted_entries(dir)? {
            let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            if kind.is_file() && ((prefix.is_empty() && name == MARKER) || is_tmp_name(&name)) {
                continue;
            }
            if kind.is_dir() && dirs.contains(&relative) {
                if let Some(found) = walk(&dir.join(&name), &relative, files, dirs)? {
                    return Ok(Some(found));
                }
            } else if !(kind.is_file() && files.contains(relative.as_str())) {
                return Ok(Some(shown(&relative, kind)));
            }
        }
        Ok(None)
    }
    walk(out, "", files, &dirs)
}

/// The commands that write model folders: each one's folder is a previous result of the others too,
/// so that `train --force` into a folder `seeds` or `import` wrote replaces it as a whole (the old
/// widths' weights go) instead of writing among its files.
const MODEL_FOLDER_COMMANDS: &[&str] = &["train", "import", "seeds"];

/// Whether a folder whose marker names `previous` holds a previous result of `command`: the same
/// command, or two of [`MODEL_FOLDER_COMMANDS`].
fn same_kind(previous: &str, command: &str) -> bool {
    previous == command || (MODEL_FOLDER_COMMANDS.contains(&previous) && MODEL_FOLDER_COMMANDS.contains(&command))
}

/// Looks at what is at `out` for `command`.
fn inspect(out: &Path, command: &str) -> Result<Found, FolderError> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Absent),
        Err(e) => return Err(io_error(out)(e)),
        Ok(_) if !out.is_dir() => return Err(FolderError::IsAFile(out.to_path_buf())),
        Ok(_) => {}
    }
    let entries = sorted_entries(out).map_err(io_error(out))?;
    let Some((first, kind)) = entries.iter().find(|(name, kind)| !(kind.is_file() && is_tmp_name(name))) else {
        return Ok(Found::Empty);
    };
    if let Some((entry, what)) = obstacle(out, MARKER, false) {
        let folder = out.to_path_buf();
        return Err(FolderError::Blocked { folder, entry, what, file: MARKER.into() });
    }
    match std::fs::read(out.join(MARKER)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Foreign { example: shown(first, *kind) }),
        Err(e) => Ok(Found::BadMarker { reason: e.to_string() }),
        Ok(bytes) => match Marker::parse(&bytes) {
            Err(reason) => Ok(Found::BadMarker { reason }),
            Ok(marker) if !same_kind(&marker.command, command) => Ok(Found::Other { command: marker.command }),
            Ok(marker) => {
                let listed: BTreeSet<&str> = marker.files.iter().map(String::as_str).collect();
                let foreign = first_unaccounted(out, &listed).map_err(io_error(out))?;
                Ok(Found::Own { marker, foreign })
            }
        },
    }
}

/// True when `out` can be swapped as a whole: it has a name of its own and is not a symbolic link.
fn swappable(out: &Path) -> bool {
    matches!(out.components().next_back(), Some(Component::Normal(_)))
        && !std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink())
}

/// Refuses when something below `out` is in the way of one of `files` (see [`obstacle`]).
fn refuse_obstacles<'a>(out: &Path, files: impl IntoIterator<Item = &'a str>) -> Result<(), FolderError> {
    for file in files {
        if let Some((entry, what)) = obstacle(out, file, false) {
            return Err(FolderError::Blocked { folder: out.to_path_buf(), entry, what, file: file.into() });
        }
    }
    Ok(())
}

/// Decides how to write `out` under `rule`, or refuses.
fn plan(out: &Path, rule: Rule) -> Result<Plan, FolderError> {
    let folder = || out.to_path_buf();
    match inspect(out, rule.command)? {
        Found::Absent => Ok(Plan::Whole),
        Found::Empty => Ok(Plan::InPlace { stale: Vec::new() }),
        Found::Own { marker, foreign } => {
            if !(rule.replace_own || rule.force) {
                return Err(FolderError::NeedsForce { folder: folder(), command: rule.command });
            }
            // The previous result's paths are where the new one writes too: nothing may be in the way.
            refuse_obstacles(out, marker.files.iter().map(String::as_str))?;
            if foreign.is_none() && swappable(out) {
                Ok(Plan::Whole)
            } else {
                Ok(Plan::InPlace { stale: marker.files })
            }
        }
        Found::Other { .. } | Found::Foreign { .. } | Found::BadMarker { .. } if rule.force => {
            Ok(Plan::InPlace { stale: Vec::new() })
        }
        Found::Other { command: other } => {
            Err(FolderError::OtherCommand { folder: folder(), command: rule.command, other })
        }
        Found::Foreign { example } => Err(FolderError::Foreign { folder: folder(), command: rule.command, example }),
        Found::BadMarker { reason } => Err(FolderError::BadMarker { folder: folder(), reason }),
    }
}

/// The folder holding `out` (`.` for a bare name).
fn parent_of(out: &Path) -> &Path {
    out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The last component of `out`, which names its staging folders and backups.
fn stem(out: &Path) -> Option<String> {
    match out.components().next_back() {
        Some(Component::Normal(name)) => name.to_str().map(String::from),
        _ => None,
    }
}

/// An exclusive `flock` on the parent folder, held while a folder in it is cleaned up and written;
/// released when dropped or when the process ends, however it ends.
struct ParentLock(Option<std::fs::File>);

impl ParentLock {
    /// Waits for the lock on `parent`; without one (not Linux, or the folder cannot be opened) the
    /// write goes on unlocked and leftovers are not cleaned up.
    fn take(parent: &Path) -> Self {
        #[cfg(target_os = "linux")]
        if let Ok(file) = std::fs::File::open(parent) {
            if rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).is_ok() {
                return ParentLock(Some(file));
            }
        }
        let _ = parent;
        ParentLock(None)
    }

    fn held(&self) -> bool {
        self.0.is_some()
    }
}

/// Whether `name` is `.<stem>.flexrnn-<kind>-` followed by exactly the random characters.
fn is_leftover(name: &str, stem: &str, kind: &str) -> bool {
    name.strip_prefix(&format!(".{stem}.flexrnn-{kind}-"))
        .is_some_and(|rest| rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Under the parent's lock, cleans up what killed writes of `out` left beside it and in it: staging
/// folders (`.<name>.flexrnn-new-XXXXXX`) and stale backups (`.<name>.flexrnn-old-XXXXXX`) are removed
/// — but one holding files its marker does not list is kept under a visible name (see [`retire`]); a
/// backup is restored when `out` is missing; temporary files of [`write_atomic`] are removed from
/// `out` and the folders of its marker's files. Best effort: what cannot be removed stays (and is
/// tried again next time).
fn recover(out: &Path, lock: &ParentLock) -> Recovery {
    let mut recovery = Recovery::default();
    let Some(stem) = stem(out).filter(|_| lock.held()) else { return recovery };
    let parent = parent_of(out);
    for (name, kind) in sorted_entries(parent).unwrap_or_default() {
        let (new, old) = (is_leftover(&name, &stem, "new"), is_leftover(&name, &stem, "old"));
        if !kind.is_dir() || !(new || old) {
            continue;
        }
        let path = parent.join(&name);
        let missing = || matches!(std::fs::symlink_metadata(out), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        if old && missing() {
            if std::fs::rename(&path, out).is_ok() {
                recovery.restored = Some(path);
            }
        } else if new && in_use(&path) {
            // The staging folder of a live writer streaming its files (a [`Spool`]): not a leftover.
            continue;
        } else if new && std::fs::symlink_metadata(path.join(MARKER)).is_err() {
            // A staging folder gets its marker before any other file, so one without a marker is
            // empty (killed right after its creation) or not ours: remove it only if it is empty.
            if std::fs::remove_dir(&path).is_ok() {
                recovery.removed.push(path);
            }
        } else {
            // A whole staged result, or a previous result after its swap: remove what its marker lists.
            match retire(&path, None, &stem) {
                Retired { kept: Some(kept), .. } => recovery.kept.push(kept),
                Retired { kept: None, .. } if std::fs::symlink_metadata(&path).is_err() => recovery.removed.push(path),
                Retired { .. } => {}
            }
        }
    }
    let owned: Vec<String> = std::fs::read(out.join(MARKER))
        .ok()
        .filter(|_| obstacle(out, MARKER, false).is_none())
        .and_then(|bytes| Marker::parse(&bytes).ok())
        .map(|marker| folders_of(marker.files.iter().map(String::as_str)).into_iter().collect())
        .unwrap_or_default();
    recovery.temporaries = remove_temporaries_in(out, owned.iter().map(String::as_str));
    recovery
}

/// Removes the temporary files of killed [`write_atomic`] calls (exactly [`TMP_PREFIX`] and six letters
/// or digits, regular files) from `out` and its subfolders `subfolders` (relative; skipped when a
/// symbolic link or anything but a real folder is on their way). Returns the files removed.
fn remove_temporaries_in<'a>(out: &Path, subfolders: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let dirs = std::iter::once(out.to_path_buf())
        .chain(subfolders.into_iter().filter(|d| obstacle(out, d, true).is_none()).map(|d| out.join(d)));
    for dir in dirs {
        for (name, kind) in sorted_entries(&dir).unwrap_or_default() {
            let path = dir.join(&name);
            if kind.is_file() && is_tmp_name(&name) && std::fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

/// For commands whose folders carry their own marker (`study`, `merge`): under the parent folder's
/// lock (when it can be taken), removes the temporary files of killed [`write_atomic`] calls from
/// `out` and its subfolders `subfolders` (relative): only regular files named exactly like them, never
/// through a symbolic link. Returns the files removed.
pub fn remove_temporaries(out: &Path, subfolders: &[&str]) -> Vec<PathBuf> {
    let parent = parent_of(out);
    let _lock = if parent.is_dir() { ParentLock::take(parent) } else { ParentLock(None) };
    remove_temporaries_in(out, subfolders.iter().copied())
}

/// Writes `bytes` to a new file `path` and flushes it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes the whole result (files and marker) into a new staging folder beside `out` and returns it.
fn stage(out: &Path, stem: &str, command: &str, files: &[(String, &[u8])]) -> Result<PathBuf, FolderError> {
    let parent = parent_of(out);
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{stem}.flexrnn-new-"))
        .rand_bytes(RANDOM_CHARS)
        .tempdir_in(parent)
        .map_err(io_error(parent))?;
    // The marker first (incomplete), so that a staging folder left by a kill always says which files
    // are flexrnn's: the next start removes those and nothing else.
    let mut marker = Marker::new(command, files.iter().map(|(name, _)| name.clone()));
    marker.complete = false;
    write_synced(&staging.path().join(MARKER), &marker.to_bytes()).map_err(io_error(&out.join(MARKER)))?;
    for (name, bytes) in files {
        write_synced(&staging.path().join(name), bytes).map_err(io_error(&out.join(name)))?;
    }
    marker.complete = true;
    write_synced(&staging.path().join(MARKER), &marker.to_bytes()).map_err(io_error(&out.join(MARKER)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The previous folder's permissions, or those of a folder the shell creates.
        let mode = std::fs::metadata(out).map_or(0o755, |m| m.permissions().mode() & 0o7777);
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(mode))
            .map_err(io_error(staging.path()))?;
    }
    Ok(staging.keep())
}

/// Exchanges the folders `a` and `b` atomically (Linux `renameat2(RENAME_EXCHANGE)`); `Ok(false)`
/// when the system or file system cannot.
fn exchange(a: &Path, b: &Path) -> Result<bool, FolderError> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(true),
            Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP => {}
            Err(e) => return Err(io_error(b)(e.into())),
        }
    }
    let _ = (a, b);
    Ok(false)
}

/// What became of a previous result's folder once it was out of the way ([`retire`]).
#[derive(Debug, Default)]
struct Retired {
    /// Entries its marker does not list, moved into the new folder (relative).
    moved: Vec<String>,
    /// The folder itself, kept (under a visible name when it could be renamed) because it still holds
    /// entries its marker does not list.
    kept: Option<PathBuf>,
}

/// Disposes of `old`, a previous result (or a staged one) that is no longer under the output
/// folder's name. Only the files its marker lists (and the marker, and temporary files of
/// [`write_atomic`]) are flexrnn's: every other entry — e.g. a file a user added to the folder while
/// the new result was being made — is moved to the same place in `out` (the new folder) when that
/// name is free there; if any cannot be moved (or `out` is `None`), `old` is kept whole, renamed
/// `<stem>.flexrnn-kept-<n>` beside it. Otherwise `old` is removed. Never deletes a file the marker
/// does not list; never follows a symbolic link.
fn retire(old: &Path, out: Option<&Path>, stem: &str) -> Retired {
    let listed: Vec<String> = std::fs::read(old.join(MARKER))
        .ok()
        .filter(|_| obstacle(old, MARKER, false).is_none())
        .and_then(|bytes| Marker::parse(&bytes).ok())
        .map(|marker| marker.files)
        .unwrap_or_default();
    let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let dirs = folders_of(listed.iter().copied());
    fn salvage(
        old: &Path,
        prefix: &str,
        out: Option<&Path>,
        listed: &BTreeSet<&str>,
        dirs: &BTreeSet<String>,
        moved: &mut Vec<String>,
    ) -> bool {
        let Ok(entries) = sorted_entries(&old.join(prefix)) else { return false };
        let mut all = true;
        for (name, kind) in entries {
            let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let ours = kind.is_file()
                && ((prefix.is_empty() && name == MARKER) || is_tmp_name(&name) || listed.contains(relative.as_str()));
            if ours {
                continue;
            }
            if kind.is_dir() && dirs.contains(&relative) {
                all &= salvage(old, &relative, out, listed, dirs, moved);
                continue;
            }
            let free = out.is_some_and(|out| {
                let parent_ok = relative
                    .rsplit_once('/')
                    .is_none_or(|(dir, _)| obstacle(out, dir, true).is_none() && out.join(dir).is_dir());
                parent_ok
                    && matches!(std::fs::symlink_metadata(out.join(&relative)), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
            });
            if free && std::fs::rename(old.join(&relative), out.expect("free").join(&relative)).is_ok() {
                moved.push(shown(&relative, kind));
            } else {
                all = false;
            }
        }
        all
    }
    let mut moved = Vec::new();
    if salvage(old, "", out, &listed, &dirs, &mut moved) {
        // Best effort: a leftover is tried again at the next start.
        let _ = std::fs::remove_dir_all(old);
        return Retired { moved, kept: None };
    }
    let parent = parent_of(old);
    for n in 1..1000 {
        let kept = parent.join(format!("{stem}.flexrnn-kept-{n}"));
        if matches!(std::fs::symlink_metadata(&kept), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            if std::fs::rename(old, &kept).is_ok() {
                return Retired { moved, kept: Some(kept) };
            }
            break;
        }
    }
    Retired { moved, kept: Some(old.to_path_buf()) }
}

/// Puts the staged folder in place of `out`: a plain rename when `out` is absent; else an atomic
/// exchange (when `use_exchange` and supported); else two renames through a backup
/// `.<name>.flexrnn-old-XXXXXX` (a crash between the renames leaves the backup, which the next start
/// restores). The previous folder is then disposed of by [`retire`]: entries added to it during the
/// write are moved into the new folder, or it is kept.
fn swap_in(staged: &Path, out: &Path, stem: &str, use_exchange: bool) -> Result<Retired, FolderError> {
    let result = (|| {
        if matches!(std::fs::symlink_metadata(out), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            std::fs::rename(staged, out).map_err(io_error(out))?;
            return Ok(Retired::default());
        }
        if use_exchange && exchange(staged, out)? {
            // `staged` now holds the old result.
            return Ok(retire(staged, Some(out), stem));
        }
        let parent = parent_of(out);
        let backup = tempfile::Builder::new()
            .prefix(&format!(".{stem}.flexrnn-old-"))
            .rand_bytes(RANDOM_CHARS)
            .tempdir_in(parent)
            .map_err(io_error(parent))?
            .keep();
        std::fs::remove_dir(&backup).map_err(io_error(&backup))?;
        std::fs::rename(out, &backup).map_err(io_error(out))?;
        if let Err(e) = std::fs::rename(staged, out) {
            let _ = std::fs::rename(&backup, out);
            return Err(io_error(out)(e));
        }
        Ok(retire(&backup, Some(out), stem))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(staged);
    }
    result
}

/// Removes `out/name` if it is a regular file reached through real folders (no symbolic link on the
/// way), then the folders on its way that it leaves empty. True if removed.
fn remove_own_file(out: &Path, name: &str) -> bool {
    let path = out.join(name);
    if obstacle(out, name, false).is_some() || !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    if std::fs::remove_file(&path).is_err() {
        return false;
    }
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != out) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    true
}

/// Writes `files` one by one into `out`: first a marker (`complete: false`) listing them and the
/// previous result's files `stale`, then each file atomically, then removes the stale files not
/// rewritten, then the final marker. Returns how many stale files were removed.
fn write_in_place(
    out: &Path,
    command: &str,
    files: &[(String, &[u8])],
    stale: Vec<String>,
) -> Result<usize, FolderError> {
    write_in_place_with(out, command, files, None, stale)
}

/// [`write_in_place`], the files of `spooled` (the staging folder of a [`Spool`] and the names of the
/// files streamed into it) moved in first, each atomically (a rename, or a copy to a temporary file
/// beside its place then a rename when the staging folder is on another file system).
fn write_in_place_with(
    out: &Path,
    command: &str,
    files: &[(String, &[u8])],
    spooled: Option<(&Path, &[String])>,
    stale: Vec<String>,
) -> Result<usize, FolderError> {
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    let spooled_names = spooled.map_or(&[][..], |(_, names)| names);
    let new: BTreeSet<&str> =
        files.iter().map(|(name, _)| name.as_str()).chain(spooled_names.iter().map(String::as_str)).collect();
    let stale: Vec<String> = stale.into_iter().filter(|f| !new.contains(f.as_str())).collect();
    let mut pending = Marker::new(command, new.iter().map(|s| s.to_string()).chain(stale.iter().cloned()));
    pending.complete = false;
    write_atomic(&out.join(MARKER), &pending.to_bytes())?;
    if let Some((dir, names)) = spooled {
        for name in names {
            let (from, to) = (dir.join(name), out.join(name));
            if let Some(folder) = to.parent() {
                std::fs::create_dir_all(folder).map_err(io_error(folder))?;
            }
            if std::fs::rename(&from, &to).is_err() {
                let mut file = std::fs::File::open(&from).map_err(io_error(&to))?;
                write_atomic_from(&to, &mut file)?;
            }
        }
    }
    for (name, bytes) in files {
        write_atomic(&out.join(name), bytes)?;
    }
    let removed = stale.iter().filter(|name| remove_own_file(out, name)).count();
    write_atomic(&out.join(MARKER), &Marker::new(command, new.iter().map(|s| s.to_string())).to_bytes())?;
    Ok(removed)
}

/// Checks, before the work that produces a result, that `out` may be written under `rule` (see the
/// module documentation), after cleaning up what killed writes of `out` left beside it and in it.
/// Creates nothing; [`write_result`] checks again.
///
/// # Errors
/// [`FolderError`] naming the folder, why it is refused and how to proceed.
pub fn check(out: &Path, rule: Rule) -> Result<Recovery, FolderError> {
    let out = &normalised(out)?;
    let parent = parent_of(out);
    let lock = if parent.is_dir() { ParentLock::take(parent) } else { ParentLock(None) };
    let recovery = recover(out, &lock);
    plan(out, rule)?;
    Ok(recovery)
}

/// Writes a command's result `files` (paths relative to `out`) into the folder `out` under the
/// output-folder rule (module documentation): swapped in as a whole when `out` is absent or holds
/// only the previous result of the same command, written file by file otherwise, refused when the
/// rule says so. Leftovers of killed writes of `out` are cleaned up first.
///
/// # Errors
/// [`FolderError`] naming the folder (refused) or the file (not written). A refusal changes nothing.
pub fn write_result(out: &Path, rule: Rule, files: &[(PathBuf, Vec<u8>)]) -> Result<Written, FolderError> {
    let out = &normalised(out)?;
    let named: Vec<(String, &[u8])> = files
        .iter()
        .map(|(path, bytes)| {
            marker_name(path).map(|n| (n, bytes.as_slice())).ok_or_else(|| FolderError::BadPath(path.clone()))
        })
        .collect::<Result<_, _>>()?;
    let (_lock, plan, written) = begin_publish(out, rule)?;
    match (plan, stem(out)) {
        (Plan::Whole, Some(stem)) => {
            let staged = stage(out, &stem, rule.command, &named)?;
            let retired = swap_in(&staged, out, &stem, true)?;
            Ok(Written { whole: true, moved: retired.moved, backup: retired.kept, ..written })
        }
        (Plan::Whole, None) => {
            write_in_place(out, rule.command, &named, Vec::new())?;
            Ok(written)
        }
        (Plan::InPlace { stale }, _) => {
            let names: Vec<&str> = named.iter().map(|(name, _)| name.as_str()).collect();
            let replaced = foreign_replaced(out, &names, &stale)?;
            let removed_stale = write_in_place(out, rule.command, &named, stale)?;
            let kept = first_unaccounted(out, &names.into_iter().collect()).ok().flatten();
            Ok(Written { kept, replaced, removed_stale, ..written })
        }
    }
}

/// The start of publishing a result folder `out` under `rule`: takes the parent folder's lock (held
/// until the returned guard drops, so the caller keeps it for the whole write), cleans up leftovers of
/// killed writes, and plans how `out` is written; the [`Written`] says what was cleaned up and nothing
/// else yet.
///
/// # Errors
/// [`FolderError`] if the parent cannot be created or `rule` refuses `out`.
fn begin_publish(out: &Path, rule: Rule) -> Result<(ParentLock, Plan, Written), FolderError> {
    let parent = parent_of(out);
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    let lock = ParentLock::take(parent);
    let recovery = recover(out, &lock);
    let plan = plan(out, rule)?;
    let written = Written {
        whole: false,
        kept: None,
        replaced: Vec::new(),
        removed_stale: 0,
        moved: Vec::new(),
        backup: None,
        recovery,
    };
    Ok((lock, plan, written))
}

/// Before writing `names` into `out` file by file: refuses an obstacle (a folder where a file goes),
/// and returns the names that replace files this command did not write (not among `stale`, its own
/// previous result's files).
///
/// # Errors
/// [`FolderError`] from [`refuse_obstacles`].
fn foreign_replaced(out: &Path, names: &[&str], stale: &[String]) -> Result<Vec<String>, FolderError> {
    refuse_obstacles(out, names.iter().copied())?;
    let own: BTreeSet<&str> = stale.iter().map(String::as_str).collect();
    Ok(names
        .iter()
        .filter(|name| !own.contains(*name) && std::fs::symlink_metadata(out.join(name)).is_ok())
        .map(|name| name.to_string())
        .collect())
}

/// Whether `dir`, a staging folder, is held by a live writer (a [`Spool`] keeps an exclusive `flock`
/// on its staging folder while it streams files into it). Linux only; elsewhere never.
fn in_use(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    if let Ok(file) = std::fs::File::open(dir) {
        use rustix::fs::{flock, FlockOperation};
        return matches!(flock(&file, FlockOperation::NonBlockingLockExclusive), Err(e) if e == rustix::io::Errno::WOULDBLOCK);
    }
    let _ = dir;
    false
}

/// A result folder written while the work runs: the large files (a run's record files) are written
/// into a staging folder beside the output folder as they are produced ([`Spool::file`]), and
/// [`Spool::finish`] adds the other files and publishes the whole under the output-folder rule exactly
/// as [`write_result`] does (swapped in whole, or written file by file, each file old or new, never
/// half-written; refused as it would refuse). Nothing under the output folder's name changes before
/// `finish`.
///
/// The staging folder (`.<name>.flexrnn-new-XXXXXX`) gets its marker (`complete: false`, listing the
/// streamed files) before any file, and the writer holds an exclusive `flock` on it (Linux) until the
/// end: another writer's cleanup leaves a held staging folder alone and removes one whose writer died
/// (as any staging folder). Dropped without `finish` (an error), the staging folder is removed.
#[derive(Debug)]
pub struct Spool {
    out: PathBuf,
    rule: Rule,
    /// The staging folder (`None` once published).
    dir: Option<PathBuf>,
    /// Whether the staging folder is beside `out` (so it can be swapped in); false when `out` has no
    /// name of its own (`--out .`) and the staging folder is in the system's temporary folder.
    beside: bool,
    /// The marker names of the streamed files.
    streamed: Vec<String>,
    /// The `flock` on the staging folder.
    _held: Option<std::fs::File>,
    recovery: Recovery,
}

impl Spool {
    /// Checks that `out` may be written under `rule` (after cleaning up leftovers of killed writes, as
    /// [`check`] does) and creates the staging folder for the files `streamed` (paths relative to
    /// `out`).
    ///
    /// # Errors
    /// [`FolderError`] naming the folder (refused, as [`write_result`] would refuse) or what could
    /// not be created.
    pub fn create(out: &Path, rule: Rule, streamed: &[PathBuf]) -> Result<Spool, FolderError> {
        let out = normalised(out)?;
        let streamed: Vec<String> = streamed
            .iter()
            .map(|path| marker_name(path).ok_or_else(|| FolderError::BadPath(path.clone())))
            .collect::<Result<_, _>>()?;
        let parent = parent_of(&out);
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        let lock = ParentLock::take(parent);
        let recovery = recover(&out, &lock);
        plan(&out, rule)?;
        let (dir, beside) = match stem(&out) {
            Some(stem) => (
                tempfile::Builder::new()
                    .prefix(&format!(".{stem}.flexrnn-new-"))
                    .rand_bytes(RANDOM_CHARS)
                    .tempdir_in(parent)
                    .map_err(io_error(parent))?
                    .keep(),
                true,
            ),
            None => (
                tempfile::Builder::new()
                    .prefix(".flexrnn-spool-")
                    .tempdir()
                    .map_err(io_error(&std::env::temp_dir()))?
                    .keep(),
                false,
            ),
        };
        #[cfg(target_os = "linux")]
        let held = std::fs::File::open(&dir)
            .ok()
            .filter(|file| rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok());
        #[cfg(not(target_os = "linux"))]
        let held = None;
        let mut spool = Spool { out, rule, dir: Some(dir.clone()), beside, streamed, _held: held, recovery };
        let mut marker = Marker::new(rule.command, spool.streamed.iter().cloned());
        marker.complete = false;
        write_synced(&dir.join(MARKER), &marker.to_bytes()).map_err(io_error(&spool.out.join(MARKER)))?;
        drop(lock);
        spool.rule = rule;
        Ok(spool)
    }

    /// What was cleaned up beside and in the output folder before the staging folder was made.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Creates the streamed file `relative` (one of those given to [`Spool::create`]) in the staging
    /// folder, for writing.
    ///
    /// # Errors
    /// [`FolderError::BadPath`] for a file not announced; [`FolderError::Write`] naming the file.
    pub fn file(&self, relative: &Path) -> Result<std::fs::File, FolderError> {
        let name = marker_name(relative).filter(|n| self.streamed.contains(n));
        let (Some(name), Some(dir)) = (name, &self.dir) else {
            return Err(FolderError::BadPath(relative.to_path_buf()));
        };
        let path = dir.join(&name);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io_error(&self.out.join(&name)))?;
        }
        std::fs::File::create(&path).map_err(io_error(&self.out.join(&name)))
    }

    /// Publishes the result: the streamed files (closed by now) and `files` (paths relative to the
    /// output folder, none of them streamed), under the output-folder rule as [`write_result`] does.
    /// The [`Written::recovery`] returned is what was cleaned up since [`Spool::create`].
    ///
    /// # Errors
    /// [`FolderError`] naming the folder (refused: nothing changed) or the file (not written).
    pub fn finish(mut self, files: &[(PathBuf, Vec<u8>)]) -> Result<Written, FolderError> {
        let dir = self.dir.clone().expect("published once");
        let named: Vec<(String, &[u8])> = files
            .iter()
            .map(|(path, bytes)| {
                marker_name(path)
                    .filter(|n| !self.streamed.contains(n))
                    .map(|n| (n, bytes.as_slice()))
                    .ok_or_else(|| FolderError::BadPath(path.clone()))
            })
            .collect::<Result<_, _>>()?;
        let out = self.out.clone();
        for name in &self.streamed {
            std::fs::File::open(dir.join(name)).and_then(|f| f.sync_all()).map_err(io_error(&out.join(name)))?;
        }
        // Its recovery: what was cleaned up since the work began ([`Spool::recovery`] has the rest).
        let (_lock, plan, written) = begin_publish(&out, self.rule)?;
        match (plan, stem(&out)) {
            (Plan::Whole, Some(stem)) if self.beside => {
                let all = self.streamed.iter().cloned().chain(named.iter().map(|(name, _)| name.clone()));
                let mut marker = Marker::new(self.rule.command, all);
                marker.complete = false;
                write_synced(&dir.join(MARKER), &marker.to_bytes()).map_err(io_error(&out.join(MARKER)))?;
                for (name, bytes) in &named {
                    write_synced(&dir.join(name), bytes).map_err(io_error(&out.join(name)))?;
                }
                marker.complete = true;
                write_synced(&dir.join(MARKER), &marker.to_bytes()).map_err(io_error(&out.join(MARKER)))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&out).map_or(0o755, |m| m.permissions().mode() & 0o7777);
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).map_err(io_error(&dir))?;
                }
                self.dir = None;
                let retired = swap_in(&dir, &out, &stem, true)?;
                Ok(Written { whole: true, moved: retired.moved, backup: retired.kept, ..written })
            }
            (Plan::Whole, _) => {
                write_in_place_with(&out, self.rule.command, &named, Some((&dir, &self.streamed)), Vec::new())?;
                Ok(written)
            }
            (Plan::InPlace { stale }, _) => {
                let all: Vec<&str> = named
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .chain(self.streamed.iter().map(String::as_str))
                    .collect();
                let replaced = foreign_replaced(&out, &all, &stale)?;
                let removed_stale =
                    write_in_place_with(&out, self.rule.command, &named, Some((&dir, &self.streamed)), stale)?;
                let kept = first_unaccounted(&out, &all.into_iter().collect()).ok().flatten();
                Ok(Written { kept, replaced, removed_stale, ..written })
            }
        }
    }
}

impl Drop for Spool {
    /// Removes the staging folder when the result was not published (an error on the way, or it was
    /// moved in file by file and only its marker is left).
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: Rule = Rule { command: "run", force: false, replace_own: true };
    const RUN_FORCED: Rule = Rule { command: "run", force: true, replace_own: true };
    const TRAIN: Rule = Rule { command: "train", force: false, replace_own: false };

    fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, Vec<u8>)> {
        list.iter().map(|(p, b)| (PathBuf::from(p), b.as_bytes().to_vec())).collect()
    }

    /// Every path under `dir`, relative, `/`-separated, folders with a trailing `/`, sorted.
    fn tree(dir: &Path) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for (name, kind) in sorted_entries(dir).unwrap() {
                let relative = format!("{prefix}{name}");
                if kind.is_dir() {
                    out.push(format!("{relative}/"));
                    walk(&dir.join(&name), &format!("{relative}/"), out);
                } else {
                    out.push(relative);
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, "", &mut out);
        out
    }

    fn marker(out: &Path) -> Marker {
        Marker::parse(&std::fs::read(out.join(MARKER)).unwrap()).unwrap()
    }

    /// Issue 14: a streamed file goes to the staging folder while the work runs; `finish` swaps the
    /// whole in (nothing under the folder's name before), or writes it file by file among foreign
    /// files with `--force`; a live staging folder survives another writer's cleanup; a spool dropped
    /// without `finish` leaves nothing; a refusal creates nothing.
    #[test]
    fn a_spool_streams_into_staging_and_publishes_under_the_rule() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        let spool = Spool::create(&out, RUN, &[PathBuf::from("a/jobs.csv")]).unwrap();
        let mut file = spool.file(Path::new("a/jobs.csv")).unwrap();
        file.write_all(b"job\n1\n").unwrap();
        drop(file);
        assert!(matches!(spool.file(Path::new("other.csv")), Err(FolderError::BadPath(_))));
        assert!(!out.exists(), "nothing under the folder's name before finish");
        // Another writer of the same folder meanwhile: the live staging folder is not a leftover.
        write_result(&out, RUN, &files(&[("old.csv", "x")])).unwrap();
        let staging: Vec<String> = tree(dir.path()).into_iter().filter(|p| p.contains(".flexrnn-new-")).collect();
        assert_eq!(staging.len(), 4, "staging folder, its marker, a/ and a/jobs.csv: {staging:?}");
        let written = spool.finish(&files(&[("summary.csv", "s")])).unwrap();
        assert!(written.whole);
        assert_eq!(tree(&out), [MARKER, "a/", "a/jobs.csv", "summary.csv"], "the previous result replaced");
        assert_eq!(std::fs::read(out.join("a/jobs.csv")).unwrap(), b"job\n1\n");
        assert_eq!(marker(&out), Marker::new("run", ["a/jobs.csv".into(), "summary.csv".into()]));
        assert_eq!(tree(dir.path()).len(), 1 + 4, "no staging folder or backup left: {:?}", tree(dir.path()));

        // Among foreign files, with --force: file by file, the foreign file kept.
        let among = dir.path().join("among");
        std::fs::create_dir(&among).unwrap();
        std::fs::write(among.join("notes.txt"), "mine").unwrap();
        assert!(matches!(Spool::create(&among, RUN, &[]), Err(FolderError::Foreign { .. })));
        assert_eq!(tree(&among), ["notes.txt"], "a refusal creates nothing");
        let spool = Spool::create(&among, RUN_FORCED, &[PathBuf::from("jobs.csv")]).unwrap();
        spool.file(Path::new("jobs.csv")).unwrap().write_all(b"rows").unwrap();
        let written = spool.finish(&files(&[("summary.csv", "s")])).unwrap();
        assert!(!written.whole);
        assert_eq!(tree(&among), [MARKER, "jobs.csv", "notes.txt", "summary.csv"]);
        assert_eq!(std::fs::read(among.join("jobs.csv")).unwrap(), b"rows");

        // Dropped without finish (the run failed): the staging folder goes.
        let spool = Spool::create(&dir.path().join("failed"), RUN, &[PathBuf::from("jobs.csv")]).unwrap();
        spool.file(Path::new("jobs.csv")).unwrap().write_all(b"half").unwrap();
        drop(spool);
        assert!(tree(dir.path()).iter().all(|p| !p.contains("failed")), "{:?}", tree(dir.path()));
    }

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }

    #[test]
    fn an_absent_folder_is_swapped_in_whole_and_a_rerun_drops_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        let first = write_result(&out, RUN, &files(&[("manifest.json", "{}"), ("a/steps.csv", "1")])).unwrap();
        assert!(first.whole && first.kept.is_none());
        assert_eq!(tree(&out), [MARKER, "a/", "a/steps.csv", "manifest.json"]);
        assert_eq!(marker(&out), Marker::new("run", ["a/steps.csv".into(), "manifest.json".into()]));
        let second = write_result(&out, RUN, &files(&[("manifest.json", "{1}"), ("b.csv", "x")])).unwrap();
        assert!(second.whole);
        assert_eq!(tree(&out), [MARKER, "b.csv", "manifest.json"], "stale run folder a/ removed");
        assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), b"{1}");
        assert_eq!(tree(dir.path()).len(), 1 + 3, "no staging folder or backup left beside it");
    }

    /// Issue 10, 1: `public/manifest.json` in a subfolder made the whole folder look like a result,
    /// and notes.txt and public/ were deleted.
    #[test]
    fn a_folder_with_a_manifest_in_a_subfolder_is_refused_and_force_keeps_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("v");
        std::fs::create_dir_all(out.join("public")).unwrap();
        std::fs::write(out.join("public/manifest.json"), "{}").unwrap();
        std::fs::write(out.join("notes.txt"), "keep").unwrap();
        let new = files(&[("manifest.json", "new"), ("public/manifest.json", "new")]);
        let refused = write_result(&out, RUN, &new).unwrap_err();
        assert!(matches!(&refused, FolderError::Foreign { example, .. } if example == "notes.txt"), "{refused}");
        let message = refused.to_string();
        assert!(message.contains(&out.display().to_string()) && message.contains("--force"), "{message}");
        assert!(matches!(check(&out, RUN), Err(FolderError::Foreign { .. })));
        assert_eq!(tree(&out), ["notes.txt", "public/", "public/manifest.json"], "a refusal changes nothing");
        // With --force: the command's files are written among the others (same names replaced).
        let written = write_result(&out, RUN_FORCED, &new).unwrap();
        assert!(!written.whole && written.kept.as_deref() == Some("notes.txt"));
        assert_eq!(tree(&out), [MARKER, "manifest.json", "notes.txt", "public/", "public/manifest.json"]);
        assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep");
        // The folder now holds a result of `run` beside foreign files: a rerun (no --force needed)
        // writes in place, removes only its own stale files and keeps notes.txt.
        let rerun = write_result(&out, RUN, &files(&[("manifest.json", "newer")])).unwrap();
        assert!(!rerun.whole && rerun.removed_stale == 1 && rerun.kept.as_deref() == Some("notes.txt"));
        assert_eq!(tree(&out), [MARKER, "manifest.json", "notes.txt"], "own stale public/manifest.json removed");
        assert!(marker(&out).complete);
    }

    /// Issue 10, 1: `run … --out results` wiped every earlier result.
    #[test]
    fn a_parent_of_earlier_results_is_never_wiped() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        write_result(&results.join("a"), RUN, &files(&[("manifest.json", "a")])).unwrap();
        write_result(&results.join("b"), RUN, &files(&[("manifest.json", "b")])).unwrap();
        let single = files(&[("manifest.json", "top"), ("steps.csv", "s")]);
        assert!(
            matches!(write_result(&results, RUN, &single), Err(FolderError::Foreign { example, .. }) if example == "a/")
        );
        write_result(&results, RUN_FORCED, &single).unwrap();
        let expected = [MARKER, "a/", "a/.flexrnn-output.json", "a/manifest.json", "b/", "b/.flexrnn-output.json"];
        assert_eq!(tree(&results)[..6], expected);
        assert_eq!(std::fs::read_to_string(results.join("b/manifest.json")).unwrap(), "b");
        // Rerun into the parent: only its own two files are replaced, a/ and b/ stay.
        write_result(&results, RUN_FORCED, &files(&[("manifest.json", "top2")])).unwrap();
        assert!(results.join("a/manifest.json").exists() && !results.join("steps.csv").exists());
    }

    #[test]
    fn another_commands_result_is_refused_and_force_writes_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m");
        write_result(&out, TRAIN, &files(&[("card.json", "c"), ("gru-4.safetensors", "w")])).unwrap();
        let err = write_result(&out, RUN, &files(&[("manifest.json", "x")])).unwrap_err();
        assert!(matches!(&err, FolderError::OtherCommand { other, .. } if other == "train"), "{err}");
        write_result(&out, RUN_FORCED, &files(&[("manifest.json", "x")])).unwrap();
        assert_eq!(tree(&out), [MARKER, "card.json", "gru-4.safetensors", "manifest.json"]);
        assert_eq!(marker(&out).command, "run");
    }

    #[test]
    fn train_replaces_its_own_result_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m");
        write_result(&out, TRAIN, &files(&[("card.json", "1"), ("gru-16.safetensors", "w")])).unwrap();
        let err = write_result(&out, TRAIN, &files(&[("card.json", "2")])).unwrap_err();
        assert!(matches!(err, FolderError::NeedsForce { command: "train", .. }), "{err}");
        assert!(matches!(check(&out, TRAIN), Err(FolderError::NeedsForce { .. })));
        let written = write_result(&out, Rule { force: true, ..TRAIN }, &files(&[("card.json", "2")])).unwrap();
        assert!(written.whole);
        assert_eq!(tree(&out), [MARKER, "card.json"]);
        // An empty folder is written in place (it may be a mount point or have its own permissions).
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let written = write_result(&empty, TRAIN, &files(&[("card.json", "1")])).unwrap();
        assert!(!written.whole && written.kept.is_none());
        assert_eq!(tree(&empty), [MARKER, "card.json"]);
    }

    #[test]
    fn a_marker_pointing_outside_the_folder_is_refused_and_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(dir.path().join("precious.txt"), "mine").unwrap();
        let mut evil = Marker::new("run", ["x".into()]);
        evil.files.push("../precious.txt".into());
        std::fs::write(out.join(MARKER), evil.to_bytes()).unwrap();
        let err = write_result(&out, RUN, &files(&[("x", "1")])).unwrap_err();
        assert!(matches!(&err, FolderError::BadMarker { reason, .. } if reason.contains("../precious.txt")), "{err}");
        write_result(&out, RUN_FORCED, &files(&[("x", "1")])).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("precious.txt")).unwrap(), "mine");
        assert!(matches!(write_result(&out, RUN, &files(&[("../y", "1")])), Err(FolderError::BadPath(_))));
        std::fs::write(dir.path().join("file"), "f").unwrap();
        assert!(matches!(write_result(&dir.path().join("file"), RUN_FORCED, &[]), Err(FolderError::IsAFile(_))));
    }

    /// Issue 10, 4: a killed write left its staging folder forever, and a crash between the two
    /// renames left no results folder at all.
    #[test]
    fn leftovers_of_killed_writes_are_cleaned_and_a_lone_backup_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        write_result(&out, RUN, &files(&[("manifest.json", "old")])).unwrap();
        // A crash between the two renames: the old result sits in a backup, `res` is missing; a
        // killed write left a partial staging folder. Folders of other targets or names are not ours.
        std::fs::rename(&out, dir.path().join(".res.flexrnn-old-AbC123")).unwrap();
        // A staging folder carries its (incomplete) marker before any other file.
        let staging = dir.path().join(".res.flexrnn-new-xYz789");
        std::fs::create_dir(&staging).unwrap();
        let mut pending = Marker::new("run", ["jobs.csv".to_string(), "steps.csv".to_string()]);
        pending.complete = false;
        std::fs::write(staging.join(MARKER), pending.to_bytes()).unwrap();
        std::fs::write(staging.join("jobs.csv"), "partial").unwrap();
        // Killed right after its creation: empty, removed. A user's folder that merely has a staging
        // name (no marker, files in it) is left alone.
        std::fs::create_dir(dir.path().join(".res.flexrnn-new-empty0")).unwrap();
        std::fs::create_dir(dir.path().join(".res.flexrnn-new-usr123")).unwrap();
        std::fs::write(dir.path().join(".res.flexrnn-new-usr123/thesis.tex"), "mine").unwrap();
        for other in [".other.flexrnn-new-abc123", ".res.flexrnn-new-abc1234", "res.flexrnn-new-abc123"] {
            std::fs::create_dir(dir.path().join(other)).unwrap();
        }
        let recovery = check(&out, RUN).unwrap();
        assert_eq!(recovery.restored, Some(dir.path().join(".res.flexrnn-old-AbC123")));
        assert_eq!(recovery.removed, [dir.path().join(".res.flexrnn-new-empty0"), staging]);
        assert_eq!(std::fs::read_to_string(dir.path().join(".res.flexrnn-new-usr123/thesis.tex")).unwrap(), "mine");
        assert_eq!(std::fs::read_to_string(out.join("manifest.json")).unwrap(), "old");
        // A backup beside a present folder is stale (the crash came after the second rename).
        std::fs::create_dir(dir.path().join(".res.flexrnn-old-St4le0")).unwrap();
        let written = write_result(&out, RUN, &files(&[("manifest.json", "new")])).unwrap();
        assert_eq!(written.recovery.removed, [dir.path().join(".res.flexrnn-old-St4le0")]);
        assert_eq!(
            tree(dir.path()).into_iter().filter(|p| !p.contains('/') || p.ends_with('/')).collect::<Vec<_>>(),
            [
                ".other.flexrnn-new-abc123/",
                ".res.flexrnn-new-abc1234/",
                ".res.flexrnn-new-usr123/",
                "res/",
                "res.flexrnn-new-abc123/"
            ]
        );
    }

    #[test]
    fn the_two_rename_fallback_replaces_the_folder_and_leaves_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        write_result(&out, RUN, &files(&[("manifest.json", "old"), ("stale.csv", "s")])).unwrap();
        let staged = stage(&out, "res", "run", &[("manifest.json".into(), b"new".as_slice())]).unwrap();
        swap_in(&staged, &out, "res", false).unwrap();
        assert_eq!(tree(dir.path()), ["res/", "res/.flexrnn-output.json", "res/manifest.json"]);
        assert_eq!(std::fs::read_to_string(out.join("manifest.json")).unwrap(), "new");
    }

    #[test]
    fn the_exchange_swaps_both_folders_or_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("from-a"), "").unwrap();
        if exchange(&a, &b).unwrap() {
            assert_eq!(tree(dir.path()), ["a/", "b/", "b/from-a"]);
        } else {
            assert!(!cfg!(target_os = "linux") || a.join("from-a").exists(), "unsupported: nothing changed");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_folder_is_written_in_place_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        write_result(&real, RUN, &files(&[("manifest.json", "1")])).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let written = write_result(&link, RUN, &files(&[("manifest.json", "2")])).unwrap();
        assert!(!written.whole);
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(real.join("manifest.json")).unwrap(), "2");
    }

    /// Issue 10 follow-up: a symbolic link inside an output folder (`plots -> ../imp2`) was written
    /// through, overwriting files outside the folder, and stderr said the link was left as it was.
    #[cfg(unix)]
    #[test]
    fn a_symlink_below_the_output_folder_is_never_written_through_even_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r1");
        let result = files(&[("comparison.md", "table"), ("plots/timeline.svg", "new svg")]);
        write_result(&out, RUN, &result).unwrap();
        let imp = dir.path().join("imp2");
        std::fs::create_dir(&imp).unwrap();
        std::fs::write(imp.join("timeline.svg"), "precious").unwrap();
        std::fs::remove_dir_all(out.join("plots")).unwrap();
        std::os::unix::fs::symlink("../imp2", out.join("plots")).unwrap();
        for rule in [RUN, RUN_FORCED] {
            let err = write_result(&out, rule, &result).unwrap_err();
            assert!(
                matches!(&err, FolderError::Blocked { entry, what: "a symbolic link", file, .. }
                    if entry == "plots" && file == "plots/timeline.svg"),
                "{err}"
            );
            assert!(matches!(check(&out, rule), Err(FolderError::Blocked { .. })), "refused before the work");
        }
        assert_eq!(std::fs::read_to_string(imp.join("timeline.svg")).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(out.join("plots")).unwrap().file_type().is_symlink());
        // A link named like an output file is not replaced by a file either.
        std::fs::remove_file(out.join("plots")).unwrap();
        std::fs::remove_file(out.join("comparison.md")).unwrap();
        std::os::unix::fs::symlink("../imp2/timeline.svg", out.join("comparison.md")).unwrap();
        let err = write_result(&out, RUN_FORCED, &result).unwrap_err();
        assert!(matches!(&err, FolderError::Blocked { entry, .. } if entry == "comparison.md"), "{err}");
        assert_eq!(std::fs::read_to_string(imp.join("timeline.svg")).unwrap(), "precious");
        // A link elsewhere in the folder is left alone (and named as such); a user's regular file of
        // an output's name is replaced with --force and reported as replaced, not as left alone.
        std::fs::remove_file(out.join("comparison.md")).unwrap();
        std::fs::remove_file(out.join(MARKER)).unwrap();
        std::os::unix::fs::symlink("../imp2", out.join("mine")).unwrap();
        std::fs::write(out.join("comparison.md"), "user's").unwrap();
        let written = write_result(&out, RUN_FORCED, &result).unwrap();
        assert_eq!(written.replaced, ["comparison.md"]);
        assert_eq!(written.kept.as_deref(), Some("mine"));
        let notes = written.notes(&out, "run").join("\n");
        assert!(notes.contains("replaced 1 file(s)") && notes.contains("e.g. mine); they were left"), "{notes}");
        assert_eq!(std::fs::read_to_string(imp.join("timeline.svg")).unwrap(), "precious");
    }

    /// Issue 10 follow-up: a file a user added to the folder while a run was making its new result
    /// was deleted with the old folder after the swap.
    #[test]
    fn files_added_during_a_swap_are_moved_into_the_new_result_or_the_old_folder_is_kept() {
        for use_exchange in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("res");
            write_result(&out, RUN, &files(&[("manifest.json", "old"), ("a/steps.csv", "1")])).unwrap();
            let staged = stage(&out, "res", "run", &[("manifest.json".into(), b"new".as_slice())]).unwrap();
            // Added during the work, after the folder was inspected.
            std::fs::write(out.join("user.txt"), "thesis").unwrap();
            let retired = swap_in(&staged, &out, "res", use_exchange).unwrap();
            assert_eq!(retired.moved, ["user.txt"]);
            assert!(retired.kept.is_none());
            assert_eq!(tree(dir.path()), ["res/", "res/.flexrnn-output.json", "res/manifest.json", "res/user.txt"]);
            // Added in a subfolder the new result does not have: cannot be moved, the old folder is kept.
            let staged = stage(&out, "res", "run", &[("manifest.json".into(), b"newer".as_slice())]).unwrap();
            std::fs::create_dir(out.join("a")).unwrap();
            std::fs::write(out.join("a/notes.txt"), "mine").unwrap();
            let marker = Marker::new("run", ["manifest.json".into(), "a/steps.csv".into()]);
            std::fs::write(out.join(MARKER), marker.to_bytes()).unwrap();
            let retired = swap_in(&staged, &out, "res", use_exchange).unwrap();
            assert_eq!(retired.moved, ["user.txt"], "exchange {use_exchange}");
            assert_eq!(retired.kept, Some(dir.path().join("res.flexrnn-kept-1")));
            assert_eq!(std::fs::read_to_string(dir.path().join("res.flexrnn-kept-1/a/notes.txt")).unwrap(), "mine");
            assert_eq!(std::fs::read_to_string(out.join("user.txt")).unwrap(), "thesis");
        }
    }

    /// Issue 10 follow-up: a killed write left `.flexrnn-tmp-XXXXXX` files; the next run refused the
    /// folder ("did not write (e.g. .flexrnn-tmp-…)") and with --force they piled up.
    #[cfg(unix)]
    #[test]
    fn temporaries_of_killed_writes_are_removed_and_never_count_as_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(".flexrnn-tmp-Ab12Cd"), "partial").unwrap();
        let written = write_result(&out, RUN, &files(&[("a/steps.csv", "1")])).unwrap();
        assert_eq!(written.recovery.temporaries, [out.join(".flexrnn-tmp-Ab12Cd")]);
        assert_eq!(tree(&out), [MARKER, "a/", "a/steps.csv"]);
        // In the folder and its own subfolders; only exact names, only regular files.
        std::fs::write(out.join("a/.flexrnn-tmp-Zz9Yy8"), "partial").unwrap();
        std::fs::write(out.join(".flexrnn-tmp-notours"), "user").unwrap();
        std::os::unix::fs::symlink("a/steps.csv", out.join(".flexrnn-tmp-Lnk000")).unwrap();
        let recovery = check(&out, RUN).unwrap();
        assert_eq!(recovery.temporaries, [out.join("a/.flexrnn-tmp-Zz9Yy8")]);
        assert!(recovery.notes(&out).join("").contains("removed 1 temporary file(s)"));
        let written = write_result(&out, RUN, &files(&[("a/steps.csv", "2")])).unwrap();
        assert_eq!(written.kept.as_deref(), Some(".flexrnn-tmp-Lnk000"));
        assert_eq!(
            tree(&out),
            [".flexrnn-output.json", ".flexrnn-tmp-Lnk000", ".flexrnn-tmp-notours", "a/", "a/steps.csv"]
        );
    }

    /// Issue 10 follow-up: `--out x/.` and `--out newdir/.` failed with raw OS errors after the work.
    #[test]
    fn an_out_path_ending_in_a_dot_names_the_folder_and_one_ending_in_dotdot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_result(&dir.path().join("new/."), RUN, &files(&[("m.json", "1")])).unwrap();
        assert!(written.whole);
        let again = write_result(&dir.path().join("new/./."), RUN, &files(&[("m.json", "2")])).unwrap();
        assert!(again.whole);
        assert_eq!(tree(dir.path()), ["new/", "new/.flexrnn-output.json", "new/m.json"]);
        assert_eq!(normalised(Path::new(".")).unwrap(), Path::new("."));
        for bad in ["new/..", ".."] {
            assert!(matches!(check(&dir.path().join(bad), RUN), Err(FolderError::ParentOut(_))), "{bad}");
        }
    }

    #[test]
    fn marker_names_are_plain_relative_paths() {
        assert_eq!(marker_name(Path::new("a/b.csv")).as_deref(), Some("a/b.csv"));
        assert_eq!(marker_name(Path::new("./a//b.csv")).as_deref(), Some("a/b.csv"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", MARKER] {
            assert_eq!(marker_name(Path::new(bad)), None, "{bad}");
        }
    }
}
