//! Files a workload reads: the samples of an empirical work distribution and the two kinds of trace
//! (jobs, CPU utilisation). Pure parsers of text the caller has read (through [`crate::input`]); the
//! CSV syntax is the `csv` crate's, the meaning of each row is checked here.

use super::UtilisationTrace;
use crate::input::{csv_rows, CsvRow};
use crate::sim::SimTime;

/// A file of work samples or a trace that cannot be used: the file (as the user named it), the 1-based
/// line where known, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct SamplesFileError {
    /// The file, as named in messages.
    pub file: String,
    /// 1-based line, where the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The latest time a trace may name once scaled: 2^62 ns (about 146 years), the longest duration a
/// scenario may have.
pub const TRACE_MAX_TIME: SimTime = SimTime(1 << 62);

/// The header of a jobs trace.
pub const JOBS_TRACE_HEADER: &str = "release_s,work_flop";

/// The header of a utilisation trace.
pub const UTILISATION_TRACE_HEADER: &str = "time_s,utilisation";

/// One row of a jobs trace: a job released at `release` with `work`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceJob {
    /// Release time (the file's `release_s` × the process's `time_scale`, rounded to the nanosecond).
    pub release: SimTime,
    /// Work, FLOPs (> 0).
    pub work: f64,
}

/// One sample of a utilisation trace: from `start` until the next sample's start, the process asks for
/// `utilisation` of the node's whole capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UtilisationSample {
    /// Start of the sample's interval (the file's `time_s` × `time_scale`, rounded to the nanosecond).
    pub start: SimTime,
    /// Share of the whole node (all cores), in [0, 1].
    pub utilisation: f64,
}

/// A value for a message, cut at 40 characters.
fn shown(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

/// Parses the samples of an empirical work distribution: one number of FLOPs per line (e.g. `2.5e6`),
/// blank lines ignored, optionally a header first (a field starting with a letter or `_`, quoted or
/// not, such as `work_flop` or `"flops"`). `file_label` names the file in errors. Pure: the caller
/// reads the file.
///
/// # Errors
/// [`SamplesFileError`] with the line of a value that is not a number, is NaN, infinite or negative,
/// of a line with more than one field, or when there is no sample at all.
pub fn parse_empirical_csv(text: &str, file_label: &str) -> Result<Vec<f64>, SamplesFileError> {
    const EXPECTED: &str =
        "expected one non-negative number of FLOPs per line, e.g. `2.5e6` (a header line first is allowed)";
    let error = |line: Option<usize>, message: String| SamplesFileError { file: file_label.to_string(), line, message };
    let mut samples = Vec::new();
    for (index, row) in csv_rows(text, false).enumerate() {
        let row = row.map_err(|(line, message)| error(line, message))?;
        let at = Some(row.line);
        if row.fields.len() != 1 {
            return Err(error(
                at,
                format!("`{}` has {} fields, not 1; {EXPECTED}", shown(&row.text()), row.fields.len()),
            ));
        }
        let value = &row.fields[0];
        match value.parse::<f64>() {
            Ok(v) if v.is_nan() => return Err(error(at, format!("`{}` is not a number; {EXPECTED}", shown(value)))),
            Ok(v) if v.is_infinite() => {
                return Err(error(at, format!("`{}` is not a finite number; {EXPECTED}", shown(value))))
            }
            Ok(v) if v < 0.0 => return Err(error(at, format!("`{}` is negative; {EXPECTED}", shown(value)))),
            Ok(v) => samples.push(v),
            Err(_) if index == 0 && value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {}
            Err(_) => return Err(error(at, format!("`{}` is not a number; {EXPECTED}", shown(value)))),
        }
    }
    if samples.is_empty() {
        return Err(error(None, format!("no samples; {EXPECTED}")));
    }
    Ok(samples)
}

/// The rows of a trace file after its header, which must be `header`'s names (compared trimmed, in or
/// out of double quotes).
fn trace_rows<'t>(
    text: &'t str,
    header: &str,
    error: &dyn Fn(Option<usize>, String) -> SamplesFileError,
    expected: &str,
) -> Result<impl Iterator<Item = Result<CsvRow, (Option<usize>, String)>> + 't, SamplesFileError> {
    let mut rows = csv_rows(text, true);
    let Some(first) = rows.next() else {
        return Err(error(None, format!("empty file; {expected}")));
    };
    let first = first.map_err(|(line, message)| error(line, message))?;
    if first.fields.iter().map(|name| name.trim_matches('"').trim()).ne(header.split(',')) {
        return Err(error(
            Some(first.line),
            format!("the header is `{}`, not `{header}`; {expected}", shown(&first.text())),
        ));
    }
    Ok(rows)
}

/// The two numbers of a trace row `a,b` (named `names` in messages), or the error to report at its line.
fn trace_row(row: &CsvRow, names: [&str; 2], expected: &str) -> Result<(f64, f64), String> {
    let [first, second] = [0, 1].map(|index| row.fields.get(index));
    let (Some(first), Some(second), 2) = (first, second, row.fields.len()) else {
        return Err(format!("`{}` has {} field(s), not 2; {expected}", shown(&row.text()), row.fields.len()));
    };
    let number = |name: &str, value: &str| match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{name} `{}` is not a finite number; {expected}", shown(value))),
        Err(_) => Err(format!("{name} `{}` is not a number; {expected}", shown(value))),
    };
    Ok((number(names[0], first)?, number(names[1], second)?))
}

/// A trace time in seconds scaled by `time_scale`, or the error to report.
fn trace_time(seconds: f64, time_scale: f64, name: &str, expected: &str) -> Result<SimTime, String> {
    let scaled = seconds * time_scale;
    if !(scaled.is_finite() && scaled <= TRACE_MAX_TIME.as_secs_f64()) {
        return Err(format!(
            "{name} {seconds} × time_scale {time_scale} is beyond the latest time that can be simulated ({} s, about 146 years); {expected}",
            TRACE_MAX_TIME.as_secs_f64()
        ));
    }
    Ok(SimTime::from_secs_f64(scaled))
}

/// Parses a jobs trace: a header `release_s,work_flop`, then one job per line, `release_s` (seconds,
/// ≥ 0, not before the previous row's; several jobs may share a time) and `work_flop` (FLOPs, > 0),
/// e.g. `0.25,2e6`. Blank lines and lines starting with `#` (comments) are ignored. Times are
/// multiplied by `time_scale` (> 0; 1 replays the trace as recorded) and rounded to the nanosecond.
/// `file_label` names the file in errors. Pure: the caller reads the file.
///
/// # Errors
/// [`SamplesFileError`] with the line of a missing or wrong header, a line without exactly two fields,
/// a value that is not a finite number, a negative or decreasing release time, a work that is not
/// positive, or a time beyond [`TRACE_MAX_TIME`] once scaled; without a line when there is no job.
pub fn parse_jobs_trace_csv(text: &str, file_label: &str, time_scale: f64) -> Result<Vec<TraceJob>, SamplesFileError> {
    const EXPECTED: &str = "expected the header `release_s,work_flop`, then one job per line: its release time in seconds (≥ 0, not before the previous row's) and its work in FLOPs (> 0), e.g. `0.25,2e6`; lines starting with `#` are comments";
    let error = |line: Option<usize>, message: String| SamplesFileError { file: file_label.to_string(), line, message };
    let mut jobs = Vec::new();
    let mut previous = 0.0;
    for row in trace_rows(text, JOBS_TRACE_HEADER, &error, EXPECTED)? {
        let row = row.map_err(|(line, message)| error(line, message))?;
        let at = |message: String| error(Some(row.line), message);
        let (release_s, work) = trace_row(&row, ["release_s", "work_flop"], EXPECTED).map_err(at)?;
        if release_s < 0.0 {
            return Err(at(format!("release_s `{release_s}` is negative; {EXPECTED}")));
        }
        if release_s < previous {
            return Err(at(format!("release_s `{release_s}` is before the previous row's ({previous}); {EXPECTED}")));
        }
        if work <= 0.0 {
            return Err(at(format!("work_flop `{work}` is not positive; {EXPECTED}")));
        }
        let release = trace_time(release_s, time_scale, "release_s", EXPECTED).map_err(at)?;
        previous = release_s;
        jobs.push(TraceJob { release, work });
    }
    if jobs.is_empty() {
        return Err(error(None, format!("no jobs; {EXPECTED}")));
    }
    Ok(jobs)
}

/// Parses a utilisation trace: a header `time_s,utilisation`, then one sample per line, `time_s`
/// (seconds, ≥ 0, increasing) and `utilisation` (share of the whole node, all cores, in [0, 1]), e.g.
/// `300,0.42`; at least two samples (the last one lasts the median interval between samples). Blank
/// lines and lines starting with `#` (comments) are ignored. Times are multiplied by `time_scale` (> 0)
/// and rounded to the nanosecond; they must still increase. `file_label` names the file in errors.
/// Pure: the caller reads the file. See [`UtilisationTrace`] for how samples become jobs.
///
/// # Errors
/// [`SamplesFileError`] with the line of a missing or wrong header, a line without exactly two fields,
/// a value that is not a finite number, a negative time, a time not after the previous one (also once
/// scaled and rounded), a utilisation outside [0, 1], or a time beyond [`TRACE_MAX_TIME`] once scaled;
/// without a line when there are fewer than two samples.
pub fn parse_utilisation_trace_csv(
    text: &str,
    file_label: &str,
    time_scale: f64,
) -> Result<UtilisationTrace, SamplesFileError> {
    const EXPECTED: &str = "expected the header `time_s,utilisation`, then one sample per line: its time in seconds (≥ 0, increasing) and the utilisation of the whole node in [0, 1] (a fraction, not a percentage), e.g. `300,0.42`; at least two samples; lines starting with `#` are comments";
    let error = |line: Option<usize>, message: String| SamplesFileError { file: file_label.to_string(), line, message };
    let mut samples: Vec<UtilisationSample> = Vec::new();
    let mut previous: Option<f64> = None;
    for row in trace_rows(text, UTILISATION_TRACE_HEADER, &error, EXPECTED)? {
        let row = row.map_err(|(line, message)| error(line, message))?;
        let at = |message: String| error(Some(row.line), message);
        let (time_s, utilisation) = trace_row(&row, ["time_s", "utilisation"], EXPECTED).map_err(at)?;
        if time_s < 0.0 {
            return Err(at(format!("time_s `{time_s}` is negative; {EXPECTED}")));
        }
        if let Some(previous) = previous.filter(|p| time_s <= *p) {
            return Err(at(format!("time_s `{time_s}` is not after the previous sample's ({previous}); {EXPECTED}")));
        }
        if !(0.0..=1.0).contains(&utilisation) {
            return Err(at(format!("utilisation `{utilisation}` is outside [0, 1]; {EXPECTED}")));
        }
        let start = trace_time(time_s, time_scale, "time_s", EXPECTED).map_err(at)?;
        if samples.last().is_some_and(|s| start <= s.start) {
            return Err(at(format!(
                "time_s `{time_s}` × time_scale {time_scale} falls on the previous sample's time once rounded to the nanosecond; use a larger time_scale"
            )));
        }
        previous = Some(time_s);
        samples.push(UtilisationSample { start, utilisation });
    }
    if samples.len() < 2 {
        return Err(error(
            None,
            format!(
                "{} sample(s); at least two are needed (the last one lasts the median interval); {EXPECTED}",
                samples.len()
            ),
        ));
    }
    let mut intervals: Vec<u64> = samples.windows(2).map(|w| w[1].start.0 - w[0].start.0).collect();
    intervals.sort_unstable();
    let middle = intervals.len() / 2;
    let median = if intervals.len() % 2 == 1 {
        intervals[middle]
    } else {
        intervals[middle - 1] / 2 + intervals[middle] / 2 + (intervals[middle - 1] % 2 + intervals[middle] % 2) / 2
    };
    let end = samples[samples.len() - 1].start.saturating_add(SimTime(median));
    Ok(UtilisationTrace { samples: samples.into(), end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empirical_csv_parses_numbers_and_locates_bad_lines() {
        assert_eq!(parse_empirical_csv("1\n2.5e6\n\n0\n", "a.csv").unwrap(), vec![1.0, 2.5e6, 0.0]);
        assert_eq!(parse_empirical_csv("\u{feff}work_flop\r\n3\r\n 4 \r\n", "a.csv").unwrap(), vec![3.0, 4.0]);
        assert_eq!(parse_empirical_csv("\n\"flops\"\n3\n", "a.csv").unwrap(), vec![3.0]);
        for (text, line, expected) in [
            ("1\n2\nabc\n", Some(3), "`abc` is not a number"),
            ("header\nother\n", Some(2), "`other` is not a number"),
            ("1\n-2\n", Some(2), "`-2` is negative"),
            ("1\nNaN\n", Some(2), "`NaN` is not a number"),
            ("1\ninf\n", Some(2), "`inf` is not a finite number"),
            ("1,2\n", Some(1), "`1,2` has 2 fields, not 1"),
            ("", None, "no samples"),
            ("work_flop\n\n", None, "no samples"),
        ] {
            let e = parse_empirical_csv(text, "dir/a.csv").unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("dir/a.csv", line), "{text:?}: {e}");
            assert!(e.message.contains(expected) && e.message.contains("one non-negative number"), "{text:?}: {e}");
        }
        let e = parse_empirical_csv("1\n2\nabc\n", "dir/a.csv").unwrap_err();
        assert!(e.to_string().starts_with("dir/a.csv line 3: `abc` is not a number"), "{e}");
    }

    #[test]
    fn jobs_trace_csv_parses_rows_comments_and_time_scale() {
        let text = "\u{feff}# a comment\r\nrelease_s,work_flop\r\n\r\n0,2e6\r\n  # another\r\n1.5, 1000\r\n1.5,3\r\n";
        let jobs = parse_jobs_trace_csv(text, "t.csv", 1.0).unwrap();
        assert_eq!(
            jobs,
            vec![
                TraceJob { release: SimTime::ZERO, work: 2e6 },
                TraceJob { release: SimTime(1_500_000_000), work: 1000.0 },
                TraceJob { release: SimTime(1_500_000_000), work: 3.0 },
            ]
        );
        // A quoted header; times scaled by 0.001 and rounded to the nanosecond.
        let jobs = parse_jobs_trace_csv("\"release_s\",\"work_flop\"\n2,1\n3600,5\n", "t.csv", 0.001).unwrap();
        assert_eq!(jobs.iter().map(|j| j.release).collect::<Vec<_>>(), [SimTime(2_000_000), SimTime(3_600_000_000)]);
    }

    #[test]
    fn jobs_trace_csv_locates_each_kind_of_bad_line() {
        for (text, line, expected) in [
            ("0,1\n", Some(1), "the header is `0,1`, not `release_s,work_flop`"),
            ("# only a comment\nrelease,work\n0,1\n", Some(2), "the header is `release,work`"),
            ("release_s,work_flop\n0,1\n2\n", Some(3), "`2` has 1 field(s), not 2"),
            ("release_s,work_flop\n0,1,2\n", Some(2), "`0,1,2` has 3 field(s), not 2"),
            ("release_s,work_flop\n0,1\n\n1s,5\n", Some(4), "release_s `1s` is not a number"),
            ("release_s,work_flop\n0,abc\n", Some(2), "work_flop `abc` is not a number"),
            ("release_s,work_flop\n0,NaN\n", Some(2), "work_flop `NaN` is not a finite number"),
            ("release_s,work_flop\ninf,1\n", Some(2), "release_s `inf` is not a finite number"),
            ("release_s,work_flop\n-1,1\n", Some(2), "release_s `-1` is negative"),
            ("release_s,work_flop\n0,1\n# c\n5,1\n4,1\n", Some(5), "release_s `4` is before the previous row's (5)"),
            ("release_s,work_flop\n0,0\n", Some(2), "work_flop `0` is not positive"),
            ("release_s,work_flop\n0,-3\n", Some(2), "work_flop `-3` is not positive"),
            ("release_s,work_flop\n1e300,1\n", Some(2), "beyond the latest time that can be simulated"),
            ("release_s,work_flop\n# nothing\n", None, "no jobs"),
            ("", None, "empty file"),
        ] {
            let e = parse_jobs_trace_csv(text, "dir/t.csv", 1.0).unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("dir/t.csv", line), "{text:?}: {e}");
            assert!(e.message.contains(expected), "{text:?}: {e}\nshould contain {expected:?}");
            assert!(e.message.contains("expected the header `release_s,work_flop`, then one job per line"), "{e}");
        }
        let e = parse_jobs_trace_csv("release_s,work_flop\n0,1\n-1,1\n", "dir/t.csv", 1.0).unwrap_err();
        assert!(e.to_string().starts_with("dir/t.csv line 3: release_s `-1` is negative"), "{e}");
    }

    #[test]
    fn utilisation_trace_csv_parses_and_ends_after_the_median_interval() {
        let text = "# synthetic\ntime_s,utilisation\n0,0.5\n300,0\n600,1\n1200,0.25\n";
        let trace = parse_utilisation_trace_csv(text, "u.csv", 1.0).unwrap();
        let s = |t: u64| SimTime(t * SimTime::NANOS_PER_SEC);
        assert_eq!(
            &trace.samples[..],
            &[
                UtilisationSample { start: s(0), utilisation: 0.5 },
                UtilisationSample { start: s(300), utilisation: 0.0 },
                UtilisationSample { start: s(600), utilisation: 1.0 },
                UtilisationSample { start: s(1200), utilisation: 0.25 },
            ]
        );
        // Intervals 300, 300, 600: median 300.
        assert_eq!(trace.end, s(1500));
        // An even number of intervals (100, 300): the mean of the middle two, 200; time_scale 0.5 halves it.
        let trace = parse_utilisation_trace_csv("time_s,utilisation\n0,1\n100,1\n400,1\n", "u.csv", 0.5).unwrap();
        assert_eq!((trace.samples[2].start, trace.end), (s(200), s(300)));
    }

    #[test]
    fn utilisation_trace_csv_locates_each_kind_of_bad_line() {
        for (text, line, expected) in [
            ("time,cpu\n0,1\n", Some(1), "the header is `time,cpu`, not `time_s,utilisation`"),
            ("time_s,utilisation\n0,0.5\n300,0.5,7\n", Some(3), "has 3 field(s), not 2"),
            ("time_s,utilisation\n0,0.5\n300,50%\n", Some(3), "utilisation `50%` is not a number"),
            ("time_s,utilisation\n0,0.5\n300,42\n", Some(3), "utilisation `42` is outside [0, 1]"),
            ("time_s,utilisation\n0,-0.1\n", Some(2), "utilisation `-0.1` is outside [0, 1]"),
            ("time_s,utilisation\n-300,0.5\n", Some(2), "time_s `-300` is negative"),
            ("time_s,utilisation\n0,0.5\n300,0.5\n300,0.5\n", Some(4), "time_s `300` is not after the previous"),
            ("time_s,utilisation\n0,0.5\n300,0.5\n\n200,0.5\n", Some(5), "time_s `200` is not after the previous"),
            ("time_s,utilisation\n0,0.5\n", None, "1 sample(s); at least two are needed"),
            ("time_s,utilisation\n", None, "0 sample(s)"),
        ] {
            let e = parse_utilisation_trace_csv(text, "u.csv", 1.0).unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("u.csv", line), "{text:?}: {e}");
            assert!(e.message.contains(expected), "{text:?}: {e}\nshould contain {expected:?}");
            assert!(e.message.contains("the utilisation of the whole node in [0, 1]"), "{e}");
        }
        // Times that only differ below a nanosecond once scaled.
        let e = parse_utilisation_trace_csv("time_s,utilisation\n0,1\n1,1\n", "u.csv", 1e-10).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("falls on the previous sample's time once rounded"), "{e}");
    }

    /// Issue 12 (CSV read by the `csv` crate): a bad row is named by its file, its line (counting
    /// blank, comment and quoted lines as the file has them) and its field, in each reader.
    #[test]
    fn csv_readers_name_a_bad_row_by_line_and_field() {
        let e = parse_empirical_csv("\"work_flop\"\n\n  \n1e6\n\"2e6\"\n 7x \n", "w.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("w.csv line 6: `7x` is not a number; {}", e.message.split("; ").nth(1).unwrap())
        );
        // A quoted value is one CSV field.
        assert_eq!(parse_empirical_csv("\"work_flop\"\n1e6\n\"2e6\"\n", "w.csv").unwrap(), vec![1e6, 2e6]);

        let jobs =
            "# recorded\n\"release_s\", \"work_flop\"\n\n   # indented comment, two fields\n0,1e6\n\"1.5\",2e6\n2,-5\n";
        let e = parse_jobs_trace_csv(jobs, "dir/jobs.csv", 1.0).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("dir/jobs.csv", Some(7)), "{e}");
        assert!(e.to_string().starts_with("dir/jobs.csv line 7: work_flop `-5` is not positive; expected"), "{e}");

        let utilisation = "time_s,utilisation\r\n0,0.5\r\n#,\"a quoted comment\"\r\n\r\n300, 0.25 \r\n600,high\r\n";
        let e = parse_utilisation_trace_csv(utilisation, "u.csv", 1.0).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(
            e.message.starts_with("utilisation `high` is not a number; expected the header `time_s,utilisation`"),
            "{e}"
        );
    }
}
