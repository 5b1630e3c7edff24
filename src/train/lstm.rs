//! Training LSTM classifiers with `candle` (the LSTM analogue of [`super::train_classifier`]): a
//! PyTorch-layout LSTM cell (gate order i, f, g, o) whose final `h` feeds a linear readout;
//! cross-entropy at the last step; AdamW with cosine decay; the epoch with the best validation
//! accuracy (measured with the crate's own inference) is kept.

use crate::train::{flat, uniform_var};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::data::SequenceSet;
use crate::rnn::lstm::{LstmCell, LstmClassifier};

use super::{clip_gradients, TrainConfig, TrainError, TrainReport};

struct CandleLstm {
    hidden: usize,
    weight_ih: Var,
    weight_hh: Var,
    bias_ih: Var,
    bias_hh: Var,
    readout_weight: Var,
    readout_bias: Var,
}

impl CandleLstm {
    /// PyTorch's initialisation: every parameter uniform in ±1/√H.
    fn init(input: usize, hidden: usize, classes: usize, rng: &mut Pcg64) -> candle_core::Result<CandleLstm> {
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut var = |shape: &[usize]| uniform_var(rng, shape, bound);
        Ok(CandleLstm {
            hidden,
            weight_ih: var(&[4 * hidden, input])?,
            weight_hh: var(&[4 * hidden, hidden])?,
            bias_ih: var(&[4 * hidden])?,
            bias_hh: var(&[4 * hidden])?,
            readout_weight: var(&[classes, hidden])?,
            readout_bias: var(&[classes])?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![
            self.weight_ih.clone(),
            self.weight_hh.clone(),
            self.bias_ih.clone(),
            self.bias_hh.clone(),
            self.readout_weight.clone(),
            self.readout_bias.clone(),
        ]
    }

    /// Final `(h, c)`, each `[B, H]`, for inputs `[B, T, I]`.
    fn final_state(&self, xs: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (batch, steps, input) = xs.dims3()?;
        let hidden = self.hidden;
        let gates_input = xs
            .reshape((batch * steps, input))?
            .matmul(&self.weight_ih.as_tensor().t()?)?
            .broadcast_add(self.bias_ih.as_tensor())?
            .reshape((batch, steps, 4 * hidden))?;
        let weight_hh_t = self.weight_hh.as_tensor().t()?;
        let mut h = Tensor::zeros((batch, hidden), DType::F32, &Device::Cpu)?;
        let mut c = h.clone();
        for step in 0..steps {
            let gates = (gates_input.narrow(1, step, 1)?.squeeze(1)?
                + h.matmul(&weight_hh_t)?.broadcast_add(self.bias_hh.as_tensor())?)?;
            let i = candle_nn::ops::sigmoid(&gates.narrow(1, 0, hidden)?)?;
            let f = candle_nn::ops::sigmoid(&gates.narrow(1, hidden, hidden)?)?;
            let g = gates.narrow(1, 2 * hidden, hidden)?.tanh()?;
            let o = candle_nn::ops::sigmoid(&gates.narrow(1, 3 * hidden, hidden)?)?;
            c = ((f * &c)? + (i * g)?)?;
            h = (o * c.tanh()?)?;
        }
        Ok((h, c))
    }

    /// Logits `[B, C]` for inputs `[B, T, I]`.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.final_state(xs)?
            .0
            .matmul(&self.readout_weight.as_tensor().t()?)?
            .broadcast_add(self.readout_bias.as_tensor())
    }

    fn to_classifier(&self, name: &str) -> candle_core::Result<LstmClassifier> {
        let input = self.weight_ih.dims()[1];
        let cell = LstmCell::new(
            input,
            self.hidden,
            flat(&self.weight_ih)?,
            flat(&self.weight_hh)?,
            flat(&self.bias_ih)?,
            flat(&self.bias_hh)?,
        )
        .expect("shapes of trained tensors match by construction");
        Ok(LstmClassifier {
            name: name.to_string(),
            cell,
            readout_weight: flat(&self.readout_weight)?,
            readout_bias: flat(&self.readout_bias)?,
        })
    }
}

/// Accuracy of an LSTM classifier on `set`, computed with the crate's own inference.
pub fn lstm_accuracy(model: &LstmClassifier, set: &SequenceSet) -> f64 {
    let correct = (0..set.len()).filter(|&i| model.classify(set.sequence(i)) == set.labels[i]).count();
    correct as f64 / set.len().max(1) as f64
}

/// Trains one LSTM classifier with AdamW on cross-entropy (the settings of [`TrainConfig`], as for
/// the GRU), keeping the epoch with the best validation accuracy (ties: the earlier epoch).
/// `on_epoch(epoch, loss, validation_accuracy)` is called after each epoch.
///
/// # Errors
/// [`TrainError::Autodiff`] if the autodiff library fails; [`TrainError::Diverged`] if the loss is
/// not finite.
pub fn train_lstm_classifier(
    name: &str,
    train: &SequenceSet,
    validation: &SequenceSet,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> Result<(LstmClassifier, TrainReport), TrainError> {
    let mut rng = Pcg64::seed_from_u64(config.seed ^ (config.hidden as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let model = CandleLstm::init(train.features, config.hidden, train.classes, &mut rng)?;
    let params = ParamsAdamW { lr: config.learning_rate, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut optimiser = AdamW::new(model.vars(), params.clone())?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best = (model.to_classifier(name)?, -1.0, 0usize);
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        let progress = (epoch - 1) as f64 / config.epochs.max(1) as f64;
        let lr = config.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        optimiser.set_params(ParamsAdamW { lr, ..params.clone() });
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let mut values = Vec::with_capacity(chunk.len() * train.steps * train.features);
            for &i in chunk {
                values.extend_from_slice(train.sequence(i));
            }
            let xs = Tensor::from_vec(values, (chunk.len(), train.steps, train.features), &Device::Cpu)?;
            let ys = Tensor::from_vec(
                chunk.iter().map(|&i| train.labels[i]).collect::<Vec<u32>>(),
                chunk.len(),
                &Device::Cpu,
            )?;
            let loss = candle_nn::loss::cross_entropy(&model.forward(&xs)?, &ys)?;
            let mut grads = loss.backward()?;
            clip_gradients(&model.vars(), &mut grads, config.clip_norm)?;
            optimiser.step(&grads)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        let loss = loss_sum / batches.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { hidden: config.hidden, epoch, loss });
        }
        epoch_losses.push(loss);
        let candidate = model.to_classifier(name)?;
        let validation_accuracy = lstm_accuracy(&candidate, validation);
        on_epoch(epoch, loss, validation_accuracy);
        if validation_accuracy > best.1 {
            best = (candidate, validation_accuracy, epoch);
        }
    }
    let (classifier, validation_accuracy, best_epoch) = best;
    Ok((classifier, TrainReport { validation: super::Score::Accuracy(validation_accuracy), best_epoch, epoch_losses }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::lstm::LstmScratch;
    use rand::Rng;

    /// Largest absolute difference allowed between the crate's LSTM and the autodiff forward.
    const AUTODIFF_ATOL: f32 = 1e-5;

    #[test]
    fn crate_step_matches_autodiff_forward_on_same_weights() {
        let mut rng = Pcg64::seed_from_u64(5);
        for (input, hidden) in [(1, 16), (3, 32), (1, 128)] {
            let model = CandleLstm::init(input, hidden, 4, &mut rng).unwrap();
            let steps = 12;
            let values: Vec<f32> = (0..2 * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
            let xs = Tensor::from_vec(values.clone(), (2, steps, input), &Device::Cpu).unwrap();
            let (h_expected, c_expected) = model.final_state(&xs).unwrap();
            let (h_expected, c_expected) = (h_expected.to_vec2::<f32>().unwrap(), c_expected.to_vec2::<f32>().unwrap());
            let ours = model.to_classifier("m").unwrap();
            for b in 0..2 {
                let (mut h, mut c) = (vec![0.0f32; hidden], vec![0.0f32; hidden]);
                let mut scratch = LstmScratch::new(hidden);
                for x in values[b * steps * input..(b + 1) * steps * input].chunks_exact(input) {
                    ours.cell.step(x, &mut h, &mut c, &mut scratch);
                }
                let worst = |a: &[f32], e: &[f32]| a.iter().zip(e).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
                assert!(worst(&h, &h_expected[b]) <= AUTODIFF_ATOL, "I={input} H={hidden}: h off");
                assert!(worst(&c, &c_expected[b]) <= AUTODIFF_ATOL, "I={input} H={hidden}: c off");
            }
            let logits = model.forward(&xs).unwrap().to_vec2::<f32>().unwrap();
            let predicted = crate::rnn::argmax(&logits[0]);
            assert_eq!(ours.classify(&values[..steps * input]) as usize, predicted);
        }
    }

    #[test]
    fn a_short_training_run_learns_a_toy_task() {
        // The class is whether the first input is above 0.5: the LSTM must carry it to the end.
        let mut rng = Pcg64::seed_from_u64(2);
        let (n, steps) = (160, 6);
        let (mut values, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let seq: Vec<f32> = (0..steps).map(|_| rng.random_range(0.0..1.0)).collect();
            labels.push((seq[0] > 0.5) as u32);
            values.extend(seq);
        }
        let set = SequenceSet::fixed_length_classification(
            "toy".into(),
            steps,
            1,
            vec!["low".into(), "high".into()],
            values,
            labels,
        );
        let (train, validation) =
            (set.subset(&(0..120).collect::<Vec<_>>()), set.subset(&(120..160).collect::<Vec<_>>()));
        let config =
            TrainConfig { hidden: 8, epochs: 25, batch_size: 16, learning_rate: 0.03, clip_norm: 1.0, seed: 1 };
        let (model, report) = train_lstm_classifier("lstm-8", &train, &validation, &config, |_, _, _| {}).unwrap();
        assert_eq!(report.epoch_losses.len(), 25);
        let validation_accuracy = report.validation.accuracy().expect("a classification set");
        assert!(validation_accuracy >= 0.85, "{report:?}");
        assert_eq!(lstm_accuracy(&model, &validation), validation_accuracy);
    }
}
