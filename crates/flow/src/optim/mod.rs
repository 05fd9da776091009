//! Optimisers on flat `f32` parameters and learning-rate schedules.
//!
//! [`Sgd`] is stochastic gradient descent with heavy-ball momentum and L2 weight decay
//! added to the gradient, in the form PyTorch's `torch.optim.SGD` uses, so that settings
//! carry over from published experiments:
//!
//! ```text
//! g ← ∇ + λ θ            (weight decay λ)
//! v ← μ v + g            (momentum μ; v = g at the first step)
//! θ ← θ − η v            (learning rate η)
//! ```
//!
//! With μ = λ = 0 and full batches this is plain gradient descent, the explicit Euler
//! discretisation of gradient flow dθ/dt = −∇L(θ) with step η (docs/definitions.md).
//! Reference: Polyak, "Some methods of speeding up the convergence of iteration methods" (1964);
//! Sutskever et al., "On the importance of initialization and momentum in deep learning" (2013).
//!
//! ```
//! use majmin_flow::optim::{Sgd, SgdConfig};
//!
//! let mut sgd = Sgd::new(SgdConfig { momentum: 0.0, weight_decay: 0.0 }, 1);
//! let mut theta = [1.0f32];
//! // minimise θ²/2: the gradient is θ
//! for _ in 0..100 {
//!     let grad = [theta[0]];
//!     sgd.step(&mut theta, &grad, 0.1);
//! }
//! assert!(theta[0].abs() < 1e-4);
//! ```

mod schedule;

pub use schedule::{LrSchedule, ScheduleParseError};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters per parallel block of [`Sgd::step`] (and the size below which it stays on the
/// calling thread).
const PARALLEL_BLOCK: usize = 1 << 16;

/// Momentum and weight decay of [`Sgd`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Heavy-ball momentum μ ∈ [0, 1) (0: none).
    pub momentum: f64,
    /// L2 weight decay λ ≥ 0 added to the gradient (0: none).
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 5e-4,
        }
    }
}

/// Stochastic gradient descent with momentum and weight decay (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Sgd {
    config: SgdConfig,
    velocity: Vec<f32>,
    started: bool,
}

impl Sgd {
    /// An optimiser for `num_params` parameters, with zero velocity.
    pub fn new(config: SgdConfig, num_params: usize) -> Self {
        Self {
            config,
            velocity: vec![0.0; num_params],
            started: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> SgdConfig {
        self.config
    }

    /// One update of `params` from `grad` with learning rate `lr`.
    ///
    /// # Panics
    /// When `params`, `grad` and the optimiser's size differ (a programming error).
    pub fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f64) {
        assert_eq!(
            params.len(),
            grad.len(),
            "parameters and gradient differ in length"
        );
        assert_eq!(
            params.len(),
            self.velocity.len(),
            "optimiser built for another parameter count"
        );
        let (mu, wd, lr) = (
            self.config.momentum as f32,
            self.config.weight_decay as f32,
            lr as f32,
        );
        // Element-wise, so blocks of parameters update in parallel with the same bits as one
        // loop; small models stay on the calling thread.
        let parallel = params.len() >= PARALLEL_BLOCK;
        if mu == 0.0 {
            let plain = |(p, g): (&mut [f32], &[f32])| {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p -= lr * (g + wd * *p);
                }
            };
            if parallel {
                params
                    .par_chunks_mut(PARALLEL_BLOCK)
                    .zip(grad.par_chunks(PARALLEL_BLOCK))
                    .for_each(plain);
            } else {
                plain((params, grad));
            }
            return;
        }
        let first = !self.started;
        self.started = true;
        // Two loops rather than a test of `first` per value: each vectorises.
        let momentum = |((p, g), v): ((&mut [f32], &[f32]), &mut [f32])| {
            let values = p.iter_mut().zip(g).zip(v.iter_mut());
            if first {
                for ((p, &g), v) in values {
                    *v = g + wd * *p;
                    *p -= lr * *v;
                }
            } else {
                for ((p, &g), v) in values {
                    *v = mu * *v + (g + wd * *p);
                    *p -= lr * *v;
                }
            }
        };
        if parallel {
            params
                .par_chunks_mut(PARALLEL_BLOCK)
                .zip(grad.par_chunks(PARALLEL_BLOCK))
                .zip(self.velocity.par_chunks_mut(PARALLEL_BLOCK))
                .for_each(momentum);
        } else {
            momentum(((params, grad), &mut self.velocity));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks updated in parallel give the bits of one sequential loop (the update is
    /// element-wise), with and without momentum, on more parameters than one block.
    #[test]
    fn parallel_blocks_match_the_sequential_update() {
        let n = 3 * PARALLEL_BLOCK + 17;
        let grad: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        for momentum in [0.0, 0.9] {
            let config = SgdConfig {
                momentum,
                weight_decay: 0.01,
            };
            let mut params: Vec<f32> = (0..n).map(|i| (i % 13) as f32 / 3.0).collect();
            let (mut expected, mut velocity) = (params.clone(), vec![0.0f32; n]);
            let mut sgd = Sgd::new(config, n);
            for step in 0..3 {
                sgd.step(&mut params, &grad, 0.05);
                for ((p, &g), v) in expected.iter_mut().zip(&grad).zip(&mut velocity) {
                    let d = g + 0.01f32 * *p;
                    *v = if step == 0 || momentum == 0.0 {
                        d
                    } else {
                        0.9f32 * *v + d
                    };
                    *p -= 0.05f32 * *v;
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&params), bits(&expected), "momentum {momentum}");
        }
    }

    #[test]
    fn plain_step_is_gradient_descent() {
        let mut sgd = Sgd::new(
            SgdConfig {
                momentum: 0.0,
                weight_decay: 0.0,
            },
            2,
        );
        let mut p = [1.0f32, -2.0];
        sgd.step(&mut p, &[0.5, 1.0], 0.1);
        assert_eq!(p, [0.95, -2.1]);
    }

    #[test]
    fn momentum_and_weight_decay_follow_pytorch() {
        // PyTorch: d = g + λp; v = d (first), then v = μv + d; p -= ηv
        let mut sgd = Sgd::new(
            SgdConfig {
                momentum: 0.5,
                weight_decay: 0.1,
            },
            1,
        );
        let mut p = [1.0f32];
        sgd.step(&mut p, &[1.0], 0.1); // d = 1.1, v = 1.1, p = 0.89
        assert!((p[0] - 0.89).abs() < 1e-6);
        sgd.step(&mut p, &[1.0], 0.1); // d = 1.089, v = 0.55 + 1.089 = 1.639, p = 0.7261
        assert!((p[0] - 0.7261).abs() < 1e-6, "{}", p[0]);
    }
}
