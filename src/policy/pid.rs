//! `pid: { target, kp, ki, kd, knob_step }`: a PID controller on step latency.

use serde::Deserialize;

use super::{check_knob_step, flops_key, ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};
use crate::units::Duration;

/// The configuration of `pid`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a map `{ target: <duration>, kp: <number>, ki: <number>, kd: <number>, knob_step: <number> }`"
)]
pub struct PidConfig {
    /// Target latency (release to end of a step), longer than zero.
    pub target: Duration,
    /// Proportional gain.
    pub kp: f64,
    /// Integral gain (default 0).
    #[serde(default)]
    pub ki: f64,
    /// Derivative gain (default 0).
    #[serde(default)]
    pub kd: f64,
    /// If given, steers over the model's whole knob range sampled every `knob_step` (ThrRNN `thr`;
    /// SkipW `thr` at every `K`) besides the grid settings; in [`super::MIN_KNOB_STEP`], 1].
    #[serde(default)]
    #[schemars(range(min = super::MIN_KNOB_STEP, max = 1))]
    #[schemars(description = "If given, steers over the model's whole knob range sampled every `knob_step` (ThrRNN `thr`; SkipW `thr` at every `K`) besides the grid settings; in [0.001, 1].")]
    pub knob_step: Option<f32>,
}

impl PolicyConfig for PidConfig {
    const NAME: &'static str = "pid";
    const SYNTAX: &'static str = "`pid: { target, kp, ki, kd, knob_step }`";

    fn validate(&self) -> Result<(), String> {
        if self.target.0 .0 == 0 || ![self.kp, self.ki, self.kd].iter().all(|g| g.is_finite()) {
            return Err("target must be longer than zero and the gains finite numbers".into());
        }
        check_knob_step(self.knob_step)
    }

    /// `pid`, or `pid-knob<step>` with a `knob_step`.
    fn label(&self) -> String {
        match self.knob_step {
            None => "pid".into(),
            Some(step) => format!("pid-knob{step}"),
        }
    }

    fn knob_step(&self) -> Option<f32> {
        self.knob_step
    }

    fn build(&self, _context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(PidPolicy {
            target_s: self.target.0.as_secs_f64(),
            kp: self.kp,
            ki: self.ki,
            kd: self.kd,
            position: 0.0,
            errors: (0.0, 0.0),
        }))
    }
}

/// Feedback on step latency: a PID controller (velocity form) steers a continuous position along the
/// options ordered from most to fewest FLOPs per step.
///
/// Rule: with the relative error `e = (last_latency − target) / target` (0 before any step ended),
/// `position += kp·(e − e₁) + ki·e + kd·(e − 2e₁ + e₂)`, clamped to `[0, n − 1]`; the step runs the
/// option at `round(position)` in that order (0 = most FLOPs). Late steps push towards cheaper settings.
#[derive(Debug, Clone)]
pub struct PidPolicy {
    /// Target latency (release to end), seconds.
    pub target_s: f64,
    /// Proportional gain.
    pub kp: f64,
    /// Integral gain.
    pub ki: f64,
    /// Derivative gain.
    pub kd: f64,
    /// Current position along the options by decreasing FLOPs.
    pub position: f64,
    /// The last two errors (e₁, e₂).
    pub errors: (f64, f64),
}

/// The option at `position` in that order (0 = most FLOPs), found without allocating: the option
/// with exactly `position` options ahead of it.
fn nth_by_decreasing_flops(options: &[ModelOption], position: usize) -> Option<usize> {
    (0..options.len())
        .find(|&i| (0..options.len()).filter(|&j| flops_key(options, j) > flops_key(options, i)).count() == position)
}

impl Policy for PidPolicy {
    fn name(&self) -> String {
        "pid".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        let error = observation.last_latency_s.map_or(0.0, |l| (l - self.target_s) / self.target_s);
        let (e1, e2) = self.errors;
        self.position += self.kp * (error - e1) + self.ki * error + self.kd * (error - 2.0 * e1 + e2);
        self.position = self.position.clamp(0.0, (options.len() - 1) as f64);
        self.errors = (error, e1);
        nth_by_decreasing_flops(options, self.position.round() as usize).expect("position is clamped to the options")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{at, options};

    #[test]
    fn pid_moves_to_cheaper_settings_when_late_and_back_when_early() {
        let mut policy = PidPolicy { target_s: 0.010, kp: 0.5, ki: 0.5, kd: 0.0, position: 0.0, errors: (0.0, 0.0) };
        // No latency yet: stays at the most expensive option (gru-128, index 2).
        assert_eq!(policy.choose(&at(0, 0, None, 0), &options()), 2);
        // 20 ms against 10 ms: e = 1 → position += 0.5·1 + 0.5·1 = 1 → gru-64.
        assert_eq!(policy.choose(&at(0, 0, Some(0.020), 1), &options()), 1);
        // Still late: e = 1 → position += 0 + 0.5 = 1.5 → rounds to 2 → gru-16.
        assert_eq!(policy.choose(&at(0, 0, Some(0.020), 2), &options()), 0);
        // Early: e = −0.5 → position += 0.5·(−1.5) + 0.5·(−0.5) = −1 → 0.5 → rounds to 1 (half away) → gru-64.
        assert_eq!(policy.choose(&at(0, 0, Some(0.005), 3), &options()), 1);
    }
}
