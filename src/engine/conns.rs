//! The connection table: every socket the engine holds (accepted or dialled), each named by a
//! [`ConnectionId`] whose epoch fences a reused slot, with its transport ([`Link`]), phase,
//! timers, the session entry bound to it, and the [`SendBuffer`] that holds frames while its
//! socket is full.
//!
//! Owns: connection slots, ids, per-connection buffering and close/stall bookkeeping. May not
//! touch: sessions (the duty cycle tells sessions what happened to their connection) or the
//! poll (the duty cycle registers and deregisters).

use std::net::IpAddr;

use crate::codec::FrameKind;
use crate::engine::link::Link;
use crate::session::{ConnectionId, PeerIdentity, Transmit};
use crate::transport::{SendStatus, WireEncoding};

const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

/// Connection slots an engine can address (the id keeps the slot in its low bits).
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// A connection's id: a never-reused epoch above the slot index, so an id of a closed
/// connection does not name the next connection in the same slot.
pub(crate) fn connection_id(epoch: u64, slot: usize) -> ConnectionId {
    ConnectionId((epoch << SLOT_BITS) | (slot as u64 & SLOT_MASK))
}

/// The slot a connection id names (its epoch must still be checked against the slot's).
pub(crate) fn slot_of(id: ConnectionId) -> usize {
    usize::try_from(id.0 & SLOT_MASK).unwrap_or(usize::MAX)
}

/// Frames waiting while a socket is full: a preallocated byte buffer of
/// `[kind u8][len u32 LE][bytes]` records, never grown past its capacity.
pub(crate) struct SendBuffer {
    bytes: Vec<u8>,
    head: usize,
    limit: usize,
}

impl SendBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        SendBuffer {
            bytes: Vec::new(),
            head: 0,
            limit,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head >= self.bytes.len()
    }

    /// Bytes held (records with their headers).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() - self.head
    }

    /// Appends a frame; false when it would exceed the limit.
    pub(crate) fn push(&mut self, binary: bool, payload: &[u8]) -> bool {
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
    pub(crate) fn front(&self) -> Option<(bool, &[u8], usize)> {
        let rest = self.bytes.get(self.head..)?;
        let (&kind, rest) = rest.split_first()?;
        let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_le_bytes(len_bytes)).ok()?;
        let payload = rest.get(4..4 + len)?;
        Some((kind == 1, payload, 5 + len))
    }

    pub(crate) fn pop(&mut self, record: usize) {
        self.head += record;
        if self.head >= self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.head = 0;
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Handshake,
    Open,
    Closing,
}

/// Who a connection belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Accepted by listener `n`; bound to a session once one exists.
    Server(usize),
    /// The connection of initiator `n`.
    Client(usize),
}

/// One connection.
pub(crate) struct Conn {
    pub(crate) link: Link,
    pub(crate) id: ConnectionId,
    pub(crate) owner: Owner,
    pub(crate) phase: Phase,
    /// Handshake or closing deadline.
    pub(crate) deadline: Option<u64>,
    pub(crate) encoding: WireEncoding,
    /// The session entry bound to this connection.
    pub(crate) entry: Option<usize>,
    pub(crate) peer_close_seen: bool,
    pub(crate) buffer: SendBuffer,
    pub(crate) stalled_since: Option<u64>,
    pub(crate) dead: bool,
    /// The peer's address (server connections).
    pub(crate) peer_ip: Option<IpAddr>,
    /// In the pre-session pool (a server connection whose session is not yet established).
    pub(crate) pooled: bool,
    /// The names of the peer's verified TLS client certificate, once open.
    pub(crate) peer: Option<Box<PeerIdentity>>,
    /// The peer's address (accepted: from `accept`; dialled: the target), for status and logs.
    pub(crate) peer_addr: Option<std::net::SocketAddr>,
    /// Frames were queued on the link since its last flush ([`Conn::end_batch`] flushes them).
    batched: bool,
    /// Listed for direct reads (busy-poll mode with few connections).
    pub(crate) direct: bool,
}

impl Conn {
    /// A connection in its handshake, with its handshake deadline.
    pub(crate) fn new(
        link: Link,
        id: ConnectionId,
        owner: Owner,
        encoding: WireEncoding,
        handshake_deadline: u64,
        send_buffer_bytes: usize,
    ) -> Self {
        Conn {
            link,
            id,
            owner,
            phase: Phase::Handshake,
            deadline: Some(handshake_deadline),
            encoding,
            entry: None,
            peer_close_seen: false,
            buffer: SendBuffer::new(send_buffer_bytes),
            stalled_since: None,
            dead: false,
            peer_ip: None,
            pooled: false,
            peer_addr: None,
            peer: None,
            batched: false,
            direct: false,
        }
    }

    /// The earliest of its handshake/closing deadline and its slow-consumer limit.
    pub(crate) fn timer(&self, slow_consumer_ns: u64) -> Option<u64> {
        let stall = self
            .stalled_since
            .map(|t| t.saturating_add(slow_consumer_ns));
        match (self.deadline, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when it must be dropped.
    pub(crate) fn is_done(&self) -> bool {
        self.dead || self.link.is_closed()
    }

    /// True when bytes wait in the transport or in our buffer.
    pub(crate) fn needs_flush(&self) -> bool {
        self.link.flush_pending() || !self.buffer.is_empty()
    }

    /// Enters the closing phase (once), with its deadline.
    pub(crate) fn begin_closing(&mut self, now: u64, close_ns: u64) {
        if self.phase != Phase::Closing {
            self.phase = Phase::Closing;
            self.deadline = Some(now.saturating_add(close_ns));
        }
    }

    /// Puts one transmit on the connection, queued on the link with the others of this batch:
    /// call [`Conn::end_batch`] after the last. False when its buffer overflowed (slow
    /// consumer).
    pub(crate) fn put(&mut self, transmit: Transmit<'_>, now: u64, close_ns: u64) -> bool {
        match transmit {
            Transmit::Frame { bytes, kind } => {
                if self.phase != Phase::Open || self.dead {
                    // The binding is over; the session recovers lost frames on the next one.
                    return true;
                }
                let binary = kind == FrameKind::Binary;
                if !self.buffer.is_empty() {
                    return self.buffer_frame(binary, bytes, now);
                }
                self.batched = true;
                match self.link.queue(kind, bytes) {
                    Ok(SendStatus::Flushed | SendStatus::Pending) => true,
                    Ok(SendStatus::Backpressure) => self.buffer_frame(binary, bytes, now),
                    Err(_) => {
                        self.dead = true;
                        true
                    }
                }
            }
            Transmit::Close { code, reason } => {
                self.buffer.clear();
                self.stalled_since = None;
                if self.phase == Phase::Open {
                    if self.link.close(code, reason).is_err() {
                        self.dead = true;
                    }
                    self.begin_closing(now, close_ns);
                }
                true
            }
        }
    }

    fn buffer_frame(&mut self, binary: bool, bytes: &[u8], now: u64) -> bool {
        if self.stalled_since.is_none() {
            self.stalled_since = Some(now);
        }
        self.buffer.push(binary, bytes)
    }

    /// Ends a batch of [`Conn::put`]: one flush writes every frame queued since the last (a
    /// lone frame leaves now, as a batch of one). What the socket does not take waits for
    /// WRITABLE ([`Conn::needs_flush`]).
    pub(crate) fn end_batch(&mut self) {
        if std::mem::take(&mut self.batched) && !self.dead && self.link.flush().is_err() {
            self.dead = true;
        }
    }

    /// Writes what waits: the transport's backlog, then frames from our buffer while the
    /// transport takes them (queued, and flushed together).
    pub(crate) fn flush(&mut self) {
        if self.link.flush_pending() && self.link.flush().is_err() {
            self.dead = true;
            return;
        }
        while let Some((binary, payload, record)) = self.buffer.front() {
            let kind = if binary {
                FrameKind::Binary
            } else {
                FrameKind::Text
            };
            self.batched = true;
            match self.link.queue(kind, payload) {
                Ok(SendStatus::Backpressure) => break,
                Ok(_) => self.buffer.pop(record),
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.end_batch();
        if self.buffer.is_empty() {
            self.stalled_since = None;
        }
    }
}

/// Every connection, by slot.
pub(crate) struct ConnTable {
    slots: Vec<Option<Conn>>,
    /// Free slots, lowest on top.
    free: Vec<usize>,
    next_epoch: u64,
    live: usize,
}

impl ConnTable {
    /// Room for `capacity` connections (at most [`MAX_SLOTS`]).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_SLOTS);
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, || None);
        ConnTable {
            slots,
            free: (0..capacity).rev().collect(),
            next_epoch: 1,
            live: 0,
        }
    }

    /// Slots in the table.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// True when no connection is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Connections held.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// The slot and a fresh id for the next connection, if a slot is free (nothing is taken
    /// until [`ConnTable::insert`]).
    pub(crate) fn next_id(&mut self) -> Option<(usize, ConnectionId)> {
        let slot = *self.free.last()?;
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        Some((slot, connection_id(epoch, slot)))
    }

    /// Puts a connection in the slot its id names (the one [`ConnTable::next_id`] gave).
    pub(crate) fn insert(&mut self, conn: Conn) {
        let slot = slot_of(conn.id);
        if self.free.last() == Some(&slot) {
            self.free.pop();
        } else if let Some(at) = self.free.iter().position(|&s| s == slot) {
            self.free.swap_remove(at);
        } else {
            return;
        }
        if let Some(entry) = self.slots.get_mut(slot) {
            *entry = Some(conn);
            self.live += 1;
        }
    }

    /// Takes the connection out of its slot and frees the slot.
    pub(crate) fn take(&mut self, slot: usize) -> Option<Conn> {
        let conn = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.live -= 1;
        Some(conn)
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&Conn> {
        self.slots.get(slot)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// The connection with this id, if it is still there (see [`ConnTable::by_id_mut`]).
    pub(crate) fn by_id(&self, id: ConnectionId) -> Option<&Conn> {
        self.get(slot_of(id)).filter(|c| c.id == id)
    }

    /// The connection with this id; `None` if it is gone (a stale id names nothing, even when
    /// its slot holds a newer connection).
    pub(crate) fn by_id_mut(&mut self, id: ConnectionId) -> Option<&mut Conn> {
        self.get_mut(slot_of(id)).filter(|c| c.id == id)
    }

    /// Every connection (shutdown only: O(capacity)).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.slots.iter_mut().flatten()
    }
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
    fn slots_are_handed_out_lowest_first_and_ids_never_repeat() {
        let mut table = ConnTable::new(3);
        let (a, id_a) = table.next_id().expect("free");
        let (b, id_b) = table.next_id().expect("free");
        assert_eq!((a, b), (0, 0), "nothing taken until insert");
        assert_ne!(id_a, id_b);
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
