//! Transforms of whole data sets: resize, channel repeat and per-channel normalisation.
//!
//! Each takes a [`Dataset`] and returns it with new features; labels and groups are unchanged.

use std::fmt;
use std::str::FromStr;

use majmin_core::Dataset;

use crate::error::{thousands, LoadError, SizeExcess};
use crate::limits::MAX_DATASET_VALUES;

/// How [`resize`] computes an output pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// The input pixel `floor(dst · in / out)` on each axis (PyTorch's `nearest`).
    Nearest,
    /// Linear in each axis between the two nearest input pixel centres, with half-pixel centres:
    /// `src = (dst + 0.5) · in / out − 0.5`, clamped to the image (PyTorch's `bilinear` with
    /// `align_corners = false`, OpenCV's `INTER_LINEAR`). No anti-aliasing when shrinking.
    #[default]
    Bilinear,
}

impl fmt::Display for Interpolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interpolation::Nearest => "nearest",
            Interpolation::Bilinear => "bilinear",
        })
    }
}

impl FromStr for Interpolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nearest" => Ok(Interpolation::Nearest),
            "bilinear" | "linear" => Ok(Interpolation::Bilinear),
            other => Err(format!(
                "unknown interpolation `{other}`: expected `nearest` or `bilinear`"
            )),
        }
    }
}

fn rebuild(
    ds: Dataset,
    shape: [usize; 3],
    features: Vec<f32>,
    transform: &str,
) -> Result<Dataset, LoadError> {
    let name = ds.name().to_string();
    ds.with_features(shape, features)
        .map_err(|source| LoadError::Dataset {
            context: format!("data set `{name}`, transform `{transform}`"),
            source,
        })
}

/// Refuses a transform whose output would hold more than [`MAX_DATASET_VALUES`] values.
fn check_size(ds: &Dataset, transform: &str, [c, h, w]: [usize; 3]) -> Result<(), LoadError> {
    // saturating: three sides of up to 2^64 overflow even u128
    let per_sample = (c as u128)
        .saturating_mul(h as u128)
        .saturating_mul(w as u128);
    let needed = (ds.len() as u128).saturating_mul(per_sample);
    if needed > u128::from(MAX_DATASET_VALUES) {
        return Err(LoadError::TooLarge {
            context: format!("transform `{transform}` on data set `{}`", ds.name()),
            size: SizeExcess::new(
                format!(
                    "{} samples of {c}×{h}×{w} = {} values each",
                    thousands(ds.len() as u64),
                    thousands(per_sample)
                ),
                needed,
                u128::from(MAX_DATASET_VALUES),
                "values",
                "MAX_DATASET_VALUES",
            ),
        });
    }
    Ok(())
}

/// Resizes one image of shape `[c, h, w]` (channel-major) to `out_h × out_w`, appending to `out`.
///
/// # Shapes
/// `image`: `c · h · w` values; appends `c · out_h · out_w` values.
pub fn resize_image(
    image: &[f32],
    [c, h, w]: [usize; 3],
    out_h: usize,
    out_w: usize,
    interpolation: Interpolation,
    out: &mut Vec<f32>,
) {
    match interpolation {
        Interpolation::Nearest => {
            let ys: Vec<usize> = (0..out_h).map(|y| (y * h / out_h).min(h - 1)).collect();
            let xs: Vec<usize> = (0..out_w).map(|x| (x * w / out_w).min(w - 1)).collect();
            for ch in 0..c {
                let plane = &image[ch * h * w..(ch + 1) * h * w];
                for &sy in &ys {
                    out.extend(xs.iter().map(|&sx| plane[sy * w + sx]));
                }
            }
        }
        Interpolation::Bilinear => {
            // (lower index, upper index, weight of the upper) on one axis.
            let axis = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
                (0..n_out)
                    .map(|d| {
                        let src = ((d as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5)
                            .clamp(0.0, (n_in - 1) as f64);
                        let lo = src.floor() as usize;
                        let hi = (lo + 1).min(n_in - 1);
                        (lo, hi, (src - lo as f64) as f32)
                    })
                    .collect()
            };
            let ys = axis(h, out_h);
            let xs = axis(w, out_w);
            for ch in 0..c {
                let plane = &image[ch * h * w..(ch + 1) * h * w];
                for &(y0, y1, fy) in &ys {
                    for &(x0, x1, fx) in &xs {
                        let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
                        let bottom = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
                        out.push(top * (1.0 - fy) + bottom * fy);
                    }
                }
            }
        }
    }
}

/// Every image resized to `height × width` (channels unchanged).
///
/// # Errors
/// [`LoadError::Transform`] for a side of 0; [`LoadError::TooLarge`] when the result would hold
/// more than [`MAX_DATASET_VALUES`] values (checked before allocating).
pub fn resize(
    ds: Dataset,
    height: usize,
    width: usize,
    interpolation: Interpolation,
) -> Result<Dataset, LoadError> {
    let transform = format!("resize={height}x{width}");
    if height == 0 || width == 0 {
        return Err(LoadError::Transform {
            transform,
            dataset: ds.name().to_string(),
            message: "expected sides of at least 1".into(),
        });
    }
    let [c, h, w] = ds.shape();
    if (h, w) == (height, width) {
        return Ok(ds);
    }
    check_size(&ds, &transform, [c, height, width])?;
    let mut features = Vec::with_capacity(ds.len() * c * height * width);
    for i in 0..ds.len() {
        resize_image(
            ds.sample(i),
            [c, h, w],
            height,
            width,
            interpolation,
            &mut features,
        );
    }
    rebuild(ds, [c, height, width], features, &transform)
}

/// A single-channel set with its channel repeated `channels` times (e.g. grey → RGB for an
/// architecture that expects 3 channels). A set that has `channels` channels already is returned
/// unchanged.
///
/// # Errors
/// [`LoadError::Transform`] unless the set has one channel; [`LoadError::TooLarge`] when the
/// result would hold more than [`MAX_DATASET_VALUES`] values (checked before allocating).
pub fn repeat_channels(ds: Dataset, channels: usize) -> Result<Dataset, LoadError> {
    let [c, h, w] = ds.shape();
    if c == channels {
        return Ok(ds);
    }
    let transform = format!("channels={channels}");
    if c != 1 || channels == 0 {
        return Err(LoadError::Transform {
            transform,
            dataset: ds.name().to_string(),
            message: format!(
                "can only repeat a single channel, but the samples have {c} channels ({c}×{h}×{w})"
            ),
        });
    }
    check_size(&ds, &transform, [channels, h, w])?;
    let mut features = Vec::with_capacity(ds.features().len() * channels);
    for i in 0..ds.len() {
        let s = ds.sample(i);
        for _ in 0..channels {
            features.extend_from_slice(s);
        }
    }
    rebuild(ds, [channels, h, w], features, &transform)
}

/// The mean and (population) standard deviation of each channel over all samples and pixels,
/// accumulated in `f64`.
pub fn channel_stats(ds: &Dataset) -> (Vec<f64>, Vec<f64>) {
    let [c, h, w] = ds.shape();
    let plane = h * w;
    let mut sum = vec![0.0f64; c];
    let mut sum_sq = vec![0.0f64; c];
    for i in 0..ds.len() {
        for (ch, values) in ds.sample(i).chunks_exact(plane).enumerate() {
            for &v in values {
                sum[ch] += f64::from(v);
                sum_sq[ch] += f64::from(v) * f64::from(v);
            }
        }
    }
    let count = (ds.len() * plane).max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    let std = sum_sq
        .iter()
        .zip(&mean)
        .map(|(s2, m)| (s2 / count - m * m).max(0.0).sqrt())
        .collect();
    (mean, std)
}

/// Per-channel x ↦ (x − mean_c) / std_c with the mean and standard deviation computed on `ds`
/// ([`channel_stats`]). A constant channel (std = 0) is only centred.
pub fn normalize_computed(ds: Dataset) -> Result<Dataset, LoadError> {
    let (mean, std) = channel_stats(&ds);
    tracing::debug!(?mean, ?std, "normalising with computed channel statistics");
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let std: Vec<f32> = std
        .iter()
        .map(|&s| if s > 0.0 { s as f32 } else { 1.0 })
        .collect();
    apply_normalize(ds, &mean, &std, "normalize")
}

/// Per-channel x ↦ (x − mean_c) / std_c with given values: one value each (used for every
/// channel) or one per channel. Every std must be > 0.
pub fn normalize(ds: Dataset, mean: &[f32], std: &[f32]) -> Result<Dataset, LoadError> {
    let list = |v: &[f32]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let transform = format!("normalize={}/{}", list(mean), list(std));
    let c = ds.shape()[0];
    let expand = |v: &[f32], what: &str| -> Result<Vec<f32>, LoadError> {
        match v.len() {
            1 => Ok(vec![v[0]; c]),
            n if n == c => Ok(v.to_vec()),
            n => Err(LoadError::Transform {
                transform: transform.clone(),
                dataset: ds.name().to_string(),
                message: format!("expected 1 or {c} {what} values (one per channel), found {n}"),
            }),
        }
    };
    let mean = expand(mean, "mean")?;
    let std = expand(std, "std")?;
    if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
        return Err(LoadError::Transform {
            transform,
            dataset: ds.name().to_string(),
            message: format!("expected standard deviations > 0, found {s}"),
        });
    }
    apply_normalize(ds, &mean, &std, &transform)
}

fn apply_normalize(
    ds: Dataset,
    mean: &[f32],
    std: &[f32],
    transform: &str,
) -> Result<Dataset, LoadError> {
    let shape = ds.shape();
    let plane = shape[1] * shape[2];
    let mut features = ds.features().to_vec();
    for sample in features.chunks_exact_mut(plane * shape[0]) {
        for (ch, values) in sample.chunks_exact_mut(plane).enumerate() {
            values
                .iter_mut()
                .for_each(|v| *v = (*v - mean[ch]) / std[ch]);
        }
    }
    // a tiny standard deviation can overflow f32: refuse rather than train on ±∞
    if let Some(i) = features.iter().position(|v| !v.is_finite()) {
        let per_sample = (plane * shape[0]).max(1);
        let ch = (i % per_sample) / plane.max(1);
        return Err(LoadError::Transform {
            transform: transform.to_string(),
            dataset: ds.name().to_string(),
            message: format!(
                "sample {} channel {ch} becomes {} ((x − {}) / {} overflows f32); expected a larger standard deviation",
                i / per_sample,
                features[i],
                mean[ch],
                std[ch]
            ),
        });
    }
    rebuild(ds, shape, features, transform)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_image(shape: [usize; 3], values: Vec<f32>) -> Dataset {
        Dataset::new("t", shape, values, vec![0], 1).unwrap()
    }

    #[test]
    fn normalizing_to_infinity_is_an_error() {
        let ds = one_image([1, 1, 2], vec![0.0, 1.0]);
        let e = normalize(ds, &[0.0], &[1e-40]).unwrap_err();
        assert!(
            matches!(&e, LoadError::Transform { message, .. } if message.contains("sample 0 channel 0 becomes inf")),
            "{e:?}"
        );
    }

    #[test]
    fn bilinear_upsampling_of_a_known_image() {
        let ds = one_image([1, 2, 2], vec![0.0, 1.0, 2.0, 3.0]);
        let r = resize(ds, 4, 4, Interpolation::Bilinear).unwrap();
        assert_eq!(r.shape(), [1, 4, 4]);
        // x positions −0.25 → 0, 0.25, 0.75, 1.25 → 1 on each axis
        #[rustfmt::skip]
        let expected = [
            0.0, 0.25, 0.75, 1.0,
            0.5, 0.75, 1.25, 1.5,
            1.5, 1.75, 2.25, 2.5,
            2.0, 2.25, 2.75, 3.0,
        ];
        assert_eq!(r.features(), &expected);
    }

    #[test]
    fn nearest_resizing_of_a_known_image() {
        let ds = one_image([1, 2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let up = resize(ds.clone(), 4, 3, Interpolation::Nearest).unwrap();
        assert_eq!(
            up.features(),
            &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]
        );
        let down = resize(ds, 1, 2, Interpolation::Nearest).unwrap();
        // x = floor(0·3/2) = 0, floor(1·3/2) = 1
        assert_eq!(down.features(), &[1.0, 2.0]);
    }

    #[test]
    fn bilinear_downsampling_averages_neighbours_per_channel() {
        // 2 channels of 1×4; halving the width samples at x = 0.5 and 2.5
        let ds = one_image([2, 1, 4], vec![0.0, 2.0, 4.0, 6.0, 10.0, 10.0, 20.0, 20.0]);
        let r = resize(ds, 1, 2, Interpolation::Bilinear).unwrap();
        assert_eq!(r.shape(), [2, 1, 2]);
        assert_eq!(r.features(), &[1.0, 5.0, 10.0, 20.0]);
    }

    #[test]
    fn channel_repeat_copies_the_plane() {
        let ds = one_image([1, 1, 2], vec![0.25, 0.5]);
        let r = repeat_channels(ds, 3).unwrap();
        assert_eq!(r.shape(), [3, 1, 2]);
        assert_eq!(r.features(), &[0.25, 0.5, 0.25, 0.5, 0.25, 0.5]);
        let err = repeat_channels(r.clone(), 4).unwrap_err().to_string();
        assert!(
            err.contains(
                "transform `channels=4` on data set `t`: can only repeat a single channel"
            ),
            "{err}"
        );
        assert_eq!(repeat_channels(r.clone(), 3).unwrap(), r);
    }

    #[test]
    fn computed_normalisation_gives_zero_mean_unit_std_per_channel() {
        // channel 0: 1, 3 (mean 2, std 1); channel 1: 10, 10 (constant → centred only)
        let ds = Dataset::new("t", [2, 1, 1], vec![1.0, 10.0, 3.0, 10.0], vec![0, 0], 1).unwrap();
        let (mean, std) = channel_stats(&ds);
        assert_eq!((mean, std), (vec![2.0, 10.0], vec![1.0, 0.0]));
        let n = normalize_computed(ds).unwrap();
        assert_eq!(n.features(), &[-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn given_normalisation_broadcasts_or_matches_channels() {
        let ds = Dataset::new("t", [2, 1, 1], vec![1.0, 10.0, 3.0, 10.0], vec![0, 0], 1).unwrap();
        let n = normalize(ds.clone(), &[1.0], &[2.0]).unwrap();
        assert_eq!(n.features(), &[0.0, 4.5, 1.0, 4.5]);
        let n = normalize(ds.clone(), &[1.0, 10.0], &[2.0, 0.5]).unwrap();
        assert_eq!(n.features(), &[0.0, 0.0, 1.0, 0.0]);
        let err = normalize(ds, &[0.0, 0.0, 0.0], &[1.0])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected 1 or 2 mean values (one per channel), found 3"),
            "{err}"
        );
    }
}
