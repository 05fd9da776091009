//! Mitigations against the catch-up overcost: who is sampled, how the loss is weighted and how a
//! step is formed (issue 18; the formulas and citations are in `docs/methods.md`).
//!
//! A [`Method`] is three independent settings, so that a gain can be traced to its source:
//!
//! - the [`Sampler`]: which samples fill an epoch's batches — `shuffle` (every sample once, ERM),
//!   `resample` (n draws with replacement, each group with probability ½: ReSample in SubpopBench
//!   and BalancingGroups, Idrissi et al. 2022) or `subsample` (the majority cut once, at random,
//!   to the minority's size: SUBG, Idrissi et al. 2022);
//! - the [`LossWeights`]: fixed group weights of the loss, `reweight` (w_g = n / (2 n_g)) or
//!   `sqrt-reweight` (w_g ∝ 1/√n_g, scaled so that Σ_g n_g w_g = n);
//! - the [`StepRule`]: the plain gradient of the (weighted) batch loss, `pcngd` (Francazi et al.
//!   2023: x ← x − η Σ_g ∇L_g/‖∇L_g‖), `group-dro` (Sagawa et al. 2020: exponentiated-gradient
//!   group weights q_g ← q_g·exp(η_q·(ℓ_g + C/√n_g)), loss Σ_g q_g ℓ_g) or `jtt` (Liu et al.
//!   2021: a first ERM stage, then the training errors up-weighted by λ_up).
//!
//! A method is named by its non-default parts joined by `+` (`erm` when all are defaults):
//! `reweight`, `resample`, `resample+reweight`, `pcngd+resample` (the oversampling variant of
//! PCNGD), `group-dro`, `jtt`. Time stays in units of the ERM epoch, ⌈n/B⌉ optimiser steps, for
//! every method, so curves compare at equal numbers of steps: a `resample` or `subsample` epoch
//! also draws n samples.
//!
//! The weighted losses are formed from the [`Model`] trait's mean-loss gradients: a batch is split
//! into its groups (and, for JTT, into up-weighted and other samples), each part's mean gradient
//! is computed and the parts are combined with their weights. That is exact for models without
//! batch statistics; with BatchNorm in training mode each part is normalised with its own batch
//! statistics (ERM, which does not split, is unaffected).

use std::fmt;
use std::str::FromStr;

use majmin_core::{Dataset, Group, Model, ModelError, Rng};
use serde::{Deserialize, Serialize};

use super::config::{Optimizer, TrainConfig};
use super::{mean_gradient, TrainError};

/// Group DRO's default step size η_q (Sagawa et al. 2020; SubpopBench's `groupdro_eta`).
pub const DRO_ETA: f64 = 0.01;
/// Group DRO's default generalisation adjustment C (none).
pub const DRO_ADJUSTMENT: f64 = 0.0;
/// JTT's default up-weight λ_up (SubpopBench's `jtt_lambda`).
pub const JTT_LAMBDA: f64 = 10.0;
/// JTT's default first stage: this fraction of the run's steps (SubpopBench's
/// `first_stage_step_frac`).
pub const JTT_FIRST_STAGE_FRACTION: f64 = 0.5;

/// Which samples fill the batches of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// Every training sample once per epoch, in a seeded random order (ERM).
    #[default]
    Shuffle,
    /// n draws with replacement per epoch: a fair coin picks the group, then a sample of that
    /// group uniformly, so both groups are drawn in equal expected proportion.
    Resample,
    /// The majority cut once (seeded) to n0 random samples; epochs cycle through shuffles of the
    /// kept 2·n0 samples, n draws per epoch.
    Subsample,
}

/// Fixed per-group weights of the loss: the batch loss is `(1/B) Σ_i w_{g(i)} ℓ_i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LossWeights {
    /// w_g = 1 (ERM).
    #[default]
    None,
    /// w_g = n / (2 n_g): both groups carry half of the expected loss.
    Reweight,
    /// w_g = n / (√n_g · Σ_h √n_h): inverse square-root weights, with Σ_g n_g w_g = n.
    SqrtReweight,
}

/// How a step's direction is formed from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "rule", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StepRule {
    /// The gradient of the (weighted) batch loss.
    #[default]
    Gradient,
    /// Per-group normalised gradient (Francazi et al. 2023): the direction Σ_g ∇L_g/‖∇L_g‖ over
    /// the groups present in the batch (with `--optimizer gd`, the full-batch group gradients of
    /// the zone probe).
    Pcngd,
    /// Group DRO (Sagawa et al. 2020).
    GroupDro {
        /// Step size η_q of the group weights.
        eta: f64,
        /// Generalisation adjustment C (the q-update uses ℓ_g + C/√n_g).
        adjustment: f64,
    },
    /// Just Train Twice (Liu et al. 2021).
    Jtt {
        /// Length of the first (ERM) stage in epochs; `None`: half the run's steps.
        first_stage_epochs: Option<f64>,
        /// λ_up, the weight of the first stage's training errors in the second stage.
        lambda: f64,
    },
}

/// A training method: sampler, loss weights and step rule (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Method {
    /// Which samples fill the batches.
    pub sampler: Sampler,
    /// Fixed group weights of the loss.
    pub weights: LossWeights,
    /// How a step is formed.
    pub rule: StepRule,
}

/// The method names `--method` accepts, one per part (combine parts with `+`).
pub const METHOD_NAMES: [&str; 8] = [
    "erm",
    "reweight",
    "sqrt-reweight",
    "resample",
    "subsample",
    "pcngd",
    "group-dro",
    "jtt",
];

impl Method {
    /// Plain ERM: shuffled epochs, unweighted loss, gradient steps.
    pub const ERM: Method = Method {
        sampler: Sampler::Shuffle,
        weights: LossWeights::None,
        rule: StepRule::Gradient,
    };

    /// Whether this is plain ERM (the training loop before methods existed, bit for bit).
    pub fn is_erm(&self) -> bool {
        *self == Method::ERM
    }

    /// The canonical name: the non-default parts joined by `+` (rule, sampler, weights), or
    /// `erm`. Parameters are not part of the name.
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        match self.rule {
            StepRule::Gradient => {}
            StepRule::Pcngd => parts.push("pcngd"),
            StepRule::GroupDro { .. } => parts.push("group-dro"),
            StepRule::Jtt { .. } => parts.push("jtt"),
        }
        match self.sampler {
            Sampler::Shuffle => {}
            Sampler::Resample => parts.push("resample"),
            Sampler::Subsample => parts.push("subsample"),
        }
        match self.weights {
            LossWeights::None => {}
            LossWeights::Reweight => parts.push("reweight"),
            LossWeights::SqrtReweight => parts.push("sqrt-reweight"),
        }
        if parts.is_empty() {
            "erm".into()
        } else {
            parts.join("+")
        }
    }

    /// The parameters in words, e.g. `η_q = 0.01, C = 0` (empty for parameter-free methods).
    pub fn parameters(&self) -> String {
        match self.rule {
            StepRule::GroupDro { eta, adjustment } => format!("η_q = {eta}, C = {adjustment}"),
            StepRule::Jtt {
                first_stage_epochs,
                lambda,
            } => format!(
                "T = {}, λ_up = {lambda}",
                first_stage_epochs
                    .map(|e| format!("{e} epochs"))
                    .unwrap_or_else(|| "half the run".into())
            ),
            _ => String::new(),
        }
    }

    /// Checks the parameters and the combination; the message names what is wrong.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        match self.rule {
            StepRule::GroupDro { eta, adjustment } => {
                if !(eta.is_finite() && eta > 0.0) {
                    return bad(format!(
                        "group DRO step size η_q = {eta}; expected a positive number such as {DRO_ETA}"
                    ));
                }
                if !(adjustment.is_finite() && adjustment >= 0.0) {
                    return bad(format!(
                        "group DRO adjustment C = {adjustment}; expected a number ≥ 0"
                    ));
                }
            }
            StepRule::Jtt {
                first_stage_epochs,
                lambda,
            } => {
                if !(lambda.is_finite() && lambda >= 1.0) {
                    return bad(format!(
                        "JTT up-weight λ_up = {lambda}; expected a number ≥ 1 such as {JTT_LAMBDA}"
                    ));
                }
                if let Some(e) = first_stage_epochs {
                    if !(e.is_finite() && e > 0.0) {
                        return bad(format!(
                            "JTT first stage = {e} epochs; expected a positive number"
                        ));
                    }
                }
            }
            _ => {}
        }
        if self.weights != LossWeights::None {
            let why = match self.rule {
                StepRule::Gradient => None,
                StepRule::Pcngd => {
                    Some("pcngd normalises each group's gradient, so group weights would cancel")
                }
                StepRule::GroupDro { .. } => Some("group-dro sets its own group weights"),
                StepRule::Jtt { .. } => Some("jtt sets its own sample weights"),
            };
            if let Some(why) = why {
                return bad(format!(
                    "method `{}`: {why}; combine a step rule with a sampler (e.g. `{}+resample`), not with loss weights",
                    self.name(),
                    self.name().split('+').next().unwrap_or("")
                ));
            }
        }
        Ok(())
    }

    /// JTT's first-stage training configuration for a run of `config` on `n` samples: ERM for
    /// `first_stage_epochs` (or half the run's steps), evaluated only at its start and end.
    /// `None` for other methods.
    pub fn jtt_first_stage(&self, config: &TrainConfig, n: usize) -> Option<TrainConfig> {
        let StepRule::Jtt {
            first_stage_epochs, ..
        } = self.rule
        else {
            return None;
        };
        let steps = match first_stage_epochs {
            Some(e) => (e * config.steps_per_epoch(n) as f64).round() as u64,
            None => (JTT_FIRST_STAGE_FRACTION * config.total_steps(n) as f64).round() as u64,
        };
        Some(TrainConfig {
            budget: super::Budget::Steps(steps.max(1)),
            eval: super::EvalSchedule::LogSpaced(2),
            zone: false,
            ..config.clone()
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why a method name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MethodParseError(pub String);

impl FromStr for Method {
    type Err = MethodParseError;

    /// Parses `erm`, `reweight`, `resample+reweight`, `pcngd+resample`, … with every parameter
    /// at its default. At most one sampler, one weighting and one step rule.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut method = Method::ERM;
        let (mut sampler, mut weights, mut rule) = (None, None, None);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(MethodParseError(format!(
                "empty method name; expected one of {}",
                METHOD_NAMES.join(", ")
            )));
        }
        for part in trimmed.split('+').map(str::trim) {
            let twice = |kind: &str, first: &str| {
                MethodParseError(format!(
                    "method `{trimmed}` names two {kind}s (`{first}` and `{part}`); expected at most one sampler, one loss weighting and one step rule"
                ))
            };
            match part {
                "erm" => {}
                "resample" | "subsample" => {
                    if let Some(first) = sampler {
                        return Err(twice("sampler", first));
                    }
                    sampler = Some(part);
                    method.sampler = if part == "resample" {
                        Sampler::Resample
                    } else {
                        Sampler::Subsample
                    };
                }
                "reweight" | "sqrt-reweight" => {
                    if let Some(first) = weights {
                        return Err(twice("loss weighting", first));
                    }
                    weights = Some(part);
                    method.weights = if part == "reweight" {
                        LossWeights::Reweight
                    } else {
                        LossWeights::SqrtReweight
                    };
                }
                "pcngd" | "group-dro" | "jtt" => {
                    if let Some(first) = rule {
                        return Err(twice("step rule", first));
                    }
                    rule = Some(part);
                    method.rule = match part {
                        "pcngd" => StepRule::Pcngd,
                        "group-dro" => StepRule::GroupDro {
                            eta: DRO_ETA,
                            adjustment: DRO_ADJUSTMENT,
                        },
                        _ => StepRule::Jtt {
                            first_stage_epochs: None,
                            lambda: JTT_LAMBDA,
                        },
                    };
                }
                other => {
                    return Err(MethodParseError(format!(
                        "unknown method `{other}`{}; expected one of {} (combine a sampler, a loss weighting and a step rule with `+`, e.g. resample+reweight)",
                        if other == trimmed { String::new() } else { format!(" in `{trimmed}`") },
                        METHOD_NAMES.join(", ")
                    )))
                }
            }
        }
        method
            .validate()
            .map_err(|e| MethodParseError(e.to_string().replace("training configuration: ", "")))?;
        Ok(method)
    }
}

/// The loss weight w_g of each group (indexed by `a`: `[minority, majority]`) for group sizes
/// `[n0, n1]`. Σ_g n_g w_g = n for both weightings, so the weighted loss has ERM's scale.
pub fn group_weights(weights: LossWeights, sizes: [usize; 2]) -> [f64; 2] {
    let n = (sizes[0] + sizes[1]) as f64;
    match weights {
        LossWeights::None => [1.0, 1.0],
        LossWeights::Reweight => sizes.map(|s| if s == 0 { 0.0 } else { n / (2.0 * s as f64) }),
        LossWeights::SqrtReweight => {
            let total: f64 = sizes.iter().map(|&s| (s as f64).sqrt()).sum();
            sizes.map(|s| {
                if s == 0 {
                    0.0
                } else {
                    n / ((s as f64).sqrt() * total)
                }
            })
        }
    }
}

/// The training samples `model` misclassifies, in data order (JTT's error set), evaluated as the
/// model is (call `set_training(false)` first), `chunk` samples per forward pass.
pub fn misclassified(
    model: &mut dyn Model,
    data: &Dataset,
    chunk: usize,
) -> Result<Vec<usize>, ModelError> {
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    let all: Vec<usize> = (0..data.len()).collect();
    let mut errors = Vec::new();
    for part in all.chunks(chunk.max(1)) {
        data.gather(part, &mut features, &mut labels);
        let eval = model.evaluate(&features, &labels)?;
        errors.extend(
            part.iter()
                .zip(eval.predictions.iter().zip(&labels))
                .filter(|(_, (p, l))| p != l)
                .map(|(&i, _)| i),
        );
    }
    Ok(errors)
}

// Stream numbers of the method's random choices (distinct from the batch order's epochs).
const RESAMPLE_STREAM: u64 = 0x5245_5341_4d50_4c45; // "RESAMPLE"
const SUBSAMPLE_STREAM: u64 = 0x5355_4253_414d_504c; // "SUBSAMPL"

/// A method's per-run state: the sampler's kept set, the loss weights, group DRO's q and JTT's
/// up-weighted samples.
#[derive(Debug, Clone)]
pub(crate) struct MethodState {
    method: Method,
    /// Samples of each group (by `a`), in data order.
    by_group: [Vec<usize>; 2],
    /// The subsample's kept samples (sorted), or empty.
    kept: Vec<usize>,
    /// w_g by `a`.
    weights: [f64; 2],
    /// Group DRO's q by `a`.
    pub(crate) q: [f64; 2],
    /// JTT: whether each sample is up-weighted.
    upweighted: Vec<bool>,
}

/// One part of a batch: samples of one group with one weight.
struct Part {
    a: usize,
    up: bool,
    indices: Vec<usize>,
}

impl MethodState {
    /// The state at the start of a run on `data` with batch-order seed `seed`; `errors`: JTT's
    /// first-stage error set (required for JTT, refused otherwise).
    pub(crate) fn new(
        method: Method,
        data: &Dataset,
        seed: u64,
        errors: Option<&[usize]>,
    ) -> Result<Self, TrainError> {
        method.validate()?;
        let by_group = [
            data.indices_of(Group::Minority),
            data.indices_of(Group::Majority),
        ];
        let sizes = [by_group[0].len(), by_group[1].len()];
        let kept = match method.sampler {
            Sampler::Subsample => {
                let keep = sizes[0].min(sizes[1]);
                let mut rng = Rng::for_stream(seed, SUBSAMPLE_STREAM);
                let mut kept: Vec<usize> = rng
                    .sample_indices(sizes[1], keep)
                    .into_iter()
                    .map(|j| by_group[1][j])
                    .chain(by_group[0].iter().copied())
                    .collect();
                kept.sort_unstable();
                kept
            }
            _ => Vec::new(),
        };
        let upweighted = match (method.rule, errors) {
            (StepRule::Jtt { .. }, Some(errors)) => {
                let mut up = vec![false; data.len()];
                for &i in errors {
                    match up.get_mut(i) {
                        Some(u) => *u = true,
                        None => {
                            return Err(TrainError::Config(format!(
                                "JTT error set names sample {i} of a data set of {}",
                                data.len()
                            )))
                        }
                    }
                }
                up
            }
            (StepRule::Jtt { .. }, None) => {
                return Err(TrainError::Config(
                    "method jtt needs its first stage's error set (run the first stage with `Method::jtt_first_stage` and `misclassified`, then `Trainer::with_method(method, Some(errors))`)".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(TrainError::Config(format!(
                    "an error set was given to method `{}`; only jtt up-weights errors",
                    method.name()
                )))
            }
            (_, None) => Vec::new(),
        };
        Ok(Self {
            method,
            weights: group_weights(method.weights, sizes),
            by_group,
            kept,
            q: [0.5, 0.5],
            upweighted,
        })
    }

    /// The sample weight of sample `i` (group weight times JTT's up-weight).
    #[cfg(test)]
    pub(crate) fn sample_weight(&self, data: &Dataset, i: usize) -> f64 {
        let a = data.groups()[i].a() as usize;
        let up = match self.method.rule {
            StepRule::Jtt { lambda, .. } if self.upweighted[i] => lambda,
            _ => 1.0,
        };
        self.weights[a] * up
    }

    /// The n sample indices of epoch `epoch` in batch order, from the sampler.
    pub(crate) fn epoch_indices(&self, data: &Dataset, seed: u64, epoch: u64) -> Vec<usize> {
        let n = data.len();
        match self.method.sampler {
            Sampler::Shuffle => data.epoch_order(seed, epoch),
            Sampler::Resample => {
                let mut rng = Rng::for_stream(seed ^ RESAMPLE_STREAM, epoch);
                (0..n)
                    .map(|_| {
                        let group = &self.by_group[rng.below(2)];
                        group[rng.below(group.len())]
                    })
                    .collect()
            }
            Sampler::Subsample => {
                let mut rng = Rng::for_stream(seed ^ SUBSAMPLE_STREAM, epoch);
                let mut out = Vec::with_capacity(n + self.kept.len());
                while out.len() < n {
                    let mut pass = self.kept.clone();
                    rng.shuffle(&mut pass);
                    out.extend(pass);
                }
                out.truncate(n);
                out
            }
        }
    }

    /// The batches of epoch `epoch`: [`MethodState::epoch_indices`] cut into mini-batches (SGD)
    /// or one batch (GD; with the shuffle sampler, all samples in data order).
    pub(crate) fn epoch_batches(
        &self,
        data: &Dataset,
        config: &TrainConfig,
        epoch: u64,
    ) -> Vec<Vec<usize>> {
        if config.optimizer == Optimizer::Gd && self.method.sampler == Sampler::Shuffle {
            // the full batch in data order: each group's part is then exactly the zone probe's
            // full-batch group gradient (`zone_probe`)
            return vec![(0..data.len()).collect()];
        }
        let indices = self.epoch_indices(data, config.seed, epoch);
        match config.optimizer {
            Optimizer::Sgd => indices
                .chunks(config.batch_size.max(1))
                .map(<[usize]>::to_vec)
                .collect(),
            Optimizer::Gd => vec![indices],
        }
    }

    /// The batch split into parts of one group and one JTT weight each, in a fixed order
    /// (minority before majority, plain before up-weighted), samples in batch order.
    fn parts(&self, data: &Dataset, batch: &[usize]) -> Vec<Part> {
        let mut parts = Vec::new();
        for a in 0..2 {
            for up in [false, true] {
                let indices: Vec<usize> = batch
                    .iter()
                    .copied()
                    .filter(|&i| {
                        data.groups()[i].a() as usize == a
                            && self.upweighted.get(i).copied().unwrap_or(false) == up
                    })
                    .collect();
                if !indices.is_empty() {
                    parts.push(Part { a, up, indices });
                }
            }
        }
        parts
    }

    /// The step direction of the method on `batch` (written into `grad`) and the loss it
    /// descends. `chunk` bounds the samples per model call.
    pub(crate) fn step_direction(
        &mut self,
        model: &mut dyn Model,
        data: &Dataset,
        batch: &[usize],
        chunk: usize,
        grad: &mut [f32],
    ) -> Result<f64, ModelError> {
        let parts = self.parts(data, batch);
        let total = batch.len().max(1) as f64;
        let mut part_grads = Vec::with_capacity(parts.len());
        for part in &parts {
            let mut g = vec![0.0f32; grad.len()];
            let loss = mean_gradient(model, data, &part.indices, chunk, &mut g)?;
            part_grads.push((loss, g));
        }
        let mut direction = vec![0.0f64; grad.len()];
        let add = |direction: &mut [f64], c: f64, g: &[f32]| {
            direction
                .iter_mut()
                .zip(g)
                .for_each(|(d, g)| *d += c * *g as f64);
        };
        let loss = match self.method.rule {
            StepRule::Gradient | StepRule::Jtt { .. } => {
                let mut loss = 0.0;
                for (part, (l, g)) in parts.iter().zip(&part_grads) {
                    let up = match self.method.rule {
                        StepRule::Jtt { lambda, .. } if part.up => lambda,
                        _ => 1.0,
                    };
                    let c = self.weights[part.a] * up * part.indices.len() as f64 / total;
                    loss += c * l;
                    add(&mut direction, c, g);
                }
                loss
            }
            StepRule::Pcngd => {
                // parts are whole groups here (no up-weighting): normalise each
                let mut loss = 0.0;
                for (part, (l, g)) in parts.iter().zip(&part_grads) {
                    loss += part.indices.len() as f64 / total * l;
                    let norm = g
                        .iter()
                        .map(|x| (*x as f64) * (*x as f64))
                        .sum::<f64>()
                        .sqrt();
                    if norm > 0.0 && norm.is_finite() {
                        add(&mut direction, 1.0 / norm, g);
                    } else if !norm.is_finite() {
                        add(&mut direction, f64::NAN, g);
                    }
                }
                loss
            }
            StepRule::GroupDro { eta, adjustment } => {
                let mut group_loss = [0.0f64; 2];
                for (part, (l, _)) in parts.iter().zip(&part_grads) {
                    group_loss[part.a] = *l;
                }
                let sizes = [self.by_group[0].len(), self.by_group[1].len()];
                for a in 0..2 {
                    let adjusted = group_loss[a] + adjustment / (sizes[a].max(1) as f64).sqrt();
                    self.q[a] *= (eta * adjusted).exp();
                }
                let sum = self.q[0] + self.q[1];
                self.q.iter_mut().for_each(|q| *q /= sum);
                for (part, (_, g)) in parts.iter().zip(&part_grads) {
                    add(&mut direction, self.q[part.a], g);
                }
                self.q[0] * group_loss[0] + self.q[1] * group_loss[1]
            }
        };
        grad.iter_mut()
            .zip(&direction)
            .for_each(|(g, d)| *g = *d as f32);
        Ok(loss)
    }
}
