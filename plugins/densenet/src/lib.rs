//! DenseNet-BC as a majmin architecture plugin (`libdensenet_plugin.so`, architecture
//! `densenet-bc`): a network majmin does not build in.
//!
//! Huang, Liu, van der Maaten & Weinberger, "Densely connected convolutional networks", CVPR
//! 2017, in its CIFAR form: a 3×3 stem convolution to 2k channels; three dense blocks of
//! n = (depth − 4) / 6 bottleneck layers (BN, ReLU, conv1×1 → 4k, BN, ReLU, conv3×3 → k, the
//! k new channels concatenated to the block's input); between blocks a transition (BN, ReLU,
//! conv1×1 compressing the channels by θ = 0.5, average-pool 2×2); then BN, ReLU, global
//! average pool and Linear(classes). Convolutions have no bias.
//!
//! Options: `depth` (default 22, i.e. n = 3; the paper's CIFAR networks use 100, 250, 190;
//! must be 6n + 4) and `growth` (k, default 12), which the width multiplier scales.
//!
//! The network is a recipe over majmin-nn's public [`NetBuilder`]. Its tensors are named as in
//! the PyTorch module `nn.Sequential(stem Conv2d, DenseLayer…, Transition…, BatchNorm2d, ReLU,
//! AdaptiveAvgPool2d(1), Flatten, Linear)`, where a `DenseLayer` holds `body =
//! nn.Sequential(BatchNorm2d, ReLU, Conv2d 1×1, BatchNorm2d, ReLU, Conv2d 3×3)` and returns
//! `torch.cat([x, body(x)], 1)`, and a `Transition` is `nn.Sequential(BatchNorm2d, ReLU,
//! Conv2d 1×1, AvgPool2d(2))`: e.g. `0.weight`, `1.body.0.weight`, `1.body.2.weight`.
//!
//! The paper's size, checked through the real loader in `tests/tests/plugins.rs`:
//!
//! ```text
//! use majmin_core::{ArchConfig, Architecture};
//! use densenet_plugin::DENSENET_BC;
//!
//! let mut config = ArchConfig::default();
//! config.options.insert("depth".into(), "100".into());
//! // The paper's DenseNet-BC (L = 100, k = 12) has 0.8M parameters.
//! assert_eq!(DENSENET_BC.param_count(&config).unwrap(), 769_162);
//! ```
#![deny(missing_docs)]

use majmin_core::ArchConfig;
use majmin_nn::{
    AvgPool2d, BatchNorm2d, BuildError, BuildResult, Conv2d, Flatten, GlobalAvgPool, Linear,
    NetArchitecture, NetBuilder, Relu,
};

majmin_core::export_plugin!(name: "densenet", version: env!("CARGO_PKG_VERSION"), architectures: [DENSENET_BC]);

/// The DenseNet-BC architecture (see the [crate docs](crate)).
pub const DENSENET_BC: NetArchitecture = NetArchitecture::new(
    "densenet-bc",
    "DenseNet-BC (plugin): 3×3 stem to 2k, three dense blocks of (depth−4)/6 bottlenecks (BN-ReLU-conv1×1 4k, BN-ReLU-conv3×3 k, concatenated), transitions compressing by 0.5 with average-pool 2×2, BN-ReLU, global average pool, Linear; options `depth` (22) and `growth` k (12)",
    densenet_bc,
);

/// Default depth: three blocks of three bottleneck layers.
pub const DEFAULT_DEPTH: usize = 22;
/// Default growth rate k.
pub const DEFAULT_GROWTH: usize = 12;

fn option(config: &ArchConfig, key: &str, default: usize) -> Result<usize, BuildError> {
    match config.options.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            BuildError::invalid_config(format!("option `{key} = {v}` is not a positive integer"))
        }),
    }
}

fn densenet_bc(b: &mut NetBuilder, config: &ArchConfig) -> BuildResult {
    let depth = option(config, "depth", DEFAULT_DEPTH)?;
    let growth = option(config, "growth", DEFAULT_GROWTH)?;
    if depth < 10 || (depth - 4) % 6 != 0 {
        return Err(BuildError::invalid_config(format!(
            "option `depth = {depth}`: DenseNet-BC needs depth = 6n + 4 with n ≥ 1 (10, 16, 22, 40, 100, …)"
        )));
    }
    if growth == 0 {
        return Err(BuildError::invalid_config(
            "option `growth = 0`: expected a positive growth rate",
        ));
    }
    let k = config.scaled(growth);
    let layers = (depth - 4) / 6;
    b.add(Conv2d::new(2 * k, 3).padding(1).bias(false))?;
    for block in 0..3 {
        for _ in 0..layers {
            // A dense layer: BN, ReLU, conv1×1 → 4k, BN, ReLU, conv3×3 → k, concatenated to x.
            b.block(|b| {
                b.concat(&[&|_: &mut NetBuilder| Ok(()), &|b: &mut NetBuilder| {
                    b.child("body", |b| {
                        b.add(BatchNorm2d)?
                            .add(Relu)?
                            .add(Conv2d::new(4 * k, 1).bias(false))?
                            .add(BatchNorm2d)?
                            .add(Relu)?
                            .add(Conv2d::new(k, 3).padding(1).bias(false))?;
                        Ok(())
                    })
                }])
            })?;
        }
        if block < 2 {
            // A transition: BN, ReLU, conv1×1 halving the channels, average-pool 2×2.
            let compressed = b.shape()[0] / 2;
            b.block(|b| {
                b.add(BatchNorm2d)?
                    .add(Relu)?
                    .add(Conv2d::new(compressed, 1).bias(false))?
                    .add(AvgPool2d::new(2))?;
                Ok(())
            })?;
        }
    }
    b.add(BatchNorm2d)?
        .add(Relu)?
        .add(GlobalAvgPool)?
        .add(Flatten)?
        .add(Linear::new(config.classes))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_core::Architecture;

    #[test]
    fn depth_must_be_6n_plus_4() {
        let mut config = ArchConfig::default();
        config.options.insert("depth".into(), "23".into());
        let e = DENSENET_BC.param_count(&config).unwrap_err().to_string();
        assert!(e.contains("6n + 4"), "{e}");
    }

    #[test]
    fn digits_fit() {
        let n = DENSENET_BC
            .param_count(&ArchConfig::new([1, 8, 8], 10))
            .unwrap();
        assert!(n > 10_000, "{n}");
    }
}
