//! Appends and lookups allocate nothing, including across segment rolls and recycling:
//! [`fixp_ws::alloc_count`] counts this test thread's allocations only (other tests of the
//! binary, or libtest's threads, are never counted).

use fixp_ws::alloc_count::{self, CountingAllocator};
use fixp_ws::journal::{Direction, Journal, RingConfig, ENCODING_SBE_LE};
use fixp_ws::session::RetransmitStore;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

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
    let (checksum, allocations) = alloc_count::count_on_current_thread(|| {
        let mut checksum = 0u64;
        for seq in 1..=5000u64 {
            let payload: &[u8] = if seq % 2 == 0 { &small } else { &large };
            j.append(seq, seq, ENCODING_SBE_LE, payload).unwrap();
            let got = RetransmitStore::get(&j, seq).unwrap();
            checksum += got.len() as u64;
        }
        checksum
    });
    assert_eq!(allocations, 0, "appends allocated {allocations} times");
    // 5000 × ~300 B is over the 192 KiB ring: segments were rolled and recycled.
    let (first, last) = j.held().unwrap();
    assert!(first > 1);
    assert_eq!(last, 5000);
    assert_eq!(checksum, 2500 * 64 + 2500 * 256);
}
