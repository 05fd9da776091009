//! CPU kernels on plain slices: single-precision GEMM, im2col / col2im convolution, direct
//! depthwise convolution, pooling and batch normalisation. No tape here: `ops` wraps these as
//! dfdx tape operations.
//!
//! Parallelism: every kernel splits its work into pieces whose boundaries depend only on the
//! shapes (never on scheduling or on the number of threads) and reduces partial sums in a fixed
//! order, so results are bit-identical for the same inputs whatever the size of the rayon pool
//! (the CLI's `--threads` and `--jobs`). The GEMM crate parallelises over rows and columns of the
//! output only, never over the depth, so its results do not depend on the pool either.
//!
//! Vector width: the crate is compiled for baseline x86-64 (SSE2), so the hot loops are written
//! inside `multiversioned!` functions, compiled once more for AVX-512 or AVX2 with FMA and
//! chosen at run time from what the CPU has (the GEMM crate does the same for its own kernels).

use std::cell::RefCell;

use rayon::prelude::*;

/// Defines a kernel function twice over: compiled for AVX-512 (or AVX2 with FMA) and for the
/// baseline, with the choice made at run time from what the CPU has. The body is inlined into
/// each copy, so its loops vectorise with the widest registers available. Call such kernels
/// inside each parallel task. Results do not depend on the copy chosen: Rust neither reassociates
/// nor contracts floating-point operations.
macro_rules! multiversioned {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: this CPU has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: this CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

mod norm;
pub use norm::Activation;
pub(crate) use norm::{
    activation_backward, activation_forward, activation_in_place, add_forward, batch_norm_backward,
    batch_norm_forward, channel_moments, channel_sums, BatchNormCoefficients,
};

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
fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
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

/// The longest depth [`sgemm`] hands to the GEMM crate at once. The crate cuts a longer depth into
/// even blocks whose size it derives from the CPU (L1 cache size and associativity, vector width;
/// at least 512) and adds the blocks' products one after the other, so the same product would
/// round differently on machines with different caches. Cut by `sgemm` into `⌈k / 512⌉` even
/// blocks ([`depth_block`]; 512 is the smallest block the crate uses), the depth is never cut
/// again: on CPUs with FMA each value is then a fixed chain of fused multiply-adds per block, the
/// blocks added in order (tested below).
///
/// Not covered: the crate's small-product path (`m·n ≤ 256` with both operands contiguous along
/// the depth) sums in vector lanes, and its matrix–vector paths (`m` or `n` equal to 1) may too,
/// so those may differ between AVX-512 and AVX2 machines.
const DEPTH_BLOCK: usize = 512;

/// The depth of the blocks [`sgemm`] cuts a depth `k` into, `⌈k / ⌈k / 512⌉⌉`: the fewest
/// blocks of at most 512, none much thinner than the others (576 = 288 + 288, not 512 + 64).
fn depth_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(DEPTH_BLOCK).max(1)).max(1)
}

/// `c[m×n] (+)= a[m×k] · b[k×n]` with explicit row and column strides for `a` and `b` and a
/// row-major `c` of row stride `ldc`. `parallel` lets the GEMM use the rayon pool; it splits the
/// rows and columns of `c` among threads, never the depth, so results do not depend on the pool.
/// The depth is cut into fixed blocks (at most 512, even in size), added into `c` in order.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    assert!(
        a.len() > (m - 1) * a_rs + (k - 1) * a_cs,
        "sgemm: lhs too short"
    );
    assert!(
        b.len() > (k - 1) * b_rs + (n - 1) * b_cs,
        "sgemm: rhs too short"
    );
    assert!(c.len() >= (m - 1) * ldc + n, "sgemm: dst too short");
    let par = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let block = depth_block(k);
    for start in (0..k).step_by(block) {
        let depth = block.min(k - start);
        // SAFETY: the asserts above bound every index the GEMM touches: columns `start..start +
        // depth` of `a` and rows `start..start + depth` of `b` lie within the `k` checked.
        unsafe {
            gemm::gemm(
                m,
                n,
                depth,
                c.as_mut_ptr(),
                1,
                ldc as isize,
                accumulate || start > 0,
                a.as_ptr().add(start * a_cs),
                a_cs as isize,
                a_rs as isize,
                b.as_ptr().add(start * b_rs),
                b_cs as isize,
                b_rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            )
        }
    }
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
    fn cg(&self) -> usize {
        self.in_channels / self.groups
    }
    fn og(&self) -> usize {
        self.out_channels / self.groups
    }
    fn col_rows(&self) -> usize {
        self.cg() * self.kernel * self.kernel
    }
    fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.cg() == 1 && self.og() == 1
    }
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
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
    fn samples_per_task(&self, out_pixels: usize) -> usize {
        // 1024 and 256 were tried on resnet18 (batch 64, 32×32, 2 threads): no difference
        // beyond the machine's noise.
        const TARGET_COLUMNS: usize = 4096;
        let p = out_pixels.max(1);
        let by_cols = TARGET_COLUMNS.div_ceil(p).max(1);
        let by_tasks = self.batch.div_ceil(MIN_TASKS).max(1);
        let by_depth = MIN_DEPTH.div_ceil(p);
        by_cols.min(by_tasks.max(by_depth))
    }

    /// Whether the GEMMs inside the tasks of [`ConvGeometry::samples_per_task`] should use the
    /// rayon pool themselves: when there are fewer tasks than threads. This is scheduling only:
    /// the GEMM crate splits the rows and columns of its output among threads, never the depth,
    /// so its values are the same either way.
    fn gemm_parallel(&self, samples_per_task: usize) -> bool {
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

/// Forward convolution: `x` (`N×C×H×W`), `weight` (`O × C/groups × k × k`), optional `bias`
/// (`O`) → `N×O×Ho×Wo`.
pub fn conv2d_forward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let p = ho * wo;
    let o = geo.out_channels;
    let mut out = vec![0.0f32; geo.batch * o * p];
    if geo.batch == 0 || p == 0 {
        return out;
    }
    if geo.is_depthwise() {
        depthwise_forward(geo, x, weight, &mut out);
    } else if geo.is_direct_pointwise(p) {
        let in_sample = geo.in_channels * p;
        let (cg, og) = (geo.cg(), geo.og());
        out.par_chunks_mut(o * p)
            .zip(x.par_chunks(in_sample))
            .for_each(|(out, x)| {
                // One sample: out_g[og × P] = W_g[og × cg] · x_g[cg × P], in place.
                for g in 0..geo.groups {
                    sgemm(
                        og,
                        p,
                        cg,
                        &weight[g * og * cg..(g + 1) * og * cg],
                        cg,
                        1,
                        &x[g * cg * p..(g + 1) * cg * p],
                        p,
                        1,
                        &mut out[g * og * p..(g + 1) * og * p],
                        p,
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
                            og,
                            ns * p,
                            kr,
                            wg,
                            kr,
                            1,
                            col,
                            ns * p,
                            1,
                            dst,
                            ns * p,
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
    out
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
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let p = ho * wo;
    let o = geo.out_channels;
    let in_sample = geo.in_channels * geo.in_hw.0 * geo.in_hw.1;
    let mut dx = if need_dx {
        vec![0.0f32; geo.batch * in_sample]
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
            for g in 0..geo.groups {
                im2col(geo, x, ns, g, col);
                let dyg = &dyt[g * og * ns * p..(g + 1) * og * ns * p];
                // dW_g[og × kr] = dY_g[og × cols] · col^T[cols × kr]
                sgemm(
                    og,
                    kr,
                    ns * p,
                    dyg,
                    ns * p,
                    1,
                    col,
                    1,
                    ns * p,
                    &mut dw[g * og * kr..(g + 1) * og * kr],
                    kr,
                    false,
                    parallel,
                );
                if let Some(dx) = dx.as_deref_mut() {
                    // dcol[kr × cols] = W_g^T[kr × og] · dY_g[og × cols]
                    let wg = &weight[g * og * kr..(g + 1) * og * kr];
                    sgemm(
                        kr,
                        ns * p,
                        og,
                        wg,
                        1,
                        kr,
                        dyg,
                        ns * p,
                        1,
                        col,
                        ns * p,
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
fn per_chunk<R: Send>(
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

/// Values per parallel task of [`sum_partials`].
const SUM_CHUNK: usize = 1 << 14;

/// The sum of per-chunk weight gradients (`len` values each): every value adds its partials in
/// chunk order, `((p0 + p1) + p2) + …`. The work is split over blocks of values, which leaves
/// that order alone, so the sum does not depend on the thread count.
fn sum_partials(len: usize, partials: Vec<Vec<f32>>) -> Vec<f32> {
    let mut partials = partials.into_iter();
    let Some(mut dw) = partials.next() else {
        return vec![0.0; len];
    };
    debug_assert_eq!(dw.len(), len);
    let rest: Vec<Vec<f32>> = partials.collect();
    if rest.is_empty() {
        return dw;
    }
    dw.par_chunks_mut(SUM_CHUNK)
        .enumerate()
        .for_each(|(i, block)| {
            let start = i * SUM_CHUNK;
            for part in &rest {
                add_assign(block, &part[start..start + block.len()]);
            }
        });
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
    let task = |x: &[f32], dy: &[f32], mut dx: Option<&mut [f32]>| -> Vec<f32> {
        let mut dw = vec![0.0f32; weight.len()];
        for (n, dy) in dy.chunks(o * p).enumerate() {
            let x = &x[n * in_sample..(n + 1) * in_sample];
            for g in 0..geo.groups {
                let dyg = &dy[g * og * p..(g + 1) * og * p];
                sgemm(
                    og,
                    cg,
                    p,
                    dyg,
                    p,
                    1,
                    &x[g * cg * p..(g + 1) * cg * p],
                    1,
                    p,
                    &mut dw[g * og * cg..(g + 1) * og * cg],
                    cg,
                    true,
                    parallel,
                );
                if let Some(dx) = dx.as_deref_mut() {
                    let dxg = &mut dx[n * in_sample + g * cg * p..n * in_sample + (g + 1) * cg * p];
                    sgemm(
                        cg,
                        p,
                        og,
                        &weight[g * og * cg..(g + 1) * og * cg],
                        1,
                        cg,
                        dyg,
                        p,
                        1,
                        dxg,
                        p,
                        false,
                        parallel,
                    );
                }
            }
        }
        dw
    };
    let partials = per_chunk(x, ns * in_sample, dy, ns * o * p, dx, |_, x, dy, dx| {
        task(x, dy, dx)
    });
    sum_partials(weight.len(), partials)
}

multiversioned! {
    /// `dst += src` element-wise.
    pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
    }
}

/// The gradient of a per-channel bias: `Σ_n Σ_plane dy` for each of `channels` channels of
/// `dy` (`batch × channels × plane`), in parallel over channels.
pub fn bias_gradient(dy: &[f32], batch: usize, channels: usize, plane: usize) -> Vec<f32> {
    channel_sums(dy, batch, channels, plane)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// Copies plane `x` (`h × w`) into the interior of `padded` (`(h + 2p) × (w + 2p)`); the border
/// is left as it is (zero: callers zero the buffer once and reuse it for every plane).
fn fill_interior(x: &[f32], h: usize, w: usize, p: usize, padded: &mut [f32]) {
    let wp = w + 2 * p;
    for (iy, row) in x.chunks_exact(w).enumerate().take(h) {
        padded[(iy + p) * wp + p..(iy + p) * wp + p + w].copy_from_slice(row);
    }
}

/// Direct depthwise convolution (one input and one output channel per group), in parallel over
/// samples. Each plane is first copied into a zero-padded buffer, so the inner loops run over
/// whole output rows without bounds tests (and vectorise for stride 1).
fn depthwise_forward(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let c = geo.in_channels;
    out.par_chunks_mut(c * ho * wo)
        .zip(x.par_chunks(c * h * w))
        .for_each(|(out, x)| depthwise_forward_sample(geo, x, weight, out));
}

multiversioned! {
    /// [`depthwise_forward`] of one sample.
    fn depthwise_forward_sample(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let (k, s, p, d) = (geo.kernel, geo.stride, geo.padding, geo.dilation);
        let c = geo.in_channels;
        let wp = w + 2 * p;
        let mut padded = vec![0.0f32; (h + 2 * p) * wp];
        for ch in 0..c {
            fill_interior(&x[ch * h * w..(ch + 1) * h * w], h, w, p, &mut padded);
            let wk = &weight[ch * k * k..(ch + 1) * k * k];
            let plane = &mut out[ch * ho * wo..(ch + 1) * ho * wo];
            for (oy, orow) in plane.chunks_exact_mut(wo).enumerate() {
                for ki in 0..k {
                    let prow = &padded[(oy * s + ki * d) * wp..(oy * s + ki * d + 1) * wp];
                    for kj in 0..k {
                        let wv = wk[ki * k + kj];
                        if s == 1 {
                            let src = &prow[kj * d..kj * d + wo];
                            orow.iter_mut().zip(src).for_each(|(o, v)| *o += wv * v);
                        } else {
                            let src = prow[kj * d..].iter().step_by(s);
                            orow.iter_mut().zip(src).for_each(|(o, v)| *o += wv * v);
                        }
                    }
                }
            }
        }
    }
}

fn depthwise_backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let c = geo.in_channels;
    let partials = per_chunk(x, c * h * w, dy, c * ho * wo, dx, |_, x, dy, dx| {
        depthwise_backward_sample(geo, x, weight, dy, dx)
    });
    sum_partials(weight.len(), partials)
}

multiversioned! {
    /// [`depthwise_backward`] of one sample: the weight gradient of its planes, and its input
    /// gradient in place.
    fn depthwise_backward_sample(
        geo: &ConvGeometry,
        x: &[f32],
        weight: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
    ) -> Vec<f32> {
        let mut dx = dx;
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let (k, s, p, d) = (geo.kernel, geo.stride, geo.padding, geo.dilation);
        let c = geo.in_channels;
        let (hp, wp) = (h + 2 * p, w + 2 * p);
            let mut padded = vec![0.0f32; hp * wp];
            let mut dpad = vec![0.0f32; if dx.is_some() { hp * wp } else { 0 }];
            let mut acc = vec![0.0f32; wo];
            let mut dw = vec![0.0f32; c * k * k];
            for ch in 0..c {
                fill_interior(&x[ch * h * w..(ch + 1) * h * w], h, w, p, &mut padded);
                let g = &dy[ch * ho * wo..(ch + 1) * ho * wo];
                let wk = &weight[ch * k * k..(ch + 1) * k * k];
                // dW[ki, kj] = Σ_oy Σ_ox dy[oy, ox] · padded[oy·s + ki·d, ox·s + kj·d].
                for ki in 0..k {
                    for kj in 0..k {
                        acc.fill(0.0);
                        for (oy, grow) in g.chunks_exact(wo).enumerate() {
                            let prow = &padded[(oy * s + ki * d) * wp + kj * d..];
                            let pairs = acc.iter_mut().zip(grow);
                            if s == 1 {
                                pairs.zip(prow).for_each(|((a, g), v)| *a += g * v);
                            } else {
                                let src = prow.iter().step_by(s);
                                pairs.zip(src).for_each(|((a, g), v)| *a += g * v);
                            }
                        }
                        dw[(ch * k + ki) * k + kj] = acc.iter().sum();
                    }
                }
                // dx: scatter w · dy into the padded gradient, then keep its interior.
                if let Some(dx) = dx.as_deref_mut() {
                    dpad.fill(0.0);
                    for (oy, grow) in g.chunks_exact(wo).enumerate() {
                        for ki in 0..k {
                            let row = (oy * s + ki * d) * wp;
                            for kj in 0..k {
                                let wv = wk[ki * k + kj];
                                let dst = &mut dpad[row + kj * d..];
                                if s == 1 {
                                    dst.iter_mut().zip(grow).for_each(|(o, g)| *o += wv * g);
                                } else {
                                    let dst = dst.iter_mut().step_by(s);
                                    dst.zip(grow).for_each(|(o, g)| *o += wv * g);
                                }
                            }
                        }
                    }
                    let plane = &mut dx[ch * h * w..(ch + 1) * h * w];
                    for (iy, row) in plane.chunks_exact_mut(w).enumerate() {
                        row.copy_from_slice(&dpad[(iy + p) * wp + p..(iy + p) * wp + p + w]);
                    }
                }
            }
            dw
    }
}

/// Geometry of a 2-D pooling window over NCHW tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch size times channels (independent planes).
    pub planes: usize,
    /// Input height and width.
    pub in_hw: (usize, usize),
    /// Window side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side (max-pool pads with −∞, average-pool counts padding as in PyTorch).
    pub padding: usize,
    /// Round the output size up (PyTorch's `ceil_mode`).
    pub ceil_mode: bool,
}

impl PoolGeometry {
    /// Output height and width (PyTorch's rule), or `None` when the input is too small.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let side = |x: usize| -> Option<usize> {
            let span = (x + 2 * self.padding).checked_sub(self.kernel)?;
            let mut out = if self.ceil_mode {
                span.div_ceil(self.stride) + 1
            } else {
                span / self.stride + 1
            };
            // The last window must start inside the input or the left padding.
            if self.ceil_mode && (out - 1) * self.stride >= x + self.padding {
                out -= 1;
            }
            (out > 0).then_some(out)
        };
        if 2 * self.padding > self.kernel {
            return None;
        }
        Some((side(self.in_hw.0)?, side(self.in_hw.1)?))
    }
}

/// Max-pool forward: the output and, for each output, the flat in-plane index of its maximum.
pub fn max_pool_forward(geo: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut out = vec![0.0f32; geo.planes * ho * wo];
    let mut arg = vec![0u32; geo.planes * ho * wo];
    out.par_chunks_mut(ho * wo)
        .zip(arg.par_chunks_mut(ho * wo))
        .zip(x.par_chunks(h * w))
        .for_each(|((out, arg), x)| {
            for oy in 0..ho {
                let y0 = (oy * geo.stride) as isize - geo.padding as isize;
                let (ya, yb) = (
                    y0.max(0) as usize,
                    ((y0 + geo.kernel as isize).min(h as isize)) as usize,
                );
                for ox in 0..wo {
                    let x0 = (ox * geo.stride) as isize - geo.padding as isize;
                    let (xa, xb) = (
                        x0.max(0) as usize,
                        ((x0 + geo.kernel as isize).min(w as isize)) as usize,
                    );
                    let mut best = f32::NEG_INFINITY;
                    let mut at = ya * w + xa;
                    for iy in ya..yb {
                        for ix in xa..xb {
                            let v = x[iy * w + ix];
                            if v > best || v.is_nan() {
                                best = v;
                                at = iy * w + ix;
                            }
                        }
                    }
                    out[oy * wo + ox] = best;
                    arg[oy * wo + ox] = at as u32;
                }
            }
        });
    (out, arg)
}

/// Max-pool backward: routes each output gradient to its maximum.
pub fn max_pool_backward(geo: &PoolGeometry, arg: &[u32], dy: &[f32]) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut dx = vec![0.0f32; geo.planes * h * w];
    dx.par_chunks_mut(h * w)
        .zip(arg.par_chunks(ho * wo))
        .zip(dy.par_chunks(ho * wo))
        .for_each(|((dx, arg), dy)| {
            for (a, g) in arg.iter().zip(dy) {
                dx[*a as usize] += g;
            }
        });
    dx
}

/// The window of output `o` along one side: input range and PyTorch's divisor (padding counted,
/// the window clipped to the padded input).
fn avg_window(o: usize, geo: &PoolGeometry, side: usize) -> (usize, usize, usize) {
    let start = (o * geo.stride) as isize - geo.padding as isize;
    let end = (start + geo.kernel as isize).min((side + geo.padding) as isize);
    let divisor = (end - start) as usize;
    (
        start.max(0) as usize,
        end.min(side as isize) as usize,
        divisor,
    )
}

/// Average-pool forward (PyTorch's `count_include_pad = true`).
pub fn avg_pool_forward(geo: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut out = vec![0.0f32; geo.planes * ho * wo];
    out.par_chunks_mut(ho * wo)
        .zip(x.par_chunks(h * w))
        .for_each(|(out, x)| {
            for oy in 0..ho {
                let (ya, yb, dy) = avg_window(oy, geo, h);
                for ox in 0..wo {
                    let (xa, xb, dx) = avg_window(ox, geo, w);
                    let mut s = 0.0f32;
                    for iy in ya..yb {
                        s += x[iy * w + xa..iy * w + xb].iter().sum::<f32>();
                    }
                    out[oy * wo + ox] = s / (dy * dx) as f32;
                }
            }
        });
    out
}

/// Average-pool backward.
pub fn avg_pool_backward(geo: &PoolGeometry, dy: &[f32]) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut dx = vec![0.0f32; geo.planes * h * w];
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(ho * wo))
        .for_each(|(dx, dy)| {
            for oy in 0..ho {
                let (ya, yb, dvy) = avg_window(oy, geo, h);
                for ox in 0..wo {
                    let (xa, xb, dvx) = avg_window(ox, geo, w);
                    let g = dy[oy * wo + ox] / (dvy * dvx) as f32;
                    for iy in ya..yb {
                        dx[iy * w + xa..iy * w + xb]
                            .iter_mut()
                            .for_each(|v| *v += g);
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_core::Rng;

    /// Brute-force forward convolution and its gradients, straight from the definition.
    fn reference(
        geo: &ConvGeometry,
        x: &[f32],
        weight: &[f32],
        dy: &[f32],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().unwrap();
        let (cg, og, k) = (geo.cg(), geo.og(), geo.kernel);
        let mut y = vec![0.0f64; geo.batch * geo.out_channels * ho * wo];
        let mut dx = vec![0.0f64; x.len()];
        let mut dw = vec![0.0f64; weight.len()];
        for n in 0..geo.batch {
            for oc in 0..geo.out_channels {
                let g = oc / og;
                for (oy, ox) in (0..ho).flat_map(|a| (0..wo).map(move |b| (a, b))) {
                    let yi = ((n * geo.out_channels + oc) * ho + oy) * wo + ox;
                    for (c, ki, kj) in (0..cg)
                        .flat_map(|c| (0..k).flat_map(move |i| (0..k).map(move |j| (c, i, j))))
                    {
                        let iy =
                            (oy * geo.stride + ki * geo.dilation) as isize - geo.padding as isize;
                        let ix =
                            (ox * geo.stride + kj * geo.dilation) as isize - geo.padding as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let ch = g * cg + c;
                        let xi = ((n * geo.in_channels + ch) * h + iy as usize) * w + ix as usize;
                        let wi = ((oc * cg + c) * k + ki) * k + kj;
                        y[yi] += x[xi] as f64 * weight[wi] as f64;
                        dx[xi] += dy[yi] as f64 * weight[wi] as f64;
                        dw[wi] += dy[yi] as f64 * x[xi] as f64;
                    }
                }
            }
        }
        (y, dx, dw)
    }

    fn close(what: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (*a as f64 - b).abs() <= 1e-4 * scale,
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    /// im2col/col2im (both the stride-1 slice paths and the general path; tasks of one sample,
    /// written in place, and of several, transposed), the pointwise path and the direct depthwise
    /// kernels against the definition, on maps larger than the kernel. Runs on two threads, so
    /// that tasks do run in parallel.
    #[test]
    fn convolution_kernels_match_the_definition() {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(convolution_cases);
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The convolutions' outputs and gradients, bit for bit, in pools of 1, 2, 3 and 5 threads:
    /// im2col with several samples per task (whose weight gradient is a sum of partials), 1×1
    /// on large planes, and depthwise, each on a batch larger than the thread counts.
    #[test]
    fn convolutions_do_not_depend_on_the_thread_count() {
        let mut rng = Rng::seed_from_u64(3);
        let cases = [
            // (batch, cin, cout, groups, hw, kernel, stride, padding)
            (19, 8, 12, 1, (6, 6), 3, 1, 1),
            (19, 64, 16, 1, (4, 4), 3, 1, 1),
            (9, 6, 8, 2, (16, 16), 1, 1, 0),
            (11, 6, 6, 6, (7, 7), 3, 2, 1),
        ];
        for (batch, cin, cout, groups, hw, kernel, stride, padding) in cases {
            let geo = ConvGeometry {
                batch,
                in_channels: cin,
                out_channels: cout,
                in_hw: hw,
                kernel,
                stride,
                padding,
                dilation: 1,
                groups,
            };
            let (ho, wo) = geo.out_hw().unwrap();
            let mut draw =
                |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
            let x = draw(batch * cin * hw.0 * hw.1);
            let weight = draw(cout * (cin / groups) * kernel * kernel);
            let dy = draw(batch * cout * ho * wo);
            let run = |threads| {
                in_pool(threads, || {
                    let y = conv2d_forward(&geo, &x, &weight, None);
                    let (dx, dw) = conv2d_backward(&geo, &x, &weight, &dy, true);
                    (bits(&y), bits(&dx), bits(&dw))
                })
            };
            let one = run(1);
            for threads in [2, 3, 5] {
                let other = run(threads);
                assert!(one.0 == other.0, "{geo:?}: output on {threads} threads");
                assert!(one.1 == other.1, "{geo:?}: dx on {threads} threads");
                assert!(one.2 == other.2, "{geo:?}: dweight on {threads} threads");
            }
        }
    }

    /// The parallel GEMM (the linear layers') gives the same bits as the sequential one on any
    /// pool: the GEMM crate splits rows and columns among threads, never the depth. Depths of
    /// several of its blocks (over 512) and shapes on both sides of its small-matrix path.
    #[test]
    fn parallel_gemm_does_not_depend_on_the_thread_count() {
        let mut rng = Rng::seed_from_u64(4);
        for (m, n, k) in [
            (64, 10, 1500),
            (200, 300, 1100),
            (37, 1000, 700),
            (64, 64, 2000),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal() as f32).collect();
            let gemm = |parallel: bool| {
                let mut c = vec![0.0f32; m * n];
                sgemm(m, n, k, &a, k, 1, &b, n, 1, &mut c, n, false, parallel);
                bits(&c)
            };
            let sequential = gemm(false);
            for threads in [1, 2, 3, 5] {
                assert!(
                    in_pool(threads, || gemm(true)) == sequential,
                    "{m}×{n}×{k} on {threads} threads"
                );
            }
        }
    }

    /// With the depth cut by `sgemm` itself, every value of a product is fixed to the bit on
    /// CPUs with FMA (the GEMM crate's kernels then use it): per block of [`depth_block`], a chain
    /// of fused multiply-adds from zero along the depth, the blocks added to `c` in order. Checked
    /// against that chain written out with `f32::mul_add` (exact on every machine), for depths of
    /// one and of several blocks, so the result does not depend on the cache sizes the crate
    /// would have cut the depth by.
    #[test]
    fn gemm_values_follow_a_fixed_chain_of_fused_multiply_adds() {
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("fma") {
            return;
        }
        let mut rng = Rng::seed_from_u64(6);
        for (m, n, k) in [
            (70, 90, 300),
            (70, 90, 576),
            (70, 90, 1300),
            (100, 80, 2100),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal() as f32).collect();
            let mut c = vec![0.0f32; m * n];
            sgemm(m, n, k, &a, k, 1, &b, n, 1, &mut c, n, false, false);
            for i in 0..m {
                for j in 0..n {
                    let mut want = 0.0f32;
                    let block = depth_block(k);
                    for start in (0..k).step_by(block) {
                        let mut acc = 0.0f32;
                        for d in start..k.min(start + block) {
                            acc = a[i * k + d].mul_add(b[d * n + j], acc);
                        }
                        want = if start == 0 { acc } else { want + acc };
                    }
                    assert_eq!(
                        c[i * n + j].to_bits(),
                        want.to_bits(),
                        "{m}×{n}×{k} at ({i}, {j})"
                    );
                }
            }
        }
    }

    fn convolution_cases() {
        let mut rng = Rng::seed_from_u64(7);
        let cases = [
            // (batch, cin, cout, groups, hw, kernel, stride, padding, dilation)
            (3, 4, 5, 1, (7, 9), 3, 1, 1, 1),
            (1, 3, 5, 1, (9, 9), 3, 1, 1, 1),
            (2, 4, 4, 2, (10, 10), 3, 2, 1, 1),
            (2, 4, 6, 2, (8, 8), 3, 2, 1, 1),
            (2, 3, 4, 1, (9, 7), 3, 1, 2, 2),
            (2, 3, 4, 1, (6, 6), 5, 1, 0, 1),
            (5, 6, 4, 1, (5, 5), 1, 1, 0, 1),
            (2, 6, 6, 6, (7, 8), 3, 1, 1, 1),
            (2, 6, 6, 6, (8, 8), 3, 2, 1, 1),
            (2, 4, 4, 4, (9, 8), 3, 1, 2, 2),
            (2, 4, 4, 4, (2, 2), 3, 1, 1, 1),
            (3, 5, 5, 5, (11, 10), 5, 2, 2, 1),
            (1, 3, 3, 3, (7, 7), 3, 3, 0, 1),
            (4, 3, 4, 1, (11, 11), 3, 1, 0, 1),
            (3, 6, 4, 1, (16, 16), 1, 1, 0, 1),
            (2, 4, 6, 2, (16, 17), 1, 1, 0, 1),
        ];
        for (batch, cin, cout, groups, hw, kernel, stride, padding, dilation) in cases {
            let geo = ConvGeometry {
                batch,
                in_channels: cin,
                out_channels: cout,
                in_hw: hw,
                kernel,
                stride,
                padding,
                dilation,
                groups,
            };
            let (ho, wo) = geo.out_hw().unwrap();
            let mut draw =
                |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
            let x = draw(batch * cin * hw.0 * hw.1);
            let weight = draw(cout * (cin / groups) * kernel * kernel);
            let dy = draw(batch * cout * ho * wo);
            let (y, dx, dw) = reference(&geo, &x, &weight, &dy);
            let what = format!("{geo:?}");
            close(
                &format!("{what} forward"),
                &conv2d_forward(&geo, &x, &weight, None),
                &y,
            );
            let (gx, gw) = conv2d_backward(&geo, &x, &weight, &dy, true);
            close(&format!("{what} dx"), &gx, &dx);
            close(&format!("{what} dweight"), &gw, &dw);
        }
    }
}
