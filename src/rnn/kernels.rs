//! Dense step kernels: matrix–vector products with a fixed accumulation order.
//!
//! `matvec_bias(w, x, b, out)` computes `out[r] = b[r] + Σ_c w[r·cols + c] · x[c]` for a row-major
//! `rows × cols` matrix. Each dot product keeps 8 partial sums (lane `c mod 8`) and reduces them in a
//! fixed tree, so the result is bit-identical whichever instruction set runs it: on x86-64 with AVX2 the
//! same code is compiled a second time with AVX2 enabled (no FMA, so no contraction changes rounding)
//! and chosen at run time.

const LANES: usize = 8;

#[inline(always)]
fn dot_lanes(row: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let row_chunks = row.chunks_exact(LANES);
    let x_chunks = x.chunks_exact(LANES);
    let row_tail = row_chunks.remainder();
    let x_tail = x_chunks.remainder();
    for (w, v) in row_chunks.zip(x_chunks) {
        for lane in 0..LANES {
            acc[lane] += w[lane] * v[lane];
        }
    }
    for (lane, (w, v)) in row_tail.iter().zip(x_tail).enumerate() {
        acc[lane] += w * v;
    }
    reduce_lanes(&acc)
}

#[inline(always)]
fn reduce_lanes(acc: &[f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

#[inline(always)]
fn matvec_bias_generic(w: &[f32], x: &[f32], b: &[f32], out: &mut [f32]) {
    let cols = x.len();
    for ((o, row), bias) in out.iter_mut().zip(w.chunks_exact(cols)).zip(b) {
        *o = bias + dot_lanes(row, x);
    }
}

/// AVX2 version of [`matvec_bias_generic`] with explicit intrinsics: lane `l` of a row's 256-bit
/// accumulator is exactly `acc[l]` of [`dot_lanes`] (same products, same additions, no FMA), and the
/// reduction is the same tree, so the two give identical bits. Rows are processed four at a time.
///
/// # Safety
/// The CPU must support AVX2, `w.len() == out.len() * x.len()` and `b.len() == out.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matvec_bias_avx2(w: &[f32], x: &[f32], b: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let cols = x.len();
    let rows = out.len();
    let full = cols / LANES * LANES;
    let finish = |acc: __m256, row: &[f32]| -> f32 {
        let mut lanes = [0.0f32; LANES];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        for (lane, col) in (full..cols).enumerate() {
            lanes[lane] += row[col] * x[col];
        }
        reduce_lanes(&lanes)
    };
    let xp = x.as_ptr();
    let mut r = 0;
    while r + 4 <= rows {
        let p0 = w.as_ptr().add(r * cols);
        let (p1, p2, p3) = (p0.add(cols), p0.add(2 * cols), p0.add(3 * cols));
        let (mut a0, mut a1, mut a2, mut a3) =
            (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
        let mut c = 0;
        while c < full {
            let v = _mm256_loadu_ps(xp.add(c));
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(p0.add(c)), v));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(p1.add(c)), v));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(p2.add(c)), v));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(p3.add(c)), v));
            c += LANES;
        }
        for (k, acc) in [a0, a1, a2, a3].into_iter().enumerate() {
            out[r + k] = b[r + k] + finish(acc, &w[(r + k) * cols..(r + k + 1) * cols]);
        }
        r += 4;
    }
    while r < rows {
        let p0 = w.as_ptr().add(r * cols);
        let mut a0 = _mm256_setzero_ps();
        let mut c = 0;
        while c < full {
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(p0.add(c)), _mm256_loadu_ps(xp.add(c))));
            c += LANES;
        }
        out[r] = b[r] + finish(a0, &w[r * cols..(r + 1) * cols]);
        r += 1;
    }
}

/// Which compiled variant of the kernels a cell runs: the baseline target, or the AVX2 variant when
/// this CPU has AVX2.
///
/// The variant is private, so safe code can only obtain the AVX2 variant through a checked
/// constructor ([`KernelIsa::detect`], [`KernelIsa::avx2`]): a value that selects the AVX2 kernels
/// proves that AVX2 was detected on this machine, which is what the kernels' `unsafe` calls rely on.
/// Both variants give identical bits (see the module doc), so the choice affects speed only.
///
/// ```compile_fail
/// // The AVX2 variant cannot be named from safe code: it is not a public variant.
/// let _ = flexrnn::rnn::kernels::KernelIsa::Avx2;
/// ```
/// ```
/// use flexrnn::rnn::kernels::KernelIsa;
/// let isa = KernelIsa::avx2().unwrap_or(KernelIsa::baseline()); // what `detect` does
/// assert_eq!(isa, KernelIsa::detect());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelIsa(Isa);

/// The instruction sets behind [`KernelIsa`]; private so that `Avx2` is only made after detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// The baseline target (SSE2 on x86-64).
    Baseline,
    /// x86-64 AVX2, constructed only after `is_x86_feature_detected!("avx2")` returned true.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl KernelIsa {
    /// The best variant for this CPU: AVX2 if detected, else the baseline (the detection result is
    /// cached by the standard library).
    pub fn detect() -> KernelIsa {
        KernelIsa::avx2().unwrap_or(KernelIsa::baseline())
    }

    /// The baseline variant, valid on every CPU of the target (for tests and benchmarks that compare
    /// the two).
    pub const fn baseline() -> KernelIsa {
        KernelIsa(Isa::Baseline)
    }

    /// The AVX2 variant if this CPU supports AVX2 (checked at run time); `None` otherwise and on other
    /// architectures.
    pub fn avx2() -> Option<KernelIsa> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return Some(KernelIsa(Isa::Avx2));
            }
        }
        None
    }

    /// The variant's name: `baseline` or `avx2`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Isa::Baseline => "baseline",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
        }
    }
}

/// `out = W x + b` for row-major `W` of shape `out.len() × x.len()`.
///
/// # Panics
/// If `w.len() != out.len() * x.len()` or `b.len() != out.len()` (a programming error; shapes are
/// checked when a model is loaded).
#[inline]
pub fn matvec_bias(isa: KernelIsa, w: &[f32], x: &[f32], b: &[f32], out: &mut [f32]) {
    assert_eq!(w.len(), out.len() * x.len(), "matvec_bias: weight shape");
    assert_eq!(b.len(), out.len(), "matvec_bias: bias shape");
    match isa {
        #[cfg(target_arch = "x86_64")]
        KernelIsa(Isa::Avx2) => unsafe {
            // SAFETY: `Isa::Avx2` is private and only constructed by `KernelIsa::avx2()` after
            // `is_x86_feature_detected!("avx2")` returned true, so this CPU has AVX2; the shapes were
            // asserted above.
            matvec_bias_avx2(w, x, b, out)
        },
        _ => matvec_bias_generic(w, x, b, out),
    }
}

/// Generic version of [`matvec_bias_strided`]: row `r` is `w[r·stride .. r·stride + cols]`.
#[inline(always)]
fn matvec_bias_strided_generic(w: &[f32], row_stride: usize, x: &[f32], b: &[f32], out: &mut [f32]) {
    let cols = x.len();
    for (r, (o, bias)) in out.iter_mut().zip(b).enumerate() {
        *o = bias + dot_lanes(&w[r * row_stride..r * row_stride + cols], x);
    }
}

/// AVX2 version of [`matvec_bias_strided_generic`], the same lanes and reduction as
/// [`matvec_bias_avx2`] (so identical bits), with rows `row_stride` floats apart.
///
/// # Safety
/// The CPU must support AVX2, `row_stride >= x.len()`, `b.len() == out.len()` and, when
/// `out.len() > 0`, `w.len() >= (out.len() − 1) · row_stride + x.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matvec_bias_strided_avx2(w: &[f32], row_stride: usize, x: &[f32], b: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let cols = x.len();
    let rows = out.len();
    let full = cols / LANES * LANES;
    let finish = |acc: __m256, row: &[f32]| -> f32 {
        let mut lanes = [0.0f32; LANES];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        for (lane, col) in (full..cols).enumerate() {
            lanes[lane] += row[col] * x[col];
        }
        reduce_lanes(&lanes)
    };
    let row = |r: usize| &w[r * row_stride..r * row_stride + cols];
    let xp = x.as_ptr();
    let mut r = 0;
    while r + 4 <= rows {
        let (p0, p1, p2, p3) = (row(r).as_ptr(), row(r + 1).as_ptr(), row(r + 2).as_ptr(), row(r + 3).as_ptr());
        let (mut a0, mut a1, mut a2, mut a3) =
            (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
        let mut c = 0;
        while c < full {
            let v = _mm256_loadu_ps(xp.add(c));
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(p0.add(c)), v));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(p1.add(c)), v));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(p2.add(c)), v));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(p3.add(c)), v));
            c += LANES;
        }
        for (k, acc) in [a0, a1, a2, a3].into_iter().enumerate() {
            out[r + k] = b[r + k] + finish(acc, row(r + k));
        }
        r += 4;
    }
    while r < rows {
        let p0 = row(r).as_ptr();
        let mut a0 = _mm256_setzero_ps();
        let mut c = 0;
        while c < full {
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(p0.add(c)), _mm256_loadu_ps(xp.add(c))));
            c += LANES;
        }
        out[r] = b[r] + finish(a0, row(r));
        r += 1;
    }
}

/// `out = W x + b` where row `r` of `W` is `w[r·row_stride .. r·row_stride + x.len()]`: the leading
/// `x.len()` columns of a row-major matrix with `row_stride` columns (the nested-width GRU uses the
/// first `w` of `H` columns of `weight_hh`). Same lanes and reduction as [`matvec_bias`], so the result
/// is bit-identical to [`matvec_bias`] on a packed copy of those columns, on every instruction set.
///
/// # Panics
/// If `row_stride < x.len()`, `b.len() != out.len()` or `w` is too short for `out.len()` rows (a
/// programming error; shapes are checked when a model is loaded).
#[inline]
pub fn matvec_bias_strided(isa: KernelIsa, w: &[f32], row_stride: usize, x: &[f32], b: &[f32], out: &mut [f32]) {
    assert!(row_stride >= x.len(), "matvec_bias_strided: stride shorter than a row");
    assert_eq!(b.len(), out.len(), "matvec_bias_strided: bias shape");
    if out.is_empty() {
        return;
    }
    assert!(w.len() >= (out.len() - 1) * row_stride + x.len(), "matvec_bias_strided: weight shape");
    match isa {
        #[cfg(target_arch = "x86_64")]
        KernelIsa(Isa::Avx2) => unsafe {
            // SAFETY: `Isa::Avx2` is private and only constructed by `KernelIsa::avx2()` after
            // `is_x86_feature_detected!("avx2")` returned true, so this CPU has AVX2; the shapes were
            // checked above.
            matvec_bias_strided_avx2(w, row_stride, x, b, out)
        },
        _ => matvec_bias_strided_generic(w, row_stride, x, b, out),
    }
}

/// `e^x` for `f32`, branch-free so that loops over it vectorise: Cody–Waite range reduction
/// `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`, then the degree-6 polynomial of Cephes' `expf` (S. Moshier), then
/// scaling by `2^n` through the exponent bits. Inputs are clamped to `[-87.3, 88.3]` (results from
/// about `1.2e-38` to `2.1e38`); relative error about `2e-7` (checked against `f64::exp` in the tests).
/// Uses only `+`, `−`, `×` and conversions, never fused, so every instruction set gives the same bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer for |v| < 2^22.
    const ROUND: f32 = 12_582_912.0;
    // Not `clamp`: `max`/`min` map a NaN input to -87.3 instead of passing it on, as always here.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.3).min(88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    // Cephes' 5.0000001e-1, which is 0.5 in f32.
    p = p * r + 0.5;
    let e_r = (p * r) * r + r + 1.0;
    e_r * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// Logistic sigmoid `1 / (1 + e^{-x})` with [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x = 2σ(2x) − 1` with [`sigmoid`] (absolute error below `1e-6`).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

#[inline(always)]
fn gru_update_generic(gate_input: &[f32], gate_hidden: &[f32], h: &mut [f32]) {
    let hidden = h.len();
    let (input_r, rest) = gate_input.split_at(hidden);
    let (input_z, input_n) = rest.split_at(hidden);
    let (hidden_r, rest) = gate_hidden.split_at(hidden);
    let (hidden_z, hidden_n) = rest.split_at(hidden);
    let input_n = &input_n[..hidden];
    let hidden_n = &hidden_n[..hidden];
    for j in 0..hidden {
        let r = sigmoid(input_r[j] + hidden_r[j]);
        let z = sigmoid(input_z[j] + hidden_z[j]);
        let n = tanh(input_n[j] + r * hidden_n[j]);
        h[j] = n + z * (h[j] - n);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gru_update_avx2(gate_input: &[f32], gate_hidden: &[f32], h: &mut [f32]) {
    gru_update_generic(gate_input, gate_hidden, h)
}

/// The element-wise part of a GRU step (PyTorch gate order r, z, n):
/// `r = σ(gi_r + gh_r)`, `z = σ(gi_z + gh_z)`, `n = tanh(gi_n + r ⊙ gh_n)`, `h ← n + z ⊙ (h − n)`, where
/// `gate_input = W_i x + b_i` and `gate_hidden = W_h h + b_h` each hold `3H` values.
///
/// # Panics
/// If the gate slices are shorter than `3 · h.len()`.
#[inline]
pub fn gru_update(isa: KernelIsa, gate_input: &[f32], gate_hidden: &[f32], h: &mut [f32]) {
    assert!(gate_input.len() >= 3 * h.len() && gate_hidden.len() >= 3 * h.len(), "gru_update: gate shape");
    match isa {
        #[cfg(target_arch = "x86_64")]
        KernelIsa(Isa::Avx2) => unsafe {
            // SAFETY: `Isa::Avx2` is private and only constructed by `KernelIsa::avx2()` after
            // `is_x86_feature_detected!("avx2")` returned true, so this CPU has AVX2.
            gru_update_avx2(gate_input, gate_hidden, h)
        },
        _ => gru_update_generic(gate_input, gate_hidden, h),
    }
}

#[inline(always)]
fn lstm_update_generic(gate_input: &[f32], gate_hidden: &[f32], h: &mut [f32], c: &mut [f32]) {
    let hidden = h.len();
    let c = &mut c[..hidden];
    let (input_i, rest) = gate_input.split_at(hidden);
    let (input_f, rest) = rest.split_at(hidden);
    let (input_g, input_o) = rest.split_at(hidden);
    let (hidden_i, rest) = gate_hidden.split_at(hidden);
    let (hidden_f, rest) = rest.split_at(hidden);
    let (hidden_g, hidden_o) = rest.split_at(hidden);
    let (input_o, hidden_o) = (&input_o[..hidden], &hidden_o[..hidden]);
    for j in 0..hidden {
        let i = sigmoid(input_i[j] + hidden_i[j]);
        let f = sigmoid(input_f[j] + hidden_f[j]);
        let g = tanh(input_g[j] + hidden_g[j]);
        let o = sigmoid(input_o[j] + hidden_o[j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * tanh(c[j]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lstm_update_avx2(gate_input: &[f32], gate_hidden: &[f32], h: &mut [f32], c: &mut [f32]) {
    lstm_update_generic(gate_input, gate_hidden, h, c)
}

/// The element-wise part of an LSTM step (PyTorch gate order i, f, g, o):
/// `i = σ(gi_i + gh_i)`, `f = σ(gi_f + gh_f)`, `g = tanh(gi_g + gh_g)`, `o = σ(gi_o + gh_o)`,
/// `c ← f ⊙ c + i ⊙ g`, `h ← o ⊙ tanh(c)`, where `gate_input = W_i x + b_i` and
/// `gate_hidden = W_h h + b_h` each hold `4H` values. Uses only `+`, `−`, `×` (never fused), so every
/// instruction set gives the same bits.
///
/// # Panics
/// If the gate slices are shorter than `4 · h.len()` or `c` is shorter than `h`.
#[inline]
pub fn lstm_update(isa: KernelIsa, gate_input: &[f32], gate_hidden: &[f32], h: &mut [f32], c: &mut [f32]) {
    assert!(
        gate_input.len() >= 4 * h.len() && gate_hidden.len() >= 4 * h.len() && c.len() >= h.len(),
        "lstm_update: gate or cell-state shape"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        KernelIsa(Isa::Avx2) => unsafe {
            // SAFETY: `Isa::Avx2` is private and only constructed by `KernelIsa::avx2()` after
            // `is_x86_feature_detected!("avx2")` returned true, so this CPU has AVX2.
            lstm_update_avx2(gate_input, gate_hidden, h, c)
        },
        _ => lstm_update_generic(gate_input, gate_hidden, h, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_tanh_are_accurate() {
        let mut worst_exp = 0.0f64;
        let mut worst_tanh = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let exact = (x as f64).exp();
            worst_exp = worst_exp.max(((exp(x) as f64) - exact).abs() / exact);
            worst_tanh = worst_tanh.max(((tanh(x / 8.0) as f64) - ((x / 8.0) as f64).tanh()).abs());
            x += 0.001_37;
        }
        assert!(worst_exp < 5e-7, "exp relative error {worst_exp}");
        assert!(worst_tanh < 1e-6, "tanh absolute error {worst_tanh}");
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-1000.0) < 1e-38 && sigmoid(-1000.0) >= 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!(tanh(-30.0) == -1.0 && tanh(30.0) == 1.0);
    }

    #[test]
    fn the_avx2_variant_exists_only_where_avx2_was_detected() {
        #[cfg(target_arch = "x86_64")]
        let has_avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let has_avx2 = false;
        assert_eq!(KernelIsa::avx2().is_some(), has_avx2);
        assert_eq!(KernelIsa::detect().name(), if has_avx2 { "avx2" } else { "baseline" });
        assert_eq!(KernelIsa::baseline().name(), "baseline");
    }

    #[test]
    fn matvec_matches_hand_computed_values_on_both_isas() {
        // 2 × 9 so that both the 8-lane body and the tail are used.
        let w: Vec<f32> = (0..18).map(|i| i as f32).collect();
        let x = [1.0f32, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0];
        let b = [0.5f32, -0.5];
        for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
            let mut out = [0.0f32; 2];
            matvec_bias(isa, &w, &x, &b, &mut out);
            // row 0: 0·1 + 2·2 + 8·(-1) = -4; row 1: 9 + 11·2 - 17 = 14
            assert_eq!(out, [-3.5, 13.5]);
        }
    }

    #[test]
    fn strided_matvec_equals_packed_matvec_bit_for_bit_on_both_isas() {
        // The leading `cols` columns of a `rows × stride` matrix, for tails and 4-row blocks alike.
        for (rows, stride, cols) in [(7, 20, 9), (16, 64, 16), (13, 128, 37), (5, 8, 8), (3, 5, 1)] {
            let w: Vec<f32> = (0..rows * stride).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.3).collect();
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.77).sin()).collect();
            let b: Vec<f32> = (0..rows).map(|i| i as f32 * 0.01).collect();
            let packed: Vec<f32> = w.chunks_exact(stride).flat_map(|row| row[..cols].to_vec()).collect();
            let mut expected = vec![0.0f32; rows];
            matvec_bias(KernelIsa::baseline(), &packed, &x, &b, &mut expected);
            for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                let mut out = vec![0.0f32; rows];
                matvec_bias_strided(isa, &w, stride, &x, &b, &mut out);
                assert_eq!(out, expected, "{rows}×{stride}, first {cols} columns, {isa:?}");
                let mut packed_out = vec![0.0f32; rows];
                matvec_bias(isa, &packed, &x, &b, &mut packed_out);
                assert_eq!(packed_out, expected, "{isa:?} packed");
            }
        }
    }
}
