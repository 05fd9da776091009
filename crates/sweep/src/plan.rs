//! What a sweep runs: the [`SweepPlan`] (architectures × ζ × seeds with one training
//! configuration), the [`RunConfig`] of each run and its name, the [`RunId`], and the samples
//! each run trains on ([`RunSamples`]), selected once by [`SweepPlan::prepare`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use majmin_core::dataset::stratified_quotas;
use majmin_core::{ArchConfig, Architecture, Dataset, Group, GroupRule, Rng};
use majmin_flow::train::{Budget, Method, TrainConfig};
use majmin_models::Registry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SweepError;

/// The version of majmin's numerics: kernels, reduction orders and the training loop. It is part
/// of every run's identity, so a run file written by a majmin whose numbers differ is never
/// mixed with new runs. Bump it with any change that changes a curve for the same seed.
pub const NUMERICS_VERSION: u32 = 2;

/// The largest width multiplier: 64 times the channels of a network is already past what a
/// machine trains (and far past what overflows the size arithmetic).
pub const MAX_WIDTH: f64 = 64.0;

/// The most seeds per (architecture, ζ).
pub const MAX_SEEDS: u32 = 10_000;

/// The most runs in one sweep.
pub const MAX_RUNS: usize = 1_000_000;

/// The largest held-out fraction (the training pool must keep most of the data).
pub const MAX_HOLDOUT: f64 = 0.5;

/// The held-out fraction where the data has no test split (`--holdout` default): 20 % of each
/// group.
pub const DEFAULT_HOLDOUT: f64 = 0.2;

/// An architecture in a sweep with its width multiplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchChoice {
    /// Registry name.
    pub name: String,
    /// Width multiplier.
    pub width: f64,
    /// This network's learning rate, in place of the plan's `train.lr` (networks without
    /// BatchNorm, such as SqueezeNet, diverge at rates that suit the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// This network's budget in epochs, in place of the plan's (slow learners need more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<f64>,
    /// Architecture options ([`ArchConfig::options`], e.g. `logit_relu = "false"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

impl ArchChoice {
    /// `name` at `width`, with the plan's training settings and no options.
    pub fn new(name: impl Into<String>, width: f64) -> Self {
        Self {
            name: name.into(),
            width,
            lr: None,
            epochs: None,
            options: BTreeMap::new(),
        }
    }

    /// The training configuration of this network in a plan whose settings are `train`.
    pub fn train_config(&self, train: &TrainConfig) -> TrainConfig {
        TrainConfig {
            lr: self.lr.unwrap_or(train.lr),
            budget: self.epochs.map_or(train.budget, Budget::Epochs),
            ..train.clone()
        }
    }

    /// The architecture configuration of this network on data of `shape` with `classes`.
    pub fn arch_config(&self, shape: [usize; 3], classes: usize) -> ArchConfig {
        let mut config = ArchConfig::new(shape, classes).with_width(self.width);
        config.options = self.options.clone();
        config
    }
}

/// Everything a sweep runs: architectures × ζ × seed indices, with one training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// The architectures, in table order.
    pub archs: Vec<ArchChoice>,
    /// The data spec (with its transforms).
    pub data: String,
    /// `--minority-classes`.
    pub minority_classes: Option<Vec<u32>>,
    /// The imbalance levels, in table order.
    pub zetas: Vec<f64>,
    /// Number of seeds (indices 0..seeds).
    pub seeds: u32,
    /// The master seed; seed index s uses `seed + s`.
    pub seed: u64,
    /// Training settings of every run.
    pub train: TrainConfig,
    /// The training methods, in table order (absent in sweeps made before methods existed:
    /// ERM only).
    #[serde(default = "erm_only")]
    pub methods: Vec<Method>,
    /// The held-out fraction of each group (0: none; absent in sweeps made before held-out
    /// splits existed). See [`holdout_split`].
    #[serde(default)]
    pub holdout: f64,
}

fn erm_only() -> Vec<Method> {
    vec![Method::ERM]
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// The whole resolved configuration of one run: what defines it, hashed into its [`RunId`] and
/// stored in its run file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Architecture name.
    pub arch: String,
    /// Width multiplier.
    pub width: f64,
    /// The data spec, transforms included.
    pub data: String,
    /// `--minority-classes` (None: the spec's or the default rule).
    pub minority_classes: Option<Vec<u32>>,
    /// The imbalance level (None: the data set as loaded).
    pub zeta: Option<f64>,
    /// Seed index inside the sweep (0 for a single run).
    pub seed_index: u32,
    /// The seed of initialisation, subsample and batch order.
    pub seed: u64,
    /// The training configuration (its `seed` is the run's seed).
    pub train: TrainConfig,
    /// Architecture options ([`ArchConfig::options`]); empty for most runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arch_options: BTreeMap<String, String>,
    /// [`NUMERICS_VERSION`] of the majmin that trains it.
    pub numerics: u32,
    /// The training method. Left out of the stored configuration (and so of the hash) when it
    /// is ERM: an ERM run without a held-out split has the identity it had before methods
    /// existed, and old run files are read as ERM runs.
    #[serde(default, skip_serializing_if = "Method::is_erm")]
    pub method: Method,
    /// The held-out fraction of each group, taken from the data before ζ ([`holdout_split`]);
    /// left out when 0, like `method`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holdout: f64,
    /// The SHA-256 (64 hex digits) of the checkpoint the run starts from (`majmin train
    /// --init`); None for a run from the architecture's initialisation, and then left out of
    /// the stored configuration, so the identities of such runs do not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
}

impl RunConfig {
    /// The run's name: readable parts and a short hash of the whole configuration.
    pub fn id(&self) -> RunId {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let mut arch: String = self
            .arch
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if self.width != 1.0 {
            arch.push_str(&format!("-w{}", self.width).replace('.', "p"));
        }
        let zeta = match self.zeta {
            Some(z) => format!("z{z}").replace('.', "p"),
            None => "zall".into(),
        };
        let method = if self.method.is_erm() {
            String::new()
        } else {
            format!("_{}", self.method.name())
        };
        RunId(format!("{arch}{method}_{zeta}_s{}_{hash}", self.seed_index))
    }

    /// A short label such as `resnet18 ζ=0.1 seed 0` (with the method when it is not ERM:
    /// `resnet18 reweight ζ=0.1 seed 0`).
    pub fn label(&self) -> String {
        let arch = if self.method.is_erm() {
            self.arch.clone()
        } else {
            format!("{} {}", self.arch, self.method.name())
        };
        match self.zeta {
            Some(z) => format!("{arch} ζ={} seed {}", z, self.seed_index),
            None => format!("{arch} seed {}", self.seed_index),
        }
    }
}

/// The name of a run everywhere: its file names, the `run` column of curve files, figure names.
/// `<arch>[-w<width>][_<method>]_z<zeta>_s<seed index>_<hash>`, with `p` for the decimal
/// point, e.g. `resnet18-w0p125_z0p01_s0_3fa2c1d9` (ERM) or `mlp_resample+reweight_z0p1_s1_…`;
/// the hash covers the whole [`RunConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<id>.json`: the finished run.
    pub fn result_file(&self) -> String {
        format!("{}.json", self.0)
    }

    /// `<id>.claim`: a process is training it.
    pub fn claim_file(&self) -> String {
        format!("{}.claim", self.0)
    }

    /// `<id>.failed.json`: the last attempt failed.
    pub fn failure_file(&self) -> String {
        format!("{}.failed.json", self.0)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SweepPlan {
    /// Every run, architecture-major then method then ζ then seed.
    pub fn runs(&self) -> Vec<RunConfig> {
        let mut runs = Vec::new();
        for arch in &self.archs {
            for method in &self.methods {
                for &zeta in &self.zetas {
                    for seed_index in 0..self.seeds {
                        let seed = self.seed + u64::from(seed_index);
                        runs.push(RunConfig {
                            arch: arch.name.clone(),
                            width: arch.width,
                            data: self.data.clone(),
                            minority_classes: self.minority_classes.clone(),
                            zeta: Some(zeta),
                            seed_index,
                            seed,
                            train: TrainConfig {
                                seed,
                                ..arch.train_config(&self.train)
                            },
                            arch_options: arch.options.clone(),
                            numerics: NUMERICS_VERSION,
                            method: *method,
                            holdout: self.holdout,
                            init: None,
                        });
                    }
                }
            }
        }
        runs
    }

    /// The settings that every sweep sharing a folder must agree on: everything but the lists of
    /// architectures, ζ and seeds (which may grow).
    ///
    /// The methods may grow too. The held-out fraction is a setting; it is left out when 0, so
    /// a folder made before held-out splits existed matches `--holdout 0`.
    pub fn settings(&self) -> serde_json::Value {
        let mut settings = serde_json::json!({
            "data": self.data,
            "minority_classes": self.minority_classes,
            "seed": self.seed,
            "train": self.train,
            "numerics": NUMERICS_VERSION,
        });
        if self.holdout != 0.0 {
            settings["holdout"] = serde_json::json!(self.holdout);
        }
        settings
    }

    /// Checks the plan's own values (no data loaded): non-empty lists without repeated entries,
    /// ζ in (0, 1], positive widths. Each error names the option and the value.
    pub fn check(&self) -> Result<(), SweepError> {
        let plan = |option, message: String| Err(SweepError::Plan { option, message });
        if self.archs.is_empty() {
            return plan("--archs", "expected at least one architecture".into());
        }
        if self.zetas.is_empty() {
            return plan("--zetas", "expected at least one imbalance level".into());
        }
        if self.seeds == 0 || self.seeds > MAX_SEEDS {
            return plan(
                "--seeds",
                format!("{}: expected 1 to {MAX_SEEDS} (MAX_SEEDS)", self.seeds),
            );
        }
        if self.methods.is_empty() {
            return plan("--methods", "expected at least one method".into());
        }
        for (i, m) in self.methods.iter().enumerate() {
            if let Err(e) = m.validate() {
                return plan("--methods", e.to_string());
            }
            if self.methods[..i].iter().any(|o| o.name() == m.name()) {
                return plan(
                    "--methods",
                    format!("`{}` is listed twice; list each method once", m.name()),
                );
            }
        }
        check_holdout(self.holdout)?;
        let runs = self.archs.len() as u128
            * self.methods.len() as u128
            * self.zetas.len() as u128
            * u128::from(self.seeds);
        if runs > MAX_RUNS as u128 {
            return plan(
                "--seeds",
                format!(
                    "{} architectures × {} methods × {} ζ × {} seeds = {runs} runs, above the limit of {MAX_RUNS} (MAX_RUNS)",
                    self.archs.len(),
                    self.methods.len(),
                    self.zetas.len(),
                    self.seeds
                ),
            );
        }
        for &z in &self.zetas {
            if let Err(e) = majmin_core::Zeta::new(z) {
                return plan("--zetas", e.to_string());
            }
        }
        for (i, z) in self.zetas.iter().enumerate() {
            if self.zetas[..i].contains(z) {
                return plan(
                    "--zetas",
                    format!("ζ = {z} is listed twice; list each imbalance level once"),
                );
            }
        }
        for (i, a) in self.archs.iter().enumerate() {
            if !(a.width.is_finite() && a.width > 0.0 && a.width <= MAX_WIDTH) {
                return plan(
                    "--width",
                    format!(
                        "{} (of `{}`): expected a multiplier in (0, {MAX_WIDTH}] such as 1 or 0.25",
                        a.width, a.name
                    ),
                );
            }
            if self.archs[..i].contains(a) {
                return plan(
                    "--archs",
                    format!("`{}` is listed twice; list each architecture once", a.name),
                );
            }
        }
        Ok(())
    }

    /// Checks the plan, loads its data, selects the samples of every run and resolves and
    /// checks its architectures, so that bad input fails before anything is trained or
    /// written. This is where a plan is validated, once; what it selected is kept.
    ///
    /// For each seed of the plan it keeps the held-out split and the training set of every ζ
    /// as [`RunSamples`]: index lists into the loaded data set, 8 bytes an index (for a
    /// CIFAR-10 training set with 20 % held out, at most 320 kB per (ζ, seed) and 80 kB per
    /// seed, against 600 MB for one copy of its features). The runs of every architecture and
    /// method share them ([`PreparedSweep::samples_of`]), and train on views of the one loaded
    /// data set ([`Dataset::view`]), so no run selects or copies samples again.
    pub fn prepare(&self, registry: &Registry) -> Result<PreparedSweep, SweepError> {
        self.check()?;
        let data = load_data(&self.data, self.minority_classes.as_deref())?;
        let zetas: Vec<Option<f64>> = self.zetas.iter().map(|&z| Some(z)).collect();
        let samples = (0..self.seeds)
            .map(|s| {
                let seed = self.seed + u64::from(s);
                select_samples(&data, &self.data, self.holdout, &zetas, seed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut archs = Vec::new();
        for choice in &self.archs {
            let arch = registry.get(&choice.name).map_err(|e| SweepError::Plan {
                option: "--archs",
                message: e.to_string(),
            })?;
            let params = check_arch(arch.as_ref(), &data, choice)?;
            archs.push((arch, params));
        }
        Ok(PreparedSweep {
            plan: self.clone(),
            data,
            archs,
            samples,
        })
    }
}

/// A checked plan with its data set loaded, the samples of its runs selected and its
/// architectures resolved. Only [`SweepPlan::prepare`] makes one.
pub struct PreparedSweep {
    /// The plan.
    pub plan: SweepPlan,
    /// The data set as loaded (before the held-out split and ζ); every run's samples index it.
    pub data: Dataset,
    /// The architectures of `plan.archs`, in order, with their exact parameter counts.
    pub archs: Vec<(Arc<dyn Architecture>, usize)>,
    /// The samples of the runs: `samples[seed index][ζ index]` (`plan.zetas`' order).
    samples: Vec<Vec<RunSamples>>,
}

impl PreparedSweep {
    /// The architecture of a run of this plan.
    pub fn arch_of(&self, run: &RunConfig) -> Option<&Arc<dyn Architecture>> {
        self.plan
            .archs
            .iter()
            .position(|a| a.name == run.arch && a.width == run.width)
            .map(|i| &self.archs[i].0)
    }

    /// The samples of a run of this plan, as [`SweepPlan::prepare`] selected them: one lookup
    /// by (seed index, ζ); the held-out fraction, data spec, minority classes and seed must be
    /// the plan's. `None` for a run that is not the plan's.
    pub fn samples_of(&self, run: &RunConfig) -> Option<&RunSamples> {
        let plan = &self.plan;
        let seeds = self.samples.get(run.seed_index as usize)?;
        let zeta = plan.zetas.iter().position(|&z| Some(z) == run.zeta)?;
        let ours = run.data == plan.data
            && run.minority_classes == plan.minority_classes
            && run.holdout == plan.holdout
            && run.seed == plan.seed + u64::from(run.seed_index);
        ours.then(|| &seeds[zeta])
    }

    /// The indices the prepared sweep keeps, all runs together (a held-out list, shared by the
    /// ζ of its seed, counted once): the memory it holds beyond the data set is 8 bytes each.
    pub fn kept_indices(&self) -> usize {
        self.samples
            .iter()
            .map(|per_zeta| {
                let held = per_zeta
                    .first()
                    .and_then(|s| s.holdout())
                    .map_or(0, <[usize]>::len);
                held + per_zeta.iter().map(|s| s.train().len()).sum::<usize>()
            })
            .sum()
    }
}

/// The samples one run trains on and is evaluated on, as indices into the data set as loaded
/// (after `--minority-classes`): its held-out set ([`holdout_split`]) and its training set (the
/// rest, subsampled to the run's ζ as [`Dataset::with_imbalance`]), each in data order.
///
/// [`SweepPlan::prepare`] selects them for every run of a plan and keeps them; a single run
/// selects its own with [`RunSamples::of`]: both go through the same selection, so a run
/// trains on the same samples, in the same order, either way. Each list is an `Arc`, so the
/// runs of one (ζ, seed) share it, and the held-out list is shared by the ζ of one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSamples {
    train: Arc<[usize]>,
    holdout: Option<Arc<[usize]>>,
    /// The size of the data set they index.
    of_len: usize,
    /// (held-out fraction, ζ, seed): the run settings they were selected for.
    holdout_fraction: u64,
    zeta: Option<u64>,
    seed: u64,
}

impl RunSamples {
    /// The samples of `run` in `data` (the data set of `run.data` as loaded): its held-out split
    /// and its ζ subsample, selected with its seed. An error names the option and the values
    /// that do not fit the data.
    pub fn of(data: &Dataset, run: &RunConfig) -> Result<Self, SweepError> {
        let mut selected = select_samples(data, &run.data, run.holdout, &[run.zeta], run.seed)?;
        Ok(selected.remove(0))
    }

    /// The training set: increasing indices into the data set.
    pub fn train(&self) -> &[usize] {
        &self.train
    }

    /// The held-out set: increasing indices into the data set (`None` without a held-out split).
    pub fn holdout(&self) -> Option<&[usize]> {
        self.holdout.as_deref()
    }

    /// Whether these are the samples of `run` in a data set of `len` samples: the held-out
    /// fraction, ζ and seed they were selected with are the run's.
    pub fn fits(&self, run: &RunConfig, len: usize) -> bool {
        self.of_len == len
            && self.holdout_fraction == run.holdout.to_bits()
            && self.zeta == run.zeta.map(f64::to_bits)
            && self.seed == run.seed
    }

    /// The training set as a view of `data` (no feature copied).
    ///
    /// # Panics
    /// If `data` is smaller than the data set the samples were selected in.
    pub fn train_set(&self, data: &Dataset) -> Dataset {
        data.view(&self.train)
    }

    /// The held-out set as a view of `data` (no feature copied).
    ///
    /// # Panics
    /// If `data` is smaller than the data set the samples were selected in.
    pub fn holdout_set(&self, data: &Dataset) -> Option<Dataset> {
        self.holdout.as_deref().map(|h| data.view(h))
    }
}

#[cfg(test)]
thread_local! {
    /// How many times this thread selected samples ([`select_samples`]); a test proves with it
    /// that a prepared sweep's runs select nothing again.
    pub(crate) static SELECTIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The one selection of run samples: the held-out split of `data` with `seed`, then the
/// training set of each of `zetas` from the rest (None: the rest as it is), in `zetas`' order.
fn select_samples(
    data: &Dataset,
    spec: &str,
    holdout: f64,
    zetas: &[Option<f64>],
    seed: u64,
) -> Result<Vec<RunSamples>, SweepError> {
    #[cfg(test)]
    SELECTIONS.with(|n| n.set(n.get() + 1));
    let (pool, held) = holdout_indices(data, spec, holdout, seed)?;
    let held: Option<Arc<[usize]>> = held.map(Arc::from);
    // the pool's labels and groups (its features are not read)
    let pool_data = held.is_some().then(|| data.view(&pool));
    let pool_data = pool_data.as_ref().unwrap_or(data);
    zetas
        .iter()
        .map(|zeta| {
            let train: Vec<usize> = match zeta {
                Some(z) => pool_data
                    .imbalance_indices(*z, seed)
                    .map_err(|e| SweepError::Data {
                        spec: spec.to_string(),
                        message: e.to_string(),
                    })?
                    .into_iter()
                    .map(|j| pool[j])
                    .collect(),
                None => pool.clone(),
            };
            Ok(RunSamples {
                train: train.into(),
                holdout: held.clone(),
                of_len: data.len(),
                holdout_fraction: holdout.to_bits(),
                zeta: zeta.map(f64::to_bits),
                seed,
            })
        })
        .collect()
}

/// The held-out fraction's rule, one place for the plan and a single run: in [0, MAX_HOLDOUT].
fn check_holdout(fraction: f64) -> Result<(), SweepError> {
    if fraction.is_finite() && (0.0..=MAX_HOLDOUT).contains(&fraction) {
        Ok(())
    } else {
        Err(SweepError::Plan {
            option: "--holdout",
            message: format!(
                "{fraction}: expected a fraction in [0, {MAX_HOLDOUT}] such as 0.2 (0: no held-out split)"
            ),
        })
    }
}

/// Loads a data spec and applies `minority_classes`.
pub fn load_data(spec: &str, minority_classes: Option<&[u32]>) -> Result<Dataset, SweepError> {
    let data = majmin_data::load(spec).map_err(|e| SweepError::Data {
        spec: spec.to_string(),
        message: e.to_string(),
    })?;
    match minority_classes {
        Some(classes) => data
            .with_group_rule(&GroupRule::MinorityClasses(classes.to_vec()))
            .map_err(|e| SweepError::Plan {
                option: "--minority-classes",
                message: e.to_string(),
            }),
        None => Ok(data),
    }
}

/// Checks that `arch` builds for `data` as `choice` says (width, options); returns the exact
/// parameter count.
pub fn check_arch(
    arch: &dyn Architecture,
    data: &Dataset,
    choice: &ArchChoice,
) -> Result<usize, SweepError> {
    let config = choice.arch_config(data.shape(), data.classes());
    arch.param_count(&config).map_err(|e| SweepError::Arch {
        arch: arch.name().to_string(),
        message: format!("on this data: {e}"),
    })
}

/// Splits `data` into a training pool and a held-out set of `fraction` of each group, before ζ:
/// in each group, `round(fraction · n_g)` samples, stratified by class inside the group (as
/// [`Dataset::with_imbalance`]) and chosen with `seed`; both parts keep the data order. With
/// `fraction = 0` the pool is `data` itself and there is no held-out set. Both parts are views
/// of `data` ([`Dataset::view`]); a run's parts are in its [`RunSamples`].
///
/// Held out from the source, the held-out set has both groups in the source's proportions
/// (balanced for the default groups of digits), so its minority accuracy is measured on many
/// samples even at ζ = 1 %. The class counts of each group in the pool do not depend on the
/// seed, so a ζ that fits the pool of one seed fits the pool of every seed.
pub fn holdout_split(
    data: &Dataset,
    spec: &str,
    fraction: f64,
    seed: u64,
) -> Result<(Dataset, Option<Dataset>), SweepError> {
    let (pool, held) = holdout_indices(data, spec, fraction, seed)?;
    match held {
        None => Ok((data.clone(), None)),
        Some(held) => Ok((data.view(&pool), Some(data.view(&held)))),
    }
}

/// [`holdout_split`] as increasing indices into `data`: the pool and the held-out set.
fn holdout_indices(
    data: &Dataset,
    spec: &str,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Option<Vec<usize>>), SweepError> {
    check_holdout(fraction)?;
    if fraction == 0.0 {
        return Ok(((0..data.len()).collect(), None));
    }
    let bad = |message: String| SweepError::Plan {
        option: "--holdout",
        message,
    };
    // a stream of its own, so the held-out draw does not repeat the ζ subsample's choices
    let mut rng = Rng::for_stream(seed, 0x0048_4f4c_444f_5554); // "HOLDOUT"
    let mut held = vec![false; data.len()];
    for group in [Group::Majority, Group::Minority] {
        let members = data.indices_of(group);
        let take = (fraction * members.len() as f64).round() as usize;
        if take == 0 || take == members.len() {
            return Err(bad(format!(
                "{fraction} of the {} {group} samples of `{spec}` is {take} sample(s); expected at least one held out and one left for training: choose another fraction, or 0 for no held-out split",
                members.len()
            )));
        }
        let counts = data.class_counts_in(group);
        let quotas = stratified_quotas(&counts, take);
        for (class, &quota) in quotas.iter().enumerate() {
            if quota == 0 {
                continue;
            }
            let cell: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| data.labels()[i] as usize == class)
                .collect();
            for j in rng.sample_indices(cell.len(), quota) {
                held[cell[j]] = true;
            }
        }
    }
    let pool: Vec<usize> = (0..data.len()).filter(|&i| !held[i]).collect();
    let out: Vec<usize> = (0..data.len()).filter(|&i| held[i]).collect();
    Ok((pool, Some(out)))
}

/// The imbalanced training set of a run.
pub fn imbalanced(data: &Dataset, spec: &str, zeta: f64, seed: u64) -> Result<Dataset, SweepError> {
    data.with_imbalance(zeta, seed)
        .map_err(|e| SweepError::Data {
            spec: spec.to_string(),
            message: e.to_string(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tiny_plan() -> SweepPlan {
        SweepPlan {
            archs: vec![ArchChoice::new("mlp", 0.125)],
            data: "digits".into(),
            minority_classes: None,
            zetas: vec![0.1, 0.3],
            seeds: 2,
            seed: 0,
            train: TrainConfig::default(),
            methods: vec![Method::ERM],
            holdout: 0.0,
        }
    }

    #[test]
    fn run_ids_are_readable_distinct_and_change_with_any_setting() {
        let plan = tiny_plan();
        let runs = plan.runs();
        assert_eq!(runs.len(), 4);
        let ids: Vec<String> = runs.iter().map(|r| r.id().to_string()).collect();
        assert!(ids[0].starts_with("mlp-w0p125_z0p1_s0_"), "{}", ids[0]);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        let mut other = plan.clone();
        other.train.lr = 0.2;
        assert_ne!(other.runs()[0].id(), runs[0].id());
        assert_eq!(plan.runs()[0].id(), runs[0].id());
        assert_eq!(runs[1].train.seed, 1);
    }

    /// The JSON of a run configuration as majmin wrote it before methods and held-out splits
    /// existed (commit 587c284): an ERM run without a held-out split must keep that identity.
    #[test]
    fn erm_without_holdout_keeps_the_identity_it_had_before_methods() {
        let run = tiny_plan().runs().remove(0);
        let before = r#"{"arch":"mlp","width":0.125,"data":"digits","minority_classes":null,"zeta":0.1,"seed_index":0,"seed":0,"train":{"optimizer":"sgd","lr":0.05,"sgd":{"momentum":0.9,"weight_decay":0.0005},"batch_size":64,"budget":{"epochs":10.0},"schedule":{"kind":"constant"},"eval":{"log-spaced":40},"zone":false,"eval_batch_size":512,"seed":0},"numerics":2}"#;
        assert_eq!(serde_json::to_string(&run).unwrap(), before);
        let old: RunConfig = serde_json::from_str(before).unwrap();
        assert_eq!(old, run);
        assert!(old.method.is_erm() && old.holdout == 0.0);
        assert!(run.id().as_str().starts_with("mlp-w0p125_z0p1_s0_"));
        // a method or a held-out split is part of the identity, and the method is in the name
        let mut other = run.clone();
        other.method = "resample+reweight".parse().unwrap();
        assert!(
            other
                .id()
                .as_str()
                .starts_with("mlp-w0p125_resample+reweight_z0p1_s0_"),
            "{}",
            other.id()
        );
        assert_ne!(other.id(), run.id());
        let mut dro = other.clone();
        dro.method = "group-dro".parse().unwrap();
        let mut dro2 = dro.clone();
        dro2.method.rule = majmin_flow::train::StepRule::GroupDro {
            eta: 0.1,
            adjustment: 0.0,
        };
        assert_ne!(dro.id(), dro2.id(), "parameters are part of the identity");
        let mut held = run.clone();
        held.holdout = 0.2;
        assert_ne!(held.id(), run.id());
        assert_eq!(held.label(), run.label());
    }

    /// The checkpoint a run starts from is part of its identity; without one the stored
    /// configuration (and so the id) is the one above.
    #[test]
    fn initial_checkpoint_is_part_of_the_identity() {
        let run = tiny_plan().runs().remove(0);
        assert!(!serde_json::to_string(&run).unwrap().contains("init"));
        let mut a = run.clone();
        a.init = Some("ab".repeat(32));
        let mut b = run.clone();
        b.init = Some("cd".repeat(32));
        assert_ne!(a.id(), run.id());
        assert_ne!(a.id(), b.id());
        let back: RunConfig = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn methods_multiply_the_runs_and_are_checked() {
        let mut plan = tiny_plan();
        plan.methods = vec![Method::ERM, "jtt".parse().unwrap()];
        let runs = plan.runs();
        assert_eq!(runs.len(), 8);
        assert!(runs[..4].iter().all(|r| r.method.is_erm()));
        assert!(runs[4..].iter().all(|r| r.method.name() == "jtt"));
        plan.methods.push("jtt".parse().unwrap());
        let e = plan.check().unwrap_err().to_string();
        assert!(e.starts_with("--methods") && e.contains("twice"), "{e}");
        plan.methods.clear();
        assert!(plan
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("--methods"));
        let mut plan = tiny_plan();
        plan.holdout = 0.7;
        let e = plan.check().unwrap_err().to_string();
        assert!(e.starts_with("--holdout") && e.contains("0.7"), "{e}");
    }

    #[test]
    fn the_held_out_split_is_stratified_by_group_and_seeded() {
        let data = majmin_data::load_digits().unwrap();
        let sizes = data.group_sizes();
        let (pool, held) = holdout_split(&data, "digits", 0.2, 3).unwrap();
        let held = held.unwrap();
        let h = held.group_sizes();
        let round = |n: usize| (0.2 * n as f64).round() as usize;
        assert_eq!(h.majority, round(sizes.majority));
        assert_eq!(h.minority, round(sizes.minority));
        assert_eq!(pool.len() + held.len(), data.len());
        // inside each group, classes in proportion (within one sample)
        let counts = data.class_counts();
        for (class, &c) in held.class_counts().iter().enumerate() {
            assert!(
                (c as f64 - 0.2 * counts[class] as f64).abs() <= 1.0,
                "{class}: {c}"
            );
        }
        // seeded and disjoint
        let (pool2, _) = holdout_split(&data, "digits", 0.2, 3).unwrap();
        assert_eq!(pool, pool2);
        let (pool3, _) = holdout_split(&data, "digits", 0.2, 4).unwrap();
        assert_ne!(pool, pool3);
        let (all, none) = holdout_split(&data, "digits", 0.0, 3).unwrap();
        assert!(none.is_none() && all == data);
        let tiny = data.subset(&[0, 1, 2, 5, 6]);
        let e = holdout_split(&tiny, "digits", 0.2, 0)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--holdout") && e.contains("sample(s)"), "{e}");
    }

    /// The prepared sweep's samples are, sample for sample and in order, the copies the
    /// one-off path makes (the held-out split, then ζ on a compact copy of the pool), for every
    /// run; every run of one (ζ, seed) shares one list, and runs outside the plan have none.
    #[test]
    fn prepared_samples_are_the_one_off_selection() {
        let mut plan = tiny_plan();
        plan.holdout = 0.2;
        plan.seed = 5;
        plan.methods = vec![Method::ERM, "jtt".parse().unwrap()];
        let prepared = plan.prepare(&Registry::builtin()).unwrap();
        let data = &prepared.data;
        for run in plan.runs() {
            let kept = prepared
                .samples_of(&run)
                .expect("a run of the plan has samples");
            assert_eq!(kept, &RunSamples::of(data, &run).unwrap());
            let (pool, held) = holdout_split(data, "digits", 0.2, run.seed).unwrap();
            // today's copies: a compact pool, and the ζ subsample copied out of it
            let pool = pool.subset(&(0..pool.len()).collect::<Vec<_>>());
            assert!(!pool.shares_features_with(data));
            let copy = pool.with_imbalance(run.zeta.unwrap(), run.seed).unwrap();
            let train = kept.train_set(data);
            assert_eq!(train, copy);
            assert_eq!(train.features(), copy.features());
            assert_eq!(kept.holdout_set(data), held);
            assert!(train.shares_features_with(data));
            assert!(kept.fits(&run, data.len()));
        }
        // one list per (ζ, seed): the ERM and JTT runs share it
        let runs = plan.runs();
        let (erm, jtt) = (&runs[0], &runs[4]);
        assert_eq!((erm.zeta, erm.seed_index), (jtt.zeta, jtt.seed_index));
        assert!(std::ptr::eq(
            prepared.samples_of(erm).unwrap(),
            prepared.samples_of(jtt).unwrap()
        ));
        // seeds and ζ select different samples
        assert_ne!(
            prepared.samples_of(&runs[0]).unwrap().train(),
            prepared.samples_of(&runs[1]).unwrap().train()
        );
        // runs that are not the plan's have none
        let mut other = runs[0].clone();
        other.seed += 1;
        assert!(prepared.samples_of(&other).is_none());
        let mut other = runs[0].clone();
        other.holdout = 0.1;
        assert!(prepared.samples_of(&other).is_none());
        let mut other = runs[0].clone();
        other.zeta = Some(0.2);
        assert!(prepared.samples_of(&other).is_none());
        other.zeta = None;
        assert!(prepared.samples_of(&other).is_none());
    }

    /// What a prepared sweep keeps beyond its data set is index lists, 8 bytes an index, one
    /// training list per (ζ, seed) and one held-out list per seed; no copy of the features.
    #[test]
    fn the_prepared_sweep_keeps_index_lists() {
        let mut plan = tiny_plan();
        plan.holdout = 0.2;
        plan.seeds = 3;
        let prepared = plan.prepare(&Registry::builtin()).unwrap();
        let data = &prepared.data;
        let sizes = data.group_sizes();
        let held = (0.2 * sizes.majority as f64).round() as usize
            + (0.2 * sizes.minority as f64).round() as usize;
        let majority = sizes.majority - (0.2 * sizes.majority as f64).round() as usize;
        let train: usize = plan
            .zetas
            .iter()
            .map(|z| majority + (z * majority as f64).round() as usize)
            .sum();
        assert_eq!(prepared.kept_indices(), 3 * (held + train));
        let run = &plan.runs()[0];
        let samples = prepared.samples_of(run).unwrap();
        let list: &[usize] = samples.train();
        assert_eq!(std::mem::size_of_val(list), 8 * list.len());
        assert_eq!(samples.holdout().unwrap().len(), held);
        let kept_bytes = 8 * prepared.kept_indices();
        let one_copy = 4 * data.feature_len() * data.len();
        assert!(kept_bytes < one_copy, "{kept_bytes} ≥ {one_copy}");
    }

    /// A ζ or a held-out fraction the data cannot give fails at prepare, naming the option.
    #[test]
    fn prepare_refuses_what_the_data_cannot_give() {
        let mut plan = tiny_plan();
        plan.zetas = vec![0.1, 1.0];
        plan.minority_classes = Some(vec![9]);
        let e = plan
            .prepare(&Registry::builtin())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("--data digits") && e.contains("zeta = 1 "),
            "{e}"
        );
        let data = load_data("digits", None).unwrap();
        let e = holdout_split(&data, "digits", 0.7, 0)
            .unwrap_err()
            .to_string();
        let mut plan = tiny_plan();
        plan.holdout = 0.7;
        assert_eq!(e, plan.check().unwrap_err().to_string());
    }

    #[test]
    fn repeated_entries_are_refused_naming_the_option() {
        let mut plan = tiny_plan();
        plan.zetas = vec![0.1, 0.1];
        let e = plan.check().unwrap_err().to_string();
        assert!(e.starts_with("--zetas") && e.contains("twice"), "{e}");
        let mut plan = tiny_plan();
        plan.archs.push(plan.archs[0].clone());
        let e = plan.check().unwrap_err().to_string();
        assert!(
            e.starts_with("--archs") && e.contains("`mlp` is listed twice"),
            "{e}"
        );
    }
}
