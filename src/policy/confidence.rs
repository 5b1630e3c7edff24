//! `confidence: { threshold, cheap, accurate }`: the cheap setting while the network is confident.

use serde::Deserialize;

use super::{ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};

/// The configuration of `confidence`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ threshold: <number in (0, 1]>, cheap: <name>, accurate: <name> }`")]
pub struct ConfidenceConfig {
    /// Top softmax probability at or above which the cheap setting runs, in (0, 1].
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1))]
    pub threshold: f64,
    /// The cheap setting.
    pub cheap: String,
    /// The accurate setting.
    pub accurate: String,
}

impl PolicyConfig for ConfidenceConfig {
    const NAME: &'static str = "confidence";
    const SYNTAX: &'static str = "`confidence: { threshold, cheap, accurate }`";

    fn validate(&self) -> Result<(), String> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err("threshold must be in (0, 1]".into());
        }
        Ok(())
    }

    fn label(&self) -> String {
        "confidence".into()
    }

    fn settings(&self) -> Vec<&str> {
        vec![&self.cheap, &self.accurate]
    }

    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(ConfidencePolicy {
            threshold: self.threshold,
            cheap: context.setting(&self.cheap)?,
            accurate: context.setting(&self.accurate)?,
        }))
    }
}

/// The cheap setting while the network's own prediction is confident: `cheap` when the top softmax
/// probability of the current state is at least `threshold`, otherwise (and at the start of each
/// sequence) `accurate`.
#[derive(Debug, Clone)]
pub struct ConfidencePolicy {
    /// Confidence at or above which the cheap model runs, in (0, 1].
    pub threshold: f64,
    /// Option index of the cheap model.
    pub cheap: usize,
    /// Option index of the accurate model.
    pub accurate: usize,
}

impl Policy for ConfidencePolicy {
    fn name(&self) -> String {
        "confidence".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, _options: &[ModelOption]) -> usize {
        match observation.confidence {
            Some(c) if c >= self.threshold => self.cheap,
            _ => self.accurate,
        }
    }

    fn needs_confidence(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{at, options};
    use crate::policy::StaticPolicy;

    #[test]
    fn confidence_runs_cheap_only_when_confident() {
        let mut policy = ConfidencePolicy { threshold: 0.9, cheap: 0, accurate: 2 };
        let with = |c: Option<f64>| Observation { confidence: c, ..at(0, 0, None, 3) };
        assert_eq!(policy.choose(&with(None), &options()), 2, "no state yet");
        assert_eq!(policy.choose(&with(Some(0.95)), &options()), 0);
        assert_eq!(policy.choose(&with(Some(0.9)), &options()), 0, "at the threshold");
        assert_eq!(policy.choose(&with(Some(0.6)), &options()), 2);
        assert!(policy.needs_confidence() && !StaticPolicy { model: 0, model_name: "m".into() }.needs_confidence());
    }
}
