//! 2-D convolution over NCHW buffers: Winograd F(4×4, 3×3) or F(2×2, 3×3) for 3×3 stride-1
//! layers (`winograd.rs`), im2col + GEMM on chunks of the batch for the others, 1×1 convolutions as one
//! GEMM per sample straight on the buffers, and the direct depthwise kernel (`depthwise.rs`) for
//! one channel per group.
//!
//! Parallelism: the batch is split into tasks whose size depends only on the shapes (never on
//! scheduling or on the number of threads), and per-task weight gradients are added in task
//! order, so results are bit-identical whatever the size of the rayon pool.

use std::cell::RefCell;
use std::ops::DerefMut;

use rayon::prelude::*;

use super::depthwise::{depthwise_backward, depthwise_forward};
use super::elementwise::{add_to, zeros};
use super::gemm::{sgemm, sgemm_abt, transpose_into, MatMut, MatRef};
use super::norm::channel_sums;
use super::simd::multiversioned;
use super::winograd;

thread_local! {
    /// Work buffers of the im2col convolutions (the column matrix and a transposed output or
    /// output gradient), kept per thread between calls so that a training step does not zero
    /// and fault in tens of megabytes of fresh pages for every layer. They grow to the largest
    /// layer seen on the thread and are not shrunk.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` on two work buffers of `a` and `b` values, reused across calls on this thread. Their
/// contents are unspecified: `f` must write every value before reading it. (A nested call on the
/// same thread gets fresh buffers.)
pub(crate) fn with_scratch<R>(
    a: usize,
    b: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> R,
) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => {
            let (x, y) = &mut *buffers;
            if x.len() < a {
                x.resize(a, 0.0);
            }
            if y.len() < b {
                y.resize(b, 0.0);
            }
            f(&mut x[..a], &mut y[..b])
        }
        Err(_) => f(&mut vec![0.0; a], &mut vec![0.0; b]),
    })
}

/// Tasks a convolution's batch is split into, whatever the number of threads, when it has
/// enough samples (see [`ConvGeometry::samples_per_task`]).
const MIN_TASKS: usize = 8;

/// Output pixels (samples × plane) a convolution task covers at least, when the batch has them:
/// the depth of its weight-gradient GEMM.
const MIN_DEPTH: usize = 512;

/// Geometry of a 2-D convolution over NCHW tensors (square kernel, symmetric stride, padding
/// and dilation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Input height and width.
    pub in_hw: (usize, usize),
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
    /// Channel groups (`in_channels` for depthwise).
    pub groups: usize,
}

impl ConvGeometry {
    /// Output height and width, or `None` when the padded input is smaller than the dilated
    /// kernel.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let span = self.dilation * (self.kernel - 1) + 1;
        let side = |x: usize| {
            (x + 2 * self.padding)
                .checked_sub(span)
                .map(|r| r / self.stride + 1)
        };
        Some((side(self.in_hw.0)?, side(self.in_hw.1)?))
    }
    pub(crate) fn cg(&self) -> usize {
        self.in_channels / self.groups
    }
    pub(crate) fn og(&self) -> usize {
        self.out_channels / self.groups
    }
    pub(crate) fn col_rows(&self) -> usize {
        self.cg() * self.kernel * self.kernel
    }
    fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.cg() == 1 && self.og() == 1
    }
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }
    /// On 1×1 maps (one input and one output pixel) a non-depthwise convolution reads its input
    /// through one kernel tap at most (the others read padding): that tap's index `ki·k + kj`.
    /// Such a layer is a product of the `N × C` input by the tap's `O × C` weights, with no
    /// im2col and none of the taps that only add zeros.
    fn one_pixel_tap(&self) -> Option<usize> {
        if self.in_hw != (1, 1) || self.out_hw() != Some((1, 1)) || self.is_depthwise() {
            return None;
        }
        // the output pixel's tap t reads input t·d − p: the pixel when t·d = p
        let (d, p) = (self.dilation.max(1), self.padding);
        let t = (p % d == 0).then_some(p / d).filter(|&t| t < self.kernel)?;
        Some(t * self.kernel + t)
    }
    /// A 1×1 convolution on planes large enough (16×16 and up) for one GEMM per sample and group
    /// to run near full speed; those skip im2col and work on the NCHW buffers directly.
    fn is_direct_pointwise(&self, out_pixels: usize) -> bool {
        self.is_pointwise() && out_pixels >= 256
    }
    /// Multiply-adds of the forward pass times two (the FLOP count benchmarks report).
    pub fn forward_flops(&self) -> f64 {
        let (ho, wo) = self.out_hw().unwrap_or((0, 0));
        2.0 * (self.batch * self.out_channels * ho * wo * self.col_rows()) as f64
    }
    /// Samples per parallel task of the im2col and 1×1 convolutions: enough GEMM columns to
    /// amortise packing the weights, at least [`MIN_TASKS`] tasks when the batch allows, but
    /// at least [`MIN_DEPTH`] pixels per task, so that the weight-gradient GEMM of a task is deep
    /// enough to pay for writing its partial (on 4×4 maps, 8 tasks of 8 samples would write
    /// eight full weight gradients of depth 128 each).
    ///
    /// The split depends on the shapes alone, never on the thread count: a task's samples are
    /// the depth of its weight-gradient GEMM (how the GEMM blocks and adds up that depth depends
    /// on it) and the weight gradient is the sum of one partial per task, so a split that
    /// followed the threads would change the rounding, and the curves, with the machine and
    /// with `--jobs`. Layers split into fewer tasks than threads get their parallelism from the
    /// GEMM instead ([`ConvGeometry::gemm_parallel`]).
    pub(crate) fn samples_per_task(&self, out_pixels: usize) -> usize {
        // 1024 and 256 were tried on resnet18 (batch 64, 32×32, 2 threads): no difference
        // beyond the machine's noise.
        const TARGET_COLUMNS: usize = 4096;
        let p = out_pixels.max(1);
        let by_cols = TARGET_COLUMNS.div_ceil(p).max(1);
        let by_tasks = self.batch.div_ceil(MIN_TASKS).max(1);
        let by_depth = MIN_DEPTH.div_ceil(p);
        let ns = by_cols.min(by_tasks.max(by_depth));
        // as many tasks, but as even as the batch allows (64 samples in tasks of 57 would leave
        // one of 7, and the second thread idle most of the layer)
        self.batch.div_ceil(self.batch.div_ceil(ns).max(1)).max(1)
    }

    /// Whether the GEMMs inside the tasks of [`ConvGeometry::samples_per_task`] should use the
    /// rayon pool themselves: when there are fewer tasks than threads. This is scheduling only:
    /// the GEMM crate splits the rows and columns of its output among threads, never the depth,
    /// so its values are the same either way.
    pub(crate) fn gemm_parallel(&self, samples_per_task: usize) -> bool {
        self.batch.div_ceil(samples_per_task.max(1)) < rayon::current_num_threads()
    }
}

multiversioned! {
    /// im2col of samples `x` (`ns × C × H × W`) for group `g` into `col` (`Cg·k·k × ns·P` row-major).
    fn im2col(geo: &ConvGeometry, x: &[f32], ns: usize, g: usize, col: &mut [f32]) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let p = ho * wo;
        let cols = ns * p;
        let (k, s, pad, d) = (geo.kernel, geo.stride, geo.padding as isize, geo.dilation);
        let plane = h * w;
        let sample = geo.in_channels * plane;
        for c in 0..geo.cg() {
            let ch = g * geo.cg() + c;
            for ki in 0..k {
                for kj in 0..k {
                    let row = (c * k + ki) * k + kj;
                    let dst_row = &mut col[row * cols..(row + 1) * cols];
                    for n in 0..ns {
                        let src = &x[n * sample + ch * plane..n * sample + (ch + 1) * plane];
                        let dst = &mut dst_row[n * p..(n + 1) * p];
                        if geo.is_pointwise() {
                            dst.copy_from_slice(src);
                            continue;
                        }
                        for oy in 0..ho {
                            let iy = (oy * s + ki * d) as isize - pad;
                            let drow = &mut dst[oy * wo..(oy + 1) * wo];
                            if iy < 0 || iy >= h as isize {
                                drow.fill(0.0);
                                continue;
                            }
                            let srow = &src[iy as usize * w..(iy as usize + 1) * w];
                            let off = (kj * d) as isize - pad;
                            if s == 1 {
                                // ix = ox + off: zero the out-of-range ends, copy the middle.
                                let lo = (-off).clamp(0, wo as isize) as usize;
                                let hi =
                                    (w as isize - off).clamp(lo as isize, wo as isize) as usize;
                                drow[..lo].fill(0.0);
                                drow[hi..].fill(0.0);
                                if hi > lo {
                                    let a = (lo as isize + off) as usize;
                                    drow[lo..hi].copy_from_slice(&srow[a..a + (hi - lo)]);
                                }
                            } else {
                                for (ox, v) in drow.iter_mut().enumerate() {
                                    let ix = (ox * s) as isize + off;
                                    *v = if ix >= 0 && ix < w as isize {
                                        srow[ix as usize]
                                    } else {
                                        0.0
                                    };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

multiversioned! {
    /// col2im: accumulates `col` (`Cg·k·k × ns·P`) of group `g` into `dx` (`ns × C × H × W`).
    fn col2im(geo: &ConvGeometry, col: &[f32], ns: usize, g: usize, dx: &mut [f32]) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let p = ho * wo;
        let cols = ns * p;
        let (k, s, pad, d) = (geo.kernel, geo.stride, geo.padding as isize, geo.dilation);
        let plane = h * w;
        let sample = geo.in_channels * plane;
        for c in 0..geo.cg() {
            let ch = g * geo.cg() + c;
            for ki in 0..k {
                for kj in 0..k {
                    let row = (c * k + ki) * k + kj;
                    let src_row = &col[row * cols..(row + 1) * cols];
                    for n in 0..ns {
                        let dst = &mut dx[n * sample + ch * plane..n * sample + (ch + 1) * plane];
                        let src = &src_row[n * p..(n + 1) * p];
                        if geo.is_pointwise() {
                            dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
                            continue;
                        }
                        for oy in 0..ho {
                            let iy = (oy * s + ki * d) as isize - pad;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            let drow = &mut dst[iy as usize * w..(iy as usize + 1) * w];
                            let srow = &src[oy * wo..(oy + 1) * wo];
                            let off = (kj * d) as isize - pad;
                            if s == 1 {
                                // ix = ox + off: add the in-range middle as one slice.
                                let lo = (-off).clamp(0, wo as isize) as usize;
                                let hi =
                                    (w as isize - off).clamp(lo as isize, wo as isize) as usize;
                                if hi > lo {
                                    let a = (lo as isize + off) as usize;
                                    drow[a..a + (hi - lo)]
                                        .iter_mut()
                                        .zip(&srow[lo..hi])
                                        .for_each(|(x, v)| *x += v);
                                }
                                continue;
                            }
                            for (ox, v) in srow.iter().enumerate() {
                                let ix = (ox * s) as isize + off;
                                if ix >= 0 && ix < w as isize {
                                    drow[ix as usize] += v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How a convolution is computed. [`ConvAlgorithm::Auto`] is what the networks use; the others
/// exist so that benchmarks and tests can compare the algorithms on the same layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Depthwise layers directly, 3×3 stride-1 layers with at least 32 channels in and out on
    /// maps of 4×4 and more, with at least 64 tiles of 2×2 outputs in the batch, with Winograd
    /// (their backward pass from 8×8 on; see [`winograd::applies`]): F(4×4, 3×3) on maps of
    /// 16×16 and more, F(2×2, 3×3) below ([`winograd::tile_for`]); large 1×1 layers as one GEMM
    /// per sample, the rest with im2col.
    Auto,
    /// As `Auto`, but Winograd layers always with F(2×2, 3×3) tiles.
    WinogradF2,
    /// As `Auto`, but never Winograd.
    NoWinograd,
}

impl ConvAlgorithm {
    /// The Winograd tile this algorithm computes `geo` with, if any.
    fn winograd(self, geo: &ConvGeometry) -> Option<winograd::Tile> {
        match self {
            ConvAlgorithm::NoWinograd => None,
            _ if !winograd::applies(geo) => None,
            ConvAlgorithm::Auto => Some(winograd::tile_for(geo)),
            ConvAlgorithm::WinogradF2 => Some(winograd::Tile::F2),
        }
    }
}

/// Forward convolution: `x` (`N×C×H×W`), `weight` (`O × C/groups × k × k`), optional `bias`
/// (`O`) → `N×O×Ho×Wo`.
pub fn conv2d_forward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    conv2d_forward_using(ConvAlgorithm::Auto, geo, x, weight, bias)
}

/// What a forward convolution keeps for the backward pass of the same layer on the same input
/// and weights ([`conv2d_forward_saving`] → [`conv2d_backward_saved`]): on a Winograd layer, the
/// transformed input, which the weight gradient would otherwise compute again. Empty for other
/// layers. Its memory is given back for reuse when it is dropped.
#[derive(Debug, Default)]
pub struct ConvSaved {
    transformed: Option<winograd::TransformedInput>,
}

impl ConvSaved {
    /// Whether anything was kept.
    pub fn is_empty(&self) -> bool {
        self.transformed.is_none()
    }
}

/// [`conv2d_forward`] for a layer whose backward pass follows: also returns what the backward
/// pass can reuse ([`conv2d_backward_saved`]). The output is the same to the bit.
pub fn conv2d_forward_saving(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> (Vec<f32>, ConvSaved) {
    forward(ConvAlgorithm::Auto, geo, x, weight, bias, true)
}

/// [`conv2d_forward`] with the algorithm chosen by the caller.
pub fn conv2d_forward_using(
    algorithm: ConvAlgorithm,
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    forward(algorithm, geo, x, weight, bias, false).0
}

/// The forward pass; with `keep`, what the backward pass can reuse.
fn forward(
    algorithm: ConvAlgorithm,
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    keep: bool,
) -> (Vec<f32>, ConvSaved) {
    let mut saved = ConvSaved::default();
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let p = ho * wo;
    let o = geo.out_channels;
    let mut out = zeros(geo.batch * o * p);
    if geo.batch == 0 || p == 0 {
        return (out, saved);
    }
    if geo.is_depthwise() {
        depthwise_forward(geo, x, weight, &mut out);
    } else if let Some(tap) = geo.one_pixel_tap() {
        one_pixel_forward(geo, tap, x, weight, &mut out);
    } else if let Some(tile) = algorithm.winograd(geo) {
        saved.transformed = winograd::forward(geo, x, weight, &mut out, tile, keep);
    } else if geo.is_direct_pointwise(p) {
        let in_sample = geo.in_channels * p;
        let (cg, og) = (geo.cg(), geo.og());
        out.par_chunks_mut(o * p)
            .zip(x.par_chunks(in_sample))
            .for_each(|(out, x)| {
                // One sample: out_g[og × P] = W_g[og × cg] · x_g[cg × P], in place.
                for g in 0..geo.groups {
                    sgemm(
                        MatRef::row_major(&weight[g * og * cg..(g + 1) * og * cg], og, cg),
                        MatRef::row_major(&x[g * cg * p..(g + 1) * cg * p], cg, p),
                        MatMut::row_major(&mut out[g * og * p..(g + 1) * og * p], og, p),
                        false,
                        false,
                    );
                }
            });
    } else {
        let ns = geo.samples_per_task(p);
        let parallel = geo.gemm_parallel(ns);
        let in_sample = geo.in_channels * geo.in_hw.0 * geo.in_hw.1;
        let (og, kr) = (geo.og(), geo.col_rows());
        out.par_chunks_mut(ns * o * p)
            .zip(x.par_chunks(ns * in_sample))
            .for_each(|(out, x)| {
                let ns = out.len() / (o * p);
                with_scratch(kr * ns * p, og * ns * p, |col, tmp| {
                    for g in 0..geo.groups {
                        im2col(geo, x, ns, g, col);
                        let wg = &weight[g * og * kr..(g + 1) * og * kr];
                        // One sample: the GEMM writes its output planes in place.
                        let dst = if ns == 1 {
                            &mut out[g * og * p..(g + 1) * og * p]
                        } else {
                            &mut *tmp
                        };
                        sgemm(
                            MatRef::row_major(wg, og, kr),
                            MatRef::row_major(col, kr, ns * p),
                            MatMut::row_major(dst, og, ns * p),
                            false,
                            parallel,
                        );
                        if ns == 1 {
                            continue;
                        }
                        for n in 0..ns {
                            for oc in 0..og {
                                let src = &tmp[oc * ns * p + n * p..oc * ns * p + (n + 1) * p];
                                let ch = g * og + oc;
                                out[(n * o + ch) * p..(n * o + ch + 1) * p].copy_from_slice(src);
                            }
                        }
                    }
                });
            });
    }
    if let Some(b) = bias {
        out.par_chunks_mut(o * p).for_each(|s| {
            for (ch, plane) in s.chunks_mut(p).enumerate() {
                plane.iter_mut().for_each(|v| *v += b[ch]);
            }
        });
    }
    (out, saved)
}

/// The direct definition of a convolution and its gradients in f64, with the magnitude of every
/// sum (`Σ |a| |b|` over its products, which error bounds scale with): for checking kernels.
#[derive(Debug, Clone)]
pub struct ConvReference {
    /// The output (`N × O × Ho × Wo`).
    pub y: Vec<f64>,
    /// The input gradient for the output gradient given (`N × C × H × W`).
    pub dx: Vec<f64>,
    /// The weight gradient (`O × C/groups × k × k`).
    pub dw: Vec<f64>,
    /// `Σ |w| |x|` of every output value.
    pub y_magnitude: Vec<f64>,
    /// `Σ |dy| |w|` of every input-gradient value.
    pub dx_magnitude: Vec<f64>,
    /// `Σ |dy| |x|` of every weight-gradient value.
    pub dw_magnitude: Vec<f64>,
}

/// The convolution of `x` by `weight` and its gradients for the output gradient `dy`, straight
/// from the definition in f64 (slow: for tests and for checking kernels against it).
pub fn conv2d_reference(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
) -> ConvReference {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let (cg, og, k) = (geo.cg(), geo.og(), geo.kernel);
    let zeros = |n: usize| vec![0.0f64; n];
    let mut r = ConvReference {
        y: zeros(geo.batch * geo.out_channels * ho * wo),
        dx: zeros(x.len()),
        dw: zeros(weight.len()),
        y_magnitude: zeros(geo.batch * geo.out_channels * ho * wo),
        dx_magnitude: zeros(x.len()),
        dw_magnitude: zeros(weight.len()),
    };
    for n in 0..geo.batch {
        for oc in 0..geo.out_channels {
            let g = oc / og;
            for (oy, ox) in (0..ho).flat_map(|a| (0..wo).map(move |b| (a, b))) {
                let yi = ((n * geo.out_channels + oc) * ho + oy) * wo + ox;
                for (c, ki, kj) in
                    (0..cg).flat_map(|c| (0..k).flat_map(move |i| (0..k).map(move |j| (c, i, j))))
                {
                    let iy = (oy * geo.stride + ki * geo.dilation) as isize - geo.padding as isize;
                    let ix = (ox * geo.stride + kj * geo.dilation) as isize - geo.padding as isize;
                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                        continue;
                    }
                    let ch = g * cg + c;
                    let xi = ((n * geo.in_channels + ch) * h + iy as usize) * w + ix as usize;
                    let wi = ((oc * cg + c) * k + ki) * k + kj;
                    let (xv, wv, dv) = (f64::from(x[xi]), f64::from(weight[wi]), f64::from(dy[yi]));
                    r.y[yi] += xv * wv;
                    r.dx[xi] += dv * wv;
                    r.dw[wi] += dv * xv;
                    r.y_magnitude[yi] += (xv * wv).abs();
                    r.dx_magnitude[xi] += (dv * wv).abs();
                    r.dw_magnitude[wi] += (dv * xv).abs();
                }
            }
        }
    }
    r
}

/// Gradients of a convolution: returns `(dx, dweight)` for the output gradient `dy` (the bias
/// gradient is [`bias_gradient`]). `dx` is skipped (empty) when `need_dx` is false.
pub fn conv2d_backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_dx: bool,
) -> (Vec<f32>, Vec<f32>) {
    conv2d_backward_using(ConvAlgorithm::Auto, geo, x, weight, dy, need_dx)
}

/// [`conv2d_backward`] reusing what [`conv2d_forward_saving`] kept from the forward pass of the
/// same layer on the same `x` and `weight`. The gradients are the same to the bit.
pub fn conv2d_backward_saved(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_dx: bool,
    saved: ConvSaved,
) -> (Vec<f32>, Vec<f32>) {
    backward(ConvAlgorithm::Auto, geo, x, weight, dy, need_dx, saved)
}

/// [`conv2d_backward`] with the algorithm chosen by the caller.
pub fn conv2d_backward_using(
    algorithm: ConvAlgorithm,
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_dx: bool,
) -> (Vec<f32>, Vec<f32>) {
    backward(algorithm, geo, x, weight, dy, need_dx, ConvSaved::default())
}

/// The backward pass, with what the forward pass kept.
fn backward(
    algorithm: ConvAlgorithm,
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_dx: bool,
    saved: ConvSaved,
) -> (Vec<f32>, Vec<f32>) {
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let p = ho * wo;
    let o = geo.out_channels;
    let in_sample = geo.in_channels * geo.in_hw.0 * geo.in_hw.1;
    if geo.batch > 0 && p > 0 && !geo.is_depthwise() {
        if let Some(tile) = algorithm.winograd(geo) {
            // (allocates its own input gradient)
            return winograd::backward(geo, x, weight, dy, need_dx, tile, saved.transformed);
        }
    }
    let mut dx = if need_dx {
        zeros(geo.batch * in_sample)
    } else {
        Vec::new()
    };
    if geo.batch == 0 || p == 0 {
        return (dx, vec![0.0; weight.len()]);
    }
    if geo.is_depthwise() {
        let dw = depthwise_backward(geo, x, weight, dy, need_dx.then_some(&mut dx[..]));
        return (dx, dw);
    }
    if let Some(tap) = geo.one_pixel_tap() {
        let dw = one_pixel_backward(geo, tap, x, weight, dy, need_dx.then_some(&mut dx[..]));
        return (dx, dw);
    }
    if geo.is_direct_pointwise(p) {
        let dw = pointwise_backward(geo, x, weight, dy, need_dx.then_some(&mut dx[..]));
        return (dx, dw);
    }
    let ns = geo.samples_per_task(p);
    let parallel = geo.gemm_parallel(ns);
    let (og, kr) = (geo.og(), geo.col_rows());
    let task = |x: &[f32], dy: &[f32], dx: Option<&mut [f32]>| -> Vec<f32> {
        let ns = dy.len() / (o * p);
        // One sample: dY is already channel-major (`O × P`), no transposition needed.
        let transposed = if ns == 1 { 0 } else { o * ns * p };
        with_scratch(kr * ns * p, transposed, |col, scratch| {
            let dyt: &[f32] = if ns == 1 {
                dy
            } else {
                for n in 0..ns {
                    for ch in 0..o {
                        scratch[ch * ns * p + n * p..ch * ns * p + (n + 1) * p]
                            .copy_from_slice(&dy[(n * o + ch) * p..(n * o + ch + 1) * p]);
                    }
                }
                scratch
            };
            let mut dw = vec![0.0f32; weight.len()];
            let mut dx = dx;
            let mut transposed = Vec::new();
            for g in 0..geo.groups {
                im2col(geo, x, ns, g, col);
                let dyg = &dyt[g * og * ns * p..(g + 1) * og * ns * p];
                // dW_g[og × kr] = dY_g[og × cols] · col^T[cols × kr]
                sgemm_abt(
                    MatRef::row_major(dyg, og, ns * p),
                    MatRef::row_major(col, kr, ns * p),
                    MatMut::row_major(&mut dw[g * og * kr..(g + 1) * og * kr], og, kr),
                    &mut transposed,
                    parallel,
                );
                if let Some(dx) = dx.as_deref_mut() {
                    // dcol[kr × cols] = W_g^T[kr × og] · dY_g[og × cols]
                    let wg = &weight[g * og * kr..(g + 1) * og * kr];
                    sgemm(
                        MatRef::row_major(wg, og, kr).t(),
                        MatRef::row_major(dyg, og, ns * p),
                        MatMut::row_major(col, kr, ns * p),
                        false,
                        parallel,
                    );
                    col2im(geo, col, ns, g, dx);
                }
            }
            dw
        })
    };
    let partials = per_chunk(
        x,
        ns * in_sample,
        dy,
        ns * o * p,
        need_dx.then_some(&mut dx[..]),
        |_, x, dy, dx| task(x, dy, dx),
    );
    let dw = sum_partials(weight.len(), partials);
    (dx, dw)
}

/// Runs `task(index, x, dy, dx)` in parallel on matching chunks of the input (`x_chunk` values
/// each), the output gradient (`dy_chunk`) and, when given, the input gradient (`x_chunk`), and
/// returns the results in chunk order (so reductions over them are deterministic).
pub(crate) fn per_chunk<R: Send>(
    x: &[f32],
    x_chunk: usize,
    dy: &[f32],
    dy_chunk: usize,
    dx: Option<&mut [f32]>,
    task: impl Fn(usize, &[f32], &[f32], Option<&mut [f32]>) -> R + Sync + Send,
) -> Vec<R> {
    match dx {
        Some(dx) => dx
            .par_chunks_mut(x_chunk)
            .zip(x.par_chunks(x_chunk))
            .zip(dy.par_chunks(dy_chunk))
            .enumerate()
            .map(|(i, ((dx, x), dy))| task(i, x, dy, Some(dx)))
            .collect(),
        None => x
            .par_chunks(x_chunk)
            .zip(dy.par_chunks(dy_chunk))
            .enumerate()
            .map(|(i, (x, dy))| task(i, x, dy, None))
            .collect(),
    }
}

/// Values per parallel task of [`sum_in_order`].
pub(crate) const SUM_CHUNK: usize = 1 << 14;

/// The sum of per-chunk weight gradients (`len` values each): every value adds its partials in
/// chunk order, `((p0 + p1) + p2) + …` (see [`sum_in_order`]); zeros when there are none.
pub(crate) fn sum_partials(len: usize, partials: Vec<Vec<f32>>) -> Vec<f32> {
    let dw = sum_in_order(partials).unwrap_or_else(|| vec![0.0; len]);
    debug_assert_eq!(dw.len(), len);
    dw
}

/// The sum of equally long buffers, value by value in their order, `((p0 + p1) + p2) + …`, into
/// the first (`None` when there are none). The work is split over blocks of values, which leaves
/// that order alone, so the sum does not depend on the thread count.
pub(crate) fn sum_in_order<P>(parts: Vec<P>) -> Option<P>
where
    P: DerefMut<Target = [f32]> + Sync,
{
    let mut parts = parts.into_iter();
    let mut total = parts.next()?;
    let rest: Vec<P> = parts.collect();
    if !rest.is_empty() {
        total
            .par_chunks_mut(SUM_CHUNK)
            .enumerate()
            .for_each(|(i, block)| {
                let start = i * SUM_CHUNK;
                for part in &rest {
                    add_to(block, &part[start..start + block.len()]);
                }
            });
    }
    Some(total)
}

/// The `og × cg` weights of group `g`'s kernel tap `tap` (a strided view of `weight`).
fn tap_weights<'a>(geo: &ConvGeometry, weight: &'a [f32], g: usize, tap: usize) -> MatRef<'a> {
    let (cg, og, kk) = (geo.cg(), geo.og(), geo.kernel * geo.kernel);
    MatRef::new(&weight[g * og * cg * kk + tap..], og, cg, cg * kk, kk)
}

/// The forward pass on 1×1 maps ([`ConvGeometry::one_pixel_tap`]): per group,
/// `out_g[N × og] = x_g[N × cg] · W_tapᵀ`, straight on the NCHW buffers (a sample's channels
/// are a row), one GEMM over the whole batch using the pool.
fn one_pixel_forward(geo: &ConvGeometry, tap: usize, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (n, c, o) = (geo.batch, geo.in_channels, geo.out_channels);
    let (cg, og) = (geo.cg(), geo.og());
    for g in 0..geo.groups {
        sgemm(
            MatRef::new(&x[g * cg..], n, cg, c, 1),
            tap_weights(geo, weight, g, tap).t(),
            MatMut::new(&mut out[g * og..], n, og, o),
            false,
            true,
        );
    }
}

/// The gradients on 1×1 maps ([`ConvGeometry::one_pixel_tap`]): per group
/// `dW_tap[og × cg] = dy_gᵀ · x_g` (depth: the batch) and `dx_g[N × cg] = dy_g · W_tap`; the
/// other taps' gradients are zero (they read padding only). Returns `dweight`; writes `dx`
/// when given.
fn one_pixel_backward(
    geo: &ConvGeometry,
    tap: usize,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
) -> Vec<f32> {
    let (n, c, o) = (geo.batch, geo.in_channels, geo.out_channels);
    let (cg, og, kk) = (geo.cg(), geo.og(), geo.kernel * geo.kernel);
    let mut dw = vec![0.0f32; weight.len()];
    let mut dw_tap = vec![0.0f32; if kk == 1 { 0 } else { og * cg }];
    let mut dx = dx;
    for g in 0..geo.groups {
        let dyg = MatRef::new(&dy[g * og..], n, og, o, 1);
        let dwg = &mut dw[g * og * cg * kk..(g + 1) * og * cg * kk];
        let dst = if kk == 1 { &mut *dwg } else { &mut dw_tap[..] };
        sgemm(
            dyg.t(),
            MatRef::new(&x[g * cg..], n, cg, c, 1),
            MatMut::row_major(dst, og, cg),
            false,
            true,
        );
        if kk > 1 {
            for (i, &v) in dw_tap.iter().enumerate() {
                dwg[i * kk + tap] = v;
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            sgemm(
                dyg,
                tap_weights(geo, weight, g, tap),
                MatMut::new(&mut dx[g * cg..], n, cg, c),
                false,
                true,
            );
        }
    }
    dw
}

/// Gradients of a 1×1 convolution (stride 1, no padding) straight on the NCHW buffers: per
/// sample, `dW_g += dY_g · X_gᵀ` and `dX_g = W_gᵀ · dY_g` — no im2col, col2im or transposition.
/// Returns `dweight`; writes `dx` when given.
fn pointwise_backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
) -> Vec<f32> {
    let p = geo.in_hw.0 * geo.in_hw.1;
    let (o, cg, og) = (geo.out_channels, geo.cg(), geo.og());
    let in_sample = geo.in_channels * p;
    let ns = geo.samples_per_task(p);
    let parallel = geo.gemm_parallel(ns);
    // dW_g = Σ_n dY_g X_gᵀ, or its transpose X_g dY_gᵀ summed into `dw` read as `cg × og` per
    // group when og < cg and og < 256 (see `sgemm_abt`: the same sums, about twice as fast), turned at the end
    let turned = og < cg && og < 256;
    let task = |x: &[f32], dy: &[f32], mut dx: Option<&mut [f32]>| -> Vec<f32> {
        let mut dw = vec![0.0f32; weight.len()];
        for (n, dy) in dy.chunks(o * p).enumerate() {
            let x = &x[n * in_sample..(n + 1) * in_sample];
            for g in 0..geo.groups {
                let dyg = &dy[g * og * p..(g + 1) * og * p];
                let xg = &x[g * cg * p..(g + 1) * cg * p];
                let dwg = &mut dw[g * og * cg..(g + 1) * og * cg];
                if turned {
                    sgemm(
                        MatRef::row_major(xg, cg, p),
                        MatRef::row_major(dyg, og, p).t(),
                        MatMut::row_major(dwg, cg, og),
                        true,
                        parallel,
                    );
                } else {
                    sgemm(
                        MatRef::row_major(dyg, og, p),
                        MatRef::row_major(xg, cg, p).t(),
                        MatMut::row_major(dwg, og, cg),
                        true,
                        parallel,
                    );
                }
                if let Some(dx) = dx.as_deref_mut() {
                    let dxg = &mut dx[n * in_sample + g * cg * p..n * in_sample + (g + 1) * cg * p];
                    sgemm(
                        MatRef::row_major(&weight[g * og * cg..(g + 1) * og * cg], og, cg).t(),
                        MatRef::row_major(dyg, og, p),
                        MatMut::row_major(dxg, cg, p),
                        false,
                        parallel,
                    );
                }
            }
        }
        if turned {
            for g in 0..geo.groups {
                let dwg = &mut dw[g * og * cg..(g + 1) * og * cg];
                let t = dwg.to_vec();
                transpose_into(&t, cg, og, dwg, cg);
            }
        }
        dw
    };
    let partials = per_chunk(x, ns * in_sample, dy, ns * o * p, dx, |_, x, dy, dx| {
        task(x, dy, dx)
    });
    sum_partials(weight.len(), partials)
}

/// The gradient of a per-channel bias: `Σ_n Σ_plane dy` for each of `channels` channels of
/// `dy` (`batch × channels × plane`), in parallel over channels.
pub fn bias_gradient(dy: &[f32], batch: usize, channels: usize, plane: usize) -> Vec<f32> {
    channel_sums(dy, batch, channels, plane)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}
