//! Aggregation of overcosts over seeds: median, min–max, quartiles, censored and undefined counts
//! (docs/definitions.md "over seeds").
//!
//! Every run is counted. Undefined runs (`n/a`) have no number: they are counted in
//! [`OvercostSummary::undefined`] and left out of the statistics. Censored runs enter with their
//! lower bound, and a statistic is itself flagged as a lower bound ([`Estimate::lower_bound`])
//! when a censored run could move it: since a censored run's true value is at least its bound,
//! an order statistic is exact only if no censored value sits at or below its rank.
//!
//! Quantiles interpolate linearly between order statistics (Hyndman–Fan type 7, the default of R
//! and NumPy): the median of an even count is the mean of the two middle values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::overcost::{format_pct, Overcost};

/// A statistic of overcosts, in %, possibly only a lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value in %.
    pub value: f64,
    /// Whether censored runs make this only a lower bound.
    pub lower_bound: bool,
}

impl fmt::Display for Estimate {
    /// `152` or `>152`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lower_bound {
            f.write_str(">")?;
        }
        f.write_str(&format_pct(self.value))
    }
}

/// The overcosts of the runs of one cell (architecture, ζ, κ) summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvercostSummary {
    /// All runs, whatever their outcome.
    pub runs: usize,
    /// Runs whose minority never reached the level (lower bounds).
    pub censored: usize,
    /// Runs whose overcost is undefined (`n/a`).
    pub undefined: usize,
    /// Median over the defined runs.
    pub median: Option<Estimate>,
    /// Smallest.
    pub min: Option<Estimate>,
    /// Largest.
    pub max: Option<Estimate>,
    /// First quartile.
    pub q1: Option<Estimate>,
    /// Third quartile.
    pub q3: Option<Estimate>,
}

impl OvercostSummary {
    /// Summarises the runs' overcosts.
    pub fn new<'a>(overcosts: impl IntoIterator<Item = &'a Overcost>) -> Self {
        // (value, censored), exact values before censored ones at equal value: a censored run's
        // true value is at least its bound, so it ranks after an equal exact value
        let mut values: Vec<(f64, bool)> = Vec::new();
        let mut runs = 0;
        let mut undefined = 0;
        for o in overcosts {
            runs += 1;
            match o.pct() {
                Some(v) => values.push((v, o.is_censored())),
                None => undefined += 1,
            }
        }
        values.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let censored = values.iter().filter(|v| v.1).count();
        let q = |p: f64| quantile(&values, p);
        Self {
            runs,
            censored,
            undefined,
            median: q(0.5),
            min: q(0.0),
            max: q(1.0),
            q1: q(0.25),
            q3: q(0.75),
        }
    }

    /// Whether no run has a number (all undefined, or no run at all).
    pub fn is_empty(&self) -> bool {
        self.median.is_none()
    }

    /// A terminal cell: `median [min–max]` (or the median alone without `ranges`), `>X` for lower
    /// bounds; the censored and undefined counts are left to the full [`cell`](Self::cell).
    pub fn short_cell(&self, ranges: bool) -> String {
        let Some(median) = self.median else {
            return if self.runs == 0 {
                "–".into()
            } else {
                "n/a".into()
            };
        };
        let mut text = median.to_string();
        if let (true, Some(min), Some(max)) = (ranges, self.min, self.max) {
            if self.runs - self.undefined > 1 {
                text.push_str(&format!(" [{min}–{max}]"));
            }
        }
        text
    }

    /// The table cell: `median [min–max]`, with `>X` for lower bounds, just the value for one
    /// run, `n/a` when no run has a number, and the censored / undefined counts when nonzero,
    /// e.g. `>310 [120–>500] (2/5 censored, 1 n/a)`.
    pub fn cell(&self) -> String {
        let mut text = self.short_cell(true);
        if self.median.is_none() {
            return text;
        }
        let mut notes = Vec::new();
        if self.censored > 0 {
            notes.push(format!("{}/{} censored", self.censored, self.runs));
        }
        if self.undefined > 0 {
            notes.push(format!("{} n/a", self.undefined));
        }
        if !notes.is_empty() {
            text.push_str(&format!(" ({})", notes.join(", ")));
        }
        text
    }
}

/// Type-7 quantile of sorted `(value, censored)` pairs, flagged as a lower bound when a censored
/// value ranks at or below the upper order statistic used.
fn quantile(sorted: &[(f64, bool)], p: f64) -> Option<Estimate> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    let value = sorted[lo].0 + (h - lo as f64) * (sorted[hi].0 - sorted[lo].0);
    let lower_bound = sorted[..=hi].iter().any(|v| v.1);
    Some(Estimate { value, lower_bound })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overcost::Undefined;

    fn v(pct: f64) -> Overcost {
        Overcost::Value { pct }
    }
    fn c(pct: f64) -> Overcost {
        Overcost::LowerBound { pct }
    }
    fn exact(value: f64) -> Option<Estimate> {
        Some(Estimate {
            value,
            lower_bound: false,
        })
    }

    #[test]
    fn odd_and_even_counts() {
        let odd = OvercostSummary::new(&[v(30.0), v(10.0), v(20.0), v(-5.0), v(100.0)]);
        assert_eq!(
            (odd.median, odd.min, odd.max),
            (exact(20.0), exact(-5.0), exact(100.0))
        );
        assert_eq!((odd.q1, odd.q3), (exact(10.0), exact(30.0)));
        assert_eq!(odd.cell(), "20 [-5.0–100]");

        let even = OvercostSummary::new(&[v(40.0), v(10.0), v(20.0), v(30.0)]);
        assert_eq!(even.median, exact(25.0));
        assert_eq!((even.q1, even.q3), (exact(17.5), exact(32.5)));
        assert_eq!(even.runs, 4);

        let one = OvercostSummary::new(&[v(12.0)]);
        assert_eq!(one.cell(), "12");
    }

    #[test]
    fn censored_runs_make_lower_bounds_and_undefined_runs_are_counted() {
        // a censored value above the median leaves the median exact, the max a lower bound
        let s = OvercostSummary::new(&[v(10.0), v(20.0), c(500.0)]);
        assert_eq!(s.median, exact(20.0));
        assert_eq!(
            s.max,
            Some(Estimate {
                value: 500.0,
                lower_bound: true
            })
        );
        assert_eq!(s.censored, 1);
        assert_eq!(s.cell(), "20 [10–>500] (1/3 censored)");
        // a censored value below the median makes it a lower bound
        let s = OvercostSummary::new(&[c(15.0), v(20.0), v(30.0)]);
        assert_eq!(
            s.median,
            Some(Estimate {
                value: 20.0,
                lower_bound: true
            })
        );
        assert_eq!(
            s.min,
            Some(Estimate {
                value: 15.0,
                lower_bound: true
            })
        );
        // undefined runs: counted, not in the statistics
        let n = Overcost::Undefined {
            reason: Undefined::MajorityAtStart,
        };
        let s = OvercostSummary::new(&[v(10.0), n, v(30.0)]);
        assert_eq!((s.runs, s.undefined, s.median), (3, 1, exact(20.0)));
        assert_eq!(s.cell(), "20 [10–30] (1 n/a)");
        let s = OvercostSummary::new(&[n, n]);
        assert!(s.is_empty());
        assert_eq!(s.cell(), "n/a");
        assert_eq!(OvercostSummary::new(&[]).cell(), "–");
        // an exact value ties before a censored one
        let s = OvercostSummary::new(&[c(20.0), v(20.0)]);
        assert_eq!(s.min, exact(20.0));
    }
}
