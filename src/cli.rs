//! Command-line parsing (clap) and the commands; every command returns `anyhow::Result`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use flexrnn::data;
use flexrnn::report;
use flexrnn::rnn::io::{classifier_tensors, encode_tensors, map_tensors};
use flexrnn::runner;
use flexrnn::scenario::Scenario;
use flexrnn::train::bank::{train_bank, BankConfig, BankProgress};
use flexrnn::train::TrainConfig;

/// flexrnn: simulate flexible recurrent networks on a shared edge node.
#[derive(Debug, Parser)]
#[command(name = "flexrnn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write its results and figures.
    Run(RunArgs),
    /// Run the validation suite: scenarios with known answers from queueing and scheduling theory.
    Validate(ValidateArgs),
    /// Train a model-switching bank of GRU classifiers and the state maps between them.
    Train(TrainArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario file (YAML).
    scenario: PathBuf,
    /// Output folder (default: results/<scenario name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed (overrides the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Runs simulated at once (each run is single-threaded; results do not depend on this).
    #[arg(
        long,
        default_value_t = 0,
        hide_default_value = true,
        help = "Runs simulated at once [default: number of cores]"
    )]
    jobs: usize,
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// Run about 1/20 of the full length with wider tolerances (what the tests run).
    #[arg(long)]
    quick: bool,
    /// Cases simulated at once (each single-threaded; results do not depend on this).
    #[arg(
        long,
        default_value_t = 0,
        hide_default_value = true,
        help = "Cases simulated at once [default: number of cores]"
    )]
    jobs: usize,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Task to train on (only `digits`: the UCI handwritten digits, pixel by pixel).
    #[arg(long, default_value = "digits", value_parser = ["digits"])]
    task: String,
    /// Hidden sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    widths: Vec<usize>,
    /// Maximum epochs per model (the epoch with the best validation accuracy is kept).
    #[arg(long, default_value_t = 150)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Initial AdamW learning rate.
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f64,
    /// Gradient-norm clip.
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// Seed of initialisation and batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Replace a model bank already in --out (without it, an existing card.json is an error).
    #[arg(long)]
    force: bool,
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_scenario(args),
        Command::Train(args) => train(args),
        Command::Validate(args) => validate(args),
    }
}

fn run_scenario(args: RunArgs) -> anyhow::Result<()> {
    let file = args.scenario.display().to_string();
    let text = std::fs::read_to_string(&args.scenario).with_context(|| format!("cannot read scenario {file}"))?;
    let dir = args.scenario.parent().map(PathBuf::from).unwrap_or_default();
    let scenario = Scenario::parse(&text, &file, &dir)?.with_seed(args.seed);
    let load = scenario.offered_background_load();
    if load >= 1.0 {
        eprintln!(
            "warning: {file}: the background processes ask for {:.0}% of the node's capacity; their queues grow without bound and the run may be slow",
            load * 100.0
        );
    }
    let resources = runner::load_resources(&scenario)?;
    let plans = runner::plan_runs(&scenario, &resources)?;
    let results = with_jobs(args.jobs, |parallel| runner::execute(&scenario, &resources, &plans, parallel))??;
    let files = report::outputs(&scenario, &resources, &results)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("results").join(&scenario.parsed.name));
    flexrnn::output::replace_folder(&out, &files, "manifest.json")?;
    let comparison = files.iter().find(|(p, _)| p == std::path::Path::new("comparison.md"));
    if let Some((_, table)) = comparison {
        println!("{}", String::from_utf8_lossy(table));
    }
    for result in &results {
        println!(
            "run {} ({}): {} events in {:.2} s wall time",
            result.plan.index, result.plan.label, result.outcome.events, result.wall_time_s
        );
    }
    println!("wrote {} files to {}", files.len(), out.display());
    Ok(())
}

fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    use flexrnn::validate::suite::{run_suite, table, Length};
    let length = if args.quick { Length::Quick } else { Length::Full };
    let started = std::time::Instant::now();
    let results = with_jobs(args.jobs, |parallel| run_suite(length, parallel))??;
    println!("{}", table(&results));
    let failed = results.iter().filter(|r| !r.pass).count();
    println!("{} passed, {} failed ({:.1} s)", results.len() - failed, failed, started.elapsed().as_secs_f64());
    anyhow::ensure!(failed == 0, "{failed} validation case(s) outside their tolerance");
    Ok(())
}

/// Runs `work` sequentially for `--jobs 1`, otherwise on a rayon pool of `jobs` threads (0: one per
/// core); `work` is told which.
fn with_jobs<T: Send>(jobs: usize, work: impl FnOnce(bool) -> T + Send) -> anyhow::Result<T> {
    if jobs == 1 {
        return Ok(work(false));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().context("starting worker threads")?;
    Ok(pool.install(|| work(true)))
}

/// Prints a line above the progress bar, or plainly when the bar is hidden (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.widths.is_empty() && args.widths.iter().all(|&w| w > 0),
        "--widths: give one or more positive hidden sizes"
    );
    anyhow::ensure!(args.epochs > 0 && args.batch_size > 0, "--epochs and --batch-size must be positive");
    anyhow::ensure!(
        args.learning_rate.is_finite() && args.learning_rate > 0.0,
        "--learning-rate must be a positive number, got {}",
        args.learning_rate
    );
    anyhow::ensure!(args.clip_norm.is_finite() && args.clip_norm > 0.0, "--clip-norm must be a positive number");
    anyhow::ensure!(
        args.force || !args.out.join("card.json").exists(),
        "{} already holds a model bank; pass --force to replace it",
        args.out.display()
    );
    let set = data::load_digits()?;
    let split = data::digits_split(&set.labels);
    let command = std::iter::once("flexrnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
    let config = BankConfig {
        widths: args.widths.clone(),
        base: TrainConfig {
            hidden: 0,
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            clip_norm: args.clip_norm,
            seed: args.seed,
        },
        command,
    };
    let bar = ProgressBar::new((args.widths.len() * args.epochs) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} epochs ({eta} left) {msg}")
            .expect("valid template"),
    );
    let trained = train_bank(&set, &split, &config, |p| match p {
        BankProgress::Epoch { hidden, epoch, loss, validation_accuracy } => {
            bar.inc(1);
            let line =
                format!("H={hidden} epoch {epoch}: loss {loss:.4}, validation accuracy {validation_accuracy:.4}");
            if bar.is_hidden() {
                println!("{line}");
            } else {
                bar.set_message(line);
            }
        }
        BankProgress::ModelDone { hidden, test_accuracy } => {
            say(&bar, format!("gru-{hidden}: test accuracy {test_accuracy:.4}"))
        }
        BankProgress::MapDone { from, to, mse, mse_truncate_pad } => {
            say(&bar, format!("map {from} -> {to}: test MSE {mse:.5} (truncate/pad {mse_truncate_pad:.5})"))
        }
    })?;
    bar.finish_and_clear();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for model in trained.bank.models() {
        files.push((format!("{}.safetensors", model.name).into(), encode_tensors(&classifier_tensors(model))));
    }
    let maps = map_tensors(trained.maps.iter().map(|(a, b, m)| (a.as_str(), b.as_str(), m)));
    files.push(("maps.safetensors".into(), encode_tensors(&maps)));
    files.push(("card.json".into(), serde_json::to_vec_pretty(&trained.card).context("serialising the model card")?));
    flexrnn::output::replace_folder(&args.out, &files, "card.json")?;
    println!("wrote {} ({:.0} s)", args.out.display(), trained.card.training.wall_time_s);
    Ok(())
}
