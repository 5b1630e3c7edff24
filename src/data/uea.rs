//! The sktime / UEA `.ts` text format of the UEA and UCR time-series archives, and the two shipped
//! UEA sets (BasicMotions, JapaneseVowels).
//!
//! A `.ts` file is a header and a data section:
//!
//! ```text
//! # comment lines start with '#'
//! @problemName BasicMotions
//! @timeStamps false
//! @missing false
//! @univariate false
//! @dimensions 6
//! @equalLength true
//! @seriesLength 100
//! @classLabel true Standing Running Walking Badminton
//! @data
//! 0.07,0.07,-0.90,…:0.39,…:…:Standing
//! ```
//!
//! One series a line: channels separated by `:`, the values of a channel by `,`, the class label (or,
//! with `@targetLabel true`, the real regression target) last. Tags are case-insensitive. Each series
//! may have its own length (`@equalLength false`); all channels of one series have the same length.

use std::path::Path;

use super::{as_text, embedded_name, maybe_gunzip, read_file, DataError, SequenceSet, TrainTest};

const BASIC_MOTIONS_TRAIN: &[u8] = include_bytes!("../../data/uea/BasicMotions_TRAIN.ts.gz");
const BASIC_MOTIONS_TEST: &[u8] = include_bytes!("../../data/uea/BasicMotions_TEST.ts.gz");
const JAPANESE_VOWELS_TRAIN: &[u8] = include_bytes!("../../data/uea/JapaneseVowels_TRAIN.ts.gz");
const JAPANESE_VOWELS_TEST: &[u8] = include_bytes!("../../data/uea/JapaneseVowels_TEST.ts.gz");

/// What to do with missing values (`?`, or `NaN`) in a `.ts` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingValues {
    /// Reject the file with an error naming the line, channel and value.
    #[default]
    Reject,
    /// Read each missing value as 0.0 (it still counts in the series length).
    Zero,
}

/// Loads the embedded UEA BasicMotions set: 40 training and 40 test series of 100 steps × 6
/// features (3-axis accelerometer then 3-axis gyroscope of a smart watch at 10 Hz, raw units); 4
/// classes `Standing`, `Running`, `Walking`, `Badminton` (labels 0..3 in that order).
///
/// Source: UEA/UCR time-series classification archive, the copy in sktime 1.2.0
/// (`sktime/datasets/data/BasicMotions/`).
///
/// # Errors
/// [`DataError`] if an embedded file is corrupt (it is checked by the tests).
pub fn load_basic_motions() -> Result<TrainTest, DataError> {
    load_pair(BASIC_MOTIONS_TRAIN, "uea/BasicMotions_TRAIN.ts.gz", BASIC_MOTIONS_TEST, "uea/BasicMotions_TEST.ts.gz")
}

/// Loads the embedded UEA JapaneseVowels set: 270 training and 370 test series of 7..29 steps
/// (variable length, zero-padded to the longest of each part; see [`SequenceSet::lengths`]) × 12
/// features (LPC cepstrum coefficients of an utterance of /ae/); 9 classes, the speakers `"1"`..`"9"`
/// (labels 0..8).
///
/// Source: M. Kudo, J. Toyama, M. Shimbo (1999), UCI Machine Learning Repository (CC BY 4.0), through
/// the UEA archive, the copy in sktime 1.2.0 (`sktime/datasets/data/JapaneseVowels/`).
///
/// # Errors
/// [`DataError`] if an embedded file is corrupt (it is checked by the tests).
pub fn load_japanese_vowels() -> Result<TrainTest, DataError> {
    load_pair(
        JAPANESE_VOWELS_TRAIN,
        "uea/JapaneseVowels_TRAIN.ts.gz",
        JAPANESE_VOWELS_TEST,
        "uea/JapaneseVowels_TEST.ts.gz",
    )
}

fn load_pair(train: &[u8], train_path: &str, test: &[u8], test_path: &str) -> Result<TrainTest, DataError> {
    let train = parse_ts(train, &embedded_name(train_path), MissingValues::Reject)?;
    let test = parse_ts(test, &embedded_name(test_path), MissingValues::Reject)?;
    if train.class_names != test.class_names || train.features != test.features {
        return Err(DataError::invalid(
            &embedded_name(test_path),
            format!("classes or channels differ from {}", embedded_name(train_path)),
        ));
    }
    Ok(TrainTest { train, test })
}

/// Reads a `.ts` file of the UEA/UCR archives (gzipped or not, detected by the gzip magic bytes); see
/// [`parse_ts`].
///
/// # Errors
/// [`DataError::Io`] if the file cannot be read, and as [`parse_ts`].
pub fn read_ts(path: &Path, missing: MissingValues) -> Result<SequenceSet, DataError> {
    parse_ts(&read_file(path)?, &path.display().to_string(), missing)
}

/// Parses the contents of a `.ts` file (gzipped or not); `name` names it in errors.
///
/// The set is named after `@problemName` (else `name`). Each channel is a feature; `steps` is the
/// longest series, shorter ones are zero-padded and keep their length in [`SequenceSet::lengths`].
/// With `@classLabel true <labels…>` the labels map to `0..classes` in the order listed there (and
/// become the class names); with `@targetLabel true` the last field is a real regression target.
/// Values are kept as written (no normalisation).
///
/// # Errors
/// [`DataError::Parse`] naming the 1-based line (and the channel and value, where it applies) for: an
/// unknown or malformed header tag, a tag after `@data`, data before `@data`, a wrong number of
/// channels (other than `@dimensions`, or than the first series), channels of one series of
/// different lengths, a length other than `@seriesLength` when `@equalLength true`, a value that is
/// not a finite number, a missing value (`?` or `NaN`) under [`MissingValues::Reject`], a class label
/// not listed in `@classLabel`. [`DataError::Invalid`] if there is no `@data` section or no series,
/// for time-stamped files (`@timeStamps true`, not supported), or for files with neither class labels
/// nor targets.
pub fn parse_ts(bytes: &[u8], name: &str, missing: MissingValues) -> Result<SequenceSet, DataError> {
    let bytes = maybe_gunzip(bytes, name)?;
    let text = as_text(&bytes, name)?;
    let mut header = Header::default();
    let mut data_line = None;
    let mut series: Vec<Series> = Vec::new();
    for (line_idx, raw) in text.lines().enumerate() {
        let line_no = line_idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            if data_line.is_some() {
                return Err(DataError::line(name, line_no, format!("header line `{}` after `@data`", short(line))));
            }
            if header.parse_tag(line, name, line_no)? {
                header.check(name, line_no)?;
                data_line = Some(line_no);
            }
            continue;
        }
        if data_line.is_none() {
            return Err(DataError::line(
                name,
                line_no,
                "data before the `@data` line (or a header line not starting with `@`)",
            ));
        }
        series.push(header.parse_series(line, name, line_no, missing, series.first().map(|s| s.channels))?);
    }
    let Some(data_line) = data_line else {
        return Err(DataError::invalid(name, "no `@data` line: not a .ts file"));
    };
    if series.is_empty() {
        return Err(DataError::invalid(name, format!("no series after `@data` (line {data_line})")));
    }
    let steps = series.iter().map(|s| s.length).max().unwrap_or(0);
    let features = series[0].channels;
    let mut values = vec![0.0f32; series.len() * steps * features];
    for (index, one) in series.iter().enumerate() {
        let start = index * steps * features;
        values[start..start + one.values.len()].copy_from_slice(&one.values);
    }
    let lengths = series.iter().map(|s| s.length).collect();
    let (class_names, labels, targets) = match &header.class_labels {
        Some(Some(class_names)) => (class_names.clone(), series.iter().map(|s| s.label).collect(), Vec::new()),
        _ => (Vec::new(), Vec::new(), series.iter().map(|s| s.target).collect()),
    };
    Ok(SequenceSet {
        name: header.problem_name.clone().unwrap_or_else(|| name.to_string()),
        steps,
        features,
        classes: class_names.len(),
        class_names,
        values,
        lengths,
        labels,
        targets,
    })
}

/// The header fields of a `.ts` file that the parser uses.
#[derive(Debug, Default)]
struct Header {
    problem_name: Option<String>,
    time_stamps: Option<bool>,
    missing: Option<bool>,
    univariate: Option<bool>,
    dimensions: Option<usize>,
    equal_length: Option<bool>,
    series_length: Option<usize>,
    /// `Some(Some(labels))` for `@classLabel true …`, `Some(None)` for `@classLabel false`.
    class_labels: Option<Option<Vec<String>>>,
    target_label: Option<bool>,
}

/// One parsed data line.
struct Series {
    channels: usize,
    length: usize,
    /// `length × channels`, step-major.
    values: Vec<f32>,
    label: u32,
    target: f32,
}

/// At most 60 characters of `text`, for messages.
fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

impl Header {
    /// Reads one `@tag …` line; true for `@data`.
    fn parse_tag(&mut self, line: &str, name: &str, line_no: usize) -> Result<bool, DataError> {
        let mut words = line.split_whitespace();
        let tag = words.next().unwrap_or("@").to_ascii_lowercase();
        let rest: Vec<&str> = words.collect();
        let bad = |message: String| DataError::line(name, line_no, message);
        let one = |what: &str| -> Result<&str, DataError> {
            match rest.as_slice() {
                [value] => Ok(value),
                _ => Err(bad(format!("`{tag}` takes one {what}, found `{}`", short(&rest.join(" "))))),
            }
        };
        let boolean = |value: &str| -> Result<bool, DataError> {
            match value.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(bad(format!("`{tag}` takes true or false, found `{value}`"))),
            }
        };
        let count = |value: &str| -> Result<usize, DataError> {
            value
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| bad(format!("`{tag}` takes a positive whole number, found `{value}`")))
        };
        let seen = match tag.as_str() {
            "@problemname" => self.problem_name.replace(rest.join(" ")).is_some(),
            "@timestamps" => self.time_stamps.replace(boolean(one("true or false")?)?).is_some(),
            "@missing" => self.missing.replace(boolean(one("true or false")?)?).is_some(),
            "@univariate" => self.univariate.replace(boolean(one("true or false")?)?).is_some(),
            "@dimension" | "@dimensions" => self.dimensions.replace(count(one("number")?)?).is_some(),
            "@equallength" => self.equal_length.replace(boolean(one("true or false")?)?).is_some(),
            "@serieslength" => self.series_length.replace(count(one("number")?)?).is_some(),
            "@targetlabel" => self.target_label.replace(boolean(one("true or false")?)?).is_some(),
            "@classlabel" => {
                let Some((flag, labels)) = rest.split_first() else {
                    return Err(bad("`@classlabel` takes true and the labels, or false".into()));
                };
                let labels = if boolean(flag)? {
                    if labels.is_empty() {
                        return Err(bad("`@classLabel true` lists no class label".into()));
                    }
                    if let Some(i) = (1..labels.len()).find(|&i| labels[..i].contains(&labels[i])) {
                        return Err(bad(format!("class label `{}` is listed twice", labels[i])));
                    }
                    Some(labels.iter().map(|s| s.to_string()).collect())
                } else if labels.is_empty() {
                    None
                } else {
                    return Err(bad("`@classLabel false` takes no labels".into()));
                };
                self.class_labels.replace(labels).is_some()
            }
            "@data" => {
                if !rest.is_empty() {
                    return Err(bad("`@data` takes nothing after it".into()));
                }
                return Ok(true);
            }
            _ => {
                return Err(bad(format!(
                    "unknown header tag `{}` (known: @problemName, @timeStamps, @missing, @univariate, \
                     @dimensions, @equalLength, @seriesLength, @classLabel, @targetLabel, @data)",
                    short(&tag)
                )))
            }
        };
        if seen {
            return Err(bad(format!("`{tag}` given twice")));
        }
        Ok(false)
    }

    /// Checks the header as a whole at the `@data` line.
    fn check(&self, name: &str, line_no: usize) -> Result<(), DataError> {
        if self.time_stamps == Some(true) {
            return Err(DataError::invalid(name, "time-stamped series (`@timeStamps true`) are not supported"));
        }
        let classes = matches!(self.class_labels, Some(Some(_)));
        let targets = self.target_label == Some(true);
        if classes && targets {
            return Err(DataError::line(
                name,
                line_no,
                "both `@classLabel true` and `@targetLabel true`; expected one",
            ));
        }
        if !classes && !targets {
            return Err(DataError::invalid(
                name,
                "neither `@classLabel true <labels…>` nor `@targetLabel true` before `@data`: series without labels or targets cannot be learned",
            ));
        }
        if let (Some(true), Some(d)) = (self.univariate, self.dimensions) {
            if d != 1 {
                return Err(DataError::line(name, line_no, format!("`@univariate true` with `@dimensions {d}`")));
            }
        }
        Ok(())
    }

    /// The number of channels every series must have, if the header fixes it.
    fn channels(&self) -> Option<usize> {
        self.dimensions.or(if self.univariate == Some(true) { Some(1) } else { None })
    }

    /// Parses one data line; `first_channels` is the first series' channel count.
    fn parse_series(
        &self,
        line: &str,
        name: &str,
        line_no: usize,
        missing: MissingValues,
        first_channels: Option<usize>,
    ) -> Result<Series, DataError> {
        let fields: Vec<&str> = line.split(':').collect();
        let Some((last, channel_fields)) = fields.split_last().filter(|(_, c)| !c.is_empty()) else {
            return Err(DataError::line(
                name,
                line_no,
                "expected channels separated by `:` then the label after a last `:`; found no `:`",
            ));
        };
        let expected = self.channels().or(first_channels);
        if let Some(expected) = expected.filter(|&e| e != channel_fields.len()) {
            let source = if self.channels().is_some() { "the header" } else { "the first series" };
            return Err(DataError::line(
                name,
                line_no,
                format!(
                    "{} channels, {source} says {expected} (channels separated by `:`, the label last)",
                    channel_fields.len()
                ),
            ));
        }
        let channels = channel_fields.len();
        let mut length = None;
        let mut channel_major = Vec::new();
        for (channel_idx, channel_text) in channel_fields.iter().enumerate() {
            let channel = channel_idx + 1;
            let mut count = 0;
            for (value_idx, value_text) in channel_text.split(',').enumerate() {
                let at = || format!("channel {channel}, value {}", value_idx + 1);
                let value_text = value_text.trim();
                let value = if value_text == "?" || value_text.eq_ignore_ascii_case("nan") {
                    match missing {
                        MissingValues::Zero => 0.0,
                        MissingValues::Reject => {
                            return Err(DataError::field(
                                name,
                                line_no,
                                at(),
                                format!("missing value `{value_text}` (read with MissingValues::Zero to take it as 0)"),
                            ))
                        }
                    }
                } else if value_text.is_empty() {
                    return Err(DataError::field(name, line_no, at(), "empty value (expected a number)"));
                } else if value_text.starts_with('(') {
                    return Err(DataError::field(name, line_no, at(), "time-stamped values `(t,v)` are not supported"));
                } else {
                    super::parse_f32(value_text, name, line_no, &at)?
                };
                channel_major.push(value);
                count += 1;
            }
            match length {
                None => length = Some(count),
                Some(first) if first != count => {
                    return Err(DataError::field(
                        name,
                        line_no,
                        format!("channel {channel}"),
                        format!(
                            "{count} values, channel 1 has {first} (all channels of a series have the same length)"
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let length = length.unwrap_or(0);
        if let (Some(true), Some(expected)) = (self.equal_length, self.series_length) {
            if length != expected {
                return Err(DataError::line(
                    name,
                    line_no,
                    format!("{length} values per channel, `@seriesLength` says {expected} (`@equalLength true`)"),
                ));
            }
        }
        let mut values = vec![0.0; length * channels];
        for (i, &value) in channel_major.iter().enumerate() {
            let (channel, step) = (i / length, i % length);
            values[step * channels + channel] = value;
        }
        let label_text = last.trim();
        let (mut label, mut target) = (0, 0.0);
        match &self.class_labels {
            Some(Some(labels)) => {
                label = labels.iter().position(|l| l == label_text).ok_or_else(|| {
                    DataError::field(
                        name,
                        line_no,
                        "class label",
                        format!("`{}` is not one of the `@classLabel` labels {}", short(label_text), labels.join(" ")),
                    )
                })? as u32;
            }
            _ => target = super::parse_f32(label_text, name, line_no, &|| "target".to_string())?,
        }
        Ok(Series { channels, length, values, label, target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sets_have_documented_shapes() {
        let basic = load_basic_motions().unwrap();
        for (set, n) in [(&basic.train, 40), (&basic.test, 40)] {
            set.check().unwrap();
            assert_eq!((set.len(), set.steps, set.features, set.classes), (n, 100, 6, 4));
            assert!(set.is_fixed_length());
            assert_eq!(set.class_names, ["Standing", "Running", "Walking", "Badminton"]);
            assert_eq!(set.name, "BasicMotions");
        }
        let vowels = load_japanese_vowels().unwrap();
        for (set, n) in [(&vowels.train, 270), (&vowels.test, 370)] {
            set.check().unwrap();
            assert_eq!((set.len(), set.features, set.classes), (n, 12, 9));
            assert!(set.lengths.iter().all(|l| (7..=29).contains(l)), "{:?}", set.lengths);
            assert_eq!(set.steps, *set.lengths.iter().max().unwrap());
            assert!(!set.is_fixed_length());
        }
    }
}
