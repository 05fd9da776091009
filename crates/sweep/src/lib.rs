//! Sweeps of training runs that any number of processes and cluster nodes share without losing,
//! rewriting or mixing a result.
//!
//! A [`SweepPlan`] (architectures × ζ × seeds, one training configuration) expands into
//! [`RunConfig`]s; each run is named by a [`RunId`] that carries a hash of its whole
//! configuration (architecture, width, data spec, ζ, seed, training settings, the
//! [`NUMERICS_VERSION`]). Finished runs live in the [`RunStore`] of a sweep folder as run files
//! that store that configuration and a digest of their content, so resume and merge verify each
//! file against the plan and never count one that was edited, swapped or made with other
//! settings. Processes take runs by *claims* (atomic exclusive files with a heartbeat, see
//! [`claim`]), publish results by atomic no-clobber links only while they hold the claim, and take
//! over claims whose holder is gone. [`slurm`] writes and submits `sbatch` job arrays whose tasks
//! train through the same store.
//!
//! This crate never prints: it reports through the [`SweepProgress`] trait and returns
//! [`SweepError`]s; the CLI draws bars, prints tables and chooses exit codes.
//!
//! ```
//! use majmin_sweep::{ArchChoice, SweepPlan};
//! use majmin_flow::train::{Method, TrainConfig};
//!
//! let plan = SweepPlan {
//!     archs: vec![ArchChoice::new("mlp", 1.0)],
//!     data: "digits".into(),
//!     minority_classes: None,
//!     zetas: vec![0.01, 0.8],
//!     seeds: 2,
//!     seed: 0,
//!     train: TrainConfig::default(),
//!     methods: vec![Method::ERM],
//!     holdout: 0.0,
//! };
//! plan.check().unwrap();
//! let runs = plan.runs();
//! assert_eq!(runs.len(), 4);
//! assert!(runs[0].id().as_str().starts_with("mlp_z0p01_s0_"));
//! ```
#![deny(missing_docs)]

pub mod claim;
pub mod cost;
mod diff;
mod error;
mod exec;
mod folder;
mod fsutil;
mod plan;
mod record;
pub mod slurm;
mod store;

pub use diff::{describe, json_diff, KeyDiff};
pub use error::SweepError;
pub use exec::{
    execute, train_run, train_run_on, train_run_with, ExecOptions, NoProgress, RunHooks,
    SweepOutcome, SweepProgress,
};
pub use folder::{
    check_train_folder, open_sweep_folder, read_sweep, sweep_file, SweepDescription,
    SWEEP_FILE_FORMAT,
};
pub use plan::{
    check_arch, holdout_split, imbalanced, load_data, ArchChoice, PreparedSweep, RunConfig, RunId,
    RunSamples, SweepPlan, DEFAULT_HOLDOUT, MAX_HOLDOUT, MAX_RUNS, MAX_SEEDS, MAX_WIDTH,
    NUMERICS_VERSION,
};
pub use record::{
    encode_run_file, read_run_file, FailedRun, FinalMetrics, JttStage, RunRecord, RUN_FILE_FORMAT,
};
pub use store::{claim_timeout, heartbeat_interval, RunState, RunStore, DEFAULT_CLAIM_TIMEOUT};
