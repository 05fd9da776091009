//! The run store `DIR/runs/`: finished runs, claims and failures of a sweep folder, shared by any
//! number of processes (see [`crate::claim`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::claim::{host_name, slurm_task, ClaimInfo, ClaimState, Claims};
use crate::error::SweepError;
use crate::fsutil::{create_new, ensure_dir, replace};
use crate::plan::{RunConfig, RunId};
use crate::record::{encode_run_file, read_run_file, FailedRun, RunRecord};

/// Where one run of a plan stands.
#[derive(Debug, Clone)]
pub enum RunState {
    /// Its result is on disk and matches the plan.
    Done(Box<RunRecord>),
    /// A live process holds its claim.
    Running(ClaimInfo),
    /// Its last attempt failed (and nobody holds it now).
    Failed(FailedRun),
    /// Not started, or its holder is gone.
    Pending,
}

/// The run store of a sweep folder.
#[derive(Debug)]
pub struct RunStore {
    dir: PathBuf,
    claims: Claims,
}

/// How long a claim may go without a heartbeat before it is stale (10 minutes): long enough for
/// a busy or briefly stalled node, short enough for a killed task's runs to be retried the same
/// day. `MAJMIN_CLAIM_TIMEOUT` (seconds) overrides it.
pub const DEFAULT_CLAIM_TIMEOUT: Duration = Duration::from_secs(600);

/// How often a process refreshes its claims.
pub fn heartbeat_interval(timeout: Duration) -> Duration {
    (timeout / 6).clamp(Duration::from_millis(200), Duration::from_secs(30))
}

/// The claim timeout in force: `MAJMIN_CLAIM_TIMEOUT` seconds, or [`DEFAULT_CLAIM_TIMEOUT`].
pub fn claim_timeout() -> Duration {
    std::env::var("MAJMIN_CLAIM_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_CLAIM_TIMEOUT)
}

impl RunStore {
    /// The run store of the sweep folder `sweep_dir` (`sweep_dir/runs`), created if missing.
    pub fn open(sweep_dir: &Path, timeout: Duration) -> Result<Self, SweepError> {
        let dir = sweep_dir.join("runs");
        ensure_dir(&dir)?;
        remove_own_stale_temporaries(&dir);
        Ok(Self {
            claims: Claims::new(&dir, timeout),
            dir,
        })
    }

    /// The folder of run files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This process's claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The result file of a run.
    pub fn result_path(&self, id: &RunId) -> PathBuf {
        self.dir.join(id.result_file())
    }

    /// The finished run, if its file exists; verified against `config`.
    pub fn finished(&self, config: &RunConfig) -> Result<Option<RunRecord>, SweepError> {
        let path = self.result_path(&config.id());
        if !path.exists() {
            return Ok(None);
        }
        read_run_file(&path, config).map(Some)
    }

    /// Where `config` stands.
    pub fn state(&self, config: &RunConfig) -> Result<RunState, SweepError> {
        if let Some(record) = self.finished(config)? {
            return Ok(RunState::Done(Box::new(record)));
        }
        let id = config.id();
        if let ClaimState::Live(info) = self.claims.state(&id) {
            return Ok(RunState::Running(info));
        }
        if let Some(failed) = self.failure(&id) {
            return Ok(RunState::Failed(failed));
        }
        Ok(RunState::Pending)
    }

    /// The record of the last failed attempt at `id`.
    pub fn failure(&self, id: &RunId) -> Option<FailedRun> {
        std::fs::read(self.dir.join(id.failure_file()))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Publishes a finished run: only while this process still holds its claim, and never over
    /// an existing result. Then the claim and any earlier failure record are removed.
    pub fn publish(&self, record: &RunRecord) -> Result<(), SweepError> {
        let id = &record.id;
        if !self.claims.holds(id) {
            return Err(SweepError::RunFailed {
                run: id.clone(),
                message: "its claim was taken over by another process (no heartbeat for too long?); the result is discarded, the other process's stands".into(),
            });
        }
        let path = self.result_path(id);
        if !create_new(&path, &encode_run_file(record))? {
            self.claims.release(id);
            return Err(SweepError::RunFailed {
                run: id.clone(),
                message: format!(
                    "{} appeared while this process held the claim; it is kept and this result discarded",
                    path.display()
                ),
            });
        }
        let _ = std::fs::remove_file(self.dir.join(id.failure_file()));
        self.claims.release(id);
        Ok(())
    }

    /// Records that the attempt at `id` failed with `error` and releases the claim.
    pub fn record_failure(&self, id: &RunId, error: &str) -> Result<(), SweepError> {
        let task = slurm_task();
        let log = match (&task, std::env::var("MAJMIN_SLURM_LOG_DIR")) {
            (Some(t), Ok(dir)) => Some(format!("{dir}/{t}.err")),
            _ => None,
        };
        let failed = FailedRun {
            id: id.clone(),
            error: error.to_string(),
            host: host_name(),
            pid: std::process::id(),
            slurm_task: task,
            log,
            at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let bytes = serde_json::to_vec_pretty(&failed).unwrap_or_default();
        let written = replace(&self.dir.join(id.failure_file()), &bytes);
        self.claims.release(id);
        written
    }
}

/// Removes temporary files that an earlier process *on this host* left when it was killed (their
/// pid is gone); other hosts' temporaries may still be in use and are left alone.
fn remove_own_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("-{}-", host_name());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.split(".tmp").nth(1) else {
            continue;
        };
        let pid = rest
            .strip_prefix(&prefix)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !crate::claim::process_alive(pid) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        if name.contains(".claim.stale-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::Claimed;
    use crate::record::tests::{configs, record_for};

    #[test]
    fn publish_needs_the_claim_and_never_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let config = &configs()[0];
        let record = record_for(config);
        // not claimed: refused
        assert!(store.publish(&record).is_err());
        assert!(!store.result_path(&record.id).exists());
        // claimed: published, claim gone
        assert_eq!(store.claims().try_claim(&record.id).unwrap(), Claimed::Yes);
        store.publish(&record).unwrap();
        assert!(matches!(store.state(config).unwrap(), RunState::Done(_)));
        assert!(!dir
            .path()
            .join("runs")
            .join(record.id.claim_file())
            .exists());
        let first = std::fs::read(store.result_path(&record.id)).unwrap();
        // claimed again and published again: the first result stands
        assert_eq!(store.claims().try_claim(&record.id).unwrap(), Claimed::Yes);
        let mut second = record.clone();
        second.seconds = 99.0;
        assert!(store.publish(&second).is_err());
        assert_eq!(std::fs::read(store.result_path(&record.id)).unwrap(), first);
    }

    #[test]
    fn a_result_is_not_published_after_the_claim_was_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let config = &configs()[0];
        let record = record_for(config);
        assert_eq!(store.claims().try_claim(&record.id).unwrap(), Claimed::Yes);
        let claim = store.dir().join(record.id.claim_file());
        let other = ClaimInfo {
            host: "other-node".into(),
            pid: 7,
            started_unix: 0,
            token: "0123".into(),
            slurm_task: None,
        };
        std::fs::write(&claim, serde_json::to_vec(&other).unwrap()).unwrap();
        let e = store.publish(&record).unwrap_err().to_string();
        assert!(e.contains("taken over"), "{e}");
        assert!(!store.result_path(&record.id).exists());
        assert!(
            matches!(store.state(config).unwrap(), RunState::Running(i) if i.host == "other-node")
        );
    }

    #[test]
    fn failures_are_recorded_and_cleared_by_a_later_success() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let config = &configs()[1];
        let id = config.id();
        assert_eq!(store.claims().try_claim(&id).unwrap(), Claimed::Yes);
        store.record_failure(&id, "boom").unwrap();
        match store.state(config).unwrap() {
            RunState::Failed(f) => assert_eq!(f.error, "boom"),
            s => panic!("{s:?}"),
        }
        assert_eq!(store.claims().try_claim(&id).unwrap(), Claimed::Yes);
        store.publish(&record_for(config)).unwrap();
        assert!(store.failure(&id).is_none());
    }
}
