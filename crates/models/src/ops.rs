//! Layers as dfdx tape operations on stable Rust.
//!
//! Each operation computes its output with a kernel from [`crate::kernels`], then, when the
//! input carries an [`OwnedTape`](dfdx::prelude::OwnedTape), registers its backward pass with `Tape::add_backward_op`.
//! dfdx supplies the tape (the order of the backward passes) and the gradient map; the values
//! are majmin's own. An activation ([`Act`]) holds its NCHW values in a shared buffer, its shape,
//! and an empty dfdx tensor whose id keys its gradient. An operation therefore reads its input by
//! reference and keeps it for the backward pass without copying it, and a gradient is moved,
//! not copied, from the operation that writes it to the one that reads it. Trainable parameters
//! live in one flat vector ([`ParamStore`]): an operation names its parameters by offset and, on
//! the backward pass, adds their gradient into the store's gradient sink — so
//! `Model::get_params`/`set_params` and the flat gradient need no copies.
//!
//! ReLU and ReLU6 are fused into the BatchNorm or residual sum they follow when the network
//! builder sees the pair; alone they are [`relu`], [`relu6`] and [`activation`].

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use dfdx::prelude::{Cpu, Gradients, NoneTape, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor::CpuError;
use majmin_core::Rng;

pub use crate::kernels::Activation;
use crate::kernels::{self, BatchNormCoefficients, ConvGeometry, PoolGeometry};

/// A flat 1-D dfdx tensor on the CPU with tape `T`.
pub type Flat<T> = Tensor<(usize,), f32, Cpu, T>;

/// An activation: its values in majmin's own buffer, its NCHW shape, and a dfdx key.
///
/// The key is an empty dfdx tensor. Its id names the activation's gradient in dfdx's
/// `Gradients`, and it carries the tape from operation to operation. The values never enter dfdx:
/// an operation reads its input by reference and keeps it for its backward pass by sharing the
/// buffer, never by copying it. On the backward pass the first gradient written for an
/// activation is moved into place, and later ones are added to it.
pub struct Act<T> {
    values: Arc<Vec<f32>>,
    key: Flat<T>,
    /// `[N, C, H, W]` (features are `[N, F, 1, 1]`).
    pub shape: [usize; 4],
    /// Whether a gradient with respect to this activation is wanted (false for network inputs).
    pub requires_grad: bool,
}

/// A handle on an activation's gradient, for reading it after the backward pass.
pub struct ActKey {
    key: Ghost,
    len: usize,
}

impl ActKey {
    /// The gradient with respect to the activation (zeros when nothing depended on it).
    pub fn gradient(&self, grads: &mut Gradients<f32, Cpu>) -> Result<Vec<f32>, CpuError> {
        take_grad(grads, &self.key, self.len)
    }
}

impl<T: Tape<f32, Cpu>> Act<T> {
    /// Wraps a buffer of shape `[N, C, H, W]` as a network input (no input gradient).
    pub fn input(device: &Cpu, values: Vec<f32>, shape: [usize; 4]) -> Self {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "Act::input: length does not match shape"
        );
        Self {
            values: Arc::new(values),
            key: new_key(device).retaped::<T>(),
            shape,
            requires_grad: false,
        }
    }

    /// A second handle on the same values with an empty tape (for a branch, as in a residual).
    pub fn branch(&self) -> Self {
        Self {
            values: self.values.clone(),
            key: self.key.retaped::<T>(),
            shape: self.shape,
            requires_grad: self.requires_grad,
        }
    }

    /// A handle for reading this activation's gradient after the backward pass.
    pub fn key(&self) -> ActKey {
        ActKey {
            key: self.key.retaped::<NoneTape>(),
            len: self.len(),
        }
    }
}

impl<T> Act<T> {
    /// The values, NCHW order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The values, without a copy unless they are shared.
    pub fn into_values(self) -> Vec<f32> {
        Arc::try_unwrap(self.values).unwrap_or_else(|shared| shared.to_vec())
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the activation holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The shared gradient sink of a [`ParamStore`].
pub type GradSink = Rc<RefCell<Vec<f32>>>;

/// Flat trainable parameters for one forward pass, and where their gradient goes.
#[derive(Clone)]
pub struct ParamStore {
    /// Parameter values.
    pub values: Arc<Vec<f32>>,
    /// Gradient accumulator (same length), `None` when no gradient is wanted.
    pub grad: Option<GradSink>,
}

impl ParamStore {
    /// A store without gradient.
    pub fn new(values: Arc<Vec<f32>>) -> Self {
        Self { values, grad: None }
    }

    /// A store with a zeroed gradient sink.
    pub fn with_grad(values: Arc<Vec<f32>>) -> Self {
        let n = values.len();
        Self {
            values,
            grad: Some(Rc::new(RefCell::new(vec![0.0; n]))),
        }
    }

    fn slice(&self, r: &Range<usize>) -> &[f32] {
        &self.values[r.clone()]
    }
}

fn add_param_grad(sink: &Option<GradSink>, range: &Range<usize>, g: &[f32]) {
    if let Some(sink) = sink {
        let mut s = sink.borrow_mut();
        kernels::add_assign(&mut s[range.clone()], g);
    }
}

/// A tape-free handle on a tensor: its id keys the gradient (dfdx keeps its ghost type private).
type Ghost = Tensor<(usize,), f32, Cpu, NoneTape>;

/// An empty tensor with a fresh id: an activation's key.
fn new_key(device: &Cpu) -> Ghost {
    device.tensor_from_vec(Vec::new(), (0,))
}

/// Takes the gradient of an activation of `len` values out of `grads` (only its producer reads
/// it, so it is moved rather than copied); zeros if no consumer wrote one.
fn take_grad(
    grads: &mut Gradients<f32, Cpu>,
    key: &Ghost,
    len: usize,
) -> Result<Vec<f32>, CpuError> {
    let g = std::mem::take(&mut **grads.get_or_alloc_mut(key)?);
    Ok(if g.len() == len { g } else { vec![0.0; len] })
}

/// Adds `g` to the gradient of the activation `key`; the first gradient is moved in.
fn add_grad(grads: &mut Gradients<f32, Cpu>, key: &Ghost, g: Vec<f32>) -> Result<(), CpuError> {
    let dst = grads.get_or_alloc_mut(key)?;
    if dst.is_empty() {
        **dst = g;
    } else {
        kernels::add_assign(dst, &g);
    }
    Ok(())
}

/// Wraps `out` (computed from `x`) as the activation of shape `shape` on `x`'s tape, with
/// `backward(dy) -> dx` (`None`: no input gradient) run on the backward pass.
fn unary_op<T: Tape<f32, Cpu>>(
    x: Act<T>,
    out: impl Into<Arc<Vec<f32>>>,
    shape: [usize; 4],
    backward: impl FnOnce(Vec<f32>) -> Option<Vec<f32>> + 'static,
) -> Act<T> {
    let (xk, tape) = x.key.split_tape();
    let device = xk.device().clone();
    new_act(
        &device,
        tape,
        out.into(),
        shape,
        move |grads, dy| match backward(dy) {
            Some(dx) => add_grad(grads, &xk, dx),
            None => Ok(()),
        },
    )
}

/// Wraps `out` (computed from `a` and `b`) as an activation on their merged tapes, with
/// `backward(dy) -> (da, db)` run on the backward pass.
fn binary_op<T: Tape<f32, Cpu>>(
    a: Act<T>,
    b: Act<T>,
    out: impl Into<Arc<Vec<f32>>>,
    shape: [usize; 4],
    backward: impl FnOnce(Vec<f32>) -> (Vec<f32>, Vec<f32>) + 'static,
) -> Act<T> {
    let (ak, tape_a) = a.key.split_tape();
    let (bk, tape_b) = b.key.split_tape();
    let device = ak.device().clone();
    new_act(
        &device,
        tape_a.merge(tape_b),
        out.into(),
        shape,
        move |grads, dy| {
            let (da, db) = backward(dy);
            add_grad(grads, &ak, da)?;
            add_grad(grads, &bk, db)
        },
    )
}

/// A new activation with values `out` on `tape`; on the backward pass `backward(grads, dy)`
/// receives its gradient and passes the input gradients on.
fn new_act<T: Tape<f32, Cpu>>(
    device: &Cpu,
    mut tape: T,
    out: Arc<Vec<f32>>,
    shape: [usize; 4],
    backward: impl FnOnce(&mut Gradients<f32, Cpu>, Vec<f32>) -> Result<(), CpuError> + 'static,
) -> Act<T> {
    let key = new_key(device);
    let len = out.len();
    if T::OWNS_TAPE {
        let ok = key.clone();
        tape.add_backward_op(move |grads| {
            let dy = take_grad(grads, &ok, len)?;
            backward(grads, dy)
        });
    }
    Act {
        values: out,
        key: key.put_tape(tape),
        shape,
        requires_grad: true,
    }
}

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
    let [n, c, h, w] = x.shape;
    assert_eq!(
        c, spec.in_channels,
        "conv2d: input has {c} channels, the layer expects {}",
        spec.in_channels
    );
    let geo = spec.geometry(n, (h, w));
    let (ho, wo) = geo.out_hw().expect("conv2d: input smaller than the kernel");
    let xs = x.values.clone();
    let mut out = kernels::conv2d_forward(
        &geo,
        &xs,
        store.slice(&weight),
        bias.as_ref().map(|b| store.slice(b)),
    );
    kernels::activation_in_place(&mut out, act);
    let out = Arc::new(out);
    let kept = (act != Activation::Identity).then(|| out.clone());
    let (need_dx, o) = (x.requires_grad, spec.out_channels);
    let (values, sink) = (store.values.clone(), store.grad.clone());
    unary_op(x, out, [n, o, ho, wo], move |dy| {
        let dy = match &kept {
            Some(y) => kernels::activation_backward(y, dy, act),
            None => dy,
        };
        let (dx, dw) = kernels::conv2d_backward(&geo, &xs, &values[weight.clone()], &dy, need_dx);
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
    let [n, c, h, w] = x.shape;
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
    let [n, c, h, w] = x.shape;
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
    let [n, c, h, w] = x.shape;
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
    let [n, c, h, w] = x.shape;
    Act {
        shape: [n, c * h * w, 1, 1],
        ..x
    }
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
    let (kept, shape) = (out.clone(), x.shape);
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
    let shape = x.shape;
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
    let shape = x.shape;
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
    let [n, c1, h, w] = a.shape;
    let c2 = b.shape[1];
    assert_eq!(
        [b.shape[0], b.shape[2], b.shape[3]],
        [n, h, w],
        "concat_channels: batch and plane sizes differ"
    );
    let p = h * w;
    let (av, bv) = (a.values(), b.values());
    let mut out = Vec::with_capacity(av.len() + bv.len());
    for i in 0..n {
        out.extend_from_slice(&av[i * c1 * p..(i + 1) * c1 * p]);
        out.extend_from_slice(&bv[i * c2 * p..(i + 1) * c2 * p]);
    }
    binary_op(a, b, out, [n, c1 + c2, h, w], move |dy| {
        let (mut da, mut db) = (
            Vec::with_capacity(n * c1 * p),
            Vec::with_capacity(n * c2 * p),
        );
        for s in dy.chunks(((c1 + c2) * p).max(1)) {
            da.extend_from_slice(&s[..c1 * p]);
            db.extend_from_slice(&s[c1 * p..]);
        }
        (da, db)
    })
}

/// Element-wise sum (residual connections), then `act` in the same pass.
///
/// # Shapes
/// `[N, C, H, W]`, `[N, C, H, W]` → `[N, C, H, W]`.
pub fn add<T: Tape<f32, Cpu>>(a: Act<T>, b: Act<T>, act: Activation) -> Act<T> {
    assert_eq!(a.shape, b.shape, "add: shapes differ");
    let out = Arc::new(kernels::add_forward(a.values(), b.values(), act));
    let (kept, shape) = (out.clone(), a.shape);
    binary_op(a, b, out, shape, move |dy| {
        let db = kernels::activation_backward(&kept, dy, act);
        (db.clone(), db)
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
    let n = x.shape[0];
    let (i_f, o_f) = (in_features, out_features);
    assert_eq!(
        x.len(),
        n * i_f,
        "linear: input has {} features, the layer expects {i_f}",
        x.len() / n.max(1)
    );
    let xs = x.values.clone();
    let wv = store.slice(&weight);
    let mut out = vec![0.0f32; n * o_f];
    for row in out.chunks_mut(o_f) {
        row.copy_from_slice(store.slice(&bias));
    }
    kernels::sgemm(
        n, o_f, i_f, &xs, i_f, 1, wv, 1, i_f, &mut out, o_f, true, true,
    );
    let need_dx = x.requires_grad;
    let (values, sink) = (store.values.clone(), store.grad.clone());
    unary_op(x, out, [n, o_f, 1, 1], move |dy| {
        let w = &values[weight.clone()];
        let mut dw = vec![0.0f32; o_f * i_f];
        kernels::sgemm(
            o_f, i_f, n, &dy, 1, o_f, &xs, i_f, 1, &mut dw, i_f, false, true,
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
                n, i_f, o_f, &dy, o_f, 1, w, i_f, 1, &mut dx, i_f, false, true,
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
}

impl BatchNormState {
    /// Mean 0, variance 1 (PyTorch's initial state).
    pub fn new(channels: usize) -> Self {
        Self {
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
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
    let [n, c, h, w] = x.shape;
    let p = h * w;
    let xs = x.values.clone();
    let (mean, inv_std): (Vec<f32>, Vec<f32>) = if training {
        let (mean, var) = kernels::channel_moments(&xs, n, c, p);
        let m = (n * p) as f64;
        let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
        let mo = BN_MOMENTUM as f64;
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
    let out = kernels::batch_norm_forward(&xs, c, p, &coef, act);
    let sink = store.grad.clone();
    unary_op(x, out, [n, c, h, w], move |dy| {
        let (dx, dgamma, dbeta) =
            kernels::batch_norm_backward(&xs, dy, n, c, p, &coef, act, training);
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
    let n = logits.shape[0];
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
    let (zt, mut tape) = logits.key.split_tape();
    let out = zt.device().tensor_from_vec(vec![mean], ());
    if T::OWNS_TAPE {
        let (zg, og) = (zt, out.clone());
        let labels = labels.to_vec();
        tape.add_backward_op(move |grads| {
            let g = grads.get_or_alloc_mut(&og)?[0];
            let mut dz = probs;
            for (row, &y) in dz.chunks_mut(k).zip(&labels) {
                row[y as usize] -= 1.0;
                row.iter_mut().for_each(|v| *v *= g / n as f32);
            }
            add_grad(grads, &zg, dz)
        });
    }
    (out.put_tape(tape), losses)
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
    let (xk, mut tape) = x.key.split_tape();
    let out = xk.device().tensor_from_vec(vec![value], ());
    if T::OWNS_TAPE {
        let (og, r) = (out.clone(), r.to_vec());
        tape.add_backward_op(move |grads| {
            let g = grads.get_or_alloc_mut(&og)?[0];
            add_grad(grads, &xk, r.iter().map(|v| v * g).collect())
        });
    }
    out.put_tape(tape)
}
