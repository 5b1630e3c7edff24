//! `budget: { window, budget, knob_step }`: a FLOPs budget per window of steps.

use serde::Deserialize;

use super::{check_knob_step, flops_key, ModelOption, Observation, Policy, PolicyConfig, PolicyContext, PolicyError};
use crate::units::Work;

/// The configuration of `budget`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map `{ window: <steps>, budget: <work>, knob_step: <number> }`")]
pub struct BudgetConfig {
    /// Steps per window (≥ 1).
    #[schemars(range(min = 1))]
    pub window: usize,
    /// FLOPs per window (positive).
    pub budget: Work,
    /// As [`super::pid::PidConfig::knob_step`].
    #[serde(default)]
    #[schemars(range(min = super::MIN_KNOB_STEP, max = 1))]
    #[schemars(description = "If given, the budget steers over the model's whole knob range sampled every `knob_step` (ThrRNN `thr`; SkipW `thr` at every `K`) besides the grid settings; in [0.001, 1].")]
    pub knob_step: Option<f32>,
}

impl PolicyConfig for BudgetConfig {
    const NAME: &'static str = "budget";
    const SYNTAX: &'static str = "`budget: { window, budget, knob_step }`";

    fn validate(&self) -> Result<(), String> {
        if self.window == 0 || self.budget.0 <= 0.0 {
            return Err("window must be at least 1 step and budget a positive work".into());
        }
        check_knob_step(self.knob_step)
    }

    /// `budget`, or `budget-knob<step>` with a `knob_step`.
    fn label(&self) -> String {
        match self.knob_step {
            None => "budget".into(),
            Some(step) => format!("budget-knob{step}"),
        }
    }

    fn knob_step(&self) -> Option<f32> {
        self.knob_step
    }

    fn build(&self, _context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(BudgetPolicy {
            window: self.window,
            budget: self.budget.0,
            spent: 0.0,
            current_window: None,
            window_reads: (0, 0),
        }))
    }
}

/// Keeps the FLOPs of every window of `window` consecutive steps of a sequence under `budget`, in the
/// spirit of SkipW's strict bound: each step takes the option with the most FLOPs that still leaves
/// room for the rest of the window at the cheapest option; if even the cheapest does not fit, the
/// cheapest. Windows start at steps 0, `window`, `2·window`, … of each sequence.
///
/// An option is charged its `flops_per_step` (plus the switch to it), except an option with a
/// [`WindowLimit`](super::WindowLimit) (SkipW), which is charged its worst case, never a mean: the gate at each SkipW
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
    /// In the current SkipW window (options with a [`WindowLimit`](super::WindowLimit)): steps charged with `K ≥ 1` and
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{at, options};
    use crate::policy::WindowLimit;

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
}
