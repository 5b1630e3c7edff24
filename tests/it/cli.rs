//! The command line as a user meets it.

use std::process::Command;

use crate::{at, yaml_with};

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

/// `scenarios/default.yaml`'s text shortened to `sequences` sequences and `duration`: the binary
/// reads a scenario file, so these tests write YAML text.
fn short_default(sequences: usize, duration: &str) -> String {
    yaml_with(
        "default.yaml",
        &[
            ("duration: 120s", &format!("duration: {duration}")),
            ("    split: test", &format!("    sequences: {sequences}\n    split: test")),
        ],
    )
}

/// Writes a scenario's text into `dir`, pointing its model path at the shipped bank (the file no
/// longer sits in `scenarios/`, so the relative path would not reach it).
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
        ("speed: 25MFLOP/s", "speed: fast", &["bad.yaml:12:", "speed", "GFLOP/s"]),
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
        // A bad value injected into the YAML text: the message must name its line.
        let text = crate::shipped("default.yaml");
        let input = tempfile::tempdir().unwrap();
        let path = write_scenario(input.path(), "bad.yaml", &yaml_with("default.yaml", &[(from, to)]));
        let output = flexrnn().arg("run").arg(&path).arg("--out").arg(dir.path()).output().unwrap();
        // The temporary folder differs from run to run: name the file as the expectations do.
        let stderr = String::from_utf8_lossy(&output.stderr).replace(&path.display().to_string(), "bad.yaml");
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let dataset_line = 1 + text.lines().position(|l| l.contains("dataset: digits")).unwrap();
        for needle in expected {
            // Expectations name the `dataset:` line as DATASET_LINE: fill it in.
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
    assert_eq!(card.family.models[1].budget_lambda, Some(1e-2));
    assert!(
        card.training.as_ref().unwrap().command.contains("--family thr"),
        "{}",
        card.training.as_ref().unwrap().command
    );
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

/// Every path under `dir` with its bytes (folders as `name/` with no bytes), relative, sorted.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for path in walk_all(dir) {
        let relative = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            out.push((format!("{relative}/"), Vec::new()));
        } else {
            out.push((relative, std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// Files and folders under `dir`.
fn walk_all(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            out.extend(walk_all(&path));
        }
    }
    out
}

/// The relative paths of [`snapshot`].
fn paths(dir: &std::path::Path) -> Vec<String> {
    snapshot(dir).into_iter().map(|(path, _)| path).collect()
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Issue 10, 1: `mkdir -p v/public && echo '{}' > v/public/manifest.json && echo keep > v/notes.txt &&
/// flexrnn run scenarios/mm1-ps.yaml --out v` deleted notes.txt and public/ (exit 0, no warning).
#[test]
fn run_into_a_folder_with_a_manifest_in_a_subfolder_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("v");
    std::fs::create_dir_all(v.join("public")).unwrap();
    std::fs::write(v.join("public/manifest.json"), "{}\n").unwrap();
    std::fs::write(v.join("notes.txt"), "keep\n").unwrap();
    let before = snapshot(&v);
    let output = flexrnn().args(["run", "scenarios/mm1-ps.yaml", "--out"]).arg(&v).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&v.display().to_string()) && stderr.contains("did not write"), "{stderr}");
    assert!(stderr.contains("--force") && stderr.contains("--out"), "says how to proceed: {stderr}");
    assert!(snapshot(&v) == before, "nothing touched");
    assert_eq!(names(dir.path()), ["v"], "nothing written beside it");
    // With --force the results are written among the files, which stay as they were.
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(2, "1s"));
    let output = flexrnn().arg("run").arg(&scenario).arg("--out").arg(&v).arg("--force").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("left as they are"));
    assert_eq!(std::fs::read(v.join("notes.txt")).unwrap(), b"keep\n");
    assert_eq!(std::fs::read(v.join("public/manifest.json")).unwrap(), b"{}\n");
    assert!(v.join("greedy_slack/manifest.json").is_file() && v.join(".flexrnn-output.json").is_file());
}

/// Issue 10, 1: `run … --out results` wiped every earlier result once one single-run result was
/// inside. Also: a rerun replaces its own result without --force, and leaves nothing beside it.
#[test]
fn run_into_a_parent_of_earlier_results_never_wipes_them() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(2, "1s"));
    let run = |out: &std::path::Path, force: bool| {
        let mut command = flexrnn();
        command.arg("run").arg(&scenario).arg("--out").arg(out);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    assert!(run(&results.join("a"), false).status.success());
    let first = paths(&results);
    let steps = std::fs::read(results.join("a/greedy_slack/steps.csv")).unwrap();
    let again = run(&results.join("a"), false);
    assert!(again.status.success(), "own result replaced: {}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(paths(&results), first, "no staging folder or backup left");
    assert!(std::fs::read(results.join("a/greedy_slack/steps.csv")).unwrap() == steps, "same seed, same bytes");
    let earlier = snapshot(&results);
    let refused = run(&results, false);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("e.g. a/"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(snapshot(&results) == earlier, "a refusal changes nothing");
    assert!(run(&results, true).status.success());
    let after = snapshot(&results);
    for entry in &earlier {
        assert!(after.contains(entry), "{} kept as it was", entry.0);
    }
    assert!(results.join("static-gru-16/steps.csv").is_file());
}

/// Issue 10, 1: `cp -r models /tmp/m && flexrnn train --task digits --widths 4 --epochs 1 --out
/// /tmp/m` deleted all model folders without --force.
#[test]
fn train_into_a_copy_of_the_models_folder_refuses_and_force_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    for model in ["digits-gru", "digits-thr"] {
        std::fs::create_dir_all(m.join(model)).unwrap();
        for file in std::fs::read_dir(at("models").join(model)).unwrap() {
            let path = file.unwrap().path();
            std::fs::copy(&path, m.join(model).join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(m.join("README"), "my models\n").unwrap();
    let before = snapshot(&m);
    let train = |force: bool| {
        let mut command = flexrnn();
        command.args(["train", "--task", "digits", "--widths", "4", "--epochs", "1", "--out"]).arg(&m);
        if force {
            command.arg("--force");
        }
        command.env("RAYON_NUM_THREADS", "1").output().unwrap()
    };
    let refused = train(false);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("did not write (e.g. README)") && stderr.contains("--force"), "{stderr}");
    assert!(!stderr.contains("epoch"), "refused before training");
    assert!(snapshot(&m) == before, "a refusal changes nothing");
    let forced = train(true);
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    let after = snapshot(&m);
    for entry in &before {
        assert!(after.contains(entry), "{} kept as it was", entry.0);
    }
    assert_eq!(
        names(&m),
        [
            ".flexrnn-output.json",
            "README",
            "card.json",
            "digits-gru",
            "digits-thr",
            "gru-4.safetensors",
            "maps.safetensors"
        ]
    );
}

/// A shipped model folder carries train's marker: training into it needs --force, and then
/// replaces it as a whole (the old widths' weights go, nothing is left beside it).
#[test]
fn train_into_a_trained_model_folder_needs_force_and_then_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("digits-gru");
    std::fs::create_dir(&out).unwrap();
    for file in std::fs::read_dir(at("models/digits-gru")).unwrap() {
        let path = file.unwrap().path();
        std::fs::copy(&path, out.join(path.file_name().unwrap())).unwrap();
    }
    let train = |force: bool| {
        let mut command = flexrnn();
        command.args(["train", "--task", "digits", "--widths", "4", "--epochs", "1", "--out"]).arg(&out);
        if force {
            command.arg("--force");
        }
        command.env("RAYON_NUM_THREADS", "1").output().unwrap()
    };
    let refused = train(false);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --force to replace it"));
    assert!(out.join("gru-128.safetensors").is_file());
    let forced = train(true);
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert_eq!(names(&out), [".flexrnn-output.json", "card.json", "gru-4.safetensors", "maps.safetensors"]);
    assert_eq!(names(dir.path()), ["digits-gru"]);
}

/// Issue 10, 4: a killed `run` left its hidden staging folder beside the target forever (one held a
/// partial 27 MB jobs.csv); a crash between the two renames left no results folder at all.
#[test]
fn run_cleans_up_a_killed_runs_staging_folder_and_restores_a_lone_backup() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(2, "1s"));
    let out = dir.path().join("r");
    assert!(flexrnn().arg("run").arg(&scenario).arg("--out").arg(&out).output().unwrap().status.success());
    let result = paths(&out);
    // The state a crash between the renames leaves: the previous result moved to its backup, no `r`;
    // and a staging folder of a killed write.
    std::fs::rename(&out, dir.path().join(".r.flexrnn-old-Ab12Cd")).unwrap();
    // (A staging folder is given its incomplete marker before any other file.)
    std::fs::create_dir_all(dir.path().join(".r.flexrnn-new-Zz9Yy8/greedy_slack")).unwrap();
    std::fs::write(
        dir.path().join(".r.flexrnn-new-Zz9Yy8/.flexrnn-output.json"),
        r#"{"tool": "flexrnn", "format": 1, "command": "run", "complete": false, "files": ["greedy_slack/jobs.csv", "manifest.json"]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join(".r.flexrnn-new-Zz9Yy8/greedy_slack/jobs.csv"), "process,job\nrequests,").unwrap();
    // A folder of the user's that merely has a staging name is not flexrnn's: it is left alone.
    std::fs::create_dir_all(dir.path().join(".r.flexrnn-new-usr123")).unwrap();
    std::fs::write(dir.path().join(".r.flexrnn-new-usr123/thesis.tex"), "mine").unwrap();
    let output = flexrnn().arg("run").arg(&scenario).arg("--out").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("restored") && stderr.contains("removed 1 staging folder"), "{stderr}");
    assert_eq!(names(dir.path()), [".r.flexrnn-new-usr123", "r"], "no staging folder or backup left");
    assert_eq!(std::fs::read_to_string(dir.path().join(".r.flexrnn-new-usr123/thesis.tex")).unwrap(), "mine");
    assert_eq!(paths(&out), result, "the same result's files");
}

/// Issue 10 follow-up: `run … --out r1; ln -s ../imp2 r1/plots; run … --out r1` overwrote imp2/*
/// outside the output folder, and stderr said the entries "were left as they are".
#[cfg(unix)]
#[test]
fn run_never_writes_through_a_symlink_in_its_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(2, "1s"));
    let r1 = dir.path().join("r1");
    let run = |force: bool| {
        let mut command = flexrnn();
        command.arg("run").arg(&scenario).arg("--out").arg(&r1);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    assert!(run(false).status.success());
    let imp2 = dir.path().join("imp2");
    std::fs::create_dir(&imp2).unwrap();
    std::fs::write(imp2.join("timeline.svg"), "precious\n").unwrap();
    std::fs::remove_dir_all(r1.join("plots")).unwrap();
    std::os::unix::fs::symlink("../imp2", r1.join("plots")).unwrap();
    for force in [false, true] {
        let output = run(force);
        assert!(!output.status.success(), "force {force}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("`plots` is a symbolic link") && !stderr.contains("left as they are"), "{stderr}");
        assert!(output.stdout.is_empty(), "refused before simulating");
    }
    assert_eq!(names(&imp2), ["timeline.svg"]);
    assert_eq!(std::fs::read(imp2.join("timeline.svg")).unwrap(), b"precious\n");
}

/// Issue 10 follow-up: a killed write left `.flexrnn-tmp-XXXXXX` files (6–57 MB each) in the output
/// folder; the next run refused the folder because of them, and with --force they piled up.
#[test]
fn run_removes_the_temporary_files_of_a_killed_write_and_does_not_refuse_because_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(2, "1s"));
    let out = dir.path().join("r");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(".flexrnn-tmp-Ab12Cd"), "partial marker").unwrap();
    let output = flexrnn().arg("run").arg(&scenario).arg("--out").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("removed 1 temporary file(s)"));
    let result = paths(&out);
    std::fs::write(out.join(".flexrnn-tmp-Zz9Yy8"), "partial").unwrap();
    std::fs::write(out.join("greedy_slack/.flexrnn-tmp-Qq1Ww2"), "partial jobs.csv").unwrap();
    let output = flexrnn().arg("run").arg(&scenario).arg("--out").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("removed 2 temporary file(s)") && !stderr.contains("did not write"), "{stderr}");
    assert_eq!(paths(&out), result, "no temporary file left, swapped in whole as before");
}

/// Issue 10 follow-up: `--out x/.` and `--out newdir/.` gave raw OS errors after the whole
/// simulation.
#[test]
fn run_out_ending_in_a_dot_writes_that_folder_and_one_ending_in_dotdot_is_refused_first() {
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let scenario = write_scenario(input.path(), "short.yaml", &short_default(2, "1s"));
    for _ in 0..2 {
        let output =
            flexrnn().arg("run").arg(&scenario).arg("--out").arg(dir.path().join("newdir/.")).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(names(dir.path()), ["newdir"]);
    assert!(dir.path().join("newdir/greedy_slack/steps.csv").is_file());
    let output = flexrnn().arg("run").arg(&scenario).arg("--out").arg(dir.path().join("newdir/..")).output().unwrap();
    assert!(!output.status.success() && output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ends in `..`"));
}

/// Runs `flexrnn train` with `args` (and `--out` in a fresh folder) and returns its stderr; the
/// command must fail.
fn train_refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = flexrnn().arg("train").args(args).arg("--out").arg(dir.path().join("m")).output().unwrap();
    assert!(!output.status.success(), "{args:?} was accepted");
    assert!(!dir.path().join("m").join("card.json").exists());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Defect (issue 11 tester): flags of another family, switch fine-tune flags without
/// --switch-epochs, `--family thr --switch-epochs` with one λ, and out-of-range --thr-select /
/// --train-thr were silently ignored or accepted; each is now refused naming the flag and where it
/// applies. Negative numbers reach the validation instead of clap's "unexpected argument '-0'".
#[test]
fn train_refuses_flags_the_family_does_not_use_naming_the_flag() {
    for (args, expected) in [
        (
            &["--family", "skipw", "--lambda", "1e-3"][..],
            "--lambda applies to --family thr only, not to --family skipw",
        ),
        (&["--family", "gru", "--thr-range", "0.5,1"], "--thr-range applies to --family thr only, not to --family gru"),
        (&["--family", "skipw", "--thr-range", "0.5,1"], "--thr-range applies to --family thr only"),
        (
            &["--family", "gru", "--thr-zero-share", "0.2"],
            "--thr-zero-share applies to --family thr and --family skipw only",
        ),
        (
            &["--family", "nested", "--knob-changes", "2"],
            "--knob-changes applies to --family skipw only, not to --family nested",
        ),
        (&["--family", "thr", "--knob-changes", "2"], "--knob-changes applies to --family skipw only"),
        (&["--family", "thr", "--budget-lambda", "0.1"], "--budget-lambda applies to --family skipw only"),
        (&["--family", "gru", "--max-changes", "0"], "--max-changes applies to --family nested only"),
        (&["--family", "thr", "--micro-batches", "2"], "--micro-batches applies to --family gru only"),
        (&["--family", "gru", "--micro-batches", "0"], "invalid value '0' for '--micro-batches"),
        (
            &["--family", "gru", "--batch-size", "8", "--micro-batches", "9"],
            "--micro-batches 9: a mini-batch of --batch-size 8 splits into at most 8 parts",
        ),
        (&["--family", "thr", "--switch-freeze-members"], "--switch-freeze-members applies to --family gru only"),
        (
            &["--family", "gru", "--switch-freeze-members"],
            "--switch-freeze-members sets the switch fine-tune: give --switch-epochs N",
        ),
        (&["--family", "gru", "--switch-max-changes", "2"], "--switch-max-changes sets the switch fine-tune"),
        (&["--family", "thr", "--lambda", "1e-3", "--switch-epochs", "2"], "give two or more --lambda values"),
        (
            &["--family", "gru", "--switch-epochs", "1", "--switch-lr", "-0.1"],
            "--switch-lr must be a positive number, got -0.1",
        ),
    ] {
        let stderr = train_refused(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("unexpected argument"), "{stderr}");
    }
    // Range checks name the one flag that is wrong.
    let select = train_refused(&["--family", "thr", "--widths", "4", "--epochs", "1", "--thr-select", "0.5,1.2"]);
    assert!(select.contains("--thr-select 1.2: each threshold must be a number in [0, 1.01]"), "{select}");
    assert!(!select.contains("--thr-range"), "{select}");
    let range = train_refused(&["--family", "thr", "--widths", "4", "--epochs", "1", "--thr-range", "0.9,0.5"]);
    assert!(range.contains("--thr-range 0.9,0.5: need 0 ≤ LO ≤ HI ≤ 1") && !range.contains("--thr-select"), "{range}");
    let train_thr = train_refused(&["--family", "skipw", "--widths", "4", "--epochs", "1", "--train-thr", "-0.5,1.5"]);
    assert!(train_thr.contains("--train-thr -0.5,1.5: give LO,HI with 0 ≤ LO ≤ HI ≤ 1"), "{train_thr}");
}

/// Defect (issue 11 tester): `--init-from` silently ignored --widths / --epochs / --learning-rate
/// (the card recorded a command with flags not applied), and a non-bank folder gave "unknown field
/// `name`".
#[test]
fn train_init_from_refuses_member_flags_and_names_a_non_bank_folder() {
    let bank = crate::at("models/digits-gru");
    let bank = bank.to_str().unwrap();
    for flag in ["--widths", "--epochs", "--learning-rate"] {
        let value = if flag == "--learning-rate" { "0.1" } else { "4" };
        let stderr = train_refused(&["--init-from", bank, "--switch-epochs", "1", flag, value]);
        assert!(stderr.contains(&format!("{flag} is not used with --init-from")), "{stderr}");
        assert!(stderr.contains("come from the init folder"), "{stderr}");
    }
    let nested = crate::at("models/digits-nested");
    let stderr = train_refused(&["--init-from", nested.to_str().unwrap(), "--switch-epochs", "1"]);
    assert!(stderr.contains("not a switching bank folder (family `nested`)"), "{stderr}");
    assert!(!stderr.contains("unknown field"), "{stderr}");
}

/// Defect (issue 11 tester): a divergence in the switch fine-tune said "training of H=8 diverged …
/// lower --learning-rate or --clip-norm"; it now names the phase and the flags of its step size.
#[test]
fn switch_fine_tune_divergence_names_the_phase_and_its_flags() {
    let error = flexrnn::train::TrainError::FineTuneDiverged {
        phase: "the bank's members and maps",
        epoch: 3,
        loss: f64::NAN,
        flags: "--switch-lr / --switch-member-lr or --clip-norm",
    };
    assert_eq!(
        error.to_string(),
        "the switch fine-tune of the bank's members and maps diverged at epoch 3 (loss NaN); lower --switch-lr / --switch-member-lr or --clip-norm"
    );
}

/// Issue 14: `output: { jobs: false, steps: false }` leaves out `jobs.csv` and `steps.csv` (and the
/// marker does not list them) while every summary stays byte for byte what the run with every file
/// prints; the files written while the run goes (streamed into the staging folder) are the same
/// whether the folder is swapped in whole or written file by file among foreign files (`--force`).
#[test]
fn output_switches_leave_out_record_files_and_keep_the_summaries() {
    let input = tempfile::tempdir().unwrap();
    let all = write_scenario(input.path(), "all.yaml", &short_default(4, "2s"));
    let text = format!("{}output: {{ jobs: false, steps: false }}\n", short_default(4, "2s"));
    let some = write_scenario(input.path(), "some.yaml", &text);
    let dir = tempfile::tempdir().unwrap();
    let run = |scenario: &std::path::Path, out: &std::path::Path, force: bool| {
        let mut command = flexrnn();
        command.args(["run"]).arg(scenario).arg("--out").arg(out);
        if force {
            command.arg("--force");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    let (with_all, with_some, among) = (dir.path().join("all"), dir.path().join("some"), dir.path().join("among"));
    run(&all, &with_all, false);
    run(&some, &with_some, false);
    std::fs::create_dir(&among).unwrap();
    std::fs::write(among.join("notes.txt"), "mine").unwrap();
    run(&all, &among, true);
    let read =
        |dir: &std::path::Path, file: &str| std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    for policy in ["static-gru-128", "static-gru-16", "greedy_slack"] {
        let policy_dir = with_some.join(policy);
        assert!(!policy_dir.join("jobs.csv").exists() && !policy_dir.join("steps.csv").exists(), "{policy}");
        for file in ["summary.csv", "sequences.csv", "timeline.csv"] {
            assert_eq!(read(&policy_dir, file), read(&with_all.join(policy), file), "{policy}/{file}");
        }
        for file in ["summary.csv", "sequences.csv", "timeline.csv", "jobs.csv", "steps.csv"] {
            assert_eq!(read(&among.join(policy), file), read(&with_all.join(policy), file), "{policy}/{file} in place");
        }
        assert!(read(&with_all.join(policy), "steps.csv").len() > 1000, "{policy}: steps.csv has rows");
    }
    for file in ["comparison.csv", "comparison.md", "plots/latency_cdf.svg", "plots/timeline.svg"] {
        assert_eq!(read(&with_some, file), read(&with_all, file), "{file}");
    }
    assert_eq!(read(&among, "notes.txt"), b"mine");
    let marker = String::from_utf8(read(&with_some, ".flexrnn-output.json")).unwrap();
    assert!(marker.contains("greedy_slack/sequences.csv") && !marker.contains("steps.csv"), "{marker}");
    // No staging folder or temporary file is left beside or in the folders.
    let hidden: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".flexrnn-new-") || p.to_string_lossy().contains(".flexrnn-tmp"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}
