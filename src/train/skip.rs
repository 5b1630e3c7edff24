//! Training Skip-GRUs and Skip-LSTMs (the ThrRNN family, [`crate::rnn::skip`]) with candle autodiff.
//!
//! The network of Campos et al., "Skip RNN", ICLR 2018, §3, trained over the whole range of the
//! run-time threshold `thr` (the SkipW paper, Mayet et al., ICLR 2021, sweeps ThrRNN over
//! `thr` ∈ [0.5, 1]):
//! - forward, per step `t` of a mini-batch (`[B, 1]` gate quantities, `[B, H]` states), with a
//!   threshold `thr_{b,t}` per sequence and step ([`draw_thr_schedule`]):
//!   `u_t = (ũ_t ≥ thr_t)`, `s_t = s_{t−1} + u_t (cell(s_{t−1}, x_t) − s_{t−1})`
//!   (for an LSTM `s = [h; c]`, both carried),
//!   `Δũ_t = Δũ_{t−1} + u_t (σ(w_p · s_t + b_p) − Δũ_{t−1})` (the gate reads `h`, or `c` for an LSTM),
//!   `ũ_{t+1} = a_t + u_t (Δũ_t − a_t)` with `a_t = min(ũ_t + Δũ_t, 1)`; `ũ_1 = Δũ_0 = 1`, `s_0 = 0` —
//!   the same recurrence as the inference code, written with differences;
//! - backward: the straight-through estimator `u_t = ũ_t + ((ũ_t ≥ thr_t) − ũ_t).detach()`, so
//!   `∂u/∂ũ = 1` (Bengio et al. 2013, as in Campos' `STEFunction`);
//! - `thr` per training sequence ([`ThrTraining`]): 0 (read every step) with probability
//!   `zero_share`, otherwise uniform in `[lo, hi]`; redrawn at `0..=changes` random steps inside the
//!   sequence. `--thr-range 0.5,0.5 --thr-zero-share 0 --thr-changes 0` is the old training at
//!   `thr = 0.5` (`round(ũ)`), byte for byte;
//! - loss = task loss of the readout of `s_T` + `λ · mean over the batch of Σ_t u_t` (the budget
//!   term, Campos eq. 6 with `L_budget = λ Σ u_t`).
//!
//! The gate bias starts at 1 (Campos' `update_bias`), so that early training updates at most steps.
//! AdamW, cosine learning-rate decay, gradient clipping and seeds are those of [`super::train_classifier`].
//!
//! **Epoch selection** (validation split only): the epoch kept is the one with the best mean
//! validation quality (accuracy, or −MSE) over the selection thresholds ([`selection_thresholds`]:
//! the range in steps of 0.1, plus 0 when it is drawn; ties: fewer updates, then the earlier epoch),
//! so that the whole trade-off curve counts, not one threshold.
//!
//! **Same-size banks** ([`train_skip_bank`]): for one width, λ sorted ascending, the second and later
//! models start from the kept weights of the one with the next smaller λ (the SkipW authors'
//! curriculum; `lambda_curriculum`). Then, with `switch_epochs > 0` and two or more models of the
//! width, they are fine-tuned together with switches inside sequences: each batch runs every
//! sequence under a random member schedule (`1..=switch_changes` switches at random steps, in any
//! direction) with the Skip state `(s, ũ, Δũ)` passed as it is — what the simulator does between
//! same-size Skip models ([`crate::rnn::flex`]) — and under a thr schedule as above; loss = task loss
//! of the mixed run (readout of the member used at the last step) + Σ_members (task loss of the member
//! alone + λ_member · mean Σ_t u_t), all weights 1. Learning rate 0.2 × `--learning-rate`, cosine
//! decay. The fine-tune epoch kept (0 = before it) maximises, on validation only,
//! `½ · mean over members of the selection-threshold mean + ½ · quality of fixed seeded mixed runs`.
//! Accuracies and update shares are measured with the crate's own inference.

use crate::train::{flat, uniform_var};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{BankCard, BankFamily, Card, CardModel, CardThrTraining, CardTraining, KnobPoint, FAMILY_THR};
use crate::rnn::{CellKind, CellScratch, SkipGruClassifier};

use super::{
    batch_tensor, clip_gradients, readout_size, task_loss, CandleClassifier, Score, Scorer, TrainConfig, TrainError,
};

/// The headline threshold: the card's `test_accuracy` / `test_mse` of each model is measured at it
/// (the old training threshold, `round(ũ)`).
pub const TRAINING_THR: f64 = 0.5;

/// Number of points of [`THR_GRID`].
pub const THR_GRID_LEN: usize = 22;

/// The thresholds at which the card records test accuracy and update share: 0, 0.05, …, 1.0 (steps of
/// 0.05) and 1.01 (above 1: no update at all).
pub const THR_GRID: [f64; THR_GRID_LEN] = [
    0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0,
    1.01,
];

/// Initial gate bias `b_p` (Campos' `update_bias`): `σ(1) ≈ 0.73`.
const INITIAL_GATE_BIAS: f32 = 1.0;

/// The switch fine-tune's learning rate relative to [`TrainConfig::learning_rate`].
pub const SWITCH_LEARNING_RATE_FACTOR: f64 = 0.2;

/// How `thr` is drawn in training and how a same-size bank is trained (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct ThrTraining {
    /// `[lo, hi]`, `0 ≤ lo ≤ hi ≤ 1`: a drawn `thr` (other than 0) is uniform in it.
    pub range: [f32; 2],
    /// Probability in `[0, 1]` that a drawn `thr` is 0 (read every step).
    pub zero_share: f64,
    /// Most redraws of `thr` inside one sequence (the number is uniform in `0..=changes`).
    pub changes: usize,
    /// Thresholds whose mean validation quality selects the epoch; empty: [`selection_thresholds`].
    pub select: Vec<f64>,
    /// Start the second and later models of a width from the one with the next smaller λ.
    pub lambda_curriculum: bool,
    /// Epochs of the switch fine-tune of each width's models (0: none; needs two or more λ).
    pub switch_epochs: usize,
    /// Most switches between members in one fine-tune sequence (the number is uniform in `1..=`).
    pub switch_changes: usize,
}

impl Default for ThrTraining {
    /// The recommended recipe: `thr` in `[0.5, 1]`, 0 with probability 0.1, up to 2 changes per
    /// sequence, λ curriculum on, no switch fine-tune (`--switch-epochs` turns it on), up to 3 switches.
    fn default() -> ThrTraining {
        ThrTraining {
            range: [0.5, 1.0],
            zero_share: 0.1,
            changes: 2,
            select: Vec::new(),
            lambda_curriculum: true,
            switch_epochs: 0,
            switch_changes: 3,
        }
    }
}

impl ThrTraining {
    /// The old recipe: `thr = 0.5` only, no curriculum, no fine-tune (cards from before this recipe).
    pub fn fixed_half() -> ThrTraining {
        ThrTraining {
            range: [0.5, 0.5],
            zero_share: 0.0,
            changes: 0,
            select: Vec::new(),
            lambda_curriculum: false,
            switch_epochs: 0,
            switch_changes: 3,
        }
    }

    /// `Err(what is wrong, naming the `flexrnn train` flag)` unless `0 ≤ lo ≤ hi ≤ 1`, `zero_share`
    /// in `[0, 1]`, every selection threshold in `[0, MAX_SELECT_THR]` and `switch_changes ≥ 1`.
    pub fn check(&self) -> Result<(), String> {
        let [lo, hi] = self.range;
        if !(0.0..=1.0).contains(&lo) || !(0.0..=1.0).contains(&hi) || lo > hi {
            return Err(format!("--thr-range {lo},{hi}: need 0 ≤ LO ≤ HI ≤ 1"));
        }
        if !(0.0..=1.0).contains(&self.zero_share) {
            return Err(format!("--thr-zero-share {}: need a probability in [0, 1]", self.zero_share));
        }
        if let Some(t) = self.select.iter().find(|t| !(0.0..=MAX_SELECT_THR).contains(*t)) {
            return Err(format!(
                "--thr-select {t}: each threshold must be a number in [0, {MAX_SELECT_THR}] (1.01 reads nothing)"
            ));
        }
        if self.switch_changes == 0 {
            return Err("--switch-max-changes 0: need at least 1".into());
        }
        Ok(())
    }
}

/// Largest threshold `--thr-select` may give: 1.01, the grid's \"read nothing\" value (ũ ≤ 1).
pub const MAX_SELECT_THR: f64 = 1.01;

/// The thresholds whose mean validation quality selects the kept epoch: `training.select` if given,
/// otherwise the points of [`THR_GRID`] in `[lo, hi]` on a 0.1 step (`[lo]` if there is none), plus 0
/// first when `zero_share > 0`. For the default `[0.5, 1]`: 0, 0.5, 0.6, …, 1.0.
pub fn selection_thresholds(training: &ThrTraining) -> Vec<f64> {
    if !training.select.is_empty() {
        return training.select.clone();
    }
    let [lo, hi] = training.range.map(f64::from);
    let mut out: Vec<f64> = THR_GRID
        .iter()
        .copied()
        .filter(|&t| t >= lo - 1e-6 && t <= hi + 1e-6 && ((t * 10.0).round() - t * 10.0).abs() < 1e-9)
        .collect();
    if out.is_empty() {
        out.push(lo);
    }
    if training.zero_share > 0.0 && out[0] != 0.0 {
        out.insert(0, 0.0);
    }
    out
}

/// One drawn threshold: 0 with probability `zero_share`, otherwise uniform in `[lo, hi]`. Draws
/// nothing from `rng` for the fixed recipe (`zero_share` 0 and `lo == hi`).
fn draw_thr(rng: &mut Pcg64, training: &ThrTraining) -> f32 {
    let [lo, hi] = training.range;
    if training.zero_share > 0.0 && rng.random_bool(training.zero_share) {
        0.0
    } else if lo < hi {
        rng.random_range(lo..=hi)
    } else {
        lo
    }
}

/// `count` distinct steps in `1..steps`, ascending (fewer if the sequence is too short).
fn change_steps(rng: &mut Pcg64, steps: usize, count: usize) -> Vec<usize> {
    if steps < 2 || count == 0 {
        return Vec::new();
    }
    let mut picked = rand::seq::index::sample(rng, steps - 1, count.min(steps - 1)).into_vec();
    picked.iter_mut().for_each(|s| *s += 1);
    picked.sort_unstable();
    picked
}

/// The training thresholds of a batch: `batch × steps` values, row-major (`[b · steps + t]` is the
/// threshold of sequence `b` at step `t`). Per sequence a threshold is drawn ([`ThrTraining`]) and
/// redrawn at `0..=changes` (uniform) distinct random steps. Deterministic in `rng`.
pub fn draw_thr_schedule(rng: &mut Pcg64, batch: usize, steps: usize, training: &ThrTraining) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch * steps);
    for _ in 0..batch {
        let mut thr = draw_thr(rng, training);
        let changes = if training.changes > 0 { rng.random_range(0..=training.changes) } else { 0 };
        let at = change_steps(rng, steps, changes);
        let mut next = at.iter().peekable();
        for t in 0..steps {
            if next.peek().is_some_and(|&&s| s == t) {
                next.next();
                thr = draw_thr(rng, training);
            }
            out.push(thr);
        }
    }
    out
}

/// Member schedules for a switch fine-tune: `batch × steps` member indices in `0..members`, row-major.
/// Per sequence the first member is uniform, then `1..=max_changes` (uniform) switches at distinct
/// random steps, each to a different member (uniform among the others). With one member: all 0.
pub fn draw_member_schedule(
    rng: &mut Pcg64,
    batch: usize,
    steps: usize,
    members: usize,
    max_changes: usize,
) -> Vec<usize> {
    let mut out = Vec::with_capacity(batch * steps);
    for _ in 0..batch {
        if members < 2 {
            out.extend(std::iter::repeat_n(0, steps));
            continue;
        }
        let mut member = rng.random_range(0..members);
        let changes = rng.random_range(1..=max_changes.max(1));
        let at = change_steps(rng, steps, changes);
        let mut next = at.iter().peekable();
        for t in 0..steps {
            if next.peek().is_some_and(|&&s| s == t) {
                next.next();
                let other = rng.random_range(0..members - 1);
                member = if other >= member { other + 1 } else { other };
            }
            out.push(member);
        }
    }
    out
}

/// What [`train_skip_classifier`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipTrainReport {
    /// Validation score (accuracy or MSE) of the kept weights at `thr = 0.5`.
    pub validation: Score,
    /// Validation share of updated steps of the kept weights at `thr = 0.5`.
    pub validation_update_share: f64,
    /// Mean validation quality (accuracy, or −MSE) of the kept weights over the selection thresholds.
    pub validation_curve: f64,
    /// 1-based epoch of the kept weights.
    pub best_epoch: usize,
    /// Mean training loss (task loss + budget term) per epoch.
    pub epoch_losses: Vec<f64>,
}

/// Measured per epoch by [`train_skip_classifier`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (task loss + budget term).
    pub loss: f64,
    /// Mean training share of updated steps (`Σ_t u_t / T` in the forward pass, under the drawn thr).
    pub train_update_share: f64,
    /// Validation score (accuracy or MSE) at `thr = 0.5`.
    pub validation: Score,
    /// Validation share of updated steps at `thr = 0.5`.
    pub validation_update_share: f64,
    /// Mean validation quality (accuracy, or −MSE) over the selection thresholds: the criterion.
    pub validation_curve: f64,
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

    /// Copies of every parameter's values, in [`Self::vars`] order.
    fn snapshot(&self) -> candle_core::Result<Vec<Tensor>> {
        self.vars().iter().map(|v| v.as_tensor().copy()).collect()
    }

    /// Sets every parameter to the values of a [`Self::snapshot`] of a model of the same shape.
    fn restore(&self, values: &[Tensor]) -> candle_core::Result<()> {
        for (var, value) in self.vars().iter().zip(values) {
            var.set(value)?;
        }
        Ok(())
    }

    /// Logits `[B, C]` and the number of updated steps per sequence `Σ_t u_t` `[B]` (straight-through:
    /// its gradient flows into `ũ`) for inputs `[B, T, I]` under thresholds `thr` `[B, T]`.
    fn forward(&self, xs: &Tensor, thr: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        forward_members(&[self], xs, thr, &[])
    }

    fn to_classifier(&self, name: &str) -> candle_core::Result<SkipGruClassifier> {
        let gru = self.base.to_classifier(name)?;
        let gate_weight = flat(&self.gate_weight)?;
        let gate_bias = self.gate_bias.as_tensor().to_vec1::<f32>()?[0];
        Ok(SkipGruClassifier::new(gru, gate_weight, gate_bias))
    }
}

/// Σ_i mask_i ⊙ value_i, or the only value when there is one member.
fn select_members(values: Vec<Tensor>, masks: &[Tensor]) -> candle_core::Result<Tensor> {
    if masks.is_empty() {
        return Ok(values.into_iter().next().expect("one member"));
    }
    let mut sum: Option<Tensor> = None;
    for (value, mask) in values.into_iter().zip(masks) {
        let part = value.broadcast_mul(mask)?;
        sum = Some(match sum {
            None => part,
            Some(acc) => (acc + part)?,
        });
    }
    Ok(sum.expect("at least one member"))
}

/// The Skip recurrence of one or several same-size members sharing one state `(s, ũ, Δũ)`: at step
/// `t` of row `b` the member with `masks[m][b, t] = 1` computes the candidate and the gate (one-hot
/// masks `[B, T]`, one per member; empty for a single member). Returns the logits `[B, C]` of the
/// member used at the last step and `Σ_t u_t` `[B]`.
fn forward_members(
    members: &[&CandleSkipRnn],
    xs: &Tensor,
    thr: &Tensor,
    masks: &[Tensor],
) -> candle_core::Result<(Tensor, Tensor)> {
    let (batch, steps, _) = xs.dims3()?;
    let mut prepared = Vec::with_capacity(members.len());
    for m in members {
        prepared.push((m.base.cell.input_gates(xs)?, m.base.cell.weight_hh_t()?, m.gate_weight.as_tensor().t()?));
    }
    // The flat state: `h`, or `[h; c]` for an LSTM.
    let mut h = members[0].base.cell.zero_state(batch)?;
    let mut u_tilde = Tensor::ones((batch, 1), DType::F32, &Device::Cpu)?;
    let mut delta_u = Tensor::ones((batch, 1), DType::F32, &Device::Cpu)?;
    let mut updates = Vec::with_capacity(steps);
    let mut step_masks: Vec<Tensor> = Vec::new();
    for step in 0..steps {
        let thr_t = thr.narrow(1, step, 1)?;
        let hard = u_tilde.ge(&thr_t)?.to_dtype(DType::F32)?;
        let u = (&u_tilde + (hard - &u_tilde)?.detach())?;
        step_masks = masks.iter().map(|m| m.narrow(1, step, 1)).collect::<candle_core::Result<_>>()?;
        let mut candidates = Vec::with_capacity(members.len());
        for (m, (gates_input, weight_hh_t, _)) in members.iter().zip(&prepared) {
            candidates.push(m.base.cell.step(&gates_input[step], &h, weight_hh_t)?);
        }
        let candidate = select_members(candidates, &step_masks)?;
        h = (&h + (candidate - &h)?.broadcast_mul(&u)?)?;
        let mut deltas = Vec::with_capacity(members.len());
        for (m, (_, _, gate_weight_t)) in members.iter().zip(&prepared) {
            deltas.push(candle_nn::ops::sigmoid(
                &m.base.cell.gate_state(&h)?.matmul(gate_weight_t)?.broadcast_add(m.gate_bias.as_tensor())?,
            )?);
        }
        let new_delta = select_members(deltas, &step_masks)?;
        delta_u = (&delta_u + (u.clone() * (new_delta - &delta_u)?)?)?;
        let accumulated = (&u_tilde + &delta_u)?.minimum(1f32)?;
        u_tilde = (&accumulated + (u.clone() * (&delta_u - &accumulated)?)?)?;
        updates.push(u);
    }
    let updated_steps = Tensor::cat(&updates, 1)?.sum(1)?;
    let mut outputs = Vec::with_capacity(members.len());
    for m in members {
        outputs.push(m.base.readout(&m.base.cell.h(&h)?)?);
    }
    Ok((select_members(outputs, &step_masks)?, updated_steps))
}

/// The thresholds `[B, T]` of a drawn schedule.
fn thr_tensor(values: Vec<f32>, batch: usize, steps: usize) -> candle_core::Result<Tensor> {
    Tensor::from_vec(values, (batch, steps), &Device::Cpu)
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

/// Mean quality (accuracy, or −MSE) and mean update share of `model` on `set` over `thresholds`.
fn evaluate_curve(model: &SkipGruClassifier, set: &SequenceSet, thresholds: &[f64]) -> (f64, f64) {
    let (mut quality, mut share) = (0.0, 0.0);
    for &thr in thresholds {
        let e = evaluate_thr(model, set, thr as f32);
        quality += e.score.quality();
        share += e.update_share;
    }
    let n = thresholds.len().max(1) as f64;
    (quality / n, share / n)
}

/// Score of same-size Skip models run with switches on `set`: sequence `i` at step `t` uses model
/// `members[i · set.steps + t]` under threshold `thr[i · set.steps + t]`, the state `(s, ũ, Δũ)`
/// passed as it is (as the simulator does); the readout is that of the model used at the last step.
pub fn evaluate_switched(models: &[SkipGruClassifier], set: &SequenceSet, members: &[usize], thr: &[f32]) -> Score {
    let mut scorer = Scorer::new(set);
    let first = &models[0];
    let mut state = first.new_state();
    let mut scratch = CellScratch::new(first.hidden_size());
    let mut outputs = vec![0.0f32; first.classes().max(1)];
    for i in 0..set.len() {
        state.reset();
        let mut last = members[i * set.steps];
        for (t, x) in set.unpadded(i).chunks_exact(first.input_size()).enumerate() {
            last = members[i * set.steps + t];
            models[last].step(x, thr[i * set.steps + t], &mut state, &mut scratch);
        }
        models[last].base.logits_into(&state.h, &mut outputs);
        scorer.add(i, &outputs);
    }
    scorer.score()
}

/// Trains one Skip-GRU with budget weight `lambda` and thresholds drawn by `thr_training` (see the
/// module doc), starting from `start` (a snapshot of a model of the same shape, for the λ curriculum)
/// or from the seeded initialisation. `on_epoch` is called after each epoch. The initial weights and
/// batch order depend on `config.seed` and `config.hidden` only (the thresholds are drawn from a
/// separate generator of the same seed), so models of one width trained with different `lambda` see
/// the same batches.
///
/// # Errors
/// [`TrainError::Autodiff`] if the autodiff library fails, [`TrainError::Diverged`] on a non-finite loss.
pub fn train_skip_classifier(
    name: &str,
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &TrainConfig,
    lambda: f64,
    thr_training: &ThrTraining,
    on_epoch: impl FnMut(SkipEpoch),
) -> Result<(SkipGruClassifier, SkipTrainReport), TrainError> {
    train_skip_candle(name, train, validation, config, lambda, thr_training, None, on_epoch)
        .map(|(model, report, _)| (model, report))
}

/// [`train_skip_classifier`] that may start from a snapshot and also returns the kept weights' snapshot.
#[allow(clippy::too_many_arguments)]
fn train_skip_candle(
    name: &str,
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &TrainConfig,
    lambda: f64,
    thr_training: &ThrTraining,
    start: Option<&[Tensor]>,
    mut on_epoch: impl FnMut(SkipEpoch),
) -> Result<(SkipGruClassifier, SkipTrainReport, Vec<Tensor>), TrainError> {
    let mut rng = Pcg64::seed_from_u64(config.seed ^ (config.hidden as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut thr_rng = Pcg64::seed_from_u64(config.seed ^ 0x7468_7273_6368_6564 ^ (config.hidden as u64));
    let model = CandleSkipRnn::init(config.cell, train.features, config.hidden, readout_size(train), &mut rng)?;
    if let Some(values) = start {
        model.restore(values)?;
    }
    let select = selection_thresholds(thr_training);
    let params = ParamsAdamW { lr: config.learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(model.vars(), params.clone())?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let initial = model.to_classifier(name)?;
    // (classifier, criterion, update share over the selection thresholds, at thr 0.5, epoch, snapshot)
    let mut best: (SkipGruClassifier, f64, f64, ThrEvaluation, usize, Vec<Tensor>) = (
        initial,
        f64::NEG_INFINITY,
        1.0,
        ThrEvaluation { score: Score::Accuracy(f64::NEG_INFINITY), update_share: 1.0, mean_flops_per_step: 0.0 },
        0,
        model.snapshot()?,
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
            let thr = thr_tensor(
                draw_thr_schedule(&mut thr_rng, chunk.len(), train.steps, thr_training),
                chunk.len(),
                train.steps,
            )?;
            let (logits, updated_steps) = model.forward(&xs, &thr)?;
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
        let at_half = evaluate_thr(&candidate, validation, TRAINING_THR as f32);
        let (curve, curve_share) = evaluate_curve(&candidate, validation, &select);
        on_epoch(SkipEpoch {
            epoch,
            loss,
            train_update_share: updated_sum / (train.len() * train.steps).max(1) as f64,
            validation: at_half.score,
            validation_update_share: at_half.update_share,
            validation_curve: curve,
        });
        let better = curve > best.1 || (curve == best.1 && curve_share < best.2);
        if better {
            best = (candidate, curve, curve_share, at_half, epoch, model.snapshot()?);
        }
    }
    let (classifier, curve, _, at_half, best_epoch, snapshot) = best;
    Ok((
        classifier,
        SkipTrainReport {
            validation: at_half.score,
            validation_update_share: at_half.update_share,
            validation_curve: curve,
            best_epoch,
            epoch_losses,
        },
        snapshot,
    ))
}

/// Measured per epoch of a switch fine-tune (`fine_tune_with_switches`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwitchEpoch {
    /// 1-based fine-tune epoch.
    pub epoch: usize,
    /// Mean training loss (mixed run + each member alone + budget terms).
    pub loss: f64,
    /// Validation quality (accuracy, or −MSE) of the fixed seeded mixed runs.
    pub validation_mixed: f64,
    /// The selection criterion (see the module doc).
    pub criterion: f64,
}

/// What `fine_tune_with_switches` returns.
pub struct SwitchFineTune {
    /// The members after the fine-tune, in input order (the kept epoch's weights).
    pub models: Vec<SkipGruClassifier>,
    /// The fine-tune epoch kept (0: the weights before it).
    pub best_epoch: usize,
    /// Validation quality of the fixed seeded mixed runs before the fine-tune.
    pub mixed_before: f64,
    /// The same for the kept weights.
    pub mixed_after: f64,
}

/// Fine-tunes same-size Skip models (snapshots `starts`, names `names`, budget weights `lambdas`)
/// together with switches between them inside sequences (see the module doc for the loss and the
/// selection). Epochs: `thr_training.switch_epochs`.
///
/// # Errors
/// As [`train_skip_classifier`].
#[allow(clippy::too_many_arguments)]
fn fine_tune_with_switches(
    names: &[String],
    starts: &[Vec<Tensor>],
    lambdas: &[f64],
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &TrainConfig,
    thr_training: &ThrTraining,
    mut on_epoch: impl FnMut(SwitchEpoch),
) -> Result<SwitchFineTune, TrainError> {
    let mut rng = Pcg64::seed_from_u64(config.seed ^ 0x7377_6974_6368 ^ (config.hidden as u64));
    let mut init_rng = Pcg64::seed_from_u64(0);
    let mut members = Vec::with_capacity(starts.len());
    for start in starts {
        let m = CandleSkipRnn::init(config.cell, train.features, config.hidden, readout_size(train), &mut init_rng)?;
        m.restore(start)?;
        members.push(m);
    }
    let select = selection_thresholds(thr_training);
    // Fixed validation schedules (seeded), the same at every epoch.
    let mut validation_rng = Pcg64::seed_from_u64(config.seed ^ 0x7661_6c69_6461);
    let validation_members = draw_member_schedule(
        &mut validation_rng,
        validation.len(),
        validation.steps,
        members.len(),
        thr_training.switch_changes,
    );
    let validation_thr = draw_thr_schedule(&mut validation_rng, validation.len(), validation.steps, thr_training);
    let measure = |members: &[CandleSkipRnn]| -> Result<(Vec<SkipGruClassifier>, f64, f64), TrainError> {
        let models: Vec<SkipGruClassifier> =
            members.iter().zip(names).map(|(m, n)| m.to_classifier(n)).collect::<candle_core::Result<_>>()?;
        let mixed = evaluate_switched(&models, validation, &validation_members, &validation_thr).quality();
        let alone = models.iter().map(|m| evaluate_curve(m, validation, &select).0).sum::<f64>() / models.len() as f64;
        Ok((models, mixed, 0.5 * alone + 0.5 * mixed))
    };
    let (models, mixed_before, criterion) = measure(&members)?;
    let mut best = (models, criterion, 0usize, mixed_before);
    let all_vars: Vec<Var> = members.iter().flat_map(|m| m.vars()).collect();
    let base_lr = config.learning_rate * SWITCH_LEARNING_RATE_FACTOR;
    let params = ParamsAdamW { lr: base_lr, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(all_vars.clone(), params.clone())?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let refs: Vec<&CandleSkipRnn> = members.iter().collect();
    let epochs = thr_training.switch_epochs;
    for epoch in 1..=epochs {
        let progress = (epoch - 1) as f64 / epochs.max(1) as f64;
        let lr = base_lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        optimiser.set_params(ParamsAdamW { lr, ..params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let (b, steps) = (chunk.len(), train.steps);
            let (xs, ys) = batch_tensor(train, chunk)?;
            let thr = thr_tensor(draw_thr_schedule(&mut rng, b, steps, thr_training), b, steps)?;
            let schedule = draw_member_schedule(&mut rng, b, steps, members.len(), thr_training.switch_changes);
            let masks: Vec<Tensor> = (0..members.len())
                .map(|m| {
                    let values: Vec<f32> = schedule.iter().map(|&s| f32::from(u8::from(s == m))).collect();
                    Tensor::from_vec(values, (b, steps), &Device::Cpu)
                })
                .collect::<candle_core::Result<_>>()?;
            let (mixed_logits, _) = forward_members(&refs, &xs, &thr, &masks)?;
            let mut loss = task_loss(&mixed_logits, &ys)?;
            for (m, &lambda) in members.iter().zip(lambdas) {
                let (logits, updated_steps) = m.forward(&xs, &thr)?;
                loss = ((loss + task_loss(&logits, &ys)?)? + (updated_steps.mean_all()? * lambda)?)?;
            }
            let mut grads = loss.backward()?;
            clip_gradients(&all_vars, &mut grads, config.clip_norm)?;
            optimiser.step(&grads)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::FineTuneDiverged {
                phase: "the same-size Skip-RNNs",
                epoch,
                loss,
                flags: "--learning-rate (the fine-tune runs at a fixed fraction of it) or --clip-norm",
            });
        }
        let (models, mixed, criterion) = measure(&members)?;
        on_epoch(SwitchEpoch { epoch, loss, validation_mixed: mixed, criterion });
        if criterion > best.1 {
            best = (models, criterion, epoch, mixed);
        }
    }
    let (models, _, best_epoch, mixed_after) = best;
    Ok(SwitchFineTune { models, best_epoch, mixed_before, mixed_after })
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
    /// How `thr` is drawn, the λ curriculum and the switch fine-tune.
    pub thr: ThrTraining,
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
    /// An epoch of the switch fine-tune of the models of width `hidden` finished.
    SwitchEpoch {
        /// Width.
        hidden: usize,
        /// What was measured.
        epoch: SwitchEpoch,
    },
    /// A model is done.
    ModelDone {
        /// Model name.
        name: String,
        /// Test-split results at every threshold of [`THR_GRID`].
        grid: Vec<KnobPoint>,
        /// Training wall time, seconds (its own training; the switch fine-tune is in the card's total).
        wall_s: f64,
    },
}

/// Trained Skip-GRUs and their card.
#[derive(Debug, Clone)]
pub struct TrainedSkipBank {
    /// The models, in card order (width, then λ, ascending).
    pub models: Vec<SkipGruClassifier>,
    /// The card describing them (`family` `thr`).
    pub card: Card<BankCard>,
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

/// Test-split results of `model` at every threshold of [`THR_GRID`].
fn thr_grid_points(model: &SkipGruClassifier, test: &SequenceSet) -> Vec<KnobPoint> {
    THR_GRID
        .iter()
        .map(|&thr| {
            let result = evaluate_thr(model, test, thr as f32);
            KnobPoint {
                knobs: [("thr".to_string(), thr)].into_iter().collect(),
                test_accuracy: result.score.accuracy(),
                test_mse: result.score.mse(),
                update_share: Some(result.update_share),
                mean_flops_per_step: result.mean_flops_per_step,
            }
        })
        .collect()
}

/// Trains one Skip-GRU per (width, λ) on `set` split by `split` (λ curriculum and switch fine-tune
/// per width as `config.thr` says, see the module doc), and records each model's test accuracy and
/// update share at every threshold of [`THR_GRID`].
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
    let mut switch_best_epochs = Vec::new();
    for &hidden in &widths {
        let model_config = TrainConfig { hidden, ..config.base.clone() };
        // (name, model, report, snapshot, wall time)
        let mut trained: Vec<(String, SkipGruClassifier, SkipTrainReport, Vec<Tensor>, f64)> = Vec::new();
        for &lambda in &lambdas {
            let model_started = Instant::now();
            let name = skip_model_name_for(config.base.cell, hidden, lambda);
            let start = if config.thr.lambda_curriculum { trained.last().map(|t| t.3.as_slice()) } else { None };
            let (model, report, snapshot) =
                train_skip_candle(&name, &train, &validation, &model_config, lambda, &config.thr, start, |epoch| {
                    progress(SkipProgress::Epoch { name: name.clone(), epoch })
                })?;
            trained.push((name, model, report, snapshot, model_started.elapsed().as_secs_f64()));
        }
        if config.thr.switch_epochs > 0 && trained.len() >= 2 {
            let names: Vec<String> = trained.iter().map(|t| t.0.clone()).collect();
            let starts: Vec<Vec<Tensor>> = trained.iter().map(|t| t.3.clone()).collect();
            let tuned = fine_tune_with_switches(
                &names,
                &starts,
                &lambdas,
                &train,
                &validation,
                &model_config,
                &config.thr,
                |epoch| progress(SkipProgress::SwitchEpoch { hidden, epoch }),
            )?;
            switch_best_epochs.push(tuned.best_epoch);
            for (entry, model) in trained.iter_mut().zip(tuned.models) {
                entry.1 = model;
            }
        }
        for ((name, model, report, _, wall_s), &lambda) in trained.into_iter().zip(&lambdas) {
            let grid = thr_grid_points(&model, &test);
            let at_training_thr = evaluate_thr(&model, &test, TRAINING_THR as f32);
            let on_validation = evaluate_thr(&model, &validation, TRAINING_THR as f32);
            progress(SkipProgress::ModelDone { name: name.clone(), grid: grid.clone(), wall_s });
            card_models.push(CardModel {
                name: name.clone(),
                hidden,
                flops_per_step: model.flops_per_update(),
                flops_readout: model.flops_readout(),
                param_bytes: model.param_bytes(),
                test_accuracy: at_training_thr.score.accuracy(),
                validation_accuracy: on_validation.score.accuracy(),
                test_mse: at_training_thr.score.mse(),
                validation_mse: on_validation.score.mse(),
                best_epoch: report.best_epoch,
                train_wall_s: wall_s,
                family: Some(FAMILY_THR.into()),
                flops_per_skip: Some(model.flops_per_skip()),
                budget_lambda: Some(lambda),
                knob_grid: grid,
            });
            models.push(model);
        }
    }
    let t = &config.thr;
    let select = selection_thresholds(t);
    let select_text = select.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(", ");
    let description = format!(
        "thr drawn per training sequence: 0 with probability {}, otherwise uniform in [{}, {}], redrawn at 0..={} random steps; binarisation u = (ũ ≥ thr) with the straight-through estimator; epoch kept by the best mean validation score over thr ∈ {{{select_text}}} (ties: fewer updates); λ curriculum {}; switch fine-tune {}",
        t.zero_share,
        t.range[0],
        t.range[1],
        t.changes,
        if t.lambda_curriculum { "on (each later λ starts from the next smaller λ's kept weights)" } else { "off" },
        if t.switch_epochs > 0 && lambdas.len() >= 2 {
            format!(
                "{} epochs per width (lr {} × {SWITCH_LEARNING_RATE_FACTOR}, cosine): member schedules with 1..={} switches at random steps, state (s, ũ, Δũ) passed as it is; loss = task loss of the mixed run + Σ_members (task loss alone + λ · mean Σ_t u_t), weights 1; epoch (0 = before) kept by ½ · mean member selection score + ½ · fixed seeded mixed validation runs",
                t.switch_epochs, config.base.learning_rate, t.switch_changes
            )
        } else {
            "none".to_string()
        }
    );
    let card = Card {
        task: set.name.clone(),
        cell: config.base.cell,
        layers: 1,
        input: set.features,
        classes: set.classes,
        family: BankCard { kind: BankFamily::Thr, models: card_models, maps: Vec::new(), switch_fine_tune: None },
        training: Some(CardTraining {
            command: config.command.clone(),
            seed: config.base.seed,
            autodiff: "candle-core 0.11 / candle-nn 0.11 (CPU)".into(),
            optimiser: format!(
                "AdamW (lr {}, cosine decay to 5%, weight decay 1e-4), gradient-norm clip {}; loss = {} on the last step + λ · mean over sequences of Σ_t u_t, binarisation u = (ũ ≥ thr) with the straight-through estimator, thr drawn per sequence (see thr_training); epoch with the best mean validation score over the selection thresholds kept (ties: fewer updates)",
                config.base.learning_rate,
                config.base.clip_norm,
                super::loss_name(set)
            ),
            epochs: config.base.epochs,
            batch_size: config.base.batch_size,
            wall_time_s: started.elapsed().as_secs_f64(),
            split: split.clone(),
            thr_training: Some(CardThrTraining {
                thr_range: t.range.map(f64::from),
                zero_share: t.zero_share,
                thr_changes: t.changes,
                lambda_curriculum: t.lambda_curriculum,
                switch_epochs: t.switch_epochs,
                switch_changes: t.switch_changes,
                switch_best_epochs,
                selection_thr: select,
                description,
            }),
        }),
        import: None,
        seeds: None,
    };
    Ok(TrainedSkipBank { models, card })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::FlexibleModel;
    use crate::rnn::{CellScratch, SkipState};
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
        let half = Tensor::full(0.5f32, (batch, steps), &Device::Cpu).unwrap();
        let (logits, updated) = model.forward(&xs, &half).unwrap();
        let (logits, updated) = (logits.to_vec2::<f32>().unwrap(), updated.to_vec1::<f32>().unwrap());
        let ours = model.to_classifier("m").unwrap();
        let mut total_updates = 0;
        for b in 0..batch {
            let sequence = &values[b * steps * input..(b + 1) * steps * input];
            let mut state = SkipState::new(hidden);
            let mut scratch = CellScratch::new(hidden);
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
        let half = Tensor::full(0.5f32, (batch, steps), &Device::Cpu).unwrap();
        let (_, updated) = model.forward(&xs, &half).unwrap();
        let before = updated.mean_all().unwrap().to_scalar::<f32>().unwrap();
        let grads = updated.mean_all().unwrap().backward().unwrap();
        for var in [&model.gate_weight, &model.gate_bias] {
            let g = grads.get(var.as_tensor()).expect("gate parameter has a gradient");
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "zero gradient on a gate parameter");
        }
        let mut optimiser = AdamW::new(model.vars(), ParamsAdamW { lr: 0.05, ..ParamsAdamW::default() }).unwrap();
        for _ in 0..100 {
            let (_, updated) = model.forward(&xs, &half).unwrap();
            optimiser.backward_step(&updated.mean_all().unwrap()).unwrap();
        }
        let (_, updated) = model.forward(&xs, &half).unwrap();
        let after = updated.mean_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(after < 0.5 * before, "updates per sequence {before} -> {after}: the budget term must lower them");
    }

    #[test]
    fn grid_and_names() {
        assert_eq!(skip_model_name(64, 1e-3), "thr-64-1e-3");
        assert_eq!(skip_model_name(128, 2.5e-2), "thr-128-2.5e-2");
        assert_eq!(THR_GRID[10], TRAINING_THR);
        assert!(THR_GRID.windows(2).all(|w| w[0] < w[1]) && THR_GRID[THR_GRID.len() - 1] > 1.0);
        // 0, 0.05, …, 1.0: every step of 0.05 over [0, 1], then 1.01.
        for (i, &thr) in THR_GRID[..21].iter().enumerate() {
            assert_eq!(thr, (i * 5) as f64 / 100.0);
        }
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
        let half = Tensor::full(0.5f32, (batch, steps), &Device::Cpu).unwrap();
        let (logits, updated) = model.forward(&xs, &half).unwrap();
        let (logits, updated) = (logits.to_vec2::<f32>().unwrap(), updated.to_vec1::<f32>().unwrap());
        let ours = model.to_classifier("m").unwrap();
        assert_eq!(ours.base.cell_kind(), CellKind::Lstm);
        let mut total_updates = 0;
        for b in 0..batch {
            let sequence = &values[b * steps * input..(b + 1) * steps * input];
            let mut state = ours.new_state();
            let mut scratch = CellScratch::new(hidden);
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
                micro_batches: 1,
                threads: 1,
            },
            thr: ThrTraining::default(),
            command: "test".into(),
        };
        let trained = train_skip_bank(&set, &split, &config, |_| {}).unwrap();
        assert_eq!(trained.models[0].name(), "thr-lstm-8-1e-3");
        assert_eq!(trained.card.cell, CellKind::Lstm);
        let entry = &trained.card.family.models[0];
        assert_eq!(entry.flops_per_step, 1 + 8 * 8 * 9 + 21 * 8 + 2 * 8 + 2);
        assert!(entry.test_accuracy.unwrap() >= 0.8, "{entry:?}");
        let test = set.subset(&split.test);
        assert_eq!(evaluate_thr(&trained.models[0], &test, 0.0).update_share, 1.0);
        assert_eq!(evaluate_thr(&trained.models[0], &test, 1.01).update_share, 0.0);
    }

    /// Thresholds drawn in training cover the range the card offers: with the default recipe every
    /// drawn value is 0 or in [0.5, 1], every 0.05-wide bin of [0.5, 1] is hit, about 10 % are 0, and
    /// thresholds change inside sequences; the fixed recipe gives 0.5 everywhere and draws nothing.
    #[test]
    fn drawn_thresholds_cover_the_cards_range() {
        let training = ThrTraining::default();
        let mut rng = Pcg64::seed_from_u64(7);
        let (batch, steps) = (400, 64);
        let drawn = draw_thr_schedule(&mut rng, batch, steps, &training);
        assert_eq!(drawn.len(), batch * steps);
        assert!(drawn.iter().all(|&t| t == 0.0 || (0.5..=1.0).contains(&t)), "a value outside {{0}} ∪ [0.5, 1]");
        let firsts: Vec<f32> = drawn.chunks(steps).map(|row| row[0]).collect();
        let zeros = firsts.iter().filter(|&&t| t == 0.0).count() as f64 / batch as f64;
        assert!((0.05..=0.15).contains(&zeros), "share of thr 0: {zeros}");
        let mut bins = [0usize; 10];
        for &t in drawn.iter().filter(|&&t| t > 0.0) {
            bins[(((t - 0.5) / 0.05) as usize).min(9)] += 1;
        }
        assert!(bins.iter().all(|&n| n > 0), "bins of [0.5, 1]: {bins:?}");
        let lowest = drawn.iter().copied().filter(|&t| t > 0.0).fold(f32::INFINITY, f32::min);
        let highest = drawn.iter().copied().fold(0.0, f32::max);
        assert!(lowest < 0.51 && highest > 0.99, "drawn range [{lowest}, {highest}]");
        let changing = drawn.chunks(steps).filter(|row| row.windows(2).any(|w| w[0] != w[1])).count();
        assert!(changing > batch / 2, "{changing} of {batch} sequences change thr inside");
        // Every grid threshold of the card inside the drawn range is a trained operating point.
        let offered: Vec<f64> = THR_GRID.iter().copied().filter(|&t| (0.5..=1.0).contains(&t)).collect();
        assert_eq!(offered.len(), 11);
        assert_eq!(selection_thresholds(&training), [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);

        let fixed = ThrTraining::fixed_half();
        let mut rng = Pcg64::seed_from_u64(7);
        let drawn = draw_thr_schedule(&mut rng, 10, 20, &fixed);
        assert!(drawn.iter().all(|&t| t == 0.5));
        assert_eq!(rng.random::<u64>(), Pcg64::seed_from_u64(7).random::<u64>(), "the fixed recipe draws nothing");
        assert_eq!(selection_thresholds(&fixed), [0.5]);
    }

    #[test]
    fn member_schedules_switch_inside_every_sequence_in_both_directions() {
        let mut rng = Pcg64::seed_from_u64(2);
        let (batch, steps) = (200, 30);
        let schedule = draw_member_schedule(&mut rng, batch, steps, 2, 3);
        let (mut up, mut down) = (0, 0);
        for row in schedule.chunks(steps) {
            let switches: Vec<_> = row.windows(2).filter(|w| w[0] != w[1]).collect();
            assert!((1..=3).contains(&switches.len()), "{row:?}");
            up += switches.iter().filter(|w| w[0] < w[1]).count();
            down += switches.iter().filter(|w| w[0] > w[1]).count();
        }
        assert!(up > 50 && down > 50, "{up} up, {down} down");
        assert!(draw_member_schedule(&mut rng, 3, 5, 1, 3).iter().all(|&m| m == 0));
    }

    /// The mixed forward of autodiff and the crate's switched inference agree: same members, same
    /// schedules, same logits.
    #[test]
    fn switched_autodiff_forward_matches_crate_inference() {
        let mut rng = Pcg64::seed_from_u64(21);
        let (input, hidden, steps, batch) = (1, 8, 24, 5);
        let a = CandleSkipRnn::init(CellKind::Gru, input, hidden, 3, &mut rng).unwrap();
        let b = CandleSkipRnn::init(CellKind::Gru, input, hidden, 3, &mut rng).unwrap();
        b.gate_bias.set(&Tensor::new(&[-0.3f32], &Device::Cpu).unwrap()).unwrap();
        let values = random_inputs(&mut rng, batch, steps, input);
        let xs = Tensor::from_vec(values.clone(), (batch, steps, input), &Device::Cpu).unwrap();
        let training = ThrTraining::default();
        let thr = draw_thr_schedule(&mut rng, batch, steps, &training);
        let members = draw_member_schedule(&mut rng, batch, steps, 2, 3);
        let masks: Vec<Tensor> = (0..2)
            .map(|m| {
                let v: Vec<f32> = members.iter().map(|&s| f32::from(u8::from(s == m))).collect();
                Tensor::from_vec(v, (batch, steps), &Device::Cpu).unwrap()
            })
            .collect();
        let thr_t = Tensor::from_vec(thr.clone(), (batch, steps), &Device::Cpu).unwrap();
        let (logits, _) = forward_members(&[&a, &b], &xs, &thr_t, &masks).unwrap();
        let logits = logits.to_vec2::<f32>().unwrap();
        let models = [a.to_classifier("a").unwrap(), b.to_classifier("b").unwrap()];
        for row in 0..batch {
            let mut state = models[0].new_state();
            let mut scratch = CellScratch::new(hidden);
            let mut last = 0;
            for (t, x) in values[row * steps..(row + 1) * steps].chunks_exact(input).enumerate() {
                last = members[row * steps + t];
                models[last].step(x, thr[row * steps + t], &mut state, &mut scratch);
            }
            let mut ours = vec![0.0; 3];
            models[last].base.logits_into(&state.h, &mut ours);
            let worst = ours.iter().zip(&logits[row]).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(worst <= AUTODIFF_ATOL, "row {row}: logits differ by {worst}");
        }
    }

    /// A tiny same-size bank (two λ, curriculum, switch fine-tune) trains; the card records the recipe
    /// and the 22-point grid, and every setting's accuracy in the card is what `FlexibleModel` gives
    /// when it runs the test sequences.
    #[test]
    fn a_tiny_same_size_bank_fine_tune_runs_and_reproduces_through_flexible_model() {
        let (set, split) = super::super::toy_task(100, 8, 4);
        let config = SkipBankConfig {
            widths: vec![6],
            lambdas: vec![1e-2, 1e-3],
            base: TrainConfig {
                hidden: 0,
                epochs: 3,
                batch_size: 16,
                learning_rate: 0.02,
                clip_norm: 1.0,
                seed: 5,
                cell: CellKind::Gru,
                micro_batches: 1,
                threads: 1,
            },
            thr: ThrTraining { switch_epochs: 2, ..ThrTraining::default() },
            command: "test".into(),
        };
        let mut switch_epochs = 0;
        let trained = train_skip_bank(&set, &split, &config, |p| {
            if let SkipProgress::SwitchEpoch { hidden, .. } = p {
                assert_eq!(hidden, 6);
                switch_epochs += 1;
            }
        })
        .unwrap();
        assert_eq!(switch_epochs, 2);
        let names: Vec<&str> = trained.models.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["thr-6-1e-3", "thr-6-1e-2"]);
        let record = trained.card.training.as_ref().unwrap().thr_training.as_ref().unwrap();
        assert_eq!(record.thr_range, [0.5, 1.0]);
        assert_eq!(record.switch_epochs, 2);
        assert_eq!(record.switch_best_epochs.len(), 1);
        assert!(record.switch_best_epochs[0] <= 2);
        assert!(record.lambda_curriculum);
        let card: Card<BankCard> = serde_json::from_str(&serde_json::to_string(&trained.card).unwrap()).unwrap();
        assert_eq!(card, trained.card, "the card round-trips");
        for entry in &card.family.models {
            assert_eq!(entry.knob_grid.len(), THR_GRID.len());
        }
        let flexible = FlexibleModel::from_skip_models(trained.models.clone(), Some(&card)).unwrap();
        let test = set.subset(&split.test);
        let mut checked = 0;
        for (index, setting) in flexible.settings().iter().enumerate() {
            let mut state = flexible.new_state();
            let mut correct = 0usize;
            for i in 0..test.len() {
                state.reset();
                for x in test.unpadded(i).chunks_exact(test.features) {
                    flexible.step(index, Some(x), &mut state);
                }
                correct += usize::from(flexible.predict(&mut state) == test.labels[i]);
            }
            let accuracy = correct as f64 / test.len() as f64;
            assert_eq!(Some(accuracy), setting.expected_accuracy, "{}", setting.name);
            checked += 1;
        }
        assert!(checked >= 2, "{checked} settings");
    }
}
