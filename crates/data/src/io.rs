//! Opening data files, plain or gzip-compressed, and reading them in bounded pieces, with errors
//! that name the path.
//!
//! Nothing here reads a whole file blindly: a loader reads the header, checks the sizes it
//! announces against the file length (plain files) and the limits of [`crate::limits`], and only
//! then reads that many bytes — so a lying header allocates nothing and a gzip stream is never
//! decompressed past what its header implies.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{LoadError, SizeExcess};

/// An open data file: a reader over its bytes (decompressed for gzip) and what errors need.
pub(crate) struct DataFile {
    pub path: PathBuf,
    reader: Box<dyn Read>,
    /// Offsets count bytes of the decompressed stream.
    pub decompressed: bool,
    /// The length of the data when known: a regular uncompressed file's length on disk.
    file_len: Option<u64>,
    /// Bytes of data read so far.
    consumed: u64,
}

impl DataFile {
    pub fn truncated(&self, offset: u64, expected: String, found: String) -> LoadError {
        LoadError::Truncated {
            path: self.path.clone(),
            offset,
            decompressed: self.decompressed,
            expected,
            found,
        }
    }

    pub fn corrupt(&self, offset: u64, expected: String, found: String) -> LoadError {
        LoadError::Corrupt {
            path: self.path.clone(),
            offset,
            decompressed: self.decompressed,
            expected,
            found,
        }
    }

    /// A [`LoadError::FileTooLarge`] for a size announced at `offset`.
    pub fn too_large(
        &self,
        offset: u64,
        what: String,
        needed: u128,
        limit: u128,
        unit: &'static str,
        limit_name: &'static str,
    ) -> LoadError {
        LoadError::FileTooLarge {
            path: self.path.clone(),
            offset,
            decompressed: self.decompressed,
            size: SizeExcess::new(what, needed, limit, unit, limit_name),
        }
    }

    /// The length of the data when it is known without reading it: the length of a regular,
    /// uncompressed file (a pipe or a device reports none; it is read like a gzip stream, as far
    /// as the header says).
    pub fn known_len(&self) -> Option<u64> {
        self.file_len
    }

    /// Reads up to `n` more bytes: fewer only at the end of the data.
    pub fn read_up_to(&mut self, n: u64) -> Result<Vec<u8>, LoadError> {
        let capacity = match self.known_len() {
            Some(len) => n.min(len.saturating_sub(self.consumed)),
            // a gzip stream may be shorter than announced: grow as data arrive
            None => n.min(1 << 20),
        };
        let mut out = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let result = (&mut self.reader).take(n).read_to_end(&mut out);
        let before = self.consumed;
        self.consumed += out.len() as u64;
        match result {
            Ok(_) => Ok(out),
            Err(source) if self.decompressed => Err(LoadError::Gzip {
                path: self.path.clone(),
                offset: before + out.len() as u64,
                source,
            }),
            Err(source) => Err(LoadError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Whether the data end here (reads at most one byte).
    pub fn at_end(&mut self) -> Result<bool, LoadError> {
        Ok(self.read_up_to(1)?.is_empty())
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn open_error(path: &Path, e: std::io::Error) -> LoadError {
    match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_path_buf(),
            what: "no such file".into(),
        },
        _ => LoadError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Opens `path`. Gzip data (a name ending in `.gz`, or the gzip magic bytes) is decompressed as it
/// is read; a `.gz` name without the magic bytes is an error at byte 0.
pub(crate) fn open(path: &Path) -> Result<DataFile, LoadError> {
    let file = File::open(path).map_err(|e| open_error(path, e))?;
    let metadata = file.metadata().map_err(|e| open_error(path, e))?;
    let mut reader = BufReader::new(file);
    let mut magic = Vec::with_capacity(2);
    (&mut reader)
        .take(2)
        .read_to_end(&mut magic)
        .map_err(|e| open_error(path, e))?;
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let has_magic = magic == GZIP_MAGIC;
    if named_gz && !has_magic {
        let found = magic
            .iter()
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
    // the two bytes read go back in front of the rest
    let stream = std::io::Cursor::new(magic).chain(reader);
    let (reader, decompressed): (Box<dyn Read>, bool) = if has_magic {
        (Box::new(MultiGzDecoder::new(stream)), true)
    } else {
        (Box::new(stream), false)
    };
    Ok(DataFile {
        path: path.to_path_buf(),
        reader,
        decompressed,
        file_len: (!decompressed && metadata.is_file()).then_some(metadata.len()),
        consumed: 0,
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
