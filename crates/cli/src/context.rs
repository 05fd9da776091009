//! What every command receives: the global options, progress bars and run manifests.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use majmin_models::plugin_loader::PluginError;
use serde::Serialize;

use crate::error::CliError;
use crate::output::write_json;

/// The global options, resolved (command line over `--config` file over defaults).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// `--seed`: the master seed of every random choice.
    pub seed: u64,
    /// `--threads`: worker threads (None: all cores).
    pub threads: Option<usize>,
    /// `--json`: machine-readable output on stdout.
    pub json: bool,
    /// `-q`: no progress bars, only errors on stderr.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `--plugins` / `MAJMIN_PLUGINS`: the plugin manifest.
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub plugins: Option<PathBuf>,
    /// `--config`: the configuration file that was read, if any.
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub config: Option<PathBuf>,
    /// The command line as typed (arguments that are not UTF-8 are stored lossily, with U+FFFD).
    pub command_line: Vec<String>,
}

impl Context {
    /// Whether progress bars should be drawn (stderr is a terminal and not `-q`).
    pub fn show_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// A progress bar of `len` steps on stderr (hidden when not a terminal or with `-q`).
    pub fn progress(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        if !self.show_progress() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:32} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }

    /// The number of worker threads in use.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(rayon::current_num_threads)
    }

    /// The architecture registry every command uses: the built-in architectures, then those of
    /// the plugins listed in the manifest given by `--plugins` / `MAJMIN_PLUGINS` (source
    /// `plugin:NAME`). Any plugin failure — manifest, missing file, hash, library, symbol,
    /// magic or ABI version, duplicate name, a panicking constructor — is a usage error (exit 2)
    /// naming the plugin, the file and the cause.
    pub fn registry(&self) -> Result<majmin_models::Registry, CliError> {
        let mut registry = majmin_models::Registry::builtin();
        let manifest = self
            .plugins
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(manifest) = manifest {
            // The loader passes the global pool's size (`--threads`) to every plugin, whose own
            // copy of rayon sizes its pool from it.
            majmin_models::plugin_loader::register_plugins(&mut registry, manifest).map_err(
                |e| match e {
                    PluginError::Manifest { .. } => CliError::usage(e),
                    _ => CliError::usage(format!(
                        "{e} (listed in {}, from --plugins or MAJMIN_PLUGINS)",
                        manifest.display()
                    )),
                },
            )?;
        }
        Ok(registry)
    }

    /// Writes `DIR/manifest.json`: version, command line, resolved configuration and seed, so that
    /// a result can be reproduced (docs/command-line.md).
    pub fn write_manifest(
        &self,
        dir: &Path,
        command: &str,
        resolved: &impl Serialize,
    ) -> Result<(), CliError> {
        let lossy = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        // `to_value`, not `json!`, whose unwrap would panic on a value that cannot be encoded
        let resolved = serde_json::to_value(resolved).map_err(|e| {
            crate::error::write_error(
                &dir.join("manifest.json"),
                format!("cannot encode the configuration: {e}"),
            )
        })?;
        let manifest = serde_json::json!({
            "majmin_version": env!("CARGO_PKG_VERSION"),
            "command": command,
            "command_line": self.command_line,
            "seed": self.seed,
            "threads": self.thread_count(),
            "config_file": lossy(&self.config),
            "plugins": lossy(&self.plugins),
            "resolved": resolved,
            "written_at_unix": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        });
        write_json(&dir.join("manifest.json"), &manifest)
    }
}

/// The memory this process may still use, in bytes, and where the figure comes from: the
/// smaller of `MemAvailable` in `/proc/meminfo` and the address-space limit (`ulimit -v`).
/// Sizes that come from input are checked against it before anything is allocated (docs/reliability.md).
/// Where neither can be read, [`MEMORY_FALLBACK_BYTES`].
pub fn available_memory() -> (u64, &'static str) {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib.saturating_mul(1024))
        });
    let rlimit = address_space_limit();
    match (meminfo, rlimit) {
        (Some(m), Some(r)) if r < m => (r, "the address-space limit (ulimit -v)"),
        (Some(m), _) => (m, "MemAvailable in /proc/meminfo"),
        (None, Some(r)) => (r, "the address-space limit (ulimit -v)"),
        (None, None) => (MEMORY_FALLBACK_BYTES, "majmin's default limit"),
    }
}

/// The memory assumed available where the system does not say (8 GiB).
pub const MEMORY_FALLBACK_BYTES: u64 = 8 << 30;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through a valid pointer.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn address_space_limit() -> Option<u64> {
    None
}

/// A byte count for messages: `1.5 GiB`, `12.0 MiB`, `512 bytes`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024.0 {
        return format!("{bytes:.0} bytes");
    }
    let mut value = bytes / 1024.0;
    for unit in UNITS {
        if value < 1024.0 || unit == "EiB" {
            return format!("{value:.1} {unit}");
        }
        value /= 1024.0;
    }
    unreachable!("the loop returns at EiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_known_and_bytes_read_well() {
        let (bytes, source) = available_memory();
        assert!(bytes > 0, "{source}");
        assert_eq!(format_bytes(512.0), "512 bytes");
        assert_eq!(format_bytes(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5 GiB");
        assert!(format_bytes(1e30).ends_with("EiB"));
    }
}
