//! A preallocated ring of fixed-size byte slots, each with a small metadata value.
//!
//! The session's outbound frames, delivered events and the recovery queue all live in one of
//! these: the memory is taken once at session creation and never grows.

/// Why a push did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// Every slot is in use.
    Full,
    /// The payload is larger than a slot.
    TooLarge,
}

/// A FIFO of `capacity` slots of `slot_size` bytes each.
#[derive(Debug)]
pub(crate) struct SlotRing<M: Copy> {
    meta: Vec<Option<M>>,
    lens: Vec<usize>,
    bytes: Vec<u8>,
    slot_size: usize,
    head: usize,
    len: usize,
}

impl<M: Copy> SlotRing<M> {
    /// Allocates the ring (the only allocation it ever makes).
    pub(crate) fn new(capacity: usize, slot_size: usize) -> Self {
        let capacity = capacity.max(1);
        SlotRing {
            meta: vec![None; capacity],
            lens: vec![0; capacity],
            bytes: vec![0; capacity * slot_size],
            slot_size,
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn free(&self) -> usize {
        self.meta.len() - self.len
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Pushes a slot whose bytes are written by `fill`, which returns the length used; a
    /// `fill` error leaves the ring unchanged.
    pub(crate) fn push_with<Er>(
        &mut self,
        meta: M,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, Er>,
    ) -> Result<Result<(), Er>, PushError> {
        if self.len == self.meta.len() {
            return Err(PushError::Full);
        }
        let index = (self.head + self.len) % self.meta.len();
        let start = index * self.slot_size;
        let Some(slot) = self.bytes.get_mut(start..start + self.slot_size) else {
            return Err(PushError::TooLarge);
        };
        match fill(slot) {
            Ok(n) => {
                if let (Some(m), Some(l)) = (self.meta.get_mut(index), self.lens.get_mut(index)) {
                    *m = Some(meta);
                    *l = n.min(self.slot_size);
                }
                self.len += 1;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Pushes a copy of `payload`.
    pub(crate) fn push(&mut self, meta: M, payload: &[u8]) -> Result<(), PushError> {
        if payload.len() > self.slot_size {
            return Err(PushError::TooLarge);
        }
        self.push_with(meta, |slot| {
            match slot.get_mut(..payload.len()) {
                Some(dst) => dst.copy_from_slice(payload),
                None => return Err(()),
            }
            Ok(payload.len())
        })?
        .map_err(|()| PushError::TooLarge)
    }

    /// The oldest slot, without removing it.
    pub(crate) fn front(&self) -> Option<(M, &[u8])> {
        if self.len == 0 {
            return None;
        }
        self.slot(self.head)
    }

    /// The newest slot, without removing it.
    pub(crate) fn back(&self) -> Option<(M, &[u8])> {
        if self.len == 0 {
            return None;
        }
        self.slot((self.head + self.len - 1) % self.meta.len())
    }

    /// Removes the newest slot (undoes the last push).
    pub(crate) fn pop_back(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// Removes the oldest slot and returns it; its bytes stay valid until the next push.
    pub(crate) fn pop(&mut self) -> Option<(M, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let index = self.head;
        self.head = (self.head + 1) % self.meta.len();
        self.len -= 1;
        self.slot(index)
    }

    fn slot(&self, index: usize) -> Option<(M, &[u8])> {
        let meta = (*self.meta.get(index)?)?;
        let len = *self.lens.get(index)?;
        let start = index * self.slot_size;
        Some((meta, self.bytes.get(start..start + len)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_fifo_and_bounded() {
        let mut ring: SlotRing<u32> = SlotRing::new(2, 4);
        assert_eq!(ring.push(1, b"ab"), Ok(()));
        assert_eq!(ring.push(2, b"cdef"), Ok(()));
        assert_eq!(ring.push(3, b"x"), Err(PushError::Full));
        assert_eq!(ring.pop(), Some((1, &b"ab"[..])));
        assert_eq!(ring.push(4, b"toolong"), Err(PushError::TooLarge));
        assert_eq!(ring.push(4, b"g"), Ok(()));
        assert_eq!(ring.pop(), Some((2, &b"cdef"[..])));
        assert_eq!(ring.front(), Some((4, &b"g"[..])));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.push(5, b"hi"), Ok(()));
        assert_eq!(ring.back(), Some((5, &b"hi"[..])));
        ring.pop_back();
        assert_eq!(ring.back(), Some((4, &b"g"[..])));
        assert_eq!(ring.len(), 1);
    }
}
