//! Dynamics on flat parameter vectors: gradient-flow integrators with zone events, optimisers
//! and the training loop (docs/definitions.md, docs/architecture.md).
//!
//! The integrators ([`ode`]) solve `dθ/dt = −∇L(θ)` for any majmin-core
//! [`Objective`](majmin_core::Objective) — adaptive Dormand–Prince 5(4) with dense output
//! (Dormand & Prince 1980; Hairer, Nørsett & Wanner 1993), classical RK4, and explicit Euler,
//! which *is* gradient descent with step η — and locate sign changes of event functions, in
//! particular of `⟨∇L, ∇L1⟩`: the times the flow leaves or re-enters the majority-training zone.
//! The primary entry point is [`ode::integrate`] with an [`ode::IntegratorConfig`] (serde, so a
//! `[flow]` TOML table maps onto it) returning an [`ode::Trajectory`]. Integrators take any
//! [`ode::OdeSystem`] (generic, so the right-hand side inlines: millions of evaluations per
//! second on small problems); `&dyn Objective` works too.
//!
//! ```
//! use majmin_core::objective::FnObjective;
//! use majmin_flow::ode::{integrate, GradientFlow, IntegratorConfig};
//!
//! // L(θ) = θ²/2: θ(t) = e^{−t} θ0.
//! let loss = FnObjective::new(1, |x: &[f64]| 0.5 * x[0] * x[0], |x: &[f64], g: &mut [f64]| g[0] = x[0]);
//! let config = IntegratorConfig { t_end: 3.0, rtol: 1e-10, atol: 1e-12, ..Default::default() };
//! let trajectory = integrate(&GradientFlow(&loss), &[2.0], &config, &[]).unwrap();
//! assert!((trajectory.final_state[0] - 2.0 * (-3.0f64).exp()).abs() < 1e-9);
//! ```
#![deny(missing_docs)]

pub mod mlp;
pub mod network;
pub mod ode;
pub mod optim;
pub mod train;
