//! dfdx implementations of majmin's trainable models: convolution and pooling as dfdx tape
//! operations on stable Rust, the architecture zoo and the architecture registry.
//!
//! The primary types are [`Registry`] (architectures by name, built-in or from plugins, each an
//! `Arc<dyn majmin_core::Architecture>`) and [`DfdxModel`] (a network behind majmin-core's
//! [`Model`](majmin_core::Model) trait: flat `f32` parameters, mean cross-entropy and its gradient,
//! train/eval modes). dfdx 0.13 compiles its own convolution and pooling only with its broken
//! `nightly` feature, so [`ops`] adds them — and BatchNorm, Linear, dropout, concatenation — as
//! tape operations over fast kernels ([`kernels`]: im2col + the `gemm` crate, direct depthwise,
//! rayon over the batch; BatchNorm and residual sums with the following ReLU fused in), with dfdx
//! as the tape and the gradient map and the values in majmin's own buffers.
//!
//! Built-in architectures: `mlp`, `smallcnn` and the poster's seven (SPEC §4): `mobilenetv2`,
//! `squeezenet`, `vgg11`, `vgg19`, `resnet18`, `resnet50`, `resnet101`, with the structures of
//! `shared/peers/torch_bench.py` and the same parameter counts.
//!
//! ```
//! use majmin_core::{ArchConfig, Model};
//! use majmin_models::Registry;
//!
//! let registry = Registry::builtin();
//! let arch = registry.get("smallcnn").unwrap();
//! let config = ArchConfig::new([1, 8, 8], 3).with_width(0.5).with_seed(7);
//! let mut model = arch.build(&config).unwrap();
//! let inputs = vec![0.1f32; 2 * 64];
//! let mut grad = vec![0.0; model.num_params()];
//! let loss = model.loss_and_gradient(&inputs, &[0, 2], &mut grad).unwrap();
//! assert!(loss.is_finite() && grad.iter().any(|g| *g != 0.0));
//! ```
#![deny(missing_docs)]

pub mod kernels;
mod model;
mod net;
pub mod ops;
pub mod plugin_loader;
mod registry;
mod zoo;

pub use model::DfdxModel;
pub use registry::{ArchSummary, Entry, Registry, Source};
pub use zoo::{builtin_architectures, BuiltinArchitecture};
