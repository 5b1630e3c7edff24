//! The flexible families in the simulator: knob changes load nothing, a step the model's gate skips
//! reads no input and cancels its frame's pipeline stages, and the shipped family scenarios run.

use std::num::NonZeroUsize;

use flexrnn::node::Discipline;
use flexrnn::policy::budget::BudgetConfig;
use flexrnn::policy::pid::PidConfig;
use flexrnn::policy::random::RandomConfig;
use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::PolicySpec;
use flexrnn::report::{labels, summary_rows};
use flexrnn::scenario::{NodeSpec, ParameterMemory, Scenario, ScenarioBuilder, StageSpec, StreamBuilder};
use flexrnn::sim::SimTime;
use flexrnn::units::{Duration, Work};
use flexrnn::workload::WorkDistribution;

use crate::{load_shipped, ms, root, run_built, run_text, secs, shipped};

fn fixed(setting: &str) -> PolicySpec {
    PolicySpec::new(StaticConfig { model: setting.into() }).unwrap()
}

fn random() -> PolicySpec {
    PolicySpec::new(RandomConfig {}).unwrap()
}

/// A Skip-GRU stream alone on a fast node, with a parameter memory that holds the one model
/// (128 KiB), a 100 kFLOP feature stage before every step, and `policies`.
fn thr_with_pipeline(policies: impl IntoIterator<Item = PolicySpec>) -> ScenarioBuilder {
    stream_with_pipeline("../models/digits-thr", 128 * 1024, policies)
}

/// A stream of the model folder `models` alone on a fast node (one 1 GFLOP/s processor-sharing
/// core) with a parameter memory of `capacity` bytes loaded at 100 MB/s, a 100 kFLOP feature stage
/// before every step, and `policies`: digits, a frame every 5 ms due 5 ms later, for 2 s (seed 3).
fn stream_with_pipeline(
    models: &str,
    capacity: u64,
    policies: impl IntoIterator<Item = PolicySpec>,
) -> ScenarioBuilder {
    let mut node = NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing);
    node.memory = Some(ParameterMemory { capacity, bandwidth: 100e6 });
    let features =
        StageSpec { name: "features".into(), work: WorkDistribution::Constant(100e3), after: vec![], device: None };
    let stream = StreamBuilder::new("digits", "digits", models, ms(5), ms(5)).stage(features).policies(policies);
    Scenario::builder("t").seed(3).duration(secs(2)).node(node).dir(root().join("scenarios")).stream(stream)
}

/// [`stream_with_pipeline`] with a 256 KiB memory as YAML text, `policies` the policy lines (from
/// line 15): for the errors located in the text.
fn stream_with_pipeline_yaml(models: &str, policies: &str) -> String {
    format!(
        "name: t\nseed: 3\nduration: 2s\nnode: {{ cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing, memory: {{ capacity: 256KiB, bandwidth: 100MB/s }} }}\nprocesses:\n  - name: digits\n    kind: rnn_stream\n    dataset: digits\n    models: {models}\n    period: 5ms\n    deadline: 5ms\n    pipeline:\n      - {{ name: features, work: {{ constant: 100kFLOP }} }}\n    policies:\n{policies}"
    )
}

#[test]
fn a_gate_skip_reads_no_input_and_cancels_its_stages() {
    let policies = [fixed("thr-64-1e-3@thr=0"), fixed("thr-64-1e-3@thr=1.01")];
    let (scenario, resources, results) = run_built(thr_with_pipeline(policies), false);
    let labels = labels(&scenario, &resources);
    let rows: Vec<_> = results.iter().map(|r| summary_rows(r, &scenario, &labels)[0].clone()).collect();
    let frames = 400.0; // 2 s / 5 ms
                        // thr = 0: every frame runs its stage (100 kFLOP) and an update (26 115 FLOPs) on a 1 GFLOP/s core.
    let every = &results[0].outcome.recorder.steps;
    assert!(every.iter().all(|s| s.updated || s.unfinished), "thr = 0 updates every step");
    let expected = frames * (100_000.0 + 26_115.0) / 1e9 / 2.0;
    assert!((rows[0].utilisation - expected).abs() / expected < 0.02, "{} vs {expected}", rows[0].utilisation);
    // thr > 1: no step updates, so no frame needs its features: every stage is cancelled as soon as
    // the step is planned (at the frame's release: the stream is idle), and the step costs 3 FLOPs.
    let none = &results[1].outcome.recorder.steps;
    assert!(none.iter().all(|s| !s.updated), "thr > 1 updates no step");
    assert!(
        none.iter().filter(|s| !s.unfinished).all(|s| s.flops <= 3.0 + 10_000.0),
        "only the skip (and the readout)"
    );
    assert!(rows[1].utilisation < 1e-3, "stages cancelled: {}", rows[1].utilisation);
    // The state never moves, so every sequence gets the same class.
    let sequences = &results[1].outcome.recorder.sequences;
    assert!(sequences.len() >= 5 && sequences.iter().all(|q| q.prediction == sequences[0].prediction));
}

#[test]
fn knob_changes_load_no_parameters() {
    // A random setting every step: the thresholds of each Skip-GRU live in its 54 KB block (a 128 KiB
    // memory holds both), the nested widths in one 211 KB block (a 256 KiB memory holds it).
    let thr = thr_with_pipeline([random(), fixed("thr-64-1e-3@thr=0.5")]);
    let nested = stream_with_pipeline("../models/digits-nested", 256 * 1024, [random(), fixed("w=32")]);
    for builder in [thr, nested] {
        let (scenario, resources, results) = run_built(builder, false);
        let labels = labels(&scenario, &resources);
        for result in &results {
            let settings: std::collections::BTreeSet<_> =
                result.outcome.recorder.steps.iter().filter_map(|s| s.model).collect();
            assert!(settings.len() > 1 || result.plan.index == 1, "{}: several settings used", result.plan.label);
            // One load per model block used (the two Skip-GRUs are two blocks; every threshold of one
            // of them, or every width of the nested GRU, lives in its model's block).
            let model = &resources.banks.values().next().unwrap().model;
            let blocks: std::collections::BTreeSet<usize> =
                settings.iter().map(|&i| model.settings()[i].block).collect();
            let row = &summary_rows(result, &scenario, &labels)[0];
            assert_eq!(row.param_loads, Some(blocks.len() as u64), "{}: one load per model block", result.plan.label);
        }
    }
}

#[test]
fn shipped_family_scenarios_run() {
    for name in ["thr-knob.yaml", "skipw-window.yaml"] {
        let (scenario, resources, results) = run_built(load_shipped(name).to_builder().duration(secs(20)), true);
        let labels = labels(&scenario, &resources);
        for result in &results {
            let row = &summary_rows(result, &scenario, &labels)[0];
            // Well above chance (0.1).
            assert!(row.accuracy.unwrap() > 0.5, "{name} {}: {:?}", result.plan.label, row.accuracy);
        }
        // The narrower setting (fewer inputs read: about two in three on thr-knob, at most half on
        // skipw-window) computes less per frame than every input read.
        let rows: Vec<_> = results.iter().map(|r| summary_rows(r, &scenario, &labels)[0].clone()).collect();
        assert!(rows[1].mean_flops_per_step.unwrap() < 0.7 * rows[0].mean_flops_per_step.unwrap(), "{name}");
        let updated = |i: usize| results[i].outcome.recorder.steps.iter().filter(|s| s.updated).count();
        assert!(updated(1) * 10 < updated(0) * 7, "{name}: fewer inputs read");
    }
}

#[test]
fn basic_motions_skips_cancel_the_feature_stage_of_skipped_frames() {
    // BasicMotions played by a Skip-GRU behind a 1 MFLOP feature stage (40 ms alone on this node).
    let (scenario, resources, results) = run_text(&shipped("basic-motions-skip.yaml"), true);
    let labels = labels(&scenario, &resources);
    let rows: Vec<_> = results.iter().map(|r| summary_rows(r, &scenario, &labels)[0].clone()).collect();
    assert_eq!(rows[0].sequences, Some(40), "the 40 test series, each once");
    let updated = |i: usize| results[i].outcome.recorder.steps.iter().filter(|s| s.updated).count();
    // thr = 0.5 reads about a fifth of the frames (18.1 % on the card's test split, without misses)…
    assert!(updated(1) * 2 < updated(0), "{} vs {} frames read", updated(1), updated(0));
    // …so its feature stages are cancelled too: the stream keeps the node busy for less, and fewer
    // frames miss.
    let busy = |i: usize| rows[i].utilisation;
    assert!(busy(1) < busy(0) - 0.1, "busy share {} vs {}", busy(1), busy(0));
    assert!(rows[1].miss_rate.unwrap() < rows[0].miss_rate.unwrap());
    assert!(rows[1].accuracy.unwrap() > rows[0].accuracy.unwrap());
}

#[test]
fn shipped_nested_scenario_runs_with_one_parameter_load() {
    let (scenario, resources, results) =
        run_built(load_shipped("nested-width.yaml").to_builder().duration(secs(20)), true);
    let labels = labels(&scenario, &resources);
    let rows: Vec<_> = results.iter().map(|r| summary_rows(r, &scenario, &labels)[0].clone()).collect();
    let labels: Vec<&str> = results.iter().map(|r| r.plan.label.as_str()).collect();
    assert_eq!(labels, ["static-w=128", "static-w=16", "greedy_slack", "threshold"]);
    for (result, row) in results.iter().zip(&rows) {
        let label = &result.plan.label;
        // One 211 KB block, loaded once, whatever the widths used.
        assert_eq!((row.param_loads, row.param_bytes_loaded), (Some(1), Some(210_976)), "{label}");
        // A nested step never skips its input: every step that ran to its end read it.
        assert!(
            result.outcome.recorder.steps.iter().filter(|s| s.model.is_some() && !s.unfinished).all(|s| s.updated),
            "{label}"
        );
    }
    let widths = |i: usize| {
        results[i].outcome.recorder.steps.iter().filter_map(|s| s.model).collect::<std::collections::BTreeSet<_>>()
    };
    assert!(widths(2).len() > 1 && widths(3).len() > 1, "the adaptive policies change width");
    // w = 16 computes 1.9 kFLOP per step, misses nothing and is as accurate as on its card (0.833).
    assert!(rows[1].mean_flops_per_step.unwrap() < 2_000.0);
    assert_eq!(rows[1].miss_rate, Some(0.0));
    assert!(rows[1].accuracy.unwrap() > 0.75, "{:?}", rows[1].accuracy);
    // w = 128 does not fit the default node beside its background; the adaptive policies beat both.
    assert!(rows[0].miss_rate.unwrap() > 0.3, "{:?}", rows[0].miss_rate);
    for i in [2, 3] {
        assert!(rows[i].accuracy.unwrap() > rows[0].accuracy.unwrap().max(rows[1].accuracy.unwrap()), "{}", labels[i]);
    }
}

/// Runs sequence `index` of `set` through `model` at setting `setting` held constant.
fn classify_at(
    model: &flexrnn::rnn::FlexibleModel,
    setting: usize,
    set: &flexrnn::data::SequenceSet,
    index: usize,
) -> u32 {
    let mut state = model.new_state();
    for t in 0..set.steps {
        let plan = model.plan(setting, &mut state);
        model.step(setting, plan.updates.then(|| set.frame(index, t)), &mut state);
    }
    model.predict(&mut state)
}

/// A threshold between the card's grid points (0.63, between 0.6 and 0.65) is accepted where a setting
/// is named: the scenario run classifies every sequence as the Skip-GRU itself does at 0.63 and as a
/// direct `FlexibleModel` run at 0.63, and the setting's expected cost is the card's grid interpolated
/// linearly by hand.
#[test]
fn a_continuous_threshold_reproduces_a_direct_run_and_interpolates_the_card() {
    use flexrnn::rnn::FlexibleModel;
    let policies = [fixed("thr-64-1e-3@thr=0.63"), fixed("thr-64-1e-3@thr=0.80")];
    let (_, resources, results) = run_built(thr_with_pipeline(policies), false);
    let model = &resources.banks.values().next().unwrap().model;
    let grid_settings = FlexibleModel::load(&crate::at("models/digits-thr")).unwrap().settings().len();
    // 0.63 joins the settings; 0.80 is the (thinned) grid's 0.8 (no new setting).
    assert_eq!(model.settings().len(), grid_settings + 1);
    let added = &model.settings()[grid_settings];
    assert_eq!(added.name, "thr-64-1e-3@thr=0.63");
    assert_eq!(model.setting_index("thr-64-1e-3@thr=0.80"), model.setting_index("thr-64-1e-3@thr=0.8"));

    // Expected cost by hand: the card's points at thr 0.6 and 0.65 (as f32, like every threshold),
    // t = (0.63 − 0.6) / (0.65 − 0.6) = 0.6 in f32 arithmetic.
    let t = (f64::from(0.63f32) - f64::from(0.6f32)) / (f64::from(0.65f32) - f64::from(0.6f32));
    let expected_flops = 26050.220055710306 + t * (25987.713091922007 - 26050.220055710306);
    assert!((added.expected_flops_per_step.unwrap() - expected_flops).abs() < 1e-9);
    assert!((expected_flops - 26012.716).abs() < 0.01, "{expected_flops}");
    assert_eq!(added.expected_accuracy, Some(0.9777158774373259), "equal neighbours");
    // The other Skip-GRU's accuracy moves between its neighbours: 0.96936 → 0.97493.
    let mut other = FlexibleModel::load(&crate::at("models/digits-thr")).unwrap();
    let index = other.add_setting("thr-64-3e-3@thr=0.63").unwrap();
    let accuracy = 0.9693593314763231 + t * (0.9749303621169917 - 0.9693593314763231);
    assert!((other.settings()[index].expected_accuracy.unwrap() - accuracy).abs() < 1e-12);
    assert!((accuracy - 0.972702).abs() < 1e-6, "{accuracy}");
    assert!((other.settings()[index].expected_flops_per_step.unwrap() - 20973.97270194986).abs() < 1e-6);

    // The run at 0.63: every sequence as the Skip-GRU at 0.63 and as FlexibleModel at 0.63.
    let set = flexrnn::data::load_digits().unwrap();
    let (skips, _) = flexrnn::rnn::io::load_skip_models(&crate::at("models/digits-thr")).unwrap();
    let mut direct = FlexibleModel::load(&crate::at("models/digits-thr")).unwrap();
    let at_063 = direct.add_setting("thr-64-1e-3@thr=0.63").unwrap();
    let sequences = &results[0].outcome.recorder.sequences;
    assert!(sequences.len() >= 5, "{}", sequences.len());
    let mut differs_from_grid = false;
    for record in sequences {
        let own = skips[0].classify(set.sequence(record.dataset_index), 0.63);
        assert_eq!(record.prediction, own.class, "sequence {}", record.dataset_index);
        assert_eq!(record.prediction, classify_at(&direct, at_063, &set, record.dataset_index));
        differs_from_grid |=
            own.updated_steps != skips[0].classify(set.sequence(record.dataset_index), 0.6).updated_steps;
        assert_eq!(record.steps_per_model.iter().sum::<u32>() as usize, set.steps);
        assert_eq!(record.steps_per_model[grid_settings] as usize, set.steps, "every step at the new setting");
    }
    assert!(differs_from_grid, "0.63 is not simply the grid's 0.6");
}

/// A knob value outside the model's range is rejected where it is written, with the allowed range.
#[test]
fn out_of_range_knob_values_are_rejected_with_the_allowed_range() {
    let error = |models: &str, policies: &str| {
        let text = stream_with_pipeline_yaml(models, policies);
        let scenario =
            flexrnn::scenario::Scenario::parse(&text, "test.yaml", &crate::root().join("scenarios")).unwrap();
        match flexrnn::runner::load_resources(&scenario) {
            Err(e) => e.to_string(),
            Ok(resources) => flexrnn::runner::plan_runs(&scenario, &resources).unwrap_err().to_string(),
        }
    };
    // The policies start at line 15 of the generated file.
    let thr =
        error("../models/digits-thr", "      - greedy_slack: {}\n      - static: { model: thr-64-1e-3@thr=1.5 }\n");
    for part in ["test.yaml:16", "policies[1]", "thr = 1.5", "0 ≤ thr ≤ 1.01", "../models/digits-thr"] {
        assert!(thr.contains(part), "{part}: {thr}");
    }
    let negative = error("../models/digits-thr", "      - static: { model: thr-64-3e-3@thr=-0.1 }\n");
    assert!(negative.contains("thr = -0.1") && negative.contains("0 ≤ thr ≤ 1.01"), "{negative}");
    let k = error("../models/digits-skipw", "      - static: { model: \"k=9,thr=0.5\" }\n");
    assert!(k.contains("K = 9") && k.contains("K in 0..=8"), "{k}");
    let skipw_thr = error(
        "../models/digits-skipw",
        "      - threshold: { models: [\"k=8,thr=0\", \"k=3,thr=1.2\"], thresholds: [1] }\n",
    );
    assert!(skipw_thr.contains("thr = 1.2") && skipw_thr.contains("0 ≤ thr ≤ 0.9"), "{skipw_thr}");
    // Above the card grid's highest threshold (0.9) no cost was measured: refused, not guessed.
    let above_grid = error("../models/digits-skipw", "      - static: { model: \"k=8,thr=0.95\" }\n");
    assert!(above_grid.contains("thr = 0.95") && above_grid.contains("0 ≤ thr ≤ 0.9"), "{above_grid}");
    // A name of no setting says which continuous forms exist.
    let unknown = error("../models/digits-thr", "      - static: { model: thr-99@thr=0.5 }\n");
    assert!(unknown.contains("`thr-64-1e-3@thr=<thr>` with 0 ≤ thr ≤ 1.01"), "{unknown}");
}

/// SkipW's `K = 0` reads nothing at any threshold: its expected cost is the window gates' alone,
/// `(2GL + L) / L` per step = (2·65·8 + 8) / 8 = 131 FLOPs for `digits-skipw` (H 64 with the time
/// input, L 8), for the built-in setting and for a continuous one; the card measured no score for it.
#[test]
fn skipw_k_zero_costs_the_window_gates_alone() {
    use flexrnn::rnn::FlexibleModel;
    let mut model = FlexibleModel::load(&crate::at("models/digits-skipw")).unwrap();
    let built_in = model.setting_index("k=0,thr=0.5").unwrap();
    let added = model.add_setting("k=0,thr=0.63").unwrap();
    for index in [built_in, added] {
        let setting = &model.settings()[index];
        assert_eq!(setting.expected_flops_per_step, Some(131.0), "{}", setting.name);
        assert_eq!(setting.expected_accuracy, None, "{}", setting.name);
    }
    // K ≥ 1 keeps the card's measured values (k=8 at thr 0.5: a grid point).
    let k8 = &model.settings()[model.setting_index("k=8,thr=0.5").unwrap()];
    assert!(k8.expected_flops_per_step.unwrap() > 131.0 && k8.expected_accuracy.is_some());
}

/// `pid` and `budget` with `knob_step` steer over the model's whole knob range at that resolution:
/// every Skip-GRU gets `thr = 0, 0.05, …, 1, 1.01` (22 values each, the grid's among them), and pid
/// runs thresholds between the grid's.
#[test]
fn pid_with_a_knob_step_sets_thresholds_between_the_grid_points() {
    use flexrnn::rnn::{FlexibleModel, Knobs};
    let grid = FlexibleModel::load(&crate::at("models/digits-thr")).unwrap();
    let policies = [
        PolicySpec::new(PidConfig {
            target: Duration(SimTime(115_000)),
            kp: 0.5,
            ki: 0.2,
            kd: 0.0,
            knob_step: Some(0.05),
        }),
        PolicySpec::new(BudgetConfig { window: 8, budget: Work(100e3), knob_step: Some(0.05) }),
    ]
    .map(Result::unwrap);
    let (_, resources, results) = run_built(thr_with_pipeline(policies), false);
    let model = &resources.banks.values().next().unwrap().model;
    assert_eq!(model.settings().len(), 2 * 22);
    assert_eq!(&model.settings()[..grid.settings().len()], grid.settings(), "the grid settings first, unchanged");
    let off_grid = |thr: f32| ((thr * 10.0).round() - thr * 10.0).abs() > 1e-3 && thr != 1.01;
    for result in &results {
        let used: std::collections::BTreeSet<usize> =
            result.outcome.recorder.steps.iter().filter_map(|s| s.model).collect();
        let thresholds: Vec<f32> = used
            .iter()
            .map(|&i| if let Knobs::Thr { thr, .. } = model.settings()[i].knobs { thr } else { panic!() })
            .collect();
        assert!(thresholds.len() > 2, "{}: {thresholds:?}", result.plan.label);
        // pid walks the range; budget (on this load, [0.5, 1.01, 0.3]) takes the first of equally
        // expensive settings, the grid's.
        if result.plan.index == 0 {
            assert!(thresholds.iter().any(|&t| off_grid(t)), "{}: {thresholds:?}", result.plan.label);
        }
    }
    assert_eq!(results[0].plan.label, "pid-knob0.05");
    // A bank has no continuous knob; a step of 0 is no step.
    let scenario_error = |models: &str, policies: &str| {
        let text = stream_with_pipeline_yaml(models, policies);
        match flexrnn::scenario::Scenario::parse(&text, "test.yaml", &crate::root().join("scenarios")) {
            Err(e) => e.to_string(),
            Ok(scenario) => flexrnn::runner::load_resources(&scenario).unwrap_err().to_string(),
        }
    };
    let bank = scenario_error("../models/digits-gru", "      - pid: { target: 1ms, kp: 0.5, knob_step: 0.1 }\n");
    assert!(bank.contains("test.yaml:15") && bank.contains("switch model has no continuous knob"), "{bank}");
    let zero = scenario_error("../models/digits-thr", "      - budget: { window: 8, budget: 1MFLOP, knob_step: 0 }\n");
    assert!(zero.contains("knob_step must be a number in [0.001, 1], got 0"), "{zero}");
}

/// Defect (issue 11 tester): `budget` with `knob_step` on SkipW charged the added settings their
/// card mean, so 437 of 500 aligned 8-step windows exceeded 60 kFLOP (max 208.9k). The budget now
/// charges every SkipW setting its worst case (gate + at most K read steps per window): no aligned
/// window of a sequence exceeds the budget, with and without `knob_step`, while settings off the
/// grid are still used.
#[test]
fn budget_with_a_knob_step_keeps_every_skipw_window_under_its_flops() {
    use flexrnn::rnn::Knobs;
    let budget = |knob_step| PolicySpec::new(BudgetConfig { window: 8, budget: Work(60e3), knob_step }).unwrap();
    let stream = StreamBuilder::new("digits", "digits", "../models/digits-skipw", ms(5), ms(5))
        .policies([budget(Some(0.05)), budget(None)]);
    let node = NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing);
    let scenario = Scenario::builder("t").seed(7).duration(secs(10)).node(node).dir(root().join("scenarios"));
    let (_, resources, results) = run_built(scenario.stream(stream), false);
    let model = &resources.banks.values().next().unwrap().model;
    let steps = 64;
    for result in &results {
        let mut windows: std::collections::BTreeMap<(u64, u32), f64> = Default::default();
        for s in result.outcome.recorder.steps.iter().filter(|s| !s.unfinished) {
            // The readout at a sequence's end is not part of the budget (steps and state maps).
            let readout = match s.model {
                Some(m) if s.step as usize == steps - 1 => model.readout_flops(m) as f64,
                _ => 0.0,
            };
            *windows.entry((s.sequence, s.step / 8)).or_default() += s.flops - readout;
        }
        assert!(windows.len() >= 200, "{}: {} windows", result.plan.label, windows.len());
        let max = windows.values().copied().fold(0.0, f64::max);
        let over = windows.values().filter(|&&f| f > 60_000.0).count();
        assert_eq!(over, 0, "{}: {over} of {} windows over 60 kFLOP (max {max})", result.plan.label, windows.len());
        // The budget is used, not just respected: some window reads at least one step.
        assert!(max > 26_000.0, "{}: max {max}", result.plan.label);
    }
    // The grid has k=0..8 at thr 0.5 and k=8 at thr 0 (10 settings); knob_step adds the others.
    assert_eq!(model.settings()[..10].iter().filter(|s| matches!(s.knobs, Knobs::SkipW { .. })).count(), 10);
    let added = results[0].outcome.recorder.steps.iter().filter_map(|s| s.model).filter(|&m| m >= 10).count();
    assert!(added > 0, "knob_step settings are used");
}

/// Defect (issue 11 tester): malformed knob values (`nan`, empty, `0.5.5`, `0x1`, `k=3.0`, a knob
/// given twice) were reported as "outside the range"; they now say they cannot be parsed and which
/// form is allowed. `k=3, thr=0.42` and `thr=0.42,k=3` name the same setting as `k=3,thr=0.42`;
/// values out of range still say so.
#[test]
fn malformed_knob_values_say_they_cannot_be_parsed_and_both_orders_are_accepted() {
    use flexrnn::rnn::{FlexibleModel, KnobError, Knobs};
    let mut thr = FlexibleModel::load(&crate::at("models/digits-thr")).unwrap();
    for value in ["nan", "", "0.5.5", "0x1", "inf"] {
        let name = format!("thr-64-1e-3@thr={value}");
        let error = thr.add_setting(&name).unwrap_err();
        assert!(matches!(error, KnobError::Unparsable { .. }), "{name}: {error}");
        let text = error.to_string();
        assert!(text.contains("cannot be parsed") && !text.contains("outside"), "{text}");
        assert!(text.contains("`thr-64-1e-3@thr=<thr>` (thr a decimal number) with 0 ≤ thr ≤ 1.01"), "{text}");
    }
    let out = thr.add_setting("thr-64-1e-3@thr=1.5").unwrap_err().to_string();
    assert!(out.contains("thr = 1.5 is outside the range") && out.contains("0 ≤ thr ≤ 1.01"), "{out}");

    let mut skipw = FlexibleModel::load(&crate::at("models/digits-skipw")).unwrap();
    for (name, problem) in [
        ("k=,thr=0.5", "K = \"\" is not a whole number"),
        ("k=3.0,thr=0.5", "K = \"3.0\" is not a whole number"),
        ("k=3,thr=0.5,thr=0.6", "thr is given twice"),
        ("k=3,thr=nan", "thr = \"nan\" is not a decimal number"),
        ("k=3", "thr (`thr=<thr>`) is missing"),
        ("k=3,w=2,thr=0.5", "unknown part `w`"),
    ] {
        let text = skipw.add_setting(name).unwrap_err().to_string();
        assert!(text.contains("cannot be parsed") && text.contains(problem), "{name}: {text}");
        assert!(text.contains("`k=<K>,thr=<thr>` or `thr=<thr>,k=<K>`"), "{text}");
    }
    let nine = skipw.add_setting("k=9,thr=0.5").unwrap_err().to_string();
    assert!(nine.contains("K = 9 is outside the range") && nine.contains("K in 0..=8"), "{nine}");
    // A grid name, with spaces or the other order, is that setting; an off-grid one is added once.
    let grid = skipw.setting_index("k=3,thr=0.5").unwrap();
    assert_eq!(skipw.add_setting("k=3, thr=0.5").unwrap(), grid);
    assert_eq!(skipw.add_setting("thr=0.5,k=3").unwrap(), grid);
    let before = skipw.settings().len();
    let added = skipw.add_setting("k=3, thr=0.42").unwrap();
    assert_eq!(added, before);
    assert_eq!(skipw.add_setting("thr=0.42,k=3").unwrap(), added);
    assert_eq!(skipw.settings()[added].name, "k=3,thr=0.42");
    assert_eq!(skipw.settings()[added].knobs, Knobs::SkipW { k: 3, thr: 0.42 });
}
