//! `flexrnn seeds`: one shipped folder from model folders trained with different `--seed`.
//!
//! Every folder must hold the same family, task, cell, settings (names, in order; see below), input
//! and outputs, epochs, batch size and data split — the seed is all that may differ, and no seed
//! twice; anything else is refused ([`SeedsError::Mismatch`]). The settings compared and scored are
//! what the seeds share: for a ThrRNN (`thr`) the card's whole knob grid, every grid threshold of
//! every Skip-RNN in card order (names such as `thr-64-1e-3@thr=0.55`, scored through
//! [`FlexibleModel::add_setting`] at that threshold) — not the simulator's setting list, which is that
//! grid thinned by each seed's own measured values and so differs between seeds; for the other
//! families their settings (SkipW's are `K = 0..=L` and `K = L, thr = 0` whatever was measured, so
//! they are not thinned). Each seed's every setting is scored alone on
//! the task's test split through [`FlexibleModel`] (as `flexrnn eval` scores the settings alone), and
//! the card of the shipped seed gets a [`CardSeeds`] section: per seed its score per setting (and
//! update share for the families that skip steps: `thr`, `skipw`) and train wall time, per setting the
//! mean and sample standard deviation over seeds. Pure apart from reading the folders: the CLI writes
//! the files of [`shipped_files`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{measure, Metric, Schedule};
use crate::data::SequenceSet;
use crate::rnn::io::{
    BankCard, Card, CardSeedRun, CardSeedSummary, CardSeeds, FamilyPart, ModelIoError, NestedCard, SkipWCard,
};
use crate::rnn::FlexibleModel;

/// Errors of `flexrnn seeds` and of reading a card's seeds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedsError {
    /// A folder or its card could not be read.
    #[error(transparent)]
    Model(#[from] ModelIoError),
    /// The folders are not the same model trained with different seeds.
    #[error("{0}")]
    Mismatch(String),
    /// A wrong request (too few folders, `--ship` naming no folder's seed, …).
    #[error("{0}")]
    Usage(String),
}

/// One seed folder, loaded.
#[derive(Debug)]
pub struct SeedFolder {
    /// The folder.
    pub dir: PathBuf,
    /// Its model.
    pub model: FlexibleModel,
    /// Its card as JSON (for the fields every card type shares).
    pub card: serde_json::Value,
    /// `training.seed`.
    pub seed: u64,
    /// `training.wall_time_s`, seconds.
    pub wall_time_s: f64,
    /// Names of the settings compared and scored (see the module doc), in order.
    pub settings: Vec<String>,
    /// Index in [`Self::model`]'s settings of each of [`Self::settings`].
    pub indices: Vec<usize>,
}

impl SeedFolder {
    /// Loads a model folder and the fields of its card that `flexrnn seeds` compares.
    ///
    /// # Errors
    /// [`SeedsError::Model`] if the folder does not load; [`SeedsError::Mismatch`] if its card lacks
    /// `training.seed` or `training.wall_time_s`, or a ThrRNN card's grid threshold is not a setting
    /// of its model's range.
    pub fn load(dir: &Path) -> Result<SeedFolder, SeedsError> {
        let mut model = FlexibleModel::load(dir)?;
        let (card, path): (serde_json::Value, PathBuf) = crate::rnn::io::read_card_json(dir)?;
        let training = &card["training"];
        let (Some(seed), Some(wall_time_s)) = (training["seed"].as_u64(), training["wall_time_s"].as_f64()) else {
            return Err(SeedsError::Mismatch(format!(
                "{}: the card has no `training.seed` and `training.wall_time_s`",
                path.display()
            )));
        };
        let names = if model.family() == "thr" { thr_grid_names(&card) } else { Vec::new() };
        let (settings, indices) =
            if !names.is_empty() {
                let mut indices = Vec::with_capacity(names.len());
                for name in &names {
                    indices.push(model.add_setting(name).map_err(|e| {
                        SeedsError::Mismatch(format!("{}: knob grid point `{name}`: {e}", path.display()))
                    })?);
                }
                (names, indices)
            } else {
                (model.settings().iter().map(|s| s.name.clone()).collect(), (0..model.settings().len()).collect())
            };
        Ok(SeedFolder { dir: dir.to_path_buf(), model, card, seed, wall_time_s, settings, indices })
    }

    fn name(&self) -> String {
        self.dir.file_name().map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// The grid points of a ThrRNN card (`thr` family): per model of `models`, in card order, every
/// `knob_grid` point's `thr` ascending, named `<model>@thr=<thr>` with `thr` as `f32` prints it (the
/// names [`FlexibleModel`] gives its settings). Empty for a card without a knob grid (the settings
/// are then the model's own).
pub fn thr_grid_names(card: &serde_json::Value) -> Vec<String> {
    let mut names = Vec::new();
    for model in card["models"].as_array().map_or(&[][..], Vec::as_slice) {
        let Some(name) = model["name"].as_str() else { continue };
        let mut thrs: Vec<f32> = model["knob_grid"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|p| p["knobs"]["thr"].as_f64())
            .map(|thr| thr as f32)
            .filter(|thr| thr.is_finite())
            .collect();
        thrs.sort_by(f32::total_cmp);
        thrs.dedup();
        names.extend(thrs.into_iter().map(|thr| format!("{name}@thr={thr}")));
    }
    names
}

/// The training recipe a card's `training.command` spells: the arguments after `train`, without
/// `--seed`, `--out`, `--threads` and `--jobs` (with their values, `--flag value` or `--flag=value`)
/// — what two seeds of one model share. Empty for a card without a command.
pub fn training_recipe(command: &str) -> String {
    let tokens: Vec<&str> = command.split_whitespace().collect();
    let Some(start) = tokens.iter().position(|t| *t == "train") else { return String::new() };
    let per_run = ["--seed", "--out", "--threads", "--jobs"];
    let mut kept = Vec::new();
    let mut rest = tokens[start + 1..].iter();
    while let Some(token) = rest.next() {
        if per_run.contains(token) {
            rest.next();
        } else if !per_run.iter().any(|flag| token.starts_with(&format!("{flag}="))) {
            kept.push(*token);
        }
    }
    kept.join(" ")
}

/// Checks that `folders` (at least two) are one model trained with different seeds: same family,
/// task, cell, input size, outputs, setting names, epochs, batch size, split and training recipe
/// ([`training_recipe`]: every `flexrnn train` argument but the seed and the output folder), distinct
/// seeds.
///
/// # Errors
/// [`SeedsError::Usage`] for fewer than two folders; [`SeedsError::Mismatch`] naming the first
/// folder and field that differ from the first folder's.
pub fn check_same_model(folders: &[SeedFolder]) -> Result<(), SeedsError> {
    let Some(first) = folders.first().filter(|_| folders.len() >= 2) else {
        return Err(SeedsError::Usage("give at least two seed folders to combine".into()));
    };
    let describe = |f: &SeedFolder| -> Vec<(&'static str, String)> {
        let names: Vec<&str> = f.settings.iter().map(String::as_str).collect();
        vec![
            ("family", f.model.family().to_string()),
            ("task", f.model.task().to_string()),
            ("cell", f.model.cell_kind().as_str().to_string()),
            ("input size", f.model.input_size().to_string()),
            ("outputs", f.model.classes().to_string()),
            ("settings", names.join(", ")),
            ("training.epochs", f.card["training"]["epochs"].to_string()),
            ("training.batch_size", f.card["training"]["batch_size"].to_string()),
            ("training.split (the data split)", f.card["training"]["split"].to_string()),
            (
                "training command (without --seed and --out)",
                training_recipe(f.card["training"]["command"].as_str().unwrap_or("")),
            ),
        ]
    };
    let reference = describe(first);
    for folder in &folders[1..] {
        for ((field, want), (_, got)) in reference.iter().zip(describe(folder)) {
            if *want != got {
                let shown = |v: &str| {
                    if v.chars().count() > 120 {
                        format!("{}…", v.chars().take(120).collect::<String>())
                    } else {
                        v.to_string()
                    }
                };
                return Err(SeedsError::Mismatch(format!(
                    "{}: {field} `{}`, but {} has `{}`; flexrnn seeds combines folders of the same family, task and settings trained with different --seed",
                    folder.dir.display(),
                    shown(&got),
                    first.dir.display(),
                    shown(want)
                )));
            }
        }
    }
    for (i, folder) in folders.iter().enumerate() {
        if let Some(other) = folders[..i].iter().find(|f| f.seed == folder.seed) {
            return Err(SeedsError::Mismatch(format!(
                "{} and {} were both trained with seed {}; give folders of different seeds",
                other.dir.display(),
                folder.dir.display(),
                folder.seed
            )));
        }
    }
    Ok(())
}

/// True for the families whose settings skip steps (an update share below 1 is possible).
fn has_update_share(family: &str) -> bool {
    matches!(family, "thr" | "skipw")
}

/// One seed's scores: every setting of [`SeedFolder::settings`] alone on `test` (settings in
/// parallel when `parallel`; the result does not depend on it).
pub fn seed_run(folder: &SeedFolder, test: &SequenceSet, parallel: bool) -> CardSeedRun {
    let one = |j: &usize| measure(&folder.model, test, &Schedule::constant(*j));
    let measured: Vec<_> =
        if parallel { folder.indices.par_iter().map(one).collect() } else { folder.indices.iter().map(one).collect() };
    CardSeedRun {
        seed: folder.seed,
        folder: folder.name(),
        train_wall_time_s: folder.wall_time_s,
        scores: measured.iter().map(|m| m.score).collect(),
        update_shares: if has_update_share(folder.model.family()) {
            measured.iter().map(|m| m.update_share).collect()
        } else {
            Vec::new()
        },
    }
}

/// Mean and sample standard deviation (divisor `n − 1`; 0 for one value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The `seeds` section from the runs of every seed (in the order given), `shipped` the seed whose
/// weights ship.
pub fn combine(settings: &[String], metric: Metric, shipped: u64, runs: Vec<CardSeedRun>) -> CardSeeds {
    let summary = settings
        .iter()
        .enumerate()
        .map(|(j, setting)| {
            let (mean, sd) = mean_sd(&runs.iter().map(|r| r.scores[j]).collect::<Vec<_>>());
            let shares: Vec<f64> = runs.iter().filter_map(|r| r.update_shares.get(j).copied()).collect();
            let share = (shares.len() == runs.len() && !shares.is_empty()).then(|| mean_sd(&shares));
            CardSeedSummary {
                setting: setting.clone(),
                mean,
                sd,
                update_share_mean: share.map(|s| s.0),
                update_share_sd: share.map(|s| s.1),
            }
        })
        .collect();
    CardSeeds {
        shipped,
        metric: match metric {
            Metric::Accuracy => "accuracy".into(),
            Metric::Mse => "mse".into(),
        },
        settings: settings.to_vec(),
        runs,
        summary,
    }
}

/// Index of the shipped folder: the one trained with `ship`, or the first.
///
/// # Errors
/// [`SeedsError::Usage`] if no folder has seed `ship`.
pub fn shipped_index(folders: &[SeedFolder], ship: Option<u64>) -> Result<usize, SeedsError> {
    match ship {
        None => Ok(0),
        Some(seed) => folders.iter().position(|f| f.seed == seed).ok_or_else(|| {
            let seeds: Vec<String> = folders.iter().map(|f| f.seed.to_string()).collect();
            SeedsError::Usage(format!(
                "--ship {seed}: no folder was trained with that seed (seeds: {})",
                seeds.join(", ")
            ))
        }),
    }
}

/// The card of `dir` (any family, read as its own card type so it reloads unchanged) with `seeds`
/// set, as pretty JSON.
///
/// # Errors
/// [`ModelIoError`] if the card cannot be read or has an unknown family.
pub fn card_with_seeds(dir: &Path, seeds: CardSeeds) -> Result<Vec<u8>, ModelIoError> {
    fn with_seeds<F: FamilyPart>(dir: &Path, seeds: CardSeeds) -> Result<Vec<u8>, ModelIoError> {
        let (mut card, path): (Card<F>, PathBuf) = crate::rnn::io::read_card_json(dir)?;
        card.seeds = Some(seeds);
        serde_json::to_vec_pretty(&card).map_err(|source| ModelIoError::Card { path, source })
    }
    #[derive(serde::Deserialize)]
    struct FamilyOnly {
        family: String,
    }
    let (family, path): (FamilyOnly, PathBuf) = crate::rnn::io::read_card_json(dir)?;
    match family.family.as_str() {
        "switch" | "gru" | "thr" => with_seeds::<BankCard>(dir, seeds),
        "skipw" => with_seeds::<SkipWCard>(dir, seeds),
        "nested" => with_seeds::<NestedCard>(dir, seeds),
        other => Err(ModelIoError::Family { path, family: other.to_string() }),
    }
}

/// The files of the shipped folder: every regular, non-hidden file at the top of `dir` (weights)
/// except `card.json`, then `card.json` with `seeds` ([`card_with_seeds`]). Hidden files (the output
/// marker, staging files) are not copied.
///
/// # Errors
/// [`ModelIoError::Io`] if the folder or a file cannot be read; as [`card_with_seeds`].
pub fn shipped_files(dir: &Path, seeds: CardSeeds) -> Result<Vec<(PathBuf, Vec<u8>)>, ModelIoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelIoError::Io { path, source }
    };
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "card.json" || !entry.file_type().map_err(io(&entry.path()))?.is_file() {
            continue;
        }
        names.push(name);
    }
    names.sort();
    let mut files = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = crate::input::read_bytes(&path, crate::input::DATA_LIMIT, "model files").map_err(io(&path))?;
        files.push((PathBuf::from(name), bytes));
    }
    files.push((PathBuf::from("card.json"), card_with_seeds(dir, seeds)?));
    Ok(files)
}

/// The `seeds` section of the card in `dir`, if it has one.
///
/// # Errors
/// [`ModelIoError`] if the card cannot be read or its `seeds` section is malformed.
pub fn read_seeds(dir: &Path) -> Result<Option<CardSeeds>, ModelIoError> {
    #[derive(serde::Deserialize)]
    struct SeedsOnly {
        #[serde(default)]
        seeds: Option<CardSeeds>,
    }
    let (card, _): (SeedsOnly, PathBuf) = crate::rnn::io::read_card_json(dir)?;
    Ok(card.seeds)
}

/// `seeds.csv`: per setting the number of seeds, mean, standard deviation, smallest and largest
/// score, the update share's mean and sd where recorded, then each seed's score (`seed_<n>` columns).
pub fn seeds_csv(seeds: &CardSeeds) -> Vec<u8> {
    let digits = if seeds.metric == "mse" { 8 } else { 6 };
    let mut header =
        format!("setting,seeds,mean_{m},sd_{m},min_{m},max_{m},update_share_mean,update_share_sd", m = seeds.metric);
    for run in &seeds.runs {
        let _ = write!(header, ",seed_{}", run.seed);
    }
    let rows = seeds.summary.iter().enumerate().map(|(j, s)| {
        let scores: Vec<f64> = seeds.runs.iter().map(|r| r.scores[j]).collect();
        let (lo, hi) = scores.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let mut row = vec![
            s.setting.clone(),
            scores.len().to_string(),
            format!("{:.digits$}", s.mean),
            format!("{:.digits$}", s.sd),
            format!("{lo:.digits$}"),
            format!("{hi:.digits$}"),
            opt(s.update_share_mean),
            opt(s.update_share_sd),
        ];
        row.extend(scores.iter().map(|v| format!("{v:.digits$}")));
        row
    });
    super::csv_table(&header, rows)
}

/// The `--seeds` view as Markdown: per setting mean ± sd over seeds (accuracy in %, or MSE), range,
/// update share, and each seed's train wall time.
pub fn seeds_md(seeds: &CardSeeds) -> String {
    let mut out = String::new();
    let list: Vec<String> = seeds.runs.iter().map(|r| r.seed.to_string()).collect();
    let _ = writeln!(
        out,
        "## Over seeds\n\n{} seeds ({}; shipped: {}), each setting alone on the test split; mean ± sample standard deviation (n − 1).\n",
        seeds.runs.len(),
        list.join(", "),
        seeds.shipped
    );
    let accuracy = seeds.metric != "mse";
    let _ = writeln!(
        out,
        "| setting | {} mean ± sd | min | max | updated steps |\n|---|---:|---:|---:|---:|",
        if accuracy { "accuracy (%)" } else { "MSE" }
    );
    for (j, s) in seeds.summary.iter().enumerate() {
        let scores: Vec<f64> = seeds.runs.iter().map(|r| r.scores[j]).collect();
        let (lo, hi) = scores.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        let share = match (s.update_share_mean, s.update_share_sd) {
            (Some(m), Some(sd)) => format!("{:.1} ± {:.1} %", m * 100.0, sd * 100.0),
            _ => "–".into(),
        };
        let row = if accuracy {
            format!("{:.1} ± {:.1} | {:.1} | {:.1}", s.mean * 100.0, s.sd * 100.0, lo * 100.0, hi * 100.0)
        } else {
            format!("{:.6} ± {:.6} | {lo:.6} | {hi:.6}", s.mean, s.sd)
        };
        let _ = writeln!(out, "| {} | {row} | {share} |", s.setting);
    }
    let times: Vec<String> =
        seeds.runs.iter().map(|r| format!("seed {} {:.0} s", r.seed, r.train_wall_time_s)).collect();
    let _ = writeln!(out, "\nTraining wall time: {}.", times.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd_by_hand() {
        // 0.852, 0.911, 0.889 (the gru-16 seeds): mean 0.884, deviations −0.032, 0.027, 0.005,
        // squares sum 0.001024 + 0.000729 + 0.000025 = 0.001778, /2 = 0.000889, sd 0.029816…
        let (mean, sd) = mean_sd(&[0.852, 0.911, 0.889]);
        assert!((mean - 0.884).abs() < 1e-12 && (sd - 0.000889f64.sqrt()).abs() < 1e-12, "{mean} {sd}");
        assert_eq!(mean_sd(&[2.0, 4.0]), (3.0, 2f64.sqrt()));
        assert_eq!(mean_sd(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn the_recipe_is_the_command_without_seed_out_and_threads() {
        let command = "RAYON_NUM_THREADS=1 flexrnn train --family thr --lambda 1e-4 --seed 2 --out /tmp/a b --threads=2 --epochs 3";
        assert_eq!(training_recipe(command), "--family thr --lambda 1e-4 b --epochs 3");
        let other_seed = "flexrnn train --family thr --lambda 1e-4 --seed=7 --out x b --epochs 3";
        assert_eq!(training_recipe(other_seed), training_recipe(command));
        assert_ne!(training_recipe("flexrnn train --family thr --lambda 1e-3 b --epochs 3"), training_recipe(command));
        assert_eq!(training_recipe("no command here"), "");
    }

    #[test]
    fn combine_summarises_each_setting_over_seeds() {
        let run = |seed: u64, scores: Vec<f64>, shares: Vec<f64>| CardSeedRun {
            seed,
            folder: format!("s{seed}"),
            train_wall_time_s: 1.0,
            scores,
            update_shares: shares,
        };
        let settings = vec!["a".to_string(), "b".to_string()];
        let seeds = combine(
            &settings,
            Metric::Accuracy,
            2,
            vec![run(1, vec![0.8, 0.9], vec![1.0, 0.5]), run(2, vec![0.6, 0.9], vec![1.0, 0.3])],
        );
        assert_eq!(seeds.summary[0].mean, 0.7);
        assert!((seeds.summary[0].sd - 0.2 / 2f64.sqrt()).abs() < 1e-15);
        assert_eq!((seeds.summary[1].mean, seeds.summary[1].sd), (0.9, 0.0));
        assert_eq!(seeds.summary[1].update_share_mean, Some(0.4));
        let csv = String::from_utf8(seeds_csv(&seeds)).unwrap();
        assert!(csv.starts_with("setting,seeds,mean_accuracy,sd_accuracy,min_accuracy,max_accuracy,update_share_mean,update_share_sd,seed_1,seed_2\n"), "{csv}");
        assert!(
            csv.contains("\na,2,0.700000,0.141421,0.600000,0.800000,1.000000,0.000000,0.800000,0.600000\n"),
            "{csv}"
        );
        let md = seeds_md(&seeds);
        assert!(md.contains("| a | 70.0 ± 14.1 | 60.0 | 80.0 | 100.0 ± 0.0 % |"), "{md}");
        assert!(md.contains("2 seeds (1, 2; shipped: 2)"), "{md}");
    }
}
