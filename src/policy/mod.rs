//! Policies: before each step of an RNN stream, choose the model (setting) that the step runs with.
//!
//! **Invariant:** a policy sees an [`Observation`] and the list of [`ModelOption`]s, never the
//! simulator's or the network's internals. Users add their own policy by implementing [`Policy`].

/// One model a policy may choose, in bank order (the shipped banks list the narrowest first).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOption {
    /// Model name, e.g. `gru-64`.
    pub name: String,
    /// Hidden size (width).
    pub hidden: usize,
    /// FLOPs of one step of this model.
    pub flops_per_step: u64,
}

/// What a policy knows when it decides the next step.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Current simulation time, seconds.
    pub now_s: f64,
    /// Release time of the frame about to run, seconds.
    pub release_s: f64,
    /// Absolute deadline of that frame, seconds.
    pub deadline_s: f64,
    /// `deadline_s − now_s`, seconds (negative when already late).
    pub slack_s: f64,
    /// Frames waiting in the stream's queue, including this one.
    pub pending_frames: usize,
    /// Index of this step in its sequence (0-based).
    pub step: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// Index (into the options) of the model that ran the previous step of this sequence, if any.
    pub current: Option<usize>,
    /// FLOPs of switching from `current` to each option (0 for staying), one per option.
    pub switch_flops: &'a [u64],
    /// Service rate (FLOP/s) a step submitted now would get under the node's current load.
    pub rate_estimate: f64,
    /// Jobs currently on the node (not counting this step).
    pub node_jobs: usize,
    /// Cores of the node.
    pub cores: usize,
    /// Speed of one core, FLOP/s.
    pub core_speed: f64,
    /// Latency (release to end) of this stream's last completed step, seconds.
    pub last_latency_s: Option<f64>,
}

/// A rule that chooses the model of each step.
pub trait Policy: Send {
    /// Short name used in output folders and tables (e.g. `static-gru-128`).
    fn name(&self) -> String;
    /// Returns an index into `options`.
    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize;
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

/// Greedy on slack: the widest model whose estimated step time fits the slack, else the narrowest.
///
/// Rule: estimated time of option `m` = `(flops_per_step(m) + switch_flops(m)) / rate_estimate`,
/// where `rate_estimate` is the processor-sharing rate the step would get under the node's current
/// load. Among options with `estimate ≤ safety × slack`, pick the one with the largest hidden size
/// (ties: the later option); if none fits, pick the one with the fewest FLOPs per step.
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
            if estimate <= budget && best.is_none_or(|b| option.hidden >= options[b].hidden) {
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

    fn options() -> Vec<ModelOption> {
        [(16, 1_000), (64, 10_000), (128, 40_000)]
            .into_iter()
            .map(|(hidden, flops_per_step)| ModelOption { name: format!("gru-{hidden}"), hidden, flops_per_step })
            .collect()
    }

    fn observation(slack_s: f64, rate: f64, switch: &[u64]) -> Observation<'_> {
        Observation {
            now_s: 1.0,
            release_s: 1.0,
            deadline_s: 1.0 + slack_s,
            slack_s,
            pending_frames: 1,
            step: 3,
            steps: 64,
            current: Some(2),
            switch_flops: switch,
            rate_estimate: rate,
            node_jobs: 1,
            cores: 1,
            core_speed: 2.0 * rate,
            last_latency_s: None,
        }
    }

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

    #[test]
    fn static_always_returns_its_model() {
        let mut policy = StaticPolicy { model: 1, model_name: "gru-64".into() };
        assert_eq!(policy.choose(&observation(-5.0, 1.0, &[0, 0, 0]), &options()), 1);
        assert_eq!(policy.name(), "static-gru-64");
    }
}
