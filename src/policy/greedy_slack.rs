//! `greedy_slack: { safety: <0..1> }`: the widest setting whose estimated step time fits the slack.

use serde::Deserialize;

use super::{ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};

/// The configuration of `greedy_slack`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{}` or `{ safety: <number in (0, 1]> }`")]
pub struct GreedySlackConfig {
    /// Share of the slack the estimate may use, in (0, 1]; default 1.
    #[serde(default = "whole_slack", deserialize_with = "share_of_slack")]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1))]
    pub safety: f64,
}

fn whole_slack() -> f64 {
    1.0
}

/// `safety`, checked where it is written (so the error points at its value).
fn share_of_slack<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let safety = f64::deserialize(deserializer)?;
    check_safety(safety).map_err(serde::de::Error::custom)?;
    Ok(safety)
}

fn check_safety(safety: f64) -> Result<(), String> {
    if !(safety > 0.0 && safety <= 1.0) {
        return Err(format!("`safety` must be in (0, 1], got {safety}"));
    }
    Ok(())
}

impl PolicyConfig for GreedySlackConfig {
    const NAME: &'static str = "greedy_slack";
    const SYNTAX: &'static str = "`greedy_slack: { safety: <0..1> }`";

    fn validate(&self) -> Result<(), String> {
        check_safety(self.safety)
    }

    /// `greedy_slack`, or `greedy_slack-<safety>` below 1.
    fn label(&self) -> String {
        if self.safety == 1.0 {
            "greedy_slack".into()
        } else {
            format!("greedy_slack-{}", self.safety)
        }
    }

    fn build(&self, _context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(GreedySlackPolicy { safety: self.safety }))
    }
}

/// Greedy on slack: the widest model whose estimated step time fits the slack, else the narrowest.
///
/// Rule: estimated time of option `m` = `(flops_per_step(m) + switch_flops(m)) / rate_estimate`,
/// where `rate_estimate` is the processor-sharing rate the step would get under the node's current
/// load. Among options with `estimate ≤ safety × slack`, pick the one with the largest hidden size,
/// then the most FLOPs per step (for settings of one width, e.g. thresholds: the one computing most),
/// then the later option; if none fits, pick the one with the fewest FLOPs per step.
#[derive(Debug, Clone)]
pub struct GreedySlackPolicy {
    /// Share of the slack that the estimate may use, in `(0, 1]` (1 = the whole slack).
    pub safety: f64,
}

impl Policy for GreedySlackPolicy {
    fn name(&self) -> String {
        "greedy_slack".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        let budget = self.safety * observation.slack_s;
        let mut best: Option<usize> = None;
        for (index, option) in options.iter().enumerate() {
            let flops = option.flops_per_step + observation.switch_flops.get(index).copied().unwrap_or(0);
            let estimate = flops as f64 / observation.rate_estimate;
            let key = |i: usize| (options[i].hidden, options[i].flops_per_step);
            if estimate <= budget && best.is_none_or(|b| key(index) >= key(b)) {
                best = Some(index);
            }
        }
        best.unwrap_or_else(|| {
            (0..options.len()).min_by_key(|&i| (options[i].flops_per_step, i)).expect("a bank has at least one model")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{observation, options};

    #[test]
    fn greedy_slack_picks_widest_that_fits() {
        let mut policy = GreedySlackPolicy { safety: 1.0 };
        let none = [0, 0, 0];
        // Rate 1e6 FLOP/s: 128 needs 40 ms, 64 needs 10 ms, 16 needs 1 ms.
        assert_eq!(policy.choose(&observation(0.050, 1e6, &none), &options()), 2);
        assert_eq!(policy.choose(&observation(0.040, 1e6, &none), &options()), 2, "exactly fits");
        assert_eq!(policy.choose(&observation(0.039, 1e6, &none), &options()), 1);
        assert_eq!(policy.choose(&observation(0.002, 1e6, &none), &options()), 0);
        // Nothing fits (already late): the narrowest.
        assert_eq!(policy.choose(&observation(-0.1, 1e6, &none), &options()), 0);
        // A switch cost of 5000 FLOPs makes 64 need 15 ms.
        assert_eq!(policy.choose(&observation(0.012, 1e6, &[5_000, 5_000, 0]), &options()), 0);
        // With a safety factor of 0.5 only half the slack counts.
        let mut careful = GreedySlackPolicy { safety: 0.5 };
        assert_eq!(careful.choose(&observation(0.050, 1e6, &none), &options()), 1);
    }
}
