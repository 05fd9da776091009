//! Hessian spectra per group: the smoothed spectral densities of `∇²L1`, `∇²L0` and `∇²L`
//! (stochastic Lanczos quadrature), one panel each on a log density axis, with the largest
//! eigenvalues marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::marks::{axis_tick, MAJORITY_COLOR, MINORITY_COLOR};
use super::{text_style, Figure};

/// One part's spectrum in a [`SpectrumFigure`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumPanel {
    /// The panel's title, e.g. `majority L1`.
    pub label: String,
    /// The eigenvalue axis: increasing points where the density is given.
    pub grid: Vec<f64>,
    /// The smoothed density at each grid point (integrates to about 1).
    pub density: Vec<f64>,
    /// The width of the Gaussian that smoothed the quadrature nodes.
    pub sigma: f64,
    /// The largest eigenvalues, marked by dashed vertical lines (largest first).
    pub top: Vec<f64>,
}

/// The spectral densities of the loss parts, one panel per part, stacked; the density axis is
/// logarithmic (a network's spectrum is a bulk near 0 with a few outliers, which a linear axis
/// hides), floored at a millionth of the panel's peak.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumFigure {
    /// The title.
    pub title: String,
    /// The panels, in order (majority, minority, total: blue, red, black).
    pub panels: Vec<SpectrumPanel>,
}

/// The smallest density drawn, relative to the panel's peak.
const FLOOR: f64 = 1e-6;

fn panel_colour(i: usize) -> RGBColor {
    match i {
        0 => MAJORITY_COLOR,
        1 => MINORITY_COLOR,
        _ => RGBColor(0, 0, 0),
    }
}

impl Figure for SpectrumFigure {
    fn size(&self) -> (u32, u32) {
        (900, 60 + 290 * self.panels.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let root = root
            .titled(&self.title, text_style(20.0))
            .map_err(|e| err(&e))?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (i, (panel, area)) in self.panels.iter().zip(&areas).enumerate() {
            let colour = panel_colour(i);
            let finite = |v: &&f64| v.is_finite();
            let (mut x_lo, mut x_hi) = panel
                .grid
                .iter()
                .chain(&panel.top)
                .filter(finite)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            if !x_lo.is_finite() {
                (x_lo, x_hi) = (-1.0, 1.0);
            }
            if x_hi - x_lo <= f64::EPSILON * x_lo.abs().max(1.0) {
                let pad = 0.5 * x_lo.abs().max(1e-12);
                (x_lo, x_hi) = (x_lo - pad, x_hi + pad);
            }
            let peak = panel
                .density
                .iter()
                .copied()
                .filter(|d| d.is_finite())
                .fold(0.0f64, f64::max);
            let peak = if peak > 0.0 { peak } else { 1.0 };
            let (y_lo, y_hi) = (peak * FLOOR, peak * 2.0);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.label, text_style(16.0))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(65)
                .build_cartesian_2d(x_lo..x_hi, (y_lo..y_hi).log_scale())
                .map_err(|e| err(&e))?;
            // a tick at 0 computed as ±1e-17 reads as 0
            let span = x_hi - x_lo;
            let x_formatter = |v: &f64| axis_tick(if v.abs() < 1e-9 * span { 0.0 } else { *v });
            let y_formatter = |v: &f64| format!("{v:.0e}");
            chart
                .configure_mesh()
                .x_desc("eigenvalue")
                .y_desc("density")
                .x_label_formatter(&x_formatter)
                .y_label_formatter(&y_formatter)
                .label_style(text_style(12.0))
                .axis_desc_style(text_style(14.0))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| err(&e))?;
            let curve: Vec<(f64, f64)> = panel
                .grid
                .iter()
                .zip(&panel.density)
                .filter(|(x, d)| x.is_finite() && d.is_finite())
                .map(|(&x, &d)| (x, d.clamp(y_lo, y_hi)))
                .collect();
            chart
                .draw_series(LineSeries::new(curve, colour.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(format!("smoothed density (σ = {})", axis_tick(panel.sigma)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            // dashed vertical lines at the top eigenvalues, numbered from the largest
            const DASHES: usize = 24;
            let ratio = (y_hi / y_lo).powf(1.0 / DASHES as f64);
            let mark = ShapeStyle::from(&colour.mix(0.6)).stroke_width(1);
            for (j, &lambda) in panel.top.iter().enumerate().filter(|(_, l)| l.is_finite()) {
                let series = (0..DASHES).step_by(2).map(|d| {
                    let a = y_lo * ratio.powi(d as i32);
                    PathElement::new(vec![(lambda, a), (lambda, a * ratio)], mark)
                });
                let drawn = chart.draw_series(series).map_err(|e| err(&e))?;
                if j == 0 {
                    drawn
                        .label(format!("top {} eigenvalues", panel.top.len()))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], mark));
                }
                let (px, py) = chart.backend_coord(&(lambda, y_hi));
                let (ox, oy) = area.get_base_pixel();
                area.draw(&Text::new(
                    format!("λ{}", j + 1),
                    (px - ox, py - oy + 2 + 12 * (j as i32 % 2)),
                    text_style(11.0).pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(|e| err(&e))?;
            }
            chart
                .configure_series_labels()
                .label_font(text_style(12.0))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| err(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{save, save_both, PlotError};

    fn panel(label: &str, centre: f64, top: Vec<f64>) -> SpectrumPanel {
        let grid: Vec<f64> = (0..200).map(|i| -2.0 + 0.03 * i as f64).collect();
        let density = grid
            .iter()
            .map(|x| (-(x - centre).powi(2) / 0.02).exp() + 1e-9)
            .collect();
        SpectrumPanel {
            label: label.into(),
            grid,
            density,
            sigma: 0.1,
            top,
        }
    }

    #[test]
    fn three_panels_with_marked_eigenvalues_in_both_formats() {
        let figure = SpectrumFigure {
            title: "mlp on digits".into(),
            panels: vec![
                panel("majority L1", 0.0, vec![9.0, 4.5]),
                panel("minority L0", 0.1, vec![0.7, 0.3]),
                panel("total L", 0.0, vec![9.5, 4.8]),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        let [svg, png] = save_both(&figure, &dir.path().join("spectrum")).unwrap();
        let svg = std::fs::read_to_string(svg).unwrap();
        for needle in [
            "mlp on digits",
            "majority L1",
            "minority L0",
            "total L",
            "λ1",
            "λ2",
            "top 2 eigenvalues",
            "σ = 0.1",
        ] {
            assert!(svg.contains(needle), "no `{needle}` in the SVG");
        }
        // the top eigenvalues lie beyond the grid (which ends before 4): the axis stretches to
        // show their marks
        assert!(svg.contains("\n8\n"), "x axis short of λ1 = 9.5");
        assert!(std::fs::metadata(png).unwrap().len() > 5_000);
    }

    #[test]
    fn a_degenerate_panel_still_draws_and_a_bad_extension_is_refused() {
        let figure = SpectrumFigure {
            title: "flat".into(),
            panels: vec![SpectrumPanel {
                label: "zero Hessian".into(),
                grid: vec![0.0, 0.0],
                density: vec![0.0, 0.0],
                sigma: 1e-12,
                top: vec![0.0, f64::NAN],
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        save(&figure, &dir.path().join("flat.svg")).unwrap();
        assert!(matches!(
            save(&figure, &dir.path().join("flat.pdf")),
            Err(PlotError::Format { .. })
        ));
    }
}
