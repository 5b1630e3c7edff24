//! Training a SkipW classifier ([`crate::rnn::skipw`]) with the autodiff of `candle`.
//!
//! Mayet et al., "SkipW: Resource adaptable RNN with strict upper computational limit" (ICLR 2021).
//! Forward pass, per window of `L` steps: `ũ = σ(W_skip [s; τ] + b_skip)` from the state at the
//! window's start (`h`, or `c` for an LSTM) and the time input `τ = t / T_s` (`t` the index of the
//! window's first step, `T_s` the padded length of the training sequences; see [`crate::rnn::skipw`]);
//! per step the binary selection `u_t` of the crate's inference rule ([`selected`]: top-`K` of `ũ`,
//! `ũ ≥ thr`, and the window's budget not spent — under the knobs in force *at that step*); then
//! `s ← u_t · cell(x_t, s) + (1 − u_t) · s` on the flat state `s` (`h`, or `[h; c]` for an LSTM).
//! The selection is not differentiable; the straight-through estimator passes the gradient of `u_t`
//! to `ũ` at that step's window position unchanged (`u = hard + (ũ_p − stopgrad(ũ_p))`, whose
//! forward value is exactly `hard`).
//!
//! **Knobs change inside training sequences.** So that one model serves every budget and every
//! change of budget, each training sequence gets its own knob schedule: `(K, thr)` drawn at its
//! first step, then redrawn at `c` distinct random steps (`c` uniform in `0..=knob_changes`, steps
//! anywhere, also inside a window, where the inference's mid-window rule applies). `K` is uniform in
//! `k_min..=k_max`; `thr` is 0 with probability `thr_zero_share` (every selected step read; this is
//! what keeps `K = L, thr = 0` — the plain cell — accurate) and otherwise uniform in
//! `[thr_min, thr_max]`. With `knob_changes = 0` and `thr_zero_share = 0` every sequence runs one
//! setting throughout.
//!
//! **Budget loss.** The paper's budget term `λ_paper Σ_t u_t` (Campos et al.'s, summed over the
//! steps of a sequence) is used as `λ · mean_b (Σ_t u_t / T)` = `λ_paper · Σ_t u_t` with
//! `λ_paper = λ / T`: the same gradient direction, a weight that does not depend on the sequence
//! length. Through the straight-through estimator it lowers the importance of every position a step
//! is taken at, so steps the task does not need fall below the thresholds. Loss: the task loss of
//! the readout of the final state (cross-entropy, or squared error for regression) plus the budget
//! term. Optimiser and epoch selection as [`super::train_classifier`]: AdamW with cosine decay to 5%,
//! weight decay 1e-4, gradient-norm clip; the epoch with the best validation score (mean quality over
//! `K = 1..=L` and the thresholds of [`validation_thresholds`], constant knobs, measured with the
//! crate's own inference) is kept.

use crate::train::{flat, uniform_var};
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{
    encode_tensors, skipw_tensors, Card, CardTraining, SkipWCard, SkipWCardKnobs, SkipWCardTrainingKnobs,
    SkipWGridPoint,
};
use crate::rnn::skipw::{selected, SkipWClassifier};
use crate::rnn::{CellKind, RnnClassifier, SkipWKnobs};

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
    /// Weight λ of the budget term `λ · (processed steps / steps)` (0: none).
    pub budget_lambda: f64,
    /// Most knob changes inside one training sequence (the number is uniform in `0..=knob_changes`).
    pub knob_changes: usize,
    /// Probability that a drawn training threshold is 0 (else uniform in `[thr_min, thr_max]`).
    pub thr_zero_share: f64,
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
    pub card: Card<SkipWCard>,
}

struct CandleSkipW {
    cell: CandleCell,
    window: usize,
    /// `T_s` of the time input.
    time_scale: f32,
    skip_weight: Var,
    skip_bias: Var,
    readout_weight: Var,
    readout_bias: Var,
}

impl CandleSkipW {
    /// PyTorch's initialisation (uniform ±1/√fan-in: `H` for the cell and the readout, `H + 1` for the
    /// gate over `[s; τ]`), drawn in the order cell, skip gate, readout.
    fn init(
        kind: CellKind,
        input: usize,
        hidden: usize,
        window: usize,
        classes: usize,
        time_scale: f32,
        rng: &mut Pcg64,
    ) -> candle_core::Result<Self> {
        let cell = CandleCell::init(kind, input, hidden, rng)?;
        let gate_bound = 1.0 / ((hidden + 1) as f32).sqrt();
        let skip_weight = uniform_var(rng, &[window, hidden + 1], gate_bound)?;
        let skip_bias = uniform_var(rng, &[window], gate_bound)?;
        let bound = 1.0 / (hidden as f32).sqrt();
        Ok(CandleSkipW {
            cell,
            window,
            time_scale,
            skip_weight,
            skip_bias,
            readout_weight: uniform_var(rng, &[classes, hidden], bound)?,
            readout_bias: uniform_var(rng, &[classes], bound)?,
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
    /// `[B, T]` for inputs `[B, T, I]` under constant budget `k` and threshold `thr` (straight-through
    /// selection, see the module doc).
    #[cfg(test)]
    fn final_state(&self, xs: &Tensor, k: usize, thr: f32) -> candle_core::Result<(Tensor, Tensor)> {
        let (state, selection) = self.final_flat_state(xs, k, thr)?;
        Ok((self.cell.h(&state)?, selection))
    }

    /// [`Self::final_state`] with the whole flat state (`[h; c]` for an LSTM).
    #[cfg(test)]
    fn final_flat_state(&self, xs: &Tensor, k: usize, thr: f32) -> candle_core::Result<(Tensor, Tensor)> {
        let (batch, steps, _) = xs.dims3()?;
        let schedules = vec![vec![SkipWKnobs { k, thr }; steps]; batch];
        self.scheduled_flat_state(xs, &schedules)
    }

    /// The final flat state `[B, S]` and the selection `[B, T]` for inputs `[B, T, I]` where row `b`
    /// runs step `t` under the knobs `schedules[b][t]` (the inference's rule, mid-window changes
    /// included).
    fn scheduled_flat_state(
        &self,
        xs: &Tensor,
        schedules: &[Vec<SkipWKnobs>],
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (batch, steps, _) = xs.dims3()?;
        let window = self.window;
        let cell = &self.cell;
        let gates_input = cell.input_gates(xs)?;
        let weight_hh_t = cell.weight_hh_t()?;
        let skip_weight_t = self.skip_weight.as_tensor().t()?;
        // The flat state: `h`, or `[h; c]` for an LSTM.
        let mut h = cell.zero_state(batch)?;
        let mut selection = Vec::with_capacity(steps);
        let mut window_importance = None;
        let mut values: Vec<Vec<f32>> = Vec::new();
        let mut processed = vec![0usize; batch];
        let mut hard = vec![0.0f32; batch];
        for step in 0..steps {
            let position = step % window;
            if position == 0 {
                let tau = Tensor::full(step as f32 / self.time_scale, (batch, 1), &Device::Cpu)?;
                let gate_input = Tensor::cat(&[cell.gate_state(&h)?, tau], 1)?;
                let importance = candle_nn::ops::sigmoid(
                    &gate_input.matmul(&skip_weight_t)?.broadcast_add(self.skip_bias.as_tensor())?,
                )?;
                values = importance.to_vec2::<f32>()?;
                processed.iter_mut().for_each(|p| *p = 0);
                window_importance = Some(importance);
            }
            for (b, o) in hard.iter_mut().enumerate() {
                let take = selected(&values[b], position, schedules[b][step], processed[b]);
                processed[b] += usize::from(take);
                *o = if take { 1.0 } else { 0.0 };
            }
            let at = window_importance.as_ref().expect("set at position 0").narrow(1, position, 1)?; // [B, 1]
            let hard_tensor = Tensor::from_slice(&hard, (batch, 1), &Device::Cpu)?;
            // Forward value exactly `hard` (x − x = 0); gradient that of the importance.
            let u = (hard_tensor + (&at - at.detach())?)?;
            let gi = &gates_input[step];
            let updated = cell.step(gi, &h, &weight_hh_t)?;
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
        Ok(SkipWClassifier::with_time_input(
            base,
            self.window,
            flat(&self.skip_weight)?,
            flat(&self.skip_bias)?,
            self.time_scale,
        )
        .expect("shapes of trained tensors match by construction"))
    }
}

/// Draws one training threshold: 0 with probability `thr_zero_share`, else uniform in
/// `[thr_min, thr_max]`.
fn draw_threshold(config: &SkipWTrainConfig, rng: &mut Pcg64) -> f32 {
    if config.thr_zero_share > 0.0 && rng.random_bool(config.thr_zero_share.min(1.0)) {
        0.0
    } else if config.thr_min < config.thr_max {
        rng.random_range(config.thr_min..=config.thr_max)
    } else {
        config.thr_min
    }
}

/// A training knob schedule of `steps` steps (module doc): `(K, thr)` drawn at step 0 and redrawn at
/// `c` distinct random steps of `1..steps`, `c` uniform in `0..=config.knob_changes`; `K` uniform in
/// `k_min..=k_max`, `thr` by `draw_threshold`.
pub fn knob_schedule(
    config: &SkipWTrainConfig,
    k_min: usize,
    k_max: usize,
    steps: usize,
    rng: &mut Pcg64,
) -> Vec<SkipWKnobs> {
    let draw = |rng: &mut Pcg64| SkipWKnobs { k: rng.random_range(k_min..=k_max), thr: draw_threshold(config, rng) };
    let changes = if config.knob_changes == 0 { 0 } else { rng.random_range(0..=config.knob_changes) };
    let points = crate::rnn::change_steps(steps, changes, rng);
    let mut current = draw(rng);
    let mut schedule = Vec::with_capacity(steps);
    let mut next = points.iter().peekable();
    for step in 0..steps {
        if next.peek() == Some(&&step) {
            next.next();
            current = draw(rng);
        }
        schedule.push(current);
    }
    schedule
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
    let time_scale = train.steps.max(1) as f32;
    let model = CandleSkipW::init(
        config.cell,
        train.features,
        config.hidden,
        config.window,
        readout_size(&train),
        time_scale,
        &mut rng,
    )?;
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
            let schedules: Vec<Vec<SkipWKnobs>> =
                chunk.iter().map(|_| knob_schedule(config, k_min, k_max, train.steps, &mut rng)).collect();
            let (xs, ys) = batch_tensor(&train, chunk)?;
            let (state, selection) = model.scheduled_flat_state(&xs, &schedules)?;
            let h = model.cell.h(&state)?;
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
    let part = SkipWCard {
        name,
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
            knob_changes: Some(config.knob_changes),
            thr_zero_share: Some(config.thr_zero_share),
            gate_time_scale: Some(time_scale),
            selection: format!(
                "mean validation {} over K = 1..=L and thr in {thresholds:?}",
                if set.is_regression() { "quality (−MSE)" } else { "accuracy" }
            ),
        },
    };
    let card = Card {
        task: set.name.clone(),
        cell: config.cell,
        layers: 1,
        input: set.features,
        classes: set.classes,
        family: part,
        training: Some(CardTraining {
            command: config.command.clone(),
            seed: config.seed,
            autodiff: "candle-core 0.11 / candle-nn 0.11 (CPU)".into(),
            optimiser: format!(
                "AdamW (lr {}, cosine decay to 5%, weight decay 1e-4), gradient-norm clip {}, {} on the last step + {} x processed share (the paper's budget loss λ Σ_t u_t with λ = {} / T); window gate on [state; t / {}]; straight-through selection by the inference rule; per sequence a knob schedule: K uniform in {}..={} and thr 0 with probability {} else uniform in [{}, {}], redrawn at 0..={} random steps; epoch with best validation score kept",
                config.learning_rate,
                config.clip_norm,
                super::loss_name(set),
                config.budget_lambda,
                config.budget_lambda,
                time_scale,
                k_min,
                k_max,
                config.thr_zero_share,
                config.thr_min,
                config.thr_max,
                config.knob_changes
            ),
            epochs: config.epochs,
            batch_size: config.batch_size,
            wall_time_s: started.elapsed().as_secs_f64(),
            split: split.clone(),
            thr_training: None,
        }),
        import: None,
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
        (format!("{}.safetensors", trained.card.family.name).into(), encode_tensors(&skipw_tensors(&trained.model))),
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
            let model = CandleSkipW::init(CellKind::Gru, input, hidden, window, 3, 7.0, &mut rng).unwrap();
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
        let model = CandleSkipW::init(CellKind::Gru, 1, 8, 4, 3, 12.0, &mut rng).unwrap();
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
        // The time column (last of [L, H + 1]) gets a gradient too: windows 1 and 2 have τ > 0.
        let time_column = g.narrow(1, 8, 1).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(time_column > 0.0);
    }

    fn schedule_config(knob_changes: usize, thr_zero_share: f64) -> SkipWTrainConfig {
        SkipWTrainConfig {
            cell: CellKind::Gru,
            hidden: 8,
            window: 4,
            k_min: 1,
            k_max: 4,
            thr_min: 0.2,
            thr_max: 0.8,
            budget_lambda: 0.05,
            knob_changes,
            thr_zero_share,
            epochs: 1,
            batch_size: 4,
            learning_rate: 0.01,
            clip_norm: 1.0,
            seed: 1,
            command: "test".into(),
        }
    }

    #[test]
    fn knob_schedules_change_inside_sequences_within_the_ranges() {
        let mut rng = Pcg64::seed_from_u64(5);
        let config = schedule_config(3, 0.25);
        let (mut changed, mut zero, mut mid_window, mut draws) = (0, 0, 0, 0);
        for _ in 0..400 {
            let schedule = knob_schedule(&config, 1, 4, 20, &mut rng);
            assert_eq!(schedule.len(), 20);
            let changes: Vec<usize> = (1..20).filter(|&t| schedule[t] != schedule[t - 1]).collect();
            assert!(changes.len() <= 3, "{schedule:?}");
            changed += usize::from(!changes.is_empty());
            mid_window += changes.iter().filter(|&&t| t % 4 != 0).count();
            for knobs in &schedule {
                assert!((1..=4).contains(&knobs.k));
                assert!(knobs.thr == 0.0 || (0.2..=0.8).contains(&knobs.thr), "{knobs:?}");
                zero += usize::from(knobs.thr == 0.0);
                draws += 1;
            }
        }
        assert!(changed > 250, "most sequences change their knobs: {changed} of 400");
        assert!(mid_window > 100, "changes also fall inside windows: {mid_window}");
        let zero_share = zero as f64 / draws as f64;
        assert!((0.15..0.35).contains(&zero_share), "thr = 0 about a quarter of the time: {zero_share}");
        // No changes and no zero share: one setting throughout, thr in the range.
        let constant = knob_schedule(&schedule_config(0, 0.0), 1, 4, 20, &mut rng);
        assert!(constant.iter().all(|k| *k == constant[0]) && constant[0].thr >= 0.2);
    }

    #[test]
    fn training_forward_matches_inference_under_knob_changes() {
        let mut rng = Pcg64::seed_from_u64(6);
        let config = schedule_config(4, 0.25);
        let (mut checked_mid_window, mut processed) = (0, 0);
        for (cell, input, hidden, window) in [(CellKind::Gru, 1, 16, 4), (CellKind::Lstm, 2, 8, 5)] {
            let steps = 3 * window + 2;
            let model = CandleSkipW::init(cell, input, hidden, window, 3, steps as f32, &mut rng).unwrap();
            let values: Vec<f32> = (0..4 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (4, steps, input), &Device::Cpu).unwrap();
            let schedules: Vec<Vec<SkipWKnobs>> =
                (0..4).map(|_| knob_schedule(&config, 0, window, steps, &mut rng)).collect();
            let (state, u) = model.scheduled_flat_state(&xs, &schedules).unwrap();
            let (state, u) = (state.to_vec2::<f32>().unwrap(), u.to_vec2::<f32>().unwrap());
            let ours = model.to_model("m").unwrap();
            for b in 0..4 {
                let mut s = ours.new_state();
                let mut scratch = CellScratch::new(hidden);
                for (t, x) in values[b * steps * input..(b + 1) * steps * input].chunks_exact(input).enumerate() {
                    let step = ours.step(x, schedules[b][t], &mut s, &mut scratch);
                    assert_eq!(step.processed, u[b][t] == 1.0, "{cell:?} row {b} step {t}");
                    processed += usize::from(step.processed);
                    if t % window != 0 && t > 0 && schedules[b][t] != schedules[b][t - 1] {
                        checked_mid_window += 1;
                    }
                }
                let worst = s.h.iter().zip(&state[b]).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "{cell:?} row {b}: max abs diff {worst}");
            }
        }
        assert!(processed > 20 && checked_mid_window > 0, "{processed} {checked_mid_window}");
    }

    #[test]
    fn lstm_crate_inference_matches_autodiff_forward_on_same_weights() {
        let mut rng = Pcg64::seed_from_u64(4);
        for (input, hidden, window, k) in [(1, 16, 4, 2), (2, 8, 8, 3)] {
            let model = CandleSkipW::init(CellKind::Lstm, input, hidden, window, 3, 7.0, &mut rng).unwrap();
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
            knob_changes: 2,
            thr_zero_share: 0.25,
            epochs: 12,
            batch_size: 16,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed: 2,
            command: "test".into(),
        };
        let trained = train_skipw(&set, &split, &config, |_| {}).unwrap();
        assert_eq!((trained.card.family.name.as_str(), trained.card.cell), ("skipw-lstm-8-l4", CellKind::Lstm));
        assert_eq!(trained.card.family.flops_per_processed_step, 8 * 8 * 9 + 21 * 8);
        assert!(
            trained.card.family.test_accuracy_all_steps.unwrap() >= 0.8,
            "{:?}",
            trained.card.family.test_accuracy_all_steps
        );
        let at_k2 = trained.card.family.grid.iter().find(|p| p.k == 2 && p.thr == 0.5).unwrap();
        assert!(at_k2.test_accuracy.unwrap() >= 0.8 && at_k2.mean_processed_steps <= 4.0, "{at_k2:?}");
    }
}
