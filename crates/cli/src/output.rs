//! Files the command line writes: atomic writes, output folders, JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{write_error, CliError};

/// Creates `dir` and its parents. A path that exists and is no folder (a regular file, a
/// device), or an ancestor that is no folder, is bad input (exit 2) naming it; so is a folder
/// that cannot be created for lack of permission.
pub fn ensure_dir(dir: &Path) -> Result<(), CliError> {
    check_dir_path(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            CliError::usage(format!(
                "cannot create the folder {}: permission denied; expected a folder you can write to",
                dir.display()
            ))
        } else {
            write_error(dir, e)
        }
    })
}

/// Refuses a folder path that exists as something else, or whose nearest existing ancestor is
/// not a folder (`--out /etc/passwd/x`).
fn check_dir_path(dir: &Path) -> Result<(), CliError> {
    let mut current: Option<&Path> = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() {
            break;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(meta) => {
                let what = crate::input::kind_of(&meta.file_type());
                return Err(CliError::usage(if path == dir {
                    format!(
                        "{}: is {what}; expected a folder (or a path where one can be created)",
                        dir.display()
                    )
                } else {
                    format!(
                        "{}: cannot create a folder there: {} is {what}, not a folder",
                        dir.display(),
                        path.display()
                    )
                }));
            }
            Err(_) => current = path.parent(),
        }
    }
    Ok(())
}

/// Checks that a file can be written at `path`, given by `option`, before the work that
/// produces it: `path` is no folder, and its folder exists or can be created.
pub fn check_output_file(option: &str, path: &Path) -> Result<(), CliError> {
    not_special(path).map_err(|e| e.context(option))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check_dir_path(dir).map_err(|e| e.context(option))?;
    if dir.is_dir() && !writable(dir) {
        return Err(CliError::usage(format!(
            "{option} {}: the folder {} is not writable; expected a file name in a folder you can write to",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `access` reads a NUL-terminated path that lives for the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn writable(_dir: &Path) -> bool {
    true
}

/// Refuses to write over anything but a regular file: a folder, or a device, FIFO or socket,
/// which an atomic write (a rename onto the path) would replace — as root, even `/dev/zero` —
/// and which a plain write could block on forever (a FIFO without a reader).
fn not_special(path: &Path) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(CliError::usage(format!(
            "{}: is a folder; expected a file name",
            path.display()
        ))),
        Ok(meta) if !meta.is_file() => Err(CliError::usage(format!(
            "{}: is {}; expected the name of a regular file to write (it is written whole and renamed into place)",
            path.display(),
            crate::input::kind_of(&meta.file_type())
        ))),
        _ => Ok(()),
    }
}

/// Serializes a path as text, lossily (bytes that are not UTF-8 become U+FFFD): serde's own
/// `PathBuf` refuses such paths, which the operating system accepts.
pub fn serialize_path_lossy<S: serde::Serializer>(
    path: &Option<PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// [`serialize_path_lossy`] for a path that is always there.
pub fn serialize_path_lossy_required<S: serde::Serializer>(
    path: &Path,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename, so a
/// reader (or a later `--resume`) never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    not_special(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| write_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(path, e)
    })
}

/// Pretty JSON of `value`, atomically written to `path`.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| write_error(path, e))?;
    write_atomic(path, (text + "\n").as_bytes())
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::run(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("majmin-out-test-{}", std::process::id()));
        let path = dir.join("sub").join("a.json");
        write_json(&path, &serde_json::json!({"x": 1})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"x\": 1"));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_where_a_folder_should_be_is_bad_input_naming_it() {
        let dir = std::env::temp_dir().join(format!("majmin-out-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("taken");
        std::fs::write(&file, "x").unwrap();
        let e = ensure_dir(&file).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("is a regular file; expected a folder"),
            "{}",
            e.message
        );
        let e = ensure_dir(&file.join("below")).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("taken is a regular file, not a folder"),
            "{}",
            e.message
        );
        let e = check_output_file("--figure", &dir).unwrap_err();
        assert!(e.message.contains("--figure") && e.message.contains("is a folder"));
        let e = write_atomic(&dir, b"x").unwrap_err();
        assert_eq!(e.code, 2);
        // a FIFO (as a device would be) is refused, never replaced by the rename
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = write_atomic(&fifo, b"x").unwrap_err();
        assert!(e.message.contains("is a FIFO"), "{}", e.message);
        let e = check_output_file("--csv", &fifo).unwrap_err();
        assert!(
            e.message.starts_with("--csv: ") && e.message.contains("FIFO"),
            "{}",
            e.message
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
