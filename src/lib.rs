//! flexrnn: a discrete-event simulator of a shared edge node running flexible recurrent networks.
#![warn(missing_docs)]

pub mod data;
pub mod engine;
pub mod metrics;
pub mod node;
pub mod output;
pub mod policy;
pub mod report;
pub mod rnn;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod train;
pub mod workload;
