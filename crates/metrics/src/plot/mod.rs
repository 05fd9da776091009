//! Figures as SVG or PNG, chosen by the file extension, with an embedded font.
//!
//! A figure implements [`Figure`]: one generic `draw` over any plotters backend, so the same code
//! writes both formats. [`save`] picks the backend from the extension (`.svg` or `.png`) and
//! registers the embedded DejaVu Sans font once (PNG text needs a font file; nothing is read from
//! the system). [`save_both`] writes `stem.svg` and `stem.png`.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use plotters;

pub mod curves;
mod marks;
pub mod network_zone;
pub mod overcost;
pub mod spectrum;
pub mod zone;

pub use curves::{CurvesFigure, ThresholdMark};
pub use network_zone::NetworkZoneFigure;
pub use overcost::{OvercostFigure, OvercostSeries};
pub use spectrum::{SpectrumFigure, SpectrumPanel};

/// The font family every figure uses.
pub const FONT: &str = "sans-serif";

/// What went wrong while drawing or writing a figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The extension is neither `.svg` nor `.png`.
    #[error("{path}: unsupported figure format: expected a file name ending in .svg or .png")]
    Format {
        /// The path given.
        path: PathBuf,
    },
    /// Drawing failed (the backend's message).
    #[error("{path}: cannot draw the figure: {message}")]
    Draw {
        /// The figure's path.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
}

/// A figure drawable on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        (900, 650)
    }

    /// Draws the figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate; a failure here would
        // only mean PNG text falls back to nothing, which the tests below would catch.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
        let _ = plotters::style::register_font(FONT, FontStyle::Italic, dejavu::sans::oblique());
        let _ = plotters::style::register_font(FONT, FontStyle::Oblique, dejavu::sans::oblique());
    });
}

/// Draws `figure` into `path` (`.svg` or `.png`), creating the parent folder.
pub fn save(figure: &impl Figure, path: &Path) -> Result<(), PlotError> {
    register_font();
    let err = |message: String| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
    }
    let size = figure.size();
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
            figure.draw(&root).map_err(err)?;
            root.present().map_err(|e| err(e.to_string()))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
            figure.draw(&root).map_err(err)?;
            root.present().map_err(|e| err(e.to_string()))
        }
        _ => Err(PlotError::Format {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes `stem.svg` and `stem.png`; returns both paths.
pub fn save_both(figure: &impl Figure, stem: &Path) -> Result<[PathBuf; 2], PlotError> {
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    save(figure, &svg)?;
    save(figure, &png)?;
    Ok([svg, png])
}

/// A text style in the embedded font.
pub fn text_style(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Label;
    impl Figure for Label {
        fn size(&self) -> (u32, u32) {
            (200, 60)
        }
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
            root.draw(&Text::new("majmin", (10, 10), text_style(30.0)))
                .map_err(|e| e.to_string())
        }
    }

    #[test]
    fn png_text_uses_the_embedded_font_and_svg_has_the_text() {
        let dir = std::env::temp_dir().join(format!("majmin-plot-{}", std::process::id()));
        let [svg, png] = save_both(&Label, &dir.join("label")).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("majmin"));
        // a PNG whose text rendered has dark pixels; a blank one is all white and compresses to little
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(
            bytes.len() > 400,
            "PNG of {} bytes: the text did not render",
            bytes.len()
        );
        assert!(matches!(
            save(&Label, &dir.join("x.jpg")),
            Err(PlotError::Format { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
