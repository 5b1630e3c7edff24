//! `flexrnn validate`: scenarios with known answers, run through the same YAML → runner path as any
//! user scenario, compared with queueing and scheduling theory ([`super::theory`]).
//!
//! Each case reports the theory, the measured value, a 95 % confidence interval (batch means over 30
//! consecutive batches of response times, so correlation between successive jobs is accounted for)
//! and the relative error, and passes when the error is within its tolerance. Full lengths are sized
//! so that every stochastic case is within 1 % in a release build; `Length::Quick` runs about 1/20 of
//! that with tolerances that still catch a wrong formula (for tests).

use std::path::Path;

use rayon::prelude::*;

use super::theory;
use crate::metrics::MemoryRecorder;
use crate::runner::{self, RunResult};
use crate::scenario::Scenario;

/// How long to run the stochastic cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Full length: every case within 1 %.
    Full,
    /// About 1/20 of the full length, with wider tolerances (for tests).
    Quick,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// What is compared (units).
    pub quantity: String,
    /// The value theory predicts.
    pub theory: f64,
    /// The simulated value.
    pub measured: f64,
    /// Half width of the 95 % confidence interval of `measured` (0 for deterministic cases).
    pub ci_half_width: f64,
    /// `|measured − theory| / |theory|` (absolute error when theory is 0).
    pub error: f64,
    /// Largest allowed `error`.
    pub tolerance: f64,
    /// Whether `error ≤ tolerance`.
    pub pass: bool,
}

/// Errors while running a case (a bug in a case's scenario text, reported rather than panicking).
#[derive(Debug, thiserror::Error)]
#[error("validation case `{case}`: {message}")]
pub struct CaseError {
    /// Case name.
    pub case: String,
    /// What failed.
    pub message: String,
}

fn run(case: &str, text: &str) -> Result<RunResult, CaseError> {
    let fail = |message: String| CaseError { case: case.to_string(), message };
    let scenario =
        Scenario::parse(text, &format!("<validate:{case}>"), Path::new(".")).map_err(|e| fail(e.to_string()))?;
    let resources = runner::load_resources(&scenario).map_err(|e| fail(e.to_string()))?;
    let plans = runner::plan_runs(&scenario, &resources).map_err(|e| fail(e.to_string()))?;
    let mut results = runner::execute(&scenario, &resources, &plans, false).map_err(|e| fail(e.to_string()))?;
    Ok(results.remove(0))
}

/// Response times (s) of process `process`'s finished jobs, in completion order.
fn responses(records: &MemoryRecorder, process: usize) -> Vec<f64> {
    records
        .jobs
        .iter()
        .filter(|j| j.process == process)
        .map(|j| j.end.saturating_sub(j.release).as_secs_f64())
        .collect()
}

fn stochastic(name: &str, quantity: &str, theory: f64, values: &[f64], tolerance: f64) -> CaseResult {
    let ci = theory::batch_means_ci(values, 30, 0.95);
    let measured = ci.map_or(f64::NAN, |c| c.mean);
    let error = ((measured - theory) / theory).abs();
    CaseResult {
        name: name.into(),
        quantity: quantity.into(),
        theory,
        measured,
        ci_half_width: ci.map_or(f64::NAN, |c| c.half_width),
        error,
        tolerance,
        pass: error <= tolerance,
    }
}

fn exact(name: &str, quantity: &str, theory: f64, measured: f64, tolerance: f64) -> CaseResult {
    let error = if theory == 0.0 { measured.abs() } else { ((measured - theory) / theory).abs() };
    CaseResult {
        name: name.into(),
        quantity: quantity.into(),
        theory,
        measured,
        ci_half_width: 0.0,
        error,
        tolerance,
        pass: error <= tolerance,
    }
}

fn header(name: &str, seed: u64, duration: f64, cores: usize, scheduler: &str) -> String {
    format!("name: {name}\nseed: {seed}\nduration: {duration}s\nnode:\n  cores: {cores}\n  speed: 1GFLOP/s\n  scheduler: {scheduler}\nprocesses:\n")
}

fn poisson(name: &str, rate: f64, work: &str, extra: &str) -> String {
    format!("  - name: {name}\n    kind: poisson\n    rate: {rate}/s\n    work: {work}\n{extra}")
}

fn periodic(name: &str, period_ms: f64, work_mflop: f64, phase_ms: f64, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: periodic\n    period: {period_ms}ms\n    phase: {phase_ms}ms\n    work: {{ constant: {work_mflop}MFLOP }}\n{extra}"
    )
}

type CaseFn = fn(f64, f64) -> Result<Vec<CaseResult>, CaseError>;

/// The cases: name, and a function of (length factor, tolerance) returning one or more results.
fn cases() -> Vec<(&'static str, CaseFn)> {
    vec![
        ("mm1_fifo", |scale, tol| {
            // M/M/1 FIFO, λ = 0.7, μ = 1: E[T] = 1/(μ − λ) = 3.333 s.
            let text = header("mm1", 11, 4e6 * scale, 1, "fifo")
                + &poisson("jobs", 0.7, "{ exponential: { mean: 1GFLOP } }", "");
            let r = run("mm1_fifo", &text)?;
            let t = theory::mm1_response(0.7, 1.0).expect("stable");
            Ok(vec![stochastic(
                "M/M/1 FIFO (λ=0.7, μ=1)",
                "mean response (s)",
                t,
                &responses(&r.outcome.recorder, 0),
                tol,
            )])
        }),
        ("mmc_fifo", |scale, tol| {
            // M/M/2 FIFO, λ = 1.4, μ = 1 (ρ = 0.7): Erlang C.
            let text = header("mmc", 12, 3e6 * scale, 2, "fifo")
                + &poisson("jobs", 1.4, "{ exponential: { mean: 1GFLOP } }", "");
            let r = run("mmc_fifo", &text)?;
            let t = theory::mmc_response(1.4, 1.0, 2).expect("stable");
            Ok(vec![stochastic(
                "M/M/2 FIFO (λ=1.4, μ=1, Erlang C)",
                "mean response (s)",
                t,
                &responses(&r.outcome.recorder, 0),
                tol,
            )])
        }),
        ("md1_fifo", |scale, tol| {
            // M/D/1, λ = 0.7, S = 1: Pollaczek–Khinchine.
            let text = header("md1", 13, 4e6 * scale, 1, "fifo") + &poisson("jobs", 0.7, "{ constant: 1GFLOP }", "");
            let r = run("md1_fifo", &text)?;
            let t = theory::mg1_fifo_response(0.7, 1.0, theory::deterministic_second_moment(1.0)).expect("stable");
            Ok(vec![stochastic(
                "M/D/1 FIFO (λ=0.7, S=1, P-K)",
                "mean response (s)",
                t,
                &responses(&r.outcome.recorder, 0),
                tol,
            )])
        }),
        ("mg1_lognormal", |scale, tol| {
            // M/G/1 with log-normal service, mean 1, cv 1.5, λ = 0.5: P-K.
            let text = header("mg1", 14, 8e6 * scale, 1, "fifo")
                + &poisson("jobs", 0.5, "{ lognormal: { mean: 1GFLOP, cv: 1.5 } }", "");
            let r = run("mg1_lognormal", &text)?;
            let t = theory::mg1_fifo_response(0.5, 1.0, theory::lognormal_second_moment(1.0, 1.5)).expect("stable");
            Ok(vec![stochastic(
                "M/G/1 FIFO lognormal (λ=0.5, cv=1.5, P-K)",
                "mean response (s)",
                t,
                &responses(&r.outcome.recorder, 0),
                tol,
            )])
        }),
        ("mm1_ps", |scale, tol| {
            // M/M/1 processor sharing, λ = 0.7: E[S]/(1 − ρ).
            let text = header("mm1ps", 15, 4e6 * scale, 1, "processor_sharing")
                + &poisson("jobs", 0.7, "{ exponential: { mean: 1GFLOP } }", "");
            let r = run("mm1_ps", &text)?;
            let t = theory::mg1_ps_response(0.7, 1.0).expect("stable");
            Ok(vec![stochastic("M/M/1 PS (λ=0.7)", "mean response (s)", t, &responses(&r.outcome.recorder, 0), tol)])
        }),
        ("priority_classes", |scale, tol| {
            // M/M/1 with two preemptive priority classes, λ = 0.35 each, μ = 1.
            let text = header("prio", 16, 4e6 * scale, 1, "fixed_priority")
                + &poisson("high", 0.35, "{ exponential: { mean: 1GFLOP } }", "    priority: 0\n")
                + &poisson("low", 0.35, "{ exponential: { mean: 1GFLOP } }", "    priority: 1\n");
            let r = run("priority_classes", &text)?;
            let t = theory::mm1_preemptive_priority_responses(&[0.35, 0.35], &[1.0, 1.0]);
            Ok(vec![
                stochastic(
                    "M/M/1 preemptive priority, high class",
                    "mean response (s)",
                    t[0].expect("stable"),
                    &responses(&r.outcome.recorder, 0),
                    tol,
                ),
                stochastic(
                    "M/M/1 preemptive priority, low class",
                    "mean response (s)",
                    t[1].expect("stable"),
                    &responses(&r.outcome.recorder, 1),
                    tol,
                ),
            ])
        }),
        ("littles_law", |scale, tol| {
            // Little's law L = λW on an M/M/2 with two weighted processor-sharing classes and
            // log-normal work: L from the time-average number in system, λ and W from the jobs.
            let duration = 2e6 * scale;
            let text = header("little", 17, duration, 2, "processor_sharing")
                + &poisson("a", 0.6, "{ lognormal: { mean: 1GFLOP, cv: 2 } }", "    weight: 3\n")
                + &poisson("b", 0.8, "{ exponential: { mean: 1GFLOP } }", "");
            let r = run("littles_law", &text)?;
            let node = r.outcome.node();
            let l = (node.jobs_time_integral(0) + node.jobs_time_integral(1)) / duration;
            let jobs = &r.outcome.recorder.jobs;
            let lambda = jobs.len() as f64 / duration;
            let w = jobs.iter().map(|j| j.end.saturating_sub(j.release).as_secs_f64()).sum::<f64>() / jobs.len() as f64;
            Ok(vec![exact("Little's law, 2 weighted PS classes on 2 cores", "L vs λW (jobs)", lambda * w, l, tol)])
        }),
        ("round_robin_to_ps", |scale, tol| {
            // Round robin with a quantum of 1 % of the mean service approaches processor sharing.
            let text = header("rr", 18, 4e5 * scale, 1, "{ round_robin: { quantum: 10ms } }")
                + &poisson("jobs", 0.5, "{ exponential: { mean: 1GFLOP } }", "");
            let r = run("round_robin_to_ps", &text)?;
            let t = theory::mg1_ps_response(0.5, 1.0).expect("stable");
            Ok(vec![stochastic(
                "M/M/1 round robin, quantum 10 ms ≈ PS (λ=0.5)",
                "mean response (s)",
                t,
                &responses(&r.outcome.recorder, 0),
                tol.max(0.01),
            )])
        }),
        ("edf_feasible", |scale, _| {
            // Three periodic tasks with implicit deadlines, U = 2/10 + 3/15 + 11/20 = 0.95 ≤ 1: EDF misses none.
            let text = header("edf1", 19, (2e4 * scale).max(60.0), 1, "edf")
                + &periodic("t1", 10.0, 2.0, 0.0, "")
                + &periodic("t2", 15.0, 3.0, 0.0, "")
                + &periodic("t3", 20.0, 11.0, 0.0, "");
            let r = run("edf_feasible", &text)?;
            let missed = r.outcome.recorder.jobs.iter().filter(|j| j.deadline.is_some_and(|d| j.end > d)).count();
            Ok(vec![exact("EDF, periodic tasks, U = 0.95", "deadline misses", 0.0, missed as f64, 0.0)])
        }),
        ("edf_overload", |_, _| {
            // The same tasks with t3 at 15 MFLOP: U = 1.15 > 1, so deadlines are missed. (Short: the
            // backlog grows without bound.)
            let text = header("edf2", 20, 60.0, 1, "edf")
                + &periodic("t1", 10.0, 2.0, 0.0, "")
                + &periodic("t2", 15.0, 3.0, 0.0, "")
                + &periodic("t3", 20.0, 15.0, 0.0, "");
            let r = run("edf_overload", &text)?;
            let jobs = &r.outcome.recorder.jobs;
            let missed = jobs.iter().filter(|j| j.deadline.is_some_and(|d| j.end > d)).count();
            let share = missed as f64 / jobs.len().max(1) as f64;
            // Theory says "some"; the case passes when the miss share is positive.
            Ok(vec![CaseResult {
                name: "EDF, periodic tasks, U = 1.15".into(),
                quantity: "share of jobs missing (> 0)".into(),
                theory: f64::NAN,
                measured: share,
                ci_half_width: 0.0,
                error: 0.0,
                tolerance: 0.0,
                pass: share > 0.0,
            }])
        }),
        ("rate_monotonic", |scale, _| {
            // Rate-monotonic priorities (shorter period first), U = 0.2 + 0.2 + 0.35 = 0.75 below the
            // Liu–Layland bound for 3 tasks (0.7798): no misses.
            let bound = theory::liu_layland_bound(3).expect("n ≥ 1");
            debug_assert!(0.75 < bound, "the task set must be below the bound");
            let text = header("rm", 21, (2e4 * scale).max(60.0), 1, "fixed_priority")
                + &periodic("t1", 10.0, 2.0, 0.0, "    priority: 0\n")
                + &periodic("t2", 15.0, 3.0, 0.0, "    priority: 1\n")
                + &periodic("t3", 20.0, 7.0, 0.0, "    priority: 2\n");
            let r = run("rate_monotonic", &text)?;
            let missed = r.outcome.recorder.jobs.iter().filter(|j| j.deadline.is_some_and(|d| j.end > d)).count();
            Ok(vec![exact("Rate monotonic, U = 0.75 < Liu–Layland 0.780", "deadline misses", 0.0, missed as f64, 0.0)])
        }),
        ("worked_priority_2_cores", |_, _| {
            // 2 cores, preemptive priority: low 10 units at t=0, two high 3 units at t=1 → 4, 4, 13.
            let one = |name: &str, phase_s: f64, gflop: f64, priority: u32| {
                format!("  - name: {name}\n    kind: periodic\n    period: 1000s\n    phase: {phase_s}s\n    work: {{ constant: {gflop}GFLOP }}\n    priority: {priority}\n")
            };
            let text = header("worked", 1, 20.0, 2, "fixed_priority")
                + &one("low", 0.0, 10.0, 1)
                + &one("high-a", 1.0, 3.0, 0)
                + &one("high-b", 1.0, 3.0, 0);
            let r = run("worked_priority_2_cores", &text)?;
            let end = |p: usize| {
                r.outcome.recorder.jobs.iter().find(|j| j.process == p).map_or(f64::NAN, |j| j.end.as_secs_f64())
            };
            Ok(vec![
                exact("worked case: low job, 2 cores, preemptive priority", "end (s)", 13.0, end(0), 0.0),
                exact("worked case: high job a", "end (s)", 4.0, end(1), 0.0),
                exact("worked case: high job b", "end (s)", 4.0, end(2), 0.0),
            ])
        }),
        ("worked_ps_tiny_huge", |_, _| {
            // One PS core: a job of 1e6 units and one of 1e-7 units at t=0 end at 2e-7 and 1e6 + 1e-7.
            let one = |name: &str, work: &str| {
                format!(
                    "  - name: {name}\n    kind: periodic\n    period: 3000000s\n    work: {{ constant: {work} }}\n"
                )
            };
            let text = header("tiny", 1, 1_000_001.0, 1, "processor_sharing")
                .replace("speed: 1GFLOP/s", "speed: 1FLOP/s")
                + &one("huge", "1000000FLOP")
                + &one("tiny", "0.0000001FLOP");
            let r = run("worked_ps_tiny_huge", &text)?;
            let end = |p: usize| {
                r.outcome.recorder.jobs.iter().find(|j| j.process == p).map_or(f64::NAN, |j| j.end.as_secs_f64())
            };
            Ok(vec![
                exact("worked case: tiny job under PS", "end (s)", 2e-7, end(1), 1e-12),
                exact("worked case: huge job under PS", "end (s)", 1e6 + 1e-7, end(0), 1e-15),
            ])
        }),
    ]
}

/// Runs every case (in parallel with rayon when `parallel`; results in case order either way).
///
/// # Errors
/// [`CaseError`] if a case's scenario cannot be run (a bug in the suite).
pub fn run_suite(length: Length, parallel: bool) -> Result<Vec<CaseResult>, CaseError> {
    let (scale, tolerance) = match length {
        Length::Full => (1.0, 0.01),
        Length::Quick => (0.05, 0.05),
    };
    let all = cases();
    let outcomes: Vec<Result<Vec<CaseResult>, CaseError>> = if parallel {
        all.par_iter().map(|(_, f)| f(scale, tolerance)).collect()
    } else {
        all.iter().map(|(_, f)| f(scale, tolerance)).collect()
    };
    let mut results = Vec::new();
    for outcome in outcomes {
        results.extend(outcome?);
    }
    Ok(results)
}

/// The results as a Markdown table. Stochastic cases show 6 decimals and their 95 % interval;
/// deterministic ones show values in full (shortest exact form); errors and tolerances are relative.
pub fn table(results: &[CaseResult]) -> String {
    let mut out = String::from(
        "| case | quantity | theory | measured | 95% CI ± | rel. error | tolerance | pass |\n|---|---|---:|---:|---:|---:|---:|:---:|\n",
    );
    for r in results {
        let stochastic = r.ci_half_width > 0.0;
        let value = |v: f64| if stochastic { format!("{v:.6}") } else { format!("{v}") };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.quantity,
            if r.theory.is_nan() { "> 0".to_string() } else { value(r.theory) },
            value(r.measured),
            if stochastic { format!("{:.4}", r.ci_half_width) } else { "–".into() },
            if r.theory.is_nan() { "–".to_string() } else { format!("{:.2e}", r.error) },
            match r.tolerance {
                _ if r.theory.is_nan() => "–".to_string(),
                t if t > 0.0 && t < 1e-3 => format!("{t:e}"),
                t => format!("{t}"),
            },
            if r.pass { "yes" } else { "**NO**" }
        ));
    }
    out
}
