//! Reading the user's input files — scenarios, study files, traces, work samples, data sets, model
//! cards and weights — through one gate: only regular files are read, and only up to a size limit, so
//! `/dev/zero`, a pipe or a huge file is refused at once instead of being read until memory runs out.
//!
//! Errors are [`std::io::Error`]s of kind [`ErrorKind::InvalidInput`] that say what is wrong and what is
//! allowed; every caller wraps them with the file's name, as for any other read error.

use std::io::{ErrorKind, Read};
use std::path::Path;

const MIB: u64 = 1 << 20;

/// Largest YAML or JSON file read (scenario, study file, model card): 16 MiB.
pub const TEXT_LIMIT: u64 = 16 * MIB;

/// Largest data file read (trace, work samples, data set, model weights), and the most a gzipped data
/// file may decompress to: 256 MiB.
pub const DATA_LIMIT: u64 = 256 * MIB;

/// `bytes` in MiB for messages, e.g. `256 MiB` or `300.5 MiB` (below 1 MiB: `10 bytes`).
fn mib(bytes: u64) -> String {
    if bytes < MIB {
        return format!("{bytes} bytes");
    }
    let value = bytes as f64 / MIB as f64;
    if value.fract() == 0.0 {
        format!("{value:.0} MiB")
    } else {
        format!("{value:.1} MiB")
    }
}

fn too_large(what: &str, limit: u64, size: Option<u64>) -> std::io::Error {
    let size = size.map_or_else(|| "larger than".to_string(), |s| format!("{} ({s} bytes), more than", mib(s)));
    std::io::Error::new(ErrorKind::InvalidInput, format!("the file is {size} the {} allowed for {what}", mib(limit)))
}

/// What kind of non-regular file `file_type` is, for messages.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_fifo() {
            return "a pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Reads at most `limit` bytes from `reader`.
///
/// # Errors
/// An [`ErrorKind::InvalidInput`] error naming the limit and `what` (e.g. `data files`) if there are
/// more; any read error.
pub fn read_limited(reader: impl Read, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(what, limit, None));
    }
    Ok(bytes)
}

/// The bytes of the regular file `path`, of at most `limit` bytes; `what` names the kind of file in the
/// error (e.g. `data files`). Symbolic links are followed.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] for a folder, device, pipe or socket (nothing is opened, so a pipe does
/// not block) and for a file larger than `limit` (also one that grows past it while being read), each
/// saying what is allowed; other I/O errors as they come.
pub fn read_bytes(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            ErrorKind::InvalidInput,
            format!("{}: only regular files are read", kind_of(metadata.file_type())),
        ));
    }
    if metadata.len() > limit {
        return Err(too_large(what, limit, Some(metadata.len())));
    }
    read_limited(std::fs::File::open(path)?, limit, what)
}

/// The regular file `path` as UTF-8 text, of at most `limit` bytes; see [`read_bytes`].
///
/// # Errors
/// As [`read_bytes`]; [`ErrorKind::InvalidData`] if the file is not UTF-8.
pub fn read_text(path: &Path, limit: u64, what: &str) -> std::io::Result<String> {
    String::from_utf8(read_bytes(path, limit, what)?)
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "stream did not contain valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_non_regular_files_are_refused_with_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, vec![b'1'; 2 * MIB as usize + 1]).unwrap();
        let e = read_bytes(&path, 2 * MIB, "data files").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "the file is 2.0 MiB (2097153 bytes), more than the 2 MiB allowed for data files");
        assert_eq!(read_bytes(&path, 3 * MIB, "data files").unwrap().len(), 2 * MIB as usize + 1);
        let e = read_bytes(dir.path(), DATA_LIMIT, "data files").unwrap_err();
        assert_eq!(e.to_string(), "a folder: only regular files are read");
        // A source longer than its size says (a growing file, /proc): cut at the limit.
        let e = read_limited(&[0u8; 11][..], 10, "YAML files").unwrap_err();
        assert_eq!(e.to_string(), "the file is larger than the 10 bytes allowed for YAML files");
        assert_eq!(read_limited(&[0u8; 10][..], 10, "YAML files").unwrap().len(), 10);
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_is_refused_without_reading() {
        let e = read_bytes(Path::new("/dev/zero"), DATA_LIMIT, "data files").unwrap_err();
        assert_eq!(e.to_string(), "a device: only regular files are read");
        assert_eq!(mib(DATA_LIMIT), "256 MiB");
        assert_eq!(mib(TEXT_LIMIT), "16 MiB");
    }
}
