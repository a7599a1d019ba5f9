//! Single-producer single-consumer queues between the engine thread and a strategy thread.
//!
//! A bounded crossbeam `ArrayQueue` preallocates every slot, and messages are fixed-size values
//! ([`AppMessage`]) moved into and out of those slots: nothing is allocated per message. The
//! two ends are separate types that are neither `Clone` nor `Sync`-shared, so the type system
//! enforces one producer and one consumer. A push to a full queue hands the message back:
//! back-pressure is a value, never a silent drop.
//!
//! Owns: the queue ends and their slots. May not touch: what the messages mean.

use std::fmt;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

/// Creates a queue with room for `capacity` messages (at least 1).
pub fn spsc_queue<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let queue = Arc::new(ArrayQueue::new(capacity.max(1)));
    (
        Producer {
            queue: Arc::clone(&queue),
        },
        Consumer { queue },
    )
}

/// The sending end. Not `Clone`: there is exactly one.
pub struct Producer<T> {
    queue: Arc<ArrayQueue<T>>,
}

/// The receiving end. Not `Clone`: there is exactly one.
pub struct Consumer<T> {
    queue: Arc<ArrayQueue<T>>,
}

impl<T> Producer<T> {
    /// Enqueues a message; a full queue returns it in `Err`.
    #[inline]
    pub fn push(&mut self, message: T) -> Result<(), T> {
        self.queue.push(message)
    }

    /// Free slots right now (a snapshot: the consumer may free more at any time).
    pub fn free(&self) -> usize {
        self.queue.capacity().saturating_sub(self.queue.len())
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

impl<T> Consumer<T> {
    /// Dequeues the oldest message, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.queue.pop()
    }

    /// Messages waiting right now (a snapshot).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True if no message is waiting right now.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Producer({}/{})",
            self.queue.len(),
            self.queue.capacity()
        )
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Consumer({}/{})",
            self.queue.len(),
            self.queue.capacity()
        )
    }
}

/// The payload does not fit an [`AppMessage`] slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message of {len} bytes does not fit a {capacity}-byte slot")]
pub struct MessageTooLong {
    /// Payload length.
    pub len: usize,
    /// Slot size.
    pub capacity: usize,
}

/// An application message in a fixed-size slot: the encoded bytes plus the sequence number and
/// receive time the engine assigned. `N` is the slot size (at most 65 535).
#[derive(Clone, Copy)]
pub struct AppMessage<const N: usize> {
    len: u16,
    /// The FIXP sequence number (0 for unsequenced flows).
    pub seq: u64,
    /// When the frame was read, in the engine clock's nanoseconds.
    pub recv_ns: u64,
    bytes: [u8; N],
}

impl<const N: usize> AppMessage<N> {
    /// The largest payload a slot holds.
    pub const CAPACITY: usize = if N < u16::MAX as usize {
        N
    } else {
        u16::MAX as usize
    };

    /// An empty message.
    pub const fn empty() -> Self {
        Self {
            len: 0,
            seq: 0,
            recv_ns: 0,
            bytes: [0; N],
        }
    }

    /// Copies `payload` into a new message.
    pub fn new(payload: &[u8], seq: u64, recv_ns: u64) -> Result<Self, MessageTooLong> {
        let mut message = Self::empty();
        message.set(payload)?;
        message.seq = seq;
        message.recv_ns = recv_ns;
        Ok(message)
    }

    /// Replaces the payload.
    pub fn set(&mut self, payload: &[u8]) -> Result<(), MessageTooLong> {
        let too_long = MessageTooLong {
            len: payload.len(),
            capacity: Self::CAPACITY,
        };
        if payload.len() > Self::CAPACITY {
            return Err(too_long);
        }
        let len = u16::try_from(payload.len()).map_err(|_| too_long)?;
        let slot = self.bytes.get_mut(..payload.len()).ok_or(too_long)?;
        slot.copy_from_slice(payload);
        self.len = len;
        Ok(())
    }

    /// The payload.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Payload length.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for AppMessage<N> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<const N: usize> fmt::Debug for AppMessage<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppMessage")
            .field("seq", &self.seq)
            .field("recv_ns", &self.recv_ns)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_hands_the_message_back() {
        let (mut tx, mut rx) = spsc_queue::<AppMessage<16>>(2);
        tx.push(AppMessage::new(b"a", 1, 0).expect("fits"))
            .expect("room");
        tx.push(AppMessage::new(b"b", 2, 0).expect("fits"))
            .expect("room");
        assert_eq!(tx.free(), 0);
        let back = tx
            .push(AppMessage::new(b"c", 3, 0).expect("fits"))
            .expect_err("full");
        assert_eq!((back.seq, back.bytes()), (3, &b"c"[..]));
        assert_eq!(rx.pop().map(|m| m.seq), Some(1));
        tx.push(back).expect("room again");
        assert_eq!(rx.pop().map(|m| m.seq), Some(2));
        assert_eq!(rx.pop().map(|m| m.seq), Some(3));
        assert!(rx.pop().is_none());
        assert!(rx.is_empty());
    }

    #[test]
    fn oversized_payloads_are_refused() {
        assert_eq!(
            AppMessage::<4>::new(b"12345", 0, 0).map(|m| m.len()),
            Err(MessageTooLong {
                len: 5,
                capacity: 4
            })
        );
        let m = AppMessage::<4>::new(b"1234", 9, 10).expect("fits");
        assert_eq!((m.bytes(), m.seq, m.recv_ns), (&b"1234"[..], 9, 10));
    }
}
