//! A trained network as an [`Objective`]: the majority part `L1`, the minority part `L0` or the
//! whole loss `L = L1 + L0` of a model on a data set, with both parts divided by the total `n`
//! (docs/definitions.md), so that the theory's constants and spectra can be measured on real networks.
//!
//! Evaluation follows the curves' rules: BatchNorm in evaluation mode (running statistics, so the
//! groups do not mix), the full data set in mini-batches, per-batch means combined in `f64`.
//! Hessian-vector products are central differences of exact gradients (two gradients each):
//!
//! `∇²L·v ≈ (∇L(θ + h v̂) − ∇L(θ − h v̂)) / (2h) · ‖v‖`, `h = ε_f32^{1/3} · max(1, rms θ)`,
//!
//! the step that balances the `O(h²)` truncation error against the `O(ε_f32 / h)` rounding error
//! of gradients computed in `f32`. [`NetworkObjective::hvp_with_error`] also returns the
//! Richardson estimate `|Hv(2h) − Hv(h)| / 3` of the truncation error (two more gradients).
//!
//! For a smooth loss (softmax regression, smooth activations) these products match the exact
//! Hessian to about 1e-3 relative (tests/tests/network_objective.rs). For a ReLU network the
//! gradient jumps where a unit's pre-activation crosses 0 between `θ − h v̂` and `θ + h v̂`; the
//! difference then measures the Hessian of a smoothed loss, and products along random directions
//! are symmetric only to about 1 % of `‖Hv‖‖u‖`. Spectra report explicit residuals, which show it.
//!
//! Perceptrons get exact products instead: [`NetworkObjective::with_exact_mlp`] evaluates the
//! loss, the gradient and `∇²L·v` in `f64` with [`Mlp`]'s R-operator (forward over reverse,
//! Pearlmutter 1994), at the cost of about two gradients, and gives the Hessian that
//! `torch.autograd.functional.hessian` gives on the same weights.

use std::sync::Mutex;

use majmin_core::{Dataset, Group, Model, ModelError, Objective};

use crate::mlp::Mlp;
use crate::train::mean_gradient;

/// Which part of the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossPart {
    /// `L1 = (1/n) Σ_{a=1} ℓ_i`.
    Majority,
    /// `L0 = (1/n) Σ_{a=0} ℓ_i`.
    Minority,
    /// `L = L1 + L0`.
    Total,
}

impl LossPart {
    /// `majority`, `minority` or `total`.
    pub fn name(self) -> &'static str {
        match self {
            LossPart::Majority => "majority",
            LossPart::Minority => "minority",
            LossPart::Total => "total",
        }
    }

    fn groups(self) -> &'static [Group] {
        match self {
            LossPart::Majority => &[Group::Majority],
            LossPart::Minority => &[Group::Minority],
            LossPart::Total => &[Group::Majority, Group::Minority],
        }
    }
}

/// One part of a network's loss on a data set, as a function of the flat parameters.
pub struct NetworkObjective {
    model: Mutex<Box<dyn Model>>,
    data: Dataset,
    part: LossPart,
    chunk: usize,
    dim: usize,
    exact: Option<ExactMlp>,
}

/// The exact backend: the perceptron and the data set's inputs in `f64`.
struct ExactMlp {
    mlp: Mlp,
    inputs: Vec<f64>,
    threads: usize,
}

/// A Hessian-vector product with an estimate of its error.
#[derive(Debug, Clone, PartialEq)]
pub struct HvpEstimate {
    /// `∇²L·v`.
    pub product: Vec<f64>,
    /// Richardson estimate of the truncation error, `‖Hv(2h) − Hv(h)‖ / 3`.
    pub error: f64,
    /// The step `h` used.
    pub step: f64,
}

impl NetworkObjective {
    /// The `part` of `model`'s loss on `data`, evaluated in mini-batches of `chunk` samples. The
    /// model is put in evaluation mode.
    pub fn new(mut model: Box<dyn Model>, data: Dataset, part: LossPart, chunk: usize) -> Self {
        model.set_training(false);
        let dim = model.num_params();
        Self {
            model: Mutex::new(model),
            data,
            part,
            chunk: chunk.max(1),
            dim,
            exact: None,
        }
    }

    /// Evaluates with the exact `f64` perceptron `mlp` instead of the model (exact gradients and
    /// Hessian-vector products; see the module docs). The model must be that perceptron: the
    /// same parameter count, input size and classes, and the same logits at its current
    /// parameters (checked on the first samples, to 1e-4 relative), or this fails.
    pub fn with_exact_mlp(mut self, mlp: Mlp, threads: usize) -> Result<Self, ModelError> {
        let mismatch =
            |what: String| ModelError::Other(format!("exact perceptron {:?}: {what}", mlp.sizes()));
        if mlp.num_params() != self.dim {
            return Err(mismatch(format!(
                "{} parameters, the model has {}",
                mlp.num_params(),
                self.dim
            )));
        }
        let features = self.data.feature_len();
        if mlp.sizes()[0] != features || *mlp.sizes().last().unwrap_or(&0) != self.data.classes() {
            return Err(mismatch(format!(
                "the data have {features} features and {} classes",
                self.data.classes()
            )));
        }
        let inputs: Vec<f64> = self.data.features().iter().map(|&x| f64::from(x)).collect();
        // the same function: compare logits on a few samples at the current parameters
        let theta = self.params()?;
        let probe = self.data.len().min(8);
        if probe > 0 {
            let mut model = self.model.lock().map_err(|_| poisoned())?;
            let got = model.logits(&self.data.features()[..probe * features])?;
            for s in 0..probe {
                let want = mlp.logits(&theta, &inputs[s * features..(s + 1) * features]);
                let row = &got[s * want.len()..(s + 1) * want.len()];
                let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
                if want
                    .iter()
                    .zip(row)
                    .any(|(w, g)| (w - f64::from(*g)).abs() > 1e-4 * scale)
                {
                    return Err(mismatch(format!(
                        "its logits on sample {s} differ from the model's: {want:?} vs {row:?}"
                    )));
                }
            }
        }
        self.exact = Some(ExactMlp {
            mlp,
            inputs,
            threads: threads.max(1),
        });
        Ok(self)
    }

    /// Switches to the exact backend when the model is a ReLU perceptron (its state dict is one,
    /// [`Mlp::from_state_dict`]); leaves any other model as it is.
    pub fn exact_when_perceptron(self, threads: usize) -> Result<Self, ModelError> {
        let tensors = self.model.lock().map_err(|_| poisoned())?.state_dict().ok();
        match tensors.as_deref().and_then(Mlp::from_state_dict) {
            Some(mlp) => self.with_exact_mlp(mlp, threads),
            None => Ok(self),
        }
    }

    /// Whether Hessian-vector products are exact ([`NetworkObjective::with_exact_mlp`]).
    pub fn is_exact(&self) -> bool {
        self.exact.is_some()
    }

    /// The exact backend's value, gradient and (with `v`) Hessian-vector product, summed over the
    /// part's samples with weight `1/n`, on up to `threads` threads.
    fn exact_eval(
        &self,
        exact: &ExactMlp,
        theta: &[f64],
        grad: &mut [f64],
        hvp: Option<(&[f64], &mut [f64])>,
    ) -> f64 {
        let n = self.data.len().max(1) as f64;
        let features = self.data.feature_len();
        let labels = self.data.labels();
        let mut samples: Vec<usize> = Vec::new();
        for &group in self.part.groups() {
            samples.extend(self.data.indices_of(group));
        }
        samples.sort_unstable();
        let dim = self.dim;
        let v = hvp.as_ref().map(|(v, _)| *v);
        let chunks: Vec<&[usize]> = samples
            .chunks(samples.len().div_ceil(exact.threads).max(1))
            .collect();
        // each thread sums its contiguous block; blocks are added in order (deterministic)
        let partial: Vec<(f64, Vec<f64>, Vec<f64>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|block| {
                    scope.spawn(move || {
                        let mut g = vec![0.0; dim];
                        let mut hv = vec![0.0; if v.is_some() { dim } else { 0 }];
                        let mut loss = 0.0;
                        for &i in *block {
                            let x = &exact.inputs[i * features..(i + 1) * features];
                            let y = labels[i] as usize;
                            loss += exact.mlp.accumulate(
                                theta,
                                x,
                                y,
                                1.0 / n,
                                &mut g,
                                v.map(|v| (v, hv.as_mut_slice())),
                            ) / n;
                        }
                        (loss, g, hv)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("exact perceptron thread panicked"))
                .collect()
        });
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut value = 0.0;
        let mut hv_out = hvp.map(|(_, out)| {
            out.iter_mut().for_each(|o| *o = 0.0);
            out
        });
        for (loss, g, hv) in partial {
            value += loss;
            grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            if let Some(out) = hv_out.as_deref_mut() {
                out.iter_mut().zip(&hv).for_each(|(a, b)| *a += b);
            }
        }
        value
    }

    /// Which part this is.
    pub fn part(&self) -> LossPart {
        self.part
    }

    /// The data set.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The value and gradient at `theta`.
    pub fn try_value_and_gradient(
        &self,
        theta: &[f64],
        grad: &mut [f64],
    ) -> Result<f64, ModelError> {
        if let Some(exact) = &self.exact {
            return Ok(self.exact_eval(exact, theta, grad, None));
        }
        let mut model = self.model.lock().map_err(|_| poisoned())?;
        let params: Vec<f32> = theta.iter().map(|&t| t as f32).collect();
        model.set_params(&params)?;
        let n = self.data.len().max(1) as f64;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut value = 0.0;
        let mut part_grad = vec![0.0f32; self.dim];
        for &group in self.part.groups() {
            let indices = self.data.indices_of(group);
            if indices.is_empty() {
                continue;
            }
            let weight = indices.len() as f64 / n;
            let mean = mean_gradient(
                model.as_mut(),
                &self.data,
                &indices,
                self.chunk,
                &mut part_grad,
            )?;
            value += weight * mean;
            grad.iter_mut()
                .zip(&part_grad)
                .for_each(|(g, p)| *g += weight * *p as f64);
        }
        Ok(value)
    }

    /// The finite-difference step at `theta`: `ε_f32^{1/3} · max(1, rms θ)`.
    pub fn step(theta: &[f64]) -> f64 {
        let rms = (theta.iter().map(|t| t * t).sum::<f64>() / theta.len().max(1) as f64).sqrt();
        (f32::EPSILON as f64).cbrt() * rms.max(1.0)
    }

    fn difference(
        &self,
        theta: &[f64],
        v: &[f64],
        h: f64,
        out: &mut [f64],
    ) -> Result<(), ModelError> {
        let v_norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if v_norm == 0.0 {
            out.iter_mut().for_each(|o| *o = 0.0);
            return Ok(());
        }
        let shifted = |sign: f64| -> Vec<f64> {
            theta
                .iter()
                .zip(v)
                .map(|(t, x)| t + sign * h * x / v_norm)
                .collect()
        };
        let mut plus = vec![0.0; self.dim];
        let mut minus = vec![0.0; self.dim];
        self.try_value_and_gradient(&shifted(1.0), &mut plus)?;
        self.try_value_and_gradient(&shifted(-1.0), &mut minus)?;
        for ((o, p), m) in out.iter_mut().zip(&plus).zip(&minus) {
            *o = (p - m) / (2.0 * h) * v_norm;
        }
        Ok(())
    }

    /// `∇²L·v`: exact with [`NetworkObjective::with_exact_mlp`], otherwise a central difference
    /// of gradients (two gradients).
    pub fn try_hvp(&self, theta: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        if let Some(exact) = &self.exact {
            let mut grad = vec![0.0; self.dim];
            self.exact_eval(exact, theta, &mut grad, Some((v, out)));
            return Ok(());
        }
        self.difference(theta, v, Self::step(theta), out)
    }

    /// `∇²L·v` with the Richardson estimate of its truncation error (four gradients; exact
    /// products report error 0 and step 0).
    pub fn hvp_with_error(&self, theta: &[f64], v: &[f64]) -> Result<HvpEstimate, ModelError> {
        if self.exact.is_some() {
            let mut product = vec![0.0; self.dim];
            self.try_hvp(theta, v, &mut product)?;
            return Ok(HvpEstimate {
                product,
                error: 0.0,
                step: 0.0,
            });
        }
        let h = Self::step(theta);
        let mut fine = vec![0.0; self.dim];
        let mut coarse = vec![0.0; self.dim];
        self.difference(theta, v, h, &mut fine)?;
        self.difference(theta, v, 2.0 * h, &mut coarse)?;
        let error = fine
            .iter()
            .zip(&coarse)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
            / 3.0;
        Ok(HvpEstimate {
            product: fine,
            error,
            step: h,
        })
    }

    /// The model's current parameters.
    pub fn params(&self) -> Result<Vec<f64>, ModelError> {
        let model = self.model.lock().map_err(|_| poisoned())?;
        let mut p = vec![0.0f32; self.dim];
        model.get_params(&mut p)?;
        Ok(p.into_iter().map(f64::from).collect())
    }
}

fn poisoned() -> ModelError {
    ModelError::Other("the model's lock was poisoned by a panic in another thread".into())
}

/// The [`Objective`] view: an evaluation error (a failing plugin) is logged and gives NaN, which
/// every consumer treats as a failure; use the `try_` methods to get the error itself.
impl Objective for NetworkObjective {
    fn dim(&self) -> usize {
        self.dim
    }

    fn value(&self, theta: &[f64]) -> f64 {
        let mut grad = vec![0.0; self.dim];
        self.value_and_gradient(theta, &mut grad)
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        self.value_and_gradient(theta, grad);
    }

    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        self.try_value_and_gradient(theta, grad)
            .unwrap_or_else(|e| {
                tracing::error!("network objective: {e}");
                grad.iter_mut().for_each(|g| *g = f64::NAN);
                f64::NAN
            })
    }

    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        if let Err(e) = self.try_hvp(theta, v, out) {
            tracing::error!("network objective: {e}");
            out.iter_mut().for_each(|o| *o = f64::NAN);
        }
    }
}
