//! `majmin overcost` end to end: a seconds-long sweep, resume after SIGKILL, a diverged run,
//! bad input. (Concurrent processes, identity checks and folder ownership: `sweep_cli.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("majmin-overcost-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.extension().is_some_and(|e| e == "json")
            && !p.file_name().unwrap().to_string_lossy().starts_with('.')
    });
    files.sort();
    files
}

const TINY: &[&str] = &[
    "--archs",
    "mlp",
    "--data",
    "digits",
    "--width",
    "0.25",
    "--eval-points",
    "12",
    "-q",
];

#[test]
fn seconds_long_sweep_writes_the_table() {
    let out = tmp("e2e");
    let o = majmin(
        &[
            &[
                "overcost",
                "--zetas",
                "0.1,0.8",
                "--kappas",
                "0.9,0.99",
                "--seeds",
                "2",
                "--out",
                out.to_str().unwrap(),
            ],
            TINY,
            // after TINY, so these win: enough training for the majority to reach κ = 90 %
            &["--width", "1", "--epochs", "6", "--lr", "0.1"],
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("10 %") && stdout.contains("80 %"),
        "table columns headed by ζ in %: {stdout}"
    );
    assert!(stdout.contains("mlp"), "{stdout}");
    let files = run_files(&out);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // <arch>_z<zeta>_s<seed>_<hash of the whole configuration>.json (width 1 is not named)
    let prefixes: Vec<String> = names
        .iter()
        .map(|n| n[..n.len() - 13].to_string())
        .collect();
    assert_eq!(
        prefixes,
        [
            "mlp_z0p1_s0_",
            "mlp_z0p1_s1_",
            "mlp_z0p8_s0_",
            "mlp_z0p8_s1_"
        ],
        "{names:?}"
    );
    for f in [
        "table.md",
        "table.csv",
        "table.tex",
        "overcost_vs_zeta.svg",
        "overcost_vs_zeta.png",
        "curves.csv",
        "manifest.json",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
    }
    // the sweep's curves.csv gives `metrics overcost` the same numbers as the sweep's summary
    let curves_path = out.join("curves.csv");
    let m = majmin(&[
        "metrics",
        "overcost",
        "--curves",
        curves_path.to_str().unwrap(),
        "--kappas",
        "0.9",
        "--json",
    ]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let from_file: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let ours: Vec<(String, Option<f64>)> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kappa"] == 0.9)
        .map(|r| {
            (
                r["run"].as_str().unwrap().to_string(),
                r["overcost_pct"].as_f64(),
            )
        })
        .collect();
    assert_eq!(ours.len(), 4);
    assert!(
        ours.iter().any(|(_, p)| p.is_some()),
        "some run has a number: {ours:?}"
    );
    for (run, pct) in &ours {
        let theirs = from_file["0.9"]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run"] == run.as_str());
        let theirs = theirs.unwrap_or_else(|| panic!("run {run} missing from metrics overcost"));
        assert_eq!(theirs["overcost_pct"].as_f64(), *pct, "{run}");
    }
    let tex = std::fs::read_to_string(out.join("table.tex")).unwrap();
    assert!(tex.contains("tabular"), "{tex}");
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    assert!(curves.starts_with("run,t,group,loss,accuracy\n"));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let run = &file["record"];
    assert_eq!(run["status"]["status"], "finished");
    assert_eq!(
        (run["majority"].as_u64(), run["minority"].as_u64()),
        (Some(901), Some(90))
    );
    // the CSV's `run` column is the run file's name
    let id = run["id"].as_str().unwrap();
    assert_eq!(format!("{id}.json"), names[0]);
    assert!(curves.contains(&format!("\n{id},")), "{id}");
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // the same command again continues the sweep: nothing to train, the same table
    let again = majmin(
        &[
            &[
                "overcost",
                "--zetas",
                "0.1,0.8",
                "--seeds",
                "2",
                "--out",
                out.to_str().unwrap(),
            ],
            TINY,
            &["--width", "1", "--epochs", "6", "--lr", "0.1"],
        ]
        .concat(),
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(again_out.contains("(0 trained now"), "{again_out}");
    let table_line = |t: &str| t.lines().find(|l| l.contains("mlp")).map(str::to_string);
    assert_eq!(table_line(&again_out), table_line(&stdout));
    for (f, b) in files.iter().zip(&bytes) {
        assert_eq!(&std::fs::read(f).unwrap(), b, "{} rewritten", f.display());
    }
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn sigkill_mid_sweep_then_resume_keeps_finished_runs() {
    let out = tmp("kill");
    // width 1 and 20 epochs: about a second per run, so the kill lands mid-sweep
    let out_text = out.to_str().unwrap();
    let args: Vec<&str> = vec![
        "overcost",
        "--archs",
        "mlp",
        "--data",
        "digits",
        "--zetas",
        "0.1,0.3,0.8",
        "--seeds",
        "2",
        "--epochs",
        "20",
        "--eval-points",
        "12",
        "-q",
        "--out",
        out_text,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while run_files(&out).is_empty() {
        assert!(Instant::now() < deadline, "no run file after 60 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let before: Vec<(PathBuf, Vec<u8>, SystemTime)> = run_files(&out)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, bytes, mtime)
        })
        .collect();
    assert!(
        !before.is_empty() && before.len() < 6,
        "killed mid-sweep: {} of 6 runs",
        before.len()
    );
    for (p, bytes, _) in &before {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .unwrap_or_else(|e| panic!("{} is a whole JSON file: {e}", p.display()));
    }
    // with other settings the folder is refused, naming the key
    let refused = majmin(&[args.as_slice(), &["--lr", "0.2"]].concat());
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("`train.lr`: 0.2 now, 0.05 on disk"), "{err}");
    let resumed = majmin(&[args.as_slice(), &["--resume"]].concat());
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(run_files(&out).len(), 6);
    for (p, bytes, mtime) in &before {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            bytes,
            "{} rewritten",
            p.display()
        );
        assert_eq!(
            std::fs::metadata(p).unwrap().modified().unwrap(),
            *mtime,
            "{} touched",
            p.display()
        );
    }
    assert!(out.join("table.md").is_file());
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn diverged_run_is_recorded_and_the_sweep_completes() {
    let out = tmp("div");
    let o = majmin(
        &[
            &[
                "overcost",
                "--zetas",
                "0.3",
                "--seeds",
                "1",
                "--epochs",
                "1",
                "--lr",
                "1e30",
                "--out",
                out.to_str().unwrap(),
            ],
            TINY,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = run_files(&out);
    assert_eq!(files.len(), 1);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let run = &file["record"];
    assert_eq!(run["status"]["status"], "diverged", "{run}");
    assert!(run["status"]["t"].as_f64().is_some());
    assert!(out.join("table.md").is_file());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("diverged"),
        "the diverged run is reported: {stdout}"
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn bad_input_exits_2() {
    let out = tmp("bad");
    let o = out.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["overcost", "--archs", "mlp,nosuchnet", "--out", o],
        vec![
            "overcost", "--archs", "mlp", "--zetas", "0.1,1.5", "--out", o,
        ],
        vec!["overcost", "--archs", "mlp", "--zetas", "0", "--out", o],
        vec![
            "overcost", "--archs", "mlp", "--kappas", "0.9,1.0", "--out", o,
        ],
        vec!["overcost", "--archs", "mlp", "--kappas", "abc", "--out", o],
        vec!["overcost", "--archs", "mlp", "--seeds", "0", "--out", o],
    ];
    for args in cases {
        let r = majmin(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("internal error"), "{args:?}: {err}");
    }
    assert!(
        !out.exists(),
        "bad input is refused before anything is written"
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn reproduce_paper_needs_cifar10() {
    let out = tmp("paper");
    let o = out.to_str().unwrap();
    for args in [
        vec!["reproduce", "--preset", "paper", "--out", o],
        vec![
            "reproduce",
            "--preset",
            "paper",
            "--data",
            "digits",
            "--out",
            o,
        ],
    ] {
        let r = majmin(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cifar10:DIR"), "{err}");
    }
    assert!(!out.exists());
}

#[test]
fn reproduce_fashion_runs_its_code_path_on_a_tiny_budget() {
    let out = tmp("fashion");
    let o = out.to_str().unwrap();
    // the preset's networks and grid, on 10 images per class and a fraction of an epoch
    let r = majmin(&[
        "reproduce",
        "--preset",
        "fashion",
        "--data",
        "fashion-mnist,per-class=10,resize=32",
        "--epochs",
        "0.2",
        "--threads",
        "2",
        "-q",
        "--out",
        o,
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    if !std::path::Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
        .is_file()
    {
        // without Debian's package the error says how to get it
        assert_eq!(r.status.code(), Some(2), "{err}");
        assert!(
            err.contains("apt-get install dataset-fashion-mnist"),
            "{err}"
        );
        return;
    }
    assert!(r.status.success(), "{err}");
    let stdout = String::from_utf8_lossy(&r.stdout);
    for name in [
        "resnet18 ×0.125",
        "vgg11 ×0.25",
        "mobilenetv2 ×0.5",
        "squeezenet ×0.5",
    ] {
        assert!(stdout.contains(name), "{name}: {stdout}");
    }
    assert!(stdout.contains("32 of 32 runs"), "{stdout}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("--preset fashion"), "{report}");
    assert!(
        report.contains("## Choices (fashion preset)")
            && report.contains("32×32")
            && report.contains("logit_relu = false"),
        "{report}"
    );
    std::fs::remove_dir_all(out).ok();
}
