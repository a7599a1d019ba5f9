//! The engine: one pinned busy-poll thread that owns sockets, sessions and journals. Each
//! session's application logic runs either **inline**, on the engine thread inside its duty
//! cycle ([`Strategy`], [`Context`]), or on a strategy thread of its own, through lock-free
//! SPSC queues ([`SessionHandle`]).
//!
//! - [`builder`]: [`EngineBuilder`] (listeners, initiators, the inline strategy) and
//!   [`EngineHandle`] (the running engine seen from the application);
//! - [`config`]: [`EngineConfig`], [`InitiatorConfig`] (with its [`Transport`]: WebSocket or
//!   TCP+SOFH), [`JournalSetup`], [`EngineError`];
//! - [`strategy`]: the inline strategy API; [`handle`]: the thread-mode API;
//! - `duty_cycle`: the loop; `conns`: the connection table; `link`: the transports behind
//!   one enum (WebSocket and TCP+SOFH, listeners of both feeding one acceptor); `sessions`: the session table; `delivery` and `route`: messages and events to
//!   their consumer, commands from thread-mode strategies; `deadlines` and `worklist`: the
//!   timer heap and ready lists that keep per-cycle work proportional to activity;
//!   `journaling`: journal glue; `clock`: the cycle's clock read;
//! - [`wire`] and [`store`]: each session's encoding (SBE or JSON by subprotocol) and retransmit
//!   store (memory or the mmap journal);
//! - building blocks: [`idle`] (idle strategies that also pick the mio poll timeout), [`spsc`]
//!   (fixed-size slot queues with back-pressure as a value), [`metrics`] (atomic counters, a
//!   lock-free histogram swap, stage timings), [`cores`] (the core list, read once before
//!   pinning);
//! - operations, off the hot path: [`status`] (per-session status records behind sequence
//!   locks, [`StatusReader`]), [`log`] (`Copy` log records through a lock-free queue to a
//!   `tracing` drain), [`ops`] ([`OpsConfig`], [`OpsHandle`], [`SessionControl`]: ending a
//!   session from another thread), [`admin`] (the local admin endpoint's thread).
//!
//! Owns: threads, pinning, sockets' life cycle, queues and metrics. May not touch: FIXP rules
//! (the session layer) or wire formats (the codec).

pub mod admin;
pub mod builder;
mod clock;
pub mod cod;
pub mod config;
mod conns;
pub mod cores;
mod deadlines;
mod delivery;
mod duty_cycle;
pub mod handle;
pub mod idle;
mod journaling;
pub mod limits;
mod link;
pub mod log;
pub mod metrics;
pub mod ops;
mod route;
mod sessions;
pub mod spsc;
pub mod status;
pub mod store;
pub mod strategy;
pub mod wire;
mod worklist;

pub use admin::{AdminEndpoint, AdminError, AdminServer};
pub use builder::{EngineBuilder, EngineHandle};
pub use cod::{CancelOnDisconnect, EngineEvent};
pub use config::{
    EngineConfig, EngineError, IdleMode, InitiatorConfig, JournalSetup, ShutdownMode, Transport,
};
pub use cores::{CoreList, PinError};
pub use handle::{
    FromEngine, HandleSendError, MessageSlot, SessionCounterSnapshot, SessionCounters,
    SessionHandle, ToEngine, SLOT_BYTES,
};
pub use idle::{Backoff, BackoffPhase, BlockWithTimeout, BusySpin, IdleStrategy};
pub use limits::{EngineLimits, InboundLimit};
pub use log::{EndAction, EndOutcome, LogDrain, LogEvent, LogRecord, LoggerThread};
pub use metrics::{
    histogram_exchange, ConnectionCounters, CounterSnapshot, EngineCounters, EngineMetrics,
    HistogramBounds, HistogramReader, HistogramRecorder, Stage,
};
pub use ops::{ControlError, OpsConfig, OpsHandle, SessionControl};
pub use spsc::{spsc_queue, AppMessage, Consumer, MessageTooLong, Producer};
pub use status::{SessionStatusRecord, StatusReader, TransportKind};
pub use store::EngineStore;
pub use strategy::{
    Context, InboundMessage, InlineSendError, NoStrategy, SessionInfo, SessionKey, Strategy,
    UnknownSession,
};
pub use wire::EngineEncoding;
