//! Winograd convolution for 3×3, stride-1 layers (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", CVPR 2016), with tiles of 2×2 or 4×4 outputs ([`Tile`]): the
//! forward pass, the input gradient and the weight gradient, each as 16 (or 36) GEMMs on
//! transformed tiles instead of one im2col GEMM of nine times the depth, so 2.25 (or 4) times
//! fewer multiply-adds and no im2col or col2im copies.
//!
//! With F(2×2, 3×3) each 2×2 block of outputs ("tile") reads a 4×4 block of input `d`; with the
//! weights `g` (3×3) the tile is `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` where
//!
//! ```text
//!       ⎡1  0 −1  0⎤        ⎡1    0    0 ⎤
//! Bᵀ =  ⎢0  1  1  0⎥   G =  ⎢½    ½    ½ ⎥   Aᵀ = ⎡1  1  1  0⎤
//!       ⎢0 −1  1  0⎥        ⎢½   −½    ½ ⎥        ⎣0  1 −1 −1⎦
//!       ⎣0  1  0 −1⎦        ⎣0    0    1 ⎦
//! ```
//!
//! F(4×4, 3×3) (`f4.rs`, its matrices there) reads 6×6 blocks for 4×4 outputs. Summed over
//! input channels, the element-wise product becomes, for each position ξ of the transformed tile,
//! a matrix product `M_ξ (O × tiles) = U_ξ (O × C) · V_ξ (C × tiles)`. The input gradient is the
//! same algorithm on the output gradient with the weights turned by 180° and their channels
//! swapped (padding `2 − p`). The weight gradient is its adjoint: `dM = A dY Aᵀ` per tile,
//! `dU_ξ = dM_ξ · V_ξᵀ` (depth: the tiles), `dg = Gᵀ dU G`.
//!
//! Accuracy: F(2×2, 3×3)'s coefficients are 0, ±½ and ±1, so it rounds about as well as the
//! direct sum; F(4×4, 3×3)'s (up to 8 in `Aᵀ`, ⅙ in `G`) lose more, in proportion to the data.
//! The tests hold every 3×3 layer shape of the zoo, with both tiles, to the value-by-value bound
//! of [`check_against_definition`] (and F(2×2, 3×3) also to the data-free [`error_bound`]).
//!
//! Parallelism and determinism: as the im2col path, the batch is cut into tasks by the shapes
//! alone and weight-gradient partials are added in task order, so results do not depend on the
//! number of threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::conv::{per_chunk, sum_in_order, with_scratch, ConvAlgorithm, ConvGeometry, SUM_CHUNK};
use super::elementwise::zeros;
use super::gemm::{sgemm, MatMut, MatRef};
use super::simd::multiversioned;
use super::spare::SpareBuffer;

mod bound;
mod f4;
mod lanes;
mod tiles;

use lanes::{Lanes, Value, LANES};

/// Channels (in and out) below which a 3×3 layer keeps im2col: the GEMMs of Winograd have
/// depth `C` (forward) or `O` (input gradient), and below this they run far from full speed
/// while im2col's depth is nine times larger (the first layer of an RGB network has C = 3).
/// 32 rather than 16 since SqueezeNet's 16→64 expand layers on 7×7 maps ran 13 % faster as a
/// whole network with im2col (4 alternating rounds of `majmin bench --arch squeezenet`).
const MIN_CHANNELS: usize = 32;

/// The smallest output side run with Winograd (forward pass and input gradient). A 4×4 map has
/// only 4 tiles a sample, but with the weights transformed in parallel Winograd is still ahead of
/// im2col there (measured with `majmin bench --kernel` at batch 64 on 2 threads, 512→512 at 4×4:
/// forward 259–292 against 225–237 GFLOP/s); on 2×2 maps (1 tile) im2col is faster.
const MIN_SIDE: usize = 4;

/// The smallest output side whose backward pass runs with Winograd; below it both gradients take
/// the im2col path (which shares one im2col between them). It was 8 while the F(2×2, 3×3)
/// transforms ran plane by plane (on 4×4 maps the backward pass then ran at 169–171 against
/// im2col's 190–208 GFLOP/s); with the transforms over whole runs ([`MAX_TILES_ACROSS_FOR_RUNS`]),
/// 512→512 at 4×4 runs its backward pass at 277–302 against 244–267 (`majmin bench --kernel`,
/// 3 runs each), so now the same side as the forward pass.
const MIN_SIDE_BACKWARD: usize = 4;

/// The fewest tiles (batch × tiles a sample) run with Winograd. The weights are transformed
/// on every call (16 · O · C values written, for ResNet-18 about 80 MB a pass), whatever the
/// batch; with fewer tiles than this the transform costs more than the GEMMs save (measured: a
/// resnet18 step at batch 1 ran at 0.28 of PyTorch with Winograd on every layer).
const MIN_TILES: usize = 64;

/// The tile of a Winograd layer: F(2×2, 3×3) (4×4 inputs a tile, 16 GEMMs) or F(4×4, 3×3)
/// (6×6 inputs, 36 GEMMs; see `f4.rs` for its matrices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    /// 2×2 outputs a tile.
    F2,
    /// 4×4 outputs a tile.
    F4,
}

impl Tile {
    /// Outputs along a side of a tile (2 or 4).
    pub fn out_side(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Inputs along a side of a tile (4 or 6).
    pub fn side(self) -> usize {
        self.out_side() + 2
    }

    /// Positions of a transformed tile, one GEMM each (16 or 36).
    pub fn positions(self) -> usize {
        self.side() * self.side()
    }

    /// Samples per parallel task: as many as give the im2col path's task its columns, in
    /// tiles of F(2×2, 3×3) (so F(4×4, 3×3), with 4 times fewer tiles a sample, takes
    /// `F4_TASK_SCALE` times the samples, for GEMMs as wide).
    fn samples_per_task(self, geo: &ConvGeometry) -> usize {
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let ns = geo.samples_per_task(ho * wo);
        match self {
            Tile::F2 => ns,
            Tile::F4 => ns * F4_TASK_SCALE,
        }
    }

    /// Samples per block of a task of `ns` samples ([`forward_with`]): the fewest that give
    /// [`MIN_BLOCK_TILES`] tiles, more while the block's transformed input and products (all
    /// positions, input and output channels) stay within [`BLOCK_BYTES`]; as even as `ns`
    /// allows. From the shapes alone, like the tasks.
    fn samples_per_block(self, geo: &ConvGeometry, ns: usize) -> usize {
        let (ty_n, tx_n) = self.grid(geo);
        let tiles = (ty_n * tx_n).max(1);
        let per_sample = self.positions()
            * (geo.in_channels + geo.out_channels)
            * tiles
            * std::mem::size_of::<f32>();
        let nb = MIN_BLOCK_TILES
            .div_ceil(tiles)
            .max(BLOCK_BYTES / per_sample.max(1))
            .clamp(1, ns.max(1));
        ns.div_ceil(ns.div_ceil(nb))
    }

    /// Tiles along the height and the width of `geo`'s output.
    fn grid(self, geo: &ConvGeometry) -> (usize, usize) {
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        (ho.div_ceil(self.out_side()), wo.div_ceil(self.out_side()))
    }
}

/// Tiles a block of [`Tile::samples_per_block`] holds at least: narrower GEMMs run below full
/// speed, and each GEMM call has a cost of its own. `majmin bench --kernel`, two runs each, forward
/// GFLOP/s of ResNet's 64→64 F(4×4) at 32×32 and 128→128 at 16×16: 64 tiles 241–288 and
/// 368–404, 128 tiles 254–274 and 425–435, 256 tiles 269–295 and 382–465, no blocks 210–263 and
/// 348–355. On whole networks the blocks are within the noise (resnet18 1.09 and 0.98 in two
/// 5-round A/Bs against no blocks).
const MIN_BLOCK_TILES: usize = 128;

/// Bytes of transformed input and products a block of [`Tile::samples_per_block`] holds at
/// most, when [`MIN_BLOCK_TILES`] allows: about half of the L2 cache of a core.
const BLOCK_BYTES: usize = 1 << 20;

/// How many times F(2×2, 3×3)'s samples a task of F(4×4, 3×3) takes.
const F4_TASK_SCALE: usize = 4;

/// The smallest output side run with F(4×4, 3×3) rather than F(2×2, 3×3). On 8×8 maps
/// F(2×2) is the faster (`majmin bench --kernel`, 5 runs at 64dd316: 256 channels forward
/// 401–457 GFLOP/s against 298–374, backward 342–390 against 254–332; vgg19 +2.5 %, resnet18
/// +1.5 % over 4 alternating rounds); from 16×16 on, F(4×4) is as fast or faster.
const MIN_SIDE_F4: usize = 16;

/// The tile [`conv2d_forward`](super::conv2d_forward) and
/// [`conv2d_backward`](super::conv2d_backward) use on a layer where [`applies`] holds:
/// F(4×4, 3×3) on outputs of 16×16 and more, F(2×2, 3×3) below.
pub fn tile_for(geo: &ConvGeometry) -> Tile {
    match geo.out_hw() {
        Some((h, w)) if h.min(w) >= MIN_SIDE_F4 => Tile::F4,
        _ => Tile::F2,
    }
}

/// Whether [`conv2d_forward`](super::conv2d_forward) and
/// [`conv2d_backward`](super::conv2d_backward) run this layer with Winograd (with the tile of
/// [`tile_for`]): a 3×3 kernel, stride 1, no dilation, one group, padding 0 to 2, at least 32
/// input and output channels, an output of at least 4×4, and at
/// least 64 tiles of 2×2 outputs in the batch.
pub fn applies(geo: &ConvGeometry) -> bool {
    supports(geo)
        && geo.in_channels >= MIN_CHANNELS
        && geo.out_channels >= MIN_CHANNELS
        && geo.out_hw().is_some_and(|(h, w)| {
            h >= MIN_SIDE && w >= MIN_SIDE && geo.batch * h.div_ceil(2) * w.div_ceil(2) >= MIN_TILES
        })
}

/// Whether Winograd (either tile) computes this layer at all (whether it is also the faster choice
/// is [`applies`]): a 3×3 kernel, stride 1, no dilation, one group, padding 0 to 2 (the input
/// gradient runs with padding 2 − p), and a non-empty output.
pub fn supports(geo: &ConvGeometry) -> bool {
    geo.kernel == 3
        && geo.stride == 1
        && geo.dilation == 1
        && geo.groups == 1
        && geo.padding <= 2
        && geo.out_hw().is_some_and(|(h, w)| h > 0 && w > 0)
}

/// Whether [`conv2d_backward`](super::conv2d_backward) runs this layer's gradients with
/// Winograd: [`applies`] and an output of at least 4×4 (which [`applies`] already asks).
pub fn backward_applies(geo: &ConvGeometry) -> bool {
    applies(geo)
        && geo
            .out_hw()
            .is_some_and(|(h, w)| h.min(w) >= MIN_SIDE_BACKWARD)
}

/// The error bound the tests hold Winograd F(2×2, 3×3) to, for one output value (or one value
/// of a gradient) whose exact value is a sum of products `Σ aᵢ bᵢ` over a depth of `terms`
/// products: `|computed − exact| ≤ 81 · (terms + 9) · ε · Σ |aᵢ| |bᵢ|`, with ε = 2⁻²⁴ the unit
/// round-off of f32.
///
/// Why: the direct sum is within `terms · ε · Σ|aᵢ||bᵢ|` (the classical dot-product bound). In
/// the Winograd form every product is carried through the three transforms, whose rows have
/// absolute sums of at most 2 (`Bᵀ`), 3/2 (`G`) and 3 (`Aᵀ`); in two dimensions each appears
/// twice, so the magnitudes the rounding acts on are at most (2 · 3/2 · 3)² = 81 times
/// `Σ|aᵢ||bᵢ|`, and each transform adds at most three roundings per dimension (the 9).
pub fn error_bound(terms: usize, magnitude: f64) -> f64 {
    81.0 * (terms as f64 + 9.0) * f64::from(f32::EPSILON) / 2.0 * magnitude
}

/// Tiles of F(2×2, 3×3) along the height and the width of the output.
fn tile_grid(geo: &ConvGeometry) -> (usize, usize) {
    Tile::F2.grid(geo)
}

/// `U_ξ = (G g Gᵀ)_ξ` for every output channel `o` and input channel `c`, as `rows × 16 ×
/// cols` values: row `r` holds the 16 transformed kernels of its `cols` columns, ξ by ξ, so that
/// `U_ξ` is the `rows × cols` view at offset `ξ · cols` with row stride `16 · cols` ([`u_view`]).
/// `rows × cols` is `O × C` when `swap` is false, and `C × O` with each kernel turned by 180°
/// when it is true (the input gradient's weights). Rows are computed in parallel.
fn weight_transform(weight: &[f32], o: usize, c: usize, swap: bool, tile: Tile) -> SpareBuffer {
    let cols = if swap { o } else { c };
    let positions = tile.positions();
    // every value is written below
    let mut u = SpareBuffer::take(positions * o * c);
    u.par_chunks_mut(positions * cols)
        .enumerate()
        .for_each(|(r, row)| weight_transform_row(weight, c, swap, tile, r, row));
    u
}

multiversioned! {
    /// Row `r` of [`weight_transform`], 16 kernels at a time (one per vector lane).
    fn weight_transform_row(
        weight: &[f32],
        c: usize,
        swap: bool,
        tile: Tile,
        r: usize,
        row: &mut [f32],
    ) {
        let cols = row.len() / tile.positions();
        // the row's kernels tap by tap: tap t of column j at `t · cols + j`, turned by 180°
        // (tap 8 − t) when swapped, so that a tap of 16 lanes is one contiguous load. (Each
        // lane's kernel copied into a small array and read back as vectors right after stalled
        // on store forwarding: half of this function's time.)
        let mut tap_major = vec![0.0f32; 9 * cols];
        for j in 0..cols {
            let (oc, ic) = if swap { (j, r) } else { (r, j) };
            let kernel = &weight[(oc * c + ic) * 9..][..9];
            for (t, &value) in kernel.iter().enumerate() {
                let t = if swap { 8 - t } else { t };
                tap_major[t * cols + j] = value;
            }
        }
        for col0 in (0..cols).step_by(LANES) {
            let lanes = LANES.min(cols - col0);
            // tap 3i + j of every lane
            let mut taps = [Lanes([0.0; LANES]); 9];
            for (t, tap) in taps.iter_mut().enumerate() {
                *tap = Lanes::load(&tap_major[t * cols + col0..][..lanes]);
            }
            let u = match tile {
                Tile::F2 => &kernel_transform(&taps)[..],
                Tile::F4 => &f4::kernel_transform(&taps)[..],
            };
            for (xi, v) in u.iter().enumerate() {
                v.store(&mut row[xi * cols + col0..][..lanes]);
            }
        }
    }
}

/// `U_ξ = (G g Gᵀ)_ξ` of one 3×3 kernel `g` (row-major, `g(i, j) = g[3i + j]`) for F(2×2, 3×3),
/// ξ = 4i + j (or of 16, in [`Lanes`]). Plain code: closures are compiled without the caller's
/// target features and were left as calls.
#[inline(always)]
fn kernel_transform<T: Value>(g: &[T; 9]) -> [T; 16] {
    // G g: 4 × 3, as its 3 columns
    let columns = [
        g_times(g[0], g[3], g[6]),
        g_times(g[1], g[4], g[7]),
        g_times(g[2], g[5], g[8]),
    ];
    let mut u = [g[0]; 16];
    for (i, row) in u.chunks_exact_mut(4).enumerate() {
        row.copy_from_slice(&g_times(columns[0][i], columns[1][i], columns[2][i]));
    }
    u
}

/// `G (a, b, d)ᵀ` for F(2×2, 3×3)'s `G`.
#[inline(always)]
fn g_times<T: Value>(a: T, b: T, d: T) -> [T; 4] {
    [a, (a + b + d) * 0.5, (a - b + d) * 0.5, d]
}

/// `dg = Gᵀ dU G` of one kernel from its 16 values `du[ξ]` for F(2×2, 3×3), as 3 × 3 row-major
/// (or of 16, in [`Lanes`]). Plain code, as [`kernel_transform`].
#[inline(always)]
fn kernel_gradient<T: Value>(du: &[T; 16]) -> [T; 9] {
    // columns first: cols[j][k] = (Gᵀ dU)_kj
    let mut cols = [[du[0]; 3]; 4];
    for (j, col) in cols.iter_mut().enumerate() {
        *col = g_transposed_times([du[j], du[4 + j], du[8 + j], du[12 + j]]);
    }
    let mut dg = [du[0]; 9];
    for (k, row) in dg.chunks_exact_mut(3).enumerate() {
        row.copy_from_slice(&g_transposed_times([
            cols[0][k], cols[1][k], cols[2][k], cols[3][k],
        ]));
    }
    dg
}

/// `Gᵀ x` for F(2×2, 3×3)'s `G`: `(x0 + ½x1 + ½x2, ½x1 − ½x2, ½x1 + ½x2 + x3)`.
#[inline(always)]
fn g_transposed_times<T: Value>(x: [T; 4]) -> [T; 3] {
    let (h1, h2) = (x[1] * 0.5, x[2] * 0.5);
    [x[0] + h1 + h2, h1 - h2, h1 + h2 + x[3]]
}

/// `U_ξ` of [`weight_transform`]'s output: `rows × cols` at offset `ξ · cols`, row stride
/// `positions · cols`.
fn u_view(u: &[f32], xi: usize, rows: usize, cols: usize, positions: usize) -> MatRef<'_> {
    MatRef::new(&u[xi * cols..], rows, cols, positions * cols, 1)
}

multiversioned! {
    /// `V_ξ = (Bᵀ d B)_ξ` of the `ns` samples of `x` (`ns × C × H × W`): 16 matrices of
    /// `C × T`, `T = ns · tiles`, tile `t = (n · tiles_y + ty) · tiles_x + tx`, in rows of `ts`
    /// values (the layout of [`tiles::input_transform`]). One plane at a
    /// time, laid out so that every loop runs over contiguous values: the zero-padded plane is
    /// split into its even and odd columns (`even`, `odd`), transformed along the rows into
    /// four planes kept as even and odd lines (`rows`), then down the columns, so that each
    /// of the 16 outputs of a plane is one contiguous run over all its tiles.
    fn input_transform_planes(geo: &ConvGeometry, x: &[f32], ns: usize, v: &mut [f32], ts: usize) {
        let (h, w) = geo.in_hw;
        let c = geo.in_channels;
        let (ty_n, tx_n) = tile_grid(geo);
        let tiles = ty_n * tx_n;
        debug_assert!(ns * tiles <= ts);
        let p = geo.padding;
        // the padded plane the tiles cover (hp × 2·(tx_n + 1)), as even and odd columns; the
        // border stays zero (only the interior is written)
        let (hp, half) = (2 * ty_n + 2, tx_n + 1);
        debug_assert!(h + p <= hp && w + p <= 2 * half);
        let mut even = vec![0.0f32; hp * half];
        let mut odd = vec![0.0f32; hp * half];
        // rows[j][parity][k][tx]: line 2k + parity transformed along the row (Bᵀ's row j)
        let lines = (ty_n + 1) * tx_n;
        let mut rows = vec![0.0f32; 8 * lines];
        for n in 0..ns {
            for ch in 0..c {
                let plane = &x[(n * c + ch) * h * w..(n * c + ch + 1) * h * w];
                for (iy, src) in plane.chunks_exact(w).enumerate() {
                    let r = (iy + p) * half;
                    // padded column jx = ix + p: even[k] holds jx = 2k, odd[k] jx = 2k + 1; the
                    // input pair (2m, 2m + 1) lands at jx = 2m + p and 2m + p + 1
                    let (first, second) = if p.is_multiple_of(2) {
                        (&mut even[r + p / 2..r + half], &mut odd[r + p / 2..r + half])
                    } else {
                        (&mut odd[r + p / 2..r + half], &mut even[r + p / 2 + 1..r + half])
                    };
                    let pairs = src.chunks_exact(2);
                    let tail = pairs.remainder().first().copied();
                    let m = w / 2;
                    for ((a, b), pair) in first[..m].iter_mut().zip(&mut second[..m]).zip(pairs) {
                        *a = pair[0];
                        *b = pair[1];
                    }
                    if let Some(t) = tail {
                        first[m] = t;
                    }
                }
                for r in 0..hp {
                    let (e, od) = (&even[r * half..(r + 1) * half], &odd[r * half..(r + 1) * half]);
                    let line = (r % 2) * lines + (r / 2) * tx_n;
                    for j in 0..4 {
                        let dst = &mut rows[2 * j * lines + line..][..tx_n];
                        match j {
                            0 => dst.iter_mut().enumerate().for_each(|(k, d)| *d = e[k] - e[k + 1]),
                            1 => dst.iter_mut().enumerate().for_each(|(k, d)| *d = od[k] + e[k + 1]),
                            2 => dst.iter_mut().enumerate().for_each(|(k, d)| *d = e[k + 1] - od[k]),
                            _ => dst.iter_mut().enumerate().for_each(|(k, d)| *d = od[k] - od[k + 1]),
                        }
                    }
                }
                let base = ch * ts + n * tiles;
                for j in 0..4 {
                    // tile (ty, tx) reads lines 2ty .. 2ty + 3: even line ty, odd ty, even ty + 1,
                    // odd ty + 1; over the flattened q = ty · tx_n + tx these are contiguous
                    let ev = &rows[2 * j * lines..(2 * j + 1) * lines];
                    let ov = &rows[(2 * j + 1) * lines..(2 * j + 2) * lines];
                    let (e0, e1) = (&ev[..tiles], &ev[tx_n..tx_n + tiles]);
                    let (o0, o1) = (&ov[..tiles], &ov[tx_n..tx_n + tiles]);
                    let at = |i: usize| (4 * i + j) * c * ts + base;
                    let v0 = &mut v[at(0)..at(0) + tiles];
                    v0.iter_mut().enumerate().for_each(|(q, d)| *d = e0[q] - e1[q]);
                    let v1 = &mut v[at(1)..at(1) + tiles];
                    v1.iter_mut().enumerate().for_each(|(q, d)| *d = o0[q] + e1[q]);
                    let v2 = &mut v[at(2)..at(2) + tiles];
                    v2.iter_mut().enumerate().for_each(|(q, d)| *d = e1[q] - o0[q]);
                    let v3 = &mut v[at(3)..at(3) + tiles];
                    v3.iter_mut().enumerate().for_each(|(q, d)| *d = o0[q] - o1[q]);
                }
            }
        }
    }
}

multiversioned! {
    /// `Y = Aᵀ M A` of every tile into `out` (`ns × O × Ho × Wo`), for `M` as 16 matrices of
    /// `O × T`. One plane at a time: the 16 inputs of a plane are contiguous runs of its tiles.
    fn output_transform_planes(geo: &ConvGeometry, m: &[f32], ns: usize, out: &mut [f32]) {
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let o = geo.out_channels;
        let (ty_n, tx_n) = tile_grid(geo);
        let tiles = ty_n * tx_n;
        let t_all = ns * tiles;
        // q[a][j][t] = Σ_i Aᵀ[a][i] m[i][j][t]; y[a][b][t] = Σ_j q[a][j][t] A[j][b]
        let mut q = vec![0.0f32; 8 * tiles];
        let mut y = vec![0.0f32; 4 * tiles];
        for n in 0..ns {
            for oc in 0..o {
                let base = oc * t_all + n * tiles;
                let mij = |i: usize, j: usize| &m[(4 * i + j) * o * t_all + base..][..tiles];
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (mij(0, j), mij(1, j), mij(2, j), mij(3, j));
                    let (qa, qb) = q.split_at_mut(4 * tiles);
                    let qa = &mut qa[j * tiles..(j + 1) * tiles];
                    let qb = &mut qb[j * tiles..(j + 1) * tiles];
                    for t in 0..tiles {
                        qa[t] = m0[t] + m1[t] + m2[t];
                        qb[t] = m1[t] - m2[t] - m3[t];
                    }
                }
                for a in 0..2 {
                    let qa = &q[4 * a * tiles..4 * (a + 1) * tiles];
                    let (q0, q1) = (&qa[..tiles], &qa[tiles..2 * tiles]);
                    let (q2, q3) = (&qa[2 * tiles..3 * tiles], &qa[3 * tiles..]);
                    let (y0, y1) = y[2 * a * tiles..2 * (a + 1) * tiles].split_at_mut(tiles);
                    for t in 0..tiles {
                        y0[t] = q0[t] + q1[t] + q2[t];
                        y1[t] = q1[t] - q2[t] - q3[t];
                    }
                }
                let plane = &mut out[(n * o + oc) * ho * wo..(n * o + oc + 1) * ho * wo];
                let pairs = wo / 2;
                for (row, line) in plane.chunks_exact_mut(wo).enumerate() {
                    let (ty, a) = (row / 2, row % 2);
                    let y0 = &y[2 * a * tiles + ty * tx_n..][..tx_n];
                    let y1 = &y[(2 * a + 1) * tiles + ty * tx_n..][..tx_n];
                    for (tx, pair) in line[..2 * pairs].chunks_exact_mut(2).enumerate() {
                        pair[0] = y0[tx];
                        pair[1] = y1[tx];
                    }
                    if wo % 2 == 1 {
                        line[wo - 1] = y0[pairs];
                    }
                }
            }
        }
    }
}

/// Tiles a row up to which F(2×2, 3×3) transforms run over all the task's samples at once
/// ([`tiles`]) rather than plane by plane: on a 4×4 map (2 tiles a row) a plane's runs are 4
/// values long, too short to vectorise. On 8×8 maps (4 tiles a row) the plane-by-plane
/// transforms are the faster (`majmin bench --kernel`, 2 runs each: 512→512 at 4×4 forward
/// 357–428 against 322–347 GFLOP/s; 256→256 at 8×8 forward 379–417 against 432–449).
const MAX_TILES_ACROSS_FOR_RUNS: usize = 2;

/// `Bᵀ` of F(2×2, 3×3).
const BT: [[f32; 4]; 4] = [
    [1.0, 0.0, -1.0, 0.0],
    [0.0, 1.0, 1.0, 0.0],
    [0.0, -1.0, 1.0, 0.0],
    [0.0, 1.0, 0.0, -1.0],
];

/// `Aᵀ` of F(2×2, 3×3).
const AT: [[f32; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

/// `V_ξ = (Bᵀ d B)_ξ` of F(2×2, 3×3): 16 matrices of `C × T` (the layout of
/// [`tiles::input_transform`]).
fn input_transform(geo: &ConvGeometry, x: &[f32], ns: usize, v: &mut [f32], ts: usize) {
    if tile_grid(geo).1 <= MAX_TILES_ACROSS_FOR_RUNS {
        input_transform_runs(geo, x, ns, v, ts);
    } else {
        input_transform_planes(geo, x, ns, v, ts);
    }
}

/// `Y = Aᵀ M A` of F(2×2, 3×3) into `out` (`ns × O × Ho × Wo`), for `M` as 16 matrices of
/// `O × T`.
fn output_transform(geo: &ConvGeometry, m: &[f32], ns: usize, out: &mut [f32]) {
    if tile_grid(geo).1 <= MAX_TILES_ACROSS_FOR_RUNS {
        output_transform_runs(geo, m, ns, out);
    } else {
        output_transform_planes(geo, m, ns, out);
    }
}

multiversioned! {
    /// [`input_transform`] over runs of all the task's samples ([`tiles::input_transform`]).
    fn input_transform_runs(geo: &ConvGeometry, x: &[f32], ns: usize, v: &mut [f32], ts: usize) {
        tiles::input_transform::<4, 2>(geo, x, ns, v, ts, &BT, Tile::F2);
    }
}

multiversioned! {
    /// [`output_transform`] over runs of all the task's samples ([`tiles::output_transform`]).
    fn output_transform_runs(geo: &ConvGeometry, m: &[f32], ns: usize, out: &mut [f32]) {
        tiles::output_transform(geo, m, ns, out, &AT, Tile::F2);
    }
}

multiversioned! {
    /// `dM = A dY Aᵀ` of every tile of `dy` (`ns × O × Ho × Wo`; values past the output's edge
    /// count as zero): 16 matrices of `O × T`. One plane at a time, as [`input_transform`].
    fn gradient_transform(geo: &ConvGeometry, dy: &[f32], ns: usize, dm: &mut [f32]) {
        let (ho, wo) = geo.out_hw().expect("checked geometry");
        let o = geo.out_channels;
        let (ty_n, tx_n) = tile_grid(geo);
        let tiles = ty_n * tx_n;
        let t_all = ns * tiles;
        // cols[j][y][tx]: output row y transformed along the row (A's row j); rows past the
        // edge stay zero
        let rows = 2 * ty_n;
        let mut cols = vec![0.0f32; 4 * rows * tx_n];
        let pairs = wo / 2;
        for n in 0..ns {
            for oc in 0..o {
                let plane = &dy[(n * o + oc) * ho * wo..(n * o + oc + 1) * ho * wo];
                {
                    let (c0, rest) = cols.split_at_mut(rows * tx_n);
                    let (c1, rest) = rest.split_at_mut(rows * tx_n);
                    let (c2, c3) = rest.split_at_mut(rows * tx_n);
                    for (r, line) in plane.chunks_exact(wo).enumerate() {
                        let at = r * tx_n;
                        let (c0, c1) = (&mut c0[at..at + tx_n], &mut c1[at..at + tx_n]);
                        let (c2, c3) = (&mut c2[at..at + tx_n], &mut c3[at..at + tx_n]);
                        for (tx, pair) in line[..2 * pairs].chunks_exact(2).enumerate() {
                            let (e, od) = (pair[0], pair[1]);
                            c0[tx] = e;
                            c1[tx] = e + od;
                            c2[tx] = e - od;
                            c3[tx] = -od;
                        }
                        if wo % 2 == 1 {
                            let e = line[wo - 1];
                            (c0[pairs], c1[pairs], c2[pairs], c3[pairs]) = (e, e, e, -0.0);
                        }
                    }
                }
                let base = oc * t_all + n * tiles;
                for j in 0..4 {
                    let cj = &cols[j * rows * tx_n..(j + 1) * rows * tx_n];
                    for ty in 0..ty_n {
                        let a = &cj[2 * ty * tx_n..(2 * ty + 1) * tx_n];
                        let b = &cj[(2 * ty + 1) * tx_n..(2 * ty + 2) * tx_n];
                        let at = |i: usize| (4 * i + j) * o * t_all + base + ty * tx_n;
                        dm[at(0)..at(0) + tx_n].copy_from_slice(a);
                        let d1 = &mut dm[at(1)..at(1) + tx_n];
                        d1.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| *o = a + b);
                        let d2 = &mut dm[at(2)..at(2) + tx_n];
                        d2.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| *o = a - b);
                        let d3 = &mut dm[at(3)..at(3) + tx_n];
                        d3.iter_mut().zip(b).for_each(|(o, b)| *o = -b);
                    }
                }
            }
        }
    }
}

/// The transformed input `V` of a forward pass, kept for the weight gradient of its backward
/// pass (one buffer a task, in task order), so that the backward does not transform the same
/// input again. It holds 36 (or 16) values per tile and input channel, 2.25 (or 4) times the
/// layer's input; all kept inputs together stay within [`KEEP_BUDGET_BYTES`], and each goes back
/// to the spare buffers when its layer's backward pass is done.
#[derive(Debug)]
pub(crate) struct TransformedInput {
    tile: Tile,
    tasks: Vec<SpareBuffer>,
    bytes: usize,
}

/// Bytes of transformed inputs kept at once at most, over the whole process; past it, a layer's
/// backward pass transforms its input again. ResNet-18 at batch 64 on 32×32 images keeps all its
/// F(4×4) layers' in 210 MB (a step about 6 % faster); larger images or batches keep the first
/// layers' only, so that memory stays bounded.
const KEEP_BUDGET_BYTES: usize = 256 << 20;

/// Bytes of transformed inputs kept now.
static KEPT_BYTES: AtomicUsize = AtomicUsize::new(0);

impl TransformedInput {
    /// Reserves `bytes` of the budget; false (and nothing reserved) when they do not fit.
    fn reserve(bytes: usize) -> bool {
        KEPT_BYTES
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |kept| {
                (kept + bytes <= KEEP_BUDGET_BYTES).then_some(kept + bytes)
            })
            .is_ok()
    }
}

impl Drop for TransformedInput {
    fn drop(&mut self) {
        let before = KEPT_BYTES.fetch_sub(self.bytes, Ordering::Relaxed);
        debug_assert!(
            before >= self.bytes,
            "gave back more kept bytes than were reserved"
        );
    }
}

/// The forward pass with the transformed weights `u` (of [`weight_transform`], `O × 16 × C`) into
/// `out` (`N × O × Ho × Wo`, every value written). With `keep`, the transformed input is written
/// into buffers of its own and returned. Each task runs in blocks of
/// [`Tile::samples_per_block`] samples: input transform, GEMMs and output transform of one block
/// before the next, so that the products (and the transformed input when it is not kept) stay in
/// the cache (`majmin bench --kernel`, forward passes: 6–16 % faster on every Winograd layer of
/// the table; the same values, since each value is the same sum).
fn forward_with(
    geo: &ConvGeometry,
    x: &[f32],
    u: &[f32],
    out: &mut [f32],
    tile: Tile,
    keep: bool,
) -> Option<TransformedInput> {
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let (c, o) = (geo.in_channels, geo.out_channels);
    let xis = tile.positions();
    let (ty_n, tx_n) = tile.grid(geo);
    let tiles = ty_n * tx_n;
    let p = ho * wo;
    let ns = tile.samples_per_task(geo);
    let parallel = geo.gemm_parallel(ns);
    let in_sample = c * geo.in_hw.0 * geo.in_hw.1;
    let bytes = xis * c * geo.batch * tiles * std::mem::size_of::<f32>();
    let keep = keep && TransformedInput::reserve(bytes);
    let nb = tile.samples_per_block(geo, ns);
    let tasks: Vec<SpareBuffer> = out
        .par_chunks_mut(ns * o * p)
        .zip(x.par_chunks(ns * in_sample))
        .map(|(out, x)| {
            let ns = out.len() / (o * p);
            let t = ns * tiles;
            let mut kept = SpareBuffer::take(if keep { xis * c * t } else { 0 });
            let tb = nb.min(ns) * tiles;
            with_scratch(
                if keep { 0 } else { xis * c * tb },
                xis * o * tb,
                |scratch, m| {
                    // block by block of `nb` samples, so that the transformed input and the
                    // products stay in the cache between the transforms and the GEMMs; a kept
                    // input takes the block's columns of rows as long as the task's
                    let blocks = out.chunks_mut(nb * o * p).zip(x.chunks(nb * in_sample));
                    for (b, (out, x)) in blocks.enumerate() {
                        let nbb = out.len() / (o * p);
                        let tb = nbb * tiles;
                        let (v, ts): (&mut [f32], usize) = if keep {
                            (&mut kept[b * nb * tiles..], t)
                        } else {
                            (&mut scratch[..], tb)
                        };
                        match tile {
                            Tile::F2 => input_transform(geo, x, nbb, v, ts),
                            Tile::F4 => f4::input_transform(geo, x, nbb, v, ts),
                        }
                        let m = &mut m[..xis * o * tb];
                        for xi in 0..xis {
                            sgemm(
                                u_view(u, xi, o, c, xis),
                                MatRef::new(&v[xi * c * ts..], c, tb, ts, 1),
                                MatMut::row_major(&mut m[xi * o * tb..(xi + 1) * o * tb], o, tb),
                                false,
                                parallel,
                            );
                        }
                        match tile {
                            Tile::F2 => output_transform(geo, m, nbb, out),
                            Tile::F4 => f4::output_transform(geo, m, nbb, out),
                        }
                    }
                },
            );
            kept
        })
        .collect();
    // (`then`, not `then_some`: a value built and dropped would give back bytes never reserved)
    keep.then(|| TransformedInput { tile, tasks, bytes })
}

/// Forward convolution of a layer where [`applies`] holds, into `out` (`N × O × Ho × Wo`). With
/// `keep`, an F(4×4, 3×3) layer whose backward pass runs with Winograd ([`backward_applies`])
/// returns its transformed input for [`backward`], within [`KEEP_BUDGET_BYTES`]. F(2×2, 3×3)
/// layers transform again: their transformed input is 4 times the input (F(4×4)'s 2.25) for a
/// transform that costs less per value (ResNet-101 kept its 8×8 layers' as well in a first
/// version: the budget filled, its peak memory came within 2 % of PyTorch's, no faster).
pub(crate) fn forward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    out: &mut [f32],
    tile: Tile,
    keep: bool,
) -> Option<TransformedInput> {
    let u = weight_transform(weight, geo.out_channels, geo.in_channels, false, tile);
    let keep = keep && tile == Tile::F4 && backward_applies(geo);
    forward_with(geo, x, &u, out, tile, keep)
}

/// Gradients `(dx, dweight)` of a layer where [`applies`] holds; `dx` is empty when `need_dx`
/// is false.
pub(crate) fn backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_dx: bool,
    tile: Tile,
    kept: Option<TransformedInput>,
) -> (Vec<f32>, Vec<f32>) {
    if !backward_applies(geo) {
        return super::conv::conv2d_backward_using(
            ConvAlgorithm::NoWinograd,
            geo,
            x,
            weight,
            dy,
            need_dx,
        );
    }
    // the kept input is used only if it was transformed with this tile
    let kept = kept.filter(|k| k.tile == tile);
    winograd_backward(geo, x, weight, dy, need_dx, tile, kept)
}

/// The gradients by Winograd, for any geometry [`supports`] accepts.
fn winograd_backward(
    geo: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_dx: bool,
    tile: Tile,
    kept: Option<TransformedInput>,
) -> (Vec<f32>, Vec<f32>) {
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let (c, o) = (geo.in_channels, geo.out_channels);
    let dx = if need_dx {
        // dx = dy ⋆ (W turned by 180°, channels swapped), padding 2 − p: output H × W
        let flipped = ConvGeometry {
            in_channels: o,
            out_channels: c,
            in_hw: (ho, wo),
            padding: 2 - geo.padding,
            ..*geo
        };
        debug_assert_eq!(flipped.out_hw(), Some(geo.in_hw));
        let u = weight_transform(weight, o, c, true, tile);
        let mut dx = zeros(x.len());
        forward_with(&flipped, dy, &u, &mut dx, tile, false);
        dx
    } else {
        Vec::new()
    };
    let (ty_n, tx_n) = tile.grid(geo);
    let xis = tile.positions();
    let tiles = ty_n * tx_n;
    let p = ho * wo;
    let ns = tile.samples_per_task(geo);
    let parallel = geo.gemm_parallel(ns);
    let in_sample = c * geo.in_hw.0 * geo.in_hw.1;
    let partials = per_chunk(x, ns * in_sample, dy, ns * o * p, None, |i, x, dy, _| {
        let ns = dy.len() / (o * p);
        let t = ns * tiles;
        let kept_v = kept.as_ref().map(|k| &k.tasks[i][..]);
        let v_len = if kept_v.is_some() { 0 } else { xis * c * t };
        with_scratch(v_len, xis * o * t, |scratch, dm| {
            let v: &[f32] = match kept_v {
                Some(v) => {
                    debug_assert_eq!(v.len(), xis * c * t, "kept input of another task split");
                    v
                }
                None => {
                    match tile {
                        Tile::F2 => input_transform(geo, x, ns, scratch, t),
                        Tile::F4 => f4::input_transform(geo, x, ns, scratch, t),
                    }
                    scratch
                }
            };
            match tile {
                Tile::F2 => gradient_transform(geo, dy, ns, dm),
                Tile::F4 => f4::gradient_transform(geo, dy, ns, dm),
            }
            // every value is written by the GEMMs below
            let mut du = SpareBuffer::take(xis * o * c);
            for xi in 0..xis {
                // dU_ξ[O × C] = dM_ξ[O × T] · V_ξᵀ[T × C]
                // (`V_ξᵀ` has its depth contiguous: `sgemm` transposes it so that the GEMM crate
                // does not pack it value by value)
                sgemm(
                    MatRef::row_major(&dm[xi * o * t..(xi + 1) * o * t], o, t),
                    MatRef::row_major(&v[xi * c * t..(xi + 1) * c * t], c, t).t(),
                    MatMut::row_major(&mut du[xi * o * c..(xi + 1) * o * c], o, c),
                    false,
                    parallel,
                );
            }
            du
        })
    });
    // `dg = Gᵀ dU G` is linear: the tasks' `dU` are added first (in task order) and transformed
    // once, rather than each task's transformed and the results added
    let du = sum_in_order(partials).expect("a backward pass has at least one task");
    let dw = weight_gradient(&du, o, c, tile);
    (dx, dw)
}

/// `dg = Gᵀ dU G` for every (o, c): 16 matrices of `O × C` (36 with F(4×4, 3×3)) to
/// `O × C × 3 × 3`, kernels in parallel blocks.
fn weight_gradient(du: &[f32], o: usize, c: usize, tile: Tile) -> Vec<f32> {
    let plane = o * c;
    let mut dw = zeros(plane * 9);
    dw.par_chunks_mut(9 * SUM_CHUNK)
        .enumerate()
        .for_each(|(b, block)| weight_gradient_block(du, plane, b * SUM_CHUNK, tile, block));
    dw
}

multiversioned! {
    /// The kernels `first..` of [`weight_gradient`] into `block` (9 values each), 16 at a time
    /// (one per vector lane).
    fn weight_gradient_block(du: &[f32], plane: usize, first: usize, tile: Tile, block: &mut [f32]) {
        let kernels = block.len() / 9;
        for k0 in (0..kernels).step_by(LANES) {
            let lanes = LANES.min(kernels - k0);
            let at = first + k0;
            // dU_ξ of every lane (zeros past `lanes`); plain loops, as `weight_transform_row`
            let mut d = [Lanes([0.0; LANES]); 36];
            for (xi, value) in d[..tile.positions()].iter_mut().enumerate() {
                *value = Lanes::load(&du[xi * plane + at..][..lanes]);
            }
            let g = match tile {
                Tile::F2 => {
                    let d16: &[Lanes; 16] = d[..16].try_into().expect("16 positions");
                    kernel_gradient(d16)
                }
                Tile::F4 => f4::kernel_gradient(&d),
            };
            for l in 0..lanes {
                for (t, v) in g.iter().enumerate() {
                    block[(k0 + l) * 9 + t] = v.0[l];
                }
            }
        }
    }
}

/// Checks the Winograd forward pass, input gradient and weight gradient of a layer with `tile`
/// (any geometry [`supports`] accepts, whatever [`applies`] and [`tile_for`] say) against the
/// definition ([`conv2d_reference`](super::conv2d_reference)) on seeded normal data, value by
/// value within the bound of `bound.rs`: `γ_N · K`, with `K` the same computation on absolute
/// values in f64 and `N` the number of roundings along its longest chain. F(2×2, 3×3) is also
/// held to the coarser, data-free [`error_bound`]. Returns the largest error as a fraction of
/// its bound (≤ 1 when the check passes), or a message naming the first value out of bounds.
///
/// # Panics
/// If [`supports`] does not hold for `geo`.
pub fn check_against_definition(geo: &ConvGeometry, tile: Tile, seed: u64) -> Result<f64, String> {
    assert!(supports(geo), "not a Winograd layer: {geo:?}");
    let mut rng = majmin_core::Rng::seed_from_u64(seed);
    let (ho, wo) = geo.out_hw().expect("checked geometry");
    let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
    let x = draw(geo.batch * geo.in_channels * geo.in_hw.0 * geo.in_hw.1);
    let weight = draw(geo.out_channels * geo.in_channels * 9);
    let dy = draw(geo.batch * geo.out_channels * ho * wo);
    let r = super::conv2d_reference(geo, &x, &weight, &dy);
    let mut y = vec![0.0f32; r.y.len()];
    let u = weight_transform(&weight, geo.out_channels, geo.in_channels, false, tile);
    let kept = forward_with(geo, &x, &u, &mut y, tile, true);
    let (dx, dw) = winograd_backward(geo, &x, &weight, &dy, true, tile, kept);
    // the weight gradient from the input the forward pass kept is the one from the input
    // transformed again, to the bit
    let (_, dw_again) = winograd_backward(geo, &x, &weight, &dy, false, tile, None);
    if let Some(i) = (0..dw.len()).find(|&i| dw[i].to_bits() != dw_again[i].to_bits()) {
        return Err(format!(
            "{geo:?} {tile:?}: weight gradient {i} is {} from the kept transformed input but {} \
             from the input transformed again",
            dw[i], dw_again[i]
        ));
    }
    let bounds = [
        bound::forward_bound(geo, tile, &x, &weight),
        bound::input_gradient_bound(geo, tile, &weight, &dy),
        bound::weight_gradient_bound(geo, tile, &x, &dy),
    ];
    let mut worst = 0.0f64;
    type Part<'a> = (&'a str, &'a [f32], &'a [f64], &'a [f64], usize, &'a [f64]);
    let parts: [Part<'_>; 3] = [
        (
            "output",
            &y,
            &r.y,
            &r.y_magnitude,
            geo.in_channels * 9,
            &bounds[0],
        ),
        (
            "input gradient",
            &dx,
            &r.dx,
            &r.dx_magnitude,
            geo.out_channels * 9,
            &bounds[1],
        ),
        (
            "weight gradient",
            &dw,
            &r.dw,
            &r.dw_magnitude,
            geo.batch * ho * wo,
            &bounds[2],
        ),
    ];
    for (what, got, want, magnitude, terms, bound) in parts {
        for (i, (((&g, &e), &m), &b)) in got.iter().zip(want).zip(magnitude).zip(bound).enumerate()
        {
            let coarse = error_bound(terms, m);
            let err = (f64::from(g) - e).abs();
            // (a NaN error fails too)
            if err.is_nan() || err > b || (tile == Tile::F2 && err > coarse) {
                return Err(format!(
                    "{geo:?}, {tile:?}: {what}[{i}] = {g}, definition {e}: error {err:.3e} over the bound {b:.3e}"
                ));
            }
            if b > 0.0 {
                worst = worst.max(err / b);
            }
        }
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(
        batch: usize,
        c: usize,
        o: usize,
        hw: (usize, usize),
        padding: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            batch,
            in_channels: c,
            out_channels: o,
            in_hw: hw,
            kernel: 3,
            stride: 1,
            padding,
            dilation: 1,
            groups: 1,
        }
    }

    /// Odd and even sides (tiles cut by the edge), paddings 0, 1 and 2, H ≠ W, more input than
    /// output channels and the reverse, one and several tasks.
    #[test]
    fn winograd_matches_the_definition_within_its_bound() {
        let cases = [
            geometry(1, 16, 16, (8, 8), 1),
            geometry(3, 16, 24, (9, 11), 1),
            geometry(2, 24, 16, (10, 13), 0),
            geometry(2, 16, 16, (7, 7), 2),
            geometry(19, 16, 16, (8, 8), 1),
            geometry(9, 32, 16, (9, 8), 1),
            geometry(4, 16, 17, (12, 12), 1),
            // several blocks a task (`Tile::samples_per_block`), the last one shorter
            geometry(3, 48, 48, (32, 32), 1),
            // 4 to 7 a side: the backward pass takes im2col
            geometry(16, 16, 16, (4, 4), 1),
            geometry(8, 16, 24, (6, 5), 1),
            // outside the speed policy, still computed right
            geometry(1, 8, 4, (3, 3), 1),
            geometry(2, 3, 16, (5, 6), 0),
        ];
        for (seed, geo) in cases.iter().enumerate() {
            for tile in [Tile::F2, Tile::F4] {
                let worst = check_against_definition(geo, tile, seed as u64).unwrap();
                assert!(worst > 0.0, "{geo:?}: no rounding at all is implausible");
            }
        }
    }

    /// A wrong transform is caught: the check fails on a kernel that is not turned for the
    /// input gradient (a guard against a check that cannot fail).
    #[test]
    fn the_bound_is_tight_enough_to_catch_a_wrong_kernel() {
        let geo = geometry(2, 64, 16, (8, 8), 1);
        let mut rng = majmin_core::Rng::seed_from_u64(9);
        let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
        let (x, weight) = (draw(2 * 64 * 64), draw(16 * 64 * 9));
        let r = super::super::conv2d_reference(&geo, &x, &weight, &vec![0.0; 2 * 16 * 64]);
        for tile in [Tile::F2, Tile::F4] {
            let mut y = vec![0.0f32; 2 * 16 * 64];
            // the weights turned by 180° (and read as 16 × 64): a different convolution
            let u = weight_transform(&weight, 64, 16, true, tile);
            forward_with(&geo, &x, &u, &mut y, tile, false);
            let bound = bound::forward_bound(&geo, tile, &x, &weight);
            let out = (0..y.len())
                .filter(|&i| {
                    let err = (f64::from(y[i]) - r.y[i]).abs();
                    let coarse = error_bound(64 * 9, r.y_magnitude[i]);
                    err > bound[i] && (tile == Tile::F4 || err > coarse)
                })
                .count();
            assert!(
                out > y.len() / 2,
                "{tile:?}: only {out} of {} values out of bounds",
                y.len()
            );
        }
    }

    #[test]
    fn blocks_hold_at_least_128_tiles_and_split_a_task_evenly() {
        // 64 tiles of F(4×4) a sample: two samples a block
        let g = geometry(64, 64, 64, (32, 32), 1);
        assert_eq!(Tile::F4.samples_per_block(&g, 16), 2);
        // 4 tiles of F(2×2) a sample: 32 samples make 128 tiles
        let g = geometry(64, 512, 512, (4, 4), 1);
        assert_eq!(Tile::F2.samples_per_block(&g, 32), 32);
        // 48 samples: two blocks, of 24 each rather than 32 and 16
        assert_eq!(Tile::F2.samples_per_block(&g, 48), 24);
        // few channels: as many samples as fit the budget, never more than the task
        let g = geometry(64, 16, 24, (16, 16), 1);
        assert_eq!(Tile::F4.samples_per_block(&g, 9), 9);
        assert_eq!(Tile::F2.samples_per_block(&g, 1), 1);
    }

    #[test]
    fn winograd_runs_only_where_it_applies() {
        assert!(applies(&geometry(64, 64, 64, (32, 32), 1)));
        // the first layer of an RGB network keeps im2col
        assert!(!applies(&geometry(64, 3, 64, (32, 32), 1)));
        assert!(!applies(&ConvGeometry {
            stride: 2,
            ..geometry(1, 64, 64, (8, 8), 1)
        }));
        assert!(!applies(&ConvGeometry {
            groups: 2,
            ..geometry(1, 64, 64, (8, 8), 1)
        }));
        assert!(!applies(&ConvGeometry {
            dilation: 2,
            ..geometry(1, 64, 64, (8, 8), 2)
        }));
        assert!(!applies(&geometry(1, 64, 64, (8, 8), 3)));
        // too few tiles in the batch for the weight transform to pay
        assert!(!applies(&geometry(1, 512, 512, (8, 8), 1)));
        assert!(applies(&geometry(4, 512, 512, (8, 8), 1)));
        // 2×2 maps keep im2col
        assert!(!applies(&geometry(64, 512, 512, (2, 2), 1)));
        assert!(applies(&geometry(64, 512, 512, (4, 4), 1)));
        assert!(applies(&geometry(64, 256, 256, (8, 8), 1)));
    }
}
