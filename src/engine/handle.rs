//! The thread mode of a session: a strategy on its own thread holds a [`SessionHandle`], with
//! one SPSC queue into the engine and one out of it. (Strategies on the engine thread use
//! [`crate::engine::strategy`] instead.)
//!
//! A handle that queues a command rings the engine's doorbell (once until the engine takes
//! it), so the engine visits only sessions with commands, not every session every cycle.
//!
//! Slots are fixed-size values ([`MessageSlot`]), so nothing is allocated per message. A full
//! queue is back-pressure the caller sees as a returned value, never a silent drop: the engine
//! stops draining a session's events while its outbound queue to the strategy is full (the
//! session's own bounded event ring then fills and, past it, terminates the binding with
//! `EventOverflow`), and the strategy's sends come back in `Err` when the engine lags.
//!
//! Owns: the strategy thread's end of the queues, the doorbell, session counters. May not
//! touch: sessions or sockets (the engine applies commands on its thread).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::codec::SessionId;
use crate::engine::clock::Clock;
use crate::engine::cod::{CancelOnDisconnect, EngineEvent};
use crate::engine::spsc::{AppMessage, Consumer, MessageTooLong, Producer};
use crate::session::limits::{RateLimit, TokenBucket};
use crate::session::{Event, SendError};
use crate::transport::WireEncoding;

/// Bytes per message slot (the largest application message through the queues).
pub const SLOT_BYTES: usize = 1024;

/// One application message in a queue slot: bytes, sequence number and receive time.
pub type MessageSlot = AppMessage<SLOT_BYTES>;

/// What a strategy asks of the engine for one session.
#[allow(clippy::large_enum_variant)] // boxing the slot would allocate per message
#[derive(Clone, Copy, Debug)]
pub enum ToEngine {
    /// Send this application message (already encoded in the session's encoding).
    Send(MessageSlot),
    /// Start finalization (FinishedSending); the session ends with Close 1000 once both flows
    /// are finished.
    Finalize,
    /// End the binding with Close 1000 (unbind); an initiator does not reconnect afterwards.
    Terminate,
    /// Test hook: drop the TCP connection without a closing handshake, as a network failure
    /// would. An initiator reconnects and re-establishes.
    DropConnection,
    /// Sets the session's cancel-on-disconnect policy (`None`: off).
    SetCancelOnDisconnect(Option<CancelOnDisconnect>),
}

/// What the engine tells a strategy about one session.
#[allow(clippy::large_enum_variant)] // boxing the slot would allocate per message
#[derive(Clone, Copy, Debug)]
pub enum FromEngine {
    /// An application message, in order, with its sequence number (0 on an Unsequenced flow)
    /// and the engine-clock time its frame was read.
    Message(MessageSlot),
    /// A session event (never [`Event::Message`]: messages come as [`FromEngine::Message`]).
    Event(Event<'static>),
    /// A message the session refused for good (not established for ever, too large, ...).
    SendRejected(SendError),
    /// An inbound message larger than a slot; it was not delivered.
    MessageTooLong(MessageTooLong),
    /// Something the engine itself tells the strategy: cancel-on-disconnect fired, the
    /// session came back after it, an inbound message over the limit was dropped.
    Engine(EngineEvent),
}

/// Per-session counters the engine updates and any thread reads (relaxed atomics).
#[derive(Debug, Default)]
pub struct SessionCounters {
    /// Application messages delivered to the strategy.
    pub messages_in: AtomicU64,
    /// Application messages the session accepted from the strategy.
    pub messages_out: AtomicU64,
    /// Events delivered to the strategy.
    pub events: AtomicU64,
    /// Cycles in which the strategy's queue was full and delivery waited.
    pub strategy_backpressure: AtomicU64,
    /// Cycles in which the session's outbound queue was full and a send waited.
    pub session_backpressure: AtomicU64,
    /// Transport connections made for this session.
    pub connections: AtomicU64,
    /// Inbound application messages over the session's limit (not delivered).
    pub inbound_throttled: AtomicU64,
    /// Sends refused or held by the session's outbound limit.
    pub outbound_throttled: AtomicU64,
    /// Engine events ([`EngineEvent`]) delivered.
    pub engine_events: AtomicU64,
}

/// A plain copy of [`SessionCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounterSnapshot {
    /// Application messages delivered to the strategy.
    pub messages_in: u64,
    /// Application messages accepted from the strategy.
    pub messages_out: u64,
    /// Events delivered.
    pub events: u64,
    /// Cycles the strategy's queue was full.
    pub strategy_backpressure: u64,
    /// Cycles the session's outbound queue was full.
    pub session_backpressure: u64,
    /// Transport connections made.
    pub connections: u64,
    /// Inbound messages over the limit.
    pub inbound_throttled: u64,
    /// Sends refused or held by the outbound limit.
    pub outbound_throttled: u64,
    /// Engine events delivered.
    pub engine_events: u64,
}

impl SessionCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> SessionCounterSnapshot {
        SessionCounterSnapshot {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            strategy_backpressure: self.strategy_backpressure.load(Ordering::Relaxed),
            session_backpressure: self.session_backpressure.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            inbound_throttled: self.inbound_throttled.load(Ordering::Relaxed),
            outbound_throttled: self.outbound_throttled.load(Ordering::Relaxed),
            engine_events: self.engine_events.load(Ordering::Relaxed),
        }
    }
}

/// Wakes a blocked engine when a strategy queued work (only in the blocking idle mode; a
/// busy-polling engine needs no wake-up, so no syscall is made).
#[derive(Clone, Debug)]
pub(crate) struct Wake {
    pub(crate) waker: Arc<mio::Waker>,
    pub(crate) enabled: bool,
}

impl Wake {
    pub(crate) fn wake(&self) {
        if self.enabled {
            // A failed wake only delays the engine until its poll timeout.
            let _ = self.waker.wake();
        }
    }
}

/// The engine's doorbell: handles with new commands leave their entry's `(index, generation)`
/// here. A full doorbell (more stale handles than it holds) sets `overflow`, and the engine
/// then looks at every thread-mode session once: a command is never missed.
#[derive(Clone, Debug)]
pub(crate) struct Doorbell {
    pub(crate) queue: Arc<ArrayQueue<(u32, u32)>>,
    pub(crate) overflow: Arc<AtomicBool>,
}

impl Doorbell {
    pub(crate) fn new(capacity: usize) -> Self {
        Doorbell {
            queue: Arc::new(ArrayQueue::new(capacity.max(1))),
            overflow: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A handle's button on the doorbell: rings once until the engine clears `armed`.
#[derive(Debug)]
pub(crate) struct Bell {
    pub(crate) doorbell: Doorbell,
    /// Set by the handle when it rings, cleared by the engine when it takes the ring (both
    /// with acquire-release swaps, so the engine sees every command queued before a ring it
    /// takes, and a command queued after the clear rings again).
    pub(crate) armed: Arc<AtomicBool>,
    pub(crate) key: (u32, u32),
}

impl Bell {
    fn ring(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) && self.doorbell.queue.push(self.key).is_err() {
            self.doorbell.overflow.store(true, Ordering::Release);
        }
    }
}

/// Why [`SessionHandle::send`] did not queue a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandleSendError {
    /// The queue to the engine is full: retry later.
    #[error("queue to the engine is full")]
    Backpressure,
    /// The message does not fit a slot.
    #[error(transparent)]
    TooLong(#[from] MessageTooLong),
    /// The session's outbound limit allows the next send at `retry_at` (engine clock, epoch
    /// ns; see [`SessionHandle::now`]); nothing was queued.
    #[error("outbound limit: next send allowed at {retry_at}")]
    Throttled {
        /// When the next send is allowed (`u64::MAX`: never).
        retry_at: u64,
    },
}

/// The strategy's end of one session.
#[derive(Debug)]
pub struct SessionHandle {
    session_id: SessionId,
    encoding: WireEncoding,
    to_engine: Producer<ToEngine>,
    from_engine: Consumer<FromEngine>,
    counters: Arc<SessionCounters>,
    bell: Bell,
    wake: Wake,
    clock: Clock,
    outbound: Option<TokenBucket>,
}

impl SessionHandle {
    pub(crate) fn new(
        session_id: SessionId,
        encoding: WireEncoding,
        queues: (Producer<ToEngine>, Consumer<FromEngine>),
        counters: Arc<SessionCounters>,
        (bell, wake): (Bell, Wake),
        (clock, outbound): (Clock, Option<RateLimit>),
    ) -> Self {
        SessionHandle {
            session_id,
            encoding,
            to_engine: queues.0,
            from_engine: queues.1,
            counters,
            bell,
            wake,
            clock,
            outbound: outbound.map(TokenBucket::new),
        }
    }

    /// The engine's clock now (epoch ns): the time base of [`HandleSendError::Throttled`].
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// When the outbound limit allows the next send (now, if it does; always now without a
    /// limit). The engine enforces the same limit again when it writes to the socket.
    pub fn next_send_allowed(&self) -> u64 {
        let now = self.clock.now();
        self.outbound.map_or(now, |bucket| bucket.next_allowed(now))
    }

    /// The SessionId the session started with.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The encoding application messages must use on this session.
    pub fn encoding(&self) -> WireEncoding {
        self.encoding
    }

    /// Queues an application message. A full queue is [`HandleSendError::Backpressure`]; a
    /// send over the session's outbound limit is [`HandleSendError::Throttled`] with the time
    /// the next one is allowed.
    pub fn send(&mut self, message: &[u8]) -> Result<(), HandleSendError> {
        let slot = MessageSlot::new(message, 0, 0)?;
        let committed = match self.outbound {
            Some(mut bucket) => {
                if let Err(throttled) = bucket.try_take(self.clock.now()) {
                    SessionCounters::bump(&self.counters.outbound_throttled);
                    return Err(HandleSendError::Throttled {
                        retry_at: throttled.retry_at,
                    });
                }
                Some(bucket)
            }
            None => None,
        };
        self.command(ToEngine::Send(slot))
            .map_err(|_| HandleSendError::Backpressure)?;
        if committed.is_some() {
            self.outbound = committed;
        }
        Ok(())
    }

    /// Queues a command; a full queue hands it back.
    #[allow(clippy::result_large_err)] // the command comes back by value, not boxed
    pub fn command(&mut self, command: ToEngine) -> Result<(), ToEngine> {
        self.to_engine.push(command)?;
        self.bell.ring();
        self.wake.wake();
        Ok(())
    }

    /// The next message or event from the engine, if any.
    pub fn poll(&mut self) -> Option<FromEngine> {
        self.from_engine.pop()
    }

    /// The session's counters.
    pub fn counters(&self) -> &Arc<SessionCounters> {
        &self.counters
    }
}
