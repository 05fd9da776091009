//! The error bound of a Winograd layer, value by value: the same computation with every
//! coefficient and value replaced by its absolute value, in f64.
//!
//! Standard forward error analysis (Higham, *Accuracy and Stability of Numerical Algorithms*,
//! §3.1, applied to Winograd by Barabasz et al., 2020): a sum of `k` products computed in
//! floating point is within `γ_k · Σ |terms|` of the exact sum, `γ_k = k u / (1 − k u)`, and an
//! error carried through a later linear map grows at most as its absolute value does. Every
//! value the layer computes is a chain of such sums (input transform, kernel transform, the
//! element-wise product, the GEMM's sum over the depth, output transform), so
//!
//! ```text
//! |computed − exact| ≤ γ_N · K,   K = |Aᵀ| [ Σ_c (|G| |g| |Gᵀ|) ⊙ (|Bᵀ| |d| |B|) ] |A|
//! ```
//!
//! with `N` the number of roundings along the longest chain: the depth of the GEMM's sum plus
//! at most `α` (the tile's input side) for each one-dimensional pass of a transform and a few
//! for the kernel transform's coefficients (⅙ and 1/12 are not exact in f32). The weight
//! gradient is the adjoint chain, `K = |Gᵀ| [ Σ_tiles (|A| |dY| |Aᵀ|) ⊙ (|Bᵀ| |d| |B|) ] |G|`.
//!
//! Unlike a bound from the norms of the matrices alone (which for F(4×4, 3×3) exceeds the value
//! itself at the zoo's depths), `K` follows the data, so the check stays tight enough to catch a
//! wrong transform (see the tests of `winograd.rs`).

use super::super::conv::ConvGeometry;
use super::{f4, Tile};

/// A small dense matrix in f64, row by row.
type Mat = Vec<Vec<f64>>;

/// `(Bᵀ, G, Aᵀ)` of `tile`, entry by entry in absolute value.
fn matrices(tile: Tile) -> (Mat, Mat, Mat) {
    let abs = |rows: &[&[f32]]| -> Mat {
        rows.iter()
            .map(|r| r.iter().map(|v| f64::from(v.abs())).collect())
            .collect()
    };
    match tile {
        Tile::F2 => (
            abs(&[
                &[1.0, 0.0, -1.0, 0.0],
                &[0.0, 1.0, 1.0, 0.0],
                &[0.0, -1.0, 1.0, 0.0],
                &[0.0, 1.0, 0.0, -1.0],
            ]),
            abs(&[
                &[1.0, 0.0, 0.0],
                &[0.5, 0.5, 0.5],
                &[0.5, -0.5, 0.5],
                &[0.0, 0.0, 1.0],
            ]),
            abs(&[&[1.0, 1.0, 1.0, 0.0], &[0.0, 1.0, -1.0, -1.0]]),
        ),
        Tile::F4 => (
            abs(&f4::BT.iter().map(|r| &r[..]).collect::<Vec<_>>()),
            abs(&f4::G.iter().map(|r| &r[..]).collect::<Vec<_>>()),
            abs(&f4::AT.iter().map(|r| &r[..]).collect::<Vec<_>>()),
        ),
    }
}

fn transpose(m: &Mat) -> Mat {
    (0..m[0].len())
        .map(|j| m.iter().map(|r| r[j]).collect())
        .collect()
}

/// `L X Rᵀ` for non-negative `L`, `X` and `R`.
fn sandwich(l: &Mat, x: &Mat, r: &Mat) -> Mat {
    let lx: Mat = l
        .iter()
        .map(|li| {
            (0..x[0].len())
                .map(|j| li.iter().zip(x).map(|(a, xr)| a * xr[j]).sum())
                .collect()
        })
        .collect();
    lx.iter()
        .map(|row| {
            r.iter()
                .map(|rj| row.iter().zip(rj).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect()
}

/// `γ_N` for `N = depth + 6α + 16` roundings (the count of the module's comment, rounded up).
fn gamma(depth: usize, tile: Tile) -> f64 {
    let n = (depth + 6 * tile.side() + 16) as f64;
    let u = f64::from(f32::EPSILON) / 2.0;
    1.01 * n * u / (1.0 - n * u)
}

/// The `α × α` block of plane `plane` (`h × w`) at padded position `(y0, x0)` (padding `p`;
/// outside the plane: zero), in absolute value.
fn patch(plane: &[f32], (h, w): (usize, usize), p: usize, y0: usize, x0: usize, a: usize) -> Mat {
    (0..a)
        .map(|i| {
            (0..a)
                .map(|j| {
                    let (y, x) = ((y0 + i).checked_sub(p), (x0 + j).checked_sub(p));
                    match (y, x) {
                        (Some(y), Some(x)) if y < h && x < w => f64::from(plane[y * w + x].abs()),
                        _ => 0.0,
                    }
                })
                .collect()
        })
        .collect()
}

/// The bound of every output value of the forward pass of `geo` by `tile` (`N × O × Ho × Wo`),
/// for input `x` and weights `weight` (`O × C × 3 × 3`).
pub(super) fn forward_bound(geo: &ConvGeometry, tile: Tile, x: &[f32], weight: &[f32]) -> Vec<f64> {
    let (bt, g, at) = matrices(tile);
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let (c, o, (h, w)) = (geo.in_channels, geo.out_channels, geo.in_hw);
    let (m, a) = (tile.out_side(), tile.side());
    let (ty_n, tx_n) = tile.grid(geo);
    // |G| |g| |Gᵀ| of every kernel
    let u: Vec<Mat> = weight
        .chunks_exact(9)
        .map(|k| {
            let k: Mat = (0..3)
                .map(|i| (0..3).map(|j| f64::from(k[i * 3 + j].abs())).collect())
                .collect();
            sandwich(&g, &k, &g)
        })
        .collect();
    let gamma = gamma(c, tile);
    let mut bound = vec![0.0f64; geo.batch * o * ho * wo];
    for n in 0..geo.batch {
        for ty in 0..ty_n {
            for tx in 0..tx_n {
                let v: Vec<Mat> = (0..c)
                    .map(|ch| {
                        let plane = &x[(n * c + ch) * h * w..(n * c + ch + 1) * h * w];
                        let d = patch(plane, (h, w), geo.padding, m * ty, m * tx, a);
                        sandwich(&bt, &d, &bt)
                    })
                    .collect();
                for oc in 0..o {
                    let mut acc: Mat = vec![vec![0.0; a]; a];
                    for (ch, vc) in v.iter().enumerate() {
                        let uk = &u[oc * c + ch];
                        for i in 0..a {
                            for j in 0..a {
                                acc[i][j] += uk[i][j] * vc[i][j];
                            }
                        }
                    }
                    let y = sandwich(&at, &acc, &at);
                    for (i, row) in y.iter().enumerate() {
                        for (j, &val) in row.iter().enumerate() {
                            let (oy, ox) = (m * ty + i, m * tx + j);
                            if oy < ho && ox < wo {
                                bound[((n * o + oc) * ho + oy) * wo + ox] = gamma * val;
                            }
                        }
                    }
                }
            }
        }
    }
    bound
}

/// The bound of every value of the input gradient of `geo` by `tile` for output gradient `dy`:
/// the forward bound of the turned, channel-swapped convolution the kernels run.
pub(super) fn input_gradient_bound(
    geo: &ConvGeometry,
    tile: Tile,
    weight: &[f32],
    dy: &[f32],
) -> Vec<f64> {
    let (c, o) = (geo.in_channels, geo.out_channels);
    let flipped = ConvGeometry {
        in_channels: o,
        out_channels: c,
        in_hw: geo.out_hw().expect("checked geometry"),
        padding: 2 - geo.padding,
        ..*geo
    };
    let mut turned = vec![0.0f32; weight.len()];
    for oc in 0..o {
        for ch in 0..c {
            for i in 0..3 {
                for j in 0..3 {
                    turned[(ch * o + oc) * 9 + (2 - i) * 3 + (2 - j)] =
                        weight[(oc * c + ch) * 9 + i * 3 + j];
                }
            }
        }
    }
    forward_bound(&flipped, tile, dy, &turned)
}

/// The bound of every value of the weight gradient of `geo` by `tile` (`O × C × 3 × 3`).
pub(super) fn weight_gradient_bound(
    geo: &ConvGeometry,
    tile: Tile,
    x: &[f32],
    dy: &[f32],
) -> Vec<f64> {
    let (bt, g, at) = matrices(tile);
    let (a_mat, gt) = (transpose(&at), transpose(&g));
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let (c, o, (h, w)) = (geo.in_channels, geo.out_channels, geo.in_hw);
    let (m, a) = (tile.out_side(), tile.side());
    let (ty_n, tx_n) = tile.grid(geo);
    let mut sums: Vec<Mat> = vec![vec![vec![0.0; a]; a]; o * c];
    for n in 0..geo.batch {
        for ty in 0..ty_n {
            for tx in 0..tx_n {
                let v: Vec<Mat> = (0..c)
                    .map(|ch| {
                        let plane = &x[(n * c + ch) * h * w..(n * c + ch + 1) * h * w];
                        let d = patch(plane, (h, w), geo.padding, m * ty, m * tx, a);
                        sandwich(&bt, &d, &bt)
                    })
                    .collect();
                for oc in 0..o {
                    let plane = &dy[(n * o + oc) * ho * wo..(n * o + oc + 1) * ho * wo];
                    // the m × m block of the output gradient (zero past the edge)
                    let d = patch(plane, (ho, wo), 0, m * ty, m * tx, m);
                    let dm = sandwich(&a_mat, &d, &a_mat);
                    for (ch, vc) in v.iter().enumerate() {
                        let s = &mut sums[oc * c + ch];
                        for i in 0..a {
                            for j in 0..a {
                                s[i][j] += dm[i][j] * vc[i][j];
                            }
                        }
                    }
                }
            }
        }
    }
    let gamma = gamma(geo.batch * ty_n * tx_n, tile);
    sums.iter()
        .flat_map(|s| sandwich(&gt, s, &gt).into_iter().flatten())
        .map(|v| gamma * v)
        .collect()
}
