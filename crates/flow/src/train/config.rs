//! [`TrainConfig`]: everything that decides a training run, with serde and defaults.

use serde::{Deserialize, Serialize};

use crate::optim::{LrSchedule, SgdConfig};
use crate::train::TrainError;

/// Which optimiser drives the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Mini-batch SGD (batches of [`TrainConfig::batch_size`], reshuffled every epoch).
    #[default]
    Sgd,
    /// Full-batch gradient descent: one step per epoch on the whole training set. With zero
    /// momentum and weight decay this is the explicit Euler discretisation of gradient flow.
    Gd,
}

impl std::fmt::Display for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Gd => "gd",
        })
    }
}

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    /// A number of epochs (fractional allowed; rounded to whole steps).
    Epochs(f64),
    /// A number of optimiser steps.
    Steps(u64),
}

impl Default for Budget {
    fn default() -> Self {
        Budget::Epochs(10.0)
    }
}

/// Where the evaluation points go. Step 0 (the initial parameters, whose global loss sets the
/// threshold of docs/definitions.md) and the last step are always evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvalSchedule {
    /// Every `k` optimiser steps.
    EverySteps(u64),
    /// About `n` points log-spaced in the step count (dense early, where the minority's curve
    /// separates from the majority's); fewer when the run has fewer steps.
    LogSpaced(usize),
}

impl Default for EvalSchedule {
    fn default() -> Self {
        EvalSchedule::LogSpaced(40)
    }
}

impl EvalSchedule {
    /// The evaluated step indices of a run of `total_steps` steps: sorted, unique, starting at 0
    /// and ending at `total_steps`.
    pub fn steps(&self, total_steps: u64) -> Vec<u64> {
        let mut steps = vec![0];
        match *self {
            EvalSchedule::EverySteps(k) => {
                let k = k.max(1);
                steps.extend((1..=total_steps / k).map(|i| i * k));
            }
            EvalSchedule::LogSpaced(n) if n > 2 && total_steps > 1 => {
                let last = (n - 2) as f64;
                let ln_total = (total_steps as f64).ln();
                steps.extend((0..n - 1).map(|i| (ln_total * i as f64 / last).exp().round() as u64));
            }
            EvalSchedule::LogSpaced(_) => {}
        }
        steps.push(total_steps);
        steps.sort_unstable();
        steps.dedup();
        steps
    }
}

/// A training run's settings (the CLI's TOML maps onto this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Mini-batch SGD or full-batch GD.
    pub optimizer: Optimizer,
    /// Base learning rate η.
    pub lr: f64,
    /// Momentum and weight decay.
    pub sgd: SgdConfig,
    /// Mini-batch size (SGD only).
    pub batch_size: usize,
    /// Run length.
    pub budget: Budget,
    /// Learning-rate schedule over the run, in epochs.
    pub schedule: LrSchedule,
    /// Where the evaluation points go.
    pub eval: EvalSchedule,
    /// Also record the zone probe ⟨∇L, ∇L1⟩, ‖∇L1‖, ‖∇L0‖ at each evaluation point (costs two
    /// full-batch gradients per point).
    pub zone: bool,
    /// Samples per forward pass when evaluating on the whole training set (memory only; results
    /// do not depend on it except through floating-point summation order).
    pub eval_batch_size: usize,
    /// Seed of the batch order (the model's initialisation has its own seed).
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::Sgd,
            lr: 0.05,
            sgd: SgdConfig::default(),
            batch_size: 64,
            budget: Budget::default(),
            schedule: LrSchedule::Constant,
            eval: EvalSchedule::default(),
            zone: false,
            eval_batch_size: 512,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Optimiser steps per epoch for a training set of `n` samples: ⌈n / batch⌉ for SGD, 1 for GD.
    pub fn steps_per_epoch(&self, n: usize) -> u64 {
        match self.optimizer {
            Optimizer::Sgd => n.div_ceil(self.batch_size.max(1)).max(1) as u64,
            Optimizer::Gd => 1,
        }
    }

    /// The number of optimiser steps of the run on `n` samples (at least 1).
    pub fn total_steps(&self, n: usize) -> u64 {
        match self.budget {
            Budget::Steps(s) => s.max(1),
            Budget::Epochs(e) => ((e * self.steps_per_epoch(n) as f64).round() as u64).max(1),
        }
    }

    /// Checks every field; the error names the field, its value and what is expected.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "learning rate = {}; expected a positive number such as 0.05",
                self.lr
            ));
        }
        if !(0.0..1.0).contains(&self.sgd.momentum) {
            return bad(format!(
                "momentum = {}; expected a number in [0, 1)",
                self.sgd.momentum
            ));
        }
        if !(self.sgd.weight_decay.is_finite() && self.sgd.weight_decay >= 0.0) {
            return bad(format!(
                "weight decay = {}; expected a number ≥ 0",
                self.sgd.weight_decay
            ));
        }
        if self.batch_size == 0 {
            return bad("batch size = 0; expected at least 1".into());
        }
        if self.eval_batch_size == 0 {
            return bad("evaluation batch size = 0; expected at least 1".into());
        }
        match self.budget {
            Budget::Epochs(e) if !(e.is_finite() && e > 0.0) => {
                return bad(format!("epochs = {e}; expected a positive number"));
            }
            Budget::Steps(0) => return bad("steps = 0; expected at least 1".into()),
            _ => {}
        }
        match self.eval {
            EvalSchedule::EverySteps(0) => {
                return bad("evaluate every 0 steps; expected at least 1".into())
            }
            EvalSchedule::LogSpaced(n) if n < 2 => {
                return bad(format!(
                    "{n} evaluation points; expected at least 2 (the start and the end)"
                ));
            }
            _ => {}
        }
        self.schedule
            .validate()
            .map_err(|e| TrainError::Config(e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_k_steps_includes_start_and_end() {
        assert_eq!(EvalSchedule::EverySteps(3).steps(10), vec![0, 3, 6, 9, 10]);
        assert_eq!(EvalSchedule::EverySteps(5).steps(10), vec![0, 5, 10]);
        assert_eq!(EvalSchedule::EverySteps(50).steps(10), vec![0, 10]);
    }

    #[test]
    fn log_spaced_points_are_dense_early() {
        let steps = EvalSchedule::LogSpaced(6).steps(10_000);
        // 0 and 10^{0, 1, 2, 3, 4}
        assert_eq!(steps, vec![0, 1, 10, 100, 1000, 10_000]);
        let few = EvalSchedule::LogSpaced(50).steps(5);
        assert_eq!(few, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(EvalSchedule::LogSpaced(2).steps(7), vec![0, 7]);
    }

    #[test]
    fn steps_follow_the_budget() {
        let mut c = TrainConfig {
            batch_size: 64,
            ..TrainConfig::default()
        };
        assert_eq!(c.steps_per_epoch(130), 3);
        c.budget = Budget::Epochs(2.5);
        assert_eq!(c.total_steps(130), 8); // 7.5 rounds to 8
        c.optimizer = Optimizer::Gd;
        assert_eq!(c.total_steps(130), 3); // 2.5 rounds to 3
        c.budget = Budget::Steps(11);
        assert_eq!(c.total_steps(130), 11);
    }

    #[test]
    fn validation_names_the_field() {
        let c = TrainConfig {
            lr: -1.0,
            ..TrainConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("learning rate = -1"));
        let c = TrainConfig {
            sgd: SgdConfig {
                momentum: 1.0,
                weight_decay: 0.0,
            },
            ..TrainConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("momentum = 1"));
        let c = TrainConfig {
            eval: EvalSchedule::LogSpaced(1),
            ..TrainConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(TrainConfig::default().validate().is_ok());
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = TrainConfig {
            budget: Budget::Steps(7),
            schedule: LrSchedule::Step {
                every: 2.0,
                gamma: 0.5,
            },
            eval: EvalSchedule::EverySteps(2),
            ..TrainConfig::default()
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), c);
    }
}
