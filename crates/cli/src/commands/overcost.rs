//! `majmin overcost --archs A,B --data SPEC --zetas … --kappas … --seeds N --out DIR`: the
//! catch-up overcost sweep and its table (docs/definitions.md, docs/command-line.md, docs/reliability.md).
//!
//! One training per (architecture, ζ, seed) serves every κ. DIR is a sweep folder
//! (majmin-sweep): `sweep.json` says which command made it and the settings its runs share; each
//! finished run is one verified file `DIR/runs/<run>.json` named by its [`RunId`](majmin_sweep::RunId).
//! Any number of `overcost` processes with the same settings may work on one DIR at once, on one
//! machine or many: each run is claimed, trained once and never rewritten, and every process
//! prints the full table when the last run is done. A DIR with other settings, another command's
//! output, or a run file that does not match the plan is refused with exit code 2 before any
//! training. Running the same command again (or with `--resume`) continues a sweep: finished runs
//! are kept, failed and interrupted ones redone. A diverged run is recorded with its status and
//! the sweep goes on (its curves end at the divergence, so its overcost is censored or `n/a`; it
//! is listed under the table). SIGINT or SIGTERM stops the sweep: finished runs stay on disk, the
//! run in progress is discarded, and the command exits with code 130.
//!
//! `--slurm` writes `DIR/slurm/array.sh`, an `sbatch` job array of one task per run (or per chunk
//! of runs past the cluster's `MaxArraySize`), and submits it (unless `--emit-only`); each task
//! runs `majmin sweep run DIR --task I`. `majmin sweep status DIR` follows it, `majmin sweep merge
//! DIR` makes the tables from what has finished, and `--slurm --resume` submits the unfinished
//! runs again.
//!
//! Then DIR gets `table.md`, `table.csv`, `table.tex` (rows: architecture with its size; columns:
//! κ, then ζ), `overcost_vs_zeta.svg/png`, one curves figure per architecture and ζ (seed 0) in
//! `figures/`, `curves.csv` (every run, long format with a `run` column, readable by
//! `majmin metrics overcost --curves`), `summary.json` (every run's T1, T0 and overcost at every
//! κ, and the table) and `manifest.json`; the table is printed (or `summary.json`'s content with
//! `--json`).
//!
//! `--methods erm,reweight,…` trains every run once per method (docs/methods.md); the method is
//! part of each run's identity and name. DIR then also gets one table per method (`table.md`
//! holds them all, `table_<method>.md/.csv/.tex` each), `comparison.md`/`comparison.csv` (the
//! median overcost per architecture, method, κ and ζ beside the median worst-group accuracy on
//! the held-out split, with the definitions), and `overcost_vs_zeta_methods_<arch>.svg/png` (one
//! line per method). `table.csv` has a `method` column and every entry of `summary.json`'s `runs`
//! a `method` field, whatever the number of methods. The held-out split (`--holdout F`) is taken
//! from the data before ζ; by default 20 % of each group when a method other than erm is in the
//! list, none for erm alone, so a plain ERM sweep is the sweep of before methods existed (same
//! run names, same curves).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use majmin_core::{Kappa, Zeta};
use majmin_metrics::Criterion;
use majmin_sweep::{slurm, RunConfig, RunState, RunStore};
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{print_json, write_atomic, write_json};
use crate::report;
use crate::sweep::{
    self, sweep_error, ArchChoice, MethodParams, SweepOutcome, SweepPlan, TrainOptions,
};

/// Options of `majmin overcost`.
#[derive(Debug, clap::Args, Serialize)]
pub struct Args {
    /// Architectures, comma-separated (`majmin models list`).
    #[arg(long, value_name = "A,B,…", value_delimiter = ',', required = true)]
    pub archs: Vec<String>,
    /// Data spec, e.g. `digits`, `digits,resize=32,channels=3`, `cifar10:DIR`.
    #[arg(long, value_name = "SPEC", default_value = "digits")]
    pub data: String,
    /// Imbalance levels ζ = n0/n1 in (0, 1], comma-separated.
    #[arg(long, value_name = "Z,…", default_value = "0.01,0.1,0.3,0.8")]
    pub zetas: String,
    /// Thresholds κ in (0, 1), comma-separated; every run serves every κ.
    #[arg(long, value_name = "K,…", default_value = "0.9,0.99")]
    pub kappas: String,
    /// Seeds per (architecture, ζ): seed indices 0..N, using `--seed + index`.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub seeds: u32,
    /// Threshold criterion: `loss` (global loss threshold) or `accuracy`.
    #[arg(long, value_name = "C", default_value = "loss")]
    pub criterion: String,
    /// Runs trained at the same time (each with `threads / jobs` threads).
    #[arg(long, value_name = "J", default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub train: TrainOptions,
    /// Training methods, comma-separated (erm, reweight, sqrt-reweight, resample, subsample,
    /// pcngd, group-dro, jtt, or combinations such as resample+reweight).
    #[arg(long, visible_alias = "method", value_name = "M,…", default_value = "erm", long_help = sweep::METHODS_HELP)]
    pub methods: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub params: MethodParams,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
    pub out: PathBuf,
    /// Continue the sweep in DIR (the same command does too): finished runs are kept and never
    /// rewritten; with --slurm, submit only the unfinished runs. (Ctrl-C or SIGTERM stops a sweep
    /// with exit code 130: finished runs are kept, the run in progress is discarded.)
    #[arg(long)]
    pub resume: bool,
    /// Print the runs, the images each processes and the estimated time on this machine (from a
    /// few measured steps per network), then exit without training or writing anything.
    #[arg(long)]
    pub plan: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub slurm: SlurmArgs,
}

/// Options of a Slurm submission (`--slurm`).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct SlurmArgs {
    /// Train through a Slurm job array instead of here: write DIR/slurm/array.sh (one task per
    /// run) and submit it with `sbatch`.
    #[arg(long)]
    pub slurm: bool,
    /// At most P array tasks at once (`--array=…%P`).
    #[arg(long, value_name = "P", requires = "slurm", value_parser = clap::value_parser!(u32).range(1..))]
    pub array_parallelism: Option<u32>,
    /// Extra sbatch options, e.g. "--time=04:00:00 --mem=8G --partition=cpu".
    #[arg(
        long,
        value_name = "ARGS",
        requires = "slurm",
        allow_hyphen_values = true
    )]
    pub sbatch_args: Option<String>,
    /// Write the script without submitting it.
    #[arg(long, requires = "slurm")]
    pub emit_only: bool,
    /// The cluster's MaxArraySize [default: asked from `scontrol show config`, or 1001 with
    /// --emit-only]; larger sweeps get several runs per task.
    #[arg(long, value_name = "N", requires = "slurm", value_parser = clap::value_parser!(u64).range(1..=4_000_000))]
    pub max_array_size: Option<u64>,
}

/// Parses `--zetas`: each in (0, 1].
pub fn parse_zetas(text: &str) -> Result<Vec<f64>, CliError> {
    let zetas = sweep::parse_list("--zetas", text, |z| {
        Zeta::new(z).map(|_| ()).map_err(|e| e.to_string())
    })?;
    if zetas.is_empty() {
        return Err(CliError::usage(
            "--zetas: expected at least one imbalance level",
        ));
    }
    Ok(zetas)
}

/// Parses `--kappas`: each in (0, 1).
pub fn parse_kappas(text: &str) -> Result<Vec<f64>, CliError> {
    let kappas = sweep::parse_list("--kappas", text, |k| {
        Kappa::new(k).map(|_| ()).map_err(|e| e.to_string())
    })?;
    if kappas.is_empty() {
        return Err(CliError::usage("--kappas: expected at least one threshold"));
    }
    Ok(kappas)
}

/// Parses `--criterion`.
pub fn parse_criterion(text: &str) -> Result<Criterion, CliError> {
    text.parse()
        .map_err(|e| CliError::usage(format!("--criterion {text}: {e}")))
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    let zetas = parse_zetas(&args.zetas)?;
    let kappas = parse_kappas(&args.kappas)?;
    let criterion = parse_criterion(&args.criterion)?;
    if args.jobs == 0 {
        return Err(CliError::usage("--jobs 0: expected at least 1"));
    }
    let methods = args.params.methods("--methods", &args.methods)?;
    let holdout = args.params.holdout(&methods)?;
    let plan = SweepPlan {
        archs: args
            .archs
            .iter()
            .map(|a| ArchChoice::new(a.trim().to_string(), args.train.width))
            .collect(),
        data: args.data.clone(),
        minority_classes: args.train.minority_classes.clone(),
        zetas,
        seeds: args.seeds,
        seed: ctx.seed,
        train: args.train.train_config(ctx.seed)?,
        methods,
        holdout,
    };
    // bad input fails before anything is written: the plan, its data and architectures, then
    // the folder (another command's output, or a sweep of other settings)
    let prepared = sweep::prepare(ctx, &plan)?;
    if args.plan {
        return crate::plan::print_prepared(ctx, &prepared, args.jobs);
    }
    majmin_sweep::open_sweep_folder(
        &args.out,
        "overcost",
        &plan,
        table_options(&kappas, criterion),
    )
    .map_err(sweep_error)?;
    let runs = plan.runs();
    let store = RunStore::open(&args.out, majmin_sweep::claim_timeout()).map_err(sweep_error)?;
    // every run file already there is checked against the plan before any work
    for run in &runs {
        store.finished(run).map_err(sweep_error)?;
    }
    if args.slurm.slurm && !args.resume && slurm::latest_submission(&args.out).is_some() {
        return Err(CliError::usage(format!(
            "{} was already submitted to Slurm; pass --resume to submit its unfinished runs again",
            args.out.display()
        )));
    }
    ctx.write_manifest(
        &args.out,
        "overcost",
        &serde_json::json!({ "args": args, "plan": plan }),
    )?;
    if args.slurm.slurm {
        return submit(ctx, &args.slurm, &plan, &runs, &store, &args.out);
    }
    let outcome = sweep::run_sweep(ctx, &prepared, &args.out, &runs, args.jobs, true)?;
    let written = write_results(ctx, &plan, &outcome, &kappas, criterion, &args.out)?;
    if ctx.json {
        print_json(&written.summary)?;
    } else {
        print!("{}", written.text);
    }
    finish(&args.out, &outcome, runs.len())
}

/// The table options stored in `sweep.json` for `majmin sweep merge`.
pub fn table_options(kappas: &[f64], criterion: Criterion) -> serde_json::Value {
    serde_json::json!({ "kappas": kappas, "criterion": criterion.name() })
}

/// The exit of a sweep command once its results are written: 130 when interrupted, 1 when a run
/// failed, 0 otherwise.
pub fn finish(dir: &Path, outcome: &SweepOutcome, total: usize) -> Result<(), CliError> {
    if outcome.interrupted {
        return Err(sweep::interrupted_error(dir, outcome.records.len(), total));
    }
    if !outcome.failed.is_empty() {
        return Err(CliError::run(format!(
            "{} run(s) failed: {}; `majmin sweep status {}` lists them, and the same command trains them again",
            outcome.failed.len(),
            outcome
                .failed
                .iter()
                .map(|(id, e)| format!("{id} ({e})"))
                .collect::<Vec<_>>()
                .join("; "),
            dir.display()
        )));
    }
    Ok(())
}

/// `--slurm`: writes the job array of the unfinished runs and submits it.
fn submit(
    ctx: &Context,
    args: &SlurmArgs,
    plan: &SweepPlan,
    runs: &[RunConfig],
    store: &RunStore,
    dir: &Path,
) -> Result<(), CliError> {
    let mut todo = Vec::new();
    let mut finished = 0;
    let mut running = 0;
    for run in runs {
        match store.state(run).map_err(sweep_error)? {
            RunState::Done(_) => finished += 1,
            RunState::Running(_) => running += 1,
            RunState::Failed(_) | RunState::Pending => todo.push(run.clone()),
        }
    }
    let max_array_size = match (args.max_array_size, args.emit_only) {
        (Some(n), _) => Some(n as usize),
        (None, true) => Some(slurm::DEFAULT_MAX_ARRAY_SIZE),
        (None, false) => None,
    };
    let options = slurm::SlurmOptions {
        array_parallelism: args.array_parallelism,
        sbatch_args: args
            .sbatch_args
            .as_deref()
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        max_array_size,
    };
    let exe = std::env::current_exe()
        .map_err(|e| CliError::run(format!("cannot find majmin's own executable: {e}")))?;
    let mut majmin: Vec<OsString> = vec![exe.into_os_string()];
    if let Some(plugins) = &ctx.plugins {
        majmin.push("--plugins".into());
        majmin.push(
            std::path::absolute(plugins)
                .unwrap_or_else(|_| plugins.clone())
                .into_os_string(),
        );
    }
    if let Some(threads) = ctx.threads {
        majmin.push("--threads".into());
        majmin.push(threads.to_string().into());
    }
    let submission =
        slurm::write_submission(dir, plan, &todo, &majmin, &options).map_err(sweep_error)?;
    let summary = format!(
        "{} of {} runs to train ({finished} finished, {running} running elsewhere) in {} array task(s); script {}",
        submission.runs,
        runs.len(),
        submission.tasks,
        submission.script.display()
    );
    if args.emit_only {
        println!(
            "{summary}
submit it with: sbatch {}",
            submission.script.display()
        );
        return Ok(());
    }
    let job = slurm::submit(&submission.script).map_err(sweep_error)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "job": job,
            "submission": submission.number,
            "tasks": submission.tasks,
            "runs": submission.runs,
            "script": submission.script,
        }))?;
    } else {
        println!(
            "submitted job {job}: {summary}
follow it with `majmin sweep status {}`; tables from what has finished with `majmin sweep merge {}`",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// What [`write_results`] produced.
pub struct Written {
    /// The table and notes for a terminal.
    pub text: String,
    /// The summary (also `summary.json`).
    pub summary: serde_json::Value,
    /// The table in Markdown (with its caption).
    pub markdown: String,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl Written {
    /// The files written, relative to `dir` where possible, for a report.
    pub fn relative_files(&self, dir: &Path) -> Vec<String> {
        self.files
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
            .collect()
    }
}

/// Writes the table files, figures, curves and summary of a sweep into `dir`.
pub fn write_results(
    ctx: &Context,
    plan: &SweepPlan,
    outcome: &SweepOutcome,
    kappas: &[f64],
    criterion: Criterion,
    dir: &Path,
) -> Result<Written, CliError> {
    let _ = ctx;
    // one table per method (the plan's order); runs of methods no longer in the plan are left out
    let mut tables = Vec::new();
    let mut results = Vec::new();
    for method in &plan.methods {
        let records = report::records_of(&outcome.records, method);
        let (table, method_results) = report::overcost_table(plan, &records, kappas, criterion)?;
        tables.push((method.name(), table));
        results.extend(method_results);
    }
    let single = tables.len() == 1;
    let caption_of = |method: &str| {
        let caption = report::caption(plan, criterion);
        if single && method == "erm" {
            caption
        } else {
            format!("Method `{method}`. {caption}")
        }
    };
    let mut files = Vec::new();
    let mut markdown = String::new();
    let mut text = String::new();
    let mut tex = String::new();
    for (method, table) in &tables {
        let caption = caption_of(method);
        if !single {
            markdown.push_str(&format!("### Method `{method}`\n\n"));
            let stem = format!("table_{method}");
            for (ext, body) in [
                ("md", format!("{caption}\n\n{}", table.to_markdown())),
                ("csv", table.to_csv()),
                ("tex", table.to_latex()),
            ] {
                let path = dir.join(format!("{stem}.{ext}"));
                write_atomic(&path, body.as_bytes())?;
                files.push(path);
            }
            tex.push_str(&format!("% method {method}\n"));
        }
        markdown.push_str(&format!("{caption}\n\n{}\n", table.to_markdown()));
        text.push_str(&format!("{caption}\n\n{}\n", table.to_text()));
        tex.push_str(&table.to_latex());
    }
    for (name, body) in [
        ("table.md", markdown.trim_end().to_string() + "\n"),
        ("table.csv", report::methods_csv(&tables)),
        ("table.tex", tex),
    ] {
        let path = dir.join(name);
        write_atomic(&path, body.as_bytes())?;
        files.push(path);
    }
    let comparison = report::method_comparison(plan, &outcome.records, kappas, criterion)?;
    let comparison_caption = format!(
        "Methods compared: median catch-up overcost in % over {} seed(s) per κ and ζ (`>X` a lower bound: a censored run could raise it; `n/a` the majority never reached the level), then the median worst-group accuracy in % on the held-out split ({}). {} Data `{}`.",
        plan.seeds,
        if plan.holdout > 0.0 {
            format!("{} of each group, taken before ζ", majmin_metrics::format_fraction_pct(plan.holdout))
        } else {
            "none: --holdout 0".into()
        },
        majmin_metrics::ACCURACY_DEFINITIONS,
        plan.data
    );
    let comparison_md = format!("{comparison_caption}\n\n{}", comparison.to_markdown());
    for (name, body) in [
        ("comparison.md", comparison_md.clone()),
        ("comparison.csv", comparison.to_csv()),
    ] {
        let path = dir.join(name);
        write_atomic(&path, body.as_bytes())?;
        files.push(path);
    }
    if !single {
        text.push_str(&format!("{comparison_md}\n"));
    }
    let curves_path = dir.join("curves.csv");
    let all: Vec<&sweep::RunRecord> = outcome.records.iter().collect();
    write_atomic(&curves_path, report::curves_csv(&all).as_bytes())?;
    files.push(curves_path);
    files.extend(report::sweep_figures(
        &outcome.records,
        &tables[0].1,
        kappas,
        criterion,
        dir,
    )?);
    if !single {
        files.extend(report::methods_figures(
            plan,
            &outcome.records,
            kappas,
            criterion,
            dir,
        )?);
    }
    let table = &tables[0].1;
    let mut notes = report::status_notes(&outcome.records);
    for (id, error) in &outcome.failed {
        notes.push(format!("{id}: failed: {error}"));
    }
    for (id, claim) in &outcome.held_by_others {
        notes.push(format!(
            "{id}: still being trained by another process (host {}, pid {})",
            claim.host, claim.pid
        ));
    }
    let total = plan.runs().len();
    let summary = serde_json::json!({
        "criterion": criterion.name(),
        "kappas": kappas,
        "zetas": plan.zetas,
        "seeds": plan.seeds,
        "runs_total": total,
        "runs_on_disk": outcome.records.len(),
        "runs_trained_now": outcome.trained,
        "runs_resumed": outcome.finished_before,
        "runs_by_other_processes": outcome.finished_by_others,
        "interrupted": outcome.interrupted,
        "training_seconds": outcome.seconds,
        "not_finished": notes,
        "methods": plan.methods.iter().map(|m| serde_json::json!({
            "method": m.name(),
            "parameters": m.parameters(),
            "config": m,
        })).collect::<Vec<_>>(),
        "holdout": plan.holdout,
        "definitions": majmin_metrics::ACCURACY_DEFINITIONS,
        "table": table,
        "tables": tables.iter().map(|(m, t)| (m.clone(), serde_json::to_value(t).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        "comparison": comparison,
        "runs": results,
    });
    let summary_path = dir.join("summary.json");
    write_json(&summary_path, &summary)?;
    files.push(summary_path);
    if !notes.is_empty() {
        text.push_str(&format!(
            "\n{} run(s) did not finish normally:\n",
            notes.len()
        ));
        for n in &notes {
            text.push_str(&format!("  {n}\n"));
        }
    }
    text.push_str(&format!(
        "\n{} of {} runs ({} trained now in {:.0} s, {} resumed, {} by other processes); tables, figures and runs in {}\n",
        outcome.records.len(),
        total,
        outcome.trained,
        outcome.seconds,
        outcome.finished_before,
        outcome.finished_by_others,
        dir.display()
    ));
    Ok(Written {
        text,
        summary,
        markdown: markdown.trim_end().to_string(),
        files,
    })
}
