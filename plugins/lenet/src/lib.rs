//! LeNet-5 as a majmin architecture plugin (`liblenet_plugin.so`, architecture `lenet`).
//!
//! LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition",
//! 1998, with today's usual ReLU and max-pooling: conv5×5 → 6, ReLU, max-pool 2×2, conv5×5 → 16,
//! ReLU, max-pool 2×2, Linear 120, ReLU, Linear 84, ReLU, Linear(classes). Channel and hidden
//! sizes follow the width multiplier.
//!
//! Padding adapts to small inputs: the first convolution pads by 2 when the input side is
//! below 32 (as LeNet on 28×28 MNIST), the second when its input side is below 10. So 32×32
//! and 28×28 inputs give the classic 16×5×5 = 400 features, and the embedded 1×8×8 digits give
//! 16×2×2 = 64. On 1×32×32 with 10 classes it has the classic 61,706 parameters.
//!
//! The library exports it with [`majmin_core::export_plugin!`]; [`LeNet`] is also usable
//! directly as an [`Architecture`].
//!
//! Used directly (the counts are asserted by this crate's unit tests and, through the loader,
//! by `tests/tests/plugins.rs`):
//!
//! ```text
//! use majmin_core::{ArchConfig, Architecture};
//! use lenet_plugin::LeNet;
//!
//! assert_eq!(LeNet.param_count(&ArchConfig::new([1, 32, 32], 10)).unwrap(), 61_706);
//! assert_eq!(LeNet.param_count(&ArchConfig::new([1, 8, 8], 10)).unwrap(), 21_386);
//! ```
#![deny(missing_docs)]

use dfdx::prelude::{Cpu, Tape};
use majmin_core::{ArchConfig, Architecture, Model, ModelError};
use majmin_models::ops::{self, Act, ParamStore, PoolSpec};
use majmin_plugin_kit::{build_checked, pool, Conv, Linear, Network, OpsModel, Params};

majmin_core::export_plugin!(name: "lenet", version: env!("CARGO_PKG_VERSION"), architectures: [LeNet]);

/// The LeNet-5 architecture (see the [crate docs](crate)).
#[derive(Debug, Clone, Copy, Default)]
pub struct LeNet;

/// The layers of one LeNet-5.
#[derive(Debug)]
struct LeNetNet {
    conv1: Conv,
    pool1: PoolSpec,
    conv2: Conv,
    pool2: PoolSpec,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl LeNetNet {
    fn new(input: [usize; 3], config: &ArchConfig, params: &mut Params) -> Result<Self, String> {
        let mut shape = input;
        let pad1 = if shape[1].min(shape[2]) < 32 { 2 } else { 0 };
        let conv1 = Conv::new(params, &mut shape, config.scaled(6), 5, 1, pad1, true)?;
        let pool1 = pool(&mut shape, 2, 2)?;
        let pad2 = if shape[1].min(shape[2]) < 10 { 2 } else { 0 };
        let conv2 = Conv::new(params, &mut shape, config.scaled(16), 5, 1, pad2, true)?;
        let pool2 = pool(&mut shape, 2, 2)?;
        let features = shape.iter().product();
        let (h1, h2) = (config.scaled(120), config.scaled(84));
        let fc1 = Linear::new(params, features, h1);
        let fc2 = Linear::new(params, h1, h2);
        let fc3 = Linear::new(params, h2, config.classes);
        Ok(Self {
            conv1,
            pool1,
            conv2,
            pool2,
            fc1,
            fc2,
            fc3,
        })
    }
}

impl Network for LeNetNet {
    fn forward<T: Tape<f32, Cpu>>(
        &mut self,
        x: Act<T>,
        store: &ParamStore,
        _training: bool,
    ) -> Act<T> {
        let x = ops::max_pool2d(ops::relu(self.conv1.forward(x, store)), &self.pool1);
        let x = ops::max_pool2d(ops::relu(self.conv2.forward(x, store)), &self.pool2);
        let x = ops::relu(self.fc1.forward(ops::flatten(x), store));
        let x = ops::relu(self.fc2.forward(x, store));
        self.fc3.forward(x, store)
    }
}

impl LeNet {
    fn structure(config: &ArchConfig) -> Result<(LeNetNet, Params), ModelError> {
        build_checked("lenet", config, |input, params| {
            LeNetNet::new(input, config, params)
        })
    }
}

impl Architecture for LeNet {
    fn name(&self) -> &str {
        "lenet"
    }

    fn description(&self) -> &str {
        "LeNet-5 (plugin): conv5×5 6, max-pool, conv5×5 16, max-pool, Linear 120, 84, classes, ReLU; pads small inputs (8×8 digits, 28×28)"
    }

    fn default_config(&self) -> ArchConfig {
        ArchConfig::new([1, 32, 32], 10)
    }

    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
        let (net, params) = Self::structure(config)?;
        Ok(Box::new(OpsModel::new(
            "lenet",
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
    fn classic_sizes() {
        // 3×32×32: conv1 has 3·25·6 + 6 weights instead of 1·25·6 + 6.
        assert_eq!(
            LeNet
                .param_count(&ArchConfig::new([3, 32, 32], 10))
                .unwrap(),
            61_706 + 300
        );
        assert_eq!(
            LeNet
                .param_count(&ArchConfig::new([1, 28, 28], 10))
                .unwrap(),
            61_706
        );
        let e = LeNet
            .param_count(&ArchConfig::new([1, 1, 1], 10))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot take input 1×1×1"), "{e}");
    }
}
