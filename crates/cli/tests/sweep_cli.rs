//! Sweep folders shared by processes: concurrent `overcost` processes, run identity (changed
//! settings, swapped and edited run files), folder ownership, SIGTERM, `sweep status|merge|run`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-sweep-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.ends_with(".json") && !name.starts_with('.') && !name.ends_with(".failed.json")
    });
    files.sort();
    files
}

/// 4 runs of a narrow mlp, a fraction of a second each.
fn sweep_args(out: &Path) -> Vec<String> {
    [
        "overcost",
        "--archs",
        "mlp",
        "--data",
        "digits",
        "--width",
        "0.25",
        "--zetas",
        "0.1,0.8",
        "--seeds",
        "2",
        "--epochs",
        "4",
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

/// The table rows (lines naming the architecture) of an overcost printout.
fn table_rows(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.contains("mlp ×0.25"))
        .map(str::to_string)
        .collect()
}

fn trained_now(stdout: &str) -> usize {
    let i = stdout.find(" trained now").expect("a summary line");
    let head = &stdout[..i];
    let start = head.rfind('(').unwrap() + 1;
    head[start..].trim().parse().unwrap()
}

#[test]
fn three_processes_share_one_folder_and_train_each_run_once() {
    let single = tmp("single");
    let alone = majmin(&strs(&sweep_args(&single)));
    assert!(
        alone.status.success(),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
    let alone_rows = table_rows(&String::from_utf8_lossy(&alone.stdout));
    assert!(!alone_rows.is_empty());

    let shared = tmp("shared");
    let args = sweep_args(&shared);
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_majmin"))
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // watch every run file from its first appearance: it must never change
    let mut seen: std::collections::BTreeMap<PathBuf, Vec<u8>> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < 4 {
        assert!(Instant::now() < deadline, "the shared sweep did not finish");
        for f in run_files(&shared) {
            let bytes = std::fs::read(&f).unwrap();
            let first = seen.entry(f.clone()).or_insert_with(|| bytes.clone());
            assert_eq!(first, &bytes, "{} rewritten", f.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut total_trained = 0;
    for o in &outputs {
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            table_rows(&stdout),
            alone_rows,
            "every process prints the full table: {stdout}"
        );
        total_trained += trained_now(&stdout);
    }
    assert_eq!(total_trained, 4, "each run trained exactly once");
    for (f, bytes) in &seen {
        assert_eq!(
            &std::fs::read(f).unwrap(),
            bytes,
            "{} rewritten",
            f.display()
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(shared.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "claims or temporaries left: {leftovers:?}"
    );
    // the same numbers as one process alone, run file by run file
    let alone_files = run_files(&single);
    for (a, b) in alone_files.iter().zip(run_files(&shared)) {
        let ja: serde_json::Value = serde_json::from_slice(&std::fs::read(a).unwrap()).unwrap();
        let jb: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
        assert_eq!(
            ja["record"]["points"],
            jb["record"]["points"],
            "{}",
            b.display()
        );
    }
    std::fs::remove_dir_all(single).ok();
    std::fs::remove_dir_all(shared).ok();
}

#[test]
fn other_settings_swapped_and_edited_run_files_are_refused() {
    let out = tmp("identity");
    let args = sweep_args(&out);
    let first = majmin(&strs(&args));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let files = run_files(&out);
    assert_eq!(files.len(), 4);

    // other settings on the same folder: refused before anything, naming the keys and values
    let mut other = args.clone();
    other.extend(["--lr".into(), "0.2".into(), "--resume".into()]);
    let r = majmin(&strs(&other));
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("sweep.json") && err.contains("`train.lr`: 0.2 now, 0.05 on disk"),
        "{err}"
    );

    // sweep.json deleted, then the width changed: the runs have other names, nothing is mixed
    std::fs::remove_file(out.join("sweep.json")).unwrap();
    let mut wider = args.clone();
    let w = wider.iter().position(|a| a == "0.25").unwrap();
    wider[w] = "0.5".into();
    wider.extend(["--epochs".into(), "1".into()]);
    let r = majmin(&strs(&wider));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("(4 trained now"));

    // one run file copied over another: refused, naming the file and the differing keys
    std::fs::remove_file(out.join("sweep.json")).unwrap();
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let saved = std::fs::read(&files[1]).unwrap();
    std::fs::copy(&files[0], &files[1]).unwrap();
    let r = majmin(&strs(&args));
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    let name = files[1].file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&*name) && err.contains("`seed_index`: 1 now, 0 on disk"),
        "{err}"
    );

    // edited by hand: refused
    let text = String::from_utf8(saved).unwrap();
    let edited = text.replacen("\"minority\": ", "\"minority\": 1", 1);
    std::fs::write(&files[1], edited).unwrap();
    let r = majmin(&strs(&args));
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("edited"));

    // `sweep merge` refuses the same file
    std::fs::write(&files[1], &text).unwrap();
    let ok = majmin(&strs(&args));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::copy(&files[0], &files[1]).unwrap();
    let r = majmin(&["sweep", "merge", out.to_str().unwrap()]);
    assert_eq!(
        r.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn train_and_sweep_folders_are_never_mixed() {
    let out = tmp("owner");
    let o = out.to_str().unwrap();
    let train = [
        "train", "--arch", "mlp", "--width", "0.25", "--epochs", "0.5", "-q", "--out", o,
    ];
    let r = majmin(&train);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let curves = std::fs::read(out.join("curves.csv")).unwrap();
    // a sweep into the train folder: refused, nothing replaced
    let r = majmin(&strs(&sweep_args(&out)));
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("majmin train") && err.contains(o), "{err}");
    assert_eq!(std::fs::read(out.join("curves.csv")).unwrap(), curves);
    assert!(!out.join("runs").exists() && !out.join("table.md").exists());
    // a second train run into it: refused unless --force
    let r = majmin(&train);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--force"));
    let r = majmin(&[&train[..], &["--force"]].concat());
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // a train run into a sweep folder: refused
    let sweep_dir = tmp("owner-sweep");
    assert!(majmin(&strs(&sweep_args(&sweep_dir))).status.success());
    let r = majmin(&[
        "train",
        "--arch",
        "mlp",
        "--epochs",
        "0.5",
        "--out",
        sweep_dir.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("majmin overcost"));
    // reproduce into an overcost folder: refused
    let r = majmin(&["reproduce", "--out", sweep_dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    std::fs::remove_dir_all(out).ok();
    std::fs::remove_dir_all(sweep_dir).ok();
}

#[test]
fn sigterm_discards_the_run_in_progress_and_releases_its_claim() {
    let out = tmp("term");
    let mut args = sweep_args(&out);
    let e = args.iter().position(|a| a == "4").unwrap();
    args[e] = "5000".into(); // several seconds a run: stopped mid-run on any machine
    let mut child = Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runs = out.join("runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let claimed = std::fs::read_dir(&runs)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".claim"))
            })
            .unwrap_or(false);
        if claimed {
            break;
        }
        assert!(Instant::now() < deadline, "no claim after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) with a child's pid and SIGTERM
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let names: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".claim")),
        "claim released: {names:?}"
    );
    assert!(
        run_files(&out).is_empty(),
        "the interrupted run is not published"
    );
    let status = majmin(&["sweep", "status", out.to_str().unwrap(), "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (s["done"].as_u64(), s["pending"].as_u64()),
        (Some(0), Some(4)),
        "{s}"
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn slurm_script_tasks_status_and_merge_without_a_cluster() {
    // --emit-only writes the array script; `sweep run` is what each task runs
    let out = tmp("emit");
    let mut args = sweep_args(&out);
    args.extend(
        [
            "--slurm",
            "--emit-only",
            "--max-array-size",
            "3",
            "--array-parallelism",
            "2",
        ]
        .map(String::from),
    );
    let r = majmin(&strs(&args));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let script = std::fs::read_to_string(out.join("slurm/array.sh")).unwrap();
    assert!(
        script.contains("#SBATCH --array=0-1%2\n"),
        "4 runs in at most 3 tasks: 2 tasks of 2: {script}"
    );
    assert!(
        script.contains("sweep run") && script.contains("--task \"$SLURM_ARRAY_TASK_ID\""),
        "{script}"
    );
    assert!(script.contains("slurm/logs/%A_%a.out"), "{script}");
    assert!(run_files(&out).is_empty(), "nothing trained here");
    let o = out.to_str().unwrap();
    let r = majmin(&["sweep", "run", o, "--task", "0", "-q"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(run_files(&out).len(), 2);
    let s = majmin(&["sweep", "status", o, "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(
        (
            s["done"].as_u64(),
            s["running"].as_u64(),
            s["failed"].as_u64(),
            s["pending"].as_u64()
        ),
        (Some(2), Some(0), Some(0), Some(2))
    );
    // a task of the other half failed (as `majmin sweep run` records it): status and merge name
    // the run, its error and the task's log
    let tasks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("slurm/tasks-1.json")).unwrap()).unwrap();
    let failed_id = tasks["tasks"][1][0].as_str().unwrap().to_string();
    let failure = serde_json::json!({
        "id": failed_id, "error": "model error at step 3: out of memory", "host": "node7",
        "pid": 4242, "slurm_task": "17_1", "log": "/logs/17_1.err", "at_unix": 0
    });
    std::fs::write(
        out.join("runs").join(format!("{failed_id}.failed.json")),
        failure.to_string(),
    )
    .unwrap();
    let s = majmin(&["sweep", "status", o, "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(
        (s["failed"].as_u64(), s["pending"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    let text = String::from_utf8_lossy(&majmin(&["sweep", "status", o]).stdout).into_owned();
    assert!(
        text.contains(&format!(
            "failed   {failed_id}: model error at step 3: out of memory (log /logs/17_1.err)"
        )),
        "{text}"
    );
    // merge from what finished lists the failed and missing runs
    let m = majmin(&["sweep", "merge", o]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let text = String::from_utf8_lossy(&m.stdout);
    assert!(
        text.contains("2 of 4 runs") && text.contains("1 run(s) not started or lost"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{failed_id}: failed: model error")),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["runs_on_disk"].as_u64(), Some(2));
    // a task that does not exist
    let r = majmin(&["sweep", "run", o, "--task", "7"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--task 7"));
    // resubmission writes only the unfinished runs
    let mut again = args.clone();
    again.push("--resume".into());
    let r = majmin(&strs(&again));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("2 of 4 runs to train (2 finished"));
    let tasks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("slurm/tasks-2.json")).unwrap()).unwrap();
    assert_eq!(
        tasks["tasks"].as_array().unwrap().len(),
        2,
        "one task per unfinished run"
    );
    // without --resume a submitted folder is refused
    let r = majmin(&strs(&args));
    assert_eq!(r.status.code(), Some(2));
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn plan_prints_counts_and_estimates_without_training() {
    let out = tmp("plan");
    let mut args = sweep_args(&out);
    args.push("--plan".into());
    let r = majmin(&strs(&args));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("= 4 runs on digits"), "{text}");
    // n = 901 + 90 at ζ = 10 % and 901 + 721 at 80 %: 4 epochs and 8 evaluations of n each
    assert!(text.contains("11,892–19,464"), "{text}");
    assert!(text.contains("Nothing was trained"), "{text}");
    assert!(!out.exists(), "--plan writes nothing");
    args.push("--json".into());
    let r = majmin(&strs(&args));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["runs"].as_u64(), Some(4));
    assert!(v["wall_seconds"].as_f64().unwrap() > 0.0);
}
