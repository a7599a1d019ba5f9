//! Hands a session's inbound messages and events to whoever consumes it: the inline
//! strategy's callbacks (the message borrowed where it lies), or a thread-mode session's queue
//! (copied into a slot). The engine's own reactions to events ([`SessionTable::observe`]) see
//! the same events in both modes.
//!
//! Owns: the order of delivery (a lent message before anything queued after it) and the one
//! scratch copy for queued messages of inline sessions. May not touch: connections, timers.

use crate::engine::clock::Clock;
use crate::engine::handle::SessionCounters;
use crate::engine::metrics::{Stage, StageRecorders};
use crate::engine::route::{detach, forward_events};
use crate::engine::sessions::{EngineSession, Mode, SessionTable};
use crate::engine::strategy::{Context, InboundMessage, Strategy};
use crate::session::{Event, SessionState};

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
            let delivery = forward(sessions, index, handover.recv_ns);
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
                sessions.observe(index, &event);
                if let Some(entry) = sessions.entry(index) {
                    SessionCounters::bump(&entry.counters.events);
                }
                strategy.on_event(&mut Context::new(now, sessions), session, event);
            }
        }
    }
    moved
}

/// Journals and counts one message, then calls the strategy with it.
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
    if let Some(entry) = sessions.entry(index) {
        SessionCounters::bump(&entry.counters.messages_in);
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
fn forward(sessions: &mut SessionTable, index: usize, recv_ns: u64) -> Delivery {
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
    let delivery = match &mut entry.mode {
        Mode::Thread(route) => {
            let moved = forward_events(session, route, &entry.counters, recv_ns, encoding, note);
            Delivery {
                moved,
                blocked: session.has_event(),
            }
        }
        _ => {
            let mut moved = 0;
            while let Some(event) = session.poll_event() {
                moved += 1;
                let event = detach(event);
                note(&event, session);
            }
            Delivery {
                moved,
                blocked: false,
            }
        }
    };
    if established {
        sessions.observe(index, &Event::StateChanged(SessionState::Established));
    }
    if finalized {
        sessions.observe(index, &Event::Finalized);
    }
    delivery
}
