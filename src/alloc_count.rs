//! A counting global allocator that counts only on the threads that ask to be measured.
//!
//! Zero-allocation claims (the hot path of the codec, the session core, the journal and the
//! engine) are proved by counting, not by comments. A process-wide counter also counts the test
//! harness's own threads and other tests running beside the one that measures, so it fails by
//! chance; this one counts an allocation only when the thread making it has switched counting
//! on with [`track_current_thread`]. The engine thread switches it on when
//! `EngineConfig::count_allocations` is set; a test thread switches it on around the code it
//! measures.
//!
//! Install it in a test binary or a benchmark:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: fixp_ws::alloc_count::CountingAllocator = fixp_ws::alloc_count::CountingAllocator;
//!
//! fixp_ws::alloc_count::track_current_thread(true);
//! let before = fixp_ws::alloc_count::tracked_allocations();
//! hot_path();
//! let allocations = fixp_ws::alloc_count::tracked_allocations() - before;
//! ```
//!
//! Owns: the count and the per-thread switch. May not touch: anything else; every call is
//! forwarded unchanged to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Allocations (alloc, alloc_zeroed, realloc) made by tracked threads since the process started.
static TRACKED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (const-initialised, no destructor: reading
    /// it never allocates).
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    /// Allocations this thread made while tracked.
    static THREAD_COUNT: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations made on tracked threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

#[inline]
fn note() {
    // `try_with`: during thread teardown the slots may be gone; such allocations are not ours.
    let tracked = TRACKING.try_with(Cell::get).unwrap_or(false);
    if tracked {
        TRACKED.fetch_add(1, Ordering::Relaxed);
        let _ = THREAD_COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Switches counting on or off for the calling thread.
pub fn track_current_thread(on: bool) {
    TRACKING.with(|t| t.set(on));
}

/// Whether the calling thread is counted.
pub fn is_current_thread_tracked() -> bool {
    TRACKING.with(Cell::get)
}

/// Allocations made by every tracked thread so far (only meaningful when
/// [`CountingAllocator`] is the global allocator).
pub fn tracked_allocations() -> u64 {
    TRACKED.load(Ordering::Relaxed)
}

/// Allocations the calling thread made while tracked.
pub fn current_thread_allocations() -> u64 {
    THREAD_COUNT.with(Cell::get)
}

/// Runs `f` with the calling thread tracked and returns its result and the allocations it made
/// on this thread (tracking is restored to what it was).
pub fn count_on_current_thread<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let was = is_current_thread_tracked();
    track_current_thread(true);
    let before = current_thread_allocations();
    let result = f();
    let made = current_thread_allocations() - before;
    track_current_thread(was);
    (result, made)
}
