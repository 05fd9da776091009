//! CSV files: feature columns, a label column and an optional group column.
//!
//! - Fields are separated by a comma (or `;` / tab), may be quoted with `"` (a doubled `""` is a
//!   quote inside), and are trimmed; blank lines are skipped (but counted in line numbers).
//! - The first row is a header when `header=yes`, or — when not said — when some column holds a
//!   non-number in the first row and a number in the second.
//! - The label column is the last one unless `label=NAME` names it (a header name, or a 1-based
//!   column number). Labels that are all whole numbers ≥ 0 are the class indices and the class
//!   count is the largest + 1 (or `classes=K`); if any label is not a number, every label is a
//!   name and the names, sorted as strings, map to the classes 0, 1, … in that order.
//! - `group=NAME` names a group column with values `0`/`1` or `minority`/`majority` (any case):
//!   the groups become explicit ([`majmin_core::GroupRule::Explicit`]).
//! - Every other column is a feature and must hold finite numbers; the sample shape is
//!   `[1, 1, d]` or `shape=CxHxW` with C·H·W = d.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use majmin_core::{Dataset, Group, GroupRule};

use crate::error::{LoadError, SizeExcess};
use crate::limits::{MAX_CLASSES, MAX_CSV_BYTES};

/// Options of the CSV loader (spec options `label`, `group`, `header`, `shape`, `classes`,
/// `delimiter`).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// The file.
    pub path: PathBuf,
    /// Label column: header name or 1-based number (None: the last column).
    pub label: Option<String>,
    /// Group column: header name or 1-based number (None: groups from the class rule).
    pub group: Option<String>,
    /// Whether the first row is a header (None: detect).
    pub header: Option<bool>,
    /// Sample shape (None: `[1, 1, d]`).
    pub shape: Option<[usize; 3]>,
    /// Class count (None: from the labels).
    pub classes: Option<usize>,
    /// Field separator: `b','`, `b';'` or `b'\t'`.
    pub delimiter: u8,
}

impl CsvOptions {
    /// Defaults for `path`: last column is the label, header detected, comma-separated.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            label: None,
            group: None,
            header: None,
            shape: None,
            classes: None,
            delimiter: b',',
        }
    }
}

/// One non-blank line: its 1-based number and its fields.
struct Row {
    line: usize,
    fields: Fields,
}

/// The fields of one line, stored as one string and the end of each field (a `String` per field
/// would cost ten times the text for a file of short numbers).
struct Fields {
    text: String,
    ends: Vec<u32>,
}

impl Fields {
    fn new() -> Self {
        Self {
            text: String::new(),
            ends: Vec::new(),
        }
    }

    fn push(&mut self, field: &str) {
        self.text.push_str(field);
        // lines are at most MAX_CSV_BYTES < 2^32 long
        self.ends.push(self.text.len() as u32);
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| &self[i])
    }

    fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }
}

impl std::ops::Index<usize> for Fields {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

/// Splits one line into trimmed fields; `Err((column, message))` for a broken quote.
fn split_fields(line: &str, delimiter: char) -> Result<Fields, (usize, String)> {
    let mut fields = Fields::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    loop {
        // skip leading spaces of the field
        while chars
            .peek()
            .is_some_and(|c| *c == ' ' || (*c == '\t' && delimiter != '\t'))
        {
            chars.next();
        }
        field.clear();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err((
                            fields.len() + 1,
                            "expected a closing `\"` before the end of the line".into(),
                        ))
                    }
                }
            }
            while chars.peek().is_some_and(|c| *c != delimiter) {
                let c = chars.next().unwrap_or_default();
                if !c.is_whitespace() {
                    return Err((
                        fields.len() + 1,
                        format!("expected `{}` or the end of the line after a quoted field, found `{c}`", delimiter.escape_default()),
                    ));
                }
            }
            fields.push(&field);
        } else {
            while let Some(&c) = chars.peek() {
                if c == delimiter {
                    break;
                }
                field.push(c);
                chars.next();
            }
            fields.push(field.trim());
        }
        match chars.next() {
            Some(_) => continue, // the delimiter
            None => return Ok(fields),
        }
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Finds a column by header name or 1-based number.
fn resolve_column(
    key: &str,
    wanted: &str,
    header: Option<&Row>,
    width: usize,
    path: &Path,
) -> Result<usize, LoadError> {
    if let Some(h) = header {
        if let Some(i) = h.fields.iter().position(|f| f == wanted) {
            return Ok(i);
        }
    }
    if let Ok(number) = wanted.parse::<usize>() {
        if (1..=width).contains(&number) {
            return Ok(number - 1);
        }
    }
    let names = match header {
        Some(h) => format!(
            "the header names {} or a column number 1–{width}",
            h.fields.join(", ")
        ),
        None => format!("a column number 1–{width} (the file has no header)"),
    };
    Err(LoadError::Csv {
        path: path.to_path_buf(),
        line: header.map_or(1, |h| h.line),
        column: None,
        message: format!("option `{key}={wanted}`: no such column; expected {names}"),
    })
}

/// Loads a CSV file (see the [module docs](self)). The data set is named after the file stem.
///
/// # Errors
/// [`LoadError::NotFound`] or [`LoadError::Io`] when the file cannot be read, [`LoadError::Csv`]
/// with the line and column of a bad row or field, [`LoadError::TooManyClasses`] for a label that
/// would make more than [`MAX_CLASSES`] classes, [`LoadError::TooLarge`] for `classes` above it,
/// [`LoadError::FileTooLarge`] for a file longer than [`MAX_CSV_BYTES`] (checked before reading).
pub fn load_csv(options: &CsvOptions) -> Result<Dataset, LoadError> {
    let path = options.path.as_path();
    if let Some(k) = options.classes.filter(|&k| k > MAX_CLASSES) {
        return Err(LoadError::TooLarge {
            context: path.display().to_string(),
            size: SizeExcess::new(
                "option `classes`",
                k as u128,
                MAX_CLASSES as u128,
                "classes",
                "MAX_CLASSES",
            ),
        });
    }
    let io_error = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_path_buf(),
            what: "no such file".into(),
        },
        _ => LoadError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    };
    let too_large = |len: u64| LoadError::FileTooLarge {
        path: path.to_path_buf(),
        offset: 0,
        decompressed: false,
        size: SizeExcess::new(
            "the CSV file",
            u128::from(len),
            u128::from(MAX_CSV_BYTES),
            "bytes",
            "MAX_CSV_BYTES",
        ),
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_CSV_BYTES {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // a pipe or a special file may report no length: stop one byte past the limit
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_CSV_BYTES + 1),
        &mut bytes,
    )
    .map_err(io_error)?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let before = &e.as_bytes()[..good];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            return Err(LoadError::Csv {
                path: path.to_path_buf(),
                line,
                column: None,
                message: format!("expected UTF-8 text, found an invalid byte at character {column} of the line (byte {good} of the file)"),
            });
        }
    };
    let csv_err = |line: usize, column: Option<usize>, message: String| LoadError::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let delimiter = char::from(options.delimiter);
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let fields =
            split_fields(line, delimiter).map_err(|(col, msg)| csv_err(i + 1, Some(col), msg))?;
        rows.push(Row {
            line: i + 1,
            fields,
        });
    }
    let Some(first) = rows.first() else {
        return Err(csv_err(
            1,
            None,
            "expected a header or data rows, found an empty file".into(),
        ));
    };
    let width = first.fields.len();
    if let Some(bad) = rows.iter().find(|r| r.fields.len() != width) {
        return Err(csv_err(
            bad.line,
            None,
            format!(
                "expected {width} fields (as on line {}), found {}",
                first.line,
                bad.fields.len()
            ),
        ));
    }
    if width < 2 && options.group.is_none() {
        return Err(csv_err(
            first.line,
            None,
            format!("expected at least 2 columns (features and a label), found {width}"),
        ));
    }
    let has_header = options.header.unwrap_or_else(|| match rows.get(1) {
        Some(second) => first
            .fields
            .iter()
            .zip(second.fields.iter())
            .any(|(a, b)| parse_number(a).is_none() && parse_number(b).is_some()),
        None => first.fields.iter().any(|f| parse_number(f).is_none()),
    });
    let (header, data) = if has_header {
        (rows.first(), &rows[1..])
    } else {
        (None, &rows[..])
    };
    if data.is_empty() {
        return Err(csv_err(
            rows[rows.len() - 1].line,
            None,
            "expected data rows after the header, found none".into(),
        ));
    }
    let label_col = match &options.label {
        Some(name) => resolve_column("label", name, header, width, path)?,
        None => width - 1,
    };
    let group_col = match &options.group {
        Some(name) => {
            let c = resolve_column("group", name, header, width, path)?;
            if c == label_col {
                return Err(csv_err(
                    header.map_or(1, |h| h.line),
                    Some(c + 1),
                    "the group column is also the label column; expected two different columns"
                        .into(),
                ));
            }
            Some(c)
        }
        None => None,
    };
    let feature_cols: Vec<usize> = (0..width)
        .filter(|&c| c != label_col && Some(c) != group_col)
        .collect();
    if feature_cols.is_empty() {
        return Err(csv_err(
            first.line,
            None,
            "expected at least one feature column besides the label and group".into(),
        ));
    }
    let d = feature_cols.len();
    let shape = options.shape.unwrap_or([1, 1, d]);
    // exact: a `shape=` of three huge sides must not wrap around to d
    let per_sample: u128 = shape
        .iter()
        .fold(1u128, |p, &s| p.saturating_mul(s as u128));
    if per_sample != d as u128 {
        return Err(csv_err(
            first.line,
            None,
            format!(
                "option `shape={}x{}x{}` holds {} values per sample, but the file has {d} feature columns",
                shape[0],
                shape[1],
                shape[2],
                per_sample
            ),
        ));
    }

    let mut features = Vec::with_capacity(data.len() * d);
    let mut groups = Vec::with_capacity(if group_col.is_some() { data.len() } else { 0 });
    for row in data {
        for &c in &feature_cols {
            let field = &row.fields[c];
            let value = parse_number(field).ok_or_else(|| {
                let column_name = header
                    .map(|h| format!(" (`{}`)", &h.fields[c]))
                    .unwrap_or_default();
                csv_err(
                    row.line,
                    Some(c + 1),
                    format!(
                        "expected a finite number in feature column{column_name}, found `{field}`"
                    ),
                )
            })?;
            features.push(value as f32);
        }
        if let Some(g) = group_col {
            let field = &row.fields[g];
            let group = match field.to_ascii_lowercase().as_str() {
                "0" | "minority" => Group::Minority,
                "1" | "majority" => Group::Majority,
                _ => {
                    return Err(csv_err(
                        row.line,
                        Some(g + 1),
                        format!("expected a group 0/1 or minority/majority, found `{field}`"),
                    ))
                }
            };
            groups.push(group);
        }
    }

    let (labels, classes) = parse_labels(data, label_col, options.classes, path, &csv_err)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "csv".into());
    let ds = Dataset::new(name, shape, features, labels, classes).map_err(|source| {
        LoadError::Dataset {
            context: path.display().to_string(),
            source,
        }
    })?;
    tracing::info!(path = %path.display(), n = ds.len(), d, classes, header = has_header, "loaded CSV");
    match group_col {
        Some(_) => ds
            .with_group_rule(&GroupRule::Explicit(groups))
            .map_err(|source| LoadError::Dataset {
                context: path.display().to_string(),
                source,
            }),
        None => Ok(ds),
    }
}

/// Class indices from the label column: whole numbers as they are, or names in sorted order.
/// A label that would make more than [`MAX_CLASSES`] classes is refused before anything is
/// allocated per class.
fn parse_labels(
    data: &[Row],
    column: usize,
    classes: Option<usize>,
    path: &Path,
    csv_err: &dyn Fn(usize, Option<usize>, String) -> LoadError,
) -> Result<(Vec<u32>, usize), LoadError> {
    let too_many = |row: &Row, label: &str, classes: u128| LoadError::TooManyClasses {
        path: path.to_path_buf(),
        line: row.line,
        column: column + 1,
        label: label.to_string(),
        classes,
        limit: MAX_CLASSES,
    };
    let fields: Vec<&str> = data.iter().map(|r| &r.fields[column]).collect();
    let all_numbers = fields.iter().all(|f| parse_number(f).is_some());
    if all_numbers {
        let mut labels = Vec::with_capacity(fields.len());
        for (row, field) in data.iter().zip(&fields) {
            let label = field.parse::<u128>().map_err(|_| {
                csv_err(
                    row.line,
                    Some(column + 1),
                    format!(
                        "expected a class index 0, 1, 2, … (a whole number ≥ 0), found `{field}`"
                    ),
                )
            })?;
            if let Some(k) = classes {
                if label >= k as u128 {
                    return Err(csv_err(
                        row.line,
                        Some(column + 1),
                        format!("expected a class index below classes={k}, found {label}"),
                    ));
                }
            }
            if label >= MAX_CLASSES as u128 {
                return Err(too_many(row, field, label + 1));
            }
            labels.push(label as u32);
        }
        let found = labels.iter().max().map_or(0, |&m| m as usize + 1);
        return Ok((labels, classes.unwrap_or(found)));
    }
    if let Some(row) = data.iter().find(|r| r.fields[column].is_empty()) {
        return Err(csv_err(
            row.line,
            Some(column + 1),
            "expected a label, found an empty field".into(),
        ));
    }
    let names: BTreeMap<&str, u32> = {
        let mut sorted: Vec<&str> = fields.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() > MAX_CLASSES {
            let name = sorted[MAX_CLASSES];
            let row = data
                .iter()
                .find(|r| &r.fields[column] == name)
                .expect("every name comes from a row");
            return Err(too_many(row, name, sorted.len() as u128));
        }
        sorted
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i as u32))
            .collect()
    };
    if let Some(k) = classes {
        if names.len() > k {
            return Err(csv_err(
                data[0].line,
                Some(column + 1),
                format!(
                    "expected at most classes={k} label names, found {}",
                    names.len()
                ),
            ));
        }
    }
    let labels = fields.iter().map(|f| names[f]).collect();
    tracing::debug!(?names, "label names mapped to classes in sorted order");
    Ok((labels, classes.unwrap_or(names.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn load(text: &str, f: impl FnOnce(&mut CsvOptions)) -> Result<Dataset, LoadError> {
        let (_dir, path) = write(text);
        let mut o = CsvOptions::new(&path);
        f(&mut o);
        load_csv(&o)
    }

    fn err(text: &str, f: impl FnOnce(&mut CsvOptions)) -> String {
        load(text, f).unwrap_err().to_string()
    }

    #[test]
    fn header_label_and_group_columns() {
        let text = "x1,g,x2,y\n0.5,1,1.5,0\n-1,0,2e-1,2\n3,majority,4,1\n";
        let ds = load(text, |o| {
            o.label = Some("y".into());
            o.group = Some("g".into());
        })
        .unwrap();
        assert_eq!(ds.name(), "data");
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.shape(), [1, 1, 2]);
        assert_eq!(ds.features(), &[0.5, 1.5, -1.0, 0.2, 3.0, 4.0]);
        assert_eq!(ds.labels(), &[0, 2, 1]);
        assert_eq!(ds.classes(), 3);
        assert_eq!(
            ds.groups(),
            &[Group::Majority, Group::Minority, Group::Majority]
        );
    }

    #[test]
    fn no_header_default_last_label_and_class_rule() {
        let ds = load("1,2,0\n3,4,1\n5,6,3\n", |_| {}).unwrap();
        assert_eq!(ds.labels(), &[0, 1, 3]);
        assert_eq!(ds.classes(), 4);
        // upper half of 4 classes = {2, 3}
        assert_eq!(ds.group_sizes().minority, 1);
        let ds = load("1,2,0\n", |o| o.classes = Some(6)).unwrap();
        assert_eq!(ds.classes(), 6);
    }

    #[test]
    fn string_labels_map_to_sorted_classes_and_shape_applies() {
        let ds = load(
            "a,b,c,d,kind\n1,2,3,4,dog\n5,6,7,8,cat\n9,9,9,9,dog\n",
            |o| o.shape = Some([1, 2, 2]),
        )
        .unwrap();
        assert_eq!(ds.labels(), &[1, 0, 1]);
        assert_eq!(ds.shape(), [1, 2, 2]);
        // label given by 1-based column number, quoted fields, semicolons
        let ds = load("7;\"1\";2\n8;\"0\";3\n", |o| {
            o.label = Some("1".into());
            o.delimiter = b';';
        })
        .unwrap();
        assert_eq!(ds.labels(), &[7, 8]);
        assert_eq!(ds.features(), &[1.0, 2.0, 0.0, 3.0]);
    }

    #[test]
    fn ragged_rows_name_the_line() {
        let msg = err("a,b,y\n1,2,0\n\n3,0\n", |_| {});
        assert!(
            msg.ends_with("data.csv: line 4: expected 3 fields (as on line 1), found 2"),
            "{msg}"
        );
    }

    #[test]
    fn non_numbers_name_line_and_column() {
        let msg = err("a,b,y\n1,2,0\n3,abc,1\n", |_| {});
        assert!(msg.ends_with("data.csv: line 3, column 2: expected a finite number in feature column (`b`), found `abc`"), "{msg}");
        let msg = err("1,2,0\n3,NaN,1\n", |_| {});
        assert!(
            msg.contains("line 2, column 2") && msg.contains("found `NaN`"),
            "{msg}"
        );
        let msg = err("1,2,0.5\n3,4,1\n", |_| {});
        assert!(
            msg.contains("line 1, column 3: expected a class index 0, 1, 2, …"),
            "{msg}"
        );
        let msg = err("x,g,y\n1,2,0\n", |o| o.group = Some("g".into()));
        assert!(
            msg.contains("line 2, column 2: expected a group 0/1 or minority/majority, found `2`"),
            "{msg}"
        );
        let msg = err("1,2,7\n", |o| o.classes = Some(5));
        assert!(
            msg.contains("line 1, column 3: expected a class index below classes=5, found 7"),
            "{msg}"
        );
        let msg = err("1,\"2,0\n", |_| {});
        assert!(
            msg.contains("line 1, column 2: expected a closing `\"`"),
            "{msg}"
        );
    }

    #[test]
    fn huge_labels_are_refused_with_file_line_label_and_limit() {
        // the tester's file: two rows whose label is 4,000,000,000 (ran 29 s, then aborted)
        let e = load("1,2,4000000000\n3,4,4000000000\n", |_| {}).unwrap_err();
        match &e {
            LoadError::TooManyClasses {
                line,
                column,
                label,
                classes,
                limit,
                ..
            } => {
                assert_eq!((*line, *column, label.as_str()), (1, 3, "4000000000"));
                assert_eq!((*classes, *limit), (4_000_000_001, MAX_CLASSES));
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("data.csv: line 1, column 3: label `4000000000` would make 4,000,000,001 classes, above the limit of 65,536 classes (MAX_CLASSES)"),
            "{msg}"
        );
        // a label of one million silently made a million classes
        let msg = err("1,2,0\n3,4,1000000\n", |_| {});
        assert!(
            msg.contains("line 2, column 3: label `1000000`") && msg.contains("65,536"),
            "{msg}"
        );
        // beyond u32 too
        let msg = err("1,2,99999999999999999999\n", |_| {});
        assert!(msg.contains("label `99999999999999999999`"), "{msg}");
        // the largest allowed label
        let ds = load("1,2,0\n3,4,65535\n", |_| {}).unwrap();
        assert_eq!(ds.classes(), MAX_CLASSES);
        // named labels: one name more than the limit
        let mut text = String::from("x,y\n");
        for i in 0..=MAX_CLASSES {
            text.push_str(&format!("1,c{i:06}\n"));
        }
        let e = load(&text, |_| {}).unwrap_err();
        assert!(
            matches!(&e, LoadError::TooManyClasses { line: 65_538, label, classes: 65_537, .. } if label == "c065536"),
            "{e:?}"
        );
        // classes= given directly to the loader
        let e = load("1,2,0\n", |o| o.classes = Some(MAX_CLASSES + 1)).unwrap_err();
        assert!(
            matches!(&e, LoadError::TooLarge { size, .. } if size.limit_name == "MAX_CLASSES"),
            "{e:?}"
        );
    }

    #[test]
    fn files_beyond_the_limit_are_refused_before_reading() {
        let (_dir, path) = write("");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(MAX_CSV_BYTES + 1)
            .unwrap();
        let e = load_csv(&CsvOptions::new(&path)).unwrap_err();
        assert!(
            matches!(&e, LoadError::FileTooLarge { offset: 0, size, .. } if size.needed == u128::from(MAX_CSV_BYTES) + 1),
            "{e:?}"
        );
        assert!(
            e.to_string().ends_with(
                "data.csv: at byte 0: the CSV file: 1,073,741,825 bytes, above the limit of 1,073,741,824 bytes (MAX_CSV_BYTES)"
            ),
            "{e}"
        );
    }

    #[test]
    fn column_option_and_file_errors() {
        let msg = err("a,b,y\n1,2,0\n", |o| o.label = Some("z".into()));
        assert!(
            msg.contains(
                "line 1: option `label=z`: no such column; expected the header names a, b, y"
            ),
            "{msg}"
        );
        let msg = err("a,b,y\n", |_| {});
        assert!(msg.contains("expected data rows after the header"), "{msg}");
        let msg = err("", |_| {});
        assert!(
            msg.contains("line 1: expected a header or data rows, found an empty file"),
            "{msg}"
        );
        // sides whose product wraps around to 2 in usize arithmetic: (2^63 + 1) · 2 = 2^64 + 2
        let msg = err("1,2,3\n", |o| o.shape = Some([usize::MAX / 2 + 2, 2, 1]));
        assert!(msg.contains("but the file has 2 feature columns"), "{msg}");
        let msg = err("1,2,3\n", |o| o.shape = Some([1, 3, 3]));
        assert!(
            msg.contains("holds 9 values per sample, but the file has 2 feature columns"),
            "{msg}"
        );
        let msg = load_csv(&CsvOptions::new("/no/such/file.csv"))
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "/no/such/file.csv: no such file");
        let (_dir, path) = write("");
        std::fs::write(&path, b"1,2,0\n1,\xff,0\n").unwrap();
        let msg = load_csv(&CsvOptions::new(&path)).unwrap_err().to_string();
        assert!(msg.contains("line 2: expected UTF-8 text"), "{msg}");
    }
}
