//! Training with an autodiff library (`candle-core` / `candle-nn`): GRU and LSTM classifiers by
//! back-propagation through time, and ridge-regression state maps between trained models.
//!
//! The network trained here is exactly the one [`crate::rnn`] runs: a PyTorch-layout GRU cell (gate
//! order r, z, n) or LSTM cell (i, f, g, o; [`TrainConfig::cell`]; the trainable cell of every family
//! is `cell::CandleCell`) whose final hidden state `h` feeds a linear readout; loss = cross-entropy of the readout
//! logits at the last step. Accuracies are measured with the crate's own inference code, so the numbers
//! in the card are the numbers the simulator reproduces.

pub mod bank;
pub(crate) mod cell;
mod fused;
pub mod nested;
pub mod skip;
pub mod skipw;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use crate::data::SequenceSet;
use crate::rnn::{argmax, truncate_or_pad, CellKind, CellScratch, GruClassifier, RnnClassifier, StateMap};

use cell::CandleCell;

/// Errors of training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The autodiff library failed.
    #[error("autodiff: {0}")]
    Autodiff(#[from] candle_core::Error),
    /// The training loss became NaN or infinite.
    #[error("training of H={hidden} diverged at epoch {epoch} (loss {loss}); lower --learning-rate or --clip-norm")]
    Diverged {
        /// Width being trained.
        hidden: usize,
        /// 1-based epoch.
        epoch: usize,
        /// The loss.
        loss: f64,
    },
    /// The loss of a switch fine-tune (the phase after the members are trained) became NaN or
    /// infinite.
    #[error("the switch fine-tune of {phase} diverged at epoch {epoch} (loss {loss}); lower {flags}")]
    FineTuneDiverged {
        /// What was being fine-tuned, e.g. `the bank's members and maps`.
        phase: &'static str,
        /// 1-based fine-tune epoch.
        epoch: usize,
        /// The loss.
        loss: f64,
        /// The flags that set the phase's step size, e.g. `--switch-lr / --switch-member-lr or --clip-norm`.
        flags: &'static str,
    },
    /// The training threads could not be started.
    #[error("starting the training threads: {0}")]
    Threads(String),
    /// A linear system of the ridge fit is singular.
    #[error("ridge fit {from} -> {to}: the normal equations are not positive definite")]
    Singular {
        /// Source hidden size.
        from: usize,
        /// Target hidden size.
        to: usize,
    },
}

/// Hyper-parameters of [`train_classifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Hidden size `H`.
    pub hidden: usize,
    /// Maximum number of passes over the training set.
    pub epochs: usize,
    /// Sequences per mini-batch.
    pub batch_size: usize,
    /// AdamW learning rate (decayed by a cosine schedule to 5% over the epochs).
    pub learning_rate: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Seed of the initialisation and the batch order.
    pub seed: u64,
    /// The recurrent cell: GRU (the default) or LSTM.
    pub cell: CellKind,
    /// Micro-batches per mini-batch (at least 1): each mini-batch is split into this many contiguous
    /// parts of as equal sizes as possible, each part's gradient of its share of the mean loss is
    /// computed on its own, and the parts' gradients are summed in part order. 1 is plain mini-batch
    /// training. The trained weights depend on this number (the sums run in another order) but not on
    /// [`TrainConfig::threads`].
    pub micro_batches: usize,
    /// Threads that compute the micro-batches of a mini-batch at once (at least 1; more threads than
    /// micro-batches are not used). Changes the speed only, never the result.
    pub threads: usize,
}

/// What [`train_classifier`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Validation score of the kept weights.
    pub validation: Score,
    /// 1-based epoch of the kept weights.
    pub best_epoch: usize,
    /// Mean training loss per epoch.
    pub epoch_losses: Vec<f64>,
}

/// A trainable tensor of `shape` with every value drawn uniformly from `±bound` (PyTorch's default
/// initialisation with `bound = 1/√fan_in`), in row-major order from `rng`.
pub(crate) fn uniform_var(rng: &mut Pcg64, shape: &[usize], bound: f32) -> candle_core::Result<Var> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    Var::from_vec(values, shape, &Device::Cpu)
}

/// The values of a trained tensor, flattened in row-major order.
pub(crate) fn flat(v: &Var) -> candle_core::Result<Vec<f32>> {
    v.as_tensor().flatten_all()?.to_vec1::<f32>()
}

/// A classifier in `candle`: a [`CandleCell`] (GRU or LSTM) and a linear readout of the final `h`.
pub(crate) struct CandleClassifier {
    pub(crate) cell: CandleCell,
    readout_weight: Var,
    readout_bias: Var,
}

impl CandleClassifier {
    /// PyTorch's initialisation: every parameter uniform in ±1/√H (cell, then readout of fan-in H).
    pub(crate) fn init(
        kind: CellKind,
        input: usize,
        hidden: usize,
        classes: usize,
        rng: &mut Pcg64,
    ) -> candle_core::Result<CandleClassifier> {
        let cell = CandleCell::init(kind, input, hidden, rng)?;
        let bound = 1.0 / (hidden as f32).sqrt();
        Ok(CandleClassifier {
            cell,
            readout_weight: uniform_var(rng, &[classes, hidden], bound)?,
            readout_bias: uniform_var(rng, &[classes], bound)?,
        })
    }

    /// The variables of a trained classifier `model` (its weights copied), for fine-tuning it.
    pub(crate) fn from_classifier(model: &RnnClassifier) -> candle_core::Result<CandleClassifier> {
        let rows = model.readout_bias.len();
        Ok(CandleClassifier {
            cell: CandleCell::from_cell(&model.cell)?,
            readout_weight: Var::from_vec(
                model.readout_weight.clone(),
                &[rows, model.hidden_size()][..],
                &Device::Cpu,
            )?,
            readout_bias: Var::from_vec(model.readout_bias.clone(), rows, &Device::Cpu)?,
        })
    }

    pub(crate) fn vars(&self) -> Vec<Var> {
        let mut vars = self.cell.vars();
        vars.push(self.readout_weight.clone());
        vars.push(self.readout_bias.clone());
        vars
    }

    /// Final flat states `[B, S]` (`h`, or `[h; c]` for an LSTM) for inputs `[B, T, I]`.
    fn final_state(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.cell.final_state(xs)
    }

    /// Logits `[B, C]` for inputs `[B, T, I]`.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.readout(&self.cell.h(&self.final_state(xs)?)?)
    }

    /// Logits `[B, C]` for inputs `[B, T, I]` whose row `b` has `lengths[b]` steps (zero padding after),
    /// read out after each row's own last step.
    fn forward_of_lengths(&self, xs: &Tensor, lengths: &[usize]) -> candle_core::Result<Tensor> {
        self.readout(&self.cell.h(&self.cell.final_state_of_lengths(xs, lengths)?)?)
    }

    /// Logits `[B, C]` of hidden states `h` `[B, H]`.
    pub(crate) fn readout(&self, h: &Tensor) -> candle_core::Result<Tensor> {
        h.matmul(&self.readout_weight.as_tensor().t()?)?.broadcast_add(self.readout_bias.as_tensor())
    }

    pub(crate) fn to_classifier(&self, name: &str) -> candle_core::Result<RnnClassifier> {
        Ok(RnnClassifier {
            name: name.to_string(),
            cell: self.cell.to_cell()?,
            readout_weight: flat(&self.readout_weight)?,
            readout_bias: flat(&self.readout_bias)?,
        })
    }
}

/// Outputs of a model's readout for `set`: one per class, or one real number for a regression set.
pub fn readout_size(set: &SequenceSet) -> usize {
    if set.is_regression() {
        1
    } else {
        set.classes
    }
}

/// Inputs `[B, T, I]` and targets of the sequences at `indices`: class labels `[B]` (`u32`) for a
/// classification set, real targets `[B]` (`f32`) for a regression set.
pub(crate) fn batch_tensor(set: &SequenceSet, indices: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
    let mut values = Vec::with_capacity(indices.len() * set.steps * set.features);
    for &i in indices {
        values.extend_from_slice(set.sequence(i));
    }
    let xs = Tensor::from_vec(values, (indices.len(), set.steps, set.features), &Device::Cpu)?;
    Ok((xs, targets_tensor(set, indices)?))
}

/// Targets of the sequences at `indices` (see [`batch_tensor`]).
pub(crate) fn targets_tensor(set: &SequenceSet, indices: &[usize]) -> candle_core::Result<Tensor> {
    if set.is_regression() {
        let targets: Vec<f32> = indices.iter().map(|&i| set.targets[i]).collect();
        Tensor::from_vec(targets, indices.len(), &Device::Cpu)
    } else {
        let labels: Vec<u32> = indices.iter().map(|&i| set.labels[i]).collect();
        Tensor::from_vec(labels, indices.len(), &Device::Cpu)
    }
}

/// The task loss of readout outputs `[B, C]` against targets from [`targets_tensor`]: cross-entropy
/// for classes, mean squared error of the single output for a regression set (`C` = 1).
pub(crate) fn task_loss(outputs: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    if targets.dtype() == DType::F32 {
        candle_nn::loss::mse(&outputs.squeeze(1)?, targets)
    } else {
        candle_nn::loss::cross_entropy(outputs, targets)
    }
}

/// The task loss's name for cards: `cross-entropy` or `squared error`.
pub(crate) fn loss_name(set: &SequenceSet) -> &'static str {
    if set.is_regression() {
        "squared error"
    } else {
        "cross-entropy"
    }
}

/// A model's result on a set: accuracy (classification) or mean squared error (regression).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    /// Share of sequences whose arg-max output is their label.
    Accuracy(f64),
    /// Mean over sequences of (output − target)².
    Mse(f64),
}

impl Score {
    /// A number where higher is better, for choosing epochs and settings: the accuracy, or −MSE.
    pub fn quality(self) -> f64 {
        match self {
            Score::Accuracy(a) => a,
            Score::Mse(m) => -m,
        }
    }

    /// The accuracy, for a classification score.
    pub fn accuracy(self) -> Option<f64> {
        match self {
            Score::Accuracy(a) => Some(a),
            Score::Mse(_) => None,
        }
    }

    /// The MSE, for a regression score.
    pub fn mse(self) -> Option<f64> {
        match self {
            Score::Accuracy(_) => None,
            Score::Mse(m) => Some(m),
        }
    }

    /// The value in its own metric (accuracy or MSE).
    pub fn value(self) -> f64 {
        match self {
            Score::Accuracy(v) | Score::Mse(v) => v,
        }
    }

    /// `accuracy 0.9512` or `MSE 0.00123`, for progress lines.
    pub fn describe(self) -> String {
        match self {
            Score::Accuracy(a) => format!("accuracy {a:.4}"),
            Score::Mse(m) => format!("MSE {m:.5}"),
        }
    }
}

/// Accumulates a [`Score`] over the sequences of a set from each sequence's readout outputs.
#[derive(Debug, Clone)]
pub struct Scorer<'a> {
    set: &'a SequenceSet,
    sum: f64,
    count: usize,
}

impl<'a> Scorer<'a> {
    /// An empty scorer for `set`.
    pub fn new(set: &'a SequenceSet) -> Scorer<'a> {
        Scorer { set, sum: 0.0, count: 0 }
    }

    /// Adds sequence `index` whose readout gave `outputs` (`C` logits, or one value for regression).
    pub fn add(&mut self, index: usize, outputs: &[f32]) {
        self.sum += if self.set.is_regression() {
            (outputs[0] as f64 - self.set.targets[index] as f64).powi(2)
        } else {
            f64::from(argmax(outputs) as u32 == self.set.labels[index])
        };
        self.count += 1;
    }

    /// The score so far (0 for no sequence).
    pub fn score(&self) -> Score {
        let mean = self.sum / self.count.max(1) as f64;
        if self.set.is_regression() {
            Score::Mse(mean)
        } else {
            Score::Accuracy(mean)
        }
    }
}

/// Sequences that [`score`] runs in lockstep through the batched step.
const SCORE_BATCH: usize = 32;

/// Score of `model` on `set`, computed with the crate's own inference (not the autodiff library):
/// 32 sequences (`SCORE_BATCH`) at a time through [`crate::rnn::RnnCell::step_batch`], the longest
/// first so that the sequences still running are always the first rows; every sequence's logits
/// have the bits of running it alone, and the scorer adds them in set order, so the score is the
/// one-at-a-time score bit for bit.
pub fn score(model: &GruClassifier, set: &SequenceSet) -> Score {
    let (width, input, classes) = (model.state_len(), set.features, model.classes());
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(set.length(i)));
    let mut outputs = vec![0.0f32; set.len() * classes];
    let mut states = vec![0.0f32; SCORE_BATCH * width];
    let mut xs = vec![0.0f32; SCORE_BATCH * input];
    let mut scratch = crate::rnn::BatchScratch::new(SCORE_BATCH, model.hidden_size());
    for batch in order.chunks(SCORE_BATCH) {
        states.fill(0.0);
        for t in 0..set.length(batch[0]) {
            let running = batch.iter().take_while(|&&i| set.length(i) > t).count();
            for (row, &i) in xs.chunks_exact_mut(input).zip(&batch[..running]) {
                row.copy_from_slice(set.frame(i, t));
            }
            model.cell.step_batch(&xs[..running * input], &mut states[..running * width], &mut scratch);
        }
        for (state, &i) in states.chunks_exact(width).zip(batch) {
            model.logits_into(state, &mut outputs[i * classes..(i + 1) * classes]);
        }
    }
    let mut scorer = Scorer::new(set);
    for (i, logits) in outputs.chunks_exact(classes.max(1)).enumerate() {
        scorer.add(i, logits);
    }
    scorer.score()
}

/// Accuracy of `model` on a classification `set` (see [`score`]).
pub fn accuracy(model: &GruClassifier, set: &SequenceSet) -> f64 {
    score(model, set).value()
}

/// Trains one classifier (GRU or LSTM, [`TrainConfig::cell`]) with AdamW on the task loss (`task_loss`: cross-entropy, or squared error for a
/// regression set), keeping the epoch with the best validation score (ties: the earlier epoch).
/// `on_epoch(epoch, loss, validation_score)` is called after each epoch.
///
/// # Errors
/// [`TrainError::Autodiff`] if the autodiff library fails.
pub fn train_classifier(
    name: &str,
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(usize, f64, Score),
) -> Result<(GruClassifier, TrainReport), TrainError> {
    let mut rng = Pcg64::seed_from_u64(config.seed ^ (config.hidden as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let model = CandleClassifier::init(config.cell, train.features, config.hidden, readout_size(train), &mut rng)?;
    let params = ParamsAdamW { lr: config.learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(model.vars(), params.clone())?;
    // Threads that live as long as the training: each keeps its allocator's memory warm from one
    // mini-batch to the next (threads started per mini-batch spent their time faulting in pages).
    let pool = micro_batch_pool(config.threads.min(config.micro_batches))?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best = (model.to_classifier(name)?, Score::Accuracy(f64::NEG_INFINITY), 0usize);
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        let progress = (epoch - 1) as f64 / config.epochs.max(1) as f64;
        let lr = config.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        optimiser.set_params(ParamsAdamW { lr, ..params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let (mut grads, loss) = batch_gradients(&model, train, chunk, config.micro_batches, pool.as_ref())?;
            clip_gradients(&model.vars(), &mut grads, config.clip_norm)?;
            optimiser.step(&grads)?;
            loss_sum += loss;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { hidden: config.hidden, epoch, loss });
        }
        epoch_losses.push(loss);
        let candidate = model.to_classifier(name)?;
        let on_validation = score(&candidate, validation);
        on_epoch(epoch, loss, on_validation);
        if on_validation.quality() > best.1.quality() {
            best = (candidate, on_validation, epoch);
        }
    }
    let (classifier, validation, best_epoch) = best;
    Ok((classifier, TrainReport { validation, best_epoch, epoch_losses }))
}

/// The mean task loss of `model` over the training sequences `batch` of `train`, and its gradient.
fn batch_loss(model: &CandleClassifier, train: &SequenceSet, batch: &[usize]) -> candle_core::Result<Tensor> {
    let (xs, ys) = batch_tensor(train, batch)?;
    let logits = if train.is_fixed_length() {
        model.forward(&xs)?
    } else {
        let lengths: Vec<usize> = batch.iter().map(|&i| train.length(i)).collect();
        model.forward_of_lengths(&xs, &lengths)?
    };
    task_loss(&logits, &ys)
}

/// The contiguous parts of `len` items split into `parts` (at most `len`) parts whose sizes differ by
/// at most one, the larger ones first: `(start, end)` index ranges.
fn micro_batch_ranges(len: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, len.max(1));
    let (base, extra) = (len / parts, len % parts);
    let mut start = 0;
    (0..parts)
        .map(|p| {
            let end = start + base + usize::from(p < extra);
            let range = (start, end);
            start = end;
            range
        })
        .collect()
}

/// A pool of `threads` threads for the micro-batches of [`batch_gradients`], or none for one thread.
///
/// # Errors
/// [`TrainError::Threads`] if the threads cannot be started.
fn micro_batch_pool(threads: usize) -> Result<Option<rayon::ThreadPool>, TrainError> {
    if threads <= 1 {
        return Ok(None);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|k| format!("micro-batch-{k}"))
        .build()
        .map_err(|e| TrainError::Threads(e.to_string()))?;
    Ok(Some(pool))
}

/// Gradients of the mean task loss over the mini-batch `batch` (indices into `train`) and that loss:
/// with `micro_batches` 1 by one backward pass; else the batch is split by [`micro_batch_ranges`],
/// part `p` of `n_p` sequences contributes the gradient of `(n_p / B) · its own mean loss`
/// (computed at once on the threads of `pool`, if any, each thread's candle ops single-threaded),
/// and the parts' gradients and losses are summed in part order — the same bits for any number of
/// threads.
///
/// # Errors
/// The autodiff library's error.
fn batch_gradients(
    model: &CandleClassifier,
    train: &SequenceSet,
    batch: &[usize],
    micro_batches: usize,
    pool: Option<&rayon::ThreadPool>,
) -> candle_core::Result<(candle_core::backprop::GradStore, f64)> {
    let ranges = micro_batch_ranges(batch.len(), micro_batches);
    if ranges.len() == 1 {
        let loss = batch_loss(model, train, batch)?;
        return Ok((loss.backward()?, loss.to_scalar::<f32>()? as f64));
    }
    let part = |&(start, end): &(usize, usize)| -> candle_core::Result<(candle_core::backprop::GradStore, f64)> {
        let share = (end - start) as f64 / batch.len() as f64;
        let loss = (batch_loss(model, train, &batch[start..end])? * share)?;
        Ok((loss.backward()?, loss.to_scalar::<f32>()? as f64))
    };
    let results: Vec<candle_core::Result<_>> = match pool {
        Some(pool) => pool.install(|| ranges.par_iter().map(part).collect()),
        None => ranges.iter().map(part).collect(),
    };
    let mut parts = results.into_iter();
    let (mut grads, mut loss) = parts.next().expect("at least one micro-batch")?;
    let vars = model.vars();
    for next in parts {
        let (next_grads, next_loss) = next?;
        loss += next_loss;
        for var in &vars {
            let summed = match (grads.remove(var.as_tensor()), next_grads.get(var.as_tensor())) {
                (Some(a), Some(b)) => (a + b)?,
                (Some(a), None) => a,
                (None, Some(b)) => b.clone(),
                (None, None) => continue,
            };
            grads.insert(var.as_tensor(), summed);
        }
    }
    Ok((grads, loss))
}

pub(crate) fn clip_gradients(
    vars: &[Var],
    grads: &mut candle_core::backprop::GradStore,
    max_norm: f64,
) -> candle_core::Result<()> {
    let mut total = 0.0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            total += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = total.sqrt();
    if norm > max_norm {
        let scale = max_norm / norm;
        for var in vars {
            if let Some(g) = grads.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), (g * scale)?);
            }
        }
    }
    Ok(())
}

/// Flat states of `model` after every step of every sequence of `set`, each to its own length:
/// `Σ lengths` rows of its state length (`H` for a GRU, `2H` for an LSTM's `[h; c]`), what the bank's
/// state maps act on.
pub fn hidden_states(model: &GruClassifier, set: &SequenceSet) -> Vec<f32> {
    let hidden = model.state_len();
    let mut out = Vec::with_capacity(set.len() * set.steps * hidden);
    let mut h = vec![0.0f32; hidden];
    let mut scratch = CellScratch::new(model.hidden_size());
    for i in 0..set.len() {
        h.iter_mut().for_each(|v| *v = 0.0);
        for step in 0..set.length(i) {
            model.cell.step(set.frame(i, step), &mut h, &mut scratch);
            out.extend_from_slice(&h);
        }
    }
    out
}

/// Mean squared error per unit of `map` (or of truncation / zero padding when `None`) from states
/// `from` (rows of `from_hidden`) to states `to` (rows of `to_hidden`), taken at the same steps.
pub fn map_mse(map: Option<&StateMap>, from: &[f32], from_hidden: usize, to: &[f32], to_hidden: usize) -> f64 {
    let mut mapped = vec![0.0f32; to_hidden];
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (a, b) in from.chunks_exact(from_hidden).zip(to.chunks_exact(to_hidden)) {
        match map {
            Some(map) => map.apply(a, &mut mapped),
            None => truncate_or_pad(a, &mut mapped),
        }
        sum += mapped.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
        count += to_hidden;
    }
    sum / count.max(1) as f64
}

/// The penalties tried by [`fit_state_map`], relative to the number of training rows.
pub const RIDGE_LAMBDAS: [f64; 6] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1];

/// Fits `h_to ≈ W h_from + c` by ridge regression (penalty `λ·N·‖W‖²`, bias not penalised) on the
/// training states, choosing `λ` from [`RIDGE_LAMBDAS`] by the mean squared error on the validation
/// states. Inputs are row-major state matrices taken at the same steps of the same sequences.
/// Returns the map and the chosen relative `λ`.
///
/// # Errors
/// [`TrainError::Singular`] if the normal equations cannot be solved for every `λ`.
pub fn fit_state_map(
    train_from: &[f32],
    train_to: &[f32],
    validation_from: &[f32],
    validation_to: &[f32],
    from_hidden: usize,
    to_hidden: usize,
) -> Result<(StateMap, f64), TrainError> {
    use nalgebra::DMatrix;
    let d = from_hidden + 1;
    let mut gram = DMatrix::<f64>::zeros(d, d);
    let mut cross = DMatrix::<f64>::zeros(d, to_hidden);
    let mut row = vec![0.0f64; d];
    let rows = train_from.len() / from_hidden;
    for (a, b) in train_from.chunks_exact(from_hidden).zip(train_to.chunks_exact(to_hidden)) {
        row[..from_hidden].iter_mut().zip(a).for_each(|(r, v)| *r = *v as f64);
        row[from_hidden] = 1.0;
        for i in 0..d {
            let ri = row[i];
            for j in i..d {
                gram[(i, j)] += ri * row[j];
            }
            for (k, target) in b.iter().enumerate() {
                cross[(i, k)] += ri * *target as f64;
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            gram[(i, j)] = gram[(j, i)];
        }
    }
    let mut best: Option<(StateMap, f64, f64)> = None;
    for &lambda in &RIDGE_LAMBDAS {
        let mut system = gram.clone();
        for i in 0..from_hidden {
            system[(i, i)] += lambda * rows as f64;
        }
        let Some(cholesky) = system.cholesky() else {
            continue;
        };
        let solution = cholesky.solve(&cross); // d × to_hidden
        let mut weight = vec![0.0f32; to_hidden * from_hidden];
        let mut bias = vec![0.0f32; to_hidden];
        for k in 0..to_hidden {
            for i in 0..from_hidden {
                weight[k * from_hidden + i] = solution[(i, k)] as f32;
            }
            bias[k] = solution[(from_hidden, k)] as f32;
        }
        let map = StateMap { from_hidden, to_hidden, weight, bias };
        let mse = map_mse(Some(&map), validation_from, from_hidden, validation_to, to_hidden);
        if best.as_ref().is_none_or(|(_, _, m)| mse < *m) {
            best = Some((map, lambda, mse));
        }
    }
    best.map(|(map, lambda, _)| (map, lambda)).ok_or(TrainError::Singular { from: from_hidden, to: to_hidden })
}

/// A tiny, easy task for the trainers' tests: `n` sequences of `steps` inputs; the class is whether
/// the inputs are drawn high (`[0.4, 1)`) or low (`[0, 0.6)`), so that any few steps tell it. Split
/// 55 / 20 / 25 % (train, validation, test), stratified.
#[cfg(test)]
pub(crate) fn toy_task(n: usize, steps: usize, seed: u64) -> (SequenceSet, crate::data::Split) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let (mut values, mut labels) = (Vec::with_capacity(n * steps), Vec::with_capacity(n));
    for _ in 0..n {
        let high = rng.random_bool(0.5);
        for _ in 0..steps {
            values.push(if high { rng.random_range(0.4..1.0) } else { rng.random_range(0.0..0.6) });
        }
        labels.push(high as u32);
    }
    let set = SequenceSet::fixed_length_classification(
        "toy".into(),
        steps,
        1,
        vec!["low".into(), "high".into()],
        values,
        labels,
    );
    let split = crate::data::Split::stratified(&set.labels, 2, seed, 0.25, 0.2);
    (set, split)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest absolute difference allowed between the crate's GRU and the autodiff forward.
    const AUTODIFF_ATOL: f32 = 1e-5;

    #[test]
    fn crate_step_matches_autodiff_forward_on_same_weights() {
        let mut rng = Pcg64::seed_from_u64(5);
        for (kind, input, hidden) in [
            (CellKind::Gru, 1, 16),
            (CellKind::Gru, 3, 32),
            (CellKind::Gru, 1, 128),
            (CellKind::Lstm, 1, 16),
            (CellKind::Lstm, 3, 32),
        ] {
            let model = CandleClassifier::init(kind, input, hidden, 4, &mut rng).unwrap();
            let steps = 12;
            let values: Vec<f32> = (0..2 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (2, steps, input), &Device::Cpu).unwrap();
            let expected = model.final_state(&xs).unwrap().to_vec2::<f32>().unwrap();
            let ours = model.to_classifier("m").unwrap();
            for (b, expected_row) in expected.iter().enumerate() {
                // The whole flat state: h, or [h; c] for an LSTM.
                let mut h = vec![0.0f32; ours.state_len()];
                let mut scratch = CellScratch::new(hidden);
                for x in values[b * steps * input..(b + 1) * steps * input].chunks_exact(input) {
                    ours.cell.step(x, &mut h, &mut scratch);
                }
                assert_eq!(h.len(), expected_row.len());
                let worst = h.iter().zip(expected_row).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "{kind} I={input} H={hidden}: max abs diff {worst}");
            }
            let logits = model.forward(&xs).unwrap().to_vec2::<f32>().unwrap();
            let predicted =
                logits[0].iter().enumerate().fold(0, |best, (i, v)| if *v > logits[0][best] { i } else { best });
            assert_eq!(ours.classify(&values[..steps * input]) as usize, predicted);
        }
    }

    #[test]
    fn ridge_recovers_an_exact_affine_map() {
        // to = [[1, 2], [0, -1], [3, 0]] · from + [0.5, 0, -1], with no noise.
        let mut rng = Pcg64::seed_from_u64(1);
        let make = |rng: &mut Pcg64, n: usize| {
            let from: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let to: Vec<f32> =
                from.chunks_exact(2).flat_map(|a| [a[0] + 2.0 * a[1] + 0.5, -a[1], 3.0 * a[0] - 1.0]).collect();
            (from, to)
        };
        let (train_from, train_to) = make(&mut rng, 500);
        let (val_from, val_to) = make(&mut rng, 100);
        let (map, lambda) = fit_state_map(&train_from, &train_to, &val_from, &val_to, 2, 3).unwrap();
        assert_eq!(lambda, RIDGE_LAMBDAS[0]);
        let expected_w = [1.0, 2.0, 0.0, -1.0, 3.0, 0.0];
        for (w, e) in map.weight.iter().zip(expected_w) {
            assert!((w - e).abs() < 1e-3, "{:?}", map.weight);
        }
        for (b, e) in map.bias.iter().zip([0.5, 0.0, -1.0]) {
            assert!((b - e).abs() < 1e-3, "{:?}", map.bias);
        }
        assert!(map_mse(Some(&map), &val_from, 2, &val_to, 3) < 1e-6);
        assert!(map_mse(None, &val_from, 2, &val_to, 3) > 0.1);
    }

    #[test]
    fn the_batched_score_is_the_one_at_a_time_score_bit_for_bit() {
        let (set, _) = toy_task(75, 9, 5);
        let mut ragged = set.clone();
        ragged.lengths = (0..ragged.len()).map(|i| 1 + (i * 5) % 9).collect();
        for (i, sequence) in ragged.values.chunks_exact_mut(ragged.steps * ragged.features).enumerate() {
            sequence[ragged.lengths[i] * ragged.features..].fill(0.0);
        }
        let mut rng = Pcg64::seed_from_u64(2);
        for kind in CellKind::ALL {
            for set in [&set, &ragged] {
                let model = CandleClassifier::init(kind, set.features, 12, set.classes, &mut rng)
                    .unwrap()
                    .to_classifier("m")
                    .unwrap();
                let mut alone = Scorer::new(set);
                let mut outputs = vec![0.0; model.classes()];
                for i in 0..set.len() {
                    model.outputs(set.unpadded(i), &mut outputs);
                    alone.add(i, &outputs);
                }
                let (batched, alone) = (score(&model, set).value(), alone.score().value());
                assert_eq!(batched.to_bits(), alone.to_bits(), "{kind}: {batched} vs {alone}");
                assert!(alone > 0.0 && alone < 1.0, "an untrained model scores between 0 and 1: {alone}");
            }
        }
    }

    #[test]
    fn micro_batches_split_evenly_the_larger_first() {
        assert_eq!(micro_batch_ranges(10, 3), vec![(0, 4), (4, 7), (7, 10)]);
        assert_eq!(micro_batch_ranges(7, 1), vec![(0, 7)]);
        // A last mini-batch smaller than the number of micro-batches: one sequence each.
        assert_eq!(micro_batch_ranges(2, 5), vec![(0, 1), (1, 2)]);
        assert_eq!(micro_batch_ranges(32, 2), vec![(0, 16), (16, 32)]);
    }

    /// Largest absolute difference between the gradients of `a` and `b` for `vars`, and the largest
    /// absolute gradient value.
    fn gradient_gap(
        vars: &[Var],
        a: &candle_core::backprop::GradStore,
        b: &candle_core::backprop::GradStore,
    ) -> (f32, f32) {
        let (mut gap, mut largest) = (0.0f32, 0.0f32);
        for var in vars {
            let x = a.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let y = b.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (x, y) in x.iter().zip(&y) {
                gap = gap.max((x - y).abs());
                largest = largest.max(x.abs());
            }
        }
        (gap, largest)
    }

    #[test]
    fn micro_batch_gradients_add_up_to_the_whole_batchs() {
        let (set, _) = toy_task(40, 9, 4);
        let mut ragged = set.clone();
        ragged.lengths = (0..ragged.len()).map(|i| 4 + i % 6).collect();
        for (i, sequence) in ragged.values.chunks_exact_mut(ragged.steps * ragged.features).enumerate() {
            sequence[ragged.lengths[i] * ragged.features..].fill(0.0);
        }
        let mut rng = Pcg64::seed_from_u64(8);
        for (what, set) in [("fixed length", &set), ("variable lengths", &ragged)] {
            for kind in CellKind::ALL {
                let model = CandleClassifier::init(kind, set.features, 8, set.classes, &mut rng).unwrap();
                let batch: Vec<usize> = (0..13).map(|i| (i * 7) % set.len()).collect();
                let (whole, whole_loss) = batch_gradients(&model, set, &batch, 1, None).unwrap();
                let pool = micro_batch_pool(2).unwrap();
                for parts in [2, 3, 13] {
                    let (split, loss) = batch_gradients(&model, set, &batch, parts, pool.as_ref()).unwrap();
                    let (gap, largest) = gradient_gap(&model.vars(), &whole, &split);
                    assert!(largest > 1e-3, "{what} {kind}: a gradient to compare");
                    assert!(gap <= 1e-5 * largest.max(1.0), "{what} {kind} {parts} parts: gap {gap} of {largest}");
                    assert!(
                        (loss - whole_loss).abs() < 1e-5,
                        "{what} {kind} {parts} parts: loss {loss} vs {whole_loss}"
                    );
                }
            }
        }
    }

    #[test]
    fn threads_change_the_speed_of_micro_batch_training_not_its_bits() {
        let (set, split) = toy_task(60, 10, 2);
        let (train, validation) = (set.subset(&split.train), set.subset(&split.validation));
        let config = |micro_batches, threads| TrainConfig {
            hidden: 6,
            epochs: 2,
            batch_size: 9,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed: 3,
            cell: CellKind::Gru,
            micro_batches,
            threads,
        };
        let weights = |micro_batches, threads| {
            let (model, report) =
                train_classifier("m", &train, &validation, &config(micro_batches, threads), |_, _, _| {}).unwrap();
            let bits: Vec<u32> = model.cell.tensors().iter().flat_map(|(_, p)| p.iter().map(|v| v.to_bits())).collect();
            (bits, report.epoch_losses)
        };
        let one_thread = weights(3, 1);
        assert_eq!(weights(3, 2), one_thread);
        assert_eq!(weights(3, 3), one_thread);
        // The micro-batches themselves change the order of the sums, hence (a little) the weights.
        assert_ne!(weights(1, 1).0, one_thread.0);
    }
}
