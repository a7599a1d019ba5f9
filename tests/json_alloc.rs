//! Proves the JSON paths allocate nothing per message: a counting global allocator around
//! decoding and encoding every Conga example (session and application).

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{Encoding, FrameKind, Inbound};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts allocations.
unsafe impl GlobalAlloc for CountingAllocator {
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
static GLOBAL: CountingAllocator = CountingAllocator;

fn examples(kind: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/spec/conga-json-examples")
        .join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn decode_and_encode_allocate_nothing() {
    let session = examples("session");
    let application = examples("application");
    let mut enc = JsonEncoding::new();
    let mut out = vec![0u8; 4096];
    let mut fixp_count = 0;
    let mut app_count = 0;

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for frame in &session {
        let inbound = enc.decode(frame, FrameKind::Text).expect("decode");
        let Inbound::Fixp(msg) = inbound else {
            panic!("not a FIXP message")
        };
        let mut encoder = JsonEncoding::with_scratch_capacity(0);
        let n = encoder.encode(&msg, &mut out).expect("encode");
        assert!(n > 0);
        fixp_count += 1;
    }
    for frame in &application {
        assert!(matches!(
            enc.decode(frame, FrameKind::Binary),
            Ok(Inbound::Application(_))
        ));
        let msg = CongaMessage::decode_json(frame).expect("decode");
        let n = msg.encode_json(&mut out).expect("encode");
        assert!(n > 0);
        app_count += 1;
    }
    // Unknown members are skipped without allocating, however deeply they nest.
    let nested = br#"{"@type":"Quote","legs":[{"px":[1,{"a":[[2],{"b":null}]}]}],"note":"plain"}"#;
    assert_eq!(
        enc.decode(nested, FrameKind::Text),
        Ok(Inbound::Application(&nested[..]))
    );
    let after = ALLOCATIONS.load(Ordering::Relaxed);

    assert_eq!((fixp_count, app_count), (13, 5));
    // `with_scratch_capacity(0)` allocates nothing either: an empty boxed slice.
    assert_eq!(after - before, 0, "allocations on the JSON paths");
}
