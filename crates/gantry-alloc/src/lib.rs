//! The process allocator (mimalloc) and the one call into it that the node makes:
//! handing freed memory back to the OS after a large, one-off load.
//!
//! mimalloc instead of glibc malloc: the proxy allocates many small, short-lived
//! buffers per request, and glibc's allocator was ~17 % of CPU under load (perf); see
//! docs/benchmarks.md for the measured difference.

/// The allocator the `gantry` binary installs with `#[global_allocator]`.
pub type Allocator = mimalloc::MiMalloc;

// Keeps the C library linked even though only the extern block below names it.
use libmimalloc_sys as _;

#[allow(unsafe_code)]
unsafe extern "C" {
    /// mimalloc's `mi_collect` (linked through `libmimalloc-sys`).
    fn mi_collect(force: bool);
}

/// Returns the calling thread's freed pages to the OS now. mimalloc purges freed
/// pages only as the thread goes on allocating; a thread that just dropped a large
/// transient structure (the whole-store dump read at startup: 100k routes left RSS at
/// 672 MiB instead of 266 MiB) and then sits idle would keep them. Off the hot path
/// only: it walks the thread's whole heap.
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any
    // time; mimalloc is the global allocator, so the heap it walks is ours.
    unsafe { mi_collect(true) }
}
