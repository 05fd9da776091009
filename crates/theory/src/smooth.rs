//! Objectives with exact derivatives up to order three: what the constants (δ, M, τ), the
//! critical points and the zone checks evaluate.
//!
//! [`SmoothObjective`] extends majmin-core's [`Objective`] with the third-derivative tensor (for
//! the Hessian Lipschitz constant M). Two implementations: [`FormulaObjective`] (a formula of
//! docs/problems.md, differentiated exactly with dual numbers — reverse mode for gradients, hyper-dual
//! numbers for Hessians, hyper-hyper-dual numbers for third derivatives) and [`LinearModelPart`]
//! (one group's part of a linear or logistic regression loss, in closed form).

use std::cell::RefCell;
use std::sync::Arc;

use majmin_core::objective::dense_hessian;
use majmin_core::Objective;
use num_dual::{Dual64, HyperDual64, HyperHyperDual64};

use crate::expr::{Formula, Scratch};

/// A smooth objective with an exact Hessian and third derivative.
pub trait SmoothObjective: Objective + Send + Sync {
    /// The exact Hessian, row-major `d × d`.
    fn hessian_matrix(&self, theta: &[f64]) -> Vec<f64> {
        dense_hessian(self, theta)
    }

    /// The symmetric third-derivative tensor `∂³f / ∂θi ∂θj ∂θk`, row-major `d × d × d`.
    fn third_derivative(&self, theta: &[f64]) -> Vec<f64>;
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A formula of docs/problems.md as an objective with exact derivatives.
#[derive(Debug, Clone)]
pub struct FormulaObjective {
    formula: Formula,
}

impl FormulaObjective {
    /// Wraps a compiled formula.
    pub fn new(formula: Formula) -> Self {
        Self { formula }
    }

    /// The formula.
    pub fn formula(&self) -> &Formula {
        &self.formula
    }
}

impl Objective for FormulaObjective {
    fn dim(&self) -> usize {
        self.formula.dim()
    }
    fn value(&self, theta: &[f64]) -> f64 {
        self.formula.eval(theta)
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        // the gradient-only tape: the gradient flow's right-hand side
        self.formula.gradient(theta, grad);
    }
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        SCRATCH.with(|s| {
            self.formula
                .value_and_gradient(theta, grad, &mut s.borrow_mut())
        })
    }
    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        // forward-over-reverse would be cheaper; a directional hyper-dual per row is exact.
        let d = self.dim();
        for (i, o) in out.iter_mut().enumerate() {
            let x: Vec<HyperDual64> = (0..d)
                .map(|k| HyperDual64::new(theta[k], if k == i { 1.0 } else { 0.0 }, v[k], 0.0))
                .collect();
            *o = self.formula.eval(&x).eps1eps2;
        }
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let d = self.dim();
        let mut h = vec![0.0; d * d];
        let mut x: Vec<HyperDual64> = theta.iter().map(|&t| HyperDual64::from_re(t)).collect();
        for i in 0..d {
            for j in i..d {
                x[i].eps1 = 1.0;
                x[j].eps2 = 1.0;
                let v = self.formula.eval(&x).eps1eps2;
                h[i * d + j] = v;
                h[j * d + i] = v;
                x[i].eps1 = 0.0;
                x[j].eps2 = 0.0;
            }
        }
        Some(h)
    }
}

impl SmoothObjective for FormulaObjective {
    fn hessian_matrix(&self, theta: &[f64]) -> Vec<f64> {
        self.hessian(theta).expect("formula Hessians are exact")
    }

    fn third_derivative(&self, theta: &[f64]) -> Vec<f64> {
        let d = self.dim();
        let mut t = vec![0.0; d * d * d];
        let mut x: Vec<HyperHyperDual64> = theta
            .iter()
            .map(|&v| HyperHyperDual64::new(v, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
            .collect();
        for i in 0..d {
            for j in i..d {
                for k in j..d {
                    x[i].eps1 = 1.0;
                    x[j].eps2 = 1.0;
                    x[k].eps3 = 1.0;
                    let v = self.formula.eval(&x).eps1eps2eps3;
                    x[i].eps1 = 0.0;
                    x[j].eps2 = 0.0;
                    x[k].eps3 = 0.0;
                    for (a, b, c) in [
                        (i, j, k),
                        (i, k, j),
                        (j, i, k),
                        (j, k, i),
                        (k, i, j),
                        (k, j, i),
                    ] {
                        t[(a * d + b) * d + c] = v;
                    }
                }
            }
        }
        t
    }
}

/// Forward-mode gradient with one dual pass per coordinate (an independent check of the
/// reverse sweep, used in tests).
pub fn forward_gradient(formula: &Formula, theta: &[f64]) -> Vec<f64> {
    let d = theta.len();
    (0..d)
        .map(|i| {
            let x: Vec<Dual64> = (0..d)
                .map(|k| Dual64::new(theta[k], if k == i { 1.0 } else { 0.0 }))
                .collect();
            formula.eval(&x).eps
        })
        .collect()
}

/// Which loss a [`LinearModelPart`] uses on the prediction `z = θ · x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearLoss {
    /// `½ (z − y)²` (linear regression).
    Squared,
    /// `softplus(z) − y z` with `y ∈ {0, 1}` (logistic regression).
    Logistic,
}

impl LinearLoss {
    /// Value and the first three derivatives in `z`.
    fn derivatives(self, z: f64, y: f64) -> [f64; 4] {
        match self {
            LinearLoss::Squared => [0.5 * (z - y) * (z - y), z - y, 1.0, 0.0],
            LinearLoss::Logistic => {
                let s = majmin_core::loss::sigmoid(z);
                let s1 = s * (1.0 - s);
                [
                    majmin_core::loss::softplus(z) - y * z,
                    s - y,
                    s1,
                    s1 * (1.0 - 2.0 * s),
                ]
            }
        }
    }
}

/// One group's part of a linear-predictor loss: `(1/n) Σ_{i ∈ group} ℓ(θ · x_i, y_i)` with `n`
/// the total sample count of both groups (docs/definitions.md), in closed form up to third derivatives.
#[derive(Debug, Clone)]
pub struct LinearModelPart {
    dim: usize,
    features: Vec<f64>,
    targets: Vec<f64>,
    total: usize,
    loss: LinearLoss,
    /// Squared error only: `(G, b, c)` with `L = ½ θᵀGθ − bᵀθ + c` (exact, O(d²) per call).
    quadratic: Option<(Vec<f64>, Vec<f64>, f64)>,
}

impl LinearModelPart {
    /// A part from the group's feature rows (`targets.len()` rows of `dim` values) and the total
    /// count `n` of both groups.
    pub fn new(
        dim: usize,
        features: Vec<f64>,
        targets: Vec<f64>,
        total: usize,
        loss: LinearLoss,
    ) -> Self {
        assert_eq!(
            features.len(),
            dim * targets.len(),
            "feature rows of length dim"
        );
        let mut part = Self {
            dim,
            features,
            targets,
            total,
            loss,
            quadratic: None,
        };
        if loss == LinearLoss::Squared {
            let inv = 1.0 / total as f64;
            let (mut g, mut b, mut c) = (vec![0.0; dim * dim], vec![0.0; dim], 0.0);
            for (x, y) in part.rows() {
                for i in 0..dim {
                    b[i] += inv * y * x[i];
                    for j in 0..dim {
                        g[i * dim + j] += inv * x[i] * x[j];
                    }
                }
                c += inv * 0.5 * y * y;
            }
            part.quadratic = Some((g, b, c));
        }
        part
    }

    /// Samples in this group.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the group is empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    fn rows(&self) -> impl Iterator<Item = (&[f64], f64)> {
        self.features
            .chunks_exact(self.dim.max(1))
            .zip(self.targets.iter().copied())
    }

    fn derivs(&self, theta: &[f64], x: &[f64], y: f64) -> [f64; 4] {
        let z: f64 = x.iter().zip(theta).map(|(a, b)| a * b).sum();
        self.loss.derivatives(z, y)
    }
}

impl Objective for LinearModelPart {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, theta: &[f64]) -> f64 {
        if self.quadratic.is_some() {
            let mut g = vec![0.0; self.dim];
            return self.value_and_gradient(theta, &mut g);
        }
        self.rows()
            .map(|(x, y)| self.derivs(theta, x, y)[0])
            .sum::<f64>()
            / self.total as f64
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        if self.loss == LinearLoss::Logistic {
            // only ℓ' = σ(z) − y is needed: no softplus
            grad.iter_mut().for_each(|g| *g = 0.0);
            for (x, y) in self.rows() {
                let z: f64 = x.iter().zip(theta).map(|(a, b)| a * b).sum();
                let d1 = majmin_core::loss::sigmoid(z) - y;
                grad.iter_mut().zip(x).for_each(|(g, xi)| *g += d1 * xi);
            }
            let inv = 1.0 / self.total as f64;
            grad.iter_mut().for_each(|g| *g *= inv);
            return;
        }
        self.value_and_gradient(theta, grad);
    }
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        if let Some((g, b, c)) = &self.quadratic {
            let d = self.dim;
            let mut value = *c;
            for i in 0..d {
                let gi: f64 = (0..d).map(|j| g[i * d + j] * theta[j]).sum();
                grad[i] = gi - b[i];
                value += 0.5 * gi * theta[i] - b[i] * theta[i];
            }
            return value;
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut value = 0.0;
        for (x, y) in self.rows() {
            let [v, d1, _, _] = self.derivs(theta, x, y);
            value += v;
            grad.iter_mut().zip(x).for_each(|(g, xi)| *g += d1 * xi);
        }
        let inv = 1.0 / self.total as f64;
        grad.iter_mut().for_each(|g| *g *= inv);
        value * inv
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        if let Some((g, _, _)) = &self.quadratic {
            return Some(g.clone());
        }
        let d = self.dim;
        let mut h = vec![0.0; d * d];
        for (x, y) in self.rows() {
            let d2 = self.derivs(theta, x, y)[2];
            for i in 0..d {
                for j in 0..d {
                    h[i * d + j] += d2 * x[i] * x[j];
                }
            }
        }
        let inv = 1.0 / self.total as f64;
        h.iter_mut().for_each(|v| *v *= inv);
        Some(h)
    }
}

impl SmoothObjective for LinearModelPart {
    fn hessian_matrix(&self, theta: &[f64]) -> Vec<f64> {
        self.hessian(theta).expect("closed form")
    }
    fn third_derivative(&self, theta: &[f64]) -> Vec<f64> {
        let d = self.dim;
        let mut t = vec![0.0; d * d * d];
        if self.loss == LinearLoss::Squared {
            return t;
        }
        for (x, y) in self.rows() {
            let d3 = self.derivs(theta, x, y)[3];
            for i in 0..d {
                for j in 0..d {
                    for k in 0..d {
                        t[(i * d + j) * d + k] += d3 * x[i] * x[j] * x[k];
                    }
                }
            }
        }
        let inv = 1.0 / self.total as f64;
        t.iter_mut().for_each(|v| *v *= inv);
        t
    }
}

/// `L = L1 + L0` of two smooth parts.
#[derive(Clone)]
pub struct TotalLoss {
    /// `L1`.
    pub majority: Arc<dyn SmoothObjective>,
    /// `L0`.
    pub minority: Arc<dyn SmoothObjective>,
}

impl std::fmt::Debug for TotalLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotalLoss")
            .field("dim", &self.majority.dim())
            .finish_non_exhaustive()
    }
}

impl Objective for TotalLoss {
    fn dim(&self) -> usize {
        self.majority.dim()
    }
    fn value(&self, theta: &[f64]) -> f64 {
        self.majority.value(theta) + self.minority.value(theta)
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        let d = grad.len();
        let mut other = [0.0; 8];
        let mut heap;
        let other: &mut [f64] = if d <= 8 {
            &mut other[..d]
        } else {
            heap = vec![0.0; d];
            &mut heap
        };
        self.majority.gradient(theta, grad);
        self.minority.gradient(theta, other);
        grad.iter_mut().zip(other.iter()).for_each(|(g, o)| *g += o);
    }
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let d = grad.len();
        let mut other = [0.0; 8];
        let mut heap;
        let other: &mut [f64] = if d <= 8 {
            &mut other[..d]
        } else {
            heap = vec![0.0; d];
            &mut heap
        };
        let a = self.majority.value_and_gradient(theta, grad);
        let b = self.minority.value_and_gradient(theta, other);
        grad.iter_mut().zip(other.iter()).for_each(|(g, o)| *g += o);
        a + b
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        Some(self.hessian_matrix(theta))
    }
}

impl SmoothObjective for TotalLoss {
    fn hessian_matrix(&self, theta: &[f64]) -> Vec<f64> {
        let mut h = self.majority.hessian_matrix(theta);
        h.iter_mut()
            .zip(self.minority.hessian_matrix(theta))
            .for_each(|(a, b)| *a += b);
        h
    }
    fn third_derivative(&self, theta: &[f64]) -> Vec<f64> {
        let mut t = self.majority.third_derivative(theta);
        t.iter_mut()
            .zip(self.minority.third_derivative(theta))
            .for_each(|(a, b)| *a += b);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;

    #[test]
    fn formula_hessian_and_third_derivative_match_closed_forms() {
        let vars = vec!["x".to_string(), "y".to_string()];
        // f = x^4 + x y^2 + exp(y): H = [[12x², 2y], [2y, 2x + e^y]], f_xxx = 24x, f_xyy = 2, f_yyy = e^y
        let f = FormulaObjective::new(parse("x^4 + x*y^2 + exp(y)", &vars).unwrap());
        let (x, y) = (0.6, -0.4);
        let h = f.hessian_matrix(&[x, y]);
        let exact = [12.0 * x * x, 2.0 * y, 2.0 * y, 2.0 * x + y.exp()];
        for k in 0..4 {
            assert!((h[k] - exact[k]).abs() < 1e-12, "{h:?} vs {exact:?}");
        }
        let t = f.third_derivative(&[x, y]);
        let at = |i: usize, j: usize, k: usize| t[(i * 2 + j) * 2 + k];
        assert!((at(0, 0, 0) - 24.0 * x).abs() < 1e-12);
        assert!(at(0, 0, 1).abs() < 1e-12 && at(1, 0, 0).abs() < 1e-12);
        assert!(
            (at(0, 1, 1) - 2.0).abs() < 1e-12
                && (at(1, 0, 1) - 2.0).abs() < 1e-12
                && (at(1, 1, 0) - 2.0).abs() < 1e-12
        );
        assert!((at(1, 1, 1) - y.exp()).abs() < 1e-12);
        let mut hv = [0.0; 2];
        f.hessian_vector_product(&[x, y], &[1.0, 2.0], &mut hv);
        assert!(
            (hv[0] - (exact[0] + 2.0 * exact[1])).abs() < 1e-12
                && (hv[1] - (exact[2] + 2.0 * exact[3])).abs() < 1e-12
        );
        let g = forward_gradient(f.formula(), &[x, y]);
        let mut gr = [0.0; 2];
        f.gradient(&[x, y], &mut gr);
        assert!((g[0] - gr[0]).abs() < 1e-14 && (g[1] - gr[1]).abs() < 1e-14);
        assert!((g[0] - (4.0 * x.powi(3) + y * y)).abs() < 1e-13);
    }

    #[test]
    fn squared_part_closed_form_matches_the_sum() {
        let features = vec![1.0, 0.5, -0.3, 1.0, 2.0, -1.0];
        let targets = vec![1.0, 0.0, 2.5];
        let part =
            LinearModelPart::new(2, features.clone(), targets.clone(), 4, LinearLoss::Squared);
        let theta = [0.4, -0.7];
        let mut g = [0.0; 2];
        let v = part.value_and_gradient(&theta, &mut g);
        let (mut v_sum, mut g_sum) = (0.0, [0.0; 2]);
        for (x, y) in features.chunks(2).zip(&targets) {
            let r = x[0] * theta[0] + x[1] * theta[1] - y;
            v_sum += 0.5 * r * r / 4.0;
            g_sum[0] += r * x[0] / 4.0;
            g_sum[1] += r * x[1] / 4.0;
        }
        assert!(
            (v - v_sum).abs() < 1e-14
                && (g[0] - g_sum[0]).abs() < 1e-14
                && (g[1] - g_sum[1]).abs() < 1e-14
        );
        assert!((part.value(&theta) - v_sum).abs() < 1e-14);
    }

    #[test]
    fn logistic_part_matches_finite_differences() {
        let features = vec![1.0, 0.5, -0.3, 1.0, 2.0, -1.0];
        let part = LinearModelPart::new(2, features, vec![1.0, 0.0, 1.0], 5, LinearLoss::Logistic);
        let theta = [0.4, -0.7];
        let eps = 1e-5;
        let h = part.hessian_matrix(&theta);
        let t = part.third_derivative(&theta);
        for i in 0..2 {
            let mut p = theta;
            p[i] += eps;
            let hp = part.hessian_matrix(&p);
            let mut m = theta;
            m[i] -= eps;
            let hm = part.hessian_matrix(&m);
            let (mut gp, mut gm) = ([0.0; 2], [0.0; 2]);
            part.gradient(&p, &mut gp);
            part.gradient(&m, &mut gm);
            for j in 0..2 {
                assert!(((gp[j] - gm[j]) / (2.0 * eps) - h[j * 2 + i]).abs() < 1e-8);
                for k in 0..2 {
                    let fd = (hp[j * 2 + k] - hm[j * 2 + k]) / (2.0 * eps);
                    assert!((fd - t[(i * 2 + j) * 2 + k]).abs() < 1e-8);
                }
            }
        }
    }
}
