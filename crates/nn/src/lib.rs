//! majmin's layer library: CPU kernels, convolution and pooling as dfdx tape operations on
//! stable Rust, a public network builder, and one [`Model`](majmin_core::Model) implementation
//! for every network built with it — the zoo's (in `majmin-models`) and the plugins' alike.
//!
//! The primary type is [`NetBuilder`]: layers are added as config-style values
//! ([`Conv2d::new(out, 3).stride(2).padding(1)`](Conv2d), [`BatchNorm2d`], [`Relu`],
//! [`MaxPool2d`], [`Linear`], …) while the builder tracks the activation shape, hands out ranges
//! of one flat parameter vector, folds a ReLU into the convolution or BatchNorm before it, and
//! names every tensor as PyTorch names it in the module of the same structure. A finished
//! [`Net`] becomes a [`NetModel`]; a named recipe is a [`NetArchitecture`], and [`build_net`]
//! maps a too-small input to the smallest side that works.
//!
//! Why a crate of its own: a plugin writes its network exactly as the built-ins are written,
//! and links this crate and majmin-core only (no registry, loader, hashing or manifests).
//! dfdx 0.13 compiles its own convolution and pooling only with its broken `nightly` feature, so
//! [`ops`] adds them — and BatchNorm, Linear, dropout, concatenation — as tape operations over
//! [`kernels`] (Winograd F(4×4, 3×3) and F(2×2, 3×3) for 3×3 stride-1 layers, im2col + the `gemm` crate for the
//! others, direct depthwise, rayon over the batch), with dfdx as
//! the tape and the gradient map ([`tape`]) and the values in majmin's own buffers.
//!
//! ```
//! use majmin_core::{ArchConfig, Model};
//! use majmin_nn::{BatchNorm2d, Conv2d, GlobalAvgPool, Linear, NetBuilder, Relu};
//!
//! let mut b = NetBuilder::new([1, 8, 8]);
//! b.add(Conv2d::new(4, 3).stride(2).padding(1).bias(false))?
//!     .add(BatchNorm2d)?
//!     .add(Relu)?
//!     .add(GlobalAvgPool)?
//!     .add(Linear::new(3))?;
//! let mut model = b.finish().into_model("tiny", ArchConfig::new([1, 8, 8], 3));
//! let mut grad = vec![0.0; model.num_params()];
//! let loss = model.loss_and_gradient(&[0.1; 2 * 64], &[0, 2], &mut grad)?;
//! assert!(loss.is_finite() && grad.iter().any(|g| *g != 0.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod alloc;
mod builder;
pub mod kernels;
mod model;
mod net;
pub mod ops;
mod recipe;
pub mod tape;
mod threads;

pub use alloc::BlockCache;
pub use builder::{
    AvgPool2d, BatchNorm2d, BuildError, BuildResult, Conv2d, ConvInit, Dropout, Flatten,
    GlobalAvgPool, Layer, Linear, MaxPool2d, NetBuilder, Relu, Relu6,
};
pub use model::NetModel;
pub use net::Net;
pub use ops::Activation;
pub use recipe::{build_net, NetArchitecture, Recipe, MAX_SIDE};

/// The plugin author's guide, `plugins/README.md`, included here so that its example is compiled
/// and run as a doctest.
#[doc = include_str!("../../../plugins/README.md")]
pub mod plugin_guide {}
