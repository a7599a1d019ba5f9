//! The FIXP session layer as a sans-IO state machine.
//!
//! Owns: FIXP rules (negotiation, establishment, sequencing, heartbeats, retransmission,
//! finalization, termination). May not touch: sockets, clock reads, threads, or the heap per
//! message; time comes in as a plain value and frames go out through caller-visible buffers.
//!
//! [`Session`] is one session in either role (quinn-proto style: `handle_*` inputs with `now`,
//! `poll_*` outputs, [`Session::next_deadline`] from an enum-indexed timer array). The server
//! side is an [`Acceptor`]: a preallocated table of sessions keyed by SessionId that answers
//! Negotiate and Establish on fresh connections and routes later frames by connection id.
//! Outbound frames, events and the recovery queue are fixed-capacity rings allocated when a
//! session is created; full means a typed error ([`SendError::Backpressure`]) or a terminate.
//!
//! # Decisions (digest §11)
//! - A1: after a transport drop the client re-Establishes the same SessionId on a new
//!   connection, without a new Negotiate. `EstablishmentReject(Unnegotiated)` makes it
//!   negotiate a fresh id on the next connection.
//! - A2: Establish/EstablishmentAck NextSeqNo is sent only for a Recoverable flow; a non-null
//!   value about a non-Recoverable flow is ignored (Conga).
//! - A3: a lower Sequence on an Idempotent inbound flow is accepted (duplicates are dropped
//!   silently); on a Recoverable inbound flow it is a violation ("Invalid NextSeqNo").
//! - A4: a RetransmitRequest for numbers not yet sent, or no longer held, gets
//!   `RetransmitReject(OutOfRange)` with a reason; only a concurrent request terminates
//!   (`ReRequestInProgress`). Count above the limit (default 2500) → `RequestLimitExceeded`.
//! - A5: as producer, one Retransmission per request, replayed in batches of
//!   `retransmit_batch` per poll; a Retransmission header is repeated (same RequestTimestamp,
//!   remaining count) when live traffic was interleaved, and a Sequence precedes the next live
//!   message. As consumer, any number of batches echoing the timestamp are accepted.
//! - A6: we send a Sequence before the first application message after each (re)establishment
//!   and after replay; inbound application messages without one continue the numbering (1 for
//!   a new session).
//! - A7: peer silence beyond its interval raises [`Event::PeerLapse`]; beyond
//!   `lapse_multiple` (default 2) intervals the binding is closed. A peer interval of 0 (which
//!   the spec leaves undefined; the acceptor's range rejects it by default) disables this.
//! - A8: Close replaces Terminate: 1000 finished/unbind, 1002 protocol violation (and
//!   timeout), 1008 refused, 1011 internal; reason `"TerminationCode: text"`, ≤ 123 bytes. A
//!   received Terminate is answered with a Close; Terminate is never sent. That is
//!   [`Termination::WebSocketClose`]; over TCP ([`Termination::FixpTerminate`], digest §4.4)
//!   Terminate(code, reason) is sent and the peer's answer awaited (bounded) before the
//!   transport is closed, and a received Terminate is answered with a Terminate.
//! - A17: live messages that arrive while a Recoverable gap is recovered are queued (bounded
//!   by `recovery_capacity`; overflow closes the binding) and delivered in order after it.
//! - A RetransmitReject for our request means the range is lost: reported as
//!   [`Event::RetransmitRejected`], then delivery resumes after it.
//! - A store read error (corrupt record) during replay fails closed: Close 1011, nothing sent.
//! - Finalization is two-way: the receiver of FinishedSending fills gaps first, then answers
//!   FinishedReceiving; when both flows are finished the side that started closes with 1000
//!   and the id is dead. A drop mid-finalization re-establishes and repeats FinishedSending.
//! - Timestamps are strictly increasing per session: `max(now, last + 1)`. Negotiate retries
//!   derive a new UUID v4 from the old one (splitmix64), as the session has no RNG.

mod acceptor;
pub mod auth;
mod core;
mod fixed_map;
pub mod limits;
pub mod memory;
mod ring;
pub mod store;
mod types;

pub use acceptor::{Acceptor, AcceptorConfig, ConnectionId, RestoreError};
pub use auth::{
    AcceptAll, AuthDecision, AuthFailure, AuthMessage, AuthRequest, Authenticator,
    ClientCredentials, PeerIdentity,
};
pub use core::Session;
pub use memory::MemoryStore;
pub use store::{RetransmitStore, StoreError};
pub use types::{
    Event, QueueDepths, RecoveryProgress, Role, SendError, SendWithError, SessionConfig,
    SessionState, SessionStatus, TerminateReason, Termination, Transmit, Violation,
    MAX_CLOSE_REASON,
};
