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

/// Online statistics of one run, updated record by record as a [`Recorder`]: what the summary of a
/// run needs, without keeping the records. Memory: 8 bytes per completed frame and per finished job
/// (the durations, in ns, kept for the exact quantiles) plus a few counters per stream, process and
/// usage bin of the first stream — not the records themselves (~100–300 bytes each).
///
/// The summaries made from it are exactly those made from the whole records: the quantiles and the
/// mean are computed over the sorted durations ([`Distribution::of_nanos`]), sums of FLOPs in record
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// Usage bin of the first stream's per-bin counts.
    bin: SimTime,
    /// Per stream, by index (grown as streams appear).
    pub streams: Vec<StreamStats>,
    /// Per background process, by index (grown as processes appear).
    pub processes: Vec<ProcessStats>,
}

/// Online statistics of one RNN stream (see [`RunStats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStats {
    /// Frames recorded (completed, skipped or unfinished).
    pub frames: usize,
    /// Frames that missed their deadline.
    pub missed: usize,
    /// Frames dropped.
    pub skipped: usize,
    /// Σ FLOPs of the frames' step jobs, in record order.
    pub flops: f64,
    /// End − release of each completed frame, ns, in record order (sorted by
    /// [`Distribution::of_nanos`]).
    pub latencies_ns: Vec<u64>,
    /// Sequences classified.
    pub sequences: usize,
    /// Sequences classified correctly.
    pub correct: usize,
    /// Per usage bin (by end time) of completed frames that ran a model: how many ran each model
    /// (`[bin][model]`).
    pub models_per_bin: Vec<Vec<u64>>,
    /// Per usage bin (by release time): frames that missed their deadline.
    pub misses_per_bin: Vec<u64>,
}

/// Online statistics of one background process (see [`RunStats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// Finished jobs.
    pub jobs: usize,
    /// Jobs that had a deadline.
    pub with_deadline: usize,
    /// Jobs that ended after their deadline.
    pub missed: usize,
    /// End − release of each finished job, ns, in record order.
    pub responses_ns: Vec<u64>,
}

impl RunStats {
    /// Empty statistics; `bin` (> 0) is the usage bin of the first stream's per-bin counts.
    pub fn new(bin: SimTime) -> RunStats {
        RunStats { bin: SimTime(bin.0.max(1)), streams: Vec::new(), processes: Vec::new() }
    }

    /// The statistics of records kept in memory (the same as recording them online).
    pub fn of_records(records: &MemoryRecorder, bin: SimTime) -> RunStats {
        let mut stats = RunStats::new(bin);
        records.steps.iter().for_each(|r| stats.step(r));
        records.sequences.iter().for_each(|r| stats.sequence(r));
        records.jobs.iter().for_each(|r| stats.job(r));
        stats
    }

    /// Finished jobs of every process plus completed frames of every stream.
    pub fn completed(&self) -> usize {
        self.processes.iter().map(|p| p.jobs).sum::<usize>()
            + self.streams.iter().map(|s| s.latencies_ns.len()).sum::<usize>()
    }

    /// Sorts every stream's latencies and every process's response times (ascending), as the
    /// summaries ([`Distribution::of_sorted_nanos`]) need; call once the run has ended.
    pub fn sort(&mut self) {
        self.streams.iter_mut().for_each(|s| s.latencies_ns.sort_unstable());
        self.processes.iter_mut().for_each(|p| p.responses_ns.sort_unstable());
    }

    fn stream_mut(&mut self, index: usize) -> &mut StreamStats {
        if self.streams.len() <= index {
            self.streams.resize_with(index + 1, StreamStats::default);
        }
        &mut self.streams[index]
    }
}

impl Recorder for RunStats {
    fn step(&mut self, r: &StepRecord) {
        let bin = self.bin.0;
        let stream = self.stream_mut(r.stream);
        stream.frames += 1;
        stream.missed += usize::from(r.missed);
        stream.skipped += usize::from(r.skipped);
        stream.flops += r.flops;
        if let Some(end) = r.end {
            stream.latencies_ns.push(end.saturating_sub(r.release).0);
        }
        if r.stream != 0 {
            return;
        }
        if let (Some(end), Some(model)) = (r.end, r.model) {
            let i = (end.0 / bin) as usize;
            if stream.models_per_bin.len() <= i {
                stream.models_per_bin.resize_with(i + 1, Vec::new);
            }
            let counts = &mut stream.models_per_bin[i];
            if counts.len() <= model {
                counts.resize(model + 1, 0);
            }
            counts[model] += 1;
        }
        if r.missed {
            let i = (r.release.0 / bin) as usize;
            if stream.misses_per_bin.len() <= i {
                stream.misses_per_bin.resize(i + 1, 0);
            }
            stream.misses_per_bin[i] += 1;
        }
    }
    fn sequence(&mut self, r: &SequenceRecord) {
        let stream = self.stream_mut(r.stream);
        stream.sequences += 1;
        stream.correct += usize::from(r.label == r.prediction);
    }
    fn job(&mut self, r: &JobRecord) {
        if self.processes.len() <= r.process {
            self.processes.resize_with(r.process + 1, ProcessStats::default);
        }
        let process = &mut self.processes[r.process];
        process.jobs += 1;
        process.with_deadline += usize::from(r.deadline.is_some());
        process.missed += usize::from(r.deadline.is_some_and(|d| r.end > d));
        process.responses_ns.push(r.end.saturating_sub(r.release).0);
    }
}

/// Two recorders fed the same records (e.g. [`RunStats`] and a writer of the record files).
#[derive(Debug, Clone, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: Recorder, B: Recorder> Recorder for Tee<A, B> {
    fn step(&mut self, record: &StepRecord) {
        self.0.step(record);
        self.1.step(record);
    }
    fn sequence(&mut self, record: &SequenceRecord) {
        self.0.sequence(record);
        self.1.sequence(record);
    }
    fn job(&mut self, record: &JobRecord) {
        self.0.job(record);
        self.1.job(record);
    }
    fn job_unfinished(&mut self, process: usize, job: u64, release: SimTime) {
        self.0.job_unfinished(process, job, release);
        self.1.job_unfinished(process, job, release);
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
    quantile_of(sorted.len(), q, |i| sorted[i])
}

/// [`quantile_sorted`] of the `n` sorted values `at(0) ≤ … ≤ at(n − 1)`.
fn quantile_of(n: usize, q: f64, at: impl Fn(usize) -> f64) -> f64 {
    match n {
        0 => f64::NAN,
        1 => at(0),
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            at(lo) + (h - lo as f64) * (at(hi) - at(lo))
        }
    }
}

impl Distribution {
    /// Summarises `values` (sorts a copy).
    pub fn of(values: &[f64]) -> Distribution {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Distribution::of_sorted(sorted.len(), |i| sorted[i])
    }

    /// Summarises durations given in ns, in seconds: exactly [`Distribution::of`] of
    /// `SimTime(ns).as_secs_f64()` for each (ns → s is monotone, so sorting the integers sorts the
    /// seconds; the mean sums the seconds in that sorted order). Sorts `nanos` in place; allocates
    /// nothing.
    pub fn of_nanos(nanos: &mut [u64]) -> Distribution {
        nanos.sort_unstable();
        Distribution::of_sorted_nanos(nanos)
    }

    /// [`Distribution::of_nanos`] of durations already sorted (ascending).
    pub fn of_sorted_nanos(sorted: &[u64]) -> Distribution {
        debug_assert!(sorted.is_sorted());
        Distribution::of_sorted(sorted.len(), |i| SimTime(sorted[i]).as_secs_f64())
    }

    /// The distribution of the `n` sorted values `at(0) ≤ … ≤ at(n − 1)`: their mean summed in that
    /// order, and the type-7 quantiles.
    fn of_sorted(n: usize, at: impl Fn(usize) -> f64) -> Distribution {
        let mean = if n == 0 { f64::NAN } else { (0..n).map(&at).sum::<f64>() / n as f64 };
        Distribution {
            count: n,
            mean,
            p50: quantile_of(n, 0.5, &at),
            p95: quantile_of(n, 0.95, &at),
            p99: quantile_of(n, 0.99, &at),
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

    /// The summary of durations in ns equals, bit for bit, that of the same durations in seconds,
    /// whatever their order (the online path must print what the in-memory path printed).
    #[test]
    fn nanosecond_summaries_equal_the_seconds_summaries_bit_for_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut nanos: Vec<u64> = (0..10_001)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) % 5_000_000_000
            })
            .collect();
        let seconds: Vec<f64> = nanos.iter().map(|&n| SimTime(n).as_secs_f64()).collect();
        let expected = Distribution::of(&seconds);
        let got = Distribution::of_nanos(&mut nanos);
        assert_eq!(got.count, 10_001);
        for (a, b) in
            [(got.mean, expected.mean), (got.p50, expected.p50), (got.p95, expected.p95), (got.p99, expected.p99)]
        {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let mut one = [7_000_000_000];
        assert_eq!(Distribution::of_nanos(&mut one).p99, 7.0);
        assert!(Distribution::of_nanos(&mut []).p50.is_nan());
    }
}
