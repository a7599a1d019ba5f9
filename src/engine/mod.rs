//! The engine: one pinned busy-poll thread that owns sockets, sessions and journals, and talks to
//! strategy threads through lock-free SPSC queues.
//!
//! - [`runtime`]: the engine loop ([`EngineBuilder`], [`EngineHandle`]): listeners and the
//!   acceptor, initiators with reconnect and back-off, one clock read per duty cycle, bounded
//!   work per cycle, handshake/close/slow-consumer timeouts, graceful shutdown, stage timings;
//! - [`handle`]: the strategy API ([`SessionHandle`], [`ToEngine`], [`FromEngine`]);
//! - [`wire`] and [`store`]: each session's encoding (SBE or JSON by subprotocol) and retransmit
//!   store (memory or the mmap journal);
//! - building blocks: [`idle`] (idle strategies that also pick the mio poll timeout), [`spsc`]
//!   (fixed-size slot queues with back-pressure as a value), [`metrics`] (atomic counters and
//!   a lock-free histogram swap), [`cores`] (the core list, read once before pinning).
//!
//! Owns: threads, pinning, sockets' life cycle, queues and metrics. May not touch: FIXP rules
//! (the session layer) or wire formats (the codec).

pub mod cores;
pub mod handle;
pub mod idle;
pub mod metrics;
pub mod runtime;
pub mod spsc;
pub mod store;
pub mod wire;

pub use cores::{CoreList, PinError};
pub use handle::{
    FromEngine, HandleSendError, MessageSlot, SessionCounterSnapshot, SessionCounters,
    SessionHandle, ToEngine, SLOT_BYTES,
};
pub use idle::{Backoff, BackoffPhase, BlockWithTimeout, BusySpin, IdleStrategy};
pub use metrics::{
    histogram_exchange, ConnectionCounters, CounterSnapshot, HistogramBounds, HistogramReader,
    HistogramRecorder,
};
pub use runtime::{
    EngineBuilder, EngineConfig, EngineCounters, EngineError, EngineHandle, EngineMetrics,
    IdleMode, InitiatorConfig, JournalSetup, ShutdownMode, Stage,
};
pub use spsc::{spsc_queue, AppMessage, Consumer, MessageTooLong, Producer};
pub use store::EngineStore;
pub use wire::EngineEncoding;
