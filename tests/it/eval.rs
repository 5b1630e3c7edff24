//! `flexrnn eval`: the weighted-average check.

use std::process::Command;

use flexrnn::data::{digits_split, load_digits};
use flexrnn::eval::{evaluate, measure, weighted_prediction, EvalConfig, RunKind, Schedule};
use flexrnn::rnn::FlexibleModel;

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
        let split = Schedule { segments: vec![(0, 1), (20, 1)] };
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
    let files = [
        "eval.csv",
        "settings.csv",
        "summary.md",
        "change_accuracy.svg",
        "change_accuracy.png",
        "change_flops.svg",
        "change_flops.png",
        "measured_vs_predicted.svg",
        "measured_vs_predicted.png",
    ];
    for file in files {
        let a = std::fs::read(first.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(a, std::fs::read(second.join(file)).unwrap(), "{file}: same inputs, same bytes");
    }
    assert_eq!(std::fs::read_dir(&first).unwrap().count(), files.len());
    let csv = std::fs::read_to_string(first.join("eval.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "family,kind,schedule,a,b,s,steps_per_setting,measured_accuracy,predicted_accuracy,accuracy_deviation_pp,measured_flops_per_step,predicted_flops_per_step,flops_deviation_pct,update_share"
    );
    // 14 settings alone (two Skip-GRUs), 14 pairs × 2 directions × 3 positions (16, 32, 48), 4 random
    // schedules.
    assert_eq!(lines.count(), 14 + 14 * 2 * 3 + 4);
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
