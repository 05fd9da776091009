//! `majmin metrics overcost --curves FILE.csv --kappas 0.9,0.99 [--criterion loss|accuracy]
//! [--figures DIR] [--json]`: the catch-up overcost from curves made anywhere (docs/definitions.md, docs/command-line.md).
//!
//! The curve file has the columns `t,group,loss,accuracy` and optionally `run` (format in
//! `majmin_metrics::curve`). For each κ and each run: `T1`, `T0` (interpolated), the overcost
//! (signed; `>X` lower bound when the minority never reaches the level; `n/a` with a reason when
//! the majority never does), then the median and spread over runs with the censored count.
//!
//! `--json` prints one entry per κ, keyed by the κ as written on the command line (`"0.9"`):
//! `{kappa, criterion, runs: [{run, level, t_majority, t_minority, last_t, overcost_pct, censored,
//! reason}], median_overcost_pct, median_is_lower_bound, min_overcost_pct, max_overcost_pct,
//! censored_runs, undefined_runs}`. For a censored run `t_minority` is null and `overcost_pct` is
//! the lower bound computed with the minority's last t (`last_t`); an undefined run has
//! `overcost_pct` null and a `reason`.
//!
//! Exit code 2 for a bad file (with its line and column), a κ outside (0, 1), or a loss criterion
//! on a file without `all` rows.

use std::path::PathBuf;

use majmin_core::Kappa;
use majmin_metrics::plot::{save_both, CurvesFigure};
use majmin_metrics::{
    catch_up_overcost, read_curves_csv, Criterion, MetricsError, OvercostSummary, RunCurves,
    RunOvercost, Threshold,
};
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{ensure_dir, print_json};

/// Options of `majmin metrics`.
#[derive(Debug, clap::Args, Serialize)]
pub struct Args {
    /// The metric to compute.
    #[command(subcommand)]
    pub command: MetricsCommand,
}

/// The `majmin metrics` subcommands.
#[derive(Debug, clap::Subcommand, Serialize)]
pub enum MetricsCommand {
    /// Catch-up overcost from a curve file (CSV `t,group,loss,accuracy[,run]`) made anywhere.
    Overcost(OvercostArgs),
}

/// The threshold criterion on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CriterionArg {
    /// Group mean loss ≤ (1 − κ)·L̄(θ0), the global threshold (needs `all` rows).
    Loss,
    /// Group training accuracy ≥ κ.
    Accuracy,
}

impl From<CriterionArg> for Criterion {
    fn from(c: CriterionArg) -> Self {
        match c {
            CriterionArg::Loss => Criterion::Loss,
            CriterionArg::Accuracy => Criterion::Accuracy,
        }
    }
}

/// Options of `majmin metrics overcost`.
#[derive(Debug, clap::Args, Serialize)]
pub struct OvercostArgs {
    /// Curve file: CSV with a header `t,group,loss,accuracy` and optionally `run`; group is
    /// `majority`, `minority` or `all` (the `all` rows give the global loss for the threshold).
    #[arg(long, value_name = "FILE.csv")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
    pub curves: PathBuf,
    /// Thresholds κ in (0, 1), comma-separated (fractions: 0.9 is 90 %).
    #[arg(
        long,
        value_name = "K,…",
        value_delimiter = ',',
        default_value = "0.9,0.99"
    )]
    pub kappas: Vec<String>,
    /// Threshold criterion.
    #[arg(long, value_enum, default_value_t = CriterionArg::Loss)]
    pub criterion: CriterionArg,
    /// Also draw each run's curves with the levels and T1, T0 marked: `DIR/<run>.svg` and `.png`.
    #[arg(long, value_name = "DIR")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub figures: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    match &args.command {
        MetricsCommand::Overcost(a) => overcost(a, ctx),
    }
}

/// One run at one κ, as printed by `--json`.
#[derive(Debug, Serialize)]
struct RunEntry {
    run: String,
    level: f64,
    t_majority: Option<f64>,
    t_minority: Option<f64>,
    last_t: f64,
    overcost_pct: Option<f64>,
    censored: bool,
    reason: Option<String>,
}

impl RunEntry {
    fn new(r: &RunOvercost, curves: &RunCurves) -> Self {
        Self {
            run: r.run.clone(),
            level: r.level,
            t_majority: r.majority.time(),
            t_minority: r.minority.time(),
            last_t: curves.minority.last_t().unwrap_or(f64::NAN),
            overcost_pct: r.overcost.pct(),
            censored: r.overcost.is_censored(),
            reason: r.overcost.undefined_reason().map(|u| u.to_string()),
        }
    }
}

/// One κ, as printed by `--json`.
#[derive(Debug, Serialize)]
struct KappaEntry {
    kappa: f64,
    criterion: Criterion,
    runs: Vec<RunEntry>,
    median_overcost_pct: Option<f64>,
    median_is_lower_bound: bool,
    min_overcost_pct: Option<f64>,
    max_overcost_pct: Option<f64>,
    censored_runs: usize,
    undefined_runs: usize,
}

/// Parses `--kappas`, keeping each κ as written.
fn parse_kappas(
    written: &[String],
    criterion: Criterion,
) -> Result<Vec<(String, Threshold)>, CliError> {
    let mut out: Vec<(String, Threshold)> = Vec::new();
    for text in written {
        let text = text.trim();
        let kappa = text
            .parse::<Kappa>()
            .map_err(|e| CliError::usage(format!("--kappas: {e}")))?
            .get();
        let threshold = Threshold::new(kappa, criterion)
            .map_err(|e| CliError::usage(format!("--kappas: {e}")))?;
        if out.iter().any(|(_, t)| t.kappa() == kappa) {
            return Err(CliError::usage(format!(
                "--kappas: κ = {text} is given twice"
            )));
        }
        out.push((text.to_string(), threshold));
    }
    Ok(out)
}

fn metrics_error(e: MetricsError) -> CliError {
    match e {
        MetricsError::Invalid(m) => CliError::run(m),
        other => CliError::usage(other),
    }
}

fn overcost(args: &OvercostArgs, ctx: &Context) -> Result<(), CliError> {
    let criterion = Criterion::from(args.criterion);
    let thresholds = parse_kappas(&args.kappas, criterion)?;
    // never a folder, a FIFO or a device such as /dev/zero
    crate::input::regular_file("--curves", &args.curves, "a curve file (CSV)")?;
    if let Some(dir) = &args.figures {
        ensure_dir(dir).map_err(|e| e.context("--figures"))?;
    }
    let runs = read_curves_csv(&args.curves).map_err(metrics_error)?;
    tracing::info!(file = %args.curves.display(), runs = runs.len(), "curves read");

    let mut entries = serde_json::Map::new();
    let mut human = String::new();
    for (written, threshold) in &thresholds {
        let results = runs
            .iter()
            .map(|r| catch_up_overcost(r, threshold))
            .collect::<Result<Vec<_>, _>>()
            .map_err(metrics_error)?;
        let summary = OvercostSummary::new(results.iter().map(|r| &r.overcost));
        let entry = KappaEntry {
            kappa: threshold.kappa(),
            criterion,
            runs: results
                .iter()
                .zip(&runs)
                .map(|(r, c)| RunEntry::new(r, c))
                .collect(),
            median_overcost_pct: summary.median.map(|m| m.value),
            median_is_lower_bound: summary.median.is_some_and(|m| m.lower_bound),
            min_overcost_pct: summary.min.map(|m| m.value),
            max_overcost_pct: summary.max.map(|m| m.value),
            censored_runs: summary.censored,
            undefined_runs: summary.undefined,
        };
        human.push_str(&kappa_table(written, criterion, &results, &runs, &summary));
        let value = serde_json::to_value(&entry)
            .map_err(|e| CliError::run(format!("cannot encode JSON: {e}")))?;
        entries.insert(written.clone(), value);
    }

    if let Some(dir) = &args.figures {
        let kappas: Vec<f64> = thresholds.iter().map(|(_, t)| t.kappa()).collect();
        for run in &runs {
            let figure = CurvesFigure::new(run, criterion, &kappas).map_err(metrics_error)?;
            let stem = dir.join(file_stem(&run.run));
            save_both(&figure, &stem).map_err(|e| CliError::run(e.to_string()))?;
        }
        if !ctx.json {
            human.push_str(&format!("figures: {}\n", dir.display()));
        }
    }

    if ctx.json {
        print_json(&serde_json::Value::Object(entries))
    } else {
        print!("{human}");
        Ok(())
    }
}

/// A file name for a run: letters, digits, `-`, `_` and `.` kept, anything else `_`.
fn file_stem(run: &str) -> String {
    let stem: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        format!("run{stem}")
    } else {
        stem
    }
}

/// A time for the table: up to four decimals, trailing zeros dropped.
fn fmt_time(t: f64) -> String {
    let text = format!("{t:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A level for the table: four significant digits.
fn fmt_level(level: f64) -> String {
    if level != 0.0 && level.abs() < 0.01 {
        format!("{level:.3e}")
    } else {
        format!("{level:.4}")
    }
}

/// The human-readable table of one κ.
fn kappa_table(
    written: &str,
    criterion: Criterion,
    results: &[RunOvercost],
    runs: &[RunCurves],
    summary: &OvercostSummary,
) -> String {
    let rule = match criterion {
        Criterion::Loss => "group mean loss ≤ (1 − κ)·L̄(θ0)",
        Criterion::Accuracy => "group accuracy ≥ κ",
    };
    let mut rows: Vec<[String; 5]> = vec![[
        "run".into(),
        "level".into(),
        "T1 (majority)".into(),
        "T0 (minority)".into(),
        "overcost %".into(),
    ]];
    let mut notes = Vec::new();
    for (r, curves) in results.iter().zip(runs) {
        let t1 = r
            .majority
            .time()
            .map(fmt_time)
            .unwrap_or_else(|| "never".into());
        let t0 = match r.minority.time() {
            Some(t) => fmt_time(t),
            None => format!(
                ">{}",
                fmt_time(curves.minority.last_t().unwrap_or(f64::NAN))
            ),
        };
        if let Some(reason) = r.overcost.undefined_reason() {
            notes.push(format!("  {}: n/a — {reason}", r.run));
        }
        rows.push([
            r.run.clone(),
            fmt_level(r.level),
            t1,
            t0,
            r.overcost.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|j| rows.iter().map(|r| r[j].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("κ = {written} ({} criterion: {rule})\n", criterion.name());
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::from("  ");
        for (j, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[j] - cell.chars().count());
            if j == 0 {
                line.push_str(&format!("{cell}{pad}"));
            } else {
                line.push_str(&format!("  {pad}{cell}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&format!("  {}\n", "-".repeat(line.chars().count() - 2)));
        }
    }
    for note in notes {
        out.push_str(&note);
        out.push('\n');
    }
    out.push_str(&format!(
        "  median over {} run(s) [min–max]: {}; censored: {}, n/a: {}\n\n",
        summary.runs,
        summary.cell(),
        summary.censored,
        summary.undefined
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappas_are_kept_as_written_and_checked() {
        let k = parse_kappas(&["0.90".into(), " 0.99".into()], Criterion::Loss).unwrap();
        assert_eq!(k[0].0, "0.90");
        assert_eq!(k[1].1.kappa(), 0.99);
        for bad in ["0", "1", "90", "x", "-0.1"] {
            let e = parse_kappas(&[bad.into()], Criterion::Loss).unwrap_err();
            assert_eq!(e.code, 2, "{bad}");
        }
        assert!(parse_kappas(&["90".into()], Criterion::Loss)
            .unwrap_err()
            .message
            .contains("0.9?"));
        assert!(parse_kappas(&["0.9".into(), "0.90".into()], Criterion::Loss).is_err());
        assert_eq!(file_stem("a/b c"), "a_b_c");
        assert_eq!(fmt_time(2.5), "2.5");
        assert_eq!(fmt_time(3.0), "3");
    }
}
