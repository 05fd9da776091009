//! Layers as dfdx tape operations on stable Rust.
//!
//! Each operation computes its output with a kernel from [`crate::kernels`], then, when the
//! input carries an [`OwnedTape`](dfdx::prelude::OwnedTape), registers its backward pass on the
//! tape through the plumbing of [`crate::tape`]. Parameters are named by their offsets in the
//! flat [`ParamStore`].
//!
//! ReLU and ReLU6 are fused into the convolution, BatchNorm or residual sum they follow when the
//! network builder sees the pair; alone they are [`relu`], [`relu6`] and [`activation`].

use std::ops::Range;
use std::sync::Arc;

use dfdx::prelude::{Cpu, Tape, Tensor};
use majmin_core::Rng;

use crate::kernels::norm::{
    batch_norm_backward, batch_norm_forward, channel_moments, BatchNormCoefficients,
};
pub use crate::kernels::Activation;
use crate::kernels::{self, ConvGeometry, PoolGeometry};
use crate::tape::{add_param_grad, binary_op, scalar_op, unary_op, Act, ParamStore};

/// A 2-D convolution layer's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl Conv2dSpec {
    /// Weight values: `out · in/groups · k · k`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.in_channels / self.groups) * self.kernel * self.kernel
    }

    /// The geometry for a batch of `batch` inputs of side `hw`.
    pub fn geometry(&self, batch: usize, hw: (usize, usize)) -> ConvGeometry {
        ConvGeometry {
            batch,
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            in_hw: hw,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }
}

/// 2-D convolution (grouped, depthwise, strided, padded, dilated; optional bias) with weight
/// `O × C/groups × k × k` at `weight` and bias `O` at `bias` in `store`.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, O, Ho, Wo]` with `Ho = (H + 2p − d(k−1) − 1) / s + 1`.
///
/// # Panics
/// If the input does not match the spec or is smaller than the dilated kernel (the network
/// builder checks this before any forward pass).
pub fn conv2d<T: Tape<f32, Cpu>>(
    x: Act<T>,
    spec: &Conv2dSpec,
    weight: Range<usize>,
    bias: Option<Range<usize>>,
    store: &ParamStore,
) -> Act<T> {
    conv2d_activated(x, spec, weight, bias, Activation::Identity, store)
}

/// [`conv2d`], then `act` applied in place on its output (SqueezeNet's convolution → ReLU).
///
/// # Shapes
/// As [`conv2d`].
pub fn conv2d_activated<T: Tape<f32, Cpu>>(
    x: Act<T>,
    spec: &Conv2dSpec,
    weight: Range<usize>,
    bias: Option<Range<usize>>,
    act: Activation,
    store: &ParamStore,
) -> Act<T> {
    let [n, c, h, w] = x.shape();
    assert_eq!(
        c, spec.in_channels,
        "conv2d: input has {c} channels, the layer expects {}",
        spec.in_channels
    );
    let geo = spec.geometry(n, (h, w));
    let (ho, wo) = geo.out_hw().expect("conv2d: input smaller than the kernel");
    let xs = x.shared_values();
    let w = store.slice(&weight);
    let b = bias.as_ref().map(|b| store.slice(b));
    // keep what the backward pass reuses only when there will be one
    let (mut out, saved) = if T::OWNS_TAPE {
        kernels::conv2d_forward_saving(&geo, &xs, w, b)
    } else {
        (
            kernels::conv2d_forward(&geo, &xs, w, b),
            kernels::ConvSaved::default(),
        )
    };
    kernels::activation_in_place(&mut out, act);
    let out = Arc::new(out);
    let kept = (act != Activation::Identity).then(|| out.clone());
    let (need_dx, o) = (x.requires_grad(), spec.out_channels);
    let (values, sink) = (store.values.clone(), store.grad.clone());
    unary_op(x, out, [n, o, ho, wo], move |dy| {
        let dy = match &kept {
            Some(y) => kernels::activation_backward(y, dy, act),
            None => dy,
        };
        let w = &values[weight.clone()];
        let (dx, dw) = kernels::conv2d_backward_saved(&geo, &xs, w, &dy, need_dx, saved);
        add_param_grad(&sink, &weight, &dw);
        if let Some(b) = &bias {
            let db = kernels::bias_gradient(&dy, n, o, ho * wo);
            add_param_grad(&sink, b, &db);
        }
        need_dx.then_some(dx)
    })
}

/// Pooling hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSpec {
    /// Window side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub padding: usize,
    /// PyTorch's `ceil_mode`.
    pub ceil_mode: bool,
}

impl PoolSpec {
    /// The geometry for `planes` planes of side `hw`.
    pub fn geometry(&self, planes: usize, hw: (usize, usize)) -> PoolGeometry {
        PoolGeometry {
            planes,
            in_hw: hw,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            ceil_mode: self.ceil_mode,
        }
    }
}

/// Max-pooling (padding counts as −∞; PyTorch's output-size rule, `ceil_mode` included).
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, Ho, Wo]`.
pub fn max_pool2d<T: Tape<f32, Cpu>>(x: Act<T>, spec: &PoolSpec) -> Act<T> {
    let [n, c, h, w] = x.shape();
    let geo = spec.geometry(n * c, (h, w));
    let (ho, wo) = geo
        .out_hw()
        .expect("max_pool2d: input smaller than the window");
    let (out, arg) = kernels::max_pool_forward(&geo, x.values());
    unary_op(x, out, [n, c, ho, wo], move |dy| {
        Some(kernels::max_pool_backward(&geo, &arg, &dy))
    })
}

/// Average-pooling (PyTorch's `count_include_pad = true`).
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, Ho, Wo]`.
pub fn avg_pool2d<T: Tape<f32, Cpu>>(x: Act<T>, spec: &PoolSpec) -> Act<T> {
    let [n, c, h, w] = x.shape();
    let geo = spec.geometry(n * c, (h, w));
    let (ho, wo) = geo
        .out_hw()
        .expect("avg_pool2d: input smaller than the window");
    let out = kernels::avg_pool_forward(&geo, x.values());
    unary_op(x, out, [n, c, ho, wo], move |dy| {
        Some(kernels::avg_pool_backward(&geo, &dy))
    })
}

/// Global average pooling.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, 1, 1]`.
pub fn global_avg_pool<T: Tape<f32, Cpu>>(x: Act<T>) -> Act<T> {
    let [n, c, h, w] = x.shape();
    let p = h * w;
    let out: Vec<f32> = x
        .values()
        .chunks(p)
        .map(|plane| plane.iter().sum::<f32>() / p as f32)
        .collect();
    unary_op(x, out, [n, c, 1, 1], move |dy| {
        let mut dx = vec![0.0f32; n * c * p];
        dx.chunks_mut(p)
            .zip(&dy)
            .for_each(|(plane, g)| plane.fill(g / p as f32));
        Some(dx)
    })
}

/// Flattens to features (no data movement).
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C·H·W, 1, 1]`.
pub fn flatten<T>(x: Act<T>) -> Act<T> {
    let [n, c, h, w] = x.shape();
    x.reshaped([n, c * h * w, 1, 1])
}

/// ReLU: `max(x, 0)`; the gradient is 1 for `x > 0` and 0 elsewhere.
///
/// # Shapes
/// Unchanged.
pub fn relu<T: Tape<f32, Cpu>>(x: Act<T>) -> Act<T> {
    activation(x, Activation::Relu)
}

/// ReLU6: `min(max(x, 0), 6)`; the gradient is 1 strictly inside (0, 6) and 0 elsewhere.
///
/// # Shapes
/// Unchanged.
pub fn relu6<T: Tape<f32, Cpu>>(x: Act<T>) -> Act<T> {
    activation(x, Activation::Relu6)
}

/// `act` element-wise. The backward pass reads the output: for ReLU and ReLU6 the derivative is
/// 1 exactly where the output lies strictly inside the clipping range.
///
/// # Shapes
/// Unchanged.
pub fn activation<T: Tape<f32, Cpu>>(x: Act<T>, act: Activation) -> Act<T> {
    if act == Activation::Identity {
        return x;
    }
    let out = Arc::new(kernels::activation_forward(x.values(), act));
    let (kept, shape) = (out.clone(), x.shape());
    unary_op(x, out, shape, move |dy| {
        Some(kernels::activation_backward(&kept, dy, act))
    })
}

/// Multiplication by a constant `k`.
///
/// # Shapes
/// Unchanged.
pub fn scale<T: Tape<f32, Cpu>>(x: Act<T>, k: f32) -> Act<T> {
    let out: Vec<f32> = x.values().iter().map(|v| v * k).collect();
    let shape = x.shape();
    unary_op(x, out, shape, move |mut dy| {
        dy.iter_mut().for_each(|g| *g *= k);
        Some(dy)
    })
}

/// Inverted dropout with keep probability `1 − p`, masks drawn from `rng`.
///
/// # Shapes
/// Unchanged.
pub fn dropout<T: Tape<f32, Cpu>>(x: Act<T>, p: f32, rng: &mut Rng) -> Act<T> {
    let xs = x.values();
    let keep = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    let mask: Vec<f32> = (0..xs.len())
        .map(|_| if rng.uniform() < p as f64 { 0.0 } else { keep })
        .collect();
    let out: Vec<f32> = xs.iter().zip(&mask).map(|(a, m)| a * m).collect();
    let shape = x.shape();
    unary_op(x, out, shape, move |mut dy| {
        dy.iter_mut().zip(&mask).for_each(|(g, m)| *g *= m);
        Some(dy)
    })
}

/// Concatenation along channels (SqueezeNet's Fire module).
///
/// # Shapes
/// `[N, C1, H, W]`, `[N, C2, H, W]` → `[N, C1 + C2, H, W]`.
pub fn concat_channels<T: Tape<f32, Cpu>>(a: Act<T>, b: Act<T>) -> Act<T> {
    let [n, c1, h, w] = a.shape();
    let c2 = b.shape()[1];
    assert_eq!(
        [b.shape()[0], b.shape()[2], b.shape()[3]],
        [n, h, w],
        "concat_channels: batch and plane sizes differ"
    );
    let p = h * w;
    let out = kernels::interleave(a.values(), c1 * p, b.values(), c2 * p, n);
    binary_op(a, b, out, [n, c1 + c2, h, w], move |dy| {
        kernels::deinterleave(&dy, c1 * p, c2 * p, n)
    })
}

/// Element-wise sum (residual connections), then `act` in the same pass.
///
/// # Shapes
/// `[N, C, H, W]`, `[N, C, H, W]` → `[N, C, H, W]`.
pub fn add<T: Tape<f32, Cpu>>(a: Act<T>, b: Act<T>, act: Activation) -> Act<T> {
    assert_eq!(a.shape(), b.shape(), "add: shapes differ");
    let out = Arc::new(kernels::add_forward(a.values(), b.values(), act));
    let (kept, shape) = (out.clone(), a.shape());
    binary_op(a, b, out, shape, move |dy| {
        let db = kernels::activation_backward(&kept, dy, act);
        (kernels::copied(&db), db)
    })
}

/// Fully connected layer `y = x Wᵀ + b`, weight `O × I` (PyTorch's layout) at `weight`, bias `O`.
///
/// # Shapes
/// `[N, I, 1, 1]` → `[N, O, 1, 1]`.
pub fn linear<T: Tape<f32, Cpu>>(
    x: Act<T>,
    in_features: usize,
    out_features: usize,
    weight: Range<usize>,
    bias: Range<usize>,
    store: &ParamStore,
) -> Act<T> {
    let n = x.shape()[0];
    let (i_f, o_f) = (in_features, out_features);
    assert_eq!(
        x.len(),
        n * i_f,
        "linear: input has {} features, the layer expects {i_f}",
        x.len() / n.max(1)
    );
    let xs = x.shared_values();
    let wv = store.slice(&weight);
    let mut out = vec![0.0f32; n * o_f];
    for row in out.chunks_mut(o_f) {
        row.copy_from_slice(store.slice(&bias));
    }
    kernels::sgemm(
        kernels::MatRef::row_major(&xs, n, i_f),
        kernels::MatRef::new(wv, i_f, o_f, 1, i_f),
        kernels::MatMut::row_major(&mut out, n, o_f),
        true,
        true,
    );
    let need_dx = x.requires_grad();
    let (values, sink) = (store.values.clone(), store.grad.clone());
    unary_op(x, out, [n, o_f, 1, 1], move |dy| {
        let w = &values[weight.clone()];
        let mut dw = vec![0.0f32; o_f * i_f];
        kernels::sgemm(
            kernels::MatRef::new(&dy, o_f, n, 1, o_f),
            kernels::MatRef::row_major(&xs, n, i_f),
            kernels::MatMut::row_major(&mut dw, o_f, i_f),
            false,
            true,
        );
        let mut db = vec![0.0f32; o_f];
        for row in dy.chunks(o_f) {
            db.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        add_param_grad(&sink, &weight, &dw);
        add_param_grad(&sink, &bias, &db);
        need_dx.then(|| {
            let mut dx = vec![0.0f32; n * i_f];
            kernels::sgemm(
                kernels::MatRef::row_major(&dy, n, o_f),
                kernels::MatRef::row_major(w, o_f, i_f),
                kernels::MatMut::row_major(&mut dx, n, i_f),
                false,
                true,
            );
            dx
        })
    })
}

/// Running statistics of a BatchNorm layer (not trainable parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormState {
    /// Running mean per channel.
    pub running_mean: Vec<f32>,
    /// Running (unbiased) variance per channel.
    pub running_var: Vec<f32>,
    /// Training-mode forward passes so far (PyTorch's `num_batches_tracked`).
    pub batches_tracked: u64,
}

impl BatchNormState {
    /// Mean 0, variance 1 (PyTorch's initial state).
    pub fn new(channels: usize) -> Self {
        Self {
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            batches_tracked: 0,
        }
    }
}

/// BatchNorm momentum of the running statistics (PyTorch's default).
pub const BN_MOMENTUM: f32 = 0.1;
/// BatchNorm epsilon (PyTorch's default).
pub const BN_EPS: f32 = 1e-5;

/// 2-D batch normalisation with scale `gamma` and shift `beta` (both `C`) in `store`, followed
/// in the same pass by `act` (ResNet's and VGG's BatchNorm → ReLU, MobileNetV2's → ReLU6).
/// Training mode normalises with the batch statistics (biased variance) and updates `state`
/// (momentum [`BN_MOMENTUM`], unbiased variance, as PyTorch); evaluation mode uses `state`.
///
/// # Shapes
/// Unchanged `[N, C, H, W]`.
pub fn batch_norm2d<T: Tape<f32, Cpu>>(
    x: Act<T>,
    gamma: Range<usize>,
    beta: Range<usize>,
    state: &mut BatchNormState,
    training: bool,
    act: Activation,
    store: &ParamStore,
) -> Act<T> {
    let [n, c, h, w] = x.shape();
    let p = h * w;
    let xs = x.shared_values();
    let (mean, inv_std): (Vec<f32>, Vec<f32>) = if training {
        let (mean, var) = channel_moments(&xs, n, c, p);
        let m = (n * p) as f64;
        let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
        let mo = BN_MOMENTUM as f64;
        state.batches_tracked += 1;
        for ch in 0..c {
            state.running_mean[ch] =
                ((1.0 - mo) * state.running_mean[ch] as f64 + mo * mean[ch]) as f32;
            state.running_var[ch] =
                ((1.0 - mo) * state.running_var[ch] as f64 + mo * var[ch] * unbias) as f32;
        }
        (
            mean.iter().map(|&v| v as f32).collect(),
            var.iter()
                .map(|&v| (1.0 / (v + BN_EPS as f64).sqrt()) as f32)
                .collect(),
        )
    } else {
        (
            state.running_mean.clone(),
            state
                .running_var
                .iter()
                .map(|&v| 1.0 / (v + BN_EPS).sqrt())
                .collect(),
        )
    };
    let coef = BatchNormCoefficients::new(mean, inv_std, store.slice(&gamma), store.slice(&beta));
    let out = batch_norm_forward(&xs, c, p, &coef, act);
    let sink = store.grad.clone();
    unary_op(x, out, [n, c, h, w], move |dy| {
        let (dx, dgamma, dbeta) = batch_norm_backward(&xs, dy, n, c, p, &coef, act, training);
        add_param_grad(&sink, &gamma, &dgamma);
        add_param_grad(&sink, &beta, &dbeta);
        Some(dx)
    })
}

/// Mean softmax cross-entropy of logits `[N, K]` against `labels`, as a scalar on the tape.
/// Also returns the per-sample losses.
///
/// # Shapes
/// `[N, K, 1, 1]` → scalar.
pub fn cross_entropy<T: Tape<f32, Cpu>>(
    logits: Act<T>,
    labels: &[u32],
) -> (Tensor<(), f32, Cpu, T>, Vec<f32>) {
    let n = logits.shape()[0];
    let k = logits.len() / n.max(1);
    assert_eq!(
        labels.len(),
        n,
        "cross_entropy: {} labels for a batch of {n}",
        labels.len()
    );
    let z = logits.values();
    let mut probs = vec![0.0f32; z.len()];
    let mut losses = Vec::with_capacity(n);
    for ((row, pr), &y) in z.chunks(k).zip(probs.chunks_mut(k)).zip(labels) {
        let mx = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut s = 0.0f64;
        for (p, &v) in pr.iter_mut().zip(row) {
            let e = ((v - mx) as f64).exp();
            *p = e as f32;
            s += e;
        }
        pr.iter_mut().for_each(|p| *p = (*p as f64 / s) as f32);
        losses.push((s.ln() + mx as f64 - row[y as usize] as f64) as f32);
    }
    let mean = (losses.iter().map(|&l| l as f64).sum::<f64>() / n.max(1) as f64) as f32;
    let labels = labels.to_vec();
    let out = scalar_op(logits, mean, move |g| {
        let mut dz = probs;
        for (row, &y) in dz.chunks_mut(k).zip(&labels) {
            row[y as usize] -= 1.0;
            row.iter_mut().for_each(|v| *v *= g / n as f32);
        }
        dz
    });
    (out, losses)
}

/// The scalar `Σ rᵢ · xᵢ` on the tape: a linear probe whose gradient with respect to `x` is `r`
/// (gradient checks use it as their loss).
///
/// # Shapes
/// `[N, C, H, W]` and `r` of the same length → scalar.
pub fn dot<T: Tape<f32, Cpu>>(x: Act<T>, r: &[f32]) -> Tensor<(), f32, Cpu, T> {
    assert_eq!(x.len(), r.len(), "dot: lengths differ");
    let value = x
        .values()
        .iter()
        .zip(r)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum::<f64>() as f32;
    let r = r.to_vec();
    scalar_op(x, value, move |g| r.iter().map(|v| v * g).collect())
}
