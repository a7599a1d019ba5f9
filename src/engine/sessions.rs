//! The session table: every session the engine runs, initiators and acceptor sessions alike,
//! as entries addressed by index (a [`SessionKey`] adds a generation), each with its mode
//! (inline strategy, or a thread-mode [`Route`]), its connection and its counters; plus the
//! work lists the strategy API feeds (sessions with output, connections to drop).
//!
//! Owns: entries, the acceptor and the initiator sessions, binding an acceptor session to the
//! engine when it first appears on a connection. May not touch: connections or the poll
//! (the duty cycle does I/O), the strategy itself (it is called by the delivery code).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::codec::SessionId;
use crate::engine::clock::Clock;
use crate::engine::cod::CancelOnDisconnect;
use crate::engine::config::InitiatorConfig;
use crate::engine::handle::{Doorbell, SessionCounters, SessionHandle, Wake};
use crate::engine::journaling::{journal_inbound, mark_finalized, mark_generation_finalized};
use crate::engine::limits::{EngineLimits, SessionGuard};
use crate::engine::log::{EngineLog, SessionRef};
use crate::engine::route::Route;
use crate::engine::spsc::Producer;
use crate::engine::store::EngineStore;
use crate::engine::strategy::SessionKey;
use crate::engine::wire::{EncodingSelector, EngineEncoding};
use crate::engine::worklist::WorkList;
use crate::session::{
    Acceptor, Authenticator, ConnectionId, Event, MemoryStore, Session, SessionState,
    TerminateReason,
};
use crate::transport::WireEncoding;

/// A session as the engine runs it.
pub(crate) type EngineSession = Session<EngineEncoding, EngineStore>;
/// Makes the encoding and store of each new acceptor session.
pub(crate) type Factory = Box<dyn FnMut(SessionId) -> (EngineEncoding, EngineStore) + Send>;
/// The authenticator the engine's acceptor asks (chosen on the builder).
pub(crate) type EngineAuthenticator = Box<dyn Authenticator + Send>;
/// The engine's acceptor.
pub(crate) type EngineAcceptor =
    Acceptor<EngineEncoding, EngineStore, EngineAuthenticator, Factory>;

/// An outbound session and its reconnect state.
pub(crate) struct Initiator {
    pub(crate) session: EngineSession,
    /// The SessionId the retransmit store holds messages of.
    pub(crate) store_id: SessionId,
    pub(crate) config: InitiatorConfig,
    /// Its entry in the table.
    pub(crate) entry: usize,
    /// Its connection's slot, while it has one.
    pub(crate) conn: Option<usize>,
    pub(crate) reconnect_at: Option<u64>,
    pub(crate) backoff_ns: u64,
    pub(crate) attempts: u64,
    /// No more connections (terminated on request, wrong subprotocol, shut down).
    pub(crate) done: bool,
}

/// Where an entry's session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// `initiators[n]`.
    Initiator(usize),
    /// The acceptor's table slot `n`.
    Acceptor(usize),
}

/// Who consumes an entry's messages and events.
pub(crate) enum Mode {
    /// The engine's inline strategy, on the engine thread.
    Inline,
    /// A strategy thread, through a [`SessionHandle`] (boxed once, when the session binds).
    Thread(Box<Route>),
    /// Nobody: the application did not take the session (its binding was refused).
    Detached,
}

/// One session in the table.
pub(crate) struct Entry {
    pub(crate) place: Place,
    pub(crate) encoding: WireEncoding,
    /// The connection it is bound to, as the engine saw it bind.
    pub(crate) conn: Option<ConnectionId>,
    pub(crate) mode: Mode,
    pub(crate) counters: Arc<SessionCounters>,
    /// Throttles, cancel-on-disconnect and engine events of the session.
    pub(crate) guard: SessionGuard,
}

/// What thread-mode sessions need to be handed out.
pub(crate) struct Handout {
    pub(crate) doorbell: Doorbell,
    pub(crate) wake: Wake,
    pub(crate) accepted: Producer<SessionHandle>,
    pub(crate) queue_capacity: usize,
    /// The engine's clock, shared with handles (their throttle's times are the engine's).
    pub(crate) clock: Clock,
}

/// Every session of the engine.
pub(crate) struct SessionTable {
    entries: Vec<Option<Entry>>,
    generations: Vec<u32>,
    /// Free entry indexes, lowest on top.
    free: Vec<usize>,
    /// Acceptor slot → entry.
    by_slot: Vec<Option<usize>>,
    pub(crate) acceptor: EngineAcceptor,
    pub(crate) initiators: Vec<Initiator>,
    /// The acceptor's handshake decoder follows the encoding of the connection being read.
    pub(crate) selector: EncodingSelector,
    /// Entries to settle this cycle: deliver events, transmit, re-arm timers.
    pub(crate) dirty: WorkList,
    /// Entries whose connection the inline strategy asked to drop.
    pub(crate) drops: WorkList,
    pub(crate) handout: Handout,
    /// Acceptor sessions go to the inline strategy (else to handles).
    pub(crate) acceptor_inline: bool,
    /// Where acceptor sessions are journaled.
    pub(crate) acceptor_journal: Option<PathBuf>,
    pub(crate) retransmit_capacity: usize,
    pub(crate) reconnect_min_ns: u64,
    /// The limits each new session's guard starts with.
    pub(crate) limits: EngineLimits,
    /// The cancel-on-disconnect policy each new session starts with.
    pub(crate) cod_policy: Option<CancelOnDisconnect>,
    /// Log records of the engine (off until the builder sets it).
    pub(crate) log: EngineLog,
}

impl SessionTable {
    /// A table with room for the acceptor's capacity plus the initiators (which take the
    /// first entries, in order, with the modes given).
    pub(crate) fn new(
        acceptor: EngineAcceptor,
        initiators: Vec<(Initiator, Mode, Arc<SessionCounters>)>,
        selector: EncodingSelector,
        handout: Handout,
    ) -> Self {
        let capacity = acceptor.capacity() + initiators.len();
        let slots = acceptor.capacity();
        let mut table = SessionTable {
            entries: Vec::with_capacity(capacity),
            generations: vec![0; capacity],
            free: Vec::with_capacity(capacity),
            by_slot: vec![None; slots],
            acceptor,
            initiators: Vec::with_capacity(initiators.len()),
            selector,
            dirty: WorkList::new(capacity),
            drops: WorkList::new(capacity),
            handout,
            acceptor_inline: false,
            acceptor_journal: None,
            retransmit_capacity: 0,
            reconnect_min_ns: 0,
            limits: EngineLimits::default(),
            cod_policy: None,
            log: EngineLog::off(),
        };
        for (index, (mut init, mode, counters)) in initiators.into_iter().enumerate() {
            init.entry = index;
            table.entries.push(Some(Entry {
                place: Place::Initiator(index),
                encoding: init.config.encoding,
                conn: None,
                mode,
                counters,
                guard: SessionGuard::new(&EngineLimits::default(), None),
            }));
            table.initiators.push(init);
        }
        table.entries.resize_with(capacity, || None);
        table.free.extend((table.initiators.len()..capacity).rev());
        table
    }

    /// Sets the limits and cancel-on-disconnect policy of every session, those that exist
    /// (the initiators) and those to come.
    pub(crate) fn apply_limits(
        &mut self,
        limits: EngineLimits,
        cod_policy: Option<CancelOnDisconnect>,
    ) {
        for entry in self.entries.iter_mut().flatten() {
            entry.guard = SessionGuard::new(&limits, cod_policy);
        }
        self.limits = limits;
        self.cod_policy = cod_policy;
    }

    /// Entries the table can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The key of entry `index` (its current generation).
    pub(crate) fn key(&self, index: usize) -> SessionKey {
        SessionKey::new(index, self.generations.get(index).copied().unwrap_or(0))
    }

    /// The entry a key names, if it is still the same session.
    pub(crate) fn resolve(&self, key: SessionKey) -> Option<usize> {
        let index = key.index();
        (self.generations.get(index) == Some(&key.generation())
            && matches!(self.entries.get(index), Some(Some(_))))
        .then_some(index)
    }

    pub(crate) fn entry(&self, index: usize) -> Option<&Entry> {
        self.entries.get(index)?.as_ref()
    }

    pub(crate) fn entry_mut(&mut self, index: usize) -> Option<&mut Entry> {
        self.entries.get_mut(index)?.as_mut()
    }

    /// The entry of acceptor slot `slot`.
    pub(crate) fn at_slot(&self, slot: usize) -> Option<usize> {
        *self.by_slot.get(slot)?
    }

    pub(crate) fn session(&self, index: usize) -> Option<&EngineSession> {
        match self.entry(index)?.place {
            Place::Initiator(i) => self.initiators.get(i).map(|init| &init.session),
            Place::Acceptor(slot) => self.acceptor.session_at(slot),
        }
    }

    pub(crate) fn session_mut(&mut self, index: usize) -> Option<&mut EngineSession> {
        match self.entry(index)?.place {
            Place::Initiator(i) => self.initiators.get_mut(i).map(|init| &mut init.session),
            Place::Acceptor(slot) => self.acceptor.session_at_mut(slot),
        }
    }

    /// An entry and its session, both mutable.
    pub(crate) fn split(&mut self, index: usize) -> Option<(&mut Entry, &mut EngineSession)> {
        let entry = self.entries.get_mut(index)?.as_mut()?;
        let session = match entry.place {
            Place::Initiator(i) => self.initiators.get_mut(i).map(|init| &mut init.session),
            Place::Acceptor(slot) => self.acceptor.session_at_mut(slot),
        }?;
        Some((entry, session))
    }

    /// [`SessionTable::split`], with the engine's log and who the session is in it.
    pub(crate) fn split_logged(
        &mut self,
        index: usize,
    ) -> Option<(&mut Entry, &mut EngineSession, &EngineLog, SessionRef)> {
        let entry = self.entries.get_mut(index)?.as_mut()?;
        let session = match entry.place {
            Place::Initiator(i) => self.initiators.get_mut(i).map(|init| &mut init.session),
            Place::Acceptor(slot) => self.acceptor.session_at_mut(slot),
        }?;
        let who = SessionRef {
            id: session.session_id(),
            index: u32::try_from(index).unwrap_or(u32::MAX),
            role: session.role(),
        };
        Some((entry, session, &self.log, who))
    }

    /// Logs a session event of entry `index` (as it is delivered).
    pub(crate) fn log_event(&self, index: usize, event: &Event<'_>, now: u64) {
        if !self.log.is_on() {
            return;
        }
        if let Some(session) = self.session(index) {
            let who = SessionRef {
                id: session.session_id(),
                index: u32::try_from(index).unwrap_or(u32::MAX),
                role: session.role(),
            };
            let status = session.status();
            let seqs = (status.next_seq_to_send, status.next_seq_expected);
            self.log.session_event(now, who, event, seqs);
        }
    }

    /// The connection the session of `index` is bound to now.
    pub(crate) fn connection_of(&self, index: usize) -> Option<ConnectionId> {
        let entry = self.entry(index)?;
        match entry.place {
            Place::Initiator(_) => entry.conn,
            Place::Acceptor(slot) => self.acceptor.connection_at(slot),
        }
    }

    /// Records a delivered inbound message in the session's journal (if it has one).
    pub(crate) fn journal_inbound(&mut self, index: usize, seq: u64, recv_ns: u64, bytes: &[u8]) {
        if let Some((entry, session)) = self.split(index) {
            let encoding = entry.encoding;
            journal_inbound(session, seq, recv_ns, bytes, encoding);
        }
    }

    /// What the engine itself does on a session's events (both modes see the same).
    pub(crate) fn observe(&mut self, index: usize, event: &Event<'static>, now: u64) {
        if let Some(entry) = self.entry_mut(index) {
            entry.guard.observe(event, now);
        }
        self.observe_engine(index, event);
    }

    /// The engine's reactions to an event its guard has already seen.
    pub(crate) fn observe_engine(&mut self, index: usize, event: &Event<'static>) {
        let Some(entry) = self.entry(index) else {
            return;
        };
        match (entry.place, event) {
            (Place::Initiator(i), Event::StateChanged(SessionState::Established)) => {
                if let Some(init) = self.initiators.get_mut(i) {
                    init.backoff_ns = self.reconnect_min_ns;
                }
            }
            (Place::Initiator(i), Event::Finalized) => {
                if let Some(init) = self.initiators.get_mut(i) {
                    mark_generation_finalized(init.session.store_mut());
                }
            }
            (Place::Acceptor(slot), Event::Finalized) => {
                if let (Some(root), Some(session)) =
                    (&self.acceptor_journal, self.acceptor.session_at(slot))
                {
                    mark_finalized(root, session.session_id());
                }
            }
            _ => {}
        }
    }

    /// Makes the entry of the acceptor session in `slot`, now bound to `conn`, or updates the
    /// one it has (re-establishment). Returns the entry and whether it is new. A thread-mode
    /// session the application does not take (its queue of new sessions is full) is refused.
    pub(crate) fn bind_acceptor(
        &mut self,
        slot: usize,
        conn: ConnectionId,
        encoding: WireEncoding,
        now: u64,
    ) -> Option<(usize, bool)> {
        if let Some(index) = self.at_slot(slot) {
            if let Some(entry) = self.entry_mut(index) {
                entry.conn = Some(conn);
            }
            if matches!(self.entry(index).map(|e| &e.mode), Some(Mode::Detached)) {
                let mode = self.hand_out(index, slot, encoding, now);
                if let Some(entry) = self.entry_mut(index) {
                    entry.mode = mode;
                }
            }
            return Some((index, false));
        }
        let index = self.free.pop()?;
        if let Some(e) = self.by_slot.get_mut(slot) {
            *e = Some(index);
        }
        if let Some(e) = self.entries.get_mut(index) {
            *e = Some(Entry {
                place: Place::Acceptor(slot),
                encoding,
                conn: Some(conn),
                mode: Mode::Detached,
                counters: Arc::new(SessionCounters::default()),
                guard: SessionGuard::new(&self.limits, self.cod_policy),
            });
        }
        let mode = if self.acceptor_inline {
            Mode::Inline
        } else {
            self.hand_out(index, slot, encoding, now)
        };
        if let Some(entry) = self.entry_mut(index) {
            entry.mode = mode;
        }
        Some((index, true))
    }

    /// A thread-mode route for the acceptor session of entry `index`, its handle given to the
    /// application; `Detached` (and the binding refused) if the application is not taking
    /// new sessions.
    fn hand_out(&mut self, index: usize, slot: usize, encoding: WireEncoding, now: u64) -> Mode {
        let key = self.key(index);
        let Some(session_id) = self.acceptor.session_at(slot).map(|s| s.session_id()) else {
            return Mode::Detached;
        };
        let counters = match self.entry(index) {
            Some(entry) => Arc::clone(&entry.counters),
            None => return Mode::Detached,
        };
        let (route, handle) = Route::pair(
            key.raw(),
            session_id,
            encoding,
            self.handout.queue_capacity,
            &counters,
            &self.handout.doorbell,
            &self.handout.wake,
            (self.handout.clock, self.limits.outbound),
        );
        if self.handout.accepted.push(handle).is_err() {
            if let Some(session) = self.acceptor.session_at_mut(slot) {
                session.terminate(now, TerminateReason::Refused);
            }
            return Mode::Detached;
        }
        Mode::Thread(Box::new(route))
    }

    /// Frees entry `index` (its session is gone): its key names nothing from now on, and a
    /// thread-mode handle left behind never rings again.
    pub(crate) fn free_entry(&mut self, index: usize) {
        let Some(entry) = self.entries.get_mut(index).and_then(Option::take) else {
            return;
        };
        if let Mode::Thread(route) = &entry.mode {
            route.armed.store(true, Ordering::Release);
        }
        if let Place::Acceptor(slot) = entry.place {
            if let Some(e) = self.by_slot.get_mut(slot) {
                *e = None;
            }
        }
        if let Some(g) = self.generations.get_mut(index) {
            *g = g.wrapping_add(1);
        }
        self.free.push(index);
    }

    /// An initiator renegotiated under a new SessionId (the server did not know the old one):
    /// numbering restarts at 1, so its in-memory store starts empty too (a journal starts a
    /// new generation once established).
    pub(crate) fn renew_initiator_store(&mut self, i: usize) {
        let capacity = self.retransmit_capacity;
        let Some(init) = self.initiators.get_mut(i) else {
            return;
        };
        if init.session.session_id() == init.store_id {
            return;
        }
        init.store_id = init.session.session_id();
        if let EngineStore::Memory(store) = init.session.store_mut() {
            *store = MemoryStore::new(capacity, init.config.session.max_frame_len);
        }
    }
}
