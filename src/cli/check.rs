//! `flexrnn check FILE…` (scenario and study files checked through the real reading path —
//! [`Scenario::parse_with`], [`runner::load_resources`], [`runner::plan_runs`], [`Study::load_with`],
//! [`crate::study::run::load`] — without running anything, and what would run printed) and
//! `flexrnn models [DIR…]` (model folders: task, family, cell, settings with their costs and scores,
//! knob ranges, parameter bytes).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::policy::PolicyRegistry;
use crate::rnn::FlexibleModel;
use crate::runner;
use crate::scenario::{Process, Scenario};
use crate::study::spec::Study;
use crate::workload::profile::StepCost;
use crate::workload::BackgroundKind;

#[derive(Debug, clap::Args)]
pub(super) struct CheckArgs {
    /// Scenario or study files (YAML); which one each is, is told from its top-level keys.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(super) struct ModelsArgs {
    /// Model folders (with card.json), or folders holding them [default: models].
    dirs: Vec<PathBuf>,
}

/// What a YAML file is, by its top-level keys: a study has `scenario:` (and `replications:`), a
/// scenario has `processes:` or `node:`. `None` for text that is not a mapping or has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Scenario,
    Study,
}

/// The kind of `text` by its top-level keys (see [`FileKind`]); `None` if it says neither.
pub(super) fn file_kind(text: &str) -> Option<FileKind> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let map = value.as_mapping()?;
    let has = |key: &str| map.contains_key(key);
    match (has("scenario"), has("processes") || has("node")) {
        (true, false) => Some(FileKind::Study),
        (false, true) => Some(FileKind::Scenario),
        _ => None,
    }
}

/// The message for a file given to the command for the other kind, if it is one.
pub(super) fn wrong_command(file: &Path, text: &str, expected: FileKind) -> Option<String> {
    match (file_kind(text)?, expected) {
        (FileKind::Study, FileKind::Scenario) => Some(format!(
            "{}: this is a study file (it has `scenario:`), not a scenario: use `flexrnn study {}`",
            file.display(),
            file.display()
        )),
        (FileKind::Scenario, FileKind::Study) => Some(format!(
            "{}: this is a scenario file (it has `processes:`/`node:`), not a study: use `flexrnn run {}`",
            file.display(),
            file.display()
        )),
        _ => None,
    }
}

/// Checks every file, printing what each would run (stdout) or its error (stderr, as `run` and
/// `study` print it).
///
/// # Errors
/// A single file's error; with several files, how many were invalid (each file's error printed).
pub(super) fn check(args: CheckArgs, registry: &PolicyRegistry) -> anyhow::Result<()> {
    if let [file] = args.files.as_slice() {
        say_raw!("{}", check_file(file, registry)?);
        return Ok(());
    }
    let mut failed = 0;
    for file in &args.files {
        match check_file(file, registry) {
            Ok(text) => say_raw!("{text}"),
            Err(error) => {
                failed += 1;
                say_err!("error: {}", super::error_text(&error));
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} files invalid", args.files.len());
    Ok(())
}

/// One file's description, or its error.
fn check_file(file: &Path, registry: &PolicyRegistry) -> anyhow::Result<String> {
    let name = file.display().to_string();
    let text = crate::input::read_text(file, crate::input::TEXT_LIMIT, "scenario and study files")
        .map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
    let mut out = String::new();
    match file_kind(&text) {
        Some(FileKind::Study) => {
            let study = Study::load_with(file, registry)?;
            let loaded = crate::study::run::load(&study)?;
            let policies = loaded.runs.len() / (study.points.len() * study.replications).max(1);
            let _ = writeln!(
                out,
                "{name}: study `{}`, valid: {} grid point(s) × {} replication(s) × {policies} polic{} = {} runs (seed {})",
                study.name,
                study.points.len(),
                study.replications,
                if policies == 1 { "y" } else { "ies" },
                loaded.runs.len(),
                study.seed
            );
            for axis in &study.axes {
                let values: Vec<String> = axis.values.iter().map(crate::study::spec::compact).collect();
                let _ = writeln!(out, "  axis {}: {}", axis.path, values.join(", "));
            }
            let focus = &study.points[study.focus_point];
            let label = if focus.label.is_empty() { String::new() } else { format!(" ({})", focus.label) };
            let _ = writeln!(out, "  grid point {}{label}, the focus point:", focus.index);
            describe_scenario(&mut out, &focus.scenario, &loaded.resources[study.focus_point], "    ");
        }
        _ => {
            let dir = file.parent().map(PathBuf::from).unwrap_or_default();
            let scenario = Scenario::parse_with(&text, &name, &dir, registry).map_err(|e| {
                match wrong_command(file, &text, FileKind::Scenario) {
                    Some(message) => anyhow::anyhow!("{message}"),
                    None => e.into(),
                }
            })?;
            let resources = runner::load_resources(&scenario)?;
            let plans = runner::plan_runs(&scenario, &resources)?;
            let _ = writeln!(
                out,
                "{name}: scenario `{}`, valid: {} run{} of {} (seed {})",
                scenario.name(),
                plans.len(),
                if plans.len() == 1 { "" } else { "s" },
                seconds(scenario.horizon().as_secs_f64()),
                scenario.seed()
            );
            describe_scenario(&mut out, &scenario, &resources, "  ");
            let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
            let _ = writeln!(out, "  runs: {}", labels.join(", "));
        }
    }
    Ok(out)
}

/// The node, each process with its offered load, each stream with its model folder, settings and
/// their costs, and its policies.
fn describe_scenario(out: &mut String, scenario: &Scenario, resources: &runner::Resources, indent: &str) {
    let devices = scenario.devices();
    for device in devices {
        let _ = writeln!(
            out,
            "{indent}device {}: {} core{} × {}, {}{}",
            device.name,
            device.cores,
            if device.cores.get() == 1 { "" } else { "s" },
            si(device.speed, "FLOP/s"),
            discipline(device.discipline),
            device.power.map_or(String::new(), |p| format!(", {} W idle / {} W busy per core", p.idle, p.busy))
        );
    }
    let device_name = |device: Option<&str>| {
        let index = scenario.device_index(device).unwrap_or(0);
        (index, devices[index].name.as_str())
    };
    for process in scenario.processes() {
        match process {
            Process::Background(b) => {
                let (_, device) = device_name(b.device.as_deref());
                let kind = match &b.kind {
                    BackgroundKind::Poisson { .. } => "poisson",
                    BackgroundKind::Periodic { .. } => "periodic",
                    BackgroundKind::Mmpp { .. } => "mmpp",
                    BackgroundKind::OnOff { .. } => "on_off",
                    BackgroundKind::Trace { .. } => "trace",
                };
                let _ = writeln!(
                    out,
                    "{indent}process {} ({kind}, device {device}): offered load {:.1} % of the device",
                    b.name,
                    100.0 * scenario.offered_load_of(b)
                );
            }
            Process::Stream(s) => {
                let (index, device) = device_name(s.spec.device.as_deref());
                let speed = devices[index].speed;
                let capacity = speed * devices[index].cores.get() as f64;
                let dir = scenario.dir().join(&s.models);
                let loaded = &resources.banks[&dir];
                let model = &loaded.model;
                let period = s.spec.period.as_secs_f64();
                let _ = writeln!(
                    out,
                    "{indent}stream {} (device {device}): {} ({} {}, task {}), dataset {} ({}), period {}, deadline {}, {}",
                    s.spec.name,
                    s.models.display(),
                    model.family(),
                    format!("{:?}", model.cell_kind()).to_lowercase(),
                    model.task(),
                    s.dataset.id(),
                    format!("{:?}", s.split).to_lowercase(),
                    seconds(period),
                    seconds(s.spec.deadline.as_secs_f64()),
                    if s.sequences_given { format!("{} sequences", s.spec.sequences) } else { "every sequence once".into() },
                );
                let cost = match &s.cost {
                    StepCost::Flops => "FLOPs".to_string(),
                    StepCost::Profile { file, scale, .. } => format!("profile {} × {scale}", file.display()),
                };
                let options = crate::engine::model_options(model, &s.cost, speed).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{indent}  settings (cost: {cost}; step time alone on one core; offered load if run on every frame):"
                );
                for (setting, option) in model.settings().iter().zip(&options) {
                    let work = option.flops_per_step as f64;
                    let _ = writeln!(
                        out,
                        "{indent}    {:<24} {:>12}/step  {:>9}  {:>6.1} %{}",
                        setting.name,
                        si(work, "FLOP"),
                        seconds(work / speed),
                        100.0 * work / period / capacity,
                        score(setting)
                    );
                }
                let policies: Vec<String> = s.policies.iter().map(|p| p.label()).collect();
                let _ = writeln!(out, "{indent}  policies: {}", policies.join(", "));
            }
        }
    }
}

/// The scheduler as a scenario file writes it.
fn discipline(discipline: crate::node::Discipline) -> String {
    use crate::node::Discipline;
    match discipline {
        Discipline::ProcessorSharing => "processor_sharing".into(),
        Discipline::Fifo => "fifo".into(),
        Discipline::Edf => "edf".into(),
        Discipline::FixedPriority { preemptive: true } => "fixed_priority".into(),
        Discipline::FixedPriority { preemptive: false } => "fixed_priority (not preemptive)".into(),
        Discipline::RoundRobin { quantum, context_switch } => format!(
            "round_robin (quantum {}, context switch {})",
            seconds(quantum.as_secs_f64()),
            seconds(context_switch.as_secs_f64())
        ),
    }
}

/// ` · accuracy 95.3 %` or ` · MSE 0.012` from the card, or nothing.
fn score(setting: &crate::rnn::Setting) -> String {
    match (setting.expected_accuracy, setting.expected_mse) {
        (Some(a), _) => format!("  test accuracy {:.1} %", 100.0 * a),
        (None, Some(m)) => format!("  test MSE {m:.2e}"),
        _ => String::new(),
    }
}

/// `2.5 ms`, `120 s`, `40 µs`.
fn seconds(s: f64) -> String {
    if s == 0.0 {
        "0 s".into()
    } else if s >= 1.0 {
        format!("{} s", trim(s))
    } else if s >= 1e-3 {
        format!("{} ms", trim(s * 1e3))
    } else if s >= 1e-6 {
        format!("{} µs", trim(s * 1e6))
    } else {
        format!("{} ns", trim(s * 1e9))
    }
}

/// A number with at most three significant decimals and no trailing zeros: `4`, `4.04`, `101`.
fn trim(x: f64) -> String {
    let text = if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `101 kFLOP`, `25 MFLOP/s`, `3.1 kB` (SI prefixes).
fn si(x: f64, unit: &str) -> String {
    let (scaled, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(factor, _)| x >= *factor)
        .map_or((x, ""), |(factor, prefix)| (x / factor, prefix));
    format!("{} {prefix}{unit}", trim(scaled))
}

/// Lists the model folders of `args.dirs` (each a model folder, or a folder of them).
///
/// # Errors
/// A folder that is neither, or a model folder that cannot be loaded (its error).
pub(super) fn models(args: ModelsArgs) -> anyhow::Result<()> {
    let dirs = if args.dirs.is_empty() { vec![PathBuf::from("models")] } else { args.dirs };
    let mut folders = Vec::new();
    for dir in &dirs {
        if dir.join("card.json").is_file() {
            folders.push(dir.clone());
            continue;
        }
        let entries =
            std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: cannot list the folder: {e}", dir.display()))?;
        let mut found: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("card.json").is_file()).collect();
        anyhow::ensure!(
            !found.is_empty(),
            "{}: no card.json in it nor in its subfolders; give a model folder or a folder of them",
            dir.display()
        );
        found.sort();
        folders.extend(found);
    }
    let mut text = String::new();
    for (i, dir) in folders.iter().enumerate() {
        let model = FlexibleModel::load(dir)?;
        if i > 0 {
            text.push('\n');
        }
        describe_model(&mut text, dir, &model);
    }
    say_raw!("{text}");
    Ok(())
}

/// One model folder: task, family, cell, sizes, parameter bytes, settings, knob ranges.
pub(super) fn describe_model(out: &mut String, dir: &Path, model: &FlexibleModel) {
    let settings = model.settings();
    let mut blocks: Vec<(usize, u64)> = settings.iter().map(|s| (s.block, s.block_bytes)).collect();
    blocks.sort_unstable();
    blocks.dedup();
    let bytes: u64 = blocks.iter().map(|(_, b)| b).sum();
    let _ = writeln!(
        out,
        "{}: task {}, family {}, cell {}{}, {} input(s), {}, {} setting{}, parameters {} ({} block{})",
        dir.display(),
        model.task(),
        model.family(),
        format!("{:?}", model.cell_kind()).to_lowercase(),
        if model.layers() > 1 { format!(" × {} layers", model.layers()) } else { String::new() },
        model.input_size(),
        if model.classes() < 2 { "regression".to_string() } else { format!("{} classes", model.classes()) },
        settings.len(),
        if settings.len() == 1 { "" } else { "s" },
        si(bytes as f64, "B"),
        blocks.len(),
        if blocks.len() == 1 { "" } else { "s" },
    );
    let _ = writeln!(out, "  {:<26} {:>7} {:>13} {:>10}  score", "setting", "hidden", "FLOPs/step", "params");
    for setting in settings {
        let flops = setting.expected_flops_per_step.unwrap_or(setting.flops_per_update as f64);
        let _ = writeln!(
            out,
            "  {:<26} {:>7} {:>13} {:>10} {}",
            setting.name,
            setting.hidden,
            si(flops, "FLOP"),
            si(setting.block_bytes as f64, "B"),
            score(setting)
        );
    }
    let forms = model.continuous_forms();
    if !forms.is_empty() {
        let _ = writeln!(out, "  knobs: {forms}");
    }
}
