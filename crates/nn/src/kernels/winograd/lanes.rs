//! Sixteen kernels transformed side by side, one per vector lane. The kernel transforms
//! (`G g Gᵀ`, `Gᵀ dU G`) are written once, generic over [`Value`]: `f32` for one kernel, or
//! [`Lanes`] for sixteen, with the same operations lane by lane, so the same values.

use std::ops::{Add, Mul, Sub};

/// Kernels per [`Lanes`] value.
pub(super) const LANES: usize = 16;

/// One value of 16 kernels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lanes(pub(super) [f32; LANES]);

impl Lanes {
    /// The first `src.len() ≤ 16` lanes from `src`, zeros after (one vector load when all 16).
    #[inline(always)]
    pub(super) fn load(src: &[f32]) -> Self {
        match <&[f32; LANES]>::try_from(src) {
            Ok(all) => Lanes(*all),
            Err(_) => {
                let mut lanes = [0.0; LANES];
                lanes[..src.len()].copy_from_slice(src);
                Lanes(lanes)
            }
        }
    }

    /// The first `dst.len() ≤ 16` lanes into `dst` (one vector store when all 16).
    #[inline(always)]
    pub(super) fn store(&self, dst: &mut [f32]) {
        match <&mut [f32; LANES]>::try_from(&mut *dst) {
            Ok(all) => *all = self.0,
            Err(_) => {
                let n = dst.len();
                dst.copy_from_slice(&self.0[..n]);
            }
        }
    }
}

impl Add for Lanes {
    type Output = Self;
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        let mut r = self.0;
        for (r, o) in r.iter_mut().zip(other.0) {
            *r += o;
        }
        Lanes(r)
    }
}

impl Sub for Lanes {
    type Output = Self;
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        let mut r = self.0;
        for (r, o) in r.iter_mut().zip(other.0) {
            *r -= o;
        }
        Lanes(r)
    }
}

impl Mul<f32> for Lanes {
    type Output = Self;
    #[inline(always)]
    fn mul(self, k: f32) -> Self {
        let mut r = self.0;
        for r in r.iter_mut() {
            *r *= k;
        }
        Lanes(r)
    }
}

/// What the kernel transforms compute in: `f32` or [`Lanes`].
pub(super) trait Value:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<f32, Output = Self>
{
}

impl Value for f32 {}
impl Value for Lanes {}
