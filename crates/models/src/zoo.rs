//! The architecture zoo: the poster's seven networks (SPEC §4, structures as in
//! `shared/peers/torch_bench.py`) and two small models for quick runs.

use majmin_core::{ArchConfig, Architecture, Model, ModelError};

use crate::model::DfdxModel;
use crate::net::{BuildResult, ConvInit, Net, NetBuilder};

type Recipe = fn(&mut NetBuilder, &ArchConfig) -> BuildResult;

/// A built-in architecture: a name and a recipe over [`ArchConfig`].
pub struct BuiltinArchitecture {
    name: &'static str,
    description: &'static str,
    poster_size: Option<&'static str>,
    recipe: Recipe,
}

impl std::fmt::Debug for BuiltinArchitecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinArchitecture")
            .field("name", &self.name)
            .finish()
    }
}

impl BuiltinArchitecture {
    /// Builds the layer structure only (no parameter values), mapping a too-small input to
    /// [`ModelError::InputTooSmall`] with the smallest square side that works.
    pub(crate) fn structure(&self, config: &ArchConfig) -> Result<Net, ModelError> {
        config.validate(self.name)?;
        let attempt = |input: [usize; 3]| -> Result<Net, String> {
            let mut b = NetBuilder::new(input);
            (self.recipe)(&mut b, config)?;
            Ok(b.finish())
        };
        attempt(config.input).map_err(|reason| {
            if let Some(msg) = reason.strip_prefix(INVALID) {
                return ModelError::InvalidConfig {
                    arch: self.name.into(),
                    message: msg.to_string(),
                };
            }
            let [c, h, w] = config.input;
            let min_side = (1..=4096)
                .find(|&s| attempt([c, s, s]).is_ok())
                .unwrap_or(4096);
            ModelError::InputTooSmall {
                arch: self.name.into(),
                channels: c,
                height: h,
                width: w,
                reason,
                min_side,
            }
        })
    }
}

/// Prefix of recipe errors that are configuration errors rather than a too-small input.
const INVALID: &str = "invalid: ";

impl Architecture for BuiltinArchitecture {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        self.description
    }
    fn poster_size(&self) -> Option<&str> {
        self.poster_size
    }
    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
        let net = self.structure(config)?;
        tracing::debug!(arch = self.name, params = net.n_params, "built model");
        Ok(Box::new(DfdxModel::new(self.name, config.clone(), net)))
    }
    fn param_count(&self, config: &ArchConfig) -> Result<usize, ModelError> {
        Ok(self.structure(config)?.n_params)
    }
}

/// Every built-in architecture, in listing order.
pub fn builtin_architectures() -> Vec<BuiltinArchitecture> {
    let a = |name, description, poster_size, recipe| BuiltinArchitecture {
        name,
        description,
        poster_size,
        recipe,
    };
    vec![
        a("mlp", "multilayer perceptron: flatten, Linear+ReLU (256, 128 hidden × width; option `hidden = \"256,128\"`, or `\"none\"` for softmax regression), Linear(classes)", None, mlp as Recipe),
        a("smallcnn", "small CNN: two conv3×3+BN+ReLU+max-pool stages (16, 32 channels × width), global average pool, Linear(classes)", None, smallcnn),
        a("mobilenetv2", "MobileNetV2 cut after the 96-channel stage: stem conv3×3/2 + BN + ReLU6, inverted residuals (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1), global average pool, Linear(96, classes)", Some("543K"), mobilenetv2),
        a("squeezenet", "SqueezeNet 1.1: conv3×3/2 → 64, max-pools 3/2 (ceil mode), eight Fire modules, dropout (option `dropout`, 0.5), conv1×1 → classes, ReLU, global average pool; torchvision's initialisation (option `init`: `torchvision` or `pytorch`); option `logit_relu = false` drops the ReLU on the class scores", Some("727K"), squeezenet),
        a("vgg11", "CIFAR VGG-11: 3×3 conv + BN + ReLU, max-pool 2×2, global average pool, Linear(512, classes)", Some("9M"), vgg11),
        a("vgg19", "CIFAR VGG-19: 3×3 conv + BN + ReLU, max-pool 2×2, global average pool, Linear(512, classes)", Some("20M"), vgg19),
        a("resnet18", "CIFAR ResNet-18: 3×3 stem, BasicBlocks [2,2,2,2], global average pool, Linear(512, classes)", Some("11M"), resnet18),
        a("resnet50", "CIFAR ResNet-50: 3×3 stem, Bottlenecks [3,4,6,3], global average pool, Linear(2048, classes); 23.5M with 10 classes", Some("25M"), resnet50),
        a("resnet101", "CIFAR ResNet-101: 3×3 stem, Bottlenecks [3,4,23,3], global average pool, Linear(2048, classes)", Some("42M"), resnet101),
    ]
}

fn option_f32(c: &ArchConfig, key: &str, default: f32) -> Result<f32, String> {
    match c.options.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{INVALID}option `{key} = {v}` is not a number")),
    }
}

fn mlp(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    let hidden: Vec<usize> = match c.options.get("hidden") {
        None => vec![256, 128],
        // no hidden layer: softmax regression, whose Hessian is known in closed form
        Some(v) if v.trim() == "none" => Vec::new(),
        Some(v) => v
            .split(',')
            .map(|s| s.trim().parse::<usize>().map_err(|_| format!("{INVALID}option `hidden = {v}`: expected comma-separated sizes such as 256,128")))
            .collect::<Result<_, _>>()?,
    };
    b.flatten();
    for h in hidden {
        b.linear(c.scaled(h));
        b.relu();
    }
    b.linear(c.classes);
    Ok(())
}

fn smallcnn(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    for ch in [16, 32] {
        b.conv(c.scaled(ch), 3, 1, 1, 1, false)?;
        b.bn();
        b.relu();
        b.max_pool(2, 2, false)?;
    }
    b.global_avg_pool();
    b.linear(c.classes);
    Ok(())
}

/// `conv k×k (no bias) + BN + ReLU6`, as torch_bench's `conv_bn`.
fn conv_bn6(b: &mut NetBuilder, out: usize, k: usize, s: usize, groups: usize) -> BuildResult {
    b.conv(out, k, s, (k - 1) / 2, groups, false)?;
    b.bn();
    b.relu6();
    Ok(())
}

fn mobilenetv2(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    conv_bn6(b, c.scaled(32), 3, 2, 1)?;
    for (t, ch, n, s) in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
    ] {
        let o = c.scaled(ch);
        for j in 0..n {
            let i = b.shape[0];
            let stride = if j == 0 { s } else { 1 };
            let hidden = i * t;
            let body = |b: &mut NetBuilder| -> BuildResult {
                if t != 1 {
                    conv_bn6(b, hidden, 1, 1, 1)?;
                }
                conv_bn6(b, hidden, 3, stride, hidden)?;
                b.conv(o, 1, 1, 0, 1, false)?;
                b.bn();
                Ok(())
            };
            if stride == 1 && i == o {
                b.residual(body, None, false)?;
            } else {
                body(b)?;
            }
        }
    }
    b.global_avg_pool();
    b.linear(c.classes);
    Ok(())
}

fn squeezenet(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    let s = |ch| c.scaled(ch);
    let p = option_f32(c, "dropout", 0.5)?;
    if !(0.0..1.0).contains(&p) {
        return Err(format!(
            "{INVALID}option `dropout = {p}`: expected a probability in [0, 1)"
        ));
    }
    let torchvision = match c.options.get("init").map(|v| v.trim()) {
        None | Some("torchvision") => true,
        Some("pytorch") => false,
        Some(v) => {
            return Err(format!(
                "{INVALID}option `init = {v}`: expected `torchvision` (kaiming-uniform convolutions, the classifier N(0, 0.01²), zero biases) or `pytorch` (nn.Conv2d's default)"
            ))
        }
    };
    if torchvision {
        b.conv_init = ConvInit::KaimingUniform;
    }
    b.conv(s(64), 3, 2, 0, 1, true)?;
    b.relu();
    b.max_pool(3, 2, true)?;
    b.fire(s(16), s(64), s(64))?;
    b.fire(s(16), s(64), s(64))?;
    b.max_pool(3, 2, true)?;
    b.fire(s(32), s(128), s(128))?;
    b.fire(s(32), s(128), s(128))?;
    b.max_pool(3, 2, true)?;
    b.fire(s(48), s(192), s(192))?;
    b.fire(s(48), s(192), s(192))?;
    b.fire(s(64), s(256), s(256))?;
    b.fire(s(64), s(256), s(256))?;
    b.dropout(p);
    if torchvision {
        b.conv_init = ConvInit::Normal(0.01);
    }
    b.conv(c.classes, 1, 1, 0, 1, true)?;
    // SqueezeNet's ReLU on the class scores: a class whose score is pushed below zero on every
    // input gets no gradient again (under imbalance, the minority's classes)
    let logit_relu = match c.options.get("logit_relu").map(|v| v.trim()) {
        None | Some("true") => true,
        Some("false") => false,
        Some(v) => {
            return Err(format!(
                "{INVALID}option `logit_relu = {v}`: expected `true` (SqueezeNet 1.1) or `false`"
            ))
        }
    };
    if logit_relu {
        b.relu();
    }
    b.global_avg_pool();
    b.flatten();
    Ok(())
}

const VGG11: &[usize] = &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];
const VGG19: &[usize] = &[
    64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0,
];

/// CIFAR VGG: `0` is a 2×2 max-pool.
fn vgg(b: &mut NetBuilder, c: &ArchConfig, plan: &[usize]) -> BuildResult {
    for &v in plan {
        if v == 0 {
            b.max_pool(2, 2, false)?;
        } else {
            b.conv(c.scaled(v), 3, 1, 1, 1, true)?;
            b.bn();
            b.relu();
        }
    }
    b.global_avg_pool();
    b.linear(c.classes);
    Ok(())
}

fn vgg11(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    vgg(b, c, VGG11)
}

fn vgg19(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    vgg(b, c, VGG19)
}

/// CIFAR ResNet (He et al. 2016): 3×3 stem, four stages of `blocks`, stride 1, 2, 2, 2.
fn resnet(b: &mut NetBuilder, c: &ArchConfig, blocks: [usize; 4], bottleneck: bool) -> BuildResult {
    b.conv(c.scaled(64), 3, 1, 1, 1, false)?;
    b.bn();
    b.relu();
    for ((planes, n), s) in [64, 128, 256, 512]
        .into_iter()
        .zip(blocks)
        .zip([1, 2, 2, 2])
    {
        let p = c.scaled(planes);
        for j in 0..n {
            let stride = if j == 0 { s } else { 1 };
            let i = b.shape[0];
            let o = if bottleneck { 4 * p } else { p };
            let body = |b: &mut NetBuilder| -> BuildResult {
                if bottleneck {
                    b.conv(p, 1, 1, 0, 1, false)?;
                    b.bn();
                    b.relu();
                    b.conv(p, 3, stride, 1, 1, false)?;
                    b.bn();
                    b.relu();
                    b.conv(o, 1, 1, 0, 1, false)?;
                    b.bn();
                } else {
                    b.conv(p, 3, stride, 1, 1, false)?;
                    b.bn();
                    b.relu();
                    b.conv(p, 3, 1, 1, 1, false)?;
                    b.bn();
                }
                Ok(())
            };
            let projection = |b: &mut NetBuilder| -> BuildResult {
                b.conv(o, 1, stride, 0, 1, false)?;
                b.bn();
                Ok(())
            };
            let shortcut: Option<&dyn Fn(&mut NetBuilder) -> BuildResult> = if stride != 1 || i != o
            {
                Some(&projection)
            } else {
                None
            };
            b.residual(body, shortcut, true)?;
        }
    }
    b.global_avg_pool();
    b.linear(c.classes);
    Ok(())
}

fn resnet18(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    resnet(b, c, [2, 2, 2, 2], false)
}

fn resnet50(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    resnet(b, c, [3, 4, 6, 3], true)
}

fn resnet101(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    resnet(b, c, [3, 4, 23, 3], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts printed by `torch_bench.py --count-only` (PyTorch 2.15, 10 classes, 3×32×32).
    #[test]
    fn parameter_counts_match_pytorch() {
        let expected = [
            ("mobilenetv2", 543_498),
            ("squeezenet", 727_626),
            ("vgg11", 9_231_114),
            ("vgg19", 20_040_522),
            ("resnet18", 11_173_962),
            ("resnet50", 23_520_842),
            ("resnet101", 42_512_970),
        ];
        let archs = builtin_architectures();
        for (name, count) in expected {
            let a = archs.iter().find(|a| a.name() == name).unwrap();
            assert_eq!(
                a.param_count(&ArchConfig::default()).unwrap(),
                count,
                "{name}"
            );
        }
    }

    #[test]
    fn too_small_inputs_suggest_a_resize() {
        let archs = builtin_architectures();
        let vgg = archs.iter().find(|a| a.name() == "vgg11").unwrap();
        let e = vgg
            .param_count(&ArchConfig::new([1, 8, 8], 10))
            .unwrap_err();
        match &e {
            ModelError::InputTooSmall { min_side, .. } => assert_eq!(*min_side, 32),
            other => panic!("expected InputTooSmall, got {other}"),
        }
        assert!(e.to_string().contains("resize"), "{e}");
        let sq = archs.iter().find(|a| a.name() == "squeezenet").unwrap();
        assert!(matches!(
            sq.param_count(&ArchConfig::new([1, 8, 8], 10)),
            Err(ModelError::InputTooSmall { .. })
        ));
        // ResNets keep a 1×1 map through every stride: any input works.
        let r = archs.iter().find(|a| a.name() == "resnet18").unwrap();
        assert!(r
            .param_count(&ArchConfig::new([1, 8, 8], 10).with_width(0.125))
            .is_ok());
    }
}
