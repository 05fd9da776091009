//! The catch-up overcost against ζ, one line per architecture, one panel per κ.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::marks::axis_tick;
use super::{text_style, Figure};
use crate::aggregate::OvercostSummary;
use crate::table::{format_fraction_pct, OvercostTable};

/// One architecture's line in an [`OvercostFigure`] panel.
#[derive(Debug, Clone, PartialEq)]
pub struct OvercostSeries {
    /// The legend label, e.g. `resnet18 (11.2M)`.
    pub label: String,
    /// `(ζ, summary)` sorted by ζ.
    pub points: Vec<(f64, OvercostSummary)>,
}

/// The overcost (median over seeds, in %) against ζ on a log axis, with min–max bars; a median
/// that is only a lower bound (censored runs) is a hollow upward triangle, an exact one a filled
/// circle; cells with no number (`n/a`) are counted under the panel.
#[derive(Debug, Clone, PartialEq)]
pub struct OvercostFigure {
    /// The title.
    pub title: String,
    /// One panel per κ: `(κ, series)`.
    pub panels: Vec<(f64, Vec<OvercostSeries>)>,
}

impl OvercostFigure {
    /// The figure of a whole table: one panel per κ, one series per architecture.
    pub fn from_table(table: &OvercostTable) -> Self {
        let panels = table
            .kappas()
            .into_iter()
            .map(|kappa| {
                let series = table
                    .archs()
                    .into_iter()
                    .map(|arch| OvercostSeries {
                        label: arch.row_label(),
                        points: table
                            .zetas()
                            .into_iter()
                            .filter_map(|z| {
                                table
                                    .get(&arch.name, kappa, z)
                                    .map(|c| (z, c.summary.clone()))
                            })
                            .collect(),
                    })
                    .collect();
                (kappa, series)
            })
            .collect();
        Self {
            title: "Catch-up overcost against the imbalance level ζ".into(),
            panels,
        }
    }
}

impl Figure for OvercostFigure {
    fn size(&self) -> (u32, u32) {
        (80 + 560 * self.panels.len().max(1) as u32, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let root = root
            .titled(&self.title, text_style(22.0))
            .map_err(|e| err(&e))?;
        let areas = root.split_evenly((1, self.panels.len().max(1)));
        for ((kappa, series), area) in self.panels.iter().zip(&areas) {
            let all: Vec<&(f64, OvercostSummary)> = series.iter().flat_map(|s| &s.points).collect();
            let zetas = all.iter().map(|p| p.0.log10());
            let (x_lo, x_hi) = zetas.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), z| {
                (lo.min(z), hi.max(z))
            });
            let (x_lo, x_hi) = if x_lo.is_finite() {
                (x_lo - 0.15, x_hi + 0.15)
            } else {
                (-2.0, 0.0)
            };
            // ticks at the ζ values themselves (a log axis's default ticks are not round numbers)
            let mut key_points: Vec<f64> = all.iter().map(|p| p.0.log10()).collect();
            key_points.sort_by(f64::total_cmp);
            key_points.dedup();
            let ys = all
                .iter()
                .flat_map(|p| [p.1.min, p.1.max, p.1.median])
                .flatten()
                .map(|e| e.value)
                .chain([0.0]);
            let (y_lo, y_hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            let pad = ((y_hi - y_lo) * 0.08).max(1.0);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("κ = {}", format_fraction_pct(*kappa)),
                    text_style(18.0),
                )
                .margin(12)
                .x_label_area_size(62)
                .y_label_area_size(65)
                .build_cartesian_2d(x_lo..x_hi, (y_lo - pad)..(y_hi + pad))
                .map_err(|e| err(&e))?;
            let y_formatter = |v: &f64| axis_tick(*v);
            chart
                .configure_mesh()
                .x_desc("ζ = n0 / n1 (log scale)")
                .y_desc("overcost (%)")
                .x_labels(0)
                .disable_x_mesh()
                .y_label_formatter(&y_formatter)
                .label_style(text_style(13.0))
                .axis_desc_style(text_style(15.0))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| err(&e))?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x_lo, 0.0), (x_hi, 0.0)],
                    BLACK.mix(0.4),
                )))
                .map_err(|e| err(&e))?;
            for &x in &key_points {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y_lo - pad), (x, y_hi + pad)],
                        BLACK.mix(0.15),
                    )))
                    .map_err(|e| err(&e))?;
                let (px, py) = chart.backend_coord(&(x, y_lo - pad));
                let (ox, oy) = area.get_base_pixel();
                area.draw(&Text::new(
                    format_fraction_pct(10f64.powf(x)),
                    (px - ox, py - oy + 6),
                    text_style(13.0).pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(|e| err(&e))?;
            }
            let mut undefined_cells = 0;
            for (i, s) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let medians: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter_map(|(z, sum)| sum.median.map(|m| (z.log10(), m.value)))
                    .collect();
                undefined_cells += s.points.iter().filter(|p| p.1.median.is_none()).count();
                chart
                    .draw_series(LineSeries::new(
                        medians.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| err(&e))?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                for (z, sum) in &s.points {
                    let (Some(median), Some(min), Some(max)) = (sum.median, sum.min, sum.max)
                    else {
                        continue;
                    };
                    let x = z.log10();
                    let mut elements = vec![PathElement::new(
                        vec![(x, min.value), (x, max.value)],
                        color.stroke_width(1),
                    )
                    .into_dyn()];
                    if median.lower_bound {
                        elements.push(
                            TriangleMarker::new((x, median.value), 9, color.stroke_width(2))
                                .into_dyn(),
                        );
                    } else {
                        elements.push(Circle::new((x, median.value), 4, color.filled()).into_dyn());
                    }
                    chart.draw_series(elements).map_err(|e| err(&e))?;
                }
            }
            chart
                .configure_series_labels()
                .label_font(text_style(13.0))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| err(&e))?;
            let mut note =
                "● median   △ lower bound (censored runs)   | min–max over seeds".to_string();
            if undefined_cells > 0 {
                note.push_str(&format!("   {undefined_cells} cell(s) n/a"));
            }
            let (_, h) = area.dim_in_pixel();
            area.draw(&Text::new(note, (75, h as i32 - 13), text_style(12.0)))
                .map_err(|e| err(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overcost::{Overcost, Undefined};
    use crate::plot::save_both;
    use crate::table::ArchLabel;

    #[test]
    fn one_panel_per_kappa_with_censored_and_undefined_cells() {
        let v = |pct| Overcost::Value { pct };
        let mut table = OvercostTable::new();
        let arch = ArchLabel {
            name: "mlp".into(),
            params: Some(12_345),
        };
        for (k, z, runs) in [
            (
                0.9,
                0.01,
                vec![v(300.0), Overcost::LowerBound { pct: 500.0 }],
            ),
            (0.9, 0.1, vec![v(80.0), v(120.0)]),
            (0.9, 0.8, vec![v(-5.0), v(5.0)]),
            (
                0.99,
                0.01,
                vec![Overcost::Undefined {
                    reason: Undefined::MajorityAtStart,
                }],
            ),
            (0.99, 0.8, vec![v(10.0)]),
        ] {
            table
                .insert(arch.clone(), k, z, OvercostSummary::new(&runs))
                .unwrap();
        }
        let fig = OvercostFigure::from_table(&table);
        assert_eq!(fig.panels.len(), 2);
        assert_eq!(fig.panels[0].1[0].points.len(), 3);
        let dir = std::env::temp_dir().join(format!("majmin-overcost-fig-{}", std::process::id()));
        let [svg, png] = save_both(&fig, &dir.join("overcost")).unwrap();
        let svg = std::fs::read_to_string(svg).unwrap();
        for needle in [
            "κ = 90 %",
            "κ = 99 %",
            "mlp (12.3K)",
            "1 cell(s) n/a",
            "10 %",
        ] {
            assert!(svg.contains(needle), "no `{needle}` in the SVG");
        }
        assert!(std::fs::metadata(png).unwrap().len() > 5_000);
        if std::env::var_os("MAJMIN_KEEP_FIGURES").is_none() {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
