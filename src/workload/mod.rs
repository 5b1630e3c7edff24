//! Workload descriptions: work distributions, background processes, RNN streams, and the random
//! number streams they draw from; [`source`]: each background process's arrival dynamics as a
//! [`Source`] that owns its state and its random stream.

use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal, Pareto, Uniform, Weibull};
use rand_pcg::Pcg64;

use crate::sim::SimTime;

mod files;
pub mod profile;
pub mod source;

pub use files::{
    parse_empirical_csv, parse_jobs_trace_csv, parse_utilisation_trace_csv, SamplesFileError, TraceJob,
    UtilisationSample, JOBS_TRACE_HEADER, TRACE_MAX_TIME, UTILISATION_TRACE_HEADER,
};
pub use source::{Change, Changed, Released, Source, SourceEvent};

/// The generator every process uses: PCG-64 (`rand_pcg::Pcg64`, XSL-RR 128/64), whose output is
/// fixed by its specification, unlike `StdRng`.
pub type ProcessRng = Pcg64;

/// The random stream of the process called `process_name` in a run with scenario seed `seed`:
/// `Pcg64::seed_from_u64(`[`crate::seed::derive`]`(seed, process_name))`. It depends only on the
/// seed and the process's name, so adding a process or changing a policy leaves the others' draws
/// unchanged (common random numbers).
pub fn process_rng(seed: u64, process_name: &str) -> ProcessRng {
    Pcg64::seed_from_u64(crate::seed::derive(seed, process_name))
}

/// Errors in workload parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParameterError(pub String);

/// The lowest `mean / sd` a [`WorkDistribution::TruncatedNormal`] may have. Truncation is done by
/// rejection, which needs `1 / Φ(mean / sd)` draws per sample on average: 2 at mean 0, 741 at −3 sd,
/// but 3.5 million at −5 sd, which would stall a run.
pub const TRUNCATED_NORMAL_MIN_MEAN_IN_SD: f64 = -3.0;

/// Distribution of a job's work, in FLOPs.
///
/// [`WorkDistribution::mean`] is the mean of the work actually drawn (for the truncated normal, the
/// shifted mean); [`WorkDistribution::sampler`] checks the parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkDistribution {
    /// Always `value`.
    Constant(f64),
    /// Exponential with the given mean.
    Exponential {
        /// Mean, FLOPs.
        mean: f64,
    },
    /// Log-normal with the given mean and coefficient of variation `cv = sd / mean`; converted to the
    /// parameters of the logarithm as `σ² = ln(1 + cv²)`, `μ = ln(mean) − σ²/2`.
    LogNormal {
        /// Mean, FLOPs.
        mean: f64,
        /// Coefficient of variation.
        cv: f64,
    },
    /// Gamma with the given mean and coefficient of variation `cv = sd / mean`; converted to shape
    /// `k = 1/cv²` and scale `θ = mean·cv²` (mean `kθ`, sd `√k·θ`). `cv = 1` is the exponential.
    Gamma {
        /// Mean, FLOPs.
        mean: f64,
        /// Coefficient of variation.
        cv: f64,
    },
    /// Weibull with scale λ and shape k: `P(X > x) = exp(−(x/λ)^k)`; mean `λ·Γ(1 + 1/k)`, coefficient
    /// of variation `√(Γ(1 + 2/k) / Γ(1 + 1/k)² − 1)`. Γ comes from `statrs::function::gamma::gamma`.
    /// k = 1 is the exponential, k < 1 has a heavier tail, k > 1 a lighter one.
    Weibull {
        /// Scale λ, FLOPs.
        scale: f64,
        /// Shape k.
        shape: f64,
    },
    /// Pareto type I with scale x_m and shape α: `P(X > x) = (x_m / x)^α` for `x ≥ x_m` (no work below
    /// x_m); mean `α·x_m / (α − 1)`, which exists only for α > 1 (required). The variance exists only
    /// for α > 2; then `cv = 1 / √(α(α − 2))`.
    Pareto {
        /// Scale x_m, the smallest work, FLOPs.
        scale: f64,
        /// Shape α (tail index).
        shape: f64,
    },
    /// Uniform between `min` and `max`: mean `(min + max)/2`, sd `(max − min)/√12`.
    Uniform {
        /// Smallest work, FLOPs (≥ 0).
        min: f64,
        /// Largest work, FLOPs (> min).
        max: f64,
    },
    /// A normal N(mean, sd²) truncated to positive work by rejection: draws ≤ 0 are drawn again.
    ///
    /// Truncation raises the mean. With `α = mean / sd` and φ, Φ the standard normal density and
    /// distribution function, the work has mean `mean + sd·φ(α)/Φ(α)` (e.g. 1.2876 for mean 1, sd 1;
    /// `sd·√(2/π)` for mean 0) and variance `sd²·(1 − α·λ − λ²)` with `λ = φ(α)/Φ(α)`.
    /// [`WorkDistribution::mean`] returns the shifted mean (φ and Φ from `statrs::distribution::Normal`). `mean` may be
    /// zero or negative, down to [`TRUNCATED_NORMAL_MIN_MEAN_IN_SD`] sd.
    TruncatedNormal {
        /// Mean of the normal before truncation, FLOPs.
        mean: f64,
        /// Standard deviation of the normal before truncation, FLOPs (> 0).
        sd: f64,
    },
    /// Drawn uniformly at random, with replacement, from `samples` (e.g. measured job sizes): mean and
    /// coefficient of variation are those of the samples.
    Empirical {
        /// Where the samples came from (for messages; a scenario resolves it against its folder).
        file: PathBuf,
        /// The samples, FLOPs (finite, ≥ 0, at least one positive).
        samples: Arc<[f64]>,
    },
}

/// A work distribution ready to sample.
#[derive(Debug, Clone)]
pub enum WorkSampler {
    /// Always this value.
    Constant(f64),
    /// `rand_distr::Exp`.
    Exponential(Exp<f64>),
    /// `rand_distr::LogNormal`.
    LogNormal(LogNormal<f64>),
    /// `rand_distr::Gamma` (shape, scale).
    Gamma(Gamma<f64>),
    /// `rand_distr::Weibull` (scale, shape).
    Weibull(Weibull<f64>),
    /// `rand_distr::Pareto` (scale, shape).
    Pareto(Pareto<f64>),
    /// `rand_distr::Uniform` over [min, max).
    Uniform(Uniform<f64>),
    /// `rand_distr::Normal`, drawn again until positive.
    TruncatedNormal(Normal<f64>),
    /// A sample picked by a `rand_distr::Uniform` index.
    Empirical {
        /// The samples.
        samples: Arc<[f64]>,
        /// Uniform over `0..samples.len()`.
        index: Uniform<usize>,
    },
}

impl WorkDistribution {
    /// Mean work, FLOPs: for the truncated normal the mean after truncation, `mean + sd·φ(α)/Φ(α)`;
    /// for Pareto with α ≤ 1 (invalid) `+∞`; for empirical work without samples (invalid) NaN.
    pub fn mean(&self) -> f64 {
        match self {
            WorkDistribution::Constant(value) => *value,
            WorkDistribution::Exponential { mean }
            | WorkDistribution::LogNormal { mean, .. }
            | WorkDistribution::Gamma { mean, .. } => *mean,
            WorkDistribution::Weibull { scale, shape } => scale * statrs::function::gamma::gamma(1.0 + 1.0 / shape),
            WorkDistribution::Pareto { scale, shape } if *shape > 1.0 => shape * scale / (shape - 1.0),
            WorkDistribution::Pareto { .. } => f64::INFINITY,
            WorkDistribution::Uniform { min, max } => (min + max) / 2.0,
            WorkDistribution::TruncatedNormal { mean, sd } => {
                let alpha = mean / sd;
                mean + sd * standard_normal_pdf(alpha) / standard_normal_cdf(alpha)
            }
            WorkDistribution::Empirical { samples, .. } => samples.iter().sum::<f64>() / samples.len() as f64,
        }
    }

    /// Checks the parameters and builds the sampler.
    ///
    /// # Errors
    /// [`ParameterError`] naming the distribution, the parameter and what is allowed: a mean, value or
    /// scale that is not positive and finite, `cv ≤ 0`, `shape ≤ 0`, a Pareto shape α ≤ 1 (no mean), a
    /// uniform `min` < 0 or ≥ `max`, a normal `sd ≤ 0` or `mean` below −3 sd, empirical samples that
    /// are missing, negative, not finite or all zero.
    pub fn sampler(&self) -> Result<WorkSampler, ParameterError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ParameterError(format!("{name} must be positive and finite, got {v}")))
            }
        };
        let built = |what: &str, e: &dyn std::fmt::Display| ParameterError(format!("{what}: {e}"));
        match self {
            WorkDistribution::Constant(value) => {
                positive("constant work", *value)?;
                Ok(WorkSampler::Constant(*value))
            }
            WorkDistribution::Exponential { mean } => {
                positive("exponential mean", *mean)?;
                Ok(WorkSampler::Exponential(Exp::new(1.0 / mean).map_err(|e| built("exponential", &e))?))
            }
            WorkDistribution::LogNormal { mean, cv } => {
                positive("lognormal mean", *mean)?;
                positive("lognormal cv", *cv)?;
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                Ok(WorkSampler::LogNormal(LogNormal::new(mu, sigma2.sqrt()).map_err(|e| built("lognormal", &e))?))
            }
            WorkDistribution::Gamma { mean, cv } => {
                positive("gamma mean", *mean)?;
                positive("gamma cv", *cv)?;
                let (shape, scale) = (1.0 / (cv * cv), mean * cv * cv);
                if !(shape.is_finite() && shape > 0.0 && scale.is_finite() && scale > 0.0) {
                    return Err(ParameterError(format!(
                        "gamma cv {cv:e} is out of range: the shape 1/cv² ({shape:e}) and the scale mean·cv² ({scale:e}) must be positive and finite"
                    )));
                }
                Ok(WorkSampler::Gamma(Gamma::new(shape, scale).map_err(|e| built("gamma", &e))?))
            }
            WorkDistribution::Weibull { scale, shape } => {
                positive("weibull scale", *scale)?;
                positive("weibull shape", *shape)?;
                if !self.mean().is_finite() {
                    return Err(ParameterError(format!(
                        "weibull shape {shape} is too small: the mean scale·Γ(1 + 1/shape) is not a finite number"
                    )));
                }
                Ok(WorkSampler::Weibull(Weibull::new(*scale, *shape).map_err(|e| built("weibull", &e))?))
            }
            WorkDistribution::Pareto { scale, shape } => {
                positive("pareto scale (the smallest work, x_m)", *scale)?;
                if !(shape.is_finite() && *shape > 1.0) {
                    return Err(ParameterError(format!(
                        "pareto shape (α) must be a finite number greater than 1, got {shape}: the mean α·scale/(α − 1) exists only for α > 1"
                    )));
                }
                Ok(WorkSampler::Pareto(Pareto::new(*scale, *shape).map_err(|e| built("pareto", &e))?))
            }
            WorkDistribution::Uniform { min, max } => {
                if !(min.is_finite() && *min >= 0.0) {
                    return Err(ParameterError(format!("uniform min must be a finite number ≥ 0, got {min}")));
                }
                if !(max.is_finite() && max > min) {
                    return Err(ParameterError(format!(
                        "uniform max must be finite and greater than min, got min {min} and max {max}"
                    )));
                }
                Ok(WorkSampler::Uniform(Uniform::new(*min, *max).map_err(|e| built("uniform", &e))?))
            }
            WorkDistribution::TruncatedNormal { mean, sd } => {
                positive("normal sd", *sd)?;
                if !mean.is_finite() {
                    return Err(ParameterError(format!("normal mean must be finite, got {mean}")));
                }
                if mean / sd < TRUNCATED_NORMAL_MIN_MEAN_IN_SD {
                    return Err(ParameterError(format!(
                        "normal mean {mean} is more than 3 sd ({sd}) below zero: fewer than 1 draw in 741 would be positive, so truncating at zero by rejection would take too long (allowed: mean ≥ −3·sd; a normal that far below zero, truncated at 0, is close to an exponential of mean sd²/|mean|)"
                    )));
                }
                Ok(WorkSampler::TruncatedNormal(Normal::new(*mean, *sd).map_err(|e| built("normal", &e))?))
            }
            WorkDistribution::Empirical { file, samples } => {
                let file = file.display();
                if samples.is_empty() {
                    return Err(ParameterError(format!(
                        "empirical samples of `{file}`: none (at least one is needed)"
                    )));
                }
                if let Some((i, v)) = samples.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                    return Err(ParameterError(format!(
                        "empirical sample {} of `{file}` is {v}; samples must be finite and ≥ 0",
                        i + 1
                    )));
                }
                if samples.iter().all(|v| *v == 0.0) {
                    return Err(ParameterError(format!(
                        "empirical samples of `{file}` are all 0; at least one must be positive"
                    )));
                }
                Ok(WorkSampler::Empirical {
                    samples: Arc::clone(samples),
                    index: Uniform::new(0, samples.len()).map_err(|e| built("empirical", &e))?,
                })
            }
        }
    }
}

impl WorkSampler {
    /// One draw, FLOPs.
    pub fn sample(&self, rng: &mut ProcessRng) -> f64 {
        match self {
            WorkSampler::Constant(value) => *value,
            WorkSampler::Exponential(d) => d.sample(rng),
            WorkSampler::LogNormal(d) => d.sample(rng),
            WorkSampler::Gamma(d) => d.sample(rng),
            WorkSampler::Weibull(d) => d.sample(rng),
            WorkSampler::Pareto(d) => d.sample(rng),
            WorkSampler::Uniform(d) => d.sample(rng),
            // Ends with probability 1: the parameters allow at least Φ(−3) ≈ 1/741 of draws to be positive.
            WorkSampler::TruncatedNormal(d) => loop {
                let x = d.sample(rng);
                if x > 0.0 {
                    break x;
                }
            },
            WorkSampler::Empirical { samples, index } => samples[index.sample(rng)],
        }
    }
}

/// CPU-utilisation samples, as published by data-centre traces, turned into CPU demand.
///
/// Sample `i` covers the interval `[t_i, t_{i+1})`; the last one covers `[t_{n−1}, t_{n−1} + d)`, `d`
/// the median interval between samples (the mean of the two middle intervals for an even number,
/// rounded down to the nanosecond), which ends the trace at [`UtilisationTrace::end`].
///
/// Within interval `i`, a chunk of work is released every `chunk` (at `t_i`, `t_i + chunk`, …; the last
/// chunk of an interval is shortened to end at `t_{i+1}`). A chunk of length `ℓ` carries
/// `u_i × cores × speed × ℓ` FLOPs, split equally among `m_i = ⌈u_i × cores⌉` jobs released together
/// (a job runs on at most one core, so `m_i` is the fewest jobs that can use `u_i × cores` cores).
/// Alone on the node, each job runs on its own core for `u_i × cores / m_i ≤ 1` of the chunk, so the
/// process keeps `u_i × cores` cores busy on average: it asks for the share `u_i` of the node's
/// capacity, and over the interval its work is exactly `u_i × cores × speed × (t_{i+1} − t_i)`. Intervals with `u_i = 0` release nothing.
///
/// Limits: this is demand, not a reservation. Under processor sharing (or any other discipline) the
/// chunks are served at whatever share the node gives them; when other work competes, what is not
/// served within a chunk queues and is served later, so the busy time the process gets matches `u_i`
/// only when the node has room. Within an interval the demand is flat: the burstiness that the trace
/// averaged away is not recovered. The trace's utilisation is a share of the machine it was measured
/// on; replayed, it becomes the same share of this node, whatever its speed.
#[derive(Debug, Clone, PartialEq)]
pub struct UtilisationTrace {
    /// The samples, in increasing start time.
    pub samples: Arc<[UtilisationSample]>,
    /// End of the last sample's interval.
    pub end: SimTime,
}

/// What a utilisation trace releases at one chunk's release time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UtilisationChunk {
    /// Jobs released together, `⌈u × cores⌉` (0 when nothing is due).
    pub jobs: usize,
    /// Work of each job, FLOPs.
    pub work_per_job: f64,
    /// The next chunk's release time, if the trace has one.
    pub next: Option<SimTime>,
}

/// Jobs that share the work of one chunk at utilisation `utilisation` on `cores` cores: `⌈u × cores⌉`
/// (a tolerance of 1e-9 keeps `0.5 × 2` at 1 despite rounding), at least 1 when `u > 0`.
pub fn jobs_per_chunk(utilisation: f64, cores: usize) -> usize {
    if utilisation > 0.0 {
        ((utilisation * cores as f64 - 1e-9).ceil() as usize).clamp(1, cores.max(1))
    } else {
        0
    }
}

impl UtilisationTrace {
    /// End of sample `index`'s interval.
    fn interval_end(&self, index: usize) -> SimTime {
        self.samples.get(index + 1).map_or(self.end, |s| s.start)
    }

    /// Start of the first interval at or after sample `index` whose utilisation is positive.
    fn next_busy_start(&self, index: usize) -> Option<SimTime> {
        self.samples.get(index..)?.iter().find(|s| s.utilisation > 0.0).map(|s| s.start)
    }

    /// The first release time (the start of the first interval with positive utilisation).
    pub fn first_release(&self) -> Option<SimTime> {
        self.next_busy_start(0)
    }

    /// The chunk released at `now` (a release time: the start of an interval or a chunk after it) on a
    /// node of `cores` cores of `core_speed` FLOP/s, and the next release. Allocates nothing.
    pub fn chunk_at(&self, now: SimTime, chunk: SimTime, cores: usize, core_speed: f64) -> UtilisationChunk {
        let index = self.samples.partition_point(|s| s.start <= now);
        let none = UtilisationChunk { jobs: 0, work_per_job: 0.0, next: None };
        if index == 0 {
            return UtilisationChunk { next: self.first_release(), ..none };
        }
        let index = index - 1;
        let end = self.interval_end(index);
        if now >= end {
            return none;
        }
        let utilisation = self.samples[index].utilisation;
        let chunk_end = now.saturating_add(chunk).min(end);
        let next = if chunk_end < end { Some(chunk_end) } else { self.next_busy_start(index + 1) };
        let jobs = jobs_per_chunk(utilisation, cores);
        if jobs == 0 {
            return UtilisationChunk { next, ..none };
        }
        let work = utilisation * cores as f64 * core_speed * chunk_end.saturating_sub(now).as_secs_f64();
        UtilisationChunk { jobs, work_per_job: work / jobs as f64, next }
    }

    /// What the trace asks for in a run of length `horizon`: the jobs [`UtilisationTrace::chunk_at`]
    /// releases before `horizon` (a run is `[0, horizon)`), and the work it asks for within it, FLOPs
    /// (`u_i × cores × speed` times the part of each interval before `horizon`).
    pub fn demand_until(&self, horizon: SimTime, chunk: SimTime, cores: usize, core_speed: f64) -> (f64, f64) {
        let (mut jobs, mut work) = (0.0, 0.0);
        if chunk.0 == 0 {
            return (jobs, work);
        }
        for (index, sample) in self.samples.iter().enumerate() {
            if sample.start >= horizon {
                break;
            }
            let m = jobs_per_chunk(sample.utilisation, cores);
            if m == 0 {
                continue;
            }
            let span = self.interval_end(index).saturating_sub(sample.start).0;
            let before_horizon = horizon.0 - sample.start.0;
            // Chunks released at start + k·chunk < end and < horizon.
            let chunks = span.div_ceil(chunk.0).min(before_horizon.div_ceil(chunk.0));
            jobs += chunks as f64 * m as f64;
            work += sample.utilisation * cores as f64 * core_speed * SimTime(span.min(before_horizon)).as_secs_f64();
        }
        (jobs, work)
    }
}

/// A recorded workload replayed as it is: no randomness.
#[derive(Debug, Clone, PartialEq)]
pub enum Trace {
    /// One job per row, released at its time with its work (see [`parse_jobs_trace_csv`]).
    Jobs(Arc<[TraceJob]>),
    /// CPU-utilisation samples turned into chunks of work (see [`UtilisationTrace`]).
    Utilisation {
        /// The samples.
        trace: UtilisationTrace,
        /// Time between chunk releases (> 0).
        chunk: SimTime,
    },
}

impl Trace {
    /// The first release time, if any.
    pub fn first_release(&self) -> Option<SimTime> {
        match self {
            Trace::Jobs(jobs) => jobs.first().map(|j| j.release),
            Trace::Utilisation { trace, .. } => trace.first_release(),
        }
    }

    /// Whether the trace still asks for work at `horizon`: a jobs trace with a row at or after it, a
    /// utilisation trace whose last interval ends after it. A trace that ends before releases a
    /// finite amount of work, so its backlog cannot grow without bound.
    pub fn runs_until(&self, horizon: SimTime) -> bool {
        match self {
            Trace::Jobs(jobs) => jobs.last().is_some_and(|j| j.release >= horizon),
            Trace::Utilisation { trace, .. } => trace.end > horizon,
        }
    }

    /// What the trace asks for in a run of length `horizon` on a node of `cores` cores of `core_speed`
    /// FLOP/s: the jobs released before `horizon` (a run is `[0, horizon)`), and their work, FLOPs (for a
    /// utilisation trace, the work asked for within the run: see [`UtilisationTrace::demand_until`]).
    pub fn demand_until(&self, horizon: SimTime, cores: usize, core_speed: f64) -> (f64, f64) {
        match self {
            Trace::Jobs(jobs) => jobs
                .iter()
                .take_while(|j| j.release < horizon)
                .fold((0.0, 0.0), |(n, work), j| (n + 1.0, work + j.work)),
            Trace::Utilisation { trace, chunk } => trace.demand_until(horizon, *chunk, cores, core_speed),
        }
    }
}

/// A background process: a source of jobs that compete with the RNN for the node.
#[derive(Debug, Clone, PartialEq)]
pub enum BackgroundKind {
    /// Poisson arrivals of jobs with independent work.
    Poisson {
        /// Arrivals per second.
        rate: f64,
        /// Work per job.
        work: WorkDistribution,
    },
    /// A job every `period`: the `k`-th (from 0) is released at `phase + k·period + U_k`, `U_k`
    /// uniform in `[0, jitter)`.
    Periodic {
        /// Time between releases.
        period: SimTime,
        /// Release of the first job.
        phase: SimTime,
        /// Largest release delay (shorter than the period).
        jitter: SimTime,
        /// Work per job.
        work: WorkDistribution,
    },
    /// Markov-modulated Poisson process: a continuous-time Markov chain over states, starting in state
    /// 0; in state `i` jobs arrive as a Poisson process of rate `rates[i]`, and the chain moves to
    /// state `j` at rate `switch_rates[i][j]` (the diagonal is ignored).
    Mmpp {
        /// Arrival rate per state, per second.
        rates: Vec<f64>,
        /// State-change rates per second, `rates.len()` square.
        switch_rates: Vec<Vec<f64>>,
        /// Work per job.
        work: WorkDistribution,
    },
    /// A CPU-bound process that starts and stops abruptly: while on, it runs one job that would keep a
    /// whole core busy (it ends only when the process turns off); while off, nothing. On- and off-periods
    /// are exponential with the given means.
    OnOff {
        /// Mean on-period.
        on_mean: SimTime,
        /// Mean off-period.
        off_mean: SimTime,
        /// Whether the process is on at time zero.
        start_on: bool,
    },
    /// A recorded workload replayed without randomness: `jobs` rows released at their times with their
    /// work, or CPU-utilisation samples turned into chunks of work (see [`UtilisationTrace`]). Jobs after
    /// the end of the run are not released.
    Trace {
        /// The CSV file, as written in the scenario (relative to its folder; for messages).
        file: PathBuf,
        /// Factor applied to the file's times (1 replays them as recorded; 0.001 plays a day in 86.4 s).
        time_scale: f64,
        /// The rows or samples (empty until the scenario reads the file).
        trace: Trace,
    },
}

impl BackgroundKind {
    /// Long-run arrivals per second: the rate for Poisson, 1/period for periodic, and for MMPP the
    /// rates weighted by the chain's stationary distribution π (solving π Q = 0, Σ π = 1); 0 for
    /// on/off processes (which run one job per on-period) and for traces (which have no long-run rate:
    /// see [`Trace::demand_until`]).
    pub fn mean_rate(&self) -> f64 {
        match self {
            BackgroundKind::Poisson { rate, .. } => *rate,
            BackgroundKind::Periodic { period, .. } => 1.0 / period.as_secs_f64(),
            BackgroundKind::Mmpp { rates, switch_rates, .. } => {
                let pi = stationary_distribution(switch_rates);
                pi.iter().zip(rates).map(|(p, r)| p * r).sum()
            }
            BackgroundKind::OnOff { .. } | BackgroundKind::Trace { .. } => 0.0,
        }
    }
}

/// Stationary distribution of a continuous-time Markov chain given its off-diagonal rates: the
/// solution of `π Q = 0`, `Σ π = 1`, by Gaussian elimination (nalgebra LU) with one balance equation
/// replaced by the normalisation.
pub fn stationary_distribution(switch_rates: &[Vec<f64>]) -> Vec<f64> {
    let n = switch_rates.len();
    let mut a = nalgebra::DMatrix::<f64>::zeros(n, n);
    for i in 0..n {
        let out: f64 = (0..n).filter(|&j| j != i).map(|j| switch_rates[i][j]).sum();
        for j in 0..n {
            // Column j of Qᵀ: balance of state j.
            a[(j, i)] = if i == j { -out } else { switch_rates[i][j] };
        }
    }
    let mut b = nalgebra::DVector::<f64>::zeros(n);
    for j in 0..n {
        a[(n - 1, j)] = 1.0;
    }
    b[n - 1] = 1.0;
    a.lu().solve(&b).map(|v| v.iter().copied().collect()).unwrap_or_else(|| vec![1.0 / n as f64; n])
}

/// A named background process.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundSpec {
    /// Unique name (also its random stream's id).
    pub name: String,
    /// Arrival process.
    pub kind: BackgroundKind,
    /// Processor-sharing weight of its jobs.
    pub weight: f64,
    /// Fixed priority of its jobs (smaller runs first; used by `fixed_priority`).
    pub priority: u32,
    /// Relative deadline of its jobs (absolute deadline = release + this; used by `edf` and for misses).
    pub deadline: Option<SimTime>,
    /// The node's device its jobs run on, by name (`None`: the node's first device).
    pub device: Option<String>,
}

/// What a stream does with a frame whose deadline passed before it could start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMiss {
    /// Run it anyway (it finishes late).
    Continue,
    /// Drop it: the hidden state is not updated; the frame counts as missed and skipped.
    Skip,
}

/// An RNN stream: sequences played one after another, one frame every `period`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Unique name (also its random stream's id).
    pub name: String,
    /// Time between frames.
    pub period: SimTime,
    /// Relative deadline of each frame (deadline = release + this).
    pub deadline: SimTime,
    /// Release time of the first frame.
    pub start: SimTime,
    /// Number of sequences to play (the data set's sequences in a seeded random order, repeated if needed).
    pub sequences: usize,
    /// Late-frame handling.
    pub on_miss: OnMiss,
    /// Processor-sharing weight of its step jobs.
    pub weight: f64,
    /// Fixed priority of its step jobs (smaller runs first).
    pub priority: u32,
    /// The node's device its RNN steps run on, by name (`None`: the node's first device).
    pub device: Option<String>,
}

/// Density φ of the standard normal distribution (`statrs`).
fn standard_normal_pdf(x: f64) -> f64 {
    use statrs::distribution::Continuous;
    statrs::distribution::Normal::standard().pdf(x)
}

/// Distribution function Φ of the standard normal distribution (`statrs`).
fn standard_normal_cdf(x: f64) -> f64 {
    use statrs::distribution::ContinuousCDF;
    statrs::distribution::Normal::standard().cdf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample mean, coefficient of variation (population sd / mean), minimum and maximum of `n` draws.
    fn moments(distribution: &WorkDistribution, seed: u64, n: usize) -> (f64, f64, f64, f64) {
        let sampler = distribution.sampler().unwrap();
        let mut rng = process_rng(seed, "x");
        let draws: Vec<f64> = (0..n).map(|_| sampler.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let sd = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let min = draws.iter().copied().fold(f64::INFINITY, f64::min);
        let max = draws.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (mean, sd / mean, min, max)
    }

    fn assert_close(what: &str, got: f64, want: f64, relative: f64) {
        assert!(((got - want) / want).abs() < relative, "{what}: got {got}, want {want} (±{relative})");
    }

    const N: usize = 200_000;

    #[test]
    fn lognormal_takes_mean_and_cv() {
        let sampler = WorkDistribution::LogNormal { mean: 2.0, cv: 0.5 }.sampler().unwrap();
        let mut rng = process_rng(1, "x");
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| sampler.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let sd = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((mean - 2.0).abs() < 0.01, "mean {mean}");
        assert!((sd / mean - 0.5).abs() < 0.01, "cv {}", sd / mean);
    }

    #[test]
    fn mmpp_stationary_distribution_of_two_states() {
        // 0 → 1 at 0.1/s, 1 → 0 at 0.5/s: π = (0.5, 0.1) / 0.6.
        let pi = stationary_distribution(&[vec![0.0, 0.1], vec![0.5, 0.0]]);
        assert!((pi[0] - 5.0 / 6.0).abs() < 1e-12 && (pi[1] - 1.0 / 6.0).abs() < 1e-12, "{pi:?}");
        let kind = BackgroundKind::Mmpp {
            rates: vec![2.0, 20.0],
            switch_rates: vec![vec![0.0, 0.1], vec![0.5, 0.0]],
            work: WorkDistribution::Constant(1.0),
        };
        assert!((kind.mean_rate() - (2.0 * 5.0 / 6.0 + 20.0 / 6.0)).abs() < 1e-12);
    }

    #[test]
    fn gamma_takes_mean_and_cv() {
        // Standard error of the mean for 200k draws: cv/447 (0.16 % and 0.45 %).
        for (mean, cv) in [(3e6, 0.7), (1.0, 2.0)] {
            let d = WorkDistribution::Gamma { mean, cv };
            assert_eq!(d.mean(), mean);
            let (m, c, min, _) = moments(&d, 2, N);
            assert_close("gamma mean", m, mean, 0.005 * cv.max(1.0));
            assert_close("gamma cv", c, cv, 0.01 * cv.max(1.0));
            assert!(min >= 0.0);
        }
    }

    #[test]
    fn weibull_mean_and_cv_follow_the_gamma_function() {
        // Shape 2 (Rayleigh): mean λ·√π/2, cv √(4/π − 1).
        let d = WorkDistribution::Weibull { scale: 2.0, shape: 2.0 };
        assert!((d.mean() - std::f64::consts::PI.sqrt()).abs() < 1e-13, "{}", d.mean());
        let (m, c, min, _) = moments(&d, 3, N);
        assert_close("weibull(2) mean", m, std::f64::consts::PI.sqrt(), 0.005);
        assert_close("weibull(2) cv", c, (4.0 / std::f64::consts::PI - 1.0).sqrt(), 0.01);
        assert!(min > 0.0);
        // Shape 0.7 (heavier tail than the exponential): mean λ·Γ(1 + 1/0.7) = 1.2658 λ.
        let (scale, shape) = (5e5, 0.7);
        let d = WorkDistribution::Weibull { scale, shape };
        let g1 = statrs::function::gamma::gamma(1.0 + 1.0 / shape);
        let g2 = statrs::function::gamma::gamma(1.0 + 2.0 / shape);
        assert_close("weibull(0.7) analytic mean", d.mean(), 1.265_823_7 * scale, 1e-6);
        let (m, c, _, _) = moments(&d, 4, N);
        assert_close("weibull(0.7) mean", m, scale * g1, 0.01);
        assert_close("weibull(0.7) cv", c, (g2 / (g1 * g1) - 1.0).sqrt(), 0.02);
    }

    #[test]
    fn pareto_has_support_above_the_scale_and_the_right_mean() {
        // α = 3: mean 1.5·x_m (sd 0.87·x_m: standard error of the mean 0.13 %).
        let d = WorkDistribution::Pareto { scale: 2e6, shape: 3.0 };
        assert_eq!(d.mean(), 3e6);
        let (m, _, min, _) = moments(&d, 5, N);
        assert!(min >= 2e6, "draw {min} below x_m");
        assert_close("pareto(3) mean", m, 3e6, 0.01);
        // α = 6: the fourth moment exists, so the sample cv settles: cv = 1/√(α(α − 2)) = 0.2041.
        let d = WorkDistribution::Pareto { scale: 1.0, shape: 6.0 };
        let (m, c, min, _) = moments(&d, 6, N);
        assert!(min >= 1.0);
        assert_close("pareto(6) mean", m, 1.2, 0.005);
        assert_close("pareto(6) cv", c, 1.0 / 24f64.sqrt(), 0.02);
    }

    #[test]
    fn uniform_stays_in_its_range() {
        let d = WorkDistribution::Uniform { min: 1e6, max: 3e6 };
        assert_eq!(d.mean(), 2e6);
        let (m, c, min, max) = moments(&d, 7, N);
        assert!(min >= 1e6 && max <= 3e6 && min < 1.001e6 && max > 2.999e6, "{min} {max}");
        assert_close("uniform mean", m, 2e6, 0.002);
        assert_close("uniform cv", c, 2e6 / (12f64.sqrt() * 2e6), 0.005);
    }

    #[test]
    fn truncated_normal_mean_is_the_shifted_mean() {
        // mean 1, sd 1: 1 + φ(1)/Φ(1) = 1 + 0.2419707/0.8413447 = 1.2875999.
        let d = WorkDistribution::TruncatedNormal { mean: 1.0, sd: 1.0 };
        assert!((d.mean() - 1.287_599_9).abs() < 1e-6, "{}", d.mean());
        let lambda = standard_normal_pdf(1.0) / standard_normal_cdf(1.0);
        let sd = (1.0 - lambda - lambda * lambda).sqrt();
        let (m, c, min, _) = moments(&d, 8, N);
        assert!(min > 0.0);
        assert_close("truncated normal mean", m, 1.287_6, 0.004);
        assert_close("truncated normal cv", c, sd / d.mean(), 0.01);
        // mean 0: the half-normal, mean sd·√(2/π).
        let d = WorkDistribution::TruncatedNormal { mean: 0.0, sd: 4e6 };
        assert_close("half-normal analytic mean", d.mean(), 4e6 * (2.0 / std::f64::consts::PI).sqrt(), 1e-6);
        let (m, _, min, _) = moments(&d, 9, N);
        assert!(min > 0.0);
        assert_close("half-normal mean", m, d.mean(), 0.005);
        // Far from zero the truncation hardly matters: φ(10)/Φ(10) ≈ 7.7e-23.
        let d = WorkDistribution::TruncatedNormal { mean: 10.0, sd: 1.0 };
        assert!((d.mean() - 10.0).abs() < 1e-12, "{}", d.mean());
        // At the limit, −3 sd: mean −3 + φ(−3)/Φ(−3) = 0.28310 (about 741 draws per accepted one).
        let d = WorkDistribution::TruncatedNormal { mean: -3.0, sd: 1.0 };
        assert_close("truncated normal(−3σ) analytic mean", d.mean(), 0.283_098_65, 1e-5);
        let (m, _, min, _) = moments(&d, 10, 20_000);
        assert!(min > 0.0);
        assert_close("truncated normal(−3σ) mean", m, d.mean(), 0.02);
    }

    #[test]
    fn empirical_resamples_uniformly() {
        let samples: Arc<[f64]> = vec![1.0, 2.0, 3.0, 10.0].into();
        let d = WorkDistribution::Empirical { file: "s.csv".into(), samples };
        assert_eq!(d.mean(), 4.0);
        let sampler = d.sampler().unwrap();
        let mut rng = process_rng(11, "x");
        let mut counts = [0usize; 4];
        let mut sum = 0.0;
        for _ in 0..N {
            let x = sampler.sample(&mut rng);
            sum += x;
            counts[[1.0, 2.0, 3.0, 10.0].iter().position(|v| *v == x).expect("a draw is one of the samples")] += 1;
        }
        assert_close("empirical mean", sum / N as f64, 4.0, 0.008);
        for count in counts {
            assert_close("empirical frequency", count as f64 / N as f64, 0.25, 0.01);
        }
        let (_, c, _, _) = moments(&d, 12, N);
        assert_close("empirical cv", c, 12.5f64.sqrt() / 4.0, 0.01);
    }

    #[test]
    fn invalid_parameters_are_errors() {
        let message = |d: WorkDistribution| d.sampler().unwrap_err().to_string();
        assert!(WorkDistribution::LogNormal { mean: 1.0, cv: 0.0 }.sampler().is_err());
        assert!(WorkDistribution::Exponential { mean: -1.0 }.sampler().is_err());
        assert!(WorkDistribution::Constant(f64::NAN).sampler().is_err());
        for (d, expected) in [
            (WorkDistribution::Gamma { mean: 0.0, cv: 1.0 }, "gamma mean must be positive"),
            (WorkDistribution::Gamma { mean: 1.0, cv: -0.5 }, "gamma cv must be positive"),
            (WorkDistribution::Gamma { mean: 1.0, cv: 1e-170 }, "gamma cv 1e-170 is out of range"),
            (WorkDistribution::Weibull { scale: 0.0, shape: 1.0 }, "weibull scale must be positive"),
            (WorkDistribution::Weibull { scale: 1.0, shape: 0.0 }, "weibull shape must be positive"),
            (WorkDistribution::Weibull { scale: 1.0, shape: 0.001 }, "weibull shape 0.001 is too small"),
            (
                WorkDistribution::Pareto { scale: -1.0, shape: 3.0 },
                "pareto scale (the smallest work, x_m) must be positive",
            ),
            (
                WorkDistribution::Pareto { scale: 1.0, shape: 1.0 },
                "greater than 1, got 1: the mean α·scale/(α − 1) exists only for α > 1",
            ),
            (
                WorkDistribution::Pareto { scale: 1.0, shape: 0.5 },
                "pareto shape (α) must be a finite number greater than 1",
            ),
            (WorkDistribution::Uniform { min: -1.0, max: 1.0 }, "uniform min must be a finite number ≥ 0"),
            (WorkDistribution::Uniform { min: 2.0, max: 2.0 }, "uniform max must be finite and greater than min"),
            (WorkDistribution::TruncatedNormal { mean: 1.0, sd: 0.0 }, "normal sd must be positive"),
            (WorkDistribution::TruncatedNormal { mean: -3.01, sd: 1.0 }, "more than 3 sd (1) below zero"),
            (
                WorkDistribution::Empirical { file: "a.csv".into(), samples: Vec::new().into() },
                "none (at least one is needed)",
            ),
            (
                WorkDistribution::Empirical { file: "a.csv".into(), samples: vec![1.0, -2.0].into() },
                "sample 2 of `a.csv` is -2",
            ),
            (WorkDistribution::Empirical { file: "a.csv".into(), samples: vec![0.0, 0.0].into() }, "all 0"),
        ] {
            let got = message(d);
            assert!(got.contains(expected), "{got:?} should contain {expected:?}");
        }
        assert!(WorkDistribution::TruncatedNormal { mean: -3.0, sd: 1.0 }.sampler().is_ok());
        assert_eq!(WorkDistribution::Pareto { scale: 1.0, shape: 1.0 }.mean(), f64::INFINITY);
    }

    #[test]
    fn utilisation_chunks_ask_for_the_sampled_share_of_the_node() {
        let s = |t: u64| SimTime(t * 100_000_000); // tenths of a second
        let trace = UtilisationTrace {
            samples: vec![
                UtilisationSample { start: s(0), utilisation: 0.5 },
                UtilisationSample { start: s(10), utilisation: 0.0 },
                UtilisationSample { start: s(20), utilisation: 0.75 },
            ]
            .into(),
            end: s(35),
        };
        let chunk = SimTime(400_000_000); // 0.4 s: the first interval (1 s) ends with a 0.2-s chunk
        let (cores, speed) = (2, 1e6);
        assert_eq!(trace.first_release(), Some(s(0)));
        // u = 0.5 on 2 cores: one job doing 0.5 × 2 × 1e6 × 0.4 FLOPs, i.e. one full core for the chunk.
        assert_eq!(
            trace.chunk_at(s(0), chunk, cores, speed),
            UtilisationChunk { jobs: 1, work_per_job: 400_000.0, next: Some(s(4)) }
        );
        assert_eq!(trace.chunk_at(s(4), chunk, cores, speed).next, Some(s(8)));
        // The last chunk of the interval is cut at its end; the idle interval is skipped.
        let last = trace.chunk_at(s(8), chunk, cores, speed);
        assert_eq!((last.jobs, last.next), (1, Some(s(20))));
        assert!((last.work_per_job - 200_000.0).abs() < 1e-6, "{last:?}");
        // u = 0.75 on 2 cores: ⌈1.5⌉ = 2 jobs sharing 0.75 × 2 × 1e6 × 0.4 = 600 kFLOP.
        assert_eq!(
            trace.chunk_at(s(20), chunk, cores, speed),
            UtilisationChunk { jobs: 2, work_per_job: 300_000.0, next: Some(s(24)) }
        );
        // The last sample lasts until `end` (3.5 s): chunks at 2.0, 2.4, 2.8, 3.2 (cut to 0.3 s), then none.
        let tail = trace.chunk_at(s(32), chunk, cores, speed);
        assert_eq!((tail.jobs, tail.next), (2, None));
        assert!((tail.work_per_job - 0.75 * 2.0 * 1e6 * 0.3 / 2.0).abs() < 1e-6, "{tail:?}");
        // Totals: 0.5 × 2e6 × 1 s + 0.75 × 2e6 × 1.5 s = 3.25 MFLOP in 3 + 4 × 2 = 11 jobs.
        let (jobs, work) = trace.demand_until(SimTime::MAX, chunk, cores, speed);
        assert_eq!(jobs, 11.0);
        assert!((work - 3.25e6).abs() < 1e-3, "{work}");
        // In a run of 2.4 s ([0, 2.4 s)): the first interval's 3 chunks and the chunk at 2.0 (not the one
        // at 2.4), and the demand before 2.4 s (0.4 s at 0.75 of 2 cores).
        let (jobs, work) = trace.demand_until(s(24), chunk, cores, speed);
        assert_eq!(jobs, 3.0 + 2.0);
        assert!((work - (1e6 + 0.75 * 2e6 * 0.4)).abs() < 1e-3, "{work}");
        assert_eq!((jobs_per_chunk(0.5, 2), jobs_per_chunk(0.51, 2), jobs_per_chunk(1e-9, 4)), (1, 2, 1));
        assert_eq!((jobs_per_chunk(1.0, 3), jobs_per_chunk(0.0, 3)), (3, 0));
    }

    #[test]
    fn process_streams_are_stable_and_distinct() {
        use rand::Rng;
        let a: u64 = process_rng(1, "jobs").random();
        let b: u64 = process_rng(1, "jobs").random();
        let c: u64 = process_rng(1, "video").random();
        let d: u64 = process_rng(2, "jobs").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
