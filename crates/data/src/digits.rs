//! The embedded digits: 1,797 real 8×8 handwritten digits, 10 classes (UCI "Optical Recognition
//! of Handwritten Digits", as shipped by smartcore's `datasets` feature; nothing is downloaded).

use majmin_core::Dataset;

use crate::error::LoadError;

/// Samples in the embedded set.
pub const DIGITS_SAMPLES: usize = 1_797;
/// Classes (the digits 0–9).
pub const DIGITS_CLASSES: usize = 10;

/// Loads the embedded digits as a data set named `digits` of shape `[1, 8, 8]`.
///
/// The stored pixel values are integers 0–16 (counts of set pixels in 4×4 blocks of the original
/// 32×32 bitmaps); they are divided by 16 so that features lie in [0, 1], like the other image
/// loaders. Groups follow the default rule: digits 0–4 are the majority (901 samples), 5–9 the
/// minority (896 samples).
pub fn load_digits() -> Result<Dataset, LoadError> {
    let raw = smartcore::dataset::digits::load_dataset();
    let context = || "embedded digits (smartcore)".to_string();
    if raw.num_features != 64
        || raw.data.len() != raw.num_samples * 64
        || raw.target.len() != raw.num_samples
    {
        return Err(LoadError::Dataset {
            context: context(),
            source: majmin_core::DataError::Invalid(format!(
                "expected 64 features per sample, found {} features, {} values and {} targets for {} samples",
                raw.num_features,
                raw.data.len(),
                raw.target.len(),
                raw.num_samples
            )),
        });
    }
    let mut labels = Vec::with_capacity(raw.num_samples);
    for (i, &t) in raw.target.iter().enumerate() {
        if !(t >= 0.0 && t < DIGITS_CLASSES as f32 && t.fract() == 0.0) {
            return Err(LoadError::Dataset {
                context: context(),
                source: majmin_core::DataError::Invalid(format!(
                    "sample {i}: expected a digit 0–9 as label, found {t}"
                )),
            });
        }
        labels.push(t as u32);
    }
    let features = raw.data.iter().map(|&v| v / 16.0).collect();
    Dataset::new("digits", [1, 8, 8], features, labels, DIGITS_CLASSES).map_err(|source| {
        LoadError::Dataset {
            context: context(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_core::Group;

    #[test]
    fn digits_has_the_published_counts() {
        let ds = load_digits().unwrap();
        assert_eq!(ds.len(), DIGITS_SAMPLES);
        assert_eq!(ds.shape(), [1, 8, 8]);
        assert_eq!(ds.classes(), 10);
        // UCI / scikit-learn: 178 182 177 183 181 182 181 179 174 180
        assert_eq!(
            ds.class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        let sizes = ds.group_sizes();
        assert_eq!((sizes.majority, sizes.minority), (901, 896));
        assert_eq!(ds.class_counts_in(Group::Minority)[..5], [0, 0, 0, 0, 0]);
    }

    #[test]
    fn digits_features_are_scaled_to_the_unit_interval() {
        let ds = load_digits().unwrap();
        let max = ds.features().iter().copied().fold(f32::MIN, f32::max);
        let min = ds.features().iter().copied().fold(f32::MAX, f32::min);
        assert_eq!((min, max), (0.0, 1.0));
        // every value is a multiple of 1/16
        assert!(ds.features().iter().all(|v| (v * 16.0).fract() == 0.0));
    }

    #[test]
    fn digits_with_zeta_keeps_901_and_90() {
        let ds = load_digits().unwrap().with_imbalance(0.1, 0).unwrap();
        let sizes = ds.group_sizes();
        assert_eq!((sizes.majority, sizes.minority), (901, 90));
    }
}
