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
    /// The problem has more variables than the checks handle (see [`crate::check::MAX_CHECK_DIM`]);
    /// refused before any work.
    #[error("the problem has {dim} variables; the theory checks handle at most {limit} (MAX_CHECK_DIM): \
             their cost grows like d³ (Hessians and third-derivative tensors at every sample point)")]
    TooManyVariables {
        /// The problem's dimension.
        dim: usize,
        /// The limit.
        limit: usize,
    },
    /// A setting asks for more points than a documented limit of [`crate::check`](mod@crate::check); refused before
    /// any point is made.
    #[error("{setting} = {value} in dimension {dim} needs {} {what}, above the limit of {} ({limit_name}); \
             choose {setting} ≤ {largest}", group(*needed), group(*limit as u128))]
    TooManyPoints {
        /// The setting (`grid`, `zone_samples`, `starts`, `constant_samples`,
        /// `third_derivative_samples`), as the CLI flag or config key is named.
        setting: &'static str,
        /// Its value.
        value: usize,
        /// The problem's dimension.
        dim: usize,
        /// What the points are for (`zone grid points`, `Newton starts`, …).
        what: &'static str,
        /// The points the setting needs.
        needed: u128,
        /// The limit.
        limit: usize,
        /// The constant that sets the limit, e.g. `MAX_ZONE_POINTS`.
        limit_name: &'static str,
        /// The largest value of the setting within the limit.
        largest: usize,
    },
    /// A part evaluates to NaN or ±∞ somewhere in K.
    #[error("the {part} part is not finite at {at:?}: the formula must be smooth and finite on all of K")]
    NotFinite {
        /// `majority` or `minority`.
        part: &'static str,
        /// The point.
        at: Vec<f64>,
    },
}

/// `n` with commas between groups of three digits: `4000000` → `4,000,000`.
pub(crate) fn group(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
