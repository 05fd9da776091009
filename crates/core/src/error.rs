//! Errors shared by every crate: data-set construction and model building or evaluation.

use thiserror::Error;

/// What went wrong while building or transforming a [`crate::Dataset`].
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataError {
    /// The imbalance level is outside (0, 1].
    #[error("imbalance level {}", zeta_rule(.zeta))]
    InvalidZeta {
        /// The value given.
        zeta: f64,
    },
    /// The source has fewer minority samples than ζ asks for.
    #[error("zeta = {} needs round(zeta · n1) = {needed} minority samples (n1 = {majority}), but the data set has only {available}; choose zeta ≤ {max_zeta:.4} or another group rule", short(.zeta))]
    TooFewMinority {
        /// The value given.
        zeta: f64,
        /// Majority size n1.
        majority: usize,
        /// round(ζ · n1).
        needed: usize,
        /// Minority samples available.
        available: usize,
        /// Largest ζ that the data allow.
        max_zeta: f64,
    },
    /// ζ is so small that no minority sample would be kept.
    #[error("zeta = {} keeps round(zeta · n1) = 0 minority samples (n1 = {majority}); choose zeta ≥ {min_zeta:.2e}", short(.zeta))]
    EmptyMinority {
        /// The value given.
        zeta: f64,
        /// Majority size n1.
        majority: usize,
        /// Smallest ζ that keeps one minority sample.
        min_zeta: f64,
    },
    /// A group is empty where both are needed.
    #[error("the {group} group is empty: {hint}")]
    EmptyGroup {
        /// "majority" or "minority".
        group: &'static str,
        /// What to change.
        hint: String,
    },
    /// Parallel arrays of a data set disagree in length.
    #[error("data set `{name}`: {what} has length {got}, expected {expected}")]
    LengthMismatch {
        /// Data-set name.
        name: String,
        /// Which array.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A label is not below the class count.
    #[error("data set `{name}`: sample {index} has label {label}, expected a label below the class count {classes}")]
    LabelOutOfRange {
        /// Data-set name.
        name: String,
        /// Sample index.
        index: usize,
        /// The label.
        label: u32,
        /// Class count.
        classes: usize,
    },
    /// A minority class named by a group rule does not exist.
    #[error("minority class {class} does not exist: the data set has classes 0..{classes}")]
    UnknownClass {
        /// The class named.
        class: u32,
        /// Class count.
        classes: usize,
    },
    /// Anything else, with a sentence that says what and where.
    #[error("{0}")]
    Invalid(String),
}

/// What went wrong while building, running or loading a [`crate::Model`].
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// No architecture of that name is registered.
    #[error("unknown architecture `{name}`; known: {known}")]
    UnknownArchitecture {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// The input is too small for the architecture's downsampling.
    #[error("architecture `{arch}` cannot take input {channels}×{height}×{width}: {reason}; resize the input (e.g. the data option `resize=32`) to at least {min_side}×{min_side}")]
    InputTooSmall {
        /// Architecture name.
        arch: String,
        /// Input channels.
        channels: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Why.
        reason: String,
        /// Smallest side that works.
        min_side: usize,
    },
    /// A configuration value is not acceptable.
    #[error("architecture `{arch}`: invalid configuration: {message}")]
    InvalidConfig {
        /// Architecture name.
        arch: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A flat buffer has the wrong length.
    #[error("{what}: got {got} values, expected {expected}")]
    BufferLength {
        /// Which buffer (parameters, gradient, inputs, labels).
        what: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A label is not below the class count.
    #[error(
        "label {label} at batch position {index} is out of range: the model has {classes} classes"
    )]
    LabelOutOfRange {
        /// Batch position.
        index: usize,
        /// The label.
        label: u32,
        /// Class count.
        classes: usize,
    },
    /// A plugin failed; the message names the plugin and the cause.
    #[error("plugin `{plugin}`: {message}")]
    Plugin {
        /// Plugin name.
        plugin: String,
        /// Cause.
        message: String,
    },
    /// The model does not name its tensors, so it has no state dict.
    #[error("this model does not name its tensors, so it has no state dict (models built with majmin-nn's NetBuilder do)")]
    NoStateDict,
    /// A state dict does not fit the model.
    #[error("architecture `{arch}`: {error}")]
    StateDict {
        /// Architecture name.
        arch: String,
        /// What does not fit.
        error: StateDictError,
    },
    /// Anything else, with a sentence that says what and where.
    #[error("{0}")]
    Other(String),
}

/// Why [`crate::Model::load_state_dict`] refused a state dict; each names the tensor.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum StateDictError {
    /// The model has a tensor the state dict lacks.
    #[error("tensor `{name}` is missing from the state dict")]
    Missing {
        /// Tensor name.
        name: String,
    },
    /// The state dict has a tensor the model does not.
    #[error("the state dict has tensor `{name}`, which this model does not have")]
    Unexpected {
        /// Tensor name.
        name: String,
    },
    /// Same name, another shape.
    #[error("tensor `{name}` has shape {got:?}, but the model expects {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The state dict's shape.
        got: Vec<usize>,
    },
    /// The data do not hold as many values as the shape says.
    #[error("tensor `{name}` has shape {shape:?} ({expected} values) but holds {got} values")]
    Length {
        /// Tensor name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Values the shape implies.
        expected: usize,
        /// Values held.
        got: usize,
    },
    /// Same name, another element type.
    #[error("tensor `{name}` holds {got} values, but the model expects {expected}")]
    Dtype {
        /// Tensor name.
        name: String,
        /// The model's element type (`f32` or `i64`).
        expected: &'static str,
        /// The state dict's element type.
        got: &'static str,
    },
    /// A value is NaN or infinite, or negative where only counts or variances make sense.
    #[error("tensor `{name}` has the invalid value {value} at flat index {index} ({rule})")]
    InvalidValue {
        /// Tensor name.
        name: String,
        /// Flat index of the first bad value.
        index: usize,
        /// The value, as text.
        value: String,
        /// What the value must be.
        rule: &'static str,
    },
}

/// The one message of ζ's range rule ([`crate::Zeta`]).
fn zeta_rule(zeta: &f64) -> String {
    crate::Zeta::new(*zeta)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| format!("ζ = {zeta} is in range"))
}

/// A number for a message, short: `0.1`, `1e-300`, `2.5e20`.
fn short(x: &f64) -> String {
    if *x == 0.0 || !x.is_finite() || (1e-4..1e15).contains(&x.abs()) {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}
