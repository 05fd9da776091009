//! Networks as trees of layers over one flat parameter vector: a builder that tracks shapes
//! (and reports inputs too small for the downsampling), seeded initialisation, and the forward
//! pass on any dfdx tape.

use std::ops::Range;

use dfdx::prelude::{Cpu, Tape};
use majmin_core::Rng;

use crate::ops::{self, Act, Activation, BatchNormState, Conv2dSpec, ParamStore, PoolSpec};

/// One layer; containers hold sub-sequences.
#[derive(Debug, Clone)]
pub(crate) enum Layer {
    /// Convolution, then `act` on its output (the builder folds a ReLU that follows).
    Conv {
        spec: Conv2dSpec,
        weight: Range<usize>,
        bias: Option<Range<usize>>,
        act: Activation,
    },
    /// BatchNorm, then `act` in the same pass (the builder folds a ReLU or ReLU6 that follows).
    BatchNorm {
        gamma: Range<usize>,
        beta: Range<usize>,
        state: BatchNormState,
        act: Activation,
    },
    Relu,
    Relu6,
    MaxPool(PoolSpec),
    AvgPool(PoolSpec),
    GlobalAvgPool,
    Flatten,
    Dropout(f32),
    Linear {
        in_features: usize,
        out_features: usize,
        weight: Range<usize>,
        bias: Range<usize>,
    },
    /// `body(x) + shortcut(x)` (empty shortcut: identity), then ReLU when `relu`.
    Residual {
        body: Vec<Layer>,
        shortcut: Vec<Layer>,
        relu: bool,
    },
    /// SqueezeNet's Fire: squeeze, then the concatenation of two expand branches.
    Fire {
        squeeze: Vec<Layer>,
        expand1: Vec<Layer>,
        expand3: Vec<Layer>,
    },
}

/// How a parameter range starts.
#[derive(Debug, Clone)]
enum Init {
    Uniform { range: Range<usize>, bound: f64 },
    Constant { range: Range<usize>, value: f32 },
    Normal { range: Range<usize>, std: f64 },
}

/// How [`NetBuilder::conv`] initialises a convolution's weight and bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ConvInit {
    /// PyTorch's `nn.Conv2d` default: weight and bias uniform in ±1/√fan_in.
    PyTorchDefault,
    /// `kaiming_uniform_` (ReLU gain √2: weight uniform in ±√(6/fan_in)), bias 0, as torchvision
    /// initialises SqueezeNet; it keeps the activations' scale through a deep stack without
    /// BatchNorm, where the default shrinks it about sixfold per layer.
    KaimingUniform,
    /// Weight normal with this standard deviation, bias 0 (torchvision's SqueezeNet classifier).
    Normal(f64),
}

/// Builds a layer tree, tracking the activation shape `[C, H, W]` and handing out parameter
/// ranges. Each method fails with a reason when the feature map is too small for the layer.
#[derive(Debug)]
pub(crate) struct NetBuilder {
    pub shape: [usize; 3],
    n_params: usize,
    layers: Vec<Layer>,
    inits: Vec<Init>,
    /// How the next convolutions are initialised.
    pub conv_init: ConvInit,
}

/// The result of a successful build.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    pub layers: Vec<Layer>,
    pub n_params: usize,
    inits: Vec<Init>,
}

pub(crate) type BuildResult = Result<(), String>;

impl NetBuilder {
    pub fn new(input: [usize; 3]) -> Self {
        Self {
            shape: input,
            n_params: 0,
            layers: Vec::new(),
            inits: Vec::new(),
            conv_init: ConvInit::PyTorchDefault,
        }
    }

    pub fn finish(self) -> Net {
        Net {
            layers: self.layers,
            n_params: self.n_params,
            inits: self.inits,
        }
    }

    fn alloc(&mut self, len: usize) -> Range<usize> {
        let r = self.n_params..self.n_params + len;
        self.n_params += len;
        r
    }

    fn uniform(&mut self, len: usize, bound: f64) -> Range<usize> {
        let range = self.alloc(len);
        self.inits.push(Init::Uniform {
            range: range.clone(),
            bound,
        });
        range
    }

    fn constant(&mut self, len: usize, value: f32) -> Range<usize> {
        let range = self.alloc(len);
        self.inits.push(Init::Constant {
            range: range.clone(),
            value,
        });
        range
    }

    /// Convolution with PyTorch's default initialisation (uniform ±1/√fan_in).
    pub fn conv(
        &mut self,
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        bias: bool,
    ) -> BuildResult {
        let [c, h, w] = self.shape;
        assert!(
            c % groups == 0 && out % groups == 0,
            "conv: {c} → {out} channels do not split into {groups} groups"
        );
        let spec = Conv2dSpec {
            in_channels: c,
            out_channels: out,
            kernel,
            stride,
            padding,
            dilation: 1,
            groups,
        };
        let (ho, wo) = spec.geometry(1, (h, w)).out_hw().ok_or_else(|| {
            format!("a {kernel}×{kernel} convolution (stride {stride}, padding {padding}) meets a {h}×{w} feature map")
        })?;
        let fan_in = (c / groups * kernel * kernel) as f64;
        let (weight, bias) = match self.conv_init {
            ConvInit::PyTorchDefault => (
                self.uniform(spec.weight_len(), 1.0 / fan_in.sqrt()),
                bias.then(|| self.uniform(out, 1.0 / fan_in.sqrt())),
            ),
            ConvInit::KaimingUniform => (
                self.uniform(spec.weight_len(), (6.0 / fan_in).sqrt()),
                bias.then(|| self.constant(out, 0.0)),
            ),
            ConvInit::Normal(std) => {
                let range = self.alloc(spec.weight_len());
                self.inits.push(Init::Normal {
                    range: range.clone(),
                    std,
                });
                (range, bias.then(|| self.constant(out, 0.0)))
            }
        };
        self.layers.push(Layer::Conv {
            spec,
            weight,
            bias,
            act: Activation::Identity,
        });
        self.shape = [out, ho, wo];
        Ok(())
    }

    pub fn bn(&mut self) {
        let c = self.shape[0];
        let gamma = self.constant(c, 1.0);
        let beta = self.constant(c, 0.0);
        self.layers.push(Layer::BatchNorm {
            gamma,
            beta,
            state: BatchNormState::new(c),
            act: Activation::Identity,
        });
    }

    /// Appends `act`, folded into the convolution or BatchNorm just before it when there is one.
    fn activation(&mut self, act: Activation, alone: Layer) {
        match self.layers.last_mut() {
            Some(Layer::BatchNorm { act: fused, .. } | Layer::Conv { act: fused, .. })
                if *fused == Activation::Identity =>
            {
                *fused = act
            }
            _ => self.layers.push(alone),
        }
    }

    pub fn relu(&mut self) {
        self.activation(Activation::Relu, Layer::Relu);
    }

    pub fn relu6(&mut self) {
        self.activation(Activation::Relu6, Layer::Relu6);
    }

    fn pool(&mut self, spec: PoolSpec, max: bool) -> BuildResult {
        let [c, h, w] = self.shape;
        let (ho, wo) = spec.geometry(1, (h, w)).out_hw().ok_or_else(|| {
            format!(
                "a {k}×{k} pooling window (stride {s}) meets a {h}×{w} feature map",
                k = spec.kernel,
                s = spec.stride
            )
        })?;
        self.layers.push(if max {
            Layer::MaxPool(spec)
        } else {
            Layer::AvgPool(spec)
        });
        self.shape = [c, ho, wo];
        Ok(())
    }

    pub fn max_pool(&mut self, kernel: usize, stride: usize, ceil_mode: bool) -> BuildResult {
        self.pool(
            PoolSpec {
                kernel,
                stride,
                padding: 0,
                ceil_mode,
            },
            true,
        )
    }

    #[allow(dead_code)]
    pub fn avg_pool(&mut self, kernel: usize, stride: usize, ceil_mode: bool) -> BuildResult {
        self.pool(
            PoolSpec {
                kernel,
                stride,
                padding: 0,
                ceil_mode,
            },
            false,
        )
    }

    pub fn global_avg_pool(&mut self) {
        self.layers.push(Layer::GlobalAvgPool);
        self.shape = [self.shape[0], 1, 1];
    }

    pub fn flatten(&mut self) {
        self.layers.push(Layer::Flatten);
        self.shape = [self.shape.iter().product(), 1, 1];
    }

    pub fn dropout(&mut self, p: f32) {
        self.layers.push(Layer::Dropout(p));
    }

    /// Fully connected layer on the flattened features.
    pub fn linear(&mut self, out: usize) {
        if self.shape[1] * self.shape[2] != 1 {
            self.flatten();
        }
        let i = self.shape[0];
        let bound = 1.0 / (i as f64).sqrt();
        let weight = self.uniform(out * i, bound);
        let bias = self.uniform(out, bound);
        self.layers.push(Layer::Linear {
            in_features: i,
            out_features: out,
            weight,
            bias,
        });
        self.shape = [out, 1, 1];
    }

    /// Runs `f` on an empty layer list and returns what it pushed.
    fn sequence(&mut self, f: impl FnOnce(&mut Self) -> BuildResult) -> Result<Vec<Layer>, String> {
        let saved = std::mem::take(&mut self.layers);
        let r = f(self);
        let built = std::mem::replace(&mut self.layers, saved);
        r.map(|_| built)
    }

    /// A residual block: `body(x) + shortcut(x)`, with `shortcut = None` the identity.
    pub fn residual(
        &mut self,
        body: impl FnOnce(&mut Self) -> BuildResult,
        shortcut: Option<&dyn Fn(&mut Self) -> BuildResult>,
        relu: bool,
    ) -> BuildResult {
        let start = self.shape;
        let body = self.sequence(body)?;
        let after = self.shape;
        self.shape = start;
        let shortcut = match shortcut {
            Some(f) => self.sequence(f)?,
            None => Vec::new(),
        };
        assert_eq!(
            self.shape, after,
            "residual: body and shortcut shapes differ"
        );
        self.layers.push(Layer::Residual {
            body,
            shortcut,
            relu,
        });
        Ok(())
    }

    /// SqueezeNet's Fire module (convolutions with bias, each followed by ReLU).
    pub fn fire(&mut self, squeeze: usize, expand1: usize, expand3: usize) -> BuildResult {
        let sq = self.sequence(|b| {
            b.conv(squeeze, 1, 1, 0, 1, true)?;
            b.relu();
            Ok(())
        })?;
        let mid = self.shape;
        let e1 = self.sequence(|b| {
            b.conv(expand1, 1, 1, 0, 1, true)?;
            b.relu();
            Ok(())
        })?;
        self.shape = mid;
        let e3 = self.sequence(|b| {
            b.conv(expand3, 3, 1, 1, 1, true)?;
            b.relu();
            Ok(())
        })?;
        self.shape = [expand1 + expand3, mid[1], mid[2]];
        self.layers.push(Layer::Fire {
            squeeze: sq,
            expand1: e1,
            expand3: e3,
        });
        Ok(())
    }
}

impl Net {
    /// Initial parameters drawn from `seed` (ranges in allocation order).
    pub fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::seed_from_u64(seed);
        let mut p = vec![0.0f32; self.n_params];
        for init in &self.inits {
            match init {
                Init::Uniform { range, bound } => p[range.clone()]
                    .iter_mut()
                    .for_each(|v| *v = rng.uniform_range(-bound, *bound) as f32),
                Init::Constant { range, value } => p[range.clone()].fill(*value),
                Init::Normal { range, std } => p[range.clone()]
                    .iter_mut()
                    .for_each(|v| *v = (rng.normal() * std) as f32),
            }
        }
        p
    }
}

/// What a forward pass needs besides the input.
pub(crate) struct Ctx<'a> {
    pub store: &'a ParamStore,
    pub training: bool,
    pub rng: &'a mut Rng,
}

/// Runs `layers` on `x`.
///
/// # Shapes
/// `[N, C, H, W]` (the builder's input) → the builder's final shape with batch `N`.
pub(crate) fn forward<T: Tape<f32, Cpu>>(
    layers: &mut [Layer],
    mut x: Act<T>,
    ctx: &mut Ctx,
) -> Act<T> {
    for layer in layers.iter_mut() {
        x = match layer {
            Layer::Conv {
                spec,
                weight,
                bias,
                act,
            } => ops::conv2d_activated(x, spec, weight.clone(), bias.clone(), *act, ctx.store),
            Layer::BatchNorm {
                gamma,
                beta,
                state,
                act,
            } => ops::batch_norm2d(
                x,
                gamma.clone(),
                beta.clone(),
                state,
                ctx.training,
                *act,
                ctx.store,
            ),
            Layer::Relu => ops::relu(x),
            Layer::Relu6 => ops::relu6(x),
            Layer::MaxPool(spec) => ops::max_pool2d(x, spec),
            Layer::AvgPool(spec) => ops::avg_pool2d(x, spec),
            Layer::GlobalAvgPool => ops::global_avg_pool(x),
            Layer::Flatten => ops::flatten(x),
            Layer::Dropout(p) => {
                if ctx.training {
                    ops::dropout(x, *p, ctx.rng)
                } else {
                    x
                }
            }
            Layer::Linear {
                in_features,
                out_features,
                weight,
                bias,
            } => ops::linear(
                x,
                *in_features,
                *out_features,
                weight.clone(),
                bias.clone(),
                ctx.store,
            ),
            Layer::Residual {
                body,
                shortcut,
                relu,
            } => {
                let b = forward(body, x.branch(), ctx);
                let s = forward(shortcut, x, ctx);
                let act = if *relu {
                    Activation::Relu
                } else {
                    Activation::Identity
                };
                ops::add(b, s, act)
            }
            Layer::Fire {
                squeeze,
                expand1,
                expand3,
            } => {
                let s = forward(squeeze, x, ctx);
                let a = forward(expand1, s.branch(), ctx);
                let b = forward(expand3, s, ctx);
                ops::concat_channels(a, b)
            }
        };
    }
    x
}
