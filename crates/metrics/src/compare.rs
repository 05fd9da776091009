//! Methods side by side (issue 18): the median catch-up overcost of each (architecture, method)
//! per κ and ζ, beside the worst-group accuracy on the held-out set.
//!
//! [`MethodComparison`] collects, per row (architecture, method), one [`OvercostSummary`] per
//! (κ, ζ) and one [`GroupAccuracy`] per ζ, and writes them as Markdown and CSV. Definitions (the
//! tables state them too): *average* accuracy is over all samples of a set, so the larger group
//! dominates it; *worst-group* accuracy is the smaller of the majority's and the minority's
//! accuracy; both are medians over the seeds of a cell.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::aggregate::OvercostSummary;
use crate::curve::quote_field;
use crate::table::format_fraction_pct;

/// The sentence that defines the accuracy columns, for captions.
pub const ACCURACY_DEFINITIONS: &str = "Average accuracy: correct predictions over all samples of the set (the majority dominates it). Worst-group accuracy: the smaller of the majority's and the minority's accuracy. Group mean loss L̄_g: the mean loss over group g; worst-group loss: the larger of the two. Each is the median over seeds, measured at the end of training in evaluation mode.";

/// One run's group accuracies at the end of training on one set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupScores {
    /// Accuracy over all samples of the set.
    pub average_accuracy: f64,
    /// Majority accuracy.
    pub majority_accuracy: f64,
    /// Minority accuracy.
    pub minority_accuracy: f64,
    /// Majority mean loss L̄_1.
    pub majority_loss: f64,
    /// Minority mean loss L̄_0.
    pub minority_loss: f64,
}

impl GroupScores {
    /// min(majority, minority) accuracy.
    pub fn worst_group_accuracy(&self) -> f64 {
        self.majority_accuracy.min(self.minority_accuracy)
    }

    /// max(L̄_1, L̄_0).
    pub fn worst_group_loss(&self) -> f64 {
        self.majority_loss.max(self.minority_loss)
    }
}

/// Medians over the runs of a cell of their [`GroupScores`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupAccuracy {
    /// Runs with scores.
    pub runs: usize,
    /// Median worst-group accuracy.
    pub worst_group: f64,
    /// Median average accuracy.
    pub average: f64,
    /// Median majority accuracy.
    pub majority: f64,
    /// Median minority accuracy.
    pub minority: f64,
}

impl GroupAccuracy {
    /// The medians of `scores` (`None` when empty).
    pub fn new(scores: &[GroupScores]) -> Option<Self> {
        if scores.is_empty() {
            return None;
        }
        let med = |f: fn(&GroupScores) -> f64| median(scores.iter().map(f).collect());
        Some(Self {
            runs: scores.len(),
            worst_group: med(GroupScores::worst_group_accuracy),
            average: med(|s| s.average_accuracy),
            majority: med(|s| s.majority_accuracy),
            minority: med(|s| s.minority_accuracy),
        })
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// One row: an architecture trained with one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// The architecture's row label, e.g. `mlp (20.9K)`.
    pub arch: String,
    /// The method's name, e.g. `resample+reweight`.
    pub method: String,
    /// `(κ, ζ, summary)` of the overcost.
    pub overcost: Vec<(f64, f64, OvercostSummary)>,
    /// `(ζ, held-out accuracy)`; `None` where no run had a held-out set.
    pub holdout: Vec<(f64, Option<GroupAccuracy>)>,
}

/// The comparison table (see the module docs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MethodComparison {
    /// Rows in insertion order (architecture-major, then method).
    pub rows: Vec<ComparisonRow>,
}

impl MethodComparison {
    /// κ values of the table, ascending.
    pub fn kappas(&self) -> Vec<f64> {
        sorted(
            self.rows
                .iter()
                .flat_map(|r| r.overcost.iter().map(|c| c.0)),
        )
    }

    /// ζ values of the table, ascending.
    pub fn zetas(&self) -> Vec<f64> {
        sorted(
            self.rows
                .iter()
                .flat_map(|r| r.overcost.iter().map(|c| c.1)),
        )
    }

    fn cell(&self, row: &ComparisonRow, kappa: f64, zeta: f64) -> String {
        row.overcost
            .iter()
            .find(|c| c.0 == kappa && c.1 == zeta)
            .map(|c| c.2.short_cell(false))
            .unwrap_or_else(|| "–".into())
    }

    fn accuracy(row: &ComparisonRow, zeta: f64) -> Option<GroupAccuracy> {
        row.holdout.iter().find(|h| h.0 == zeta).and_then(|h| h.1)
    }

    /// Markdown: columns `architecture | method`, the median overcost per κ and ζ, then the
    /// median worst-group held-out accuracy per ζ (in %); `>X` marks lower bounds.
    pub fn to_markdown(&self) -> String {
        let (kappas, zetas) = (self.kappas(), self.zetas());
        let mut out = String::from("| architecture | method |");
        for &k in &kappas {
            for &z in &zetas {
                let _ = write!(
                    out,
                    " κ {} ζ {} |",
                    format_fraction_pct(k).replace(' ', ""),
                    format_fraction_pct(z).replace(' ', "")
                );
            }
        }
        for &z in &zetas {
            let _ = write!(
                out,
                " worst-group acc. ζ {} |",
                format_fraction_pct(z).replace(' ', "")
            );
        }
        out.push_str("\n| :-- | :-- |");
        out.push_str(&" --: |".repeat(kappas.len() * zetas.len() + zetas.len()));
        out.push('\n');
        for row in &self.rows {
            let _ = write!(out, "| {} | {} |", row.arch.replace('|', "\\|"), row.method);
            for &k in &kappas {
                for &z in &zetas {
                    let _ = write!(out, " {} |", self.cell(row, k, z));
                }
            }
            for &z in &zetas {
                match Self::accuracy(row, z) {
                    Some(a) => {
                        let _ = write!(out, " {:.1} |", 100.0 * a.worst_group);
                    }
                    None => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
        out
    }

    /// Long-format CSV, one line per (architecture, method, κ, ζ):
    /// `arch,method,kappa,zeta,median_overcost,median_lower_bound,censored,undefined,runs,
    /// holdout_worst_group_accuracy,holdout_average_accuracy,holdout_majority_accuracy,
    /// holdout_minority_accuracy` (accuracies as fractions, empty without a held-out set).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("arch,method,kappa,zeta,median_overcost,median_lower_bound,censored,undefined,runs,holdout_worst_group_accuracy,holdout_average_accuracy,holdout_majority_accuracy,holdout_minority_accuracy\n");
        for row in &self.rows {
            for (k, z, s) in &row.overcost {
                let acc = Self::accuracy(row, *z);
                let f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{},{},{k},{z},{},{},{},{},{},{},{},{},{}",
                    quote_field(&row.arch),
                    quote_field(&row.method),
                    f(s.median.map(|m| m.value)),
                    s.median
                        .map(|m| m.lower_bound.to_string())
                        .unwrap_or_default(),
                    s.censored,
                    s.undefined,
                    s.runs,
                    f(acc.map(|a| a.worst_group)),
                    f(acc.map(|a| a.average)),
                    f(acc.map(|a| a.majority)),
                    f(acc.map(|a| a.minority)),
                );
            }
        }
        out
    }
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overcost::Overcost;

    fn scores(maj: f64, min: f64) -> GroupScores {
        GroupScores {
            average_accuracy: 0.9 * maj + 0.1 * min,
            majority_accuracy: maj,
            minority_accuracy: min,
            majority_loss: 1.0 - maj,
            minority_loss: 1.0 - min,
        }
    }

    #[test]
    fn worst_group_is_the_smaller_accuracy_and_the_larger_loss() {
        let s = scores(0.95, 0.6);
        assert_eq!(s.worst_group_accuracy(), 0.6);
        assert!((s.worst_group_loss() - 0.4).abs() < 1e-12);
        let s = scores(0.5, 0.8);
        assert_eq!(s.worst_group_accuracy(), 0.5);
        let a =
            GroupAccuracy::new(&[scores(0.9, 0.5), scores(0.9, 0.7), scores(0.4, 0.9)]).unwrap();
        // worst groups 0.5, 0.7, 0.4: median 0.5; minority 0.5, 0.7, 0.9: median 0.7
        assert_eq!((a.worst_group, a.minority, a.runs), (0.5, 0.7, 3));
        assert!(GroupAccuracy::new(&[]).is_none());
    }

    #[test]
    fn tables_have_one_row_per_arch_and_method() {
        let o = |v: f64| Overcost::Value { pct: v };
        let row = |method: &str, v: f64, acc: Option<GroupAccuracy>| ComparisonRow {
            arch: "mlp (1K)".into(),
            method: method.into(),
            overcost: vec![
                (0.9, 0.01, OvercostSummary::new([&o(v), &o(v + 2.0)])),
                (0.9, 0.8, OvercostSummary::new([&o(1.0)])),
            ],
            holdout: vec![(0.01, acc), (0.8, acc)],
        };
        let acc = GroupAccuracy::new(&[scores(0.9, 0.55)]);
        let table = MethodComparison {
            rows: vec![row("erm", 100.0, acc), row("reweight", 10.0, None)],
        };
        let md = table.to_markdown();
        assert!(
            md.contains("| mlp (1K) | erm | 101 | 1.0 | 55.0 | 55.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| mlp (1K) | reweight | 11 | 1.0 | – | – |"),
            "{md}"
        );
        assert!(md.contains("worst-group acc. ζ 1% |"), "{md}");
        let csv = table.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(
            lines[1].starts_with("mlp (1K),erm,0.9,0.01,101,false,0,0,2,0.55,"),
            "{csv}"
        );
        assert!(
            lines[3].starts_with("mlp (1K),reweight,0.9,0.01,11,"),
            "{csv}"
        );
    }
}
