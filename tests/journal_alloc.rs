//! Appends and lookups allocate nothing (a counting global allocator proves it), including
//! across segment rolls and recycling.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use fixp_ws::journal::{Direction, Journal, RingConfig, ENCODING_SBE_LE};
use fixp_ws::session::RetransmitStore;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn append_and_get_allocate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ring = RingConfig {
        segment_bytes: 64 * 1024,
        segment_count: 3,
        max_messages: 4096,
    };
    let mut j = Journal::open(dir.path(), Direction::Outbound, ring).unwrap();
    let small = [0x11u8; 64];
    let large = [0x22u8; 256];
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut checksum = 0u64;
    for seq in 1..=5000u64 {
        let payload: &[u8] = if seq % 2 == 0 { &small } else { &large };
        j.append(seq, seq, ENCODING_SBE_LE, payload).unwrap();
        let got = RetransmitStore::get(&j, seq).unwrap();
        checksum += got.len() as u64;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "appends allocated {} times",
        after - before
    );
    // 5000 × ~300 B is over the 192 KiB ring: segments were rolled and recycled.
    let (first, last) = j.held().unwrap();
    assert!(first > 1);
    assert_eq!(last, 5000);
    assert_eq!(checksum, 2500 * 64 + 2500 * 256);
}
