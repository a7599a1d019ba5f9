//! The engine's timers: one deadline per timer id (a session entry or a connection slot) in an
//! indexed binary min-heap, so finding what is due costs O(1) per due timer and moving a
//! deadline O(log n), however many sessions the engine holds.
//!
//! Owns: deadlines and their order. May not touch: what a timer means (the duty cycle asks
//! for due ids and decides).

/// An indexed min-heap of `(deadline, id)` over ids `0..capacity`, preallocated: no operation
/// allocates.
#[derive(Debug)]
pub(crate) struct Deadlines {
    /// Heap order: `(deadline, id)`.
    heap: Vec<(u64, u32)>,
    /// Where each id sits in `heap` (`NONE`: no deadline).
    position: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Deadlines {
    /// Room for ids `0..capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        Deadlines {
            heap: Vec::with_capacity(capacity),
            position: vec![NONE; capacity],
        }
    }

    /// Sets (or clears, with `None`) the deadline of `id`. Ids out of range are ignored.
    pub(crate) fn set(&mut self, id: usize, deadline: Option<u64>) {
        let Some(&at) = self.position.get(id) else {
            return;
        };
        match (at, deadline) {
            (NONE, None) => {}
            (NONE, Some(d)) => {
                let index = self.heap.len();
                self.heap.push((d, id as u32));
                self.place(index);
                self.sift_up(index);
            }
            (at, None) => self.remove_at(at as usize),
            (at, Some(d)) => {
                let at = at as usize;
                let old = self.heap.get(at).map_or(d, |e| e.0);
                if let Some(entry) = self.heap.get_mut(at) {
                    entry.0 = d;
                }
                if d < old {
                    self.sift_up(at);
                } else if d > old {
                    self.sift_down(at);
                }
            }
        }
    }

    /// The deadline of `id`, if it has one.
    #[cfg(test)]
    pub(crate) fn get(&self, id: usize) -> Option<u64> {
        let at = *self.position.get(id)?;
        (at != NONE).then(|| self.heap.get(at as usize).map(|e| e.0))?
    }

    /// The earliest deadline.
    pub(crate) fn earliest(&self) -> Option<u64> {
        self.heap.first().map(|e| e.0)
    }

    /// Removes and returns an id whose deadline is at or before `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<usize> {
        let &(deadline, id) = self.heap.first()?;
        if deadline > now {
            return None;
        }
        self.remove_at(0);
        Some(id as usize)
    }

    fn remove_at(&mut self, at: usize) {
        let last = self.heap.len().saturating_sub(1);
        if at > last {
            return;
        }
        self.heap.swap(at, last);
        if let Some((_, gone)) = self.heap.pop() {
            if let Some(p) = self.position.get_mut(gone as usize) {
                *p = NONE;
            }
        }
        if at < self.heap.len() {
            self.place(at);
            self.sift_down(at);
            self.sift_up(at);
        }
    }

    fn place(&mut self, at: usize) {
        if let Some(&(_, id)) = self.heap.get(at) {
            if let Some(p) = self.position.get_mut(id as usize) {
                *p = at as u32;
            }
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.place(a);
        self.place(b);
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.heap.get(at) >= self.heap.get(parent) {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let left = 2 * at + 1;
            let right = left + 1;
            let mut smallest = at;
            if left < self.heap.len() && self.heap.get(left) < self.heap.get(smallest) {
                smallest = left;
            }
            if right < self.heap.len() && self.heap.get(right) < self.heap.get(smallest) {
                smallest = right;
            }
            if smallest == at {
                break;
            }
            self.swap(at, smallest);
            at = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_ids_come_out_earliest_first_and_moves_are_respected() {
        let mut d = Deadlines::new(8);
        d.set(3, Some(30));
        d.set(1, Some(10));
        d.set(5, Some(50));
        d.set(2, Some(20));
        assert_eq!(d.earliest(), Some(10));
        d.set(1, Some(40)); // later
        d.set(5, Some(5)); // earlier
        d.set(2, None); // cleared
        d.set(9, Some(1)); // out of range: ignored
        assert_eq!(d.pop_due(4), None);
        assert_eq!(d.pop_due(100), Some(5));
        assert_eq!(d.pop_due(100), Some(3));
        assert_eq!(d.pop_due(100), Some(1));
        assert_eq!(d.pop_due(100), None);
        assert_eq!(d.get(1), None);
    }

    #[test]
    fn matches_a_naive_model_under_a_fixed_pseudo_random_sequence() {
        let mut d = Deadlines::new(64);
        let mut model: Vec<Option<u64>> = vec![None; 64];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000u64 {
            let id = (next() % 64) as usize;
            let deadline = (next() % 3 != 0).then(|| next() % 1000 + round / 10);
            d.set(id, deadline);
            model[id] = deadline;
            if round % 7 == 0 {
                let now = next() % 1000 + round / 10;
                while let Some(id) = d.pop_due(now) {
                    let expected = model.iter().flatten().min().copied();
                    assert_eq!(Some(model[id].expect("had one")), expected);
                    assert!(model[id].is_some_and(|m| m <= now));
                    model[id] = None;
                }
                assert!(model.iter().flatten().all(|&m| m > now));
            }
            assert_eq!(d.earliest(), model.iter().flatten().min().copied());
        }
    }
}
