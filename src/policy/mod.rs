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
    /// FLOPs of one step of this model (for settings whose gate may skip, the card's mean).
    pub flops_per_step: u64,
    /// For a setting that reads at most `k` steps of every window (SkipW), what a strict FLOPs bound
    /// needs; `None` for settings of the other families.
    pub window_limit: Option<WindowLimit>,
}

/// The worst case of a setting whose gate reads at most `k` of every `window` consecutive steps of a
/// sequence (SkipW; windows start at steps 0, `window`, `2·window`, …): the gate's FLOPs at each
/// window's start plus at most `k` processed steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// Steps per window (`L`).
    pub window: usize,
    /// Steps read at most per window (`K`).
    pub k: usize,
    /// FLOPs of a processed (read) step.
    pub flops_per_processed_step: u64,
    /// FLOPs of the window gate, paid at each window's first step under any setting.
    pub flops_window_gate: u64,
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
    /// Frames released and waiting behind the one about to run (not counting it): 0 when the stream
    /// keeps up. Under `on_miss: skip` at most ⌈deadline / period⌉ − 1.
    pub queued_frames: usize,
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
///
/// An option is charged its `flops_per_step` (plus the switch to it), except an option with a
/// [`WindowLimit`] (SkipW), which is charged its worst case, never a mean: the gate at each SkipW
/// window's start, and a processed step whenever the steps that may have been read so far in the
/// SkipW window (at most the largest `K` chosen in it, at most one per step with `K ≥ 1`) can grow.
/// When `window` is a multiple of the SkipW window `L` this is exact for a constant `K` (gate + `K`
/// processed steps per SkipW window); otherwise every step with `K ≥ 1` is charged a processed step.
/// Either way the FLOPs actually spent in a window never exceed `budget` unless even the cheapest
/// option does not fit.
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
    /// In the current SkipW window (options with a [`WindowLimit`]): steps charged with `K ≥ 1` and
    /// the largest `K` chosen; the steps that may have been read are at most the smaller of the two.
    pub window_reads: (usize, usize),
}

impl Policy for BudgetPolicy {
    fn name(&self) -> String {
        "budget".into()
    }

    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize {
        let window = observation.step / self.window;
        if self.current_window != Some(window) || observation.step.is_multiple_of(self.window) {
            self.current_window = Some(window);
            self.spent = 0.0;
        }
        let step = observation.step;
        // The SkipW window state restarts at each SkipW window's first step.
        let skip_window = options.iter().find_map(|o| o.window_limit).map_or(0, |l| l.window);
        if skip_window > 0 && step.is_multiple_of(skip_window) {
            self.window_reads = (0, 0);
        }
        let exact = skip_window > 0 && self.window.is_multiple_of(skip_window);
        let reads = self.window_reads;
        // Steps that may be read after choosing a setting with read limit `k` at this step.
        let reads_after = |k: usize| {
            let (steps, k_max) = reads;
            let steps = steps + usize::from(k >= 1);
            if exact {
                (steps, k_max.max(k))
            } else {
                (steps, usize::MAX)
            }
        };
        let bound = |(steps, k_max): (usize, usize)| steps.min(k_max);
        let cost = |i: usize| {
            let switch = observation.switch_flops.get(i).copied().unwrap_or(0) as f64;
            match options[i].window_limit {
                None => options[i].flops_per_step as f64 + switch,
                Some(limit) => {
                    let gate = if step.is_multiple_of(limit.window) { limit.flops_window_gate } else { 0 };
                    let read = bound(reads_after(limit.k)) - bound(if exact { reads } else { (reads.0, usize::MAX) });
                    (gate + read as u64 * limit.flops_per_processed_step) as f64 + switch
                }
            }
        };
        let cheapest =
            (0..options.len()).min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b))).expect("options");
        let window_end = ((window + 1) * self.window).min(observation.steps);
        let remaining_after = window_end.saturating_sub(observation.step + 1) as f64;
        let n = options.len();
        // Room for the rest of the window at the cheapest option, including one switch back to it;
        // for a SkipW option, its worst case there: the gates of the SkipW windows that start in the
        // rest of the window, and a processed step per remaining step if it reads at all.
        let future_per_step = match options[cheapest].window_limit {
            None => options[cheapest].flops_per_step as f64,
            Some(limit) => {
                let gates = (observation.step + 1..window_end).filter(|t| t.is_multiple_of(limit.window)).count();
                let reads = if limit.k >= 1 { limit.flops_per_processed_step as f64 } else { 0.0 };
                reads
                    + if remaining_after > 0.0 {
                        (gates as u64 * limit.flops_window_gate) as f64 / remaining_after
                    } else {
                        0.0
                    }
            }
        };
        let reserve = |i: usize| {
            if remaining_after == 0.0 {
                0.0
            } else {
                remaining_after * future_per_step
                    + observation.switch_matrix.get(i * n + cheapest).copied().unwrap_or(0) as f64
            }
        };
        // The first fitting option in decreasing-FLOPs order is the fitting one with the largest key.
        let choice = (0..options.len())
            .filter(|&i| self.spent + cost(i) + reserve(i) <= self.budget)
            .max_by_key(|&i| flops_key(options, i))
            .unwrap_or(cheapest);
        self.spent += cost(choice);
        if let Some(limit) = options[choice].window_limit {
            let (steps, k_max) = reads_after(limit.k);
            self.window_reads = (steps, if exact { k_max } else { 0 });
        }
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

/// A forecast of the service rate one stream's step would get over time: a step function, rate
/// `rates[i]` (FLOP/s) on `[starts_s[i], starts_s[i + 1])`, the last rate forever after. Built by the
/// runner from a first pass of the same run (see [`OraclePolicy`]); queries allocate nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadForecast {
    /// Segment starts, seconds, strictly ascending, the first at most 0.
    starts_s: Vec<f64>,
    /// Rate of a step job in each segment, FLOP/s, each positive and finite.
    rates: Vec<f64>,
}

impl LoadForecast {
    /// A forecast from `(start_s, rate)` segments in time order (the first rate also holds before the
    /// first start). Consecutive segments with the same rate are merged, and a segment is replaced by a
    /// later one with the same start.
    ///
    /// # Panics
    /// If `segments` is empty, not in time order, or a rate is not positive and finite.
    pub fn from_segments(segments: impl IntoIterator<Item = (f64, f64)>) -> LoadForecast {
        let mut starts_s: Vec<f64> = Vec::new();
        let mut rates: Vec<f64> = Vec::new();
        for (start_s, rate) in segments {
            assert!(rate.is_finite() && rate > 0.0, "a forecast rate must be positive and finite, got {rate}");
            if let Some(&last) = starts_s.last() {
                assert!(start_s >= last, "forecast segments must be in time order ({start_s} after {last})");
                if start_s == last {
                    starts_s.pop();
                    rates.pop();
                }
            }
            if rates.last() != Some(&rate) {
                starts_s.push(start_s);
                rates.push(rate);
            }
        }
        assert!(!rates.is_empty(), "a forecast needs at least one segment");
        starts_s[0] = starts_s[0].min(0.0);
        LoadForecast { starts_s, rates }
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.rates.len()
    }

    /// The segment holding time `t_s`, searched forward from `hint` (a segment at or before it; pass 0
    /// when unknown). Times before the first start belong to the first segment.
    pub fn segment_at(&self, t_s: f64, hint: usize) -> usize {
        let mut index = hint.min(self.rates.len() - 1);
        if self.starts_s[index] > t_s {
            index = 0;
        }
        while index + 1 < self.rates.len() && self.starts_s[index + 1] <= t_s {
            index += 1;
        }
        index
    }

    /// The forecast rate at `t_s`, FLOP/s.
    pub fn rate_at(&self, t_s: f64) -> f64 {
        self.rates[self.segment_at(t_s, 0)]
    }

    /// When a job of `flops` FLOPs started at `start_s` would finish if it were served at the forecast
    /// rate (integrating across segments), seconds; `hint` as for [`LoadForecast::segment_at`].
    pub fn finish_s(&self, start_s: f64, flops: f64, hint: usize) -> f64 {
        let mut index = self.segment_at(start_s, hint);
        let mut t = start_s;
        let mut left = flops;
        loop {
            let rate = self.rates[index];
            match self.starts_s.get(index + 1) {
                Some(&end) if (end - t) * rate < left => {
                    left -= (end - t) * rate;
                    t = end;
                    index += 1;
                }
                _ => return t + left / rate,
            }
        }
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
    pub forecast: std::sync::Arc<LoadForecast>,
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
mod tests {
    use super::*;

    fn options() -> Vec<ModelOption> {
        [(16, 1_000), (64, 10_000), (128, 40_000)]
            .into_iter()
            .map(|(hidden, flops_per_step)| ModelOption {
                name: format!("gru-{hidden}"),
                hidden,
                flops_per_step,
                window_limit: None,
            })
            .collect()
    }

    fn observation(slack_s: f64, rate: f64, switch: &[u64]) -> Observation<'_> {
        Observation {
            now_s: 1.0,
            release_s: 1.0,
            deadline_s: 1.0 + slack_s,
            slack_s,
            queued_frames: 0,
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

    fn at(node_jobs: usize, queued: usize, last_latency_s: Option<f64>, step: usize) -> Observation<'static> {
        Observation {
            now_s: 0.0,
            release_s: 0.0,
            deadline_s: 0.01,
            slack_s: 0.01,
            queued_frames: queued,
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
        let with = |c: Option<f64>| Observation { confidence: c, ..at(0, 0, None, 3) };
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

    #[test]
    fn budget_keeps_every_window_under_its_flops() {
        // Options cost 1 000, 10 000 and 40 000 FLOPs; windows of 4 steps with 52 000 FLOPs each.
        let mut policy =
            BudgetPolicy { window: 4, budget: 52_000.0, spent: 0.0, current_window: None, window_reads: (0, 0) };
        let picks: Vec<usize> = (0..8).map(|step| policy.choose(&at(0, 0, None, step), &options())).collect();
        // Step 0: 40 000 + 3 000 reserve ≤ 52 000 → 2. Step 1: 40 000 + 10 000 + 2 000 = 52 000 → 1.
        // Steps 2, 3: only 1 000 fits → 0. Next window starts afresh.
        assert_eq!(picks, vec![2, 1, 0, 0, 2, 1, 0, 0]);
        let spent_per_window = [40_000 + 10_000 + 1_000 + 1_000; 2];
        assert!(spent_per_window.iter().all(|&s| s as f64 <= 52_000.0));
    }

    #[test]
    fn budget_charges_skipw_settings_their_worst_case_not_their_mean() {
        // SkipW-like options with L = 4: K = 0, 2, 4 with card means 25, 400, 900 FLOPs per step; a read
        // step costs 1 000, the gate 100 at each window's start. Budget 1 500 per 4 steps.
        let limit =
            |k: usize| Some(WindowLimit { window: 4, k, flops_per_processed_step: 1_000, flops_window_gate: 100 });
        let options: Vec<ModelOption> = [(0, 25), (2, 400), (4, 900)]
            .into_iter()
            .map(|(k, mean)| ModelOption {
                name: format!("k={k}"),
                hidden: 64,
                flops_per_step: mean,
                window_limit: limit(k),
            })
            .collect();
        let mut policy =
            BudgetPolicy { window: 4, budget: 1_500.0, spent: 0.0, current_window: None, window_reads: (0, 0) };
        let picks: Vec<usize> = (0..8).map(|step| policy.choose(&at(0, 0, None, step), &options)).collect();
        // Step 0: K = 4 costs gate + one read = 1 100 ≤ 1 500. Step 1: any K ≥ 1 may read a second
        // step (+1 000 → 2 100 > 1 500), so K = 0 (0 FLOPs); likewise steps 2, 3. (Charging means,
        // step 1 took K = 2: 900 + 400 + 2·25 ≤ 1 500, and both steps could be read: 2 100 FLOPs.)
        assert_eq!(picks, vec![2, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(policy.spent, 1_100.0);
        // A constant K is charged exactly its bound: K = 2 over a window with budget 2 100 = gate + 2 reads.
        let mut policy =
            BudgetPolicy { window: 4, budget: 2_100.0, spent: 0.0, current_window: None, window_reads: (0, 0) };
        let two = [options[0].clone(), options[1].clone()];
        let picks: Vec<usize> = (0..4).map(|step| policy.choose(&at(0, 0, None, step), &two)).collect();
        assert_eq!(picks, vec![1, 1, 1, 1]);
        assert_eq!(policy.spent, 2_100.0);
    }

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

    /// Idle (1 MFLOP/s for a step) until 1 s, busy (a quarter of that) over [1 s, 1.05 s), idle after.
    fn busy_window() -> std::sync::Arc<LoadForecast> {
        std::sync::Arc::new(LoadForecast::from_segments([(0.0, 1e6), (1.0, 0.25e6), (1.05, 1e6)]))
    }

    fn oracle(forecast: std::sync::Arc<LoadForecast>) -> OraclePolicy {
        // Most accurate first: gru-128, gru-64, gru-16.
        OraclePolicy { forecast, preference: vec![2, 1, 0], margin_s: 0.0, period_s: 0.002, skip_late: true, cursor: 0 }
    }

    #[test]
    fn forecast_integrates_across_segments() {
        let forecast = busy_window();
        assert_eq!(forecast.segments(), 3);
        assert_eq!(forecast.rate_at(0.5), 1e6);
        assert_eq!(forecast.rate_at(1.0), 0.25e6);
        assert_eq!(forecast.rate_at(7.0), 1e6);
        // 40 kFLOP from 0.99 s: 10 kFLOP by 1 s, 12.5 kFLOP by 1.05 s, the last 17.5 kFLOP by 1.0675 s.
        assert!((forecast.finish_s(0.99, 40_000.0, 0) - 1.0675).abs() < 1e-12);
        assert!((forecast.finish_s(0.99, 40_000.0, 2) - 1.0675).abs() < 1e-12, "a hint past the time is ignored");
        // Equal neighbours merge; a repeated start keeps the later rate.
        let merged = LoadForecast::from_segments([(0.0, 1.0), (1.0, 1.0), (2.0, 3.0), (2.0, 1.0)]);
        assert_eq!(merged.segments(), 1);
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

    #[test]
    fn static_always_returns_its_model() {
        let mut policy = StaticPolicy { model: 1, model_name: "gru-64".into() };
        assert_eq!(policy.choose(&observation(-5.0, 1.0, &[0, 0, 0]), &options()), 1);
        assert_eq!(policy.name(), "static-gru-64");
    }
}
