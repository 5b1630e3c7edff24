//! Training a model-switching bank: one GRU (or LSTM) classifier per width, then a ridge state map for
//! every ordered pair of widths (Lambert et al. 2020, §4, with the hidden state carried through a
//! learned linear map when the sizes differ). An LSTM bank's maps act on the flat state `[h; c]`
//! (`2H_from → 2H_to`): `h` and `c` are carried together, each target unit fitted on both.

//!
//! Switch-aware fine-tuning ([`fine_tune_bank`], `flexrnn train --switch-epochs N`): the maps become
//! trainable, initialised by the ridge fit, and members and maps are trained jointly on sequences run
//! under random switch schedules, exactly as [`crate::rnn::FlexibleModel`] runs them (at a change
//! before step `t`, the state after step `t − 1` goes through the map, then the receiving model runs
//! step `t`; the readout is that of the model of the last step). Loss = task loss of the mixed run +
//! `w_alone` · mean of the members' own task losses run alone + `w_match` · mean over changes of
//! the MSE between the mapped state and the state the receiving model has at that step when it runs
//! the sequence alone (the target held fixed: the map is fitted on the task loss and kept in
//! distribution by the direct matching term, as in the model-stitching literature). The epoch with
//! the best validation objective is kept, the starting point (epoch 0) included, so the result is
//! never worse than the ridge maps on that measure.

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{BankCard, BankFamily, Card, CardMap, CardModel, CardSwitchFineTune, CardTraining};
use crate::rnn::{truncate_pad_map, CellScratch, GruClassifier, ModelBank, StateMap};

use super::{
    batch_tensor, clip_gradients, fit_state_map, flat, hidden_states, map_mse, score, task_loss, train_classifier,
    CandleClassifier, Score, Scorer, TrainConfig, TrainError,
};

/// Settings of [`train_bank`].
#[derive(Debug, Clone)]
pub struct BankConfig {
    /// Hidden sizes, one model each (named `gru-<H>`, or `lstm-<H>` with LSTM cells).
    pub widths: Vec<usize>,
    /// Per-model settings (and the cell, [`TrainConfig::cell`]); `hidden` is overwritten by each width.
    pub base: TrainConfig,
    /// The command line that was run, recorded in the card.
    pub command: String,
}

/// A trained bank and its card.
#[derive(Debug, Clone)]
pub struct TrainedBank {
    /// The models and maps.
    pub bank: ModelBank,
    /// The maps with their names, for writing.
    pub maps: Vec<(String, String, StateMap)>,
    /// The card describing them.
    pub card: Card<BankCard>,
}

/// Progress messages of [`train_bank`].
#[derive(Debug, Clone)]
pub enum BankProgress {
    /// An epoch of the model of width `hidden` finished.
    Epoch {
        /// Width being trained.
        hidden: usize,
        /// 1-based epoch.
        epoch: usize,
        /// Mean training loss.
        loss: f64,
        /// Validation score after the epoch.
        validation: Score,
    },
    /// A model is done.
    ModelDone {
        /// Width.
        hidden: usize,
        /// Test score.
        test: Score,
    },
    /// A state map is fitted.
    MapDone {
        /// Source width.
        from: usize,
        /// Target width.
        to: usize,
        /// Test MSE, learned map.
        mse: f64,
        /// Test MSE, truncation / padding.
        mse_truncate_pad: f64,
    },
}

/// Trains the bank on `set` split by `split`. With [`TrainConfig::threads`] above 1 the members
/// train at once, up to that many (the widest first), each on `threads / members at once` threads
/// for its micro-batches; every member's training is its own (own seeded initialisation and batch
/// order), so the bank's bits do not depend on the thread count. `progress` is called from the
/// training threads (one at a time).
///
/// # Errors
/// [`TrainError`] from the autodiff library or a singular ridge system.
pub fn train_bank(
    set: &SequenceSet,
    split: &Split,
    config: &BankConfig,
    progress: impl FnMut(BankProgress) + Send,
) -> Result<TrainedBank, TrainError> {
    let started = Instant::now();
    let train = set.subset(&split.train);
    let validation = set.subset(&split.validation);
    let test = set.subset(&split.test);
    let mut widths = config.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    let progress = std::sync::Mutex::new(progress);
    let report = |p: BankProgress| (progress.lock().expect("a training thread panicked"))(p);
    let train_member = |hidden: usize, threads: usize| -> Result<(GruClassifier, CardModel), TrainError> {
        let model_started = Instant::now();
        let model_config = TrainConfig { hidden, threads, ..config.base.clone() };
        let (model, trained) = train_classifier(
            &format!("{}-{hidden}", config.base.cell),
            &train,
            &validation,
            &model_config,
            |epoch, loss, validation| report(BankProgress::Epoch { hidden, epoch, loss, validation }),
        )?;
        let test_score = score(&model, &test);
        report(BankProgress::ModelDone { hidden, test: test_score });
        let card_model = CardModel {
            name: model.name.clone(),
            hidden,
            flops_per_step: model.cell.flops_per_step(),
            flops_readout: model.flops_readout(),
            param_bytes: model.param_bytes(),
            test_accuracy: test_score.accuracy(),
            validation_accuracy: trained.validation.accuracy(),
            test_mse: test_score.mse(),
            validation_mse: trained.validation.mse(),
            best_epoch: trained.best_epoch,
            train_wall_s: model_started.elapsed().as_secs_f64(),
            family: Some(config.base.cell.as_str().into()),
            flops_per_skip: None,
            budget_lambda: None,
            knob_grid: Vec::new(),
        };
        Ok((model, card_model))
    };
    let at_once = config.base.threads.clamp(1, widths.len().max(1));
    let members: Vec<(GruClassifier, CardModel)> = if at_once == 1 {
        widths.iter().map(|&hidden| train_member(hidden, config.base.threads)).collect::<Result<_, _>>()?
    } else {
        // Workers take the widest untrained member next; results are put back in width order.
        let per_member = (config.base.threads / at_once).max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done: Vec<Vec<(usize, Result<_, TrainError>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..at_once)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(index) = widths.len().checked_sub(k + 1) else { break };
                            mine.push((index, train_member(widths[index], per_member)));
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("a member's training thread panicked")).collect()
        });
        let mut slots: Vec<Option<Result<_, TrainError>>> = (0..widths.len()).map(|_| None).collect();
        for (index, result) in done.into_iter().flatten() {
            slots[index] = Some(result);
        }
        slots.into_iter().map(|slot| slot.expect("every member trained")).collect::<Result<_, _>>()?
    };
    let (models, card_models): (Vec<GruClassifier>, Vec<CardModel>) = members.into_iter().unzip();
    let (maps, named_maps, card_maps) =
        fit_bank_maps(&models, &train, &validation, &test, |from, to, mse, mse_truncate_pad| {
            report(BankProgress::MapDone { from, to, mse, mse_truncate_pad })
        })?;
    let card = Card {
        task: set.name.clone(),
        cell: config.base.cell,
        layers: 1,
        input: set.features,
        classes: set.classes,
        family: BankCard { kind: BankFamily::Switch, models: card_models, maps: card_maps, switch_fine_tune: None },
        training: Some(CardTraining {
            command: config.command.clone(),
            seed: config.base.seed,
            autodiff: "candle-core 0.11 / candle-nn 0.11 (CPU)".into(),
            optimiser: format!(
                "AdamW (lr {}, cosine decay to 5%, weight decay 1e-4), gradient-norm clip {}, {} on the last step; epoch with the best validation score kept",
                config.base.learning_rate,
                config.base.clip_norm,
                super::loss_name(set)
            ),
            epochs: config.base.epochs,
            batch_size: config.base.batch_size,
            wall_time_s: started.elapsed().as_secs_f64(),
            split: split.clone(),
            thr_training: None,
        }),
        import: None,
        seeds: None,
    };
    let bank = ModelBank::new(models, maps).expect("every ordered pair has a fitted map of the right shape");
    Ok(TrainedBank { bank, maps: named_maps, card })
}

/// Settings of the switch-aware fine-tuning ([`fine_tune_bank`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchConfig {
    /// Fine-tuning epochs (passes over the training set); 0 = no fine-tuning.
    pub epochs: usize,
    /// AdamW learning rate of the maps (cosine decay to 5 % over the epochs).
    pub learning_rate: f64,
    /// AdamW learning rate of the members' weights (same decay); 0 freezes the members.
    pub member_learning_rate: f64,
    /// Most changes of model per training run; each run has 1 to this many, at distinct random steps.
    pub max_changes: usize,
    /// Weight of the members' own task loss, each run alone.
    pub weight_alone: f64,
    /// Weight of the state-matching term.
    pub weight_match: f64,
    /// Random switch schedules run per mini-batch (the whole batch shares each schedule).
    pub schedules_per_batch: usize,
    /// Fixed seeded schedules per validation sequence for choosing the epoch.
    pub validation_schedules: usize,
    /// Sequences per mini-batch.
    pub batch_size: usize,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Seed of the batch order and the schedules.
    pub seed: u64,
}

impl Default for SwitchConfig {
    /// No fine-tuning (`epochs` 0); the other values are the `flexrnn train` defaults.
    fn default() -> SwitchConfig {
        SwitchConfig {
            epochs: 0,
            learning_rate: 3e-3,
            member_learning_rate: 3e-4,
            max_changes: 3,
            weight_alone: 1.0,
            weight_match: 0.1,
            schedules_per_batch: 2,
            validation_schedules: 4,
            batch_size: 32,
            clip_norm: 1.0,
            seed: 1,
        }
    }
}

/// The state maps of a bank, as `flexrnn train` fits them and `flexrnn import --fit-maps-on` reuses
/// them: for every ordered pair of different models, an affine map of flat states (every layer's
/// state for stacked cells) fitted by ridge regression ([`fit_state_map`]) on the states of `train`
/// after every step, `λ` chosen on those of `validation`, and measured on those of `test` next to
/// truncation / zero padding (for a stacked cell, [`truncate_pad_map`] layer by layer). `progress`
/// receives `(H_from, H_to, test MSE, test MSE of truncation)` per map. Returns the maps by model
/// index (for [`ModelBank::new`]), by name (for `maps.safetensors`) and the card entries.
///
/// # Errors
/// [`TrainError::Singular`] if a ridge system cannot be solved.
#[allow(clippy::type_complexity)]
pub fn fit_bank_maps(
    models: &[GruClassifier],
    train: &SequenceSet,
    validation: &SequenceSet,
    test: &SequenceSet,
    mut progress: impl FnMut(usize, usize, f64, f64),
) -> Result<(Vec<(usize, usize, StateMap)>, Vec<(String, String, StateMap)>, Vec<CardMap>), TrainError> {
    let states = |set: &SequenceSet| models.iter().map(|m| hidden_states(m, set)).collect::<Vec<_>>();
    let (train_states, validation_states, test_states) = (states(train), states(validation), states(test));
    let mut maps = Vec::new();
    let mut named_maps = Vec::new();
    let mut card_maps = Vec::new();
    for (from, a) in models.iter().enumerate() {
        for (to, b) in models.iter().enumerate() {
            if from == to {
                continue;
            }
            let (ha, hb) = (a.state_len(), b.state_len());
            let (map, ridge_lambda) = fit_state_map(
                &train_states[from],
                &train_states[to],
                &validation_states[from],
                &validation_states[to],
                ha,
                hb,
            )?;
            let test_mse = map_mse(Some(&map), &test_states[from], ha, &test_states[to], hb);
            let layers = a.cell.layers();
            let truncation =
                (layers > 1).then(|| truncate_pad_map(a.cell_kind(), layers, a.hidden_size(), b.hidden_size()));
            let test_mse_truncate_pad = map_mse(truncation.as_ref(), &test_states[from], ha, &test_states[to], hb);
            progress(a.hidden_size(), b.hidden_size(), test_mse, test_mse_truncate_pad);
            card_maps.push(CardMap {
                from: a.name.clone(),
                to: b.name.clone(),
                flops: map.flops(),
                ridge_lambda,
                test_mse,
                test_mse_truncate_pad,
            });
            named_maps.push((a.name.clone(), b.name.clone(), map.clone()));
            maps.push((from, to, map));
        }
    }
    Ok((maps, named_maps, card_maps))
}

/// A switch schedule: `(first step, model)` pairs, the first at step 0, steps increasing, each model
/// different from the one before.
pub type Schedule = Vec<(usize, usize)>;

/// A random schedule over `models` models for a sequence of `length` steps: 1 to `max_changes` changes
/// (fewer if the sequence is too short) at distinct steps in `1..length`, each to a model other than
/// the current one, drawn uniformly. One model or fewer than 2 steps: no change.
pub fn random_schedule(rng: &mut Pcg64, models: usize, length: usize, max_changes: usize) -> Schedule {
    let first = rng.random_range(0..models.max(1));
    let most = max_changes.min(length.saturating_sub(1));
    if models < 2 || most == 0 {
        return vec![(0, first)];
    }
    let changes = rng.random_range(1..=most);
    let steps = crate::rnn::change_steps(length, changes, rng);
    let mut schedule = vec![(0, first)];
    for step in steps {
        let current = schedule.last().expect("not empty").1;
        let other = rng.random_range(0..models - 1);
        schedule.push((step, if other >= current { other + 1 } else { other }));
    }
    schedule
}

/// Readout outputs of `bank` for the (unpadded) `sequence` run under `schedule`, as
/// [`crate::rnn::FlexibleModel::step`] runs it: at a change before step `t` the state is carried by
/// the bank's maps, then the new model runs step `t`; the readout is that of the last model.
pub fn run_schedule(bank: &ModelBank, sequence: &[f32], schedule: &Schedule, out: &mut [f32]) {
    let models = bank.models();
    let input = models[0].cell.input_size();
    let mut state = vec![0.0f32; bank.max_state_len()];
    let mut spare = vec![0.0f32; bank.max_state_len()];
    let mut scratch = CellScratch::new(bank.max_hidden());
    let mut current = schedule[0].1;
    let mut next = 1;
    for (t, x) in sequence.chunks_exact(input).enumerate() {
        if next < schedule.len() && schedule[next].0 == t {
            bank.carry_state(current, schedule[next].1, &mut state, &mut spare);
            current = schedule[next].1;
            next += 1;
        }
        let len = models[current].state_len();
        models[current].cell.step(x, &mut state[..len], &mut scratch);
    }
    let hidden = models[current].hidden_size();
    models[current].logits_into(&state[..hidden], out);
}

/// Fixed schedules for the sequences of `set`: `per_sequence` each, drawn from `seed`.
pub fn validation_schedules(
    set: &SequenceSet,
    models: usize,
    max_changes: usize,
    per_sequence: usize,
    seed: u64,
) -> Vec<Vec<Schedule>> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x005E_ED0F_5C4E_D17E);
    (0..set.len())
        .map(|i| (0..per_sequence).map(|_| random_schedule(&mut rng, models, set.length(i), max_changes)).collect())
        .collect()
}

/// Score of `bank` over the mixed runs `schedules` (one list per sequence of `set`).
pub fn mixed_score(bank: &ModelBank, set: &SequenceSet, schedules: &[Vec<Schedule>]) -> Score {
    let mut scorer = Scorer::new(set);
    let mut out = vec![0.0f32; bank.models()[0].classes()];
    for (i, list) in schedules.iter().enumerate() {
        for schedule in list {
            run_schedule(bank, set.unpadded(i), schedule, &mut out);
            scorer.add(i, &out);
        }
    }
    scorer.score()
}

/// The selection objective of [`fine_tune_bank`]: quality (accuracy, or −MSE) of the mixed runs plus
/// the members' mean quality alone; with the mixed score.
fn objective(bank: &ModelBank, set: &SequenceSet, schedules: &[Vec<Schedule>]) -> (f64, Score) {
    let mixed = mixed_score(bank, set, schedules);
    let alone = bank.models().iter().map(|m| score(m, set).quality()).sum::<f64>() / bank.models().len() as f64;
    (mixed.quality() + alone, mixed)
}

/// What [`fine_tune_bank`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchReport {
    /// Validation objective per epoch, index 0 = the starting point.
    pub objectives: Vec<f64>,
    /// The kept epoch (0: the starting point).
    pub chosen_epoch: usize,
    /// Validation mixed-run score at the start and with the kept weights.
    pub mixed_start: Score,
    /// See `mixed_start`.
    pub mixed_chosen: Score,
    /// Mean training loss per epoch.
    pub losses: Vec<f64>,
    /// Wall time, seconds.
    pub wall_time_s: f64,
}

/// A trainable map in `candle`.
struct CandleMap {
    weight: Var,
    bias: Var,
}

/// The maps of `bank` as a dense `from · n + to` table (`None`: identity or the same model).
fn direct_maps(bank: &ModelBank) -> Vec<Option<StateMap>> {
    let n = bank.models().len();
    (0..n * n).map(|k| if k / n == k % n { None } else { bank.switch(k / n, k % n).flatten().cloned() }).collect()
}

/// Fine-tunes `bank` (its members and every direct map) with switches inside sequences (see the
/// module documentation for the loss); `progress(epoch, loss, objective)` after each epoch. Every
/// switch must be direct (a map, or equal sizes), as [`train_bank`] builds them.
///
/// # Errors
/// [`TrainError`] from the autodiff library or a diverged loss.
pub fn fine_tune_bank(
    bank: &ModelBank,
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &SwitchConfig,
    mut progress: impl FnMut(usize, f64, f64),
) -> Result<(ModelBank, SwitchReport), TrainError> {
    let started = Instant::now();
    let n = bank.models().len();
    let names: Vec<String> = bank.models().iter().map(|m| m.name.clone()).collect();
    let members =
        bank.models().iter().map(CandleClassifier::from_classifier).collect::<candle_core::Result<Vec<_>>>()?;
    let maps: Vec<Option<CandleMap>> = direct_maps(bank)
        .iter()
        .map(|map| {
            map.as_ref()
                .map(|m| {
                    Ok::<_, candle_core::Error>(CandleMap {
                        weight: Var::from_vec(m.weight.clone(), (m.to_hidden, m.from_hidden), &Device::Cpu)?,
                        bias: Var::from_vec(m.bias.clone(), m.to_hidden, &Device::Cpu)?,
                    })
                })
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    let map_vars: Vec<Var> = maps.iter().flatten().flat_map(|m| [m.weight.clone(), m.bias.clone()]).collect();
    let member_vars: Vec<Var> = members.iter().flat_map(CandleClassifier::vars).collect();
    let frozen = config.member_learning_rate <= 0.0;
    let all_vars: Vec<Var> = map_vars.iter().chain(if frozen { &[][..] } else { &member_vars[..] }).cloned().collect();
    let snapshot = |members: &[CandleClassifier], maps: &[Option<CandleMap>]| -> Result<ModelBank, TrainError> {
        let models = members
            .iter()
            .zip(&names)
            .map(|(m, name)| m.to_classifier(name))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut list = Vec::new();
        for (k, map) in maps.iter().enumerate() {
            if let Some(map) = map {
                let (to_hidden, from_hidden) = map.weight.dims2()?;
                list.push((
                    k / n,
                    k % n,
                    StateMap { from_hidden, to_hidden, weight: flat(&map.weight)?, bias: flat(&map.bias)? },
                ));
            }
        }
        Ok(ModelBank::new(models, list).expect("shapes unchanged by training"))
    };
    let schedules = validation_schedules(validation, n, config.max_changes, config.validation_schedules, config.seed);
    let (start_objective, mixed_start) = objective(bank, validation, &schedules);
    let mut best = (bank.clone(), start_objective, 0usize, mixed_start);
    let mut objectives = vec![start_objective];
    let mut losses = Vec::with_capacity(config.epochs);
    let map_params = ParamsAdamW { lr: config.learning_rate, weight_decay: 0.0, ..ParamsAdamW::default() };
    let member_params = ParamsAdamW { lr: config.member_learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut map_optimiser = AdamW::new(map_vars.clone(), map_params.clone())?;
    let mut member_optimiser = AdamW::new(member_vars.clone(), member_params.clone())?;
    let mut rng = Pcg64::seed_from_u64(config.seed ^ 0x5717_C4A7_0000_0001);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let steps = train.steps;
    for epoch in 1..=config.epochs {
        let progress_share = (epoch - 1) as f64 / config.epochs as f64;
        let decay = 0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress_share).cos());
        map_optimiser.set_params(ParamsAdamW { lr: config.learning_rate * decay, ..map_params.clone() });
        member_optimiser.set_params(ParamsAdamW { lr: config.member_learning_rate * decay, ..member_params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let (xs, ys) = batch_tensor(train, chunk)?;
            let lengths: Vec<usize> = chunk.iter().map(|&i| train.length(i)).collect();
            let shortest = lengths.iter().copied().min().unwrap_or(steps);
            let masks: Option<Vec<Tensor>> = if train.is_fixed_length() {
                None
            } else {
                Some(
                    (0..steps)
                        .map(|t| {
                            let m: Vec<f32> = lengths.iter().map(|&l| if t < l { 1.0 } else { 0.0 }).collect();
                            Tensor::from_vec(m, (chunk.len(), 1), &Device::Cpu)
                        })
                        .collect::<candle_core::Result<_>>()?,
                )
            };
            let step = |m: &CandleClassifier, gi: &Tensor, w: &Tensor, state: &Tensor, t: usize| {
                let next = m.cell.step(gi, state, w)?;
                match &masks {
                    None => Ok::<_, candle_core::Error>(next),
                    Some(masks) => state + (next - state)?.broadcast_mul(&masks[t])?,
                }
            };
            // Every member alone: its states after 0..=T steps (prefixes of the mixed runs, matching
            // targets) and its own task loss.
            let mut gates = Vec::with_capacity(n);
            let mut weights_hh = Vec::with_capacity(n);
            let mut alone_states: Vec<Vec<Tensor>> = Vec::with_capacity(n);
            let mut alone_loss = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu)?;
            for m in &members {
                let gi = m.cell.input_gates(&xs)?;
                let w = m.cell.weight_hh_t()?;
                let mut states = vec![m.cell.zero_state(chunk.len())?];
                for (t, g) in gi.iter().enumerate() {
                    let next = step(m, g, &w, states.last().expect("not empty"), t)?;
                    states.push(next);
                }
                let logits = m.readout(&m.cell.h(states.last().expect("not empty"))?)?;
                alone_loss = (alone_loss + task_loss(&logits, &ys)?)?;
                gates.push(gi);
                weights_hh.push(w);
                alone_states.push(states);
            }
            let alone_loss = (alone_loss / n as f64)?;
            let mut mixed_loss = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu)?;
            let mut match_loss = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu)?;
            let mut matches = 0usize;
            for _ in 0..config.schedules_per_batch.max(1) {
                let schedule = random_schedule(&mut rng, n, shortest, config.max_changes);
                let mut current = schedule[0].1;
                let first_change = schedule.get(1).map_or(steps, |s| s.0);
                let mut state = alone_states[current][first_change].clone();
                for (k, &(change, model)) in schedule.iter().enumerate().skip(1) {
                    let end = schedule.get(k + 1).map_or(steps, |s| s.0);
                    if let Some(map) = &maps[current * n + model] {
                        let mapped = state.matmul(&map.weight.as_tensor().t()?)?.broadcast_add(map.bias.as_tensor())?;
                        let target = alone_states[model][change].detach();
                        match_loss = (match_loss + candle_nn::loss::mse(&mapped, &target)?)?;
                        matches += 1;
                        state = mapped;
                    }
                    current = model;
                    for (t, gate) in gates[model].iter().enumerate().take(end).skip(change) {
                        state = step(&members[model], gate, &weights_hh[model], &state, t)?;
                    }
                }
                let logits = members[current].readout(&members[current].cell.h(&state)?)?;
                mixed_loss = (mixed_loss + task_loss(&logits, &ys)?)?;
            }
            let mixed_loss = (mixed_loss / config.schedules_per_batch.max(1) as f64)?;
            let mut loss = mixed_loss;
            if !frozen && config.weight_alone > 0.0 {
                loss = (loss + (alone_loss * config.weight_alone)?)?;
            }
            if matches > 0 && config.weight_match > 0.0 {
                loss = (loss + (match_loss * (config.weight_match / matches as f64))?)?;
            }
            let mut grads = loss.backward()?;
            clip_gradients(&all_vars, &mut grads, config.clip_norm)?;
            map_optimiser.step(&grads)?;
            if !frozen {
                member_optimiser.step(&grads)?;
            }
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::FineTuneDiverged {
                phase: "the bank's members and maps",
                epoch,
                loss,
                flags: "--switch-lr / --switch-member-lr or --clip-norm",
            });
        }
        losses.push(loss);
        let candidate = snapshot(&members, &maps)?;
        let (value, mixed) = objective(&candidate, validation, &schedules);
        objectives.push(value);
        progress(epoch, loss, value);
        if value > best.1 {
            best = (candidate, value, epoch, mixed);
        }
    }
    let (bank, _, chosen_epoch, mixed_chosen) = best;
    let report = SwitchReport {
        objectives,
        chosen_epoch,
        mixed_start,
        mixed_chosen,
        losses,
        wall_time_s: started.elapsed().as_secs_f64(),
    };
    Ok((bank, report))
}

/// The maps of `bank` with their names, in the order of the card's `maps`.
pub fn named_maps(bank: &ModelBank) -> Vec<(String, String, StateMap)> {
    let n = bank.models().len();
    let mut out = Vec::new();
    for (k, map) in direct_maps(bank).into_iter().enumerate() {
        if let Some(map) = map {
            out.push((bank.models()[k / n].name.clone(), bank.models()[k % n].name.clone(), map));
        }
    }
    out
}

/// Fine-tunes a trained bank and its card in place: the card's member scores and map MSEs are
/// measured again on the new weights (the maps keep their `ridge_lambda`, that of their
/// initialisation) and `switch_fine_tune` records the fine-tuning. `init_from` names the folder the
/// bank came from, if any; `command` is the fine-tuning command line.
///
/// # Errors
/// [`TrainError`] from [`fine_tune_bank`].
pub fn fine_tune_trained(
    trained: TrainedBank,
    set: &SequenceSet,
    split: &Split,
    config: &SwitchConfig,
    init_from: Option<String>,
    command: String,
    progress: impl FnMut(usize, f64, f64),
) -> Result<TrainedBank, TrainError> {
    let train = set.subset(&split.train);
    let validation = set.subset(&split.validation);
    let test = set.subset(&split.test);
    let (bank, report) = fine_tune_bank(&trained.bank, &train, &validation, config, progress)?;
    let mut card = trained.card;
    for (model, entry) in bank.models().iter().zip(card.family.models.iter_mut()) {
        let (on_test, on_validation) = (score(model, &test), score(model, &validation));
        entry.test_accuracy = on_test.accuracy();
        entry.test_mse = on_test.mse();
        entry.validation_accuracy = on_validation.accuracy();
        entry.validation_mse = on_validation.mse();
    }
    let test_states: Vec<Vec<f32>> = bank.models().iter().map(|m| hidden_states(m, &test)).collect();
    for entry in &mut card.family.maps {
        let (Some(from), Some(to)) = (bank.index_of(&entry.from), bank.index_of(&entry.to)) else { continue };
        let (ha, hb) = (bank.models()[from].state_len(), bank.models()[to].state_len());
        if let Some(map) = bank.switch(from, to).flatten() {
            entry.test_mse = map_mse(Some(map), &test_states[from], ha, &test_states[to], hb);
            entry.test_mse_truncate_pad = map_mse(None, &test_states[from], ha, &test_states[to], hb);
        }
    }
    let loss = format!(
        "{task} of the readout of the last model of a run under a random switch schedule (1 to {max} changes at random steps, between any two members, the state carried by the trainable maps; {per} schedules per batch) + {alone} · mean over members of their own {task} run alone{frozen} + {matching} · mean over changes of the MSE between the mapped state and the receiving model's own state at that step (target held fixed); AdamW, maps lr {lr} (no weight decay), members lr {mlr} (weight decay 1e-4), cosine decay to 5%, gradient-norm clip {clip}; epoch with the best validation objective (mixed-run {metric} over {vs} fixed schedules per sequence + members' mean {metric} alone) kept, epoch 0 (the ridge maps) included",
        task = super::loss_name(set),
        max = config.max_changes,
        per = config.schedules_per_batch,
        alone = config.weight_alone,
        frozen = if config.member_learning_rate <= 0.0 { " (not used: members frozen)" } else { "" },
        matching = config.weight_match,
        lr = config.learning_rate,
        mlr = config.member_learning_rate,
        clip = config.clip_norm,
        metric = if set.is_regression() { "−MSE" } else { "accuracy" },
        vs = config.validation_schedules,
    );
    card.family.switch_fine_tune = Some(CardSwitchFineTune {
        loss,
        epochs: config.epochs,
        chosen_epoch: report.chosen_epoch,
        learning_rate: config.learning_rate,
        member_learning_rate: config.member_learning_rate.max(0.0),
        max_changes: config.max_changes,
        weight_alone: config.weight_alone,
        weight_match: config.weight_match,
        schedules_per_batch: config.schedules_per_batch,
        validation_schedules: config.validation_schedules,
        validation_objective: report.objectives.clone(),
        validation_mixed_start: report.mixed_start.value(),
        validation_mixed_chosen: report.mixed_chosen.value(),
        init_from,
        command,
        wall_time_s: report.wall_time_s,
    });
    let maps = named_maps(&bank);
    Ok(TrainedBank { bank, maps, card })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::CellKind;

    #[test]
    fn a_short_lstm_bank_run_learns_and_maps_h_and_c() {
        let (set, split) = super::super::toy_task(120, 8, 3);
        let config = BankConfig {
            widths: vec![8, 4],
            base: TrainConfig {
                hidden: 0,
                epochs: 12,
                batch_size: 16,
                learning_rate: 0.02,
                clip_norm: 1.0,
                seed: 2,
                cell: CellKind::Lstm,
                micro_batches: 1,
                threads: 1,
            },
            command: "test".into(),
        };
        let trained = train_bank(&set, &split, &config, |_| {}).unwrap();
        let names: Vec<&str> = trained.bank.models().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["lstm-4", "lstm-8"]);
        assert_eq!((trained.card.cell, trained.bank.cell_kind()), (CellKind::Lstm, CellKind::Lstm));
        for (model, entry) in trained.bank.models().iter().zip(&trained.card.family.models) {
            assert_eq!(entry.model_family(), "lstm");
            assert_eq!(entry.flops_per_step, model.cell.flops_per_step());
            assert!(entry.test_accuracy.unwrap() >= 0.8, "{}: {:?}", entry.name, entry.test_accuracy);
        }
        // The maps carry [h; c]: 8 → 16 values and back.
        let map = trained.bank.switch(0, 1).unwrap().unwrap();
        assert_eq!((map.from_hidden, map.to_hidden), (8, 16));
        for entry in &trained.card.family.maps {
            assert!(entry.test_mse < entry.test_mse_truncate_pad, "{entry:?}");
        }
    }

    #[test]
    fn members_trained_at_once_on_threads_give_the_same_bank() {
        let (set, split) = super::super::toy_task(100, 8, 6);
        let bank_bits = |micro_batches, threads| {
            let config = BankConfig {
                widths: vec![5, 3, 8],
                base: TrainConfig {
                    hidden: 0,
                    epochs: 2,
                    batch_size: 10,
                    learning_rate: 0.02,
                    clip_norm: 1.0,
                    seed: 7,
                    cell: CellKind::Gru,
                    micro_batches,
                    threads,
                },
                command: "test".into(),
            };
            let mut epochs = 0;
            let trained =
                train_bank(&set, &split, &config, |p| epochs += usize::from(matches!(p, BankProgress::Epoch { .. })))
                    .unwrap();
            assert_eq!(epochs, 6, "every member's epochs reported");
            let mut card = trained.card.family.models.clone();
            card.iter_mut().for_each(|m| m.train_wall_s = 0.0);
            let weights: Vec<Vec<u32>> = trained
                .bank
                .models()
                .iter()
                .map(|m| m.cell.tensors().iter().flat_map(|(_, t)| t.iter().map(|v| v.to_bits())).collect())
                .collect();
            let maps: Vec<Vec<u32>> =
                trained.maps.iter().map(|(_, _, m)| m.weight.iter().map(|v| v.to_bits()).collect()).collect();
            (weights, maps, card)
        };
        let alone = bank_bits(1, 1);
        assert_eq!(alone.2.iter().map(|m| m.hidden).collect::<Vec<_>>(), [3, 5, 8]);
        assert_eq!(bank_bits(1, 2), alone);
        assert_eq!(bank_bits(1, 3), alone);
        // Micro-batches change the weights; threads then still do not.
        let micro = bank_bits(2, 1);
        assert_ne!(micro.0, alone.0);
        assert_eq!(bank_bits(2, 6), micro);
    }

    /// Mean task loss (cross-entropy of the readout) of `bank` over `set` run under `schedules`.
    fn mixed_loss(bank: &ModelBank, set: &SequenceSet, schedules: &[Vec<Schedule>]) -> f64 {
        let mut out = vec![0.0f32; bank.models()[0].classes()];
        let (mut sum, mut count) = (0.0f64, 0usize);
        for (i, list) in schedules.iter().enumerate() {
            for schedule in list {
                run_schedule(bank, set.unpadded(i), schedule, &mut out);
                let top = out.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let log_sum = top + out.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln();
                sum += log_sum - out[set.labels[i] as usize] as f64;
                count += 1;
            }
        }
        sum / count as f64
    }

    fn tiny_bank(cell: CellKind, seed: u64) -> (SequenceSet, Split, TrainedBank) {
        let (set, split) = super::super::toy_task(160, 10, seed);
        let config = BankConfig {
            widths: vec![3, 8],
            base: TrainConfig {
                hidden: 0,
                epochs: 6,
                batch_size: 16,
                learning_rate: 0.02,
                clip_norm: 1.0,
                seed,
                cell,
                micro_batches: 1,
                threads: 1,
            },
            command: "test".into(),
        };
        let trained = train_bank(&set, &split, &config, |_| {}).unwrap();
        (set, split, trained)
    }

    #[test]
    fn switch_aware_fine_tuning_lowers_the_mixed_run_loss_on_held_out_sequences() {
        let (set, split, trained) = tiny_bank(CellKind::Gru, 4);
        let test = set.subset(&split.test);
        // Held-out runs: 8 fixed schedules per test sequence, drawn independently of training.
        let held_out = validation_schedules(&test, 2, 3, 8, 99);
        let ridge = mixed_loss(&trained.bank, &test, &held_out);
        let config = SwitchConfig {
            epochs: 12,
            learning_rate: 1e-2,
            member_learning_rate: 1e-3,
            batch_size: 16,
            seed: 4,
            ..SwitchConfig::default()
        };
        let tuned = fine_tune_trained(trained, &set, &split, &config, None, "test".into(), |_, _, _| {}).unwrap();
        let after = mixed_loss(&tuned.bank, &test, &held_out);
        let record = tuned.card.family.switch_fine_tune.as_ref().unwrap();
        assert!(record.chosen_epoch > 0, "{record:?}");
        assert_eq!(record.validation_objective.len(), 13);
        // Never worse than the starting point on the validation objective.
        let chosen = record.validation_objective[record.chosen_epoch];
        assert!(chosen > record.validation_objective[0], "{record:?}");
        assert!(after < ridge, "mixed-run loss {after} after fine-tuning, {ridge} with the ridge maps");
        // The card's member scores are those of the fine-tuned weights.
        for (model, entry) in tuned.bank.models().iter().zip(&tuned.card.family.models) {
            assert_eq!(entry.test_accuracy, score(model, &test).accuracy());
        }
    }

    #[test]
    fn a_fine_tuned_lstm_bank_reproduces_through_flexible_model() {
        use crate::rnn::io::{classifier_tensors, encode_tensors, map_tensors};
        use crate::rnn::FlexibleModel;
        let (set, split, trained) = tiny_bank(CellKind::Lstm, 5);
        let config = SwitchConfig {
            epochs: 3,
            learning_rate: 1e-2,
            member_learning_rate: 1e-3,
            batch_size: 16,
            seed: 5,
            ..SwitchConfig::default()
        };
        let tuned = fine_tune_trained(trained, &set, &split, &config, None, "test".into(), |_, _, _| {}).unwrap();
        assert_eq!(tuned.maps.len(), 2);
        let dir = std::env::temp_dir().join(format!("flexrnn-switch-lstm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for model in tuned.bank.models() {
            std::fs::write(dir.join(format!("{}.safetensors", model.name)), encode_tensors(&classifier_tensors(model)))
                .unwrap();
        }
        let maps = map_tensors(tuned.maps.iter().map(|(a, b, m)| (a.as_str(), b.as_str(), m)));
        std::fs::write(dir.join("maps.safetensors"), encode_tensors(&maps)).unwrap();
        std::fs::write(dir.join("card.json"), serde_json::to_vec_pretty(&tuned.card).unwrap()).unwrap();
        let loaded = FlexibleModel::load(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let loaded = loaded.unwrap();
        let test = set.subset(&split.test);
        let schedules = validation_schedules(&test, 2, 3, 2, 7);
        let (mut ours, mut theirs) = (vec![0.0f32; 2], vec![0.0f32; 2]);
        for (i, list) in schedules.iter().enumerate() {
            for schedule in list {
                run_schedule(&tuned.bank, test.unpadded(i), schedule, &mut ours);
                let mut state = loaded.new_state();
                let mut next = 0;
                for t in 0..test.length(i) {
                    if next < schedule.len() && schedule[next].0 == t {
                        next += 1;
                    }
                    let model = &tuned.bank.models()[schedule[next - 1].1].name;
                    loaded.step(loaded.setting_index(model).unwrap(), Some(test.frame(i, t)), &mut state);
                }
                loaded.logits(&mut state, &mut theirs);
                assert_eq!(ours, theirs, "sequence {i}, schedule {schedule:?}");
            }
        }
    }
}
