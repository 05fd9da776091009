//! CPU kernels on plain slices, one operation family per file: GEMM on matrix views ([`gemm`]),
//! im2col / col2im and 1×1 convolution ([`conv`]), Winograd F(4×4, 3×3) and F(2×2, 3×3) for 3×3
//! stride-1 layers ([`winograd`]), direct depthwise convolution
//! (`depthwise.rs`), pooling ([`pool`]), batch normalisation ([`norm`]) and element-wise
//! activations ([`elementwise`]). No tape here: [`crate::ops`] wraps these as dfdx tape
//! operations.
//!
//! Parallelism: every kernel splits its work into pieces whose boundaries depend only on the
//! shapes (never on scheduling or on the number of threads) and reduces partial sums in a fixed
//! order, so results are bit-identical for the same inputs whatever the size of the rayon pool
//! (the CLI's `--threads` and `--jobs`). The GEMM crate parallelises over rows and columns of the
//! output only, never over the depth, so its results do not depend on the pool either.
//!
//! Vector width: the hot loops are compiled twice (`simd.rs`, the `multiversioned!` macro), for
//! AVX-512 or AVX2 with FMA and for the baseline, and the copy is chosen at run time.

mod simd;

pub mod conv;
mod depthwise;
pub mod elementwise;
pub mod gemm;
pub mod norm;
pub mod pool;
mod spare;
mod transpose;
pub mod winograd;

pub use conv::{
    bias_gradient, conv2d_backward, conv2d_backward_saved, conv2d_backward_using, conv2d_forward,
    conv2d_forward_saving, conv2d_forward_using, conv2d_reference, ConvAlgorithm, ConvGeometry,
    ConvReference, ConvSaved,
};
pub use elementwise::{
    activation_backward, activation_forward, activation_in_place, add_assign, add_forward, copied,
    copy_from, deinterleave, interleave, zeros, Activation,
};
pub use gemm::{sgemm, MatMut, MatRef};
pub use pool::{
    avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward, PoolGeometry,
};

#[cfg(test)]
mod tests;
