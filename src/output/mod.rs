//! Writing result files atomically: every file is written to a temporary file in its folder and
//! renamed into place, so a crash never leaves a half-written result.

use std::io::Write;
use std::path::{Path, PathBuf};

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
    let wrap = |source: std::io::Error| WriteError { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".flexrnn-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Result files are ordinary documents: readable by everyone, like files the shell creates.
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut file = builder.tempfile_in(dir).map_err(wrap)?;
    file.write_all(bytes).map_err(wrap)?;
    file.as_file().sync_all().map_err(wrap)?;
    file.persist(path).map_err(|e| wrap(e.error))?;
    Ok(())
}

/// Why an output folder cannot be replaced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// The output path is a file.
    #[error("output folder {0} is a file; give a folder path with --out")]
    IsAFile(PathBuf),
    /// The output folder holds files that flexrnn did not write.
    #[error("output folder {0} exists and was not written by flexrnn (no {1} in it or its subfolders); choose another --out or remove it")]
    Foreign(PathBuf, &'static str),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// True if `dir` is empty or holds a file named `marker` at its top or in a direct subfolder.
fn is_flexrnn_folder(dir: &Path, marker: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let mut empty = true;
    for entry in entries.flatten() {
        empty = false;
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == marker) || path.join(marker).is_file() {
            return true;
        }
    }
    empty
}

/// Replaces the folder `out` by one holding exactly `files` (paths relative to `out`).
///
/// Everything is first written into a new temporary folder beside `out`, which is then renamed into
/// place; the previous results (if any) are moved aside and deleted only after that. So a failure
/// while writing leaves the old results untouched, and a re-run never mixes new files with stale ones
/// (e.g. folders of policies no longer listed). A non-empty folder without a file named `marker`
/// (`manifest.json` for results, `card.json` for model banks) at its top or in a direct subfolder is
/// never replaced.
///
/// # Errors
/// [`FolderError`] naming the folder or file.
pub fn replace_folder(out: &Path, files: &[(PathBuf, Vec<u8>)], marker: &'static str) -> Result<(), FolderError> {
    if out.is_file() {
        return Err(FolderError::IsAFile(out.to_path_buf()));
    }
    if out.is_dir() && !is_flexrnn_folder(out, marker) {
        return Err(FolderError::Foreign(out.to_path_buf(), marker));
    }
    let wrap = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| WriteError { path, source }
    };
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(wrap(parent))?;
    let stem = out.file_name().map_or("results".into(), |n| n.to_string_lossy().into_owned());
    let staging =
        tempfile::Builder::new().prefix(&format!(".{stem}.flexrnn-new-")).tempdir_in(parent).map_err(wrap(parent))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(wrap(staging.path()))?;
    }
    for (relative, bytes) in files {
        let path = staging.path().join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(wrap(dir))?;
        }
        std::fs::write(&path, bytes).map_err(wrap(&out.join(relative)))?;
    }
    let staged = staging.keep();
    if out.exists() {
        let old = tempfile::Builder::new()
            .prefix(&format!(".{stem}.flexrnn-old-"))
            .tempdir_in(parent)
            .map_err(wrap(parent))?
            .keep();
        std::fs::remove_dir(&old).map_err(wrap(&old))?;
        std::fs::rename(out, &old).map_err(wrap(out))?;
        std::fs::rename(&staged, out).map_err(wrap(out))?;
        std::fs::remove_dir_all(&old).map_err(wrap(&old))?;
    } else {
        std::fs::rename(&staged, out).map_err(wrap(out))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn replace_folder_drops_stale_files_and_refuses_foreign_folders() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("res");
        let first = vec![("manifest.json".into(), b"{}".to_vec()), ("a/manifest.json".into(), b"{}".to_vec())];
        replace_folder(&out, &first, "manifest.json").unwrap();
        let second = vec![("manifest.json".into(), b"{1}".to_vec()), ("b.csv".into(), b"x".to_vec())];
        replace_folder(&out, &second, "manifest.json").unwrap();
        assert!(!out.join("a").exists(), "stale run folder removed");
        assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), b"{1}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no staging folders left");
        let foreign = dir.path().join("mine");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.tex"), b"x").unwrap();
        assert!(matches!(replace_folder(&foreign, &second, "manifest.json"), Err(FolderError::Foreign(..))));
        assert!(foreign.join("thesis.tex").exists());
        assert!(matches!(
            replace_folder(&foreign.join("thesis.tex"), &second, "manifest.json"),
            Err(FolderError::IsAFile(_))
        ));
    }
}
