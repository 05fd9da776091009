//! Curves, time to threshold, catch-up overcost, aggregation over seeds, tables and figures for
//! majmin (docs/definitions.md "Catch-up overcost", docs/architecture.md).
//!
//! The primary type is [`RunCurves`]: one run's majority, minority and global curves (mean loss
//! and accuracy against time in epochs), built from the training loop's
//! [`EvalPoint`](majmin_core::EvalPoint)s or read from a curve file made anywhere
//! ([`read_curves_csv`]). A [`Threshold`] (κ and a [`Criterion`]) gives each group's time to
//! threshold, linearly interpolated between evaluation points; [`catch_up_overcost`] turns the two
//! times into an [`Overcost`] — a value, a censored lower bound (`>X`) or undefined (`n/a`) —
//! and [`OvercostSummary`] aggregates runs over seeds (median, min–max, quartiles, censored and
//! undefined counts). [`OvercostTable`] lays summaries out like the poster (rows: architecture with
//! its size; columns: κ, then ζ) as text, Markdown, LaTeX and CSV, and [`plot`] draws the
//! per-group curves ([`plot::CurvesFigure`]) and the overcost against ζ
//! ([`plot::OvercostFigure`]) as SVG or PNG. [`MethodComparison`] sets training methods side by
//! side: median overcost per method, κ and ζ beside the worst-group held-out accuracy.
//!
//! Design: everything here is a pure function of recorded curves, so an overcost computed from a
//! sweep and one computed from a PyTorch log go through the same code, and a censored or undefined
//! run is a value of its own type rather than a missing row: no run is silently dropped. The crate
//! never prints; it logs with `tracing` and returns [`MetricsError`]s that name the file, line and
//! column, or the run and group.
//!
//! ```
//! use std::path::Path;
//! use majmin_metrics::{catch_up_overcost, parse_curves_csv, Criterion, OvercostSummary, Threshold};
//!
//! // Global mean loss 1 at t = 0, so the κ = 0.5 level is 0.5. The majority gets there at t = 1,
//! // the minority halfway between t = 2 and t = 4, i.e. at t = 3: an overcost of 200 %.
//! let text = "t,group,loss,accuracy\n\
//!             0,all,1.0,\n\
//!             0,majority,1.0,\n1,majority,0.5,\n\
//!             0,minority,1.0,\n2,minority,0.7,\n4,minority,0.3,\n";
//! let runs = parse_curves_csv(text, Path::new("example.csv")).unwrap();
//! let threshold = Threshold::new(0.5, Criterion::Loss).unwrap();
//! let result = catch_up_overcost(&runs[0], &threshold).unwrap();
//! assert!((result.overcost.pct().unwrap() - 200.0).abs() < 1e-9);
//! let summary = OvercostSummary::new([&result.overcost]);
//! assert_eq!(summary.cell(), "200");
//! ```
#![deny(missing_docs)]

pub mod aggregate;
pub mod compare;
pub mod curve;
pub mod error;
pub mod overcost;
pub mod plot;
pub mod table;
pub mod threshold;
pub mod zone;
pub mod zone_distance;

pub use aggregate::{Estimate, OvercostSummary};
pub use compare::{
    ComparisonRow, GroupAccuracy, GroupScores, MethodComparison, ACCURACY_DEFINITIONS,
};
pub use curve::{
    parse_curves_csv, read_curves_csv, write_curves_csv, CurveGroup, CurveOrigin, CurvePoint,
    GroupCurve, RunCurves, DEFAULT_RUN,
};
pub use error::MetricsError;
pub use overcost::{catch_up_overcost, format_pct, Overcost, RunOvercost, Undefined};
pub use table::{
    format_fraction_pct, format_params, ArchLabel, OvercostCell, OvercostTable, ZoneCell,
    TEXT_WIDTH,
};
pub use threshold::{first_crossing, Criterion, Crossing, Direction, Threshold};
pub use zone::{minority_drop, zone_summary, MinorityDrop, ZoneSummary};
pub use zone_distance::{zone_distances, zone_rows, ProbeAtDistance, ZoneDistances, ZoneRow};
