//! Element-wise kernels: the activations ([`Activation`]), alone, fused into a residual sum, and
//! their gradients; `dst += src`.
//!
//! The passes run in parallel over fixed chunks of values, so results are bit-identical from run
//! to run whatever the thread count.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::simd::multiversioned;

/// The element-wise activation applied right after a normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None.
    Identity,
    /// `max(v, 0)`; derivative 1 for `v > 0`, else 0 (as PyTorch and dfdx).
    Relu,
    /// `min(max(v, 0), 6)`; derivative 1 strictly inside (0, 6), else 0.
    Relu6,
}

impl Activation {
    /// The activation of `v`.
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Identity => v,
            Activation::Relu => v.max(0.0),
            Activation::Relu6 => v.clamp(0.0, 6.0),
        }
    }

    /// Whether the derivative at pre-activation `v` is 1 (otherwise it is 0).
    #[inline(always)]
    pub fn passes(self, v: f32) -> bool {
        match self {
            Activation::Identity => true,
            Activation::Relu => v > 0.0,
            Activation::Relu6 => v > 0.0 && v < 6.0,
        }
    }
}

/// Values per parallel task of the element-wise passes.
pub(crate) const ELEMENTWISE_CHUNK: usize = 1 << 15;

/// Buffers shorter than this are filled, copied and added on the calling thread: below two
/// chunks there is nothing to share.
const PARALLEL_MIN: usize = 2 * ELEMENTWISE_CHUNK;

/// `n` zeros, written in parallel over fixed chunks.
///
/// A layer's output buffer is allocated once a step; `vec![0.0; n]` clears it (and takes its
/// page faults) on the calling thread alone while the other workers wait. Here the pool shares
/// that work, so a multi-megabyte activation costs `1/threads` of the time.
pub fn zeros(n: usize) -> Vec<f32> {
    if n < PARALLEL_MIN {
        return vec![0.0; n];
    }
    let mut v: Vec<f32> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(ELEMENTWISE_CHUNK)
        .for_each(|c| c.fill(std::mem::MaybeUninit::new(0.0)));
    // SAFETY: the first `n` values were all written just above.
    unsafe { v.set_len(n) };
    v
}

/// A copy of `x`, written in parallel over fixed chunks (see [`zeros`]).
pub fn copied(x: &[f32]) -> Vec<f32> {
    if x.len() < PARALLEL_MIN {
        return x.to_vec();
    }
    let mut v: Vec<f32> = Vec::with_capacity(x.len());
    v.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(ELEMENTWISE_CHUNK)
        .zip(x.par_chunks(ELEMENTWISE_CHUNK))
        .for_each(|(d, s)| {
            d.iter_mut().zip(s).for_each(|(d, &s)| {
                d.write(s);
            })
        });
    // SAFETY: the first `x.len()` values were all written just above.
    unsafe { v.set_len(x.len()) };
    v
}

/// `act(x)` element-wise, in parallel.
pub fn activation_forward(x: &[f32], act: Activation) -> Vec<f32> {
    let mut out = copied(x);
    activation_in_place(&mut out, act);
    out
}

/// `x ← act(x)` element-wise, in parallel.
pub fn activation_in_place(x: &mut [f32], act: Activation) {
    if act == Activation::Identity {
        return;
    }
    x.par_chunks_mut(ELEMENTWISE_CHUNK)
        .for_each(|x| activate(x, act));
}

multiversioned! {
    fn activate(x: &mut [f32], act: Activation) {
        match act {
            Activation::Identity => {}
            Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Relu6 => x.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        }
    }
}

/// `act(a + b)` element-wise, in parallel.
pub fn add_forward(a: &[f32], b: &[f32], act: Activation) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "add_forward: lengths differ");
    // every value is written below, so the buffer is not cleared first
    let mut out: Vec<f32> = Vec::with_capacity(a.len());
    out.spare_capacity_mut()[..a.len()]
        .par_chunks_mut(ELEMENTWISE_CHUNK)
        .zip(a.par_chunks(ELEMENTWISE_CHUNK))
        .zip(b.par_chunks(ELEMENTWISE_CHUNK))
        .for_each(|((o, a), b)| add_activate(o, a, b, act));
    // SAFETY: `add_activate` wrote every one of the first `a.len()` values.
    unsafe { out.set_len(a.len()) };
    out
}

multiversioned! {
    /// `out = act(a + b)`, every value of `out` written.
    fn add_activate(out: &mut [MaybeUninit<f32>], a: &[f32], b: &[f32], act: Activation) {
        debug_assert!(out.len() == a.len() && a.len() == b.len());
        let pairs = out.iter_mut().zip(a.iter().zip(b));
        match act {
            Activation::Identity => pairs.for_each(|(o, (a, b))| {
                o.write(a + b);
            }),
            Activation::Relu => pairs.for_each(|(o, (a, b))| {
                o.write((a + b).max(0.0));
            }),
            Activation::Relu6 => pairs.for_each(|(o, (a, b))| {
                o.write((a + b).clamp(0.0, 6.0));
            }),
        }
    }
}

/// The gradient through `act` given its output `y`: `dy` where the derivative is 1, else 0.
/// (For ReLU and ReLU6 the output lies strictly inside the clipping range exactly where the
/// input does.)
pub fn activation_backward(y: &[f32], mut dy: Vec<f32>, act: Activation) -> Vec<f32> {
    if act != Activation::Identity {
        dy.par_chunks_mut(ELEMENTWISE_CHUNK)
            .zip(y.par_chunks(ELEMENTWISE_CHUNK))
            .for_each(|(g, y)| mask_gradient(g, y, act));
    }
    dy
}

multiversioned! {
    /// Zeroes `g` where `act` has derivative 0 at output `y`.
    fn mask_gradient(g: &mut [f32], y: &[f32], act: Activation) {
        g.iter_mut().zip(y).for_each(|(g, &y)| {
            if !act.passes(y) {
                *g = 0.0
            }
        })
    }
}

/// `n` blocks of `a` (`la` values each) and of `b` (`lb` each), alternating: `a₀ b₀ a₁ b₁ …`
/// (a concatenation along channels when the blocks are samples), in parallel over the blocks.
pub fn interleave(a: &[f32], la: usize, b: &[f32], lb: usize, n: usize) -> Vec<f32> {
    assert!(
        a.len() == n * la && b.len() == n * lb,
        "interleave: {} and {} values are not {n} blocks of {la} and {lb}",
        a.len(),
        b.len()
    );
    if la == 0 || lb == 0 {
        return if la == 0 { copied(b) } else { copied(a) };
    }
    let mut out: Vec<f32> = Vec::with_capacity(n * (la + lb));
    out.spare_capacity_mut()[..n * (la + lb)]
        .par_chunks_mut(la + lb)
        .zip(a.par_chunks(la).zip(b.par_chunks(lb)))
        .for_each(|(dst, (a, b))| {
            let (da, db) = dst.split_at_mut(la);
            write_all(da, a);
            write_all(db, b);
        });
    // SAFETY: the `n` blocks (`la, lb > 0`) wrote all `n · (la + lb)` values just above.
    unsafe { out.set_len(n * (la + lb)) };
    out
}

/// The inverse of [`interleave`]: `x` as `n` blocks of `la + lb` values, split into the `la`
/// leading values of each block and the `lb` trailing ones.
pub fn deinterleave(x: &[f32], la: usize, lb: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(
        x.len(),
        n * (la + lb),
        "deinterleave: length is not {n} blocks of {la} + {lb}"
    );
    if la == 0 || lb == 0 {
        return if la == 0 {
            (Vec::new(), copied(x))
        } else {
            (copied(x), Vec::new())
        };
    }
    let (mut a, mut b): (Vec<f32>, Vec<f32>) =
        (Vec::with_capacity(n * la), Vec::with_capacity(n * lb));
    a.spare_capacity_mut()[..n * la]
        .par_chunks_mut(la)
        .zip(b.spare_capacity_mut()[..n * lb].par_chunks_mut(lb))
        .zip(x.par_chunks(la + lb))
        .for_each(|((da, db), x)| {
            write_all(da, &x[..la]);
            write_all(db, &x[la..]);
        });
    // SAFETY: each of the `n` blocks of `x` wrote its `la` and `lb` values just above.
    unsafe {
        a.set_len(n * la);
        b.set_len(n * lb);
    }
    (a, b)
}

/// `dst ← src` into uninitialised values.
fn write_all(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    assert_eq!(dst.len(), src.len());
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, the lengths match, and a `&mut` cannot
    // overlap a `&`.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<f32>(), src.len())
    };
}

/// `dst ← src`, in parallel over fixed chunks when long (see [`zeros`]).
pub fn copy_from(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_from: lengths differ");
    if dst.len() < PARALLEL_MIN {
        return dst.copy_from_slice(src);
    }
    dst.par_chunks_mut(ELEMENTWISE_CHUNK)
        .zip(src.par_chunks(ELEMENTWISE_CHUNK))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

/// `dst += src` element-wise, in parallel over fixed chunks when long.
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "add_assign: lengths differ");
    if dst.len() < PARALLEL_MIN {
        return add_to(dst, src);
    }
    dst.par_chunks_mut(ELEMENTWISE_CHUNK)
        .zip(src.par_chunks(ELEMENTWISE_CHUNK))
        .for_each(|(d, s)| add_to(d, s));
}

multiversioned! {
    /// `dst += src` element-wise, on the calling thread.
    pub(crate) fn add_to(dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
    }
}
