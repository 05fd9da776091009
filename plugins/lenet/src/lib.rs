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
//! The network is a recipe over majmin-nn's public [`NetBuilder`], written as the built-in
//! architectures are; the library exports it with [`majmin_core::export_plugin!`], and
//! [`LENET`] is also usable directly as an [`Architecture`](majmin_core::Architecture). Its
//! tensors are named as in `nn.Sequential(Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d,
//! Flatten, Linear, ReLU, Linear, ReLU, Linear)`: `0.weight`, `0.bias`, `3.*`, `7.*`, `9.*`,
//! `11.*`.
//!
//! Used directly (the counts are asserted by this crate's unit tests and, through the loader,
//! by `tests/tests/plugins.rs`):
//!
//! ```text
//! use majmin_core::{ArchConfig, Architecture};
//! use lenet_plugin::LENET;
//!
//! assert_eq!(LENET.param_count(&ArchConfig::new([1, 32, 32], 10)).unwrap(), 61_706);
//! assert_eq!(LENET.param_count(&ArchConfig::new([1, 8, 8], 10)).unwrap(), 21_386);
//! ```
#![deny(missing_docs)]

use majmin_core::ArchConfig;
use majmin_nn::{
    BuildResult, Conv2d, Flatten, Linear, MaxPool2d, NetArchitecture, NetBuilder, Relu,
};

majmin_core::export_plugin!(name: "lenet", version: env!("CARGO_PKG_VERSION"), architectures: [LENET]);

/// The LeNet-5 architecture (see the [crate docs](crate)).
pub const LENET: NetArchitecture = NetArchitecture::new(
    "lenet",
    "LeNet-5 (plugin): conv5×5 6, max-pool, conv5×5 16, max-pool, Linear 120, 84, classes, ReLU; pads small inputs (8×8 digits, 28×28)",
    lenet,
)
.default_input([1, 32, 32]);

/// The recipe: padding 2 on a convolution whose input side is below its threshold.
fn lenet(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
    let pad = |b: &NetBuilder, below: usize| {
        let [_, h, w] = b.shape();
        if h.min(w) < below {
            2
        } else {
            0
        }
    };
    let pad1 = pad(b, 32);
    b.add(Conv2d::new(c.scaled(6), 5).padding(pad1))?
        .add(Relu)?
        .add(MaxPool2d::new(2))?;
    let pad2 = pad(b, 10);
    b.add(Conv2d::new(c.scaled(16), 5).padding(pad2))?
        .add(Relu)?
        .add(MaxPool2d::new(2))?
        .add(Flatten)?
        .add(Linear::new(c.scaled(120)))?
        .add(Relu)?
        .add(Linear::new(c.scaled(84)))?
        .add(Relu)?
        .add(Linear::new(c.classes))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_core::Architecture;

    #[test]
    fn classic_sizes() {
        // 3×32×32: conv1 has 3·25·6 + 6 weights instead of 1·25·6 + 6.
        assert_eq!(
            LENET
                .param_count(&ArchConfig::new([3, 32, 32], 10))
                .unwrap(),
            61_706 + 300
        );
        assert_eq!(
            LENET
                .param_count(&ArchConfig::new([1, 28, 28], 10))
                .unwrap(),
            61_706
        );
        // The embedded 1×8×8 digits: both convolutions pad, 16×2×2 = 64 features.
        assert_eq!(
            LENET.param_count(&ArchConfig::new([1, 8, 8], 10)).unwrap(),
            21_386
        );
        let e = LENET
            .param_count(&ArchConfig::new([1, 1, 1], 10))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot take input 1×1×1"), "{e}");
    }

    #[test]
    fn tensors_are_named_as_the_pytorch_sequential() {
        let model = LENET.build(&ArchConfig::new([1, 28, 28], 10)).unwrap();
        let names: Vec<(String, Vec<usize>)> = model
            .state_dict()
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.shape))
            .collect();
        let expected: Vec<(String, Vec<usize>)> = [
            ("0.weight", vec![6, 1, 5, 5]),
            ("0.bias", vec![6]),
            ("3.weight", vec![16, 6, 5, 5]),
            ("3.bias", vec![16]),
            ("7.weight", vec![120, 400]),
            ("7.bias", vec![120]),
            ("9.weight", vec![84, 120]),
            ("9.bias", vec![84]),
            ("11.weight", vec![10, 84]),
            ("11.bias", vec![10]),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        assert_eq!(names, expected);
    }
}
