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
//! The paper's size is checked through the real loader in `tests/tests/plugins.rs`:
//!
//! ```text
//! use majmin_core::{ArchConfig, Architecture};
//! use densenet_plugin::DenseNetBc;
//!
//! let mut config = ArchConfig::default();
//! config.options.insert("depth".into(), "100".into());
//! // The paper's DenseNet-BC (L = 100, k = 12) has 0.8M parameters.
//! assert_eq!(DenseNetBc.param_count(&config).unwrap(), 769_162);
//! ```
#![deny(missing_docs)]

use dfdx::prelude::{Cpu, Tape};
use majmin_core::{ArchConfig, Architecture, Model, ModelError};
use majmin_models::ops::{self, Act, ParamStore, PoolSpec};
use majmin_plugin_kit::{build_checked, pool, BatchNorm, Conv, Linear, Network, OpsModel, Params};

majmin_core::export_plugin!(name: "densenet", version: env!("CARGO_PKG_VERSION"), architectures: [DenseNetBc]);

/// The DenseNet-BC architecture (see the [crate docs](crate)).
#[derive(Debug, Clone, Copy, Default)]
pub struct DenseNetBc;

/// Default depth: three blocks of three bottleneck layers.
pub const DEFAULT_DEPTH: usize = 22;
/// Default growth rate k.
pub const DEFAULT_GROWTH: usize = 12;

/// BN, ReLU, conv1×1 → 4k, BN, ReLU, conv3×3 → k.
#[derive(Debug)]
struct Bottleneck {
    bn1: BatchNorm,
    conv1: Conv,
    bn2: BatchNorm,
    conv2: Conv,
}

/// BN, ReLU, conv1×1 (compression), average-pool 2×2.
#[derive(Debug)]
struct Transition {
    bn: BatchNorm,
    conv: Conv,
    pool: PoolSpec,
}

#[derive(Debug)]
struct DenseNetNet {
    stem: Conv,
    blocks: Vec<Vec<Bottleneck>>,
    transitions: Vec<Transition>,
    bn: BatchNorm,
    fc: Linear,
}

fn option(config: &ArchConfig, key: &str, default: usize) -> Result<usize, ModelError> {
    match config.options.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ModelError::InvalidConfig {
            arch: "densenet-bc".into(),
            message: format!("option `{key} = {v}` is not a positive integer"),
        }),
    }
}

impl DenseNetNet {
    fn new(
        input: [usize; 3],
        config: &ArchConfig,
        layers: usize,
        growth: usize,
        params: &mut Params,
    ) -> Result<Self, String> {
        let mut shape = input;
        let stem = Conv::new(params, &mut shape, 2 * growth, 3, 1, 1, false)?;
        let (mut blocks, mut transitions) = (Vec::new(), Vec::new());
        for block in 0..3 {
            let mut layers_of_block = Vec::with_capacity(layers);
            for _ in 0..layers {
                let input_channels = shape[0];
                let bn1 = BatchNorm::new(params, shape[0]);
                let conv1 = Conv::new(params, &mut shape, 4 * growth, 1, 1, 0, false)?;
                let bn2 = BatchNorm::new(params, shape[0]);
                let conv2 = Conv::new(params, &mut shape, growth, 3, 1, 1, false)?;
                shape[0] = input_channels + growth;
                layers_of_block.push(Bottleneck {
                    bn1,
                    conv1,
                    bn2,
                    conv2,
                });
            }
            blocks.push(layers_of_block);
            if block < 2 {
                let bn = BatchNorm::new(params, shape[0]);
                let compressed = shape[0] / 2;
                let conv = Conv::new(params, &mut shape, compressed, 1, 1, 0, false)?;
                let pool = pool(&mut shape, 2, 2)?;
                transitions.push(Transition { bn, conv, pool });
            }
        }
        let bn = BatchNorm::new(params, shape[0]);
        let fc = Linear::new(params, shape[0], config.classes);
        Ok(Self {
            stem,
            blocks,
            transitions,
            bn,
            fc,
        })
    }
}

impl Network for DenseNetNet {
    fn forward<T: Tape<f32, Cpu>>(
        &mut self,
        x: Act<T>,
        store: &ParamStore,
        training: bool,
    ) -> Act<T> {
        let mut x = self.stem.forward(x, store);
        for (i, block) in self.blocks.iter_mut().enumerate() {
            for layer in block.iter_mut() {
                let y = ops::relu(layer.bn1.forward(x.branch(), store, training));
                let y = layer.conv1.forward(y, store);
                let y = ops::relu(layer.bn2.forward(y, store, training));
                let y = layer.conv2.forward(y, store);
                x = ops::concat_channels(x, y);
            }
            if let Some(t) = self.transitions.get_mut(i) {
                let y = ops::relu(t.bn.forward(x, store, training));
                x = ops::avg_pool2d(t.conv.forward(y, store), &t.pool);
            }
        }
        let x = ops::global_avg_pool(ops::relu(self.bn.forward(x, store, training)));
        self.fc.forward(ops::flatten(x), store)
    }
}

impl DenseNetBc {
    fn structure(config: &ArchConfig) -> Result<(DenseNetNet, Params), ModelError> {
        let depth = option(config, "depth", DEFAULT_DEPTH)?;
        let growth = option(config, "growth", DEFAULT_GROWTH)?;
        if depth < 10 || (depth - 4) % 6 != 0 {
            return Err(ModelError::InvalidConfig {
                arch: "densenet-bc".into(),
                message: format!("option `depth = {depth}`: DenseNet-BC needs depth = 6n + 4 with n ≥ 1 (10, 16, 22, 40, 100, …)"),
            });
        }
        if growth == 0 {
            return Err(ModelError::InvalidConfig {
                arch: "densenet-bc".into(),
                message: "option `growth = 0`: expected a positive growth rate".into(),
            });
        }
        let growth = config.scaled(growth);
        let layers = (depth - 4) / 6;
        build_checked("densenet-bc", config, |input, params| {
            DenseNetNet::new(input, config, layers, growth, params)
        })
    }
}

impl Architecture for DenseNetBc {
    fn name(&self) -> &str {
        "densenet-bc"
    }

    fn description(&self) -> &str {
        "DenseNet-BC (plugin): 3×3 stem to 2k, three dense blocks of (depth−4)/6 bottlenecks (BN-ReLU-conv1×1 4k, BN-ReLU-conv3×3 k, concatenated), transitions compressing by 0.5 with average-pool 2×2, BN-ReLU, global average pool, Linear; options `depth` (22) and `growth` k (12)"
    }

    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
        let (net, params) = Self::structure(config)?;
        Ok(Box::new(OpsModel::new(
            "densenet-bc",
            config.clone(),
            net,
            &params,
        )))
    }

    fn param_count(&self, config: &ArchConfig) -> Result<usize, ModelError> {
        Ok(Self::structure(config)?.1.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_must_be_6n_plus_4() {
        let mut config = ArchConfig::default();
        config.options.insert("depth".into(), "23".into());
        let e = DenseNetBc.param_count(&config).unwrap_err().to_string();
        assert!(e.contains("6n + 4"), "{e}");
    }

    #[test]
    fn digits_fit() {
        let n = DenseNetBc
            .param_count(&ArchConfig::new([1, 8, 8], 10))
            .unwrap();
        assert!(n > 10_000, "{n}");
    }
}
