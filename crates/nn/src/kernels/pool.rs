//! Max- and average-pooling over NCHW planes (PyTorch's output-size rule, `ceil_mode` included).

use rayon::prelude::*;

use super::elementwise::zeros;

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

/// Max-pool forward: the output and, for each output, the flat in-plane index of its maximum.
pub fn max_pool_forward(geo: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (h, w) = geo.in_hw;
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut out = zeros(geo.planes * ho * wo);
    let mut arg = vec![0u32; geo.planes * ho * wo];
    out.par_chunks_mut(ho * wo)
        .zip(arg.par_chunks_mut(ho * wo))
        .zip(x.par_chunks(h * w))
        .for_each(|((out, arg), x)| {
            for oy in 0..ho {
                let y0 = (oy * geo.stride) as isize - geo.padding as isize;
                let (ya, yb) = (
                    y0.max(0) as usize,
                    ((y0 + geo.kernel as isize).min(h as isize)) as usize,
                );
                for ox in 0..wo {
                    let x0 = (ox * geo.stride) as isize - geo.padding as isize;
                    let (xa, xb) = (
                        x0.max(0) as usize,
                        ((x0 + geo.kernel as isize).min(w as isize)) as usize,
                    );
                    let mut best = f32::NEG_INFINITY;
                    let mut at = ya * w + xa;
                    for iy in ya..yb {
                        for ix in xa..xb {
                            let v = x[iy * w + ix];
                            if v > best || v.is_nan() {
                                best = v;
                                at = iy * w + ix;
                            }
                        }
                    }
                    out[oy * wo + ox] = best;
                    arg[oy * wo + ox] = at as u32;
                }
            }
        });
    (out, arg)
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
