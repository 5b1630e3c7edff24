//! Policy comparison studies: a base scenario, axes over its fields, replications; runs in
//! parallel, resumable and shardable; tables with confidence intervals, figures and an HTML report.

pub mod figures;
pub mod html;
pub mod view;
