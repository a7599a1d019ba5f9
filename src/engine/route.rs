//! The engine's side of a thread-mode session: its two queues ([`Route`]), how a strategy
//! command is applied to the session ([`apply`]), and how the session's messages and events
//! are moved into the strategy's queue ([`forward_events`]).
//!
//! Owns: the queue ends and the command/event translation. May not touch: connections, timers
//! or the inline strategy.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::codec::SessionId;
use crate::engine::clock::Clock;
use crate::engine::cod::EngineEvent;
use crate::engine::handle::{
    Bell, Doorbell, FromEngine, MessageSlot, SessionCounters, SessionHandle, ToEngine, Wake,
};
use crate::engine::limits::SessionGuard;
use crate::engine::sessions::EngineSession;
use crate::engine::spsc::{spsc_queue, Consumer, Producer};
use crate::session::limits::{Admission, RateLimit};
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
    /// A route and the handle that is its other end (with the engine's clock and the
    /// session's outbound limit, which the handle applies before queueing).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pair(
        key: (u32, u32),
        session_id: SessionId,
        encoding: WireEncoding,
        capacity: usize,
        counters: &Arc<SessionCounters>,
        doorbell: &Doorbell,
        wake: &Wake,
        throttle: (Clock, Option<RateLimit>),
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
                (bell, wake.clone()),
                throttle,
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

/// Applies one strategy command to a session. A send over the outbound limit waits (in
/// `Route::pending`) until `guard.throttled_until`.
pub(crate) fn apply(
    session: &mut EngineSession,
    route: &mut Route,
    (counters, guard): (&SessionCounters, &mut SessionGuard),
    command: ToEngine,
    now: u64,
) -> Applied {
    match command {
        ToEngine::Send(_) => {
            let committed = match guard.outbound_probe(now) {
                Ok(committed) => committed,
                Err(throttled) => {
                    SessionCounters::bump(&counters.outbound_throttled);
                    guard.throttled_until = Some(throttled.retry_at);
                    route.pending = Some(command);
                    return Applied::Waiting;
                }
            };
            guard.throttled_until = None;
            apply_send(session, route, counters, command, now, || {
                if committed.is_some() {
                    guard.outbound = committed;
                }
            })
        }
        ToEngine::Finalize => {
            session.finalize(now);
            Applied::Done
        }
        ToEngine::Terminate => {
            session.terminate(now, TerminateReason::Unbind);
            Applied::Terminated
        }
        ToEngine::DropConnection => Applied::Drop,
        ToEngine::SetCancelOnDisconnect(policy) => {
            guard.cod.set_policy(policy);
            Applied::Done
        }
    }
}

/// Sends the message of a `Send` command; `sent` runs once the session took it.
fn apply_send(
    session: &mut EngineSession,
    route: &mut Route,
    counters: &SessionCounters,
    command: ToEngine,
    now: u64,
    sent: impl FnOnce(),
) -> Applied {
    let ToEngine::Send(slot) = command else {
        return Applied::Done;
    };
    match session.send(now, slot.bytes()) {
        Ok(_) => {
            sent();
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
    }
}

/// Moves a session's events to its strategy queue while the queue has room (messages stamped
/// `recv_ns`, journaled, then judged by the inbound limit). Engine events raised by an event
/// follow it. `seen` is told of each event. Returns how many items were moved.
pub(crate) fn forward_events(
    session: &mut EngineSession,
    route: &mut Route,
    (counters, guard): (&SessionCounters, &mut SessionGuard),
    (recv_ns, now): (u64, u64),
    encoding: WireEncoding,
    mut seen: impl FnMut(&Event<'static>, &EngineSession),
) -> usize {
    let mut moved = 0;
    let mut over_rate = false;
    // One producer: room seen here cannot shrink before the push.
    while route.from_engine.free() > 0 {
        if let Some(notice) = guard.notices.pop() {
            SessionCounters::bump(&counters.engine_events);
            let _ = route.from_engine.push(FromEngine::Engine(notice));
            moved += 1;
            continue;
        }
        let Some(event) = session.poll_event() else {
            break;
        };
        let item = match event {
            Event::Message { seq, bytes } => match MessageSlot::new(bytes, seq, recv_ns) {
                Ok(slot) => {
                    crate::engine::journaling::journal_inbound(
                        session,
                        slot.seq,
                        slot.recv_ns,
                        slot.bytes(),
                        encoding,
                    );
                    match guard.admit_inbound(recv_ns) {
                        Admission::Admit => {
                            SessionCounters::bump(&counters.messages_in);
                            FromEngine::Message(slot)
                        }
                        Admission::Reject { reason } => {
                            SessionCounters::bump(&counters.inbound_throttled);
                            SessionCounters::bump(&counters.engine_events);
                            FromEngine::Engine(EngineEvent::InboundThrottled { seq, reason })
                        }
                        Admission::Disconnect => {
                            SessionCounters::bump(&counters.inbound_throttled);
                            over_rate = true;
                            continue;
                        }
                    }
                }
                Err(e) => FromEngine::MessageTooLong(e),
            },
            other => {
                SessionCounters::bump(&counters.events);
                let event = detach(other);
                guard.observe(&event, now);
                seen(&event, session);
                FromEngine::Event(event)
            }
        };
        let _ = route.from_engine.push(item);
        moved += 1;
    }
    if over_rate {
        session.terminate(now, TerminateReason::RateLimited);
    }
    if (session.has_event() || !guard.notices.is_empty()) && route.from_engine.free() == 0 {
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
