//! Fused training kernels: the GRU and LSTM cell updates and the per-step views of the input gates
//! as `candle` custom ops, each with a hand-written backward pass that reproduces, bit for bit, what
//! `candle`'s autodiff computes for the chain of small operations they replace.
//!
//! A GRU update in plain `candle` ops is 16 nodes (6 views, 3 adds, 2 sigmoids, a multiply, a tanh,
//! a subtract, a multiply, an add), each allocating its output and, in the backward pass, one or two
//! more tensors; [`GruUpdate`] is one node. The arithmetic is the same, element by element and in the
//! same order:
//!
//! * forward: `candle-nn`'s sigmoid `1 / (exp(−x) + 1)`, `f32::tanh`, and the adds and multiplies in
//!   the order the op chain ran them;
//! * backward: `candle-core` 0.11.1's `backprop.rs` accumulates every gradient into a fresh zero
//!   tensor (`0 + g`), takes tanh's derivative as `g ⊙ (n² − 1)` subtracted, sigmoid's as
//!   `g ⊙ ((1 − s) ⊙ s)` (`candle-nn` `ops.rs`), and pads a view's gradient with zeros. Each gradient
//!   element of the replaced chain is a sum of at most two non-zero terms into a zero (IEEE addition
//!   is commutative, and adding a zero changes nothing once the sum started from `+0`), so computing
//!   them here in the same expressions gives the same bits; the op's inputs keep the order in which
//!   the chain first reached them (`gi`, `gh`, state), so the order in which `candle` accumulates the
//!   gradients of shared tensors (the state, the weights) is unchanged.
//!
//! The input gates of up to [`super::cell::ONE_MATMUL_MAX_STEPS`] steps are one matmul `[B, T, G]`
//! viewed per step. `candle`'s backward of a view pads each step's gradient to the whole `[B, T, G]`
//! (T zero-fills and full-size adds per batch); [`input_gate_views`] instead writes each step's
//! gradient into one shared buffer and hands the assembled `[B, T, G]` gradient over once — each
//! element receives its one non-zero term, as before.

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor};

/// A read-only strided 2-D view of an `f32` storage (`[rows, cols]` with the layout's strides).
struct View<'a> {
    data: &'a [f32],
    offset: usize,
    row_stride: usize,
    col_stride: usize,
    cols: usize,
}

impl<'a> View<'a> {
    fn new(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<View<'a>> {
        let data = storage.as_slice::<f32>()?;
        let (rows, cols) = layout.shape().dims2()?;
        let stride = layout.stride();
        let _ = rows;
        Ok(View { data, offset: layout.start_offset(), row_stride: stride[0], col_stride: stride[1], cols })
    }

    /// Row `b` as a slice when its columns are contiguous.
    #[inline]
    fn row(&self, b: usize) -> Option<&'a [f32]> {
        (self.col_stride == 1).then(|| &self.data[self.offset + b * self.row_stride..][..self.cols])
    }

    #[inline]
    fn get(&self, b: usize, j: usize) -> f32 {
        self.data[self.offset + b * self.row_stride + j * self.col_stride]
    }
}

/// Copies row `b` of `view` into `out` (`out.len()` = the view's columns).
#[inline]
fn read_row(view: &View, b: usize, out: &mut [f32]) {
    match view.row(b) {
        Some(row) => out.copy_from_slice(row),
        None => out.iter_mut().enumerate().for_each(|(j, v)| *v = view.get(b, j)),
    }
}

/// Runs `f` on the CPU `f32` storage and layout of `t`.
fn with_cpu<T>(t: &Tensor, f: impl FnOnce(&CpuStorage, &Layout) -> candle_core::Result<T>) -> candle_core::Result<T> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(cpu, layout),
        _ => Err(candle_core::Error::Msg("fused training ops run on the CPU only".into())),
    }
}

/// `candle-nn`'s sigmoid, `1 / (exp(−x) + 1)`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / ((-x).exp() + 1.0)
}

/// `candle`'s tanh backward factor `n² · 1 + (−1)` (`node.sqr() − 1.` is an affine map).
#[inline(always)]
fn tanh_minus_derivative(n: f32) -> f32 {
    n * n * 1.0 + -1.0
}

/// `candle-nn`'s sigmoid backward factor `(1 − s) · s`.
#[inline(always)]
fn sigmoid_derivative(s: f32) -> f32 {
    (1.0 - s) * s
}

fn check_f32(name: &str, storages: &[&CpuStorage]) -> candle_core::Result<()> {
    if storages.iter().all(|s| s.dtype() == DType::F32) {
        Ok(())
    } else {
        Err(candle_core::Error::Msg(format!("{name}: f32 tensors only")))
    }
}

/// The GRU update `h' = n + z ⊙ (h − n)` with `r = σ(gi_r + gh_r)`, `z = σ(gi_z + gh_z)`,
/// `n = tanh(gi_n + r ⊙ gh_n)`, as one op on `gi` `[B, 3H]`, `gh` `[B, 3H]`, `h` `[B, H]` → `[B, H]`.
/// The forward pass keeps `r`, `z`, `n` for the backward pass.
pub(crate) struct GruUpdate {
    /// `[r; z; n]` per row, `[B, 3H]`, set by the forward pass.
    saved: Mutex<Vec<f32>>,
}

impl GruUpdate {
    /// `h'` `[B, H]` (see the type).
    pub(crate) fn apply(gi: &Tensor, gh: &Tensor, h: &Tensor) -> candle_core::Result<Tensor> {
        gi.apply_op3(gh, h, GruUpdate { saved: Mutex::new(Vec::new()) })
    }
}

impl CustomOp3 for GruUpdate {
    fn name(&self) -> &'static str {
        "fused-gru-update"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        check_f32(self.name(), &[s1, s2, s3])?;
        let (gi, gh, h) = (View::new(s1, l1)?, View::new(s2, l2)?, View::new(s3, l3)?);
        let (batch, hidden) = l3.shape().dims2()?;
        let mut out = vec![0.0f32; batch * hidden];
        let mut saved = vec![0.0f32; batch * 3 * hidden];
        let (mut gi_row, mut gh_row, mut h_row) = (vec![0.0; 3 * hidden], vec![0.0; 3 * hidden], vec![0.0; hidden]);
        for b in 0..batch {
            read_row(&gi, b, &mut gi_row);
            read_row(&gh, b, &mut gh_row);
            read_row(&h, b, &mut h_row);
            let out_row = &mut out[b * hidden..][..hidden];
            let (r_row, rest) = saved[b * 3 * hidden..][..3 * hidden].split_at_mut(hidden);
            let (z_row, n_row) = rest.split_at_mut(hidden);
            for j in 0..hidden {
                let r = sigmoid(gi_row[j] + gh_row[j]);
                let z = sigmoid(gi_row[hidden + j] + gh_row[hidden + j]);
                let n = (gi_row[2 * hidden + j] + r * gh_row[2 * hidden + j]).tanh();
                out_row[j] = n + z * (h_row[j] - n);
                (r_row[j], z_row[j], n_row[j]) = (r, z, n);
            }
        }
        *self.saved.lock().expect("not poisoned") = saved;
        Ok((CpuStorage::F32(out), Shape::from((batch, hidden))))
    }

    fn bwd(
        &self,
        _gi: &Tensor,
        gh: &Tensor,
        h: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, hidden) = h.dims2()?;
        let saved = self.saved.lock().expect("not poisoned");
        let mut d_gi = vec![0.0f32; batch * 3 * hidden];
        let mut d_gh = vec![0.0f32; batch * 3 * hidden];
        let mut d_h = vec![0.0f32; batch * hidden];
        with_cpu(gh, |gh_s, gh_l| {
            with_cpu(h, |h_s, h_l| {
                with_cpu(grad, |g_s, g_l| {
                    let (gh, h, grad) = (View::new(gh_s, gh_l)?, View::new(h_s, h_l)?, View::new(g_s, g_l)?);
                    let (mut gh_row, mut h_row, mut g_row) =
                        (vec![0.0; 3 * hidden], vec![0.0; hidden], vec![0.0; hidden]);
                    for b in 0..batch {
                        read_row(&gh, b, &mut gh_row);
                        read_row(&h, b, &mut h_row);
                        read_row(&grad, b, &mut g_row);
                        let rzn = &saved[b * 3 * hidden..][..3 * hidden];
                        let d_gi_row = &mut d_gi[b * 3 * hidden..][..3 * hidden];
                        let d_gh_row = &mut d_gh[b * 3 * hidden..][..3 * hidden];
                        for j in 0..hidden {
                            let (r, z, n) = (rzn[j], rzn[hidden + j], rzn[2 * hidden + j]);
                            let g = g_row[j];
                            // h' = n + e: both operands receive 0 + g.
                            let d_n = 0.0 + g;
                            let d_e = 0.0 + g;
                            // e = z ⊙ d with d = h − n.
                            let d_z = 0.0 + d_e * (h_row[j] - n);
                            let d_d = 0.0 + d_e * z;
                            // d = h − n: h receives d_d (added by candle), n loses it.
                            d_h[b * hidden + j] = d_d;
                            let d_n = d_n - d_d;
                            // n = tanh(a_n).
                            let d_an = 0.0 - d_n * tanh_minus_derivative(n);
                            // a_n = gi_n + m, m = r ⊙ gh_n.
                            let d_gi_n = 0.0 + d_an;
                            let d_m = 0.0 + d_an;
                            let d_r = 0.0 + d_m * gh_row[2 * hidden + j];
                            let d_gh_n = 0.0 + d_m * r;
                            // Sigmoids, then a_r = gi_r + gh_r and a_z = gi_z + gh_z.
                            let d_ar = 0.0 + d_r * sigmoid_derivative(r);
                            let d_az = 0.0 + d_z * sigmoid_derivative(z);
                            // Each view's gradient is padded with zeros into a fresh zero tensor.
                            d_gi_row[j] = 0.0 + (0.0 + d_ar);
                            d_gh_row[j] = 0.0 + (0.0 + d_ar);
                            d_gi_row[hidden + j] = 0.0 + (0.0 + d_az);
                            d_gh_row[hidden + j] = 0.0 + (0.0 + d_az);
                            d_gi_row[2 * hidden + j] = 0.0 + d_gi_n;
                            d_gh_row[2 * hidden + j] = 0.0 + d_gh_n;
                        }
                    }
                    Ok(())
                })
            })
        })?;
        let device = Device::Cpu;
        Ok((
            Some(Tensor::from_vec(d_gi, (batch, 3 * hidden), &device)?),
            Some(Tensor::from_vec(d_gh, (batch, 3 * hidden), &device)?),
            Some(Tensor::from_vec(d_h, (batch, hidden), &device)?),
        ))
    }
}

/// The LSTM update `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')` with `[i; f; g; o]` = `σ, σ, tanh, σ`
/// of `gi + gh`, as one op on `gi` `[B, 4H]`, `gh` `[B, 4H]` and the flat state `[h; c]` `[B, 2H]` →
/// `[h'; c']` `[B, 2H]`. The forward pass keeps `i, f, g, o, tanh(c')` for the backward pass.
pub(crate) struct LstmUpdate {
    /// `[i; f; g; o; tanh(c')]` per row, `[B, 5H]`, set by the forward pass.
    saved: Mutex<Vec<f32>>,
}

impl LstmUpdate {
    /// `[h'; c']` `[B, 2H]` (see the type).
    pub(crate) fn apply(gi: &Tensor, gh: &Tensor, state: &Tensor) -> candle_core::Result<Tensor> {
        gi.apply_op3(gh, state, LstmUpdate { saved: Mutex::new(Vec::new()) })
    }
}

impl CustomOp3 for LstmUpdate {
    fn name(&self) -> &'static str {
        "fused-lstm-update"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        check_f32(self.name(), &[s1, s2, s3])?;
        let (gi, gh, state) = (View::new(s1, l1)?, View::new(s2, l2)?, View::new(s3, l3)?);
        let (batch, width) = l3.shape().dims2()?;
        let hidden = width / 2;
        let mut out = vec![0.0f32; batch * width];
        let mut saved = vec![0.0f32; batch * 5 * hidden];
        let (mut gi_row, mut gh_row, mut s_row) = (vec![0.0; 4 * hidden], vec![0.0; 4 * hidden], vec![0.0; width]);
        for b in 0..batch {
            read_row(&gi, b, &mut gi_row);
            read_row(&gh, b, &mut gh_row);
            read_row(&state, b, &mut s_row);
            let out_row = &mut out[b * width..][..width];
            let keep = &mut saved[b * 5 * hidden..][..5 * hidden];
            for j in 0..hidden {
                let i = sigmoid(gi_row[j] + gh_row[j]);
                let f = sigmoid(gi_row[hidden + j] + gh_row[hidden + j]);
                let g = (gi_row[2 * hidden + j] + gh_row[2 * hidden + j]).tanh();
                let o = sigmoid(gi_row[3 * hidden + j] + gh_row[3 * hidden + j]);
                let c = f * s_row[hidden + j] + i * g;
                let tc = c.tanh();
                out_row[j] = o * tc;
                out_row[hidden + j] = c;
                (keep[j], keep[hidden + j], keep[2 * hidden + j], keep[3 * hidden + j], keep[4 * hidden + j]) =
                    (i, f, g, o, tc);
            }
        }
        *self.saved.lock().expect("not poisoned") = saved;
        Ok((CpuStorage::F32(out), Shape::from((batch, width))))
    }

    fn bwd(
        &self,
        _gi: &Tensor,
        _gh: &Tensor,
        state: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, width) = state.dims2()?;
        let hidden = width / 2;
        let saved = self.saved.lock().expect("not poisoned");
        let mut d_gates = vec![0.0f32; batch * 4 * hidden];
        let mut d_state = vec![0.0f32; batch * width];
        with_cpu(state, |s_s, s_l| {
            with_cpu(grad, |g_s, g_l| {
                let (state, grad) = (View::new(s_s, s_l)?, View::new(g_s, g_l)?);
                let (mut s_row, mut g_row) = (vec![0.0; width], vec![0.0; width]);
                for b in 0..batch {
                    read_row(&state, b, &mut s_row);
                    read_row(&grad, b, &mut g_row);
                    let keep = &saved[b * 5 * hidden..][..5 * hidden];
                    let d_row = &mut d_gates[b * 4 * hidden..][..4 * hidden];
                    let d_s_row = &mut d_state[b * width..][..width];
                    for j in 0..hidden {
                        let (i, f, g, o, tc) = (
                            keep[j],
                            keep[hidden + j],
                            keep[2 * hidden + j],
                            keep[3 * hidden + j],
                            keep[4 * hidden + j],
                        );
                        // cat([h', c']): each part receives its slice of the gradient.
                        let d_h = 0.0 + g_row[j];
                        let d_c = 0.0 + g_row[hidden + j];
                        // h' = o ⊙ tanh(c').
                        let d_o = 0.0 + d_h * tc;
                        let d_tc = 0.0 + d_h * o;
                        let d_c = d_c - d_tc * tanh_minus_derivative(tc);
                        // c' = f ⊙ c + i ⊙ g.
                        let d_fc = 0.0 + d_c;
                        let d_ig = 0.0 + d_c;
                        let d_i = 0.0 + d_ig * g;
                        let d_g = 0.0 + d_ig * i;
                        let d_f = 0.0 + d_fc * s_row[hidden + j];
                        let d_c_old = 0.0 + d_fc * f;
                        // The state's view of c: zeros on the h part.
                        d_s_row[hidden + j] = 0.0 + d_c_old;
                        // Activations, then the gate views of gates = gi + gh.
                        d_row[j] = 0.0 + (0.0 + d_i * sigmoid_derivative(i));
                        d_row[hidden + j] = 0.0 + (0.0 + d_f * sigmoid_derivative(f));
                        d_row[2 * hidden + j] = 0.0 + (0.0 - d_g * tanh_minus_derivative(g));
                        d_row[3 * hidden + j] = 0.0 + (0.0 + d_o * sigmoid_derivative(o));
                    }
                }
                Ok(())
            })
        })?;
        // gates = gi + gh: both receive 0 + the gates' gradient.
        let d_gi: Vec<f32> = d_gates.iter().map(|&v| 0.0 + v).collect();
        let d_gh: Vec<f32> = d_gates.iter().map(|&v| 0.0 + v).collect();
        let device = Device::Cpu;
        Ok((
            Some(Tensor::from_vec(d_gi, (batch, 4 * hidden), &device)?),
            Some(Tensor::from_vec(d_gh, (batch, 4 * hidden), &device)?),
            Some(Tensor::from_vec(d_state, (batch, width), &device)?),
        ))
    }
}

/// `x + b` for `x` `[N, G]` and a bias `b` `[G]` (what `x.broadcast_add(b)` computes), whose backward
/// pass sums the bias gradient over rows in one pass, in the order `candle`'s `sum_keepdim(0)` adds
/// them (`((0 + g₀) + g₁) + …`), instead of `candle`'s strided reduction (an index division per
/// element).
struct BiasAdd;

impl candle_core::CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        check_f32(self.name(), &[s1, s2])?;
        let x = View::new(s1, l1)?;
        let (rows, cols) = l1.shape().dims2()?;
        let bias = s2.as_slice::<f32>()?;
        let (start, end) = l2
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("bias-add: a contiguous bias only".into()))?;
        let bias = &bias[start..end];
        let mut out = vec![0.0f32; rows * cols];
        for (b, row) in out.chunks_exact_mut(cols).enumerate() {
            read_row(&x, b, row);
            row.iter_mut().zip(bias).for_each(|(v, &c)| *v += c);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, cols))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, cols) = x.dims2()?;
        // The add gives both operands 0 + g; the broadcast's backward sums the bias's over rows.
        let mut d_x = vec![0.0f32; rows * cols];
        let mut d_bias = vec![0.0f32; cols];
        with_cpu(grad, |g_s, g_l| {
            let grad = View::new(g_s, g_l)?;
            for (b, row) in d_x.chunks_exact_mut(cols).enumerate() {
                read_row(&grad, b, row);
                for (v, sum) in row.iter_mut().zip(d_bias.iter_mut()) {
                    *v += 0.0; // 0 + g: a −0 becomes +0, as in candle
                    *sum += *v;
                }
            }
            Ok(())
        })?;
        Ok((
            Some(Tensor::from_vec(d_x, (rows, cols), &Device::Cpu)?),
            Some(Tensor::from_vec(d_bias, cols, &Device::Cpu)?),
        ))
    }
}

/// `x.broadcast_add(bias)` for `x` `[N, G]` and `bias` `[G]` as one op with a one-pass backward (see
/// `BiasAdd`).
pub(crate) fn add_bias(x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op2(bias, BiasAdd)
}

/// The per-step gradient buffer shared by a [`StepHub`] and its [`StepPick`]s.
#[derive(Default)]
struct HubGradient {
    /// `[B, T, G]`, allocated by the first pick's backward pass.
    values: Vec<f32>,
    /// Whether a pick has already handed the hub its placeholder gradient.
    placeholder_given: bool,
}

/// `[B, T, G]` → the same values; its backward pass returns the gradient its [`StepPick`]s wrote
/// into the shared buffer (the placeholder gradient it receives is ignored).
struct StepHub {
    shared: Arc<Mutex<HubGradient>>,
}

impl CustomOp1 for StepHub {
    fn name(&self) -> &'static str {
        "input-gate-hub"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        check_f32(self.name(), &[storage])?;
        let data = storage.as_slice::<f32>()?;
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("input-gate-hub: a contiguous tensor only".into()))?;
        let values = data[start..end].to_vec();
        Ok((CpuStorage::F32(values), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, _grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let mut shared = self.shared.lock().expect("not poisoned");
        let values = std::mem::take(&mut shared.values);
        shared.placeholder_given = false;
        let values = if values.is_empty() { vec![0.0; arg.elem_count()] } else { values };
        Ok(Some(Tensor::from_vec(values, arg.shape(), &Device::Cpu)?))
    }
}

/// Step `t` of a [`StepHub`]'s `[B, T, G]`, `[B, G]`. Its backward pass writes `0 + gradient` into
/// the shared buffer (what `candle` would have added, padded, into a zero `[B, T, G]`).
struct StepPick {
    step: usize,
    shared: Arc<Mutex<HubGradient>>,
}

impl CustomOp1 for StepPick {
    fn name(&self) -> &'static str {
        "input-gate-pick"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        check_f32(self.name(), &[storage])?;
        let (batch, steps, gates) = layout.shape().dims3()?;
        let data = storage.as_slice::<f32>()?;
        let (start, _) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("input-gate-pick: the hub is contiguous".into()))?;
        let mut out = Vec::with_capacity(batch * gates);
        for b in 0..batch {
            out.extend_from_slice(&data[start + (b * steps + self.step) * gates..][..gates]);
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, gates))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (batch, steps, gates) = arg.dims3()?;
        let mut shared = self.shared.lock().expect("not poisoned");
        if shared.values.is_empty() {
            shared.values = vec![0.0; batch * steps * gates];
        }
        with_cpu(grad, |g_s, g_l| {
            let grad = View::new(g_s, g_l)?;
            for b in 0..batch {
                let row = &mut shared.values[(b * steps + self.step) * gates..][..gates];
                read_row(&grad, b, row);
                row.iter_mut().for_each(|v| *v += 0.0); // 0 + g, as candle
            }
            Ok(())
        })?;
        if shared.placeholder_given {
            return Ok(None);
        }
        // The hub needs some gradient to be visited: a zero broadcast (no full-size allocation).
        shared.placeholder_given = true;
        Ok(Some(Tensor::zeros((), DType::F32, &Device::Cpu)?.broadcast_as(arg.shape())?))
    }
}

/// The `T` per-step views `[B, G]` of `all` `[B, T, G]`, whose backward pass assembles the gradient
/// of `all` once (see the module).
pub(crate) fn input_gate_views(all: &Tensor) -> candle_core::Result<Vec<Tensor>> {
    let (_, steps, _) = all.dims3()?;
    let shared = Arc::new(Mutex::new(HubGradient::default()));
    let hub = all.contiguous()?.apply_op1(StepHub { shared: shared.clone() })?;
    (0..steps).map(|step| hub.apply_op1(StepPick { step, shared: shared.clone() })).collect()
}

/// Bit-identity of the fused ops with the `candle` op chains they replace: gradients of one
/// backward pass, and whole trainings of every family with both cells, compared with `==` on the bits
/// of every trained weight (the safetensors bytes the trainers' folders hold).
#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    use crate::data::{AddingTask, SequenceSet, Split};
    use crate::rnn::io::{
        classifier_tensors, encode_tensors, map_tensors, nested_tensors, skip_classifier_tensors, skipw_tensors,
    };
    use crate::rnn::CellKind;
    use crate::train::bank::{fine_tune_trained, train_bank, BankConfig, SwitchConfig};
    use crate::train::cell::{with_reference_ops, CandleCell, ONE_MATMUL_MAX_STEPS};
    use crate::train::nested::{train_nested, NestedConfig};
    use crate::train::skip::{train_skip_bank, SkipBankConfig, ThrTraining};
    use crate::train::skipw::{train_skipw, SkipWTrainConfig};
    use crate::train::{toy_task, train_classifier, TrainConfig};

    /// Runs `work` on the reference op chains and on the fused ops; both results must be equal.
    fn both<T: PartialEq + std::fmt::Debug>(what: &str, work: impl Fn() -> T) {
        let reference = with_reference_ops(&work);
        let fused = work();
        assert!(reference == fused, "{what}: the fused ops changed the bits");
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
    }

    /// The loss `Σ state ⊙ W` (`W` fixed, random) of a forward pass from a fresh cell, and the bits
    /// of the final state and of the gradients of the cell's four variables.
    fn gradient_bits(kind: CellKind, steps: usize, lengths: Option<&[usize]>) -> Vec<Vec<u32>> {
        let mut rng = Pcg64::seed_from_u64(steps as u64);
        let (batch, input, hidden) = (3, 2, 5);
        let cell = CandleCell::init(kind, input, hidden, &mut rng).unwrap();
        let values: Vec<f32> = (0..batch * steps * input).map(|_| rng.random_range(-1.0..1.0)).collect();
        let xs = Tensor::from_vec(values, (batch, steps, input), &Device::Cpu).unwrap();
        let state = match lengths {
            None => cell.final_state(&xs).unwrap(),
            Some(lengths) => cell.final_state_of_lengths(&xs, lengths).unwrap(),
        };
        let width = state.dims2().unwrap().1;
        let w: Vec<f32> = (0..batch * width).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w = Tensor::from_vec(w, (batch, width), &Device::Cpu).unwrap();
        let grads = (&state * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let mut out = vec![bits(&state)];
        for var in cell.vars() {
            out.push(bits(grads.get(var.as_tensor()).unwrap()));
        }
        out
    }

    #[test]
    fn gradients_of_a_forward_pass_are_bit_identical_for_both_input_gate_forms() {
        for kind in CellKind::ALL {
            for steps in [1, 7, ONE_MATMUL_MAX_STEPS, ONE_MATMUL_MAX_STEPS + 3] {
                both(&format!("{kind} T={steps}"), || gradient_bits(kind, steps, None));
                let lengths = [steps, 1.max(steps / 2), 1];
                both(&format!("{kind} T={steps} lengths {lengths:?}"), || gradient_bits(kind, steps, Some(&lengths)));
            }
        }
    }

    /// A gate view with strides (a column block of a wider tensor) as the op's input.
    #[test]
    fn strided_inputs_give_the_same_bits() {
        let mut rng = Pcg64::seed_from_u64(9);
        for kind in CellKind::ALL {
            let (batch, hidden) = (4, 3);
            let gates = kind.gates() * hidden;
            let wide: Vec<f32> = (0..batch * 2 * gates).map(|_| rng.random_range(-2.0..2.0)).collect();
            let gh: Vec<f32> = (0..batch * gates).map(|_| rng.random_range(-2.0..2.0)).collect();
            let state: Vec<f32> = (0..batch * kind.state_len(hidden)).map(|_| rng.random_range(-1.0..1.0)).collect();
            let cell = CandleCell::init(kind, 1, hidden, &mut rng).unwrap();
            let run = || {
                let wide = Var::from_vec(wide.clone(), (batch, 2 * gates), &Device::Cpu).unwrap();
                let gh = Var::from_vec(gh.clone(), (batch, gates), &Device::Cpu).unwrap();
                let state = Var::from_vec(state.clone(), (batch, kind.state_len(hidden)), &Device::Cpu).unwrap();
                let gi = wide.as_tensor().narrow(1, gates / 2, gates).unwrap();
                let next = cell.update(&gi, gh.as_tensor(), state.as_tensor()).unwrap();
                let grads = next.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let mut out = vec![bits(&next)];
                for v in [&wide, &gh, &state] {
                    out.push(bits(grads.get(v.as_tensor()).unwrap()));
                }
                out
            };
            both(&format!("{kind} strided"), run);
        }
    }

    /// `set` with sequence `i` cut to a length in `2..=steps` (zero after), for the variable-length
    /// paths (masked state updates).
    fn variable_length(mut set: SequenceSet, seed: u64) -> SequenceSet {
        let mut rng = Pcg64::seed_from_u64(seed);
        let (steps, features) = (set.steps, set.features);
        for i in 0..set.len() {
            let length = rng.random_range(2..=steps);
            set.lengths[i] = length;
            set.values[(i * steps + length) * features..(i + 1) * steps * features].iter_mut().for_each(|v| *v = 0.0);
        }
        set
    }

    fn base(cell: CellKind, seed: u64) -> TrainConfig {
        TrainConfig {
            hidden: 6,
            epochs: 2,
            batch_size: 16,
            learning_rate: 0.02,
            clip_norm: 1.0,
            seed,
            cell,
            micro_batches: 1,
            threads: 1,
        }
    }

    #[test]
    fn plain_classifiers_train_to_the_same_bits() {
        let adding = AddingTask { steps: ONE_MATMUL_MAX_STEPS + 2 }.generate(40, 3).unwrap();
        let (toy, toy_split) = toy_task(80, 12, 2);
        let toy_train = toy.subset(&toy_split.train);
        let toy_validation = toy.subset(&toy_split.validation);
        let ragged = variable_length(toy.clone(), 5);
        let (ragged_train, ragged_validation) = (ragged.subset(&toy_split.train), ragged.subset(&toy_split.validation));
        for cell in CellKind::ALL {
            let cases: [(&str, &SequenceSet, &SequenceSet); 3] = [
                ("toy T=12", &toy_train, &toy_validation),
                ("adding T=130", &adding, &adding),
                ("variable lengths", &ragged_train, &ragged_validation),
            ];
            for (what, train, validation) in cases {
                both(&format!("{cell} {what}"), || {
                    let (model, report) =
                        train_classifier("m", train, validation, &base(cell, 1), |_, _, _| {}).unwrap();
                    (encode_tensors(&classifier_tensors(&model)), report.epoch_losses)
                });
            }
        }
    }

    #[test]
    fn gru_banks_and_their_switch_fine_tune_train_to_the_same_bits() {
        let (toy, split) = toy_task(96, 10, 4);
        for cell in CellKind::ALL {
            for (what, set) in [("fixed", toy.clone()), ("variable lengths", variable_length(toy.clone(), 6))] {
                both(&format!("{cell} bank {what}"), || {
                    let config = BankConfig {
                        widths: vec![3, 6],
                        base: TrainConfig { epochs: 1, ..base(cell, 4) },
                        command: "test".into(),
                    };
                    let trained = train_bank(&set, &split, &config, |_| {}).unwrap();
                    let switch = SwitchConfig { epochs: 2, batch_size: 16, seed: 4, ..SwitchConfig::default() };
                    let tuned =
                        fine_tune_trained(trained, &set, &split, &switch, None, "test".into(), |_, _, _| {}).unwrap();
                    let mut files: Vec<Vec<u8>> =
                        tuned.bank.models().iter().map(|m| encode_tensors(&classifier_tensors(m))).collect();
                    files.push(encode_tensors(&map_tensors(
                        tuned.maps.iter().map(|(a, b, m)| (a.as_str(), b.as_str(), m)),
                    )));
                    files
                });
            }
        }
    }

    #[test]
    fn skip_banks_with_switch_fine_tune_train_to_the_same_bits() {
        let (set, split) = toy_task(80, 10, 5);
        for cell in CellKind::ALL {
            both(&format!("{cell} thr"), || {
                let config = SkipBankConfig {
                    widths: vec![6],
                    lambdas: vec![1e-3, 1e-2],
                    base: base(cell, 3),
                    thr: ThrTraining { switch_epochs: 1, ..ThrTraining::default() },
                    command: "test".into(),
                };
                let trained = train_skip_bank(&set, &split, &config, |_| {}).unwrap();
                trained.models.iter().map(|m| encode_tensors(&skip_classifier_tensors(m))).collect::<Vec<_>>()
            });
        }
    }

    #[test]
    fn skipw_and_nested_models_train_to_the_same_bits() {
        let (set, split): (SequenceSet, Split) = toy_task(80, 10, 6);
        for cell in CellKind::ALL {
            both(&format!("{cell} skipw"), || {
                let config = SkipWTrainConfig {
                    cell,
                    hidden: 6,
                    window: 4,
                    k_min: 1,
                    k_max: 4,
                    thr_min: 0.0,
                    thr_max: 0.75,
                    budget_lambda: 0.05,
                    knob_changes: 2,
                    thr_zero_share: 0.25,
                    epochs: 2,
                    batch_size: 16,
                    learning_rate: 0.02,
                    clip_norm: 1.0,
                    seed: 2,
                    command: "test".into(),
                };
                encode_tensors(&skipw_tensors(&train_skipw(&set, &split, &config, |_| {}).unwrap().model))
            });
            both(&format!("{cell} nested"), || {
                let config = NestedConfig {
                    cell,
                    widths: vec![2, 4, 6],
                    epochs: 2,
                    batch_size: 16,
                    learning_rate: 0.03,
                    clip_norm: 1.0,
                    seed: 4,
                    max_changes: 2,
                    distill_weight: 1.0,
                    command: "test".into(),
                };
                encode_tensors(&nested_tensors(&train_nested(&set, &split, &config, |_| {}).unwrap().model))
            });
        }
    }
}
