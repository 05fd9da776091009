//! Per-sample loss functions `ℓ(prediction, target)` with their derivatives in the prediction.
//!
//! | loss | prediction | target | value |
//! | --- | --- | --- | --- |
//! | [`Loss::SquaredError`] | `p ∈ R^k` | `y ∈ R` (k = 1) or a class index (one-hot, k > 1) | `½ ‖p − y‖²` |
//! | [`Loss::CrossEntropyWithLogits`] | logits `z ∈ R^k` | class index `c` | `logsumexp(z) − z_c` |
//! | [`Loss::Logistic`] | a logit `z ∈ R` | label `y ∈ {0, 1}` | `softplus(z) − y z` |

use serde::{Deserialize, Serialize};

/// A per-sample loss. `target` is a real value for a one-output squared error, and a class index
/// (or the label 0/1 for [`Loss::Logistic`]) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// `½ ‖p − y‖²` (regression; one-hot targets when the prediction has several outputs).
    SquaredError,
    /// Softmax cross-entropy on logits, computed stably.
    CrossEntropyWithLogits,
    /// Binary logistic loss on one logit: `log(1 + e^z) − y z`.
    Logistic,
}

impl Loss {
    fn target_vector(prediction: &[f64], target: f64, i: usize) -> f64 {
        if prediction.len() == 1 {
            target
        } else if i == target as usize {
            1.0
        } else {
            0.0
        }
    }

    /// The loss value.
    pub fn value(&self, prediction: &[f64], target: f64) -> f64 {
        match self {
            Loss::SquaredError => {
                0.5 * prediction
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p - Self::target_vector(prediction, target, i)).powi(2))
                    .sum::<f64>()
            }
            Loss::CrossEntropyWithLogits => log_sum_exp(prediction) - prediction[target as usize],
            Loss::Logistic => softplus(prediction[0]) - target * prediction[0],
        }
    }

    /// Writes `∂ℓ/∂prediction` into `out` (same length as `prediction`).
    pub fn derivative(&self, prediction: &[f64], target: f64, out: &mut [f64]) {
        match self {
            Loss::SquaredError => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = prediction[i] - Self::target_vector(prediction, target, i);
                }
            }
            Loss::CrossEntropyWithLogits => {
                softmax(prediction, out);
                out[target as usize] -= 1.0;
            }
            Loss::Logistic => out[0] = sigmoid(prediction[0]) - target,
        }
    }

    /// Writes the Hessian `∂²ℓ/∂prediction²` (row-major `k × k`) into `out`.
    pub fn second_derivative(&self, prediction: &[f64], _target: f64, out: &mut [f64]) {
        let k = prediction.len();
        out.iter_mut().for_each(|o| *o = 0.0);
        match self {
            Loss::SquaredError => (0..k).for_each(|i| out[i * k + i] = 1.0),
            Loss::CrossEntropyWithLogits => {
                let mut p = vec![0.0; k];
                softmax(prediction, &mut p);
                for i in 0..k {
                    for j in 0..k {
                        out[i * k + j] = if i == j { p[i] } else { 0.0 } - p[i] * p[j];
                    }
                }
            }
            Loss::Logistic => {
                let s = sigmoid(prediction[0]);
                out[0] = s * (1.0 - s);
            }
        }
    }
}

/// `log Σ exp(z_i)`, stable for large logits.
pub fn log_sum_exp(z: &[f64]) -> f64 {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Softmax of `z` into `out`.
pub fn softmax(z: &[f64], out: &mut [f64]) {
    let lse = log_sum_exp(z);
    out.iter_mut()
        .zip(z)
        .for_each(|(o, x)| *o = (x - lse).exp());
}

/// `1 / (1 + e^{−x})`, stable for both signs.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^x)`, stable for both signs.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_derivatives(loss: Loss, prediction: &[f64], target: f64) {
        let k = prediction.len();
        let mut d = vec![0.0; k];
        loss.derivative(prediction, target, &mut d);
        let mut h = vec![0.0; k * k];
        loss.second_derivative(prediction, target, &mut h);
        let eps = 1e-6;
        for i in 0..k {
            let mut p = prediction.to_vec();
            p[i] += eps;
            let (vp, mut dp) = (loss.value(&p, target), vec![0.0; k]);
            loss.derivative(&p, target, &mut dp);
            p[i] -= 2.0 * eps;
            let (vm, mut dm) = (loss.value(&p, target), vec![0.0; k]);
            loss.derivative(&p, target, &mut dm);
            let fd = (vp - vm) / (2.0 * eps);
            assert!(
                (fd - d[i]).abs() < 1e-7,
                "{loss:?} d/dp{i}: {fd} vs {}",
                d[i]
            );
            for j in 0..k {
                let fd2 = (dp[j] - dm[j]) / (2.0 * eps);
                assert!(
                    (fd2 - h[j * k + i]).abs() < 1e-7,
                    "{loss:?} H[{j},{i}]: {fd2} vs {}",
                    h[j * k + i]
                );
            }
        }
    }

    #[test]
    fn values_match_closed_forms() {
        assert!((Loss::SquaredError.value(&[3.0], 1.0) - 2.0).abs() < 1e-15);
        // one-hot: ½ ((0.5)² + (0.5 − 1)² + 0²) = 0.25
        assert!((Loss::SquaredError.value(&[0.5, 0.5, 0.0], 1.0) - 0.25).abs() < 1e-15);
        // uniform logits over 4 classes: ln 4
        assert!((Loss::CrossEntropyWithLogits.value(&[1.0; 4], 2.0) - 4f64.ln()).abs() < 1e-15);
        assert!((Loss::Logistic.value(&[0.0], 1.0) - 2f64.ln()).abs() < 1e-15);
        assert!((Loss::Logistic.value(&[2.0], 0.0) - (1.0 + 2f64.exp()).ln()).abs() < 1e-12);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives(Loss::SquaredError, &[0.3], -1.2);
        check_derivatives(Loss::SquaredError, &[0.3, -0.7, 1.1], 2.0);
        check_derivatives(Loss::CrossEntropyWithLogits, &[0.2, -1.5, 3.0, 0.0], 1.0);
        check_derivatives(Loss::Logistic, &[-0.8], 1.0);
        check_derivatives(Loss::Logistic, &[1.7], 0.0);
    }

    #[test]
    fn cross_entropy_is_stable_for_large_logits() {
        let v = Loss::CrossEntropyWithLogits.value(&[1000.0, 0.0], 1.0);
        assert!((v - 1000.0).abs() < 1e-9);
        assert!(softplus(800.0).is_finite() && (softplus(-800.0)).abs() < 1e-300);
    }
}
