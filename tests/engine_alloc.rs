//! Messages through two engines over loopback allocate nothing (`ws://`, plain `tcp://` with
//! SOFH), or exactly rustls's record buffers (`wss://`, `tcp+tls://`), counted by
//! [`fixp_ws::alloc_count`] on the threads that carry them and on no other (libtest's threads
//! and other tests are never counted).
//!
//! - **Thread mode**: client engine → server engine → an echo strategy thread → back, with the
//!   client's strategy on the test thread. The engines count their own threads
//!   (`EngineConfig::count_allocations`); the echo thread and the test thread switch counting
//!   on for themselves; the count is the sum over tracked threads, so the tests of this binary
//!   run one at a time (an engine of another test would be counted too). Every allocation a
//!   thread makes for a message happens before that message reaches the test thread through
//!   the queues, so reading the sum once the last message arrived misses none.
//! - **Inline mode**: the client and server strategies run on their engine threads; each
//!   counts its own thread between the same two message numbers, after a warm-up.
//!
//! Over TLS, rustls 0.23 allocates one `Vec` per TLS record it seals (its
//! `MessageEncrypter::encrypt` returns an owned record: ring's encrypter allocates the
//! `PrefixedPayload`) and one per record it opens (`take_received_plaintext` copies the
//! plaintext into a `Vec`). The engine writes a session's frames of one settle as one batch,
//! in as few records as they fill (`tests/transport_batch.rs` counts those), but every batch
//! here is one frame, so every message is exactly one record: inline, one order is in flight
//! and each report answers one order; in thread mode the engine, recording stage timings (the
//! default), writes each command's frame as it applies it. Keepalives are long (60 s), so
//! no heartbeat record falls in the window while messages flow both ways. Hence, exactly:
//! per engine thread, 2 allocations per message it sends and receives (one sealed, one opened
//! record); per round trip over both engines, 4.

mod engine_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use engine_support::*;
use fixp_ws::alloc_count::{self, CountingAllocator};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{
    Context, EngineBuilder, EngineConfig, FromEngine, IdleMode, InboundMessage, SessionHandle,
    SessionKey, Strategy,
};
use fixp_ws::session::{Event, SessionState};
use fixp_ws::transport::WireEncoding;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// The count is summed over tracked threads: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const WARM_UP: u64 = 10_000;
const N: u64 = 3000;
/// No heartbeat while messages flow (see the module doc).
const KEEPALIVE_MS: u32 = 60_000;

fn counted_config() -> EngineConfig {
    EngineConfig {
        count_allocations: true,
        ..test_config(KEEPALIVE_MS)
    }
}

/// Sends `count` copies of `order` and reads `count` echoes.
fn stream(client: &mut SessionHandle, order: &[u8], count: u64) {
    let start = Instant::now();
    let mut sent = 0;
    let mut received = 0;
    while received < count {
        if sent < count && client.send(order).is_ok() {
            sent += 1;
        }
        while let Some(item) = client.poll() {
            match item {
                FromEngine::Message(m) => {
                    assert_eq!(m.bytes(), order);
                    received += 1;
                }
                FromEngine::Event(Event::Terminated(r)) => panic!("terminated: {r:?}"),
                _ => {}
            }
        }
        assert!(
            start.elapsed() < GUARD,
            "stream stalled at {received}/{count}"
        );
        std::hint::spin_loop();
    }
}

/// Allocations of every tracked thread (both engines, the echo thread, the test thread)
/// during `N` round trips of a thread-mode stream, after the warm-up.
fn thread_mode_allocations(carrier: Carrier, tls: bool, encoding: WireEncoding) -> u64 {
    let _serial = serial();
    let mut server = match carrier {
        Carrier::WebSocket => start_server(tls, counted_config()),
        Carrier::Tcp => start_tcp_server(tls, counted_config()),
    };
    let mut builder = EngineBuilder::new(counted_config()).expect("engine");
    let mut client = builder
        .initiate(initiator_via(
            &server,
            carrier,
            encoding,
            FlowType::Idempotent,
            KEEPALIVE_MS,
            3,
        ))
        .expect("initiate");
    let mut client_engine = builder.start().expect("start");
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);
    let stop = Arc::new(AtomicBool::new(false));
    let echo_stop = Arc::clone(&stop);
    let echo = std::thread::spawn(move || {
        alloc_count::track_current_thread(true);
        while !echo_stop.load(Ordering::Relaxed) {
            match served.poll() {
                Some(FromEngine::Message(m)) => {
                    while served.send(m.bytes()).is_err() {
                        std::hint::spin_loop();
                    }
                }
                Some(_) => {}
                None => std::hint::spin_loop(),
            }
        }
        alloc_count::track_current_thread(false);
        served
    });
    let order = order(1, encoding);
    stream(&mut client, &order, WARM_UP);
    let ((), counted) = count_all_tracked(|| stream(&mut client, &order, N));
    stop.store(true, Ordering::Relaxed);
    let _served = echo.join().expect("echo thread");
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    counted
}

/// Runs `f` with the calling thread tracked; returns what every tracked thread allocated.
fn count_all_tracked<R>(f: impl FnOnce() -> R) -> (R, u64) {
    alloc_count::track_current_thread(true);
    let before = alloc_count::tracked_allocations();
    let result = f();
    let after = alloc_count::tracked_allocations();
    alloc_count::track_current_thread(false);
    (result, after - before)
}

#[test]
fn thread_mode_ws_stream_allocates_nothing_per_message() {
    for encoding in [WireEncoding::Sbe, WireEncoding::Json] {
        let allocations = thread_mode_allocations(Carrier::WebSocket, false, encoding);
        println!("thread mode ws:// {encoding:?}: {allocations} allocations in {N} round trips");
        assert_eq!(allocations, 0, "{encoding:?}");
    }
}

#[test]
fn thread_mode_wss_stream_allocates_exactly_the_tls_record_buffers() {
    let allocations = thread_mode_allocations(Carrier::WebSocket, true, WireEncoding::Sbe);
    println!("thread mode wss:// Sbe: {allocations} allocations in {N} round trips");
    // Per round trip: order sealed (client), opened (server), echo sealed (server), opened
    // (client).
    assert_eq!(allocations, 4 * N);
}

#[test]
fn thread_mode_tcp_stream_allocates_nothing_per_message() {
    let allocations = thread_mode_allocations(Carrier::Tcp, false, WireEncoding::Sbe);
    println!("thread mode tcp:// Sbe: {allocations} allocations in {N} round trips");
    assert_eq!(allocations, 0);
}

/// What one inline strategy counted on its engine thread.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    /// Messages received so far.
    received: u64,
    /// This thread's allocation count when message `WARM_UP` arrived.
    start: Option<u64>,
    /// Allocations between message `WARM_UP` and message `WARM_UP + N`.
    counted: Option<u64>,
}

impl Window {
    /// Notes a received message (call first thing in `on_message`).
    fn note(&mut self) {
        let now = alloc_count::current_thread_allocations();
        if self.received == WARM_UP {
            self.start = Some(now);
        }
        if self.received == WARM_UP + N {
            self.counted = self.start.map(|s| now - s);
        }
        self.received += 1;
    }
}

/// Server: answers each order with an ExecutionReport encoded in place.
struct Answer {
    window: Window,
    out: Shared<Window>,
}

impl Strategy for Answer {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        self.window.note();
        let encoding = ctx.encoding(message.session).unwrap_or(WireEncoding::Sbe);
        let _ = ctx.send_with(message.session, |slot| {
            encode_report(message.bytes, encoding, slot)
        });
        if self.window.counted.is_some() {
            if let Ok(mut out) = self.out.try_lock() {
                *out = self.window;
            }
        }
    }
}

/// Client: one order in flight; the next goes out from the callback of the previous report.
struct PingPong {
    encoding: WireEncoding,
    order: Vec<u8>,
    window: Window,
    out: Shared<Window>,
}

impl Strategy for PingPong {
    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        if event == Event::StateChanged(SessionState::Established) {
            let _ = ctx.send(session, &self.order);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        self.window.note();
        debug_assert_eq!(report_number(message.bytes, self.encoding), 1);
        if self.window.counted.is_none() {
            let _ = ctx.send(message.session, &self.order);
        } else if let Ok(mut out) = self.out.try_lock() {
            *out = self.window;
        }
    }
}

/// Allocations on the (server, client) engine threads over `N` round trips of inline
/// strategies, after the warm-up.
fn inline_allocations(carrier: Carrier, tls: bool, encoding: WireEncoding) -> (u64, u64) {
    inline_allocations_with(carrier, tls, encoding, counted_config())
}

/// [`inline_allocations`] with both engines on `config`.
fn inline_allocations_with(
    carrier: Carrier,
    tls: bool,
    encoding: WireEncoding,
    config: EngineConfig,
) -> (u64, u64) {
    let _serial = serial();
    let server_window = shared::<Window>();
    let client_window = shared::<Window>();
    let answer = Answer {
        window: Window::default(),
        out: server_window.clone(),
    };
    let mut server = match carrier {
        Carrier::WebSocket => start_inline_server(tls, config.clone(), answer),
        Carrier::Tcp => start_inline_tcp_server(tls, config.clone(), answer),
    };
    let mut builder = EngineBuilder::with_strategy(
        config,
        PingPong {
            encoding,
            order: order(1, encoding),
            window: Window::default(),
            out: client_window.clone(),
        },
    )
    .expect("engine");
    builder
        .initiate_inline(initiator_via(
            &server,
            carrier,
            encoding,
            FlowType::Idempotent,
            KEEPALIVE_MS,
            9,
        ))
        .expect("initiate");
    let mut client = builder.start().expect("start");
    wait_for(&client_window, "client window", |w| w.counted.is_some());
    wait_for(&server_window, "server window", |w| w.counted.is_some());
    client.shutdown();
    client.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    let counted = |w: &Shared<Window>| {
        w.lock()
            .unwrap_or_else(|e| e.into_inner())
            .counted
            .unwrap_or(u64::MAX)
    };
    (counted(&server_window), counted(&client_window))
}

#[test]
fn inline_ws_round_trips_allocate_nothing_on_either_engine_thread() {
    for encoding in [WireEncoding::Sbe, WireEncoding::Json] {
        let (server, client) = inline_allocations(Carrier::WebSocket, false, encoding);
        println!(
            "inline ws:// {encoding:?}: server {server}, client {client} allocations in {N} round trips"
        );
        assert_eq!((server, client), (0, 0), "{encoding:?}");
    }
}

#[test]
fn inline_wss_round_trips_allocate_exactly_one_buffer_per_tls_record() {
    let (server, client) = inline_allocations(Carrier::WebSocket, true, WireEncoding::Sbe);
    println!("inline wss:// Sbe: server {server}, client {client} allocations in {N} round trips");
    // Each engine thread seals N records and opens N records in the window.
    assert_eq!((server, client), (2 * N, 2 * N));
}

#[test]
fn inline_tcp_round_trips_allocate_nothing_on_either_engine_thread() {
    let (server, client) = inline_allocations(Carrier::Tcp, false, WireEncoding::Sbe);
    println!("inline tcp:// Sbe: server {server}, client {client} allocations in {N} round trips");
    assert_eq!((server, client), (0, 0));
}

#[test]
fn inline_tcp_tls_round_trips_allocate_exactly_one_buffer_per_tls_record() {
    let (server, client) = inline_allocations(Carrier::Tcp, true, WireEncoding::Sbe);
    println!(
        "inline tcp+tls:// Sbe: server {server}, client {client} allocations in {N} round trips"
    );
    // As over wss://: each engine thread seals N records and opens N records.
    assert_eq!((server, client), (2 * N, 2 * N));
}

#[test]
fn busy_engines_reading_directly_allocate_nothing_beyond_the_tls_records() {
    // Both engines busy-poll and read their one connection directly (`direct_reads`).
    let busy = EngineConfig {
        idle: IdleMode::BusyPoll,
        direct_reads: 2,
        ..counted_config()
    };
    for (carrier, tls, per_trip) in [
        (Carrier::WebSocket, false, 0),
        (Carrier::WebSocket, true, 2),
        (Carrier::Tcp, false, 0),
    ] {
        let (server, client) =
            inline_allocations_with(carrier, tls, WireEncoding::Sbe, busy.clone());
        println!("busy, direct reads, {carrier:?} tls {tls}: server {server}, client {client}");
        assert_eq!(
            (server, client),
            (per_trip * N, per_trip * N),
            "{carrier:?} {tls}"
        );
    }
}
