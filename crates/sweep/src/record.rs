//! Finished runs: the [`RunRecord`] and its run file, verified against the plan when read.
//!
//! A run file `runs/<id>.json` holds `{"format": 2, "digest": …, "record": …}`: the record carries
//! the run's whole [`RunConfig`], and `digest` is the SHA-256 of the record's JSON, so a file that
//! was edited, copied over another run's name or written with other settings is recognised and
//! never counted.

use std::path::Path;

use majmin_core::{EvalPoint, RunStatus};
use majmin_flow::train::GroupMetrics;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::json_diff;
use crate::error::SweepError;
use crate::plan::{RunConfig, RunId};

/// The run-file format written by this version.
pub const RUN_FILE_FORMAT: u32 = 2;

/// One finished run: what was trained, how it ended and its curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's name (derived from `config`).
    pub id: RunId,
    /// What defines the run.
    pub config: RunConfig,
    /// Exact parameter count.
    pub params: usize,
    /// n1.
    pub majority: usize,
    /// n0.
    pub minority: usize,
    /// Finished, diverged at t, or interrupted at t.
    pub status: RunStatus,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The evaluation points.
    pub points: Vec<EvalPoint>,
    /// Per-group losses and accuracies at the end of the run, on the training set and the
    /// held-out set (absent in run files written before they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_metrics: Option<FinalMetrics>,
    /// JTT's first stage (JTT runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jtt: Option<JttStage>,
}

/// Per-group metrics at the end of a run, in evaluation mode. Definitions: *average* accuracy is
/// over all samples of the set (so the larger group dominates it); *worst-group* accuracy is the
/// smaller of the two group accuracies, *worst-group loss* the larger of the two group mean
/// losses ([`GroupMetrics::worst_group_accuracy`], [`GroupMetrics::worst_group_loss`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// On the (imbalanced) training set.
    pub train: GroupMetrics,
    /// On the held-out set (`None` without one).
    pub holdout: Option<GroupMetrics>,
    /// Held-out majority samples.
    pub holdout_majority: usize,
    /// Held-out minority samples.
    pub holdout_minority: usize,
}

/// What JTT's first stage did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JttStage {
    /// Optimiser steps of the first (ERM) stage.
    pub steps: u64,
    /// Training samples the first-stage model misclassified (up-weighted in the second stage).
    pub errors: usize,
    /// Of those, minority samples.
    pub minority_errors: usize,
    /// Wall-clock seconds of the first stage.
    pub seconds: f64,
}

impl RunRecord {
    /// A short label such as `resnet18 ζ=0.1 seed 0`.
    pub fn label(&self) -> String {
        self.config.label()
    }
}

#[derive(Serialize, Deserialize)]
struct RunFile {
    format: u32,
    digest: String,
    record: serde_json::Value,
}

fn digest(record_json: &[u8]) -> String {
    Sha256::digest(record_json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes of a run file for `record`.
pub fn encode_run_file(record: &RunRecord) -> Vec<u8> {
    let value = serde_json::to_value(record).unwrap_or_default();
    let compact = serde_json::to_vec(&value).unwrap_or_default();
    let file = RunFile {
        format: RUN_FILE_FORMAT,
        digest: digest(&compact),
        record: value,
    };
    let mut text = serde_json::to_vec_pretty(&file).unwrap_or_default();
    text.push(b'\n');
    text
}

/// Reads the run file at `path` and checks that it is intact and describes `expected`.
///
/// # Errors
/// [`SweepError::RunDamaged`] when it cannot be read as a run file, was written by another
/// format or its digest does not match its content (edited); [`SweepError::RunMismatch`], with
/// the differing keys, when it describes another run.
pub fn read_run_file(path: &Path, expected: &RunConfig) -> Result<RunRecord, SweepError> {
    let damaged = |message: String| SweepError::RunDamaged {
        file: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| SweepError::io("read", path, e))?;
    let file: RunFile = serde_json::from_slice(&bytes)
        .map_err(|e| damaged(format!("not a majmin run file ({e})")))?;
    if file.format != RUN_FILE_FORMAT {
        return Err(damaged(format!(
            "run-file format {} (this majmin reads format {RUN_FILE_FORMAT})",
            file.format
        )));
    }
    let compact = serde_json::to_vec(&file.record).unwrap_or_default();
    if digest(&compact) != file.digest {
        return Err(damaged(
            "its content does not match its digest: it was edited after majmin wrote it".into(),
        ));
    }
    let found_config = file.record.get("config").cloned().unwrap_or_default();
    let expected_config = serde_json::to_value(expected).unwrap_or_default();
    let differences = json_diff(&expected_config, &found_config);
    if !differences.is_empty() {
        return Err(SweepError::RunMismatch {
            file: path.to_path_buf(),
            differences,
        });
    }
    let record: RunRecord = serde_json::from_value(file.record)
        .map_err(|e| damaged(format!("not a majmin run record ({e})")))?;
    if record.id != expected.id() {
        return Err(damaged(format!(
            "it names run {} where {} was expected",
            record.id,
            expected.id()
        )));
    }
    Ok(record)
}

/// What is left of a run whose last attempt failed: `runs/<id>.failed.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRun {
    /// The run.
    pub id: RunId,
    /// The error.
    pub error: String,
    /// Host of the process.
    pub host: String,
    /// Its pid.
    pub pid: u32,
    /// The Slurm job and task (`JOB_TASK`) when it ran in an array.
    pub slurm_task: Option<String>,
    /// The log file of that task, when known.
    pub log: Option<String>,
    /// When it failed (Unix seconds).
    pub at_unix: u64,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::{ArchChoice, SweepPlan};
    use majmin_flow::train::TrainConfig;

    pub(crate) fn record_for(config: &RunConfig) -> RunRecord {
        RunRecord {
            id: config.id(),
            config: config.clone(),
            params: 10,
            majority: 5,
            minority: 1,
            status: RunStatus::Finished,
            steps: 3,
            steps_per_epoch: 1,
            seconds: 0.5,
            points: vec![],
            final_metrics: None,
            jtt: None,
        }
    }

    pub(crate) fn configs() -> Vec<RunConfig> {
        SweepPlan {
            archs: vec![ArchChoice::new("mlp", 1.0)],
            data: "digits".into(),
            minority_classes: None,
            zetas: vec![0.1],
            seeds: 2,
            seed: 0,
            train: TrainConfig::default(),
            methods: vec![majmin_flow::train::Method::ERM],
            holdout: 0.0,
        }
        .runs()
    }

    #[test]
    fn round_trip_and_every_kind_of_mismatch_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let runs = configs();
        let a = dir.path().join(runs[0].id().result_file());
        std::fs::write(&a, encode_run_file(&record_for(&runs[0]))).unwrap();
        assert_eq!(read_run_file(&a, &runs[0]).unwrap(), record_for(&runs[0]));

        // swapped: run 1's file under run 0's name
        std::fs::write(&a, encode_run_file(&record_for(&runs[1]))).unwrap();
        match read_run_file(&a, &runs[0]).unwrap_err() {
            SweepError::RunMismatch { differences, .. } => {
                let keys: Vec<&str> = differences.iter().map(|d| d.key.as_str()).collect();
                assert_eq!(keys, ["seed", "seed_index", "train.seed"]);
            }
            e => panic!("{e}"),
        }

        // other settings
        let mut other = runs[0].clone();
        other.train.lr = 0.2;
        std::fs::write(&a, encode_run_file(&record_for(&other))).unwrap();
        let e = read_run_file(&a, &runs[0]).unwrap_err().to_string();
        assert!(e.contains("`train.lr`: 0.05 now, 0.2 on disk"), "{e}");

        // edited by hand
        let text = String::from_utf8(encode_run_file(&record_for(&runs[0]))).unwrap();
        std::fs::write(&a, text.replace("\"params\": 10", "\"params\": 11")).unwrap();
        let e = read_run_file(&a, &runs[0]).unwrap_err().to_string();
        assert!(e.contains("edited"), "{e}");

        std::fs::write(&a, "{").unwrap();
        assert!(matches!(
            read_run_file(&a, &runs[0]),
            Err(SweepError::RunDamaged { .. })
        ));
    }
}
