//! What a run records, and the statistics computed from it.
//!
//! The simulation pushes records into a [`Recorder`] (it does no I/O itself); [`MemoryRecorder`] keeps
//! them in memory for the writers and summaries at the edge.

use crate::sim::SimTime;

/// One frame of an RNN stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Stream index in the scenario.
    pub stream: usize,
    /// Sequence number in the stream's play order (0-based).
    pub sequence: u64,
    /// Step within the sequence (0-based).
    pub step: u32,
    /// Release time.
    pub release: SimTime,
    /// Start time (`None` when skipped).
    pub start: Option<SimTime>,
    /// End time (`None` when skipped).
    pub end: Option<SimTime>,
    /// Absolute deadline.
    pub deadline: SimTime,
    /// Deadline missed (ended after the deadline, or skipped).
    pub missed: bool,
    /// Dropped without updating the state.
    pub skipped: bool,
    /// Released before the end of the run but neither completed nor skipped by then (waiting, or
    /// running with `start` set). Counted as missed when its deadline is not after the end.
    pub unfinished: bool,
    /// Index of the setting (model, threshold, K or width) that ran the step (`None` when dropped).
    pub model: Option<usize>,
    /// The step updated the state with the frame's input (false when dropped, unfinished, or skipped
    /// by the model's own gate — a ThrRNN or SkipW skip, which needs no input).
    pub updated: bool,
    /// FLOPs of the step job (step, plus state map on a switch, plus readout on the last step).
    pub flops: f64,
}

/// One finished sequence of an RNN stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceRecord {
    /// Stream index in the scenario.
    pub stream: usize,
    /// Sequence number in the stream's play order.
    pub sequence: u64,
    /// Index of the sequence in the data set.
    pub dataset_index: usize,
    /// True class.
    pub label: u32,
    /// Predicted class.
    pub prediction: u32,
    /// Steps run by each model (indexed like the bank).
    pub steps_per_model: Vec<u32>,
    /// Steps skipped.
    pub skipped_steps: u32,
    /// Release of the sequence's first frame.
    pub first_release: SimTime,
    /// When the sequence was classified (its last frame completed or was dropped).
    pub end: SimTime,
}

/// One finished job of a background process.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Background process index in the scenario.
    pub process: usize,
    /// Job number within the process (0-based, in release order).
    pub job: u64,
    /// Release time.
    pub release: SimTime,
    /// End time (finish, or switch-off for an on/off process).
    pub end: SimTime,
    /// Absolute deadline, if the process has one.
    pub deadline: Option<SimTime>,
    /// FLOPs served.
    pub work: f64,
}

/// Receives the records of a run.
pub trait Recorder {
    /// A frame was completed or skipped.
    fn step(&mut self, record: &StepRecord);
    /// A sequence was classified.
    fn sequence(&mut self, record: &SequenceRecord);
    /// A background job ended.
    fn job(&mut self, record: &JobRecord);
    /// Background job `job` of process `process`, released at `release`, was still on the node at the
    /// end of the run (it is not reported to [`Recorder::job`]). Ignored unless a recorder needs it
    /// (the oracle's first pass does, to know what occupies the node until the end).
    fn job_unfinished(&mut self, process: usize, job: u64, release: SimTime) {
        let _ = (process, job, release);
    }
}

/// Keeps every record in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryRecorder {
    /// Frames, in completion order.
    pub steps: Vec<StepRecord>,
    /// Sequences, in completion order.
    pub sequences: Vec<SequenceRecord>,
    /// Background jobs, in completion order.
    pub jobs: Vec<JobRecord>,
}

impl Recorder for MemoryRecorder {
    fn step(&mut self, record: &StepRecord) {
        self.steps.push(record.clone());
    }
    fn sequence(&mut self, record: &SequenceRecord) {
        self.sequences.push(record.clone());
    }
    fn job(&mut self, record: &JobRecord) {
        self.jobs.push(record.clone());
    }
}

/// Mean and quantiles of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distribution {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean (NaN when empty).
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The `q`-quantile of sorted values, by linear interpolation between closest ranks
/// (Hyndman & Fan type 7, the default of R and NumPy). NaN when empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

impl Distribution {
    /// Summarises `values` (sorts a copy).
    pub fn of(values: &[f64]) -> Distribution {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mean = if sorted.is_empty() { f64::NAN } else { sorted.iter().sum::<f64>() / sorted.len() as f64 };
        Distribution {
            count: sorted.len(),
            mean,
            p50: quantile_sorted(&sorted, 0.5),
            p95: quantile_sorted(&sorted, 0.95),
            p99: quantile_sorted(&sorted, 0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let d = Distribution::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(d.mean, 2.5);
        assert_eq!(d.p50, 2.5);
        // numpy.percentile([1,2,3,4], 95) = 3.85
        assert!((d.p95 - 3.85).abs() < 1e-12);
        assert!(Distribution::of(&[]).mean.is_nan());
    }
}
