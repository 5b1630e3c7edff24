//! The aggregated results of a study, in the shape that its figures and HTML report consume. Built
//! by [`super::aggregate`] from the per-run records; pure data, no I/O.

use serde::{Deserialize, Serialize};

/// A sample mean with its 95% confidence interval (Student t over `n` replications).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Sample mean.
    pub mean: f64,
    /// Half-width of the 95% confidence interval (`NaN` when `n < 2`).
    pub half_width: f64,
    /// Number of observations.
    pub n: usize,
}

impl Estimate {
    /// Lower end of the interval.
    pub fn low(&self) -> f64 {
        self.mean - self.half_width
    }
    /// Upper end of the interval.
    pub fn high(&self) -> f64 {
        self.mean + self.half_width
    }
}

/// One grid point of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointInfo {
    /// Index in grid order (0-based).
    pub index: usize,
    /// The axis values at this point, e.g. `processes.requests.rate=10/s, node.cores=2` (empty
    /// without axes).
    pub label: String,
    /// The values of every axis but the last (empty with fewer than two axes): points that share it
    /// form one line in figures over load.
    #[serde(default)]
    pub series: String,
    /// Offered background load: the background processes' mean work per second over the node's
    /// capacity (cores × speed), as a share (0.5 = 50%).
    pub load: f64,
}

/// Mean and interval of the focus stream's and the node's metrics at one grid point under one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// Grid point index.
    pub point: usize,
    /// Policy label.
    pub policy: String,
    /// Share of sequences classified correctly.
    pub accuracy: Estimate,
    /// Share of frames that missed their deadline (including dropped ones).
    pub miss_rate: Estimate,
    /// Mean FLOPs per executed step (including switch costs).
    pub mean_flops_per_step: Estimate,
    /// Mean step latency (release to end), seconds.
    pub mean_latency_s: Estimate,
    /// Node energy over the run, joules (when the scenario has a power model).
    pub energy_j: Option<Estimate>,
}

/// Step latencies pooled over the replications of one grid point under one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// Upper edges of the bins, seconds, increasing (bin `i` holds latencies in
    /// `(upper_edges_s[i-1], upper_edges_s[i]]`; bin 0 everything up to its edge; latencies
    /// above the last edge are counted in the last bin).
    pub upper_edges_s: Vec<f64>,
    /// Completed steps per bin.
    pub counts: Vec<u64>,
    /// Frames that never completed (dropped or unfinished): they count as latency = ∞ in a CDF.
    pub not_completed: u64,
}

/// How the steps of one policy were spread over its settings (models) in time, pooled over the
/// replications of one grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingShare {
    /// Width of a time bin, seconds; bin `b` covers `[b·bin_s, (b+1)·bin_s)` of simulated time.
    pub bin_s: f64,
    /// Setting (model) names.
    pub settings: Vec<String>,
    /// Executed steps, `counts[bin][setting]`.
    pub counts: Vec<Vec<u64>>,
}

/// A paired difference `policy_a − policy_b` of one metric at one grid point under common random
/// numbers (the two runs of each replication share every random stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// Grid point index.
    pub point: usize,
    /// Metric name (`accuracy`, `miss_rate`, `mean_flops_per_step`, `mean_latency_s`, `energy_j`).
    pub metric: String,
    /// First policy.
    pub policy_a: String,
    /// Second policy.
    pub policy_b: String,
    /// Mean and 95% interval of the per-replication difference a − b.
    pub difference: Estimate,
}

/// Everything the figures and the HTML report show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyView {
    /// Study name.
    pub name: String,
    /// Grid points in order.
    pub points: Vec<PointInfo>,
    /// Policy labels in the order the scenario lists them.
    pub policies: Vec<String>,
    /// One per (point, policy), point-major.
    pub cells: Vec<CellSummary>,
    /// Grid point whose latency distribution and setting shares are drawn (the study's
    /// `focus_point`, by default the last, usually the most loaded).
    pub focus_point: usize,
    /// Latency histogram per policy at `focus_point`, in `policies` order.
    pub latency: Vec<LatencyHistogram>,
    /// Setting shares over time per policy at `focus_point`, in `policies` order.
    pub shares: Vec<SettingShare>,
    /// Paired differences between every pair of policies, per point and metric.
    pub paired: Vec<PairedDifference>,
    /// Replications per grid point.
    pub replications: usize,
    /// The study file's text, as given.
    pub study_text: String,
    /// `flexrnn` version that produced the results.
    pub tool_version: String,
    /// Relative deadline of the focus stream's frames at the focus point, seconds (drawn in the latency
    /// figure); `None` without a stream. Not written to `view.json` (which keeps its fields).
    #[serde(skip)]
    pub deadline_s: Option<f64>,
}
