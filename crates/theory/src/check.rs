//! The whole check of a problem: constants, assumptions (A1)–(A4), critical points, Theorem 1's
//! pairing and Theorem 2's zone, and a verdict (docs/definitions.md, docs/command-line.md).

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::constants::{
    estimate_constants, grid_iter, grid_point, grid_points, ConstantEstimates, ConstantsConfig,
};
use crate::critical::{find_critical_points, CriticalPoint, NewtonConfig};
use crate::error::CheckError;
use crate::problem::{Domain, Problem};
use crate::smooth::SmoothObjective;
use majmin_core::Rng;

/// The largest dimension [`check`] accepts: 16.
///
/// Why this value: the check's cost grows like d³ (a Hessian at each of `constant_samples` points,
/// a third-derivative tensor and its norm at each of `third_derivative_samples` points, Newton
/// with a d × d solve from each start). Measured with the default settings on
/// `Σ cos(x_i)` + `0.01 Σ x_i²` on this 2-core container (`cargo run --release -p majmin-theory
/// --example check_dimension`): d = 4 takes 0.4 s, d = 8 3.1 s, d = 12 10.5 s, d = 16 34 s; d = 32
/// would take minutes and d = 64 (which hung before this limit) most of an hour. The theorems are
/// checked on small problems; a network is checked on a ball around a checkpoint by another
/// route (docs/command-line.md).
pub const MAX_CHECK_DIM: usize = 16;

/// The largest number of uniform points of the zone check (Theorem 2): 4,000,000 — the grid
/// `grid^d` when d ≤ 3 (so `grid ≤ 2000` in 2-D), the random `zone_samples` otherwise.
///
/// Why this value: each point costs two gradients (about a microsecond for the built-in problems),
/// so the limit keeps the zone check within seconds, and the points are made in chunks so memory
/// stays small; the default is 201² = 40,401 points. A grid of 100,000 per axis (10¹⁰ points)
/// would run for hours.
pub const MAX_ZONE_POINTS: usize = 4_000_000;

/// The largest number of sample points for the constants (`constant_samples`,
/// `third_derivative_samples`): 1,000,000 each.
///
/// Why this value: every sample point keeps a Hessian's eigenvalues (δ, τ) or a third-derivative
/// tensor's norm (M); 10⁶ points take seconds in 2-D, and 100 times the defaults
/// (10,000 and 2,500) are more than any estimate needs.
pub const MAX_SAMPLES: usize = 1_000_000;

/// The largest number of Newton starts (`starts^min(d, 3)`): 10,000 (so `starts ≤ 100` in 2-D,
/// `≤ 21` from 3-D up).
///
/// Why this value: each start runs up to 100 Newton steps, and each critical point found gets a
/// fine grid of up to 9,261 points in the zone check, so the starts bound both the search and the
/// refinement; the default is 12 per axis (144 in 2-D, 1,728 from 3-D up).
pub const MAX_NEWTON_STARTS: usize = 10_000;

/// Settings of [`check`]. Defaults are the CLI's; tests use coarser ones. Each count is bounded by
/// a documented limit ([`MAX_ZONE_POINTS`], [`MAX_SAMPLES`], [`MAX_NEWTON_STARTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// Zone grid: points per axis when d ≤ 3 (default 201).
    pub grid: usize,
    /// Zone samples when d > 3 (uniform random; default 100 000).
    pub zone_samples: usize,
    /// Sample points for δ and τ (default 10 000).
    pub constant_samples: usize,
    /// Sample points for M (default 2 500).
    pub third_derivative_samples: usize,
    /// Newton starts per axis when d ≤ 3 (default 12); `starts^min(d,3)` random starts otherwise.
    pub starts: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            grid: 201,
            zone_samples: 100_000,
            constant_samples: 10_000,
            third_derivative_samples: 2_500,
            starts: 12,
            seed: 0,
        }
    }
}

impl CheckConfig {
    /// Coarse settings for quick runs and tests.
    pub fn coarse() -> Self {
        Self {
            grid: 61,
            zone_samples: 5_000,
            constant_samples: 1_600,
            third_derivative_samples: 400,
            starts: 8,
            seed: 0,
        }
    }
}

/// The constants in use: the user's where given, the estimates otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Constants {
    /// δ.
    pub delta: f64,
    /// c.
    pub c: f64,
    /// M.
    #[serde(rename = "M")]
    pub m: f64,
    /// τ.
    pub tau: f64,
}

/// Which assumptions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Assumptions {
    /// (A1) strong Morse with (c, δ).
    #[serde(rename = "A1")]
    pub a1: bool,
    /// (A2) Lipschitz Hessians with M.
    #[serde(rename = "A2")]
    pub a2: bool,
    /// (A3) minority bounds with τ.
    #[serde(rename = "A3")]
    pub a3: bool,
    /// (A4) τ < min{c/2, δ/8, δ²/(32M)}.
    #[serde(rename = "A4")]
    pub a4: bool,
}

impl Assumptions {
    /// All four hold.
    pub fn all(&self) -> bool {
        self.a1 && self.a2 && self.a3 && self.a4
    }
}

/// The critical points found in K.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPoints {
    /// Of L1, as coordinate lists.
    pub majority: Vec<Vec<f64>>,
    /// Of L, as coordinate lists.
    pub total: Vec<Vec<f64>>,
}

/// The critical points with kinds, eigenvalues and values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalDetails {
    /// Of L1.
    pub majority: Vec<CriticalPoint>,
    /// Of L.
    pub total: Vec<CriticalPoint>,
}

/// One line of Theorem 1's pairing: a critical point of L1 and its nearest critical point of L.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// The critical point of L1.
    pub majority: Vec<f64>,
    /// The nearest critical point of L (None if L has none in K).
    pub total: Option<Vec<f64>>,
    /// Their distance (∞ → null when unpaired).
    pub distance: f64,
    /// How many critical points of L lie within 4τ/δ.
    pub within_bound: usize,
}

/// Theorem 1's conclusion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theorem1 {
    /// Each critical point of L1 has exactly one of L within 4τ/δ and conversely.
    pub bijection: bool,
    /// The largest pair distance.
    pub max_distance: f64,
    /// Critical points of L with no critical point of L1 within 4τ/δ.
    pub unpaired_total: Vec<Vec<f64>>,
    /// Bijection and every distance ≤ 4τ/δ.
    pub confirmed: bool,
}

/// Theorem 2's zone check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zone {
    /// Fraction of the uniform grid (or random sample) of K where ⟨∇L, ∇L1⟩ ≤ 0.
    pub adversarial_fraction: f64,
    /// The largest distance from an adversarial point to the nearest critical point of L1
    /// (uniform points and the fine grids around the critical points).
    pub max_distance_to_critical: f64,
    /// `max_distance_to_critical ≤ 2τ/δ`.
    pub inside_balls: bool,
    /// Uniform points evaluated (grid or random).
    pub points: usize,
    /// Extra points on fine grids around the critical points.
    pub refinement_points: usize,
    /// Adversarial points found (uniform + fine).
    pub adversarial_points: usize,
    /// `grid` or `random`.
    pub sampling: &'static str,
}

/// The verdict of docs/definitions.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// (A1)–(A4) hold and both conclusions are confirmed.
    Holds,
    /// Some assumption fails (the conclusions are still reported).
    AssumptionsFail,
    /// The assumptions hold but a conclusion fails: a bug or a counterexample.
    Violated,
}

impl Verdict {
    /// `holds`, `assumptions-fail` or `violated`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::AssumptionsFail => "assumptions-fail",
            Verdict::Violated => "violated",
        }
    }
}

/// The full report of [`check`]; its JSON is docs/command-line.md's `theory --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TheoryReport {
    /// The problem's name.
    pub problem: String,
    /// The dimension.
    pub dim: usize,
    /// Coordinate names.
    pub vars: Vec<String>,
    /// K.
    pub domain: Domain,
    /// The constants in use.
    pub constants: Constants,
    /// Which constants the user gave.
    pub constants_given: Vec<&'static str>,
    /// The estimates and how they were obtained.
    pub estimates: ConstantEstimates,
    /// (A1)–(A4).
    pub assumptions: Assumptions,
    /// min{c/2, δ/8, δ²/(32M)}, the bound τ must stay under.
    pub a4_bound: f64,
    /// 4τ/δ.
    pub bound_critical: f64,
    /// 2τ/δ.
    pub bound_zone: f64,
    /// Critical points of L1 and L in K.
    pub critical_points: CriticalPoints,
    /// With kinds and eigenvalues.
    pub critical_details: CriticalDetails,
    /// Theorem 1's pairing.
    pub pairs: Vec<Pair>,
    /// Theorem 1's conclusion.
    pub theorem1: Theorem1,
    /// Theorem 2's check.
    pub zone: Zone,
    /// The verdict.
    pub verdict: Verdict,
    /// The settings used.
    pub settings: CheckConfig,
    /// Wall time of the check in milliseconds.
    pub elapsed_ms: f64,
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Newton starts: a grid of cell centres (d ≤ 3) or random points of K.
pub fn newton_starts(domain: &Domain, per_axis: usize, seed: u64) -> Vec<Vec<f64>> {
    let d = domain.dim();
    let n = per_axis.max(1);
    if d <= 3 {
        let total = n.pow(d as u32);
        return (0..total)
            .map(|mut k| {
                (0..d)
                    .map(|i| {
                        let j = k % n;
                        k /= n;
                        domain.lower[i]
                            + (domain.upper[i] - domain.lower[i]) * (j as f64 + 0.5) / n as f64
                    })
                    .collect()
            })
            .collect();
    }
    let mut rng = Rng::for_stream(seed, 0x6e65_7774);
    (0..n.pow(3))
        .map(|_| {
            (0..d)
                .map(|i| rng.uniform_range(domain.lower[i], domain.upper[i]))
                .collect()
        })
        .collect()
}

/// The critical points of `f` in `domain` from the given starts plus the default grid.
pub fn critical_points(
    f: &dyn SmoothObjective,
    domain: &Domain,
    config: &CheckConfig,
    extra_starts: &[Vec<f64>],
) -> Vec<CriticalPoint> {
    let mut starts = newton_starts(domain, config.starts, config.seed);
    starts.extend(extra_starts.iter().cloned());
    find_critical_points(f, domain, &starts, &NewtonConfig::default())
}

fn ensure_finite(problem: &Problem) -> Result<(), CheckError> {
    let d = problem.dim();
    // lazily: the 2^d corners of a high-dimensional box are never all made
    for p in grid_iter(&problem.domain, if d <= 3 { 5 } else { 2 }).take(4096) {
        for (part, f) in [
            ("majority", &problem.majority),
            ("minority", &problem.minority),
        ] {
            let mut g = vec![0.0; d];
            let v = f.value_and_gradient(&p, &mut g);
            if !v.is_finite() || g.iter().any(|x| !x.is_finite()) {
                return Err(CheckError::NotFinite { part, at: p });
            }
        }
    }
    Ok(())
}

/// The largest `n` with `n^power ≤ limit`.
fn largest_root(limit: usize, power: u32) -> usize {
    let mut n = (limit as f64).powf(1.0 / f64::from(power)) as usize + 1;
    while n > 0 && (n as u128).pow(power) > limit as u128 {
        n -= 1;
    }
    n
}

/// The per-axis grid of the zone check in dimension `d ≤ 3` (3-D grids are capped at 129).
fn zone_grid_per_axis(grid: usize, d: usize) -> usize {
    if d == 3 {
        grid.min(129)
    } else {
        grid
    }
}

/// Refuses a problem or settings that would need more than the documented limits, before any
/// point is made.
fn check_limits(d: usize, config: &CheckConfig) -> Result<(), CheckError> {
    if d > MAX_CHECK_DIM {
        return Err(CheckError::TooManyVariables {
            dim: d,
            limit: MAX_CHECK_DIM,
        });
    }
    let too_many = |setting, value, what, needed: u128, limit, limit_name, largest| {
        Err(CheckError::TooManyPoints {
            setting,
            value,
            dim: d,
            what,
            needed,
            limit,
            limit_name,
            largest,
        })
    };
    if d <= 3 {
        let per_axis = zone_grid_per_axis(config.grid, d) as u128;
        let needed = per_axis.saturating_pow(d as u32);
        if needed > MAX_ZONE_POINTS as u128 {
            return too_many(
                "grid",
                config.grid,
                "zone grid points (grid^d)",
                needed,
                MAX_ZONE_POINTS,
                "MAX_ZONE_POINTS",
                largest_root(MAX_ZONE_POINTS, d as u32),
            );
        }
    } else if config.zone_samples > MAX_ZONE_POINTS {
        return too_many(
            "zone_samples",
            config.zone_samples,
            "random zone points",
            config.zone_samples as u128,
            MAX_ZONE_POINTS,
            "MAX_ZONE_POINTS",
            MAX_ZONE_POINTS,
        );
    }
    let power = d.min(3) as u32;
    let starts = (config.starts as u128).saturating_pow(power);
    if starts > MAX_NEWTON_STARTS as u128 {
        return too_many(
            "starts",
            config.starts,
            "Newton starts (starts^min(d, 3))",
            starts,
            MAX_NEWTON_STARTS,
            "MAX_NEWTON_STARTS",
            largest_root(MAX_NEWTON_STARTS, power),
        );
    }
    for (setting, value) in [
        ("constant_samples", config.constant_samples),
        ("third_derivative_samples", config.third_derivative_samples),
    ] {
        if value > MAX_SAMPLES {
            return too_many(
                setting,
                value,
                "sample points",
                value as u128,
                MAX_SAMPLES,
                "MAX_SAMPLES",
                MAX_SAMPLES,
            );
        }
    }
    Ok(())
}

/// Uniform points of the zone check are made and evaluated this many at a time.
const ZONE_CHUNK: usize = 1 << 16;

/// Runs every check of docs/definitions.md on `problem` (Theorems 1 and 2 of the poster).
///
/// # Errors
/// [`CheckError::TooManyVariables`] above [`MAX_CHECK_DIM`] variables and
/// [`CheckError::TooManyPoints`] for settings above [`MAX_ZONE_POINTS`], [`MAX_SAMPLES`] or
/// [`MAX_NEWTON_STARTS`] (both before any work); [`CheckError::Setting`] for settings below their
/// minimum; [`CheckError::NotFinite`] when a part is NaN or infinite somewhere in K.
pub fn check(problem: &Problem, config: &CheckConfig) -> Result<TheoryReport, CheckError> {
    let started = Instant::now();
    if config.grid < 2
        || config.starts < 1
        || config.constant_samples < 4
        || config.zone_samples < 1
    {
        return Err(CheckError::Setting(
            "grid ≥ 2, starts ≥ 1, constant_samples ≥ 4 and zone_samples ≥ 1 are needed".into(),
        ));
    }
    check_limits(problem.dim(), config)?;
    ensure_finite(problem)?;
    let d = problem.dim();
    let domain = &problem.domain;
    let l1 = problem.majority.as_ref();
    let l0 = problem.minority.as_ref();
    let total = problem.total();

    // critical points of L1, then of L (L's Newton also starts from L1's critical points)
    let crit1 = critical_points(l1, domain, config, &[]);
    let p1: Vec<Vec<f64>> = crit1.iter().map(|c| c.point.clone()).collect();
    let crit = critical_points(&total, domain, config, &p1);
    tracing::info!(
        majority = crit1.len(),
        total = crit.len(),
        "critical points"
    );

    // constants
    let estimates = estimate_constants(
        l1,
        l0,
        domain,
        problem.constants.c,
        &p1,
        &ConstantsConfig {
            samples: config.constant_samples,
            third_derivative_samples: config.third_derivative_samples,
            seed: config.seed,
        },
    );
    let given = &problem.constants;
    let constants = Constants {
        delta: given.delta.unwrap_or(estimates.delta),
        c: estimates.c,
        m: given.m.unwrap_or(estimates.m),
        tau: given.tau.unwrap_or(estimates.tau),
    };
    let mut constants_given = Vec::new();
    for (name, v) in [
        ("c", given.c),
        ("delta", given.delta),
        ("M", given.m),
        ("tau", given.tau),
    ] {
        if v.is_some() {
            constants_given.push(name);
        }
    }
    let rel = 1e-9;
    let a1 = estimates.delta > 0.0
        && estimates.delta.is_finite()
        && estimates.delta >= constants.delta * (1.0 - rel);
    let a2 = estimates.m.is_finite() && estimates.m <= constants.m * (1.0 + rel) + 1e-300;
    let a3 = estimates.tau.is_finite() && estimates.tau <= constants.tau * (1.0 + rel) + 1e-300;
    let curvature = if constants.m > 0.0 {
        constants.delta * constants.delta / (32.0 * constants.m)
    } else {
        f64::INFINITY
    };
    let a4_bound = (constants.c / 2.0)
        .min(constants.delta / 8.0)
        .min(curvature);
    let a4 = constants.tau < a4_bound;
    let assumptions = Assumptions { a1, a2, a3, a4 };
    let bound_critical = 4.0 * constants.tau / constants.delta;
    let bound_zone = 2.0 * constants.tau / constants.delta;

    // Theorem 1
    let mut pairs = Vec::new();
    for c in &crit1 {
        let nearest = crit
            .iter()
            .map(|q| (distance(&c.point, &q.point), q))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let within_bound = crit
            .iter()
            .filter(|q| distance(&c.point, &q.point) <= bound_critical)
            .count();
        pairs.push(Pair {
            majority: c.point.clone(),
            total: nearest.map(|(_, q)| q.point.clone()),
            distance: nearest.map(|(dist, _)| dist).unwrap_or(f64::INFINITY),
            within_bound,
        });
    }
    let unpaired_total: Vec<Vec<f64>> = crit
        .iter()
        .filter(|q| {
            !crit1
                .iter()
                .any(|c| distance(&c.point, &q.point) <= bound_critical)
        })
        .map(|q| q.point.clone())
        .collect();
    let converse_unique = crit.iter().all(|q| {
        crit1
            .iter()
            .filter(|c| distance(&c.point, &q.point) <= bound_critical)
            .count()
            == 1
    });
    let bijection =
        crit1.len() == crit.len() && pairs.iter().all(|p| p.within_bound == 1) && converse_unique;
    let max_distance = pairs.iter().map(|p| p.distance).fold(0.0, f64::max);
    let theorem1 = Theorem1 {
        bijection,
        max_distance,
        unpaired_total,
        confirmed: bijection && max_distance <= bound_critical,
    };

    // Theorem 2
    let local_half_width = (3.0 * bound_zone).min(0.1 * domain.diameter()).max(1e-9);
    let local_per_axis = match d {
        1 => 401,
        2 => 61,
        3 => 21,
        _ => 0,
    };
    let is_adversarial = |p: &Vec<f64>| {
        let mut g1 = vec![0.0; d];
        let mut g0 = vec![0.0; d];
        l1.gradient(p, &mut g1);
        l0.gradient(p, &mut g0);
        // ⟨∇L, ∇L1⟩ = ‖∇L1‖² + ⟨∇L0, ∇L1⟩
        let inner: f64 = g1.iter().zip(&g0).map(|(a, b)| a * (a + b)).sum();
        inner <= 0.0
    };
    let nearest_critical = |p: &Vec<f64>| {
        p1.iter()
            .map(|c| distance(p, c))
            .fold(f64::INFINITY, f64::min)
    };
    // the distance to the nearest critical point of L1 of every adversarial point of `points`
    let adversarial = |points: &[Vec<f64>]| -> Vec<f64> {
        points
            .par_iter()
            .filter(|p| is_adversarial(p))
            .map(nearest_critical)
            .collect()
    };

    // uniform points, made and evaluated in chunks (at most MAX_ZONE_POINTS in all)
    let mut uniform_adv: Vec<f64> = Vec::new();
    let mut uniform_len = 0usize;
    let sampling = if d <= 3 {
        let per_axis = zone_grid_per_axis(config.grid, d).max(2);
        let total = per_axis.pow(d as u32);
        let mut start = 0;
        while start < total {
            let end = (start + ZONE_CHUNK).min(total);
            let chunk: Vec<Vec<f64>> = (start..end)
                .map(|k| grid_point(domain, per_axis, k))
                .collect();
            uniform_adv.extend(adversarial(&chunk));
            uniform_len += chunk.len();
            start = end;
        }
        "grid"
    } else {
        // the points of `sample_points(domain, zone_samples, seed ^ 0x7a)`, in chunks
        let mut rng = Rng::for_stream(config.seed ^ 0x7a, 0x636f_6e73);
        let mut left = config.zone_samples;
        while left > 0 {
            let n = left.min(ZONE_CHUNK);
            let chunk: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    (0..d)
                        .map(|i| rng.uniform_range(domain.lower[i], domain.upper[i]))
                        .collect()
                })
                .collect();
            uniform_adv.extend(adversarial(&chunk));
            uniform_len += n;
            left -= n;
        }
        let corners = [domain.lower.clone(), domain.upper.clone()];
        uniform_adv.extend(adversarial(&corners));
        uniform_len += corners.len();
        "random"
    };

    // fine grids (or random balls) around each critical point, one point set at a time
    let mut local_adv: Vec<f64> = Vec::new();
    let mut local_len = 0usize;
    let mut rng = Rng::for_stream(config.seed, 0x006c_6f63);
    for c in crit1.iter().chain(crit.iter()) {
        let points: Vec<Vec<f64>> = if local_per_axis > 0 {
            let mut lo = c
                .point
                .iter()
                .map(|v| v - local_half_width)
                .collect::<Vec<_>>();
            let mut hi = c
                .point
                .iter()
                .map(|v| v + local_half_width)
                .collect::<Vec<_>>();
            domain.clamp(&mut lo);
            domain.clamp(&mut hi);
            if (0..d).any(|i| hi[i] <= lo[i]) {
                continue;
            }
            grid_points(
                &Domain {
                    lower: lo,
                    upper: hi,
                },
                local_per_axis,
            )
        } else {
            (0..2000)
                .map(|_| {
                    let mut p: Vec<f64> = c
                        .point
                        .iter()
                        .map(|v| v + local_half_width * (2.0 * rng.uniform() - 1.0))
                        .collect();
                    domain.clamp(&mut p);
                    p
                })
                .collect()
        };
        local_adv.extend(adversarial(&points));
        local_len += points.len();
    }
    let max_distance_to_critical = uniform_adv
        .iter()
        .chain(&local_adv)
        .copied()
        .fold(0.0, f64::max);
    let zone = Zone {
        adversarial_fraction: uniform_adv.len() as f64 / uniform_len as f64,
        max_distance_to_critical,
        inside_balls: max_distance_to_critical <= bound_zone,
        points: uniform_len,
        refinement_points: local_len,
        adversarial_points: uniform_adv.len() + local_adv.len(),
        sampling,
    };

    let verdict = if !assumptions.all() {
        Verdict::AssumptionsFail
    } else if theorem1.confirmed && zone.inside_balls {
        Verdict::Holds
    } else {
        tracing::error!(problem = %problem.name, "the assumptions hold but a conclusion fails: a bug or a counterexample");
        Verdict::Violated
    };
    Ok(TheoryReport {
        problem: problem.name.clone(),
        dim: d,
        vars: problem.vars.clone(),
        domain: domain.clone(),
        constants,
        constants_given,
        estimates,
        assumptions,
        a4_bound,
        bound_critical,
        bound_zone,
        critical_points: CriticalPoints {
            majority: p1,
            total: crit.iter().map(|c| c.point.clone()).collect(),
        },
        critical_details: CriticalDetails {
            majority: crit1,
            total: crit,
        },
        pairs,
        theorem1,
        zone,
        verdict,
        settings: *config,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// ⟨∇L(θ), ∇L1(θ)⟩ on a regular grid over a 2-D K, for figures: returns the x and y coordinates
/// and, row-major (y outer), the value of L and whether the point is adversarial.
pub fn zone_grid_2d(problem: &Problem, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<bool>) {
    let dom = &problem.domain;
    let xs: Vec<f64> = (0..n)
        .map(|i| dom.lower[0] + (dom.upper[0] - dom.lower[0]) * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = (0..n)
        .map(|i| dom.lower[1] + (dom.upper[1] - dom.lower[1]) * i as f64 / (n - 1) as f64)
        .collect();
    let cells: Vec<(f64, bool)> = (0..n * n)
        .into_par_iter()
        .map(|k| {
            let p = [xs[k % n], ys[k / n]];
            let (mut g1, mut g0) = ([0.0; 2], [0.0; 2]);
            let v1 = problem.majority.value_and_gradient(&p, &mut g1);
            let v0 = problem.minority.value_and_gradient(&p, &mut g0);
            let inner = g1[0] * (g1[0] + g0[0]) + g1[1] * (g1[1] + g0[1]);
            (v1 + v0, inner <= 0.0)
        })
        .collect();
    let (values, adversarial) = cells.into_iter().unzip();
    (xs, ys, values, adversarial)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::builtin;

    fn report(name: &str) -> TheoryReport {
        check(
            &builtin(name).unwrap().build(None).unwrap(),
            &CheckConfig::coarse(),
        )
        .unwrap()
    }

    #[test]
    fn cosine_grid_holds_with_known_critical_points() {
        let r = report("cosine-grid");
        assert_eq!(
            r.verdict,
            Verdict::Holds,
            "{:#?}",
            (r.constants, r.assumptions, &r.theorem1, &r.zone)
        );
        let kinds: Vec<_> = r.critical_details.majority.iter().map(|c| c.kind).collect();
        use crate::critical::CriticalKind::*;
        assert_eq!(kinds, vec![Maximum, Saddle, Saddle, Minimum]);
        assert_eq!(r.critical_points.total.len(), 4);
        assert!(r.theorem1.bijection && r.zone.inside_balls);
        assert!(
            r.zone.adversarial_points > 0,
            "the fine grids must see the adversarial zone"
        );
        // δ = √(1 − s²) with sin² x + sin² y ≤ c² = 1/4 at its worst: |cos| = √(1 − 1/4)
        assert!(
            (r.constants.delta - 0.75f64.sqrt()).abs() < 1e-3,
            "{}",
            r.constants.delta
        );
        assert!((r.constants.m - 1.0).abs() < 1e-6, "{:?}", r.estimates);
    }

    #[test]
    fn double_well_fails_a4_only() {
        let r = report("double-well");
        assert_eq!(r.verdict, Verdict::AssumptionsFail);
        assert!(r.assumptions.a1 && r.assumptions.a2 && r.assumptions.a3 && !r.assumptions.a4);
        assert!((r.constants.m - 72.0).abs() < 1e-6);
        assert_eq!(r.critical_points.majority.len(), 3);
    }

    #[test]
    fn given_constants_are_checked_against_estimates() {
        let mut cfg = builtin("cosine-grid").unwrap();
        cfg.constants.tau = Some(1e-4); // far below the true sup ‖∇L0‖: (A3) must fail
        let r = check(&cfg.build(None).unwrap(), &CheckConfig::coarse()).unwrap();
        assert!(!r.assumptions.a3);
        assert_eq!(r.verdict, Verdict::AssumptionsFail);
        assert_eq!(r.constants.tau, 1e-4);
    }

    #[test]
    fn a_large_minority_breaks_the_conclusion_without_the_assumptions() {
        // L0 strong enough to remove the saddle/minimum pair at (π, 0)…: pairing is no bijection,
        // and since (A4) fails the verdict is assumptions-fail, never violated.
        let p = Problem::from_formulas(
            "strong",
            &["x", "y"],
            "cos(x) + cos(y)",
            "0.9*(x - 1)^2",
            Domain::cube(2, -1.5, 4.5),
        )
        .unwrap();
        let r = check(&p, &CheckConfig::coarse()).unwrap();
        assert!(!r.assumptions.a4);
        assert!(!r.theorem1.confirmed || !r.zone.inside_balls);
        assert_eq!(r.verdict, Verdict::AssumptionsFail);
    }

    fn many_variables(d: usize) -> Problem {
        let text = format!(
            "vars = [{}]\nmajority = \"{}\"\nminority = \"0.01*x1\"\n[domain]\nlower = [{}]\nupper = [{}]\n",
            (1..=d).map(|i| format!("\"x{i}\"")).collect::<Vec<_>>().join(", "),
            (1..=d).map(|i| format!("x{i}^2")).collect::<Vec<_>>().join(" + "),
            vec!["-1"; d].join(", "),
            vec!["1"; d].join(", "),
        );
        crate::ProblemConfig::from_toml(&text, std::path::Path::new("many.toml"))
            .unwrap()
            .build(None)
            .unwrap()
    }

    #[test]
    fn too_many_variables_are_refused_up_front() {
        // 50 variables aborted (2^50 corners), 64 hung: both refused at once, naming d and the limit
        for d in [17, 50, 64] {
            let started = Instant::now();
            let e = check(&many_variables(d), &CheckConfig::default()).unwrap_err();
            assert!(
                matches!(e, CheckError::TooManyVariables { dim, limit: MAX_CHECK_DIM } if dim == d),
                "{e:?}"
            );
            assert!(started.elapsed().as_secs_f64() < 1.0);
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("the problem has {d} variables; the theory checks handle at most 16 (MAX_CHECK_DIM)")),
                "{msg}"
            );
        }
        // the finiteness probe walks the first corners lazily, whatever the dimension
        let corners: Vec<Vec<f64>> = grid_iter(&Domain::cube(64, -1.0, 1.0), 2).take(3).collect();
        assert_eq!(corners[1][0], 1.0);
        assert_eq!(corners[2][1], 1.0);
        // the limit itself is accepted (coarse settings keep the test short)
        let config = CheckConfig {
            zone_samples: 200,
            constant_samples: 50,
            third_derivative_samples: 4,
            starts: 1,
            ..CheckConfig::coarse()
        };
        let r = check(&many_variables(MAX_CHECK_DIM), &config).unwrap();
        assert_eq!(r.dim, MAX_CHECK_DIM);
        assert_eq!(r.zone.points, 202);
    }

    #[test]
    fn settings_above_the_limits_are_refused_with_needed_and_limit() {
        let problem = builtin("cosine-grid").unwrap().build(None).unwrap();
        let e = check(
            &problem,
            &CheckConfig {
                grid: 100_000,
                ..CheckConfig::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                CheckError::TooManyPoints {
                    setting: "grid",
                    value: 100_000,
                    dim: 2,
                    needed: 10_000_000_000,
                    limit: MAX_ZONE_POINTS,
                    largest: 2000,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "grid = 100000 in dimension 2 needs 10,000,000,000 zone grid points (grid^d), above the limit of \
             4,000,000 (MAX_ZONE_POINTS); choose grid ≤ 2000"
        );
        // usize::MAX per axis does not overflow
        let e = check(
            &problem,
            &CheckConfig {
                grid: usize::MAX,
                ..CheckConfig::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                CheckError::TooManyPoints {
                    setting: "grid",
                    ..
                }
            ),
            "{e:?}"
        );
        for (config, setting) in [
            (
                CheckConfig {
                    starts: 101,
                    ..CheckConfig::coarse()
                },
                "starts",
            ),
            (
                CheckConfig {
                    constant_samples: MAX_SAMPLES + 1,
                    ..CheckConfig::coarse()
                },
                "constant_samples",
            ),
            (
                CheckConfig {
                    third_derivative_samples: usize::MAX,
                    ..CheckConfig::coarse()
                },
                "third_derivative_samples",
            ),
        ] {
            match check(&problem, &config) {
                Err(CheckError::TooManyPoints { setting: s, .. }) => assert_eq!(s, setting),
                other => panic!("{setting}: {other:?}"),
            }
        }
        // starts^3 of usize::MAX does not overflow the check
        let e = check(
            &many_variables(4),
            &CheckConfig {
                starts: usize::MAX,
                ..CheckConfig::coarse()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                CheckError::TooManyPoints {
                    setting: "starts",
                    needed: u128::MAX,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = check(
            &many_variables(4),
            &CheckConfig {
                zone_samples: MAX_ZONE_POINTS + 1,
                ..CheckConfig::coarse()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                CheckError::TooManyPoints {
                    setting: "zone_samples",
                    dim: 4,
                    ..
                }
            ),
            "{e:?}"
        );
        // the largest grid within the limit is accepted by the limit check
        assert!(check_limits(
            2,
            &CheckConfig {
                grid: 2000,
                ..CheckConfig::default()
            }
        )
        .is_ok());
        assert!(check_limits(
            2,
            &CheckConfig {
                grid: 2001,
                ..CheckConfig::default()
            }
        )
        .is_err());
        assert!(check_limits(
            3,
            &CheckConfig {
                grid: usize::MAX,
                ..CheckConfig::default()
            }
        )
        .is_ok());
        assert_eq!(largest_root(MAX_NEWTON_STARTS, 3), 21);
    }

    #[test]
    fn report_json_has_the_spec_fields() {
        let r = report("cosine-grid");
        let v = serde_json::to_value(&r).unwrap();
        for key in [
            "constants",
            "assumptions",
            "bound_critical",
            "bound_zone",
            "critical_points",
            "pairs",
            "zone",
            "verdict",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for key in ["delta", "c", "M", "tau"] {
            assert!(v["constants"][key].is_f64(), "constants.{key}");
        }
        for key in ["A1", "A2", "A3", "A4"] {
            assert!(v["assumptions"][key].is_boolean());
        }
        assert!(v["critical_points"]["majority"][0].is_array());
        assert!(v["pairs"][0]["distance"].is_f64());
        for key in [
            "adversarial_fraction",
            "max_distance_to_critical",
            "inside_balls",
        ] {
            assert!(v["zone"].get(key).is_some());
        }
        assert_eq!(v["verdict"], "holds");
    }
}
