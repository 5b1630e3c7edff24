//! The paper's wording, with uncertainty: the checks `flexrnn eval` adds to the step-weighted
//! comparison.
//!
//! - **Bounds.** A run is *within bounds* when its measured metric lies between the smallest and the
//!   largest value alone of the settings it used (those with steps run), widened by a tolerance:
//!   accuracy within `[min − tol_pp, max + tol_pp]` ([`CheckConfig::tolerance_pp`], default 1 pp);
//!   MSE within `[min · (1 − tol), max · (1 + tol)]` ([`CheckConfig::tolerance_rel`], default 5 %).
//!   Shares are reported per kind of run: one change on the grid, random schedules with one change,
//!   random schedules with several, and per pair and direction.
//! - **Monotonicity.** Per pair and direction `a → b`, the metric from `b` alone (`s = 0`) over the
//!   change positions to `a` alone (`s = T`) must move one way only: no step against the overall
//!   direction — the direction from `b` alone to `a` alone (rising when `a` alone is the higher,
//!   falling when it is the lower) — larger than the tolerance (accuracy: `tol_pp`; MSE: `tol` times
//!   the larger of the two settings' MSEs). The largest step against it is reported; when both
//!   endpoints are equal either direction counts, and the smaller of the two largest steps against
//!   them is reported.
//! - **Intervals.** Every deviation measured − predicted gets a 95 % percentile interval from a paired
//!   bootstrap over test sequences ([`CheckConfig::resamples`] resamples, seeded PCG-64; 0 turns the
//!   intervals off — each is then [`Interval::none`], and nothing is marked — otherwise at least
//!   [`MIN_RESAMPLES`], at most [`MAX_RESAMPLES`], see [`CheckConfig::validate`]): a resample
//!   draws `N` sequences with replacement, the same ones for every run, and recomputes from them the
//!   measured value, each setting's value alone and the step weights (pooled steps, as the
//!   prediction's); so the interval holds the sampling error of the measurement and of the
//!   prediction together. A group's mean deviation gets its interval from the same resamples.
//! - **Late change.** Per pair and direction one more run changes, in each sequence, at
//!   [`late_change_step`] = `⌈(1 − late_share) · L⌉` of that sequence's own length `L` (the last 10 %
//!   of its steps by default; [`super::Schedule::late_change`]): nearly all steps run in `a`, the
//!   readout is `b`'s after a map, so its deviation and its distance below the worse setting alone
//!   show what the change itself costs. On variable-length data the prediction's step weights and the
//!   bootstrap's count each sequence's own steps in `a` and `b`; a sequence too short for a step in
//!   its last `late_share` runs `a` alone. A fixed-length set changes at `⌈(1 − late_share) · T⌉`.
//!
//! Deviations are in the unit of [`Metric::deviation`]: percentage points of accuracy, or MSE units.

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{Evaluation, Metric, RunKind, RunResult};

/// Fewest bootstrap resamples accepted besides 0 (fewer give percentile intervals that need not even
/// hold the point estimate).
pub const MIN_RESAMPLES: usize = 100;
/// Most bootstrap resamples accepted (each resample holds one count per test sequence).
pub const MAX_RESAMPLES: usize = 100_000;

/// Parameters of the checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckConfig {
    /// Bootstrap resamples: 0 (no intervals: every interval is [`Interval::none`]) or
    /// [`MIN_RESAMPLES`]`..=`[`MAX_RESAMPLES`].
    pub resamples: usize,
    /// Seed of the bootstrap's resamples.
    pub seed: u64,
    /// Tolerance of the bounds and of monotonicity for accuracy, percentage points.
    pub tolerance_pp: f64,
    /// Tolerance of the bounds and of monotonicity for MSE, relative (0.05 = 5 %).
    pub tolerance_rel: f64,
    /// Share of the steps at the end in which the late change falls (0.1 = last 10 %).
    pub late_share: f64,
}

impl Default for CheckConfig {
    fn default() -> CheckConfig {
        CheckConfig { resamples: 1000, seed: 1, tolerance_pp: 1.0, tolerance_rel: 0.05, late_share: 0.1 }
    }
}

impl CheckConfig {
    /// Checks the number of resamples.
    ///
    /// # Errors
    /// A message naming `--resamples` and the allowed values (0, or [`MIN_RESAMPLES`] to
    /// [`MAX_RESAMPLES`]) when `resamples` is neither.
    pub fn validate(&self) -> Result<(), String> {
        if self.resamples == 0 || (MIN_RESAMPLES..=MAX_RESAMPLES).contains(&self.resamples) {
            Ok(())
        } else {
            Err(format!(
                "--resamples {}: give 0 (no intervals) or {MIN_RESAMPLES} to {MAX_RESAMPLES} bootstrap resamples (fewer give intervals that need not hold the point estimate; more take memory and time without changing the 95 % bounds)",
                self.resamples
            ))
        }
    }
}

/// A 95 % interval `[low, high]` (percentile bootstrap) in the unit of the value it bounds; both ends
/// NaN ([`Interval::none`], `null` in JSON) when no interval was computed (0 resamples).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Interval {
    /// 2.5th percentile.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
}

impl Interval {
    /// No interval (0 resamples): both ends NaN; it excludes nothing and covers nothing.
    pub fn none() -> Interval {
        Interval { low: f64::NAN, high: f64::NAN }
    }

    /// True for [`Interval::none`].
    pub fn is_none(&self) -> bool {
        self.low.is_nan() || self.high.is_nan()
    }

    /// True when 0 lies outside the interval (false for [`Interval::none`]).
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }

    /// True when `value` lies in the interval (ends included).
    pub fn covers(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

/// The step at which the late change happens for sequences of `steps` steps: `⌈(1 − share) · T⌉`,
/// at least 1; `None` when that is not below `T` (no step left to change at).
pub fn late_change_step(steps: usize, share: f64) -> Option<usize> {
    let s = (((1.0 - share.clamp(0.0, 1.0)) * steps as f64).ceil() as usize).max(1);
    (s < steps).then_some(s)
}

/// Multiplicities of `n` items in each of `resamples` bootstrap resamples (PCG-64 seeded with `seed`):
/// resample `r` draws `n` items uniformly with replacement; entry `i` counts how often item `i` was
/// drawn (the counts of a resample sum to `n`).
pub fn resample_counts(n: usize, resamples: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..resamples)
        .map(|_| {
            let mut counts = vec![0u32; n];
            for _ in 0..n {
                counts[rng.random_range(0..n)] += 1;
            }
            counts
        })
        .collect()
}

/// The 2.5th and 97.5th percentiles of `values` (linear interpolation between order statistics, as
/// R's type 7 and NumPy's default). Sorts `values`. An empty slice gives `[NaN, NaN]`.
pub fn percentile_interval(values: &mut [f64]) -> Interval {
    if values.is_empty() {
        return Interval { low: f64::NAN, high: f64::NAN };
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let h = (values.len() - 1) as f64 * q;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        values[lo] + (h - lo as f64) * (values[hi] - values[lo])
    };
    Interval { low: at(0.025), high: at(0.975) }
}

/// 95 % percentile-bootstrap interval of the mean of `values` (`resamples` resamples, seeded):
/// the known-answer building block of the paired bootstrap (a constant gives a zero-width interval
/// at that constant).
pub fn bootstrap_mean_interval(values: &[f64], resamples: usize, seed: u64) -> Interval {
    let n = values.len();
    let mut means: Vec<f64> = resample_counts(n, resamples, seed)
        .iter()
        .map(|counts| counts.iter().zip(values).map(|(&c, v)| f64::from(c) * v).sum::<f64>() / n as f64)
        .collect();
    percentile_interval(&mut means)
}

/// Within-bounds verdict of one run.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunCheck {
    /// Kind of run, as in `checks.csv`: `alone`, `change`, `random` or `late`.
    pub kind: String,
    /// The run's schedule, `<setting>@<start step>` segments joined by `;` (as in `eval.csv`).
    pub schedule: String,
    /// Point deviation measured − predicted (pp, or MSE units).
    pub deviation: f64,
    /// 95 % interval of the deviation measured − predicted (pp, or MSE units).
    pub interval: Interval,
    /// Lower bound: the smallest value alone of the settings used, minus the tolerance.
    pub bound_low: f64,
    /// Upper bound: the largest value alone of the settings used, plus the tolerance.
    pub bound_high: f64,
    /// Measured value within `[bound_low, bound_high]`.
    pub within: bool,
}

/// The late-change run of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LateCheck {
    /// Change step `s` (of the longest sequence; each sequence changes at its own late step).
    pub s: usize,
    /// Measured metric (accuracy as a share, or MSE).
    pub measured: f64,
    /// Deviation measured − predicted (pp, or MSE units).
    pub deviation: f64,
    /// Its 95 % interval.
    pub interval: Interval,
    /// Measured minus the worse of the two settings alone (pp of accuracy, negative = below the worse
    /// model; for MSE the worse is the larger MSE, and a positive value is above it, i.e. worse).
    pub versus_worse: f64,
    /// Within bounds (see the module doc).
    pub within: bool,
}

/// The checks of one direction `a → b` of a pair: `a` for steps `0..s`, `b` from `s`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectionCheck {
    /// Pair index ([`Evaluation::pairs`]).
    pub pair: usize,
    /// Setting first.
    pub a: usize,
    /// Setting from the change on.
    pub b: usize,
    /// `name(a) → name(b)`.
    pub label: String,
    /// Grid runs (change positions).
    pub runs: usize,
    /// Mean deviation over them (pp, or MSE units).
    pub mean_deviation: f64,
    /// Its 95 % interval.
    pub interval: Interval,
    /// Grid runs within bounds.
    pub within: usize,
    /// The metric moves monotonically with the change position (within the tolerance).
    pub monotone: bool,
    /// Largest step against the overall direction (from `b` alone to `a` alone), in the deviation's
    /// unit (0 when the series never moves against it).
    pub largest_reversal: f64,
    /// The late-change run, if the sequences are long enough for one.
    pub late: Option<LateCheck>,
}

/// Share of runs within bounds for one kind of run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindShare {
    /// Kind of run, in words.
    pub kind: String,
    /// Runs of that kind.
    pub runs: usize,
    /// Of them within bounds.
    pub within: usize,
    /// Mean deviation (pp, or MSE units).
    pub mean_deviation: f64,
    /// Its 95 % interval.
    pub interval: Interval,
}

/// Everything the checks found (see the module doc).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Checks {
    /// The parameters (absent only in a default, empty value).
    pub config: Option<CheckConfig>,
    /// The deviations' unit: `pp` or `MSE`.
    pub unit: String,
    /// Per run of [`Evaluation::runs`] (the settings alone are within by definition).
    pub runs: Vec<RunCheck>,
    /// Per run of [`Evaluation::late`].
    pub late: Vec<RunCheck>,
    /// Per pair and direction, in [`Evaluation::groups`] order.
    pub directions: Vec<DirectionCheck>,
    /// Per kind of run: one change on the grid, random one change, random several changes, all runs
    /// with changes (late-change runs not included).
    pub kinds: Vec<KindShare>,
}

/// `(low, high)` of the bounds of a run from the settings alone it used.
fn bounds(metric: Metric, config: &CheckConfig, scores: &[f64], run: &RunResult) -> (f64, f64) {
    let used = run.sequence_steps_per_setting.iter().zip(scores).filter(|(n, _)| **n > 0).map(|(_, &v)| v);
    let (lo, hi) = used.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    match metric {
        Metric::Accuracy => (lo - config.tolerance_pp / 100.0, hi + config.tolerance_pp / 100.0),
        Metric::Mse => (lo * (1.0 - config.tolerance_rel), hi * (1.0 + config.tolerance_rel)),
    }
}

/// Whether `series` moves one way only within `tolerance`, and the largest step against its overall
/// direction, the direction from its first to its last value (0 for a series that never reverses);
/// when the first and last values are equal, the smaller of the largest steps against rising and
/// against falling.
pub fn monotone(series: &[f64], tolerance: f64) -> (bool, f64) {
    let against = |sign: f64| series.windows(2).map(|w| (-(w[1] - w[0]) * sign).max(0.0)).fold(0.0, f64::max);
    let overall = match (series.first(), series.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    };
    let reversal = if overall > 0.0 {
        against(1.0)
    } else if overall < 0.0 {
        against(-1.0)
    } else {
        against(1.0).min(against(-1.0))
    };
    (reversal <= tolerance, reversal)
}

/// Paired-bootstrap deviations: for each resample, every run's measured − predicted recomputed from
/// the resampled sequences (scaled to the deviation's unit), `[resample][run]`, runs of
/// [`Evaluation::runs`] then [`Evaluation::late`].
fn bootstrap_deviations(e: &Evaluation, config: &CheckConfig) -> Vec<Vec<f64>> {
    let n = e.alone.len();
    let sequences = e.lengths.len();
    let scale = match e.metric {
        Metric::Accuracy => 100.0,
        Metric::Mse => 1.0,
    };
    let all: Vec<&RunResult> = e.runs.iter().chain(&e.late).collect();
    // Per run, per used setting, each sequence's steps in it (variable-length sets only; a
    // fixed-length set's weights do not depend on which sequences were drawn).
    let fixed = e.is_fixed_length();
    let steps: Vec<Vec<(usize, Vec<u32>)>> = all
        .iter()
        .map(|run| {
            if fixed {
                return Vec::new();
            }
            let per: Vec<Vec<usize>> = e.lengths.iter().map(|&l| run.schedule.steps_per_setting(n, l)).collect();
            (0..n)
                .filter(|&j| run.sequence_steps_per_setting[j] > 0)
                .map(|j| (j, per.iter().map(|p| p[j] as u32).collect()))
                .collect()
        })
        .collect();
    let weighted = |counts: &[u32], values: &[f64]| -> f64 {
        counts.iter().zip(values).map(|(&c, v)| f64::from(c) * v).sum::<f64>() / sequences as f64
    };
    resample_counts(sequences, config.resamples, config.seed)
        .iter()
        .map(|counts| {
            let alone: Vec<f64> = (0..n).map(|j| weighted(counts, &e.sequence_scores[j])).collect();
            let total_steps: f64 = counts.iter().zip(&e.lengths).map(|(&c, &l)| f64::from(c) * l as f64).sum();
            all.iter()
                .enumerate()
                .map(|(r, run)| {
                    let measured = weighted(counts, &e.sequence_scores[r]);
                    let predicted: f64 = if fixed {
                        let total: usize = run.sequence_steps_per_setting.iter().sum();
                        run.sequence_steps_per_setting
                            .iter()
                            .zip(&alone)
                            .filter(|(s, _)| **s > 0)
                            .map(|(&s, v)| s as f64 / total as f64 * v)
                            .sum()
                    } else {
                        steps[r]
                            .iter()
                            .map(|(j, per)| {
                                let w: f64 = counts.iter().zip(per).map(|(&c, &s)| f64::from(c * s)).sum();
                                w / total_steps * alone[*j]
                            })
                            .sum()
                    };
                    (measured - predicted) * scale
                })
                .collect()
        })
        .collect()
}

impl Checks {
    /// The checks of an evaluation (see the module doc). With 0 resamples every interval is
    /// [`Interval::none`].
    pub fn of(e: &Evaluation, config: &CheckConfig) -> Checks {
        let metric = e.metric;
        let scores: Vec<f64> = e.alone.iter().map(|m| m.score).collect();
        let deviations = bootstrap_deviations(e, config);
        let all: Vec<&RunResult> = e.runs.iter().chain(&e.late).collect();
        // Interval of the mean deviation over the runs `indices` (into `all`).
        let interval_of = |indices: &[usize]| -> Interval {
            if config.resamples == 0 {
                return Interval::none();
            }
            if deviations.is_empty() || indices.is_empty() {
                let point =
                    indices.iter().map(|&i| metric.deviation(all[i])).sum::<f64>() / indices.len().max(1) as f64;
                return Interval { low: point, high: point };
            }
            let mut means: Vec<f64> =
                deviations.iter().map(|d| indices.iter().map(|&i| d[i]).sum::<f64>() / indices.len() as f64).collect();
            percentile_interval(&mut means)
        };
        let mut run_checks: Vec<RunCheck> = all
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let (bound_low, bound_high) = bounds(metric, config, &scores, run);
                let within = matches!(run.kind, RunKind::Alone { .. })
                    || (bound_low <= run.measured.score && run.measured.score <= bound_high);
                let kind = if i >= e.runs.len() { "late" } else { e.kind_fields(run).0 };
                RunCheck {
                    kind: kind.to_string(),
                    schedule: e.describe(&run.schedule),
                    deviation: metric.deviation(run),
                    interval: interval_of(&[i]),
                    bound_low,
                    bound_high,
                    within,
                }
            })
            .collect();
        let mean = |indices: &[usize]| {
            indices.iter().map(|&i| metric.deviation(all[i])).sum::<f64>() / indices.len().max(1) as f64
        };
        let kind_share = |kind: &str, indices: Vec<usize>| KindShare {
            kind: kind.to_string(),
            runs: indices.len(),
            within: indices.iter().filter(|&&i| run_checks[i].within).count(),
            mean_deviation: mean(&indices),
            interval: interval_of(&indices),
        };
        let grid = |pred: &dyn Fn(&RunResult) -> bool| -> Vec<usize> {
            (0..e.runs.len()).filter(|&i| pred(&e.runs[i])).collect()
        };
        let random_changes = |r: &RunResult| r.schedule.segments.len() - 1;
        let kinds = vec![
            kind_share("one change (grid)", grid(&|r| matches!(r.kind, RunKind::Change { .. }))),
            kind_share(
                "random, one change",
                grid(&|r| matches!(r.kind, RunKind::Random { .. }) && random_changes(r) == 1),
            ),
            kind_share(
                "random, several changes",
                grid(&|r| matches!(r.kind, RunKind::Random { .. }) && random_changes(r) > 1),
            ),
            kind_share("all runs with changes", grid(&|r| !matches!(r.kind, RunKind::Alone { .. }))),
        ];
        let value = |score: f64| match metric {
            Metric::Accuracy => score * 100.0,
            Metric::Mse => score,
        };
        let mut directions = Vec::new();
        for (pair, &(cheap, dear)) in e.pairs.iter().enumerate() {
            for (a, b) in [(cheap, dear), (dear, cheap)] {
                let mut indices =
                    grid(&|r| matches!(r.kind, RunKind::Change { pair: p, a: ra, .. } if p == pair && ra == a));
                indices.sort_by_key(|&i| match e.runs[i].kind {
                    RunKind::Change { s, .. } => s,
                    _ => 0,
                });
                let mut series = vec![value(scores[b])];
                series.extend(indices.iter().map(|&i| value(e.runs[i].measured.score)));
                series.push(value(scores[a]));
                let tolerance = match metric {
                    Metric::Accuracy => config.tolerance_pp,
                    Metric::Mse => config.tolerance_rel * scores[a].max(scores[b]),
                };
                let (is_monotone, largest_reversal) = monotone(&series, tolerance);
                let late = e
                    .late
                    .iter()
                    .position(|r| matches!(r.kind, RunKind::Change { pair: p, a: ra, .. } if p == pair && ra == a))
                    .map(|k| {
                        let index = e.runs.len() + k;
                        let run = all[index];
                        let worse = match metric {
                            Metric::Accuracy => scores[a].min(scores[b]),
                            Metric::Mse => scores[a].max(scores[b]),
                        };
                        LateCheck {
                            s: match run.kind {
                                RunKind::Change { s, .. } => s,
                                _ => 0,
                            },
                            measured: run.measured.score,
                            deviation: metric.deviation(run),
                            interval: run_checks[index].interval,
                            versus_worse: value(run.measured.score) - value(worse),
                            within: run_checks[index].within,
                        }
                    });
                directions.push(DirectionCheck {
                    pair,
                    a,
                    b,
                    label: format!("{} → {}", e.setting_names[a], e.setting_names[b]),
                    runs: indices.len(),
                    mean_deviation: mean(&indices),
                    interval: interval_of(&indices),
                    within: indices.iter().filter(|&&i| run_checks[i].within).count(),
                    monotone: is_monotone,
                    largest_reversal,
                    late,
                });
            }
        }
        let late = run_checks.split_off(e.runs.len());
        Checks {
            config: Some(config.clone()),
            unit: match metric {
                Metric::Accuracy => "pp".into(),
                Metric::Mse => "MSE".into(),
            },
            runs: run_checks,
            late,
            directions,
            kinds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_difference_gives_a_zero_width_interval_at_that_value() {
        let interval = bootstrap_mean_interval(&[-2.5; 40], 500, 7);
        assert_eq!(interval, Interval { low: -2.5, high: -2.5 });
        assert!(interval.excludes_zero() && interval.covers(-2.5));
    }

    /// Differences −1 and +1, 200 of each: the mean is 0 and its standard error exactly
    /// 1/√400 = 0.05, so the 95 % interval is about ±1.96 · 0.05 = ±0.098 around 0.
    #[test]
    fn a_symmetric_case_covers_the_analytic_value_with_the_analytic_width() {
        let values: Vec<f64> = (0..400).map(|i| if i % 2 == 0 { -1.0 } else { 1.0 }).collect();
        let interval = bootstrap_mean_interval(&values, 4000, 3);
        assert!(interval.covers(0.0) && !interval.excludes_zero(), "{interval:?}");
        let half = (interval.high - interval.low) / 2.0;
        assert!((half - 0.098).abs() < 0.01, "half width {half}, analytic 0.098");
        // Seeded: the same seed gives the same interval.
        assert_eq!(interval, bootstrap_mean_interval(&values, 4000, 3));
    }

    #[test]
    fn percentiles_interpolate_between_order_statistics() {
        // 0..=40: the 2.5th percentile is at h = 40 · 0.025 = 1, the 97.5th at 39.
        let mut values: Vec<f64> = (0..=40).rev().map(f64::from).collect();
        assert_eq!(percentile_interval(&mut values), Interval { low: 1.0, high: 39.0 });
        // 0..=10: h = 0.25 and 9.75.
        let mut values: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(percentile_interval(&mut values), Interval { low: 0.25, high: 9.75 });
    }

    #[test]
    fn resamples_draw_n_with_replacement() {
        let counts = resample_counts(7, 3, 1);
        assert_eq!(counts.len(), 3);
        assert!(counts.iter().all(|c| c.len() == 7 && c.iter().sum::<u32>() == 7));
        assert_eq!(counts, resample_counts(7, 3, 1));
    }

    #[test]
    fn monotone_series_by_hand() {
        // Rising with a dip of 0.5: monotone within 1, not within 0.4; largest reversal 0.5.
        assert_eq!(monotone(&[80.0, 85.0, 84.5, 90.0], 1.0), (true, 0.5));
        assert_eq!(monotone(&[80.0, 85.0, 84.5, 90.0], 0.4), (false, 0.5));
        // Falling, then a rise of 3 against it.
        assert_eq!(monotone(&[90.0, 70.0, 73.0, 60.0], 1.0), (false, 3.0));
        // A V: down 10 then up 12; against rising 10, against falling 12: reversal 10.
        assert_eq!(monotone(&[90.0, 80.0, 92.0], 1.0), (false, 10.0));
        assert_eq!(monotone(&[5.0, 5.0], 0.0), (true, 0.0));
    }

    /// The reversal is measured against the endpoints' direction, not the smaller of the two: 80 → 85
    /// overall rises, so the fall 90 → 60 (30) is the reversal, although the rises (10, 25) are
    /// smaller; the old "better of both directions" gave 25. Falling overall: the rise counts.
    #[test]
    fn largest_reversal_is_against_the_endpoints_direction() {
        assert_eq!(monotone(&[80.0, 90.0, 60.0, 85.0], 1.0), (false, 30.0));
        assert_eq!(monotone(&[85.0, 60.0, 90.0, 80.0], 1.0), (false, 30.0));
        // Equal endpoints: either direction, the smaller reversal (rise 10 vs fall 10 + … = 10).
        assert_eq!(monotone(&[80.0, 90.0, 80.0], 1.0), (false, 10.0));
    }

    #[test]
    fn resamples_must_be_zero_or_in_the_stated_range() {
        let with = |resamples| CheckConfig { resamples, ..CheckConfig::default() };
        assert_eq!(with(0).validate(), Ok(()));
        assert_eq!(with(MIN_RESAMPLES).validate(), Ok(()));
        assert_eq!(with(MAX_RESAMPLES).validate(), Ok(()));
        for bad in [1, 2, 99, 100_001, 100_000_000_000] {
            let message = with(bad).validate().unwrap_err();
            assert!(message.contains(&format!("--resamples {bad}")) && message.contains("100 to 100000"), "{message}");
        }
        assert!(Interval::none().is_none() && !Interval::none().excludes_zero() && !Interval::none().covers(0.0));
    }

    #[test]
    fn late_change_is_in_the_last_tenth() {
        assert_eq!(late_change_step(64, 0.1), Some(58)); // 6 of 64 steps after it
        assert_eq!(late_change_step(100, 0.1), Some(90));
        assert_eq!(late_change_step(10, 0.1), Some(9));
        assert_eq!(late_change_step(5, 0.1), None); // ⌈4.5⌉ = 5: no step left
        assert_eq!(late_change_step(2, 0.6), Some(1));
    }
}
