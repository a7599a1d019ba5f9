//! Operations cost the engine thread no allocation, counted by [`fixp_ws::alloc_count`] on
//! the engine threads only (libtest's threads and other tests are never counted):
//!
//! - round trips between two inline engines over `ws://` (which allocate nothing, see
//!   `engine_alloc.rs`) stay at exactly 0 allocations per engine thread while both publish
//!   status every millisecond, a reader thread reads it continuously and logging is on;
//! - a server whose sessions connect, trade, get rejected, break the protocol and are ended
//!   from the admin queue makes no allocation inside its operations hooks (status
//!   publication, log records, admin commands), which count what they allocate themselves
//!   (connection set-up and teardown allocate in the transport, outside the hooks).

mod engine_support;
mod ops_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_support::*;
use fixp_ws::alloc_count::{self, CountingAllocator};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{
    Context, EndAction, EndOutcome, EngineBuilder, EngineConfig, InboundMessage, SessionKey,
    Strategy,
};
use fixp_ws::session::{Event, SessionState};
use fixp_ws::transport::WireEncoding;
use ops_support::{
    establish_unknown, negotiate_and_establish, raw_client, read_to_close, send_garbage,
    wait_status,
};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Engines of two tests would share the tracked count: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const WARM_UP: u64 = 5_000;
const N: u64 = 3_000;
/// No heartbeat while messages flow.
const KEEPALIVE_MS: u32 = 60_000;

/// Counted engines that publish status every millisecond and keep logs.
fn ops_config(keepalive_ms: u32) -> EngineConfig {
    let mut config = EngineConfig {
        count_allocations: true,
        ..test_config(keepalive_ms)
    };
    config.ops.status_interval = Some(Duration::from_millis(1));
    config
}

/// What an inline strategy counted on its engine thread between message `WARM_UP` and
/// message `WARM_UP + N`.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    received: u64,
    start: Option<u64>,
    counted: Option<u64>,
}

impl Window {
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

/// Server: echoes each message.
struct Echo {
    window: Window,
    out: Shared<Window>,
}

impl Strategy for Echo {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        self.window.note();
        let _ = ctx.send(message.session, message.bytes);
        if self.window.counted.is_some() {
            if let Ok(mut out) = self.out.try_lock() {
                *out = self.window;
            }
        }
    }
}

/// Client: one message in flight.
struct PingPong {
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
        if self.window.counted.is_none() {
            let _ = ctx.send(message.session, &self.order);
        } else if let Ok(mut out) = self.out.try_lock() {
            *out = self.window;
        }
    }
}

#[test]
fn status_publication_and_logging_add_no_allocation_to_inline_round_trips() {
    let _serial = serial();
    let server_window = shared::<Window>();
    let client_window = shared::<Window>();
    let mut server = start_inline_server(
        false,
        ops_config(KEEPALIVE_MS),
        Echo {
            window: Window::default(),
            out: server_window.clone(),
        },
    );
    let mut builder = EngineBuilder::with_strategy(
        ops_config(KEEPALIVE_MS),
        PingPong {
            order: order(1, WireEncoding::Sbe),
            window: Window::default(),
            out: client_window.clone(),
        },
    )
    .expect("engine");
    builder
        .initiate_inline(initiator(
            &server,
            WireEncoding::Sbe,
            FlowType::Idempotent,
            KEEPALIVE_MS,
            21,
        ))
        .expect("initiate");
    let mut client = builder.start().expect("start");
    let server_logs = server
        .engine
        .take_log_drain()
        .expect("logs")
        .spawn(Duration::from_millis(1))
        .expect("logger");
    let client_logs = client
        .take_log_drain()
        .expect("logs")
        .spawn(Duration::from_millis(1))
        .expect("logger");
    // A reader that never stops reading the status while messages flow.
    let status = server.engine.ops().status().clone();
    let reading = Arc::new(AtomicBool::new(true));
    let keep_reading = Arc::clone(&reading);
    let reader = std::thread::spawn(move || {
        let mut reads = 0u64;
        while keep_reading.load(Ordering::Relaxed) {
            reads += status.sessions().len() as u64;
        }
        reads
    });
    let rounds_before = server.engine.ops().status().rounds();
    wait_for(&client_window, "client window", |w| w.counted.is_some());
    wait_for(&server_window, "server window", |w| w.counted.is_some());
    let rounds = server.engine.ops().status().rounds() - rounds_before;
    reading.store(false, Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    client.shutdown();
    client.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    server_logs.stop();
    client_logs.stop();
    let counted = |w: &Shared<Window>| {
        w.lock()
            .unwrap_or_else(|e| e.into_inner())
            .counted
            .unwrap_or(u64::MAX)
    };
    let (server_allocations, client_allocations) =
        (counted(&server_window), counted(&client_window));
    println!(
        "ws:// inline with status every 1 ms: server {server_allocations}, client \
         {client_allocations} allocations in {N} round trips; {rounds} status rounds, {reads} \
         records read"
    );
    assert!(rounds > 0, "status was published while messages flowed");
    assert!(reads > 0);
    assert_eq!((server_allocations, client_allocations), (0, 0));
    assert_eq!(server.engine.ops().hook_allocations(), 0);
    assert_eq!(client.ops().hook_allocations(), 0);
}

#[test]
fn hooks_allocate_nothing_while_sessions_connect_trade_break_and_are_ended() {
    let _serial = serial();
    let mut server = start_server(false, ops_config(100));
    let logs = server
        .engine
        .take_log_drain()
        .expect("logs")
        .spawn(Duration::from_millis(1))
        .expect("logger");
    let ops = server.engine.ops().clone();

    // A session that connects, trades and is ended from the admin queue.
    let (mut client_engine, mut client) =
        start_client(&server, WireEncoding::Sbe, FlowType::Idempotent, 100, 31);
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);
    for i in 0..20 {
        send(&mut client, &order(i, WireEncoding::Sbe));
    }
    let mut at_server = Seen::default();
    wait_until(&mut served, &mut at_server, "orders", |s| {
        s.messages.len() == 20
    });
    let id = client.session_id();
    wait_status(ops.status(), "published", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.next_seq_expected == 21)
    });
    let ended = ops
        .control()
        .end(id, EndAction::Terminate, GUARD)
        .expect("answered");
    assert_eq!(ended, EndOutcome::Terminated);
    wait_until(&mut served, &mut at_server, "unbound", Seen::terminated);

    // A reject, then a violation.
    let mut ws = raw_client(server.addr);
    establish_unknown(&mut ws, session_id(32));
    read_to_close(&mut ws);
    let mut ws = raw_client(server.addr);
    negotiate_and_establish(&mut ws, session_id(33), FlowType::Idempotent);
    send_garbage(&mut ws);
    read_to_close(&mut ws);
    let _violator = accept(&mut server);

    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    logs.stop();
    println!(
        "hooks: {} log records, {} status rounds, {} allocations inside the hooks",
        ops.log_records(),
        ops.status().rounds(),
        ops.hook_allocations()
    );
    assert!(ops.log_records() >= 8, "the hooks ran");
    assert!(ops.status().rounds() > 0);
    assert_eq!(ops.hook_allocations(), 0);
}
