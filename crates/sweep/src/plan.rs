//! What a sweep runs: the [`SweepPlan`] (architectures × ζ × seeds with one training
//! configuration), the [`RunConfig`] of each run and its name, the [`RunId`].

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
        if !(self.holdout.is_finite() && (0.0..=MAX_HOLDOUT).contains(&self.holdout)) {
            return plan(
                "--holdout",
                format!(
                    "{}: expected a fraction in [0, {MAX_HOLDOUT}] such as 0.2 (0: no held-out split)",
                    self.holdout
                ),
            );
        }
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

    /// Checks the plan, loads its data, resolves and checks its architectures and every ζ, so
    /// that bad input fails before anything is trained or written.
    pub fn prepare(&self, registry: &Registry) -> Result<PreparedSweep, SweepError> {
        self.check()?;
        let data = load_data(&self.data, self.minority_classes.as_deref())?;
        let (pool, _) = holdout_split(&data, &self.data, self.holdout, self.seed)?;
        for &z in &self.zetas {
            imbalanced(&pool, &self.data, z, self.seed)?;
        }
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
        })
    }
}

/// A checked plan with its data set loaded and its architectures resolved.
pub struct PreparedSweep {
    /// The plan.
    pub plan: SweepPlan,
    /// The data set as loaded (before ζ).
    pub data: Dataset,
    /// The architectures of `plan.archs`, in order, with their exact parameter counts.
    pub archs: Vec<(Arc<dyn Architecture>, usize)>,
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
/// `fraction = 0` the pool is `data` itself and there is no held-out set.
///
/// Held out from the source, the held-out set has both groups in the source's proportions
/// (balanced for the default groups of digits), so its minority accuracy is measured on many
/// samples even at ζ = 1 %.
pub fn holdout_split(
    data: &Dataset,
    spec: &str,
    fraction: f64,
    seed: u64,
) -> Result<(Dataset, Option<Dataset>), SweepError> {
    if fraction == 0.0 {
        return Ok((data.clone(), None));
    }
    let bad = |message: String| SweepError::Plan {
        option: "--holdout",
        message,
    };
    if !(fraction.is_finite() && fraction > 0.0 && fraction <= MAX_HOLDOUT) {
        return Err(bad(format!(
            "{fraction}: expected a fraction in [0, {MAX_HOLDOUT}] such as 0.2"
        )));
    }
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
    Ok((data.subset(&pool), Some(data.subset(&out))))
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
