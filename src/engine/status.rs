//! Per-session status published by the engine thread for readers on other threads (an admin
//! endpoint, a dashboard), off the hot path and without a lock the engine could wait on.
//!
//! The engine owns a [`StatusBoard`]: one fixed-size record per session entry, preallocated at
//! the engine's session capacity, each behind a sequence lock made of atomics (the writer
//! makes the sequence odd, stores the record's words, makes it even; a reader retries while
//! the sequence is odd or changed under it). The engine never waits and never allocates for
//! it: publication copies `Copy` values into the preallocated words. It runs from the cycle's
//! one clock read, every [`OpsConfig::status_interval`](crate::engine::OpsConfig), at most
//! `status_batch` sessions per cycle (a round over many sessions spreads over cycles), and a
//! quiet engine publishes nothing until something happens. Readers hold a [`StatusReader`].
//!
//! Owns: the record layout, the board and the publisher's round. May not touch: sessions or
//! connections (the duty cycle hands in what a record holds), the strategy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

use crate::codec::fixp::FlowType;
use crate::codec::SessionId;
use crate::session::{Role, SessionState};
use crate::transport::WireEncoding;

/// The transport under a session's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// WebSocket over plain TCP (`ws://`).
    Ws,
    /// WebSocket over TLS (`wss://`).
    Wss,
    /// FIXP over TCP with SOFH framing (`tcp://`).
    Tcp,
    /// FIXP over TLS with SOFH framing (`tcp+tls://`).
    TcpTls,
}

impl TransportKind {
    const ALL: [TransportKind; 4] = [
        TransportKind::Ws,
        TransportKind::Wss,
        TransportKind::Tcp,
        TransportKind::TcpTls,
    ];

    /// Its URL scheme: `ws`, `wss`, `tcp`, `tcp+tls`.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Ws => "ws",
            TransportKind::Wss => "wss",
            TransportKind::Tcp => "tcp",
            TransportKind::TcpTls => "tcp+tls",
        }
    }
}

/// Who consumes a session's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsumerMode {
    /// The engine's inline strategy.
    Inline,
    /// A strategy thread, through a session handle.
    Thread,
    /// Nobody (the application did not take the session).
    Detached,
}

impl ConsumerMode {
    const ALL: [ConsumerMode; 3] = [
        ConsumerMode::Inline,
        ConsumerMode::Thread,
        ConsumerMode::Detached,
    ];

    /// `inline`, `thread` or `detached`.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerMode::Inline => "inline",
            ConsumerMode::Thread => "thread",
            ConsumerMode::Detached => "detached",
        }
    }
}

/// How full a session's queues are: frames or events waiting, and slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusQueues {
    /// Outbound frames waiting for the socket (the session's outbox).
    pub outbox: u32,
    /// Slots of the outbox.
    pub outbox_capacity: u32,
    /// Events and messages waiting for the strategy (the session's event ring).
    pub events: u32,
    /// Slots of the event ring.
    pub event_capacity: u32,
    /// Live messages held back while a gap is recovered.
    pub recovery: u32,
    /// Slots of the recovery queue.
    pub recovery_capacity: u32,
    /// Thread mode: commands waiting in the strategy → engine queue (0 inline).
    pub to_engine: u32,
    /// Thread mode: messages and events waiting in the engine → strategy queue (0 inline).
    pub from_engine: u32,
    /// Thread mode: slots of each of those two queues (0 inline).
    pub queue_capacity: u32,
}

/// Counters of one session since it joined the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounters {
    /// Application messages delivered to the strategy.
    pub messages_in: u64,
    /// Application messages the session accepted from the strategy.
    pub messages_out: u64,
    /// Events delivered to the strategy.
    pub events: u64,
    /// Transport connections made (initiators) or bound.
    pub connections: u64,
    /// Cycles the strategy's queue was full (thread mode).
    pub strategy_backpressure: u64,
    /// Cycles the session's outbox was full when the strategy sent (thread mode).
    pub session_backpressure: u64,
    /// Frames accepted despite a tolerated deviation of the peer's encoding.
    pub tolerated_deviations: u64,
    /// Inbound duplicates dropped.
    pub duplicates_dropped: u64,
    /// RetransmitRequests we sent (recoveries of the peer's flow).
    pub retransmit_requests: u64,
    /// Messages we asked the peer to retransmit.
    pub retransmit_requested_messages: u64,
    /// RetransmitRequests of the peer we answered with a replay.
    pub replays: u64,
    /// Messages we replayed to the peer.
    pub replayed_messages: u64,
}

/// One session's published status: a plain copy, consistent as of `updated_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStatusRecord {
    /// The session's dense index in the engine (the strategy's `SessionKey::index`).
    pub index: u32,
    /// The generation of that index (changes when the index is reused).
    pub generation: u32,
    /// The SessionId.
    pub session_id: SessionId,
    /// Client (initiator) or server (acceptor session).
    pub role: Role,
    /// Who consumes its messages.
    pub mode: ConsumerMode,
    /// SBE or JSON.
    pub encoding: WireEncoding,
    /// Its state.
    pub state: SessionState,
    /// True while a transport binding is live.
    pub bound: bool,
    /// Our flow type.
    pub outbound_flow: FlowType,
    /// The peer's flow type, once known.
    pub inbound_flow: Option<FlowType>,
    /// The sequence number our next application message will carry.
    pub next_seq_to_send: u64,
    /// The next inbound sequence number to deliver.
    pub next_seq_expected: u64,
    /// When we last received anything (engine clock, epoch ns; 0: never).
    pub last_heard_ns: u64,
    /// We sent FinishedSending.
    pub finished_sending: bool,
    /// The peer sent FinishedSending.
    pub peer_finished_sending: bool,
    /// Queue depths.
    pub queues: StatusQueues,
    /// Counters.
    pub counters: StatusCounters,
    /// Our RetransmitRequest in flight: the peer's messages `from..end`.
    pub recovering: Option<(u64, u64)>,
    /// The peer's RetransmitRequest being answered: `(next to replay, end)`.
    pub replaying: Option<(u64, u64)>,
    /// The transport of its connection, while it has one.
    pub transport: Option<TransportKind>,
    /// The peer's address, while it has a connection.
    pub peer: Option<SocketAddr>,
    /// When the engine wrote this record (engine clock, epoch ns).
    pub updated_ns: u64,
}

/// Words of one record (each an `AtomicU64`).
const WORDS: usize = 33;

/// One record behind its sequence lock.
struct Slot {
    /// Even: stable; odd: being written.
    seq: AtomicU64,
    words: [AtomicU64; WORDS],
}

impl Slot {
    fn new() -> Self {
        Slot {
            seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Writer side (the engine thread only): never waits.
    fn write(&self, words: &[u64; WORDS]) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (cell, &word) in self.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Reader side: a consistent copy (retries while the engine writes this slot).
    fn read(&self) -> [u64; WORDS] {
        let mut out = [0u64; WORDS];
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            for (word, cell) in out.iter_mut().zip(&self.words) {
                *word = cell.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return out;
            }
        }
    }
}

/// The published records, one per session entry, and the round counter.
pub(crate) struct StatusBoard {
    slots: Box<[Slot]>,
    /// Completed publication rounds.
    rounds: AtomicU64,
    /// Engine clock at the end of the last round.
    round_ns: AtomicU64,
}

impl StatusBoard {
    pub(crate) fn new(capacity: usize) -> Self {
        StatusBoard {
            slots: (0..capacity).map(|_| Slot::new()).collect(),
            rounds: AtomicU64::new(0),
            round_ns: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for StatusPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusPublisher")
            .field("interval_ns", &self.interval_ns)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("slots", &self.slots.len())
            .field("rounds", &self.rounds.load(Ordering::Relaxed))
            .finish()
    }
}

/// Reads the engine's published session status from any thread (clone it freely). Reading
/// never blocks the engine; it may retry a record the engine is writing at that instant.
#[derive(Clone, Debug)]
pub struct StatusReader {
    board: Arc<StatusBoard>,
}

impl StatusReader {
    pub(crate) fn new(board: Arc<StatusBoard>) -> Self {
        StatusReader { board }
    }

    /// Every published session, in index order (allocates the `Vec`, on the reader's thread).
    pub fn sessions(&self) -> Vec<SessionStatusRecord> {
        self.board
            .slots
            .iter()
            .filter_map(|slot| unpack(&slot.read()))
            .collect()
    }

    /// The published session with this SessionId.
    pub fn session(&self, id: SessionId) -> Option<SessionStatusRecord> {
        self.board
            .slots
            .iter()
            .filter_map(|slot| unpack(&slot.read()))
            .find(|record| record.session_id == id)
    }

    /// Publication rounds completed so far: a reader that saw `n` and waits for `n + 2` sees
    /// records written after it looked.
    pub fn rounds(&self) -> u64 {
        self.board.rounds.load(Ordering::Acquire)
    }

    /// The engine clock (epoch ns) at the end of the last round (0 before the first).
    pub fn round_ns(&self) -> u64 {
        self.board.round_ns.load(Ordering::Acquire)
    }

    /// Records the board holds (the engine's session capacity).
    pub fn capacity(&self) -> usize {
        self.board.slots.len()
    }
}

/// A board of `capacity` records: its writer (one thread: the engine's; publishing every
/// `interval_ns`, at most `batch` records per call) and a reader (clone it freely). The
/// engine makes its own; this is the building block, for benchmarks and other loops.
pub fn status_board(
    capacity: usize,
    interval_ns: u64,
    batch: usize,
) -> (StatusPublisher, StatusReader) {
    let board = Arc::new(StatusBoard::new(capacity));
    (
        StatusPublisher::new(Arc::clone(&board), interval_ns, batch),
        StatusReader::new(board),
    )
}

/// The writer's side of a board: when to publish and where the round is. It never waits and
/// never allocates.
pub struct StatusPublisher {
    board: Arc<StatusBoard>,
    /// 0: publication off.
    interval_ns: u64,
    batch: usize,
    next_at: u64,
    /// The next entry of the round in progress (`None`: no round in progress).
    cursor: Option<usize>,
    /// Something happened since the last round started: the next one is worth running.
    changed: bool,
    /// Entries whose slot holds a record (so a freed entry's slot is cleared once).
    shown: Vec<bool>,
}

impl StatusPublisher {
    pub(crate) fn new(board: Arc<StatusBoard>, interval_ns: u64, batch: usize) -> Self {
        let capacity = board.slots.len();
        StatusPublisher {
            board,
            interval_ns,
            batch: batch.max(1),
            next_at: 0,
            cursor: None,
            changed: true,
            shown: vec![false; capacity],
        }
    }

    /// The loop did work this cycle: the next round has something to show.
    #[inline]
    pub fn note_work(&mut self, work: usize) {
        self.changed |= work > 0;
    }

    /// When the publisher next wants a cycle (a blocking engine wakes for it), if it has
    /// anything to publish.
    pub fn deadline(&self) -> Option<u64> {
        if self.interval_ns == 0 {
            return None;
        }
        if self.cursor.is_some() {
            return Some(0);
        }
        self.changed.then_some(self.next_at)
    }

    /// Publishes up to `batch` entries if a round is due or in progress; `record(index)` gives
    /// an entry's record (`None`: no session there). Returns the entries written.
    pub fn publish(
        &mut self,
        now: u64,
        mut record: impl FnMut(usize) -> Option<SessionStatusRecord>,
    ) -> usize {
        if self.interval_ns == 0 {
            return 0;
        }
        let mut index = match self.cursor {
            Some(index) => index,
            None if self.changed && now >= self.next_at => {
                self.changed = false;
                self.next_at = now.saturating_add(self.interval_ns);
                0
            }
            None => return 0,
        };
        let mut written = 0;
        // Empty entries cost a look each: bounded too, so a sparse table of many entries
        // spreads its round over cycles as well.
        let mut visits = self.batch.saturating_mul(8);
        let mut words = [0u64; WORDS];
        while written < self.batch && visits > 0 {
            visits -= 1;
            let (Some(slot), Some(shown)) =
                (self.board.slots.get(index), self.shown.get_mut(index))
            else {
                self.cursor = None;
                self.board.round_ns.store(now, Ordering::Release);
                self.board.rounds.fetch_add(1, Ordering::AcqRel);
                return written;
            };
            match record(index) {
                Some(r) => {
                    pack(&r, &mut words);
                    slot.write(&words);
                    *shown = true;
                    written += 1;
                }
                None if *shown => {
                    slot.write(&[0; WORDS]);
                    *shown = false;
                    written += 1;
                }
                None => {}
            }
            index += 1;
        }
        self.cursor = Some(index);
        written
    }
}

// ----- the record in words -----

fn role_code(role: Role) -> u8 {
    match role {
        Role::Client => 0,
        Role::Server => 1,
    }
}

const STATES: [SessionState; 8] = [
    SessionState::Idle,
    SessionState::Negotiating,
    SessionState::Negotiated,
    SessionState::Establishing,
    SessionState::Established,
    SessionState::NotEstablished,
    SessionState::Finalized,
    SessionState::Rejected,
];

fn code_of<T: PartialEq + Copy>(all: &[T], value: T) -> u8 {
    all.iter()
        .position(|&v| v == value)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

fn value_of<T: Copy>(all: &[T], code: u8) -> Option<T> {
    all.get(usize::from(code)).copied()
}

fn pair(high: u32, low: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(low)
}

fn split(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

fn range_words(range: Option<(u64, u64)>) -> (u64, u64) {
    // Sequence numbers start at 1: (0, 0) is "none".
    range.unwrap_or((0, 0))
}

fn range_of(from: u64, end: u64) -> Option<(u64, u64)> {
    (from != 0 || end != 0).then_some((from, end))
}

fn pack(r: &SessionStatusRecord, w: &mut [u64; WORDS]) {
    let flags = u64::from(r.bound)
        | u64::from(r.finished_sending) << 1
        | u64::from(r.peer_finished_sending) << 2;
    let bytes = [
        1, // present
        role_code(r.role),
        code_of(&ConsumerMode::ALL, r.mode),
        match r.encoding {
            WireEncoding::Sbe => 0,
            WireEncoding::Json => 1,
        },
        code_of(&STATES, r.state),
        r.outbound_flow.to_wire(),
        r.inbound_flow.map_or(0, |f| f.to_wire() + 1),
        r.transport
            .map_or(0, |t| code_of(&TransportKind::ALL, t).saturating_add(1)),
    ];
    w[0] = u64::from_le_bytes(bytes);
    w[1] = flags;
    w[2] = pair(r.index, r.generation);
    let (id_high, id_low) = r.session_id.0.split_at(8);
    w[3] = u64::from_le_bytes(id_high.try_into().unwrap_or_default());
    w[4] = u64::from_le_bytes(id_low.try_into().unwrap_or_default());
    w[5] = r.next_seq_to_send;
    w[6] = r.next_seq_expected;
    w[7] = r.last_heard_ns;
    let q = &r.queues;
    w[8] = pair(q.outbox, q.outbox_capacity);
    w[9] = pair(q.events, q.event_capacity);
    w[10] = pair(q.recovery, q.recovery_capacity);
    w[11] = pair(q.to_engine, q.from_engine);
    w[12] = u64::from(q.queue_capacity);
    let c = &r.counters;
    w[13] = c.messages_in;
    w[14] = c.messages_out;
    w[15] = c.events;
    w[16] = c.connections;
    w[17] = c.strategy_backpressure;
    w[18] = c.session_backpressure;
    w[19] = c.tolerated_deviations;
    w[20] = c.duplicates_dropped;
    w[21] = c.retransmit_requests;
    w[22] = c.retransmit_requested_messages;
    w[23] = c.replays;
    w[24] = c.replayed_messages;
    (w[25], w[26]) = range_words(r.recovering);
    (w[27], w[28]) = range_words(r.replaying);
    let (peer_meta, peer_ip) = match r.peer {
        None => (0, [0u8; 16]),
        Some(SocketAddr::V4(a)) => (
            1 | u64::from(a.port()) << 8,
            a.ip().to_ipv6_mapped().octets(),
        ),
        Some(SocketAddr::V6(a)) => (
            2 | u64::from(a.port()) << 8 | u64::from(a.scope_id()) << 32,
            a.ip().octets(),
        ),
    };
    let ip = u128::from_le_bytes(peer_ip);
    w[29] = peer_meta;
    w[30] = ip as u64;
    w[31] = (ip >> 64) as u64;
    w[32] = r.updated_ns;
}

fn unpack(w: &[u64; WORDS]) -> Option<SessionStatusRecord> {
    let b = w[0].to_le_bytes();
    if b[0] != 1 {
        return None;
    }
    let role = match b[1] {
        0 => Role::Client,
        1 => Role::Server,
        _ => return None,
    };
    let (index, generation) = split(w[2]);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&w[3].to_le_bytes());
    id[8..].copy_from_slice(&w[4].to_le_bytes());
    let (outbox, outbox_capacity) = split(w[8]);
    let (events, event_capacity) = split(w[9]);
    let (recovery, recovery_capacity) = split(w[10]);
    let (to_engine, from_engine) = split(w[11]);
    Some(SessionStatusRecord {
        index,
        generation,
        session_id: SessionId(id),
        role,
        mode: value_of(&ConsumerMode::ALL, b[2])?,
        encoding: if b[3] == 1 {
            WireEncoding::Json
        } else {
            WireEncoding::Sbe
        },
        state: value_of(&STATES, b[4])?,
        bound: w[1] & 1 != 0,
        finished_sending: w[1] & 2 != 0,
        peer_finished_sending: w[1] & 4 != 0,
        outbound_flow: FlowType::from_wire(b[5])?,
        inbound_flow: b[6].checked_sub(1).and_then(FlowType::from_wire),
        transport: b[7]
            .checked_sub(1)
            .and_then(|c| value_of(&TransportKind::ALL, c)),
        next_seq_to_send: w[5],
        next_seq_expected: w[6],
        last_heard_ns: w[7],
        queues: StatusQueues {
            outbox,
            outbox_capacity,
            events,
            event_capacity,
            recovery,
            recovery_capacity,
            to_engine,
            from_engine,
            queue_capacity: u32::try_from(w[12]).unwrap_or(u32::MAX),
        },
        counters: StatusCounters {
            messages_in: w[13],
            messages_out: w[14],
            events: w[15],
            connections: w[16],
            strategy_backpressure: w[17],
            session_backpressure: w[18],
            tolerated_deviations: w[19],
            duplicates_dropped: w[20],
            retransmit_requests: w[21],
            retransmit_requested_messages: w[22],
            replays: w[23],
            replayed_messages: w[24],
        },
        recovering: range_of(w[25], w[26]),
        replaying: range_of(w[27], w[28]),
        peer: peer_of(w[29], w[30], w[31]),
        updated_ns: w[32],
    })
}

fn peer_of(meta: u64, low: u64, high: u64) -> Option<SocketAddr> {
    let ip = Ipv6Addr::from((u128::from(high) << 64 | u128::from(low)).to_le_bytes());
    let port = (meta >> 8) as u16;
    match meta & 0xff {
        1 => Some(SocketAddr::new(
            IpAddr::V4(ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            port,
        )),
        2 => Some(SocketAddr::V6(SocketAddrV6::new(
            ip,
            port,
            0,
            (meta >> 32) as u32,
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64, peer: Option<SocketAddr>) -> SessionStatusRecord {
        SessionStatusRecord {
            index: 3,
            generation: 7,
            session_id: SessionId::from_random_bytes([n as u8; 16]),
            role: Role::Server,
            mode: ConsumerMode::Thread,
            encoding: WireEncoding::Json,
            state: SessionState::NotEstablished,
            bound: false,
            outbound_flow: FlowType::Recoverable,
            inbound_flow: Some(FlowType::Unsequenced),
            next_seq_to_send: n + 1,
            next_seq_expected: n + 2,
            last_heard_ns: n + 3,
            finished_sending: true,
            peer_finished_sending: false,
            queues: StatusQueues {
                outbox: 1,
                outbox_capacity: 2,
                events: 3,
                event_capacity: 4,
                recovery: 5,
                recovery_capacity: 6,
                to_engine: 7,
                from_engine: 8,
                queue_capacity: 9,
            },
            counters: StatusCounters {
                messages_in: n,
                messages_out: n * 2,
                events: 10,
                connections: 11,
                strategy_backpressure: 12,
                session_backpressure: 13,
                tolerated_deviations: 14,
                duplicates_dropped: 15,
                retransmit_requests: 16,
                retransmit_requested_messages: 17,
                replays: 18,
                replayed_messages: 19,
            },
            recovering: Some((4, 9)),
            replaying: None,
            transport: Some(TransportKind::TcpTls),
            peer,
            updated_ns: n * 3,
        }
    }

    #[test]
    fn records_survive_the_word_layout() {
        let v6 = SocketAddr::V6(SocketAddrV6::new(
            "fe80::1:2:3:4".parse().expect("ip"),
            9443,
            0,
            5,
        ));
        for peer in [None, Some("127.0.0.1:8443".parse().expect("v4")), Some(v6)] {
            let record = sample(42, peer);
            let mut words = [0; WORDS];
            pack(&record, &mut words);
            assert_eq!(unpack(&words), Some(record));
        }
        assert_eq!(unpack(&[0; WORDS]), None, "an empty slot");
    }

    #[test]
    fn rounds_publish_in_batches_and_clear_freed_entries() {
        let board = Arc::new(StatusBoard::new(5));
        let reader = StatusReader::new(Arc::clone(&board));
        let mut publisher = StatusPublisher::new(board, 1_000, 2);
        let mut live = [true, false, true, true, false];
        let at = |live: &[bool; 5], i: usize| live[i].then(|| sample(i as u64, None));
        assert_eq!(publisher.deadline(), Some(0), "something to show at start");
        assert_eq!(publisher.publish(10, |i| at(&live, i)), 2, "first batch");
        assert_eq!(reader.rounds(), 0, "round in progress");
        assert_eq!(publisher.deadline(), Some(0));
        assert_eq!(publisher.publish(10, |i| at(&live, i)), 1);
        assert_eq!(publisher.publish(10, |i| at(&live, i)), 0, "round ends");
        assert_eq!((reader.rounds(), reader.round_ns()), (1, 10));
        assert_eq!(reader.sessions().len(), 3);
        assert_eq!(publisher.deadline(), None, "nothing happened since");
        assert_eq!(
            publisher.publish(5_000, |i| at(&live, i)),
            0,
            "quiet: no round"
        );
        live[2] = false;
        publisher.note_work(1);
        assert_eq!(publisher.deadline(), Some(1_010));
        assert_eq!(publisher.publish(500, |i| at(&live, i)), 0, "not due yet");
        while publisher.publish(2_000, |i| at(&live, i)) > 0 {}
        let ids: Vec<u32> = reader
            .sessions()
            .iter()
            .map(|r| r.counters.messages_in as u32)
            .collect();
        assert_eq!(ids, vec![0, 3], "entry 2 was cleared");
        assert_eq!(
            reader
                .session(sample(3, None).session_id)
                .map(|r| r.updated_ns),
            Some(9)
        );
    }

    #[test]
    fn readers_never_see_a_half_written_record() {
        let board = Arc::new(StatusBoard::new(1));
        let reader = StatusReader::new(Arc::clone(&board));
        let writer = std::thread::spawn(move || {
            let mut words = [0; WORDS];
            for n in 1..=20_000u64 {
                pack(&sample(n, None), &mut words);
                board.slots[0].write(&words);
            }
        });
        let mut seen = 0;
        while !writer.is_finished() || seen == 0 {
            for r in reader.sessions() {
                // Every field was written from one n: they agree.
                let n = r.counters.messages_in;
                assert_eq!((r.next_seq_to_send, r.updated_ns), (n + 1, n * 3));
                assert_eq!(r.counters.messages_out, n * 2);
                seen += 1;
            }
        }
        writer.join().expect("writer");
        assert!(seen > 0);
    }
}
