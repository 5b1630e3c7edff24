//! # flexrnn
//!
//! A discrete-event simulator of an edge node shared by several processes, in which one workload is
//! a recurrent neural network that **really runs** its inference on real sequences and changes its
//! model mid-sequence under a policy's control (the model-switching method of Lambert, Le Bolzer and
//! Schnitzler, "Flexible Recurrent Neural Networks", ECML PKDD 2020).
//!
//! ## A minimal scenario
//!
//! A scenario is YAML; [`scenario::Scenario::parse`] checks it, [`runner`] builds and runs it, and
//! [`report`] turns the records into tables and figures. An M/M/1 processor-sharing queue:
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
//! - Time is an integer number of nanoseconds ([`sim::SimTime`]); events are handled in
//!   `(time, insertion sequence)` order, so events at the same time run first in, first out.
//! - Every process draws from its own PCG-64 stream seeded from the scenario seed and the process's
//!   name ([`workload::process_rng`]): the same seed gives byte-identical result files, and runs of
//!   the same scenario under different policies see the same background work (common random numbers).
//! - Runs of a scenario may execute in parallel; each is single-threaded and results are kept in run
//!   order, so the thread count never changes a result.
//!
//! ## Map of the crate
//!
//! [`sim`] (kernel: time, queue, loop) · [`node`] (processor sharing) · [`workload`] (processes,
//! random streams) · [`engine`] (the edge world: node + workloads + RNN + policies) · [`rnn`] (GRU cell,
//! kernels, banks, weight files) · [`policy`] (one file per built-in policy, the registry of policy
//! kinds) · [`scenario`] (YAML) · [`units`] · [`runner`] · [`metrics`] · [`report`] (CSV, figures) ·
//! [`train`] (autodiff training, state maps) · [`validate`] (queueing and scheduling theory, confidence
//! intervals) · [`data`] · [`output`] · [`cli`] (the command line; `main_with` for a binary with
//! policies of its own).
#![warn(missing_docs)]

pub mod cli;
pub mod data;
pub mod engine;
pub mod eval;
pub mod input;
pub mod metrics;
pub mod node;
pub mod output;
pub mod policy;
pub mod report;
pub mod rnn;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod study;
pub mod train;
pub mod units;
pub mod validate;
pub mod workload;
