//! The transforms of Winograd F(4×4, 3×3): each 4×4 block of outputs reads a 6×6 block of
//! input, so the 36 GEMMs of a layer do 2.25 multiply-adds per output and input-channel pair
//! instead of F(2×2, 3×3)'s 4 (and the direct sum's 9), and the transformed input is 2.25 times
//! the input instead of 4 times.
//!
//! The matrices (interpolation points 0, ±1, ±2 and ∞, as in Lavin & Gray):
//!
//! ```text
//!       ⎡4  0 −5  0  1  0⎤        ⎡ ¼     0     0 ⎤
//!       ⎢0 −4 −4  1  1  0⎥        ⎢−⅙    −⅙    −⅙ ⎥        ⎡1  1  1  1  1  0⎤
//! Bᵀ =  ⎢0  4 −4 −1  1  0⎥   G =  ⎢−⅙     ⅙    −⅙ ⎥   Aᵀ = ⎢0  1 −1  2 −2  0⎥
//!       ⎢0 −2 −1  2  1  0⎥        ⎢1/24  1/12  ⅙ ⎥        ⎢0  1  1  4  4  0⎥
//!       ⎢0  2 −1 −2  1  0⎥        ⎢1/24 −1/12  ⅙ ⎥        ⎣0  1 −1  8 −8  1⎦
//!       ⎣0  4  0 −5  0  1⎦        ⎣ 0     0     1 ⎦
//! ```
//!
//! Every sum below runs over all the terms of a row in a fixed order, zero coefficients
//! included: adding an exact zero changes no value, and one loop shape serves every row, so the
//! loops vectorise over contiguous runs of tiles.

use super::super::conv::ConvGeometry;
use super::super::simd::multiversioned;
use super::lanes::Value;
use super::tiles::{self, combine};
use super::Tile;

/// `Bᵀ` of F(4×4, 3×3).
pub(super) const BT: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G` of F(4×4, 3×3).
pub(super) const G: [[f32; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Aᵀ` of F(4×4, 3×3).
pub(super) const AT: [[f32; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Tiles of 4×4 outputs along the height and the width of the output.
fn tile_grid(geo: &ConvGeometry) -> (usize, usize) {
    Tile::F4.grid(geo)
}

/// `Σ_k d[k] · coef[k]` in order.
#[inline(always)]
fn dot<T: Value, const K: usize>(coef: &[f32; K], d: &[T; K]) -> T {
    let mut acc = d[0] * coef[0];
    for k in 1..K {
        acc = acc + d[k] * coef[k];
    }
    acc
}

/// `U_ξ = (G g Gᵀ)_ξ` of one 3×3 kernel `g` (row-major, `g(i, j) = g[3i + j]`), ξ = 6i + j (or of 16, in [`Lanes`](super::lanes::Lanes)).
#[inline(always)]
pub(super) fn kernel_transform<T: Value>(g: &[T; 9]) -> [T; 36] {
    // plain loops: closures (in `array::from_fn`) are compiled without the caller's target
    // features and were left as calls
    // G g: 6 × 3
    let mut gg = [[g[0]; 3]; 6];
    for (row, coef) in gg.iter_mut().zip(&G) {
        for (j, value) in row.iter_mut().enumerate() {
            *value = dot(coef, &[g[j], g[3 + j], g[6 + j]]);
        }
    }
    let mut u = [g[0]; 36];
    for (xi, value) in u.iter_mut().enumerate() {
        *value = dot(&G[xi % 6], &gg[xi / 6]);
    }
    u
}

/// `dg = Gᵀ dU G` of one kernel from its 36 values `du[ξ]`, as 3 × 3 row-major (or of 16, in
/// [`Lanes`](super::lanes::Lanes)). Plain loops, as [`kernel_transform`].
#[inline(always)]
pub(super) fn kernel_gradient<T: Value>(du: &[T; 36]) -> [T; 9] {
    // column k of G: g_col[k][i] = G[i][k]
    let mut g_col = [[0.0f32; 6]; 3];
    for (i, row) in G.iter().enumerate() {
        for (k, &value) in row.iter().enumerate() {
            g_col[k][i] = value;
        }
    }
    // (Gᵀ dU)_kj = Σ_i G[i][k] dU[i][j]: 3 × 6
    let mut gt = [[du[0]; 6]; 3];
    for (row, coef) in gt.iter_mut().zip(&g_col) {
        for (j, value) in row.iter_mut().enumerate() {
            let col = [
                du[j],
                du[6 + j],
                du[12 + j],
                du[18 + j],
                du[24 + j],
                du[30 + j],
            ];
            *value = dot(coef, &col);
        }
    }
    let mut dg = [du[0]; 9];
    for (at, value) in dg.iter_mut().enumerate() {
        *value = dot(&g_col[at % 3], &gt[at / 3]);
    }
    dg
}

multiversioned! {
    /// `V_ξ = (Bᵀ d B)_ξ` of the `ns` samples of `x` (`ns × C × H × W`): 36 matrices of
    /// `C × T` (see [`tiles::input_transform`]).
    pub(super) fn input_transform(geo: &ConvGeometry, x: &[f32], ns: usize, v: &mut [f32], ts: usize) {
        tiles::input_transform::<6, 4>(geo, x, ns, v, ts, &BT, Tile::F4);
    }
}

multiversioned! {
    /// `Y = Aᵀ M A` of every tile into `out` (`ns × O × Ho × Wo`), for `M` as 36 matrices of
    /// `O × T` (see [`tiles::output_transform`]).
    pub(super) fn output_transform(geo: &ConvGeometry, m: &[f32], ns: usize, out: &mut [f32]) {
        tiles::output_transform(geo, m, ns, out, &AT, Tile::F4);
    }
}

multiversioned! {
    /// `dM = A dY Aᵀ` of every tile of `dy` (`ns × O × Ho × Wo`; values past the output's edge
    /// count as zero): 36 matrices of `O × T`. One channel at a time, as [`input_transform`]:
    /// the 4×4 blocks gathered as 16 runs of `T`, then both passes over whole runs.
    pub(super) fn gradient_transform(geo: &ConvGeometry, dy: &[f32], ns: usize, dm: &mut [f32]) {
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let o = geo.out_channels;
        let (ty_n, tx_n) = tile_grid(geo);
        let tiles = ty_n * tx_n;
        let t_all = ns * tiles;
        // d[4a + b][t]: row a, column b of tile t's block (zero past the edge); rows past the
        // edge are never written
        let mut d = vec![0.0f32; 16 * t_all];
        // cols[4j + a][t] = Σ_b A[j][b] d[4a + b][t]
        let mut cols = vec![0.0f32; 24 * t_all];
        let mut line = vec![0.0f32; 4 * tx_n];
        for oc in 0..o {
            for n in 0..ns {
                let plane = &dy[(n * o + oc) * ho * wo..(n * o + oc + 1) * ho * wo];
                for (r, src) in plane.chunks_exact(wo).enumerate() {
                    line[..wo].copy_from_slice(src);
                    let (a, at) = (r % 4, n * tiles + (r / 4) * tx_n);
                    let rows = &mut d[4 * a * t_all..(4 * a + 4) * t_all];
                    tiles::deinterleave::<4>(&line, rows, t_all, at);
                }
            }
            for a in 0..4 {
                let da: [&[f32]; 4] = std::array::from_fn(|b| &d[(4 * a + b) * t_all..][..t_all]);
                for j in 0..6 {
                    let coef: [f32; 4] = AT.map(|row| row[j]);
                    combine(&mut cols[(4 * j + a) * t_all..][..t_all], da, coef);
                }
            }
            for j in 0..6 {
                let cj: [&[f32]; 4] = std::array::from_fn(|a| &cols[(4 * j + a) * t_all..][..t_all]);
                for i in 0..6 {
                    let coef: [f32; 4] = AT.map(|row| row[i]);
                    let at = ((6 * i + j) * o + oc) * t_all;
                    combine(&mut dm[at..at + t_all], cj, coef);
                }
            }
        }
    }
}
