//! Direct depthwise convolution (one input and one output channel per group), per sample on
//! zero-padded planes: memory-bound, so not a GEMM.

use rayon::prelude::*;

use super::conv::{per_chunk, sum_partials, ConvGeometry};
use super::simd::multiversioned;

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
pub(crate) fn depthwise_forward(geo: &ConvGeometry, x: &[f32], weight: &[f32], out: &mut [f32]) {
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
