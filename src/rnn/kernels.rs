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
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

#[inline(always)]
fn matvec_bias_generic(w: &[f32], x: &[f32], b: &[f32], out: &mut [f32]) {
    let cols = x.len();
    for ((o, row), bias) in out.iter_mut().zip(w.chunks_exact(cols)).zip(b) {
        *o = bias + dot_lanes(row, x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matvec_bias_avx2(w: &[f32], x: &[f32], b: &[f32], out: &mut [f32]) {
    matvec_bias_generic(w, x, b, out)
}

/// Which compiled variant of the kernels this machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelIsa {
    /// The baseline target (SSE2 on x86-64).
    Baseline,
    /// x86-64 AVX2 (detected at run time).
    Avx2,
}

impl KernelIsa {
    /// Detects the best variant for this CPU (the detection result is cached by the standard library).
    pub fn detect() -> KernelIsa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return KernelIsa::Avx2;
            }
        }
        KernelIsa::Baseline
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
        KernelIsa::Avx2 => unsafe {
            // SAFETY: `KernelIsa::Avx2` is only produced by `detect()` after AVX2 was detected.
            matvec_bias_avx2(w, x, b, out)
        },
        _ => matvec_bias_generic(w, x, b, out),
    }
}

/// Logistic sigmoid `1 / (1 + e^{-x})`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matvec_matches_hand_computed_values_on_both_isas() {
        // 2 × 9 so that both the 8-lane body and the tail are used.
        let w: Vec<f32> = (0..18).map(|i| i as f32).collect();
        let x = [1.0f32, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0];
        let b = [0.5f32, -0.5];
        for isa in [KernelIsa::Baseline, KernelIsa::detect()] {
            let mut out = [0.0f32; 2];
            matvec_bias(isa, &w, &x, &b, &mut out);
            // row 0: 0·1 + 2·2 + 8·(-1) = -4; row 1: 9 + 11·2 - 17 = 14
            assert_eq!(out, [-3.5, 13.5]);
        }
    }
}
