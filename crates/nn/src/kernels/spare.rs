//! Spare work buffers shared by all threads: large temporaries (Winograd's transformed weights,
//! the transformed input a forward pass keeps for its backward pass) are taken from here and
//! given back when dropped, so that a training step neither zeroes nor faults in tens of
//! megabytes of fresh pages per layer. A buffer's contents are unspecified when taken (values of
//! an earlier use, or zeros): whoever takes it writes every value before reading it.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Bytes of idle buffers kept at most; a buffer given back past this is freed. Enough for every
/// transformed input of a ResNet-101 step at batch 64 on 32×32 images (about 170 MB).
const SPARE_LIMIT_BYTES: usize = 512 << 20;

/// Buffers smaller than this are left to the allocator (which reuses them cheaply anyway).
const MIN_SPARE_LEN: usize = 1 << 16;

/// Idle buffers and their total capacity in values.
static SPARE: Mutex<(Vec<Vec<f32>>, usize)> = Mutex::new((Vec::new(), 0));

/// A work buffer of `f32` values, back among the spares when dropped.
#[derive(Debug, Default)]
pub(crate) struct SpareBuffer(Vec<f32>);

impl SpareBuffer {
    /// A buffer of `n` values with unspecified contents: the idle buffer of the smallest capacity
    /// that holds `n`, or a new one.
    pub(crate) fn take(n: usize) -> Self {
        if n < MIN_SPARE_LEN {
            return Self(vec![0.0; n]);
        }
        let found = {
            let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
            let best = spare
                .0
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= n)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            best.map(|i| {
                let b = spare.0.swap_remove(i);
                spare.1 -= b.capacity();
                b
            })
        };
        match found {
            Some(mut b) => {
                // shortening keeps the old values; lengthening within the capacity writes zeros
                // into the gap only
                b.resize(n, 0.0);
                Self(b)
            }
            None => Self(vec![0.0; n]),
        }
    }
}

impl Drop for SpareBuffer {
    fn drop(&mut self) {
        let b = std::mem::take(&mut self.0);
        if b.capacity() < MIN_SPARE_LEN {
            return;
        }
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        if (spare.1 + b.capacity()) * std::mem::size_of::<f32>() <= SPARE_LIMIT_BYTES {
            spare.1 += b.capacity();
            spare.0.push(b);
        }
    }
}

impl Deref for SpareBuffer {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl DerefMut for SpareBuffer {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_at_its_new_length() {
        let n = MIN_SPARE_LEN * 3;
        let mut a = SpareBuffer::take(n);
        assert_eq!(a.len(), n);
        a.fill(7.0);
        let ptr = a.as_ptr();
        drop(a);
        // another test may take it first; when it comes back it is the same allocation
        let b = SpareBuffer::take(n - 5);
        assert_eq!(b.len(), n - 5);
        if b.as_ptr() == ptr {
            assert!(b.iter().all(|&v| v == 7.0), "the old values are kept");
        }
        let c = SpareBuffer::take(n + 10);
        assert_eq!(c.len(), n + 10);
    }

    #[test]
    fn small_buffers_are_plain_zeros() {
        let b = SpareBuffer::take(10);
        assert_eq!(&*b, &[0.0; 10]);
    }
}
