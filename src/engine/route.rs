//! The engine's side of a thread-mode session: its two queues ([`Route`]), how a strategy
//! command is applied to the session ([`apply`]), and how the session's messages and events
//! are moved into the strategy's queue ([`forward_events`]).
//!
//! Owns: the queue ends and the command/event translation. May not touch: connections, timers
//! or the inline strategy.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::codec::SessionId;
use crate::engine::handle::{
    Bell, Doorbell, FromEngine, MessageSlot, SessionCounters, SessionHandle, ToEngine, Wake,
};
use crate::engine::sessions::EngineSession;
use crate::engine::spsc::{spsc_queue, Consumer, Producer};
use crate::session::{Event, SendError, SessionState, TerminateReason};
use crate::transport::WireEncoding;

/// The queues of one thread-mode session, on the engine side.
pub(crate) struct Route {
    pub(crate) to_engine: Consumer<ToEngine>,
    pub(crate) from_engine: Producer<FromEngine>,
    /// A command that could not be applied yet (back-pressure, not established), first in line.
    pub(crate) pending: Option<ToEngine>,
    /// The handle's doorbell button (see [`Bell`]).
    pub(crate) armed: Arc<AtomicBool>,
}

impl Route {
    /// A route and the handle that is its other end.
    pub(crate) fn pair(
        key: (u32, u32),
        session_id: SessionId,
        encoding: WireEncoding,
        capacity: usize,
        counters: &Arc<SessionCounters>,
        doorbell: &Doorbell,
        wake: &Wake,
    ) -> (Route, SessionHandle) {
        let (to_tx, to_rx) = spsc_queue(capacity);
        let (from_tx, from_rx) = spsc_queue(capacity);
        let armed = Arc::new(AtomicBool::new(false));
        let bell = Bell {
            doorbell: doorbell.clone(),
            armed: Arc::clone(&armed),
            key,
        };
        (
            Route {
                to_engine: to_rx,
                from_engine: from_tx,
                pending: None,
                armed,
            },
            SessionHandle::new(
                session_id,
                encoding,
                (to_tx, from_rx),
                Arc::clone(counters),
                bell,
                wake.clone(),
            ),
        )
    }

    /// True when a command waits (held back, or in the queue).
    pub(crate) fn has_commands(&self) -> bool {
        self.pending.is_some() || !self.to_engine.is_empty()
    }
}

/// What applying a command did.
pub(crate) enum Applied {
    /// The session took an application message.
    Sent,
    /// The command waits (in `Route::pending`): stop taking commands for now.
    Waiting,
    /// Done (finalize, refused send reported).
    Done,
    /// The binding was ended on request.
    Terminated,
    /// The connection must be dropped now.
    Drop,
}

/// Applies one strategy command to a session.
pub(crate) fn apply(
    session: &mut EngineSession,
    route: &mut Route,
    counters: &SessionCounters,
    command: ToEngine,
    now: u64,
) -> Applied {
    match command {
        ToEngine::Send(slot) => match session.send(now, slot.bytes()) {
            Ok(_) => {
                SessionCounters::bump(&counters.messages_out);
                Applied::Sent
            }
            Err(SendError::Backpressure) => {
                SessionCounters::bump(&counters.session_backpressure);
                route.pending = Some(command);
                Applied::Waiting
            }
            Err(SendError::NotEstablished)
                if !matches!(
                    session.state(),
                    SessionState::Finalized | SessionState::Rejected
                ) =>
            {
                // Not (yet, or not again) established: hold it until the session is.
                route.pending = Some(command);
                Applied::Waiting
            }
            Err(e) => {
                if route.from_engine.push(FromEngine::SendRejected(e)).is_err() {
                    route.pending = Some(command);
                    return Applied::Waiting;
                }
                Applied::Done
            }
        },
        ToEngine::Finalize => {
            session.finalize(now);
            Applied::Done
        }
        ToEngine::Terminate => {
            session.terminate(now, TerminateReason::Unbind);
            Applied::Terminated
        }
        ToEngine::DropConnection => Applied::Drop,
    }
}

/// Moves a session's events to its strategy queue while the queue has room (messages stamped
/// `recv_ns` and journaled first). `seen` is told of each event. Returns how many were moved.
pub(crate) fn forward_events(
    session: &mut EngineSession,
    route: &mut Route,
    counters: &SessionCounters,
    recv_ns: u64,
    encoding: WireEncoding,
    mut seen: impl FnMut(&Event<'static>, &EngineSession),
) -> usize {
    let mut moved = 0;
    // One producer: room seen here cannot shrink before the push.
    while route.from_engine.free() > 0 {
        let Some(event) = session.poll_event() else {
            break;
        };
        let item = match event {
            Event::Message { seq, bytes } => match MessageSlot::new(bytes, seq, recv_ns) {
                Ok(slot) => {
                    SessionCounters::bump(&counters.messages_in);
                    FromEngine::Message(slot)
                }
                Err(e) => FromEngine::MessageTooLong(e),
            },
            other => {
                SessionCounters::bump(&counters.events);
                let event = detach(other);
                seen(&event, session);
                FromEngine::Event(event)
            }
        };
        if let FromEngine::Message(slot) = &item {
            crate::engine::journaling::journal_inbound(
                session,
                slot.seq,
                slot.recv_ns,
                slot.bytes(),
                encoding,
            );
        }
        let _ = route.from_engine.push(item);
        moved += 1;
    }
    if session.has_event() && route.from_engine.free() == 0 {
        SessionCounters::bump(&counters.strategy_backpressure);
    }
    moved
}

/// An event without borrowed bytes (every variant but `Message`, which is handled apart).
pub(crate) fn detach(event: Event<'_>) -> Event<'static> {
    match event {
        Event::StateChanged(s) => Event::StateChanged(s),
        Event::Message { seq, .. } => Event::Message { seq, bytes: &[] },
        Event::AppliedReceived { from_seq_no, count } => {
            Event::AppliedReceived { from_seq_no, count }
        }
        Event::NotAppliedReceived { from_seq_no, count } => {
            Event::NotAppliedReceived { from_seq_no, count }
        }
        Event::Gap { from_seq_no, count } => Event::Gap { from_seq_no, count },
        Event::RetransmitRejected {
            from_seq_no,
            count,
            code,
        } => Event::RetransmitRejected {
            from_seq_no,
            count,
            code,
        },
        Event::NegotiationRejected(c) => Event::NegotiationRejected(c),
        Event::EstablishmentRejected(c) => Event::EstablishmentRejected(c),
        Event::ResponseIgnored(t) => Event::ResponseIgnored(t),
        Event::HandshakeRetry { attempt } => Event::HandshakeRetry { attempt },
        Event::PeerLapse { silent_ns } => Event::PeerLapse { silent_ns },
        Event::Terminated(r) => Event::Terminated(r),
        Event::ViolationIgnored(v) => Event::ViolationIgnored(v),
        Event::Finalized => Event::Finalized,
    }
}
