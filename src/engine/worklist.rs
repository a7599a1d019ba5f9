//! [`WorkList`]: a preallocated FIFO of ids with set semantics (an id is queued at most once),
//! for the duty cycle's ready lists: connections to read again, to flush, to reap; sessions
//! with output, commands or held deliveries. Per-cycle work is then proportional to what is
//! active, not to how many connections or sessions exist.
//!
//! Owns: membership and order. May not touch: what an id names.

use std::collections::VecDeque;

/// Ids `0..capacity`, each queued at most once; never allocates after creation.
#[derive(Debug)]
pub(crate) struct WorkList {
    queued: Vec<bool>,
    order: VecDeque<u32>,
}

impl WorkList {
    /// Room for ids `0..capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        WorkList {
            queued: vec![false; capacity],
            order: VecDeque::with_capacity(capacity),
        }
    }

    /// Queues `id` unless it is queued already (ids out of range are ignored).
    pub(crate) fn push(&mut self, id: usize) {
        if let Some(q) = self.queued.get_mut(id) {
            if !*q {
                *q = true;
                self.order.push_back(id as u32);
            }
        }
    }

    /// Takes the oldest id.
    pub(crate) fn pop(&mut self) -> Option<usize> {
        let id = self.order.pop_front()? as usize;
        if let Some(q) = self.queued.get_mut(id) {
            *q = false;
        }
        Some(id)
    }

    /// Ids queued now (a pass over a snapshot pops this many; ids pushed again during the pass
    /// wait for the next one).
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// True if nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_queued_once_in_order_and_requeued_after_a_pop() {
        let mut list = WorkList::new(4);
        list.push(2);
        list.push(0);
        list.push(2);
        list.push(7);
        assert_eq!(list.len(), 2);
        assert_eq!(list.pop(), Some(2));
        list.push(2);
        assert_eq!(list.pop(), Some(0));
        assert_eq!(list.pop(), Some(2));
        assert!(list.is_empty());
    }
}
