//! A sweep through a real Slurm cluster: `overcost --slurm` submits a job array with the real
//! `sbatch`, `sweep status` follows it, `sweep merge` makes the table, which must equal a local
//! run's; a task killed mid-run is resubmitted with `--slurm --resume`, which trains only the run
//! it lost.
//!
//! Needs a running cluster: `bash tests/slurm/cluster.sh up` (as root; `.ci/run` does it), then
//! `cargo test -p majmin --test slurm_cli -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-slurm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn sweep(out: &Path, epochs: &str, zetas: &str) -> Vec<String> {
    [
        "overcost",
        "--archs",
        "smallcnn",
        "--data",
        "digits",
        "--zetas",
        zetas,
        "--seeds",
        "2",
        "--epochs",
        epochs,
        "--eval-points",
        "8",
        "--threads",
        "1",
        "-q",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.to_str().unwrap().to_string()])
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn status(out: &Path) -> serde_json::Value {
    let o = majmin(&["sweep", "status", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn job_running(job: &str) -> bool {
    let o = Command::new("squeue")
        .args(["-h", "-j", job])
        .output()
        .unwrap();
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

fn logs(out: &Path) -> String {
    let mut text = String::new();
    if let Ok(d) = std::fs::read_dir(out.join("slurm/logs")) {
        for e in d.flatten() {
            text.push_str(&format!(
                "--- {}\n{}\n",
                e.path().display(),
                std::fs::read_to_string(e.path()).unwrap_or_default()
            ));
        }
    }
    text
}

/// Waits until the job has left the queue; returns the final status.
fn wait_for(job: &str, out: &Path, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    while job_running(job) {
        assert!(
            Instant::now() < deadline,
            "job {job} still queued after {limit:?}\n{}",
            logs(out)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    status(out)
}

fn submit(args: &[String]) -> String {
    let o = majmin(&[strs(args), vec!["--json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["job"].as_str().unwrap().to_string()
}

fn table_rows(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("smallcnn"))
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs a Slurm cluster: bash tests/slurm/cluster.sh up"]
fn a_job_array_gives_the_table_of_a_local_run() {
    let out = tmp("array");
    let mut args = sweep(&out, "1", "0.1,0.8");
    args.push("--slurm".into());
    let job = submit(&args);
    let s = wait_for(&job, &out, Duration::from_secs(150));
    assert_eq!(
        (
            s["done"].as_u64(),
            s["failed"].as_u64(),
            s["pending"].as_u64()
        ),
        (Some(4), Some(0), Some(0)),
        "{s}\n{}",
        logs(&out)
    );
    let script = std::fs::read_to_string(out.join("slurm/array.sh")).unwrap();
    assert!(
        script.contains("#SBATCH --array=0-3\n"),
        "one task per run: {script}"
    );
    let merged = majmin(&["sweep", "merge", out.to_str().unwrap()]);
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged_rows = table_rows(&String::from_utf8_lossy(&merged.stdout));

    let local = tmp("local");
    let o = majmin(&strs(&sweep(&local, "1", "0.1,0.8")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let local_rows = table_rows(&String::from_utf8_lossy(&o.stdout));
    assert!(!local_rows.is_empty());
    assert_eq!(merged_rows, local_rows);
    std::fs::remove_dir_all(out).ok();
    std::fs::remove_dir_all(local).ok();
}

#[test]
#[ignore = "needs a Slurm cluster: bash tests/slurm/cluster.sh up"]
fn a_killed_task_is_resubmitted_alone() {
    let out = tmp("kill");
    // two runs, long enough to be killed mid-run
    let mut args = sweep(&out, "40", "0.8");
    args.push("--slurm".into());
    let job = submit(&args);
    let runs = out.join("runs");
    let deadline = Instant::now() + Duration::from_secs(90);
    // wait until task 0 holds its claim, then kill it without warning
    let task0: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("slurm/tasks-1.json")).unwrap()).unwrap();
    let lost = task0["tasks"][0][0].as_str().unwrap().to_string();
    while !runs.join(format!("{lost}.claim")).exists() {
        assert!(
            Instant::now() < deadline,
            "task 0 never claimed {lost}\n{}",
            logs(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let k = Command::new("scancel")
        .args(["--signal=KILL", &format!("{job}_0")])
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
    let s = wait_for(&job, &out, Duration::from_secs(150));
    assert_eq!(
        (s["done"].as_u64(), s["pending"].as_u64()),
        (Some(1), Some(1)),
        "the other task finished, the killed one's run is pending (its claim's pid is gone): {s}\n{}",
        logs(&out)
    );
    let finished: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert_eq!(finished.len(), 1);

    let mut again = args.clone();
    again.push("--resume".into());
    let job2 = submit(&again);
    let tasks2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("slurm/tasks-2.json")).unwrap()).unwrap();
    assert_eq!(
        tasks2["tasks"],
        serde_json::json!([[lost]]),
        "only the lost run is resubmitted"
    );
    let s = wait_for(&job2, &out, Duration::from_secs(150));
    assert_eq!(s["done"].as_u64(), Some(2), "{s}\n{}", logs(&out));
    for (p, b) in finished {
        assert_eq!(std::fs::read(&p).unwrap(), b, "{} rewritten", p.display());
    }
    std::fs::remove_dir_all(out).ok();
}
