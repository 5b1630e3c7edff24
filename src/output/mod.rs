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
}
