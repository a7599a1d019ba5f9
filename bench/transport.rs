//! Criterion benchmarks for the transport and the engine's building blocks.
//!
//! - `roundtrip/{ws,wss,tcp,tcp+tls}`: one thread drives both ends of a loopback connection
//!   (busy polls with a zero timeout): client send → server read and echo → client read. This
//!   is the CPU cost of the whole path on both sides (WebSocket framing and masking or SOFH,
//!   TLS seal and open, four syscalls or more), not a two-thread latency; the latency harness in
//!   `perf/` measures that.
//! - `roundtrip_threads/{ws,wss,tcp,tcp+tls}`: the same echo with the server in its own
//!   busy-polling thread: a cross-thread loopback round trip (mean only; tails belong to
//!   `perf/`).
//! - `spsc/push_pop`: one `AppMessage<256>` through the queue on one thread.
//! - `histogram/record`: one value into the engine's recorder.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use fixp_ws::codec::FrameKind;
use fixp_ws::engine::{histogram_exchange, spsc_queue, AppMessage, HistogramBounds};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, HandshakeProgress, ReadStatus, SendStatus,
    ServerIdentity, SofhConnection, SofhOptions, TransportError, WsConnection, WsOptions,
};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};

/// The methods the benchmark drives, shared by both connection types.
trait Conn: Sized + Send + 'static {
    fn open(target: ClientTarget, registry: &Registry, token: Token) -> Self;
    fn start(
        socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        registry: &Registry,
        token: Token,
    ) -> Self;
    fn poll_handshake(&mut self) -> Result<HandshakeProgress, TransportError>;
    fn send(&mut self, kind: FrameKind, payload: &[u8]) -> Result<SendStatus, TransportError>;
    fn flush_pending(&self) -> bool;
    fn flush(&mut self) -> Result<SendStatus, TransportError>;
    fn read_frames(
        &mut self,
        on_frame: impl FnMut(FrameKind, &[u8]),
    ) -> Result<ReadStatus, TransportError>;
    fn deregister(&mut self, registry: &Registry) -> std::io::Result<()>;
    fn register_with(&mut self, registry: &Registry, token: Token) -> std::io::Result<()>;
}

macro_rules! delegate_conn {
    ($conn:ty, $options:expr) => {
        impl Conn for $conn {
            fn open(target: ClientTarget, registry: &Registry, token: Token) -> Self {
                <$conn>::connect(target, &$options, registry, token).expect("connect")
            }
            fn start(
                socket: TcpStream,
                tls: Option<&Arc<rustls::ServerConfig>>,
                registry: &Registry,
                token: Token,
            ) -> Self {
                <$conn>::accept(socket, tls, &$options, registry, token).expect("accept")
            }
            fn poll_handshake(&mut self) -> Result<HandshakeProgress, TransportError> {
                <$conn>::poll_handshake(self)
            }
            fn send(
                &mut self,
                kind: FrameKind,
                payload: &[u8],
            ) -> Result<SendStatus, TransportError> {
                <$conn>::send(self, kind, payload)
            }
            fn flush_pending(&self) -> bool {
                <$conn>::flush_pending(self)
            }
            fn flush(&mut self) -> Result<SendStatus, TransportError> {
                <$conn>::flush(self)
            }
            fn read_frames(
                &mut self,
                on_frame: impl FnMut(FrameKind, &[u8]),
            ) -> Result<ReadStatus, TransportError> {
                <$conn>::read_frames(self, on_frame)
            }
            fn deregister(&mut self, registry: &Registry) -> std::io::Result<()> {
                <$conn>::deregister(self, registry)
            }
            fn register_with(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
                <$conn>::register_with(self, registry, token)
            }
        }
    };
}

delegate_conn!(WsConnection, WsOptions::default());
delegate_conn!(
    SofhConnection,
    SofhOptions {
        allow_plain_tcp: true,
        ..SofhOptions::default()
    }
);

struct Pair<C> {
    poll: Poll,
    events: Events,
    client: C,
    server: C,
}

fn open_pair<C: Conn>(tls: bool) -> Pair<C> {
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(16);
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    poll.registry()
        .register(&mut listener, Token(0), Interest::READABLE)
        .expect("register");
    let identity = ServerIdentity::self_signed().expect("cert");
    let server_tls = tls.then(|| identity.server_config().expect("server config"));
    let client_tls = tls.then(|| client_config_from_ca_pem(&identity.cert_pem).expect("client"));
    let target = ClientTarget {
        addr,
        host: "localhost".to_owned(),
        tls: client_tls,
    };
    let mut client = C::open(target, poll.registry(), Token(2));
    let mut server: Option<C> = None;
    loop {
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .expect("poll");
        if server.is_none() {
            if let Ok((socket, _)) = listener.accept() {
                server = Some(C::start(
                    socket,
                    server_tls.as_ref(),
                    poll.registry(),
                    Token(1),
                ));
            }
        }
        let client_open = client.poll_handshake().expect("client") == HandshakeProgress::Open;
        let server_open = match server.as_mut() {
            Some(s) => s.poll_handshake().expect("server") == HandshakeProgress::Open,
            None => false,
        };
        if client_open && server_open {
            break;
        }
    }
    Pair {
        poll,
        events,
        client,
        server: server.expect("server"),
    }
}

fn round_trip<C: Conn>(pair: &mut Pair<C>, payload: &[u8]) {
    let _ = pair.client.send(FrameKind::Binary, payload).expect("send");
    let mut echo = [0u8; 256];
    let mut echo_len = None;
    let mut back = false;
    while !back {
        pair.poll
            .poll(&mut pair.events, Some(Duration::ZERO))
            .expect("poll");
        if pair.server.flush_pending() {
            let _ = pair.server.flush().expect("flush");
        }
        pair.server
            .read_frames(|_, b| {
                if let Some(slot) = echo.get_mut(..b.len()) {
                    slot.copy_from_slice(b);
                    echo_len = Some(b.len());
                }
            })
            .expect("server read");
        if let Some(len) = echo_len.take() {
            let _ = pair
                .server
                .send(FrameKind::Binary, &echo[..len])
                .expect("echo");
        }
        if pair.client.flush_pending() {
            let _ = pair.client.flush().expect("flush");
        }
        pair.client
            .read_frames(|_, b| {
                black_box(b);
                back = true;
            })
            .expect("client read");
    }
}

fn transport(c: &mut Criterion) {
    let payload = [0x42u8; 64];
    let mut group = c.benchmark_group("roundtrip");
    for (name, tls) in [("ws", false), ("wss", true)] {
        bench_round_trip(&mut group, name, open_pair::<WsConnection>(tls), &payload);
    }
    for (name, tls) in [("tcp", false), ("tcp+tls", true)] {
        bench_round_trip(&mut group, name, open_pair::<SofhConnection>(tls), &payload);
    }
    group.finish();
}

fn bench_round_trip<C: Conn>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut pair: Pair<C>,
    payload: &[u8],
) {
    for _ in 0..1000 {
        round_trip(&mut pair, payload);
    }
    group.bench_function(name, |b| b.iter(|| round_trip(&mut pair, payload)));
}

/// Echoes every frame until `stop`, busy-polling.
fn echo_server<C: Conn>(mut poll: Poll, mut server: C, stop: Arc<AtomicBool>) {
    let mut events = Events::with_capacity(16);
    let mut echo = [0u8; 256];
    while !stop.load(Ordering::Relaxed) {
        if poll.poll(&mut events, Some(Duration::ZERO)).is_err() {
            return;
        }
        if server.flush_pending() && server.flush().is_err() {
            return;
        }
        let mut echo_len = None;
        let read = server.read_frames(|_, b| {
            if let Some(slot) = echo.get_mut(..b.len()) {
                slot.copy_from_slice(b);
                echo_len = Some(b.len());
            }
        });
        if read.is_err() {
            return;
        }
        if let Some(len) = echo_len {
            if server.send(FrameKind::Binary, &echo[..len]).is_err() {
                return;
            }
        }
    }
}

fn transport_threads(c: &mut Criterion) {
    let payload = [0x42u8; 64];
    let mut group = c.benchmark_group("roundtrip_threads");
    for (name, tls) in [("ws", false), ("wss", true)] {
        bench_threads(&mut group, name, open_pair::<WsConnection>(tls), &payload);
    }
    for (name, tls) in [("tcp", false), ("tcp+tls", true)] {
        bench_threads(&mut group, name, open_pair::<SofhConnection>(tls), &payload);
    }
    group.finish();
}

fn bench_threads<C: Conn>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    pair: Pair<C>,
    payload: &[u8],
) {
    let Pair {
        poll,
        mut events,
        mut client,
        server,
    } = pair;
    // The server moves to its own thread with its own Poll; the client keeps this one.
    let server_poll = Poll::new().expect("poll");
    let mut server = server;
    server
        .deregister(poll.registry())
        .expect("deregister server");
    server
        .register_with(server_poll.registry(), Token(1))
        .expect("register server");
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = Arc::clone(&stop);
    let thread = std::thread::spawn(move || echo_server(server_poll, server, server_stop));
    let mut poll = poll;
    let mut one = |client: &mut C, events: &mut Events| {
        let _ = client.send(FrameKind::Binary, payload).expect("send");
        let mut back = false;
        while !back {
            poll.poll(events, Some(Duration::ZERO)).expect("poll");
            if client.flush_pending() {
                let _ = client.flush().expect("flush");
            }
            client
                .read_frames(|_, b| {
                    black_box(b);
                    back = true;
                })
                .expect("client read");
        }
    };
    for _ in 0..1000 {
        one(&mut client, &mut events);
    }
    group.bench_function(name, |b| b.iter(|| one(&mut client, &mut events)));
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("server thread");
}

fn blocks(c: &mut Criterion) {
    let (mut tx, mut rx) = spsc_queue::<AppMessage<256>>(1024);
    let message = AppMessage::<256>::new(&[7u8; 64], 1, 2).expect("fits");
    c.bench_function("spsc/push_pop", |b| {
        b.iter(|| {
            let _ = tx.push(black_box(message));
            black_box(rx.pop())
        })
    });
    let bounds = HistogramBounds {
        highest: 60_000_000_000,
        significant_figures: 3,
    };
    let (mut recorder, _reader) = histogram_exchange(bounds).expect("bounds");
    let mut v = 1u64;
    c.bench_function("histogram/record", |b| {
        b.iter(|| {
            v = v.wrapping_mul(6364136223846793005).wrapping_add(1);
            recorder.record(black_box(v >> 40));
        })
    });
}

criterion_group!(benches, transport, transport_threads, blocks);
criterion_main!(benches);
