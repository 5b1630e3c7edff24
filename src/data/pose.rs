//! The 2D-pose activity text format of the human-activity-recognition source the paper cites
//! (OpenPose keypoints of people doing six activities).
//!
//! - `x_train.txt` / `x_test.txt`: one frame a line, 36 comma-separated floats — x, y of the 18
//!   OpenPose joints in raw pixels, 0.0 where a joint was not found; `frames_per_series` consecutive
//!   lines form one series ([`POSE_FRAMES_PER_SERIES`] by default; see there).
//! - `y_train.txt` / `y_test.txt`: one class `1..6` a line, one line per series, in the order of the
//!   series.

use std::path::Path;

use super::{as_text, maybe_gunzip, parse_f32, read_file, DataError, SequenceSet};
use crate::input::csv_rows;

/// Values per frame: x and y of 18 OpenPose joints.
pub const POSE_FEATURES: usize = 36;

/// The suggested `frames_per_series` of [`read_pose`]: 32, the window length descriptions of the
/// source give. The data notes this project was built from say 33, so it is a parameter:
/// check against your files — the `x` file's line count must be a multiple of it, and the loader
/// rejects files where it is not.
pub const POSE_FRAMES_PER_SERIES: usize = 32;

/// The six activities, in the order of the classes `1..6` of the `y` files (labels `0..5`).
pub const POSE_ACTIVITIES: [&str; 6] =
    ["JUMPING", "JUMPING_JACKS", "BOXING", "WAVING_2HANDS", "WAVING_1HAND", "CLAPPING_HANDS"];

/// Reads a pose `x` file and its `y` file (each gzipped or not): `n` series of `frames_per_series`
/// steps × 36 features (joint coordinates in pixels, as written), labels `0..5` for the classes
/// `1..6` (named by [`POSE_ACTIVITIES`]). The set is named after the `x` file.
///
/// # Errors
/// [`DataError::Io`] if a file cannot be read, and as [`parse_pose`].
pub fn read_pose(x_path: &Path, y_path: &Path, frames_per_series: usize) -> Result<SequenceSet, DataError> {
    let x = read_file(x_path)?;
    let y = read_file(y_path)?;
    parse_pose(&x, &x_path.display().to_string(), &y, &y_path.display().to_string(), frames_per_series)
}

/// Parses the contents of a pose `x` file and `y` file (see [`read_pose`]); the names are for errors.
/// The `x` file is read as CSV by the `csv` crate (fields trimmed); blank lines are not allowed in it
/// (they would shift the series boundaries); a final newline is.
///
/// # Errors
/// [`DataError::Parameter`] if `frames_per_series` is 0; [`DataError::Parse`] naming the line (and
/// field) for a frame without exactly 36 values, a value that is not a finite number, a blank `x`
/// line, or a class that is not `1..6`; [`DataError::Invalid`] if the frame count is not a multiple of
/// `frames_per_series` or the `y` file has a different number of classes than there are series.
pub fn parse_pose(
    x: &[u8],
    x_name: &str,
    y: &[u8],
    y_name: &str,
    frames_per_series: usize,
) -> Result<SequenceSet, DataError> {
    if frames_per_series == 0 {
        return Err(DataError::Parameter {
            what: "parse_pose".into(),
            message: "frames_per_series must be ≥ 1 (32 by default)".into(),
        });
    }
    let x_bytes = maybe_gunzip(x, x_name)?;
    let y_bytes = maybe_gunzip(y, y_name)?;
    let x_text = as_text(&x_bytes, x_name)?;
    let y_text = as_text(&y_bytes, y_name)?;
    let mut values = Vec::new();
    let mut frames = 0;
    let blank =
        |line_no: usize| DataError::line(x_name, line_no, format!("blank line (expected {POSE_FEATURES} values)"));
    for row in csv_rows(x_text, false) {
        let row = row.map_err(|(line, message)| match line {
            Some(line) => DataError::line(x_name, line, message),
            None => DataError::invalid(x_name, message),
        })?;
        // Each frame is one line: a row past the next line means blank lines were skipped there.
        if row.line != frames + 1 {
            return Err(blank(frames + 1));
        }
        if row.fields.len() != POSE_FEATURES {
            return Err(DataError::line(
                x_name,
                row.line,
                format!(
                    "expected {POSE_FEATURES} comma-separated values (x, y of 18 joints), found {}",
                    row.fields.len()
                ),
            ));
        }
        for (column, field) in row.fields.iter().enumerate() {
            values.push(parse_f32(field, x_name, row.line, &|| format!("field {}", column + 1))?);
        }
        frames += 1;
    }
    // Blank lines after the last frame (a final newline is not one).
    if x_text.lines().count() > frames {
        return Err(blank(frames + 1));
    }
    if frames == 0 {
        return Err(DataError::invalid(x_name, "no frames"));
    }
    if frames % frames_per_series != 0 {
        return Err(DataError::invalid(
            x_name,
            format!(
                "{frames} frames is not a multiple of {frames_per_series} frames per series (the last series, from line {}, is incomplete)",
                frames - frames % frames_per_series + 1
            ),
        ));
    }
    let series = frames / frames_per_series;
    let mut labels = Vec::with_capacity(series);
    for (line_idx, line) in y_text.lines().enumerate() {
        let line_no = line_idx + 1;
        let text = line.trim();
        if text.is_empty() && y_text.lines().skip(line_idx).all(|rest| rest.trim().is_empty()) {
            break;
        }
        match text.parse::<u32>() {
            Ok(class @ 1..=6) => labels.push(class - 1),
            _ => return Err(DataError::line(y_name, line_no, format!("class `{}` is not 1..6", text))),
        }
    }
    if labels.len() != series {
        return Err(DataError::invalid(
            &format!("{x_name} and {y_name}"),
            format!("{series} series of {frames_per_series} frames but {} classes", labels.len()),
        ));
    }
    let class_names = POSE_ACTIVITIES.iter().map(|s| s.to_string()).collect();
    Ok(SequenceSet::fixed_length_classification(
        x_name.to_string(),
        frames_per_series,
        POSE_FEATURES,
        class_names,
        values,
        labels,
    ))
}
