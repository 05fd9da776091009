//! File operations a shared folder needs: atomic no-clobber creation and atomic replacement.
//!
//! Both write a temporary file in the target's folder first, so a reader never sees a half-written
//! file. [`create_new`] then *hard-links* it to the final name, which fails when the name exists —
//! atomic and exclusive on local filesystems and on NFS alike — so a published file is never
//! rewritten. Where hard links are not supported it falls back to `O_EXCL` creation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::SweepError;

/// A temporary name beside `path`, unique to this process and call.
fn temporary(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp-{}-{}-{n}",
        crate::claim::host_name(),
        std::process::id()
    ))
}

fn write_temporary(path: &Path, bytes: &[u8]) -> Result<PathBuf, SweepError> {
    let tmp = temporary(path);
    let mut file = std::fs::File::create(&tmp).map_err(|e| SweepError::io("create", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| SweepError::io("write", &tmp, e))?;
    Ok(tmp)
}

/// Creates `path` with `bytes` unless it exists. Returns `Ok(false)` (and writes nothing) when
/// it exists.
pub fn create_new(path: &Path, bytes: &[u8]) -> Result<bool, SweepError> {
    let tmp = write_temporary(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            // no hard links here (some FUSE or SMB mounts): exclusive creation instead
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    f.write_all(bytes)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| SweepError::io("write", path, e))?;
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(SweepError::io("create", path, e)),
            }
        }
    }
}

/// Writes `bytes` to `path`, replacing it atomically (temporary file, then rename).
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| SweepError::io("create", dir, e))?;
    }
    let tmp = write_temporary(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SweepError::io("rename", path, e)
    })
}

/// Creates a folder and its parents.
pub fn ensure_dir(dir: &Path) -> Result<(), SweepError> {
    std::fs::create_dir_all(dir).map_err(|e| SweepError::io("create", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_new_never_overwrites_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        assert!(create_new(&p, b"first").unwrap());
        assert!(!create_new(&p, b"second").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        replace(&p, b"third").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"third");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
