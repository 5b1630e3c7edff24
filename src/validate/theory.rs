//! Closed-form results from queueing and real-time scheduling theory, and confidence intervals, for
//! checking simulated results against what theory predicts.
//!
//! Every function here is pure and knows nothing of the simulator: it takes rates, moments and
//! samples as plain numbers.
//!
//! **Units.** Rates (`lambda`, `mu`) are per unit of time and mean service times are in the same unit
//! of time; every response time returned is in that unit (rates per second give seconds). A response
//! time is the sojourn time: waiting plus service.
//!
//! **No finite answer.** Where a formula has no finite value (load `ρ ≥ 1`) or an input is out of its
//! domain (a negative or non-finite rate, a non-positive service rate, `p` outside `(0, 1)`), the
//! function returns `None` rather than panicking or returning an infinity or NaN.
//!
//! References:
//! - L. Kleinrock, *Queueing Systems, Volume I: Theory*, Wiley, 1975.
//! - L. Kleinrock, *Queueing Systems, Volume II: Computer Applications*, Wiley, 1976.
//! - M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*, Cambridge University
//!   Press, 2013.
//! - C. L. Liu and J. W. Layland, "Scheduling algorithms for multiprogramming in a hard-real-time
//!   environment", *Journal of the ACM* 20(1), 46–61, 1973.
//! - M. Abramowitz and I. A. Stegun, *Handbook of Mathematical Functions*, 1964.
//! - W. H. Press et al., *Numerical Recipes*, 3rd ed., Cambridge University Press, 2007.
//! - A. M. Law, *Simulation Modeling and Analysis*, 5th ed., McGraw-Hill, 2015 (batch means).

use std::f64::consts::LN_2;

/// `x` is a finite, non-negative number (an arrival rate, a second moment).
fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// `x` is a finite, positive number (a service rate, a mean service time).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// `p` lies in the open interval `(0, 1)` (false for NaN).
fn open_unit(p: f64) -> bool {
    p > 0.0 && p < 1.0
}

/// `df` is a valid number of degrees of freedom: positive, possibly infinite (false for NaN).
fn valid_df(df: f64) -> bool {
    df > 0.0
}

// ---------------------------------------------------------------------------------------------
// Single-server and multi-server Markovian queues
// ---------------------------------------------------------------------------------------------

/// Mean response time of the M/M/1 queue (FIFO, or any work-conserving order that does not look at
/// job sizes):
///
/// `E[T] = 1 / (μ − λ)`
///
/// `lambda` is the arrival rate λ and `mu` the service rate μ (both per unit time); the result is in
/// units of time. `None` when `ρ = λ/μ ≥ 1` or an input is invalid (λ < 0, μ ≤ 0, non-finite).
///
/// Kleinrock (1975), ch. 3 (M/M/1); Harchol-Balter (2013), ch. on the M/M/1 queue.
pub fn mm1_response(lambda: f64, mu: f64) -> Option<f64> {
    if !non_negative(lambda) || !positive(mu) || lambda >= mu {
        return None;
    }
    Some(1.0 / (mu - lambda))
}

/// Erlang's C formula: the probability that an arriving job waits in an M/M/c queue with offered
/// load `a = λ/μ` (in Erlangs) on `c` servers.
///
/// Computed through the Erlang B recursion, which is numerically stable for large `c` and `a` (no
/// factorials or powers):
///
/// `B(0) = 1`, `B(k) = a·B(k−1) / (k + a·B(k−1))`, then `C = c·B(c) / (c − a·(1 − B(c)))`.
///
/// Dimensionless, in `[0, 1)`. `None` when `c = 0`, `a < 0`, `a` is not finite, or `a ≥ c` (the
/// queue is unstable and every job eventually waits).
///
/// Kleinrock (1975), ch. 3 (M/M/m); Harchol-Balter (2013), ch. on the M/M/k queue.
pub fn erlang_c(c: u32, a: f64) -> Option<f64> {
    if c == 0 || !non_negative(a) || a >= f64::from(c) {
        return None;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = f64::from(c);
    Some(c * b / (c - a * (1.0 - b)))
}

/// Mean response time of the M/M/c queue (FIFO):
///
/// `E[T] = C(c, λ/μ) / (c·μ − λ) + 1/μ`
///
/// where `C` is [`erlang_c`]. `lambda` and `mu` per unit time (μ is the rate of one server), the
/// result in units of time. `None` when `ρ = λ/(cμ) ≥ 1` or an input is invalid.
///
/// Kleinrock (1975), ch. 3 (M/M/m); Harchol-Balter (2013), ch. on the M/M/k queue.
pub fn mmc_response(lambda: f64, mu: f64, c: u32) -> Option<f64> {
    if !non_negative(lambda) || !positive(mu) {
        return None;
    }
    let wait_probability = erlang_c(c, lambda / mu)?;
    Some(wait_probability / (f64::from(c) * mu - lambda) + 1.0 / mu)
}

// ---------------------------------------------------------------------------------------------
// M/G/1
// ---------------------------------------------------------------------------------------------

/// Second moment `E[S²] = s²` of a deterministic service time `s` (in units of time squared).
pub fn deterministic_second_moment(s: f64) -> f64 {
    s * s
}

/// Second moment of an exponential service time of mean `mean = 1/μ`:
/// `E[S²] = 2/μ² = 2·mean²` (in units of time squared).
pub fn exponential_second_moment(mean: f64) -> f64 {
    2.0 * mean * mean
}

/// Second moment of a log-normal service time given its mean and coefficient of variation
/// `cv = σ_S / E[S]`: `E[S²] = Var[S] + E[S]² = (1 + cv²)·mean²` (in units of time squared).
///
/// The identity holds for any distribution with that mean and cv; it is named for the log-normal
/// because that is how the simulator's work distributions are specified (mean and cv).
pub fn lognormal_second_moment(mean: f64, cv: f64) -> f64 {
    (1.0 + cv * cv) * mean * mean
}

/// Mean response time of the M/G/1 FIFO queue, the Pollaczek–Khinchine mean-value formula:
///
/// `E[T] = E[S] + λ·E[S²] / (2·(1 − ρ))`, with `ρ = λ·E[S]`
///
/// `lambda` per unit time, `mean_s = E[S]` in units of time, `second_moment_s = E[S²]` in units of
/// time squared (see [`deterministic_second_moment`], [`exponential_second_moment`],
/// [`lognormal_second_moment`]); the result is in units of time. `None` when `ρ ≥ 1` or an input is
/// invalid (λ < 0, `E[S] ≤ 0`, `E[S²] < 0`, non-finite).
///
/// Kleinrock (1975), ch. 5 (the queue M/G/1); Harchol-Balter (2013), ch. on the M/G/1 queue.
pub fn mg1_fifo_response(lambda: f64, mean_s: f64, second_moment_s: f64) -> Option<f64> {
    if !non_negative(lambda) || !positive(mean_s) || !non_negative(second_moment_s) {
        return None;
    }
    let rho = lambda * mean_s;
    if rho >= 1.0 {
        return None;
    }
    Some(mean_s + lambda * second_moment_s / (2.0 * (1.0 - rho)))
}

/// Mean response time of the M/G/1 processor-sharing queue, which depends on the service-time
/// distribution only through its mean (insensitivity):
///
/// `E[T] = E[S] / (1 − ρ)`, with `ρ = λ·E[S]`
///
/// `lambda` per unit time, `mean_s` and the result in units of time. `None` when `ρ ≥ 1` or an
/// input is invalid.
///
/// Kleinrock (1976), ch. 4 (time-sharing systems); Harchol-Balter (2013), ch. on processor sharing.
pub fn mg1_ps_response(lambda: f64, mean_s: f64) -> Option<f64> {
    if !non_negative(lambda) || !positive(mean_s) {
        return None;
    }
    let rho = lambda * mean_s;
    if rho >= 1.0 {
        return None;
    }
    Some(mean_s / (1.0 - rho))
}

/// Per-class mean response times of the M/G/1 queue with preemptive-resume priority, class 0
/// highest:
///
/// `E[T_k] = E[S_k] / (1 − σ_{k−1}) + (Σ_{i≤k} λ_i·E[S_i²] / 2) / ((1 − σ_{k−1})·(1 − σ_k))`
///
/// with `σ_k = Σ_{i≤k} λ_i·E[S_i]` and `σ_{−1} = 0`. Class `k` sees only classes `0..=k`: it is
/// stable as long as `σ_k < 1`, even if lower classes are not.
///
/// `lambdas` per unit time, `means` (`E[S_k]`) in units of time, `second_moments` (`E[S_k²]`) in
/// units of time squared; the results are in units of time. The returned vector has one entry per
/// class: `None` for a class with `σ_k ≥ 1`, and `None` for every class if the slices differ in
/// length or any input is invalid.
///
/// Kleinrock (1976), ch. 3 (priority queueing); Harchol-Balter (2013), ch. on preemptive priority.
pub fn mg1_preemptive_priority_responses(lambdas: &[f64], means: &[f64], second_moments: &[f64]) -> Vec<Option<f64>> {
    let valid = lambdas.len() == means.len()
        && lambdas.len() == second_moments.len()
        && lambdas.iter().all(|&l| non_negative(l))
        && means.iter().all(|&m| positive(m))
        && second_moments.iter().all(|&m2| non_negative(m2));
    if !valid {
        return vec![None; lambdas.len()];
    }
    let mut sigma_before = 0.0; // σ_{k−1}
    let mut residual = 0.0; // Σ_{i≤k} λ_i E[S_i²] / 2
    lambdas
        .iter()
        .zip(means)
        .zip(second_moments)
        .map(|((&lambda, &mean), &second)| {
            let sigma = sigma_before + lambda * mean;
            residual += lambda * second / 2.0;
            let response =
                (sigma < 1.0).then(|| mean / (1.0 - sigma_before) + residual / ((1.0 - sigma_before) * (1.0 - sigma)));
            sigma_before = sigma;
            response
        })
        .collect()
}

/// Per-class mean response times of the M/M/1 queue with preemptive-resume priority (class 0
/// highest) and exponential service of rate `mus[k]` in class `k`: [`mg1_preemptive_priority_responses`]
/// with `E[S_k] = 1/μ_k` and `E[S_k²] = 2/μ_k²`:
///
/// `E[T_k] = E[S_k] / (1 − σ_{k−1}) + (Σ_{i≤k} λ_i·E[S_i²] / 2) / ((1 − σ_{k−1})·(1 − σ_k))`,
/// `σ_k = Σ_{i≤k} λ_i/μ_i`.
///
/// `lambdas` and `mus` per unit time; results in units of time, `None` for a class with `σ_k ≥ 1`
/// and for every class if the slices differ in length or an input is invalid.
///
/// Kleinrock (1976), ch. 3 (priority queueing); Harchol-Balter (2013), ch. on preemptive priority.
pub fn mm1_preemptive_priority_responses(lambdas: &[f64], mus: &[f64]) -> Vec<Option<f64>> {
    if lambdas.len() != mus.len() || !mus.iter().all(|&mu| positive(mu)) {
        return vec![None; lambdas.len()];
    }
    let means: Vec<f64> = mus.iter().map(|&mu| 1.0 / mu).collect();
    let second_moments: Vec<f64> = means.iter().map(|&m| exponential_second_moment(m)).collect();
    mg1_preemptive_priority_responses(lambdas, &means, &second_moments)
}

/// Little's law: the mean number in a system `L = λ·W` (dimensionless), from the throughput `lambda`
/// (per unit time) and the mean time in the system `w` (in units of time).
///
/// Kleinrock (1975), ch. 2; Harchol-Balter (2013), ch. on Little's law.
pub fn littles_law_l(lambda: f64, w: f64) -> f64 {
    lambda * w
}

// ---------------------------------------------------------------------------------------------
// Real-time scheduling
// ---------------------------------------------------------------------------------------------

/// Liu and Layland's utilisation bound for rate-monotonic scheduling of `n` independent periodic
/// tasks with deadlines equal to periods on one preemptive processor:
///
/// `U_lub(n) = n·(2^{1/n} − 1)`
///
/// A task set whose total utilisation `Σ C_i/T_i` is at most this bound is schedulable (the test is
/// sufficient, not necessary). Dimensionless; 1 for `n = 1`, decreasing towards `ln 2 ≈ 0.693`.
/// `None` for `n = 0`. Computed as `n·expm1(ln 2 / n)` so that it stays accurate for large `n`.
///
/// Liu & Layland (1973), Theorem 5.
pub fn liu_layland_bound(n: usize) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    Some(n * (LN_2 / n).exp_m1())
}

/// Whether a set of independent periodic tasks with deadlines equal to periods is schedulable by
/// earliest-deadline-first on one preemptive processor: exactly when its total utilisation
/// `U = Σ C_i/T_i` (dimensionless) satisfies `U ≤ 1` (necessary and sufficient). `false` for NaN.
///
/// Liu & Layland (1973), Theorem 7 (the deadline-driven scheduling algorithm).
pub fn edf_schedulable(utilisation: f64) -> bool {
    utilisation <= 1.0
}

// ---------------------------------------------------------------------------------------------
// Confidence intervals
// ---------------------------------------------------------------------------------------------

/// A two-sided confidence interval for a mean: `mean ± half_width = [lower, upper]`, in the units of
/// the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The point estimate (sample mean).
    pub mean: f64,
    /// Half the width of the interval.
    pub half_width: f64,
    /// `mean − half_width`.
    pub lower: f64,
    /// `mean + half_width`.
    pub upper: f64,
}

impl Interval {
    fn new(mean: f64, half_width: f64) -> Self {
        Interval { mean, half_width, lower: mean - half_width, upper: mean + half_width }
    }

    /// Whether `x` lies in the closed interval `[lower, upper]`.
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }
}

/// Student-t confidence interval for the mean of independent, identically distributed samples at
/// confidence `level` (e.g. 0.95):
///
/// `x̄ ± t_{(1+level)/2, n−1} · s / √n`, with `s² = Σ (x_i − x̄)² / (n − 1)`
///
/// In the units of the samples. `None` with fewer than two samples, a non-finite sample, or `level`
/// outside `(0, 1)`. Exact for normal samples, approximate (central limit theorem) otherwise.
///
/// Law (2015), ch. 4 (confidence interval for the mean).
pub fn mean_ci(values: &[f64], level: f64) -> Option<Interval> {
    let n = values.len();
    if n < 2 || !open_unit(level) || !values.iter().all(|v| v.is_finite()) {
        return None;
    }
    let count = n as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (count - 1.0);
    let t = student_t_quantile((1.0 + level) / 2.0, count - 1.0)?;
    Some(Interval::new(mean, t * (variance / count).sqrt()))
}

/// Batch-means confidence interval for the steady-state mean of a correlated output sequence (such
/// as successive response times from one simulation run).
///
/// The sequence is split, in order, into `batches` consecutive batches of `m = ⌊n / batches⌋`
/// values each (the last `n mod batches` values are dropped); with batch means `Ȳ_1, …, Ȳ_b`:
///
/// `Ȳ ± t_{(1+level)/2, b−1} · s_Ȳ / √b`, with `s_Ȳ² = Σ (Ȳ_j − Ȳ)² / (b − 1)`
///
/// In the units of the values. Valid when batches are long enough for their means to be nearly
/// independent and normal; delete a warm-up period before calling. `None` with fewer than two
/// batches, fewer values than batches, a non-finite value, or `level` outside `(0, 1)`.
///
/// Law (2015), ch. 9 (the method of batch means).
pub fn batch_means_ci(values: &[f64], batches: usize, level: f64) -> Option<Interval> {
    if batches < 2 || values.len() < batches {
        return None;
    }
    let size = values.len() / batches;
    let means: Vec<f64> =
        values.chunks_exact(size).take(batches).map(|batch| batch.iter().sum::<f64>() / size as f64).collect();
    mean_ci(&means, level)
}

// ---------------------------------------------------------------------------------------------
// Student t and normal distributions (statrs)
// ---------------------------------------------------------------------------------------------

/// Cumulative distribution function `P(T ≤ t)` of Student's t distribution with `df` degrees of
/// freedom (`df > 0`, not necessarily an integer; `df = ∞` gives the standard normal). Dimensionless.
/// `None` when `t` is NaN or `df` is not positive.
///
/// `statrs::distribution::StudentsT` (`P(T > t) = ½·I_{ν/(ν+t²)}(ν/2, ½)`, Abramowitz & Stegun 1964,
/// 26.7.1), or `statrs::distribution::Normal` for `df = ∞`.
pub fn student_t_cdf(t: f64, df: f64) -> Option<f64> {
    use statrs::distribution::ContinuousCDF;
    if t.is_nan() || !valid_df(df) {
        return None;
    }
    if df.is_infinite() {
        return Some(standard_normal().cdf(t));
    }
    Some(statrs::distribution::StudentsT::new(0.0, 1.0, df).ok()?.cdf(t))
}

/// The quantile `t_{p,ν}` of Student's t distribution: the `t` with `P(T ≤ t) = p`, for `p` in
/// `(0, 1)` and `df = ν > 0` degrees of freedom (not necessarily an integer; `df = ∞` gives the
/// standard normal quantile). Dimensionless. `None` outside those domains.
///
/// `statrs::distribution::StudentsT::inverse_cdf` (the inverse regularised incomplete beta function;
/// about 1e-12 relative or better up to `ν = 10⁴`, measured against 40-digit references), and from
/// `ν = 10⁴` on the Cornish–Fisher expansion to order `ν⁻⁴` around [`normal_quantile`] (Abramowitz &
/// Stegun 1964, 26.7.5; truncation error below 2e-15 relative there), because statrs's inverse beta
/// loses accuracy for large `ν` (3.5e-6 relative at `ν = 10⁵`).
pub fn student_t_quantile(p: f64, df: f64) -> Option<f64> {
    use statrs::distribution::ContinuousCDF;
    if !open_unit(p) || !valid_df(df) {
        return None;
    }
    if df >= LARGE_DF {
        let z = normal_quantile(p)?;
        return Some(if df.is_infinite() { z } else { cornish_fisher(z, df) });
    }
    Some(statrs::distribution::StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(p))
}

/// From this many degrees of freedom on, [`student_t_quantile`] uses [`cornish_fisher`].
const LARGE_DF: f64 = 1e4;

/// The Cornish–Fisher expansion of the t quantile around the normal quantile `z`, to order `ν⁻⁴`
/// (Abramowitz & Stegun 1964, 26.7.5).
fn cornish_fisher(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
}

/// The standard normal quantile `z_p` (`Φ(z_p) = p`) for `p` in `(0, 1)`; `None` otherwise.
/// Dimensionless. `statrs::distribution::Normal::inverse_cdf` (through the inverse complementary
/// error function).
pub fn normal_quantile(p: f64) -> Option<f64> {
    use statrs::distribution::ContinuousCDF;
    open_unit(p).then(|| standard_normal().inverse_cdf(p))
}

/// The standard normal distribution N(0, 1).
fn standard_normal() -> statrs::distribution::Normal {
    statrs::distribution::Normal::standard()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed forms evaluated in a few floating-point operations.
    const EXACT_TOL: f64 = 1e-12;
    /// Values worked out by hand and rounded to four decimals.
    const HAND_TOL: f64 = 5e-5;
    /// Printed t tables give three decimals.
    const TABLE_TOL: f64 = 5e-4;
    /// Relative tolerance against quantiles computed with 40-digit arithmetic (mpmath `betainc`
    /// inverted with `findroot`); statrs's inverse incomplete beta is the limit (1.4e-12 at ν = 9 999).
    const REFERENCE_RTOL: f64 = 2e-12;

    fn close(actual: Option<f64>, expected: f64, tol: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() <= tol)
    }

    fn assert_close(actual: Option<f64>, expected: f64, tol: f64) {
        assert!(close(actual, expected, tol), "got {actual:?}, expected {expected} ± {tol}");
    }

    #[test]
    fn mm1_response_hand_values() {
        // 1/(1 − 0.8) = 5; 1/(2 − 0) = 0.5.
        assert_close(mm1_response(0.8, 1.0), 5.0, EXACT_TOL);
        assert_close(mm1_response(0.0, 2.0), 0.5, EXACT_TOL);
        assert_eq!(mm1_response(1.0, 1.0), None);
        assert_eq!(mm1_response(1.2, 1.0), None);
        assert_eq!(mm1_response(-0.1, 1.0), None);
        assert_eq!(mm1_response(0.5, 0.0), None);
        assert_eq!(mm1_response(f64::NAN, 1.0), None);
    }

    #[test]
    fn erlang_c_hand_values() {
        // c = 2, a = 1: B(1) = 1/2, B(2) = (1/2)/(2 + 1/2) = 1/5, C = (2/5)/(2 − 4/5) = 1/3.
        assert_close(erlang_c(2, 1.0), 1.0 / 3.0, EXACT_TOL);
        // c = 1 reduces to ρ.
        assert_close(erlang_c(1, 0.8), 0.8, EXACT_TOL);
        // c = 3, a = 2: B = 2/3, 2/5, 4/19; C = (12/19)/(3 − 30/19) = 12/27 = 4/9, which the direct
        // formula (a³/3!)(3/(3−2)) / (1 + 2 + 2 + 4) = 4/9 confirms.
        assert_close(erlang_c(3, 2.0), 4.0 / 9.0, EXACT_TOL);
        assert_close(erlang_c(2, 0.0), 0.0, EXACT_TOL);
        assert_eq!(erlang_c(2, 2.0), None);
        assert_eq!(erlang_c(0, 0.5), None);
        assert_eq!(erlang_c(2, -1.0), None);
    }

    #[test]
    fn erlang_c_is_stable_for_many_servers() {
        // a^c/c! overflows f64 here; the recursion does not.
        let c = erlang_c(1000, 990.0).unwrap();
        assert!(c > 0.0 && c < 1.0, "{c}");
        let lighter = erlang_c(1000, 900.0).unwrap();
        assert!(lighter < c, "{lighter} vs {c}");
    }

    #[test]
    fn mmc_response_hand_values() {
        // C(2, 1) = 1/3: 1/3 · 1/(2 − 1) + 1 = 4/3.
        assert_close(mmc_response(1.0, 1.0, 2), 4.0 / 3.0, EXACT_TOL);
        assert_close(mmc_response(1.0, 1.0, 2), 1.3333, HAND_TOL);
        // C(3, 2) = 4/9: 4/9 · 1/(3 − 2) + 1 = 13/9.
        assert_close(mmc_response(2.0, 1.0, 3), 13.0 / 9.0, EXACT_TOL);
        // One server is M/M/1.
        assert_close(mmc_response(0.8, 1.0, 1), 5.0, EXACT_TOL);
        assert_eq!(mmc_response(2.0, 1.0, 2), None);
        assert_eq!(mmc_response(1.0, 0.0, 2), None);
    }

    #[test]
    fn second_moment_helpers() {
        assert_close(Some(deterministic_second_moment(2.0)), 4.0, EXACT_TOL);
        // Mean 0.5 (μ = 2): 2/μ² = 0.5.
        assert_close(Some(exponential_second_moment(0.5)), 0.5, EXACT_TOL);
        // Mean 1, cv 2: (1 + 4) · 1 = 5.
        assert_close(Some(lognormal_second_moment(1.0, 2.0)), 5.0, EXACT_TOL);
        // cv 1 has the exponential's second moment.
        assert_close(Some(lognormal_second_moment(3.0, 1.0)), exponential_second_moment(3.0), EXACT_TOL);
    }

    #[test]
    fn mg1_fifo_pollaczek_khinchine_hand_values() {
        // M/D/1, λ = 0.5, S = 1: 1 + 0.5 · 1 / (2 · 0.5) = 1.5.
        assert_close(mg1_fifo_response(0.5, 1.0, deterministic_second_moment(1.0)), 1.5, EXACT_TOL);
        // M/M/1, λ = 0.8, E[S] = 1, E[S²] = 2: 1 + 0.8 · 2 / (2 · 0.2) = 5, as mm1_response.
        assert_close(mg1_fifo_response(0.8, 1.0, exponential_second_moment(1.0)), 5.0, EXACT_TOL);
        // Log-normal mean 1, cv 2, λ = 0.5: E[S²] = 5, 1 + 0.5 · 5 / (2 · 0.5) = 3.5.
        assert_close(mg1_fifo_response(0.5, 1.0, lognormal_second_moment(1.0, 2.0)), 3.5, EXACT_TOL);
        assert_eq!(mg1_fifo_response(1.0, 1.0, 1.0), None);
        assert_eq!(mg1_fifo_response(0.5, 1.0, -1.0), None);
        assert_eq!(mg1_fifo_response(0.5, 0.0, 1.0), None);
    }

    #[test]
    fn mg1_ps_hand_values() {
        // 1 / (1 − 0.5) = 2; 1 / (1 − 0.8) = 5.
        assert_close(mg1_ps_response(0.5, 1.0), 2.0, EXACT_TOL);
        assert_close(mg1_ps_response(0.8, 1.0), 5.0, EXACT_TOL);
        assert_eq!(mg1_ps_response(1.0, 1.0), None);
        assert_eq!(mg1_ps_response(0.5, -1.0), None);
    }

    #[test]
    fn preemptive_priority_two_equal_classes() {
        // λ = 0.4 each, μ = 1 (E[S] = 1, E[S²] = 2); σ_0 = 0.4, σ_1 = 0.8.
        // Class 0: 1/1 + (0.4 · 2 / 2) / (1 · 0.6) = 1 + 0.4/0.6 = 5/3 = 1/(1 − 0.4).
        // Class 1: 1/0.6 + ((0.4 · 2 + 0.4 · 2) / 2) / (0.6 · 0.2) = 5/3 + 0.8/0.12 = 5/3 + 20/3 = 25/3.
        let t = mm1_preemptive_priority_responses(&[0.4, 0.4], &[1.0, 1.0]);
        assert_eq!(t.len(), 2);
        assert_close(t[0], 1.6667, HAND_TOL);
        assert_close(t[1], 8.3333, HAND_TOL);
        assert_close(t[0], 5.0 / 3.0, EXACT_TOL);
        assert_close(t[1], 25.0 / 3.0, EXACT_TOL);
        // Conservation: with identical exponential service the arrival-weighted mean is M/M/1 at
        // λ = 0.8: (5/3 + 25/3) / 2 = 5.
        assert_close(Some((t[0].unwrap() + t[1].unwrap()) / 2.0), mm1_response(0.8, 1.0).unwrap(), EXACT_TOL);
    }

    #[test]
    fn preemptive_priority_unequal_classes() {
        // λ = (0.2, 0.3), μ = (2, 1): E[S] = (0.5, 1), E[S²] = (0.5, 2); σ_0 = 0.1, σ_1 = 0.4.
        // Class 0: 0.5 + (0.2 · 0.5 / 2) / 0.9 = 0.5 + 0.05/0.9 = 5/9 = 1/(2 − 0.2).
        // Class 1: 1/0.9 + (0.05 + 0.3 · 2 / 2) / (0.9 · 0.6) = 10/9 + 0.35/0.54 = 60/54 + 35/54 = 95/54.
        let t = mm1_preemptive_priority_responses(&[0.2, 0.3], &[2.0, 1.0]);
        assert_close(t[0], 5.0 / 9.0, EXACT_TOL);
        assert_close(t[1], 95.0 / 54.0, EXACT_TOL);
        assert_close(t[1], 1.7593, HAND_TOL);
        // The general form with the same moments agrees, and one class is M/M/1.
        let general = mg1_preemptive_priority_responses(&[0.2, 0.3], &[0.5, 1.0], &[0.5, 2.0]);
        assert_eq!(general, t);
        assert_close(mm1_preemptive_priority_responses(&[0.8], &[1.0])[0], 5.0, EXACT_TOL);
    }

    #[test]
    fn preemptive_priority_overload_and_bad_input() {
        // σ_0 = 0.5 < 1 ≤ σ_1 = 1.1: the high class is still M/M/1 (1/(1 − 0.5) = 2), the low one
        // has no finite mean.
        assert_eq!(mm1_preemptive_priority_responses(&[0.5, 0.6], &[1.0, 1.0])[1], None);
        assert_close(mm1_preemptive_priority_responses(&[0.5, 0.6], &[1.0, 1.0])[0], 2.0, EXACT_TOL);
        assert_eq!(mm1_preemptive_priority_responses(&[0.1, 0.1], &[1.0]), vec![None, None]);
        assert_eq!(mm1_preemptive_priority_responses(&[0.1, 0.1], &[1.0, 0.0]), vec![None, None]);
        assert_eq!(mg1_preemptive_priority_responses(&[-0.1], &[1.0], &[2.0]), vec![None]);
        assert!(mm1_preemptive_priority_responses(&[], &[]).is_empty());
    }

    #[test]
    fn littles_law() {
        assert_close(Some(littles_law_l(0.8, 5.0)), 4.0, EXACT_TOL);
    }

    #[test]
    fn liu_layland_hand_values() {
        assert_close(liu_layland_bound(1), 1.0, EXACT_TOL);
        // 2(√2 − 1) = 0.828427…
        assert_close(liu_layland_bound(2), 2.0 * (2f64.sqrt() - 1.0), EXACT_TOL);
        assert_close(liu_layland_bound(2), 0.8284, HAND_TOL);
        // 3(2^{1/3} − 1) = 0.779763…
        assert_close(liu_layland_bound(3), 0.7798, HAND_TOL);
        // n(2^{1/n} − 1) = ln 2 + (ln 2)²/(2n) + …: within 2.5e-10 of ln 2 at n = 10⁹.
        assert_close(liu_layland_bound(1_000_000_000), LN_2, 1e-9);
        assert_eq!(liu_layland_bound(0), None);
        let bounds: Vec<f64> = (1..50).map(|n| liu_layland_bound(n).unwrap()).collect();
        assert!(bounds.windows(2).all(|w| w[1] < w[0] && w[1] > LN_2));
    }

    #[test]
    fn edf_utilisation_test() {
        assert!(edf_schedulable(1.0));
        assert!(edf_schedulable(0.5));
        assert!(!edf_schedulable(1.0001));
        assert!(!edf_schedulable(f64::NAN));
    }

    #[test]
    fn student_t_quantile_table_values() {
        // Printed tables (three decimals).
        assert_close(student_t_quantile(0.975, 1.0), 12.706, TABLE_TOL);
        assert_close(student_t_quantile(0.975, 5.0), 2.571, TABLE_TOL);
        assert_close(student_t_quantile(0.975, 29.0), 2.045, TABLE_TOL);
        assert_close(student_t_quantile(0.975, 1e6), 1.960, TABLE_TOL);
        assert_close(student_t_quantile(0.95, 10.0), 1.812, TABLE_TOL);
        assert_close(student_t_quantile(0.975, 9.0), 2.262, TABLE_TOL);
        assert_close(student_t_quantile(0.995, 30.0), 2.750, TABLE_TOL);
    }

    #[test]
    fn student_t_quantile_reference_values() {
        // (p, ν, t_{p,ν}) from 40-digit arithmetic; covers statrs's path (including ν = 1, 2,
        // non-integer ν and ν < 1) and the Cornish–Fisher path (ν ≥ 1e4), on both sides of the switch.
        let cases = [
            (0.975, 1.0, 12.706204736174693),
            (0.975, 2.0, 4.302652729749462),
            (0.975, 4.0, 2.7764451051977935),
            (0.975, 5.0, 2.5705818356363148),
            (0.975, 9.0, 2.262157162798205),
            (0.975, 29.0, 2.045229642132704),
            (0.95, 10.0, 1.8124611228116759),
            (0.995, 3.0, 5.840909309733355),
            (0.999, 1.5, 52.184430008992617),
            (0.9, 0.5, 10.270324410234511),
            (0.9999, 4.0, 13.033671720896822),
            (0.6, 7.0, 0.2631668613520228),
            (0.975, 200.0, 1.971896223633909),
            (0.975, 3000.0, 1.9607550553224581),
            (0.975, 9_999.0, 1.9602012636213573),
            (0.975, 10_000.0, 1.960201239890626),
            (0.975, 10_001.0, 1.9602012161646407),
            (0.9999, 10_000.0, 3.720395869117668),
            (0.999_999_999, 10_000.0, 6.003355452553618),
            (0.975, 1e5, 1.9599877075346093),
            (0.9999, 1e5, 3.719154382641372),
            (0.975, 1e6, 1.9599663568141067),
        ];
        for (p, df, expected) in cases {
            let t = student_t_quantile(p, df).unwrap();
            assert!((t - expected).abs() <= REFERENCE_RTOL * expected, "t_{{{p},{df}}} = {t}, expected {expected}");
            // Symmetry.
            let lower = student_t_quantile(1.0 - p, df).unwrap();
            assert!((lower + expected).abs() <= REFERENCE_RTOL * expected, "t_{{{},{df}}} = {lower}", 1.0 - p);
        }
        assert_close(student_t_quantile(0.975, f64::INFINITY), 1.9599639845400542, REFERENCE_RTOL);
        assert_close(normal_quantile(0.975), 1.9599639845400542, REFERENCE_RTOL);
        assert_close(normal_quantile(0.025), -1.9599639845400542, REFERENCE_RTOL);
        assert_eq!(student_t_quantile(0.5, 3.0), Some(0.0));
        for bad in [(0.0, 3.0), (1.0, 3.0), (f64::NAN, 3.0), (0.9, 0.0), (0.9, -1.0), (0.9, f64::NAN)] {
            assert_eq!(student_t_quantile(bad.0, bad.1), None, "{bad:?}");
        }
    }

    #[test]
    fn student_t_cdf_matches_closed_forms_and_inverts_the_quantile() {
        // ν = 1 is the Cauchy distribution: F(t) = ½ + atan(t)/π, here through the incomplete beta.
        for t in [-30.0, -2.0, -0.1, 0.0, 0.5, 3.0, 100.0] {
            let expected = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert_close(student_t_cdf(t, 1.0), expected, 1e-14);
        }
        // Reference values from 40-digit arithmetic.
        assert_close(student_t_cdf(2.0, 3.0), 0.9303370157205784, 1e-14);
        assert_close(student_t_cdf(3.0, 1.5), 0.9332261228725434, 1e-14);
        for df in [0.7, 1.0, 2.5, 3.0, 8.0, 30.0, 1000.0] {
            for p in [0.001, 0.05, 0.3, 0.7, 0.95, 0.999] {
                let t = student_t_quantile(p, df).unwrap();
                assert_close(student_t_cdf(t, df), p, 1e-12);
            }
        }
        assert_eq!(student_t_cdf(f64::INFINITY, 4.0), Some(1.0));
        assert_eq!(student_t_cdf(f64::NEG_INFINITY, 4.0), Some(0.0));
        assert_eq!(student_t_cdf(1.0, 0.0), None);
    }

    #[test]
    fn batch_means_one_to_hundred() {
        // 1..=100 in 10 batches of 10: batch means 5.5, 15.5, …, 95.5, mean 50.5. The batch means
        // are 10·(1..=10) − 4.5, so their sample variance is 100 · var(1..=10) = 100 · 55/6 and
        // sd = 30.277; half width = t_{0.975,9} · 30.277 / √10 = 2.262 · 9.574 = 21.66.
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let ci = batch_means_ci(&values, 10, 0.95).unwrap();
        assert_close(Some(ci.mean), 50.5, EXACT_TOL);
        assert_close(Some(ci.half_width), 21.66, 5e-3);
        let t9 = student_t_quantile(0.975, 9.0).unwrap();
        assert_close(Some(ci.half_width), t9 * (100.0 * 55.0 / 6.0 / 10.0_f64).sqrt(), 1e-10);
        assert_close(Some(ci.half_width), 21.658505896681691, 1e-9);
        assert_close(Some(ci.lower), 50.5 - ci.half_width, EXACT_TOL);
        assert_close(Some(ci.upper), 50.5 + ci.half_width, EXACT_TOL);
        assert!(ci.contains(50.5) && !ci.contains(100.0));
        // The remainder at the end is dropped: 101..=105 change nothing.
        let longer: Vec<f64> = (1..=105).map(f64::from).collect();
        assert_eq!(batch_means_ci(&longer, 10, 0.95), Some(ci));
    }

    #[test]
    fn batch_means_rejects_bad_input() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(batch_means_ci(&values, 1, 0.95), None);
        assert_eq!(batch_means_ci(&values[..5], 10, 0.95), None);
        assert_eq!(batch_means_ci(&values, 10, 1.0), None);
        assert_eq!(batch_means_ci(&values, 10, 0.0), None);
        assert_eq!(batch_means_ci(&[1.0, f64::NAN, 3.0, 4.0], 2, 0.95), None);
    }

    #[test]
    fn mean_ci_hand_values() {
        // 1..=5: mean 3, s² = 10/4 = 2.5, half width = t_{0.975,4} · √2.5 / √5 = 2.7764 · 0.7071 = 1.9632.
        let ci = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap();
        assert_close(Some(ci.mean), 3.0, EXACT_TOL);
        assert_close(Some(ci.half_width), 1.9632, HAND_TOL);
        assert_close(Some(ci.half_width), 1.9632431614775571, 1e-10);
        assert_eq!(mean_ci(&[1.0], 0.95), None);
        assert_eq!(mean_ci(&[1.0, 2.0], f64::NAN), None);
    }
}
