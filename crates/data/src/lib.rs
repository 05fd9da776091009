//! File formats and generators for majmin data sets (docs/data.md): the embedded `digits`, MNIST and
//! Fashion-MNIST IDX files, CIFAR-10 binary batches, CSV, a Gaussian two-group mixture, and the
//! transforms resize, channel repeat and per-channel normalisation.
//!
//! Every loader returns a [`majmin_core::Dataset`] with groups from the default rule (the upper
//! half of the classes is the minority) unless the source says otherwise (a CSV group column, the
//! `minority=` option). The primary entry point is a *data spec string* — `digits`,
//! `mnist:DIR,split=test,resize=32`, `csv:data.csv,label=y,group=g`, `gaussian:d=2,sep=3` —
//! parsed into a [`DataSpec`] (whose `Display` gives the string back, for run manifests) and
//! loaded by [`load`]; the [`spec`] module lists every option.
//!
//! Bad input never panics: a [`LoadError`] names the spec, or the file with the byte offset (binary
//! formats) or the line and column (CSV), and says what was expected there. Sizes that come from
//! input (a header's dimensions, `resize=`, `d=` and `n=`, a label) are checked against the
//! documented [`limits`] before anything is allocated, and paths are [`std::ffi::OsStr`] from end
//! to end: [`load`] takes any `AsRef<OsStr>`, so `csv:` followed by a non-UTF-8 file name works on
//! Unix. The format crate is
//! separate from majmin-core so that the core stays free of file formats and decompression.
//!
//! ```
//! let digits = majmin_data::load("digits").unwrap();
//! assert_eq!(digits.len(), 1797);
//! assert_eq!(digits.shape(), [1, 8, 8]);
//! let sizes = digits.group_sizes(); // digits 0–4 are the majority
//! assert_eq!((sizes.majority, sizes.minority), (901, 896));
//! let imbalanced = digits.with_imbalance(0.1, 0).unwrap();
//! assert_eq!(imbalanced.group_sizes().minority, 90);
//! ```
#![deny(missing_docs)]

pub mod cifar;
pub mod csv;
pub mod digits;
pub mod error;
pub mod gaussian;
pub mod idx;
mod io;
pub mod limits;
pub mod spec;
pub mod transform;

pub use cifar::{load_cifar10_dir, load_cifar10_files};
pub use csv::{load_csv, CsvOptions};
pub use digits::load_digits;
pub use error::{LoadError, SizeExcess};
pub use gaussian::{generate_gaussian, GaussianConfig};
pub use idx::{load_idx_dir, load_idx_files};
pub use limits::{MAX_CLASSES, MAX_CSV_BYTES, MAX_DATASET_VALUES};
pub use spec::{load, DataSpec, Normalize, Resize, Source, Split};
pub use transform::{
    channel_stats, normalize, normalize_computed, repeat_channels, resize, Interpolation,
};
