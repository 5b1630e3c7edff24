//! Step-cost profiles: how long each operation of a flexible model's settings takes on one core of a
//! given machine — measured by `flexrnn profile`, or written by hand from timings taken on a board.
//! A stream with `cost: { profile: FILE }` draws each step's duration from its file (see
//! `engine`'s stream costs); this module is the file format only: parse, draw, write. It knows
//! nothing of models: settings are names.
//!
//! # The format (`profile.csv`)
//! ```text
//! # cpu: AMD EPYC                      (comment lines `# key: value`: the machine description, kept)
//! # isa: avx2
//! setting,operation,repetitions,mean_s,p50_s,p90_s,p99_s,samples_s
//! gru-16,update,1000,3.1e-7,3e-7,3.4e-7,5.2e-7,301e-9 298e-9 …
//! gru-16,map:gru-32,1000,…
//! gru-16,readout,1000,…
//! ```
//! - One row per (setting, operation). `operation` is `update` (a step that reads its input and
//!   updates the state), `skip` (a step whose gate skips it: Skip-RNN, SkipW), `window` (SkipW's gate
//!   at a window's first step), `readout` (the logits at a sequence's end), or `map:<to>` (carrying
//!   the state from `setting` to setting `<to>` when a stream changes setting; model banks).
//! - Times in seconds on one core; `repetitions` ≥ 1 is how many were measured; `p50_s ≤ p90_s ≤
//!   p99_s`. Columns may come in any order; `samples_s` is optional.
//! - `samples_s`: measured durations, separated by spaces: all of them, or (`flexrnn profile
//!   --samples N`) `N` order statistics at evenly spaced ranks of the fastest 99 % (`--trim 0.01`: the
//!   slowest 1 % are interruptions, not steps; [`ProfileRow::keeping_samples`]). A
//!   stream draws a step's duration uniformly among them (the empirical distribution). A row without
//!   samples costs exactly `mean_s` every time.

use std::path::PathBuf;
use std::sync::Arc;

use rand::Rng;

use super::files::SamplesFileError;
use super::ProcessRng;
use crate::input::csv_rows;

/// The columns of a profile, in the order `flexrnn profile` writes them (`samples_s` optional).
pub const PROFILE_COLUMNS: [&str; 8] =
    ["setting", "operation", "repetitions", "mean_s", "p50_s", "p90_s", "p99_s", "samples_s"];

/// What a row of a profile times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// A step that reads its input and updates the state.
    Update,
    /// A step whose gate skips it (the state is kept or accumulated).
    Skip,
    /// SkipW's window gate, run at a window's first step.
    Window,
    /// The readout (logits) at a sequence's end.
    Readout,
    /// Carrying the state from the row's setting to setting `to` (a model bank's maps).
    Map {
        /// The setting switched to.
        to: String,
    },
}

impl Operation {
    /// The operation named `text` (`update`, `skip`, `window`, `readout`, `map:<to>`), or `None`.
    pub fn parse(text: &str) -> Option<Operation> {
        match text {
            "update" => Some(Operation::Update),
            "skip" => Some(Operation::Skip),
            "window" => Some(Operation::Window),
            "readout" => Some(Operation::Readout),
            _ => match text.strip_prefix("map:") {
                Some(to) if !to.is_empty() => Some(Operation::Map { to: to.to_string() }),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Update => f.write_str("update"),
            Operation::Skip => f.write_str("skip"),
            Operation::Window => f.write_str("window"),
            Operation::Readout => f.write_str("readout"),
            Operation::Map { to } => write!(f, "map:{to}"),
        }
    }
}

/// One row: the measured durations of one operation of one setting.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// The setting's name, as the model folder names it (e.g. `gru-64`, `thr-64-1e-3@thr=0.5`).
    pub setting: String,
    /// What was timed.
    pub operation: Operation,
    /// How many durations were measured (≥ 1).
    pub repetitions: u64,
    /// Mean duration of all repetitions, seconds (≥ 0); what policies expect and streams draw is
    /// [`Self::drawn_mean_s`].
    pub mean_s: f64,
    /// Median, seconds.
    pub p50_s: f64,
    /// 90th percentile, seconds.
    pub p90_s: f64,
    /// 99th percentile, seconds.
    pub p99_s: f64,
    /// The measured durations, seconds (empty: the row costs `mean_s` every time).
    pub samples: Arc<[f64]>,
}

impl ProfileRow {
    /// A duration drawn from the row, seconds: one of its samples, each equally likely (one draw of
    /// `rng`), or `mean_s` (no draw) for a row without samples. Allocates nothing.
    pub fn draw(&self, rng: &mut ProcessRng) -> f64 {
        match self.samples.len() {
            0 => self.mean_s,
            n => self.samples[rng.random_range(0..n)],
        }
    }

    /// The row of durations `samples` (seconds, not empty): its mean and its p50/p90/p99 by the
    /// nearest-rank rule (the `⌈q·n⌉`-th smallest).
    pub fn from_samples(setting: &str, operation: Operation, samples: Vec<f64>) -> ProfileRow {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = |q: f64| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        ProfileRow {
            setting: setting.to_string(),
            operation,
            repetitions: n as u64,
            mean_s: samples.iter().sum::<f64>() / n as f64,
            p50_s: rank(0.5),
            p90_s: rank(0.9),
            p99_s: rank(0.99),
            samples: samples.into(),
        }
    }
}

impl ProfileRow {
    /// The mean duration a stream drawing from this row gets, seconds: the mean of its samples, or
    /// `mean_s` for a row without samples. (With kept order statistics it leaves out the rarest
    /// durations, which `mean_s` includes.)
    pub fn drawn_mean_s(&self) -> f64 {
        match self.samples.len() {
            0 => self.mean_s,
            n => self.samples.iter().sum::<f64>() / n as f64,
        }
    }

    /// The row with at most `keep` (≥ 1) of its samples, after leaving out the slowest share `trim`
    /// (`0 ≤ trim < 1`; `⌊trim·n⌋` of the `n` samples) as interruptions — pre-emption by the OS, page
    /// faults — which are not the step's cost but which a stream would otherwise draw as a step (one
    /// 8 ms sample among 200 of 1 µs makes one step in 200 last 8 ms). Of the `m = n − ⌊trim·n⌋`
    /// fastest: if `m > keep`, the order statistics at evenly spaced ranks `⌊(i + ½)·m / keep⌋`, `i =
    /// 0..keep` (a fixed set of quantiles, so that drawing among them follows the measured
    /// distribution to within `1/keep` in probability); else all `m`, fastest first. With nothing to
    /// leave out and `n ≤ keep` the row is returned as it is. The summary (`repetitions`, mean,
    /// quantiles) stays that of all samples.
    pub fn keeping_samples(mut self, keep: usize, trim: f64) -> ProfileRow {
        let n = self.samples.len();
        let dropped = if trim > 0.0 && trim < 1.0 { (trim * n as f64).floor() as usize } else { 0 };
        if dropped == 0 && (keep == 0 || n <= keep) {
            return self;
        }
        let mut sorted = self.samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.truncate(n - dropped);
        let m = sorted.len();
        self.samples = if keep >= 1 && m > keep {
            (0..keep).map(|i| sorted[((2 * i + 1) * m) / (2 * keep)]).collect()
        } else {
            sorted.into()
        };
        self
    }
}

/// A parsed profile: the machine description and the rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepProfile {
    /// The `# key: value` comment lines, in file order (e.g. `cpu`, `isa`, `flexrnn`, `command`).
    pub notes: Vec<(String, String)>,
    /// The rows, in file order; (setting, operation) pairs are unique.
    pub rows: Vec<ProfileRow>,
}

impl StepProfile {
    /// Index into [`Self::rows`] of the row of `setting` and `operation`, if the profile has one.
    pub fn find(&self, setting: &str, operation: &Operation) -> Option<usize> {
        self.rows.iter().position(|row| row.setting == setting && &row.operation == operation)
    }

    /// The profile as CSV bytes (the module doc's format): the notes as `# key: value` lines, the
    /// header, one row per [`ProfileRow`] with its samples in seconds (`{n}e-9` for whole
    /// nanoseconds, else Rust's shortest round-trip form), through the `csv` crate.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (key, value) in &self.notes {
            bytes.extend_from_slice(format!("# {key}: {value}\n").as_bytes());
        }
        let mut writer = csv::Writer::from_writer(bytes);
        let written = (|| -> csv::Result<()> {
            writer.write_record(PROFILE_COLUMNS)?;
            for row in &self.rows {
                let samples: Vec<String> = row.samples.iter().map(|&s| seconds(s)).collect();
                writer.write_record([
                    row.setting.clone(),
                    row.operation.to_string(),
                    row.repetitions.to_string(),
                    seconds(row.mean_s),
                    seconds(row.p50_s),
                    seconds(row.p90_s),
                    seconds(row.p99_s),
                    samples.join(" "),
                ])?;
            }
            writer.flush()?;
            Ok(())
        })();
        written.expect("writing CSV to memory cannot fail");
        writer.into_inner().expect("writing CSV to memory cannot fail")
    }
}

/// `s` seconds as text: `{n}e-9` when `s` is the `f64` nearest to a whole number `n` of nanoseconds
/// (as measured), else Rust's shortest text that reads back to the same `f64`; either reads back exactly.
fn seconds(s: f64) -> String {
    // `n / 1e9` is the correctly rounded value of n·10⁻⁹, as is the parse of `{n}e-9`.
    let nanos = (s * 1e9).round();
    if nanos.abs() < 1e15 && nanos / 1e9 == s {
        format!("{}e-9", nanos as i64)
    } else {
        format!("{s:e}")
    }
}

/// A stream's cost model (YAML `cost:`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum StepCost {
    /// `cost: flops` (the default): a step's work is its FLOPs.
    #[default]
    Flops,
    /// `cost: { profile: FILE, scale: s }`: a step's duration on a free core is drawn from the
    /// profile, times `scale`; its work is that duration × the core speed.
    Profile {
        /// The profile's file as written (relative to the scenario's folder).
        file: PathBuf,
        /// Factor on every drawn duration (> 0; 1: the profiled machine's speed).
        scale: f64,
        /// The parsed profile (empty until the scenario's validation reads the file).
        profile: Arc<StepProfile>,
    },
}

/// A value for a message, cut at 40 characters.
fn shown(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

/// Parses a profile (the module doc's format). `file_label` names the file in errors. Pure: the caller
/// reads the file.
///
/// # Errors
/// [`SamplesFileError`] with the line and the field: a missing or unknown column, a row with a
/// missing field, an unknown operation, a number that is not a finite non-negative number (or
/// `repetitions` not a whole number ≥ 1), quantiles out of order, a (setting, operation) given twice,
/// or no row at all.
pub fn parse_profile_csv(text: &str, file_label: &str) -> Result<StepProfile, SamplesFileError> {
    let error = |line: Option<usize>, message: String| SamplesFileError { file: file_label.to_string(), line, message };
    let required = &PROFILE_COLUMNS[..7];
    let expected = format!(
        "a profile is CSV with the header `{}` (`samples_s` optional), one row per setting and operation",
        PROFILE_COLUMNS.join(",")
    );
    let notes = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .filter_map(|note| note.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .filter(|(key, _)| !key.is_empty() && !key.contains(' '))
        .collect();
    let mut rows = csv_rows(text, true);
    let header = match rows.next() {
        None => return Err(error(None, format!("empty file; {expected}"))),
        Some(row) => row.map_err(|(line, message)| error(line, message))?,
    };
    let names: Vec<String> = header.fields.iter().map(|name| name.trim_matches('"').trim().to_string()).collect();
    if let Some(unknown) = names.iter().find(|name| !PROFILE_COLUMNS.contains(&name.as_str())) {
        return Err(error(
            Some(header.line),
            format!("unknown column `{}` in the header; allowed: {}", shown(unknown), PROFILE_COLUMNS.join(", ")),
        ));
    }
    for column in PROFILE_COLUMNS {
        if names.iter().filter(|name| *name == column).count() > 1 {
            return Err(error(Some(header.line), format!("column `{column}` is given twice")));
        }
    }
    if let Some(missing) = required.iter().find(|column| !names.iter().any(|name| name == *column)) {
        return Err(error(Some(header.line), format!("the header lacks column `{missing}`; {expected}")));
    }
    let column = |name: &str| names.iter().position(|n| n == name);
    let mut profile = StepProfile { notes, rows: Vec::new() };
    for row in rows {
        let row = row.map_err(|(line, message)| error(line, message))?;
        let at = Some(row.line);
        if row.fields.len() != names.len() {
            return Err(error(
                at,
                format!("the row has {} field(s), the header {}; {expected}", row.fields.len(), names.len()),
            ));
        }
        let field = |name: &str| column(name).map(|index| &row.fields[index]);
        let text_of = |name: &str| field(name).expect("required columns are present");
        let number = |name: &str| -> Result<f64, SamplesFileError> {
            let value = text_of(name);
            match value.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(error(
                    at,
                    format!("field `{name}`: `{}` is not a finite non-negative number of seconds", shown(value)),
                )),
            }
        };
        let setting = text_of("setting").to_string();
        if setting.is_empty() {
            return Err(error(at, "field `setting` is empty; give the setting's name, e.g. `gru-64`".into()));
        }
        let operation = Operation::parse(text_of("operation")).ok_or_else(|| {
            error(
                at,
                format!(
                    "field `operation`: `{}` is not an operation; allowed: update, skip, window, readout, map:<setting>",
                    shown(text_of("operation"))
                ),
            )
        })?;
        let repetitions = match text_of("repetitions").parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(error(
                    at,
                    format!("field `repetitions`: `{}` is not a whole number ≥ 1", shown(text_of("repetitions"))),
                ))
            }
        };
        let (mean_s, p50_s, p90_s, p99_s) = (number("mean_s")?, number("p50_s")?, number("p90_s")?, number("p99_s")?);
        if !(p50_s <= p90_s && p90_s <= p99_s) {
            return Err(error(
                at,
                format!("fields `p50_s` ≤ `p90_s` ≤ `p99_s` must hold, got {p50_s}, {p90_s}, {p99_s}"),
            ));
        }
        let mut samples = Vec::new();
        for (index, value) in field("samples_s").map(|s| s.split_whitespace()).into_iter().flatten().enumerate() {
            match value.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => samples.push(v),
                _ => {
                    return Err(error(
                        at,
                        format!(
                            "field `samples_s`, sample {}: `{}` is not a finite non-negative number of seconds",
                            index + 1,
                            shown(value)
                        ),
                    ))
                }
            }
        }
        if profile.find(&setting, &operation).is_some() {
            return Err(error(at, format!("setting `{setting}`, operation `{operation}` is given twice")));
        }
        profile.rows.push(ProfileRow {
            setting,
            operation,
            repetitions,
            mean_s,
            p50_s,
            p90_s,
            p99_s,
            samples: samples.into(),
        });
    }
    if profile.rows.is_empty() {
        return Err(error(None, format!("no rows; {expected}")));
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str =
        "# cpu: Test CPU\n# isa: avx2\nsetting,operation,repetitions,mean_s,p50_s,p90_s,p99_s,samples_s\n\
gru-16,update,3,2e-6,2e-6,3e-6,3e-6,1e-6 2e-6 3e-6\ngru-16,map:gru-32,1,5e-7,5e-7,5e-7,5e-7,\n";

    #[test]
    fn a_profile_reads_its_rows_and_notes_and_writes_back_the_same() {
        let profile = parse_profile_csv(SMALL, "p.csv").unwrap();
        assert_eq!(profile.notes, [("cpu".into(), "Test CPU".into()), ("isa".into(), "avx2".into())]);
        assert_eq!(profile.rows.len(), 2);
        assert_eq!(profile.rows[0].samples.as_ref(), [1e-6, 2e-6, 3e-6]);
        assert_eq!(profile.rows[1].operation, Operation::Map { to: "gru-32".into() });
        assert!(profile.rows[1].samples.is_empty());
        assert_eq!(profile.find("gru-16", &Operation::Update), Some(0));
        assert_eq!(profile.find("gru-32", &Operation::Update), None);
        let again = parse_profile_csv(std::str::from_utf8(&profile.to_csv()).unwrap(), "again").unwrap();
        assert_eq!(again, profile);
    }

    #[test]
    fn quantiles_are_nearest_rank_and_a_row_without_samples_costs_its_mean() {
        let row = ProfileRow::from_samples("s", Operation::Update, (1..=100).rev().map(|k| k as f64).collect());
        // Mean of 1..100 = 50.5; the ⌈q·100⌉-th smallest is q·100.
        assert_eq!((row.mean_s, row.p50_s, row.p90_s, row.p99_s, row.repetitions), (50.5, 50.0, 90.0, 99.0, 100));
        let fixed = ProfileRow { samples: Arc::from([]), mean_s: 7e-6, ..row.clone() };
        let mut rng = crate::workload::process_rng(1, "x");
        assert_eq!(fixed.draw(&mut rng), 7e-6);
        assert_eq!((fixed.drawn_mean_s(), row.drawn_mean_s()), (7e-6, 50.5));
        // The kept order statistics of 1..=1000 (ranks 125, 375, 625, 875, 0-based): their mean.
        let wide = ProfileRow::from_samples("s", Operation::Update, (1..=1000).map(|k| k as f64).collect());
        assert_eq!(wide.keeping_samples(4, 0.0).drawn_mean_s(), (126.0 + 376.0 + 626.0 + 876.0) / 4.0);
        // Draws are the samples, each about equally often.
        let mut counts = [0u32; 100];
        for _ in 0..100_000 {
            counts[row.draw(&mut rng) as usize - 1] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }

    #[test]
    fn bad_profiles_name_the_line_and_the_field() {
        let header = "setting,operation,repetitions,mean_s,p50_s,p90_s,p99_s\n";
        let err = |text: &str| parse_profile_csv(text, "board.csv").unwrap_err().to_string();
        assert_eq!(
            err(&format!("{header}gru-16,update,10,1e-6,1e-6,1e-6,1e-6\ngru-32,update,10,abc,1e-6,1e-6,1e-6\n")),
            "board.csv line 3: field `mean_s`: `abc` is not a finite non-negative number of seconds"
        );
        assert!(err(&format!("# note\n\n{header}gru-16,update,0,1,1,1,1\n"))
            .starts_with("board.csv line 4: field `repetitions`: `0` is not a whole number ≥ 1"));
        assert!(err(&format!("{header}gru-16,upd,1,1,1,1,1\n")).contains("line 2: field `operation`: `upd`"));
        assert!(err(&format!("{header}gru-16,update,1,1,2,1,3\n")).contains("line 2: fields `p50_s` ≤ `p90_s`"));
        assert!(err(&format!("{header}gru-16,update,1,1,1,1,1\ngru-16,update,1,1,1,1,1\n")).contains("line 3"));
        assert!(err("setting,operation,repetitions,mean_s,p50_s,p90_s\n").contains("lacks column `p99_s`"));
        assert!(err("setting,operation,repetitions,mean_s,p50_s,p90_s,p99_s,cost\n").contains("unknown column `cost`"));
        assert!(err(header).contains("no rows"));
        assert!(err(&format!("{header}gru-16,update,1,1,1,1\n")).contains("line 2: the row has 6 field(s)"));
        let samples = "setting,operation,repetitions,mean_s,p50_s,p90_s,p99_s,samples_s\ng,skip,2,1,1,1,1,1 -2\n";
        assert!(err(samples).contains("line 2: field `samples_s`, sample 2: `-2`"));
    }

    #[test]
    fn kept_samples_are_evenly_spaced_order_statistics() {
        let row = ProfileRow::from_samples("s", Operation::Update, (0..1000).rev().map(|k| k as f64).collect());
        let kept = row.clone().keeping_samples(4, 0.0);
        // Ranks ⌊(2i + 1)·1000 / 8⌋ = 125, 375, 625, 875; the summary is that of all 1000.
        assert_eq!(kept.samples.as_ref(), [125.0, 375.0, 625.0, 875.0]);
        assert_eq!((kept.repetitions, kept.mean_s, kept.p99_s), (1000, 499.5, 989.0));
        assert_eq!(row.clone().keeping_samples(1000, 0.0), row);
        // Trimming the slowest 1 %: 990 samples 0..=989 remain; ranks ⌊(2i + 1)·990 / 8⌋ = 123, 371,
        // 618, 866. The summary is still that of all 1000.
        let trimmed = row.clone().keeping_samples(4, 0.01);
        assert_eq!(trimmed.samples.as_ref(), [123.0, 371.0, 618.0, 866.0]);
        assert_eq!((trimmed.repetitions, trimmed.mean_s, trimmed.p99_s), (1000, 499.5, 989.0));
        // Fewer samples than kept: the 200 − 2 fastest, sorted; a pre-emption outlier is gone.
        let mut spiky: Vec<f64> = (0..199).map(|k| 1e-6 + k as f64 * 1e-9).collect();
        spiky.insert(57, 8e-3);
        let spiky = ProfileRow::from_samples("s", Operation::Update, spiky);
        let kept = spiky.clone().keeping_samples(1000, 0.01);
        assert_eq!(kept.samples.len(), 198);
        assert_eq!(kept.samples.iter().copied().fold(0.0, f64::max), 1e-6 + 197.0 * 1e-9);
        assert!(kept.drawn_mean_s() < 1.2e-6 && spiky.mean_s > 40e-6, "{} {}", kept.drawn_mean_s(), spiky.mean_s);
        // trim 0 keeps every one of them, in measured order.
        assert_eq!(spiky.clone().keeping_samples(1000, 0.0), spiky);
    }

    #[test]
    fn seconds_are_written_exactly() {
        assert_eq!(seconds(1234e-9), "1234e-9");
        assert_eq!(seconds(1234.0 / 1e9), "1234e-9");
        assert_eq!(seconds(0.0), "0e-9");
        assert_eq!(seconds(1.5e-10), "1.5e-10");
        for n in [1u64, 7, 190, 3716, 123_456_789] {
            let s = n as f64 / 1e9;
            assert_eq!(seconds(s).parse::<f64>().unwrap(), s, "{n}");
        }
    }
}
