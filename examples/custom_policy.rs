//! A policy of your own, by name in `flexrnn run` and `flexrnn study`.
//!
//! Two parts: the rule ([`Cautious`], a `flexrnn::policy::Policy`) and its YAML configuration
//! ([`CautiousConfig`], a `flexrnn::policy::PolicyConfig`: its fields, label and construction).
//! Registered with the built-ins and handed to `flexrnn::cli::main_with`, this binary is the whole
//! `flexrnn` command line with `cautious: { calm_steps: 20 }` available in scenario and study files:
//!
//! ```text
//! cargo run --release --example custom_policy -- run examples/custom-policy.yaml --out results/cautious
//! cargo run --release --example custom_policy -- study examples/custom-policy-study.yaml
//! ```
//!
//! The rule, "deadline-aware hysteresis": the most expensive setting while steps end in time, the
//! cheapest after a step ran late, until `calm_steps` steps in a row were in time again.

use std::process::ExitCode;

use flexrnn::policy::{ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError, PolicyRegistry};
use serde::Deserialize;

/// The most expensive setting until a step is late, then the cheapest until `calm_steps` steps in a
/// row end in time.
#[derive(Debug, Clone)]
pub struct Cautious {
    /// Steps in time needed before returning to the most expensive setting.
    pub calm_steps: u32,
    /// Steps in time seen since the last late one (`None` while calm).
    pub recovering: Option<u32>,
}

impl Policy for Cautious {
    fn name(&self) -> String {
        "cautious".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        let deadline = observation.deadline_s - observation.release_s;
        let late = observation.last_latency_s.is_some_and(|latency| latency > deadline);
        self.recovering = match (late, self.recovering) {
            (true, _) => Some(0),
            (false, Some(n)) if n + 1 >= self.calm_steps => None,
            (false, Some(n)) => Some(n + 1),
            (false, None) => None,
        };
        let flops = |i: &usize| options[*i].flops_per_step;
        let pick = if self.recovering.is_none() {
            (0..options.len()).max_by_key(flops)
        } else {
            (0..options.len()).min_by_key(flops)
        };
        pick.unwrap_or(0)
    }
}

/// `cautious: { calm_steps: <n ≥ 1> }` as written in a scenario's `policies` or a study's `set`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CautiousConfig {
    /// Steps in time needed before returning to the most expensive setting (≥ 1).
    pub calm_steps: u32,
}

impl PolicyConfig for CautiousConfig {
    const NAME: &'static str = "cautious";
    const SYNTAX: &'static str = "`cautious: { calm_steps: <n ≥ 1> }`";

    fn validate(&self) -> Result<(), String> {
        if self.calm_steps == 0 {
            return Err(format!("calm_steps must be at least 1, got {}", self.calm_steps));
        }
        Ok(())
    }

    /// The run's folder and the `policy` column: `cautious-calm20`.
    fn label(&self) -> String {
        format!("cautious-calm{}", self.calm_steps)
    }

    fn build(&self, _context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(Cautious { calm_steps: self.calm_steps, recovering: None }))
    }
}

/// The built-in policies and `cautious`.
pub fn registry() -> PolicyRegistry {
    PolicyRegistry::builtin().with::<CautiousConfig>()
}

#[allow(dead_code)] // the integration tests include this file for its policy and registry
fn main() -> ExitCode {
    flexrnn::cli::main_with(registry())
}
