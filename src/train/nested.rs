//! Training a nested-width GRU or LSTM ([`crate::rnn::nested`]) with `candle`: every width in the
//! list must work, and so must width changes inside a sequence.
//!
//! Each mini-batch of `B` sequences is run as `4B` rows, four groups of the same sequences:
//! 1. the widest width `H`, trained on the hard labels (cross-entropy);
//! 2. the narrowest width;
//! 3. a random width of the list (drawn per batch from the widths strictly between the two, or from
//!    all when there are none);
//! 4. a random width schedule per sequence ([`random_width_schedule`], 1 to `max_changes` changes at
//!    random steps), so that the frozen units of a narrower stretch are resumed by a wider one. With
//!    `max_changes = 0` (the ablation) this group runs one random width per sequence, unchanged
//!    throughout ([`training_schedules`]).
//!
//! This is the sandwich rule of Yu & Huang ("Universally slimmable networks", ICCV 2019) with
//! in-place distillation: groups 2–4 are trained on the hard labels *and* on the widest group's
//! soft targets (cross-entropy against `softmax` of its logits, detached), weighted by
//! `distill_weight`. All groups run in one batched graph: the full `H`-unit cell with a 0/1 mask per
//! row and step (`m_u = 1` for units `u < w`), the state `h` fed to `W_hh` masked (so units `≥ w` do
//! not reach units `< w`) and the update `s ← s + m ⊙ (s' − s)` of the flat state (`h`, or `[h; c]`
//! for an LSTM, both masked alike; so units `≥ w` keep their value) —
//! exactly the equations the crate's inference runs. Each row's logits come from the readout of the
//! width of its last step. Accuracies are measured with the crate's own inference.

use crate::train::{flat, uniform_var};
use std::time::Instant;

use candle_core::{Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{Card, CardTraining, NestedCard, NestedCardSchedules, NestedCardWidth};
use crate::rnn::nested::{random_width_schedule, NestedGru, NestedReadout, NestedRnn};
use crate::rnn::CellKind;

use super::cell::CandleCell;
use super::{clip_gradients, readout_size, targets_tensor, task_loss, Score, Scorer, TrainError};

/// Settings of [`train_nested`].
#[derive(Debug, Clone, PartialEq)]
pub struct NestedConfig {
    /// The recurrent cell (GRU or LSTM).
    pub cell: CellKind,
    /// The widths, ascending after sorting; the largest is the cell's hidden size `H`.
    pub widths: Vec<usize>,
    /// Passes over the training set (the epoch with the best validation score is kept).
    pub epochs: usize,
    /// Sequences per mini-batch (each run at four widths/schedules, so `4 ×` rows).
    pub batch_size: usize,
    /// AdamW learning rate (cosine decay to 5% over the epochs).
    pub learning_rate: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Seed of the initialisation, batch order, width draws and evaluation schedules.
    pub seed: u64,
    /// Most width changes in a training schedule (1 to this many, uniformly); 0: no changes at all
    /// (every training sequence runs at one width throughout — the ablation).
    pub max_changes: usize,
    /// Weight of the soft-target (in-place distillation) term.
    pub distill_weight: f64,
    /// The command line that was run, recorded in the card.
    pub command: String,
}

/// The width schedules of one training mini-batch of `batch` sequences of `steps` steps: `4 × batch`
/// rows in the four groups of the module doc — the widest width, the narrowest, `random_width`, and
/// per sequence a [`random_width_schedule`] with a number of changes drawn uniformly from
/// `1..=max_changes`; with `max_changes = 0` that last group has **no** change (one random width per
/// sequence, constant throughout). `widths` ascending.
///
/// # Panics
/// If `widths` is empty.
pub fn training_schedules(
    widths: &[usize],
    steps: usize,
    batch: usize,
    random_width: usize,
    max_changes: usize,
    rng: &mut impl Rng,
) -> Vec<Vec<usize>> {
    let (narrowest, widest) = (widths[0], widths[widths.len() - 1]);
    let mut schedules = Vec::with_capacity(4 * batch);
    schedules.extend(std::iter::repeat_n(vec![widest; steps], batch));
    schedules.extend(std::iter::repeat_n(vec![narrowest; steps], batch));
    schedules.extend(std::iter::repeat_n(vec![random_width; steps], batch));
    for _ in 0..batch {
        let changes = if max_changes == 0 { 0 } else { rng.random_range(1..=max_changes) };
        schedules.push(random_width_schedule(widths, steps, changes, rng));
    }
    schedules
}

/// Width changes per sequence in the evaluation schedules recorded in the card.
pub const EVAL_CHANGES: usize = 3;
/// Evaluation schedules drawn per test sequence.
pub const EVAL_SCHEDULES_PER_SEQUENCE: usize = 5;

/// Progress messages of [`train_nested`].
#[derive(Debug, Clone)]
pub enum NestedProgress {
    /// An epoch finished.
    Epoch {
        /// 1-based epoch.
        epoch: usize,
        /// Mean training loss.
        loss: f64,
        /// Validation accuracy per width, in the order of the widths.
        validation: Vec<f64>,
        /// Validation accuracy under random width schedules.
        schedule_validation: f64,
        /// Seconds since training started.
        elapsed_s: f64,
    },
}

/// A trained nested model and its card.
#[derive(Debug, Clone)]
pub struct TrainedNested {
    /// The model.
    pub model: NestedGru,
    /// Its card.
    pub card: Card<NestedCard>,
}

struct CandleNested {
    cell: CandleCell,
    widths: Vec<usize>,
    readouts: Vec<(Var, Var)>,
}

impl CandleNested {
    /// PyTorch's initialisation: the cell uniform in ±1/√H, each readout uniform in ±1/√w (fan-in w).
    fn init(
        kind: CellKind,
        input: usize,
        widths: &[usize],
        classes: usize,
        rng: &mut Pcg64,
    ) -> candle_core::Result<CandleNested> {
        let hidden = *widths.last().expect("at least one width");
        let cell = CandleCell::init(kind, input, hidden, rng)?;
        let mut readouts = Vec::with_capacity(widths.len());
        for &w in widths {
            let bound = 1.0 / (w as f32).sqrt();
            readouts.push((uniform_var(rng, &[classes, w], bound)?, uniform_var(rng, &[classes], bound)?));
        }
        Ok(CandleNested { cell, widths: widths.to_vec(), readouts })
    }

    fn vars(&self) -> Vec<Var> {
        let mut vars = self.cell.vars();
        for (w, b) in &self.readouts {
            vars.push(w.clone());
            vars.push(b.clone());
        }
        vars
    }

    /// Logits `[N, C]` for inputs `[N, T, I]` where row `n` runs step `t` at width `schedules[n][t]`
    /// and is read out by the readout of its last step's width.
    fn forward(&self, xs: &Tensor, schedules: &[Vec<usize>]) -> candle_core::Result<Tensor> {
        let (rows, steps, _) = xs.dims3()?;
        let cell = &self.cell;
        let hidden = cell.hidden;
        let gates_input = cell.input_gates(xs)?;
        let weight_hh_t = cell.weight_hh_t()?;
        // The flat state: `h`, or `[h; c]` for an LSTM (whose `c` units are masked as `h`'s).
        let mut h = cell.zero_state(rows)?;
        let mut mask_values = vec![0.0f32; rows * hidden];
        for step in 0..steps {
            for (row, schedule) in mask_values.chunks_exact_mut(hidden).zip(schedules) {
                let width = schedule[step];
                row[..width].iter_mut().for_each(|v| *v = 1.0);
                row[width..].iter_mut().for_each(|v| *v = 0.0);
            }
            let mask = Tensor::from_slice(&mask_values, (rows, hidden), &Device::Cpu)?;
            let gi = &gates_input[step];
            let gh = cell.hidden_gates(&(&cell.h(&h)? * &mask)?, &weight_hh_t)?;
            let candidate = cell.update(gi, &gh, &h)?;
            let state_mask = match cell.kind {
                CellKind::Gru => mask,
                CellKind::Lstm => Tensor::cat(&[&mask, &mask], 1)?,
            };
            h = (&h + (state_mask * (candidate - &h)?)?)?;
        }
        let h = cell.h(&h)?;
        let mut logits: Option<Tensor> = None;
        for (&width, (weight, bias)) in self.widths.iter().zip(&self.readouts) {
            let select: Vec<f32> = schedules.iter().map(|s| if s[steps - 1] == width { 1.0 } else { 0.0 }).collect();
            if select.iter().all(|&v| v == 0.0) {
                continue;
            }
            let select = Tensor::from_vec(select, (rows, 1), &Device::Cpu)?;
            let part = h
                .narrow(1, 0, width)?
                .matmul(&weight.as_tensor().t()?)?
                .broadcast_add(bias.as_tensor())?
                .broadcast_mul(&select)?;
            logits = Some(match logits {
                None => part,
                Some(sum) => (sum + part)?,
            });
        }
        Ok(logits.expect("every row's last width has a readout"))
    }

    fn to_nested(&self, name: &str) -> candle_core::Result<NestedRnn> {
        let mut readouts = Vec::with_capacity(self.widths.len());
        for (&width, (w, b)) in self.widths.iter().zip(&self.readouts) {
            readouts.push(NestedReadout { width, weight: flat(w)?, bias: flat(b)? });
        }
        Ok(NestedRnn::new(name, self.cell.to_cell()?, self.widths.clone(), readouts)
            .expect("valid widths by construction"))
    }
}

/// Score (accuracy, or MSE for a regression set) of `model` on `set` with every step at `width`, with
/// the crate's own inference.
pub fn width_score(model: &NestedGru, set: &SequenceSet, width: usize) -> Score {
    let schedule = vec![width; set.steps];
    let mut scorer = Scorer::new(set);
    let mut outputs = vec![0.0; model.classes()];
    for i in 0..set.len() {
        model.outputs(set.unpadded(i), &schedule, &mut outputs);
        scorer.add(i, &outputs);
    }
    scorer.score()
}

/// Accuracy of `model` on a classification `set` with every step at `width` (see [`width_score`]).
pub fn width_accuracy(model: &NestedGru, set: &SequenceSet, width: usize) -> f64 {
    width_score(model, set, width).value()
}

/// Score under random width schedules: `per_sequence` schedules of `changes` changes
/// ([`random_width_schedule`] over the model's widths, from `Pcg64::seed_from_u64(seed)`) per
/// sequence of `set`, with the mean FLOPs per step and the paper's step-weighted prediction from the
/// static scores `static_score` (accuracy or MSE, one per width, in the model's order).
pub fn schedule_accuracy(
    model: &NestedGru,
    set: &SequenceSet,
    changes: usize,
    per_sequence: usize,
    seed: u64,
    static_score: &[f64],
) -> NestedCardSchedules {
    let mut rng = Pcg64::seed_from_u64(seed);
    let (mut runs, mut flops, mut predicted) = (0usize, 0.0f64, 0.0f64);
    let mut scorer = Scorer::new(set);
    let mut outputs = vec![0.0; model.classes()];
    for i in 0..set.len() {
        let steps = set.length(i);
        for _ in 0..per_sequence {
            let schedule = random_width_schedule(model.widths(), steps, changes, &mut rng);
            model.outputs(set.unpadded(i), &schedule, &mut outputs);
            scorer.add(i, &outputs);
            runs += 1;
            flops += schedule.iter().map(|&w| model.flops_per_step(w) as f64).sum::<f64>() / steps as f64;
            predicted += schedule
                .iter()
                .map(|&w| static_score[model.width_index(w).expect("schedule widths are listed")])
                .sum::<f64>()
                / steps as f64;
        }
    }
    let runs_f = runs.max(1) as f64;
    NestedCardSchedules {
        description: format!(
            "{per_sequence} random schedules per test sequence, each with {changes} width changes at distinct random steps, every segment's width uniform over the widths other than the previous one"
        ),
        changes,
        schedules_per_sequence: per_sequence,
        seed,
        test_score: scorer.score().value(),
        mean_flops_per_step: flops / runs_f,
        step_weighted_score: predicted / runs_f,
        accuracy_names: false,
    }
}

/// Trains a nested-width GRU on `set` split by `split` (see the module doc) and measures it: test
/// accuracy per width and under random schedules ([`EVAL_CHANGES`] changes,
/// [`EVAL_SCHEDULES_PER_SEQUENCE`] schedules per test sequence).
///
/// # Errors
/// [`TrainError`] from the autodiff library, or [`TrainError::Diverged`] if the loss is not finite.
pub fn train_nested(
    set: &SequenceSet,
    split: &Split,
    config: &NestedConfig,
    mut progress: impl FnMut(NestedProgress),
) -> Result<TrainedNested, TrainError> {
    let started = Instant::now();
    let mut widths = config.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    let hidden = *widths.last().expect("at least one width");
    let name = format!("nested-{}-{hidden}", config.cell);
    let train = set.subset(&split.train);
    let validation = set.subset(&split.validation);
    let test = set.subset(&split.test);
    let mut rng = Pcg64::seed_from_u64(config.seed);
    let model = CandleNested::init(config.cell, set.features, &widths, readout_size(set), &mut rng)?;
    let params = ParamsAdamW { lr: config.learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(model.vars(), params.clone())?;
    let middle: Vec<usize> = if widths.len() > 2 { widths[1..widths.len() - 1].to_vec() } else { widths.clone() };
    let mut order: Vec<usize> = (0..train.len()).collect();
    // Quality (accuracy, or −MSE) per width and under schedules on the validation split.
    let regression = set.is_regression();
    let quality = |v: f64| if regression { -v } else { v };
    let score = |m: &NestedGru| {
        let per_width: Vec<f64> = m.widths().iter().map(|&w| width_score(m, &validation, w).value()).collect();
        let schedules = schedule_accuracy(m, &validation, EVAL_CHANGES, 2, config.seed ^ 0x5EED, &per_width);
        (per_width, schedules.test_score)
    };
    let mut best: Option<(NestedGru, f64, usize)> = None;
    let mut losses = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        let progress_share = (epoch - 1) as f64 / config.epochs.max(1) as f64;
        let lr = config.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress_share).cos()));
        optimiser.set_params(ParamsAdamW { lr, ..params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let batch = chunk.len();
            let random_width = middle[rng.random_range(0..middle.len())];
            let schedules = training_schedules(&widths, train.steps, batch, random_width, config.max_changes, &mut rng);
            let mut values = Vec::with_capacity(4 * batch * train.steps * train.features);
            let repeated: Vec<usize> = (0..4).flat_map(|_| chunk.iter().copied()).collect();
            for &i in &repeated {
                values.extend_from_slice(train.sequence(i));
            }
            let xs = Tensor::from_vec(values, (4 * batch, train.steps, train.features), &Device::Cpu)?;
            let ys = targets_tensor(&train, &repeated)?;
            let logits = model.forward(&xs, &schedules)?;
            let hard = task_loss(&logits, &ys)?;
            let soft = if regression {
                // Soft targets of a regression model: the widest width's (detached) outputs.
                let teacher = logits.narrow(0, 0, batch)?.detach();
                let teacher = Tensor::cat(&[&teacher, &teacher, &teacher], 0)?;
                candle_nn::loss::mse(&logits.narrow(0, batch, 3 * batch)?, &teacher)?
            } else {
                let teacher = candle_nn::ops::softmax(&logits.narrow(0, 0, batch)?.detach(), D::Minus1)?;
                let teacher = Tensor::cat(&[&teacher, &teacher, &teacher], 0)?;
                let students = candle_nn::ops::log_softmax(&logits.narrow(0, batch, 3 * batch)?, D::Minus1)?;
                (teacher * students)?.sum(1)?.mean_all()?.neg()?
            };
            let loss = (hard + (soft * config.distill_weight)?)?;
            let mut grads = loss.backward()?;
            clip_gradients(&model.vars(), &mut grads, config.clip_norm)?;
            optimiser.step(&grads)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { hidden, epoch, loss });
        }
        losses.push(loss);
        let candidate = model.to_nested(&name)?;
        let (per_width, schedule_validation) = score(&candidate);
        let mean = (per_width.iter().map(|&v| quality(v)).sum::<f64>() + quality(schedule_validation))
            / (per_width.len() + 1) as f64;
        progress(NestedProgress::Epoch {
            epoch,
            loss,
            validation: per_width,
            schedule_validation,
            elapsed_s: started.elapsed().as_secs_f64(),
        });
        if best.as_ref().is_none_or(|(_, m, _)| mean > *m) {
            best = Some((candidate, mean, epoch));
        }
    }
    let (model, _, best_epoch) = best.expect("at least one epoch");
    let validation_score: Vec<Score> = widths.iter().map(|&w| width_score(&model, &validation, w)).collect();
    let test_score: Vec<Score> = widths.iter().map(|&w| width_score(&model, &test, w)).collect();
    let test_values: Vec<f64> = test_score.iter().map(|s| s.value()).collect();
    let schedules =
        schedule_accuracy(&model, &test, EVAL_CHANGES, EVAL_SCHEDULES_PER_SEQUENCE, config.seed, &test_values);
    let part = NestedCard {
        name: name.clone(),
        hidden,
        param_bytes: model.param_bytes(),
        widths: widths
            .iter()
            .enumerate()
            .map(|(k, &width)| NestedCardWidth {
                width,
                flops_per_step: model.flops_per_step(width),
                flops_readout: model.flops_readout(width),
                test_accuracy: test_score[k].accuracy(),
                validation_accuracy: validation_score[k].accuracy(),
                test_mse: test_score[k].mse(),
                validation_mse: validation_score[k].mse(),
            })
            .collect(),
        schedules,
        best_epoch,
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
                "AdamW (lr {}, cosine decay to 5%, weight decay 1e-4), gradient-norm clip {}; sandwich rule per batch (widest, narrowest, a random middle width, {}), the task loss on the true targets for all plus {} × a soft-target term against the widest's detached outputs for the others (cross-entropy against its softmax; squared error for regression); epoch with the best mean validation score (per width and under schedules) kept",
                config.learning_rate,
                config.clip_norm,
                if config.max_changes == 0 {
                    "one random width per sequence with no change (max changes 0)".to_string()
                } else {
                    format!("a random schedule of 1-{} width changes per sequence", config.max_changes)
                },
                config.distill_weight
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
    Ok(TrainedNested { model, card })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest absolute difference allowed between the crate's inference and the autodiff forward.
    const AUTODIFF_ATOL: f32 = 1e-5;

    /// The batched, masked training graph computes what the crate's nested inference computes, under
    /// static widths and mid-sequence changes alike.
    #[test]
    fn masked_training_forward_matches_nested_inference() {
        let mut rng = Pcg64::seed_from_u64(3);
        let widths = [4, 8, 24];
        for input in [1, 3] {
            let model = CandleNested::init(CellKind::Gru, input, &widths, 5, &mut rng).unwrap();
            let ours = model.to_nested("n").unwrap();
            let steps = 15;
            let mut schedules = vec![vec![24; steps], vec![4; steps], vec![8; steps]];
            for changes in [1, 3, 6] {
                schedules.push(random_width_schedule(&widths, steps, changes, &mut rng));
            }
            let rows = schedules.len();
            let values: Vec<f32> = (0..rows * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (rows, steps, input), &Device::Cpu).unwrap();
            let logits = model.forward(&xs, &schedules).unwrap().to_vec2::<f32>().unwrap();
            for (row, schedule) in schedules.iter().enumerate() {
                let mut h = vec![0.0f32; 24];
                let mut scratch = crate::rnn::NestedScratch::new(24);
                for (x, &w) in values[row * steps * input..(row + 1) * steps * input].chunks_exact(input).zip(schedule)
                {
                    ours.step(w, x, &mut h, &mut scratch);
                }
                let mut expected = vec![0.0f32; 5];
                ours.logits_into(schedule[steps - 1], &h, &mut expected);
                let worst = expected.iter().zip(&logits[row]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "I={input} schedule {schedule:?}: max abs diff {worst}");
            }
        }
    }

    #[test]
    fn a_short_training_run_learns_and_fills_the_card() {
        // A tiny, easy task: the class is whether the mean input is above 0.5.
        let mut rng = Pcg64::seed_from_u64(1);
        let (n, steps) = (120, 8);
        let mut values = Vec::new();
        let mut labels = Vec::new();
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
        let split = Split::stratified(&set.labels, 2, 1, 0.25, 0.2);
        let config = NestedConfig {
            cell: CellKind::Gru,
            widths: vec![8, 2, 4],
            epochs: 12,
            batch_size: 16,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed: 4,
            max_changes: 2,
            distill_weight: 1.0,
            command: "test".into(),
        };
        let mut epochs = 0;
        let trained = train_nested(&set, &split, &config, |_| epochs += 1).unwrap();
        assert_eq!(epochs, 12);
        let card = &trained.card.family;
        assert_eq!(card.widths.iter().map(|w| w.width).collect::<Vec<_>>(), [2, 4, 8]);
        assert_eq!(card.hidden, 8);
        assert_eq!(card.param_bytes, trained.model.param_bytes());
        for entry in &card.widths {
            assert!(entry.test_accuracy.unwrap() >= 0.8, "width {}: {:?}", entry.width, entry.test_accuracy);
        }
        assert!(card.schedules.test_score >= 0.8, "{:?}", card.schedules);
    }

    /// The masked graph with LSTM cells (`h` and `c` masked alike) computes what the crate's nested
    /// LSTM computes, under static widths and mid-sequence changes.
    #[test]
    fn lstm_masked_training_forward_matches_nested_inference() {
        let mut rng = Pcg64::seed_from_u64(8);
        let widths = [4, 8, 24];
        for input in [1, 3] {
            let model = CandleNested::init(CellKind::Lstm, input, &widths, 5, &mut rng).unwrap();
            let ours = model.to_nested("n").unwrap();
            assert_eq!(ours.state_len(), 48);
            let steps = 15;
            let mut schedules = vec![vec![24; steps], vec![4; steps], vec![8; steps]];
            for changes in [1, 3, 6] {
                schedules.push(random_width_schedule(&widths, steps, changes, &mut rng));
            }
            let rows = schedules.len();
            let values: Vec<f32> = (0..rows * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (rows, steps, input), &Device::Cpu).unwrap();
            let logits = model.forward(&xs, &schedules).unwrap().to_vec2::<f32>().unwrap();
            for (row, schedule) in schedules.iter().enumerate() {
                let mut state = vec![0.0f32; 48];
                let mut scratch = crate::rnn::NestedScratch::new(24);
                for (x, &w) in values[row * steps * input..(row + 1) * steps * input].chunks_exact(input).zip(schedule)
                {
                    ours.step(w, x, &mut state, &mut scratch);
                }
                let mut expected = vec![0.0f32; 5];
                ours.logits_into(schedule[steps - 1], &state, &mut expected);
                let worst = expected.iter().zip(&logits[row]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst <= AUTODIFF_ATOL, "I={input} schedule {schedule:?}: max abs diff {worst}");
            }
        }
    }

    #[test]
    fn a_short_nested_lstm_run_learns_at_every_width() {
        let (set, split) = super::super::toy_task(120, 8, 7);
        let config = NestedConfig {
            cell: CellKind::Lstm,
            widths: vec![8, 2, 4],
            epochs: 20,
            batch_size: 16,
            learning_rate: 0.03,
            clip_norm: 1.0,
            seed: 4,
            max_changes: 2,
            distill_weight: 1.0,
            command: "test".into(),
        };
        let trained = train_nested(&set, &split, &config, |_| {}).unwrap();
        assert_eq!(trained.card.cell, CellKind::Lstm);
        let card = &trained.card.family;
        assert_eq!((card.name.as_str(), card.hidden), ("nested-lstm-8", 8));
        for entry in &card.widths {
            assert_eq!(entry.flops_per_step as usize, 8 * entry.width * (1 + entry.width) + 21 * entry.width);
            assert!(entry.test_accuracy.unwrap() >= 0.8, "width {}: {:?}", entry.width, entry.test_accuracy);
        }
        assert!(card.schedules.test_score >= 0.8, "{:?}", card.schedules);
    }

    #[test]
    fn max_changes_zero_trains_with_no_width_change() {
        let widths = [4, 8, 16, 32];
        let mut rng = Pcg64::seed_from_u64(3);
        let schedules = training_schedules(&widths, 20, 50, 8, 0, &mut rng);
        assert_eq!(schedules.len(), 200);
        for (row, schedule) in schedules.iter().enumerate() {
            assert!(schedule.iter().all(|&w| w == schedule[0]), "row {row}: {schedule:?} changes width");
        }
        // The fourth group still draws its one width at random (not always the same).
        let group4: std::collections::BTreeSet<usize> = schedules[150..].iter().map(|s| s[0]).collect();
        assert!(group4.len() > 1, "{group4:?}");
        // max_changes 1 really changes once per sequence of the fourth group (regression guard of
        // the old `.max(1)`: 0 and 1 used to be the same).
        let one = training_schedules(&widths, 20, 50, 8, 1, &mut rng);
        for schedule in &one[150..] {
            assert_eq!(schedule.windows(2).filter(|p| p[0] != p[1]).count(), 1, "{schedule:?}");
        }
        assert!(one[..150].iter().all(|s| s.iter().all(|&w| w == s[0])));
    }
}
