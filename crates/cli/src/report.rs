//! Tables, figures and summaries of training runs and sweeps: turns [`RunRecord`]s into
//! majmin-metrics curves, overcosts, the poster's table and figures, and writes them.

use std::path::{Path, PathBuf};

use majmin_core::RunStatus;
use majmin_flow::train::{GroupMetrics, Method};
use majmin_metrics::plot::{save_both, CurvesFigure, OvercostFigure};
use majmin_metrics::{
    catch_up_overcost, format_fraction_pct, minority_drop, zone_summary, ArchLabel, ComparisonRow,
    Criterion, GroupAccuracy, GroupScores, MethodComparison, MinorityDrop, Overcost,
    OvercostSummary, OvercostTable, RunCurves, RunOvercost, Threshold, Undefined, ZoneCell,
    ACCURACY_DEFINITIONS,
};
use majmin_sweep::FinalMetrics;
use serde::Serialize;

use crate::error::{write_error, CliError};
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
    /// The training method (`erm`, `reweight`, …).
    pub method: String,
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
    /// Worst-group accuracy (the smaller group accuracy) on the training set at the end.
    pub train_worst_group_accuracy: Option<f64>,
    /// Accuracy over all training samples at the end.
    pub train_average_accuracy: Option<f64>,
    /// Worst-group accuracy on the held-out set at the end (None without one).
    pub holdout_worst_group_accuracy: Option<f64>,
    /// Accuracy over all held-out samples at the end.
    pub holdout_average_accuracy: Option<f64>,
    /// Worst-group loss (the larger group mean loss) on the held-out set at the end.
    pub holdout_worst_group_loss: Option<f64>,
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
        method: record.config.method.name(),
        train_worst_group_accuracy: record
            .final_metrics
            .as_ref()
            .map(|m| m.train.worst_group_accuracy()),
        train_average_accuracy: record.final_metrics.as_ref().map(|m| m.train.accuracy),
        holdout_worst_group_accuracy: holdout(record).map(GroupMetrics::worst_group_accuracy),
        holdout_average_accuracy: holdout(record).map(|h| h.accuracy),
        holdout_worst_group_loss: holdout(record).map(GroupMetrics::worst_group_loss),
    })
}

fn holdout(record: &RunRecord) -> Option<&GroupMetrics> {
    record.final_metrics.as_ref()?.holdout.as_ref()
}

/// majmin-metrics' scores of one set's group metrics.
pub fn scores(m: &GroupMetrics) -> GroupScores {
    GroupScores {
        average_accuracy: m.accuracy,
        majority_accuracy: m.majority_accuracy,
        minority_accuracy: m.minority_accuracy,
        majority_loss: m.majority_loss,
        minority_loss: m.minority_loss,
    }
}

fn set_json(m: &GroupMetrics) -> serde_json::Value {
    serde_json::json!({
        "average_accuracy": m.accuracy,
        "group_average_accuracy": m.group_average_accuracy(),
        "worst_group_accuracy": m.worst_group_accuracy(),
        "majority_accuracy": m.majority_accuracy,
        "minority_accuracy": m.minority_accuracy,
        "mean_loss": m.loss,
        "majority_loss": m.majority_loss,
        "minority_loss": m.minority_loss,
        "worst_group_loss": m.worst_group_loss(),
    })
}

/// The end-of-run metrics as JSON, with their definitions.
pub fn final_metrics_json(m: &FinalMetrics) -> serde_json::Value {
    serde_json::json!({
        "definitions": ACCURACY_DEFINITIONS,
        "train": set_json(&m.train),
        "holdout": m.holdout.as_ref().map(set_json),
        "holdout_majority": m.holdout_majority,
        "holdout_minority": m.holdout_minority,
    })
}

/// The end-of-run metrics for a terminal: one line per set, then the definitions.
pub fn final_metrics_text(m: &FinalMetrics) -> String {
    let line = |name: &str, g: &GroupMetrics| {
        format!(
            "{name}: accuracy average {:.1} %, worst-group {:.1} % (majority {:.1} %, minority {:.1} %); mean loss majority {:.4}, minority {:.4}, worst-group {:.4}\n",
            100.0 * g.accuracy,
            100.0 * g.worst_group_accuracy(),
            100.0 * g.majority_accuracy,
            100.0 * g.minority_accuracy,
            g.majority_loss,
            g.minority_loss,
            g.worst_group_loss()
        )
    };
    let mut text = line("training set", &m.train);
    match &m.holdout {
        Some(h) => text.push_str(&line(
            &format!(
                "held-out set ({} majority, {} minority)",
                m.holdout_majority, m.holdout_minority
            ),
            h,
        )),
        None => text.push_str("held-out set: none (--holdout 0)\n"),
    }
    text.push_str(&format!("({ACCURACY_DEFINITIONS})\n"));
    text
}

/// The records of one method.
pub fn records_of(records: &[RunRecord], method: &Method) -> Vec<RunRecord> {
    records
        .iter()
        .filter(|r| r.config.method.name() == method.name())
        .cloned()
        .collect()
}

/// The comparison of the plan's methods: per (architecture, method) the median overcost per κ
/// and ζ and the median held-out accuracies per ζ.
pub fn method_comparison(
    plan: &SweepPlan,
    records: &[RunRecord],
    kappas: &[f64],
    criterion: Criterion,
) -> Result<MethodComparison, CliError> {
    let mut comparison = MethodComparison::default();
    for arch in &plan.archs {
        let params = records
            .iter()
            .find(|r| r.config.arch == arch.name && r.config.width == arch.width)
            .map(|r| r.params as u64);
        let label = ArchLabel {
            name: arch_row_name(&arch.name, arch.width),
            params,
        };
        for method in &plan.methods {
            let cell_runs = |zeta: f64| {
                records.iter().filter(move |r| {
                    r.config.arch == arch.name
                        && r.config.width == arch.width
                        && r.config.method.name() == method.name()
                        && r.config.zeta == Some(zeta)
                })
            };
            let mut overcost = Vec::new();
            for &kappa in kappas {
                for &zeta in &plan.zetas {
                    let cell = cell_runs(zeta)
                        .map(|r| run_overcost(r, kappa, criterion).map(|x| x.overcost))
                        .collect::<Result<Vec<_>, _>>()?;
                    overcost.push((kappa, zeta, OvercostSummary::new(cell.iter())));
                }
            }
            let holdout = plan
                .zetas
                .iter()
                .map(|&zeta| {
                    let s: Vec<GroupScores> =
                        cell_runs(zeta).filter_map(holdout).map(scores).collect();
                    (zeta, GroupAccuracy::new(&s))
                })
                .collect();
            comparison.rows.push(ComparisonRow {
                arch: label.row_label(),
                method: method.name(),
                overcost,
                holdout,
            });
        }
    }
    Ok(comparison)
}

/// `overcost_vs_zeta_methods_<arch>.svg/png` in `dir` (`<arch>` as in run names, e.g.
/// `resnet18-w0p125`): per architecture, the median overcost
/// against ζ with one line per method, one panel per κ.
pub fn methods_figures(
    plan: &SweepPlan,
    records: &[RunRecord],
    kappas: &[f64],
    criterion: Criterion,
    dir: &Path,
) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for arch in &plan.archs {
        let mut table = OvercostTable::new();
        for method in &plan.methods {
            let label = ArchLabel {
                name: method.name(),
                params: None,
            };
            for &kappa in kappas {
                for &zeta in &plan.zetas {
                    let cell = records
                        .iter()
                        .filter(|r| {
                            r.config.arch == arch.name
                                && r.config.width == arch.width
                                && r.config.method.name() == method.name()
                                && r.config.zeta == Some(zeta)
                        })
                        .map(|r| run_overcost(r, kappa, criterion).map(|x| x.overcost))
                        .collect::<Result<Vec<_>, _>>()?;
                    table
                        .insert(
                            label.clone(),
                            kappa,
                            zeta,
                            OvercostSummary::new(cell.iter()),
                        )
                        .map_err(|e| CliError::run(format!("methods figure: {e}")))?;
                }
            }
        }
        let mut figure = OvercostFigure::from_table(&table);
        figure.title = format!(
            "{}: catch-up overcost against ζ per method ({} criterion)",
            arch_row_name(&arch.name, arch.width),
            criterion.name()
        );
        // as in run names: `mlp`, `resnet18-w0p125`
        let mut name: String = arch
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if arch.width != 1.0 {
            name.push_str(&format!("-w{}", arch.width).replace('.', "p"));
        }
        let stem = dir.join(format!("overcost_vs_zeta_methods_{name}"));
        files.extend(save_both(&figure, &stem).map_err(|e| write_error(&stem, e))?);
    }
    Ok(files)
}

/// `table.csv` with a leading `method` column: each method's long-format rows.
pub fn methods_csv(tables: &[(String, OvercostTable)]) -> String {
    let mut out = String::new();
    for (i, (method, table)) in tables.iter().enumerate() {
        for (j, line) in table.to_csv().lines().enumerate() {
            if j == 0 {
                if i == 0 {
                    out.push_str(&format!("method,{line}\n"));
                }
            } else {
                out.push_str(&format!("{method},{line}\n"));
            }
        }
    }
    out
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
