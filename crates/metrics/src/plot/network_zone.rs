//! The poster's theory figure for a network: level sets of `L` on the plane through the
//! majority-trained critical point θ̂1, the full-loss critical point θ̂ and the top eigenvector of
//! `∇²L1(θ̂1)`, with the adversarial zone `{⟨∇L, ∇L1⟩ ≤ 0}` shaded, both points marked, the ball
//! of radius 2τ/δ around θ̂1 (Theorem 2) and a projected descent path. The plane's data come from
//! majmin-theory's `plane_section` through the CLI; the drawing is [`ZoneFigure`]'s, in plane
//! coordinates (θ̂1 at the origin, θ̂ on the horizontal axis).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::zone::ZoneFigure;
use super::Figure;

/// Everything the network figure shows, as plain numbers in plane coordinates.
#[derive(Debug, Clone, Default)]
pub struct NetworkZoneFigure {
    /// The title (architecture, data, ζ).
    pub title: String,
    /// Grid abscissae along `θ̂ − θ̂1` (increasing).
    pub x: Vec<f64>,
    /// Grid ordinates along the top eigenvector (increasing).
    pub y: Vec<f64>,
    /// `L` on the grid, row-major with y outer.
    pub values: Vec<f64>,
    /// Whether each grid point is adversarial.
    pub adversarial: Vec<bool>,
    /// θ̂1 in plane coordinates (the origin when the plane is built through it).
    pub majority_critical: (f64, f64),
    /// θ̂ in plane coordinates.
    pub total_critical: (f64, f64),
    /// The top eigenvalue of `∇²L1(θ̂1)`, for the axis label.
    pub top_eigenvalue: f64,
    /// 2τ/δ (not drawn when not finite or larger than ten times the window).
    pub ball_radius: f64,
    /// A projected descent path (empty: none drawn).
    pub trajectory: Vec<(f64, f64)>,
}

impl NetworkZoneFigure {
    /// The [`ZoneFigure`] that draws it.
    pub fn zone_figure(&self) -> ZoneFigure {
        let window = match (self.x.first(), self.x.last(), self.y.first(), self.y.last()) {
            (Some(a), Some(b), Some(c), Some(d)) => (b - a).max(d - c),
            _ => 0.0,
        };
        let drawn = self.ball_radius.is_finite() && self.ball_radius <= 10.0 * window;
        let title = if drawn {
            self.title.clone()
        } else {
            format!(
                "{} (2τ/δ = {:.3e}, beyond the window)",
                self.title, self.ball_radius
            )
        };
        ZoneFigure {
            title,
            x_label: "along θ̂ − θ̂1".into(),
            y_label: format!(
                "top eigenvector of ∇²L1(θ̂1), λ = {:.4}",
                self.top_eigenvalue
            ),
            x: self.x.clone(),
            y: self.y.clone(),
            values: self.values.clone(),
            adversarial: self.adversarial.clone(),
            levels: 18,
            majority_points: vec![self.majority_critical],
            total_points: vec![self.total_critical],
            ball_radius: if drawn { self.ball_radius } else { f64::NAN },
            trajectory: self.trajectory.clone(),
            trajectory_label: "gradient descent on L from θ̂1".into(),
            events: Vec::new(),
        }
    }
}

impl Figure for NetworkZoneFigure {
    fn size(&self) -> (u32, u32) {
        (900, 820)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        self.zone_figure().draw(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::save_both;

    fn figure(radius: f64) -> NetworkZoneFigure {
        let n = 21;
        let x: Vec<f64> = (0..n).map(|i| -0.5 + 1.5 * i as f64 / 20.0).collect();
        let y: Vec<f64> = (0..n).map(|j| -0.75 + 1.5 * j as f64 / 20.0).collect();
        let mut values = Vec::new();
        let mut adversarial = Vec::new();
        for &b in &y {
            for &a in &x {
                values.push((a - 0.5) * (a - 0.5) + 3.0 * b * b);
                adversarial.push(a > 0.0 && a < 0.5 && b.abs() < 0.2);
            }
        }
        NetworkZoneFigure {
            title: "mlp on digits, ζ = 0.1".into(),
            x,
            y,
            values,
            adversarial,
            majority_critical: (0.0, 0.0),
            total_critical: (0.5, 0.0),
            top_eigenvalue: 12.5,
            ball_radius: radius,
            trajectory: vec![(0.0, 0.0), (0.2, 0.05), (0.5, 0.0)],
        }
    }

    #[test]
    fn the_network_figure_draws_as_svg_and_png_with_its_plane_labels() {
        let dir = std::env::temp_dir().join(format!("majmin-netzone-{}", std::process::id()));
        let [svg, png] = save_both(&figure(0.3), &dir.join("plane")).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("along θ̂ − θ̂1"), "axis label missing");
        assert!(text.contains("λ = 12.5000"));
        assert!(text.contains("2τ/δ = 0.3"), "ball legend missing");
        assert!(std::fs::read(&png).unwrap().len() > 2000);
        // a ball far larger than the window is named in the title, not drawn
        let big = figure(1e6).zone_figure();
        assert!(big.title.contains("beyond the window") && big.ball_radius.is_nan());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
