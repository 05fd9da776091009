//! [`Net`]: a built network — a tree of layers over one flat parameter vector, with seeded
//! initialisation and the forward pass on any dfdx tape.

use std::ops::Range;

use dfdx::prelude::{Cpu, Tape};
use majmin_core::{ArchConfig, Rng};

use crate::kernels::ConvGeometry;
use crate::model::NetModel;
use crate::ops::{self, Activation, BatchNormState, Conv2dSpec, PoolSpec};
use crate::tape::{Act, ParamStore};

/// One built layer; containers hold sub-sequences.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Convolution, then `act` on its output (the builder folds a ReLU that follows).
    Conv {
        name: String,
        spec: Conv2dSpec,
        /// Input height and width (the shapes are fixed when the network is built).
        in_hw: (usize, usize),
        weight: Range<usize>,
        bias: Option<Range<usize>>,
        act: Activation,
    },
    /// BatchNorm, then `act` in the same pass (the builder folds a ReLU or ReLU6 that follows).
    BatchNorm {
        name: String,
        gamma: Range<usize>,
        beta: Range<usize>,
        state: BatchNormState,
        act: Activation,
    },
    /// An activation alone.
    Activation(Activation),
    MaxPool(PoolSpec),
    AvgPool(PoolSpec),
    GlobalAvgPool,
    Flatten,
    Dropout(f32),
    Linear {
        name: String,
        in_features: usize,
        out_features: usize,
        weight: Range<usize>,
        bias: Range<usize>,
    },
    /// `act(body(x) + shortcut(x))` (empty shortcut: identity).
    Residual {
        body: Vec<Node>,
        shortcut: Vec<Node>,
        act: Activation,
    },
    /// The concatenation along channels of the branches' outputs (empty branch: identity).
    Concat {
        branches: Vec<Vec<Node>>,
    },
}

/// How a parameter range starts.
#[derive(Debug, Clone)]
pub(crate) enum Init {
    Uniform { range: Range<usize>, bound: f64 },
    Constant { range: Range<usize>, value: f32 },
    Normal { range: Range<usize>, std: f64 },
}

/// A built network (see [`crate::NetBuilder`]): its layers, its parameter count and how its
/// parameters start. [`Net::into_model`] makes it a [`majmin_core::Model`].
#[derive(Debug, Clone)]
pub struct Net {
    pub(crate) nodes: Vec<Node>,
    n_params: usize,
    inits: Vec<Init>,
}

impl Net {
    pub(crate) fn new(nodes: Vec<Node>, n_params: usize, inits: Vec<Init>) -> Self {
        Self {
            nodes,
            n_params,
            inits,
        }
    }

    /// The number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.n_params
    }

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

    /// The names of the trainable parameters, in the order of the flat vector (PyTorch's
    /// `named_parameters()` for the module of the same structure).
    pub fn parameter_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        visit(&self.nodes, &mut |node| match node {
            Node::Conv { name, bias, .. } => {
                names.push(format!("{name}.weight"));
                if bias.is_some() {
                    names.push(format!("{name}.bias"));
                }
            }
            Node::BatchNorm { name, .. } | Node::Linear { name, .. } => {
                names.push(format!("{name}.weight"));
                names.push(format!("{name}.bias"));
            }
            _ => {}
        });
        names
    }

    /// Every convolution of the network, in construction order: its parameter name (PyTorch's
    /// module path) and its geometry for one sample (`batch = 1`; set the batch to scale). The
    /// kernels choose their algorithm from the geometry; benchmarks count FLOPs with it.
    pub fn convolutions(&self) -> Vec<(String, ConvGeometry)> {
        let mut out = Vec::new();
        visit(&self.nodes, &mut |node| {
            if let Node::Conv {
                name, spec, in_hw, ..
            } = node
            {
                out.push((name.clone(), spec.geometry(1, *in_hw)));
            }
        });
        out
    }

    /// Floating-point operations of one sample's training step through the convolutions and
    /// linear layers, counted as the direct definition does (two per multiply-add, whatever
    /// algorithm the kernels run): the forward pass, the weight gradient, and the input
    /// gradient of every layer but the first, which reads the input.
    pub fn direct_flops_per_sample(&self) -> f64 {
        let mut forward = Vec::new();
        visit(&self.nodes, &mut |node| match node {
            Node::Conv { spec, in_hw, .. } => {
                forward.push(spec.geometry(1, *in_hw).forward_flops())
            }
            Node::Linear {
                in_features,
                out_features,
                ..
            } => forward.push(2.0 * (*in_features * *out_features) as f64),
            _ => {}
        });
        let first = forward.first().copied().unwrap_or(0.0);
        3.0 * forward.iter().sum::<f64>() - first
    }

    /// A model of this network called `arch`, its parameters drawn from `config.seed`.
    pub fn into_model(self, arch: &str, config: ArchConfig) -> NetModel {
        NetModel::new(arch, config, self)
    }
}

/// Calls `f` on every node, depth first, in construction order.
pub(crate) fn visit<'a>(nodes: &'a [Node], f: &mut impl FnMut(&'a Node)) {
    for node in nodes {
        f(node);
        match node {
            Node::Residual { body, shortcut, .. } => {
                visit(body, f);
                visit(shortcut, f);
            }
            Node::Concat { branches } => branches.iter().for_each(|b| visit(b, f)),
            _ => {}
        }
    }
}

/// What a forward pass needs besides the input.
pub(crate) struct Ctx<'a> {
    pub store: &'a ParamStore,
    pub training: bool,
    pub rng: &'a mut Rng,
}

/// Runs `nodes` on `x`.
///
/// # Shapes
/// `[N, C, H, W]` (the builder's input) → the builder's final shape with batch `N`.
pub(crate) fn forward<T: Tape<f32, Cpu>>(
    nodes: &mut [Node],
    mut x: Act<T>,
    ctx: &mut Ctx,
) -> Act<T> {
    for node in nodes.iter_mut() {
        x = match node {
            Node::Conv {
                spec,
                weight,
                bias,
                act,
                ..
            } => ops::conv2d_activated(x, spec, weight.clone(), bias.clone(), *act, ctx.store),
            Node::BatchNorm {
                gamma,
                beta,
                state,
                act,
                ..
            } => ops::batch_norm2d(
                x,
                gamma.clone(),
                beta.clone(),
                state,
                ctx.training,
                *act,
                ctx.store,
            ),
            Node::Activation(act) => ops::activation(x, *act),
            Node::MaxPool(spec) => ops::max_pool2d(x, spec),
            Node::AvgPool(spec) => ops::avg_pool2d(x, spec),
            Node::GlobalAvgPool => ops::global_avg_pool(x),
            Node::Flatten => ops::flatten(x),
            Node::Dropout(p) => {
                if ctx.training {
                    ops::dropout(x, *p, ctx.rng)
                } else {
                    x
                }
            }
            Node::Linear {
                in_features,
                out_features,
                weight,
                bias,
                ..
            } => ops::linear(
                x,
                *in_features,
                *out_features,
                weight.clone(),
                bias.clone(),
                ctx.store,
            ),
            Node::Residual {
                body,
                shortcut,
                act,
            } => {
                let b = forward(body, x.branch(), ctx);
                let s = forward(shortcut, x, ctx);
                ops::add(b, s, *act)
            }
            Node::Concat { branches } => {
                // Every branch but the last reads a second handle on the input; the last takes
                // it. Outputs are joined left to right.
                let last = branches.len() - 1;
                let mut outputs = Vec::with_capacity(branches.len());
                let mut input = Some(x);
                for (i, branch) in branches.iter_mut().enumerate() {
                    let xi = if i == last {
                        input.take().expect("the input, for the last branch")
                    } else {
                        input.as_ref().expect("the input").branch()
                    };
                    outputs.push(forward(branch, xi, ctx));
                }
                let mut outputs = outputs.into_iter();
                let first = outputs.next().expect("at least one branch");
                outputs.fold(first, ops::concat_channels)
            }
        };
    }
    x
}
