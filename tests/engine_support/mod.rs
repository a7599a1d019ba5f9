//! Support for the engine tests: server and client engines on loopback with the blocking idle
//! strategy, over WebSocket or TCP+SOFH ([`Carrier`]), Conga order messages, the shared
//! kill-and-recover scenario, and polling helpers with a guard against hangs (no test asserts
//! on time).
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fixp_ws::codec::conga::{CongaMessage, Id8, NewOrderSingle, OrdType, Price, Side};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    Context, EngineBuilder, EngineConfig, EngineHandle, FromEngine, IdleMode, InboundMessage,
    InitiatorConfig, NoStrategy, SessionHandle, SessionKey, Strategy, ToEngine, Transport,
};
use fixp_ws::session::{Event, SessionConfig, SessionState, TerminateReason};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, ServerIdentity, SofhOptions, Subprotocol,
    WireEncoding, WsOptions,
};

/// Safety net against hangs only.
pub const GUARD: Duration = Duration::from_secs(20);

/// Silent keepalive intervals before a binding ends, in tests.
pub const LAPSE_MULTIPLE: u32 = 10;

/// Engine settings for tests: blocking idle strategy, short keepalives.
pub fn test_config(keepalive_ms: u32) -> EngineConfig {
    let mut config = EngineConfig {
        idle: IdleMode::Block(Duration::from_millis(20)),
        ..EngineConfig::default()
    };
    config.acceptor.session.keepalive_interval_ms = keepalive_ms;
    // Short keepalives, but a binding ends only after LAPSE_MULTIPLE silent intervals: a busy
    // test machine that starves a thread for a few intervals does not end sessions.
    config.acceptor.session.lapse_multiple = LAPSE_MULTIPLE;
    config.acceptor.keepalive_range_ms = (10, 60_000);
    config.reconnect_min = Duration::from_millis(10);
    config.reconnect_max = Duration::from_millis(100);
    config.retransmit_capacity = 1024;
    config
}

/// A started server engine and what clients need to reach it.
pub struct Server<S: Strategy = NoStrategy> {
    pub engine: EngineHandle<S>,
    /// The WebSocket listener.
    pub addr: SocketAddr,
    /// The TCP+SOFH listener, if the server has one (same acceptor table, same TLS).
    pub tcp_addr: Option<SocketAddr>,
    pub cert_pem: Option<String>,
}

/// The transport a test client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// `ws://` or `wss://`.
    WebSocket,
    /// `tcp://` or `tcp+tls://` (SOFH framing).
    Tcp,
}

/// SOFH options for a server or client: plain TCP is allowed only without TLS.
pub fn sofh_options(tls: bool, encoding: WireEncoding) -> SofhOptions {
    SofhOptions {
        encoding,
        allow_plain_tcp: !tls,
        ..SofhOptions::default()
    }
}

/// Starts an acceptor engine on 127.0.0.1 (TLS with a fresh self-signed certificate if `tls`).
pub fn start_server(tls: bool, config: EngineConfig) -> Server {
    serve(tls, EngineBuilder::new(config).expect("engine"), false)
}

/// Starts an acceptor engine whose sessions all go to the inline `strategy`.
pub fn start_inline_server<S: Strategy>(tls: bool, config: EngineConfig, strategy: S) -> Server<S> {
    serve(
        tls,
        EngineBuilder::with_strategy(config, strategy).expect("engine"),
        false,
    )
}

/// [`start_server`] with a TCP+SOFH (SBE) listener beside the WebSocket one.
pub fn start_tcp_server(tls: bool, config: EngineConfig) -> Server {
    serve(tls, EngineBuilder::new(config).expect("engine"), true)
}

/// [`start_inline_server`] with a TCP+SOFH (SBE) listener beside the WebSocket one.
pub fn start_inline_tcp_server<S: Strategy>(
    tls: bool,
    config: EngineConfig,
    strategy: S,
) -> Server<S> {
    serve(
        tls,
        EngineBuilder::with_strategy(config, strategy).expect("engine"),
        true,
    )
}

fn serve<S: Strategy>(tls: bool, mut builder: EngineBuilder<S>, tcp: bool) -> Server<S> {
    // These tests are about the engine, not credentials: no authentication, chosen explicitly.
    builder.authenticator(fixp_ws::session::AcceptAll);
    let (server_tls, cert_pem) = if tls {
        let identity = ServerIdentity::self_signed().expect("certificate");
        (
            Some(identity.server_config().expect("server config")),
            Some(identity.cert_pem.clone()),
        )
    } else {
        (None, None)
    };
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let tcp_addr = tcp.then(|| {
        let options = sofh_options(tls, WireEncoding::Sbe);
        builder
            .listen_tcp(any, server_tls.clone(), options)
            .expect("listen tcp")
    });
    let addr = builder
        .listen(any, server_tls, WsOptions::default())
        .expect("listen");
    Server {
        engine: builder.start().expect("start"),
        addr,
        tcp_addr,
        cert_pem,
    }
}

/// A random-enough v4 SessionId for a test.
pub fn session_id(seed: u64) -> SessionId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(&(std::process::id() as u64 ^ 0x9e37_79b9).to_le_bytes());
    SessionId::from_random_bytes(bytes)
}

/// Starts an initiator engine with one session to `server`.
pub fn start_client<S: Strategy>(
    server: &Server<S>,
    encoding: WireEncoding,
    flow: FlowType,
    keepalive_ms: u32,
    seed: u64,
) -> (EngineHandle, SessionHandle) {
    start_client_with(
        server,
        encoding,
        flow,
        keepalive_ms,
        seed,
        test_config(keepalive_ms),
    )
}

/// [`start_client`] with an engine configuration.
pub fn start_client_with<S: Strategy>(
    server: &Server<S>,
    encoding: WireEncoding,
    flow: FlowType,
    keepalive_ms: u32,
    seed: u64,
    config: EngineConfig,
) -> (EngineHandle, SessionHandle) {
    let mut builder = EngineBuilder::new(config).expect("engine");
    let handle = builder
        .initiate(initiator(server, encoding, flow, keepalive_ms, seed))
        .expect("initiate");
    (builder.start().expect("start"), handle)
}

/// The settings of a client session to `server` over WebSocket.
pub fn initiator<S: Strategy>(
    server: &Server<S>,
    encoding: WireEncoding,
    flow: FlowType,
    keepalive_ms: u32,
    seed: u64,
) -> InitiatorConfig {
    initiator_via(
        server,
        Carrier::WebSocket,
        encoding,
        flow,
        keepalive_ms,
        seed,
    )
}

/// The settings of a client session to `server` over `carrier` (TLS if the server has it).
pub fn initiator_via<S: Strategy>(
    server: &Server<S>,
    carrier: Carrier,
    encoding: WireEncoding,
    flow: FlowType,
    keepalive_ms: u32,
    seed: u64,
) -> InitiatorConfig {
    let subprotocol = match encoding {
        WireEncoding::Sbe => Subprotocol::FixpSbe,
        WireEncoding::Json => Subprotocol::FixpJson,
    };
    let tls = server
        .cert_pem
        .as_ref()
        .map(|pem| client_config_from_ca_pem(pem).expect("client tls"));
    let (addr, transport) = match carrier {
        Carrier::WebSocket => (
            server.addr,
            Transport::WebSocket(WsOptions {
                subprotocols: vec![subprotocol],
                ..WsOptions::default()
            }),
        ),
        Carrier::Tcp => (
            server.tcp_addr.expect("the server has a TCP listener"),
            Transport::Sofh(sofh_options(tls.is_some(), encoding)),
        ),
    };
    InitiatorConfig {
        target: ClientTarget {
            addr,
            host: "localhost".into(),
            tls,
        },
        transport,
        encoding,
        session: SessionConfig {
            flow,
            keepalive_interval_ms: keepalive_ms,
            lapse_multiple: LAPSE_MULTIPLE,
            ..SessionConfig::default()
        },
        session_id: session_id(seed),
        journal: None,
    }
}

/// A NewOrderSingle numbered `i`, encoded in `encoding`.
pub fn order(i: u64, encoding: WireEncoding) -> Vec<u8> {
    let message = CongaMessage::NewOrderSingle(NewOrderSingle {
        cl_ord_id: Id8::new(&format!("o{i}")).expect("id"),
        symbol: Id8::new("ABC").expect("symbol"),
        side: if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        transact_time: 1_700_000_000_000_000_000 + i,
        order_qty: 10,
        ord_type: OrdType::Limit,
        price: Some(Price(10_000 + i as i32)),
    });
    let mut out = vec![0u8; 1024];
    let n = match encoding {
        WireEncoding::Sbe => message.encode_sbe(&mut out),
        WireEncoding::Json => message.encode_json(&mut out),
    }
    .expect("encode");
    out.truncate(n);
    out
}

/// The order number of an encoded order (from its ClOrdId).
pub fn order_number(bytes: &[u8], encoding: WireEncoding) -> u64 {
    let message = match encoding {
        WireEncoding::Sbe => CongaMessage::decode_sbe(bytes),
        WireEncoding::Json => CongaMessage::decode_json(bytes),
    }
    .expect("decode");
    let CongaMessage::NewOrderSingle(order) = message else {
        panic!("not an order: {message:?}");
    };
    order
        .cl_ord_id
        .as_str()
        .trim_start_matches('o')
        .parse()
        .expect("number")
}

/// Waits for the server to hand over a new session.
pub fn accept(server: &mut Server) -> SessionHandle {
    let start = Instant::now();
    loop {
        if let Some(handle) = server.engine.accept() {
            return handle;
        }
        assert!(start.elapsed() < GUARD, "no session accepted");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Everything a session handle received.
#[derive(Default, Debug)]
pub struct Seen {
    pub messages: Vec<(u64, Vec<u8>)>,
    pub events: Vec<Event<'static>>,
    pub engine: Vec<fixp_ws::engine::EngineEvent>,
}

impl Seen {
    pub fn take(&mut self, handle: &mut SessionHandle) -> usize {
        let mut n = 0;
        while let Some(item) = handle.poll() {
            n += 1;
            match item {
                FromEngine::Message(m) => self.messages.push((m.seq, m.bytes().to_vec())),
                FromEngine::Event(e) => self.events.push(e),
                FromEngine::Engine(e) => self.engine.push(e),
                other => panic!("unexpected {other:?}"),
            }
        }
        n
    }

    pub fn has(&self, event: Event<'static>) -> bool {
        self.events.contains(&event)
    }

    pub fn terminated(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Terminated(_)))
    }
}

/// Polls `handle` into `seen` until `done(seen)`.
pub fn wait_until(
    handle: &mut SessionHandle,
    seen: &mut Seen,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    let start = Instant::now();
    while !done(seen) {
        if seen.take(handle) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            start.elapsed() < GUARD,
            "timed out waiting for {what}: {seen:?}"
        );
    }
}

/// Sends with retries on back-pressure.
pub fn send(handle: &mut SessionHandle, bytes: &[u8]) {
    let start = Instant::now();
    while handle.send(bytes).is_err() {
        assert!(start.elapsed() < GUARD, "queue stayed full");
        std::thread::yield_now();
    }
}

/// State an inline strategy shares with the test thread.
pub type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// A fresh shared value.
pub fn shared<T: Default>() -> Shared<T> {
    Shared::default()
}

/// Waits until `done` holds for the shared value (polling; the guard only catches hangs).
pub fn wait_for<T: std::fmt::Debug>(value: &Shared<T>, what: &str, done: impl Fn(&T) -> bool) {
    let start = Instant::now();
    loop {
        {
            let guard = value.lock().unwrap_or_else(|e| e.into_inner());
            if done(&guard) {
                return;
            }
            assert!(
                start.elapsed() < GUARD,
                "timed out waiting for {what}: {guard:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// An ExecutionReport (New) answering `order` (a NewOrderSingle in `encoding`), encoded
/// straight into `out`: the in-place reply of the inline tests.
pub fn encode_report(
    order: &[u8],
    encoding: WireEncoding,
    out: &mut [u8],
) -> Result<usize, &'static str> {
    let message = match encoding {
        WireEncoding::Sbe => CongaMessage::decode_sbe(order),
        WireEncoding::Json => CongaMessage::decode_json(order),
    };
    let Ok(CongaMessage::NewOrderSingle(order)) = message else {
        return Err("not a NewOrderSingle");
    };
    let report = new_report(&order);
    match encoding {
        WireEncoding::Sbe => report.encode_sbe(out),
        WireEncoding::Json => report.encode_json(out),
    }
    .map_err(|_| "report does not fit")
}

/// The ExecutionReport (New) answering `order`: its ids are the order's ClOrdId.
pub fn new_report(order: &NewOrderSingle) -> CongaMessage {
    CongaMessage::ExecutionReport(fixp_ws::codec::conga::ExecutionReport::accepted(order))
}

/// The ClOrdId number of an encoded ExecutionReport.
pub fn report_number(bytes: &[u8], encoding: WireEncoding) -> u64 {
    let message = match encoding {
        WireEncoding::Sbe => CongaMessage::decode_sbe(bytes),
        WireEncoding::Json => CongaMessage::decode_json(bytes),
    }
    .expect("decode");
    let CongaMessage::ExecutionReport(report) = message else {
        panic!("not a report: {message:?}");
    };
    report
        .cl_ord_id
        .as_str()
        .trim_start_matches('o')
        .parse()
        .expect("number")
}

/// Kills the client's connection (`ToEngine::DropConnection`) after each order number of
/// `drop_after` while 400 orders flow and are echoed by a thread-mode server over `carrier`;
/// asserts both Recoverable flows arrive exactly once and in order, one reconnection per drop.
pub fn drop_and_recover(carrier: Carrier, tls: bool, encoding: WireEncoding, drop_after: &[u64]) {
    const N: u64 = 400;
    let mut server = match carrier {
        Carrier::WebSocket => start_server(tls, test_config(100)),
        Carrier::Tcp => start_tcp_server(tls, test_config(100)),
    };
    let config = initiator_via(&server, carrier, encoding, FlowType::Recoverable, 100, 7);
    let mut builder = EngineBuilder::new(test_config(100)).expect("engine");
    let mut client = builder.initiate(config).expect("initiate");
    let mut client_engine = builder.start().expect("start");
    let mut client_seen = Seen::default();
    wait_until(&mut client, &mut client_seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);

    // The exchange side echoes every order as it arrives, on its own thread.
    let echo = std::thread::spawn(move || {
        let mut seen = Seen::default();
        let mut echoed = 0;
        while echoed < N {
            wait_until(&mut served, &mut seen, "orders at the server", |s| {
                s.messages.len() > echoed as usize
            });
            while (echoed as usize) < seen.messages.len() {
                let bytes = seen.messages[echoed as usize].1.clone();
                send(&mut served, &bytes);
                echoed += 1;
            }
        }
        wait_until(&mut served, &mut seen, "server finalized", |s| {
            s.has(Event::Finalized)
        });
        seen
    });

    for i in 1..=N {
        send(&mut client, &order(i, encoding));
        if drop_after.contains(&i) {
            client
                .command(ToEngine::DropConnection)
                .expect("queue has room");
        }
    }
    wait_until(&mut client, &mut client_seen, "all echoes", |s| {
        s.messages.len() as u64 >= N
    });
    client.command(ToEngine::Finalize).expect("queue");
    wait_until(&mut client, &mut client_seen, "client finalized", |s| {
        s.has(Event::Finalized)
    });
    let server_seen = echo.join().expect("echo thread");

    // Exactly once, in order, both ways.
    let numbers = |seen: &Seen| -> Vec<u64> {
        seen.messages
            .iter()
            .map(|(_, bytes)| order_number(bytes, encoding))
            .collect()
    };
    let expected: Vec<u64> = (1..=N).collect();
    assert_eq!(numbers(&server_seen), expected, "client → server");
    assert_eq!(numbers(&client_seen), expected, "server → client");
    let seqs: Vec<u64> = client_seen.messages.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, expected, "sequence numbers at the client");
    // The binding was really lost and re-established under the same SessionId.
    let lost = client_seen
        .events
        .iter()
        .filter(|e| matches!(e, Event::Terminated(TerminateReason::TransportLost)))
        .count();
    assert_eq!(lost, drop_after.len(), "{:?}", client_seen.events);
    let connections = client.counters().snapshot().connections;
    assert_eq!(connections, drop_after.len() as u64 + 1);
    let established = client_seen
        .events
        .iter()
        .filter(|e| **e == Event::StateChanged(SessionState::Established))
        .count();
    assert_eq!(established, drop_after.len() + 1);
    let ids: HashSet<_> = [client.session_id()].into_iter().collect();
    assert_eq!(ids.len(), 1);

    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

/// Locks a shared value (a poisoned lock is still read: a failed test already says why).
pub fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// What an [`Exchange`] strategy saw.
#[derive(Default, Debug)]
pub struct Book {
    /// Sessions met in `on_session`.
    pub sessions: Vec<SessionKey>,
    /// (session, sequence number, bytes) of every order, in delivery order.
    pub orders: Vec<(SessionKey, u64, Vec<u8>)>,
    pub events: Vec<(SessionKey, Event<'static>)>,
    pub freed: Vec<SessionKey>,
    pub errors: Vec<String>,
}

impl Book {
    /// The order numbers ([`order_number`]) of the orders, in delivery order.
    pub fn numbers(&self, encoding: WireEncoding) -> Vec<u64> {
        self.orders
            .iter()
            .map(|o| order_number(&o.2, encoding))
            .collect()
    }

    /// The sequence numbers of the orders, in delivery order.
    pub fn seqs(&self) -> Vec<u64> {
        self.orders.iter().map(|o| o.1).collect()
    }

    /// How many times `event` was seen, on any session.
    pub fn count(&self, event: &Event<'static>) -> usize {
        self.events.iter().filter(|(_, e)| e == event).count()
    }
}

/// An inline exchange: answers every NewOrderSingle with an ExecutionReport (New) encoded in
/// place; after its `drop_after`-th order it drops the connection, after its `unbind_after`-th
/// it unbinds (`Context::terminate`).
pub struct Exchange {
    pub book: Shared<Book>,
    pub drop_after: Option<usize>,
    pub unbind_after: Option<usize>,
}

impl Exchange {
    /// An exchange recording into `book`, dropping and unbinding nothing.
    pub fn new(book: &Shared<Book>) -> Self {
        Exchange {
            book: book.clone(),
            drop_after: None,
            unbind_after: None,
        }
    }
}

impl Strategy for Exchange {
    fn on_session(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        lock(&self.book).sessions.push(session);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let encoding = ctx.encoding(message.session).unwrap_or(WireEncoding::Sbe);
        let mut book = lock(&self.book);
        book.orders
            .push((message.session, message.seq, message.bytes.to_vec()));
        let count = Some(book.orders.len());
        if let Err(e) = ctx.send_with(message.session, |slot| {
            encode_report(message.bytes, encoding, slot)
        }) {
            book.errors.push(format!("report {count:?}: {e}"));
        }
        if self.drop_after == count && ctx.drop_connection(message.session).is_err() {
            book.errors.push("drop".into());
        }
        if self.unbind_after == count && ctx.terminate(message.session).is_err() {
            book.errors.push("unbind".into());
        }
    }

    fn on_event(&mut self, _ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        lock(&self.book).events.push((session, event));
    }

    fn on_session_freed(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        lock(&self.book).freed.push(session);
    }
}
