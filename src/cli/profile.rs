//! `flexrnn profile`: every setting's step, skipped step, state maps and readout of a model folder,
//! timed on this machine with the crate's own kernels ([`crate::profile`]), written as a profile
//! ([`crate::workload::profile`]) that a stream's `cost: { profile: FILE }` reads.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::data::{self, SplitPart};
use crate::profile::{measure, ProfileOptions};
use crate::rnn::kernels::KernelIsa;
use crate::rnn::FlexibleModel;
use crate::workload::profile::{Operation, StepProfile};

#[derive(Debug, clap::Args)]
pub(crate) struct ProfileArgs {
    /// Model folder (with card.json) of any family.
    model_dir: PathBuf,
    /// Output CSV file.
    #[arg(long, default_value = "profile.csv")]
    out: PathBuf,
    /// Timed calls per setting and operation.
    #[arg(long, default_value_t = 1000)]
    repetitions: usize,
    /// Untimed calls per setting and operation before the timed ones.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Samples kept per row in `samples_s` (evenly spaced order statistics of the repetitions left
    /// after --trim; the summary columns use all of them).
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Share of each row's slowest repetitions left out of `samples_s` as interruptions (pre-emption
    /// by the OS, page faults), which a stream would otherwise draw as steps; `0 ≤ trim < 1`, 0 keeps
    /// every repetition. The summary columns (mean, p50, p90, p99) use all repetitions.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    trim: f64,
    /// Task id whose test sequences feed the steps [default: the card's task].
    #[arg(long)]
    data: Option<String>,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
}

/// The CPU's model name from `/proc/cpuinfo` (`model name`, else `Hardware`/`Model` on ARM boards),
/// or `unknown`.
fn cpu_model() -> String {
    let text = crate::input::read_text(Path::new("/proc/cpuinfo"), crate::input::TEXT_LIMIT, "cpu information")
        .unwrap_or_default();
    ["model name", "Hardware", "Model", "cpu model"]
        .iter()
        .find_map(|key| {
            text.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == *key && !value.trim().is_empty()).then(|| value.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The UTC date and time now, `YYYY-MM-DDTHH:MM:SSZ` (civil calendar from days since 1970-01-01,
/// H. Hinnant's `civil_from_days`).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The card's FLOPs of `operation` of setting `name` (what `cost: flops` charges for it).
fn operation_flops(model: &FlexibleModel, name: &str, operation: &Operation) -> u64 {
    let Some(index) = model.setting_index(name) else { return 0 };
    let setting = &model.settings()[index];
    match operation {
        Operation::Update => setting.flops_per_update,
        Operation::Skip => setting.flops_per_skip,
        Operation::Window => setting.flops_per_window,
        Operation::Readout => model.readout_flops(index),
        Operation::Map { to } => model.setting_index(to).map_or(0, |to| model.switch_flops(index, to)),
    }
}

/// Most `--repetitions`: 10 million timings, 80 MB per row.
const MAX_REPETITIONS: usize = 10_000_000;

/// Runs `flexrnn profile` (see the module doc).
pub(crate) fn profile(args: ProfileArgs, command: String) -> anyhow::Result<()> {
    crate::output::check_file(&args.out, args.force)?;
    anyhow::ensure!(args.repetitions >= 1, "--repetitions must be at least 1");
    anyhow::ensure!(args.samples >= 1, "--samples must be at least 1");
    anyhow::ensure!(
        args.repetitions <= MAX_REPETITIONS,
        "--repetitions {}: at most {MAX_REPETITIONS} (every timing of a row is held in memory, 8 bytes each, until the row is summarised)",
        args.repetitions
    );
    anyhow::ensure!(
        (0.0..1.0).contains(&args.trim),
        "--trim {}: write a share from 0 (keep every repetition) up to, not including, 1",
        args.trim
    );
    let model = FlexibleModel::load(&args.model_dir)?;
    let id = args.data.clone().unwrap_or_else(|| model.task().to_string());
    let cwd = std::env::current_dir().context("reading the working folder")?;
    let task = data::TaskSpec::parse(&id)?.resolved(&cwd).load().with_context(|| format!("--data {id}"))?;
    anyhow::ensure!(
        task.set.features == model.input_size(),
        "task `{}` has {} features; the model of {} reads {}",
        task.id,
        task.set.features,
        args.model_dir.display(),
        model.input_size()
    );
    let mut pool = task.split.indices(SplitPart::Test).to_vec();
    if pool.is_empty() {
        pool = (0..task.set.len()).collect();
    }
    anyhow::ensure!(!pool.is_empty(), "task `{}` has no sequences", task.id);
    let options = ProfileOptions { repetitions: args.repetitions, warmup: args.warmup };
    let measured = measure(&model, &task.set, &pool, options);
    let notes = [
        ("cpu", cpu_model()),
        ("isa", KernelIsa::detect().name().to_string()),
        ("threads", "1".to_string()),
        ("flexrnn", env!("CARGO_PKG_VERSION").to_string()),
        ("date", utc_now()),
        ("model", args.model_dir.display().to_string()),
        ("family", format!("{} ({:?} cells)", model.family(), model.cell_kind())),
        ("inputs", format!("task {} (test split, {} sequences)", task.id, pool.len())),
        ("repetitions", args.repetitions.to_string()),
        ("warmup", args.warmup.to_string()),
        (
            "samples",
            format!(
                "at most {} kept per row (evenly spaced order statistics of the fastest {}% of the repetitions; the slowest {}% left out as interruptions)",
                args.samples,
                100.0 - 100.0 * args.trim,
                100.0 * args.trim
            ),
        ),
        ("timer_overhead_ns", format!("{} (subtracted from every sample)", measured.timer_overhead_ns)),
        ("command", command),
    ];
    let profile = StepProfile {
        notes: notes.into_iter().map(|(key, value)| (key.to_string(), value)).collect(),
        rows: measured.rows.into_iter().map(|row| row.keeping_samples(args.samples, args.trim)).collect(),
    };
    crate::output::write_file(&args.out, args.force, &profile.to_csv())?;
    say!(
        "wrote {} ({} rows: {} setting{} of {}, {} repetitions each, on {} [{}])",
        args.out.display(),
        profile.rows.len(),
        model.settings().len(),
        if model.settings().len() == 1 { "" } else { "s" },
        args.model_dir.display(),
        args.repetitions,
        profile.notes[0].1,
        profile.notes[1].1
    );
    say!(
        "  {:<28} {:<16} {:>9} {:>11} {:>11} {:>11} {:>9}",
        "setting",
        "operation",
        "FLOPs",
        "mean µs",
        "p50 µs",
        "p99 µs",
        "GFLOP/s"
    );
    for row in &profile.rows {
        let flops = operation_flops(&model, &row.setting, &row.operation);
        say!(
            "  {:<28} {:<16} {:>9} {:>11.4} {:>11.4} {:>11.4} {:>9.2}",
            row.setting,
            row.operation.to_string(),
            flops,
            row.mean_s * 1e6,
            row.p50_s * 1e6,
            row.p99_s * 1e6,
            if row.p50_s > 0.0 { flops as f64 / row.p50_s * 1e-9 } else { f64::NAN }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_the_civil_date() {
        let now = super::utc_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
