//! The shipped nested-width model (`models/digits-nested`): card facts, accuracies per width and
//! under random width schedules, reproduced with the crate's own inference.

use flexrnn::data::{digits_split, load_digits};
use flexrnn::rnn::io::load_nested;
use flexrnn::train::nested::{schedule_accuracy, width_accuracy};

use crate::at;

#[test]
fn nested_card_matches_the_weights_and_every_width_works() {
    let (model, card) = load_nested(&at("models/digits-nested")).unwrap();
    let set = load_digits().unwrap();
    let split = digits_split(&set.labels);
    assert_eq!(card.training.as_ref().unwrap().split, split, "the card records the split in use");
    assert_eq!((card.family_name(), card.cell.as_str()), ("nested", "gru"));
    let card = card.family;
    assert_eq!(card.hidden, model.hidden_size());
    assert_eq!(card.param_bytes, model.param_bytes());
    // One block: the GRU-128 cell and four readouts, 4 · (3·128·129 + 6·128 + 10·(16+32+64+128) + 40).
    assert_eq!(card.param_bytes, 4 * (50_304 + 2_440));
    let test = set.subset(&split.test);
    let mut accuracies = Vec::new();
    for entry in &card.widths {
        let w = entry.width;
        assert_eq!(entry.flops_per_step as usize, 6 * w * (1 + w) + 16 * w, "width {w}");
        assert_eq!(entry.flops_readout as usize, 2 * 10 * w + 10);
        let measured = width_accuracy(&model, &test, w);
        assert!(
            (measured - entry.test_accuracy.unwrap()).abs() < 1e-12,
            "width {w}: card {:?} vs {measured}",
            entry.test_accuracy
        );
        accuracies.push(measured);
    }
    let s = &card.schedules;
    let again = schedule_accuracy(&model, &test, s.changes, s.schedules_per_sequence, s.seed, &accuracies);
    // (The shipped card spells its scores the older way, `test_accuracy`; the values are what count.)
    let again = flexrnn::rnn::io::NestedCardSchedules { accuracy_names: s.accuracy_names, ..again };
    assert_eq!(&again, s, "the schedule results reproduce");
    let widest = card.widths.last().unwrap();
    assert!(widest.test_accuracy.unwrap() >= 0.95, "widest: {:?}", widest.test_accuracy);
    assert!(card.widths.iter().all(|w| w.test_accuracy.unwrap() >= 0.80), "{:?}", card.widths);
    assert!(s.test_score >= 0.85, "under schedules: {}", s.test_score);
}
