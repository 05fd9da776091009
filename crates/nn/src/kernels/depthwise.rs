//! Direct depthwise convolution (one input and one output channel per group): memory-bound, so
//! not a GEMM. Two kernels give the same values to the bit (the same sums in the same order):
//!
//! - Plane by plane ([`forward_by_planes`], [`backward_by_planes`]), for input planes of
//!   [`PLANE_PATH_MIN`] values and more: each plane copied into a zero-padded buffer, the inner
//!   loops vectorised along whole rows.
//! - [`LANES`] channels at a time, one per vector lane, for the smaller planes (the zoo's go
//!   down to 2×2, where loops along a row do nothing): each sample's planes are transposed to
//!   `position × channel`, and every kernel tap at every position is one vector multiply-add,
//!   the window bookkeeping shared by the lanes.

use super::conv::{per_chunk, sum_partials, ConvGeometry};
use super::simd::multiversioned;
use super::transpose::{transpose16, SIDE};
use rayon::prelude::*;

/// Channels computed together, one per vector lane.
const LANES: usize = 16;

/// One value of [`LANES`] channels.
type Lanes = [f32; LANES];

/// Partial sums of one weight-gradient value with stride 1: a term of output position `q` on
/// the zero-padded grid (`q = oy · (w + 2p) + ox`) goes to partial `q mod 16`.
const STRIDE1_PARTIALS: usize = 16;

/// `dst[i][l] = src[l · len + i]` for the first `lanes` lanes (the other lanes: zero where a
/// whole block of 16 positions was moved, unchanged in the last positions): 16 × 16 blocks
/// transposed at once, the remaining positions one by one.
#[inline(always)]
fn gather(src: &[f32], len: usize, lanes: usize, dst: &mut [Lanes]) {
    let whole = len / SIDE * SIDE;
    for i0 in (0..whole).step_by(SIDE) {
        let block = dst[i0..i0 + SIDE].as_flattened_mut();
        transpose16(&src[i0..], len, lanes, block, LANES, SIDE);
    }
    for l in 0..lanes {
        for (d, &v) in dst[whole..len]
            .iter_mut()
            .zip(&src[l * len + whole..(l + 1) * len])
        {
            d[l] = v;
        }
    }
}

/// `dst[l · len + i] = src[i][l]` for the first `lanes` lanes: 16 × 16 blocks transposed at once,
/// the remaining positions one by one.
#[inline(always)]
fn scatter(src: &[Lanes], len: usize, lanes: usize, dst: &mut [f32]) {
    let whole = len / SIDE * SIDE;
    for i0 in (0..whole).step_by(SIDE) {
        let block = src[i0..i0 + SIDE].as_flattened();
        transpose16(block, LANES, SIDE, &mut dst[i0..], len, lanes);
    }
    for l in 0..lanes {
        for (d, s) in dst[l * len + whole..(l + 1) * len]
            .iter_mut()
            .zip(&src[whole..len])
        {
            *d = s[l];
        }
    }
}

/// `acc[l] += a[l] · b[l]`.
///
/// Through local copies: written in place, LLVM's vectoriser left the weight gradient's
/// accumulation (into partials in memory) as 16 scalar multiply-adds.
#[inline(always)]
fn mul_add(acc: &mut Lanes, a: &Lanes, b: &Lanes) {
    let (mut s, a, b) = (*acc, *a, *b);
    for l in 0..LANES {
        s[l] += a[l] * b[l];
    }
    *acc = s;
}

/// Where the taps fall along one side: `at[o · k + t]` is the input index `o · s + t · d − p` of
/// output `o`'s tap `t` (or `NONE` in the padding), for `o < outputs`; with `inverse`, the
/// output `o` with `o · s + t · d − p = i` at `at[i · k + t]` (or `NONE`), for `i < inputs`.
/// Tables, so that the inner loops do no division.
fn taps(geo: &ConvGeometry, inputs: usize, outputs: usize, inverse: bool) -> Vec<usize> {
    let k = geo.kernel;
    let input = |o: usize, t: usize| {
        (o * geo.stride + t * geo.dilation)
            .checked_sub(geo.padding)
            .filter(|&i| i < inputs)
    };
    if !inverse {
        return (0..outputs * k)
            .map(|a| input(a / k, a % k).unwrap_or(NONE))
            .collect();
    }
    let mut at = vec![NONE; inputs * k];
    for o in 0..outputs {
        for t in 0..k {
            if let Some(i) = input(o, t) {
                at[i * k + t] = o;
            }
        }
    }
    at
}

/// A tap in the padding (in [`taps`]).
const NONE: usize = usize::MAX;

/// Input planes of at least this many values run plane by plane ([`forward_by_planes`]):
/// there the transposes of the lanes cost more than the rows' own vector loops save.
const PLANE_PATH_MIN: usize = 256;

/// Whether `geo`'s planes are large enough for the plane-by-plane kernels.
fn by_planes(geo: &ConvGeometry) -> bool {
    geo.in_hw.0 * geo.in_hw.1 >= PLANE_PATH_MIN
}

/// Direct depthwise convolution, in parallel over samples.
pub(crate) fn depthwise_forward(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let c = geo.in_channels;
    out.par_chunks_mut(c * ho * wo)
        .zip(x.par_chunks(c * h * w))
        .for_each(|(out, x)| {
            if by_planes(geo) {
                forward_by_planes(geo, x, weight, out)
            } else {
                depthwise_forward_sample(geo, x, weight, out)
            }
        });
}

multiversioned! {
    /// [`depthwise_forward`] of one sample: `out[o] = Σ_taps w[tap] · x[input(o, tap)]`, the
    /// taps in row-major order (those reading padding left out: they add an exact zero).
    fn depthwise_forward_sample(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let (k, c) = (geo.kernel, geo.in_channels);
        let mut xl = vec![[0.0f32; LANES]; h * w];
        let mut ol = vec![[0.0f32; LANES]; ho * wo];
        let mut wl = vec![[0.0f32; LANES]; k * k];
        let (in_y, in_x) = (taps(geo, h, ho, false), taps(geo, w, wo, false));
        for c0 in (0..c).step_by(LANES) {
            let lanes = LANES.min(c - c0);
            gather(&x[c0 * h * w..], h * w, lanes, &mut xl);
            gather(&weight[c0 * k * k..], k * k, lanes, &mut wl);
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = [0.0f32; LANES];
                    for ki in 0..k {
                        let iy = in_y[oy * k + ki];
                        if iy == NONE {
                            continue;
                        }
                        for kj in 0..k {
                            let ix = in_x[ox * k + kj];
                            if ix != NONE {
                                mul_add(&mut acc, &wl[ki * k + kj], &xl[iy * w + ix]);
                            }
                        }
                    }
                    ol[oy * wo + ox] = acc;
                }
            }
            scatter(&ol, ho * wo, lanes, &mut out[c0 * ho * wo..]);
        }
    }
}

pub(crate) fn depthwise_backward(
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
        if by_planes(geo) {
            backward_by_planes(geo, x, weight, dy, dx)
        } else {
            depthwise_backward_sample(geo, x, weight, dy, dx)
        }
    });
    sum_partials(weight.len(), partials)
}

multiversioned! {
    /// [`depthwise_backward`] of one sample: the weight gradient of its planes, and its input
    /// gradient in place.
    ///
    /// The weight gradient of a tap adds `dy[o] · x[input(o, tap)]` over the outputs `o` in
    /// row-major order into partial sums, then the partials in order: with stride 1, partial
    /// `q mod 16` of the output's position `q` on the padded grid; otherwise one partial per
    /// output column. The input gradient of `x[i]` adds `w[tap] · dy[o]` over the taps that
    /// read it: in row-major tap order with stride 1; otherwise the tap rows in reverse (the
    /// output rows in order), each row's taps in order.
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
        let (k, s, c) = (geo.kernel, geo.stride, geo.in_channels);
        let wp = w + 2 * geo.padding;
        let partials = if s == 1 { STRIDE1_PARTIALS } else { wo };
        let mut xl = vec![[0.0f32; LANES]; h * w];
        let mut gl = vec![[0.0f32; LANES]; ho * wo];
        let mut wl = vec![[0.0f32; LANES]; k * k];
        let mut part = vec![[0.0f32; LANES]; k * k * partials];
        let mut dxl = vec![[0.0f32; LANES]; if dx.is_some() { h * w } else { 0 }];
        let mut dw = vec![0.0f32; c * k * k];
        let (in_y, in_x) = (taps(geo, h, ho, false), taps(geo, w, wo, false));
        let (out_y, out_x) = (taps(geo, h, ho, true), taps(geo, w, wo, true));
        for c0 in (0..c).step_by(LANES) {
            let lanes = LANES.min(c - c0);
            gather(&x[c0 * h * w..], h * w, lanes, &mut xl);
            gather(&dy[c0 * ho * wo..], ho * wo, lanes, &mut gl);
            part.fill([0.0; LANES]);
            for oy in 0..ho {
                for ox in 0..wo {
                    let j = if s == 1 { (oy * wp + ox) % STRIDE1_PARTIALS } else { ox };
                    let g = &gl[oy * wo + ox];
                    for ki in 0..k {
                        let iy = in_y[oy * k + ki];
                        if iy == NONE {
                            continue;
                        }
                        for kj in 0..k {
                            let ix = in_x[ox * k + kj];
                            if ix != NONE {
                                let p = &mut part[(ki * k + kj) * partials + j];
                                mul_add(p, g, &xl[iy * w + ix]);
                            }
                        }
                    }
                }
            }
            // the partials in order, as `Iterator::sum` adds them, lane by lane in one vector
            let start: f32 = std::iter::empty::<f32>().sum();
            for (tap, sums) in part.chunks_exact(partials).enumerate() {
                let mut total = [start; LANES];
                for p in sums {
                    for l in 0..LANES {
                        total[l] += p[l];
                    }
                }
                for (l, &v) in total.iter().enumerate().take(lanes) {
                    dw[(c0 + l) * k * k + tap] = v;
                }
            }
            let Some(dx) = dx.as_deref_mut() else { continue };
            gather(&weight[c0 * k * k..], k * k, lanes, &mut wl);
            for iy in 0..h {
                for ix in 0..w {
                    let mut acc = [0.0f32; LANES];
                    for step in 0..k {
                        let ki = if s == 1 { step } else { k - 1 - step };
                        let oy = out_y[iy * k + ki];
                        if oy == NONE {
                            continue;
                        }
                        for kj in 0..k {
                            let ox = out_x[ix * k + kj];
                            if ox != NONE {
                                mul_add(&mut acc, &wl[ki * k + kj], &gl[oy * wo + ox]);
                            }
                        }
                    }
                    dxl[iy * w + ix] = acc;
                }
            }
            scatter(&dxl, h * w, lanes, &mut dx[c0 * h * w..]);
        }
        dw
    }
}

/// Copies plane `x` (`h × w`) into the interior of `padded` (`(h + 2p) × (w + 2p)`); the border
/// is left as it is (zero: callers zero the buffer once and reuse it for every plane).
fn fill_interior(x: &[f32], h: usize, w: usize, p: usize, padded: &mut [f32]) {
    let wp = w + 2 * p;
    for (iy, row) in x.chunks_exact(w).enumerate().take(h) {
        padded[(iy + p) * wp + p..(iy + p) * wp + p + w].copy_from_slice(row);
    }
}

multiversioned! {
    /// [`depthwise_forward`] of one sample, plane by plane: each plane copied into a zero-padded
    /// buffer, so that the inner loops run over whole rows (with stride 1, over the whole
    /// plane per tap) and vectorise along them. Faster than the lanes on large planes.
    fn forward_by_planes(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let (k, s, p, d) = (geo.kernel, geo.stride, geo.padding, geo.dilation);
        let c = geo.in_channels;
        let wp = w + 2 * p;
        let mut padded = vec![0.0f32; (h + 2 * p) * wp];
        // stride 1: the outputs on the padded grid's positions q = oy · wp + ox, so that each
        // kernel tap is one pass over the whole plane (the columns ox ≥ wo are discarded)
        let span = (ho - 1) * wp + wo;
        let mut acc = vec![0.0f32; if s == 1 { span } else { 0 }];
        for ch in 0..c {
            fill_interior(&x[ch * h * w..(ch + 1) * h * w], h, w, p, &mut padded);
            let wk = &weight[ch * k * k..(ch + 1) * k * k];
            let plane = &mut out[ch * ho * wo..(ch + 1) * ho * wo];
            if s == 1 {
                acc.fill(0.0);
                for ki in 0..k {
                    for kj in 0..k {
                        let (wv, off) = (wk[ki * k + kj], ki * d * wp + kj * d);
                        let src = &padded[off..off + span];
                        acc.iter_mut().zip(src).for_each(|(o, v)| *o += wv * v);
                    }
                }
                for (oy, orow) in plane.chunks_exact_mut(wo).enumerate() {
                    orow.copy_from_slice(&acc[oy * wp..oy * wp + wo]);
                }
                continue;
            }
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

/// `Σ aᵢ bᵢ` in 16 interleaved partial sums (lane `j` adds the terms `i ≡ j mod 16` in order),
/// then the lanes in order: a fixed order that vectorises.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..16 {
            lanes[j] += x[j] * y[j];
        }
    }
    for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
        lanes[j] += x * y;
    }
    lanes.iter().sum()
}

multiversioned! {
    /// [`depthwise_backward`] of one sample plane by plane (as [`forward_by_planes`]): the
    /// same sums in the same order as the lanes.
    fn backward_by_planes(
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
            // stride 1: dy on the padded grid's positions q = oy · wp + ox (zero for ox ≥ wo), so
            // that each kernel tap is one pass over the whole plane
            let span = (ho - 1) * wp + wo;
            let mut gpad = vec![0.0f32; if s == 1 { span } else { 0 }];
            for ch in 0..c {
                fill_interior(&x[ch * h * w..(ch + 1) * h * w], h, w, p, &mut padded);
                let g = &dy[ch * ho * wo..(ch + 1) * ho * wo];
                let wk = &weight[ch * k * k..(ch + 1) * k * k];
                if s == 1 {
                    for (oy, grow) in g.chunks_exact(wo).enumerate() {
                        gpad[oy * wp..oy * wp + wo].copy_from_slice(grow);
                    }
                    for ki in 0..k {
                        for kj in 0..k {
                            let off = ki * d * wp + kj * d;
                            dw[(ch * k + ki) * k + kj] = dot(&gpad, &padded[off..off + span]);
                        }
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        dpad.fill(0.0);
                        for ki in 0..k {
                            for kj in 0..k {
                                let (wv, off) = (wk[ki * k + kj], ki * d * wp + kj * d);
                                let dst = &mut dpad[off..off + span];
                                dst.iter_mut().zip(&gpad).for_each(|(o, g)| *o += wv * g);
                            }
                        }
                        let plane = &mut dx[ch * h * w..(ch + 1) * h * w];
                        for (iy, row) in plane.chunks_exact_mut(w).enumerate() {
                            row.copy_from_slice(&dpad[(iy + p) * wp + p..(iy + p) * wp + p + w]);
                        }
                    }
                    continue;
                }
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
