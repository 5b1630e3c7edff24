//! The embedded UCI digits, and the pixel CSV format it shares with the MNIST subset.

use super::{as_text, embedded_name, maybe_gunzip, parse_f32, DataError, SequenceSet};
use crate::input::csv_rows;

/// The embedded copy of `data/digits/digits.csv.gz`: 1797 rows of 64 pixels (0..16) then a label 0..9.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");

/// Loads the embedded UCI digits: 1797 sequences of 64 steps (pixels in row-major order) with one
/// feature each, the pixel value 0..16 divided by 16 (so in `[0, 1]`); 10 classes named `"0"`..`"9"`.
///
/// Source: UCI optical recognition of handwritten digits, test part (E. Alpaydin, C. Kaynak, 1998,
/// CC BY 4.0), copied from scikit-learn 1.9.1 (`sklearn/datasets/data/digits.csv.gz`).
///
/// # Errors
/// [`DataError`] if the embedded file is corrupt (it is checked by the tests).
pub fn load_digits() -> Result<SequenceSet, DataError> {
    let mut set = parse_pixel_csv(DIGITS_CSV_GZ, &embedded_name("digits/digits.csv.gz"), 64, 16)?;
    set.name = "digits".into();
    Ok(set)
}

/// Parses a (possibly gzipped) CSV file without header whose rows are `pixels` integer pixel values in
/// `0..=max_pixel` then a label `0..9`, into a set of `pixels` steps × 1 feature, each pixel divided
/// by `max_pixel`. Read by the `csv` crate; blank lines are skipped, fields trimmed.
///
/// # Errors
/// [`DataError`] naming the line (and field) of a row without `pixels + 1` fields, a pixel that is not
/// a number in `0..=max_pixel` or a label that is not `0..9`; when there is no row; or when the bytes
/// are not (gzipped) UTF-8 text.
pub(crate) fn parse_pixel_csv(
    bytes: &[u8],
    name: &str,
    pixels: usize,
    max_pixel: u32,
) -> Result<SequenceSet, DataError> {
    let bytes = maybe_gunzip(bytes, name)?;
    let text = as_text(&bytes, name)?;
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let scale = 1.0 / max_pixel as f32;
    for row in csv_rows(text, false) {
        let row = row.map_err(|(line, message)| match line {
            Some(line) => DataError::line(name, line, message),
            None => DataError::invalid(name, message),
        })?;
        let line_no = row.line;
        let fields = &row.fields;
        if fields.len() != pixels + 1 {
            return Err(DataError::line(
                name,
                line_no,
                format!(
                    "expected {} comma-separated fields ({pixels} pixels, label), found {}",
                    pixels + 1,
                    fields.len()
                ),
            ));
        }
        for (column, field) in fields.iter().take(pixels).enumerate() {
            let at = || format!("field {}", column + 1);
            let v = parse_f32(field, name, line_no, &at)?;
            if !(0.0..=max_pixel as f32).contains(&v) {
                return Err(DataError::field(name, line_no, at(), format!("pixel {v} outside 0..={max_pixel}")));
            }
            values.push(v * scale);
        }
        let label_text = &fields[pixels];
        let label = match label_text.parse::<u32>() {
            Ok(label) if label <= 9 => label,
            _ => {
                return Err(DataError::field(
                    name,
                    line_no,
                    format!("field {}", pixels + 1),
                    format!("label `{label_text}` is not 0..9"),
                ))
            }
        };
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(DataError::invalid(name, "no rows"));
    }
    let class_names = (0..10).map(|digit| digit.to_string()).collect();
    Ok(SequenceSet::fixed_length_classification(name.to_string(), pixels, 1, class_names, values, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::digits_split;

    #[test]
    fn digits_shape_and_first_row() {
        let set = load_digits().unwrap();
        set.check().unwrap();
        assert_eq!(set.len(), 1797);
        assert_eq!(set.values.len(), 1797 * 64);
        assert!(set.is_fixed_length());
        // First row of the file: 0,0,5,13,9,1,0,0,... label 0.
        assert_eq!(set.frame(0, 2), &[5.0 / 16.0]);
        assert_eq!(set.frame(0, 3), &[13.0 / 16.0]);
        assert_eq!(set.labels[0], 0);
        let mut counts = [0usize; 10];
        set.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts.iter().sum::<usize>(), 1797);
        assert!(counts.iter().all(|&c| (174..=183).contains(&c)), "{counts:?}");
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let set = load_digits().unwrap();
        let split = digits_split(&set.labels);
        let again = digits_split(&set.labels);
        assert_eq!(split, again);
        assert_eq!(split.train.len() + split.validation.len() + split.test.len(), 1797);
        let mut all: Vec<usize> = split.train.iter().chain(&split.validation).chain(&split.test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1797);
        // Each class contributes round(0.2 n) test items: 36 for n in 178..=182.
        for class in 0..10u32 {
            let n_test = split.test.iter().filter(|&&i| set.labels[i] == class).count();
            assert!((35..=37).contains(&n_test), "class {class}: {n_test}");
        }
    }

    #[test]
    fn pixel_csv_errors_name_line_and_field() {
        let good = "0,1,2,3\n4,4,0,9\n";
        let set = parse_pixel_csv(good.as_bytes(), "t.csv", 3, 4).unwrap();
        assert_eq!((set.len(), set.steps), (2, 3));
        assert_eq!(set.frame(1, 0), &[1.0]);
        let e = parse_pixel_csv(b"0,1,2,3\n0,1,x,3\n", "t.csv", 3, 4).unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 2, field 3: `x` is not a number");
        let e = parse_pixel_csv(b"0,1,2\n", "t.csv", 3, 4).unwrap_err().to_string();
        assert!(e.starts_with("t.csv: line 1: expected 4 comma-separated fields"), "{e}");
        let e = parse_pixel_csv(b"0,1,5,3\n", "t.csv", 3, 4).unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 1, field 3: pixel 5 outside 0..=4");
        let e = parse_pixel_csv(b"0,1,2,10\n", "t.csv", 3, 4).unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 1, field 4: label `10` is not 0..9");
    }

    /// Issue 12 (CSV read by the `csv` crate): blank lines still count for the line of a bad row, fields
    /// are trimmed and may be quoted.
    #[test]
    fn pixel_csv_names_a_bad_row_by_line_and_field_after_blank_lines() {
        let set = parse_pixel_csv(b"\n0, 1 ,\"2\",3\r\n\r\n  \n4,4,0,9\n", "t.csv", 3, 4).unwrap();
        assert_eq!((set.len(), set.labels.as_slice()), (2, &[3, 9][..]));
        assert_eq!(set.frame(0, 1), &[0.25]);
        let e = parse_pixel_csv(b"0,1,2,3\n\n\n0,1,2,3\n0,1,-1,3\n", "t.csv", 3, 4).unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 5, field 3: pixel -1 outside 0..=4");
    }
}
