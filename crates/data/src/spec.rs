//! Data spec strings: one string names a source, its options and the transforms (docs/data.md).
//!
//! ```text
//! spec    = source ["," option]*
//! source  = "digits" | "mnist:" DIR | "fashion-mnist" [":" DIR] | "cifar10:" DIR | "csv:" FILE
//!         | "gaussian" [":" option]
//! option  = key ["=" value]
//! ```
//!
//! Paths end at the first comma (a path cannot contain one). Options may come in any order; each
//! may be given once. The transforms always run in the order resize → channels → normalize,
//! whatever the order written, and [`DataSpec`]'s `Display` writes that canonical order with only
//! the options that differ from their defaults, so `DataSpec::parse(&spec.to_string())` gives the
//! same spec back.
//!
//! | option | sources | meaning (default) |
//! | --- | --- | --- |
//! | `split=train\|test` | mnist, fashion-mnist, cifar10 | which files (train) |
//! | `label=NAME` | csv | label column by header name or 1-based number (the last column) |
//! | `group=NAME` | csv | group column (values 0/1 or minority/majority) → explicit groups (none) |
//! | `header[=yes\|no]` | csv | whether the first row is a header (detected) |
//! | `shape=CxHxW` | csv | sample shape; C·H·W = feature columns (1x1xd) |
//! | `classes=K` | csv, gaussian | class count (csv: largest label + 1; gaussian: 2) |
//! | `delimiter=comma\|semicolon\|tab` | csv | field separator (comma) |
//! | `d=`, `n=`, `sep=`, `zeta=`, `std=`, `seed=` | gaussian | see [`GaussianConfig`] |
//! | `per-class=N` | all | keep the first N samples of each class, in file order (all) |
//! | `minority=5:6:7` | all but csv with `group=` | minority classes (the upper half of the classes) |
//! | `random-groups=SEED` | all but csv with `group=` | groups drawn at random, independent of the class: a seeded half of the samples is the minority |
//! | `resize=S` or `resize=HxW` | all | resize every image |
//! | `interp=nearest\|bilinear` | with `resize` | resize interpolation (bilinear) |
//! | `channels=C` | all | repeat a single channel C times |
//! | `normalize[=MEAN/STD]` | all | per-channel (x − mean)/std; computed on the set, or given as numbers or `:`-separated per-channel lists |

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use majmin_core::{Dataset, GroupRule};

use crate::csv::{load_csv, CsvOptions};
use crate::digits::load_digits;
use crate::error::{LoadError, SizeExcess};
use crate::gaussian::{generate_gaussian, GaussianConfig};
use crate::limits::{MAX_CLASSES, MAX_DATASET_VALUES};
use crate::transform::{normalize, normalize_computed, repeat_channels, resize, Interpolation};
use crate::{cifar::load_cifar10_dir, idx::load_idx_dir};

/// Which part of a file-based data set: the training or the test files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// `train-*` (IDX) or `data_batch_1..5.bin` (CIFAR-10).
    #[default]
    Train,
    /// `t10k-*` (IDX) or `test_batch.bin` (CIFAR-10).
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// Where the samples come from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Source {
    /// The embedded 8×8 digits ([`load_digits`]).
    Digits,
    /// MNIST IDX files in a folder.
    Mnist {
        /// The folder.
        dir: PathBuf,
        /// Train or test files.
        split: Split,
    },
    /// Fashion-MNIST IDX files in a folder (same format and names as MNIST).
    FashionMnist {
        /// The folder.
        dir: PathBuf,
        /// Train or test files.
        split: Split,
    },
    /// CIFAR-10 binary batches in a folder.
    Cifar10 {
        /// The folder.
        dir: PathBuf,
        /// Train or test batches.
        split: Split,
    },
    /// A CSV file.
    Csv(CsvOptions),
    /// The synthetic Gaussian mixture.
    Gaussian(GaussianConfig),
}

/// A resize transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    /// Output height.
    pub height: usize,
    /// Output width.
    pub width: usize,
    /// Interpolation.
    pub interpolation: Interpolation,
}

/// Per-channel normalisation x ↦ (x − mean_c) / std_c.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalize {
    /// Mean and standard deviation of each channel computed on the loaded set.
    Computed,
    /// Given values: one each (for every channel) or one per channel.
    Given {
        /// Means.
        mean: Vec<f32>,
        /// Standard deviations (each > 0).
        std: Vec<f32>,
    },
}

/// A parsed data spec: source, group rule and transforms. See the [module docs](self) for the
/// grammar and every option.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// Where the samples come from, with the source's options.
    pub source: Source,
    /// `per-class=N`: keep the first N samples of each class, in file order (None: all).
    pub per_class: Option<usize>,
    /// `minority=…`: the minority classes (None: the default rule, or the CSV group column).
    pub minority: Option<Vec<u32>>,
    /// `random-groups=SEED`: a group attribute drawn at random, independent of the class: half
    /// of the samples (a seeded shuffle) form the minority.
    pub random_groups: Option<u64>,
    /// `resize=…` and `interp=…`.
    pub resize: Option<Resize>,
    /// `channels=C`: repeat a single channel C times.
    pub channels: Option<usize>,
    /// `normalize[=…]`.
    pub normalize: Option<Normalize>,
}

const TRANSFORM_OPTIONS: [&str; 7] = [
    "per-class",
    "minority",
    "random-groups",
    "resize",
    "interp",
    "channels",
    "normalize",
];

fn source_options(source: &str) -> &'static [&'static str] {
    match source {
        "mnist" | "fashion-mnist" | "cifar10" => &["split"],
        "csv" => &["label", "group", "header", "shape", "classes", "delimiter"],
        "gaussian" => &["d", "n", "sep", "classes", "zeta", "std", "seed"],
        _ => &[],
    }
}

const SOURCES: &str =
    "digits, mnist:DIR, fashion-mnist:DIR, cifar10:DIR, csv:FILE, gaussian[:d=2,n=1000,…]";

impl DataSpec {
    /// Parses a spec string such as `digits,resize=32,channels=3,normalize` or
    /// `csv:data.csv,label=y,group=g`.
    ///
    /// The spec is an [`OsStr`]: the path after `mnist:`, `cifar10:`, `csv:`, … is taken as raw
    /// bytes on Unix, so a file name that is not UTF-8 works (`&str` and `String` callers are
    /// unchanged); names and options must be UTF-8. Errors print the spec lossily.
    ///
    /// # Errors
    /// [`LoadError::Spec`] for an unknown source or option or a bad value;
    /// [`LoadError::SpecTooLarge`] when an option asks for more than a limit of
    /// [`crate::limits`] (`resize=`, `channels=`, `classes=`, the Gaussian's `n · d`).
    pub fn parse(spec: impl AsRef<OsStr>) -> Result<DataSpec, LoadError> {
        Self::parse_os(spec.as_ref())
    }

    fn parse_os(spec_os: &OsStr) -> Result<DataSpec, LoadError> {
        let spec_text = spec_os.to_string_lossy();
        let spec: &str = &spec_text;
        let err = |message: String| LoadError::Spec {
            spec: spec.to_string(),
            message,
        };
        let mut raw_tokens = split_os(spec_os, b',').into_iter();
        let head = raw_tokens.next().unwrap_or_default();
        if head.is_empty() {
            return Err(err(format!("expected a source ({SOURCES}), found nothing")));
        }
        let (name_os, arg) = split_once_os(&head, b':');
        let name_text = name_os.to_str().ok_or_else(|| {
            err(format!(
                "the source name `{}` is not valid UTF-8; expected one of {SOURCES}",
                name_os.to_string_lossy()
            ))
        })?;
        let name = name_text.trim();
        let mut tokens: Vec<String> = Vec::new();
        for t in raw_tokens {
            let text = t.into_string().map_err(|t| {
                err(format!(
                    "option `{}` is not valid UTF-8 (only a path may be)",
                    t.to_string_lossy()
                ))
            })?;
            tokens.push(text.trim().to_string());
        }
        let needs_path = |what: &str| -> Result<PathBuf, LoadError> {
            match &arg {
                Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
                _ => Err(err(format!(
                    "source `{name}` needs a path: expected `{name}:{what}`"
                ))),
            }
        };
        let mut gaussian_arg = None;
        let mut source = match name {
            "digits" => {
                if let Some(a) = &arg {
                    return Err(err(format!(
                        "source `digits` takes no argument, found `digits:{}`",
                        a.to_string_lossy()
                    )));
                }
                Source::Digits
            }
            "mnist" => Source::Mnist {
                dir: needs_path("DIR")?,
                split: Split::Train,
            },
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" => Source::FashionMnist {
                dir: match &arg {
                    Some(p) if !p.is_empty() => PathBuf::from(p),
                    _ => default_fashion_mnist_dir().map_err(&err)?,
                },
                split: Split::Train,
            },
            "cifar10" | "cifar-10" => Source::Cifar10 {
                dir: needs_path("DIR")?,
                split: Split::Train,
            },
            "csv" => Source::Csv(CsvOptions::new(needs_path("FILE")?)),
            "gaussian" => {
                if let Some(a) = &arg {
                    let text = a.to_str().ok_or_else(|| {
                        err(format!(
                            "option `{}` is not valid UTF-8",
                            a.to_string_lossy()
                        ))
                    })?;
                    gaussian_arg = Some(text.to_string());
                }
                Source::Gaussian(GaussianConfig::default())
            }
            other => {
                return Err(err(format!(
                    "unknown source `{other}`; expected one of {SOURCES}"
                )))
            }
        };
        let mut option_tokens: Vec<&str> = Vec::new();
        option_tokens.extend(gaussian_arg.as_deref().map(str::trim));
        let canonical_name = match &source {
            Source::FashionMnist { .. } => "fashion-mnist",
            Source::Cifar10 { .. } => "cifar10",
            _ => name,
        };
        option_tokens.extend(tokens.iter().map(String::as_str));
        let mut options: Vec<(&str, Option<&str>)> = Vec::new();
        for token in option_tokens.into_iter().filter(|t| !t.is_empty()) {
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (token, None),
            };
            if options.iter().any(|(k, _)| *k == key) {
                return Err(err(format!("option `{key}` is given twice")));
            }
            options.push((key, value));
        }
        let accepted: Vec<&str> = source_options(canonical_name)
            .iter()
            .copied()
            .chain(TRANSFORM_OPTIONS)
            .collect();
        let mut spec_out = DataSpec {
            source: Source::Digits,
            per_class: None,
            minority: None,
            random_groups: None,
            resize: None,
            channels: None,
            normalize: None,
        };
        let mut interpolation = None;
        for (key, value) in options {
            if !accepted.contains(&key) {
                return Err(err(format!(
                    "unknown option `{key}` for source `{canonical_name}`; accepted: {}",
                    accepted.join(", ")
                )));
            }
            let need = |v: Option<&str>| -> Result<String, LoadError> {
                match v {
                    Some(v) if !v.is_empty() => Ok(v.to_string()),
                    _ => Err(err(format!("option `{key}` needs a value: `{key}=…`"))),
                }
            };
            let bad = |expected: &str, v: &str| {
                err(format!("option `{key}`: expected {expected}, found `{v}`"))
            };
            let parse_usize = |v: Option<&str>, min: usize| -> Result<usize, LoadError> {
                let v = need(v)?;
                v.parse::<usize>()
                    .ok()
                    .filter(|&x| x >= min)
                    .ok_or_else(|| bad(&format!("a whole number ≥ {min}"), &v))
            };
            let parse_f64 = |v: Option<&str>| -> Result<f64, LoadError> {
                let v = need(v)?;
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad("a finite number", &v))
            };
            match (key, &mut source) {
                ("split", Source::Mnist { split, .. } | Source::FashionMnist { split, .. } | Source::Cifar10 { split, .. }) => {
                    *split = match need(value)?.as_str() {
                        "train" => Split::Train,
                        "test" | "t10k" => Split::Test,
                        v => return Err(bad("`train` or `test`", v)),
                    }
                }
                ("label", Source::Csv(o)) => o.label = Some(need(value)?),
                ("group", Source::Csv(o)) => o.group = Some(need(value)?),
                ("header", Source::Csv(o)) => {
                    o.header = match value.unwrap_or("yes") {
                        "yes" | "true" | "1" => Some(true),
                        "no" | "false" | "0" => Some(false),
                        "auto" => None,
                        v => return Err(bad("`yes`, `no` or `auto`", v)),
                    }
                }
                ("shape", Source::Csv(o)) => {
                    let v = need(value)?;
                    o.shape = Some(parse_shape(&v).ok_or_else(|| bad("CxHxW with whole numbers ≥ 1, e.g. 1x28x28", &v))?);
                }
                ("classes", Source::Csv(o)) => o.classes = Some(parse_usize(value, 1)?),
                ("delimiter", Source::Csv(o)) => {
                    o.delimiter = match need(value)?.as_str() {
                        "comma" => b',',
                        "semicolon" | ";" => b';',
                        "tab" | "\\t" => b'\t',
                        v => return Err(bad("`comma`, `semicolon` or `tab`", v)),
                    }
                }
                ("d", Source::Gaussian(g)) => g.dim = parse_usize(value, 1)?,
                ("n", Source::Gaussian(g)) => g.n = parse_usize(value, 2)?,
                ("classes", Source::Gaussian(g)) => g.classes = parse_usize(value, 2)?,
                ("sep", Source::Gaussian(g)) => {
                    g.sep = parse_f64(value)?;
                    if g.sep < 0.0 {
                        return Err(bad("a number ≥ 0", &need(value)?));
                    }
                }
                ("zeta", Source::Gaussian(g)) => {
                    g.zeta = parse_f64(value)?;
                    if majmin_core::Zeta::new(g.zeta).is_err() {
                        return Err(bad("a number in (0, 1]", &need(value)?));
                    }
                }
                ("std", Source::Gaussian(g)) => {
                    g.std = parse_f64(value)?;
                    if g.std <= 0.0 {
                        return Err(bad("a number > 0", &need(value)?));
                    }
                }
                ("seed", Source::Gaussian(g)) => {
                    let v = need(value)?;
                    g.seed = v.parse().map_err(|_| bad("a whole number ≥ 0", &v))?;
                }
                ("per-class", _) => spec_out.per_class = Some(parse_usize(value, 1)?),
                ("random-groups", _) => {
                    let v = need(value)?;
                    spec_out.random_groups =
                        Some(v.parse().map_err(|_| bad("a seed, a whole number ≥ 0", &v))?);
                }
                ("minority", _) => {
                    let v = need(value)?;
                    let classes: Option<Vec<u32>> = v.split(':').map(|c| c.trim().parse().ok()).collect();
                    spec_out.minority = Some(classes.ok_or_else(|| bad("class numbers separated by `:`, e.g. 5:6:7", &v))?);
                }
                ("resize", _) => {
                    let v = need(value)?;
                    let (height, width) = parse_size(&v).ok_or_else(|| bad("a side S or HxW, whole numbers ≥ 1", &v))?;
                    spec_out.resize = Some(Resize { height, width, interpolation: Interpolation::Bilinear });
                }
                ("interp", _) => {
                    let v = need(value)?;
                    interpolation = Some(v.parse::<Interpolation>().map_err(|_| bad("`nearest` or `bilinear`", &v))?);
                }
                ("channels", _) => spec_out.channels = Some(parse_usize(value, 1)?),
                ("normalize", _) => {
                    spec_out.normalize = Some(match value {
                        None => Normalize::Computed,
                        Some(v) => parse_normalize(v).ok_or_else(|| {
                            bad("MEAN/STD with numbers or `:`-separated per-channel lists, STD > 0, e.g. 0.5/0.25", v)
                        })?,
                    })
                }
                _ => return Err(err(format!("option `{key}` does not apply to source `{canonical_name}`"))),
            }
        }
        check_limits(spec, &source, &spec_out)?;
        if let Some(interp) = interpolation {
            match &mut spec_out.resize {
                Some(r) => r.interpolation = interp,
                None => return Err(err("option `interp` needs `resize=…`".into())),
            }
        }
        if spec_out.minority.is_some() && spec_out.random_groups.is_some() {
            return Err(err(
                "options `minority` and `random-groups` both assign groups; give one".into(),
            ));
        }
        if let Source::Csv(o) = &source {
            let other = if spec_out.minority.is_some() {
                Some("minority")
            } else if spec_out.random_groups.is_some() {
                Some("random-groups")
            } else {
                None
            };
            if let (Some(_), Some(other)) = (&o.group, other) {
                return Err(err(format!(
                    "options `group` and `{other}` both assign groups; give one"
                )));
            }
        }
        spec_out.source = source;
        Ok(spec_out)
    }

    /// Loads the source, assigns groups and applies the transforms (resize → channels → normalize).
    pub fn load(&self) -> Result<Dataset, LoadError> {
        let mut ds = match &self.source {
            Source::Digits => load_digits()?,
            Source::Mnist { dir, split } => load_idx_dir(dir, *split, "mnist")?,
            Source::FashionMnist { dir, split } => load_idx_dir(dir, *split, "fashion-mnist")?,
            Source::Cifar10 { dir, split } => load_cifar10_dir(dir, *split)?,
            Source::Csv(o) => load_csv(o)?,
            Source::Gaussian(g) => generate_gaussian(g)?,
        };
        if let Some(n) = self.per_class {
            let mut kept = vec![0usize; ds.classes()];
            let indices: Vec<usize> = (0..ds.len())
                .filter(|&i| {
                    let c = ds.labels()[i] as usize;
                    let keep = kept[c] < n;
                    kept[c] += usize::from(keep);
                    keep
                })
                .collect();
            ds = ds.subset(&indices);
        }
        if let Some(classes) = &self.minority {
            let name = ds.name().to_string();
            ds = ds
                .with_group_rule(&GroupRule::MinorityClasses(classes.clone()))
                .map_err(|source| LoadError::Dataset {
                    context: format!("data set `{name}`, option `minority`"),
                    source,
                })?;
        }
        if let Some(seed) = self.random_groups {
            let mut order: Vec<usize> = (0..ds.len()).collect();
            majmin_core::Rng::seed_from_u64(seed).shuffle(&mut order);
            let mut groups = vec![majmin_core::Group::Majority; ds.len()];
            for &i in &order[..ds.len() / 2] {
                groups[i] = majmin_core::Group::Minority;
            }
            let name = ds.name().to_string();
            ds = ds
                .with_group_rule(&GroupRule::Explicit(groups))
                .map_err(|source| LoadError::Dataset {
                    context: format!("data set `{name}`, option `random-groups`"),
                    source,
                })?;
        }
        if let Some(r) = &self.resize {
            ds = resize(ds, r.height, r.width, r.interpolation)?;
        }
        if let Some(c) = self.channels {
            ds = repeat_channels(ds, c)?;
        }
        match &self.normalize {
            None => {}
            Some(Normalize::Computed) => ds = normalize_computed(ds)?,
            Some(Normalize::Given { mean, std }) => ds = normalize(ds, mean, std)?,
        }
        tracing::info!(spec = %self, n = ds.len(), shape = ?ds.shape(), "data set ready");
        Ok(ds)
    }
}

/// Refuses options that ask for more than the limits of [`crate::limits`], before loading.
fn check_limits(spec: &str, source: &Source, parsed: &DataSpec) -> Result<(), LoadError> {
    let too_large = |key: &str, what: String, needed: u128, limit: u128, unit, limit_name| {
        Err(LoadError::SpecTooLarge {
            spec: spec.to_string(),
            key: key.to_string(),
            size: SizeExcess::new(what, needed, limit, unit, limit_name),
        })
    };
    let max_values = u128::from(MAX_DATASET_VALUES);
    let classes = match source {
        Source::Csv(o) => o.classes,
        Source::Gaussian(g) => Some(g.classes),
        _ => None,
    };
    if let Some(k) = classes.filter(|&k| k > MAX_CLASSES) {
        return too_large(
            "classes",
            "the class count".into(),
            k as u128,
            MAX_CLASSES as u128,
            "classes",
            "MAX_CLASSES",
        );
    }
    if let Source::Gaussian(g) = source {
        let values = g.n as u128 * g.dim as u128;
        if values > max_values {
            return too_large(
                "n",
                format!(
                    "n = {} samples of dimension d = {} (option `d`) hold n · d values",
                    g.n, g.dim
                ),
                values,
                max_values,
                "values",
                "MAX_DATASET_VALUES",
            );
        }
    }
    // one sample after resize and channel repeat holds at least this many values
    let (h, w) = parsed
        .resize
        .map_or((1, 1), |r| (r.height as u128, r.width as u128));
    let c = parsed.channels.unwrap_or(1) as u128;
    // saturating: three sides of up to 2^64 overflow even u128
    let sample = h.saturating_mul(w).saturating_mul(c);
    if sample > max_values {
        let (key, what) = match parsed.resize {
            Some(r) if h.saturating_mul(w) > max_values => (
                "resize",
                format!(
                    "one {}×{} image plane holds height · width values",
                    r.height, r.width
                ),
            ),
            _ => (
                "channels",
                format!(
                    "one sample of {c} channels of {h}×{w} holds channels · height · width values"
                ),
            ),
        };
        return too_large(
            key,
            what,
            sample,
            max_values,
            "values",
            "MAX_DATASET_VALUES",
        );
    }
    Ok(())
}

/// Splits `s` at every `sep` byte and trims ASCII white space around each piece. On Unix the
/// bytes are split as they are (a path need not be UTF-8); elsewhere a spec must be Unicode, and
/// one that is not becomes one lossy token, so that the error shows it.
fn split_os(s: &OsStr, sep: u8) -> Vec<OsString> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_bytes()
            .split(|&b| b == sep)
            .map(|piece| OsStr::from_bytes(piece.trim_ascii()).to_os_string())
            .collect()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy()
            .split(char::from(sep))
            .map(|piece| OsString::from(piece.trim_matches(|c: char| c.is_ascii_whitespace())))
            .collect()
    }
}

/// `s` before and after its first `sep` byte (trimmed), or `s` and `None`.
fn split_once_os(s: &OsStr, sep: u8) -> (OsString, Option<OsString>) {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = s.as_bytes();
        match bytes.iter().position(|&b| b == sep) {
            Some(i) => (
                OsStr::from_bytes(bytes[..i].trim_ascii()).to_os_string(),
                Some(OsStr::from_bytes(bytes[i + 1..].trim_ascii()).to_os_string()),
            ),
            None => (s.to_os_string(), None),
        }
    }
    #[cfg(not(unix))]
    {
        let text = s.to_string_lossy();
        let trim = |p: &str| OsString::from(p.trim_matches(|c: char| c.is_ascii_whitespace()));
        match text.split_once(char::from(sep)) {
            Some((a, b)) => (trim(a), Some(trim(b))),
            None => (s.to_os_string(), None),
        }
    }
}

fn parse_size(v: &str) -> Option<(usize, usize)> {
    let parts: Vec<usize> = v
        .split(['x', '×'])
        .map(|p| p.trim().parse().ok().filter(|&s| s > 0))
        .collect::<Option<_>>()?;
    match parts[..] {
        [s] => Some((s, s)),
        [h, w] => Some((h, w)),
        _ => None,
    }
}

fn parse_shape(v: &str) -> Option<[usize; 3]> {
    let parts: Vec<usize> = v
        .split(['x', '×'])
        .map(|p| p.trim().parse().ok().filter(|&s| s > 0))
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

fn parse_normalize(v: &str) -> Option<Normalize> {
    let (mean, std) = v.split_once('/')?;
    let list = |s: &str| -> Option<Vec<f32>> {
        s.split(':')
            .map(|x| x.trim().parse::<f32>().ok().filter(|x| x.is_finite()))
            .collect()
    };
    let (mean, std) = (list(mean)?, list(std)?);
    if std.iter().any(|&s| s <= 0.0) {
        return None;
    }
    Some(Normalize::Given { mean, std })
}

fn join<T: fmt::Display>(values: &[T], sep: &str) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut opts: Vec<String> = Vec::new();
        match &self.source {
            Source::Digits => f.write_str("digits")?,
            Source::Mnist { dir, split }
            | Source::FashionMnist { dir, split }
            | Source::Cifar10 { dir, split } => {
                let name = match &self.source {
                    Source::Mnist { .. } => "mnist",
                    Source::FashionMnist { .. } => "fashion-mnist",
                    _ => "cifar10",
                };
                write!(f, "{name}:{}", dir.display())?;
                if *split != Split::Train {
                    opts.push(format!("split={split}"));
                }
            }
            Source::Csv(o) => {
                write!(f, "csv:{}", o.path.display())?;
                if let Some(l) = &o.label {
                    opts.push(format!("label={l}"));
                }
                if let Some(g) = &o.group {
                    opts.push(format!("group={g}"));
                }
                if let Some(h) = o.header {
                    opts.push(format!("header={}", if h { "yes" } else { "no" }));
                }
                if let Some([c, h, w]) = o.shape {
                    opts.push(format!("shape={c}x{h}x{w}"));
                }
                if let Some(k) = o.classes {
                    opts.push(format!("classes={k}"));
                }
                match o.delimiter {
                    b',' => {}
                    b';' => opts.push("delimiter=semicolon".into()),
                    _ => opts.push("delimiter=tab".into()),
                }
            }
            Source::Gaussian(g) => {
                f.write_str("gaussian")?;
                let d = GaussianConfig::default();
                if g.dim != d.dim {
                    opts.push(format!("d={}", g.dim));
                }
                if g.n != d.n {
                    opts.push(format!("n={}", g.n));
                }
                if g.sep != d.sep {
                    opts.push(format!("sep={}", g.sep));
                }
                if g.classes != d.classes {
                    opts.push(format!("classes={}", g.classes));
                }
                if g.zeta != d.zeta {
                    opts.push(format!("zeta={}", g.zeta));
                }
                if g.std != d.std {
                    opts.push(format!("std={}", g.std));
                }
                if g.seed != d.seed {
                    opts.push(format!("seed={}", g.seed));
                }
            }
        }
        if let Some(n) = self.per_class {
            opts.push(format!("per-class={n}"));
        }
        if let Some(m) = &self.minority {
            opts.push(format!("minority={}", join(m, ":")));
        }
        if let Some(seed) = self.random_groups {
            opts.push(format!("random-groups={seed}"));
        }
        if let Some(r) = &self.resize {
            if r.height == r.width {
                opts.push(format!("resize={}", r.height));
            } else {
                opts.push(format!("resize={}x{}", r.height, r.width));
            }
            if r.interpolation != Interpolation::Bilinear {
                opts.push(format!("interp={}", r.interpolation));
            }
        }
        if let Some(c) = self.channels {
            opts.push(format!("channels={c}"));
        }
        match &self.normalize {
            None => {}
            Some(Normalize::Computed) => opts.push("normalize".into()),
            Some(Normalize::Given { mean, std }) => {
                opts.push(format!("normalize={}/{}", join(mean, ":"), join(std, ":")))
            }
        }
        match (&self.source, opts.is_empty()) {
            (_, true) => Ok(()),
            // `gaussian:d=2,…` reads better than `gaussian,d=2,…`; both parse.
            (Source::Gaussian(_), false) => write!(f, ":{}", opts.join(",")),
            (_, false) => write!(f, ",{}", opts.join(",")),
        }
    }
}

impl FromStr for DataSpec {
    type Err = LoadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataSpec::parse(s)
    }
}

/// Debian's package `dataset-fashion-mnist` installs Fashion-MNIST's IDX gzip files here.
pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Where `fashion-mnist` without a path finds its files: `$MAJMIN_DATA/fashion-mnist`, then
/// [`DEBIAN_FASHION_MNIST_DIR`]; the first folder holding the training images (plain or gzip).
/// The error says where it looked and how to get the files.
pub fn default_fashion_mnist_dir() -> Result<PathBuf, String> {
    let (images, _) = crate::idx::idx_file_names(Split::Train);
    let holds = |dir: &std::path::Path| {
        dir.join(images).is_file() || dir.join(format!("{images}.gz")).is_file()
    };
    let mut looked = Vec::new();
    match std::env::var_os("MAJMIN_DATA") {
        Some(root) if !root.is_empty() => {
            let dir = PathBuf::from(root).join("fashion-mnist");
            if holds(&dir) {
                return Ok(dir);
            }
            looked.push(format!("{} (from MAJMIN_DATA)", dir.display()));
        }
        _ => looked.push("$MAJMIN_DATA/fashion-mnist (MAJMIN_DATA is not set)".into()),
    }
    let debian = PathBuf::from(DEBIAN_FASHION_MNIST_DIR);
    if holds(&debian) {
        return Ok(debian);
    }
    looked.push(format!("{DEBIAN_FASHION_MNIST_DIR} (Debian's package)"));
    Err(format!(
    "source `fashion-mnist` without a path found no {images}[.gz] in {}; install the files with `apt-get install dataset-fashion-mnist`, or give their folder: `fashion-mnist:DIR`",
    looked.join(" or ")
))
}

/// Parses `spec` and loads the data set: the one call most users need.
///
/// `spec` is any `AsRef<OsStr>` — a `&str`, a `String`, an `OsString` — so that a path that is not
/// UTF-8 can be named on Unix (see [`DataSpec::parse`]).
///
/// ```
/// let ds = majmin_data::load("digits,resize=16").unwrap();
/// assert_eq!(ds.shape(), [1, 16, 16]);
/// ```
pub fn load(spec: impl AsRef<OsStr>) -> Result<Dataset, LoadError> {
    DataSpec::parse(spec)?.load()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> DataSpec {
        let spec = DataSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let again = DataSpec::parse(spec.to_string()).unwrap();
        assert_eq!(spec, again, "{s} → {spec}");
        spec
    }

    #[test]
    fn canonical_strings_round_trip_unchanged() {
        for s in [
            "digits",
            "digits,resize=32,channels=3,normalize",
            "mnist:/data/mnist,split=test,resize=32",
            "fashion-mnist:/data/fm",
            "cifar10:/data/c,normalize=0.49:0.48:0.45/0.25:0.24:0.26",
            "csv:data.csv,label=y,group=g",
            "csv:d.csv,header=no,shape=1x2x2,classes=4,delimiter=tab",
            "gaussian:d=5,n=200,sep=3.5,classes=4,zeta=0.1,std=0.5,seed=7",
            "gaussian",
            "digits,minority=1:3,resize=10x12,interp=nearest,normalize=0.5/0.25",
            "digits,per-class=20,minority=0:1,resize=4",
            "digits,random-groups=7",
        ] {
            assert_eq!(round_trip(s).to_string(), s);
        }
    }

    #[test]
    fn per_class_keeps_the_first_samples_of_each_class() {
        let full = load("digits").unwrap();
        let ds = load("digits,per-class=20").unwrap();
        assert_eq!(ds.len(), 200);
        assert_eq!(ds.class_counts(), vec![20; 10]);
        // file order: the first kept sample is the first of the file
        assert_eq!(ds.sample(0), full.sample(0));
        assert_eq!(ds.group_sizes().minority, 100);
        // more than a class has: all of it
        assert_eq!(load("digits,per-class=100000").unwrap().len(), full.len());
        assert!(DataSpec::parse("digits,per-class=0").is_err());
    }

    #[test]
    fn random_groups_are_half_and_independent_of_the_class() {
        let ds = load("digits,random-groups=3").unwrap();
        let sizes = ds.group_sizes();
        assert_eq!(sizes.minority, ds.len() / 2);
        // every class has members in both groups, in roughly equal shares
        let minority = ds.class_counts_in(majmin_core::Group::Minority);
        for (c, (&m, &all)) in minority.iter().zip(&ds.class_counts()).enumerate() {
            let share = m as f64 / all as f64;
            assert!((0.35..0.65).contains(&share), "class {c}: {m} of {all}");
        }
        assert_eq!(
            load("digits,random-groups=3").unwrap().groups(),
            ds.groups()
        );
        assert_ne!(
            load("digits,random-groups=4").unwrap().groups(),
            ds.groups()
        );
        assert!(DataSpec::parse("digits,random-groups=1,minority=1")
            .unwrap_err()
            .to_string()
            .contains("both assign groups"));
    }

    #[test]
    fn options_in_any_order_become_canonical() {
        let spec = round_trip(" digits , normalize , channels=3 ,resize=32,");
        assert_eq!(spec.to_string(), "digits,resize=32,channels=3,normalize");
        let spec = round_trip("gaussian,seed=3,d=2,n=1000");
        assert_eq!(spec.to_string(), "gaussian:seed=3");
        let spec = round_trip("mnist:/m,split=train");
        assert_eq!(spec.to_string(), "mnist:/m");
        assert_eq!(
            round_trip("csv:x.csv,header").to_string(),
            "csv:x.csv,header=yes"
        );
    }

    #[test]
    fn parsed_fields_have_the_values_written() {
        let spec =
            DataSpec::parse("mnist:/data/mnist,split=test,resize=28x32,interp=nearest").unwrap();
        assert_eq!(
            spec.source,
            Source::Mnist {
                dir: "/data/mnist".into(),
                split: Split::Test
            }
        );
        assert_eq!(
            spec.resize,
            Some(Resize {
                height: 28,
                width: 32,
                interpolation: Interpolation::Nearest
            })
        );
        let spec = DataSpec::parse("gaussian:d=3,sep=1.5").unwrap();
        match spec.source {
            Source::Gaussian(g) => assert_eq!((g.dim, g.sep, g.n), (3, 1.5, 1000)),
            other => panic!("{other:?}"),
        }
        let spec: DataSpec = "csv:a.csv,label=y".parse().unwrap();
        match spec.source {
            Source::Csv(o) => assert_eq!(
                (o.path, o.label),
                (PathBuf::from("a.csv"), Some("y".to_string()))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_say_what_is_accepted() {
        let e = |s: &str| DataSpec::parse(s).unwrap_err().to_string();
        let msg = e("mnist:/m,colour=red");
        assert_eq!(
            msg,
            "data spec `mnist:/m,colour=red`: unknown option `colour` for source `mnist`; accepted: split, per-class, minority, random-groups, \
             resize, interp, channels, normalize"
        );
        assert!(e("imagenet:/x")
            .contains("unknown source `imagenet`; expected one of digits, mnist:DIR"));
        assert!(e("mnist").contains("source `mnist` needs a path: expected `mnist:DIR`"));
        assert!(e("digits:/x").contains("takes no argument"));
        assert!(e("digits,resize=0").contains("option `resize`: expected a side S or HxW"));
        assert!(e("digits,resize=32,resize=16").contains("given twice"));
        assert!(e("digits,interp=nearest").contains("`interp` needs `resize=…`"));
        assert!(e("digits,split=test").contains("unknown option `split` for source `digits`"));
        assert!(e("gaussian:zeta=1.5")
            .contains("option `zeta`: expected a number in (0, 1], found `1.5`"));
        assert!(
            e("gaussian:n=abc").contains("option `n`: expected a whole number ≥ 2, found `abc`")
        );
        assert!(e("gaussian:d").contains("option `d` needs a value"));
        assert!(e("digits,normalize=1/0").contains("option `normalize`: expected MEAN/STD"));
        assert!(e("digits,minority=a:b").contains("class numbers separated by `:`"));
        assert!(e("csv:x.csv,group=g,minority=1").contains("both assign groups"));
        assert!(e("").contains("expected a source"));
    }

    #[test]
    fn sizes_from_options_are_refused_before_allocation() {
        let too_large = |s: &str| match DataSpec::parse(s) {
            Err(e @ LoadError::SpecTooLarge { .. }) => e,
            other => panic!("{s}: expected SpecTooLarge, got {other:?}"),
        };
        // aborted with "memory allocation failed" before
        let e = too_large("digits,resize=100000");
        assert!(
            matches!(&e, LoadError::SpecTooLarge { key, size, .. } if key == "resize" && size.needed == 10_000_000_000 && size.limit == 1_073_741_824),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "data spec `digits,resize=100000`: option `resize`: one 100000×100000 image plane holds \
             height · width values: 10,000,000,000 values, above the limit of 1,073,741,824 values (MAX_DATASET_VALUES)"
        );
        let e = too_large("gaussian:d=100000000,n=100000000");
        assert!(
            matches!(&e, LoadError::SpecTooLarge { key, size, .. } if key == "n" && size.needed == 10_000_000_000_000_000),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("n = 100000000 samples of dimension d = 100000000")
                && msg.contains("10,000,000,000,000,000 values, above the limit of 1,073,741,824"),
            "{msg}"
        );
        let e = too_large("csv:x.csv,classes=1000000");
        assert!(
            e.to_string().contains("option `classes`: the class count: 1,000,000 classes, above the limit of 65,536 classes (MAX_CLASSES)"),
            "{e}"
        );
        assert!(too_large("gaussian:classes=70000")
            .to_string()
            .contains("MAX_CLASSES"));
        // sides and channels of 2^64 − 1 overflow even 128-bit products: saturated, still refused
        let e = too_large("digits,resize=18446744073709551615,channels=18446744073709551615");
        assert!(
            matches!(&e, LoadError::SpecTooLarge { key, size, .. } if key == "resize" && size.needed == u128::MAX),
            "{e:?}"
        );
        let e = too_large("digits,channels=2000000000");
        assert!(
            matches!(&e, LoadError::SpecTooLarge { key, .. } if key == "channels"),
            "{e:?}"
        );
        // within the per-sample bound, the whole set is checked by the transform, before allocating
        let e = load("digits,resize=20000").unwrap_err();
        assert!(
            matches!(&e, LoadError::TooLarge { size, .. } if size.needed == 718_800_000_000),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("transform `resize=20000x20000` on data set `digits`: 1,797 samples of 1×20000×20000")
                && msg.ends_with("718,800,000,000 values, above the limit of 1,073,741,824 values (MAX_DATASET_VALUES)"),
            "{msg}"
        );
        let e = load("digits,channels=1000000").unwrap_err();
        assert!(matches!(e, LoadError::TooLarge { .. }), "{e:?}");
        let e = generate_gaussian(&GaussianConfig {
            dim: 100_000_000,
            n: 100_000_000,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(&e, LoadError::TooLarge { size, .. } if size.limit_name == "MAX_DATASET_VALUES"),
            "{e:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn paths_need_not_be_utf8() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let dir = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"\xff.csv");
        let path = dir.path().join(name);
        std::fs::write(&path, "a,b,y\n1,2,0\n3,4,1\n").unwrap();
        let mut spec = b"csv:".to_vec();
        spec.extend_from_slice(path.as_os_str().as_bytes());
        spec.extend_from_slice(b",label=y");
        let spec = OsString::from_vec(spec);
        let parsed = DataSpec::parse(&spec).unwrap();
        match &parsed.source {
            Source::Csv(o) => assert_eq!(o.path, path),
            other => panic!("{other:?}"),
        }
        let ds = load(&spec).unwrap();
        assert_eq!(ds.labels(), &[0, 1]);
        // a missing non-UTF-8 file is named lossily
        let missing = OsString::from_vec(b"csv:/no/such/\xfe.csv".to_vec());
        let msg = load(&missing).unwrap_err().to_string();
        assert_eq!(msg, "/no/such/\u{fffd}.csv: no such file");
        // only a path may be non-UTF-8
        let bad = OsString::from_vec(b"digits,resize=\xff".to_vec());
        let msg = DataSpec::parse(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("is not valid UTF-8 (only a path may be)"),
            "{msg}"
        );
        let bad = OsString::from_vec(b"dig\xffits".to_vec());
        assert!(DataSpec::parse(&bad).is_err());
    }

    #[test]
    fn load_applies_source_options_groups_and_transforms() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = crate::idx::idx_file_names(Split::Test);
        std::fs::write(
            dir.path().join(images),
            crate::idx::tests::idx_images(4, 2, 2),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(labels),
            crate::idx::tests::idx_labels(&[0, 1, 8, 9]),
        )
        .unwrap();
        let spec = format!(
            "mnist:{},split=test,minority=9,resize=4,channels=3,normalize",
            dir.path().display()
        );
        let ds = load(&spec).unwrap();
        assert_eq!(ds.shape(), [3, 4, 4]);
        assert_eq!(ds.len(), 4);
        assert_eq!(ds.group_sizes().minority, 1);
        let (mean, std) = crate::transform::channel_stats(&ds);
        for c in 0..3 {
            assert!(
                mean[c].abs() < 1e-6 && (std[c] - 1.0).abs() < 1e-5,
                "{mean:?} {std:?}"
            );
        }
        let err = load(format!("mnist:{}", dir.path().display()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte: no such file"),
            "{err}"
        );

        let csv = dir.path().join("d.csv");
        std::fs::write(&csv, "a,b,c,d,y\n1,2,3,4,0\n5,6,7,8,1\n").unwrap();
        let ds = load(format!(
            "csv:{},shape=1x2x2,resize=1,interp=nearest",
            csv.display()
        ))
        .unwrap();
        assert_eq!(ds.features(), &[1.0, 5.0]);
        let ds = load("gaussian:n=20,classes=4,d=3,zeta=0.25").unwrap();
        assert_eq!(
            (
                ds.group_sizes().majority,
                ds.group_sizes().minority,
                ds.classes()
            ),
            (16, 4, 4)
        );
    }
}
