//! Spectra of symmetric operators known only through products `H·v` — the Hessians of networks,
//! of their majority part `∇²L1`, minority part `∇²L0` and the whole `∇²L`.
//!
//! - [`extreme_eigenvalues`]: the algebraically largest and smallest `k` eigenvalues by the
//!   Lanczos iteration with full reorthogonalisation (Lanczos 1950; Golub & Van Loan, *Matrix
//!   Computations*, §10.1), each with its residual norm `‖H x − θ x‖ = |β_m s_m|` and a converged
//!   flag;
//! - [`rho_min`]: `ρmin(H) = min |λ|`, the quantity strong Morse (A1) bounds below, as the square
//!   root of the smallest eigenvalue of `H²` (Lanczos on `v ↦ H(H v)`), with an explicit residual;
//! - [`hutchinson_trace`]: `tr H ≈ mean zᵀ H z` over Rademacher vectors `z` (Hutchinson 1989), with
//!   its standard error;
//! - [`slq_density`]: the spectral density by stochastic Lanczos quadrature (Golub & Meurant; Ghorbani,
//!   Krishnan & Xiao 2019): per random start, the Ritz values of the tridiagonal matrix are the nodes
//!   and the squared first components of its eigenvectors the weights.
//!
//! All of them work in `f64` and take a seed, so the same seed gives the same numbers.

use majmin_core::Rng;
use serde::Serialize;

use crate::linalg::symmetric_eigen;

/// A symmetric linear operator on `R^dim`.
pub trait SymmetricOperator {
    /// The dimension.
    fn dim(&self) -> usize;
    /// `out = H v`.
    fn apply(&self, v: &[f64], out: &mut [f64]);
}

/// A [`SymmetricOperator`] from a closure.
pub struct FnOperator<F: Fn(&[f64], &mut [f64])> {
    dim: usize,
    f: F,
}

impl<F: Fn(&[f64], &mut [f64])> FnOperator<F> {
    /// The operator `v ↦ f(v)` on `R^dim` (the closure must be linear and symmetric).
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F: Fn(&[f64], &mut [f64])> SymmetricOperator for FnOperator<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, v: &[f64], out: &mut [f64]) {
        (self.f)(v, out)
    }
}

/// A dense symmetric matrix (row-major `d × d`) as an operator, for tests and small problems.
pub struct DenseOperator<'a> {
    /// The matrix.
    pub matrix: &'a [f64],
    /// Its dimension.
    pub dim: usize,
}

impl SymmetricOperator for DenseOperator<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, v: &[f64], out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.matrix[i * self.dim..(i + 1) * self.dim]
                .iter()
                .zip(v)
                .map(|(a, b)| a * b)
                .sum();
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// A random unit vector (normal entries) from `rng`.
fn random_unit(rng: &mut Rng, dim: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let n = norm(&v).max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// The Lanczos decomposition after `m` steps: `H V_m = V_m T_m + β_m v_{m+1} e_mᵀ`.
#[derive(Debug, Clone)]
pub struct Lanczos {
    /// Diagonal of `T_m`.
    pub alpha: Vec<f64>,
    /// Off-diagonal of `T_m` (`beta[i]` couples `i` and `i + 1`); its last entry is `β_m`.
    pub beta: Vec<f64>,
    /// The orthonormal basis `V_m`, one vector per step.
    pub basis: Vec<Vec<f64>>,
}

/// Runs up to `steps` Lanczos steps from `start` with full reorthogonalisation (two passes of
/// Gram–Schmidt against the whole basis, so the basis stays orthonormal in floating point).
/// Stops early when the Krylov space is invariant (`β` below 1e-12 of the largest `α`, `β`).
pub fn lanczos(op: &dyn SymmetricOperator, start: &[f64], steps: usize) -> Lanczos {
    let dim = op.dim();
    let steps = steps.min(dim).max(1);
    let mut v = start.to_vec();
    let n = norm(&v).max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= n);
    let mut out = Lanczos {
        alpha: Vec::with_capacity(steps),
        beta: Vec::with_capacity(steps),
        basis: Vec::with_capacity(steps),
    };
    let mut w = vec![0.0; dim];
    let mut scale: f64 = 0.0;
    for _ in 0..steps {
        op.apply(&v, &mut w);
        let a = dot(&w, &v);
        out.basis.push(v.clone());
        for _ in 0..2 {
            for q in &out.basis {
                let c = dot(&w, q);
                w.iter_mut().zip(q).for_each(|(x, y)| *x -= c * y);
            }
        }
        let b = norm(&w);
        out.alpha.push(a);
        out.beta.push(b);
        scale = scale.max(a.abs()).max(b);
        if b <= 1e-12 * scale.max(f64::MIN_POSITIVE) || out.basis.len() == dim {
            break;
        }
        v = w.iter().map(|x| x / b).collect();
    }
    out
}

/// An eigenvalue estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RitzValue {
    /// The estimate θ.
    pub value: f64,
    /// `‖H x − θ x‖` for its unit Ritz vector x.
    pub residual: f64,
    /// Whether `residual ≤ tol · max(|θ|, scale)`.
    pub converged: bool,
}

/// The eigen-decomposition of `T_m`: Ritz values ascending, with the first and last components
/// of their eigenvectors.
fn ritz(l: &Lanczos) -> Vec<(f64, f64, f64, Vec<f64>)> {
    let m = l.alpha.len();
    let mut t = vec![0.0; m * m];
    for i in 0..m {
        t[i * m + i] = l.alpha[i];
        if i + 1 < m {
            t[i * m + i + 1] = l.beta[i];
            t[(i + 1) * m + i] = l.beta[i];
        }
    }
    let (values, vectors) = symmetric_eigen(&t, m);
    let mut out: Vec<(f64, f64, f64, Vec<f64>)> = values
        .into_iter()
        .zip(vectors)
        .map(|(v, s)| (v, s[0], s[m - 1], s))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The `k` largest and `k` smallest eigenvalues.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extremes {
    /// Largest first.
    pub top: Vec<RitzValue>,
    /// Smallest (most negative) first.
    pub bottom: Vec<RitzValue>,
    /// Operator products used.
    pub products: usize,
}

/// The `k` algebraically largest and smallest eigenvalues of `op` by Lanczos with full
/// reorthogonalisation from a random start (`seed`), with at most `max_steps` products. Each
/// returned value's residual `‖H x − θ x‖` is computed explicitly from its Ritz vector (one more
/// product each), so it is honest even for an operator that is only approximately linear and
/// symmetric (a finite-difference Hessian); it is converged when the residual is at most `tol`
/// times `max(|θ|, max |θ_i|)`.
pub fn extreme_eigenvalues(
    op: &dyn SymmetricOperator,
    k: usize,
    max_steps: usize,
    tol: f64,
    seed: u64,
) -> Extremes {
    let mut rng = Rng::seed_from_u64(seed);
    let dim = op.dim();
    let start = random_unit(&mut rng, dim);
    let l = lanczos(op, &start, max_steps);
    let pairs = ritz(&l);
    let scale = pairs
        .iter()
        .map(|p| p.0.abs())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut products = l.basis.len();
    let mut value = |p: &(f64, f64, f64, Vec<f64>)| {
        let mut x = vec![0.0; dim];
        for (c, q) in p.3.iter().zip(&l.basis) {
            x.iter_mut().zip(q).for_each(|(a, b)| *a += c * b);
        }
        let n = norm(&x).max(f64::MIN_POSITIVE);
        x.iter_mut().for_each(|a| *a /= n);
        let mut hx = vec![0.0; dim];
        op.apply(&x, &mut hx);
        products += 1;
        let residual = hx
            .iter()
            .zip(&x)
            .map(|(h, v)| (h - p.0 * v).powi(2))
            .sum::<f64>()
            .sqrt();
        RitzValue {
            value: p.0,
            residual,
            converged: residual <= tol * p.0.abs().max(scale),
        }
    };
    let k = k.min(pairs.len());
    let top: Vec<RitzValue> = pairs.iter().rev().take(k).map(&mut value).collect();
    let bottom: Vec<RitzValue> = pairs.iter().take(k).map(&mut value).collect();
    Extremes {
        top,
        bottom,
        products,
    }
}

/// `ρmin(H) = min |λ|` with how far it can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RhoMin {
    /// The estimate.
    pub value: f64,
    /// `min(‖H x − ρ x‖, ‖H x + ρ x‖)` for the unit Ritz vector x.
    pub residual: f64,
    /// Whether `residual ≤ tol · max(ρ, ρmax·tol)`.
    pub converged: bool,
    /// Products with `H` used.
    pub products: usize,
}

/// `ρmin(H)`: the smallest eigenvalue of `H²` by Lanczos on `v ↦ H(Hv)` (two products of `H` per
/// step), then checked with one more product: the residual of the Ritz vector against `±ρ`. The
/// smallest end of `H²` converges slowly when many eigenvalues sit near 0 (typical of network
/// Hessians): the `converged` flag says whether the residual is small; if not, the value is an
/// upper bound of `ρmin` only in the sense that it is a Rayleigh quotient of `H²`.
pub fn rho_min(op: &dyn SymmetricOperator, max_steps: usize, tol: f64, seed: u64) -> RhoMin {
    let dim = op.dim();
    let squared = FnOperator::new(dim, |v: &[f64], out: &mut [f64]| {
        let mut tmp = vec![0.0; dim];
        op.apply(v, &mut tmp);
        op.apply(&tmp, out);
    });
    let mut rng = Rng::seed_from_u64(seed);
    let start = random_unit(&mut rng, dim);
    let l = lanczos(&squared, &start, max_steps);
    let pairs = ritz(&l);
    let Some((lambda, _, _, s)) = pairs.first() else {
        return RhoMin {
            value: f64::NAN,
            residual: f64::INFINITY,
            converged: false,
            products: 0,
        };
    };
    let rho = lambda.max(0.0).sqrt();
    let mut x = vec![0.0; dim];
    for (c, q) in s.iter().zip(&l.basis) {
        x.iter_mut().zip(q).for_each(|(a, b)| *a += c * b);
    }
    let n = norm(&x).max(f64::MIN_POSITIVE);
    x.iter_mut().for_each(|a| *a /= n);
    let mut hx = vec![0.0; dim];
    op.apply(&x, &mut hx);
    let res = |sign: f64| {
        hx.iter()
            .zip(&x)
            .map(|(h, v)| (h - sign * rho * v).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let residual = res(1.0).min(res(-1.0));
    let rho_max = pairs.last().map(|p| p.0.max(0.0).sqrt()).unwrap_or(0.0);
    RhoMin {
        value: rho,
        residual,
        converged: residual <= tol * rho.max(rho_max * tol),
        products: 2 * l.basis.len() + 1,
    }
}

/// A trace estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TraceEstimate {
    /// The mean of `zᵀ H z`.
    pub value: f64,
    /// Its standard error (sample standard deviation / √samples).
    pub stderr: f64,
    /// Probe vectors used.
    pub samples: usize,
}

/// Hutchinson's estimator of `tr H` with `samples` Rademacher probes (at least 2).
pub fn hutchinson_trace(op: &dyn SymmetricOperator, samples: usize, seed: u64) -> TraceEstimate {
    let dim = op.dim();
    let samples = samples.max(2);
    let mut rng = Rng::seed_from_u64(seed);
    let mut out = vec![0.0; dim];
    let values: Vec<f64> = (0..samples)
        .map(|_| {
            let z: Vec<f64> = (0..dim)
                .map(|_| if rng.uniform() < 0.5 { -1.0 } else { 1.0 })
                .collect();
            op.apply(&z, &mut out);
            dot(&z, &out)
        })
        .collect();
    let mean = values.iter().sum::<f64>() / samples as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64;
    TraceEstimate {
        value: mean,
        stderr: (var / samples as f64).sqrt(),
        samples,
    }
}

/// A spectral density as weighted nodes (weights sum to 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Density {
    /// Ritz values of every run.
    pub nodes: Vec<f64>,
    /// Their weights: squared first eigenvector components, divided by the number of runs.
    pub weights: Vec<f64>,
}

impl Density {
    /// The density smoothed by a Gaussian of width `sigma`, at the points `grid`.
    pub fn smoothed(&self, grid: &[f64], sigma: f64) -> Vec<f64> {
        let c = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        grid.iter()
            .map(|&x| {
                self.nodes
                    .iter()
                    .zip(&self.weights)
                    .map(|(n, w)| w * c * (-0.5 * ((x - n) / sigma).powi(2)).exp())
                    .sum()
            })
            .collect()
    }
}

/// The spectral density by stochastic Lanczos quadrature: `runs` Lanczos runs of `steps` steps
/// from random unit vectors.
pub fn slq_density(op: &dyn SymmetricOperator, runs: usize, steps: usize, seed: u64) -> Density {
    let mut rng = Rng::seed_from_u64(seed);
    let runs = runs.max(1);
    let mut density = Density {
        nodes: Vec::new(),
        weights: Vec::new(),
    };
    for _ in 0..runs {
        let start = random_unit(&mut rng, op.dim());
        let l = lanczos(op, &start, steps);
        for (value, first, _, _) in ritz(&l) {
            density.nodes.push(value);
            density.weights.push(first * first / runs as f64);
        }
    }
    density
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::symmetric_eigenvalues;

    /// `Q diag(λ) Qᵀ` for a random orthogonal `Q` (Gram–Schmidt of normal vectors).
    fn matrix_with(eigenvalues: &[f64], seed: u64) -> Vec<f64> {
        let d = eigenvalues.len();
        let mut rng = Rng::seed_from_u64(seed);
        let mut q: Vec<Vec<f64>> = Vec::new();
        while q.len() < d {
            let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
            for u in &q {
                let c = dot(&v, u);
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= c * b);
            }
            let n = norm(&v);
            q.push(v.iter().map(|a| a / n).collect());
        }
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] = (0..d).map(|k| q[k][i] * eigenvalues[k] * q[k][j]).sum();
            }
        }
        m
    }

    fn spectrum(d: usize) -> Vec<f64> {
        // a network-like spectrum: a few large outliers, a bulk near 0 of both signs
        (0..d)
            .map(|i| match i {
                0 => 50.0,
                1 => 20.0,
                2 => 9.0,
                3 => -4.0,
                4 => -1.5,
                _ => 0.3 + 0.05 * (i as f64) * if i % 2 == 0 { 1.0 } else { -1.0 },
            })
            .collect()
    }

    #[test]
    fn lanczos_finds_the_extremes_of_a_dense_spectrum() {
        let d = 60;
        let lambdas = spectrum(d);
        let m = matrix_with(&lambdas, 1);
        let op = DenseOperator { matrix: &m, dim: d };
        let mut exact = symmetric_eigenvalues(&m, d);
        exact.sort_by(|a, b| b.total_cmp(a));
        let e = extreme_eigenvalues(&op, 3, 40, 1e-6, 7);
        for (i, r) in e.top.iter().enumerate() {
            assert!(
                (r.value - exact[i]).abs() < 1e-8 * exact[0],
                "{i}: {r:?} vs {}",
                exact[i]
            );
            assert!(r.converged, "{r:?}");
        }
        let smallest = exact[d - 1];
        assert!(
            (e.bottom[0].value - smallest).abs() < 1e-8 * 50.0,
            "{:?}",
            e.bottom
        );
        assert!((smallest + 4.0).abs() < 1e-9);
        assert!(e.products <= 40 + 6);
    }

    #[test]
    fn residuals_are_honest_when_steps_are_too_few() {
        let d = 80;
        let m = matrix_with(&spectrum(d), 2);
        let op = DenseOperator { matrix: &m, dim: d };
        let e = extreme_eigenvalues(&op, 5, 6, 1e-10, 3);
        // with 6 steps the fifth-largest is not resolved: its residual says so
        assert!(e.top.iter().any(|r| !r.converged), "{:?}", e.top);
        for r in &e.top {
            // the residual bounds the distance to some true eigenvalue
            let dist = spectrum(d)
                .iter()
                .map(|l| (l - r.value).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(dist <= r.residual * 1.0001 + 1e-9, "{r:?} distance {dist}");
        }
    }

    #[test]
    fn rho_min_is_the_smallest_absolute_eigenvalue() {
        let d = 40;
        let mut lambdas = spectrum(d);
        lambdas[10] = 0.02; // the smallest |λ|
        lambdas[11] = -0.5;
        let m = matrix_with(&lambdas, 4);
        let op = DenseOperator { matrix: &m, dim: d };
        let r = rho_min(&op, d, 1e-6, 5);
        assert!((r.value - 0.02).abs() < 1e-6, "{r:?}");
        assert!(r.converged, "{r:?}");
        let few = rho_min(&op, 5, 1e-6, 5);
        assert!(!few.converged && few.value >= 0.02 - 1e-9, "{few:?}");
    }

    #[test]
    fn hutchinson_error_bars_cover_the_trace() {
        let d = 50;
        let lambdas = spectrum(d);
        let m = matrix_with(&lambdas, 6);
        let op = DenseOperator { matrix: &m, dim: d };
        let exact: f64 = lambdas.iter().sum();
        let mut covered = 0;
        for seed in 0..40 {
            let t = hutchinson_trace(&op, 64, seed);
            assert_eq!(t.samples, 64);
            if (t.value - exact).abs() <= 2.0 * t.stderr {
                covered += 1;
            }
        }
        // two standard errors cover about 95 %
        assert!((32..=40).contains(&covered), "{covered} of 40");
    }

    #[test]
    fn slq_weights_sum_to_one_and_reproduce_the_mean_eigenvalue() {
        let d = 60;
        let lambdas = spectrum(d);
        let m = matrix_with(&lambdas, 8);
        let op = DenseOperator { matrix: &m, dim: d };
        let density = slq_density(&op, 20, 30, 9);
        let total: f64 = density.weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let mean: f64 = density
            .nodes
            .iter()
            .zip(&density.weights)
            .map(|(n, w)| n * w)
            .sum();
        let exact = lambdas.iter().sum::<f64>() / d as f64;
        assert!((mean - exact).abs() < 0.5, "{mean} vs {exact}");
        let grid: Vec<f64> = (0..200).map(|i| -10.0 + 0.35 * i as f64).collect();
        let smooth = density.smoothed(&grid, 0.5);
        let area: f64 = smooth.iter().sum::<f64>() * 0.35;
        assert!((area - 1.0).abs() < 0.05, "{area}");
    }
}
