//! Workload descriptions: work distributions, background processes, RNN streams, and the random
//! number streams they draw from.

use rand::SeedableRng;
use rand_distr::{Distribution, Exp, LogNormal};
use rand_pcg::Pcg64;

use crate::sim::SimTime;

/// The generator every process uses: PCG-64 (`rand_pcg::Pcg64`, XSL-RR 128/64), whose output is
/// fixed by its specification, unlike `StdRng`.
pub type ProcessRng = Pcg64;

/// FNV-1a (64-bit) of `text`: a stable hash, identical on every platform and Rust version.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SplitMix64 finaliser: spreads a 64-bit value over all bits.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The random stream of the process called `process_name` in a run with scenario seed `seed`:
/// `Pcg64::seed_from_u64(splitmix64(seed) ^ fnv1a(process_name))`. It depends only on the seed and
/// the process's name, so adding a process or changing a policy leaves the others' draws unchanged
/// (common random numbers).
pub fn process_rng(seed: u64, process_name: &str) -> ProcessRng {
    Pcg64::seed_from_u64(splitmix64(seed) ^ fnv1a(process_name))
}

/// Errors in workload parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParameterError(pub String);

/// Distribution of a job's work, in FLOPs.
#[derive(Debug, Clone, Copy, PartialEq)]
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
}

/// A work distribution ready to sample.
#[derive(Debug, Clone, Copy)]
pub enum WorkSampler {
    /// Always this value.
    Constant(f64),
    /// `rand_distr::Exp`.
    Exponential(Exp<f64>),
    /// `rand_distr::LogNormal`.
    LogNormal(LogNormal<f64>),
}

impl WorkDistribution {
    /// Mean work, FLOPs.
    pub fn mean(&self) -> f64 {
        match *self {
            WorkDistribution::Constant(value) => value,
            WorkDistribution::Exponential { mean } | WorkDistribution::LogNormal { mean, .. } => mean,
        }
    }

    /// Checks the parameters and builds the sampler.
    ///
    /// # Errors
    /// [`ParameterError`] if a mean or value is not positive and finite, or `cv ≤ 0`.
    pub fn sampler(&self) -> Result<WorkSampler, ParameterError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ParameterError(format!("{name} must be positive and finite, got {v}")))
            }
        };
        match *self {
            WorkDistribution::Constant(value) => {
                positive("constant work", value)?;
                Ok(WorkSampler::Constant(value))
            }
            WorkDistribution::Exponential { mean } => {
                positive("mean", mean)?;
                Ok(WorkSampler::Exponential(Exp::new(1.0 / mean).map_err(|e| ParameterError(e.to_string()))?))
            }
            WorkDistribution::LogNormal { mean, cv } => {
                positive("mean", mean)?;
                positive("cv", cv)?;
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                Ok(WorkSampler::LogNormal(
                    LogNormal::new(mu, sigma2.sqrt()).map_err(|e| ParameterError(e.to_string()))?,
                ))
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
}

impl BackgroundKind {
    /// Long-run arrivals per second: the rate for Poisson, 1/period for periodic, and for MMPP the
    /// rates weighted by the chain's stationary distribution π (solving π Q = 0, Σ π = 1); 0 for
    /// on/off processes (which run one job per on-period).
    pub fn mean_rate(&self) -> f64 {
        match self {
            BackgroundKind::Poisson { rate, .. } => *rate,
            BackgroundKind::Periodic { period, .. } => 1.0 / period.as_secs_f64(),
            BackgroundKind::Mmpp { rates, switch_rates, .. } => {
                let pi = stationary_distribution(switch_rates);
                pi.iter().zip(rates).map(|(p, r)| p * r).sum()
            }
            BackgroundKind::OnOff { .. } => 0.0,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn invalid_parameters_are_errors() {
        assert!(WorkDistribution::LogNormal { mean: 1.0, cv: 0.0 }.sampler().is_err());
        assert!(WorkDistribution::Exponential { mean: -1.0 }.sampler().is_err());
        assert!(WorkDistribution::Constant(f64::NAN).sampler().is_err());
    }

    #[test]
    fn process_streams_are_stable_and_distinct() {
        use rand::Rng;
        // Pinned values: if these change, every published result changes; update only on purpose.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        let a: u64 = process_rng(1, "jobs").random();
        let b: u64 = process_rng(1, "jobs").random();
        let c: u64 = process_rng(1, "video").random();
        let d: u64 = process_rng(2, "jobs").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
