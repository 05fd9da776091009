//! The synthetic Gaussian two-group mixture.
//!
//! Generative model: class k ∈ {0, …, K−1} has mean μ_k = sep · (k − (K−1)/2) · e₁ — the means
//! lie on the first axis, `sep` apart and centred at the origin (for K = 2: ±sep/2 · e₁) — and
//! covariance std² · I in dimension d. Groups follow the default rule: the lower ⌈K/2⌉ classes are
//! the majority, the rest the minority. Of the n samples, n1 = round(n / (1 + ζ)) are majority and
//! n0 = n − n1 minority, so that n0 / n1 ≈ ζ; inside each group the classes get equal shares (the
//! lower classes take the remainder). Samples are ordered by class. All draws come from
//! [`majmin_core::Rng`] seeded with `seed`, so a spec string fixes the data exactly.

use majmin_core::{Dataset, Rng};

use crate::error::{LoadError, SizeExcess};
use crate::limits::{MAX_CLASSES, MAX_DATASET_VALUES};

/// Parameters of the Gaussian mixture (spec options `d`, `n`, `sep`, `classes`, `zeta`, `std`,
/// `seed`).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianConfig {
    /// Dimension d (`d=`, default 2); the sample shape is `[1, 1, d]`.
    pub dim: usize,
    /// Total samples n (`n=`, default 1000).
    pub n: usize,
    /// Distance between neighbouring class means (`sep=`, default 2.0).
    pub sep: f64,
    /// Class count K ≥ 2 (`classes=`, default 2).
    pub classes: usize,
    /// Imbalance level ζ = n0 / n1 ∈ (0, 1] (`zeta=`, default 1.0).
    pub zeta: f64,
    /// Standard deviation of every coordinate (`std=`, default 1.0).
    pub std: f64,
    /// Seed (`seed=`, default 0).
    pub seed: u64,
}

impl Default for GaussianConfig {
    fn default() -> Self {
        Self {
            dim: 2,
            n: 1000,
            sep: 2.0,
            classes: 2,
            zeta: 1.0,
            std: 1.0,
            seed: 0,
        }
    }
}

impl GaussianConfig {
    /// The mean of class `k`.
    pub fn class_mean(&self, k: usize) -> Vec<f64> {
        let mut mean = vec![0.0; self.dim];
        mean[0] = self.sep * (k as f64 - (self.classes as f64 - 1.0) / 2.0);
        mean
    }

    /// Samples per class.
    pub fn class_sizes(&self) -> Vec<usize> {
        let majority_classes = self.classes.div_ceil(2);
        let n1 = (self.n as f64 / (1.0 + self.zeta)).round() as usize;
        let n0 = self.n - n1;
        let share = |total: usize, classes: usize, j: usize| {
            total / classes + usize::from(j < total % classes)
        };
        (0..self.classes)
            .map(|k| {
                if k < majority_classes {
                    share(n1, majority_classes, k)
                } else {
                    share(n0, self.classes - majority_classes, k - majority_classes)
                }
            })
            .collect()
    }
}

/// Draws the mixture described by `config` (see the [module docs](self)).
///
/// # Errors
/// [`LoadError::TooLarge`] when `n · d` exceeds [`MAX_DATASET_VALUES`] or the class count
/// exceeds [`MAX_CLASSES`] (checked before allocating); [`LoadError::Dataset`] for values out of
/// range or a class left empty.
pub fn generate_gaussian(config: &GaussianConfig) -> Result<Dataset, LoadError> {
    let invalid = |message: String| LoadError::Dataset {
        context: "gaussian".into(),
        source: majmin_core::DataError::Invalid(message),
    };
    if config.dim == 0 || config.classes < 2 {
        return Err(invalid(format!(
            "expected d ≥ 1 and classes ≥ 2, found d = {} and classes = {}",
            config.dim, config.classes
        )));
    }
    if !(config.sep >= 0.0 && config.sep.is_finite() && config.std > 0.0 && config.std.is_finite())
    {
        return Err(invalid(format!(
            "expected sep ≥ 0 and std > 0, found sep = {} and std = {}",
            config.sep, config.std
        )));
    }
    // |mean| + 16 σ bounds every draw (a normal draw from `Rng` stays below 9 σ): it must fit f32
    let largest = config.sep * (config.classes as f64 - 1.0) / 2.0 + 16.0 * config.std;
    if largest.is_nan() || largest >= f64::from(f32::MAX) {
        return Err(invalid(format!(
            "sep = {} and std = {} with {} classes make values up to about {largest:e}, beyond f32 (about 3.4e38)",
            config.sep, config.std, config.classes
        )));
    }
    if majmin_core::Zeta::new(config.zeta).is_err() {
        return Err(invalid(format!(
            "expected zeta in (0, 1], found {}",
            config.zeta
        )));
    }
    if config.classes > MAX_CLASSES {
        return Err(LoadError::TooLarge {
            context: "gaussian".into(),
            size: SizeExcess::new(
                "the class count",
                config.classes as u128,
                MAX_CLASSES as u128,
                "classes",
                "MAX_CLASSES",
            ),
        });
    }
    let values = config.n as u128 * config.dim as u128;
    if values > u128::from(MAX_DATASET_VALUES) {
        return Err(LoadError::TooLarge {
            context: "gaussian".into(),
            size: SizeExcess::new(
                format!(
                    "n = {} samples of dimension d = {} hold n · d values",
                    config.n, config.dim
                ),
                values,
                u128::from(MAX_DATASET_VALUES),
                "values",
                "MAX_DATASET_VALUES",
            ),
        });
    }
    let sizes = config.class_sizes();
    if let Some(k) = sizes.iter().position(|&s| s == 0) {
        return Err(invalid(format!(
            "n = {} with zeta = {} leaves class {k} empty ({:?} samples per class); increase n",
            config.n, config.zeta, sizes
        )));
    }
    let mut rng = Rng::seed_from_u64(config.seed);
    let mut features = Vec::with_capacity(config.n * config.dim);
    let mut labels = Vec::with_capacity(config.n);
    for (k, &size) in sizes.iter().enumerate() {
        let mean = config.class_mean(k);
        for _ in 0..size {
            features.extend(mean.iter().map(|m| (m + config.std * rng.normal()) as f32));
            labels.push(k as u32);
        }
    }
    Dataset::new(
        "gaussian",
        [1, 1, config.dim],
        features,
        labels,
        config.classes,
    )
    .map_err(|source| LoadError::Dataset {
        context: "gaussian".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_zeta_and_classes() {
        let ds = generate_gaussian(&GaussianConfig {
            n: 1100,
            zeta: 0.1,
            ..Default::default()
        })
        .unwrap();
        let s = ds.group_sizes();
        assert_eq!((s.majority, s.minority), (1000, 100));
        assert_eq!(ds.shape(), [1, 1, 2]);
        let cfg = GaussianConfig {
            n: 10,
            classes: 5,
            ..Default::default()
        };
        // n1 = 5 over classes 0..3 (2, 2, 1), n0 = 5 over classes 3, 4 (3, 2)
        assert_eq!(cfg.class_sizes(), vec![2, 2, 1, 3, 2]);
    }

    #[test]
    fn class_means_and_spread_match_the_model() {
        let cfg = GaussianConfig {
            n: 20_000,
            dim: 3,
            sep: 4.0,
            std: 0.5,
            seed: 11,
            ..Default::default()
        };
        assert_eq!(cfg.class_mean(0), vec![-2.0, 0.0, 0.0]);
        assert_eq!(cfg.class_mean(1), vec![2.0, 0.0, 0.0]);
        let ds = generate_gaussian(&cfg).unwrap();
        for k in 0..2u32 {
            let rows: Vec<&[f32]> = (0..ds.len())
                .filter(|&i| ds.labels()[i] == k)
                .map(|i| ds.sample(i))
                .collect();
            for (axis, want) in cfg.class_mean(k as usize).iter().enumerate() {
                let mean = rows.iter().map(|r| f64::from(r[axis])).sum::<f64>() / rows.len() as f64;
                let var = rows
                    .iter()
                    .map(|r| (f64::from(r[axis]) - mean).powi(2))
                    .sum::<f64>()
                    / rows.len() as f64;
                assert!((mean - want).abs() < 0.02, "class {k} axis {axis}: {mean}");
                assert!(
                    (var.sqrt() - 0.5).abs() < 0.02,
                    "class {k} axis {axis}: std {}",
                    var.sqrt()
                );
            }
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = generate_gaussian(&GaussianConfig::default()).unwrap();
        let b = generate_gaussian(&GaussianConfig::default()).unwrap();
        let c = generate_gaussian(&GaussianConfig {
            seed: 1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a, b);
        assert_ne!(a.features(), c.features());
    }

    #[test]
    fn values_beyond_f32_are_an_error() {
        let err = generate_gaussian(&GaussianConfig {
            sep: 1e308,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("beyond f32"), "{err}");
    }

    #[test]
    fn too_few_samples_is_an_error() {
        let err = generate_gaussian(&GaussianConfig {
            n: 3,
            classes: 4,
            zeta: 0.1,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("leaves class"), "{err}");
    }
}
