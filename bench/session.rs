//! Criterion benchmarks of the sans-IO session core (SBE encoding).
//!
//! What is measured, per application message:
//! - `send_step/idempotent`: `Session::send` (checks, copy into the outbound ring) plus
//!   `poll_transmit` (pop the frame). No encoding: application messages arrive encoded.
//! - `send_step/recoverable`: the same plus `MemoryStore::append` (copy into the retransmit
//!   ring).
//! - `receive_step`: `Session::handle_frame` of an application frame (the SBE decode is only
//!   the 8-byte header's schema-id check), implicit numbering, copy into the event ring, plus
//!   `poll_event`.

use criterion::{criterion_group, criterion_main, Criterion};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound};
use fixp_ws::session::{Event, MemoryStore, Session, SessionConfig, Transmit};
use std::hint::black_box;

/// An SBE application frame (schema 100, template 1) with an 8-byte body.
const APP: [u8; 16] = [8, 0, 1, 0, 100, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

fn last_frame(s: &mut Session<SbeEncoding, MemoryStore>) -> Vec<u8> {
    let mut last = Vec::new();
    while let Some(t) = s.poll_transmit() {
        if let Transmit::Frame { bytes, .. } = t {
            last = bytes.to_vec();
        }
    }
    last
}

fn feed(s: &mut Session<SbeEncoding, MemoryStore>, now: u64, msg: &FixpMessage<'_>) {
    let mut buf = [0u8; 256];
    let n = SbeEncoding::new().encode(msg, &mut buf).expect("encode");
    s.handle_frame(now, &buf[..n], FrameKind::Binary);
}

/// A client session established against a scripted server with the given server flow.
fn established(flow: FlowType, server_flow: FlowType) -> Session<SbeEncoding, MemoryStore> {
    let config = SessionConfig {
        flow,
        ..SessionConfig::default()
    };
    let id = fixp_ws::codec::SessionId::from_random_bytes([7; 16]);
    let mut s = Session::client(config, SbeEncoding::new(), MemoryStore::new(4096, 64), id);
    s.handle_connected(1);
    let negotiate = last_frame(&mut s);
    let Ok(Inbound::Fixp(FixpMessage::Negotiate { timestamp, .. })) =
        SbeEncoding::new().decode(&negotiate, FrameKind::Binary)
    else {
        panic!("Negotiate expected")
    };
    feed(
        &mut s,
        2,
        &FixpMessage::NegotiationResponse {
            session_id: id,
            request_timestamp: timestamp,
            server_flow,
            credentials: &[],
        },
    );
    let establish = last_frame(&mut s);
    let Ok(Inbound::Fixp(FixpMessage::Establish { timestamp, .. })) =
        SbeEncoding::new().decode(&establish, FrameKind::Binary)
    else {
        panic!("Establish expected")
    };
    feed(
        &mut s,
        3,
        &FixpMessage::EstablishmentAck {
            session_id: id,
            request_timestamp: timestamp,
            keepalive_interval: 2000,
            next_seq_no: None,
        },
    );
    last_frame(&mut s);
    while s.poll_event().is_some() {}
    s
}

fn send_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("session/send_step");
    for (name, flow) in [
        ("idempotent", FlowType::Idempotent),
        ("recoverable", FlowType::Recoverable),
    ] {
        let mut s = established(flow, FlowType::Idempotent);
        let mut now = 10u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                now += 1;
                let seq = s.send(now, black_box(&APP)).expect("send");
                if let Some(Transmit::Frame { bytes, .. }) = s.poll_transmit() {
                    black_box(bytes);
                }
                seq
            })
        });
    }
    group.finish();
}

fn receive_step(c: &mut Criterion) {
    let mut s = established(FlowType::Idempotent, FlowType::Idempotent);
    let mut now = 10u64;
    c.bench_function("session/receive_step", |b| {
        b.iter(|| {
            now += 1;
            s.handle_frame(now, black_box(&APP), FrameKind::Binary);
            match s.poll_event() {
                Some(Event::Message { seq, bytes }) => black_box((seq, bytes.len())),
                other => panic!("{other:?}"),
            }
        })
    });
}

criterion_group!(benches, send_step, receive_step);
criterion_main!(benches);
