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
//! Limitation: for a smooth loss (softmax regression, smooth activations) these products match the
//! exact Hessian to about 1e-3 relative (tests/tests/network_objective.rs). For a ReLU network
//! the gradient jumps where a unit's pre-activation crosses 0 between `θ − h v̂` and `θ + h v̂`; the
//! difference then measures the Hessian of a smoothed loss, and products along random directions
//! are symmetric only to about 1 % of `‖Hv‖‖u‖`. Spectra report explicit residuals, which show
//! it. Exact products (forward-over-reverse, Pearlmutter 1994) are the planned replacement.

use std::sync::Mutex;

use majmin_core::{Dataset, Group, Model, ModelError, Objective};

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
        }
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

    /// `∇²L·v` by a central difference of gradients (two gradients).
    pub fn try_hvp(&self, theta: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        self.difference(theta, v, Self::step(theta), out)
    }

    /// `∇²L·v` with the Richardson estimate of its truncation error (four gradients).
    pub fn hvp_with_error(&self, theta: &[f64], v: &[f64]) -> Result<HvpEstimate, ModelError> {
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
