//! Every flexible family with LSTM cells, end to end: tiny LSTM models of each family trained for two
//! epochs on a slice of the digits task through the library, written as model folders, loaded by
//! `FlexibleModel::load` and run in the simulator.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use flexrnn::data::{digits_split, load_digits, SequenceSet, Split};
use flexrnn::node::Discipline;
use flexrnn::policy::random::RandomConfig;
use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::PolicySpec;
use flexrnn::report::{labels, summary_rows};
use flexrnn::rnn::io::encode_nested;
use flexrnn::rnn::io::{classifier_tensors, encode_tensors, map_tensors, skip_classifier_tensors};
use flexrnn::rnn::{CellKind, FlexibleModel};
use flexrnn::scenario::{NodeSpec, ParameterMemory, Scenario, ScenarioBuilder, StreamBuilder};
use flexrnn::sim::SimTime;
use flexrnn::train::bank::{train_bank, BankConfig};
use flexrnn::train::nested::{train_nested, NestedConfig};
use flexrnn::train::skip::{train_skip_bank, SkipBankConfig, ThrTraining};
use flexrnn::train::skipw::{skipw_files, train_skipw, SkipWTrainConfig};
use flexrnn::train::TrainConfig;

use crate::run_built;

/// The digits set and a small slice of its split (300 training, 60 validation, 60 test sequences),
/// so that two epochs take a moment.
fn small_digits() -> (SequenceSet, Split) {
    let set = load_digits().unwrap();
    let mut split = digits_split(&set.labels);
    split.train.truncate(300);
    split.validation.truncate(60);
    split.test.truncate(60);
    (set, split)
}

fn base(hidden: usize) -> TrainConfig {
    TrainConfig {
        hidden,
        epochs: 2,
        batch_size: 32,
        learning_rate: 0.02,
        clip_norm: 1.0,
        seed: 1,
        cell: CellKind::Lstm,
        micro_batches: 1,
        threads: 1,
    }
}

fn write(dir: &Path, files: &[(PathBuf, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Trains one tiny LSTM model folder per family into `root`; returns the folders in family order.
fn train_lstm_folders(root: &Path) -> Vec<PathBuf> {
    let (set, split) = small_digits();
    let mut folders = Vec::new();

    let bank =
        train_bank(&set, &split, &BankConfig { widths: vec![4, 8], base: base(0), command: "test".into() }, |_| {})
            .unwrap();
    let mut files: Vec<(PathBuf, Vec<u8>)> = bank
        .bank
        .models()
        .iter()
        .map(|m| (format!("{}.safetensors", m.name).into(), encode_tensors(&classifier_tensors(m))))
        .collect();
    files.push((
        "maps.safetensors".into(),
        encode_tensors(&map_tensors(bank.maps.iter().map(|(a, b, m)| (a.as_str(), b.as_str(), m)))),
    ));
    files.push(("card.json".into(), serde_json::to_vec_pretty(&bank.card).unwrap()));
    folders.push(root.join("switch"));
    write(&folders[0], &files);

    let thr = train_skip_bank(
        &set,
        &split,
        &SkipBankConfig {
            widths: vec![8],
            lambdas: vec![1e-2],
            base: base(0),
            thr: ThrTraining::default(),
            command: "test".into(),
        },
        |_| {},
    )
    .unwrap();
    let mut files: Vec<(PathBuf, Vec<u8>)> = thr
        .models
        .iter()
        .map(|m| (format!("{}.safetensors", m.name()).into(), encode_tensors(&skip_classifier_tensors(m))))
        .collect();
    files.push(("card.json".into(), serde_json::to_vec_pretty(&thr.card).unwrap()));
    folders.push(root.join("thr"));
    write(&folders[1], &files);

    let skipw = train_skipw(
        &set,
        &split,
        &SkipWTrainConfig {
            cell: CellKind::Lstm,
            hidden: 8,
            window: 4,
            k_min: 1,
            k_max: 4,
            thr_min: 0.5,
            thr_max: 0.5,
            budget_lambda: 0.0,
            knob_changes: 2,
            thr_zero_share: 0.25,
            epochs: 2,
            batch_size: 32,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed: 1,
            command: "test".into(),
        },
        |_| {},
    )
    .unwrap();
    folders.push(root.join("skipw"));
    write(&folders[2], &skipw_files(&skipw).unwrap());

    let nested = train_nested(
        &set,
        &split,
        &NestedConfig {
            cell: CellKind::Lstm,
            widths: vec![4, 8],
            epochs: 2,
            batch_size: 32,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed: 1,
            max_changes: 2,
            distill_weight: 1.0,
            command: "test".into(),
        },
        |_| {},
    )
    .unwrap();
    let files = vec![
        (format!("{}.safetensors", nested.model.name).into(), encode_nested(&nested.model)),
        ("card.json".into(), serde_json::to_vec_pretty(&nested.card).unwrap()),
    ];
    folders.push(root.join("nested"));
    write(&folders[3], &files);
    folders
}

/// One digits stream of the model folder `models` alone on a fast node (one 1 GFLOP/s
/// processor-sharing core, a 1 MiB parameter memory loaded at 100 MB/s) for 2 s (seed 3): a random
/// setting every step, then `setting` throughout.
fn stream(models: &Path, setting: &str) -> ScenarioBuilder {
    let mut node = NodeSpec::new(NonZeroUsize::MIN, 1e9, Discipline::ProcessorSharing);
    node.memory = Some(ParameterMemory { capacity: 1 << 20, bandwidth: 100e6 });
    let policies = [PolicySpec::new(RandomConfig {}), PolicySpec::new(StaticConfig { model: setting.into() })];
    let five_ms = SimTime(5_000_000);
    let stream =
        StreamBuilder::new("digits", "digits", models, five_ms, five_ms).policies(policies.map(Result::unwrap));
    Scenario::builder("t").seed(3).duration(SimTime(2 * SimTime::NANOS_PER_SEC)).node(node).stream(stream)
}

#[test]
fn lstm_folders_of_every_family_load_and_run_in_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let folders = train_lstm_folders(dir.path());
    let expected =
        [("switch", "lstm-4"), ("thr", "thr-lstm-8-1e-2@thr=0"), ("skipw", "k=0,thr=0.5"), ("nested", "w=4")];
    for (folder, (family, first_setting)) in folders.iter().zip(expected) {
        let model = FlexibleModel::load(folder).unwrap_or_else(|e| panic!("{family}: {e}"));
        assert_eq!((model.family(), model.cell_kind()), (family, CellKind::Lstm));
        assert_eq!(model.settings()[0].name, first_setting, "{family}");
        let (scenario, resources, results) = run_built(stream(folder, first_setting), false);
        let labels = labels(&scenario, &resources);
        assert_eq!(results.len(), 2, "{family}");
        for result in &results {
            let recorder = &result.outcome.recorder;
            let row = &summary_rows(result, &scenario, &labels)[0];
            assert!(
                recorder.sequences.len() >= 5,
                "{family} {}: {} sequences",
                result.plan.label,
                recorder.sequences.len()
            );
            assert!(row.accuracy.is_some(), "{family} {}", result.plan.label);
            let settings: std::collections::BTreeSet<_> = recorder.steps.iter().filter_map(|s| s.model).collect();
            if result.plan.index == 0 {
                assert!(settings.len() > 1, "{family}: the random policy uses several settings");
            } else {
                assert_eq!(settings.into_iter().collect::<Vec<_>>(), [0], "{family}: the static policy");
            }
        }
        // SkipW at K = 0 reads no input at all; the other families' first setting updates.
        let updated = results[1].outcome.recorder.steps.iter().filter(|s| s.updated).count();
        assert_eq!(updated == 0, family == "skipw", "{family}: {updated} updated steps at {first_setting}");
    }
}
