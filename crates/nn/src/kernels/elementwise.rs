//! Element-wise kernels: the activations ([`Activation`]), alone, fused into a residual sum, and
//! their gradients; `dst += src`.
//!
//! The passes run in parallel over fixed chunks of values, so results are bit-identical from run
//! to run whatever the thread count.

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

/// `act(x)` element-wise, in parallel.
pub fn activation_forward(x: &[f32], act: Activation) -> Vec<f32> {
    let mut out = x.to_vec();
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
    let mut out = vec![0.0f32; a.len()];
    out.par_chunks_mut(ELEMENTWISE_CHUNK)
        .zip(a.par_chunks(ELEMENTWISE_CHUNK))
        .zip(b.par_chunks(ELEMENTWISE_CHUNK))
        .for_each(|((o, a), b)| add_activate(o, a, b, act));
    out
}

multiversioned! {
    fn add_activate(out: &mut [f32], a: &[f32], b: &[f32], act: Activation) {
        let pairs = out.iter_mut().zip(a.iter().zip(b));
        match act {
            Activation::Identity => pairs.for_each(|(o, (a, b))| *o = a + b),
            Activation::Relu => pairs.for_each(|(o, (a, b))| *o = (a + b).max(0.0)),
            Activation::Relu6 => pairs.for_each(|(o, (a, b))| *o = (a + b).clamp(0.0, 6.0)),
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

multiversioned! {
    /// `dst += src` element-wise.
    pub fn add_assign(dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
    }
}
