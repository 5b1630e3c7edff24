//! `static: { model: <name> }`: always the same setting (a baseline, and the first pass of forecasts).

use serde::Deserialize;

use super::{ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};

/// The configuration of `static`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ model: <name> }`")]
pub struct StaticConfig {
    /// The setting's name in the model (`gru-128`, `thr-64-1e-3@thr=0.5`, `k=4,thr=0.5`, …).
    pub model: String,
}

impl PolicyConfig for StaticConfig {
    const NAME: &'static str = "static";
    const SYNTAX: &'static str = "`static: { model: <name> }`";

    fn label(&self) -> String {
        format!("static-{}", self.model)
    }

    fn settings(&self) -> Vec<&str> {
        vec![&self.model]
    }

    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(StaticPolicy { model: context.setting(&self.model)?, model_name: self.model.clone() }))
    }
}

/// Always the same model.
#[derive(Debug, Clone)]
pub struct StaticPolicy {
    /// Index of the model into the options.
    pub model: usize,
    /// Its name (for [`Policy::name`]).
    pub model_name: String,
}

impl Policy for StaticPolicy {
    fn name(&self) -> String {
        format!("static-{}", self.model_name)
    }

    fn choose(&mut self, _observation: &Observation<'_>, _options: &[ModelOption]) -> usize {
        self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{observation, options};

    #[test]
    fn static_always_returns_its_model() {
        let mut policy = StaticPolicy { model: 1, model_name: "gru-64".into() };
        assert_eq!(policy.choose(&observation(-5.0, 1.0, &[0, 0, 0]), &options()), 1);
        assert_eq!(policy.name(), "static-gru-64");
    }
}
