//! Training a model-switching bank: one GRU (or LSTM) classifier per width, then a ridge state map for
//! every ordered pair of widths (Lambert et al. 2020, §4, with the hidden state carried through a
//! learned linear map when the sizes differ). An LSTM bank's maps act on the flat state `[h; c]`
//! (`2H_from → 2H_to`): `h` and `c` are carried together, each target unit fitted on both.

use std::time::Instant;

use crate::data::{SequenceSet, Split};
use crate::rnn::io::{CardMap, CardModel, CardTraining, ModelCard};
use crate::rnn::{GruClassifier, ModelBank, StateMap};

use super::{fit_state_map, hidden_states, map_mse, score, train_classifier, Score, TrainConfig, TrainError};

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
    pub card: ModelCard,
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

/// Trains the bank on `set` split by `split`.
///
/// # Errors
/// [`TrainError`] from the autodiff library or a singular ridge system.
pub fn train_bank(
    set: &SequenceSet,
    split: &Split,
    config: &BankConfig,
    mut progress: impl FnMut(BankProgress),
) -> Result<TrainedBank, TrainError> {
    let started = Instant::now();
    let train = set.subset(&split.train);
    let validation = set.subset(&split.validation);
    let test = set.subset(&split.test);
    let mut models: Vec<GruClassifier> = Vec::new();
    let mut card_models = Vec::new();
    let mut widths = config.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    for &hidden in &widths {
        let model_started = Instant::now();
        let model_config = TrainConfig { hidden, ..config.base.clone() };
        let (model, report) = train_classifier(
            &format!("{}-{hidden}", config.base.cell),
            &train,
            &validation,
            &model_config,
            |epoch, loss, validation| progress(BankProgress::Epoch { hidden, epoch, loss, validation }),
        )?;
        let test_score = score(&model, &test);
        progress(BankProgress::ModelDone { hidden, test: test_score });
        card_models.push(CardModel {
            name: model.name.clone(),
            hidden,
            flops_per_step: model.cell.flops_per_step(),
            flops_readout: model.flops_readout(),
            param_bytes: model.param_bytes(),
            test_accuracy: test_score.accuracy(),
            validation_accuracy: report.validation.accuracy(),
            test_mse: test_score.mse(),
            validation_mse: report.validation.mse(),
            best_epoch: report.best_epoch,
            train_wall_s: model_started.elapsed().as_secs_f64(),
            family: config.base.cell.as_str().into(),
            flops_per_skip: None,
            budget_lambda: None,
            knob_grid: Vec::new(),
        });
        models.push(model);
    }
    let states = |set: &SequenceSet| models.iter().map(|m| hidden_states(m, set)).collect::<Vec<_>>();
    let (train_states, validation_states, test_states) = (states(&train), states(&validation), states(&test));
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
            let test_mse_truncate_pad = map_mse(None, &test_states[from], ha, &test_states[to], hb);
            progress(BankProgress::MapDone {
                from: a.hidden_size(),
                to: b.hidden_size(),
                mse: test_mse,
                mse_truncate_pad: test_mse_truncate_pad,
            });
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
    let card = ModelCard {
        task: set.name.clone(),
        family: "switch".into(),
        cell: config.base.cell.as_str().into(),
        input: set.features,
        classes: set.classes,
        models: card_models,
        maps: card_maps,
        training: CardTraining {
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
        },
        seeds: None,
    };
    let bank = ModelBank::new(models, maps).expect("every ordered pair has a fitted map of the right shape");
    Ok(TrainedBank { bank, maps: named_maps, card })
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
            },
            command: "test".into(),
        };
        let trained = train_bank(&set, &split, &config, |_| {}).unwrap();
        let names: Vec<&str> = trained.bank.models().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["lstm-4", "lstm-8"]);
        assert_eq!((trained.card.cell.as_str(), trained.bank.cell_kind()), ("lstm", CellKind::Lstm));
        for (model, entry) in trained.bank.models().iter().zip(&trained.card.models) {
            assert_eq!(entry.family, "lstm");
            assert_eq!(entry.flops_per_step, model.cell.flops_per_step());
            assert!(entry.test_accuracy.unwrap() >= 0.8, "{}: {:?}", entry.name, entry.test_accuracy);
        }
        // The maps carry [h; c]: 8 → 16 values and back.
        let map = trained.bank.switch(0, 1).unwrap().unwrap();
        assert_eq!((map.from_hidden, map.to_hidden), (8, 16));
        for entry in &trained.card.maps {
            assert!(entry.test_mse < entry.test_mse_truncate_pad, "{entry:?}");
        }
    }
}
