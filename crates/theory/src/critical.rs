//! Critical points in K: multi-start damped Newton on the gradient with a Levenberg–Marquardt
//! fallback, deduplication, and classification by the Hessian's inertia.
//!
//! Each start runs Newton's method on `∇f = 0` (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., §11.1); a step is accepted only if it decreases the merit `‖∇f‖`; when the Newton
//! step fails (singular Hessian or no decrease) the Levenberg–Marquardt step
//! `(H² + λI) p = −H ∇f` with growing λ is tried (§11.2), which is well defined for any
//! Hessian. Newton converges to minima, saddles and maxima alike, which is what Theorem 1 needs.

use rayon::prelude::*;
use serde::Serialize;

use crate::linalg::{solve, symmetric_eigenvalues};
use crate::problem::Domain;
use crate::smooth::SmoothObjective;

/// The kind of a critical point, from the inertia of the Hessian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticalKind {
    /// All eigenvalues positive.
    Minimum,
    /// Eigenvalues of both signs.
    Saddle,
    /// All eigenvalues negative.
    Maximum,
    /// Some eigenvalue is zero to the tolerance: not a Morse critical point.
    Degenerate,
}

/// A critical point with its classification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPoint {
    /// The point.
    pub point: Vec<f64>,
    /// Minimum, saddle, maximum or degenerate.
    pub kind: CriticalKind,
    /// The Hessian's eigenvalues, increasing.
    pub eigenvalues: Vec<f64>,
    /// `‖∇f‖` at the point (below the tolerance).
    pub gradient_norm: f64,
    /// `f` at the point.
    pub value: f64,
}

/// Settings of the Newton search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewtonConfig {
    /// Convergence: `‖∇f‖ <` this (default `1e-10`).
    pub tolerance: f64,
    /// Iterations per start (default 100).
    pub max_iterations: usize,
}

impl Default for NewtonConfig {
    fn default() -> Self {
        Self {
            tolerance: 1e-10,
            max_iterations: 100,
        }
    }
}

fn grad_norm(f: &dyn SmoothObjective, x: &[f64], g: &mut [f64]) -> f64 {
    f.gradient(x, g);
    g.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Damped Newton from `start`; the critical point when `‖∇f‖ < tolerance` is reached without
/// leaving a neighbourhood of K (half its diameter), `None` otherwise.
pub fn newton(
    f: &dyn SmoothObjective,
    start: &[f64],
    domain: &Domain,
    config: &NewtonConfig,
) -> Option<Vec<f64>> {
    let d = start.len();
    let diam = domain.diameter();
    let mut x = start.to_vec();
    let mut g = vec![0.0; d];
    let mut gn = grad_norm(f, &x, &mut g);
    let mut trial = vec![0.0; d];
    let mut gt = vec![0.0; d];
    let mut lambda_hint = 0.0f64;
    for _ in 0..config.max_iterations {
        if !gn.is_finite() {
            return None;
        }
        if gn < config.tolerance {
            return Some(x);
        }
        let h = f.hessian_matrix(&x);
        let scale: f64 = h.iter().map(|v| v * v).sum::<f64>().max(1e-300);
        let mut lambda = 0.0;
        let mut accepted = false;
        for attempt in 0..40 {
            let step = if lambda == 0.0 {
                solve(&h, &g.iter().map(|v| -v).collect::<Vec<_>>(), d)
            } else {
                let mut a = vec![0.0; d * d];
                for i in 0..d {
                    for j in 0..d {
                        a[i * d + j] = (0..d).map(|k| h[i * d + k] * h[k * d + j]).sum();
                    }
                    a[i * d + i] += lambda;
                }
                let rhs: Vec<f64> = (0..d)
                    .map(|i| -(0..d).map(|k| h[i * d + k] * g[k]).sum::<f64>())
                    .collect();
                solve(&a, &rhs, d)
            };
            if let Some(mut p) = step {
                let len = p.iter().map(|v| v * v).sum::<f64>().sqrt();
                if len > 0.25 * diam {
                    p.iter_mut().for_each(|v| *v *= 0.25 * diam / len);
                }
                trial
                    .iter_mut()
                    .zip(x.iter().zip(&p))
                    .for_each(|(t, (a, b))| *t = a + b);
                let gtn = grad_norm(f, &trial, &mut gt);
                if gtn < gn {
                    x.copy_from_slice(&trial);
                    g.copy_from_slice(&gt);
                    gn = gtn;
                    accepted = true;
                    lambda_hint = lambda;
                    break;
                }
            }
            lambda = if lambda == 0.0 {
                if attempt == 0 && lambda_hint > 0.0 {
                    lambda_hint * 0.1
                } else {
                    1e-8 * scale
                }
            } else {
                lambda * 10.0
            };
        }
        if !accepted {
            return None;
        }
        let outside = x
            .iter()
            .zip(domain.lower.iter().zip(&domain.upper))
            .any(|(t, (l, u))| *t < l - 0.5 * diam || *t > u + 0.5 * diam);
        if outside {
            return None;
        }
    }
    (gn < config.tolerance).then_some(x)
}

/// Classifies a point by the inertia of the Hessian (eigenvalues within `1e-5 · max(1, max|λ|)`
/// of zero count as zero).
pub fn classify(f: &dyn SmoothObjective, point: &[f64]) -> CriticalPoint {
    let d = point.len();
    let h = f.hessian_matrix(point);
    let eigenvalues = symmetric_eigenvalues(&h, d);
    let tol = 1e-5 * eigenvalues.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let pos = eigenvalues.iter().filter(|&&v| v > tol).count();
    let neg = eigenvalues.iter().filter(|&&v| v < -tol).count();
    let kind = if pos + neg < d {
        CriticalKind::Degenerate
    } else if neg == 0 {
        CriticalKind::Minimum
    } else if pos == 0 {
        CriticalKind::Maximum
    } else {
        CriticalKind::Saddle
    };
    let mut g = vec![0.0; d];
    let value = f.value_and_gradient(point, &mut g);
    CriticalPoint {
        point: point.to_vec(),
        kind,
        eigenvalues,
        gradient_norm: g.iter().map(|v| v * v).sum::<f64>().sqrt(),
        value,
    }
}

/// Runs [`newton`] from every start (in parallel), keeps the points inside K (to `1e-9` relative),
/// merges points closer than `1e-7 · max(1, diam K)` and classifies them. Sorted by coordinates.
pub fn find_critical_points(
    f: &dyn SmoothObjective,
    domain: &Domain,
    starts: &[Vec<f64>],
    config: &NewtonConfig,
) -> Vec<CriticalPoint> {
    let diam = domain.diameter().max(1.0);
    let found: Vec<Vec<f64>> = starts
        .par_iter()
        .filter_map(|s| newton(f, s, domain, config))
        .collect();
    let mut unique: Vec<Vec<f64>> = Vec::new();
    for p in found {
        if !domain.contains(&p, 1e-9 * diam) {
            continue;
        }
        let close = unique.iter().any(|q| {
            q.iter()
                .zip(&p)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
                < 1e-7 * diam
        });
        if !close {
            unique.push(p);
        }
    }
    // order by coordinates rounded to the merge tolerance, so that −1e-17 and 1e-17 tie
    let key = |p: &[f64]| {
        p.iter()
            .map(|v| (v / (1e-7 * diam)).round() as i64)
            .collect::<Vec<_>>()
    };
    unique.sort_by_key(|p| key(p));
    unique.iter().map(|p| classify(f, p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;
    use crate::smooth::FormulaObjective;

    fn formula(src: &str) -> FormulaObjective {
        FormulaObjective::new(parse(src, &["x".to_string(), "y".to_string()]).unwrap())
    }

    fn starts(domain: &Domain, n: usize) -> Vec<Vec<f64>> {
        let mut out = Vec::new();
        for i in 0..n {
            for j in 0..n {
                let t = |k: usize, a: usize| {
                    domain.lower[a]
                        + (k as f64 + 0.5) / n as f64 * (domain.upper[a] - domain.lower[a])
                };
                out.push(vec![t(i, 0), t(j, 1)]);
            }
        }
        out
    }

    #[test]
    fn finds_and_classifies_every_critical_point_of_a_double_well() {
        // (x² − 1)² + y²/2 − ... : minima (±1, 0), saddle (0, 0)
        let f = formula("(x^2 - 1)^2 + 0.5*y^2");
        let domain = Domain::cube(2, -2.0, 2.0);
        let cps = find_critical_points(&f, &domain, &starts(&domain, 8), &NewtonConfig::default());
        assert_eq!(cps.len(), 3, "{cps:?}");
        let kinds: Vec<_> = cps
            .iter()
            .map(|c| (c.point[0].round() as i32, c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (-1, CriticalKind::Minimum),
                (0, CriticalKind::Saddle),
                (1, CriticalKind::Minimum)
            ]
        );
        for c in &cps {
            assert!(c.gradient_norm < 1e-10);
            assert!(c.point[1].abs() < 1e-12);
        }
        assert!((cps[2].point[0] - 1.0).abs() < 1e-12);
        assert!(
            (cps[0].eigenvalues[1] - 8.0).abs() < 1e-9
                && (cps[0].eigenvalues[0] - 1.0).abs() < 1e-9
        );
    }

    #[test]
    fn maxima_saddles_and_degenerate_points() {
        let f = formula("cos(x) + cos(y)");
        let domain = Domain::cube(2, -1.0, 4.0);
        let cps = find_critical_points(&f, &domain, &starts(&domain, 6), &NewtonConfig::default());
        let pi = std::f64::consts::PI;
        let expect = [
            ([0.0, 0.0], CriticalKind::Maximum),
            ([0.0, pi], CriticalKind::Saddle),
            ([pi, 0.0], CriticalKind::Saddle),
            ([pi, pi], CriticalKind::Minimum),
        ];
        assert_eq!(cps.len(), 4, "{cps:?}");
        for (c, (p, k)) in cps.iter().zip(expect) {
            assert!(
                (c.point[0] - p[0]).abs() < 1e-10 && (c.point[1] - p[1]).abs() < 1e-10,
                "{c:?}"
            );
            assert_eq!(c.kind, k);
        }
        // x⁴ + y²: Hessian singular at the minimum — the Levenberg–Marquardt fallback still
        // converges (‖∇‖ = 4|x|³ < 1e-10 needs |x| < 3e-4) and the point is degenerate.
        let f = formula("x^4 + y^2");
        let cps = find_critical_points(
            &f,
            &Domain::cube(2, -1.0, 1.0),
            &[vec![0.7, 0.3]],
            &NewtonConfig::default(),
        );
        assert_eq!(cps.len(), 1);
        assert!(cps[0].point[0].abs() < 3e-4);
        assert_eq!(cps[0].kind, CriticalKind::Degenerate);
    }
}
