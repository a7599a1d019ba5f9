//! Proves the SBE hot path allocates nothing: decoding and encoding every FIXP vector, and a
//! Conga ExecutionReport with a fills group, counted by `fixp_ws::alloc_count` on this thread.

use fixp_ws::alloc_count::{count_on_current_thread, CountingAllocator};
use fixp_ws::codec::sbe::{conga, SbeEncoding};
use fixp_ws::codec::{Encoding, FrameKind, Inbound};
use std::path::PathBuf;

// Counts only on the thread that measures (see `fixp_ws::alloc_count`): libtest's own threads
// and the other test in this binary are never counted.
#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    count_on_current_thread(f).1
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
