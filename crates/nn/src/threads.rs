//! The thread count a plugin's copy of rayon uses: the host's.
//!
//! A plugin library carries its own copy of rayon, with its own global pool. The host passes its
//! thread count across the plugin ABI (`majmin_core::plugin::abi::SetThreadsFn`), and the first
//! model built in the plugin sizes the plugin's global pool from it. [`KeepAwake`] keeps the
//! pool's workers polling during a training step.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};

/// In a plugin whose host passed a thread count, makes (once) the global rayon pool of that
/// size; elsewhere does nothing.
pub(crate) fn use_host_pool() {
    static ONCE: Once = Once::new();
    if let Some(threads) = majmin_core::plugin::export::host_threads() {
        ONCE.call_once(|| {
            // Fails only if the pool exists already (something in the plugin used rayon before
            // the first model): it then keeps its size.
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global();
        });
    }
}

/// While alive, keeps the pool's other workers polling for work instead of going to sleep.
///
/// Why: a rayon worker that finds no work yields 32 times (tens of microseconds) and then
/// sleeps; the next parallel loop wakes it through the kernel, and the loop's first tasks run on
/// the calling thread alone until it is scheduled again. A training step of a small network is
/// hundreds of loops of a few hundred microseconds each, separated by short serial stretches
/// (the tape's bookkeeping, allocations): MobileNetV2 and SqueezeNet at batch 64 ran at 1.6× on
/// 2 threads over 1, the other worker idle about a fifth of the time (`perf`, samples paired by
/// time). OpenMP runtimes spin for the same reason (`OMP_WAIT_POLICY`, `KMP_BLOCKTIME`).
///
/// How: a job broadcast to every other worker of the current pool runs rayon's
/// [`rayon::yield_now`] in a loop, which runs any pending task of the pool, and yields the CPU
/// (`sched_yield`, so another process that wants it gets it) when there is none, until the guard
/// drops. The job on the caller's own worker returns at once. Tasks and their order of
/// reduction are those the loops define, so results do not change.
pub(crate) struct KeepAwake {
    stop: Option<Arc<AtomicBool>>,
}

/// Workers inside a [`KeepAwake`] job, in every pool of the process.
static POLLING: AtomicUsize = AtomicUsize::new(0);

impl KeepAwake {
    /// Starts polling on the other workers of the current pool (none when it has one thread).
    pub(crate) fn new() -> Self {
        if rayon::current_num_threads() < 2 {
            return Self { stop: None };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let caller = rayon::current_thread_index();
        let flag = Arc::clone(&stop);
        rayon::spawn_broadcast(move |ctx| {
            if Some(ctx.index()) == caller {
                return;
            }
            POLLING.fetch_add(1, Ordering::AcqRel);
            while !flag.load(Ordering::Acquire) {
                if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                    std::thread::yield_now();
                }
            }
            POLLING.fetch_sub(1, Ordering::AcqRel);
        });
        Self { stop: Some(stop) }
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;
    use std::time::{Duration, Instant};

    #[test]
    fn polling_workers_run_the_loops_and_stop_when_the_guard_drops() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            for round in 0..20u64 {
                let awake = KeepAwake::new();
                // nested loops, as a step's kernels run them, on the polling workers too
                let sum: u64 = (0..1000u64)
                    .into_par_iter()
                    .map(|i| {
                        (0..10u64)
                            .into_par_iter()
                            .map(|j| i * j + round)
                            .sum::<u64>()
                    })
                    .sum();
                assert_eq!(sum, 45 * 499_500 + 10_000 * round);
                drop(awake);
            }
        });
        // every polling job returns once its guard is gone (other tests' pools have none)
        let start = Instant::now();
        while POLLING.load(Ordering::Acquire) > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "workers still polling"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // a one-thread pool starts nothing
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        single.install(|| assert!(KeepAwake::new().stop.is_none()));
    }
}
