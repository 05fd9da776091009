//! The training loop: a [`Model`] on a grouped [`Dataset`], recording per-group curves.
//!
//! [`Trainer::run`] trains with mini-batch SGD (momentum, weight decay) or full-batch gradient
//! descent under a learning-rate schedule for a budget in epochs or steps, and at each evaluation
//! point records an [`EvalPoint`]: in *evaluation mode* (BatchNorm running statistics, no dropout;
//! crates/models/README.md) on the *whole training set*, each group's mean loss `L̄_g = (n / n_g) L_g` and accuracy,
//! and the global mean loss `L̄ = L` (docs/definitions.md). With [`TrainConfig::zone`] it also records the zone
//! probe ⟨∇L, ∇L1⟩, ‖∇L1‖, ‖∇L0‖ from full-batch per-group gradients ([`zone_probe`]), showing
//! when training leaves the majority-training zone.
//!
//! Time is measured in epochs: after `s` steps, `t = s / steps_per_epoch`. A non-finite training
//! or evaluation loss ends the run with [`RunStatus::Diverged`]; a raised cancellation flag ends
//! it with [`RunStatus::Interrupted`]. The points recorded before are kept in both cases. The loop
//! adds up in a fixed order (losses sample by sample in data order; the zone probe's gradients
//! chunk by chunk, its sums in parameter order), so with a model whose kernels do too — the
//! built-in ones do — the same configuration and model seed give the same points, bit for bit,
//! whatever the number of threads.
//!
//! ```
//! # use majmin_core::{Dataset, Model};
//! use majmin_flow::train::{Budget, EvalSchedule, TrainConfig, Trainer};
//! # fn run(model: &mut dyn Model, data: &Dataset) -> Result<(), majmin_flow::train::TrainError> {
//! let config = TrainConfig { lr: 0.1, budget: Budget::Epochs(5.0), eval: EvalSchedule::LogSpaced(20), ..TrainConfig::default() };
//! let outcome = Trainer::new(config)?.run(model, data)?;
//! println!("{} points, {}", outcome.points.len(), outcome.status);
//! # Ok(()) }
//! ```

mod config;
pub mod method;

pub use config::{Budget, EvalSchedule, Optimizer, TrainConfig};
pub use method::{LossWeights, Method, Sampler, StepRule};

use method::MethodState;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use majmin_core::{Dataset, EvalPoint, Group, Model, ModelError, RunStatus, ZoneProbe};
use serde::{Deserialize, Serialize};

use crate::optim::{Sgd, SgdConfig};

/// Why a run could not be carried out (a diverging loss is not an error: see [`RunStatus`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A setting is not acceptable; the message names it.
    #[error("training configuration: {0}")]
    Config(String),
    /// One group has no samples, so its curve is undefined.
    #[error(
        "data set `{data}` has no {group} samples; both groups are needed for per-group curves"
    )]
    EmptyGroup {
        /// The data set's name.
        data: String,
        /// The empty group.
        group: Group,
    },
    /// The data and the model disagree on the input or the classes.
    #[error("data set `{data}` ({what}) does not fit the model ({expected})")]
    Mismatch {
        /// The data set's name.
        data: String,
        /// The data's shape or class count.
        what: String,
        /// What the model expects.
        expected: String,
    },
    /// The model failed at a step.
    #[error("model error at step {step}: {source}")]
    Model {
        /// Optimiser steps taken when it failed.
        step: u64,
        /// The model's error.
        source: ModelError,
    },
    /// The evaluation-point callback ([`Trainer::with_on_eval`]) failed, e.g. a checkpoint could
    /// not be written; the message is the callback's.
    #[error("at step {step}: {message}")]
    Hook {
        /// Optimiser steps taken when it failed.
        step: u64,
        /// The callback's message.
        message: String,
    },
}

/// What [`Trainer::run`] reports to its progress callback after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Steps taken.
    pub step: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// Time in epochs.
    pub t: f64,
    /// The last mini-batch loss.
    pub batch_loss: f64,
}

/// The result of a run: the curves and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// The evaluation points, in time order.
    pub points: Vec<EvalPoint>,
    /// Finished, diverged at t, or interrupted at t.
    pub status: RunStatus,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Steps per epoch (the unit conversion of `t`).
    pub steps_per_epoch: u64,
    /// Steps the budget allowed.
    pub total_steps: u64,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
}

/// The progress callback of a [`Trainer`].
type ProgressCallback<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// The evaluation-point callback of a [`Trainer`] ([`Trainer::with_on_eval`]).
type EvalCallback<'a> = Box<dyn FnMut(u64, &dyn Model) -> Result<(), String> + 'a>;

/// Runs a [`TrainConfig`] on a model, with an optional cancellation flag and progress callback.
pub struct Trainer<'a> {
    config: TrainConfig,
    method: Method,
    errors: Option<Vec<usize>>,
    cancel: Option<Arc<AtomicBool>>,
    progress: Option<ProgressCallback<'a>>,
    on_eval: Option<EvalCallback<'a>>,
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("method", &self.method)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl<'a> Trainer<'a> {
    /// A trainer for a validated configuration.
    pub fn new(config: TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        Ok(Self {
            config,
            method: Method::ERM,
            errors: None,
            cancel: None,
            progress: None,
            on_eval: None,
        })
    }

    /// Trains with `method` instead of ERM (see [`method`]); `errors` is JTT's first-stage
    /// error set (required for JTT, refused for other methods). [`Method::ERM`] runs the plain
    /// loop, bit for bit what a trainer without a method does.
    pub fn with_method(
        mut self,
        method: Method,
        errors: Option<Vec<usize>>,
    ) -> Result<Self, TrainError> {
        method.validate()?;
        let jtt = matches!(method.rule, StepRule::Jtt { .. });
        if jtt != errors.is_some() {
            return Err(TrainError::Config(if jtt {
                "method jtt needs its first stage's error set".into()
            } else {
                format!(
                    "an error set was given to method `{}`; only jtt up-weights errors",
                    method.name()
                )
            }));
        }
        self.method = method;
        self.errors = errors;
        Ok(self)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Stops the run (status [`RunStatus::Interrupted`]) when `flag` becomes true; checked before
    /// every step.
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Calls `callback` after every step.
    pub fn with_progress(mut self, callback: impl FnMut(&Progress) + 'a) -> Self {
        self.progress = Some(Box::new(callback));
        self
    }

    /// Calls `callback(step, model)` after every recorded evaluation point (step 0 included),
    /// with the model as it is at that point (e.g. to save a checkpoint). An `Err(message)` ends
    /// the run with [`TrainError::Hook`]. Not called at a point where the loss is not finite.
    pub fn with_on_eval(
        mut self,
        callback: impl FnMut(u64, &dyn Model) -> Result<(), String> + 'a,
    ) -> Self {
        self.on_eval = Some(Box::new(callback));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Trains `model` on `data` from its current parameters.
    pub fn run(
        &mut self,
        model: &mut dyn Model,
        data: &Dataset,
    ) -> Result<TrainOutcome, TrainError> {
        check_fit(model, data)?;
        let started = Instant::now();
        let config = self.config.clone();
        let n = data.len();
        let steps_per_epoch = config.steps_per_epoch(n);
        let total_steps = config.total_steps(n);
        let total_epochs = total_steps as f64 / steps_per_epoch as f64;
        let eval_steps = config.eval.steps(total_steps);
        let mut next_eval = 0usize;
        let mut state = if self.method.is_erm() {
            None
        } else {
            Some(MethodState::new(
                self.method,
                data,
                config.seed,
                self.errors.as_deref(),
            )?)
        };
        // a method's parts go through the model whole for SGD, in evaluation-size chunks for GD
        let part_chunk = match config.optimizer {
            Optimizer::Sgd => usize::MAX,
            Optimizer::Gd => config.eval_batch_size,
        };
        let mut optimizer = Sgd::new(config.sgd, model.num_params());
        let mut params = model.params();
        let mut grad = vec![0.0f32; params.len()];
        let mut points = Vec::with_capacity(eval_steps.len());
        let mut features = Vec::new();
        let mut labels = Vec::new();
        let time = |step: u64| step as f64 / steps_per_epoch as f64;
        tracing::debug!(
            n,
            steps_per_epoch,
            total_steps,
            points = eval_steps.len(),
            "training run"
        );

        let finish = |points, status, steps| TrainOutcome {
            points,
            status,
            steps,
            steps_per_epoch,
            total_steps,
            seconds: started.elapsed().as_secs_f64(),
        };

        // step 0: the initial parameters
        let point = self.evaluate_at(model, data, 0, time(0))?;
        if !point.loss.is_finite() {
            return Ok(finish(points, RunStatus::Diverged { t: 0.0 }, 0));
        }
        self.call_on_eval(0, model)?;
        points.push(point);
        next_eval += 1;

        let mut step = 0u64;
        let mut epoch = 0u64;
        while step < total_steps {
            let batches = match (&state, config.optimizer) {
                (Some(s), _) => s.epoch_batches(data, &config, epoch),
                (None, Optimizer::Sgd) => data.epoch_batches(config.batch_size, config.seed, epoch),
                (None, Optimizer::Gd) => vec![(0..n).collect()],
            };
            for batch in batches {
                if step >= total_steps {
                    break;
                }
                if self
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::SeqCst))
                {
                    return Ok(finish(
                        points,
                        RunStatus::Interrupted { t: time(step) },
                        step,
                    ));
                }
                let lr = config.lr * config.schedule.factor(time(step), total_epochs);
                model.set_training(true);
                let loss = match (&mut state, config.optimizer) {
                    (Some(s), _) => s
                        .step_direction(model, data, &batch, part_chunk, &mut grad)
                        .map_err(|source| TrainError::Model { step, source })?,
                    (None, Optimizer::Sgd) => {
                        data.gather(&batch, &mut features, &mut labels);
                        model
                            .loss_and_gradient(&features, &labels, &mut grad)
                            .map_err(|source| TrainError::Model { step, source })?
                            as f64
                    }
                    (None, Optimizer::Gd) => {
                        mean_gradient(model, data, &batch, config.eval_batch_size, &mut grad)
                            .map_err(|source| TrainError::Model { step, source })?
                    }
                };
                if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
                    tracing::debug!(step, loss, "non-finite loss or gradient: diverged");
                    return Ok(finish(points, RunStatus::Diverged { t: time(step) }, step));
                }
                optimizer.step(&mut params, &grad, lr);
                model
                    .set_params(&params)
                    .map_err(|source| TrainError::Model { step, source })?;
                step += 1;
                if let Some(progress) = self.progress.as_mut() {
                    progress(&Progress {
                        step,
                        total_steps,
                        t: time(step),
                        batch_loss: loss,
                    });
                }
                if eval_steps.get(next_eval) == Some(&step) {
                    next_eval += 1;
                    let point = self.evaluate_at(model, data, step, time(step))?;
                    if !point.loss.is_finite() {
                        return Ok(finish(points, RunStatus::Diverged { t: time(step) }, step));
                    }
                    self.call_on_eval(step, model)?;
                    points.push(point);
                }
            }
            epoch += 1;
        }
        model.set_training(true);
        Ok(finish(points, RunStatus::Finished, step))
    }

    fn call_on_eval(&mut self, step: u64, model: &dyn Model) -> Result<(), TrainError> {
        match self.on_eval.as_mut() {
            Some(callback) => {
                callback(step, model).map_err(|message| TrainError::Hook { step, message })
            }
            None => Ok(()),
        }
    }

    fn evaluate_at(
        &self,
        model: &mut dyn Model,
        data: &Dataset,
        step: u64,
        t: f64,
    ) -> Result<EvalPoint, TrainError> {
        model.set_training(false);
        let chunk = self.config.eval_batch_size;
        let m = evaluate_groups(model, data, chunk)
            .map_err(|source| TrainError::Model { step, source })?;
        let zone = if self.config.zone && m.loss.is_finite() {
            Some(
                zone_probe(model, data, chunk)
                    .map_err(|source| TrainError::Model { step, source })?,
            )
        } else {
            None
        };
        model.set_training(true);
        Ok(EvalPoint {
            t,
            step,
            loss: m.loss,
            majority_loss: m.majority_loss,
            minority_loss: m.minority_loss,
            accuracy: m.accuracy,
            majority_accuracy: m.majority_accuracy,
            minority_accuracy: m.minority_accuracy,
            zone,
        })
    }
}

/// Trains `model` on `data` with `config` (no cancellation, no progress callback).
pub fn train(
    model: &mut dyn Model,
    data: &Dataset,
    config: &TrainConfig,
) -> Result<TrainOutcome, TrainError> {
    Trainer::new(config.clone())?.run(model, data)
}

fn check_fit(model: &dyn Model, data: &Dataset) -> Result<(), TrainError> {
    let mismatch = |what: String, expected: String| TrainError::Mismatch {
        data: data.name().into(),
        what,
        expected,
    };
    if data.feature_len() != model.input_shape().iter().product::<usize>() {
        return Err(mismatch(
            format!("samples of shape {:?}", data.shape()),
            format!("input {:?}", model.input_shape()),
        ));
    }
    if data.classes() > model.classes() {
        return Err(mismatch(
            format!("{} classes", data.classes()),
            format!("{} classes", model.classes()),
        ));
    }
    for group in [Group::Majority, Group::Minority] {
        if data.group_sizes().of(group) == 0 {
            return Err(TrainError::EmptyGroup {
                data: data.name().into(),
                group,
            });
        }
    }
    Ok(())
}

/// Per-group means over the whole training set (docs/definitions.md): `L̄_g` and accuracy of each group, and
/// the global mean loss `L̄` and accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// `L̄ = L`, the mean loss over all `n` samples.
    pub loss: f64,
    /// `L̄_1`, the mean loss over the majority.
    pub majority_loss: f64,
    /// `L̄_0`, the mean loss over the minority.
    pub minority_loss: f64,
    /// Accuracy over all samples.
    pub accuracy: f64,
    /// Majority accuracy.
    pub majority_accuracy: f64,
    /// Minority accuracy.
    pub minority_accuracy: f64,
}

impl GroupMetrics {
    /// Worst-group accuracy: min(majority accuracy, minority accuracy).
    pub fn worst_group_accuracy(&self) -> f64 {
        self.majority_accuracy.min(self.minority_accuracy)
    }

    /// Worst-group loss: max(L̄_1, L̄_0), the larger group mean loss.
    pub fn worst_group_loss(&self) -> f64 {
        self.majority_loss.max(self.minority_loss)
    }

    /// Group-average (balanced) accuracy: the mean of the two group accuracies, each group
    /// counting once whatever its size (the sample average [`GroupMetrics::accuracy`] weighs the
    /// groups by their sizes).
    pub fn group_average_accuracy(&self) -> f64 {
        0.5 * (self.majority_accuracy + self.minority_accuracy)
    }
}

/// Evaluates `model` as it is (call `set_training(false)` first for evaluation mode) on every
/// sample of `data`, `chunk` samples per forward pass. A group without samples gets NaN.
pub fn evaluate_groups(
    model: &mut dyn Model,
    data: &Dataset,
    chunk: usize,
) -> Result<GroupMetrics, ModelError> {
    let (mut loss_sum, mut correct) = ([0.0f64; 2], [0usize; 2]);
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    let all: Vec<usize> = (0..data.len()).collect();
    for part in all.chunks(chunk.max(1)) {
        data.gather(part, &mut features, &mut labels);
        let eval = model.evaluate(&features, &labels)?;
        for (k, &i) in part.iter().enumerate() {
            let g = data.groups()[i].a() as usize;
            loss_sum[g] += eval.losses[k] as f64;
            correct[g] += (eval.predictions[k] == labels[k]) as usize;
        }
    }
    let sizes = data.group_sizes();
    let (n0, n1) = (sizes.minority as f64, sizes.majority as f64);
    let n = n0 + n1;
    Ok(GroupMetrics {
        loss: (loss_sum[0] + loss_sum[1]) / n,
        majority_loss: loss_sum[1] / n1,
        minority_loss: loss_sum[0] / n0,
        accuracy: (correct[0] + correct[1]) as f64 / n,
        majority_accuracy: correct[1] as f64 / n1,
        minority_accuracy: correct[0] as f64 / n0,
    })
}

/// The mean loss over the samples `indices` and its gradient (written into `grad`), computed in
/// chunks of `chunk` samples and weighted by chunk size, so it equals one pass over all of them
/// (up to summation order, and to BatchNorm batch statistics in training mode).
pub fn mean_gradient(
    model: &mut dyn Model,
    data: &Dataset,
    indices: &[usize],
    chunk: usize,
    grad: &mut [f32],
) -> Result<f64, ModelError> {
    let mut sum = vec![0.0f64; grad.len()];
    let mut part_grad = vec![0.0f32; grad.len()];
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    let mut loss = 0.0f64;
    let total = indices.len().max(1) as f64;
    for part in indices.chunks(chunk.max(1)) {
        data.gather(part, &mut features, &mut labels);
        let l = model.loss_and_gradient(&features, &labels, &mut part_grad)? as f64;
        let w = part.len() as f64 / total;
        loss += w * l;
        sum.iter_mut()
            .zip(&part_grad)
            .for_each(|(s, g)| *s += w * *g as f64);
    }
    grad.iter_mut().zip(&sum).for_each(|(g, s)| *g = *s as f32);
    Ok(loss)
}

/// The zone probe at the model's current parameters (docs/definitions.md, majority-training zone), from
/// full-batch per-group gradients in the model's current mode (use evaluation mode).
///
/// `loss_and_gradient` returns the gradient of a *mean* over its batch, so the parts of
/// `L = L1 + L0` (each divided by the total `n`) are `∇L_g = (n_g / n) ∇L̄_g`.
pub fn zone_probe(
    model: &mut dyn Model,
    data: &Dataset,
    chunk: usize,
) -> Result<ZoneProbe, ModelError> {
    let n = data.len() as f64;
    let mut parts = Vec::with_capacity(2);
    for group in [Group::Majority, Group::Minority] {
        let indices = data.indices_of(group);
        let mut grad = vec![0.0f32; model.num_params()];
        if !indices.is_empty() {
            mean_gradient(model, data, &indices, chunk, &mut grad)?;
        }
        let weight = indices.len() as f64 / n;
        parts.push(
            grad.iter()
                .map(|g| weight * *g as f64)
                .collect::<Vec<f64>>(),
        );
    }
    let (majority, minority) = (&parts[0], &parts[1]);
    let inner_product = majority
        .iter()
        .zip(minority)
        .map(|(g1, g0)| (g1 + g0) * g1)
        .sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    Ok(ZoneProbe {
        inner_product,
        majority_grad_norm: norm(majority),
        minority_grad_norm: norm(minority),
    })
}

/// Default [`SgdConfig`] for an optimiser: momentum 0.9 and weight decay 5·10⁻⁴ for SGD (the usual
/// CIFAR recipe), none for GD (the discrete gradient flow).
pub fn default_sgd_config(optimizer: Optimizer) -> SgdConfig {
    match optimizer {
        Optimizer::Sgd => SgdConfig::default(),
        Optimizer::Gd => SgdConfig {
            momentum: 0.0,
            weight_decay: 0.0,
        },
    }
}

#[cfg(test)]
mod tests;
