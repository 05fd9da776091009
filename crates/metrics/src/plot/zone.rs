//! The poster's theory figure from plain data: level sets of `L` over a 2-D box, the adversarial
//! zone `{⟨∇L, ∇L1⟩ ≤ 0}` shaded, the critical points of `L1` and of `L` with different markers,
//! the balls of radius 2τ/δ of Theorem 2 around the critical points of `L1`, and a gradient-flow
//! trajectory with an arrow. The data come from majmin-theory and majmin-flow through the CLI;
//! this module depends on neither.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{text_style, Figure};

/// Everything the theory figure shows, as plain numbers.
#[derive(Debug, Clone, Default)]
pub struct ZoneFigure {
    /// The title.
    pub title: String,
    /// Label of the horizontal axis (the first coordinate's name).
    pub x_label: String,
    /// Label of the vertical axis.
    pub y_label: String,
    /// Grid abscissae (increasing), `nx` values.
    pub x: Vec<f64>,
    /// Grid ordinates (increasing), `ny` values.
    pub y: Vec<f64>,
    /// `L` on the grid, row-major with y outer: `values[j * nx + i]` at `(x[i], y[j])`.
    pub values: Vec<f64>,
    /// Whether each grid point is adversarial (same layout as `values`).
    pub adversarial: Vec<bool>,
    /// Number of level sets of `L` (spread over the quantiles of `values`).
    pub levels: usize,
    /// Critical points of `L1`.
    pub majority_points: Vec<(f64, f64)>,
    /// Critical points of `L`.
    pub total_points: Vec<(f64, f64)>,
    /// Radius of the balls around the critical points of `L1` (2τ/δ; none drawn if not finite).
    pub ball_radius: f64,
    /// A gradient-flow trajectory (empty: none drawn).
    pub trajectory: Vec<(f64, f64)>,
    /// The trajectory's legend entry, e.g. `gradient flow of L` or `gradient descent on L`.
    pub trajectory_label: String,
    /// Points where the trajectory crossed the zone boundary.
    pub events: Vec<(f64, f64)>,
}

/// The level values: `levels` quantiles of `values` (square-root spaced so that the low levels
/// around minima are not all lost to the high walls).
fn level_values(values: &[f64], levels: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() || levels == 0 {
        return Vec::new();
    }
    sorted.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = (1..=levels)
        .map(|k| {
            let q = (k as f64 / (levels + 1) as f64).powi(2);
            sorted[((sorted.len() - 1) as f64 * q).round() as usize]
        })
        .collect();
    out.dedup();
    out
}

/// Marching squares: the segments of the level set `{f = level}` on the grid.
pub fn contour_segments(x: &[f64], y: &[f64], values: &[f64], level: f64) -> Vec<[(f64, f64); 2]> {
    let (nx, ny) = (x.len(), y.len());
    let mut out = Vec::new();
    if nx < 2 || ny < 2 || values.len() != nx * ny {
        return out;
    }
    let at = |i: usize, j: usize| values[j * nx + i];
    let lerp = |p: (f64, f64), q: (f64, f64), fp: f64, fq: f64| {
        let t = if fq != fp {
            (level - fp) / (fq - fp)
        } else {
            0.5
        };
        (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))
    };
    for j in 0..ny - 1 {
        for i in 0..nx - 1 {
            let corners = [
                (x[i], y[j]),
                (x[i + 1], y[j]),
                (x[i + 1], y[j + 1]),
                (x[i], y[j + 1]),
            ];
            let f = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
            if f.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let mut crossings = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (e, (e + 1) % 4);
                if (f[a] < level) != (f[b] < level) {
                    crossings.push(lerp(corners[a], corners[b], f[a], f[b]));
                }
            }
            match crossings.len() {
                2 => out.push([crossings[0], crossings[1]]),
                4 => {
                    // saddle cell: pair by the centre's side
                    let centre = 0.25 * f.iter().sum::<f64>();
                    if (centre < level) == (f[0] < level) {
                        out.push([crossings[0], crossings[3]]);
                        out.push([crossings[1], crossings[2]]);
                    } else {
                        out.push([crossings[0], crossings[1]]);
                        out.push([crossings[2], crossings[3]]);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

impl Figure for ZoneFigure {
    fn size(&self) -> (u32, u32) {
        (900, 820)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let (nx, ny) = (self.x.len(), self.y.len());
        if nx < 2 || ny < 2 || self.values.len() != nx * ny || self.adversarial.len() != nx * ny {
            return Err(format!(
                "the zone figure needs a grid of at least 2 × 2 with {nx} × {ny} values and flags"
            ));
        }
        let (x0, x1) = (self.x[0], self.x[nx - 1]);
        let (y0, y1) = (self.y[0], self.y[ny - 1]);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, text_style(22.0))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(text_style(14.0))
            .axis_desc_style(text_style(16.0))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;

        // the adversarial zone: one cell per adversarial grid point
        let shade = RGBColor(235, 40, 40).mix(0.8);
        let (hx, hy) = (
            (x1 - x0) / (nx - 1) as f64 / 2.0,
            (y1 - y0) / (ny - 1) as f64 / 2.0,
        );
        let cells = (0..nx * ny).filter(|&k| self.adversarial[k]).map(|k| {
            let (i, j) = (k % nx, k / nx);
            let (cx, cy) = (self.x[i], self.y[j]);
            Rectangle::new(
                [
                    ((cx - hx).max(x0), (cy - hy).max(y0)),
                    ((cx + hx).min(x1), (cy + hy).min(y1)),
                ],
                shade.filled(),
            )
        });
        chart
            .draw_series(cells)
            .map_err(|e| err(&e))?
            .label("adversarial zone ⟨∇L, ∇L1⟩ ≤ 0")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], shade.filled()));

        // level sets of L
        let grey = RGBColor(120, 120, 120);
        let mut first = true;
        for level in level_values(&self.values, self.levels) {
            let segments = contour_segments(&self.x, &self.y, &self.values, level);
            let series = chart
                .draw_series(
                    segments
                        .into_iter()
                        .map(|s| PathElement::new(vec![s[0], s[1]], grey.stroke_width(1))),
                )
                .map_err(|e| err(&e))?;
            if first {
                series
                    .label("level sets of L")
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
                first = false;
            }
        }

        // balls of radius 2τ/δ around the critical points of L1
        let blue = RGBColor(30, 90, 200);
        if self.ball_radius.is_finite()
            && self.ball_radius > 0.0
            && !self.majority_points.is_empty()
        {
            let r = self.ball_radius;
            let circles = self.majority_points.iter().map(|&(cx, cy)| {
                let pts: Vec<(f64, f64)> = (0..=96)
                    .map(|k| {
                        let a = std::f64::consts::TAU * k as f64 / 96.0;
                        (
                            (cx + r * a.cos()).clamp(x0, x1),
                            (cy + r * a.sin()).clamp(y0, y1),
                        )
                    })
                    .collect();
                PathElement::new(pts, blue.stroke_width(2))
            });
            chart
                .draw_series(circles)
                .map_err(|e| err(&e))?
                .label(format!("balls of radius 2τ/δ = {}", short(r)))
                .legend(move |(x, y)| Circle::new((x + 9, y), 6, blue.stroke_width(2)));
        }

        // the trajectory with an arrow at its end
        let green = RGBColor(20, 140, 60);
        if self.trajectory.len() >= 2 {
            chart
                .draw_series(LineSeries::new(
                    self.trajectory.iter().copied(),
                    green.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(self.trajectory_label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], green.stroke_width(2))
                });
            // the arrow head points along the last visible piece of the path
            let end = *self.trajectory.last().expect("two points");
            let span = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
            let back = self
                .trajectory
                .iter()
                .rev()
                .find(|p| ((p.0 - end.0).powi(2) + (p.1 - end.1).powi(2)).sqrt() > 0.01 * span)
                .copied()
                .unwrap_or(self.trajectory[0]);
            let (dx, dy) = (end.0 - back.0, end.1 - back.1);
            // in pixel-proportional units so the head is not skewed by the aspect ratio
            let (sx, sy) = (x1 - x0, y1 - y0);
            let (ux, uy) = (dx / sx, dy / sy);
            let n = (ux * ux + uy * uy).sqrt();
            if n > 0.0 {
                let (ux, uy) = (ux / n, uy / n);
                let len = 0.03;
                let wing = |sign: f64| {
                    let (c, s) = (150f64.to_radians().cos(), sign * 150f64.to_radians().sin());
                    let (wx, wy) = (ux * c - uy * s, ux * s + uy * c);
                    (end.0 + len * wx * sx, end.1 + len * wy * sy)
                };
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        vec![end, wing(1.0), wing(-1.0)],
                        green.filled(),
                    )))
                    .map_err(|e| err(&e))?;
            }
            chart
                .draw_series(std::iter::once(Circle::new(
                    self.trajectory[0],
                    5,
                    green.filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        if !self.events.is_empty() {
            let orange = RGBColor(240, 140, 0);
            chart
                .draw_series(
                    self.events
                        .iter()
                        .map(|&p| TriangleMarker::new(p, 7, orange.filled())),
                )
                .map_err(|e| err(&e))?
                .label("zone events of the flow")
                .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 7, orange.filled()));
        }

        // critical points: L1 as filled black discs, L as red crosses
        chart
            .draw_series(
                self.majority_points
                    .iter()
                    .map(|&p| Circle::new(p, 3, BLACK.filled())),
            )
            .map_err(|e| err(&e))?
            .label("critical points of L1 (majority)")
            .legend(|(x, y)| Circle::new((x + 9, y), 5, BLACK.filled()));
        let red = RGBColor(200, 0, 0);
        chart
            .draw_series(
                self.total_points
                    .iter()
                    .map(|&p| Cross::new(p, 5, red.stroke_width(2))),
            )
            .map_err(|e| err(&e))?
            .label("critical points of L = L1 + L0")
            .legend(move |(x, y)| Cross::new((x + 9, y), 6, red.stroke_width(2)));

        chart
            .configure_series_labels()
            .label_font(text_style(14.0))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        Ok(())
    }
}

fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e4) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contour_of_a_paraboloid_is_a_circle() {
        let n = 81;
        let g: Vec<f64> = (0..n)
            .map(|i| -2.0 + 4.0 * i as f64 / (n - 1) as f64)
            .collect();
        let values: Vec<f64> = (0..n * n)
            .map(|k| g[k % n].powi(2) + g[k / n].powi(2))
            .collect();
        let segments = contour_segments(&g, &g, &values, 1.0);
        assert!(segments.len() > 50);
        for s in &segments {
            for p in s {
                assert!(((p.0 * p.0 + p.1 * p.1).sqrt() - 1.0).abs() < 2e-3, "{p:?}");
            }
        }
    }

    #[test]
    fn zone_figure_draws_as_svg_and_png() {
        let n = 41;
        let g: Vec<f64> = (0..n)
            .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
            .collect();
        let values: Vec<f64> = (0..n * n)
            .map(|k| g[k % n].powi(2) + 2.0 * g[k / n].powi(2))
            .collect();
        let adversarial: Vec<bool> = (0..n * n)
            .map(|k| g[k % n].abs() < 0.1 && g[k / n].abs() < 0.1)
            .collect();
        let fig = ZoneFigure {
            title: "test".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x: g.clone(),
            y: g,
            values,
            adversarial,
            levels: 8,
            majority_points: vec![(0.0, 0.0)],
            total_points: vec![(0.02, -0.01)],
            ball_radius: 0.15,
            trajectory: vec![(0.9, 0.8), (0.5, 0.3), (0.1, 0.05)],
            trajectory_label: "gradient flow of L".into(),
            events: vec![(0.1, 0.05)],
        };
        let dir = std::env::temp_dir().join(format!("majmin-zone-{}", std::process::id()));
        let [svg, png] = super::super::save_both(&fig, &dir.join("zone")).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("critical points of L1") && text.contains("2τ/δ"));
        assert!(std::fs::metadata(&png).unwrap().len() > 5000);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
