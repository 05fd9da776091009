//! The thread count a plugin's copy of rayon uses: the host's.
//!
//! A plugin library carries its own copy of rayon, with its own global pool. The host passes its
//! thread count across the plugin ABI (`majmin_core::plugin::abi::SetThreadsFn`), and the first
//! model built in the plugin sizes the plugin's global pool from it.

use std::sync::Once;

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
