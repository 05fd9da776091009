//! End to end: `majmin data info` on the embedded digits, a missing folder and a truncated IDX file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `majmin` binary: `CARGO_BIN_EXE_majmin` if set, else `<target>/<profile>/majmin` next to
/// this test's `deps/` folder, built with `cargo build -p majmin` when it is not there yet.
fn majmin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("CARGO_BIN_EXE_majmin") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps");
        let bin = profile_dir.join(format!("majmin{}", std::env::consts::EXE_SUFFIX));
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build.args(["build", "--quiet", "-p", "majmin", "--bin", "majmin"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        // Always rebuild (a no-op when up to date) so a stale binary is never tested.
        let status = build.status().expect("run cargo build -p majmin");
        assert!(status.success(), "cargo build -p majmin failed");
        assert!(bin.is_file(), "no majmin binary at {}", bin.display());
        bin
    })
}

fn run(args: &[&str]) -> Output {
    Command::new(majmin())
        .args(args)
        .output()
        .expect("run majmin")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn digits_with_zeta_keeps_901_majority_and_90_minority() {
    let out = run(&["data", "info", "digits", "--zeta", "0.1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["majority"], 901);
    assert_eq!(json["minority"], 90);
    assert_eq!(json["n"], 991);
    assert_eq!(json["classes"], 10);
    assert_eq!(json["shape"], serde_json::json!([1, 8, 8]));
    let zeta = json["zeta"].as_f64().expect("zeta is a number");
    assert!((zeta - 90.0 / 901.0).abs() < 1e-12, "{zeta}");
    assert_eq!(json["source"]["n"], 1797);
    // stratified: the 90 minority samples are 18 of each of the digits 5–9
    assert_eq!(
        json["class_counts"],
        serde_json::json!([178, 182, 177, 183, 181, 18, 18, 18, 18, 18])
    );
}

#[test]
fn text_output_and_minority_classes() {
    let out = run(&[
        "data",
        "info",
        "digits,resize=16,channels=3",
        "--minority-classes",
        "8,9",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3×16×16"), "{text}");
    // digits 8 and 9: 174 + 180 samples
    assert!(
        text.contains("majority n1 = 1443, minority n0 = 354 (minority classes 8, 9)"),
        "{text}"
    );
}

#[test]
fn missing_mnist_folder_exits_2_naming_the_path() {
    let out = run(&["data", "info", "mnist:/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("/no/such/dir: no such folder"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_spec_and_bad_zeta_exit_2() {
    let out = run(&["data", "info", "digits,colour=red"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown option `colour`"),
        "{}",
        stderr(&out)
    );
    let out = run(&["data", "info", "digits", "--zeta", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("zeta"), "{}", stderr(&out));
}

#[test]
fn truncated_idx_exits_2_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    // 5 images of 28×28 announced, 1,000 pixel bytes present
    let mut images = Vec::new();
    for v in [0x0000_0803u32, 5, 28, 28] {
        images.extend_from_slice(&v.to_be_bytes());
    }
    images.extend(std::iter::repeat_n(7u8, 1000));
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), &images).unwrap();
    let mut labels = Vec::new();
    for v in [0x0000_0801u32, 5] {
        labels.extend_from_slice(&v.to_be_bytes());
    }
    labels.extend_from_slice(&[0, 1, 2, 3, 4]);
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &labels).unwrap();
    let spec = format!("mnist:{}", dir.path().display());
    let out = run(&["data", "info", &spec]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "train-images-idx3-ubyte: truncated at byte 1,016: expected 3,920 pixel bytes for 5 images of 28×28 \
             after the 16-byte header, found 1,000"
        ),
        "{err}"
    );
}
