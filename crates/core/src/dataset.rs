//! Grouped data sets and the imbalance level ζ (docs/definitions.md, docs/data.md).
//!
//! A [`Dataset`] holds `n` samples, each with features (`f32`, shape C×H×W, flattened), a label
//! and a [`Group`]. File formats live in `majmin-data`; this module owns the definitions:
//! group rules, group sizes, ζ = n0 / n1 and [`Dataset::with_imbalance`].

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::Rng;

/// The binary group variable `a`: majority (`a = 1`) or minority (`a = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// `a = 0`.
    Minority,
    /// `a = 1`.
    Majority,
}

impl Group {
    /// The value of `a`: 1 for the majority, 0 for the minority.
    pub fn a(self) -> u8 {
        match self {
            Group::Minority => 0,
            Group::Majority => 1,
        }
    }

    /// The group from `a` (0 or 1).
    pub fn from_a(a: u8) -> Option<Group> {
        match a {
            0 => Some(Group::Minority),
            1 => Some(Group::Majority),
            _ => None,
        }
    }

    /// "majority" or "minority".
    pub fn name(self) -> &'static str {
        match self {
            Group::Minority => "minority",
            Group::Majority => "majority",
        }
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How samples are assigned to groups.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum GroupRule {
    /// The upper half of the classes (labels ≥ ⌈classes / 2⌉) form the minority (the default).
    #[default]
    UpperHalf,
    /// These classes form the minority; all others the majority.
    MinorityClasses(Vec<u32>),
    /// One group per sample, given explicitly (e.g. a CSV group column).
    Explicit(Vec<Group>),
}

impl GroupRule {
    /// The minority classes of the rule for `classes` classes (`None` for an explicit rule).
    pub fn minority_classes(&self, classes: usize) -> Option<Vec<u32>> {
        match self {
            GroupRule::UpperHalf => Some(((classes as u32).div_ceil(2)..classes as u32).collect()),
            GroupRule::MinorityClasses(c) => Some(c.clone()),
            GroupRule::Explicit(_) => None,
        }
    }
}

/// The sizes of the two groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSizes {
    /// n1.
    pub majority: usize,
    /// n0.
    pub minority: usize,
}

impl GroupSizes {
    /// n = n0 + n1.
    pub fn total(&self) -> usize {
        self.majority + self.minority
    }

    /// ζ = n0 / n1 (`None` when the majority is empty).
    pub fn zeta(&self) -> Option<f64> {
        (self.majority > 0).then(|| self.minority as f64 / self.majority as f64)
    }

    /// The size of one group.
    pub fn of(&self, group: Group) -> usize {
        match group {
            Group::Majority => self.majority,
            Group::Minority => self.minority,
        }
    }
}

/// Samples with features, labels and groups.
///
/// The features live in shared storage: cloning a data set, or taking a [`Dataset::view`] of
/// some of its samples, copies no feature (a CIFAR-10 training set is 50,000 × 3,072 `f32`,
/// 600 MB). A view keeps its own labels, groups and the index of each sample in the storage
/// (13 bytes a sample) and reads features through that index; [`Dataset::subset`] makes a
/// compact copy instead. Equality compares the samples, not how they are stored.
#[derive(Debug, Clone)]
pub struct Dataset {
    name: String,
    shape: [usize; 3],
    /// Sample-major features, shared with clones and views.
    storage: Arc<Vec<f32>>,
    /// A view's samples: the storage sample of each sample (None: the storage in order).
    rows: Option<Vec<usize>>,
    /// A view's features gathered contiguously, made by the first [`Dataset::features`] call.
    gathered: OnceLock<Vec<f32>>,
    labels: Vec<u32>,
    groups: Vec<Group>,
    classes: usize,
}

impl PartialEq for Dataset {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.shape == other.shape
            && self.classes == other.classes
            && self.labels == other.labels
            && self.groups == other.groups
            && (0..self.len()).all(|i| self.sample(i) == other.sample(i))
    }
}

impl Dataset {
    /// A data set with groups from the default rule ([`GroupRule::UpperHalf`]).
    ///
    /// `features` holds `labels.len()` samples of `shape = [C, H, W]` values each, sample-major.
    pub fn new(
        name: impl Into<String>,
        shape: [usize; 3],
        features: Vec<f32>,
        labels: Vec<u32>,
        classes: usize,
    ) -> Result<Self, DataError> {
        let name = name.into();
        let per = shape.iter().product::<usize>();
        if per == 0 {
            return Err(DataError::Invalid(format!(
                "data set `{name}`: sample shape {shape:?} has a zero side"
            )));
        }
        if features.len() != labels.len() * per {
            return Err(DataError::LengthMismatch {
                name,
                what: "features",
                expected: labels.len() * per,
                got: features.len(),
            });
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= classes)
        {
            return Err(DataError::LabelOutOfRange {
                name,
                index,
                label,
                classes,
            });
        }
        let n = labels.len();
        let ds = Self {
            name,
            shape,
            storage: Arc::new(features),
            rows: None,
            gathered: OnceLock::new(),
            labels,
            groups: vec![Group::Majority; n],
            classes,
        };
        ds.with_group_rule(&GroupRule::UpperHalf)
    }

    /// The same samples with groups assigned by `rule`.
    pub fn with_group_rule(mut self, rule: &GroupRule) -> Result<Self, DataError> {
        match rule {
            GroupRule::Explicit(groups) => {
                if groups.len() != self.len() {
                    return Err(DataError::LengthMismatch {
                        name: self.name,
                        what: "groups",
                        expected: self.labels.len(),
                        got: groups.len(),
                    });
                }
                self.groups = groups.clone();
            }
            _ => {
                let minority = rule.minority_classes(self.classes).unwrap_or_default();
                if let Some(&class) = minority.iter().find(|&&c| c as usize >= self.classes) {
                    return Err(DataError::UnknownClass {
                        class,
                        classes: self.classes,
                    });
                }
                self.groups = self
                    .labels
                    .iter()
                    .map(|l| {
                        if minority.contains(l) {
                            Group::Minority
                        } else {
                            Group::Majority
                        }
                    })
                    .collect();
            }
        }
        Ok(self)
    }

    /// The data set's name (e.g. `digits`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sample shape `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Values per sample, `C·H·W`.
    pub fn feature_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of samples `n`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All features, sample-major. A [`Dataset::view`] gathers them into a buffer of its own on
    /// the first call (training reads samples through [`Dataset::gather`] and never needs it).
    pub fn features(&self) -> &[f32] {
        match &self.rows {
            None => &self.storage,
            Some(_) => self.gathered.get_or_init(|| {
                let mut features = Vec::with_capacity(self.len() * self.feature_len());
                (0..self.len()).for_each(|i| features.extend_from_slice(self.sample(i)));
                features
            }),
        }
    }

    /// The features of sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let per = self.feature_len();
        let row = self.rows.as_ref().map_or(i, |rows| rows[i]);
        &self.storage[row * per..(row + 1) * per]
    }

    /// Whether the two data sets read their features from the same storage (one is a clone or
    /// a [`Dataset::view`] of the other, or both of a third), so that neither holds a copy.
    pub fn shares_features_with(&self, other: &Dataset) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// All labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// All groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// n1 and n0.
    pub fn group_sizes(&self) -> GroupSizes {
        let minority = self
            .groups
            .iter()
            .filter(|g| **g == Group::Minority)
            .count();
        GroupSizes {
            majority: self.len() - minority,
            minority,
        }
    }

    /// ζ = n0 / n1 (`None` when the majority is empty).
    pub fn zeta(&self) -> Option<f64> {
        self.group_sizes().zeta()
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        self.labels.iter().for_each(|&l| counts[l as usize] += 1);
        counts
    }

    /// Samples per class inside one group.
    pub fn class_counts_in(&self, group: Group) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for (l, g) in self.labels.iter().zip(&self.groups) {
            if *g == group {
                counts[*l as usize] += 1;
            }
        }
        counts
    }

    /// Indices of the samples of one group, in order.
    pub fn indices_of(&self, group: Group) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.groups[i] == group)
            .collect()
    }

    /// A new data set with the samples at `indices` (in that order), its features copied into
    /// storage of its own: what to keep when the rest of the data is dropped.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let per = self.feature_len();
        let mut features = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            features.extend_from_slice(self.sample(i));
        }
        Dataset {
            name: self.name.clone(),
            shape: self.shape,
            storage: Arc::new(features),
            rows: None,
            gathered: OnceLock::new(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            groups: indices.iter().map(|&i| self.groups[i]).collect(),
            classes: self.classes,
        }
    }

    /// The samples at `indices` (in that order), equal to [`Dataset::subset`] but reading the
    /// features from this data set's storage: no feature is copied, and the view keeps the
    /// whole storage alive. A view of a view indexes the first storage directly.
    ///
    /// # Panics
    /// If an index is not below [`Dataset::len`] (as [`Dataset::subset`]).
    pub fn view(&self, indices: &[usize]) -> Dataset {
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        let rows = match &self.rows {
            Some(rows) => indices.iter().map(|&i| rows[i]).collect(),
            None => indices.to_vec(),
        };
        Dataset {
            name: self.name.clone(),
            shape: self.shape,
            storage: Arc::clone(&self.storage),
            rows: Some(rows),
            gathered: OnceLock::new(),
            labels,
            groups: indices.iter().map(|&i| self.groups[i]).collect(),
            classes: self.classes,
        }
    }

    /// Copies the features and labels of `indices` into the buffers (cleared first): the input of
    /// a [`crate::Model`] call.
    pub fn gather(&self, indices: &[usize], features: &mut Vec<f32>, labels: &mut Vec<u32>) {
        features.clear();
        labels.clear();
        for &i in indices {
            features.extend_from_slice(self.sample(i));
            labels.push(self.labels[i]);
        }
    }

    /// The same samples with new features of shape `shape` (used by transforms).
    pub fn with_features(
        mut self,
        shape: [usize; 3],
        features: Vec<f32>,
    ) -> Result<Self, DataError> {
        let per = shape.iter().product::<usize>();
        if features.len() != self.len() * per {
            return Err(DataError::LengthMismatch {
                name: self.name,
                what: "features",
                expected: self.labels.len() * per,
                got: features.len(),
            });
        }
        self.shape = shape;
        self.storage = Arc::new(features);
        self.rows = None;
        self.gathered = OnceLock::new();
        Ok(self)
    }

    /// Renames the data set.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The imbalanced data set of level `zeta` (docs/definitions.md): every majority sample is kept and the
    /// minority is subsampled to `round(zeta · n1)` samples, stratified by class inside the group
    /// (quotas proportional to the class counts, largest remainders first), chosen with `seed`.
    /// Samples keep their original order.
    pub fn with_imbalance(&self, zeta: f64, seed: u64) -> Result<Dataset, DataError> {
        Ok(self.subset(&self.imbalance_indices(zeta, seed)?))
    }

    /// The samples [`Dataset::with_imbalance`] keeps, as increasing indices into this data set:
    /// the selection without the copy.
    pub fn imbalance_indices(&self, zeta: f64, seed: u64) -> Result<Vec<usize>, DataError> {
        crate::Zeta::new(zeta).map_err(|_| DataError::InvalidZeta { zeta })?;
        let sizes = self.group_sizes();
        if sizes.majority == 0 {
            return Err(DataError::EmptyGroup {
                group: "majority",
                hint: "choose fewer minority classes or another group column".into(),
            });
        }
        let needed = (zeta * sizes.majority as f64).round() as usize;
        if needed == 0 {
            return Err(DataError::EmptyMinority {
                zeta,
                majority: sizes.majority,
                min_zeta: 0.5 / sizes.majority as f64,
            });
        }
        if needed > sizes.minority {
            return Err(DataError::TooFewMinority {
                zeta,
                majority: sizes.majority,
                needed,
                available: sizes.minority,
                max_zeta: (sizes.minority as f64 + 0.5) / sizes.majority as f64 - 1e-9,
            });
        }
        let counts = self.class_counts_in(Group::Minority);
        let quotas = stratified_quotas(&counts, needed);
        let mut rng = Rng::seed_from_u64(seed);
        let mut keep: Vec<usize> = self.indices_of(Group::Majority);
        for (class, &quota) in quotas.iter().enumerate() {
            if quota == 0 {
                continue;
            }
            let members: Vec<usize> = (0..self.len())
                .filter(|&i| self.groups[i] == Group::Minority && self.labels[i] as usize == class)
                .collect();
            let picked = rng.sample_indices(members.len(), quota);
            keep.extend(picked.into_iter().map(|j| members[j]));
        }
        keep.sort_unstable();
        Ok(keep)
    }

    /// The sample order of one epoch: a seeded permutation of `0..n`, different for each epoch.
    pub fn epoch_order(&self, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        Rng::for_stream(seed, epoch).shuffle(&mut order);
        order
    }

    /// The mini-batches of one epoch: [`Dataset::epoch_order`] cut into chunks of `batch_size`
    /// (the last one may be smaller).
    pub fn epoch_batches(&self, batch_size: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
        let batch_size = batch_size.max(1);
        self.epoch_order(seed, epoch)
            .chunks(batch_size)
            .map(|c| c.to_vec())
            .collect()
    }
}

/// Splits `total` among classes in proportion to `counts` (largest remainder method; ties go to
/// the lower class). Each quota is at most its count when `total ≤ Σ counts`.
pub fn stratified_quotas(counts: &[usize], total: usize) -> Vec<usize> {
    let sum: usize = counts.iter().sum();
    if sum == 0 {
        return vec![0; counts.len()];
    }
    let exact: Vec<f64> = counts
        .iter()
        .map(|&c| total as f64 * c as f64 / sum as f64)
        .collect();
    let mut quotas: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = total - quotas.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.partial_cmp(&fa)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    for &k in &order {
        if left == 0 {
            break;
        }
        if quotas[k] < counts[k] {
            quotas[k] += 1;
            left -= 1;
        }
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 classes; class k has 100 + k samples; 1 feature = the sample index.
    fn toy() -> Dataset {
        let mut labels = Vec::new();
        for k in 0..10u32 {
            labels.extend(std::iter::repeat_n(k, 100 + k as usize));
        }
        let features = (0..labels.len()).map(|i| i as f32).collect();
        Dataset::new("toy", [1, 1, 1], features, labels, 10).unwrap()
    }

    #[test]
    fn default_rule_makes_upper_half_the_minority() {
        let ds = toy();
        let sizes = ds.group_sizes();
        assert_eq!(sizes.majority, 100 + 101 + 102 + 103 + 104);
        assert_eq!(sizes.minority, 105 + 106 + 107 + 108 + 109);
        assert_eq!(GroupRule::UpperHalf.minority_classes(3), Some(vec![2]));
    }

    #[test]
    fn imbalance_keeps_majority_and_rounds_minority() {
        let ds = toy();
        let n1 = ds.group_sizes().majority; // 510
        for (zeta, expected) in [(0.1, 51), (0.01, 5), (0.3, 153), (0.8, 408), (0.0049, 2)] {
            let sub = ds.with_imbalance(zeta, 1).unwrap();
            let s = sub.group_sizes();
            assert_eq!(s.majority, n1, "zeta {zeta}");
            assert_eq!(s.minority, expected, "zeta {zeta}");
            assert_eq!(s.minority, (zeta * n1 as f64).round() as usize);
        }
    }

    #[test]
    fn imbalance_is_stratified_by_class() {
        let ds = toy();
        let sub = ds.with_imbalance(0.5, 3).unwrap(); // 255 minority over 5 classes of ~equal size
        let counts = sub.class_counts_in(Group::Minority);
        assert_eq!(counts[..5], [0, 0, 0, 0, 0]);
        assert_eq!(counts.iter().sum::<usize>(), 255);
        for &c in &counts[5..] {
            assert!((50..=52).contains(&c), "{counts:?}");
        }
        // the majority classes are untouched
        assert_eq!(
            sub.class_counts_in(Group::Majority)[..5],
            [100, 101, 102, 103, 104]
        );
    }

    #[test]
    fn imbalance_is_deterministic_per_seed() {
        let ds = toy();
        let a = ds.with_imbalance(0.1, 42).unwrap();
        let b = ds.with_imbalance(0.1, 42).unwrap();
        let c = ds.with_imbalance(0.1, 43).unwrap();
        assert_eq!(a.features(), b.features());
        assert_ne!(a.features(), c.features());
    }

    #[test]
    fn imbalance_errors_name_the_numbers() {
        let ds = toy()
            .with_group_rule(&GroupRule::MinorityClasses(vec![9]))
            .unwrap();
        // n = 1045, n1 = 1045 − 109 = 936; round(0.2 · 936) = 187 > 109
        let err = ds.with_imbalance(0.2, 0).unwrap_err();
        match &err {
            DataError::TooFewMinority {
                needed, available, ..
            } => {
                assert_eq!((*needed, *available), (187, 109));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("187") && err.to_string().contains("109"));
        assert!(matches!(
            ds.with_imbalance(0.0, 0),
            Err(DataError::InvalidZeta { .. })
        ));
        assert!(matches!(
            ds.with_imbalance(1.5, 0),
            Err(DataError::InvalidZeta { .. })
        ));
        assert!(matches!(
            ds.with_imbalance(1e-5, 0),
            Err(DataError::EmptyMinority { .. })
        ));
    }

    /// A view equals the copy sample for sample, shares the storage (also through a view of a
    /// view), and gathers contiguous features only when asked; replacing the features ends
    /// the sharing.
    #[test]
    fn a_view_equals_the_copy_without_copying_features() {
        let ds = toy()
            .with_group_rule(&GroupRule::MinorityClasses(vec![1, 7]))
            .unwrap();
        let picked = [500, 3, 3, 1044, 0, 250];
        let copy = ds.subset(&picked);
        let view = ds.view(&picked);
        assert_eq!(view, copy);
        assert_eq!(view.features(), copy.features());
        assert!(view.shares_features_with(&ds) && !copy.shares_features_with(&ds));
        assert_eq!(view.labels(), copy.labels());
        assert_eq!(view.groups(), copy.groups());
        let (mut f, mut l) = (Vec::new(), Vec::new());
        view.gather(&[5, 0, 2], &mut f, &mut l);
        assert_eq!(f, [250.0, 500.0, 3.0]);
        assert_eq!(l, [ds.labels()[250], ds.labels()[500], ds.labels()[3]]);
        // a view of a view reads the first storage directly
        let inner = view.view(&[3, 0]);
        assert!(inner.shares_features_with(&ds));
        assert_eq!(inner, ds.subset(&[1044, 500]));
        assert_eq!(inner.sample(0), [1044.0]);
        // a clone shares too; new features end the sharing
        assert!(ds.clone().shares_features_with(&ds));
        let replaced = view.clone().with_features([1, 1, 1], vec![9.0; 6]).unwrap();
        assert!(!replaced.shares_features_with(&ds));
        assert_eq!(replaced.sample(0), [9.0]);
        assert_ne!(replaced, view);
    }

    #[test]
    fn imbalance_indices_are_what_with_imbalance_keeps() {
        let ds = toy();
        let keep = ds.imbalance_indices(0.3, 5).unwrap();
        assert!(keep.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ds.subset(&keep), ds.with_imbalance(0.3, 5).unwrap());
        assert_eq!(ds.view(&keep), ds.with_imbalance(0.3, 5).unwrap());
    }

    #[test]
    fn quotas_sum_and_respect_counts() {
        assert_eq!(stratified_quotas(&[10, 10, 10], 4), vec![2, 1, 1]);
        assert_eq!(stratified_quotas(&[1, 100], 2), vec![0, 2]);
        assert_eq!(stratified_quotas(&[3, 3], 6), vec![3, 3]);
    }

    #[test]
    fn epoch_batches_cover_every_sample_once() {
        let ds = toy();
        let batches = ds.epoch_batches(64, 9, 0);
        let mut all: Vec<usize> = batches.concat();
        assert_eq!(batches[0].len(), 64);
        all.sort_unstable();
        assert_eq!(all, (0..ds.len()).collect::<Vec<_>>());
        assert_ne!(ds.epoch_order(9, 0), ds.epoch_order(9, 1));
        assert_eq!(ds.epoch_order(9, 1), ds.epoch_order(9, 1));
    }

    #[test]
    fn bad_construction_is_refused() {
        assert!(matches!(
            Dataset::new("x", [1, 2, 2], vec![0.0; 7], vec![0, 1], 2),
            Err(DataError::LengthMismatch {
                expected: 8,
                got: 7,
                ..
            })
        ));
        assert!(matches!(
            Dataset::new("x", [1, 1, 1], vec![0.0; 2], vec![0, 5], 2),
            Err(DataError::LabelOutOfRange {
                index: 1,
                label: 5,
                ..
            })
        ));
        let ds = toy();
        assert!(matches!(
            ds.with_group_rule(&GroupRule::MinorityClasses(vec![12])),
            Err(DataError::UnknownClass { class: 12, .. })
        ));
    }
}
