//! Proves the JSON paths allocate nothing per message: `fixp_ws::alloc_count` counts this
//! thread's allocations while it decodes and encodes every Conga example (session and
//! application), hostile nesting and escapes included.

use fixp_ws::alloc_count::{count_on_current_thread, CountingAllocator};
use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound};
use std::path::PathBuf;

// Counts only on the thread that measures (see `fixp_ws::alloc_count`): libtest's own threads
// and other tests are never counted.
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
fn the_counter_sees_allocations() {
    let ((), count) = count_on_current_thread(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(16));
    });
    assert_eq!(count, 1);
}

#[test]
fn decode_and_encode_allocate_nothing() {
    let session = examples("session");
    let application = examples("application");
    let mut enc = JsonEncoding::new();
    let mut out = vec![0u8; 4096];
    // Escapes in keys and strings, and hostile nesting: still nothing allocated.
    let escaped =
        br#"{"\u0040type":"Sequ\u0065nce","next\u0053eqNo":7,"note":"a\"\\\ud83d\ude00"}"#;
    let deep = format!(
        r#"{{"@type":"Quote","deep":{}1{}}}"#,
        "[{\"a\":".repeat(60),
        "}]".repeat(60)
    );
    let nested = br#"{"@type":"Quote","legs":[{"px":[1,{"a":[[2],{"b":null}]}]}],"note":"plain"}"#;

    let ((fixp_count, app_count), allocations) = count_on_current_thread(|| {
        let mut fixp_count = 0;
        let mut app_count = 0;
        for frame in &session {
            let inbound = enc.decode(frame, FrameKind::Text).expect("decode");
            let Inbound::Fixp(msg) = inbound else {
                panic!("not a FIXP message")
            };
            // `with_scratch_capacity(0)` allocates nothing either: an empty boxed slice.
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
            let n = msg.encode_sbe(&mut out).expect("encode_sbe");
            assert_eq!(CongaMessage::decode_sbe(&out[..n]), Ok(msg));
            app_count += 1;
        }
        assert_eq!(
            enc.decode(escaped, FrameKind::Text),
            Ok(Inbound::Fixp(FixpMessage::Sequence { next_seq_no: 7 }))
        );
        for frame in [&nested[..], deep.as_bytes()] {
            assert_eq!(
                enc.decode(frame, FrameKind::Text),
                Ok(Inbound::Application(frame))
            );
        }
        (fixp_count, app_count)
    });
    assert_eq!((fixp_count, app_count), (13, 5));
    assert_eq!(allocations, 0, "allocations on the JSON paths");
}
