//! Hostile input through the real `majmin` binary (docs/reliability.md, issue 11): every bad input exits with
//! code 2 and one message naming the option, file or key, its value and what was expected (and
//! the limit where one applies); nothing panics (exit 101), aborts or hangs, even under
//! `ulimit -v 4194304` with a 30 s timeout. Inputs are tiny: nothing here trains.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_majmin");

fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(BIN)
        .args(args)
        .env_remove("MAJMIN_PLUGINS")
        .env_remove("RUST_LOG")
        .output()
        .expect("the majmin binary runs")
}

/// Runs majmin under `ulimit -v 4194304` (4 GiB of address space) and a 30 s timeout.
fn limited(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec timeout 30 \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .env_remove("MAJMIN_PLUGINS")
        .output()
        .expect("sh runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code 2, no panic, and every `needle` in the message.
#[track_caller]
fn refused(out: &Output, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
    err
}

#[track_caller]
fn succeeded(out: &Output) {
    assert!(out.status.success(), "stderr: {}", stderr(out));
}

/// A fresh folder for one test.
fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `dir/<0xff>name`: a file name that is not UTF-8.
fn non_utf8(dir: &Path, name: &str) -> PathBuf {
    let mut bytes = dir.as_os_str().to_os_string().into_vec();
    bytes.extend_from_slice(b"/\xff");
    bytes.extend_from_slice(name.as_bytes());
    PathBuf::from(OsString::from_vec(bytes))
}

const CURVES: &str = "t,group,loss,accuracy\n0,all,2,\n0,majority,2,\n1,majority,1,\n\
    3,majority,0.5,\n4,majority,0.1,\n0,minority,2,\n1,minority,0.7,\n2,minority,0.3,\n";

#[test]
fn paths_that_are_not_utf8_work_everywhere() {
    let dir = tmp("utf8");
    // --figure and a coarse check
    let figure = non_utf8(&dir, "zone.svg");
    let out = run([
        OsStr::new("theory"),
        OsStr::new("--problem"),
        OsStr::new("cosine-grid"),
        OsStr::new("--grid"),
        OsStr::new("21"),
        OsStr::new("--figure"),
        figure.as_os_str(),
    ]);
    succeeded(&out);
    assert!(figure.is_file());
    // --csv
    let csv = non_utf8(&dir, "flow.csv");
    let out = run([
        OsStr::new("flow"),
        OsStr::new("--problem"),
        OsStr::new("cosine-grid"),
        OsStr::new("--init"),
        OsStr::new("1,1"),
        OsStr::new("--t-end"),
        OsStr::new("1"),
        OsStr::new("--csv"),
        csv.as_os_str(),
    ]);
    succeeded(&out);
    assert!(std::fs::read_to_string(&csv).unwrap().starts_with("t,"));
    // --curves and --figures
    let curves = non_utf8(&dir, "curves.csv");
    std::fs::write(&curves, CURVES).unwrap();
    let figures = non_utf8(&dir, "figures");
    let out = run([
        OsStr::new("metrics"),
        OsStr::new("overcost"),
        OsStr::new("--curves"),
        curves.as_os_str(),
        OsStr::new("--figures"),
        figures.as_os_str(),
    ]);
    succeeded(&out);
    assert!(figures.is_dir());
    // --config
    let config = non_utf8(&dir, "c.toml");
    std::fs::write(
        &config,
        "[flow]\nproblem = \"cosine-grid\"\ninit = [1, 1]\nt_end = 1\n",
    )
    .unwrap();
    let out = run([
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("flow"),
    ]);
    succeeded(&out);
    // --plugins: missing, named lossily
    let plugins = non_utf8(&dir, "plugins.toml");
    let out = run([
        OsStr::new("--plugins"),
        plugins.as_os_str(),
        OsStr::new("models"),
        OsStr::new("list"),
    ]);
    refused(&out, &["plugin manifest", "\u{FFFD}plugins.toml"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_text_value_that_is_not_utf8_names_the_option() {
    let spec = OsString::from_vec(b"digits\xff".to_vec());
    let out = run([OsStr::new("data"), OsStr::new("info"), spec.as_os_str()]);
    refused(&out, &["SPEC", "not valid UTF-8", "digits\u{FFFD}"]);
    let out = run([
        OsStr::new("train"),
        OsStr::new("--arch"),
        OsStr::new("mlp"),
        OsStr::new("--data"),
        spec.as_os_str(),
        OsStr::new("--out"),
        OsStr::new("/tmp/never-written"),
    ]);
    refused(&out, &["--data", "not valid UTF-8"]);
}

#[test]
fn bench_sizes_are_checked_before_allocating() {
    let out = limited(&["bench", "--arch", "resnet18", "--hw", "100000000"]);
    refused(&out, &["--hw 100000000", "4096"]);
    // within the per-option limit, beyond the memory: the need and the limit are named
    let out = limited(&[
        "bench", "--arch", "resnet18", "--hw", "2048", "--steps", "1",
    ]);
    let err = refused(
        &out,
        &["--hw 2048", "needs at least", "GiB", "the limit is"],
    );
    assert!(
        err.contains("ulimit -v") || err.contains("MemAvailable"),
        "{err}"
    );
    let out = limited(&["bench", "--arch", "mlp", "--batch", "65536", "--hw", "1024"]);
    refused(&out, &["needs at least", "the limit is"]);
    let out = limited(&["bench", "--kernel", "--batch", "60000"]);
    refused(&out, &["--batch 60000", "needs at least"]);
    for (option, value, needle) in [
        ("--batch", "0", "--batch 0"),
        ("--channels", "0", "--channels 0"),
        ("--classes", "0", "--classes 0"),
        ("--steps", "0", "--steps 0"),
        ("--width", "nan", "--width NaN"),
        ("--width", "1e400", "--width inf"),
        ("--width", "-1", "--width -1"),
        ("--batch", "99999999999999999999999", "--batch"),
    ] {
        let out = run(["bench", "--arch", "mlp", option, value]);
        let err = refused(&out, &[needle, "expected"]);
        // one paragraph (clap adds its `--help` hint after a blank line)
        let first = err.split("\n\n").next().unwrap();
        assert_eq!(first.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn a_config_file_fills_in_but_never_merges_or_overrides() {
    let dir = tmp("config");
    // required options from the file; a list on the command line replaces the file's list
    let config = write(
        &dir,
        "c.toml",
        "[flow]\nproblem = \"cosine-grid\"\ninit = [9, 9, 9]\nt_end = 1\n",
    );
    let out = run(["--config", s(&config), "flow", "--init", "1,1"]);
    succeeded(&out);
    let out = run(["--json", "--config", s(&config), "flow", "--init", "1,1"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["t_final"].as_f64(), Some(1.0));
    // the file's list alone: three values for a 2-D problem, refused by the command
    let out = run(["--config", s(&config), "flow"]);
    refused(&out, &["--init has 3 values"]);
    // the command line over the file
    let out = run([
        "--json",
        "--config",
        s(&config),
        "flow",
        "--init",
        "1,1",
        "--t-end",
        "2",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["t_final"].as_f64(), Some(2.0));

    // a nested command's table gives its required option; the command line's list replaces
    let curves = write(&dir, "curves.csv", CURVES);
    let nested = write(
        &dir,
        "nested.toml",
        &format!(
            "[metrics.overcost]\ncurves = {:?}\nkappas = [0.5, 0.7]\n",
            s(&curves)
        ),
    );
    let out = run(["--config", s(&nested), "metrics", "overcost"]);
    succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("κ = 0.5") && text.contains("κ = 0.7"),
        "{text}"
    );
    let out = run([
        "--config",
        s(&nested),
        "metrics",
        "overcost",
        "--kappas",
        "0.6",
    ]);
    succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("κ = 0.6") && !text.contains("κ = 0.5"),
        "{text}"
    );

    // a wrong value names the file, the line, the key, the value and what was expected
    let bad = write(&dir, "bad.toml", "seed = 1\n\n[flow]\nt_end = \"one\"\n");
    let out = run([
        "--config",
        s(&bad),
        "flow",
        "--problem",
        "cosine-grid",
        "--init",
        "1,1",
    ]);
    refused(
        &out,
        &[
            "bad.toml:4",
            "t_end",
            "\"one\"",
            "expected a number",
            "--t-end",
        ],
    );
    let bad = write(&dir, "threads.toml", "threads = 0\n");
    let out = run(["--config", s(&bad), "models", "list"]);
    refused(&out, &["threads.toml:1", "`threads`", "1..=1024"]);
    let bad = write(&dir, "flag.toml", "json = \"yes\"\n");
    let out = run(["--config", s(&bad), "models", "list"]);
    refused(&out, &["flag.toml:1", "`json`", "true or false"]);
    let bad = write(&dir, "unknown.toml", "[flow]\nepochs = 3\n");
    let out = run([
        "--config",
        s(&bad),
        "flow",
        "--problem",
        "cosine-grid",
        "--init",
        "1,1",
    ]);
    refused(&out, &["unknown.toml:2", "epochs", "majmin flow"]);
    let bad = write(&dir, "syntax.toml", "seed = 1\nseed = [\n");
    let out = run(["--config", s(&bad), "models", "list"]);
    refused(&out, &["syntax.toml:", "not valid TOML"]);

    // not a regular file, too big, not UTF-8
    let out = run(["--config", "/dev/zero", "models", "list"]);
    refused(
        &out,
        &["--config /dev/zero", "character device", "TOML file"],
    );
    let out = run(["--config", s(&dir), "models", "list"]);
    refused(&out, &["is a folder"]);
    let big = write(&dir, "big.toml", &"# padding\n".repeat(110_000));
    let out = run(["--config", s(&big), "models", "list"]);
    refused(&out, &["big.toml", "1048576"]);
    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"seed = 1\n# caf\xe9\n").unwrap();
    let out = run(["--config", s(&latin1), "models", "list"]);
    refused(&out, &["latin1.toml:2", "not UTF-8"]);
    let out = run(["--config", s(&dir.join("missing.toml")), "models", "list"]);
    refused(&out, &["missing.toml", "no such file"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn each_number_option_has_its_own_message() {
    let flow = |extra: &[&str]| {
        let mut args = vec!["flow", "--problem", "cosine-grid", "--init", "1,1"];
        args.extend_from_slice(extra);
        run(args)
    };
    let err = refused(&flow(&["--step", "0"]), &["--step 0", "positive"]);
    assert!(!err.contains("--rtol") && !err.contains("--atol"), "{err}");
    let err = refused(&flow(&["--rtol", "0"]), &["--rtol 0", "1e-14"]);
    assert!(!err.contains("--step"), "{err}");
    refused(&flow(&["--atol", "-1"]), &["--atol -1", "≥ 0"]);
    refused(&flow(&["--atol", "nan"]), &["--atol NaN"]);
    refused(&flow(&["--t-end", "-inf"]), &["--t-end -inf"]);
    refused(&flow(&["--t-end", "1e400"]), &["--t-end inf"]);
    refused(&flow(&["--bench", "0"]), &["--bench 0", "1 to 1000"]);
    refused(
        &flow(&["--method", "euler", "--step", "1e-300"]),
        &["--step 1e-300", "10000000 steps"],
    );
    refused(
        &run(["flow", "--problem", "cosine-grid", "--init", "nan,1"]),
        &["--init", "NaN", "finite"],
    );
    refused(
        &flow(&["--step", "x"]),
        &["'x'", "--step", "expected a number"],
    );

    let theory = |extra: &[&str]| {
        let mut args = vec!["theory", "--problem", "cosine-grid"];
        args.extend_from_slice(extra);
        run(args)
    };
    refused(&theory(&["--bench", "0"]), &["--bench 0", "1 to 1000"]);
    refused(&theory(&["--grid", "1"]), &["--grid 1", "at least 2"]);
    refused(
        &theory(&["--grid", "100000"]),
        &["--grid 100000", "4000000", "2000 per axis"],
    );
    refused(&theory(&["--starts", "0"]), &["--starts 0"]);
    refused(
        &theory(&["--starts", "18446744073709551615"]),
        &["--starts 18446744073709551615", "100000"],
    );
    refused(&theory(&["--samples", "0"]), &["--samples 0", "4000000"]);
    refused(&theory(&["--init", "inf,1"]), &["--init", "inf"]);

    // negative numbers reach the value parser, alone or in a list
    refused(
        &run([
            "metrics",
            "overcost",
            "--curves",
            "/nonexistent.csv",
            "--kappas",
            "-0.5",
        ]),
        &["--kappas", "-0.5", "(0, 1)"],
    );
    refused(
        &run([
            "overcost", "--archs", "mlp", "--kappas", "-0.5,0.9", "--out", "/tmp/x",
        ]),
        &["--kappas", "-0.5", "(0, 1)"],
    );
    refused(
        &run(["--threads", "-1", "models", "list"]),
        &["'-1'", "--threads", "1..=1024"],
    );
    refused(
        &run(["data", "info", "digits", "--zeta", "-0.5"]),
        &["'-0.5'", "--zeta", "ζ = -0.5 is out of range", "(0, 1]"],
    );
    refused(
        &run(["data", "info", "digits", "--zeta", "nan"]),
        &["'nan'", "--zeta", "ζ = NaN is out of range"],
    );
}

#[test]
fn plugin_paths_that_are_no_library_say_what_they_are() {
    let dir = tmp("plugins");
    let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for (path, kind) in [("/dev/null", "a character device"), (".", "a folder")] {
        let manifest = write(
            &dir,
            "plugins.toml",
            &format!("[[plugin]]\nname = \"p\"\npath = \"{path}\"\nsha256 = \"{hash}\"\n"),
        );
        let out = run(["--plugins", s(&manifest), "models", "list"]);
        let err = refused(
            &out,
            &["plugin `p`", kind, "expected a shared library file"],
        );
        assert!(!err.contains("does not exist"), "{err}");
    }
    let out = run(["--plugins", "/dev/zero", "models", "list"]);
    refused(&out, &["/dev/zero", "character device"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_output_folder_that_is_a_file_is_named() {
    let dir = tmp("out");
    let file = write(&dir, "taken", "x");
    let curves = write(&dir, "curves.csv", CURVES);
    let out = run([
        "metrics",
        "overcost",
        "--curves",
        s(&curves),
        "--figures",
        s(&file),
    ]);
    refused(
        &out,
        &["--figures", "taken", "is a regular file; expected a folder"],
    );
    let inside = file.join("zone.svg");
    let out = run(["theory", "--problem", "cosine-grid", "--figure", s(&inside)]);
    refused(&out, &["--figure", "taken", "is a regular file"]);
    let out = run(["theory", "--problem", "cosine-grid", "--figure", s(&dir)]);
    refused(&out, &["--figure", "is a folder; expected a file name"]);
    let out = run(["train", "--arch", "mlp", "--out", s(&file)]);
    refused(&out, &["taken", "is a regular file; expected a folder"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn inputs_that_never_end_or_block_are_refused_at_once() {
    let dir = tmp("fifo");
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for args in [
        vec!["theory", "--problem", "/dev/zero"],
        vec!["flow", "--problem", s(&fifo), "--init", "1,1"],
        vec!["metrics", "overcost", "--curves", "/dev/zero"],
        vec!["metrics", "overcost", "--curves", s(&fifo)],
        vec!["data", "info", "csv:/dev/zero"],
        vec!["--config", s(&fifo), "models", "list"],
        vec!["--plugins", s(&fifo), "models", "list"],
    ] {
        let out = limited(&args);
        refused(&out, &["expected"]);
        let err = stderr(&out);
        assert!(
            err.contains("character device") || err.contains("FIFO"),
            "{args:?}: {err}"
        );
    }
    let out = run(["theory", "--problem", s(&dir)]);
    refused(&out, &["--problem", "is a folder"]);
    // an output that is a FIFO (as a device would be) is refused, never replaced or blocked on
    let out = limited(&[
        "flow",
        "--problem",
        "cosine-grid",
        "--init",
        "1,1",
        "--csv",
        s(&fifo),
    ]);
    refused(&out, &["--csv", "is a FIFO", "regular file"]);
    let svg = dir.join("fifo.svg");
    assert!(Command::new("mkfifo").arg(&svg).status().unwrap().success());
    let out = limited(&["theory", "--problem", "cosine-grid", "--figure", s(&svg)]);
    refused(&out, &["--figure", "is a FIFO"]);
    use std::os::unix::fs::FileTypeExt;
    for f in [&fifo, &svg] {
        assert!(std::fs::metadata(f).unwrap().file_type().is_fifo(), "{f:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn log_lines_on_a_redirected_stderr_carry_no_colour_codes() {
    let dir = tmp("ansi");
    let curves = write(&dir, "curves.csv", CURVES);
    let out = run(["-v", "metrics", "overcost", "--curves", s(&curves)]);
    succeeded(&out);
    let err = stderr(&out);
    assert!(err.contains("curves read"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn hostile_values_never_crash() {
    // (arguments, text the message must contain); every one exits 2 under the limits
    let cases: &[(&[&str], &str)] = &[
        (&["theory", "--problem", ""], "problem"),
        (&["theory", "--problem", "🦀"], "🦀"),
        (
            &["theory", "--problem", "cosine-grid", "--zeta", "0.5"],
            "--zeta",
        ),
        (
            &["flow", "--problem", "cosine-grid", "--init", ""],
            "--init",
        ),
        (
            &["flow", "--problem", "cosine-grid", "--init", "1,1,1"],
            "--init has 3 values",
        ),
        (
            &[
                "flow",
                "--problem",
                "cosine-grid",
                "--init",
                "1,1",
                "--method",
                "x",
            ],
            "--method",
        ),
        (&["bench", "--arch", ""], "--arch"),
        (&["bench", "--arch", "nosuch"], "nosuch"),
        (&["bench", "--arch", "mlp", "--hw", "-1"], "--hw"),
        (&["bench", "--arch", "mlp", "--hw", "1e400"], "--hw"),
        (
            &["metrics", "overcost", "--curves", "/nonexistent.csv"],
            "/nonexistent.csv",
        ),
        (
            &["metrics", "overcost", "--curves", "/tmp", "--kappas", "1"],
            "--kappas",
        ),
        (
            &["metrics", "overcost", "--curves", "/tmp", "--kappas", ""],
            "--kappas",
        ),
        (&["metrics", "overcost", "--curves", "/tmp"], "is a folder"),
        (&["data", "info", ""], "data"),
        (
            &["data", "info", "csv:/nonexistent.csv"],
            "/nonexistent.csv",
        ),
        (
            &[
                "data",
                "info",
                "digits",
                "--minority-classes",
                "99999999999",
            ],
            "--minority-classes",
        ),
        (&["--seed", "-1", "models", "list"], "--seed"),
        (
            &["--seed", "18446744073709551616", "models", "list"],
            "--seed",
        ),
        (&["--threads", "1025", "models", "list"], "1..=1024"),
        (&["--plugins", "/", "models", "list"], "is a folder"),
    ];
    for (args, needle) in cases {
        let out = limited(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("internal error"), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: `{needle}` missing from {err}"
        );
    }
}

#[test]
fn a_reader_that_goes_away_or_a_full_disk_is_no_crash() {
    // megabytes of JSON into a pipe whose reader is gone: a quiet end, exit 0
    let mut child = Command::new(BIN)
        .args([
            "--json",
            "flow",
            "--problem",
            "cosine-grid",
            "--init",
            "1,1",
            "--method",
            "euler",
            "--step",
            "1e-5",
            "--t-end",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("internal error"), "{}", stderr(&out));
    // stdout on a full device: a failed run (exit 1) with one line
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args([
            "--json",
            "flow",
            "--problem",
            "cosine-grid",
            "--init",
            "1,1",
        ])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write the output to standard output"));
    // stderr on a full device: the exit code still says bad input
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args([
            "flow",
            "--problem",
            "cosine-grid",
            "--init",
            "1,1",
            "--step",
            "0",
        ])
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
