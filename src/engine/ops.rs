//! Operations: what the engine shows and accepts off its hot path. The engine side ([`Ops`])
//! publishes session status ([`crate::engine::status`]), applies admin commands taken from a
//! bounded lock-free queue once per duty cycle, and keeps the recovery watches behind the
//! recovery logs; the application side is an [`OpsHandle`] (status reader, [`SessionControl`],
//! log counters) and the [`LogDrain`] of [`crate::engine::log`].
//!
//! Nothing here allocates, locks or makes a syscall on the engine thread: records are `Copy`
//! values copied into preallocated memory, commands and replies are fixed-size values in
//! preallocated queues and cells. The hooks count what they allocate when the engine counts
//! its allocations ([`OpsHandle::hook_allocations`], which tests expect to stay 0).
//!
//! Owns: [`OpsConfig`], the command queue and reply cells, the hooks' allocation count. May
//! not touch: the duty cycle's order (it calls in), connections.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use mio::Waker;

use crate::codec::SessionId;
use crate::engine::clock::ns;
use crate::engine::log::{
    EndAction, EndOutcome, EngineLog, LogCounters, LogDrain, LogEvent, RecoveryWatch, SessionRef,
};
use crate::engine::metrics::EngineCounters;
use crate::engine::sessions::{Mode, Place, SessionTable};
use crate::engine::status::{
    ConsumerMode, SessionStatusRecord, StatusBoard, StatusCounters, StatusPublisher, StatusQueues,
    StatusReader, TransportKind,
};
use crate::engine::strategy::Context;
use crate::session::SessionState;

/// A helper thread (logger, admin endpoint) that runs until told to stop; stopping it, or
/// dropping it, sets its stop flag and joins it.
#[derive(Debug)]
pub(crate) struct StoppableThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StoppableThread {
    /// Runs `body` on a thread named `name`; `body` returns once the flag it gets is set.
    pub(crate) fn spawn(
        name: &str,
        body: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(&stopping))?;
        Ok(StoppableThread {
            stop,
            thread: Some(thread),
        })
    }

    /// Sets the stop flag and waits for the thread to end.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StoppableThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Replies the engine can hold for waiting admin requests (tickets map onto them modulo).
const REPLY_CELLS: usize = 64;
/// Admin commands the engine applies per duty cycle.
const COMMANDS_PER_CYCLE: usize = 16;

/// Status publication, logging and admin commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpsConfig {
    /// How often the engine publishes every session's status (`None`: never). Publication
    /// runs from the cycle's clock read, only after the engine did something.
    pub status_interval: Option<Duration>,
    /// Sessions published per duty cycle (a round over many sessions spreads over cycles).
    pub status_batch: usize,
    /// Log records the queue holds for the logger thread (0: logging off).
    pub log_capacity: usize,
    /// Admin commands that can wait for the engine (more are refused as busy); at most 32.
    pub command_capacity: usize,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            status_interval: Some(Duration::from_millis(100)),
            status_batch: 64,
            log_capacity: 4096,
            command_capacity: 16,
        }
    }
}

/// One admin command for the engine.
#[derive(Clone, Copy, Debug)]
struct Command {
    ticket: u64,
    session_id: SessionId,
    action: EndAction,
}

/// The command queue and the reply cells, shared by the engine and every [`SessionControl`].
struct Commands {
    queue: ArrayQueue<Command>,
    /// `ticket << 8 | outcome + 1`; a waiter reads the cell of its ticket.
    replies: [AtomicU64; REPLY_CELLS],
    tickets: AtomicU64,
}

/// What the engine thread keeps for operations.
pub(crate) struct Ops {
    pub(crate) status: StatusPublisher,
    commands: Arc<Commands>,
    watches: Vec<RecoveryWatch>,
    hook_allocations: Arc<AtomicU64>,
}

/// Everything the builder makes for operations: the engine's part and the handle's.
pub(crate) struct OpsParts {
    pub(crate) ops: Ops,
    pub(crate) log: EngineLog,
    pub(crate) handle: OpsHandle,
    pub(crate) drain: Option<LogDrain>,
}

/// Makes the engine's and the application's parts for an engine of `capacity` sessions.
pub(crate) fn ops_parts(
    config: &OpsConfig,
    capacity: usize,
    counters: Arc<EngineCounters>,
    waker: Arc<Waker>,
) -> OpsParts {
    let board = Arc::new(StatusBoard::new(capacity));
    let interval = config.status_interval.map_or(0, |d| ns(d).max(1));
    let commands = Arc::new(Commands {
        queue: ArrayQueue::new(config.command_capacity.clamp(1, REPLY_CELLS / 2)),
        replies: std::array::from_fn(|_| AtomicU64::new(0)),
        tickets: AtomicU64::new(1),
    });
    let log_counters = Arc::new(LogCounters::default());
    let queue = (config.log_capacity > 0).then(|| Arc::new(ArrayQueue::new(config.log_capacity)));
    let hook_allocations = Arc::new(AtomicU64::new(0));
    OpsParts {
        ops: Ops {
            status: StatusPublisher::new(Arc::clone(&board), interval, config.status_batch),
            commands: Arc::clone(&commands),
            watches: vec![RecoveryWatch::default(); capacity],
            hook_allocations: Arc::clone(&hook_allocations),
        },
        log: EngineLog::new(
            queue.clone(),
            Arc::clone(&log_counters),
            Arc::clone(&hook_allocations),
        ),
        handle: OpsHandle {
            status: StatusReader::new(board),
            control: SessionControl { commands, waker },
            log: Arc::clone(&log_counters),
            counters,
            hook_allocations,
        },
        drain: queue.map(|q| LogDrain::new(q, log_counters)),
    }
}

/// Runs an engine-side hook, adding what it allocated on this thread (when the thread is
/// counted by [`crate::alloc_count`]) to the hooks' count.
#[inline]
pub(crate) fn counted<R>(allocations: &AtomicU64, hook: impl FnOnce() -> R) -> R {
    let before = crate::alloc_count::current_thread_allocations();
    let result = hook();
    let made = crate::alloc_count::current_thread_allocations().wrapping_sub(before);
    if made != 0 {
        allocations.fetch_add(made, Ordering::Relaxed);
    }
    result
}

/// Who a log record says a session is.
pub(crate) fn session_ref(sessions: &SessionTable, index: usize) -> Option<SessionRef> {
    let session = sessions.session(index)?;
    Some(SessionRef {
        id: session.session_id(),
        index: u32::try_from(index).unwrap_or(u32::MAX),
        role: session.role(),
    })
}

impl Ops {
    /// Notices recoveries of entry `index` starting or finishing (logs and counters).
    pub(crate) fn watch_recovery(&mut self, sessions: &SessionTable, index: usize, now: u64) {
        let (Some(watch), Some(session)) = (self.watches.get_mut(index), sessions.session(index))
        else {
            return;
        };
        let progress = session.recovery();
        let generation = sessions.key(index).generation();
        let Some(who) = session_ref(sessions, index) else {
            return;
        };
        let log = &sessions.log;
        counted(&self.hook_allocations, || {
            watch.observe(log, now, who, generation, progress)
        });
    }

    /// Publishes the status of the next sessions of a round, if one is due.
    pub(crate) fn publish_status(
        &mut self,
        now: u64,
        sessions: &SessionTable,
        conn: impl Fn(usize) -> Option<(TransportKind, Option<std::net::SocketAddr>)>,
    ) -> usize {
        let watches = &self.watches;
        let status = &mut self.status;
        counted(&self.hook_allocations, || {
            status.publish(now, |index| {
                record(sessions, watches.get(index), index, now, &conn)
            })
        })
    }

    /// Applies the admin commands waiting (a bounded number per cycle). Returns how many.
    pub(crate) fn apply_commands(&mut self, now: u64, sessions: &mut SessionTable) -> usize {
        let mut applied = 0;
        while applied < COMMANDS_PER_CYCLE {
            let Some(command) = self.commands.queue.pop() else {
                break;
            };
            applied += 1;
            let outcome = counted(&self.hook_allocations, || {
                let outcome = end_session(sessions, command, now);
                sessions.log.push(
                    now,
                    LogEvent::AdminEnd {
                        session_id: command.session_id,
                        action: command.action,
                        outcome,
                    },
                );
                outcome
            });
            let code = EndOutcome::ALL
                .iter()
                .position(|&o| o == outcome)
                .map_or(0, |i| i as u64 + 1);
            let cell = usize::try_from(command.ticket).unwrap_or(0) % REPLY_CELLS;
            if let Some(cell) = self.commands.replies.get(cell) {
                cell.store(command.ticket << 8 | code, Ordering::Release);
            }
        }
        applied
    }
}

/// The entry of the session with `id`, if the engine runs it.
fn find(sessions: &SessionTable, id: SessionId) -> Option<usize> {
    if let Some(index) = sessions
        .acceptor
        .slot_of(id)
        .and_then(|slot| sessions.at_slot(slot))
    {
        return Some(index);
    }
    sessions
        .initiators
        .iter()
        .find(|init| init.session.session_id() == id)
        .map(|init| init.entry)
        .filter(|&index| sessions.entry(index).is_some())
}

fn end_session(sessions: &mut SessionTable, command: Command, now: u64) -> EndOutcome {
    let Some(index) = find(sessions, command.session_id) else {
        return EndOutcome::UnknownSession;
    };
    let Some(session) = sessions.session(index) else {
        return EndOutcome::UnknownSession;
    };
    let status = session.status();
    if status.state == SessionState::Finalized
        || (command.action == EndAction::Finalize && status.finished_sending)
    {
        return EndOutcome::AlreadyFinished;
    }
    if !session.is_bound() {
        return EndOutcome::NotBound;
    }
    let key = sessions.key(index);
    let mut ctx = Context::new(now, sessions);
    let done = match command.action {
        EndAction::Finalize => ctx.finalize(key).map(|()| EndOutcome::Finalizing),
        EndAction::Terminate => ctx.terminate(key).map(|()| EndOutcome::Terminated),
    };
    done.unwrap_or(EndOutcome::UnknownSession)
}

/// The status record of entry `index`, if it holds a session.
fn record(
    sessions: &SessionTable,
    watch: Option<&RecoveryWatch>,
    index: usize,
    now: u64,
    conn: &impl Fn(usize) -> Option<(TransportKind, Option<std::net::SocketAddr>)>,
) -> Option<SessionStatusRecord> {
    let entry = sessions.entry(index)?;
    let session = sessions.session(index)?;
    let status = session.status();
    let depths = session.queue_depths();
    let key = sessions.key(index);
    let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (mode, to_engine, from_engine, queue_capacity) = match &entry.mode {
        Mode::Inline => (ConsumerMode::Inline, 0, 0, 0),
        Mode::Thread(route) => (
            ConsumerMode::Thread,
            route.to_engine.len(),
            route.from_engine.capacity() - route.from_engine.free(),
            route.from_engine.capacity(),
        ),
        Mode::Detached => (ConsumerMode::Detached, 0, 0, 0),
    };
    let counters = entry.counters.snapshot();
    let watch = watch.copied().unwrap_or_default();
    let progress = session.recovery();
    let (transport, peer) = match sessions.connection_of(index) {
        Some(_) if session.is_bound() || matches!(entry.place, Place::Initiator(_)) => {
            conn(index).map_or((None, None), |(t, p)| (Some(t), p))
        }
        _ => (None, None),
    };
    Some(SessionStatusRecord {
        index: key.raw().0,
        generation: key.generation(),
        session_id: status.session_id,
        role: session.role(),
        mode,
        encoding: entry.encoding,
        state: status.state,
        bound: session.is_bound(),
        outbound_flow: status.outbound_flow,
        inbound_flow: status.inbound_flow,
        next_seq_to_send: status.next_seq_to_send,
        next_seq_expected: status.next_seq_expected,
        last_heard_ns: status.last_heard_ns,
        finished_sending: status.finished_sending,
        peer_finished_sending: status.peer_finished_sending,
        queues: StatusQueues {
            outbox: small(depths.outbox),
            outbox_capacity: small(depths.outbox_capacity),
            events: small(depths.events),
            event_capacity: small(depths.event_capacity),
            recovery: small(depths.recovery),
            recovery_capacity: small(depths.recovery_capacity),
            to_engine: small(to_engine),
            from_engine: small(from_engine),
            queue_capacity: small(queue_capacity),
        },
        counters: StatusCounters {
            messages_in: counters.messages_in,
            messages_out: counters.messages_out,
            events: counters.events,
            connections: counters.connections,
            strategy_backpressure: counters.strategy_backpressure,
            session_backpressure: counters.session_backpressure,
            tolerated_deviations: status.tolerated_deviations,
            duplicates_dropped: session.duplicates_dropped(),
            retransmit_requests: watch.retransmit_requests,
            retransmit_requested_messages: watch.retransmit_requested_messages,
            replays: watch.replays,
            replayed_messages: watch.replayed_messages,
        },
        recovering: progress.requested,
        replaying: progress.replaying,
        transport,
        peer,
        updated_ns: now,
    })
}

/// Why an admin command got no outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The engine's command queue is full: try again.
    #[error("engine busy: command queue full")]
    Busy,
    /// The engine did not answer in time (stopped, or stalled).
    #[error("no reply from the engine")]
    NoReply,
}

/// Asks a running engine to end sessions (from any thread; clone it freely). Commands go
/// through a bounded lock-free queue the engine polls once per duty cycle.
#[derive(Clone)]
pub struct SessionControl {
    commands: Arc<Commands>,
    waker: Arc<Waker>,
}

impl std::fmt::Debug for SessionControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionControl")
            .field("waiting", &self.commands.queue.len())
            .finish()
    }
}

impl SessionControl {
    /// Ends the session `id` (`action`: finalize or terminate) and waits up to `timeout` for
    /// the engine's answer (it wakes a blocking engine).
    pub fn end(
        &self,
        id: SessionId,
        action: EndAction,
        timeout: Duration,
    ) -> Result<EndOutcome, ControlError> {
        let ticket = self.commands.tickets.fetch_add(1, Ordering::Relaxed) & (u64::MAX >> 8);
        let command = Command {
            ticket,
            session_id: id,
            action,
        };
        self.commands
            .queue
            .push(command)
            .map_err(|_| ControlError::Busy)?;
        // A blocking engine sleeps in poll until something happens: this is something.
        let _ = self.waker.wake();
        let cell = usize::try_from(ticket).unwrap_or(0) % REPLY_CELLS;
        let start = Instant::now();
        loop {
            let value = self
                .commands
                .replies
                .get(cell)
                .map_or(0, |c| c.load(Ordering::Acquire));
            if value >> 8 == ticket {
                let code = usize::try_from(value & 0xff).unwrap_or(0);
                return code
                    .checked_sub(1)
                    .and_then(|i| EndOutcome::ALL.get(i).copied())
                    .ok_or(ControlError::NoReply);
            }
            if start.elapsed() >= timeout {
                return Err(ControlError::NoReply);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// The application's view of an engine's operations: status, session control, log and
/// engine counters. Clone it freely (for an admin endpoint, a dashboard).
#[derive(Clone, Debug)]
pub struct OpsHandle {
    status: StatusReader,
    control: SessionControl,
    log: Arc<LogCounters>,
    counters: Arc<EngineCounters>,
    hook_allocations: Arc<AtomicU64>,
}

impl OpsHandle {
    /// The published session status.
    pub fn status(&self) -> &StatusReader {
        &self.status
    }

    /// Ends sessions.
    pub fn control(&self) -> &SessionControl {
        &self.control
    }

    /// Engine-wide counters (cycles, accepted, handshake failures, reconnects, slow
    /// consumers).
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// Log records the engine queued.
    pub fn log_records(&self) -> u64 {
        self.log.pushed.load(Ordering::Relaxed)
    }

    /// Log records lost because the queue was full (the engine never waits for the logger).
    pub fn log_records_lost(&self) -> u64 {
        self.log.lost.load(Ordering::Relaxed)
    }

    /// Allocations the engine thread made inside its operations hooks (status publication,
    /// log records, admin commands); counted only while the engine counts its allocations
    /// ([`crate::engine::EngineConfig::count_allocations`] with the counting allocator
    /// installed). Expected: 0.
    pub fn hook_allocations(&self) -> u64 {
        self.hook_allocations.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_reports_no_reply_then_busy_when_the_engine_does_not_poll() {
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
        let config = OpsConfig {
            command_capacity: 1,
            ..OpsConfig::default()
        };
        let parts = ops_parts(&config, 4, Arc::default(), waker);
        let control = parts.handle.control().clone();
        let id = SessionId::from_random_bytes([9; 16]);
        let wait = Duration::from_millis(5);
        // Nobody applies commands: the first waits in the queue, the second finds it full.
        assert_eq!(
            control.end(id, EndAction::Finalize, wait),
            Err(ControlError::NoReply)
        );
        assert_eq!(
            control.end(id, EndAction::Terminate, wait),
            Err(ControlError::Busy)
        );
    }
}
