//! `threshold: { signal, models, thresholds, hysteresis }`: load thresholds with hysteresis.

use serde::de::Error as _;
use serde::Deserialize;

use super::{ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};
use crate::workload::{OnMiss, StreamSpec};

/// The configuration of `threshold`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a map `{ signal: node_jobs|queue, models: [<name>, …], thresholds: [<number>, …], hysteresis: <number> }`"
)]
pub struct ThresholdConfig {
    /// `node_jobs` (default) or `queue`.
    #[serde(default = "node_jobs", deserialize_with = "load_signal")]
    #[schemars(schema_with = "signal_schema")]
    pub signal: LoadSignal,
    /// Settings from the lightest-load one to the heaviest.
    pub models: Vec<String>,
    /// Ascending thresholds, one fewer than models.
    pub thresholds: Vec<f64>,
    /// How far below a threshold the signal must fall before the level drops (≥ 0; default 0).
    #[serde(default)]
    pub hysteresis: f64,
}

fn node_jobs() -> LoadSignal {
    LoadSignal::NodeJobs
}

fn signal_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": ["node_jobs", "queue"], "default": "node_jobs" })
}

fn load_signal<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<LoadSignal, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "node_jobs" => Ok(LoadSignal::NodeJobs),
        "queue" => Ok(LoadSignal::Queue),
        other => Err(D::Error::custom(format!("unknown signal `{other}`; allowed: node_jobs, queue"))),
    }
}

impl PolicyConfig for ThresholdConfig {
    const NAME: &'static str = "threshold";
    const SYNTAX: &'static str = "`threshold: { signal, models, thresholds, hysteresis }`";

    fn validate(&self) -> Result<(), String> {
        if self.models.is_empty() || self.thresholds.len() + 1 != self.models.len() {
            return Err("give one more model than thresholds (models from light to heavy load)".into());
        }
        if self.thresholds.windows(2).any(|w| w[0] >= w[1]) || self.thresholds.iter().any(|t| !t.is_finite()) {
            return Err("thresholds must be finite and strictly ascending".into());
        }
        if !(self.hysteresis.is_finite() && self.hysteresis >= 0.0) {
            return Err("hysteresis must be a number ≥ 0".into());
        }
        Ok(())
    }

    /// With `on_miss: skip` a frame is dropped at its deadline, so at most ⌈deadline / period⌉ − 1
    /// frames ever wait behind the one about to run: a `queue` threshold above that is never reached.
    fn check_stream(&self, stream: &StreamSpec) -> Result<(), String> {
        let (period, deadline) = (stream.period.0, stream.deadline.0);
        if self.signal != LoadSignal::Queue || stream.on_miss != OnMiss::Skip || period == 0 {
            return Ok(());
        }
        let most = deadline.div_ceil(period).saturating_sub(1);
        match self.thresholds.first().filter(|&&t| t > most as f64) {
            Some(first) => Err(format!(
                "with `on_miss: skip` a frame is dropped at its deadline, so at most {most} frame(s) ever wait behind the one about to run (⌈deadline / period⌉ − 1) and the `queue` signal never reaches the first threshold {first}: the policy would always run its first model; give thresholds ≤ {most}, a longer deadline, `on_miss: continue` or `signal: node_jobs`"
            )),
            None => Ok(()),
        }
    }

    fn label(&self) -> String {
        "threshold".into()
    }

    fn settings(&self) -> Vec<&str> {
        self.models.iter().map(String::as_str).collect()
    }

    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(ThresholdPolicy {
            signal: self.signal,
            models: self.models.iter().map(|m| context.setting(m)).collect::<Result<_, _>>()?,
            thresholds: self.thresholds.clone(),
            hysteresis: self.hysteresis,
            level: 0,
        }))
    }
}

/// What a [`ThresholdPolicy`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSignal {
    /// Jobs on the node besides this step ([`Observation::node_jobs`]).
    NodeJobs,
    /// Frames waiting behind the one about to run ([`Observation::queued_frames`]).
    Queue,
}

/// Maps an observed load to a setting, with hysteresis so that it does not flap.
///
/// Rule: `models` lists settings from the one for the lightest load to the one for the heaviest;
/// `thresholds` (ascending, one fewer than `models`) separate them. The level moves up to the highest
/// `k` with `signal ≥ thresholds[k − 1]`, and moves down from level `k` only once
/// `signal < thresholds[k − 1] − hysteresis`.
#[derive(Debug, Clone)]
pub struct ThresholdPolicy {
    /// The load signal.
    pub signal: LoadSignal,
    /// Option indices, lightest-load setting first.
    pub models: Vec<usize>,
    /// Ascending thresholds, `models.len() − 1` of them.
    pub thresholds: Vec<f64>,
    /// How far below a threshold the signal must fall before the level drops.
    pub hysteresis: f64,
    /// Current level (index into `models`).
    pub level: usize,
}

impl Policy for ThresholdPolicy {
    fn name(&self) -> String {
        "threshold".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, _options: &[ModelOption]) -> usize {
        let signal = match self.signal {
            LoadSignal::NodeJobs => observation.node_jobs as f64,
            LoadSignal::Queue => observation.queued_frames as f64,
        };
        while self.level < self.thresholds.len() && signal >= self.thresholds[self.level] {
            self.level += 1;
        }
        while self.level > 0 && signal < self.thresholds[self.level - 1] - self.hysteresis {
            self.level -= 1;
        }
        self.models[self.level]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{at, options};

    #[test]
    fn threshold_moves_up_at_thresholds_and_down_with_hysteresis() {
        // Widest (2) under light load, 1 from 2 jobs, 0 from 4 jobs; drop only 1 below a threshold.
        let mut policy = ThresholdPolicy {
            signal: LoadSignal::NodeJobs,
            models: vec![2, 1, 0],
            thresholds: vec![2.0, 4.0],
            hysteresis: 1.0,
            level: 0,
        };
        let picks: Vec<usize> =
            [0, 2, 3, 4, 3, 2, 1, 0].iter().map(|&jobs| policy.choose(&at(jobs, 0, None, 0), &options())).collect();
        // 0→2; 2→1; 3→1; 4→0; 3 (≥ 4 − 1)→0; 2 (< 3)→1; 1 (≥ 2 − 1)→1; 0→2.
        assert_eq!(picks, vec![2, 1, 1, 0, 0, 1, 1, 2]);
    }

    /// The `queue` signal counts the frames behind the one about to run, not that frame itself (it was
    /// never below 1, so a threshold of 1 always held and the policy was static).
    #[test]
    fn threshold_queue_counts_only_the_frames_behind() {
        let mut policy = ThresholdPolicy {
            signal: LoadSignal::Queue,
            models: vec![2, 0],
            thresholds: vec![1.0],
            hysteresis: 0.0,
            level: 0,
        };
        let picks: Vec<usize> =
            [0, 1, 3, 0, 2].iter().map(|&queued| policy.choose(&at(0, queued, None, 0), &options())).collect();
        assert_eq!(picks, vec![2, 0, 0, 2, 0]);
    }
}
