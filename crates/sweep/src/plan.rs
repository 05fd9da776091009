//! What a sweep runs: the [`SweepPlan`] (architectures × ζ × seeds with one training
//! configuration), the [`RunConfig`] of each run and its name, the [`RunId`].

use std::fmt;
use std::sync::Arc;

use majmin_core::{ArchConfig, Architecture, Dataset, GroupRule};
use majmin_flow::train::TrainConfig;
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

/// An architecture in a sweep with its width multiplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchChoice {
    /// Registry name.
    pub name: String,
    /// Width multiplier.
    pub width: f64,
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
    /// [`NUMERICS_VERSION`] of the majmin that trains it.
    pub numerics: u32,
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
        RunId(format!("{arch}_{zeta}_s{}_{hash}", self.seed_index))
    }

    /// A short label such as `resnet18 ζ=0.1 seed 0`.
    pub fn label(&self) -> String {
        match self.zeta {
            Some(z) => format!("{} ζ={} seed {}", self.arch, z, self.seed_index),
            None => format!("{} seed {}", self.arch, self.seed_index),
        }
    }
}

/// The name of a run everywhere: its file names, the `run` column of curve files, figure names.
/// `<arch>[-w<width>]_z<zeta>_s<seed index>_<hash>`, with `p` for the decimal point, e.g.
/// `resnet18-w0p125_z0p01_s0_3fa2c1d9`; the hash covers the whole [`RunConfig`].
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
    /// Every run, architecture-major then ζ then seed.
    pub fn runs(&self) -> Vec<RunConfig> {
        let mut runs = Vec::new();
        for arch in &self.archs {
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
                            ..self.train.clone()
                        },
                        numerics: NUMERICS_VERSION,
                    });
                }
            }
        }
        runs
    }

    /// The settings that every sweep sharing a folder must agree on: everything but the lists of
    /// architectures, ζ and seeds (which may grow).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "data": self.data,
            "minority_classes": self.minority_classes,
            "seed": self.seed,
            "train": self.train,
            "numerics": NUMERICS_VERSION,
        })
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
        let runs = self.archs.len() as u128 * self.zetas.len() as u128 * u128::from(self.seeds);
        if runs > MAX_RUNS as u128 {
            return plan(
                "--seeds",
                format!(
                    "{} architectures × {} ζ × {} seeds = {runs} runs, above the limit of {MAX_RUNS} (MAX_RUNS)",
                    self.archs.len(),
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
        for &z in &self.zetas {
            imbalanced(&data, &self.data, z, self.seed)?;
        }
        let mut archs = Vec::new();
        for choice in &self.archs {
            let arch = registry.get(&choice.name).map_err(|e| SweepError::Plan {
                option: "--archs",
                message: e.to_string(),
            })?;
            let params = check_arch(arch.as_ref(), &data, choice.width)?;
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

/// Checks that `arch` builds for `data` at `width`; returns the exact parameter count.
pub fn check_arch(
    arch: &dyn Architecture,
    data: &Dataset,
    width: f64,
) -> Result<usize, SweepError> {
    let config = ArchConfig::new(data.shape(), data.classes()).with_width(width);
    arch.param_count(&config).map_err(|e| SweepError::Arch {
        arch: arch.name().to_string(),
        message: format!("on this data: {e}"),
    })
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
mod tests {
    use super::*;

    pub(crate) fn tiny_plan() -> SweepPlan {
        SweepPlan {
            archs: vec![ArchChoice {
                name: "mlp".into(),
                width: 0.125,
            }],
            data: "digits".into(),
            minority_classes: None,
            zetas: vec![0.1, 0.3],
            seeds: 2,
            seed: 0,
            train: TrainConfig::default(),
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
