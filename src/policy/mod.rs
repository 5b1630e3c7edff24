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
    /// FLOPs of switching from option `i` to option `j` at `i · n + j` (row-major, `n` options).
    pub switch_matrix: &'a [u64],
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
    /// The network's own confidence: the top softmax probability of the current model's readout on
    /// the current state; only for policies whose [`Policy::needs_confidence`] is true (its readout
    /// FLOPs are then charged to the step), and `None` before the first step of a sequence.
    pub confidence: Option<f64>,
}

/// A rule that chooses the model of each step.
pub trait Policy: Send {
    /// Short name used in output folders and tables (e.g. `static-gru-128`).
    fn name(&self) -> String;
    /// Returns an index into `options`.
    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize;
    /// Whether [`Observation::confidence`] should be computed (it costs a readout per step).
    fn needs_confidence(&self) -> bool {
        false
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

/// What a [`ThresholdPolicy`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSignal {
    /// Jobs on the node besides this step ([`Observation::node_jobs`]).
    NodeJobs,
    /// Frames waiting in the stream's queue ([`Observation::pending_frames`]).
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
            LoadSignal::Queue => observation.pending_frames as f64,
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

/// The order "more FLOPs per step first (ties: later option first)" as a key: larger comes first.
fn flops_key(options: &[ModelOption], i: usize) -> (u64, usize) {
    (options[i].flops_per_step, i)
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

/// Keeps the FLOPs of every window of `window` consecutive steps of a sequence under `budget`, in the
/// spirit of SkipW's strict bound: each step takes the option with the most FLOPs that still leaves
/// room for the rest of the window at the cheapest option; if even the cheapest does not fit, the
/// cheapest. Windows start at steps 0, `window`, `2·window`, … of each sequence.
#[derive(Debug, Clone)]
pub struct BudgetPolicy {
    /// Steps per window.
    pub window: usize,
    /// FLOPs allowed per window (steps and switch maps).
    pub budget: f64,
    /// FLOPs spent in the current window.
    pub spent: f64,
    /// (sequence start marker, window index) of the current window.
    pub current_window: Option<usize>,
}

impl Policy for BudgetPolicy {
    fn name(&self) -> String {
        "budget".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        let window = observation.step / self.window;
        if self.current_window != Some(window) || observation.step % self.window == 0 {
            self.current_window = Some(window);
            self.spent = 0.0;
        }
        let cost =
            |i: usize| options[i].flops_per_step as f64 + observation.switch_flops.get(i).copied().unwrap_or(0) as f64;
        let cheapest =
            (0..options.len()).min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b))).expect("options");
        let window_end = ((window + 1) * self.window).min(observation.steps);
        let remaining_after = window_end.saturating_sub(observation.step + 1) as f64;
        let n = options.len();
        // Room for the rest of the window at the cheapest option, including one switch back to it.
        let reserve = |i: usize| {
            if remaining_after == 0.0 {
                0.0
            } else {
                remaining_after * options[cheapest].flops_per_step as f64
                    + observation.switch_matrix.get(i * n + cheapest).copied().unwrap_or(0) as f64
            }
        };
        // The first fitting option in decreasing-FLOPs order is the fitting one with the largest key.
        let choice = (0..options.len())
            .filter(|&i| self.spent + cost(i) + reserve(i) <= self.budget)
            .max_by_key(|&i| flops_key(options, i))
            .unwrap_or(cheapest);
        self.spent += cost(choice);
        choice
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
            switch_matrix: &[],
            rate_estimate: rate,
            node_jobs: 1,
            cores: 1,
            core_speed: 2.0 * rate,
            last_latency_s: None,
            confidence: None,
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

    fn at(node_jobs: usize, pending: usize, last_latency_s: Option<f64>, step: usize) -> Observation<'static> {
        Observation {
            now_s: 0.0,
            release_s: 0.0,
            deadline_s: 0.01,
            slack_s: 0.01,
            pending_frames: pending,
            step,
            steps: 8,
            current: None,
            switch_flops: &[0, 0, 0],
            switch_matrix: &[],
            rate_estimate: 1e6,
            node_jobs,
            cores: 1,
            core_speed: 1e6,
            last_latency_s,
            confidence: None,
        }
    }

    #[test]
    fn confidence_runs_cheap_only_when_confident() {
        let mut policy = ConfidencePolicy { threshold: 0.9, cheap: 0, accurate: 2 };
        let with = |c: Option<f64>| Observation { confidence: c, ..at(0, 1, None, 3) };
        assert_eq!(policy.choose(&with(None), &options()), 2, "no state yet");
        assert_eq!(policy.choose(&with(Some(0.95)), &options()), 0);
        assert_eq!(policy.choose(&with(Some(0.9)), &options()), 0, "at the threshold");
        assert_eq!(policy.choose(&with(Some(0.6)), &options()), 2);
        assert!(policy.needs_confidence() && !StaticPolicy { model: 0, model_name: "m".into() }.needs_confidence());
    }

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
            [0, 2, 3, 4, 3, 2, 1, 0].iter().map(|&jobs| policy.choose(&at(jobs, 1, None, 0), &options())).collect();
        // 0→2; 2→1; 3→1; 4→0; 3 (≥ 4 − 1)→0; 2 (< 3)→1; 1 (≥ 2 − 1)→1; 0→2.
        assert_eq!(picks, vec![2, 1, 1, 0, 0, 1, 1, 2]);
    }

    #[test]
    fn pid_moves_to_cheaper_settings_when_late_and_back_when_early() {
        let mut policy = PidPolicy { target_s: 0.010, kp: 0.5, ki: 0.5, kd: 0.0, position: 0.0, errors: (0.0, 0.0) };
        // No latency yet: stays at the most expensive option (gru-128, index 2).
        assert_eq!(policy.choose(&at(0, 1, None, 0), &options()), 2);
        // 20 ms against 10 ms: e = 1 → position += 0.5·1 + 0.5·1 = 1 → gru-64.
        assert_eq!(policy.choose(&at(0, 1, Some(0.020), 1), &options()), 1);
        // Still late: e = 1 → position += 0 + 0.5 = 1.5 → rounds to 2 → gru-16.
        assert_eq!(policy.choose(&at(0, 1, Some(0.020), 2), &options()), 0);
        // Early: e = −0.5 → position += 0.5·(−1.5) + 0.5·(−0.5) = −1 → 0.5 → rounds to 1 (half away) → gru-64.
        assert_eq!(policy.choose(&at(0, 1, Some(0.005), 3), &options()), 1);
    }

    #[test]
    fn budget_keeps_every_window_under_its_flops() {
        // Options cost 1 000, 10 000 and 40 000 FLOPs; windows of 4 steps with 52 000 FLOPs each.
        let mut policy = BudgetPolicy { window: 4, budget: 52_000.0, spent: 0.0, current_window: None };
        let picks: Vec<usize> = (0..8).map(|step| policy.choose(&at(0, 1, None, step), &options())).collect();
        // Step 0: 40 000 + 3 000 reserve ≤ 52 000 → 2. Step 1: 40 000 + 10 000 + 2 000 = 52 000 → 1.
        // Steps 2, 3: only 1 000 fits → 0. Next window starts afresh.
        assert_eq!(picks, vec![2, 1, 0, 0, 2, 1, 0, 0]);
        let spent_per_window = [40_000 + 10_000 + 1_000 + 1_000; 2];
        assert!(spent_per_window.iter().all(|&s| s as f64 <= 52_000.0));
    }

    #[test]
    fn random_is_seeded_and_covers_every_option() {
        use rand::SeedableRng;
        let mut a = RandomPolicy { rng: rand_pcg::Pcg64::seed_from_u64(3) };
        let mut b = RandomPolicy { rng: rand_pcg::Pcg64::seed_from_u64(3) };
        let picks_a: Vec<usize> = (0..300).map(|s| a.choose(&at(0, 1, None, s % 8), &options())).collect();
        let picks_b: Vec<usize> = (0..300).map(|s| b.choose(&at(0, 1, None, s % 8), &options())).collect();
        assert_eq!(picks_a, picks_b);
        for option in 0..3 {
            let share = picks_a.iter().filter(|&&p| p == option).count() as f64 / 300.0;
            assert!((share - 1.0 / 3.0).abs() < 0.1, "option {option}: {share}");
        }
    }

    #[test]
    fn static_always_returns_its_model() {
        let mut policy = StaticPolicy { model: 1, model_name: "gru-64".into() };
        assert_eq!(policy.choose(&observation(-5.0, 1.0, &[0, 0, 0]), &options()), 1);
        assert_eq!(policy.name(), "static-gru-64");
    }
}
