//! Data-set loaders (issue 3): tiny hand-written files in every format, the shipped sets' shapes, and
//! malformed inputs rejected with errors naming the file and line.

use std::io::Write;
use std::path::{Path, PathBuf};

use flexrnn::data::{
    self, load_basic_motions, load_japanese_vowels, load_mnist5k, parse_ts, pixel_permutation, read_mnist_idx,
    read_pose, read_ts, AddingTask, DataError, MissingValues, SequenceSet,
};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// An IDX images file of `n` images of `rows × cols` with pixel `i` of image `k` = `(k * 10 + i) % 256`.
fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    for k in 0..n {
        for i in 0..rows * cols {
            bytes.push(((k * 10 + i) % 256) as u8);
        }
    }
    bytes
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

fn ts_err(text: &str) -> String {
    parse_ts(text.as_bytes(), "t.ts", MissingValues::Reject).unwrap_err().to_string()
}

#[test]
fn idx_plain_and_gzipped_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(3, 2, 3);
    let labels = idx_labels(&[7, 0, 9]);
    let plain =
        read_mnist_idx(&write(dir.path(), "i-idx3-ubyte", &images), &write(dir.path(), "l-idx1-ubyte", &labels))
            .unwrap();
    let zipped = read_mnist_idx(
        &write(dir.path(), "i-idx3-ubyte.gz", &gzip(&images)),
        &write(dir.path(), "l-idx1-ubyte.gz", &gzip(&labels)),
    )
    .unwrap();
    plain.check().unwrap();
    assert_eq!((plain.len(), plain.steps, plain.features, plain.classes), (3, 6, 1, 10));
    assert_eq!(plain.labels, [7, 0, 9]);
    assert_eq!(plain.frame(1, 2), &[12.0 / 255.0]);
    assert_eq!(plain.values, zipped.values);
    assert_eq!(plain.labels, zipped.labels);
}

#[test]
fn idx_malformed_files_are_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let images = write(dir.path(), "images", &idx_images(2, 2, 2));
    let labels = write(dir.path(), "labels", &idx_labels(&[1, 2]));
    let message = |images: &Path, labels: &Path| read_mnist_idx(images, labels).unwrap_err().to_string();

    // Images and labels swapped: wrong magic.
    let e = message(&labels, &images);
    assert!(e.contains("labels: byte 0: magic number 00 00 08 01 is not that of IDX images"), "{e}");
    // Truncated data.
    let mut short = idx_images(2, 2, 2);
    short.pop();
    let e = message(&write(dir.path(), "short", &short), &labels);
    assert!(e.contains("short: byte 23: the header announces 8 data bytes but the file holds 7"), "{e}");
    // Truncated header.
    let e = message(&write(dir.path(), "tiny", &[0, 0, 8]), &labels);
    assert!(e.contains("tiny: byte 3: file of 3 bytes ends inside the 16-byte IDX header"), "{e}");
    // Counts disagree.
    let e = message(&images, &write(dir.path(), "three", &idx_labels(&[1, 2, 3])));
    assert!(e.contains("the images file holds 2 images but the labels file 3 labels"), "{e}");
    // A label above 9.
    let e = message(&images, &write(dir.path(), "ten", &idx_labels(&[1, 10])));
    assert!(e.contains("ten: byte 9: label 10 of item 2 is not 0..9"), "{e}");
    // A header claiming more images than addressable does not allocate or panic.
    let mut huge = vec![0, 0, 8, 3];
    huge.extend_from_slice(&[0xff; 12]);
    let e = message(&write(dir.path(), "huge", &huge), &labels);
    assert!(e.contains("huge"), "{e}");
    // No images.
    let e = message(&write(dir.path(), "empty", &idx_images(0, 2, 2)), &write(dir.path(), "none", &idx_labels(&[])));
    assert!(e.contains("empty: byte 4: the file holds no image"), "{e}");
    // A corrupt gzip stream.
    let mut broken = gzip(&idx_images(2, 2, 2));
    broken.truncate(broken.len() / 2);
    let e = message(&write(dir.path(), "broken.gz", &broken), &labels);
    assert!(e.contains("broken.gz: cannot decompress"), "{e}");
    // A missing file.
    let e = message(&dir.path().join("absent"), &labels);
    assert!(e.contains("absent: cannot read"), "{e}");
}

const FIXED_TS: &str = "\
# A hand-written two-channel file.
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true up down

@data
1,2,3:4,5,6:down
7,8,9:10,11,12:up
";

const VARIABLE_TS: &str = "\
@problemName Ragged
@missing false
@univariate true
@equalLength false
@classLabel true 1 2 3
@data
1.5,2.5:3
-1,0,1,2:1
4:2
";

#[test]
fn ts_fixed_length_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let plain = read_ts(&write(dir.path(), "Tiny_TRAIN.ts", FIXED_TS.as_bytes()), MissingValues::Reject).unwrap();
    let zipped =
        read_ts(&write(dir.path(), "Tiny_TRAIN.ts.gz", &gzip(FIXED_TS.as_bytes())), MissingValues::Reject).unwrap();
    assert_eq!(plain, zipped);
    plain.check().unwrap();
    assert_eq!(plain.name, "Tiny");
    assert_eq!((plain.len(), plain.steps, plain.features, plain.classes), (2, 3, 2, 2));
    assert_eq!(plain.class_names, ["up", "down"]);
    assert_eq!(plain.labels, [1, 0]);
    // Channels become features: step 1 of series 0 is (2, 5).
    assert_eq!(plain.frame(0, 1), &[2.0, 5.0]);
    assert_eq!(plain.sequence(1), &[7.0, 10.0, 8.0, 11.0, 9.0, 12.0]);
}

#[test]
fn ts_variable_length_is_zero_padded() {
    let set = parse_ts(VARIABLE_TS.as_bytes(), "ragged.ts", MissingValues::Reject).unwrap();
    set.check().unwrap();
    assert_eq!((set.len(), set.steps, set.features, set.classes), (3, 4, 1, 3));
    assert_eq!(set.lengths, [2, 4, 1]);
    assert_eq!(set.labels, [2, 0, 1]);
    assert_eq!(set.sequence(0), &[1.5, 2.5, 0.0, 0.0]);
    assert_eq!(set.unpadded(1), &[-1.0, 0.0, 1.0, 2.0]);
    assert_eq!(set.unpadded(2), &[4.0]);
}

#[test]
fn ts_regression_targets_and_missing_values() {
    let text = "@problemName Reg\n@targetLabel true\n@data\n1,?,3:0.5\n4,5,6:1.25\n";
    let e = ts_err(text);
    assert!(e.starts_with("t.ts: line 4, channel 1, value 2: missing value `?`"), "{e}");
    let set = parse_ts(text.as_bytes(), "t.ts", MissingValues::Zero).unwrap();
    set.check().unwrap();
    assert!(set.is_regression());
    assert_eq!(set.targets, [0.5, 1.25]);
    assert_eq!(set.sequence(0), &[1.0, 0.0, 3.0]);
}

#[test]
fn ts_malformed_files_are_rejected_naming_line_and_field() {
    let fixed = |from: &str, to: &str| {
        assert!(FIXED_TS.contains(from), "{from}");
        ts_err(&FIXED_TS.replacen(from, to, 1))
    };
    let cases = [
        (fixed("5,6:down", "5,x:down"), "t.ts: line 12, channel 2, value 3: `x` is not a number"),
        (fixed("7,8,9:10,11,12:up", "7,8,9:up"), "t.ts: line 13: 1 channels, the header says 2"),
        (fixed("7,8,9:10,11,12:up", "7,8,9:10,11,12:left"), "t.ts: line 13, class label: `left` is not one of"),
        (fixed("4,5,6:down", "4,5:down"), "t.ts: line 12, channel 2: 2 values, channel 1 has 3"),
        (fixed("7,8,9:10,11,12", "7,8:10,11"), "t.ts: line 13: 2 values per channel, `@seriesLength` says 3"),
        (fixed("@missing false", "@missing maybe"), "t.ts: line 4: `@missing` takes true or false, found `maybe`"),
        (fixed("@univariate false", "@colour red"), "t.ts: line 5: unknown header tag `@colour`"),
        (fixed("@dimensions 2", "@dimensions two"), "t.ts: line 6: `@dimensions` takes a positive whole number"),
        (fixed("7,8,9:10,11,12:up\n", "7,8,9:10,11,12:up\n@missing true\n"), "t.ts: line 14: header line"),
        (fixed("7,8,9:10,11,12:up", "7,8,9,10,11,12 up"), "t.ts: line 13: expected channels separated by `:`"),
        (fixed("1,2,3:4", "1,,3:4"), "t.ts: line 12, channel 1, value 2: empty value"),
        (fixed("@data\n", ""), "t.ts: line 11: data before the `@data` line"),
        (fixed("@timeStamps false", "@timeStamps true"), "t.ts: time-stamped series"),
        (fixed("@classLabel true up down", "@classLabel false"), "t.ts: neither `@classLabel true"),
        (fixed("@classLabel true up down", "@classLabel true up up"), "t.ts: line 9: class label `up` is listed twice"),
        (ts_err("@classLabel true a\n"), "t.ts: no `@data` line"),
        (ts_err("@classLabel true a\n@data\n\n"), "t.ts: no series after `@data` (line 2)"),
        (
            ts_err("@classLabel true a\n@data\n1,inf:a\n"),
            "t.ts: line 3, channel 1, value 2: value `inf` (inf) is not finite",
        ),
        (
            ts_err("@classLabel true a\n@data\n1,2:a\n1:a\n1,2,3:4,5,6:a\n"),
            "t.ts: line 5: 2 channels, the first series says 1",
        ),
    ];
    for (message, expected) in cases {
        assert!(message.starts_with(expected), "\n got: {message}\nwant: {expected}…");
    }
    // Not UTF-8 on line 2.
    let e = parse_ts(b"@classLabel true a\n\xff\n", "t.ts", MissingValues::Reject).unwrap_err().to_string();
    assert!(e.starts_with("t.ts: line 2: not UTF-8"), "{e}");
    // A missing file names its path.
    let e = read_ts(Path::new("/nonexistent/x.ts"), MissingValues::Reject).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }) && e.to_string().starts_with("/nonexistent/x.ts: cannot read"), "{e}");
}

/// `series` pose series of `frames` frames; value `j` of frame `f` is `f + j / 100`.
fn pose_x(series: usize, frames: usize) -> String {
    (0..series * frames)
        .map(|f| (0..36).map(|j| format!("{}", f as f32 + j as f32 / 100.0)).collect::<Vec<_>>().join(",") + "\n")
        .collect()
}

#[test]
fn pose_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let x = write(dir.path(), "x_train.txt", pose_x(2, 3).as_bytes());
    let y = write(dir.path(), "y_train.txt", b"6\n1\n");
    let set = read_pose(&x, &y, 3).unwrap();
    set.check().unwrap();
    assert_eq!((set.len(), set.steps, set.features, set.classes), (2, 3, 36, 6));
    assert_eq!(set.labels, [5, 0]);
    assert_eq!(set.class_names[5], "CLAPPING_HANDS");
    assert_eq!(set.frame(1, 0)[1], 3.01);
    // Gzipped files read alike.
    let xz = write(dir.path(), "x.gz", &gzip(pose_x(2, 3).as_bytes()));
    assert_eq!(read_pose(&xz, &y, 3).unwrap().values, set.values);
    // Six frames are not a whole number of 4-frame series; 2 series of 3 need 2 classes.
    let e = read_pose(&x, &y, 4).unwrap_err().to_string();
    assert!(
        e.contains("x_train.txt: 6 frames is not a multiple of 4 frames per series (the last series, from line 5"),
        "{e}"
    );
    let e = read_pose(&x, &write(dir.path(), "y1.txt", b"6\n"), 3).unwrap_err().to_string();
    assert!(e.contains("2 series of 3 frames but 1 classes"), "{e}");
    let e = read_pose(&x, &write(dir.path(), "y7.txt", b"6\n7\n"), 3).unwrap_err().to_string();
    assert!(e.ends_with("y7.txt: line 2: class `7` is not 1..6"), "{e}");
    let bad = pose_x(2, 3).replacen("1.01,", "1.01,oops,", 1);
    let e = read_pose(&write(dir.path(), "x_bad.txt", bad.as_bytes()), &y, 3).unwrap_err().to_string();
    assert!(e.ends_with("x_bad.txt: line 2: expected 36 comma-separated values (x, y of 18 joints), found 37"), "{e}");
    let bad = pose_x(2, 3).replacen("2.05,", "2.05.1,", 1);
    let e = read_pose(&write(dir.path(), "x_num.txt", bad.as_bytes()), &y, 3).unwrap_err().to_string();
    assert!(e.ends_with("x_num.txt: line 3, field 6: `2.05.1` is not a number"), "{e}");
    let e = read_pose(&x, &y, 0).unwrap_err();
    assert!(matches!(e, DataError::Parameter { .. }), "{e}");
    // Issue 12 (the `x` file read by the `csv` crate): blank lines inside or after the frames are still
    // refused at their line, a bad value named by line and field, CRLF and spaces around values read.
    for (text, expected) in [
        (pose_x(2, 3).replacen('\n', "\n\n", 1), "x_blank.txt: line 2: blank line (expected 36 values)"),
        (pose_x(2, 3).replacen('\n', "\n   \n", 2), "x_blank.txt: line 2: blank line"),
        (pose_x(2, 3) + "\n", "x_blank.txt: line 7: blank line"),
        (pose_x(2, 3).replace("2.05,", "2.05, x ,"), "x_blank.txt: line 3: expected 36 comma-separated values"),
        (pose_x(2, 3).replacen("2.05", "-inf", 1), "x_blank.txt: line 3, field 6: value `-inf` (-inf) is not finite"),
    ] {
        let e = read_pose(&write(dir.path(), "x_blank.txt", text.as_bytes()), &y, 3).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}\nshould contain {expected:?}");
    }
    let crlf = pose_x(2, 3).replace(',', " , ").replace('\n', "\r\n");
    assert_eq!(read_pose(&write(dir.path(), "x_crlf.txt", crlf.as_bytes()), &y, 3).unwrap().values, set.values);
}

#[test]
fn shipped_sets_load_with_documented_shapes() {
    let basic = load_basic_motions().unwrap();
    for set in [&basic.train, &basic.test] {
        assert_eq!((set.len(), set.steps, set.features, set.classes), (40, 100, 6, 4));
    }
    let vowels = load_japanese_vowels().unwrap();
    assert_eq!((vowels.train.len(), vowels.test.len()), (270, 370));
    for set in [&vowels.train, &vowels.test] {
        assert_eq!((set.features, set.classes), (12, 9));
        assert_eq!(*set.lengths.iter().min().unwrap(), 7);
        assert!(*set.lengths.iter().max().unwrap() <= 29);
        set.check().unwrap();
    }
    let mnist = load_mnist5k().unwrap();
    assert_eq!((mnist.len(), mnist.steps, mnist.features, mnist.classes), (5000, 784, 1, 10));
    for class in 0..10 {
        assert_eq!(mnist.labels.iter().filter(|&&l| l == class).count(), 500);
    }
}

#[test]
fn permuted_pixel_tasks_are_seeded() {
    let digits = data::load_digits().unwrap();
    let permutation = pixel_permutation(digits.steps, data::PERMUTATION_SEED);
    let permuted = digits.permute_steps(&permutation).unwrap();
    assert_eq!(permuted, digits.permute_steps(&pixel_permutation(64, data::PERMUTATION_SEED)).unwrap());
    for (t, &source) in permutation.iter().enumerate() {
        assert_eq!(permuted.frame(10, t), digits.frame(10, source));
    }
    assert_eq!(permuted.labels, digits.labels);
    // The pixel multiset of each image is unchanged.
    let sorted = |set: &SequenceSet, i: usize| {
        let mut v = set.sequence(i).to_vec();
        v.sort_by(f32::total_cmp);
        v
    };
    assert_eq!(sorted(&permuted, 3), sorted(&digits, 3));
}

#[test]
fn adding_task_is_seeded_with_markers_in_place() {
    let task = AddingTask { steps: 40 };
    let set = task.generate(50, 3).unwrap();
    assert_eq!(set, task.generate(50, 3).unwrap());
    for index in 0..set.len() {
        let marked: Vec<usize> = (0..40).filter(|&t| set.frame(index, t)[1] == 1.0).collect();
        assert_eq!(marked.len(), 2);
        assert!(marked[0] < 4 && marked[1] >= 20, "{marked:?}");
        assert_eq!(set.targets[index], set.frame(index, marked[0])[0] + set.frame(index, marked[1])[0]);
    }
}
