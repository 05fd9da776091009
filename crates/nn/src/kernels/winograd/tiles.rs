//! The input and output transforms of Winograd F(m×m, 3×3), generic over the tile: `S = m + 2`
//! inputs and `M = m` outputs along a side. One channel at a time, all the task's samples
//! together, so that every loop runs over a whole run of the task's tiles (`T = ns · tiles`).
//! F(4×4, 3×3) uses them, and F(2×2, 3×3) on maps of 2 tiles a row; on wider maps F(2×2) has
//! transforms of its own, one plane at a time with even and odd columns split (with these, its
//! 8×8 layers ran 7–20 % slower: the strided gather of 4 tiles a row).
//!
//! Every sum runs over the terms of a row of the matrix in order, its zero coefficients skipped:
//! adding an exact zero changes no value, not even the sign of a zero result, since a sum starts
//! from its first non-zero term.

use super::super::conv::ConvGeometry;
use super::Tile;

/// `dst[t] = Σ_k coef[k] · src[k][t]` over the non-zero coefficients in order `k = 0, 1, …`,
/// one pass over `dst` per term (each a plain vector loop). All zero: `dst` is zeros.
#[inline(always)]
pub(super) fn combine<const K: usize>(dst: &mut [f32], src: [&[f32]; K], coef: [f32; K]) {
    let n = dst.len();
    let Some(first) = coef.iter().position(|&c| c != 0.0) else {
        dst.fill(0.0);
        return;
    };
    let c0 = coef[first];
    if c0 == 1.0 {
        dst.copy_from_slice(&src[first][..n]);
    } else {
        dst.iter_mut()
            .zip(&src[first][..n])
            .for_each(|(d, &s)| *d = c0 * s);
    }
    for k in first + 1..K {
        let c = coef[k];
        if c == 0.0 {
            continue;
        }
        dst.iter_mut()
            .zip(&src[k][..n])
            .for_each(|(d, &s)| *d += c * s);
    }
}

/// `rows[k · stride + at + t] = src[M · t + k]` for `k < M`, `t < src.len() / M`: the `M` phases
/// of `src`, each written as a run at `at` of its row of `rows` (rows `stride` apart).
#[inline(always)]
pub(super) fn deinterleave<const M: usize>(
    src: &[f32],
    rows: &mut [f32],
    stride: usize,
    at: usize,
) {
    let (groups, _) = src.as_chunks::<M>();
    for (k, row) in rows.chunks_exact_mut(stride).take(M).enumerate() {
        for (value, group) in row[at..at + groups.len()].iter_mut().zip(groups) {
            *value = group[k];
        }
    }
}

/// `V_ξ = (Bᵀ d B)_ξ` of the `ns` samples of `x` (`ns × C × H × W`) with the `S × S` matrix
/// `bt` (`Bᵀ`), tiles `M = S − 2` apart: `S²` matrices of `C × T`, `T = ns · tiles`, tile
/// `t = (n · tiles_y + ty) · tiles_x + tx`, at `v[(ξ · C + c) · ts + t]` (rows of `ts ≥ T`
/// values, of which the first `T` are written: a block's columns of a longer row). The `S × S` blocks of
/// a channel's tiles are first gathered as `S²` runs of `T` (`d[S·i + k][t]`: row `i`, column `k`
/// of tile `t`), then transformed along the rows and down the columns.
#[inline(always)]
pub(super) fn input_transform<const S: usize, const M: usize>(
    geo: &ConvGeometry,
    x: &[f32],
    ns: usize,
    v: &mut [f32],
    ts: usize,
    bt: &[[f32; S]; S],
    tile: Tile,
) {
    let m = M;
    debug_assert_eq!(tile.out_side(), M);
    debug_assert_eq!(M + 2, S);
    let (h, w) = geo.in_hw;
    let c = geo.in_channels;
    let (ty_n, tx_n) = tile.grid(geo);
    let tiles = ty_n * tx_n;
    let t_all = ns * tiles;
    let p = geo.padding;
    let hp = m * ty_n + 2;
    // one padded row: the border stays zero, only [p, p + w) is written
    let mut line = vec![0.0f32; m * tx_n + 2];
    debug_assert!(h + p <= hp && w + p <= line.len());
    let mut d = vec![0.0f32; S * S * t_all];
    let mut rows = vec![0.0f32; S * S * t_all];
    for ch in 0..c {
        for n in 0..ns {
            let plane = &x[(n * c + ch) * h * w..(n * c + ch + 1) * h * w];
            for r in 0..hp {
                let inside = r >= p && r - p < h;
                if inside {
                    line[p..p + w].copy_from_slice(&plane[(r - p) * w..(r - p + 1) * w]);
                } else {
                    line.fill(0.0);
                }
                // the tiles reading padded row r: as their row r mod M (tile row r div M) and,
                // for the first two rows of a block, as row r mod M + M of the tile row above
                let targets = [
                    (r / m < ty_n).then_some((r % m, r / m)),
                    (r % m < 2 && r >= m).then(|| (r % m + m, r / m - 1)),
                ];
                for &(i, ty) in targets.iter().flatten() {
                    let at = n * tiles + ty * tx_n;
                    // columns k < M: the line's M phases, split in one pass (a vector
                    // deinterleave); columns k ≥ M: phase k − M one tile on
                    let rows = &mut d[S * i * t_all..(S * i + S) * t_all];
                    let (lead, rest) = rows.split_at_mut(M * t_all);
                    deinterleave::<M>(&line[..M * tx_n], lead, t_all, at);
                    for k in M..S {
                        let src = &lead[(k - M) * t_all + at..][..tx_n];
                        let dst = &mut rest[(k - M) * t_all + at..][..tx_n];
                        for (value, &next) in dst.iter_mut().zip(&src[1..]) {
                            *value = next;
                        }
                        dst[tx_n - 1] = line[M * tx_n + k - M];
                    }
                }
                if !inside {
                    line.fill(0.0);
                }
            }
        }
        // along the rows: rows[S·i + j] = Σ_k Bᵀ[j][k] d[S·i + k]
        for i in 0..S {
            let di: [&[f32]; S] = std::array::from_fn(|k| &d[(S * i + k) * t_all..][..t_all]);
            for (j, b) in bt.iter().enumerate() {
                combine(&mut rows[(S * i + j) * t_all..][..t_all], di, *b);
            }
        }
        // down the columns: v[S·i + j] = Σ_k Bᵀ[i][k] rows[S·k + j]
        for j in 0..S {
            let e: [&[f32]; S] = std::array::from_fn(|k| &rows[(S * k + j) * t_all..][..t_all]);
            for (i, b) in bt.iter().enumerate() {
                let at = ((S * i + j) * c + ch) * ts;
                combine(&mut v[at..at + t_all], e, *b);
            }
        }
    }
}

/// `Y = Aᵀ M A` of every tile into `out` (`ns × O × Ho × Wo`), for `M` as `S²` matrices of
/// `O × T` and `at` (`Aᵀ`, `M × S` given as `S`-wide rows, its first `tile.out_side()` used).
/// One channel at a time, all its samples together.
#[inline(always)]
pub(super) fn output_transform<const S: usize, const M: usize>(
    geo: &ConvGeometry,
    m: &[f32],
    ns: usize,
    out: &mut [f32],
    at: &[[f32; S]; M],
    tile: Tile,
) {
    debug_assert_eq!(tile.out_side(), M);
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let o = geo.out_channels;
    let (ty_n, tx_n) = tile.grid(geo);
    let tiles = ty_n * tx_n;
    let t_all = ns * tiles;
    // q[a][j][t] = Σ_i Aᵀ[a][i] m[i][j][t]; y[a][b][t] = Σ_j q[a][j][t] Aᵀ[b][j]
    let mut q = vec![0.0f32; M * S * t_all];
    let mut y = vec![0.0f32; M * M * t_all];
    let full = wo / M;
    for oc in 0..o {
        for j in 0..S {
            let mi: [&[f32]; S] =
                std::array::from_fn(|i| &m[((S * i + j) * o + oc) * t_all..][..t_all]);
            for (a, row) in at.iter().enumerate() {
                combine(&mut q[(S * a + j) * t_all..][..t_all], mi, *row);
            }
        }
        for a in 0..M {
            let qa: [&[f32]; S] = std::array::from_fn(|j| &q[(S * a + j) * t_all..][..t_all]);
            for (b, row) in at.iter().enumerate() {
                combine(&mut y[(M * a + b) * t_all..][..t_all], qa, *row);
            }
        }
        for n in 0..ns {
            let plane = &mut out[(n * o + oc) * ho * wo..(n * o + oc + 1) * ho * wo];
            for (row, line) in plane.chunks_exact_mut(wo).enumerate() {
                let (ty, a) = (row / M, row % M);
                let yb: [&[f32]; M] = std::array::from_fn(|b| {
                    &y[(M * a + b) * t_all + n * tiles + ty * tx_n..][..tx_n]
                });
                // the M runs interleaved a whole tile at a time (shuffles and full stores; a
                // strided loop per run compiles to scatters)
                for (tx, group) in line[..M * full].chunks_exact_mut(M).enumerate() {
                    group.copy_from_slice(&std::array::from_fn::<f32, M, _>(|b| yb[b][tx]));
                }
                for (b, value) in line[M * full..].iter_mut().enumerate() {
                    *value = yb[b][full];
                }
            }
        }
    }
}
