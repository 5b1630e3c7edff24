//! Training a SkipW classifier ([`crate::rnn::skipw`]) with the autodiff of `candle`.
//!
//! Mayet et al., "SkipW: Resource adaptable RNN with strict upper computational limit" (ICLR 2021).
//! Forward pass, per window of `L` steps: `ũ = σ(W_skip h + b_skip)` from the state at the window's
//! start (`c` for an LSTM); the binary selection `u = topK(ũ) ∧ (ũ ≥ 0.5)`; per step
//! `s ← u_t · cell(x_t, s) + (1 − u_t) · s` on the flat state `s` (`h`, or `[h; c]` for an LSTM).
//! The selection is not differentiable; the straight-through estimator passes the gradient of `u`
//! to `ũ` unchanged (`u = hard + (ũ − stopgrad(ũ))`, whose forward value is exactly `hard`).
//!
//! So that one model serves every budget, `K` is drawn uniformly from `k_min..=k_max` for every
//! mini-batch, and likewise the binarisation threshold from `[thr_min, thr_max]` (default the point
//! 0.5; a model trained only at 0.5 never learns to use the steps whose importance stays below 0.5,
//! so `thr = 0` is then far from "every step") (the paper varies `K` at inference; we could not retrieve its exact training schedule,
//! and random `K` per batch is the choice here). An optional budget term `λ · mean_b (Σ_t u_t / T)`
//! pushes the importance of unneeded steps below 0.5. Loss: cross-entropy of the readout of the final
//! state plus the budget term. Optimiser and epoch selection as [`super::train_classifier`]: AdamW with
//! cosine decay to 5%, weight decay 1e-4, gradient-norm clip; the epoch with the best validation score
//! (mean accuracy over `K = 1..=L` at `thr = 0.5`, measured with the crate's own inference) is kept.

use crate::train::{flat, uniform_var};
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{encode_tensors, CardTraining};
use crate::rnn::skipw::{
    skipw_tensors, top_k_mask, SkipWCard, SkipWCardKnobs, SkipWCardTrainingKnobs, SkipWClassifier, SkipWGridPoint,
};
use crate::rnn::{CellKind, RnnClassifier};

use super::cell::CandleCell;
use super::{batch_tensor, clip_gradients, readout_size, task_loss, Score, Scorer, TrainError};

/// Default binarisation threshold of the importance during training (`ũ ≥ 0.5`).
pub const TRAIN_THRESHOLD: f32 = 0.5;

/// Thresholds of the card's accuracy grid (with `K = 1..=L`).
pub const GRID_THRESHOLDS: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 0.9];

/// Settings of [`train_skipw`].
#[derive(Debug, Clone, PartialEq)]
pub struct SkipWTrainConfig {
    /// The recurrent cell (GRU or LSTM).
    pub cell: CellKind,
    /// Hidden size `H`.
    pub hidden: usize,
    /// Window length `L`.
    pub window: usize,
    /// `K` is drawn per mini-batch uniformly from `k_min..=k_max` (`k_max ≤ L`).
    pub k_min: usize,
    /// Upper end of the `K` range.
    pub k_max: usize,
    /// The training threshold is drawn per mini-batch uniformly from `[thr_min, thr_max]`
    /// (`0.5, 0.5`: the usual `ũ ≥ 0.5` binarisation).
    pub thr_min: f32,
    /// Upper end of the training threshold range.
    pub thr_max: f32,
    /// Weight λ of the budget term (0: none).
    pub budget_lambda: f64,
    /// Passes over the training set.
    pub epochs: usize,
    /// Sequences per mini-batch.
    pub batch_size: usize,
    /// Initial AdamW learning rate.
    pub learning_rate: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Seed of initialisation, batch order and `K` draws.
    pub seed: u64,
    /// The command line, recorded in the card.
    pub command: String,
}

/// Progress of [`train_skipw`]: one message per epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipWEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (cross-entropy plus budget term).
    pub loss: f64,
    /// Mean share of steps processed in training (under the drawn `K`).
    pub processed_share: f64,
    /// Validation score (mean accuracy over `K = 1..=L` and the thresholds of [`validation_thresholds`]).
    pub validation_score: f64,
}

/// A trained SkipW model and its card.
#[derive(Debug, Clone)]
pub struct TrainedSkipW {
    /// The model, as the crate runs it.
    pub model: SkipWClassifier,
    /// Its card.
    pub card: SkipWCard,
}

struct CandleSkipW {
    cell: CandleCell,
    window: usize,
    skip_weight: Var,
    skip_bias: Var,
    readout_weight: Var,
    readout_bias: Var,
}

impl CandleSkipW {
    /// PyTorch's initialisation (uniform ±1/√H for the cell and the H-input linear layers), drawn in the
    /// order cell, skip gate, readout.
    fn init(
        kind: CellKind,
        input: usize,
        hidden: usize,
        window: usize,
        classes: usize,
        rng: &mut Pcg64,
    ) -> candle_core::Result<Self> {
        let cell = CandleCell::init(kind, input, hidden, rng)?;
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut var = |shape: &[usize]| uniform_var(rng, shape, bound);
        Ok(CandleSkipW {
            cell,
            window,
            skip_weight: var(&[window, hidden])?,
            skip_bias: var(&[window])?,
            readout_weight: var(&[classes, hidden])?,
            readout_bias: var(&[classes])?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut vars = self.cell.vars();
        vars.extend(
            [&self.skip_weight, &self.skip_bias, &self.readout_weight, &self.readout_bias].into_iter().cloned(),
        );
        vars
    }

    /// Final hidden states `h` `[B, H]` (what the readout reads) and the selection `u` of every step
    /// `[B, T]` for inputs `[B, T, I]` under budget `k` and threshold `thr` (straight-through selection,
    /// see the module doc).
    fn final_state(&self, xs: &Tensor, k: usize, thr: f32) -> candle_core::Result<(Tensor, Tensor)> {
        let (state, selection) = self.final_flat_state(xs, k, thr)?;
        Ok((self.cell.h(&state)?, selection))
    }

    /// [`Self::final_state`] with the whole flat state (`[h; c]` for an LSTM).
    fn final_flat_state(&self, xs: &Tensor, k: usize, thr: f32) -> candle_core::Result<(Tensor, Tensor)> {
        let (batch, steps, _) = xs.dims3()?;
        let window = self.window;
        let cell = &self.cell;
        let gates_input = cell.input_gates(xs)?;
        let weight_hh_t = cell.weight_hh_t()?;
        let skip_weight_t = self.skip_weight.as_tensor().t()?;
        // The flat state: `h`, or `[h; c]` for an LSTM.
        let mut h = cell.zero_state(batch)?;
        let mut selection = Vec::with_capacity(steps);
        let mut u_window = None;
        let mut hard = vec![0.0f32; batch * window];
        let mut mask = vec![false; window];
        for step in 0..steps {
            let position = step % window;
            if position == 0 {
                let importance = candle_nn::ops::sigmoid(
                    &cell.gate_state(&h)?.matmul(&skip_weight_t)?.broadcast_add(self.skip_bias.as_tensor())?,
                )?;
                let values = importance.to_vec2::<f32>()?;
                for (row, out) in values.iter().zip(hard.chunks_exact_mut(window)) {
                    top_k_mask(row, k, &mut mask);
                    for ((o, &m), &v) in out.iter_mut().zip(&mask).zip(row) {
                        *o = if m && v >= thr { 1.0 } else { 0.0 };
                    }
                }
                let hard_tensor = Tensor::from_slice(&hard, (batch, window), &Device::Cpu)?;
                // Forward value exactly `hard` (x − x = 0); gradient that of `importance`.
                u_window = Some((hard_tensor + (&importance - importance.detach())?)?);
            }
            let u = u_window.as_ref().expect("set at position 0").narrow(1, position, 1)?; // [B, 1]
            let gi = &gates_input[step];
            let updated = cell.step(&gi, &h, &weight_hh_t)?;
            // u = 1 gives exactly `updated`, u = 0 exactly `h`.
            h = (updated.broadcast_mul(&u)? + h.broadcast_mul(&u.affine(-1.0, 1.0)?)?)?;
            selection.push(u);
        }
        Ok((h, Tensor::cat(&selection, 1)?))
    }

    fn to_model(&self, name: &str) -> candle_core::Result<SkipWClassifier> {
        let base = RnnClassifier {
            name: name.to_string(),
            cell: self.cell.to_cell()?,
            readout_weight: flat(&self.readout_weight)?,
            readout_bias: flat(&self.readout_bias)?,
        };
        Ok(SkipWClassifier::new(base, self.window, flat(&self.skip_weight)?, flat(&self.skip_bias)?)
            .expect("shapes of trained tensors match by construction"))
    }
}

/// Score (accuracy or MSE), mean processed steps per sequence and mean FLOPs per step (gates and
/// processed steps; readout excluded) of `model` on `set` at constant knobs `k`, `thr`.
pub fn evaluate_set(model: &SkipWClassifier, set: &SequenceSet, k: usize, thr: f32) -> (Score, f64, f64) {
    let mut scorer = Scorer::new(set);
    let (mut processed, mut flops, mut steps) = (0usize, 0u64, 0usize);
    for i in 0..set.len() {
        let outcome = model.classify(set.unpadded(i), k, thr);
        scorer.add(i, &outcome.outputs);
        processed += outcome.processed_steps;
        flops += outcome.flops;
        steps += set.length(i);
    }
    let n = set.len().max(1) as f64;
    (scorer.score(), processed as f64 / n, flops as f64 / steps.max(1) as f64)
}

/// The thresholds at which the validation score is taken: the training range's ends and middle
/// (one value when the range is a point).
pub fn validation_thresholds(thr_min: f32, thr_max: f32) -> Vec<f32> {
    if thr_min == thr_max {
        vec![thr_min]
    } else {
        vec![thr_min, 0.5 * (thr_min + thr_max), thr_max]
    }
}

/// Mean quality (accuracy, or −MSE for a regression set) over `K = 1..=L` and `thresholds`: the
/// score that picks the kept epoch.
pub fn validation_score(model: &SkipWClassifier, set: &SequenceSet, thresholds: &[f32]) -> f64 {
    let window = model.window();
    let mut sum = 0.0;
    for k in 1..=window {
        for &thr in thresholds {
            sum += evaluate_set(model, set, k, thr).0.quality();
        }
    }
    sum / (window * thresholds.len()).max(1) as f64
}

/// The card's grid: test accuracy, mean processed steps and FLOPs per step for `K = 1..=L` and every
/// threshold of [`GRID_THRESHOLDS`].
pub fn accuracy_grid(model: &SkipWClassifier, test: &SequenceSet) -> Vec<SkipWGridPoint> {
    let mut grid = Vec::new();
    for k in 1..=model.window() {
        for thr in GRID_THRESHOLDS {
            let (score, mean_processed_steps, mean_flops_per_step) = evaluate_set(model, test, k, thr);
            grid.push(SkipWGridPoint {
                k,
                thr,
                test_accuracy: score.accuracy(),
                test_mse: score.mse(),
                mean_processed_steps,
                mean_flops_per_step,
            });
        }
    }
    grid
}

/// Trains a SkipW classifier on `set` split by `split` and measures its card.
///
/// # Errors
/// [`TrainError::Autodiff`] if the autodiff library fails, [`TrainError::Diverged`] if the loss is
/// not finite.
///
/// # Panics
/// If `window` is 0 or `k_min > k_max` (the CLI checks both).
pub fn train_skipw(
    set: &SequenceSet,
    split: &Split,
    config: &SkipWTrainConfig,
    mut progress: impl FnMut(&SkipWEpoch),
) -> Result<TrainedSkipW, TrainError> {
    assert!(config.window > 0 && config.k_min <= config.k_max, "SkipW training: window ≥ 1 and k_min ≤ k_max");
    let started = Instant::now();
    let (train, validation, test) = (set.subset(&split.train), set.subset(&split.validation), set.subset(&split.test));
    let name = format!("skipw-{}-{}-l{}", config.cell, config.hidden, config.window);
    let mut rng = Pcg64::seed_from_u64(config.seed ^ (config.hidden as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let model =
        CandleSkipW::init(config.cell, train.features, config.hidden, config.window, readout_size(&train), &mut rng)?;
    let params = ParamsAdamW { lr: config.learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(model.vars(), params.clone())?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best = (model.to_model(&name)?, f64::NEG_INFINITY, 0usize);
    let k_max = config.k_max.min(config.window);
    let k_min = config.k_min.min(k_max);
    let thresholds = validation_thresholds(config.thr_min, config.thr_max);
    for epoch in 1..=config.epochs {
        let progress_share = (epoch - 1) as f64 / config.epochs.max(1) as f64;
        let lr = config.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress_share).cos()));
        optimiser.set_params(ParamsAdamW { lr, ..params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut processed_sum, mut batches) = (0.0, 0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let k = rng.random_range(k_min..=k_max);
            let thr = if config.thr_min < config.thr_max {
                rng.random_range(config.thr_min..=config.thr_max)
            } else {
                config.thr_min
            };
            let (xs, ys) = batch_tensor(&train, chunk)?;
            let (h, selection) = model.final_state(&xs, k, thr)?;
            let logits =
                h.matmul(&model.readout_weight.as_tensor().t()?)?.broadcast_add(model.readout_bias.as_tensor())?;
            let processed_share = selection.mean_all()?;
            let mut loss = task_loss(&logits, &ys)?;
            if config.budget_lambda > 0.0 {
                loss = (loss + (&processed_share * config.budget_lambda)?)?;
            }
            let mut grads = loss.backward()?;
            clip_gradients(&model.vars(), &mut grads, config.clip_norm)?;
            optimiser.step(&grads)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            processed_sum += processed_share.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { hidden: config.hidden, epoch, loss });
        }
        let candidate = model.to_model(&name)?;
        let score = validation_score(&candidate, &validation, &thresholds);
        progress(&SkipWEpoch {
            epoch,
            loss,
            processed_share: processed_sum / batches.max(1) as f64,
            validation_score: score,
        });
        if score > best.1 {
            best = (candidate, score, epoch);
        }
    }
    let (model, validation_score, best_epoch) = best;
    let grid = accuracy_grid(&model, &test);
    let all_steps = evaluate_set(&model, &test, model.window(), 0.0).0;
    let card = SkipWCard {
        task: set.name.clone(),
        family: "skipw".into(),
        cell: config.cell.as_str().into(),
        name,
        input: set.features,
        classes: set.classes,
        hidden: config.hidden,
        window: config.window,
        knobs: SkipWCardKnobs { k_max: config.window, thr_min: 0.0, thr_max: 1.0 },
        flops_per_processed_step: model.flops_per_processed_step(),
        flops_per_skipped_step: 0,
        flops_window_gate: model.flops_window_gate(),
        flops_readout: model.base.flops_readout(),
        param_bytes: model.param_bytes(),
        validation_score,
        best_epoch,
        grid,
        test_accuracy_all_steps: all_steps.accuracy(),
        test_mse_all_steps: all_steps.mse(),
        training_knobs: SkipWCardTrainingKnobs {
            k_min,
            k_max,
            thr_min: config.thr_min,
            thr_max: config.thr_max,
            budget_lambda: config.budget_lambda,
            selection: format!(
                "mean validation {} over K = 1..=L and thr in {thresholds:?}",
                if set.is_regression() { "quality (−MSE)" } else { "accuracy" }
            ),
        },
        training: CardTraining {
            command: config.command.clone(),
            seed: config.seed,
            autodiff: "candle-core 0.11 / candle-nn 0.11 (CPU)".into(),
            optimiser: format!(
                "AdamW (lr {}, cosine decay to 5%, weight decay 1e-4), gradient-norm clip {}, {} on the last step + {} x processed share; straight-through top-K selection, K uniform in {}..={} and thr uniform in [{}, {}] per mini-batch; epoch with best validation score kept",
                config.learning_rate,
                config.clip_norm,
                super::loss_name(set),
                config.budget_lambda,
                k_min,
                k_max,
                config.thr_min,
                config.thr_max
            ),
            epochs: config.epochs,
            batch_size: config.batch_size,
            wall_time_s: started.elapsed().as_secs_f64(),
            split: split.clone(),
        },
        seeds: None,
    };
    Ok(TrainedSkipW { model, card })
}

/// The files of a SkipW model folder: `<name>.safetensors` and `card.json`.
///
/// # Errors
/// If the card cannot be serialised (it always can).
pub fn skipw_files(trained: &TrainedSkipW) -> Result<Vec<(PathBuf, Vec<u8>)>, serde_json::Error> {
    Ok(vec![
        (format!("{}.safetensors", trained.card.name).into(), encode_tensors(&skipw_tensors(&trained.model))),
        ("card.json".into(), serde_json::to_vec_pretty(&trained.card)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::{CellScratch, SkipWKnobs};

    /// Largest absolute difference allowed between the crate's SkipW and the autodiff forward.
    const AUTODIFF_ATOL: f32 = 1e-5;

    #[test]
    fn crate_inference_matches_autodiff_forward_on_same_weights() {
        let mut rng = Pcg64::seed_from_u64(3);
        for (input, hidden, window, k) in [(1, 16, 4, 2), (2, 8, 8, 3), (1, 32, 5, 5)] {
            let model = CandleSkipW::init(CellKind::Gru, input, hidden, window, 3, &mut rng).unwrap();
            let steps = 3 * window + 1;
            let values: Vec<f32> = (0..4 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (4, steps, input), &Device::Cpu).unwrap();
            let (expected_h, expected_u) = model.final_state(&xs, k, TRAIN_THRESHOLD).unwrap();
            let (expected_h, expected_u) = (expected_h.to_vec2::<f32>().unwrap(), expected_u.to_vec2::<f32>().unwrap());
            let ours = model.to_model("m").unwrap();
            for b in 0..4 {
                let mut state = ours.new_state();
                let mut scratch = CellScratch::new(hidden);
                for (t, x) in values[b * steps * input..(b + 1) * steps * input].chunks_exact(input).enumerate() {
                    let step = ours.step(x, SkipWKnobs { k, thr: TRAIN_THRESHOLD }, &mut state, &mut scratch);
                    assert_eq!(step.processed, expected_u[b][t] == 1.0, "row {b} step {t}");
                    assert!(expected_u[b][t] == 0.0 || expected_u[b][t] == 1.0, "forward selection is binary");
                }
                let worst = state.h.iter().zip(&expected_h[b]).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "I={input} H={hidden} L={window}: max abs diff {worst}");
            }
        }
    }

    #[test]
    fn straight_through_gradient_reaches_the_gate() {
        let mut rng = Pcg64::seed_from_u64(9);
        let model = CandleSkipW::init(CellKind::Gru, 1, 8, 4, 3, &mut rng).unwrap();
        let xs = Tensor::from_vec(
            (0..2 * 12).map(|i| (i as f32 * 0.3).sin()).collect::<Vec<f32>>(),
            (2, 12, 1),
            &Device::Cpu,
        )
        .unwrap();
        let (h, u) = model.final_state(&xs, 2, TRAIN_THRESHOLD).unwrap();
        let loss = (h.sqr().unwrap().sum_all().unwrap() + u.sum_all().unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(model.skip_weight.as_tensor()).expect("gate gets a gradient");
        assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
    }

    #[test]
    fn lstm_crate_inference_matches_autodiff_forward_on_same_weights() {
        let mut rng = Pcg64::seed_from_u64(4);
        for (input, hidden, window, k) in [(1, 16, 4, 2), (2, 8, 8, 3)] {
            let model = CandleSkipW::init(CellKind::Lstm, input, hidden, window, 3, &mut rng).unwrap();
            let steps = 3 * window + 1;
            let values: Vec<f32> = (0..4 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (4, steps, input), &Device::Cpu).unwrap();
            let (expected_state, expected_u) = model.final_flat_state(&xs, k, TRAIN_THRESHOLD).unwrap();
            let expected_state = expected_state.to_vec2::<f32>().unwrap();
            let expected_u = expected_u.to_vec2::<f32>().unwrap();
            let ours = model.to_model("m").unwrap();
            let mut processed = 0;
            for b in 0..4 {
                let mut state = ours.new_state();
                let mut scratch = CellScratch::new(hidden);
                for (t, x) in values[b * steps * input..(b + 1) * steps * input].chunks_exact(input).enumerate() {
                    let step = ours.step(x, SkipWKnobs { k, thr: TRAIN_THRESHOLD }, &mut state, &mut scratch);
                    assert_eq!(step.processed, expected_u[b][t] == 1.0, "row {b} step {t}");
                    assert!(step.processed_in_window <= k);
                    processed += usize::from(step.processed);
                }
                assert_eq!(state.h.len(), 2 * hidden, "[h; c]");
                let worst = state.h.iter().zip(&expected_state[b]).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "I={input} H={hidden} L={window}: max abs diff {worst}");
            }
            assert!(processed > 0);
        }
    }

    #[test]
    fn a_short_skipw_lstm_run_learns() {
        let (set, split) = super::super::toy_task(120, 8, 6);
        let config = SkipWTrainConfig {
            cell: CellKind::Lstm,
            hidden: 8,
            window: 4,
            k_min: 1,
            k_max: 4,
            thr_min: 0.5,
            thr_max: 0.5,
            budget_lambda: 0.0,
            epochs: 12,
            batch_size: 16,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed: 2,
            command: "test".into(),
        };
        let trained = train_skipw(&set, &split, &config, |_| {}).unwrap();
        assert_eq!((trained.card.name.as_str(), trained.card.cell.as_str()), ("skipw-lstm-8-l4", "lstm"));
        assert_eq!(trained.card.flops_per_processed_step, 8 * 8 * 9 + 21 * 8);
        assert!(trained.card.test_accuracy_all_steps.unwrap() >= 0.8, "{:?}", trained.card.test_accuracy_all_steps);
        let at_k2 = trained.card.grid.iter().find(|p| p.k == 2 && p.thr == 0.5).unwrap();
        assert!(at_k2.test_accuracy.unwrap() >= 0.8 && at_k2.mean_processed_steps <= 4.0, "{at_k2:?}");
    }
}
