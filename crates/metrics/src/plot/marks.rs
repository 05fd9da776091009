//! Drawing helpers the metrics figures share: group colours, tick labels, dashed lines.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// The majority's colour (blue).
pub(crate) const MAJORITY_COLOR: RGBColor = RGBColor(31, 119, 180);
/// The minority's colour (red).
pub(crate) const MINORITY_COLOR: RGBColor = RGBColor(214, 39, 40);

/// A tick label: plain decimals from 0.01 to 10⁴, scientific otherwise.
pub(crate) fn axis_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (0.01..1e4).contains(&a) {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// A horizontal dashed line at `y` from `x0` to `x1`.
pub(crate) fn dashed_hline<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x0: f64,
    x1: f64,
    y: f64,
    style: ShapeStyle,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    const DASHES: usize = 60;
    let step = (x1 - x0) / DASHES as f64;
    chart.draw_series((0..DASHES).step_by(2).map(|i| {
        let a = x0 + i as f64 * step;
        PathElement::new(vec![(a, y), (a + step, y)], style)
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels() {
        assert_eq!(axis_tick(0.5), "0.5");
        assert_eq!(axis_tick(2.0), "2");
        assert_eq!(axis_tick(0.001), "1e-3");
        assert_eq!(axis_tick(0.0), "0");
    }
}
