//! Reading whole files, plain or gzip-compressed, with errors that name the path.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::LoadError;

/// The bytes of a file and whether they were decompressed from gzip.
#[derive(Debug)]
pub(crate) struct FileBytes {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Offsets count bytes of the decompressed stream.
    pub decompressed: bool,
}

impl FileBytes {
    pub fn truncated(&self, offset: usize, expected: String, found: String) -> LoadError {
        LoadError::Truncated {
            path: self.path.clone(),
            offset: offset as u64,
            decompressed: self.decompressed,
            expected,
            found,
        }
    }

    pub fn corrupt(&self, offset: usize, expected: String, found: String) -> LoadError {
        LoadError::Corrupt {
            path: self.path.clone(),
            offset: offset as u64,
            decompressed: self.decompressed,
            expected,
            found,
        }
    }

    /// The big-endian `u32` at `offset` (the caller checked the length).
    pub fn be_u32(&self, offset: usize) -> u32 {
        let b = &self.bytes[offset..offset + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path` whole. Gzip data (a name ending in `.gz`, or the gzip magic bytes) is
/// decompressed; a `.gz` name without the magic bytes is an error at byte 0.
pub(crate) fn read_file(path: &Path) -> Result<FileBytes, LoadError> {
    let raw = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_path_buf(),
            what: "no such file".into(),
        },
        _ => LoadError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let has_magic = raw.starts_with(&GZIP_MAGIC);
    if named_gz && !has_magic {
        let found = raw
            .iter()
            .take(2)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(LoadError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            decompressed: false,
            expected: "the gzip magic bytes 1f 8b (the file name ends in .gz)".into(),
            found: if found.is_empty() {
                "an empty file".into()
            } else {
                found
            },
        });
    }
    if !has_magic {
        return Ok(FileBytes {
            path: path.to_path_buf(),
            bytes: raw,
            decompressed: false,
        });
    }
    let mut bytes = Vec::with_capacity(raw.len() * 4);
    let mut decoder = MultiGzDecoder::new(raw.as_slice());
    if let Err(source) = decoder.read_to_end(&mut bytes) {
        return Err(LoadError::Gzip {
            path: path.to_path_buf(),
            offset: bytes.len() as u64,
            source,
        });
    }
    tracing::debug!(path = %path.display(), compressed = raw.len(), decompressed = bytes.len(), "gunzipped");
    Ok(FileBytes {
        path: path.to_path_buf(),
        bytes,
        decompressed: true,
    })
}

/// Checks that `dir` is an existing folder; `what` says what it should hold.
pub(crate) fn require_dir(dir: &Path, what: &str) -> Result<(), LoadError> {
    if dir.is_dir() {
        return Ok(());
    }
    let what = if dir.exists() {
        format!("expected a folder holding {what}, found a file")
    } else {
        format!("no such folder; expected a folder holding {what}")
    };
    Err(LoadError::NotFound {
        path: dir.to_path_buf(),
        what,
    })
}

/// The first of `names` that exists in `dir`, or an error naming every path tried.
pub(crate) fn find_in(dir: &Path, names: &[String]) -> Result<PathBuf, LoadError> {
    for name in names {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let tried: Vec<String> = names
        .iter()
        .skip(1)
        .map(|n| dir.join(n).display().to_string())
        .collect();
    let what = if tried.is_empty() {
        "no such file".to_string()
    } else {
        format!("no such file (also tried {})", tried.join(", "))
    };
    Err(LoadError::NotFound {
        path: dir.join(&names[0]),
        what,
    })
}
