//! `rnn::flex`: every shipped family run through `FlexibleModel` gives exactly what its own API gives
//! (predictions and FLOPs), at constant settings and across a mid-sequence change: model switching,
//! ThrRNN, SkipW and nested widths.

use flexrnn::data::{digits_split, load_digits, SequenceSet};
use flexrnn::rnn::io::{load_bank, load_nested, load_skip_models, load_skipw};
use flexrnn::rnn::nested::random_width_schedule;
use flexrnn::rnn::{CellScratch, FamilyState, FlexibleModel, Knobs, ModelBank, NestedScratch, SkipState, SkipWKnobs};
use rand::SeedableRng;

use crate::at;

fn test_set() -> SequenceSet {
    let set = load_digits().unwrap();
    set.subset(&digits_split(&set.labels).test)
}

/// Runs sequence `i` through `model` with setting `schedule(t)` at step `t`; returns the prediction and
/// the FLOPs of the steps, checking that `step` returns what `plan` said.
fn run_flex(model: &FlexibleModel, set: &SequenceSet, i: usize, schedule: impl Fn(usize) -> usize) -> (u32, u64) {
    let mut state = model.new_state();
    let mut flops = 0;
    for t in 0..set.steps {
        let setting = schedule(t);
        let plan = model.plan(setting, &mut state);
        assert_eq!(model.plan(setting, &mut state), plan, "planning twice changes nothing");
        let done = model.step(setting, plan.updates.then(|| set.frame(i, t)), &mut state);
        assert_eq!(done, plan);
        flops += done.flops;
    }
    (model.predict(&mut state), flops)
}

#[test]
fn switch_family_equals_the_bank_at_constant_settings_and_across_a_change() {
    let model = FlexibleModel::load(&at("models/digits-gru")).unwrap();
    let (bank, _) = load_bank(&at("models/digits-gru")).unwrap();
    let test = test_set();
    let steps = test.steps;
    assert_eq!(model.family(), "switch");
    for (index, gru) in bank.models().iter().enumerate() {
        let setting = model.setting_index(&gru.name).unwrap();
        for i in 0..test.len() {
            let (class, flops) = run_flex(&model, &test, i, |_| setting);
            assert_eq!(class, gru.classify(test.sequence(i)), "{} sequence {i}", gru.name);
            assert_eq!(flops, steps as u64 * gru.cell.flops_per_step());
        }
        assert_eq!(model.readout_flops(setting), gru.flops_readout());
        assert_eq!(setting, index);
    }
    // A → B at step 24, both directions, for every ordered pair: the bank's own carry_state.
    let n = bank.models().len();
    for a in 0..n {
        for b in 0..n {
            if a == b {
                continue;
            }
            let (ma, mb) = (&bank.models()[a], &bank.models()[b]);
            for i in (0..test.len()).step_by(7) {
                let mut h = vec![0.0f32; bank.max_hidden()];
                let mut spare = vec![0.0f32; bank.max_hidden()];
                let mut scratch = CellScratch::new(bank.max_hidden());
                for t in 0..24 {
                    ma.cell.step(test.frame(i, t), &mut h[..ma.hidden_size()], &mut scratch);
                }
                bank.carry_state(a, b, &mut h, &mut spare);
                for t in 24..steps {
                    mb.cell.step(test.frame(i, t), &mut h[..mb.hidden_size()], &mut scratch);
                }
                let expected = mb.predict(&h[..mb.hidden_size()], &mut [0.0; 10]);
                let (class, flops) = run_flex(&model, &test, i, |t| if t < 24 { a } else { b });
                assert_eq!(class, expected, "{} → {} sequence {i}", ma.name, mb.name);
                let own = 24 * ma.cell.flops_per_step()
                    + bank.switch_flops(a, b)
                    + (steps as u64 - 24) * mb.cell.flops_per_step();
                assert_eq!(flops, own);
                assert!(bank.switch_flops(a, b) > 0);
            }
        }
    }
}

#[test]
fn thr_family_equals_the_skip_gru_at_constant_settings_and_across_a_change() {
    let model = FlexibleModel::load(&at("models/digits-thr")).unwrap();
    let (skips, _) = load_skip_models(&at("models/digits-thr")).unwrap();
    let test = test_set();
    let knobs: Vec<(usize, f32)> = model
        .settings()
        .iter()
        .map(|s| if let Knobs::Thr { model, thr } = s.knobs { (model, thr) } else { panic!("{s:?}") })
        .collect();
    for (setting, &(m, thr)) in knobs.iter().enumerate() {
        let skip = &skips[m];
        for i in 0..test.len() {
            let own = skip.classify(test.sequence(i), thr);
            let own_flops = own.updated_steps as u64 * skip.flops_per_update()
                + (own.steps - own.updated_steps) as u64 * skip.flops_per_skip();
            let name = &model.settings()[setting].name;
            assert_eq!(run_flex(&model, &test, i, |_| setting), (own.class, own_flops), "{name} seq {i}");
        }
    }
    // Every ordered pair of settings, change at step 20 (between the two Skip-GRUs too: same size,
    // the state passes as it is).
    for a in 0..knobs.len() {
        for b in 0..knobs.len() {
            for i in (0..test.len()).step_by(23) {
                let hidden = skips[0].hidden_size();
                let mut state = SkipState::new(hidden);
                let mut scratch = CellScratch::new(hidden);
                let mut own_flops = 0;
                for t in 0..test.steps {
                    let (m, thr) = knobs[if t < 20 { a } else { b }];
                    let updated = skips[m].step(test.frame(i, t), thr, &mut state, &mut scratch);
                    own_flops += if updated { skips[m].flops_per_update() } else { skips[m].flops_per_skip() };
                }
                let own_class = skips[knobs[b].0].predict(&state.h, &mut [0.0; 10]);
                assert_eq!(run_flex(&model, &test, i, |t| if t < 20 { a } else { b }), (own_class, own_flops));
            }
        }
    }
}

#[test]
fn skipw_family_equals_the_skipw_model_at_constant_settings_and_across_changes() {
    let model = FlexibleModel::load(&at("models/digits-skipw")).unwrap();
    let (skipw, _) = load_skipw(&at("models/digits-skipw")).unwrap();
    let test = test_set();
    for (setting, entry) in model.settings().iter().enumerate() {
        let Knobs::SkipW { k, thr } = entry.knobs else { panic!("{entry:?}") };
        for i in 0..test.len() {
            let own = skipw.classify(test.sequence(i), k, thr);
            assert_eq!(run_flex(&model, &test, i, |_| setting), (own.prediction, own.flops), "{} seq {i}", entry.name);
        }
    }
    // Changes at the start of a window (16) and inside one (21), every ordered pair.
    let knobs: Vec<SkipWKnobs> = model
        .settings()
        .iter()
        .map(|s| if let Knobs::SkipW { k, thr } = s.knobs { SkipWKnobs { k, thr } } else { unreachable!() })
        .collect();
    for change in [16, 21] {
        for a in 0..knobs.len() {
            for b in 0..knobs.len() {
                for i in (0..test.len()).step_by(23) {
                    let mut state = skipw.new_state();
                    let mut scratch = CellScratch::new(skipw.hidden_size());
                    let mut own_flops = 0;
                    for t in 0..test.steps {
                        own_flops += skipw
                            .step(test.frame(i, t), knobs[if t < change { a } else { b }], &mut state, &mut scratch)
                            .flops;
                    }
                    let own_class = skipw.base.predict(&state.h, &mut [0.0; 10]);
                    let schedule = |t| if t < change { a } else { b };
                    assert_eq!(run_flex(&model, &test, i, schedule), (own_class, own_flops), "{a} → {b} at {change}");
                }
            }
        }
    }
}

#[test]
fn nested_family_equals_the_nested_gru_at_constant_widths_and_across_changes() {
    let model = FlexibleModel::load(&at("models/digits-nested")).unwrap();
    let (nested, _) = load_nested(&at("models/digits-nested")).unwrap();
    let test = test_set();
    let steps = test.steps;
    assert_eq!(model.family(), "nested");
    let widths = nested.widths().to_vec();
    let setting_of = |width: usize| model.setting_index(&format!("w={width}")).unwrap();
    for &width in &widths {
        let setting = setting_of(width);
        for i in 0..test.len() {
            let expected = nested.classify(test.sequence(i), &vec![width; steps]);
            let own_flops = steps as u64 * nested.flops_per_step(width);
            assert_eq!(run_flex(&model, &test, i, |_| setting), (expected, own_flops), "w={width} seq {i}");
        }
        assert_eq!(model.readout_flops(setting), nested.flops_readout(width));
    }
    // Every ordered pair of widths, change at step 24: the same full state as NestedGru's own steps
    // (units beyond the narrower width frozen, then resumed), and the last width's readout.
    for a in 0..widths.len() {
        for b in 0..widths.len() {
            assert_eq!(model.switch_flops(setting_of(widths[a]), setting_of(widths[b])), 0);
            for i in (0..test.len()).step_by(13) {
                let mut h = vec![0.0f32; nested.hidden_size()];
                let mut scratch = NestedScratch::new(nested.hidden_size());
                let mut state = model.new_state();
                for t in 0..steps {
                    let width = widths[if t < 24 { a } else { b }];
                    nested.step(width, test.frame(i, t), &mut h, &mut scratch);
                    let plan = model.step(setting_of(width), Some(test.frame(i, t)), &mut state);
                    assert_eq!((plan.updates, plan.flops, plan.switch_flops), (true, nested.flops_per_step(width), 0));
                    let FamilyState::Nested { h: flex_h, .. } = state.family_state() else { panic!() };
                    assert_eq!(flex_h, &h, "{} → {} seq {i} step {t}", widths[a], widths[b]);
                    assert_eq!(model.hidden_state(&state), &h[..width]);
                }
                let expected = nested.predict(widths[b], &h, &mut [0.0; 10]);
                assert_eq!(model.predict(&mut state), expected);
            }
        }
    }
    // Random schedules of 3 changes on a sample: predictions and FLOPs as NestedGru's own.
    let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
    for i in (0..test.len()).step_by(5) {
        let schedule = random_width_schedule(&widths, steps, 3, &mut rng);
        let own_flops: u64 = schedule.iter().map(|&w| nested.flops_per_step(w)).sum();
        let expected = nested.classify(test.sequence(i), &schedule);
        assert_eq!(run_flex(&model, &test, i, |t| setting_of(schedule[t])), (expected, own_flops), "seq {i}");
    }
}

#[test]
fn a_same_size_switch_leaves_the_state_unchanged() {
    let test = test_set();
    // Thr: two Skip-GRUs of one size (the shipped one and a copy with another gate bias).
    let (skips, card) = load_skip_models(&at("models/digits-thr")).unwrap();
    let mut other = skips[0].clone();
    other.base.name = "other".into();
    other.gate_bias[0] -= 0.5;
    let model = FlexibleModel::from_skip_models(vec![skips[0].clone(), other.clone()], Some(&card)).unwrap();
    let first = model.setting_index("thr-64-1e-3@thr=0").unwrap();
    let second = model.setting_index("other@thr=0.5").unwrap();
    assert_eq!(model.settings()[second].block, 1, "each Skip-GRU is its own parameter block");
    assert_eq!(model.switch_flops(first, second), 0);
    let mut state = model.new_state();
    for t in 0..30 {
        model.step(first, Some(test.frame(0, t)), &mut state);
    }
    let flexrnn::rnn::FamilyState::Thr(before) = state.family_state().clone() else { panic!() };
    let plan = model.step(second, Some(test.frame(0, 30)), &mut state);
    assert_eq!(plan.switch_flops, 0);
    let mut expected = before;
    other.step(test.frame(0, 30), 0.5, &mut expected, &mut CellScratch::new(64));
    assert_eq!(state.family_state(), &flexrnn::rnn::FamilyState::Thr(expected), "the state passed as it was");
    // Switch: a bank of two GRUs of one size, no map between them.
    let (bank, _) = load_bank(&at("models/digits-gru")).unwrap();
    let a = bank.models()[2].clone();
    let mut b = bank.models()[2].clone();
    b.name = "copy".into();
    let model = FlexibleModel::from_bank(ModelBank::new(vec![a.clone(), b], vec![]).unwrap(), None);
    let mut state = model.new_state();
    let mut h = vec![0.0f32; 64];
    let mut scratch = CellScratch::new(64);
    for t in 0..test.steps {
        let plan = model.step(t % 2, Some(test.frame(3, t)), &mut state);
        assert_eq!(plan.switch_flops, 0);
        a.cell.step(test.frame(3, t), &mut h, &mut scratch);
        assert_eq!(model.hidden_state(&state), &h[..], "step {t}");
    }
}

#[test]
fn settings_list_their_knobs_costs_and_blocks() {
    let gru = FlexibleModel::load(&at("models/digits-gru")).unwrap();
    let names: Vec<&str> = gru.settings().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gru-16", "gru-32", "gru-64", "gru-128"]);
    let s = &gru.settings()[2];
    assert_eq!((s.hidden, s.flops_per_update, s.block, s.block_bytes), (64, 25_984, 2, 54_056));
    assert_eq!(s.expected_flops_per_step, Some(25_984.0));
    assert!((s.expected_accuracy.unwrap() - 0.964).abs() < 1e-3);
    assert_eq!(gru.switch_flops(0, 0), 0);
    assert!(gru.switch_flops(0, 3) > 0);

    let thr = FlexibleModel::load(&at("models/digits-thr")).unwrap();
    let names: Vec<&str> = thr.settings().iter().map(|s| s.name.as_str()).collect();
    // Thinned grids: thresholds whose accuracy and cost repeat the previous point's are dropped.
    let mut expected: Vec<String> =
        [0.0, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.01].map(|t: f64| format!("thr-64-1e-3@thr={t}")).to_vec();
    let thr_3e3 = [0.0, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.01];
    expected.extend(thr_3e3.map(|t: f64| format!("thr-64-3e-3@thr={t}")));
    assert_eq!(names, expected);
    for (i, s) in thr.settings().iter().enumerate() {
        let block = usize::from(i >= 8);
        assert_eq!((s.block, s.block_bytes, s.flops_per_update, s.flops_per_skip), (block, 54_316, 26_115, 3));
        assert!(s.expected_flops_per_step.is_some() && s.expected_accuracy.is_some());
    }
    assert_eq!(thr.settings()[7].expected_flops_per_step, Some(3.0));
    // λ = 3e-3 at thr 0.5: 87.0 % of the steps updated, 0.967 accuracy (the card's grid).
    assert_eq!(names[14], "thr-64-3e-3@thr=0.5");
    assert!((thr.settings()[14].expected_accuracy.unwrap() - 0.9666).abs() < 1e-3);
    assert!((thr.settings()[14].expected_flops_per_step.unwrap() - 22_730.5).abs() < 0.1);
    assert_eq!(thr.switch_flops(0, 14), 0, "same size: the state passes as it is");

    let skipw = FlexibleModel::load(&at("models/digits-skipw")).unwrap();
    let names: Vec<String> = skipw.settings().iter().map(|s| s.name.clone()).collect();
    let mut expected: Vec<String> = (0..=8).map(|k| format!("k={k},thr=0.5")).collect();
    expected.push("k=8,thr=0".into());
    assert_eq!(names, expected);
    for s in skipw.settings() {
        assert_eq!((s.block, s.block_bytes, s.flops_per_update, s.flops_per_skip), (0, 56_168, 25_984, 0));
        // The gate reads [h; t/T_s]: 2(H + 1)L + L FLOPs.
        assert_eq!((s.flops_per_window, s.window), (1_048, 8));
    }
    assert_eq!(skipw.settings()[0].expected_accuracy, None, "K = 0 is not on the card's grid");
    assert!((skipw.settings()[6].expected_accuracy.unwrap() - 0.880).abs() < 1e-3);
    // Every step read and a gate per window of 8: 25 984 + 1 048 / 8.
    assert_eq!(skipw.settings()[9].expected_flops_per_step, Some(26_115.0));

    let nested = FlexibleModel::load(&at("models/digits-nested")).unwrap();
    let names: Vec<&str> = nested.settings().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["w=16", "w=32", "w=64", "w=128"]);
    let card_accuracy = [0.833, 0.950, 0.964, 0.978];
    for ((s, w), accuracy) in nested.settings().iter().zip([16usize, 32, 64, 128]).zip(card_accuracy) {
        let flops = (6 * w * (1 + w) + 16 * w) as u64;
        assert_eq!(s.knobs, Knobs::Width { width: w });
        assert_eq!((s.hidden, s.flops_per_update, s.flops_per_skip), (w, flops, flops));
        assert_eq!((s.block, s.block_bytes, s.flops_per_window, s.window), (0, 210_976, 0, 1), "one block");
        assert_eq!(s.expected_flops_per_step, Some(flops as f64));
        assert!((s.expected_accuracy.unwrap() - accuracy).abs() < 1e-3, "{}", s.name);
    }
    assert_eq!(nested.readout_flops(0), 330);
    assert_eq!(nested.readout_flops(3), 2_570);
    assert_eq!(nested.switch_flops(0, 3) + nested.switch_flops(3, 0), 0, "a width change is free");
}

#[test]
fn an_unknown_family_is_an_error_naming_the_card() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("card.json"), r#"{"family": "lstm-magic"}"#).unwrap();
    let err = FlexibleModel::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("card.json") && err.contains("lstm-magic") && err.contains("skipw"), "{err}");
}
