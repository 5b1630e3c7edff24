//! The one validation path: [`validate`] turns typed parts (from a scenario file or from
//! [`super::ScenarioBuilder`]) into a [`Scenario`], checking every value, reading every file the
//! scenario names and locating errors in the text where there is one.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::locate::{locate, locate_in_process, locate_top, relocate_process_error};
use super::{DeviceSpec, PipelineSpec, Process, Scenario, ScenarioError, ScenarioParts, StageSpec};
use super::{MAX_BINS, MAX_CORES, MAX_DURATION, MAX_EVENTS};
use crate::input::{read_text, DATA_LIMIT, TEXT_LIMIT};
use crate::node::Discipline;
use crate::sim::SimTime;
use crate::workload::profile::{parse_profile_csv, StepCost};
use crate::workload::{
    parse_empirical_csv, parse_jobs_trace_csv, parse_utilisation_trace_csv, BackgroundKind, BackgroundSpec, Trace,
    WorkDistribution,
};

/// Checks a scenario's or study's `name`, which names its output folder: letters, digits, `-`, `_` and
/// `.`, not starting with `.` (a hidden folder, or `.` and `..`).
///
/// # Errors
/// The message for the `name` field, saying what is wrong and what is allowed.
pub(crate) fn check_folder_name(name: &str) -> Result<(), String> {
    const ALLOWED: &str = "letters, digits, `-`, `_` and `.` (not first)";
    if name.is_empty() {
        return Err(format!("name: give a name; it names the output folder: {ALLOWED}"));
    }
    if let Some(bad) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
        return Err(format!(
            "name: `{name}` contains `{bad}`; a name names the output folder and may use only {ALLOWED}"
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "name: `{name}` starts with `.`, which would make the output folder hidden (or `.`, `..`); start it with a letter, digit, `-` or `_` (allowed: {ALLOWED})"
        ));
    }
    Ok(())
}

/// Checks the values of one process (messages start `process `NAME`: ` and name the field in
/// backticks, so a scenario file's error can be located at it). Work read from a file is checked
/// when it is read ([`validate`]).
///
/// # Errors
/// The message: the process, the field, what is wrong and what is allowed.
pub(crate) fn check_process(process: &Process) -> Result<(), String> {
    let (name, weight) = match process {
        Process::Background(b) => (&b.name, b.weight),
        Process::Stream(s) => (&s.spec.name, s.spec.weight),
    };
    if name.trim().is_empty() {
        return Err("process name must not be empty".into());
    }
    let process_name = format!("process `{name}`");
    if !(weight.is_finite() && weight > 0.0) {
        return Err(format!("{process_name}: `weight` must be a positive number, got {weight}"));
    }
    let positive_span = |field: &str, d: SimTime| {
        if d.0 == 0 {
            Err(format!(
                "{process_name}: `{field}` must be longer than zero (at least 1ns; times are whole nanoseconds)"
            ))
        } else {
            Ok(())
        }
    };
    let work = |work: &WorkDistribution| match work {
        // Read from its file, and then checked, by `validate`.
        WorkDistribution::Empirical { samples, .. } if samples.is_empty() => Ok(()),
        work => work.sampler().map(|_| ()).map_err(|e| format!("{process_name}: `work`: {e}")),
    };
    let stream = match process {
        Process::Background(b) => b,
        Process::Stream(s) => {
            positive_span("period", s.spec.period)?;
            positive_span("deadline", s.spec.deadline)?;
            if s.policies.is_empty() {
                return Err(format!("{process_name}: `policies` must list at least one policy"));
            }
            if s.sequences_given && s.spec.sequences == 0 {
                return Err(format!("{process_name}: `sequences` must be at least 1"));
            }
            return Ok(());
        }
    };
    if let BackgroundKind::Periodic { period, .. } = &stream.kind {
        // Before the deadline, which defaults to the period: a zero period is named as such.
        positive_span("period", *period)?;
    }
    if let Some(deadline) = stream.deadline {
        positive_span("deadline", deadline)?;
    }
    match &stream.kind {
        BackgroundKind::Periodic { period, jitter, work: w, .. } => {
            positive_span("period", *period)?;
            if jitter >= period {
                return Err(format!("{process_name}: `jitter` must be shorter than `period`"));
            }
            work(w)
        }
        BackgroundKind::Mmpp { rates, switch_rates, work: w } => {
            let n = rates.len();
            if rates.iter().chain(switch_rates.iter().flatten()).any(|r| !(r.is_finite() && *r >= 0.0)) {
                return Err(format!("{process_name}: `rates` and `switch_rates` must be non-negative rates"));
            }
            if n < 2 {
                return Err(format!("{process_name}: `rates` must list at least two states"));
            }
            if switch_rates.len() != n || switch_rates.iter().any(|row| row.len() != n) {
                return Err(format!("{process_name}: `switch_rates` must be a {n} × {n} matrix (one row and column per state in `rates`)"));
            }
            if (0..n).any(|i| switch_rates[i].iter().enumerate().all(|(j, &q)| j == i || q == 0.0)) {
                return Err(format!(
                    "{process_name}: `switch_rates`: every state needs a positive rate to another state"
                ));
            }
            if rates.iter().all(|&r| r == 0.0) {
                return Err(format!("{process_name}: `rates`: at least one state must have a positive arrival rate"));
            }
            work(w)
        }
        BackgroundKind::Poisson { rate, work: w } => {
            if !(rate.is_finite() && *rate > 0.0) {
                return Err(format!("{process_name}: `rate` must be positive"));
            }
            work(w)
        }
        BackgroundKind::Trace { time_scale, trace, .. } => {
            if let Trace::Utilisation { chunk, .. } = trace {
                positive_span("chunk", *chunk)?;
            }
            if !(time_scale.is_finite() && *time_scale > 0.0) {
                return Err(format!(
                    "{process_name}: `time_scale` must be a positive number (the factor applied to the trace's times, e.g. 0.001 to play a day in 86.4 s), got {time_scale}"
                ));
            }
            Ok(())
        }
        BackgroundKind::OnOff { on_mean, off_mean, .. } => {
            positive_span("on_mean", *on_mean)?;
            positive_span("off_mean", *off_mean)
        }
    }
}

impl PipelineSpec {
    /// Orders `stages` topologically (the graph is checked with `petgraph`).
    ///
    /// # Errors
    /// A message starting `` `pipeline` ``: no stages, an empty or repeated name, a predecessor that is
    /// not a stage, a cycle (naming its stages), empirical work, or work that cannot be sampled.
    pub fn from_stages(stages: Vec<StageSpec>) -> Result<PipelineSpec, String> {
        use petgraph::graph::{DiGraph, NodeIndex};
        if stages.is_empty() {
            return Err("`pipeline` must list at least one stage (or be left out)".into());
        }
        let mut graph = DiGraph::<usize, ()>::new();
        let nodes: Vec<NodeIndex> = (0..stages.len()).map(|i| graph.add_node(i)).collect();
        for (i, stage) in stages.iter().enumerate() {
            if stage.name.trim().is_empty() {
                return Err("`pipeline`: a stage has an empty name".into());
            }
            if stages[..i].iter().any(|s| s.name == stage.name) {
                return Err(format!("`pipeline`: stage `{}` is listed twice", stage.name));
            }
            for before in &stage.after {
                let Some(j) = stages.iter().position(|s| &s.name == before) else {
                    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
                    return Err(format!(
                        "`pipeline`: stage `{}` runs after `{before}`, which is not a stage; stages: {}",
                        stage.name,
                        names.join(", ")
                    ));
                };
                graph.add_edge(nodes[j], nodes[i], ());
            }
        }
        let order = petgraph::algo::toposort(&graph, None).map_err(|_| {
            let cycles: Vec<String> = petgraph::algo::tarjan_scc(&graph)
                .into_iter()
                .filter(|c| c.len() > 1 || graph.contains_edge(c[0], c[0]))
                .map(|mut c| {
                    c.sort_by_key(|n| graph[*n]);
                    c.iter().map(|n| stages[graph[*n]].name.clone()).collect::<Vec<_>>().join(" → ")
                })
                .collect();
            format!("`pipeline` has a cycle through stages {}; stages must form a DAG", cycles.join("; "))
        })?;
        let position: Vec<usize> = {
            let mut p = vec![0; stages.len()];
            for (k, n) in order.iter().enumerate() {
                p[graph[*n]] = k;
            }
            p
        };
        let original_after: Vec<Vec<usize>> = stages
            .iter()
            .map(|stage| stage.after.iter().filter_map(|b| stages.iter().position(|s| &s.name == b)).collect())
            .collect();
        let mut names = vec![String::new(); stages.len()];
        let mut work = vec![WorkDistribution::Constant(1.0); stages.len()];
        let mut after = vec![Vec::new(); stages.len()];
        let mut devices = vec![None; stages.len()];
        for (i, stage) in stages.into_iter().enumerate() {
            let k = position[i];
            let distribution = stage.work;
            if matches!(distribution, WorkDistribution::Empirical { .. }) {
                return Err(format!("`pipeline`: stage `{}`: empirical work is not supported for stages", stage.name));
            }
            distribution.sampler().map_err(|e| format!("`pipeline`: stage `{}`: `work`: {e}", stage.name))?;
            after[k] = original_after[i].iter().map(|&j| position[j]).collect();
            names[k] = stage.name;
            work[k] = distribution;
            devices[k] = stage.device;
        }
        Ok(PipelineSpec { names, work, after, devices })
    }
}

/// Checks the node's devices (names, cores, speeds, power) and the node-wide memory. `error` locates
/// a message at the first line holding its needle.
fn check_devices(
    devices: &[DeviceSpec],
    memory: Option<super::ParameterMemory>,
    error: &dyn Fn(&str, String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    // Fields are named `node.cores` for a single-pool node, `node.devices.<name>.cores` otherwise.
    let several = devices.len() > 1 || devices.first().is_some_and(|d| d.name != super::DEFAULT_DEVICE);
    let field = |device: &DeviceSpec, field: &str| {
        if several {
            format!("node.devices.{}.{field}", device.name)
        } else {
            format!("node.{field}")
        }
    };
    if devices.is_empty() {
        return Err(error("devices:", "node.devices: list at least one device".into()));
    }
    for (index, device) in devices.iter().enumerate() {
        check_device_name(&device.name).map_err(|message| error(&format!("{}:", device.name), message))?;
        if devices[..index].iter().any(|d| d.name == device.name) {
            return Err(error(
                &format!("{}:", device.name),
                format!("node.devices: device `{}` is listed twice; names must be unique", device.name),
            ));
        }
        if device.cores.get() as u64 > MAX_CORES {
            return Err(error(
                "cores:",
                format!("{}: must be at most {MAX_CORES}, got {}", field(device, "cores"), device.cores),
            ));
        }
        if let Some(power) = device.power {
            if !(power.idle.is_finite() && power.idle >= 0.0 && power.busy.is_finite()) {
                return Err(error(
                    "idle:",
                    format!("{}: idle and busy must be non-negative numbers of watts", field(device, "power")),
                ));
            }
            if power.busy < power.idle {
                return Err(error(
                    "busy:",
                    format!(
                        "{}.busy ({} W) must be at least {}.idle ({} W)",
                        field(device, "power"),
                        power.busy,
                        field(device, "power"),
                        power.idle
                    ),
                ));
            }
        }
    }
    if memory.is_some_and(|m| !(m.bandwidth > 0.0 && m.bandwidth.is_finite())) {
        return Err(error("bandwidth:", "node.memory.bandwidth: must be positive".into()));
    }
    for device in devices {
        if !(device.speed > 0.0 && device.speed.is_finite()) {
            return Err(error("speed:", format!("{}: must be positive", field(device, "speed"))));
        }
    }
    let with_power: Vec<&str> = devices.iter().filter(|d| d.power.is_some()).map(|d| d.name.as_str()).collect();
    if !with_power.is_empty() && with_power.len() < devices.len() {
        let without = devices.iter().find(|d| d.power.is_none()).expect("some device has no power");
        return Err(error(
            &format!("{}:", without.name),
            format!(
                "node.devices.{}: no `power`, but {} {} one; give every device a power model or none (the node's energy is the sum over its devices)",
                without.name,
                with_power.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                if with_power.len() == 1 { "has" } else { "have" }
            ),
        ));
    }
    Ok(())
}

/// Checks a device's name: letters, digits, `-` and `_` (it names output columns).
pub(crate) fn check_device_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
        return Err(format!(
            "node.devices: device name `{name}`: use letters, digits, `-` and `_` (it names output columns)"
        ));
    }
    Ok(())
}

/// Checks that every `device:` of a process, stream or pipeline stage names one of the node's devices.
///
/// # Errors
/// [`ScenarioError`] at the process's `device:` line naming the field, the unknown name and the devices.
fn check_device_names(parts: &ScenarioParts, text: &str, file: &str) -> Result<(), ScenarioError> {
    let known = || parts.devices.iter().map(|d| format!("`{}`", d.name)).collect::<Vec<_>>().join(", ");
    for (index, process) in parts.processes.iter().enumerate() {
        let (name, own, stages) = match process {
            Process::Background(b) => (&b.name, b.device.as_deref(), None),
            Process::Stream(s) => (&s.spec.name, s.spec.device.as_deref(), s.pipeline.as_ref()),
        };
        let stage_devices = stages.into_iter().flat_map(|p| {
            p.names().iter().zip(p.devices()).filter_map(|(stage, d)| d.as_deref().map(|d| (Some(stage), d)))
        });
        for (stage, device) in own.map(|d| (None, d)).into_iter().chain(stage_devices) {
            if super::device_index(&parts.devices, Some(device)).is_none() {
                let (field, needle) = match stage {
                    None => (format!("processes[{index}].device"), format!("device: {device}")),
                    Some(stage) => (format!("processes[{index}].pipeline.{stage}.device"), format!("device: {device}")),
                };
                let location = locate(text, &needle).or_else(|| locate_in_process(text, name, Some("device"), 0));
                return Err(ScenarioError {
                    file: file.to_string(),
                    location,
                    message: format!(
                        "{field}: process `{name}`: device `{device}` is not a device of the node; devices: {}",
                        known()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Whether a trace's rows or samples are still to be read.
fn trace_is_empty(trace: &Trace) -> bool {
    match trace {
        Trace::Jobs(jobs) => jobs.is_empty(),
        Trace::Utilisation { trace, .. } => trace.samples.is_empty(),
    }
}

/// Reads the samples of every `empirical` work distribution from its file (relative to `dir`, the
/// scenario's folder) and checks them. This is the only file a scenario's parsing reads: the mean
/// work must be known as soon as the scenario is (for the offered load).
///
/// # Errors
/// [`ScenarioError`] located at the `file:` key, naming the process, the field and, for a bad value,
/// the CSV file and line.
fn load_work_samples(processes: &mut [Process], text: &str, file: &str, dir: &Path) -> Result<(), ScenarioError> {
    for process in processes.iter_mut() {
        let Process::Background(BackgroundSpec { name, kind, .. }) = process else { continue };
        let (BackgroundKind::Poisson { work: WorkDistribution::Empirical { file: csv, samples }, .. }
        | BackgroundKind::Periodic { work: WorkDistribution::Empirical { file: csv, samples }, .. }
        | BackgroundKind::Mmpp { work: WorkDistribution::Empirical { file: csv, samples }, .. }) = kind
        else {
            continue;
        };
        if !samples.is_empty() {
            // Given in code: checked by `check_process`.
            continue;
        }
        let at = |message: String| ScenarioError {
            file: file.to_string(),
            location: locate_in_process(text, name, Some("file"), 0),
            message,
        };
        let field = format!("process `{name}`: `work.empirical.file`");
        let path = dir.join(&*csv);
        let content = read_text(&path, DATA_LIMIT, "data files").map_err(|e| {
            at(format!(
                "{field}: cannot read `{}` (a text file of samples, one number of FLOPs per line, relative to the scenario's folder; looked for `{}`): {e}",
                csv.display(),
                path.display()
            ))
        })?;
        let values =
            parse_empirical_csv(&content, &csv.display().to_string()).map_err(|e| at(format!("{field}: {e}")))?;
        *samples = values.into();
        WorkDistribution::Empirical { file: csv.clone(), samples: Arc::clone(samples) }
            .sampler()
            .map_err(|e| at(format!("process `{name}`: `work`: {e}")))?;
    }
    Ok(())
}

/// Reads the profile of every stream with `cost: { profile: … }` from its file (relative to `dir`,
/// the scenario's folder) and checks its format; whether it covers the stream's settings is checked
/// when the models are loaded (`runner::load_resources`).
///
/// # Errors
/// [`ScenarioError`] located at the `profile:` key, naming the stream and, for a bad row, the
/// profile's file, line and field.
fn load_cost_profiles(processes: &mut [Process], text: &str, file: &str, dir: &Path) -> Result<(), ScenarioError> {
    for process in processes.iter_mut() {
        let Process::Stream(stream) = process else { continue };
        let StepCost::Profile { file: csv, profile, scale } = &mut stream.cost else { continue };
        let name = &stream.spec.name;
        let at = |message: String| ScenarioError {
            file: file.to_string(),
            location: locate_in_process(text, name, Some("profile"), 0),
            message,
        };
        if !(scale.is_finite() && *scale > 0.0) {
            // The file's parser says so at its line; this is for the builder.
            return Err(at(format!(
                "process `{name}`: `cost.scale` must be a finite number > 0 (a factor on the profile's durations), got {scale}"
            )));
        }
        if !profile.rows.is_empty() {
            // Given in code, already parsed.
            continue;
        }
        let field = format!("process `{name}`: `cost.profile`");
        let path = dir.join(&*csv);
        let content = read_text(&path, TEXT_LIMIT, "profiles").map_err(|e| {
            at(format!(
                "{field}: cannot read `{}` (a step-cost profile written by `flexrnn profile`, relative to the scenario's folder; looked for `{}`): {e}",
                csv.display(),
                path.display()
            ))
        })?;
        let parsed =
            parse_profile_csv(&content, &csv.display().to_string()).map_err(|e| at(format!("{field}: {e}")))?;
        *profile = Arc::new(parsed);
    }
    Ok(())
}

/// Reads the rows or samples of every `trace` process from its file (relative to `dir`, the scenario's
/// folder), scaling its times by the process's `time_scale`.
///
/// # Errors
/// [`ScenarioError`] located at the `jobs:` or `utilisation:` key, naming the process, the field and,
/// for a bad line, the CSV file and line and what is allowed.
fn load_traces(processes: &mut [Process], text: &str, file: &str, dir: &Path) -> Result<(), ScenarioError> {
    for process in processes.iter_mut() {
        let Process::Background(BackgroundSpec {
            name,
            kind: BackgroundKind::Trace { file: csv, time_scale, trace },
            ..
        }) = process
        else {
            continue;
        };
        if !trace_is_empty(trace) {
            // Given in code.
            continue;
        }
        let (field, header) = match trace {
            Trace::Jobs(_) => ("jobs", "`release_s,work_flop`"),
            Trace::Utilisation { .. } => ("utilisation", "`time_s,utilisation`"),
        };
        let at = |message: String| ScenarioError {
            file: file.to_string(),
            location: locate_in_process(text, name, Some(field), 0),
            message: format!("process `{name}`: `{field}`: {message}"),
        };
        let path = dir.join(&*csv);
        let content = read_text(&path, DATA_LIMIT, "data files").map_err(|e| {
            at(format!(
                "cannot read `{}` (a CSV file with the header {header}, relative to the scenario's folder; looked for `{}`): {e}",
                csv.display(),
                path.display()
            ))
        })?;
        let label = csv.display().to_string();
        match trace {
            Trace::Jobs(jobs) => {
                *jobs = parse_jobs_trace_csv(&content, &label, *time_scale).map_err(|e| at(e.to_string()))?.into();
            }
            Trace::Utilisation { trace, .. } => {
                *trace = parse_utilisation_trace_csv(&content, &label, *time_scale).map_err(|e| at(e.to_string()))?;
            }
        }
    }
    Ok(())
}

/// Expected number of job arrivals, on/off switches and frames over the run (for traces, the jobs they
/// release: rows, or chunks × jobs per chunk; their files must have been read).
pub(super) fn expected_events(duration_time: SimTime, devices: &[DeviceSpec], processes: &[Process]) -> f64 {
    let duration = duration_time.as_secs_f64();
    // Round robin may fire a quantum timer per core every quantum.
    let timers: f64 = devices
        .iter()
        .map(|device| match device.discipline {
            Discipline::RoundRobin { quantum, .. } => duration / quantum.as_secs_f64() * device.cores.get() as f64,
            _ => 0.0,
        })
        .sum();
    processes
        .iter()
        .map(|p| match p {
            Process::Background(BackgroundSpec { kind: BackgroundKind::Poisson { rate, .. }, .. }) => rate * duration,
            Process::Background(BackgroundSpec { kind: BackgroundKind::OnOff { on_mean, off_mean, .. }, .. }) => {
                2.0 * duration / (on_mean.as_secs_f64() + off_mean.as_secs_f64())
            }
            Process::Background(BackgroundSpec { kind: BackgroundKind::Periodic { period, .. }, .. }) => {
                duration / period.as_secs_f64()
            }
            Process::Background(BackgroundSpec { kind: BackgroundKind::Mmpp { rates, switch_rates, .. }, .. }) => {
                let fastest = rates.iter().cloned().fold(0.0, f64::max);
                let switching: f64 = switch_rates.iter().flatten().sum();
                (fastest + switching) * duration
            }
            Process::Background(BackgroundSpec { kind: BackgroundKind::Trace { trace, .. }, device, .. }) => {
                // An unknown device was refused before this is asked.
                let device = &devices[super::device_index(devices, device.as_deref()).unwrap_or(0)];
                trace.demand_until(duration_time, device.cores.get(), device.speed).0
            }
            Process::Stream(s) => duration / s.spec.period.as_secs_f64(),
        })
        .sum::<f64>()
        + timers
}

/// Where a scenario came from: the file name for messages, the folder relative paths resolve against,
/// and the text errors are located in (empty for a scenario built in code).
pub(super) struct Source<'a> {
    pub(super) file: &'a str,
    pub(super) dir: &'a Path,
    pub(super) text: &'a str,
}

/// The one validation path of scenario files and [`super::ScenarioBuilder`]: checks every value and
/// the fields together, reads the samples of `empirical` work and the files of `trace` processes
/// (relative to `source.dir`), and returns the [`Scenario`].
///
/// # Errors
/// [`ScenarioError`] naming the file, the field and what is allowed; located in `source.text` where
/// the value is written there.
pub(super) fn validate(parts: ScenarioParts, source: &Source<'_>) -> Result<Scenario, ScenarioError> {
    let Source { file, dir, text } = *source;
    let error = |needle: &str, message: String| ScenarioError {
        file: file.to_string(),
        location: locate(text, needle),
        message,
    };
    let at =
        |location: Option<(usize, usize)>, message: String| ScenarioError { file: file.to_string(), location, message };
    let mut parts = parts;
    if let Err(message) = check_folder_name(&parts.name) {
        return Err(at(locate_top(text, "name"), message));
    }
    if parts.duration.0 == 0 {
        return Err(at(locate_top(text, "duration"), "duration: must be longer than zero".into()));
    }
    if parts.duration.0 > MAX_DURATION.0 {
        return Err(at(
            locate_top(text, "duration"),
            format!("duration: at most {} s (about 146 years) can be simulated", MAX_DURATION.as_secs_f64()),
        ));
    }
    if let Some(bin) = parts.bin {
        if bin.0 > 0 && parts.duration.0 / bin.0 > MAX_BINS {
            return Err(error(
                "bin:",
                format!("output.bin: at most {MAX_BINS} bins per run; use a bin of at least duration / {MAX_BINS}"),
            ));
        }
    }
    check_devices(&parts.devices, parts.memory, &error)?;
    if parts.bin.is_some_and(|b| b.0 == 0) {
        return Err(error("bin:", "output.bin: must be longer than zero".into()));
    }
    let mut names = BTreeSet::new();
    let mut multi_policy_streams = 0;
    for (index, process) in parts.processes.iter().enumerate() {
        // A scenario file's processes passed this already, where the parser located them.
        check_process(process).map_err(|message| at(relocate_process_error(text, &message), message))?;
        let name = match process {
            Process::Background(b) => &b.name,
            Process::Stream(s) => &s.spec.name,
        };
        if !names.insert(name.clone()) {
            return Err(at(
                locate_in_process(text, name, None, 1),
                format!("processes[{index}].name: `{name}` is used twice; names must be unique"),
            ));
        }
        if let Process::Stream(stream) = process {
            if stream.policies.len() > 1 {
                multi_policy_streams += 1;
            }
            let mut labels = BTreeSet::new();
            for policy in &stream.policies {
                if !labels.insert(policy.label()) {
                    return Err(at(
                        locate_in_process(text, &stream.spec.name, Some("policies"), 0),
                        format!("processes[{index}].policies: `{}` is listed twice; each policy names an output folder, so list it once", policy.label()),
                    ));
                }
            }
        }
    }
    check_device_names(&parts, text, file)?;
    for stream in parts.processes.iter().filter_map(|p| match p {
        Process::Stream(s) => Some(s),
        Process::Background(_) => None,
    }) {
        if stream.spec.start >= parts.duration {
            return Err(at(
                locate_in_process(text, &stream.spec.name, Some("start"), 0),
                format!(
                    "process `{}`: `start` ({} s) must be before the end of the run (duration {} s)",
                    stream.spec.name,
                    stream.spec.start.as_secs_f64(),
                    parts.duration.as_secs_f64()
                ),
            ));
        }
        for policy in &stream.policies {
            policy.check_stream(&stream.spec).map_err(|message| {
                at(
                    locate_in_process(text, &stream.spec.name, Some("policies"), 0),
                    format!("process `{}`: policy `{}`: {message}", stream.spec.name, policy.name()),
                )
            })?;
        }
    }
    load_traces(&mut parts.processes, text, file, dir)?;
    let scenario_events = expected_events(parts.duration, &parts.devices, &parts.processes);
    if scenario_events > MAX_EVENTS {
        return Err(at(
            locate_top(text, "duration"),
            format!(
                "this scenario asks for about {scenario_events:.2e} arrivals and frames; at most {MAX_EVENTS:.0e} per run can be simulated (check rates, periods and the duration)"
            ),
        ));
    }
    if multi_policy_streams > 1 {
        return Err(error(
            "policies:",
            "policies: at most one stream may list several policies (the run repeats once per policy)".into(),
        ));
    }
    load_work_samples(&mut parts.processes, text, file, dir)?;
    load_cost_profiles(&mut parts.processes, text, file, dir)?;
    Ok(Scenario { file: file.to_string(), dir: dir.to_path_buf(), text: text.to_string(), seed: parts.seed, parts })
}
