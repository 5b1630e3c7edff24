//! Training Skip-GRUs and Skip-LSTMs (the ThrRNN family, [`crate::rnn::skip`]) with candle autodiff.
//!
//! The network of Campos et al., "Skip RNN", ICLR 2018, §3, trained as they do:
//! - forward, per step `t` of a mini-batch (`[B, 1]` gate quantities, `[B, H]` states):
//!   `u_t = round(ũ_t)` (binarisation at `thr = 0.5`), `s_t = s_{t−1} + u_t (cell(s_{t−1}, x_t) − s_{t−1})`
//!   (for an LSTM `s = [h; c]`, both carried),
//!   `Δũ_t = Δũ_{t−1} + u_t (σ(w_p · s_t + b_p) − Δũ_{t−1})` (the gate reads `h`, or `c` for an LSTM),
//!   `ũ_{t+1} = a_t + u_t (Δũ_t − a_t)` with `a_t = min(ũ_t + Δũ_t, 1)`; `ũ_1 = Δũ_0 = 1`, `s_0 = 0` —
//!   the same recurrence as the inference code, written with differences;
//! - backward: the straight-through estimator `u_t = ũ_t + (round(ũ_t) − ũ_t).detach()`, so `∂u/∂ũ = 1`
//!   (Bengio et al. 2013, as in Campos' `STEFunction`);
//! - loss = cross-entropy of the readout of `s_T` + `λ · mean over the batch of Σ_t u_t` (the budget
//!   term, Campos eq. 6 with `L_budget = λ Σ u_t`).
//!
//! The gate bias starts at 1 (Campos' `update_bias`), so that early training updates at most steps.
//! AdamW, cosine learning-rate decay, gradient clipping and seeds are those of [`super::train_classifier`].
//! The epoch kept is the one with the best validation accuracy at `thr = 0.5` (ties: fewer updates,
//! then the earlier epoch). Accuracies and update shares are measured with the crate's own inference.

use crate::train::{flat, uniform_var};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{CardModel, CardTraining, KnobPoint, ModelCard, FAMILY_THR};
use crate::rnn::{CellKind, SkipGruClassifier};

use super::{
    batch_tensor, clip_gradients, readout_size, task_loss, CandleClassifier, Score, Scorer, TrainConfig, TrainError,
};

/// The threshold used in training (`round(ũ)`), at which the card's headline accuracy is measured.
pub const TRAINING_THR: f64 = 0.5;

/// The thresholds at which the card records test accuracy and update share: 0, 0.1, …, 1.0 and 1.01
/// (above 1: no update at all).
pub const THR_GRID: [f64; 12] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.01];

/// Initial gate bias `b_p` (Campos' `update_bias`): `σ(1) ≈ 0.73`.
const INITIAL_GATE_BIAS: f32 = 1.0;

/// What [`train_skip_classifier`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipTrainReport {
    /// Validation score (accuracy or MSE) of the kept weights at `thr = 0.5`.
    pub validation: Score,
    /// Validation share of updated steps of the kept weights at `thr = 0.5`.
    pub validation_update_share: f64,
    /// 1-based epoch of the kept weights.
    pub best_epoch: usize,
    /// Mean training loss (cross-entropy + budget term) per epoch.
    pub epoch_losses: Vec<f64>,
}

/// Measured per epoch by [`train_skip_classifier`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (cross-entropy + budget term).
    pub loss: f64,
    /// Mean training share of updated steps (`Σ_t u_t / T` in the forward pass).
    pub train_update_share: f64,
    /// Validation score (accuracy or MSE) at `thr = 0.5`.
    pub validation: Score,
    /// Validation share of updated steps at `thr = 0.5`.
    pub validation_update_share: f64,
}

pub(crate) struct CandleSkipRnn {
    base: CandleClassifier,
    gate_weight: Var,
    gate_bias: Var,
}

impl CandleSkipRnn {
    fn init(
        kind: CellKind,
        input: usize,
        hidden: usize,
        classes: usize,
        rng: &mut Pcg64,
    ) -> candle_core::Result<CandleSkipRnn> {
        let base = CandleClassifier::init(kind, input, hidden, classes, rng)?;
        let bound = 1.0 / (hidden as f32).sqrt();
        Ok(CandleSkipRnn {
            base,
            gate_weight: uniform_var(rng, &[1, hidden], bound)?,
            gate_bias: Var::from_vec(vec![INITIAL_GATE_BIAS], 1, &Device::Cpu)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut vars = self.base.vars();
        vars.push(self.gate_weight.clone());
        vars.push(self.gate_bias.clone());
        vars
    }

    /// Logits `[B, C]` and the number of updated steps per sequence `Σ_t u_t` `[B]` (straight-through:
    /// its gradient flows into `ũ`) for inputs `[B, T, I]`.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (batch, steps, _) = xs.dims3()?;
        let cell = &self.base.cell;
        let gates_input = cell.input_gates(xs)?;
        let weight_hh_t = cell.weight_hh_t()?;
        let gate_weight_t = self.gate_weight.as_tensor().t()?;
        // The flat state: `h`, or `[h; c]` for an LSTM.
        let mut h = cell.zero_state(batch)?;
        let mut u_tilde = Tensor::ones((batch, 1), DType::F32, &Device::Cpu)?;
        let mut delta_u = Tensor::ones((batch, 1), DType::F32, &Device::Cpu)?;
        let mut updates = Vec::with_capacity(steps);
        for step in 0..steps {
            let u = (&u_tilde + (u_tilde.round()? - &u_tilde)?.detach())?;
            let gi = &gates_input[step];
            let candidate = cell.step(&gi, &h, &weight_hh_t)?;
            h = (&h + (candidate - &h)?.broadcast_mul(&u)?)?;
            let new_delta = candle_nn::ops::sigmoid(
                &cell.gate_state(&h)?.matmul(&gate_weight_t)?.broadcast_add(self.gate_bias.as_tensor())?,
            )?;
            delta_u = (&delta_u + (u.clone() * (new_delta - &delta_u)?)?)?;
            let accumulated = (&u_tilde + &delta_u)?.minimum(1f32)?;
            u_tilde = (&accumulated + (u.clone() * (&delta_u - &accumulated)?)?)?;
            updates.push(u);
        }
        let updated_steps = Tensor::cat(&updates, 1)?.sum(1)?;
        Ok((self.base.readout(&cell.h(&h)?)?, updated_steps))
    }

    fn to_classifier(&self, name: &str) -> candle_core::Result<SkipGruClassifier> {
        let gru = self.base.to_classifier(name)?;
        let gate_weight = flat(&self.gate_weight)?;
        let gate_bias = self.gate_bias.as_tensor().to_vec1::<f32>()?[0];
        Ok(SkipGruClassifier::new(gru, gate_weight, gate_bias))
    }
}

/// Test-style evaluation of `model` on `set` at threshold `thr` (crate inference, not autodiff).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrEvaluation {
    /// Accuracy, or MSE for a regression set.
    pub score: Score,
    /// Updated steps over all steps.
    pub update_share: f64,
    /// Mean FLOPs per step (updates and skips; readout excluded).
    pub mean_flops_per_step: f64,
}

/// Accuracy, share of updated steps and mean FLOPs per step of `model` on `set` under threshold `thr`.
pub fn evaluate_thr(model: &SkipGruClassifier, set: &SequenceSet, thr: f32) -> ThrEvaluation {
    let (mut updated, mut steps) = (0usize, 0usize);
    let mut scorer = Scorer::new(set);
    for i in 0..set.len() {
        let outcome = model.classify(set.unpadded(i), thr);
        scorer.add(i, &outcome.outputs);
        updated += outcome.updated_steps;
        steps += outcome.steps;
    }
    let flops =
        updated as f64 * model.flops_per_update() as f64 + (steps - updated) as f64 * model.flops_per_skip() as f64;
    ThrEvaluation {
        score: scorer.score(),
        update_share: updated as f64 / steps.max(1) as f64,
        mean_flops_per_step: flops / steps.max(1) as f64,
    }
}

/// Trains one Skip-GRU with budget weight `lambda` (see the module doc). `on_epoch` is called after each
/// epoch. The initial weights and batch order depend on `config.seed` and `config.hidden` only, so models
/// of one width trained with different `lambda` start from the same point.
///
/// # Errors
/// [`TrainError::Autodiff`] if the autodiff library fails, [`TrainError::Diverged`] on a non-finite loss.
pub fn train_skip_classifier(
    name: &str,
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &TrainConfig,
    lambda: f64,
    mut on_epoch: impl FnMut(SkipEpoch),
) -> Result<(SkipGruClassifier, SkipTrainReport), TrainError> {
    let mut rng = Pcg64::seed_from_u64(config.seed ^ (config.hidden as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let model = CandleSkipRnn::init(config.cell, train.features, config.hidden, readout_size(train), &mut rng)?;
    let params = ParamsAdamW { lr: config.learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(model.vars(), params.clone())?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let initial = model.to_classifier(name)?;
    let mut best: (SkipGruClassifier, ThrEvaluation, usize) = (
        initial,
        ThrEvaluation { score: Score::Accuracy(f64::NEG_INFINITY), update_share: 1.0, mean_flops_per_step: 0.0 },
        0,
    );
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        let progress = (epoch - 1) as f64 / config.epochs.max(1) as f64;
        let lr = config.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        optimiser.set_params(ParamsAdamW { lr, ..params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches, mut updated_sum) = (0.0, 0usize, 0.0f64);
        for chunk in order.chunks(config.batch_size) {
            let (xs, ys) = batch_tensor(train, chunk)?;
            let (logits, updated_steps) = model.forward(&xs)?;
            let budget = (updated_steps.mean_all()? * lambda)?;
            let loss = (task_loss(&logits, &ys)? + budget)?;
            let mut grads = loss.backward()?;
            clip_gradients(&model.vars(), &mut grads, config.clip_norm)?;
            optimiser.step(&grads)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            updated_sum += updated_steps.sum_all()?.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { hidden: config.hidden, epoch, loss });
        }
        epoch_losses.push(loss);
        let candidate = model.to_classifier(name)?;
        let on_validation = evaluate_thr(&candidate, validation, TRAINING_THR as f32);
        on_epoch(SkipEpoch {
            epoch,
            loss,
            train_update_share: updated_sum / (train.len() * train.steps).max(1) as f64,
            validation: on_validation.score,
            validation_update_share: on_validation.update_share,
        });
        let (quality, best_quality) = (on_validation.score.quality(), best.1.score.quality());
        let better =
            quality > best_quality || (quality == best_quality && on_validation.update_share < best.1.update_share);
        if better {
            best = (candidate, on_validation, epoch);
        }
    }
    let (classifier, on_validation, best_epoch) = best;
    Ok((
        classifier,
        SkipTrainReport {
            validation: on_validation.score,
            validation_update_share: on_validation.update_share,
            best_epoch,
            epoch_losses,
        },
    ))
}

/// Settings of [`train_skip_bank`].
#[derive(Debug, Clone)]
pub struct SkipBankConfig {
    /// Hidden sizes.
    pub widths: Vec<usize>,
    /// Budget weights λ; one model per (width, λ), named by [`skip_model_name`] (e.g. `thr-64-1e-3`,
    /// `thr-lstm-64-1e-3`).
    pub lambdas: Vec<f64>,
    /// Per-model settings (and the cell, [`TrainConfig::cell`]); `hidden` is overwritten by each width.
    pub base: TrainConfig,
    /// The command line that was run, recorded in the card.
    pub command: String,
}

/// Progress messages of [`train_skip_bank`].
#[derive(Debug, Clone)]
pub enum SkipProgress {
    /// An epoch of model `name` finished.
    Epoch {
        /// Model name.
        name: String,
        /// What was measured.
        epoch: SkipEpoch,
    },
    /// A model is done.
    ModelDone {
        /// Model name.
        name: String,
        /// Test-split results at every threshold of [`THR_GRID`].
        grid: Vec<KnobPoint>,
        /// Training wall time, seconds.
        wall_s: f64,
    },
}

/// Trained Skip-GRUs and their card.
#[derive(Debug, Clone)]
pub struct TrainedSkipBank {
    /// The models, in card order (width, then λ, ascending).
    pub models: Vec<SkipGruClassifier>,
    /// The card describing them (`family` `thr`).
    pub card: ModelCard,
}

/// The name of the GRU model of width `hidden` and budget weight `lambda`: `thr-<H>-<λ>` with λ in
/// Rust's shortest exponent form (`1e-3`, `2.5e-2`); [`skip_model_name_for`] names LSTM models.
pub fn skip_model_name(hidden: usize, lambda: f64) -> String {
    skip_model_name_for(CellKind::Gru, hidden, lambda)
}

/// The name of the model of cell `cell`, width `hidden` and budget weight `lambda`: `thr-<H>-<λ>` for a
/// GRU (the names of the shipped models), `thr-lstm-<H>-<λ>` for an LSTM.
pub fn skip_model_name_for(cell: CellKind, hidden: usize, lambda: f64) -> String {
    match cell {
        CellKind::Gru => format!("thr-{hidden}-{lambda:e}"),
        CellKind::Lstm => format!("thr-lstm-{hidden}-{lambda:e}"),
    }
}

/// Trains one Skip-GRU per (width, λ) on `set` split by `split`, and records each model's test accuracy
/// and update share at every threshold of [`THR_GRID`].
///
/// # Errors
/// [`TrainError`] from the autodiff library or a diverging model.
pub fn train_skip_bank(
    set: &SequenceSet,
    split: &Split,
    config: &SkipBankConfig,
    mut progress: impl FnMut(SkipProgress),
) -> Result<TrainedSkipBank, TrainError> {
    let started = Instant::now();
    let train = set.subset(&split.train);
    let validation = set.subset(&split.validation);
    let test = set.subset(&split.test);
    let mut widths = config.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    let mut lambdas = config.lambdas.clone();
    lambdas.sort_by(f64::total_cmp);
    lambdas.dedup();
    let mut models = Vec::new();
    let mut card_models = Vec::new();
    for &hidden in &widths {
        for &lambda in &lambdas {
            let model_started = Instant::now();
            let name = skip_model_name_for(config.base.cell, hidden, lambda);
            let model_config = TrainConfig { hidden, ..config.base.clone() };
            let (model, report) = train_skip_classifier(&name, &train, &validation, &model_config, lambda, |epoch| {
                progress(SkipProgress::Epoch { name: name.clone(), epoch })
            })?;
            let grid: Vec<KnobPoint> = THR_GRID
                .iter()
                .map(|&thr| {
                    let result = evaluate_thr(&model, &test, thr as f32);
                    KnobPoint {
                        knobs: [("thr".to_string(), thr)].into_iter().collect(),
                        test_accuracy: result.score.accuracy(),
                        test_mse: result.score.mse(),
                        update_share: Some(result.update_share),
                        mean_flops_per_step: result.mean_flops_per_step,
                    }
                })
                .collect();
            let wall_s = model_started.elapsed().as_secs_f64();
            let at_training_thr = evaluate_thr(&model, &test, TRAINING_THR as f32);
            progress(SkipProgress::ModelDone { name: name.clone(), grid: grid.clone(), wall_s });
            card_models.push(CardModel {
                name: name.clone(),
                hidden,
                flops_per_step: model.flops_per_update(),
                flops_readout: model.flops_readout(),
                param_bytes: model.param_bytes(),
                test_accuracy: at_training_thr.score.accuracy(),
                validation_accuracy: report.validation.accuracy(),
                test_mse: at_training_thr.score.mse(),
                validation_mse: report.validation.mse(),
                best_epoch: report.best_epoch,
                train_wall_s: wall_s,
                family: FAMILY_THR.into(),
                flops_per_skip: Some(model.flops_per_skip()),
                budget_lambda: Some(lambda),
                knob_grid: grid,
            });
            models.push(model);
        }
    }
    let card = ModelCard {
        task: set.name.clone(),
        family: FAMILY_THR.into(),
        cell: config.base.cell.as_str().into(),
        input: set.features,
        classes: set.classes,
        models: card_models,
        maps: Vec::new(),
        training: CardTraining {
            command: config.command.clone(),
            seed: config.base.seed,
            autodiff: "candle-core 0.11 / candle-nn 0.11 (CPU)".into(),
            optimiser: format!(
                "AdamW (lr {}, cosine decay to 5%, weight decay 1e-4), gradient-norm clip {}; loss = {} on the last step + λ · mean over sequences of Σ_t u_t, binarisation round(ũ) with the straight-through estimator; epoch with the best validation score at thr 0.5 kept (ties: fewer updates)",
                config.base.learning_rate,
                config.base.clip_norm,
                super::loss_name(set)
            ),
            epochs: config.base.epochs,
            batch_size: config.base.batch_size,
            wall_time_s: started.elapsed().as_secs_f64(),
            split: split.clone(),
        },
        seeds: None,
    };
    Ok(TrainedSkipBank { models, card })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::{GruScratch, SkipState};
    use rand::Rng;

    /// Largest absolute difference allowed between the crate's Skip-GRU and the autodiff forward.
    const AUTODIFF_ATOL: f32 = 1e-5;

    fn random_inputs(rng: &mut Pcg64, batch: usize, steps: usize, input: usize) -> Vec<f32> {
        (0..batch * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// The autodiff forward (at thr 0.5) and the crate's inference agree on states, logits and the
    /// number of updates, with a gate that really skips.
    #[test]
    fn autodiff_forward_matches_crate_inference() {
        let mut rng = Pcg64::seed_from_u64(11);
        let (input, hidden, steps, batch) = (2, 16, 30, 4);
        let model = CandleSkipRnn::init(CellKind::Gru, input, hidden, 3, &mut rng).unwrap();
        // A gate bias near 0 gives Δũ ≈ 0.5, so that steps are skipped as well as updated.
        model.gate_bias.set(&Tensor::new(&[-0.3f32], &Device::Cpu).unwrap()).unwrap();
        let values = random_inputs(&mut rng, batch, steps, input);
        let xs = Tensor::from_vec(values.clone(), (batch, steps, input), &Device::Cpu).unwrap();
        let (logits, updated) = model.forward(&xs).unwrap();
        let (logits, updated) = (logits.to_vec2::<f32>().unwrap(), updated.to_vec1::<f32>().unwrap());
        let ours = model.to_classifier("m").unwrap();
        let mut total_updates = 0;
        for b in 0..batch {
            let sequence = &values[b * steps * input..(b + 1) * steps * input];
            let mut state = SkipState::new(hidden);
            let mut scratch = GruScratch::new(hidden);
            let mut count = 0;
            for x in sequence.chunks_exact(input) {
                count += usize::from(ours.step(x, 0.5, &mut state, &mut scratch));
            }
            assert_eq!(count as f32, updated[b], "sequence {b}");
            let mut ours_logits = vec![0.0; 3];
            ours.base.logits_into(&state.h, &mut ours_logits);
            let worst = ours_logits.iter().zip(&logits[b]).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
            assert!(worst <= AUTODIFF_ATOL, "sequence {b}: logits differ by {worst}");
            total_updates += count;
        }
        assert!(total_updates > 0 && total_updates < batch * steps, "{total_updates} updates: the gate must skip some");
    }

    /// The straight-through estimator carries gradients to the gate: the budget term alone gives the
    /// gate's parameters non-zero gradients, and a few steps on it lower the number of updates.
    #[test]
    fn gradient_flows_through_the_straight_through_gate() {
        let mut rng = Pcg64::seed_from_u64(3);
        let (input, hidden, steps, batch) = (1, 8, 20, 8);
        let model = CandleSkipRnn::init(CellKind::Gru, input, hidden, 2, &mut rng).unwrap();
        let values = random_inputs(&mut rng, batch, steps, input);
        let xs = Tensor::from_vec(values, (batch, steps, input), &Device::Cpu).unwrap();
        let (_, updated) = model.forward(&xs).unwrap();
        let before = updated.mean_all().unwrap().to_scalar::<f32>().unwrap();
        let grads = updated.mean_all().unwrap().backward().unwrap();
        for var in [&model.gate_weight, &model.gate_bias] {
            let g = grads.get(var.as_tensor()).expect("gate parameter has a gradient");
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "zero gradient on a gate parameter");
        }
        let mut optimiser = AdamW::new(model.vars(), ParamsAdamW { lr: 0.05, ..ParamsAdamW::default() }).unwrap();
        for _ in 0..100 {
            let (_, updated) = model.forward(&xs).unwrap();
            optimiser.backward_step(&updated.mean_all().unwrap()).unwrap();
        }
        let (_, updated) = model.forward(&xs).unwrap();
        let after = updated.mean_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(after < 0.5 * before, "updates per sequence {before} -> {after}: the budget term must lower them");
    }

    #[test]
    fn grid_and_names() {
        assert_eq!(skip_model_name(64, 1e-3), "thr-64-1e-3");
        assert_eq!(skip_model_name(128, 2.5e-2), "thr-128-2.5e-2");
        assert_eq!(THR_GRID[5], TRAINING_THR);
        assert!(THR_GRID.windows(2).all(|w| w[0] < w[1]) && THR_GRID[THR_GRID.len() - 1] > 1.0);
    }

    /// The Skip-LSTM's autodiff forward (at thr 0.5) and the crate's inference agree on the flat state
    /// `[h; c]`, the logits and the number of updates, with a gate (reading `c`) that really skips.
    #[test]
    fn skip_lstm_autodiff_forward_matches_crate_inference() {
        let mut rng = Pcg64::seed_from_u64(12);
        let (input, hidden, steps, batch) = (2, 16, 30, 4);
        let model = CandleSkipRnn::init(CellKind::Lstm, input, hidden, 3, &mut rng).unwrap();
        model.gate_bias.set(&Tensor::new(&[0.0f32], &Device::Cpu).unwrap()).unwrap();
        let values = random_inputs(&mut rng, batch, steps, input);
        let xs = Tensor::from_vec(values.clone(), (batch, steps, input), &Device::Cpu).unwrap();
        let (logits, updated) = model.forward(&xs).unwrap();
        let (logits, updated) = (logits.to_vec2::<f32>().unwrap(), updated.to_vec1::<f32>().unwrap());
        let ours = model.to_classifier("m").unwrap();
        assert_eq!(ours.base.cell_kind(), CellKind::Lstm);
        let mut total_updates = 0;
        for b in 0..batch {
            let sequence = &values[b * steps * input..(b + 1) * steps * input];
            let mut state = ours.new_state();
            let mut scratch = GruScratch::new(hidden);
            let mut count = 0;
            for x in sequence.chunks_exact(input) {
                count += usize::from(ours.step(x, 0.5, &mut state, &mut scratch));
            }
            assert_eq!(count as f32, updated[b], "sequence {b}");
            let mut ours_logits = vec![0.0; 3];
            ours.base.logits_into(&state.h, &mut ours_logits);
            let worst = ours_logits.iter().zip(&logits[b]).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
            assert!(worst <= AUTODIFF_ATOL, "sequence {b}: logits differ by {worst}");
            total_updates += count;
        }
        assert!(total_updates > 0 && total_updates < batch * steps, "{total_updates} updates: the gate must skip some");
    }

    #[test]
    fn a_short_skip_lstm_run_learns_and_names_the_cell() {
        let (set, split) = super::super::toy_task(120, 8, 5);
        let config = SkipBankConfig {
            widths: vec![8],
            lambdas: vec![1e-3],
            base: TrainConfig {
                hidden: 0,
                epochs: 12,
                batch_size: 16,
                learning_rate: 0.02,
                clip_norm: 1.0,
                seed: 3,
                cell: CellKind::Lstm,
            },
            command: "test".into(),
        };
        let trained = train_skip_bank(&set, &split, &config, |_| {}).unwrap();
        assert_eq!(trained.models[0].name(), "thr-lstm-8-1e-3");
        assert_eq!(trained.card.cell, "lstm");
        let entry = &trained.card.models[0];
        assert_eq!(entry.flops_per_step, 1 + 8 * 8 * 9 + 21 * 8 + 2 * 8 + 2);
        assert!(entry.test_accuracy.unwrap() >= 0.8, "{entry:?}");
        let test = set.subset(&split.test);
        assert_eq!(evaluate_thr(&trained.models[0], &test, 0.0).update_share, 1.0);
        assert_eq!(evaluate_thr(&trained.models[0], &test, 1.01).update_share, 0.0);
    }
}
