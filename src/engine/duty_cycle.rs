//! The engine loop: one thread that owns listeners, connections and sessions, driven by mio
//! readiness, one clock read per duty cycle and an idle strategy.
//!
//! Each duty cycle: poll; accept and read the connections that are ready (each frame goes to
//! its session, and at once to its consumer: the inline strategy, or a thread-mode queue),
//! settling the sessions each read touched at once (events delivered, frames written, timers
//! re-armed), so an answer leaves before the next connection is read; connections whose last
//! read stopped at its budget; thread-mode commands from sessions that rang the doorbell;
//! timers that are due (one indexed heap for sessions and connections); the inline strategy's
//! `on_cycle`; the sessions touched since; rejects, pending flushes, drops and reaps.
//! Work per cycle follows what is active: no pass scans every connection or session.
//! A session's frames of one settle (strategy sends, heartbeats, replays) are queued on its
//! connection and flushed once at the end, so they share TLS records and one `write`.
//!
//! Owns: the order of the cycle, I/O calls, timer ids. May not touch: FIXP rules (the session
//! layer), wire formats (the codec), what strategies do (their API is `strategy`).

mod defence;
mod direct;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};

use crate::engine::clock::{ns, Clock};
use crate::engine::config::{EngineConfig, IdleMode, ShutdownMode, MAX_LISTENERS};
use crate::engine::conns::{slot_of, Conn, ConnTable, Owner, Phase};
use crate::engine::cores::PinError;
use crate::engine::deadlines::Deadlines;
use crate::engine::delivery::{deliver, Delivery, Handover, InboundTimer};
use crate::engine::handle::{Doorbell, SessionCounters};
use crate::engine::idle::{Backoff, BlockWithTimeout, BusySpin, IdleStrategy};
use crate::engine::journaling::ensure_generation;
use crate::engine::limits::{ConnGuard, ReplayBudget};
use crate::engine::link::{Link, Listener};
use crate::engine::log::{HandshakeFailure, LogEvent, ShortText};
use crate::engine::metrics::{EngineCounters, Stage, StageRecorders};
use crate::engine::ops::{session_ref, Ops};
use crate::engine::route::{apply, Applied};
use crate::engine::sessions::{EngineSession, Entry, Mode, Place, SessionTable};
use crate::engine::strategy::{Context, Strategy};
use crate::engine::worklist::WorkList;
use crate::session::{Role, SessionState, TerminateReason};
use crate::transport::{HandshakeProgress, ReadPass, ReadStatus, WireEncoding};

/// The poll token of the waker.
pub(crate) const WAKER: Token = Token(0);
/// Listener `n` polls under `LISTENER_BASE + n`.
pub(crate) const LISTENER_BASE: usize = 1;
/// Connection slot `n` polls under `CONN_BASE + n`.
const CONN_BASE: usize = LISTENER_BASE + MAX_LISTENERS;
const CLOSE_GOING_AWAY: u16 = 1001;
const METRICS_PUBLISH_CYCLES: u64 = 1024;

/// Durations of the configuration, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Times {
    handshake: u64,
    close: u64,
    slow_consumer: u64,
    reconnect_max: u64,
    shutdown: u64,
    negotiate: u64,
    establish: u64,
}

/// Everything the engine thread owns.
pub(crate) struct Engine<S: Strategy> {
    config: EngineConfig,
    times: Times,
    clock: Clock,
    poll: Poll,
    events: Events,
    /// This cycle's ready tokens and how to read each.
    ready: Vec<(Token, ReadPass)>,
    conns: ConnTable,
    listeners: Vec<Listener>,
    sessions: SessionTable,
    strategy: Option<S>,
    /// Where an inline session's message released from its event ring is copied.
    scratch: Vec<u8>,
    /// Session entries `0..E`, then connection slots `E..E + C`.
    timers: Deadlines,
    /// Connections whose last read stopped at its budget (no readiness will announce the rest).
    more: WorkList,
    /// Connections with bytes waiting for the socket.
    backlog: WorkList,
    /// Connections to drop.
    reap: WorkList,
    /// Thread-mode sessions with commands to take.
    commands: WorkList,
    /// Thread-mode sessions whose first command waits (back-pressure, not established).
    held: WorkList,
    /// Thread-mode sessions whose events wait for room in the strategy's queue.
    blocked: WorkList,
    doorbell: Doorbell,
    recorders: StageRecorders,
    counters: Arc<EngineCounters>,
    shutdown: Arc<AtomicBool>,
    shutting_down: Option<u64>,
    /// A listener stopped accepting for want of a free connection slot.
    accept_waiting: bool,
    /// Listeners that stopped at their accepts per cycle (their backlog waits for the next).
    accept_more: WorkList,
    /// Connection caps and the pre-session pool.
    guard: ConnGuard,
    /// Replay work left in this cycle.
    replay: ReplayBudget,
    /// Sessions whose replay stopped at the cap (continued next cycle).
    replays: WorkList,
    /// Status publication, admin commands, recovery watches.
    ops: Ops,
    /// Connections read every cycle in busy-poll mode (see `direct`).
    direct: direct::DirectReads,
}

/// The parts the builder hands to the engine thread.
pub(crate) struct EngineParts<S: Strategy> {
    pub(crate) config: EngineConfig,
    pub(crate) poll: Poll,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) sessions: SessionTable,
    pub(crate) strategy: Option<S>,
    pub(crate) doorbell: Doorbell,
    pub(crate) recorders: StageRecorders,
    pub(crate) counters: Arc<EngineCounters>,
    pub(crate) shutdown: Arc<AtomicBool>,
    /// The clock the handles share.
    pub(crate) clock: Clock,
    pub(crate) ops: Ops,
}

/// What the engine thread returns: stage values never published, and the strategy.
pub(crate) type EngineOutcome<S> = Result<(Vec<Histogram<u64>>, Option<S>), PinError>;

impl<S: Strategy> Engine<S> {
    pub(crate) fn new(parts: EngineParts<S>) -> Self {
        let config = parts.config;
        // Room for every session the engine can have (twice: a re-establishing client's new
        // connection may overlap its old one closing) on top of the pre-session pool, so
        // pre-session connections never take an established session's slot.
        let reserved = config.limits.pre_session.total as usize + 2 * parts.sessions.capacity();
        let conns = ConnTable::new(config.max_connections.max(reserved));
        let conn_slots = conns.capacity();
        let entries = parts.sessions.capacity();
        let mut frame = config.acceptor.session.max_frame_len;
        for init in &parts.sessions.initiators {
            frame = frame.max(init.config.session.max_frame_len);
        }
        let poll_events = (conn_slots + MAX_LISTENERS + 1).max(1024);
        let parts_listeners = parts.listeners.len();
        Engine {
            times: Times {
                handshake: ns(config.handshake_timeout),
                close: ns(config.close_timeout),
                slow_consumer: ns(config.slow_consumer_timeout),
                reconnect_max: ns(config.reconnect_max),
                shutdown: ns(config.shutdown_timeout),
                negotiate: ns(config.limits.negotiate_timeout),
                establish: ns(config.limits.establish_timeout),
            },
            clock: parts.clock,
            poll: parts.poll,
            events: Events::with_capacity(poll_events),
            ready: Vec::with_capacity(poll_events),
            conns,
            listeners: parts.listeners,
            sessions: parts.sessions,
            strategy: parts.strategy,
            scratch: vec![0; frame.max(1024)],
            timers: Deadlines::new(entries + conn_slots),
            more: WorkList::new(conn_slots),
            backlog: WorkList::new(conn_slots),
            reap: WorkList::new(conn_slots),
            commands: WorkList::new(entries),
            held: WorkList::new(entries),
            blocked: WorkList::new(entries),
            doorbell: parts.doorbell,
            recorders: parts.recorders,
            counters: parts.counters,
            shutdown: parts.shutdown,
            shutting_down: None,
            accept_waiting: false,
            accept_more: WorkList::new(MAX_LISTENERS),
            guard: ConnGuard::new(&config.limits, parts_listeners),
            replay: ReplayBudget::new(&config.limits, entries),
            replays: WorkList::new(entries),
            ops: parts.ops,
            direct: direct::DirectReads::new(match config.idle {
                IdleMode::BusyPoll => config.direct_reads,
                _ => 0,
            }),
            config,
        }
    }

    /// The thread's body: pin, count allocations if asked, loop until shut down.
    pub(crate) fn run(mut self) -> EngineOutcome<S> {
        if self.config.count_allocations {
            crate::alloc_count::track_current_thread(true);
        }
        if let Some((cores, index)) = &self.config.pin {
            cores.pin_current(*index)?;
        }
        self.start_sessions();
        match self.config.idle {
            IdleMode::BusyPoll => self.run_with(&mut BusySpin),
            IdleMode::SpinThenYield => {
                let mut idle =
                    Backoff::new(100, 10, Duration::from_micros(1), Duration::from_millis(1));
                self.run_with(&mut idle);
            }
            IdleMode::Block(timeout) => {
                let mut idle = BlockWithTimeout {
                    timeout: Some(timeout),
                };
                self.run_with(&mut idle);
            }
        }
        let Engine {
            recorders,
            strategy,
            ..
        } = self;
        Ok((recorders.into_unpublished(), strategy))
    }

    /// Inline initiators meet their strategy; every initiator connects in the first cycle.
    fn start_sessions(&mut self) {
        let now = self.clock.now();
        for i in 0..self.sessions.initiators.len() {
            let Some(index) = self.sessions.initiators.get(i).map(|init| init.entry) else {
                continue;
            };
            self.timers.set(index, Some(0));
            let inline = matches!(
                self.sessions.entry(index).map(|e| &e.mode),
                Some(Mode::Inline)
            );
            if let (true, Some(strategy)) = (inline, self.strategy.as_mut()) {
                let key = self.sessions.key(index);
                strategy.on_session(&mut Context::new(now, &mut self.sessions), key);
                self.sessions.dirty.push(index);
            }
        }
    }

    fn run_with<I: IdleStrategy>(&mut self, idle: &mut I) {
        let mut timeout = idle.poll_timeout();
        let mut cycles: u64 = 0;
        let mut direct_cycles: u64 = 0;
        let mut was_direct = false;
        loop {
            let direct = self.direct.applies(self.conns.live());
            direct_cycles += u64::from(direct);
            if direct != was_direct {
                // Published at each switch too, so a reader sees the mode change at once.
                was_direct = direct;
                self.publish_cycles(cycles, direct_cycles);
            }
            if direct && !cycles.is_multiple_of(direct::POLL_EVERY) {
                self.events.clear();
            } else if self.poll.poll(&mut self.events, timeout).is_err() {
                // EINTR and friends: try again next cycle.
                self.events.clear();
            }
            let now = self.clock.now();
            let work = self.duty_cycle(now, direct);
            self.ops.status.note_work(work);
            self.publish_status(now);
            cycles += 1;
            if work > 0 && self.config.timings {
                let spent = self.clock.now().saturating_sub(now);
                self.recorders.record(Stage::DutyCycle, spent);
            }
            if work == 0 || cycles.is_multiple_of(METRICS_PUBLISH_CYCLES) {
                self.recorders.publish();
                self.publish_cycles(cycles, direct_cycles);
            }
            if self.finished(now) {
                break;
            }
            idle.idle(work);
            timeout = self.next_timeout(idle.poll_timeout());
        }
        self.publish_cycles(cycles, direct_cycles);
    }

    /// Publishes the cycle counts (all, and those that read directly).
    fn publish_cycles(&self, cycles: u64, direct_cycles: u64) {
        self.counters.cycles.store(cycles, Ordering::Relaxed);
        self.counters
            .direct_cycles
            .store(direct_cycles, Ordering::Relaxed);
    }

    /// The status of the next sessions of a publication round, if one is due.
    fn publish_status(&mut self, now: u64) {
        let conns = &self.conns;
        let sessions = &self.sessions;
        self.ops.publish_status(now, sessions, |index| {
            let conn = conns.by_id(sessions.connection_of(index)?)?;
            Some((conn.link.transport(), conn.peer_addr))
        });
    }

    /// The poll timeout: the idle strategy's, cut short by work that needs no readiness and
    /// by the earliest timer (the engine's or the strategy's).
    fn next_timeout(&self, idle: Option<Duration>) -> Option<Duration> {
        if idle.is_some_and(|t| t.is_zero()) {
            return idle;
        }
        let immediate = !self.more.is_empty()
            || !self.sessions.dirty.is_empty()
            || !self.sessions.drops.is_empty()
            || !self.commands.is_empty()
            || !self.reap.is_empty()
            || !self.replays.is_empty()
            || !self.accept_more.is_empty();
        if immediate {
            return Some(Duration::ZERO);
        }
        let strategy = self.strategy.as_ref().and_then(Strategy::next_deadline);
        let deadline = [self.timers.earliest(), strategy, self.ops.status.deadline()]
            .into_iter()
            .flatten()
            .min();
        let until = deadline.map(|d| Duration::from_nanos(d.saturating_sub(self.clock.now())));
        match (idle, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (None, b) => b,
            (a, None) => a,
        }
    }

    fn finished(&self, now: u64) -> bool {
        let Some(started) = self.shutting_down else {
            return false;
        };
        self.conns.is_empty() || now.saturating_sub(started) >= self.times.shutdown
    }

    fn duty_cycle(&mut self, now: u64, direct: bool) -> usize {
        let mut work = 0;
        self.replay.next_cycle();
        for _ in 0..self.replays.len() {
            // Replays cut short by the last cycle's cap go on with this cycle's budget.
            if let Some(index) = self.replays.pop() {
                self.sessions.dirty.push(index);
            }
        }
        self.ready.clear();
        for event in self.events.iter() {
            if self.ready.len() < self.ready.capacity() {
                // A hang-up or error that came with the data: read to the end, not to the
                // first short read (the EOF or error is what follows it).
                let pass = if event.is_read_closed() || event.is_error() {
                    ReadPass::Drain
                } else {
                    ReadPass::UntilShortRead
                };
                self.ready.push((event.token(), pass));
            }
        }
        work += self.ready.len();
        if self.shutdown.load(Ordering::Acquire) && self.shutting_down.is_none() {
            self.begin_shutdown(now);
            work += 1;
        }
        for i in 0..self.ready.len() {
            let Some(&(token, pass)) = self.ready.get(i) else {
                break;
            };
            if token.0 >= CONN_BASE {
                let slot = token.0 - CONN_BASE;
                if direct && self.conns.get(slot).is_some_and(direct::listed) {
                    // Its read comes in the direct pass below (a pending flush is retried
                    // every cycle from the backlog, with or without WRITABLE).
                    continue;
                }
                self.drive_conn(slot, pass, now);
                // Answers go out now, not after every other ready connection was read.
                work += self.settle_dirty(now);
            } else if token.0 >= LISTENER_BASE {
                self.accept_all(token.0 - LISTENER_BASE, now);
            }
        }
        for _ in 0..self.accept_more.len() {
            if let Some(index) = self.accept_more.pop() {
                self.accept_all(index, now);
            }
        }
        for _ in 0..self.more.len() {
            let Some(slot) = self.more.pop() else {
                break;
            };
            work += 1;
            self.drive_conn(slot, ReadPass::Drain, now);
            work += self.settle_dirty(now);
        }
        if direct {
            work += self.read_direct(now);
        }
        work += self.take_commands(now);
        work += self.ops.apply_commands(now, &mut self.sessions);
        work += self.retry_blocked(now);
        work += self.fire_timers(now);
        if let Some(strategy) = self.strategy.as_mut() {
            work += strategy.on_cycle(&mut Context::new(now, &mut self.sessions));
        }
        work += self.settle_dirty(now);
        work += self.send_rejects(now);
        work += self.flush_backlog();
        work += self.apply_drops(now);
        work += self.reap_conns(now);
        work += self.settle_dirty(now);
        work
    }

    // ----- connections -----

    /// After anything happened on a connection: queue it for reaping or flushing, re-arm its
    /// timer.
    fn after_conn(&mut self, slot: usize) {
        let id = self.sessions.capacity() + slot;
        let Some(conn) = self.conns.get(slot) else {
            self.timers.set(id, None);
            return;
        };
        if conn.is_done() {
            self.reap.push(slot);
        }
        if conn.needs_flush() {
            self.backlog.push(slot);
        }
        self.timers.set(id, conn.timer(self.times.slow_consumer));
    }

    /// Accepts what listener `index` has waiting, up to the accepts per cycle; each socket is
    /// admitted (caps, pre-session pool) before its handshake starts, or closed at once.
    fn accept_all(&mut self, index: usize, now: u64) {
        for _ in 0..self.config.limits.accepts_per_cycle.max(1) {
            if self.shutting_down.is_some() {
                return;
            }
            if self.conns.next_id().is_none() {
                self.accept_waiting = true;
                return;
            }
            let Some(listener) = self.listeners.get_mut(index) else {
                return;
            };
            let (socket, addr) = match listener.accept_socket() {
                Ok(Some(accepted)) => accepted,
                Ok(None) | Err(_) => return,
            };
            if !self.admit_socket(index, addr.ip(), now) {
                // Closed before any TLS or WebSocket state exists.
                drop(socket);
                continue;
            }
            let Some((slot, id)) = self.conns.next_id() else {
                return;
            };
            let token = Token(CONN_BASE + slot);
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            match listener.start(socket, self.poll.registry(), token) {
                Ok(link) => {
                    self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    // Before its first frame: how bindings on it end (TCP: Terminate).
                    let template = self.config.acceptor.session.termination;
                    let termination = link.termination(template, self.config.close_timeout);
                    if self.sessions.acceptor.termination_of(id) != termination {
                        self.sessions.acceptor.set_termination(id, termination);
                    }
                    self.conns.insert(Conn::new(
                        link,
                        id,
                        Owner::Server(index),
                        WireEncoding::Sbe,
                        now.saturating_add(self.times.handshake),
                        self.config.send_buffer_bytes,
                    ));
                    self.opened(index, addr.ip(), slot);
                    if let Some(conn) = self.conns.get_mut(slot) {
                        conn.peer_addr = Some(addr);
                    }
                    self.drive_conn(slot, ReadPass::Drain, now);
                }
                Err(_) => {
                    self.counters
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // More may wait in the backlog; no new readiness will say so.
        self.accept_more.push(index);
    }

    fn connect(&mut self, i: usize, now: u64) {
        let Some((slot, id)) = self.conns.next_id() else {
            self.schedule_reconnect(i, now);
            return;
        };
        let token = Token(CONN_BASE + slot);
        let Some(init) = self.sessions.initiators.get_mut(i) else {
            return;
        };
        init.reconnect_at = None;
        init.attempts += 1;
        let (attempt, peer) = (init.attempts, init.config.target.addr);
        let index = init.entry;
        if attempt > 1 {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            if let Some(session) = session_ref(&self.sessions, index) {
                self.sessions
                    .log
                    .record(now, || LogEvent::Reconnecting { session, attempt });
            }
        }
        let Some(init) = self.sessions.initiators.get_mut(i) else {
            return;
        };
        match Link::connect(&init.config, self.poll.registry(), token) {
            Ok(link) => {
                init.conn = Some(slot);
                // Before `handle_connected`: how this binding ends (TCP: Terminate).
                let template = init.config.session.termination;
                let termination = link.termination(template, self.config.close_timeout);
                init.session.set_termination(termination);
                let encoding = init.config.encoding;
                if let Some(entry) = self.sessions.entry_mut(index) {
                    entry.conn = Some(id);
                    SessionCounters::bump(&entry.counters.connections);
                }
                self.conns.insert(Conn::new(
                    link,
                    id,
                    Owner::Client(i),
                    encoding,
                    now.saturating_add(self.times.handshake),
                    self.config.send_buffer_bytes,
                ));
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.entry = Some(index);
                    conn.peer_addr = Some(peer);
                }
                self.after_conn(slot);
            }
            Err(e) => {
                let never = crate::session::ConnectionId(0);
                self.sessions
                    .log
                    .handshake_failed(now, never, Role::Client, Some(peer), &e);
                if let Some(entry) = self.sessions.entry(index) {
                    SessionCounters::bump(&entry.counters.connections);
                }
                self.schedule_reconnect(i, now);
            }
        }
    }

    fn schedule_reconnect(&mut self, i: usize, now: u64) {
        let max = self.times.reconnect_max;
        let shutting_down = self.shutting_down.is_some();
        let Some(init) = self.sessions.initiators.get_mut(i) else {
            return;
        };
        let state = init.session.state();
        if init.done
            || shutting_down
            || matches!(state, SessionState::Finalized | SessionState::Rejected)
        {
            init.reconnect_at = None;
        } else {
            init.reconnect_at = Some(now.saturating_add(init.backoff_ns));
            init.backoff_ns = init.backoff_ns.saturating_mul(2).min(max);
        }
        let index = init.entry;
        self.sessions.dirty.push(index);
    }

    /// Handles readiness of one connection: handshake progress, reads, flushes.
    fn drive_conn(&mut self, slot: usize, pass: ReadPass, now: u64) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.phase == Phase::Handshake {
            match conn.link.poll_handshake() {
                Ok(HandshakeProgress::InProgress) => {
                    self.after_conn(slot);
                    return;
                }
                Ok(HandshakeProgress::Open) => {
                    conn.phase = Phase::Open;
                    conn.deadline = None;
                    self.direct.list(slot, conn);
                    if let Some(encoding) = conn.link.encoding() {
                        conn.encoding = encoding;
                    }
                    if let Owner::Server(_) = conn.owner {
                        self.start_negotiate_timer(slot, now);
                    }
                    let Some(conn) = self.conns.get_mut(slot) else {
                        return;
                    };
                    let (connection, role) = (conn.id.0, role_of(conn.owner));
                    let (transport, peer) = (conn.link.transport(), conn.peer_addr);
                    self.sessions.log.record(now, || LogEvent::Connected {
                        connection,
                        role,
                        transport,
                        peer,
                    });
                    if let Owner::Client(i) = conn.owner {
                        if let Some(init) = self.sessions.initiators.get_mut(i) {
                            if conn.encoding == init.config.encoding {
                                init.session.handle_connected(now);
                                self.sessions.dirty.push(init.entry);
                            } else {
                                conn.dead = true;
                                init.done = true;
                                let peer = conn.peer_addr;
                                self.sessions.log.record(now, || LogEvent::HandshakeFailed {
                                    connection,
                                    role,
                                    peer,
                                    reason: HandshakeFailure::WrongSubprotocol,
                                    detail: ShortText::EMPTY,
                                });
                            }
                        }
                    }
                }
                Err(e) => {
                    self.counters
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    let role = role_of(conn.owner);
                    self.sessions
                        .log
                        .handshake_failed(now, conn.id, role, conn.peer_addr, &e);
                    if let Owner::Server(index) = conn.owner {
                        if let Some(listener) = self.listeners.get_mut(index) {
                            listener.record_handshake_failure(&conn.link);
                        }
                    }
                    conn.dead = true;
                    self.after_conn(slot);
                    return;
                }
            }
        }
        let more = self.read_conn(slot, pass, now);
        self.after_read(slot, more, now);
    }

    /// After a read of connection `slot` (`more`: it stopped at its budget): its writes, a
    /// peer's Close, its session's settling, its timer.
    fn after_read(&mut self, slot: usize, more: bool, now: u64) {
        if more {
            self.more.push(slot);
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // Writes: the transport's backlog, then frames waiting in our buffer.
        conn.flush();
        let peer_code = conn.link.close_report().peer_code;
        if let (Some(code), false) = (peer_code, conn.peer_close_seen) {
            conn.peer_close_seen = true;
            if conn.phase == Phase::Open {
                conn.begin_closing(now, self.times.close);
            }
            match conn.owner {
                Owner::Server(_) => self.sessions.acceptor.handle_close(now, conn.id, code),
                Owner::Client(i) => {
                    if let Some(init) = self.sessions.initiators.get_mut(i) {
                        init.session.handle_close(now, code);
                    }
                }
            }
        }
        if let Some(index) = conn.entry {
            self.sessions.dirty.push(index);
        }
        self.after_conn(slot);
    }

    /// Reads the frames of an open connection: each goes to its session and at once to the
    /// session's consumer. Returns true when the read stopped at its budget.
    fn read_conn(&mut self, slot: usize, pass: ReadPass, now: u64) -> bool {
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        if conn.dead {
            return false;
        }
        let Conn {
            link,
            id,
            owner,
            encoding,
            entry: bound,
            phase,
            deadline,
            dead,
            peer,
            ..
        } = conn;
        let (id, owner, encoding) = (*id, *owner, *encoding);
        let peer = peer.as_deref();
        let establish_ns = self.times.establish;
        let sessions = &mut self.sessions;
        let strategy = &mut self.strategy;
        let scratch = &mut self.scratch;
        let recorders = self.config.timings.then_some(&mut self.recorders);
        let mut timer = InboundTimer::new(self.clock, recorders);
        let budget = read_budget(sessions, *bound, self.config.drain_limit);
        if let Owner::Server(_) = owner {
            sessions.selector.set(encoding);
        }
        let status = link.read_frames_in(pass, budget, |kind, bytes| {
            let read_ns = timer.read_time(now);
            let lend = bound.is_none_or(|index| lends(sessions, index));
            let lent = match owner {
                // A Close was polled for this connection and no session holds it: the
                // acceptor does not remember it, so nothing more is handed over.
                Owner::Server(_) if bound.is_none() && *phase == Phase::Closing => None,
                Owner::Server(_) => {
                    let lent = if lend {
                        sessions
                            .acceptor
                            .handle_frame_lending_from(now, id, peer, bytes, kind)
                            .map(|(_, seq)| seq)
                    } else {
                        sessions
                            .acceptor
                            .handle_frame_from(now, id, peer, bytes, kind);
                        None
                    };
                    if bound.is_none() {
                        *bound = bind_new(sessions, strategy, id, encoding, now);
                        if bound.is_some() && *phase == Phase::Open {
                            // Negotiated: the Negotiate-to-Establish timeout runs.
                            *deadline = Some(now.saturating_add(establish_ns));
                        }
                    }
                    lent
                }
                Owner::Client(i) => match sessions.initiators.get_mut(i) {
                    Some(init) if lend => init.session.handle_frame_lending(now, bytes, kind),
                    Some(init) => {
                        init.session.handle_frame(now, bytes, kind);
                        None
                    }
                    None => None,
                },
            };
            let Some(index) = *bound else {
                return;
            };
            if let Some(session) = sessions.session_mut(index) {
                // The generation starts before the first inbound message is recorded.
                ensure_generation(session);
            }
            let handover = Handover {
                lent: lent.map(|seq| (seq, bytes)),
                now,
                recv_ns: read_ns,
            };
            let delivery = deliver(sessions, strategy, scratch, index, handover, &mut timer);
            if delivery.blocked {
                // Picked up by `retry_blocked` (reads wait: the budget is the queue's room).
                sessions.dirty.push(index);
            }
        });
        let (status, more) = match status {
            Ok((status, more)) => (Ok(status), more),
            Err(e) => (Err(e), false),
        };
        match status {
            Ok(ReadStatus::Drained) => {}
            Ok(ReadStatus::Closing) => {
                if *phase != Phase::Closing {
                    *phase = Phase::Closing;
                    *deadline = Some(now.saturating_add(self.times.close));
                }
            }
            Ok(ReadStatus::Closed(_)) | Err(_) => *dead = true,
        }
        more
    }

    /// Drops a connection now (no closing handshake) and tells its session.
    fn drop_conn(&mut self, slot: usize, now: u64) {
        let Some(mut conn) = self.conns.take(slot) else {
            return;
        };
        let _ = conn.link.deregister(self.poll.registry());
        self.timers.set(self.sessions.capacity() + slot, None);
        if let Owner::Server(listener) = conn.owner {
            if self.closing_counts(&conn, listener, now) {
                conn.entry = None;
            }
        }
        if conn.link.fault().is_some() {
            // A TCP stream whose framing failed (counted once, when it is dropped).
            self.counters.framing_faults.fetch_add(1, Ordering::Relaxed);
        }
        match conn.owner {
            Owner::Server(_) => {
                self.sessions.acceptor.handle_disconnected(now, conn.id);
                if let Some(index) = conn.entry {
                    let mut gone = false;
                    if let Some(entry) = self.sessions.entry_mut(index) {
                        if entry.conn == Some(conn.id) {
                            entry.conn = None;
                        }
                        if let Place::Acceptor(s) = entry.place {
                            gone = self.sessions.acceptor.session_at(s).is_none();
                        }
                    }
                    if gone {
                        self.forget(index, now);
                    } else {
                        self.sessions.dirty.push(index);
                    }
                }
            }
            Owner::Client(i) => {
                if let Some(init) = self.sessions.initiators.get_mut(i) {
                    init.session.handle_disconnected(now);
                    init.conn = None;
                    let index = init.entry;
                    if let Some(entry) = self.sessions.entry_mut(index) {
                        entry.conn = None;
                    }
                }
                self.schedule_reconnect(i, now);
            }
        }
    }

    /// A connection's socket stayed full: end its binding with a reason and close it.
    fn slow_consumer(&mut self, slot: usize, now: u64) {
        self.counters.slow_consumers.fetch_add(1, Ordering::Relaxed);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.owner {
            Owner::Server(_) => {
                let at = self.sessions.acceptor.slot_on(conn.id);
                if let Some(session) = at.and_then(|s| self.sessions.acceptor.session_at_mut(s)) {
                    session.terminate(now, TerminateReason::OutboxOverflow);
                }
            }
            Owner::Client(i) => {
                if let Some(init) = self.sessions.initiators.get_mut(i) {
                    init.session.terminate(now, TerminateReason::OutboxOverflow);
                }
            }
        }
        conn.begin_closing(now, self.times.close);
        let (connection, bound) = (conn.id.0, conn.entry);
        if let Some(index) = bound {
            self.sessions.dirty.push(index);
        }
        let session = bound.and_then(|index| session_ref(&self.sessions, index));
        self.sessions.log.record(now, || LogEvent::SlowConsumer {
            connection,
            session,
        });
        self.after_conn(slot);
    }

    fn send_rejects(&mut self, now: u64) -> usize {
        let mut work = 0;
        while let Some((id, transmit)) = self.sessions.acceptor.poll_reject() {
            work += 1;
            // A reject for a connection that is gone: the epoch fences it off.
            let Some(conn) = self.conns.by_id_mut(id) else {
                continue;
            };
            self.sessions.log.refusal(now, id, conn.encoding, &transmit);
            let fits = conn.put(transmit, now, self.times.close);
            conn.end_batch();
            let slot = slot_of(id);
            if !fits {
                self.slow_consumer(slot, now);
            }
            self.after_conn(slot);
        }
        work
    }

    /// Bytes the transport or our buffer still hold (a record or frame that met a full socket).
    fn flush_backlog(&mut self) -> usize {
        let mut work = 0;
        for _ in 0..self.backlog.len() {
            let Some(slot) = self.backlog.pop() else {
                break;
            };
            if let Some(conn) = self.conns.get_mut(slot) {
                work += 1;
                conn.flush();
            }
            self.after_conn(slot);
        }
        work
    }

    /// Connections the inline strategy asked to drop.
    fn apply_drops(&mut self, now: u64) -> usize {
        let mut work = 0;
        while let Some(index) = self.sessions.drops.pop() {
            work += usize::from(self.drop_session_conn(index, now));
        }
        work
    }

    /// Drops the connection of session entry `index`, if it has one. True if it did.
    fn drop_session_conn(&mut self, index: usize, now: u64) -> bool {
        let Some(id) = self.sessions.connection_of(index) else {
            return false;
        };
        if self.conns.by_id_mut(id).is_none() {
            return false;
        }
        self.drop_conn(slot_of(id), now);
        true
    }

    fn reap_conns(&mut self, now: u64) -> usize {
        let mut work = 0;
        for _ in 0..self.reap.len() {
            let Some(slot) = self.reap.pop() else {
                break;
            };
            if self.conns.get(slot).is_some_and(Conn::is_done) {
                work += 1;
                self.drop_conn(slot, now);
            }
        }
        if work > 0 && self.accept_waiting {
            // Connections that waited in a listener's backlog for a free slot: no new
            // readiness will announce them.
            self.accept_waiting = false;
            for index in 0..self.listeners.len() {
                self.accept_all(index, now);
            }
        }
        work
    }

    // ----- sessions -----

    /// Settles every session touched this cycle.
    fn settle_dirty(&mut self, now: u64) -> usize {
        let mut work = 0;
        // A strategy that keeps answering its own events could keep the list full: the rest
        // waits for the next cycle.
        let mut budget = 4 * self.sessions.capacity() + 16;
        while let Some(index) = self.sessions.dirty.pop() {
            work += self.settle(index, now);
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        work
    }

    /// Delivers a session's events, finishes its flow after the peer's if configured, writes
    /// its frames, re-arms its timer and forgets it once the acceptor freed it.
    fn settle(&mut self, index: usize, now: u64) -> usize {
        let Some(place) = self.sessions.entry(index).map(|e| e.place) else {
            return 0;
        };
        if let Place::Initiator(i) = place {
            self.sessions.renew_initiator_store(i);
        }
        if let Some(session) = self.sessions.session_mut(index) {
            ensure_generation(session);
        }
        let delivery = self.deliver_queued(index, now);
        if delivery.blocked {
            self.blocked.push(index);
        }
        self.finalize_with_peer(index, now);
        // Before and after the transmit: a short replay can start and finish inside it.
        self.ops.watch_recovery(&self.sessions, index, now);
        let sent = self.transmit(index, now);
        self.ops.watch_recovery(&self.sessions, index, now);
        self.arm(index);
        if let Place::Acceptor(slot) = place {
            self.promote(index);
            let drained = self
                .sessions
                .acceptor
                .session_at(slot)
                .is_none_or(|s| s.state() == SessionState::Finalized && !s.has_event());
            if drained && self.sessions.acceptor.release_finished(slot) {
                self.forget(index, now);
            }
        }
        delivery.moved + sent
    }

    /// Delivers the events queued in a session (none comes from a frame being read).
    fn deliver_queued(&mut self, index: usize, now: u64) -> Delivery {
        let mut timer = InboundTimer::off(self.clock);
        let handover = Handover {
            lent: None,
            now,
            recv_ns: now,
        };
        deliver(
            &mut self.sessions,
            &mut self.strategy,
            &mut self.scratch,
            index,
            handover,
            &mut timer,
        )
    }

    /// An acceptor session finishes its own flow once the client finished its flow and its
    /// strategy has nothing queued.
    fn finalize_with_peer(&mut self, index: usize, now: u64) {
        if !self.config.finalize_with_peer {
            return;
        }
        let Some((entry, session)) = self.sessions.split(index) else {
            return;
        };
        let quiet = match &entry.mode {
            Mode::Inline => true,
            Mode::Thread(route) => !route.has_commands(),
            Mode::Detached => false,
        };
        if !quiet || !matches!(entry.place, Place::Acceptor(_)) {
            return;
        }
        let status = session.status();
        if status.peer_finished_sending && !status.finished_sending {
            session.finalize(now);
        }
    }

    /// Writes every frame the session has queued to its connection. Returns the frames.
    fn transmit(&mut self, index: usize, now: u64) -> usize {
        let Some(id) = self.sessions.connection_of(index) else {
            return 0;
        };
        let (Some(conn), Some(session)) =
            (self.conns.by_id_mut(id), self.sessions.session_mut(index))
        else {
            return 0;
        };
        let grant = self.replay.grant(index);
        let (frames, fits, replayed) = write_frames(session, conn, now, self.times.close, grant);
        if replayed > 0 {
            self.replay.spend(index, replayed);
            self.counters
                .replayed
                .fetch_add(u64::from(replayed), Ordering::Relaxed);
        }
        if session.replay_pending() && conn.buffer.is_empty() && conn.phase == Phase::Open {
            // Stopped at the cap: the rest waits for the next cycle. (A replay stopped by a
            // full socket goes on when the socket drains.)
            self.counters
                .replay_deferred
                .fetch_add(1, Ordering::Relaxed);
            self.replays.push(index);
        }
        self.counters
            .send_buffer_peak
            .fetch_max(conn.buffer.len() as u64, Ordering::Relaxed);
        let slot = slot_of(id);
        if !fits {
            self.slow_consumer(slot, now);
        }
        self.after_conn(slot);
        frames
    }

    /// Re-arms a session's timer: its own deadline, and an initiator's reconnect.
    fn arm(&mut self, index: usize) {
        let Some(entry) = self.sessions.entry(index) else {
            self.timers.set(index, None);
            return;
        };
        let reconnect = match entry.place {
            Place::Initiator(i) => self
                .sessions
                .initiators
                .get(i)
                .filter(|init| init.conn.is_none())
                .and_then(|init| init.reconnect_at),
            Place::Acceptor(_) => None,
        };
        let guard = [entry.guard.cod.deadline(), entry.guard.throttled_until];
        let own = self
            .sessions
            .session(index)
            .and_then(EngineSession::next_deadline);
        let deadline = [own, reconnect].into_iter().chain(guard).flatten().min();
        self.timers.set(index, deadline);
    }

    /// The session of entry `index` is gone: forget it (its strategy is told).
    fn forget(&mut self, index: usize, now: u64) {
        self.timers.set(index, None);
        let inline = matches!(
            self.sessions.entry(index).map(|e| &e.mode),
            Some(Mode::Inline)
        );
        let key = self.sessions.key(index);
        self.sessions.free_entry(index);
        if let (true, Some(strategy)) = (inline, self.strategy.as_mut()) {
            strategy.on_session_freed(&mut Context::new(now, &mut self.sessions), key);
        }
    }

    fn fire_timers(&mut self, now: u64) -> usize {
        let entries = self.sessions.capacity();
        let mut work = 0;
        let mut budget = entries + self.conns.capacity();
        while let Some(id) = self.timers.pop_due(now) {
            work += 1;
            if id < entries {
                self.fire_session(id, now);
            } else {
                self.fire_conn(id - entries, now);
            }
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
        }
        work
    }

    fn fire_session(&mut self, index: usize, now: u64) {
        let Some(entry) = self.sessions.entry_mut(index) else {
            return;
        };
        let place = entry.place;
        if let Some(cancel) = entry.guard.cod.fire(now) {
            entry.guard.notify(cancel);
            self.counters
                .cancel_on_disconnect
                .fetch_add(1, Ordering::Relaxed);
        }
        if entry.guard.throttled_until.is_some_and(|t| t <= now) {
            // The held send goes again (the held list is retried each cycle).
            entry.guard.throttled_until = None;
            self.held.push(index);
        }
        match place {
            Place::Initiator(i) => {
                let mut connect = false;
                if let Some(init) = self.sessions.initiators.get_mut(i) {
                    if init.session.next_deadline().is_some_and(|d| d <= now) {
                        init.session.handle_timeout(now);
                    }
                    if init.reconnect_at.is_some_and(|at| at <= now) && init.conn.is_none() {
                        if self.shutting_down.is_some() {
                            init.reconnect_at = None;
                        } else {
                            connect = true;
                        }
                    }
                }
                if connect {
                    self.connect(i, now);
                }
                self.sessions.dirty.push(index);
            }
            Place::Acceptor(slot) => {
                if self.sessions.acceptor.handle_timeout_at(now, slot) {
                    self.forget(index, now);
                } else {
                    self.sessions.dirty.push(index);
                }
            }
        }
    }

    fn fire_conn(&mut self, slot: usize, now: u64) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.deadline.is_some_and(|d| d <= now) {
            if conn.phase == Phase::Open && conn.pooled {
                // Open, but no session established in time.
                self.pre_session_timeout(slot, now);
                self.after_conn(slot);
                return;
            }
            if conn.phase == Phase::Handshake {
                self.counters
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
                let (connection, role, peer) = (conn.id.0, role_of(conn.owner), conn.peer_addr);
                self.sessions.log.record(now, || LogEvent::HandshakeFailed {
                    connection,
                    role,
                    peer,
                    reason: HandshakeFailure::Timeout,
                    detail: ShortText::EMPTY,
                });
            }
            conn.deadline = None;
            conn.dead = true;
        } else if conn
            .stalled_since
            .is_some_and(|t| now.saturating_sub(t) >= self.times.slow_consumer)
        {
            conn.stalled_since = None;
            conn.buffer.clear();
            self.slow_consumer(slot, now);
        }
        self.after_conn(slot);
    }

    // ----- thread-mode commands -----

    /// Takes commands of the sessions that rang the doorbell (and retries held ones).
    fn take_commands(&mut self, now: u64) -> usize {
        if self.doorbell.overflow.load(Ordering::Relaxed)
            && self.doorbell.overflow.swap(false, Ordering::AcqRel)
        {
            // More rings than the doorbell holds: look at every thread-mode session once.
            for index in 0..self.sessions.capacity() {
                if let Some(Mode::Thread(route)) = self.sessions.entry(index).map(|e| &e.mode) {
                    route.armed.store(false, Ordering::Release);
                    self.commands.push(index);
                }
            }
        }
        while let Some(key) = self.doorbell.queue.pop() {
            let Some(index) = self
                .sessions
                .resolve(crate::engine::strategy::SessionKey::new(
                    key.0 as usize,
                    key.1,
                ))
            else {
                continue;
            };
            if let Some(Mode::Thread(route)) = self.sessions.entry(index).map(|e| &e.mode) {
                // Cleared before the queue is read: a command queued after this rings again.
                route.armed.swap(false, Ordering::AcqRel);
                self.commands.push(index);
            }
        }
        let mut work = 0;
        for _ in 0..self.commands.len() {
            let Some(index) = self.commands.pop() else {
                break;
            };
            work += self.drain_commands(index, now);
        }
        for _ in 0..self.held.len() {
            let Some(index) = self.held.pop() else {
                break;
            };
            let throttled = self
                .sessions
                .entry(index)
                .and_then(|e| e.guard.throttled_until)
                .is_some_and(|at| at > now);
            if throttled {
                // Its timer retries it once the outbound limit allows.
                self.held.push(index);
                continue;
            }
            work += self.drain_commands(index, now);
        }
        work
    }

    /// Applies up to `drain_limit` commands of one thread-mode session. Returns how many were
    /// applied.
    fn drain_commands(&mut self, index: usize, now: u64) -> usize {
        let timings = self.config.timings;
        let mut applied = 0;
        let mut waiting = false;
        let mut drop = false;
        let mut terminated = false;
        for _ in 0..self.config.drain_limit {
            let Some((entry, session)) = self.sessions.split(index) else {
                break;
            };
            let Entry {
                mode,
                counters,
                guard,
                ..
            } = entry;
            let Mode::Thread(route) = mode else {
                break;
            };
            let Some(command) = route.pending.take().or_else(|| route.to_engine.pop()) else {
                break;
            };
            let popped = if timings { self.clock.now() } else { now };
            match apply(session, route, (counters, guard), command, now) {
                Applied::Sent => {
                    applied += 1;
                    if timings {
                        // Pop → session → socket write for this message.
                        self.transmit(index, now);
                        let spent = self.clock.now().saturating_sub(popped);
                        self.recorders.record(Stage::Outbound, spent);
                    }
                }
                Applied::Waiting => {
                    waiting = true;
                    break;
                }
                Applied::Done => applied += 1,
                Applied::Terminated => {
                    applied += 1;
                    terminated = true;
                }
                Applied::Drop => {
                    // Dropped before any later command is applied.
                    applied += 1;
                    drop = true;
                    break;
                }
            }
        }
        let Some(entry) = self.sessions.entry(index) else {
            return applied;
        };
        let place = entry.place;
        let more = matches!(&entry.mode, Mode::Thread(route) if !route.to_engine.is_empty());
        if let (true, Place::Initiator(i)) = (terminated, place) {
            if let Some(init) = self.sessions.initiators.get_mut(i) {
                init.done = true;
            }
        }
        if waiting {
            self.held.push(index);
            // A send held by the outbound limit wakes the engine when it may go.
            self.arm(index);
        } else if more {
            self.commands.push(index);
        }
        if applied > 0 {
            self.sessions.dirty.push(index);
        }
        if drop {
            self.drop_session_conn(index, now);
        }
        applied
    }

    /// Thread-mode sessions whose strategy queue was full: deliver what now fits.
    fn retry_blocked(&mut self, now: u64) -> usize {
        let mut work = 0;
        for _ in 0..self.blocked.len() {
            let Some(index) = self.blocked.pop() else {
                break;
            };
            let delivery = self.deliver_queued(index, now);
            work += delivery.moved;
            if delivery.blocked {
                self.blocked.push(index);
            }
            if delivery.moved > 0 {
                self.sessions.dirty.push(index);
            }
        }
        work
    }

    // ----- shutdown -----

    fn begin_shutdown(&mut self, now: u64) {
        self.shutting_down = Some(now);
        let finalize = self.config.shutdown_mode == ShutdownMode::Finalize;
        // Connections without a bound session first (their sessions have no Close to send):
        // handshakes are dropped, open ones closed (1001 from a server, 1000 from a client).
        let close = self.times.close;
        for conn in self.conns.iter_mut() {
            let (unbound, code) = match conn.owner {
                Owner::Client(i) => (
                    self.sessions
                        .initiators
                        .get(i)
                        .is_some_and(|init| !init.session.is_bound()),
                    crate::transport::CLOSE_NORMAL,
                ),
                Owner::Server(_) => (conn.entry.is_none(), CLOSE_GOING_AWAY),
            };
            if !unbound {
                continue;
            }
            if conn.phase == Phase::Open {
                let _ = conn.link.close(code, "shutting down");
                conn.begin_closing(now, close);
            } else if conn.phase == Phase::Handshake {
                conn.dead = true;
            }
        }
        // Bound sessions end through the session: Close 1000 (unbind) or finalization.
        for init in &mut self.sessions.initiators {
            init.reconnect_at = None;
            end_session(&mut init.session, finalize, now);
            init.done = true;
        }
        for index in 0..self.sessions.capacity() {
            if let Some(session) = self.sessions.session_mut(index) {
                end_session(session, finalize, now);
                self.sessions.dirty.push(index);
            }
        }
        for slot in 0..self.conns.capacity() {
            if self.conns.get(slot).is_some() {
                self.after_conn(slot);
            }
        }
    }
}

/// Our role on a connection.
fn role_of(owner: Owner) -> Role {
    match owner {
        Owner::Server(_) => Role::Server,
        Owner::Client(_) => Role::Client,
    }
}

/// How many frames a connection may read now: the per-cycle limit, and for a thread-mode
/// session no more than its strategy queue has room for (a full queue holds input back in
/// the socket).
fn read_budget(sessions: &SessionTable, bound: Option<usize>, limit: usize) -> usize {
    match bound
        .and_then(|index| sessions.entry(index))
        .map(|e| &e.mode)
    {
        Some(Mode::Thread(route)) => route.from_engine.free().min(limit),
        _ => limit,
    }
}

/// True if the session's messages may be lent (handed over in the transport's buffer): only
/// an inline strategy consumes them before the next frame is read.
fn lends(sessions: &SessionTable, index: usize) -> bool {
    matches!(sessions.entry(index).map(|e| &e.mode), Some(Mode::Inline))
}

/// After a frame on a server connection with no session yet: if the acceptor bound one to
/// it, give it an entry (an inline strategy meets it now).
fn bind_new<S: Strategy>(
    sessions: &mut SessionTable,
    strategy: &mut Option<S>,
    id: crate::session::ConnectionId,
    encoding: WireEncoding,
    now: u64,
) -> Option<usize> {
    let slot = sessions.acceptor.slot_on(id)?;
    let (index, new) = sessions.bind_acceptor(slot, id, encoding, now)?;
    sessions.dirty.push(index);
    if new && lends(sessions, index) {
        if let Some(strategy) = strategy.as_mut() {
            let key = sessions.key(index);
            strategy.on_session(&mut Context::new(now, sessions), key);
        }
    }
    Some(index)
}

/// Writes every frame a session has queued to `conn`, then replay batches up to `replay`
/// replayed messages while the connection's buffer is empty, all in one batch on the link
/// (one flush at the end: over TLS, records as full as the frames make them): (frames, false
/// if the connection's buffer overflowed, replayed messages queued).
fn write_frames(
    session: &mut EngineSession,
    conn: &mut Conn,
    now: u64,
    close: u64,
    replay: u32,
) -> (usize, bool, u32) {
    let mut frames = 0;
    let mut fits = true;
    let mut replayed = 0;
    loop {
        while let Some(transmit) = session.poll_queued_transmit() {
            frames += 1;
            fits &= conn.put(transmit, now, close);
        }
        if !session.replay_pending()
            || replayed >= replay
            || !conn.buffer.is_empty()
            || conn.phase != Phase::Open
        {
            break;
        }
        let queued = session.queue_replay(replay - replayed);
        replayed += queued;
        if queued == 0 {
            // Nothing more could be queued (at most a header): send that, stop.
            while let Some(transmit) = session.poll_queued_transmit() {
                frames += 1;
                fits &= conn.put(transmit, now, close);
            }
            break;
        }
    }
    conn.end_batch();
    (frames, fits, replayed)
}

fn end_session(session: &mut EngineSession, finalize: bool, now: u64) {
    if !session.is_bound() {
        return;
    }
    if finalize && session.state() == SessionState::Established {
        session.finalize(now);
    } else {
        session.terminate(now, TerminateReason::Unbind);
    }
}
