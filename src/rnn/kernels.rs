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

/// Generic version of [`matmat_bias_strided`]: for every batch row `s` and weight row `r`,
/// `out[s·out_stride + r] = b[r] + dot(w[r·w_stride ..][..cols], x[s·cols ..][..cols])` with
/// [`dot_lanes`], exactly what [`matvec_bias_generic`] computes for one batch row. Weight rows are the
/// outer loop, so a row is read once from memory and then served to every batch row from cache.
#[inline(always)]
fn matmat_bias_generic(
    w: &[f32],
    w_stride: usize,
    x: &[f32],
    cols: usize,
    b: &[f32],
    out: &mut [f32],
    out_stride: usize,
) {
    for (r, bias) in b.iter().enumerate() {
        let row = &w[r * w_stride..r * w_stride + cols];
        for (s, xs) in x.chunks_exact(cols).enumerate() {
            out[s * out_stride + r] = bias + dot_lanes(row, xs);
        }
    }
}

/// One register block of [`matmat_bias_avx2`]: weight rows `r0 .. r0 + NW` against batch rows
/// `s0 .. s0 + NS`, `NS × NW` 256-bit accumulators; each weight load serves `NS` batch rows and each
/// input load `NW` weight rows. Every accumulator is exactly the accumulator of
/// [`matvec_bias_avx2`] for its (weight row, batch row), finished the same way.
///
/// # Safety
/// As [`matmat_bias_avx2`], with the block inside the shapes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn matmat_block_avx2<const NS: usize, const NW: usize>(
    w: &[f32],
    w_stride: usize,
    x: &[f32],
    cols: usize,
    b: &[f32],
    out: &mut [f32],
    out_stride: usize,
    (r0, s0): (usize, usize),
) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_setzero_ps, _mm256_storeu_ps, _mm_add_ps, _mm_hadd_ps, _mm_setzero_ps, _mm_storeu_ps,
    };
    let full = cols / LANES * LANES;
    let mut wp = [w.as_ptr(); NW];
    for (k, p) in wp.iter_mut().enumerate() {
        *p = w.as_ptr().add((r0 + k) * w_stride);
    }
    let mut xp = [x.as_ptr(); NS];
    for (k, p) in xp.iter_mut().enumerate() {
        *p = x.as_ptr().add((s0 + k) * cols);
    }
    let mut acc: [[__m256; NW]; NS] = [[_mm256_setzero_ps(); NW]; NS];
    let mut c = 0;
    while c < full {
        let mut wv = [_mm256_setzero_ps(); NW];
        for k in 0..NW {
            wv[k] = _mm256_loadu_ps(wp[k].add(c));
        }
        for s in 0..NS {
            let v = _mm256_loadu_ps(xp[s].add(c));
            for k in 0..NW {
                acc[s][k] = _mm256_add_ps(acc[s][k], _mm256_mul_ps(wv[k], v));
            }
        }
        c += LANES;
    }
    if full == cols {
        // No tail: reduce four accumulators at a time with the same tree as `reduce_lanes`. For each,
        // `lo + hi` gives `[a0+a4, a1+a5, a2+a6, a3+a7]`; one horizontal add of two of these gives
        // `(a0+a4)+(a1+a5)` and `(a2+a6)+(a3+a7)`, and a second one their sum (IEEE addition is
        // commutative, so the operands' order inside each addition does not change the bits).
        const { assert!(NS * NW <= 8, "a register block holds at most 8 accumulators") };
        let mut quads = [_mm_setzero_ps(); 8];
        let mut n = 0;
        for accs in &acc {
            for &a in accs {
                quads[n] = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
                n += 1;
            }
        }
        let mut sums = [0.0f32; 8];
        let mut start = 0;
        while start < n {
            // Past the last accumulator, repeat it (those sums are not used).
            let (q0, q1) = (quads[start], quads[(start + 1).min(n - 1)]);
            let (q2, q3) = (quads[(start + 2).min(n - 1)], quads[(start + 3).min(n - 1)]);
            let total = _mm_hadd_ps(_mm_hadd_ps(q0, q1), _mm_hadd_ps(q2, q3));
            let mut four = [0.0f32; 4];
            _mm_storeu_ps(four.as_mut_ptr(), total);
            let take = (n - start).min(4);
            sums[start..start + take].copy_from_slice(&four[..take]);
            start += 4;
        }
        for s in 0..NS {
            for k in 0..NW {
                out[(s0 + s) * out_stride + r0 + k] = b[r0 + k] + sums[s * NW + k];
            }
        }
        return;
    }
    for (s, accs) in acc.iter().enumerate() {
        let xs = &x[(s0 + s) * cols..(s0 + s + 1) * cols];
        for (k, &a) in accs.iter().enumerate() {
            let row = &w[(r0 + k) * w_stride..(r0 + k) * w_stride + cols];
            let mut lanes = [0.0f32; LANES];
            _mm256_storeu_ps(lanes.as_mut_ptr(), a);
            for (lane, col) in (full..cols).enumerate() {
                lanes[lane] += row[col] * xs[col];
            }
            out[(s0 + s) * out_stride + r0 + k] = b[r0 + k] + reduce_lanes(&lanes);
        }
    }
}

/// AVX2 version of [`matmat_bias_generic`]: blocks of 2 weight rows × 4 batch rows (8 accumulators),
/// then the leftover batch rows and weight row; the same lanes and reduction as [`matvec_bias_avx2`],
/// so identical bits. Weight-row pairs are the outer loop, so a pair stays in L1 while every batch
/// row passes it.
///
/// # Safety
/// The CPU must support AVX2; `cols > 0`, `w_stride >= cols`, `x.len()` a multiple of `cols` (the batch
/// rows), `w.len() >= (b.len() − 1) · w_stride + cols` when `b` is not empty and
/// `out.len() >= (batch − 1) · out_stride + b.len()` when the batch is not empty, `out_stride >= b.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matmat_bias_avx2(
    w: &[f32],
    w_stride: usize,
    x: &[f32],
    cols: usize,
    b: &[f32],
    out: &mut [f32],
    out_stride: usize,
) {
    const BATCH_BLOCK: usize = 4;
    const ROW_BLOCK: usize = 2;
    let rows = b.len();
    let batch = x.len() / cols;
    let mut r = 0;
    while r + ROW_BLOCK <= rows {
        let mut s = 0;
        while s + BATCH_BLOCK <= batch {
            matmat_block_avx2::<BATCH_BLOCK, ROW_BLOCK>(w, w_stride, x, cols, b, out, out_stride, (r, s));
            s += BATCH_BLOCK;
        }
        while s < batch {
            matmat_block_avx2::<1, ROW_BLOCK>(w, w_stride, x, cols, b, out, out_stride, (r, s));
            s += 1;
        }
        r += ROW_BLOCK;
    }
    while r < rows {
        let mut s = 0;
        while s + BATCH_BLOCK <= batch {
            matmat_block_avx2::<BATCH_BLOCK, 1>(w, w_stride, x, cols, b, out, out_stride, (r, s));
            s += BATCH_BLOCK;
        }
        while s < batch {
            matmat_block_avx2::<1, 1>(w, w_stride, x, cols, b, out, out_stride, (r, s));
            s += 1;
        }
        r += 1;
    }
}

/// Batched `out_s = W x_s + b` for a batch of input rows `x_s` (the same weights applied to every
/// stream of a batch): `W` row-major `b.len() × cols` with `cols = w.len() / b.len()`, `x` the batch's
/// inputs packed row-major (`batch × cols`, `batch = x.len() / cols`), `out` the results packed
/// (`batch × b.len()`).
///
/// **Every output has exactly the bits [`matvec_bias`] gives for its batch row** on either instruction
/// set (same 8-lane partial sums, same reduction tree, no FMA): batching changes the speed only. On
/// AVX2 the product runs in register blocks of 2 weight rows × 4 batch rows, so each weight load
/// serves four streams.
///
/// # Panics
/// If `b` is empty, `w.len()` is not a multiple of `b.len()`, `x.len()` not a multiple of `cols`
/// or `out.len() != batch · b.len()` (programming errors; shapes are checked when a model is loaded).
#[inline]
pub fn matmat_bias(isa: KernelIsa, w: &[f32], x: &[f32], b: &[f32], out: &mut [f32]) {
    let rows = b.len();
    assert!(rows > 0 && !w.is_empty() && w.len().is_multiple_of(rows), "matmat_bias: weight shape");
    let cols = w.len() / rows;
    assert_eq!(x.len() % cols, 0, "matmat_bias: input shape (batch × cols)");
    assert_eq!(out.len(), x.len() / cols * rows, "matmat_bias: output shape (batch × rows)");
    matmat_bias_strided(isa, w, cols, x, cols, b, out, rows);
}

/// [`matmat_bias`] on the leading `cols` columns of a row-major matrix with `row_stride` columns (as
/// [`matvec_bias_strided`]), writing batch row `s`'s results to `out[s·out_stride ..][..b.len()]`
/// (so that each stream's gate blocks can sit side by side in one buffer). `x` holds the batch's
/// inputs packed (`batch × cols`, `batch = x.len() / cols`). Every output has exactly the bits of
/// [`matvec_bias_strided`] (hence of [`matvec_bias`] on a packed copy) for its batch row, on every
/// instruction set.
///
/// # Panics
/// If `cols == 0`, `row_stride < cols`, `out_stride < b.len()`, `x.len()` is not a multiple of
/// `cols`, or `w` or `out` is too short for the shapes (programming errors).
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn matmat_bias_strided(
    isa: KernelIsa,
    w: &[f32],
    row_stride: usize,
    x: &[f32],
    cols: usize,
    b: &[f32],
    out: &mut [f32],
    out_stride: usize,
) {
    assert!(cols > 0 && row_stride >= cols, "matmat_bias_strided: stride shorter than a row");
    assert!(out_stride >= b.len(), "matmat_bias_strided: output stride shorter than a row of results");
    assert_eq!(x.len() % cols, 0, "matmat_bias_strided: input shape (batch × cols)");
    let batch = x.len() / cols;
    if batch == 0 || b.is_empty() {
        return;
    }
    assert!(w.len() >= (b.len() - 1) * row_stride + cols, "matmat_bias_strided: weight shape");
    assert!(out.len() >= (batch - 1) * out_stride + b.len(), "matmat_bias_strided: output shape");
    match isa {
        #[cfg(target_arch = "x86_64")]
        KernelIsa(Isa::Avx2) => unsafe {
            // SAFETY: `Isa::Avx2` is private and only constructed by `KernelIsa::avx2()` after
            // `is_x86_feature_detected!("avx2")` returned true, so this CPU has AVX2; the shapes were
            // checked above.
            matmat_bias_avx2(w, row_stride, x, cols, b, out, out_stride)
        },
        _ => matmat_bias_generic(w, row_stride, x, cols, b, out, out_stride),
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

    /// Values in about `[-1, 1]` from a fixed integer hash (no RNG needed, same on every run).
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((((i + 1) * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0) * 0.9).collect()
    }

    #[test]
    fn batched_product_gives_every_row_the_bits_of_the_matvec_on_both_isas() {
        // Rows odd and even (the 2-row blocks and their leftover), cols below, at and off a multiple of
        // 8 (the lanes' tail), batches below, at and off a multiple of 4 (the 4-row blocks).
        let mut cases = 0;
        for (rows, cols) in [(1, 1), (3, 5), (2, 8), (7, 9), (12, 16), (13, 37), (192, 64), (96, 33), (5, 130)] {
            for batch in [0, 1, 2, 3, 4, 5, 8, 11, 32] {
                let w = values(rows * cols, rows + cols);
                let x = values(batch * cols, batch + 3);
                let b = values(rows, 11);
                for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                    let mut out = vec![f32::NAN; batch * rows];
                    matmat_bias(isa, &w, &x, &b, &mut out);
                    for s in 0..batch {
                        let mut expected = vec![0.0f32; rows];
                        matvec_bias(KernelIsa::baseline(), &w, &x[s * cols..(s + 1) * cols], &b, &mut expected);
                        let got = &out[s * rows..(s + 1) * rows];
                        let same = got.iter().zip(&expected).all(|(g, e)| g.to_bits() == e.to_bits());
                        assert!(same, "{rows}×{cols}, batch {batch}, row {s}, {isa:?}: {got:?} vs {expected:?}");
                    }
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 81);
    }

    #[test]
    fn strided_batched_product_equals_the_strided_matvec_bit_for_bit_and_leaves_gaps_alone() {
        // The leading `cols` of `stride` columns, results `out_stride` apart starting at an offset (as
        // the nested model writes one gate block of every stream).
        for (rows, stride, cols, batch, out_stride, offset) in
            [(7, 20, 9, 5, 21, 7), (16, 64, 16, 4, 48, 16), (13, 128, 37, 9, 39, 0), (3, 5, 1, 3, 3, 0)]
        {
            let w = values(rows * stride, stride);
            let x = values(batch * cols, cols);
            let b = values(rows, 5);
            for isa in [KernelIsa::baseline(), KernelIsa::detect()] {
                let mut out = vec![-7.0f32; offset + batch * out_stride];
                matmat_bias_strided(isa, &w, stride, &x, cols, &b, &mut out[offset..], out_stride);
                for s in 0..batch {
                    let mut expected = vec![0.0f32; rows];
                    matvec_bias_strided(
                        KernelIsa::baseline(),
                        &w,
                        stride,
                        &x[s * cols..(s + 1) * cols],
                        &b,
                        &mut expected,
                    );
                    let start = offset + s * out_stride;
                    let got = &out[start..start + rows];
                    assert!(got.iter().zip(&expected).all(|(g, e)| g.to_bits() == e.to_bits()), "{isa:?} row {s}");
                    assert!(out[start + rows..start + out_stride].iter().all(|&v| v == -7.0), "gap after row {s}");
                }
                assert!(out[..offset].iter().all(|&v| v == -7.0), "before the offset");
            }
        }
    }
}
