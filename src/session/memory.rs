//! [`MemoryStore`]: a bounded in-memory ring implementing [`RetransmitStore`].
//!
//! It keeps the last `capacity` outbound messages of a Recoverable flow, each up to
//! `max_message_len` bytes; older ones are forgotten (a RetransmitRequest for them is answered
//! with RetransmitReject `OutOfRange`). Memory is allocated once, at creation.

use super::store::{RetransmitStore, StoreError};

/// A bounded, preallocated ring of the last sent messages.
#[derive(Debug)]
pub struct MemoryStore {
    bytes: Vec<u8>,
    lens: Vec<usize>,
    slot_size: usize,
    first: u64,
    next: u64,
    corrupt: Option<u64>,
}

impl MemoryStore {
    /// A store holding the last `capacity` messages of up to `max_message_len` bytes each.
    pub fn new(capacity: usize, max_message_len: usize) -> Self {
        let capacity = capacity.max(1);
        MemoryStore {
            bytes: vec![0; capacity * max_message_len],
            lens: vec![0; capacity],
            slot_size: max_message_len,
            first: 0,
            next: 0,
            corrupt: None,
        }
    }

    /// Marks record `seq` as failing verification, so [`RetransmitStore::get`] returns
    /// [`StoreError::Corrupt`] for it: lets tests check that the session fails closed.
    pub fn mark_corrupt(&mut self, seq: u64) {
        self.corrupt = Some(seq);
    }

    fn index(&self, seq: u64) -> usize {
        (seq % self.lens.len() as u64) as usize
    }
}

impl RetransmitStore for MemoryStore {
    fn append(&mut self, seq: u64, _timestamp_ns: u64, frame: &[u8]) -> Result<(), StoreError> {
        if self.next != self.first && seq != self.next {
            return Err(StoreError::OutOfOrder {
                expected: self.next,
                actual: seq,
            });
        }
        if frame.len() > self.slot_size {
            return Err(StoreError::TooLarge {
                len: frame.len(),
                max: self.slot_size,
            });
        }
        if self.next == self.first {
            self.first = seq;
            self.next = seq;
        }
        let index = self.index(seq);
        let start = index * self.slot_size;
        if let (Some(dst), Some(len)) = (
            self.bytes.get_mut(start..start + frame.len()),
            self.lens.get_mut(index),
        ) {
            dst.copy_from_slice(frame);
            *len = frame.len();
        }
        self.next = seq + 1;
        let capacity = self.lens.len() as u64;
        if self.next - self.first > capacity {
            self.first = self.next - capacity;
        }
        Ok(())
    }

    fn held(&self) -> Option<(u64, u64)> {
        (self.next != self.first).then(|| (self.first, self.next - 1))
    }

    fn get(&self, seq: u64) -> Result<&[u8], StoreError> {
        if seq < self.first || seq >= self.next {
            return Err(StoreError::NotHeld { seq });
        }
        if self.corrupt == Some(seq) {
            return Err(StoreError::Corrupt { seq });
        }
        let index = self.index(seq);
        let start = index * self.slot_size;
        let len = self.lens.get(index).copied().unwrap_or(0);
        self.bytes
            .get(start..start + len)
            .ok_or(StoreError::NotHeld { seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_keeps_the_last_messages() {
        let mut store = MemoryStore::new(3, 8);
        assert_eq!(store.held(), None);
        for seq in 1..=5u64 {
            store.append(seq, 0, &[seq as u8; 2]).unwrap();
        }
        assert_eq!(store.held(), Some((3, 5)));
        assert_eq!(store.get(2), Err(StoreError::NotHeld { seq: 2 }));
        assert_eq!(store.get(4), Ok(&[4u8, 4][..]));
        assert_eq!(
            store.append(7, 0, b"x"),
            Err(StoreError::OutOfOrder {
                expected: 6,
                actual: 7
            })
        );
        assert_eq!(
            store.append(6, 0, &[0; 9]),
            Err(StoreError::TooLarge { len: 9, max: 8 })
        );
        store.mark_corrupt(5);
        assert_eq!(store.get(5), Err(StoreError::Corrupt { seq: 5 }));
    }
}
