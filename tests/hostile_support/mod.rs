//! Support for the hostile-peer engine tests: sockets bound to a chosen loopback address, a raw
//! FIXP client over a blocking tungstenite WebSocket (plain or TLS), and an inline strategy
//! that answers orders and records what the engine told it (including its own engine thread's
//! allocation count, read on that thread).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, Inbound, SessionId};
use fixp_ws::engine::{Context, EngineEvent, InboundMessage, SessionKey, Strategy};
use fixp_ws::session::Event;
use fixp_ws::transport::WireEncoding;
use rustls::pki_types::ServerName;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Bytes, Message, WebSocket};

use super::engine_support::{
    encode_report, order, report_number, send, wait_until, Seen, Shared, GUARD,
};
use fixp_ws::engine::{SessionHandle, ToEngine};

/// A TCP connection to `server` from `local` (any port): how a test makes a peer look like
/// another host (127.0.0.2, ...).
pub fn connect_from(local: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(local, 0).into())?;
    socket.connect(&server.into())?;
    Ok(socket.into())
}

/// Open files this process may hold (its soft limit), from `/proc/self/limits`.
pub fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(1024)
}

/// Waits until the peer closes or resets `stream` (an engine that refused or dropped it).
/// Any bytes it sent first are returned.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(GUARD)).expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return got
            }
            Err(e) => panic!("no close from the engine: {e}"),
        }
    }
}

/// The first bytes of a TLS handshake (a rustls ClientHello) for `localhost`.
pub fn client_hello(cert_pem: &str) -> Vec<u8> {
    let config = fixp_ws::transport::client_config_from_ca_pem(cert_pem).expect("client tls");
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("hello");
    }
    hello
}

/// A blocking TLS stream to `server` from `local`, its handshake done.
pub fn tls_stream(
    local: IpAddr,
    server: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = connect_from(local, server).expect("tcp");
    tcp.set_read_timeout(Some(GUARD)).expect("timeout");
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("tls handshake");
    }
    stream
}

/// A stream a raw client runs over.
pub trait RawStream: Read + Write {
    /// Sets the read timeout of the socket underneath.
    fn set_timeout(&self, timeout: Duration);
}

impl RawStream for TcpStream {
    fn set_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).expect("timeout");
    }
}

impl RawStream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_timeout(&self, timeout: Duration) {
        self.sock.set_read_timeout(Some(timeout)).expect("timeout");
    }
}

/// What a raw client read.
#[derive(Debug, PartialEq, Eq)]
pub enum Read1 {
    /// A FIXP session message (its template and, for rejects, code and reason).
    Fixp(String),
    /// An application message.
    App(Vec<u8>),
    /// The Close frame's code.
    Close(u16),
}

/// A raw FIXP client (SBE) over a blocking WebSocket: it sends what the test says, exactly.
pub struct RawClient<S: RawStream> {
    pub ws: WebSocket<S>,
    sbe: SbeEncoding,
}

impl<S: RawStream> RawClient<S> {
    /// Upgrades `stream` to a `fixp-sbe` WebSocket on `/fixp`.
    pub fn open(stream: S, port: u16, tls: bool) -> Self {
        stream.set_timeout(GUARD);
        let scheme = if tls { "wss" } else { "ws" };
        let mut request = format!("{scheme}://localhost:{port}/fixp")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("fixp-sbe"),
        );
        let ws = match tungstenite::client(request, stream) {
            Ok((ws, _)) => ws,
            Err(e) => panic!("upgrade failed: {e}"),
        };
        RawClient {
            ws,
            sbe: SbeEncoding::new(),
        }
    }

    /// Sends one FIXP message.
    pub fn send(&mut self, message: &FixpMessage<'_>) {
        let mut buf = [0u8; 512];
        let n = self.sbe.encode(message, &mut buf).expect("encode");
        self.ws
            .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .expect("send");
    }

    /// Sends one application message.
    pub fn send_app(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(Bytes::copy_from_slice(bytes)))
            .expect("send");
    }

    /// The next FIXP message, application message or Close (heartbeats skipped).
    pub fn next(&mut self) -> Read1 {
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < GUARD, "nothing from the server");
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => match SbeEncoding::decode_frame(&bytes) {
                    Ok(Inbound::Fixp(FixpMessage::Sequence { .. })) => {}
                    Ok(Inbound::Fixp(m)) => return Read1::Fixp(describe(&m)),
                    Ok(Inbound::Application(_)) => return Read1::App(bytes.to_vec()),
                    Err(e) => panic!("undecodable frame: {e}"),
                },
                Ok(Message::Close(frame)) => {
                    return Read1::Close(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Read1::Close(1006)
                }
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    return Read1::Close(1006)
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Negotiates and establishes `id` (Idempotent client flow, the given keepalive); returns
    /// the two answers.
    pub fn logon(&mut self, id: SessionId, ts: u64, keepalive_ms: u32) -> (Read1, Read1) {
        self.send(&FixpMessage::Negotiate {
            session_id: id,
            timestamp: ts,
            client_flow: fixp_ws::codec::fixp::FlowType::Idempotent,
            credentials: &[],
        });
        let negotiated = self.next();
        self.send(&FixpMessage::Establish {
            session_id: id,
            timestamp: ts + 1,
            keepalive_interval: keepalive_ms,
            next_seq_no: Some(1),
            credentials: &[],
        });
        (negotiated, self.next())
    }
}

/// A FIXP message as text: its template, and a reject's code and reason.
pub fn describe(message: &FixpMessage<'_>) -> String {
    match message {
        FixpMessage::NegotiationReject { code, reason, .. } => format!(
            "NegotiationReject {code:?}: {}",
            String::from_utf8_lossy(reason)
        ),
        FixpMessage::EstablishmentReject { code, reason, .. } => format!(
            "EstablishmentReject {code:?}: {}",
            String::from_utf8_lossy(reason)
        ),
        other => format!("{:?}", other.template()),
    }
}

/// Epoch nanoseconds now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// What the [`Recorder`] strategy saw.
#[derive(Default, Debug)]
pub struct Record {
    pub sessions: Vec<SessionKey>,
    pub messages: Vec<(SessionKey, u64)>,
    pub events: Vec<(SessionKey, Event<'static>)>,
    pub engine: Vec<(SessionKey, EngineEvent)>,
    pub freed: Vec<SessionKey>,
}

/// An inline strategy that answers each order with a report (encoded in place), records
/// everything, and publishes its engine thread's allocation count and cycle count.
pub struct Recorder {
    pub log: Shared<Record>,
    /// Allocations counted on the engine thread so far (see `fixp_ws::alloc_count`).
    pub allocations: Arc<AtomicU64>,
    /// Duty cycles that ran `on_cycle` so far.
    pub cycles: Arc<AtomicU64>,
}

impl Recorder {
    pub fn new(log: Shared<Record>) -> Self {
        Recorder {
            log,
            allocations: Arc::new(AtomicU64::new(0)),
            cycles: Arc::new(AtomicU64::new(0)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut log)
    }
}

/// The allocation count the engine thread published after every duty cycle that ended after
/// this call (so it includes all the work the engine had done when this was called).
pub fn settled_allocations(allocations: &AtomicU64, cycles: &AtomicU64) -> u64 {
    let seen = cycles.load(Ordering::Acquire);
    let start = Instant::now();
    while cycles.load(Ordering::Acquire) < seen + 2 {
        assert!(start.elapsed() < GUARD, "engine stopped cycling");
        std::thread::sleep(Duration::from_millis(1));
    }
    allocations.load(Ordering::Acquire)
}

impl Strategy for Recorder {
    fn on_session(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        self.with(|log| log.sessions.push(session));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        self.with(|log| log.messages.push((message.session, message.seq)));
        let encoding = ctx.encoding(message.session).unwrap_or(WireEncoding::Sbe);
        // An order is answered; anything else (a raw client's bytes) is only recorded.
        let _ = ctx.send_with(message.session, |slot| {
            encode_report(message.bytes, encoding, slot)
        });
    }

    fn on_event(&mut self, _ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        self.with(|log| log.events.push((session, event)));
    }

    fn on_cycle(&mut self, _ctx: &mut Context<'_>) -> usize {
        self.allocations.store(
            fixp_ws::alloc_count::current_thread_allocations(),
            Ordering::Release,
        );
        self.cycles.fetch_add(1, Ordering::AcqRel);
        0
    }

    fn on_session_freed(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        self.with(|log| log.freed.push(session));
    }

    fn on_engine_event(&mut self, _ctx: &mut Context<'_>, session: SessionKey, event: EngineEvent) {
        self.with(|log| log.engine.push((session, event)));
    }
}

/// Sends orders `0..orders` on `client` and waits for their reports: each once, in order.
pub fn trade_in_order(client: &mut SessionHandle, seen: &mut Seen, orders: u64) {
    for i in 0..orders {
        send(client, &order(i, WireEncoding::Sbe));
    }
    wait_until(client, seen, "every report", |s| {
        s.messages.len() == orders as usize
    });
    let numbers: Vec<u64> = seen
        .messages
        .iter()
        .map(|(_, bytes)| report_number(bytes, WireEncoding::Sbe))
        .collect();
    assert_eq!(
        numbers,
        (0..orders).collect::<Vec<_>>(),
        "each report once, in order"
    );
}

/// Finalizes `client`'s session and waits until it is finalized.
pub fn finalize(client: &mut SessionHandle, seen: &mut Seen) {
    while client.command(ToEngine::Finalize).is_err() {
        std::thread::yield_now();
    }
    wait_until(client, seen, "finalized", |s| s.has(Event::Finalized));
}
