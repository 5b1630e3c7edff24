//! # flexrnn
//!
//! A discrete-event simulator of an edge node shared by several processes, in which one workload is
//! a recurrent neural network that **really runs** its inference on real sequences and changes its
//! setting mid-sequence under a policy's control: both methods of Lambert, Le Bolzer and Schnitzler,
//! "Flexible Recurrent Neural Networks" (ECML PKDD 2020) — switching between separately trained
//! models with the hidden state carried across, and a Skip-RNN whose skip threshold is a run-time
//! knob —, SkipW window budgets (Mayet et al., ICLR 2021) and nested widths.
//!
//! ## Tutorial: a scenario in code
//!
//! A [`scenario::Scenario`] says what runs on the node. Build one in Rust with
//! [`scenario::Scenario::builder`] (or read a YAML file with [`scenario::Scenario::parse`]; both go
//! through the same checks and give the same runs). [`runner`] loads the model banks and data sets
//! it names, plans one run per policy and executes them; each run's records (every frame step, every
//! sequence, every background job) are in its `outcome.recorder`, and [`report`] turns them into
//! tables and figures.
//!
//! Four seconds of the digit classifier of `scenarios/default.yaml` (a frame every 5 ms, due 5 ms
//! later) on one slow core beside Poisson background jobs, under two policies:
//!
//! ```
//! use std::num::NonZeroUsize;
//! use flexrnn::node::Discipline;
//! use flexrnn::policy::{greedy_slack::GreedySlackConfig, static_::StaticConfig, PolicySpec};
//! use flexrnn::scenario::{NodeSpec, Scenario, StreamBuilder};
//! use flexrnn::sim::SimTime;
//! use flexrnn::workload::WorkDistribution;
//! use flexrnn::{report, runner};
//!
//! let ms = |n: u64| SimTime(n * 1_000_000);
//! let digits = StreamBuilder::new("digits", "digits", "models/digits-gru", ms(5), ms(5))
//!     .sequences(10)
//!     .policy(PolicySpec::new(StaticConfig { model: "gru-128".into() })?)
//!     .policy(PolicySpec::new(GreedySlackConfig { safety: 1.0 })?);
//! let scenario = Scenario::builder("tutorial")
//!     .seed(7)
//!     .duration(ms(4_000))
//!     .node(NodeSpec::new(NonZeroUsize::MIN, 25e6, Discipline::ProcessorSharing)) // 25 MFLOP/s
//!     .poisson("requests", 10.0, WorkDistribution::LogNormal { mean: 500e3, cv: 1.0 })
//!     .stream(digits)
//!     .dir(env!("CARGO_MANIFEST_DIR")) // model banks and data are relative to it
//!     .build()?;
//!
//! let resources = runner::load_resources(&scenario)?;
//! let plans = runner::plan_runs(&scenario, &resources)?;
//! let results = runner::execute(&scenario, &resources, &plans, false)?;
//! assert_eq!(results.len(), 2); // one run per policy, same background jobs (common random numbers)
//! for result in &results {
//!     let steps = &result.outcome.recorder.steps;
//!     let missed = steps.iter().filter(|s| s.missed).count();
//!     let flops: f64 = steps.iter().map(|s| s.flops).sum();
//!     println!("{}: {} steps, {missed} missed, {flops:.3e} FLOP", result.plan.label, steps.len());
//!     assert!(steps.iter().all(|s| s.release < scenario.horizon()));
//! }
//! // The widest model alone needs 4 ms of the 5 ms period: with the background jobs it misses frames;
//! // greedy_slack narrows the model when the slack is short and misses fewer.
//! let misses = |i: usize| results[i].outcome.recorder.steps.iter().filter(|s| s.missed).count();
//! assert!(misses(1) < misses(0), "{} vs {}", misses(1), misses(0));
//! let rows = report::summary_rows(&results[1], &scenario, &report::labels(&scenario, &resources));
//! assert_eq!(rows[0].policy, "greedy_slack");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same as a scenario file (paths relative to the file's folder), an M/M/1 queue checked against
//! theory:
//!
//! ```
//! use flexrnn::{report, runner, scenario::Scenario};
//!
//! let text = "
//! name: mm1
//! seed: 1
//! duration: 20000s
//! node: { cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }
//! processes:
//!   - { name: jobs, kind: poisson, rate: 0.5/s, work: { exponential: { mean: 1GFLOP } } }
//! ";
//! let scenario = Scenario::parse(text, "mm1.yaml", std::path::Path::new("."))?;
//! let resources = runner::load_resources(&scenario)?;
//! let plans = runner::plan_runs(&scenario, &resources)?;
//! let results = runner::execute(&scenario, &resources, &plans, false)?;
//! let rows = report::summary_rows(&results[0], &scenario, &report::labels(&scenario, &resources));
//! // Processor sharing: E[T] = E[S] / (1 − ρ) = 1 s / 0.5 = 2 s.
//! let mean = rows[0].mean_s.unwrap();
//! assert!((mean - 2.0).abs() < 0.2, "{mean}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Ordering guarantees
//!
//! - Time is an integer number of nanoseconds ([`sim::SimTime`]); a job's finishing time is rounded
//!   to the nearest nanosecond in one place, so exact fits stay exact.
//! - **Events at equal times:** at one instant `t`, first the node's completions and round-robin
//!   timers due at `t` (in ascending job id), then every other event at `t` (releases, on/off toggles,
//!   parameter loads, deadline checks) in insertion order. So a job whose work is done at `t` is never
//!   preempted, shared or judged late by something that happens at `t`, and a frame that ends exactly
//!   at its deadline is not missed (`missed` is `end > deadline`).
//! - A run is the half-open interval [0, duration): jobs, frames, switches and trace rows are released
//!   only before it; completions at the end are still handled.
//! - Every process draws from its own PCG-64 stream seeded from the scenario seed and the process's
//!   name ([`workload::process_rng`]), and every study run from the study seed, its grid point and
//!   its replication — all through the one derivation [`seed::derive`]: the same seed gives
//!   byte-identical result files, and runs of the same scenario under different policies see the
//!   same background work (common random numbers).
//! - Runs of a scenario may execute in parallel; each is single-threaded and results are kept in run
//!   order, so the thread count never changes a result.
//!
//! ## Map of the crate
//!
//! In layer order (a module imports only those above it; ARCHITECTURE.md has the rules):
//!
//! - [`sim`]: the kernel (time, event queue, loop) · [`seed`]: the one seed derivation ·
//!   [`input`]: reading user files · [`units`]: quantities with units as written in YAML.
//! - [`node`]: cores, speed, scheduling disciplines, parameter memory · [`metrics`]: records and
//!   recorders · [`data`]: sequence data sets and task ids · [`workload`]: work distributions,
//!   process descriptions and their sources (arrival dynamics).
//! - [`rnn`]: cells, families, step kernels, weight and card files · [`train`]: autodiff training.
//! - [`policy`]: the `Policy` trait, one file per built-in policy, the registry of policy kinds.
//! - [`scenario`]: YAML files and the builder, one validation path · [`engine`]: the edge world
//!   (node + sources + RNN streams + policies).
//! - [`runner`]: resources, run plans, runs · [`report`]: records to CSV and figures ·
//!   [`validate`]: queueing and scheduling theory · [`eval`]: the weighted-average check of a model
//!   folder · [`study`]: policy comparison studies.
//! - [`output`]: the one place that writes files · [`cli`]: the command line (`main_with` for a
//!   binary with policies of its own).
#![warn(missing_docs)]

pub mod cli;
pub mod data;
pub mod engine;
pub mod eval;
pub mod input;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod node;
pub mod output;
pub mod policy;
pub mod profile;
pub mod report;
pub mod rnn;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod sim;
pub mod study;
pub mod train;
pub mod units;
pub mod validate;
pub mod workload;
