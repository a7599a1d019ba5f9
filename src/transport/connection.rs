//! One WebSocket connection as a non-blocking state machine:
//! TCP connect (initiator) → TLS and WebSocket upgrade (driven by readiness) → open → closed.
//!
//! Outbound frames go out one at a time ([`WsConnection::send`]) or in batches
//! ([`WsConnection::queue`] each, then one [`WsConnection::flush`]; see `batch`).

mod batch;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::http::{HeaderValue, StatusCode, Uri};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::Utf8Bytes;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{ClientRequestBuilder, Message, WebSocket};

use super::stream::{connect_finished, TlsStream, WsStream};
use super::subprotocol::{self, Subprotocol};
use super::{
    CloseReport, ConnStats, ReadPass, ReadStatus, SendStatus, TransportError, WsOptions,
    CLOSE_INVALID_UTF8, CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR,
};
use crate::codec::FrameKind;
use batch::BatchStream;

/// Outcome codes the server's upgrade check leaves in an atomic (set once per handshake).
const OUTCOME_PENDING: u8 = 0;
const OUTCOME_BAD_PATH: u8 = 100;
const OUTCOME_NO_SUBPROTOCOL: u8 = 101;

/// Why a server refused an upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeRefusal {
    /// The request path is not the configured one (HTTP 404).
    UnknownPath,
    /// The request named no subprotocol we accept (HTTP 400).
    NoAcceptableSubprotocol,
}

/// Progress of the connection's handshakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeProgress {
    /// Still connecting or negotiating: call again on the next readiness event.
    InProgress,
    /// Open (or already past it). Call [`WsConnection::read_frames`] at once: frames may already be buffered and no
    /// new readiness event will announce them.
    Open,
}

/// The server's upgrade check: path and subprotocol.
struct UpgradeCheck {
    path: Arc<str>,
    accepted: Vec<Subprotocol>,
    outcome: Arc<AtomicU8>,
}

fn refusal(status: StatusCode, reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = status;
    response
}

impl Callback for UpgradeCheck {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        if request.uri().path() != &*self.path {
            self.outcome.store(OUTCOME_BAD_PATH, Ordering::Relaxed);
            return Err(refusal(StatusCode::NOT_FOUND, "unknown path"));
        }
        let offer = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| subprotocol::choose(v, &self.accepted));
        match offer {
            Some(chosen) => {
                response.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static(chosen.name()),
                );
                self.outcome.store(chosen.code(), Ordering::Relaxed);
                Ok(response)
            }
            None => {
                self.outcome
                    .store(OUTCOME_NO_SUBPROTOCOL, Ordering::Relaxed);
                Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "no supported subprotocol: offer fixp-sbe, fixp-json, binary or text",
                ))
            }
        }
    }
}

/// Where a client connects.
#[derive(Clone, Debug)]
pub struct ClientTarget {
    /// The server's socket address.
    pub addr: SocketAddr,
    /// The host name for the `Host` header and TLS server-name check (e.g. `localhost`).
    pub host: String,
    /// TLS configuration; `None` for plain `ws://` (or `tcp://`, which [`super::SofhConnection`]
    /// accepts only with `SofhOptions::allow_plain_tcp`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

enum State {
    /// Initiator: the non-blocking TCP connect has not completed yet.
    Connecting {
        socket: TcpStream,
        target: ClientTarget,
    },
    /// Acceptor: the socket is accepted; the handshake starts on the first poll.
    Accepted {
        stream: BatchStream,
        check: UpgradeCheck,
    },
    ClientHandshake(MidHandshake<ClientHandshake<BatchStream>>),
    ServerHandshake(MidHandshake<ServerHandshake<BatchStream, UpgradeCheck>>),
    Open(WebSocket<BatchStream>),
    /// We failed the connection (oversized frame, bad UTF-8, protocol error): our Close is sent
    /// or pending; whatever the peer still sends is discarded until EOF.
    Draining(WebSocket<BatchStream>),
    Closed,
    /// Transitional value while a state is being moved out.
    Taken,
}

/// A non-blocking WebSocket connection (client or server side, TLS or plain).
///
/// Register once (the constructors do) for READABLE | WRITABLE, edge-triggered; on every event
/// call [`poll_handshake`](Self::poll_handshake) until it reports [`HandshakeProgress::Open`],
/// then [`read_frames`](Self::read_frames) on READABLE and [`flush`](Self::flush) on WRITABLE.
pub struct WsConnection {
    state: State,
    config: WebSocketConfig,
    options_path: Arc<str>,
    offered: Vec<Subprotocol>,
    outcome: Arc<AtomicU8>,
    subprotocol: Option<Subprotocol>,
    refusal: Option<UpgradeRefusal>,
    /// Scratch buffer for outbound payloads: each send copies into it and hands tungstenite a
    /// frozen slice of it; the space is reclaimed on the next send, so steady state allocates
    /// nothing.
    scratch: BytesMut,
    flush_pending: bool,
    write_shut: bool,
    report: CloseReport,
    stats: ConnStats,
}

impl std::fmt::Debug for WsConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConnection")
            .field("subprotocol", &self.subprotocol)
            .field("open", &self.is_open())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn ws_config(options: &WsOptions) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(options.read_buffer_size)
        .write_buffer_size(0)
        .max_write_buffer_size(options.max_backlog_bytes)
        .max_message_size(Some(options.max_message_size))
        .max_frame_size(Some(options.max_message_size))
}

fn close_code(frame: Option<&CloseFrame>) -> u16 {
    frame.map_or(1005, |f| u16::from(f.code))
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

impl WsConnection {
    fn new(state: State, options: &WsOptions, outcome: Arc<AtomicU8>) -> Self {
        Self {
            state,
            config: ws_config(options),
            options_path: Arc::from(options.path.as_str()),
            offered: options.subprotocols.clone(),
            outcome,
            subprotocol: None,
            refusal: None,
            scratch: BytesMut::with_capacity(options.max_message_size.max(64)),
            flush_pending: false,
            write_shut: false,
            report: CloseReport::default(),
            stats: ConnStats::default(),
        }
    }

    /// Starts a client connection: a non-blocking TCP connect, registered with `registry`
    /// under `token` for READABLE | WRITABLE. Drive it with [`poll_handshake`](Self::poll_handshake)
    /// on every event (the first WRITABLE reports the connect's outcome).
    pub fn connect(
        target: ClientTarget,
        options: &WsOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        let mut socket = TcpStream::connect(target.addr).map_err(TransportError::Connect)?;
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        let outcome = Arc::new(AtomicU8::new(OUTCOME_PENDING));
        Ok(Self::new(
            State::Connecting { socket, target },
            options,
            outcome,
        ))
    }

    /// Starts the server side on an accepted socket: sets TCP_NODELAY, registers it for
    /// READABLE | WRITABLE. Call [`poll_handshake`](Self::poll_handshake) at once (the request
    /// may already be waiting) and then on every event.
    pub fn accept(
        mut socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        options: &WsOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        socket.set_nodelay(true)?;
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        let stream = match tls {
            None => WsStream::plain(socket),
            Some(config) => {
                let server = rustls::ServerConnection::new(Arc::clone(config))?;
                WsStream::Tls(Box::new(TlsStream::new(server.into(), socket)))
            }
        };
        let stream = BatchStream::new(stream);
        let outcome = Arc::new(AtomicU8::new(OUTCOME_PENDING));
        let check = UpgradeCheck {
            path: Arc::from(options.path.as_str()),
            accepted: options.subprotocols.clone(),
            outcome: Arc::clone(&outcome),
        };
        Ok(Self::new(
            State::Accepted { stream, check },
            options,
            outcome,
        ))
    }

    /// Drives the TCP connect and the TLS and WebSocket handshakes. Call on every readiness
    /// event until it returns [`HandshakeProgress::Open`]; an `Err` means the connection is dead
    /// (a refused upgrade is [`TransportError::UpgradeRefused`]).
    pub fn poll_handshake(&mut self) -> Result<HandshakeProgress, TransportError> {
        self.start_read_pass(ReadPass::Drain);
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Connecting { socket, target } => self.finish_connect(socket, target),
            State::Accepted { stream, check } => {
                let result = tungstenite::accept_hdr_with_config(stream, check, Some(self.config));
                self.after_server_round(result)
            }
            State::ClientHandshake(mid) => self.after_client_round(mid.handshake()),
            State::ServerHandshake(mid) => self.after_server_round(mid.handshake()),
            other => {
                self.state = other;
                Ok(match self.state {
                    State::Open(_) | State::Draining(_) | State::Closed => HandshakeProgress::Open,
                    _ => HandshakeProgress::InProgress,
                })
            }
        }
    }

    fn finish_connect(
        &mut self,
        socket: TcpStream,
        target: ClientTarget,
    ) -> Result<HandshakeProgress, TransportError> {
        match connect_finished(&socket) {
            Ok(true) => {}
            Ok(false) => {
                self.state = State::Connecting { socket, target };
                return Ok(HandshakeProgress::InProgress);
            }
            Err(e) => {
                self.state = State::Closed;
                return Err(TransportError::Connect(e));
            }
        }
        socket.set_nodelay(true)?;
        let scheme = if target.tls.is_some() { "wss" } else { "ws" };
        let uri: Uri = format!(
            "{scheme}://{}:{}{}",
            target.host,
            target.addr.port(),
            self.options_path
        )
        .parse()
        .map_err(|e| TransportError::Request(format!("{e}")))?;
        let stream = match &target.tls {
            None => WsStream::plain(socket),
            Some(config) => {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|e| TransportError::Request(format!("server name: {e}")))?;
                let client = rustls::ClientConnection::new(Arc::clone(config), name)?;
                WsStream::Tls(Box::new(TlsStream::new(client.into(), socket)))
            }
        };
        let stream = BatchStream::new(stream);
        let mut request = ClientRequestBuilder::new(uri);
        for p in &self.offered {
            request = request.with_sub_protocol(p.name());
        }
        let result = tungstenite::client::client_with_config(request, stream, Some(self.config));
        self.after_client_round(result)
    }

    fn after_client_round(
        &mut self,
        result: Result<
            (
                WebSocket<BatchStream>,
                tungstenite::handshake::client::Response,
            ),
            HandshakeError<ClientHandshake<BatchStream>>,
        >,
    ) -> Result<HandshakeProgress, TransportError> {
        match result {
            Ok((ws, response)) => {
                self.subprotocol = response
                    .headers()
                    .get("Sec-WebSocket-Protocol")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| Subprotocol::from_name(v.trim()));
                self.state = State::Open(ws);
                Ok(HandshakeProgress::Open)
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = State::ClientHandshake(mid);
                Ok(HandshakeProgress::InProgress)
            }
            Err(HandshakeError::Failure(error)) => {
                self.state = State::Closed;
                Err(match error {
                    tungstenite::Error::Http(response) => TransportError::UpgradeRefused {
                        status: response.status().as_u16(),
                        reason: response
                            .body()
                            .as_deref()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default(),
                    },
                    other => handshake_error(other),
                })
            }
        }
    }

    fn after_server_round(
        &mut self,
        result: Result<
            WebSocket<BatchStream>,
            HandshakeError<ServerHandshake<BatchStream, UpgradeCheck>>,
        >,
    ) -> Result<HandshakeProgress, TransportError> {
        match result {
            Ok(ws) => {
                self.subprotocol = Subprotocol::from_code(self.outcome.load(Ordering::Relaxed));
                self.state = State::Open(ws);
                Ok(HandshakeProgress::Open)
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = State::ServerHandshake(mid);
                Ok(HandshakeProgress::InProgress)
            }
            Err(HandshakeError::Failure(error)) => {
                self.state = State::Closed;
                Err(match error {
                    tungstenite::Error::Http(response) => {
                        self.refusal = match self.outcome.load(Ordering::Relaxed) {
                            OUTCOME_BAD_PATH => Some(UpgradeRefusal::UnknownPath),
                            OUTCOME_NO_SUBPROTOCOL => Some(UpgradeRefusal::NoAcceptableSubprotocol),
                            _ => None,
                        };
                        TransportError::UpgradeRefused {
                            status: response.status().as_u16(),
                            reason: response
                                .body()
                                .as_deref()
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                                .unwrap_or_default(),
                        }
                    }
                    other => handshake_error(other),
                })
            }
        }
    }

    /// The negotiated subprotocol, once open (`None` if the server chose none).
    pub fn subprotocol(&self) -> Option<Subprotocol> {
        self.subprotocol
    }

    /// Why this server-side connection's upgrade was refused, if it was.
    pub fn refusal(&self) -> Option<UpgradeRefusal> {
        self.refusal
    }

    /// True once the WebSocket is open and until it starts closing.
    pub fn is_open(&self) -> bool {
        matches!(&self.state, State::Open(ws) if ws.can_write())
    }

    /// True once the connection is finished (closed cleanly or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// True if sent bytes still wait in buffers for a WRITABLE event, or queued ones for
    /// [`flush`](Self::flush).
    pub fn flush_pending(&self) -> bool {
        self.flush_pending
    }

    /// Counters for this connection.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// What each side said when closing, so far.
    pub fn close_report(&self) -> CloseReport {
        self.report
    }

    /// The TLS version, for a TLS connection whose handshake is done.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match &self.state {
            State::Open(ws) | State::Draining(ws) => ws.get_ref().stream().tls_version(),
            _ => None,
        }
    }

    /// The names of the peer's verified TLS certificate, once open: `Ok(None)` for a plain
    /// connection or a peer without a certificate (the server's is always there for a
    /// client). The engine hands a server-side connection's identity to the acceptor.
    pub fn peer_identity(&self) -> Result<Option<crate::session::PeerIdentity>, TransportError> {
        match &self.state {
            State::Open(ws) | State::Draining(ws) => ws
                .get_ref()
                .stream()
                .peer_certificates()
                .map(super::tls::peer_identity)
                .transpose(),
            _ => Ok(None),
        }
    }

    /// Reads every complete data frame available now and hands each to `on_frame` as a borrowed
    /// payload and its frame type, until the socket would block. Pings are answered by
    /// tungstenite and never delivered (they are not FIXP traffic); Pongs are dropped.
    ///
    /// An oversized message is answered with Close 1009, a text frame that is not UTF-8 with
    /// 1007 and any other protocol violation with 1002; the connection then discards input
    /// until the peer closes. [`ReadStatus::Closing`] has no time limit of its own: the engine
    /// should drop a connection that stays closing past its close timeout.
    pub fn read_frames<F>(&mut self, on_frame: F) -> Result<ReadStatus, TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        self.read_frames_up_to(usize::MAX, on_frame)
            .map(|(status, _)| status)
    }

    /// Like [`read_frames`](Self::read_frames), but delivers at most `limit` data frames.
    /// The flag is true when it stopped at the limit: more input may be buffered or waiting
    /// in the socket, and no new readiness event will announce it, so call again (for example
    /// on the next duty cycle) until the flag is false.
    pub fn read_frames_up_to<F>(
        &mut self,
        limit: usize,
        on_frame: F,
    ) -> Result<(ReadStatus, bool), TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        self.read_frames_in(ReadPass::Drain, limit, on_frame)
    }

    /// [`read_frames_up_to`](Self::read_frames_up_to) in a pass that may end at a short read
    /// ([`ReadPass::UntilShortRead`]: after a readable event without hang-up or error).
    pub fn read_frames_in<F>(
        &mut self,
        pass: ReadPass,
        limit: usize,
        mut on_frame: F,
    ) -> Result<(ReadStatus, bool), TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        self.start_read_pass(pass);
        let ws = match &mut self.state {
            State::Open(ws) => ws,
            State::Draining(_) => return self.drain().map(|s| (s, false)),
            State::Closed => return Ok((ReadStatus::Closed(self.report), false)),
            _ => return Ok((ReadStatus::Drained, false)),
        };
        let mut delivered = 0usize;
        loop {
            if delivered >= limit {
                return Ok((ReadStatus::Drained, true));
            }
            match ws.read() {
                Ok(Message::Binary(payload)) => {
                    self.stats.frames_in += 1;
                    self.stats.bytes_in += payload.len() as u64;
                    delivered += 1;
                    on_frame(FrameKind::Binary, &payload);
                }
                Ok(Message::Text(payload)) => {
                    self.stats.frames_in += 1;
                    self.stats.bytes_in += payload.len() as u64;
                    delivered += 1;
                    on_frame(FrameKind::Text, payload.as_bytes());
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {
                    self.stats.control_in += 1;
                }
                Ok(Message::Close(frame)) => {
                    self.report.peer_code = Some(close_code(frame.as_ref()));
                    // Pitfall 1: tungstenite queues the reply but does not flush it.
                    match ws.flush() {
                        Ok(()) => {}
                        Err(e) if is_would_block(&e) => self.flush_pending = true,
                        Err(tungstenite::Error::ConnectionClosed) => {
                            return Ok((self.finish(), false))
                        }
                        Err(e) => return Err(self.fail_hard(e)),
                    }
                }
                Err(e) if is_would_block(&e) => {
                    let status = if ws.can_write() {
                        ReadStatus::Drained
                    } else {
                        ReadStatus::Closing
                    };
                    return Ok((status, false));
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok((self.finish(), false));
                }
                Err(tungstenite::Error::Capacity(_)) => {
                    self.stats.oversized_closed += 1;
                    return self
                        .fail(CLOSE_MESSAGE_TOO_BIG, "message too big")
                        .map(|s| (s, false));
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    self.stats.invalid_utf8_closed += 1;
                    return self
                        .fail(CLOSE_INVALID_UTF8, "text frame is not UTF-8")
                        .map(|s| (s, false));
                }
                Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => {
                    return Err(self.fail_hard(tungstenite::Error::ConnectionClosed));
                }
                Err(tungstenite::Error::Protocol(_)) => {
                    self.stats.protocol_closed += 1;
                    return self
                        .fail(CLOSE_PROTOCOL_ERROR, "protocol error")
                        .map(|s| (s, false));
                }
                Err(e) => return Err(self.fail_hard(e)),
            }
        }
    }

    /// Sends one message in a frame of the given type. `Ok(SendStatus::Pending)` means the
    /// frame is queued and the rest goes out on [`flush`](Self::flush) at the next WRITABLE
    /// event: do not send it again. `Ok(SendStatus::Backpressure)` means nothing was queued:
    /// the outbound backlog is full.
    pub fn send(&mut self, kind: FrameKind, payload: &[u8]) -> Result<SendStatus, TransportError> {
        self.put_frame(kind, payload, true)
    }

    /// Queues one message in a frame of the given type without flushing: frames queued until
    /// the next [`flush`](Self::flush) go to the stream together (over TLS, in as few records
    /// as they fill). `Ok(SendStatus::Pending)` means queued (call `flush` once the batch is
    /// complete: no readiness event announces it); `Ok(SendStatus::Backpressure)` means nothing
    /// was queued, exactly as for [`send`](Self::send), whose backlog bound it shares.
    pub fn queue(&mut self, kind: FrameKind, payload: &[u8]) -> Result<SendStatus, TransportError> {
        self.put_frame(kind, payload, false)
    }

    /// [`send`](Self::send) (`flush`) or [`queue`](Self::queue).
    fn put_frame(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
        flush: bool,
    ) -> Result<SendStatus, TransportError> {
        let State::Open(ws) = &mut self.state else {
            return Err(TransportError::Closed);
        };
        if !ws.can_write() {
            return Err(TransportError::Closed);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(payload);
        let bytes = self.scratch.split().freeze();
        let message = match kind {
            FrameKind::Binary => Message::Binary(bytes),
            FrameKind::Text => {
                Message::Text(Utf8Bytes::try_from(bytes).map_err(|_| TransportError::NotUtf8)?)
            }
        };
        let result = if flush {
            ws.send(message)
        } else {
            // Held in the batch until the next flush (tungstenite writes the frame at once).
            ws.get_mut().open_batch();
            ws.write(message)
        };
        match result {
            Ok(()) if flush => {
                self.count_sent(payload.len());
                self.flush_pending = false;
                Ok(SendStatus::Flushed)
            }
            Ok(()) => {
                self.count_sent(payload.len());
                self.flush_pending = true;
                Ok(SendStatus::Pending)
            }
            Err(e) if is_would_block(&e) => {
                self.count_sent(payload.len());
                self.flush_pending = true;
                Ok(SendStatus::Pending)
            }
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                self.stats.backpressure += 1;
                Ok(SendStatus::Backpressure)
            }
            Err(e) => Err(self.fail_hard(e)),
        }
    }

    fn count_sent(&mut self, len: usize) {
        self.stats.frames_out += 1;
        self.stats.bytes_out += len as u64;
    }

    /// Pushes queued bytes out; call on WRITABLE and after a batch of [`queue`](Self::queue).
    /// Returns `Pending` if the socket is still full.
    pub fn flush(&mut self) -> Result<SendStatus, TransportError> {
        let ws = match &mut self.state {
            State::Open(ws) | State::Draining(ws) => ws,
            _ => return Ok(SendStatus::Flushed),
        };
        match ws.flush() {
            Ok(()) => {
                self.flush_pending = false;
                if matches!(self.state, State::Draining(_)) {
                    self.shut_write();
                }
                Ok(SendStatus::Flushed)
            }
            Err(e) if is_would_block(&e) => {
                self.flush_pending = true;
                Ok(SendStatus::Pending)
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.finish();
                Ok(SendStatus::Flushed)
            }
            Err(e) => Err(self.fail_hard(e)),
        }
    }

    /// Starts the closing handshake: sends Close(code, reason) and flushes. Keep calling
    /// [`read_frames`](Self::read_frames) until it returns [`ReadStatus::Closed`]. The reason is
    /// cut to the 123 bytes a Close frame can carry.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<SendStatus, TransportError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(SendStatus::Flushed);
        };
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(truncate_reason(reason)),
        };
        self.report.sent_code = Some(code);
        match ws.close(Some(frame)) {
            Ok(()) => Ok(SendStatus::Flushed),
            Err(e) if is_would_block(&e) => {
                self.flush_pending = true;
                Ok(SendStatus::Pending)
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.finish();
                Ok(SendStatus::Flushed)
            }
            Err(e) => Err(self.fail_hard(e)),
        }
    }

    /// Fails the connection: Close(code) out, our sending side shut, then discard until EOF.
    fn fail(&mut self, code: u16, reason: &str) -> Result<ReadStatus, TransportError> {
        let State::Open(mut ws) = std::mem::replace(&mut self.state, State::Taken) else {
            self.state = State::Closed;
            return Ok(ReadStatus::Closed(self.report));
        };
        self.report.sent_code = Some(code);
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(reason.to_owned()),
        };
        let flushed = match ws.close(Some(frame)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => true,
            Err(e) if is_would_block(&e) => false,
            Err(_) => {
                self.state = State::Closed;
                return Ok(ReadStatus::Closed(self.report));
            }
        };
        self.state = State::Draining(ws);
        self.flush_pending = !flushed;
        if flushed {
            self.shut_write();
        }
        self.drain()
    }

    fn shut_write(&mut self) {
        if self.write_shut {
            return;
        }
        if let State::Open(ws) | State::Draining(ws) = &mut self.state {
            ws.get_mut().shutdown_write();
            self.write_shut = true;
        }
    }

    /// Discards whatever the peer still sends after we failed the connection, until EOF.
    fn drain(&mut self) -> Result<ReadStatus, TransportError> {
        if self.flush_pending {
            let _ = self.flush()?;
        }
        let State::Draining(ws) = &mut self.state else {
            return Ok(ReadStatus::Closed(self.report));
        };
        let mut sink = [0u8; 4096];
        loop {
            match ws.get_mut().read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Closing),
                Err(_) => break,
            }
        }
        self.state = State::Closed;
        Ok(ReadStatus::Closed(self.report))
    }

    /// The closing handshake is over: our side of the stream is shut (close_notify, FIN).
    fn finish(&mut self) -> ReadStatus {
        if let State::Open(ws) | State::Draining(ws) = &mut self.state {
            let _ = ws.flush();
        }
        self.shut_write();
        self.state = State::Closed;
        self.flush_pending = false;
        ReadStatus::Closed(self.report)
    }

    /// A fatal error: no closing handshake is possible.
    fn fail_hard(&mut self, error: tungstenite::Error) -> TransportError {
        self.state = State::Closed;
        match error {
            tungstenite::Error::ConnectionClosed => TransportError::PeerVanished,
            tungstenite::Error::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                ) =>
            {
                TransportError::PeerVanished
            }
            tungstenite::Error::Io(e) => TransportError::Io(e),
            other => TransportError::Protocol(other.to_string()),
        }
    }

    /// Starts a read pass on the stream (see [`WsStream::start_read_pass`]).
    fn start_read_pass(&mut self, pass: ReadPass) {
        match &mut self.state {
            State::Accepted { stream, .. } => stream.start_read_pass(pass),
            State::ClientHandshake(mid) => mid.get_mut().get_mut().start_read_pass(pass),
            State::ServerHandshake(mid) => mid.get_mut().get_mut().start_read_pass(pass),
            State::Open(ws) | State::Draining(ws) => ws.get_mut().start_read_pass(pass),
            State::Connecting { .. } | State::Closed | State::Taken => {}
        }
    }

    fn socket_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.state {
            State::Connecting { socket, .. } => Some(socket),
            State::Accepted { stream, .. } => Some(stream.socket_mut()),
            State::ClientHandshake(mid) => Some(mid.get_mut().get_mut().socket_mut()),
            State::ServerHandshake(mid) => Some(mid.get_mut().get_mut().socket_mut()),
            State::Open(ws) | State::Draining(ws) => Some(ws.get_mut().socket_mut()),
            State::Closed | State::Taken => None,
        }
    }

    /// Deregisters the socket from mio (dropping the connection also removes it).
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self.socket_mut() {
            Some(socket) => registry.deregister(socket),
            None => Ok(()),
        }
    }

    /// Registers the socket with another `Poll` (after [`deregister`](Self::deregister)), for
    /// READABLE | WRITABLE under `token`: how a connection moves to another thread's loop.
    /// Call [`read_frames`](Self::read_frames) and [`flush`](Self::flush) once afterwards, as
    /// edges seen by the old registration are not repeated.
    pub fn register_with(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self.socket_mut() {
            Some(socket) => {
                registry.register(socket, token, Interest::READABLE | Interest::WRITABLE)
            }
            None => Ok(()),
        }
    }
}

fn handshake_error(error: tungstenite::Error) -> TransportError {
    match error {
        tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            TransportError::TlsHandshake(e.to_string())
        }
        tungstenite::Error::Io(e) => TransportError::Io(e),
        other => TransportError::Handshake(other.to_string()),
    }
}

fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn close_reasons_are_cut_at_a_char_boundary() {
        assert_eq!(truncate_reason("ok"), "ok");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
