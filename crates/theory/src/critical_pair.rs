//! **Theorem 1** of the poster on any objective, networks included: the critical point `θ̂1`
//! reached by training on the majority alone and the critical point `θ̂` reached from it on the
//! whole loss are at most `4τ/δ` apart when (A1)–(A4) hold on a region holding both.
//!
//! [`critical_pair`] runs full-batch gradient descent on `L1` until `‖∇L1‖ ≤ tol` (giving `θ̂1`),
//! then from `θ̂1` on `L = L1 + L0` until `‖∇L‖ ≤ tol` (giving `θ̂`), each within a step budget;
//! it estimates the constants on the ball `B(θ̂1, R)` holding both points
//! ([`crate::region`]), and compares `‖θ̂1 − θ̂‖` with `4τ/δ`. If a descent stops short of its
//! tolerance the report says what was reached and the verdict is `inconclusive` (unless an
//! assumption fails, which decides the verdict first).
//!
//! Along both descents it records zone probes (`⟨∇L, ∇L1⟩`, `‖∇L1‖`, `‖∇L0‖`) with the
//! distance to `θ̂1`: the adversarial points among them (`⟨∇L, ∇L1⟩ ≤ 0`) must lie within
//! `2τ/δ` of a critical point of `L1` by **Theorem 2**, and `θ̂1` is one (the distance to it is an
//! upper bound of the distance to the nearest). [`plane_section`] evaluates `L` and the zone on
//! the plane through `θ̂1`, `θ̂` and the top eigenvector of `∇²L1(θ̂1)`, for the poster's figure.
//!
//! Descent steps use Armijo backtracking (Armijo 1966; Nocedal & Wright, *Numerical
//! Optimization*, §3.1): the step halves until `L(θ − ηg) ≤ L(θ) − 10⁻⁴ η ‖g‖²` and grows by 1.5
//! after each accepted step, so no learning rate needs tuning and the loss never increases.

use majmin_core::objective::{dot, norm};
use majmin_core::Objective;
use serde::Serialize;

use crate::check::{Assumptions, Constants};
use crate::region::{
    assess, distance, estimate_region_constants, top_eigenvector, Region, RegionConfig,
    RegionError, RegionEstimates, RegionVerdict,
};
use crate::spectrum::FnOperator;

/// The three parts of a loss: `L1`, `L0` and `L = L1 + L0` (a network evaluates `L` in one
/// pass, so it is given rather than summed here).
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    /// `L1`.
    pub majority: &'a dyn Objective,
    /// `L0`.
    pub minority: &'a dyn Objective,
    /// `L = L1 + L0`.
    pub total: &'a dyn Objective,
}

/// Settings of a gradient descent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DescentConfig {
    /// Stop when `‖∇f‖ ≤ tol` (default 1e-3).
    pub tol: f64,
    /// The step budget (accepted steps; default 2000).
    pub max_steps: usize,
    /// The first trial step η (default 1).
    pub initial_step: f64,
}

impl Default for DescentConfig {
    fn default() -> Self {
        Self {
            tol: 1e-3,
            max_steps: 2000,
            initial_step: 1.0,
        }
    }
}

impl DescentConfig {
    /// Refuses a tolerance or a budget that cannot be used.
    pub fn validate(&self) -> Result<(), RegionError> {
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(RegionError::Invalid(format!(
                "the gradient tolerance is {}; expected a finite number > 0 such as 1e-3",
                self.tol
            )));
        }
        if self.max_steps == 0 {
            return Err(RegionError::Invalid(
                "the step budget is 0; expected at least 1 step".into(),
            ));
        }
        if !(self.initial_step.is_finite() && self.initial_step > 0.0) {
            return Err(RegionError::Invalid(format!(
                "the initial step is {}; expected a finite number > 0",
                self.initial_step
            )));
        }
        Ok(())
    }
}

/// How a descent ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Descent {
    /// The end point.
    #[serde(skip)]
    pub point: Vec<f64>,
    /// `‖θ‖` there (the scale against which distances read).
    pub point_norm: f64,
    /// The objective there.
    pub value: f64,
    /// `‖∇f‖` there.
    pub gradient_norm: f64,
    /// The tolerance asked for.
    pub tol: f64,
    /// Whether `gradient_norm ≤ tol`.
    pub reached: bool,
    /// Accepted steps.
    pub steps: usize,
    /// Gradient evaluations (trial points included).
    pub gradient_evaluations: usize,
    /// Why it stopped: `tolerance`, `budget` or `line-search` (no decrease found: the
    /// gradient is below what the objective's rounding lets the descent use).
    pub stopped_by: &'static str,
}

/// One accepted step of a descent, as seen by the caller's observer.
pub struct DescentStep<'a> {
    /// Steps accepted so far.
    pub step: usize,
    /// The current point.
    pub point: &'a [f64],
    /// The gradient there.
    pub gradient: &'a [f64],
    /// The value there.
    pub value: f64,
}

/// Full-batch gradient descent with Armijo backtracking on `f` from `start` (see the module
/// documentation), calling `observe` at the start and after each accepted step.
///
/// # Errors
/// [`RegionError::Invalid`] for an unusable configuration, [`RegionError::Dimension`] for a start
/// of the wrong length, [`RegionError::NotFinite`] when the objective is NaN at the start.
pub fn gradient_descent(
    f: &dyn Objective,
    start: &[f64],
    config: &DescentConfig,
    observe: &mut dyn FnMut(&DescentStep<'_>),
) -> Result<Descent, RegionError> {
    config.validate()?;
    if start.len() != f.dim() {
        return Err(RegionError::Dimension {
            what: "the starting point".into(),
            expected: f.dim(),
            found: start.len(),
        });
    }
    let d = f.dim();
    let mut theta = start.to_vec();
    let mut grad = vec![0.0; d];
    let mut value = f.value_and_gradient(&theta, &mut grad);
    let mut evaluations = 1;
    if !value.is_finite() || grad.iter().any(|g| !g.is_finite()) {
        return Err(RegionError::NotFinite {
            what: "the loss or its gradient",
            at: "the start of a descent".into(),
        });
    }
    let mut eta = config.initial_step;
    let mut steps = 0;
    let mut trial = vec![0.0; d];
    let mut trial_grad = vec![0.0; d];
    observe(&DescentStep {
        step: 0,
        point: &theta,
        gradient: &grad,
        value,
    });
    let stopped_by = loop {
        let g2 = dot(&grad, &grad);
        if g2.sqrt() <= config.tol {
            break "tolerance";
        }
        if steps >= config.max_steps {
            break "budget";
        }
        let mut accepted = false;
        for _ in 0..40 {
            trial
                .iter_mut()
                .zip(&theta)
                .zip(&grad)
                .for_each(|((t, x), g)| *t = x - eta * g);
            let v = f.value_and_gradient(&trial, &mut trial_grad);
            evaluations += 1;
            if v.is_finite()
                && trial_grad.iter().all(|g| g.is_finite())
                && v <= value - 1e-4 * eta * g2
            {
                accepted = true;
                value = v;
                std::mem::swap(&mut theta, &mut trial);
                std::mem::swap(&mut grad, &mut trial_grad);
                break;
            }
            eta *= 0.5;
        }
        if !accepted {
            break "line-search";
        }
        steps += 1;
        eta *= 1.5;
        observe(&DescentStep {
            step: steps,
            point: &theta,
            gradient: &grad,
            value,
        });
    };
    let gradient_norm = norm(&grad);
    Ok(Descent {
        point_norm: norm(&theta),
        point: theta,
        value,
        gradient_norm,
        tol: config.tol,
        reached: gradient_norm <= config.tol,
        steps,
        gradient_evaluations: evaluations,
        stopped_by,
    })
}

/// A zone probe along a descent, with the distance to `θ̂1`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathProbe {
    /// `majority` (the descent on L1) or `total` (from θ̂1 on L).
    pub phase: &'static str,
    /// The step within the phase.
    pub step: usize,
    /// Steps since the start of the first phase (the time axis of both phases together).
    pub t: usize,
    /// `⟨∇L, ∇L1⟩`.
    pub inner_product: f64,
    /// `‖∇L1‖`.
    pub majority_grad_norm: f64,
    /// `‖∇L0‖`.
    pub minority_grad_norm: f64,
    /// `‖θ − θ̂1‖`.
    pub distance_to_majority_critical: f64,
    /// The point, for projections (not written to JSON).
    #[serde(skip)]
    pub point: Vec<f64>,
}

/// Settings of [`critical_pair`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CriticalPairConfig {
    /// Both descents.
    pub descent: DescentConfig,
    /// The constants on the ball.
    pub region: RegionConfig,
    /// The ball's radius is `margin · ‖θ̂1 − θ̂‖` (default 1.5), so it holds both points.
    pub margin: f64,
    /// The most zone probes kept per descent (default 64, at least 2): a probe at every step
    /// until there are twice as many, then every other one is dropped and the interval doubles,
    /// so the probes stay evenly spaced whatever the descent's length and memory stays bounded.
    pub max_probes: usize,
}

impl Default for CriticalPairConfig {
    fn default() -> Self {
        Self {
            descent: DescentConfig::default(),
            region: RegionConfig::default(),
            margin: 1.5,
            max_probes: 64,
        }
    }
}

/// Theorem 2 along the descents: the adversarial probes against the ball `B(θ̂1, 2τ/δ)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PathZone {
    /// Probes recorded.
    pub points: usize,
    /// Probes with `⟨∇L, ∇L1⟩ ≤ 0`.
    pub adversarial_points: usize,
    /// The largest `‖θ − θ̂1‖` of an adversarial probe (0 when none).
    pub max_adversarial_distance: f64,
    /// 2τ/δ.
    pub bound_zone: f64,
    /// Whether every adversarial probe is within 2τ/δ of θ̂1.
    pub inside_ball: bool,
}

/// The outcome of the Theorem 1 experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPairReport {
    /// The descent on L1 from the start, ending at θ̂1.
    pub majority_descent: Descent,
    /// The descent on L from θ̂1, ending at θ̂.
    pub total_descent: Descent,
    /// `‖θ̂1 − θ̂‖`.
    pub distance: f64,
    /// Both descents reached their tolerance (else the end points are not critical points).
    pub conclusive: bool,
    /// The radius R of K = B(θ̂1, R).
    pub radius: f64,
    /// The constants in use (the estimates on K).
    pub constants: Constants,
    /// The estimates and how they were obtained.
    pub estimates: RegionEstimates,
    /// (A1)–(A4) on K.
    pub assumptions: Assumptions,
    /// min{c/2, δ/8, δ²/(32M)}.
    pub a4_bound: f64,
    /// 4τ/δ.
    pub bound_critical: f64,
    /// 2τ/δ.
    pub bound_zone: f64,
    /// `distance ≤ 4τ/δ`.
    pub within_bound: bool,
    /// Theorem 2 along the descents.
    pub zone: PathZone,
    /// The probes.
    pub probes: Vec<PathProbe>,
    /// `assumptions-fail` when an assumption fails; otherwise `inconclusive` when a descent
    /// stopped short; otherwise `holds` when the distance is within 4τ/δ and every adversarial
    /// probe within 2τ/δ of θ̂1, `violated` if not.
    pub verdict: RegionVerdict,
}

impl CriticalPairReport {
    /// θ̂1.
    pub fn majority_critical(&self) -> &[f64] {
        &self.majority_descent.point
    }

    /// θ̂.
    pub fn total_critical(&self) -> &[f64] {
        &self.total_descent.point
    }
}

/// What [`critical_pair`] is doing, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The descent on L1 (steps done, budget).
    Majority,
    /// The descent on L (steps done, budget).
    Total,
    /// The constants on the ball (units done, total).
    Constants,
}

/// Runs the Theorem 1 experiment from `start` (see the module documentation), reporting
/// `progress(stage, done, total)`.
///
/// # Errors
/// Those of [`gradient_descent`] and [`estimate_region_constants`].
pub fn critical_pair(
    parts: Parts<'_>,
    start: &[f64],
    config: &CriticalPairConfig,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<CriticalPairReport, RegionError> {
    if !(config.margin.is_finite() && config.margin >= 1.0) {
        return Err(RegionError::Invalid(format!(
            "the ball's margin is {}; expected a number ≥ 1 (the ball must hold both points)",
            config.margin
        )));
    }
    let d = parts.total.dim();
    for (what, f) in [("L1", parts.majority), ("L0", parts.minority)] {
        if f.dim() != d {
            return Err(RegionError::Dimension {
                what: format!("{what}'s parameter vector"),
                expected: d,
                found: f.dim(),
            });
        }
    }
    let budget = config.descent.max_steps as u64;
    let probe = |phase: &'static str, step: usize, t: usize, theta: &[f64], g: &[f64]| {
        // phase 1 knows ∇L1 and needs ∇L0; phase 2 knows ∇L and needs ∇L1
        let mut other = vec![0.0; d];
        let (g1, g0): (Vec<f64>, Vec<f64>) = if phase == "majority" {
            parts.minority.gradient(theta, &mut other);
            (g.to_vec(), other)
        } else {
            parts.majority.gradient(theta, &mut other);
            let g0 = g.iter().zip(&other).map(|(a, b)| a - b).collect();
            (other, g0)
        };
        let inner = dot(&g1, &g1) + dot(&g0, &g1);
        PathProbe {
            phase,
            step,
            t,
            inner_product: inner,
            majority_grad_norm: norm(&g1),
            minority_grad_norm: norm(&g0),
            distance_to_majority_critical: f64::NAN,
            point: theta.to_vec(),
        }
    };
    let keep = config.max_probes.max(2);
    // probes of one descent at multiples of `every`, thinned to at most 2 · keep
    struct Thinned {
        probes: Vec<PathProbe>,
        every: usize,
    }
    impl Thinned {
        fn wants(&self, step: usize) -> bool {
            step.is_multiple_of(self.every)
        }
        fn push(&mut self, p: PathProbe, keep: usize) {
            self.probes.push(p);
            if self.probes.len() > 2 * keep {
                self.every *= 2;
                let every = self.every;
                self.probes.retain(|q| q.step % every == 0);
            }
        }
    }
    let mut first = Thinned {
        probes: Vec::new(),
        every: 1,
    };
    let majority_descent = gradient_descent(parts.majority, start, &config.descent, &mut |s| {
        progress(Stage::Majority, s.step as u64, budget);
        if first.wants(s.step) {
            first.push(probe("majority", s.step, s.step, s.point, s.gradient), keep);
        }
    })?;
    let offset = majority_descent.steps;
    let theta1 = majority_descent.point.clone();
    let mut second = Thinned {
        probes: Vec::new(),
        every: 1,
    };
    let total_descent = gradient_descent(parts.total, &theta1, &config.descent, &mut |s| {
        progress(Stage::Total, s.step as u64, budget);
        if s.step > 0 && second.wants(s.step) {
            second.push(
                probe("total", s.step, offset + s.step, s.point, s.gradient),
                keep,
            );
        }
    })?;
    // the end points are probed too
    if first.probes.last().map(|p| p.step) != Some(offset) {
        let mut g = vec![0.0; d];
        parts.majority.gradient(&theta1, &mut g);
        first
            .probes
            .push(probe("majority", offset, offset, &theta1, &g));
    }
    if total_descent.steps > 0 && second.probes.last().map(|p| p.step) != Some(total_descent.steps)
    {
        let mut g = vec![0.0; d];
        parts.total.gradient(&total_descent.point, &mut g);
        second.probes.push(probe(
            "total",
            total_descent.steps,
            offset + total_descent.steps,
            &total_descent.point,
            &g,
        ));
    }
    let mut probes = first.probes;
    probes.append(&mut second.probes);
    probes.sort_by_key(|p| p.t);
    for p in &mut probes {
        p.distance_to_majority_critical = distance(&p.point, &theta1);
    }

    let gap = distance(&theta1, &total_descent.point);
    // a ball of positive radius even when both points coincide
    let scale = (norm(&theta1) / (d as f64).sqrt()).max(1.0);
    let radius = (config.margin * gap).max(1e-6 * scale);
    let region = Region::ball(theta1.clone(), radius)?;
    let estimates = estimate_region_constants(
        parts.majority,
        parts.minority,
        &region,
        &config.region,
        &mut |done, total| progress(Stage::Constants, done, total),
    )?;
    let a = assess(&estimates);
    let within_bound = gap <= a.bound_critical;
    let adversarial: Vec<&PathProbe> = probes.iter().filter(|p| p.inner_product <= 0.0).collect();
    let max_adversarial_distance = adversarial
        .iter()
        .map(|p| p.distance_to_majority_critical)
        .fold(0.0, f64::max);
    let zone = PathZone {
        points: probes.len(),
        adversarial_points: adversarial.len(),
        max_adversarial_distance,
        bound_zone: a.bound_zone,
        inside_ball: max_adversarial_distance <= a.bound_zone,
    };
    let conclusive = majority_descent.reached && total_descent.reached;
    let verdict = if !a.assumptions.all() {
        RegionVerdict::AssumptionsFail
    } else if !conclusive {
        RegionVerdict::Inconclusive
    } else if within_bound && zone.inside_ball {
        RegionVerdict::Holds
    } else {
        RegionVerdict::Violated
    };
    Ok(CriticalPairReport {
        majority_descent,
        total_descent,
        distance: gap,
        conclusive,
        radius,
        constants: a.constants,
        estimates,
        assumptions: a.assumptions,
        a4_bound: a.a4_bound,
        bound_critical: a.bound_critical,
        bound_zone: a.bound_zone,
        within_bound,
        zone,
        probes,
        verdict,
    })
}

/// `L` and the zone on a plane of parameter space, for the poster's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneSection {
    /// The plane's origin (θ̂1).
    pub origin: Vec<f64>,
    /// First unit direction (towards θ̂).
    pub e1: Vec<f64>,
    /// Second unit direction (the top eigenvector of ∇²L1(θ̂1), orthogonalised against `e1`).
    pub e2: Vec<f64>,
    /// The top eigenvalue of ∇²L1(θ̂1) along which `e2` was taken.
    pub top_eigenvalue: f64,
    /// Grid abscissae (coordinates along `e1`).
    pub x: Vec<f64>,
    /// Grid ordinates (along `e2`).
    pub y: Vec<f64>,
    /// `L` on the grid, row-major with y outer.
    pub values: Vec<f64>,
    /// `⟨∇L, ∇L1⟩ ≤ 0` on the grid (same layout).
    pub adversarial: Vec<bool>,
}

impl PlaneSection {
    /// The plane coordinates of the orthogonal projection of `p`.
    pub fn project(&self, p: &[f64]) -> (f64, f64) {
        let rel: Vec<f64> = p.iter().zip(&self.origin).map(|(a, b)| a - b).collect();
        (dot(&rel, &self.e1), dot(&rel, &self.e2))
    }
}

/// The grid of [`plane_section`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlaneConfig {
    /// The margin around both points on each side, in parameter units.
    pub extent: f64,
    /// Grid points per axis (at least 2).
    pub points: usize,
    /// Lanczos steps for the top eigenvector of `∇²L1(θ̂1)`.
    pub lanczos_steps: usize,
    /// Seed of the Lanczos start.
    pub seed: u64,
}

/// The plane through `theta1` (θ̂1), `theta` (θ̂) and the top eigenvector of `∇²L1(θ̂1)`,
/// sampled on a `points × points` grid that holds both points with a margin of `extent` on each
/// side (when θ̂1 = θ̂ the first direction is a seeded random one orthogonal to the
/// eigenvector). Reports `progress(done, points)` per grid row.
pub fn plane_section(
    parts: Parts<'_>,
    theta1: &[f64],
    theta: &[f64],
    config: &PlaneConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PlaneSection, RegionError> {
    let PlaneConfig {
        extent,
        points: n,
        lanczos_steps,
        seed,
    } = *config;
    let d = parts.total.dim();
    if theta1.len() != d || theta.len() != d {
        return Err(RegionError::Dimension {
            what: "a point of the plane".into(),
            expected: d,
            found: if theta1.len() != d {
                theta1.len()
            } else {
                theta.len()
            },
        });
    }
    if n < 2 || !(extent.is_finite() && extent > 0.0) {
        return Err(RegionError::Invalid(format!(
            "the plane's grid needs at least 2 points per axis and a finite extent > 0; got {n} and {extent}"
        )));
    }
    let op = FnOperator::new(d, |v: &[f64], out: &mut [f64]| {
        parts.majority.hessian_vector_product(theta1, v, out)
    });
    let (top_eigenvalue, top) = top_eigenvector(&op, lanczos_steps.max(1), seed);
    let gap = distance(theta1, theta);
    let e1: Vec<f64> = if gap > 0.0 {
        theta
            .iter()
            .zip(theta1)
            .map(|(a, b)| (a - b) / gap)
            .collect()
    } else {
        // any unit vector orthogonal to the top one: a seeded random direction
        let mut rng = majmin_core::Rng::seed_from_u64(seed ^ 0x706c);
        let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let c = dot(&v, &top);
        v.iter_mut().zip(&top).for_each(|(a, b)| *a -= c * b);
        let nv = norm(&v).max(f64::MIN_POSITIVE);
        v.iter().map(|a| a / nv).collect()
    };
    let mut e2 = top.clone();
    let c = dot(&e2, &e1);
    e2.iter_mut().zip(&e1).for_each(|(a, b)| *a -= c * b);
    let n2 = norm(&e2);
    if n2 < 1e-9 {
        return Err(RegionError::Invalid(
            "the top eigenvector of ∇²L1 at θ̂1 points along θ̂ − θ̂1: the plane is degenerate".into(),
        ));
    }
    e2.iter_mut().for_each(|a| *a /= n2);
    let x: Vec<f64> = (0..n)
        .map(|i| -extent + (gap + 2.0 * extent) * i as f64 / (n - 1) as f64)
        .collect();
    let half = 0.5 * gap + extent;
    let y: Vec<f64> = (0..n)
        .map(|j| -half + 2.0 * half * j as f64 / (n - 1) as f64)
        .collect();
    let mut values = Vec::with_capacity(n * n);
    let mut adversarial = Vec::with_capacity(n * n);
    let mut g1 = vec![0.0; d];
    let mut g0 = vec![0.0; d];
    for (j, &b) in y.iter().enumerate() {
        for &a in &x {
            let p: Vec<f64> = (0..d).map(|k| theta1[k] + a * e1[k] + b * e2[k]).collect();
            let v1 = parts.majority.value_and_gradient(&p, &mut g1);
            let v0 = parts.minority.value_and_gradient(&p, &mut g0);
            values.push(v1 + v0);
            adversarial.push(dot(&g1, &g1) + dot(&g0, &g1) <= 0.0);
        }
        progress(j as u64 + 1, n as u64);
    }
    Ok(PlaneSection {
        origin: theta1.to_vec(),
        e1,
        e2,
        top_eigenvalue,
        x,
        y,
        values,
        adversarial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::tests::{quadratic, sines};
    use majmin_core::objective::Sum;

    #[test]
    fn descent_reaches_the_minimum_of_a_quadratic_and_says_when_it_does_not() {
        let f = quadratic(vec![1.0, 4.0, 0.5]);
        let mut seen = 0;
        let d = gradient_descent(
            &f,
            &[1.0, -2.0, 3.0],
            &DescentConfig::default(),
            &mut |_| seen += 1,
        )
        .unwrap();
        assert!(d.reached && d.stopped_by == "tolerance", "{d:?}");
        assert!(d.gradient_norm <= 1e-3 && norm(&d.point) < 3e-3, "{d:?}");
        assert_eq!(seen, d.steps + 1);
        let short = DescentConfig {
            max_steps: 2,
            ..DescentConfig::default()
        };
        let d = gradient_descent(&f, &[1.0, -2.0, 3.0], &short, &mut |_| {}).unwrap();
        assert!(
            !d.reached && d.stopped_by == "budget" && d.steps == 2,
            "{d:?}"
        );
        assert!(d.gradient_norm > 1e-3);
        let bad = DescentConfig {
            tol: -1.0,
            ..DescentConfig::default()
        };
        let e = gradient_descent(&f, &[0.0; 3], &bad, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("-1"), "{e}");
    }

    #[test]
    fn the_critical_pair_of_a_perturbed_quadratic_is_within_4_tau_over_delta() {
        // L1 = ½ Σ a_i θ_i² has θ̂1 = 0; L0 = ε Σ sin θ_i moves the minimum by about ε/a_i
        let a = vec![1.0, 2.0, 3.0];
        let eps = 1e-3;
        let l1 = quadratic(a.clone());
        let l0 = sines(3, eps);
        let total = Sum {
            a: quadratic(a.clone()),
            b: sines(3, eps),
        };
        let parts = Parts {
            majority: &l1,
            minority: &l0,
            total: &total,
        };
        let config = CriticalPairConfig {
            descent: DescentConfig {
                tol: 1e-9,
                ..DescentConfig::default()
            },
            region: RegionConfig {
                samples: 6,
                pairs: 3,
                lanczos_steps: 3,
                rho_min_steps: 3,
                ascent_steps: 2,
                ..RegionConfig::default()
            },
            ..CriticalPairConfig::default()
        };
        let mut stages = Vec::new();
        let r = critical_pair(parts, &[0.5, -0.4, 0.3], &config, &mut |s, _, _| {
            if stages.last() != Some(&s) {
                stages.push(s);
            }
        })
        .unwrap();
        assert_eq!(
            stages,
            vec![Stage::Majority, Stage::Total, Stage::Constants]
        );
        assert!(r.conclusive);
        // θ̂ solves a_i θ_i + ε cos θ_i = 0: θ_i ≈ −ε / a_i
        let expected: f64 = a.iter().map(|ai| (eps / ai).powi(2)).sum::<f64>().sqrt();
        assert!(
            (r.distance - expected).abs() < 1e-6 * expected + 1e-8,
            "{r:?}"
        );
        assert!((r.constants.delta - 1.0).abs() < 1e-6, "{:?}", r.constants);
        assert!(r.assumptions.all(), "{:?}", r.assumptions);
        assert!(r.within_bound && r.distance <= r.bound_critical);
        assert_eq!(r.verdict, RegionVerdict::Holds, "{r:?}");
        assert!(r.probes.first().unwrap().phase == "majority");
        assert!(r.probes.last().unwrap().phase == "total");
        assert!(r.zone.points == r.probes.len());
        assert!((r.radius - 1.5 * r.distance).abs() < 1e-12);
        // a budget too small for the tolerance: inconclusive, and said so
        let short = CriticalPairConfig {
            descent: DescentConfig {
                tol: 1e-9,
                max_steps: 3,
                ..DescentConfig::default()
            },
            ..config
        };
        let r = critical_pair(parts, &[0.5, -0.4, 0.3], &short, &mut |_, _, _| {}).unwrap();
        assert!(!r.conclusive && !r.majority_descent.reached);
        assert_eq!(r.verdict, RegionVerdict::Inconclusive);
    }

    #[test]
    fn probes_are_thinned_evenly_and_hold_both_end_points() {
        // an ill-conditioned quadratic: tens of steps per descent
        let a = vec![1.0, 0.01];
        let l1 = quadratic(a.clone());
        let l0 = sines(2, 1e-4);
        let total = Sum {
            a: quadratic(a),
            b: sines(2, 1e-4),
        };
        let parts = Parts {
            majority: &l1,
            minority: &l0,
            total: &total,
        };
        let config = CriticalPairConfig {
            descent: DescentConfig {
                tol: 1e-8,
                ..DescentConfig::default()
            },
            region: RegionConfig {
                samples: 2,
                pairs: 1,
                lanczos_steps: 2,
                rho_min_steps: 2,
                ascent_steps: 0,
                ..RegionConfig::default()
            },
            max_probes: 2,
            ..CriticalPairConfig::default()
        };
        let r = critical_pair(parts, &[1.0, 1.0], &config, &mut |_, _, _| {}).unwrap();
        assert!(r.majority_descent.steps > 10, "{:?}", r.majority_descent);
        for (phase, end) in [
            ("majority", r.majority_descent.steps),
            ("total", r.total_descent.steps),
        ] {
            let steps: Vec<usize> = r
                .probes
                .iter()
                .filter(|p| p.phase == phase)
                .map(|p| p.step)
                .collect();
            assert!(
                steps.len() >= 2 && steps.len() <= 2 * 2 + 1,
                "{phase}: {steps:?}"
            );
            assert_eq!(*steps.last().unwrap(), end, "{phase}: {steps:?}");
            // evenly spaced before the end point
            let gaps: Vec<usize> = steps[..steps.len() - 1]
                .windows(2)
                .map(|w| w[1] - w[0])
                .collect();
            assert!(gaps.windows(2).all(|g| g[0] == g[1]), "{phase}: {steps:?}");
        }
        // the first probe is the start, at distance ‖start − θ̂1‖
        let first = &r.probes[0];
        assert_eq!((first.phase, first.step), ("majority", 0));
        assert!((first.distance_to_majority_critical - 2f64.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn the_plane_holds_both_points_and_the_top_curvature() {
        let l1 = quadratic(vec![1.0, 5.0, 2.0]);
        let l0 = sines(3, 0.1);
        let total = Sum {
            a: quadratic(vec![1.0, 5.0, 2.0]),
            b: sines(3, 0.1),
        };
        let parts = Parts {
            majority: &l1,
            minority: &l0,
            total: &total,
        };
        let theta1 = [0.0, 0.0, 0.0];
        let theta = [0.1, 0.0, 0.0];
        let mut rows = 0;
        let config = PlaneConfig {
            extent: 0.2,
            points: 11,
            lanczos_steps: 3,
            seed: 0,
        };
        let s = plane_section(parts, &theta1, &theta, &config, &mut |_, _| rows += 1).unwrap();
        assert_eq!(rows, 11);
        assert!((s.top_eigenvalue - 5.0).abs() < 1e-6);
        assert!((s.e2[1].abs() - 1.0).abs() < 1e-6, "{:?}", s.e2);
        assert_eq!(s.project(&theta), (0.1, 0.0));
        assert_eq!(s.values.len(), 121);
        // L at the grid point nearest θ̂1 = 0 is L(0) = 0
        let i = s.x.iter().position(|&v| v.abs() < 1e-12).unwrap();
        let j = s.y.iter().position(|&v| v.abs() < 1e-12).unwrap();
        assert!(s.values[j * 11 + i].abs() < 1e-12);
        // near θ̂1 = 0, ∇L1 ≈ 0 and ⟨∇L, ∇L1⟩ = ‖∇L1‖² + ⟨∇L0, ∇L1⟩ can be negative: some
        // adversarial points, but not everywhere
        let adv = s.adversarial.iter().filter(|a| **a).count();
        assert!(adv > 0 && adv < 121, "{adv}");
    }
}
