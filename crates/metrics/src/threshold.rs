//! Time to threshold: when a group's curve first reaches the level set by κ (docs/definitions.md).
//!
//! Two criteria:
//! - [`Criterion::Loss`] (default): the *global threshold* `level = (1 − κ)·L̄(θ0)`, the same
//!   level for both groups, where `L̄(θ0)` is the global mean loss (the `all` curve) at the run's
//!   first evaluation point; `T_g(κ)` is the first time the group's mean loss is ≤ the level.
//! - [`Criterion::Accuracy`]: `T_g(κ)` is the first time the group's training accuracy is ≥ κ.
//!
//! The crossing is linearly interpolated between the two evaluation points that bracket it; a
//! point exactly at the level counts as reached there. "Exactly" allows a relative 1e-12, so that
//! a curve written as `0.1` reaches the level `(1 − 0.9)·1 = 0.09999999999999998` it was meant to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::curve::{CurveGroup, RunCurves};
use crate::error::MetricsError;

/// Relative tolerance under which a value counts as exactly at the level.
pub const LEVEL_TOLERANCE: f64 = 1e-12;

/// How the threshold is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Mean loss ≤ `(1 − κ)·L̄(θ0)` (the global threshold).
    #[default]
    Loss,
    /// Training accuracy ≥ κ.
    Accuracy,
}

impl Criterion {
    /// `loss` or `accuracy`.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Loss => "loss",
            Criterion::Accuracy => "accuracy",
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Criterion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "loss" => Ok(Criterion::Loss),
            "accuracy" => Ok(Criterion::Accuracy),
            other => Err(format!(
                "unknown criterion `{other}`: expected `loss` or `accuracy`"
            )),
        }
    }
}

/// When a curve reaches the level, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Crossing {
    /// First reached at `t` (interpolated).
    Reached {
        /// Time in epochs.
        t: f64,
    },
    /// Not reached by the curve's last evaluation point.
    NotReached {
        /// The curve's last evaluation time.
        last_t: f64,
    },
}

impl Crossing {
    /// The crossing time, if reached.
    pub fn time(self) -> Option<f64> {
        match self {
            Crossing::Reached { t } => Some(t),
            Crossing::NotReached { .. } => None,
        }
    }
}

/// Which side of the level counts as reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Reached when the value is ≤ the level (losses).
    AtOrBelow,
    /// Reached when the value is ≥ the level (accuracies).
    AtOrAbove,
}

/// The first time the piecewise-linear curve through `points` (`(t, value)`, sorted by `t`)
/// reaches `level` from the given side; `None` if it never does (or `points` is empty).
///
/// If the first point already reaches the level the answer is its `t`. Otherwise, with `i` the
/// first point that reaches it, the answer is
/// `t_{i−1} + (level − v_{i−1}) / (v_i − v_{i−1}) · (t_i − t_{i−1})`, which is `t_i` when `v_i`
/// is exactly at the level.
pub fn first_crossing(points: &[(f64, f64)], level: f64, direction: Direction) -> Option<f64> {
    let slack = LEVEL_TOLERANCE * level.abs();
    let reaches = |v: f64| match direction {
        Direction::AtOrBelow => v <= level + slack,
        Direction::AtOrAbove => v >= level - slack,
    };
    let i = points.iter().position(|&(_, v)| reaches(v))?;
    let (t_i, v_i) = points[i];
    if i == 0 || (v_i - level).abs() <= slack {
        return Some(t_i);
    }
    let (t_prev, v_prev) = points[i - 1];
    // v_prev does not reach the level and v_i does, so v_i ≠ v_prev and the fraction is in (0, 1].
    let fraction = ((level - v_prev) / (v_i - v_prev)).clamp(0.0, 1.0);
    Some(t_prev + fraction * (t_i - t_prev))
}

/// A threshold κ ∈ (0, 1) under a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    kappa: f64,
    criterion: Criterion,
}

impl Threshold {
    /// # Errors
    /// [`MetricsError::Kappa`] unless `0 < kappa < 1`.
    pub fn new(kappa: f64, criterion: Criterion) -> Result<Self, MetricsError> {
        if kappa > 0.0 && kappa < 1.0 {
            Ok(Self { kappa, criterion })
        } else {
            Err(MetricsError::Kappa { kappa })
        }
    }

    /// κ.
    pub fn kappa(&self) -> f64 {
        self.kappa
    }

    /// The criterion.
    pub fn criterion(&self) -> Criterion {
        self.criterion
    }

    /// The level both groups must reach in `run`: `(1 − κ)·L̄(θ0)` for the loss criterion, κ for
    /// the accuracy criterion.
    ///
    /// # Errors
    /// As [`RunCurves::initial_global_loss`] for the loss criterion.
    pub fn level(&self, run: &RunCurves) -> Result<f64, MetricsError> {
        run.require_column(self.criterion)?;
        match self.criterion {
            Criterion::Loss => Ok((1.0 - self.kappa) * run.initial_global_loss()?),
            Criterion::Accuracy => Ok(self.kappa),
        }
    }

    /// `T_g(κ)` for `group` in `run`, given the level from [`Threshold::level`].
    ///
    /// # Errors
    /// [`MetricsError::MissingValue`] if a point of the curve lacks the criterion's quantity;
    /// [`MetricsError::Curves`] if the group has no curve or an empty one.
    pub fn crossing(
        &self,
        run: &RunCurves,
        group: CurveGroup,
        level: f64,
    ) -> Result<Crossing, MetricsError> {
        let curve =
            run.group(group)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| MetricsError::Curves {
                    source_name: "curves".into(),
                    run: run.run.clone(),
                    message: format!("no `{group}` points"),
                })?;
        let quantity = self.criterion.name();
        run.require_column(self.criterion)?;
        let points = curve
            .points()
            .iter()
            .map(|p| {
                let v = match self.criterion {
                    Criterion::Loss => p.loss,
                    Criterion::Accuracy => p.accuracy,
                };
                v.map(|v| (p.t, v))
                    .ok_or_else(|| MetricsError::MissingValue {
                        run: run.run.clone(),
                        group: group.name().into(),
                        t: p.t,
                        quantity,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let direction = match self.criterion {
            Criterion::Loss => Direction::AtOrBelow,
            Criterion::Accuracy => Direction::AtOrAbove,
        };
        Ok(match first_crossing(&points, level, direction) {
            Some(t) => Crossing::Reached { t },
            None => Crossing::NotReached {
                last_t: points[points.len() - 1].0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_the_bracketing_points() {
        // 1.0 at t=0, 0.6 at t=1, 0.2 at t=3: level 0.4 is crossed halfway through [1, 3].
        let pts = [(0.0, 1.0), (1.0, 0.6), (3.0, 0.2)];
        assert!((first_crossing(&pts, 0.4, Direction::AtOrBelow).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(first_crossing(&pts, 0.1, Direction::AtOrBelow), None);
        assert_eq!(first_crossing(&pts, 1.5, Direction::AtOrBelow), Some(0.0));
        // the first crossing, not a later one: the curve goes back up then down again
        let bumpy = [(0.0, 1.0), (1.0, 0.3), (2.0, 0.9), (4.0, 0.1)];
        assert!(
            (first_crossing(&bumpy, 0.5, Direction::AtOrBelow).unwrap() - (0.5 / 0.7)).abs()
                < 1e-12
        );
        let acc = [(0.0, 0.1), (2.0, 0.5), (4.0, 0.95)];
        assert!(
            (first_crossing(&acc, 0.9, Direction::AtOrAbove).unwrap() - (2.0 + 2.0 * 0.4 / 0.45))
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn a_linear_curve_sampled_irregularly_is_crossed_where_the_line_is() {
        // v(t) = 1 − t/10 at irregular times: every level in (0, 1) is crossed at 10·(1 − level),
        // whichever pair of samples brackets it
        let ts = [0.0, 0.07, 0.9, 1.3, 2.75, 4.0, 4.01, 6.6, 9.2, 10.0];
        let pts: Vec<(f64, f64)> = ts.iter().map(|&t| (t, 1.0 - t / 10.0)).collect();
        let acc: Vec<(f64, f64)> = ts.iter().map(|&t| (t, t / 10.0)).collect();
        for i in 1..100 {
            let level = i as f64 / 100.0;
            let t = first_crossing(&pts, level, Direction::AtOrBelow).unwrap();
            assert!(
                (t - 10.0 * (1.0 - level)).abs() < 1e-9,
                "level {level}: {t}"
            );
            let t = first_crossing(&acc, level, Direction::AtOrAbove).unwrap();
            assert!((t - 10.0 * level).abs() < 1e-9, "accuracy {level}: {t}");
        }
    }

    #[test]
    fn a_point_exactly_at_the_level_counts() {
        let pts = [(0.0, 1.0), (1.5, 0.5), (2.0, 0.5), (3.0, 0.1)];
        assert_eq!(first_crossing(&pts, 0.5, Direction::AtOrBelow), Some(1.5));
        // (1 − 0.9)·1 rounds below 0.1, yet a point written as 0.1 is at the level
        let level = (1.0 - 0.9) * 1.0;
        assert!(level < 0.1);
        assert_eq!(
            first_crossing(&[(0.0, 1.0), (7.0, 0.1)], level, Direction::AtOrBelow),
            Some(7.0)
        );
        assert_eq!(
            first_crossing(&[(0.0, 0.0), (5.0, 0.9)], 0.9, Direction::AtOrAbove),
            Some(5.0)
        );
    }

    #[test]
    fn kappa_must_be_inside_the_unit_interval() {
        for bad in [0.0, 1.0, -0.5, 90.0, f64::NAN] {
            assert!(
                matches!(
                    Threshold::new(bad, Criterion::Loss),
                    Err(MetricsError::Kappa { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Threshold::new(0.9, Criterion::Accuracy).unwrap().kappa(),
            0.9
        );
        assert_eq!("Accuracy".parse::<Criterion>(), Ok(Criterion::Accuracy));
        assert!("acc".parse::<Criterion>().is_err());
    }
}
