//! `multiversioned!`: a kernel compiled for AVX-512, for AVX2 with FMA and for the baseline,
//! with the copy chosen at run time.
//!
//! The crate is compiled for baseline x86-64 (SSE2), so the hot loops of the other kernel files
//! are written inside `multiversioned!` functions (the GEMM crate does the same for its own
//! kernels). Results do not depend on the copy chosen: Rust neither reassociates nor contracts
//! floating-point operations.

/// Defines a kernel function twice over: compiled for AVX-512 (or AVX2 with FMA) and for the
/// baseline, with the choice made at run time from what the CPU has. The body is inlined into
/// each copy, so its loops vectorise with the widest registers available. Call such kernels
/// inside each parallel task. Results do not depend on the copy chosen: Rust neither reassociates
/// nor contracts floating-point operations.
macro_rules! multiversioned {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: this CPU has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: this CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use multiversioned;
