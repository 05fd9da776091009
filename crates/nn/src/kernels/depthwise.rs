//! Direct depthwise convolution (one input and one output channel per group): memory-bound, so
//! not a GEMM.
//!
//! The zoo's depthwise layers have small planes (16×16 down to 2×2) and many channels, so the
//! kernels run [`LANES`] channels at a time, one per vector lane: each sample's planes are
//! transposed to `position × channel`, and every kernel tap at every position is then one
//! vector multiply-add, with the window bookkeeping shared by the lanes however small the plane.
//! The sums keep the order of the earlier plane-by-plane kernels (taps in order; the weight
//! gradient in the same partial sums), so the values are the same to the bit.

use super::conv::{per_chunk, sum_partials, ConvGeometry};
use super::simd::multiversioned;
use rayon::prelude::*;

/// Channels computed together, one per vector lane.
const LANES: usize = 16;

/// One value of [`LANES`] channels.
type Lanes = [f32; LANES];

/// Partial sums of one weight-gradient value with stride 1: a term of output position `q` on
/// the zero-padded grid (`q = oy · (w + 2p) + ox`) goes to partial `q mod 16`.
const STRIDE1_PARTIALS: usize = 16;

/// `dst[i][l] = src[l · len + i]` for the first `lanes` lanes.
#[inline(always)]
fn gather(src: &[f32], len: usize, lanes: usize, dst: &mut [Lanes]) {
    for l in 0..lanes {
        for (d, &v) in dst.iter_mut().zip(&src[l * len..(l + 1) * len]) {
            d[l] = v;
        }
    }
}

/// `dst[l · len + i] = src[i][l]` for the first `lanes` lanes.
#[inline(always)]
fn scatter(src: &[Lanes], len: usize, lanes: usize, dst: &mut [f32]) {
    for l in 0..lanes {
        for (d, s) in dst[l * len..(l + 1) * len].iter_mut().zip(src) {
            *d = s[l];
        }
    }
}

/// `acc[l] += a[l] · b[l]`.
#[inline(always)]
fn mul_add(acc: &mut Lanes, a: &Lanes, b: &Lanes) {
    for l in 0..LANES {
        acc[l] += a[l] * b[l];
    }
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

/// Direct depthwise convolution, in parallel over samples.
pub(crate) fn depthwise_forward(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let c = geo.in_channels;
    out.par_chunks_mut(c * ho * wo)
        .zip(x.par_chunks(c * h * w))
        .for_each(|(out, x)| depthwise_forward_sample(geo, x, weight, out));
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
        depthwise_backward_sample(geo, x, weight, dy, dx)
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
