//! Kernel tests: convolutions against the definition, and results that do not depend on the
//! thread count.

use super::conv::*;
use super::gemm::*;

use majmin_core::Rng;

fn close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (*a as f64 - b).abs() <= 1e-4 * scale,
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

/// im2col/col2im (both the stride-1 slice paths and the general path; tasks of one sample,
/// written in place, and of several, transposed), the pointwise path and the direct depthwise
/// kernels against the definition, on maps larger than the kernel. Runs on two threads, so
/// that tasks do run in parallel.
#[test]
fn convolution_kernels_match_the_definition() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(convolution_cases);
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The convolutions' outputs and gradients, bit for bit, in pools of 1, 2, 3 and 5 threads:
/// im2col with several samples per task (whose weight gradient is a sum of partials), 1×1
/// on large planes, and depthwise, each on a batch larger than the thread counts.
#[test]
fn convolutions_do_not_depend_on_the_thread_count() {
    let mut rng = Rng::seed_from_u64(3);
    let cases = [
        // (batch, cin, cout, groups, hw, kernel, stride, padding)
        (19, 8, 12, 1, (6, 6), 3, 1, 1),
        (19, 64, 16, 1, (4, 4), 3, 1, 1),
        (9, 6, 8, 2, (16, 16), 1, 1, 0),
        (11, 6, 6, 6, (7, 7), 3, 2, 1),
        // 1×1 maps, one GEMM over the batch using the pool
        (19, 24, 40, 1, (1, 1), 3, 1, 1),
        (19, 24, 40, 2, (1, 1), 1, 1, 0),
    ];
    for (batch, cin, cout, groups, hw, kernel, stride, padding) in cases {
        let geo = ConvGeometry {
            batch,
            in_channels: cin,
            out_channels: cout,
            in_hw: hw,
            kernel,
            stride,
            padding,
            dilation: 1,
            groups,
        };
        let (ho, wo) = geo.out_hw().unwrap();
        let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
        let x = draw(batch * cin * hw.0 * hw.1);
        let weight = draw(cout * (cin / groups) * kernel * kernel);
        let dy = draw(batch * cout * ho * wo);
        let run = |threads| {
            in_pool(threads, || {
                let y = conv2d_forward(&geo, &x, &weight, None);
                let (dx, dw) = conv2d_backward(&geo, &x, &weight, &dy, true);
                (bits(&y), bits(&dx), bits(&dw))
            })
        };
        let one = run(1);
        for threads in [2, 3, 5] {
            let other = run(threads);
            assert!(one.0 == other.0, "{geo:?}: output on {threads} threads");
            assert!(one.1 == other.1, "{geo:?}: dx on {threads} threads");
            assert!(one.2 == other.2, "{geo:?}: dweight on {threads} threads");
        }
    }
}

/// The parallel GEMM (the linear layers') gives the same bits as the sequential one on any
/// pool: the GEMM crate splits rows and columns among threads, never the depth. Depths of
/// several of its blocks (over 512) and shapes on both sides of its small-matrix path.
#[test]
fn parallel_gemm_does_not_depend_on_the_thread_count() {
    let mut rng = Rng::seed_from_u64(4);
    for (m, n, k) in [
        (64, 10, 1500),
        (200, 300, 1100),
        (37, 1000, 700),
        (64, 64, 2000),
    ] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.normal() as f32).collect();
        let gemm = |parallel: bool| {
            let mut c = vec![0.0f32; m * n];
            sgemm(
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                MatMut::row_major(&mut c, m, n),
                false,
                parallel,
            );
            bits(&c)
        };
        let sequential = gemm(false);
        for threads in [1, 2, 3, 5] {
            assert!(
                in_pool(threads, || gemm(true)) == sequential,
                "{m}×{n}×{k} on {threads} threads"
            );
        }
    }
}

/// With the depth cut by `sgemm` itself, every value of a product is fixed to the bit on
/// CPUs with FMA (the GEMM crate's kernels then use it): per block of [`depth_block`], a chain
/// of fused multiply-adds from zero along the depth, the blocks added to `c` in order. Checked
/// against that chain written out with `f32::mul_add` (exact on every machine), for depths of
/// one and of several blocks, so the result does not depend on the cache sizes the crate
/// would have cut the depth by.
#[test]
fn gemm_values_follow_a_fixed_chain_of_fused_multiply_adds() {
    #[cfg(target_arch = "x86_64")]
    if !std::is_x86_feature_detected!("fma") {
        return;
    }
    let mut rng = Rng::seed_from_u64(6);
    for (m, n, k) in [
        (70, 90, 300),
        (70, 90, 576),
        (70, 90, 1300),
        (100, 80, 2100),
    ] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.normal() as f32).collect();
        let mut c = vec![0.0f32; m * n];
        sgemm(
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            MatMut::row_major(&mut c, m, n),
            false,
            false,
        );
        for i in 0..m {
            for j in 0..n {
                let mut want = 0.0f32;
                let block = depth_block(k);
                for start in (0..k).step_by(block) {
                    let mut acc = 0.0f32;
                    for d in start..k.min(start + block) {
                        acc = a[i * k + d].mul_add(b[d * n + j], acc);
                    }
                    want = if start == 0 { acc } else { want + acc };
                }
                assert_eq!(
                    c[i * n + j].to_bits(),
                    want.to_bits(),
                    "{m}×{n}×{k} at ({i}, {j})"
                );
            }
        }
    }
}

fn convolution_cases() {
    let mut rng = Rng::seed_from_u64(7);
    let cases = [
        // (batch, cin, cout, groups, hw, kernel, stride, padding, dilation)
        (3, 4, 5, 1, (7, 9), 3, 1, 1, 1),
        (1, 3, 5, 1, (9, 9), 3, 1, 1, 1),
        (2, 4, 4, 2, (10, 10), 3, 2, 1, 1),
        (2, 4, 6, 2, (8, 8), 3, 2, 1, 1),
        (2, 3, 4, 1, (9, 7), 3, 1, 2, 2),
        (2, 3, 4, 1, (6, 6), 5, 1, 0, 1),
        (5, 6, 4, 1, (5, 5), 1, 1, 0, 1),
        (2, 6, 6, 6, (7, 8), 3, 1, 1, 1),
        (2, 6, 6, 6, (8, 8), 3, 2, 1, 1),
        (2, 4, 4, 4, (9, 8), 3, 1, 2, 2),
        (2, 4, 4, 4, (2, 2), 3, 1, 1, 1),
        (3, 5, 5, 5, (11, 10), 5, 2, 2, 1),
        (1, 3, 3, 3, (7, 7), 3, 3, 0, 1),
        (4, 3, 4, 1, (11, 11), 3, 1, 0, 1),
        (3, 6, 4, 1, (16, 16), 1, 1, 0, 1),
        (2, 4, 6, 2, (16, 17), 1, 1, 0, 1),
        // depthwise over more channels than the kernel's 16 lanes, not a multiple of them
        (2, 21, 21, 21, (6, 5), 3, 2, 1, 1),
        (1, 35, 35, 35, (4, 4), 3, 1, 1, 1),
        (2, 18, 18, 18, (7, 7), 3, 1, 2, 2),
        // depthwise on planes large enough for the plane-by-plane kernels
        (2, 5, 5, 5, (16, 17), 3, 1, 1, 1),
        (1, 18, 18, 18, (17, 16), 3, 2, 1, 1),
        // 1×1 maps: one tap reads the pixel (the centre, a corner with dilation, 1×1 kernels,
        // groups), the other taps padding only
        (5, 6, 7, 1, (1, 1), 3, 1, 1, 1),
        (4, 6, 4, 2, (1, 1), 3, 2, 1, 1),
        (3, 4, 6, 1, (1, 1), 3, 1, 2, 2),
        (6, 8, 5, 1, (1, 1), 1, 1, 0, 1),
        (2, 4, 6, 2, (1, 1), 1, 1, 0, 1),
        (1, 3, 4, 1, (1, 1), 5, 1, 2, 1),
        // a 1×1 map no tap reads (taps at −3, −1 and 1): im2col, all zeros
        (2, 3, 4, 1, (1, 1), 3, 3, 3, 2),
    ];
    for (batch, cin, cout, groups, hw, kernel, stride, padding, dilation) in cases {
        let geo = ConvGeometry {
            batch,
            in_channels: cin,
            out_channels: cout,
            in_hw: hw,
            kernel,
            stride,
            padding,
            dilation,
            groups,
        };
        let (ho, wo) = geo.out_hw().unwrap();
        let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
        let x = draw(batch * cin * hw.0 * hw.1);
        let weight = draw(cout * (cin / groups) * kernel * kernel);
        let dy = draw(batch * cout * ho * wo);
        let ConvReference { y, dx, dw, .. } = conv2d_reference(&geo, &x, &weight, &dy);
        let what = format!("{geo:?}");
        close(
            &format!("{what} forward"),
            &conv2d_forward(&geo, &x, &weight, None),
            &y,
        );
        let (gx, gw) = conv2d_backward(&geo, &x, &weight, &dy, true);
        close(&format!("{what} dx"), &gx, &dx);
        close(&format!("{what} dweight"), &gw, &dw);
    }
}

#[test]
fn interleave_is_a_concatenation_of_blocks_and_deinterleave_undoes_it() {
    for (la, lb, n) in [(3, 5, 4), (0, 4, 3), (4, 0, 3), (2, 2, 0), (1000, 24, 70)] {
        let a: Vec<f32> = (0..la * n).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..lb * n).map(|i| -(i as f32) - 1.0).collect();
        let mut expected = Vec::new();
        for i in 0..n {
            expected.extend_from_slice(&a[i * la..(i + 1) * la]);
            expected.extend_from_slice(&b[i * lb..(i + 1) * lb]);
        }
        let joined = super::interleave(&a, la, &b, lb, n);
        assert_eq!(joined, expected, "la {la}, lb {lb}, n {n}");
        assert_eq!(
            super::deinterleave(&joined, la, lb, n),
            (a, b),
            "la {la}, lb {lb}, n {n}"
        );
    }
}

#[test]
fn parallel_buffers_match_the_serial_ones() {
    // both sides of the parallel threshold (2 chunks), with a partial last chunk
    for n in [0, 5, (1 << 16) - 1, (1 << 17) + 12_345] {
        assert_eq!(super::zeros(n), vec![0.0f32; n]);
        let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
        assert_eq!(super::copied(&x), x);
        let mut dst = vec![1.0f32; n];
        super::copy_from(&mut dst, &x);
        assert_eq!(dst, x);
        let mut sum = vec![0.25f32; n];
        super::add_assign(&mut sum, &x);
        let expected: Vec<f32> = x.iter().map(|v| 0.25 + v).collect();
        assert_eq!(sum, expected);
    }
}
