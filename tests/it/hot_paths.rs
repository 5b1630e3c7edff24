//! The event loop and the GRU step allocate nothing per event or step.

use flexrnn::engine::EdgeWorld;
use flexrnn::metrics::{JobRecord, Recorder, SequenceRecord, StepRecord};
use flexrnn::policy::oracle::{OracleConfig, DEFAULT_ORACLE_PASSES};
use flexrnn::policy::PolicySpec;
use flexrnn::rnn::io::{load_bank, load_nested, load_skip_models, load_skipw};
use flexrnn::rnn::{CellScratch, NestedScratch, RnnCell, SkipState, SkipWKnobs};
use flexrnn::runner;
use flexrnn::sim::{SimTime, Simulation};
use flexrnn::units::Duration;

use crate::alloc_count::allocations;
use crate::{at, other_builtin_policies, secs, short_default};

#[test]
fn gru_step_allocates_nothing() {
    let (bank, _) = load_bank(&at("models/digits-gru")).unwrap();
    for model in bank.models() {
        let mut h = vec![0.0f32; model.hidden_size()];
        let mut scratch = CellScratch::new(model.hidden_size());
        let mut logits = vec![0.0f32; model.classes()];
        let before = allocations();
        for t in 0..1000 {
            model.cell.step(&[(t % 17) as f32 / 16.0], &mut h, &mut scratch);
        }
        let _ = model.predict(&h, &mut logits);
        assert_eq!(allocations() - before, 0, "{}", model.name);
    }
}

#[test]
fn skip_gru_step_allocates_nothing_at_any_threshold() {
    let (models, _) = load_skip_models(&at("models/digits-thr")).unwrap();
    for model in &models {
        let mut state = SkipState::new(model.hidden_size());
        let mut scratch = CellScratch::new(model.hidden_size());
        let mut logits = vec![0.0f32; model.classes()];
        let before = allocations();
        let mut updated = 0;
        for t in 0..1000 {
            if t % 64 == 0 {
                state.reset();
            }
            // The knob changes at every step, through skips and updates alike.
            let thr = (t % 11) as f32 / 10.0;
            updated += usize::from(model.step(&[(t % 17) as f32 / 16.0], thr, &mut state, &mut scratch));
        }
        let _ = model.predict(&state.h, &mut logits);
        assert_eq!(allocations() - before, 0, "{}", model.name());
        assert!(updated > 0 && updated < 1000, "{}: {updated} updates", model.name());
    }
}

#[test]
fn skipw_step_allocates_nothing() {
    let (model, _) = load_skipw(&at("models/digits-skipw")).unwrap();
    let mut state = model.new_state();
    let mut scratch = CellScratch::new(model.hidden_size());
    let mut logits = vec![0.0f32; model.base.classes()];
    let thresholds = [0.0f32, 0.3, 0.5, 0.9];
    let before = allocations();
    let mut processed = 0;
    for t in 0..1000usize {
        // Knobs changing at every step, windows crossing sequence ends.
        let knobs = SkipWKnobs { k: (t * 7 / 3) % (model.window() + 1), thr: thresholds[t % 4] };
        let x = [(t % 17) as f32 / 16.0];
        processed += usize::from(model.step(&x, knobs, &mut state, &mut scratch).processed);
        if t % 64 == 63 {
            let _ = model.base.predict(&state.h, &mut logits);
            state.reset();
        }
    }
    assert_eq!(allocations() - before, 0);
    assert!(processed > 0);
}

#[test]
fn nested_step_allocates_nothing_at_any_width_or_change() {
    let (model, _) = load_nested(&at("models/digits-nested")).unwrap();
    let mut h = vec![0.0f32; model.hidden_size()];
    let mut scratch = NestedScratch::new(model.hidden_size());
    let mut logits = vec![0.0f32; model.classes()];
    let widths = model.widths().to_vec();
    let before = allocations();
    for t in 0..1000 {
        // A width change every 7 steps, through every width.
        let width = widths[(t / 7) % widths.len()];
        model.step(width, &[(t % 17) as f32 / 16.0], &mut h, &mut scratch);
        if t % 64 == 63 {
            let _ = model.predict(width, &h, &mut logits);
        }
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn lstm_step_allocates_nothing() {
    for (input, hidden) in [(1, 16), (3, 128)] {
        let weights = |n: usize| (0..n).map(|i| ((i % 13) as f32 - 6.0) * 0.01).collect::<Vec<f32>>();
        let cell = RnnCell::lstm(
            input,
            hidden,
            weights(4 * hidden * input),
            weights(4 * hidden * hidden),
            weights(4 * hidden),
            weights(4 * hidden),
        )
        .unwrap();
        let mut state = vec![0.0f32; 2 * hidden];
        let mut scratch = CellScratch::new(hidden);
        let x = vec![0.5f32; input];
        let before = allocations();
        for _ in 0..1000 {
            cell.step(&x, &mut state, &mut scratch);
        }
        assert_eq!(allocations() - before, 0, "I={input} H={hidden}");
    }
}

/// Counts records without keeping them.
#[derive(Default)]
struct Counter {
    steps: u64,
    sequences: u64,
    jobs: u64,
}

impl Recorder for Counter {
    fn step(&mut self, _: &StepRecord) {
        self.steps += 1;
    }
    fn sequence(&mut self, _: &SequenceRecord) {
        self.sequences += 1;
    }
    fn job(&mut self, _: &JobRecord) {
        self.jobs += 1;
    }
}

#[test]
fn event_loop_allocates_nothing_per_event() {
    // Every built-in policy, so that none of them allocates per step either.
    let oracle = PolicySpec::new(OracleConfig { margin: Duration(SimTime::ZERO), passes: DEFAULT_ORACLE_PASSES });
    let more = other_builtin_policies().into_iter().chain([oracle.unwrap()]);
    // The shipped three (static gru-128, static gru-16, greedy_slack), then the others.
    let scenario = short_default(200, secs(60))
        .edit_stream("digits", |stream| more.fold(stream, |s, policy| s.policy(policy)))
        .build()
        .unwrap();
    let resources = runner::load_resources(&scenario).unwrap();
    let plans = runner::plan_runs(&scenario, &resources).unwrap();
    assert_eq!(plans.len(), 9);
    assert_runs_allocate_nothing_per_event(&scenario, &resources, &plans, 20_000);
}

/// Runs every plan of `scenario` (more than `min_events` events each) and checks that the event loop
/// allocates at most amortised growth of the event heap and job slabs: a handful, not one per event.
/// An oracle's forecast passes run in `world_setup`, before the count starts.
fn assert_runs_allocate_nothing_per_event(
    scenario: &flexrnn::scenario::Scenario,
    resources: &runner::Resources,
    plans: &[runner::RunPlan],
    min_events: u64,
) {
    for plan in plans {
        let setup = runner::world_setup(scenario, resources, plan).unwrap();
        let (world, queue) = EdgeWorld::build(setup, Counter::default()).unwrap();
        let mut simulation = Simulation::new(world, queue);
        let before = allocations();
        simulation.step_until(scenario.horizon());
        let during = allocations() - before;
        let events = simulation.events_handled();
        assert!(events > min_events, "{events}");
        assert!(during < 40, "{}: {during} allocations for {events} events", plan.label);
    }
}

/// `FlexibleModel::plan`, `step` and `predict` allocate nothing, in every family, with the setting
/// changing at every step (switches with maps, thresholds, SkipW windows opened by `plan`, nested
/// widths), continuous knob values between the card's grid points included.
#[test]
fn flexible_model_plan_step_and_predict_allocate_nothing() {
    for (dir, continuous) in [
        ("models/digits-gru", None),
        ("models/digits-thr", Some("thr-64-1e-3@thr=0.63")),
        ("models/digits-skipw", Some("k=3,thr=0.42")),
        ("models/digits-nested", None),
    ] {
        let mut model = flexrnn::rnn::FlexibleModel::load(&at(dir)).unwrap();
        if let Some(name) = continuous {
            let grid = model.settings().len();
            assert_eq!(model.add_setting(name), Ok(grid), "{name}");
        }
        let mut state = model.new_state();
        let settings = model.settings().len();
        let before = allocations();
        let mut updates = 0;
        for t in 0..1000usize {
            let setting = (t * 7 / 3) % settings;
            let x = [(t % 17) as f32 / 16.0];
            let plan = model.plan(setting, &mut state);
            updates += usize::from(model.step(setting, plan.updates.then_some(&x[..]), &mut state).updates);
            if t % 64 == 63 {
                let _ = model.predict(&mut state);
                state.reset();
            }
        }
        assert_eq!(allocations() - before, 0, "{dir}");
        assert!(updates > 0, "{dir}");
    }
}

/// A deterministic LSTM classifier of input 1, hidden `hidden`, 10 classes.
fn lstm_classifier(name: &str, hidden: usize) -> flexrnn::rnn::RnnClassifier {
    let weights = |n: usize, k: usize| (0..n).map(|i| (((i * k) % 13) as f32 - 6.0) * 0.02).collect::<Vec<f32>>();
    let cell = RnnCell::lstm(
        1,
        hidden,
        weights(4 * hidden, 3),
        weights(4 * hidden * hidden, 5),
        weights(4 * hidden, 7),
        weights(4 * hidden, 11),
    )
    .unwrap();
    flexrnn::rnn::RnnClassifier {
        name: name.into(),
        cell,
        readout_weight: weights(10 * hidden, 2),
        readout_bias: vec![0.0; 10],
    }
}

/// Every family with LSTM cells: `FlexibleModel::plan`, `step` and `predict` allocate nothing, with
/// the setting changing at every step (maps on `[h; c]`, thresholds, SkipW windows, nested widths).
#[test]
fn lstm_families_plan_step_and_predict_allocate_nothing() {
    use flexrnn::rnn::nested::NestedReadout;
    use flexrnn::rnn::{FlexibleModel, ModelBank, NestedRnn, SkipRnnClassifier, SkipWClassifier, StateMap};
    let map = |from: usize, to: usize| StateMap {
        from_hidden: 2 * from,
        to_hidden: 2 * to,
        weight: vec![0.01; 4 * from * to],
        bias: vec![0.0; 2 * to],
    };
    let bank = ModelBank::new(
        vec![lstm_classifier("lstm-8", 8), lstm_classifier("lstm-32", 32)],
        vec![(0, 1, map(8, 32)), (1, 0, map(32, 8))],
    )
    .unwrap();
    let skip = |name: &str, bias: f32| SkipRnnClassifier::new(lstm_classifier(name, 16), vec![0.3; 16], bias);
    let skipw = SkipWClassifier::new(lstm_classifier("skipw", 16), 4, vec![0.2; 4 * 16], vec![0.5, -0.5, 0.0, 1.0]);
    let full = lstm_classifier("nested", 32);
    let readouts = [8, 32].map(|w| NestedReadout { width: w, weight: vec![0.01; 10 * w], bias: vec![0.0; 10] });
    let models = [
        FlexibleModel::from_bank(bank, None),
        FlexibleModel::from_skip_models(vec![skip("a", 0.0), skip("b", -1.0)], None).unwrap(),
        FlexibleModel::from_skipw(skipw.unwrap(), None),
        FlexibleModel::from_nested(NestedRnn::new("n", full.cell, vec![8, 32], readouts.to_vec()).unwrap(), None),
    ];
    for model in &models {
        assert_eq!(model.cell_kind(), flexrnn::rnn::CellKind::Lstm);
        let mut state = model.new_state();
        let settings = model.settings().len();
        let before = allocations();
        let mut updates = 0;
        for t in 0..1000usize {
            let setting = (t * 7 / 3) % settings;
            let x = [(t % 17) as f32 / 16.0];
            let plan = model.plan(setting, &mut state);
            updates += usize::from(model.step(setting, plan.updates.then_some(&x[..]), &mut state).updates);
            if t % 64 == 63 {
                let _ = model.predict(&mut state);
                state.reset();
            }
        }
        assert_eq!(allocations() - before, 0, "{}", model.family());
        assert!(updates > 0, "{}", model.family());
    }
}

/// The same on a node of two devices (`scenarios/har-pipeline.yaml`: pipeline stages on the cpu and
/// the gpu, steps on the cpu), with `greedy_slack` and the oracle besides its static policies.
#[test]
fn two_device_event_loop_allocates_nothing_per_event() {
    let greedy = PolicySpec::new(flexrnn::policy::greedy_slack::GreedySlackConfig { safety: 1.0 }).unwrap();
    let oracle = PolicySpec::new(OracleConfig { margin: Duration(SimTime::ZERO), passes: DEFAULT_ORACLE_PASSES });
    let scenario = crate::load_shipped("har-pipeline.yaml")
        .to_builder()
        .edit_stream("har", |s| s.policy(greedy).policy(oracle.unwrap()))
        .build()
        .unwrap();
    assert_eq!(scenario.devices().len(), 2);
    let resources = runner::load_resources(&scenario).unwrap();
    let plans = runner::plan_runs(&scenario, &resources).unwrap();
    assert_eq!(plans.len(), 4);
    assert_runs_allocate_nothing_per_event(&scenario, &resources, &plans, 5_000);
}

/// A 2-layer bank (GRU and LSTM cells): the stacked step and the layer-by-layer state maps allocate
/// nothing, the model changing at every few steps.
#[test]
fn stacked_two_layer_banks_plan_step_and_predict_allocate_nothing() {
    use flexrnn::rnn::{truncate_pad_map, CellKind, FlexibleModel, LayerWeights, ModelBank, RnnClassifier};
    for kind in CellKind::ALL {
        let weights = |n: usize, k: usize| (0..n).map(|i| (((i * k) % 13) as f32 - 6.0) * 0.02).collect::<Vec<f32>>();
        let model = |hidden: usize| {
            let rows = kind.gates() * hidden;
            let upper = LayerWeights {
                weight_ih: weights(rows * hidden, 3),
                weight_hh: weights(rows * hidden, 5),
                bias_ih: weights(rows, 7),
                bias_hh: weights(rows, 11),
            };
            let cell = RnnCell::new(
                kind,
                1,
                hidden,
                weights(rows, 3),
                weights(rows * hidden, 5),
                weights(rows, 7),
                weights(rows, 11),
            )
            .unwrap()
            .with_upper_layers(vec![upper])
            .unwrap();
            RnnClassifier {
                name: format!("{kind}-{hidden}"),
                cell,
                readout_weight: weights(10 * hidden, 2),
                readout_bias: vec![0.0; 10],
            }
        };
        let bank = ModelBank::new(
            vec![model(8), model(32)],
            vec![(0, 1, truncate_pad_map(kind, 2, 8, 32)), (1, 0, truncate_pad_map(kind, 2, 32, 8))],
        )
        .unwrap();
        let model = FlexibleModel::from_bank(bank, None);
        assert_eq!(model.layers(), 2);
        let mut state = model.new_state();
        let before = allocations();
        for t in 0..1000usize {
            let setting = (t * 7 / 3) % 2;
            let x = [(t % 17) as f32 / 16.0];
            let plan = model.plan(setting, &mut state);
            model.step(setting, plan.updates.then_some(&x[..]), &mut state);
            if t % 64 == 63 {
                let _ = model.predict(&mut state);
                state.reset();
            }
        }
        assert_eq!(allocations() - before, 0, "{kind}");
    }
}

#[test]
fn a_profiled_stream_allocates_nothing_per_event() {
    // The default stream under the shipped profile of its bank: each step's duration is drawn (update,
    // maps, readout) and the policies see the profile's means. (A shipped file, not one measured here:
    // timings taken during the test run would change how many frames the stream keeps up with.)
    use flexrnn::workload::profile::{parse_profile_csv, StepCost};
    let text = std::fs::read_to_string(at("profiles/digits-gru.csv")).unwrap();
    let cost = StepCost::Profile {
        file: "digits-gru.csv".into(),
        scale: 1000.0,
        profile: std::sync::Arc::new(parse_profile_csv(&text, "digits-gru.csv").unwrap()),
    };
    let scenario = short_default(200, secs(60)).edit_stream("digits", |s| s.cost(cost)).build().unwrap();
    let resources = runner::load_resources(&scenario).unwrap();
    let plans = runner::plan_runs(&scenario, &resources).unwrap();
    assert_runs_allocate_nothing_per_event(&scenario, &resources, &plans, 20_000);
}

/// Issue 14: writing a job or a frame row to its file as it comes allocates nothing (the rows go
/// through the `csv` writer's buffer; only a file's column list is allocated once), and the online
/// statistics allocate only to grow their duration vectors (amortised: a few times in 10 000 jobs).
#[test]
fn streaming_a_row_allocates_nothing() {
    use flexrnn::metrics::RunStats;
    use flexrnn::report::{Labels, RecordFiles, RecordWriter};
    let labels = Labels {
        background: vec!["jobs".into()],
        streams: vec!["s".into()],
        models: vec![vec!["gru-16".into()]],
        widths: vec![vec![16]],
    };
    let files = RecordFiles { steps: Some(std::io::sink()), sequences: None, jobs: Some(std::io::sink()) };
    let mut writer = RecordWriter::new(&labels, "static", files);
    let mut stats = RunStats::new(SimTime(1_000_000_000));
    let job = |i: u64| JobRecord {
        process: 0,
        job: i,
        release: SimTime(i * 1_234_567),
        end: SimTime(i * 1_234_567 + 987_654_321),
        deadline: Some(SimTime(i * 1_234_567 + 500_000_000)),
        work: 1e9 / (i + 1) as f64,
    };
    let step = |i: u64| StepRecord {
        stream: 0,
        sequence: i / 8,
        step: (i % 8) as u32,
        release: SimTime(i * 10_000_000),
        start: Some(SimTime(i * 10_000_000 + 1_000)),
        end: Some(SimTime(i * 10_000_000 + 3_333_333)),
        deadline: SimTime(i * 10_000_000 + 5_000_000),
        missed: false,
        skipped: false,
        unfinished: false,
        model: Some(0),
        updated: true,
        flops: 12_345.0,
    };
    let before = allocations();
    for i in 0..10_000 {
        writer.job(&job(i));
        writer.step(&step(i));
    }
    assert_eq!(allocations() - before, 0, "rows to their files");
    let before = allocations();
    for i in 0..10_000 {
        stats.job(&job(i));
    }
    let grown = allocations() - before;
    assert!(grown <= 20, "{grown} allocations for 10 000 jobs");
    assert_eq!(stats.processes[0].jobs, 10_000);
    assert_eq!(stats.processes[0].missed, 10_000, "each ended 0.49 s after its deadline");
    writer.finish().unwrap();
}

#[test]
fn a_batched_flexible_step_allocates_nothing_in_any_family() {
    use flexrnn::rnn::FlexibleModel;
    for folder in [
        "models/digits-gru",
        "models/digits-thr",
        "models/digits-skipw",
        "models/digits-nested",
        "models/adding-thr-lstm",
    ] {
        let model = FlexibleModel::load(&at(folder)).unwrap();
        let (rows, n) = (7, model.settings().len());
        let mut states: Vec<_> = (0..rows).map(|_| model.new_state()).collect();
        let mut batch = model.new_batch(rows);
        let mut settings = vec![None; rows];
        let x = vec![0.25f32; model.input_size()];
        let (mut updates, mut steps) = (0, 0);
        let before = allocations();
        for t in 0..300 {
            // Rows end at different steps, settings change from row to row and step to step.
            for (row, setting) in settings.iter_mut().enumerate() {
                *setting = (t < 300 - 20 * row).then_some((t / 7 + row) % n);
            }
            let plans = model.step_batch(&settings, &mut states, |_| &x, &mut batch);
            for plan in plans.iter().flatten() {
                steps += 1;
                updates += usize::from(plan.updates);
            }
        }
        assert_eq!(allocations() - before, 0, "{folder}");
        assert!(updates > 0 && steps == 300 * rows - 20 * (0..rows).sum::<usize>(), "{folder}: {updates} of {steps}");
    }
}
