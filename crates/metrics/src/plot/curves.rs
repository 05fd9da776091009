//! Per-group curves with the threshold level and the times to threshold marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::marks::{axis_tick, dashed_hline, MAJORITY_COLOR, MINORITY_COLOR};
use super::{text_style, Figure};
use crate::curve::{CurveGroup, GroupCurve, RunCurves};
use crate::error::MetricsError;
use crate::table::format_fraction_pct;
use crate::threshold::{Criterion, Crossing, Threshold};

/// One κ's marks on a [`CurvesFigure`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdMark {
    /// κ.
    pub kappa: f64,
    /// The level both groups must reach.
    pub level: f64,
    /// `T1(κ)`.
    pub majority: Crossing,
    /// `T0(κ)`.
    pub minority: Crossing,
}

/// A run's majority and minority curves (mean loss, or accuracy under the accuracy criterion)
/// against t, the global curve in grey when recorded, a dashed line at each κ's level, and `T1`
/// and `T0` marked on it (a censored `T0` as a hollow triangle at the last t).
#[derive(Debug, Clone, PartialEq)]
pub struct CurvesFigure {
    /// The title.
    pub title: String,
    /// Which quantity is drawn.
    pub criterion: Criterion,
    /// Majority `(t, value)`.
    pub majority: Vec<(f64, f64)>,
    /// Minority `(t, value)`.
    pub minority: Vec<(f64, f64)>,
    /// Global `(t, value)`; empty when not recorded.
    pub all: Vec<(f64, f64)>,
    /// One mark per κ.
    pub marks: Vec<ThresholdMark>,
    /// Logarithmic y axis (ignored, with a logged warning, when a value is ≤ 0).
    pub log_y: bool,
}

impl CurvesFigure {
    /// The figure of `run` with the levels and crossings of each κ in `kappas` (log-y off; set
    /// [`CurvesFigure::log_y`] for losses spanning decades).
    ///
    /// # Errors
    /// As [`Threshold::new`], [`Threshold::level`] and [`Threshold::crossing`].
    pub fn new(
        run: &RunCurves,
        criterion: Criterion,
        kappas: &[f64],
    ) -> Result<Self, MetricsError> {
        let series = |curve: Option<&GroupCurve>| -> Vec<(f64, f64)> {
            curve
                .map(|c| {
                    c.points()
                        .iter()
                        .filter_map(|p| {
                            let v = match criterion {
                                Criterion::Loss => p.loss,
                                Criterion::Accuracy => p.accuracy,
                            };
                            v.map(|v| (p.t, v))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut marks = Vec::with_capacity(kappas.len());
        for &kappa in kappas {
            let threshold = Threshold::new(kappa, criterion)?;
            let level = threshold.level(run)?;
            marks.push(ThresholdMark {
                kappa,
                level,
                majority: threshold.crossing(run, CurveGroup::Majority, level)?,
                minority: threshold.crossing(run, CurveGroup::Minority, level)?,
            });
        }
        Ok(Self {
            title: format!("{}: per-group {}", run.run, criterion.name()),
            criterion,
            majority: series(Some(&run.majority)),
            minority: series(Some(&run.minority)),
            all: series(run.all.as_ref()),
            marks,
            log_y: false,
        })
    }
}

impl Figure for CurvesFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let values = self
            .majority
            .iter()
            .chain(&self.minority)
            .chain(&self.all)
            .map(|p| p.1)
            .chain(self.marks.iter().map(|m| m.level));
        let log_y = self.log_y && values.clone().all(|v| v > 0.0);
        if self.log_y && !log_y {
            tracing::warn!("a value is ≤ 0: the curves figure uses a linear y axis");
        }
        let y = |v: f64| if log_y { v.log10() } else { v };
        let (mut y_lo, mut y_hi) = values
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(y(v)), hi.max(y(v)))
            });
        if !y_lo.is_finite() {
            (y_lo, y_hi) = (0.0, 1.0);
        }
        let pad = ((y_hi - y_lo) * 0.05).max(1e-9);
        let (y_lo, y_hi) = (y_lo - pad, y_hi + pad);
        let t_max = self
            .majority
            .iter()
            .chain(&self.minority)
            .chain(&self.all)
            .map(|p| p.0)
            .fold(0.0, f64::max);
        let t_max = if t_max > 0.0 { t_max * 1.02 } else { 1.0 };

        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, text_style(22.0))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max, y_lo..y_hi)
            .map_err(|e| err(&e))?;
        let quantity = match self.criterion {
            Criterion::Loss => "mean loss",
            Criterion::Accuracy => "training accuracy",
        };
        let y_desc = if log_y {
            format!("{quantity} (log scale)")
        } else {
            quantity.to_string()
        };
        let y_formatter = |v: &f64| axis_tick(if log_y { 10f64.powf(*v) } else { *v });
        chart
            .configure_mesh()
            .x_desc("t (epochs)")
            .y_desc(y_desc)
            .y_label_formatter(&y_formatter)
            .label_style(text_style(14.0))
            .axis_desc_style(text_style(16.0))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(&e))?;

        let grey = RGBColor(140, 140, 140);
        if !self.all.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    self.all.iter().map(|&(t, v)| (t, y(v))),
                    grey.stroke_width(1),
                ))
                .map_err(|e| err(&e))?
                .label("all samples")
                .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], grey));
        }
        for (points, color, label) in [
            (&self.majority, MAJORITY_COLOR, "majority"),
            (&self.minority, MINORITY_COLOR, "minority"),
        ] {
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(t, v)| (t, y(v))),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(label)
                .legend(move |(x, yy)| {
                    PathElement::new(vec![(x, yy), (x + 20, yy)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(t, v)| Circle::new((t, y(v)), 2, color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
        for mark in &self.marks {
            let level = y(mark.level);
            dashed_hline(&mut chart, 0.0, t_max, level, BLACK.stroke_width(1))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("κ = {}", format_fraction_pct(mark.kappa)),
                    (t_max * 0.01, level),
                    text_style(13.0).pos(Pos::new(HPos::Left, VPos::Bottom)),
                )))
                .map_err(|e| err(&e))?;
            for (crossing, color, name) in [
                (mark.majority, MAJORITY_COLOR, "T1"),
                (mark.minority, MINORITY_COLOR, "T0"),
            ] {
                match crossing {
                    Crossing::Reached { t } => {
                        chart
                            .draw_series([
                                PathElement::new(
                                    vec![(t, y_lo), (t, level)],
                                    color.stroke_width(1),
                                )
                                .into_dyn(),
                                Circle::new((t, level), 5, color.filled()).into_dyn(),
                                Text::new(
                                    name.to_string(),
                                    (t, level),
                                    text_style(13.0).pos(Pos::new(HPos::Left, VPos::Top)),
                                )
                                .into_dyn(),
                            ])
                            .map_err(|e| err(&e))?;
                    }
                    Crossing::NotReached { last_t } => {
                        chart
                            .draw_series([
                                TriangleMarker::new((last_t, level), 7, color.stroke_width(2))
                                    .into_dyn(),
                                Text::new(
                                    format!("{name} > {}", axis_tick(last_t)),
                                    (last_t, level),
                                    text_style(13.0).pos(Pos::new(HPos::Right, VPos::Top)),
                                )
                                .into_dyn(),
                            ])
                            .map_err(|e| err(&e))?;
                    }
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::parse_curves_csv;
    use crate::plot::save_both;

    #[test]
    fn marks_the_levels_and_crossings_and_writes_svg_and_png() {
        let text = "t,group,loss\n0,all,1\n0,majority,1\n1,majority,0.4\n4,majority,0.005\n\
                    0,minority,1\n2,minority,0.5\n4,minority,0.2\n";
        let run = &parse_curves_csv(text, std::path::Path::new("x.csv")).unwrap()[0];
        let mut fig = CurvesFigure::new(run, Criterion::Loss, &[0.5, 0.99]).unwrap();
        assert_eq!(fig.marks.len(), 2);
        assert!((fig.marks[0].level - 0.5).abs() < 1e-12);
        assert_eq!(fig.marks[0].minority, Crossing::Reached { t: 2.0 });
        assert_eq!(fig.marks[1].minority, Crossing::NotReached { last_t: 4.0 });
        fig.log_y = true;
        let dir = std::env::temp_dir().join(format!("majmin-curves-fig-{}", std::process::id()));
        let [svg, png] = save_both(&fig, &dir.join("curves")).unwrap();
        let svg = std::fs::read_to_string(svg).unwrap();
        for needle in [
            "majority",
            "minority",
            "κ = 50 %",
            "T1",
            "T0 &gt; 4",
            "log scale",
        ] {
            assert!(svg.contains(needle), "no `{needle}` in the SVG");
        }
        assert!(std::fs::metadata(png).unwrap().len() > 5_000);
        if std::env::var_os("MAJMIN_KEEP_FIGURES").is_none() {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
