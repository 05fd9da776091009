//! [`LoadError`]: what went wrong while parsing a data spec, reading a file or transforming a set.

use std::path::PathBuf;

use majmin_core::DataError;
use thiserror::Error;

/// An error from a loader, a transform or the data-spec parser.
///
/// Every variant names where it happened — the spec string, the file and the byte offset, or the
/// file, line and column — and what was expected there.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The data spec string could not be parsed (unknown source, unknown option, bad value).
    #[error("data spec `{spec}`: {message}")]
    Spec {
        /// The whole spec string.
        spec: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A file or folder does not exist.
    #[error("{}: {what}", path.display())]
    NotFound {
        /// The path looked for.
        path: PathBuf,
        /// What is missing and what was expected at that path (e.g. "no such file").
        what: String,
    },
    /// A file exists but cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A binary file ends before the data its header announces.
    #[error("{}: truncated at byte {}{}: expected {expected}, found {found}",
        path.display(), thousands(*offset), decompressed_note(*decompressed))]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the data stops (the file length, or of the decompressed stream for `.gz`).
        offset: u64,
        /// Whether `offset` counts bytes of the decompressed stream of a gzip file.
        decompressed: bool,
        /// What should have been there.
        expected: String,
        /// What there is.
        found: String,
    },
    /// A binary file holds a value that is not allowed at that place.
    #[error("{}: at byte {}{}: expected {expected}, found {found}",
        path.display(), thousands(*offset), decompressed_note(*decompressed))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad value.
        offset: u64,
        /// Whether `offset` counts bytes of the decompressed stream of a gzip file.
        decompressed: bool,
        /// What should have been there.
        expected: String,
        /// What there is.
        found: String,
    },
    /// A `.gz` file is not a valid gzip stream.
    #[error("{}: not a valid gzip stream: {source} (after {} decompressed bytes; expected complete gzip-compressed data)",
        path.display(), thousands(*offset))]
    Gzip {
        /// The file.
        path: PathBuf,
        /// Decompressed bytes produced before the failure.
        offset: u64,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// A CSV file has a bad row or field.
    #[error("{}: line {line}{}: {message}", path.display(), column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number, when one field is at fault.
        column: Option<usize>,
        /// What was expected and what was found.
        message: String,
    },
    /// A transform cannot be applied to this data set.
    #[error("transform `{transform}` on data set `{dataset}`: {message}")]
    Transform {
        /// The transform option as written in a spec (e.g. `channels=3`).
        transform: String,
        /// The data set's name.
        dataset: String,
        /// What is wrong.
        message: String,
    },
    /// A spec option asks for more than a documented limit (see [`crate::limits`]); refused
    /// while parsing, before anything is loaded or allocated.
    #[error("data spec `{spec}`: option `{key}`: {size}")]
    SpecTooLarge {
        /// The whole spec string (lossy if it is not UTF-8).
        spec: String,
        /// The option at fault (`resize`, `channels`, `classes`, `n`).
        key: String,
        /// What would be too large, the size needed and the limit.
        size: Box<SizeExcess>,
    },
    /// A file's header or size announces more than a documented limit (see [`crate::limits`]);
    /// refused before the data are read or allocated (and before a gzip stream is decompressed
    /// past the header).
    #[error("{}: at byte {}{}: {size}", path.display(), thousands(*offset), decompressed_note(*decompressed))]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Byte offset of the header field (or data) that announces the size.
        offset: u64,
        /// Whether `offset` counts bytes of the decompressed stream of a gzip file.
        decompressed: bool,
        /// What would be too large, the size needed and the limit.
        size: Box<SizeExcess>,
    },
    /// A transform or generator would make a data set larger than a documented limit (see
    /// [`crate::limits`]); refused before allocating.
    #[error("{context}: {size}")]
    TooLarge {
        /// Which transform on which data set, or which generator or file.
        context: String,
        /// What would be too large, the size needed and the limit.
        size: Box<SizeExcess>,
    },
    /// A CSV label would make more classes than [`crate::limits::MAX_CLASSES`] allows.
    #[error("{}: line {line}, column {column}: label `{label}` would make {} classes, above the limit of {} classes (MAX_CLASSES); \
             labels are class indices 0, 1, 2, … — is this the label column?",
        path.display(), thousands(*classes), thousands(*limit as u128))]
    TooManyClasses {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number of the label.
        column: usize,
        /// The label as written.
        label: String,
        /// The class count it would make.
        classes: u128,
        /// The limit.
        limit: usize,
    },
    /// The loaded values do not form a valid [`majmin_core::Dataset`].
    #[error("{context}: {source}")]
    Dataset {
        /// Which file or source was being loaded.
        context: String,
        /// The core error.
        #[source]
        source: DataError,
    },
}

/// A size that input asks for and the documented limit it exceeds (in the `*TooLarge` variants of
/// [`LoadError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeExcess {
    /// What would be that large, e.g. "one 100000×100000 image plane holds height · width values".
    pub what: String,
    /// The size needed (exact: 128-bit products of header fields cannot overflow).
    pub needed: u128,
    /// The limit.
    pub limit: u128,
    /// Unit of `needed` and `limit` (`values`, `classes`).
    pub unit: &'static str,
    /// The constant of [`crate::limits`] that sets the limit, e.g. `MAX_DATASET_VALUES`.
    pub limit_name: &'static str,
}

impl SizeExcess {
    /// A boxed excess (boxed to keep [`LoadError`] small).
    pub fn new(
        what: impl Into<String>,
        needed: u128,
        limit: u128,
        unit: &'static str,
        limit_name: &'static str,
    ) -> Box<Self> {
        Box::new(Self {
            what: what.into(),
            needed,
            limit,
            unit,
            limit_name,
        })
    }
}

impl std::fmt::Display for SizeExcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {unit}, above the limit of {} {unit} ({})",
            self.what,
            thousands(self.needed),
            thousands(self.limit),
            self.limit_name,
            unit = self.unit
        )
    }
}

fn decompressed_note(decompressed: bool) -> &'static str {
    if decompressed {
        " of the decompressed data"
    } else {
        ""
    }
}

/// `n` with commas between groups of three digits: `47040000` → `47,040,000`.
pub fn thousands(n: impl Into<u128>) -> String {
    let digits = n.into().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0u64), "0");
        assert_eq!(thousands(999u64), "999");
        assert_eq!(thousands(1016u64), "1,016");
        assert_eq!(thousands(47_040_000u64), "47,040,000");
        assert_eq!(thousands(100_000u64), "100,000");
        assert_eq!(thousands(u128::MAX).len(), 39 + 12);
    }

    #[test]
    fn truncated_message_reads_as_one_sentence() {
        let err = LoadError::Truncated {
            path: PathBuf::from("/d/train-images-idx3-ubyte"),
            offset: 1016,
            decompressed: false,
            expected: "47,040,000 pixel bytes".into(),
            found: "1,000".into(),
        };
        assert_eq!(
            err.to_string(),
            "/d/train-images-idx3-ubyte: truncated at byte 1,016: expected 47,040,000 pixel bytes, found 1,000"
        );
    }
}
