//! Engine logs without formatting on the engine thread: the engine pushes compact `Copy`
//! [`LogRecord`]s (connects, handshake failures, rejects with their code, violations and
//! terminations with their reason, recoveries with their ranges, slow consumers, reconnects,
//! admin commands) into a bounded lock-free queue; a logger thread ([`LogDrain`]) drains it and
//! emits `tracing` events with structured fields. A full queue never blocks the engine: the
//! record is counted as lost ([`OpsHandle::log_records_lost`](crate::engine::OpsHandle)) and
//! the drain reports the loss.
//!
//! Targets, for `RUST_LOG`-style filters: `fixp_ws::conn` (connections, handshakes, refusals,
//! slow consumers), `fixp_ws::session` (establishment, rejects, violations, terminations,
//! recoveries, gaps, lapses, finalization), `fixp_ws::admin` (commands from the admin
//! endpoint), `fixp_ws::log` (lost records).
//!
//! Owns: the record vocabulary, the engine's producer side (including what the engine keeps
//! to notice recoveries start and finish) and the drain. May not touch: sessions or
//! connections (the duty cycle hands in what a record holds).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::codec::fixp::{
    EstablishmentRejectCode, NegotiationRejectCode, RetransmitRejectCode, TerminationCode,
};
use crate::codec::json::JsonEncoding;
use crate::codec::sbe::SbeEncoding;
use crate::codec::{Encoding, FixpMessage, Inbound, SessionId};
use crate::engine::ops::{counted, StoppableThread};
use crate::engine::status::TransportKind;
use crate::session::{
    ConnectionId, Event, RecoveryProgress, Role, SessionState, TerminateReason, Transmit, Violation,
};
use crate::transport::{TransportError, WireEncoding};

/// Bytes of text a record carries (longer text is cut at a character boundary).
pub const LOG_TEXT_BYTES: usize = 96;

/// A short text copied into a record (a reject's reason, a TLS error), no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortText {
    bytes: [u8; LOG_TEXT_BYTES],
    len: u8,
}

impl ShortText {
    /// The empty text.
    pub const EMPTY: ShortText = ShortText {
        bytes: [0; LOG_TEXT_BYTES],
        len: 0,
    };

    /// Copies `text`'s UTF-8 prefix that fits (invalid UTF-8 is cut where it starts).
    pub fn new(text: &[u8]) -> Self {
        let valid = match std::str::from_utf8(text) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(text.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
        };
        let mut end = valid.len().min(LOG_TEXT_BYTES);
        while !valid.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = ShortText::EMPTY;
        if let (Some(dst), Some(src)) = (out.bytes.get_mut(..end), valid.as_bytes().get(..end)) {
            dst.copy_from_slice(src);
        }
        out.len = u8::try_from(end).unwrap_or(0);
        out
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or(&[])).unwrap_or("")
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The session a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRef {
    /// Its SessionId.
    pub id: SessionId,
    /// Its dense index in the engine.
    pub index: u32,
    /// Client or server.
    pub role: Role,
}

/// Why a connection's handshake (TCP connect, TLS, WebSocket upgrade) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The TCP connect failed.
    Connect(std::io::ErrorKind),
    /// TLS failed (bad certificate, alert, protocol).
    Tls,
    /// The HTTP upgrade was refused with this status (wrong path, no acceptable subprotocol).
    UpgradeRefused(u16),
    /// The WebSocket handshake failed otherwise.
    WebSocket,
    /// The peer went away during the handshake.
    PeerVanished,
    /// Another I/O error.
    Io(std::io::ErrorKind),
    /// The engine's handshake timeout passed.
    Timeout,
    /// The server chose a subprotocol of another encoding than the session's.
    WrongSubprotocol,
    /// Anything else.
    Other,
}

impl HandshakeFailure {
    /// The failure and its text, copied without formatting.
    fn of(error: &TransportError) -> (Self, ShortText) {
        match error {
            TransportError::Connect(e) => (HandshakeFailure::Connect(e.kind()), ShortText::EMPTY),
            TransportError::Tls(_) => (HandshakeFailure::Tls, ShortText::EMPTY),
            TransportError::TlsHandshake(text) => {
                (HandshakeFailure::Tls, ShortText::new(text.as_bytes()))
            }
            TransportError::UpgradeRefused { status, reason } => (
                HandshakeFailure::UpgradeRefused(*status),
                ShortText::new(reason.as_bytes()),
            ),
            TransportError::Handshake(text) | TransportError::Protocol(text) => {
                (HandshakeFailure::WebSocket, ShortText::new(text.as_bytes()))
            }
            TransportError::PeerVanished => (HandshakeFailure::PeerVanished, ShortText::EMPTY),
            TransportError::Io(e) => (HandshakeFailure::Io(e.kind()), ShortText::EMPTY),
            _ => (HandshakeFailure::Other, ShortText::EMPTY),
        }
    }

    fn name(self) -> &'static str {
        match self {
            HandshakeFailure::Connect(_) => "connect",
            HandshakeFailure::Tls => "tls",
            HandshakeFailure::UpgradeRefused(_) => "upgrade_refused",
            HandshakeFailure::WebSocket => "websocket",
            HandshakeFailure::PeerVanished => "peer_vanished",
            HandshakeFailure::Io(_) => "io",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::WrongSubprotocol => "wrong_subprotocol",
            HandshakeFailure::Other => "other",
        }
    }
}

/// A Negotiate or Establish rejection's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectCode {
    /// NegotiationReject.
    Negotiation(NegotiationRejectCode),
    /// EstablishmentReject.
    Establishment(EstablishmentRejectCode),
}

impl RejectCode {
    fn message(self) -> &'static str {
        match self {
            RejectCode::Negotiation(_) => "NegotiationReject",
            RejectCode::Establishment(_) => "EstablishmentReject",
        }
    }

    fn name(self) -> &'static str {
        match self {
            RejectCode::Negotiation(c) => c.name(),
            RejectCode::Establishment(c) => c.name(),
        }
    }
}

/// Which flow a recovery is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryDirection {
    /// We asked the peer to retransmit its messages (RetransmitRequest sent).
    Inbound,
    /// The peer asked us; we replay our messages.
    Outbound,
}

impl RecoveryDirection {
    fn name(self) -> &'static str {
        match self {
            RecoveryDirection::Inbound => "inbound",
            RecoveryDirection::Outbound => "outbound",
        }
    }
}

/// How an admin command ends a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndAction {
    /// Graceful: FinishedSending now, Close 1000 once both flows are finished; the SessionId
    /// is dead afterwards.
    Finalize,
    /// Unbind: Close 1000 now; the session may be re-established (an initiator of this engine
    /// does not reconnect).
    Terminate,
}

impl EndAction {
    /// `finalize` or `terminate`.
    pub fn name(self) -> &'static str {
        match self {
            EndAction::Finalize => "finalize",
            EndAction::Terminate => "terminate",
        }
    }
}

/// What the engine did with an admin command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndOutcome {
    /// Finalization started (FinishedSending sent).
    Finalizing,
    /// The binding is being closed with 1000.
    Terminated,
    /// The session is already finalized or finalizing.
    AlreadyFinished,
    /// The session has no live binding: nothing to end now.
    NotBound,
    /// No session with that SessionId.
    UnknownSession,
}

impl EndOutcome {
    /// A snake-case name (the admin endpoint's `outcome`).
    pub fn name(self) -> &'static str {
        match self {
            EndOutcome::Finalizing => "finalizing",
            EndOutcome::Terminated => "terminated",
            EndOutcome::AlreadyFinished => "already_finished",
            EndOutcome::NotBound => "not_bound",
            EndOutcome::UnknownSession => "unknown_session",
        }
    }

    pub(crate) const ALL: [EndOutcome; 5] = [
        EndOutcome::Finalizing,
        EndOutcome::Terminated,
        EndOutcome::AlreadyFinished,
        EndOutcome::NotBound,
        EndOutcome::UnknownSession,
    ];
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// A connection finished its TLS and WebSocket handshakes.
    Connected {
        /// The engine's id of the connection.
        connection: u64,
        /// Client (we dialled) or server (we accepted).
        role: Role,
        /// Its transport.
        transport: TransportKind,
        /// The peer.
        peer: Option<SocketAddr>,
    },
    /// A connection's handshake failed (or a client's connect did).
    HandshakeFailed {
        /// The engine's id of the connection (0: the connect itself failed).
        connection: u64,
        /// Client or server.
        role: Role,
        /// The peer.
        peer: Option<SocketAddr>,
        /// Why.
        reason: HandshakeFailure,
        /// The transport's text, if it had one.
        detail: ShortText,
    },
    /// A Negotiate or Establish was rejected: sent by our acceptor (`role` Server) or received
    /// by our initiator (`role` Client).
    Rejected {
        /// The SessionId the request named.
        session_id: SessionId,
        /// Our role.
        role: Role,
        /// The connection (server side).
        connection: Option<u64>,
        /// The code.
        code: RejectCode,
        /// The reason text the server gave (server side).
        reason: ShortText,
    },
    /// A connection without an established session was closed by the acceptor (a reject's
    /// Close, or a protocol violation before a session bound).
    Refused {
        /// The connection.
        connection: u64,
        /// The Close code.
        close_code: u16,
        /// The Close reason.
        reason: ShortText,
        /// A reject message went out before it (already logged as `Rejected`).
        after_reject: bool,
    },
    /// A session bound and is established.
    Established {
        /// The session.
        session: SessionRef,
        /// Next sequence number we send.
        next_seq_to_send: u64,
        /// Next sequence number we expect.
        next_seq_expected: u64,
    },
    /// Any other state change (debug level).
    StateChanged {
        /// The session.
        session: SessionRef,
        /// The new state.
        state: SessionState,
    },
    /// The peer broke the protocol.
    Violation {
        /// The session.
        session: SessionRef,
        /// What it did.
        violation: Violation,
        /// The binding ended for it (false: ignored, no binding was live).
        ended_binding: bool,
    },
    /// A binding ended (violations are logged as [`LogEvent::Violation`] instead).
    Terminated {
        /// The session.
        session: SessionRef,
        /// Why.
        reason: TerminateReason,
    },
    /// A retransmission started.
    RecoveryStarted {
        /// The session.
        session: SessionRef,
        /// Which flow.
        direction: RecoveryDirection,
        /// First sequence number.
        from: u64,
        /// One past the last.
        end: u64,
    },
    /// A retransmission finished (or was abandoned with the binding).
    RecoveryFinished {
        /// The session.
        session: SessionRef,
        /// Which flow.
        direction: RecoveryDirection,
        /// First sequence number.
        from: u64,
        /// One past the last.
        end: u64,
    },
    /// Messages of the peer were lost (Idempotent flow: NotApplied sent).
    Gap {
        /// The session.
        session: SessionRef,
        /// First lost.
        from: u64,
        /// How many.
        count: u32,
    },
    /// The peer did not apply our messages.
    NotApplied {
        /// The session.
        session: SessionRef,
        /// First.
        from: u64,
        /// How many.
        count: u32,
    },
    /// The peer refused to retransmit: these messages are lost.
    RetransmitRejected {
        /// The session.
        session: SessionRef,
        /// First requested.
        from: u64,
        /// How many.
        count: u32,
        /// The peer's code.
        code: RetransmitRejectCode,
    },
    /// The peer has been silent longer than its keepalive interval.
    PeerLapse {
        /// The session.
        session: SessionRef,
        /// Silence so far, ns.
        silent_ns: u64,
    },
    /// A connection's socket stayed full: it was closed as a slow consumer.
    SlowConsumer {
        /// The connection.
        connection: u64,
        /// Its session, if bound.
        session: Option<SessionRef>,
    },
    /// An initiator connects again.
    Reconnecting {
        /// The session.
        session: SessionRef,
        /// Connection attempts so far, this one included.
        attempt: u64,
    },
    /// Both flows are finished: the SessionId is dead.
    Finalized {
        /// The session.
        session: SessionRef,
    },
    /// The admin endpoint asked to end a session.
    AdminEnd {
        /// The SessionId asked for.
        session_id: SessionId,
        /// How.
        action: EndAction,
        /// What the engine did.
        outcome: EndOutcome,
    },
}

/// One log record: what happened and when (engine clock, epoch ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The duty cycle's clock read when it happened.
    pub at_ns: u64,
    /// What happened.
    pub event: LogEvent,
}

/// Counters the engine's hooks and the drain share.
#[derive(Debug, Default)]
pub(crate) struct LogCounters {
    /// Records pushed.
    pub(crate) pushed: AtomicU64,
    /// Records lost to a full queue.
    pub(crate) lost: AtomicU64,
}

/// The engine's producer side, and what it keeps to notice recoveries.
pub(crate) struct EngineLog {
    queue: Option<Arc<ArrayQueue<LogRecord>>>,
    counters: Arc<LogCounters>,
    /// What the hooks allocated (see `ops::counted`).
    allocations: Arc<AtomicU64>,
    /// Reject frames are decoded to log their code (preallocated decoders).
    sbe: SbeEncoding,
    json: JsonEncoding,
    /// The connection the last reject frame went to (its Close follows).
    last_reject: Option<ConnectionId>,
}

impl EngineLog {
    /// A producer into `queue` (`None`: logging off, every hook returns at once).
    pub(crate) fn new(
        queue: Option<Arc<ArrayQueue<LogRecord>>>,
        counters: Arc<LogCounters>,
        allocations: Arc<AtomicU64>,
    ) -> Self {
        EngineLog {
            queue,
            counters,
            allocations,
            sbe: SbeEncoding::new(),
            json: JsonEncoding::new(),
            last_reject: None,
        }
    }

    /// Logging off (until the builder hands the engine its queue).
    pub(crate) fn off() -> Self {
        EngineLog::new(None, Arc::default(), Arc::default())
    }

    /// True when records are kept.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// [`EngineLog::push`] of a record built by `event` (counted as a hook).
    #[inline]
    pub(crate) fn record(&self, at_ns: u64, event: impl FnOnce() -> LogEvent) {
        if self.is_on() {
            counted(&self.allocations, || self.push(at_ns, event()));
        }
    }

    /// Pushes one record; a full queue counts it as lost (never waits).
    #[inline]
    pub(crate) fn push(&self, at_ns: u64, event: LogEvent) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.push(LogRecord { at_ns, event }).is_ok() {
            self.counters.pushed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A session event, as the engine delivers it; `seqs` are the session's next sequence
    /// numbers to send and expected.
    pub(crate) fn session_event(
        &self,
        at_ns: u64,
        session: SessionRef,
        event: &Event<'_>,
        seqs: (u64, u64),
    ) {
        if !self.is_on() {
            return;
        }
        counted(&self.allocations, || {
            self.session_record(at_ns, session, event, seqs)
        });
    }

    fn session_record(&self, at_ns: u64, session: SessionRef, event: &Event<'_>, seqs: (u64, u64)) {
        let record = match *event {
            Event::StateChanged(SessionState::Established) => LogEvent::Established {
                session,
                next_seq_to_send: seqs.0,
                next_seq_expected: seqs.1,
            },
            Event::StateChanged(state) => LogEvent::StateChanged { session, state },
            Event::Terminated(TerminateReason::Violation(violation)) => LogEvent::Violation {
                session,
                violation,
                ended_binding: true,
            },
            Event::Terminated(reason) => LogEvent::Terminated { session, reason },
            Event::ViolationIgnored(violation) => LogEvent::Violation {
                session,
                violation,
                ended_binding: false,
            },
            Event::NegotiationRejected(code) => LogEvent::Rejected {
                session_id: session.id,
                role: session.role,
                connection: None,
                code: RejectCode::Negotiation(code),
                reason: ShortText::EMPTY,
            },
            Event::EstablishmentRejected(code) => LogEvent::Rejected {
                session_id: session.id,
                role: session.role,
                connection: None,
                code: RejectCode::Establishment(code),
                reason: ShortText::EMPTY,
            },
            Event::Gap { from_seq_no, count } => LogEvent::Gap {
                session,
                from: from_seq_no,
                count,
            },
            Event::NotAppliedReceived { from_seq_no, count } => LogEvent::NotApplied {
                session,
                from: from_seq_no,
                count,
            },
            Event::RetransmitRejected {
                from_seq_no,
                count,
                code,
            } => LogEvent::RetransmitRejected {
                session,
                from: from_seq_no,
                count,
                code,
            },
            Event::PeerLapse { silent_ns } => LogEvent::PeerLapse { session, silent_ns },
            Event::Finalized => LogEvent::Finalized { session },
            Event::Message { .. }
            | Event::AppliedReceived { .. }
            | Event::ResponseIgnored(_)
            | Event::HandshakeRetry { .. } => return,
        };
        self.push(at_ns, record);
    }

    /// A connection's handshake failed with a transport error.
    pub(crate) fn handshake_failed(
        &self,
        at_ns: u64,
        connection: ConnectionId,
        role: Role,
        peer: Option<SocketAddr>,
        error: &TransportError,
    ) {
        if !self.is_on() {
            return;
        }
        counted(&self.allocations, || {
            let (reason, detail) = HandshakeFailure::of(error);
            self.push(
                at_ns,
                LogEvent::HandshakeFailed {
                    connection: connection.0,
                    role,
                    peer,
                    reason,
                    detail,
                },
            )
        });
    }

    /// A reject or Close the acceptor sends on a connection without an established session.
    pub(crate) fn refusal(
        &mut self,
        at_ns: u64,
        connection: ConnectionId,
        encoding: WireEncoding,
        transmit: &Transmit<'_>,
    ) {
        if !self.is_on() {
            return;
        }
        let allocations = Arc::clone(&self.allocations);
        counted(&allocations, || {
            self.refusal_record(at_ns, connection, encoding, transmit)
        });
    }

    fn refusal_record(
        &mut self,
        at_ns: u64,
        connection: ConnectionId,
        encoding: WireEncoding,
        transmit: &Transmit<'_>,
    ) {
        let event = match *transmit {
            Transmit::Frame { bytes, kind } => {
                let decoded = match encoding {
                    WireEncoding::Sbe => self.sbe.decode(bytes, kind),
                    WireEncoding::Json => self.json.decode(bytes, kind),
                };
                let (session_id, code, reason) = match decoded {
                    Ok(Inbound::Fixp(FixpMessage::NegotiationReject {
                        session_id,
                        code,
                        reason,
                        ..
                    })) => (session_id, RejectCode::Negotiation(code), reason),
                    Ok(Inbound::Fixp(FixpMessage::EstablishmentReject {
                        session_id,
                        code,
                        reason,
                        ..
                    })) => (session_id, RejectCode::Establishment(code), reason),
                    // A Terminate before the Close (FIXP over TCP): the Close says why.
                    _ => return,
                };
                self.last_reject = Some(connection);
                LogEvent::Rejected {
                    session_id,
                    role: Role::Server,
                    connection: Some(connection.0),
                    code,
                    reason: ShortText::new(reason),
                }
            }
            Transmit::Close { code, reason } => LogEvent::Refused {
                connection: connection.0,
                close_code: code,
                reason: ShortText::new(reason.as_bytes()),
                after_reject: self.last_reject.take() == Some(connection),
            },
        };
        self.push(at_ns, event);
    }
}

/// What the engine keeps per session entry to notice recoveries start and finish, and the
/// counters it adds up for the status records.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RecoveryWatch {
    generation: u32,
    requested: Option<(u64, u64)>,
    /// `(first replayed, end)` of the replay in progress.
    replaying: Option<(u64, u64)>,
    pub(crate) retransmit_requests: u64,
    pub(crate) retransmit_requested_messages: u64,
    pub(crate) replays: u64,
    pub(crate) replayed_messages: u64,
}

impl RecoveryWatch {
    /// Compares the session's recovery with what was seen last, logging starts and ends.
    /// Cheap when nothing changed (two comparisons).
    pub(crate) fn observe(
        &mut self,
        log: &EngineLog,
        at_ns: u64,
        session: SessionRef,
        generation: u32,
        now: RecoveryProgress,
    ) {
        if self.generation != generation {
            *self = RecoveryWatch {
                generation,
                ..RecoveryWatch::default()
            };
        }
        if now.requested != self.requested {
            if let Some((from, end)) = self.requested {
                log.push(
                    at_ns,
                    finished(session, RecoveryDirection::Inbound, from, end),
                );
            }
            if let Some((from, end)) = now.requested {
                self.retransmit_requests += 1;
                self.retransmit_requested_messages += end.saturating_sub(from);
                log.push(
                    at_ns,
                    started(session, RecoveryDirection::Inbound, from, end),
                );
            }
            self.requested = now.requested;
        }
        let same_replay = match (self.replaying, now.replaying) {
            (Some((_, end)), Some((_, now_end))) => end == now_end,
            (None, None) => true,
            _ => false,
        };
        if !same_replay {
            if let Some((from, end)) = self.replaying {
                log.push(
                    at_ns,
                    finished(session, RecoveryDirection::Outbound, from, end),
                );
            }
            if let Some((from, end)) = now.replaying {
                self.replays += 1;
                self.replayed_messages += end.saturating_sub(from);
                log.push(
                    at_ns,
                    started(session, RecoveryDirection::Outbound, from, end),
                );
            }
            self.replaying = now.replaying;
        }
    }
}

fn started(session: SessionRef, direction: RecoveryDirection, from: u64, end: u64) -> LogEvent {
    LogEvent::RecoveryStarted {
        session,
        direction,
        from,
        end,
    }
}

fn finished(session: SessionRef, direction: RecoveryDirection, from: u64, end: u64) -> LogEvent {
    LogEvent::RecoveryFinished {
        session,
        direction,
        from,
        end,
    }
}

// ----- the drain -----

/// The consumer side of an engine's log queue: emits each record as a `tracing` event. Run
/// it on a thread of its own with [`LogDrain::spawn`], or call [`LogDrain::drain`] yourself.
#[derive(Debug)]
pub struct LogDrain {
    queue: Arc<ArrayQueue<LogRecord>>,
    counters: Arc<LogCounters>,
    /// Losses already reported.
    reported_lost: u64,
}

impl LogDrain {
    pub(crate) fn new(queue: Arc<ArrayQueue<LogRecord>>, counters: Arc<LogCounters>) -> Self {
        LogDrain {
            queue,
            counters,
            reported_lost: 0,
        }
    }

    /// The next record, without emitting it (for tests and custom sinks).
    pub fn pop(&mut self) -> Option<LogRecord> {
        self.queue.pop()
    }

    /// Emits every waiting record as a `tracing` event (to the calling thread's subscriber)
    /// and one warning for records lost since the last call. Returns the records emitted.
    pub fn drain(&mut self) -> usize {
        let mut emitted = 0;
        while let Some(record) = self.queue.pop() {
            emit(&record);
            emitted += 1;
        }
        let lost = self.counters.lost.load(Ordering::Relaxed);
        if lost > self.reported_lost {
            tracing::warn!(
                target: "fixp_ws::log",
                lost = lost - self.reported_lost,
                total_lost = lost,
                "log queue full: records lost"
            );
            self.reported_lost = lost;
        }
        emitted
    }

    /// Runs the drain on a thread named `fixp-log` that emits to the subscriber that is the
    /// calling thread's default now (the global one, or a scoped one in tests), polling the
    /// queue every `idle` when it is empty (the engine never signals it: no syscall on the
    /// engine thread). Stopping the returned [`LoggerThread`] drains what is left.
    pub fn spawn(mut self, idle: Duration) -> std::io::Result<LoggerThread> {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let thread = StoppableThread::spawn("fixp-log", move |stopping| {
            tracing::dispatcher::with_default(&dispatch, || loop {
                let done = stopping.load(Ordering::Acquire);
                if self.drain() == 0 {
                    if done {
                        return;
                    }
                    std::thread::sleep(idle);
                }
            })
        })?;
        Ok(LoggerThread { thread })
    }
}

/// The logger thread; stopping it (or dropping it) drains the queue first.
#[derive(Debug)]
pub struct LoggerThread {
    thread: StoppableThread,
}

impl LoggerThread {
    /// Drains what is waiting and ends the thread.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

/// `client` or `server`.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}

/// The state's name as the logs and the admin endpoint show it.
pub(crate) fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Idle => "Idle",
        SessionState::Negotiating => "Negotiating",
        SessionState::Negotiated => "Negotiated",
        SessionState::Establishing => "Establishing",
        SessionState::Established => "Established",
        SessionState::NotEstablished => "NotEstablished",
        SessionState::Finalized => "Finalized",
        SessionState::Rejected => "Rejected",
    }
}

/// An ordinary end of a binding (info); anything else is a warning.
fn is_orderly(reason: &TerminateReason) -> bool {
    matches!(
        reason,
        TerminateReason::Finished
            | TerminateReason::Unbind
            | TerminateReason::PeerClosed(1000 | 1001)
            | TerminateReason::PeerTerminated(TerminationCode::Finished)
    )
}

/// One record as a `tracing` event (on the drain's thread: formatting happens here).
fn emit(record: &LogRecord) {
    let at_ns = record.at_ns;
    match record.event {
        LogEvent::Connected {
            connection,
            role,
            transport,
            peer,
        } => tracing::info!(
            target: "fixp_ws::conn",
            at_ns,
            connection,
            role = role_name(role),
            transport = transport.name(),
            peer = peer.map(tracing::field::display),
            "connected"
        ),
        LogEvent::HandshakeFailed {
            connection,
            role,
            peer,
            reason,
            detail,
        } => tracing::warn!(
            target: "fixp_ws::conn",
            at_ns,
            connection,
            role = role_name(role),
            peer = peer.map(tracing::field::display),
            reason = reason.name(),
            http_status = match reason {
                HandshakeFailure::UpgradeRefused(status) => Some(status),
                _ => None,
            },
            io_error = match reason {
                HandshakeFailure::Connect(kind) | HandshakeFailure::Io(kind) => Some(tracing::field::display(kind)),
                _ => None,
            },
            detail = %detail,
            "handshake failed"
        ),
        LogEvent::Rejected {
            session_id,
            role,
            connection,
            code,
            reason,
        } => tracing::warn!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session_id,
            role = role_name(role),
            connection,
            reject = code.message(),
            code = code.name(),
            reason = %reason,
            "rejected"
        ),
        LogEvent::Refused {
            connection,
            close_code,
            reason,
            after_reject,
        } => {
            if after_reject {
                tracing::debug!(
                    target: "fixp_ws::conn",
                    at_ns,
                    connection,
                    close_code,
                    reason = %reason,
                    "closed after reject"
                )
            } else {
                tracing::warn!(
                    target: "fixp_ws::conn",
                    at_ns,
                    connection,
                    close_code,
                    reason = %reason,
                    "refused before a session bound"
                )
            }
        }
        LogEvent::Established {
            session,
            next_seq_to_send,
            next_seq_expected,
        } => tracing::info!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            role = role_name(session.role),
            next_seq_to_send,
            next_seq_expected,
            "established"
        ),
        LogEvent::StateChanged { session, state } => tracing::debug!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            role = role_name(session.role),
            state = state_name(state),
            "state changed"
        ),
        LogEvent::Violation {
            session,
            violation,
            ended_binding,
        } => tracing::warn!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            role = role_name(session.role),
            reason = %violation,
            ended_binding,
            close_code = TerminateReason::Violation(violation).close_code(),
            "protocol violation"
        ),
        LogEvent::Terminated { session, reason } => {
            if is_orderly(&reason) {
                tracing::info!(
                    target: "fixp_ws::session",
                    at_ns,
                    session_id = %session.id,
                    index = session.index,
                    role = role_name(session.role),
                    reason = %reason,
                    close_code = reason.close_code(),
                    "terminated"
                )
            } else {
                tracing::warn!(
                    target: "fixp_ws::session",
                    at_ns,
                    session_id = %session.id,
                    index = session.index,
                    role = role_name(session.role),
                    reason = %reason,
                    close_code = reason.close_code(),
                    "terminated"
                )
            }
        }
        LogEvent::RecoveryStarted {
            session,
            direction,
            from,
            end,
        } => tracing::info!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            direction = direction.name(),
            from,
            end,
            count = end.saturating_sub(from),
            "recovery started"
        ),
        LogEvent::RecoveryFinished {
            session,
            direction,
            from,
            end,
        } => tracing::info!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            direction = direction.name(),
            from,
            end,
            count = end.saturating_sub(from),
            "recovery finished"
        ),
        LogEvent::Gap {
            session,
            from,
            count,
        } => tracing::warn!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            from,
            count,
            "gap: messages lost, NotApplied sent"
        ),
        LogEvent::NotApplied {
            session,
            from,
            count,
        } => tracing::warn!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            from,
            count,
            "peer did not apply our messages"
        ),
        LogEvent::RetransmitRejected {
            session,
            from,
            count,
            code,
        } => tracing::warn!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            from,
            count,
            code = code.name(),
            "retransmission rejected: messages lost"
        ),
        LogEvent::PeerLapse { session, silent_ns } => tracing::warn!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            silent_ms = silent_ns / 1_000_000,
            "peer silent beyond its keepalive interval"
        ),
        LogEvent::SlowConsumer {
            connection,
            session,
        } => tracing::warn!(
            target: "fixp_ws::conn",
            at_ns,
            connection,
            session_id = session.map(|s| tracing::field::display(s.id)),
            "slow consumer: connection closed"
        ),
        LogEvent::Reconnecting { session, attempt } => tracing::info!(
            target: "fixp_ws::conn",
            at_ns,
            session_id = %session.id,
            index = session.index,
            attempt,
            "reconnecting"
        ),
        LogEvent::Finalized { session } => tracing::info!(
            target: "fixp_ws::session",
            at_ns,
            session_id = %session.id,
            index = session.index,
            role = role_name(session.role),
            "finalized"
        ),
        LogEvent::AdminEnd {
            session_id,
            action,
            outcome,
        } => tracing::info!(
            target: "fixp_ws::admin",
            at_ns,
            session_id = %session_id,
            action = action.name(),
            outcome = outcome.name(),
            "end session"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_keeps_a_utf8_prefix_that_fits() {
        assert_eq!(
            ShortText::new(b"Credentials: refused").as_str(),
            "Credentials: refused"
        );
        let long = "é".repeat(LOG_TEXT_BYTES);
        let cut = ShortText::new(long.as_bytes());
        assert!(cut.as_str().len() <= LOG_TEXT_BYTES);
        assert_eq!(cut.as_str(), "é".repeat(LOG_TEXT_BYTES / 2));
        assert_eq!(ShortText::new(b"ok\xffbad").as_str(), "ok");
    }

    fn records(queue: &ArrayQueue<LogRecord>) -> Vec<LogEvent> {
        std::iter::from_fn(|| queue.pop())
            .map(|r| r.event)
            .collect()
    }

    #[test]
    fn recovery_watch_logs_starts_and_ends_and_counts() {
        let queue = Arc::new(ArrayQueue::new(16));
        let log = EngineLog::new(Some(Arc::clone(&queue)), Arc::default(), Arc::default());
        let who = SessionRef {
            id: SessionId::from_random_bytes([1; 16]),
            index: 0,
            role: Role::Server,
        };
        let mut watch = RecoveryWatch::default();
        let progress = |requested, replaying| RecoveryProgress {
            requested,
            replaying,
        };
        watch.observe(&log, 1, who, 0, progress(None, None));
        assert!(records(&queue).is_empty(), "nothing changed");
        watch.observe(&log, 2, who, 0, progress(Some((3, 7)), Some((10, 20))));
        watch.observe(&log, 3, who, 0, progress(Some((3, 7)), Some((15, 20))));
        assert_eq!(
            records(&queue),
            vec![
                started(who, RecoveryDirection::Inbound, 3, 7),
                started(who, RecoveryDirection::Outbound, 10, 20),
            ],
            "a replay moving on is the same replay"
        );
        watch.observe(&log, 4, who, 0, progress(Some((7, 9)), None));
        assert_eq!(
            records(&queue),
            vec![
                finished(who, RecoveryDirection::Inbound, 3, 7),
                started(who, RecoveryDirection::Inbound, 7, 9),
                finished(who, RecoveryDirection::Outbound, 10, 20),
            ]
        );
        assert_eq!(
            (
                watch.retransmit_requests,
                watch.retransmit_requested_messages
            ),
            (2, 6)
        );
        assert_eq!((watch.replays, watch.replayed_messages), (1, 10));
        // A reused entry (new generation) starts afresh.
        watch.observe(&log, 5, who, 1, progress(None, None));
        assert_eq!(watch.retransmit_requests, 0);
    }

    #[test]
    fn a_full_queue_counts_losses_and_logging_off_records_nothing() {
        let queue = Arc::new(ArrayQueue::new(1));
        let counters = Arc::new(LogCounters::default());
        let log = EngineLog::new(Some(queue), Arc::clone(&counters), Arc::default());
        let who = SessionRef {
            id: SessionId::NIL,
            index: 0,
            role: Role::Client,
        };
        for _ in 0..3 {
            log.record(0, || LogEvent::Finalized { session: who });
        }
        assert_eq!(counters.pushed.load(Ordering::Relaxed), 1);
        assert_eq!(counters.lost.load(Ordering::Relaxed), 2);
        let off = EngineLog::off();
        off.record(0, || LogEvent::Finalized { session: who });
        assert!(!off.is_on());
    }
}
