//! Max- and average-pooling over NCHW planes (PyTorch's output-size rule, `ceil_mode` included).

use rayon::prelude::*;

use super::elementwise::zeros;
use super::simd::multiversioned;

/// Geometry of a 2-D pooling window over NCHW tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch size times channels (independent planes).
    pub planes: usize,
    /// Input height and width.
    pub in_hw: (usize, usize),
    /// Window side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side (max-pool pads with −∞, average-pool counts padding as in PyTorch).
    pub padding: usize,
    /// Round the output size up (PyTorch's `ceil_mode`).
    pub ceil_mode: bool,
}

impl PoolGeometry {
    /// Output height and width (PyTorch's rule), or `None` when the input is too small.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let side = |x: usize| -> Option<usize> {
            let span = (x + 2 * self.padding).checked_sub(self.kernel)?;
            let mut out = if self.ceil_mode {
                span.div_ceil(self.stride) + 1
            } else {
                span / self.stride + 1
            };
            // The last window must start inside the input or the left padding.
            if self.ceil_mode && (out - 1) * self.stride >= x + self.padding {
                out -= 1;
            }
            (out > 0).then_some(out)
        };
        if 2 * self.padding > self.kernel {
            return None;
        }
        Some((side(self.in_hw.0)?, side(self.in_hw.1)?))
    }
}

/// Planes pooled together, one per vector lane.
const LANES: usize = 16;

/// Max-pool forward: the output and, for each output, the flat in-plane index of its maximum.
///
/// The first maximum in row-major window order wins a tie; a NaN wins over any number and the
/// last NaN over earlier ones (PyTorch's rule). Planes go 16 at a time, transposed so
/// that each window position is one vector of values from as many planes: the window
/// bookkeeping is shared by the lanes, and the comparisons are branch-free selects (they are
/// unpredictable on real data), however small the planes.
pub fn max_pool_forward(geo: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut out = zeros(geo.planes * ho * wo);
    let mut arg = vec![0u32; geo.planes * ho * wo];
    out.par_chunks_mut(LANES * ho * wo)
        .zip(arg.par_chunks_mut(LANES * ho * wo))
        .zip(x.par_chunks(LANES * h * w))
        .for_each_init(Vec::new, |lanes, ((out, arg), x)| {
            max_pool_planes(geo, x, lanes, out, arg)
        });
    (out, arg)
}

multiversioned! {
    /// [`max_pool_forward`] of up to [`LANES`] planes; `lanes` is scratch space.
    fn max_pool_planes(
        geo: &PoolGeometry,
        x: &[f32],
        lanes: &mut Vec<[f32; LANES]>,
        out: &mut [f32],
        arg: &mut [u32],
    ) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let planes = x.len() / (h * w);
        // lanes[i][l] = value i of plane l (lanes past the last plane stay as they are: their
        // results are never written out)
        lanes.resize(h * w, [0.0; LANES]);
        for (l, plane) in x.chunks_exact(h * w).enumerate() {
            for (dst, &v) in lanes.iter_mut().zip(plane) {
                dst[l] = v;
            }
        }
        let window = |o: usize, side: usize| {
            let start = (o * geo.stride) as isize - geo.padding as isize;
            (start.max(0) as usize, ((start + geo.kernel as isize).min(side as isize)) as usize)
        };
        for oy in 0..ho {
            let (ya, yb) = window(oy, h);
            for ox in 0..wo {
                let (xa, xb) = window(ox, w);
                let mut best = [f32::NEG_INFINITY; LANES];
                let mut at = [(ya * w + xa) as u32; LANES];
                for iy in ya..yb {
                    for ix in xa..xb {
                        let (v, i) = (&lanes[iy * w + ix], (iy * w + ix) as u32);
                        for l in 0..LANES {
                            let take = 0u32.wrapping_sub(((v[l] > best[l]) | v[l].is_nan()) as u32);
                            best[l] = f32::from_bits((v[l].to_bits() & take) | (best[l].to_bits() & !take));
                            at[l] = (i & take) | (at[l] & !take);
                        }
                    }
                }
                let o = oy * wo + ox;
                for l in 0..planes {
                    out[l * ho * wo + o] = best[l];
                    arg[l * ho * wo + o] = at[l];
                }
            }
        }
    }
}

/// Max-pool backward: routes each output gradient to its maximum.
pub fn max_pool_backward(geo: &PoolGeometry, arg: &[u32], dy: &[f32]) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut dx = zeros(geo.planes * h * w);
    dx.par_chunks_mut(h * w)
        .zip(arg.par_chunks(ho * wo))
        .zip(dy.par_chunks(ho * wo))
        .for_each(|((dx, arg), dy)| {
            for (a, g) in arg.iter().zip(dy) {
                dx[*a as usize] += g;
            }
        });
    dx
}

/// The window of output `o` along one side: input range and PyTorch's divisor (padding counted,
/// the window clipped to the padded input).
fn avg_window(o: usize, geo: &PoolGeometry, side: usize) -> (usize, usize, usize) {
    let start = (o * geo.stride) as isize - geo.padding as isize;
    let end = (start + geo.kernel as isize).min((side + geo.padding) as isize);
    let divisor = (end - start) as usize;
    (
        start.max(0) as usize,
        end.min(side as isize) as usize,
        divisor,
    )
}

/// Average-pool forward (PyTorch's `count_include_pad = true`).
pub fn avg_pool_forward(geo: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut out = zeros(geo.planes * ho * wo);
    out.par_chunks_mut(ho * wo)
        .zip(x.par_chunks(h * w))
        .for_each(|(out, x)| {
            for oy in 0..ho {
                let (ya, yb, dy) = avg_window(oy, geo, h);
                for ox in 0..wo {
                    let (xa, xb, dx) = avg_window(ox, geo, w);
                    let mut s = 0.0f32;
                    for iy in ya..yb {
                        s += x[iy * w + xa..iy * w + xb].iter().sum::<f32>();
                    }
                    out[oy * wo + ox] = s / (dy * dx) as f32;
                }
            }
        });
    out
}

/// Average-pool backward.
pub fn avg_pool_backward(geo: &PoolGeometry, dy: &[f32]) -> Vec<f32> {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut dx = zeros(geo.planes * h * w);
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(ho * wo))
        .for_each(|(dx, dy)| {
            for oy in 0..ho {
                let (ya, yb, dvy) = avg_window(oy, geo, h);
                for ox in 0..wo {
                    let (xa, xb, dvx) = avg_window(ox, geo, w);
                    let g = dy[oy * wo + ox] / (dvy * dvx) as f32;
                    for iy in ya..yb {
                        dx[iy * w + xa..iy * w + xb]
                            .iter_mut()
                            .for_each(|v| *v += g);
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, window by window: the first maximum in row-major order, a NaN over any
    /// number and the last NaN over earlier ones.
    fn max_pool_by_definition(geo: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        let (h, w) = geo.in_hw;
        let (ho, wo) = geo.out_hw().unwrap();
        let (mut out, mut arg) = (Vec::new(), Vec::new());
        for x in x.chunks(h * w) {
            for oy in 0..ho {
                for ox in 0..wo {
                    let (mut best, mut at) = (f32::NEG_INFINITY, None);
                    for ky in 0..geo.kernel {
                        for kx in 0..geo.kernel {
                            let iy = (oy * geo.stride + ky).checked_sub(geo.padding);
                            let ix = (ox * geo.stride + kx).checked_sub(geo.padding);
                            let (Some(iy), Some(ix)) = (iy, ix) else {
                                continue;
                            };
                            if iy >= h || ix >= w {
                                continue;
                            }
                            let v = x[iy * w + ix];
                            at.get_or_insert(iy * w + ix);
                            if v > best || v.is_nan() {
                                (best, at) = (v, Some(iy * w + ix));
                            }
                        }
                    }
                    out.push(best);
                    arg.push(at.unwrap() as u32);
                }
            }
        }
        (out, arg)
    }

    #[test]
    fn max_pool_matches_definition_with_ties_nans_and_infinities() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (hw, kernel, stride, padding, ceil_mode) in [
            ((15, 15), 3, 2, 0, true),
            ((7, 7), 3, 2, 0, true),
            ((32, 32), 2, 2, 0, false),
            ((9, 11), 3, 2, 1, false),
            ((9, 11), 3, 2, 1, true),
            ((5, 6), 3, 1, 1, false),
            ((10, 13), 4, 3, 2, true),
            ((1, 1), 1, 1, 0, false),
            ((6, 5), 5, 4, 2, true),
        ] {
            let geo = PoolGeometry {
                planes: 3,
                in_hw: hw,
                kernel,
                stride,
                padding,
                ceil_mode,
            };
            // few distinct values (ties), some NaN, −∞ and +∞
            let x: Vec<f32> = (0..3 * hw.0 * hw.1)
                .map(|_| match next() % 16 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 => f32::INFINITY,
                    r => (r % 5) as f32 - 2.0,
                })
                .collect();
            let (out, arg) = max_pool_forward(&geo, &x);
            let (want, want_arg) = max_pool_by_definition(&geo, &x);
            assert_eq!(arg, want_arg, "{geo:?}");
            let same = |a: &f32, b: &f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            assert!(
                out.iter().zip(&want).all(|(a, b)| same(a, b)),
                "{geo:?}: {out:?} vs {want:?}"
            );
            // all −∞: the first index inside each window
            let x = vec![f32::NEG_INFINITY; x.len()];
            assert_eq!(
                max_pool_forward(&geo, &x),
                max_pool_by_definition(&geo, &x),
                "{geo:?}"
            );
        }
    }
}
