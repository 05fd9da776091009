//! Theorem 2 along training: how much of a run happens outside the majority-training zone
//! `Zmaj = {θ : ⟨∇L, ∇L1⟩ > 0}` (docs/definitions.md), from the zone probes recorded at evaluation points,
//! and whether the minority's loss first rises while the global loss falls (the *minority
//! initial drop* that Francazi et al. 2023 report under full-batch gradient descent).

use majmin_core::EvalPoint;
use serde::{Deserialize, Serialize};

/// A run's zone statistics (from the points that carry a zone probe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneSummary {
    /// Evaluation points with a probe.
    pub points: usize,
    /// Fraction of those points in the adversarial zone (`⟨∇L, ∇L1⟩ ≤ 0`).
    pub adversarial_points_fraction: f64,
    /// Fraction of training time in the adversarial zone, each interval between two probed points
    /// counted with the zone of its left end.
    pub adversarial_time_fraction: f64,
    /// The smallest `cos(∇L, ∇L1)` over the points.
    pub min_cosine: f64,
    /// The median `cos(∇L, ∇L1)`.
    pub median_cosine: f64,
    /// The largest `‖∇L0‖ / ‖∇L1‖`.
    pub max_gradient_ratio: f64,
    /// The median `‖∇L0‖ / ‖∇L1‖`.
    pub median_gradient_ratio: f64,
}

/// `cos(∇L, ∇L1)` and `‖∇L0‖ / ‖∇L1‖` at one probe. With `a = ∇L1`, `b = ∇L0` the probe holds
/// `⟨a + b, a⟩`, `‖a‖`, `‖b‖`, so `‖a + b‖² = 2⟨a + b, a⟩ − ‖a‖² + ‖b‖²`.
pub fn probe_angles(inner: f64, majority: f64, minority: f64) -> (f64, f64) {
    let total_sq = (2.0 * inner - majority * majority + minority * minority).max(0.0);
    let total = total_sq.sqrt();
    let cosine = if total > 0.0 && majority > 0.0 {
        (inner / (total * majority)).clamp(-1.0, 1.0)
    } else {
        1.0
    };
    let ratio = if majority > 0.0 {
        minority / majority
    } else {
        f64::INFINITY
    };
    (cosine, ratio)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The zone statistics of a run, or `None` when no point carries a probe (`--zone` was off).
pub fn zone_summary(points: &[EvalPoint]) -> Option<ZoneSummary> {
    let probed: Vec<(f64, f64, f64, f64)> = points
        .iter()
        .filter_map(|p| {
            p.zone.map(|z| {
                let (c, r) =
                    probe_angles(z.inner_product, z.majority_grad_norm, z.minority_grad_norm);
                (p.t, z.inner_product, c, r)
            })
        })
        .filter(|(t, i, c, _)| t.is_finite() && i.is_finite() && c.is_finite())
        .collect();
    if probed.is_empty() {
        return None;
    }
    let adversarial = |inner: f64| inner <= 0.0;
    let n = probed.len();
    let points_fraction = probed.iter().filter(|p| adversarial(p.1)).count() as f64 / n as f64;
    let span = probed[n - 1].0 - probed[0].0;
    let time_fraction = if span > 0.0 {
        probed
            .windows(2)
            .filter(|w| adversarial(w[0].1))
            .map(|w| w[1].0 - w[0].0)
            .fold(0.0, |a, b| a + b)
            / span
    } else {
        points_fraction
    };
    Some(ZoneSummary {
        points: n,
        adversarial_points_fraction: points_fraction,
        adversarial_time_fraction: time_fraction,
        min_cosine: probed.iter().map(|p| p.2).fold(f64::INFINITY, f64::min),
        median_cosine: median(probed.iter().map(|p| p.2).collect()),
        max_gradient_ratio: probed.iter().map(|p| p.3).fold(0.0, f64::max),
        median_gradient_ratio: median(probed.iter().map(|p| p.3).collect()),
    })
}

/// A minority initial drop: the minority's mean loss rose above its initial value while the
/// global mean loss was below its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinorityDrop {
    /// Whether the minority's loss rose while the global loss fell.
    pub detected: bool,
    /// The largest `L̄_0(t) − L̄_0(t₀)` at a point where `L̄(t) < L̄(t₀)` (0 when none).
    pub rise: f64,
    /// That rise relative to `L̄_0(t₀)`.
    pub relative_rise: f64,
    /// Where it peaked (epochs), when detected.
    pub t_peak: Option<f64>,
    /// When the minority's loss came back below its initial value, if it did.
    pub t_recovered: Option<f64>,
}

/// Detects a minority initial drop in a run's curves (points in time order; non-finite points end
/// the search).
pub fn minority_drop(points: &[EvalPoint]) -> MinorityDrop {
    let mut out = MinorityDrop {
        detected: false,
        rise: 0.0,
        relative_rise: 0.0,
        t_peak: None,
        t_recovered: None,
    };
    let Some(first) = points.first() else {
        return out;
    };
    let (l0, g0) = (first.minority_loss, first.loss);
    for p in &points[1..] {
        if !(p.minority_loss.is_finite() && p.loss.is_finite()) {
            break;
        }
        let rise = p.minority_loss - l0;
        if p.loss < g0 && rise > out.rise {
            out.detected = true;
            out.rise = rise;
            out.t_peak = Some(p.t);
            out.t_recovered = None;
        }
        if out.detected && out.t_recovered.is_none() && p.minority_loss <= l0 {
            out.t_recovered = Some(p.t);
        }
    }
    if l0 > 0.0 {
        out.relative_rise = out.rise / l0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_core::ZoneProbe;

    fn point(t: f64, loss: f64, minority: f64, zone: Option<(f64, f64, f64)>) -> EvalPoint {
        EvalPoint {
            t,
            step: (t * 10.0) as u64,
            loss,
            majority_loss: loss,
            minority_loss: minority,
            accuracy: 0.5,
            majority_accuracy: 0.5,
            minority_accuracy: 0.5,
            zone: zone.map(|(i, a, b)| ZoneProbe {
                inner_product: i,
                majority_grad_norm: a,
                minority_grad_norm: b,
            }),
        }
    }

    #[test]
    fn angles_follow_from_the_probe() {
        // a = (1, 0), b = (0, 1): ∇L = (1, 1), ⟨∇L, a⟩ = 1, cos = 1/√2, ratio 1
        let (c, r) = probe_angles(1.0, 1.0, 1.0);
        assert!((c - 1.0 / 2f64.sqrt()).abs() < 1e-12 && r == 1.0);
        // b = −2a: ∇L = −a, ⟨∇L, a⟩ = −1, cos = −1, ratio 2
        let (c, r) = probe_angles(-1.0, 1.0, 2.0);
        assert!((c + 1.0).abs() < 1e-12 && r == 2.0);
    }

    #[test]
    fn fractions_count_points_and_time() {
        let pts = vec![
            point(0.0, 2.0, 2.0, Some((-1.0, 1.0, 2.0))), // adversarial for [0, 1)
            point(1.0, 1.5, 2.0, Some((1.0, 1.0, 0.5))),
            point(2.0, 1.0, 2.0, Some((1.0, 1.0, 0.5))),
            point(4.0, 0.5, 1.0, Some((0.5, 1.0, 0.1))),
            point(5.0, 0.4, 0.9, None),
        ];
        let z = zone_summary(&pts).unwrap();
        assert_eq!(z.points, 4);
        assert_eq!(z.adversarial_points_fraction, 0.25);
        assert_eq!(z.adversarial_time_fraction, 0.25); // 1 of 4 epochs
        assert!((z.min_cosine + 1.0).abs() < 1e-12);
        assert_eq!(z.max_gradient_ratio, 2.0);
        assert!(zone_summary(&pts[4..]).is_none());
    }

    #[test]
    fn a_minority_rise_while_the_global_loss_falls_is_a_drop() {
        let pts = vec![
            point(0.0, 2.3, 2.3, None),
            point(0.5, 1.8, 2.5, None),
            point(1.0, 1.2, 2.9, None),
            point(2.0, 0.8, 2.2, None),
        ];
        let d = minority_drop(&pts);
        assert!(d.detected);
        assert!((d.rise - 0.6).abs() < 1e-12);
        assert_eq!((d.t_peak, d.t_recovered), (Some(1.0), Some(2.0)));
        let falling = vec![point(0.0, 2.3, 2.3, None), point(1.0, 1.0, 2.0, None)];
        assert!(!minority_drop(&falling).detected);
        // both rising: not a drop
        let both = vec![point(0.0, 2.3, 2.3, None), point(1.0, 2.4, 2.6, None)];
        assert!(!minority_drop(&both).detected);
    }
}
