//! flexrnn: a discrete-event simulator of a shared edge node running flexible recurrent networks.
#![warn(missing_docs)]

pub mod data;
pub mod node;
pub mod output;
pub mod rnn;
pub mod sim;
pub mod train;
