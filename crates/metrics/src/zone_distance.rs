//! Theorem 2 along a trajectory whose parameters are known: every adversarial point
//! (`⟨∇L, ∇L1⟩ ≤ 0`) must lie within `2τ/δ` of a critical point of `L1` when (A1)–(A4) hold
//! (SPEC §1). Given each probed point's distance to a critical point `θ̂1` of `L1` (an upper
//! bound of its distance to the nearest one), [`zone_distances`] compares the adversarial points
//! with the bound; [`zone_rows`] gives the per-point cosine `cos(∇L, ∇L1)` and ratio
//! `‖∇L0‖ / ‖∇L1‖` that [`crate::zone_summary`] summarises.
//!
//! The distances come from wherever the parameters are: the Theorem 1 experiment's descents
//! (majmin-theory's `critical_pair`), or a training run's saved checkpoints.

use majmin_core::ZoneProbe;
use serde::{Deserialize, Serialize};

use crate::zone::probe_angles;

/// A zone probe at a point whose distance to `θ̂1` is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeAtDistance {
    /// Time (epochs or steps).
    pub t: f64,
    /// The probe.
    pub probe: ZoneProbe,
    /// `‖θ(t) − θ̂1‖`.
    pub distance: f64,
}

/// One probed point, as a row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoneRow {
    /// Time.
    pub t: f64,
    /// `⟨∇L, ∇L1⟩ ≤ 0`.
    pub adversarial: bool,
    /// `cos(∇L, ∇L1)`.
    pub cosine: f64,
    /// `‖∇L0‖ / ‖∇L1‖`.
    pub gradient_ratio: f64,
    /// `‖θ − θ̂1‖` (NaN when unknown).
    pub distance: f64,
}

/// The rows of `points`, in their order.
pub fn zone_rows(points: &[ProbeAtDistance]) -> Vec<ZoneRow> {
    points
        .iter()
        .map(|p| {
            let (cosine, gradient_ratio) = probe_angles(
                p.probe.inner_product,
                p.probe.majority_grad_norm,
                p.probe.minority_grad_norm,
            );
            ZoneRow {
                t: p.t,
                adversarial: p.probe.inner_product <= 0.0,
                cosine,
                gradient_ratio,
                distance: p.distance,
            }
        })
        .collect()
}

/// The adversarial points of a trajectory against the ball `B(θ̂1, 2τ/δ)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneDistances {
    /// Probed points.
    pub points: usize,
    /// Adversarial points among them.
    pub adversarial_points: usize,
    /// Their fraction.
    pub adversarial_fraction: f64,
    /// The smallest `cos(∇L, ∇L1)`.
    pub min_cosine: f64,
    /// The largest `‖∇L0‖ / ‖∇L1‖`.
    pub max_gradient_ratio: f64,
    /// The largest distance of an adversarial point to `θ̂1` (0 when there is none).
    pub max_adversarial_distance: f64,
    /// The bound 2τ/δ.
    pub bound_zone: f64,
    /// Whether every adversarial point is within the bound.
    pub inside_ball: bool,
    /// `(t, distance)` of each adversarial point.
    pub adversarial: Vec<(f64, f64)>,
}

/// Compares the adversarial points of `points` with `bound_zone` (2τ/δ); `None` when `points`
/// is empty. Points with a non-finite probe are skipped.
pub fn zone_distances(points: &[ProbeAtDistance], bound_zone: f64) -> Option<ZoneDistances> {
    let rows: Vec<ZoneRow> = zone_rows(points)
        .into_iter()
        .zip(points)
        .filter(|(_, p)| p.probe.inner_product.is_finite())
        .map(|(r, _)| r)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let adversarial: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.adversarial)
        .map(|r| (r.t, r.distance))
        .collect();
    let max_adversarial_distance = adversarial.iter().map(|a| a.1).fold(0.0, f64::max);
    Some(ZoneDistances {
        points: rows.len(),
        adversarial_points: adversarial.len(),
        adversarial_fraction: adversarial.len() as f64 / rows.len() as f64,
        min_cosine: rows.iter().map(|r| r.cosine).fold(f64::INFINITY, f64::min),
        max_gradient_ratio: rows.iter().map(|r| r.gradient_ratio).fold(0.0, f64::max),
        max_adversarial_distance,
        bound_zone,
        inside_ball: max_adversarial_distance <= bound_zone,
        adversarial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, inner: f64, a: f64, b: f64, distance: f64) -> ProbeAtDistance {
        ProbeAtDistance {
            t,
            probe: ZoneProbe {
                inner_product: inner,
                majority_grad_norm: a,
                minority_grad_norm: b,
            },
            distance,
        }
    }

    #[test]
    fn adversarial_points_are_compared_with_the_ball() {
        let pts = [
            at(0.0, 4.0, 2.0, 0.5, 3.0),
            at(1.0, -0.5, 0.5, 2.0, 0.4), // adversarial, inside a ball of 0.5
            at(2.0, 0.1, 0.3, 0.1, 0.2),
            at(3.0, -0.01, 0.1, 0.2, 0.45), // adversarial
        ];
        let z = zone_distances(&pts, 0.5).unwrap();
        assert_eq!((z.points, z.adversarial_points), (4, 2));
        assert_eq!(z.adversarial, vec![(1.0, 0.4), (3.0, 0.45)]);
        assert_eq!(z.max_adversarial_distance, 0.45);
        assert!(z.inside_ball);
        assert_eq!(z.max_gradient_ratio, 4.0);
        let tight = zone_distances(&pts, 0.42).unwrap();
        assert!(!tight.inside_ball);
        assert!(zone_distances(&[], 1.0).is_none());
    }

    #[test]
    fn rows_give_the_cosine_and_the_ratio() {
        // ∇L1 = (1, 0), ∇L0 = (−2, 0): ∇L = (−1, 0), ⟨∇L, ∇L1⟩ = −1, cos = −1, ratio 2
        let rows = zone_rows(&[at(0.0, -1.0, 1.0, 2.0, 0.1)]);
        assert!(rows[0].adversarial);
        assert!((rows[0].cosine + 1.0).abs() < 1e-12);
        assert_eq!(rows[0].gradient_ratio, 2.0);
    }
}
