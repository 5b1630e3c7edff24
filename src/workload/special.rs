//! Special functions the work distributions need for their means: the gamma function Γ (Weibull) and
//! the complementary error function erfc, hence the standard normal density φ and distribution Φ
//! (normal truncated at zero). Small, well-known approximations, so that no crate is added for them.

/// Lanczos parameter g of [`gamma`] and [`ln_gamma`].
const LANCZOS_G: f64 = 7.0;

/// The nine Lanczos coefficients for g = 7 (the widely published set).
const LANCZOS_P: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0`: the Lanczos approximation (g = 7, nine terms), with the reflection formula
/// below ½; relative error about 1e-15.
pub fn ln_gamma(x: f64) -> f64 {
    use std::f64::consts::PI;
    if x < 0.5 {
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = LANCZOS_P[0];
    for (i, c) in LANCZOS_P.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The gamma function Γ(x), by the Lanczos approximation with g = 7 and 9 coefficients (the widely
/// published set, e.g. Numerical Recipes / Wikipedia "Lanczos approximation"):
/// `Γ(z + 1) = √(2π) · t^(z + ½) · e^(−t) · A(z)`, `t = z + g + ½`, `A(z) = p₀ + Σᵢ pᵢ / (z + i)`.
/// Relative error about 1e-15 for moderate x > 0, growing to about 1e-13 near the overflow (the power
/// t^(z + ½) amplifies rounding); for x < ½ the reflection formula
/// `Γ(x) = π / (sin(πx) · Γ(1 − x))` is used. Overflows to `+∞` beyond x ≈ 171.6, like `f64` itself.
pub fn gamma(x: f64) -> f64 {
    const G: f64 = LANCZOS_G;
    const P: [f64; 9] = LANCZOS_P;
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    let z = x - 1.0;
    let a = P[1..].iter().enumerate().fold(P[0], |sum, (i, p)| sum + p / (z + (i + 1) as f64));
    let t = z + G + 0.5;
    // t^(z + ½) is split in two halves so that it does not overflow before e^(−t) brings it down.
    let half = t.powf((z + 0.5) / 2.0);
    (2.0 * std::f64::consts::PI).sqrt() * half * ((-t).exp() * half) * a
}

/// The complementary error function `erfc(x) = 1 − erf(x) = (2/√π) ∫ₓ^∞ e^(−t²) dt`, by the Chebyshev
/// fit `erfcc` of Numerical Recipes (Press et al., 2nd ed., §6.2): relative error below 1.2e-7 for
/// every x.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * (-z * z + poly).exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// Density of the standard normal distribution, `φ(x) = e^(−x²/2) / √(2π)`.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Distribution function of the standard normal distribution, `Φ(x) = ½ erfc(−x / √2)` (relative error
/// below 1.2e-7, from [`erfc`]).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative(got: f64, want: f64) -> f64 {
        ((got - want) / want).abs()
    }

    #[test]
    fn erfc_matches_known_values() {
        // Reference values (Abramowitz & Stegun, table 7.1; erfc(3) from the series).
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122),
            (1.0, 0.157_299_207),
            (2.0, 0.004_677_735),
            (3.0, 2.209_049_7e-5),
            (-1.0, 1.842_700_793),
            (-2.0, 1.995_322_265),
        ] {
            let got = erfc(x);
            assert!(relative(got, want) < 1.2e-7, "erfc({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn normal_cdf_and_pdf_match_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!(relative(normal_cdf(1.0), 0.841_344_746) < 2e-7, "{}", normal_cdf(1.0));
        assert!(relative(normal_cdf(-1.96), 0.024_997_895) < 2e-7, "{}", normal_cdf(-1.96));
        assert!(relative(normal_pdf(1.0), 0.241_970_724_519_143_37) < 1e-15);
    }

    #[test]
    fn gamma_matches_known_values() {
        let sqrt_pi = std::f64::consts::PI.sqrt();
        for (x, want) in [
            (1.0, 1.0),
            (2.0, 1.0),
            (5.0, 24.0),
            (10.0, 362_880.0),
            (0.5, sqrt_pi),
            (1.5, sqrt_pi / 2.0),
            (0.1, 9.513_507_698_668_732),
            (171.0, 7.257_415_615_307_994e306), // 170!
        ] {
            let got = gamma(x);
            let tolerance = if x > 100.0 { 1e-12 } else { 1e-14 };
            assert!(relative(got, want) < tolerance, "Γ({x}) = {got:e}, want {want:e}");
        }
        assert_eq!(gamma(180.0), f64::INFINITY);
    }
}
