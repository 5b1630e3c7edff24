//! `flexrnn check` on every shipped scenario and study and on broken files (exit status, message
//! located as `run` locates it), `flexrnn models` on the shipped folders, and `run`/`study` given a
//! file of the other kind.

use std::process::{Command, Output};

use crate::at;

fn flexrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flexrnn")).current_dir(crate::root()).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_passes_every_shipped_file_and_says_what_would_run() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["scenarios", "scenarios/bench"] {
        for entry in std::fs::read_dir(at(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path.strip_prefix(crate::root()).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let output = flexrnn(&args);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", text(&output.stderr));
    assert_eq!(output.status.code(), Some(0));
    for file in &files {
        assert!(stdout.contains(&format!("{file}: ")), "{file}: {stdout}");
    }
    // The default scenario: 10/s × 500 kFLOP on one 25 MFLOP/s core is 20 %, the on/off process one
    // core half the time; gru-128's 101 kFLOP step takes 4.04 ms, 80.9 % of the core every 5 ms.
    for expected in [
        "scenarios/default.yaml: scenario `default`, valid: 3 runs of 120 s (seed 7)",
        "device cpu: 1 core × 25 MFLOP/s, processor_sharing",
        "process requests (poisson, device cpu): offered load 20.0 % of the device",
        "process batch-job (on_off, device cpu): offered load 50.0 % of the device",
        "stream digits (device cpu): ../models/digits-gru (switch gru, task digits), dataset digits (test), period 5 ms, deadline 5 ms",
        "policies: static-gru-128, static-gru-16, greedy_slack",
        "runs: static-gru-128, static-gru-16, greedy_slack",
        // 5 rates × 20 replications × 9 policies.
        "scenarios/study-policies.yaml: study `study-policies`, valid: 5 grid point(s) × 20 replication(s) × 9 policies = 900 runs (seed 2020)",
        "axis processes.requests.rate: 2/s, 6/s, 10/s, 14/s, 18/s",
    ] {
        assert!(stdout.contains(expected), "missing `{expected}` in:\n{stdout}");
    }
    let gru128 = stdout.lines().find(|l| l.trim_start().starts_with("gru-128")).unwrap();
    assert!(gru128.contains("101 kFLOP/step") && gru128.contains("4.04 ms") && gru128.contains("80.9 %"), "{gru128}");
}

#[test]
fn check_refuses_broken_files_with_located_messages_and_exit_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let default = std::fs::read_to_string(at("scenarios/default.yaml")).unwrap();
    let models = at("models").display().to_string();
    let default = default.replace("../models/", &format!("{models}/"));
    let broken = [
        // (file, text, message expected on stderr)
        ("typo.yaml", default.replace("duration: 120s", "duraton: 120s"), "typo.yaml:9:1: unknown field `duraton`"),
        ("unit.yaml", default.replace("rate: 10/s", "rate: 10"), "unit.yaml:29:11: processes[1].rate: invalid rate `10`: expected a non-negative number of events per unit of time"),
        ("setting.yaml", default.replace("model: gru-16", "model: gru-17"), "`gru-17` is not a setting of"),
        ("models.yaml", default.replace(&format!("{models}/digits-gru"), "nowhere"), "cannot load the model bank `nowhere`"),
        ("kind.yaml", default.replace("    rate: 10/s", "    rate: 10/s\n    period: 1s"), "field `period` is not allowed for kind `poisson`"),
    ];
    let mut paths = Vec::new();
    for (name, contents, _) in &broken {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        paths.push(path.display().to_string());
    }
    for ((_, _, expected), path) in broken.iter().zip(&paths) {
        let output = flexrnn(&["check", path]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        assert!(stderr.contains(expected), "{path}: expected `{expected}` in {stderr}");
        // The message is the one `run` prints.
        let run = flexrnn(&["run", path, "--out", &dir.path().join("out").display().to_string()]);
        assert_eq!(text(&run.stderr), stderr, "{path}");
    }
    // Several files: each valid one is described, each invalid one reported, exit status 1.
    let output = flexrnn(&["check", "scenarios/mm1-ps.yaml", &paths[0], "scenarios/default.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(stdout.contains("scenarios/mm1-ps.yaml: scenario") && stdout.contains("scenarios/default.yaml: scenario"));
    assert!(stderr.contains("unknown field `duraton`") && stderr.contains("error: 1 of 3 files invalid"), "{stderr}");
    // No file: a usage error (clap's status 2).
    assert_eq!(flexrnn(&["check"]).status.code(), Some(2));
}

#[test]
fn run_and_study_name_the_right_command_for_the_other_kind_of_file() {
    let output = flexrnn(&["run", "scenarios/study-policies.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains(
            "scenarios/study-policies.yaml: this is a study file (it has `scenario:`), not a scenario: use `flexrnn study scenarios/study-policies.yaml`"
        ),
        "{}",
        text(&output.stderr)
    );
    let output = flexrnn(&["study", "scenarios/default.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains(
            "scenarios/default.yaml: this is a scenario file (it has `processes:`/`node:`), not a study: use `flexrnn run scenarios/default.yaml`"
        ),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn models_lists_the_shipped_folders_with_settings_costs_scores_and_knobs() {
    let output = flexrnn(&["models"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let folders = std::fs::read_dir(at("models"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("card.json").is_file())
        .count();
    assert_eq!(stdout.lines().filter(|l| l.starts_with("models/")).count(), folders, "{stdout}");
    // The card's figures: gru-128 is 101 kFLOP per step, 98.3 % on the test split.
    let line =
        |prefix: &str| stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {stdout}"));
    assert!(
        line("models/digits-gru:")
            .starts_with("models/digits-gru: task digits, family switch, cell gru, 1 input(s), 10 classes, 4 settings"),
        "{stdout}"
    );
    let digits = stdout.split("\n\n").find(|block| block.starts_with("models/digits-gru:")).unwrap();
    let gru128 = digits.lines().find(|l| l.starts_with("  gru-128")).unwrap();
    assert!(gru128.contains("101 kFLOP") && gru128.contains("test accuracy 98.3 %"), "{gru128}");
    assert!(line("models/adding-gru:").contains("regression"), "{stdout}");
    // SkipW thresholds stop at the card grid's highest (0.9); K = 0 costs the window gates alone.
    assert!(stdout.contains("  knobs: `k=<K>,thr=<thr>` with K in 0..=8 and 0 ≤ thr ≤ 0.9"), "{stdout}");
    let skipw = stdout.split("\n\n").find(|block| block.starts_with("models/digits-skipw:")).unwrap();
    let k0 = skipw.lines().find(|l| l.starts_with("  k=0,thr=0.5")).unwrap();
    assert!(k0.contains("131 FLOP"), "{k0}");
    assert!(stdout.contains("  knobs: `thr-64-1e-3@thr=<thr>` with"), "{stdout}");
    // One folder given, and a folder that is not one.
    let output = flexrnn(&["models", "models/digits-nested"]);
    assert_eq!(text(&output.stdout).lines().filter(|l| l.starts_with("models/")).count(), 1);
    assert!(text(&output.stdout).contains("parameters") && text(&output.stdout).contains("(1 block)"));
    let output = flexrnn(&["models", "scenarios"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("scenarios: no card.json in it nor in its subfolders"));
}
