//! The architecture zoo: the poster's seven networks (the structures of the PyTorch peer
//! benchmark, with its parameter counts; see the crate README) and two small models for quick
//! runs, all written as recipes over majmin-nn's public [`NetBuilder`] — exactly as a plugin
//! writes its networks. Every recipe mirrors the PyTorch module of the same structure, so that
//! tensor names match PyTorch's `state_dict()` keys (see the crate README).

use majmin_core::ArchConfig;
use majmin_nn::{
    Activation, BatchNorm2d, BuildError, BuildResult, Conv2d, ConvInit, Dropout, Flatten,
    GlobalAvgPool, Linear, MaxPool2d, NetArchitecture, NetBuilder, Recipe, Relu, Relu6,
};

/// Every built-in architecture, in listing order.
pub fn builtin_architectures() -> Vec<NetArchitecture> {
    let a = NetArchitecture::new;
    vec![
        a("mlp", "multilayer perceptron: flatten, Linear+ReLU (256, 128 hidden × width; option `hidden = \"256,128\"`, or `\"none\"` for softmax regression), Linear(classes)", mlp as Recipe),
        a("smallcnn", "small CNN: two conv3×3+BN+ReLU+max-pool stages (16, 32 channels × width), global average pool, Linear(classes)", smallcnn),
        a("mobilenetv2", "MobileNetV2 cut after the 96-channel stage: stem conv3×3/2 + BN + ReLU6, inverted residuals (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1), global average pool, Linear(96, classes)", mobilenetv2).poster_size("543K"),
        a("squeezenet", "SqueezeNet 1.1: conv3×3/2 → 64, max-pools 3/2 (ceil mode), eight Fire modules, dropout (option `dropout`, 0.5), conv1×1 → classes, ReLU (option `logit_relu`, true), global average pool; torchvision's initialisation (option `init`: `torchvision` or `pytorch`)", squeezenet).poster_size("727K"),
        a("vgg11", "CIFAR VGG-11: 3×3 conv + BN + ReLU, max-pool 2×2, global average pool, Linear(512, classes)", vgg11).poster_size("9M"),
        a("vgg19", "CIFAR VGG-19: 3×3 conv + BN + ReLU, max-pool 2×2, global average pool, Linear(512, classes)", vgg19).poster_size("20M"),
        a("resnet18", "CIFAR ResNet-18: 3×3 stem, BasicBlocks [2,2,2,2], global average pool, Linear(512, classes)", resnet18).poster_size("11M"),
        a("resnet50", "CIFAR ResNet-50: 3×3 stem, Bottlenecks [3,4,6,3], global average pool, Linear(2048, classes); 23.5M with 10 classes", resnet50).poster_size("25M"),
        a("resnet101", "CIFAR ResNet-101: 3×3 stem, Bottlenecks [3,4,23,3], global average pool, Linear(2048, classes)", resnet101).poster_size("42M"),
    ]
}

fn option_f32(c: &ArchConfig, key: &str, default: f32) -> Result<f32, BuildError> {
    match c.options.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            BuildError::invalid_config(format!("option `{key} = {v}` is not a number"))
        }),
    }
}

/// `nn.Sequential(nn.Flatten(), [nn.Linear, nn.ReLU()] per hidden size, nn.Linear)`.
fn mlp(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    let hidden: Vec<usize> = match c.options.get("hidden") {
        None => vec![256, 128],
        // no hidden layer: softmax regression, whose Hessian is known in closed form
        Some(v) if v.trim() == "none" => Vec::new(),
        Some(v) => v
            .split(',')
            .map(|s| {
                s.trim().parse::<usize>().map_err(|_| {
                    BuildError::invalid_config(format!(
                        "option `hidden = {v}`: expected comma-separated sizes such as 256,128"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    b.add(Flatten)?;
    for h in hidden {
        b.add(Linear::new(c.scaled(h)))?.add(Relu)?;
    }
    b.add(Linear::new(c.classes))?;
    Ok(())
}

/// `nn.Sequential([Conv2d(3×3, no bias), BatchNorm2d, ReLU, MaxPool2d(2)] × 2,
/// AdaptiveAvgPool2d(1), Flatten, Linear)`.
fn smallcnn(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    for ch in [16, 32] {
        b.add(Conv2d::new(c.scaled(ch), 3).padding(1).bias(false))?
            .add(BatchNorm2d)?
            .add(Relu)?
            .add(MaxPool2d::new(2))?;
    }
    b.add(GlobalAvgPool)?
        .add(Flatten)?
        .add(Linear::new(c.classes))?;
    Ok(())
}

/// `conv k×k (no bias) + BN + ReLU6`, as the peer's `conv_bn`.
fn conv_bn6(b: &mut NetBuilder, out: usize, k: usize, s: usize, groups: usize) -> BuildResult {
    b.add(
        Conv2d::new(out, k)
            .stride(s)
            .padding((k - 1) / 2)
            .groups(groups)
            .bias(false),
    )?
    .add(BatchNorm2d)?
    .add(Relu6)?;
    Ok(())
}

/// The peer's `nn.Sequential(conv_bn…, InvertedResidual…, AdaptiveAvgPool2d(1), Flatten, Linear)`;
/// an `InvertedResidual` keeps its layers in `body` (an `nn.Sequential`).
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
            let i = b.shape()[0];
            let stride = if j == 0 { s } else { 1 };
            let hidden = i * t;
            let body = |b: &mut NetBuilder| -> BuildResult {
                b.child("body", |b| {
                    if t != 1 {
                        conv_bn6(b, hidden, 1, 1, 1)?;
                    }
                    conv_bn6(b, hidden, 3, stride, hidden)?;
                    b.add(Conv2d::new(o, 1).bias(false))?.add(BatchNorm2d)?;
                    Ok(())
                })
            };
            b.block(|b| {
                if stride == 1 && i == o {
                    b.residual(body, None, Activation::Identity)
                } else {
                    body(b)
                }
            })?;
        }
    }
    b.add(GlobalAvgPool)?
        .add(Flatten)?
        .add(Linear::new(c.classes))?;
    Ok(())
}

/// SqueezeNet's Fire: `sq`, then the concatenation of `e1` and `e3`, each convolution followed
/// by a functional ReLU.
fn fire(
    b: &mut NetBuilder,
    init: ConvInit,
    squeeze: usize,
    expand1: usize,
    expand3: usize,
) -> BuildResult {
    b.block(|b| {
        b.leaf("sq", |b| {
            b.add(Conv2d::new(squeeze, 1).init(init))?.add(Relu)?;
            Ok(())
        })?;
        b.concat(&[
            &|b: &mut NetBuilder| {
                b.leaf("e1", |b| {
                    b.add(Conv2d::new(expand1, 1).init(init))?.add(Relu)?;
                    Ok(())
                })
            },
            &|b: &mut NetBuilder| {
                b.leaf("e3", |b| {
                    b.add(Conv2d::new(expand3, 3).padding(1).init(init))?
                        .add(Relu)?;
                    Ok(())
                })
            },
        ])
    })
}

/// The peer's SqueezeNet 1.1 `nn.Sequential`, initialised as torchvision does (option `init`),
/// with the ReLU on the class scores optional (option `logit_relu`).
fn squeezenet(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    let s = |ch| c.scaled(ch);
    let p = option_f32(c, "dropout", 0.5)?;
    if !(0.0..1.0).contains(&p) {
        return Err(BuildError::invalid_config(format!(
            "option `dropout = {p}`: expected a probability in [0, 1)"
        )));
    }
    let torchvision = match c.options.get("init").map(|v| v.trim()) {
        None | Some("torchvision") => true,
        Some("pytorch") => false,
        Some(v) => {
            return Err(BuildError::invalid_config(format!(
                "option `init = {v}`: expected `torchvision` (kaiming-uniform convolutions, the classifier N(0, 0.01²), zero biases) or `pytorch` (nn.Conv2d's default)"
            )))
        }
    };
    // SqueezeNet's ReLU on the class scores: a class whose score is pushed below zero on every
    // input gets no gradient again (under imbalance, the minority's classes)
    let logit_relu = match c.options.get("logit_relu").map(|v| v.trim()) {
        None | Some("true") => true,
        Some("false") => false,
        Some(v) => {
            return Err(BuildError::invalid_config(format!(
                "option `logit_relu = {v}`: expected `true` (SqueezeNet 1.1) or `false`"
            )))
        }
    };
    let (init, classifier) = if torchvision {
        (ConvInit::KaimingUniform, ConvInit::Normal(0.01))
    } else {
        (ConvInit::PyTorchDefault, ConvInit::PyTorchDefault)
    };
    let pool = || MaxPool2d::new(3).stride(2).ceil_mode(true);
    b.add(Conv2d::new(s(64), 3).stride(2).init(init))?
        .add(Relu)?
        .add(pool())?;
    fire(b, init, s(16), s(64), s(64))?;
    fire(b, init, s(16), s(64), s(64))?;
    b.add(pool())?;
    fire(b, init, s(32), s(128), s(128))?;
    fire(b, init, s(32), s(128), s(128))?;
    b.add(pool())?;
    fire(b, init, s(48), s(192), s(192))?;
    fire(b, init, s(48), s(192), s(192))?;
    fire(b, init, s(64), s(256), s(256))?;
    fire(b, init, s(64), s(256), s(256))?;
    b.add(Dropout::new(p))?
        .add(Conv2d::new(c.classes, 1).init(classifier))?;
    if logit_relu {
        b.add(Relu)?;
    }
    b.add(GlobalAvgPool)?.add(Flatten)?;
    Ok(())
}

const VGG11: &[usize] = &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];
const VGG19: &[usize] = &[
    64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0,
];

/// CIFAR VGG: `0` is a 2×2 max-pool; the peer's `nn.Sequential`.
fn vgg(b: &mut NetBuilder, c: &ArchConfig, plan: &[usize]) -> BuildResult {
    for &v in plan {
        if v == 0 {
            b.add(MaxPool2d::new(2))?;
        } else {
            b.add(Conv2d::new(c.scaled(v), 3).padding(1))?
                .add(BatchNorm2d)?
                .add(Relu)?;
        }
    }
    b.add(GlobalAvgPool)?
        .add(Flatten)?
        .add(Linear::new(c.classes))?;
    Ok(())
}

fn vgg11(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    vgg(b, c, VGG11)
}

fn vgg19(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    vgg(b, c, VGG19)
}

/// CIFAR ResNet (He et al. 2016): 3×3 stem, four stages of `blocks`, stride 1, 2, 2, 2; each
/// block keeps its layers in `body` and its projection, when it has one, in `short` (the
/// peer's `Basic` and `Bottleneck`).
fn resnet(b: &mut NetBuilder, c: &ArchConfig, blocks: [usize; 4], bottleneck: bool) -> BuildResult {
    b.add(Conv2d::new(c.scaled(64), 3).padding(1).bias(false))?
        .add(BatchNorm2d)?
        .add(Relu)?;
    for ((planes, n), s) in [64, 128, 256, 512]
        .into_iter()
        .zip(blocks)
        .zip([1, 2, 2, 2])
    {
        let p = c.scaled(planes);
        for j in 0..n {
            let stride = if j == 0 { s } else { 1 };
            let i = b.shape()[0];
            let o = if bottleneck { 4 * p } else { p };
            let conv = |out, k: usize, s| Conv2d::new(out, k).stride(s).padding(k / 2).bias(false);
            let body = |b: &mut NetBuilder| -> BuildResult {
                b.child("body", |b| {
                    if bottleneck {
                        b.add(conv(p, 1, 1))?.add(BatchNorm2d)?.add(Relu)?;
                        b.add(conv(p, 3, stride))?.add(BatchNorm2d)?.add(Relu)?;
                        b.add(conv(o, 1, 1))?.add(BatchNorm2d)?;
                    } else {
                        b.add(conv(p, 3, stride))?.add(BatchNorm2d)?.add(Relu)?;
                        b.add(conv(p, 3, 1))?.add(BatchNorm2d)?;
                    }
                    Ok(())
                })
            };
            let projection = |b: &mut NetBuilder| -> BuildResult {
                b.child("short", |b| {
                    b.add(conv(o, 1, stride))?.add(BatchNorm2d)?;
                    Ok(())
                })
            };
            let shortcut: Option<&dyn Fn(&mut NetBuilder) -> BuildResult> = if stride != 1 || i != o
            {
                Some(&projection)
            } else {
                None
            };
            b.block(|b| b.residual(body, shortcut, Activation::Relu))?;
        }
    }
    b.add(GlobalAvgPool)?
        .add(Flatten)?
        .add(Linear::new(c.classes))?;
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
    use majmin_core::{Architecture, ModelError};

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
