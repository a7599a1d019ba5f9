//! [`Session`]: one FIXP session, sans-IO.
//!
//! Inputs are `handle_*` calls carrying the current time; outputs are drained with
//! [`Session::poll_transmit`], [`Session::poll_event`] and [`Session::next_deadline`].

use std::fmt::Write as _;

use crate::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, TemplateId,
    TerminationCode,
};
use crate::codec::{EncodeError, Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use crate::session::auth::{AuthMessage, MAX_CREDENTIALS_LEN};
use crate::session::ring::{PushError, SlotRing};
use crate::session::store::RetransmitStore;
use crate::session::types::{
    Event, QueueDepths, RecoveryProgress, Role, SendError, SendWithError, SessionConfig,
    SessionState, SessionStatus, TerminateReason, Termination, Transmit, Violation,
    MAX_CLOSE_REASON, NS_PER_MS,
};

/// What an outbound slot holds.
#[derive(Clone, Copy, Debug)]
enum OutMeta {
    Frame(FrameKind),
    Close(u16),
}

/// What an inbound sequenced message is, for delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InKind {
    App,
    Applied { from_seq_no: u64, count: u32 },
    NotApplied { from_seq_no: u64, count: u32 },
}

/// The session timers; the array index is the discriminant.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// Negotiate / Establish response wait (client).
    Handshake = 0,
    /// Our next heartbeat.
    Keepalive = 1,
    /// Peer silent for one of its intervals: warn.
    Lapse = 2,
    /// Peer silent for `lapse_multiple` intervals: terminate.
    PeerTimeout = 3,
    /// Our Terminate is out (TCP): the peer's answer is awaited until then.
    TerminateWait = 4,
}

const TIMER_COUNT: usize = 5;

/// Event slots kept free for the events of a termination (state change, finalized,
/// terminated), so the application always learns why the binding ended.
const RESERVED_EVENTS: usize = 3;

/// A replay we are sending (we produce a Recoverable flow).
#[derive(Clone, Copy, Debug)]
struct Replay {
    request_timestamp: u64,
    next: u64,
    end: u64,
    header_needed: bool,
}

/// Our RetransmitRequest in flight (we consume a Recoverable flow).
#[derive(Clone, Copy, Debug)]
struct Request {
    timestamp: u64,
    from: u64,
    end: u64,
}

/// A decoded inbound message, detached from the frame (only the fields the session uses).
#[derive(Clone, Copy, Debug)]
enum In {
    App(InKind),
    Sequence(u64),
    UnsequencedHeartbeat,
    NegotiationResponse {
        id: SessionId,
        ts: u64,
        flow: FlowType,
    },
    NegotiationReject {
        id: SessionId,
        ts: u64,
        code: NegotiationRejectCode,
    },
    EstablishmentAck {
        id: SessionId,
        ts: u64,
        keepalive_ms: u32,
        next: Option<u64>,
    },
    EstablishmentReject {
        id: SessionId,
        ts: u64,
        code: EstablishmentRejectCode,
    },
    RetransmitRequest {
        id: SessionId,
        ts: u64,
        from: u64,
        count: u32,
    },
    Retransmission {
        ts: u64,
        next: u64,
        count: u32,
    },
    RetransmitReject {
        ts: u64,
        code: RetransmitRejectCode,
    },
    Establish {
        ts: u64,
    },
    Terminate(TerminationCode),
    FinishedSending(Option<u64>),
    FinishedReceiving,
    Context,
    Topic,
    Other(TemplateId),
}

fn detach(inbound: Inbound<'_>) -> In {
    let msg = match inbound {
        Inbound::Application(_) => return In::App(InKind::App),
        Inbound::Fixp(m) => m,
    };
    match msg {
        FixpMessage::Applied { from_seq_no, count } => {
            In::App(InKind::Applied { from_seq_no, count })
        }
        FixpMessage::NotApplied { from_seq_no, count } => {
            In::App(InKind::NotApplied { from_seq_no, count })
        }
        FixpMessage::Sequence { next_seq_no } => In::Sequence(next_seq_no),
        FixpMessage::UnsequencedHeartbeat => In::UnsequencedHeartbeat,
        FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp,
            server_flow,
            ..
        } => In::NegotiationResponse {
            id: session_id,
            ts: request_timestamp,
            flow: server_flow,
        },
        FixpMessage::NegotiationReject {
            session_id,
            request_timestamp,
            code,
            ..
        } => In::NegotiationReject {
            id: session_id,
            ts: request_timestamp,
            code,
        },
        FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp,
            keepalive_interval,
            next_seq_no,
        } => In::EstablishmentAck {
            id: session_id,
            ts: request_timestamp,
            keepalive_ms: keepalive_interval,
            next: next_seq_no,
        },
        FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp,
            code,
            ..
        } => In::EstablishmentReject {
            id: session_id,
            ts: request_timestamp,
            code,
        },
        FixpMessage::RetransmitRequest {
            session_id,
            timestamp,
            from_seq_no,
            count,
        } => In::RetransmitRequest {
            id: session_id,
            ts: timestamp,
            from: from_seq_no,
            count,
        },
        FixpMessage::Retransmission {
            request_timestamp,
            next_seq_no,
            count,
            ..
        } => In::Retransmission {
            ts: request_timestamp,
            next: next_seq_no,
            count,
        },
        FixpMessage::RetransmitReject {
            request_timestamp,
            code,
            ..
        } => In::RetransmitReject {
            ts: request_timestamp,
            code,
        },
        FixpMessage::Establish { timestamp, .. } => In::Establish { ts: timestamp },
        FixpMessage::Terminate { code, .. } => In::Terminate(code),
        FixpMessage::FinishedSending { last_seq_no, .. } => In::FinishedSending(last_seq_no),
        FixpMessage::FinishedReceiving { .. } => In::FinishedReceiving,
        FixpMessage::Context { .. } => In::Context,
        FixpMessage::Topic { .. } => In::Topic,
        other => In::Other(other.template()),
    }
}

fn is_sequenced(flow: FlowType) -> bool {
    matches!(flow, FlowType::Recoverable | FlowType::Idempotent)
}

/// A fixed buffer for Close reasons: `fmt::Write` that truncates at a char boundary.
struct ReasonBuf {
    bytes: [u8; MAX_CLOSE_REASON],
    len: usize,
}

impl std::fmt::Write for ReasonBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for ch in s.chars() {
            let mut tmp = [0u8; 4];
            let encoded = ch.encode_utf8(&mut tmp).as_bytes();
            let end = self.len + encoded.len();
            match self.bytes.get_mut(self.len..end) {
                Some(dst) => dst.copy_from_slice(encoded),
                None => return Ok(()),
            }
            self.len = end;
        }
        Ok(())
    }
}

/// The Close reason text for `reason`: `"TerminationCode: text"`, at most 123 bytes.
fn close_reason(reason: &TerminateReason) -> ReasonBuf {
    let mut text = ReasonBuf {
        bytes: [0; MAX_CLOSE_REASON],
        len: 0,
    };
    let _ = write!(text, "{}: {}", reason.termination_code().name(), reason);
    text
}

/// Encodes FIXP `Terminate` for `reason` into `out`: its TerminationCode and, as Reason, the
/// reason's text (at most 123 bytes). Returns the length.
pub(crate) fn encode_terminate<E: Encoding>(
    encoding: &mut E,
    session_id: SessionId,
    reason: &TerminateReason,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut text = ReasonBuf {
        bytes: [0; MAX_CLOSE_REASON],
        len: 0,
    };
    let _ = write!(text, "{reason}");
    encoding.encode(
        &FixpMessage::Terminate {
            session_id,
            code: reason.termination_code(),
            reason: text.bytes.get(..text.len).unwrap_or(&[]),
        },
        out,
    )
}

/// Writes the Close reason for `reason` into `out` and returns its length.
pub(crate) fn write_close_reason(
    reason: &TerminateReason,
    out: &mut [u8; MAX_CLOSE_REASON],
) -> usize {
    let text = close_reason(reason);
    *out = text.bytes;
    text.len
}

/// splitmix64: derives a fresh SessionId for a Negotiate retry without a clock or RNG.
fn derive_session_id(seed: SessionId, counter: u64) -> SessionId {
    let mut bytes = [0u8; 16];
    let mut state = u64::from_le_bytes(seed.0[..8].try_into().unwrap_or([0; 8]))
        ^ u64::from_le_bytes(seed.0[8..].try_into().unwrap_or([0; 8]))
        ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    SessionId::from_random_bytes(bytes)
}

/// One FIXP session (client or server role), generic over its wire encoding `E` and the
/// retransmit store `S` of its outbound Recoverable flow.
///
/// Call order per loop iteration: feed inputs (`handle_frame`, `handle_timeout`, `send`, …),
/// then drain `poll_transmit` and `poll_event`, then sleep or spin until `next_deadline`.
/// Time (`now`, nanoseconds) must never go backwards.
#[derive(Debug)]
pub struct Session<E: Encoding, S: RetransmitStore> {
    config: SessionConfig,
    role: Role,
    encoding: E,
    store: S,
    session_id: SessionId,
    id_counter: u64,
    state: SessionState,
    bound: bool,
    termination: Termination,
    /// Our Terminate is out and the peer's answer awaited: why we terminated.
    closing: Option<TerminateReason>,
    in_flow: Option<FlowType>,
    peer_keepalive_ns: u64,
    last_timestamp: u64,
    request_timestamp: u64,
    handshake_attempts: u32,
    // Outbound flow.
    next_out: u64,
    need_sequence: bool,
    finished_sending: Option<Option<u64>>,
    started_finish: bool,
    peer_finished_receiving: bool,
    replay: Option<Replay>,
    // Inbound flow.
    expected: u64,
    cursor: u64,
    replay_cursor: u64,
    replay_remaining: u32,
    replaying: bool,
    known_next: u64,
    request: Option<Request>,
    recovery: SlotRing<(u64, InKind)>,
    peer_finished: Option<Option<u64>>,
    sent_finished_receiving: bool,
    duplicates_dropped: u64,
    // Timers and queues.
    timers: [Option<u64>; TIMER_COUNT],
    last_heard: u64,
    /// The latest `now` an input carried (replay batches are queued from `poll_transmit`,
    /// which has no clock).
    latest_now: u64,
    lapse_warned: bool,
    outbox: SlotRing<OutMeta>,
    events: SlotRing<Event<'static>>,
    // Lending (see `handle_frame_lending`): armed for one frame; the seq of the message lent.
    lend: bool,
    lent: Option<u64>,
}

impl<E: Encoding, S: RetransmitStore> Session<E, S> {
    fn new(
        config: SessionConfig,
        role: Role,
        encoding: E,
        store: S,
        session_id: SessionId,
    ) -> Self {
        let frame = config.max_frame_len;
        let termination = config.termination;
        Session {
            outbox: SlotRing::new(config.outbox_capacity.max(2), frame.max(MAX_CLOSE_REASON)),
            events: SlotRing::new(config.event_capacity.max(RESERVED_EVENTS + 1), frame),
            recovery: SlotRing::new(config.recovery_capacity, frame),
            config,
            role,
            encoding,
            store,
            session_id,
            id_counter: 0,
            state: SessionState::Idle,
            bound: false,
            termination,
            closing: None,
            in_flow: None,
            peer_keepalive_ns: 0,
            last_timestamp: 0,
            request_timestamp: 0,
            handshake_attempts: 0,
            next_out: 1,
            need_sequence: false,
            finished_sending: None,
            started_finish: false,
            peer_finished_receiving: false,
            replay: None,
            expected: 1,
            cursor: 1,
            replay_cursor: 1,
            replay_remaining: 0,
            replaying: false,
            known_next: 1,
            request: None,
            peer_finished: None,
            sent_finished_receiving: false,
            duplicates_dropped: 0,
            timers: [None; TIMER_COUNT],
            last_heard: 0,
            latest_now: 0,
            lapse_warned: false,
            lend: false,
            lent: None,
        }
    }

    /// A client session that will negotiate `session_id` (a UUID v4) on the first connection.
    pub fn client(config: SessionConfig, encoding: E, store: S, session_id: SessionId) -> Self {
        Self::new(config, Role::Client, encoding, store, session_id)
    }

    /// A client session resumed from a journal after a restart: `session_id` was negotiated
    /// before, so the first connection sends Establish (no Negotiate) with
    /// `next_seq_to_send`, and inbound delivery continues at `next_seq_expected` (a
    /// Recoverable server flow is asked to retransmit what was missed).
    pub fn client_resumed(
        config: SessionConfig,
        encoding: E,
        store: S,
        session_id: SessionId,
        server_flow: FlowType,
        next_seq_to_send: u64,
        next_seq_expected: u64,
    ) -> Self {
        let mut session = Self::new(config, Role::Client, encoding, store, session_id);
        session.state = SessionState::NotEstablished;
        session.in_flow = Some(server_flow);
        session.next_out = next_seq_to_send.max(1);
        let next_in = next_seq_expected.max(1);
        session.expected = next_in;
        session.cursor = next_in;
        session.replay_cursor = next_in;
        session.known_next = next_in;
        session
    }

    /// A server session restored from a journal after a restart: negotiated, unbound
    /// (`NotEstablished`), numbers continuing where the journal ends; the client re-Establishes.
    pub fn server_resumed(
        config: SessionConfig,
        encoding: E,
        store: S,
        session_id: SessionId,
        client_flow: FlowType,
        next_seq_to_send: u64,
        next_seq_expected: u64,
    ) -> Self {
        let mut session = Self::new(config, Role::Server, encoding, store, session_id);
        session.state = SessionState::NotEstablished;
        session.in_flow = Some(client_flow);
        session.next_out = next_seq_to_send.max(1);
        let next_in = next_seq_expected.max(1);
        session.expected = next_in;
        session.cursor = next_in;
        session.replay_cursor = next_in;
        session.known_next = next_in;
        session
    }

    /// A server session for a just-accepted Negotiate: bound, answers with NegotiationResponse.
    pub(crate) fn server_negotiated(
        now: u64,
        config: SessionConfig,
        encoding: E,
        store: S,
        session_id: SessionId,
        client_flow: FlowType,
        request_timestamp: u64,
    ) -> Self {
        let mut session = Self::new(config, Role::Server, encoding, store, session_id);
        session.in_flow = Some(client_flow);
        session.bound = true;
        session.state = SessionState::Negotiated;
        let flow = session.config.flow;
        session.push_msg(
            now,
            &FixpMessage::NegotiationResponse {
                session_id,
                request_timestamp,
                server_flow: flow,
                credentials: &[],
            },
        );
        session
    }

    /// Server: binds the session to a connection that sent an accepted Establish and answers
    /// with EstablishmentAck.
    pub(crate) fn accept_establish(
        &mut self,
        now: u64,
        request_timestamp: u64,
        keepalive_ms: u32,
        next_seq_no: Option<u64>,
    ) {
        self.latest_now = self.latest_now.max(now);
        if !self.bound {
            // Frames left from the previous connection are not sent on the new one.
            self.outbox.clear();
            self.stop_closing();
            self.bound = true;
        }
        let next = (self.config.flow == FlowType::Recoverable).then_some(self.next_out);
        let keepalive = self.config.keepalive_interval_ms;
        let id = self.session_id;
        self.push_msg(
            now,
            &FixpMessage::EstablishmentAck {
                session_id: id,
                request_timestamp,
                keepalive_interval: keepalive,
                next_seq_no: next,
            },
        );
        self.on_established(now, keepalive_ms, next_seq_no);
    }

    // ----- status -----

    /// The SessionId (it changes when a client retries Negotiate).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True while a transport binding is live (not closed, not lost).
    pub fn is_bound(&self) -> bool {
        self.bound
    }

    /// How bindings end on the wire (from [`SessionConfig::termination`]).
    pub fn termination(&self) -> Termination {
        self.termination
    }

    /// Sets how the next binding ends: call before [`handle_connected`](Self::handle_connected)
    /// when the next connection uses another transport (the acceptor does it per connection).
    pub fn set_termination(&mut self, termination: Termination) {
        self.termination = termination;
    }

    /// True while our Terminate is out and the peer's answer is awaited (TCP): the binding is
    /// over, [`Transmit::Close`] follows the answer or the timeout.
    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// True when a frame is waiting for [`Session::poll_transmit`] (or a replay batch is due).
    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty() || self.replay.is_some()
    }

    /// True when an event is waiting for [`Session::poll_event`].
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// Inbound duplicates dropped so far (Idempotent and Recoverable flows).
    pub fn duplicates_dropped(&self) -> u64 {
        self.duplicates_dropped
    }

    /// A snapshot of ids, state, sequence numbers and flow types.
    pub fn status(&self) -> SessionStatus {
        SessionStatus {
            session_id: self.session_id,
            state: self.state,
            outbound_flow: self.config.flow,
            inbound_flow: self.in_flow,
            next_seq_to_send: self.next_out,
            next_seq_expected: self.expected,
            last_heard_ns: self.last_heard,
            finished_sending: self.finished_sending.is_some(),
            peer_finished_sending: self.peer_finished.is_some(),
            tolerated_deviations: self.encoding.tolerated_deviations(),
        }
    }

    /// How full the outbound, event and recovery queues are (for status reports).
    pub fn queue_depths(&self) -> QueueDepths {
        QueueDepths {
            outbox: self.outbox.len(),
            outbox_capacity: self.outbox.len() + self.outbox.free(),
            events: self.events.len(),
            event_capacity: self.events.len() + self.events.free(),
            recovery: self.recovery.len(),
            recovery_capacity: self.recovery.len() + self.recovery.free(),
        }
    }

    /// The retransmissions in progress: ours requested, the peer's being replayed.
    pub fn recovery(&self) -> RecoveryProgress {
        RecoveryProgress {
            requested: self.request.map(|r| (r.from, r.end)),
            replaying: self.replay.as_ref().map(|r| (r.next, r.end)),
        }
    }

    /// The retransmit store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The retransmit store, mutably (for example to inject faults in tests).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    // ----- outputs -----

    /// The next frame to send, if any. Replay batches are produced here, one batch per call
    /// once earlier frames are drained, so replay interleaves with live traffic.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        if self.outbox.is_empty() {
            self.pump_replay(u32::MAX);
        }
        self.poll_queued_transmit()
    }

    /// The next frame already queued, if any; never queues a replay batch (an engine that caps
    /// replay work per duty cycle calls [`Session::queue_replay`] itself).
    pub fn poll_queued_transmit(&mut self) -> Option<Transmit<'_>> {
        let (meta, bytes) = self.outbox.pop()?;
        Some(match meta {
            OutMeta::Frame(kind) => Transmit::Frame { bytes, kind },
            OutMeta::Close(code) => Transmit::Close {
                code,
                reason: std::str::from_utf8(bytes).unwrap_or(""),
            },
        })
    }

    /// True while a replay (the answer to a RetransmitRequest) has messages left to queue.
    pub fn replay_pending(&self) -> bool {
        self.replay.is_some()
    }

    /// Queues the next replay batch, at most `max` messages (and `retransmit_batch`), once the
    /// frames queued before it are drained; returns how many replayed messages it queued.
    pub fn queue_replay(&mut self, max: u32) -> u32 {
        if !self.outbox.is_empty() || max == 0 {
            return 0;
        }
        self.pump_replay(max)
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        let (event, bytes) = self.events.pop()?;
        Some(match event {
            Event::Message { seq, .. } => Event::Message { seq, bytes },
            other => other,
        })
    }

    /// The earliest time `handle_timeout` must be called, if any timer is armed.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.iter().flatten().min().copied()
    }

    // ----- inputs: transport -----

    /// A new transport connection is up (client): sends Negotiate, or Establish when a
    /// negotiated, unfinalized session exists (re-establishment, no new Negotiate).
    pub fn handle_connected(&mut self, now: u64) {
        if self.role != Role::Client || self.bound {
            return;
        }
        match self.state {
            SessionState::Idle | SessionState::Negotiating => {
                self.outbox.clear();
                self.stop_closing();
                self.bound = true;
                self.send_negotiate(now);
            }
            SessionState::Negotiated
            | SessionState::NotEstablished
            | SessionState::Establishing => {
                self.outbox.clear();
                self.stop_closing();
                self.bound = true;
                self.send_establish(now);
            }
            SessionState::Established | SessionState::Finalized | SessionState::Rejected => {}
        }
    }

    /// The transport is gone (with or without a Close). The session survives for
    /// re-establishment unless it is finalized or rejected.
    pub fn handle_disconnected(&mut self, _now: u64) {
        self.stop_closing();
        if self.bound {
            self.unbind();
            self.push_event(Event::Terminated(TerminateReason::TransportLost), true);
        }
    }

    /// The peer sent a WebSocket Close (the transport answers it).
    pub fn handle_close(&mut self, _now: u64, code: u16) {
        if self.bound {
            self.unbind();
            self.push_event(Event::Terminated(TerminateReason::PeerClosed(code)), true);
        }
    }

    /// One inbound WebSocket message.
    pub fn handle_frame(&mut self, now: u64, frame: &[u8], kind: FrameKind) {
        self.latest_now = self.latest_now.max(now);
        if let Some(reason) = self.closing {
            // Our Terminate is out: only the peer's Terminate matters now.
            let answered = matches!(
                self.encoding.decode(frame, kind),
                Ok(Inbound::Fixp(FixpMessage::Terminate { .. }))
            );
            if answered {
                self.stop_closing();
                self.queue_close(&reason);
            } else {
                self.push_event(Event::ViolationIgnored(Violation::FrameAfterClose), false);
            }
            return;
        }
        if !self.bound {
            self.push_event(Event::ViolationIgnored(Violation::FrameAfterClose), false);
            return;
        }
        self.last_heard = now;
        self.lapse_warned = false;
        self.arm_peer_timers();
        let msg = match self.encoding.decode(frame, kind) {
            Ok(inbound) => detach(inbound),
            Err(e) => return self.violation(now, Violation::Undecodable(e)),
        };
        match self.state {
            SessionState::Negotiating => self.on_negotiating(now, msg),
            SessionState::Establishing => self.on_establishing(now, msg),
            SessionState::Established => self.on_established_msg(now, msg, frame),
            _ => self.on_not_established(now, msg),
        }
    }

    /// Like [`Session::handle_frame`], but an application message that can be delivered at
    /// once, in order, is not copied into the event ring: its sequence number (0 on an
    /// Unsequenced flow) is returned, and `frame` itself is the message. The caller must hand
    /// it to the application before anything [`Session::poll_event`] returns next (events
    /// queued by this frame come after it). A message behind queued events, or released
    /// from the recovery queue, is queued as usual.
    pub fn handle_frame_lending(&mut self, now: u64, frame: &[u8], kind: FrameKind) -> Option<u64> {
        self.lend = true;
        self.lent = None;
        self.handle_frame(now, frame, kind);
        self.lend = false;
        self.lent.take()
    }

    /// Timers: heartbeats, peer lapse, handshake retries.
    pub fn handle_timeout(&mut self, now: u64) {
        self.latest_now = self.latest_now.max(now);
        if let (Some(reason), Some(deadline)) =
            (self.closing, self.timers[Timer::TerminateWait as usize])
        {
            if now >= deadline {
                // The peer never answered our Terminate: close anyway (digest §4.4).
                self.stop_closing();
                self.queue_close(&reason);
            }
        }
        if let Some(deadline) = self.timers[Timer::Handshake as usize] {
            if now >= deadline {
                self.timers[Timer::Handshake as usize] = None;
                match self.state {
                    SessionState::Negotiating if self.bound => {
                        self.handshake_attempts += 1;
                        self.id_counter += 1;
                        self.session_id = derive_session_id(self.session_id, self.id_counter);
                        let attempt = self.handshake_attempts;
                        self.push_event(Event::HandshakeRetry { attempt }, false);
                        self.send_negotiate(now);
                    }
                    SessionState::Establishing if self.bound => {
                        self.handshake_attempts += 1;
                        let attempt = self.handshake_attempts;
                        self.push_event(Event::HandshakeRetry { attempt }, false);
                        self.send_establish(now);
                    }
                    _ => {}
                }
            }
        }
        if self.state != SessionState::Established || !self.bound {
            return;
        }
        let silent = now.saturating_sub(self.last_heard);
        let limit = self
            .peer_keepalive_ns
            .saturating_mul(u64::from(self.config.lapse_multiple.max(1)));
        // A peer interval of 0 (undefined by the spec) disables lapse supervision.
        let supervised = self.peer_keepalive_ns > 0;
        if supervised && silent >= limit {
            return self.terminate(now, TerminateReason::PeerTimeout);
        }
        if supervised && silent >= self.peer_keepalive_ns && !self.lapse_warned {
            self.lapse_warned = true;
            self.timers[Timer::Lapse as usize] = None;
            self.push_event(Event::PeerLapse { silent_ns: silent }, false);
        }
        if let Some(deadline) = self.timers[Timer::Keepalive as usize] {
            if now >= deadline {
                self.send_heartbeat(now);
            }
        }
    }

    // ----- inputs: application -----

    /// Sends one application message (already encoded). Returns its sequence number (0 on an
    /// Unsequenced flow). A Sequence goes first when the numbering needs stating.
    pub fn send(&mut self, now: u64, message: &[u8]) -> Result<u64, SendError> {
        self.check_send()?;
        if message.len() > self.config.max_frame_len {
            return Err(SendError::TooLarge);
        }
        self.send_with(now, |slot| match slot.get_mut(..message.len()) {
            Some(dst) => {
                dst.copy_from_slice(message);
                Ok(message.len())
            }
            None => Err(()),
        })
        .map_err(|e| match e {
            SendWithError::Session(e) => e,
            SendWithError::Encode(()) => SendError::TooLarge,
        })
    }

    /// Sends one application message that `encode` writes straight into the session's
    /// outbound slot (`max_frame_len` bytes), returning the length it wrote: no intermediate
    /// buffer, no copy. Returns the sequence number (0 on an Unsequenced flow). Nothing is
    /// queued when the session refuses or `encode` fails; a length beyond the slot is
    /// [`SendError::TooLarge`].
    pub fn send_with<Er>(
        &mut self,
        now: u64,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, Er>,
    ) -> Result<u64, SendWithError<Er>> {
        self.latest_now = self.latest_now.max(now);
        self.check_send().map_err(SendWithError::Session)?;
        let flow = self.config.flow;
        let sequenced = flow != FlowType::Unsequenced;
        let with_sequence = sequenced && self.need_sequence;
        let needed = 2 + usize::from(self.need_sequence);
        if self.outbox.free() < needed {
            return Err(SendWithError::Session(SendError::Backpressure));
        }
        let seq = if sequenced { self.next_out } else { 0 };
        let kind = self.encoding.frame_kind();
        if with_sequence {
            let encoding = &mut self.encoding;
            let sequence = FixpMessage::Sequence { next_seq_no: seq };
            match self.outbox.push_with(OutMeta::Frame(kind), |slot| {
                encoding.encode(&sequence, slot)
            }) {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(SendWithError::Session(SendError::Backpressure)),
            }
        }
        let max = self.config.max_frame_len;
        let pushed = self.outbox.push_with(OutMeta::Frame(kind), |slot| {
            let slot = slot
                .get_mut(..max)
                .ok_or(SendWithError::Session(SendError::TooLarge))?;
            match encode(slot) {
                Ok(n) if n <= max => Ok(n),
                Ok(_) => Err(SendWithError::Session(SendError::TooLarge)),
                Err(e) => Err(SendWithError::Encode(e)),
            }
        });
        match pushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.undo_sequence(with_sequence, e),
            Err(_) => {
                let e = SendWithError::Session(SendError::Backpressure);
                return self.undo_sequence(with_sequence, e);
            }
        }
        if flow == FlowType::Recoverable {
            let stored = match self.outbox.back() {
                Some((_, bytes)) => self.store.append(seq, now, bytes),
                None => Ok(()),
            };
            if let Err(e) = stored {
                self.outbox.pop_back();
                let e = SendWithError::Session(SendError::Store(e));
                return self.undo_sequence(with_sequence, e);
            }
        }
        if with_sequence {
            self.need_sequence = false;
        }
        if let Some(replay) = self.replay.as_mut() {
            replay.header_needed = true;
        }
        self.arm_keepalive(now);
        if sequenced {
            self.next_out = seq + 1;
        }
        Ok(seq)
    }

    /// Takes back the Sequence pushed before a message that then failed.
    fn undo_sequence<Er>(
        &mut self,
        pushed: bool,
        error: SendWithError<Er>,
    ) -> Result<u64, SendWithError<Er>> {
        if pushed {
            self.outbox.pop_back();
        }
        Err(error)
    }

    /// Whether an application message may be sent now.
    fn check_send(&self) -> Result<(), SendError> {
        if self.state != SessionState::Established || !self.bound {
            return Err(SendError::NotEstablished);
        }
        if self.finished_sending.is_some() {
            return Err(SendError::Finished);
        }
        if self.config.flow == FlowType::None {
            return Err(SendError::FlowIsNone);
        }
        Ok(())
    }

    /// Starts finalization of our flow: FinishedSending(LastSeqNo), repeated as the heartbeat
    /// until FinishedReceiving. No application messages may follow.
    pub fn finalize(&mut self, now: u64) {
        if self.finished_sending.is_some() || self.state == SessionState::Finalized {
            return;
        }
        let last = is_sequenced(self.config.flow).then(|| self.next_out - 1);
        self.finished_sending = Some(last);
        self.started_finish = self.peer_finished.is_none();
        if self.state == SessionState::Established && self.bound {
            self.send_finished_sending(now);
        }
    }

    /// Ends the binding for `reason`, as the session's [`Termination`] says: a WebSocket
    /// Close (Close replaces Terminate), or FIXP Terminate followed, once the peer answers or
    /// the timeout passes, by [`Transmit::Close`]. With [`TerminateReason::Finished`] the
    /// session is finalized; otherwise it can be re-established.
    pub fn terminate(&mut self, now: u64, reason: TerminateReason) {
        self.end_binding(now, reason, false);
    }

    // ----- internals: outputs -----

    /// Ends the binding; `answering` when the peer's Terminate started it.
    fn end_binding(&mut self, now: u64, reason: TerminateReason, answering: bool) {
        if !self.bound {
            return;
        }
        let wait = match self.termination {
            Termination::WebSocketClose => {
                self.queue_close(&reason);
                None
            }
            Termination::FixpTerminate { timeout_ms } => {
                if self.outbox.free() < 2 {
                    // No room for Terminate and Close: drop the pending frames, the binding
                    // is ending anyway.
                    self.outbox.clear();
                }
                let kind = self.encoding.frame_kind();
                let (encoding, id) = (&mut self.encoding, self.session_id);
                let sent = matches!(
                    self.outbox.push_with(OutMeta::Frame(kind), |slot| {
                        encode_terminate(encoding, id, &reason, slot)
                    }),
                    Ok(Ok(()))
                );
                if answering || !sent {
                    self.queue_close(&reason);
                    None
                } else {
                    Some(now.saturating_add(u64::from(timeout_ms) * NS_PER_MS))
                }
            }
        };
        self.unbind();
        if let Some(deadline) = wait {
            self.closing = Some(reason);
            self.timers[Timer::TerminateWait as usize] = Some(deadline);
        }
        if reason == TerminateReason::Finished && self.state != SessionState::Finalized {
            self.set_state(SessionState::Finalized);
            self.push_event(Event::Finalized, true);
        }
        self.push_event(Event::Terminated(reason), true);
    }

    /// Queues the Close that ends the transport (the WebSocket Close, or after a Terminate
    /// "close the transport now").
    fn queue_close(&mut self, reason: &TerminateReason) {
        let text = close_reason(reason);
        if self.outbox.free() == 0 {
            // No room for the Close: drop the pending frames, the binding is ending anyway.
            self.outbox.clear();
        }
        let _ = self.outbox.push(
            OutMeta::Close(reason.close_code()),
            text.bytes.get(..text.len).unwrap_or(&[]),
        );
    }

    /// Stops waiting for the peer's Terminate.
    fn stop_closing(&mut self) {
        self.closing = None;
        self.timers[Timer::TerminateWait as usize] = None;
    }

    fn next_timestamp(&mut self, now: u64) -> u64 {
        let ts = now.max(self.last_timestamp + 1);
        self.last_timestamp = ts;
        ts
    }

    fn set_state(&mut self, state: SessionState) {
        if self.state != state {
            self.state = state;
            self.push_event(Event::StateChanged(state), true);
        }
    }

    /// Queues an event; `reserved` events may use the last slot.
    fn push_event(&mut self, event: Event<'static>, reserved: bool) {
        if !reserved && self.events.free() <= RESERVED_EVENTS {
            self.events_overflow();
            return;
        }
        let _ = self.events.push(event, &[]);
    }

    fn events_overflow(&mut self) {
        if self.bound {
            self.terminate(0, TerminateReason::EventOverflow);
        }
    }

    fn arm_keepalive(&mut self, now: u64) {
        if self.state != SessionState::Established {
            return;
        }
        self.timers[Timer::Keepalive as usize] =
            Some(now.saturating_add(u64::from(self.config.keepalive_interval_ms) * NS_PER_MS));
    }

    fn arm_peer_timers(&mut self) {
        if self.state == SessionState::Established && self.peer_keepalive_ns > 0 {
            let limit = self
                .peer_keepalive_ns
                .saturating_mul(u64::from(self.config.lapse_multiple.max(1)));
            self.timers[Timer::Lapse as usize] =
                Some(self.last_heard.saturating_add(self.peer_keepalive_ns));
            self.timers[Timer::PeerTimeout as usize] = Some(self.last_heard.saturating_add(limit));
        }
    }

    /// Encodes and queues a session message. Outbox full → terminate (overflow).
    fn push_msg(&mut self, now: u64, msg: &FixpMessage<'_>) {
        if !self.bound {
            return;
        }
        if self.outbox.free() <= 1 {
            return self.terminate(now, TerminateReason::OutboxOverflow);
        }
        let kind = self.encoding.frame_kind();
        let encoding = &mut self.encoding;
        match self
            .outbox
            .push_with(OutMeta::Frame(kind), |slot| encoding.encode(msg, slot))
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(PushError::TooLarge) | Err(PushError::Full) => {
                return self.terminate(now, TerminateReason::OutboxOverflow)
            }
        }
        if let Some(replay) = self.replay.as_mut() {
            replay.header_needed = true;
        }
        self.arm_keepalive(now);
    }

    fn send_negotiate(&mut self, now: u64) {
        let ts = self.next_timestamp(now);
        self.request_timestamp = ts;
        let id = self.session_id;
        let flow = self.config.flow;
        let mut credentials = [0u8; MAX_CREDENTIALS_LEN];
        let len = (self.config.credentials).write(AuthMessage::Negotiate, id, ts, &mut credentials);
        self.push_msg(
            now,
            &FixpMessage::Negotiate {
                session_id: id,
                timestamp: ts,
                client_flow: flow,
                credentials: credentials.get(..len).unwrap_or(&[]),
            },
        );
        self.timers[Timer::Handshake as usize] =
            Some(now + u64::from(self.config.handshake_timeout_ms) * NS_PER_MS);
        self.set_state(SessionState::Negotiating);
    }

    fn send_establish(&mut self, now: u64) {
        let ts = self.next_timestamp(now);
        self.request_timestamp = ts;
        let id = self.session_id;
        let next = (self.config.flow == FlowType::Recoverable).then_some(self.next_out);
        let keepalive = self.config.keepalive_interval_ms;
        let message = AuthMessage::Establish {
            keepalive_interval_ms: keepalive,
            next_seq_no: next,
        };
        let mut credentials = [0u8; MAX_CREDENTIALS_LEN];
        let len = (self.config.credentials).write(message, id, ts, &mut credentials);
        self.push_msg(
            now,
            &FixpMessage::Establish {
                session_id: id,
                timestamp: ts,
                keepalive_interval: keepalive,
                next_seq_no: next,
                credentials: credentials.get(..len).unwrap_or(&[]),
            },
        );
        self.timers[Timer::Handshake as usize] =
            Some(now + u64::from(self.config.handshake_timeout_ms) * NS_PER_MS);
        self.set_state(SessionState::Establishing);
    }

    fn send_heartbeat(&mut self, now: u64) {
        if let Some(last) = self.finished_sending {
            if !self.peer_finished_receiving {
                let id = self.session_id;
                return self.push_msg(
                    now,
                    &FixpMessage::FinishedSending {
                        session_id: id,
                        last_seq_no: last,
                    },
                );
            }
        }
        if is_sequenced(self.config.flow) {
            self.need_sequence = false;
            let next = self.next_out;
            self.push_msg(now, &FixpMessage::Sequence { next_seq_no: next });
        } else {
            self.push_msg(now, &FixpMessage::UnsequencedHeartbeat);
        }
    }

    fn send_finished_sending(&mut self, now: u64) {
        if let Some(last) = self.finished_sending {
            let id = self.session_id;
            self.push_msg(
                now,
                &FixpMessage::FinishedSending {
                    session_id: id,
                    last_seq_no: last,
                },
            );
        }
    }

    fn unbind(&mut self) {
        self.bound = false;
        self.request = None;
        self.replaying = false;
        self.replay = None;
        self.timers = [None; TIMER_COUNT];
        if self.state == SessionState::Negotiating {
            // The server may have seen that Negotiate: the next attempt uses a new id.
            self.id_counter += 1;
            self.session_id = derive_session_id(self.session_id, self.id_counter);
        }
        let next = match self.state {
            SessionState::Negotiating | SessionState::Idle => SessionState::Idle,
            SessionState::Finalized => SessionState::Finalized,
            SessionState::Rejected => SessionState::Rejected,
            _ => SessionState::NotEstablished,
        };
        self.set_state(next);
    }

    fn violation(&mut self, now: u64, violation: Violation) {
        self.terminate(now, TerminateReason::Violation(violation));
    }

    /// Queues the next replay batch of at most `max` messages (we produce a Recoverable flow);
    /// returns how many. Store errors fail closed.
    fn pump_replay(&mut self, max: u32) -> u32 {
        let Some(mut replay) = self.replay else {
            return 0;
        };
        let now = self.latest_now.max(self.last_timestamp);
        if replay.header_needed {
            let id = self.session_id;
            let count = u32::try_from(replay.end - replay.next).unwrap_or(u32::MAX);
            self.replay = None;
            self.push_msg(
                now,
                &FixpMessage::Retransmission {
                    session_id: id,
                    request_timestamp: replay.request_timestamp,
                    next_seq_no: replay.next,
                    count,
                },
            );
            replay.header_needed = false;
        }
        let kind = self.encoding.frame_kind();
        let batch = self.config.retransmit_batch.clamp(1, max.max(1));
        let batch_end = replay.end.min(replay.next + u64::from(batch));
        let mut queued = 0;
        while replay.next < batch_end && self.outbox.free() > 2 {
            match self.store.get(replay.next) {
                Ok(bytes) => {
                    if self.outbox.push(OutMeta::Frame(kind), bytes).is_err() {
                        self.replay = None;
                        self.terminate(now, TerminateReason::OutboxOverflow);
                        return queued;
                    }
                }
                Err(e) => {
                    self.replay = None;
                    self.terminate(now, TerminateReason::Store(e));
                    return queued;
                }
            }
            replay.next += 1;
            queued += 1;
        }
        // Whatever goes next on the live flow must restate the numbering.
        self.need_sequence = true;
        self.replay = (replay.next < replay.end).then_some(replay);
        queued
    }

    // ----- internals: inbound by state -----

    fn on_not_established(&mut self, now: u64, msg: In) {
        match msg {
            In::App(_) => self.violation(now, Violation::AppBeforeEstablished),
            In::Terminate(code) => self.on_terminate(now, code),
            In::Establish { .. } if self.role == Role::Server => {
                // The acceptor handles Establish for unbound sessions; a bound one here is
                // a second Establish on the negotiating connection after a reject.
                self.violation(now, Violation::EstablishWithoutNegotiation)
            }
            other => self.violation(now, Violation::UnexpectedMessage(template_of(&other))),
        }
    }

    fn on_negotiating(&mut self, now: u64, msg: In) {
        match msg {
            In::NegotiationResponse { id, ts, flow } => {
                if id != self.session_id || ts != self.request_timestamp {
                    return self.push_event(
                        Event::ResponseIgnored(TemplateId::NegotiationResponse),
                        false,
                    );
                }
                self.in_flow = Some(flow);
                self.handshake_attempts = 0;
                self.set_state(SessionState::Negotiated);
                self.send_establish(now);
            }
            In::NegotiationReject { id, ts, code } => {
                if id != self.session_id || ts != self.request_timestamp {
                    return self
                        .push_event(Event::ResponseIgnored(TemplateId::NegotiationReject), false);
                }
                self.push_event(Event::NegotiationRejected(code), false);
                self.terminate(now, TerminateReason::Refused);
                self.set_state(SessionState::Rejected);
            }
            other => self.on_not_established(now, other),
        }
    }

    fn on_establishing(&mut self, now: u64, msg: In) {
        match msg {
            In::EstablishmentAck {
                id,
                ts,
                keepalive_ms,
                next,
            } => {
                if id != self.session_id || ts != self.request_timestamp {
                    return self
                        .push_event(Event::ResponseIgnored(TemplateId::EstablishmentAck), false);
                }
                self.timers[Timer::Handshake as usize] = None;
                self.handshake_attempts = 0;
                self.on_established(now, keepalive_ms, next);
            }
            In::EstablishmentReject { id, ts, code } => {
                if id != self.session_id || ts != self.request_timestamp {
                    return self.push_event(
                        Event::ResponseIgnored(TemplateId::EstablishmentReject),
                        false,
                    );
                }
                self.push_event(Event::EstablishmentRejected(code), false);
                self.terminate(now, TerminateReason::Refused);
                if code == EstablishmentRejectCode::Unnegotiated {
                    // The server does not know the id: the next connection negotiates anew,
                    // a new session numbered from 1 both ways.
                    self.id_counter += 1;
                    self.session_id = derive_session_id(self.session_id, self.id_counter);
                    self.restart_numbering();
                    self.set_state(SessionState::Idle);
                }
            }
            other => self.on_not_established(now, other),
        }
    }

    /// A new SessionId starts both flows afresh (the retransmit store is the owner's to renew).
    fn restart_numbering(&mut self) {
        self.next_out = 1;
        self.need_sequence = false;
        self.replay = None;
        self.expected = 1;
        self.cursor = 1;
        self.replay_cursor = 1;
        self.replay_remaining = 0;
        self.replaying = false;
        self.known_next = 1;
        self.request = None;
        self.recovery.clear();
        self.in_flow = None;
    }

    /// Both roles: the binding is established; the peer declared `keepalive_ms` and, for its
    /// Recoverable flow, its next sequence number.
    fn on_established(&mut self, now: u64, keepalive_ms: u32, peer_next: Option<u64>) {
        self.peer_keepalive_ns = u64::from(keepalive_ms) * NS_PER_MS;
        self.last_heard = now;
        self.lapse_warned = false;
        self.set_state(SessionState::Established);
        self.arm_peer_timers();
        self.arm_keepalive(now);
        self.need_sequence = is_sequenced(self.config.flow);
        // A2: NextSeqNo matters only for a Recoverable peer flow; otherwise ignored.
        if self.in_flow == Some(FlowType::Recoverable) {
            if let Some(next) = peer_next {
                if next > self.expected {
                    self.known_next = self.known_next.max(next);
                    self.cursor = self.cursor.max(next);
                }
            }
        }
        // Spec issue #60: a drop mid-finalization; repeat FinishedSending at once.
        if self.finished_sending.is_some() && !self.peer_finished_receiving {
            self.send_finished_sending(now);
        }
        if self.sent_finished_receiving {
            let id = self.session_id;
            self.push_msg(now, &FixpMessage::FinishedReceiving { session_id: id });
        }
        self.maybe_request(now);
    }

    fn on_terminate(&mut self, now: u64, code: TerminationCode) {
        // Answered with a Close (WebSocket) or with our own Terminate, then Close (TCP).
        // `Finished` is a plain unbind (answered `Finished`, the session can be re-established)
        // unless finalization is under way: once both flows are finalized it ends the session;
        // while only one side has finished it is the spec's "Terminate before finalization",
        // answered UnspecifiedError "Logical Flow Interrupted" (digest §4.4, §10.1 cases 9, 24).
        let both_finalized = self.finished_sending.is_some()
            && self.peer_finished_receiving
            && self.peer_finished.is_some()
            && self.sent_finished_receiving;
        let finalizing = self.finished_sending.is_some() || self.peer_finished.is_some();
        let reason = match code {
            TerminationCode::Finished if both_finalized => TerminateReason::Finished,
            TerminationCode::Finished if finalizing => TerminateReason::FlowInterrupted,
            other => TerminateReason::PeerTerminated(other),
        };
        self.end_binding(now, reason, true);
    }

    fn on_established_msg(&mut self, now: u64, msg: In, frame: &[u8]) {
        match msg {
            In::App(kind) => self.on_app(now, kind, frame),
            In::Sequence(next) => self.on_sequence(now, next),
            In::UnsequencedHeartbeat => {}
            In::RetransmitRequest {
                id,
                ts,
                from,
                count,
            } => self.on_retransmit_request(now, id, ts, from, count),
            In::Retransmission { ts, next, count } => self.on_retransmission(now, ts, next, count),
            In::RetransmitReject { ts, code } => self.on_retransmit_reject(now, ts, code),
            In::FinishedSending(last) => self.on_finished_sending(now, last),
            In::FinishedReceiving => self.on_finished_receiving(now),
            In::Terminate(code) => self.on_terminate(now, code),
            In::Context => self.violation(now, Violation::ContextOnWebSocket),
            In::Topic => self.violation(now, Violation::TopicOnWebSocket),
            In::Other(TemplateId::MessageTemplate) => {}
            In::Establish { ts } if self.role == Role::Server => {
                let id = self.session_id;
                self.push_msg(
                    now,
                    &FixpMessage::EstablishmentReject {
                        session_id: id,
                        request_timestamp: ts,
                        code: EstablishmentRejectCode::AlreadyEstablished,
                        reason: b"already established",
                    },
                );
            }
            other => self.violation(now, Violation::UnexpectedMessage(template_of(&other))),
        }
    }

    // ----- internals: inbound application flow -----

    fn on_app(&mut self, now: u64, kind: InKind, frame: &[u8]) {
        let flow = match self.in_flow {
            Some(FlowType::None) | None => return self.violation(now, Violation::AppOnNoneFlow),
            Some(flow) => flow,
        };
        if kind != InKind::App && self.config.flow != FlowType::Idempotent {
            return self.violation(now, Violation::NotAppliedOnNonIdempotent);
        }
        if self.events.free() <= RESERVED_EVENTS {
            // Refuse before consuming a number: nothing is marked delivered that was not.
            return self.events_overflow();
        }
        if self.peer_finished.is_some() && !self.replaying {
            return self.violation(now, Violation::AfterFinishedSending);
        }
        if flow == FlowType::Unsequenced {
            self.deliver(0, kind, frame);
            return;
        }
        if flow == FlowType::Idempotent {
            let seq = self.cursor;
            self.cursor = self.cursor.saturating_add(1);
            if seq < self.expected {
                self.duplicates_dropped += 1;
                return;
            }
            if seq > self.expected {
                self.report_gap(now, seq);
            }
            self.expected = seq.saturating_add(1);
            self.deliver(seq, kind, frame);
            return;
        }
        // Recoverable.
        if self.replaying {
            let seq = self.replay_cursor;
            self.replay_cursor = self.replay_cursor.saturating_add(1);
            self.replay_remaining = self.replay_remaining.saturating_sub(1);
            if seq < self.expected {
                self.duplicates_dropped += 1;
            } else if seq == self.expected {
                self.expected = self.expected.saturating_add(1);
                self.deliver(seq, kind, frame);
            } else {
                return self.violation(now, Violation::ReplayOutOfOrder);
            }
            if self.replay_remaining == 0 {
                self.replaying = false;
            }
            if let Some(request) = self.request {
                if self.expected >= request.end || !self.replaying {
                    self.request = None;
                }
            }
            self.after_progress(now);
            return;
        }
        let seq = self.cursor;
        self.cursor = self.cursor.saturating_add(1);
        if seq < self.expected {
            self.duplicates_dropped += 1;
        } else if seq == self.expected && self.recovery.is_empty() {
            self.expected = self.expected.saturating_add(1);
            self.deliver(seq, kind, frame);
            self.known_next = self.known_next.max(self.expected);
        } else {
            if self.recovery.push((seq, kind), frame).is_err() {
                return self.terminate(now, TerminateReason::RecoveryOverflow);
            }
            self.maybe_request(now);
        }
        self.check_finish_receiving(now);
    }

    /// Idempotent inbound gap [expected, upto): NotApplied to the peer and an event.
    fn report_gap(&mut self, now: u64, upto: u64) {
        let from = self.expected;
        let count = u32::try_from(upto - from).unwrap_or(u32::MAX);
        self.expected = upto;
        self.push_event(
            Event::Gap {
                from_seq_no: from,
                count,
            },
            false,
        );
        // NotApplied is an application message on our outbound flow: it takes a seq.
        if is_sequenced(self.config.flow) && self.finished_sending.is_none() {
            let seq = self.next_out;
            let msg = FixpMessage::NotApplied {
                from_seq_no: from,
                count,
            };
            if self.config.flow == FlowType::Recoverable {
                let mut scratch = [0u8; 64];
                let encoded = match self.encoding.encode(&msg, &mut scratch) {
                    Ok(n) => scratch.get(..n).unwrap_or(&[]),
                    Err(_) => return self.terminate(now, TerminateReason::OutboxOverflow),
                };
                if let Err(e) = self.store.append(seq, now, encoded) {
                    return self.terminate(now, TerminateReason::Store(e));
                }
            }
            if self.need_sequence {
                self.need_sequence = false;
                self.push_msg(now, &FixpMessage::Sequence { next_seq_no: seq });
            }
            self.push_msg(now, &msg);
            self.next_out = seq + 1;
        }
    }

    fn deliver(&mut self, seq: u64, kind: InKind, frame: &[u8]) {
        if self.events.free() <= RESERVED_EVENTS {
            return self.events_overflow();
        }
        if self.lend && kind == InKind::App && self.lent.is_none() && self.events.is_empty() {
            // Nothing is queued before it: the caller delivers `frame` itself, in order.
            self.lent = Some(seq);
            return;
        }
        push_delivery(&mut self.events, seq, kind, frame);
    }

    fn on_sequence(&mut self, now: u64, next: u64) {
        let flow = match self.in_flow {
            Some(flow) if is_sequenced(flow) => flow,
            _ => return self.violation(now, Violation::SequenceOnUnsequencedFlow),
        };
        if let Some(finished) = self.peer_finished {
            // Once its flow is finished the peer heartbeats with Sequence(LastSeqNo + 1):
            // that states no new number and is accepted; anything else is a violation.
            if finished.is_some_and(|last| next == last + 1) {
                return;
            }
            return self.violation(now, Violation::AfterFinishedSending);
        }
        self.replaying = false;
        if flow == FlowType::Idempotent {
            // A3: a lower Sequence on an Idempotent flow is a retry: accepted, duplicates dropped.
            if next > self.expected {
                self.report_gap(now, next);
            }
            self.cursor = next;
            return;
        }
        if next < self.cursor {
            return self.violation(
                now,
                Violation::LowerSequence {
                    expected: self.cursor,
                    received: next,
                },
            );
        }
        self.cursor = next;
        self.known_next = self.known_next.max(next);
        self.maybe_request(now);
    }

    /// After the expected number moved: drain the recovery queue, ask for the next chunk,
    /// and see whether finalization can complete.
    fn after_progress(&mut self, now: u64) {
        while let Some(((seq, kind), bytes)) = self.recovery.front() {
            if seq > self.expected {
                break;
            }
            if self.events.free() <= RESERVED_EVENTS {
                return self.events_overflow();
            }
            if seq == self.expected {
                self.expected = self.expected.saturating_add(1);
                push_delivery(&mut self.events, seq, kind, bytes);
            } else {
                self.duplicates_dropped += 1;
            }
            self.recovery.pop();
        }
        self.known_next = self.known_next.max(self.expected);
        self.maybe_request(now);
        self.check_finish_receiving(now);
    }

    fn fill_target(&self) -> u64 {
        match self.recovery.front() {
            Some(((seq, _), _)) => seq,
            None => self.known_next,
        }
    }

    /// Recoverable inbound: one RetransmitRequest at a time, chunked to the limit.
    fn maybe_request(&mut self, now: u64) {
        if self.in_flow != Some(FlowType::Recoverable)
            || self.request.is_some()
            || !self.bound
            || self.state != SessionState::Established
        {
            return;
        }
        let target = self.fill_target();
        if self.expected >= target {
            return;
        }
        let limit = u64::from(self.config.retransmit_request_limit.max(1));
        let count = (target - self.expected).min(limit);
        let ts = self.next_timestamp(now);
        let from = self.expected;
        self.request = Some(Request {
            timestamp: ts,
            from,
            end: from + count,
        });
        let id = self.session_id;
        self.push_msg(
            now,
            &FixpMessage::RetransmitRequest {
                session_id: id,
                timestamp: ts,
                from_seq_no: from,
                count: u32::try_from(count).unwrap_or(u32::MAX),
            },
        );
    }

    fn on_retransmission(&mut self, now: u64, ts: u64, next: u64, count: u32) {
        let matches = self.request.is_some_and(|r| r.timestamp == ts);
        if self.in_flow != Some(FlowType::Recoverable) || !matches || count == 0 {
            return self.violation(now, Violation::UnexpectedRetransmission);
        }
        if next > self.expected {
            return self.violation(now, Violation::ReplayOutOfOrder);
        }
        self.replaying = true;
        self.replay_cursor = next;
        self.replay_remaining = count;
    }

    fn on_retransmit_reject(&mut self, now: u64, ts: u64, code: RetransmitRejectCode) {
        let Some(request) = self.request.filter(|r| r.timestamp == ts) else {
            return self.push_event(Event::ResponseIgnored(TemplateId::RetransmitReject), false);
        };
        self.request = None;
        // The range cannot be recovered: report it, then resume delivery after it.
        let from = self.expected.max(request.from);
        let count = u32::try_from(request.end.saturating_sub(from)).unwrap_or(u32::MAX);
        self.push_event(
            Event::RetransmitRejected {
                from_seq_no: from,
                count,
                code,
            },
            false,
        );
        self.expected = self.expected.max(request.end);
        self.after_progress(now);
    }

    // ----- internals: outbound Recoverable flow (producer side) -----

    fn on_retransmit_request(&mut self, now: u64, id: SessionId, ts: u64, from: u64, count: u32) {
        if self.config.flow != FlowType::Recoverable {
            return self.violation(now, Violation::RetransmitRequestToNonRecoverable);
        }
        if self.peer_finished_receiving {
            return self.violation(now, Violation::RetransmitRequestAfterFinished);
        }
        if self.replay.is_some() {
            return self.terminate(now, TerminateReason::ReRequestInProgress);
        }
        let reject = |code, reason: &'static [u8]| (code, reason);
        let end = from.saturating_add(u64::from(count));
        let verdict = if id != self.session_id {
            Some(reject(
                RetransmitRejectCode::InvalidSession,
                b"unknown SessionId",
            ))
        } else if count > self.config.retransmit_request_limit {
            Some(reject(
                RetransmitRejectCode::RequestLimitExceeded,
                b"count above the request limit",
            ))
        } else if count == 0 || from == 0 || end > self.next_out {
            // A4: numbers never sent are answered with a reject, not a terminate.
            Some(reject(RetransmitRejectCode::OutOfRange, b"not yet sent"))
        } else if !self
            .store
            .held()
            .is_some_and(|(first, last)| first <= from && end - 1 <= last)
        {
            Some(reject(RetransmitRejectCode::OutOfRange, b"no longer held"))
        } else {
            None
        };
        match verdict {
            Some((code, reason)) => {
                let sid = self.session_id;
                self.push_msg(
                    now,
                    &FixpMessage::RetransmitReject {
                        session_id: sid,
                        request_timestamp: ts,
                        code,
                        reason,
                    },
                );
            }
            None => {
                self.replay = Some(Replay {
                    request_timestamp: ts,
                    next: from,
                    end,
                    header_needed: true,
                });
            }
        }
    }

    // ----- internals: finalization -----

    fn on_finished_sending(&mut self, now: u64, last: Option<u64>) {
        let repeat = self.peer_finished.is_some();
        self.peer_finished = Some(last);
        self.replaying = false;
        if repeat && self.sent_finished_receiving {
            let id = self.session_id;
            return self.push_msg(now, &FixpMessage::FinishedReceiving { session_id: id });
        }
        if let (Some(last), Some(flow)) = (last, self.in_flow) {
            match flow {
                FlowType::Recoverable => {
                    self.known_next = self.known_next.max(last.saturating_add(1));
                    self.maybe_request(now);
                }
                FlowType::Idempotent if last >= self.expected => {
                    self.report_gap(now, last.saturating_add(1));
                }
                _ => {}
            }
        }
        self.check_finish_receiving(now);
    }

    fn check_finish_receiving(&mut self, now: u64) {
        let Some(last) = self.peer_finished else {
            return;
        };
        if self.sent_finished_receiving || self.request.is_some() || !self.recovery.is_empty() {
            return;
        }
        if let Some(last) = last {
            if self.in_flow.is_some_and(is_sequenced) && self.expected <= last {
                return;
            }
        }
        self.sent_finished_receiving = true;
        let id = self.session_id;
        self.push_msg(now, &FixpMessage::FinishedReceiving { session_id: id });
        self.check_both_done(now);
    }

    fn on_finished_receiving(&mut self, now: u64) {
        if self.finished_sending.is_none() {
            return self.violation(now, Violation::FinishedReceivingWithoutFinishedSending);
        }
        self.peer_finished_receiving = true;
        self.check_both_done(now);
    }

    fn check_both_done(&mut self, now: u64) {
        if self.finished_sending.is_none()
            || !self.peer_finished_receiving
            || !self.sent_finished_receiving
        {
            return;
        }
        if self.started_finish {
            // The party that started finalization unbinds.
            self.terminate(now, TerminateReason::Finished);
        } else {
            self.timers = [None; TIMER_COUNT];
            self.set_state(SessionState::Finalized);
            self.push_event(Event::Finalized, true);
        }
    }
}

fn push_delivery(events: &mut SlotRing<Event<'static>>, seq: u64, kind: InKind, frame: &[u8]) {
    let event = match kind {
        InKind::App => Event::Message { seq, bytes: &[] },
        InKind::Applied { from_seq_no, count } => Event::AppliedReceived { from_seq_no, count },
        InKind::NotApplied { from_seq_no, count } => {
            Event::NotAppliedReceived { from_seq_no, count }
        }
    };
    let payload = if kind == InKind::App { frame } else { &[] };
    let _ = events.push(event, payload);
}

fn template_of(msg: &In) -> TemplateId {
    match msg {
        In::App(_) => TemplateId::MessageTemplate,
        In::Sequence(_) => TemplateId::Sequence,
        In::UnsequencedHeartbeat => TemplateId::UnsequencedHeartbeat,
        In::NegotiationResponse { .. } => TemplateId::NegotiationResponse,
        In::NegotiationReject { .. } => TemplateId::NegotiationReject,
        In::EstablishmentAck { .. } => TemplateId::EstablishmentAck,
        In::EstablishmentReject { .. } => TemplateId::EstablishmentReject,
        In::RetransmitRequest { .. } => TemplateId::RetransmitRequest,
        In::Retransmission { .. } => TemplateId::Retransmission,
        In::RetransmitReject { .. } => TemplateId::RetransmitReject,
        In::Establish { .. } => TemplateId::Establish,
        In::Terminate(_) => TemplateId::Terminate,
        In::FinishedSending(_) => TemplateId::FinishedSending,
        In::FinishedReceiving => TemplateId::FinishedReceiving,
        In::Context => TemplateId::Context,
        In::Topic => TemplateId::Topic,
        In::Other(t) => *t,
    }
}
