//! Tasks: a data set with its train / validation / test split and preprocessing, named by one id
//! string that a model card records, so that training, `flexrnn eval` and the simulator all rebuild
//! exactly the same data from the id.
//!
//! | id | data | split |
//! | --- | --- | --- |
//! | `digits` | UCI digits, 64 pixels in row-major order (values / 16) | [`digits_split`] (seed 2020, 20 % test, 10 % of the rest validation) |
//! | `digits-permuted` | the same, pixels permuted by [`pixel_permutation`]`(64, PERMUTATION_SEED)` | as `digits` |
//! | `adding`, `adding-T<T>` | the adding task with `T` steps (default 50) | 10 000 train, 1 000 validation, 2 000 test, generated from seed 2026 |
//! | `mnist5k`, `pmnist5k` | embedded MNIST subset, 784 pixels (values / 255); `p`: permuted | stratified, seed 2020, 20 % test, 10 % of the rest validation |
//! | `mnist:DIR`, `pmnist:DIR` | full MNIST IDX files in `DIR` (gzipped or not) | official training part → 90 / 10 % train / validation (stratified, seed 2020); official test part → test |
//! | `basic-motions`, `japanese-vowels` | embedded UEA sets, channels standardised | official training part → 75 / 25 % train / validation (stratified, seed 2020); official test part → test |
//! | `ts:TRAIN,TEST` or `ts:TRAIN,TEST,standardise` | any UEA/UCR `.ts` pair (gzipped or not), as the files hold it; standardised only with the option `standardise` (the named UEA ids above always are) | as the UEA sets |
//! | `npz:FILE[,test=P][,validation=P]` | a `numpy.savez` or `numpy.savez_compressed` file with `x` `[N, T, I]` (float32/64) and `y` `[N]` (integer classes, or float targets: regression), **not** standardised ([`super::npz`]) | the file's `split` array if it has one (`[N]` integers: 0 train, 1 validation, 2 test; then `test=`/`validation=` are an error); else stratified (classes) or shuffled (regression), seed 2020: `P` % test (default 20), `P` % of the rest validation (default 10) |
//! | `pose:DIR` or `pose:DIR,frames=N` | 2D-pose files `x_train.txt`, `y_train.txt`, `x_test.txt`, `y_test.txt` (optionally `.gz`) in `DIR`, `N` frames per series (default [`POSE_FRAMES_PER_SERIES`]), standardised | as the UEA sets |
//!
//! *Standardised*: every channel has the training part's mean subtracted and is divided by its
//! standard deviation (1 where that is 0); padding stays zero. The statistics are recomputed from the
//! same training part every time the task is loaded, so they need not be stored.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::{
    digits_split, load_basic_motions, load_digits, load_japanese_vowels, load_mnist5k, pixel_permutation,
    read_mnist_idx, read_pose, read_ts, AddingTask, DataError, MissingValues, SequenceSet, Split, SplitPart, TrainTest,
    PERMUTATION_SEED, POSE_FRAMES_PER_SERIES,
};

/// Seed of the adding-task data of the `adding` ids.
pub const ADDING_SEED: u64 = 2026;
/// Training, validation and test sequences of the `adding` ids.
pub const ADDING_SIZES: [usize; 3] = [10_000, 1_000, 2_000];
/// Default percent of an `npz:` task's sequences held out for test.
pub const NPZ_TEST_PERCENT: u32 = 20;
/// Default percent of the rest of an `npz:` task's sequences used for validation.
pub const NPZ_VALIDATION_PERCENT: u32 = 10;

/// A seeded split without classes (regression): one shuffle, the first `round(test × n)` to test, the
/// next `round(validation × rest)` to validation, the rest to train; each part sorted.
fn shuffled_split(n: usize, seed: u64, test_fraction: f64, validation_fraction: f64) -> Split {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut Pcg64::seed_from_u64(seed));
    let n_test = (test_fraction * n as f64).round() as usize;
    let n_validation = (validation_fraction * (n - n_test) as f64).round() as usize;
    let part = |range: std::ops::Range<usize>| {
        let mut v = order[range].to_vec();
        v.sort_unstable();
        v
    };
    let (test, validation, train) =
        (part(0..n_test), part(n_test..n_test + n_validation), part(n_test + n_validation..n));
    Split { seed, test_fraction, validation_fraction, train, validation, test }
}

/// Seed of every split made by a task (as [`digits_split`]).
pub const TASK_SPLIT_SEED: u64 = 2020;

/// What a task id names (see the [module documentation](self) for the ids).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskSpec {
    /// UCI digits; `permuted`: pixels in the seeded permuted order.
    Digits {
        /// Pixels permuted.
        permuted: bool,
    },
    /// The adding task with `steps` steps.
    Adding {
        /// Sequence length `T`.
        steps: usize,
    },
    /// The embedded MNIST 5k subset.
    Mnist5k {
        /// Pixels permuted.
        permuted: bool,
    },
    /// MNIST IDX files in a folder.
    MnistIdx {
        /// Folder holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
        /// `t10k-labels-idx1-ubyte` (each optionally ending in `.gz`).
        dir: PathBuf,
        /// Pixels permuted.
        permuted: bool,
    },
    /// Embedded UEA BasicMotions.
    BasicMotions,
    /// Embedded UEA JapaneseVowels (variable length).
    JapaneseVowels,
    /// A UEA/UCR `.ts` training and test file.
    Ts {
        /// Training file.
        train: PathBuf,
        /// Test file.
        test: PathBuf,
        /// Standardise every channel with the training part's statistics (option `standardise`);
        /// off by default (the values are used as the files hold them).
        standardise: bool,
    },
    /// A `numpy.savez` file of `x` and `y` ([`super::npz::read_npz`]), split by its own `split` array
    /// or by percentages.
    Npz {
        /// The `.npz` file.
        file: PathBuf,
        /// Percent of the sequences held out for test (0–90), if given (default
        /// [`NPZ_TEST_PERCENT`]; an error with a `split` array in the file).
        test_percent: Option<u32>,
        /// Percent of the rest used for validation (0–90), if given (default
        /// [`NPZ_VALIDATION_PERCENT`]; an error with a `split` array in the file).
        validation_percent: Option<u32>,
    },
    /// 2D-pose text files in a folder.
    Pose {
        /// Folder of `x_train.txt`, `y_train.txt`, `x_test.txt`, `y_test.txt`.
        dir: PathBuf,
        /// Frames per series.
        frames: usize,
    },
}

/// Ids accepted by [`TaskSpec::parse`], for messages.
pub const TASK_IDS: &str = "digits, digits-permuted, adding, adding-T<T>, mnist5k, pmnist5k, mnist:DIR, pmnist:DIR, \
basic-motions, japanese-vowels, ts:TRAIN.ts,TEST.ts[,standardise], npz:FILE[,test=P][,validation=P], pose:DIR[,frames=N]";

impl TaskSpec {
    /// Parses a task id.
    ///
    /// # Errors
    /// [`DataError::Parameter`] naming the id and listing the accepted ones.
    pub fn parse(id: &str) -> Result<TaskSpec, DataError> {
        let bad = |message: String| DataError::Parameter { what: format!("task `{id}`"), message };
        let unknown = || bad(format!("unknown task; the tasks are: {TASK_IDS}"));
        let spec = match id {
            "digits" => TaskSpec::Digits { permuted: false },
            "digits-permuted" => TaskSpec::Digits { permuted: true },
            "adding" => TaskSpec::Adding { steps: AddingTask::default().steps },
            "mnist5k" => TaskSpec::Mnist5k { permuted: false },
            "pmnist5k" => TaskSpec::Mnist5k { permuted: true },
            "basic-motions" => TaskSpec::BasicMotions,
            "japanese-vowels" => TaskSpec::JapaneseVowels,
            _ => {
                if let Some(t) = id.strip_prefix("adding-T") {
                    let steps: usize =
                        t.parse().map_err(|_| bad("write the length as adding-T<T>, e.g. adding-T100".into()))?;
                    if steps < 10 {
                        return Err(bad(format!("T = {steps}; the adding task needs T ≥ 10")));
                    }
                    TaskSpec::Adding { steps }
                } else if let Some(dir) = id.strip_prefix("mnist:") {
                    TaskSpec::MnistIdx { dir: PathBuf::from(dir), permuted: false }
                } else if let Some(dir) = id.strip_prefix("pmnist:") {
                    TaskSpec::MnistIdx { dir: PathBuf::from(dir), permuted: true }
                } else if let Some(files) = id.strip_prefix("ts:") {
                    let mut parts = files.split(',');
                    let (Some(train), Some(test)) =
                        (parts.next().filter(|p| !p.is_empty()), parts.next().filter(|p| !p.is_empty()))
                    else {
                        return Err(bad("give the training and test file: ts:TRAIN.ts,TEST.ts[,standardise]".into()));
                    };
                    let mut standardise = false;
                    for option in parts {
                        match option {
                            "standardise" | "standardize" => standardise = true,
                            _ => {
                                return Err(bad(format!(
                                    "`{option}`: the only option is `standardise` (per channel, with the training part's mean and standard deviation): ts:TRAIN.ts,TEST.ts,standardise"
                                )))
                            }
                        }
                    }
                    TaskSpec::Ts { train: PathBuf::from(train), test: PathBuf::from(test), standardise }
                } else if let Some(rest) = id.strip_prefix("npz:") {
                    let mut parts = rest.split(',');
                    let file = parts.next().filter(|f| !f.is_empty()).ok_or_else(|| {
                        bad("give the file: npz:FILE.npz[,test=P][,validation=P] (P in percent)".into())
                    })?;
                    let (mut test_percent, mut validation_percent) = (None, None);
                    for option in parts {
                        let (key, value) = option.split_once('=').unwrap_or((option, ""));
                        let percent: u32 = value.parse().ok().filter(|&p| p <= 90).ok_or_else(|| {
                            bad(format!("`{option}`: write test=P or validation=P with P a whole percent 0–90"))
                        })?;
                        match key {
                            "test" => test_percent = Some(percent),
                            "validation" => validation_percent = Some(percent),
                            _ => return Err(bad(format!("`{option}`: the options are test=P and validation=P"))),
                        }
                    }
                    TaskSpec::Npz { file: PathBuf::from(file), test_percent, validation_percent }
                } else if let Some(rest) = id.strip_prefix("pose:") {
                    if rest.is_empty() || rest.starts_with(',') {
                        return Err(bad("give the folder: pose:DIR or pose:DIR,frames=N".into()));
                    }
                    if rest.contains(',') && !rest.contains(",frames=") {
                        return Err(bad("the only option is frames: pose:DIR,frames=N".into()));
                    }
                    match rest.rsplit_once(",frames=") {
                        Some((dir, frames)) => {
                            let frames: usize = frames
                                .parse()
                                .ok()
                                .filter(|&f| f > 0)
                                .ok_or_else(|| bad(format!("frames=`{frames}`: give a whole number ≥ 1")))?;
                            TaskSpec::Pose { dir: PathBuf::from(dir), frames }
                        }
                        None => TaskSpec::Pose { dir: PathBuf::from(rest), frames: POSE_FRAMES_PER_SERIES },
                    }
                } else {
                    return Err(unknown());
                }
            }
        };
        Ok(spec)
    }

    /// The canonical id (what [`parse`](Self::parse) reads back to this spec).
    pub fn id(&self) -> String {
        match self {
            TaskSpec::Digits { permuted: false } => "digits".into(),
            TaskSpec::Digits { permuted: true } => "digits-permuted".into(),
            TaskSpec::Adding { steps } if *steps == AddingTask::default().steps => "adding".into(),
            TaskSpec::Adding { steps } => format!("adding-T{steps}"),
            TaskSpec::Mnist5k { permuted: false } => "mnist5k".into(),
            TaskSpec::Mnist5k { permuted: true } => "pmnist5k".into(),
            TaskSpec::MnistIdx { dir, permuted } => {
                format!("{}:{}", if *permuted { "pmnist" } else { "mnist" }, dir.display())
            }
            TaskSpec::BasicMotions => "basic-motions".into(),
            TaskSpec::JapaneseVowels => "japanese-vowels".into(),
            TaskSpec::Ts { train, test, standardise } => {
                format!("ts:{},{}{}", train.display(), test.display(), if *standardise { ",standardise" } else { "" })
            }
            TaskSpec::Npz { file, test_percent, validation_percent } => {
                let mut id = format!("npz:{}", file.display());
                if let Some(percent) = test_percent {
                    id.push_str(&format!(",test={percent}"));
                }
                if let Some(percent) = validation_percent {
                    id.push_str(&format!(",validation={percent}"));
                }
                id
            }
            TaskSpec::Pose { dir, frames } if *frames == POSE_FRAMES_PER_SERIES => format!("pose:{}", dir.display()),
            TaskSpec::Pose { dir, frames } => format!("pose:{},frames={frames}", dir.display()),
        }
    }

    /// The same task with every relative file or folder path of the id (`mnist:`, `pmnist:`, `ts:`,
    /// `pose:`) joined to `base` and made absolute (canonical where the path exists), so that an id
    /// means the same files wherever it is read from: `flexrnn train` resolves against the working
    /// folder (the card records the absolute id), a scenario against its own folder.
    pub fn resolved(&self, base: &Path) -> TaskSpec {
        let fix = |p: &PathBuf| {
            let joined = if p.is_absolute() { p.clone() } else { base.join(p) };
            joined.canonicalize().unwrap_or(joined)
        };
        match self {
            TaskSpec::MnistIdx { dir, permuted } => TaskSpec::MnistIdx { dir: fix(dir), permuted: *permuted },
            TaskSpec::Ts { train, test, standardise } => {
                TaskSpec::Ts { train: fix(train), test: fix(test), standardise: *standardise }
            }
            TaskSpec::Pose { dir, frames } => TaskSpec::Pose { dir: fix(dir), frames: *frames },
            TaskSpec::Npz { file, test_percent, validation_percent } => {
                TaskSpec::Npz { file: fix(file), test_percent: *test_percent, validation_percent: *validation_percent }
            }
            other => other.clone(),
        }
    }

    /// Loads the data, makes the split and applies the preprocessing.
    ///
    /// # Errors
    /// [`DataError`] from the loaders (naming the file and line) or for a set that cannot be split.
    pub fn load(&self) -> Result<Task, DataError> {
        let id = self.id();
        let mut task = match self {
            TaskSpec::Digits { permuted } => {
                let mut set = load_digits()?;
                if *permuted {
                    set = set.permute_steps(&pixel_permutation(set.steps, PERMUTATION_SEED))?;
                }
                let split = digits_split(&set.labels);
                Task { id: id.clone(), set, split, standardisation: None }
            }
            TaskSpec::Adding { steps } => {
                let [train, validation, test] = ADDING_SIZES;
                let set = AddingTask { steps: *steps }.generate(train + validation + test, ADDING_SEED)?;
                let total = (train + validation + test) as f64;
                let split = Split {
                    seed: ADDING_SEED,
                    test_fraction: test as f64 / total,
                    validation_fraction: validation as f64 / (train + validation) as f64,
                    train: (0..train).collect(),
                    validation: (train..train + validation).collect(),
                    test: (train + validation..train + validation + test).collect(),
                };
                Task { id: id.clone(), set, split, standardisation: None }
            }
            TaskSpec::Mnist5k { permuted } => {
                let mut set = load_mnist5k()?;
                if *permuted {
                    set = set.permute_steps(&pixel_permutation(set.steps, PERMUTATION_SEED))?;
                }
                let split = Split::stratified(&set.labels, set.classes, TASK_SPLIT_SEED, 0.2, 0.1);
                Task { id: id.clone(), set, split, standardisation: None }
            }
            TaskSpec::MnistIdx { dir, permuted } => {
                let train =
                    read_mnist_idx(&find(dir, "train-images-idx3-ubyte")?, &find(dir, "train-labels-idx1-ubyte")?)?;
                let test =
                    read_mnist_idx(&find(dir, "t10k-images-idx3-ubyte")?, &find(dir, "t10k-labels-idx1-ubyte")?)?;
                let mut task = Task::from_parts(&id, TrainTest { train, test }, 0.1)?;
                if *permuted {
                    task.set = task.set.permute_steps(&pixel_permutation(task.set.steps, PERMUTATION_SEED))?;
                }
                task
            }
            TaskSpec::BasicMotions => Task::from_parts(&id, load_basic_motions()?, 0.25)?.standardised(),
            TaskSpec::JapaneseVowels => Task::from_parts(&id, load_japanese_vowels()?, 0.25)?.standardised(),
            TaskSpec::Ts { train, test, standardise } => {
                let parts = TrainTest {
                    train: read_ts(train, MissingValues::Reject)?,
                    test: read_ts(test, MissingValues::Reject)?,
                };
                let task = Task::from_parts(&id, parts, 0.25)?;
                if *standardise {
                    task.standardised()
                } else {
                    task
                }
            }
            TaskSpec::Npz { file, test_percent, validation_percent } => {
                let super::npz::NpzData { set, split: parts } = super::npz::read_npz(file, &id)?;
                let split = match parts {
                    Some(_) if test_percent.is_some() || validation_percent.is_some() => {
                        return Err(DataError::invalid(
                            &file.display().to_string(),
                            format!(
                                "the file has a `split` array and the task id `{id}` gives percentages too: use one or the other (drop test=/validation= to use the file's split)"
                            ),
                        ))
                    }
                    Some(parts) => {
                        let of = |part: SplitPart| -> Vec<usize> { (0..parts.len()).filter(|&i| parts[i] == part).collect() };
                        let (train, validation, test) = (of(SplitPart::Train), of(SplitPart::Validation), of(SplitPart::Test));
                        let n = parts.len() as f64;
                        let rest = (train.len() + validation.len()).max(1) as f64;
                        Split {
                            seed: 0,
                            test_fraction: test.len() as f64 / n,
                            validation_fraction: validation.len() as f64 / rest,
                            train,
                            validation,
                            test,
                        }
                    }
                    None => {
                        let test = f64::from(test_percent.unwrap_or(NPZ_TEST_PERCENT)) / 100.0;
                        let validation = f64::from(validation_percent.unwrap_or(NPZ_VALIDATION_PERCENT)) / 100.0;
                        if set.is_regression() {
                            shuffled_split(set.len(), TASK_SPLIT_SEED, test, validation)
                        } else {
                            Split::stratified(&set.labels, set.classes, TASK_SPLIT_SEED, test, validation)
                        }
                    }
                };
                Task { id: id.clone(), set, split, standardisation: None }
            }
            TaskSpec::Pose { dir, frames } => {
                let train = read_pose(&find(dir, "x_train.txt")?, &find(dir, "y_train.txt")?, *frames)?;
                let test = read_pose(&find(dir, "x_test.txt")?, &find(dir, "y_test.txt")?, *frames)?;
                Task::from_parts(&id, TrainTest { train, test }, 0.25)?.standardised()
            }
        };
        task.set.name = id;
        Ok(task)
    }
}

/// `dir/name`, or `dir/name.gz` when only that exists.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if plain.exists() {
        Ok(plain)
    } else if gz.exists() {
        Ok(gz)
    } else {
        Err(DataError::Invalid {
            name: dir.display().to_string(),
            message: format!("no `{name}` or `{name}.gz` in this folder"),
        })
    }
}

/// A loaded task: one set holding every sequence, its split, and the preprocessing applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The canonical id (also the set's name).
    pub id: String,
    /// Every sequence (training, validation and test parts), preprocessed.
    pub set: SequenceSet,
    /// Which sequences belong to which part.
    pub split: Split,
    /// Per-channel `(mean, standard deviation)` of the training part that were applied, if any.
    pub standardisation: Option<Vec<(f32, f32)>>,
}

impl Task {
    /// Loads a task by id ([`TaskSpec::parse`] then [`TaskSpec::load`]).
    ///
    /// # Errors
    /// As those.
    pub fn load(id: &str) -> Result<Task, DataError> {
        TaskSpec::parse(id)?.load()
    }

    /// The sequences of one part, in index order.
    pub fn part(&self, part: SplitPart) -> SequenceSet {
        self.set.subset(self.split.indices(part))
    }

    /// True for a regression task (the adding task).
    pub fn is_regression(&self) -> bool {
        self.set.is_regression()
    }

    /// One set from a training and a test part: the training part is split into train / validation
    /// (stratified, [`TASK_SPLIT_SEED`], `validation_fraction`), the test part kept whole.
    fn from_parts(id: &str, parts: TrainTest, validation_fraction: f64) -> Result<Task, DataError> {
        let TrainTest { train, test } = parts;
        if train.class_names != test.class_names || train.features != test.features {
            return Err(DataError::invalid(
                id,
                format!(
                    "the test part has {} features and classes {:?}, the training part {} and {:?}",
                    test.features, test.class_names, train.features, train.class_names
                ),
            ));
        }
        let inner = if train.is_regression() {
            // No classes to stratify by: a seeded shuffle, the first share to validation.
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut Pcg64::seed_from_u64(TASK_SPLIT_SEED));
            let n_validation = (validation_fraction * train.len() as f64).round() as usize;
            let (mut validation, mut rest) = (order[..n_validation].to_vec(), order[n_validation..].to_vec());
            validation.sort_unstable();
            rest.sort_unstable();
            Split {
                seed: TASK_SPLIT_SEED,
                test_fraction: 0.0,
                validation_fraction,
                train: rest,
                validation,
                test: Vec::new(),
            }
        } else {
            Split::stratified(&train.labels, train.classes, TASK_SPLIT_SEED, 0.0, validation_fraction)
        };
        if inner.train.is_empty() || inner.validation.is_empty() || test.is_empty() {
            return Err(DataError::invalid(
                id,
                format!(
                    "{} training, {} validation and {} test sequences: each part needs at least one (the validation part is {:.0} % of each class of the training file)",
                    inner.train.len(),
                    inner.validation.len(),
                    test.len(),
                    validation_fraction * 100.0
                ),
            ));
        }
        let n_train = train.len();
        let set = concat(&train, &test);
        let split = Split {
            seed: TASK_SPLIT_SEED,
            test_fraction: test.len() as f64 / set.len().max(1) as f64,
            validation_fraction,
            train: inner.train,
            validation: inner.validation,
            test: (n_train..set.len()).collect(),
        };
        Ok(Task { id: id.to_string(), set, split, standardisation: None })
    }

    /// Standardises every channel with the training part's statistics (padding stays zero).
    fn standardised(mut self) -> Task {
        let features = self.set.features;
        let (mut sum, mut sum_sq, mut count) = (vec![0.0f64; features], vec![0.0f64; features], 0usize);
        for &i in &self.split.train {
            for step in 0..self.set.length(i) {
                for (c, &v) in self.set.frame(i, step).iter().enumerate() {
                    sum[c] += v as f64;
                    sum_sq[c] += (v as f64) * (v as f64);
                }
                count += 1;
            }
        }
        let n = count.max(1) as f64;
        let stats: Vec<(f32, f32)> = (0..features)
            .map(|c| {
                let mean = sum[c] / n;
                let sd = (sum_sq[c] / n - mean * mean).max(0.0).sqrt();
                (mean as f32, if sd > 1e-12 { sd as f32 } else { 1.0 })
            })
            .collect();
        let (steps, set) = (self.set.steps, &mut self.set);
        for i in 0..set.lengths.len() {
            let length = set.lengths[i];
            let start = i * steps * features;
            for frame in set.values[start..start + length * features].chunks_exact_mut(features) {
                for (v, (mean, sd)) in frame.iter_mut().zip(&stats) {
                    *v = (*v - mean) / sd;
                }
            }
        }
        self.standardisation = Some(stats);
        self
    }
}

/// `a` then `b` in one set (zero-padded to the longer `steps`); named after `a`.
fn concat(a: &SequenceSet, b: &SequenceSet) -> SequenceSet {
    let steps = a.steps.max(b.steps);
    let features = a.features;
    let mut values = Vec::with_capacity((a.len() + b.len()) * steps * features);
    for set in [a, b] {
        for i in 0..set.len() {
            values.extend_from_slice(set.sequence(i));
            values.resize(values.len() + (steps - set.steps) * features, 0.0);
        }
    }
    SequenceSet {
        name: a.name.clone(),
        steps,
        features,
        classes: a.classes,
        class_names: a.class_names.clone(),
        values,
        lengths: a.lengths.iter().chain(&b.lengths).copied().collect(),
        labels: a.labels.iter().chain(&b.labels).copied().collect(),
        targets: a.targets.iter().chain(&b.targets).copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_list_the_known_ones() {
        for id in [
            "digits",
            "digits-permuted",
            "adding",
            "adding-T100",
            "mnist5k",
            "pmnist5k",
            "mnist:/data/mnist",
            "pmnist:rel/dir",
            "basic-motions",
            "japanese-vowels",
            "ts:a/Train.ts,b/Test.ts.gz",
            "pose:har",
            "pose:har,frames=33",
        ] {
            assert_eq!(TaskSpec::parse(id).unwrap().id(), id);
        }
        assert_eq!(TaskSpec::parse("adding-T50").unwrap().id(), "adding");
        let message = TaskSpec::parse("cifar").unwrap_err().to_string();
        assert!(message.contains("task `cifar`") && message.contains("basic-motions"), "{message}");
        assert!(TaskSpec::parse("adding-T5").unwrap_err().to_string().contains("T ≥ 10"));
        assert!(TaskSpec::parse("ts:only-one.ts").unwrap_err().to_string().contains("TRAIN.ts,TEST.ts"));
        assert!(TaskSpec::parse("pose:d,frames=0").unwrap_err().to_string().contains("≥ 1"));
    }

    #[test]
    fn adding_task_parts_have_the_documented_sizes() {
        let task = Task::load("adding-T20").unwrap();
        assert!(task.is_regression());
        assert_eq!(task.set.steps, 20);
        assert_eq!(task.part(SplitPart::Train).len(), 10_000);
        assert_eq!(task.part(SplitPart::Validation).len(), 1_000);
        assert_eq!(task.part(SplitPart::Test).len(), 2_000);
        assert_eq!(task.set.name, "adding-T20");
    }

    #[test]
    fn basic_motions_keeps_the_official_test_part_and_standardises_with_training_statistics() {
        let task = Task::load("basic-motions").unwrap();
        let raw = load_basic_motions().unwrap();
        assert_eq!(task.split.test.len(), raw.test.len());
        assert_eq!(task.split.train.len() + task.split.validation.len(), raw.train.len());
        assert_eq!(task.split.validation.len(), 12); // 25 % of 10 per class = 2.5, rounded half away from zero
        let train = task.part(SplitPart::Train);
        let n = (train.len() * train.steps) as f64;
        for c in 0..train.features {
            let mean: f64 = (0..train.len())
                .flat_map(|i| (0..train.steps).map(move |s| (i, s)))
                .map(|(i, s)| train.frame(i, s)[c] as f64)
                .sum::<f64>()
                / n;
            assert!(mean.abs() < 1e-4, "channel {c} mean {mean}");
        }
        let test = task.part(SplitPart::Test);
        assert_eq!(test.labels, raw.test.labels);
        let (mean, sd) = task.standardisation.as_ref().unwrap()[0];
        assert!((test.frame(0, 0)[0] - (raw.test.frame(0, 0)[0] - mean) / sd).abs() < 1e-6);
    }

    #[test]
    fn variable_length_parts_are_padded_to_the_longest() {
        let task = Task::load("japanese-vowels").unwrap();
        let raw = load_japanese_vowels().unwrap();
        assert_eq!(task.set.steps, raw.train.steps.max(raw.test.steps));
        task.set.check().unwrap();
        let test = task.part(SplitPart::Test);
        assert_eq!(test.lengths, raw.test.lengths);
    }

    #[test]
    fn permuted_digits_use_the_seeded_permutation_and_the_digits_split() {
        let plain = Task::load("digits").unwrap();
        let permuted = Task::load("digits-permuted").unwrap();
        assert_eq!(plain.split, permuted.split);
        let permutation = pixel_permutation(64, PERMUTATION_SEED);
        assert_eq!(permuted.set.frame(3, 0), plain.set.frame(3, permutation[0]));
        assert_eq!(permuted.set.name, "digits-permuted");
    }

    #[test]
    fn relative_paths_resolve_against_a_base_folder() {
        let spec = TaskSpec::parse("ts:a/Train.ts,/abs/Test.ts").unwrap().resolved(Path::new("/base"));
        assert_eq!(spec.id(), "ts:/base/a/Train.ts,/abs/Test.ts");
        let spec = TaskSpec::parse("pose:har,frames=33").unwrap().resolved(Path::new("/base"));
        assert_eq!(spec.id(), "pose:/base/har,frames=33");
        assert_eq!(TaskSpec::parse("digits").unwrap().resolved(Path::new("/base")).id(), "digits");
        assert!(TaskSpec::parse("pose:har,fps=4").unwrap_err().to_string().contains("only option is frames"));
        assert!(TaskSpec::parse("pose:").unwrap_err().to_string().contains("give the folder"));
    }

    #[test]
    fn a_regression_ts_pair_is_split_without_classes_and_empty_parts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let series = |n: usize| {
            let mut text = String::from("@problemName r\n@timeStamps false\n@univariate true\n@equalLength true\n@seriesLength 3\n@targetLabel true\n@data\n");
            for i in 0..n {
                text.push_str(&format!("1,2,{i}:{}.5\n", i));
            }
            text
        };
        std::fs::write(dir.path().join("r_TRAIN.ts"), series(20)).unwrap();
        std::fs::write(dir.path().join("r_TEST.ts"), series(10)).unwrap();
        std::fs::write(dir.path().join("one_TRAIN.ts"), series(1)).unwrap();
        let id = |a: &str| format!("ts:{},{}", dir.path().join(a).display(), dir.path().join("r_TEST.ts").display());
        let task = Task::load(&id("r_TRAIN.ts")).unwrap();
        assert!(task.is_regression());
        assert_eq!((task.split.train.len(), task.split.validation.len(), task.split.test.len()), (15, 5, 10));
        let message = Task::load(&id("one_TRAIN.ts")).unwrap_err().to_string();
        assert!(message.contains("0 validation"), "{message}");
    }

    #[test]
    fn a_ts_pair_is_standardised_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let series = |n: usize| {
            let mut text = String::from("@problemName s\n@timeStamps false\n@univariate true\n@equalLength true\n@seriesLength 2\n@classLabel true a b\n@data\n");
            for i in 0..n {
                text.push_str(&format!("{},{}:{}\n", 10 + i, 20 + 2 * i, if i % 2 == 0 { "a" } else { "b" }));
            }
            text
        };
        std::fs::write(dir.path().join("s_TRAIN.ts"), series(20)).unwrap();
        std::fs::write(dir.path().join("s_TEST.ts"), series(6)).unwrap();
        let base = format!("ts:{},{}", dir.path().join("s_TRAIN.ts").display(), dir.path().join("s_TEST.ts").display());
        let raw = Task::load(&base).unwrap();
        assert!(raw.standardisation.is_none());
        // The first training series is 10, 20 as written (sequence 0 of the set: the training part first).
        assert_eq!(raw.set.sequence(0), [10.0, 20.0]);
        let standardised = Task::load(&format!("{base},standardise")).unwrap();
        assert_eq!(standardised.set.name, format!("{base},standardise"));
        let (mean, sd) = standardised.standardisation.as_ref().unwrap()[0];
        assert!(mean > 10.0 && sd > 1.0, "{mean} {sd}");
        assert!((standardised.set.sequence(0)[0] - (10.0 - mean) / sd).abs() < 1e-5);
        assert_eq!(TaskSpec::parse(&format!("{base},standardize")).unwrap().id(), format!("{base},standardise"));
        let message = TaskSpec::parse(&format!("{base},normalise")).unwrap_err().to_string();
        assert!(message.contains("`normalise`: the only option is `standardise`"), "{message}");
        // The named UEA ids keep their standardisation.
        assert!(Task::load("basic-motions").unwrap().standardisation.is_some());
    }

    #[test]
    fn missing_files_are_named() {
        let message = Task::load("pose:/nonexistent-dir").unwrap_err().to_string();
        assert!(message.contains("/nonexistent-dir") && message.contains("x_train.txt"), "{message}");
        let message = Task::load("mnist:/nonexistent-dir").unwrap_err().to_string();
        assert!(message.contains("train-images-idx3-ubyte"), "{message}");
    }
}
