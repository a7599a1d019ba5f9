//! Test support for FIXP over TCP with SOFH framing, without the engine: one mio `Poll` drives a
//! `SofhListener` whose connections feed an `Acceptor`, client `Session`s over
//! `SofhConnection`s, and raw peers that write whatever bytes a test wants (plain or TLS).
//!
//! Time is simulated: `now` moves only in [`Net::advance`], so session timers fire only when a
//! test says so. Polls block with a guard timeout that only catches hangs; no test asserts on
//! wall-clock time.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fixp_ws::codec::conga::{CongaMessage, ExecutionReport, Id8};
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::sofh::{Sofh, SBE_LITTLE_ENDIAN, SOFH_LENGTH};
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, SessionId};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, Session, SessionConfig,
    Termination, Transmit,
};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, HandshakeProgress, ReadStatus, ServerIdentity,
    SofhConnection, SofhListener, SofhOptions, TlsStream, TransportError, WsStream,
};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Token of the listening socket.
pub const LISTENER: Token = Token(0);
const SERVER_BASE: usize = 1;
const CLIENT_BASE: usize = 10_000;
const RAW_BASE: usize = 20_000;

/// A safety net against hangs only.
const POLL_GUARD: Duration = Duration::from_secs(10);

/// How long either side waits for the peer's answering Terminate.
pub const TERMINATE_TIMEOUT_MS: u32 = 500;
/// The termination style of every session here.
pub const TCP: Termination = Termination::FixpTerminate {
    timeout_ms: TERMINATE_TIMEOUT_MS,
};
/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// The server table.
pub type TcpAcceptor =
    Acceptor<SbeEncoding, MemoryStore, AcceptAll, fn(SessionId) -> (SbeEncoding, MemoryStore)>;
/// A client session.
pub type TcpSession = Session<SbeEncoding, MemoryStore>;

fn factory(_: SessionId) -> (SbeEncoding, MemoryStore) {
    (SbeEncoding::new(), MemoryStore::new(4096, 256))
}

/// Options for plain TCP (an explicit choice) or TLS.
pub fn options(tls: bool) -> SofhOptions {
    SofhOptions {
        allow_plain_tcp: !tls,
        ..SofhOptions::default()
    }
}

/// A connected, open client/server `SofhConnection` pair on `poll` (no sessions).
pub fn open_pair(
    tls: bool,
    poll: &mut Poll,
    events: &mut Events,
) -> (SofhConnection, SofhConnection) {
    let (server_tls, client_tls) = if tls {
        let identity = ServerIdentity::self_signed().expect("certificate");
        (
            Some(identity.server_config().expect("server config")),
            Some(client_config_from_ca_pem(&identity.cert_pem).expect("client config")),
        )
    } else {
        (None, None)
    };
    let mut listener = SofhListener::bind(
        "127.0.0.1:0".parse().expect("addr"),
        server_tls,
        options(tls),
        poll.registry(),
        Token(0),
    )
    .expect("bind");
    let target = ClientTarget {
        addr: listener.local_addr().expect("addr"),
        host: "localhost".to_owned(),
        tls: client_tls,
    };
    let mut client =
        SofhConnection::connect(target, &options(tls), poll.registry(), Token(1)).expect("connect");
    let mut server = None;
    loop {
        if server.is_none() {
            server = listener.accept(poll.registry(), Token(2)).expect("accept");
        }
        let client_open = client.poll_handshake().expect("client") == HandshakeProgress::Open;
        let server_open = match server.as_mut() {
            Some(s) => s.poll_handshake().expect("server") == HandshakeProgress::Open,
            None => false,
        };
        if client_open && server_open {
            break;
        }
        poll.poll(events, Some(POLL_GUARD)).expect("poll");
        assert!(!events.is_empty(), "stalled");
    }
    (client, server.expect("accepted"))
}

/// A client session with `flow`, ending bindings with Terminate.
pub fn tcp_client(flow: fixp_ws::codec::fixp::FlowType, id: SessionId) -> TcpSession {
    let config = SessionConfig {
        flow,
        termination: TCP,
        ..SessionConfig::default()
    };
    Session::client(config, SbeEncoding::new(), MemoryStore::new(4096, 256), id)
}

/// The server side of one accepted connection.
#[derive(Default)]
pub struct ServerEnd {
    /// The connection (kept after it closes, for its stats).
    pub conn: Option<SofhConnection>,
    /// Its id in the acceptor.
    pub id: Option<ConnectionId>,
    /// The final status, once finished.
    pub closed: Option<ReadStatus>,
    /// The error that ended it.
    pub error: Option<String>,
    /// True once open.
    pub opened: bool,
    /// Frames delivered to the acceptor.
    pub frames_in: usize,
}

/// A client session over a `SofhConnection`.
pub struct ClientEnd {
    /// The session.
    pub session: TcpSession,
    /// The connection (kept after it closes, for its stats).
    pub conn: Option<SofhConnection>,
    /// Whether the session was told the transport is up (and not yet down).
    pub connected: bool,
    /// Application messages delivered: (seq, bytes).
    pub messages: Vec<(u64, Vec<u8>)>,
    /// Other events, as debug text.
    pub events: Vec<String>,
    /// What the session put on the wire: FIXP message names and Close.
    pub sent: Vec<String>,
    /// The final status, once finished.
    pub closed: Option<ReadStatus>,
    /// The error that ended it.
    pub error: Option<String>,
}

/// A peer that writes raw bytes (plain or TLS) and collects what it receives.
pub struct RawPeer {
    /// The stream.
    pub stream: WsStream,
    /// Bytes received.
    pub received: Vec<u8>,
    /// True once the server closed its side.
    pub eof: bool,
    /// The error that ended reading.
    pub error: Option<String>,
}

/// A listener, its acceptor, clients and raw peers on one `Poll`.
pub struct Net {
    /// The poll.
    pub poll: Poll,
    events: Events,
    /// The listener.
    pub listener: SofhListener,
    /// Its address.
    pub addr: SocketAddr,
    /// What a client trusts (TLS only).
    pub client_tls: Option<Arc<rustls::ClientConfig>>,
    /// The server certificate as PEM (TLS only), for foreign clients.
    pub cert_pem: Option<String>,
    /// The server table.
    pub acceptor: TcpAcceptor,
    /// Accepted connections, in order.
    pub servers: Vec<ServerEnd>,
    /// Client sessions.
    pub clients: Vec<ClientEnd>,
    /// Raw peers.
    pub raws: Vec<RawPeer>,
    /// Simulated time, ns.
    pub now: u64,
    /// Server application messages: (session, seq, bytes).
    pub server_messages: Vec<(SessionId, u64, Vec<u8>)>,
    /// Other server events, as debug text.
    pub server_events: Vec<String>,
    /// What the acceptor put on the wire: FIXP message names and Close.
    pub server_sent: Vec<String>,
    /// Answer each NewOrderSingle with an ExecutionReport (New).
    pub exchange: bool,
    /// Finalize a server session's flow once its peer finished sending.
    pub finalize_when_peer_finishes: bool,
}

/// The acceptor configuration used here: Recoverable server flow, TCP termination.
pub fn acceptor_config() -> AcceptorConfig {
    let mut config = AcceptorConfig::default();
    config.session.termination = TCP;
    config
}

impl Net {
    /// A listener on 127.0.0.1 (TLS with a fresh self-signed certificate, or plain TCP).
    pub fn new(tls: bool) -> Self {
        Self::with_options(tls, options(tls))
    }

    /// Like [`Net::new`] with the server's SOFH options.
    pub fn with_options(tls: bool, server_options: SofhOptions) -> Self {
        let poll = Poll::new().expect("poll");
        let (server_tls, client_tls, cert_pem) = if tls {
            let identity = ServerIdentity::self_signed().expect("certificate");
            (
                Some(identity.server_config().expect("server config")),
                Some(client_config_from_ca_pem(&identity.cert_pem).expect("client config")),
                Some(identity.cert_pem.clone()),
            )
        } else {
            (None, None, None)
        };
        let listener = SofhListener::bind(
            "127.0.0.1:0".parse().expect("addr"),
            server_tls,
            server_options,
            poll.registry(),
            LISTENER,
        )
        .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = Acceptor::new(
            acceptor_config(),
            SbeEncoding::new(),
            AcceptAll,
            factory as fn(SessionId) -> (SbeEncoding, MemoryStore),
        );
        Self {
            poll,
            events: Events::with_capacity(64),
            listener,
            addr,
            client_tls,
            cert_pem,
            acceptor,
            servers: Vec::new(),
            clients: Vec::new(),
            raws: Vec::new(),
            now: 1_700_000_000_000_000_000,
            server_messages: Vec::new(),
            server_events: Vec::new(),
            server_sent: Vec::new(),
            exchange: false,
            finalize_when_peer_finishes: false,
        }
    }

    fn target(&self) -> ClientTarget {
        ClientTarget {
            addr: self.addr,
            host: "localhost".to_owned(),
            tls: self.client_tls.clone(),
        }
    }

    fn open_client_conn(&self, index: usize) -> SofhConnection {
        SofhConnection::connect(
            self.target(),
            &options(self.client_tls.is_some()),
            self.poll.registry(),
            Token(CLIENT_BASE + index),
        )
        .expect("connect")
    }

    /// Connects `session` over a new `SofhConnection`; returns its index in `clients`.
    pub fn connect(&mut self, session: TcpSession) -> usize {
        let index = self.clients.len();
        let conn = self.open_client_conn(index);
        self.clients.push(ClientEnd {
            session,
            conn: Some(conn),
            connected: false,
            messages: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
            closed: None,
            error: None,
        });
        index
    }

    /// Drops client `index`'s socket at once: no Terminate, no FIN handshake of ours.
    pub fn kill(&mut self, index: usize) {
        let now = self.now;
        let end = &mut self.clients[index];
        if let Some(mut conn) = end.conn.take() {
            let _ = conn.deregister(self.poll.registry());
        }
        if end.connected {
            end.connected = false;
            end.session.handle_disconnected(now);
        }
    }

    /// Reconnects client `index` (its session keeps its state) over a new connection.
    pub fn reconnect(&mut self, index: usize) {
        self.kill(index);
        let conn = self.open_client_conn(index);
        let end = &mut self.clients[index];
        end.conn = Some(conn);
        end.closed = None;
        end.error = None;
    }

    /// Opens a raw peer (blocking connect, then non-blocking); returns its index in `raws`.
    pub fn raw(&mut self) -> usize {
        let index = self.raws.len();
        let std_socket = std::net::TcpStream::connect(self.addr).expect("raw connect");
        std_socket.set_nodelay(true).expect("nodelay");
        std_socket.set_nonblocking(true).expect("nonblocking");
        let mut socket = TcpStream::from_std(std_socket);
        self.poll
            .registry()
            .register(
                &mut socket,
                Token(RAW_BASE + index),
                Interest::READABLE | Interest::WRITABLE,
            )
            .expect("register raw");
        let stream = match &self.client_tls {
            None => WsStream::plain(socket),
            Some(config) => {
                let name = "localhost".try_into().expect("name");
                let tls = rustls::ClientConnection::new(Arc::clone(config), name).expect("tls");
                WsStream::Tls(Box::new(TlsStream::new(tls.into(), socket)))
            }
        };
        self.raws.push(RawPeer {
            stream,
            received: Vec::new(),
            eof: false,
            error: None,
        });
        index
    }

    /// Writes `bytes` on raw peer `index` in one write (TLS: one record, sent once the
    /// handshake is done).
    pub fn raw_write(&mut self, index: usize, bytes: &[u8]) {
        let peer = &mut self.raws[index];
        peer.stream.write_all(bytes).expect("raw write");
        let _ = peer.stream.flush();
    }

    /// Polls once and handles every event, then moves what sessions want to send.
    pub fn step(&mut self) -> usize {
        self.step_for(POLL_GUARD)
    }

    /// Like [`Net::step`], waiting at most `timeout` for an event.
    pub fn step_for(&mut self, timeout: Duration) -> usize {
        self.poll
            .poll(&mut self.events, Some(timeout))
            .expect("poll");
        let tokens: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
        for token in &tokens {
            self.handle(*token);
        }
        self.service();
        tokens.len()
    }

    /// Steps until `done` holds; panics if a poll brings nothing within the guard.
    pub fn run_until(&mut self, mut done: impl FnMut(&Net) -> bool) {
        self.service();
        while !done(self) {
            assert!(self.step() > 0, "no progress: the loop stalled");
        }
    }

    /// Advances simulated time and fires every session's timers.
    pub fn advance(&mut self, ns: u64) {
        self.now += ns;
        let now = self.now;
        for client in &mut self.clients {
            client.session.handle_timeout(now);
        }
        self.acceptor.handle_timeout(now);
        self.service();
    }

    fn handle(&mut self, token: Token) {
        match token.0 {
            0 => self.accept_all(),
            i if i >= RAW_BASE => self.read_raw(i - RAW_BASE),
            i if i >= CLIENT_BASE => self.drive_client(i - CLIENT_BASE),
            i => self.drive_server(i - SERVER_BASE),
        }
    }

    fn accept_all(&mut self) {
        loop {
            let index = self.servers.len();
            match self
                .listener
                .accept(self.poll.registry(), Token(SERVER_BASE + index))
            {
                Ok(Some(conn)) => {
                    let id = ConnectionId(index as u64 + 1);
                    self.acceptor.set_termination(id, TCP);
                    self.servers.push(ServerEnd {
                        conn: Some(conn),
                        id: Some(id),
                        ..ServerEnd::default()
                    });
                    self.drive_server(index);
                }
                Ok(None) => return,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    fn drive_server(&mut self, index: usize) {
        let now = self.now;
        let Some(end) = self.servers.get_mut(index) else {
            return;
        };
        let (Some(conn), Some(id)) = (end.conn.as_mut(), end.id) else {
            return;
        };
        if end.closed.is_some() || end.error.is_some() {
            return;
        }
        let acceptor = &mut self.acceptor;
        let result: Result<Option<ReadStatus>, TransportError> = (|| {
            if conn.poll_handshake()? == HandshakeProgress::InProgress {
                return Ok(None);
            }
            end.opened = true;
            if conn.flush_pending() {
                let _ = conn.flush()?;
            }
            let frames = &mut end.frames_in;
            let status = conn.read_frames(|kind, bytes| {
                *frames += 1;
                acceptor.handle_frame(now, id, bytes, kind);
            })?;
            Ok(matches!(status, ReadStatus::Closed(_)).then_some(status))
        })();
        match result {
            Ok(None) => {}
            Ok(Some(status)) => {
                end.closed = Some(status);
                self.acceptor.handle_disconnected(now, id);
            }
            Err(e) => {
                if !end.opened {
                    self.listener.record_handshake_failure(conn);
                }
                end.error = Some(e.to_string());
                self.acceptor.handle_disconnected(now, id);
            }
        }
    }

    fn drive_client(&mut self, index: usize) {
        let now = self.now;
        let Some(end) = self.clients.get_mut(index) else {
            return;
        };
        let Some(conn) = end.conn.as_mut() else {
            return;
        };
        if end.closed.is_some() || end.error.is_some() {
            return;
        }
        let session = &mut end.session;
        let connected = &mut end.connected;
        let result: Result<Option<ReadStatus>, TransportError> = (|| {
            if conn.poll_handshake()? == HandshakeProgress::InProgress {
                return Ok(None);
            }
            if !*connected {
                *connected = true;
                session.handle_connected(now);
            }
            if conn.flush_pending() {
                let _ = conn.flush()?;
            }
            let status = conn.read_frames(|kind, bytes| session.handle_frame(now, bytes, kind))?;
            Ok(matches!(status, ReadStatus::Closed(_)).then_some(status))
        })();
        match result {
            Ok(None) => {}
            Ok(Some(status)) => {
                end.closed = Some(status);
                end.connected = false;
                end.session.handle_disconnected(now);
            }
            Err(e) => {
                end.error = Some(e.to_string());
                end.connected = false;
                end.session.handle_disconnected(now);
            }
        }
    }

    fn read_raw(&mut self, index: usize) {
        let Some(peer) = self.raws.get_mut(index) else {
            return;
        };
        let _ = peer.stream.flush();
        if peer.eof || peer.error.is_some() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match peer.stream.read(&mut buf) {
                Ok(0) => {
                    peer.eof = true;
                    return;
                }
                Ok(n) => peer.received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    peer.error = Some(e.to_string());
                    return;
                }
            }
        }
    }

    /// Moves every transmit to its connection and drains every event (answering orders if
    /// `exchange`), until nothing moves.
    pub fn service(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            for end in &mut self.clients {
                while let Some(t) = end.session.poll_transmit() {
                    moved = true;
                    end.sent.push(describe(&t));
                    let Some(conn) = end.conn.as_mut().filter(|c| c.is_open()) else {
                        continue;
                    };
                    let outcome = match t {
                        Transmit::Frame { bytes, kind } => conn.send(kind, bytes),
                        Transmit::Close { code, reason } => conn.close(code, reason),
                    };
                    if let Err(e) = outcome {
                        end.error = Some(e.to_string());
                    }
                }
                while let Some(event) = end.session.poll_event() {
                    moved = true;
                    match event {
                        Event::Message { seq, bytes } => end.messages.push((seq, bytes.to_vec())),
                        other => end.events.push(format!("{other:?}")),
                    }
                }
            }
            while let Some((id, t)) = self.acceptor.poll_transmit() {
                moved = true;
                self.server_sent.push(describe(&t));
                let Some(conn) = self
                    .servers
                    .iter_mut()
                    .find(|s| s.id == Some(id))
                    .and_then(|s| s.conn.as_mut())
                    .filter(|c| c.is_open())
                else {
                    continue;
                };
                let _ = match t {
                    Transmit::Frame { bytes, kind } => conn.send(kind, bytes),
                    Transmit::Close { code, reason } => conn.close(code, reason),
                };
            }
            let mut replies = Vec::new();
            while let Some((sid, event)) = self.acceptor.poll_event() {
                moved = true;
                match event {
                    Event::Message { seq, bytes } => {
                        if self.exchange {
                            replies.push((sid, execution_report_for(bytes)));
                        }
                        self.server_messages.push((sid, seq, bytes.to_vec()));
                    }
                    other => self.server_events.push(format!("{other:?}")),
                }
            }
            for (sid, reply) in replies {
                if let Some(session) = self.acceptor.session_mut(sid) {
                    session.send(now, &reply).expect("server send");
                }
            }
            if self.finalize_when_peer_finishes {
                let ids: Vec<SessionId> = self
                    .server_messages
                    .iter()
                    .map(|m| m.0)
                    .chain(self.clients.iter().map(|c| c.session.session_id()))
                    .collect();
                for sid in ids {
                    if let Some(session) = self.acceptor.session_mut(sid) {
                        let status = session.status();
                        if status.peer_finished_sending && !status.finished_sending {
                            session.finalize(now);
                            moved = true;
                        }
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }
}

/// A transmit as text: the FIXP template name, "App", or "Close <code>".
pub fn describe(t: &Transmit<'_>) -> String {
    match t {
        Transmit::Frame { bytes, kind } => {
            let mut e = SbeEncoding::new();
            match e.decode(bytes, *kind) {
                Ok(fixp_ws::codec::Inbound::Fixp(FixpMessage::Terminate { code, .. })) => {
                    format!("Terminate({code:?})")
                }
                Ok(fixp_ws::codec::Inbound::Fixp(m)) => format!("{:?}", m.template()),
                Ok(fixp_ws::codec::Inbound::Application(_)) => "App".to_owned(),
                Err(e) => format!("undecodable: {e}"),
            }
        }
        Transmit::Close { code, .. } => format!("Close {code}"),
    }
}

/// A Conga NewOrderSingle (SBE, schema 100 template 14) numbered `i`.
pub fn order(i: u32) -> Vec<u8> {
    use fixp_ws::codec::conga::{NewOrderSingle, OrdType, Price, Side};
    let message = CongaMessage::NewOrderSingle(NewOrderSingle {
        cl_ord_id: Id8::new(&format!("o{i}")).expect("id"),
        symbol: Id8::new("TCPX").expect("symbol"),
        side: Side::Buy,
        transact_time: 1_700_000_000_000_000_000 + u64::from(i),
        order_qty: 5,
        ord_type: OrdType::Limit,
        price: Some(Price(7345)),
    });
    let mut buf = [0u8; 256];
    let n = message.encode_sbe(&mut buf).expect("encode order");
    buf[..n].to_vec()
}

/// The ExecutionReport (New) that answers a NewOrderSingle (SBE).
pub fn execution_report_for(order: &[u8]) -> Vec<u8> {
    let CongaMessage::NewOrderSingle(order) = CongaMessage::decode_sbe(order).expect("an order")
    else {
        panic!("not a NewOrderSingle");
    };
    let report = CongaMessage::ExecutionReport(ExecutionReport {
        order_id: Id8::new("X1").expect("id"),
        exec_id: Id8::new("E1").expect("id"),
        ..ExecutionReport::accepted(&order)
    });
    let mut buf = [0u8; 512];
    let n = report.encode_sbe(&mut buf).expect("encode report");
    buf[..n].to_vec()
}

/// `message` in a SOFH frame with encoding type `encoding_type`.
pub fn framed_as(message: &[u8], encoding_type: u16) -> Vec<u8> {
    let mut out = vec![0u8; SOFH_LENGTH + message.len()];
    Sofh::write(&mut out, message.len(), encoding_type).expect("sofh");
    out[SOFH_LENGTH..].copy_from_slice(message);
    out
}

/// `message` in an SBE SOFH frame.
pub fn framed(message: &[u8]) -> Vec<u8> {
    framed_as(message, SBE_LITTLE_ENDIAN)
}

/// A FIXP message encoded in SBE and framed.
pub fn framed_fixp(message: &FixpMessage<'_>) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let n = SbeEncoding::new()
        .encode(message, &mut buf)
        .expect("encode");
    framed(&buf[..n])
}

/// Splits the SOFH frames in `bytes` and describes each as [`describe`] does.
pub fn describe_stream(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok((_, body, next)) = Sofh::split(rest) {
        out.push(describe(&Transmit::Frame {
            bytes: body,
            kind: FrameKind::Binary,
        }));
        rest = next;
    }
    out
}
