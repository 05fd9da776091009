//! Perturbation theory of the majority–minority model, made checkable on any problem written as
//! formulas or built from data.
//!
//! Given a majority part `L1`, a minority part `L0` and a box `K` (a [`Problem`]), [`check()`]
//! estimates the constants δ, c, M, τ of docs/definitions.md ([`constants`]), decides the assumptions
//! (A1)–(A4), finds the critical points of `L1` and of `L = L1 + L0` in K by multi-start Newton
//! ([`critical`]), pairs them against the bound 4τ/δ of **Theorem 1** of the poster (critical
//! points are close) and samples the adversarial zone `{⟨∇L, ∇L1⟩ ≤ 0}` against the balls of
//! radius 2τ/δ of **Theorem 2** (the majority-training zone is large). The result is a
//! [`TheoryReport`] with a [`Verdict`]: `holds`, `assumptions-fail` or `violated`.
//!
//! Problems are TOML files of formulas ([`ProblemConfig`], the language in [`expr`]) or
//! data-driven linear and logistic regressions; [`BUILTINS`] lists the named ones. Derivatives
//! are exact, never finite differences: formulas are compiled once to a postfix program evaluated
//! over `f64` with a reverse sweep (gradients), over hyper-dual numbers (Hessians) and over
//! hyper-hyper-dual numbers (third derivatives, for M) from the num-dual crate — one compiled
//! form gives every order, which is the design reason for the [`SmoothObjective`] trait on top
//! of majmin-core's `Objective`. The constants are *estimates* (dense sampling plus local
//! refinement), and the report says so and how many points were used.
//!
//! Networks have too many parameters for boxes and whole Hessians: for them (and any
//! [`Objective`](majmin_core::Objective)) [`region`] estimates the constants on a ball or a segment
//! of parameter space from gradients and Hessian-vector products ([`check_region`]), and
//! [`critical_pair`](critical_pair()) runs Theorem 1's experiment — gradient descent on `L1` to
//! θ̂1, then on `L` to θ̂, their distance against 4τ/δ — with Theorem 2's zone probes along the
//! way and the plane of the poster's figure ([`plane_section`]).
//!
//! ```
//! use majmin_theory::{builtin, check, CheckConfig, Verdict};
//!
//! let problem = builtin("cosine-grid").unwrap().build(None).unwrap();
//! let report = check(&problem, &CheckConfig::coarse()).unwrap();
//! assert_eq!(report.verdict, Verdict::Holds);
//! assert_eq!(report.critical_points.majority.len(), 4); // a maximum, two saddles, a minimum
//! assert!(report.theorem1.bijection);
//! ```
#![deny(missing_docs)]

pub mod check;
pub mod constants;
pub mod critical;
pub mod critical_pair;
pub mod error;
pub mod expr;
pub mod linalg;
pub mod problem;
pub mod region;
pub mod smooth;
pub mod spectrum;
pub mod tape;

pub use check::{check, zone_grid_2d, CheckConfig, TheoryReport, Verdict};
pub use critical::{CriticalKind, CriticalPoint};
pub use critical_pair::{
    critical_pair, gradient_descent, plane_section, CriticalPairConfig, CriticalPairReport,
    DescentConfig, Parts, PlaneConfig, PlaneSection,
};
pub use error::{CheckError, ProblemError};
pub use problem::{builtin, Domain, Problem, ProblemConfig, ProblemKind, BUILTINS};
pub use region::{
    assess, check_region, estimate_region_constants, Region, RegionConfig, RegionError,
    RegionEstimates, RegionReport, RegionVerdict,
};
pub use smooth::{FormulaObjective, LinearModelPart, SmoothObjective, TotalLoss};
