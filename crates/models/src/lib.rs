//! majmin's architecture zoo, the architecture registry and the plugin loader.
//!
//! The primary type is [`Registry`]: architectures by name, built-in or from plugins, each an
//! `Arc<dyn majmin_core::Architecture>`. The built-in ones are recipes over majmin-nn's public
//! [`NetBuilder`](majmin_nn::NetBuilder) ([`builtin_architectures`]), so a plugin writes its
//! networks exactly as the zoo does; their models are majmin-nn's
//! [`NetModel`]. The layer library itself (kernels, tape operations, the
//! builder) lives in majmin-nn and is re-exported here as [`kernels`] and [`ops`].
//!
//! Built-in architectures: `mlp`, `smallcnn` and the poster's seven: `mobilenetv2`,
//! `squeezenet`, `vgg11`, `vgg19`, `resnet18`, `resnet50`, `resnet101`, with the structures of
//! the PyTorch peer and the same parameter counts (see the crate README).
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

pub mod checkpoint;
pub mod plugin_loader;
mod registry;
mod zoo;

pub use majmin_nn::{kernels, ops, BlockCache, NetArchitecture, NetModel};
pub use registry::{ArchSummary, Entry, Registry, Source};
pub use zoo::builtin_architectures;
