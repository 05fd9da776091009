//! [`NetBuilder`]: builds a network layer by layer, tracking the activation shape, handing out
//! parameter ranges and naming every tensor as PyTorch would name it in the module of the same
//! structure; [`Layer`] and the config-style layer types it takes; [`BuildError`].

use std::fmt;
use std::ops::Range;

use crate::net::{Init, Net, Node};
use crate::ops::{Activation, BatchNormState, Conv2dSpec, PoolSpec};

/// Why a network could not be built.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// The feature map is too small for a layer: a larger input would fit.
    TooSmall {
        /// The layer, e.g. "a 3×3 convolution (stride 2, padding 0)".
        layer: String,
        /// Feature-map height where the layer sits.
        height: usize,
        /// Feature-map width where the layer sits.
        width: usize,
    },
    /// A layer's hyper-parameters do not fit the network where it is added (zero sizes, channels
    /// that do not split into groups, branches that end in different shapes, …).
    InvalidLayer {
        /// What is wrong and what was expected.
        message: String,
    },
    /// An architecture's configuration value is not acceptable (e.g. an option that is not a
    /// number).
    InvalidConfig {
        /// What is wrong and what was expected.
        message: String,
    },
}

impl BuildError {
    /// A [`BuildError::InvalidConfig`] with `message`.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            message: message.into(),
        }
    }

    fn invalid_layer(message: impl Into<String>) -> Self {
        Self::InvalidLayer {
            message: message.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall {
                layer,
                height,
                width,
            } => write!(f, "{layer} meets a {height}×{width} feature map"),
            Self::InvalidLayer { message } | Self::InvalidConfig { message } => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// The result of a builder step.
pub type BuildResult = Result<(), BuildError>;

/// A layer configuration that a [`NetBuilder`] can append (see [`NetBuilder::add`]).
pub trait Layer {
    /// Appends the layer to `builder`, or says why it does not fit there.
    fn add_to(self, builder: &mut NetBuilder) -> BuildResult;
}

/// How a scope names the layers added inside it.
#[derive(Debug, Clone)]
enum Frame {
    /// An `nn.Sequential` (or a module whose children are numbered): each layer takes the next
    /// index, parameter-free ones and a ReLU fused into the layer before included.
    Sequential { path: String, next: usize },
    /// A single named module (`self.sq = nn.Conv2d(…)`): its one parameter layer takes the name;
    /// activations after it are functional (`F.relu`) and take none.
    Leaf { path: String, used: bool },
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Builds a network: tracks the activation shape `[C, H, W]`, hands out ranges of one flat
/// parameter vector (with PyTorch's default initialisation), folds a ReLU or ReLU6 into the
/// convolution or BatchNorm just before it, and names every tensor as in the PyTorch module of
/// the same structure (see [`NetBuilder::block`], [`NetBuilder::child`], [`NetBuilder::leaf`]).
///
/// ```
/// use majmin_nn::{BatchNorm2d, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d, NetBuilder, Relu};
///
/// let mut b = NetBuilder::new([1, 8, 8]);
/// b.add(Conv2d::new(4, 3).padding(1).bias(false))?
///     .add(BatchNorm2d)?
///     .add(Relu)?
///     .add(MaxPool2d::new(2))?
///     .add(GlobalAvgPool)?
///     .add(Flatten)?
///     .add(Linear::new(3))?;
/// assert_eq!(b.shape(), [3, 1, 1]);
/// let net = b.finish();
/// // conv 4·1·3·3, BatchNorm 4 + 4, linear 3·4 + 3
/// assert_eq!(net.num_params(), 36 + 8 + 15);
/// assert_eq!(net.parameter_names(), ["0.weight", "1.weight", "1.bias", "6.weight", "6.bias"]);
/// # Ok::<(), majmin_nn::BuildError>(())
/// ```
#[derive(Debug)]
pub struct NetBuilder {
    shape: [usize; 3],
    n_params: usize,
    nodes: Vec<Node>,
    inits: Vec<Init>,
    frames: Vec<Frame>,
}

impl NetBuilder {
    /// An empty network for inputs of shape `[C, H, W]`; its top level is an `nn.Sequential`.
    pub fn new(input: [usize; 3]) -> Self {
        Self {
            shape: input,
            n_params: 0,
            nodes: Vec::new(),
            inits: Vec::new(),
            frames: vec![Frame::Sequential {
                path: String::new(),
                next: 0,
            }],
        }
    }

    /// The activation shape `[C, H, W]` after the layers added so far.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Parameters handed out so far.
    pub fn num_params(&self) -> usize {
        self.n_params
    }

    /// The network built.
    pub fn finish(self) -> Net {
        Net::new(self.nodes, self.n_params, self.inits)
    }

    /// Appends `layer`.
    pub fn add(&mut self, layer: impl Layer) -> Result<&mut Self, BuildError> {
        layer.add_to(self)?;
        Ok(self)
    }

    /// A module at the next index of the current `nn.Sequential` whose own children are
    /// numbered (an `nn.Sequential` inside, or a block whose layers `f` adds in order).
    pub fn block(&mut self, f: impl FnOnce(&mut Self) -> BuildResult) -> BuildResult {
        let path = self.take_index();
        self.scoped(Frame::Sequential { path, next: 0 }, f)
    }

    /// A named child module with numbered children (`self.body = nn.Sequential(…)`).
    pub fn child(&mut self, name: &str, f: impl FnOnce(&mut Self) -> BuildResult) -> BuildResult {
        let path = join(self.path(), name);
        self.scoped(Frame::Sequential { path, next: 0 }, f)
    }

    /// A named single module (`self.sq = nn.Conv2d(…)`): `f` adds one parameter layer, which
    /// takes the name, and optionally functional activations after it.
    pub fn leaf(&mut self, name: &str, f: impl FnOnce(&mut Self) -> BuildResult) -> BuildResult {
        let path = join(self.path(), name);
        self.scoped(Frame::Leaf { path, used: false }, f)
    }

    /// `act(body(x) + shortcut(x))`, the shortcut the identity when `None`. Both branches add
    /// their layers in the current scope (as a module's `forward` would call its children).
    pub fn residual(
        &mut self,
        body: impl FnOnce(&mut Self) -> BuildResult,
        shortcut: Option<&dyn Fn(&mut Self) -> BuildResult>,
        act: Activation,
    ) -> BuildResult {
        let start = self.shape;
        let body = self.sequence(body)?;
        let after = self.shape;
        self.shape = start;
        let shortcut = match shortcut {
            Some(f) => self.sequence(f)?,
            None => Vec::new(),
        };
        if self.shape != after {
            return Err(BuildError::invalid_layer(format!(
                "residual: the body ends in shape {after:?} but the shortcut in {:?}",
                self.shape
            )));
        }
        self.nodes.push(Node::Residual {
            body,
            shortcut,
            act,
        });
        Ok(())
    }

    /// The concatenation along channels of the branches' outputs (`torch.cat([...], 1)`); a
    /// branch that adds nothing is the identity (DenseNet). Branches add their layers in the
    /// current scope.
    pub fn concat(&mut self, branches: &[&dyn Fn(&mut Self) -> BuildResult]) -> BuildResult {
        let start = self.shape;
        let mut built = Vec::with_capacity(branches.len());
        let mut channels = 0;
        for (i, branch) in branches.iter().enumerate() {
            self.shape = start;
            built.push(self.sequence(branch)?);
            let [c, h, w] = self.shape;
            if [h, w] != [start[1], start[2]] {
                return Err(BuildError::invalid_layer(format!(
                    "concat: branch {i} ends in a {h}×{w} map, the input is {}×{}",
                    start[1], start[2]
                )));
            }
            channels += c;
        }
        if built.is_empty() {
            return Err(BuildError::invalid_layer("concat: no branch"));
        }
        self.shape = [channels, start[1], start[2]];
        self.nodes.push(Node::Concat { branches: built });
        Ok(())
    }

    fn scoped(&mut self, frame: Frame, f: impl FnOnce(&mut Self) -> BuildResult) -> BuildResult {
        self.frames.push(frame);
        let r = f(self);
        self.frames.pop();
        r
    }

    /// Runs `f` on an empty node list and returns what it pushed.
    fn sequence(
        &mut self,
        f: impl FnOnce(&mut Self) -> BuildResult,
    ) -> Result<Vec<Node>, BuildError> {
        let saved = std::mem::take(&mut self.nodes);
        let r = f(self);
        let built = std::mem::replace(&mut self.nodes, saved);
        r.map(|_| built)
    }

    fn path(&self) -> &str {
        match self.frames.last().expect("the root frame") {
            Frame::Sequential { path, .. } | Frame::Leaf { path, .. } => path,
        }
    }

    /// The next index of the current `nn.Sequential`, as a path (nothing in a leaf).
    fn take_index(&mut self) -> String {
        match self.frames.last_mut().expect("the root frame") {
            Frame::Sequential { path, next } => {
                let name = join(path, &next.to_string());
                *next += 1;
                name
            }
            Frame::Leaf { path, .. } => path.clone(),
        }
    }

    /// The name of a parameter layer added now.
    fn name_parameter_layer(&mut self) -> Result<String, BuildError> {
        match self.frames.last_mut().expect("the root frame") {
            Frame::Leaf { path, used } => {
                if *used {
                    return Err(BuildError::invalid_layer(format!(
                        "module `{path}` already holds a parameter layer: use `child` or `block` for several"
                    )));
                }
                *used = true;
                Ok(path.clone())
            }
            Frame::Sequential { .. } => Ok(self.take_index()),
        }
    }

    /// A parameter-free layer added now takes an index in an `nn.Sequential`, none in a leaf.
    fn name_plain_layer(&mut self) {
        if matches!(self.frames.last(), Some(Frame::Sequential { .. })) {
            self.take_index();
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

    fn normal(&mut self, len: usize, std: f64) -> Range<usize> {
        let range = self.alloc(len);
        self.inits.push(Init::Normal {
            range: range.clone(),
            std,
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

    /// Appends `act`, folded into the convolution or BatchNorm just before it when there is one
    /// (it still takes its index, as the `nn.ReLU` module it stands for).
    fn activation(&mut self, act: Activation) {
        self.name_plain_layer();
        match self.nodes.last_mut() {
            Some(Node::BatchNorm { act: fused, .. } | Node::Conv { act: fused, .. })
                if *fused == Activation::Identity =>
            {
                *fused = act
            }
            _ => self.nodes.push(Node::Activation(act)),
        }
    }

    fn pool(&mut self, spec: PoolSpec, max: bool) -> BuildResult {
        let [c, h, w] = self.shape;
        if spec.kernel == 0 || spec.stride == 0 {
            return Err(BuildError::invalid_layer(format!(
                "pooling: window {} and stride {} must be positive",
                spec.kernel, spec.stride
            )));
        }
        let (ho, wo) = spec
            .geometry(1, (h, w))
            .out_hw()
            .ok_or_else(|| BuildError::TooSmall {
                layer: format!(
                    "a {k}×{k} pooling window (stride {s})",
                    k = spec.kernel,
                    s = spec.stride
                ),
                height: h,
                width: w,
            })?;
        self.name_plain_layer();
        self.nodes.push(if max {
            Node::MaxPool(spec)
        } else {
            Node::AvgPool(spec)
        });
        self.shape = [c, ho, wo];
        Ok(())
    }

    fn flatten_node(&mut self) {
        self.nodes.push(Node::Flatten);
        self.shape = [self.shape.iter().product(), 1, 1];
    }
}

/// A 2-D convolution (`nn.Conv2d`), by default with PyTorch's initialisation (uniform
/// ±1/√fan_in for weight and bias; see [`Conv2d::init`]). Defaults: stride 1, padding 0, dilation
/// 1, one group, a bias.
///
/// Weight `[out, in/groups, k, k]` (PyTorch's layout), then bias `[out]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2d {
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
    bias: bool,
    init: ConvInit,
}

/// How a [`Conv2d`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ConvInit {
    /// PyTorch's `nn.Conv2d` default: weight and bias uniform in ±1/√fan_in.
    #[default]
    PyTorchDefault,
    /// `kaiming_uniform_` with ReLU's gain √2 (weight uniform in ±√(6/fan_in)), bias 0: how
    /// torchvision starts SqueezeNet. It keeps the activations' scale through a deep stack
    /// without BatchNorm, where the default shrinks their variance about sixfold per layer.
    KaimingUniform,
    /// Weight normal with this standard deviation, bias 0 (torchvision's SqueezeNet classifier,
    /// 0.01).
    Normal(f64),
}

impl Conv2d {
    /// A `kernel × kernel` convolution to `out_channels` channels.
    pub fn new(out_channels: usize, kernel: usize) -> Self {
        Self {
            out_channels,
            kernel,
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
            bias: true,
            init: ConvInit::PyTorchDefault,
        }
    }

    /// Sets how the weight and bias start.
    pub fn init(mut self, init: ConvInit) -> Self {
        self.init = init;
        self
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding on every side.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation.
    pub fn dilation(mut self, dilation: usize) -> Self {
        self.dilation = dilation;
        self
    }

    /// Sets the channel groups (the input channels for a depthwise convolution).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// With or without a bias.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

impl Layer for Conv2d {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        let [c, h, w] = b.shape;
        let Conv2d {
            out_channels: out,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            init,
        } = self;
        if out == 0 || kernel == 0 || stride == 0 || dilation == 0 || groups == 0 {
            return Err(BuildError::invalid_layer(format!(
                "conv: out channels {out}, kernel {kernel}, stride {stride}, dilation {dilation} and groups {groups} must all be positive"
            )));
        }
        if c % groups != 0 || out % groups != 0 {
            return Err(BuildError::invalid_layer(format!(
                "conv: {c} → {out} channels do not split into {groups} groups"
            )));
        }
        let spec = Conv2dSpec {
            in_channels: c,
            out_channels: out,
            kernel,
            stride,
            padding,
            dilation,
            groups,
        };
        let (ho, wo) = spec
            .geometry(1, (h, w))
            .out_hw()
            .ok_or_else(|| BuildError::TooSmall {
                layer: format!(
                    "a {kernel}×{kernel} convolution (stride {stride}, padding {padding})"
                ),
                height: h,
                width: w,
            })?;
        let name = b.name_parameter_layer()?;
        let fan_in = (c / groups * kernel * kernel) as f64;
        let (weight, bias) = match init {
            ConvInit::PyTorchDefault => (
                b.uniform(spec.weight_len(), 1.0 / fan_in.sqrt()),
                bias.then(|| b.uniform(out, 1.0 / fan_in.sqrt())),
            ),
            ConvInit::KaimingUniform => (
                b.uniform(spec.weight_len(), (6.0 / fan_in).sqrt()),
                bias.then(|| b.constant(out, 0.0)),
            ),
            ConvInit::Normal(std) => (
                b.normal(spec.weight_len(), std),
                bias.then(|| b.constant(out, 0.0)),
            ),
        };
        b.nodes.push(Node::Conv {
            name,
            spec,
            in_hw: (h, w),
            weight,
            bias,
            act: Activation::Identity,
        });
        b.shape = [out, ho, wo];
        Ok(())
    }
}

/// 2-D batch normalisation (`nn.BatchNorm2d`) over the current channels: scale 1 and shift 0 at
/// the start; running mean 0 and variance 1, momentum 0.1, ε = 1e-5 (PyTorch's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchNorm2d;

impl Layer for BatchNorm2d {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        let c = b.shape[0];
        let name = b.name_parameter_layer()?;
        let gamma = b.constant(c, 1.0);
        let beta = b.constant(c, 0.0);
        b.nodes.push(Node::BatchNorm {
            name,
            gamma,
            beta,
            state: BatchNormState::new(c),
            act: Activation::Identity,
        });
        Ok(())
    }
}

/// `max(x, 0)` (`nn.ReLU`), fused into a convolution or BatchNorm just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relu;

impl Layer for Relu {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        b.activation(Activation::Relu);
        Ok(())
    }
}

/// `min(max(x, 0), 6)` (`nn.ReLU6`), fused into a convolution or BatchNorm just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relu6;

impl Layer for Relu6 {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        b.activation(Activation::Relu6);
        Ok(())
    }
}

/// Max-pooling (`nn.MaxPool2d`): window `kernel`, stride `kernel` unless set, no padding,
/// PyTorch's output-size rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d(PoolSpec);

/// Average-pooling (`nn.AvgPool2d`, padding counted): window `kernel`, stride `kernel` unless
/// set, no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d(PoolSpec);

macro_rules! pool_config {
    ($t:ident, $max:expr) => {
        impl $t {
            /// A `kernel × kernel` window with stride `kernel`.
            pub fn new(kernel: usize) -> Self {
                Self(PoolSpec {
                    kernel,
                    stride: kernel,
                    padding: 0,
                    ceil_mode: false,
                })
            }

            /// Sets the stride.
            pub fn stride(mut self, stride: usize) -> Self {
                self.0.stride = stride;
                self
            }

            /// Sets the padding on every side.
            pub fn padding(mut self, padding: usize) -> Self {
                self.0.padding = padding;
                self
            }

            /// Rounds the output size up (PyTorch's `ceil_mode`).
            pub fn ceil_mode(mut self, ceil_mode: bool) -> Self {
                self.0.ceil_mode = ceil_mode;
                self
            }
        }

        impl Layer for $t {
            fn add_to(self, b: &mut NetBuilder) -> BuildResult {
                b.pool(self.0, $max)
            }
        }
    };
}

pool_config!(MaxPool2d, true);
pool_config!(AvgPool2d, false);

/// Global average pooling (`nn.AdaptiveAvgPool2d(1)`): `[C, H, W]` → `[C, 1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GlobalAvgPool;

impl Layer for GlobalAvgPool {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        b.name_plain_layer();
        b.nodes.push(Node::GlobalAvgPool);
        b.shape = [b.shape[0], 1, 1];
        Ok(())
    }
}

/// Flattening to features (`nn.Flatten`): `[C, H, W]` → `[C·H·W, 1, 1]`, no data movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flatten;

impl Layer for Flatten {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        b.name_plain_layer();
        b.flatten_node();
        Ok(())
    }
}

/// Inverted dropout (`nn.Dropout`) with drop probability `p`, active in training mode only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout(f32);

impl Dropout {
    /// Drop probability `p`, in `[0, 1)`.
    pub fn new(p: f32) -> Self {
        Self(p)
    }
}

impl Layer for Dropout {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        if !(0.0..1.0).contains(&self.0) {
            return Err(BuildError::invalid_layer(format!(
                "dropout: p = {}; expected a probability in [0, 1)",
                self.0
            )));
        }
        b.name_plain_layer();
        b.nodes.push(Node::Dropout(self.0));
        Ok(())
    }
}

/// A fully connected layer (`nn.Linear`) `y = x Wᵀ + b` on the flattened features (a map larger
/// than 1×1 is flattened first, as a functional `x.flatten(1)`), PyTorch's initialisation.
///
/// Weight `[out, in]`, then bias `[out]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear(usize);

impl Linear {
    /// To `out_features` features.
    pub fn new(out_features: usize) -> Self {
        Self(out_features)
    }
}

impl Layer for Linear {
    fn add_to(self, b: &mut NetBuilder) -> BuildResult {
        let out = self.0;
        if out == 0 {
            return Err(BuildError::invalid_layer("linear: 0 output features"));
        }
        if b.shape[1] * b.shape[2] != 1 {
            b.flatten_node();
        }
        let name = b.name_parameter_layer()?;
        let i = b.shape[0];
        let bound = 1.0 / (i as f64).sqrt();
        let weight = b.uniform(out * i, bound);
        let bias = b.uniform(out, bound);
        b.nodes.push(Node::Linear {
            name,
            in_features: i,
            out_features: out,
            weight,
            bias,
        });
        b.shape = [out, 1, 1];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(e: BuildError) -> String {
        match e {
            BuildError::InvalidLayer { message } => message,
            other => panic!("expected InvalidLayer, got {other:?}"),
        }
    }

    #[test]
    fn layers_that_do_not_fit_are_typed_errors() {
        let mut b = NetBuilder::new([3, 8, 8]);
        let e = invalid(b.add(Conv2d::new(4, 3).groups(2)).unwrap_err());
        assert!(
            e.contains("3 → 4 channels do not split into 2 groups"),
            "{e}"
        );
        let e = invalid(b.add(Conv2d::new(4, 0)).unwrap_err());
        assert!(e.contains("kernel 0"), "{e}");
        let e = invalid(b.add(Dropout::new(1.0)).unwrap_err());
        assert!(e.contains("p = 1"), "{e}");
        let e = b.add(MaxPool2d::new(9)).unwrap_err();
        assert_eq!(
            e,
            BuildError::TooSmall {
                layer: "a 9×9 pooling window (stride 9)".into(),
                height: 8,
                width: 8
            }
        );
        assert_eq!(
            e.to_string(),
            "a 9×9 pooling window (stride 9) meets a 8×8 feature map"
        );
        // Nothing was added by the refused layers.
        assert_eq!((b.shape(), b.num_params()), ([3, 8, 8], 0));
    }

    #[test]
    fn branches_must_agree() {
        let mut b = NetBuilder::new([2, 8, 8]);
        let e = invalid(
            b.residual(
                |b| b.add(Conv2d::new(2, 3)).map(|_| ()),
                None,
                Activation::Relu,
            )
            .unwrap_err(),
        );
        assert!(e.contains("[2, 6, 6]") && e.contains("[2, 8, 8]"), "{e}");
        let e = invalid(
            b.concat(&[&|_: &mut NetBuilder| Ok(()), &|b: &mut NetBuilder| {
                b.add(MaxPool2d::new(2)).map(|_| ())
            }])
            .unwrap_err(),
        );
        assert!(e.contains("branch 1 ends in a 4×4 map"), "{e}");
        let e = invalid(
            b.leaf("sq", |b| {
                b.add(Conv2d::new(2, 1))?.add(Conv2d::new(2, 1))?;
                Ok(())
            })
            .unwrap_err(),
        );
        assert!(
            e.contains("module `sq` already holds a parameter layer"),
            "{e}"
        );
    }

    #[test]
    fn names_follow_pytorch_modules() {
        let mut b = NetBuilder::new([2, 4, 4]);
        b.add(Conv2d::new(2, 3).padding(1).bias(false))
            .unwrap()
            .add(BatchNorm2d)
            .unwrap()
            .add(Relu)
            .unwrap();
        b.block(|b| {
            b.residual(
                |b| b.child("body", |b| b.add(Conv2d::new(2, 1)).map(|_| ())),
                Some(&|b: &mut NetBuilder| b.child("short", |b| b.add(BatchNorm2d).map(|_| ()))),
                Activation::Relu,
            )
        })
        .unwrap();
        b.block(|b| {
            b.leaf("sq", |b| b.add(Conv2d::new(1, 1))?.add(Relu).map(|_| ()))?;
            b.concat(&[
                &|b: &mut NetBuilder| b.leaf("e1", |b| b.add(Conv2d::new(1, 1)).map(|_| ())),
                &|b: &mut NetBuilder| {
                    b.leaf("e3", |b| b.add(Conv2d::new(2, 3).padding(1)).map(|_| ()))
                },
            ])
        })
        .unwrap();
        b.add(Linear::new(3)).unwrap();
        assert_eq!(
            b.finish().parameter_names(),
            [
                "0.weight",
                "1.weight",
                "1.bias",
                "3.body.0.weight",
                "3.body.0.bias",
                "3.short.0.weight",
                "3.short.0.bias",
                "4.sq.weight",
                "4.sq.bias",
                "4.e1.weight",
                "4.e1.bias",
                "4.e3.weight",
                "4.e3.bias",
                "5.weight",
                "5.bias",
            ]
        );
    }
}
