//! Builds the plugin libraries for a test binary and finds them (shared by
//! `tests/tests/plugins.rs` and `crates/cli/tests/plugins_cli.rs` through `#[path]`).
//!
//! A test must not assume a prebuilt library, so the first call runs `cargo build -p …` for
//! the plugin packages, with the test binary's own target directory and profile: the test
//! executable lives in `TARGET/PROFILE/deps/`, so the libraries land in `TARGET/PROFILE/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The plugin packages the tests load.
pub const PACKAGES: [&str; 4] = [
    "lenet-plugin",
    "densenet-plugin",
    "testbad-plugin",
    "nosymbol-plugin",
];

/// The directory holding the freshly built plugin libraries (built once per test binary).
pub fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_plugins)
}

/// The file name of the library of `crate_name` (e.g. `lenet_plugin`) on this platform.
pub fn library_file(crate_name: &str) -> PathBuf {
    plugin_dir().join(format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn workspace_root() -> PathBuf {
    // Both users of this file sit two levels or one level below the workspace root; the root is
    // the first ancestor whose Cargo.toml declares `[workspace]`.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .map(|t| t.contains("[workspace]"))
                .unwrap_or(false)
        })
        .expect("the workspace root above CARGO_MANIFEST_DIR")
        .to_path_buf()
}

fn build_plugins() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // TARGET/PROFILE/deps/test-binary
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary inside TARGET/PROFILE/deps")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("TARGET above PROFILE")
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .arg("build")
        .arg("--quiet");
    for package in PACKAGES {
        command.args(["-p", package]);
    }
    command.arg("--target-dir").arg(&target_dir);
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let status = command.status().expect("cargo runs");
    assert!(
        status.success(),
        "building the plugin libraries failed: {command:?}"
    );
    profile_dir
}
