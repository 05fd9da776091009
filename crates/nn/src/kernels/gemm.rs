//! Single-precision GEMM on strided matrix views, with a depth cut that depends on the shapes
//! alone (so results do not depend on the machine's caches or on the thread count).

use std::cell::RefCell;

use super::transpose::{transpose_strided16, SIDE};

/// A read-only matrix view: `rows × cols` values of `data`, element `(i, j)` at
/// `i · row_stride + j · col_stride`. The constructors check that every element lies inside
/// `data`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A view with explicit strides.
    ///
    /// # Panics
    /// If the last element, `(rows − 1, cols − 1)`, lies outside `data` (an empty view is
    /// always accepted).
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
            assert!(
                last < data.len(),
                "MatRef: a {rows}×{cols} view with strides ({row_stride}, {col_stride}) reaches \
                 index {last}, but the buffer holds {} values",
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A row-major `rows × cols` view (row stride `cols`, column stride 1).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose, without moving data (the strides swap).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A writable row-major matrix view: `rows × cols` values of `data`, row `i` starting at
/// `i · row_stride`, columns contiguous. The constructor checks that every element lies inside
/// `data` and that rows do not overlap (`row_stride ≥ cols`), so threads that write different
/// rows never write the same value.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl<'a> MatMut<'a> {
    /// A view with row stride `row_stride`.
    ///
    /// # Panics
    /// If `row_stride < cols` (rows would overlap) or the last row ends outside `data`.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                row_stride >= cols,
                "MatMut: row stride {row_stride} is below the {cols} columns: rows would overlap"
            );
            let end = (rows - 1) * row_stride + cols;
            assert!(
                end <= data.len(),
                "MatMut: a {rows}×{cols} view with row stride {row_stride} needs {end} values, \
                 but the buffer holds {}",
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
    }

    /// A row-major `rows × cols` view (row stride `cols`).
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// The longest depth [`sgemm`] hands to the GEMM crate at once. The crate cuts a longer depth into
/// even blocks whose size it derives from the CPU (L1 cache size and associativity, vector width;
/// at least 512) and adds the blocks' products one after the other, so the same product would
/// round differently on machines with different caches. Cut by `sgemm` into `⌈k / 512⌉` even
/// blocks ([`depth_block`]; 512 is the smallest block the crate uses), the depth is never cut
/// again: on CPUs with FMA each value is then a fixed chain of fused multiply-adds per block, the
/// blocks added in order (tested below).
///
/// Not covered: the crate's small-product path (`m·n ≤ 256` with both operands contiguous along
/// the depth) sums in vector lanes, and its matrix–vector paths (`m` or `n` equal to 1) may too,
/// so those may differ between AVX-512 and AVX2 machines.
const DEPTH_BLOCK: usize = 512;

/// The depth of the blocks [`sgemm`] cuts a depth `k` into, `⌈k / ⌈k / 512⌉⌉`: the fewest
/// blocks of at most 512, none much thinner than the others (576 = 288 + 288, not 512 + 64).
pub(crate) fn depth_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(DEPTH_BLOCK).max(1)).max(1)
}

/// `c = a · bᵀ` for `a` of `m × k` and `b` of `n × k` (a weight gradient: depth along the
/// pixels), computed as `(b · aᵀ)ᵀ` when `m < n` and `m < 256`. The GEMM crate runs such products about twice
/// as fast with the longer side as rows (`majmin bench`-style timings on one thread, depth 1024:
/// 64 × 576 at 80 GFLOP/s, 576 × 64 at 150); each value is the same sum in the same order either
/// way, so the result is too. `scratch` holds the transposed product (`n × m`) when needed.
pub(crate) fn sgemm_abt(
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: MatMut<'_>,
    scratch: &mut Vec<f32>,
    parallel: bool,
) {
    let (m, n) = (a.rows, b.rows);
    // (from 256 rows on, both ways run alike within the noise of `majmin bench --kernel`)
    if m >= n || m >= 256 {
        return sgemm(a, b.t(), c, false, parallel);
    }
    scratch.clear();
    scratch.resize(n * m, 0.0);
    sgemm(b, a.t(), MatMut::row_major(scratch, n, m), false, parallel);
    transpose_into(scratch, n, m, c.data, c.row_stride);
}

/// Writes the transpose of `src` (`rows × cols`, row-major) into `dst` (`cols × rows`, row
/// stride `ldd`), in 32 × 32 blocks so that both sides stay in cache.
pub(crate) fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ldd: usize) {
    const B: usize = 32;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for c in c0..(c0 + B).min(cols) {
                let line = &mut dst[c * ldd..];
                for r in r0..(r0 + B).min(rows) {
                    line[r] = src[r * cols + c];
                }
            }
        }
    }
}

/// `c (+)= a · b` for `a` of `m × k`, `b` of `k × n` and `c` of `m × n` (`+=` when
/// `accumulate`). `parallel` lets the GEMM use the rayon pool; it splits the rows and columns of
/// `c` among threads, never the depth, so results do not depend on the pool. The depth is cut
/// into fixed blocks (at most 512, even in size), added into `c` in order.
///
/// # Panics
/// If the shapes do not chain (`a.cols ≠ b.rows`, or `c` is not `a.rows × b.cols`). The views'
/// constructors have checked every other bound: each element inside its buffer, and rows of
/// `c` that do not overlap.
pub fn sgemm(a: MatRef<'_>, b: MatRef<'_>, c: MatMut<'_>, accumulate: bool, parallel: bool) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(
        b.rows, k,
        "sgemm: a has {k} columns but b has {} rows",
        b.rows
    );
    assert!(
        c.rows == m && c.cols == n,
        "sgemm: the product is {m}×{n}, but the destination is {}×{}",
        c.rows,
        c.cols
    );
    let ldc = c.row_stride;
    let c = c.data;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    if b.col_stride != 1
        && b.row_stride == 1
        && n.is_multiple_of(SIDE)
        && m > 1
        && m * n > SMALL_PRODUCT
    {
        // `b` has its depth contiguous (a transposed view). The GEMM crate runs a row-major
        // product as its transpose, `cᵀ = bᵀ · aᵀ`, and packs a left operand whose rows are not
        // contiguous value by value on every call; transposed here in 16 × 16 blocks, it is
        // read in place. The products, and the order they are added in, are the same.
        let done = TRANSPOSED_B.with(|cell| {
            let Ok(mut bt) = cell.try_borrow_mut() else {
                return false;
            };
            if bt.len() < k * n {
                bt.resize(k * n, 0.0);
            }
            transpose_strided16(b.data, b.col_stride, n, k, &mut bt);
            let bt = MatRef::row_major(&bt[..k * n], k, n);
            depth_blocks(a, bt, c, ldc, accumulate, parallel);
            true
        });
        if done {
            return;
        }
    }
    depth_blocks(a, b, c, ldc, accumulate, parallel);
}

/// Products of at most this many values (`m · n`) keep their operands as given in [`sgemm`]:
/// the GEMM crate runs them on its small-product path, which sums in vector lanes, so a
/// transposed copy would change the path and the rounding. One-row products (`m = 1`, its
/// matrix–vector path) likewise.
const SMALL_PRODUCT: usize = 256;

thread_local! {
    /// [`sgemm`]'s copy of a right operand with its depth contiguous, as `k × n` row-major.
    static TRANSPOSED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// [`sgemm`] after its checks: the depth cut into [`depth_block`]s, added into `c` (row stride
/// `ldc`) in order.
fn depth_blocks(
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let par = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let block = depth_block(k);
    for start in (0..k).step_by(block) {
        let depth = block.min(k - start);
        // SAFETY: the views' constructors bound every element of `a`, `b` and `c` within their
        // buffers, and `c`'s rows do not overlap (`ldc ≥ n`), so the rows the GEMM's threads write
        // are disjoint; columns `start..start + depth` of `a` and rows `start..start + depth` of
        // `b` lie within the `k` checked.
        unsafe {
            gemm::gemm(
                m,
                n,
                depth,
                c.as_mut_ptr(),
                1,
                ldc as isize,
                accumulate || start > 0,
                a.data.as_ptr().add(start * a.col_stride),
                a.col_stride as isize,
                a.row_stride as isize,
                b.data.as_ptr().add(start * b.row_stride),
                b.col_stride as isize,
                b.row_stride as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "rows would overlap")]
    fn a_destination_with_overlapping_rows_is_refused() {
        let mut c = vec![0.0f32; 16];
        // ldc = 3 < n = 4: row 1 would start inside row 0.
        let _ = MatMut::new(&mut c, 2, 4, 3);
    }

    #[test]
    #[should_panic(expected = "reaches index 15, but the buffer holds 12 values")]
    fn a_view_past_its_buffer_is_refused() {
        let a = vec![0.0f32; 12];
        let _ = MatRef::new(&a, 3, 4, 4, 1).t();
        let _ = MatRef::new(&a, 4, 4, 4, 1);
    }

    #[test]
    #[should_panic(expected = "a has 3 columns but b has 2 rows")]
    fn shapes_must_chain() {
        let (a, b) = (vec![1.0f32; 6], vec![1.0f32; 4]);
        let mut c = vec![0.0f32; 4];
        sgemm(
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 2, 2),
            MatMut::row_major(&mut c, 2, 2),
            false,
            false,
        );
    }

    #[test]
    fn a_strided_destination_leaves_the_gaps_alone() {
        // [1 2; 3 4] · [1 0; 0 1] into rows of stride 3.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 0.0, 0.0, 1.0];
        let mut c = [-1.0f32; 5];
        sgemm(
            MatRef::row_major(&a, 2, 2),
            MatRef::row_major(&b, 2, 2),
            MatMut::new(&mut c, 2, 2, 3),
            false,
            false,
        );
        assert_eq!(c, [1.0, 2.0, -1.0, 3.0, 4.0]);
        // The transpose view reads columns.
        let mut d = [0.0f32; 4];
        sgemm(
            MatRef::row_major(&a, 2, 2).t(),
            MatRef::row_major(&b, 2, 2),
            MatMut::row_major(&mut d, 2, 2),
            false,
            false,
        );
        assert_eq!(d, [1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn a_depth_contiguous_right_operand_gives_the_same_bits_as_a_row_major_copy() {
        // n = 48 (a multiple of 16, so `sgemm` transposes it), depth 700 (two depth blocks)
        let (m, n, k) = (40, 48, 700);
        let value = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) / 250.0;
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b_nk: Vec<f32> = (0..n * k).map(|i| value(i + 17)).collect();
        let mut b_kn = vec![0.0f32; k * n];
        for j in 0..n {
            for d in 0..k {
                b_kn[d * n + j] = b_nk[j * k + d];
            }
        }
        for accumulate in [false, true] {
            let (mut c1, mut c2) = (vec![0.5f32; m * n], vec![0.5f32; m * n]);
            sgemm(
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b_nk, n, k).t(),
                MatMut::row_major(&mut c1, m, n),
                accumulate,
                false,
            );
            sgemm(
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b_kn, k, n),
                MatMut::row_major(&mut c2, m, n),
                accumulate,
                false,
            );
            let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&c1), bits(&c2), "accumulate {accumulate}");
        }
    }
}
