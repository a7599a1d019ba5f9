//! Criterion benchmarks of the engine's operations hooks, the work they add to the engine
//! thread (`docs/operations.md`):
//!
//! - `status/publish_round_1024`: one publication round over 1 024 live sessions (each record
//!   copied into its seqlocked slot); divide by 1 024 for the cost per session and round.
//! - `status/read_1024`: a reader's copy of all 1 024 records (on the reader's thread).
//! - `log/push_pop`: one `Copy` log record into the bounded queue and out again (the engine's
//!   push; the drain's pop), without the `tracing` formatting the drain does.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::log::{LogEvent, LogRecord, RecoveryDirection, SessionRef};
use fixp_ws::engine::status::{
    status_board, ConsumerMode, SessionStatusRecord, StatusCounters, StatusQueues,
};
use fixp_ws::engine::TransportKind;
use fixp_ws::session::{Role, SessionState};
use fixp_ws::transport::WireEncoding;

const SESSIONS: usize = 1024;

fn record(index: usize, now: u64, peer: SocketAddr) -> SessionStatusRecord {
    SessionStatusRecord {
        index: index as u32,
        generation: 0,
        session_id: SessionId::from_random_bytes([index as u8; 16]),
        role: Role::Server,
        mode: ConsumerMode::Inline,
        encoding: WireEncoding::Sbe,
        state: SessionState::Established,
        bound: true,
        outbound_flow: FlowType::Recoverable,
        inbound_flow: Some(FlowType::Idempotent),
        next_seq_to_send: now,
        next_seq_expected: now,
        last_heard_ns: now,
        finished_sending: false,
        peer_finished_sending: false,
        queues: StatusQueues::default(),
        counters: StatusCounters::default(),
        recovering: None,
        replaying: None,
        transport: Some(TransportKind::Wss),
        peer: Some(peer),
        updated_ns: now,
    }
}

fn status(c: &mut Criterion) {
    let mut group = c.benchmark_group("status");
    group.throughput(Throughput::Elements(SESSIONS as u64));
    let (mut publisher, reader) = status_board(SESSIONS, 1, SESSIONS);
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let mut now = 1u64;
    group.bench_function("publish_round_1024", |b| {
        b.iter(|| {
            now += 2;
            publisher.note_work(1);
            // One call writes the whole round (batch = capacity); the next ends it.
            let written = publisher.publish(now, |i| Some(record(i, now, peer)));
            publisher.publish(now, |i| Some(record(i, now, peer)));
            black_box(written)
        })
    });
    group.bench_function("read_1024", |b| {
        b.iter(|| black_box(reader.sessions().len()))
    });
    group.finish();
}

fn log(c: &mut Criterion) {
    let queue = Arc::new(ArrayQueue::new(4096));
    let session = SessionRef {
        id: SessionId::from_random_bytes([1; 16]),
        index: 0,
        role: Role::Server,
    };
    c.bench_function("log/push_pop", |b| {
        b.iter(|| {
            let record = LogRecord {
                at_ns: 1,
                event: LogEvent::RecoveryStarted {
                    session,
                    direction: RecoveryDirection::Inbound,
                    from: 1,
                    end: 10,
                },
            };
            let _ = queue.push(black_box(record));
            black_box(queue.pop())
        })
    });
}

criterion_group!(benches, status, log);
criterion_main!(benches);
