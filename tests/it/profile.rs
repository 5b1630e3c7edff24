//! Step costs measured on hardware: `flexrnn profile` writes a row for every setting and operation of
//! a model folder, and a stream's `cost: { profile: FILE, scale: s }` reads it (errors naming the
//! file, line and field, or the setting a profile lacks); `cost: flops` is today's behaviour.

use std::process::Command;

use flexrnn::rnn::FlexibleModel;
use flexrnn::runner;
use flexrnn::scenario::Scenario;
use flexrnn::workload::profile::{parse_profile_csv, Operation, StepCost, StepProfile};

use crate::{at, run_scenario, yaml_with};

/// A scenario in `dir` running the default stream on `models/digits-gru` for 2 s with greedy_slack,
/// with `cost` inserted as the stream's field (e.g. `cost: flops`), or none.
fn scenario_text(cost: Option<&str>) -> String {
    let mut text = yaml_with(
        "default.yaml",
        &[
            ("duration: 120s", "duration: 2s"),
            ("      - static: { model: gru-128 }\n      - static: { model: gru-16 }\n", ""),
            ("    split: test", "    sequences: 5\n    split: test"),
        ],
    );
    if let Some(cost) = cost {
        text = text.replace("    on_miss: skip ", &format!("    {cost}\n    on_miss: skip "));
    }
    text.replace("../models/digits-gru", &at("models/digits-gru").display().to_string())
}

/// The shipped profile of `models/digits-gru` (a file, not timings taken during the test run, which
/// would make the runs below depend on the machine's load).
fn measured_digits_gru() -> StepProfile {
    let text = std::fs::read_to_string(at("profiles/digits-gru.csv")).unwrap();
    parse_profile_csv(&text, "digits-gru.csv").unwrap()
}

#[test]
fn profile_writes_a_row_for_every_setting_and_operation() {
    let dir = tempfile::tempdir().unwrap();
    let expected = |model: &FlexibleModel, setting: usize| -> Vec<Operation> {
        let name = &model.settings()[setting].name;
        let mut operations = vec![Operation::Update];
        match model.family() {
            "thr" => operations.push(Operation::Skip),
            "skipw" => operations.extend([Operation::Skip, Operation::Window]),
            "switch" => operations.extend(
                model.settings().iter().filter(|s| &s.name != name).map(|s| Operation::Map { to: s.name.clone() }),
            ),
            _ => {}
        }
        operations.push(Operation::Readout);
        operations
    };
    for folder in ["digits-gru", "digits-thr", "digits-skipw", "digits-nested"] {
        let out = dir.path().join(format!("{folder}.csv"));
        let status = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .current_dir(crate::root())
            .args(["profile", &format!("models/{folder}"), "--repetitions", "25", "--warmup", "3", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        let text = std::fs::read_to_string(&out).unwrap();
        let profile = parse_profile_csv(&text, "out.csv").unwrap();
        let model = FlexibleModel::load(&at(&format!("models/{folder}"))).unwrap();
        let mut want = Vec::new();
        for (index, setting) in model.settings().iter().enumerate() {
            want.extend(expected(&model, index).into_iter().map(|op| (setting.name.clone(), op)));
        }
        let got: Vec<(String, Operation)> =
            profile.rows.iter().map(|r| (r.setting.clone(), r.operation.clone())).collect();
        assert_eq!(got, want, "{folder}");
        for row in &profile.rows {
            assert_eq!((row.repetitions, row.samples.len()), (25, 25), "{folder} {row:?}");
            assert!(row.p50_s <= row.p90_s && row.p90_s <= row.p99_s, "{folder} {row:?}");
            // A step, map or readout runs a matrix product: it takes time (a skip may be below the
            // timer's resolution).
            if row.operation != Operation::Skip {
                assert!(row.mean_s > 0.0 && row.p50_s > 0.0, "{folder} {row:?}");
            }
        }
        let notes: Vec<&str> = profile.notes.iter().map(|(key, _)| key.as_str()).collect();
        for key in ["cpu", "isa", "threads", "flexrnn", "date", "repetitions", "command"] {
            assert!(notes.contains(&key), "{folder}: no `# {key}:` line in {notes:?}");
        }
        // Without --force an existing file is kept.
        let again = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .current_dir(crate::root())
            .args(["profile", &format!("models/{folder}"), "--repetitions", "2", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(!again.status.success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    }
    // Repetitions that cannot be held in memory, and a trim that would leave nothing: refused before
    // any timing, naming the flag and what is allowed.
    for (flag, value, expect) in [
        ("--repetitions", "100000000000", "at most 10000000"),
        ("--trim", "1", "up to, not including, 1"),
        ("--trim", "-0.1", "--trim -0.1"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
            .current_dir(crate::root())
            .args(["profile", "models/digits-gru", flag, value, "--out"])
            .arg(dir.path().join("never.csv"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && err.contains(expect) && !err.contains("panicked"), "{flag} {value}: {err}");
        assert!(!dir.path().join("never.csv").exists());
    }
}

#[test]
fn cost_flops_written_or_not_gives_the_same_run() {
    let records = |text: &str| {
        let scenario = Scenario::parse(text, "test.yaml", &crate::root().join("scenarios")).unwrap();
        let (_, results) = run_scenario(&scenario, false);
        results.into_iter().map(|r| r.outcome.recorder.steps).collect::<Vec<_>>()
    };
    let default = records(&scenario_text(None));
    assert!(default[0].len() > 100);
    assert_eq!(records(&scenario_text(Some("cost: flops"))), default);
}

#[test]
fn a_profiled_stream_runs_end_to_end_and_its_policy_sees_the_profiles_costs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.csv"), measured_digits_gru().to_csv()).unwrap();
    let text = scenario_text(Some("cost: { profile: here.csv, scale: 2000 }"));
    let scenario = Scenario::parse(&text, "test.yaml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let StepCost::Profile { scale, profile, .. } = &scenario.streams().next().unwrap().cost else {
        panic!("a profile cost")
    };
    assert_eq!((*scale, profile.rows.len()), (2000.0, 20));
    let (_, results) = run_scenario(&scenario, false);
    let steps = &results[0].outcome.recorder.steps;
    // Every step's work is a drawn duration × 2000 × 25 MFLOP/s: at least the fastest sample of its
    // setting's update row.
    let fastest = |setting: &str| {
        let row = &profile.rows[profile.find(setting, &Operation::Update).unwrap()];
        row.samples.iter().cloned().fold(f64::INFINITY, f64::min) * 2000.0 * 25e6
    };
    let names = ["gru-16", "gru-32", "gru-64", "gru-128"];
    let ran: Vec<_> = steps.iter().filter(|s| s.end.is_some()).collect();
    assert!(ran.len() > 100);
    for step in ran {
        let setting = names[step.model.unwrap()];
        assert!(step.flops >= fastest(setting) * (1.0 - 1e-12), "{step:?}");
    }
}

#[test]
fn profile_errors_name_the_file_line_and_field_or_the_setting_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let parse =
        |cost: &str| Scenario::parse(&scenario_text(Some(cost)), "test.yaml", dir.path()).err().map(|e| e.to_string());
    // A bad number, at its line of the profile.
    std::fs::write(
        dir.path().join("bad.csv"),
        "# cpu: x\nsetting,operation,repetitions,mean_s,p50_s,p90_s,p99_s\ngru-16,update,5,2e-6,2e-6,2e-6,2e-6\ngru-16,readout,5,fast,1e-6,1e-6,1e-6\n",
    )
    .unwrap();
    let error = parse("cost: { profile: bad.csv }").unwrap();
    assert!(
        error.contains("process `digits`: `cost.profile`: bad.csv line 4: field `mean_s`: `fast` is not a finite non-negative number of seconds"),
        "{error}"
    );
    assert!(error.starts_with("test.yaml:"), "{error}");
    let missing = parse("cost: { profile: none.csv }").unwrap();
    assert!(missing.contains("cannot read `none.csv`"), "{missing}");
    let scale = parse("cost: { profile: bad.csv, scale: 0 }").unwrap();
    assert!(scale.contains("`cost.scale` must be a finite number > 0"), "{scale}");
    let unknown = parse("cost: seconds").unwrap();
    assert!(unknown.contains("unknown cost model `seconds`; allowed: `flops`"), "{unknown}");
    let field = parse("cost: { profile: bad.csv, speed: 2 }").unwrap();
    assert!(field.contains("unknown field `speed`"), "{field}");
    // A profile without gru-128: refused when the models are loaded, naming the file and the setting.
    let mut partial = measured_digits_gru();
    partial.rows.retain(|row| row.setting != "gru-128");
    std::fs::write(dir.path().join("partial.csv"), partial.to_csv()).unwrap();
    let scenario = Scenario::parse(&scenario_text(Some("cost: { profile: partial.csv }")), "test.yaml", dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let error = runner::load_resources(&scenario).err().unwrap().to_string();
    assert!(
        error.contains("stream `digits`.cost: profile partial.csv: no row for setting `gru-128`, operation `update`"),
        "{error}"
    );
    // A profile without a map the bank needs.
    let mut no_map = measured_digits_gru();
    no_map.rows.retain(|row| row.operation != Operation::Map { to: "gru-64".into() } || row.setting != "gru-16");
    std::fs::write(dir.path().join("no-map.csv"), no_map.to_csv()).unwrap();
    let scenario = Scenario::parse(&scenario_text(Some("cost: { profile: no-map.csv }")), "test.yaml", dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let error = runner::load_resources(&scenario).err().unwrap().to_string();
    assert!(error.contains("no row for setting `gru-16`, operation `map:gru-64`"), "{error}");
    // Rows of a setting the folder does not have: a profile of another model.
    let mut other = measured_digits_gru();
    let mut stray = other.rows[0].clone();
    stray.setting = "gru-99".into();
    other.rows.push(stray);
    std::fs::write(dir.path().join("other.csv"), other.to_csv()).unwrap();
    let scenario = Scenario::parse(&scenario_text(Some("cost: { profile: other.csv }")), "test.yaml", dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let error = runner::load_resources(&scenario).err().unwrap().to_string();
    assert!(
        error.contains("profile other.csv: rows for setting `gru-99`, which the stream's model folder does not have")
            && error.contains("gru-16, gru-32, gru-64, gru-128"),
        "{error}"
    );
}

#[test]
fn a_builder_stream_reads_its_profile_like_the_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let profile = measured_digits_gru();
    std::fs::write(dir.path().join("here.csv"), profile.to_csv()).unwrap();
    let from_file =
        Scenario::parse(&scenario_text(Some("cost: { profile: here.csv, scale: 3 }")), "t.yaml", dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
    let cost = StepCost::Profile { file: "here.csv".into(), scale: 3.0, profile: Default::default() };
    let built = from_file
        .to_builder()
        .edit_stream("digits", |s| s.cost(StepCost::Flops).cost(cost.clone()))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(built.streams().next().unwrap().cost, from_file.streams().next().unwrap().cost);
}

#[test]
fn every_shipped_profile_reads_and_covers_its_model_folder() {
    // `profiles/<folder>.csv` (measured here) and `profiles/rpi4-a72-derived/<folder>.csv`: each parses
    // and has update and readout rows for every setting of `models/<folder>`, and skips for Skip-RNNs.
    let mut checked = 0;
    for dir in [at("profiles"), at("profiles/rpi4-a72-derived")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "csv") {
                continue;
            }
            let folder = path.file_stem().unwrap().to_string_lossy().into_owned();
            let profile = parse_profile_csv(&std::fs::read_to_string(&path).unwrap(), &folder)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let model = FlexibleModel::load(&at(&format!("models/{folder}"))).unwrap();
            for setting in model.settings() {
                for operation in [Operation::Update, Operation::Readout] {
                    assert!(profile.find(&setting.name, &operation).is_some(), "{}: {}", path.display(), setting.name);
                }
            }
            if model.family() == "thr" || model.family() == "skipw" {
                assert!(model.settings().iter().all(|s| profile.find(&s.name, &Operation::Skip).is_some()));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 14);
}

#[test]
fn a_continuous_knob_setting_uses_its_models_rows_and_runs_under_a_profile() {
    // thr-knob.yaml under the shipped digits-thr profile, with a threshold between the grid points
    // (0.93, between 0.9 and 0.95): its kernels are those of its model, so the rows of the model's
    // first setting, `thr-64-3e-3@thr=0`, serve it; every step's work
    // is then one of that model's update or skip samples (× 25 MFLOP/s), plus a readout at the end.
    let text = yaml_with(
        "thr-knob.yaml",
        &[
            ("duration: 120s", "duration: 3s"),
            ("static: { model: thr-64-3e-3@thr=0.9 }", "static: { model: thr-64-3e-3@thr=0.93 }"),
            ("    on_miss: skip", "    cost: { profile: ../profiles/digits-thr.csv }\n    on_miss: skip"),
        ],
    );
    let scenario =
        Scenario::parse(&text, "thr.yaml", &crate::root().join("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let (resources, results) = run_scenario(&scenario, false);
    let model = &resources.banks.values().next().unwrap().model;
    assert!(model.setting_index("thr-64-3e-3@thr=0.93").is_some());
    let StepCost::Profile { profile, .. } = &scenario.streams().next().unwrap().cost else { panic!() };
    let samples = |operation: Operation| {
        let row = &profile.rows[profile.find("thr-64-3e-3@thr=0", &operation).unwrap()];
        row.samples.iter().map(|s| s * 25e6).collect::<Vec<f64>>()
    };
    let (updates, skips) = (samples(Operation::Update), samples(Operation::Skip));
    // The second run: the static policy at thr = 0.93.
    let steps = &results[1].outcome.recorder.steps;
    let mut seen = (0, 0);
    for step in steps.iter().filter(|s| s.end.is_some() && s.step + 1 < 64) {
        let pool = if step.updated { (&updates, &mut seen.0) } else { (&skips, &mut seen.1) };
        assert!(pool.0.iter().any(|&w| (w - step.flops).abs() <= 1e-9 * w.max(1.0)), "{step:?}");
        *pool.1 += 1;
    }
    assert!(seen.0 > 50 && seen.1 > 50, "{seen:?}");
}
