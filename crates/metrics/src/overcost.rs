//! The catch-up overcost of one run: how much later than the majority the minority reaches the
//! threshold (docs/definitions.md).
//!
//! `overcost(κ) = 100·(T0(κ) − T1(κ)) / T1(κ)` in %, signed (negative when the minority gets
//! there first). Times are epochs since the start of training (t = 0), as recorded.
//!
//! - **Censored** ([`Overcost::LowerBound`]): the majority reaches the level and the minority does
//!   not by its last evaluation time `t_last`; `100·(t_last − T1)/T1` is a lower bound, shown
//!   `>X`.
//! - **Undefined** ([`Overcost::Undefined`], shown `n/a`): the majority never reaches the level;
//!   or `T1 = 0` (the majority is at the level at the first evaluation point, t = 0) while the
//!   minority gets there later or never — the relative delay is infinite, and no finite number
//!   would be honest.
//! - `T1 = T0 = 0`: both groups start at the level; the overcost is 0 (no catch-up at all).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::curve::{CurveGroup, RunCurves};
use crate::error::MetricsError;
use crate::threshold::{Crossing, Threshold};

/// Why a run's overcost is undefined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Undefined {
    /// The majority never reaches the level (within `last_t`).
    MajorityNeverReached {
        /// The majority curve's last evaluation time.
        last_t: f64,
    },
    /// `T1 = 0` and the minority reaches the level later or never: the ratio is infinite.
    MajorityAtStart,
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undefined::MajorityNeverReached { last_t } => {
                write!(f, "the majority never reaches the level (last evaluation at t = {last_t})")
            }
            Undefined::MajorityAtStart => f.write_str(
                "the majority is at the level at t = 0 (T1 = 0) and the minority is not, so the relative \
                 overcost is infinite",
            ),
        }
    }
}

/// A run's catch-up overcost in %.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Overcost {
    /// Both groups reach the level: the overcost itself.
    Value {
        /// Overcost in %.
        pct: f64,
    },
    /// The minority never reaches the level: a lower bound computed with its last `t`.
    LowerBound {
        /// Lower bound in %.
        pct: f64,
    },
    /// No number can be given.
    Undefined {
        /// Why.
        reason: Undefined,
    },
}

impl Overcost {
    /// From the two crossing times (see the [module documentation](self) for the cases).
    pub fn from_crossings(majority: Crossing, minority: Crossing) -> Self {
        let t_majority = match majority {
            Crossing::Reached { t } => t,
            Crossing::NotReached { last_t } => {
                return Overcost::Undefined {
                    reason: Undefined::MajorityNeverReached { last_t },
                }
            }
        };
        if t_majority <= 0.0 {
            return match minority {
                Crossing::Reached { t } if t <= t_majority => Overcost::Value { pct: 0.0 },
                _ => Overcost::Undefined {
                    reason: Undefined::MajorityAtStart,
                },
            };
        }
        let pct = |t_minority: f64| 100.0 * (t_minority - t_majority) / t_majority;
        match minority {
            Crossing::Reached { t } => Overcost::Value { pct: pct(t) },
            Crossing::NotReached { last_t } => Overcost::LowerBound { pct: pct(last_t) },
        }
    }

    /// The number in % (the lower bound when censored); `None` when undefined.
    pub fn pct(&self) -> Option<f64> {
        match *self {
            Overcost::Value { pct } | Overcost::LowerBound { pct } => Some(pct),
            Overcost::Undefined { .. } => None,
        }
    }

    /// Whether the minority never reached the level (the number is a lower bound).
    pub fn is_censored(&self) -> bool {
        matches!(self, Overcost::LowerBound { .. })
    }

    /// Why the overcost is undefined, if it is.
    pub fn undefined_reason(&self) -> Option<Undefined> {
        match *self {
            Overcost::Undefined { reason } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for Overcost {
    /// `152`, `>300` (censored) or `n/a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Overcost::Value { pct } => f.write_str(&format_pct(pct)),
            Overcost::LowerBound { pct } => write!(f, ">{}", format_pct(pct)),
            Overcost::Undefined { .. } => f.write_str("n/a"),
        }
    }
}

/// An overcost in % for a table: no decimals from 10 on, one below.
pub fn format_pct(pct: f64) -> String {
    let text = if pct.abs() >= 9.95 {
        format!("{pct:.0}")
    } else {
        format!("{pct:.1}")
    };
    // "-0" and "-0.0" are 0
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_string()
    } else {
        text
    }
}

/// One run's times to threshold and overcost at one κ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOvercost {
    /// The run's name.
    pub run: String,
    /// The threshold.
    pub threshold: Threshold,
    /// The level both groups had to reach (mean loss, or accuracy).
    pub level: f64,
    /// `T1(κ)`.
    pub majority: Crossing,
    /// `T0(κ)`.
    pub minority: Crossing,
    /// The overcost.
    pub overcost: Overcost,
}

/// `T1(κ)`, `T0(κ)` and the catch-up overcost of one run.
///
/// # Errors
/// As [`Threshold::level`] and [`Threshold::crossing`]: no `all` curve for the loss criterion, a
/// missing value the criterion needs.
pub fn catch_up_overcost(
    run: &RunCurves,
    threshold: &Threshold,
) -> Result<RunOvercost, MetricsError> {
    let level = threshold.level(run)?;
    let majority = threshold.crossing(run, CurveGroup::Majority, level)?;
    let minority = threshold.crossing(run, CurveGroup::Minority, level)?;
    let overcost = Overcost::from_crossings(majority, minority);
    tracing::debug!(run = %run.run, kappa = threshold.kappa(), level, ?majority, ?minority, %overcost, "catch-up overcost");
    Ok(RunOvercost {
        run: run.run.clone(),
        threshold: *threshold,
        level,
        majority,
        minority,
        overcost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::{CurvePoint, GroupCurve};
    use crate::threshold::Criterion;

    fn curve(points: &[(f64, f64)]) -> GroupCurve {
        GroupCurve::new(
            points
                .iter()
                .map(|&(t, loss)| CurvePoint {
                    t,
                    loss: Some(loss),
                    accuracy: None,
                })
                .collect(),
        )
        .unwrap()
    }

    fn run(majority: &[(f64, f64)], minority: &[(f64, f64)], initial: f64) -> RunCurves {
        RunCurves {
            run: "r".into(),
            majority: curve(majority),
            minority: curve(minority),
            all: Some(curve(&[(0.0, initial)])),
            origin: None,
        }
    }

    const REACHED: fn(f64) -> Crossing = |t| Crossing::Reached { t };

    #[test]
    fn signed_overcost_from_interpolated_times() {
        // level (1 − 0.5)·1 = 0.5; majority crosses at t = 1 (exact point), minority at t = 3
        // (halfway between 2 and 4): overcost 200 %
        let r = run(
            &[(0.0, 1.0), (1.0, 0.5), (2.0, 0.2)],
            &[(0.0, 1.0), (2.0, 0.7), (4.0, 0.3)],
            1.0,
        );
        let th = Threshold::new(0.5, Criterion::Loss).unwrap();
        let o = catch_up_overcost(&r, &th).unwrap();
        assert_eq!(o.majority, REACHED(1.0));
        assert!((o.minority.time().unwrap() - 3.0).abs() < 1e-12);
        assert!((o.overcost.pct().unwrap() - 200.0).abs() < 1e-9);
        assert_eq!(o.overcost.to_string(), "200");

        // the minority first: T1 = 3, T0 = 1.5 → −50 %
        let r = run(
            &[(0.0, 1.0), (2.0, 0.7), (4.0, 0.3)],
            &[(0.0, 1.0), (1.0, 0.6), (2.0, 0.4)],
            1.0,
        );
        let o = catch_up_overcost(&r, &th).unwrap();
        assert!((o.overcost.pct().unwrap() + 50.0).abs() < 1e-9);
        assert!(!o.overcost.is_censored());
        assert_eq!(o.overcost.to_string(), "-50");
    }

    #[test]
    fn censoring_and_undefined() {
        // minority never reaches 0.5 by t = 6: lower bound 100·(6 − 1)/1 = 500 %
        assert_eq!(
            Overcost::from_crossings(REACHED(1.0), Crossing::NotReached { last_t: 6.0 }),
            Overcost::LowerBound { pct: 500.0 }
        );
        let r = run(&[(0.0, 1.0), (1.0, 0.5)], &[(0.0, 1.0), (6.0, 0.6)], 1.0);
        let o = catch_up_overcost(&r, &Threshold::new(0.5, Criterion::Loss).unwrap()).unwrap();
        assert!(o.overcost.is_censored());
        assert_eq!(o.overcost.to_string(), ">500");
        // majority never: undefined whatever the minority does
        let never = Overcost::from_crossings(Crossing::NotReached { last_t: 9.0 }, REACHED(2.0));
        assert_eq!(never.pct(), None);
        assert_eq!(
            never.undefined_reason(),
            Some(Undefined::MajorityNeverReached { last_t: 9.0 })
        );
        assert_eq!(never.to_string(), "n/a");
        // T1 = 0
        assert_eq!(
            Overcost::from_crossings(REACHED(0.0), REACHED(0.0)),
            Overcost::Value { pct: 0.0 }
        );
        assert_eq!(
            Overcost::from_crossings(REACHED(0.0), REACHED(1.0)).undefined_reason(),
            Some(Undefined::MajorityAtStart)
        );
        assert_eq!(
            Overcost::from_crossings(REACHED(0.0), Crossing::NotReached { last_t: 1.0 })
                .undefined_reason(),
            Some(Undefined::MajorityAtStart)
        );
    }

    #[test]
    fn accuracy_criterion_and_missing_global_loss() {
        let acc = |pts: &[(f64, f64)]| {
            GroupCurve::new(
                pts.iter()
                    .map(|&(t, a)| CurvePoint {
                        t,
                        loss: None,
                        accuracy: Some(a),
                    })
                    .collect(),
            )
            .unwrap()
        };
        let r = RunCurves {
            run: "a".into(),
            majority: acc(&[(0.0, 0.1), (1.0, 0.5), (2.0, 0.95)]),
            minority: acc(&[(0.0, 0.1), (4.0, 0.8), (6.0, 1.0)]),
            all: None,
            origin: None,
        };
        let th = Threshold::new(0.9, Criterion::Accuracy).unwrap();
        let o = catch_up_overcost(&r, &th).unwrap();
        // T1 = 1 + 0.4/0.45, T0 = 4 + 2·0.1/0.2 = 5
        let t1 = 1.0 + 0.4 / 0.45;
        assert!((o.overcost.pct().unwrap() - 100.0 * (5.0 - t1) / t1).abs() < 1e-9);
        let loss = Threshold::new(0.9, Criterion::Loss).unwrap();
        assert!(matches!(
            catch_up_overcost(&r, &loss),
            Err(MetricsError::MissingGlobalLoss { .. })
        ));
        let mut with_all = r.clone();
        with_all.all = Some(curve(&[(0.0, 2.0)]));
        assert!(matches!(
            catch_up_overcost(&with_all, &loss),
            Err(MetricsError::MissingValue {
                quantity: "loss",
                ..
            })
        ));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_pct(152.4), "152");
        assert_eq!(format_pct(3.24), "3.2");
        assert_eq!(format_pct(-0.01), "0.0");
        assert_eq!(format_pct(-12.6), "-13");
    }
}
