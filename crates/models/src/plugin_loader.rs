//! The plugin loader: reads a manifest, checks and loads each library, and registers its
//! architectures beside the built-ins.
//!
//! A manifest lists libraries with their SHA-256 (paths are relative to the manifest):
//!
//! ```toml
//! [[plugin]]
//! name = "lenet"
//! path = "target/release/liblenet_plugin.so"
//! sha256 = "3f…"   # `sha256sum target/release/liblenet_plugin.so`
//! ```
//!
//! Each entry is checked in this order, and the first failure is one [`PluginError`] naming the
//! plugin, the file and the cause: the file exists and is a regular file; its SHA-256 matches;
//! it is a loadable library; it exports [`ENTRY_SYMBOL`]; the declaration's magic number and ABI
//! version match (majmin-core's [`read_declaration`]); its architecture names clash neither with
//! the registry's nor with each other's. Nothing is registered unless every entry passes.
//!
//! Libraries are never unloaded: a loaded [`libloading::Library`] is leaked, because the
//! architectures keep `'static` pointers into it.
//!
//! ```no_run
//! use majmin_models::plugin_loader::register_plugins;
//! use majmin_models::Registry;
//!
//! let mut registry = Registry::builtin();
//! let loaded = register_plugins(&mut registry, "plugins.toml".as_ref()).unwrap();
//! for plugin in &loaded {
//!     println!("{} {}: {:?}", plugin.name, plugin.version, plugin.architectures);
//! }
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use majmin_core::plugin::abi::{EntryFn, ENTRY_SYMBOL, ENTRY_SYMBOL_NUL};
use majmin_core::plugin::host::{read_declaration, DeclarationError};
use majmin_core::Architecture;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::registry::{Registry, Source};

/// Why a manifest or a plugin was refused.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum PluginError {
    /// The manifest cannot be read or parsed.
    #[error("plugin manifest {}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The library file does not exist.
    #[error("plugin `{plugin}`: file {} does not exist (paths in the manifest are relative to the manifest's directory; build the plugin with `cargo build --release`)", file.display())]
    FileMissing {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
    },
    /// The library path exists but is no regular file (a folder, `/dev/null`, a FIFO).
    #[error("plugin `{plugin}`: {} is {kind}; expected a shared library file (e.g. `liblenet_plugin.so`)", file.display())]
    NotAFile {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// What it is: "a folder", "a character device", …
        kind: String,
    },
    /// The library cannot be read.
    #[error("plugin `{plugin}`: cannot read {}: {cause}", file.display())]
    Unreadable {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// The I/O error.
        cause: String,
    },
    /// The file's SHA-256 differs from the manifest's.
    #[error("plugin `{plugin}`: sha256 mismatch for {}: the manifest says {expected}, the file hashes to {actual}; the library changed since the manifest was written — rebuild it or update the manifest's sha256 (`sha256sum FILE`) if you trust the new file", file.display())]
    HashMismatch {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// The manifest's hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// The file is not a dynamic library this system can load.
    #[error("plugin `{plugin}`: {} is not a loadable dynamic library: {cause}", file.display())]
    NotALibrary {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// The dynamic loader's message.
        cause: String,
    },
    /// The library does not export the entry symbol.
    #[error("plugin `{plugin}`: {} has no symbol `{symbol}`: it is not a majmin plugin (plugins export it with `majmin_core::export_plugin!`)", file.display())]
    SymbolMissing {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The declaration was refused: magic number, ABI version, strings, or the architecture
    /// list failed (a panicking constructor included).
    #[error("plugin `{plugin}`: {}: {cause}", file.display())]
    Declaration {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// What was wrong.
        cause: DeclarationError,
    },
    /// An architecture name is already taken.
    #[error("plugin `{plugin}`: {}: architecture `{arch}` is already registered by {other}; architecture names must be unique", file.display())]
    DuplicateName {
        /// Plugin name from the manifest.
        plugin: String,
        /// The resolved path.
        file: PathBuf,
        /// The clashing architecture name.
        arch: String,
        /// Who has it: `builtin` or `plugin:NAME`.
        other: String,
    },
}

/// One `[[plugin]]` entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The plugin's name (the registry's source is `plugin:NAME`).
    pub name: String,
    /// The library path, resolved against the manifest's directory.
    pub path: PathBuf,
    /// The expected SHA-256 of the file, 64 lowercase hexadecimal digits.
    pub sha256: String,
}

/// A parsed plugin manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its entries, in file order.
    pub plugins: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    plugin: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    path: PathBuf,
    sha256: String,
}

/// The largest manifest read (1 MiB): thousands of entries.
pub const MANIFEST_MAX_BYTES: u64 = 1 << 20;

/// What a file type is, in words ("a folder", "a character device").
fn kind_of(file_type: &std::fs::FileType) -> &'static str {
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
    } else {
        "not a regular file"
    }
}

impl Manifest {
    /// Reads and parses the manifest at `path`: a regular file (never a folder, a FIFO or a
    /// device such as `/dev/zero`) of at most [`MANIFEST_MAX_BYTES`] of UTF-8 text.
    pub fn read(path: &Path) -> Result<Self, PluginError> {
        use std::io::Read as _;
        let bad = |message: String| PluginError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(bad(format!(
                "is {}; expected a TOML file listing `[[plugin]]` tables",
                kind_of(&meta.file_type())
            )));
        }
        let too_big = |size: u64| {
            bad(format!(
                "{size} bytes is more than the limit of {MANIFEST_MAX_BYTES} bytes for a manifest"
            ))
        };
        if meta.len() > MANIFEST_MAX_BYTES {
            return Err(too_big(meta.len()));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MANIFEST_MAX_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        if bytes.len() as u64 > MANIFEST_MAX_BYTES {
            return Err(too_big(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            bad(format!(
                "not UTF-8 text (invalid byte at offset {}); expected a TOML file",
                e.utf8_error().valid_up_to()
            ))
        })?;
        Self::parse(&text, path)
    }

    /// Parses manifest text; relative library paths are resolved against `path`'s directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PluginError> {
        let bad = |message: String| PluginError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            bad(format!(
                "{}; expected `[[plugin]]` tables with `name`, `path` (relative to the manifest) and `sha256`",
                e.to_string().trim_end()
            ))
        })?;
        // `./` for a manifest in the working directory: a bare file name would make the
        // dynamic loader search its library path instead of the manifest's directory.
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut seen = BTreeSet::new();
        let mut plugins = Vec::with_capacity(raw.plugin.len());
        for (i, entry) in raw.plugin.into_iter().enumerate() {
            let name = entry.name.trim().to_string();
            if name.is_empty() {
                return Err(bad(format!("plugin entry {}: `name` is empty", i + 1)));
            }
            if !seen.insert(name.clone()) {
                return Err(bad(format!(
                    "plugin `{name}` is listed twice; plugin names must be unique"
                )));
            }
            let sha256 = entry.sha256.trim().to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "plugin `{name}`: sha256 = \"{}\" is not 64 hexadecimal digits; compute it with `sha256sum {}`",
                    entry.sha256,
                    entry.path.display()
                )));
            }
            plugins.push(ManifestEntry {
                name,
                path: base.join(&entry.path),
                sha256,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            plugins,
        })
    }
}

/// The SHA-256 of `bytes`, as 64 lowercase hexadecimal digits (what `sha256sum` prints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The SHA-256 of the file at `path`, read in 64 KiB pieces.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut s = String::with_capacity(64);
    for b in hasher.finalize() {
        let _ = write!(s, "{b:02x}");
    }
    Ok(s)
}

/// A plugin that passed every check.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The name in the manifest (the source `plugin:NAME`).
    pub name: String,
    /// The version the library declares.
    pub version: String,
    /// The library file.
    pub path: PathBuf,
    /// Its architecture names, in the plugin's order.
    pub architectures: Vec<String>,
    /// The architectures themselves.
    pub entries: Vec<Arc<dyn Architecture>>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("path", &self.path)
            .field("architectures", &self.architectures)
            .finish()
    }
}

/// Checks and loads one manifest entry (file, hash, library, symbol, magic and version), and
/// returns its architectures. Names are not checked here (see [`register_plugins`]).
pub fn load_plugin(entry: &ManifestEntry) -> Result<LoadedPlugin, PluginError> {
    let (plugin, file) = (entry.name.clone(), entry.path.clone());
    let unreadable = |e: std::io::Error| PluginError::Unreadable {
        plugin: entry.name.clone(),
        file: entry.path.clone(),
        cause: e.to_string(),
    };
    let meta = match std::fs::metadata(&file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PluginError::FileMissing { plugin, file })
        }
        Err(e) => return Err(unreadable(e)),
    };
    if !meta.is_file() {
        let kind = kind_of(&meta.file_type()).to_string();
        return Err(PluginError::NotAFile { plugin, file, kind });
    }
    // hashed in pieces: a library of any size is never held in memory whole
    let actual = sha256_file(&file).map_err(unreadable)?;
    if actual != entry.sha256 {
        return Err(PluginError::HashMismatch {
            plugin,
            file,
            expected: entry.sha256.clone(),
            actual,
        });
    }
    // SAFETY: loading a library runs its initialisers. The file's hash matches the manifest,
    // which is the user's statement that they trust this exact file.
    let library =
        unsafe { libloading::Library::new(&file) }.map_err(|e| PluginError::NotALibrary {
            plugin: plugin.clone(),
            file: file.clone(),
            cause: e.to_string(),
        })?;
    // SAFETY: the symbol is declared by `export_plugin!` with exactly the `EntryFn` signature;
    // a library that exports the name with another type is outside the contract.
    let entry_fn: EntryFn = match unsafe { library.get::<EntryFn>(ENTRY_SYMBOL_NUL) } {
        Ok(symbol) => *symbol,
        Err(_) => {
            return Err(PluginError::SymbolMissing {
                plugin,
                file,
                symbol: ENTRY_SYMBOL,
            })
        }
    };
    // Never unloaded: the architectures keep `'static` pointers into the library.
    std::mem::forget(library);
    // SAFETY: the entry function returns a pointer to its declaration (or null); the library
    // stays loaded for the rest of the process, as `read_declaration` requires.
    let descriptor = unsafe { read_declaration(entry_fn(), rayon::current_num_threads()) }
        .map_err(|cause| PluginError::Declaration {
            plugin: plugin.clone(),
            file: file.clone(),
            cause,
        })?;
    if descriptor.name != entry.name {
        tracing::warn!(manifest = %entry.name, declared = %descriptor.name, "plugin name in the manifest differs from the library's");
    }
    tracing::info!(plugin = %entry.name, version = %descriptor.version, file = %file.display(), architectures = descriptor.architectures.len(), "loaded plugin");
    let architectures = descriptor
        .architectures
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    let entries = descriptor
        .architectures
        .into_iter()
        .map(|a| Arc::new(a) as Arc<dyn Architecture>)
        .collect();
    Ok(LoadedPlugin {
        name: entry.name.clone(),
        version: descriptor.version,
        path: file,
        architectures,
        entries,
    })
}

/// Loads every plugin of a manifest and returns its architectures with their sources
/// (`plugin:NAME`), checking names against `taken` (e.g. the built-ins) and each other.
pub fn load_manifest(
    manifest: &Manifest,
    taken: &Registry,
) -> Result<Vec<LoadedPlugin>, PluginError> {
    let mut owners: Vec<(String, String)> = taken
        .iter()
        .map(|e| (e.architecture.name().to_string(), e.source.to_string()))
        .collect();
    let mut loaded = Vec::with_capacity(manifest.plugins.len());
    for entry in &manifest.plugins {
        let plugin = load_plugin(entry)?;
        for arch in &plugin.architectures {
            if let Some((_, other)) = owners.iter().find(|(name, _)| name == arch) {
                return Err(PluginError::DuplicateName {
                    plugin: entry.name.clone(),
                    file: entry.path.clone(),
                    arch: arch.clone(),
                    other: other.clone(),
                });
            }
            owners.push((arch.clone(), Source::Plugin(entry.name.clone()).to_string()));
        }
        loaded.push(plugin);
    }
    Ok(loaded)
}

/// Reads the manifest at `path`, loads every plugin and registers their architectures in
/// `registry` (source `plugin:NAME`). On any failure nothing is registered.
pub fn register_plugins(
    registry: &mut Registry,
    path: &Path,
) -> Result<Vec<LoadedPlugin>, PluginError> {
    let manifest = Manifest::read(path)?;
    let loaded = load_manifest(&manifest, registry)?;
    for plugin in &loaded {
        for arch in &plugin.entries {
            // `load_manifest` checked every name against the registry, so this cannot clash.
            registry
                .register(arch.clone(), Source::Plugin(plugin.name.clone()))
                .map_err(|_| PluginError::DuplicateName {
                    plugin: plugin.name.clone(),
                    file: plugin.path.clone(),
                    arch: arch.name().to_string(),
                    other: "another registry entry".into(),
                })?;
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_nothing_is_the_known_value() {
        assert_eq!(sha256_hex(b""), HASH);
    }

    #[test]
    fn manifest_paths_are_relative_to_the_manifest() {
        let text = format!(
            "[[plugin]]\nname = \"lenet\"\npath = \"lib/liblenet.so\"\nsha256 = \"{}\"\n",
            HASH.to_uppercase()
        );
        let m = Manifest::parse(&text, Path::new("/etc/majmin/plugins.toml")).unwrap();
        assert_eq!(m.plugins[0].path, Path::new("/etc/majmin/lib/liblenet.so"));
        assert_eq!(m.plugins[0].sha256, HASH);
        assert!(Manifest::parse("", Path::new("p.toml"))
            .unwrap()
            .plugins
            .is_empty());
        let here = format!("[[plugin]]\nname = \"x\"\npath = \"libx.so\"\nsha256 = \"{HASH}\"\n");
        let m = Manifest::parse(&here, Path::new("plugins.toml")).unwrap();
        assert_eq!(m.plugins[0].path, Path::new("./libx.so"));
    }

    #[test]
    fn manifest_errors_name_the_problem() {
        let p = Path::new("p.toml");
        let e = Manifest::parse("[[plugin]]\nname = \"x\"\npath = \"a.so\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.toml") && e.contains("sha256"), "{e}");
        let e = Manifest::parse(
            "[[plugin]]\nname = \"x\"\npath = \"a.so\"\nsha256 = \"abc\"\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not 64 hexadecimal digits"), "{e}");
        let twice =
            format!("[[plugin]]\nname = \"x\"\npath = \"a.so\"\nsha256 = \"{HASH}\"\n").repeat(2);
        assert!(Manifest::parse(&twice, p)
            .unwrap_err()
            .to_string()
            .contains("listed twice"));
    }

    #[test]
    fn missing_file_then_hash_then_library_are_checked_in_order() {
        let dir = std::env::temp_dir().join(format!("majmin-loader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-a-library.so");
        let entry = |sha256: &str| ManifestEntry {
            name: "bad".into(),
            path: file.clone(),
            sha256: sha256.into(),
        };
        assert!(matches!(
            load_plugin(&entry(HASH)),
            Err(PluginError::FileMissing { .. })
        ));
        std::fs::write(&file, b"this is text, not ELF").unwrap();
        let e = load_plugin(&entry(HASH)).unwrap_err();
        assert!(
            matches!(e, PluginError::HashMismatch { .. })
                && e.to_string().contains("sha256 mismatch"),
            "{e}"
        );
        let actual = sha256_hex(&std::fs::read(&file).unwrap());
        assert_eq!(sha256_file(&file).unwrap(), actual);
        let e = load_plugin(&entry(&actual)).unwrap_err();
        assert!(matches!(e, PluginError::NotALibrary { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_or_a_device_is_named_for_what_it_is() {
        for (path, kind) in [("/", "a folder"), ("/dev/null", "a character device")] {
            let entry = ManifestEntry {
                name: "p".into(),
                path: path.into(),
                sha256: HASH.into(),
            };
            let e = load_plugin(&entry).unwrap_err();
            assert!(matches!(e, PluginError::NotAFile { .. }), "{e}");
            let text = e.to_string();
            assert!(
                text.contains(kind) && text.contains("expected a shared library file"),
                "{text}"
            );
        }
        let e = Manifest::read(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("character device"),
            "{e}"
        );
        let e = Manifest::read(Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("is a folder"), "{e}");
    }
}
