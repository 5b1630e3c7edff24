//! Turning a run's records into tidy tables (CSV) and figures (SVG, PDF and PNG at two print widths:
//! [`plots`]). Pure functions from
//! records to bytes; the command line writes them.

pub mod plots;

use serde::Serialize;

use crate::metrics::{
    Distribution, JobRecord, MemoryRecorder, Recorder, RunStats, SequenceRecord, StepRecord, StreamStats,
};
use crate::runner::RunResult;
use crate::scenario::Scenario;
use crate::sim::SimTime;

/// Names needed to label the records of one run.
#[derive(Debug, Clone)]
pub struct Labels {
    /// Background process names, by index.
    pub background: Vec<String>,
    /// Stream names, by index.
    pub streams: Vec<String>,
    /// Model names of each stream's bank, by stream.
    pub models: Vec<Vec<String>>,
    /// Hidden size of each model, by stream.
    pub widths: Vec<Vec<usize>>,
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

/// Column names of a row type, written even when there is no row.
trait Columns {
    const COLUMNS: &'static [&'static str];
}

/// A CSV writer on `out` as every file of a run is written (no automatic header: each file writes its
/// own column list first, even when it has no row).
fn csv_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().has_headers(false).buffer_capacity(1 << 16).from_writer(out)
}

fn csv_bytes<T: Serialize + Columns>(rows: &[T]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(T::COLUMNS).expect("writing to memory cannot fail");
    for row in rows {
        writer.serialize(row).expect("serialising plain rows to memory cannot fail");
    }
    writer.into_inner().expect("flushing to memory cannot fail")
}

/// One row of `steps.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow<'a> {
    /// Stream name.
    pub stream: &'a str,
    /// Policy label.
    pub policy: &'a str,
    /// Sequence number in the stream's play order.
    pub sequence: u64,
    /// Step within the sequence.
    pub step: u32,
    /// Release time, s.
    pub release_s: f64,
    /// Start time, s (empty when skipped).
    pub start_s: Option<f64>,
    /// End time, s (empty when skipped).
    pub end_s: Option<f64>,
    /// End − release, s (empty when skipped).
    pub latency_s: Option<f64>,
    /// Absolute deadline, s.
    pub deadline_s: f64,
    /// 1 if the deadline was missed (or the frame skipped).
    pub missed: u8,
    /// 1 if the frame was dropped.
    pub skipped: u8,
    /// 1 if the frame was released but not completed or skipped by the end of the run.
    pub unfinished: u8,
    /// Model that ran the step (empty when skipped).
    pub model: &'a str,
    /// FLOPs of the step job.
    pub flops: f64,
    /// 1 if the step updated the state with the frame's input; 0 when dropped, unfinished, or skipped
    /// by the model's own gate (ThrRNN, SkipW: no input read).
    pub updated: u8,
}

impl Columns for StepRow<'_> {
    const COLUMNS: &'static [&'static str] = &[
        "stream",
        "policy",
        "sequence",
        "step",
        "release_s",
        "start_s",
        "end_s",
        "latency_s",
        "deadline_s",
        "missed",
        "skipped",
        "unfinished",
        "model",
        "flops",
        "updated",
    ];
}

/// `steps.csv` of one run.
pub fn steps_csv(records: &MemoryRecorder, labels: &Labels, policy: &str) -> Vec<u8> {
    let mut writer = RecordWriter::new(labels, policy, RecordFiles { steps: Some(Vec::new()), ..RecordFiles::none() });
    records.steps.iter().for_each(|r| writer.step(r));
    writer.finish().expect("writing to memory cannot fail").steps.expect("asked for")
}

/// `sequences.csv` of one run: `stream, policy, sequence, dataset_index, label, prediction, correct,
/// release_s, end_s, latency_s, skipped_steps`, then `steps_<model>` for each model of the stream's bank
/// (`latency_s`: first frame's release to classification, the sequence's end-to-end latency).
pub fn sequences_csv(records: &MemoryRecorder, labels: &Labels, policy: &str) -> Vec<u8> {
    let mut writer =
        RecordWriter::new(labels, policy, RecordFiles { sequences: Some(Vec::new()), ..RecordFiles::none() });
    records.sequences.iter().for_each(|r| writer.sequence(r));
    writer.finish().expect("writing to memory cannot fail").sequences.expect("asked for")
}

/// `jobs.csv` of one run.
pub fn jobs_csv(records: &MemoryRecorder, labels: &Labels) -> Vec<u8> {
    let mut writer = RecordWriter::new(labels, "", RecordFiles { jobs: Some(Vec::new()), ..RecordFiles::none() });
    records.jobs.iter().for_each(|r| writer.job(r));
    writer.finish().expect("writing to memory cannot fail").jobs.expect("asked for")
}

/// The destinations of a run's record files, each optional (`None`: the file is not written):
/// `steps.csv`, `sequences.csv`, `jobs.csv`.
#[derive(Debug, Default)]
pub struct RecordFiles<W> {
    /// `steps.csv` (one row per frame).
    pub steps: Option<W>,
    /// `sequences.csv` (one row per classified sequence).
    pub sequences: Option<W>,
    /// `jobs.csv` (one row per finished background job).
    pub jobs: Option<W>,
}

impl<W> RecordFiles<W> {
    /// No file.
    pub fn none() -> Self {
        RecordFiles { steps: None, sequences: None, jobs: None }
    }
}

/// Writes a run's record files row by row, as the records come (a [`Recorder`]): the rows of
/// [`steps_csv`], [`sequences_csv`] and [`jobs_csv`], byte for byte, through buffered `csv` writers
/// on the given destinations. Nothing is kept per record. A write error is kept (later records are
/// dropped) and returned by [`RecordWriter::finish`].
pub struct RecordWriter<W: std::io::Write> {
    labels: Labels,
    policy: String,
    /// The `steps_<model>` columns of `sequences.csv`: every model name of every stream, each once.
    model_names: Vec<String>,
    steps: Option<csv::Writer<W>>,
    sequences: Option<csv::Writer<W>>,
    jobs: Option<csv::Writer<W>>,
    error: Option<csv::Error>,
}

impl<W: std::io::Write> RecordWriter<W> {
    /// Starts the files of `files` (writing their column lists) for a run under `policy` (its label).
    pub fn new(labels: &Labels, policy: &str, files: RecordFiles<W>) -> Self {
        // Model columns in bank order (narrowest first in the shipped banks), each name once.
        let mut model_names: Vec<String> = Vec::new();
        for name in labels.models.iter().flatten() {
            if !model_names.contains(name) {
                model_names.push(name.clone());
            }
        }
        let mut writer = RecordWriter {
            labels: labels.clone(),
            policy: policy.to_string(),
            model_names,
            steps: files.steps.map(csv_writer),
            sequences: files.sequences.map(csv_writer),
            jobs: files.jobs.map(csv_writer),
            error: None,
        };
        let mut header: Vec<String> = SEQUENCE_COLUMNS.map(String::from).to_vec();
        header.extend(writer.model_names.iter().map(|m| format!("steps_{m}")));
        let results = [
            writer.steps.as_mut().map(|w| w.write_record(StepRow::COLUMNS)),
            writer.sequences.as_mut().map(|w| w.write_record(&header)),
            writer.jobs.as_mut().map(|w| w.write_record(JobRow::COLUMNS)),
        ];
        for result in results.into_iter().flatten() {
            writer.keep(result);
        }
        writer
    }

    fn keep(&mut self, result: csv::Result<()>) {
        if let Err(error) = result {
            self.error.get_or_insert(error);
        }
    }

    /// Flushes every file and gives back the destinations.
    ///
    /// # Errors
    /// The first error met while writing or flushing.
    pub fn finish(self) -> Result<RecordFiles<W>, csv::Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let inner = |w: Option<csv::Writer<W>>| {
            w.map(|w| {
                w.into_inner()
                    .map_err(|e| csv::Error::from(std::io::Error::new(e.error().kind(), e.error().to_string())))
            })
            .transpose()
        };
        Ok(RecordFiles { steps: inner(self.steps)?, sequences: inner(self.sequences)?, jobs: inner(self.jobs)? })
    }
}

impl<W: std::io::Write> Recorder for RecordWriter<W> {
    fn step(&mut self, r: &StepRecord) {
        let (Some(writer), None) = (self.steps.as_mut(), &self.error) else { return };
        let row = StepRow {
            stream: &self.labels.streams[r.stream],
            policy: &self.policy,
            sequence: r.sequence,
            step: r.step,
            release_s: secs(r.release),
            start_s: r.start.map(secs),
            end_s: r.end.map(secs),
            latency_s: r.end.map(|e| secs(e.saturating_sub(r.release))),
            deadline_s: secs(r.deadline),
            missed: r.missed as u8,
            skipped: r.skipped as u8,
            unfinished: r.unfinished as u8,
            model: r.model.map_or("", |m| self.labels.models[r.stream][m].as_str()),
            flops: r.flops,
            updated: r.updated as u8,
        };
        let result = writer.serialize(row);
        self.keep(result);
    }

    fn sequence(&mut self, r: &SequenceRecord) {
        let (Some(writer), None) = (self.sequences.as_mut(), &self.error) else { return };
        let labels = &self.labels;
        let mut row = vec![
            labels.streams[r.stream].clone(),
            self.policy.clone(),
            r.sequence.to_string(),
            r.dataset_index.to_string(),
            r.label.to_string(),
            r.prediction.to_string(),
            ((r.label == r.prediction) as u8).to_string(),
            secs(r.first_release).to_string(),
            secs(r.end).to_string(),
            secs(r.end.saturating_sub(r.first_release)).to_string(),
            r.skipped_steps.to_string(),
        ];
        for name in &self.model_names {
            let count = labels.models[r.stream].iter().position(|m| m == name).map_or(0, |i| r.steps_per_model[i]);
            row.push(count.to_string());
        }
        let result = writer.write_record(&row);
        self.keep(result);
    }

    /// The fields of a [`JobRow`] written one by one, each with the bytes serde would give (times
    /// through `SecondsText`, the fast exact path; numbers through `itoa`/`ryu` as the `csv`
    /// crate's serialiser does): the same file, about twice as fast to write.
    fn job(&mut self, r: &JobRecord) {
        let (Some(writer), None) = (self.jobs.as_mut(), &self.error) else { return };
        let mut job = itoa::Buffer::new();
        let (mut release, mut end, mut response, mut deadline) =
            (SecondsText::new(), SecondsText::new(), SecondsText::new(), SecondsText::new());
        let mut work = ryu::Buffer::new();
        let missed: &[u8] = match r.deadline {
            None => b"",
            Some(d) if r.end > d => b"1",
            Some(_) => b"0",
        };
        let fields: [&[u8]; 8] = [
            self.labels.background[r.process].as_bytes(),
            job.format(r.job).as_bytes(),
            release.format(r.release),
            end.format(r.end),
            response.format(r.end.saturating_sub(r.release)),
            r.deadline.map_or(&b""[..], |d| deadline.format(d)),
            missed,
            work.format(r.work).as_bytes(),
        ];
        let result = writer.write_record(fields);
        self.keep(result);
    }
}

/// A time in seconds as text, exactly as `ryu` (the `csv` crate's serialiser) writes
/// `t.as_secs_f64()`, made from the integer nanoseconds when that is provably the same text: for
/// 10 µs ≤ t < 2²² s (48.5 days) the shortest decimal that reads back as `t / 1e9` is the exact
/// decimal of `t` ns with its trailing zeros removed (any other decimal with at most 9 fraction
/// digits is ≥ 1 ns away, more than the spacing of doubles below 2²²), printed by `ryu` without an
/// exponent. Other times go through `ryu` itself.
struct SecondsText {
    buf: [u8; 32],
    ryu: ryu::Buffer,
}

impl SecondsText {
    fn new() -> Self {
        SecondsText { buf: [0; 32], ryu: ryu::Buffer::new() }
    }

    fn format(&mut self, t: SimTime) -> &[u8] {
        const FAST: std::ops::Range<u64> = 10_000..(1 << 22) * SimTime::NANOS_PER_SEC;
        if !FAST.contains(&t.0) {
            return self.ryu.format(t.as_secs_f64()).as_bytes();
        }
        let (whole, mut frac) = (t.0 / SimTime::NANOS_PER_SEC, t.0 % SimTime::NANOS_PER_SEC);
        let mut digits = itoa::Buffer::new();
        let whole = digits.format(whole).as_bytes();
        let mut n = whole.len();
        self.buf[..n].copy_from_slice(whole);
        self.buf[n] = b'.';
        n += 1;
        if frac == 0 {
            self.buf[n] = b'0';
            return &self.buf[..n + 1];
        }
        let mut width = 9;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        for i in (0..width).rev() {
            self.buf[n + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        &self.buf[..n + width]
    }
}

/// The fixed columns of `sequences.csv` (the `steps_<model>` columns follow).
const SEQUENCE_COLUMNS: [&str; 11] = [
    "stream",
    "policy",
    "sequence",
    "dataset_index",
    "label",
    "prediction",
    "correct",
    "release_s",
    "end_s",
    "latency_s",
    "skipped_steps",
];

/// One row of `jobs.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow<'a> {
    /// Background process name.
    pub process: &'a str,
    /// Job number within the process.
    pub job: u64,
    /// Release, s.
    pub release_s: f64,
    /// End, s.
    pub end_s: f64,
    /// End − release, s.
    pub response_s: f64,
    /// Absolute deadline, s (empty when the process has none).
    pub deadline_s: Option<f64>,
    /// 1 if the job ended after its deadline (empty without a deadline).
    pub missed: Option<u8>,
    /// FLOPs served.
    pub work_flop: f64,
}

impl Columns for JobRow<'_> {
    const COLUMNS: &'static [&'static str] =
        &["process", "job", "release_s", "end_s", "response_s", "deadline_s", "missed", "work_flop"];
}

/// One row of `summary.csv`: a stream, a background process, or the whole node. Fields that do not
/// apply to a row's kind are `None` (empty in the CSV).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct SummaryRow {
    /// Process name, or `node`.
    pub process: String,
    /// `rnn_stream`, `background` or `node`.
    pub kind: String,
    /// Policy label of the run.
    pub policy: String,
    /// Frames (streams) or finished jobs (background).
    pub count: usize,
    /// Mean latency (streams, completed frames) or response time (jobs), s.
    pub mean_s: Option<f64>,
    /// Median, s.
    pub p50_s: Option<f64>,
    /// 95th percentile, s.
    pub p95_s: Option<f64>,
    /// 99th percentile, s.
    pub p99_s: Option<f64>,
    /// Share of frames that missed their deadline (streams).
    pub miss_rate: Option<f64>,
    /// Share of frames skipped (streams).
    pub skip_rate: Option<f64>,
    /// Share of sequences classified correctly (streams).
    pub accuracy: Option<f64>,
    /// Sequences classified (streams).
    pub sequences: Option<usize>,
    /// FLOPs of step jobs per frame, skipped frames counting 0 (streams).
    pub mean_flops_per_step: Option<f64>,
    /// Busy core-seconds / (cores × duration).
    pub utilisation: f64,
    /// Energy, J (with a power model): for a process, the dynamic energy of its busy core-time,
    /// `(busy − idle) × busy core-seconds`; for the node, the total including idle draw.
    pub energy_j: Option<f64>,
    /// Parameter loads started for the stream's steps (with a parameter memory).
    pub param_loads: Option<u64>,
    /// Bytes those loads moved.
    pub param_bytes_loaded: Option<u64>,
    /// Time the stream's steps waited for parameters, s.
    pub param_wait_s: Option<f64>,
}

impl Columns for SummaryRow {
    const COLUMNS: &'static [&'static str] = &[
        "process",
        "kind",
        "policy",
        "count",
        "mean_s",
        "p50_s",
        "p95_s",
        "p99_s",
        "miss_rate",
        "skip_rate",
        "accuracy",
        "sequences",
        "mean_flops_per_step",
        "utilisation",
        "energy_j",
        "param_loads",
        "param_bytes_loaded",
        "param_wait_s",
    ];
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A device's accounting in a run: its node, its capacity in core-seconds and its power model.
struct DeviceUse<'a> {
    node: &'a crate::node::Node,
    capacity_core_seconds: f64,
    power: Option<crate::scenario::PowerDraw>,
}

/// Each device's accounting of `result` (one per device of `scenario`, in order).
fn device_uses<'a, R>(result: &'a RunResult<R>, scenario: &Scenario) -> Vec<DeviceUse<'a>> {
    let duration = scenario.horizon().as_secs_f64();
    result
        .outcome
        .nodes
        .iter()
        .zip(scenario.devices())
        .map(|(node, device)| DeviceUse {
            node,
            capacity_core_seconds: node.cores() as f64 * duration,
            power: device.power,
        })
        .collect()
}

/// `f` summed over `devices`, starting from the first device's value (so a one-device node gives
/// exactly `f` of its device).
fn over_devices(devices: &[DeviceUse<'_>], f: impl Fn(&DeviceUse<'_>) -> f64) -> f64 {
    devices[1..].iter().fold(f(&devices[0]), |sum, device| sum + f(device))
}

/// The summary rows of one run (streams, then background processes, then the node, then — on a node
/// of several devices — one row per device, `kind` `device`).
///
/// On a node of several devices a process's `utilisation` is its busy core-seconds on every device
/// over the node's core-seconds (Σ cores × duration), its `energy_j` the sum of its dynamic energy on
/// each device; the node row sums the devices the same way; each device row gives the device's own
/// utilisation (its busy core-seconds / (its cores × duration)), energy (idle draw included) and
/// count (finished jobs of the background processes on it plus completed steps of the streams whose
/// steps run on it).
pub fn summary_rows(result: &RunResult, scenario: &Scenario, labels: &Labels) -> Vec<SummaryRow> {
    summary_rows_of(result, &run_stats(result, scenario), scenario, labels)
}

/// A run's statistics ([`RunStats::of_records`] over its records, usage bins of the scenario's
/// `bin`), sorted for quantiles: what the summaries and the figures read.
pub fn run_stats(result: &RunResult, scenario: &Scenario) -> RunStats {
    let mut stats = RunStats::of_records(&result.outcome.recorder, scenario.bin());
    stats.sort();
    stats
}

/// [`summary_rows`] from a run's online statistics (sorted: [`RunStats::sort`]) instead of its
/// records; `result`'s recorder is not read. The same rows, bit for bit.
pub fn summary_rows_of<R>(
    result: &RunResult<R>,
    stats: &RunStats,
    scenario: &Scenario,
    labels: &Labels,
) -> Vec<SummaryRow> {
    let devices = device_uses(result, scenario);
    let capacity_core_seconds = over_devices(&devices, |d| d.capacity_core_seconds);
    let has_memory = scenario.memory().is_some();
    let has_power = devices.iter().any(|d| d.power.is_some());
    let busy_of = |class: usize| over_devices(&devices, |d| d.node.busy_core_seconds(class));
    let dynamic_energy = |class: usize| {
        has_power.then(|| {
            over_devices(&devices, |d| d.power.map_or(0.0, |p| (p.busy - p.idle) * d.node.busy_core_seconds(class)))
        })
    };
    let policy = &result.plan.label;
    let no_stream = StreamStats::default();
    let no_process = crate::metrics::ProcessStats::default();
    let mut rows = Vec::new();
    for (index, name) in labels.streams.iter().enumerate() {
        let stream = stats.streams.get(index).unwrap_or(&no_stream);
        let d = Distribution::of_sorted_nanos(&stream.latencies_ns);
        let frames = stream.frames;
        let share = |n: usize, of: usize| (of > 0).then(|| n as f64 / of as f64);
        let class = labels.background.len() + index;
        rows.push(SummaryRow {
            process: name.clone(),
            kind: "rnn_stream".into(),
            policy: result.plan.policies[index].label(),
            count: frames,
            mean_s: finite(d.mean),
            p50_s: finite(d.p50),
            p95_s: finite(d.p95),
            p99_s: finite(d.p99),
            miss_rate: share(stream.missed, frames),
            skip_rate: share(stream.skipped, frames),
            accuracy: share(stream.correct, stream.sequences),
            sequences: Some(stream.sequences),
            mean_flops_per_step: (frames > 0).then(|| stream.flops / frames as f64),
            utilisation: busy_of(class) / capacity_core_seconds + 0.0,
            energy_j: dynamic_energy(class),
            param_loads: has_memory.then(|| result.outcome.memory[index].loads),
            param_bytes_loaded: has_memory.then(|| result.outcome.memory[index].bytes_loaded),
            param_wait_s: has_memory.then(|| result.outcome.memory[index].wait_s),
        });
    }
    for (index, name) in labels.background.iter().enumerate() {
        let process = stats.processes.get(index).unwrap_or(&no_process);
        let d = Distribution::of_sorted_nanos(&process.responses_ns);
        rows.push(SummaryRow {
            process: name.clone(),
            kind: "background".into(),
            policy: policy.clone(),
            count: process.jobs,
            mean_s: finite(d.mean),
            p50_s: finite(d.p50),
            p95_s: finite(d.p95),
            p99_s: finite(d.p99),
            miss_rate: (process.with_deadline > 0).then(|| process.missed as f64 / process.jobs as f64),
            utilisation: busy_of(index) / capacity_core_seconds + 0.0,
            energy_j: dynamic_energy(index),
            ..SummaryRow::default()
        });
    }
    let device_busy = |d: &DeviceUse<'_>| (0..d.node.classes()).map(|c| d.node.busy_core_seconds(c)).sum::<f64>();
    let device_energy =
        |d: &DeviceUse<'_>| d.power.map(|p| p.idle * d.capacity_core_seconds + (p.busy - p.idle) * device_busy(d));
    let busy = over_devices(&devices, device_busy);
    rows.push(SummaryRow {
        process: "node".into(),
        kind: "node".into(),
        policy: policy.clone(),
        count: stats.completed(),
        utilisation: busy / capacity_core_seconds,
        energy_j: has_power.then(|| over_devices(&devices, |d| device_energy(d).unwrap_or(0.0))),
        ..SummaryRow::default()
    });
    if devices.len() > 1 {
        let background_devices: Vec<usize> =
            scenario.background().map(|b| scenario.device_index(b.device.as_deref()).unwrap_or(0)).collect();
        let stream_devices: Vec<usize> =
            scenario.streams().map(|s| scenario.device_index(s.spec.device.as_deref()).unwrap_or(0)).collect();
        for (index, (device, spec)) in devices.iter().zip(scenario.devices()).enumerate() {
            let jobs: usize = (0..labels.background.len())
                .filter(|&p| background_devices.get(p) == Some(&index))
                .map(|p| stats.processes.get(p).map_or(0, |p| p.jobs))
                .sum();
            let steps: usize = stats
                .streams
                .iter()
                .enumerate()
                .filter(|&(s, _)| stream_devices.get(s) == Some(&index))
                .map(|(_, s)| s.latencies_ns.len())
                .sum();
            rows.push(SummaryRow {
                process: spec.name.clone(),
                kind: "device".into(),
                policy: policy.clone(),
                count: jobs + steps,
                utilisation: device_busy(device) / device.capacity_core_seconds,
                energy_j: device_energy(device),
                ..SummaryRow::default()
            });
        }
    }
    rows
}

/// Column names of `summary.csv`, in order.
pub fn summary_columns() -> &'static [&'static str] {
    SummaryRow::COLUMNS
}

/// `summary.csv` bytes.
pub fn summary_csv(rows: &[SummaryRow]) -> Vec<u8> {
    csv_bytes(rows)
}

/// One row of `comparison.csv`: a stream under one policy.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ComparisonRow {
    /// Policy label.
    pub policy: String,
    /// Stream name.
    pub stream: String,
    /// Frames released before the end (completed, skipped or unfinished).
    pub frames: usize,
    /// Sequences classified.
    pub sequences: usize,
    /// Accuracy.
    pub accuracy: Option<f64>,
    /// Miss rate.
    pub miss_rate: Option<f64>,
    /// Skip rate.
    pub skip_rate: Option<f64>,
    /// Mean latency of completed frames, s.
    pub mean_latency_s: Option<f64>,
    /// 95th percentile latency, s.
    pub p95_latency_s: Option<f64>,
    /// Mean FLOPs per frame.
    pub mean_flops_per_step: Option<f64>,
    /// Node utilisation.
    pub node_utilisation: f64,
    /// Node energy, J (empty without a power model).
    pub node_energy_j: Option<f64>,
    /// On a node of several devices: each device's name, utilisation and energy (J, with a power
    /// model), written as the columns `utilisation_<device>` and `energy_j_<device>` after the others;
    /// empty on a one-device node.
    #[serde(skip)]
    pub devices: Vec<(String, f64, Option<f64>)>,
}

impl Columns for ComparisonRow {
    const COLUMNS: &'static [&'static str] = &[
        "policy",
        "stream",
        "frames",
        "sequences",
        "accuracy",
        "miss_rate",
        "skip_rate",
        "mean_latency_s",
        "p95_latency_s",
        "mean_flops_per_step",
        "node_utilisation",
        "node_energy_j",
    ];
}

/// Comparison rows: for each run, each stream's summary.
pub fn comparison_rows(summaries: &[Vec<SummaryRow>]) -> Vec<ComparisonRow> {
    let mut rows = Vec::new();
    for summary in summaries {
        let node_row = summary.iter().find(|r| r.kind == "node");
        let node_utilisation = node_row.map_or(0.0, |r| r.utilisation);
        let node_energy_j = node_row.and_then(|r| r.energy_j);
        let devices: Vec<(String, f64, Option<f64>)> = summary
            .iter()
            .filter(|r| r.kind == "device")
            .map(|r| (r.process.clone(), r.utilisation, r.energy_j))
            .collect();
        for row in summary.iter().filter(|r| r.kind == "rnn_stream") {
            rows.push(ComparisonRow {
                policy: row.policy.clone(),
                stream: row.process.clone(),
                frames: row.count,
                sequences: row.sequences.unwrap_or(0),
                accuracy: row.accuracy,
                miss_rate: row.miss_rate,
                skip_rate: row.skip_rate,
                mean_latency_s: row.mean_s,
                p95_latency_s: row.p95_s,
                mean_flops_per_step: row.mean_flops_per_step,
                node_utilisation,
                node_energy_j,
                devices: devices.clone(),
            });
        }
    }
    rows
}

/// `comparison.csv` bytes: the columns of [`ComparisonRow`], then on a node of several devices
/// `utilisation_<device>` per device and, with a power model, `energy_j_<device>` per device.
pub fn comparison_csv(rows: &[ComparisonRow]) -> Vec<u8> {
    let Some(first) = rows.first().filter(|r| !r.devices.is_empty()) else { return csv_bytes(rows) };
    let with_energy = first.devices.iter().any(|d| d.2.is_some());
    let mut header: Vec<String> = ComparisonRow::COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(first.devices.iter().map(|d| format!("utilisation_{}", d.0)));
    if with_energy {
        header.extend(first.devices.iter().map(|d| format!("energy_j_{}", d.0)));
    }
    // The fixed columns through serde (as for one device), the device columns appended to each line.
    let base = csv_bytes(rows);
    let text = String::from_utf8(base).expect("CSV of UTF-8 fields");
    let mut out = String::new();
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(&header).expect("writing to memory cannot fail");
    out.push_str(&String::from_utf8(writer.into_inner().expect("flushing to memory cannot fail")).expect("UTF-8"));
    for (line, row) in text.lines().skip(1).zip(rows) {
        out.push_str(line);
        let mut extra: Vec<Option<f64>> = row.devices.iter().map(|d| Some(d.1)).collect();
        if with_energy {
            extra.extend(row.devices.iter().map(|d| d.2));
        }
        let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        writer.serialize(&extra).expect("serialising numbers to memory cannot fail");
        out.push(',');
        out.push_str(&String::from_utf8(writer.into_inner().expect("flushing to memory cannot fail")).expect("UTF-8"));
    }
    out.into_bytes()
}

/// The comparison as a Markdown table (for the terminal and the README).
pub fn comparison_markdown(rows: &[ComparisonRow]) -> String {
    let fmt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let mut out = String::from(
        "| policy | stream | frames | sequences | accuracy | miss rate | skip rate | mean latency (ms) | p95 latency (ms) | mean kFLOP/frame | node utilisation |",
    );
    // A node of several devices: each device's utilisation, and the node's energy with a power model.
    let devices = rows.first().map_or(&[][..], |r| r.devices.as_slice());
    let with_energy = !devices.is_empty() && rows.iter().any(|r| r.node_energy_j.is_some());
    for device in devices {
        out.push_str(&format!(" {} utilisation |", device.0));
    }
    if with_energy {
        out.push_str(" energy (J) |");
    }
    out.push_str("\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    out.push_str(&"---:|".repeat(devices.len() + usize::from(with_energy)));
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} |",
            r.policy,
            r.stream,
            r.frames,
            r.sequences,
            fmt(r.accuracy, 3),
            fmt(r.miss_rate, 3),
            fmt(r.skip_rate, 3),
            fmt(r.mean_latency_s.map(|v| v * 1e3), 2),
            fmt(r.p95_latency_s.map(|v| v * 1e3), 2),
            fmt(r.mean_flops_per_step.map(|v| v / 1e3), 1),
            r.node_utilisation
        ));
        for device in &r.devices {
            out.push_str(&format!(" {:.3} |", device.1));
        }
        if with_energy {
            out.push_str(&format!(" {} |", fmt(r.node_energy_j, 0)));
        }
        out.push('\n');
    }
    out
}

/// One row of `timeline.csv`: mean busy cores per usage bin.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// Bin start, s.
    pub bin_start_s: f64,
    /// Mean cores busy with background jobs.
    pub background_cores: f64,
    /// Mean cores busy with RNN steps.
    pub rnn_cores: f64,
    /// On a node of several devices, per device (in order): mean cores busy with background jobs and
    /// with the streams' work (steps and stages), written as `<device>_background_cores` and
    /// `<device>_rnn_cores` after the others (the two columns above then sum the devices); empty on a
    /// one-device node.
    #[serde(skip)]
    pub devices: Vec<(f64, f64)>,
}

impl Columns for TimelineRow {
    const COLUMNS: &'static [&'static str] = &["bin_start_s", "background_cores", "rnn_cores"];
}

/// The timeline rows of one run (bins up to the horizon).
pub fn timeline_rows<R>(result: &RunResult<R>, scenario: &Scenario) -> Vec<TimelineRow> {
    let n_background = scenario.background().count();
    let sum_bins = |node: &crate::node::Node, classes: std::ops::Range<usize>| {
        let mut total = node.usage_bins(0).iter().map(|_| 0.0).collect::<Vec<f64>>();
        for class in classes.filter(|&c| c < node.classes()) {
            total.iter_mut().zip(node.usage_bins(class)).for_each(|(t, v)| *t += v);
        }
        total
    };
    let nodes = &result.outcome.nodes;
    let per_device: Vec<(Vec<f64>, Vec<f64>)> = nodes
        .iter()
        .map(|node| (sum_bins(node, 0..n_background), sum_bins(node, n_background..node.classes())))
        .collect();
    let node = &nodes[0];
    let bin = node.bin();
    let n = scenario.horizon().0.div_ceil(bin.0) as usize;
    let several = nodes.len() > 1;
    (0..n.min(per_device[0].0.len()))
        .map(|i| TimelineRow {
            bin_start_s: secs(SimTime(bin.0 * i as u64)),
            background_cores: per_device[1..].iter().fold(per_device[0].0[i], |sum, d| sum + d.0[i]),
            rnn_cores: per_device[1..].iter().fold(per_device[0].1[i], |sum, d| sum + d.1[i]),
            devices: if several { per_device.iter().map(|d| (d.0[i], d.1[i])).collect() } else { Vec::new() },
        })
        .collect()
}

/// `timeline.csv` bytes: the columns of [`TimelineRow`], then on a node of several devices
/// `<device>_background_cores` and `<device>_rnn_cores` per device of `devices` (the device names).
pub fn timeline_csv(rows: &[TimelineRow], devices: &[String]) -> Vec<u8> {
    if devices.len() < 2 {
        return csv_bytes(rows);
    }
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let mut header: Vec<String> = TimelineRow::COLUMNS.iter().map(|c| c.to_string()).collect();
    for device in devices {
        header.push(format!("{device}_background_cores"));
        header.push(format!("{device}_rnn_cores"));
    }
    writer.write_record(&header).expect("writing to memory cannot fail");
    for row in rows {
        let mut record = vec![row.bin_start_s, row.background_cores, row.rnn_cores];
        for (background, rnn) in &row.devices {
            record.push(*background);
            record.push(*rnn);
        }
        writer.serialize(&record).expect("serialising numbers to memory cannot fail");
    }
    writer.into_inner().expect("flushing to memory cannot fail")
}

/// The manifest of one run folder (`manifest.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Always `flexrnn`.
    pub tool: String,
    /// Tool version (the crate version).
    pub tool_version: String,
    /// Scenario name.
    pub scenario_name: String,
    /// Scenario file as given.
    pub scenario_file: String,
    /// SHA-256 of the scenario text, hex.
    pub scenario_sha256: String,
    /// Seed used.
    pub seed: u64,
    /// Run index and label.
    pub run_index: usize,
    /// Run label (policy).
    pub run_label: String,
    /// Simulated duration, s.
    pub duration_s: f64,
    /// Events handled.
    pub events: u64,
    /// Wall-clock time of the simulation, s (the only field that differs between identical runs).
    pub wall_time_s: f64,
    /// The model bank of each stream.
    pub models: Vec<ManifestBank>,
    /// The scenario text, verbatim.
    pub scenario: String,
}

/// A stream's model bank in a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestBank {
    /// Stream name.
    pub stream: String,
    /// The bank folder as written in the scenario.
    pub models: String,
    /// SHA-256 of the bank's files (card, weights, maps).
    pub sha256: String,
}

/// Labels for the records of `scenario`'s runs.
pub fn labels(scenario: &Scenario, resources: &crate::runner::Resources) -> Labels {
    let banks: Vec<&crate::runner::LoadedBank> =
        scenario.streams().map(|s| &resources.banks[&scenario.dir().join(&s.models)]).collect();
    Labels {
        background: scenario.background().map(|b| b.name.clone()).collect(),
        streams: scenario.streams().map(|s| s.spec.name.clone()).collect(),
        models: banks.iter().map(|b| b.model.settings().iter().map(|m| m.name.clone()).collect()).collect(),
        widths: banks.iter().map(|b| b.model.settings().iter().map(|m| m.hidden).collect()).collect(),
    }
}

/// The cost of running a step in `setting`, FLOPs: the card's mean FLOPs per step at that setting
/// held constant when the card knows it, else the cost of an updated step (for SkipW the window's
/// mix: `K` updated steps, `L − K` skipped ones and the gate, over `L`).
pub fn setting_cost_per_step(setting: &crate::rnn::flex::Setting) -> f64 {
    if let Some(expected) = setting.expected_flops_per_step {
        return expected;
    }
    match setting.knobs {
        crate::rnn::flex::Knobs::SkipW { k, .. } => {
            let window = setting.window.max(1);
            let k = k.min(window);
            (k as f64 * setting.flops_per_update as f64
                + (window - k) as f64 * setting.flops_per_skip as f64
                + setting.flops_per_window as f64)
                / window as f64
        }
        _ => setting.flops_per_update as f64,
    }
}

/// The timeline's right axis for a model of `family` ([`crate::rnn::flex::FlexibleModel::family`])
/// whose most expensive setting costs `max_kflop` kFLOP per step: the chosen setting's cost per step,
/// the legend naming the family and its knob.
pub fn choice_axis(family: &str, max_kflop: f64) -> plots::ChoiceAxis {
    let knob = match family {
        "switch" => "bank model chosen",
        "thr" => "ThrRNN (model, thr) chosen",
        "skipw" => "SkipW (K, thr) chosen",
        "nested" => "nested width w chosen",
        _ => "setting chosen",
    };
    plots::ChoiceAxis { legend: format!("{knob}: its kFLOP/step"), label: "chosen kFLOP/step".into(), max: max_kflop }
}

/// The timeline panel of one run (its caption: the policy and the setting it ran most often):
/// `costs_kflop` is the cost per step (kFLOP) of each setting of the
/// first stream's model, in setting order.
fn timeline_panel<R>(
    result: &RunResult<R>,
    stats: &RunStats,
    scenario: &Scenario,
    labels: &Labels,
    costs_kflop: &[f64],
) -> plots::TimelinePanel {
    let rows = timeline_rows(result, scenario);
    let n = rows.len();
    let no_stream = StreamStats::default();
    let stream = stats.streams.first().unwrap_or(&no_stream);
    let mut choice = vec![None; n];
    let mut steps_per_setting = vec![0u64; costs_kflop.len()];
    for (i, counts) in stream.models_per_bin.iter().enumerate().take(n) {
        // In setting order, so the sum is the same whatever the order of the steps.
        let steps: u64 = counts.iter().sum();
        let cost: f64 = counts.iter().zip(costs_kflop).map(|(&c, &k)| c as f64 * k).sum();
        choice[i] = (steps > 0).then(|| cost / steps as f64);
        for (total, &c) in steps_per_setting.iter_mut().zip(counts) {
            *total += c;
        }
    }
    let mut misses = vec![0usize; n];
    for (i, &m) in stream.misses_per_bin.iter().enumerate().take(n) {
        misses[i] = m as usize;
    }
    // The caption names the setting run most often, so that the knob value can be read off too.
    let total: u64 = steps_per_setting.iter().sum();
    let mostly = steps_per_setting
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .filter(|_| total > 0)
        .and_then(|(index, &count)| {
            let name = labels.models.first()?.get(index)?;
            Some(format!(": mostly {name} ({:.0} % of steps)", count as f64 / total as f64 * 100.0))
        })
        .unwrap_or_default();
    plots::TimelinePanel {
        label: format!("{}{mostly}", result.plan.label),
        bin_start_s: rows.iter().map(|r| r.bin_start_s).collect(),
        background_cores: rows.iter().map(|r| r.background_cores).collect(),
        choice,
        misses,
        device_busy: if result.outcome.nodes.len() > 1 {
            scenario
                .devices()
                .iter()
                .enumerate()
                .map(|(index, device)| {
                    (device.name.clone(), rows.iter().map(|r| r.devices[index].0 + r.devices[index].1).collect())
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// The timeline of `scenario`'s runs: a panel per run (`stats` one per run of `results`, sorted:
/// [`RunStats::sort`]) and the axis of what the policies chose, for the first stream; `None` without
/// a stream.
pub fn timeline_panels<R>(
    scenario: &Scenario,
    resources: &crate::runner::Resources,
    results: &[RunResult<R>],
    stats: &[RunStats],
) -> Option<(Vec<plots::TimelinePanel>, plots::ChoiceAxis)> {
    let stream = scenario.streams().next()?;
    let labels = labels(scenario, resources);
    let model = &resources.banks[&scenario.dir().join(&stream.models)].model;
    let costs_kflop: Vec<f64> = model.settings().iter().map(|s| setting_cost_per_step(s) / 1e3).collect();
    let max = costs_kflop.iter().copied().filter(|c| c.is_finite()).fold(0.0, f64::max);
    let panels = results
        .iter()
        .zip(stats)
        .map(|(result, stats)| timeline_panel(result, stats, scenario, &labels, &costs_kflop))
        .collect();
    Some((panels, choice_axis(model.family(), max)))
}

/// Every output file of a scenario's runs, as (path relative to the output folder, bytes), in a
/// deterministic order. With one run the files sit at the top; with several, each run has a
/// subfolder named after its label, and the top holds `comparison.csv` and the figures.
///
/// # Errors
/// [`plots::PlotError`] if a figure cannot be drawn.
pub fn outputs(
    scenario: &Scenario,
    resources: &crate::runner::Resources,
    results: &[RunResult],
) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>, plots::PlotError> {
    let labels = labels(scenario, resources);
    let stats: Vec<RunStats> = results.iter().map(|r| run_stats(r, scenario)).collect();
    outputs_with(scenario, resources, results, &stats, |result| {
        let records = &result.outcome.recorder;
        vec![
            ("steps.csv", steps_csv(records, &labels, &result.plan.label)),
            ("sequences.csv", sequences_csv(records, &labels, &result.plan.label)),
            ("jobs.csv", jobs_csv(records, &labels)),
        ]
    })
}

/// The folder of a run's files in the output folder: the top with one run, else a subfolder named
/// after its label.
pub fn run_folder(plan: &crate::runner::RunPlan, runs: usize) -> std::path::PathBuf {
    if runs > 1 {
        std::path::PathBuf::from(&plan.label)
    } else {
        std::path::PathBuf::new()
    }
}

/// The files [`outputs`] makes from each run's statistics (sorted: [`RunStats::sort`], one per run of
/// `results`, in order) rather than its records: every file but the record files, which
/// `record_files` gives per run as (name in the run's folder, bytes) — none when they were streamed
/// to their files as the run went ([`RecordWriter`]) or are not wanted.
///
/// # Errors
/// [`plots::PlotError`] if a figure cannot be drawn.
pub fn outputs_with<R>(
    scenario: &Scenario,
    resources: &crate::runner::Resources,
    results: &[RunResult<R>],
    stats: &[RunStats],
    record_files: impl Fn(&RunResult<R>) -> Vec<(&'static str, Vec<u8>)>,
) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>, plots::PlotError> {
    use sha2::Digest;
    let labels = labels(scenario, resources);
    let sha = format!("{:x}", sha2::Sha256::digest(scenario.text().as_bytes()));
    let mut files = Vec::new();
    let mut summaries = Vec::new();
    for (result, stats) in results.iter().zip(stats) {
        let dir = run_folder(&result.plan, results.len());
        let manifest = Manifest {
            tool: "flexrnn".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            scenario_name: scenario.name().to_string(),
            scenario_file: scenario.file().to_string(),
            scenario_sha256: sha.clone(),
            seed: scenario.seed(),
            run_index: result.plan.index,
            run_label: result.plan.label.clone(),
            duration_s: scenario.horizon().as_secs_f64(),
            events: result.outcome.events,
            wall_time_s: result.wall_time_s,
            models: scenario
                .streams()
                .map(|s| ManifestBank {
                    stream: s.spec.name.clone(),
                    models: s.models.display().to_string(),
                    sha256: resources.banks[&scenario.dir().join(&s.models)].sha256.clone(),
                })
                .collect(),
            scenario: scenario.text().to_string(),
        };
        let summary = summary_rows_of(result, stats, scenario, &labels);
        files.push((dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).expect("manifest serialises")));
        for (name, bytes) in record_files(result) {
            files.push((dir.join(name), bytes));
        }
        files.push((dir.join("summary.csv"), summary_csv(&summary)));
        let device_names: Vec<String> = scenario.devices().iter().map(|d| d.name.clone()).collect();
        files.push((dir.join("timeline.csv"), timeline_csv(&timeline_rows(result, scenario), &device_names)));
        summaries.push(summary);
    }
    let comparison = comparison_rows(&summaries);
    if !comparison.is_empty() {
        files.push(("comparison.csv".into(), comparison_csv(&comparison)));
        files.push(("comparison.md".into(), comparison_markdown(&comparison).into_bytes()));
    }
    // The background area sums the devices: its axis spans every core of the node.
    let cores = scenario.devices().iter().map(|d| d.cores.get()).sum();
    if let Some((panels, axis)) = timeline_panels(scenario, resources, results, stats) {
        let horizon_s = scenario.horizon().as_secs_f64();
        for (name, bytes) in plots::paper_files("timeline", |width| {
            plots::timeline(&panels, &labels.streams[0], cores, &axis, horizon_s, width)
        })? {
            files.push((std::path::Path::new("plots").join(name), bytes));
        }
        let cdfs: Vec<(String, Vec<f64>)> = results
            .iter()
            .zip(stats)
            .map(|(r, stats)| {
                let sorted = stats.streams.first().map_or(&[][..], |s| s.latencies_ns.as_slice());
                (r.plan.label.clone(), sorted.iter().map(|&ns| secs(SimTime(ns))).collect())
            })
            .collect();
        let deadline = scenario.streams().next().map(|s| s.spec.deadline.as_secs_f64());
        for (name, bytes) in
            plots::paper_files("latency_cdf", |width| plots::latency_cdf(&cdfs, deadline, &labels.streams[0], width))?
        {
            files.push((std::path::Path::new("plots").join(name), bytes));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header written for empty tables equals the one serde would derive from the fields.
    fn header_matches<T: Serialize + Columns>(row: T) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(row).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), T::COLUMNS.join(","));
    }

    /// The fast text of a time in seconds is `ryu`'s text of the same double, byte for byte: at the
    /// edges of the fast range and on a million times spread over every magnitude below 2²² s.
    #[test]
    fn seconds_text_is_ryus_text() {
        let mut text = SecondsText::new();
        let mut reference = ryu::Buffer::new();
        let mut check = |ns: u64| {
            let expected = reference.format(SimTime(ns).as_secs_f64()).to_string();
            assert_eq!(std::str::from_utf8(text.format(SimTime(ns))).unwrap(), expected, "{ns} ns");
        };
        let top = (1u64 << 22) * SimTime::NANOS_PER_SEC;
        for ns in
            [0, 1, 9_999, 10_000, 10_001, 100_000, 999_999_999, 1_000_000_000, 1_000_000_001, top - 1, top, top + 1]
        {
            check(ns);
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..1_000_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // A magnitude from 1 ns to 2^62 ns, then a value in it; every tenth a whole number of ms.
            let magnitude = 1u64 << (i % 62 + 1);
            let ns = state % magnitude;
            check(if i % 10 == 0 { ns / 1_000_000 * 1_000_000 } else { ns });
        }
    }

    /// `jobs.csv` rows written field by field are the rows serde writes from [`JobRow`].
    #[test]
    fn job_rows_are_the_serde_rows() {
        let labels = Labels {
            background: vec!["a".into(), "needs, quotes".into()],
            streams: Vec::new(),
            models: Vec::new(),
            widths: Vec::new(),
        };
        let records = MemoryRecorder {
            jobs: (0..200u64)
                .map(|i| JobRecord {
                    process: (i % 2) as usize,
                    job: i * 7919,
                    release: SimTime(i * 123_456_789_017 % 9_000_000_000_000_000),
                    end: SimTime(i * 123_456_789_017 % 9_000_000_000_000_000 + i * i * 1_000_003),
                    deadline: (i % 3 > 0).then(|| SimTime(i * 123_456_789_017 % 9_000_000_000_000_000 + 5_000 * i * i)),
                    work: 1e9 / (i as f64 + 0.37),
                })
                .collect(),
            ..MemoryRecorder::default()
        };
        let rows: Vec<JobRow<'_>> = records
            .jobs
            .iter()
            .map(|r| JobRow {
                process: &labels.background[r.process],
                job: r.job,
                release_s: secs(r.release),
                end_s: secs(r.end),
                response_s: secs(r.end.saturating_sub(r.release)),
                deadline_s: r.deadline.map(secs),
                missed: r.deadline.map(|d| (r.end > d) as u8),
                work_flop: r.work,
            })
            .collect();
        let written = jobs_csv(&records, &labels);
        assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(csv_bytes(&rows)).unwrap());
    }

    #[test]
    fn column_lists_match_the_row_types() {
        header_matches(StepRow {
            stream: "s",
            policy: "p",
            sequence: 0,
            step: 0,
            release_s: 0.0,
            start_s: None,
            end_s: None,
            latency_s: None,
            deadline_s: 0.0,
            missed: 0,
            skipped: 0,
            unfinished: 0,
            model: "",
            flops: 0.0,
            updated: 0,
        });
        header_matches(JobRow {
            process: "p",
            job: 0,
            release_s: 0.0,
            end_s: 0.0,
            response_s: 0.0,
            deadline_s: None,
            missed: None,
            work_flop: 0.0,
        });
        header_matches(TimelineRow { bin_start_s: 0.0, background_cores: 0.0, rnn_cores: 0.0, devices: Vec::new() });
        header_matches(ComparisonRow::default());
        header_matches(SummaryRow::default());
    }
}
