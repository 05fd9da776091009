//! The metrics crate's error type: every variant says where (file and line, or run and group) and
//! what was expected.

use std::path::PathBuf;

/// What went wrong while reading curves or computing a metric.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A curve file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A curve file is malformed at a given line (and column, when one is at fault).
    #[error("{path}:{line}{}: {message}", column.as_ref().map(|c| format!(": column {c}")).unwrap_or_default())]
    Csv {
        /// The file (or the name given to the text).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column at fault: its 1-based number and header name, e.g. ``3 (`loss`)``.
        column: Option<String>,
        /// What was expected and what was found.
        message: String,
    },
    /// A curve file's header names a column twice.
    #[error("{path}:{line}: the header names the column `{column}` twice (columns {first} and {second}); expected each column once")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// 1-based line of the header.
        line: usize,
        /// The column's name (lowercase, as matched).
        column: String,
        /// 1-based number of its first occurrence.
        first: usize,
        /// 1-based number of its second occurrence.
        second: usize,
    },
    /// A curve file lacks the column a criterion needs (`loss` for the loss criterion, `accuracy`
    /// for the accuracy criterion).
    #[error(
        "{path}:{line}: the header has no `{column}` column, which the {column} criterion needs; \
             expected a header naming `t`, `group`, `loss` and `accuracy` (and optionally `run`)"
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// 1-based line of the header.
        line: usize,
        /// `loss` or `accuracy`.
        column: &'static str,
    },
    /// A loss or accuracy in a curve file is a number outside its range: a mean loss must be
    /// finite and ≥ 0, an accuracy in [0, 1].
    #[error("{path}:{line}: column {column}: expected {expected}, found {value}")]
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column: its 1-based number and header name, e.g. ``3 (`loss`)``.
        column: String,
        /// The value as written.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A run's curves are unusable as a whole (a group has no points, …).
    #[error("{source_name}: run `{run}`: {message}")]
    Curves {
        /// Where the curves came from (a file path, or "evaluation points").
        source_name: String,
        /// The run.
        run: String,
        /// What is missing or inconsistent.
        message: String,
    },
    /// A threshold κ outside (0, 1).
    #[error("threshold κ = {kappa} is outside (0, 1): κ is a fraction, e.g. 0.9 for 90 %")]
    Kappa {
        /// The value given.
        kappa: f64,
    },
    /// The loss criterion needs the global mean loss at the first evaluation point, and the run
    /// has no `all` curve.
    #[error(
        "run `{run}`: the loss criterion's global threshold (1 − κ)·L̄(θ0) needs the global mean loss \
         at the first evaluation point, and the run has no `all` rows; add rows with group `all` \
         (L̄ = (n1·L̄1 + n0·L̄0)/n, which cannot be recovered from the group means without the group \
         sizes) or use the accuracy criterion"
    )]
    MissingGlobalLoss {
        /// The run.
        run: String,
    },
    /// A value the criterion needs is missing (an empty cell in a curve file).
    #[error("run `{run}`, group {group}: no {quantity} at t = {t}, which the {quantity} criterion needs")]
    MissingValue {
        /// The run.
        run: String,
        /// `majority`, `minority` or `all`.
        group: String,
        /// The evaluation time.
        t: f64,
        /// `loss` or `accuracy`.
        quantity: &'static str,
    },
    /// A table cell or figure series was given inconsistent input.
    #[error("{0}")]
    Invalid(String),
}
