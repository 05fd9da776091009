//! Tables, figures and summaries of training runs and sweeps: turns [`RunRecord`]s into
//! majmin-metrics curves, overcosts, the poster's table and figures, and writes them.

use std::path::{Path, PathBuf};

use majmin_core::RunStatus;
use majmin_metrics::plot::{save_both, CurvesFigure, OvercostFigure};
use majmin_metrics::{
    catch_up_overcost, format_fraction_pct, minority_drop, zone_summary, ArchLabel, Criterion,
    MinorityDrop, Overcost, OvercostSummary, OvercostTable, RunCurves, RunOvercost, Threshold,
    Undefined, ZoneCell,
};
use serde::Serialize;

use crate::error::{write_error, CliError};
use crate::output::write_atomic;
use crate::sweep::{RunRecord, SweepPlan};

/// The run name used in curve files, summaries and figure names: its [`majmin_sweep::RunId`].
pub fn run_name(record: &RunRecord) -> String {
    record.id.to_string()
}

/// Curves in majmin-metrics' curve-file format (`run,t,group,loss,accuracy`), the input of
/// `majmin metrics overcost --curves`; runs without a finite point are left out.
pub fn curves_csv(records: &[&RunRecord]) -> String {
    let runs: Vec<RunCurves> = records.iter().filter_map(|r| curves(r)).collect();
    majmin_metrics::write_curves_csv(&runs)
}

/// The record's curves for majmin-metrics (`None` when no finite point was recorded, e.g. a run
/// that diverged at t = 0).
pub fn curves(record: &RunRecord) -> Option<RunCurves> {
    RunCurves::from_eval_points(run_name(record), &record.points).ok()
}

/// One run's result at one κ.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The run's name.
    pub run: String,
    /// Architecture.
    pub arch: String,
    /// ζ.
    pub zeta: Option<f64>,
    /// Seed index.
    pub seed_index: u32,
    /// κ.
    pub kappa: f64,
    /// How the run ended (`finished`, `diverged at t = …`).
    pub status: String,
    /// `T1(κ)` in epochs (None: not reached).
    pub t_majority: Option<f64>,
    /// `T0(κ)` in epochs (None: not reached).
    pub t_minority: Option<f64>,
    /// The overcost in % (the lower bound when censored; None when undefined).
    pub overcost_pct: Option<f64>,
    /// Whether the minority never reached the level (the number is a lower bound).
    pub censored: bool,
    /// The overcost as metrics computed it.
    pub overcost: Overcost,
    /// Fraction of training time in the adversarial zone (runs trained with `--zone`).
    pub zone_adversarial_time_fraction: Option<f64>,
    /// The minority initial drop: whether the minority's loss rose while the global loss fell.
    pub minority_drop: MinorityDrop,
}

/// The overcost of `record` at `kappa`: metrics' [`catch_up_overcost`], or undefined (majority
/// never reached) for a run without a finite point.
pub fn run_overcost(
    record: &RunRecord,
    kappa: f64,
    criterion: Criterion,
) -> Result<RunResult, CliError> {
    let threshold =
        Threshold::new(kappa, criterion).map_err(|e| CliError::usage(format!("--kappas: {e}")))?;
    let computed: Option<RunOvercost> = match curves(record) {
        Some(c) => Some(
            catch_up_overcost(&c, &threshold)
                .map_err(|e| CliError::run(format!("overcost of run {}: {e}", run_name(record))))?,
        ),
        None => None,
    };
    let (t_majority, t_minority, overcost) = match &computed {
        Some(r) => (r.majority.time(), r.minority.time(), r.overcost),
        None => (
            None,
            None,
            Overcost::Undefined {
                reason: Undefined::MajorityNeverReached { last_t: 0.0 },
            },
        ),
    };
    Ok(RunResult {
        run: run_name(record),
        arch: record.config.arch.clone(),
        zeta: record.config.zeta,
        seed_index: record.config.seed_index,
        kappa,
        status: record.status.to_string(),
        t_majority,
        t_minority,
        overcost_pct: overcost.pct(),
        censored: overcost.is_censored(),
        overcost,
        zone_adversarial_time_fraction: zone_summary(&record.points)
            .map(|z| z.adversarial_time_fraction),
        minority_drop: minority_drop(&record.points),
    })
}

/// The row label of an architecture in a sweep: its name, with the width when it is not 1.
pub fn arch_row_name(name: &str, width: f64) -> String {
    if width == 1.0 {
        name.to_string()
    } else {
        format!("{name} ×{width}")
    }
}

/// Every run's result at every κ, and the table (rows: architectures; columns: κ, then ζ).
pub fn overcost_table(
    plan: &SweepPlan,
    records: &[RunRecord],
    kappas: &[f64],
    criterion: Criterion,
) -> Result<(OvercostTable, Vec<RunResult>), CliError> {
    let mut table = OvercostTable::new();
    let mut results = Vec::new();
    for arch in &plan.archs {
        let params = records
            .iter()
            .find(|r| r.config.arch == arch.name && r.config.width == arch.width)
            .map(|r| r.params as u64);
        let label = ArchLabel {
            name: arch_row_name(&arch.name, arch.width),
            params,
        };
        for &kappa in kappas {
            for &zeta in &plan.zetas {
                let mut cell = Vec::new();
                for r in records.iter().filter(|r| {
                    r.config.arch == arch.name
                        && r.config.width == arch.width
                        && r.config.zeta == Some(zeta)
                }) {
                    let result = run_overcost(r, kappa, criterion)?;
                    cell.push(result.overcost);
                    results.push(result);
                }
                table
                    .insert(
                        label.clone(),
                        kappa,
                        zeta,
                        OvercostSummary::new(cell.iter()),
                    )
                    .map_err(|e| CliError::run(format!("overcost table: {e}")))?;
            }
        }
        for &zeta in &plan.zetas {
            let runs: Vec<&RunRecord> = records
                .iter()
                .filter(|r| {
                    r.config.arch == arch.name
                        && r.config.width == arch.width
                        && r.config.zeta == Some(zeta)
                })
                .collect();
            let mut fractions: Vec<f64> = runs
                .iter()
                .filter_map(|r| zone_summary(&r.points).map(|z| z.adversarial_time_fraction))
                .collect();
            fractions.sort_by(f64::total_cmp);
            let median = match fractions.len() {
                0 => None,
                n if n % 2 == 1 => Some(fractions[n / 2]),
                n => Some(0.5 * (fractions[n / 2 - 1] + fractions[n / 2])),
            };
            if !runs.is_empty() {
                table.set_zone(ZoneCell {
                    arch: label.name.clone(),
                    zeta,
                    adversarial_time_fraction: median,
                    minority_drops: runs
                        .iter()
                        .filter(|r| minority_drop(&r.points).detected)
                        .count(),
                    runs: runs.len(),
                });
            }
        }
    }
    Ok((table, results))
}

/// Writes `table.md`, `table.csv` and `table.tex` into `dir`; returns their paths.
pub fn write_tables(
    dir: &Path,
    table: &OvercostTable,
    caption: &str,
) -> Result<Vec<PathBuf>, CliError> {
    let md = format!("{caption}\n\n{}", table.to_markdown());
    let files = [
        ("table.md", md),
        ("table.csv", table.to_csv()),
        ("table.tex", table.to_latex()),
    ];
    let mut paths = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        paths.push(path);
    }
    Ok(paths)
}

/// One line per run that did not finish normally (`mlp ζ=0.3 seed 0: diverged at t = 0.06`).
pub fn status_notes(records: &[RunRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.status != RunStatus::Finished)
        .map(|r| format!("{}: {}", r.label(), r.status))
        .collect()
}

/// A caption describing the table's criterion and seeds.
pub fn caption(plan: &SweepPlan, criterion: Criterion) -> String {
    let zetas: Vec<String> = plan.zetas.iter().map(|z| format_fraction_pct(*z)).collect();
    format!(
        "Catch-up overcost in % (median [min–max] over {} seed(s); `>X` = the minority never reached the level, a lower bound; `n/a` = the majority never did). Criterion: {}; ζ = {}; data `{}`.",
        plan.seeds,
        match criterion {
            Criterion::Loss => "global loss threshold (1 − κ)·L̄(θ0)",
            Criterion::Accuracy => "training accuracy ≥ κ",
        },
        zetas.join(", "),
        plan.data
    )
}

/// The thresholds marked on a single run's curves figure.
pub const FIGURE_KAPPAS: [f64; 2] = [0.9, 0.99];

/// Per-group curves of one run with the global threshold of each κ in `kappas` and `T1`, `T0`
/// marked (metrics' [`CurvesFigure`]), as `stem.svg` and `stem.png`. A run without a finite point
/// gets no figure.
pub fn curves_figure(
    record: &RunRecord,
    stem: &Path,
    kappas: &[f64],
    criterion: Criterion,
) -> Result<Vec<PathBuf>, CliError> {
    let Some(run) = curves(record) else {
        tracing::warn!(run = %run_name(record), "no finite evaluation point: no curves figure");
        return Ok(Vec::new());
    };
    let mut figure = CurvesFigure::new(&run, criterion, kappas)
        .map_err(|e| CliError::run(format!("curves figure of {}: {e}", run_name(record))))?;
    figure.title = format!(
        "{} ({} params), {}",
        record.label(),
        record.params,
        record.status
    );
    figure.log_y = criterion == Criterion::Loss;
    let paths = save_both(&figure, stem).map_err(|e| write_error(stem, e))?;
    Ok(paths.to_vec())
}

/// The sweep's figures: `overcost_vs_zeta.svg/png` (median overcost against ζ per architecture,
/// one panel per κ) and `figures/curves_<run>.svg/png` for seed 0 of each architecture and ζ, named
/// by the run (e.g. `curves_mlp_z0p01_s0_3fa2c1d9.svg`).
pub fn sweep_figures(
    records: &[RunRecord],
    table: &OvercostTable,
    kappas: &[f64],
    criterion: Criterion,
    dir: &Path,
) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    let mut figure = OvercostFigure::from_table(table);
    figure.title = format!(
        "Catch-up overcost against ζ ({} criterion)",
        criterion.name()
    );
    let stem = dir.join("overcost_vs_zeta");
    files.extend(save_both(&figure, &stem).map_err(|e| write_error(&stem, e))?);
    for record in records.iter().filter(|r| r.config.seed_index == 0) {
        // run names have no dot, which `save_both` would take for an extension
        let stem = dir
            .join("figures")
            .join(format!("curves_{}", run_name(record)));
        files.extend(curves_figure(record, &stem, kappas, criterion)?);
    }
    Ok(files)
}
