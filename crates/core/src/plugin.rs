//! Architectures from dynamic libraries: the versioned C ABI, the export macro and the host-side
//! adapter.
//!
//! A plugin is a `cdylib` that exports one function, [`abi::ENTRY_SYMBOL`]
//! (`majmin_plugin_declaration`), returning a pointer to a [`abi::PluginDeclaration`]. The
//! declaration starts with [`abi::MAGIC`] and [`abi::ABI_VERSION`] — a prefix
//! ([`abi::AbiPrefix`]) that every future version keeps — which the host reads and checks before
//! anything else. Then come the plugin's name and version, a function listing its architectures,
//! a function returning the last error message and a function taking the host's thread count
//! (a plugin has its own copy of rayon; majmin-nn sizes its pool from it). Each architecture is an
//! [`abi::ArchitectureTable`]: static strings (name, description, poster size, default
//! configuration) and `extern "C"` functions (parameter count and build from a configuration
//! string; parameters, mode, logits, per-sample losses and predictions, loss and gradient, free
//! on an opaque model handle).
//!
//! Only `#[repr(C)]` structs, C strings and plain `f32`/`u32` buffers with explicit lengths cross
//! the boundary: no trait objects, `String`, `Vec` or `Box` (a Rust vtable's layout is not stable
//! between compilers; Bevy removed its Rust-ABI plugins for that reason). Whoever allocates
//! frees: the host allocates every buffer it passes, and a model handle made by `build` is given
//! back to the plugin's `free_model`.
//!
//! - [`export_plugin!`](crate::export_plugin) (plugin side, [`export`]) turns any
//!   [`Architecture`](crate::Architecture) values into that table, catching panics at every
//!   entry point: a panic becomes an error status and a message, and the host keeps running.
//! - [`host`] reads a declaration (checking magic and version first) and wraps each table in a
//!   [`host::PluginArchitecture`] that implements [`Architecture`](crate::Architecture) and
//!   builds [`host::PluginModel`]s implementing [`Model`](crate::Model). Loading libraries,
//!   manifests and hashes belong to `majmin-models`' loader; this module only needs the pointer
//!   the entry function returned.
//!
//! ```
//! use majmin_core::plugin::{abi, host};
//! use majmin_core::{ArchConfig, Architecture, Model, ModelError};
//!
//! /// A linear classifier with zero weights: logits are all 0.
//! struct Zero;
//! struct ZeroModel { n: usize, classes: usize, input: [usize; 3], params: Vec<f32> }
//! impl Architecture for Zero {
//!     fn name(&self) -> &str { "zero" }
//!     fn description(&self) -> &str { "zero weights" }
//!     fn build(&self, c: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
//!         let n = c.feature_len() * c.classes;
//!         Ok(Box::new(ZeroModel { n, classes: c.classes, input: c.input, params: vec![0.0; n] }))
//!     }
//! }
//! impl Model for ZeroModel {
//!     fn num_params(&self) -> usize { self.n }
//!     fn input_shape(&self) -> [usize; 3] { self.input }
//!     fn classes(&self) -> usize { self.classes }
//!     fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> { out.copy_from_slice(&self.params); Ok(()) }
//!     fn set_params(&mut self, p: &[f32]) -> Result<(), ModelError> { self.params.copy_from_slice(p); Ok(()) }
//!     fn set_training(&mut self, _: bool) {}
//!     fn is_training(&self) -> bool { false }
//!     fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
//!         Ok(vec![0.0; x.len() / self.input.iter().product::<usize>() * self.classes])
//!     }
//!     fn loss_and_gradient(&mut self, _: &[f32], l: &[u32], g: &mut [f32]) -> Result<f32, ModelError> {
//!         g.fill(0.0);
//!         Ok((self.classes as f32).ln())
//!     }
//! }
//!
//! // What a plugin library contains (its `#[no_mangle]` entry function).
//! majmin_core::export_plugin!(name: "zero-plugin", version: "1.0.0", architectures: [Zero]);
//!
//! // What the host does with the pointer the entry function returns.
//! // SAFETY: the declaration comes from `export_plugin!` in this process and lives forever.
//! let plugin = unsafe { host::read_declaration(majmin_plugin_declaration(), 1) }.unwrap();
//! assert_eq!(plugin.name, "zero-plugin");
//! let arch = &plugin.architectures[0];
//! assert_eq!(arch.name(), "zero");
//! let mut model = arch.build(&ArchConfig::new([1, 2, 2], 3)).unwrap();
//! assert_eq!(model.num_params(), 12);
//! let eval = model.evaluate(&[0.5; 8], &[0, 2]).unwrap();
//! assert!((eval.losses[1] - 3f32.ln()).abs() < 1e-6);
//! ```

pub mod abi;
pub mod export;
pub mod host;
