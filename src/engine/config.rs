//! What the engine is told before it starts: [`EngineConfig`] (idle mode, timeouts,
//! capacities, shutdown), [`InitiatorConfig`] for each outbound session, [`JournalSetup`],
//! and [`EngineError`] for what can go wrong while building or starting.
//!
//! Owns: configuration values and their defaults. May not touch: anything at run time (the
//! duty cycle reads these values; nothing here does I/O).

use std::io;
use std::time::Duration;

use crate::codec::SessionId;
use crate::engine::cod::CancelOnDisconnect;
use crate::engine::cores::CoreList;
use crate::engine::limits::EngineLimits;
use crate::engine::metrics::BoundsError;
use crate::engine::ops::OpsConfig;
use crate::journal::{JournalConfig, JournalError};
use crate::session::{AcceptorConfig, SessionConfig};
use crate::transport::{ClientTarget, SofhOptions, TransportError, WireEncoding, WsOptions};

/// Listeners an engine can bind.
pub(crate) const MAX_LISTENERS: usize = 64;

/// What the engine thread does when a duty cycle found no work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleMode {
    /// Poll with a zero timeout and spin: lowest latency, one core at 100 %.
    BusyPoll,
    /// Poll with a zero timeout; spin, then yield, then park briefly (up to 1 ms).
    SpinThenYield,
    /// Let the poll block up to this long (capped at the next timer). Tests and quiet peers.
    Block(Duration),
}

/// How [`crate::engine::EngineHandle::shutdown`] ends live sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Close every binding with 1000 (unbind): sessions may be re-established later.
    Unbind,
    /// Finalize every session (FinishedSending/FinishedReceiving), then Close 1000.
    Finalize,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Cores read once at start-up (before anything is pinned) and the index to pin the engine
    /// thread to; `None`: not pinned.
    pub pin: Option<(CoreList, usize)>,
    /// Idle behaviour.
    pub idle: IdleMode,
    /// The acceptor's session table and the template of its sessions. `acceptor.capacity`
    /// bounds the acceptor sessions (raise it, and `max_connections`, for many sessions).
    pub acceptor: AcceptorConfig,
    /// A TCP + TLS + WebSocket handshake must finish within this (the transport has no limit).
    pub handshake_timeout: Duration,
    /// A closing handshake must finish within this; then the socket is dropped. Over TCP it
    /// also bounds the wait for the peer's answering Terminate (unless the session's
    /// `termination` sets its own timeout), after which the socket is closed.
    pub close_timeout: Duration,
    /// A connection whose socket stays full this long is closed (slow consumer).
    pub slow_consumer_timeout: Duration,
    /// Bytes of frames a connection may hold when its socket is full (beyond the transport's own
    /// backlog); more closes it as a slow consumer.
    pub send_buffer_bytes: usize,
    /// First reconnect delay of an initiator; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
    /// Slots of each strategy queue (each direction; thread-mode sessions only).
    pub queue_capacity: usize,
    /// Frames read per connection and strategy commands taken per session, per duty cycle.
    pub drain_limit: usize,
    /// With [`IdleMode::BusyPoll`] and at most this many connections, each duty cycle reads
    /// every open connection directly and asks epoll for readiness only every 32 cycles
    /// (listeners, handshakes, WRITABLE): the read that takes a message is the first syscall
    /// after it arrived. Past a few connections a read per connection per cycle costs more
    /// than one `epoll_wait`. 0: always epoll.
    pub direct_reads: usize,
    /// Connections held at once (sockets of both roles).
    pub max_connections: usize,
    /// Record stage timings (a clock read per message and stage).
    pub timings: bool,
    /// How shutdown ends sessions.
    pub shutdown_mode: ShutdownMode,
    /// Shutdown gives up waiting for peers after this.
    pub shutdown_timeout: Duration,
    /// Outbound messages each session keeps for retransmission (in memory, preallocated).
    pub retransmit_capacity: usize,
    /// Acceptor sessions finish their own flow once the client finished its flow and the
    /// strategy has nothing queued (FIXP finalization is two-way; a client that finalizes then
    /// sees Close 1000). Off: the strategy finalizes itself.
    pub finalize_with_peer: bool,
    /// Journal every acceptor session under `<dir>/<session-id>/` (`None`: in memory). At start,
    /// each live session found there is restored (negotiated, unbound): its client re-Establishes
    /// under the same SessionId and numbers continue; finalized ones are refused.
    pub acceptor_journal: Option<JournalSetup>,
    /// Count the engine thread's allocations with [`crate::alloc_count`] (the thread switches
    /// tracking on for itself; only meaningful when the process installs its allocator).
    pub count_allocations: bool,
    /// Abuse limits: connection caps, the pre-session pool and its timeouts, message-rate
    /// limits, replay caps (see `docs/security.md`).
    pub limits: EngineLimits,
    /// Cancel-on-disconnect policy of every session (`None`: off); a strategy changes it per
    /// session ([`crate::engine::Context::set_cancel_on_disconnect`],
    /// [`crate::engine::ToEngine::SetCancelOnDisconnect`]).
    pub cancel_on_disconnect: Option<CancelOnDisconnect>,
    /// Session status publication, log queue and admin commands (`docs/operations.md`).
    pub ops: OpsConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pin: None,
            idle: IdleMode::BusyPoll,
            acceptor: AcceptorConfig::default(),
            handshake_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(2),
            slow_consumer_timeout: Duration::from_secs(2),
            send_buffer_bytes: 256 * 1024,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            queue_capacity: 1024,
            drain_limit: 256,
            direct_reads: 2,
            max_connections: 256,
            timings: true,
            shutdown_mode: ShutdownMode::Unbind,
            shutdown_timeout: Duration::from_secs(5),
            retransmit_capacity: 4096,
            finalize_with_peer: true,
            acceptor_journal: None,
            count_allocations: false,
            limits: EngineLimits::default(),
            cancel_on_disconnect: None,
            ops: OpsConfig::default(),
        }
    }
}

/// The transport an initiator connects over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket (`ws://`, or `wss://` when the target has a TLS config); `subprotocols`
    /// should offer one name of the session's encoding. Bindings end with a Close frame.
    WebSocket(WsOptions),
    /// FIXP over TCP with SOFH framing (`tcp+tls://`; plain `tcp://` only with
    /// [`SofhOptions::allow_plain_tcp`]); `encoding` must be the session's. Bindings end with
    /// the FIXP Terminate exchange.
    Sofh(SofhOptions),
}

impl From<WsOptions> for Transport {
    fn from(options: WsOptions) -> Self {
        Transport::WebSocket(options)
    }
}

impl From<SofhOptions> for Transport {
    fn from(options: SofhOptions) -> Self {
        Transport::Sofh(options)
    }
}

/// An outbound (initiator) session: where to connect and how.
#[derive(Clone, Debug)]
pub struct InitiatorConfig {
    /// The server.
    pub target: ClientTarget,
    /// WebSocket or TCP+SOFH, with its options (`WsOptions` and `SofhOptions` convert with
    /// `.into()`).
    pub transport: Transport,
    /// The encoding of this session.
    pub encoding: WireEncoding,
    /// The session's settings (its `flow` is the client flow).
    pub session: SessionConfig,
    /// The SessionId (a UUID v4) to negotiate (ignored when a journal resumes a session).
    pub session_id: SessionId,
    /// Keep the session in a journal directory (`None`: in memory). When the directory holds
    /// a session of the same outbound flow type, it is resumed: same SessionId, Establish
    /// without Negotiate, sequence numbers continuing where the journals end. A session that
    /// was finalized (its generation holds a `finalized` marker) is never resumed: `session_id`
    /// is negotiated in a new generation (give a new one; the acceptor refuses a finalized id).
    pub journal: Option<JournalSetup>,
}

/// Where and how a session (or every acceptor session) is journaled.
#[derive(Clone, Debug)]
pub struct JournalSetup {
    /// The journal root (one writer at a time: it is locked).
    pub dir: std::path::PathBuf,
    /// Ring sizes and flushing.
    pub config: JournalConfig,
}

/// Why the engine could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A socket or poll error.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// A listener could not be bound.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// Histogram bounds were rejected.
    #[error(transparent)]
    Bounds(#[from] BoundsError),
    /// Too many listeners.
    #[error("at most {MAX_LISTENERS} listeners")]
    TooManyListeners,
    /// The session journal could not be opened.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// A journaled acceptor session could not be restored.
    #[error("restore: {0}")]
    Restore(crate::session::RestoreError),
    /// An inline session was asked of an engine built without a strategy
    /// (use [`crate::engine::EngineBuilder::with_strategy`]).
    #[error("inline sessions need an engine built with a strategy")]
    NoStrategy,
    /// An engine with listeners was started without an authenticator choice (use
    /// [`crate::engine::EngineBuilder::authenticator`]; `AcceptAll` is the explicit "none").
    #[error("listeners need an authenticator: choose one with EngineBuilder::authenticator (AcceptAll for none)")]
    NoAuthenticator,
}
