//! The sweep crate's error type.

use std::path::PathBuf;

use crate::diff::{describe, KeyDiff};
use crate::plan::RunId;

/// What went wrong in a sweep. [`SweepError::is_input_error`] separates the user's bad input (a
/// flag, a folder, a run file; the CLI's exit code 2) from a run that failed (exit code 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// A value of the plan is not acceptable; `option` names the command-line option.
    #[error("{option}: {message}")]
    Plan {
        /// The option, e.g. `--zetas`.
        option: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The data spec could not be loaded or does not allow the plan.
    #[error("--data {spec}: {message}")]
    Data {
        /// The data spec.
        spec: String,
        /// The cause.
        message: String,
    },
    /// An architecture is unknown or cannot be built on the data.
    #[error("architecture `{arch}`: {message}")]
    Arch {
        /// The architecture's name.
        arch: String,
        /// The cause.
        message: String,
    },
    /// A run file exists under the run's name but describes another run.
    #[error("{}: this run file does not match the plan, so it is not counted; keys that differ: {}. Move it away (or choose another --out) to train that run again", file.display(), describe(differences))]
    RunMismatch {
        /// The file.
        file: PathBuf,
        /// The keys that differ between the plan's run and the file's.
        differences: Vec<KeyDiff>,
    },
    /// A run file is damaged, edited or from another version of majmin.
    #[error("{}: {message}; it is not counted. Move it away to train that run again", file.display())]
    RunDamaged {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The output folder holds something this command must not mix with.
    #[error("{}: {message}", dir.display())]
    FolderOwned {
        /// The folder.
        dir: PathBuf,
        /// What it holds and what to do.
        message: String,
    },
    /// The folder holds a sweep of other settings.
    #[error("{}: the sweep in this folder used other settings, so this one is refused (nothing was trained or written); keys that differ: {}. Use another --out, or the same settings", file.display(), describe(differences))]
    SettingsDiffer {
        /// The sweep description (`sweep.json`).
        file: PathBuf,
        /// The keys that differ.
        differences: Vec<KeyDiff>,
    },
    /// A training run failed in a way that is the user's input (e.g. a plugin that fails).
    #[error("run {run}: {message}")]
    RunInput {
        /// The run.
        run: RunId,
        /// The cause.
        message: String,
    },
    /// A training run failed.
    #[error("run {run}: {message}")]
    RunFailed {
        /// The run.
        run: RunId,
        /// The cause.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`, `rename`, …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A Slurm command failed or is missing.
    #[error("slurm: {0}")]
    Slurm(String),
    /// A Slurm task number or submission that does not exist.
    #[error("{0}")]
    Task(String),
}

impl SweepError {
    /// Whether the error is the user's input (exit code 2) rather than a failed run (exit code 1).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            SweepError::RunFailed { .. } | SweepError::Io { .. } | SweepError::Slurm(_)
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SweepError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
