//! The command line's error: a message for a person and an exit code (docs/command-line.md).

use std::fmt;

/// Exit code 1: a run failed (diverged everywhere, I/O failure while writing results, …).
pub const EXIT_RUN: i32 = 1;
/// Exit code 2: bad input or usage (a file, a flag, a TOML key, a formula, a manifest, a plugin).
pub const EXIT_USAGE: i32 = 2;

/// An error that ends the command: one readable paragraph and an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// 1 (run failed) or 2 (bad input).
    pub code: i32,
    /// What went wrong, where, and what was expected.
    pub message: String,
}

impl CliError {
    /// Bad input or usage: exit code 2.
    pub fn usage(message: impl fmt::Display) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.to_string(),
        }
    }

    /// A run that failed: exit code 1.
    pub fn run(message: impl fmt::Display) -> Self {
        Self {
            code: EXIT_RUN,
            message: message.to_string(),
        }
    }

    /// Prefixes the message with context (e.g. the file being written).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// A number for a message, short: `0.01`, `1e-300`, `2.5e20`, `NaN`.
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-4..1e15).contains(&x.abs()) {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

/// An I/O error while writing `path`: exit 1.
pub fn write_error(path: &std::path::Path, err: impl fmt::Display) -> CliError {
    CliError::run(format!("cannot write {}: {err}", path.display()))
}
