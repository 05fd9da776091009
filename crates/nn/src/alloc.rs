//! [`BlockCache`]: a global allocator that keeps large freed blocks for the next request of the
//! same size, so that a training step reuses the memory of the step before it.
//!
//! Why: a step allocates its activations, gradients and scratch buffers afresh, from a few
//! megabytes to hundreds. glibc serves every request above 32 MiB (and, until its threshold
//! adapts, above 128 KiB) with a fresh `mmap` and unmaps it on free, so each step the kernel
//! faults in and clears every page again: on a ResNet-50 step at batch 64 this was most of the
//! cost of a 1×1 convolution's output (`perf`: `clear_page_erms` and the page-fault path). Steps
//! repeat the same sizes in the same order, so a block freed in one step is exactly what the
//! next one asks for.
//!
//! What it does: requests of at least `min_block` bytes are first matched against
//! cached blocks of exactly that size and alignment; freed blocks of that size are cached, the
//! most recently freed kept first, up to `limit` bytes in all (older blocks are returned to the
//! system when a new one would pass it). Zeroed requests (`vec![0.0; n]`, `calloc`) go to the
//! system, whose fresh pages are already zero. Everything else is the system allocator.
//!
//! Memory: at most `limit` bytes more than without the cache are held at any time. A binary
//! opts in:
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: majmin_nn::BlockCache = majmin_nn::BlockCache::new(32 << 20, 256 << 20);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cached blocks at most.
const SLOTS: usize = 128;

/// A global allocator caching large freed blocks for reuse (see the module docs).
pub struct BlockCache {
    min_block: usize,
    limit: usize,
    locked: AtomicBool,
    state: UnsafeCell<State>,
}

/// The cached blocks, oldest first.
struct State {
    blocks: [(usize, usize, usize); SLOTS],
    len: usize,
    bytes: usize,
}

// SAFETY: `state` is only touched while `locked` is held (see `with_state`).
unsafe impl Sync for BlockCache {}

impl BlockCache {
    /// A cache of freed blocks of at least `min_block` bytes, holding at most `limit` bytes.
    pub const fn new(min_block: usize, limit: usize) -> Self {
        Self {
            min_block,
            limit,
            locked: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                blocks: [(0, 0, 0); SLOTS],
                len: 0,
                bytes: 0,
            }),
        }
    }

    /// Returns every cached block to the system (the memory a binary holds beyond what it uses).
    pub fn release(&self) {
        loop {
            let block = self.with_state(|s| {
                (s.len > 0).then(|| {
                    s.len -= 1;
                    let block = s.blocks[s.len];
                    s.bytes -= block.1;
                    block
                })
            });
            let Some((p, size, align)) = block else {
                return;
            };
            // SAFETY: the block came from `System` with this size and alignment, and has left
            // the cache.
            unsafe { System.dealloc(p as *mut u8, Layout::from_size_align_unchecked(size, align)) };
        }
    }

    /// Runs `f` on the state under the spin lock (held for a few dozen instructions).
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the state.
        let r = f(unsafe { &mut *self.state.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

impl State {
    /// Takes the most recently cached block of `layout`'s size and alignment.
    fn take(&mut self, layout: Layout) -> Option<*mut u8> {
        let key = (layout.size(), layout.align());
        let i = (0..self.len)
            .rev()
            .find(|&i| (self.blocks[i].1, self.blocks[i].2) == key)?;
        let (ptr, size, _) = self.blocks[i];
        self.blocks.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.bytes -= size;
        Some(ptr as *mut u8)
    }

    /// Caches a block; returns the blocks to free (the oldest, to stay within `limit`; or the
    /// block itself if it alone passes it), at most `SLOTS` + 1 of them, in `evicted`.
    fn put(&mut self, ptr: *mut u8, layout: Layout, limit: usize, evicted: &mut Evicted) {
        let size = layout.size();
        if size > limit {
            evicted.push((ptr as usize, size, layout.align()));
            return;
        }
        let mut drop_oldest = 0;
        while self.len - drop_oldest == SLOTS || self.bytes + size > limit {
            let (p, s, a) = self.blocks[drop_oldest];
            evicted.push((p, s, a));
            self.bytes -= s;
            drop_oldest += 1;
        }
        self.blocks.copy_within(drop_oldest..self.len, 0);
        self.len -= drop_oldest;
        self.blocks[self.len] = (ptr as usize, size, layout.align());
        self.len += 1;
        self.bytes += size;
    }
}

/// Blocks to return to the system, collected under the lock and freed after it.
struct Evicted {
    blocks: [(usize, usize, usize); SLOTS + 1],
    len: usize,
}

impl Evicted {
    fn push(&mut self, block: (usize, usize, usize)) {
        self.blocks[self.len] = block;
        self.len += 1;
    }
}

// SAFETY: every block handed out comes from `System` with the layout it is asked for (cached
// blocks are matched on exact size and alignment) and is owned by exactly one party: the
// caller, or the cache, which returns it to `System` with its own layout.
unsafe impl GlobalAlloc for BlockCache {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= self.min_block {
            if let Some(ptr) = self.with_state(|s| s.take(layout)) {
                return ptr;
            }
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() < self.min_block {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.dealloc(ptr, layout) };
        }
        let mut evicted = Evicted {
            blocks: [(0, 0, 0); SLOTS + 1],
            len: 0,
        };
        self.with_state(|s| s.put(ptr, layout, self.limit, &mut evicted));
        for &(p, size, align) in &evicted.blocks[..evicted.len] {
            // SAFETY: each block came from `System` with this size and alignment.
            unsafe { System.dealloc(p as *mut u8, Layout::from_size_align_unchecked(size, align)) };
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() < self.min_block && new_size < self.min_block {
            // SAFETY: forwarded with the caller's arguments.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not
        // overflow; the new block is valid for both sizes' minimum, and `ptr` is freed once.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_blocks_are_reused_exactly_and_within_the_limit() {
        let cache = BlockCache::new(1 << 20, 3 << 20);
        let mb = Layout::from_size_align(1 << 20, 8).unwrap();
        let two = Layout::from_size_align(2 << 20, 8).unwrap();
        unsafe {
            let a = cache.alloc(mb);
            a.write_bytes(7, 1 << 20);
            cache.dealloc(a, mb);
            // the same size gets the same block back (its contents are not cleared)
            let b = cache.alloc(mb);
            assert_eq!(a, b);
            assert_eq!(*b.add(12345), 7);
            // another size does not
            let c = cache.alloc(two);
            assert_ne!(c, b);
            cache.dealloc(b, mb);
            cache.dealloc(c, two);
            assert_eq!(cache.with_state(|s| (s.len, s.bytes)), (2, 3 << 20));
            // a third block passes the limit: the oldest (b) goes back to the system
            let d = cache.alloc(mb);
            assert_eq!(d, b);
            let e = cache.alloc(mb);
            cache.dealloc(d, mb);
            cache.dealloc(e, mb);
            let (len, bytes) = cache.with_state(|s| (s.len, s.bytes));
            assert!(bytes <= 3 << 20 && len == 2, "{len} blocks, {bytes} bytes");
            // zeroed requests come from the system, zeroed
            let z = cache.alloc_zeroed(mb);
            assert!((0..1 << 20).step_by(4096).all(|i| *z.add(i) == 0));
            cache.dealloc(z, mb);
            // small requests are the system's
            let small = Layout::from_size_align(64, 8).unwrap();
            let s = cache.alloc(small);
            cache.dealloc(s, small);
            cache.release();
            assert_eq!(cache.with_state(|s| (s.len, s.bytes)), (0, 0));
        }
    }
}
