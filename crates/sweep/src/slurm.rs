//! Slurm job arrays: a sweep spread over a cluster through `sbatch`.
//!
//! A submission writes `DIR/slurm/tasks-<n>.json` (the plan and, per array task, the runs it
//! trains) and `DIR/slurm/array.sh`, an `sbatch` script of one array task per run — or per chunk
//! of runs when the sweep has more runs than the cluster's `MaxArraySize` allows tasks. Each task
//! runs `majmin sweep run DIR --submission <n> --task $SLURM_ARRAY_TASK_ID`, which trains its runs
//! through the shared run store (claims, atomic publication), so a task killed and resubmitted, or
//! two submissions that overlap, never train a run twice or mix results. Logs go to
//! `DIR/slurm/logs/%A_%a.out` and `.err`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::SweepError;
use crate::fsutil::{create_new, ensure_dir, replace};
use crate::plan::{RunConfig, RunId, SweepPlan};

/// Slurm's default `MaxArraySize` (task indices 0..1000).
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// Options of a submission.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// At most this many tasks at once (`--array=…%P`).
    pub array_parallelism: Option<u32>,
    /// Extra `sbatch` options, written as `#SBATCH` lines (e.g. `--time=02:00:00 --mem=8G`).
    pub sbatch_args: Vec<String>,
    /// The cluster's `MaxArraySize` (None: asked from `scontrol show config`).
    pub max_array_size: Option<usize>,
}

/// `DIR/slurm/tasks-<n>.json`: what each task of submission `n` trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFile {
    /// The submission number.
    pub submission: u32,
    /// The plan whose runs the tasks train.
    pub plan: SweepPlan,
    /// Task index → the runs it trains.
    pub tasks: Vec<Vec<RunId>>,
}

/// A written (and perhaps submitted) submission.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Its number.
    pub number: u32,
    /// `DIR/slurm/array.sh`.
    pub script: PathBuf,
    /// Array tasks.
    pub tasks: usize,
    /// Runs in them.
    pub runs: usize,
}

/// The cluster's `MaxArraySize`, from `scontrol show config`.
pub fn max_array_size() -> Result<usize, SweepError> {
    let output = Command::new("scontrol")
        .args(["show", "config"])
        .output()
        .map_err(|e| {
            SweepError::Slurm(format!(
                "cannot run `scontrol show config` ({e}); is Slurm's client installed and on PATH?"
            ))
        })?;
    if !output.status.success() {
        return Err(SweepError::Slurm(format!(
            "`scontrol show config` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(parse_max_array_size(&String::from_utf8_lossy(
        &output.stdout,
    )))
}

/// `MaxArraySize` from the text of `scontrol show config` (the default when absent).
pub fn parse_max_array_size(config: &str) -> usize {
    config
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "MaxArraySize")
        .and_then(|(_, v)| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_MAX_ARRAY_SIZE)
}

/// Splits runs into at most `max_tasks` tasks of consecutive runs, as even as possible.
pub fn chunk(runs: &[RunId], max_tasks: usize) -> Vec<Vec<RunId>> {
    if runs.is_empty() {
        return Vec::new();
    }
    let tasks = runs.len().min(max_tasks.max(1));
    let per = runs.len().div_ceil(tasks);
    runs.chunks(per).map(<[RunId]>::to_vec).collect()
}

fn slurm_dir(dir: &Path) -> PathBuf {
    dir.join("slurm")
}

/// Quotes a word for a POSIX shell.
fn shell_quote(word: &OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in word.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// Writes submission files for `runs` (of `plan`) into `dir/slurm`: the task file and
/// `array.sh`. `majmin` is the command that starts majmin on the nodes (the executable and its
/// global options), `dir` should be absolute.
pub fn write_submission(
    dir: &Path,
    plan: &SweepPlan,
    runs: &[RunConfig],
    majmin: &[OsString],
    options: &SlurmOptions,
) -> Result<Submission, SweepError> {
    let max = match options.max_array_size {
        Some(n) => n,
        None => max_array_size()?,
    };
    let ids: Vec<RunId> = runs.iter().map(RunConfig::id).collect();
    let tasks = chunk(&ids, max);
    if tasks.is_empty() {
        return Err(SweepError::Task(
            "nothing to submit: every run of the sweep is finished or held by a running process"
                .into(),
        ));
    }
    let slurm = slurm_dir(dir);
    ensure_dir(&slurm.join("logs"))?;
    let mut number = 1u32;
    let task_file = loop {
        let file = TaskFile {
            submission: number,
            plan: plan.clone(),
            tasks: tasks.clone(),
        };
        let path = slurm.join(format!("tasks-{number}.json"));
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        if create_new(&path, &bytes)? {
            break file;
        }
        number += 1;
    };
    let abs = |p: &Path| -> PathBuf { std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()) };
    let dir_abs = abs(dir);
    let logs = dir_abs.join("slurm").join("logs");
    let mut script: Vec<u8> = Vec::new();
    let last = task_file.tasks.len() - 1;
    script.extend_from_slice(b"#!/bin/bash\n");
    script.extend_from_slice(
        format!(
            "# majmin sweep, submission {number}: {} runs in {} array tasks (MaxArraySize {max}).\n# Each task trains its runs through the shared run store; `majmin sweep status DIR` shows progress.\n",
            runs.len(),
            task_file.tasks.len()
        )
        .as_bytes(),
    );
    let name: String = dir_abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sweep".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    script.extend_from_slice(format!("#SBATCH --job-name=majmin-{name}\n").as_bytes());
    let parallel = options
        .array_parallelism
        .map(|p| format!("%{p}"))
        .unwrap_or_default();
    script.extend_from_slice(format!("#SBATCH --array=0-{last}{parallel}\n").as_bytes());
    for (flag, ext) in [("--output", "out"), ("--error", "err")] {
        script.extend_from_slice(format!("#SBATCH {flag}=").as_bytes());
        script.extend_from_slice(logs.join(format!("%A_%a.{ext}")).as_os_str().as_bytes());
        script.push(b'\n');
    }
    for arg in &options.sbatch_args {
        script.extend_from_slice(format!("#SBATCH {arg}\n").as_bytes());
    }
    script.extend_from_slice(b"export MAJMIN_SLURM_LOG_DIR=");
    script.extend_from_slice(&shell_quote(logs.as_os_str()));
    script.extend_from_slice(b"\nexec");
    for word in majmin {
        script.push(b' ');
        script.extend_from_slice(&shell_quote(word));
    }
    script.extend_from_slice(b" sweep run ");
    script.extend_from_slice(&shell_quote(dir_abs.as_os_str()));
    script.extend_from_slice(
        format!(" --submission {number} --task \"$SLURM_ARRAY_TASK_ID\"\n").as_bytes(),
    );
    let path = slurm.join("array.sh");
    replace(&path, &script)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
    }
    Ok(Submission {
        number,
        script: path,
        tasks: task_file.tasks.len(),
        runs: runs.len(),
    })
}

/// Submits `script` with `sbatch --parsable`; returns the job id.
pub fn submit(script: &Path) -> Result<String, SweepError> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run `sbatch` ({e}); is Slurm's client installed and on PATH? `--emit-only` writes the script without submitting it")))?;
    if !output.status.success() {
        return Err(SweepError::Slurm(format!(
            "`sbatch {}` failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.trim().split(';').next().unwrap_or("").to_string())
}

/// The task file of `submission` (the latest when None) in `dir`.
pub fn read_task_file(dir: &Path, submission: Option<u32>) -> Result<TaskFile, SweepError> {
    let slurm = slurm_dir(dir);
    let number = match submission {
        Some(n) => n,
        None => latest_submission(dir).ok_or_else(|| {
            SweepError::Task(format!(
                "{}: no Slurm submission (no tasks-N.json); submit one with `majmin overcost … --slurm`",
                slurm.display()
            ))
        })?,
    };
    let path = slurm.join(format!("tasks-{number}.json"));
    let bytes = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SweepError::Task(format!(
                "--submission {number}: {} does not exist",
                path.display()
            ))
        } else {
            SweepError::io("read", &path, e)
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| SweepError::RunDamaged {
        file: path,
        message: format!("not a majmin task file ({e})"),
    })
}

/// The highest submission number in `dir/slurm`.
pub fn latest_submission(dir: &Path) -> Option<u32> {
    std::fs::read_dir(slurm_dir(dir))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = OsString::into_vec(e.file_name());
            let name = String::from_utf8(name).ok()?;
            name.strip_prefix("tasks-")?
                .strip_suffix(".json")?
                .parse::<u32>()
                .ok()
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::configs;

    fn ids(n: usize) -> Vec<RunId> {
        let base = configs();
        (0..n).map(|i| base[i % base.len()].id()).collect()
    }

    #[test]
    fn chunking_respects_max_array_size() {
        assert_eq!(chunk(&ids(5), 1001).len(), 5);
        let c = chunk(&ids(2500), 1001);
        assert!(c.len() <= 1001);
        assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 2500);
        assert!(c.iter().all(|t| t.len() <= 3));
        let c = chunk(&ids(7), 3);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        assert!(chunk(&[], 10).is_empty());
    }

    #[test]
    fn max_array_size_is_read_from_scontrol_text() {
        assert_eq!(
            parse_max_array_size("MaxArraySize            = 4\nMaxJobCount = 10\n"),
            4
        );
        assert_eq!(parse_max_array_size("nothing here"), DEFAULT_MAX_ARRAY_SIZE);
    }

    #[test]
    fn script_and_tasks_files_are_written_with_quoted_paths() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = dir.path().join("it's a sweep");
        let plan = crate::record::tests::configs();
        let sweep_plan = SweepPlan {
            archs: vec![crate::plan::ArchChoice::new("mlp", 1.0)],
            data: "digits".into(),
            minority_classes: None,
            zetas: vec![0.1],
            seeds: 2,
            seed: 0,
            train: majmin_flow::train::TrainConfig::default(),
            methods: vec![majmin_flow::train::Method::ERM],
            holdout: 0.0,
        };
        let options = SlurmOptions {
            array_parallelism: Some(2),
            sbatch_args: vec!["--time=00:10:00".into()],
            max_array_size: Some(1),
        };
        let s = write_submission(
            &sweep,
            &sweep_plan,
            &plan,
            &["/bin/majmin".into()],
            &options,
        )
        .unwrap();
        assert_eq!((s.number, s.tasks, s.runs), (1, 1, 2));
        let text = std::fs::read_to_string(&s.script).unwrap();
        assert!(text.contains("#SBATCH --array=0-0%2\n"), "{text}");
        assert!(text.contains("#SBATCH --time=00:10:00\n"), "{text}");
        assert!(text.contains("/slurm/logs/%A_%a.err"), "{text}");
        assert!(text.contains("exec '/bin/majmin' sweep run '"), "{text}");
        assert!(
            text.contains("it'\\''s a sweep' --submission 1 --task \"$SLURM_ARRAY_TASK_ID\""),
            "{text}"
        );
        let again = write_submission(
            &sweep,
            &sweep_plan,
            &plan[..1],
            &["/bin/majmin".into()],
            &options,
        )
        .unwrap();
        assert_eq!(again.number, 2);
        assert_eq!(latest_submission(&sweep), Some(2));
        let tasks = read_task_file(&sweep, None).unwrap();
        assert_eq!(tasks.tasks, vec![vec![plan[0].id()]]);
        assert_eq!(read_task_file(&sweep, Some(1)).unwrap().tasks[0].len(), 2);
        assert!(read_task_file(&sweep, Some(9))
            .unwrap_err()
            .to_string()
            .contains("--submission 9"));
    }
}
