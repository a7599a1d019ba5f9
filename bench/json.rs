//! Criterion benchmarks of the JSON interop path: FIXP session messages through `JsonEncoding`
//! and Conga order messages through `CongaMessage` (and the session's classifying pass over
//! them), decode and encode, on the Conga examples. Instruction counts of the same paths:
//! `bash bench/json_callgrind.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{Encoding, FrameKind, Inbound};
use std::hint::black_box;
use std::path::PathBuf;

fn example(kind: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/spec/conga-json-examples")
        .join(kind)
        .join(name);
    std::fs::read(path).expect("example file")
}

fn session(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_session");
    for name in [
        "Sequence.json",
        "Negotiate-with-credentials.json",
        "Establish.json",
    ] {
        let frame = example("session", name);
        group.throughput(Throughput::Bytes(frame.len() as u64));
        let mut enc = JsonEncoding::new();
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let inbound = enc.decode(black_box(&frame), FrameKind::Text);
                matches!(inbound, Ok(Inbound::Fixp(_)))
            })
        });
        let mut decoder = JsonEncoding::new();
        let Ok(Inbound::Fixp(msg)) = decoder.decode(&frame, FrameKind::Text) else {
            panic!("{name} is not a FIXP message");
        };
        let mut out = [0u8; 512];
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| enc.encode(black_box(&msg), &mut out))
        });
    }
    group.finish();
}

fn orders(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_conga");
    for name in ["NewOrderSingle.json", "ExecutionReport-Trade.json"] {
        let frame = example("application", name);
        group.throughput(Throughput::Bytes(frame.len() as u64));
        // The session's pass over an application frame: validated, classified, handed on.
        let mut json = JsonEncoding::new();
        group.bench_function(format!("classify/{name}"), |b| {
            b.iter(|| {
                let inbound = json.decode(black_box(&frame), FrameKind::Text);
                matches!(inbound, Ok(Inbound::Application(_)))
            })
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| CongaMessage::decode_json(black_box(&frame)))
        });
        let msg = CongaMessage::decode_json(&frame).expect("example decodes");
        let mut out = [0u8; 1024];
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(&msg).encode_json(&mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, session, orders);
criterion_main!(benches);
