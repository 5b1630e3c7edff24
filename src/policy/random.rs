//! `random: {}`: a uniformly random setting every step (a baseline).

use serde::Deserialize;

use super::{ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};

/// The configuration of `random` (none).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{}`")]
pub struct RandomConfig {}

impl PolicyConfig for RandomConfig {
    const NAME: &'static str = "random";
    const SYNTAX: &'static str = "`random: {}`";

    fn label(&self) -> String {
        "random".into()
    }

    /// Draws from its own stream ([`PolicyContext::rng`]), so that a random policy leaves every
    /// other draw unchanged.
    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(RandomPolicy { rng: context.rng() }))
    }
}

/// A baseline: every step picks an option uniformly at random, from its own seeded PCG-64 stream.
#[derive(Debug, Clone)]
pub struct RandomPolicy {
    /// The generator.
    pub rng: rand_pcg::Pcg64,
}

impl Policy for RandomPolicy {
    fn name(&self) -> String {
        "random".into()
    }

    fn choose(&mut self, _observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        rand::Rng::random_range(&mut self.rng, 0..options.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{at, options};

    #[test]
    fn random_is_seeded_and_covers_every_option() {
        use rand::SeedableRng;
        let mut a = RandomPolicy { rng: rand_pcg::Pcg64::seed_from_u64(3) };
        let mut b = RandomPolicy { rng: rand_pcg::Pcg64::seed_from_u64(3) };
        let picks_a: Vec<usize> = (0..300).map(|s| a.choose(&at(0, 0, None, s % 8), &options())).collect();
        let picks_b: Vec<usize> = (0..300).map(|s| b.choose(&at(0, 0, None, s % 8), &options())).collect();
        assert_eq!(picks_a, picks_b);
        for option in 0..3 {
            let share = picks_a.iter().filter(|&&p| p == option).count() as f64 / 300.0;
            assert!((share - 1.0 / 3.0).abs() < 0.1, "option {option}: {share}");
        }
    }
}
