//! The command line as a user meets it.

use std::process::Command;

use crate::{at, short_default};

fn flexrnn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexrnn"));
    command.current_dir(crate::root());
    command
}

#[test]
fn run_writes_every_documented_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(6, "3s"));
    let output =
        flexrnn().args(["run"]).arg(&scenario).arg("--out").arg(dir.path()).args(["--seed", "3"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| greedy_slack | digits |"), "{stdout}");
    for policy in ["static-gru-128", "static-gru-16", "greedy_slack"] {
        for file in ["manifest.json", "steps.csv", "sequences.csv", "jobs.csv", "summary.csv", "timeline.csv"] {
            assert!(dir.path().join(policy).join(file).is_file(), "{policy}/{file}");
        }
    }
    for file in
        ["comparison.csv", "plots/timeline.svg", "plots/timeline.png", "plots/latency_cdf.svg", "plots/latency_cdf.png"]
    {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    let header = |file: &str| {
        std::fs::read_to_string(dir.path().join("greedy_slack").join(file)).unwrap().lines().next().unwrap().to_string()
    };
    assert_eq!(
        header("steps.csv"),
        "stream,policy,sequence,step,release_s,start_s,end_s,latency_s,deadline_s,missed,skipped,unfinished,model,flops,updated"
    );
    assert_eq!(header("jobs.csv"), "process,job,release_s,end_s,response_s,deadline_s,missed,work_flop");
    assert!(header("sequences.csv").starts_with(
        "stream,policy,sequence,dataset_index,label,prediction,correct,release_s,end_s,latency_s,skipped_steps,steps_gru-16,steps_gru-32,steps_gru-64,steps_gru-128"
    ));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("greedy_slack/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 3, "--seed overrides the file");
    assert_eq!(manifest["scenario_sha256"].as_str().unwrap().len(), 64);
    // No temporary files are left behind.
    let leftovers = walk(dir.path())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".flexrnn-tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

/// Writes a scenario into `dir`, pointing its model path at the shipped bank.
fn write_scenario(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text.replace("../models/digits-gru", &at("models/digits-gru").display().to_string()))
        .unwrap();
    path
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A bad scenario gives exit code 1 and a message with file, line, column and what is allowed — and
/// writes nothing.
#[test]
fn bad_scenarios_are_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 8] = [
        ("speed: 25MFLOP/s", "speed: fast", &["bad.yaml:11:", "speed", "GFLOP/s"]),
        (
            "    period: 5ms",
            "    period: 5ms\n    colour: red",
            &["bad.yaml:", "unknown field `colour`", "expected one of"],
        ),
        (
            "static: { model: gru-16 }",
            "static: { model: gru-17 }",
            &["bad.yaml:", "gru-17", "allowed: gru-16, gru-32, gru-64, gru-128"],
        ),
        ("models: ../models/digits-gru", "models: ../models/nowhere", &["bad.yaml", "nowhere", "card.json"]),
        ("on_miss: skip", "on_miss: maybe", &["bad.yaml:", "maybe", "continue", "skip"]),
        // Data sets: an unknown task id, a regression task, a task the models were not trained on —
        // each at the `dataset:` line.
        ("dataset: digits", "dataset: digit", &["bad.yaml:DATASET_LINE:", "task `digit`", "basic-motions"]),
        ("dataset: digits", "dataset: adding", &["bad.yaml:DATASET_LINE:", "regression task"]),
        (
            "dataset: digits",
            "dataset: basic-motions",
            &["bad.yaml:DATASET_LINE:", "trained on task `digits`", "plays `basic-motions`"],
        ),
    ];
    for (from, to, expected) in cases {
        let text = crate::shipped("default.yaml");
        assert!(text.contains(from), "{from}");
        let input = tempfile::tempdir().unwrap();
        let path = write_scenario(input.path(), "bad.yaml", &text.replace(from, to));
        let output = flexrnn().arg("run").arg(&path).arg("--out").arg(dir.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).replace(&path.display().to_string(), "bad.yaml");
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let dataset_line = 1 + text.lines().position(|l| l.contains("dataset: digits")).unwrap();
        for needle in expected {
            let needle = needle.replace("DATASET_LINE", &dataset_line.to_string());
            assert!(stderr.contains(&needle), "missing `{needle}` in: {stderr}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is written for a bad scenario");
    let output = flexrnn().args(["run", "no-such-file.yaml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-file.yaml"));
}

#[test]
fn help_lists_the_commands_and_options() {
    let output = flexrnn().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in ["--out", "--seed", "SCENARIO"] {
        assert!(text.contains(needle), "{text}");
    }
}

#[test]
fn train_family_thr_writes_skip_grus_that_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bank");
    let output = flexrnn()
        .args(["train", "--family", "thr", "--widths", "4", "--lambda", "1e-2,0", "--epochs", "1", "--out"])
        .arg(&out)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (models, card) = flexrnn::rnn::io::load_skip_models(&out).unwrap();
    let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["thr-4-0e0", "thr-4-1e-2"]);
    assert_eq!(card.models[1].budget_lambda, Some(1e-2));
    assert!(card.training.command.contains("--family thr"), "{}", card.training.command);
    let output = flexrnn().args(["train", "--lambda", "1e-3", "--out"]).arg(dir.path().join("gru")).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--family thr only"));
}

#[test]
fn train_cell_lstm_writes_lstm_models_named_by_their_cell() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("thr-lstm");
    let output = flexrnn()
        .args(["train", "--family", "thr", "--cell", "lstm", "--widths", "4", "--lambda", "1e-2", "--epochs", "1"])
        .arg("--out")
        .arg(&out)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let model = flexrnn::rnn::FlexibleModel::load(&out).unwrap();
    assert_eq!(model.cell_kind(), flexrnn::rnn::CellKind::Lstm);
    assert!(model.settings()[0].name.starts_with("thr-lstm-4-1e-2@"), "{}", model.settings()[0].name);
    let output = flexrnn().args(["train", "--cell", "rnn", "--out"]).arg(dir.path().join("x")).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("lstm"));
}
