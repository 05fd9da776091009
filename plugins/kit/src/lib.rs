//! Building blocks for majmin architecture plugins: layers that track shapes and own their
//! parameter ranges, and [`OpsModel`], a [`Model`] over any [`Network`] of
//! `majmin_models::ops` tape operations.
//!
//! majmin-models keeps its own network builder private, so a plugin describes its network as a
//! plain struct of layers ([`Conv`], [`BatchNorm`], [`Linear`], pooling specs) and a
//! [`Network::forward`] that chains them; [`OpsModel`] supplies everything else the
//! [`Model`] trait asks for — flat parameters, the mean cross-entropy and its gradient through
//! dfdx's tape, training/evaluation modes — exactly as the built-in models do it.
//!
//! ```
//! use dfdx::prelude::{Cpu, Tape};
//! use majmin_core::{ArchConfig, Model};
//! use majmin_models::ops::{self, Act, ParamStore};
//! use majmin_plugin_kit::{Linear, Network, OpsModel, Params};
//!
//! struct Softmax { linear: Linear }
//! impl Network for Softmax {
//!     fn forward<T: Tape<f32, Cpu>>(&mut self, x: Act<T>, store: &ParamStore, _training: bool) -> Act<T> {
//!         self.linear.forward(ops::flatten(x), store)
//!     }
//! }
//!
//! let config = ArchConfig::new([1, 2, 2], 3);
//! let mut params = Params::default();
//! let net = Softmax { linear: Linear::new(&mut params, 4, 3) };
//! let mut model = OpsModel::new("softmax", config, net, &params);
//! assert_eq!(model.num_params(), 15);
//! let mut grad = vec![0.0; 15];
//! let loss = model.loss_and_gradient(&[0.5; 8], &[0, 2], &mut grad).unwrap();
//! assert!(loss > 0.0 && grad.iter().any(|g| *g != 0.0));
//! ```
#![deny(missing_docs)]

use std::ops::Range;
use std::sync::Arc;

use dfdx::prelude::{Backward, Cpu, NoneTape, OwnedTape, Tape};
use majmin_core::model::check_batch;
use majmin_core::{ArchConfig, Model, ModelError, Rng};
use majmin_models::ops::{self, Act, Activation, BatchNormState, Conv2dSpec, ParamStore, PoolSpec};

/// How a parameter range starts.
#[derive(Debug, Clone)]
enum Init {
    Uniform { range: Range<usize>, bound: f64 },
    Constant { range: Range<usize>, value: f32 },
}

/// Hands out ranges of one flat parameter vector, in construction order, and remembers how
/// each starts.
#[derive(Debug, Clone, Default)]
pub struct Params {
    len: usize,
    inits: Vec<Init>,
}

impl Params {
    fn alloc(&mut self, len: usize) -> Range<usize> {
        let range = self.len..self.len + len;
        self.len += len;
        range
    }

    /// `len` values drawn uniformly from `[-bound, bound]`.
    pub fn uniform(&mut self, len: usize, bound: f64) -> Range<usize> {
        let range = self.alloc(len);
        self.inits.push(Init::Uniform {
            range: range.clone(),
            bound,
        });
        range
    }

    /// `len` values equal to `value`.
    pub fn constant(&mut self, len: usize, value: f32) -> Range<usize> {
        let range = self.alloc(len);
        self.inits.push(Init::Constant {
            range: range.clone(),
            value,
        });
        range
    }

    /// The number of parameters handed out.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no parameter was handed out.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Initial values drawn from `seed` (ranges in allocation order).
    pub fn initial_values(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::seed_from_u64(seed);
        let mut p = vec![0.0f32; self.len];
        for init in &self.inits {
            match init {
                Init::Uniform { range, bound } => p[range.clone()]
                    .iter_mut()
                    .for_each(|v| *v = rng.uniform_range(-bound, *bound) as f32),
                Init::Constant { range, value } => p[range.clone()].fill(*value),
            }
        }
        p
    }
}

/// A 2-D convolution with PyTorch's default initialisation (uniform ±1/√fan_in).
#[derive(Debug, Clone)]
pub struct Conv {
    spec: Conv2dSpec,
    weight: Range<usize>,
    bias: Option<Range<usize>>,
}

impl Conv {
    /// A `kernel × kernel` convolution from `shape[0]` to `out` channels; updates `shape`
    /// (`[C, H, W]`) to the output's, or says why the feature map is too small.
    pub fn new(
        params: &mut Params,
        shape: &mut [usize; 3],
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    ) -> Result<Self, String> {
        let [c, h, w] = *shape;
        let spec = Conv2dSpec {
            in_channels: c,
            out_channels: out,
            kernel,
            stride,
            padding,
            dilation: 1,
            groups: 1,
        };
        let (ho, wo) = spec.geometry(1, (h, w)).out_hw().ok_or_else(|| {
            format!("a {kernel}×{kernel} convolution (stride {stride}, padding {padding}) meets a {h}×{w} feature map")
        })?;
        let bound = 1.0 / ((c * kernel * kernel) as f64).sqrt();
        let weight = params.uniform(spec.weight_len(), bound);
        let bias = bias.then(|| params.uniform(out, bound));
        *shape = [out, ho, wo];
        Ok(Self { spec, weight, bias })
    }

    /// # Shapes
    /// `[N, C, H, W]` → `[N, out, Ho, Wo]`.
    pub fn forward<T: Tape<f32, Cpu>>(&self, x: Act<T>, store: &ParamStore) -> Act<T> {
        ops::conv2d(x, &self.spec, self.weight.clone(), self.bias.clone(), store)
    }
}

/// 2-D batch normalisation (scale 1, shift 0 at the start; running statistics are state).
#[derive(Debug, Clone)]
pub struct BatchNorm {
    gamma: Range<usize>,
    beta: Range<usize>,
    state: BatchNormState,
}

impl BatchNorm {
    /// Over `channels` channels.
    pub fn new(params: &mut Params, channels: usize) -> Self {
        let gamma = params.constant(channels, 1.0);
        let beta = params.constant(channels, 0.0);
        Self {
            gamma,
            beta,
            state: BatchNormState::new(channels),
        }
    }

    /// Batch statistics (and a running-statistics update) in training mode, running statistics
    /// otherwise.
    ///
    /// # Shapes
    /// Unchanged `[N, C, H, W]`.
    pub fn forward<T: Tape<f32, Cpu>>(
        &mut self,
        x: Act<T>,
        store: &ParamStore,
        training: bool,
    ) -> Act<T> {
        ops::batch_norm2d(
            x,
            self.gamma.clone(),
            self.beta.clone(),
            &mut self.state,
            training,
            Activation::Identity,
            store,
        )
    }
}

/// A fully connected layer `y = x Wᵀ + b` with PyTorch's default initialisation.
#[derive(Debug, Clone)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    weight: Range<usize>,
    bias: Range<usize>,
}

impl Linear {
    /// From `in_features` to `out_features`.
    pub fn new(params: &mut Params, in_features: usize, out_features: usize) -> Self {
        let bound = 1.0 / (in_features as f64).sqrt();
        let weight = params.uniform(in_features * out_features, bound);
        let bias = params.uniform(out_features, bound);
        Self {
            in_features,
            out_features,
            weight,
            bias,
        }
    }

    /// # Shapes
    /// `[N, in, 1, 1]` → `[N, out, 1, 1]`.
    pub fn forward<T: Tape<f32, Cpu>>(&self, x: Act<T>, store: &ParamStore) -> Act<T> {
        ops::linear(
            x,
            self.in_features,
            self.out_features,
            self.weight.clone(),
            self.bias.clone(),
            store,
        )
    }
}

/// A `kernel × kernel` pooling window with stride `stride`; updates `shape`, or says why the
/// feature map is too small.
pub fn pool(shape: &mut [usize; 3], kernel: usize, stride: usize) -> Result<PoolSpec, String> {
    let spec = PoolSpec {
        kernel,
        stride,
        padding: 0,
        ceil_mode: false,
    };
    let [c, h, w] = *shape;
    let (ho, wo) = spec.geometry(1, (h, w)).out_hw().ok_or_else(|| {
        format!("a {kernel}×{kernel} pooling window (stride {stride}) meets a {h}×{w} feature map")
    })?;
    *shape = [c, ho, wo];
    Ok(spec)
}

/// Builds a network for `input` with `recipe`, mapping a "feature map too small" message to
/// [`ModelError::InputTooSmall`] with the smallest square side that works.
pub fn build_checked<N>(
    arch: &str,
    config: &ArchConfig,
    recipe: impl Fn([usize; 3], &mut Params) -> Result<N, String>,
) -> Result<(N, Params), ModelError> {
    config.validate(arch)?;
    let attempt = |input: [usize; 3]| {
        let mut params = Params::default();
        recipe(input, &mut params).map(|net| (net, params))
    };
    attempt(config.input).map_err(|reason| {
        let [c, h, w] = config.input;
        let min_side = (1..=1024)
            .find(|&s| attempt([c, s, s]).is_ok())
            .unwrap_or(1024);
        ModelError::InputTooSmall {
            arch: arch.into(),
            channels: c,
            height: h,
            width: w,
            reason,
            min_side,
        }
    })
}

/// A network of tape operations: the part of a model a plugin writes.
pub trait Network: Send + 'static {
    /// Runs the network on a batch; BatchNorm layers use batch statistics when `training`.
    ///
    /// # Shapes
    /// `[N, C, H, W]` (the configured input) → `[N, classes, 1, 1]` logits.
    fn forward<T: Tape<f32, Cpu>>(
        &mut self,
        x: Act<T>,
        store: &ParamStore,
        training: bool,
    ) -> Act<T>;
}

/// A [`Model`] over a [`Network`]: flat parameters, mean cross-entropy and its gradient
/// through dfdx's tape, training/evaluation modes (training at the start, as built-in models).
pub struct OpsModel<N> {
    name: String,
    config: ArchConfig,
    net: N,
    params: Arc<Vec<f32>>,
    training: bool,
    device: Cpu,
}

impl<N> std::fmt::Debug for OpsModel<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsModel")
            .field("arch", &self.name)
            .field("params", &self.params.len())
            .finish()
    }
}

impl<N: Network> OpsModel<N> {
    /// A model with the initial values of `params` drawn from `config.seed`.
    pub fn new(name: &str, config: ArchConfig, net: N, params: &Params) -> Self {
        let values = params.initial_values(config.seed);
        Self {
            name: name.into(),
            config,
            net,
            params: Arc::new(values),
            training: true,
            device: Cpu::default(),
        }
    }

    fn batch_shape(&self, inputs: &[f32]) -> Result<[usize; 4], ModelError> {
        let per = self.config.feature_len();
        if inputs.is_empty() || inputs.len() % per != 0 {
            return Err(ModelError::BufferLength {
                what: format!(
                    "inputs of `{}` (a whole number of samples of shape {:?})",
                    self.name, self.config.input
                ),
                expected: per * (inputs.len() / per).max(1),
                got: inputs.len(),
            });
        }
        let [c, h, w] = self.config.input;
        Ok([inputs.len() / per, c, h, w])
    }

    fn check_len(&self, what: &str, got: usize) -> Result<(), ModelError> {
        if got != self.params.len() {
            return Err(ModelError::BufferLength {
                what: format!("{what} of `{}`", self.name),
                expected: self.params.len(),
                got,
            });
        }
        Ok(())
    }
}

impl<N: Network> Model for OpsModel<N> {
    fn num_params(&self) -> usize {
        self.params.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.config.input
    }

    fn classes(&self) -> usize {
        self.config.classes
    }

    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> {
        self.check_len("parameter buffer", out.len())?;
        out.copy_from_slice(&self.params);
        Ok(())
    }

    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
        self.check_len("parameters", params.len())?;
        Arc::make_mut(&mut self.params).copy_from_slice(params);
        Ok(())
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn is_training(&self) -> bool {
        self.training
    }

    /// # Shapes
    /// `inputs`: `N × C·H·W` → `N × classes`.
    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, ModelError> {
        let shape = self.batch_shape(inputs)?;
        let store = ParamStore::new(self.params.clone());
        let x = Act::<NoneTape>::input(&self.device, inputs.to_vec(), shape);
        Ok(self.net.forward(x, &store, self.training).into_values())
    }

    /// # Shapes
    /// `inputs`: `N × C·H·W`, `labels`: `N`, `grad`: `num_params`.
    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, ModelError> {
        check_batch(self.config.input, self.config.classes, inputs, labels)?;
        self.check_len("gradient buffer", grad.len())?;
        let shape = self.batch_shape(inputs)?;
        let store = ParamStore::with_grad(self.params.clone());
        let x = Act::<OwnedTape<f32, Cpu>>::input(&self.device, inputs.to_vec(), shape);
        let logits = self.net.forward(x, &store, self.training);
        let (loss, _) = ops::cross_entropy(logits, labels);
        let value = loss.as_vec()[0];
        drop(loss.backward());
        let sink = store
            .grad
            .as_ref()
            .expect("a store made with a gradient sink");
        grad.copy_from_slice(&sink.borrow());
        Ok(value)
    }
}
