//! Strategies on the engine thread (inline mode): application logic the engine calls inside
//! its duty cycle, so a busy engine and its strategy need one core between them (Aeron's
//! composite agents, Artio's library duty cycle).
//!
//! Implement [`Strategy`] and build the engine with
//! [`EngineBuilder::with_strategy`](crate::engine::EngineBuilder::with_strategy): every
//! acceptor session is then inline, and initiators chosen with
//! [`EngineBuilder::initiate_inline`](crate::engine::EngineBuilder::initiate_inline) are too
//! (`initiate` still gives a thread-mode [`SessionHandle`](crate::engine::SessionHandle)).
//! The engine calls:
//!
//! - [`Strategy::on_session`] when a session joins (an initiator at start, an acceptor session
//!   when it first binds) and [`Strategy::on_session_freed`] when the engine forgets it;
//! - [`Strategy::on_message`] with each inbound application message **where it lies**: the
//!   bytes are borrowed from the transport's read buffer (or, for a message released from a
//!   recovery queue, from one engine scratch buffer), never copied into a queue slot;
//! - [`Strategy::on_event`] with every other session event, in order with the messages;
//! - [`Strategy::on_cycle`] once per duty cycle, for the strategy's own timers and work;
//!   [`Strategy::next_deadline`] tells a blocking engine when that is due.
//!
//! Each call gets a [`Context`]: the cycle's clock read, and sends to **any** session,
//! the one the message came on included, straight into that session's outbound slot
//! ([`Context::send_with`] encodes in place; [`Context::send`] copies bytes in). Nothing is
//! queued in between: a full outbox is [`InlineSendError::Session`]`(`[`SendError::Backpressure`]`)`
//! at once, never a silent drop. Frames go to the sockets after the callback returns, in the
//! same duty cycle. Per message there is no allocation, lock or syscall on this path.
//!
//! Owns: the strategy API and its guarantees. May not touch: connections (a strategy's
//! [`Context::drop_connection`] is applied after its callback), the poll, or other threads.

use std::convert::Infallible;

use crate::codec::SessionId;
use crate::engine::cod::{CancelOnDisconnect, EngineEvent};
use crate::engine::handle::{SessionCounterSnapshot, SessionCounters};
use crate::engine::sessions::{EngineSession, Mode, Place, SessionTable};
use crate::session::{Event, Role, SendError, SendWithError, SessionStatus, TerminateReason};
use crate::transport::WireEncoding;

/// Names one session of an engine for its inline strategy. A key of a session the engine has
/// forgotten names nothing (its generation no longer matches), even when its entry is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    index: u32,
    generation: u32,
}

impl SessionKey {
    pub(crate) fn new(index: usize, generation: u32) -> Self {
        SessionKey {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            generation,
        }
    }

    /// A dense index (below the engine's session capacity), for strategy-side tables; keys of
    /// live sessions never share one.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn raw(&self) -> (u32, u32) {
        (self.index, self.generation)
    }
}

/// One inbound application message, borrowed where it lies for the duration of the call.
#[derive(Clone, Copy, Debug)]
pub struct InboundMessage<'a> {
    /// The session it came on.
    pub session: SessionKey,
    /// Its sequence number (0 on an Unsequenced flow).
    pub seq: u64,
    /// The engine-clock time its frame was read (epoch nanoseconds).
    pub recv_ns: u64,
    /// The message, in the session's encoding.
    pub bytes: &'a [u8],
}

/// What a strategy can read about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its current SessionId (a client's changes if it renegotiates).
    pub session_id: SessionId,
    /// The encoding its application messages use.
    pub encoding: WireEncoding,
    /// Client (initiator) or server (acceptor session).
    pub role: Role,
    /// State, flows and sequence numbers.
    pub status: SessionStatus,
    /// True while it has a transport binding.
    pub bound: bool,
    /// True if this strategy consumes it (false: a thread-mode session).
    pub inline: bool,
}

/// Why an inline send did not queue the message (nothing was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InlineSendError<E = Infallible> {
    /// The key names no session (it ended and the engine forgot it).
    #[error("no such session")]
    UnknownSession,
    /// The session refused it: not established, finished, back-pressure (outbox full: retry
    /// on a later cycle), too large, store error.
    #[error(transparent)]
    Session(SendError),
    /// The encoder given to [`Context::send_with`] failed.
    #[error("encoder: {0}")]
    Encode(E),
    /// The session's outbound limit ([`crate::engine::EngineLimits::outbound`]) allows the
    /// next send at `retry_at` (engine clock, epoch ns, as [`Context::now`]).
    #[error("outbound limit: next send allowed at {retry_at}")]
    Throttled {
        /// When the next send is allowed (`u64::MAX`: never).
        retry_at: u64,
    },
}

/// The key names no session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no such session")]
pub struct UnknownSession;

/// Application logic on the engine thread. Every method runs inside the duty cycle: keep it
/// short, never block, never sleep (the sessions of the whole engine wait meanwhile).
pub trait Strategy: Send + 'static {
    /// A session joined: an inline initiator when the engine starts, an acceptor session when
    /// it first binds to a connection (before its first message).
    fn on_session(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        let _ = (ctx, session);
    }

    /// An inbound application message, in order. Answer on the same session at once with
    /// `ctx.send_with(message.session, ..)`; send to others the same way.
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>);

    /// Any other event of a session, in order with its messages (never [`Event::Message`]):
    /// state changes, terminations with reasons, gaps, NotApplied, lapses, finalization.
    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        let _ = (ctx, session, event);
    }

    /// Once per duty cycle, after I/O and timers: the strategy's own timers and deferred
    /// work. Returns how much work it did (0 lets the idle strategy idle).
    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        let _ = ctx;
        0
    }

    /// When `on_cycle` next needs to run (epoch ns, the engine clock), so a blocking engine
    /// wakes for it; `None`: only when something happens.
    fn next_deadline(&self) -> Option<u64> {
        None
    }

    /// The engine forgot a session (finalized and gone): its key names nothing from now on.
    fn on_session_freed(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        let _ = (ctx, session);
    }

    /// Something the engine itself tells about a session ([`EngineEvent`]): cancel-on-disconnect
    /// fired (cancel the session's resting orders), the session is back after it (report what
    /// was canceled), an inbound message over the limit was not handed over.
    fn on_engine_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: EngineEvent) {
        let _ = (ctx, session, event);
    }
}

/// The strategy of an engine without one (thread-mode sessions only). It has no values.
#[derive(Debug)]
pub enum NoStrategy {}

impl Strategy for NoStrategy {
    fn on_message(&mut self, _ctx: &mut Context<'_>, _message: InboundMessage<'_>) {
        match *self {}
    }
}

/// What a strategy callback may do: read the clock and sessions, send, finalize, terminate.
pub struct Context<'a> {
    now: u64,
    sessions: &'a mut SessionTable,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("now", &self.now).finish()
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(now: u64, sessions: &'a mut SessionTable) -> Self {
        Context { now, sessions }
    }

    /// This duty cycle's clock read (epoch nanoseconds; never goes backwards).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Sends an encoded application message on `session` (copied into its outbound slot).
    /// Returns its sequence number (0 on an Unsequenced flow).
    pub fn send(&mut self, session: SessionKey, message: &[u8]) -> Result<u64, InlineSendError> {
        let now = self.now;
        let committed = self.outbound_probe(session)?;
        let seq = self
            .with_session(session, |s| s.send(now, message))
            .ok_or(InlineSendError::UnknownSession)?
            .map_err(InlineSendError::Session)?;
        self.count_sent(session, committed);
        Ok(seq)
    }

    /// Sends an application message that `encode` writes straight into `session`'s outbound
    /// slot (`max_frame_len` bytes), returning the length written: the zero-copy reply.
    /// Returns its sequence number (0 on an Unsequenced flow).
    pub fn send_with<E>(
        &mut self,
        session: SessionKey,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<u64, InlineSendError<E>> {
        let now = self.now;
        let committed = self.outbound_probe(session).map_err(|e| match e {
            InlineSendError::Throttled { retry_at } => InlineSendError::Throttled { retry_at },
            _ => InlineSendError::UnknownSession,
        })?;
        let seq = match self.with_session(session, |s| s.send_with(now, encode)) {
            None => return Err(InlineSendError::UnknownSession),
            Some(Ok(seq)) => seq,
            Some(Err(SendWithError::Session(e))) => return Err(InlineSendError::Session(e)),
            Some(Err(SendWithError::Encode(e))) => return Err(InlineSendError::Encode(e)),
        };
        self.count_sent(session, committed);
        Ok(seq)
    }

    /// When `session`'s outbound limit allows the next send (`now` if it does, and always
    /// without a limit); `None` for an unknown key.
    pub fn next_send_allowed(&self, session: SessionKey) -> Option<u64> {
        let index = self.sessions.resolve(session)?;
        let entry = self.sessions.entry(index)?;
        Some(
            entry
                .guard
                .outbound
                .map_or(self.now, |bucket| bucket.next_allowed(self.now)),
        )
    }

    /// Sets `session`'s cancel-on-disconnect policy (`None`: off), for example from what the
    /// client asked for at logon.
    pub fn set_cancel_on_disconnect(
        &mut self,
        session: SessionKey,
        policy: Option<CancelOnDisconnect>,
    ) -> Result<(), UnknownSession> {
        let index = self.sessions.resolve(session).ok_or(UnknownSession)?;
        let entry = self.sessions.entry_mut(index).ok_or(UnknownSession)?;
        entry.guard.cod.set_policy(policy);
        Ok(())
    }

    /// Starts finalization of `session` (FinishedSending); it ends with Close 1000 and
    /// [`Event::Finalized`] once both flows are finished.
    pub fn finalize(&mut self, session: SessionKey) -> Result<(), UnknownSession> {
        let now = self.now;
        self.with_session(session, |s| s.finalize(now))
            .ok_or(UnknownSession)
    }

    /// Ends `session`'s binding with Close 1000 (unbind); an initiator does not reconnect.
    pub fn terminate(&mut self, session: SessionKey) -> Result<(), UnknownSession> {
        let now = self.now;
        let index = self.sessions.resolve(session).ok_or(UnknownSession)?;
        if let Some(Place::Initiator(i)) = self.sessions.entry(index).map(|e| e.place) {
            if let Some(init) = self.sessions.initiators.get_mut(i) {
                init.done = true;
            }
        }
        self.with_session(session, |s| s.terminate(now, TerminateReason::Unbind))
            .ok_or(UnknownSession)
    }

    /// Drops `session`'s TCP connection without a closing handshake, as a network failure
    /// would (applied right after this callback). An initiator reconnects and re-establishes.
    pub fn drop_connection(&mut self, session: SessionKey) -> Result<(), UnknownSession> {
        let index = self.sessions.resolve(session).ok_or(UnknownSession)?;
        self.sessions.drops.push(index);
        Ok(())
    }

    /// Id, encoding, role, status of `session`.
    pub fn session(&self, session: SessionKey) -> Option<SessionInfo> {
        let index = self.sessions.resolve(session)?;
        let entry = self.sessions.entry(index)?;
        let s = self.sessions.session(index)?;
        Some(SessionInfo {
            session_id: s.session_id(),
            encoding: entry.encoding,
            role: s.role(),
            status: s.status(),
            bound: s.is_bound(),
            inline: matches!(entry.mode, Mode::Inline),
        })
    }

    /// The encoding `session`'s application messages use.
    pub fn encoding(&self, session: SessionKey) -> Option<WireEncoding> {
        let index = self.sessions.resolve(session)?;
        self.sessions.entry(index).map(|e| e.encoding)
    }

    /// `session`'s counters (messages in and out, events, connections).
    pub fn counters(&self, session: SessionKey) -> Option<SessionCounterSnapshot> {
        let index = self.sessions.resolve(session)?;
        self.sessions.entry(index).map(|e| e.counters.snapshot())
    }

    /// Runs `f` on the session of `key` and marks it for this cycle's transmit.
    fn with_session<R>(
        &mut self,
        key: SessionKey,
        f: impl FnOnce(&mut EngineSession) -> R,
    ) -> Option<R> {
        let index = self.sessions.resolve(key)?;
        let result = f(self.sessions.session_mut(index)?);
        self.sessions.dirty.push(index);
        Some(result)
    }

    /// The outbound bucket to commit once the send succeeds, or why it may not be sent now.
    fn outbound_probe(
        &self,
        key: SessionKey,
    ) -> Result<Option<crate::session::limits::TokenBucket>, InlineSendError> {
        let index = self
            .sessions
            .resolve(key)
            .ok_or(InlineSendError::UnknownSession)?;
        let entry = self
            .sessions
            .entry(index)
            .ok_or(InlineSendError::UnknownSession)?;
        entry.guard.outbound_probe(self.now).map_err(|throttled| {
            SessionCounters::bump(&entry.counters.outbound_throttled);
            InlineSendError::Throttled {
                retry_at: throttled.retry_at,
            }
        })
    }

    fn count_sent(
        &mut self,
        key: SessionKey,
        committed: Option<crate::session::limits::TokenBucket>,
    ) {
        if let Some(entry) = self
            .sessions
            .resolve(key)
            .and_then(|i| self.sessions.entry_mut(i))
        {
            SessionCounters::bump(&entry.counters.messages_out);
            if committed.is_some() {
                entry.guard.outbound = committed;
            }
        }
    }
}
