//! Files the command line reads, checked before anything is read: an input given by an option
//! must be a regular file (never a folder, a FIFO that blocks until a writer appears, or a
//! device such as `/dev/zero` that never ends), and text read whole has a size limit.

use std::fs::{FileType, Metadata};
use std::io::Read;
use std::path::Path;

use crate::error::CliError;

/// What a file type is, in words, for messages ("a folder", "a FIFO", "a character device").
pub fn kind_of(file_type: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Checks that `path`, given by `option`, is an existing regular file (symbolic links followed)
/// and returns its metadata; `expected` says what the option reads ("a TOML file").
pub fn regular_file(option: &str, path: &Path, expected: &str) -> Result<Metadata, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        CliError::usage(format!(
            "{option} {}: {what}; expected {expected}",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(CliError::usage(format!(
            "{option} {}: is {}; expected {expected}",
            path.display(),
            kind_of(&meta.file_type())
        )));
    }
    Ok(meta)
}

/// Reads the regular file `path` (given by `option`) as UTF-8 text of at most `limit` bytes.
pub fn read_text(
    option: &str,
    path: &Path,
    expected: &str,
    limit: u64,
) -> Result<String, CliError> {
    let meta = regular_file(option, path, expected)?;
    let too_big = |size: u64| {
        CliError::usage(format!(
            "{option} {}: {size} bytes is more than the limit of {limit} bytes for {expected}",
            path.display()
        ))
    };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!("{option} {}: cannot read it: {e}", path.display()))
    })?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| {
        CliError::usage(format!("{option} {}: cannot read it: {e}", path.display()))
    })?;
    if bytes.len() as u64 > limit {
        // the file grew while being read
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        CliError::usage(format!(
            "{option} {}:{line}: not UTF-8 text (invalid byte at offset {at}); expected {expected}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_devices_and_missing_files_are_refused_by_name() {
        let e = regular_file("--config", Path::new("/"), "a TOML file").unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("--config /: is a folder"),
            "{}",
            e.message
        );
        let e = read_text("--x", Path::new("/dev/zero"), "text", 10).unwrap_err();
        assert!(e.message.contains("character device"), "{}", e.message);
        let e = regular_file("--x", Path::new("/no/such/file"), "text").unwrap_err();
        assert!(e.message.contains("no such file"), "{}", e.message);
    }

    #[test]
    fn text_over_the_limit_and_invalid_utf8_are_refused() {
        let dir = std::env::temp_dir().join(format!("majmin-input-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.toml");
        std::fs::write(&path, "0123456789x").unwrap();
        let e = read_text("--config", &path, "a TOML file", 10).unwrap_err();
        assert!(e.message.contains("11 bytes") && e.message.contains("limit of 10"));
        std::fs::write(&path, b"a = 1\nb = \"\xff\"\n").unwrap();
        let e = read_text("--config", &path, "a TOML file", 100).unwrap_err();
        assert!(e.message.contains("a.toml:2: not UTF-8"), "{}", e.message);
        std::fs::write(&path, "a = 1\n").unwrap();
        assert_eq!(read_text("--config", &path, "", 100).unwrap(), "a = 1\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
