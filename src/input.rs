//! Reading the user's input files — scenarios, study files, traces, work samples, data sets, model
//! cards and weights — through one gate: only regular files are read, and only up to a size limit, so
//! `/dev/zero`, a pipe or a huge file is refused at once instead of being read until memory runs out.
//!
//! Errors are [`std::io::Error`]s of kind [`ErrorKind::InvalidInput`] that say what is wrong and what is
//! allowed; every caller wraps them with the file's name, as for any other read error.
//!
//! The CSV files read (work samples, traces, pixel files) go through `csv_rows`: the `csv` crate's
//! reader with the conventions they share (trimmed fields, blank lines skipped, optional `#`
//! comments) and the line each row starts on, for errors.

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

/// One data row of a CSV text: its 1-based line and its fields, trimmed.
pub(crate) struct CsvRow {
    /// 1-based line where the row starts.
    pub(crate) line: usize,
    /// The fields, trimmed, quotes removed.
    pub(crate) fields: csv::StringRecord,
}

impl CsvRow {
    /// The row as read, for messages: the fields joined by commas.
    pub(crate) fn text(&self) -> String {
        self.fields.iter().collect::<Vec<_>>().join(",")
    }
}

/// The rows of CSV `text`, read by the `csv` crate without a header (callers check theirs) and with
/// any number of fields per row (callers check the count): fields trimmed, standard quoting, a
/// byte-order mark removed, blank lines (also lines of spaces) skipped, and with `comments` lines
/// whose first non-blank character is `#` skipped too (the crate skips those starting with `#`; an
/// indented one arrives as a row whose first field starts with `#`). The error of a row the crate
/// cannot read is given with its line (the crate reads `&str` input without error in practice).
pub(crate) fn csv_rows(
    text: &str,
    comments: bool,
) -> impl Iterator<Item = Result<CsvRow, (Option<usize>, String)>> + '_ {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(comments.then_some(b'#'))
        .from_reader(text.as_bytes());
    reader.into_records().filter_map(move |record| match record {
        Ok(fields) => {
            let line = fields.position().map_or(0, |position| row_line(text, position, comments));
            let blank = fields.len() == 1 && fields[0].is_empty();
            let comment = comments && fields.get(0).is_some_and(|first| first.starts_with('#'));
            (!blank && !comment).then_some(Ok(CsvRow { line, fields }))
        }
        Err(error) => Some(Err((error.position().map(|p| p.line() as usize), error.to_string()))),
    })
}

/// The 1-based line where a row starts. The crate's position of a row is where it began reading it,
/// before the blank lines and `#` comments it skipped on the way, so those are counted here.
fn row_line(text: &str, position: &csv::Position, comments: bool) -> usize {
    let skipped = text.get(position.byte() as usize..).map_or(0, |rest| {
        rest.lines().take_while(|line| line.is_empty() || (comments && line.starts_with('#'))).count()
    });
    position.line() as usize + skipped
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

    /// The crate's row positions start before the blank and comment lines it skipped; `row_line`
    /// counts them, so every row gets the line an editor shows.
    #[test]
    fn csv_rows_have_the_lines_of_the_file() {
        let text = "\u{feff}a,1\n\n\n# c\n  \nb,2\r\n\r\n#x\r\n\n\"c\",3\n   # indented\n\n\nd\n";
        let rows: Vec<(usize, String)> = super::csv_rows(text, true)
            .map(|row| row.map(|row| (row.line, row.fields.iter().collect::<Vec<_>>().join(","))).unwrap())
            .collect();
        let want = [(1, "a,1"), (6, "b,2"), (10, "c,3"), (14, "d")];
        assert_eq!(rows, want.map(|(line, row)| (line, row.to_string())));
        // Without comments, `#` lines are rows.
        assert_eq!(super::csv_rows("1\n\n#x\n", false).map(|row| row.unwrap().line).collect::<Vec<_>>(), [1, 3]);
    }
}
