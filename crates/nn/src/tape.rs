//! The tape plumbing under [`crate::ops`]: activations ([`Act`]) with their gradient keys, the
//! flat parameter store ([`ParamStore`]), and the helpers that register an operation's backward
//! pass on dfdx's tape.
//!
//! dfdx supplies the tape (the order of the backward passes) and the gradient map; the values
//! are majmin's own. An activation holds its NCHW values in a shared buffer, its shape, and an
//! empty dfdx tensor whose id keys its gradient. An operation therefore reads its input by
//! reference and keeps it for the backward pass without copying it, and a gradient is moved,
//! not copied, from the operation that writes it to the one that reads it. Trainable parameters
//! live in one flat vector: an operation names its parameters by offset and, on the backward
//! pass, adds their gradient into the store's gradient sink — so `Model::get_params`/`set_params`
//! and the flat gradient need no copies.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use dfdx::prelude::{Cpu, Gradients, NoneTape, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor::CpuError;

use crate::kernels;

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
    shape: [usize; 4],
    /// Whether a gradient with respect to this activation is wanted (false for network inputs).
    requires_grad: bool,
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

    /// The same input, with its gradient wanted (gradient checks read it through
    /// [`Act::key`]).
    pub fn requiring_grad(mut self) -> Self {
        self.requires_grad = true;
        self
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
    /// The shape `[N, C, H, W]` (features are `[N, F, 1, 1]`).
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Whether a gradient with respect to this activation is wanted (false for network inputs).
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }

    /// The shared buffer of the values (kept by an operation for its backward pass).
    pub(crate) fn shared_values(&self) -> Arc<Vec<f32>> {
        self.values.clone()
    }

    /// The same activation seen with another shape of the same length (no data movement).
    pub(crate) fn reshaped(self, shape: [usize; 4]) -> Self {
        debug_assert_eq!(
            shape.iter().product::<usize>(),
            self.shape.iter().product::<usize>()
        );
        Self { shape, ..self }
    }

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
            grad: Some(Rc::new(RefCell::new(kernels::elementwise::zeros(n)))),
        }
    }

    pub(crate) fn slice(&self, r: &Range<usize>) -> &[f32] {
        &self.values[r.clone()]
    }
}

pub(crate) fn add_param_grad(sink: &Option<GradSink>, range: &Range<usize>, g: &[f32]) {
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
    Ok(if g.len() == len {
        g
    } else {
        kernels::elementwise::zeros(len)
    })
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
pub(crate) fn unary_op<T: Tape<f32, Cpu>>(
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
pub(crate) fn binary_op<T: Tape<f32, Cpu>>(
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

/// Wraps the scalar `value` (computed from `x`) as a dfdx tensor on `x`'s tape, with
/// `backward(g) -> dx` run on the backward pass (`g`: the gradient of the scalar).
pub(crate) fn scalar_op<T: Tape<f32, Cpu>>(
    x: Act<T>,
    value: f32,
    backward: impl FnOnce(f32) -> Vec<f32> + 'static,
) -> Tensor<(), f32, Cpu, T> {
    let (xk, mut tape) = x.key.split_tape();
    let out = xk.device().tensor_from_vec(vec![value], ());
    if T::OWNS_TAPE {
        let og = out.clone();
        tape.add_backward_op(move |grads| {
            let g = grads.get_or_alloc_mut(&og)?[0];
            add_grad(grads, &xk, backward(g))
        });
    }
    out.put_tape(tape)
}
