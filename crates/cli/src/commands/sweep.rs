//! `majmin sweep status|merge|run DIR`: a sweep folder shared by processes or a Slurm cluster.
//!
//! - `status DIR [--json]`: how many runs are done, running (a live claim), failed (with the
//!   error and the task's log file) and pending; the JSON has the integer fields `done`,
//!   `running`, `failed`, `pending` and `total`, and `runs` with each run's state.
//! - `merge DIR [--kappas …]`: the tables, figures, curves and summary from whatever has
//!   finished, listing the missing and failed runs.
//! - `run DIR --task I [--submission N]`: one Slurm array task: trains the runs of task I of
//!   submission N (the latest by default) through the shared run store, without waiting for runs
//!   that other tasks hold. SIGTERM (a time limit, preemption, `scancel`) stops it like SIGINT:
//!   the run in progress is discarded and its claim released, nothing finished is touched.
//!
//! Runs of the folder are those of the plan in `sweep.json` and of every Slurm submission;
//! each run file is verified against its run, and one that does not match is refused (exit 2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use majmin_metrics::Criterion;
use majmin_sweep::{read_sweep, slurm, RunConfig, RunState, RunStore, SweepOutcome};
use serde::Serialize;

use crate::commands::overcost;
use crate::context::Context;
use crate::error::CliError;
use crate::output::print_json;
use crate::sweep::{self, sweep_error};

/// Options of `majmin sweep`.
#[derive(Debug, clap::Args, Serialize)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand, Serialize)]
enum Command {
    /// Counts of done, running, failed and pending runs (failed ones with their error and log).
    Status {
        /// The sweep folder (`--out` of overcost or reproduce).
        #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
        dir: PathBuf,
    },
    /// Tables, figures and summary from the runs that have finished; lists the others.
    Merge {
        /// The sweep folder.
        #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
        dir: PathBuf,
        /// Thresholds κ [default: those of the sweep].
        #[arg(long, value_name = "K,…")]
        kappas: Option<String>,
    },
    /// One Slurm array task: train the runs of task I (used by DIR/slurm/array.sh).
    Run {
        /// The sweep folder.
        #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
        dir: PathBuf,
        /// The array task index ($SLURM_ARRAY_TASK_ID).
        #[arg(long, value_name = "I")]
        task: usize,
        /// The submission number [default: the latest].
        #[arg(long, value_name = "N")]
        submission: Option<u32>,
        /// Runs trained at the same time by this task.
        #[arg(long, value_name = "J", default_value_t = 1)]
        jobs: usize,
    },
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    match &args.command {
        Command::Status { dir } => status(ctx, dir),
        Command::Merge { dir, kappas } => merge(ctx, dir, kappas.as_deref()),
        Command::Run {
            dir,
            task,
            submission,
            jobs,
        } => run_task(ctx, dir, *task, *submission, *jobs),
    }
}

/// Every run of the folder: the plan's, then those of Slurm submissions not in it.
fn folder_runs(dir: &Path) -> Result<(majmin_sweep::SweepDescription, Vec<RunConfig>), CliError> {
    let description = read_sweep(dir).map_err(sweep_error)?;
    let mut runs = description.plan.runs();
    let mut seen: BTreeSet<String> = runs.iter().map(|r| r.id().to_string()).collect();
    if let Some(last) = slurm::latest_submission(dir) {
        for n in 1..=last {
            if let Ok(tasks) = slurm::read_task_file(dir, Some(n)) {
                for run in tasks.plan.runs() {
                    if seen.insert(run.id().to_string()) {
                        runs.push(run);
                    }
                }
            }
        }
    }
    Ok((description, runs))
}

#[derive(Debug, Serialize)]
struct RunLine {
    run: String,
    state: &'static str,
    host: Option<String>,
    pid: Option<u32>,
    error: Option<String>,
    log: Option<String>,
}

fn status(ctx: &Context, dir: &Path) -> Result<(), CliError> {
    let (_, runs) = folder_runs(dir)?;
    let store = RunStore::open(dir, majmin_sweep::claim_timeout()).map_err(sweep_error)?;
    let mut lines = Vec::new();
    let (mut done, mut running, mut failed, mut pending) = (0u64, 0u64, 0u64, 0u64);
    for run in &runs {
        let id = run.id().to_string();
        let line = match store.state(run).map_err(sweep_error)? {
            RunState::Done(_) => {
                done += 1;
                RunLine {
                    run: id,
                    state: "done",
                    host: None,
                    pid: None,
                    error: None,
                    log: None,
                }
            }
            RunState::Running(c) => {
                running += 1;
                RunLine {
                    run: id,
                    state: "running",
                    host: Some(c.host),
                    pid: Some(c.pid),
                    error: None,
                    log: None,
                }
            }
            RunState::Failed(f) => {
                failed += 1;
                RunLine {
                    run: id,
                    state: "failed",
                    host: Some(f.host),
                    pid: Some(f.pid),
                    error: Some(f.error),
                    log: f.log,
                }
            }
            RunState::Pending => {
                pending += 1;
                RunLine {
                    run: id,
                    state: "pending",
                    host: None,
                    pid: None,
                    error: None,
                    log: None,
                }
            }
        };
        lines.push(line);
    }
    if ctx.json {
        return print_json(&serde_json::json!({
            "dir": dir,
            "total": runs.len(),
            "done": done,
            "running": running,
            "failed": failed,
            "pending": pending,
            "runs": lines,
        }));
    }
    println!(
        "{}: {} runs: {done} done, {running} running, {failed} failed, {pending} pending",
        dir.display(),
        runs.len()
    );
    for l in lines.iter().filter(|l| l.state == "running") {
        println!(
            "  running  {} (host {}, pid {})",
            l.run,
            l.host.as_deref().unwrap_or("?"),
            l.pid.unwrap_or(0)
        );
    }
    for l in lines.iter().filter(|l| l.state == "failed") {
        println!(
            "  failed   {}: {}{}",
            l.run,
            l.error.as_deref().unwrap_or(""),
            l.log
                .as_ref()
                .map(|p| format!(" (log {p})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn merge(ctx: &Context, dir: &Path, kappas: Option<&str>) -> Result<(), CliError> {
    let (description, runs) = folder_runs(dir)?;
    let stored_kappas: Vec<f64> = description
        .table
        .get("kappas")
        .and_then(|k| serde_json::from_value(k.clone()).ok())
        .unwrap_or_else(|| vec![0.9, 0.99]);
    let kappas = match kappas {
        Some(text) => overcost::parse_kappas(text)?,
        None => stored_kappas,
    };
    let criterion = description
        .table
        .get("criterion")
        .and_then(|c| c.as_str())
        .map(overcost::parse_criterion)
        .transpose()?
        .unwrap_or(Criterion::Loss);
    let store = RunStore::open(dir, majmin_sweep::claim_timeout()).map_err(sweep_error)?;
    let mut outcome = SweepOutcome::default();
    let mut missing = Vec::new();
    for run in &runs {
        match store.state(run).map_err(sweep_error)? {
            RunState::Done(record) => {
                outcome.records.push(*record);
                outcome.finished_before += 1;
            }
            RunState::Failed(f) => {
                let log = f.log.map(|l| format!(" (log {l})")).unwrap_or_default();
                outcome.failed.push((run.id(), format!("{}{log}", f.error)));
            }
            RunState::Running(c) => outcome.held_by_others.push((run.id(), c)),
            RunState::Pending => missing.push(run.id()),
        }
    }
    // the table's rows and columns are those of every run of the folder
    let mut plan = description.plan.clone();
    for run in &runs {
        if !plan
            .archs
            .iter()
            .any(|a| a.name == run.arch && a.width == run.width)
        {
            let mut arch = majmin_sweep::ArchChoice::new(run.arch.clone(), run.width);
            arch.lr = (run.train.lr != plan.train.lr).then_some(run.train.lr);
            arch.options = run.arch_options.clone();
            plan.archs.push(arch);
        }
        if let Some(z) = run.zeta {
            if !plan.zetas.contains(&z) {
                plan.zetas.push(z);
            }
        }
        plan.seeds = plan.seeds.max(run.seed_index + 1);
    }
    let mut written = overcost::write_results(ctx, &plan, &outcome, &kappas, criterion, dir)?;
    if !missing.is_empty() {
        written.text.push_str(&format!(
            "{} run(s) not started or lost: {}\n",
            missing.len(),
            missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if ctx.json {
        let mut summary = written.summary;
        summary["missing"] = serde_json::json!(missing);
        print_json(&summary)?;
    } else {
        print!("{}", written.text);
    }
    Ok(())
}

fn run_task(
    ctx: &Context,
    dir: &Path,
    task: usize,
    submission: Option<u32>,
    jobs: usize,
) -> Result<(), CliError> {
    if jobs == 0 {
        return Err(CliError::usage("--jobs 0: expected at least 1"));
    }
    let tasks = slurm::read_task_file(dir, submission).map_err(sweep_error)?;
    let Some(ids) = tasks.tasks.get(task) else {
        return Err(CliError::usage(format!(
            "--task {task}: submission {} has tasks 0 to {}",
            tasks.submission,
            tasks.tasks.len().saturating_sub(1)
        )));
    };
    let plan_runs = tasks.plan.runs();
    let mut runs = Vec::new();
    for id in ids {
        match plan_runs.iter().find(|r| &r.id() == id) {
            Some(run) => runs.push(run.clone()),
            None => {
                return Err(CliError::usage(format!(
                    "task {task} of submission {} names run {id}, which this majmin does not derive from the plan (another version of majmin wrote the submission?)",
                    tasks.submission
                )))
            }
        }
    }
    let prepared = sweep::prepare(ctx, &tasks.plan)?;
    let outcome = sweep::run_sweep(ctx, &prepared, dir, &runs, jobs, false)?;
    for record in &outcome.records {
        println!("{}: {}", record.id, record.status);
    }
    for (id, claim) in &outcome.held_by_others {
        println!(
            "{id}: held by another process (host {}, pid {}); left to it",
            claim.host, claim.pid
        );
    }
    overcost::finish(dir, &outcome, runs.len())
}
