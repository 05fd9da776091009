//! Learning-rate schedules: a factor applied to the base learning rate as a function of the
//! training time in epochs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the learning rate changes over a run: `lr(t) = base · factor(t)`, `t` in epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LrSchedule {
    /// `factor = 1`.
    #[default]
    Constant,
    /// `factor = gamma^⌊t / every⌋`: multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between two decays (> 0).
        every: f64,
        /// Multiplicative decay (> 0).
        gamma: f64,
    },
    /// Cosine annealing from 1 to `final_factor` over the run (Loshchilov & Hutter, "SGDR", 2017,
    /// without restarts): `factor = f + (1 − f)(1 + cos(π t / T)) / 2`.
    Cosine {
        /// The factor reached at the end of the run, in [0, 1].
        final_factor: f64,
    },
}

impl LrSchedule {
    /// The factor at time `t` of a run of `total` epochs.
    pub fn factor(&self, t: f64, total: f64) -> f64 {
        match *self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Step { every, gamma } => gamma.powf((t / every).floor().max(0.0)),
            LrSchedule::Cosine { final_factor } => {
                let progress = if total > 0.0 {
                    (t / total).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                final_factor
                    + (1.0 - final_factor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }

    /// Checks the parameters; the error says which one and what is expected.
    pub fn validate(&self) -> Result<(), ScheduleParseError> {
        let bad = |m: String| Err(ScheduleParseError(m));
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, gamma } => {
                if !(every.is_finite() && every > 0.0) {
                    return bad(format!(
                        "step schedule: every = {every}; expected a positive number of epochs"
                    ));
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return bad(format!(
                        "step schedule: gamma = {gamma}; expected a positive factor such as 0.1"
                    ));
                }
                Ok(())
            }
            LrSchedule::Cosine { final_factor } => {
                if !(0.0..=1.0).contains(&final_factor) {
                    return bad(format!("cosine schedule: final factor = {final_factor}; expected a number in [0, 1]"));
                }
                Ok(())
            }
        }
    }
}

/// A schedule string that cannot be parsed; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleParseError(pub String);

const SYNTAX: &str = "expected `constant`, `step:EVERY:GAMMA` (e.g. `step:10:0.1`, epochs and factor) or `cosine[:FINAL]` (e.g. `cosine` or `cosine:0.01`)";

impl FromStr for LrSchedule {
    type Err = ScheduleParseError;

    /// `constant`, `step:EVERY:GAMMA` or `cosine[:FINAL]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |p: &str| -> Result<f64, ScheduleParseError> {
            p.trim().parse::<f64>().map_err(|_| {
                ScheduleParseError(format!("schedule `{s}`: `{p}` is not a number; {SYNTAX}"))
            })
        };
        let schedule = match parts.as_slice() {
            ["constant"] => LrSchedule::Constant,
            ["step", every, gamma] => LrSchedule::Step {
                every: num(every)?,
                gamma: num(gamma)?,
            },
            ["cosine"] => LrSchedule::Cosine { final_factor: 0.0 },
            ["cosine", f] => LrSchedule::Cosine {
                final_factor: num(f)?,
            },
            _ => return Err(ScheduleParseError(format!("schedule `{s}`: {SYNTAX}"))),
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

impl fmt::Display for LrSchedule {
    /// The string [`LrSchedule::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LrSchedule::Constant => f.write_str("constant"),
            LrSchedule::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
            LrSchedule::Cosine { final_factor } => write!(f, "cosine:{final_factor}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors() {
        assert_eq!(LrSchedule::Constant.factor(7.0, 10.0), 1.0);
        let step = LrSchedule::Step {
            every: 3.0,
            gamma: 0.1,
        };
        assert_eq!(step.factor(0.0, 10.0), 1.0);
        assert_eq!(step.factor(2.99, 10.0), 1.0);
        assert!((step.factor(3.0, 10.0) - 0.1).abs() < 1e-15);
        assert!((step.factor(6.5, 10.0) - 0.01).abs() < 1e-15);
        let cos = LrSchedule::Cosine { final_factor: 0.1 };
        assert_eq!(cos.factor(0.0, 10.0), 1.0);
        assert!((cos.factor(5.0, 10.0) - 0.55).abs() < 1e-12);
        assert!((cos.factor(10.0, 10.0) - 0.1).abs() < 1e-12);
        assert!((cos.factor(20.0, 10.0) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn parse_round_trips_and_names_errors() {
        for s in ["constant", "step:10:0.1", "cosine:0.01"] {
            let parsed: LrSchedule = s.parse().unwrap();
            assert_eq!(parsed.to_string(), s);
        }
        assert_eq!(
            "cosine".parse::<LrSchedule>().unwrap(),
            LrSchedule::Cosine { final_factor: 0.0 }
        );
        let e = "step:10".parse::<LrSchedule>().unwrap_err();
        assert!(e.0.contains("step:EVERY:GAMMA"), "{e}");
        let e = "step:0:0.1".parse::<LrSchedule>().unwrap_err();
        assert!(e.0.contains("every = 0"), "{e}");
        assert!("cosine:2".parse::<LrSchedule>().is_err());
        assert!("step:x:0.1"
            .parse::<LrSchedule>()
            .unwrap_err()
            .0
            .contains("`x` is not a number"));
    }
}
