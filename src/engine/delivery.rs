//! Hands a session's inbound messages and events to whoever consumes it: the inline
//! strategy's callbacks (the message borrowed where it lies), or a thread-mode session's queue
//! (copied into a slot). The engine's own reactions to events ([`SessionTable::observe`]) see
//! the same events in both modes.
//!
//! Owns: the order of delivery (a lent message before anything queued after it) and the one
//! scratch copy for queued messages of inline sessions. May not touch: connections, timers.

use crate::engine::clock::Clock;
use crate::engine::cod::EngineEvent;
use crate::engine::handle::SessionCounters;
use crate::engine::metrics::{Stage, StageRecorders};
use crate::engine::route::{detach, forward_events};
use crate::engine::sessions::{EngineSession, Mode, SessionTable};
use crate::engine::strategy::{Context, InboundMessage, Strategy};
use crate::session::limits::Admission;
use crate::session::{Event, SessionState, TerminateReason};

/// What [`deliver`] did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delivery {
    /// Messages and events handed over.
    pub(crate) moved: usize,
    /// Events wait because a thread-mode strategy queue is full.
    pub(crate) blocked: bool,
}

/// Times the inbound stage of a read: from the start of the read (or the end of the previous
/// message's handover) to the handover of each message.
pub(crate) struct InboundTimer<'a> {
    clock: Clock,
    recorders: Option<&'a mut StageRecorders>,
    mark: u64,
}

impl<'a> InboundTimer<'a> {
    /// A timer that records into `recorders` (`None`: timings off, no clock reads).
    pub(crate) fn new(clock: Clock, recorders: Option<&'a mut StageRecorders>) -> Self {
        let mark = if recorders.is_some() { clock.now() } else { 0 };
        InboundTimer {
            clock,
            recorders,
            mark,
        }
    }

    /// A timer that records nothing.
    pub(crate) fn off(clock: Clock) -> Self {
        InboundTimer::new(clock, None)
    }

    /// The time a frame was read (`now` when timings are off).
    pub(crate) fn read_time(&self, now: u64) -> u64 {
        if self.recorders.is_some() {
            self.clock.now()
        } else {
            now
        }
    }

    /// A message is handed over now: records the stage and restarts it.
    pub(crate) fn handover(&mut self) {
        if let Some(recorders) = self.recorders.as_deref_mut() {
            let done = self.clock.now();
            recorders.record(Stage::Inbound, done.saturating_sub(self.mark));
            self.mark = done;
        }
    }

    /// The strategy returned: what it spent is not the next message's inbound stage.
    fn resume(&mut self) {
        if self.recorders.is_some() {
            self.mark = self.clock.now();
        }
    }
}

/// What one delivery hands over besides the session's queue.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Handover<'a> {
    /// A message that lies in the transport's buffer, `(seq, bytes)`, first in line.
    pub(crate) lent: Option<(u64, &'a [u8])>,
    /// The cycle's clock read.
    pub(crate) now: u64,
    /// What stamps the messages (the frame's read time).
    pub(crate) recv_ns: u64,
}

/// Delivers the lent message, then every queued event of entry `index`.
pub(crate) fn deliver<S: Strategy>(
    sessions: &mut SessionTable,
    strategy: &mut Option<S>,
    scratch: &mut Vec<u8>,
    index: usize,
    handover: Handover<'_>,
    timer: &mut InboundTimer<'_>,
) -> Delivery {
    let inline = match sessions.entry(index).map(|e| &e.mode) {
        Some(Mode::Inline) => true,
        Some(_) => false,
        None => return Delivery::default(),
    };
    match strategy {
        Some(strategy) if inline => Delivery {
            moved: deliver_inline(sessions, strategy, scratch, index, handover, timer),
            blocked: false,
        },
        _ => {
            let delivery = forward(sessions, index, handover.recv_ns, handover.now);
            if delivery.moved > 0 {
                timer.handover();
            }
            delivery
        }
    }
}

/// Inline: the lent message first, then the session's queue, each through a callback.
fn deliver_inline<S: Strategy>(
    sessions: &mut SessionTable,
    strategy: &mut S,
    scratch: &mut Vec<u8>,
    index: usize,
    handover: Handover<'_>,
    timer: &mut InboundTimer<'_>,
) -> usize {
    let Handover { lent, now, recv_ns } = handover;
    let session = sessions.key(index);
    let mut moved = 0;
    if let Some((seq, bytes)) = lent {
        moved += 1;
        timer.handover();
        hand_message(sessions, strategy, index, seq, recv_ns, bytes, now);
        timer.resume();
    }
    enum Next {
        Message(u64, usize),
        Event(Event<'static>),
    }
    while let Some(queued) = sessions.session_mut(index) {
        let next = match queued.poll_event() {
            None => break,
            Some(Event::Message { seq, bytes }) => {
                // A message released from the event ring (behind an event, or recovered):
                // one copy, into the engine's scratch buffer, so the session is free to send.
                if scratch.len() < bytes.len() {
                    scratch.resize(bytes.len(), 0);
                }
                if let Some(dst) = scratch.get_mut(..bytes.len()) {
                    dst.copy_from_slice(bytes);
                }
                Next::Message(seq, bytes.len())
            }
            Some(other) => Next::Event(detach(other)),
        };
        moved += 1;
        match next {
            Next::Message(seq, len) => {
                let bytes = scratch.get(..len).unwrap_or(&[]);
                timer.handover();
                hand_message(sessions, strategy, index, seq, recv_ns, bytes, now);
                timer.resume();
            }
            Next::Event(event) => {
                sessions.log_event(index, &event, now);
                sessions.observe(index, &event, now);
                if let Some(entry) = sessions.entry(index) {
                    SessionCounters::bump(&entry.counters.events);
                }
                strategy.on_event(&mut Context::new(now, sessions), session, event);
                // Engine events this event raised come right after it.
                moved += hand_notices(sessions, strategy, index, now);
            }
        }
    }
    moved + hand_notices(sessions, strategy, index, now)
}

/// Hands the session's waiting engine events to the inline strategy.
fn hand_notices<S: Strategy>(
    sessions: &mut SessionTable,
    strategy: &mut S,
    index: usize,
    now: u64,
) -> usize {
    let key = sessions.key(index);
    let mut moved = 0;
    while let Some(notice) = sessions
        .entry_mut(index)
        .and_then(|entry| entry.guard.notices.pop())
    {
        moved += 1;
        if let Some(entry) = sessions.entry(index) {
            SessionCounters::bump(&entry.counters.engine_events);
        }
        strategy.on_engine_event(&mut Context::new(now, sessions), key, notice);
    }
    moved
}

/// Journals and counts one message, then calls the strategy with it (or, over the session's
/// inbound limit, with [`EngineEvent::InboundThrottled`] instead, or not at all and the binding
/// ends).
fn hand_message<S: Strategy>(
    sessions: &mut SessionTable,
    strategy: &mut S,
    index: usize,
    seq: u64,
    recv_ns: u64,
    bytes: &[u8],
    now: u64,
) {
    sessions.journal_inbound(index, seq, recv_ns, bytes);
    let Some(entry) = sessions.entry_mut(index) else {
        return;
    };
    match entry.guard.admit_inbound(recv_ns) {
        Admission::Admit => SessionCounters::bump(&entry.counters.messages_in),
        Admission::Reject { reason } => {
            SessionCounters::bump(&entry.counters.inbound_throttled);
            SessionCounters::bump(&entry.counters.engine_events);
            let key = sessions.key(index);
            let event = EngineEvent::InboundThrottled { seq, reason };
            strategy.on_engine_event(&mut Context::new(now, sessions), key, event);
            return;
        }
        Admission::Disconnect => {
            SessionCounters::bump(&entry.counters.inbound_throttled);
            if let Some(session) = sessions.session_mut(index) {
                session.terminate(now, TerminateReason::RateLimited);
            }
            sessions.dirty.push(index);
            return;
        }
    }
    let message = InboundMessage {
        session: sessions.key(index),
        seq,
        recv_ns,
        bytes,
    };
    strategy.on_message(&mut Context::new(now, sessions), message);
}

/// Thread mode: into the strategy's queue while it has room. Detached: dropped (nobody
/// consumes the session; its binding was refused).
fn forward(sessions: &mut SessionTable, index: usize, recv_ns: u64, now: u64) -> Delivery {
    let mut established = false;
    let mut finalized = false;
    let Some((entry, session, log, who)) = sessions.split_logged(index) else {
        return Delivery::default();
    };
    let mut note = |event: &Event<'static>, session: &EngineSession| {
        if log.is_on() {
            let status = session.status();
            let seqs = (status.next_seq_to_send, status.next_seq_expected);
            log.session_event(recv_ns, who, event, seqs);
        }
        match event {
            Event::StateChanged(SessionState::Established) => established = true,
            Event::Finalized => finalized = true,
            _ => {}
        }
    };
    let encoding = entry.encoding;
    let crate::engine::sessions::Entry {
        mode,
        counters,
        guard,
        ..
    } = entry;
    let delivery = match mode {
        Mode::Thread(route) => {
            let moved = forward_events(
                session,
                route,
                (counters, guard),
                (recv_ns, now),
                encoding,
                note,
            );
            Delivery {
                moved,
                blocked: session.has_event() || !guard.notices.is_empty(),
            }
        }
        _ => {
            let mut moved = 0;
            while let Some(event) = session.poll_event() {
                moved += 1;
                let event = detach(event);
                guard.observe(&event, now);
                note(&event, session);
            }
            while guard.notices.pop().is_some() {
                moved += 1;
            }
            Delivery {
                moved,
                blocked: false,
            }
        }
    };
    // The engine's own reactions (the guard saw every event already).
    if established {
        sessions.observe_engine(index, &Event::StateChanged(SessionState::Established));
    }
    if finalized {
        sessions.observe_engine(index, &Event::Finalized);
    }
    delivery
}
