//! Checking simulated results against theory.
//!
//! [`theory`] holds pure closed-form results (M/M/1, M/M/c, M/G/1 FIFO and processor sharing,
//! preemptive priority, Liu–Layland and EDF utilisation tests) and the confidence intervals (batch
//! means, Student t) needed to compare a simulation's estimates with them. It knows nothing of the
//! simulator's types. [`suite`] is `flexrnn validate`: scenarios with known answers run through the
//! ordinary YAML → runner path and compared with [`theory`].

pub mod suite;
pub mod theory;
