//! `oracle: { margin, passes }`: the clairvoyant reference (upper bound), from forecast passes.

use std::sync::Arc;

use serde::Deserialize;

use super::{LoadForecast, ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};
use crate::sim::SimTime;
use crate::units::Duration;
use crate::workload::OnMiss;

/// Passes an `oracle` runs before the real run unless its `passes` says otherwise.
pub const DEFAULT_ORACLE_PASSES: usize = 2;

/// The most forecast passes an `oracle` may ask for: each pass is a whole run of the scenario, and
/// the forecast settles after a few (see the oracle section of `docs/src/policies.md`).
pub const MAX_ORACLE_PASSES: usize = 20;

/// The configuration of `oracle`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{}` or `{ margin: <duration>, passes: <number ≥ 1> }`")]
pub struct OracleConfig {
    /// Room the forecast end of a step must leave before the deadline; default 0.
    #[serde(default = "no_margin")]
    pub margin: Duration,
    /// Passes run before the real one to obtain the forecast (1 to [`MAX_ORACLE_PASSES`]; default
    /// [`DEFAULT_ORACLE_PASSES`]).
    #[serde(default = "default_passes")]
    #[schemars(range(min = 1, max = MAX_ORACLE_PASSES))]
    #[schemars(description = "Passes run before the real one to obtain the forecast (1 to 20; default 2).")]
    pub passes: usize,
}

fn no_margin() -> Duration {
    Duration(SimTime::ZERO)
}

fn default_passes() -> usize {
    DEFAULT_ORACLE_PASSES
}

impl PolicyConfig for OracleConfig {
    const NAME: &'static str = "oracle";
    const SYNTAX: &'static str = "`oracle: { margin: <duration>, passes: <number ≥ 1> }`";

    fn validate(&self) -> Result<(), String> {
        if self.passes == 0 {
            return Err("passes must be at least 1".into());
        }
        if self.passes > MAX_ORACLE_PASSES {
            return Err(format!(
                "passes must be at most {MAX_ORACLE_PASSES} (each pass runs the whole scenario), got {}",
                self.passes
            ));
        }
        Ok(())
    }

    /// `oracle`, with `-margin<seconds>s` and `-passes<n>` when they differ from the defaults.
    fn label(&self) -> String {
        let mut label = String::from("oracle");
        if self.margin.0 != SimTime::ZERO {
            label += &format!("-margin{}s", self.margin.0.as_secs_f64());
        }
        if self.passes != DEFAULT_ORACLE_PASSES {
            label += &format!("-passes{}", self.passes);
        }
        label
    }

    fn forecast_passes(&self) -> usize {
        self.passes
    }

    /// Without a forecast the oracle assumes an infinitely fast node, so it always runs its most
    /// accurate setting.
    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(OraclePolicy {
            forecast: context
                .forecast()
                .cloned()
                .unwrap_or_else(|| Arc::new(LoadForecast::from_segments([(0.0, f64::MAX)]))),
            preference: context.accuracy_ranking().to_vec(),
            margin_s: self.margin.0.as_secs_f64(),
            period_s: context.stream().period.as_secs_f64(),
            skip_late: context.stream().on_miss == OnMiss::Skip,
            cursor: 0,
        }))
    }
}

/// A clairvoyant reference (**upper bound**): knows the run's future background load and, before each
/// step, picks the most accurate model whose step is predicted to end before the frame's deadline.
///
/// Source of the knowledge: the runner first runs the same scenario with the same seed — so every
/// background process draws the same jobs (common random numbers) — with this stream running its
/// cheapest model, records when every other job is on the node, and turns that into a
/// [`LoadForecast`] of the processor-sharing rate this stream's step would get at each time. It is a
/// reference, not a proof of optimality: in the real run, background jobs are slowed by the stream's
/// own (larger) share and stay longer than in the first pass, the model ranking is by validation
/// accuracy (switches cost accuracy the ranking does not see), and the rule is greedy step by step.
///
/// Rule, for each step (forecast ends integrate the forecast rate from the step's start, a step's FLOPs
/// including the switch FLOPs from [`Observation::switch_flops`]; "in time" means at least `margin`
/// before the deadline):
/// 1. Keep the current model if running it for the rest of the sequence (and for every frame already
///    waiting, frame `k` released `k` periods after this one) ends every step in time: switches map the
///    state approximately, so they cost accuracy that the ranking does not see.
/// 2. Else the first option in `preference` that carries the rest of the sequence that way.
/// 3. Else, step by step: the first option in `preference` whose step ends in time and lets as many of
///    the frames waiting behind this one meet their deadlines (each then run at the cheapest option) as
///    the cheapest option would; if none does, the cheapest option (fewest FLOPs per step).
#[derive(Debug, Clone)]
pub struct OraclePolicy {
    /// Future rate of this stream's steps.
    pub forecast: Arc<LoadForecast>,
    /// Option indices, the most accurate first (the runner ranks by the card's validation accuracy,
    /// then by FLOPs per step).
    pub preference: Vec<usize>,
    /// Required room between the forecast end and the deadline, seconds (≥ 0).
    pub margin_s: f64,
    /// Time between the stream's frames, seconds.
    pub period_s: f64,
    /// Whether a frame still waiting at its deadline is dropped (`on_miss: skip`) rather than run late.
    pub skip_late: bool,
    /// Forecast segment of the last decision (time only moves forward, so searches start here).
    pub cursor: usize,
}

impl OraclePolicy {
    /// How many of the `queued_frames` frames behind this one meet their deadlines if this step runs
    /// `flops` FLOPs of option `first` and each of them then runs option `cheapest`.
    fn queued_met(
        &self,
        observation: &Observation<'_>,
        options: &[ModelOption],
        first: usize,
        cheapest: usize,
    ) -> usize {
        let n = options.len();
        let first_flops = options[first].flops_per_step + observation.switch_flops.get(first).copied().unwrap_or(0);
        let mut t = self.forecast.finish_s(observation.now_s, first_flops as f64, self.cursor);
        let mut previous = first;
        let mut met = 0;
        for k in 1..=observation.queued_frames {
            let deadline = observation.deadline_s + k as f64 * self.period_s;
            if self.skip_late && t > deadline {
                continue;
            }
            let switch = observation.switch_matrix.get(previous * n + cheapest).copied().unwrap_or(0);
            t = self.forecast.finish_s(t, (options[cheapest].flops_per_step + switch) as f64, self.cursor);
            previous = cheapest;
            met += usize::from(t <= deadline);
        }
        met
    }
}

impl OraclePolicy {
    /// Whether running option `model` for this step, every later step of the sequence and every frame
    /// already waiting (frame `k` released `k` periods after this one, none starting before the
    /// previous ends) ends each of them at least `margin` before its deadline under the forecast.
    fn rest_of_sequence_fits(&self, observation: &Observation<'_>, options: &[ModelOption], model: usize) -> bool {
        let switch = observation.switch_flops.get(model).copied().unwrap_or(0);
        let frames = observation.steps.saturating_sub(observation.step).max(observation.queued_frames + 1).max(1);
        let mut t = observation.now_s;
        for k in 0..frames {
            let offset = k as f64 * self.period_s;
            let flops = options[model].flops_per_step + if k == 0 { switch } else { 0 };
            t = self.forecast.finish_s(t.max(observation.release_s + offset), flops as f64, self.cursor);
            if t > observation.deadline_s + offset - self.margin_s {
                return false;
            }
        }
        true
    }
}

impl Policy for OraclePolicy {
    fn name(&self) -> String {
        "oracle".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        self.cursor = self.forecast.segment_at(observation.now_s, self.cursor);
        let cheapest =
            (0..options.len()).min_by_key(|&i| (options[i].flops_per_step, i)).expect("a bank has at least one model");
        let queued_baseline =
            if observation.queued_frames > 0 { self.queued_met(observation, options, cheapest, cheapest) } else { 0 };
        // Switches map the state approximately and cost accuracy: keep the current model while it
        // carries the rest of the sequence, else take the most accurate one that does.
        if let Some(current) = observation.current.filter(|&c| self.rest_of_sequence_fits(observation, options, c)) {
            return current;
        }
        if let Some(&option) = self.preference.iter().find(|&&m| self.rest_of_sequence_fits(observation, options, m)) {
            return option;
        }
        let latest_end = observation.deadline_s - self.margin_s;
        for &option in &self.preference {
            let flops = options[option].flops_per_step + observation.switch_flops.get(option).copied().unwrap_or(0);
            let end = self.forecast.finish_s(observation.now_s, flops as f64, self.cursor);
            if end <= latest_end
                && (observation.queued_frames == 0
                    || self.queued_met(observation, options, option, cheapest) >= queued_baseline)
            {
                return option;
            }
        }
        cheapest
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::testing::{observation, options};
    use crate::policy::{GreedySlackPolicy, PolicySpec};

    #[test]
    fn parses_the_oracle_policy_and_labels_it() {
        let policy = |text: &str| serde_yaml::from_str::<PolicySpec>(text).map_err(|e| e.to_string());
        let oracle = |text: &str| policy(text).map(|spec| spec.config::<OracleConfig>().cloned());
        assert_eq!(oracle("oracle: {}"), Ok(Some(OracleConfig { margin: no_margin(), passes: DEFAULT_ORACLE_PASSES })));
        let careful = policy("oracle: { margin: 0.5ms, passes: 3 }").unwrap();
        assert_eq!(
            careful.config::<OracleConfig>(),
            Some(&OracleConfig { margin: Duration(SimTime(500_000)), passes: 3 })
        );
        assert_eq!(policy("oracle: {}").unwrap().label(), "oracle");
        assert_eq!(careful.label(), "oracle-margin0.0005s-passes3");
        assert_eq!(careful.forecast_passes(), 3);
        assert!(policy("oracle: { passes: 0 }").unwrap_err().contains("passes must be at least 1"));
        assert!(policy("oracle: { passes: 1000000 }").unwrap_err().contains("passes must be at most 20"));
        assert!(policy("oracle: { passes: 20 }").is_ok());
        assert!(policy("oracle: { margin: 3 }").unwrap_err().contains("duration"));
        assert!(policy("oracle: { safety: 1 }").unwrap_err().contains("unknown field `safety`"));
    }

    /// Idle (1 MFLOP/s for a step) until 1 s, busy (a quarter of that) over [1 s, 1.05 s), idle after.
    pub(crate) fn busy_window() -> Arc<LoadForecast> {
        Arc::new(LoadForecast::from_segments([(0.0, 1e6), (1.0, 0.25e6), (1.05, 1e6)]))
    }

    fn oracle(forecast: Arc<LoadForecast>) -> OraclePolicy {
        // Most accurate first: gru-128, gru-64, gru-16.
        OraclePolicy { forecast, preference: vec![2, 1, 0], margin_s: 0.0, period_s: 0.002, skip_late: true, cursor: 0 }
    }

    #[test]
    fn oracle_avoids_the_busy_window_and_uses_the_idle_time_after_it() {
        let options = options();
        let none = [0, 0, 0];
        let mut policy = oracle(busy_window());
        let step = |now_s: f64, slack_s: f64, queued: usize| Observation {
            now_s,
            release_s: now_s,
            deadline_s: now_s + slack_s,
            slack_s,
            queued_frames: queued,
            // The last step of its sequence, so that only this step and the waiting frames count.
            step: 63,
            steps: 64,
            ..observation(slack_s, 1e6, &none)
        };
        // At 0.99 s the node is idle now (greedy_slack, seeing 1 MFLOP/s, would run gru-128 in 40 ms),
        // but the busy window starts in 10 ms: gru-128 would end at 1.0675 s, after the 1.03 s deadline;
        // gru-64 ends at exactly 1 s.
        assert_eq!(GreedySlackPolicy { safety: 1.0 }.choose(&step(0.99, 0.040, 0), &options), 2);
        assert_eq!(policy.choose(&step(0.99, 0.040, 0), &options), 1);
        // Inside the busy window with 40 ms of slack: gru-128 needs 160 ms, gru-64 exactly 40 ms.
        assert_eq!(policy.choose(&step(1.0, 0.040, 0), &options), 1);
        // With 39 ms only gru-16 fits.
        assert_eq!(policy.choose(&step(1.0, 0.039, 0), &options), 0);
        // After the window the node is idle again: gru-128 in 40 ms.
        assert_eq!(policy.choose(&step(1.05, 0.040, 0), &options), 2);
        // A margin of 1 ms rules out the exact fit.
        let mut careful = OraclePolicy { margin_s: 0.001, ..oracle(busy_window()) };
        assert_eq!(careful.choose(&step(1.05, 0.040, 0), &options), 1);
        // Nothing fits (already late): the cheapest.
        assert_eq!(policy.choose(&step(1.06, -0.001, 0), &options), 0);
    }

    #[test]
    fn oracle_leaves_room_for_the_frames_waiting_behind() {
        let options = options();
        let none = [0, 0, 0];
        let waiting = |queued: usize| Observation {
            now_s: 1.0,
            release_s: 1.0,
            deadline_s: 1.041,
            slack_s: 0.041,
            queued_frames: queued,
            switch_matrix: &[0; 9],
            step: 63,
            steps: 64,
            ..observation(0.041, 1e6, &none)
        };
        // gru-64 ends at 1.04 s, in time; alone it is chosen.
        assert_eq!(oracle(busy_window()).choose(&waiting(0), &options), 1);
        // With one frame behind (deadline 1.043 s) a gru-64 step now and its own step (either model)
        // would end it too late, while after a gru-16 step now it ends at 1.008 s: gru-16.
        assert_eq!(oracle(busy_window()).choose(&waiting(1), &options), 0);
    }

    #[test]
    fn oracle_keeps_one_model_for_the_rest_of_the_sequence_when_it_can() {
        let options = options();
        let none = [0, 0, 0];
        // Frames every 20 ms from 0.95 s, each with a 20 ms deadline; the busy window starts at 1 s.
        let frame = |step: usize, steps: usize, current: Option<usize>| {
            let release_s = 0.95 + 0.02 * step as f64;
            Observation {
                now_s: release_s,
                release_s,
                deadline_s: release_s + 0.02,
                slack_s: 0.02,
                queued_frames: 0,
                step,
                steps,
                current,
                ..observation(0.02, 1e6, &none)
            }
        };
        let mut policy = OraclePolicy { period_s: 0.02, ..oracle(busy_window()) };
        // A 3-frame sequence ends at 1.01 s: gru-64 (10 ms a step while idle) carries all of it.
        assert_eq!(policy.choose(&frame(0, 3, None), &options), 1);
        // With a fourth frame, released at 1.01 s inside the busy window, gru-64 would need 40 ms for it:
        // the whole sequence runs gru-16 rather than switching (a switch maps the state approximately).
        let mut policy = OraclePolicy { period_s: 0.02, ..oracle(busy_window()) };
        assert_eq!(policy.choose(&frame(0, 4, None), &options), 0);
        assert_eq!(policy.choose(&frame(1, 4, Some(0)), &options), 0, "gru-64 would fit this step alone");
        // Without a current model that carries the rest, the most accurate one that does.
        assert_eq!(policy.choose(&frame(3, 4, Some(2)), &options), 0);
    }
}
