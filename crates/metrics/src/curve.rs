//! Per-run curve sets: each group's mean loss and accuracy against time (docs/definitions.md).
//!
//! A [`RunCurves`] holds three [`GroupCurve`]s — the majority, the minority and (optionally) `all`
//! samples — each sorted by time `t` in epochs. It is built from the training loop's
//! [`EvalPoint`]s with [`RunCurves::from_eval_points`], or read from a curve file made anywhere
//! (a PyTorch log, say) with [`read_curves_csv`] / [`parse_curves_csv`]; [`write_curves_csv`]
//! writes the same format back.
//!
//! # The curve file
//!
//! ```text
//! run,t,group,loss,accuracy
//! seed0,0,all,2.30,0.10
//! seed0,0,majority,2.31,0.10
//! seed0,0,minority,2.28,0.09
//! seed0,0.5,majority,1.10,0.61
//! ```
//!
//! - A header row is required; columns are found by name (any order, case-insensitive), unknown
//!   columns are ignored. `t` and `group` are required, and at least one of `loss` and
//!   `accuracy`; `run` is optional (without it the file holds one run named [`DEFAULT_RUN`]).
//! - `group` is `majority`, `minority` or `all` (the `all` rows carry the global mean loss L̄ that
//!   sets the loss criterion's threshold).
//! - `t` is a finite number ≥ 0; evaluation times may be irregular and differ between groups;
//!   rows may come in any order (each group's points are sorted by `t`); a second row for the same
//!   run, group and `t` is an error.
//! - `loss` is a finite number ≥ 0 and `accuracy` a number in [0, 1] (a fraction, not a
//!   percentage), or empty (missing); a criterion that needs a missing value says so when it is
//!   computed, and one that needs a missing *column* names the file and the column
//!   ([`MetricsError::MissingColumn`]).
//! - A header that names a column twice is an error. A UTF-8 byte-order mark at the start of the
//!   file is skipped.
//! - Blank lines and lines starting with `#` are skipped; fields may be double-quoted.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use majmin_core::EvalPoint;
use serde::{Deserialize, Serialize};

use crate::error::MetricsError;
use crate::threshold::Criterion;

/// The run name given to a curve file without a `run` column.
pub const DEFAULT_RUN: &str = "run";

/// Which samples a curve averages over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CurveGroup {
    /// The majority (a = 1): mean loss `L̄_1`.
    Majority,
    /// The minority (a = 0): mean loss `L̄_0`.
    Minority,
    /// All samples: the global mean loss `L̄ = L`.
    All,
}

impl CurveGroup {
    /// The name used in curve files.
    pub fn name(self) -> &'static str {
        match self {
            CurveGroup::Majority => "majority",
            CurveGroup::Minority => "minority",
            CurveGroup::All => "all",
        }
    }

    /// Parses `majority`, `minority` or `all` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "majority" => Some(CurveGroup::Majority),
            "minority" => Some(CurveGroup::Minority),
            "all" => Some(CurveGroup::All),
            _ => None,
        }
    }
}

impl fmt::Display for CurveGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One evaluation of one group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Time in epochs.
    pub t: f64,
    /// The group's mean loss, when recorded.
    pub loss: Option<f64>,
    /// The group's training accuracy in [0, 1], when recorded.
    pub accuracy: Option<f64>,
}

/// One group's curve: points sorted by strictly increasing `t`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupCurve {
    points: Vec<CurvePoint>,
}

impl GroupCurve {
    /// A curve from points in any order; `None` if two points share a time or a time is not a
    /// finite number.
    pub fn new(mut points: Vec<CurvePoint>) -> Option<Self> {
        if points.iter().any(|p| !p.t.is_finite()) {
            return None;
        }
        points.sort_by(|a, b| a.t.total_cmp(&b.t));
        if points.windows(2).any(|w| w[0].t == w[1].t) {
            return None;
        }
        Some(Self { points })
    }

    /// The points, sorted by `t`.
    pub fn points(&self) -> &[CurvePoint] {
        &self.points
    }

    /// Whether the curve has no point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The first evaluation time.
    pub fn first_t(&self) -> Option<f64> {
        self.points.first().map(|p| p.t)
    }

    /// The last evaluation time.
    pub fn last_t(&self) -> Option<f64> {
        self.points.last().map(|p| p.t)
    }
}

/// Where a run's curves were read from: the curve file, its header line and which of the
/// quantity columns the header has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurveOrigin {
    /// The file (or the name given to the text).
    pub path: PathBuf,
    /// 1-based line of the header.
    pub header_line: usize,
    /// Whether the header has a `loss` column.
    pub has_loss: bool,
    /// Whether the header has an `accuracy` column.
    pub has_accuracy: bool,
}

/// The curves of one run: majority, minority and (optionally) all samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCurves {
    /// The run's name (e.g. `seed3`, or the `run` column of a curve file).
    pub run: String,
    /// Majority mean loss `L̄_1` and accuracy.
    pub majority: GroupCurve,
    /// Minority mean loss `L̄_0` and accuracy.
    pub minority: GroupCurve,
    /// Global mean loss `L̄` and accuracy over all samples; `None` when not recorded.
    pub all: Option<GroupCurve>,
    /// The curve file the run was read from (`None` for curves built in memory), so that a
    /// criterion whose column the file lacks names the file and the column.
    #[serde(skip)]
    pub origin: Option<CurveOrigin>,
}

impl RunCurves {
    /// The curves recorded by the training loop.
    ///
    /// The points are sorted by `t`. A point whose losses are not all finite ends the curves
    /// there (the run diverged; its earlier points are kept and a warning is logged), so that a
    /// diverged run is censored at its last finite point rather than dropped.
    ///
    /// # Errors
    /// No finite point at all, or two points at the same `t`.
    pub fn from_eval_points(
        run: impl Into<String>,
        points: &[EvalPoint],
    ) -> Result<Self, MetricsError> {
        let run = run.into();
        let err = |message: String| MetricsError::Curves {
            source_name: "evaluation points".into(),
            run: run.clone(),
            message,
        };
        let mut sorted: Vec<&EvalPoint> = points.iter().collect();
        sorted.sort_by(|a, b| a.t.total_cmp(&b.t));
        let mut kept = Vec::with_capacity(sorted.len());
        for p in sorted {
            let finite = [p.t, p.loss, p.majority_loss, p.minority_loss]
                .iter()
                .all(|v| v.is_finite());
            if !finite {
                tracing::warn!(run = %run, t = p.t, "non-finite loss: the curves end at the last finite point");
                break;
            }
            kept.push(p);
        }
        if kept.is_empty() {
            return Err(err("no evaluation point with finite losses".into()));
        }
        let curve = |loss: fn(&EvalPoint) -> f64, accuracy: fn(&EvalPoint) -> f64| {
            GroupCurve::new(
                kept.iter()
                    .map(|p| CurvePoint {
                        t: p.t,
                        loss: Some(loss(p)),
                        accuracy: Some(accuracy(p)).filter(|a| a.is_finite()),
                    })
                    .collect(),
            )
        };
        let duplicate = || err("two evaluation points share the same t".into());
        Ok(Self {
            majority: curve(|p| p.majority_loss, |p| p.majority_accuracy).ok_or_else(duplicate)?,
            minority: curve(|p| p.minority_loss, |p| p.minority_accuracy).ok_or_else(duplicate)?,
            all: Some(curve(|p| p.loss, |p| p.accuracy).ok_or_else(duplicate)?),
            run,
            origin: None,
        })
    }

    /// Checks that the curve file the run came from has the column `criterion` needs (`loss` or
    /// `accuracy`); curves built in memory always pass.
    ///
    /// # Errors
    /// [`MetricsError::MissingColumn`] naming the file, its header line and the column.
    pub fn require_column(&self, criterion: Criterion) -> Result<(), MetricsError> {
        let Some(origin) = &self.origin else {
            return Ok(());
        };
        let present = match criterion {
            Criterion::Loss => origin.has_loss,
            Criterion::Accuracy => origin.has_accuracy,
        };
        if present {
            Ok(())
        } else {
            Err(MetricsError::MissingColumn {
                path: origin.path.clone(),
                line: origin.header_line,
                column: criterion.name(),
            })
        }
    }

    /// The curve of `group` (`None` for `All` when not recorded).
    pub fn group(&self, group: CurveGroup) -> Option<&GroupCurve> {
        match group {
            CurveGroup::Majority => Some(&self.majority),
            CurveGroup::Minority => Some(&self.minority),
            CurveGroup::All => self.all.as_ref(),
        }
    }

    /// The run's first evaluation time over all its curves.
    pub fn first_t(&self) -> f64 {
        [
            Some(&self.majority),
            Some(&self.minority),
            self.all.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(GroupCurve::first_t)
        .fold(f64::INFINITY, f64::min)
    }

    /// The run's last evaluation time over all its curves.
    pub fn last_t(&self) -> f64 {
        [
            Some(&self.majority),
            Some(&self.minority),
            self.all.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(GroupCurve::last_t)
        .fold(f64::NEG_INFINITY, f64::max)
    }

    /// `L̄(θ0)`: the global mean loss at the run's first evaluation point.
    ///
    /// # Errors
    /// [`MetricsError::MissingGlobalLoss`] without an `all` curve; [`MetricsError::Curves`] when
    /// the `all` curve starts later than the group curves (then its first loss is not `L̄(θ0)`);
    /// [`MetricsError::MissingValue`] when that loss is empty.
    pub fn initial_global_loss(&self) -> Result<f64, MetricsError> {
        self.require_column(Criterion::Loss)?;
        let all = self.all.as_ref().filter(|c| !c.is_empty());
        let Some(all) = all else {
            return Err(MetricsError::MissingGlobalLoss {
                run: self.run.clone(),
            });
        };
        let first = all.points[0];
        let start = self.first_t();
        if first.t > start {
            return Err(MetricsError::Curves {
                source_name: "curves".into(),
                run: self.run.clone(),
                message: format!(
                    "the first `all` point is at t = {}, but the run starts at t = {start}: the global \
                     threshold needs the global mean loss at the first evaluation point",
                    first.t
                ),
            });
        }
        first.loss.ok_or(MetricsError::MissingValue {
            run: self.run.clone(),
            group: CurveGroup::All.name().into(),
            t: first.t,
            quantity: "loss",
        })
    }
}

/// Reads a curve file (format in the [module documentation](self)); runs in order of first
/// appearance. The path is any `AsRef<Path>`; it need not be UTF-8 (errors print it lossily).
///
/// # Errors
/// [`MetricsError::Io`] if the file cannot be read, [`MetricsError::Csv`] at the line of a byte
/// that is not UTF-8, otherwise as [`parse_curves_csv`].
pub fn read_curves_csv(path: impl AsRef<Path>) -> Result<Vec<RunCurves>, MetricsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..good];
        MetricsError::Csv {
            path: path.to_path_buf(),
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: None,
            message: format!(
                "expected UTF-8 text, found the byte 0x{:02x} (byte {good} of the file)",
                e.as_bytes()[good]
            ),
        }
    })?;
    parse_curves_csv(&text, path)
}

/// Parses the text of a curve file; `path` only names it in errors. A leading UTF-8 byte-order
/// mark is skipped.
///
/// # Errors
/// [`MetricsError::Csv`] with the line, the column and what was expected (missing header or
/// column, unknown group, a value that is not a number, a negative `t`, a repeated
/// run/group/`t`, a row with too few fields); [`MetricsError::DuplicateColumn`] for a header that
/// names a column twice; [`MetricsError::OutOfRange`] for a loss that is negative or not finite
/// or an accuracy outside [0, 1]; [`MetricsError::Curves`] when a run lacks its majority or
/// minority rows.
pub fn parse_curves_csv(text: &str, path: &Path) -> Result<Vec<RunCurves>, MetricsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let csv_err = |line: usize, column: Option<String>, message: String| MetricsError::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));

    let Some((header_line, header)) = lines.next() else {
        return Err(csv_err(
            1,
            None,
            "empty file: expected a header row `t,group,loss,accuracy` (optionally `run`)".into(),
        ));
    };
    let names: Vec<String> = split_fields(header)
        .map_err(|m| csv_err(header_line, None, m))?
        .into_iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    for (second, name) in names.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if let Some(first) = names[..second].iter().position(|n| n == name) {
            return Err(MetricsError::DuplicateColumn {
                path: path.to_path_buf(),
                line: header_line,
                column: name.clone(),
                first: first + 1,
                second: second + 1,
            });
        }
    }
    let find = |name: &str| names.iter().position(|n| n == name);
    let (Some(t_col), Some(group_col)) = (find("t"), find("group")) else {
        let missing: Vec<&str> = ["t", "group"]
            .into_iter()
            .filter(|n| find(n).is_none())
            .collect();
        return Err(csv_err(
            header_line,
            None,
            format!(
                "header `{header}` lacks the column(s) {}: expected a header row naming `t`, `group`, \
                 `loss`, `accuracy` (and optionally `run`)",
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let loss_col = find("loss");
    let accuracy_col = find("accuracy");
    if loss_col.is_none() && accuracy_col.is_none() {
        return Err(csv_err(
            header_line,
            None,
            format!("header `{header}` has neither a `loss` nor an `accuracy` column: expected at least one"),
        ));
    }
    let run_col = find("run");
    let column = |i: usize| Some(format!("{} (`{}`)", i + 1, names[i]));

    // run -> group -> (t bits -> line), and the points
    struct Partial {
        points: [Vec<CurvePoint>; 3],
        seen: [HashMap<u64, usize>; 3],
    }
    let mut order: Vec<String> = Vec::new();
    let mut runs: HashMap<String, Partial> = HashMap::new();
    for (line, row) in lines {
        let fields = split_fields(row).map_err(|m| csv_err(line, None, m))?;
        if fields.len() < names.len() {
            return Err(csv_err(
                line,
                None,
                format!(
                    "expected {} fields as in the header, found {}",
                    names.len(),
                    fields.len()
                ),
            ));
        }
        let run = match run_col {
            Some(c) => {
                let r = fields[c].trim();
                if r.is_empty() {
                    return Err(csv_err(
                        line,
                        column(c),
                        "expected a run name, found an empty cell".into(),
                    ));
                }
                r.to_string()
            }
            None => DEFAULT_RUN.to_string(),
        };
        let t_text = fields[t_col].trim();
        let t: f64 = t_text
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| {
                csv_err(
                    line,
                    column(t_col),
                    format!("expected a time in epochs (a finite number), found `{t_text}`"),
                )
            })?;
        if t < 0.0 {
            return Err(csv_err(
                line,
                column(t_col),
                format!("expected a time ≥ 0, found {t_text}"),
            ));
        }
        let group_text = fields[group_col].trim();
        let group = CurveGroup::parse(group_text).ok_or_else(|| {
            csv_err(
                line,
                column(group_col),
                format!("expected `majority`, `minority` or `all`, found `{group_text}`"),
            )
        })?;
        let value = |col: Option<usize>,
                     what: &str,
                     expected: &'static str,
                     in_range: fn(f64) -> bool|
         -> Result<Option<f64>, MetricsError> {
            let Some(c) = col else { return Ok(None) };
            let text = fields[c].trim();
            if text.is_empty() {
                return Ok(None);
            }
            let v = text.parse::<f64>().map_err(|_| {
                csv_err(
                    line,
                    column(c),
                    format!("expected {what} (a number or an empty cell), found `{text}`"),
                )
            })?;
            if !in_range(v) {
                return Err(MetricsError::OutOfRange {
                    path: path.to_path_buf(),
                    line,
                    column: column(c).unwrap_or_default(),
                    value: format!("`{text}`"),
                    expected,
                });
            }
            Ok(Some(v))
        };
        let loss = value(
            loss_col,
            "a mean loss",
            "a mean loss: a finite number ≥ 0",
            |v| v.is_finite() && v >= 0.0,
        )?;
        let accuracy = value(
            accuracy_col,
            "an accuracy",
            "an accuracy in [0, 1] (a fraction: 0.95 for 95 %)",
            |v| (0.0..=1.0).contains(&v),
        )?;
        if !runs.contains_key(&run) {
            order.push(run.clone());
        }
        let partial = runs.entry(run.clone()).or_insert_with(|| Partial {
            points: Default::default(),
            seen: Default::default(),
        });
        let g = group as usize;
        if let Some(first) = partial.seen[g].insert((t + 0.0).to_bits(), line) {
            return Err(csv_err(
                line,
                column(t_col),
                format!("run `{run}`, group {group}: t = {t_text} already appears on line {first}; expected one row per run, group and t"),
            ));
        }
        partial.points[g].push(CurvePoint { t, loss, accuracy });
    }
    if order.is_empty() {
        return Err(csv_err(
            header_line,
            None,
            "no data rows after the header".into(),
        ));
    }
    let mut out = Vec::with_capacity(order.len());
    for run in order {
        let Partial { points, .. } = runs
            .remove(&run)
            .expect("every run in `order` has an entry");
        let [majority, minority, all] = points;
        for (pts, group) in [
            (&majority, CurveGroup::Majority),
            (&minority, CurveGroup::Minority),
        ] {
            if pts.is_empty() {
                return Err(MetricsError::Curves {
                    source_name: path.display().to_string(),
                    run,
                    message: format!(
                        "no `{group}` rows: expected rows for both `majority` and `minority`"
                    ),
                });
            }
        }
        // Duplicates were rejected above, so the curves build.
        let build = |p: Vec<CurvePoint>| GroupCurve::new(p).expect("times are finite and distinct");
        out.push(RunCurves {
            majority: build(majority),
            minority: build(minority),
            all: if all.is_empty() {
                None
            } else {
                Some(build(all))
            },
            run,
            origin: Some(CurveOrigin {
                path: path.to_path_buf(),
                header_line,
                has_loss: loss_col.is_some(),
                has_accuracy: accuracy_col.is_some(),
            }),
        });
    }
    Ok(out)
}

/// Writes curves in the curve-file format (with a `run` column), readable by [`parse_curves_csv`].
pub fn write_curves_csv(runs: &[RunCurves]) -> String {
    let mut out = String::from("run,t,group,loss,accuracy\n");
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for run in runs {
        let name = quote_field(&run.run);
        for group in [CurveGroup::All, CurveGroup::Majority, CurveGroup::Minority] {
            if let Some(curve) = run.group(group) {
                for p in curve.points() {
                    out.push_str(&format!(
                        "{name},{},{group},{},{}\n",
                        p.t,
                        opt(p.loss),
                        opt(p.accuracy)
                    ));
                }
            }
        }
    }
    out
}

/// Quotes a CSV field when it contains a comma, a quote or a line break.
pub(crate) fn quote_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Splits one CSV line into fields (double quotes, `""` inside quotes).
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut position = 0usize;
    while let Some(c) = chars.next() {
        position += 1;
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated double quote (opened before character {position}): expected a closing `\"`"));
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<RunCurves>, MetricsError> {
        parse_curves_csv(text, Path::new("c.csv"))
    }

    fn csv_error(text: &str) -> (usize, Option<String>, String) {
        match parse(text) {
            Err(MetricsError::Csv {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn rows_in_any_order_are_sorted_per_run_and_group() {
        let text = "group,t,loss,accuracy,run,extra\n\
                    minority,2,0.5,0.7,b,x\n\
                    majority,1,0.4,,a,x\n\
                    majority,0,1.0,0.1,a,x\n\
                    minority,0,1.0,0.1,a,x\n\
                    all,0,1.0,0.1,a,x\n\
                    \n# comment\n\
                    majority,0.5,0.9,0.2,b,x\n";
        let runs = parse(text).unwrap();
        assert_eq!(
            runs.iter().map(|r| r.run.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        let a = &runs[1];
        assert_eq!(
            a.majority.points().iter().map(|p| p.t).collect::<Vec<_>>(),
            [0.0, 1.0]
        );
        assert_eq!(a.majority.points()[1].accuracy, None);
        assert_eq!(a.initial_global_loss().unwrap(), 1.0);
        assert!(runs[0].all.is_none());
        assert!(matches!(
            runs[0].initial_global_loss(),
            Err(MetricsError::MissingGlobalLoss { .. })
        ));
    }

    #[test]
    fn a_file_without_run_column_is_one_run() {
        let runs = parse("t,group,loss\n0,majority,1\n0,minority,1\n").unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run, DEFAULT_RUN);
    }

    #[test]
    fn errors_name_line_column_and_expectation() {
        let (line, column, message) =
            csv_error("t,group,loss,accuracy\n0,majority,1,1\n0,minorty,1,1\n");
        assert_eq!(line, 3);
        assert_eq!(column.as_deref(), Some("2 (`group`)"));
        assert!(
            message.contains("expected `majority`, `minority` or `all`"),
            "{message}"
        );

        let (line, column, message) = csv_error("t,group,loss,accuracy\n0,majority,abc,1\n");
        assert_eq!((line, column.as_deref()), (2, Some("3 (`loss`)")));
        assert!(message.contains("found `abc`"));

        let (line, column, message) =
            csv_error("t,group,loss,accuracy\n0,majority,1,1\n0.0,majority,2,1\n");
        assert_eq!((line, column.as_deref()), (3, Some("1 (`t`)")));
        assert!(message.contains("already appears on line 2"), "{message}");

        let (line, _, message) = csv_error("time,group,loss\n");
        assert_eq!(line, 1);
        assert!(message.contains("`t`"), "{message}");

        let (line, _, message) = csv_error("t,group,loss,accuracy\n1,majority\n");
        assert_eq!(line, 2);
        assert!(message.contains("expected 4 fields"), "{message}");

        let (_, column, message) = csv_error("t,group,loss\n-1,majority,1\n");
        assert_eq!(column.as_deref(), Some("1 (`t`)"));
        assert!(message.contains("≥ 0"));

        assert!(matches!(csv_error("").0, 1));
        let err = parse("t,group,loss\n0,majority,1\n").unwrap_err();
        assert!(err.to_string().contains("no `minority` rows"), "{err}");
        let full = parse("t,group,loss\n0,majority,nan\n")
            .unwrap_err()
            .to_string();
        assert!(
            full.starts_with("c.csv:2: column 3 (`loss`): expected"),
            "{full}"
        );
    }

    #[test]
    fn losses_and_accuracies_out_of_range_name_file_line_column_and_value() {
        let out_of_range = |text: &str| match parse(text) {
            Err(e @ MetricsError::OutOfRange { .. }) => e,
            other => panic!("expected OutOfRange, got {other:?}"),
        };
        for (row, column, value) in [
            ("0,majority,-0.5,0.5", "3 (`loss`)", "`-0.5`"),
            ("0,majority,inf,0.5", "3 (`loss`)", "`inf`"),
            ("0,majority,NaN,0.5", "3 (`loss`)", "`NaN`"),
            ("0,majority,1,1.5", "4 (`accuracy`)", "`1.5`"),
            ("0,majority,1,-0.01", "4 (`accuracy`)", "`-0.01`"),
            ("0,majority,1,95", "4 (`accuracy`)", "`95`"),
            ("0,majority,1,nan", "4 (`accuracy`)", "`nan`"),
        ] {
            let e = out_of_range(&format!("t,group,loss,accuracy\n0,minority,1,0\n{row}\n"));
            match &e {
                MetricsError::OutOfRange {
                    path,
                    line,
                    column: c,
                    value: v,
                    ..
                } => {
                    assert_eq!(
                        (path.as_path(), *line, c.as_str(), v.as_str()),
                        (Path::new("c.csv"), 3, column, value),
                        "{row}"
                    );
                }
                other => panic!("{other:?}"),
            }
            assert!(
                e.to_string()
                    .starts_with(&format!("c.csv:3: column {column}: expected ")),
                "{e}"
            );
        }
        let e = out_of_range("t,group,loss,accuracy\n0,majority,-1,\n");
        assert_eq!(
            e.to_string(),
            "c.csv:2: column 3 (`loss`): expected a mean loss: a finite number ≥ 0, found `-1`"
        );
        // the edges are allowed
        let runs = parse("t,group,loss,accuracy\n0,majority,0,0\n0,minority,0,1\n").unwrap();
        assert_eq!(runs[0].minority.points()[0].accuracy, Some(1.0));
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let runs = parse("\u{feff}t,group,loss,accuracy\n0,majority,1,\n0,minority,1,\n").unwrap();
        assert_eq!(runs.len(), 1);
        let dir = std::env::temp_dir().join(format!("majmin-metrics-bom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bom.csv");
        std::fs::write(
            &path,
            b"\xef\xbb\xbft,group,loss\n0,all,1\n0,majority,1\n0,minority,1\n",
        )
        .unwrap();
        let runs = read_curves_csv(&path).unwrap();
        assert_eq!(runs[0].initial_global_loss().unwrap(), 1.0);
        std::fs::write(&path, b"t,group,loss\n0,all,1\n0,major\xffity,1\n").unwrap();
        let e = read_curves_csv(&path).unwrap_err();
        assert!(matches!(e, MetricsError::Csv { line: 3, .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("expected UTF-8 text, found the byte 0xff"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_column_named_twice_is_an_error() {
        let e = parse("# made by hand\nt,group,loss,Loss,accuracy\n0,majority,1,2,\n").unwrap_err();
        assert!(
            matches!(&e, MetricsError::DuplicateColumn { line: 2, column, first: 3, second: 4, .. } if column == "loss"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "c.csv:2: the header names the column `loss` twice (columns 3 and 4); expected each column once"
        );
        assert!(matches!(
            parse("t,group,t,loss\n"),
            Err(MetricsError::DuplicateColumn {
                first: 1,
                second: 3,
                ..
            })
        ));
        // empty names (an unnamed index column) are not columns
        assert!(parse("t,group,loss,,\n0,majority,1,,\n0,minority,1,,\n").is_ok());
    }

    #[test]
    fn a_missing_column_a_criterion_needs_names_the_file_and_the_column() {
        use crate::{catch_up_overcost, Criterion, Threshold};
        // before: "run `run`, group all: no loss at t = 0"
        let runs =
            parse("t,group,accuracy\n0,all,0.1\n0,majority,0.1\n1,majority,0.9\n0,minority,0.1\n")
                .unwrap();
        let loss = Threshold::new(0.5, Criterion::Loss).unwrap();
        let e = catch_up_overcost(&runs[0], &loss).unwrap_err();
        assert!(
            matches!(&e, MetricsError::MissingColumn { path, line: 1, column: "loss" } if path == Path::new("c.csv")),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with(
                "c.csv:1: the header has no `loss` column, which the loss criterion needs"
            ),
            "{e}"
        );
        let accuracy = Threshold::new(0.5, Criterion::Accuracy).unwrap();
        assert!(catch_up_overcost(&runs[0], &accuracy).is_ok());
        let runs = parse("t,group,loss\n0,all,1\n0,majority,1\n0,minority,1\n").unwrap();
        let e = catch_up_overcost(&runs[0], &accuracy).unwrap_err();
        assert!(
            matches!(
                e,
                MetricsError::MissingColumn {
                    column: "accuracy",
                    ..
                }
            ),
            "{e:?}"
        );
        // an empty cell in a column that exists is still a missing value
        let runs = parse("t,group,loss,accuracy\n0,all,,\n0,majority,1,\n0,minority,1,\n").unwrap();
        assert!(matches!(
            catch_up_overcost(&runs[0], &loss),
            Err(MetricsError::MissingValue { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn curve_files_need_not_have_utf8_names() {
        use std::os::unix::ffi::OsStrExt;
        let dir = std::env::temp_dir().join(format!("majmin-metrics-os-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(std::ffi::OsStr::from_bytes(b"c\xff.csv"));
        std::fs::write(&path, "t,group,loss\n0,majority,-1\n").unwrap();
        let e = read_curves_csv(&path).unwrap_err();
        assert!(
            e.to_string().contains("c\u{fffd}.csv:2: column 3 (`loss`)"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quoted_fields_and_round_trip() {
        let runs = parse("run,t,group,loss,accuracy\n\"a,\"\"b\"\"\",0,majority,1,0.5\n\"a,\"\"b\"\"\",0,minority,2,\n").unwrap();
        assert_eq!(runs[0].run, "a,\"b\"");
        let again = parse(&write_curves_csv(&runs)).unwrap();
        assert_eq!(again, runs);
    }

    #[test]
    fn eval_points_end_at_the_first_non_finite_loss() {
        let p = |t: f64, loss: f64| EvalPoint {
            t,
            step: 0,
            loss,
            majority_loss: loss,
            minority_loss: loss,
            accuracy: 0.5,
            majority_accuracy: 0.5,
            minority_accuracy: 0.5,
            zone: None,
        };
        let run = RunCurves::from_eval_points(
            "s",
            &[p(1.0, 0.5), p(0.0, 1.0), p(2.0, f64::NAN), p(3.0, 0.1)],
        )
        .unwrap();
        assert_eq!(run.majority.points().len(), 2);
        assert_eq!(run.last_t(), 1.0);
        assert_eq!(run.initial_global_loss().unwrap(), 1.0);
        assert!(RunCurves::from_eval_points("s", &[]).is_err());
        assert!(RunCurves::from_eval_points("s", &[p(0.0, 1.0), p(0.0, 2.0)]).is_err());
    }
}
