//! 16 × 16 transposes of f32 blocks, for the kernels that compute 16 channels at a time, one per
//! vector lane (the depthwise convolution on small planes): moving a block between
//! `channel × position` and `position × channel`.
//!
//! With AVX-512 a block is 16 vector loads, 64 shuffles and 16 vector stores; the compiler's own
//! code for the same loops used scatter stores, several times slower. Elsewhere a plain loop.
//! Either way the values are copied exactly.

/// Rows and columns of a block.
pub(crate) const SIDE: usize = 16;

/// Writes the transpose of a 16 × 16 block: row `j < dst_rows` of `dst` (at `j · dst_stride`)
/// receives column `j` of the block whose row `i` is `src[i · src_stride..][..16]` for
/// `i < src_rows`, zeros for the rows past `src_rows`.
///
/// # Panics
/// If a row lies outside its buffer, or `src_rows` or `dst_rows` exceeds 16.
pub(crate) fn transpose16(
    src: &[f32],
    src_stride: usize,
    src_rows: usize,
    dst: &mut [f32],
    dst_stride: usize,
    dst_rows: usize,
) {
    assert!(src_rows <= SIDE && dst_rows <= SIDE, "a block has 16 rows");
    if src_rows > 0 {
        assert!(
            (src_rows - 1) * src_stride + SIDE <= src.len(),
            "source rows in bounds"
        );
    }
    if dst_rows > 0 {
        assert!(
            (dst_rows - 1) * dst_stride + SIDE <= dst.len(),
            "destination rows in bounds"
        );
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, and the assertions above keep every row the function
        // reads or writes inside its buffer.
        unsafe { avx512::transpose16(src, src_stride, src_rows, dst, dst_stride, dst_rows) };
        return;
    }
    for j in 0..dst_rows {
        let row = &mut dst[j * dst_stride..j * dst_stride + SIDE];
        for (i, v) in row.iter_mut().enumerate() {
            *v = if i < src_rows {
                src[i * src_stride + j]
            } else {
                0.0
            };
        }
    }
}

/// Writes the transpose of `src` (`rows × cols`, row `r` at `src[r · src_stride..]`, `rows` a
/// multiple of 16) into `dst` (`cols × rows`, row-major), in 16 × 16 blocks ([`transpose16`]);
/// the last `cols mod 16` columns value by value.
///
/// # Panics
/// If `rows` is not a multiple of 16, `src_stride < cols`, or a buffer is too short.
pub(crate) fn transpose_strided16(
    src: &[f32],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
) {
    assert!(
        rows.is_multiple_of(SIDE),
        "transpose: {rows} rows is not a multiple of 16"
    );
    assert!(
        src_stride >= cols,
        "transpose: row stride {src_stride} below {cols} columns"
    );
    let src_end = if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * src_stride + cols
    };
    assert!(
        src.len() >= src_end && dst.len() >= rows * cols,
        "transpose: buffers of {} and {} values for a {rows}×{cols} matrix of row stride {src_stride}",
        src.len(),
        dst.len()
    );
    let whole = cols / SIDE * SIDE;
    for r0 in (0..rows).step_by(SIDE) {
        for c0 in (0..whole).step_by(SIDE) {
            let from = &src[r0 * src_stride + c0..];
            transpose16(
                from,
                src_stride,
                SIDE,
                &mut dst[c0 * rows + r0..],
                rows,
                SIDE,
            );
        }
        for c in whole..cols {
            for r in r0..r0 + SIDE {
                dst[c * rows + r] = src[r * src_stride + c];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// [`super::transpose16`] with AVX-512F, without its bounds checks.
    ///
    /// # Safety
    /// The CPU has AVX-512F; rows `i < src_rows` of `src` and `j < dst_rows` of `dst` (16
    /// values each, at the strides given) lie inside the buffers; both counts are at most 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose16(
        src: &[f32],
        src_stride: usize,
        src_rows: usize,
        dst: &mut [f32],
        dst_stride: usize,
        dst_rows: usize,
    ) {
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, v) in r.iter_mut().enumerate().take(src_rows) {
            // SAFETY: row i < src_rows is in bounds (the caller's contract).
            *v = unsafe { _mm512_loadu_ps(src.as_ptr().add(i * src_stride)) };
        }
        // pairs of rows interleaved: t[2k] = (r[2k], r[2k+1]) low halves of each 128-bit lane
        let mut t = [_mm512_setzero_ps(); 16];
        for k in 0..8 {
            t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
        }
        // quads of rows: within each 128-bit lane, four rows of one column
        let (lo, hi) = (
            |a: __m512, b: __m512| {
                _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
            },
            |a: __m512, b: __m512| {
                _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
            },
        );
        for q in 0..4 {
            let b = 4 * q;
            // rows b..b+4: columns 0/4/8/12, 1/5/9/13, 2/6/10/14, 3/7/11/15 in the four lanes
            r[b] = lo(t[b], t[b + 2]);
            r[b + 1] = hi(t[b], t[b + 2]);
            r[b + 2] = lo(t[b + 1], t[b + 3]);
            r[b + 3] = hi(t[b + 1], t[b + 3]);
        }
        // the four quads' lanes gathered: column c = 4·lane + m comes from r[4q + m], lane `lane`
        for m in 0..4 {
            let u0 = _mm512_shuffle_f32x4::<0x44>(r[m], r[4 + m]);
            let u1 = _mm512_shuffle_f32x4::<0xee>(r[m], r[4 + m]);
            let u2 = _mm512_shuffle_f32x4::<0x44>(r[8 + m], r[12 + m]);
            let u3 = _mm512_shuffle_f32x4::<0xee>(r[8 + m], r[12 + m]);
            let columns = [
                (m, _mm512_shuffle_f32x4::<0x88>(u0, u2)),
                (4 + m, _mm512_shuffle_f32x4::<0xdd>(u0, u2)),
                (8 + m, _mm512_shuffle_f32x4::<0x88>(u1, u3)),
                (12 + m, _mm512_shuffle_f32x4::<0xdd>(u1, u3)),
            ];
            for (j, v) in columns {
                if j < dst_rows {
                    // SAFETY: row j < dst_rows is in bounds (the caller's contract).
                    unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add(j * dst_stride), v) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_transpose_exactly_with_partial_rows_and_strides() {
        let src: Vec<f32> = (0..40 * 16).map(|i| i as f32 * 0.5 - 17.0).collect();
        for (src_rows, dst_rows) in [(16, 16), (5, 16), (16, 7), (1, 1), (0, 16)] {
            let (ss, ds) = (40, 19);
            let mut dst = vec![f32::NAN; 16 * ds + 16];
            transpose16(&src, ss, src_rows, &mut dst, ds, dst_rows);
            for j in 0..16 {
                for i in 0..16 {
                    let got = dst[j * ds + i];
                    if j >= dst_rows {
                        assert!(got.is_nan(), "row {j} untouched");
                        continue;
                    }
                    let want = if i < src_rows { src[i * ss + j] } else { 0.0 };
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "({src_rows}, {dst_rows}): [{j}][{i}]"
                    );
                }
            }
        }
    }

    #[test]
    fn whole_matrices_transpose_exactly_with_a_partial_last_block() {
        for (rows, cols, stride) in [
            (16, 16, 16),
            (32, 37, 37),
            (48, 5, 9),
            (16, 0, 3),
            (32, 40, 45),
        ] {
            let src: Vec<f32> = (0..rows * stride).map(|i| i as f32 * 0.25 - 3.0).collect();
            let mut dst = vec![f32::NAN; rows * cols];
            transpose_strided16(&src, stride, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * rows + r].to_bits(),
                        src[r * stride + c].to_bits(),
                        "{rows}×{cols} [{r}][{c}]"
                    );
                }
            }
        }
    }
}
