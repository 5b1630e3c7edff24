//! The `flexrnn` command line: clap parsing and the commands (`run`, `study`, `merge`, `train`,
//! `validate`, `eval`, `seeds`, `import`, `infer`, `profile`, `check`, `models`), each returning `anyhow::Result`. This is the edge of the crate: it
//! reads the user's files and writes the results.
//!
//! [`main_with`] is a whole `main`: the `flexrnn` binary is `main_with(PolicyRegistry::builtin())`,
//! and a user's small binary gets the same command line with their own policies available by name in
//! scenario and study files (see `examples/custom_policy.rs`):
//!
//! ```no_run
//! use flexrnn::policy::PolicyRegistry;
//!
//! fn main() -> std::process::ExitCode {
//!     // PolicyRegistry::builtin().with::<MyPolicyConfig>() to add a kind of your own.
//!     flexrnn::cli::main_with(PolicyRegistry::builtin())
//! }
//! ```
//!
//! [`run_with`] runs one command line in-process (what tests use).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data;
use crate::engine;
use crate::metrics::{RunStats, Tee};
use crate::policy::PolicyRegistry;
use crate::report;
use crate::rnn::io::{classifier_tensors, encode_tensors, map_tensors};
use crate::runner;
use crate::scenario::Scenario;
use crate::train::bank::{
    fine_tune_trained, named_maps, train_bank, BankConfig, BankProgress, SwitchConfig, TrainedBank,
};
use crate::train::TrainConfig;

/// `println!` for the command's messages that ignores a closed stdout (`flexrnn study … | head`):
/// the results are in the output folder, and a line nobody reads must not stop a command half-way
/// (Rust's `println!` panics on a broken pipe).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed standard error (a pipe whose reader has gone) instead of
/// panicking with exit status 101.
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `print!` with `say!`'s tolerance of a closed stdout.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod check;
mod import;
mod infer;
mod profile;

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
    /// Run a policy comparison study: a grid of scenarios × replications × policies, with tables,
    /// confidence intervals, figures and an HTML report.
    Study(StudyArgs),
    /// Combine the run records of a study's shards (`study --shard i/n`) into its tables and figures.
    Merge(MergeArgs),
    /// Train a model-switching bank of GRU (or, `--cell lstm`, LSTM) classifiers and the state maps
    /// between them, or another flexible family (`--family thr|skipw|nested`).
    Train(Box<TrainArgs>),
    /// Check the paper's weighted-average claim on a model folder: every setting alone, mid-sequence
    /// changes and random schedules on the test split of the card's task, measured vs the
    /// step-weighted prediction (accuracy, or MSE for a regression task).
    Eval(EvalArgs),
    /// Combine model folders of one family, task and settings trained with different `--seed` into
    /// one shipped folder: the shipped seed's files, and in its card every seed's test score per
    /// setting with the mean and standard deviation over seeds.
    Seeds(SeedsArgs),
    /// Turn PyTorch state dicts saved as safetensors (nn.GRU/nn.LSTM or nn.GRUCell/nn.LSTMCell and an
    /// nn.Linear readout; F32, F16 or BF16) into a model folder for `run`, `study`, `eval` and `infer`;
    /// several files make a switching bank.
    Import(import::ImportArgs),
    /// Run one setting of a model folder over a task's sequences and write per sequence the logits (or
    /// the regression output), the prediction, the label and optionally the final state (CSV).
    Infer(infer::InferArgs),
    /// Check scenario and study files without running them: every file they name is read, every
    /// model loaded and every policy checked; prints what would run (processes with their offered
    /// load, streams with their model folder and settings' costs, policies, runs). Exit status 0
    /// when every file is valid, 1 otherwise.
    Check(check::CheckArgs),
    /// List model folders (default: those under models/): task, family, cell, settings with their
    /// FLOPs per step and test score, knob ranges, parameter bytes.
    Models(check::ModelsArgs),
    /// Time every setting's step, skipped step, state maps and readout of a model folder on this
    /// machine (one thread, the crate's own kernels, real inputs) and write a step-cost profile
    /// (CSV) for a stream's `cost: { profile: FILE }`.
    Profile(profile::ProfileArgs),
}

#[derive(Debug, clap::Args)]
struct SeedsArgs {
    /// Model folders trained with different `flexrnn train --seed N` (same family, task and settings).
    #[arg(required = true, num_args = 2..)]
    seed_dirs: Vec<PathBuf>,
    /// Output folder: the shipped model folder.
    #[arg(long)]
    out: PathBuf,
    /// Seed whose weights ship [default: the first folder's].
    #[arg(long)]
    ship: Option<u64>,
    /// Write into an --out folder that holds files this command did not write (e.g. a trained model
    /// folder): files of the same names are replaced, nothing else is touched.
    #[arg(long)]
    force: bool,
    /// Settings scored at once (results do not depend on this).
    #[arg(
        long,
        default_value_t = 0,
        hide_default_value = true,
        help = "Settings scored at once [default: number of cores]"
    )]
    jobs: usize,
}

#[derive(Debug, clap::Args)]
struct EvalArgs {
    /// Model folder (with card.json): a switching bank, Skip-GRUs (thr), a SkipW or a nested model.
    model_dir: PathBuf,
    /// Output folder (default: results/eval-<model folder name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write into an --out folder that holds files this command did not write (or the results of
    /// another command): files of the same names are replaced, nothing else is touched.
    #[arg(long)]
    force: bool,
    /// Number of random multi-change schedules (1–4 changes each).
    #[arg(long, default_value_t = 50)]
    schedules: usize,
    /// Seed of the random schedules.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Change positions: every N steps.
    #[arg(long, default_value_t = 4)]
    change_every: usize,
    /// Bootstrap resamples of the 95 % intervals (paired over test sequences): 0 (no intervals) or
    /// 100 to 100000.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Seed of the bootstrap resamples.
    #[arg(long, default_value_t = 1)]
    bootstrap_seed: u64,
    /// Bounds and monotonicity tolerance for accuracy, percentage points.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
    tolerance_pp: f64,
    /// Bounds and monotonicity tolerance for MSE, relative (0.05 = 5 %).
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.05)]
    tolerance_rel: f64,
    /// Also show the card's `seeds` section (written by `flexrnn seeds`): mean and spread over seeds
    /// per setting, in the summary and `seeds.csv`.
    #[arg(long)]
    seeds: bool,
    /// Schedules run at once (results do not depend on this).
    #[arg(
        long,
        default_value_t = 0,
        hide_default_value = true,
        help = "Schedules run at once [default: number of cores]"
    )]
    jobs: usize,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario file (YAML).
    scenario: PathBuf,
    /// Output folder (default: results/<scenario name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write into an --out folder that holds files this command did not write (or the results of
    /// another command): files of the same names are replaced, nothing else is touched.
    #[arg(long)]
    force: bool,
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
struct StudyArgs {
    /// Study file (YAML).
    study: PathBuf,
    /// Output folder (default: results/<study name>). Runs already recorded there are kept.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write into an --out folder that holds files this command did not write (or the results of
    /// another command): files of the same names are replaced, nothing else is touched.
    #[arg(long)]
    force: bool,
    /// Run only shard I of N (1-based, e.g. `3/8`): runs whose index mod N is I − 1. Merge the shards'
    /// folders with `flexrnn merge`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
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
struct MergeArgs {
    /// Study file (YAML), the same the shards ran.
    study: PathBuf,
    /// Output folders of the shards (each holding `runs/`).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Output folder (default: results/<study name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write into an --out folder that holds files this command did not write (or the results of
    /// another command): files of the same names are replaced, nothing else is touched.
    #[arg(long)]
    force: bool,
}

/// Parses `I/N` with 1 ≤ I ≤ N into (I − 1, N).
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (i, n) = text.split_once('/').ok_or_else(|| format!("`{text}`: write the shard as I/N, e.g. 2/8"))?;
    let i: usize = i.trim().parse().map_err(|_| format!("`{text}`: I must be a whole number"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("`{text}`: N must be a whole number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("`{text}`: need 1 ≤ I ≤ N"));
    }
    Ok((i - 1, n))
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Model family: `gru` (plain GRUs, one per width, and the state maps between them: a
    /// model-switching bank), `thr` (Skip-GRUs, one per width and budget weight, whose threshold `thr`
    /// is the run-time knob), `skipw` (SkipW, Mayet et al. 2021: at most K of every L inputs
    /// processed; one --widths value, --window L) or `nested` (one GRU whose width-w configuration
    /// uses its first w units; --widths lists the widths, the largest is its hidden size).
    #[arg(long, default_value = "gru", value_parser = ["gru", "thr", "skipw", "nested"])]
    family: String,
    /// Recurrent cell of every family: `gru` or `lstm` (PyTorch `nn.LSTMCell`; the Skip and SkipW
    /// gates read its cell state c, the switching bank's maps carry [h; c]). LSTM models are named
    /// with the cell (e.g. `lstm-64`, `thr-lstm-64-1e-3`, `skipw-lstm-64-l8`, `nested-lstm-128`).
    #[arg(long, default_value = "gru", value_parser = ["gru", "lstm"])]
    cell: String,
    /// Task to train on: `digits` (UCI digits pixel by pixel), `digits-permuted`, `adding` or
    /// `adding-T<T>` (the adding problem, regression), `mnist5k`, `pmnist5k` (embedded 5000 MNIST
    /// images, permuted), `mnist:DIR` / `pmnist:DIR` (full MNIST IDX files in DIR), `basic-motions`,
    /// `japanese-vowels`, `ts:TRAIN.ts,TEST.ts[,standardise]` (any UEA/UCR pair), `pose:DIR[,frames=N]` (2D-pose
    /// files). The card records the id; `flexrnn eval` rebuilds the same split from it.
    #[arg(long, default_value = "digits")]
    task: String,
    /// `--family thr` only: budget weights λ of the loss term λ · Σ_t u_t, comma-separated (one model
    /// per width and λ) [default: 1e-3].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    lambda: Vec<f64>,
    /// `--family thr` only: training draws `thr` per sequence uniformly from LO,HI (the range the
    /// card's grid offers; `0.5,0.5` with `--thr-zero-share 0 --thr-changes 0 --no-lambda-curriculum`
    /// is the old training at thr 0.5).
    #[arg(long, value_delimiter = ',', default_values_t = [0.5f32, 1.0], allow_hyphen_values = true)]
    thr_range: Vec<f32>,
    /// `--family thr` only: most redraws of `thr` at random steps inside one training sequence.
    #[arg(long, default_value_t = 2)]
    thr_changes: usize,
    /// `--family thr` only: thresholds whose mean validation score selects the kept epoch,
    /// comma-separated [default: the --thr-range on a 0.1 step, plus 0 if --thr-zero-share > 0].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    thr_select: Vec<f64>,
    /// `--family thr` only: train every λ from the seeded initialisation instead of starting the
    /// second and later λ of a width from the next smaller λ's weights.
    #[arg(long)]
    no_lambda_curriculum: bool,
    /// SkipW window length L.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// SkipW training: K is drawn per mini-batch uniformly from K_MIN..=L.
    #[arg(long, default_value_t = 1)]
    k_min: usize,
    /// SkipW training: the binarisation threshold is drawn per mini-batch uniformly from LO,HI.
    #[arg(long, value_delimiter = ',', default_values_t = [0.5f32, 0.5], allow_hyphen_values = true)]
    train_thr: Vec<f32>,
    /// SkipW training: weight λ of the budget term λ · (processed steps / steps) (the paper's
    /// λ Σ_t u_t with λ / T); 0 switches it off.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    budget_lambda: f64,
    /// SkipW training: most changes of (K, thr) at random steps inside one training sequence (the
    /// number is uniform in 0..=N; 0: one setting per sequence).
    #[arg(long, default_value_t = 3)]
    knob_changes: usize,
    /// `--family thr` and `skipw`: probability that a drawn training threshold is 0 (read every
    /// step; else uniform in --thr-range for thr, --train-thr for skipw) [default: 0.1 for thr, 0.25
    /// for skipw].
    #[arg(long, allow_negative_numbers = true)]
    thr_zero_share: Option<f64>,
    /// `nested` only: most width changes per training sequence in the random width schedules (0: none,
    /// every training sequence at one width — the ablation).
    #[arg(long, default_value_t = 3)]
    max_changes: usize,
    /// `nested` only: weight of the in-place distillation term (soft targets of the widest width).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    distill_weight: f64,
    /// Hidden sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    widths: Vec<usize>,
    /// Maximum epochs per model (the epoch with the best validation score — accuracy, or MSE for a
    /// regression task — is kept).
    #[arg(long, default_value_t = 150)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Initial AdamW learning rate.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    learning_rate: f64,
    /// Gradient-norm clip.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    clip_norm: f64,
    /// Seed of initialisation and batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `--family gru` and `thr`: epochs of switch-aware fine-tuning (0: none, training as before this
    /// option existed). A bank (`gru`): after the members and ridge maps, members and maps are trained
    /// jointly on runs under random switch schedules. `thr` (two or more --lambda): the Skip-RNNs of
    /// one width are trained jointly with switches between them. The epoch with the best validation
    /// objective is kept, the starting point included.
    #[arg(long, default_value_t = 0)]
    switch_epochs: usize,
    /// Switch fine-tuning: AdamW learning rate of the maps.
    #[arg(long, default_value_t = 3e-3, allow_negative_numbers = true)]
    switch_lr: f64,
    /// Switch fine-tuning: AdamW learning rate of the members' weights.
    #[arg(long, default_value_t = 3e-4, allow_negative_numbers = true)]
    switch_member_lr: f64,
    /// Switch fine-tuning: keep the members' weights fixed (only the maps are trained).
    #[arg(long)]
    switch_freeze_members: bool,
    /// Switch fine-tuning (`gru` and `thr`): most changes of model per training run (each run has 1 to
    /// this many).
    #[arg(long, default_value_t = 3)]
    switch_max_changes: usize,
    /// Switch fine-tuning: weight of the members' own task loss, each run alone.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    switch_weight_alone: f64,
    /// Switch fine-tuning: weight of the state-matching term (MSE between a mapped state and the
    /// receiving model's own state at that step).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    switch_weight_match: f64,
    /// `--family gru`: start the switch fine-tuning from the bank in this folder (its members and
    /// maps, copied) instead of training members; needs --switch-epochs > 0, the same task and cell,
    /// and the card's split must be the task's split. The members come from that folder: --widths,
    /// --epochs and --learning-rate are refused with it; --seed, --batch-size, --clip-norm and the
    /// --switch-* flags set the fine-tune.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// `--family gru`: split every mini-batch into this many micro-batches whose gradients are
    /// computed separately (on up to --threads threads at once) and summed in a fixed order. The
    /// trained weights depend on this number (1: plain mini-batches, as every shipped card was
    /// trained) but never on --threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    micro_batches: u64,
    /// Threads of the training (the result does not depend on it). `--family gru`: the bank's
    /// members train at once (up to one per width), and a member's micro-batches run at once on the
    /// threads left to it. Other families train on one thread. The autodiff's own operations always
    /// run on one thread each: at these sizes splitting them costs more than it gains.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: u64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Replace a model already in --out (without it, an existing card.json is an error); or write
    /// into an --out folder holding files train did not write (files of the same names are replaced,
    /// nothing else is touched).
    #[arg(long)]
    force: bool,
}

/// The whole command line as a binary's `main`: parses the process's arguments (printing clap's help,
/// version or usage error and exiting as clap does), runs the command with the policy kinds of
/// `registry`, and prints an error with its causes to standard error.
///
/// Returns [`ExitCode::SUCCESS`], or [`ExitCode::FAILURE`] after an error.
pub fn main_with(registry: PolicyRegistry) -> ExitCode {
    use clap::CommandFactory;
    let arguments: Vec<OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&arguments);
    match execute(&matches, &arguments, &registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say_err!("error: {}", error_text(&error));
            ExitCode::FAILURE
        }
    }
}

/// An error with its causes, each once (the library's messages already quote their cause).
fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Runs one command line in-process, `arguments` as a process gets them (the first is the program's
/// name: `["flexrnn", "run", "scenario.yaml"]`), with the policy kinds of `registry`.
///
/// # Errors
/// A usage error (clap's message, also for `--help`), or the command's error.
pub fn run_with<I, T>(arguments: I, registry: &PolicyRegistry) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    use clap::CommandFactory;
    let arguments: Vec<OsString> = arguments.into_iter().map(Into::into).collect();
    let matches = Cli::command().try_get_matches_from(&arguments)?;
    execute(&matches, &arguments, registry)
}

/// Runs the command of `matches` (parsed from `arguments`).
fn execute(matches: &clap::ArgMatches, arguments: &[OsString], registry: &PolicyRegistry) -> anyhow::Result<()> {
    use clap::FromArgMatches;
    let cli = Cli::from_arg_matches(matches)?;
    match cli.command {
        Command::Run(args) => run_scenario(args, registry),
        Command::Train(args) => {
            let explicit = matches.subcommand_matches("train").map(explicit_flags).unwrap_or_default();
            check_train_flags(&args, &explicit)?;
            train(*args, command_line(arguments))
        }
        Command::Validate(args) => validate(args),
        Command::Study(args) => study(args, registry),
        Command::Merge(args) => merge(args, registry),
        Command::Eval(args) => eval(args),
        Command::Seeds(args) => seeds(args),
        Command::Import(args) => import::import(args, command_line(arguments)),
        Command::Infer(args) => infer::infer(args),
        Command::Profile(args) => profile::profile(args, command_line(arguments)),
        Command::Check(args) => check::check(args, registry),
        Command::Models(args) => check::models(args),
    }
}

fn seeds(args: SeedsArgs) -> anyhow::Result<()> {
    use crate::eval::seeds::{check_same_model, combine, seed_run, shipped_files, shipped_index, SeedFolder};
    let folders = args.seed_dirs.iter().map(|dir| SeedFolder::load(dir)).collect::<Result<Vec<_>, _>>()?;
    check_same_model(&folders)?;
    let out_abs = std::path::absolute(&args.out).ok();
    for dir in &args.seed_dirs {
        anyhow::ensure!(
            std::path::absolute(dir).ok() != out_abs,
            "--out {} is one of the seed folders; write the combined folder elsewhere",
            args.out.display()
        );
    }
    let ship = shipped_index(&folders, args.ship)?;
    let out_rule = output_rule("seeds", args.force);
    check_out(&args.out, out_rule)?;
    let model = &folders[0].model;
    let task = data::Task::load(model.task()).with_context(|| {
        format!("{}: cannot load the test split of the card's task `{}`", folders[0].dir.display(), model.task())
    })?;
    let test = task.part(data::SplitPart::Test);
    let metric = crate::eval::Metric::of(&test);
    let runs = with_jobs(args.jobs, Some(folders[0].settings.len()), |parallel| {
        folders.iter().map(|f| seed_run(f, &test, parallel)).collect::<Vec<_>>()
    })?;
    let settings: Vec<String> = folders[0].settings.clone();
    let combined = combine(&settings, metric, folders[ship].seed, runs);
    say_raw!("{}", crate::eval::seeds::seeds_md(&combined));
    let files = shipped_files(&folders[ship].dir, combined)?;
    write_out(&args.out, out_rule, &files)?;
    say!("\nwrote {} files to {} (weights of seed {})", files.len(), args.out.display(), folders[ship].seed);
    Ok(())
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    use crate::eval::{checks::CheckConfig, evaluate_with_checks, outputs, EvalConfig};
    anyhow::ensure!(args.change_every > 0, "--change-every must be at least 1");
    anyhow::ensure!(
        args.tolerance_pp.is_finite() && args.tolerance_pp >= 0.0,
        "--tolerance-pp must be a number ≥ 0 (percentage points)"
    );
    anyhow::ensure!(
        args.tolerance_rel.is_finite() && args.tolerance_rel >= 0.0,
        "--tolerance-rel must be a number ≥ 0 (0.05 = 5 %)"
    );
    let model = crate::rnn::FlexibleModel::load(&args.model_dir)?;
    let seeds = if args.seeds {
        let seeds = crate::eval::seeds::read_seeds(&args.model_dir)?;
        Some(seeds.ok_or_else(|| {
            anyhow::anyhow!(
                "{}: --seeds: the card has no `seeds` section; combine folders trained with different --seed with `flexrnn seeds`",
                args.model_dir.display()
            )
        })?)
    } else {
        None
    };
    let check_config = CheckConfig {
        resamples: args.resamples,
        seed: args.bootstrap_seed,
        tolerance_pp: args.tolerance_pp,
        tolerance_rel: args.tolerance_rel,
        ..CheckConfig::default()
    };
    check_config.validate().map_err(anyhow::Error::msg)?;
    let out_rule = output_rule("eval", args.force);
    let task = data::Task::load(model.task()).with_context(|| {
        format!(
            "{}: cannot load the test split of the card's task `{}` (flexrnn eval rebuilds it from the task id)",
            args.model_dir.display(),
            model.task()
        )
    })?;
    let test = task.part(data::SplitPart::Test);
    let name = args
        .model_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    let config = EvalConfig {
        change_every: args.change_every,
        schedules: args.schedules,
        seed: args.seed,
        ..EvalConfig::default()
    };
    let out = args.out.unwrap_or_else(|| PathBuf::from("results").join(format!("eval-{name}")));
    check_out(&out, out_rule)?;
    let evaluation = with_jobs(args.jobs, None, |parallel| {
        evaluate_with_checks(&model, &name, &test, &config, &check_config, parallel)
    })?
    .with_context(|| format!("{}", args.model_dir.display()))?;
    anyhow::ensure!(
        args.change_every < evaluation.steps || model.settings().len() == 1,
        "{}: --change-every {} leaves no change position below the sequence length ({} steps): give a value below {}",
        args.model_dir.display(),
        args.change_every,
        evaluation.steps,
        evaluation.steps
    );
    anyhow::ensure!(
        evaluation.runs.len() > model.settings().len() || model.settings().len() == 1,
        "{}: nothing to compare: no change position below the sequence length ({} steps) with --change-every {} and no random schedule (--schedules 0)",
        args.model_dir.display(),
        evaluation.steps,
        args.change_every
    );
    let mut files = outputs(&evaluation, &model)?;
    let mut summary = evaluation.summary_md();
    if let Some(seeds) = &seeds {
        let view = crate::eval::seeds::seeds_md(seeds);
        summary.push('\n');
        summary.push_str(&view);
        for (path, bytes) in files.iter_mut() {
            if path == std::path::Path::new("summary.md") {
                *bytes = summary.clone().into_bytes();
            }
        }
        files.push(("seeds.csv".into(), crate::eval::seeds::seeds_csv(seeds)));
    }
    write_out(&out, out_rule, &files)?;
    say_raw!("{summary}");
    say!("\nwrote {} files to {}", files.len(), out.display());
    Ok(())
}

fn run_scenario(args: RunArgs, registry: &PolicyRegistry) -> anyhow::Result<()> {
    let file = args.scenario.display().to_string();
    let text = crate::input::read_text(&args.scenario, crate::input::TEXT_LIMIT, "scenario files")
        .with_context(|| format!("cannot read scenario {file}"))?;
    let dir = args.scenario.parent().map(PathBuf::from).unwrap_or_default();
    let scenario = Scenario::parse_with(&text, &file, &dir, registry)
        .map_err(|e| match check::wrong_command(&args.scenario, &text, check::FileKind::Scenario) {
            Some(message) => anyhow::anyhow!("{message}"),
            None => e.into(),
        })?
        .with_seed(args.seed);
    warn_overload(&file, &scenario);
    let resources = runner::load_resources(&scenario)?;
    let plans = runner::plan_runs(&scenario, &resources)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("results").join(scenario.name()));
    let out_rule = output_rule("run", args.force);
    // The record files go to a staging folder as the records come (nothing grows with the run's
    // length); the rest is made from the online statistics and everything is published at the end.
    let switches = scenario.record_files();
    let record_files = |plan: &runner::RunPlan| {
        let dir = report::run_folder(plan, plans.len());
        report::RecordFiles {
            steps: switches.steps.then(|| dir.join("steps.csv")),
            sequences: switches.sequences.then(|| dir.join("sequences.csv")),
            jobs: switches.jobs.then(|| dir.join("jobs.csv")),
        }
    };
    let streamed: Vec<PathBuf> = plans
        .iter()
        .flat_map(|plan| {
            let files = record_files(plan);
            [files.steps, files.sequences, files.jobs].into_iter().flatten()
        })
        .collect();
    let spool = crate::output::Spool::create(&out, out_rule, &streamed)?;
    report_recovery(&out, spool.recovery());
    let labels = report::labels(&scenario, &resources);
    let results = with_jobs(args.jobs, Some(plans.len()), |parallel| {
        runner::execute_with(&scenario, &resources, &plans, parallel, |plan| -> anyhow::Result<_> {
            let paths = record_files(plan);
            let open = |path: Option<PathBuf>| path.map(|p| spool.file(&p)).transpose().map_err(anyhow::Error::from);
            let files = report::RecordFiles {
                steps: open(paths.steps)?,
                sequences: open(paths.sequences)?,
                jobs: open(paths.jobs)?,
            };
            Ok(Tee(RunStats::new(scenario.bin()), report::RecordWriter::new(&labels, &plan.label, files)))
        })
    })??;
    let mut runs = Vec::with_capacity(results.len());
    let mut stats = Vec::with_capacity(results.len());
    for result in results {
        let runner::RunResult { plan, outcome, wall_time_s } = result;
        let engine::RunOutcome { recorder: Tee(mut run_stats, writer), nodes, events, policy_names, memory } = outcome;
        // Flushed here; closed when dropped (synced to disk when published).
        writer
            .finish()
            .with_context(|| format!("cannot write the record files of run `{}` in {}", plan.label, out.display()))?;
        run_stats.sort();
        stats.push(run_stats);
        let outcome = engine::RunOutcome { recorder: (), nodes, events, policy_names, memory };
        runs.push(runner::RunResult { plan, outcome, wall_time_s });
    }
    let results = runs;
    let files = report::outputs_with(&scenario, &resources, &results, &stats, |_| Vec::new())?;
    let written = spool.finish(&files)?;
    for note in written.notes(&out, out_rule.command) {
        say_err!("note: {note}");
    }
    let files_written = files.len() + streamed.len();
    let comparison = files.iter().find(|(p, _)| p == std::path::Path::new("comparison.md"));
    if let Some((_, table)) = comparison {
        say!("{}", String::from_utf8_lossy(table));
    }
    for result in &results {
        say!(
            "run {} ({}): {} events in {:.2} s wall time",
            result.plan.index,
            result.plan.label,
            result.outcome.events,
            result.wall_time_s
        );
    }
    say!("wrote {files_written} files to {}", out.display());
    Ok(())
}

fn study(args: StudyArgs, registry: &PolicyRegistry) -> anyhow::Result<()> {
    use crate::study::{aggregate, run};
    let study = load_study(&args.study, registry)?;
    let mut warned = std::collections::BTreeSet::new();
    for point in study.points.iter().filter(|p| warned.insert(p.scenario.text())) {
        let label = if point.label.is_empty() { String::new() } else { format!(" ({})", point.label) };
        warn_overload(&format!("{} grid point {}{label}", study.file, point.index), &point.scenario);
    }
    let loaded = run::load(&study)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("results").join(&study.name));
    report_recovery(&out, &crate::output::study::claim_folder(&out, &study, loaded.runs.len(), args.force)?);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs ({rate}, {eta} left) {msg}")
            .expect("valid template")
            .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} runs/s", state.per_sec());
            }),
    );
    let started = std::time::Instant::now();
    let outcome = with_jobs(args.jobs, Some(loaded.runs.len()), |parallel| {
        crate::output::study::run_share(
            &study,
            &loaded,
            &out,
            args.shard,
            parallel,
            |share, reused| {
                bar.set_length((share - reused) as u64);
                if reused > 0 {
                    say(
                        &bar,
                        format!("{reused} of {share} runs already recorded in {}; running the rest", out.display()),
                    );
                }
            },
            || bar.inc(1),
        )
    })??;
    bar.finish_and_clear();
    say!(
        "{} runs simulated, {} reused, in {:.1} s ({} grid points × {} replications × policies = {} runs)",
        outcome.ran,
        outcome.reused,
        started.elapsed().as_secs_f64(),
        study.points.len(),
        study.replications,
        loaded.runs.len()
    );
    if let Some((i, n)) = args.shard {
        say!(
            "shard {}/{n} done: {} runs recorded in {}/runs. When every shard is done: flexrnn merge {} <shard folders…>",
            i + 1,
            outcome.in_share,
            out.display(),
            args.study.display()
        );
        return Ok(());
    }
    let records = crate::output::study::collect_records(&study, &loaded, std::slice::from_ref(&out))?;
    let files = aggregate::study_files(&study, &records)?;
    let removed = crate::output::study::write_aggregate(&out, &study, &loaded, &files)?;
    report_removed(&removed);
    print_study(&files, &out);
    Ok(())
}

/// Reads a study file for `study` and `merge`; when it fails on what is a scenario file, the error
/// names `flexrnn run` instead.
fn load_study(path: &Path, registry: &PolicyRegistry) -> anyhow::Result<crate::study::spec::Study> {
    crate::study::spec::Study::load_with(path, registry).map_err(|e| {
        let text = crate::input::read_text(path, crate::input::TEXT_LIMIT, "study files").unwrap_or_default();
        match check::wrong_command(path, &text, check::FileKind::Study) {
            Some(message) => anyhow::anyhow!("{message}"),
            None => e.into(),
        }
    })
}

fn merge(args: MergeArgs, registry: &PolicyRegistry) -> anyhow::Result<()> {
    use crate::study::{aggregate, run};
    let study = load_study(&args.study, registry)?;
    let loaded = run::load(&study)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from("results").join(&study.name));
    for shard in &args.shards {
        anyhow::ensure!(shard.is_dir(), "{}: no such folder (give the --out folders of the shards)", shard.display());
        match crate::output::study::read_stamp(shard) {
            Some(stamp) if stamp.study == study.name => {}
            Some(stamp) => {
                anyhow::bail!("{}: holds runs of study `{}`, not `{}`", shard.display(), stamp.study, study.name)
            }
            None => anyhow::bail!("{}: not a flexrnn study folder (no study.json)", shard.display()),
        }
    }
    let records = crate::output::study::collect_records(&study, &loaded, &args.shards)?;
    report_recovery(&out, &crate::output::study::claim_folder(&out, &study, loaded.runs.len(), args.force)?);
    for (run, record) in loaded.runs.iter().zip(&records) {
        let bytes = serde_json::to_vec_pretty(record).context("serialising a run record")?;
        crate::output::write_atomic(&out.join("runs").join(&run.file), &bytes)?;
    }
    let files = aggregate::study_files(&study, &records)?;
    let removed = crate::output::study::write_aggregate(&out, &study, &loaded, &files)?;
    report_removed(&removed);
    say!("merged {} runs from {} folder(s)", records.len(), args.shards.len());
    print_study(&files, &out);
    Ok(())
}

/// The output-folder rule of `command` (`crate::output`): the model-folder commands (`train`,
/// `import`, `seeds`) replace an earlier model folder only with `--force`, the others replace their
/// own.
fn output_rule(command: &'static str, force: bool) -> crate::output::Rule {
    // A model folder is replaced only with --force: it may be all the user has.
    crate::output::Rule { command, force, replace_own: !matches!(command, "train" | "import" | "seeds") }
}

/// Checks before the work that `out` may be written, saying what was cleaned up beside it.
fn check_out(out: &std::path::Path, rule: crate::output::Rule) -> anyhow::Result<()> {
    let recovery = crate::output::check(out, rule)?;
    report_recovery(out, &recovery);
    Ok(())
}

/// Writes a result folder under the output-folder rule, saying what was cleaned up, replaced, moved
/// or left alone.
fn write_out(out: &std::path::Path, rule: crate::output::Rule, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    let written = crate::output::write_result(out, rule, files)?;
    for note in written.notes(out, rule.command) {
        say_err!("note: {note}");
    }
    Ok(())
}

fn report_recovery(out: &std::path::Path, recovery: &crate::output::Recovery) {
    for note in recovery.notes(out) {
        say_err!("note: {note}");
    }
}

/// Warns when a scenario's background processes ask for the whole node or more (`what` names it).
/// Warns when the background processes alone ask for the node's whole capacity or more until the end
/// of the run (`run`, and `study` once per grid point).
fn warn_overload(what: &str, scenario: &Scenario) {
    if let Some(warning) = scenario.overload_warning() {
        say_err!("warning: {what}: {warning}");
    }
}

fn report_removed(stale: &crate::output::study::StaleRecords) {
    if let Some(first) = stale.removed.first() {
        say!(
            "removed {} run record(s) that are no longer part of the study (first: runs/{first})",
            stale.removed.len()
        );
    }
    if let Some(first) = stale.kept.first() {
        say_err!(
            "note: kept {} file(s) in runs/ shaped like run records that are not this study's (first: runs/{first}); delete them yourself if they are not needed",
            stale.kept.len()
        );
    }
}

fn print_study(files: &[(PathBuf, Vec<u8>)], out: &std::path::Path) {
    if let Some((_, table)) = files.iter().find(|(p, _)| p == std::path::Path::new("summary.md")) {
        say!("{}", String::from_utf8_lossy(table));
    }
    say!("wrote {} files to {} (open {}/report.html)", files.len(), out.display(), out.display());
}

fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    use crate::validate::suite::{run_suite, table, Length};
    let length = if args.quick { Length::Quick } else { Length::Full };
    let started = std::time::Instant::now();
    let results = with_jobs(args.jobs, None, |parallel| run_suite(length, parallel))??;
    say!("{}", table(&results));
    let failed = results.iter().filter(|r| !r.pass).count();
    say!("{} passed, {} failed ({:.1} s)", results.len() - failed, failed, started.elapsed().as_secs_f64());
    anyhow::ensure!(failed == 0, "{failed} validation case(s) outside their tolerance");
    Ok(())
}

/// Most worker threads per available core: runs are CPU-bound, so more threads only add start-up time
/// and memory (`--jobs 5000` took 25 s for a 0.05 s run).
const THREADS_PER_CORE: usize = 4;
/// Most worker threads on any machine.
const MAX_THREADS: usize = 256;

/// The worker threads for `--jobs jobs` (0: one per core) and `runs` independent runs (`None`: not
/// known in advance): at most `runs`, at most `THREADS_PER_CORE` × available cores and at most
/// `MAX_THREADS`, at least 1. With a note for stderr when an explicit `--jobs` was lowered.
fn worker_threads(jobs: usize, runs: Option<usize>, cores: usize) -> (usize, Option<String>) {
    let most = (cores.max(1) * THREADS_PER_CORE).min(MAX_THREADS);
    let default = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()).filter(|&n: &usize| n > 0);
    let asked = if jobs == 0 { default.unwrap_or(cores) } else { jobs };
    let threads = asked.min(most).min(runs.unwrap_or(usize::MAX)).max(1);
    let note = (jobs > threads).then(|| {
        let why = if runs.is_some_and(|r| r == threads) {
            match threads {
                1 => "there is only 1 run to simulate".to_string(),
                n => format!("there are only {n} runs to simulate"),
            }
        } else {
            format!("at most {THREADS_PER_CORE} per available core ({cores}) and at most {MAX_THREADS}")
        };
        format!("note: --jobs {jobs} lowered to {threads} ({why})")
    });
    (threads, note)
}

/// Runs `work` on `worker_threads(jobs, runs)` threads: sequentially for one, otherwise on a rayon pool;
/// `work` is told which. Prints the note on stderr when `--jobs` was lowered.
fn with_jobs<T: Send>(jobs: usize, runs: Option<usize>, work: impl FnOnce(bool) -> T + Send) -> anyhow::Result<T> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (threads, note) = worker_threads(jobs, runs, cores);
    if let Some(note) = note {
        say_err!("{note}");
    }
    if threads == 1 {
        return Ok(work(false));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("starting worker threads")?;
    Ok(pool.install(|| work(true)))
}

/// A progress bar over training epochs.
fn epoch_bar(epochs: u64) -> ProgressBar {
    let bar = ProgressBar::new(epochs);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} epochs ({eta} left) {msg}")
            .expect("valid template"),
    );
    bar
}

/// Makes candle run each tensor operation on one thread (`RAYON_NUM_THREADS=1`, which candle reads at
/// every matrix product) unless the user set `RAYON_NUM_THREADS`. Splitting the small products of
/// these models over threads costs more than it gains (issue 14 measured digits GRU-128 at 2.17 → 2.54 s
/// per epoch with a second thread) and does not change their bits (`gemm` splits rows and columns, never a sum);
/// `train --threads` runs micro-batches on threads instead. Called before the command starts any
/// thread, so no other thread reads the environment meanwhile.
fn single_threaded_autodiff() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// The command line as run, for model cards: the environment variables that change a training's
/// result or speed (`RAYON_NUM_THREADS`: the autodiff's summation order; `GLIBC_TUNABLES`), then
/// `flexrnn` and its arguments (`arguments` without the program's name).
fn command_line(arguments: &[OsString]) -> String {
    ["RAYON_NUM_THREADS", "GLIBC_TUNABLES"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| format!("{name}={value}")))
        .chain(std::iter::once("flexrnn".to_string()))
        .chain(arguments.iter().skip(1).map(|a| shell_quoted(&a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` as a POSIX shell reads it back (quoted by `shlex` where a shell would split or expand it;
/// a word holding a NUL byte, which no shell can pass, as it is).
fn shell_quoted(word: &str) -> String {
    // Words of these characters only (every shipped card's command) stay as they are; `shlex` would
    // also quote the commas of `--widths 16,32`, which no shell splits on.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    shlex::try_quote(word).map_or_else(|_| word.to_string(), |quoted| quoted.into_owned())
}

/// Prints a line above the progress bar, or plainly when the bar is hidden (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        say!("{line}");
    } else {
        bar.println(line);
    }
}

/// The `--cell` value (clap allows only `gru` and `lstm`).
fn cell_kind(cell: &str) -> crate::rnn::CellKind {
    crate::rnn::CellKind::parse(cell).expect("clap checks --cell")
}

/// The ids of the arguments given on the command line (not taken from their defaults), e.g.
/// `switch_lr` for `--switch-lr 0.1`.
fn explicit_flags(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

/// `flexrnn train` flags that only some families use: (argument id, the families that use it).
const FAMILY_FLAGS: &[(&str, &[&str])] = &[
    ("lambda", &["thr"]),
    ("thr_range", &["thr"]),
    ("thr_changes", &["thr"]),
    ("thr_select", &["thr"]),
    ("no_lambda_curriculum", &["thr"]),
    ("thr_zero_share", &["thr", "skipw"]),
    ("window", &["skipw"]),
    ("k_min", &["skipw"]),
    ("train_thr", &["skipw"]),
    ("budget_lambda", &["skipw"]),
    ("knob_changes", &["skipw"]),
    ("max_changes", &["nested"]),
    ("distill_weight", &["nested"]),
    ("switch_epochs", &["gru", "thr"]),
    ("switch_max_changes", &["gru", "thr"]),
    ("switch_lr", &["gru"]),
    ("switch_member_lr", &["gru"]),
    ("switch_freeze_members", &["gru"]),
    ("switch_weight_alone", &["gru"]),
    ("switch_weight_match", &["gru"]),
    ("init_from", &["gru"]),
    ("micro_batches", &["gru"]),
];

/// Flags of the members' own training, which `--init-from` takes from the init folder instead.
const MEMBER_FLAGS: &[&str] = &["widths", "epochs", "learning_rate", "micro_batches"];

/// Refuses `flexrnn train` flags given explicitly (`explicit`: argument ids, see [`explicit_flags`])
/// that the chosen family or mode does not use, naming the flag and what it applies to: a flag of
/// another family, a switch fine-tune flag without `--switch-epochs N` (N ≥ 1), `--switch-epochs`
/// for `thr` with fewer than two `--lambda`, and the members' training flags with `--init-from`.
fn check_train_flags(args: &TrainArgs, explicit: &[String]) -> anyhow::Result<()> {
    let flag = |id: &str| format!("--{}", id.replace('_', "-"));
    let given = |id: &str| explicit.iter().any(|e| e == id);
    for (id, families) in FAMILY_FLAGS {
        if given(id) && !families.contains(&args.family.as_str()) {
            anyhow::bail!(
                "{} applies to --family {} only, not to --family {}",
                flag(id),
                families.join(" and --family "),
                args.family
            );
        }
    }
    if args.switch_epochs == 0 {
        if let Some(id) = [
            "switch_max_changes",
            "switch_lr",
            "switch_member_lr",
            "switch_freeze_members",
            "switch_weight_alone",
            "switch_weight_match",
        ]
        .into_iter()
        .find(|id| given(id))
        {
            anyhow::bail!("{} sets the switch fine-tune: give --switch-epochs N (N ≥ 1) with it", flag(id));
        }
    }
    if args.family == "thr" && args.switch_epochs > 0 && args.lambda.len() < 2 {
        anyhow::bail!(
            "--switch-epochs with --family thr fine-tunes the Skip-RNNs of one width with switches between them: give two or more --lambda values"
        );
    }
    if args.init_from.is_some() {
        if let Some(id) = MEMBER_FLAGS.iter().find(|id| given(id)) {
            anyhow::bail!(
                "{} is not used with --init-from: the members (widths, training) come from the init folder; only the switch fine-tune flags, --batch-size, --clip-norm and --seed apply",
                flag(id)
            );
        }
    }
    Ok(())
}

fn train(args: TrainArgs, command: String) -> anyhow::Result<()> {
    single_threaded_autodiff();
    anyhow::ensure!(
        !args.widths.is_empty() && args.widths.iter().all(|&w| w > 0),
        "--widths: give one or more positive hidden sizes"
    );
    anyhow::ensure!(args.epochs > 0 && args.batch_size > 0, "--epochs and --batch-size must be positive");
    anyhow::ensure!(
        args.micro_batches <= args.batch_size as u64,
        "--micro-batches {}: a mini-batch of --batch-size {} splits into at most {} parts",
        args.micro_batches,
        args.batch_size,
        args.batch_size
    );
    let usable = if args.family == "gru" && args.init_from.is_none() {
        args.widths.len() as u64 * args.micro_batches
    } else {
        1
    };
    if args.threads > usable {
        say_err!(
            "note: --threads {}: {} thread(s) can be used ({}); the others stay idle",
            args.threads,
            usable,
            if args.family == "gru" && args.init_from.is_none() {
                "one per width and micro-batch; --micro-batches N splits each mini-batch"
            } else {
                "only --family gru trains on several threads"
            }
        );
    }
    anyhow::ensure!(
        args.learning_rate.is_finite() && args.learning_rate > 0.0,
        "--learning-rate must be a positive number, got {}",
        args.learning_rate
    );
    anyhow::ensure!(args.clip_norm.is_finite() && args.clip_norm > 0.0, "--clip-norm must be a positive number");
    anyhow::ensure!(
        args.force || !args.out.join("card.json").exists(),
        "{} already holds a model (card.json); pass --force to replace it",
        args.out.display()
    );
    check_out(&args.out, output_rule("train", args.force))?;
    // Relative paths in the id (ts:, pose:, mnist:) are made absolute, so the card's id loads anywhere.
    let cwd = std::env::current_dir().context("reading the working folder")?;
    let task = data::TaskSpec::parse(&args.task)?.resolved(&cwd).load()?;
    anyhow::ensure!(
        task.set.is_fixed_length() || args.family == "gru",
        "task `{}` has sequences of different lengths; of the families only `--family gru` (a switching bank) trains on them yet",
        task.id
    );
    let (set, split) = (&task.set, &task.split);
    anyhow::ensure!(
        args.family == "gru" || args.init_from.is_none(),
        "--init-from applies to --family gru (a switching bank) only"
    );
    anyhow::ensure!(
        args.family == "gru" || args.family == "thr" || args.switch_epochs == 0,
        "--switch-epochs applies to --family gru (a switching bank) and --family thr only"
    );
    match args.family.as_str() {
        "skipw" => return train_skipw(args, set, split, command),
        "nested" => return train_nested(args, set, split, command),
        "thr" => return train_thr(args, set, split, command),
        _ => {}
    }
    anyhow::ensure!(args.lambda.is_empty(), "--lambda applies to --family thr only");
    let switch = SwitchConfig {
        epochs: args.switch_epochs,
        learning_rate: args.switch_lr,
        member_learning_rate: if args.switch_freeze_members { 0.0 } else { args.switch_member_lr },
        max_changes: args.switch_max_changes,
        weight_alone: args.switch_weight_alone,
        weight_match: args.switch_weight_match,
        batch_size: args.batch_size,
        clip_norm: args.clip_norm,
        seed: args.seed,
        ..SwitchConfig::default()
    };
    anyhow::ensure!(
        switch.learning_rate.is_finite() && switch.learning_rate > 0.0,
        "--switch-lr must be a positive number, got {}",
        switch.learning_rate
    );
    anyhow::ensure!(
        switch.member_learning_rate.is_finite() && switch.member_learning_rate >= 0.0,
        "--switch-member-lr must be a number ≥ 0, got {}",
        switch.member_learning_rate
    );
    anyhow::ensure!(switch.max_changes >= 1, "--switch-max-changes must be at least 1");
    anyhow::ensure!(
        [switch.weight_alone, switch.weight_match].iter().all(|w| w.is_finite() && *w >= 0.0),
        "--switch-weight-alone and --switch-weight-match must be numbers ≥ 0"
    );
    if let Some(dir) = &args.init_from {
        anyhow::ensure!(args.switch_epochs > 0, "--init-from fine-tunes a bank: give --switch-epochs N (N ≥ 1)");
        let family = std::fs::read(dir.join("card.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|card| card.get("family").and_then(|f| f.as_str()).map(str::to_string));
        if let Some(family) = family.filter(|f| f != "switch") {
            anyhow::bail!("--init-from {}: not a switching bank folder (family `{family}`)", dir.display());
        }
        let (bank, card) = crate::rnn::io::load_bank(dir)?;
        anyhow::ensure!(
            card.family_name() == "switch" && card.task == set.name && card.cell.as_str() == args.cell,
            "--init-from {}: a switching bank of task `{}` and cell `{}` is needed, found family `{}`, task `{}`, cell `{}`",
            dir.display(),
            set.name,
            args.cell,
            card.family_name(),
            card.task,
            card.cell
        );
        anyhow::ensure!(
            card.training.as_ref().is_some_and(|t| t.split == *split),
            "--init-from {}: the card's split differs from the split of task `{}`; fine-tuning on it would train on test sequences",
            dir.display(),
            task.id
        );
        let trained = TrainedBank { maps: named_maps(&bank), bank, card };
        let bar = epoch_bar(args.switch_epochs as u64);
        let trained = fine_tune_trained(
            trained,
            set,
            split,
            &switch,
            Some(dir.display().to_string()),
            command,
            |epoch, loss, objective| {
                bar.inc(1);
                say(&bar, format!("switch epoch {epoch}: loss {loss:.4}, validation objective {objective:.4}"));
            },
        )?;
        bar.finish_and_clear();
        return write_bank(&args, &trained);
    }
    let config = BankConfig {
        widths: args.widths.clone(),
        base: TrainConfig {
            hidden: 0,
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            clip_norm: args.clip_norm,
            seed: args.seed,
            cell: cell_kind(&args.cell),
            micro_batches: args.micro_batches as usize,
            threads: args.threads as usize,
        },
        command,
    };
    let bar = epoch_bar((args.widths.len() * args.epochs) as u64);
    let trained = train_bank(set, split, &config, |p| match p {
        BankProgress::Epoch { hidden, epoch, loss, validation } => {
            bar.inc(1);
            let line = format!("H={hidden} epoch {epoch}: loss {loss:.4}, validation {}", validation.describe());
            if bar.is_hidden() {
                say!("{line}");
            } else {
                bar.set_message(line);
            }
        }
        BankProgress::ModelDone { hidden, test } => {
            say(&bar, format!("{}-{hidden}: test {}", args.cell, test.describe()))
        }
        BankProgress::MapDone { from, to, mse, mse_truncate_pad } => {
            say(&bar, format!("map {from} -> {to}: test MSE {mse:.5} (truncate/pad {mse_truncate_pad:.5})"))
        }
    })?;
    bar.finish_and_clear();
    let trained = if args.switch_epochs > 0 {
        let bar = epoch_bar(args.switch_epochs as u64);
        let started = std::time::Instant::now();
        let previous = trained.card.training_wall_time_s();
        let mut trained =
            fine_tune_trained(trained, set, split, &switch, None, config.command.clone(), |epoch, loss, objective| {
                bar.inc(1);
                say(&bar, format!("switch epoch {epoch}: loss {loss:.4}, validation objective {objective:.4}"));
            })?;
        bar.finish_and_clear();
        if let Some(training) = trained.card.training.as_mut() {
            training.wall_time_s = previous + started.elapsed().as_secs_f64();
        }
        trained
    } else {
        trained
    };
    write_bank(&args, &trained)
}

/// Writes a trained switching bank (members, maps, card) into `--out`.
fn write_bank(args: &TrainArgs, trained: &TrainedBank) -> anyhow::Result<()> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for model in trained.bank.models() {
        files.push((format!("{}.safetensors", model.name).into(), encode_tensors(&classifier_tensors(model))));
    }
    let maps = map_tensors(trained.maps.iter().map(|(a, b, m)| (a.as_str(), b.as_str(), m)));
    files.push(("maps.safetensors".into(), encode_tensors(&maps)));
    files.push(("card.json".into(), serde_json::to_vec_pretty(&trained.card).context("serialising the model card")?));
    write_out(&args.out, output_rule("train", args.force), &files)?;
    say!("wrote {} ({:.0} s)", args.out.display(), trained.card.training_wall_time_s());
    Ok(())
}

/// `flexrnn train --family thr`: Skip-GRUs, one per (width, λ), with their threshold grid in the card.
fn train_thr(mut args: TrainArgs, set: &data::SequenceSet, split: &data::Split, command: String) -> anyhow::Result<()> {
    use crate::rnn::io::skip_classifier_tensors;
    use crate::train::skip::{train_skip_bank, SkipBankConfig, SkipProgress, ThrTraining};
    if args.lambda.is_empty() {
        args.lambda.push(1e-3);
    }
    anyhow::ensure!(
        !args.lambda.is_empty() && args.lambda.iter().all(|l| l.is_finite() && *l >= 0.0),
        "--lambda: give one or more budget weights ≥ 0"
    );
    anyhow::ensure!(args.thr_range.len() == 2, "--thr-range: give LO,HI with 0 ≤ LO ≤ HI ≤ 1, e.g. 0.5,1");
    let thr = ThrTraining {
        range: [args.thr_range[0], args.thr_range[1]],
        zero_share: args.thr_zero_share.unwrap_or(0.1),
        changes: args.thr_changes,
        select: args.thr_select.clone(),
        lambda_curriculum: !args.no_lambda_curriculum,
        switch_epochs: args.switch_epochs,
        switch_changes: args.switch_max_changes,
    };
    thr.check().map_err(|e| anyhow::anyhow!(e))?;
    let fine_tune_epochs = if args.lambda.len() >= 2 { args.switch_epochs } else { 0 };
    let config = SkipBankConfig {
        widths: args.widths.clone(),
        lambdas: args.lambda.clone(),
        thr,
        base: TrainConfig {
            hidden: 0,
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            clip_norm: args.clip_norm,
            seed: args.seed,
            cell: cell_kind(&args.cell),
            micro_batches: 1,
            threads: 1,
        },
        command,
    };
    let bar = epoch_bar((args.widths.len() * (args.lambda.len() * args.epochs + fine_tune_epochs)) as u64);
    let trained = train_skip_bank(set, split, &config, |p| match p {
        SkipProgress::Epoch { name, epoch } => {
            bar.inc(1);
            let line = format!(
                "{name} epoch {}: loss {:.4}, updates {:.3} (train), validation {} with updates {:.3} at thr 0.5, mean over the selection thresholds {:.4}",
                epoch.epoch,
                epoch.loss,
                epoch.train_update_share,
                epoch.validation.describe(),
                epoch.validation_update_share,
                epoch.validation_curve
            );
            if bar.is_hidden() {
                say!("{line}");
            } else {
                bar.set_message(line);
            }
        }
        SkipProgress::SwitchEpoch { hidden, epoch } => {
            bar.inc(1);
            let line = format!(
                "switch fine-tune H={hidden} epoch {}: loss {:.4}, validation mixed runs {:.4}, criterion {:.4}",
                epoch.epoch, epoch.loss, epoch.validation_mixed, epoch.criterion
            );
            if bar.is_hidden() {
                say!("{line}");
            } else {
                bar.set_message(line);
            }
        }
        SkipProgress::ModelDone { name, grid, wall_s } => {
            let mut lines =
                format!("{name} ({wall_s:.0} s): thr, test accuracy or MSE, update share, mean FLOPs per step");
            for point in grid {
                lines.push_str(&format!(
                    "\n  {:.2}  {:.4}  {:.3}  {:.0}",
                    point.knobs["thr"],
                    point.test_accuracy.or(point.test_mse).unwrap_or(f64::NAN),
                    point.update_share.unwrap_or(f64::NAN),
                    point.mean_flops_per_step
                ));
            }
            say(&bar, lines)
        }
    })?;
    bar.finish_and_clear();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for model in &trained.models {
        files.push((format!("{}.safetensors", model.name()).into(), encode_tensors(&skip_classifier_tensors(model))));
    }
    files.push(("card.json".into(), serde_json::to_vec_pretty(&trained.card).context("serialising the model card")?));
    write_out(&args.out, output_rule("train", args.force), &files)?;
    say!("wrote {} ({:.0} s)", args.out.display(), trained.card.training_wall_time_s());
    Ok(())
}

fn train_skipw(args: TrainArgs, set: &data::SequenceSet, split: &data::Split, command: String) -> anyhow::Result<()> {
    use crate::train::skipw::{skipw_files, train_skipw, SkipWTrainConfig};
    anyhow::ensure!(args.widths.len() == 1, "--family skipw trains one model: give one hidden size, e.g. --widths 64");
    anyhow::ensure!(args.window > 0, "--window must be at least 1");
    anyhow::ensure!(args.k_min <= args.window, "--k-min must be at most --window");
    anyhow::ensure!(
        args.train_thr.len() == 2
            && (0.0..=1.0).contains(&args.train_thr[0])
            && (0.0..=1.0).contains(&args.train_thr[1])
            && args.train_thr[0] <= args.train_thr[1],
        "--train-thr {}: give LO,HI with 0 ≤ LO ≤ HI ≤ 1 (the window gate's importances lie in [0, 1]), e.g. 0,0.75",
        args.train_thr.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")
    );
    anyhow::ensure!(
        args.budget_lambda.is_finite() && args.budget_lambda >= 0.0,
        "--budget-lambda must be a number ≥ 0"
    );
    let thr_zero_share = args.thr_zero_share.unwrap_or(0.25);
    anyhow::ensure!((0.0..=1.0).contains(&thr_zero_share), "--thr-zero-share must be a probability in [0, 1]");
    let config = SkipWTrainConfig {
        cell: cell_kind(&args.cell),
        hidden: args.widths[0],
        window: args.window,
        k_min: args.k_min,
        k_max: args.window,
        thr_min: args.train_thr[0],
        thr_max: args.train_thr[1],
        budget_lambda: args.budget_lambda,
        knob_changes: args.knob_changes,
        thr_zero_share,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        clip_norm: args.clip_norm,
        seed: args.seed,
        command,
    };
    let bar = epoch_bar((args.epochs) as u64);
    let trained = train_skipw(set, split, &config, |e| {
        bar.inc(1);
        let line = format!(
            "epoch {}: loss {:.4}, processed {:.3}, validation score {:.4}",
            e.epoch, e.loss, e.processed_share, e.validation_score
        );
        if bar.is_hidden() {
            say!("{line}");
        } else {
            bar.set_message(line);
        }
    })?;
    bar.finish_and_clear();
    for point in trained.card.family.grid.iter().filter(|p| p.thr == 0.5) {
        say!(
            "K={} thr=0.5: test {} {:.4}, {:.1} steps processed",
            point.k,
            if point.test_mse.is_some() { "MSE" } else { "accuracy" },
            point.test_accuracy.or(point.test_mse).unwrap_or(f64::NAN),
            point.mean_processed_steps
        );
    }
    let files = skipw_files(&trained).context("serialising the model card")?;
    write_out(&args.out, output_rule("train", args.force), &files)?;
    say!("wrote {} ({:.0} s)", args.out.display(), trained.card.training_wall_time_s());
    Ok(())
}

/// `flexrnn train --family nested`: one nested-width GRU (`crate::train::nested`).
fn train_nested(args: TrainArgs, set: &data::SequenceSet, split: &data::Split, command: String) -> anyhow::Result<()> {
    use crate::rnn::io::encode_nested;
    use crate::train::nested::{train_nested, NestedConfig, NestedProgress};
    // The checks every family shares were made by `train` before it dispatched here.
    anyhow::ensure!(
        args.distill_weight.is_finite() && args.distill_weight >= 0.0,
        "--distill-weight must be a number ≥ 0"
    );
    let config = NestedConfig {
        cell: cell_kind(&args.cell),
        widths: args.widths.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        clip_norm: args.clip_norm,
        seed: args.seed,
        max_changes: args.max_changes,
        distill_weight: args.distill_weight,
        command,
    };
    let metric = if set.is_regression() { "MSE" } else { "accuracy" };
    let trained = train_nested(set, split, &config, |p| match p {
        NestedProgress::Epoch { epoch, loss, validation, schedule_validation, elapsed_s } => {
            let per_width: Vec<String> = validation.iter().map(|a| format!("{a:.4}")).collect();
            say!(
                "epoch {epoch}: loss {loss:.4}, validation {metric} per width [{}], under schedules {schedule_validation:.4} ({elapsed_s:.0} s)",
                per_width.join(", ")
            );
        }
    })?;
    let card = &trained.card;
    for entry in &card.family.widths {
        say!(
            "width {}: test {} {:.4} ({} FLOP/step)",
            entry.width,
            if entry.test_mse.is_some() { "MSE" } else { "accuracy" },
            entry.test_accuracy.or(entry.test_mse).unwrap_or(f64::NAN),
            entry.flops_per_step
        );
    }
    say!(
        "random schedules: test score {:.4} (step-weighted prediction {:.4}, {:.0} FLOP/step)",
        card.family.schedules.test_score,
        card.family.schedules.step_weighted_score,
        card.family.schedules.mean_flops_per_step
    );
    let files: Vec<(PathBuf, Vec<u8>)> = vec![
        (format!("{}.safetensors", trained.model.name).into(), encode_nested(&trained.model)),
        ("card.json".into(), serde_json::to_vec_pretty(card).context("serialising the model card")?),
    ];
    write_out(&args.out, output_rule("train", args.force), &files)?;
    say!("wrote {} ({:.0} s)", args.out.display(), card.training_wall_time_s());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::worker_threads;

    #[test]
    fn card_commands_quote_what_a_shell_would_split() {
        use std::ffi::OsString;
        let args: Vec<OsString> = [
            "flexrnn",
            "import",
            "--model",
            "my run/gru 16.safetensors",
            "--task",
            "npz:d.npz,test=0.2",
            "--head",
            "it's.",
        ]
        .map(OsString::from)
        .to_vec();
        let line = super::command_line(&args);
        assert!(
            line.ends_with(
                "flexrnn import --model 'my run/gru 16.safetensors' --task npz:d.npz,test=0.2 --head \"it's.\""
            ),
            "{line}"
        );
    }

    #[test]
    fn jobs_are_bounded_by_runs_and_cores() {
        // The issue's cases: 100 000 and 5 000 threads for one run.
        assert_eq!(
            worker_threads(100_000, Some(1), 2),
            (1, Some("note: --jobs 100000 lowered to 1 (there is only 1 run to simulate)".into()))
        );
        assert_eq!(worker_threads(5000, Some(900), 2).0, 8);
        assert!(worker_threads(5000, Some(900), 2).1.unwrap().contains("at most 4 per available core (2)"));
        assert_eq!(worker_threads(5000, None, 1000).0, 256);
        assert_eq!(
            worker_threads(3, Some(2), 2),
            (2, Some("note: --jobs 3 lowered to 2 (there are only 2 runs to simulate)".into()))
        );
        // Within the bounds nothing changes and nothing is said; the default is silent.
        assert_eq!(worker_threads(6, Some(10), 2), (6, None));
        assert_eq!(worker_threads(1, Some(10), 2), (1, None));
        assert_eq!(worker_threads(0, Some(1), 2), (1, None));
    }
}
