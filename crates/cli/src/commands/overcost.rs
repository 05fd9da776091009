//! `majmin overcost --archs A,B --data SPEC --zetas … --kappas … --seeds N --out DIR [--resume]`:
//! the catch-up overcost sweep and its table (SPEC §1, §7, §9).
//!
//! One training per (architecture, ζ, seed) serves every κ. Each finished run is one JSON file
//! `DIR/runs/<arch>_z<zeta>_s<seed>.json`, written atomically; `--resume` skips runs whose file
//! exists and never rewrites them; without `--resume` a folder that already holds run files is
//! refused (exit 2). A diverged run is recorded with its status and the sweep goes on (its curves
//! end at the divergence, so its overcost is censored or `n/a`; it is listed under the table).
//! SIGINT stops the sweep: finished runs stay on disk, the run in progress is discarded and redone
//! by `--resume`, and the command exits with code 130. A SIGKILL loses only the runs in progress.
//!
//! Then DIR gets `table.md`, `table.csv`, `table.tex` (rows: architecture with its size; columns:
//! κ, then ζ), `overcost_vs_zeta.svg/png`, one curves figure per architecture and ζ (seed 0) in
//! `figures/`, `curves.csv` (every run, long format with a `run` column, readable by
//! `majmin metrics overcost --curves`), `summary.json` (every run's T1, T0 and overcost at every
//! κ, and the table) and `manifest.json`; the table is printed (or `summary.json`'s content with
//! `--json`).

use std::path::{Path, PathBuf};

use majmin_metrics::Criterion;
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{ensure_dir, print_json, write_atomic, write_json};
use crate::report;
use crate::sweep::{self, ArchChoice, SweepOutcome, SweepPlan, TrainOptions};

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
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue a sweep in DIR: skip runs whose file exists, never rewrite them. (Ctrl-C stops a
    /// sweep with exit code 130: finished runs are kept, the run in progress is discarded.)
    #[arg(long)]
    pub resume: bool,
}

/// Parses `--zetas`: each in (0, 1].
pub fn parse_zetas(text: &str) -> Result<Vec<f64>, CliError> {
    let zetas = sweep::parse_list("--zetas", text, |z| {
        if z > 0.0 && z <= 1.0 {
            Ok(())
        } else {
            Err("ζ = n0/n1 must be in (0, 1], e.g. 0.01,0.1,0.3,0.8".into())
        }
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
        if k > 0.0 && k < 1.0 {
            Ok(())
        } else {
            Err("κ must be in (0, 1), e.g. 0.9,0.99".into())
        }
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
    let plan = SweepPlan {
        archs: args
            .archs
            .iter()
            .map(|a| ArchChoice {
                name: a.trim().to_string(),
                width: args.train.width,
            })
            .collect(),
        data: args.data.clone(),
        minority_classes: args.train.minority_classes.clone(),
        zetas,
        seeds: args.seeds,
        seed: ctx.seed,
        train: args.train.train_config(ctx.seed)?,
    };
    // bad input fails before anything is written
    sweep::validate_plan(ctx, &plan)?;
    ensure_dir(&args.out)?;
    ctx.write_manifest(
        &args.out,
        "overcost",
        &serde_json::json!({ "args": args, "plan": plan }),
    )?;
    let outcome = sweep::execute(ctx, &plan, &args.out, args.resume, args.jobs)?;
    let written = write_results(ctx, &plan, &outcome, &kappas, criterion, &args.out)?;
    if ctx.json {
        print_json(&written.summary)?;
    } else {
        print!("{}", written.text);
    }
    if outcome.interrupted {
        return Err(sweep::interrupted_error(
            &args.out,
            outcome.records.len(),
            plan.keys().len(),
        ));
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
    let (table, results) = report::overcost_table(plan, &outcome.records, kappas, criterion)?;
    let caption = report::caption(plan, criterion);
    let mut files = report::write_tables(dir, &table, &caption)?;
    let all: Vec<&sweep::RunRecord> = outcome.records.iter().collect();
    let curves_path = dir.join("curves.csv");
    write_atomic(&curves_path, sweep::long_csv(&all, true).as_bytes())?;
    files.push(curves_path);
    files.extend(report::sweep_figures(
        &outcome.records,
        &table,
        kappas,
        criterion,
        dir,
    )?);
    let notes = report::status_notes(&outcome.records);
    let total = plan.keys().len();
    let summary = serde_json::json!({
        "criterion": criterion.name(),
        "kappas": kappas,
        "zetas": plan.zetas,
        "seeds": plan.seeds,
        "runs_total": total,
        "runs_on_disk": outcome.records.len(),
        "runs_trained_now": outcome.trained,
        "runs_resumed": outcome.skipped,
        "interrupted": outcome.interrupted,
        "training_seconds": outcome.seconds,
        "not_finished": notes,
        "table": table,
        "runs": results,
    });
    let summary_path = dir.join("summary.json");
    write_json(&summary_path, &summary)?;
    files.push(summary_path);
    let mut text = format!("{caption}\n\n{}", table.to_text());
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
        "\n{} of {} runs ({} trained now in {:.0} s, {} resumed); tables, figures and runs in {}\n",
        outcome.records.len(),
        total,
        outcome.trained,
        outcome.seconds,
        outcome.skipped,
        dir.display()
    ));
    Ok(Written {
        text,
        summary,
        markdown: format!("{caption}\n\n{}", table.to_markdown()),
        files,
    })
}
