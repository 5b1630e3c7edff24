//! The shipped model bank: card facts, accuracies and the learned state maps.

use flexrnn::data::{digits_split, load_digits};
use flexrnn::rnn::io::load_bank;
use flexrnn::train::{accuracy, hidden_states, map_mse};

use crate::at;

#[test]
fn card_matches_the_weights_and_the_widest_model_reaches_090() {
    let (bank, card) = load_bank(&at("models/digits-gru")).unwrap();
    let set = load_digits().unwrap();
    let split = digits_split(&set.labels);
    assert_eq!(card.training.split, split, "the card records the split in use");
    let test = set.subset(&split.test);
    assert!(bank.models().len() >= 4);
    for (model, entry) in bank.models().iter().zip(&card.models) {
        assert_eq!(model.hidden_size(), entry.hidden);
        assert_eq!(model.cell.flops_per_step(), entry.flops_per_step);
        assert_eq!(model.param_bytes(), entry.param_bytes);
        // H(I+H)·6 + 16H with I = 1.
        assert_eq!(entry.flops_per_step as usize, 6 * entry.hidden * (1 + entry.hidden) + 16 * entry.hidden);
        let measured = accuracy(model, &test);
        assert!(
            (measured - entry.test_accuracy).abs() < 1e-12,
            "{}: card {} vs measured {measured}",
            entry.name,
            entry.test_accuracy
        );
    }
    let widest = card.models.iter().max_by_key(|m| m.hidden).unwrap();
    assert!(widest.test_accuracy >= 0.90, "widest model: {}", widest.test_accuracy);
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
