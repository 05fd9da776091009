//! Traits and plain types that every majmin crate speaks.
//!
//! majmin studies the *majority–minority model*: a data set split by a binary group variable
//! `a` into a majority (`a = 1`) and a minority (`a = 0`), and a loss that splits exactly as
//! `L = L1 + L0` where both parts are divided by the total sample count `n`
//! (see [`split::Split`]). This crate holds the vocabulary, and nothing heavier:
//!
//! - [`Objective`]: a smooth function of flat `f64` parameters (value, gradient, optional
//!   Hessian-vector product and Hessian) — what the theory and the gradient-flow integrators use;
//! - [`Split`]: the majority part, the minority part and their sum;
//! - [`Loss`]: per-sample losses (squared error, cross-entropy with logits, logistic);
//! - [`Dataset`]: samples with a label and a [`Group`], the imbalance level ζ = n0 / n1 and
//!   [`Dataset::with_imbalance`], seeded shuffling and batching;
//! - [`Model`] and [`Architecture`]: a trainable network on flat `f32` parameters and the
//!   named recipe that builds it (implemented with dfdx in `majmin-models`, carried across a C
//!   ABI by plugins).
//!
//! It depends on serde and thiserror only: no tensors, no plotting, no file formats, so that a
//! downstream project can take the definitions without the engines.
//!
//! ```
//! use majmin_core::{Objective, Split};
//! use majmin_core::objective::FnObjective;
//!
//! // L1(x) = x², L0(x) = 0.1 (x − 1)².
//! let majority = FnObjective::new(1, |x: &[f64]| x[0] * x[0], |x: &[f64], g: &mut [f64]| g[0] = 2.0 * x[0]);
//! let minority = FnObjective::new(
//!     1,
//!     |x: &[f64]| 0.1 * (x[0] - 1.0).powi(2),
//!     |x: &[f64], g: &mut [f64]| g[0] = 0.2 * (x[0] - 1.0),
//! );
//! let split = Split::new(majority, minority).unwrap();
//! let x = [0.5];
//! let total = split.total().value(&x);
//! assert!((total - (split.majority().value(&x) + split.minority().value(&x))).abs() < 1e-15);
//! ```
#![deny(missing_docs)]

pub mod curve;
pub mod dataset;
pub mod error;
pub mod loss;
pub mod model;
pub mod objective;
pub mod plugin;
pub mod rng;
pub mod split;
pub mod value;

pub use curve::{EvalPoint, RunStatus, ZoneProbe};
pub use dataset::{Dataset, Group, GroupRule, GroupSizes};
pub use error::{DataError, ModelError, StateDictError};
pub use loss::Loss;
pub use model::{ArchConfig, Architecture, Model, NamedTensor, TensorData};
pub use objective::Objective;
pub use rng::Rng;
pub use split::Split;
pub use value::{Kappa, ValueError, Zeta};
