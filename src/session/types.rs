//! The session's public vocabulary: configuration, states, events, outputs and reasons.

use std::fmt;

use crate::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, TemplateId,
    TerminationCode,
};
use crate::codec::{DecodeError, FrameKind};
use crate::session::auth::ClientCredentials;
use crate::session::store::StoreError;

/// Nanoseconds per millisecond.
pub(crate) const NS_PER_MS: u64 = 1_000_000;

/// Longest WebSocket Close reason (RFC 6455: 125-byte control payload minus the status code).
pub const MAX_CLOSE_REASON: usize = 123;

/// Settings of one session. Every capacity is allocated once, when the session is created.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The flow type of our outbound direction.
    pub flow: FlowType,
    /// Our KeepaliveInterval (ms): we send something at least this often.
    pub keepalive_interval_ms: u32,
    /// Peer silence beyond `lapse_multiple` × the peer's interval terminates the session
    /// (silence beyond one interval only raises [`Event::PeerLapse`]). Digest A7.
    pub lapse_multiple: u32,
    /// How long a client waits for a NegotiationResponse or EstablishmentAck before retrying.
    pub handshake_timeout_ms: u32,
    /// How a binding ends on the wire: WebSocket Close, or FIXP Terminate over TCP. An
    /// [`crate::session::Acceptor`] overrides it per connection
    /// ([`crate::session::Acceptor::set_termination`]); a client changes it with
    /// [`crate::session::Session::set_termination`] before connecting over another transport.
    pub termination: Termination,
    /// Largest RetransmitRequest count we answer (and ask for): above it,
    /// `RequestLimitExceeded`.
    pub retransmit_request_limit: u32,
    /// Replayed messages queued per poll, so replay interleaves with live traffic.
    pub retransmit_batch: u32,
    /// Largest frame (bytes) the session sends or queues.
    pub max_frame_len: usize,
    /// Outbound frames that can wait for the transport.
    pub outbox_capacity: usize,
    /// Events that can wait for the application.
    pub event_capacity: usize,
    /// Live messages held back while a gap of a Recoverable inbound flow is recovered.
    pub recovery_capacity: usize,
    /// What a client puts in the Credentials of Negotiate and Establish (signed when written).
    pub credentials: ClientCredentials,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            flow: FlowType::Idempotent,
            keepalive_interval_ms: 2000,
            lapse_multiple: 2,
            handshake_timeout_ms: 2000,
            termination: Termination::WebSocketClose,
            retransmit_request_limit: 2500,
            retransmit_batch: 64,
            max_frame_len: 1024,
            outbox_capacity: 1024,
            event_capacity: 1024,
            recovery_capacity: 1024,
            credentials: ClientCredentials::None,
        }
    }
}

/// How a binding ends on the wire (digest §4.4 and A8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Termination {
    /// WebSocket: Close replaces Terminate. Ending a binding queues [`Transmit::Close`] with
    /// the RFC 6455 code and `"TerminationCode: reason"`; a received Terminate is answered
    /// with a Close; Terminate is never sent.
    #[default]
    WebSocketClose,
    /// A stream transport without a close frame (TCP with SOFH): ending a binding queues
    /// FIXP `Terminate(code, reason)`, then waits for the peer's Terminate, at most
    /// `timeout_ms`, before [`Transmit::Close`] ("close the transport now"). A received
    /// Terminate is answered with our Terminate, then `Transmit::Close` at once. Frames that
    /// arrive while we wait are ignored ([`Event::ViolationIgnored`]).
    FixpTerminate {
        /// How long we wait for the peer's answering Terminate (the spec: at most one
        /// keepalive interval).
        timeout_ms: u32,
    },
}

/// Which end of the session this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends Negotiate and Establish.
    Client,
    /// Answers them (through an [`crate::session::Acceptor`]).
    Server,
}

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No transport and nothing negotiated yet.
    Idle,
    /// Negotiate sent, waiting for the response.
    Negotiating,
    /// Negotiated; no transport bound (server) or not yet establishing.
    Negotiated,
    /// Establish sent, waiting for the acknowledgement.
    Establishing,
    /// Bound and exchanging messages.
    Established,
    /// Negotiated but unbound (transport closed or lost): re-establish with the same id.
    NotEstablished,
    /// Both flows finished: the SessionId is dead for good.
    Finalized,
    /// Negotiation was rejected: the id cannot be used; start a new session.
    Rejected,
}

/// A frame for the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmit<'a> {
    /// One encoded FIXP or application message, in one WebSocket message.
    Frame {
        /// The bytes.
        bytes: &'a [u8],
        /// The frame type.
        kind: FrameKind,
    },
    /// End of the binding's transport; nothing may be sent after it. With
    /// [`Termination::WebSocketClose`] it is the WebSocket Close that replaces FIXP Terminate;
    /// with [`Termination::FixpTerminate`] our Terminate went out before it and it means
    /// "close the transport now" (code and reason are then for local reports only).
    Close {
        /// RFC 6455 status code.
        code: u16,
        /// `"TerminationCode: reason"`, at most [`MAX_CLOSE_REASON`] bytes.
        reason: &'a str,
    },
}

/// A protocol violation by the peer. Each one ends the binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A frame did not decode (or held two messages).
    Undecodable(DecodeError),
    /// An application message before EstablishmentAck.
    AppBeforeEstablished,
    /// Establish for a session never negotiated (or already finalized).
    EstablishWithoutNegotiation,
    /// A message the current state does not allow.
    UnexpectedMessage(TemplateId),
    /// A Sequence on an Unsequenced or None flow.
    SequenceOnUnsequencedFlow,
    /// An application message on a None flow.
    AppOnNoneFlow,
    /// A RetransmitRequest to the producer of a non-Recoverable flow.
    RetransmitRequestToNonRecoverable,
    /// A RetransmitRequest about a flow the requester already finished receiving.
    RetransmitRequestAfterFinished,
    /// A NotApplied or Applied about a non-Idempotent flow.
    NotAppliedOnNonIdempotent,
    /// A Retransmission on a non-Recoverable inbound flow, or one we did not ask for.
    UnexpectedRetransmission,
    /// A replayed message beyond what was asked for or out of order.
    ReplayOutOfOrder,
    /// An application message or Sequence after the peer's FinishedSending.
    AfterFinishedSending,
    /// FinishedReceiving while we had not sent FinishedSending.
    FinishedReceivingWithoutFinishedSending,
    /// A lower NextSeqNo on a Recoverable inbound flow.
    LowerSequence {
        /// What we expected.
        expected: u64,
        /// What the peer said.
        received: u64,
    },
    /// Context: multiplexing is not allowed on WebSocket.
    ContextOnWebSocket,
    /// Topic: multicast is not allowed on WebSocket.
    TopicOnWebSocket,
    /// A frame arrived after the binding was closed.
    FrameAfterClose,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Undecodable(e) => write!(f, "undecodable frame: {e}"),
            Violation::AppBeforeEstablished => {
                f.write_str("application message before EstablishmentAck")
            }
            Violation::EstablishWithoutNegotiation => f.write_str("Establish without negotiation"),
            Violation::UnexpectedMessage(t) => write!(f, "unexpected {t:?}"),
            Violation::SequenceOnUnsequencedFlow => f.write_str("Sequence on an unsequenced flow"),
            Violation::AppOnNoneFlow => f.write_str("application message on a None flow"),
            Violation::RetransmitRequestToNonRecoverable => {
                f.write_str("RetransmitRequest for a non-Recoverable flow")
            }
            Violation::RetransmitRequestAfterFinished => {
                f.write_str("RetransmitRequest after FinishedReceiving")
            }
            Violation::NotAppliedOnNonIdempotent => {
                f.write_str("Applied/NotApplied about a non-Idempotent flow")
            }
            Violation::UnexpectedRetransmission => f.write_str("unexpected Retransmission"),
            Violation::ReplayOutOfOrder => f.write_str("replayed message out of order"),
            Violation::AfterFinishedSending => f.write_str("message after FinishedSending"),
            Violation::FinishedReceivingWithoutFinishedSending => {
                f.write_str("FinishedReceiving without FinishedSending")
            }
            Violation::LowerSequence { expected, received } => {
                write!(f, "Invalid NextSeqNo {received}, expected {expected}")
            }
            Violation::ContextOnWebSocket => f.write_str("Context is not allowed on WebSocket"),
            Violation::TopicOnWebSocket => f.write_str("Topic is not allowed on WebSocket"),
            Violation::FrameAfterClose => f.write_str("frame after Close"),
        }
    }
}

/// Why a binding (or the session) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminateReason {
    /// Both flows finished (Close 1000).
    Finished,
    /// The application unbound the session; it can be re-established (Close 1000).
    Unbind,
    /// The peer broke the protocol (Close 1002).
    Violation(Violation),
    /// A RetransmitRequest while one was in progress (Close 1002, `ReRequestInProgress`).
    ReRequestInProgress,
    /// The peer was silent beyond the lapse limit (Close 1002).
    PeerTimeout,
    /// The peer's credentials or id were refused (Close 1008).
    Refused,
    /// The retransmit store failed (a corrupt record is never sent; Close 1011).
    Store(StoreError),
    /// The recovery queue overflowed while a gap was recovered (Close 1011).
    RecoveryOverflow,
    /// The outbound frame queue overflowed (Close 1011).
    OutboxOverflow,
    /// The event queue overflowed: the application did not poll (Close 1011).
    EventOverflow,
    /// The peer sent a Close frame with this status code.
    PeerClosed(u16),
    /// The peer sent a FIXP Terminate with this code (non-WebSocket peers).
    PeerTerminated(TerminationCode),
    /// The transport was lost without a Close.
    TransportLost,
    /// The peer terminated with `Finished` while finalization was under way but not complete
    /// (one side sent FinishedSending, the flows are not both finalized): answered as
    /// UnspecifiedError "Logical Flow Interrupted" (Close 1002); the session stays alive. A
    /// `Finished` before any FinishedSending is a plain unbind,
    /// [`TerminateReason::PeerTerminated`]`(Finished)`, answered `Finished`.
    FlowInterrupted,
    /// The peer sent messages faster than the engine's inbound limit allows and the limit's
    /// action is to disconnect (Close 1008).
    RateLimited,
    /// The connection did not negotiate or establish within the engine's pre-session
    /// timeouts (Close 1008).
    EstablishTimeout,
}

impl TerminateReason {
    /// The WebSocket Close status code sent for this reason (digest A8).
    pub fn close_code(&self) -> u16 {
        match self {
            TerminateReason::Finished
            | TerminateReason::Unbind
            | TerminateReason::PeerClosed(_)
            | TerminateReason::PeerTerminated(_)
            | TerminateReason::TransportLost => 1000,
            TerminateReason::Violation(_)
            | TerminateReason::FlowInterrupted
            | TerminateReason::ReRequestInProgress
            | TerminateReason::PeerTimeout => 1002,
            TerminateReason::Refused
            | TerminateReason::RateLimited
            | TerminateReason::EstablishTimeout => 1008,
            TerminateReason::Store(_)
            | TerminateReason::RecoveryOverflow
            | TerminateReason::OutboxOverflow
            | TerminateReason::EventOverflow => 1011,
        }
    }

    /// The FIXP TerminationCode this reason corresponds to.
    pub fn termination_code(&self) -> TerminationCode {
        match self {
            TerminateReason::Finished | TerminateReason::Unbind => TerminationCode::Finished,
            TerminateReason::ReRequestInProgress => TerminationCode::ReRequestInProgress,
            TerminateReason::PeerTerminated(code) => *code,
            _ => TerminationCode::UnspecifiedError,
        }
    }
}

impl fmt::Display for TerminateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminateReason::Finished => f.write_str("both flows finalized"),
            TerminateReason::Unbind => f.write_str("unbind"),
            TerminateReason::Violation(v) => write!(f, "{v}"),
            TerminateReason::ReRequestInProgress => {
                f.write_str("RetransmitRequest while one is in progress")
            }
            TerminateReason::PeerTimeout => f.write_str("peer silent beyond its keepalive"),
            TerminateReason::Refused => f.write_str("refused"),
            TerminateReason::Store(e) => write!(f, "retransmit store: {e}"),
            TerminateReason::RecoveryOverflow => f.write_str("recovery queue overflow"),
            TerminateReason::OutboxOverflow => f.write_str("outbound queue overflow"),
            TerminateReason::EventOverflow => f.write_str("event queue overflow"),
            TerminateReason::PeerClosed(code) => write!(f, "peer closed ({code})"),
            TerminateReason::PeerTerminated(code) => write!(f, "peer terminated ({code:?})"),
            TerminateReason::TransportLost => f.write_str("transport lost"),
            TerminateReason::FlowInterrupted => f.write_str("Logical Flow Interrupted"),
            TerminateReason::RateLimited => f.write_str("inbound message rate exceeded"),
            TerminateReason::EstablishTimeout => f.write_str("not established in time"),
        }
    }
}

/// Why [`crate::session::Session::send`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The session is not established.
    NotEstablished,
    /// Our flow is None: no application messages in this direction.
    FlowIsNone,
    /// FinishedSending was sent: no more application messages.
    Finished,
    /// The outbound queue is full; poll transmits and retry.
    Backpressure,
    /// The message is larger than `max_frame_len`.
    TooLarge,
    /// The retransmit store refused the message.
    Store(StoreError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotEstablished => f.write_str("session not established"),
            SendError::FlowIsNone => f.write_str("outbound flow is None"),
            SendError::Finished => f.write_str("FinishedSending already sent"),
            SendError::Backpressure => f.write_str("outbound queue full"),
            SendError::TooLarge => f.write_str("message larger than max_frame_len"),
            SendError::Store(e) => write!(f, "retransmit store: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`crate::session::Session::send_with`] did not send: the session refused, or the
/// caller's encoder failed (nothing was queued either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendWithError<E> {
    /// The session refused the message (not established, back-pressure, store, ...).
    Session(SendError),
    /// The encoder passed to `send_with` failed.
    Encode(E),
}

impl<E: fmt::Display> fmt::Display for SendWithError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendWithError::Session(e) => e.fmt(f),
            SendWithError::Encode(e) => write!(f, "encoder: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for SendWithError<E> {}

/// Something the application should know. Borrowed bytes are valid until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The session moved to a new state.
    StateChanged(SessionState),
    /// An application message, in order. `seq` is 0 on an Unsequenced flow.
    Message {
        /// Its sequence number.
        seq: u64,
        /// The encoded message, as received.
        bytes: &'a [u8],
    },
    /// The peer applied our messages `from_seq_no..from_seq_no+count`.
    AppliedReceived {
        /// First.
        from_seq_no: u64,
        /// How many.
        count: u32,
    },
    /// The peer did not apply our messages `from_seq_no..from_seq_no+count`.
    NotAppliedReceived {
        /// First.
        from_seq_no: u64,
        /// How many.
        count: u32,
    },
    /// A gap on our Idempotent inbound flow: these messages were lost and NotApplied was sent.
    Gap {
        /// First missing.
        from_seq_no: u64,
        /// How many.
        count: u32,
    },
    /// The peer rejected our RetransmitRequest: these messages are lost; delivery resumes after.
    RetransmitRejected {
        /// First requested.
        from_seq_no: u64,
        /// How many.
        count: u32,
        /// The peer's code.
        code: RetransmitRejectCode,
    },
    /// The server rejected Negotiate.
    NegotiationRejected(NegotiationRejectCode),
    /// The server rejected Establish.
    EstablishmentRejected(EstablishmentRejectCode),
    /// A handshake response whose SessionId or timestamp did not match was ignored.
    ResponseIgnored(TemplateId),
    /// A handshake timed out and was sent again (`attempt` counts from 1).
    HandshakeRetry {
        /// The retry number.
        attempt: u32,
    },
    /// The peer has been silent longer than its keepalive interval.
    PeerLapse {
        /// Nanoseconds since we last heard from it.
        silent_ns: u64,
    },
    /// The binding ended.
    Terminated(TerminateReason),
    /// A peer error seen while no binding was live (for example a frame after Close); ignored.
    ViolationIgnored(Violation),
    /// Both flows are finished: the SessionId is dead for good.
    Finalized,
}

/// A snapshot of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    /// The SessionId.
    pub session_id: crate::codec::SessionId,
    /// The state.
    pub state: SessionState,
    /// Our outbound flow type.
    pub outbound_flow: FlowType,
    /// The peer's flow type, once known.
    pub inbound_flow: Option<FlowType>,
    /// The sequence number our next application message will carry.
    pub next_seq_to_send: u64,
    /// The next inbound sequence number to deliver.
    pub next_seq_expected: u64,
    /// When we last received anything (ns).
    pub last_heard_ns: u64,
    /// Whether we sent FinishedSending.
    pub finished_sending: bool,
    /// Whether the peer sent FinishedSending.
    pub peer_finished_sending: bool,
    /// Frames the session's encoding accepted despite a tolerated deviation
    /// ([`crate::codec::Encoding::tolerated_deviations`]; for example Conga's omitted empty
    /// Credentials).
    pub tolerated_deviations: u64,
}

/// How full a session's bounded queues are, for status reports: frames waiting and slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Outbound frames waiting for the transport.
    pub outbox: usize,
    /// Slots of the outbound queue.
    pub outbox_capacity: usize,
    /// Events (and messages) waiting for the application.
    pub events: usize,
    /// Slots of the event queue.
    pub event_capacity: usize,
    /// Live messages held back while a gap is recovered.
    pub recovery: usize,
    /// Slots of the recovery queue.
    pub recovery_capacity: usize,
}

/// Retransmission in progress on either flow, for status reports and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryProgress {
    /// Our RetransmitRequest in flight: the peer's messages `from..end` we asked for.
    pub requested: Option<(u64, u64)>,
    /// The peer's RetransmitRequest we are answering: `(next to replay, end)`.
    pub replaying: Option<(u64, u64)>,
}
