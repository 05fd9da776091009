//! The constants δ, c, M, τ of SPEC §1 on a region K of a high-dimensional parameter space — a
//! ball `B(θ_c, R)` or the segment between two points — for any [`Objective`], so that they can
//! be measured on networks (only gradients and Hessian-vector products are used) as well as on
//! formula problems.
//!
//! Where [`crate::constants`] samples a low-dimensional box densely and works with whole
//! Hessians, here every quantity comes from products `H·v`:
//!
//! - **c and δ** (A1): at each sampled point, `‖∇L1‖` and `ρmin(∇²L1)` by Lanczos on `H²`
//!   ([`crate::spectrum::rho_min`]); δ(c) is the smallest `ρmin` over the samples with
//!   `‖∇L1‖ ≤ c`. When c is not given it is chosen among the sampled gradient norms to maximise
//!   the (A4) bound `min{c/2, δ(c)/8, δ(c)²/(32M)}`, as for formula problems.
//! - **M** (A2): for sampled pairs `(θa, θb)`, the spectral norm of `∇²L_g(θa) − ∇²L_g(θb)` by
//!   Lanczos on the difference operator (both ends of its spectrum), divided by `‖θa − θb‖`, for
//!   `g = 1` and `g = 0`; M is the largest.
//! - **τ** (A3): the largest `‖∇L0‖` and `ρmax(∇²L0)` over the samples, each refined from its best
//!   sample by a few steps of projected ascent that accept only improvements: on `½‖∇L0‖²`
//!   (whose gradient is `∇²L0 ∇L0`, one product) and on the Rayleigh quotient `xᵀ∇²L0(θ)x` of
//!   the top eigenvector `x` (whose gradient `D³L0[x, x, ·]` is a second difference of
//!   gradients).
//!
//! **These are estimates, not bounds.** A supremum estimated from samples (M, τ) is a lower
//! bound of the true supremum over K; an infimum (δ) is an upper bound of the true infimum. Each
//! estimate carries its sample count, and the Lanczos values their convergence flags. The centre
//! of a ball (the first point of a segment) is always a sample, so the estimates bracket the
//! values at the centre: τ ≥ `‖∇L0‖` and τ ≥ `ρmax(∇²L0)` there, and δ ≤ `ρmin(∇²L1)` there when
//! `‖∇L1‖ ≤ c`.
//!
//! [`assess`] turns the estimates into (A1)–(A4) with the same fields as [`crate::check()`]'s
//! report (SPEC §7).

use majmin_core::objective::{dot, norm};
use majmin_core::{Objective, Rng};
use serde::Serialize;

use crate::check::{Assumptions, Constants};
use crate::linalg::symmetric_eigen;
use crate::spectrum::{extreme_eigenvalues, lanczos, rho_min, FnOperator, SymmetricOperator};

/// What went wrong while estimating constants on a region.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// A vector of the wrong length.
    #[error("{what} has {found} values; the objective has {expected} parameters")]
    Dimension {
        /// Which vector.
        what: String,
        /// The objective's dimension.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// A radius, a point or a setting that is not usable.
    #[error("{0}")]
    Invalid(String),
    /// An objective gave NaN or an infinite value.
    #[error("{what} is not finite at {at}: the objective failed there (a NaN or infinite loss or gradient)")]
    NotFinite {
        /// Which quantity (`∇L1`, `L0`, …).
        what: &'static str,
        /// Where (a sample number or a phase).
        at: String,
    },
}

/// The region K.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Region {
    /// The closed ball `B(center, radius)`.
    Ball {
        /// Its centre.
        #[serde(skip)]
        center: Vec<f64>,
        /// Its radius.
        radius: f64,
    },
    /// The segment `[start, end]`.
    Segment {
        /// One end (the "centre" of the estimates).
        #[serde(skip)]
        start: Vec<f64>,
        /// The other end.
        #[serde(skip)]
        end: Vec<f64>,
        /// `‖end − start‖`.
        length: f64,
    },
}

fn finite(what: &str, v: &[f64]) -> Result<(), RegionError> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(RegionError::Invalid(format!(
            "{what}: value {} of {} is {}; expected finite numbers",
            i + 1,
            v.len(),
            v[i]
        ))),
        None => Ok(()),
    }
}

impl Region {
    /// The ball `B(center, radius)`; the radius must be finite and positive.
    pub fn ball(center: Vec<f64>, radius: f64) -> Result<Self, RegionError> {
        if !(radius.is_finite() && radius > 0.0) {
            return Err(RegionError::Invalid(format!(
                "the radius of K is {radius}; expected a finite number > 0"
            )));
        }
        finite("the centre of K", &center)?;
        Ok(Region::Ball { center, radius })
    }

    /// The segment between `start` and `end` (of equal lengths, distinct).
    pub fn segment(start: Vec<f64>, end: Vec<f64>) -> Result<Self, RegionError> {
        if start.len() != end.len() {
            return Err(RegionError::Dimension {
                what: "the segment's second end".into(),
                expected: start.len(),
                found: end.len(),
            });
        }
        finite("the segment's first end", &start)?;
        finite("the segment's second end", &end)?;
        let length = distance(&start, &end);
        if length == 0.0 {
            return Err(RegionError::Invalid(
                "the two ends of the segment are the same point; expected distinct points".into(),
            ));
        }
        Ok(Region::Segment { start, end, length })
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.center().len()
    }

    /// The centre of a ball, the first end of a segment.
    pub fn center(&self) -> &[f64] {
        match self {
            Region::Ball { center, .. } => center,
            Region::Segment { start, .. } => start,
        }
    }

    /// The diameter.
    pub fn diameter(&self) -> f64 {
        match self {
            Region::Ball { radius, .. } => 2.0 * radius,
            Region::Segment { length, .. } => *length,
        }
    }

    /// A random point of K. In a ball the direction is uniform and the distance to the centre is
    /// uniform in `[0, R]` (so that small and large distances are both sampled; a volume-uniform
    /// point in high dimension is almost always near the sphere); on a segment the position is
    /// uniform.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        match self {
            Region::Ball { center, radius } => {
                let dir: Vec<f64> = (0..center.len()).map(|_| rng.normal()).collect();
                let n = norm(&dir).max(f64::MIN_POSITIVE);
                let r = radius * rng.uniform();
                center
                    .iter()
                    .zip(&dir)
                    .map(|(c, u)| c + r * u / n)
                    .collect()
            }
            Region::Segment { start, end, .. } => {
                let t = rng.uniform();
                start
                    .iter()
                    .zip(end)
                    .map(|(a, b)| a + t * (b - a))
                    .collect()
            }
        }
    }

    /// The nearest point of K to `p`, in place.
    pub fn project(&self, p: &mut [f64]) {
        match self {
            Region::Ball { center, radius } => {
                let r = distance(p, center);
                if r > *radius {
                    let s = radius / r;
                    p.iter_mut()
                        .zip(center)
                        .for_each(|(x, c)| *x = c + s * (*x - c));
                }
            }
            Region::Segment { start, end, length } => {
                let num: f64 = p
                    .iter()
                    .zip(start)
                    .zip(end)
                    .map(|((x, a), b)| (x - a) * (b - a))
                    .sum();
                let t = (num / (length * length)).clamp(0.0, 1.0);
                p.iter_mut()
                    .zip(start)
                    .zip(end)
                    .for_each(|((x, a), b)| *x = a + t * (b - a));
            }
        }
    }

    /// Whether `p` lies in K up to `slack`.
    pub fn contains(&self, p: &[f64], slack: f64) -> bool {
        let mut q = p.to_vec();
        self.project(&mut q);
        distance(p, &q) <= slack
    }
}

/// Euclidean distance.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Settings of [`estimate_region_constants`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionConfig {
    /// Points of K for c, δ and τ, the centre included (default 8, at least 1).
    pub samples: usize,
    /// Pairs of points for M (default 4; 0 skips M, which is then reported as 0).
    pub pairs: usize,
    /// Lanczos steps for the extreme eigenvalues (ρmax of ∇²L0, of the differences; default 20).
    pub lanczos_steps: usize,
    /// Lanczos steps on `H²` for ρmin(∇²L1) (default 30).
    pub rho_min_steps: usize,
    /// Steps of local ascent refining each part of τ (default 3).
    pub ascent_steps: usize,
    /// The gradient level c of (A1) (default: chosen to maximise the (A4) bound).
    pub c: Option<f64>,
    /// Seed of the samples and of the Lanczos starts.
    pub seed: u64,
}

impl Default for RegionConfig {
    fn default() -> Self {
        Self {
            samples: 8,
            pairs: 4,
            lanczos_steps: 20,
            rho_min_steps: 30,
            ascent_steps: 3,
            c: None,
            seed: 0,
        }
    }
}

impl RegionConfig {
    /// Refuses settings that cannot give an estimate.
    pub fn validate(&self) -> Result<(), RegionError> {
        if self.samples == 0 {
            return Err(RegionError::Invalid(
                "samples is 0; expected at least 1 point of K (the centre)".into(),
            ));
        }
        if self.lanczos_steps == 0 || self.rho_min_steps == 0 {
            return Err(RegionError::Invalid(format!(
                "lanczos_steps = {} and rho_min_steps = {}: expected at least 1 Lanczos step each",
                self.lanczos_steps, self.rho_min_steps
            )));
        }
        if let Some(c) = self.c {
            if !(c.is_finite() && c > 0.0) {
                return Err(RegionError::Invalid(format!(
                    "c = {c}: expected a finite gradient level > 0"
                )));
            }
        }
        Ok(())
    }
}

/// The first- and second-order quantities at one point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PointMeasures {
    /// `‖∇L1‖`.
    pub majority_gradient_norm: f64,
    /// `ρmin(∇²L1)` (Lanczos on `H²`: an upper bound of the true value when not converged).
    pub majority_rho_min: f64,
    /// Whether that ρmin converged (its residual is small).
    pub majority_rho_min_converged: bool,
    /// `ρmax(∇²L1) = max |λ|` (Lanczos: a lower bound of the true value).
    pub majority_rho_max: f64,
    /// `‖∇L0‖`.
    pub minority_gradient_norm: f64,
    /// `ρmax(∇²L0) = max |λ|` (Lanczos: a lower bound of the true value).
    pub minority_rho_max: f64,
}

/// The estimated constants on K and how they were obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionEstimates {
    /// δ(c): the smallest ρmin(∇²L1) over the samples with `‖∇L1‖ ≤ c` (∞ when none has).
    pub delta: f64,
    /// Samples with `‖∇L1‖ ≤ c`, over which δ is the minimum.
    pub delta_samples: usize,
    /// Whether the Lanczos value that gave δ converged.
    pub delta_converged: bool,
    /// The gradient level c (given, or chosen).
    pub c: f64,
    /// Whether c was chosen here (not given).
    pub c_chosen: bool,
    /// Whether every sample had `‖∇L1‖ ≤ c`, so that c was raised to the mean-value bound
    /// `‖∇L1(centre)‖ + R · sup ρmax(∇²L1)` of `sup_K ‖∇L1‖` (an estimate too).
    pub c_covers_region: bool,
    /// M = max(M1, M0).
    #[serde(rename = "M")]
    pub m: f64,
    /// The largest `ρmax(∇²L1(θa) − ∇²L1(θb)) / ‖θa − θb‖`.
    pub m_majority: f64,
    /// The largest `ρmax(∇²L0(θa) − ∇²L0(θb)) / ‖θa − θb‖`.
    pub m_minority: f64,
    /// Pairs of points behind M.
    pub m_pairs: usize,
    /// τ = max(sup ‖∇L0‖, sup ρmax(∇²L0)).
    pub tau: f64,
    /// sup ‖∇L0‖ (samples, then ascent).
    pub tau_gradient: f64,
    /// sup ρmax(∇²L0) (samples, then ascent).
    pub tau_hessian: f64,
    /// Points behind τ (the samples; the ascent adds `ascent_steps` per part).
    pub tau_samples: usize,
    /// Ascent steps taken per part of τ (each accepted only if it increases the value).
    pub ascent_steps: usize,
    /// Points of K sampled (centre included).
    pub samples: usize,
    /// The measures at the centre of K.
    pub at_center: PointMeasures,
    /// Gradient evaluations spent (a Hessian-vector product counts two).
    pub gradient_evaluations: usize,
    /// What the numbers are.
    pub note: String,
}

/// The note every region report carries.
pub const REGION_NOTE: &str = "estimates from sampled points of K, not certified bounds: sup-estimates (M, τ) are lower bounds of the true suprema over K, min-estimates (δ) upper bounds of the true infimum";

/// Progress of a long computation: units done and the total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Counts the products and gradients an objective is asked for.
struct Counted<'a> {
    f: &'a dyn Objective,
    gradients: std::cell::Cell<usize>,
}

impl<'a> Counted<'a> {
    fn new(f: &'a dyn Objective) -> Self {
        Self {
            f,
            gradients: std::cell::Cell::new(0),
        }
    }

    fn gradient(
        &self,
        theta: &[f64],
        what: &'static str,
        at: &str,
    ) -> Result<Vec<f64>, RegionError> {
        let mut g = vec![0.0; self.f.dim()];
        self.f.gradient(theta, &mut g);
        self.gradients.set(self.gradients.get() + 1);
        if g.iter().any(|x| !x.is_finite()) {
            return Err(RegionError::NotFinite {
                what,
                at: at.to_string(),
            });
        }
        Ok(g)
    }

    fn hvp(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        self.f.hessian_vector_product(theta, v, out);
        self.gradients.set(self.gradients.get() + 2);
    }

    fn operator<'b>(&'b self, theta: &'b [f64]) -> impl SymmetricOperator + 'b {
        FnOperator::new(self.f.dim(), move |v: &[f64], out: &mut [f64]| {
            self.hvp(theta, v, out)
        })
    }
}

/// `max |λ|` of an operator (both ends of the Lanczos spectrum) and the unit eigenvector of
/// the end that gives it.
fn spectral_radius(op: &dyn SymmetricOperator, steps: usize, seed: u64) -> (f64, Vec<f64>, f64) {
    let dim = op.dim();
    let mut rng = Rng::seed_from_u64(seed);
    let start: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let l = lanczos(op, &start, steps);
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
    let (k, sign) = if values[m - 1].abs() >= values[0].abs() {
        (m - 1, 1.0)
    } else {
        (0, -1.0)
    };
    let mut x = vec![0.0; dim];
    for (c, q) in vectors[k].iter().zip(&l.basis) {
        x.iter_mut().zip(q).for_each(|(a, b)| *a += c * b);
    }
    let n = norm(&x).max(f64::MIN_POSITIVE);
    x.iter_mut().for_each(|a| *a /= n);
    (values[k].abs(), x, sign)
}

/// The unit eigenvector of the algebraically largest eigenvalue of `op` (Lanczos from a seeded
/// start) and that eigenvalue: the top eigenvector of a Hessian, e.g. for the figure's plane.
pub fn top_eigenvector(op: &dyn SymmetricOperator, steps: usize, seed: u64) -> (f64, Vec<f64>) {
    let dim = op.dim();
    let mut rng = Rng::seed_from_u64(seed);
    let start: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let l = lanczos(op, &start, steps);
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
    let mut x = vec![0.0; dim];
    for (c, q) in vectors[m - 1].iter().zip(&l.basis) {
        x.iter_mut().zip(q).for_each(|(a, b)| *a += c * b);
    }
    let n = norm(&x).max(f64::MIN_POSITIVE);
    x.iter_mut().for_each(|a| *a /= n);
    (values[m - 1], x)
}

fn unit(v: &[f64]) -> Option<Vec<f64>> {
    let n = norm(v);
    (n > 0.0 && n.is_finite()).then(|| v.iter().map(|x| x / n).collect())
}

/// Projected ascent on `value` from `start` along the directions `direction(θ)`, accepting a
/// step only if it increases the value (halving it up to four times otherwise). Returns the best
/// value and point.
fn ascend(
    region: &Region,
    start: &[f64],
    start_value: f64,
    steps: usize,
    mut direction: impl FnMut(&[f64]) -> Result<Option<Vec<f64>>, RegionError>,
    mut value: impl FnMut(&[f64]) -> Result<f64, RegionError>,
) -> Result<(f64, Vec<f64>), RegionError> {
    let mut best = (start_value, start.to_vec());
    let mut step = 0.25 * region.diameter();
    for _ in 0..steps {
        let Some(u) = direction(&best.1)? else {
            break;
        };
        let mut improved = false;
        for _ in 0..5 {
            let mut candidate: Vec<f64> =
                best.1.iter().zip(&u).map(|(x, d)| x + step * d).collect();
            region.project(&mut candidate);
            let v = value(&candidate)?;
            if v > best.0 {
                best = (v, candidate);
                improved = true;
                break;
            }
            step *= 0.5;
        }
        if !improved {
            break;
        }
    }
    Ok(best)
}

/// Estimates δ, c, M and τ of `majority` (L1) and `minority` (L0) on `region`, reporting
/// `progress(done, total)` after each sample, pair and ascent (see the module documentation for
/// the method and what the numbers mean).
///
/// # Errors
/// [`RegionError::Dimension`] when the objectives and the region disagree,
/// [`RegionError::Invalid`] for unusable settings, [`RegionError::NotFinite`] when a gradient is
/// NaN or infinite at a sample.
pub fn estimate_region_constants(
    majority: &dyn Objective,
    minority: &dyn Objective,
    region: &Region,
    config: &RegionConfig,
    progress: Progress<'_>,
) -> Result<RegionEstimates, RegionError> {
    config.validate()?;
    let d = region.dim();
    for (what, f) in [("L1", majority), ("L0", minority)] {
        if f.dim() != d {
            return Err(RegionError::Dimension {
                what: format!("the centre of K (for {what})"),
                expected: f.dim(),
                found: d,
            });
        }
    }
    let l1 = Counted::new(majority);
    let l0 = Counted::new(minority);
    let total_units = (config.samples + config.pairs + 2) as u64;
    let mut done = 0u64;
    let mut rng = Rng::for_stream(config.seed, 0x7265_6769);

    // samples: the centre first
    let mut points = vec![region.center().to_vec()];
    while points.len() < config.samples {
        points.push(region.sample(&mut rng));
    }
    let mut measures: Vec<PointMeasures> = Vec::with_capacity(points.len());
    let mut top_vectors: Vec<(Vec<f64>, f64)> = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let at = if i == 0 {
            "the centre of K".to_string()
        } else {
            format!("sample {i} of K")
        };
        let g1 = l1.gradient(p, "∇L1", &at)?;
        let g0 = l0.gradient(p, "∇L0", &at)?;
        let rho = rho_min(
            &l1.operator(p),
            config.rho_min_steps,
            1e-3,
            config.seed.wrapping_add(i as u64),
        );
        let (rho_max1, _, _) = spectral_radius(
            &l1.operator(p),
            config.lanczos_steps,
            config.seed.wrapping_add(0x4000 + i as u64),
        );
        let (rho_max0, x, sign) = spectral_radius(
            &l0.operator(p),
            config.lanczos_steps,
            config.seed.wrapping_add(0x1000 + i as u64),
        );
        if !rho.value.is_finite() || !rho_max0.is_finite() || !rho_max1.is_finite() {
            return Err(RegionError::NotFinite {
                what: "a Hessian-vector product",
                at,
            });
        }
        measures.push(PointMeasures {
            majority_gradient_norm: norm(&g1),
            majority_rho_min: rho.value,
            majority_rho_min_converged: rho.converged,
            majority_rho_max: rho_max1,
            minority_gradient_norm: norm(&g0),
            minority_rho_max: rho_max0,
        });
        top_vectors.push((x, sign));
        done += 1;
        progress(done, total_units);
    }

    // M: the difference operators of random pairs
    let mut m_parts = [0.0f64; 2];
    let mut m_pairs = 0;
    for k in 0..config.pairs {
        let a = region.sample(&mut rng);
        let b = region.sample(&mut rng);
        let gap = distance(&a, &b);
        if gap == 0.0 {
            continue;
        }
        for (part, f) in [&l1, &l0].into_iter().enumerate() {
            let op = FnOperator::new(d, |v: &[f64], out: &mut [f64]| {
                let mut other = vec![0.0; d];
                f.hvp(&a, v, out);
                f.hvp(&b, v, &mut other);
                out.iter_mut().zip(&other).for_each(|(o, x)| *o -= x);
            });
            let e = extreme_eigenvalues(
                &op,
                1,
                config.lanczos_steps,
                1e-3,
                config.seed.wrapping_add(0x2000 + k as u64),
            );
            let radius = e
                .top
                .iter()
                .chain(&e.bottom)
                .map(|r| r.value.abs())
                .fold(0.0, f64::max);
            if !radius.is_finite() {
                return Err(RegionError::NotFinite {
                    what: "a Hessian-vector product",
                    at: format!("pair {k} of K"),
                });
            }
            m_parts[part] = m_parts[part].max(radius / gap);
        }
        m_pairs += 1;
        done += 1;
        progress(done, total_units);
    }
    let m = m_parts[0].max(m_parts[1]);

    // τ, gradient part: ascent on ½‖∇L0‖² from the best sample
    let best_grad = (0..points.len())
        .max_by(|&a, &b| {
            measures[a]
                .minority_gradient_norm
                .total_cmp(&measures[b].minority_gradient_norm)
        })
        .unwrap_or(0);
    let (tau_gradient, _) = ascend(
        region,
        &points[best_grad],
        measures[best_grad].minority_gradient_norm,
        config.ascent_steps,
        |theta| {
            let g = l0.gradient(theta, "∇L0", "an ascent step for τ")?;
            let mut hg = vec![0.0; d];
            l0.hvp(theta, &g, &mut hg);
            Ok(unit(&hg))
        },
        |theta| Ok(norm(&l0.gradient(theta, "∇L0", "an ascent step for τ")?)),
    )?;
    done += 1;
    progress(done, total_units);

    // τ, Hessian part: ascent on the Rayleigh quotient of the top eigenvector, then Lanczos
    let best_hess = (0..points.len())
        .max_by(|&a, &b| {
            measures[a]
                .minority_rho_max
                .total_cmp(&measures[b].minority_rho_max)
        })
        .unwrap_or(0);
    let (x, sign) = top_vectors[best_hess].clone();
    let rayleigh = |theta: &[f64]| -> Result<f64, RegionError> {
        let mut hx = vec![0.0; d];
        l0.hvp(theta, &x, &mut hx);
        let q = sign * dot(&x, &hx);
        if q.is_finite() {
            Ok(q)
        } else {
            Err(RegionError::NotFinite {
                what: "a Hessian-vector product",
                at: "an ascent step for τ".into(),
            })
        }
    };
    let start_value = rayleigh(&points[best_hess])?;
    let (mut tau_hessian, best_point) = ascend(
        region,
        &points[best_hess],
        start_value,
        config.ascent_steps,
        |theta| {
            // ∇_θ xᵀ∇²L0(θ)x = D³L0[x, x, ·] ≈ (∇L0(θ + hx) + ∇L0(θ − hx) − 2∇L0(θ)) / h²
            let h = 1e-2 * (norm(theta) / (d as f64).sqrt()).max(1.0);
            let plus: Vec<f64> = theta.iter().zip(&x).map(|(t, v)| t + h * v).collect();
            let minus: Vec<f64> = theta.iter().zip(&x).map(|(t, v)| t - h * v).collect();
            let gp = l0.gradient(&plus, "∇L0", "an ascent step for τ")?;
            let gm = l0.gradient(&minus, "∇L0", "an ascent step for τ")?;
            let g = l0.gradient(theta, "∇L0", "an ascent step for τ")?;
            let dir: Vec<f64> = (0..d)
                .map(|i| sign * (gp[i] + gm[i] - 2.0 * g[i]) / (h * h))
                .collect();
            Ok(unit(&dir))
        },
        rayleigh,
    )?;
    if config.ascent_steps > 0 && best_point != points[best_hess] {
        let (r, _, _) = spectral_radius(
            &l0.operator(&best_point),
            config.lanczos_steps,
            config.seed.wrapping_add(0x3000),
        );
        if r.is_finite() {
            tau_hessian = tau_hessian.max(r);
        }
    }
    let sampled_hessian = measures
        .iter()
        .map(|s| s.minority_rho_max)
        .fold(0.0, f64::max);
    let sampled_gradient = measures
        .iter()
        .map(|s| s.minority_gradient_norm)
        .fold(0.0, f64::max);
    let tau_hessian = tau_hessian.max(sampled_hessian);
    let tau_gradient = tau_gradient.max(sampled_gradient);
    let tau = tau_gradient.max(tau_hessian);
    done += 1;
    progress(done, total_units);

    // c and δ(c), as for formula problems: c maximises the (A4) bound when not given
    let mut order: Vec<usize> = (0..measures.len()).collect();
    order.sort_by(|&a, &b| {
        measures[a]
            .majority_gradient_norm
            .total_cmp(&measures[b].majority_gradient_norm)
    });
    let (mut c, c_chosen) = match config.c {
        Some(c) => (c, false),
        None => {
            let mut running = f64::INFINITY;
            let mut best = (
                f64::NEG_INFINITY,
                measures[order[0]].majority_gradient_norm.max(1e-12),
            );
            for &i in &order {
                running = running.min(measures[i].majority_rho_min);
                let c = measures[i].majority_gradient_norm;
                if c <= 0.0 {
                    continue;
                }
                let b = a4_bound(c, running, m);
                if b > best.0 {
                    best = (b, c);
                }
            }
            (best.1, true)
        }
    };
    // When every sample satisfies ‖∇L1‖ ≤ c, a larger c changes nothing on the samples: take the
    // mean-value bound ‖∇L1(centre)‖ + reach · sup ρmax(∇²L1) of sup_K ‖∇L1‖ (K is convex), so
    // that (A1) speaks about all of K and a small K does not make c/2 the binding term of (A4).
    let all_feasible = measures.iter().all(|s| s.majority_gradient_norm <= c);
    let c_covers_region = c_chosen && all_feasible;
    if c_covers_region {
        let reach = match region {
            Region::Ball { radius, .. } => *radius,
            Region::Segment { length, .. } => *length,
        };
        let curvature = measures
            .iter()
            .map(|s| s.majority_rho_max)
            .fold(0.0, f64::max);
        c = c.max(measures[0].majority_gradient_norm + reach * curvature);
    }
    let feasible: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| measures[i].majority_gradient_norm <= c)
        .collect();
    let arg = feasible.iter().copied().min_by(|&a, &b| {
        measures[a]
            .majority_rho_min
            .total_cmp(&measures[b].majority_rho_min)
    });
    let (delta, delta_converged) = match arg {
        Some(i) => (
            measures[i].majority_rho_min,
            measures[i].majority_rho_min_converged,
        ),
        None => (f64::INFINITY, true),
    };
    Ok(RegionEstimates {
        delta,
        delta_samples: feasible.len(),
        delta_converged,
        c,
        c_chosen,
        c_covers_region,
        m,
        m_majority: m_parts[0],
        m_minority: m_parts[1],
        m_pairs,
        tau,
        tau_gradient,
        tau_hessian,
        tau_samples: points.len(),
        ascent_steps: config.ascent_steps,
        samples: points.len(),
        at_center: measures[0],
        gradient_evaluations: l1.gradients.get() + l0.gradients.get(),
        note: REGION_NOTE.into(),
    })
}

/// `min{c/2, δ/8, δ²/(32M)}`, the bound τ must stay under in (A4).
pub fn a4_bound(c: f64, delta: f64, m: f64) -> f64 {
    let curvature = if m > 0.0 {
        delta * delta / (32.0 * m)
    } else {
        f64::INFINITY
    };
    (c / 2.0).min(delta / 8.0).min(curvature)
}

/// (A1)–(A4) from estimated constants, with the same fields as a formula problem's report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegionAssessment {
    /// The constants in use (the estimates).
    pub constants: Constants,
    /// (A1)–(A4).
    pub assumptions: Assumptions,
    /// min{c/2, δ/8, δ²/(32M)}.
    pub a4_bound: f64,
    /// 4τ/δ (Theorem 1).
    pub bound_critical: f64,
    /// 2τ/δ (Theorem 2).
    pub bound_zone: f64,
}

/// Decides (A1)–(A4) with the estimated constants: (A1) holds when δ is finite and positive
/// (some sample has `‖∇L1‖ ≤ c`), (A2) and (A3) when M and τ are finite, (A4) when
/// `τ < min{c/2, δ/8, δ²/(32M)}`.
pub fn assess(estimates: &RegionEstimates) -> RegionAssessment {
    let constants = Constants {
        delta: estimates.delta,
        c: estimates.c,
        m: estimates.m,
        tau: estimates.tau,
    };
    let a1 = estimates.delta.is_finite() && estimates.delta > 0.0;
    let a2 = estimates.m.is_finite();
    let a3 = estimates.tau.is_finite();
    let bound = a4_bound(constants.c, constants.delta, constants.m);
    let a4 = a1 && constants.tau < bound;
    RegionAssessment {
        constants,
        assumptions: Assumptions { a1, a2, a3, a4 },
        a4_bound: bound,
        bound_critical: 4.0 * constants.tau / constants.delta,
        bound_zone: 2.0 * constants.tau / constants.delta,
    }
}

/// The verdict on a network: the formula problems' three values and `inconclusive`, for a
/// Theorem 1 experiment whose descents did not reach the gradient tolerance (their end points
/// are then not critical points, so the distance says nothing about the theorem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionVerdict {
    /// (A1)–(A4) hold on K (and the conclusions checked hold).
    Holds,
    /// Some assumption fails on K.
    AssumptionsFail,
    /// The assumptions hold but a conclusion fails: a bug or a counterexample.
    Violated,
    /// The assumptions hold but a descent stopped short of its tolerance.
    Inconclusive,
}

impl RegionVerdict {
    /// `holds`, `assumptions-fail`, `violated` or `inconclusive`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RegionVerdict::Holds => "holds",
            RegionVerdict::AssumptionsFail => "assumptions-fail",
            RegionVerdict::Violated => "violated",
            RegionVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// The constants on a region with their assessment: what `majmin theory --radius` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionReport {
    /// K.
    pub region: Region,
    /// The dimension.
    pub dim: usize,
    /// The constants in use.
    pub constants: Constants,
    /// The estimates and how they were obtained.
    pub estimates: RegionEstimates,
    /// (A1)–(A4).
    pub assumptions: Assumptions,
    /// min{c/2, δ/8, δ²/(32M)}.
    pub a4_bound: f64,
    /// 4τ/δ.
    pub bound_critical: f64,
    /// 2τ/δ.
    pub bound_zone: f64,
    /// `holds` when (A1)–(A4) hold on K (Theorems 1 and 2 then apply there), otherwise
    /// `assumptions-fail`.
    pub verdict: RegionVerdict,
    /// The settings used.
    pub settings: RegionConfig,
}

/// Estimates the constants on `region` and assesses (A1)–(A4): the whole region check.
pub fn check_region(
    majority: &dyn Objective,
    minority: &dyn Objective,
    region: &Region,
    config: &RegionConfig,
    progress: Progress<'_>,
) -> Result<RegionReport, RegionError> {
    let estimates = estimate_region_constants(majority, minority, region, config, progress)?;
    let a = assess(&estimates);
    Ok(RegionReport {
        region: region.clone(),
        dim: region.dim(),
        constants: a.constants,
        estimates,
        assumptions: a.assumptions,
        a4_bound: a.a4_bound,
        bound_critical: a.bound_critical,
        bound_zone: a.bound_zone,
        verdict: if a.assumptions.all() {
            RegionVerdict::Holds
        } else {
            RegionVerdict::AssumptionsFail
        },
        settings: *config,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use majmin_core::objective::FnObjective;

    /// L1 = ½ Σ a_i θ_i² (ρmin = min |a_i| everywhere, constant Hessian).
    pub(crate) fn quadratic(a: Vec<f64>) -> impl Objective {
        let b = a.clone();
        FnObjective::new(
            a.len(),
            move |t: &[f64]| 0.5 * t.iter().zip(&a).map(|(x, a)| a * x * x).sum::<f64>(),
            move |t: &[f64], g: &mut [f64]| {
                for ((g, x), a) in g.iter_mut().zip(t).zip(&b) {
                    *g = a * x;
                }
            },
        )
    }

    /// L0 = ε Σ sin θ_i: ‖∇L0‖ = ε (Σ cos² θ_i)^{1/2}, ∇²L0 = −ε diag(sin θ_i) (ρmax ≤ ε), and
    /// the Hessian is ε-Lipschitz (D³L0 = −ε diag(cos θ_i)).
    pub(crate) fn sines(d: usize, eps: f64) -> impl Objective {
        FnObjective::new(
            d,
            move |t: &[f64]| eps * t.iter().map(|x| x.sin()).sum::<f64>(),
            move |t: &[f64], g: &mut [f64]| {
                for (g, x) in g.iter_mut().zip(t) {
                    *g = eps * x.cos();
                }
            },
        )
    }

    fn config() -> RegionConfig {
        RegionConfig {
            samples: 12,
            pairs: 6,
            lanczos_steps: 4,
            rho_min_steps: 4,
            ascent_steps: 6,
            c: None,
            seed: 1,
        }
    }

    #[test]
    fn constants_of_a_perturbed_quadratic_match_the_closed_forms() {
        let a = vec![1.0, -2.0, 3.0, 0.5];
        let eps = 1e-3;
        let l1 = quadratic(a);
        let l0 = sines(4, eps);
        // centred at 0, where ‖∇L0‖ = 2ε is the true supremum
        let region = Region::ball(vec![0.0; 4], 2.0).unwrap();
        let mut calls = 0;
        let e = estimate_region_constants(&l1, &l0, &region, &config(), &mut |_, _| calls += 1)
            .unwrap();
        assert_eq!(calls, 12 + 6 + 2);
        // δ = min |a_i| = 0.5 at every point
        assert!((e.delta - 0.5).abs() < 1e-6, "{e:?}");
        assert!(e.delta_converged);
        assert!(e.delta_samples >= 1);
        // τ = max(2ε, ε): the centre holds the supremum of the gradient part
        assert!((e.tau_gradient - 2.0 * eps).abs() < 1e-12, "{e:?}");
        assert!((e.tau - 2.0 * eps).abs() < 1e-12);
        // ρmax(∇²L0) = ε max |sin θ_i| ≤ ε: a lower bound of ε, found close to it by ascent
        assert!(e.tau_hessian <= eps * (1.0 + 1e-6), "{e:?}");
        assert!(e.tau_hessian >= 0.8 * eps, "{e:?}");
        // M: L1's Hessian is constant (M1 = 0); M0 ≤ ε and is found within a small factor
        assert!(e.m_majority < 1e-6 * eps, "{e:?}");
        assert!(e.m_minority <= eps * (1.0 + 1e-4), "{e:?}");
        assert!(e.m_minority >= 0.2 * eps, "{e:?}");
        assert_eq!(e.m_pairs, 6);
        let a = assess(&e);
        // τ = 2e-3 < min(c/2, δ/8 = 0.0625, δ²/32M ≈ 7.8) once c > 4e-3: all hold
        assert!(a.assumptions.all(), "{a:?} {e:?}");
        assert!((a.bound_critical - 4.0 * 2.0 * eps / 0.5).abs() < 1e-9);
        assert!(e.note.contains("lower bounds"));
    }

    #[test]
    fn ascent_improves_tau_beyond_the_samples_and_stays_below_the_truth() {
        let d = 4;
        let eps = 0.01;
        let l1 = quadratic(vec![1.0; 4]);
        let l0 = sines(d, eps);
        // K = B((0.3, …), 0.5) does not hold 0: sup ‖∇L0‖ = 2ε cos(0.05) on the boundary
        let region = Region::ball(vec![0.3; 4], 0.5).unwrap();
        let mut cfg = config();
        cfg.samples = 1; // the centre only: 2ε cos 0.3
        let e = estimate_region_constants(&l1, &l0, &region, &cfg, &mut |_, _| {}).unwrap();
        let at_centre = 2.0 * eps * 0.3f64.cos();
        let truth = 2.0 * eps * 0.05f64.cos();
        assert!((e.at_center.minority_gradient_norm - at_centre).abs() < 1e-12);
        assert!(
            e.tau_gradient > at_centre + 0.5 * (truth - at_centre),
            "{e:?}"
        );
        assert!(e.tau_gradient <= truth * (1.0 + 1e-12), "{e:?}");
        cfg.ascent_steps = 0;
        let plain = estimate_region_constants(&l1, &l0, &region, &cfg, &mut |_, _| {}).unwrap();
        assert!((plain.tau_gradient - at_centre).abs() < 1e-12);
    }

    #[test]
    fn a4_fails_when_the_perturbation_is_large() {
        let l1 = quadratic(vec![1.0, -2.0, 3.0, 0.5]);
        let l0 = sines(4, 0.5);
        let region = Region::ball(vec![0.0; 4], 1.0).unwrap();
        let e = estimate_region_constants(&l1, &l0, &region, &config(), &mut |_, _| {}).unwrap();
        let a = assess(&e);
        assert!(a.assumptions.a1 && a.assumptions.a2 && a.assumptions.a3);
        assert!(!a.assumptions.a4, "{a:?}");
        assert!(
            (e.tau - 1.0).abs() < 1e-9,
            "τ = 2ε = 1 at the centre: {e:?}"
        );
    }

    #[test]
    fn segments_sample_and_project_onto_the_segment() {
        let region = Region::segment(vec![0.0, 0.0], vec![2.0, 0.0]).unwrap();
        let mut rng = Rng::seed_from_u64(3);
        for _ in 0..20 {
            let p = region.sample(&mut rng);
            assert!(p[1] == 0.0 && (0.0..=2.0).contains(&p[0]));
        }
        let mut q = vec![3.0, 1.0];
        region.project(&mut q);
        assert_eq!(q, vec![2.0, 0.0]);
        assert!(region.contains(&[1.0, 0.0], 0.0) && !region.contains(&[1.0, 0.1], 0.01));
        // on the segment from 0 to (2, 0) the gradient part of τ is ε·√(cos² x + 1), largest at 0
        let l0 = sines(2, 0.1);
        let l1 = quadratic(vec![1.0, 1.0]);
        let e = estimate_region_constants(&l1, &l0, &region, &config(), &mut |_, _| {}).unwrap();
        assert!((e.tau_gradient - 0.1 * 2f64.sqrt()).abs() < 1e-12, "{e:?}");
        assert!(Region::segment(vec![1.0], vec![1.0]).is_err());
        assert!(Region::segment(vec![1.0], vec![1.0, 2.0]).is_err());
    }

    #[test]
    fn bad_regions_and_settings_are_refused_with_their_values() {
        let e = Region::ball(vec![0.0], -1.0).unwrap_err().to_string();
        assert!(e.contains("-1") && e.contains("> 0"), "{e}");
        let e = Region::ball(vec![f64::NAN], 1.0).unwrap_err().to_string();
        assert!(e.contains("value 1 of 1 is NaN"), "{e}");
        let l = quadratic(vec![1.0, 1.0]);
        let region = Region::ball(vec![0.0; 3], 1.0).unwrap();
        let e = estimate_region_constants(&l, &l, &region, &config(), &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 values") && e.contains("2 parameters"), "{e}");
        let cfg = RegionConfig {
            samples: 0,
            ..config()
        };
        assert!(cfg.validate().is_err());
        let nan = FnObjective::new(
            2,
            |_: &[f64]| f64::NAN,
            |_: &[f64], g: &mut [f64]| g.iter_mut().for_each(|x| *x = f64::NAN),
        );
        let region = Region::ball(vec![0.0; 2], 1.0).unwrap();
        let e = estimate_region_constants(&nan, &l, &region, &config(), &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("∇L1") && e.contains("centre"), "{e}");
    }
}
