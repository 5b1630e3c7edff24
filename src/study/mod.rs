//! Policy comparison studies: a base scenario, axes over its fields and replications
//! ([`spec::Study`]); runs in parallel, each written atomically so that an interrupted study resumes,
//! and split into deterministic shards for batch systems ([`run`]); tables with confidence intervals
//! and paired differences under common random numbers ([`aggregate`]), figures and an HTML report.
//!
//! Seeds: replication `r` at grid point `p` runs with [`spec::Study::run_seed`]`(p, r)`, and every
//! policy at that point and replication runs with the same seed — so they see the same background
//! work (common random numbers) and their paired differences have narrow intervals. Nothing depends
//! on the number of threads or on how the runs were sharded.

pub mod aggregate;
pub mod figures;
pub mod html;
pub mod run;
pub mod spec;
pub mod view;

/// The figures (SVG, PNG and CSV data) and `report.html` of a study view.
fn figures_and_report(
    view: &view::StudyView,
) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>, crate::report::plots::PlotError> {
    let mut files = figures::study_figures(view)?;
    let html = html::html_report(view, &files);
    files.push(("report.html".into(), html.into_bytes()));
    Ok(files)
}
