//! Estimates of the constants δ, c, M, τ of docs/definitions.md on the box K.
//!
//! Each supremum or infimum is estimated by dense sampling of K (a grid, or uniform random
//! points when d > 3) followed by a local refinement of the extreme samples (compass search,
//! Kolda, Lewis & Torczon, SIAM Review 45, 2003). These are *estimates*: a supremum found this
//! way is a lower bound of the true one, an infimum an upper bound, with an error of the order
//! of the refinement's final step. The report says how many points were used.
//!
//! - τ = max(sup_K ‖∇L0‖, sup_K ρmax(∇²L0)) (A3).
//! - M = max over both parts of sup_K ‖D³L_g‖, where the norm of the symmetric third-derivative
//!   tensor T is max_{‖u‖=1} |T[u, u, u]| (equal to its operator norm by Banach's theorem on
//!   symmetric multilinear forms, 1938); by the mean-value theorem on the convex K this is the
//!   Lipschitz constant of the Hessian in the spectral norm (A2). Third derivatives are exact
//!   (hyper-hyper-dual numbers or closed forms).
//! - δ(c) = inf { ρmin(∇²L1(θ)) : θ ∈ K, ‖∇L1(θ)‖ ≤ c } (A1); when c is not given it is chosen
//!   among the sampled gradient norms to maximise the (A4) bound min{c/2, δ(c)/8, δ(c)²/(32M)}.

use rayon::prelude::*;
use serde::Serialize;

use crate::linalg::rho_min_max;
use crate::problem::Domain;
use crate::smooth::SmoothObjective;
use majmin_core::Rng;

/// The estimated constants and how they were obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConstantEstimates {
    /// δ(c): the smallest ρmin(∇²L1) where ‖∇L1‖ ≤ c.
    pub delta: f64,
    /// The gradient level c (given, or chosen).
    pub c: f64,
    /// Whether c was chosen here (not given).
    pub c_chosen: bool,
    /// M = max(M1, M0).
    #[serde(rename = "M")]
    pub m: f64,
    /// sup ‖D³L1‖.
    pub m_majority: f64,
    /// sup ‖D³L0‖.
    pub m_minority: f64,
    /// τ = max(sup ‖∇L0‖, sup ρmax(∇²L0)).
    pub tau: f64,
    /// sup ‖∇L0‖.
    pub tau_gradient: f64,
    /// sup ρmax(∇²L0).
    pub tau_hessian: f64,
    /// Sample points of K used for δ and τ.
    pub samples: usize,
    /// Sample points used for M (third derivatives).
    pub third_derivative_samples: usize,
    /// Extra evaluations spent in the local refinement.
    pub refinement_evaluations: usize,
    /// Where the minimising point of δ was found.
    pub delta_at: Vec<f64>,
    /// A reminder that these are estimates.
    pub note: String,
}

/// Settings of the estimation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantsConfig {
    /// Sample points for δ and τ (a grid of ⌊n^{1/d}⌋ per axis when d ≤ 3, random otherwise).
    pub samples: usize,
    /// Sample points for M.
    pub third_derivative_samples: usize,
    /// Seed of the random samples (d > 3).
    pub seed: u64,
}

impl Default for ConstantsConfig {
    fn default() -> Self {
        Self {
            samples: 10_000,
            third_derivative_samples: 2_500,
            seed: 0,
        }
    }
}

/// Points of K: a regular grid with `per_axis` points per coordinate (ends included) when
/// `d ≤ 3`, otherwise `count` uniform random points from `seed` (the corners always included).
pub fn sample_points(domain: &Domain, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let d = domain.dim();
    if d <= 3 {
        let per_axis = ((count as f64).powf(1.0 / d as f64).floor() as usize).max(2);
        return grid_points(domain, per_axis);
    }
    let mut rng = Rng::for_stream(seed, 0x636f_6e73);
    let mut out: Vec<Vec<f64>> = (0..count)
        .map(|_| {
            (0..d)
                .map(|i| rng.uniform_range(domain.lower[i], domain.upper[i]))
                .collect()
        })
        .collect();
    out.push(domain.lower.clone());
    out.push(domain.upper.clone());
    out
}

/// The regular grid with `n` points per axis (ends included), `n^d` points.
///
/// The caller bounds `n^d` (as [`crate::check()`] does with its limits); for an unbounded walk
/// over the first points of a grid use [`grid_iter`].
pub fn grid_points(domain: &Domain, n: usize) -> Vec<Vec<f64>> {
    grid_iter(domain, n).collect()
}

/// The points of the regular grid with `n` points per axis (ends included), lazily, in the order
/// of [`grid_points`] (first coordinate fastest). The count saturates at `usize::MAX`, so
/// `grid_iter(domain, 2).take(k)` costs O(k·d) whatever the dimension.
pub fn grid_iter(domain: &Domain, n: usize) -> impl Iterator<Item = Vec<f64>> + '_ {
    let d = domain.dim();
    let n = n.max(2);
    let total = u32::try_from(d)
        .ok()
        .and_then(|d| n.checked_pow(d))
        .unwrap_or(usize::MAX);
    (0..total).map(move |k| grid_point(domain, n, k))
}

/// Point number `k` of the regular grid with `n ≥ 2` points per axis (first coordinate fastest).
pub fn grid_point(domain: &Domain, n: usize, mut k: usize) -> Vec<f64> {
    (0..domain.dim())
        .map(|i| {
            let j = k % n;
            k /= n;
            domain.lower[i] + (domain.upper[i] - domain.lower[i]) * j as f64 / (n - 1) as f64
        })
        .collect()
}

/// max_{‖u‖=1} |T[u, u, u]| of a symmetric `d × d × d` tensor: exact scan plus golden-section
/// refinement in 2-D, shifted symmetric higher-order power iterations (Kolda & Mayo, SIAM J.
/// Matrix Anal. Appl. 32, 2011) from the axes and random directions otherwise.
pub fn cubic_form_norm(t: &[f64], d: usize) -> f64 {
    cubic_form_argmax(t, d).0
}

/// `T[u, u, u]`.
pub fn cubic_form(t: &[f64], d: usize, u: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..d {
        for j in 0..d {
            let uij = u[i] * u[j];
            for k in 0..d {
                s += t[(i * d + j) * d + k] * uij * u[k];
            }
        }
    }
    s
}

/// [`cubic_form_norm`] and a unit vector attaining it.
pub fn cubic_form_argmax(t: &[f64], d: usize) -> (f64, Vec<f64>) {
    let form = |u: &[f64]| cubic_form(t, d, u);
    match d {
        0 => (0.0, Vec::new()),
        1 => (t[0].abs(), vec![1.0]),
        2 => {
            let f = |phi: f64| form(&[phi.cos(), phi.sin()]).abs();
            let n = 72;
            let h = std::f64::consts::PI / n as f64;
            let best = (0..n)
                .map(|k| k as f64 * h)
                .max_by(|a, b| f(*a).total_cmp(&f(*b)))
                .unwrap_or(0.0);
            let (mut a, mut b) = (best - h, best + h);
            let r = 0.5 * (5f64.sqrt() - 1.0);
            for _ in 0..40 {
                let (x1, x2) = (b - r * (b - a), a + r * (b - a));
                if f(x1) > f(x2) {
                    b = x2;
                } else {
                    a = x1;
                }
            }
            let phi = if f(0.5 * (a + b)) > f(best) {
                0.5 * (a + b)
            } else {
                best
            };
            (f(phi), vec![phi.cos(), phi.sin()])
        }
        _ => {
            let frob = t.iter().map(|v| v * v).sum::<f64>().sqrt();
            if frob == 0.0 {
                let mut e = vec![0.0; d];
                e[0] = 1.0;
                return (0.0, e);
            }
            let mut rng = Rng::seed_from_u64(0x6d33);
            let mut starts: Vec<Vec<f64>> = (0..d)
                .map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect())
                .collect();
            for _ in 0..8 {
                starts.push((0..d).map(|_| rng.normal()).collect());
            }
            let mut best = (0.0f64, starts[0].clone());
            for mut u in starts {
                let n = u.iter().map(|v| v * v).sum::<f64>().sqrt();
                u.iter_mut().for_each(|v| *v /= n);
                for _ in 0..100 {
                    // v = T[u, u, ·] + α u, α = ‖T‖_F keeps the iteration monotone
                    let mut v: Vec<f64> = (0..d)
                        .map(|k| {
                            (0..d)
                                .map(|i| {
                                    (0..d)
                                        .map(|j| t[(i * d + j) * d + k] * u[i] * u[j])
                                        .sum::<f64>()
                                })
                                .sum::<f64>()
                        })
                        .collect();
                    let sign = if form(&u) < 0.0 { -1.0 } else { 1.0 };
                    v.iter_mut()
                        .zip(&u)
                        .for_each(|(a, b)| *a = sign * *a + frob * b);
                    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                    if n == 0.0 {
                        break;
                    }
                    v.iter_mut().for_each(|x| *x /= n);
                    let change: f64 = v.iter().zip(&u).map(|(a, b)| (a - b).abs()).sum();
                    u = v;
                    if change < 1e-12 {
                        break;
                    }
                }
                if form(&u).abs() > best.0 {
                    best = (form(&u).abs(), u);
                }
            }
            best
        }
    }
}

/// Compass search maximising `f` (`None` = infeasible) from `x0` inside K, from step `step`
/// down to `step · 1e-5`. Returns the best point, its value and the evaluations used.
pub fn compass_maximise(
    f: &(dyn Fn(&[f64]) -> Option<f64> + Sync),
    x0: &[f64],
    step: f64,
    domain: &Domain,
) -> (Vec<f64>, f64, usize) {
    let mut x = x0.to_vec();
    let mut fx = f(&x).unwrap_or(f64::NEG_INFINITY);
    let mut evals = 1;
    let mut h = step;
    let min_step = step * 1e-5;
    // the 2d coordinate directions, and in d ≤ 3 also the diagonals (a maximum of several smooth
    // functions has ridges along which coordinate moves alone stall)
    let d = x.len();
    let mut directions: Vec<Vec<f64>> = Vec::new();
    for i in 0..d {
        for s in [1.0, -1.0] {
            let mut e = vec![0.0; d];
            e[i] = s;
            directions.push(e);
        }
    }
    if (2..=3).contains(&d) {
        for mask in 0..(1usize << d) {
            directions.push(
                (0..d)
                    .map(|i| if mask >> i & 1 == 1 { -1.0 } else { 1.0 })
                    .collect(),
            );
        }
    }
    while h > min_step && evals < 1500 {
        let mut improved = false;
        for dir in &directions {
            {
                let mut y = x.clone();
                y.iter_mut().zip(dir).for_each(|(a, b)| *a += h * b);
                domain.clamp(&mut y);
                if y == x {
                    continue;
                }
                evals += 1;
                if let Some(fy) = f(&y) {
                    if fy > fx {
                        x = y;
                        fx = fy;
                        improved = true;
                    }
                }
            }
        }
        if !improved {
            h *= 0.5;
        }
    }
    (x, fx, evals)
}

/// Indices of the `k` largest `keys`, skipping points closer than `min_distance` to one already
/// chosen (so that separate local extremes all get refined, not one plateau `k` times).
fn spread_top(keys: &[f64], points: &[Vec<f64>], k: usize, min_distance: f64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
    let mut chosen: Vec<usize> = Vec::new();
    for i in idx {
        if chosen.len() == k {
            break;
        }
        if chosen
            .iter()
            .all(|&j| norm_diff(&points[i], &points[j]) >= min_distance)
        {
            chosen.push(i);
        }
    }
    chosen
}

/// [`spread_top`] plus the best point of each of the `3^d` sub-boxes of K (d ≤ 3): a global
/// maximum that the sampling undervalues is usually the best of its own region.
fn candidates(
    keys: &[f64],
    points: &[Vec<f64>],
    k: usize,
    min_distance: f64,
    domain: &Domain,
) -> Vec<usize> {
    let mut chosen = spread_top(keys, points, k, min_distance);
    let d = domain.dim();
    if d <= 3 {
        let cells = 3usize.pow(d as u32);
        let mut best: Vec<Option<usize>> = vec![None; cells];
        for (i, p) in points.iter().enumerate() {
            let mut cell = 0;
            for a in (0..d).rev() {
                let t = (p[a] - domain.lower[a]) / (domain.upper[a] - domain.lower[a]);
                cell = cell * 3 + ((t * 3.0).floor() as usize).min(2);
            }
            if best[cell].is_none_or(|j| keys[i] > keys[j]) {
                best[cell] = Some(i);
            }
        }
        for i in best.into_iter().flatten() {
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
    }
    chosen
}

fn norm_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

struct Sample {
    grad1: f64,
    rho_min1: f64,
    grad0: f64,
    rho_max0: f64,
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Estimates δ, c, M and τ of `majority` (L1) and `minority` (L0) on `domain`. `c` is used when
/// given; `extra_points` (e.g. the critical points of L1) are added to the δ samples.
pub fn estimate_constants(
    majority: &dyn SmoothObjective,
    minority: &dyn SmoothObjective,
    domain: &Domain,
    c: Option<f64>,
    extra_points: &[Vec<f64>],
    config: &ConstantsConfig,
) -> ConstantEstimates {
    let d = domain.dim();
    let mut points = sample_points(domain, config.samples, config.seed);
    points.extend(extra_points.iter().cloned());
    let spacing = (0..d)
        .map(|i| domain.upper[i] - domain.lower[i])
        .fold(f64::INFINITY, f64::min)
        / ((points.len() as f64).powf(1.0 / d as f64)).max(2.0);
    let samples: Vec<Sample> = points
        .par_iter()
        .map(|p| {
            let mut g = vec![0.0; d];
            majority.gradient(p, &mut g);
            let grad1 = norm(&g);
            let (rho_min1, _) = rho_min_max(&majority.hessian_matrix(p), d);
            minority.gradient(p, &mut g);
            let grad0 = norm(&g);
            let (_, rho_max0) = rho_min_max(&minority.hessian_matrix(p), d);
            Sample {
                grad1,
                rho_min1,
                grad0,
                rho_max0,
            }
        })
        .collect();
    let mut refinement_evaluations = 0;

    // τ
    let best_by = |key: &dyn Fn(&Sample) -> f64, k: usize| -> Vec<usize> {
        let keys: Vec<f64> = samples.iter().map(key).collect();
        candidates(&keys, &points, k, 3.0 * spacing, domain)
    };
    let grad0_f = |x: &[f64]| {
        let mut g = vec![0.0; d];
        minority.gradient(x, &mut g);
        Some(norm(&g))
    };
    let hess0_f = |x: &[f64]| Some(rho_min_max(&minority.hessian_matrix(x), d).1);
    let mut tau_gradient = samples.iter().map(|s| s.grad0).fold(0.0, f64::max);
    for i in best_by(&|s| s.grad0, 4) {
        let (_, v, e) = compass_maximise(&grad0_f, &points[i], spacing, domain);
        tau_gradient = tau_gradient.max(v);
        refinement_evaluations += e;
    }
    let mut tau_hessian = samples.iter().map(|s| s.rho_max0).fold(0.0, f64::max);
    for i in best_by(&|s| s.rho_max0, 4) {
        let (_, v, e) = compass_maximise(&hess0_f, &points[i], spacing, domain);
        tau_hessian = tau_hessian.max(v);
        refinement_evaluations += e;
    }
    let tau = tau_gradient.max(tau_hessian);

    // M
    let third_points = sample_points(domain, config.third_derivative_samples, config.seed ^ 0x4d);
    let third: Vec<(f64, f64)> = third_points
        .par_iter()
        .map(|p| {
            (
                cubic_form_norm(&majority.third_derivative(p), d),
                cubic_form_norm(&minority.third_derivative(p), d),
            )
        })
        .collect();
    let third_spacing = (0..d)
        .map(|i| domain.upper[i] - domain.lower[i])
        .fold(f64::INFINITY, f64::min)
        / ((third_points.len() as f64).powf(1.0 / d as f64)).max(2.0);
    let mut m_parts = [0.0f64; 2];
    for (part, f) in [majority, minority].into_iter().enumerate() {
        let key = |k: usize| if part == 0 { third[k].0 } else { third[k].1 };
        m_parts[part] = (0..third.len()).map(key).fold(0.0, f64::max);
        let keys: Vec<f64> = (0..third.len()).map(key).collect();
        // refine jointly in (θ, u): |T(θ)[u, u, u]| is smooth there, while its maximum over u
        // has ridges where two directions tie
        let joint = Domain {
            lower: domain
                .lower
                .iter()
                .copied()
                .chain(std::iter::repeat_n(-2.0, d))
                .collect(),
            upper: domain
                .upper
                .iter()
                .copied()
                .chain(std::iter::repeat_n(2.0, d))
                .collect(),
        };
        let objective = |z: &[f64]| {
            let (theta, v) = z.split_at(d);
            let n = norm(v);
            (n > 1e-3).then(|| {
                cubic_form(
                    &f.third_derivative(theta),
                    d,
                    &v.iter().map(|x| x / n).collect::<Vec<_>>(),
                )
                .abs()
            })
        };
        for i in candidates(&keys, &third_points, 4, 3.0 * third_spacing, domain) {
            if key(i) == 0.0 {
                continue;
            }
            let (_, u) = cubic_form_argmax(&f.third_derivative(&third_points[i]), d);
            let z0: Vec<f64> = third_points[i].iter().copied().chain(u).collect();
            let (_, v, e) = compass_maximise(&objective, &z0, third_spacing, &joint);
            m_parts[part] = m_parts[part].max(v);
            refinement_evaluations += e;
        }
    }
    let m = m_parts[0].max(m_parts[1]);

    // c and δ(c)
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by(|&a, &b| samples[a].grad1.total_cmp(&samples[b].grad1));
    let a4_bound = |c: f64, delta: f64| {
        let curvature = if m > 0.0 {
            delta * delta / (32.0 * m)
        } else {
            f64::INFINITY
        };
        (c / 2.0).min(delta / 8.0).min(curvature)
    };
    let (c, c_chosen) = match c {
        Some(c) => (c, false),
        None => {
            let mut running = f64::INFINITY;
            let mut best = (f64::NEG_INFINITY, samples[order[0]].grad1.max(1e-12));
            for &i in &order {
                running = running.min(samples[i].rho_min1);
                let c = samples[i].grad1;
                if c <= 0.0 {
                    continue;
                }
                let b = a4_bound(c, running);
                if b > best.0 {
                    best = (b, c);
                }
            }
            (best.1, true)
        }
    };
    let feasible: Vec<usize> = order
        .iter()
        .copied()
        .take_while(|&i| samples[i].grad1 <= c)
        .collect();
    let delta_f = |x: &[f64]| {
        let mut g = vec![0.0; d];
        majority.gradient(x, &mut g);
        (norm(&g) <= c).then(|| -rho_min_max(&majority.hessian_matrix(x), d).0)
    };
    let (mut delta, mut delta_at) = match feasible
        .iter()
        .min_by(|&&a, &&b| samples[a].rho_min1.total_cmp(&samples[b].rho_min1))
    {
        Some(&i) => (samples[i].rho_min1, points[i].clone()),
        None => (f64::INFINITY, Vec::new()),
    };
    let feasible_points: Vec<Vec<f64>> = feasible.iter().map(|&i| points[i].clone()).collect();
    let keys: Vec<f64> = feasible.iter().map(|&i| -samples[i].rho_min1).collect();
    for j in spread_top(&keys, &feasible_points, 6, 3.0 * spacing) {
        let i = feasible[j];
        let (x, v, e) = compass_maximise(&delta_f, &points[i], spacing, domain);
        refinement_evaluations += e;
        if -v < delta {
            delta = -v;
            delta_at = x;
        }
    }
    ConstantEstimates {
        delta,
        c,
        c_chosen,
        m,
        m_majority: m_parts[0],
        m_minority: m_parts[1],
        tau,
        tau_gradient,
        tau_hessian,
        samples: points.len(),
        third_derivative_samples: third_points.len(),
        refinement_evaluations,
        delta_at,
        note: "estimates: dense sampling of K plus local refinement of the extremes (not certified bounds)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;
    use crate::smooth::FormulaObjective;

    fn formula(src: &str) -> FormulaObjective {
        FormulaObjective::new(parse(src, &["x".to_string(), "y".to_string()]).unwrap())
    }

    #[test]
    fn cubic_form_norm_of_known_tensors() {
        // T = e1⊗e1⊗e1 · 6: max |6 u1³| = 6
        let mut t = vec![0.0; 8];
        t[0] = 6.0;
        assert!((cubic_form_norm(&t, 2) - 6.0).abs() < 1e-9);
        // x y² → t_{xyy} = 2 (all permutations): T[u,u,u] = 6 u1 u2², max over the circle 4/√3
        let mut t = vec![0.0; 8];
        for (i, j, k) in [(0, 1, 1), (1, 0, 1), (1, 1, 0)] {
            t[(i * 2 + j) * 2 + k] = 2.0;
        }
        let exact = 6.0 * (1.0 / 3f64.sqrt()) * (2.0 / 3.0);
        assert!(
            (cubic_form_norm(&t, 2) - exact).abs() < 1e-9,
            "{}",
            cubic_form_norm(&t, 2)
        );
        // the same in 3-D, embedded: power iterations must find it
        let mut t3 = vec![0.0; 27];
        for (i, j, k) in [(0, 2, 2), (2, 0, 2), (2, 2, 0)] {
            t3[(i * 3 + j) * 3 + k] = 2.0;
        }
        assert!(
            (cubic_form_norm(&t3, 3) - exact).abs() < 1e-6,
            "{}",
            cubic_form_norm(&t3, 3)
        );
    }

    #[test]
    fn constants_of_a_quadratic_problem_are_exact() {
        // L1 = x² + 2 y² (δ = 2, M1 = 0), L0 = 0.01 ((x − 1)² + y²) on [−1, 1]²:
        // sup ‖∇L0‖ = 0.02 · √(2² + 1²), ρmax(∇²L0) = 0.02, M = 0.
        let l1 = formula("x^2 + 2*y^2");
        let l0 = formula("0.01*((x - 1)^2 + y^2)");
        let est = estimate_constants(
            &l1,
            &l0,
            &Domain::cube(2, -1.0, 1.0),
            Some(0.5),
            &[],
            &ConstantsConfig {
                samples: 400,
                third_derivative_samples: 100,
                seed: 0,
            },
        );
        assert!((est.delta - 2.0).abs() < 1e-12);
        assert_eq!(est.m, 0.0);
        assert!((est.tau_gradient - 0.02 * 5f64.sqrt()).abs() < 1e-9);
        assert!((est.tau_hessian - 0.02).abs() < 1e-12);
    }

    #[test]
    fn constants_of_a_double_well_match_hand_computation() {
        // L1 = (x² − 1)² + y²/2: D³ = 24x e1³ → M = 72 on [−3, 3]²; with c = 0.5 the set
        // ‖∇L1‖ ≤ c stays near the critical points where ρmin = 1 (from the y direction).
        let l1 = formula("(x^2 - 1)^2 + 0.5*y^2");
        let l0 = formula("0.02*((x - 0.3)^2 + (y + 0.5)^2)");
        let est = estimate_constants(
            &l1,
            &l0,
            &Domain::cube(2, -3.0, 3.0),
            Some(0.5),
            &[],
            &ConstantsConfig {
                samples: 2500,
                third_derivative_samples: 400,
                seed: 0,
            },
        );
        assert!((est.m - 72.0).abs() < 1e-6, "{}", est.m);
        assert!((est.delta - 1.0).abs() < 1e-9, "{}", est.delta);
        let far = ((3.3f64).powi(2) + 3.5f64.powi(2)).sqrt();
        assert!((est.tau - 0.04 * far).abs() < 1e-9, "{}", est.tau);
    }
}
