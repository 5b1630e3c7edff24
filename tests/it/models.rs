//! The shipped model bank: card facts, accuracies and the learned state maps.

use flexrnn::data::{digits_split, load_digits};
use flexrnn::rnn::io::{load_bank, load_skip_models, FAMILY_GRU, FAMILY_THR};
use flexrnn::train::skip::{evaluate_thr, THR_GRID, TRAINING_THR};
use flexrnn::train::{accuracy, hidden_states, map_mse};

use crate::at;

#[test]
fn card_matches_the_weights_and_the_widest_model_reaches_090() {
    let (bank, card) = load_bank(&at("models/digits-gru")).unwrap();
    let set = load_digits().unwrap();
    let split = digits_split(&set.labels);
    assert_eq!(card.training.as_ref().unwrap().split, split, "the card records the split in use");
    let test = set.subset(&split.test);
    assert!(bank.models().len() >= 4);
    for (model, entry) in bank.models().iter().zip(&card.family.models) {
        assert_eq!(model.hidden_size(), entry.hidden);
        assert_eq!(model.cell.flops_per_step(), entry.flops_per_step);
        assert_eq!(model.param_bytes(), entry.param_bytes);
        // H(I+H)·6 + 16H with I = 1.
        assert_eq!(entry.flops_per_step as usize, 6 * entry.hidden * (1 + entry.hidden) + 16 * entry.hidden);
        let measured = accuracy(model, &test);
        assert!(
            (measured - entry.test_accuracy.unwrap()).abs() < 1e-12,
            "{}: card {:?} vs measured {measured}",
            entry.name,
            entry.test_accuracy
        );
    }
    let widest = card.family.models.iter().max_by_key(|m| m.hidden).unwrap();
    assert!(widest.test_accuracy.unwrap() >= 0.90, "widest model: {:?}", widest.test_accuracy);
}

/// On held-out (test-split) states, the ridge map predicts the target model's state better than
/// keeping the leading units and padding with zeros, for every ordered pair.
#[test]
fn learned_state_maps_beat_truncation_on_held_out_states() {
    let (bank, _) = load_bank(&at("models/digits-gru")).unwrap();
    let set = load_digits().unwrap();
    let test = set.subset(&digits_split(&set.labels).test);
    let states: Vec<Vec<f32>> = bank.models().iter().map(|m| hidden_states(m, &test)).collect();
    for (a, from) in bank.models().iter().enumerate() {
        for (b, to) in bank.models().iter().enumerate() {
            if a == b {
                continue;
            }
            let map = bank.switch(a, b).unwrap().expect("different widths have a map");
            let learned = map_mse(Some(map), &states[a], from.hidden_size(), &states[b], to.hidden_size());
            let naive = map_mse(None, &states[a], from.hidden_size(), &states[b], to.hidden_size());
            assert!(learned < 0.5 * naive, "{} -> {}: learned {learned} vs truncate/pad {naive}", from.name, to.name);
        }
    }
}

/// The shipped Skip-GRUs (ThrRNN): the card's FLOPs, bytes and threshold grid are what the weights give
/// with the crate's inference; `thr` = 0 updates every step, above 1 none.
#[test]
fn thr_card_matches_the_weights_at_every_threshold() {
    let (models, card) = load_skip_models(&at("models/digits-thr")).unwrap();
    let set = load_digits().unwrap();
    let split = digits_split(&set.labels);
    assert_eq!(card.training.as_ref().unwrap().split, split);
    assert_eq!(card.family_name(), FAMILY_THR);
    let test = set.subset(&split.test);
    assert!(!models.is_empty());
    for (model, entry) in models.iter().zip(&card.family.models) {
        assert_eq!(entry.model_family(), FAMILY_THR);
        assert_eq!(model.hidden_size(), entry.hidden);
        assert_eq!(model.flops_per_update(), entry.flops_per_step);
        assert_eq!(Some(model.flops_per_skip()), entry.flops_per_skip);
        assert_eq!(model.param_bytes(), entry.param_bytes);
        // GRU step 6H(I+H) + 16H with I = 1, gate 2H + 2, binarisation 1.
        let h = entry.hidden as u64;
        assert_eq!(entry.flops_per_step, 6 * h * (1 + h) + 16 * h + 2 * h + 2 + 1);
        // The shipped card may hold the grid of its time (0.1 steps before the 0.05 grid of THR_GRID):
        // every point must reproduce, whatever the grid.
        assert!(entry.knob_grid.len() >= 12 && entry.knob_grid.len() <= THR_GRID.len());
        for point in &entry.knob_grid {
            let thr = point.knobs["thr"];
            let measured = evaluate_thr(model, &test, thr as f32);
            assert!((measured.score.value() - point.test_accuracy.unwrap()).abs() < 1e-12, "{} thr {thr}", entry.name);
            assert!((Some(measured.update_share) == point.update_share), "{} thr {thr}", entry.name);
            if thr == TRAINING_THR {
                assert_eq!(point.test_accuracy, entry.test_accuracy);
            }
        }
        assert_eq!(entry.knob_grid[0].update_share, Some(1.0), "thr 0 updates every step");
        assert_eq!(entry.knob_grid.last().unwrap().update_share, Some(0.0), "thr above 1 updates none");
        // Fewer updates as the threshold rises.
        for pair in entry.knob_grid.windows(2) {
            assert!(pair[1].update_share <= pair[0].update_share, "{}: {pair:?}", entry.name);
        }
    }
}

/// A folder of Skip-GRUs is not a model bank of plain GRUs, and the other way round: each loader says so
/// instead of running a Skip-GRU without its gate.
#[test]
fn loaders_refuse_the_other_family() {
    let err = load_bank(&at("models/digits-thr")).unwrap_err().to_string();
    assert!(err.contains("family `thr`") && err.contains("load_skip_models"), "{err}");
    let err = load_skip_models(&at("models/digits-gru")).unwrap_err().to_string();
    assert!(err.contains(&format!("family `{FAMILY_GRU}`")), "{err}");
}

/// The shipped SkipW model (`models/digits-skipw`): the card's costs and its whole K × thr grid are
/// what the crate's inference measures on the test split, and the budget is kept in every window.
#[test]
fn skipw_card_matches_the_weights_and_the_budget_holds() {
    use flexrnn::rnn::io::load_skipw;
    use flexrnn::rnn::skipw::evaluate;
    use flexrnn::rnn::{CellScratch, SkipWKnobs};
    let (model, card) = load_skipw(&at("models/digits-skipw")).unwrap();
    let set = load_digits().unwrap();
    let split = digits_split(&set.labels);
    assert_eq!(card.training.as_ref().unwrap().split, split, "the card records the split in use");
    assert_eq!((card.family_name(), card.cell.as_str()), ("skipw", "gru"));
    let card = card.family;
    assert_eq!((model.hidden_size(), model.window()), (card.hidden, card.window));
    let (h, l) = (card.hidden, card.window);
    assert_eq!(card.flops_per_processed_step as usize, 6 * h * (1 + h) + 16 * h);
    // The gate reads the state and the time, [h; t/T_s] (SkipW's time input): W_skip is [L, H + 1].
    assert_eq!(card.flops_window_gate as usize, 2 * (h + 1) * l + l);
    assert_eq!(card.flops_per_skipped_step, 0);
    assert_eq!(model.param_bytes(), card.param_bytes);
    assert_eq!(card.param_bytes as usize, 4 * (3 * h * (1 + h) + 6 * h + 10 * h + 10 + l * (h + 1) + l));
    let test = set.subset(&split.test);
    assert_eq!(card.grid.len(), l * 5);
    for point in &card.grid {
        let e = evaluate(&model, (0..test.len()).map(|i| (test.sequence(i), test.labels[i])), point.k, point.thr);
        assert_eq!(Some(e.accuracy), point.test_accuracy, "K={} thr={}", point.k, point.thr);
        assert_eq!(e.mean_processed_steps, point.mean_processed_steps, "K={} thr={}", point.k, point.thr);
        assert!(point.mean_processed_steps <= (64 / l * point.k) as f64);
    }
    // Every window of every test sequence processes at most K inputs.
    let mut scratch = CellScratch::new(h);
    for k in 0..=l {
        let mut state = model.new_state();
        for i in 0..test.len() {
            state.reset();
            for step in 0..test.steps {
                let done = model.step(test.frame(i, step), SkipWKnobs { k, thr: 0.0 }, &mut state, &mut scratch);
                assert!(done.processed_in_window <= k);
            }
        }
    }
    let all_steps = card.grid.iter().find(|p| p.k == l && p.thr == 0.0).unwrap();
    assert_eq!(all_steps.test_accuracy, card.test_accuracy_all_steps);
    assert_eq!(all_steps.mean_processed_steps, 64.0);
    let trained = card.grid.iter().find(|p| p.k == l && p.thr == 0.5).unwrap();
    assert!(trained.test_accuracy.unwrap() >= 0.85, "K = L, thr = 0.5: {:?}", trained.test_accuracy);
}
