//! Every shipped model folder, whatever its task and family: it loads, its card's task rebuilds the
//! test split, every setting the card scores reproduces that score exactly through the simulator's
//! interface (`FlexibleModel`), and the card holds what the issue asks of it.

use std::path::PathBuf;

use flexrnn::data::{SplitPart, Task};
use flexrnn::eval::{measure, Schedule};
use flexrnn::rnn::FlexibleModel;

fn model_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("card.json").exists()).collect();
    dirs.sort();
    dirs
}

#[test]
fn every_shipped_folder_reproduces_its_card_through_the_flexible_interface() {
    let dirs = model_dirs();
    assert!(dirs.len() >= 8, "shipped folders: {dirs:?}");
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let model = FlexibleModel::load(dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let task = Task::load(model.task()).unwrap_or_else(|e| panic!("{name}: task `{}`: {e}", model.task()));
        let test = task.part(SplitPart::Test);
        assert_eq!(test.features, model.input_size(), "{name}");
        let card: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("card.json")).unwrap()).unwrap();
        for key in ["task", "family", "cell", "training"] {
            assert!(card.get(key).is_some(), "{name}: card has no `{key}`");
        }
        let training = &card["training"];
        assert!(training["command"].as_str().unwrap().contains("flexrnn train"), "{name}");
        assert!(training["seed"].is_u64() && training["wall_time_s"].as_f64().unwrap() > 0.0, "{name}");
        assert!(
            training["wall_time_s"].as_f64().unwrap() < 30.0 * 60.0,
            "{name}: trained in {} s",
            training["wall_time_s"]
        );
        let mut checked = 0;
        for (index, setting) in model.settings().iter().enumerate() {
            let expected = if task.is_regression() { setting.expected_mse } else { setting.expected_accuracy };
            let Some(expected) = expected else { continue };
            let measured = measure(&model, &test, &Schedule::constant(index));
            assert!(
                (measured.score - expected).abs() < 1e-12,
                "{name} {}: card {expected}, measured {}",
                setting.name,
                measured.score
            );
            if let Some(flops) = setting.expected_flops_per_step {
                assert!(
                    (measured.flops_per_step - flops).abs() <= 1e-9 * flops.max(1.0),
                    "{name} {}: card {flops} FLOPs/step, measured {}",
                    setting.name,
                    measured.flops_per_step
                );
            }
            checked += 1;
        }
        assert!(checked >= 2, "{name}: only {checked} settings carry a card score");
    }
}

#[test]
fn the_adding_task_models_solve_it_at_their_best_setting() {
    // Solved: MSE below 1/600, a hundredth of the target's variance.
    for name in ["adding-gru", "adding-thr", "adding-thr-lstm", "adding-skipw", "adding-nested"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(name);
        let model = FlexibleModel::load(&dir).unwrap();
        assert_eq!(model.task(), "adding", "{name}");
        let best = model.settings().iter().filter_map(|s| s.expected_mse).fold(f64::INFINITY, f64::min);
        assert!(best < 1.0 / 600.0, "{name}: best setting's MSE {best}");
    }
}

/// Every shipped model folder carries the marker `flexrnn train` (or, for a folder combined from
/// several seeds, `flexrnn seeds`) writes (`.flexrnn-output.json`, listing exactly the folder's files),
/// so flexrnn recognises it as its own output (replaced only with `--force`) rather than as someone
/// else's folder.
#[test]
fn every_shipped_folder_carries_the_marker_train_writes() {
    use flexrnn::output::{Marker, MARKER};
    for dir in model_dirs() {
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != MARKER)
            .collect();
        files.sort();
        // A folder combined from several seeds' training runs is written by `flexrnn seeds`.
        let card: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("card.json")).unwrap()).unwrap();
        let command = if card.get("seeds").is_some() { "seeds" } else { "train" };
        let expected = Marker::new(command, files);
        let marker = std::fs::read(dir.join(MARKER)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(
            String::from_utf8(marker).unwrap(),
            String::from_utf8(expected.to_bytes()).unwrap(),
            "{}",
            dir.display()
        );
    }
}
