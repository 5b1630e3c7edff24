//! `flexrnn eval`: the weighted-average check.

use std::process::Command;

use flexrnn::data::{digits_split, load_digits, Split, SplitPart, Task};
use flexrnn::eval::{evaluate, measure, outputs, weighted_prediction, EvalConfig, Metric, RunKind, Schedule};
use flexrnn::rnn::{FlexibleModel, GruClassifier, ModelBank, RnnCell, StateMap};
use flexrnn::train::bank::{train_bank, BankConfig};
use flexrnn::train::TrainConfig;

use crate::at;

/// A schedule that never changes setting is predicted exactly: measured == predicted, bit for bit —
/// also when written as two segments of the same setting.
#[test]
fn a_schedule_without_change_is_predicted_exactly() {
    let set = load_digits().unwrap();
    let test = set.subset(&digits_split(&set.labels).test);
    for dir in ["models/digits-gru", "models/digits-thr", "models/digits-skipw", "models/digits-nested"] {
        let model = FlexibleModel::load(&at(dir)).unwrap();
        let config = EvalConfig { change_every: 32, schedules: 2, seed: 5, max_changes: 2 };
        let evaluation = evaluate(&model, dir, &test, &config, false).unwrap();
        let alone: Vec<_> = evaluation.runs.iter().filter(|r| matches!(r.kind, RunKind::Alone { .. })).collect();
        assert_eq!(alone.len(), model.settings().len());
        for run in &alone {
            assert_eq!(run.measured.score, run.predicted_score, "{dir}");
            assert_eq!(run.measured.flops_per_step, run.predicted_flops_per_step, "{dir}");
            assert_eq!((run.accuracy_deviation_pp(), run.flops_deviation_pct()), (0.0, 0.0));
        }
        // "Changing" to the same setting at step 20 is no change.
        let accuracies: Vec<f64> = evaluation.alone.iter().map(|m| m.score).collect();
        let split = Schedule { segments: vec![(0, 1), (20, 1)], late_share: None };
        let measured = measure(&model, &test, &split);
        assert_eq!(measured, evaluation.alone[1]);
        let steps = split.steps_per_setting(model.settings().len(), test.steps);
        assert_eq!(weighted_prediction(&steps, &accuracies), measured.score);
        // Runs: settings alone, 2 directions × 1 change position per pair, 2 random schedules.
        assert_eq!(evaluation.runs.len(), model.settings().len() + evaluation.pairs.len() * 2 + 2);
        // Parallel and sequential give the same results.
        let parallel = evaluate(&model, dir, &test, &config, true).unwrap();
        assert_eq!(parallel.runs, evaluation.runs);
        if model.family() == "nested" {
            // A width change costs nothing, so FLOPs follow the step-weighted average exactly.
            assert!(evaluation.runs.iter().all(|r| r.flops_deviation_pct().abs() < 1e-9), "{dir}");
        }
    }
}

#[test]
fn eval_cli_writes_the_documented_files_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .current_dir(crate::root())
            .args(["eval", "models/digits-thr", "--schedules", "4", "--seed", "7", "--change-every", "16", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    let stdout = run(&first);
    assert!(stdout.contains("Weighted-average check") && stdout.contains("all runs with changes"), "{stdout}");
    run(&second);
    let files = ["eval.csv", "settings.csv", "summary.md", "checks.csv", "pairs.csv", "checks.json"]
        .map(String::from)
        .into_iter()
        .chain(["change_accuracy", "change_flops", "measured_vs_predicted", "deviation_intervals"].iter().flat_map(
            |stem| {
                ["", "-wide"].iter().flat_map(move |suffix| {
                    ["svg", "pdf", "png"].iter().map(move |extension| format!("{stem}{suffix}.{extension}"))
                })
            },
        ))
        .collect::<Vec<String>>();
    for file in &files {
        let a = std::fs::read(first.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(a, std::fs::read(second.join(file)).unwrap(), "{file}: same inputs, same bytes");
    }
    assert_eq!(std::fs::read_dir(&first).unwrap().count(), files.len() + 1, "and the marker .flexrnn-output.json");
    let csv = std::fs::read_to_string(first.join("eval.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "family,kind,schedule,a,b,s,steps_per_setting,measured_accuracy,predicted_accuracy,accuracy_deviation_pp,measured_flops_per_step,predicted_flops_per_step,flops_deviation_pct,update_share"
    );
    // 26 settings alone (two Skip-GRUs' thinned grids), 26 pairs × 2 directions × 3 positions
    // (16, 32, 48), 4 random schedules.
    assert_eq!(lines.count(), 26 + 26 * 2 * 3 + 4);
    assert!(csv.contains("thr,change,thr-64-3e-3@thr=1.01@0;thr-64-3e-3@thr=1@16,"), "{csv}");
    // A folder that flexrnn eval did not write is not replaced.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
        .current_dir(crate::root())
        .args(["eval", "models/digits-thr", "--schedules", "1", "--out"])
        .arg(&foreign)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(std::fs::read_to_string(foreign.join("notes.txt")).unwrap(), "mine");
}

/// A regression model end to end: a bank of widths 4 and 8 trained for 2 epochs on a small part of
/// the adding task with T = 10 (its card records the task), evaluated on 200 test sequences. Every
/// setting alone has the MSE computed independently from the model's outputs, and is predicted
/// exactly; a change at s = 5 is predicted as ½ · MSE_a + ½ · MSE_b.
#[test]
fn a_trained_regression_model_is_evaluated_in_mse() {
    let task = Task::load("adding-T10").unwrap();
    let part = |part: SplitPart, n: usize| task.split.indices(part)[..n].to_vec();
    let split = Split {
        train: part(SplitPart::Train, 400),
        validation: part(SplitPart::Validation, 100),
        test: part(SplitPart::Test, 200),
        ..task.split.clone()
    };
    let config = BankConfig {
        widths: vec![4, 8],
        base: TrainConfig {
            hidden: 4,
            epochs: 2,
            batch_size: 50,
            learning_rate: 1e-2,
            clip_norm: 1.0,
            seed: 3,
            cell: Default::default(),
            micro_batches: 1,
            threads: 1,
        },
        command: "test".into(),
    };
    let trained = train_bank(&task.set, &split, &config, |_| {}).unwrap();
    let model = FlexibleModel::from_bank(trained.bank.clone(), Some(&trained.card));
    assert_eq!((model.task(), model.classes()), ("adding-T10", 1));
    let test = task.set.subset(&split.test);
    let config = EvalConfig { change_every: 5, schedules: 3, seed: 1, max_changes: 2 };
    let e = evaluate(&model, "tiny-adding", &test, &config, false).unwrap();
    assert_eq!(e.metric, Metric::Mse);
    assert_eq!((e.steps, e.total_steps), (10, 2000));
    for (setting, measured) in e.alone.iter().enumerate() {
        // The same model's own outputs, squared errors summed in f64 as the eval does.
        let gru = &trained.bank.models()[setting];
        let mut output = [0.0f32];
        let sum: f64 = (0..test.len())
            .map(|i| {
                gru.outputs(test.unpadded(i), &mut output);
                (output[0] as f64 - test.targets[i] as f64).powi(2)
            })
            .sum();
        let mse = sum / test.len() as f64;
        assert_eq!(measured.score, mse, "{}", gru.name);
        assert_eq!(Some(measured.score), model.settings()[setting].expected_mse, "the card's test MSE");
        assert!(mse > 0.0 && mse < 1.0, "{mse}");
        let run = &e.runs[setting];
        assert!(matches!(run.kind, RunKind::Alone { setting: s } if s == setting));
        assert_eq!(
            (run.measured.score, run.measured.flops_per_step),
            (run.predicted_score, run.predicted_flops_per_step)
        );
        assert_eq!((run.score_deviation(), run.score_deviation_pct()), (0.0, 0.0));
    }
    let (mse_4, mse_8) = (e.alone[0].score, e.alone[1].score);
    for run in &e.runs {
        if let RunKind::Change { s: 5, .. } = run.kind {
            assert_eq!(run.sequence_steps_per_setting, [1000, 1000]);
            assert!((run.predicted_score - (0.5 * mse_4 + 0.5 * mse_8)).abs() < 1e-15);
            assert_eq!(run.score_deviation(), run.measured.score - run.predicted_score);
        }
    }
    // 2 alone, 1 pair × 2 directions × 1 position (s = 5), 3 random schedules.
    assert_eq!(e.runs.len(), 2 + 2 + 3);
    let files = outputs(&e, &model).unwrap();
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    assert!(
        names.contains(&"change_mse.svg".to_string()) && !names.iter().any(|n| n.contains("accuracy")),
        "{names:?}"
    );
    let csv = String::from_utf8(e.eval_csv()).unwrap();
    assert!(
        csv.starts_with(
            "family,kind,schedule,a,b,s,steps_per_setting,measured_mse,predicted_mse,mse_deviation,mse_deviation_pct,"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + e.runs.len());
    let svg = String::from_utf8(files.iter().find(|(p, _)| p.ends_with("change_mse.svg")).unwrap().1.clone()).unwrap();
    assert!(svg.contains(">\nMSE\n</text>") && !svg.contains("accuracy"), "the axis says MSE");
}

/// Variable length on real data: JapaneseVowels' test part (370 sequences of 7–29 steps) through a
/// hand-made bank (zero weights; FLOPs do not depend on them). Each sequence runs its own length, so
/// a change at `s` reaches only the sequences longer than `s`: the steps before the change are
/// `Σ_i min(L_i, s)`, and the measured FLOPs exceed the pooled prediction by exactly the maps of the
/// sequences that did switch.
#[test]
fn variable_length_sequences_change_only_if_they_reach_the_change() {
    let task = Task::load("japanese-vowels").unwrap();
    let test = task.part(SplitPart::Test);
    assert!(!test.is_fixed_length());
    let (features, classes) = (test.features, test.classes);
    let gru = |name: &str, hidden: usize| GruClassifier {
        name: name.into(),
        cell: RnnCell::gru(
            features,
            hidden,
            vec![0.0; 3 * hidden * features],
            vec![0.0; 3 * hidden * hidden],
            vec![0.0; 3 * hidden],
            vec![0.0; 3 * hidden],
        )
        .unwrap(),
        readout_weight: vec![0.0; classes * hidden],
        readout_bias: (0..classes).map(|c| c as f32).collect(),
    };
    let map = |from: usize, to: usize| StateMap {
        from_hidden: from,
        to_hidden: to,
        weight: vec![0.0; from * to],
        bias: vec![0.0; to],
    };
    let bank =
        ModelBank::new(vec![gru("small", 3), gru("large", 5)], vec![(0, 1, map(3, 5)), (1, 0, map(5, 3))]).unwrap();
    let model = FlexibleModel::from_bank(bank, None);
    let config = EvalConfig { change_every: 4, schedules: 2, seed: 1, max_changes: 2 };
    let e = evaluate(&model, "vowels", &test, &config, false).unwrap();
    let longest = *test.lengths.iter().max().unwrap();
    let total: usize = test.lengths.iter().sum();
    assert_eq!((e.steps, e.shortest, e.total_steps), (longest, *test.lengths.iter().min().unwrap(), total));
    let mut changes = 0;
    for run in &e.runs {
        let RunKind::Change { a, b, s, .. } = run.kind else { continue };
        changes += 1;
        assert!(s < longest);
        let before: usize = test.lengths.iter().map(|&l| l.min(s)).sum();
        assert_eq!(run.sequence_steps_per_setting[a], before);
        assert_eq!(run.sequence_steps_per_setting[b], total - before);
        let switched = test.lengths.iter().filter(|&&l| l > s).count();
        let extra = (switched as u64 * model.switch_flops(a, b)) as f64 / total as f64;
        assert!((run.measured.flops_per_step - run.predicted_flops_per_step - extra).abs() < 1e-9, "{s}");
    }
    // Pairs: one; positions 4, 8, … below the longest length, in both directions.
    assert_eq!(changes, 2 * ((longest - 1) / 4));
    let csv = String::from_utf8(e.eval_csv()).unwrap();
    assert!(csv.lines().next().unwrap().contains(",steps_per_setting,sequence_steps_per_setting,measured_accuracy,"));
    assert!(e.summary_md().contains(&format!("{} test sequences of {}–{longest} steps", test.len(), e.shortest)));
}

/// A card whose task cannot be loaded is refused with the folder and the task id named.
#[test]
fn eval_cli_names_the_folder_and_task_it_cannot_load() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("moved-model");
    std::fs::create_dir(&model_dir).unwrap();
    for entry in std::fs::read_dir(crate::at("models/digits-gru")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model_dir.join(path.file_name().unwrap())).unwrap();
    }
    let card = std::fs::read_to_string(model_dir.join("card.json")).unwrap();
    let card = card.replacen("\"task\": \"digits\"", "\"task\": \"pose:/nonexistent-har\"", 1);
    std::fs::write(model_dir.join("card.json"), card).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
        .args(["eval", "--out"])
        .arg(dir.path().join("out"))
        .arg(&model_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("moved-model") && stderr.contains("pose:/nonexistent-har"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

/// `flexrnn seeds` on two tiny banks trained with seeds 1 and 2 (widths 4 and 8, one epoch): the
/// shipped card is seed 2's card plus a `seeds` section whose scores are each seed's own test
/// accuracies, with mean (x₁ + x₂)/2 and sample sd |x₁ − x₂|/√2; the weights are seed 2's, byte for
/// byte, and still reproduce through `FlexibleModel`; `flexrnn eval --seeds` shows the spread.
/// Folders of other settings, or of the same seed, are refused with a clear error.
#[test]
fn seeds_combines_tiny_seed_folders_and_refuses_mismatched_ones() {
    use flexrnn::rnn::io::{BankCard, Card};
    let dir = tempfile::tempdir().unwrap();
    let flexrnn = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flexrnn"));
        command.env("RAYON_NUM_THREADS", "1");
        command
    };
    let train = |seed: &str, widths: &str, name: &str| {
        let out = dir.path().join(name);
        let output = flexrnn()
            .args(["train", "--widths", widths, "--epochs", "1", "--seed", seed, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        out
    };
    let card_of = |dir: &std::path::Path| -> Card<BankCard> {
        serde_json::from_slice(&std::fs::read(dir.join("card.json")).unwrap()).unwrap()
    };
    let (one, two) = (train("1", "4,8", "s1"), train("2", "4,8", "s2"));
    let shipped = dir.path().join("shipped");
    let output = flexrnn().args(["seeds", "--ship", "2", "--out"]).arg(&shipped).arg(&one).arg(&two).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("## Over seeds") && stdout.contains("(weights of seed 2)"), "{stdout}");
    let (c1, c2) = (card_of(&one), card_of(&two));
    let mut card = card_of(&shipped);
    let seeds = card.seeds.take().expect("a seeds section");
    assert_eq!(card, c2, "apart from `seeds`, the shipped card is seed 2's");
    assert_eq!((seeds.shipped, seeds.metric.as_str()), (2, "accuracy"));
    assert_eq!(seeds.settings, ["gru-4", "gru-8"]);
    assert_eq!(seeds.runs.iter().map(|r| (r.seed, r.folder.as_str())).collect::<Vec<_>>(), [(1, "s1"), (2, "s2")]);
    assert_eq!(seeds.runs[0].train_wall_time_s, c1.training_wall_time_s());
    assert!(seeds.runs.iter().all(|r| r.update_shares.is_empty()), "a switching bank updates every step");
    for j in 0..2 {
        let (x1, x2) = (c1.family.models[j].test_accuracy.unwrap(), c2.family.models[j].test_accuracy.unwrap());
        assert!((seeds.runs[0].scores[j] - x1).abs() < 1e-12 && (seeds.runs[1].scores[j] - x2).abs() < 1e-12);
        let summary = &seeds.summary[j];
        assert!((summary.mean - (x1 + x2) / 2.0).abs() < 1e-12, "{summary:?}");
        assert!((summary.sd - (x1 - x2).abs() / 2f64.sqrt()).abs() < 1e-12, "{summary:?}");
        assert_eq!(summary.update_share_mean, None);
    }
    for file in ["gru-4.safetensors", "gru-8.safetensors", "maps.safetensors"] {
        assert_eq!(std::fs::read(shipped.join(file)).unwrap(), std::fs::read(two.join(file)).unwrap(), "{file}");
    }
    let model = FlexibleModel::load(&shipped).unwrap();
    let test = Task::load(model.task()).unwrap().part(SplitPart::Test);
    assert_eq!(Some(measure(&model, &test, &Schedule::constant(1)).score), model.settings()[1].expected_accuracy);
    // The --seeds view of eval.
    let view = dir.path().join("view");
    let output = flexrnn()
        .args(["eval", "--seeds", "--schedules", "1", "--change-every", "32", "--resamples", "100", "--out"])
        .arg(&view)
        .arg(&shipped)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let csv = std::fs::read_to_string(view.join("seeds.csv")).unwrap();
    assert!(csv.starts_with("setting,seeds,mean_accuracy,sd_accuracy,") && csv.lines().count() == 3, "{csv}");
    assert!(std::fs::read_to_string(view.join("summary.md")).unwrap().contains("2 seeds (1, 2; shipped: 2)"));
    let output = flexrnn().args(["eval", "--seeds", "--out"]).arg(dir.path().join("no")).arg(&one).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no `seeds` section"));
    // Refused: other settings, the same seed twice. Nothing is written.
    let three = train("3", "4", "s3");
    let bad = dir.path().join("bad");
    let output = flexrnn().args(["seeds", "--out"]).arg(&bad).arg(&one).arg(&three).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("settings `gru-4`, but") && stderr.contains("s3"), "{stderr}");
    // Another recipe (here the learning rate) is not another seed of the same model.
    let lr = dir.path().join("lr");
    let output = flexrnn()
        .args(["train", "--widths", "4,8", "--epochs", "1", "--learning-rate", "0.05", "--seed", "4", "--out"])
        .arg(&lr)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = flexrnn().args(["seeds", "--out"]).arg(&bad).arg(&one).arg(&lr).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("--learning-rate 0.05") && stderr.contains("training command"),
        "{stderr}"
    );
    let output = flexrnn().args(["seeds", "--out"]).arg(&bad).arg(&one).arg(&one).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("both trained with seed 1"), "{stderr}");
    let output = flexrnn().args(["seeds", "--ship", "9", "--out"]).arg(&bad).arg(&one).arg(&two).output().unwrap();
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("--ship 9"));
    assert!(!bad.exists());
}

/// `flexrnn eval --resamples 0 --schedules 1` on the shipped `models/digits-gru`, run once for the
/// tests below: the output folder.
fn digits_gru_eval_without_intervals() -> &'static std::path::Path {
    static OUT: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .args(["eval", "--resamples", "0", "--schedules", "1", "--out"])
            .arg(dir.path().join("out"))
            .arg(at("models/digits-gru"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        dir
    })
    .path()
}

/// `--resamples 0` means no intervals: empty interval fields in `checks.csv` and `pairs.csv` (not a
/// zero-width interval at the point that "excludes 0"), `–` and no `*` in the summary, which says the
/// intervals are off; `null` ends in `checks.json`.
#[test]
fn eval_resamples_zero_reports_no_intervals_and_marks_nothing() {
    let out = digits_gru_eval_without_intervals().join("out");
    let checks = std::fs::read_to_string(out.join("checks.csv")).unwrap();
    let mut lines = checks.lines();
    assert!(lines.next().unwrap().contains(",deviation_pp,ci_low_pp,ci_high_pp,ci_excludes_zero,bound_low,"));
    for line in lines {
        let fields: Vec<&str> = line.rsplitn(7, ',').collect();
        // Reversed: within, bound_high, bound_low, excludes, high, low, rest.
        assert_eq!(&fields[3..6], ["", "", ""], "{line}");
    }
    let pairs = std::fs::read_to_string(out.join("pairs.csv")).unwrap();
    let row = pairs.lines().find(|l| l.starts_with("gru-16,gru-32,")).unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!((fields[4], fields[5], fields[6]), ("", "", ""), "{row}");
    assert_eq!((fields[13], fields[14]), ("", ""), "late interval: {row}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Intervals: off (--resamples 0)"), "{summary}");
    assert!(summary.contains("Intervals are off (--resamples 0); "), "{summary}");
    assert!(!summary.contains(" *") && !summary.contains("excludes 0;"), "{summary}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("checks.json")).unwrap()).unwrap();
    assert_eq!(json["checks"]["directions"][0]["interval"], serde_json::json!({"low": null, "high": null}));
}

/// Too few resamples (their percentile interval need not hold the point estimate) and absurdly many
/// (an allocation failure before) are refused up front with the allowed values; nothing is written.
#[test]
fn eval_refuses_resamples_outside_zero_or_100_to_100000() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["1", "2", "99", "100001", "100000000000"] {
        let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .args(["eval", "--resamples", bad, "--out"])
            .arg(dir.path().join("out"))
            .arg(at("models/digits-gru"))
            .output()
            .unwrap();
        assert!(!output.status.success(), "--resamples {bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("--resamples {bad}: give 0 (no intervals) or 100 to 100000")), "{stderr}");
        assert!(!dir.path().join("out").exists());
    }
}

/// The largest reversal is measured against the direction from b alone to a alone. digits-gru
/// gru-16 → gru-32: the series runs from gru-32 alone (96.7 %) down to gru-16 alone (86.1 %), and its
/// largest rise (against falling) is 5.57 pp (on the bank shipped before the switch-aware retraining,
/// 22.28 pp, where the old "smaller of both directions" rule gave 15.32).
#[test]
fn eval_largest_reversal_is_against_the_endpoints_direction() {
    let out = digits_gru_eval_without_intervals().join("out");
    let pairs = std::fs::read_to_string(out.join("pairs.csv")).unwrap();
    let row = pairs.lines().find(|l| l.starts_with("gru-16,gru-32,")).unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!((fields[8], fields[9]), ("false", "5.5710"), "{row}");
}

/// Every run entry of `checks.json` says which run it is: kind, schedule and point deviation, the
/// same as the row of `checks.csv` in the same order.
#[test]
fn eval_checks_json_runs_name_their_kind_schedule_and_deviation() {
    let out = digits_gru_eval_without_intervals().join("out");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("checks.json")).unwrap()).unwrap();
    let checks = &json["checks"];
    let entries: Vec<&serde_json::Value> =
        checks["runs"].as_array().unwrap().iter().chain(checks["late"].as_array().unwrap()).collect();
    let csv = std::fs::read_to_string(out.join("checks.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(entries.len(), rows.len());
    for (entry, row) in entries.iter().zip(&rows) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(entry["kind"].as_str().unwrap(), fields[0], "{row}");
        assert_eq!(entry["schedule"].as_str().unwrap(), fields[1], "{row}");
        assert_eq!(format!("{:.4}", entry["deviation"].as_f64().unwrap()), fields[5], "{row}");
    }
    assert_eq!(entries[0]["kind"], "alone");
    assert_eq!(entries[0]["schedule"], "gru-16@0");
    assert_eq!(entries[0]["deviation"], 0.0);
    let late = checks["late"][0].clone();
    assert_eq!((late["kind"].as_str(), late["schedule"].as_str()), (Some("late"), Some("gru-16@0;gru-32@58")));
}

/// Two ThrRNN folders trained with one command and seeds 1 and 2: the simulator's setting lists are
/// the card grids thinned by each seed's own measurements, so they differ (the defect: `seeds`
/// refused them); `flexrnn seeds` compares and scores the card's whole grid instead — every grid
/// threshold of every Skip-RNN, the same names for both seeds — and each seed's score at a point is
/// that seed's card value at that point (measured through `FlexibleModel` at that threshold).
#[test]
fn seeds_combines_thr_folders_on_the_cards_full_grid() {
    use flexrnn::eval::seeds::SeedFolder;
    let dir = tempfile::tempdir().unwrap();
    let flexrnn = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flexrnn"));
        command.env("RAYON_NUM_THREADS", "1");
        command
    };
    let train = |seed: &str| {
        let out = dir.path().join(format!("at-s{seed}"));
        let output = flexrnn()
            .args(["train", "--family", "thr", "--task", "adding-T20", "--widths", "8", "--lambda", "1e-3,3e-3"])
            .args(["--epochs", "2", "--switch-epochs", "1", "--seed", seed, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        out
    };
    let (one, two) = (train("1"), train("2"));
    let names = |d: &std::path::Path| -> Vec<String> {
        FlexibleModel::load(d).unwrap().settings().iter().map(|s| s.name.clone()).collect()
    };
    assert_ne!(names(&one), names(&two), "the thinned setting lists differ between these seeds");
    let shipped = dir.path().join("shipped");
    let output = flexrnn().args(["seeds", "--out"]).arg(&shipped).arg(&one).arg(&two).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(shipped.join("card.json")).unwrap()).unwrap();
    let seeds: flexrnn::rnn::io::CardSeeds = serde_json::from_value(card["seeds"].clone()).unwrap();
    assert_eq!(seeds.metric, "mse");
    // Two Skip-RNNs × the grid 0, 0.05, …, 1, 1.01 (22 points each).
    assert_eq!(seeds.settings.len(), 44);
    assert_eq!(seeds.settings[0], "thr-8-1e-3@thr=0");
    assert_eq!(seeds.settings[11], "thr-8-1e-3@thr=0.55");
    assert_eq!(seeds.settings[22 + 21], "thr-8-3e-3@thr=1.01");
    assert_eq!(SeedFolder::load(&one).unwrap().settings, seeds.settings);
    assert_eq!(SeedFolder::load(&two).unwrap().settings, seeds.settings);
    for (run, folder) in seeds.runs.iter().zip([&one, &two]) {
        let own: serde_json::Value = serde_json::from_slice(&std::fs::read(folder.join("card.json")).unwrap()).unwrap();
        let card_values: Vec<f64> = own["models"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["knob_grid"].as_array().unwrap().iter().map(|p| p["test_mse"].as_f64().unwrap()))
            .collect();
        assert_eq!(run.scores, card_values, "seed {}", run.seed);
        assert_eq!(run.update_shares.len(), 44);
    }
    let (x1, x2) = (seeds.runs[0].scores[11], seeds.runs[1].scores[11]);
    assert!((seeds.summary[11].mean - (x1 + x2) / 2.0).abs() < 1e-15);
}

/// `--change-every` at or above the sequence length leaves no change position: an error that says
/// which values work, not a summary of empty pairs; a negative tolerance reaches eval's own check.
#[test]
fn eval_refuses_change_positions_past_the_sequence_and_negative_tolerances() {
    let dir = tempfile::tempdir().unwrap();
    let eval = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .args(["eval", "--schedules", "1", "--resamples", "0", "--jobs", "1", "--out"])
            .arg(dir.path().join("out"))
            .arg(at("models/digits-gru"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let past = eval(&["--change-every", "64"]);
    assert!(past.contains("--change-every 64 leaves no change position") && past.contains("below 64"), "{past}");
    let negative = eval(&["--tolerance-pp", "-1"]);
    assert!(negative.contains("--tolerance-pp must be a number ≥ 0"), "{negative}");
    assert!(!dir.path().join("out").exists(), "nothing written");
}
