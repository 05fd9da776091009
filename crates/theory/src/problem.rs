//! Problems: a majority part `L1`, a minority part `L0` and a box `K` (docs/definitions.md, docs/problems.md).
//!
//! A problem comes from a TOML file ([`ProblemConfig::from_toml`]), from the built-in list
//! ([`builtin`], [`BUILTINS`]) or from a data set ([`ProblemConfig::build`] with
//! `kind = "linear-regression"` or `"logistic-regression"`). Every error names the file, the line
//! and the column, and says what was expected there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use majmin_core::{Dataset, Group, Rng};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::ProblemError;
use crate::expr::{line_column, parse};
use crate::smooth::{FormulaObjective, LinearLoss, LinearModelPart, SmoothObjective, TotalLoss};

/// The compact set `K`: a box `[lower, upper]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// Lower corner.
    pub lower: Vec<f64>,
    /// Upper corner.
    pub upper: Vec<f64>,
}

impl Domain {
    /// The box `[lo, hi]^d`.
    pub fn cube(d: usize, lo: f64, hi: f64) -> Self {
        Self {
            lower: vec![lo; d],
            upper: vec![hi; d],
        }
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// Whether `theta` lies in the box, up to `tol` in every coordinate.
    pub fn contains(&self, theta: &[f64], tol: f64) -> bool {
        theta
            .iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(t, (l, u))| *t >= l - tol && *t <= u + tol)
    }

    /// Projects `theta` onto the box.
    pub fn clamp(&self, theta: &mut [f64]) {
        for (t, (l, u)) in theta.iter_mut().zip(self.lower.iter().zip(&self.upper)) {
            *t = t.clamp(*l, *u);
        }
    }

    /// The diameter of the box.
    pub fn diameter(&self) -> f64 {
        self.lower
            .iter()
            .zip(&self.upper)
            .map(|(l, u)| (u - l) * (u - l))
            .sum::<f64>()
            .sqrt()
    }
}

/// Constants given by the user instead of estimated (`[constants]` of the TOML file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantsConfig {
    /// The gradient level `c` of (A1); chosen to maximise the (A4) bound when absent.
    pub c: Option<f64>,
    /// The strong-Morse constant δ of (A1).
    pub delta: Option<f64>,
    /// The Hessian Lipschitz constant M of (A2).
    #[serde(rename = "M")]
    pub m: Option<f64>,
    /// The minority bound τ of (A3).
    pub tau: Option<f64>,
}

/// How a problem's parts are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// `majority` and `minority` formulas in `vars`.
    #[default]
    Formula,
    /// Squared error of a linear predictor on a data set's groups.
    LinearRegression,
    /// Logistic loss of a linear predictor on a data set's groups (labels 0/1).
    LogisticRegression,
}

/// A problem file (docs/problems.md), as written in TOML. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemConfig {
    /// The problem's name.
    pub name: Option<String>,
    /// One line on what the problem shows.
    pub description: Option<String>,
    /// `formula` (default), `linear-regression` or `logistic-regression`.
    #[serde(default)]
    pub kind: ProblemKind,
    /// Variable names, in coordinate order (formula problems).
    pub vars: Option<Vec<String>>,
    /// `L1` as a formula.
    pub majority: Option<Spanned<String>>,
    /// `L0` as a formula.
    pub minority: Option<Spanned<String>>,
    /// The box `K`.
    pub domain: Option<Domain>,
    /// Constants given instead of estimated.
    #[serde(default)]
    pub constants: ConstantsConfig,
    /// Data-driven problems: a data spec (docs/data.md); the built-in synthetic two-group data when
    /// absent. The caller loads it and passes it to [`ProblemConfig::build`].
    pub data: Option<String>,
    /// Data-driven problems: the imbalance level ζ = n0 / n1 (default 0.1).
    pub zeta: Option<f64>,
    /// Data-driven problems: whether the predictor has a bias term (default true).
    pub bias: Option<bool>,
    /// Data-driven problems: the seed of the synthetic data and of the ζ subsample (default 0).
    pub seed: Option<u64>,
    #[serde(skip)]
    origin: Origin,
}

#[derive(Debug, Clone, Default)]
struct Origin {
    path: PathBuf,
    text: String,
}

/// A problem ready for the checks: `L1`, `L0` and `K`.
#[derive(Clone)]
pub struct Problem {
    /// Name.
    pub name: String,
    /// One line on what the problem shows.
    pub description: String,
    /// Coordinate names.
    pub vars: Vec<String>,
    /// `L1`.
    pub majority: Arc<dyn SmoothObjective>,
    /// `L0`.
    pub minority: Arc<dyn SmoothObjective>,
    /// `K`.
    pub domain: Domain,
    /// Constants given by the user.
    pub constants: ConstantsConfig,
    /// The formulas (`L1`, `L0`) when the problem was given as formulas.
    pub formulas: Option<(String, String)>,
    /// For data-driven problems: ζ of the data set used and the group sizes (n1, n0).
    pub data_summary: Option<DataSummary>,
}

/// What a data-driven problem was built from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSummary {
    /// The data set's name.
    pub data: String,
    /// ζ = n0 / n1 of the data used.
    pub zeta: f64,
    /// Majority sample count n1.
    pub majority: usize,
    /// Minority sample count n0.
    pub minority: usize,
}

impl std::fmt::Debug for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problem")
            .field("name", &self.name)
            .field("vars", &self.vars)
            .field("domain", &self.domain)
            .field("formulas", &self.formulas)
            .finish_non_exhaustive()
    }
}

impl Problem {
    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.domain.dim()
    }

    /// `L = L1 + L0`.
    pub fn total(&self) -> TotalLoss {
        TotalLoss {
            majority: self.majority.clone(),
            minority: self.minority.clone(),
        }
    }

    /// A problem from two formulas in `vars` on `domain`.
    pub fn from_formulas(
        name: &str,
        vars: &[&str],
        majority: &str,
        minority: &str,
        domain: Domain,
    ) -> Result<Problem, ProblemError> {
        let vars: Vec<String> = vars.iter().map(|s| s.to_string()).collect();
        let origin = Path::new(name);
        let f1 = parse(majority, &vars)
            .map_err(|e| ProblemError::formula(origin, "majority", e.line, e.column, &e))?;
        let f0 = parse(minority, &vars)
            .map_err(|e| ProblemError::formula(origin, "minority", e.line, e.column, &e))?;
        check_domain(origin, &domain, vars.len())?;
        Ok(Problem {
            name: name.to_string(),
            description: String::new(),
            vars,
            majority: Arc::new(FormulaObjective::new(f1)),
            minority: Arc::new(FormulaObjective::new(f0)),
            domain,
            constants: ConstantsConfig::default(),
            formulas: Some((majority.to_string(), minority.to_string())),
            data_summary: None,
        })
    }
}

fn check_domain(path: &Path, domain: &Domain, d: usize) -> Result<(), ProblemError> {
    let invalid = |message: String| ProblemError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if domain.lower.len() != d || domain.upper.len() != d {
        return Err(invalid(format!(
            "[domain] lower and upper must have one value per variable ({d}); got {} and {}",
            domain.lower.len(),
            domain.upper.len()
        )));
    }
    if let Some(i) = (0..d).find(|&i| {
        domain.lower[i] >= domain.upper[i]
            || domain.lower[i].is_nan()
            || domain.upper[i].is_nan()
            || !domain.upper[i].is_finite()
            || !domain.lower[i].is_finite()
    }) {
        return Err(invalid(format!(
            "[domain] needs finite lower < upper in every coordinate; coordinate {} has lower = {} and upper = {}",
            i + 1,
            domain.lower[i],
            domain.upper[i]
        )));
    }
    Ok(())
}

impl ProblemConfig {
    /// Parses a problem file's text; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<ProblemConfig, ProblemError> {
        let mut config: ProblemConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((0, 0));
            ProblemError::Toml {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        config.origin = Origin {
            path: path.to_path_buf(),
            text: text.to_string(),
        };
        Ok(config)
    }

    /// Reads and parses a problem file. The path is any `AsRef<Path>` (it need not be UTF-8;
    /// errors print it lossily).
    ///
    /// # Errors
    /// [`ProblemError::Io`] when the file cannot be read; [`ProblemError::Toml`] with the line and
    /// column of invalid TOML, an unknown key or a byte that is not UTF-8.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ProblemConfig, ProblemError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ProblemError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = e.utf8_error().valid_up_to();
            let before = String::from_utf8_lossy(&e.as_bytes()[..good]);
            let (line, column) = line_column(&before, before.len());
            ProblemError::Toml {
                path: path.to_path_buf(),
                line,
                column,
                message: format!(
                    "expected UTF-8 text, found the byte 0x{:02x}",
                    e.as_bytes()[good]
                ),
            }
        })?;
        Self::from_toml(&text, path)
    }

    /// Whether the problem needs a data set (`linear-regression` or `logistic-regression`).
    pub fn is_data_driven(&self) -> bool {
        self.kind != ProblemKind::Formula
    }

    /// The file (or built-in name) this configuration came from.
    pub fn origin(&self) -> &Path {
        &self.origin.path
    }

    /// Builds the problem. Data-driven problems use `data` (loaded by the caller from the `data`
    /// spec) or, when `None`, the built-in synthetic two-group data ([`synthetic_two_group_data`]).
    pub fn build(&self, data: Option<&Dataset>) -> Result<Problem, ProblemError> {
        let path = self.origin.path.as_path();
        let invalid = |message: String| ProblemError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let name = self.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "problem".into())
        });
        match self.kind {
            ProblemKind::Formula => {
                for (key, present) in [
                    ("data", self.data.is_some()),
                    ("zeta", self.zeta.is_some()),
                    ("bias", self.bias.is_some()),
                ] {
                    if present {
                        return Err(invalid(format!("`{key}` is only for kind = \"linear-regression\" or \"logistic-regression\"")));
                    }
                }
                let vars = self.vars.clone().ok_or_else(|| {
                    invalid(
                        "missing key `vars` (the variable names, e.g. vars = [\"x\", \"y\"])"
                            .into(),
                    )
                })?;
                if vars.is_empty() {
                    return Err(invalid(
                        "`vars` is empty: a problem needs at least one variable".into(),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for v in &vars {
                    let ok = v
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && v.chars().all(|c| c.is_alphanumeric() || c == '_');
                    if !ok {
                        return Err(invalid(format!("variable name `{v}` must start with a letter and hold letters, digits or _")));
                    }
                    if [
                        "pi", "e", "exp", "ln", "log", "sqrt", "abs", "sin", "cos", "tanh",
                        "sigmoid", "softplus", "min", "max",
                    ]
                    .contains(&v.as_str())
                    {
                        return Err(invalid(format!("variable name `{v}` is reserved (a function or constant of the formula language)")));
                    }
                    if !seen.insert(v) {
                        return Err(invalid(format!("variable `{v}` is listed twice in `vars`")));
                    }
                }
                let majority = self.formula("majority", self.majority.as_ref(), &vars)?;
                let minority = self.formula("minority", self.minority.as_ref(), &vars)?;
                let domain = self.domain.clone().ok_or_else(|| {
                    invalid("missing table [domain] with `lower` and `upper`".into())
                })?;
                check_domain(path, &domain, vars.len())?;
                self.check_constants()?;
                Ok(Problem {
                    name,
                    description: self.description.clone().unwrap_or_default(),
                    vars,
                    majority: Arc::new(FormulaObjective::new(majority)),
                    minority: Arc::new(FormulaObjective::new(minority)),
                    domain,
                    constants: self.constants.clone(),
                    formulas: Some((
                        self.majority
                            .as_ref()
                            .map(|s| s.get_ref().clone())
                            .unwrap_or_default(),
                        self.minority
                            .as_ref()
                            .map(|s| s.get_ref().clone())
                            .unwrap_or_default(),
                    )),
                    data_summary: None,
                })
            }
            kind => {
                for (key, present) in [
                    ("vars", self.vars.is_some()),
                    ("majority", self.majority.is_some()),
                    ("minority", self.minority.is_some()),
                ] {
                    if present {
                        return Err(invalid(format!("`{key}` is only for formula problems; a data-driven problem takes its parts from the data")));
                    }
                }
                self.check_constants()?;
                let zeta = self.zeta.unwrap_or(0.1);
                let seed = self.seed.unwrap_or(0);
                let synthetic;
                let source = match data {
                    Some(d) => d,
                    None if self.data.is_some() => {
                        return Err(invalid(format!(
                            "the data set `{}` was not loaded",
                            self.data.as_deref().unwrap_or_default()
                        )))
                    }
                    None => {
                        synthetic = synthetic_two_group_data(kind, 150, seed);
                        &synthetic
                    }
                };
                let dataset =
                    source
                        .with_imbalance(zeta, seed)
                        .map_err(|e| ProblemError::Data {
                            path: path.to_path_buf(),
                            message: e.to_string(),
                        })?;
                let loss = if kind == ProblemKind::LinearRegression {
                    LinearLoss::Squared
                } else {
                    LinearLoss::Logistic
                };
                let bias = self.bias.unwrap_or(true);
                let (majority, minority, vars) =
                    linear_model_parts(&dataset, loss, bias).map_err(|message| {
                        ProblemError::Data {
                            path: path.to_path_buf(),
                            message,
                        }
                    })?;
                let d = vars.len();
                let domain = self
                    .domain
                    .clone()
                    .unwrap_or_else(|| Domain::cube(d, -5.0, 5.0));
                check_domain(path, &domain, d)?;
                let sizes = dataset.group_sizes();
                Ok(Problem {
                    name,
                    description: self.description.clone().unwrap_or_default(),
                    vars,
                    majority: Arc::new(majority),
                    minority: Arc::new(minority),
                    domain,
                    constants: self.constants.clone(),
                    formulas: None,
                    data_summary: Some(DataSummary {
                        data: self
                            .data
                            .clone()
                            .unwrap_or_else(|| dataset.name().to_string()),
                        zeta: sizes.minority as f64 / sizes.majority as f64,
                        majority: sizes.majority,
                        minority: sizes.minority,
                    }),
                })
            }
        }
    }

    fn check_constants(&self) -> Result<(), ProblemError> {
        let c = &self.constants;
        for (key, v) in [("c", c.c), ("delta", c.delta), ("M", c.m), ("tau", c.tau)] {
            if let Some(v) = v {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(ProblemError::Invalid {
                        path: self.origin.path.clone(),
                        message: format!(
                            "[constants] {key} must be a positive finite number, got {v}"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn formula(
        &self,
        key: &str,
        value: Option<&Spanned<String>>,
        vars: &[String],
    ) -> Result<crate::expr::Formula, ProblemError> {
        let path = &self.origin.path;
        let spanned = value.ok_or_else(|| ProblemError::Invalid {
            path: path.clone(),
            message: format!(
                "missing key `{key}` (the {} part as a formula in {})",
                if key == "majority" { "L1" } else { "L0" },
                vars.join(", ")
            ),
        })?;
        parse(spanned.get_ref(), vars).map_err(|e| {
            // map the position inside the string onto the file when the string has no escapes
            let span = spanned.span();
            let raw = self.origin.text.get(span.clone()).unwrap_or_default();
            let inner_start = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
                let after = span.start + 3;
                if self.origin.text[after..].starts_with('\n') {
                    Some(after + 1)
                } else if self.origin.text[after..].starts_with("\r\n") {
                    Some(after + 2)
                } else {
                    Some(after)
                }
            } else if raw.len() >= 2 && raw[1..raw.len() - 1] == *spanned.get_ref() {
                Some(span.start + 1)
            } else {
                None
            };
            match inner_start {
                Some(start) if !self.origin.text.is_empty() => {
                    let (line, column) = line_column(&self.origin.text, start + e.offset);
                    ProblemError::formula(path, key, line, column, &e)
                }
                _ => ProblemError::formula(path, key, e.line, e.column, &e),
            }
        })
    }
}

/// Splits a data set into the two parts of a linear-predictor loss (θ · x with x the flattened
/// features, plus a constant 1 when `bias`), both divided by the total count n (docs/definitions.md).
pub fn linear_model_parts(
    data: &Dataset,
    loss: LinearLoss,
    bias: bool,
) -> Result<(LinearModelPart, LinearModelPart, Vec<String>), String> {
    let k = data.feature_len();
    let d = k + usize::from(bias);
    if loss == LinearLoss::Logistic && data.classes() != 2 {
        return Err(format!(
            "logistic regression needs labels 0/1 (2 classes); `{}` has {} classes",
            data.name(),
            data.classes()
        ));
    }
    if d > 64 {
        return Err(format!("`{}` has {k} features: the theory checks are meant for small dimensions (at most 64 parameters)", data.name()));
    }
    let n = data.len();
    let mut parts = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for i in 0..n {
        let slot = match data.groups()[i] {
            Group::Majority => 0,
            Group::Minority => 1,
        };
        parts[slot]
            .0
            .extend(data.sample(i).iter().map(|&v| v as f64));
        if bias {
            parts[slot].0.push(1.0);
        }
        parts[slot].1.push(data.labels()[i] as f64);
    }
    let [(f1, y1), (f0, y0)] = parts;
    let mut vars: Vec<String> = (1..=k).map(|i| format!("w{i}")).collect();
    if bias {
        vars.push("b".into());
    }
    Ok((
        LinearModelPart::new(d, f1, y1, n, loss),
        LinearModelPart::new(d, f0, y0, n, loss),
        vars,
    ))
}

/// The built-in synthetic two-group data of the data-driven problems: one feature, labels 0/1,
/// `per_group` samples in each group (balanced; ζ is applied afterwards). The majority has
/// x ~ N(−1, 1) and P(y = 1 | x) = σ(2 (x + 1)); the minority has x ~ N(1, 1) and the opposite
/// trend P(y = 1 | x) = σ(−2 (x − 1)), so that it pulls the fit away from the majority's.
pub fn synthetic_two_group_data(kind: ProblemKind, per_group: usize, seed: u64) -> Dataset {
    let mut rng = Rng::for_stream(seed, 0x7468_656f);
    let (mut features, mut labels, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for (group, centre, slope) in [(Group::Majority, -1.0, 2.0), (Group::Minority, 1.0, -2.0)] {
        for _ in 0..per_group {
            let x = centre + rng.normal();
            let p = majmin_core::loss::sigmoid(slope * (x - centre));
            let y = u32::from(rng.uniform() < p);
            features.push(x as f32);
            labels.push(y);
            groups.push(group);
        }
    }
    let name = match kind {
        ProblemKind::LogisticRegression => "synthetic-logistic",
        _ => "synthetic-linear",
    };
    Dataset::new(name, [1, 1, 1], features, labels, 2)
        .and_then(|d| d.with_group_rule(&majmin_core::GroupRule::Explicit(groups)))
        .expect("the synthetic data set is well formed")
}

/// A built-in problem: its name, one line on it, and its TOML text.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The name given to `--problem`.
    pub name: &'static str,
    /// One line on what it shows.
    pub summary: &'static str,
    /// The problem file.
    pub toml: &'static str,
}

/// The built-in problems (`majmin theory --list`).
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "cosine-grid",
        summary: "L1 = cos x + cos y with a maximum, two saddles and a minimum in K; A1–A4 hold and both theorems are confirmed",
        toml: include_str!("../problems/cosine-grid.toml"),
    },
    Builtin {
        name: "poster",
        summary: "the poster's figure on K = [−3, 3]²: several minima and saddles of L1, a visible minority pull",
        toml: include_str!("../problems/poster.toml"),
    },
    Builtin {
        name: "double-well",
        summary: "docs/problems.md's double well on [−3, 3]²: M = 72 is too large, (A4) fails; the conclusions are still reported",
        toml: include_str!("../problems/double-well.toml"),
    },
    Builtin {
        name: "linear-regression",
        summary: "least squares of y ≈ w x + b on synthetic two-group data with ζ = 0.1 (L1, L0 from data)",
        toml: include_str!("../problems/linear-regression.toml"),
    },
    Builtin {
        name: "logistic-regression",
        summary: "logistic regression P(y=1) = σ(w x + b) on synthetic two-group data with ζ = 0.1 (L1, L0 from data)",
        toml: include_str!("../problems/logistic-regression.toml"),
    },
];

/// The built-in problem `name`'s configuration.
pub fn builtin(name: &str) -> Result<ProblemConfig, ProblemError> {
    let b =
        BUILTINS
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| ProblemError::UnknownBuiltin {
                name: name.to_string(),
                available: BUILTINS
                    .iter()
                    .map(|b| b.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    ProblemConfig::from_toml(b.toml, Path::new(&format!("<builtin {}>", b.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_builds() {
        for b in BUILTINS {
            let p = builtin(b.name).unwrap().build(None).unwrap();
            assert_eq!(p.name, b.name);
            assert_eq!(p.dim(), 2);
        }
        assert!(matches!(
            builtin("nope"),
            Err(ProblemError::UnknownBuiltin { .. })
        ));
    }

    #[test]
    fn unknown_keys_and_bad_formulas_name_file_line_and_column() {
        let path = Path::new("p.toml");
        let text = "name = \"t\"\nvars = [\"x\"]\nmajority = \"x^2\"\nminority = \"0.1*x\"\ncolour = 3\n[domain]\nlower = [-1]\nupper = [1]\n";
        let e = ProblemConfig::from_toml(text, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.toml:5:1") && e.contains("colour"), "{e}");
        let text = "vars = [\"x\"]\nmajority = \"x^2\"\nminority = \"0.1 * (x +\"\n[domain]\nlower = [-1]\nupper = [1]\n";
        let e = ProblemConfig::from_toml(text, path)
            .unwrap()
            .build(None)
            .unwrap_err();
        let msg = e.to_string();
        // the formula starts at column 13 of line 3; the end of it is at offset 10 inside it
        assert!(
            msg.contains("p.toml:3:23") && msg.contains("minority") && msg.contains("expected"),
            "{msg}"
        );
        let text = "vars = [\"x\"]\nmajority = \"x^2\"\nminority = \"x\"\n[domain]\nlower = [-1]\nupper = [1]\nwidth = 2\n";
        let msg = ProblemConfig::from_toml(text, path)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("p.toml:7:1") && msg.contains("width"), "{msg}");
        let text = "vars = [\"x\", \"y\"]\nmajority = \"x^2\"\nminority = \"x\"\n[domain]\nlower = [-1]\nupper = [1]\n";
        let msg = ProblemConfig::from_toml(text, path)
            .unwrap()
            .build(None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("one value per variable"), "{msg}");
    }

    #[test]
    fn problem_files_need_not_have_utf8_names_and_bad_bytes_are_located() {
        let dir = std::env::temp_dir().join(format!("majmin-theory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        let name = {
            use std::os::unix::ffi::OsStrExt;
            std::ffi::OsStr::from_bytes(b"p\xff.toml").to_os_string()
        };
        #[cfg(not(unix))]
        let name = std::ffi::OsString::from("p.toml");
        let path = dir.join(name);
        std::fs::write(&path, builtin("cosine-grid").unwrap().origin.text).unwrap();
        let p = ProblemConfig::from_file(&path)
            .unwrap()
            .build(None)
            .unwrap();
        assert_eq!(p.dim(), 2);
        std::fs::write(&path, b"name = \"a\"\nvars = [\"x\xff\"]\n").unwrap();
        let e = ProblemConfig::from_file(&path).unwrap_err();
        assert!(
            matches!(
                e,
                ProblemError::Toml {
                    line: 2,
                    column: 11,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("expected UTF-8 text, found the byte 0xff"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn deep_toml_and_deep_formulas_are_errors_not_overflows() {
        let path = Path::new("deep.toml");
        let text = format!("vars = {}\"x\"{}\n", "[".repeat(20_000), "]".repeat(20_000));
        assert!(matches!(
            ProblemConfig::from_toml(&text, path),
            Err(ProblemError::Toml { .. })
        ));
        let text = format!("a = {}1{}\n", "{ b = ".repeat(20_000), " }".repeat(20_000));
        assert!(ProblemConfig::from_toml(&text, path).is_err());
        let formula = format!("{}x{}", "(".repeat(20_000), ")".repeat(20_000));
        let text = format!(
            "vars = [\"x\"]\nmajority = \"{formula}\"\nminority = \"x\"\n[domain]\nlower = [-1]\nupper = [1]\n"
        );
        let e = ProblemConfig::from_toml(&text, path)
            .unwrap()
            .build(None)
            .unwrap_err();
        // the 201st parenthesis, at column 13 + 200 of line 2
        assert!(
            matches!(&e, ProblemError::Formula { line: 2, column: 213, key, .. } if key == "majority"),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("at most 200 levels of nesting"),
            "{e}"
        );
    }

    #[test]
    fn data_driven_minority_grows_with_zeta() {
        let mut norms = Vec::new();
        for zeta in [0.05, 0.2, 0.8] {
            let mut cfg = builtin("linear-regression").unwrap();
            cfg.zeta = Some(zeta);
            let p = cfg.build(None).unwrap();
            let s = p.data_summary.clone().unwrap();
            assert_eq!(s.majority, 150);
            assert_eq!(s.minority, (zeta * 150.0_f64).round() as usize);
            let h = p.minority.hessian_matrix(&[0.0, 0.0]);
            norms.push(h[0].abs() + h[3].abs());
        }
        assert!(norms[0] < norms[1] && norms[1] < norms[2], "{norms:?}");
    }
}
