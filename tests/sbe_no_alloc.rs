//! Proves the SBE hot path allocates nothing: decoding and encoding every FIXP vector, and a
//! Conga ExecutionReport with a fills group, under a counting global allocator.

use fixp_ws::codec::sbe::{conga, SbeEncoding};
use fixp_ws::codec::{Encoding, FrameKind, Inbound};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn the_counter_sees_allocations() {
    let count = allocations_during(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(16));
    });
    assert_eq!(count, 1);
}

#[test]
fn decode_and_encode_allocate_nothing() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/sbe-conformance/rl-generated-vectors/fixp");
    let mut frames: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    frames.sort();
    assert_eq!(frames.len(), 19);
    let mut out = [0u8; 256];
    let mut sbe = SbeEncoding::new();
    let mut decoded = 0usize;
    let mut matched = 0usize;
    let count = allocations_during(|| {
        for frame in &frames {
            if let Ok(Inbound::Fixp(m)) = sbe.decode(frame, FrameKind::Binary) {
                decoded += 1;
                let n = SbeEncoding::new().encode(&m, &mut out).unwrap_or(0);
                matched += usize::from(out.get(..n) == Some(&frame[..]));
            }
        }
        let mut e = conga::ExecutionReportEncoder::new(&mut out).unwrap();
        e.set_order_id(b"O1").unwrap();
        {
            let mut fills = e.fills_grp().unwrap();
            for i in 0..3 {
                let mut f = fills.next_entry().unwrap();
                f.fill_px().set_mantissa(100 + i);
                f.fill_qty().set_mantissa(i);
            }
        }
        let n = e.encoded_length();
        if let Ok(d) = conga::ExecutionReportDecoder::decode(&out[..n]) {
            decoded += d
                .fills_grp()
                .map(|f| f.fill_qty().mantissa() as usize)
                .sum::<usize>();
        }
    });
    assert_eq!(count, 0, "the codec allocated");
    assert_eq!(decoded, 19 + 3);
    assert_eq!(matched, 19);
}
