//! Plugins end to end through the `majmin` binary: a manifest written the way a tester would
//! (relative paths, `sha256sum` hashes) lists and trains `lenet` on the digits; every refused
//! plugin exits with code 2 and one clear message; a plugin that panics never crashes the host.

#[path = "../../../plugins/test_support.rs"]
mod test_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use majmin_models::plugin_loader::sha256_hex;
use serde_json::Value;
use test_support::library_file;

fn majmin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_majmin"));
    command
        .args(args)
        .env_remove("MAJMIN_PLUGINS")
        .env_remove("MAJMIN_TESTBAD");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the majmin binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory for one test.
fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("majmin-plugins-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies the plugin libraries `(plugin name, crate name)` into `dir/lib/` and writes
/// `dir/plugins.toml` listing them by relative path with their hashes.
fn manifest(dir: &Path, plugins: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let mut text = String::new();
    for (name, krate) in plugins {
        let source = library_file(krate);
        let file_name = source.file_name().unwrap().to_str().unwrap().to_string();
        let copy = dir.join("lib").join(&file_name);
        std::fs::copy(&source, &copy).unwrap();
        let sha = sha256_hex(&std::fs::read(&copy).unwrap());
        text.push_str(&format!(
            "[[plugin]]\nname = \"{name}\"\npath = \"lib/{file_name}\"\nsha256 = \"{sha}\"\n\n"
        ));
    }
    let path = dir.join("plugins.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `models list` with `manifest` and asserts a refusal: exit 2, one message containing
/// every piece of `expected`, no internal error.
fn refused(manifest: &Path, env: &[(&str, &str)], expected: &[&str]) {
    let o = majmin(
        &["--plugins", manifest.to_str().unwrap(), "models", "list"],
        env,
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    for piece in expected {
        assert!(err.contains(piece), "`{piece}` missing from: {err}");
    }
    assert!(!err.contains("internal error"), "{err}");
}

#[test]
fn models_list_shows_the_example_plugins() {
    let dir = tmp("list");
    let path = manifest(
        &dir,
        &[("lenet", "lenet_plugin"), ("densenet", "densenet_plugin")],
    );
    // The manifest from the environment, as `MAJMIN_PLUGINS=plugins.toml majmin models list`.
    let o = majmin(
        &["models", "list", "--json"],
        &[("MAJMIN_PLUGINS", path.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {rows}"))
            .clone()
    };
    assert_eq!(row("lenet")["source"], "plugin:lenet");
    assert_eq!(row("lenet")["params"], 61_706);
    assert_eq!(row("densenet-bc")["source"], "plugin:densenet");
    assert_eq!(row("resnet18")["source"], "builtin");
    let text = majmin(
        &["--plugins", path.to_str().unwrap(), "models", "list"],
        &[],
    );
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("plugin:lenet"));
    // The table stays aligned with plugin sources: every row's structure column starts where
    // the header's does.
    let header = text.lines().next().unwrap();
    let start = header.find("structure").unwrap();
    for line in text.lines().skip(1) {
        let Some(source) = line.find(" builtin ").or_else(|| line.find(" plugin:")) else {
            continue;
        };
        let after = &line[source + 1..];
        let token = after.find(' ').unwrap();
        let gap = after[token..].len() - after[token..].trim_start().len();
        let at = line[..source + 1 + token + gap].chars().count();
        assert_eq!(at, start, "misaligned row: {line}");
    }
}

#[test]
fn lenet_trains_on_the_digits_as_a_plugin() {
    let dir = tmp("train");
    let path = manifest(&dir, &[("lenet", "lenet_plugin")]);
    let out = dir.join("run");
    let o = majmin(
        &[
            "--plugins",
            path.to_str().unwrap(),
            "-q",
            "train",
            "--arch",
            "lenet",
            "--data",
            "digits",
            "--zeta",
            "0.5",
            "--steps",
            "40",
            "--momentum",
            "0.9",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    assert!(
        curves.lines().count() > 3 && curves.contains("minority"),
        "{curves}"
    );
}

#[test]
fn one_changed_byte_is_refused_naming_the_hash() {
    let dir = tmp("hash");
    let path = manifest(&dir, &[("lenet", "lenet_plugin")]);
    let file = dir
        .join("lib")
        .join(library_file("lenet_plugin").file_name().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let expected = sha256_hex(&bytes);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&file, &bytes).unwrap();
    refused(
        &path,
        &[],
        &[
            "plugin `lenet`",
            "sha256 mismatch",
            &expected,
            &sha256_hex(&bytes),
        ],
    );
}

#[test]
fn missing_file_not_a_library_and_no_symbol_are_refused() {
    let dir = tmp("files");
    let path = dir.join("plugins.toml");
    let fake_hash = "0".repeat(64);
    std::fs::write(
        &path,
        format!(
            "[[plugin]]\nname = \"ghost\"\npath = \"lib/libghost.so\"\nsha256 = \"{fake_hash}\"\n"
        ),
    )
    .unwrap();
    refused(
        &path,
        &[],
        &["plugin `ghost`", "libghost.so", "does not exist"],
    );

    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/libtext.so"), "not a library\n").unwrap();
    let sha = sha256_hex(b"not a library\n");
    std::fs::write(
        &path,
        format!("[[plugin]]\nname = \"text\"\npath = \"lib/libtext.so\"\nsha256 = \"{sha}\"\n"),
    )
    .unwrap();
    refused(
        &path,
        &[],
        &[
            "plugin `text`",
            "libtext.so",
            "not a loadable dynamic library",
        ],
    );

    let path = manifest(&dir, &[("nosymbol", "nosymbol_plugin")]);
    refused(
        &path,
        &[],
        &["plugin `nosymbol`", "no symbol `majmin_plugin_declaration`"],
    );

    std::fs::write(&path, "[[plugin]]\nname = \"x\"\n").unwrap();
    refused(&path, &[], &["plugin manifest", "missing field"]);
}

#[test]
fn broken_declarations_are_refused() {
    let dir = tmp("declarations");
    let path = manifest(&dir, &[("testbad", "testbad_plugin")]);
    let mode = |m: &'static str| [("MAJMIN_TESTBAD", m)];
    refused(
        &path,
        &mode("wrong-magic"),
        &["plugin `testbad`", "wrong magic number"],
    );
    let host_abi = format!("ABI version {}", majmin_core::plugin::abi::ABI_VERSION);
    refused(
        &path,
        &mode("wrong-abi"),
        &["plugin `testbad`", "ABI version 42", &host_abi],
    );
    refused(
        &path,
        &mode("list-panic"),
        &[
            "plugin `testbad`",
            "panicked",
            "the architecture list exploded",
        ],
    );
    refused(
        &path,
        &mode("duplicate"),
        &[
            "plugin `testbad`",
            "architecture `mlp` is already registered by builtin",
        ],
    );
    // The same library in its normal mode is fine.
    let o = majmin(
        &["--plugins", path.to_str().unwrap(), "models", "list"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn duplicate_names_between_plugins_are_refused() {
    let dir = tmp("duplicate");
    let path = manifest(
        &dir,
        &[("lenet", "lenet_plugin"), ("lenet2", "lenet_plugin")],
    );
    refused(
        &path,
        &[],
        &[
            "plugin `lenet2`",
            "architecture `lenet` is already registered by plugin:lenet",
        ],
    );
}

fn train_testbad(dir: &Path, manifest: &Path, mode: &str) -> Output {
    majmin(
        &[
            "--plugins",
            manifest.to_str().unwrap(),
            "-q",
            "train",
            "--arch",
            "testbad",
            "--steps",
            "2",
            "--out",
            dir.join(mode).to_str().unwrap(),
        ],
        &[("MAJMIN_TESTBAD", mode)],
    )
}

#[test]
fn a_panicking_constructor_exits_2_without_crashing() {
    let dir = tmp("build-panic");
    let path = manifest(&dir, &[("testbad", "testbad_plugin")]);
    let o = train_testbad(&dir, &path, "build-panic");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plugin `testbad`") && err.contains("the testbad constructor exploded"),
        "{err}"
    );
    assert!(!err.contains("internal error"), "{err}");
}

#[test]
fn a_panicking_loss_fails_the_run_without_crashing() {
    let dir = tmp("loss-panic");
    let path = manifest(&dir, &[("testbad", "testbad_plugin")]);
    let o = train_testbad(&dir, &path, "loss-panic");
    let err = stderr(&o);
    // The host reports the caught panic as bad input (the plugin is the user's), exit 2 — never a
    // crash (101) or a signal.
    assert!(o.status.code() == Some(2), "{:?}: {err}", o.status);
    assert!(
        err.contains("loss_and_gradient panicked: testbad loss exploded"),
        "{err}"
    );
    assert!(!err.contains("internal error"), "{err}");
}
