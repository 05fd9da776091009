//! Claims: how processes on one or many machines share a run store without training a run twice.
//!
//! A process takes a run by creating `runs/<id>.claim` atomically and exclusively (a
//! complete temporary file hard-linked to that name, which fails if it exists); the file names the host, the pid, the start time and a random
//! token. While the run trains, a heartbeat refreshes the file's modification time. Another
//! process skips a claimed run unless the claim is *stale*: its heartbeat is older than the
//! timeout, or it was made on this host by a process that no longer exists. A stale claim is
//! taken over by renaming it away (only one process can) and claiming anew. A result is
//! published only while the claim is still this process's (checked by its token), and never over
//! an existing result.
//!
//! What the folder must offer: atomic exclusive creation (hard links or `O_EXCL`) and atomic
//! rename, visible to every node — a local disk, NFSv3 or later, Lustre, GPFS — and clocks that
//! agree to well within the timeout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::SweepError;
use crate::fsutil::create_new;
use crate::plan::RunId;

/// What a claim file says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimInfo {
    /// Host name of the holder.
    pub host: String,
    /// Its pid.
    pub pid: u32,
    /// When it claimed the run (Unix seconds).
    pub started_unix: u64,
    /// A random token that tells this claim from any other.
    pub token: String,
    /// `JOB_TASK` when the holder is a Slurm array task.
    pub slurm_task: Option<String>,
}

/// The state of a run's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    /// Nobody holds it.
    Free,
    /// Another process holds it and is alive (as far as can be told).
    Live(ClaimInfo),
    /// A claim whose holder is gone: `reason` says why it is judged so.
    Stale(ClaimInfo, String),
}

/// The claims of one process on one run store.
#[derive(Debug)]
pub struct Claims {
    dir: PathBuf,
    timeout: Duration,
    held: Mutex<HashMap<RunId, String>>,
}

/// The outcome of [`Claims::try_claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This process holds the run now.
    Yes,
    /// Another live process holds it.
    HeldBy(ClaimInfo),
}

/// This machine's short host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes at most that many.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown-host".into()
    };
    name.split('.').next().unwrap_or("unknown-host").to_string()
}

/// Whether a process with `pid` exists on this host.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// `JOB_TASK` of the Slurm array task this process runs in, if any.
pub fn slurm_task() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?;
    Some(format!("{job}_{task}"))
}

impl Claims {
    /// The claims of this process in the run store `dir`; a claim whose heartbeat is older than
    /// `timeout` is stale.
    pub fn new(dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            dir: dir.into(),
            timeout,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The timeout after which a claim without heartbeat is stale.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn path(&self, id: &RunId) -> PathBuf {
        self.dir.join(id.claim_file())
    }

    fn held_token(&self, id: &RunId) -> Option<String> {
        self.held.lock().ok().and_then(|h| h.get(id).cloned())
    }

    fn read(path: &Path) -> Option<ClaimInfo> {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// The state of `id`'s claim as seen from this process (its own claims are `Free` to it only
    /// through [`Claims::holds`]).
    pub fn state(&self, id: &RunId) -> ClaimState {
        let path = self.path(id);
        let Ok(meta) = std::fs::metadata(&path) else {
            return ClaimState::Free;
        };
        let Some(info) = Self::read(&path) else {
            // being written, or damaged: judge it by its age alone
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            let info = ClaimInfo {
                host: "?".into(),
                pid: 0,
                started_unix: 0,
                token: String::new(),
                slurm_task: None,
            };
            return if age > self.timeout {
                ClaimState::Stale(info, format!("unreadable and {} s old", age.as_secs()))
            } else {
                ClaimState::Live(info)
            };
        };
        if self.held_token(id).as_deref() == Some(info.token.as_str()) {
            return ClaimState::Live(info);
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if age > self.timeout {
            let reason = format!(
                "no heartbeat for {} s (timeout {} s)",
                age.as_secs(),
                self.timeout.as_secs()
            );
            return ClaimState::Stale(info, reason);
        }
        if info.host == host_name() && (info.pid == std::process::id() || !process_alive(info.pid))
        {
            let reason = format!("process {} on {} is gone", info.pid, info.host);
            return ClaimState::Stale(info, reason);
        }
        ClaimState::Live(info)
    }

    /// Tries to take run `id`: creates its claim, or takes over a stale one.
    pub fn try_claim(&self, id: &RunId) -> Result<Claimed, SweepError> {
        let path = self.path(id);
        for _ in 0..3 {
            let info = ClaimInfo {
                host: host_name(),
                pid: std::process::id(),
                started_unix: now_unix(),
                token: random_token(),
                slurm_task: slurm_task(),
            };
            let bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
            if create_new(&path, &bytes)? {
                if let Ok(mut held) = self.held.lock() {
                    held.insert(id.clone(), info.token);
                }
                return Ok(Claimed::Yes);
            }
            match self.state(id) {
                ClaimState::Free => continue,
                ClaimState::Live(info) => return Ok(Claimed::HeldBy(info)),
                ClaimState::Stale(stale, reason) => {
                    tracing::info!(run = %id, %reason, "taking over a stale claim");
                    self.remove_stale(&path, &stale)?;
                }
            }
        }
        match self.state(id) {
            ClaimState::Live(info) | ClaimState::Stale(info, _) => Ok(Claimed::HeldBy(info)),
            ClaimState::Free => Ok(Claimed::HeldBy(ClaimInfo {
                host: "?".into(),
                pid: 0,
                started_unix: 0,
                token: String::new(),
                slurm_task: None,
            })),
        }
    }

    /// Moves a stale claim out of the way. Renaming is atomic, so of several processes that judged
    /// it stale only one moves it; if what was moved turns out to be a fresh claim (another
    /// process took over in between), it is put back.
    fn remove_stale(&self, path: &Path, stale: &ClaimInfo) -> Result<(), SweepError> {
        let tomb = path.with_extension(format!("claim.stale-{}", random_token()));
        match std::fs::rename(path, &tomb) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(SweepError::io("rename", path, e)),
        }
        let moved = Self::read(&tomb);
        if moved.as_ref().map(|m| &m.token) != Some(&stale.token) && !stale.token.is_empty() {
            // not the claim we judged: restore it unless someone claimed meanwhile
            let _ = std::fs::hard_link(&tomb, path);
        }
        let _ = std::fs::remove_file(&tomb);
        Ok(())
    }

    /// Whether this process still holds `id` (its token is in the claim file).
    pub fn holds(&self, id: &RunId) -> bool {
        let Some(token) = self.held_token(id) else {
            return false;
        };
        Self::read(&self.path(id)).is_some_and(|info| info.token == token)
    }

    /// Refreshes the heartbeat of every claim this process holds.
    pub fn heartbeat(&self) {
        let held: Vec<RunId> = self
            .held
            .lock()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        for id in held {
            if !self.holds(&id) {
                tracing::warn!(run = %id, "lost the claim (another process took it over)");
                continue;
            }
            let path = self.path(&id);
            let touched = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(SystemTime::now()));
            if let Err(e) = touched {
                tracing::warn!(run = %id, "cannot refresh the claim's heartbeat: {e}");
            }
        }
    }

    /// Releases `id`: removes its claim file if it is still this process's.
    pub fn release(&self, id: &RunId) {
        if self.holds(id) {
            let _ = std::fs::remove_file(self.path(id));
        }
        if let Ok(mut held) = self.held.lock() {
            held.remove(id);
        }
    }

    /// Releases every claim this process holds.
    pub fn release_all(&self) {
        let held: Vec<RunId> = self
            .held
            .lock()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        for id in held {
            self.release(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::configs;

    fn write_claim(dir: &Path, id: &RunId, info: &ClaimInfo) {
        std::fs::write(dir.join(id.claim_file()), serde_json::to_vec(info).unwrap()).unwrap();
    }

    fn foreign(host: &str, pid: u32) -> ClaimInfo {
        ClaimInfo {
            host: host.into(),
            pid,
            started_unix: 0,
            token: "feedbeef".into(),
            slurm_task: None,
        }
    }

    #[test]
    fn a_claimed_run_is_not_claimed_twice_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let id = configs()[0].id();
        let a = Claims::new(dir.path(), Duration::from_secs(60));
        let b = Claims::new(dir.path(), Duration::from_secs(60));
        assert_eq!(a.try_claim(&id).unwrap(), Claimed::Yes);
        assert!(a.holds(&id));
        // b is another process as far as tokens go, on the same host with a live pid (ours)…
        // …which a real other process is not: the same pid with an unknown token is stale.
        match b.state(&id) {
            ClaimState::Stale(_, reason) => assert!(reason.contains("is gone"), "{reason}"),
            s => panic!("{s:?}"),
        }
        a.release(&id);
        assert_eq!(a.state(&id), ClaimState::Free);
    }

    #[test]
    fn live_claims_of_other_hosts_are_respected_and_stale_ones_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let id = configs()[0].id();
        write_claim(dir.path(), &id, &foreign("some-other-node", 4242));
        let claims = Claims::new(dir.path(), Duration::from_secs(60));
        assert!(
            matches!(claims.try_claim(&id).unwrap(), Claimed::HeldBy(i) if i.host == "some-other-node")
        );

        // the same claim with a heartbeat older than the timeout is stale
        let short = Claims::new(dir.path(), Duration::from_secs(1));
        let old = SystemTime::now() - Duration::from_secs(30);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(id.claim_file()))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(matches!(short.state(&id), ClaimState::Stale(..)));
        assert_eq!(short.try_claim(&id).unwrap(), Claimed::Yes);
        assert!(short.holds(&id));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_claim_of_a_dead_process_on_this_host_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let id = configs()[0].id();
        // a pid that exists on no Linux system (above pid_max's hard limit)
        write_claim(dir.path(), &id, &foreign(&host_name(), 4_194_305));
        let claims = Claims::new(dir.path(), Duration::from_secs(3600));
        assert_eq!(claims.try_claim(&id).unwrap(), Claimed::Yes);
    }

    #[test]
    fn a_taken_over_claim_is_no_longer_held() {
        let dir = tempfile::tempdir().unwrap();
        let id = configs()[0].id();
        let a = Claims::new(dir.path(), Duration::from_secs(60));
        assert_eq!(a.try_claim(&id).unwrap(), Claimed::Yes);
        // another node took it over (after judging it stale)
        write_claim(dir.path(), &id, &foreign("other-node", 1));
        assert!(!a.holds(&id));
        a.release(&id);
        assert!(
            dir.path().join(id.claim_file()).exists(),
            "release must not remove another's claim"
        );
    }
}
