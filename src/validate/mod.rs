//! Validation against queueing and scheduling theory.

pub mod suite;
pub mod theory;
