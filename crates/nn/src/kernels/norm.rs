//! Batch normalisation over `N × C × P` buffers (`P` = H·W), with an optional activation fused
//! into the same pass.
//!
//! Statistics are reduced per plane in f32 with 16 independent lanes (so the loops vectorise),
//! in parallel over the `n · c` planes in memory order (sample after sample, so the reads stream
//! through memory instead of jumping between samples within a channel); the plane sums are then
//! added per channel in f64, sample after sample. The variance takes a second pass around the
//! mean.
//! The element-wise passes run in parallel over samples. Every split depends on the shapes only,
//! so results are bit-identical from run to run.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::elementwise::Activation;
use super::simd::multiversioned;

const LANES: usize = 16;

/// `Σ f(a_i, b_i)` in f32 over 16 independent lanes (vectorises), `b` as long as `a`: the lanes
/// added in order, then the remainder in order. The order every plane sum of this file follows;
/// the kernels compute it several planes at a time ([`grouped_plane_sums`]) and are tested
/// against this plain form.
#[cfg(test)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(&x, &y)| f(x, y)).sum();
    lanes_total(&acc, a.len()) + tail
}

/// `acc.iter().sum()` of `lane_sum`'s lanes, without adding 16 zeros one after the other when
/// the plane had no whole chunk (planes of 2×2 to 3×3 values): the same value, as a constant.
#[inline(always)]
fn lanes_total(acc: &[f32; LANES], len: usize) -> f32 {
    if len < LANES {
        debug_assert!(acc.iter().all(|&v| v.to_bits() == 0));
        let zeros: f32 = [0.0f32; LANES].iter().sum();
        zeros
    } else {
        acc.iter().sum::<f32>()
    }
}

/// Planes reduced side by side. A plane's lanes are added in lane order, a dependent chain of
/// 16 additions per sum; one plane at a time, those chains took longer than the vector loops
/// on planes of 8×8 and less. Interleaved over a group of planes they run in parallel, each in
/// its own order, so the values are those of `lane_sum` plane by plane.
const PLANE_GROUP: usize = 4;

/// `K` sums `Σ f(a_i, b_i)[k]` over one plane, before the lanes are added: per sum its 16 lane
/// accumulators (as `lane_sum`'s) and the sum of the remainder in order (from the start
/// `Iterator::sum` folds from).
#[inline(always)]
fn plane_lanes<const K: usize>(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> [f32; K],
) -> ([[f32; LANES]; K], [f32; K]) {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [[0.0f32; LANES]; K];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            let t = f(x[l], y[l]);
            for k in 0..K {
                acc[k][l] += t[k];
            }
        }
    }
    let start: f32 = std::iter::empty::<f32>().sum();
    let mut tail = [start; K];
    for (&x, &y) in ar.iter().zip(br) {
        let t = f(x, y);
        for k in 0..K {
            tail[k] += t[k];
        }
    }
    (acc, tail)
}

/// `out[i][k]` = `Σ f(a_v, b_v)[k]` over plane `first + i` (planes of `p` values), with
/// `f = term(first + i)`: each sum the value `lane_sum` gives, [`PLANE_GROUP`] planes at a time.
// (indices over lanes, planes and sums: the interleaving is the point of the loop nest)
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn grouped_plane_sums<const K: usize, F: Fn(f32, f32) -> [f32; K]>(
    a: &[f32],
    b: &[f32],
    p: usize,
    first: usize,
    out: &mut [[f32; K]],
    term: impl Fn(usize) -> F,
) {
    let start: f32 = std::iter::empty::<f32>().sum();
    let mut accs = [[[0.0f32; LANES]; K]; PLANE_GROUP];
    let mut tails = [[start; K]; PLANE_GROUP];
    for (g, outs) in out.chunks_mut(PLANE_GROUP).enumerate() {
        for j in 0..outs.len() {
            let plane = first + g * PLANE_GROUP + j;
            let r = plane * p..(plane + 1) * p;
            (accs[j], tails[j]) = plane_lanes(&a[r.clone()], &b[r], term(plane));
        }
        // every group has the same planes' length, so `lanes_total`'s constant applies to all
        let mut totals = [[lanes_total(&[0.0; LANES], 0); K]; PLANE_GROUP];
        if p >= LANES {
            totals = [[start; K]; PLANE_GROUP];
            for l in 0..LANES {
                for j in 0..PLANE_GROUP {
                    for k in 0..K {
                        totals[j][k] += accs[j][k][l];
                    }
                }
            }
        }
        for (j, o) in outs.iter_mut().enumerate() {
            for k in 0..K {
                o[k] = totals[j][k] + tails[j][k];
            }
        }
    }
}

/// The fewest values a parallel task of the per-channel reductions sums.
const PLANES_PER_TASK_MIN_VALUES: usize = 1 << 14;

/// The number of planes a parallel task reduces: at least [`PLANES_PER_TASK_MIN_VALUES`] values.
fn planes_per_task(p: usize) -> usize {
    PLANES_PER_TASK_MIN_VALUES.div_ceil(p.max(1))
}

/// `Σ_b partial[b·c + ch][k]` in f64 per channel, `b` in order, from the start `Iterator::sum`
/// folds from.
fn channel_totals<const K: usize>(partial: &[[f32; K]], c: usize, k: usize) -> Vec<f64> {
    let start: f64 = std::iter::empty::<f64>().sum();
    let mut totals = vec![start; c];
    for sample in partial.chunks_exact(c.max(1)) {
        for (t, v) in totals.iter_mut().zip(sample) {
            *t += v[k] as f64;
        }
    }
    totals
}

/// Per-channel sums of `x` (`n × c × p`).
pub(crate) fn channel_sums(x: &[f32], n: usize, c: usize, p: usize) -> Vec<f64> {
    let mut partial = vec![[0.0f32]; n * c];
    let task = planes_per_task(p);
    partial
        .par_chunks_mut(task)
        .enumerate()
        .for_each(|(i, out)| plane_sums(x, p, i * task, out));
    channel_totals(&partial, c, 0)
}

multiversioned! {
    /// `out[i]` = the sum of plane `first + i` of `x` (planes of `p` values).
    fn plane_sums(x: &[f32], p: usize, first: usize, out: &mut [[f32; 1]]) {
        grouped_plane_sums(x, x, p, first, out, |_| |v, _| [v]);
    }
}

/// Per-channel mean and biased variance of `x` (`n × c × p`).
pub(crate) fn channel_moments(x: &[f32], n: usize, c: usize, p: usize) -> (Vec<f64>, Vec<f64>) {
    let count = (n * p).max(1) as f64;
    let mean: Vec<f64> = channel_sums(x, n, c, p).iter().map(|s| s / count).collect();
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let mut partial = vec![[0.0f32]; n * c];
    let task = planes_per_task(p);
    partial
        .par_chunks_mut(task)
        .enumerate()
        .for_each(|(i, out)| plane_squares(x, p, c, &mean32, i * task, out));
    let var = channel_totals(&partial, c, 0)
        .iter()
        .map(|s| s / count)
        .collect();
    (mean, var)
}

multiversioned! {
    /// `out[i]` = `Σ (x − m)²` over plane `first + i` of `x` (planes of `p` values, `c` channels),
    /// `m` its channel's entry of `mean`.
    fn plane_squares(
        x: &[f32],
        p: usize,
        c: usize,
        mean: &[f32],
        first: usize,
        out: &mut [[f32; 1]],
    ) {
        grouped_plane_sums(x, x, p, first, out, |plane| {
            let m = mean[plane % c];
            move |v, _| [(v - m) * (v - m)]
        });
    }
}

multiversioned! {
    /// `out[i]` = `(Σ g, Σ g · (x − m))` over plane `first + i` (planes of `p` values), `m` the
    /// channel's mean and `g = dy` where the activation `act(x · s + t)` passes its gradient, 0
    /// elsewhere: the sums of [`plane_sums`] and of `g · (x − m)`, in one pass.
    fn plane_backward_sums(
        dy: &[f32],
        x: &[f32],
        p: usize,
        coef: &BatchNormCoefficients,
        act: Activation,
        first: usize,
        out: &mut [[f32; 2]],
    ) {
        let c = coef.mean.len().max(1);
        let affine = |plane: usize| {
            let ch = plane % c;
            (coef.mean[ch], coef.scale[ch], coef.shift[ch])
        };
        match act {
            Activation::Identity => grouped_plane_sums(dy, x, p, first, out, |plane| {
                let (m, _, _) = affine(plane);
                move |g, v| [g, g * (v - m)]
            }),
            _ => grouped_plane_sums(dy, x, p, first, out, |plane| {
                let (m, s, t) = affine(plane);
                move |g, v| {
                    let g = if act.passes(v * s + t) { g } else { 0.0 };
                    [g, g * (v - m)]
                }
            }),
        }
    }
}

/// The per-channel affine map of a BatchNorm: `y = act(x · scale + shift)` with
/// `scale = γ / σ`, `shift = β − μ · γ / σ`.
#[derive(Debug, Clone)]
pub(crate) struct BatchNormCoefficients {
    /// The mean subtracted, `μ` per channel.
    pub mean: Vec<f32>,
    /// `1 / σ = 1 / √(var + ε)` per channel.
    pub inv_std: Vec<f32>,
    /// `γ / σ` per channel.
    pub scale: Vec<f32>,
    /// `β − μ · γ / σ` per channel.
    pub shift: Vec<f32>,
}

impl BatchNormCoefficients {
    /// From the statistics and the affine parameters `gamma`, `beta`.
    pub fn new(mean: Vec<f32>, inv_std: Vec<f32>, gamma: &[f32], beta: &[f32]) -> Self {
        let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Self {
            mean,
            inv_std,
            scale,
            shift,
        }
    }
}

/// Runs `f(channel, plane of a, plane of b)` on every plane, in parallel over samples.
fn planes_mut(
    a: &mut [f32],
    b: &[f32],
    c: usize,
    p: usize,
    f: impl Fn(usize, &mut [f32], &[f32]) + Sync,
) {
    let sample = (c * p).max(1);
    a.par_chunks_mut(sample)
        .zip(b.par_chunks(sample))
        .for_each(|(a, b)| sample_planes_mut(a, b, p, &f));
}

multiversioned! {
    /// [`planes_mut`] of one sample.
    fn sample_planes_mut(
        a: &mut [f32],
        b: &[f32],
        p: usize,
        f: &(impl Fn(usize, &mut [f32], &[f32]) + Sync),
    ) {
        for (ch, (a, b)) in a.chunks_mut(p.max(1)).zip(b.chunks(p.max(1))).enumerate() {
            f(ch, a, b);
        }
    }
}

/// `act(x · scale + shift)` per channel.
///
/// # Shapes
/// `x`: `n × c × p` → the same.
pub(crate) fn batch_norm_forward(
    x: &[f32],
    c: usize,
    p: usize,
    coef: &BatchNormCoefficients,
    act: Activation,
) -> Vec<f32> {
    // every value is written below, so the buffer is not cleared first
    let mut out: Vec<f32> = Vec::with_capacity(x.len());
    let sample = (c * p).max(1);
    out.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(sample)
        .zip(x.par_chunks(sample))
        .for_each(|(out, x)| batch_norm_sample(out, x, p, coef, act));
    // SAFETY: `batch_norm_sample` wrote every one of the first `x.len()` values.
    unsafe { out.set_len(x.len()) };
    out
}

multiversioned! {
    /// [`batch_norm_forward`] of one sample, every value of `out` written.
    fn batch_norm_sample(
        out: &mut [MaybeUninit<f32>],
        x: &[f32],
        p: usize,
        coef: &BatchNormCoefficients,
        act: Activation,
    ) {
        let planes = out.chunks_mut(p.max(1)).zip(x.chunks(p.max(1)));
        for (ch, (out, x)) in planes.enumerate() {
            let (s, t) = (coef.scale[ch], coef.shift[ch]);
            match act {
                Activation::Identity => affine(out, x, |v| v * s + t),
                Activation::Relu => affine(out, x, |v| (v * s + t).max(0.0)),
                Activation::Relu6 => affine(out, x, |v| (v * s + t).clamp(0.0, 6.0)),
            }
        }
    }
}

#[inline(always)]
fn affine(out: &mut [MaybeUninit<f32>], x: &[f32], f: impl Fn(f32) -> f32) {
    debug_assert_eq!(out.len(), x.len());
    out.iter_mut().zip(x).for_each(|(o, &v)| {
        o.write(f(v));
    });
}

/// The gradients of [`batch_norm_forward`]: `dy` (consumed) becomes `dx`; also returns `dγ` and
/// `dβ`. With `batch_statistics` the mean and variance are those of `x` itself (training mode),
/// so their dependence on `x` enters `dx`; otherwise they are constants (evaluation mode).
///
/// # Shapes
/// `x`, `dy`: `n × c × p`; `gamma`: `c` → (`dx`: `n × c × p`, `dγ`: `c`, `dβ`: `c`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm_backward(
    x: &[f32],
    mut dy: Vec<f32>,
    n: usize,
    c: usize,
    p: usize,
    coef: &BatchNormCoefficients,
    act: Activation,
    batch_statistics: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    // Σ dy and Σ dy·(x − μ) per channel, of dy masked by the activation's derivative (the
    // mask is applied on the fly here and in the pass below, never written)
    let mut partial = vec![[0.0f32; 2]; n * c];
    let task = planes_per_task(p);
    partial
        .par_chunks_mut(task)
        .enumerate()
        .for_each(|(i, out)| plane_backward_sums(&dy, x, p, coef, act, i * task, out));
    let (sum_dy, sum_dy_xc) = (
        channel_totals(&partial, c, 0),
        channel_totals(&partial, c, 1),
    );
    let dbeta: Vec<f32> = sum_dy.iter().map(|&v| v as f32).collect();
    let dgamma: Vec<f32> = sum_dy_xc
        .iter()
        .zip(&coef.inv_std)
        .map(|(&v, &s)| (v * s as f64) as f32)
        .collect();
    if batch_statistics {
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), x̂ = (x − μ)/σ.
        let count = (n * p).max(1) as f64;
        let mean_dy: Vec<f32> = sum_dy.iter().map(|&v| (v / count) as f32).collect();
        let slope: Vec<f32> = sum_dy_xc
            .iter()
            .zip(&coef.inv_std)
            .map(|(&v, &s)| (v / count) as f32 * s * s)
            .collect();
        let dyc = dy.as_mut_slice();
        planes_mut(dyc, x, c, p, |ch, g, v| {
            let (k, md, sl, m) = (coef.scale[ch], mean_dy[ch], slope[ch], coef.mean[ch]);
            let (s, t) = (coef.scale[ch], coef.shift[ch]);
            match act {
                Activation::Identity => g
                    .iter_mut()
                    .zip(v)
                    .for_each(|(g, &v)| *g = k * (*g - md - (v - m) * sl)),
                _ => g.iter_mut().zip(v).for_each(|(g, &v)| {
                    let masked = if act.passes(v * s + t) { *g } else { 0.0 };
                    *g = k * (masked - md - (v - m) * sl)
                }),
            }
        });
    } else {
        let dyc = dy.as_mut_slice();
        planes_mut(dyc, x, c, p, |ch, g, v| {
            let (k, s, t) = (coef.scale[ch], coef.scale[ch], coef.shift[ch]);
            g.iter_mut().zip(v).for_each(|(g, &v)| {
                let masked = if act.passes(v * s + t) { *g } else { 0.0 };
                *g = masked * k
            });
        });
    }
    (dy, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_match_a_plain_sum_at_every_length() {
        for len in [0, 1, 15, 16, 17, 40] {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let want: f32 = a.iter().sum();
            assert_eq!(lane_sum(&a, &a, |v, _| v), want, "len {len}");
        }
    }

    #[test]
    fn planes_summed_side_by_side_match_one_plane_at_a_time_to_the_bit() {
        // plane lengths around the lane count, and plane counts that leave a partial group
        for p in [1, 4, 15, 16, 17, 64, 100] {
            for planes in [1, 3, 4, 5, 9] {
                let a: Vec<f32> = (0..p * planes)
                    .map(|i| ((i * 7919) % 1013) as f32 * 0.37 - 150.0)
                    .collect();
                let b: Vec<f32> = (0..p * planes)
                    .map(|i| ((i * 104_729) % 997) as f32 * 0.011 - 5.0)
                    .collect();
                let mut out = vec![[0.0f32; 2]; planes];
                let term = |plane: usize| {
                    let m = plane as f32 * 0.25;
                    move |g: f32, v: f32| [g, g * (v - m)]
                };
                grouped_plane_sums(&a, &b, p, 0, &mut out, term);
                for (i, o) in out.iter().enumerate() {
                    let r = i * p..(i + 1) * p;
                    let m = i as f32 * 0.25;
                    let want0 = lane_sum(&a[r.clone()], &b[r.clone()], |g, _| g);
                    let want1 = lane_sum(&a[r.clone()], &b[r], |g, v| g * (v - m));
                    assert_eq!(
                        o[0].to_bits(),
                        want0.to_bits(),
                        "p {p}, plane {i} of {planes}"
                    );
                    assert_eq!(
                        o[1].to_bits(),
                        want1.to_bits(),
                        "p {p}, plane {i} of {planes}"
                    );
                }
            }
        }
    }

    #[test]
    fn moments_are_the_mean_and_biased_variance_per_channel() {
        // n = 2, c = 2, p = 3.
        let x = [
            1.0, 2.0, 3.0, 10.0, 10.0, 10.0, 4.0, 5.0, 6.0, 0.0, 20.0, 10.0,
        ];
        let (mean, var) = channel_moments(&x, 2, 2, 3);
        assert_eq!(mean, vec![3.5, 10.0]);
        let v0 = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .map(|v| (v - 3.5) * (v - 3.5))
            .sum::<f64>()
            / 6.0;
        assert!((var[0] - v0).abs() < 1e-12);
        assert!((var[1] - 200.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn activations_fused_into_the_forward_pass_clip_as_defined() {
        let coef = BatchNormCoefficients::new(vec![0.0], vec![1.0], &[2.0], &[0.0]);
        let x = [-1.0, 1.0, 4.0];
        assert_eq!(
            batch_norm_forward(&x, 1, 3, &coef, Activation::Identity),
            vec![-2.0, 2.0, 8.0]
        );
        assert_eq!(
            batch_norm_forward(&x, 1, 3, &coef, Activation::Relu),
            vec![0.0, 2.0, 8.0]
        );
        assert_eq!(
            batch_norm_forward(&x, 1, 3, &coef, Activation::Relu6),
            vec![0.0, 2.0, 6.0]
        );
        let (dx, _, _) =
            batch_norm_backward(&x, vec![1.0; 3], 1, 1, 3, &coef, Activation::Relu6, false);
        assert_eq!(dx, vec![0.0, 2.0, 0.0]);
    }
}
