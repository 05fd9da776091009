//! Errors of majmin-theory: every one names the file (or built-in problem), the line and column
//! where it can, and what was expected.

use std::path::PathBuf;

/// What went wrong while reading or building a problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemError {
    /// The file could not be read.
    #[error("{}: cannot read the problem file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// Invalid TOML or an unknown or mistyped key.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The TOML parser's message (unknown field, expected type, …).
        message: String,
    },
    /// A formula that does not parse.
    #[error("{}:{line}:{column}: in the {key} formula: expected {expected}, found {found}", path.display())]
    Formula {
        /// The file.
        path: PathBuf,
        /// `majority` or `minority`.
        key: String,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column in the file.
        column: usize,
        /// What the parser expected.
        expected: String,
        /// What it found.
        found: String,
    },
    /// A value that parses but makes no sense (missing key, empty box, wrong lengths).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The data set of a data-driven problem cannot be used.
    #[error("{}: data: {message}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No built-in problem of that name.
    #[error("no built-in problem `{name}` (and no such file); built-in problems: {available}")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The names available.
        available: String,
    },
}

impl ProblemError {
    pub(crate) fn formula(
        path: &std::path::Path,
        key: &str,
        line: usize,
        column: usize,
        e: &crate::expr::ParseError,
    ) -> Self {
        ProblemError::Formula {
            path: path.to_path_buf(),
            key: key.to_string(),
            line,
            column,
            expected: e.expected.clone(),
            found: e.found.clone(),
        }
    }
}

/// What went wrong in a check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A setting is out of range.
    #[error("invalid check setting: {0}")]
    Setting(String),
    /// A part evaluates to NaN or ±∞ somewhere in K.
    #[error("the {part} part is not finite at {at:?}: the formula must be smooth and finite on all of K")]
    NotFinite {
        /// `majority` or `minority`.
        part: &'static str,
        /// The point.
        at: Vec<f64>,
    },
}
