//! The engine loop: one thread that owns listeners, connections, the acceptor's session table
//! and initiator sessions, driven by mio readiness, one clock read per duty cycle and an idle
//! strategy.
//!
//! Build it with [`EngineBuilder`] (bind listeners, configure initiators, each returning what
//! the application needs), then [`EngineBuilder::start`] spawns the thread (pinned when a core
//! is configured) and returns an [`EngineHandle`] for new acceptor sessions, metrics and
//! shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use mio::{Events, Poll, Token, Waker};

use crate::codec::SessionId;
use crate::engine::cores::{CoreList, PinError};
use crate::engine::handle::{
    FromEngine, MessageSlot, SessionCounters, SessionHandle, ToEngine, Wake,
};
use crate::engine::idle::{Backoff, BlockWithTimeout, BusySpin, IdleStrategy};
use crate::engine::metrics::{
    histogram_exchange, BoundsError, HistogramBounds, HistogramReader, HistogramRecorder,
};
use crate::engine::spsc::{spsc_queue, Consumer, Producer};
use crate::engine::store::EngineStore;
use crate::engine::wire::{EncodingSelector, EngineEncoding};
use crate::journal::{JournalConfig, JournalError, SessionJournal};
use crate::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, SendError, Session,
    SessionConfig, SessionState, TerminateReason, Transmit,
};
use crate::transport::{
    ClientTarget, HandshakeProgress, ReadStatus, SendStatus, TransportError, WireEncoding,
    WsConnection, WsListener, WsOptions,
};

const WAKER: Token = Token(0);
const LISTENER_BASE: usize = 1;
const MAX_LISTENERS: usize = 64;
const CONN_BASE: usize = LISTENER_BASE + MAX_LISTENERS;
const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const CLOSE_GOING_AWAY: u16 = 1001;
const METRICS_PUBLISH_CYCLES: u64 = 1024;

/// What the engine thread does when a duty cycle found no work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleMode {
    /// Poll with a zero timeout and spin: lowest latency, one core at 100 %.
    BusyPoll,
    /// Poll with a zero timeout; spin, then yield, then park briefly (up to 1 ms).
    SpinThenYield,
    /// Let the poll block up to this long (capped at the next timer). Tests and quiet peers.
    Block(Duration),
}

/// How [`EngineHandle::shutdown`] ends live sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Close every binding with 1000 (unbind): sessions may be re-established later.
    Unbind,
    /// Finalize every session (FinishedSending/FinishedReceiving), then Close 1000.
    Finalize,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Cores read once at start-up (before anything is pinned) and the index to pin the engine
    /// thread to; `None`: not pinned.
    pub pin: Option<(CoreList, usize)>,
    /// Idle behaviour.
    pub idle: IdleMode,
    /// The acceptor's session table and the template of its sessions.
    pub acceptor: AcceptorConfig,
    /// A TCP + TLS + WebSocket handshake must finish within this (the transport has no limit).
    pub handshake_timeout: Duration,
    /// A closing handshake must finish within this; then the socket is dropped.
    pub close_timeout: Duration,
    /// A connection whose socket stays full this long is closed (slow consumer).
    pub slow_consumer_timeout: Duration,
    /// Bytes of frames a connection may hold when its socket is full (beyond the transport's own
    /// backlog); more closes it as a slow consumer.
    pub send_buffer_bytes: usize,
    /// First reconnect delay of an initiator; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
    /// Slots of each strategy queue (each direction).
    pub queue_capacity: usize,
    /// Strategy commands taken per session per duty cycle.
    pub drain_limit: usize,
    /// Connections held at once (sockets of both roles).
    pub max_connections: usize,
    /// Record stage timings (a clock read per message and stage).
    pub timings: bool,
    /// How shutdown ends sessions.
    pub shutdown_mode: ShutdownMode,
    /// Shutdown gives up waiting for peers after this.
    pub shutdown_timeout: Duration,
    /// Outbound messages each session keeps for retransmission (in memory, preallocated).
    pub retransmit_capacity: usize,
    /// Acceptor sessions finish their own flow once the client finished its flow and the
    /// strategy has nothing queued (FIXP finalization is two-way; a client that finalizes then
    /// sees Close 1000). Off: the strategy sends [`ToEngine::Finalize`] itself.
    pub finalize_with_peer: bool,
    /// Journal every acceptor session under `<dir>/<session-id>/` (`None`: in memory). At start,
    /// each live session found there is restored (negotiated, unbound): its client re-Establishes
    /// under the same SessionId and numbers continue; finalized ones are refused.
    pub acceptor_journal: Option<JournalSetup>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pin: None,
            idle: IdleMode::BusyPoll,
            acceptor: AcceptorConfig::default(),
            handshake_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(2),
            slow_consumer_timeout: Duration::from_secs(2),
            send_buffer_bytes: 256 * 1024,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            queue_capacity: 1024,
            drain_limit: 256,
            max_connections: 256,
            timings: true,
            shutdown_mode: ShutdownMode::Unbind,
            shutdown_timeout: Duration::from_secs(5),
            retransmit_capacity: 4096,
            finalize_with_peer: true,
            acceptor_journal: None,
        }
    }
}

/// An outbound (initiator) session: where to connect and how.
#[derive(Clone, Debug)]
pub struct InitiatorConfig {
    /// The server.
    pub target: ClientTarget,
    /// WebSocket options; `subprotocols` should offer one name of `encoding`.
    pub options: WsOptions,
    /// The encoding of this session.
    pub encoding: WireEncoding,
    /// The session's settings (its `flow` is the client flow).
    pub session: SessionConfig,
    /// The SessionId (a UUID v4) to negotiate (ignored when a journal resumes a session).
    pub session_id: SessionId,
    /// Keep the session in a journal directory (`None`: in memory). When the directory holds
    /// a session of the same outbound flow type, it is resumed: same SessionId, Establish
    /// without Negotiate, sequence numbers continuing where the journals end.
    pub journal: Option<JournalSetup>,
}

/// Where and how an initiator journals its session.
#[derive(Clone, Debug)]
pub struct JournalSetup {
    /// The session's journal root (one writer at a time: it is locked).
    pub dir: std::path::PathBuf,
    /// Ring sizes and flushing.
    pub config: JournalConfig,
}

/// Why the engine could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A socket or poll error.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// A listener could not be bound.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// Histogram bounds were rejected.
    #[error(transparent)]
    Bounds(#[from] BoundsError),
    /// Too many listeners.
    #[error("at most {MAX_LISTENERS} listeners")]
    TooManyListeners,
    /// The session journal could not be opened.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// A journaled acceptor session could not be restored.
    #[error("restore: {0}")]
    Restore(crate::session::RestoreError),
}

/// The thread-safe view of the engine's stage timings (nanoseconds).
///
/// The engine records into HdrHistograms and hands them over by swapping (no lock, no
/// allocation on the engine side); [`EngineMetrics::refresh`] collects what was handed over
/// and adds it to the totals here.
#[derive(Debug)]
pub struct EngineMetrics {
    readers: [HistogramReader; 3],
    totals: [Histogram<u64>; 3],
    counters: Arc<EngineCounters>,
}

/// Engine-wide counters (relaxed atomics).
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Duty cycles run.
    pub cycles: AtomicU64,
    /// Connections accepted by listeners.
    pub accepted: AtomicU64,
    /// Handshakes that failed or timed out.
    pub handshake_failures: AtomicU64,
    /// Initiator connection attempts after the first.
    pub reconnects: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
}

/// Which stage a histogram times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Socket read → decode → strategy queue push, per application message.
    Inbound = 0,
    /// Strategy queue pop → session → socket write, per application message.
    Outbound = 1,
    /// One busy duty cycle (cycles that did work).
    DutyCycle = 2,
}

impl EngineMetrics {
    /// Collects histograms the engine handed over, adds them to the totals and gives the engine
    /// fresh empty ones. Call from any thread, now and then.
    pub fn refresh(&mut self) {
        for (reader, total) in self.readers.iter().zip(self.totals.iter_mut()) {
            while let Some(filled) = reader.collect() {
                let _ = total.add(&filled);
                let _ = reader.supply(filled);
            }
        }
    }

    /// The totals of one stage so far (after [`EngineMetrics::refresh`]).
    pub fn stage(&self, stage: Stage) -> &Histogram<u64> {
        match stage {
            Stage::Inbound => &self.totals[0],
            Stage::Outbound => &self.totals[1],
            Stage::DutyCycle => &self.totals[2],
        }
    }

    /// Engine-wide counters.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }
}

struct Recorders {
    stages: [HistogramRecorder; 3],
}

fn metrics_pair(counters: Arc<EngineCounters>) -> Result<(Recorders, EngineMetrics), EngineError> {
    let bounds = HistogramBounds {
        highest: 10_000_000_000,
        significant_figures: 3,
    };
    let (r0, q0) = histogram_exchange(bounds)?;
    let (r1, q1) = histogram_exchange(bounds)?;
    let (r2, q2) = histogram_exchange(bounds)?;
    let readers = [q0, q1, q2];
    for reader in &readers {
        let _ = reader.supply(reader.new_histogram()?);
    }
    let totals = [
        bounds.histogram()?,
        bounds.histogram()?,
        bounds.histogram()?,
    ];
    Ok((
        Recorders {
            stages: [r0, r1, r2],
        },
        EngineMetrics {
            readers,
            totals,
            counters,
        },
    ))
}

/// The engine's clock: epoch nanoseconds derived from a monotonic `Instant`, so it never goes
/// backwards; read once per duty cycle for every timer.
#[derive(Clone, Copy, Debug)]
struct Clock {
    base: Instant,
    base_epoch_ns: u64,
}

impl Clock {
    fn new() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0);
        Clock {
            base: Instant::now(),
            base_epoch_ns: epoch,
        }
    }

    fn now(&self) -> u64 {
        let elapsed = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX / 4);
        self.base_epoch_ns.saturating_add(elapsed)
    }
}

/// A connection's id: a never-reused epoch above the slot index, so an id of a closed
/// connection does not name the next connection in the same slot.
fn connection_id(epoch: u64, slot: usize) -> ConnectionId {
    ConnectionId((epoch << SLOT_BITS) | (slot as u64 & SLOT_MASK))
}

/// The slot a connection id names (its epoch must still be checked against the slot's).
fn slot_of(id: ConnectionId) -> usize {
    usize::try_from(id.0 & SLOT_MASK).unwrap_or(usize::MAX)
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 4)
}

/// Frames waiting while a socket is full: a preallocated byte buffer of
/// `[kind u8][len u32 LE][bytes]` records, never grown past its capacity.
struct SendBuffer {
    bytes: Vec<u8>,
    head: usize,
    limit: usize,
}

impl SendBuffer {
    fn new(limit: usize) -> Self {
        SendBuffer {
            bytes: Vec::new(),
            head: 0,
            limit,
        }
    }

    fn is_empty(&self) -> bool {
        self.head >= self.bytes.len()
    }

    /// Appends a frame; false when it would exceed the limit.
    fn push(&mut self, binary: bool, payload: &[u8]) -> bool {
        let Ok(len) = u32::try_from(payload.len()) else {
            return false;
        };
        if self.bytes.len() - self.head + payload.len() + 5 > self.limit {
            return false;
        }
        if self.bytes.capacity() == 0 {
            // Allocated once, the first time this connection's socket fills up.
            self.bytes.reserve_exact(self.limit);
        }
        if self.bytes.len() + payload.len() + 5 > self.bytes.capacity() {
            // Compact: move the live frames to the front.
            self.bytes.drain(..self.head);
            self.head = 0;
        }
        self.bytes.push(u8::from(binary));
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(payload);
        true
    }

    /// The oldest frame: (binary?, bytes, record length).
    fn front(&self) -> Option<(bool, &[u8], usize)> {
        let rest = self.bytes.get(self.head..)?;
        let (&kind, rest) = rest.split_first()?;
        let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_le_bytes(len_bytes)).ok()?;
        let payload = rest.get(4..4 + len)?;
        Some((kind == 1, payload, 5 + len))
    }

    fn pop(&mut self, record: usize) {
        self.head += record;
        if self.head >= self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.head = 0;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshake,
    Open,
    Closing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// Accepted by listener `n`; bound to a session once one exists.
    Server(usize),
    /// The connection of initiator `n`.
    Client(usize),
}

struct Conn {
    ws: WsConnection,
    id: ConnectionId,
    owner: Owner,
    phase: Phase,
    deadline: Option<u64>,
    encoding: WireEncoding,
    session: Option<SessionId>,
    peer_close_seen: bool,
    buffer: SendBuffer,
    stalled_since: Option<u64>,
    dead: bool,
    /// The last read stopped at its budget: read again without waiting for readiness.
    more: bool,
}

/// The queues and counters of one session, on the engine side.
struct Route {
    to_engine: Consumer<ToEngine>,
    from_engine: Producer<FromEngine>,
    pending: Option<ToEngine>,
    counters: Arc<SessionCounters>,
}

impl Route {
    fn pair(
        session_id: SessionId,
        encoding: WireEncoding,
        capacity: usize,
        wake: &Wake,
    ) -> (Route, SessionHandle) {
        let (to_tx, to_rx) = spsc_queue(capacity);
        let (from_tx, from_rx) = spsc_queue(capacity);
        let counters = Arc::new(SessionCounters::default());
        (
            Route {
                to_engine: to_rx,
                from_engine: from_tx,
                pending: None,
                counters: Arc::clone(&counters),
            },
            SessionHandle::new(session_id, encoding, to_tx, from_rx, counters, wake.clone()),
        )
    }
}

type EngineSession = Session<EngineEncoding, EngineStore>;
type Factory = Box<dyn FnMut(SessionId) -> (EngineEncoding, EngineStore) + Send>;
type EngineAcceptor = Acceptor<EngineEncoding, EngineStore, AcceptAll, Factory>;

struct Initiator {
    session: EngineSession,
    /// The SessionId the retransmit store holds messages of.
    store_id: SessionId,
    route: Route,
    config: InitiatorConfig,
    conn: Option<usize>,
    reconnect_at: Option<u64>,
    backoff_ns: u64,
    attempts: u64,
    done: bool,
}

struct Served {
    id: SessionId,
    encoding: WireEncoding,
    route: Route,
    conn: Option<ConnectionId>,
}

/// Configures the engine before its thread starts.
pub struct EngineBuilder {
    config: EngineConfig,
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<WsListener>,
    initiators: Vec<Initiator>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("listeners", &self.listeners.len())
            .field("initiators", &self.initiators.len())
            .finish()
    }
}

impl EngineBuilder {
    /// A builder with `config`.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(EngineBuilder {
            config,
            poll,
            waker,
            listeners: Vec::new(),
            initiators: Vec::new(),
        })
    }

    fn wake(&self) -> Wake {
        Wake {
            waker: Arc::clone(&self.waker),
            enabled: matches!(self.config.idle, IdleMode::Block(_)),
        }
    }

    /// Binds an acceptor listener (`tls` = `None`: plain `ws://`) and returns its address.
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: WsOptions,
    ) -> Result<SocketAddr, EngineError> {
        if self.listeners.len() >= MAX_LISTENERS {
            return Err(EngineError::TooManyListeners);
        }
        let token = Token(LISTENER_BASE + self.listeners.len());
        let listener = WsListener::bind(addr, tls, options, self.poll.registry(), token)?;
        let local = listener.local_addr()?;
        self.listeners.push(listener);
        Ok(local)
    }

    /// Adds an initiator session; it connects when the engine starts. Returns its handle.
    /// With a journal, a session found there is resumed (see [`InitiatorConfig::journal`]).
    pub fn initiate(&mut self, config: InitiatorConfig) -> Result<SessionHandle, EngineError> {
        let wake = self.wake();
        let encoding = EngineEncoding::fixed(config.encoding);
        let session = match &config.journal {
            None => Session::client(
                config.session.clone(),
                encoding,
                EngineStore::Memory(MemoryStore::new(
                    self.config.retransmit_capacity,
                    config.session.max_frame_len,
                )),
                config.session_id,
            ),
            Some(setup) => {
                let journal = SessionJournal::open(&setup.dir, setup.config)?;
                let resume = journal
                    .session()
                    .filter(|meta| meta.outbound_flow == config.session.flow)
                    .map(|meta| {
                        (
                            meta,
                            journal.next_outbound_seq().unwrap_or(1),
                            journal.next_inbound_seq().unwrap_or(1),
                        )
                    });
                let store = EngineStore::Journal(Box::new(journal));
                match resume {
                    Some((meta, next_out, next_in)) => Session::client_resumed(
                        config.session.clone(),
                        encoding,
                        store,
                        meta.session_id,
                        meta.inbound_flow,
                        next_out,
                        next_in,
                    ),
                    None => {
                        Session::client(config.session.clone(), encoding, store, config.session_id)
                    }
                }
            }
        };
        let (route, handle) = Route::pair(
            session.session_id(),
            config.encoding,
            self.config.queue_capacity,
            &wake,
        );
        self.initiators.push(Initiator {
            store_id: session.session_id(),
            session,
            route,
            config,
            conn: None,
            reconnect_at: Some(0),
            backoff_ns: ns(self.config.reconnect_min),
            attempts: 0,
            done: false,
        });
        Ok(handle)
    }

    /// Spawns the engine thread.
    pub fn start(self) -> Result<EngineHandle, EngineError> {
        let counters = Arc::new(EngineCounters::default());
        let (recorders, metrics) = metrics_pair(Arc::clone(&counters))?;
        let wake = self.wake();
        let (accepted_tx, accepted_rx) = spsc_queue(self.config.acceptor.capacity.max(1));
        let shutdown = Arc::new(AtomicBool::new(false));
        let selector = EncodingSelector::default();
        let store_capacity = self.config.retransmit_capacity;
        let frame_len = self.config.acceptor.session.max_frame_len;
        let factory_selector = selector.clone();
        let journal_setup = self.config.acceptor_journal.clone();
        if let Some(setup) = &journal_setup {
            std::fs::create_dir_all(&setup.dir)?;
        }
        let factory_setup = journal_setup.clone();
        let factory: Factory = Box::new(move |id| {
            let memory = || EngineStore::Memory(MemoryStore::new(store_capacity, frame_len));
            let store = match &factory_setup {
                // A journal that cannot be opened leaves the session in memory.
                Some(setup) => SessionJournal::open(&setup.dir.join(id.to_string()), setup.config)
                    .map_or_else(|_| memory(), |j| EngineStore::Journal(Box::new(j))),
                None => memory(),
            };
            (EngineEncoding::fixed(factory_selector.get()), store)
        });
        let mut acceptor = Acceptor::new(
            self.config.acceptor.clone(),
            EngineEncoding::shared(&selector),
            AcceptAll,
            factory,
        );
        if let Some(setup) = &journal_setup {
            restore_acceptor_sessions(&mut acceptor, setup, selector.get())?;
        }
        let mut conns = Vec::with_capacity(self.config.max_connections);
        conns.resize_with(self.config.max_connections, || None);
        let engine = Engine {
            clock: Clock::new(),
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            conns,
            next_epoch: 1,
            listeners: self.listeners,
            acceptor,
            selector,
            served: Vec::with_capacity(self.config.acceptor.capacity),
            accepted: accepted_tx,
            initiators: self.initiators,
            recorders,
            counters,
            wake,
            shutdown: Arc::clone(&shutdown),
            shutting_down: None,
            poll: self.poll,
            config: self.config,
        };
        let thread = std::thread::Builder::new()
            .name("fixp-engine".into())
            .spawn(move || engine.run())?;
        Ok(EngineHandle {
            thread: Some(thread),
            shutdown,
            waker: self.waker,
            accepted: accepted_rx,
            metrics,
        })
    }
}

/// The running engine, seen from the application.
#[derive(Debug)]
pub struct EngineHandle {
    thread: Option<JoinHandle<Result<Vec<Histogram<u64>>, PinError>>>,
    shutdown: Arc<AtomicBool>,
    waker: Arc<Waker>,
    accepted: Consumer<SessionHandle>,
    metrics: EngineMetrics,
}

impl EngineHandle {
    /// The handle of a session the acceptor created, if one is waiting.
    pub fn accept(&mut self) -> Option<SessionHandle> {
        self.accepted.pop()
    }

    /// Stage timings and counters.
    pub fn metrics(&mut self) -> &mut EngineMetrics {
        &mut self.metrics
    }

    /// Asks the engine to end every session (see [`ShutdownMode`]) and stop.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// True once the engine thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the engine thread; an error if pinning failed or the thread panicked.
    pub fn join(&mut self) -> Result<(), String> {
        self.metrics.refresh();
        let result = match self.thread.take() {
            Some(thread) => match thread.join() {
                Ok(Ok(last)) => {
                    for (total, rest) in self.metrics.totals.iter_mut().zip(last.iter()) {
                        let _ = total.add(rest);
                    }
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("engine thread panicked".to_owned()),
            },
            None => Ok(()),
        };
        self.metrics.refresh();
        result
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
            let _ = self.join();
        }
    }
}

struct Engine {
    config: EngineConfig,
    clock: Clock,
    poll: Poll,
    events: Events,
    ready: Vec<Token>,
    conns: Vec<Option<Conn>>,
    next_epoch: u64,
    listeners: Vec<WsListener>,
    acceptor: EngineAcceptor,
    selector: EncodingSelector,
    served: Vec<Served>,
    accepted: Producer<SessionHandle>,
    initiators: Vec<Initiator>,
    recorders: Recorders,
    counters: Arc<EngineCounters>,
    wake: Wake,
    shutdown: Arc<AtomicBool>,
    shutting_down: Option<u64>,
}

impl Engine {
    fn run(mut self) -> Result<Vec<Histogram<u64>>, PinError> {
        if let Some((cores, index)) = &self.config.pin {
            cores.pin_current(*index)?;
        }
        match self.config.idle {
            IdleMode::BusyPoll => {
                let mut idle = BusySpin;
                self.run_with(&mut idle);
            }
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
        let [a, b, c] = self.recorders.stages;
        Ok(vec![
            a.into_unpublished(),
            b.into_unpublished(),
            c.into_unpublished(),
        ])
    }

    fn run_with<I: IdleStrategy>(&mut self, idle: &mut I) {
        let mut timeout = idle.poll_timeout();
        let mut cycles: u64 = 0;
        loop {
            if self.poll.poll(&mut self.events, timeout).is_err() {
                // EINTR and friends: try again next cycle.
                self.events.clear();
            }
            let now = self.clock.now();
            let work = self.duty_cycle(now);
            cycles += 1;
            if work > 0 && self.config.timings {
                let spent = self.clock.now().saturating_sub(now);
                self.recorders.stages[Stage::DutyCycle as usize].record(spent.max(1));
            }
            if work == 0 || cycles.is_multiple_of(METRICS_PUBLISH_CYCLES) {
                for recorder in &mut self.recorders.stages {
                    if recorder.pending() > 0 {
                        recorder.publish();
                    }
                }
                self.counters.cycles.store(cycles, Ordering::Relaxed);
            }
            if self.finished(now) {
                break;
            }
            idle.idle(work);
            let more_input = self.conns.iter().flatten().any(|c| c.more);
            timeout = match idle.poll_timeout() {
                Some(t) if t.is_zero() => Some(t),
                _ if more_input => Some(Duration::ZERO),
                other => {
                    let until = self
                        .next_deadline()
                        .map(|d| Duration::from_nanos(d.saturating_sub(self.clock.now())));
                    match (other, until) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (None, b) => b,
                        (a, None) => a,
                    }
                }
            };
        }
        self.counters.cycles.store(cycles, Ordering::Relaxed);
    }

    fn finished(&mut self, now: u64) -> bool {
        let Some(started) = self.shutting_down else {
            return false;
        };
        let no_conns = self.conns.iter().all(Option::is_none);
        no_conns || now.saturating_sub(started) >= ns(self.config.shutdown_timeout)
    }

    fn next_deadline(&self) -> Option<u64> {
        let mut deadline = self.acceptor.next_deadline();
        let mut fold = |d: Option<u64>| {
            if let Some(d) = d {
                deadline = Some(deadline.map_or(d, |x| x.min(d)));
            }
        };
        for init in &self.initiators {
            fold(init.session.next_deadline());
            fold(init.reconnect_at);
        }
        for conn in self.conns.iter().flatten() {
            fold(conn.deadline);
        }
        deadline
    }

    fn duty_cycle(&mut self, now: u64) -> usize {
        let mut work = 0;
        self.ready.clear();
        for event in self.events.iter() {
            if self.ready.len() < self.ready.capacity() {
                self.ready.push(event.token());
            }
        }
        work += self.ready.len();
        if self.shutdown.load(Ordering::Acquire) && self.shutting_down.is_none() {
            self.begin_shutdown(now);
            work += 1;
        }
        for i in 0..self.ready.len() {
            let Some(&token) = self.ready.get(i) else {
                break;
            };
            if token == WAKER {
                continue;
            }
            if token.0 >= LISTENER_BASE && token.0 < CONN_BASE {
                self.accept_all(token.0 - LISTENER_BASE, now);
            } else if token.0 >= CONN_BASE {
                self.drive_conn(token.0 - CONN_BASE, now);
            }
        }
        // Connections whose last read stopped at its budget: no readiness event will come.
        for slot in 0..self.conns.len() {
            if matches!(self.conns.get(slot), Some(Some(c)) if c.more && !c.dead) {
                work += 1;
                self.drive_conn(slot, now);
            }
        }
        work += self.drain_commands(now);
        self.timers(now);
        work += self.transmit_all(now);
        work += self.deliver_events(now);
        self.reap(now);
        work
    }

    // ----- connections -----

    fn free_slot(&self) -> Option<usize> {
        self.conns.iter().position(Option::is_none)
    }

    fn new_conn_id(&mut self, slot: usize) -> ConnectionId {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        connection_id(epoch, slot)
    }

    fn conn_by_id(&mut self, id: ConnectionId) -> Option<&mut Conn> {
        let conn = self.conns.get_mut(slot_of(id))?.as_mut()?;
        // The epoch fences a reused slot: a stale id names nothing.
        (conn.id == id).then_some(conn)
    }

    fn accept_all(&mut self, index: usize, now: u64) {
        loop {
            if self.shutting_down.is_some() {
                return;
            }
            let Some(slot) = self.free_slot() else {
                return;
            };
            let token = Token(CONN_BASE + slot);
            let Some(listener) = self.listeners.get_mut(index) else {
                return;
            };
            match listener.accept(self.poll.registry(), token) {
                Ok(Some(ws)) => {
                    self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let id = self.new_conn_id(slot);
                    if let Some(entry) = self.conns.get_mut(slot) {
                        *entry = Some(Conn {
                            ws,
                            id,
                            owner: Owner::Server(index),
                            phase: Phase::Handshake,
                            deadline: Some(now + ns(self.config.handshake_timeout)),
                            encoding: WireEncoding::Sbe,
                            session: None,
                            peer_close_seen: false,
                            buffer: SendBuffer::new(self.config.send_buffer_bytes),
                            stalled_since: None,
                            dead: false,
                            more: false,
                        });
                    }
                    self.drive_conn(slot, now);
                }
                Ok(None) => return,
                Err(_) => return,
            }
        }
    }

    fn connect(&mut self, index: usize, now: u64) {
        let Some(slot) = self.free_slot() else {
            self.schedule_reconnect(index, now);
            return;
        };
        let token = Token(CONN_BASE + slot);
        let id = self.new_conn_id(slot);
        let Some(init) = self.initiators.get_mut(index) else {
            return;
        };
        init.reconnect_at = None;
        init.attempts += 1;
        if init.attempts > 1 {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        SessionCounters::bump(&init.route.counters.connections);
        let encoding = init.config.encoding;
        match WsConnection::connect(
            init.config.target.clone(),
            &init.config.options,
            self.poll.registry(),
            token,
        ) {
            Ok(ws) => {
                init.conn = Some(slot);
                if let Some(entry) = self.conns.get_mut(slot) {
                    *entry = Some(Conn {
                        ws,
                        id,
                        owner: Owner::Client(index),
                        phase: Phase::Handshake,
                        deadline: Some(now + ns(self.config.handshake_timeout)),
                        encoding,
                        session: Some(init.session.session_id()),
                        peer_close_seen: false,
                        buffer: SendBuffer::new(self.config.send_buffer_bytes),
                        stalled_since: None,
                        dead: false,
                        more: false,
                    });
                }
            }
            Err(_) => self.schedule_reconnect(index, now),
        }
    }

    fn schedule_reconnect(&mut self, index: usize, now: u64) {
        let max = ns(self.config.reconnect_max);
        if let Some(init) = self.initiators.get_mut(index) {
            let state = init.session.state();
            if init.done
                || self.shutting_down.is_some()
                || matches!(state, SessionState::Finalized | SessionState::Rejected)
            {
                init.reconnect_at = None;
                return;
            }
            init.reconnect_at = Some(now + init.backoff_ns);
            init.backoff_ns = init.backoff_ns.saturating_mul(2).min(max);
        }
    }

    /// Handles readiness of one connection: handshake progress, reads, flushes.
    fn drive_conn(&mut self, slot: usize, now: u64) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.phase == Phase::Handshake {
            match conn.ws.poll_handshake() {
                Ok(HandshakeProgress::InProgress) => return,
                Ok(HandshakeProgress::Open) => {
                    conn.phase = Phase::Open;
                    conn.deadline = None;
                    if let Some(p) = conn.ws.subprotocol() {
                        conn.encoding = p.encoding();
                    }
                    if let Owner::Client(index) = conn.owner {
                        let encoding = conn.encoding;
                        if let Some(init) = self.initiators.get_mut(index) {
                            if encoding == init.config.encoding {
                                init.session.handle_connected(now);
                            } else {
                                conn.dead = true;
                                init.done = true;
                            }
                        }
                    }
                }
                Err(_) => {
                    self.counters
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    if let Owner::Server(index) = conn.owner {
                        if let Some(listener) = self.listeners.get_mut(index) {
                            listener.record_handshake_failure(&conn.ws);
                        }
                    }
                    conn.dead = true;
                    return;
                }
            }
        }
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.dead {
            return;
        }
        // Reads: every frame goes to its session now; its events reach the strategy later in
        // the cycle. A read takes no more frames than the strategy's queue has room for (and
        // the per-cycle limit): a full strategy queue holds input back in the socket.
        // Each frame's events go to the strategy at once, stamped with the time the transport
        // handed the frame over. The inbound stage of a frame runs from the end of the previous
        // one (or the start of the read) to its push: the socket read, TLS decryption and
        // WebSocket parsing done for it inside the transport, its decode and the session.
        let id = conn.id;
        let limit = self.config.drain_limit;
        let clock = self.clock;
        let timings = self.config.timings;
        let inbound = &mut self.recorders.stages[Stage::Inbound as usize];
        let status = match conn.owner {
            Owner::Server(_) => {
                let mut route = conn
                    .session
                    .and_then(|sid| self.served.iter_mut().find(|s| s.id == sid))
                    .map(|s| &mut s.route);
                let budget = route
                    .as_ref()
                    .map_or(limit, |r| r.from_engine.free().min(limit));
                let acceptor = &mut self.acceptor;
                let journal = self
                    .config
                    .acceptor_journal
                    .is_some()
                    .then_some(conn.encoding);
                self.selector.set(conn.encoding);
                let mut mark = if timings { clock.now() } else { now };
                conn.ws.read_frames_up_to(budget, |kind, bytes| {
                    let read_ns = if timings { clock.now() } else { now };
                    acceptor.handle_frame(now, id, bytes, kind);
                    if let (Some(route), Some(session)) = (route.as_mut(), acceptor.session_on(id))
                    {
                        if journal.is_some() {
                            ensure_generation(session);
                        }
                        if forward_events(session, route, read_ns, journal) > 0 && timings {
                            let done = clock.now();
                            inbound.record(done.saturating_sub(mark).max(1));
                            mark = done;
                        }
                    }
                })
            }
            Owner::Client(index) => match self.initiators.get_mut(index) {
                Some(init) => {
                    let budget = init.route.from_engine.free().min(limit);
                    let session = &mut init.session;
                    let route = &mut init.route;
                    let encoding = init.config.encoding;
                    let mut mark = if timings { clock.now() } else { now };
                    conn.ws.read_frames_up_to(budget, |kind, bytes| {
                        let read_ns = if timings { clock.now() } else { now };
                        session.handle_frame(now, bytes, kind);
                        if forward_events(session, route, read_ns, Some(encoding)) > 0 && timings {
                            let done = clock.now();
                            inbound.record(done.saturating_sub(mark).max(1));
                            mark = done;
                        }
                    })
                }
                None => Ok((ReadStatus::Drained, false)),
            },
        };
        conn.more = matches!(status, Ok((_, true)));
        match status.map(|(s, _)| s) {
            Ok(ReadStatus::Drained) => {}
            Ok(ReadStatus::Closing) => {
                if conn.phase != Phase::Closing {
                    conn.phase = Phase::Closing;
                    conn.deadline = Some(now + ns(self.config.close_timeout));
                }
            }
            Ok(ReadStatus::Closed(_)) | Err(_) => conn.dead = true,
        }
        // Writes: the transport's backlog, then frames waiting in our buffer.
        if conn.ws.flush_pending() && conn.ws.flush().is_err() {
            conn.dead = true;
        }
        flush_buffer(conn);
        let peer_code = conn.ws.close_report().peer_code;
        let owner = conn.owner;
        if let (Some(code), false) = (peer_code, conn.peer_close_seen) {
            conn.peer_close_seen = true;
            if conn.phase == Phase::Open {
                conn.phase = Phase::Closing;
                conn.deadline = Some(now + ns(self.config.close_timeout));
            }
            match owner {
                Owner::Server(_) => self.acceptor.handle_close(now, id, code),
                Owner::Client(index) => {
                    if let Some(init) = self.initiators.get_mut(index) {
                        init.session.handle_close(now, code);
                    }
                }
            }
        }
        if let Owner::Server(_) = owner {
            self.bind_served(slot, now);
        }
    }

    /// After frames on a server connection: if the acceptor bound a session to it, route it.
    fn bind_served(&mut self, slot: usize, now: u64) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        let id = conn.id;
        let Some(session) = self.acceptor.session_on(id) else {
            return;
        };
        let session_id = session.session_id();
        if conn.session == Some(session_id) {
            return;
        }
        conn.session = Some(session_id);
        let encoding = conn.encoding;
        if let Some(served) = self.served.iter_mut().find(|s| s.id == session_id) {
            served.conn = Some(id);
            return;
        }
        let (route, handle) =
            Route::pair(session_id, encoding, self.config.queue_capacity, &self.wake);
        if self.accepted.push(handle).is_err() {
            // The application is not taking new sessions: refuse this one.
            if let Some(session) = self.acceptor.session_on(id) {
                session.terminate(now, TerminateReason::Refused);
            }
            return;
        }
        self.served.push(Served {
            id: session_id,
            encoding,
            route,
            conn: Some(id),
        });
    }

    // ----- strategy commands -----

    fn drain_commands(&mut self, now: u64) -> usize {
        let mut work = 0;
        let limit = self.config.drain_limit;
        let timings = self.config.timings;
        let close_timeout = self.config.close_timeout;
        for index in 0..self.initiators.len() {
            let mut kill = None;
            let Some(init) = self.initiators.get_mut(index) else {
                continue;
            };
            if init.session.session_id() != init.store_id {
                // Renegotiated under a new SessionId (the server did not know the old one):
                // numbering restarts at 1, so the in-memory store starts empty too (a journal
                // starts a new generation once established).
                init.store_id = init.session.session_id();
                if let EngineStore::Memory(store) = init.session.store_mut() {
                    *store = MemoryStore::new(
                        self.config.retransmit_capacity,
                        init.config.session.max_frame_len,
                    );
                }
            }
            ensure_generation(&mut init.session);
            for _ in 0..limit {
                let Some(command) = init
                    .route
                    .pending
                    .take()
                    .or_else(|| init.route.to_engine.pop())
                else {
                    break;
                };
                work += 1;
                let popped = if timings { self.clock.now() } else { now };
                let outcome = apply(&mut init.session, &mut init.route, command, now);
                match outcome {
                    Applied::Sent => {
                        if timings {
                            // Pop → session → socket write for this message.
                            let conn = init.conn.and_then(|s| self.conns.get_mut(s)?.as_mut());
                            if let Some(conn) = conn {
                                transmit_session(&mut init.session, conn, now, close_timeout);
                            }
                            let spent = self.clock.now().saturating_sub(popped);
                            self.recorders.stages[Stage::Outbound as usize].record(spent.max(1));
                        }
                    }
                    Applied::Waiting => break,
                    Applied::Done => {}
                    Applied::Terminated => init.done = true,
                    Applied::Drop => {
                        // Dropped before any later command is applied.
                        kill = init.conn;
                        break;
                    }
                }
            }
            if let Some(slot) = kill {
                self.drop_conn(slot, now);
            }
        }
        for index in 0..self.served.len() {
            let Some(served) = self.served.get_mut(index) else {
                continue;
            };
            let mut kill = None;
            if self.config.finalize_with_peer && served.route.pending.is_none() {
                if let Some(session) = self.acceptor.session_mut(served.id) {
                    let status = session.status();
                    if status.peer_finished_sending
                        && !status.finished_sending
                        && served.route.to_engine.is_empty()
                    {
                        session.finalize(now);
                    }
                }
            }
            if let Some(session) = self.acceptor.session_mut(served.id) {
                ensure_generation(session);
            }
            for _ in 0..limit {
                let Some(session) = self.acceptor.session_mut(served.id) else {
                    break;
                };
                let Some(command) = served
                    .route
                    .pending
                    .take()
                    .or_else(|| served.route.to_engine.pop())
                else {
                    break;
                };
                work += 1;
                let popped = if timings { self.clock.now() } else { now };
                match apply(session, &mut served.route, command, now) {
                    Applied::Sent => {
                        if timings {
                            if let Some(conn) = served.conn {
                                let slot = slot_of(conn);
                                if let Some(Some(c)) = self.conns.get_mut(slot) {
                                    if c.id == conn {
                                        transmit_session(session, c, now, close_timeout);
                                    }
                                }
                            }
                            let spent = self.clock.now().saturating_sub(popped);
                            self.recorders.stages[Stage::Outbound as usize].record(spent.max(1));
                        }
                    }
                    Applied::Waiting => break,
                    Applied::Done | Applied::Terminated => {}
                    Applied::Drop => {
                        kill = served.conn;
                        break;
                    }
                }
            }
            if let Some(conn) = kill {
                let slot = slot_of(conn);
                if self.conn_by_id(conn).is_some() {
                    self.drop_conn(slot, now);
                }
            }
        }
        work
    }

    // ----- timers -----

    fn timers(&mut self, now: u64) {
        self.acceptor.handle_timeout(now);
        for index in 0..self.initiators.len() {
            let mut connect = false;
            if let Some(init) = self.initiators.get_mut(index) {
                if init.session.next_deadline().is_some_and(|d| d <= now) {
                    init.session.handle_timeout(now);
                }
                if init.reconnect_at.is_some_and(|at| at <= now)
                    && init.conn.is_none()
                    && self.shutting_down.is_none()
                {
                    connect = true;
                }
            }
            if connect {
                self.connect(index, now);
            }
        }
        let slow = ns(self.config.slow_consumer_timeout);
        for slot in 0..self.conns.len() {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.deadline.is_some_and(|d| d <= now) {
                if conn.phase == Phase::Handshake {
                    self.counters
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                }
                conn.dead = true;
                continue;
            }
            if conn
                .stalled_since
                .is_some_and(|t| now.saturating_sub(t) >= slow)
            {
                conn.stalled_since = None;
                conn.buffer.clear();
                self.slow_consumer(slot, now);
            }
        }
    }

    /// A connection's socket stayed full: end its binding with a reason and drop it.
    fn slow_consumer(&mut self, slot: usize, now: u64) {
        self.counters.slow_consumers.fetch_add(1, Ordering::Relaxed);
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        let id = conn.id;
        match conn.owner {
            Owner::Server(_) => {
                if let Some(session) = self.acceptor.session_on(id) {
                    session.terminate(now, TerminateReason::OutboxOverflow);
                }
            }
            Owner::Client(index) => {
                if let Some(init) = self.initiators.get_mut(index) {
                    init.session.terminate(now, TerminateReason::OutboxOverflow);
                }
            }
        }
        if let Some(Some(conn)) = self.conns.get_mut(slot) {
            conn.phase = Phase::Closing;
            conn.deadline = Some(now + ns(self.config.close_timeout));
        }
    }

    // ----- transmits -----

    fn transmit_all(&mut self, now: u64) -> usize {
        let mut work = 0;
        let close_timeout = self.config.close_timeout;
        for init in &mut self.initiators {
            let Some(slot) = init.conn else {
                continue;
            };
            if let Some(Some(conn)) = self.conns.get_mut(slot) {
                work += transmit_session(&mut init.session, conn, now, close_timeout);
            }
        }
        let mut overflow = None;
        while let Some((id, transmit)) = self.acceptor.poll_transmit() {
            work += 1;
            let slot = slot_of(id);
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id != id {
                // A frame for a connection that is gone: the epoch fences it off.
                continue;
            }
            if !send_transmit(conn, transmit, now, self.config.close_timeout) {
                overflow = Some(slot);
            }
        }
        if let Some(slot) = overflow {
            self.slow_consumer(slot, now);
        }
        // Bytes the transport still holds (a TLS record or frame that met a full socket).
        for conn in self.conns.iter_mut().flatten() {
            if conn.ws.flush_pending() && conn.ws.flush().is_err() {
                conn.dead = true;
            }
        }
        work
    }

    // ----- events to strategies -----

    /// Events not produced by a frame (timers, state changes, recovery) reach the strategy here.
    fn deliver_events(&mut self, now: u64) -> usize {
        let mut work = 0;
        let reconnect_min = ns(self.config.reconnect_min);
        for init in &mut self.initiators {
            work += forward_events(
                &mut init.session,
                &mut init.route,
                now,
                Some(init.config.encoding),
            );
            if init.session.has_event() && init.route.from_engine.free() == 0 {
                SessionCounters::bump(&init.route.counters.strategy_backpressure);
            }
            if init.session.state() == SessionState::Established {
                init.backoff_ns = reconnect_min;
            }
        }
        for served in &mut self.served {
            let Some(session) = self.acceptor.session_mut(served.id) else {
                continue;
            };
            // The generation starts before the first inbound message is recorded.
            ensure_generation(session);
            work += forward_events(session, &mut served.route, now, Some(served.encoding));
            if session.has_event() && served.route.from_engine.free() == 0 {
                SessionCounters::bump(&served.route.counters.strategy_backpressure);
            }
        }
        work
    }

    // ----- end of connections and sessions -----

    fn reap(&mut self, now: u64) {
        for slot in 0..self.conns.len() {
            let dead = matches!(self.conns.get(slot), Some(Some(c)) if c.dead || c.ws.is_closed());
            if dead {
                self.drop_conn(slot, now);
            }
        }
        // Forget served sessions the acceptor has freed (it frees a finalized session only
        // once its events were taken, so the strategy has seen Finalized).
        let acceptor = &self.acceptor;
        let journal = self.config.acceptor_journal.as_ref();
        self.served.retain(|s| {
            let live = acceptor
                .session(s.id)
                .is_some_and(|session| session.state() != SessionState::Finalized);
            if !live {
                if let Some(setup) = journal {
                    mark_finalized(&setup.dir, s.id);
                }
            }
            acceptor.session(s.id).is_some()
        });
    }

    /// Drops a connection now (no closing handshake) and tells its session.
    fn drop_conn(&mut self, slot: usize, now: u64) {
        {
            let Some(Some(mut conn)) = self.conns.get_mut(slot).map(Option::take) else {
                return;
            };
            let _ = conn.ws.deregister(self.poll.registry());
            match conn.owner {
                Owner::Server(_) => {
                    self.acceptor.handle_disconnected(now, conn.id);
                    for served in &mut self.served {
                        if served.conn == Some(conn.id) {
                            served.conn = None;
                        }
                    }
                }
                Owner::Client(index) => {
                    if let Some(init) = self.initiators.get_mut(index) {
                        init.session.handle_disconnected(now);
                        init.conn = None;
                    }
                    self.schedule_reconnect(index, now);
                }
            }
            drop(conn);
        }
    }

    fn begin_shutdown(&mut self, now: u64) {
        self.shutting_down = Some(now);
        let finalize = self.config.shutdown_mode == ShutdownMode::Finalize;
        // Connections without a bound session first (their sessions have no Close to send):
        // handshakes are dropped, open ones closed (1001 from a server, 1000 from a client).
        let close_timeout = ns(self.config.close_timeout);
        for conn in self.conns.iter_mut().flatten() {
            let (unbound, code) = match conn.owner {
                Owner::Client(index) => (
                    self.initiators
                        .get(index)
                        .is_some_and(|init| !init.session.is_bound()),
                    crate::transport::CLOSE_NORMAL,
                ),
                Owner::Server(_) => (conn.session.is_none(), CLOSE_GOING_AWAY),
            };
            if !unbound {
                continue;
            }
            if conn.phase == Phase::Open {
                let _ = conn.ws.close(code, "shutting down");
                conn.phase = Phase::Closing;
                conn.deadline = Some(now + close_timeout);
            } else if conn.phase == Phase::Handshake {
                conn.dead = true;
            }
        }
        // Bound sessions end through the session: Close 1000 (unbind) or finalization.
        for init in &mut self.initiators {
            init.reconnect_at = None;
            end_session(&mut init.session, finalize, now);
            init.done = true;
        }
        for served in &self.served {
            if let Some(session) = self.acceptor.session_mut(served.id) {
                end_session(session, finalize, now);
            }
        }
    }
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

enum Applied {
    Sent,
    Waiting,
    Done,
    Terminated,
    Drop,
}

/// Applies one strategy command to a session.
fn apply(session: &mut EngineSession, route: &mut Route, command: ToEngine, now: u64) -> Applied {
    match command {
        ToEngine::Send(slot) => match session.send(now, slot.bytes()) {
            Ok(_) => {
                SessionCounters::bump(&route.counters.messages_out);
                Applied::Sent
            }
            Err(SendError::Backpressure) => {
                SessionCounters::bump(&route.counters.session_backpressure);
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
/// `recv_ns`, journaled first when the session has a journal and `journal` names the
/// encoding). Returns how many were moved.
fn forward_events(
    session: &mut EngineSession,
    route: &mut Route,
    recv_ns: u64,
    journal: Option<WireEncoding>,
) -> usize {
    let mut moved = 0;
    // One producer: room seen here cannot shrink before the push.
    while route.from_engine.free() > 0 {
        let Some(event) = session.poll_event() else {
            break;
        };
        let item = to_item(route, event, recv_ns);
        if let (FromEngine::Message(slot), Some(encoding)) = (&item, journal) {
            journal_inbound(session, slot, encoding);
        }
        let _ = route.from_engine.push(item);
        moved += 1;
    }
    moved
}

/// The marker file of a finalized acceptor session journal.
const FINALIZED_MARKER: &str = "finalized";

/// Marks the journal of acceptor session `id` finalized (once; a failure only means a restart
/// restores it and the client's Establish sees it finalize again).
fn mark_finalized(root: &std::path::Path, id: SessionId) {
    let marker = root.join(id.to_string()).join(FINALIZED_MARKER);
    if !marker.exists() {
        let _ = std::fs::write(&marker, b"");
    }
}

/// Restores every acceptor session journaled under `setup.dir`: live ones as negotiated,
/// unbound sessions, finalized ones into the finalized history.
fn restore_acceptor_sessions(
    acceptor: &mut EngineAcceptor,
    setup: &JournalSetup,
    encoding: WireEncoding,
) -> Result<(), EngineError> {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(&setup.dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let journal = SessionJournal::open(&dir, setup.config)?;
        let Some(meta) = journal.session() else {
            continue;
        };
        if dir.join(FINALIZED_MARKER).exists() {
            acceptor.restore_finalized(meta.session_id);
            continue;
        }
        let next_out = journal.next_outbound_seq().unwrap_or(1);
        let next_in = journal.next_inbound_seq().unwrap_or(1);
        acceptor
            .restore(
                meta.session_id,
                meta.inbound_flow,
                next_out,
                next_in,
                EngineEncoding::fixed(encoding),
                EngineStore::Journal(Box::new(journal)),
            )
            .map_err(EngineError::Restore)?;
    }
    Ok(())
}

/// Starts the journal generation of a just-established session that has none yet.
fn ensure_generation(session: &mut EngineSession) {
    if session.state() != SessionState::Established {
        return;
    }
    let status = session.status();
    if let EngineStore::Journal(journal) = session.store_mut() {
        if journal.session().map(|m| m.session_id) != Some(status.session_id) {
            let inbound = status
                .inbound_flow
                .unwrap_or(crate::codec::fixp::FlowType::Recoverable);
            // On failure sends are refused with a store error the strategy sees.
            let _ = journal.start_generation(status.session_id, status.outbound_flow, inbound);
        }
    }
}

/// Records a delivered inbound message in the session's journal (if it has one), so that a
/// restart knows the next number to expect.
fn journal_inbound(session: &mut EngineSession, slot: &MessageSlot, encoding: WireEncoding) {
    if slot.seq == 0 {
        return;
    }
    if let EngineStore::Journal(journal) = session.store_mut() {
        if let Some(generation) = journal.generation_mut() {
            let code = match encoding {
                WireEncoding::Sbe => crate::codec::sofh::SBE_LITTLE_ENDIAN,
                WireEncoding::Json => crate::codec::sofh::JSON,
            };
            // Numbers only grow (duplicates are dropped before delivery); a refused record
            // only means a restart would ask for it again.
            let _ = generation
                .inbound
                .append_after_gap(slot.seq, slot.recv_ns, code, slot.bytes());
        }
    }
}

fn to_item(route: &Route, event: Event<'_>, now: u64) -> FromEngine {
    match event {
        Event::Message { seq, bytes } => match MessageSlot::new(bytes, seq, now) {
            Ok(slot) => {
                SessionCounters::bump(&route.counters.messages_in);
                FromEngine::Message(slot)
            }
            Err(e) => FromEngine::MessageTooLong(e),
        },
        other => {
            SessionCounters::bump(&route.counters.events);
            FromEngine::Event(detach(other))
        }
    }
}

/// An event without borrowed bytes (every variant but `Message`, which is handled apart).
fn detach(event: Event<'_>) -> Event<'static> {
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

/// Sends every frame a client session has queued. Returns the frames handled.
fn transmit_session(
    session: &mut EngineSession,
    conn: &mut Conn,
    now: u64,
    close_timeout: Duration,
) -> usize {
    let mut work = 0;
    while let Some(transmit) = session.poll_transmit() {
        work += 1;
        let _ = send_transmit(conn, transmit, now, close_timeout);
    }
    work
}

/// Puts one transmit on a connection. False when the connection's buffer overflowed (slow
/// consumer).
fn send_transmit(
    conn: &mut Conn,
    transmit: Transmit<'_>,
    now: u64,
    close_timeout: Duration,
) -> bool {
    match transmit {
        Transmit::Frame { bytes, kind } => {
            if conn.phase != Phase::Open || conn.dead {
                // The binding is over; the session recovers lost frames on the next one.
                return true;
            }
            let binary = kind == crate::codec::FrameKind::Binary;
            if !conn.buffer.is_empty() {
                return buffer_frame(conn, binary, bytes, now);
            }
            match conn.ws.send(kind, bytes) {
                Ok(SendStatus::Flushed | SendStatus::Pending) => true,
                Ok(SendStatus::Backpressure) => buffer_frame(conn, binary, bytes, now),
                Err(_) => {
                    conn.dead = true;
                    true
                }
            }
        }
        Transmit::Close { code, reason } => {
            conn.buffer.clear();
            conn.stalled_since = None;
            if conn.phase == Phase::Open {
                if conn.ws.close(code, reason).is_err() {
                    conn.dead = true;
                }
                conn.phase = Phase::Closing;
                conn.deadline = Some(now + ns(close_timeout));
            }
            true
        }
    }
}

fn buffer_frame(conn: &mut Conn, binary: bool, bytes: &[u8], now: u64) -> bool {
    if conn.stalled_since.is_none() {
        conn.stalled_since = Some(now);
    }
    conn.buffer.push(binary, bytes)
}

/// Moves frames from our buffer into the transport while it takes them.
fn flush_buffer(conn: &mut Conn) {
    while let Some((binary, payload, record)) = conn.buffer.front() {
        let kind = if binary {
            crate::codec::FrameKind::Binary
        } else {
            crate::codec::FrameKind::Text
        };
        match conn.ws.send(kind, payload) {
            Ok(SendStatus::Backpressure) => return,
            Ok(_) => conn.buffer.pop(record),
            Err(_) => {
                conn.dead = true;
                return;
            }
        }
    }
    conn.stalled_since = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_fenced_by_epoch() {
        let first = connection_id(1, 5);
        let reused = connection_id(2, 5);
        assert_ne!(first, reused, "same slot, new epoch, new id");
        assert_eq!(slot_of(first), 5);
        assert_eq!(slot_of(reused), 5);
        assert_eq!(slot_of(connection_id(7, 0)), 0);
    }

    #[test]
    fn clock_is_epoch_based_and_never_goes_back() {
        let clock = Clock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert!(a > 1_600_000_000_000_000_000, "epoch nanoseconds");
    }

    #[test]
    fn send_buffer_keeps_frames_in_order_and_refuses_past_its_limit() {
        let mut buffer = SendBuffer::new(32);
        assert!(buffer.push(true, b"hello"));
        assert!(buffer.push(false, b"world!"));
        assert!(!buffer.push(true, &[0; 20]), "over the limit");
        let (binary, bytes, record) = buffer.front().expect("first");
        assert!(binary);
        assert_eq!(bytes, b"hello");
        buffer.pop(record);
        let (binary, bytes, record) = buffer.front().expect("second");
        assert!(!binary);
        assert_eq!(bytes, b"world!");
        buffer.pop(record);
        assert!(buffer.is_empty());
        assert!(buffer.push(true, &[7; 20]), "room again");
        assert_eq!(buffer.front().map(|f| f.1.len()), Some(20));
    }
}
